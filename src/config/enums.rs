//! The closed vocabularies of the configuration, one enum each.
//!
//! Each enum's spellings are listed once, in `choice_enum!`; the parser and the JSON
//! schema test both read them from `Choice::ALL`.

use std::fmt;

use serde::Serialize;

use super::walk::Choice;

macro_rules! choice_enum {
    ($(#[$meta:meta])* pub enum $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] $variant,)+
        }

        impl $name {
            /// The spelling used in the configuration file.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text,)+
                }
            }
        }

        impl Choice for $name {
            const ALL: &'static [&'static str] = &[$($text),+];
            fn from_name(name: &str) -> Option<Self> {
                match name {
                    $($text => Some(Self::$variant),)+
                    _ => None,
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

/// The ecosystems updatebot handles (the core's enum; containers are `Docker`).
pub use updatebot_core::Ecosystem;

choice_enum! {
    /// `package-ecosystem` as written; aliases are kept because they say which manifests
    /// the team meant (`helm` charts, `gitlab-ci` images, …). See [`PackageEcosystem::ecosystem`].
    pub enum PackageEcosystem {
        Pip = "pip",
        Uv = "uv",
        Poetry = "poetry",
        Pipenv = "pipenv",
        PipCompile = "pip-compile",
        Npm = "npm",
        Docker = "docker",
        DockerCompose = "docker-compose",
        Helm = "helm",
        GitlabCi = "gitlab-ci",
    }
}

impl PackageEcosystem {
    pub fn ecosystem(self) -> Ecosystem {
        match self {
            Self::Pip | Self::Uv | Self::Poetry | Self::Pipenv | Self::PipCompile => {
                Ecosystem::Python
            }
            Self::Npm => Ecosystem::Npm,
            Self::Docker | Self::DockerCompose | Self::Helm | Self::GitlabCi => Ecosystem::Docker,
        }
    }
}

/// Dependabot ecosystems updatebot does not handle: entries for them are skipped with a
/// warning, so a `dependabot.yml` that also updates (say) GitHub Actions still loads.
pub const UNSUPPORTED_DEPENDABOT_ECOSYSTEMS: &[&str] = &[
    "bun",
    "bundler",
    "cargo",
    "composer",
    "conda",
    "devcontainers",
    "dotnet-sdk",
    "elm",
    "github-actions",
    "gitsubmodule",
    "gomod",
    "gradle",
    "maven",
    "mix",
    "nuget",
    "opentofu",
    "pub",
    "rust-toolchain",
    "swift",
    "terraform",
    "vcpkg",
];

choice_enum! {
    /// The registry types updatebot can talk to.
    pub enum RegistryKind {
        PythonIndex = "python-index",
        NpmRegistry = "npm-registry",
        DockerRegistry = "docker-registry",
    }
}

impl RegistryKind {
    pub fn ecosystem(self) -> Ecosystem {
        match self {
            Self::PythonIndex => Ecosystem::Python,
            Self::NpmRegistry => Ecosystem::Npm,
            Self::DockerRegistry => Ecosystem::Docker,
        }
    }
}

/// Dependabot registry types for ecosystems updatebot does not handle (skipped with a warning).
pub const UNSUPPORTED_DEPENDABOT_REGISTRY_TYPES: &[&str] = &[
    "cargo-registry",
    "composer-repository",
    "git",
    "goproxy-server",
    "helm-registry",
    "hex-organization",
    "hex-repository",
    "maven-repository",
    "nuget-feed",
    "pub-repository",
    "rubygems-server",
    "terraform-registry",
];

choice_enum! {
    pub enum Interval {
        Daily = "daily",
        Weekly = "weekly",
        Monthly = "monthly",
        Quarterly = "quarterly",
        Semiannually = "semiannually",
        Yearly = "yearly",
        Cron = "cron",
    }
}

choice_enum! {
    pub enum Weekday {
        Monday = "monday",
        Tuesday = "tuesday",
        Wednesday = "wednesday",
        Thursday = "thursday",
        Friday = "friday",
        Saturday = "saturday",
        Sunday = "sunday",
    }
}

choice_enum! {
    /// `allow[].dependency-type`.
    pub enum AllowDependencyType {
        Direct = "direct",
        Indirect = "indirect",
        All = "all",
        Production = "production",
        Development = "development",
    }
}

choice_enum! {
    /// `groups.<name>.dependency-type`.
    pub enum GroupDependencyType {
        Production = "production",
        Development = "development",
    }
}

choice_enum! {
    pub enum AppliesTo {
        VersionUpdates = "version-updates",
        SecurityUpdates = "security-updates",
    }
}

choice_enum! {
    /// A semver level: `groups.<name>.update-types`.
    pub enum SemverLevel {
        Major = "major",
        Minor = "minor",
        Patch = "patch",
    }
}

choice_enum! {
    /// `ignore[].update-types`, spelled the Dependabot way.
    pub enum IgnoreUpdateType {
        Major = "version-update:semver-major",
        Minor = "version-update:semver-minor",
        Patch = "version-update:semver-patch",
    }
}

impl IgnoreUpdateType {
    pub fn level(self) -> SemverLevel {
        match self {
            Self::Major => SemverLevel::Major,
            Self::Minor => SemverLevel::Minor,
            Self::Patch => SemverLevel::Patch,
        }
    }
}

choice_enum! {
    pub enum VersioningStrategy {
        Auto = "auto",
        Increase = "increase",
        IncreaseIfNecessary = "increase-if-necessary",
        LockfileOnly = "lockfile-only",
        Widen = "widen",
    }
}

choice_enum! {
    pub enum RebaseStrategy {
        Auto = "auto",
        Disabled = "disabled",
    }
}

choice_enum! {
    pub enum InsecureExternalCodeExecution {
        Allow = "allow",
        Deny = "deny",
    }
}

choice_enum! {
    /// `commit-message.include`: only `scope` exists.
    pub enum CommitMessageInclude {
        Scope = "scope",
    }
}

choice_enum! {
    /// `pull-request-branch-name.separator`.
    pub enum BranchSeparator {
        Hyphen = "-",
        Underscore = "_",
        Slash = "/",
    }
}

impl BranchSeparator {
    pub fn as_char(self) -> char {
        match self {
            Self::Hyphen => '-',
            Self::Underscore => '_',
            Self::Slash => '/',
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_map_to_ecosystems() {
        assert_eq!(
            PackageEcosystem::from_name("uv").map(PackageEcosystem::ecosystem),
            Some(Ecosystem::Python)
        );
        assert_eq!(
            PackageEcosystem::from_name("helm").map(PackageEcosystem::ecosystem),
            Some(Ecosystem::Docker)
        );
        assert_eq!(
            PackageEcosystem::from_name("npm").map(PackageEcosystem::ecosystem),
            Some(Ecosystem::Npm)
        );
        assert_eq!(PackageEcosystem::GitlabCi.as_str(), "gitlab-ci");
    }

    #[test]
    fn spellings_round_trip() {
        for name in VersioningStrategy::ALL {
            let v = VersioningStrategy::from_name(name).expect("listed spelling parses");
            assert_eq!(v.as_str(), *name);
        }
        assert!(UNSUPPORTED_DEPENDABOT_ECOSYSTEMS
            .iter()
            .all(|e| PackageEcosystem::from_name(e).is_none()));
    }
}

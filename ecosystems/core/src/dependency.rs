//! What a manifest declares: dependencies with the byte span of their version text.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// A byte range `[start, end)` in a manifest's text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Self {
        debug_assert!(start <= end);
        Span { start, end }
    }

    /// The text this span covers, if it lies on character boundaries inside `text`.
    pub fn slice<'a>(&self, text: &'a str) -> Option<&'a str> {
        text.get(self.start..self.end)
    }

    /// 1-based line number of the span's start in `text`.
    pub fn line_in(&self, text: &str) -> usize {
        line_of(text, self.start)
    }
}

/// 1-based line number of byte `offset` in `text`.
pub fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

/// Why a dependency is listed but not looked up or updated.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SkipReason {
    /// Comes from a git repository.
    GitDependency,
    /// Comes from a local path.
    PathDependency,
    /// Comes from a URL (archive, wheel).
    UrlDependency,
    /// No version constraint to update (`requests`, `"*"`).
    Unpinned,
    /// The version comes from a variable the bot cannot resolve.
    Variable,
    /// Excluded by the configuration's `ignore` or `allow`.
    Ignored,
    /// The version text is not valid for its scheme.
    InvalidVersion,
    /// A valid constraint the bot cannot rewrite (e.g. `===` arbitrary equality).
    UnsupportedVersion,
    /// An editable install (`-e .`).
    Editable,
    /// A workspace member or the project itself.
    LocalPackage,
    /// A string escape the bot will not rewrite inside.
    UnsupportedSyntax,
    /// A registry tag (`latest`, `next`) rather than a version.
    DistTag,
    /// An engine or package-manager version (`engines.node`, `packageManager`), not bumped
    /// unless the configuration asks for it.
    Engine,
    /// The registry could not be asked in this run (down, not answering, its circuit open):
    /// set by the lookup, never by a manager.
    RegistryUnavailable,
    /// The registry the declaration names cannot be found (a Flux `HelmRelease` whose
    /// `sourceRef` names a `HelmRepository` defined nowhere in the repository); the
    /// dependency's `skip_detail` names it.
    UnknownRegistry,
}

impl SkipReason {
    pub fn as_str(&self) -> &'static str {
        match self {
            SkipReason::GitDependency => "git-dependency",
            SkipReason::PathDependency => "path-dependency",
            SkipReason::UrlDependency => "url-dependency",
            SkipReason::Unpinned => "unpinned",
            SkipReason::Variable => "variable",
            SkipReason::Ignored => "ignored",
            SkipReason::InvalidVersion => "invalid-version",
            SkipReason::UnsupportedVersion => "unsupported-version",
            SkipReason::Editable => "editable",
            SkipReason::LocalPackage => "local-package",
            SkipReason::UnsupportedSyntax => "unsupported-syntax",
            SkipReason::DistTag => "dist-tag",
            SkipReason::Engine => "engine",
            SkipReason::RegistryUnavailable => "registry-unavailable",
            SkipReason::UnknownRegistry => "unknown-registry",
        }
    }
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One dependency declared in a manifest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Dependency {
    /// The name as written in the manifest.
    pub name: String,
    /// The name to look up in the registry (normalised by the ecosystem's rules).
    pub package_name: String,
    /// The version text as written (`==2.25.0`, `^1.2`, `>=1.2,<2`); empty when there is none.
    pub current_value: String,
    /// Where `current_value` sits in the manifest, when it can be edited in place.
    pub span: Option<Span>,
    /// When the span holds only part of `current_value` (an image tag `3.12-slim` whose
    /// `3.12` is a variable's value and `-slim` is written where the variable is used): the
    /// byte range of `current_value` the span holds. The text around it is fixed: an update
    /// must keep it (see [`crate::edit::edit_values`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub span_part: Option<(usize, usize)>,
    /// The section the dependency comes from (`dependencies`, `dev-packages`, `build-system`, …).
    pub dep_type: String,
    /// True for development-only dependency types (Dependabot's `dependency-type: development`).
    pub development: bool,
    /// The versioning scheme of `current_value` (`pep440`, `poetry`, `npm`, `docker`).
    pub versioning: &'static str,
    /// Registries (index URLs) this dependency must be looked up in, most preferred first.
    /// Empty means the manifest's or the configuration's defaults.
    pub registry_urls: Vec<String>,
    /// Why the dependency is not updated, if it is not.
    pub skip_reason: Option<SkipReason>,
    /// What the skip reason refers to, when one word is not enough (the `sourceRef` that
    /// names no known registry).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skip_detail: Option<String>,
    /// Environment constraints of this declaration alone, on top of the project's: a
    /// requirement behind `; python_version < "3.8"` only has to work on those Pythons.
    pub constraints: Constraints,
    /// How this declaration's range must move whatever the configuration says (npm peer
    /// dependencies are widened, never narrowed).
    pub range_strategy: Option<crate::version::RangeStrategy>,
    /// The version a lockfile says is installed, when there is one.
    pub locked_version: Option<String>,
    /// The configuration asks for this reference's digest to be pinned (`pin-digests`): set
    /// by the lookup, for dependencies whose plugin can pin them (see
    /// [`crate::Plugin::pin_digest`]), never by a manager.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub pin_digest: bool,
    /// The cooldown its updates are under, when one applies: set by the lookup, never by a
    /// manager, for registries that read release dates only when asked (container tags).
    #[serde(skip)]
    pub minimum_age: Option<MinimumAge>,
}

/// Minimum release age in days per update type, and the time (Unix seconds) ages are
/// measured from (the run's, so that the registry and the policy agree).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MinimumAge {
    pub major_days: u32,
    pub minor_days: u32,
    pub patch_days: u32,
    pub now: i64,
}

impl Dependency {
    /// A dependency with the given name, lookup name and version text, nothing else set.
    pub fn new(
        name: impl Into<String>,
        package_name: impl Into<String>,
        current_value: impl Into<String>,
        span: Option<Span>,
        versioning: &'static str,
    ) -> Self {
        Dependency {
            name: name.into(),
            package_name: package_name.into(),
            current_value: current_value.into(),
            span,
            span_part: None,
            dep_type: String::new(),
            development: false,
            versioning,
            registry_urls: Vec::new(),
            skip_reason: None,
            skip_detail: None,
            constraints: Constraints::new(),
            range_strategy: None,
            locked_version: None,
            pin_digest: false,
            minimum_age: None,
        }
    }

    pub fn with_dep_type(mut self, dep_type: impl Into<String>, development: bool) -> Self {
        self.dep_type = dep_type.into();
        self.development = development;
        self
    }

    pub fn skipped(mut self, reason: SkipReason) -> Self {
        self.skip_reason = Some(reason);
        self
    }
}

/// Project-wide constraints a manifest states about its environment, keyed by what they
/// constrain: `python` → `>=3.9` (from `requires-python`), `node` → `>=18` (from `engines`).
pub type Constraints = BTreeMap<String, String>;

/// What a manager extracts from one manifest.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PackageFile {
    pub dependencies: Vec<Dependency>,
    /// Environment constraints that candidate releases must admit.
    pub constraints: Constraints,
    /// Registries the file itself names (`--index-url`, `[[tool.uv.index]]`, `[[source]]`),
    /// most preferred first; used for dependencies without `registry_urls` of their own.
    pub registry_urls: Vec<String>,
    /// Other manifests this one pulls in (`-r other.txt`), repo-relative.
    pub includes: Vec<String>,
    /// Registries for package-name prefixes (npm scopes: `@acme/` → its registry), from the
    /// project's own settings files (`.npmrc`).
    pub scoped_registries: BTreeMap<String, String>,
}

//! A project's effective configuration applied to its manifests: which manifests are
//! covered (`directory`/`directories`, `exclude-paths`), which rules apply to each, and
//! which registries it is looked up in.

use crate::check::Settings;
use crate::config::{
    effective_entries, ConfigErrors, Cooldown, EffectiveUpdate, OperatorConfig, RepoConfig,
    SemverLevel, VersioningStrategy,
};
use crate::policy::{self, AllowRule, IgnoreRule, NamePattern, Rules};
use crate::scan::Coverage;
use globset::{GlobBuilder, GlobMatcher};
use updatebot_core::version::{RangeStrategy, UpdateType};
use updatebot_core::Ecosystem;

fn glob(pattern: &str) -> Option<GlobMatcher> {
    GlobBuilder::new(pattern)
        .literal_separator(false)
        .build()
        .ok()
        .map(|g| g.compile_matcher())
}

pub fn range_strategy(strategy: VersioningStrategy) -> RangeStrategy {
    match strategy {
        VersioningStrategy::Auto => RangeStrategy::Auto,
        VersioningStrategy::Increase => RangeStrategy::Increase,
        VersioningStrategy::IncreaseIfNecessary => RangeStrategy::IncreaseIfNecessary,
        VersioningStrategy::LockfileOnly => RangeStrategy::LockfileOnly,
        VersioningStrategy::Widen => RangeStrategy::Widen,
    }
}

fn update_type(level: SemverLevel) -> UpdateType {
    match level {
        SemverLevel::Major => UpdateType::Major,
        SemverLevel::Minor => UpdateType::Minor,
        SemverLevel::Patch => UpdateType::Patch,
    }
}

fn rules_from(
    allow: &[crate::config::AllowRule],
    ignore: &[crate::config::IgnoreRule],
    strategy: VersioningStrategy,
    cooldown: Option<&Cooldown>,
) -> Rules {
    Rules {
        strategy: range_strategy(strategy),
        allow: allow
            .iter()
            .map(|a| AllowRule {
                name: a.dependency_name.as_deref().map(NamePattern::new),
                dependency_type: a.dependency_type,
            })
            .collect(),
        ignore: ignore
            .iter()
            .map(|i| IgnoreRule {
                name: NamePattern::new(&i.dependency_name),
                versions: i.versions.clone(),
                update_types: i.update_types.iter().copied().map(update_type).collect(),
            })
            .collect(),
        digest_settle_hours: cooldown
            .and_then(|c| c.digest_settle_hours)
            .unwrap_or(policy::DEFAULT_DIGEST_SETTLE_HOURS),
        security_cooldown: false,
        cooldown: cooldown.map(|c| policy::Cooldown {
            default_days: c.default_days.unwrap_or(0),
            major_days: c.semver_major_days,
            minor_days: c.semver_minor_days,
            patch_days: c.semver_patch_days,
            include: c.include.iter().map(|p| NamePattern::new(p)).collect(),
            exclude: c.exclude.iter().map(|p| NamePattern::new(p)).collect(),
        }),
    }
}

/// `ignore[].versions` ranges that no versioning scheme of their entry's ecosystem reads
/// (`1.17.x` for pip, say), as problems at the entry's line. Such a rule would otherwise only
/// fail when a run meets it.
pub fn range_problems(repo: &RepoConfig) -> Vec<crate::config::Problem> {
    let mut out = Vec::new();
    for entry in &repo.updates {
        let schemes: &[&str] = match entry.package_ecosystem.ecosystem() {
            Ecosystem::Python => &["pep440", "poetry"],
            Ecosystem::Npm => &["npm"],
            Ecosystem::Docker => &["docker"],
        };
        for rule in entry.settings.ignore.iter().flatten() {
            for range in &rule.versions {
                let readable = schemes
                    .iter()
                    .filter_map(|name| crate::workbench::scheme(name))
                    .any(|scheme| scheme.is_valid_range(range));
                if !readable {
                    out.push(crate::config::Problem {
                        line: entry.line,
                        column: 1,
                        message: format!(
                            "updates[{}].ignore: `{range}` for `{}` is not a valid {} version range",
                            entry.index,
                            rule.dependency_name,
                            entry.package_ecosystem.as_str()
                        ),
                    });
                }
            }
        }
    }
    out
}

/// The directory of a repo-relative file, `/`-rooted (`backend/requirements.txt` → `/backend`).
fn directory_of(path: &str) -> String {
    match path.rsplit_once('/') {
        Some((dir, _)) => format!("/{dir}"),
        None => "/".to_string(),
    }
}

struct Entry {
    config: EffectiveUpdate,
    ecosystem: Ecosystem,
    directories: Vec<(String, Option<GlobMatcher>)>,
    excludes: Vec<GlobMatcher>,
    rules: Rules,
    registries: (Vec<String>, bool),
}

impl Entry {
    fn covers(&self, ecosystem: Ecosystem, path: &str) -> bool {
        if ecosystem != self.ecosystem {
            return false;
        }
        let dir = directory_of(path);
        let in_directory = self.directories.iter().any(|(d, matcher)| {
            let base = d.trim_end_matches('/');
            dir == *d
                || matcher.as_ref().is_some_and(|m| m.is_match(&dir))
                // pip keeps requirement sets in a `requirements/` folder beside the project.
                || (ecosystem == Ecosystem::Python
                    && dir.starts_with(&format!("{base}/requirements"))
                    && (dir.len() == base.len() + "/requirements".len()
                        || dir[base.len() + "/requirements".len()..].starts_with('/')))
        });
        let slashed = format!("/{path}");
        in_directory
            && !self
                .excludes
                .iter()
                .any(|g| g.is_match(path) || g.is_match(&slashed))
    }
}

/// The configuration of one project, ready to answer per manifest.
pub struct ProjectSettings {
    /// `None`: the repository has no `.updatebot.yml`, so every manifest is covered with the
    /// operator's defaults.
    entries: Option<Vec<Entry>>,
    fallback: Rules,
    operator_registries: Vec<(Ecosystem, String, bool)>,
    /// The operator's `lockfiles` settings.
    lockfiles: std::collections::BTreeMap<String, updatebot_core::tool::ToolSettings>,
}

impl ProjectSettings {
    pub fn new(repo: Option<&RepoConfig>, operator: &OperatorConfig) -> Result<Self, ConfigErrors> {
        Self::for_entries(repo, operator, &|_| true)
    }

    /// Only the entries `keep` accepts (one target branch, the ones due now).
    pub fn for_entries(
        repo: Option<&RepoConfig>,
        operator: &OperatorConfig,
        keep: &dyn Fn(&EffectiveUpdate) -> bool,
    ) -> Result<Self, ConfigErrors> {
        let operator_registries = operator
            .registries
            .values()
            .map(|r| (r.kind.ecosystem(), r.url.to_string(), r.replaces_base))
            .collect();
        let d = &operator.defaults;
        let fallback = Rules {
            security_cooldown: d
                .security_updates
                .as_ref()
                .and_then(|s| s.cooldown)
                .unwrap_or(false),
            ..rules_from(
                d.allow.as_deref().unwrap_or_default(),
                d.ignore.as_deref().unwrap_or_default(),
                d.versioning_strategy.unwrap_or(VersioningStrategy::Auto),
                d.cooldown.as_ref(),
            )
        };
        let entries = match repo {
            None => None,
            Some(repo) => Some(
                effective_entries(repo, operator)?
                    .iter()
                    .filter(|e| keep(e))
                    .map(|e| Self::entry(e, operator))
                    .collect(),
            ),
        };
        Ok(ProjectSettings {
            entries,
            fallback,
            operator_registries,
            lockfiles: operator.lockfiles.clone(),
        })
    }

    /// An entry's registries are the ones it names, plus every operator registry that replaces
    /// its ecosystem's public default: a mirror the operator imposes applies to every project.
    fn entry(e: &EffectiveUpdate, operator: &OperatorConfig) -> Entry {
        let ecosystem = e.package_ecosystem.ecosystem();
        let mut urls: Vec<String> = Vec::new();
        let mut replaces = false;
        let named = e
            .registries
            .iter()
            .map(|r| (r.kind, &r.url, r.replaces_base));
        let imposed = operator
            .registries
            .values()
            .filter(|r| r.replaces_base)
            .map(|r| (r.kind, &r.url, r.replaces_base));
        for (kind, url, replaces_base) in named.chain(imposed) {
            if kind.ecosystem() == ecosystem && !urls.contains(&url.to_string()) {
                urls.push(url.to_string());
                replaces |= replaces_base;
            }
        }
        Entry {
            config: e.clone(),
            ecosystem: e.package_ecosystem.ecosystem(),
            directories: e
                .directories
                .iter()
                .map(|d| {
                    (
                        d.as_str().to_string(),
                        d.is_glob().then(|| glob(d.as_str())).flatten(),
                    )
                })
                .collect(),
            excludes: e
                .exclude_paths
                .iter()
                .filter_map(|p| glob(p.trim_start_matches('/')))
                .collect(),
            rules: Rules {
                security_cooldown: e.security_updates.cooldown,
                ..rules_from(
                    &e.allow,
                    &e.ignore,
                    e.versioning_strategy,
                    e.cooldown.as_ref(),
                )
            },
            registries: (urls, replaces),
        }
    }

    /// The `.updatebot.yml` entry that covers a manifest (none without a repository config).
    pub fn config_for(&self, ecosystem: Ecosystem, path: &str) -> Option<&EffectiveUpdate> {
        self.entry_for(ecosystem, path).map(|e| &e.config)
    }

    /// The index of the entry owning an `ecosystem:directory` scope (a merge request's).
    pub fn entry_for_scope(&self, scope: &str) -> Option<usize> {
        // A security merge request belongs to the entry of its directory too.
        let scope = scope
            .strip_prefix(crate::security::mr::KEY_PREFIX)
            .unwrap_or(scope);
        let (name, directory) = scope.split_once(':')?;
        let ecosystem = [Ecosystem::Python, Ecosystem::Npm, Ecosystem::Docker]
            .into_iter()
            .find(|e| e.as_str() == name)?;
        // A manifest path in that directory stands for it.
        let inside = directory.trim_matches('/');
        let probe = if inside.is_empty() {
            "manifest".to_string()
        } else {
            format!("{inside}/manifest")
        };
        self.entry_for(ecosystem, &probe).map(|e| e.config.index)
    }

    /// The entries, in file order.
    pub fn entries(&self) -> impl Iterator<Item = &EffectiveUpdate> {
        self.entries.iter().flatten().map(|e| &e.config)
    }

    fn entry_for(&self, ecosystem: Ecosystem, path: &str) -> Option<&Entry> {
        self.entries
            .as_ref()?
            .iter()
            .find(|e| e.covers(ecosystem, path))
    }
}

impl Coverage for ProjectSettings {
    fn covers(&self, ecosystem: Ecosystem, path: &str) -> bool {
        self.entries.is_none() || self.entry_for(ecosystem, path).is_some()
    }
}

impl Settings for ProjectSettings {
    /// The operator's settings only: a repository cannot allow code execution for itself.
    fn tool_settings(
        &self,
        _ecosystem: Ecosystem,
        _manifest_path: &str,
        kind: &str,
    ) -> updatebot_core::tool::ToolSettings {
        self.lockfiles.get(kind).cloned().unwrap_or_default()
    }

    fn rules(&self, ecosystem: Ecosystem, manifest_path: &str) -> Rules {
        match self.entry_for(ecosystem, manifest_path) {
            Some(entry) => entry.rules.clone(),
            None => self.fallback.clone(),
        }
    }

    fn registries(&self, ecosystem: Ecosystem, manifest_path: &str) -> (Vec<String>, bool) {
        match self.entry_for(ecosystem, manifest_path) {
            Some(entry) => entry.registries.clone(),
            None => {
                let own: Vec<_> = self
                    .operator_registries
                    .iter()
                    .filter(|r| r.0 == ecosystem)
                    .collect();
                (
                    own.iter().map(|r| r.1.clone()).collect(),
                    own.iter().any(|r| r.2),
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{load_operator_config, parse_repo_config};

    fn operator(text: &str) -> OperatorConfig {
        load_operator_config(text, &|_| Some("secret".into()), &|_| Ok(String::new())).unwrap()
    }

    #[test]
    fn directories_and_exclusions_decide_coverage() {
        let repo = parse_repo_config(
            r#"version: 2
updates:
  - package-ecosystem: pip
    directories: ["/backend", "/services/*"]
    exclude-paths: ["services/legacy/**"]
    schedule: {interval: weekly}
    ignore:
      - dependency-name: "django*"
        update-types: ["version-update:semver-major"]
"#,
        )
        .unwrap();
        let op = operator(
            "registries:\n  mirror:\n    type: python-index\n    url: http://127.0.0.1:1/simple/\n    replaces-base: true\n",
        );
        let settings = ProjectSettings::new(Some(&repo), &op).unwrap();
        // The operator's replacing mirror applies though the entry names no registries.
        assert_eq!(
            settings.registries(Ecosystem::Python, "backend/requirements.txt"),
            (vec!["http://127.0.0.1:1/simple/".to_string()], true)
        );
        assert!(settings.covers(Ecosystem::Python, "backend/requirements.txt"));
        assert!(settings.covers(Ecosystem::Python, "backend/requirements/dev.txt"));
        assert!(settings.covers(Ecosystem::Python, "services/api/pyproject.toml"));
        assert!(!settings.covers(Ecosystem::Python, "services/legacy/requirements.txt"));
        assert!(!settings.covers(Ecosystem::Python, "requirements.txt"));
        assert!(!settings.covers(Ecosystem::Python, "backend/sub/requirements.txt"));
        assert!(!settings.covers(Ecosystem::Npm, "backend/package.json"));
        let rules = settings.rules(Ecosystem::Python, "backend/requirements.txt");
        assert_eq!(rules.ignore.len(), 1);
        assert_eq!(rules.ignore[0].update_types, [UpdateType::Major]);
    }

    #[test]
    fn a_merge_request_scope_names_its_entry() {
        let repo = parse_repo_config(
            r#"version: 2
updates:
  - package-ecosystem: pip
    directory: /
    schedule: {interval: weekly}
  - package-ecosystem: npm
    directories: ["/web", "/apps/*"]
    schedule: {interval: daily}
"#,
        )
        .unwrap();
        let settings = ProjectSettings::new(Some(&repo), &operator("{}")).unwrap();
        assert_eq!(settings.entry_for_scope("pip:/"), Some(0));
        assert_eq!(settings.entry_for_scope("npm:/web"), Some(1));
        assert_eq!(settings.entry_for_scope("npm:/apps/admin"), Some(1));
        assert_eq!(settings.entry_for_scope("npm:/"), None);
        assert_eq!(settings.entry_for_scope("docker:/"), None);
        assert_eq!(settings.entry_for_scope("cargo:/"), None);
        assert_eq!(settings.entry_for_scope("garbage"), None);
    }

    #[test]
    fn without_a_repo_config_everything_is_covered_with_operator_registries() {
        let op = operator(
            "registries:\n  mirror:\n    type: python-index\n    url: http://127.0.0.1:1/simple/\n    replaces-base: true\ndefaults:\n  versioning-strategy: increase\n",
        );
        let settings = ProjectSettings::new(None, &op).unwrap();
        assert!(settings.covers(Ecosystem::Python, "deep/down/requirements.txt"));
        let (urls, replaces) = settings.registries(Ecosystem::Python, "requirements.txt");
        assert_eq!(urls, ["http://127.0.0.1:1/simple/"]);
        assert!(replaces);
        assert_eq!(
            settings.rules(Ecosystem::Python, "x").strategy,
            RangeStrategy::Increase
        );
        assert!(settings
            .registries(Ecosystem::Npm, "package.json")
            .0
            .is_empty());
    }
}

//! Look up every dependency of a set of manifests and decide its update.

use crate::plugins::Plugins;
use crate::policy::{self, Context, Decision, Proposal, Rules};
use crate::scan::Manifest;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use updatebot_core::dependency::{Dependency, SkipReason};
use updatebot_core::http::HttpClient;
use updatebot_core::registry::{Detail, LookupCache, RegistryError, Release, ReleaseList};
use updatebot_core::{Ecosystem, Plugin, RegistryStrategy};

/// What the configuration says for one manifest.
pub trait Settings: Sync {
    fn rules(&self, ecosystem: Ecosystem, manifest_path: &str) -> Rules;
    /// Configured registry URLs for the manifest, and whether they replace the default one.
    fn registries(&self, ecosystem: Ecosystem, manifest_path: &str) -> (Vec<String>, bool);
    /// The operator's lockfile settings for a kind of lockfile (`poetry.lock`, …): engine,
    /// tool path, time limit, code execution. Default: `auto`, tools on `PATH`.
    fn tool_settings(
        &self,
        _ecosystem: Ecosystem,
        _manifest_path: &str,
        _kind: &str,
    ) -> updatebot_core::tool::ToolSettings {
        updatebot_core::tool::ToolSettings::default()
    }
}

/// Default policy, default registries.
pub struct Defaults;

impl Settings for Defaults {
    fn rules(&self, _: Ecosystem, _: &str) -> Rules {
        Rules::default()
    }
    fn registries(&self, _: Ecosystem, _: &str) -> (Vec<String>, bool) {
        (Vec::new(), false)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Skipped(SkipReason),
    Update(Proposal),
    NoUpdate {
        current_version: Option<String>,
        reason: String,
    },
    /// The lookup failed; the message names the package and registry.
    Failed(String),
    /// The registry could not be asked (down, not answering, its circuit open): skipped as
    /// `registry-unavailable`, and the run counts as partial. The message names the registry.
    Unavailable(String),
}

#[derive(Clone, Debug)]
pub struct DependencyResult {
    /// Position in the manager's extraction order (what edits refer to).
    pub index: usize,
    pub dependency: Dependency,
    pub outcome: Outcome,
    pub releases: Option<Arc<ReleaseList>>,
}

#[derive(Debug)]
pub struct ManifestResult {
    pub manifest: Manifest,
    /// The lockfile kept in line with this manifest, and the updater that keeps it.
    pub lockfile: Option<(String, &'static str)>,
    /// Other files its lockfile updates read (see `LockfileUpdater::related_files`).
    pub related_files: Vec<String>,
    pub dependencies: Vec<DependencyResult>,
}

impl ManifestResult {
    pub fn updates(&self) -> impl Iterator<Item = (&DependencyResult, &Proposal)> {
        self.dependencies.iter().filter_map(|d| match &d.outcome {
            Outcome::Update(p) => Some((d, p)),
            _ => None,
        })
    }
}

/// Where a dependency is looked up: its own registries, else its manifest's, else the
/// configured ones (plus the ecosystem default unless they replace it). A manifest naming the
/// public default explicitly (`[[source]] url = "https://pypi.org/simple"`) gets the
/// operator's replacement for it, if there is one.
fn registry_urls(
    plugin: &dyn Plugin,
    dep: &Dependency,
    manifest: &Manifest,
    settings: &dyn Settings,
) -> Vec<String> {
    package_registry_urls(
        plugin,
        &dep.package_name,
        &dep.registry_urls,
        manifest,
        settings,
    )
}

/// Where a package is looked up for a manifest: the registries the declaration names, else
/// the plugin's routing of the manifest's own (scopes, `--index-url`), else the configured
/// ones plus the ecosystem default unless they replace it.
fn package_registry_urls(
    plugin: &dyn Plugin,
    package: &str,
    own: &[String],
    manifest: &Manifest,
    settings: &dyn Settings,
) -> Vec<String> {
    let (configured, replaces) = settings.registries(plugin.ecosystem(), &manifest.path);
    let default = plugin.default_registry_url();
    let named = if !own.is_empty() {
        own.to_vec()
    } else {
        match &manifest.result {
            Ok(file) => plugin.route(package, file),
            Err(_) => Vec::new(),
        }
    };
    if !named.is_empty() {
        let mut out = Vec::new();
        for url in named {
            if replaces && same_registry(&url, default) {
                out.extend(configured.iter().cloned());
            } else {
                out.push(url);
            }
        }
        out.dedup();
        return out;
    }
    let mut urls = configured;
    if !replaces || urls.is_empty() {
        urls.push(default.to_string());
    }
    urls
}

/// Reads a repository file as a change has it so far.
pub type ReadFile<'r> = dyn Fn(&str) -> Option<String> + Sync + 'r;

/// Lookups of any package for one manifest (a lockfile's new transitive dependencies),
/// routed like the manifest's own dependencies and sharing the run's cache.
pub struct ManifestLookup<'a> {
    pub checker: &'a Checker<'a>,
    pub plugin: &'a dyn Plugin,
    pub manifest: &'a Manifest,
    /// Other repository files as they stand in this change (for lockfile updaters that
    /// edit a file beside the lock, such as a pip-compile `.in`).
    pub read: Option<&'a ReadFile<'a>>,
    /// The files the lockfile's updater named as related (see `Lookup::related_files`).
    pub related: &'a [String],
}

#[async_trait::async_trait]
impl updatebot_core::Lookup for ManifestLookup<'_> {
    async fn releases(&self, package: &str) -> Result<Arc<ReleaseList>, RegistryError> {
        let urls = package_registry_urls(
            self.plugin,
            package,
            &[],
            self.manifest,
            self.checker.settings,
        );
        lookup(
            self.plugin,
            &urls,
            package,
            &self.checker.http,
            &self.checker.cache,
            Detail::Full,
        )
        .await
    }

    fn indexes(&self, package: &str) -> Vec<updatebot_core::tool::IndexAccess> {
        package_registry_urls(
            self.plugin,
            package,
            &[],
            self.manifest,
            self.checker.settings,
        )
        .into_iter()
        .map(|url| updatebot_core::tool::IndexAccess {
            auth: url::Url::parse(&url)
                .ok()
                .and_then(|u| self.checker.http.credential_for(&u).cloned()),
            url,
        })
        .collect()
    }

    fn http(&self) -> Option<Arc<HttpClient>> {
        Some(self.checker.http.clone())
    }

    fn read_file(&self, path: &str) -> Option<String> {
        self.read.and_then(|read| read(path))
    }

    fn tool_settings(&self, kind: &str) -> updatebot_core::tool::ToolSettings {
        self.checker
            .settings
            .tool_settings(self.manifest.ecosystem, &self.manifest.path, kind)
    }

    fn related_files(&self) -> Vec<String> {
        self.related.to_vec()
    }
}

/// Whether two registry URLs name the same place (scheme and host case, trailing slash aside).
fn same_registry(a: &str, b: &str) -> bool {
    let norm = |u: &str| u.trim_end_matches('/').to_ascii_lowercase();
    norm(a) == norm(b)
}

type Key = (Ecosystem, Vec<String>, String, Detail);

/// What a lookup for deciding updates under `rules` needs: the registries' brief documents
/// (npm's abbreviated packuments), unless a cooldown needs publish dates or the updates are
/// applied (`applying`): applying a proposal needs the full document (lock entries record
/// `license`, merge requests link the repository), and in a fleet nearly every package is
/// proposed somewhere, so asking for it at once keeps one request per package.
fn decision_detail(rules: &policy::Rules, applying: bool) -> Detail {
    if applying || rules.cooldown.is_some() {
        Detail::Full
    } else {
        Detail::Brief
    }
}

/// Look up one package in each of its registries and merge the answers (pip's
/// `--extra-index-url` semantics), or, for ecosystems whose registries each hold their own
/// package of a name, take the first registry that has it. Not found everywhere is an error;
/// any other failure is too, because a missing index could hide the newest version.
async fn lookup(
    plugin: &dyn Plugin,
    urls: &[String],
    package: &str,
    http: &Arc<HttpClient>,
    cache: &LookupCache,
    detail: Detail,
) -> Result<Arc<ReleaseList>, RegistryError> {
    let mut merged: Option<ReleaseList> = None;
    let mut not_found = None;
    for url in urls {
        let registry = plugin.registry(url, http.clone())?;
        match cache.lookup(registry, package, detail).await {
            Ok(list) if plugin.registry_strategy() == RegistryStrategy::FirstFound => {
                return Ok(list)
            }
            Ok(list) => match &mut merged {
                Some(m) => m.merge((*list).clone()),
                None => merged = Some((*list).clone()),
            },
            Err(e @ RegistryError::NotFound { .. }) => not_found = Some(e),
            Err(e) => return Err(e),
        }
    }
    match (merged, not_found) {
        (Some(list), _) => Ok(Arc::new(list)),
        (None, Some(e)) => Err(e),
        (None, None) => Err(RegistryError::InvalidUrl {
            url: String::new(),
            detail: format!("no registry configured for `{package}`"),
        }),
    }
}

/// The project's constraints narrowed by one declaration's own (both must hold).
fn merge_constraints(
    project: &BTreeMap<String, String>,
    own: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut out = project.clone();
    for (key, value) in own {
        let merged = match out.get(key) {
            // Alternatives (`a || b`) cannot be AND-ed by a comma; the narrower one decides.
            Some(existing) if !existing.contains('|') && !value.contains('|') => {
                format!("{existing},{value}")
            }
            _ => value.clone(),
        };
        out.insert(key.clone(), merged);
    }
    out
}

/// Why a release does not fit the project's environment constraints.
fn environment_check(
    plugin: &dyn Plugin,
    constraints: &BTreeMap<String, String>,
    release: &Release,
) -> Result<(), String> {
    if plugin.release_admits(constraints, release) {
        return Ok(());
    }
    let detail = constraints
        .iter()
        .filter_map(|(key, project)| {
            release
                .constraints
                .get(key)
                .map(|needed| format!("needs {key} `{needed}` but the project allows `{project}`"))
        })
        .collect::<Vec<_>>()
        .join("; ");
    Err(if detail.is_empty() {
        "does not fit the project's environment".into()
    } else {
        detail
    })
}

/// The dependency as it is looked up and decided: under `pin-digests`, one whose digest its
/// plugin can pin is marked so (and a moving tag such as `latest` is then looked up too);
/// under a `cooldown`, it carries its minimum release age per update type (registries that
/// read release dates only when asked, such as container registries, need it).
fn as_checked<'d>(
    plugin: &dyn Plugin,
    dep: &'d Dependency,
    rules: &policy::Rules,
    now: DateTime<Utc>,
) -> std::borrow::Cow<'d, Dependency> {
    let mut checked = match rules.pin_digests.then(|| plugin.pin_digest(dep)).flatten() {
        Some(pinned) => std::borrow::Cow::Owned(pinned),
        None => std::borrow::Cow::Borrowed(dep),
    };
    if let Some(age) = rules
        .cooldown
        .as_ref()
        .and_then(|c| c.minimum_age(dep, now.timestamp()))
    {
        checked.to_mut().minimum_age = Some(age);
    }
    checked
}

pub struct Checker<'a> {
    pub plugins: &'a Plugins,
    pub http: Arc<HttpClient>,
    pub cache: Arc<LookupCache>,
    pub settings: &'a dyn Settings,
    pub now: DateTime<Utc>,
    /// Lookups in flight at once.
    pub concurrency: usize,
    /// The proposals will be applied (`update`, `run`): lookups ask for full documents.
    pub applying: bool,
}

impl Checker<'_> {
    /// Look up and decide every dependency of `manifests`. `repo_files` lists the tree, for
    /// finding lockfiles. `progress` is told each finished lookup: (done, total, package).
    pub async fn check(
        &self,
        manifests: Vec<Manifest>,
        repo_files: &[String],
        progress: &(dyn Fn(usize, usize, &str) + Sync),
    ) -> Vec<ManifestResult> {
        // 1. Unique lookups across all manifests.
        let mut keys: BTreeSet<Key> = BTreeSet::new();
        for manifest in &manifests {
            let (Ok(file), Some(plugin)) = (&manifest.result, self.plugins.get(manifest.ecosystem))
            else {
                continue;
            };
            let rules = self.settings.rules(manifest.ecosystem, &manifest.path);
            for dep in &file.dependencies {
                let dep = &*as_checked(plugin, dep, &rules, self.now);
                if policy::skip_reason(dep, &rules).is_none() {
                    keys.insert((
                        manifest.ecosystem,
                        registry_urls(plugin, dep, manifest, self.settings),
                        plugin.lookup_name(dep),
                        decision_detail(&rules, self.applying),
                    ));
                }
            }
        }
        let total = keys.len();
        let done = std::sync::atomic::AtomicUsize::new(0);
        let answers: BTreeMap<Key, Result<Arc<ReleaseList>, RegistryError>> =
            futures::stream::iter(keys)
                .map(|key| {
                    let done = &done;
                    async move {
                        let answer = match self.plugins.get(key.0) {
                            Some(plugin) => {
                                lookup(plugin, &key.1, &key.2, &self.http, &self.cache, key.3).await
                            }
                            None => Err(RegistryError::InvalidUrl {
                                url: String::new(),
                                detail: format!("no {} support in this build", key.0),
                            }),
                        };
                        let n = done.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                        progress(n, total, &key.2);
                        (key, answer)
                    }
                })
                .buffer_unordered(self.concurrency.max(1))
                .collect()
                .await;

        // 2. Decide each dependency.
        manifests
            .into_iter()
            .map(|manifest| self.decide_manifest(manifest, repo_files, &answers))
            .collect()
    }

    fn decide_manifest(
        &self,
        manifest: Manifest,
        repo_files: &[String],
        answers: &BTreeMap<Key, Result<Arc<ReleaseList>, RegistryError>>,
    ) -> ManifestResult {
        let (Ok(file), Some(plugin)) = (&manifest.result, self.plugins.get(manifest.ecosystem))
        else {
            return ManifestResult {
                manifest,
                lockfile: None,
                related_files: Vec::new(),
                dependencies: Vec::new(),
            };
        };
        let file = file.clone();
        let mut blocked = None;
        let mut related_files = Vec::new();
        let lockfile = plugin.lockfile_updaters().iter().find_map(|u| {
            let path = u.lockfile_for(&manifest.path, &manifest.content, repo_files)?;
            blocked = u.preflight(&path).err();
            related_files = u.related_files(&path, repo_files);
            Some((path, u.name()))
        });
        // A `.in` compiled into a pinned file is updated through that file.
        let compiled_into = plugin
            .lockfile_updaters()
            .iter()
            .find_map(|u| u.compiled_into(&manifest.path, repo_files));
        let rules = self.settings.rules(manifest.ecosystem, &manifest.path);
        let mut results = Vec::with_capacity(file.dependencies.len());
        for (index, dep) in file.dependencies.iter().enumerate() {
            let dep = &*as_checked(plugin, dep, &rules, self.now);
            let mut releases = None;
            let outcome = if dep.skip_reason == Some(SkipReason::InvalidVersion) {
                // Bad input, not a choice: it fails, naming the text.
                Outcome::Failed(format!(
                    "`{}` is not a valid {} version or range",
                    dep.current_value, dep.versioning
                ))
            } else if let Some(reason) = policy::skip_reason(dep, &rules) {
                Outcome::Skipped(reason)
            } else if let Some(compiled) = &compiled_into {
                Outcome::NoUpdate {
                    current_version: None,
                    reason: format!("compiled into {compiled}, which is updated instead"),
                }
            } else {
                let key = (
                    manifest.ecosystem,
                    registry_urls(plugin, dep, &manifest, self.settings),
                    plugin.lookup_name(dep),
                    decision_detail(&rules, self.applying),
                );
                match (answers.get(&key), plugin.scheme(dep.versioning)) {
                    (Some(Ok(list)), Some(scheme)) => {
                        releases = Some(list.clone());
                        let constraints = merge_constraints(&file.constraints, &dep.constraints);
                        let environment = |r: &Release| environment_check(plugin, &constraints, r);
                        let ctx = Context {
                            scheme,
                            releases: list,
                            environment: &environment,
                            rules: &rules,
                            locked_version: dep.locked_version.as_deref(),
                            now: self.now,
                        };
                        match policy::decide(dep, &ctx) {
                            Decision::Update(p) if p.new_value.is_none() && lockfile.is_none() => {
                                Outcome::NoUpdate {
                                    reason: format!(
                                        "`{}` already admits {}; no lockfile to update",
                                        dep.current_value, p.new_version
                                    ),
                                    current_version: p.current_version,
                                }
                            }
                            Decision::Update(p) => match &blocked {
                                Some(e) => Outcome::Failed(format!(
                                    "{} is available, but {e}",
                                    p.new_version
                                )),
                                None => Outcome::Update(p),
                            },
                            Decision::NoUpdate {
                                current_version,
                                reason,
                            } => Outcome::NoUpdate {
                                current_version,
                                reason,
                            },
                            Decision::Skipped(reason) => Outcome::Skipped(reason),
                        }
                    }
                    (Some(Err(e)), _) if e.is_unavailable() => Outcome::Unavailable(e.to_string()),
                    (Some(Err(e)), _) => Outcome::Failed(e.to_string()),
                    (_, None) => {
                        Outcome::Failed(format!("no versioning scheme `{}`", dep.versioning))
                    }
                    (None, _) => {
                        Outcome::Failed(format!("`{}` was not looked up", dep.package_name))
                    }
                }
            };
            results.push(DependencyResult {
                index,
                dependency: dep.clone(),
                outcome,
                releases,
            });
        }
        crate::shared_text::settle(&mut results, &manifest.content);
        ManifestResult {
            manifest,
            lockfile,
            related_files,
            dependencies: results,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use updatebot_core::registry::Registry;
    use updatebot_core::{Manager, VersionScheme};

    /// Registry `a` lacks every package; `b` and `c` hold different releases of it.
    struct Fixed(&'static str);

    #[async_trait::async_trait]
    impl Registry for Fixed {
        fn url(&self) -> &str {
            self.0
        }
        async fn releases(&self, package: &str) -> Result<ReleaseList, RegistryError> {
            let version = match self.0 {
                "b" => "1.0",
                "c" => "2.0",
                _ => {
                    return Err(RegistryError::NotFound {
                        package: package.to_string(),
                        registry: self.0.to_string(),
                    })
                }
            };
            Ok(ReleaseList {
                name: package.to_string(),
                releases: vec![Release::new(version)],
                ..ReleaseList::default()
            })
        }
    }

    struct Fake(RegistryStrategy);

    impl Plugin for Fake {
        fn ecosystem(&self) -> Ecosystem {
            Ecosystem::Docker
        }
        fn managers(&self) -> &[Box<dyn Manager>] {
            &[]
        }
        fn scheme(&self, _: &str) -> Option<&dyn VersionScheme> {
            None
        }
        fn default_registry_url(&self) -> &'static str {
            "a"
        }
        fn registry(
            &self,
            url: &str,
            _: Arc<HttpClient>,
        ) -> Result<Arc<dyn Registry>, RegistryError> {
            let url: &'static str = match url {
                "b" => "b",
                "c" => "c",
                _ => "a",
            };
            Ok(Arc::new(Fixed(url)))
        }
        fn registry_strategy(&self) -> RegistryStrategy {
            self.0
        }
    }

    async fn versions(strategy: RegistryStrategy, urls: &[&str]) -> Vec<String> {
        let http = Arc::new(HttpClient::new(Default::default(), Vec::new()).unwrap());
        let urls: Vec<String> = urls.iter().map(|u| u.to_string()).collect();
        let list = lookup(
            &Fake(strategy),
            &urls,
            "nginx",
            &http,
            &LookupCache::new(),
            Detail::Full,
        )
        .await
        .unwrap();
        list.releases.iter().map(|r| r.version.clone()).collect()
    }

    #[tokio::test]
    async fn first_found_registries_answer_alone_and_merged_ones_together() {
        assert_eq!(
            versions(RegistryStrategy::FirstFound, &["a", "b", "c"]).await,
            ["1.0"]
        );
        assert_eq!(
            versions(RegistryStrategy::FirstFound, &["c", "b"]).await,
            ["2.0"]
        );
        let mut merged = versions(RegistryStrategy::Merge, &["a", "b", "c"]).await;
        merged.sort();
        assert_eq!(merged, ["1.0", "2.0"]);
    }
}

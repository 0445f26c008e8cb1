//! The `package-lock.json` / `npm-shrinkwrap.json` updater (lockfile versions 2 and 3
//! natively, version 1 through npm), and the lockfiles only their own tool writes (yarn,
//! pnpm; bun's are reported as needing bun).

use super::doc::{failed, nice, LockDoc};
use super::place::{Placer, Resolved};
use super::tools::{self, Tool, ToolFailure};
use super::tree::{edges, problems};
use super::{flags, legacy};
use async_trait::async_trait;
use serde_json::{Map, Value};
use std::collections::BTreeSet;
use updatebot_core::registry::Release;
use updatebot_core::tool::Engine;
use updatebot_core::{
    Dependent, LockError, LockOutput, LockRequest, LockedPackage, LockfileUpdater, Lookup,
    Requirement,
};

pub const UPDATER: &str = "package-lock";

fn dir_of(path: &str) -> &str {
    path.rsplit_once('/').map(|(d, _)| d).unwrap_or("")
}

/// Lockfile names, in the order they win when one folder has several.
pub const LOCK_NAMES: [&str; 6] = [
    "npm-shrinkwrap.json",
    "package-lock.json",
    "pnpm-lock.yaml",
    "yarn.lock",
    "bun.lock",
    "bun.lockb",
];

/// The nearest lockfile of any kind in the manifest's folder or above it.
pub fn nearest_lock(manifest_path: &str, repo_files: &[String]) -> Option<String> {
    let mut dir = Some(dir_of(manifest_path));
    while let Some(d) = dir {
        for name in LOCK_NAMES {
            let candidate = if d.is_empty() {
                name.to_string()
            } else {
                format!("{d}/{name}")
            };
            if repo_files.contains(&candidate) {
                return Some(candidate);
            }
        }
        dir = if d.is_empty() { None } else { Some(dir_of(d)) };
    }
    None
}

fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// Run `tool` on the request's lock (the operator's settings for its kind permitting);
/// `why_not_native` says why updatebot's own code does not do it.
async fn by_tool(
    tool: Tool,
    request: &LockRequest<'_>,
    why_not_native: &str,
) -> Result<LockOutput, LockError> {
    let settings = request.lookup.tool_settings(tool.kind());
    let needs = |reason: String| LockError::NeedsTool {
        lockfile: request.lock_path.to_string(),
        tool: tool.program_name().to_string(),
        reason,
    };
    if settings.engine == Engine::Native {
        return Err(needs(format!(
            "{why_not_native}; the engine for {} is `native`",
            tool.kind()
        )));
    }
    match tools::update(tool, request, &settings).await {
        Ok((mut out, version)) => {
            out.engine = Some(
                format!("{} {version}", tool.program_name())
                    .trim()
                    .to_string(),
            );
            Ok(out)
        }
        Err(ToolFailure::Unavailable(why)) => Err(needs(format!("{why_not_native}, and {why}"))),
        Err(ToolFailure::Failed(why)) => Err(failed(request.lock_path, why)),
    }
}

#[derive(Clone, Copy, Debug, Default)]
pub struct PackageLock;

/// Bring the declaring entry's dependency lists in line with the edited `package.json`.
fn sync_declarer(entry: &mut Map<String, Value>, manifest: &Map<String, Value>) {
    for key in [
        "dependencies",
        "devDependencies",
        "optionalDependencies",
        "peerDependencies",
        "peerDependenciesMeta",
    ] {
        match manifest.get(key) {
            Some(Value::Object(wanted)) if !wanted.is_empty() => {
                let same_keys = entry
                    .get(key)
                    .and_then(Value::as_object)
                    .is_some_and(|have| {
                        have.keys().collect::<BTreeSet<_>>()
                            == wanted.keys().collect::<BTreeSet<_>>()
                    });
                if same_keys {
                    // Same names: change values in place, keeping the lock's own order.
                    if let Some(Value::Object(have)) = entry.get_mut(key) {
                        for (k, v) in wanted {
                            have.insert(k.clone(), v.clone());
                        }
                    }
                } else {
                    super::doc::insert_sorted(
                        entry,
                        key.to_string(),
                        nice(Value::Object(wanted.clone())),
                    );
                }
            }
            _ => {
                entry.remove(key);
            }
        }
    }
}

/// Whether the lock writes `resolved` for registry packages (npm's default) or was made with
/// `omit-lockfile-registry-resolved`.
fn resolved_mode(packages: &Map<String, Value>) -> Resolved {
    let registry: Vec<&Value> = packages
        .iter()
        .filter(|(k, v)| {
            k.contains("node_modules/") && v.get("link").is_none() && v.get("integrity").is_some()
        })
        .map(|(_, v)| v)
        .collect();
    let with = registry
        .iter()
        .filter(|v| v.get("resolved").is_some())
        .count();
    if registry.is_empty() || with * 2 >= registry.len() {
        Resolved::Write
    } else {
        Resolved::Omit
    }
}

#[async_trait]
impl LockfileUpdater for PackageLock {
    fn name(&self) -> &'static str {
        UPDATER
    }

    fn lockfile_for(
        &self,
        manifest_path: &str,
        _manifest: &str,
        repo_files: &[String],
    ) -> Option<String> {
        if file_name(manifest_path) != "package.json" {
            return None;
        }
        nearest_lock(manifest_path, repo_files)
            .filter(|lock| matches!(file_name(lock), "npm-shrinkwrap.json" | "package-lock.json"))
    }

    fn related_files(&self, lock_path: &str, repo_files: &[String]) -> Vec<String> {
        tools::related_files(lock_path, repo_files)
    }

    fn locked_packages(
        &self,
        lock_path: &str,
        lock: &str,
    ) -> Option<Result<Vec<LockedPackage>, LockError>> {
        Some(super::graph::locked_packages(lock_path, lock))
    }

    async fn dependents(
        &self,
        lock_path: &str,
        lock: &str,
        package: &str,
        version: &str,
        _lookup: &dyn Lookup,
    ) -> Result<Option<Vec<Dependent>>, LockError> {
        super::graph::dependents(lock_path, lock, package, version).map(Some)
    }

    async fn requirement(
        &self,
        _parent: &str,
        release: &Release,
        package: &str,
        _lookup: &dyn Lookup,
    ) -> Requirement {
        super::graph::requirement(release, package)
    }

    async fn update(&self, request: LockRequest<'_>) -> Result<String, LockError> {
        self.update_files(request).await.map(|o| o.content)
    }

    async fn update_files(&self, request: LockRequest<'_>) -> Result<LockOutput, LockError> {
        let doc = LockDoc::parse(request.lock_path, request.lock_content)?;
        let settings = request.lookup.tool_settings(Tool::Npm.kind());
        if doc.version >= 2 && settings.engine != Engine::Tool {
            return match self.native(&request, doc).await {
                Ok(content) => Ok(LockOutput {
                    content,
                    engine: Some("native".into()),
                    ..LockOutput::default()
                }),
                // What the native engine cannot make exact (an overridden package, a peer
                // conflict, bundled dependencies) npm itself may, where the operator allows it.
                Err(LockError::NeedsTool { reason, .. }) if settings.engine == Engine::Auto => {
                    by_tool(Tool::Npm, &request, &reason).await
                }
                Err(e) => Err(e),
            };
        }
        let why = if doc.version < 2 {
            format!(
                "lockfileVersion {} is only updated by npm itself",
                doc.version
            )
        } else {
            format!("the engine for {} is `tool`", Tool::Npm.kind())
        };
        by_tool(Tool::Npm, &request, &why).await
    }
}

impl PackageLock {
    /// The native update of a v2/v3 lock.
    async fn native(
        &self,
        request: &LockRequest<'_>,
        mut doc: LockDoc,
    ) -> Result<String, LockError> {
        let path = request.lock_path;
        // An override moves the package wherever it is in the tree: npm's own resolution.
        if let Some(u) = request
            .updates
            .iter()
            .find(|u| u.dependency.dep_type == "overrides")
        {
            return Err(LockError::NeedsTool {
                lockfile: path.to_string(),
                tool: "npm".into(),
                reason: format!(
                    "`{}` is an override, which changes what npm resolves everywhere",
                    u.dependency.name
                ),
            });
        }
        let packages = doc
            .packages()
            .ok_or_else(|| failed(path, "no `packages` section"))?
            .clone();
        let lock_dir = dir_of(path);
        let manifest_dir = dir_of(request.manifest_path);
        let declarer = if lock_dir.is_empty() {
            manifest_dir.to_string()
        } else {
            manifest_dir
                .strip_prefix(lock_dir)
                .map(|r| r.trim_start_matches('/').to_string())
                .unwrap_or_else(|| manifest_dir.to_string())
        };
        if !packages.contains_key(&declarer) {
            return Err(failed(
                path,
                format!(
                    "`{}` is not in this lockfile (not one of its workspaces?)",
                    request.manifest_path
                ),
            ));
        }
        let manifest: Value = serde_json::from_str(
            request.manifest_after.trim_start_matches('\u{feff}'),
        )
        .map_err(|e| {
            failed(
                path,
                format!("{}: invalid JSON: {e}", request.manifest_path),
            )
        })?;
        let manifest = manifest
            .as_object()
            .ok_or_else(|| failed(path, format!("{} is not an object", request.manifest_path)))?;
        let overridden: BTreeSet<String> = manifest
            .get("overrides")
            .and_then(Value::as_object)
            .map(|o| {
                o.keys()
                    .map(|k| match k.get(1..).and_then(|r| r.find('@')) {
                        Some(at) => k[..at + 1].to_string(),
                        None => k.clone(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let before_problems = problems(&packages);
        let before_flags = flags::compute(&packages);
        let mut placer = Placer {
            lock_path: path,
            resolved: resolved_mode(&packages),
            packages,
            lookup: request.lookup,
            overridden,
            touched: BTreeSet::new(),
        };
        if let Some(Value::Object(entry)) = placer.packages.get_mut(&declarer) {
            sync_declarer(entry, manifest);
        }
        for update in request.updates {
            let name = &update.dependency.name;
            let full = full_release(request.lookup, update, path).await?;
            let release = full.as_ref().unwrap_or(update.release);
            let edge = edges(&placer.packages, &declarer)
                .into_iter()
                .find(|e| &e.name == name);
            match edge {
                Some(edge) => placer.update_direct(&declarer, &edge, release).await?,
                // A package the manifest does not declare moves through the lock alone.
                None if update.new_value.is_none() => {
                    placer
                        .update_transitive(&update.dependency.package_name, release)
                        .await?
                }
                None => {
                    return Err(failed(
                        path,
                        format!(
                            "`{name}` is not a dependency of `{}`",
                            request.manifest_path
                        ),
                    ))
                }
            }
        }
        placer.prune();
        let after_flags = flags::compute(&placer.packages);
        flags::apply(&mut placer.packages, &after_flags, Some(&before_flags));
        let after_problems = problems(&placer.packages);
        let new: Vec<&String> = after_problems.difference(&before_problems).collect();
        if !new.is_empty() {
            return Err(failed(
                path,
                format!(
                    "the updated lock would not resolve ({}); not written",
                    new.iter()
                        .take(5)
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join("; ")
                ),
            ));
        }
        let legacy_section = (doc.version == 2).then(|| legacy::build(&placer.packages));
        if let Some(target) = doc.packages_mut() {
            *target = placer.packages;
        }
        if let Some(section) = legacy_section {
            doc.root.insert("dependencies".into(), section);
        }
        Ok(doc.render())
    }
}

/// Lockfiles only their own tool writes: yarn's and pnpm's, run through the sandboxed tool
/// runner; bun's are reported as needing bun.
#[derive(Clone, Copy, Debug, Default)]
pub struct ToolLocks;

#[async_trait]
impl LockfileUpdater for ToolLocks {
    fn name(&self) -> &'static str {
        "tool-lockfile"
    }

    fn lockfile_for(
        &self,
        manifest_path: &str,
        _manifest: &str,
        repo_files: &[String],
    ) -> Option<String> {
        if file_name(manifest_path) != "package.json" {
            return None;
        }
        nearest_lock(manifest_path, repo_files).filter(|lock| {
            matches!(
                file_name(lock),
                "yarn.lock" | "pnpm-lock.yaml" | "bun.lock" | "bun.lockb"
            )
        })
    }

    fn related_files(&self, lock_path: &str, repo_files: &[String]) -> Vec<String> {
        tools::related_files(lock_path, repo_files)
    }

    fn preflight(&self, lock_path: &str) -> Result<(), LockError> {
        if file_name(lock_path).starts_with("bun.lock") {
            return Err(LockError::NeedsTool {
                lockfile: lock_path.to_string(),
                tool: "bun".into(),
                reason:
                    "updating bun's lockfile is not supported yet, so the manifest is left as it is"
                        .into(),
            });
        }
        Ok(())
    }

    async fn update(&self, request: LockRequest<'_>) -> Result<String, LockError> {
        self.update_files(request).await.map(|o| o.content)
    }

    async fn update_files(&self, request: LockRequest<'_>) -> Result<LockOutput, LockError> {
        self.preflight(request.lock_path)?;
        let path = request.lock_path;
        let tool = if file_name(path) == "pnpm-lock.yaml" {
            super::pnpm::parse(request.lock_content)
                .map_err(|e| failed(path, format!("cannot be read: {e}")))?;
            Tool::Pnpm
        } else {
            match super::yarn::parse(request.lock_content)
                .map_err(|e| failed(path, format!("cannot be read: {e}")))?
                .flavor
            {
                super::yarn::Flavor::Classic => Tool::YarnClassic,
                super::yarn::Flavor::Berry => Tool::YarnBerry,
            }
        };
        by_tool(
            tool,
            &request,
            &format!(
                "updatebot has no native engine for {}'s lock",
                tool.describe()
            ),
        )
        .await
    }
}

/// The release an update moves to, from the registry's full document when the update came
/// with an abbreviated one: lock entries record the `license`, which only the full document
/// has (npm 11 asks for full documents when it writes a lock, for this). `None`: the update's
/// own release is complete.
async fn full_release(
    lookup: &dyn Lookup,
    update: &updatebot_core::PlannedUpdate<'_>,
    path: &str,
) -> Result<Option<Release>, LockError> {
    if !update.releases.abbreviated {
        return Ok(None);
    }
    let package = &update.dependency.package_name;
    let list = lookup
        .releases(package)
        .await
        .map_err(|e| failed(path, format!("cannot look up `{package}` in full: {e}")))?;
    list.release(update.new_version)
        .cloned()
        .map(Some)
        .ok_or_else(|| {
            failed(
                path,
                format!(
                    "the full document of `{package}` has no version {}",
                    update.new_version
                ),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::sync::Arc;
    use updatebot_core::registry::{RegistryError, Release, ReleaseList};
    use updatebot_core::{Dependency, Lookup, PlannedUpdate};

    /// A registry in memory: name → versions with their dependencies.
    struct Registry(BTreeMap<String, ReleaseList>);

    fn release(name: &str, version: &str, deps: &[(&str, &str)]) -> Release {
        let mut r = Release::new(version);
        let deps: Map<String, Value> = deps
            .iter()
            .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
            .collect();
        let mut meta = serde_json::json!({
            "name": name,
            "version": version,
            "dist": {"tarball": format!("http://reg/{name}/-/{name}-{version}.tgz"), "integrity": format!("sha512-{name}{version}")}
        });
        if !deps.is_empty() {
            meta["dependencies"] = Value::Object(deps);
        }
        r.metadata = Some(Arc::new(meta));
        r
    }

    fn registry() -> Registry {
        let mut m = BTreeMap::new();
        let mut add = |name: &str, versions: &[(&str, &[(&str, &str)])], latest: &str| {
            let list = ReleaseList {
                name: name.into(),
                releases: versions.iter().map(|(v, d)| release(name, v, d)).collect(),
                tags: [("latest".to_string(), latest.to_string())].into(),
                ..ReleaseList::default()
            };
            m.insert(name.to_string(), list);
        };
        add(
            "ms",
            &[("2.0.0", &[]), ("2.1.2", &[]), ("2.1.3", &[])],
            "2.1.3",
        );
        add(
            "debug",
            &[("2.6.9", &[("ms", "2.0.0")]), ("4.3.4", &[("ms", "2.1.2")])],
            "4.3.4",
        );
        add(
            "semver",
            &[("5.7.2", &[]), ("7.5.4", &[("lru-cache", "^6.0.0")])],
            "7.5.4",
        );
        add("lru-cache", &[("6.0.0", &[("yallist", "^4.0.0")])], "6.0.0");
        add("yallist", &[("4.0.0", &[])], "4.0.0");
        add("parent", &[("1.0.0", &[("ms", "^2.1.0")])], "1.0.0");
        Registry(m)
    }

    #[async_trait]
    impl Lookup for Registry {
        async fn releases(&self, package: &str) -> Result<Arc<ReleaseList>, RegistryError> {
            self.0
                .get(package)
                .cloned()
                .map(Arc::new)
                .ok_or_else(|| RegistryError::NotFound {
                    package: package.into(),
                    registry: "memory".into(),
                })
        }

        /// No tool runs here: what needs one says so.
        fn tool_settings(&self, _kind: &str) -> updatebot_core::tool::ToolSettings {
            updatebot_core::tool::ToolSettings {
                engine: Engine::Native,
                ..Default::default()
            }
        }
    }

    async fn run(
        lock: &str,
        manifest: &str,
        name: &str,
        version: &str,
        new_value: &str,
    ) -> Result<String, LockError> {
        let reg = registry();
        let list = reg.0[name].clone();
        let release = list.release(version).unwrap().clone();
        let dep = Dependency::new(name, name, new_value, None, "npm");
        let planned = [PlannedUpdate {
            dependency: &dep,
            new_value: Some(new_value),
            new_version: version,
            release: &release,
            releases: &list,
        }];
        PackageLock
            .update(LockRequest {
                manifest_path: "package.json",
                manifest_before: manifest,
                manifest_after: manifest,
                lock_path: "package-lock.json",
                lock_content: lock,
                updates: &planned,
                lookup: &reg,
            })
            .await
    }

    fn lock_v3(packages: Value) -> String {
        let doc = serde_json::json!({"name": "demo", "version": "1.0.0", "lockfileVersion": 3, "requires": true, "packages": packages});
        serde_json::to_string_pretty(&doc).unwrap() + "\n"
    }

    fn locations(text: &str) -> Vec<(String, String)> {
        let doc: Value = serde_json::from_str(text).unwrap();
        doc["packages"]
            .as_object()
            .unwrap()
            .iter()
            .filter(|(k, _)| !k.is_empty())
            .map(|(k, v)| (k.clone(), v["version"].as_str().unwrap_or("").to_string()))
            .collect()
    }

    #[tokio::test]
    async fn a_bump_that_conflicts_with_a_root_pin_nests_the_new_dependency() {
        let lock = lock_v3(serde_json::json!({
            "": {"name": "demo", "version": "1.0.0", "dependencies": {"debug": "2.6.9", "ms": "2.0.0"}},
            "node_modules/debug": {"version": "2.6.9", "resolved": "http://reg/debug/-/debug-2.6.9.tgz", "integrity": "sha512-debug2.6.9", "dependencies": {"ms": "2.0.0"}},
            "node_modules/ms": {"version": "2.0.0", "resolved": "http://reg/ms/-/ms-2.0.0.tgz", "integrity": "sha512-ms2.0.0"}
        }));
        let manifest = r#"{"name": "demo", "version": "1.0.0", "dependencies": {"debug": "4.3.4", "ms": "2.0.0"}}"#;
        let out = run(&lock, manifest, "debug", "4.3.4", "4.3.4")
            .await
            .unwrap();
        assert_eq!(
            locations(&out),
            [
                ("node_modules/debug".into(), "4.3.4".into()),
                ("node_modules/debug/node_modules/ms".into(), "2.1.2".into()),
                ("node_modules/ms".into(), "2.0.0".into()),
            ]
        );
        let doc: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(doc["packages"][""]["dependencies"]["debug"], "4.3.4");
        assert_eq!(
            doc["packages"]["node_modules/debug"]["integrity"],
            "sha512-debug4.3.4"
        );
    }

    #[tokio::test]
    async fn an_update_from_an_abbreviated_document_is_written_from_the_full_one() {
        // The registry's full document knows the license; the update came with the
        // abbreviated one, which does not.
        let mut reg = registry();
        let full = reg.0.get_mut("ms").unwrap();
        for r in &mut full.releases {
            let mut meta = (**r.metadata.as_ref().unwrap()).clone();
            meta["license"] = "MIT".into();
            r.metadata = Some(Arc::new(meta));
        }
        let mut brief = registry().0["ms"].clone();
        brief.abbreviated = true;
        let release = brief.release("2.1.3").unwrap().clone();
        let lock = lock_v3(serde_json::json!({
            "": {"name": "demo", "version": "1.0.0", "dependencies": {"ms": "2.0.0"}},
            "node_modules/ms": {"version": "2.0.0", "resolved": "http://reg/ms/-/ms-2.0.0.tgz", "integrity": "sha512-ms2.0.0", "license": "MIT"}
        }));
        let manifest = r#"{"name": "demo", "version": "1.0.0", "dependencies": {"ms": "2.1.3"}}"#;
        let dep = Dependency::new("ms", "ms", "2.1.3", None, "npm");
        let planned = [PlannedUpdate {
            dependency: &dep,
            new_value: Some("2.1.3"),
            new_version: "2.1.3",
            release: &release,
            releases: &brief,
        }];
        let out = PackageLock
            .update(LockRequest {
                manifest_path: "package.json",
                manifest_before: manifest,
                manifest_after: manifest,
                lock_path: "package-lock.json",
                lock_content: &lock,
                updates: &planned,
                lookup: &reg,
            })
            .await
            .unwrap();
        let doc: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(doc["packages"]["node_modules/ms"]["version"], "2.1.3");
        assert_eq!(doc["packages"]["node_modules/ms"]["license"], "MIT");
    }

    #[tokio::test]
    async fn a_bump_that_adds_and_one_that_removes_transitive_dependencies() {
        let lock = lock_v3(serde_json::json!({
            "": {"name": "demo", "version": "1.0.0", "devDependencies": {"semver": "^5.7.2"}},
            "node_modules/semver": {"version": "5.7.2", "resolved": "http://reg/semver/-/semver-5.7.2.tgz", "integrity": "sha512-semver5.7.2", "dev": true}
        }));
        let manifest =
            r#"{"name": "demo", "version": "1.0.0", "devDependencies": {"semver": "^7.5.4"}}"#;
        let added = run(&lock, manifest, "semver", "7.5.4", "^7.5.4")
            .await
            .unwrap();
        assert_eq!(
            locations(&added),
            [
                ("node_modules/lru-cache".into(), "6.0.0".into()),
                ("node_modules/semver".into(), "7.5.4".into()),
                ("node_modules/yallist".into(), "4.0.0".into()),
            ]
        );
        let doc: Value = serde_json::from_str(&added).unwrap();
        assert_eq!(
            doc["packages"]["node_modules/yallist"]["dev"], true,
            "dev flags follow"
        );
        // And back: the transitive ones go.
        let back = run(
            &added,
            r#"{"name": "demo", "version": "1.0.0", "devDependencies": {"semver": "^5.7.2"}}"#,
            "semver",
            "5.7.2",
            "^5.7.2",
        )
        .await
        .unwrap();
        assert_eq!(
            locations(&back),
            [("node_modules/semver".into(), "5.7.2".into())]
        );
    }

    async fn transitive(lock: &str, name: &str, version: &str) -> Result<String, LockError> {
        let reg = registry();
        let list = reg.0[name].clone();
        let release = list.release(version).unwrap().clone();
        let dep = Dependency::new(name, name, "", None, "npm");
        let planned = [PlannedUpdate {
            dependency: &dep,
            new_value: None,
            new_version: version,
            release: &release,
            releases: &list,
        }];
        let doc: Value = serde_json::from_str(lock).unwrap();
        let manifest = serde_json::json!({"name": "demo", "version": "1.0.0", "dependencies": doc["packages"][""]["dependencies"]}).to_string();
        let manifest = manifest.as_str();
        PackageLock
            .update(LockRequest {
                manifest_path: "package.json",
                manifest_before: manifest,
                manifest_after: manifest,
                lock_path: "package-lock.json",
                lock_content: lock,
                updates: &planned,
                lookup: &reg,
            })
            .await
    }

    #[tokio::test]
    async fn a_transitive_dependency_moves_through_the_lock_where_its_dependents_admit_it() {
        let lock = lock_v3(serde_json::json!({
            "": {"name": "demo", "version": "1.0.0", "dependencies": {"parent": "^1.0.0", "debug": "4.3.4"}},
            "node_modules/debug": {"version": "4.3.4", "resolved": "http://reg/debug/-/debug-4.3.4.tgz", "integrity": "sha512-debug4.3.4", "dependencies": {"ms": "2.1.2"}},
            "node_modules/debug/node_modules/ms": {"version": "2.1.2", "resolved": "http://reg/ms/-/ms-2.1.2.tgz", "integrity": "sha512-ms2.1.2"},
            "node_modules/ms": {"version": "2.1.2", "resolved": "http://reg/ms/-/ms-2.1.2.tgz", "integrity": "sha512-ms2.1.2"},
            "node_modules/parent": {"version": "1.0.0", "resolved": "http://reg/parent/-/parent-1.0.0.tgz", "integrity": "sha512-parent1.0.0", "dependencies": {"ms": "^2.1.0"}}
        }));
        // debug pins ms 2.1.2 exactly: the nested copy cannot move, and the update says who.
        let err = transitive(&lock, "ms", "2.1.3").await.unwrap_err();
        assert!(
            err.to_string()
                .contains("debug requires `ms@2.1.2`, which does not admit 2.1.3"),
            "{err}"
        );
        // Without debug's copy, the shared one moves.
        let mut doc: Value = serde_json::from_str(&lock).unwrap();
        let packages = doc["packages"].as_object_mut().unwrap();
        packages.remove("node_modules/debug/node_modules/ms");
        packages.remove("node_modules/debug");
        packages[""]["dependencies"]
            .as_object_mut()
            .unwrap()
            .remove("debug");
        let lock = serde_json::to_string_pretty(&doc).unwrap() + "\n";
        let out = transitive(&lock, "ms", "2.1.3").await.unwrap();
        assert_eq!(
            locations(&out),
            [
                ("node_modules/ms".into(), "2.1.3".into()),
                ("node_modules/parent".into(), "1.0.0".into()),
            ]
        );
        // Already there: nothing to do; not locked at all: an error.
        assert_eq!(transitive(&out, "ms", "2.1.3").await.unwrap(), out);
        assert!(transitive(&out, "yallist", "4.0.0").await.is_err());
    }

    #[tokio::test]
    async fn version_1_locks_need_npm_and_strangers_are_refused() {
        let v1 = r#"{"name": "demo", "lockfileVersion": 1, "dependencies": {}}"#;
        let err = run(v1, "{}", "ms", "2.1.3", "2.1.3").await.unwrap_err();
        assert!(matches!(err, LockError::NeedsTool { .. }), "{err}");
        let lock = lock_v3(serde_json::json!({"": {"name": "demo"}}));
        let err = run(
            &lock,
            r#"{"dependencies": {"ms": "2.1.3"}}"#,
            "ms",
            "2.1.3",
            "2.1.3",
        )
        .await;
        assert!(err.is_ok(), "a new dependency is placed: {err:?}");
        let err = run("not json", "{}", "ms", "2.1.3", "2.1.3")
            .await
            .unwrap_err();
        assert!(err.to_string().contains("invalid JSON"), "{err}");
    }
}

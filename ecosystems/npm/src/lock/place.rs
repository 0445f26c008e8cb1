//! Putting packages into a `packages` map the way npm's arborist would: a new version
//! replaces the old where every dependent accepts it, dependencies are shared when a version in
//! range is already visible, hoisted as high as no conflict allows, nested otherwise; peers are
//! placed beside their dependent. Then what nothing reaches any more is pruned.

use super::doc::{failed, insert_sorted, nice};
use super::tree::{
    child_location, edges, folder, name_at, parent_folder, reachable, registry_range, resolve,
    satisfies, Edge,
};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use updatebot_core::registry::{Release, ReleaseList};
use updatebot_core::{LockError, Lookup, VersionScheme};

/// How a lockfile names its tarballs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolved {
    /// `resolved` is written (npm's default).
    Write,
    /// The lock was written with `omit-lockfile-registry-resolved`.
    Omit,
}

pub struct Placer<'a> {
    pub lock_path: &'a str,
    pub packages: Map<String, Value>,
    pub lookup: &'a dyn Lookup,
    pub resolved: Resolved,
    /// Package names the project overrides: placing one of them natively would ignore the
    /// override, so it is refused.
    pub overridden: BTreeSet<String>,
    /// Locations written by this update.
    pub touched: BTreeSet<String>,
}

/// The version npm would pick for `range` (npm-pick-manifest): a dist-tag by name; else
/// `latest` if it is in range; else the newest non-deprecated version in range; else the newest.
pub fn pick<'r>(list: &'r ReleaseList, range: &str) -> Option<&'r Release> {
    if let Some(tagged) = list.tags.get(range.trim()) {
        return list.release(tagged);
    }
    let npm = crate::versioning::Npm;
    let in_range: Vec<&Release> = list
        .releases
        .iter()
        .filter(|r| npm.satisfies(range, &r.version).unwrap_or(false))
        .collect();
    if let Some(latest) = list.tags.get("latest") {
        if let Some(r) = in_range.iter().find(|r| &r.version == latest && !r.yanked) {
            return Some(r);
        }
    }
    let newest = |pool: Vec<&'r Release>| {
        pool.into_iter().max_by(|a, b| {
            npm.compare(&a.version, &b.version)
                .unwrap_or(std::cmp::Ordering::Equal)
        })
    };
    newest(in_range.iter().copied().filter(|r| !r.yanked).collect()).or_else(|| newest(in_range))
}

/// Lowercase hex → base64, for turning a `shasum` into an SRI `sha1-…`.
fn hex_to_base64(hex: &str) -> Option<String> {
    let bytes: Option<Vec<u8>> = (0..hex.len())
        .step_by(2)
        .map(|i| {
            hex.get(i..i + 2)
                .and_then(|b| u8::from_str_radix(b, 16).ok())
        })
        .collect();
    Some(updatebot_core::http::base64_encode(&bytes?))
}

/// The lock entry npm writes for a registry version (its `metaFromNode`).
pub fn entry_for(
    release: &Release,
    real: &str,
    folder_name: &str,
    resolved: Resolved,
) -> Result<Value, String> {
    let meta = release.metadata.as_deref().ok_or_else(|| {
        format!(
            "the registry gave no metadata for {real}@{}",
            release.version
        )
    })?;
    let mut out = Map::new();
    out.insert("version".into(), Value::String(release.version.clone()));
    let dist = meta.get("dist");
    let tarball = dist.and_then(|d| d.get("tarball")).and_then(Value::as_str);
    if resolved == Resolved::Write {
        if let Some(url) = tarball {
            out.insert("resolved".into(), Value::String(url.to_string()));
        }
    }
    let integrity = dist
        .and_then(|d| d.get("integrity"))
        .and_then(Value::as_str)
        .map(str::to_string)
        .or_else(|| {
            let sha1 = dist.and_then(|d| d.get("shasum")).and_then(Value::as_str)?;
            Some(format!("sha1-{}", hex_to_base64(sha1)?))
        });
    if let Some(integrity) = integrity {
        out.insert("integrity".into(), Value::String(integrity));
    }
    if real != folder_name {
        out.insert("name".into(), Value::String(real.to_string()));
    }
    for key in [
        "dependencies",
        "peerDependencies",
        "peerDependenciesMeta",
        "optionalDependencies",
        "acceptDependencies",
        "funding",
        "engines",
        "os",
        "cpu",
        "license",
        "hasInstallScript",
        "bin",
        "deprecated",
    ] {
        let Some(value) = meta.get(key) else { continue };
        let value = match (key, value) {
            ("license", Value::Object(o)) => match o.get("type") {
                Some(t) => t.clone(),
                None => continue,
            },
            ("bin", Value::String(path)) => {
                let name = real.rsplit('/').next().unwrap_or(real);
                serde_json::json!({ name: path })
            }
            ("engines", v) if !v.is_object() => continue,
            // npm writes funding as `{url}` objects, whatever the package says.
            ("funding", Value::String(url)) => serde_json::json!({ "url": url }),
            ("funding", Value::Array(items)) => Value::Array(
                items
                    .iter()
                    .map(|i| match i {
                        Value::String(url) => serde_json::json!({ "url": url }),
                        other => other.clone(),
                    })
                    .collect(),
            ),
            _ => value.clone(),
        };
        let empty = match &value {
            Value::Object(o) => o.is_empty(),
            Value::Array(a) => a.is_empty(),
            Value::Bool(b) => !b,
            Value::String(s) => s.is_empty(),
            Value::Null => true,
            Value::Number(_) => false,
        };
        if !empty {
            out.insert(key.into(), value);
        }
    }
    if let Some(shrinkwrap) = meta
        .get("_hasShrinkwrap")
        .and_then(Value::as_bool)
        .filter(|b| *b)
    {
        out.insert("hasShrinkwrap".into(), Value::Bool(shrinkwrap));
    }
    let bundled = meta
        .get("bundleDependencies")
        .or_else(|| meta.get("bundledDependencies"))
        .is_some_and(|b| b.as_array().is_some_and(|a| !a.is_empty()) || b.as_bool() == Some(true));
    if bundled {
        return Err(format!(
            "{real}@{} bundles its dependencies",
            release.version
        ));
    }
    Ok(nice(Value::Object(out)))
}

impl Placer<'_> {
    fn fail(&self, reason: impl Into<String>) -> LockError {
        failed(self.lock_path, reason)
    }

    fn needs_npm(&self, reason: impl Into<String>) -> LockError {
        LockError::NeedsTool {
            lockfile: self.lock_path.to_string(),
            tool: "npm".into(),
            reason: reason.into(),
        }
    }

    /// Who depends on the package at `location`, and with what edge.
    pub fn dependents_of(&self, location: &str) -> Vec<(String, Edge)> {
        self.dependents(location)
    }

    fn dependents(&self, location: &str) -> Vec<(String, Edge)> {
        reachable(&self.packages)
            .into_iter()
            .filter(|(_, _, target)| target.as_deref() == Some(location))
            .map(|(from, edge, _)| (from, edge))
            .collect()
    }

    async fn releases(&self, package: &str) -> Result<Arc<ReleaseList>, LockError> {
        self.lookup
            .releases(package)
            .await
            .map_err(|e| self.fail(format!("cannot look up `{package}`: {e}")))
    }

    /// Write the entry for `release` at `location` (a copy of the subtree under it is the
    /// caller's business).
    pub fn put(&mut self, location: &str, real: &str, release: &Release) -> Result<(), LockError> {
        if self.overridden.contains(real) {
            return Err(self.needs_npm(format!("`{real}` is overridden in package.json")));
        }
        let entry = entry_for(release, real, name_at(location), self.resolved)
            .map_err(|r| self.needs_npm(r))?;
        insert_sorted(&mut self.packages, location.to_string(), entry);
        self.touched.insert(location.to_string());
        Ok(())
    }

    /// Move the entry at `from` and everything nested under it to `to`.
    fn move_subtree(&mut self, from: &str, to: &str) {
        let prefix = format!("{from}/");
        let moving: Vec<String> = self
            .packages
            .keys()
            .filter(|k| *k == from || k.starts_with(&prefix))
            .cloned()
            .collect();
        for old in moving {
            let new = format!("{to}{}", &old[from.len()..]);
            if let Some(entry) = self.packages.get(&old).cloned() {
                insert_sorted(&mut self.packages, new.clone(), entry);
                self.touched.insert(new);
            }
        }
    }

    /// Update the dependency `edge` of the top-level package folder `declarer` to `release`.
    pub async fn update_direct(
        &mut self,
        declarer: &str,
        edge: &Edge,
        release: &Release,
    ) -> Result<(), LockError> {
        let (real, _) = registry_range(&edge.name, &edge.spec)
            .ok_or_else(|| self.fail(format!("`{}` is not a registry dependency", edge.name)))?;
        let real = real.to_string();
        let existing = resolve(&self.packages, declarer, &edge.name);
        let mut copies = Vec::new();
        let target = match &existing {
            Some(x) => {
                if self.packages[x].get("link").and_then(Value::as_bool) == Some(true) {
                    return Err(self.fail(format!("`{}` is a link in the lockfile", edge.name)));
                }
                let version_ok = |spec: &Edge| {
                    registry_range(&spec.name, &spec.spec).is_some_and(|(_, range)| {
                        crate::versioning::Npm
                            .satisfies(range, &release.version)
                            .unwrap_or(false)
                    })
                };
                let others: Vec<(String, Edge)> = self
                    .dependents(x)
                    .into_iter()
                    .filter(|(from, _)| folder(&self.packages, from) != declarer)
                    .collect();
                let conflicting: Vec<(String, Edge)> = others
                    .into_iter()
                    .filter(|(_, e)| {
                        !e.kind.optional
                            && registry_range(&e.name, &e.spec).is_some()
                            && !version_ok(e)
                    })
                    .collect();
                let ours = declarer.is_empty() || x.starts_with(&format!("{declarer}/"));
                if conflicting.is_empty() {
                    x.clone()
                } else if ours {
                    // The declarer keeps its spot: the others get nested copies of the old one.
                    for (from, _) in &conflicting {
                        let from_folder = folder(&self.packages, from).to_string();
                        if from_folder.is_empty() {
                            return Err(self.needs_npm(format!(
                                "the root itself needs another `{}`",
                                edge.name
                            )));
                        }
                        let copy = child_location(&from_folder, &edge.name);
                        if !self.packages.contains_key(&copy) {
                            self.move_subtree(x, &copy);
                            copies.push(copy);
                        }
                    }
                    x.clone()
                } else {
                    // A workspace wants a version others cannot take: nest it in the workspace.
                    child_location(declarer, &edge.name)
                }
            }
            None => {
                let top = child_location("", &edge.name);
                if self.packages.contains_key(&top) {
                    child_location(declarer, &edge.name)
                } else {
                    top
                }
            }
        };
        // Whatever was nested under the old version is re-decided for the new one.
        self.put(&target, &real, release)?;
        copies.push(target);
        self.settle(copies).await
    }

    /// Make every dependency of the packages at `start` (and of what gets placed on the way)
    /// resolve to a version in range.
    pub async fn settle(&mut self, start: Vec<String>) -> Result<(), LockError> {
        let mut queue = start;
        let mut done = BTreeSet::new();
        while let Some(location) = queue.pop() {
            if !done.insert(location.clone()) {
                continue;
            }
            let from = folder(&self.packages, &location).to_string();
            let here = edges(&self.packages, &location);
            // The packuments this location will need, asked for at once (the run's lookup
            // cache keeps them): the placement below stays sequential and deterministic.
            let wanted: BTreeSet<String> = here
                .iter()
                .filter(|e| !e.kind.dev)
                .filter(|e| {
                    // Only what the loop below will look up: edges not met in the tree (an
                    // absent optional peer stays absent).
                    match resolve(&self.packages, &from, &e.name) {
                        Some(r) => satisfies(&self.packages, &r, e) == Some(false),
                        None => !(e.kind.peer && e.kind.optional),
                    }
                })
                .filter_map(|e| registry_range(&e.name, &e.spec).map(|(real, _)| real.to_string()))
                .collect();
            if wanted.len() > 1 {
                futures::future::join_all(wanted.iter().map(|n| self.lookup.releases(n))).await;
            }
            for edge in here {
                if edge.kind.dev {
                    continue;
                }
                let Some((real, range)) = registry_range(&edge.name, &edge.spec) else {
                    continue;
                };
                let (real, range) = (real.to_string(), range.to_string());
                let found = resolve(&self.packages, &from, &edge.name);
                if let Some(r) = &found {
                    if satisfies(&self.packages, r, &edge) != Some(false) {
                        continue;
                    }
                }
                // An optional peer that is absent stays absent.
                if edge.kind.peer && edge.kind.optional && found.is_none() {
                    continue;
                }
                let list = match self.releases(&real).await {
                    Ok(list) => list,
                    Err(_) if edge.kind.optional => continue,
                    Err(e) => return Err(e),
                };
                let Some(release) = pick(&list, &range).cloned() else {
                    if edge.kind.optional {
                        continue;
                    }
                    return Err(self.fail(format!(
                        "no version of `{real}` matches `{range}` (needed by {location})"
                    )));
                };
                let target = if edge.kind.peer {
                    // Peers go beside their dependent, where its parent sees them too.
                    match found {
                        Some(_) => {
                            return Err(self.needs_npm(format!(
                                "peer dependency conflict: {location} needs {} {range}",
                                edge.name
                            )))
                        }
                        None => child_location(parent_folder(&from).unwrap_or(""), &edge.name),
                    }
                } else {
                    match &found {
                        None => child_location("", &edge.name),
                        Some(r) if *r == child_location(&from, &edge.name) => r.clone(),
                        Some(r) => {
                            // Replace the visible one if everyone using it accepts the new version.
                            let users = self.dependents(r);
                            let all_accept = users.iter().all(|(_, e)| {
                                registry_range(&e.name, &e.spec).is_none_or(|(_, rr)| {
                                    crate::versioning::Npm
                                        .satisfies(rr, &release.version)
                                        .unwrap_or(false)
                                })
                            });
                            if all_accept {
                                r.clone()
                            } else {
                                child_location(&from, &edge.name)
                            }
                        }
                    }
                };
                self.put(&target, &real, &release)?;
                queue.push(target);
            }
        }
        Ok(())
    }

    /// Remove what nothing reaches any more (the root, workspaces and links stay).
    pub fn prune(&mut self) -> Vec<String> {
        let mut keep: BTreeSet<String> = BTreeSet::new();
        keep.insert(String::new());
        for (from, _, target) in reachable(&self.packages) {
            keep.insert(from);
            if let Some(t) = target {
                keep.insert(t);
            }
        }
        let mut removed = Vec::new();
        let locations: Vec<String> = self.packages.keys().cloned().collect();
        for location in locations {
            if keep.contains(&location) || super::tree::is_top(&location) {
                continue;
            }
            self.packages.remove(&location);
            removed.push(location);
        }
        removed
    }
}

/// For tests and reports: versions per location.
pub fn versions(packages: &Map<String, Value>) -> BTreeMap<String, String> {
    packages
        .iter()
        .filter_map(|(k, v)| {
            v.get("version")
                .and_then(Value::as_str)
                .map(|s| (k.clone(), s.to_string()))
        })
        .collect()
}

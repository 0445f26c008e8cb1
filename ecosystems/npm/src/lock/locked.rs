//! The versions a project's npm, pnpm or yarn lockfile has installed, so ranges that already
//! admit a newer version get a lockfile-only update.

use super::tree::resolve;
use serde_json::Value;
use std::collections::BTreeMap;
use updatebot_core::PackageFile;

fn dir_of(path: &str) -> &str {
    path.rsplit_once('/').map(|(d, _)| d).unwrap_or("")
}

/// The spec of `dep` as its manifest writes it (`^1.2.3`, `npm:real@^1.2.3`).
fn spec_of(dep: &updatebot_core::Dependency) -> String {
    if dep.package_name != dep.name {
        format!("npm:{}@{}", dep.package_name, dep.current_value)
    } else {
        dep.current_value.clone()
    }
}

/// Whether the lock records this kind of dependency as the project's own.
fn locked_kind(dep_type: &str) -> bool {
    matches!(
        dep_type,
        "dependencies" | "devDependencies" | "optionalDependencies"
    )
}

/// Set `locked_version` on the dependencies of the manifest at `manifest_path` from the
/// nearest lockfile in `files`: `npm-shrinkwrap.json` / `package-lock.json` (v1–v3),
/// `pnpm-lock.yaml` (5.x, 6.0, 9.0) or `yarn.lock` (yarn 1 and 2+).
pub fn annotate(manifest_path: &str, file: &mut PackageFile, files: &BTreeMap<String, String>) {
    let names: Vec<String> = files.keys().cloned().collect();
    let Some(lock_path) = super::update::nearest_lock(manifest_path, &names) else {
        return;
    };
    let Some(text) = files.get(&lock_path) else {
        return;
    };
    let lock_dir = dir_of(&lock_path);
    let manifest_dir = dir_of(manifest_path);
    let declarer = if lock_dir.is_empty() {
        manifest_dir
    } else {
        manifest_dir
            .strip_prefix(lock_dir)
            .map(|r| r.trim_start_matches('/'))
            .unwrap_or(manifest_dir)
    };
    let lock_name = lock_path.rsplit('/').next().unwrap_or("");
    // npm's lock answers for every edge of the declaring package (overrides and peers too).
    let any_kind = matches!(lock_name, "npm-shrinkwrap.json" | "package-lock.json");
    let versions: Vec<Option<String>> = match lock_name {
        "pnpm-lock.yaml" => {
            let Ok(lock) = super::pnpm::parse(text) else {
                return;
            };
            let importer = super::pnpm::importer_key(declarer);
            file.dependencies
                .iter()
                .map(|dep| lock.version_of(&importer, &dep.name, &dep.package_name))
                .collect()
        }
        "yarn.lock" => {
            let Ok(lock) = super::yarn::parse(text) else {
                return;
            };
            file.dependencies
                .iter()
                .map(|dep| {
                    lock.version_of(&lock.descriptor(&dep.name, &spec_of(dep)))
                        .filter(|v| nodejs_semver::Version::parse(v).is_ok())
                        .map(str::to_string)
                })
                .collect()
        }
        "npm-shrinkwrap.json" | "package-lock.json" => npm_versions(text, declarer, file),
        _ => return,
    };
    for (dep, version) in file.dependencies.iter_mut().zip(versions) {
        if dep.skip_reason.is_none() && (any_kind || locked_kind(&dep.dep_type)) {
            if let Some(v) = version {
                dep.locked_version = Some(v);
            }
        }
    }
}

/// Locked versions from a `package-lock.json`: v2/v3 through `packages` as npm resolves
/// them from the declaring folder; v1 (root project only) from `dependencies`.
fn npm_versions(text: &str, declarer: &str, file: &PackageFile) -> Vec<Option<String>> {
    let none = vec![None; file.dependencies.len()];
    // An unreadable lock is the updater's problem, reported when an update needs it.
    let Ok(doc) = serde_json::from_str::<Value>(text) else {
        return none;
    };
    let Some(packages) = doc.get("packages").and_then(Value::as_object) else {
        if !declarer.is_empty() {
            return none;
        }
        let Some(deps) = doc.get("dependencies").and_then(Value::as_object) else {
            return none;
        };
        return file
            .dependencies
            .iter()
            .map(|dep| {
                let version = deps.get(&dep.name)?.get("version")?.as_str()?;
                let version = match version.strip_prefix("npm:") {
                    Some(alias) => alias
                        .strip_prefix(dep.package_name.as_str())?
                        .strip_prefix('@')?,
                    None if dep.package_name == dep.name => version,
                    None => return None,
                };
                nodejs_semver::Version::parse(version).ok()?;
                Some(version.to_string())
            })
            .collect();
    };
    if !packages.contains_key(declarer) {
        return none;
    }
    file.dependencies
        .iter()
        .map(|dep| {
            let location = resolve(packages, declarer, &dep.name)?;
            let entry = &packages[&location];
            let real = entry
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or(&dep.name);
            if real != dep.package_name {
                return None;
            }
            entry
                .get("version")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .collect()
}

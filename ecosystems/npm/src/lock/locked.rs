//! The versions a project's npm lockfile has installed, so ranges that already admit a newer
//! version get a lockfile-only update.

use super::tree::resolve;
use serde_json::Value;
use std::collections::BTreeMap;
use updatebot_core::PackageFile;

fn dir_of(path: &str) -> &str {
    path.rsplit_once('/').map(|(d, _)| d).unwrap_or("")
}

/// Set `locked_version` on the dependencies of the manifest at `manifest_path` from the
/// nearest `npm-shrinkwrap.json` or `package-lock.json` (v2/v3) in `files`.
pub fn annotate(manifest_path: &str, file: &mut PackageFile, files: &BTreeMap<String, String>) {
    let manifest_dir = dir_of(manifest_path);
    let mut dir = Some(manifest_dir);
    let lock = loop {
        let Some(d) = dir else { return };
        let found = ["npm-shrinkwrap.json", "package-lock.json"]
            .iter()
            .find_map(|name| {
                let path = if d.is_empty() {
                    name.to_string()
                } else {
                    format!("{d}/{name}")
                };
                files.get(&path).map(|text| (d, text))
            });
        if let Some(found) = found {
            break found;
        }
        dir = if d.is_empty() { None } else { Some(dir_of(d)) };
    };
    let (lock_dir, text) = lock;
    // An unreadable lock is the updater's problem, reported when an update needs it.
    let Ok(doc) = serde_json::from_str::<Value>(text) else {
        return;
    };
    let Some(packages) = doc.get("packages").and_then(Value::as_object) else {
        return;
    };
    let declarer = manifest_dir
        .strip_prefix(lock_dir)
        .map(|r| r.trim_start_matches('/'))
        .unwrap_or(manifest_dir);
    if !packages.contains_key(declarer) {
        return;
    }
    for dep in &mut file.dependencies {
        if dep.skip_reason.is_some() {
            continue;
        }
        let Some(location) = resolve(packages, declarer, &dep.name) else {
            continue;
        };
        let entry = &packages[&location];
        let real = entry
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or(&dep.name);
        if real == dep.package_name {
            dep.locked_version = entry
                .get("version")
                .and_then(Value::as_str)
                .map(str::to_string);
        }
    }
}

//! What a `package-lock.json` says about its packages for advisories: every installed
//! package (transitive ones too), who depends on a package and with what range, and what a
//! registry release of a package asks for another.

use super::doc::LockDoc;
use super::tree::{folder, is_top, name_at, reachable, registry_range};
use serde_json::{Map, Value};
use std::collections::BTreeSet;
use updatebot_core::registry::Release;
use updatebot_core::{Dependent, LockError, LockedPackage, Requirement};

/// The registry name of the package at `location`.
pub fn real_name<'a>(packages: &'a Map<String, Value>, location: &'a str) -> &'a str {
    packages
        .get(location)
        .and_then(|e| e.get("name"))
        .and_then(Value::as_str)
        .filter(|_| location.contains("node_modules/"))
        .unwrap_or_else(|| name_at(location))
}

fn packages_of(path: &str, text: &str) -> Result<Map<String, Value>, LockError> {
    let doc = LockDoc::parse(path, text)?;
    if doc.version < 2 {
        return Err(super::doc::failed(
            path,
            format!(
                "lockfileVersion {} lists no `packages` (only npm itself reads it)",
                doc.version
            ),
        ));
    }
    doc.packages()
        .cloned()
        .ok_or_else(|| super::doc::failed(path, "no `packages` section"))
}

/// Every registry package the lock installs (links and the project's own folders left out),
/// each (name, version) once; development-only when every copy is.
pub fn locked_packages(path: &str, text: &str) -> Result<Vec<LockedPackage>, LockError> {
    let packages = packages_of(path, text)?;
    let mut out: Vec<LockedPackage> = Vec::new();
    for (location, entry) in &packages {
        if is_top(location) || entry.get("link").and_then(Value::as_bool) == Some(true) {
            continue;
        }
        let Some(version) = entry.get("version").and_then(Value::as_str) else {
            continue;
        };
        let name = real_name(&packages, location).to_string();
        let development = entry.get("dev").and_then(Value::as_bool) == Some(true);
        match out
            .iter_mut()
            .find(|p| p.name == name && p.version == version)
        {
            Some(p) => p.development &= development,
            None => out.push(LockedPackage {
                name,
                version: version.to_string(),
                development,
            }),
        }
    }
    out.sort();
    Ok(out)
}

/// Who depends on `package` at `version`, with the range each asks for. The project's own
/// folders (root, workspaces) are dependents with `project` set.
pub fn dependents(
    path: &str,
    text: &str,
    package: &str,
    version: &str,
) -> Result<Vec<Dependent>, LockError> {
    let packages = packages_of(path, text)?;
    let mut out: Vec<Dependent> = Vec::new();
    let mut seen = BTreeSet::new();
    for (from, edge, target) in reachable(&packages) {
        let Some(target) = target else { continue };
        let Some(entry) = packages.get(&target) else {
            continue;
        };
        if real_name(&packages, &target) != package
            || entry.get("version").and_then(Value::as_str) != Some(version)
        {
            continue;
        }
        let Some((_, range)) = registry_range(&edge.name, &edge.spec) else {
            continue;
        };
        let from_folder = folder(&packages, &from);
        let project = is_top(from_folder);
        let (name, from_version) = if project {
            let manifest = if from_folder.is_empty() {
                "package.json".to_string()
            } else {
                format!("{from_folder}/package.json")
            };
            (manifest, String::new())
        } else {
            (
                real_name(&packages, from_folder).to_string(),
                packages
                    .get(from_folder)
                    .and_then(|e| e.get("version"))
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
            )
        };
        if seen.insert((name.clone(), from_version.clone(), range.to_string())) {
            out.push(Dependent {
                name,
                version: from_version,
                range: Some(range.to_string()),
                scheme: crate::versioning::SCHEME,
                project,
            });
        }
    }
    Ok(out)
}

/// What `release` (from the registry's packument) asks for `package`.
pub fn requirement(release: &Release, package: &str) -> Requirement {
    let Some(meta) = release.metadata.as_deref() else {
        return Requirement::Unknown(format!(
            "the registry gave no dependencies for {}",
            release.version
        ));
    };
    for key in ["dependencies", "optionalDependencies", "peerDependencies"] {
        let Some(deps) = meta.get(key).and_then(Value::as_object) else {
            continue;
        };
        for (name, spec) in deps {
            let Some(spec) = spec.as_str() else { continue };
            if let Some((real, range)) = registry_range(name, spec) {
                if real == package {
                    return Requirement::Range {
                        range: range.to_string(),
                        scheme: crate::versioning::SCHEME,
                    };
                }
            }
        }
    }
    Requirement::Absent
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    const LOCK: &str = r#"{
  "name": "demo",
  "lockfileVersion": 3,
  "packages": {
    "": {"name": "demo", "dependencies": {"debug": "^4.3.4", "ms": "2.0.0"}, "devDependencies": {"x": "npm:left-pad@^1.2.0"}},
    "node_modules/debug": {"version": "4.3.4", "dependencies": {"ms": "2.1.2"}},
    "node_modules/debug/node_modules/ms": {"version": "2.1.2"},
    "node_modules/ms": {"version": "2.0.0"},
    "node_modules/x": {"name": "left-pad", "version": "1.2.0", "dev": true}
  }
}"#;

    #[test]
    fn every_installed_package_and_its_dependents() {
        let all = locked_packages("package-lock.json", LOCK).unwrap();
        let names: Vec<(String, String, bool)> = all
            .into_iter()
            .map(|p| (p.name, p.version, p.development))
            .collect();
        assert_eq!(
            names,
            [
                ("debug".into(), "4.3.4".into(), false),
                ("left-pad".into(), "1.2.0".into(), true),
                ("ms".into(), "2.0.0".into(), false),
                ("ms".into(), "2.1.2".into(), false),
            ]
        );
        let ms = dependents("package-lock.json", LOCK, "ms", "2.1.2").unwrap();
        assert_eq!(ms.len(), 1);
        assert_eq!(
            (ms[0].name.as_str(), ms[0].version.as_str()),
            ("debug", "4.3.4")
        );
        assert_eq!(ms[0].range.as_deref(), Some("2.1.2"));
        assert!(!ms[0].project);
        let root = dependents("package-lock.json", LOCK, "ms", "2.0.0").unwrap();
        assert!(root[0].project);
        assert_eq!(root[0].name, "package.json");
        let aliased = dependents("package-lock.json", LOCK, "left-pad", "1.2.0").unwrap();
        assert_eq!(aliased[0].range.as_deref(), Some("^1.2.0"));
        assert!(locked_packages("package-lock.json", r#"{"lockfileVersion":1}"#).is_err());
    }

    #[test]
    fn what_a_release_asks_for() {
        let mut r = Release::new("4.3.7");
        r.metadata = Some(Arc::new(
            serde_json::json!({"dependencies": {"ms": "^2.1.3", "y": "npm:z@1"}}),
        ));
        assert_eq!(
            requirement(&r, "ms"),
            Requirement::Range {
                range: "^2.1.3".into(),
                scheme: "npm"
            }
        );
        assert!(matches!(requirement(&r, "z"), Requirement::Range { .. }));
        assert_eq!(requirement(&r, "other"), Requirement::Absent);
        assert!(matches!(
            requirement(&Release::new("1"), "ms"),
            Requirement::Unknown(_)
        ));
    }
}

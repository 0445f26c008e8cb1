//! What Python lockfiles say about their packages for advisories: every locked package
//! (transitive ones too), who depends on a package, and what a release asks for another
//! (its wheel's `Requires-Dist`, read without installing or building anything).
//!
//! `poetry.lock` records each package's dependencies with their constraints; `uv.lock`
//! records only their names (the constraints come from the dependents' metadata);
//! `Pipfile.lock` records no graph at all.

use super::metadata::MetadataCache;
use crate::requirement::{normalize_name, parse_requirement};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use toml_edit::{DocumentMut, Item, Table};
use updatebot_core::registry::Release;
use updatebot_core::{Dependent, LockError, LockedPackage, Lookup, Requirement};

fn failed(path: &str, reason: impl Into<String>) -> LockError {
    super::failed(path, reason)
}

fn toml(path: &str, text: &str) -> Result<DocumentMut, LockError> {
    text.parse()
        .map_err(|e| failed(path, format!("not valid TOML: {e}")))
}

fn packages(doc: &DocumentMut) -> Vec<&Table> {
    doc.get("package")
        .and_then(Item::as_array_of_tables)
        .map(|a| a.iter().collect())
        .unwrap_or_default()
}

fn str_of<'a>(table: &'a Table, key: &str) -> Option<&'a str> {
    table.get(key).and_then(|v| v.as_str())
}

/// Every `[[package]]` of a `poetry.lock`; development-only when it is locked for
/// non-`main` groups only (Poetry 2: `groups`; Poetry 1: `category = "dev"`).
pub fn poetry_packages(path: &str, text: &str) -> Result<Vec<LockedPackage>, LockError> {
    let doc = toml(path, text)?;
    let mut out = Vec::new();
    for p in packages(&doc) {
        let (Some(name), Some(version)) = (str_of(p, "name"), str_of(p, "version")) else {
            return Err(failed(path, "a [[package]] without name or version"));
        };
        let groups: Vec<&str> = p
            .get("groups")
            .and_then(|g| g.as_array())
            .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
            .unwrap_or_default();
        let development = if groups.is_empty() {
            str_of(p, "category") == Some("dev")
        } else {
            !groups.contains(&"main")
        };
        out.push(LockedPackage {
            name: normalize_name(name),
            version: version.to_string(),
            development,
        });
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// The `poetry.lock` packages that depend on `package` (one entry per constraint).
pub fn poetry_dependents(
    path: &str,
    text: &str,
    package: &str,
) -> Result<Vec<Dependent>, LockError> {
    let doc = toml(path, text)?;
    let wanted = normalize_name(package);
    let mut out = Vec::new();
    for p in packages(&doc) {
        let Some(deps) = p.get("dependencies").and_then(Item::as_table_like) else {
            continue;
        };
        for (name, value) in deps.iter() {
            if normalize_name(name) != wanted {
                continue;
            }
            let mut ranges: Vec<String> = Vec::new();
            let version_of = |v: &toml_edit::Value| -> Option<String> {
                match v {
                    toml_edit::Value::String(s) => Some(s.value().clone()),
                    toml_edit::Value::InlineTable(t) => t
                        .get("version")
                        .and_then(|v| v.as_str())
                        .map(str::to_string),
                    _ => None,
                }
            };
            match value.as_value() {
                Some(toml_edit::Value::Array(items)) => {
                    ranges.extend(items.iter().filter_map(version_of))
                }
                Some(v) => ranges.extend(version_of(v)),
                None => {}
            }
            if ranges.is_empty() {
                ranges.push("*".to_string());
            }
            for range in ranges {
                out.push(Dependent {
                    name: normalize_name(str_of(p, "name").unwrap_or_default()),
                    version: str_of(p, "version").unwrap_or_default().to_string(),
                    range: Some(range),
                    scheme: crate::poetry::SCHEME,
                    project: false,
                });
            }
        }
    }
    Ok(out)
}

/// The project's own `[[package]]` entries of a `uv.lock` (editable, virtual or path source).
fn uv_is_project(p: &Table) -> bool {
    p.get("source")
        .and_then(|s| s.as_inline_table())
        .is_some_and(|s| {
            ["editable", "virtual"].iter().any(|k| s.contains_key(k))
                || s.get("path").and_then(|v| v.as_str()) == Some(".")
        })
}

/// The dependency names of a `uv.lock` package: (name, development).
fn uv_edges(p: &Table) -> Vec<(String, bool)> {
    let names = |item: Option<&Item>| -> Vec<String> {
        item.and_then(|i| i.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|d| d.as_inline_table())
                    .filter_map(|d| d.get("name").and_then(|n| n.as_str()))
                    .map(normalize_name)
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut out: Vec<(String, bool)> = names(p.get("dependencies"))
        .into_iter()
        .map(|n| (n, false))
        .collect();
    let grouped = |key: &str| -> Vec<String> {
        p.get(key)
            .and_then(Item::as_table_like)
            .map(|t| t.iter().flat_map(|(_, v)| names(Some(v))).collect())
            .unwrap_or_default()
    };
    out.extend(
        grouped("optional-dependencies")
            .into_iter()
            .map(|n| (n, false)),
    );
    out.extend(grouped("dev-dependencies").into_iter().map(|n| (n, true)));
    out
}

/// Every registry package of a `uv.lock`; development-only when only the project's
/// development groups reach it.
pub fn uv_packages(path: &str, text: &str) -> Result<Vec<LockedPackage>, LockError> {
    let doc = toml(path, text)?;
    let all = packages(&doc);
    let by_name: BTreeMap<String, &Table> = all
        .iter()
        .filter_map(|p| Some((normalize_name(str_of(p, "name")?), *p)))
        .collect();
    // Reached from the project without going through a development group.
    let mut production: BTreeSet<String> = BTreeSet::new();
    let mut queue: Vec<String> = all
        .iter()
        .filter(|p| uv_is_project(p))
        .flat_map(|p| {
            uv_edges(p)
                .into_iter()
                .filter(|(_, dev)| !dev)
                .map(|(n, _)| n)
        })
        .collect();
    while let Some(name) = queue.pop() {
        if !production.insert(name.clone()) {
            continue;
        }
        if let Some(p) = by_name.get(&name) {
            queue.extend(uv_edges(p).into_iter().map(|(n, _)| n));
        }
    }
    let mut out = Vec::new();
    for p in &all {
        if uv_is_project(p) {
            continue;
        }
        let Some(name) = str_of(p, "name") else {
            return Err(failed(path, "a [[package]] without a name"));
        };
        let Some(version) = str_of(p, "version") else {
            continue;
        };
        let name = normalize_name(name);
        out.push(LockedPackage {
            development: !production.contains(&name),
            name,
            version: version.to_string(),
        });
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// The `uv.lock` packages that depend on `package`. The project's own entries carry their
/// `requires-dist` specifier; the others only a name (ask [`requirement`]).
pub fn uv_dependents(path: &str, text: &str, package: &str) -> Result<Vec<Dependent>, LockError> {
    let doc = toml(path, text)?;
    let wanted = normalize_name(package);
    let mut out = Vec::new();
    for p in packages(&doc) {
        if !uv_edges(p).iter().any(|(n, _)| *n == wanted) {
            continue;
        }
        let name = normalize_name(str_of(p, "name").unwrap_or_default());
        let version = str_of(p, "version").unwrap_or_default().to_string();
        if uv_is_project(p) {
            let specifiers: Vec<String> = p
                .get("metadata")
                .and_then(Item::as_table_like)
                .and_then(|m| m.get("requires-dist"))
                .and_then(|r| r.as_array())
                .map(|a| {
                    a.iter()
                        .filter_map(|d| d.as_inline_table())
                        .filter(|d| {
                            d.get("name").and_then(|n| n.as_str()).map(normalize_name)
                                == Some(wanted.clone())
                        })
                        .map(|d| {
                            d.get("specifier")
                                .and_then(|s| s.as_str())
                                .unwrap_or("")
                                .to_string()
                        })
                        .collect()
                })
                .unwrap_or_default();
            out.push(Dependent {
                name,
                version,
                range: Some(specifiers.join(",")),
                scheme: crate::pep440::SCHEME,
                project: true,
            });
        } else {
            out.push(Dependent {
                name,
                version,
                range: None,
                scheme: crate::pep440::SCHEME,
                project: false,
            });
        }
    }
    Ok(out)
}

/// Every package of a `Pipfile.lock` (`default` and `develop`).
pub fn pipfile_packages(path: &str, text: &str) -> Result<Vec<LockedPackage>, LockError> {
    let doc: Value =
        serde_json::from_str(text).map_err(|e| failed(path, format!("not valid JSON: {e}")))?;
    let mut out: BTreeMap<(String, String), bool> = BTreeMap::new();
    for (section, development) in [("default", false), ("develop", true)] {
        let Some(entries) = doc.get(section).and_then(Value::as_object) else {
            continue;
        };
        for (name, entry) in entries {
            let Some(version) = entry
                .get("version")
                .and_then(Value::as_str)
                .and_then(|v| v.strip_prefix("=="))
            else {
                continue;
            };
            let dev = out
                .entry((normalize_name(name), version.trim().to_string()))
                .or_insert(development);
            *dev &= development;
        }
    }
    Ok(out
        .into_iter()
        .map(|((name, version), development)| LockedPackage {
            name,
            version,
            development,
        })
        .collect())
}

/// What `release` of `parent` asks for `package`: its wheel's `Requires-Dist` lines for
/// that name (lines behind an `extra` marker only when there are no others), joined.
pub async fn requirement(
    cache: &MetadataCache,
    parent: &str,
    release: &Release,
    package: &str,
    lookup: &dyn Lookup,
) -> Requirement {
    let Some(http) = lookup.http() else {
        return Requirement::Unknown("no HTTP client to read release metadata".into());
    };
    let meta = match cache.get(&http, parent, release).await {
        Ok(m) => m,
        Err(why) => return Requirement::Unknown(why),
    };
    let wanted = normalize_name(package);
    let mut plain: Vec<String> = Vec::new();
    let mut extra: Vec<String> = Vec::new();
    for line in &meta.requires_dist {
        let Ok(req) = parse_requirement(line) else {
            continue;
        };
        if normalize_name(&req.name) != wanted {
            continue;
        }
        let spec = req.specifier.map(|(s, _, _)| s).unwrap_or_default();
        if req.marker.as_deref().is_some_and(|m| m.contains("extra")) {
            extra.push(spec);
        } else {
            plain.push(spec);
        }
    }
    let chosen = if plain.is_empty() { extra } else { plain };
    if chosen.is_empty() {
        return Requirement::Absent;
    }
    let range: Vec<String> = chosen.into_iter().filter(|s| !s.is_empty()).collect();
    Requirement::Range {
        range: range.join(","),
        scheme: crate::pep440::SCHEME,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POETRY: &str = r#"
[[package]]
name = "requests"
version = "2.31.0"
groups = ["main"]

[package.dependencies]
certifi = ">=2017.4.17"
urllib3 = ">=1.21.1,<3"

[[package]]
name = "urllib3"
version = "1.26.5"
groups = ["main"]

[[package]]
name = "Pytest"
version = "7.0"
category = "dev"

[package.dependencies]
colorama = {version = "*", markers = "sys_platform == \"win32\""}
"#;

    #[test]
    fn poetry_locks_list_packages_and_constraints() {
        let all = poetry_packages("poetry.lock", POETRY).unwrap();
        assert_eq!(all.len(), 3);
        assert!(all.iter().any(|p| p.name == "pytest" && p.development));
        assert!(all.iter().any(|p| p.name == "urllib3" && !p.development));
        let deps = poetry_dependents("poetry.lock", POETRY, "URLLIB3").unwrap();
        assert_eq!(deps.len(), 1);
        assert_eq!(deps[0].name, "requests");
        assert_eq!(deps[0].range.as_deref(), Some(">=1.21.1,<3"));
        let colorama = poetry_dependents("poetry.lock", POETRY, "colorama").unwrap();
        assert_eq!(colorama[0].range.as_deref(), Some("*"));
        assert!(poetry_packages("poetry.lock", "[[package]\n").is_err());
    }

    const UV: &str = r#"
version = 1

[[package]]
name = "demo"
version = "0.1.0"
source = { virtual = "." }
dependencies = [
    { name = "requests" },
]

[package.dev-dependencies]
dev = [
    { name = "six" },
]

[package.metadata]
requires-dist = [{ name = "requests", specifier = "==2.31.0" }]

[[package]]
name = "requests"
version = "2.31.0"
source = { registry = "https://pypi.org/simple" }
dependencies = [
    { name = "urllib3" },
]

[[package]]
name = "six"
version = "1.16.0"
source = { registry = "https://pypi.org/simple" }

[[package]]
name = "urllib3"
version = "1.26.5"
source = { registry = "https://pypi.org/simple" }
"#;

    #[test]
    fn uv_locks_list_packages_and_dependents() {
        let all = uv_packages("uv.lock", UV).unwrap();
        let names: Vec<(&str, bool)> = all
            .iter()
            .map(|p| (p.name.as_str(), p.development))
            .collect();
        assert_eq!(
            names,
            [("requests", false), ("six", true), ("urllib3", false)]
        );
        let deps = uv_dependents("uv.lock", UV, "urllib3").unwrap();
        assert_eq!(deps.len(), 1);
        assert_eq!(
            (deps[0].name.as_str(), deps[0].range.as_deref()),
            ("requests", None)
        );
        let root = uv_dependents("uv.lock", UV, "requests").unwrap();
        assert!(root[0].project);
        assert_eq!(root[0].range.as_deref(), Some("==2.31.0"));
    }

    #[test]
    fn pipfile_locks_list_both_sections() {
        let text = r#"{"_meta": {}, "default": {"six": {"version": "==1.16.0"}, "git": {"git": "x"}}, "develop": {"six": {"version": "==1.16.0"}, "Py_Test": {"version": "==7.0"}}}"#;
        let all = pipfile_packages("Pipfile.lock", text).unwrap();
        assert_eq!(all.len(), 2);
        assert!(all.iter().any(|p| p.name == "py-test" && p.development));
        assert!(all.iter().any(|p| p.name == "six" && !p.development));
    }
}

//! The dependency graph a `packages` map describes: where each dependency of a package
//! resolves (node's lookup through `node_modules` folders), and what each edge asks for.

use serde_json::{Map, Value};

/// What kind of dependency an edge is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kind {
    pub dev: bool,
    pub optional: bool,
    pub peer: bool,
}

impl Kind {
    pub const PROD: Kind = Kind {
        dev: false,
        optional: false,
        peer: false,
    };
}

/// A dependency of a package: its name (the folder name under `node_modules`) and spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edge {
    pub name: String,
    pub spec: String,
    pub kind: Kind,
}

/// Whether a location is a top-level package folder (the root or a workspace), whose
/// `devDependencies` count.
pub fn is_top(location: &str) -> bool {
    location.is_empty() || !location.split('/').any(|p| p == "node_modules")
}

/// The folder a dependency's lookup starts from: a link's target, else the location.
pub fn folder<'a>(packages: &'a Map<String, Value>, location: &'a str) -> &'a str {
    match packages.get(location) {
        Some(entry) if entry.get("link").and_then(Value::as_bool) == Some(true) => entry
            .get("resolved")
            .and_then(Value::as_str)
            .unwrap_or(location),
        _ => location,
    }
}

/// The folder above a package folder in node's lookup (`a/node_modules/b` → `a`; a top-level
/// `node_modules/b` or a workspace → the root).
pub fn parent_folder(location: &str) -> Option<&str> {
    if location.is_empty() {
        return None;
    }
    match location.rfind("node_modules/") {
        Some(at) => {
            let before = &location[..at];
            Some(before.strip_suffix('/').unwrap_or(before))
        }
        None => Some(""),
    }
}

/// `folder` + `/node_modules/` + `name`.
pub fn child_location(folder: &str, name: &str) -> String {
    if folder.is_empty() {
        format!("node_modules/{name}")
    } else {
        format!("{folder}/node_modules/{name}")
    }
}

/// The package name a location holds (`node_modules/@s/x` → `@s/x`).
pub fn name_at(location: &str) -> &str {
    match location.rfind("node_modules/") {
        Some(at) => &location[at + "node_modules/".len()..],
        None => location.rsplit('/').next().unwrap_or(location),
    }
}

/// Where `name` resolves from the package folder `from`: the nearest existing
/// `…/node_modules/name` walking up.
pub fn resolve(packages: &Map<String, Value>, from: &str, name: &str) -> Option<String> {
    let mut folder = Some(from);
    while let Some(f) = folder {
        let candidate = child_location(f, name);
        if packages.contains_key(&candidate) {
            return Some(candidate);
        }
        folder = parent_folder(f);
    }
    None
}

fn string_map(entry: &Value, key: &str) -> Vec<(String, String)> {
    entry
        .get(key)
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                .collect()
        })
        .unwrap_or_default()
}

/// The dependencies of the package at `location`, as npm makes edges of them.
pub fn edges(packages: &Map<String, Value>, location: &str) -> Vec<Edge> {
    let folder = folder(packages, location);
    let Some(entry) = packages.get(folder) else {
        return Vec::new();
    };
    let mut out: Vec<Edge> = Vec::new();
    let mut push = |name: String, spec: String, kind: Kind| {
        out.retain(|e: &Edge| e.name != name);
        out.push(Edge { name, spec, kind });
    };
    // npm loads peers, then prod, then optional, then (for the root and workspaces) dev
    // dependencies; a later kind replaces an earlier one of the same name.
    let meta = entry.get("peerDependenciesMeta");
    for (name, spec) in string_map(entry, "peerDependencies") {
        let optional = meta
            .and_then(|m| m.get(&name))
            .and_then(|m| m.get("optional"))
            .and_then(Value::as_bool)
            .unwrap_or(false);
        push(
            name,
            spec,
            Kind {
                peer: true,
                optional,
                dev: false,
            },
        );
    }
    for (name, spec) in string_map(entry, "dependencies") {
        push(name, spec, Kind::PROD);
    }
    for (name, spec) in string_map(entry, "optionalDependencies") {
        push(
            name,
            spec,
            Kind {
                optional: true,
                ..Kind::PROD
            },
        );
    }
    if is_top(folder) {
        for (name, spec) in string_map(entry, "devDependencies") {
            push(
                name,
                spec,
                Kind {
                    dev: true,
                    ..Kind::PROD
                },
            );
        }
    }
    // The root depends on its workspaces (the links to them).
    if folder.is_empty() {
        for (loc, link) in packages {
            if link.get("link").and_then(Value::as_bool) == Some(true)
                && parent_folder(loc) == Some("")
                && loc.starts_with("node_modules/")
            {
                push(name_at(loc).to_string(), "*".to_string(), Kind::PROD);
            }
        }
    }
    out
}

/// The registry package a spec asks for and its range: `npm:real@^1` → (`real`, `^1`).
pub fn registry_range<'a>(name: &'a str, spec: &'a str) -> Option<(&'a str, &'a str)> {
    if let Some(rest) = spec.strip_prefix("npm:") {
        let at = rest.get(1..)?.rfind('@').map(|i| i + 1);
        return Some(match at {
            Some(at) => (&rest[..at], &rest[at + 1..]),
            None => (rest, "*"),
        });
    }
    crate::versioning::is_npm_range(spec).then_some((name, spec))
}

/// Whether the node at `location` satisfies `edge`; `None` when the spec is not a registry
/// range (git, file, tag) and cannot be judged here.
pub fn satisfies(packages: &Map<String, Value>, location: &str, edge: &Edge) -> Option<bool> {
    let (package, range) = registry_range(&edge.name, &edge.spec)?;
    let entry = packages.get(location)?;
    if entry.get("link").and_then(Value::as_bool) == Some(true) {
        return None;
    }
    let version = entry.get("version").and_then(Value::as_str)?;
    let real = entry
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_else(|| name_at(location));
    if real != package {
        return Some(false);
    }
    use updatebot_core::VersionScheme;
    Some(
        crate::versioning::Npm
            .satisfies(range, version)
            .unwrap_or(false),
    )
}

/// Every (from, edge, resolved location) of the packages reachable from the root.
pub fn reachable(packages: &Map<String, Value>) -> Vec<(String, Edge, Option<String>)> {
    let mut seen = std::collections::BTreeSet::new();
    let mut queue = vec![String::new()];
    let mut out = Vec::new();
    while let Some(location) = queue.pop() {
        if !seen.insert(location.clone()) {
            continue;
        }
        let from = folder(packages, &location).to_string();
        if from != location {
            queue.push(from.clone());
        }
        for edge in edges(packages, &location) {
            let target = resolve(packages, &from, &edge.name);
            if let Some(t) = &target {
                queue.push(t.clone());
            }
            out.push((location.clone(), edge, target));
        }
    }
    out
}

/// Edges that resolve to nothing or to a version outside their range (optional ones may be
/// missing). Used to prove an update left the graph no worse than it was.
pub fn problems(packages: &Map<String, Value>) -> std::collections::BTreeSet<String> {
    reachable(packages)
        .into_iter()
        .filter_map(|(from, edge, target)| match target {
            None if edge.kind.optional => None,
            None => Some(format!(
                "{from} needs {} {} (missing)",
                edge.name, edge.spec
            )),
            Some(t) => match satisfies(packages, &t, &edge) {
                Some(false) => Some(format!(
                    "{from} needs {} {} (found at {t})",
                    edge.name, edge.spec
                )),
                _ => None,
            },
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packages() -> Map<String, Value> {
        serde_json::from_value(serde_json::json!({
            "": {"name": "root", "dependencies": {"debug": "^4.3.4", "ms": "2.0.0", "w": "*"}, "devDependencies": {"semver": "^7"}},
            "node_modules/debug": {"version": "4.3.4", "dependencies": {"ms": "2.1.2"}},
            "node_modules/debug/node_modules/ms": {"version": "2.1.2"},
            "node_modules/ms": {"version": "2.0.0"},
            "node_modules/semver": {"version": "7.5.4", "dependencies": {"lru-cache": "^6.0.0"}},
            "node_modules/w": {"resolved": "packages/w", "link": true},
            "packages/w": {"version": "1.0.0", "dependencies": {"ms": "^2.0.0"}}
        }))
        .unwrap()
    }

    #[test]
    fn resolution_walks_up_node_modules() {
        let p = packages();
        assert_eq!(
            resolve(&p, "node_modules/debug", "ms").as_deref(),
            Some("node_modules/debug/node_modules/ms")
        );
        assert_eq!(resolve(&p, "", "ms").as_deref(), Some("node_modules/ms"));
        assert_eq!(
            resolve(&p, "packages/w", "ms").as_deref(),
            Some("node_modules/ms")
        );
        assert_eq!(resolve(&p, "node_modules/semver", "lru-cache"), None);
        assert_eq!(parent_folder("node_modules/@s/x"), Some(""));
        assert_eq!(
            parent_folder("node_modules/a/node_modules/@s/x"),
            Some("node_modules/a")
        );
        assert_eq!(name_at("node_modules/a/node_modules/@s/x"), "@s/x");
    }

    #[test]
    fn edges_and_problems() {
        let p = packages();
        let root = edges(&p, "");
        assert!(root.iter().any(|e| e.name == "semver" && e.kind.dev));
        assert!(root.iter().any(|e| e.name == "w"));
        let problems = problems(&p);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems.iter().next().unwrap().contains("lru-cache"));
        assert_eq!(
            registry_range("x", "npm:@s/real@^2"),
            Some(("@s/real", "^2"))
        );
        assert_eq!(registry_range("x", "github:a/b"), None);
    }
}

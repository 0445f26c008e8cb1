//! `dev`, `optional`, `devOptional` and `peer` flags, as npm's calcDepFlags sets them: a
//! package is `dev` when every path to it from the root passes a dev edge, and so on.

use super::tree::{edges, folder, resolve};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Reach {
    /// Some path to it has no dev edge.
    non_dev: bool,
    non_optional: bool,
    /// Some path has neither a dev nor an optional edge.
    plain: bool,
    non_peer: bool,
}

/// The flags of a package.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Flags {
    pub dev: bool,
    pub optional: bool,
    pub dev_optional: bool,
    pub peer: bool,
}

/// Recompute the flags of every entry (the root's and workspaces' are never flagged).
pub fn recompute(packages: &mut Map<String, Value>) {
    let flags = compute(packages);
    apply(packages, &flags, None);
}

/// The flags each location should carry.
pub fn compute(packages: &Map<String, Value>) -> BTreeMap<String, Flags> {
    let mut reach: BTreeMap<String, Reach> = BTreeMap::new();
    let all = Reach {
        non_dev: true,
        non_optional: true,
        plain: true,
        non_peer: true,
    };
    reach.insert(String::new(), all);
    let mut queue = vec![String::new()];
    let mut visited = std::collections::BTreeSet::new();
    while let Some(location) = queue.pop() {
        visited.insert(location.clone());
        let here = reach[&location];
        let from = folder(packages, &location).to_string();
        let mut targets = Vec::new();
        if from != location {
            // A link passes its reach to its target.
            targets.push((from.clone(), here));
        }
        for edge in edges(packages, &location) {
            let Some(target) = resolve(packages, &from, &edge.name) else {
                continue;
            };
            let next = Reach {
                non_dev: here.non_dev && !edge.kind.dev,
                non_optional: here.non_optional && !edge.kind.optional,
                plain: here.plain && !edge.kind.dev && !edge.kind.optional,
                non_peer: here.non_peer && !edge.kind.peer,
            };
            targets.push((target, next));
        }
        // Reach only grows, so this settles.
        for (target, next) in targets {
            let entry = reach.entry(target.clone()).or_default();
            let merged = Reach {
                non_dev: entry.non_dev || next.non_dev,
                non_optional: entry.non_optional || next.non_optional,
                plain: entry.plain || next.plain,
                non_peer: entry.non_peer || next.non_peer,
            };
            if merged != *entry || !visited.contains(&target) {
                *entry = merged;
                queue.push(target);
            }
        }
    }
    reach
        .into_iter()
        .map(|(location, r)| {
            let dev = !r.non_dev;
            let optional = !r.non_optional;
            (
                location,
                Flags {
                    dev,
                    optional,
                    dev_optional: !r.plain && !dev && !optional,
                    peer: !r.non_peer,
                },
            )
        })
        .collect()
}

/// Write `flags` into the entries. With `before` (the flags computed for the lock as it
/// was), an existing entry's `peer` flag changes only where the computation says its peer-ness
/// changed: npm leaves `peer` set on packages it once placed as peers, and that must not churn.
pub fn apply(
    packages: &mut Map<String, Value>,
    flags: &BTreeMap<String, Flags>,
    before: Option<&BTreeMap<String, Flags>>,
) {
    for (location, entry) in packages.iter_mut() {
        let Some(map) = entry.as_object_mut() else {
            continue;
        };
        // The root and workspaces carry no flags; neither do links (their targets do).
        if super::tree::is_top(location) || map.get("link").and_then(Value::as_bool) == Some(true) {
            continue;
        }
        let f = flags.get(location).copied().unwrap_or_default();
        let set = |map: &mut Map<String, Value>, key: &str, on: bool| {
            if on {
                if map.get(key) != Some(&Value::Bool(true)) {
                    super::doc::insert_sorted(map, key.to_string(), Value::Bool(true));
                }
            } else {
                map.remove(key);
            }
        };
        set(map, "dev", f.dev);
        set(map, "optional", f.optional);
        set(map, "devOptional", f.dev_optional);
        let keep_peer = before
            .and_then(|b| b.get(location))
            .is_some_and(|old| old.peer == f.peer);
        if !keep_peer {
            set(map, "peer", f.peer);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_follow_the_paths() {
        let mut p: Map<String, Value> = serde_json::from_value(serde_json::json!({
            "": {"dependencies": {"a": "1"}, "devDependencies": {"d": "1"}, "optionalDependencies": {"o": "1"}},
            "node_modules/a": {"version": "1.0.0", "dependencies": {"shared": "1"}, "peerDependencies": {"p": "1"}},
            "node_modules/d": {"version": "1.0.0", "dependencies": {"shared": "1", "donly": "1", "both": "1"}},
            "node_modules/o": {"version": "1.0.0", "dependencies": {"both": "1"}},
            "node_modules/shared": {"version": "1.0.0", "dev": true},
            "node_modules/donly": {"version": "1.0.0"},
            "node_modules/both": {"version": "1.0.0"},
            "node_modules/p": {"version": "1.0.0"}
        }))
        .unwrap();
        recompute(&mut p);
        let flags = |loc: &str| {
            let e = p[loc].as_object().unwrap();
            ["dev", "optional", "devOptional", "peer"]
                .iter()
                .filter(|k| e.get(**k) == Some(&Value::Bool(true)))
                .copied()
                .collect::<Vec<_>>()
        };
        assert_eq!(flags("node_modules/a"), Vec::<&str>::new());
        assert_eq!(flags("node_modules/d"), ["dev"]);
        assert_eq!(flags("node_modules/o"), ["optional"]);
        assert_eq!(flags("node_modules/shared"), Vec::<&str>::new());
        assert_eq!(flags("node_modules/donly"), ["dev"]);
        assert_eq!(flags("node_modules/both"), ["devOptional"]);
        assert_eq!(flags("node_modules/p"), ["peer"]);
    }
}

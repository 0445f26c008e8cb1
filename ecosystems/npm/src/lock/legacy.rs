//! The `dependencies` section of a version 2 lockfile (npm 6's nested layout), rebuilt from
//! `packages` the way npm writes it.

use super::doc::nice;
use super::tree::{edges, folder, name_at, parent_folder};
use serde_json::{Map, Value};

/// The children of a package folder: locations directly in its `node_modules`.
fn children<'a>(packages: &'a Map<String, Value>, folder: &str) -> Vec<&'a str> {
    packages
        .keys()
        .filter(|loc| loc.contains("node_modules/") && parent_folder(loc) == Some(folder))
        .map(String::as_str)
        .collect()
}

fn entry_for(packages: &Map<String, Value>, location: &str) -> Value {
    let node = &packages[location];
    let is_link = node.get("link").and_then(Value::as_bool) == Some(true);
    let mut out = Map::new();
    if is_link {
        let target = node
            .get("resolved")
            .and_then(Value::as_str)
            .unwrap_or_default();
        out.insert("version".into(), Value::String(format!("file:{target}")));
    } else {
        let version = node
            .get("version")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let own_name = name_at(location);
        let version = match node.get("name").and_then(Value::as_str) {
            Some(real) if real != own_name => format!("npm:{real}@{version}"),
            _ => version.to_string(),
        };
        out.insert("version".into(), Value::String(version));
        for key in ["resolved", "integrity"] {
            if let Some(v) = node.get(key) {
                out.insert(key.into(), v.clone());
            }
        }
        if node.get("extraneous").and_then(Value::as_bool) == Some(true) {
            out.insert("extraneous".into(), Value::Bool(true));
        } else {
            for flag in ["peer", "devOptional", "dev", "optional"] {
                if node.get(flag).and_then(Value::as_bool) == Some(true) {
                    out.insert(flag.into(), Value::Bool(true));
                }
            }
        }
        if node.get("inBundle").and_then(Value::as_bool) == Some(true) {
            out.insert("bundled".into(), Value::Bool(true));
        }
    }
    // `requires` is there whenever the package has dependencies, peers left out (so it may
    // be empty).
    let all = edges(packages, location);
    if !all.is_empty() {
        let requires: Map<String, Value> = all
            .into_iter()
            .filter(|e| !e.kind.peer)
            .map(|e| (e.name, Value::String(e.spec)))
            .collect();
        out.insert("requires".into(), Value::Object(requires));
    }
    let target = folder(packages, location).to_string();
    let kids = children(packages, &target);
    if !kids.is_empty() {
        let mut deps = Map::new();
        for kid in kids {
            deps.insert(name_at(kid).to_string(), entry_for(packages, kid));
        }
        out.insert("dependencies".into(), Value::Object(deps));
    }
    Value::Object(out)
}

/// The whole legacy section for `packages`.
pub fn build(packages: &Map<String, Value>) -> Value {
    let mut deps = Map::new();
    for kid in children(packages, "") {
        deps.insert(name_at(kid).to_string(), entry_for(packages, kid));
    }
    // Workspace folders are not children of the root; their own node_modules hang under the
    // root's link to them (npm lists a link's target's children).
    nice(Value::Object(deps))
}

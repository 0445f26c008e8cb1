//! A package-lock.json held as ordered JSON, written back the way npm writes it: the file's
//! own indent and line ends, keys in `json-stringify-nice` order for what the bot adds.

use super::collate;
use serde_json::{Map, Value};
use updatebot_core::LockError;

/// The keys npm puts first, in this order (its `swKeyOrder`).
const PREFERRED: [&str; 8] = [
    "name",
    "version",
    "lockfileVersion",
    "resolved",
    "integrity",
    "requires",
    "packages",
    "dependencies",
];

/// A lockfile document.
#[derive(Debug, Clone)]
pub struct LockDoc {
    pub path: String,
    pub root: Map<String, Value>,
    pub version: u64,
    indent: String,
    crlf: bool,
}

pub fn failed(path: &str, reason: impl Into<String>) -> LockError {
    LockError::Failed {
        lockfile: path.to_string(),
        reason: reason.into(),
    }
}

impl LockDoc {
    pub fn parse(path: &str, text: &str) -> Result<LockDoc, LockError> {
        let value: Value =
            serde_json::from_str(text).map_err(|e| failed(path, format!("invalid JSON: {e}")))?;
        let Value::Object(root) = value else {
            return Err(failed(path, "not a JSON object"));
        };
        let version = root
            .get("lockfileVersion")
            .and_then(Value::as_u64)
            .unwrap_or(1);
        let indent = text
            .lines()
            .nth(1)
            .map(|l| l[..l.len() - l.trim_start().len()].to_string())
            .filter(|i| !i.is_empty())
            .unwrap_or_else(|| "  ".to_string());
        Ok(LockDoc {
            path: path.to_string(),
            root,
            version,
            indent,
            crlf: text.contains("\r\n"),
        })
    }

    pub fn packages(&self) -> Option<&Map<String, Value>> {
        self.root.get("packages").and_then(Value::as_object)
    }

    pub fn packages_mut(&mut self) -> Option<&mut Map<String, Value>> {
        self.root.get_mut("packages").and_then(Value::as_object_mut)
    }

    /// The text npm would write for this document.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        let formatter = serde_json::ser::PrettyFormatter::with_indent(self.indent.as_bytes());
        let mut ser = serde_json::Serializer::with_formatter(&mut out, formatter);
        let value = Value::Object(self.root.clone());
        serde::Serialize::serialize(&value, &mut ser)
            .expect("serialising JSON values to memory cannot fail");
        let mut text = String::from_utf8(out).expect("serde_json writes UTF-8");
        text.push('\n');
        if self.crlf {
            text = text.replace('\n', "\r\n");
        }
        text
    }
}

fn is_object(v: &Value) -> bool {
    v.is_object()
}

/// The order `json-stringify-nice` puts two keys of one object in.
pub fn nice_order(a: (&str, &Value), b: (&str, &Value)) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    match (is_object(a.1), is_object(b.1)) {
        (false, true) => return Ordering::Less,
        (true, false) => return Ordering::Greater,
        _ => {}
    }
    let pa = PREFERRED.iter().position(|k| *k == a.0);
    let pb = PREFERRED.iter().position(|k| *k == b.0);
    match (pa, pb) {
        (Some(x), Some(y)) => x.cmp(&y),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => collate::compare(a.0, b.0),
    }
}

/// Reorder an object (and every object inside it) as `json-stringify-nice` would write it.
pub fn nice(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> =
                map.into_iter().map(|(k, v)| (k, nice(v))).collect();
            entries.sort_by(|a, b| nice_order((&a.0, &a.1), (&b.0, &b.1)));
            Value::Object(entries.into_iter().collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(nice).collect()),
        other => other,
    }
}

/// Insert `key` into an object whose keys are already in npm's order, at its sorted place
/// (existing keys keep their places).
pub fn insert_sorted(map: &mut Map<String, Value>, key: String, value: Value) {
    if let Some(existing) = map.get_mut(&key) {
        *existing = value;
        return;
    }
    let position = map
        .iter()
        .position(|(k, v)| nice_order((k, v), (&key, &value)) == std::cmp::Ordering::Greater)
        .unwrap_or(map.len());
    let mut entries: Vec<(String, Value)> = std::mem::take(map).into_iter().collect();
    entries.insert(position, (key, value));
    *map = entries.into_iter().collect();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_keeps_indent_line_ends_and_order() {
        let text = "{\r\n    \"name\": \"x\",\r\n    \"lockfileVersion\": 3,\r\n    \"packages\": {\r\n        \"\": {}\r\n    }\r\n}\r\n";
        let doc = LockDoc::parse("package-lock.json", text).unwrap();
        assert_eq!(doc.render(), text);
        assert_eq!(doc.version, 3);
    }

    #[test]
    fn nice_sorts_scalars_before_objects_preferred_first() {
        let v = serde_json::json!({
            "engines": {"node": ">=6"},
            "dev": true,
            "dependencies": {"b": "1", "a": "2"},
            "license": "MIT",
            "integrity": "sha512-x",
            "version": "1.0.0",
            "bin": {"x": "cli.js"},
            "resolved": "https://r/x.tgz",
            "cpu": ["x64"]
        });
        let keys: Vec<String> = nice(v.clone())
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        assert_eq!(
            keys,
            [
                "version",
                "resolved",
                "integrity",
                "cpu",
                "dev",
                "license",
                "dependencies",
                "bin",
                "engines"
            ]
        );
        let deps: Vec<String> = nice(v)["dependencies"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        assert_eq!(deps, ["a", "b"]);
    }

    #[test]
    fn insert_sorted_finds_the_place() {
        let mut map: Map<String, Value> =
            serde_json::from_str(r#"{"": {}, "node_modules/a": {}, "node_modules/c": {}}"#)
                .unwrap();
        insert_sorted(&mut map, "node_modules/b".into(), serde_json::json!({}));
        let keys: Vec<&str> = map.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            ["", "node_modules/a", "node_modules/b", "node_modules/c"]
        );
    }
}

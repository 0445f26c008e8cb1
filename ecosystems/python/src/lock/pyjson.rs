//! Python's `json.dumps(value, sort_keys=True)` for TOML values, byte for byte: what poetry
//! and pipenv hash to decide whether a lockfile is fresh.

use toml_edit::{Item, Table, Value};

/// Python's JSON separators: `(", ", ": ")` by default, `(",", ":")` compact.
#[derive(Clone, Copy)]
pub struct Separators {
    pub item: &'static str,
    pub key: &'static str,
}

pub const DEFAULT: Separators = Separators {
    item: ", ",
    key: ": ",
};
pub const COMPACT: Separators = Separators {
    item: ",",
    key: ":",
};

/// A JSON value as Python sees a TOML document (`tomllib.loads`).
#[derive(Clone, Debug, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl Json {
    pub fn object(pairs: Vec<(String, Json)>) -> Json {
        Json::Object(pairs)
    }

    pub fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Object(pairs) => pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }
}

/// The Python value of a TOML value; `None` for what `json.dumps` would refuse (dates).
pub fn from_value(value: &Value) -> Option<Json> {
    Some(match value {
        Value::String(s) => Json::Str(s.value().clone()),
        Value::Integer(i) => Json::Int(*i.value()),
        Value::Float(f) => Json::Float(*f.value()),
        Value::Boolean(b) => Json::Bool(*b.value()),
        Value::Datetime(_) => return None,
        Value::Array(a) => Json::Array(a.iter().map(from_value).collect::<Option<_>>()?),
        Value::InlineTable(t) => Json::Object(
            t.iter()
                .map(|(k, v)| from_value(v).map(|j| (k.to_string(), j)))
                .collect::<Option<_>>()?,
        ),
    })
}

pub fn from_table(table: &Table) -> Option<Json> {
    Some(Json::Object(
        table
            .iter()
            .map(|(k, v)| from_item(v).map(|j| (k.to_string(), j)))
            .collect::<Option<Vec<_>>>()?
            .into_iter()
            .collect(),
    ))
}

pub fn from_item(item: &Item) -> Option<Json> {
    match item {
        Item::None => Some(Json::Null),
        Item::Value(v) => from_value(v),
        Item::Table(t) => from_table(t),
        Item::ArrayOfTables(a) => Some(Json::Array(
            a.iter().map(from_table).collect::<Option<_>>()?,
        )),
    }
}

fn escape(text: &str, out: &mut String) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Python's `float.__repr__` for the usual cases.
fn float(f: f64) -> String {
    if f.is_nan() {
        "NaN".into()
    } else if f.is_infinite() {
        if f > 0.0 { "Infinity" } else { "-Infinity" }.into()
    } else if f == f.trunc() && f.abs() < 1e16 {
        format!("{f:.1}")
    } else {
        format!("{f}")
    }
}

/// `json.dumps(value, sort_keys=True, separators=…)` with `ensure_ascii=True`.
pub fn dumps(value: &Json, sep: Separators) -> String {
    let mut out = String::new();
    write(value, sep, &mut out);
    out
}

fn write(value: &Json, sep: Separators, out: &mut String) {
    match value {
        Json::Null => out.push_str("null"),
        Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Json::Int(i) => out.push_str(&i.to_string()),
        Json::Float(f) => out.push_str(&float(*f)),
        Json::Str(s) => escape(s, out),
        Json::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(sep.item);
                }
                write(item, sep, out);
            }
            out.push(']');
        }
        Json::Object(pairs) => {
            // Python sorts keys by code point; a later duplicate key wins, as in a dict.
            let mut sorted: Vec<&(String, Json)> = Vec::new();
            for pair in pairs {
                sorted.retain(|(k, _)| *k != pair.0);
                sorted.push(pair);
            }
            sorted.sort_by(|a, b| a.0.chars().cmp(b.0.chars()));
            out.push('{');
            for (i, (key, item)) in sorted.iter().enumerate() {
                if i > 0 {
                    out.push_str(sep.item);
                }
                escape(key, out);
                out.push_str(sep.key);
                write(item, sep, out);
            }
            out.push('}');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_python_json_dumps() {
        let doc: toml_edit::DocumentMut =
            "b = 1\na = [\"x\", {z = true, y = 1.5}]\nc = \"é\\\"\\n\"\n[t]\nk = 2.0\n"
                .parse()
                .unwrap();
        let value = from_table(doc.as_table()).unwrap();
        // python3 -c 'import json; print(json.dumps({"b":1,"a":["x",{"z":True,"y":1.5}],"c":"é\"\n","t":{"k":2.0}}, sort_keys=True))'
        assert_eq!(
            dumps(&value, DEFAULT),
            r#"{"a": ["x", {"y": 1.5, "z": true}], "b": 1, "c": "\u00e9\"\n", "t": {"k": 2.0}}"#
        );
        assert_eq!(
            dumps(&value, COMPACT),
            r#"{"a":["x",{"y":1.5,"z":true}],"b":1,"c":"\u00e9\"\n","t":{"k":2.0}}"#
        );
    }
}

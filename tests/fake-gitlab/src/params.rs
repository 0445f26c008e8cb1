//! Request parameters the way GitLab (Grape on Rack) sees them: the query string and the body
//! (JSON or `application/x-www-form-urlencoded` with Rails' nested-key conventions) merged into
//! one JSON object, plus Grape-style coercion and validation errors.

use serde_json::{Map, Value};

use crate::http::ApiError;

/// Parse a Rack-style query string or form body into a JSON object.
///
/// `a=1` sets a key, `a[]=1&a[]=2` builds an array, `a[b]=1` a nested hash, and
/// `a[][b]=1&a[][c]=2&a[][b]=3` an array of hashes where a new hash starts whenever a key
/// already present in the last hash repeats (Rack's `normalize_params`).
pub fn parse_form(input: &[u8]) -> Map<String, Value> {
    let mut out = Map::new();
    for (key, value) in form_urlencoded::parse(input) {
        let (name, rest) = split_key(&key);
        if name.is_empty() {
            continue;
        }
        normalize(&mut out, &name, &rest, Value::String(value.into_owned()));
    }
    out
}

/// Split `a[b][][c]` into `("a", ["b", "", "c"])`.
fn split_key(key: &str) -> (String, Vec<String>) {
    let Some(open) = key.find('[') else {
        return (key.to_string(), Vec::new());
    };
    let name = key[..open].to_string();
    let mut rest = Vec::new();
    let mut s = &key[open..];
    while let Some(stripped) = s.strip_prefix('[') {
        match stripped.find(']') {
            Some(close) => {
                rest.push(stripped[..close].to_string());
                s = &stripped[close + 1..];
            }
            None => break,
        }
    }
    (name, rest)
}

fn normalize(target: &mut Map<String, Value>, name: &str, rest: &[String], value: Value) {
    match rest.split_first() {
        None => {
            target.insert(name.to_string(), value);
        }
        Some((first, tail)) if first.is_empty() => {
            let entry = target
                .entry(name.to_string())
                .or_insert_with(|| Value::Array(Vec::new()));
            if !entry.is_array() {
                *entry = Value::Array(Vec::new());
            }
            let arr = entry.as_array_mut().expect("array");
            match tail.split_first() {
                None => arr.push(value),
                Some((child, child_tail)) => {
                    let reuse = matches!(arr.last(), Some(Value::Object(last)) if !has_key(last, child, child_tail));
                    if !reuse {
                        arr.push(Value::Object(Map::new()));
                    }
                    if let Some(Value::Object(last)) = arr.last_mut() {
                        normalize(last, child, child_tail, value);
                    }
                }
            }
        }
        Some((first, tail)) => {
            let entry = target
                .entry(name.to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            if !entry.is_object() {
                *entry = Value::Object(Map::new());
            }
            normalize(entry.as_object_mut().expect("object"), first, tail, value);
        }
    }
}

/// Rack's `params_hash_has_key?`: does `hash` already hold `key` followed by `tail`?
fn has_key(hash: &Map<String, Value>, key: &str, tail: &[String]) -> bool {
    let Some(v) = hash.get(key) else { return false };
    match tail.split_first() {
        None => true,
        Some((first, _)) if first.is_empty() => false,
        Some((first, rest)) => match v {
            Value::Object(m) => has_key(m, first, rest),
            _ => false,
        },
    }
}

/// The merged parameters of one request, with Grape-like accessors.
#[derive(Debug, Clone, Default)]
pub struct Params {
    pub map: Map<String, Value>,
}

impl Params {
    pub fn new(map: Map<String, Value>) -> Self {
        Params { map }
    }

    pub fn has(&self, key: &str) -> bool {
        self.map.contains_key(key)
    }

    /// A present, non-null value.
    pub fn value(&self, key: &str) -> Option<&Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    /// Check required parameters, answering Grape's combined message, e.g.
    /// `{"error":"branch is missing, commit_message is missing"}`.
    pub fn require(&self, keys: &[&str]) -> Result<(), ApiError> {
        let missing: Vec<String> = keys
            .iter()
            .filter(|k| self.value(k).is_none())
            .map(|k| format!("{k} is missing"))
            .collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(ApiError::grape(missing.join(", ")))
        }
    }

    /// A string parameter (numbers and booleans are turned into their text, as Grape does).
    pub fn str(&self, key: &str) -> Result<Option<String>, ApiError> {
        match self.value(key) {
            None => Ok(None),
            Some(v) => scalar_string(v)
                .map(Some)
                .ok_or_else(|| ApiError::invalid(key)),
        }
    }

    pub fn u64(&self, key: &str) -> Result<Option<u64>, ApiError> {
        match self.value(key) {
            None => Ok(None),
            Some(v) => coerce_u64(v)
                .map(Some)
                .ok_or_else(|| ApiError::invalid(key)),
        }
    }

    pub fn bool(&self, key: &str) -> Result<Option<bool>, ApiError> {
        match self.value(key) {
            None => Ok(None),
            Some(v) => coerce_bool(v)
                .map(Some)
                .ok_or_else(|| ApiError::invalid(key)),
        }
    }

    /// A string that must be one of `values` (`does not have a valid value` otherwise).
    pub fn one_of(&self, key: &str, values: &[&str]) -> Result<Option<String>, ApiError> {
        match self.str(key)? {
            None => Ok(None),
            Some(s) if values.contains(&s.as_str()) => Ok(Some(s)),
            Some(_) => Err(ApiError::not_valid(key)),
        }
    }

    /// GitLab's `CommaSeparatedToArray`: an array, or a comma-separated string.
    pub fn string_list(&self, key: &str) -> Result<Option<Vec<String>>, ApiError> {
        match self.value(key) {
            None => Ok(None),
            Some(Value::Array(items)) => {
                let mut out = Vec::new();
                for item in items {
                    let s = scalar_string(item).ok_or_else(|| ApiError::invalid(key))?;
                    out.extend(split_commas(&s));
                }
                Ok(Some(out))
            }
            Some(v) => {
                let s = scalar_string(v).ok_or_else(|| ApiError::invalid(key))?;
                Ok(Some(split_commas(&s)))
            }
        }
    }

    /// GitLab's `CommaSeparatedToIntegerArray`: an array of ids or a comma-separated string.
    pub fn id_list(&self, key: &str) -> Result<Option<Vec<u64>>, ApiError> {
        let Some(items) = self.string_list(key)? else {
            return Ok(None);
        };
        let mut out = Vec::new();
        for s in items {
            out.push(
                s.trim()
                    .parse::<u64>()
                    .map_err(|_| ApiError::invalid(key))?,
            );
        }
        Ok(Some(out))
    }
}

fn split_commas(s: &str) -> Vec<String> {
    s.split(',')
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect()
}

pub fn scalar_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

pub fn coerce_u64(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Grape's Boolean coercion.
pub fn coerce_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => match n.as_u64() {
            Some(1) => Some(true),
            Some(0) => Some(false),
            _ => None,
        },
        Value::String(s) => match s.to_ascii_lowercase().as_str() {
            "true" | "1" | "t" | "yes" | "y" | "on" => Some(true),
            "false" | "0" | "f" | "no" | "n" | "off" | "" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rails_nested_arrays_of_hashes() {
        let body = "branch=b&actions%5B%5D%5Baction%5D=create&actions%5B%5D%5Bfile_path%5D=a&actions%5B%5D%5Bcontent%5D=x%26y&actions%5B%5D%5Baction%5D=delete&actions%5B%5D%5Bfile_path%5D=b&ids[]=1&ids[]=2&h[k]=v&labels=a,b";
        let m = parse_form(body.as_bytes());
        assert_eq!(
            Value::Object(m),
            json!({
                "branch": "b",
                "actions": [
                    {"action": "create", "file_path": "a", "content": "x&y"},
                    {"action": "delete", "file_path": "b"}
                ],
                "ids": ["1", "2"],
                "h": {"k": "v"},
                "labels": "a,b"
            })
        );
    }

    #[test]
    fn lists_and_bools() {
        let p = Params::new(parse_form(b"labels=a,+b&ids=1,2&f=true&g=0"));
        assert_eq!(p.string_list("labels").unwrap().unwrap(), vec!["a", "b"]);
        assert_eq!(p.id_list("ids").unwrap().unwrap(), vec![1, 2]);
        assert_eq!(p.bool("f").unwrap(), Some(true));
        assert_eq!(p.bool("g").unwrap(), Some(false));
        assert!(p.require(&["x", "f", "y"]).is_err());
    }
}

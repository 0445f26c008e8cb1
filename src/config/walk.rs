//! Typed reading of the YAML tree, collecting every problem instead of stopping at one.

use std::collections::{HashMap, HashSet};

use super::problem::{show, Pos, Problem};
use super::yaml::{Kind, Node, Value};

/// A closed set of kebab-case names that maps to an enum (see `choice_enum!`).
pub(crate) trait Choice: Sized + Copy {
    /// Every accepted spelling, in documentation order.
    const ALL: &'static [&'static str];
    fn from_name(name: &str) -> Option<Self>;
}

/// Joins a path and a key for messages: `updates[0]` + `schedule` → `updates[0].schedule`.
pub(crate) fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// "in updates[0]" or "at the top level".
pub(crate) fn place(path: &str) -> String {
    if path.is_empty() {
        "at the top level".to_owned()
    } else {
        format!("in {path}")
    }
}

/// The closest candidate to a misspelt `word`, if it is close enough to be a likely typo.
pub(crate) fn suggest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    // Keys and values in the vocabulary are short; a long word is no typo of them.
    if word.len() > 64 {
        return None;
    }
    let norm = |s: &str| s.to_ascii_lowercase().replace('_', "-");
    let word = norm(word);
    let limit = match word.chars().count() {
        0..=3 => 1,
        4..=9 => 2,
        _ => 3,
    };
    candidates
        .iter()
        .map(|c| (levenshtein(&word, &norm(c)), *c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

fn did_you_mean(word: &str, candidates: &[&str]) -> String {
    suggest(word, candidates)
        .map(|s| format!(" (did you mean `{s}`?)"))
        .unwrap_or_default()
}

/// The keys a mapping may hold, and keys that get a specific message instead of
/// "unknown key" (for example credentials in a repository file).
pub(crate) struct KeySet<'k> {
    pub allowed: &'k [&'k str],
    pub refused: &'k [(&'k str, &'k str)],
    /// Names chosen by the user (registry and group names): every string key is allowed.
    pub free: bool,
}

impl<'k> KeySet<'k> {
    pub(crate) const fn new(allowed: &'k [&'k str]) -> Self {
        KeySet {
            allowed,
            refused: &[],
            free: false,
        }
    }

    pub(crate) const fn free() -> Self {
        KeySet {
            allowed: &[],
            refused: &[],
            free: true,
        }
    }

    fn allows(&self, key: &str) -> bool {
        self.free || self.allowed.contains(&key)
    }
}

/// One key of a mapping that was looked up.
#[derive(Clone, Copy)]
pub(crate) struct Field<'a> {
    pub key_pos: Pos,
    pub value: &'a Node,
    pub path: &'a str,
    pub key: &'a str,
}

impl Field<'_> {
    pub(crate) fn path(&self) -> String {
        join(self.path, self.key)
    }
}

/// The (first occurrences of the) string-keyed entries of a mapping.
pub(crate) struct Fields<'a> {
    pub pos: Pos,
    pub path: &'a str,
    entries: Vec<(&'a str, Pos, &'a Node)>,
    /// Keys that an unknown key was reported as a likely misspelling of.
    suggested: Vec<String>,
}

impl<'a> Fields<'a> {
    pub(crate) fn get(&self, key: &'a str) -> Option<Field<'a>> {
        self.entries
            .iter()
            .find(|(k, _, _)| *k == key)
            .map(|(_, key_pos, value)| Field {
                key_pos: *key_pos,
                value,
                path: self.path,
                key,
            })
    }

    /// Whether an unknown key in this mapping was probably meant to be `key` (then a
    /// "missing `key`" problem would only repeat the "did you mean" one).
    pub(crate) fn misspelt(&self, key: &str) -> bool {
        self.suggested.iter().any(|s| s == key)
    }

    pub(crate) fn keys(&self) -> impl Iterator<Item = (&'a str, Pos, &'a Node)> + '_ {
        self.entries.iter().copied()
    }
}

/// Collects problems while reading nodes into typed values.
#[derive(Default)]
pub(crate) struct Walker {
    pub problems: Vec<Problem>,
    /// Patterns compiled once per parse (they are `rules` constants).
    regexes: HashMap<&'static str, Option<regex::Regex>>,
}

impl Walker {
    /// Whether `text` matches `pattern`, one of the constants in `rules`.
    pub(crate) fn matches(&mut self, pattern: &'static str, text: &str) -> bool {
        self.regexes
            .entry(pattern)
            .or_insert_with(|| regex::Regex::new(pattern).ok())
            .as_ref()
            .is_some_and(|re| re.is_match(text))
    }

    pub(crate) fn problem(&mut self, pos: Pos, message: impl Into<String>) {
        self.problems.push(Problem::new(pos, message));
    }

    fn wrong_type(&mut self, node: &Node, path: &str, expected: &str) {
        let hint = match (&node.kind, expected) {
            (Kind::Scalar(Value::Int(_) | Value::Float | Value::Bool(_), _), e)
                if e.contains("string") =>
            {
                " (quote it to make it a string)"
            }
            _ => "",
        };
        let msg = format!("{path}: expected {expected}, got {}{hint}", node.describe());
        self.problem(node.pos, msg);
    }

    /// Reads a mapping: reports a non-mapping, unknown keys (with a suggestion), refused keys,
    /// non-string keys and duplicate keys. YAML merge keys (`<<: *anchor`) are applied.
    pub(crate) fn map<'a>(
        &mut self,
        node: &'a Node,
        path: &'a str,
        keys: &KeySet<'_>,
    ) -> Option<Fields<'a>> {
        let Kind::Map(raw) = &node.kind else {
            self.wrong_type(node, path_or_document(path), "a mapping");
            return None;
        };
        let mut entries: Vec<(&'a str, Pos, &'a Node)> = Vec::new();
        let mut seen: HashMap<&'a str, Pos> = HashMap::new();
        let mut merged: Vec<(&'a str, Pos, &'a Node)> = Vec::new();
        let mut suggested = Vec::new();
        for (k, v) in raw {
            let Some(name) = k.as_str() else {
                let msg = format!(
                    "{}: keys must be strings, got {}",
                    path_or_document(path),
                    k.describe()
                );
                self.problem(k.pos, msg);
                continue;
            };
            if name == "<<" && matches!(k.kind, Kind::Scalar(_, ref raw) if raw == "<<") {
                self.merge_key(v, path, &mut merged);
                continue;
            }
            if let Some(first) = seen.get(name) {
                let msg = format!(
                    "duplicate key `{}` {} (first given on line {})",
                    show(name),
                    place(path),
                    first.line
                );
                self.problem(k.pos, msg);
                continue;
            }
            if let Some((_, why)) = keys.refused.iter().find(|(r, _)| *r == name) {
                let msg = format!("`{name}` is not allowed {}: {why}", place(path));
                self.problem(k.pos, msg);
                continue;
            }
            if !keys.allows(name) {
                suggested.extend(suggest(name, keys.allowed).map(str::to_owned));
                let msg = format!(
                    "unknown key `{}` {}{}",
                    show(name),
                    place(path),
                    did_you_mean(name, keys.allowed)
                );
                self.problem(k.pos, msg);
                continue;
            }
            seen.insert(name, k.pos);
            entries.push((name, k.pos, v));
        }
        for m in merged {
            if !seen.contains_key(m.0) {
                if keys.allows(m.0) {
                    seen.insert(m.0, m.1);
                    entries.push(m);
                } else {
                    let msg = format!(
                        "unknown key `{}` {} (merged in with `<<`){}",
                        show(m.0),
                        place(path),
                        did_you_mean(m.0, keys.allowed)
                    );
                    self.problem(m.1, msg);
                }
            }
        }
        Some(Fields {
            pos: node.pos,
            path,
            entries,
            suggested,
        })
    }

    fn merge_key<'a>(&mut self, v: &'a Node, path: &str, out: &mut Vec<(&'a str, Pos, &'a Node)>) {
        let sources: Vec<&Node> = match &v.kind {
            Kind::Map(_) => vec![v],
            Kind::Seq(items) => items.iter().collect(),
            _ => vec![v],
        };
        let mut seen: HashSet<&'a str> = out.iter().map(|(n, _, _)| *n).collect();
        for source in sources {
            let Kind::Map(raw) = &source.kind else {
                let msg = format!(
                    "{}: `<<` must merge a mapping, got {}",
                    path_or_document(path),
                    source.describe()
                );
                self.problem(source.pos, msg);
                continue;
            };
            for (k, v) in raw {
                if let Some(name) = k.as_str() {
                    if seen.insert(name) {
                        out.push((name, k.pos, v));
                    }
                }
            }
        }
    }

    /// Reports every key in `required` that `fields` lacks, at the mapping's position.
    pub(crate) fn require(&mut self, fields: &Fields<'_>, required: &[&str]) {
        for key in required {
            if fields.get(key).is_none() && !fields.misspelt(key) {
                let msg = format!("missing required key `{key}` {}", place(fields.path));
                self.problem(fields.pos, msg);
            }
        }
    }

    pub(crate) fn string(&mut self, f: Field<'_>) -> Option<String> {
        self.string_node(f.value, &f.path())
    }

    pub(crate) fn string_node(&mut self, node: &Node, path: &str) -> Option<String> {
        match node.as_str() {
            Some(s) if s.trim().is_empty() => {
                self.problem(node.pos, format!("{path}: must not be empty"));
                None
            }
            Some(s) => Some(s.to_owned()),
            None => {
                self.wrong_type(node, path, "a string");
                None
            }
        }
    }

    pub(crate) fn bool(&mut self, f: Field<'_>) -> Option<bool> {
        match f.value.kind {
            Kind::Scalar(Value::Bool(b), _) => Some(b),
            _ => {
                self.wrong_type(f.value, &f.path(), "`true` or `false`");
                None
            }
        }
    }

    /// An integer in `0..=max`.
    pub(crate) fn uint(&mut self, f: Field<'_>, max: u64) -> Option<u64> {
        match f.value.kind {
            Kind::Scalar(Value::Int(i), ref raw) => match u64::try_from(i) {
                Ok(u) if u <= max => Some(u),
                _ => {
                    let msg = format!(
                        "{}: expected an integer from 0 to {max}, got `{}`",
                        f.path(),
                        show(raw)
                    );
                    self.problem(f.value.pos, msg);
                    None
                }
            },
            _ => {
                self.wrong_type(f.value, &f.path(), "an integer");
                None
            }
        }
    }

    pub(crate) fn seq<'a>(&mut self, f: Field<'a>) -> Option<&'a [Node]> {
        match &f.value.kind {
            Kind::Seq(items) => Some(items),
            _ => {
                self.wrong_type(f.value, &f.path(), "a list");
                None
            }
        }
    }

    /// A list of non-empty strings; each bad item is reported, the good ones kept.
    pub(crate) fn string_list(&mut self, f: Field<'_>) -> Option<Vec<String>> {
        let items = self.seq(f)?;
        let path = f.path();
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            if let Some(s) = self.string_node(item, &format!("{path}[{i}]")) {
                out.push(s);
            }
        }
        Some(out)
    }

    pub(crate) fn choice<C: Choice>(&mut self, f: Field<'_>) -> Option<C> {
        self.choice_node(f.value, &f.path())
    }

    pub(crate) fn choice_node<C: Choice>(&mut self, node: &Node, path: &str) -> Option<C> {
        let expected = C::ALL
            .iter()
            .map(|s| format!("`{s}`"))
            .collect::<Vec<_>>()
            .join(", ");
        let Some(s) = node.as_str() else {
            self.wrong_type(node, path, &format!("one of {expected}"));
            return None;
        };
        if let Some(c) = C::from_name(s) {
            return Some(c);
        }
        let msg = format!(
            "{path}: unknown value `{}`, expected one of {expected}{}",
            show(s),
            did_you_mean(s, C::ALL)
        );
        self.problem(node.pos, msg);
        None
    }

    /// A list of choices; an empty list is refused when `non_empty`.
    pub(crate) fn choice_list<C: Choice>(&mut self, f: Field<'_>) -> Option<Vec<C>> {
        let items = self.seq(f)?;
        let path = f.path();
        let out = items
            .iter()
            .enumerate()
            .filter_map(|(i, item)| self.choice_node(item, &format!("{path}[{i}]")))
            .collect();
        Some(out)
    }
}

fn path_or_document(path: &str) -> &str {
    if path.is_empty() {
        "the document"
    } else {
        path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_catch_typos_not_strangers() {
        let keys = ["directory", "directories", "schedule", "labels"];
        assert_eq!(suggest("dirctory", &keys), Some("directory"));
        assert_eq!(suggest("Schedule", &keys), Some("schedule"));
        assert_eq!(suggest("label", &keys), Some("labels"));
        assert_eq!(suggest("frobnicate", &keys), None);
        assert_eq!(
            suggest("package_ecosystem", &["package-ecosystem"]),
            Some("package-ecosystem")
        );
    }

    #[test]
    fn levenshtein_basics() {
        assert_eq!(levenshtein("", "abc"), 3);
        assert_eq!(levenshtein("kitten", "sitting"), 3);
        assert_eq!(levenshtein("same", "same"), 0);
    }
}

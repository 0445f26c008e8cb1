//! `yarn.lock`, as yarn classic (v1: `# yarn lockfile v1`, `key "value"` lines) and yarn
//! berry (2+: YAML with a `__metadata` entry) write it: entries keyed by the descriptors they
//! resolve (`debug@^4.3.4, debug@^4.1.0` / `"debug@npm:^4.3.4, debug@npm:^4.1.0"`), each with
//! its `version`. Read for locked versions, and edited only in two ways before the tool
//! rewrites the whole file: a descriptor taken out (so yarn resolves it anew) or renamed.

use serde_json::Value;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    /// yarn 1.
    Classic,
    /// yarn 2 and later.
    Berry,
}

/// One top-level entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The descriptors it resolves, as written in the key (quotes removed).
    pub descriptors: Vec<String>,
    pub version: Option<String>,
    /// berry's `resolution` (`debug@npm:4.3.7`, `app@workspace:packages/app`).
    pub resolution: Option<String>,
    /// Byte range of the entry: its key line up to the next top-level line.
    pub start: usize,
    pub end: usize,
    /// Byte range of the key line (without its line end).
    pub key_end: usize,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct YarnLock {
    pub flavor: Flavor,
    /// berry's `__metadata.version` (the lockfile format).
    pub metadata_version: Option<String>,
    pub entries: Vec<Entry>,
}

/// Remove one pair of surrounding double quotes, decoding JSON escapes (yarn quotes with
/// `JSON.stringify`); anything else is returned as it is.
fn unquote(text: &str) -> String {
    let t = text.trim();
    if t.len() >= 2 && t.starts_with('"') && t.ends_with('"') {
        if let Ok(Value::String(s)) = serde_json::from_str::<Value>(t) {
            return s;
        }
        return t[1..t.len() - 1].to_string();
    }
    if t.len() >= 2 && t.starts_with('\'') && t.ends_with('\'') {
        return t[1..t.len() - 1].replace("''", "'");
    }
    t.to_string()
}

/// Split `text` at top-level commas (not inside double quotes).
fn split_commas(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut in_quotes = false;
    let mut escaped = false;
    let mut start = 0;
    for (i, c) in text.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' if in_quotes => escaped = true,
            '"' => in_quotes = !in_quotes,
            ',' if !in_quotes => {
                out.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&text[start..]);
    out
}

/// The descriptors of a key line (`a@^1, "b@^2":` or `"a@npm:^1, a@npm:^2":`).
fn key_descriptors(line: &str) -> Vec<String> {
    let key = line.trim_end();
    let key = key.strip_suffix(':').unwrap_or(key);
    let mut out = Vec::new();
    for part in split_commas(key) {
        for d in unquote(part).split(',') {
            let d = d.trim();
            if !d.is_empty() {
                out.push(d.to_string());
            }
        }
    }
    out
}

/// `key value` (classic) or `key: value` (berry) on an entry's field line: the key and the
/// value with quotes removed (`None` for a block opener like `dependencies:`).
fn field(line: &str) -> Option<(String, Option<String>)> {
    let t = line.trim();
    if t.is_empty() || t.starts_with('#') {
        return None;
    }
    let (key, rest) = if let Some(stripped) = t.strip_prefix('"') {
        let close = stripped.find('"')?;
        (
            unquote(&t[..close + 2]),
            t[close + 2..].trim_start_matches(':').trim(),
        )
    } else {
        let end = t.find([' ', ':']).unwrap_or(t.len());
        (
            t[..end].to_string(),
            t[end..].trim_start_matches(':').trim(),
        )
    };
    let value = (!rest.is_empty()).then(|| unquote(rest));
    Some((key, value))
}

/// Read a `yarn.lock`. `Err` says what is wrong (with the line).
pub fn parse(text: &str) -> Result<YarnLock, String> {
    let mut entries: Vec<Entry> = Vec::new();
    let mut metadata_version = None;
    let mut berry = false;
    let mut in_metadata = false;
    let mut entry_lines: Vec<usize> = Vec::new();
    let mut offset = 0;
    for (number, raw) in text.split_inclusive('\n').enumerate() {
        let line = raw.trim_end_matches(['\n', '\r']);
        let start = offset;
        offset += raw.len();
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        let indent = line.len() - line.trim_start().len();
        if indent == 0 {
            if let Some(last) = entries.last_mut() {
                last.end = start;
            }
            in_metadata = false;
            if line.trim_end() == "__metadata:" {
                berry = true;
                in_metadata = true;
                continue;
            }
            if !line.trim_end().ends_with(':') {
                return Err(format!(
                    "line {}: `{}` is not an entry key",
                    number + 1,
                    crate::lock::yarn::show(line)
                ));
            }
            let descriptors = key_descriptors(line);
            if descriptors.is_empty() {
                return Err(format!("line {}: an entry without descriptors", number + 1));
            }
            if line.matches('"').count() % 2 == 1 {
                return Err(format!(
                    "line {}: `{}` has an unclosed quote",
                    number + 1,
                    show(line)
                ));
            }
            // Every descriptor is `name@range` (`@scope/name@range`).
            if let Some(bad) = descriptors
                .iter()
                .find(|d| d.get(1..).is_none_or(|rest| !rest.contains('@')))
            {
                return Err(format!(
                    "line {}: `{}` is not a package descriptor",
                    number + 1,
                    show(bad)
                ));
            }
            entry_lines.push(number + 1);
            entries.push(Entry {
                descriptors,
                version: None,
                resolution: None,
                start,
                end: text.len(),
                key_end: start + line.len(),
            });
            continue;
        }
        if indent != 2 {
            continue;
        }
        let Some((key, value)) = field(line) else {
            continue;
        };
        if in_metadata {
            if key == "version" {
                metadata_version = value;
            }
            continue;
        }
        let Some(entry) = entries.last_mut() else {
            return Err(format!(
                "line {}: an indented line before any entry",
                number + 1
            ));
        };
        match key.as_str() {
            "version" => entry.version = value,
            "resolution" => entry.resolution = value,
            _ => {}
        }
    }
    // yarn writes a version into every entry (berry's workspaces too).
    if let Some((entry, line)) = entries
        .iter()
        .zip(&entry_lines)
        .find(|(e, _)| e.version.is_none())
    {
        return Err(format!(
            "line {line}: the entry for `{}` has no version",
            show(&entry.descriptors.join(", "))
        ));
    }
    Ok(YarnLock {
        flavor: if berry {
            Flavor::Berry
        } else {
            Flavor::Classic
        },
        metadata_version,
        entries,
    })
}

/// A line shortened for messages.
pub(crate) fn show(line: &str) -> String {
    let mut s: String = line.chars().take(80).collect();
    if line.chars().count() > 80 {
        s.push('…');
    }
    s
}

impl YarnLock {
    /// How a `package.json` spec of `name` appears among this lock's descriptors:
    /// `name@^1.2.3` (classic), `name@npm:^1.2.3` (berry adds the default protocol).
    pub fn descriptor(&self, name: &str, spec: &str) -> String {
        let spec = spec.trim();
        match self.flavor {
            Flavor::Classic => format!("{name}@{spec}"),
            Flavor::Berry if has_protocol(spec) => format!("{name}@{spec}"),
            Flavor::Berry => format!("{name}@npm:{spec}"),
        }
    }

    pub fn entry(&self, descriptor: &str) -> Option<&Entry> {
        self.entries
            .iter()
            .find(|e| e.descriptors.iter().any(|d| d == descriptor))
    }

    /// The version locked for `descriptor`.
    pub fn version_of(&self, descriptor: &str) -> Option<&str> {
        self.entry(descriptor)?.version.as_deref()
    }

    /// berry: the workspaces the lock knows (`.`, `packages/a`), from `@workspace:` entries.
    pub fn workspaces(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .entries
            .iter()
            .filter_map(|e| {
                let r = e.resolution.as_deref()?;
                let at = r.get(1..)?.find('@')? + 1;
                r[at + 1..].strip_prefix("workspace:").map(str::to_string)
            })
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// The key line of `descriptors` as this flavor writes it.
    fn key_line(&self, descriptors: &[String]) -> String {
        let quote = |s: &str| serde_json::to_string(s).unwrap_or_else(|_| format!("\"{s}\""));
        match self.flavor {
            Flavor::Classic => format!(
                "{}:",
                descriptors
                    .iter()
                    .map(|d| quote(d))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Flavor::Berry => format!("{}:", quote(&descriptors.join(", "))),
        }
    }
}

fn has_protocol(spec: &str) -> bool {
    // `npm:`, `workspace:`, `patch:`, `file:`, `git+ssh:`, … (a range never has a colon).
    spec.split_once(':').is_some_and(|(p, _)| {
        !p.is_empty()
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '+' || c == '-')
    })
}

/// `text` with `descriptor` no longer locked: taken out of its entry's key, or the entry
/// removed when it was the only one. `None`: the lock does not have it.
pub fn remove_descriptor(text: &str, descriptor: &str) -> Option<String> {
    let lock = parse(text).ok()?;
    let entry = lock.entry(descriptor)?;
    if entry.descriptors.len() == 1 {
        return Some(format!("{}{}", &text[..entry.start], &text[entry.end..]));
    }
    let rest: Vec<String> = entry
        .descriptors
        .iter()
        .filter(|d| *d != descriptor)
        .cloned()
        .collect();
    Some(format!(
        "{}{}{}",
        &text[..entry.start],
        lock.key_line(&rest),
        &text[entry.key_end..]
    ))
}

/// `text` with the entry of `from` keyed by `to` instead (and `to` taken out of any other
/// entry first). `None`: the lock does not have `from`.
pub fn rename_descriptor(text: &str, from: &str, to: &str) -> Option<String> {
    if from == to {
        return Some(text.to_string());
    }
    let lock = parse(text).ok()?;
    let source = lock.entry(from)?.start;
    let text = match lock.entry(to) {
        Some(other) if other.start != source => remove_descriptor(text, to)?,
        _ => text.to_string(),
    };
    let lock = parse(&text).ok()?;
    let entry = lock.entry(from)?;
    let mut descriptors: Vec<String> = entry
        .descriptors
        .iter()
        .filter(|d| *d != to)
        .map(|d| if d == from { to.to_string() } else { d.clone() })
        .collect();
    descriptors.sort();
    descriptors.dedup();
    Some(format!(
        "{}{}{}",
        &text[..entry.start],
        lock.key_line(&descriptors),
        &text[entry.key_end..]
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLASSIC: &str = "# THIS IS AN AUTOGENERATED FILE. DO NOT EDIT THIS FILE DIRECTLY.\n# yarn lockfile v1\n\n\n\"@acme/widget@^1.0.0\":\n  version \"1.1.0\"\n  resolved \"http://r/@acme/widget/-/widget-1.1.0.tgz#cc\"\n  integrity sha512-V1==\n\ndebug@^4.1.0, debug@^4.3.4:\n  version \"4.3.4\"\n  dependencies:\n    ms \"2.1.2\"\n\nms@2.1.2:\n  version \"2.1.2\"\n";

    const BERRY: &str = "# This file is generated by running \"yarn install\" inside your project.\n# Manual changes might be lost - proceed with caution!\n\n__metadata:\n  version: 8\n  cacheKey: 10c0\n\n\"debug@npm:^4.1.0, debug@npm:^4.3.4\":\n  version: 4.3.4\n  resolution: \"debug@npm:4.3.4\"\n  dependencies:\n    ms: \"npm:2.1.2\"\n  languageName: node\n  linkType: hard\n\n\"demo@workspace:.\":\n  version: 0.0.0-use.local\n  resolution: \"demo@workspace:.\"\n  languageName: unknown\n  linkType: soft\n\n\"lib@workspace:packages/lib\":\n  version: 0.0.0-use.local\n  resolution: \"lib@workspace:packages/lib\"\n";

    #[test]
    fn classic_entries_and_versions() {
        let lock = parse(CLASSIC).unwrap();
        assert_eq!(lock.flavor, Flavor::Classic);
        assert_eq!(lock.entries.len(), 3);
        assert_eq!(lock.version_of("@acme/widget@^1.0.0"), Some("1.1.0"));
        assert_eq!(
            lock.version_of(&lock.descriptor("debug", "^4.3.4")),
            Some("4.3.4")
        );
        assert_eq!(lock.version_of("ms@2.1.2"), Some("2.1.2"));
        assert_eq!(lock.version_of("ms@^2"), None);
    }

    #[test]
    fn berry_entries_metadata_and_workspaces() {
        let lock = parse(BERRY).unwrap();
        assert_eq!(lock.flavor, Flavor::Berry);
        assert_eq!(lock.metadata_version.as_deref(), Some("8"));
        assert_eq!(lock.descriptor("debug", "^4.3.4"), "debug@npm:^4.3.4");
        assert_eq!(lock.descriptor("x", "npm:debug@^4"), "x@npm:debug@^4");
        assert_eq!(lock.version_of("debug@npm:^4.3.4"), Some("4.3.4"));
        assert_eq!(lock.workspaces(), [".", "packages/lib"]);
    }

    #[test]
    fn descriptors_are_removed_and_renamed() {
        let one = remove_descriptor(CLASSIC, "debug@^4.3.4").unwrap();
        assert!(
            one.contains("\n\"debug@^4.1.0\":\n  version \"4.3.4\""),
            "{one}"
        );
        let gone = remove_descriptor(CLASSIC, "ms@2.1.2").unwrap();
        assert!(!gone.contains("ms@2.1.2:"), "{gone}");
        assert_eq!(parse(&gone).unwrap().entries.len(), 2);
        let renamed = rename_descriptor(CLASSIC, "ms@2.1.2", "ms@^2.1.0").unwrap();
        assert_eq!(
            parse(&renamed).unwrap().version_of("ms@^2.1.0"),
            Some("2.1.2")
        );
        let berry = rename_descriptor(BERRY, "debug@npm:^4.3.4", "debug@npm:4.3.4").unwrap();
        assert!(
            berry.contains("\n\"debug@npm:4.3.4, debug@npm:^4.1.0\":\n"),
            "{berry}"
        );
        assert_eq!(remove_descriptor(CLASSIC, "nope@1"), None);
    }

    #[test]
    fn bad_text_is_an_error_not_a_panic() {
        assert!(parse("  version \"1\"\n").is_err());
        assert!(parse("not a key\n").is_err());
        // What yarn never writes: an unclosed quote, a key that is no descriptor, an entry
        // without a version.
        let err = parse("\"debug@4.3.4:\n  version \"4.3.4\"\n").unwrap_err();
        assert!(
            err.contains("line 1") && err.contains("unclosed quote"),
            "{err}"
        );
        let err = parse("debug:\n  version \"4.3.4\"\n").unwrap_err();
        assert!(err.contains("not a package descriptor"), "{err}");
        let err = parse("a@^1:\n  version \"1.0.0\"\n\nb@^2:\n  resolved \"x\"\n").unwrap_err();
        assert!(
            err.contains("line 4") && err.contains("b@^2") && err.contains("no version"),
            "{err}"
        );
        for text in ["\"", ":\n", "\"a\":\n  \"", "é:\n  \"é", "a:\n  version"] {
            let _ = parse(text);
        }
    }
}

//! Variable expansion in image references, shared by the managers that allow it
//! (Dockerfile `ARG`s, GitLab CI `variables:`): `$NAME`, `${NAME}` and the shell forms
//! `${NAME:-default}`, `${NAME-default}`, `${NAME:+word}`. Each expanded byte keeps the file
//! offset it came from, so a tag read from a variable's value is edited in that value.

use crate::image::Located;
use std::collections::BTreeMap;

/// Bytes `start..end` of `located`, with their offsets.
pub fn slice(located: &Located, start: usize, end: usize) -> Located {
    Located {
        text: located.text.get(start..end).unwrap_or_default().to_string(),
        sources: located.sources.get(start..end).unwrap_or_default().to_vec(),
    }
}

/// Longest expansion kept: far beyond any image reference, and a bound on values that
/// double with each variable (`A: $B$B`, `B: $C$C`, …).
pub const MAX_EXPANDED: usize = 4096;

/// Variables in scope: name → value (`None`: declared without a value the bot can know).
pub type Scope = BTreeMap<String, Option<Located>>;

/// Expands `$NAME`, `${NAME}`, `${NAME:-default}`, `${NAME-default}`, `${NAME:+word}` in
/// `word`. `None` when a variable has no value the bot can know.
pub fn expand(word: &Located, scope: &Scope, depth: usize) -> Option<Located> {
    if depth > 8 {
        return None;
    }
    let text = &word.text;
    let bytes = text.as_bytes();
    let mut out = Located::default();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'$' {
            let next = text[i..].find('$').map(|k| i + k).unwrap_or(bytes.len());
            out.append(&slice(word, i, next));
            i = next;
            continue;
        }
        if bytes.get(i + 1) == Some(&b'{') {
            let close = closing_brace(bytes, i + 2)?;
            let inner_start = i + 2;
            let inner = &text[inner_start..close];
            let name_len = inner
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(inner.len());
            let name = &inner[..name_len];
            let modifier = &inner[name_len..];
            let value = scope.get(name).cloned().flatten();
            let set = value.as_ref().is_some_and(|v| !v.text.is_empty());
            let resolved = if modifier.starts_with(":-") {
                if set {
                    value
                } else {
                    let d = slice(word, inner_start + name_len + 2, close);
                    expand(&d, scope, depth + 1)
                }
            } else if modifier.starts_with('-') {
                if value.is_some() {
                    value
                } else {
                    let d = slice(word, inner_start + name_len + 1, close);
                    expand(&d, scope, depth + 1)
                }
            } else if modifier.starts_with(":+") {
                if set {
                    let d = slice(word, inner_start + name_len + 2, close);
                    expand(&d, scope, depth + 1)
                } else {
                    Some(Located::default())
                }
            } else if modifier.is_empty() && !name.is_empty() {
                value
            } else {
                None
            };
            let resolved = resolved?;
            if out.text.len() + resolved.text.len() > MAX_EXPANDED {
                return None;
            }
            out.append(&resolved);
            i = close + 1;
        } else {
            let rest = &text[i + 1..];
            let name_len = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            if name_len == 0 {
                out.push_str("$", word.sources.get(i).copied().flatten());
                i += 1;
                continue;
            }
            let name = &rest[..name_len];
            let value = scope.get(name).and_then(Option::as_ref)?;
            if out.text.len() + value.text.len() > MAX_EXPANDED {
                return None;
            }
            out.append(value);
            i += 1 + name_len;
        }
    }
    (out.text.len() <= MAX_EXPANDED).then_some(out)
}

/// The `}` closing a `${` whose body starts at `from`, nested `${…}` skipped.
fn closing_brace(bytes: &[u8], from: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut i = from;
    while i < bytes.len() {
        match bytes[i] {
            b'$' if bytes.get(i + 1) == Some(&b'{') => {
                depth += 1;
                i += 1;
            }
            b'}' if depth == 0 => return Some(i),
            b'}' => depth -= 1,
            _ => {}
        }
        i += 1;
    }
    None
}

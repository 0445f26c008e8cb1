//! Format-preserving edits: replace recorded spans, then re-parse to confirm.

use crate::dependency::{Dependency, Span};
use crate::manifest::{Manager, ManifestError};
use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EditError {
    #[error(
        "{path}: edit at bytes {start}..{end} is outside the file or not on a character boundary"
    )]
    OutOfBounds {
        path: String,
        start: usize,
        end: usize,
    },
    #[error("{path}: edits at bytes {first} and {second} overlap")]
    Overlap {
        path: String,
        first: usize,
        second: usize,
    },
    #[error("{path}: the edited file no longer parses: {source}")]
    Reparse {
        path: String,
        #[source]
        source: ManifestError,
    },
    #[error(
        "{path}: `{name}` cannot become `{value}`: only part of its value is written at its place in the file, and the text around that part (`{fixed}`) must stay"
    )]
    FixedText {
        path: String,
        name: String,
        value: String,
        fixed: String,
    },
    #[error("{path}: after the edit `{name}` reads `{found}`, expected `{expected}`")]
    NotConfirmed {
        path: String,
        name: String,
        found: String,
        expected: String,
    },
}

/// One replacement: the text at `span` becomes `text`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Replacement {
    pub span: Span,
    pub text: String,
}

/// Apply non-overlapping replacements to `content`. Pure; no parsing.
pub fn apply_replacements(
    path: &str,
    content: &str,
    replacements: &[Replacement],
) -> Result<String, EditError> {
    let mut sorted: Vec<&Replacement> = replacements.iter().collect();
    sorted.sort_by_key(|r| (r.span.start, r.span.end));
    for pair in sorted.windows(2) {
        if pair[0].span.end > pair[1].span.start {
            return Err(EditError::Overlap {
                path: path.to_string(),
                first: pair[0].span.start,
                second: pair[1].span.start,
            });
        }
    }
    let mut out = String::with_capacity(content.len() + 64);
    let mut cursor = 0;
    for r in sorted {
        if r.span.end > content.len()
            || !content.is_char_boundary(r.span.start)
            || !content.is_char_boundary(r.span.end)
        {
            return Err(EditError::OutOfBounds {
                path: path.to_string(),
                start: r.span.start,
                end: r.span.end,
            });
        }
        out.push_str(&content[cursor..r.span.start]);
        out.push_str(&r.text);
        cursor = r.span.end;
    }
    out.push_str(&content[cursor..]);
    Ok(out)
}

/// A new version text for the dependency at `index` in the manager's extraction order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValueEdit {
    pub index: usize,
    pub new_value: String,
}

/// Replace the version text of the given dependencies and confirm, by parsing the result
/// again, that each now reads the new value and nothing else moved.
pub fn edit_values(
    manager: &dyn Manager,
    path: &str,
    content: &str,
    edits: &[ValueEdit],
) -> Result<String, EditError> {
    let before = manager
        .extract(path, content)
        .map_err(|source| EditError::Reparse {
            path: path.to_string(),
            source,
        })?;
    let mut replacements: Vec<Replacement> = Vec::with_capacity(edits.len());
    for edit in edits {
        let dep = before.dependencies.get(edit.index);
        let span = dep
            .and_then(|d| d.span)
            .ok_or_else(|| EditError::OutOfBounds {
                path: path.to_string(),
                start: 0,
                end: 0,
            })?;
        let text = match dep {
            Some(d) => in_span(d, &edit.new_value).ok_or_else(|| EditError::FixedText {
                path: path.to_string(),
                name: d.name.clone(),
                value: edit.new_value.clone(),
                fixed: fixed_text(d),
            })?,
            None => edit.new_value.clone(),
        };
        // One text used by several dependencies (a variable several images use) is
        // replaced once; two different texts for it overlap, and are refused below.
        if replacements
            .iter()
            .any(|r| r.span == span && r.text == text)
        {
            continue;
        }
        replacements.push(Replacement { span, text });
    }
    let after_text = apply_replacements(path, content, &replacements)?;
    let after = manager
        .extract(path, &after_text)
        .map_err(|source| EditError::Reparse {
            path: path.to_string(),
            source,
        })?;
    if after.dependencies.len() != before.dependencies.len() {
        return Err(EditError::NotConfirmed {
            path: path.to_string(),
            name: "(dependency count)".to_string(),
            found: after.dependencies.len().to_string(),
            expected: before.dependencies.len().to_string(),
        });
    }
    for (i, (old, new)) in before
        .dependencies
        .iter()
        .zip(&after.dependencies)
        .enumerate()
    {
        // A dependency not edited itself moves with an edit of the text it shares.
        let shared = old.span.and_then(|span| {
            replacements
                .iter()
                .find(|r| r.span == span)
                .map(|r| with_part(old, &r.text))
        });
        let expected = edits
            .iter()
            .find(|e| e.index == i)
            .map(|e| e.new_value.clone())
            .or(shared)
            .unwrap_or_else(|| old.current_value.clone());
        if new.name != old.name || new.current_value != expected {
            return Err(EditError::NotConfirmed {
                path: path.to_string(),
                name: old.name.clone(),
                found: format!("{} {}", new.name, new.current_value),
                expected: format!("{} {}", old.name, expected),
            });
        }
    }
    Ok(after_text)
}

/// The fixed text of `dep`'s value around its span's part (`…` marks the part).
fn fixed_text(dep: &Dependency) -> String {
    let value = &dep.current_value;
    match dep.span_part {
        Some((a, b)) => format!(
            "{}…{}",
            value.get(..a).unwrap_or_default(),
            value.get(b..).unwrap_or_default()
        ),
        None => String::new(),
    }
}

/// The text the span of `dep` takes for `new_value`: all of it, or, when the span holds part
/// of the value, that part (`None` when `new_value` does not keep the fixed text around it).
pub fn in_span(dep: &Dependency, new_value: &str) -> Option<String> {
    let Some((a, b)) = dep.span_part else {
        return Some(new_value.to_string());
    };
    let value = &dep.current_value;
    let (prefix, suffix) = (value.get(..a)?, value.get(b..)?);
    let part = new_value
        .strip_prefix(prefix)?
        .strip_suffix(suffix)
        .filter(|p| !p.is_empty())?;
    Some(part.to_string())
}

/// `dep`'s value once the text at its span reads `text`.
fn with_part(dep: &Dependency, text: &str) -> String {
    let value = &dep.current_value;
    match dep.span_part {
        Some((a, b)) => format!(
            "{}{text}{}",
            value.get(..a).unwrap_or_default(),
            value.get(b..).unwrap_or_default()
        ),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replacements_apply_from_any_order() {
        let text = "a==1\nb==2\n";
        let out = apply_replacements(
            "r.txt",
            text,
            &[
                Replacement {
                    span: Span::new(8, 9),
                    text: "3".into(),
                },
                Replacement {
                    span: Span::new(3, 4),
                    text: "10".into(),
                },
            ],
        )
        .unwrap();
        assert_eq!(out, "a==10\nb==3\n");
    }

    #[test]
    fn overlapping_replacements_are_refused() {
        let err = apply_replacements(
            "r.txt",
            "abcdef",
            &[
                Replacement {
                    span: Span::new(0, 3),
                    text: "x".into(),
                },
                Replacement {
                    span: Span::new(2, 4),
                    text: "y".into(),
                },
            ],
        )
        .unwrap_err();
        assert!(matches!(err, EditError::Overlap { .. }));
    }

    #[test]
    fn out_of_bounds_is_an_error_not_a_panic() {
        let err = apply_replacements(
            "r.txt",
            "é",
            &[Replacement {
                span: Span::new(1, 2),
                text: "x".into(),
            }],
        )
        .unwrap_err();
        assert!(matches!(err, EditError::OutOfBounds { .. }));
    }
}

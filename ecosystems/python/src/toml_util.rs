//! Reading TOML manifests with the byte spans of their strings (`toml_edit::Document`).

use crate::requirement::{normalize_name, parse_requirement};
use toml_edit::{Document, Item};
use updatebot_core::dependency::{line_of, Dependency, SkipReason, Span};
use updatebot_core::ManifestError;
use updatebot_core::VersionScheme;

pub(crate) fn parse_document<'a>(
    path: &str,
    content: &'a str,
) -> Result<Document<&'a str>, ManifestError> {
    Document::parse(content).map_err(|e| {
        let line = e.span().map(|s| line_of(content, s.start));
        let message = e
            .message()
            .lines()
            .next()
            .unwrap_or("invalid TOML")
            .to_string();
        ManifestError::new(path, line, format!("invalid TOML: {message}"))
    })
}

/// 1-based line of an item, when it has a span.
pub(crate) fn item_line(item: &Item, content: &str) -> Option<usize> {
    item.span().map(|s| line_of(content, s.start))
}

/// A string value and the span of its text inside the quotes, when the raw text equals the
/// value (no escapes), so it can be edited in place.
pub(crate) fn string_with_span(item: &Item, content: &str) -> Option<(String, Option<Span>)> {
    let value = item.as_str()?.to_string();
    let span = item.span().and_then(|range| {
        let start = inner_start(content, range.clone(), &value)?;
        Some(Span::new(start, start + value.len()))
    });
    Some((value, span))
}

/// The offset where a string literal's text starts, when that text equals `value` verbatim.
fn inner_start(content: &str, range: std::ops::Range<usize>, value: &str) -> Option<usize> {
    let raw = content.get(range.clone())?;
    let quote = if raw.starts_with("\"\"\"") || raw.starts_with("'''") {
        3
    } else {
        1
    };
    let inner = raw.get(quote..raw.len().checked_sub(quote)?)?;
    (inner == value).then_some(range.start + quote)
}

/// Where an expected-type problem is reported.
pub(crate) fn type_error(
    path: &str,
    content: &str,
    item: &Item,
    key: &str,
    expected: &str,
) -> ManifestError {
    ManifestError::new(
        path,
        item_line(item, content),
        format!("`{key}` must be {expected}, found {}", item.type_name()),
    )
}

/// Dependencies from an array of PEP 508 strings (`dependencies = ["requests>=2", …]`).
/// Non-string entries are passed to `other` (PEP 735 `{include-group = …}` tables).
pub(crate) fn pep508_array(
    path: &str,
    content: &str,
    item: &Item,
    key: &str,
    dep_type: &str,
    development: bool,
    out: &mut Vec<Dependency>,
) -> Result<(), ManifestError> {
    let array = item
        .as_array()
        .ok_or_else(|| type_error(path, content, item, key, "an array of strings"))?;
    for value in array.iter() {
        let line = value.span().map(|s| line_of(content, s.start));
        let Some(text) = value.as_str() else {
            if value.is_inline_table() {
                continue; // {include-group = "…"}
            }
            return Err(ManifestError::new(
                path,
                line,
                format!(
                    "entries of `{key}` must be strings, found {}",
                    value.type_name()
                ),
            ));
        };
        let inner = value
            .span()
            .and_then(|range| inner_start(content, range, text));
        let parsed = parse_requirement(text).map_err(|m| ManifestError::new(path, line, m))?;
        let package = normalize_name(&parsed.name);
        let dep = if let Some(url) = &parsed.url {
            let reason = if url.starts_with("git+") {
                SkipReason::GitDependency
            } else if url.starts_with("file:") {
                SkipReason::PathDependency
            } else {
                SkipReason::UrlDependency
            };
            Dependency::new(
                &parsed.name,
                &package,
                url.as_str(),
                None,
                crate::pep440::SCHEME,
            )
            .skipped(reason)
        } else if let Some((spec, a, b)) = &parsed.specifier {
            let span = inner.map(|start| Span::new(start + a, start + b));
            let dep = Dependency::new(
                &parsed.name,
                &package,
                spec.as_str(),
                span,
                crate::pep440::SCHEME,
            );
            if spec.contains("===") {
                dep.skipped(SkipReason::UnsupportedVersion)
            } else if span.is_none() {
                dep.skipped(SkipReason::UnsupportedSyntax)
            } else {
                dep
            }
        } else {
            Dependency::new(&parsed.name, &package, "", None, crate::pep440::SCHEME)
                .skipped(SkipReason::Unpinned)
        };
        let mut dep = dep.with_dep_type(dep_type, development);
        if let Some(python) = parsed
            .marker
            .as_deref()
            .and_then(crate::markers::python_constraint)
        {
            dep.constraints.insert("python".into(), python);
        }
        out.push(dep);
    }
    Ok(())
}

/// A dependency whose version text is a TOML string value (Poetry, Pipfile): `*` or nothing is
/// unpinned, `===` is never rewritten, and text that cannot be edited in place is listed only.
pub(crate) fn table_dependency(
    name: &str,
    value: String,
    span: Option<Span>,
    scheme: &'static str,
) -> Dependency {
    let unpinned = matches!(value.trim(), "" | "*");
    let arbitrary = value.contains("===");
    let valid = match scheme {
        crate::poetry::SCHEME => crate::poetry::Poetry.is_valid_range(&value),
        _ => crate::pep440::Pep440.is_valid_range(&value),
    };
    let dep = Dependency::new(name, normalize_name(name), value, span, scheme);
    if unpinned {
        dep.skipped(SkipReason::Unpinned)
    } else if arbitrary {
        dep.skipped(SkipReason::UnsupportedVersion)
    } else if !valid {
        dep.skipped(SkipReason::InvalidVersion)
    } else if span.is_none() {
        dep.skipped(SkipReason::UnsupportedSyntax)
    } else {
        dep
    }
}

/// The Python a Poetry or Pipfile dependency table limits itself to: its `python` key (Poetry
/// syntax) or the Python bounds of its `markers`.
pub(crate) fn table_python(table: &dyn toml_edit::TableLike) -> Option<String> {
    table
        .get("python")
        .and_then(Item::as_str)
        .map(str::to_string)
        .or_else(|| {
            table
                .get("markers")
                .and_then(Item::as_str)
                .and_then(crate::markers::python_constraint)
        })
}

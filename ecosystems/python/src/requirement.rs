//! PEP 508 requirement strings, read with the byte positions of their parts so the version
//! specifier can be rewritten in place. Validation is delegated to `pep508_rs`.

use pep508_rs::{Requirement, VerbatimUrl};
use std::str::FromStr;

/// PEP 503 normalisation: lower case, runs of `-`, `_`, `.` become one `-`.
pub fn normalize_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut separator = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            separator = true;
        } else {
            if separator && !out.is_empty() {
                out.push('-');
            }
            separator = false;
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

/// What a requirement's text says, with byte ranges into that text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedRequirement {
    pub name: String,
    pub extras: Vec<String>,
    /// The version specifier set, trimmed (`>=1.2, <2`), and its byte range.
    pub specifier: Option<(String, usize, usize)>,
    /// `name @ url`
    pub url: Option<String>,
    pub marker: Option<String>,
}

/// A PEP 508 name or extra: letters, digits, `-`, `_`, `.`, starting and ending with a letter
/// or digit.
fn is_valid_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric())
        && name.chars().all(is_name_char)
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')
}

/// Deepest parenthesised marker accepted. `pep508_rs` parses markers recursively, and a few
/// thousand `(` overflow the stack; real markers nest two or three levels.
const MAX_NESTING: usize = 32;

/// How deep the parentheses of `text` nest.
fn nesting(text: &str) -> usize {
    let (mut depth, mut deepest) = (0usize, 0usize);
    for b in text.bytes() {
        match b {
            b'(' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b')' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

/// Read a PEP 508 requirement. The error is one line, for a message naming file and line.
pub fn parse_requirement(text: &str) -> Result<ParsedRequirement, String> {
    if nesting(text) > MAX_NESTING {
        return Err(format!(
            "parentheses nested deeper than {MAX_NESTING} levels in `{}`",
            text.trim().chars().take(80).collect::<String>()
        ));
    }
    let bytes = text.as_bytes();
    let mut i = 0;
    let skip_ws = |i: &mut usize| {
        while *i < bytes.len() && bytes[*i].is_ascii_whitespace() {
            *i += 1;
        }
    };
    skip_ws(&mut i);
    let name_start = i;
    while i < bytes.len() && is_name_char(bytes[i] as char) {
        i += 1;
    }
    let name = &text[name_start..i];
    if name.is_empty()
        || !name.starts_with(|c: char| c.is_ascii_alphanumeric())
        || !name.ends_with(|c: char| c.is_ascii_alphanumeric())
    {
        return Err(format!("expected a package name in `{}`", text.trim()));
    }
    skip_ws(&mut i);
    let mut extras = Vec::new();
    if i < bytes.len() && bytes[i] == b'[' {
        let close = text[i..]
            .find(']')
            .map(|p| p + i)
            .ok_or_else(|| format!("unclosed `[` in `{}`", text.trim()))?;
        extras = text[i + 1..close]
            .split(',')
            .map(|e| e.trim().to_string())
            .filter(|e| !e.is_empty())
            .collect();
        // Checked here: `pep508_rs` panics on an extra that its own parser let through but
        // its name rule refuses (`[x-]`).
        if let Some(bad) = extras.iter().find(|e| !is_valid_name(e)) {
            return Err(format!("invalid extra `{bad}` in `{}`", text.trim()));
        }
        i = close + 1;
        skip_ws(&mut i);
    }
    let mut url = None;
    let mut specifier = None;
    if i < bytes.len() && bytes[i] == b'@' {
        i += 1;
        skip_ws(&mut i);
        let start = i;
        while i < bytes.len() && !bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        // A `;` glued to the URL belongs to the URL (PEP 508 needs a space before markers).
        url = Some(text[start..i].to_string());
        skip_ws(&mut i);
    } else {
        let paren = i < bytes.len() && bytes[i] == b'(';
        if paren {
            i += 1;
        }
        let start = i;
        while i < bytes.len() && bytes[i] != b';' && !(paren && bytes[i] == b')') {
            i += 1;
        }
        let raw = &text[start..i];
        let lead = raw.len() - raw.trim_start().len();
        let spec = raw.trim();
        if !spec.is_empty() {
            specifier = Some((spec.to_string(), start + lead, start + lead + spec.len()));
        }
        if paren {
            if i >= bytes.len() || bytes[i] != b')' {
                return Err(format!("unclosed `(` in `{}`", text.trim()));
            }
            i += 1;
            skip_ws(&mut i);
        }
    }
    let marker = if i < bytes.len() && bytes[i] == b';' {
        Some(text[i + 1..].trim().to_string())
    } else if i < bytes.len() {
        return Err(format!(
            "unexpected `{}` in `{}`",
            &text[i..].trim(),
            text.trim()
        ));
    } else {
        None
    };
    if url.is_none() {
        Requirement::<VerbatimUrl>::from_str(text.trim()).map_err(|e| {
            let message = e.message.to_string();
            format!(
                "invalid requirement `{}`: {}",
                text.trim(),
                message.lines().next().unwrap_or_default()
            )
        })?;
    }
    Ok(ParsedRequirement {
        name: name.to_string(),
        extras,
        specifier,
        url,
        marker,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the fuzzer (`fuzz/regressions/requirements`): `pep508_rs` panicked on an
    /// extra ending in `-`.
    #[test]
    fn extras_that_are_not_names_are_an_error_not_a_panic() {
        for bad in ["u[er1i-]", "u[-a]", "u[a, b.]", "u[a b]"] {
            let e = parse_requirement(bad).unwrap_err();
            assert!(e.starts_with("invalid extra"), "{bad}: {e}");
        }
        let ok = parse_requirement("u[security, socks_5.x]>=1").unwrap();
        assert_eq!(ok.extras, ["security", "socks_5.x"]);
    }

    #[test]
    fn deeply_nested_markers_are_an_error_not_a_stack_overflow() {
        let deep = format!(
            "a==1; {}python_version > '3'{}",
            "(".repeat(5_000),
            ")".repeat(5_000)
        );
        let e = parse_requirement(&deep).unwrap_err();
        assert!(
            e.starts_with("parentheses nested deeper than 32 levels"),
            "{e}"
        );
        let fine = "a==1; (python_version > '3' and (os_name == 'nt' or (sys_platform == 'x')))";
        assert!(parse_requirement(fine).is_ok());
    }

    #[test]
    fn names_normalise_per_pep503() {
        assert_eq!(normalize_name("Python_Dateutil"), "python-dateutil");
        assert_eq!(normalize_name("zope.interface"), "zope-interface");
        assert_eq!(normalize_name("a__-.b"), "a-b");
    }

    #[test]
    fn spans_cover_exactly_the_specifier() {
        let text = "requests [security] >= 2.8.1, == 2.8.* ; python_version < \"2.7\"";
        let r = parse_requirement(text).unwrap();
        assert_eq!(r.name, "requests");
        assert_eq!(r.extras, ["security"]);
        let (spec, start, end) = r.specifier.unwrap();
        assert_eq!(spec, ">= 2.8.1, == 2.8.*");
        assert_eq!(&text[start..end], spec);
        assert_eq!(r.marker.as_deref(), Some("python_version < \"2.7\""));
    }

    #[test]
    fn legacy_parenthesised_specifiers() {
        let text = "name (>=1.0,<2)";
        let r = parse_requirement(text).unwrap();
        let (spec, start, end) = r.specifier.unwrap();
        assert_eq!(spec, ">=1.0,<2");
        assert_eq!(&text[start..end], ">=1.0,<2");
    }

    #[test]
    fn url_requirements() {
        let r = parse_requirement("pip @ https://example.org/pip-1.0.whl ; python_version>'3'")
            .unwrap();
        assert_eq!(r.url.as_deref(), Some("https://example.org/pip-1.0.whl"));
        assert!(r.specifier.is_none());
        assert!(r.marker.is_some());
    }

    #[test]
    fn non_ascii_urls_do_not_split_characters() {
        let r = parse_requirement("foo @ https://example.com/pkgs/à-1.0.whl").unwrap();
        assert_eq!(r.url.as_deref(), Some("https://example.com/pkgs/à-1.0.whl"));
        assert!(parse_requirement("b @ file:///Å ; python_version > '3'").is_ok());
        // Whatever the verdict on a non-breaking space, it is not a panic.
        let _ = parse_requirement("x\u{a0}==1 ; python_version > \"3\"");
    }

    #[test]
    fn bad_requirements_say_what_is_wrong() {
        assert!(parse_requirement("requests==2.0=").is_err());
        assert!(parse_requirement("==2.0")
            .unwrap_err()
            .contains("package name"));
        assert!(parse_requirement("requests[security").is_err());
        assert!(parse_requirement("requests ; python_version <").is_err());
        assert!(parse_requirement("requests==").is_err());
        assert!(parse_requirement("requests (>=1").is_err());
    }
}

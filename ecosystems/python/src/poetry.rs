//! Poetry's constraint syntax (`^1.2`, `~1.2`, `1.2.*`, `>=1,<2`, `a || b`) over PEP 440
//! versions.

use crate::pep440::{parse_specifiers, parse_version, with_precision, Pep440};
use pep440_rs::Version;
use std::cmp::Ordering;
use std::str::FromStr;
use updatebot_core::version::{
    RangeRequest, RangeStrategy, UpdateType, VersionError, VersionScheme,
};

pub const SCHEME: &str = "poetry";

/// Poetry's version constraints, as poetry-core reads them.
#[derive(Clone, Copy, Debug, Default)]
pub struct Poetry;

/// One `||` alternative, translated to a PEP 440 specifier set.
fn group_to_pep440(group: &str) -> Result<String, VersionError> {
    let invalid = |detail: &str| VersionError::InvalidRange {
        scheme: SCHEME,
        value: group.to_string(),
        detail: Some(detail.to_string()),
    };
    let mut out: Vec<String> = Vec::new();
    // Poetry separates AND-ed constraints with commas or spaces; an operator may be followed
    // by spaces (`>= 1.2`), so glue those back first.
    let mut atoms: Vec<String> = Vec::new();
    for token in group.split(|c: char| c == ',' || c.is_whitespace()) {
        if token.is_empty() {
            continue;
        }
        match atoms.last_mut() {
            Some(last)
                if last
                    .chars()
                    .all(|c| matches!(c, '<' | '>' | '=' | '!' | '~' | '^')) =>
            {
                last.push_str(token)
            }
            _ => atoms.push(token.to_string()),
        }
    }
    for atom in atoms {
        let atom = atom.as_str();
        if matches!(atom, "*" | "x" | "X") {
            continue;
        }
        if let Some(v) = atom.strip_prefix('^') {
            let version = parse_version(SCHEME, v)?;
            out.push(format!(">={v},<{}", caret_ceiling(&version)));
        } else if let Some(v) = atom.strip_prefix("~=") {
            out.push(format!("~={v}"));
        } else if let Some(v) = atom.strip_prefix('~') {
            let version = parse_version(SCHEME, v)?;
            out.push(format!(">={v},<{}", tilde_ceiling(&version)));
        } else if atom.starts_with(['<', '>', '=', '!']) {
            let atom = match atom.strip_prefix('=') {
                Some(rest) if !rest.starts_with('=') => format!("=={rest}"),
                _ => atom.to_string(),
            };
            out.push(atom);
        } else if atom.starts_with(|c: char| c.is_ascii_digit()) || atom.starts_with('v') {
            out.push(format!("=={}", atom.trim_start_matches('v')));
        } else {
            return Err(invalid(&format!("unknown constraint `{atom}`")));
        }
    }
    let joined = out.join(",");
    parse_specifiers(SCHEME, &joined)?;
    Ok(joined)
}

fn ceiling(release: &[u64], index: usize) -> String {
    let mut parts: Vec<u64> = release.iter().take(index + 1).copied().collect();
    while parts.len() <= index {
        parts.push(0);
    }
    parts[index] += 1;
    parts
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(".")
}

fn caret_ceiling(v: &Version) -> String {
    let release = v.release();
    let index = release
        .iter()
        .position(|c| *c != 0)
        .unwrap_or(release.len().saturating_sub(1));
    ceiling(release, index)
}

fn tilde_ceiling(v: &Version) -> String {
    let release = v.release();
    ceiling(release, if release.len() >= 2 { 1 } else { 0 })
}

fn groups(range: &str) -> Vec<&str> {
    range
        .split("||")
        .flat_map(|g| g.split('|'))
        .map(str::trim)
        .filter(|g| !g.is_empty())
        .collect()
}

/// Replace the last alternative of `text` (found at its last occurrence) by `with`.
fn replace_last(text: &str, last: &str, with: &str) -> String {
    match text.rfind(last) {
        Some(at) if !last.is_empty() => {
            format!("{}{with}{}", &text[..at], &text[at + last.len()..])
        }
        _ => with.to_string(),
    }
}

impl Poetry {
    fn group_satisfies(group: &str, version: &Version) -> Result<bool, VersionError> {
        let specs = parse_specifiers(SCHEME, &group_to_pep440(group)?)?;
        Ok(specs.iter().all(|s| s.contains(version)))
    }

    /// Rewrite one alternative for a bump to `new`.
    fn bump_group(group: &str, request: RangeRequest<'_>) -> Result<String, VersionError> {
        let new_text = request.new_version.trim();
        let new = parse_version(SCHEME, new_text)?;
        let keep = |prefix: &str, old: &str| -> Result<String, VersionError> {
            let old = parse_version(SCHEME, old)?;
            Ok(format!(
                "{prefix}{}",
                with_precision(new_text, &new, old.release().len())
            ))
        };
        let atom = group.trim();
        if let Some(old) = atom.strip_prefix('^') {
            return keep("^", old);
        }
        if let Some(old) = atom.strip_prefix('~').filter(|o| !o.starts_with('=')) {
            return keep("~", old);
        }
        if let Some(old) = atom
            .strip_suffix(".*")
            .filter(|o| !o.starts_with(['<', '>', '=', '!', '~']))
        {
            return keep("", old).map(|v| format!("{v}.*"));
        }
        // An exact version, bare (`1.2.3`) or with Poetry's single `=`.
        let (exact_prefix, exact) = match atom.strip_prefix('=') {
            Some(rest) if !rest.starts_with('=') => ("=", rest.trim_start()),
            _ => ("", atom),
        };
        if exact.starts_with(|c: char| c.is_ascii_digit()) && !exact.contains([',', ' ']) {
            let old = parse_version(SCHEME, exact)?;
            let k = old.release().len();
            let zeros_only = new.release().iter().skip(k).all(|c| *c == 0);
            let version = if zeros_only {
                with_precision(new_text, &new, k)
            } else {
                new_text.to_string()
            };
            return Ok(format!("{exact_prefix}{version}"));
        }
        // PEP 440-style clauses, AND-ed by commas or (Poetry) by spaces: rewrite them as one
        // comma-separated set, then put the original separators back.
        let mut clauses: Vec<String> = Vec::new();
        let mut separators: Vec<String> = Vec::new();
        let mut rest = atom;
        while !rest.is_empty() {
            let op_end = rest
                .find(|c: char| !matches!(c, '<' | '>' | '=' | '!' | '~'))
                .unwrap_or(rest.len());
            let after_op = &rest[op_end..];
            let gap = after_op.len() - after_op.trim_start().len();
            let body = &after_op[gap..];
            let end = body
                .find(|c: char| c == ',' || c.is_whitespace())
                .unwrap_or(body.len());
            clauses.push(rest[..op_end + gap + end].to_string());
            let tail = &body[end..];
            let sep_len = tail.len()
                - tail
                    .trim_start_matches(|c: char| c == ',' || c.is_whitespace())
                    .len();
            if sep_len > 0 && sep_len < tail.len() {
                separators.push(tail[..sep_len].to_string());
            }
            rest = &tail[sep_len..];
        }
        let joined = clauses.join(",");
        let rewritten = Pep440::rewrite(
            SCHEME,
            RangeRequest {
                current_value: &joined,
                strategy: match request.strategy {
                    RangeStrategy::Widen => RangeStrategy::Widen,
                    _ => RangeStrategy::Increase,
                },
                ..request
            },
        )?
        .unwrap_or(joined);
        let parts: Vec<&str> = rewritten.split(',').collect();
        if parts.len() != separators.len() + 1 {
            // The rewrite changed the number of clauses (a widened `~=`): keep commas.
            return Ok(rewritten);
        }
        let mut out = String::new();
        for (i, part) in parts.iter().enumerate() {
            out.push_str(part);
            if let Some(sep) = separators.get(i) {
                out.push_str(sep);
            }
        }
        Ok(out)
    }
}

impl VersionScheme for Poetry {
    fn name(&self) -> &'static str {
        SCHEME
    }

    // Versions are PEP 440's; only the constraint syntax is Poetry's.
    fn is_valid_version(&self, version: &str) -> bool {
        Pep440.is_valid_version(version)
    }

    fn is_valid_range(&self, range: &str) -> bool {
        groups(range).iter().all(|g| group_to_pep440(g).is_ok())
    }

    fn compare(&self, a: &str, b: &str) -> Result<Ordering, VersionError> {
        Pep440.compare(a, b)
    }

    fn is_prerelease(&self, version: &str) -> bool {
        Pep440.is_prerelease(version)
    }

    fn satisfies(&self, range: &str, version: &str) -> Result<bool, VersionError> {
        let version = parse_version(SCHEME, version)?;
        for group in groups(range) {
            if Poetry::group_satisfies(group, &version)? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn pinned_version(&self, range: &str) -> Option<String> {
        let range = range.trim();
        let bare = range
            .strip_prefix("==")
            .or_else(|| range.strip_prefix('=').filter(|r| !r.starts_with('=')))
            .unwrap_or(range)
            .trim();
        (bare.starts_with(|c: char| c.is_ascii_digit()) && Version::from_str(bare).is_ok())
            .then(|| bare.to_string())
    }

    fn update_type(&self, from: &str, to: &str) -> UpdateType {
        Pep440.update_type(from, to)
    }

    fn new_range(&self, request: RangeRequest<'_>) -> Result<Option<String>, VersionError> {
        let text = request.current_value;
        let new = parse_version(SCHEME, request.new_version)?;
        let alternatives = groups(text);
        let mut admits = false;
        for group in &alternatives {
            admits |= Poetry::group_satisfies(group, &new)?;
        }
        let out = match request.strategy {
            RangeStrategy::LockfileOnly => return Ok(None),
            RangeStrategy::Pin => request.new_version.trim().to_string(),
            RangeStrategy::Auto | RangeStrategy::IncreaseIfNecessary | RangeStrategy::Widen
                if admits =>
            {
                return Ok(None)
            }
            _ if alternatives.is_empty() => return Ok(None),
            RangeStrategy::Widen => {
                let last = alternatives.last().copied().unwrap_or_default();
                let added = Poetry::bump_group(last, request)?;
                if last.starts_with(['^', '~']) || !last.contains([',', '<', '>']) {
                    // A caret or exact alternative: add one for the new version.
                    format!("{} || {added}", text.trim_end())
                } else {
                    // A range: widen it in place, keeping the earlier alternatives.
                    replace_last(text, last, &added)
                }
            }
            _ => {
                // Keep earlier alternatives; move the last one.
                let last = alternatives.last().copied().unwrap_or_default();
                replace_last(text, last, &Poetry::bump_group(last, request)?)
            }
        };
        if !self.satisfies(&out, request.new_version)? {
            return Err(VersionError::CannotRewrite {
                scheme: SCHEME,
                value: text.to_string(),
                version: request.new_version.to_string(),
                reason: format!("the rewrite `{out}` does not admit it"),
            });
        }
        Ok((out != text).then_some(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bump(value: &str, new: &str, strategy: RangeStrategy) -> Option<String> {
        Poetry
            .new_range(RangeRequest {
                current_value: value,
                current_version: None,
                new_version: new,
                strategy,
            })
            .unwrap()
    }

    #[test]
    fn caret_and_tilde_follow_poetry_core() {
        let p = Poetry;
        assert!(p.satisfies("^1.2.3", "1.9.0").unwrap());
        assert!(!p.satisfies("^1.2.3", "2.0.0").unwrap());
        assert!(p.satisfies("^0.2.3", "0.2.9").unwrap());
        assert!(!p.satisfies("^0.2.3", "0.3.0").unwrap());
        assert!(!p.satisfies("^0.0.3", "0.0.4").unwrap());
        assert!(p.satisfies("^0", "0.9").unwrap());
        assert!(!p.satisfies("^0.0", "0.1").unwrap());
        assert!(p.satisfies("~1.2.3", "1.2.9").unwrap());
        assert!(!p.satisfies("~1.2.3", "1.3.0").unwrap());
        assert!(p.satisfies("~1", "1.9").unwrap());
        assert!(p.satisfies("1.2.*", "1.2.7").unwrap());
        assert!(p.satisfies("*", "7.0").unwrap());
        assert!(p.satisfies(">=1.2 <2.0", "1.5").unwrap());
        assert!(p.satisfies(">= 1.2, < 2.0", "1.5").unwrap());
        assert!(p.satisfies("^1.0 || ^3.0", "3.1").unwrap());
        assert!(!p.satisfies("^1.0 || ^3.0", "2.1").unwrap());
        assert!(p.satisfies("1.2.3", "1.2.3").unwrap());
        assert!(p.satisfies("=1.2.3", "1.2.3").unwrap());
        assert!(p.satisfies("~=1.2", "1.4").unwrap());
        assert!(p.satisfies("^1.2", "nope").is_err());
        assert!(!p.is_valid_range("^^1"));
    }

    #[test]
    fn bumps_keep_operator_and_precision() {
        use RangeStrategy::*;
        assert_eq!(bump("^1.2", "1.4.0", Auto), None);
        assert_eq!(bump("^1.2", "2.1.0", Auto).as_deref(), Some("^2.1"));
        assert_eq!(bump("^1.2.3", "2.1.0", Auto).as_deref(), Some("^2.1.0"));
        assert_eq!(bump("~1.2.3", "1.3.5", Auto).as_deref(), Some("~1.3.5"));
        assert_eq!(bump("1.2.3", "1.3.5", Auto).as_deref(), Some("1.3.5"));
        assert_eq!(bump("1.2.*", "1.4.5", Auto).as_deref(), Some("1.4.*"));
        assert_eq!(
            bump(">=1.2,<2.0", "2.1.0", Auto).as_deref(),
            Some(">=2.1,<3.0")
        );
        assert_eq!(bump("^1.2", "1.4.0", Increase).as_deref(), Some("^1.4"));
        assert_eq!(
            bump("^1.2", "2.1.0", Widen).as_deref(),
            Some("^1.2 || ^2.1")
        );
        assert_eq!(bump("^0.2", "0.3.1", Auto).as_deref(), Some("^0.3"));
        assert_eq!(
            bump("^1.0 || ^2.0", "3.0.1", Auto).as_deref(),
            Some("^1.0 || ^3.0")
        );
        assert_eq!(bump("*", "3.0.1", Auto), None);
        assert_eq!(bump("=0.13.1", "1.5.0", Auto).as_deref(), Some("=1.5.0"));
        assert_eq!(bump(">= 1.2", "2.0.0", Increase).as_deref(), Some(">= 2.0"));
        assert_eq!(bump(">=1.2 <2", "2.1.0", Auto).as_deref(), Some(">=2.1 <3"));
        assert_eq!(
            bump("<1.5 || >=2.0,<2.5", "2.6.0", Widen).as_deref(),
            Some("<1.5 || >=2.0,<2.7")
        );
        assert_eq!(
            bump("^1.2 ||", "1.4.0", Increase).as_deref(),
            Some("^1.4 ||")
        );
    }

    #[test]
    fn pinned_versions() {
        assert_eq!(Poetry.pinned_version("1.2.3").as_deref(), Some("1.2.3"));
        assert_eq!(Poetry.pinned_version("==1.2.3").as_deref(), Some("1.2.3"));
        assert_eq!(Poetry.pinned_version("^1.2.3"), None);
        assert_eq!(Poetry.pinned_version("1.2.*"), None);
    }
}

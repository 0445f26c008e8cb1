//! Docker tag versioning, after Renovate's and Dependabot's `docker` schemes.
//!
//! A tag is `prefix` + numeric release + optional pre-release + optional suffix:
//! `v1.25.3`, `3.13.0rc1`, `1.29.0-rc1`, `1.27.0-alpine`, `3.12-slim-bookworm`,
//! `jammy-20240125`. Tags move only within one line of releases: same prefix, same suffix,
//! same precision (`1.25` stays two-part), and date-like releases (`20240125`, `2024.01`)
//! only to date-like ones. Tags without a number (`latest`, `alpine`) are valid but only
//! compatible with themselves (their digest can move, nothing else).
//!
//! A manifest value may carry a digest: `1.25.3@sha256:…`. Versions from a registry for a
//! digest-pinned reference carry the digest the tag points at now. Values order by tag first;
//! for one tag, a value with a digest sorts after the bare tag, so the tag alone
//! ([`VersionScheme::pinned_version`] of a pinned value) is older than any digest the
//! registry reports for it: that is how a moved digest becomes an update of type `digest`.

use std::cmp::Ordering;
use updatebot_core::version::{
    RangeRequest, RangeStrategy, UpdateType, VersionError, VersionScheme,
};

pub const SCHEME: &str = "docker";

#[derive(Clone, Copy, Debug, Default)]
pub struct Docker;

/// Pre-release words, by rank (a `dev` build comes before an alpha, …, before an `rc`).
const PRE_WORDS: &[(&str, u8)] = &[
    ("dev", 0),
    ("alpha", 1),
    ("a", 1),
    ("beta", 2),
    ("b", 2),
    ("pre", 3),
    ("preview", 3),
    ("rc", 4),
];

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Tag<'a> {
    pub text: &'a str,
    pub prefix: &'a str,
    /// Empty for a tag without a number (`latest`).
    pub release: Vec<u64>,
    /// (rank, number) of a pre-release.
    pub pre: Option<(u8, u64)>,
    pub suffix: &'a str,
}

impl Tag<'_> {
    fn numeric(&self) -> bool {
        !self.release.is_empty()
    }

    /// `20240125`, `2024.01.15`: a date, not a version.
    fn date_like(&self) -> bool {
        self.release.first().is_some_and(|&n| n >= 1900)
    }
}

/// A manifest value or registry version: a tag with an optional digest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Value<'a> {
    pub tag: Tag<'a>,
    pub digest: Option<&'a str>,
}

/// A pre-release word with its number (`rc1`, `beta.2`, `alpha`), if `text` is one.
fn pre_release(text: &str) -> Option<(u8, u64)> {
    let lower = text.to_ascii_lowercase();
    let letters_end = lower
        .find(|c: char| !c.is_ascii_alphabetic())
        .unwrap_or(lower.len());
    let (word, rest) = lower.split_at(letters_end);
    let rank = PRE_WORDS.iter().find(|(w, _)| *w == word)?.1;
    let digits = rest.strip_prefix('.').unwrap_or(rest);
    if digits.is_empty() {
        return Some((rank, 0));
    }
    if !digits.bytes().all(|b| b.is_ascii_digit()) || digits.len() > 18 {
        return None;
    }
    Some((rank, digits.parse().ok()?))
}

pub(crate) fn parse_tag(text: &str) -> Option<Tag<'_>> {
    if text.is_empty()
        || text.len() > 128
        || !text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        return None;
    }
    let Some(first_digit) = text.find(|c: char| c.is_ascii_digit()) else {
        return Some(Tag {
            text,
            prefix: text,
            release: Vec::new(),
            pre: None,
            suffix: "",
        });
    };
    let prefix = &text[..first_digit];
    // A prefix is a word (`v`, `jammy-`, `alpine`), not punctuation.
    if prefix.starts_with(['.', '-', '_']) {
        return None;
    }
    let body = &text[first_digit..];
    let mut end = 0;
    let bytes = body.as_bytes();
    while end < bytes.len() {
        let digit = bytes[end].is_ascii_digit();
        let dot_then_digit =
            bytes[end] == b'.' && bytes.get(end + 1).is_some_and(|b| b.is_ascii_digit());
        if digit || dot_then_digit {
            end += 1;
        } else {
            break;
        }
    }
    let release = body[..end]
        .split('.')
        .map(|p| {
            if p.len() > 18 {
                None
            } else {
                p.parse::<u64>().ok()
            }
        })
        .collect::<Option<Vec<_>>>()?;
    let rest = &body[end..];
    let (pre, suffix) = if let Some(dashed) = rest.strip_prefix('-') {
        let (first, after) = match dashed.split_once('-') {
            Some((f, a)) => (f, a),
            None => (dashed, ""),
        };
        match pre_release(first) {
            Some(p) => (Some(p), after),
            None => (None, dashed),
        }
    } else if rest.starts_with(|c: char| c.is_ascii_alphabetic()) {
        let (first, after) = match rest.split_once('-') {
            Some((f, a)) => (f, a),
            None => (rest, ""),
        };
        match pre_release(first) {
            Some(p) => (Some(p), after),
            None => (None, rest),
        }
    } else {
        (None, rest)
    };
    Some(Tag {
        text,
        prefix,
        release,
        pre,
        suffix,
    })
}

pub(crate) fn parse_value(text: &str) -> Option<Value<'_>> {
    let (tag, digest) = match text.split_once('@') {
        Some((t, d)) => {
            let (algorithm, hex) = d.split_once(':')?;
            if algorithm.is_empty()
                || hex.is_empty()
                || !hex.bytes().all(|b| b.is_ascii_hexdigit())
                || !algorithm.bytes().all(|b| b.is_ascii_alphanumeric())
            {
                return None;
            }
            (t, Some(d))
        }
        None => (text, None),
    };
    Some(Value {
        tag: parse_tag(tag)?,
        digest,
    })
}

fn invalid(text: &str) -> VersionError {
    VersionError::InvalidVersion {
        scheme: SCHEME,
        value: text.to_string(),
    }
}

fn compare_release(a: &[u64], b: &[u64]) -> Ordering {
    let len = a.len().max(b.len());
    for i in 0..len {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        match x.cmp(&y) {
            Ordering::Equal => {}
            other => return other,
        }
    }
    Ordering::Equal
}

fn compare_pre(a: Option<(u8, u64)>, b: Option<(u8, u64)>) -> Ordering {
    match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Greater,
        (Some(_), None) => Ordering::Less,
        (Some(x), Some(y)) => x.cmp(&y),
    }
}

/// A total order: tags without numbers first (by text), then by release, pre-release,
/// precision, prefix and suffix; a tag's digest-carrying values after the bare tag.
fn compare_tags(a: &Tag<'_>, b: &Tag<'_>) -> Ordering {
    match (a.numeric(), b.numeric()) {
        (false, false) => return a.text.cmp(b.text),
        (false, true) => return Ordering::Less,
        (true, false) => return Ordering::Greater,
        (true, true) => {}
    }
    compare_release(&a.release, &b.release)
        .then_with(|| compare_pre(a.pre, b.pre))
        .then_with(|| a.release.len().cmp(&b.release.len()))
        .then_with(|| a.prefix.cmp(b.prefix))
        .then_with(|| a.suffix.cmp(b.suffix))
        .then_with(|| a.text.cmp(b.text))
}

fn compare_values(a: &Value<'_>, b: &Value<'_>) -> Ordering {
    compare_tags(&a.tag, &b.tag).then_with(|| match (a.digest, b.digest) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (Some(x), Some(y)) => x.cmp(y),
    })
}

/// Same line of releases: same kind, prefix, suffix and precision.
fn compatible(a: &Tag<'_>, b: &Tag<'_>) -> bool {
    if !a.numeric() || !b.numeric() {
        return a.text == b.text;
    }
    a.prefix == b.prefix
        && a.suffix == b.suffix
        && a.release.len() == b.release.len()
        && a.date_like() == b.date_like()
}

/// One clause of an `ignore` range.
enum Clause {
    Compare(Ordering, bool, Vec<u64>),
    NotEqual(Vec<u64>),
    Wildcard(Vec<u64>),
    Exact(String),
}

fn numbers(text: &str) -> Option<Vec<u64>> {
    let text = text.trim();
    let text = text.strip_prefix('v').unwrap_or(text);
    if text.is_empty() {
        return None;
    }
    text.split('.')
        .map(|p| {
            if p.is_empty() || p.len() > 18 || !p.bytes().all(|b| b.is_ascii_digit()) {
                None
            } else {
                p.parse().ok()
            }
        })
        .collect()
}

fn parse_range(range: &str) -> Option<Vec<Clause>> {
    let range = range.trim();
    if range.is_empty() {
        return None;
    }
    let has_operator = range.starts_with(['<', '>', '=', '!']);
    if !has_operator {
        for wild in [".x", ".*", ".X"] {
            if let Some(head) = range.strip_suffix(wild) {
                return Some(vec![Clause::Wildcard(numbers(head)?)]);
            }
        }
        if range == "*" || range == "x" {
            return Some(vec![Clause::Wildcard(Vec::new())]);
        }
        return parse_value(range).map(|v| vec![Clause::Exact(v.tag.text.to_string())]);
    }
    let mut clauses = Vec::new();
    // `>= 1.2, < 2`, `>=1.2 <2`.
    let normalised = range.replace(',', " ");
    let mut tokens = normalised.split_whitespace().peekable();
    while let Some(token) = tokens.next() {
        let op_len = token
            .find(|c: char| !matches!(c, '<' | '>' | '=' | '!'))
            .unwrap_or(token.len());
        let (op, mut version) = (token[..op_len].to_string(), token[op_len..].to_string());
        if version.is_empty() {
            version = tokens.next()?.to_string();
        }
        let v = numbers(&version)?;
        clauses.push(match op.as_str() {
            ">=" => Clause::Compare(Ordering::Greater, true, v),
            ">" => Clause::Compare(Ordering::Greater, false, v),
            "<=" => Clause::Compare(Ordering::Less, true, v),
            "<" => Clause::Compare(Ordering::Less, false, v),
            "=" | "==" => Clause::Compare(Ordering::Equal, true, v),
            "!=" => Clause::NotEqual(v),
            _ => return None,
        });
    }
    (!clauses.is_empty()).then_some(clauses)
}

fn clause_holds(clause: &Clause, tag: &Tag<'_>) -> bool {
    match clause {
        Clause::Exact(text) => tag.text == text,
        _ if !tag.numeric() => false,
        Clause::Wildcard(head) => tag.release.starts_with(head),
        Clause::NotEqual(v) => compare_release(&tag.release, v) != Ordering::Equal,
        Clause::Compare(direction, or_equal, v) => {
            let o = compare_release(&tag.release, v).then_with(|| {
                // 2.0-rc1 is below 2.0.
                if tag.pre.is_some() {
                    Ordering::Less
                } else {
                    Ordering::Equal
                }
            });
            o == *direction || (*or_equal && o == Ordering::Equal)
        }
    }
}

impl VersionScheme for Docker {
    fn name(&self) -> &'static str {
        SCHEME
    }

    fn is_valid_version(&self, text: &str) -> bool {
        parse_value(text).is_some()
    }

    /// Ranges are used by `ignore` rules: an exact tag, `1.27.x`, or comparators
    /// (`>=1.27`, `>= 1.27, < 2`) on the numeric release, whatever the suffix.
    fn is_valid_range(&self, text: &str) -> bool {
        parse_range(text).is_some()
    }

    fn compare(&self, a: &str, b: &str) -> Result<Ordering, VersionError> {
        let x = parse_value(a).ok_or_else(|| invalid(a))?;
        let y = parse_value(b).ok_or_else(|| invalid(b))?;
        Ok(compare_values(&x, &y))
    }

    fn is_prerelease(&self, text: &str) -> bool {
        parse_value(text).is_some_and(|v| v.tag.pre.is_some())
    }

    fn satisfies(&self, range: &str, version: &str) -> Result<bool, VersionError> {
        let clauses = parse_range(range).ok_or_else(|| VersionError::InvalidRange {
            scheme: SCHEME,
            value: range.to_string(),
            detail: None,
        })?;
        let value = parse_value(version).ok_or_else(|| invalid(version))?;
        Ok(clauses.iter().all(|c| clause_holds(c, &value.tag)))
    }

    /// Every tag is a pin; a digest-pinned value is pinned to its tag (the digest is what
    /// the registry is asked to refresh).
    fn pinned_version(&self, range: &str) -> Option<String> {
        parse_value(range).map(|v| v.tag.text.to_string())
    }

    fn is_compatible(&self, current: &str, candidate: &str) -> bool {
        match (parse_value(current), parse_value(candidate)) {
            (Some(a), Some(b)) => compatible(&a.tag, &b.tag),
            _ => false,
        }
    }

    fn update_type(&self, from: &str, to: &str) -> UpdateType {
        match (parse_value(from), parse_value(to)) {
            (Some(a), Some(b)) if a.tag.text == b.tag.text => UpdateType::Digest,
            (Some(a), Some(b)) => {
                let at = |t: &Tag<'_>, i: usize| t.release.get(i).copied().unwrap_or(0);
                if at(&a.tag, 0) != at(&b.tag, 0) {
                    UpdateType::Major
                } else if at(&a.tag, 1) != at(&b.tag, 1) {
                    UpdateType::Minor
                } else {
                    UpdateType::Patch
                }
            }
            _ => UpdateType::Major,
        }
    }

    fn new_range(&self, request: RangeRequest<'_>) -> Result<Option<String>, VersionError> {
        let new = parse_value(request.new_version).ok_or_else(|| invalid(request.new_version))?;
        if request.strategy == RangeStrategy::LockfileOnly {
            return Ok(None);
        }
        let current_digest = parse_value(request.current_value).and_then(|v| v.digest);
        let value = match (current_digest, new.digest) {
            (Some(_), None) => {
                return Err(VersionError::CannotRewrite {
                    scheme: SCHEME,
                    value: request.current_value.to_string(),
                    version: request.new_version.to_string(),
                    reason: format!(
                    "the reference is pinned to a digest, and the digest of `{}` was not looked up",
                    request.new_version
                ),
                })
            }
            (Some(_), Some(_)) => request.new_version.to_string(),
            // Versions carry a digest for an unpinned reference only when pinning was asked
            // for (`pin-digests`): the reference takes it.
            (None, Some(_)) => request.new_version.to_string(),
            (None, None) => new.tag.text.to_string(),
        };
        Ok((request.current_value != value).then_some(value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OLD: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    const NEW: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

    #[test]
    fn tags_order_numerically_with_prereleases_first() {
        let d = Docker;
        assert_eq!(d.compare("1.25.10", "1.25.9").unwrap(), Ordering::Greater);
        assert_eq!(d.compare("3.13.0rc1", "3.13.0").unwrap(), Ordering::Less);
        assert_eq!(
            d.compare("1.29.0-rc1", "1.28.0").unwrap(),
            Ordering::Greater
        );
        assert_eq!(d.compare("1.29.0-rc1", "1.29.0").unwrap(), Ordering::Less);
        assert_eq!(
            d.compare("1.29.0-rc2", "1.29.0-rc10").unwrap(),
            Ordering::Less
        );
        assert_eq!(d.compare("1.0-beta1", "1.0-rc1").unwrap(), Ordering::Less);
        assert_eq!(d.compare("v2", "v1.9").unwrap(), Ordering::Greater);
        assert_eq!(d.compare("latest", "1.0").unwrap(), Ordering::Less);
        assert!(d.compare("not a tag", "1.0").is_err());
    }

    #[test]
    fn compatibility_keeps_prefix_suffix_precision_and_dates() {
        let d = Docker;
        assert!(d.is_compatible("1.25.3-alpine", "1.27.0-alpine"));
        assert!(!d.is_compatible("1.25.3-alpine", "1.27.0"));
        assert!(!d.is_compatible("1.25", "1.27.0"));
        assert!(d.is_compatible("3.12-slim-bookworm", "3.13-slim-bookworm"));
        assert!(!d.is_compatible("3.12-slim-bookworm", "3.13-slim-trixie"));
        assert!(d.is_compatible("v1.2.3", "v1.3.0"));
        assert!(!d.is_compatible("v1.2.3", "1.3.0"));
        assert!(d.is_compatible("jammy-20240125", "jammy-20240301"));
        assert!(!d.is_compatible("jammy-20240125", "noble-20240301"));
        assert!(!d.is_compatible("1", "20240101"));
        assert!(d.is_compatible("20240101", "20240301"));
        assert!(!d.is_compatible("latest", "1.0"));
        assert!(d.is_compatible("latest", &format!("latest@{NEW}")));
        // A pre-release keeps the suffix after it.
        assert!(d.is_compatible("1.29.0-rc1-alpine", "1.29.0-alpine"));
        assert!(d.is_compatible("1.29.0-rc1", "1.29.0"));
    }

    #[test]
    fn prerelease_and_update_type() {
        let d = Docker;
        assert!(d.is_prerelease("3.13.0rc1"));
        assert!(d.is_prerelease("1.29.0-rc1"));
        assert!(d.is_prerelease("2.0.0-beta.2-alpine"));
        assert!(!d.is_prerelease("3.13.0-alpine"));
        assert!(!d.is_prerelease("1.0-bookworm"));
        assert_eq!(d.update_type("1.25.3", "1.27.0"), UpdateType::Minor);
        assert_eq!(
            d.update_type("1.25.3-alpine", "2.0.0-alpine"),
            UpdateType::Major
        );
        assert_eq!(d.update_type("1.25.3", "1.25.4"), UpdateType::Patch);
        assert_eq!(
            d.update_type("1.25.3", &format!("1.25.3@{NEW}")),
            UpdateType::Digest
        );
    }

    #[test]
    fn digests_move_with_their_tag() {
        let d = Docker;
        let pinned = format!("1.25.3@{OLD}");
        assert!(d.is_valid_version(&pinned));
        assert_eq!(d.pinned_version(&pinned).as_deref(), Some("1.25.3"));
        // The registry's digest for the same tag is newer than the bare tag.
        assert_eq!(
            d.compare(&format!("1.25.3@{NEW}"), "1.25.3").unwrap(),
            Ordering::Greater
        );
        let request = |new: &str| {
            d.new_range(RangeRequest {
                current_value: &pinned,
                current_version: Some("1.25.3"),
                new_version: new,
                strategy: RangeStrategy::Auto,
            })
        };
        assert_eq!(
            request(&format!("1.27.0@{NEW}")).unwrap(),
            Some(format!("1.27.0@{NEW}"))
        );
        assert_eq!(request(&pinned).unwrap(), None);
        assert!(matches!(
            request("1.27.0"),
            Err(VersionError::CannotRewrite { .. })
        ));
        // An unpinned tag takes the digest a version carries: the registry resolves digests
        // for an unpinned reference only when `pin-digests` asks for them.
        let unpinned = |new: &str| {
            d.new_range(RangeRequest {
                current_value: "1.25.3",
                current_version: Some("1.25.3"),
                new_version: new,
                strategy: RangeStrategy::Auto,
            })
            .unwrap()
        };
        assert_eq!(
            unpinned(&format!("1.27.0@{NEW}")),
            Some(format!("1.27.0@{NEW}"))
        );
        assert_eq!(
            unpinned(&format!("1.25.3@{NEW}")),
            Some(format!("1.25.3@{NEW}"))
        );
        assert_eq!(unpinned("1.27.0"), Some("1.27.0".to_string()));
    }

    #[test]
    fn ignore_ranges() {
        let d = Docker;
        assert!(d.satisfies(">=1.27", "1.27.0-alpine").unwrap());
        assert!(!d.satisfies(">=1.27", "1.25.3").unwrap());
        assert!(d.satisfies(">= 1.26, < 2", "1.27.0").unwrap());
        assert!(!d.satisfies(">= 1.26, < 2", "2.0.0").unwrap());
        assert!(d.satisfies("1.27.x", "1.27.4").unwrap());
        assert!(!d.satisfies("1.27.x", "1.28.0").unwrap());
        assert!(d
            .satisfies("1.27.0-alpine", &format!("1.27.0-alpine@{NEW}"))
            .unwrap());
        assert!(!d.satisfies("1.27.0", "1.27.0-alpine").unwrap());
        assert!(!d.satisfies(">=2", "2.0.0-rc1").unwrap());
        assert!(d.satisfies("!=1.2", "1.3").unwrap());
        assert!(!d.is_valid_range(">=latest"));
        assert!(!d.is_valid_range(""));
        assert!(d.satisfies(">=1", "latest").is_ok_and(|b| !b));
    }

    #[test]
    fn no_panics_on_odd_text() {
        let d = Docker;
        for text in [
            "",
            "-",
            ".",
            "v",
            "1.",
            ".1",
            "1..2",
            "@",
            "1@",
            "1@sha256:",
            "99999999999999999999",
            "1.2.3-",
            "1-rc",
            "é",
            "1.0-é",
            "a@b:c",
        ] {
            let _ = d.compare(text, "1.0");
            let _ = d.is_prerelease(text);
            let _ = d.satisfies(text, "1.0");
            let _ = d.update_type(text, "1.0");
            let _ = d.pinned_version(text);
        }
    }
}

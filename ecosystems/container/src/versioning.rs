//! Docker tag versioning, after Renovate's `docker` scheme: a tag is a numeric release
//! (`1.25.3`), an optional pre-release glued to it (`3.13.0rc1`), and an optional suffix
//! after a dash (`-alpine3.20`). Tags compare only within one suffix and one precision.

use std::cmp::Ordering;
use updatebot_core::version::{
    RangeRequest, RangeStrategy, UpdateType, VersionError, VersionScheme,
};

pub const SCHEME: &str = "docker";

#[derive(Clone, Copy, Debug, Default)]
pub struct Docker;

#[derive(Clone, Debug, PartialEq, Eq)]
struct Tag<'a> {
    release: Vec<u64>,
    prerelease: &'a str,
    suffix: &'a str,
}

fn parse(text: &str) -> Option<Tag<'_>> {
    let text = text.strip_prefix('v').unwrap_or(text);
    let (head, suffix) = match text.split_once('-') {
        Some((h, s)) => (h, s),
        None => (text, ""),
    };
    let digits_end = head
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(head.len());
    let (numbers, prerelease) = head.split_at(digits_end);
    if numbers.is_empty() || numbers.ends_with('.') || numbers.starts_with('.') {
        return None;
    }
    if !prerelease
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        return None;
    }
    let release = numbers
        .split('.')
        .map(|p| p.parse::<u64>().ok())
        .collect::<Option<Vec<_>>>()?;
    Some(Tag {
        release,
        prerelease,
        suffix,
    })
}

fn invalid(text: &str) -> VersionError {
    VersionError::InvalidVersion {
        scheme: SCHEME,
        value: text.to_string(),
    }
}

fn compare_tags(a: &Tag<'_>, b: &Tag<'_>) -> Ordering {
    let len = a.release.len().max(b.release.len());
    for i in 0..len {
        let x = a.release.get(i).copied().unwrap_or(0);
        let y = b.release.get(i).copied().unwrap_or(0);
        match x.cmp(&y) {
            Ordering::Equal => {}
            other => return other,
        }
    }
    match (a.prerelease.is_empty(), b.prerelease.is_empty()) {
        (true, false) => return Ordering::Greater,
        (false, true) => return Ordering::Less,
        _ => {}
    }
    a.prerelease
        .cmp(b.prerelease)
        .then_with(|| a.release.len().cmp(&b.release.len()))
        .then_with(|| a.suffix.cmp(b.suffix))
}

impl VersionScheme for Docker {
    fn name(&self) -> &'static str {
        SCHEME
    }

    fn is_valid_version(&self, text: &str) -> bool {
        parse(text).is_some()
    }

    fn is_valid_range(&self, text: &str) -> bool {
        parse(text).is_some()
    }

    fn compare(&self, a: &str, b: &str) -> Result<Ordering, VersionError> {
        let x = parse(a).ok_or_else(|| invalid(a))?;
        let y = parse(b).ok_or_else(|| invalid(b))?;
        Ok(compare_tags(&x, &y))
    }

    fn is_prerelease(&self, text: &str) -> bool {
        parse(text)
            .map(|t| !t.prerelease.is_empty())
            .unwrap_or(false)
    }

    /// Tags have no ranges: a tag "satisfies" only itself.
    fn satisfies(&self, range: &str, version: &str) -> Result<bool, VersionError> {
        let x = parse(range).ok_or_else(|| invalid(range))?;
        let y = parse(version).ok_or_else(|| invalid(version))?;
        Ok(compare_tags(&x, &y) == Ordering::Equal && x.suffix == y.suffix)
    }

    fn pinned_version(&self, range: &str) -> Option<String> {
        parse(range).map(|_| range.to_string())
    }

    /// Same suffix (`-alpine`) and same precision (`1.25` stays two-part).
    fn is_compatible(&self, current: &str, candidate: &str) -> bool {
        match (parse(current), parse(candidate)) {
            (Some(a), Some(b)) => a.suffix == b.suffix && a.release.len() == b.release.len(),
            _ => false,
        }
    }

    fn update_type(&self, from: &str, to: &str) -> UpdateType {
        match (parse(from), parse(to)) {
            (Some(a), Some(b)) => {
                let at = |t: &Tag<'_>, i: usize| t.release.get(i).copied().unwrap_or(0);
                if at(&a, 0) != at(&b, 0) {
                    UpdateType::Major
                } else if at(&a, 1) != at(&b, 1) {
                    UpdateType::Minor
                } else {
                    UpdateType::Patch
                }
            }
            _ => UpdateType::Major,
        }
    }

    fn new_range(&self, request: RangeRequest<'_>) -> Result<Option<String>, VersionError> {
        parse(request.new_version).ok_or_else(|| invalid(request.new_version))?;
        if request.strategy == RangeStrategy::LockfileOnly {
            return Ok(None);
        }
        Ok((request.current_value != request.new_version).then(|| request.new_version.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_order_numerically_with_prereleases_first() {
        let d = Docker;
        assert_eq!(d.compare("1.25.10", "1.25.9").unwrap(), Ordering::Greater);
        assert_eq!(d.compare("3.13.0rc1", "3.13.0").unwrap(), Ordering::Less);
        assert_eq!(d.compare("v2", "1.9").unwrap(), Ordering::Greater);
        assert!(d.compare("latest", "1.0").is_err());
    }

    #[test]
    fn compatibility_keeps_suffix_and_precision() {
        let d = Docker;
        assert!(d.is_compatible("1.25.3-alpine", "1.27.0-alpine"));
        assert!(!d.is_compatible("1.25.3-alpine", "1.27.0"));
        assert!(!d.is_compatible("1.25", "1.27.0"));
        assert!(d.is_compatible("3.12-slim-bookworm", "3.13-slim-bookworm"));
        assert!(!d.is_compatible("latest", "1.0"));
    }

    #[test]
    fn prerelease_and_update_type() {
        let d = Docker;
        assert!(d.is_prerelease("3.13.0rc1"));
        assert!(!d.is_prerelease("3.13.0-alpine"));
        assert_eq!(d.update_type("1.25.3", "1.27.0"), UpdateType::Minor);
        assert_eq!(
            d.update_type("1.25.3-alpine", "2.0.0-alpine"),
            UpdateType::Major
        );
    }
}

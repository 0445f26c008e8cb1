//! PEP 440 versions and specifier sets, over `pep440_rs`, with layout-preserving rewrites.

use pep440_rs::{Operator, Version, VersionSpecifiers};
use std::cmp::Ordering;
use std::str::FromStr;
use updatebot_core::version::{
    RangeRequest, RangeStrategy, UpdateType, VersionError, VersionScheme,
};

pub const SCHEME: &str = "pep440";

/// PEP 440, as pip and `packaging` implement it.
#[derive(Clone, Copy, Debug, Default)]
pub struct Pep440;

pub(crate) fn parse_version(scheme: &'static str, text: &str) -> Result<Version, VersionError> {
    Version::from_str(text.trim()).map_err(|_| VersionError::InvalidVersion {
        scheme,
        value: text.to_string(),
    })
}

pub(crate) fn parse_specifiers(
    scheme: &'static str,
    text: &str,
) -> Result<VersionSpecifiers, VersionError> {
    VersionSpecifiers::from_str(text).map_err(|e| VersionError::InvalidRange {
        scheme,
        value: text.to_string(),
        detail: Some(e.to_string().lines().next().unwrap_or_default().to_string()),
    })
}

/// The update type between two versions: the most significant release component that
/// changed (an epoch change is major).
pub(crate) fn update_type_of(from: &Version, to: &Version) -> UpdateType {
    if from.epoch() != to.epoch() {
        return UpdateType::Major;
    }
    let a = from.release();
    let b = to.release();
    let at = |r: &[u64], i: usize| r.get(i).copied().unwrap_or(0);
    if at(a, 0) != at(b, 0) {
        UpdateType::Major
    } else if at(a, 1) != at(b, 1) {
        UpdateType::Minor
    } else {
        UpdateType::Patch
    }
}

/// One clause of a specifier set, as written: offsets into the original text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Clause<'a> {
    pub op: &'a str,
    pub version: &'a str,
    /// Byte range of the operator in the whole text.
    pub op_start: usize,
    /// Byte range of the version in the whole text.
    pub version_start: usize,
    pub version_end: usize,
}

const OPERATORS: [&str; 8] = ["===", "==", "!=", "<=", ">=", "~=", "<", ">"];

/// Split a specifier set into clauses, keeping positions so rewrites keep the layout.
pub(crate) fn clauses(text: &str) -> Option<Vec<Clause<'_>>> {
    let mut out = Vec::new();
    let mut offset = 0;
    for piece in text.split(',') {
        let lead = piece.len() - piece.trim_start().len();
        let body = piece.trim();
        if body.is_empty() {
            if text.trim().is_empty() {
                return Some(out);
            }
            return None;
        }
        let op = OPERATORS.iter().find(|op| body.starts_with(**op))?;
        let rest = &body[op.len()..];
        let gap = rest.len() - rest.trim_start().len();
        let version = rest.trim();
        if version.is_empty() || version.contains(char::is_whitespace) {
            return None;
        }
        let op_start = offset + lead;
        let version_start = op_start + op.len() + gap;
        out.push(Clause {
            op: &text[op_start..op_start + op.len()],
            version: &text[version_start..version_start + version.len()],
            op_start,
            version_start,
            version_end: version_start + version.len(),
        });
        offset += piece.len() + 1;
    }
    Some(out)
}

/// `new`'s release truncated (or zero-padded) to `k` components, for keeping a range's
/// precision. A pre-, post- or dev-release cannot be shortened without changing what it
/// admits, so it is returned whole.
pub(crate) fn with_precision(new_text: &str, new: &Version, k: usize) -> String {
    if new.any_prerelease() || new.is_post() || new.is_local() || new.epoch() != 0 {
        return new_text.to_string();
    }
    let k = k.max(1);
    let release = new.release();
    let parts: Vec<String> = (0..k)
        .map(|i| release.get(i).copied().unwrap_or(0).to_string())
        .collect();
    parts.join(".")
}

/// Exact text for a pin: the new version, shortened to the old pin's precision only when
/// the dropped components are zeros (so `==1.2` can become `==1.4` for 1.4.0, never for 1.4.1).
fn pin_text(old: &str, new_text: &str, new: &Version) -> String {
    let Ok(old_v) = Version::from_str(old) else {
        return new_text.to_string();
    };
    let k = old_v.release().len();
    let release = new.release();
    if new.any_prerelease() || new.is_post() || new.is_local() || new.epoch() != 0 {
        return new_text.to_string();
    }
    if release.len() > k && release[k..].iter().all(|c| *c == 0) {
        with_precision(new_text, new, k)
    } else {
        new_text.to_string()
    }
}

/// The exclusive upper bound that replaces `<old` so that `new` is admitted, keeping the
/// bound's shape: the last non-zero component of `old` is the one that moves.
fn upper_bound_text(old: &Version, new: &Version) -> String {
    let old_release = old.release();
    let position = old_release.iter().rposition(|c| *c != 0).unwrap_or(0);
    let mut parts: Vec<u64> = (0..=position)
        .map(|i| new.release().get(i).copied().unwrap_or(0))
        .collect();
    if let Some(last) = parts.last_mut() {
        *last += 1;
    }
    while parts.len() < old_release.len() {
        parts.push(0);
    }
    parts
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(".")
}

impl Pep440 {
    /// Rewrite a PEP 440 specifier set for `request`, keeping operators, precision, spacing
    /// and clause order. Shared with the Poetry scheme for its PEP 440-style constraints.
    pub(crate) fn rewrite(
        scheme: &'static str,
        request: RangeRequest<'_>,
    ) -> Result<Option<String>, VersionError> {
        let text = request.current_value;
        let new = parse_version(scheme, request.new_version)?;
        let new_text = request.new_version.trim();
        let specs = parse_specifiers(scheme, text)?;
        let admits = specs.iter().all(|s| s.contains(&new));
        let strategy = request.strategy;
        let cannot = |reason: &str| VersionError::CannotRewrite {
            scheme,
            value: text.to_string(),
            version: new_text.to_string(),
            reason: reason.to_string(),
        };
        match strategy {
            RangeStrategy::LockfileOnly => return Ok(None),
            RangeStrategy::Pin => {
                let pinned = format!("=={new_text}");
                return Ok((pinned != text.trim()).then_some(pinned));
            }
            RangeStrategy::Auto | RangeStrategy::IncreaseIfNecessary | RangeStrategy::Widen
                if admits =>
            {
                return Ok(None)
            }
            _ => {}
        }
        let list = clauses(text).ok_or_else(|| cannot("the range has an unexpected shape"))?;
        if list.is_empty() {
            return Ok(None);
        }
        let widen_only = strategy == RangeStrategy::Widen;
        // (start, end, replacement) in the original text.
        let mut edits: Vec<(usize, usize, String)> = Vec::new();
        for clause in &list {
            let star = clause.version.ends_with(".*");
            let bare = clause.version.trim_end_matches(".*");
            let old = parse_version(scheme, bare)?;
            let k = old.release().len();
            let clause_text = &text[clause.op_start..clause.version_end];
            let contains = parse_specifiers(scheme, clause_text)?
                .iter()
                .all(|s| s.contains(&new));
            let replacement = match clause.op {
                "===" => return Err(cannot("arbitrary equality `===` is never rewritten")),
                "==" if star => Some(format!("{}.*", with_precision(new_text, &new, k))),
                "==" => Some(pin_text(bare, new_text, &new)),
                "~=" if !widen_only => Some(with_precision(new_text, &new, k)),
                "~=" => {
                    // Widening `~=1.2` means keeping its floor and lifting its ceiling.
                    let floor = Version::new(old.release()[..k.saturating_sub(1).max(1)].to_vec());
                    let ceiling = upper_bound_text(&floor, &new);
                    edits.push((
                        clause.op_start,
                        clause.version_end,
                        format!(">={bare},<{ceiling}"),
                    ));
                    None
                }
                ">=" if !widen_only => Some(with_precision(new_text, &new, k)),
                ">" if !widen_only && !contains => {
                    edits.push((
                        clause.op_start,
                        clause.version_end,
                        format!(">={}", with_precision(new_text, &new, k)),
                    ));
                    None
                }
                "<" if !contains => Some(upper_bound_text(&old, &new)),
                "<=" if !contains => Some(new_text.to_string()),
                "!=" if !contains => {
                    return Err(cannot("the range excludes this version with `!=`"))
                }
                _ => None,
            };
            if let Some(version) = replacement {
                edits.push((clause.version_start, clause.version_end, version));
            }
        }
        let mut out = text.to_string();
        edits.sort_by_key(|e| std::cmp::Reverse(e.0));
        for (start, end, replacement) in edits {
            out.replace_range(start..end, &replacement);
        }
        let rewritten = parse_specifiers(scheme, &out)?;
        if !rewritten.iter().all(|s| s.contains(&new)) {
            return Err(cannot("no rewrite of this range admits it"));
        }
        Ok((out != text).then_some(out))
    }
}

impl VersionScheme for Pep440 {
    fn name(&self) -> &'static str {
        SCHEME
    }

    fn is_valid_version(&self, version: &str) -> bool {
        Version::from_str(version.trim()).is_ok()
    }

    fn is_valid_range(&self, range: &str) -> bool {
        VersionSpecifiers::from_str(range).is_ok()
    }

    fn compare(&self, a: &str, b: &str) -> Result<Ordering, VersionError> {
        Ok(parse_version(SCHEME, a)?.cmp(&parse_version(SCHEME, b)?))
    }

    fn is_prerelease(&self, version: &str) -> bool {
        Version::from_str(version.trim())
            .map(|v| v.any_prerelease())
            .unwrap_or(false)
    }

    fn satisfies(&self, range: &str, version: &str) -> Result<bool, VersionError> {
        let version = parse_version(SCHEME, version)?;
        let specs = parse_specifiers(SCHEME, range)?;
        Ok(specs.iter().all(|s| s.contains(&version)))
    }

    fn pinned_version(&self, range: &str) -> Option<String> {
        let specs = VersionSpecifiers::from_str(range).ok()?;
        let mut iter = specs.iter();
        let spec = iter.next()?;
        if iter.next().is_some() {
            return None;
        }
        match spec.operator() {
            Operator::Equal | Operator::ExactEqual => {
                let list = clauses(range)?;
                Some(list.first()?.version.to_string())
            }
            _ => None,
        }
    }

    fn update_type(&self, from: &str, to: &str) -> UpdateType {
        match (Version::from_str(from.trim()), Version::from_str(to.trim())) {
            (Ok(a), Ok(b)) => update_type_of(&a, &b),
            _ => UpdateType::Major,
        }
    }

    fn new_range(&self, request: RangeRequest<'_>) -> Result<Option<String>, VersionError> {
        Pep440::rewrite(SCHEME, request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewrite(value: &str, new: &str, strategy: RangeStrategy) -> Option<String> {
        Pep440
            .new_range(RangeRequest {
                current_value: value,
                current_version: None,
                new_version: new,
                strategy,
            })
            .unwrap()
    }

    #[test]
    fn ordering_follows_pep440() {
        let s = Pep440;
        let mut v: Vec<String> = [
            "1.0.post1",
            "1.0",
            "1.0rc1",
            "1.0.dev0",
            "1.0a1",
            "0.9",
            "1!0.1",
            "1.0+local",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        updatebot_core::version::sort_versions(&s, &mut v);
        assert_eq!(
            v,
            [
                "0.9",
                "1.0.dev0",
                "1.0a1",
                "1.0rc1",
                "1.0",
                "1.0+local",
                "1.0.post1",
                "1!0.1"
            ]
        );
        assert_eq!(s.compare("1.0", "1.0.0").unwrap(), Ordering::Equal);
    }

    #[test]
    fn satisfies_admits_prereleases_and_handles_stars_and_compatible_release() {
        let s = Pep440;
        assert!(s.satisfies(">=1.0", "2.0b1").unwrap());
        assert!(s.satisfies("==1.2.*", "1.2.9").unwrap());
        assert!(!s.satisfies("==1.2.*", "1.3").unwrap());
        assert!(s.satisfies("~=1.2", "1.9").unwrap());
        assert!(!s.satisfies("~=1.2", "2.0").unwrap());
        assert!(s.satisfies("~=1.2.3", "1.2.9").unwrap());
        assert!(!s.satisfies("~=1.2.3", "1.3.0").unwrap());
        assert!(!s.satisfies("<3.1", "3.1.dev0").unwrap());
        assert!(s.satisfies("!=1.5,>=1", "1.6").unwrap());
        assert!(s.satisfies("", "1.6").unwrap());
        assert!(s.satisfies("1.0", "1.0").is_err());
    }

    #[test]
    fn pins_move_and_keep_precision_only_when_exact() {
        use RangeStrategy::Auto;
        assert_eq!(
            rewrite("==1.2.3", "1.4.0", Auto).as_deref(),
            Some("==1.4.0")
        );
        assert_eq!(rewrite("==1.2", "1.4.0", Auto).as_deref(), Some("==1.4"));
        assert_eq!(rewrite("==1.2", "1.4.1", Auto).as_deref(), Some("==1.4.1"));
        assert_eq!(rewrite("== 1.2.3", "2.0", Auto).as_deref(), Some("== 2.0"));
        assert_eq!(rewrite("==1.2.*", "1.2.9", Auto), None);
        assert_eq!(
            rewrite("==1.2.*", "1.4.2", Auto).as_deref(),
            Some("==1.4.*")
        );
        assert_eq!(
            rewrite("==2.8.2", "2.9.0.post0", Auto).as_deref(),
            Some("==2.9.0.post0")
        );
    }

    #[test]
    fn ranges_move_only_when_they_exclude_the_new_version() {
        use RangeStrategy::*;
        assert_eq!(rewrite(">=1.2", "1.4.0", Auto), None);
        assert_eq!(rewrite(">=1.2,<2", "1.4.0", Auto), None);
        assert_eq!(
            rewrite(">=1.2,<2", "2.1.0", Auto).as_deref(),
            Some(">=2.1,<3")
        );
        assert_eq!(
            rewrite(">=1.2.0, <2.0.0", "2.1.3", Auto).as_deref(),
            Some(">=2.1.3, <3.0.0")
        );
        assert_eq!(rewrite("~=1.2", "1.4.2", Auto), None);
        assert_eq!(rewrite("~=1.2", "2.1.3", Auto).as_deref(), Some("~=2.1"));
        assert_eq!(
            rewrite("~=1.2.0", "1.4.2", Auto).as_deref(),
            Some("~=1.4.2")
        );
        assert_eq!(rewrite("<1.5", "1.7.2", Auto).as_deref(), Some("<1.8"));
        assert_eq!(rewrite("<=1.5", "1.7.2", Auto).as_deref(), Some("<=1.7.2"));
        assert_eq!(
            rewrite(">=1.2", "1.4.0", Increase).as_deref(),
            Some(">=1.4")
        );
        assert_eq!(rewrite(">=1.2", "1.4.0", LockfileOnly), None);
        assert_eq!(
            rewrite(">=1.2,<2", "2.1.0", Pin).as_deref(),
            Some("==2.1.0")
        );
    }

    #[test]
    fn widen_keeps_the_floor() {
        use RangeStrategy::Widen;
        assert_eq!(
            rewrite(">=1.2,<2", "2.1.0", Widen).as_deref(),
            Some(">=1.2,<3")
        );
        assert_eq!(
            rewrite("~=1.2", "2.1.0", Widen).as_deref(),
            Some(">=1.2,<3")
        );
        assert_eq!(
            rewrite("==1.2.3", "2.1.0", Widen).as_deref(),
            Some("==2.1.0")
        );
    }

    #[test]
    fn not_equal_clauses_stay_and_block_their_version() {
        use RangeStrategy::Auto;
        assert_eq!(
            rewrite(">=1.2,!=1.3.0,<2", "2.0.1", Auto).as_deref(),
            Some(">=2.0,!=1.3.0,<3")
        );
        assert!(Pep440
            .new_range(RangeRequest {
                current_value: "==1.0,!=2.0",
                current_version: None,
                new_version: "2.0",
                strategy: Auto,
            })
            .is_err());
    }

    #[test]
    fn prerelease_targets_are_written_whole() {
        assert_eq!(
            rewrite(">=1.2,<2", "2.0.0a3", RangeStrategy::Auto).as_deref(),
            Some(">=2.0.0a3,<3")
        );
    }

    #[test]
    fn update_types() {
        let s = Pep440;
        assert_eq!(s.update_type("1.2.3", "2.0"), UpdateType::Major);
        assert_eq!(s.update_type("1.2.3", "1.3"), UpdateType::Minor);
        assert_eq!(s.update_type("1.2.3", "1.2.4"), UpdateType::Patch);
        assert_eq!(s.update_type("2.8.2", "2.9.0.post0"), UpdateType::Minor);
        assert_eq!(s.update_type("1.0", "1.0.post1"), UpdateType::Patch);
    }

    #[test]
    fn pinned_version_reads_only_single_equality() {
        let s = Pep440;
        assert_eq!(s.pinned_version("==1.2.3").as_deref(), Some("1.2.3"));
        assert_eq!(s.pinned_version(" == 1.2.3 ").as_deref(), Some("1.2.3"));
        assert_eq!(s.pinned_version("==1.2.*"), None);
        assert_eq!(s.pinned_version(">=1.2"), None);
        assert_eq!(s.pinned_version("==1.2,!=1.3"), None);
    }
}

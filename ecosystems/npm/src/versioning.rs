//! npm's semver, exactly as node-semver defines it (through `nodejs-semver`), with range
//! rewrites that keep the operator and precision.

use nodejs_semver::{Range, Version};
use std::cmp::Ordering;
use updatebot_core::version::{
    RangeRequest, RangeStrategy, UpdateType, VersionError, VersionScheme,
};

pub const SCHEME: &str = "npm";

#[derive(Clone, Copy, Debug, Default)]
pub struct Npm;

fn version(text: &str) -> Result<Version, VersionError> {
    Version::parse(text.trim()).map_err(|_| VersionError::InvalidVersion {
        scheme: SCHEME,
        value: text.to_string(),
    })
}

/// Whether `text` is a valid node-semver version.
pub fn is_npm_version(text: &str) -> bool {
    version(text).is_ok()
}

/// Whether `text` is a node-semver range (what npm-package-arg calls a `range` spec).
pub fn is_npm_range(text: &str) -> bool {
    range(text).is_ok()
}

fn range(text: &str) -> Result<Range, VersionError> {
    let invalid = || VersionError::InvalidRange {
        scheme: SCHEME,
        value: text.to_string(),
        detail: None,
    };
    // node-semver has no comma-separated ranges; nodejs-semver accepts them.
    if text.contains(',') {
        return Err(invalid());
    }
    Range::parse(text.trim()).map_err(|_| invalid())
}

/// `new` written with `k` numeric components (`1.4` for k = 2), or whole when it is a
/// pre-release (shortening would change what it admits).
fn with_precision(new_text: &str, new: &Version, k: usize) -> String {
    if new.is_prerelease() || k >= 3 {
        return new_text.trim().trim_start_matches(['v', '=']).to_string();
    }
    let parts = [new.major(), new.minor(), new.patch()];
    parts[..k.max(1)]
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(".")
}

/// How many numeric components a written version has (`1.2` → 2); x-components count.
fn precision(text: &str) -> usize {
    text.split(['-', '+'])
        .next()
        .unwrap_or(text)
        .split('.')
        .count()
        .min(3)
}

fn is_x(part: &str) -> bool {
    matches!(part, "x" | "X" | "*")
}

/// Rewrite one `||` alternative for `new`.
fn bump_alternative(alt: &str, new_text: &str, new: &Version) -> Option<String> {
    let alt = alt.trim();
    if alt.contains(' ') {
        return None;
    }
    for prefix in ["^", "~", ">=", "=", "v", ""] {
        let Some(rest) = alt.strip_prefix(prefix) else {
            continue;
        };
        if rest.is_empty() || !rest.starts_with(|c: char| c.is_ascii_digit()) {
            continue;
        }
        let parts: Vec<&str> = rest.split('.').collect();
        if let Some(x_at) = parts.iter().position(|p| is_x(p)) {
            let kept = with_precision(new_text, new, x_at);
            let tail: Vec<&str> = parts[x_at..].to_vec();
            return Some(format!("{prefix}{kept}.{}", tail.join(".")));
        }
        return Some(format!(
            "{prefix}{}",
            with_precision(new_text, new, precision(rest))
        ));
    }
    None
}

impl VersionScheme for Npm {
    fn name(&self) -> &'static str {
        SCHEME
    }

    fn is_valid_version(&self, text: &str) -> bool {
        version(text).is_ok()
    }

    fn is_valid_range(&self, text: &str) -> bool {
        range(text).is_ok()
    }

    fn compare(&self, a: &str, b: &str) -> Result<Ordering, VersionError> {
        Ok(version(a)?.cmp(&version(b)?))
    }

    fn is_prerelease(&self, text: &str) -> bool {
        version(text).map(|v| v.is_prerelease()).unwrap_or(false)
    }

    fn satisfies(&self, range_text: &str, version_text: &str) -> Result<bool, VersionError> {
        Ok(range(range_text)?.satisfies(&version(version_text)?))
    }

    fn pinned_version(&self, text: &str) -> Option<String> {
        let bare = text.trim().trim_start_matches('=').trim_start_matches('v');
        let parsed = Version::parse(bare).ok()?;
        // `1.2` parses as a range, not a version: only full versions pin.
        (precision(bare) == 3).then(|| parsed.to_string())
    }

    fn update_type(&self, from: &str, to: &str) -> UpdateType {
        match (version(from), version(to)) {
            (Ok(a), Ok(b)) if a.major() != b.major() => UpdateType::Major,
            (Ok(a), Ok(b)) if a.minor() != b.minor() => UpdateType::Minor,
            (Ok(_), Ok(_)) => UpdateType::Patch,
            _ => UpdateType::Major,
        }
    }

    fn new_range(&self, request: RangeRequest<'_>) -> Result<Option<String>, VersionError> {
        let text = request.current_value;
        let new = version(request.new_version)?;
        let new_text = request.new_version.trim();
        let admits = range(text)?.satisfies(&new);
        let cannot = |reason: &str| VersionError::CannotRewrite {
            scheme: SCHEME,
            value: text.to_string(),
            version: new_text.to_string(),
            reason: reason.to_string(),
        };
        let out = match request.strategy {
            RangeStrategy::LockfileOnly => return Ok(None),
            RangeStrategy::Pin => new.to_string(),
            RangeStrategy::Auto | RangeStrategy::IncreaseIfNecessary | RangeStrategy::Widen
                if admits =>
            {
                return Ok(None)
            }
            _ if matches!(text.trim(), "" | "*" | "x" | "X" | "latest") => return Ok(None),
            RangeStrategy::Widen => {
                let last = text.rsplit("||").next().unwrap_or(text);
                let added = bump_alternative(last, new_text, &new)
                    .ok_or_else(|| cannot("the range is too complex to widen"))?;
                format!("{} || {}", text.trim_end(), added.trim())
            }
            _ => {
                let at = text.rfind("||").map(|i| i + 2).unwrap_or(0);
                let last = &text[at..];
                let bumped = bump_alternative(last, new_text, &new)
                    .ok_or_else(|| cannot("the range is too complex to rewrite"))?;
                let lead = &last[..last.len() - last.trim_start().len()];
                let trail = &last[last.trim_end().len()..];
                format!("{}{lead}{bumped}{trail}", &text[..at])
            }
        };
        if !range(&out)?.satisfies(&new) {
            return Err(cannot(&format!("the rewrite `{out}` does not admit it")));
        }
        Ok((out != text).then_some(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bump(value: &str, new: &str, strategy: RangeStrategy) -> Option<String> {
        Npm.new_range(RangeRequest {
            current_value: value,
            current_version: None,
            new_version: new,
            strategy,
        })
        .unwrap()
    }

    #[test]
    fn satisfies_is_node_semver() {
        let n = Npm;
        assert!(n.satisfies("^1.2.3", "1.9.0").unwrap());
        assert!(!n.satisfies("^1.2.3", "2.0.0").unwrap());
        assert!(!n.satisfies("^0.2.3", "0.3.0").unwrap());
        assert!(!n.satisfies("^1.2.3", "1.3.0-beta.1").unwrap());
        assert!(n.satisfies("^1.2.3-beta.1", "1.2.3-beta.2").unwrap());
        assert!(n
            .satisfies("1.x || >=2.5.0 || 5.0.0 - 7.2.3", "6.0.0")
            .unwrap());
        assert!(n.satisfies("", "6.0.0").unwrap());
        assert!(n.satisfies("<=1.2", "1.2.9").unwrap());
        assert!(n.satisfies("1.2.3,1.2.4", "1.2.3").is_err());
    }

    #[test]
    fn rewrites_keep_operator_and_precision() {
        use RangeStrategy::*;
        assert_eq!(bump("^1.2.3", "1.4.0", Auto), None);
        assert_eq!(bump("^1.2.3", "2.1.0", Auto).as_deref(), Some("^2.1.0"));
        assert_eq!(bump("^1.2", "2.1.0", Auto).as_deref(), Some("^2.1"));
        assert_eq!(bump("~1.2.3", "1.3.1", Auto).as_deref(), Some("~1.3.1"));
        assert_eq!(bump("1.2.3", "1.3.1", Auto).as_deref(), Some("1.3.1"));
        assert_eq!(bump("1.x", "2.3.1", Auto).as_deref(), Some("2.x"));
        assert_eq!(bump("1.2.x", "1.3.1", Auto).as_deref(), Some("1.3.x"));
        assert_eq!(bump("^1.2.3", "1.4.0", Increase).as_deref(), Some("^1.4.0"));
        assert_eq!(
            bump("^1.0.0", "2.1.0", Widen).as_deref(),
            Some("^1.0.0 || ^2.1.0")
        );
        assert_eq!(
            bump("^1.0.0 || ^2.0.0", "3.0.1", Auto).as_deref(),
            Some("^1.0.0 || ^3.0.1")
        );
        assert_eq!(bump("^1.2.3", "2.0.0", Pin).as_deref(), Some("2.0.0"));
        assert_eq!(bump("*", "2.0.0", Increase), None);
    }

    #[test]
    fn pins() {
        assert_eq!(Npm.pinned_version("1.2.3").as_deref(), Some("1.2.3"));
        assert_eq!(Npm.pinned_version("=v1.2.3").as_deref(), Some("1.2.3"));
        assert_eq!(Npm.pinned_version("^1.2.3"), None);
        assert_eq!(Npm.pinned_version("1.2"), None);
    }
}

//! Helm chart versions: SemVer 2 (as Helm reads them, a leading `v` allowed) and the
//! constraint ranges Flux hands to Helm (`>=1.0 <2`, `1.x`, `~1.2`, `^1.2`, `a || b`,
//! comma-separated like space-separated conditions).
//!
//! A pinned version moves to the new one (its `v` prefix kept); a range is never rewritten:
//! Flux resolves it against the repository itself at every reconciliation, so a bot edit
//! would only fight it. Such a dependency is reported (the newest release it admits, or the
//! newer release it leaves out) and not bumped.

use nodejs_semver::{Range, Version};
use std::cmp::Ordering;
use updatebot_core::version::{RangeRequest, UpdateType, VersionError, VersionScheme};

pub const SCHEME: &str = "helm";
/// Chart versions written as OCI tags (an `OCIRepository`'s `ref.tag`): `+` is `_` there.
pub const SCHEME_OCI_TAG: &str = "helm-oci-tag";

/// Helm's versioning; `oci_tag` for versions written as OCI tags.
#[derive(Clone, Copy, Debug, Default)]
pub struct Helm {
    pub oci_tag: bool,
}

impl Helm {
    pub const CHART: Helm = Helm { oci_tag: false };
    pub const OCI_TAG: Helm = Helm { oci_tag: true };
}

fn strip_v(text: &str) -> &str {
    let text = text.trim();
    text.strip_prefix('v').unwrap_or(text)
}

fn version(text: &str) -> Result<Version, VersionError> {
    // `+` cannot be written in an OCI tag; Helm pushes `1.0.0+b1` as tag `1.0.0_b1`.
    Version::parse(strip_v(text).replace('_', "+")).map_err(|_| VersionError::InvalidVersion {
        scheme: SCHEME,
        value: text.to_string(),
    })
}

fn range(text: &str) -> Result<Range, VersionError> {
    // Masterminds/semver (Helm's) reads `,` as AND, like a space.
    let spaced = text.replace(',', " ");
    Range::parse(spaced.trim()).map_err(|_| VersionError::InvalidRange {
        scheme: SCHEME,
        value: text.to_string(),
        detail: None,
    })
}

/// Whether `text` is a chart version or a range of them.
pub fn is_version_or_range(text: &str) -> bool {
    version(text).is_ok() || range(text).is_ok()
}

impl VersionScheme for Helm {
    fn name(&self) -> &'static str {
        if self.oci_tag {
            SCHEME_OCI_TAG
        } else {
            SCHEME
        }
    }

    fn is_valid_version(&self, version_text: &str) -> bool {
        version(version_text).is_ok()
    }

    fn is_valid_range(&self, range_text: &str) -> bool {
        is_version_or_range(range_text)
    }

    fn compare(&self, a: &str, b: &str) -> Result<Ordering, VersionError> {
        let (a, b) = (version(a)?, version(b)?);
        // SemVer precedence ignores build metadata; order by it last so the order is total.
        Ok(a.cmp(&b).then_with(|| {
            let ids = |v: &Version| v.build().iter().map(|i| i.to_string()).collect::<Vec<_>>();
            ids(&a).cmp(&ids(&b))
        }))
    }

    fn is_prerelease(&self, version_text: &str) -> bool {
        version(version_text).is_ok_and(|v| v.is_prerelease())
    }

    fn satisfies(&self, range_text: &str, version_text: &str) -> Result<bool, VersionError> {
        let v = version(version_text)?;
        if let Ok(exact) = version(range_text) {
            return Ok(exact == v);
        }
        Ok(range(range_text)?.satisfies(&v))
    }

    fn pinned_version(&self, range_text: &str) -> Option<String> {
        version(range_text)
            .is_ok()
            .then(|| strip_v(range_text).to_string())
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
        let current = request.current_value.trim();
        if version(current).is_ok() {
            let prefix = if current.starts_with('v') { "v" } else { "" };
            let new = strip_v(request.new_version);
            return Ok(Some(if self.oci_tag {
                format!("{prefix}{}", new.replace('+', "_"))
            } else {
                format!("{prefix}{new}")
            }));
        }
        Err(VersionError::CannotRewrite {
            scheme: SCHEME,
            value: current.to_string(),
            version: request.new_version.to_string(),
            reason: format!(
                "`{current}` is a range, which Flux resolves itself at each reconciliation; not bumped"
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use updatebot_core::version::RangeStrategy;

    const H: Helm = Helm::CHART;

    fn new_value(current: &str, new: &str) -> Result<Option<String>, VersionError> {
        H.new_range(RangeRequest {
            current_value: current,
            current_version: None,
            new_version: new,
            strategy: RangeStrategy::Auto,
        })
    }

    #[test]
    fn versions_are_semver_2() {
        assert!(H.is_valid_version("6.5.4"));
        assert!(H.is_valid_version("v6.5.4"));
        assert!(H.is_valid_version("1.0.0-rc.1+build.5"));
        assert!(!H.is_valid_version("latest"));
        assert!(!H.is_valid_version(">=1.0"));
        assert_eq!(H.compare("1.0.0-rc.1", "1.0.0").unwrap(), Ordering::Less);
        assert_eq!(H.compare("1.10.0", "1.9.0").unwrap(), Ordering::Greater);
        assert_eq!(H.compare("v2.0.0", "2.0.0").unwrap(), Ordering::Equal);
        assert!(H.is_prerelease("1.0.0-beta.2"));
        assert!(!H.is_prerelease("1.0.0+b1"));
        assert_eq!(H.update_type("1.2.3", "1.3.0"), UpdateType::Minor);
        assert_eq!(H.update_type("1.2.3", "2.0.0"), UpdateType::Major);
        assert_eq!(H.update_type("1.2.3", "1.2.4"), UpdateType::Patch);
    }

    #[test]
    fn ranges_are_matched_and_never_rewritten() {
        for (range, version, yes) in [
            (">=1.0.0 <2.0.0", "1.9.0", true),
            (">=1.0.0 <2.0.0", "2.0.0", false),
            (">=1.0.0, <2.0.0", "1.5.0", true),
            ("1.x", "1.4.2", true),
            ("1.x", "2.0.0", false),
            ("~1.2", "1.2.9", true),
            ("^1.2", "1.9.0", true),
            ("*", "3.0.0", true),
            ("v1.2.3", "1.2.3", true),
        ] {
            assert_eq!(
                H.satisfies(range, version).unwrap(),
                yes,
                "{range} {version}"
            );
        }
        assert!(H.is_valid_range(">=1.0 <2"));
        assert!(!H.is_valid_range("not a range"));
        assert_eq!(
            new_value("6.5.4", "6.6.0").unwrap().as_deref(),
            Some("6.6.0")
        );
        assert_eq!(
            new_value("v6.5.4", "6.6.0").unwrap().as_deref(),
            Some("v6.6.0")
        );
        let e = new_value(">=1.0 <2", "2.1.0").unwrap_err().to_string();
        assert!(e.contains("Flux resolves itself"), "{e}");
        assert_eq!(H.pinned_version("v1.2.3").as_deref(), Some("1.2.3"));
        assert_eq!(H.pinned_version("1.x"), None);
        // As an OCI tag, build metadata is written with `_`.
        let tag = Helm::OCI_TAG.new_range(RangeRequest {
            current_value: "1.0.0_b1",
            current_version: None,
            new_version: "1.1.0+b2",
            strategy: RangeStrategy::Auto,
        });
        assert_eq!(tag.unwrap().as_deref(), Some("1.1.0_b2"));
        assert_eq!(
            Helm::OCI_TAG.compare("1.0.0_b1", "1.0.0+b1").unwrap(),
            Ordering::Equal
        );
    }
}

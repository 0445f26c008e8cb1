//! The versioning contract every ecosystem implements.

use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::fmt;
use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum VersionError {
    #[error("invalid {scheme} version `{value}`")]
    InvalidVersion { scheme: &'static str, value: String },
    #[error("invalid {scheme} range `{value}`{}", detail.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    InvalidRange {
        scheme: &'static str,
        value: String,
        detail: Option<String>,
    },
    #[error("cannot rewrite {scheme} range `{value}` for version `{version}`: {reason}")]
    CannotRewrite {
        scheme: &'static str,
        value: String,
        version: String,
        reason: String,
    },
}

/// How big a step an update is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UpdateType {
    Major,
    Minor,
    Patch,
    /// Same tag, new digest (containers).
    Digest,
    /// Same tag, its digest added to a reference that had none (containers, `pin-digests`).
    Pin,
}

impl UpdateType {
    pub fn as_str(self) -> &'static str {
        match self {
            UpdateType::Major => "major",
            UpdateType::Minor => "minor",
            UpdateType::Patch => "patch",
            UpdateType::Digest => "digest",
            UpdateType::Pin => "pin",
        }
    }
}

impl fmt::Display for UpdateType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a range in a manifest follows a new version (Dependabot's `versioning-strategy`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RangeStrategy {
    /// Pins move; ranges change only when they no longer admit the new version.
    #[default]
    Auto,
    /// Always raise the range to start at the new version.
    Increase,
    /// Change the range only when it does not admit the new version.
    IncreaseIfNecessary,
    /// Never touch the manifest; only the lockfile moves (within the range).
    LockfileOnly,
    /// Extend the range to admit the new version, keeping the old ones.
    Widen,
    /// Replace the range with an exact pin.
    Pin,
}

/// The question asked of [`VersionScheme::new_range`].
#[derive(Clone, Copy, Debug)]
pub struct RangeRequest<'a> {
    /// The version text in the manifest.
    pub current_value: &'a str,
    /// The version currently in use (locked, pinned, or the best match of the range).
    pub current_version: Option<&'a str>,
    /// The version to move to.
    pub new_version: &'a str,
    pub strategy: RangeStrategy,
}

/// Parse, compare and rewrite the versions and ranges of one ecosystem.
///
/// Versions and ranges are passed as text so that schemes stay object-safe and the caller
/// never depends on a scheme's types. Methods with defaults are optional.
pub trait VersionScheme: Send + Sync {
    /// Short identifier: `pep440`, `poetry`, `npm`, `docker`.
    fn name(&self) -> &'static str;

    fn is_valid_version(&self, version: &str) -> bool;

    fn is_valid_range(&self, range: &str) -> bool;

    /// Total order of versions; errors name the invalid one.
    fn compare(&self, a: &str, b: &str) -> Result<Ordering, VersionError>;

    /// Whether `version` is a pre-release (alpha, beta, rc, dev).
    fn is_prerelease(&self, version: &str) -> bool;

    /// Whether `version` is inside `range`, by the ecosystem's own definition.
    fn satisfies(&self, range: &str, version: &str) -> Result<bool, VersionError>;

    /// The single version a range pins exactly (`==1.2.3`, `1.2.3`), if it does.
    fn pinned_version(&self, range: &str) -> Option<String>;

    /// Whether moving from `current` to `candidate` stays in the same line of releases
    /// (Docker tag suffixes, for instance). Most schemes accept every candidate.
    fn is_compatible(&self, _current: &str, _candidate: &str) -> bool {
        true
    }

    /// Major, minor or patch: the most significant component that changed.
    fn update_type(&self, from: &str, to: &str) -> UpdateType;

    /// The manifest's new version text for an update, or `None` when the text stays as it is
    /// (the range already admits the new version and the strategy does not ask for more).
    fn new_range(&self, request: RangeRequest<'_>) -> Result<Option<String>, VersionError>;
}

/// Sort versions ascending by `scheme`, dropping the ones it cannot parse.
pub fn sort_versions(scheme: &dyn VersionScheme, versions: &mut Vec<String>) {
    versions.retain(|v| scheme.is_valid_version(v));
    versions.sort_by(|a, b| scheme.compare(a, b).unwrap_or(Ordering::Equal));
}

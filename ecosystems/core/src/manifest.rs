//! The manager contract: manifest text → dependencies with spans. No IO.

use crate::dependency::PackageFile;
use crate::ecosystem::Ecosystem;
use thiserror::Error;

/// A manifest that cannot be read. Names the file and, where known, the line.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{path}{}: {message}", line.map(|l| format!(":{l}")).unwrap_or_default())]
pub struct ManifestError {
    pub path: String,
    pub line: Option<usize>,
    pub message: String,
}

impl ManifestError {
    pub fn new(path: impl Into<String>, line: Option<usize>, message: impl Into<String>) -> Self {
        ManifestError {
            path: path.into(),
            line,
            message: message.into(),
        }
    }
}

/// Reads one kind of manifest (Renovate's "manager").
pub trait Manager: Send + Sync {
    /// Short identifier shown in reports: `pip_requirements`, `pyproject`, `pipenv`, …
    fn name(&self) -> &'static str;

    fn ecosystem(&self) -> Ecosystem;

    /// Whether the file at `path` (repo-relative, `/`-separated) is one this manager reads.
    fn matches(&self, path: &str) -> bool;

    /// The dependencies declared in `content`. `path` is only used in error messages.
    fn extract(&self, path: &str, content: &str) -> Result<PackageFile, ManifestError>;
}

//! The lockfile contract: bring a lockfile in line with an edited manifest.

use crate::dependency::Dependency;
use crate::registry::{Release, ReleaseList};
use async_trait::async_trait;
use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum LockError {
    /// The update cannot be made exact without the ecosystem's own tool.
    #[error("{lockfile}: needs {tool}: {reason}")]
    NeedsTool {
        lockfile: String,
        tool: String,
        reason: String,
    },
    #[error("{lockfile}: {reason}")]
    Failed { lockfile: String, reason: String },
}

/// One update going into a lockfile.
#[derive(Clone, Copy, Debug)]
pub struct PlannedUpdate<'a> {
    pub dependency: &'a Dependency,
    /// The manifest's new version text (`None`: manifest unchanged, lockfile-only update).
    pub new_value: Option<&'a str>,
    pub new_version: &'a str,
    /// The release moved to, with its files and hashes.
    pub release: &'a Release,
    /// Everything the registry said about the package.
    pub releases: &'a ReleaseList,
}

/// The inputs of one lockfile update.
#[derive(Clone, Copy)]
pub struct LockRequest<'a> {
    pub manifest_path: &'a str,
    pub manifest_before: &'a str,
    pub manifest_after: &'a str,
    pub lock_path: &'a str,
    /// The lockfile's current text. For a lock kept inside the manifest itself (hashed
    /// requirements) this is `manifest_after`.
    pub lock_content: &'a str,
    pub updates: &'a [PlannedUpdate<'a>],
    /// Releases of any other package (new transitive dependencies), through the run's
    /// registries and cache.
    pub lookup: &'a dyn Lookup,
}

/// Releases of a package by name, routed to the right registry; one request per package
/// per run.
#[async_trait]
pub trait Lookup: Send + Sync {
    async fn releases(
        &self,
        package: &str,
    ) -> Result<std::sync::Arc<ReleaseList>, crate::registry::RegistryError>;
}

/// Keeps one kind of lockfile in line with its manifest.
#[async_trait]
pub trait LockfileUpdater: Send + Sync {
    /// Short identifier shown in reports: `requirements-hashes`, `poetry.lock`, …
    fn name(&self) -> &'static str;

    /// The lockfile this updater maintains for the manifest at `manifest_path`, if any.
    /// `repo_files` lists the repository's files (repo-relative).
    fn lockfile_for(
        &self,
        manifest_path: &str,
        manifest: &str,
        repo_files: &[String],
    ) -> Option<String>;

    /// Whether updates of `lock_path` can be made at all; `Err` says why not, before any
    /// lookup result is spent on it. Default: they can.
    fn preflight(&self, _lock_path: &str) -> Result<(), LockError> {
        Ok(())
    }

    /// The lockfile's new text. `request.lookup` fetches other packages' releases.
    async fn update(&self, request: LockRequest<'_>) -> Result<String, LockError>;
}

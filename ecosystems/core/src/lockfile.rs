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

    /// The indexes `package` is looked up in for this manifest, with the credentials
    /// configured for each one's host: what a lockfile tool is pointed at. Default: none
    /// known.
    fn indexes(&self, _package: &str) -> Vec<crate::tool::IndexAccess> {
        Vec::new()
    }

    /// The run's HTTP client (credentials only ever go to their own host), for updaters that
    /// read more than release lists (a wheel's metadata). Default: none.
    fn http(&self) -> Option<std::sync::Arc<crate::http::HttpClient>> {
        None
    }

    /// Another file of the repository, as it stands in this change (a `.in` source beside a
    /// compiled requirements file). `None`: not there or not readable.
    fn read_file(&self, _path: &str) -> Option<String> {
        None
    }

    /// The operator's settings for the lockfile kind `kind` (`poetry.lock`, `uv.lock`,
    /// `Pipfile.lock`, `pip-compile`). Default: [`crate::tool::ToolSettings::default`].
    fn tool_settings(&self, _kind: &str) -> crate::tool::ToolSettings {
        crate::tool::ToolSettings::default()
    }

    /// The files [`LockfileUpdater::related_files`] named for this lock (workspace
    /// manifests, tool settings), readable with [`Lookup::read_file`]. Default: none.
    fn related_files(&self) -> Vec<String> {
        Vec::new()
    }
}

/// What a lockfile update produced beyond the lockfile's own text.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LockOutput {
    /// The lockfile's new text.
    pub content: String,
    /// Other files the update changed with it (a pip-compile `.in` source): path → new text.
    pub other_files: Vec<(String, String)>,
    /// How it was made (`native`, `poetry 2.5.1`), for reports.
    pub engine: Option<String>,
}

/// A package a lockfile installs, declared by the project or pulled in by another package.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct LockedPackage {
    /// The registry name.
    pub name: String,
    pub version: String,
    /// Installed only for development (npm `dev`, Poetry's non-main groups, Pipfile's
    /// `develop`).
    pub development: bool,
}

/// A locked package that depends on another one, with the range it asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dependent {
    /// The registry name (for the project itself: its manifest path).
    pub name: String,
    pub version: String,
    /// The range asked for, in `scheme`; `None` when the lock does not record it (ask
    /// [`LockfileUpdater::requirement`] of the dependent's release).
    pub range: Option<String>,
    pub scheme: &'static str,
    /// The dependent is the project itself (the root or a workspace): its manifest says
    /// what it asks for.
    pub project: bool,
}

/// What a release of a package asks for another package.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Requirement {
    /// It does not depend on it.
    Absent,
    /// It asks for this range, in `scheme`.
    Range { range: String, scheme: &'static str },
    /// It cannot be told without running or building something; the text says why.
    Unknown(String),
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

    /// The lockfile's new text and any other file the update changes with it. Default: what
    /// [`LockfileUpdater::update`] gives, alone.
    async fn update_files(&self, request: LockRequest<'_>) -> Result<LockOutput, LockError> {
        Ok(LockOutput {
            content: self.update(request).await?,
            ..LockOutput::default()
        })
    }

    /// Every package the lockfile installs, transitive ones too (for matching advisories).
    /// `None`: this updater's lockfiles do not list packages (the manifest is the lock).
    fn locked_packages(
        &self,
        _lock_path: &str,
        _lock: &str,
    ) -> Option<Result<Vec<LockedPackage>, LockError>> {
        None
    }

    /// The locked packages that depend on `package` at `version`, and what each asks for.
    /// `Ok(None)`: the lockfile does not record its dependency graph. Updates of a package
    /// the manifest does not declare (`PlannedUpdate::new_value` `None`) are made only where
    /// every dependent admits the new version.
    async fn dependents(
        &self,
        _lock_path: &str,
        _lock: &str,
        _package: &str,
        _version: &str,
        _lookup: &dyn Lookup,
    ) -> Result<Option<Vec<Dependent>>, LockError> {
        Ok(None)
    }

    /// What `release` of `parent` asks for `package` (from the registry's metadata).
    async fn requirement(
        &self,
        _parent: &str,
        _release: &Release,
        _package: &str,
        _lookup: &dyn Lookup,
    ) -> Requirement {
        Requirement::Unknown("this lockfile's packages are not read".into())
    }

    /// Other repository files an update of `lock_path` reads besides the manifest and the
    /// lock (the workspace's other manifests, a tool's settings files), so that they are
    /// fetched for it. Default: none.
    fn related_files(&self, _lock_path: &str, _repo_files: &[String]) -> Vec<String> {
        Vec::new()
    }

    /// Whether the manifest at `manifest_path` is only the source of another, compiled file
    /// (`requirements.in` beside `requirements.txt`): its dependencies are then updated
    /// through that file, and this names it. Default: no.
    fn compiled_into(&self, _manifest_path: &str, _repo_files: &[String]) -> Option<String> {
        None
    }
}

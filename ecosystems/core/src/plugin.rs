//! The plug-in point: what an ecosystem hands to the bot.

use crate::dependency::{Constraints, PackageFile};
use crate::ecosystem::Ecosystem;
use crate::http::HttpClient;
use crate::lockfile::LockfileUpdater;
use crate::manifest::Manager;
use crate::registry::{Registry, RegistryError, Release};
use crate::version::VersionScheme;
use std::collections::BTreeMap;
use std::sync::Arc;

/// How a package's answers from several registries combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegistryStrategy {
    /// Every registry is asked and the answers merged (pip's `--extra-index-url`).
    Merge,
    /// Registries are asked in order; the first that has the package answers alone
    /// (container images: a mirror and Docker Hub may hold different images of one name).
    FirstFound,
}

/// One manifest of a scan as [`Plugin::link`] sees it: repo-relative path, text, and what
/// its manager extracted.
pub struct ScannedManifest<'a> {
    pub path: &'a str,
    pub content: &'a str,
    pub file: &'a mut PackageFile,
}

/// Everything the bot needs from one ecosystem. Adding an ecosystem means implementing this
/// and listing it once; nothing in the bot's core changes.
pub trait Plugin: Send + Sync {
    fn ecosystem(&self) -> Ecosystem;

    /// The managers (manifest readers) of this ecosystem.
    fn managers(&self) -> &[Box<dyn Manager>];

    /// The versioning scheme called `name` (as in [`crate::Dependency::versioning`]).
    fn scheme(&self, name: &str) -> Option<&dyn VersionScheme>;

    /// The registry used when neither the manifest nor the configuration names one.
    fn default_registry_url(&self) -> &'static str;

    /// A client for the registry at `url`.
    fn registry(
        &self,
        url: &str,
        http: Arc<HttpClient>,
    ) -> Result<Arc<dyn Registry>, RegistryError>;

    /// The name `dep` is looked up under, which is also what the run's lookup cache keys on:
    /// its package name by default. Container images add the value in use
    /// (`docker.io/library/nginx:1.25.3`, `…:1.25.3@sha256:…`), which their registry needs
    /// to check platforms and resolve digests.
    fn lookup_name(&self, dep: &crate::Dependency) -> String {
        dep.package_name.clone()
    }

    /// With `pin-digests`: `dep` as it is to be looked up and decided so that its digest gets
    /// pinned (its [`crate::Dependency::pin_digest`] set), or `None` when it has no digest to
    /// pin (already pinned, nothing to pin it to, an ecosystem without digests: the default).
    fn pin_digest(&self, _dep: &crate::Dependency) -> Option<crate::Dependency> {
        None
    }

    /// How the answers of several registries for one package combine. Default: merged.
    fn registry_strategy(&self) -> RegistryStrategy {
        RegistryStrategy::Merge
    }

    /// Lockfile updaters, tried in order for each edited manifest.
    fn lockfile_updaters(&self) -> &[Box<dyn LockfileUpdater>] {
        &[]
    }

    /// Whether `release` can be used in a project with these environment constraints
    /// (Python's `requires-python`, Node's `engines`). Default: always.
    fn release_admits(&self, _project: &Constraints, _release: &Release) -> bool {
        true
    }

    /// Names of settings files that change how a manifest is read (`.npmrc`); the scan reads
    /// every file with such a name and hands them to [`Plugin::contextualize`].
    fn context_files(&self) -> &[&'static str] {
        &[]
    }

    /// Apply settings files (path → text, repo-relative) to a manifest read at `manifest_path`:
    /// scoped registries, default registry. Default: nothing to do.
    fn contextualize(
        &self,
        _manifest_path: &str,
        _file: &mut PackageFile,
        _context: &BTreeMap<String, String>,
    ) {
    }

    /// Resolve what a manifest names in another manifest of the same repository (a Flux
    /// `HelmRelease`'s `sourceRef` to a `HelmRepository` defined in another file). Called
    /// once per scan with every manifest of this ecosystem that could be read, after
    /// [`Plugin::contextualize`]. Default: nothing to resolve.
    fn link(&self, _manifests: &mut [ScannedManifest<'_>]) {}

    /// The registries a package is looked up in, for a manifest (own registries first, then
    /// scoped ones, then the manifest's). Empty: the configured or default registries.
    fn route(&self, package: &str, file: &PackageFile) -> Vec<String> {
        if let Some((_, url)) = file
            .scoped_registries
            .iter()
            .find(|(prefix, _)| package.starts_with(prefix.as_str()))
        {
            return vec![url.clone()];
        }
        file.registry_urls.clone()
    }
}

//! The plug-in point: what an ecosystem hands to the bot.

use crate::dependency::Constraints;
use crate::ecosystem::Ecosystem;
use crate::http::HttpClient;
use crate::lockfile::LockfileUpdater;
use crate::manifest::Manager;
use crate::registry::{Registry, RegistryError, Release};
use crate::version::VersionScheme;
use std::sync::Arc;

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

    /// Lockfile updaters, tried in order for each edited manifest.
    fn lockfile_updaters(&self) -> &[Box<dyn LockfileUpdater>] {
        &[]
    }

    /// Whether `release` can be used in a project with these environment constraints
    /// (Python's `requires-python`, Node's `engines`). Default: always.
    fn release_admits(&self, _project: &Constraints, _release: &Release) -> bool {
        true
    }
}

//! Shared types and traits of updatebot's ecosystems.
//!
//! Every ecosystem (Python, npm, containers) plugs into the bot through the small contracts
//! defined here, after Renovate's split into managers, datasources and versioning:
//!
//! * [`Manager`]: manifest text → [`Dependency`]s with byte spans (no IO);
//! * [`VersionScheme`]: parse, compare, match ranges, compute a new range (no IO);
//! * [`Registry`]: the releases of a package (IO, through [`http::HttpClient`]);
//! * [`LockfileUpdater`]: bring a lockfile in line with an edited manifest.
//!
//! Nothing in this crate knows about GitLab or about the bot's configuration.

pub mod defaults;
pub mod dependency;
pub mod ecosystem;
pub mod edit;
pub mod http;
pub mod lockfile;
pub mod manifest;
pub mod plugin;
pub mod registry;
pub mod tool;
pub mod version;

pub use dependency::{Constraints, Dependency, MinimumAge, PackageFile, SkipReason, Span};
pub use ecosystem::Ecosystem;
pub use lockfile::{
    Dependent, LockError, LockOutput, LockRequest, LockedPackage, LockfileUpdater, Lookup,
    PlannedUpdate, Requirement,
};
pub use manifest::{Manager, ManifestError};
pub use plugin::{Plugin, RegistryStrategy, ScannedManifest};
pub use registry::{Detail, Registry, RegistryError, Release, ReleaseFile, ReleaseList};
pub use version::{RangeRequest, RangeStrategy, UpdateType, VersionError, VersionScheme};

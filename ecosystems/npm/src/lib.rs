//! The npm ecosystem of updatebot: `package.json` (dependencies of every kind, aliases,
//! overrides, workspaces), `.npmrc` scopes, the npm registry protocol, node-semver versioning,
//! and `package-lock.json` kept in line natively.

pub mod lock;
pub mod npmrc;
pub mod package_json;
pub mod plugin;
pub mod registry;
pub mod spec;
pub mod versioning;

pub use plugin::NpmPlugin;
pub use versioning::Npm;

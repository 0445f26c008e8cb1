//! The npm ecosystem of updatebot. So far: node-semver versioning.

pub mod versioning;

pub use versioning::Npm;

//! The container-image ecosystem of updatebot. So far: Docker tag versioning.

pub mod versioning;

pub use versioning::Docker;

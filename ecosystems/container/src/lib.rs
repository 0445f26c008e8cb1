//! The container-image ecosystem of updatebot: image references in Dockerfiles, compose
//! files, GitLab CI, Kubernetes manifests and Helm values; Docker tag versioning; and the
//! OCI distribution registry client with Docker's token authentication; Flux `HelmRelease`
//! and `OCIRepository` charts with Helm chart repositories (`index.yaml` or OCI).

pub mod dockerfile;
pub mod flux;
pub mod gitlab_ci;
pub mod helm_repo;
pub mod helm_version;
pub mod image;
pub mod manifest;
pub mod plugin;
pub mod reference;
pub mod registry;
pub mod release_age;
pub mod vars;
pub mod versioning;
pub mod yaml;
pub mod yaml_managers;

pub use plugin::ContainerPlugin;
pub use versioning::Docker;

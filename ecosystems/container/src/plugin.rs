//! The container-image ecosystem as the bot sees it.

use crate::dockerfile::Dockerfile;
use crate::registry::{OciRegistry, TokenCache};
use crate::versioning::Docker;
use crate::yaml_managers::{Compose, GitlabCi, HelmValues, Kubernetes};
use std::sync::Arc;
use updatebot_core::http::HttpClient;
use updatebot_core::registry::{Registry, RegistryError};
use updatebot_core::{defaults, Ecosystem, Manager, Plugin, VersionScheme};

pub struct ContainerPlugin {
    managers: Vec<Box<dyn Manager>>,
    tokens: Arc<TokenCache>,
}

impl Default for ContainerPlugin {
    fn default() -> Self {
        ContainerPlugin {
            // Order matters: a file goes to the first manager that matches it, and the
            // Kubernetes manager takes any YAML the others leave.
            managers: vec![
                Box::new(Dockerfile),
                Box::new(Compose),
                Box::new(GitlabCi),
                Box::new(HelmValues),
                Box::new(Kubernetes),
            ],
            tokens: Arc::new(TokenCache::default()),
        }
    }
}

impl Plugin for ContainerPlugin {
    fn ecosystem(&self) -> Ecosystem {
        Ecosystem::Docker
    }

    /// A mirror and Docker Hub may hold different images under one name: the first registry
    /// that has the image answers for it.
    fn registry_strategy(&self) -> updatebot_core::RegistryStrategy {
        updatebot_core::RegistryStrategy::FirstFound
    }

    fn lookup_name(&self, dep: &updatebot_core::Dependency) -> String {
        if dep.current_value.is_empty() {
            dep.package_name.clone()
        } else {
            format!("{}:{}", dep.package_name, dep.current_value)
        }
    }

    fn managers(&self) -> &[Box<dyn Manager>] {
        &self.managers
    }

    fn scheme(&self, name: &str) -> Option<&dyn VersionScheme> {
        (name == crate::versioning::SCHEME).then_some(&Docker as &dyn VersionScheme)
    }

    fn default_registry_url(&self) -> &'static str {
        defaults::DOCKER_HUB_REGISTRY_URL
    }

    fn registry(
        &self,
        url: &str,
        http: Arc<HttpClient>,
    ) -> Result<Arc<dyn Registry>, RegistryError> {
        Ok(Arc::new(OciRegistry::new(url, http, self.tokens.clone())?))
    }
}

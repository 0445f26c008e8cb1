//! The container-image ecosystem as the bot sees it.

use crate::dockerfile::Dockerfile;
use crate::flux::Repository;
use crate::gitlab_ci::GitlabCi;
use crate::helm_version::Helm;
use crate::registry::{OciRegistry, TokenCache};
use crate::versioning::Docker;
use crate::yaml_managers::{Compose, HelmValues, Kubernetes};
use std::sync::Arc;
use updatebot_core::http::HttpClient;
use updatebot_core::registry::{Registry, RegistryError};
use updatebot_core::{defaults, Ecosystem, Manager, Plugin, SkipReason, VersionScheme};

pub struct ContainerPlugin {
    managers: Vec<Box<dyn Manager>>,
    tokens: Arc<TokenCache>,
    indexes: Arc<crate::helm_repo::IndexCache>,
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
            indexes: Arc::new(crate::helm_repo::IndexCache::default()),
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

    /// `docker.io/library/nginx:1.25.3`; with a trailing `@` when its digest is to be pinned
    /// (the registry then resolves the digest of the tag in use too).
    /// Under a cooldown, the name ends in `#cooldown=…` (see [`crate::release_age`]): the
    /// registry then reads the build times of the tags the update could move to.
    /// A chart (Flux) is looked up by its name alone, in its repository.
    fn lookup_name(&self, dep: &updatebot_core::Dependency) -> String {
        if dep.versioning != crate::versioning::SCHEME {
            return dep.package_name.clone();
        }
        let name = if dep.current_value.is_empty() {
            dep.package_name.clone()
        } else if dep.pin_digest {
            format!("{}:{}@", dep.package_name, dep.current_value)
        } else {
            format!("{}:{}", dep.package_name, dep.current_value)
        };
        match &dep.minimum_age {
            Some(age) if !dep.current_value.is_empty() => name + &crate::release_age::suffix(age),
            _ => name,
        }
    }

    /// A tagged reference without a digest, whose tag can be edited: `nginx:1.25.3`, and also
    /// a moving tag (`nginx:latest`, otherwise skipped as unpinned), which a digest pins.
    /// `nginx` alone has no tag to write the digest after.
    fn pin_digest(&self, dep: &updatebot_core::Dependency) -> Option<updatebot_core::Dependency> {
        let pinnable = dep.versioning == crate::versioning::SCHEME
            && !dep.current_value.is_empty()
            && !dep.current_value.contains('@')
            && dep.span.is_some()
            // `3.12-slim` written in two places: the digest cannot follow the whole tag.
            && dep.span_part.is_none()
            && matches!(dep.skip_reason, None | Some(SkipReason::Unpinned))
            && crate::versioning::parse_tag(&dep.current_value).is_some();
        pinnable.then(|| {
            let mut pinned = dep.clone();
            pinned.skip_reason = None;
            pinned.pin_digest = true;
            pinned
        })
    }

    fn managers(&self) -> &[Box<dyn Manager>] {
        &self.managers
    }

    fn scheme(&self, name: &str) -> Option<&dyn VersionScheme> {
        match name {
            crate::versioning::SCHEME => Some(&Docker),
            crate::helm_version::SCHEME => Some(&Helm::CHART),
            crate::helm_version::SCHEME_OCI_TAG => Some(&Helm::OCI_TAG),
            _ => None,
        }
    }

    fn default_registry_url(&self) -> &'static str {
        defaults::DOCKER_HUB_REGISTRY_URL
    }

    fn registry(
        &self,
        url: &str,
        http: Arc<HttpClient>,
    ) -> Result<Arc<dyn Registry>, RegistryError> {
        if let Some(repository) = Repository::from_url(url) {
            return crate::helm_repo::registry(
                &repository,
                http,
                self.indexes.clone(),
                self.tokens.clone(),
            );
        }
        Ok(Arc::new(OciRegistry::new(url, http, self.tokens.clone())?))
    }

    /// Flux charts whose `HelmRepository` is defined in another file of the repository.
    fn link(&self, manifests: &mut [updatebot_core::ScannedManifest<'_>]) {
        let waiting = |m: &updatebot_core::ScannedManifest<'_>| {
            m.file
                .dependencies
                .iter()
                .any(|d| d.skip_reason == Some(SkipReason::UnknownRegistry))
        };
        if !manifests.iter().any(waiting) {
            return;
        }
        let sources: Vec<crate::flux::Source> = manifests
            .iter()
            .filter(|m| m.content.contains("HelmRepository"))
            .filter_map(|m| crate::yaml::parse(m.content).ok())
            .flat_map(|docs| crate::flux::sources(&docs))
            .collect();
        for manifest in manifests.iter_mut() {
            crate::flux::resolve(manifest.file, &sources);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::{dependency, Located};

    fn dep(image: &str) -> updatebot_core::Dependency {
        dependency("", Some(&Located::at(image, 5)), "from")
    }

    #[test]
    fn pins_are_asked_with_a_trailing_at() {
        let plugin = ContainerPlugin::default();
        let pinned = plugin.pin_digest(&dep("nginx:1.25.3")).unwrap();
        assert!(pinned.pin_digest);
        assert_eq!(
            plugin.lookup_name(&pinned),
            "docker.io/library/nginx:1.25.3@"
        );
        assert_eq!(
            plugin.lookup_name(&dep("nginx:1.25.3")),
            "docker.io/library/nginx:1.25.3"
        );
        // A moving tag is looked up once it is to be pinned.
        let latest = dep("nginx:latest");
        assert_eq!(latest.skip_reason, Some(SkipReason::Unpinned));
        assert_eq!(plugin.pin_digest(&latest).unwrap().skip_reason, None);
        let digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        for nothing_to_pin in [
            "nginx".to_string(),
            format!("nginx:1.25.3@{digest}"),
            format!("nginx@{digest}"),
            "Nginx:1".to_string(),
        ] {
            assert!(
                plugin.pin_digest(&dep(&nothing_to_pin)).is_none(),
                "{nothing_to_pin}"
            );
        }
        let variable = dependency("${X}", None, "from");
        assert!(plugin.pin_digest(&variable).is_none());
    }
}

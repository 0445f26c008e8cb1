//! The npm ecosystem as the bot sees it.

use crate::package_json::PackageJson;
use crate::versioning::Npm;
use std::collections::BTreeMap;
use std::sync::Arc;
use updatebot_core::http::HttpClient;
use updatebot_core::registry::{Registry, RegistryError};
use updatebot_core::{
    defaults, Ecosystem, LockfileUpdater, Manager, PackageFile, Plugin, VersionScheme,
};

pub struct NpmPlugin {
    managers: Vec<Box<dyn Manager>>,
    updaters: Vec<Box<dyn LockfileUpdater>>,
}

impl Default for NpmPlugin {
    fn default() -> Self {
        NpmPlugin {
            managers: vec![Box::new(PackageJson)],
            updaters: crate::lock::updaters(),
        }
    }
}

impl Plugin for NpmPlugin {
    fn ecosystem(&self) -> Ecosystem {
        Ecosystem::Npm
    }

    fn managers(&self) -> &[Box<dyn Manager>] {
        &self.managers
    }

    fn scheme(&self, name: &str) -> Option<&dyn VersionScheme> {
        (name == crate::versioning::SCHEME).then_some(&Npm as &dyn VersionScheme)
    }

    fn default_registry_url(&self) -> &'static str {
        defaults::NPM_REGISTRY_URL
    }

    fn registry(
        &self,
        url: &str,
        http: Arc<HttpClient>,
    ) -> Result<Arc<dyn Registry>, RegistryError> {
        crate::registry::registry_for(url, http)
    }

    fn lockfile_updaters(&self) -> &[Box<dyn LockfileUpdater>] {
        &self.updaters
    }

    fn context_files(&self) -> &[&'static str] {
        &[
            ".npmrc",
            "package-lock.json",
            "npm-shrinkwrap.json",
            "pnpm-lock.yaml",
            "yarn.lock",
            "bun.lock",
        ]
    }

    fn contextualize(
        &self,
        manifest_path: &str,
        file: &mut PackageFile,
        context: &BTreeMap<String, String>,
    ) {
        let rc = crate::npmrc::effective(manifest_path, context);
        if let Some(registry) = rc.registry {
            file.registry_urls = vec![registry];
        }
        for (scope, url) in rc.scopes {
            file.scoped_registries.insert(format!("{scope}/"), url);
        }
        crate::lock::locked::annotate(manifest_path, file, context);
    }
}

//! The Python ecosystem as the bot sees it.

use crate::pep440::Pep440;
use crate::pipfile::Pipfile;
use crate::poetry::Poetry;
use crate::pyproject::Pyproject;
use crate::requirements::Requirements;
use std::sync::Arc;
use updatebot_core::dependency::Constraints;
use updatebot_core::http::HttpClient;
use updatebot_core::registry::{Registry, RegistryError, Release};
use updatebot_core::{defaults, Ecosystem, LockfileUpdater, Manager, Plugin, VersionScheme};

pub struct PythonPlugin {
    managers: Vec<Box<dyn Manager>>,
    updaters: Vec<Box<dyn LockfileUpdater>>,
}

impl Default for PythonPlugin {
    fn default() -> Self {
        PythonPlugin {
            managers: vec![
                Box::new(Requirements),
                Box::new(Pyproject),
                Box::new(Pipfile),
            ],
            updaters: crate::lock::updaters(),
        }
    }
}

/// The Python versions a project's range is checked at: 2.7 and every minor release from
/// 3.6 to 3.15 (3.0 to 3.5 are long gone from every platform), at a first and a late patch
/// level.
fn python_probes() -> impl Iterator<Item = String> {
    std::iter::once((2, 7))
        .chain((6..=15).map(|minor| (3, minor)))
        .flat_map(|(major, minor)| [format!("{major}.{minor}.0"), format!("{major}.{minor}.99")])
}

/// Whether a release's `requires-python` admits every Python the project admits. A
/// constraint that does not parse is ignored, as pip does.
pub fn python_admits(project: &str, release: &str) -> bool {
    let project_scheme = Poetry; // Poetry's syntax is a superset of PEP 440 specifiers.
    if !project_scheme.is_valid_range(project) || !Pep440.is_valid_range(release) {
        return true;
    }
    python_probes().all(|python| {
        let in_project = project_scheme.satisfies(project, &python).unwrap_or(false);
        !in_project || Pep440.satisfies(release, &python).unwrap_or(true)
    })
}

impl Plugin for PythonPlugin {
    fn ecosystem(&self) -> Ecosystem {
        Ecosystem::Python
    }

    fn managers(&self) -> &[Box<dyn Manager>] {
        &self.managers
    }

    fn scheme(&self, name: &str) -> Option<&dyn VersionScheme> {
        match name {
            crate::pep440::SCHEME => Some(&Pep440),
            crate::poetry::SCHEME => Some(&Poetry),
            _ => None,
        }
    }

    fn default_registry_url(&self) -> &'static str {
        defaults::PYPI_SIMPLE_URL
    }

    fn registry(
        &self,
        url: &str,
        http: Arc<HttpClient>,
    ) -> Result<Arc<dyn Registry>, RegistryError> {
        crate::index::registry_for(url, http)
    }

    fn lockfile_updaters(&self) -> &[Box<dyn LockfileUpdater>] {
        &self.updaters
    }

    fn context_files(&self) -> &[&'static str] {
        &crate::lock::locked::LOCK_NAMES
    }

    fn contextualize(
        &self,
        manifest_path: &str,
        file: &mut updatebot_core::PackageFile,
        context: &std::collections::BTreeMap<String, String>,
    ) {
        crate::lock::locked::annotate(manifest_path, file, context);
    }

    fn release_admits(&self, project: &Constraints, release: &Release) -> bool {
        match (project.get("python"), release.constraints.get("python")) {
            (Some(project), Some(release)) => python_admits(project, release),
            _ => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requires_python_must_cover_the_project() {
        assert!(python_admits(">=3.9", ">=3.8"));
        assert!(!python_admits(">=3.8", ">=3.9"));
        assert!(python_admits("^3.10", ">=3.9"));
        assert!(!python_admits("^3.8", ">=3.9"));
        assert!(python_admits("==3.11.*", ">=3.9"));
        assert!(!python_admits(">=3.9", ">=3.9,<3.12"));
        assert!(python_admits(">=3.9,<3.12", ">=3.9,<3.12"));
        assert!(python_admits(">=3.9", "garbage"));
        assert!(python_admits(">=3.8.1", ">=3.8"));
    }
}

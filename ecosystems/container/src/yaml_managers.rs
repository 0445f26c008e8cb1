//! Images named in YAML: compose files, Kubernetes manifests and Helm values (GitLab CI is
//! in [`crate::gitlab_ci`]). Edits splice the scalar's text, so quotes, comments, anchors
//! and layout stay as they were.

pub use crate::gitlab_ci::GitlabCi;
use crate::image::{dependency, Located};
use crate::yaml::{self, Node};
use updatebot_core::{Dependency, Ecosystem, Manager, ManifestError, PackageFile, SkipReason};

pub(crate) fn file_name(path: &str) -> String {
    path.rsplit('/').next().unwrap_or(path).to_ascii_lowercase()
}

pub(crate) fn is_yaml(path: &str) -> bool {
    let name = file_name(path);
    name.ends_with(".yml") || name.ends_with(".yaml")
}

pub(crate) fn parse(path: &str, content: &str) -> Result<Vec<Node>, ManifestError> {
    yaml::parse(content)
        .map_err(|e| ManifestError::new(path, Some(e.line), format!("invalid YAML: {}", e.message)))
}

/// The dependency for an image named by a YAML scalar.
pub(crate) fn scalar_image(node: &Node, dep_type: &str) -> Option<Dependency> {
    let Node::Scalar { value, span, .. } = node else {
        return None;
    };
    let value = value.trim();
    if value.is_empty() {
        return None;
    }
    let located = match span {
        Some(s) if node.as_str() == Some(value) => Located::at(value, s.start),
        _ => Located {
            text: value.to_string(),
            sources: vec![None; value.len()],
        },
    };
    let mut dep = dependency(value, Some(&located), dep_type);
    if span.is_none() && dep.skip_reason == Some(SkipReason::Variable) && !value.contains('$') {
        dep.skip_reason = Some(SkipReason::UnsupportedSyntax);
    }
    Some(dep)
}

// ------------------------------------------------------------------ compose ---

pub struct Compose;

impl Manager for Compose {
    fn name(&self) -> &'static str {
        "docker-compose"
    }
    fn ecosystem(&self) -> Ecosystem {
        Ecosystem::Docker
    }
    /// `docker-compose.yml`, `docker-compose.prod.yaml`, `compose.yaml`, `compose.override.yml`.
    fn matches(&self, path: &str) -> bool {
        let name = file_name(path);
        is_yaml(path) && (name.starts_with("docker-compose") || name.starts_with("compose"))
    }
    fn extract(&self, path: &str, content: &str) -> Result<PackageFile, ManifestError> {
        let mut file = PackageFile::default();
        for doc in parse(path, content)? {
            for (_, service) in doc.get("services").map(Node::entries).unwrap_or_default() {
                if let Some(dep) = service
                    .get("image")
                    .and_then(|n| scalar_image(n, "service"))
                {
                    file.dependencies.push(dep);
                }
            }
        }
        Ok(file)
    }
}

// --------------------------------------------------------------- Kubernetes ---

pub struct Kubernetes;

/// YAML files that are something else for sure.
const NOT_KUBERNETES: &[&str] = &[
    "pnpm-lock.yaml",
    "pnpm-workspace.yaml",
    ".updatebot.yml",
    ".updatebot.yaml",
    "dependabot.yml",
    "chart.yaml",
    "chart.lock",
    ".pre-commit-config.yaml",
    "mkdocs.yml",
    "environment.yml",
    ".readthedocs.yml",
    ".readthedocs.yaml",
    "codecov.yml",
];

impl Kubernetes {
    fn walk(node: &Node, depth: usize, file: &mut PackageFile) {
        if depth > 64 {
            return;
        }
        match node {
            Node::Map(entries) => {
                for (key, value) in entries {
                    let dep_type = match key.as_str() {
                        Some("containers") => Some("container"),
                        Some("initContainers") => Some("init-container"),
                        Some("ephemeralContainers") => Some("ephemeral-container"),
                        _ => None,
                    };
                    match dep_type {
                        Some(dep_type) if matches!(value, Node::Seq(_)) => {
                            for container in value.items() {
                                if let Some(dep) = container
                                    .get("image")
                                    .and_then(|n| scalar_image(n, dep_type))
                                {
                                    file.dependencies.push(dep);
                                }
                            }
                        }
                        _ => Self::walk(value, depth + 1, file),
                    }
                }
            }
            Node::Seq(items) => {
                for item in items {
                    Self::walk(item, depth + 1, file);
                }
            }
            _ => {}
        }
    }

    /// Whether text that did not parse still looks like a Kubernetes manifest (rather than
    /// a Helm template or some other YAML-ish file, which is not ours to judge).
    fn looks_like_kubernetes(content: &str) -> bool {
        !content.contains("{{")
            && content.lines().any(|l| l.starts_with("kind:"))
            && content.lines().any(|l| l.starts_with("apiVersion:"))
    }
}

impl Manager for Kubernetes {
    fn name(&self) -> &'static str {
        "kubernetes"
    }
    fn ecosystem(&self) -> Ecosystem {
        Ecosystem::Docker
    }
    /// Any other YAML file: documents with `apiVersion` and `kind` are read as Kubernetes
    /// manifests, documents shaped like GitLab CI (an `include:`d file claimed here by its
    /// name) as GitLab CI; anything else holds no images.
    fn matches(&self, path: &str) -> bool {
        is_yaml(path) && !NOT_KUBERNETES.contains(&file_name(path).as_str())
    }
    fn extract(&self, path: &str, content: &str) -> Result<PackageFile, ManifestError> {
        let docs = match yaml::parse(content) {
            Ok(docs) => docs,
            Err(e) if Self::looks_like_kubernetes(content) => {
                return Err(ManifestError::new(
                    path,
                    Some(e.line),
                    format!("invalid YAML: {}", e.message),
                ))
            }
            Err(_) => return Ok(PackageFile::default()),
        };
        let mut file = PackageFile::default();
        for doc in &docs {
            let is_manifest = doc.get("kind").and_then(Node::as_str).is_some()
                && doc.get("apiVersion").and_then(Node::as_str).is_some();
            if is_manifest {
                Self::walk(doc, 0, &mut file);
            } else if GitlabCi::looks_like_ci(doc) {
                GitlabCi::extract_doc(path, doc, &mut file);
            }
        }
        // Flux charts after the images (`HelmRelease`, `OCIRepository`).
        crate::flux::extract(&docs, &mut file);
        Ok(file)
    }
}

// -------------------------------------------------------------- Helm values ---

pub struct HelmValues;

impl HelmValues {
    fn walk(node: &Node, depth: usize, file: &mut PackageFile) {
        if depth > 64 {
            return;
        }
        match node {
            Node::Map(entries) => {
                for (key, value) in entries {
                    if key.as_str() == Some("image") {
                        match value {
                            Node::Scalar { .. } => {
                                if let Some(dep) = scalar_image(value, "helm-values") {
                                    file.dependencies.push(dep);
                                }
                                continue;
                            }
                            Node::Map(_) if value.get("repository").is_some() => {
                                if let Some(dep) = Self::block(value) {
                                    file.dependencies.push(dep);
                                }
                                continue;
                            }
                            _ => {}
                        }
                    }
                    Self::walk(value, depth + 1, file);
                }
            }
            Node::Seq(items) => {
                for item in items {
                    Self::walk(item, depth + 1, file);
                }
            }
            _ => {}
        }
    }

    /// `image: {registry, repository, tag}` (Bitnami style; `registry` optional).
    fn block(image: &Node) -> Option<Dependency> {
        let repository = image.get("repository")?.as_str()?.trim();
        if repository.is_empty() {
            return None;
        }
        let registry = image
            .get("registry")
            .and_then(Node::as_str)
            .map(str::trim)
            .filter(|r| !r.is_empty());
        let mut located = Located::default();
        if let Some(registry) = registry {
            located.push_str(registry, None);
            located.push_str("/", None);
        }
        located.push_str(repository, None);
        let tag = image.get("tag");
        let raw = located.text.clone();
        match tag {
            Some(Node::Scalar { value, span, .. }) if !value.trim().is_empty() => {
                located.push_str(":", None);
                match span {
                    Some(s) => located.append(&Located::at(value, s.start)),
                    None => located.push_str(value, None),
                }
            }
            _ => {}
        }
        let mut dep = dependency(&raw, Some(&located), "helm-values");
        let digest = image
            .get("digest")
            .and_then(Node::as_str)
            .is_some_and(|d| !d.trim().is_empty());
        if digest && dep.skip_reason.is_none() {
            // The tag and a separate `digest:` cannot move as one value.
            dep.skip_reason = Some(SkipReason::UnsupportedSyntax);
        }
        Some(dep)
    }
}

impl Manager for HelmValues {
    fn name(&self) -> &'static str {
        "helm-values"
    }
    fn ecosystem(&self) -> Ecosystem {
        Ecosystem::Docker
    }
    /// `values.yaml`, `values-prod.yaml`, `values.prod.yaml`, `prod-values.yaml`.
    fn matches(&self, path: &str) -> bool {
        let name = file_name(path);
        is_yaml(path)
            && (name.starts_with("values.")
                || name.starts_with("values-")
                || name.ends_with("-values.yaml")
                || name.ends_with("-values.yml"))
    }
    fn extract(&self, path: &str, content: &str) -> Result<PackageFile, ManifestError> {
        let mut file = PackageFile::default();
        for doc in parse(path, content)? {
            Self::walk(&doc, 0, &mut file);
        }
        Ok(file)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use updatebot_core::edit::{edit_values, ValueEdit};

    fn summary(
        m: &dyn Manager,
        path: &str,
        text: &str,
    ) -> Vec<(String, String, String, Option<SkipReason>)> {
        m.extract(path, text)
            .unwrap()
            .dependencies
            .into_iter()
            .map(|d| {
                let at = d
                    .span
                    .and_then(|s| s.slice(text))
                    .unwrap_or_default()
                    .to_string();
                (d.name, d.current_value, at, d.skip_reason)
            })
            .collect()
    }

    #[test]
    fn compose_services() {
        let text = "services:\n  web:\n    image: \"nginx:1.25.3\"  # pinned\n  db:\n    image: postgres:16.1-alpine\n  app:\n    build: .\n  cache:\n    image: ${CACHE_IMAGE:-redis:7}\n";
        let d = summary(&Compose, "docker-compose.yml", text);
        assert_eq!(d.len(), 3);
        assert_eq!(d[0].2, "1.25.3");
        assert_eq!(d[1].2, "16.1-alpine");
        assert_eq!(d[2].3, Some(SkipReason::Variable));
        let out = edit_values(
            &Compose,
            "docker-compose.yml",
            text,
            &[ValueEdit {
                index: 0,
                new_value: "1.27.0".into(),
            }],
        )
        .unwrap();
        assert!(out.contains("image: \"nginx:1.27.0\"  # pinned\n"), "{out}");
        assert!(Compose.matches("deploy/compose.override.yaml"));
        assert!(!Compose.matches("composer.json"));
    }

    #[test]
    fn kubernetes_documents() {
        let text = "# c\napiVersion: apps/v1\nkind: Deployment\nspec:\n  template:\n    spec:\n      initContainers:\n        - name: init\n          image: busybox:1.36\n      containers:\n        - name: app\n          image: '127.0.0.1:5000/team/app:1.0'\n---\napiVersion: batch/v1\nkind: CronJob\nspec:\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          containers:\n            - image: alpine:3.19\n---\nnot: kubernetes\ncontainers:\n  - image: nope:1\n";
        let d = summary(&Kubernetes, "k8s/app.yaml", text);
        let names: Vec<_> = d.iter().map(|x| x.0.as_str()).collect();
        assert_eq!(names, ["busybox", "127.0.0.1:5000/team/app", "alpine"]);
        assert_eq!(d[1].2, "1.0");
        // A Helm template is not ours to judge; a broken manifest is an error.
        assert!(Kubernetes
            .extract("t.yaml", "kind: {{ .Kind }}\napiVersion: v1\nx: [\n")
            .unwrap()
            .dependencies
            .is_empty());
        assert!(Kubernetes
            .extract("t.yaml", "apiVersion: v1\nkind: Pod\nspec: [\n")
            .is_err());
        assert!(!Kubernetes.matches("pnpm-lock.yaml"));
        // A CI file included from `.gitlab-ci.yml` but named like any YAML.
        let ci = "build:\n  image: node:20.11.1\n  script: [make]\ninclude: {local: more.yml}\n";
        let file = Kubernetes.extract("ci/jobs.yml", ci).unwrap();
        assert_eq!(file.dependencies[0].name, "node");
        assert_eq!(file.includes, ["../more.yml"]);
    }

    #[test]
    fn helm_values_blocks_and_strings() {
        let text = "image:\n  registry: 127.0.0.1:5000\n  repository: team/app\n  tag: \"1.0\"\nsidecar:\n  image: busybox:1.36\nworker:\n  image:\n    repository: bitnami/redis\n    tag: 7.2.4\n    digest: \"\"\nmissing:\n  image:\n    repository: nginx\n    tag: \"\"\n";
        let d = summary(&HelmValues, "chart/values.yaml", text);
        assert_eq!(d.len(), 4);
        assert_eq!(d[0].0, "127.0.0.1:5000/team/app");
        assert_eq!(d[0].2, "1.0");
        assert_eq!(d[1].2, "1.36");
        assert_eq!(d[2].0, "bitnami/redis");
        assert_eq!(d[2].2, "7.2.4");
        assert_eq!(d[3].3, Some(SkipReason::Unpinned));
        let out = edit_values(
            &HelmValues,
            "values.yaml",
            text,
            &[ValueEdit {
                index: 0,
                new_value: "2.0".into(),
            }],
        )
        .unwrap();
        assert!(out.contains("  tag: \"2.0\"\n"), "{out}");
    }

    #[test]
    fn bad_yaml_is_an_error_naming_the_line() {
        let e = Compose
            .extract("compose.yaml", "services:\n  a: [\n")
            .unwrap_err();
        assert!(e.to_string().starts_with("compose.yaml:"), "{e}");
    }
}

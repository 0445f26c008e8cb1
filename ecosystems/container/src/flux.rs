//! Flux's Helm charts, as Renovate's `flux` manager reads them:
//!
//! * a `HelmRelease` (`helm.toolkit.fluxcd.io/v2*`) names its chart in `spec.chart.spec`:
//!   `chart`, `version` (edited) and a `sourceRef` to a `HelmRepository`
//!   (`source.toolkit.fluxcd.io/v1*`) defined in the same file or in any other file of the
//!   repository (see [`resolve`], called by the plugin's `link`); the repository's `spec.url`
//!   is an HTTP(S) chart repository (`index.yaml`) or, with `type: oci`, an OCI registry;
//! * an `OCIRepository` names an OCI artifact (a chart a `HelmRelease` reaches through
//!   `spec.chartRef`) with `spec.url: oci://…` and `spec.ref.tag` (edited) or
//!   `spec.ref.semver` (a range).
//!
//! Versions are Helm's SemVer ([`crate::helm_version`]); ranges are reported, never bumped.
//! A chart is looked up in a registry named by a URL of its own kind (see [`Repository`]).

use crate::helm_version::{self, SCHEME, SCHEME_OCI_TAG};
use crate::reference::is_loopback_host;
use crate::yaml::Node;
use updatebot_core::{Dependency, PackageFile, SkipReason};

/// `dep_type` of a `HelmRelease`'s chart.
pub const RELEASE: &str = "helm-release";
/// `dep_type` of an `OCIRepository`'s tag.
pub const OCI_REPOSITORY: &str = "oci-repository";

/// Where a chart whose source is not resolved yet points: `flux-source:<ns>/<name>`.
const UNRESOLVED: &str = "flux-source:";

/// Where charts are looked up, written as the registry URL of their dependencies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Repository {
    /// An HTTP(S) chart repository: `helm+https://charts.example.com/` (its `index.yaml`).
    Index(String),
    /// Charts in an OCI registry under `oci://host/path`, asked over HTTPS, or plain HTTP
    /// for `insecure: true` and loopback hosts (`oci+http://host/path`).
    Oci { base: String, path: String },
}

impl Repository {
    /// The registry URL a dependency carries.
    pub fn url(&self) -> String {
        match self {
            Repository::Index(url) => format!("helm+{url}"),
            Repository::Oci { base, path } => {
                let (scheme, host) = base.split_once("://").unwrap_or(("https", base));
                let tag = if scheme == "http" { "oci+http" } else { "oci" };
                format!("{tag}://{host}/{path}")
                    .trim_end_matches('/')
                    .to_string()
            }
        }
    }

    /// The repository a registry URL names, if it is one of these.
    pub fn from_url(url: &str) -> Option<Repository> {
        if let Some(index) = url.strip_prefix("helm+") {
            return Some(Repository::Index(index.to_string()));
        }
        let (scheme, rest) = if let Some(rest) = url.strip_prefix("oci+http://") {
            ("http", rest)
        } else {
            ("https", url.strip_prefix("oci://")?)
        };
        let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
        Some(Repository::Oci {
            base: format!("{scheme}://{host}"),
            path: path.trim_matches('/').to_string(),
        })
    }

    /// The repository at a Flux `spec.url` (`https://…` or `oci://…`).
    fn at(url: &str, oci: bool, insecure: bool) -> Option<Repository> {
        let url = url.trim();
        if let Some(rest) = url.strip_prefix("oci://") {
            let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
            // Credentials in the URL are never used (nor repeated in messages).
            if host.is_empty() || host.contains('@') {
                return None;
            }
            let scheme = if insecure || is_loopback_host(host) {
                "http"
            } else {
                "https"
            };
            return Some(Repository::Oci {
                base: format!("{scheme}://{host}"),
                path: path.trim_matches('/').to_string(),
            });
        }
        if oci {
            return None;
        }
        let parsed = url::Url::parse(url).ok()?;
        if !matches!(parsed.scheme(), "http" | "https")
            || parsed.host_str().is_none()
            || !parsed.username().is_empty()
            || parsed.password().is_some()
        {
            return None;
        }
        let mut text = url.to_string();
        if !text.ends_with('/') {
            text.push('/');
        }
        Some(Repository::Index(text))
    }
}

/// A `HelmRepository` of the repository.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Source {
    pub namespace: Option<String>,
    pub name: String,
    /// `None`: its `spec.url` is missing or not a URL Flux would take.
    pub repository: Option<Repository>,
}

fn text(node: Option<&Node>) -> Option<&str> {
    node.and_then(Node::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

fn is_kind(doc: &Node, kind: &str, api_group: &str) -> bool {
    text(doc.get("kind")) == Some(kind)
        && text(doc.get("apiVersion")).is_some_and(|a| a.starts_with(api_group))
}

fn metadata(doc: &Node, key: &str) -> Option<String> {
    text(doc.get("metadata").and_then(|m| m.get(key))).map(str::to_string)
}

/// Every `HelmRepository` defined in `docs`.
pub fn sources(docs: &[Node]) -> Vec<Source> {
    docs.iter()
        .filter(|d| is_kind(d, "HelmRepository", "source.toolkit.fluxcd.io/"))
        .filter_map(|doc| {
            let spec = doc.get("spec");
            let oci = text(spec.and_then(|s| s.get("type"))) == Some("oci");
            let insecure = text(spec.and_then(|s| s.get("insecure"))) == Some("true");
            Some(Source {
                namespace: metadata(doc, "namespace"),
                name: metadata(doc, "name")?,
                repository: text(spec.and_then(|s| s.get("url")))
                    .and_then(|url| Repository::at(url, oci, insecure)),
            })
        })
        .collect()
}

/// The source `namespace/name` names among `sources`: the one with that namespace and name,
/// else, where either side leaves the namespace out (Kustomize often sets it), the only one
/// of that name.
fn find<'s>(sources: &'s [Source], namespace: Option<&str>, name: &str) -> Option<&'s Source> {
    let named: Vec<&Source> = sources.iter().filter(|s| s.name == name).collect();
    if let Some(exact) = named
        .iter()
        .find(|s| namespace.is_some() && s.namespace.as_deref() == namespace)
    {
        return Some(exact);
    }
    let loose: Vec<&&Source> = named
        .iter()
        .filter(|s| namespace.is_none() || s.namespace.is_none())
        .collect();
    (loose.len() == 1).then(|| *loose[0])
}

fn shown(namespace: Option<&str>, name: &str) -> String {
    match namespace {
        Some(ns) => format!("{ns}/{name}"),
        None => name.to_string(),
    }
}

/// Point `dep` at `source`'s repository, or say why it cannot be looked up.
fn point(dep: &mut Dependency, key: &str, source: &Source) {
    match &source.repository {
        Some(repository) => {
            dep.registry_urls = vec![repository.url()];
            dep.skip_reason = None;
            dep.skip_detail = None;
        }
        None => {
            dep.registry_urls.clear();
            dep.skip_reason = Some(SkipReason::UnknownRegistry);
            dep.skip_detail = Some(format!(
                "the HelmRepository `{key}` has no `spec.url` Flux could use"
            ));
        }
    }
}

/// A value written with Flux's post-build substitution (`${chart_version}`) or a template.
fn is_variable(value: &str) -> bool {
    value.contains("${") || value.contains("{{")
}

/// The chart of a `HelmRelease` document, looked up in `sources` (this file's); a
/// `sourceRef` not among them is left for [`resolve`] to find in other files.
fn release(doc: &Node, sources: &[Source], file: &mut PackageFile) {
    let Some(spec) = doc
        .get("spec")
        .and_then(|s| s.get("chart"))
        .and_then(|c| c.get("spec"))
    else {
        // `spec.chartRef` (an OCIRepository or HelmChart): its version is the source's.
        return;
    };
    let Some(chart) = text(spec.get("chart")) else {
        return;
    };
    let version = spec.get("version");
    let (value, span) = match version {
        Some(Node::Scalar { value, span, .. }) => (value.trim().to_string(), *span),
        _ => (String::new(), None),
    };
    let mut dep =
        Dependency::new(chart, chart, value.clone(), None, SCHEME).with_dep_type(RELEASE, false);
    if let (Some(span), Some(Node::Scalar { value: raw, .. })) = (span, version) {
        // The span covers the value as written; a padded one is not edited.
        if raw.trim() == raw {
            dep.span = Some(span);
        }
    }
    let source_ref = spec.get("sourceRef");
    let kind = text(source_ref.and_then(|s| s.get("kind"))).unwrap_or("HelmRepository");
    let name = text(source_ref.and_then(|s| s.get("name")));
    let namespace = text(source_ref.and_then(|s| s.get("namespace")))
        .map(str::to_string)
        .or_else(|| metadata(doc, "namespace"));
    dep.skip_reason = if kind == "GitRepository" {
        Some(SkipReason::GitDependency)
    } else if kind != "HelmRepository" {
        // A Bucket: charts read from a storage bucket's folder.
        Some(SkipReason::PathDependency)
    } else if value.is_empty() {
        // Flux takes the newest chart (`*`).
        Some(SkipReason::Unpinned)
    } else if is_variable(&value) {
        Some(SkipReason::Variable)
    } else if !helm_version::is_version_or_range(&value) {
        Some(SkipReason::InvalidVersion)
    } else if dep.span.is_none() {
        Some(SkipReason::UnsupportedSyntax)
    } else {
        None
    };
    if dep.skip_reason.is_none() {
        match name {
            None => {
                dep.skip_reason = Some(SkipReason::UnknownRegistry);
                dep.skip_detail = Some(format!(
                    "the HelmRelease's chart `{chart}` has no sourceRef name"
                ));
            }
            Some(name) => {
                let key = shown(namespace.as_deref(), name);
                match find(sources, namespace.as_deref(), name) {
                    Some(source) => point(&mut dep, &key, source),
                    None => {
                        dep.registry_urls = vec![format!("{UNRESOLVED}{key}")];
                        dep.skip_reason = Some(SkipReason::UnknownRegistry);
                        dep.skip_detail = Some(missing(&key));
                    }
                }
            }
        }
    }
    file.dependencies.push(dep);
}

fn missing(key: &str) -> String {
    format!(
        "its sourceRef HelmRepository `{key}` is not defined in any file read from this repository"
    )
}

/// The tag of an `OCIRepository` document.
fn oci_repository(doc: &Node, file: &mut PackageFile) {
    let spec = doc.get("spec");
    let Some(url) = text(spec.and_then(|s| s.get("url"))) else {
        return;
    };
    let insecure = text(spec.and_then(|s| s.get("insecure"))) == Some("true");
    let name = url.strip_prefix("oci://").unwrap_or(url).to_string();
    let reference = spec.and_then(|s| s.get("ref"));
    let tag = reference.and_then(|r| r.get("tag"));
    let semver = reference.and_then(|r| r.get("semver"));
    let digest = text(reference.and_then(|r| r.get("digest")));
    let (value_node, value) = match (tag, semver) {
        (_, Some(node @ Node::Scalar { value, .. })) => (Some(node), value.trim().to_string()),
        (Some(node @ Node::Scalar { value, .. }), _) => (Some(node), value.trim().to_string()),
        _ => (None, String::new()),
    };
    // `oci://host/charts/podinfo`: repository `oci://host/charts`, chart `podinfo`.
    let (parent, chart) = match name.rsplit_once('/') {
        Some((parent, chart)) if !chart.is_empty() => (parent.to_string(), chart.to_string()),
        _ => (String::new(), String::new()),
    };
    let mut dep = Dependency::new(
        name.clone(),
        chart.clone(),
        value.clone(),
        None,
        SCHEME_OCI_TAG,
    )
    .with_dep_type(OCI_REPOSITORY, false);
    if let Some(Node::Scalar {
        value: raw,
        span: Some(span),
        ..
    }) = value_node
    {
        if raw.trim() == raw {
            dep.span = Some(*span);
        }
    }
    let repository = Repository::at(&format!("oci://{parent}"), true, insecure);
    dep.skip_reason = if digest.is_some() {
        // Pinned to a digest: nothing to follow.
        Some(SkipReason::UnsupportedVersion)
    } else if value.is_empty() {
        // Flux takes `latest`.
        Some(SkipReason::Unpinned)
    } else if is_variable(&value) {
        Some(SkipReason::Variable)
    } else if chart.is_empty() || repository.is_none() || !url.starts_with("oci://") {
        Some(SkipReason::UrlDependency)
    } else if !helm_version::is_version_or_range(&value.replace('_', "+")) {
        // A tag that is no version (`latest`, `main`): it moves by itself.
        Some(SkipReason::Unpinned)
    } else if dep.span.is_none() {
        Some(SkipReason::UnsupportedSyntax)
    } else {
        None
    };
    if let Some(repository) = repository {
        dep.registry_urls = vec![repository.url()];
    }
    file.dependencies.push(dep);
}

/// Whether `doc` is read here (a `HelmRelease` or `OCIRepository`).
pub fn is_flux(doc: &Node) -> bool {
    is_kind(doc, "HelmRelease", "helm.toolkit.fluxcd.io/")
        || is_kind(doc, "OCIRepository", "source.toolkit.fluxcd.io/")
}

/// The charts of the Flux documents among `docs`, in document order.
pub fn extract(docs: &[Node], file: &mut PackageFile) {
    let local = sources(docs);
    for doc in docs {
        if is_kind(doc, "HelmRelease", "helm.toolkit.fluxcd.io/") {
            release(doc, &local, file);
        } else if is_kind(doc, "OCIRepository", "source.toolkit.fluxcd.io/") {
            oci_repository(doc, file);
        }
    }
}

/// Point the charts whose `HelmRepository` was not in their own file at the one `sources`
/// (the whole repository's) holds.
pub fn resolve(file: &mut PackageFile, sources: &[Source]) {
    for dep in &mut file.dependencies {
        if dep.skip_reason != Some(SkipReason::UnknownRegistry) {
            continue;
        }
        let Some(key) = dep
            .registry_urls
            .first()
            .and_then(|u| u.strip_prefix(UNRESOLVED))
            .map(str::to_string)
        else {
            continue;
        };
        let (namespace, name) = match key.split_once('/') {
            Some((ns, name)) => (Some(ns), name),
            None => (None, key.as_str()),
        };
        if let Some(source) = find(sources, namespace, name) {
            point(dep, &key, source);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml;

    const RELEASE_TEXT: &str = "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: podinfo\n  namespace: apps\nspec:\n  chart:\n    spec:\n      chart: podinfo\n      version: \"6.5.4\" # pinned\n      sourceRef:\n        kind: HelmRepository\n        name: podinfo\n        namespace: flux-system\n";

    fn deps(text: &str) -> Vec<Dependency> {
        let docs = yaml::parse(text).unwrap();
        let mut file = PackageFile::default();
        extract(&docs, &mut file);
        file.dependencies
    }

    #[test]
    fn a_release_with_its_repository_in_the_same_file() {
        let text = format!("{RELEASE_TEXT}---\napiVersion: source.toolkit.fluxcd.io/v1\nkind: HelmRepository\nmetadata:\n  name: podinfo\n  namespace: flux-system\nspec:\n  url: https://stefanprodan.github.io/podinfo\n");
        let d = deps(&text);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].name, "podinfo");
        assert_eq!(d[0].current_value, "6.5.4");
        assert_eq!(d[0].span.unwrap().slice(&text), Some("6.5.4"));
        assert_eq!(d[0].skip_reason, None);
        assert_eq!(
            d[0].registry_urls,
            ["helm+https://stefanprodan.github.io/podinfo/"]
        );
    }

    #[test]
    fn a_release_whose_repository_is_elsewhere_is_resolved_later() {
        let d = deps(RELEASE_TEXT);
        assert_eq!(d[0].skip_reason, Some(SkipReason::UnknownRegistry));
        assert_eq!(
            d[0].skip_detail.as_deref(),
            Some("its sourceRef HelmRepository `flux-system/podinfo` is not defined in any file read from this repository")
        );
        let mut file = PackageFile {
            dependencies: d,
            ..PackageFile::default()
        };
        // A repository of that name in another namespace is not it.
        let other = yaml::parse("apiVersion: source.toolkit.fluxcd.io/v1beta2\nkind: HelmRepository\nmetadata: {name: podinfo, namespace: other}\nspec: {url: 'https://a.example/'}\n").unwrap();
        resolve(&mut file, &sources(&other));
        assert_eq!(
            file.dependencies[0].skip_reason,
            Some(SkipReason::UnknownRegistry)
        );
        let oci = yaml::parse("apiVersion: source.toolkit.fluxcd.io/v1\nkind: HelmRepository\nmetadata: {name: podinfo, namespace: flux-system}\nspec:\n  type: oci\n  url: oci://127.0.0.1:5000/charts\n").unwrap();
        resolve(&mut file, &sources(&oci));
        let dep = &file.dependencies[0];
        assert_eq!(dep.skip_reason, None);
        assert_eq!(dep.skip_detail, None);
        assert_eq!(dep.registry_urls, ["oci+http://127.0.0.1:5000/charts"]);
    }

    #[test]
    fn ranges_variables_and_other_sources() {
        let with = |version: &str, kind: &str| {
            let text = RELEASE_TEXT
                .replace("\"6.5.4\"", version)
                .replace("kind: HelmRepository", &format!("kind: {kind}"));
            deps(&text).remove(0)
        };
        let range = with("\">=6.0.0 <7.0.0\"", "HelmRepository");
        assert_eq!(range.current_value, ">=6.0.0 <7.0.0");
        assert_eq!(range.skip_reason, Some(SkipReason::UnknownRegistry));
        assert_eq!(
            with("${PODINFO_VERSION}", "HelmRepository").skip_reason,
            Some(SkipReason::Variable)
        );
        assert_eq!(
            with("not-a-version!", "HelmRepository").skip_reason,
            Some(SkipReason::InvalidVersion)
        );
        assert_eq!(
            with("6.5.4", "GitRepository").skip_reason,
            Some(SkipReason::GitDependency)
        );
        let unversioned = deps("apiVersion: helm.toolkit.fluxcd.io/v2beta2\nkind: HelmRelease\nmetadata: {name: a}\nspec:\n  chart:\n    spec:\n      chart: a\n      sourceRef: {kind: HelmRepository, name: r}\n");
        assert_eq!(unversioned[0].skip_reason, Some(SkipReason::Unpinned));
        // Not Flux: another API group's HelmRelease.
        assert!(deps(&RELEASE_TEXT.replace("helm.toolkit.fluxcd.io", "example.com")).is_empty());
    }

    #[test]
    fn oci_repositories() {
        let text = "apiVersion: source.toolkit.fluxcd.io/v1beta2\nkind: OCIRepository\nmetadata: {name: podinfo}\nspec:\n  url: oci://ghcr.io/stefanprodan/charts/podinfo\n  ref:\n    tag: '6.5.4'\n---\napiVersion: source.toolkit.fluxcd.io/v1\nkind: OCIRepository\nmetadata: {name: b}\nspec:\n  url: oci://127.0.0.1:5000/charts/b\n  ref: {semver: '>=1.0.0'}\n---\napiVersion: source.toolkit.fluxcd.io/v1\nkind: OCIRepository\nmetadata: {name: c}\nspec:\n  url: oci://ghcr.io/x/c\n  ref: {digest: 'sha256:00'}\n";
        let d = deps(text);
        assert_eq!(d.len(), 3);
        assert_eq!(d[0].name, "ghcr.io/stefanprodan/charts/podinfo");
        assert_eq!(d[0].package_name, "podinfo");
        assert_eq!(d[0].span.unwrap().slice(text), Some("6.5.4"));
        assert_eq!(d[0].registry_urls, ["oci://ghcr.io/stefanprodan/charts"]);
        assert_eq!(d[0].skip_reason, None);
        assert_eq!(d[1].current_value, ">=1.0.0");
        assert_eq!(d[1].registry_urls, ["oci+http://127.0.0.1:5000/charts"]);
        assert_eq!(d[2].skip_reason, Some(SkipReason::UnsupportedVersion));
    }

    #[test]
    fn repository_urls_round_trip() {
        for repository in [
            Repository::Index("https://charts.example.com/sub/".into()),
            Repository::Oci {
                base: "https://ghcr.io".into(),
                path: "a/charts".into(),
            },
            Repository::Oci {
                base: "http://127.0.0.1:5000".into(),
                path: "charts".into(),
            },
        ] {
            assert_eq!(Repository::from_url(&repository.url()), Some(repository));
        }
        assert_eq!(Repository::from_url("https://ghcr.io"), None);
        // Only URLs Flux takes, and never one carrying credentials.
        for url in [
            "https://user:s3cret@charts.example.com/",
            "oci://user:s3cret@ghcr.io/charts",
            "file:///etc/passwd",
            "oci://",
        ] {
            assert_eq!(
                Repository::at(url, url.starts_with("oci"), false),
                None,
                "{url}"
            );
        }
    }
}

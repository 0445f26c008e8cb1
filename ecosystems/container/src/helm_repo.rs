//! Helm chart repositories as registries (Renovate's `helm` datasource):
//!
//! * an HTTP(S) chart repository: its `index.yaml` (`entries.<chart>[]` with `version`,
//!   `created` — the release date the cooldown reads — and `deprecated`, never proposed),
//!   fetched once per run for all its charts;
//! * charts in an OCI registry (`oci://host/path/<chart>`, pushed by `helm push`): the tags
//!   of `path/<chart>` through the container registry client (auth, token flow, paging),
//!   with `_` read as `+` (OCI tags cannot hold `+`).
//!
//! Credentials are those configured for the repository's host, as for every registry.

use crate::flux::Repository;
use crate::registry::{OciRegistry, TokenCache};
use crate::yaml::{self, Node};
use async_trait::async_trait;
use futures::FutureExt;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use updatebot_core::http::{HttpClient, Request, LARGE_BODY};
use updatebot_core::registry::{Registry, RegistryError, Release, ReleaseList};
use url::Url;

/// How long an index is shared: one run (a `serve` process asks again on its next run).
const INDEX_TTL: Duration = Duration::from_secs(15 * 60);

/// What `index.yaml` says about one chart.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Chart {
    pub releases: Vec<Release>,
    pub home: Option<String>,
    pub source: Option<String>,
}

/// A repository's `index.yaml`: chart name → its versions.
pub type Index = HashMap<String, Chart>;

type SharedIndex =
    futures::future::Shared<futures::future::BoxFuture<'static, Result<Arc<Index>, RegistryError>>>;

/// Indexes read in this run, shared by every chart of a repository.
#[derive(Default)]
pub struct IndexCache {
    indexes: Mutex<HashMap<String, (Instant, SharedIndex)>>,
}

/// Reads an `index.yaml` (`Err`: why it is not a chart repository index).
pub fn parse_index(text: &str) -> Result<Index, String> {
    let docs = yaml::parse(text).map_err(|e| format!("line {}: {}", e.line, e.message))?;
    let doc = docs.first().ok_or("the index is empty")?;
    let entries = match doc.get("entries") {
        Some(entries @ Node::Map(_)) => entries,
        // `entries: {}` written as `entries:` (an empty repository).
        Some(Node::Scalar { value, .. }) if value.is_empty() || value == "null" => {
            return Ok(Index::new())
        }
        _ => return Err("it has no `entries` mapping".into()),
    };
    let mut index = Index::new();
    for (name, versions) in entries.entries() {
        let Some(name) = name.as_str() else {
            continue;
        };
        let mut chart = Chart::default();
        for entry in versions.items() {
            let text = |key: &str| {
                entry
                    .get(key)
                    .and_then(Node::as_str)
                    .map(str::trim)
                    .filter(|v| !v.is_empty())
                    .map(str::to_string)
            };
            let Some(version) = text("version") else {
                continue;
            };
            let mut release = Release::new(version);
            release.released_at = text("created");
            if text("deprecated").as_deref() == Some("true") {
                release.yanked = true;
                release.yanked_reason = Some("deprecated in the chart repository".into());
            }
            if let Some(app) = text("appVersion") {
                release.constraints.insert("appVersion".into(), app);
            }
            if chart.home.is_none() {
                chart.home = text("home");
            }
            if chart.source.is_none() {
                chart.source = entry
                    .get("sources")
                    .and_then(|s| s.items().first())
                    .and_then(Node::as_str)
                    .map(str::to_string);
            }
            chart.releases.push(release);
        }
        index.insert(name.to_string(), chart);
    }
    Ok(index)
}

/// The same error about another chart of the repository.
fn for_package(error: &RegistryError, chart: &str) -> RegistryError {
    let mut e = error.clone();
    match &mut e {
        RegistryError::NotFound { package, .. }
        | RegistryError::Unauthorized { package, .. }
        | RegistryError::Status { package, .. }
        | RegistryError::Malformed { package, .. }
        | RegistryError::Network { package, .. }
        | RegistryError::Unavailable { package, .. }
        | RegistryError::RateLimited { package, .. } => *package = chart.to_string(),
        RegistryError::InvalidUrl { .. } => {}
    }
    e
}

/// An HTTP(S) chart repository.
pub struct IndexRegistry {
    base: Url,
    shown: String,
    http: Arc<HttpClient>,
    cache: Arc<IndexCache>,
}

impl IndexRegistry {
    pub fn new(
        url: &str,
        http: Arc<HttpClient>,
        cache: Arc<IndexCache>,
    ) -> Result<Self, RegistryError> {
        let invalid = |detail: String| RegistryError::InvalidUrl {
            url: url.to_string(),
            detail,
        };
        let mut base = Url::parse(url).map_err(|e| invalid(e.to_string()))?;
        if !matches!(base.scheme(), "http" | "https") || base.host_str().is_none() {
            return Err(invalid("must be an http or https URL with a host".into()));
        }
        if !base.username().is_empty() || base.password().is_some() {
            return Err(invalid(
                "credentials belong in the operator config, not in the URL".into(),
            ));
        }
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        base.set_query(None);
        base.set_fragment(None);
        let shown = base.as_str().trim_end_matches('/').to_string();
        Ok(IndexRegistry {
            base,
            shown,
            http,
            cache,
        })
    }

    async fn fetch(
        http: Arc<HttpClient>,
        url: Url,
        shown: String,
        chart: String,
    ) -> Result<Arc<Index>, RegistryError> {
        let response = http
            .send(
                Request::get(&url, "application/x-yaml, text/yaml, text/plain, */*")
                    .limit(LARGE_BODY),
            )
            .await
            .map_err(|e| RegistryError::from_http(&chart, &shown, e))?;
        if !response.is_success() {
            return Err(RegistryError::from_status(&chart, &shown, response.status));
        }
        let malformed = |detail: String| RegistryError::Malformed {
            package: chart.clone(),
            registry: shown.clone(),
            detail,
        };
        let text = String::from_utf8(response.body)
            .map_err(|_| malformed("its index.yaml is not UTF-8".into()))?;
        parse_index(&text)
            .map(Arc::new)
            .map_err(|e| malformed(format!("its index.yaml cannot be read: {e}")))
    }

    /// The repository's index, read once per run for all its charts.
    async fn index(&self, chart: &str) -> Result<Arc<Index>, RegistryError> {
        let url = self
            .base
            .join("index.yaml")
            .map_err(|e| RegistryError::InvalidUrl {
                url: self.shown.clone(),
                detail: e.to_string(),
            })?;
        let key = url.to_string();
        let shared = {
            let mut map = self
                .cache
                .indexes
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            match map.get(&key) {
                Some((at, shared)) if at.elapsed() < INDEX_TTL => shared.clone(),
                _ => {
                    let fetch = Self::fetch(
                        self.http.clone(),
                        url,
                        self.shown.clone(),
                        chart.to_string(),
                    )
                    .boxed()
                    .shared();
                    map.insert(key, (Instant::now(), fetch.clone()));
                    fetch
                }
            }
        };
        shared.await.map_err(|e| for_package(&e, chart))
    }
}

#[async_trait]
impl Registry for IndexRegistry {
    fn url(&self) -> &str {
        &self.shown
    }

    async fn releases(&self, chart: &str) -> Result<ReleaseList, RegistryError> {
        let index = self.index(chart).await?;
        let found = index.get(chart).ok_or_else(|| RegistryError::NotFound {
            package: chart.to_string(),
            registry: self.shown.clone(),
        })?;
        Ok(ReleaseList {
            name: chart.to_string(),
            releases: found.releases.clone(),
            source_url: found.source.clone(),
            homepage: found.home.clone(),
            registry_url: self.shown.clone(),
            ..ReleaseList::default()
        })
    }
}

/// Charts in an OCI registry: `oci://host/path`, a chart `c` at `host/path/c`.
pub struct OciCharts {
    registry: OciRegistry,
    path: String,
    shown: String,
}

impl OciCharts {
    pub fn new(
        base: &str,
        path: &str,
        http: Arc<HttpClient>,
        tokens: Arc<TokenCache>,
    ) -> Result<Self, RegistryError> {
        let registry = OciRegistry::new(base, http, tokens)?;
        let host = base.split_once("://").map(|(_, h)| h).unwrap_or(base);
        let shown = format!("oci://{host}/{path}")
            .trim_end_matches('/')
            .to_string();
        Ok(OciCharts {
            registry,
            path: path.trim_matches('/').to_string(),
            shown,
        })
    }
}

#[async_trait]
impl Registry for OciCharts {
    fn url(&self) -> &str {
        &self.shown
    }

    async fn releases(&self, chart: &str) -> Result<ReleaseList, RegistryError> {
        let path = if self.path.is_empty() {
            chart.to_string()
        } else {
            format!("{}/{chart}", self.path)
        };
        let tags = self.registry.tags(chart, &path).await?;
        let releases = tags
            .iter()
            .map(|tag| Release::new(tag.replace('_', "+")))
            .collect();
        Ok(ReleaseList {
            name: format!("{}/{chart}", self.shown),
            releases,
            registry_url: self.shown.clone(),
            ..ReleaseList::default()
        })
    }
}

/// The registry a chart repository URL (see [`Repository::url`]) names.
pub fn registry(
    repository: &Repository,
    http: Arc<HttpClient>,
    indexes: Arc<IndexCache>,
    tokens: Arc<TokenCache>,
) -> Result<Arc<dyn Registry>, RegistryError> {
    Ok(match repository {
        Repository::Index(url) => Arc::new(IndexRegistry::new(url, http, indexes)?),
        Repository::Oci { base, path } => Arc::new(OciCharts::new(base, path, http, tokens)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const INDEX: &str = "apiVersion: v1\nentries:\n  podinfo:\n  - apiVersion: v2\n    appVersion: 6.6.0\n    created: \"2026-11-20T10:00:00.123456789Z\"\n    home: https://github.com/stefanprodan/podinfo\n    sources:\n    - https://github.com/stefanprodan/podinfo\n    name: podinfo\n    version: 6.6.0\n    urls: [podinfo-6.6.0.tgz]\n  - name: podinfo\n    version: 6.5.4\n    created: \"2026-01-02T03:04:05Z\"\n    deprecated: true\n  other: []\ngenerated: \"2026-11-24T00:00:00Z\"\n";

    #[test]
    fn an_index_gives_versions_dates_and_deprecations() {
        let index = parse_index(INDEX).unwrap();
        let chart = &index["podinfo"];
        assert_eq!(chart.releases.len(), 2);
        assert_eq!(chart.releases[0].version, "6.6.0");
        assert_eq!(
            chart.releases[0].released_at.as_deref(),
            Some("2026-11-20T10:00:00.123456789Z")
        );
        assert!(!chart.releases[0].yanked);
        assert!(chart.releases[1].yanked);
        assert_eq!(
            chart.home.as_deref(),
            Some("https://github.com/stefanprodan/podinfo")
        );
        assert!(index["other"].releases.is_empty());
        assert!(parse_index("apiVersion: v1\nentries:\n")
            .unwrap()
            .is_empty());
    }

    #[tokio::test]
    async fn one_index_request_serves_every_chart_of_a_repository() {
        use wiremock::matchers::{method, path};
        use wiremock::{Mock, MockServer, ResponseTemplate};
        let server = MockServer::start().await;
        let index = INDEX.replace("  other: []", "  other:\n  - version: 1.0.0");
        Mock::given(method("GET"))
            .and(path("/sub/index.yaml"))
            .respond_with(ResponseTemplate::new(200).set_body_string(index))
            .expect(1)
            .mount(&server)
            .await;
        let http = Arc::new(HttpClient::new(Default::default(), Vec::new()).unwrap());
        let cache = Arc::new(IndexCache::default());
        let url = format!("{}/sub", server.uri());
        let a = IndexRegistry::new(&url, http.clone(), cache.clone()).unwrap();
        let b = IndexRegistry::new(&url, http, cache).unwrap();
        let (podinfo, other) = futures::join!(a.releases("podinfo"), b.releases("other"));
        assert_eq!(podinfo.unwrap().releases.len(), 2);
        assert_eq!(other.unwrap().releases[0].version, "1.0.0");
        let missing = a.releases("nope").await.unwrap_err();
        assert_eq!(
            missing.to_string(),
            format!("package `nope` not found at {url}")
        );
    }

    #[test]
    fn malformed_indexes_say_why() {
        assert!(parse_index("<html>not found</html>")
            .unwrap_err()
            .contains("no `entries`"));
        assert!(parse_index("entries: [1, 2]")
            .unwrap_err()
            .contains("no `entries`"));
        assert!(parse_index("entries:\n  a: [\n")
            .unwrap_err()
            .starts_with("line "));
    }
}

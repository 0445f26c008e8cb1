//! The npm registry protocol: one packument per package, in one of two documents.
//!
//! - The abbreviated packument (`Accept: application/vnd.npm.install-v1+json`, npm's
//!   "corgi"): versions with their dependencies, engines, bin, deprecation and dist, and the
//!   dist-tags. Enough to decide updates, and a fraction of the size: lookups ask for it
//!   ([`Registry::brief_releases`]).
//! - The full packument (`Accept: application/json`): adds `license` (which npm 11 writes into
//!   every lock entry it resolves; it asks for full documents for exactly that reason),
//!   `repository` (merge request links) and `time` (publish dates, for the cooldown; npm's
//!   own registry leaves them out of the abbreviated document). Lock writers, merge requests
//!   and cooldowns ask for it ([`Registry::releases`]).
//!
//! An answer is taken as abbreviated when its content type says so, or when it carries
//! `modified` but no `time` (as npm's registry abbreviates); a registry that answers an
//! abbreviated request with its full document gives a complete list, which then serves
//! every consumer.

use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;
use updatebot_core::http::{redact, HttpClient, Request, LARGE_BODY};
use updatebot_core::registry::{Registry, RegistryError, Release, ReleaseFile, ReleaseList};
use url::Url;

/// What is asked for the full document.
const ACCEPT_FULL: &str = "application/json; q=1.0, */*; q=0.8";
/// What is asked for the abbreviated document (npm's own header for it).
const ACCEPT_ABBREVIATED: &str =
    "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*";
/// The content type of an abbreviated answer.
const ABBREVIATED_TYPE: &str = "application/vnd.npm.install-v1+json";

pub struct NpmRegistry {
    base: Url,
    key: String,
    shown: String,
    http: Arc<HttpClient>,
}

/// A client for the registry at `url` (npm's, GitLab's npm package registry, verdaccio, …).
pub fn registry_for(url: &str, http: Arc<HttpClient>) -> Result<Arc<dyn Registry>, RegistryError> {
    let with_slash = if url.ends_with('/') {
        url.to_string()
    } else {
        format!("{url}/")
    };
    let base = Url::parse(&with_slash).map_err(|e| RegistryError::InvalidUrl {
        url: url.split('@').next_back().unwrap_or(url).to_string(),
        detail: e.to_string(),
    })?;
    if !matches!(base.scheme(), "http" | "https") {
        return Err(RegistryError::InvalidUrl {
            url: redact(&base),
            detail: "only http and https registries are supported".into(),
        });
    }
    Ok(Arc::new(NpmRegistry {
        key: base.to_string(),
        shown: redact(&base),
        base,
        http,
    }))
}

/// `@scope/name` → `@scope%2fname`, as npm asks for it.
pub fn escape_name(name: &str) -> String {
    name.replace('/', "%2f")
}

fn malformed(package: &str, registry: &str, detail: impl Into<String>) -> RegistryError {
    RegistryError::Malformed {
        package: package.to_string(),
        registry: registry.to_string(),
        detail: detail.into(),
    }
}

/// The repository URL of a packument (`repository: "github:u/r"` or `{url: "git+https://…"}`).
fn repository_url(doc: &Value) -> Option<String> {
    let raw = match doc.get("repository")? {
        Value::String(s) => s.clone(),
        other => other.get("url")?.as_str()?.to_string(),
    };
    let cleaned = raw
        .trim_start_matches("git+")
        .trim_end_matches(".git")
        .replace("git://", "https://")
        .replace("ssh://git@", "https://");
    if let Some(rest) = cleaned.strip_prefix("github:") {
        return Some(format!("https://github.com/{rest}"));
    }
    if !cleaned.contains("://") && cleaned.split('/').count() == 2 {
        return Some(format!("https://github.com/{cleaned}"));
    }
    cleaned.starts_with("http").then_some(cleaned)
}

/// Whether a packument is the abbreviated one (see the module comment).
fn is_abbreviated(content_type: Option<&str>, doc: &Value) -> bool {
    let typed = content_type.is_some_and(|t| {
        t.split(';')
            .next()
            .is_some_and(|essence| essence.trim().eq_ignore_ascii_case(ABBREVIATED_TYPE))
    });
    typed || (doc.get("time").is_none() && doc.get("modified").is_some())
}

/// Turn a packument into releases.
pub fn parse_packument(
    package: &str,
    registry: &str,
    body: &[u8],
) -> Result<ReleaseList, RegistryError> {
    parse_document(package, registry, body, None)
}

/// Turn a packument served with `content_type` into releases.
fn parse_document(
    package: &str,
    registry: &str,
    body: &[u8],
    content_type: Option<&str>,
) -> Result<ReleaseList, RegistryError> {
    let doc: Value = serde_json::from_slice(body)
        .map_err(|e| malformed(package, registry, format!("invalid JSON: {e}")))?;
    let abbreviated = is_abbreviated(content_type, &doc);
    let versions = doc
        .get("versions")
        .and_then(Value::as_object)
        .ok_or_else(|| malformed(package, registry, "no `versions` object"))?;
    let times = doc.get("time").and_then(Value::as_object);
    let mut releases = Vec::with_capacity(versions.len());
    for (version, meta) in versions {
        if !crate::versioning::is_npm_version(version) {
            continue;
        }
        let mut release = Release::new(version.clone());
        if let Some(reason) = meta
            .get("deprecated")
            .and_then(Value::as_str)
            .filter(|r| !r.is_empty())
        {
            release.yanked = true;
            release.yanked_reason = Some(reason.to_string());
        }
        release.released_at = times
            .and_then(|t| t.get(version))
            .and_then(Value::as_str)
            .map(str::to_string);
        if let Some(dist) = meta.get("dist") {
            let url = dist
                .get("tarball")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            let mut hashes = BTreeMap::new();
            if let Some(integrity) = dist.get("integrity").and_then(Value::as_str) {
                hashes.insert("integrity".to_string(), integrity.to_string());
            }
            if let Some(sha1) = dist.get("shasum").and_then(Value::as_str) {
                hashes.insert("sha1".to_string(), sha1.to_string());
            }
            release.files.push(ReleaseFile {
                filename: url.rsplit('/').next().unwrap_or_default().to_string(),
                url,
                hashes,
            });
        }
        release.metadata = Some(Arc::new(meta.clone()));
        releases.push(release);
    }
    let tags = doc
        .get("dist-tags")
        .and_then(Value::as_object)
        .map(|t| {
            t.iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
                .collect()
        })
        .unwrap_or_default();
    Ok(ReleaseList {
        name: doc
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or(package)
            .to_string(),
        releases,
        source_url: repository_url(&doc),
        homepage: doc
            .get("homepage")
            .and_then(Value::as_str)
            .map(str::to_string),
        changelog_url: None,
        registry_url: registry.to_string(),
        tags,
        abbreviated,
    })
}

#[async_trait::async_trait]
impl Registry for NpmRegistry {
    fn url(&self) -> &str {
        &self.shown
    }

    fn cache_key(&self) -> &str {
        &self.key
    }

    async fn releases(&self, package: &str) -> Result<ReleaseList, RegistryError> {
        self.packument(package, ACCEPT_FULL).await
    }

    async fn brief_releases(&self, package: &str) -> Result<ReleaseList, RegistryError> {
        self.packument(package, ACCEPT_ABBREVIATED).await
    }
}

impl NpmRegistry {
    /// The packument of `package`, asked for with `accept`.
    async fn packument(&self, package: &str, accept: &str) -> Result<ReleaseList, RegistryError> {
        let url = self
            .base
            .join(&escape_name(package))
            .map_err(|e| malformed(package, &self.shown, e.to_string()))?;
        // Packuments of long-lived packages run to tens of megabytes.
        let response = self
            .http
            .send(Request::get(&url, accept).limit(LARGE_BODY).json())
            .await
            .map_err(|e| RegistryError::from_http(package, &self.shown, e))?;
        if !response.is_success() {
            return Err(RegistryError::from_status(
                package,
                &self.shown,
                response.status,
            ));
        }
        parse_document(
            package,
            &self.shown,
            &response.body,
            response.header("content-type"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use updatebot_core::http::HttpOptions;
    use wiremock::matchers::{header_regex, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    fn client() -> Arc<HttpClient> {
        Arc::new(
            HttpClient::new(
                HttpOptions {
                    retries: 0,
                    ..HttpOptions::default()
                },
                vec![],
            )
            .unwrap(),
        )
    }

    #[tokio::test]
    async fn packuments_give_versions_tags_deprecations_and_integrity() {
        let server = MockServer::start().await;
        let body = serde_json::json!({
            "name": "@acme/widget",
            "dist-tags": {"latest": "1.1.0", "next": "2.0.0-rc.1"},
            "versions": {
                "1.0.0": {"name": "@acme/widget", "version": "1.0.0", "dist": {"tarball": "http://r/@acme/widget/-/widget-1.0.0.tgz", "integrity": "sha512-aaa", "shasum": "111"}},
                "1.1.0": {"name": "@acme/widget", "version": "1.1.0", "dependencies": {"ms": "^2.1.3"}, "dist": {"tarball": "http://r/@acme/widget/-/widget-1.1.0.tgz", "integrity": "sha512-bbb"}},
                "1.2.0": {"name": "@acme/widget", "version": "1.2.0", "deprecated": "broken", "dist": {"tarball": "t", "integrity": "sha512-ccc"}},
                "2.0.0-rc.1": {"version": "2.0.0-rc.1", "dist": {"tarball": "t", "integrity": "sha512-ddd"}},
                "not-a-version": {"dist": {}}
            },
            "repository": {"type": "git", "url": "git+https://github.com/acme/widget.git"}
        });
        Mock::given(method("GET"))
            .and(path("/@acme%2fwidget"))
            .and(header_regex(
                "accept",
                "application/vnd.npm.install-v1\\+json",
            ))
            .respond_with(ResponseTemplate::new(200).set_body_json(body))
            .mount(&server)
            .await;
        let registry = registry_for(&server.uri(), client()).unwrap();
        let list = registry.brief_releases("@acme/widget").await.unwrap();
        // Asked for the abbreviated document, answered with the full one: complete.
        assert!(!list.abbreviated);
        assert_eq!(list.releases.len(), 4);
        assert_eq!(list.tags["latest"], "1.1.0");
        let deprecated = list.release("1.2.0").unwrap();
        assert!(deprecated.yanked);
        assert_eq!(deprecated.yanked_reason.as_deref(), Some("broken"));
        let one = list.release("1.1.0").unwrap();
        assert_eq!(one.files[0].hashes["integrity"], "sha512-bbb");
        assert_eq!(
            one.metadata.as_ref().unwrap()["dependencies"]["ms"],
            "^2.1.3"
        );
        assert_eq!(
            list.source_url.as_deref(),
            Some("https://github.com/acme/widget")
        );
    }

    #[tokio::test]
    async fn the_abbreviated_document_for_lookups_the_full_one_for_the_rest() {
        let server = MockServer::start().await;
        let full = serde_json::json!({
            "name": "ms",
            "dist-tags": {"latest": "2.1.3"},
            "time": {"2.1.3": "2020-12-09T10:00:00.000Z"},
            "versions": {"2.1.3": {"name": "ms", "version": "2.1.3", "license": "MIT",
                "dist": {"tarball": "http://r/ms/-/ms-2.1.3.tgz", "integrity": "sha512-a"}}},
            "repository": "vercel/ms"
        });
        // npm's registry: no `time`, `modified` instead, and its own content type.
        let abbreviated = serde_json::json!({
            "name": "ms",
            "modified": "2022-06-10T00:00:00.000Z",
            "dist-tags": {"latest": "2.1.3"},
            "versions": {"2.1.3": {"name": "ms", "version": "2.1.3",
                "dist": {"tarball": "http://r/ms/-/ms-2.1.3.tgz", "integrity": "sha512-a"}}}
        });
        Mock::given(method("GET"))
            .and(path("/ms"))
            .and(header_regex(
                "accept",
                "^application/vnd\\.npm\\.install-v1\\+json",
            ))
            .respond_with(ResponseTemplate::new(200).set_body_raw(
                abbreviated.to_string(),
                "application/vnd.npm.install-v1+json; charset=utf-8",
            ))
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/ms"))
            .and(header_regex("accept", "^application/json"))
            .respond_with(ResponseTemplate::new(200).set_body_json(full))
            .expect(1)
            .mount(&server)
            .await;
        let registry = registry_for(&server.uri(), client()).unwrap();
        let brief = registry.brief_releases("ms").await.unwrap();
        assert!(brief.abbreviated);
        assert_eq!(brief.tags["latest"], "2.1.3");
        assert_eq!(brief.releases[0].released_at, None);
        assert_eq!(brief.source_url, None);
        let whole = registry.releases("ms").await.unwrap();
        assert!(!whole.abbreviated);
        assert_eq!(
            whole.releases[0].released_at.as_deref(),
            Some("2020-12-09T10:00:00.000Z")
        );
        assert_eq!(
            whole.releases[0].metadata.as_ref().unwrap()["license"],
            "MIT"
        );
        assert_eq!(
            whole.source_url.as_deref(),
            Some("https://github.com/vercel/ms")
        );
        // Read without its content type (a disk cache that lost it), the shape tells.
        let body = serde_json::to_vec(&abbreviated).unwrap();
        assert!(parse_packument("ms", "r", &body).unwrap().abbreviated);
    }

    #[tokio::test]
    async fn errors_name_package_and_registry() {
        let server = MockServer::start().await;
        Mock::given(path("/missing"))
            .respond_with(ResponseTemplate::new(404))
            .mount(&server)
            .await;
        Mock::given(path("/@private%2fx"))
            .respond_with(ResponseTemplate::new(401))
            .mount(&server)
            .await;
        Mock::given(path("/garbage"))
            .respond_with(ResponseTemplate::new(200).set_body_string("<html>"))
            .mount(&server)
            .await;
        Mock::given(path("/shapeless"))
            .respond_with(ResponseTemplate::new(200).set_body_string("{}"))
            .mount(&server)
            .await;
        let registry = registry_for(&server.uri(), client()).unwrap();
        assert!(matches!(
            registry.releases("missing").await,
            Err(RegistryError::NotFound { .. })
        ));
        assert!(matches!(
            registry.releases("@private/x").await,
            Err(RegistryError::Unauthorized { status: 401, .. })
        ));
        let err = registry.releases("garbage").await.unwrap_err();
        assert!(
            err.to_string().contains("`garbage`") && err.to_string().contains("invalid JSON"),
            "{err}"
        );
        assert!(registry
            .releases("shapeless")
            .await
            .unwrap_err()
            .to_string()
            .contains("no `versions`"));
    }

    #[tokio::test]
    async fn faults_are_told_apart() {
        let server = MockServer::start().await;
        Mock::given(path("/login-page"))
            .respond_with(
                ResponseTemplate::new(200).set_body_raw("<html>Sign in</html>", "text/html"),
            )
            .mount(&server)
            .await;
        Mock::given(path("/cut"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_raw(r#"{"name":"cut","versions":{"1.0.0":"#, "application/json"),
            )
            .mount(&server)
            .await;
        Mock::given(path("/down"))
            .respond_with(ResponseTemplate::new(503))
            .mount(&server)
            .await;
        let registry = registry_for(&server.uri(), client()).unwrap();
        let err = registry.releases("login-page").await.unwrap_err();
        assert!(matches!(err, RegistryError::Malformed { .. }), "{err}");
        assert!(
            err.to_string()
                .contains("expected JSON, got `text/html` from http://"),
            "{err}"
        );
        let err = registry.releases("cut").await.unwrap_err();
        assert!(err.to_string().contains("invalid JSON"), "{err}");
        let err = registry.releases("down").await.unwrap_err();
        assert!(err.is_unavailable(), "{err}");
        assert!(err.to_string().contains("HTTP 503"), "{err}");
        // Nothing listens there.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let dead = format!("http://{}/", closed.local_addr().unwrap());
        drop(closed);
        let err = registry_for(&dead, client())
            .unwrap()
            .releases("anything")
            .await
            .unwrap_err();
        assert!(err.is_unavailable(), "{err}");
        assert!(err.to_string().contains("cannot connect"), "{err}");
    }
}

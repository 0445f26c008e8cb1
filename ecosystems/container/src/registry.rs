//! The OCI distribution API (Docker Registry HTTP API v2): tags with `Link` pagination,
//! manifest digests by `HEAD` (with the Accept list for Docker v2 and OCI manifests and
//! indexes), Docker's bearer-token challenge flow, basic auth, and rate-limit answers.
//!
//! Two kinds of lookup, by package name (see [`crate::image`]):
//! * `docker.io/library/nginx`: every tag is a release;
//! * `docker.io/library/nginx:1.25.3`: the same, knowing the tag in use;
//! * `docker.io/library/nginx:1.25.3@sha256:…` (a digest-pinned reference): the same tags,
//!   and the tags an update could move to (the current tag and the newest
//!   [`DIGEST_LOOKUPS`] compatible newer ones) carry the digest they point at now, as
//!   `tag@digest`. The current tag appears with its digest only if that digest moved, and
//!   then with the time it moved (the newest build time of its images), for the settle time.
//! * `docker.io/library/nginx:1.25.3@` (a reference whose digest is to be pinned,
//!   `pin-digests`): the same, and the current tag always carries its digest.
//!
//! When the tag in use is a multi-platform index, newer compatible tags that do not cover
//! its platforms (a single-platform image, an index without `linux/arm64`) are marked unfit,
//! so they are never proposed (see [`crate::manifest`]); the tag list of an image is asked
//! once per run however many tags of it are in use.

use crate::manifest::{self, Manifest};
use crate::release_age::{self, Dated};
use crate::versioning::{parse_value, Docker};
use async_trait::async_trait;
use futures::FutureExt;
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use updatebot_core::defaults::{DOCKER_HUB_ALIASES, DOCKER_HUB_DOMAIN, DOCKER_HUB_REGISTRY_URL};
use updatebot_core::http::{
    Auth, Authorization, HttpClient, HttpError, Method, Request, Response, Secret, MIB,
};
use updatebot_core::registry::{Registry, RegistryError, Release, ReleaseList};
use updatebot_core::VersionScheme;
use url::Url;

/// Manifest media types a registry may answer with; multi-arch indexes first.
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
application/vnd.docker.distribution.manifest.list.v2+json, \
application/vnd.oci.image.manifest.v1+json, \
application/vnd.docker.distribution.manifest.v2+json";

/// Tags per page asked for (registries may ignore it and send all at once).
const PAGE_SIZE: usize = 1000;
/// Pages followed at most.
const MAX_PAGES: usize = 200;
/// Tags accepted at most for one repository.
const MAX_TAGS: usize = 100_000;
/// Newer tags whose digest is looked up for a digest-pinned reference.
pub const DIGEST_LOOKUPS: usize = 10;

/// Newer tags whose platforms are checked against a multi-platform tag in use (newest first).
pub const PLATFORM_CHECKS: usize = 10;
/// Fitting tags found after which the platform check stops.
const PLATFORM_FITS: usize = 2;
/// Platform manifests of an index read for its build time, at most.
const CREATED_LOOKUPS: usize = 8;
/// How long a tag list is shared: one run (a `serve` process asks again on its next run).
const TAGS_TTL: Duration = Duration::from_secs(15 * 60);

type SharedTags = futures::future::Shared<
    futures::future::BoxFuture<'static, Result<Arc<Vec<String>>, RegistryError>>,
>;

/// Bearer tokens obtained, per (registry origin, scope), and tag lists per repository;
/// shared by the plugin's registries.
#[derive(Default)]
pub struct TokenCache {
    tokens: Mutex<HashMap<(String, String), Secret>>,
    tags: Mutex<HashMap<String, (Instant, SharedTags)>>,
    /// Manifests read, per registry, repository and tag or digest: the platform check, the
    /// settle time and the cooldown read some of the same ones.
    manifests: Mutex<HashMap<String, (Instant, Manifest)>>,
}

impl TokenCache {
    fn get(&self, key: &(String, String)) -> Option<Secret> {
        self.tokens.lock().ok()?.get(key).cloned()
    }

    fn put(&self, key: (String, String), token: Secret) {
        if let Ok(mut tokens) = self.tokens.lock() {
            tokens.insert(key, token);
        }
    }
}

#[derive(Clone)]
pub struct OciRegistry {
    base: Url,
    shown: String,
    http: Arc<HttpClient>,
    tokens: Arc<TokenCache>,
}

/// A `WWW-Authenticate: Bearer realm=…,service=…,scope=…` challenge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Challenge {
    pub realm: String,
    pub service: Option<String>,
    pub scope: Option<String>,
}

/// Parses a Bearer challenge (parameters quoted or not, in any order).
pub fn parse_challenge(header: &str) -> Option<Challenge> {
    let rest = header.trim();
    let (scheme, params) = rest.split_once(' ').unwrap_or((rest, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let mut values: HashMap<String, String> = HashMap::new();
    let mut chars = params.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let key: String = std::iter::from_fn(|| chars.next_if(|c| *c != '=')).collect();
        if key.is_empty() || chars.next() != Some('=') {
            break;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => {
                        if let Some(n) = chars.next() {
                            value.push(n);
                        }
                    }
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            value = std::iter::from_fn(|| chars.next_if(|c| *c != ',')).collect();
        }
        values.insert(key.trim().to_ascii_lowercase(), value.trim().to_string());
    }
    Some(Challenge {
        realm: values.remove("realm")?,
        service: values.remove("service"),
        scope: values.remove("scope"),
    })
}

#[derive(Deserialize)]
struct TagList {
    #[serde(default)]
    tags: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct TokenAnswer {
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    access_token: Option<String>,
}

/// The tags of one `tags/list` answer (an absent or null `tags` is no tags).
pub fn decode_tag_list(body: &[u8]) -> Result<Vec<String>, serde_json::Error> {
    serde_json::from_slice::<TagList>(body).map(|list| list.tags.unwrap_or_default())
}

/// The `rel="next"` target of a `Link` header.
pub fn next_link(header: &str) -> Option<String> {
    header.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        params
            .split(';')
            .any(|p| {
                let p = p.trim().replace(' ', "");
                p == "rel=\"next\"" || p == "rel=next"
            })
            .then(|| target.to_string())
    })
}

/// What a package name asks for.
struct Lookup {
    /// Path inside the registry (`library/nginx`).
    path: String,
    /// The full repository (`docker.io/library/nginx`), for messages.
    repository: String,
    /// The tag in use, if the package names one.
    tag: Option<String>,
    /// For a digest-pinned reference: its tag and digest; the digest is empty for a reference
    /// whose digest is to be pinned (`…:1.25.3@`, see the plugin's `lookup_name`).
    pinned: Option<(String, String)>,
}

fn lookup_of(package: &str) -> Result<Lookup, String> {
    let (name, pinned) = match package.split_once('@') {
        Some((name_tag, digest)) => {
            let (name, tag) = name_tag
                .rsplit_once(':')
                .filter(|(_, t)| !t.contains('/'))
                .ok_or_else(|| format!("`{package}` has a digest but no tag"))?;
            (name, Some((tag.to_string(), digest.to_string())))
        }
        None => (package, None),
    };
    // `host:5000/team/app` has no tag; `host:5000/team/app:1.0` has.
    let (name, tag) = match (&pinned, name.rsplit_once(':')) {
        (Some((tag, _)), _) => (name, Some(tag.clone())),
        (None, Some((n, t))) if !t.contains('/') && n.contains('/') => (n, Some(t.to_string())),
        _ => (name, None),
    };
    let (_, path) = name
        .split_once('/')
        .ok_or_else(|| format!("`{package}` has no registry host"))?;
    Ok(Lookup {
        path: path.to_string(),
        repository: name.to_string(),
        tag,
        pinned,
    })
}

impl OciRegistry {
    /// A client for the registry at `url` (`https://ghcr.io`, `http://127.0.0.1:5000`, or a
    /// bare host, which means HTTPS).
    pub fn new(
        url: &str,
        http: Arc<HttpClient>,
        tokens: Arc<TokenCache>,
    ) -> Result<Self, RegistryError> {
        let full = if url.contains("://") {
            url.to_string()
        } else {
            format!("https://{url}")
        };
        let invalid = |detail: String| RegistryError::InvalidUrl {
            url: url.to_string(),
            detail,
        };
        let mut base = Url::parse(&full).map_err(|e| invalid(e.to_string()))?;
        if !matches!(base.scheme(), "http" | "https") || base.host_str().is_none() {
            return Err(invalid("must be an http or https URL with a host".into()));
        }
        if !base.username().is_empty() || base.password().is_some() {
            return Err(invalid(
                "credentials belong in the operator config, not in the URL".into(),
            ));
        }
        // `https://host/v2/` and `https://host` are the same registry.
        let path = base
            .path()
            .trim_end_matches('/')
            .trim_end_matches("/v2")
            .to_string();
        base.set_path(&format!("{path}/"));
        base.set_query(None);
        base.set_fragment(None);
        let shown = base.as_str().trim_end_matches('/').to_string();
        Ok(OciRegistry {
            base,
            shown,
            http,
            tokens,
        })
    }

    fn origin(&self) -> String {
        self.base.origin().ascii_serialization()
    }

    fn url_for(&self, target: &str) -> Result<Url, RegistryError> {
        self.base
            .join(target)
            .map_err(|e| RegistryError::InvalidUrl {
                url: format!("{}{target}", self.base),
                detail: e.to_string(),
            })
    }

    /// The credential configured for this registry (for Docker Hub, under any of its names).
    fn credential(&self) -> Option<Auth> {
        if let Some(auth) = self.http.credential_for(&self.base) {
            return Some(auth.clone());
        }
        if self.base.as_str().trim_end_matches('/') == DOCKER_HUB_REGISTRY_URL {
            for alias in DOCKER_HUB_ALIASES.iter().chain([&DOCKER_HUB_DOMAIN]) {
                if let Ok(url) = Url::parse(&format!("https://{alias}/")) {
                    if let Some(auth) = self.http.credential_for(&url) {
                        return Some(auth.clone());
                    }
                }
            }
        }
        None
    }

    fn network(&self, package: &str, error: HttpError) -> RegistryError {
        RegistryError::from_http(package, &self.shown, error)
    }

    /// A request to the registry, with the token flow when it challenges.
    async fn call(
        &self,
        method: Method,
        url: &Url,
        accept: &str,
        package: &str,
        scope: &str,
    ) -> Result<Response, RegistryError> {
        let key = (self.origin(), scope.to_string());
        let authorization = match self.tokens.get(&key) {
            Some(token) => Authorization::Use(Auth::Bearer(token)),
            None => match self.credential() {
                Some(auth) => Authorization::Use(auth),
                None => Authorization::Anonymous,
            },
        };
        let request = |authorization| {
            let request = Request::new(method, url, accept).authorization(authorization);
            // Tag lists are JSON by the distribution spec; manifests carry their media type.
            if url.path().ends_with("/tags/list") {
                request.json()
            } else {
                request
            }
        };
        let response = self
            .http
            .send(request(authorization))
            .await
            .map_err(|e| self.network(package, e))?;
        if response.status != 401 {
            return Ok(response);
        }
        let Some(challenge) = response
            .header("www-authenticate")
            .and_then(parse_challenge)
        else {
            return Ok(response);
        };
        let token = self.token(&challenge, package, scope).await?;
        self.tokens.put(key, token.clone());
        self.http
            .send(request(Authorization::Use(Auth::Bearer(token))))
            .await
            .map_err(|e| self.network(package, e))
    }

    /// Asks the token service the registry named for a token, with the registry's
    /// credentials if any are configured.
    async fn token(
        &self,
        challenge: &Challenge,
        package: &str,
        scope: &str,
    ) -> Result<Secret, RegistryError> {
        let malformed = |detail: String| RegistryError::Malformed {
            package: package.to_string(),
            registry: self.shown.clone(),
            detail,
        };
        let mut realm = Url::parse(&challenge.realm)
            .map_err(|e| malformed(format!("token realm `{}`: {e}", challenge.realm)))?;
        // Never send credentials over plain HTTP to a registry reached over HTTPS.
        let downgrade = realm.scheme() == "http" && self.base.scheme() == "https";
        if !matches!(realm.scheme(), "http" | "https") || downgrade {
            return Err(malformed(format!(
                "token realm `{}` is not an acceptable URL for this registry",
                updatebot_core::http::redact(&realm)
            )));
        }
        {
            let mut query = realm.query_pairs_mut();
            if let Some(service) = &challenge.service {
                query.append_pair("service", service);
            }
            query.append_pair("scope", challenge.scope.as_deref().unwrap_or(scope));
        }
        let authorization = match self.credential() {
            Some(auth) => Authorization::Use(auth),
            None => Authorization::Anonymous,
        };
        let response = self
            .http
            .send(
                Request::get(&realm, "application/json")
                    .authorization(authorization)
                    .limit(MIB)
                    .json(),
            )
            .await
            .map_err(|e| self.network(package, e))?;
        match response.status {
            200..=299 => {}
            401 | 403 => {
                return Err(RegistryError::Unauthorized {
                    package: package.to_string(),
                    registry: self.shown.clone(),
                    status: response.status,
                })
            }
            429 => return Err(self.rate_limited(package, &response)),
            status => {
                return Err(malformed(format!(
                    "its token service answered HTTP {status}"
                )))
            }
        }
        let answer: TokenAnswer = serde_json::from_slice(&response.body)
            .map_err(|e| malformed(format!("token answer is not JSON: {e}")))?;
        answer
            .token
            .or(answer.access_token)
            .filter(|t| !t.is_empty())
            .map(Secret::new)
            .ok_or_else(|| malformed("token answer has no token".into()))
    }

    fn rate_limited(&self, package: &str, response: &Response) -> RegistryError {
        let mut detail = format!("HTTP {}", response.status);
        for header in ["ratelimit-remaining", "ratelimit-limit", "retry-after"] {
            if let Some(v) = response.header(header) {
                detail.push_str(&format!(", {header}: {v}"));
            }
        }
        RegistryError::RateLimited {
            package: package.to_string(),
            registry: self.shown.clone(),
            detail,
        }
    }

    /// A non-success answer as the error it means.
    fn status_error(&self, package: &str, response: &Response) -> RegistryError {
        let exhausted = response
            .header("ratelimit-remaining")
            .is_some_and(|v| v.trim().starts_with('0'));
        match response.status {
            429 => self.rate_limited(package, response),
            // Docker Hub may refuse with 401/403 once the pull limit is spent; its header says.
            401 | 403 if exhausted => self.rate_limited(package, response),
            401 | 403 => RegistryError::Unauthorized {
                package: package.to_string(),
                registry: self.shown.clone(),
                status: response.status,
            },
            404 => RegistryError::NotFound {
                package: package.to_string(),
                registry: self.shown.clone(),
            },
            500..=599 => RegistryError::from_status(package, &self.shown, response.status),
            status => RegistryError::Status {
                package: package.to_string(),
                registry: self.shown.clone(),
                status,
            },
        }
    }

    /// Every tag of the repository, following `Link` pages.
    pub async fn tags(&self, package: &str, path: &str) -> Result<Vec<String>, RegistryError> {
        let scope = format!("repository:{path}:pull");
        let mut target = format!("v2/{path}/tags/list?n={PAGE_SIZE}");
        let mut tags = Vec::new();
        let mut seen_pages = std::collections::HashSet::new();
        for _ in 0..MAX_PAGES {
            let url = self.url_for(&target)?;
            if !seen_pages.insert(url.to_string()) {
                break;
            }
            let response = self
                .call(Method::Get, &url, "application/json", package, &scope)
                .await?;
            if !response.is_success() {
                return Err(self.status_error(package, &response));
            }
            let page = decode_tag_list(&response.body).map_err(|e| RegistryError::Malformed {
                package: package.to_string(),
                registry: self.shown.clone(),
                detail: format!("the tag list is not the expected JSON: {e}"),
            })?;
            let empty = page.is_empty();
            tags.extend(page);
            if tags.len() > MAX_TAGS {
                return Err(RegistryError::Malformed {
                    package: package.to_string(),
                    registry: self.shown.clone(),
                    detail: format!("more than {MAX_TAGS} tags"),
                });
            }
            match response.header("link").and_then(next_link) {
                Some(next) if !empty => {
                    // Credentials go with the next page: follow links on this registry only.
                    let next_url = self.url_for(next.trim_start_matches('/'))?;
                    if next_url.origin() != self.base.origin() {
                        return Err(RegistryError::Malformed {
                            package: package.to_string(),
                            registry: self.shown.clone(),
                            detail: format!(
                                "the next page of tags is on another host ({})",
                                updatebot_core::http::redact(&next_url)
                            ),
                        });
                    }
                    target = next_url.to_string();
                }
                _ => break,
            }
        }
        tags.sort();
        tags.dedup();
        Ok(tags)
    }

    /// The tag list of `path`, asked once for every lookup of the image in a run (lookups
    /// of one image under different tags run at once and share the answer).
    async fn shared_tags(
        &self,
        package: &str,
        path: &str,
    ) -> Result<Arc<Vec<String>>, RegistryError> {
        let key = format!("{}|{path}", self.base);
        let shared = {
            let mut map = self
                .tokens
                .tags
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            match map.get(&key) {
                Some((at, shared)) if at.elapsed() < TAGS_TTL => shared.clone(),
                _ => {
                    let me = self.clone();
                    let (package, path) = (package.to_string(), path.to_string());
                    let shared = async move { me.tags(&package, &path).await.map(Arc::new) }
                        .boxed()
                        .shared();
                    map.insert(key, (Instant::now(), shared.clone()));
                    shared
                }
            }
        };
        shared.await
    }

    /// The manifest `reference` (a tag or digest) names (`None`: there is none).
    async fn manifest(
        &self,
        package: &str,
        path: &str,
        reference: &str,
    ) -> Result<Option<Manifest>, RegistryError> {
        let key = format!("{}|{path}|{reference}", self.base);
        let memo = |map: &Mutex<HashMap<String, (Instant, Manifest)>>| {
            let map = map.lock().ok()?;
            map.get(&key)
                .filter(|(at, _)| at.elapsed() < TAGS_TTL)
                .map(|(_, m)| m.clone())
        };
        if let Some(known) = memo(&self.tokens.manifests) {
            return Ok(Some(known));
        }
        let scope = format!("repository:{path}:pull");
        let url = self.url_for(&format!("v2/{path}/manifests/{reference}"))?;
        let response = self
            .call(Method::Get, &url, MANIFEST_ACCEPT, package, &scope)
            .await?;
        if response.status == 404 {
            return Ok(None);
        }
        if !response.is_success() {
            return Err(self.status_error(package, &response));
        }
        let manifest =
            manifest::parse(&response.body, response.header("content-type")).map_err(|detail| {
                RegistryError::Malformed {
                    package: package.to_string(),
                    registry: self.shown.clone(),
                    detail: format!("the manifest of `{reference}`: {detail}"),
                }
            })?;
        if let Ok(mut map) = self.tokens.manifests.lock() {
            map.insert(key, (Instant::now(), manifest.clone()));
        }
        Ok(Some(manifest))
    }

    /// Newer compatible tags that cannot replace a multi-platform `current`, with why. The
    /// newest are checked first, until [`PLATFORM_FITS`] fit or [`PLATFORM_CHECKS`] were
    /// read; older ones are then unfit as not checked, so nothing unchecked is proposed.
    /// The current tag's manifest unreadable: no check (as for a single-platform image); a
    /// candidate's unreadable: that candidate is unfit, with the registry's answer.
    async fn platform_check(
        &self,
        package: &str,
        path: &str,
        current: &str,
        tags: &[String],
    ) -> HashMap<String, String> {
        let mut unfit = HashMap::new();
        if !tags.iter().any(|t| t == current) {
            return unfit;
        }
        let have = match self.manifest(package, path, current).await {
            Ok(Some(have)) => have,
            Ok(None) => return unfit,
            // Unreadable (a registry that answers HEAD but refuses GET): no check.
            Err(_) => return unfit,
        };
        if !matches!(&have, Manifest::Index { platforms, .. } if platforms.len() >= 2) {
            return unfit;
        }
        let mut newer = newer_compatible(current, tags);
        let (mut checked, mut fits) = (0, 0);
        for tag in newer.drain(..) {
            if fits == PLATFORM_FITS || checked == PLATFORM_CHECKS {
                unfit.insert(
                    tag,
                    format!(
                        "was not checked for the platforms `{current}` covers (only the newest tags are)"
                    ),
                );
                continue;
            }
            checked += 1;
            match self.manifest(package, path, &tag).await {
                Ok(Some(candidate)) => match manifest::uncovered(&have, &candidate) {
                    Some(why) => {
                        unfit.insert(tag, why);
                    }
                    None => fits += 1,
                },
                Ok(None) => {
                    unfit.insert(tag, "has no manifest".into());
                }
                Err(e) => {
                    unfit.insert(tag, format!("could not be checked for platforms: {e}"));
                }
            }
        }
        unfit
    }

    /// When the image `digest` names was built: its config's `created`, for an index the
    /// newest of its images'. `None` when the registry does not say (or says it badly).
    async fn created(&self, package: &str, path: &str, digest: &str) -> Option<String> {
        let configs = match self.manifest(package, path, digest).await.ok()?? {
            Manifest::Image { config } => vec![config?],
            Manifest::Index { manifests, .. } => {
                let mut configs = Vec::new();
                for m in manifests.iter().take(CREATED_LOOKUPS) {
                    if let Ok(Some(Manifest::Image { config: Some(c) })) =
                        self.manifest(package, path, m).await
                    {
                        configs.push(c);
                    }
                }
                configs
            }
        };
        let scope = format!("repository:{path}:pull");
        let mut newest: Option<String> = None;
        for config in configs {
            let url = self.url_for(&format!("v2/{path}/blobs/{config}")).ok()?;
            let Ok(response) = self.call(Method::Get, &url, "*/*", package, &scope).await else {
                continue;
            };
            if !response.is_success() {
                continue;
            }
            if let Some(created) = manifest::config_created(&response.body) {
                // RFC 3339 in UTC sorts as text.
                if newest.as_ref().is_none_or(|n| created > *n) {
                    newest = Some(created);
                }
            }
        }
        newest
    }

    /// The digest `tag` points at now (`None`: the tag has no manifest).
    pub async fn digest(
        &self,
        package: &str,
        path: &str,
        tag: &str,
    ) -> Result<Option<String>, RegistryError> {
        let scope = format!("repository:{path}:pull");
        let url = self.url_for(&format!("v2/{path}/manifests/{tag}"))?;
        let mut response = self
            .call(Method::Head, &url, MANIFEST_ACCEPT, package, &scope)
            .await?;
        if response.status == 404 {
            return Ok(None);
        }
        if response.is_success() && response.header("docker-content-digest").is_none() {
            // Some registries leave the header off HEAD answers: ask for the manifest.
            response = self
                .call(Method::Get, &url, MANIFEST_ACCEPT, package, &scope)
                .await?;
        }
        if !response.is_success() {
            return Err(self.status_error(package, &response));
        }
        let digest = match response.header("docker-content-digest") {
            Some(d) => d.trim().to_string(),
            None if !response.body.is_empty() => {
                let hash = ring::digest::digest(&ring::digest::SHA256, &response.body);
                format!("sha256:{}", hex(hash.as_ref()))
            }
            None => {
                return Err(RegistryError::Malformed {
                    package: package.to_string(),
                    registry: self.shown.clone(),
                    detail: format!("no digest for tag `{tag}`"),
                })
            }
        };
        if parse_value(&format!("x@{digest}")).is_none() {
            return Err(RegistryError::Malformed {
                package: package.to_string(),
                registry: self.shown.clone(),
                detail: format!("`{digest}` is not a digest"),
            });
        }
        Ok(Some(digest))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// For a digest-pinned reference at `current`: the tags whose digest is looked up, newest
/// first — the current tag and up to [`DIGEST_LOOKUPS`] newer compatible ones (stable ones
/// only, unless the current tag is a pre-release).
fn digest_candidates(current: &str, tags: &[String]) -> Vec<String> {
    let mut out: Vec<String> = newer_compatible(current, tags)
        .into_iter()
        .take(DIGEST_LOOKUPS)
        .collect();
    if tags.iter().any(|t| t == current) {
        out.push(current.to_string());
    }
    out
}

/// The tags an update of `current` could move to, newest first: compatible (same suffix
/// and precision), newer, and stable unless the current tag is a pre-release.
fn newer_compatible(current: &str, tags: &[String]) -> Vec<String> {
    let scheme = Docker;
    let pre = scheme.is_prerelease(current);
    let mut newer: Vec<&String> = tags
        .iter()
        .filter(|t| {
            scheme.is_compatible(current, t)
                && scheme.compare(t, current).is_ok_and(|o| o.is_gt())
                && (pre || !scheme.is_prerelease(t))
        })
        .collect();
    newer.sort_by(|a, b| scheme.compare(b, a).unwrap_or(std::cmp::Ordering::Equal));
    newer.into_iter().cloned().collect()
}

#[async_trait]
impl Registry for OciRegistry {
    fn url(&self) -> &str {
        &self.shown
    }

    async fn releases(&self, name: &str) -> Result<ReleaseList, RegistryError> {
        let invalid = |detail| RegistryError::InvalidUrl {
            url: self.shown.clone(),
            detail,
        };
        let (package, minimum_age) = release_age::split(name).map_err(invalid)?;
        let lookup = lookup_of(package).map_err(invalid)?;
        let tags = self.shared_tags(package, &lookup.path).await?;
        let mut digests: HashMap<String, String> = HashMap::new();
        let mut moved_at: Option<String> = None;
        if let Some((current, current_digest)) = &lookup.pinned {
            let wanted = digest_candidates(current, &tags);
            let answers = futures::future::join_all(
                wanted
                    .iter()
                    .map(|tag| self.digest(package, &lookup.path, tag)),
            )
            .await;
            for (tag, answer) in wanted.iter().zip(answers) {
                if let Some(digest) = answer? {
                    // The current tag still at the pinned digest: nothing moved.
                    if tag == current && &digest == current_digest {
                        continue;
                    }
                    // When a digest moved matters for the settle time, not for a first pin.
                    if tag == current && !current_digest.is_empty() {
                        moved_at = self.created(package, &lookup.path, &digest).await;
                    }
                    digests.insert(tag.clone(), digest);
                }
            }
        }
        let mut unfit = match &lookup.tag {
            Some(current) => {
                self.platform_check(package, &lookup.path, current, &tags)
                    .await
            }
            None => HashMap::new(),
        };
        // Build times of the tags an update could take, when a cooldown applies.
        let mut dated: HashMap<String, String> = HashMap::new();
        if let (Some(age), Some(current)) = (&minimum_age, &lookup.tag) {
            let candidates: Vec<String> = newer_compatible(current, &tags)
                .into_iter()
                .filter(|t| !unfit.contains_key(t))
                .collect();
            let path = lookup.path.as_str();
            let answers =
                release_age::date_candidates(age, current, &candidates, |tag| async move {
                    self.created(package, path, &tag).await
                })
                .await;
            for (tag, verdict) in answers {
                match verdict {
                    Dated::At(created) => {
                        dated.insert(tag, created);
                    }
                    Dated::Unfit(why) => {
                        unfit.insert(tag, why);
                    }
                }
            }
        }
        let current_tag = lookup.tag.as_deref();
        let releases = tags
            .iter()
            .map(|tag| {
                let mut release = match digests.get(tag) {
                    Some(digest) => Release::new(format!("{tag}@{digest}")),
                    None => Release::new(tag.clone()),
                };
                if Some(tag.as_str()) == current_tag && digests.contains_key(tag) {
                    release.released_at = moved_at.clone();
                } else if let Some(created) = dated.get(tag) {
                    release.released_at = Some(created.clone());
                }
                release.unfit = unfit.get(tag).cloned();
                release
            })
            .collect();
        Ok(ReleaseList {
            name: lookup.repository,
            releases,
            registry_url: self.shown.clone(),
            ..ReleaseList::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use updatebot_core::http::{Credential, HttpOptions};
    use wiremock::matchers::{header, method, path, query_param};
    use wiremock::{Mock, MockServer, Request as WireRequest, Respond, ResponseTemplate};

    const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

    fn client(credentials: Vec<Credential>) -> Arc<HttpClient> {
        Arc::new(
            HttpClient::new(
                HttpOptions {
                    backoff: Duration::from_millis(1),
                    max_backoff: Duration::from_millis(5),
                    retries: 1,
                    ..HttpOptions::default()
                },
                credentials,
            )
            .unwrap(),
        )
    }

    fn registry(server: &MockServer, http: Arc<HttpClient>) -> OciRegistry {
        OciRegistry::new(&server.uri(), http, Arc::new(TokenCache::default())).unwrap()
    }

    fn tags_json(tags: &[&str]) -> serde_json::Value {
        serde_json::json!({"name": "team/app", "tags": tags})
    }

    #[test]
    fn challenges_and_links_parse() {
        let c = parse_challenge(
            r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push""#,
        )
        .unwrap();
        assert_eq!(c.realm, "https://auth.example/token");
        assert_eq!(c.service.as_deref(), Some("registry.example"));
        assert_eq!(c.scope.as_deref(), Some("repository:a/b:pull,push"));
        assert!(parse_challenge(r#"Basic realm="x""#).is_none());
        assert!(parse_challenge("Bearer").is_none());
        assert!(parse_challenge("Bearer realm=").is_some_and(|c| c.realm.is_empty()));
        assert_eq!(
            next_link(r#"</v2/a/tags/list?last=x&n=2>; rel="next""#).as_deref(),
            Some("/v2/a/tags/list?last=x&n=2")
        );
        assert_eq!(next_link(r#"</x>; rel="prev""#), None);
    }

    #[tokio::test]
    async fn tags_follow_link_pages() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/v2/team/app/tags/list"))
            .and(query_param("last", "1.1"))
            .respond_with(ResponseTemplate::new(200).set_body_json(tags_json(&["2.0"])))
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/v2/team/app/tags/list"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(tags_json(&["1.0", "1.1"]))
                    .insert_header(
                        "link",
                        r#"</v2/team/app/tags/list?last=1.1&n=1000>; rel="next""#,
                    ),
            )
            .mount(&server)
            .await;
        let r = registry(&server, client(vec![]));
        let list = r.releases("127.0.0.1/team/app").await.unwrap();
        let versions: Vec<_> = list.releases.iter().map(|r| r.version.as_str()).collect();
        assert_eq!(versions, ["1.0", "1.1", "2.0"]);
        assert_eq!(list.name, "127.0.0.1/team/app");
    }

    /// 401 with a Bearer challenge → token from the realm (with the configured basic
    /// credentials) → the request again with the token; the token is reused.
    #[tokio::test]
    async fn bearer_token_flow_with_basic_credentials() {
        let server = MockServer::start().await;
        let realm = format!("{}/token", server.uri());
        Mock::given(method("GET"))
            .and(path("/token"))
            .and(query_param("service", "reg"))
            .and(query_param("scope", "repository:team/app:pull"))
            .and(header("authorization", "Basic dTpw"))
            .respond_with(
                ResponseTemplate::new(200).set_body_json(serde_json::json!({"token": "T"})),
            )
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/v2/team/app/tags/list"))
            .and(header("authorization", "Bearer T"))
            .respond_with(ResponseTemplate::new(200).set_body_json(tags_json(&["1.0", "1.1"])))
            .mount(&server)
            .await;
        Mock::given(method("HEAD"))
            .and(path("/v2/team/app/manifests/1.1"))
            .and(header("authorization", "Bearer T"))
            .respond_with(ResponseTemplate::new(200).insert_header("docker-content-digest", D2))
            .mount(&server)
            .await;
        Mock::given(method("HEAD"))
            .and(path("/v2/team/app/manifests/1.0"))
            .and(header("authorization", "Bearer T"))
            .respond_with(ResponseTemplate::new(200).insert_header("docker-content-digest", D1))
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/v2/team/app/manifests/1.0"))
            .and(header("authorization", "Bearer T"))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"digest": "sha256:c", "size": 1},
                "layers": [],
            })))
            .mount(&server)
            .await;
        Mock::given(wiremock::matchers::any())
            .respond_with(ResponseTemplate::new(401).insert_header(
                "www-authenticate",
                format!(r#"Bearer realm="{realm}",service="reg",scope="repository:team/app:pull""#),
            ))
            .mount(&server)
            .await;
        let http = client(vec![Credential {
            url: Url::parse(&server.uri()).unwrap(),
            auth: Auth::Basic {
                username: "u".into(),
                password: Secret::new("p"),
            },
        }]);
        let r = registry(&server, http);
        let list = r
            .releases(&format!("127.0.0.1/team/app:1.0@{D1}"))
            .await
            .unwrap();
        let versions: Vec<_> = list.releases.iter().map(|r| r.version.as_str()).collect();
        // 1.0 still at its pinned digest: listed bare; 1.1 with its digest.
        assert_eq!(versions, ["1.0".to_string(), format!("1.1@{D2}")]);
    }

    #[tokio::test]
    async fn statuses_become_clear_errors() {
        for (status, expect) in [
            (401, "refused access"),
            (404, "not found"),
            (429, "rate-limiting"),
            (
                500,
                "is unavailable, `127.0.0.1/team/app` was not looked up: HTTP 500 after retries",
            ),
            (418, "answered HTTP 418"),
        ] {
            let server = MockServer::start().await;
            let mut answer = ResponseTemplate::new(status);
            if status == 429 {
                answer = answer.insert_header("ratelimit-remaining", "0;w=21600");
            }
            Mock::given(method("GET"))
                .respond_with(answer)
                .mount(&server)
                .await;
            let r = registry(&server, client(vec![]));
            let e = r
                .releases("127.0.0.1/team/app")
                .await
                .unwrap_err()
                .to_string();
            assert!(e.contains(expect), "{status}: {e}");
            assert!(e.contains("team/app"), "{e}");
        }
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(401))
            .mount(&server)
            .await;
        let e = registry(&server, client(vec![]))
            .releases("127.0.0.1/team/app")
            .await
            .unwrap_err();
        assert!(
            matches!(e, RegistryError::Unauthorized { status: 401, .. }),
            "{e}"
        );
        // A spent pull limit explains a refusal.
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(403).insert_header("ratelimit-remaining", "0"))
            .mount(&server)
            .await;
        let e = registry(&server, client(vec![]))
            .releases("127.0.0.1/team/app")
            .await
            .unwrap_err();
        assert!(matches!(e, RegistryError::RateLimited { .. }), "{e}");
    }

    #[tokio::test]
    async fn garbage_is_malformed() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(200).set_body_string("<html>hello</html>"))
            .mount(&server)
            .await;
        let e = registry(&server, client(vec![]))
            .releases("127.0.0.1/team/app")
            .await
            .unwrap_err();
        assert!(matches!(e, RegistryError::Malformed { .. }), "{e}");
        assert!(e.to_string().contains("tag list"), "{e}");
        // An HTML page where the spec says JSON: named as such, not as a parse error.
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(
                ResponseTemplate::new(200).set_body_raw("<html>login</html>", "text/html"),
            )
            .mount(&server)
            .await;
        let e = registry(&server, client(vec![]))
            .releases("127.0.0.1/team/app")
            .await
            .unwrap_err();
        assert!(matches!(e, RegistryError::Malformed { .. }), "{e}");
        assert!(
            e.to_string()
                .contains("expected JSON, got `text/html` from"),
            "{e}"
        );
    }

    /// A registry that ignores `n=` and sends 10,000 tags at once.
    #[tokio::test]
    async fn ten_thousand_tags() {
        let server = MockServer::start().await;
        let tags: Vec<String> = (0..10_000)
            .map(|i| format!("1.{}.{}", i / 100, i % 100))
            .collect();
        Mock::given(method("GET"))
            .respond_with(
                ResponseTemplate::new(200).set_body_json(serde_json::json!({"tags": tags})),
            )
            .mount(&server)
            .await;
        let list = registry(&server, client(vec![]))
            .releases("127.0.0.1/team/app")
            .await
            .unwrap();
        assert_eq!(list.releases.len(), 10_000);
    }

    /// A registry whose `Link` points back at the same page is not followed forever.
    #[tokio::test]
    async fn link_loops_stop() {
        struct Same;
        impl Respond for Same {
            fn respond(&self, _: &WireRequest) -> ResponseTemplate {
                ResponseTemplate::new(200)
                    .set_body_json(serde_json::json!({"tags": ["1.0"]}))
                    .insert_header("link", r#"</v2/team/app/tags/list?n=1000>; rel="next""#)
            }
        }
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(Same)
            .mount(&server)
            .await;
        let list = registry(&server, client(vec![]))
            .releases("127.0.0.1/team/app")
            .await
            .unwrap();
        assert_eq!(list.releases.len(), 1);
    }

    /// Credentials never follow a `Link` to another host.
    #[tokio::test]
    async fn links_to_other_hosts_are_refused() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(serde_json::json!({"tags": ["1.0"]}))
                    .insert_header("link", r#"<http://elsewhere.invalid/v2/x?n=1>; rel="next""#),
            )
            .mount(&server)
            .await;
        let e = registry(&server, client(vec![]))
            .releases("127.0.0.1/team/app")
            .await
            .unwrap_err();
        assert!(e.to_string().contains("another host"), "{e}");
    }

    #[test]
    fn lookups_know_the_tag_in_use() {
        let l = lookup_of("127.0.0.1:5000/team/app:1.0").unwrap();
        assert_eq!(
            (l.path.as_str(), l.tag.as_deref()),
            ("team/app", Some("1.0"))
        );
        let l = lookup_of("127.0.0.1:5000/team/app").unwrap();
        assert_eq!((l.path.as_str(), l.tag), ("team/app", None));
        let l = lookup_of(&format!("127.0.0.1:5000/team/app:1.0@{D1}")).unwrap();
        assert_eq!(l.tag.as_deref(), Some("1.0"));
        assert_eq!(l.repository, "127.0.0.1:5000/team/app");
        assert_eq!(l.pinned, Some(("1.0".to_string(), D1.to_string())));
        // To be pinned: the digests are asked for, the current one included.
        let l = lookup_of("127.0.0.1:5000/team/app:1.0@").unwrap();
        assert_eq!(l.tag.as_deref(), Some("1.0"));
        assert_eq!(l.pinned, Some(("1.0".to_string(), String::new())));
        assert!(lookup_of("docker.io/library/nginx@").is_err());
    }

    #[test]
    fn digest_candidates_are_bounded_and_compatible() {
        let tags: Vec<String> = (0..30)
            .map(|i| format!("1.{i}.0"))
            .chain(["1.5.0-alpine".into(), "2.0.0-rc1".into(), "latest".into()])
            .collect();
        let c = digest_candidates("1.5.0", &tags);
        assert_eq!(c.len(), DIGEST_LOOKUPS + 1);
        assert_eq!(c[0], "1.29.0");
        assert_eq!(c.last().unwrap(), "1.5.0");
        assert_eq!(digest_candidates("latest", &tags), ["latest"]);
    }
}

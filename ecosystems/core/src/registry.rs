//! The registry contract: what releases a package has.

use crate::http::HttpError;
use async_trait::async_trait;
use serde::Serialize;
use std::collections::BTreeMap;
use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RegistryError {
    #[error("package `{package}` not found at {registry}")]
    NotFound { package: String, registry: String },
    #[error("{registry} refused access to `{package}` (HTTP {status}); check the credentials configured for this registry")]
    Unauthorized {
        package: String,
        registry: String,
        status: u16,
    },
    #[error("{registry} answered HTTP {status} for `{package}`")]
    Status {
        package: String,
        registry: String,
        status: u16,
    },
    #[error("{registry} gave a malformed answer for `{package}`: {detail}")]
    Malformed {
        package: String,
        registry: String,
        detail: String,
    },
    #[error("could not reach {registry} for `{package}`: {detail}")]
    Network {
        package: String,
        registry: String,
        detail: String,
    },
    #[error("invalid registry URL `{url}`: {detail}")]
    InvalidUrl { url: String, detail: String },
    /// The registry could not be asked: it refused connections, did not answer in time, kept
    /// answering 5xx after retries, or its circuit is open after too many such failures.
    #[error("{registry} is unavailable, `{package}` was not looked up: {detail}")]
    Unavailable {
        package: String,
        registry: String,
        detail: String,
    },
    /// The registry refuses more requests for now (Docker Hub's pull limits, HTTP 429).
    #[error("{registry} is rate-limiting requests for `{package}` ({detail}); it is retried on the next run")]
    RateLimited {
        package: String,
        registry: String,
        detail: String,
    },
}

impl RegistryError {
    /// A failed request for `package` at `registry`: [`RegistryError::Unavailable`] when the
    /// host is down (see [`HttpError::is_unavailable`]), a malformed answer for a wrong content
    /// type, else a network error.
    pub fn from_http(package: &str, registry: &str, error: HttpError) -> Self {
        let (package, registry) = (package.to_string(), registry.to_string());
        if error.is_unavailable() {
            let detail = match error {
                HttpError::CircuitOpen { .. } => error.to_string(),
                // The registry is already named; keep the cause.
                HttpError::Connect { detail, .. } => format!("cannot connect ({detail})"),
                other => other.to_string(),
            };
            return RegistryError::Unavailable {
                package,
                registry,
                detail,
            };
        }
        match error {
            HttpError::ContentType { .. } => RegistryError::Malformed {
                package,
                registry,
                detail: error.to_string(),
            },
            other => RegistryError::Network {
                package,
                registry,
                detail: other.to_string(),
            },
        }
    }

    /// A non-success status for `package` once retries are spent: 404/410 not found, 401/403
    /// refused, 5xx unavailable, anything else as it is.
    pub fn from_status(package: &str, registry: &str, status: u16) -> Self {
        let (package, registry) = (package.to_string(), registry.to_string());
        match status {
            404 | 410 => RegistryError::NotFound { package, registry },
            401 | 403 => RegistryError::Unauthorized {
                package,
                registry,
                status,
            },
            500..=599 => RegistryError::Unavailable {
                package,
                registry,
                detail: format!("HTTP {status} after retries"),
            },
            _ => RegistryError::Status {
                package,
                registry,
                status,
            },
        }
    }

    /// The registry could not be asked at all (its packages are skipped as
    /// `registry-unavailable`, not failed).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, RegistryError::Unavailable { .. })
    }
}

/// One file of a release (a wheel, an sdist, a tarball) with its hashes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ReleaseFile {
    pub filename: String,
    pub url: String,
    /// Hash algorithm (`sha256`) → hex digest.
    pub hashes: BTreeMap<String, String>,
}

/// One published version of a package.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Release {
    pub version: String,
    /// Withdrawn by its publisher (PEP 592 yanked, npm deprecated): never proposed.
    pub yanked: bool,
    /// The publisher's reason, if given.
    pub yanked_reason: Option<String>,
    /// Upload time, RFC 3339, when the registry says.
    pub released_at: Option<String>,
    /// Why the registry found this release unfit to propose (a container tag that does not
    /// cover the platforms of the one in use): never proposed, and the reason is shown.
    pub unfit: Option<String>,
    /// What the release needs from its environment: `python` → `>=3.8`.
    pub constraints: BTreeMap<String, String>,
    pub files: Vec<ReleaseFile>,
    /// The registry's own record of this version, for lockfile updaters that need more than
    /// the fields above (npm: dependencies, bin, engines, os, cpu …). Opaque to the core.
    #[serde(skip)]
    pub metadata: Option<std::sync::Arc<serde_json::Value>>,
}

impl Release {
    pub fn new(version: impl Into<String>) -> Self {
        Release {
            version: version.into(),
            yanked: false,
            yanked_reason: None,
            released_at: None,
            unfit: None,
            constraints: BTreeMap::new(),
            files: Vec::new(),
            metadata: None,
        }
    }
}

/// Everything a registry knows about a package that matters to updates.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ReleaseList {
    /// The package name as the registry spells it.
    pub name: String,
    /// Releases in no particular order.
    pub releases: Vec<Release>,
    /// Source repository, homepage and changelog links, when known.
    pub source_url: Option<String>,
    pub homepage: Option<String>,
    pub changelog_url: Option<String>,
    /// Where the answer came from (the registry's base URL, no credentials).
    pub registry_url: String,
    /// Named pointers to versions (npm dist-tags: `latest` → `4.3.7`).
    pub tags: BTreeMap<String, String>,
}

impl ReleaseList {
    pub fn release(&self, version: &str) -> Option<&Release> {
        self.releases.iter().find(|r| r.version == version)
    }

    /// Merge another index's answer into this one (pip's `--extra-index-url` semantics:
    /// the union of versions; files of a version found in both are combined).
    pub fn merge(&mut self, other: ReleaseList) {
        for release in other.releases {
            match self
                .releases
                .iter_mut()
                .find(|r| r.version == release.version)
            {
                Some(existing) => {
                    for file in release.files {
                        if !existing.files.iter().any(|f| f.filename == file.filename) {
                            existing.files.push(file);
                        }
                    }
                    existing.yanked &= release.yanked;
                }
                None => self.releases.push(release),
            }
        }
        self.source_url = self.source_url.take().or(other.source_url);
        self.homepage = self.homepage.take().or(other.homepage);
        self.changelog_url = self.changelog_url.take().or(other.changelog_url);
        for (tag, version) in other.tags {
            self.tags.entry(tag).or_insert(version);
        }
    }
}

/// A client for one registry (one base URL).
#[async_trait]
pub trait Registry: Send + Sync {
    /// The registry's base URL, as reports show it (never with credentials).
    fn url(&self) -> &str;

    /// What tells this registry apart from others in the run-wide cache: the full base URL,
    /// credentials included (two indexes differing only in user info are different answers).
    /// Never shown. Defaults to [`Registry::url`].
    fn cache_key(&self) -> &str {
        self.url()
    }

    /// Every release of `package` (a name already normalised by the ecosystem).
    async fn releases(&self, package: &str) -> Result<ReleaseList, RegistryError>;
}

/// Lookups shared by a whole run: one request per (registry, package), however many
/// manifests and projects ask, and concurrent askers wait for the same answer.
#[derive(Default)]
pub struct LookupCache {
    entries: std::sync::Mutex<std::collections::HashMap<(String, String), SharedLookup>>,
    /// Lookups answered from the cache (or joined while in flight).
    hits: std::sync::atomic::AtomicU64,
}

type SharedLookup = futures::future::Shared<
    futures::future::BoxFuture<'static, Result<std::sync::Arc<ReleaseList>, RegistryError>>,
>;

impl LookupCache {
    pub fn new() -> Self {
        Self::default()
    }

    /// The releases of `package` at `registry`, fetched at most once per cache.
    pub async fn releases(
        &self,
        registry: std::sync::Arc<dyn Registry>,
        package: &str,
    ) -> Result<std::sync::Arc<ReleaseList>, RegistryError> {
        use futures::FutureExt;
        let key = (registry.cache_key().to_string(), package.to_string());
        let shared = {
            let mut entries = match self.entries.lock() {
                Ok(e) => e,
                Err(poisoned) => poisoned.into_inner(),
            };
            if let Some(found) = entries.get(&key) {
                self.hits.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                found.clone()
            } else {
                let package = package.to_string();
                let lookup =
                    async move { registry.releases(&package).await.map(std::sync::Arc::new) }
                        .boxed()
                        .shared();
                entries.insert(key, lookup.clone());
                lookup
            }
        };
        shared.await
    }

    /// How many distinct (registry, package) lookups were made.
    pub fn len(&self) -> usize {
        self.entries.lock().map(|e| e.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many lookups were answered without a request of their own.
    pub fn hits(&self) -> u64 {
        self.hits.load(std::sync::atomic::Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    struct Counting(AtomicUsize);

    #[async_trait]
    impl Registry for Counting {
        fn url(&self) -> &str {
            "https://index.example/simple/"
        }
        async fn releases(&self, package: &str) -> Result<ReleaseList, RegistryError> {
            self.0.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            Ok(ReleaseList {
                name: package.to_string(),
                ..ReleaseList::default()
            })
        }
    }

    #[tokio::test]
    async fn concurrent_lookups_of_one_package_make_one_request() {
        let registry = Arc::new(Counting(AtomicUsize::new(0)));
        let cache = LookupCache::new();
        let (a, b, c) = tokio::join!(
            cache.releases(registry.clone(), "requests"),
            cache.releases(registry.clone(), "requests"),
            cache.releases(registry.clone(), "six"),
        );
        assert_eq!(a.unwrap().name, "requests");
        assert_eq!(b.unwrap().name, "requests");
        assert_eq!(c.unwrap().name, "six");
        assert_eq!(registry.0.load(Ordering::SeqCst), 2);
        assert_eq!(cache.len(), 2);
        assert_eq!(cache.hits(), 1);
    }

    #[test]
    fn merge_unions_versions_and_files() {
        let mut a = ReleaseList::default();
        let mut r1 = Release::new("1.0");
        r1.files.push(ReleaseFile {
            filename: "x-1.0.tar.gz".into(),
            url: "u".into(),
            hashes: Default::default(),
        });
        a.releases.push(r1.clone());
        let mut b = ReleaseList::default();
        let mut r1b = Release::new("1.0");
        r1b.files.push(ReleaseFile {
            filename: "x-1.0-py3-none-any.whl".into(),
            url: "v".into(),
            hashes: Default::default(),
        });
        b.releases.push(r1b);
        b.releases.push(Release::new("2.0"));
        a.merge(b);
        assert_eq!(a.releases.len(), 2);
        assert_eq!(a.release("1.0").unwrap().files.len(), 2);
    }
}

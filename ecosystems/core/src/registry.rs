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
    /// The registry answered with its smaller document for deciding updates (npm's
    /// abbreviated packument): versions, tags, deprecations and dist are there, but not what
    /// only the full document has (licenses, the repository, perhaps publish times). See
    /// [`Registry::brief_releases`].
    #[serde(skip)]
    pub abbreviated: bool,
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
        self.abbreviated |= other.abbreviated;
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

    /// Every release of `package` (a name already normalised by the ecosystem), from the
    /// registry's full document.
    async fn releases(&self, package: &str) -> Result<ReleaseList, RegistryError>;

    /// The releases of `package` as far as deciding an update needs them (versions, tags,
    /// deprecations, dist): a registry with a smaller document for that asks for it and marks
    /// the answer [`ReleaseList::abbreviated`] when it got one. Default: [`Registry::releases`].
    async fn brief_releases(&self, package: &str) -> Result<ReleaseList, RegistryError> {
        self.releases(package).await
    }
}

/// How much of a package's document a lookup needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Detail {
    /// Enough to decide updates ([`Registry::brief_releases`]).
    Brief,
    /// Everything ([`Registry::releases`]): lock entries, links, publish times.
    Full,
}

/// Lookups shared by a whole run: one request per (registry, package, document), however many
/// manifests and projects ask, and concurrent askers wait for the same answer. A brief lookup
/// is answered by a full document already asked for; a full lookup by a brief one only when
/// the registry answered it with its full document (never with an abbreviated one).
#[derive(Default)]
pub struct LookupCache {
    entries: std::sync::Mutex<std::collections::HashMap<(String, String), Slots>>,
    /// Lookups answered from the cache (or joined while in flight).
    hits: std::sync::atomic::AtomicU64,
}

type SharedLookup = futures::future::Shared<
    futures::future::BoxFuture<'static, Result<std::sync::Arc<ReleaseList>, RegistryError>>,
>;

/// The documents of one (registry, package) asked for so far.
#[derive(Default)]
struct Slots {
    brief: Option<SharedLookup>,
    full: Option<SharedLookup>,
}

impl LookupCache {
    pub fn new() -> Self {
        Self::default()
    }

    fn entries(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<(String, String), Slots>> {
        match self.entries.lock() {
            Ok(e) => e,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    fn hit(&self) {
        self.hits.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// The full releases of `package` at `registry` ([`Registry::releases`]), fetched at most
    /// once per cache.
    pub async fn releases(
        &self,
        registry: std::sync::Arc<dyn Registry>,
        package: &str,
    ) -> Result<std::sync::Arc<ReleaseList>, RegistryError> {
        self.lookup(registry, package, Detail::Full).await
    }

    /// The releases of `package` at `registry` with at least `detail`, fetched at most once
    /// per document.
    pub async fn lookup(
        &self,
        registry: std::sync::Arc<dyn Registry>,
        package: &str,
        detail: Detail,
    ) -> Result<std::sync::Arc<ReleaseList>, RegistryError> {
        use futures::FutureExt;
        let key = (registry.cache_key().to_string(), package.to_string());
        let fetch = |registry: std::sync::Arc<dyn Registry>, detail: Detail| -> SharedLookup {
            let package = package.to_string();
            async move {
                match detail {
                    Detail::Brief => registry.brief_releases(&package).await,
                    Detail::Full => registry.releases(&package).await,
                }
                .map(std::sync::Arc::new)
            }
            .boxed()
            .shared()
        };
        // What to wait for, chosen under the lock and awaited after it is released.
        enum Wait {
            Ready(SharedLookup),
            AfterBrief(SharedLookup),
        }
        let wait = {
            let mut entries = self.entries();
            let slots = entries.entry(key.clone()).or_default();
            match (&slots.full, &slots.brief, detail) {
                (Some(full), _, _) => {
                    self.hit();
                    Wait::Ready(full.clone())
                }
                (None, Some(brief), Detail::Brief) => {
                    self.hit();
                    Wait::Ready(brief.clone())
                }
                (None, None, Detail::Brief) => {
                    let lookup = fetch(registry.clone(), Detail::Brief);
                    slots.brief = Some(lookup.clone());
                    Wait::Ready(lookup)
                }
                (None, None, Detail::Full) => {
                    let lookup = fetch(registry.clone(), Detail::Full);
                    slots.full = Some(lookup.clone());
                    Wait::Ready(lookup)
                }
                (None, Some(brief), Detail::Full) => Wait::AfterBrief(brief.clone()),
            }
        };
        let brief = match wait {
            Wait::Ready(lookup) => return lookup.await,
            Wait::AfterBrief(brief) => brief,
        };
        // A full lookup after a brief one: the brief answer does when it is complete (the
        // registry gave its full document) or an error (asking again would not change it).
        let answer = brief.await;
        let lookup = {
            let mut entries = self.entries();
            let slots = entries.entry(key).or_default();
            match &slots.full {
                Some(full) => {
                    self.hit();
                    full.clone()
                }
                None if answer.as_ref().map_or(true, |list| !list.abbreviated) => {
                    self.hit();
                    return answer;
                }
                None => {
                    let lookup = fetch(registry, Detail::Full);
                    slots.full = Some(lookup.clone());
                    lookup
                }
            }
        };
        lookup.await
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

    /// Counts full and brief requests; its brief answers are abbreviated unless `complete`.
    struct TwoDocuments {
        full: AtomicUsize,
        brief: AtomicUsize,
        complete: bool,
    }

    impl TwoDocuments {
        fn new(complete: bool) -> Arc<Self> {
            Arc::new(TwoDocuments {
                full: AtomicUsize::new(0),
                brief: AtomicUsize::new(0),
                complete,
            })
        }
        fn counts(&self) -> (usize, usize) {
            (
                self.brief.load(Ordering::SeqCst),
                self.full.load(Ordering::SeqCst),
            )
        }
    }

    #[async_trait]
    impl Registry for TwoDocuments {
        fn url(&self) -> &str {
            "https://registry.example/"
        }
        async fn releases(&self, package: &str) -> Result<ReleaseList, RegistryError> {
            self.full.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            Ok(ReleaseList {
                name: package.to_string(),
                source_url: Some("https://example.org/src".into()),
                ..ReleaseList::default()
            })
        }
        async fn brief_releases(&self, package: &str) -> Result<ReleaseList, RegistryError> {
            self.brief.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            Ok(ReleaseList {
                name: package.to_string(),
                abbreviated: !self.complete,
                ..ReleaseList::default()
            })
        }
    }

    #[tokio::test]
    async fn a_full_lookup_is_never_answered_by_an_abbreviated_document() {
        let registry = TwoDocuments::new(false);
        let cache = LookupCache::new();
        let (a, b) = tokio::join!(
            cache.lookup(registry.clone(), "ms", Detail::Brief),
            cache.lookup(registry.clone(), "ms", Detail::Brief),
        );
        assert!(a.unwrap().abbreviated && b.unwrap().abbreviated);
        assert_eq!(registry.counts(), (1, 0));
        // The consumer that needs the full document gets it, with one request of its own,
        // however many ask at once.
        let (c, d) = tokio::join!(
            cache.releases(registry.clone(), "ms"),
            cache.lookup(registry.clone(), "ms", Detail::Full),
        );
        let (c, d) = (c.unwrap(), d.unwrap());
        assert!(!c.abbreviated && !d.abbreviated);
        assert_eq!(c.source_url.as_deref(), Some("https://example.org/src"));
        assert_eq!(registry.counts(), (1, 1));
        // From now on the full document answers brief lookups too.
        let e = cache
            .lookup(registry.clone(), "ms", Detail::Brief)
            .await
            .unwrap();
        assert!(!e.abbreviated);
        assert_eq!(registry.counts(), (1, 1));
        assert_eq!(cache.len(), 1);
    }

    #[tokio::test]
    async fn a_full_document_answers_every_later_lookup() {
        // Asked for in full first: a brief lookup makes no request.
        let registry = TwoDocuments::new(false);
        let cache = LookupCache::new();
        cache.releases(registry.clone(), "debug").await.unwrap();
        let brief = cache
            .lookup(registry.clone(), "debug", Detail::Brief)
            .await
            .unwrap();
        assert!(!brief.abbreviated);
        assert_eq!(registry.counts(), (0, 1));
        // A registry that answers a brief request with its full document: one request for
        // both kinds of consumer.
        let registry = TwoDocuments::new(true);
        let cache = LookupCache::new();
        cache
            .lookup(registry.clone(), "debug", Detail::Brief)
            .await
            .unwrap();
        let full = cache.releases(registry.clone(), "debug").await.unwrap();
        assert!(!full.abbreviated);
        assert_eq!(registry.counts(), (1, 0));
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

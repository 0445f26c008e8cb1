//! The one HTTP client every registry and the GitLab forge use: connect and overall timeouts,
//! retries with exponential backoff and full jitter (honouring `Retry-After` and rate-limit
//! headers) within a bounded total wait, a concurrency limit and a circuit breaker per host,
//! bounded bodies, content types checked, and credentials sent only to the origin they were
//! configured for, redirects included.

mod disk;
mod host;
mod request;
mod retry;
#[cfg(test)]
mod tests;
mod transfer;

pub use host::{Clock, HostStats, Purpose, SystemClock};
pub use request::{Authorization, Expect, Method, Request, Response};
pub use transfer::MAX_REDIRECTS;

use host::{CircuitPolicy, Host};
use retry::Verdict;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use thiserror::Error;
use url::Url;

/// A secret value (token, password). Never printed: `Debug` and `Display` show `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself. Call only where it is sent to its own host.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// How to authenticate to a server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Auth {
    Basic { username: String, password: Secret },
    Bearer(Secret),
}

/// Credentials for every URL of one origin (scheme, host, port).
#[derive(Clone, Debug)]
pub struct Credential {
    pub url: Url,
    pub auth: Auth,
}

/// Body limits for [`Request::limit`].
pub const MIB: usize = 1024 * 1024;
/// What a registry answer may weigh unless the call says otherwise.
pub const DEFAULT_MAX_BODY: usize = 16 * MIB;
/// For the big documents: npm packuments, PyPI project pages, GitLab files.
pub const LARGE_BODY: usize = 64 * MIB;

#[derive(Debug, Error)]
pub enum HttpError {
    #[error("invalid URL `{url}`: {detail}")]
    InvalidUrl { url: String, detail: String },
    #[error("cannot connect to {url}: {detail}")]
    Connect { url: String, detail: String },
    #[error("{url}: no complete answer within {seconds} s")]
    Timeout { url: String, seconds: u64 },
    #[error("{url}: {detail}")]
    Transport { url: String, detail: String },
    #[error("{url}: redirected {detail}")]
    Redirect { url: String, detail: String },
    #[error("{url}: the answer is larger than {limit} bytes")]
    TooLarge { url: String, limit: usize },
    #[error("expected {expected}, got `{got}` from {url}")]
    ContentType {
        url: String,
        expected: &'static str,
        got: String,
    },
    /// The host failed too often in a row; it is not asked for a while.
    #[error("`{host}` is unavailable: {failures} requests in a row failed (last: {last}); not asked again for {cool_off} s")]
    CircuitOpen {
        host: String,
        failures: u32,
        last: String,
        cool_off: u64,
    },
}

impl HttpError {
    /// The host could not be reached or kept failing: connection refused or failed, no
    /// answer in time, or its circuit is open.
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            HttpError::Connect { .. } | HttpError::Timeout { .. } | HttpError::CircuitOpen { .. }
        )
    }
}

/// Client settings.
#[derive(Clone, Debug)]
pub struct HttpOptions {
    /// The whole exchange: connecting, sending, and reading the answer to its end.
    pub timeout: Duration,
    pub connect_timeout: Duration,
    /// Retries after the first attempt (see [`HttpClient::send`] for which failures).
    pub retries: u32,
    /// Backoff ceiling of the first retry; doubles each retry, capped at `max_backoff`; the
    /// wait is uniform below it (full jitter).
    pub backoff: Duration,
    pub max_backoff: Duration,
    /// Total time one request may spend waiting between attempts (backoffs, `Retry-After`,
    /// rate-limit pauses). A server asking for more is not waited for.
    pub max_wait: Duration,
    /// Largest answer body read, in bytes, unless the request names its own limit.
    pub max_body: usize,
    /// Requests in flight at once to one host.
    pub per_host: usize,
    /// Failed requests in a row (after their retries) that open a host's circuit; 0: never.
    pub circuit_failures: u32,
    /// How long an open circuit refuses requests before one may probe the host again.
    pub circuit_open_for: Duration,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            retries: 3,
            backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(10),
            max_wait: Duration::from_secs(60),
            max_body: DEFAULT_MAX_BODY,
            per_host: 8,
            circuit_failures: 5,
            circuit_open_for: Duration::from_secs(300),
        }
    }
}

/// The client. Cloning it is cheap, and clones share everything: the connection pool, the
/// per-host slots, circuits and rate-limit pauses, and the counters.
#[derive(Clone)]
pub struct HttpClient {
    /// For `http://` URLs: built without TLS roots, so a run against plain-HTTP registries
    /// (loopback mirrors) never reads the system's CA store.
    plain: reqwest::Client,
    /// For `https://` URLs: built on the first one (reading the CA store then), shared.
    tls: Arc<std::sync::OnceLock<Result<reqwest::Client, String>>>,
    credentials: Arc<Vec<Credential>>,
    options: HttpOptions,
    hosts: Arc<Mutex<HashMap<String, Arc<Host>>>>,
    clock: Arc<dyn Clock>,
    rng: Arc<Mutex<fastrand::Rng>>,
    /// Answers kept across runs and revalidated (`http.cache-dir`), if configured.
    disk: Option<Arc<disk::DiskCache>>,
}

impl fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpClient")
            .field("credentials", &self.credentials.len())
            .field("options", &self.options)
            .finish()
    }
}

fn origin(url: &Url) -> (String, String, Option<u16>) {
    (
        url.scheme().to_string(),
        url.host_str().unwrap_or_default().to_ascii_lowercase(),
        url.port_or_known_default(),
    )
}

/// `host:port`, the key of the per-host state (two registries on one machine's ports are
/// two hosts).
fn authority(url: &Url) -> String {
    let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
    match url.port_or_known_default() {
        Some(port) => format!("{host}:{port}"),
        None => host,
    }
}

/// What both reqwest clients share: timeouts, no redirects of their own, the idle pool.
fn client_builder(options: &HttpOptions) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .timeout(options.timeout)
        .connect_timeout(options.connect_timeout)
        // Redirects are followed by `exchange`, which decides per hop what credential goes
        // along; reqwest's own policy would forward custom headers (PRIVATE-TOKEN).
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(options.per_host)
}

impl HttpClient {
    pub fn new(options: HttpOptions, credentials: Vec<Credential>) -> Result<Self, HttpError> {
        let plain = client_builder(&options)
            .tls_certs_only(std::iter::empty())
            .build()
            .map_err(|e| HttpError::Transport {
                url: String::new(),
                detail: e.to_string(),
            })?;
        Ok(HttpClient {
            plain,
            tls: Arc::new(std::sync::OnceLock::new()),
            credentials: Arc::new(credentials),
            options,
            hosts: Arc::new(Mutex::new(HashMap::new())),
            clock: Arc::new(SystemClock::new()),
            rng: Arc::new(Mutex::new(fastrand::Rng::new())),
            disk: None,
        })
    }

    /// The reqwest client for `url`: the plain one for `http://`, else the TLS one (built on
    /// first use).
    pub(crate) fn client_for(&self, url: &Url) -> Result<&reqwest::Client, HttpError> {
        if url.scheme() == "http" {
            return Ok(&self.plain);
        }
        self.tls
            .get_or_init(|| {
                client_builder(&self.options)
                    .build()
                    .map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(|detail| HttpError::Transport {
                url: redact(url),
                detail: detail.clone(),
            })
    }

    /// The same client keeping registry answers in `dir` across runs: each is stored with
    /// its `ETag` / `Last-Modified`, and asked for again with `If-None-Match` /
    /// `If-Modified-Since`; a `304 Not Modified` is answered from the stored copy (counted
    /// in [`HostStats::not_modified`]). Nothing is used without the server's confirmation.
    pub fn with_disk_cache(mut self, dir: &std::path::Path) -> std::io::Result<Self> {
        self.disk = Some(Arc::new(disk::DiskCache::open(dir)?));
        Ok(self)
    }

    /// The same client reading the time and waiting through `clock` (tests).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The same client with a seeded jitter (reproducible waits in tests).
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.rng = Arc::new(Mutex::new(fastrand::Rng::with_seed(seed)));
        self
    }

    pub fn options(&self) -> &HttpOptions {
        &self.options
    }

    /// The credential configured for `url`'s origin, if any.
    pub fn credential_for(&self, url: &Url) -> Option<&Auth> {
        let wanted = origin(url);
        self.credentials
            .iter()
            .find(|c| origin(&c.url) == wanted)
            .map(|c| &c.auth)
    }

    /// Registry requests and retries per host (`host:port`) so far.
    pub fn stats(&self) -> HashMap<String, HostStats> {
        self.stats_for(Purpose::Registry)
    }

    /// Requests of one purpose per host so far (hosts with none left out).
    pub fn stats_for(&self, purpose: Purpose) -> HashMap<String, HostStats> {
        let hosts = match self.hosts.lock() {
            Ok(h) => h.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        hosts
            .into_iter()
            .map(|(name, host)| (name, host.stats(purpose)))
            .filter(|(_, s)| *s != HostStats::default())
            .collect()
    }

    fn host(&self, key: &str) -> Arc<Host> {
        let mut hosts = match self.hosts.lock() {
            Ok(h) => h,
            Err(poisoned) => poisoned.into_inner(),
        };
        hosts
            .entry(key.to_string())
            .or_insert_with(|| Arc::new(Host::new(self.options.per_host)))
            .clone()
    }

    fn policy(&self) -> CircuitPolicy {
        CircuitPolicy {
            failures: self.options.circuit_failures,
            open_for: self.options.circuit_open_for,
        }
    }

    fn jitter(&self, attempt: u32) -> Duration {
        let random = match self.rng.lock() {
            Ok(mut rng) => rng.u64(..),
            Err(poisoned) => poisoned.into_inner().u64(..),
        };
        retry::full_jitter(
            self.options.backoff,
            self.options.max_backoff,
            attempt,
            random,
        )
    }

    /// `GET url` with `Accept: accept` and the credential configured for its origin.
    pub async fn get(&self, url: &Url, accept: &str) -> Result<Response, HttpError> {
        self.send(Request::get(url, accept)).await
    }

    /// Sends a request and reads its answer.
    ///
    /// Waits for one of the host's slots, and fails at once with
    /// [`HttpError::CircuitOpen`] while the host's circuit is open. Reads are retried on
    /// connect errors, timeouts, broken answers, 5xx and 429; writes only on connect errors
    /// and 429 (see `retry::verdict`). Between attempts it waits what the server asked for
    /// (`Retry-After`, `RateLimit-Reset`) or a jittered exponential backoff, never more than
    /// [`HttpOptions::max_wait`] in all. Non-2xx statuses are returned, not turned into
    /// errors, once retries are spent.
    pub async fn send(&self, request: Request<'_>) -> Result<Response, HttpError> {
        let Some(disk) = self
            .disk
            .as_ref()
            .filter(|_| disk::DiskCache::admits(&request))
        else {
            return self.send_now(request).await;
        };
        let credential = match (&request.authorization, self.credential_for(request.url)) {
            (Authorization::Configured, Some(auth)) => cache_identity(auth),
            _ => String::new(),
        };
        let entry = disk.load(&request, &credential);
        let mut conditional = request.clone();
        for (name, value) in entry.iter().flat_map(disk::Entry::conditions) {
            conditional.headers.insert(name, value);
        }
        let response = self.send_now(conditional).await?;
        match entry {
            Some(entry) if response.status == 304 => {
                self.host(&authority(request.url))
                    .count_not_modified(request.purpose);
                tracing::trace!(url = %redact(request.url), "not modified: the stored answer");
                Ok(entry.into_response())
            }
            entry => {
                if response.is_success() {
                    disk.store(&request, &credential, &response);
                } else if let (Some(entry), 404 | 410) = (entry, response.status) {
                    disk.forget(entry);
                }
                Ok(response)
            }
        }
    }

    /// [`HttpClient::send`] without the disk cache.
    async fn send_now(&self, request: Request<'_>) -> Result<Response, HttpError> {
        let key = authority(request.url);
        let host = self.host(&key);
        let open = |e: host::Open| HttpError::CircuitOpen {
            host: key.clone(),
            failures: e.failures,
            last: e.last,
            cool_off: self.options.circuit_open_for.as_secs(),
        };
        // Refuse before queueing for a slot, and again once one is free.
        drop(
            host.admit(self.clock.now(), request.purpose)
                .map_err(open)?,
        );
        let _slot = host
            .slots
            .acquire()
            .await
            .map_err(|e| HttpError::Transport {
                url: redact(request.url),
                detail: e.to_string(),
            })?;
        let mut waited = Duration::ZERO;
        let mut attempt = 0u32;
        loop {
            let ticket = host
                .admit(self.clock.now(), request.purpose)
                .map_err(open)?;
            if let Some(pause) = host.pause(self.clock.now()) {
                let pause = pause.min(self.options.max_wait.saturating_sub(waited));
                tracing::debug!(host = %key, ?pause, "waiting for the host's rate limit");
                self.clock.sleep(pause).await;
                waited = waited.saturating_add(pause);
            }
            host.count(request.purpose, attempt > 0);
            tracing::trace!(?request, attempt, "sending");
            let outcome = self.exchange(&request).await;
            match &outcome {
                Ok(r) => tracing::trace!(
                    url = %redact(&r.url),
                    status = r.status,
                    bytes = r.body.len(),
                    "answered"
                ),
                Err(e) => tracing::trace!(error = %e, "failed"),
            }
            let wall = self.clock.wall();
            if let Ok(response) = &outcome {
                if response.status != 429 && retry::budget_spent(&response.headers) {
                    if let Some(reset) = retry::rate_limit_reset(&response.headers, wall) {
                        host.pause_for(self.clock.now(), reset.min(self.options.max_wait));
                    }
                }
            }
            let delay = match retry::verdict(request.method, &outcome, wall) {
                Verdict::Retry(hint) if attempt < self.options.retries => {
                    Some(hint.unwrap_or_else(|| self.jitter(attempt)))
                }
                _ => None,
            };
            match delay {
                Some(delay) if waited.saturating_add(delay) <= self.options.max_wait => {
                    tracing::debug!(
                        method = request.method.as_str(),
                        url = %redact(request.url),
                        attempt = attempt + 1,
                        ?delay,
                        why = %why(&outcome),
                        "retrying"
                    );
                    // The slot is kept while waiting: a host that is struggling gets no more
                    // requests at once from us than usual.
                    drop(ticket);
                    self.clock.sleep(delay).await;
                    waited = waited.saturating_add(delay);
                    attempt += 1;
                }
                _ => {
                    let failed = match &outcome {
                        Ok(r) if r.status >= 500 => Some((true, format!("HTTP {}", r.status))),
                        Ok(_) => Some((false, String::new())),
                        Err(
                            e @ (HttpError::Connect { .. }
                            | HttpError::Timeout { .. }
                            | HttpError::Transport { .. }),
                        ) => Some((true, failure_detail(e))),
                        Err(HttpError::TooLarge { .. } | HttpError::ContentType { .. }) => {
                            Some((false, String::new()))
                        }
                        Err(_) => None,
                    };
                    if host.record(ticket, failed, self.clock.now(), self.policy()) {
                        tracing::warn!(
                            host = %key,
                            failures = self.options.circuit_failures,
                            cool_off = self.options.circuit_open_for.as_secs(),
                            "host unavailable: its requests fail at once until the cool-off ends"
                        );
                    }
                    return outcome;
                }
            }
        }
    }
}

/// What tells one credential's cached answers from another's (hashed into the file name,
/// never written).
fn cache_identity(auth: &Auth) -> String {
    match auth {
        Auth::Basic { username, password } => format!("basic:{username}:{}", password.expose()),
        Auth::Bearer(token) => format!("bearer:{}", token.expose()),
    }
}

fn why(outcome: &Result<Response, HttpError>) -> String {
    match outcome {
        Ok(r) => format!("HTTP {}", r.status),
        Err(e) => e.to_string(),
    }
}

/// A failure in a few words, for the circuit's message.
fn failure_detail(e: &HttpError) -> String {
    match e {
        HttpError::Connect { detail, .. } => format!("cannot connect: {detail}"),
        HttpError::Timeout { seconds, .. } => format!("no answer within {seconds} s"),
        HttpError::Transport { detail, .. } => detail.clone(),
        other => other.to_string(),
    }
}

fn basic_value(username: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64_encode(format!("{username}:{password}").as_bytes())
    )
}

/// Standard base64 with padding (RFC 4648), enough for a Basic header.
pub fn base64_encode(input: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        out.push(TABLE[(n >> 18) as usize & 63] as char);
        out.push(TABLE[(n >> 12) as usize & 63] as char);
        out.push(if chunk.len() > 1 {
            TABLE[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        out.push(if chunk.len() > 2 {
            TABLE[n as usize & 63] as char
        } else {
            '='
        });
    }
    out
}

/// The URL without user info or query, for messages and reports.
pub fn redact(url: &Url) -> String {
    let mut clean = url.clone();
    let _ = clean.set_username("");
    let _ = clean.set_password(None);
    clean.set_query(None);
    clean.to_string()
}

//! The one HTTP client every registry uses: timeouts, retries with backoff, bounded bodies,
//! per-host concurrency, and credentials sent only to the origin they were configured for.

use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, AUTHORIZATION, RETRY_AFTER, USER_AGENT};
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use thiserror::Error;
use tokio::sync::Semaphore;
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

/// How to authenticate to a registry.
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

#[derive(Debug, Error)]
pub enum HttpError {
    #[error("invalid URL `{url}`: {detail}")]
    InvalidUrl { url: String, detail: String },
    #[error("{url}: {detail}")]
    Transport { url: String, detail: String },
    #[error("{url}: the answer is larger than {limit} bytes")]
    TooLarge { url: String, limit: usize },
}

/// Client settings.
#[derive(Clone, Debug)]
pub struct HttpOptions {
    pub timeout: Duration,
    pub connect_timeout: Duration,
    /// Retries after the first attempt, for connect errors, timeouts, 5xx and 429.
    pub retries: u32,
    /// First backoff; doubles each retry, with jitter, capped at `max_backoff`.
    pub backoff: Duration,
    pub max_backoff: Duration,
    /// Largest answer body read, in bytes.
    pub max_body: usize,
    /// Requests in flight at once to one host.
    pub per_host: usize,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            retries: 3,
            backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(10),
            max_body: 64 * 1024 * 1024,
            per_host: 8,
        }
    }
}

/// The HTTP methods the registries need.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
}

/// Which `Authorization` a request carries.
#[derive(Clone, Debug)]
pub enum Authorization {
    /// The credential configured for the URL's origin, if any (what [`HttpClient::get`] does).
    Configured,
    /// None at all.
    Anonymous,
    /// This one (a token obtained for this origin, or the origin's own credential handed to
    /// the token service it named).
    Use(Auth),
}

/// One request for [`HttpClient::send`].
#[derive(Clone, Debug)]
pub struct Request<'a> {
    pub method: Method,
    pub url: &'a Url,
    pub accept: &'a str,
    pub authorization: Authorization,
}

/// A response whose body has been read in full (within the limit).
#[derive(Clone, Debug)]
pub struct Response {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    /// The URL after redirects.
    pub url: Url,
}

impl Response {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Counters of what the client did, for the run report.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostStats {
    pub requests: u64,
    pub retries: u64,
}

pub struct HttpClient {
    client: reqwest::Client,
    credentials: Vec<Credential>,
    options: HttpOptions,
    hosts: Mutex<HashMap<String, Arc<Semaphore>>>,
    stats: Mutex<HashMap<String, HostStats>>,
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

impl HttpClient {
    pub fn new(options: HttpOptions, credentials: Vec<Credential>) -> Result<Self, HttpError> {
        let client = reqwest::Client::builder()
            .timeout(options.timeout)
            .connect_timeout(options.connect_timeout)
            .redirect(reqwest::redirect::Policy::limited(5))
            .pool_max_idle_per_host(options.per_host)
            .build()
            .map_err(|e| HttpError::Transport {
                url: String::new(),
                detail: e.to_string(),
            })?;
        Ok(HttpClient {
            client,
            credentials,
            options,
            hosts: Mutex::new(HashMap::new()),
            stats: Mutex::new(HashMap::new()),
        })
    }

    /// The credential configured for `url`'s origin, if any.
    pub fn credential_for(&self, url: &Url) -> Option<&Auth> {
        let wanted = origin(url);
        self.credentials
            .iter()
            .find(|c| origin(&c.url) == wanted)
            .map(|c| &c.auth)
    }

    /// Requests and retries per host so far.
    pub fn stats(&self) -> HashMap<String, HostStats> {
        self.stats.lock().map(|s| s.clone()).unwrap_or_default()
    }

    fn host_slot(&self, host: &str) -> Arc<Semaphore> {
        let mut hosts = match self.hosts.lock() {
            Ok(h) => h,
            Err(poisoned) => poisoned.into_inner(),
        };
        hosts
            .entry(host.to_string())
            .or_insert_with(|| Arc::new(Semaphore::new(self.options.per_host.max(1))))
            .clone()
    }

    fn count(&self, host: &str, retry: bool) {
        if let Ok(mut stats) = self.stats.lock() {
            let entry = stats.entry(host.to_string()).or_default();
            entry.requests += 1;
            if retry {
                entry.retries += 1;
            }
        }
    }

    /// `GET url` with `Accept: accept`; retries transient failures; reads the body in full.
    /// Non-2xx statuses are returned, not turned into errors, once retries are spent.
    pub async fn get(&self, url: &Url, accept: &str) -> Result<Response, HttpError> {
        self.send(Request {
            method: Method::Get,
            url,
            accept,
            authorization: Authorization::Configured,
        })
        .await
    }

    /// Like [`HttpClient::get`], with the method and the authorization chosen by the caller
    /// (a registry's token flow sends a token it obtained, or a configured credential to the
    /// token service the registry names).
    pub async fn send(&self, request: Request<'_>) -> Result<Response, HttpError> {
        let url = request.url;
        let host = url.host_str().unwrap_or_default().to_string();
        let slot = self.host_slot(&host);
        let _permit = slot.acquire().await.map_err(|e| HttpError::Transport {
            url: redact(url),
            detail: e.to_string(),
        })?;
        let mut attempt = 0u32;
        loop {
            self.count(&host, attempt > 0);
            let outcome = self.send_once(&request).await;
            let retry_after = match &outcome {
                Ok(resp) if resp.status == 429 || resp.status >= 500 => {
                    Some(retry_after(&resp.headers))
                }
                Err(HttpError::Transport { .. }) => Some(None),
                _ => None,
            };
            match retry_after {
                Some(hint) if attempt < self.options.retries => {
                    let delay = hint.unwrap_or_else(|| self.backoff(attempt));
                    tokio::time::sleep(delay.min(self.options.max_backoff)).await;
                    attempt += 1;
                }
                _ => return outcome,
            }
        }
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let base = self.options.backoff.saturating_mul(1u32 << attempt.min(16));
        // Jitter: up to half the delay again, from the clock's low bits (no RNG needed).
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let jitter = base.mul_f64(f64::from(nanos % 1000) / 2000.0);
        (base + jitter).min(self.options.max_backoff)
    }

    async fn send_once(&self, request: &Request<'_>) -> Result<Response, HttpError> {
        let (url, accept) = (request.url, request.accept);
        let mut headers = HeaderMap::new();
        headers.insert(
            USER_AGENT,
            HeaderValue::from_static(concat!("updatebot/", env!("CARGO_PKG_VERSION"))),
        );
        if let Ok(value) = HeaderValue::from_str(accept) {
            headers.insert(ACCEPT, value);
        }
        let builder = match request.method {
            Method::Get => self.client.get(url.clone()),
            Method::Head => self.client.head(url.clone()),
        };
        let auth = match &request.authorization {
            Authorization::Configured => self.credential_for(url),
            Authorization::Anonymous => None,
            Authorization::Use(auth) => Some(auth),
        };
        let mut request = builder.headers(headers);
        if let Some(auth) = auth {
            let mut value = match auth {
                Auth::Basic { username, password } => {
                    HeaderValue::from_str(&basic_value(username, password.expose()))
                }
                Auth::Bearer(token) => HeaderValue::from_str(&format!("Bearer {}", token.expose())),
            }
            .map_err(|_| HttpError::InvalidUrl {
                url: redact(url),
                detail: "credential contains characters not allowed in a header".into(),
            })?;
            value.set_sensitive(true);
            request = request.header(AUTHORIZATION, value);
        }
        let response = request.send().await.map_err(|e| HttpError::Transport {
            url: redact(url),
            detail: describe(&e),
        })?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let final_url = response.url().clone();
        if let Some(len) = response.content_length() {
            if len as usize > self.options.max_body {
                return Err(HttpError::TooLarge {
                    url: redact(url),
                    limit: self.options.max_body,
                });
            }
        }
        let mut body = Vec::new();
        let mut response = response;
        while let Some(chunk) = response.chunk().await.map_err(|e| HttpError::Transport {
            url: redact(url),
            detail: describe(&e),
        })? {
            if body.len() + chunk.len() > self.options.max_body {
                return Err(HttpError::TooLarge {
                    url: redact(url),
                    limit: self.options.max_body,
                });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Response {
            status,
            headers,
            body,
            url: final_url,
        })
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

fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}

fn describe(error: &reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "connection failed"
    } else if error.is_redirect() {
        "too many redirects"
    } else if error.is_body() || error.is_decode() {
        "the answer broke off"
    } else {
        "request failed"
    };
    // reqwest's own message may contain the URL; ours is already redacted, so keep only the
    // innermost cause.
    let mut cause: &dyn std::error::Error = error;
    while let Some(next) = cause.source() {
        cause = next;
    }
    format!("{kind} ({cause})")
}

/// The URL without user info or query, for messages and reports.
pub fn redact(url: &Url) -> String {
    let mut clean = url.clone();
    let _ = clean.set_username("");
    let _ = clean.set_password(None);
    clean.set_query(None);
    clean.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use wiremock::matchers::{header, header_exists, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    fn fast() -> HttpOptions {
        HttpOptions {
            backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(5),
            ..HttpOptions::default()
        }
    }

    #[test]
    fn base64_matches_rfc4648_vectors() {
        assert_eq!(base64_encode(b""), "");
        assert_eq!(base64_encode(b"f"), "Zg==");
        assert_eq!(base64_encode(b"fo"), "Zm8=");
        assert_eq!(base64_encode(b"foo"), "Zm9v");
        assert_eq!(base64_encode(b"foobar"), "Zm9vYmFy");
    }

    #[test]
    fn secrets_never_print() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s} {s:?}"), "*** ***");
    }

    #[tokio::test]
    async fn retries_a_500_then_succeeds() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/x"))
            .respond_with(ResponseTemplate::new(500))
            .up_to_n_times(2)
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/x"))
            .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
            .mount(&server)
            .await;
        let client = HttpClient::new(fast(), vec![]).unwrap();
        let url = Url::parse(&format!("{}/x", server.uri())).unwrap();
        let resp = client.get(&url, "*/*").await.unwrap();
        assert_eq!(resp.status, 200);
        assert_eq!(resp.body, b"ok");
        let stats = client.stats();
        assert_eq!(stats["127.0.0.1"].requests, 3);
        assert_eq!(stats["127.0.0.1"].retries, 2);
    }

    #[tokio::test]
    async fn gives_up_after_the_retry_budget() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(503))
            .expect(4)
            .mount(&server)
            .await;
        let client = HttpClient::new(fast(), vec![]).unwrap();
        let url = Url::parse(&format!("{}/x", server.uri())).unwrap();
        assert_eq!(client.get(&url, "*/*").await.unwrap().status, 503);
    }

    #[tokio::test]
    async fn credentials_go_only_to_their_origin() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/private"))
            .and(header("authorization", "Basic dXNlcjpzM2NyZXQ="))
            .respond_with(ResponseTemplate::new(200))
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(header_exists("authorization"))
            .respond_with(ResponseTemplate::new(418))
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(204))
            .mount(&server)
            .await;
        let configured = Url::parse(&server.uri()).unwrap();
        let client = HttpClient::new(
            fast(),
            vec![Credential {
                url: configured,
                auth: Auth::Basic {
                    username: "user".into(),
                    password: Secret::new("s3cret"),
                },
            }],
        )
        .unwrap();
        let url = Url::parse(&format!("{}/private", server.uri())).unwrap();
        assert_eq!(client.get(&url, "*/*").await.unwrap().status, 200);
        // Same host, other port: a different origin, so no credentials.
        let other = MockServer::start().await;
        Mock::given(method("GET"))
            .and(header_exists("authorization"))
            .respond_with(ResponseTemplate::new(418))
            .mount(&other)
            .await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(204))
            .mount(&other)
            .await;
        let url = Url::parse(&format!("{}/private", other.uri())).unwrap();
        assert_eq!(client.get(&url, "*/*").await.unwrap().status, 204);
    }

    #[tokio::test]
    async fn bodies_over_the_limit_are_refused() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(200).set_body_string("x".repeat(2048)))
            .mount(&server)
            .await;
        let client = HttpClient::new(
            HttpOptions {
                max_body: 1024,
                ..fast()
            },
            vec![],
        )
        .unwrap();
        let url = Url::parse(&server.uri()).unwrap();
        let err = client.get(&url, "*/*").await.unwrap_err();
        assert!(matches!(err, HttpError::TooLarge { limit: 1024, .. }));
    }

    #[tokio::test]
    async fn send_heads_and_replaces_the_configured_credential() {
        let server = MockServer::start().await;
        Mock::given(method("HEAD"))
            .and(path("/m"))
            .and(header("authorization", "Bearer t0ken"))
            .respond_with(ResponseTemplate::new(200).insert_header("x-digest", "d"))
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/anon"))
            .and(header_exists("authorization"))
            .respond_with(ResponseTemplate::new(418))
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/anon"))
            .respond_with(ResponseTemplate::new(204))
            .mount(&server)
            .await;
        let client = HttpClient::new(
            fast(),
            vec![Credential {
                url: Url::parse(&server.uri()).unwrap(),
                auth: Auth::Basic {
                    username: "u".into(),
                    password: Secret::new("p"),
                },
            }],
        )
        .unwrap();
        let url = Url::parse(&format!("{}/m", server.uri())).unwrap();
        let resp = client
            .send(Request {
                method: Method::Head,
                url: &url,
                accept: "*/*",
                authorization: Authorization::Use(Auth::Bearer(Secret::new("t0ken"))),
            })
            .await
            .unwrap();
        assert_eq!(resp.status, 200);
        assert_eq!(resp.header("x-digest"), Some("d"));
        let url = Url::parse(&format!("{}/anon", server.uri())).unwrap();
        let resp = client
            .send(Request {
                method: Method::Get,
                url: &url,
                accept: "*/*",
                authorization: Authorization::Anonymous,
            })
            .await
            .unwrap();
        assert_eq!(resp.status, 204);
    }

    #[test]
    fn redact_drops_user_info_and_query() {
        let url = Url::parse("https://user:pw@example.org/simple/?token=x").unwrap();
        assert_eq!(redact(&url), "https://example.org/simple/");
    }
}

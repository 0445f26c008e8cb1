//! The OSV API: `POST /v1/querybatch` (which records affect which package versions, paged
//! with `next_page_token`), then `GET /v1/vulns/<id>` once per record for its details.

use crate::osv::{OsvEcosystem, Vuln};
use crate::{AdvisoryError, Query};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;
use updatebot_core::http::{redact, HttpClient};
use url::Url;

/// Queries per `querybatch` request (the API's limit).
pub const BATCH: usize = 1000;
/// Pages followed for one query before giving up (a server that never stops paging).
const MAX_PAGES: usize = 50;
/// Largest answer read.
const MAX_BODY: usize = 32 * 1024 * 1024;

/// How the client reaches the API: GETs through the run's [`HttpClient`] (retries, bounded
/// bodies, per-host limits and counts); POSTs, which that client does not send, through a
/// plain client with the same kind of limits.
#[async_trait]
pub trait Transport: Send + Sync {
    /// `(status, body)` of `GET url`.
    async fn get(&self, url: &Url) -> Result<(u16, Vec<u8>), String>;
    /// `(status, body)` of `POST url` with a JSON body.
    async fn post_json(&self, url: &Url, body: Vec<u8>) -> Result<(u16, Vec<u8>), String>;
}

/// The transport of a run.
pub struct HttpTransport {
    http: Arc<HttpClient>,
    post: reqwest::Client,
    retries: u32,
}

impl HttpTransport {
    pub fn new(http: Arc<HttpClient>, timeout: Duration, retries: u32) -> Result<Self, String> {
        let post = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| e.to_string())?;
        Ok(HttpTransport {
            http,
            post,
            retries,
        })
    }
}

#[async_trait]
impl Transport for HttpTransport {
    async fn get(&self, url: &Url) -> Result<(u16, Vec<u8>), String> {
        let response = self
            .http
            .get(url, "application/json")
            .await
            .map_err(|e| e.to_string())?;
        Ok((response.status, response.body))
    }

    async fn post_json(&self, url: &Url, body: Vec<u8>) -> Result<(u16, Vec<u8>), String> {
        let mut attempt = 0;
        loop {
            let outcome = self.post_once(url, body.clone()).await;
            let transient = match &outcome {
                Ok((status, _)) => *status == 429 || *status >= 500,
                Err(_) => true,
            };
            if !transient || attempt >= self.retries {
                return outcome;
            }
            attempt += 1;
            tokio::time::sleep(Duration::from_millis(250u64 << attempt.min(6))).await;
        }
    }
}

impl HttpTransport {
    async fn post_once(&self, url: &Url, body: Vec<u8>) -> Result<(u16, Vec<u8>), String> {
        let mut response = self
            .post
            .post(url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(reqwest::header::ACCEPT, "application/json")
            .header(
                reqwest::header::USER_AGENT,
                concat!("updatebot/", env!("CARGO_PKG_VERSION")),
            )
            .body(body)
            .send()
            .await
            .map_err(|e| describe(&e))?;
        let status = response.status().as_u16();
        let mut out = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| describe(&e))? {
            if out.len() + chunk.len() > MAX_BODY {
                return Err(format!("the answer is larger than {MAX_BODY} bytes"));
            }
            out.extend_from_slice(&chunk);
        }
        Ok((status, out))
    }
}

fn describe(error: &reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    let mut cause: &dyn std::error::Error = error;
    while let Some(next) = cause.source() {
        cause = next;
    }
    format!("{kind} ({cause})")
}

#[derive(Serialize)]
struct BatchQuery<'a> {
    package: PackageRef<'a>,
    version: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    page_token: Option<&'a str>,
}

#[derive(Serialize)]
struct PackageRef<'a> {
    name: &'a str,
    ecosystem: &'a str,
}

#[derive(Deserialize)]
struct BatchAnswer {
    #[serde(default)]
    results: Vec<BatchResult>,
}

#[derive(Deserialize, Default)]
struct BatchResult {
    #[serde(default)]
    vulns: Vec<VulnRef>,
    #[serde(default)]
    next_page_token: Option<String>,
}

#[derive(Deserialize)]
struct VulnRef {
    id: String,
}

/// An OSV record id as the API names them (`GHSA-xxxx-…`, `PYSEC-2021-1`, `CVE-…`): only
/// these characters go into a URL path.
fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'))
        && !id.starts_with('.')
}

/// A client of one OSV API base URL.
pub struct OsvApi {
    base: Url,
    transport: Arc<dyn Transport>,
}

impl OsvApi {
    pub fn new(base: &str, transport: Arc<dyn Transport>) -> Result<Self, AdvisoryError> {
        let mut base = Url::parse(base).map_err(|e| AdvisoryError::InvalidUrl {
            url: base.to_string(),
            detail: e.to_string(),
        })?;
        if !matches!(base.scheme(), "http" | "https") || base.host_str().is_none() {
            return Err(AdvisoryError::InvalidUrl {
                url: redact(&base),
                detail: "not an http(s) URL".into(),
            });
        }
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        Ok(OsvApi { base, transport })
    }

    pub fn base(&self) -> String {
        redact(&self.base)
    }

    fn endpoint(&self, path: &str) -> Result<Url, AdvisoryError> {
        self.base.join(path).map_err(|e| AdvisoryError::InvalidUrl {
            url: format!("{}{path}", self.base()),
            detail: e.to_string(),
        })
    }

    /// The ids of the records that affect each query's package version (all pages).
    pub async fn query_ids(
        &self,
        queries: &[Query],
    ) -> Result<Vec<BTreeSet<String>>, AdvisoryError> {
        let mut out: Vec<BTreeSet<String>> = vec![BTreeSet::new(); queries.len()];
        for (chunk_index, chunk) in queries.chunks(BATCH).enumerate() {
            let offset = chunk_index * BATCH;
            // Queries still to ask, with their page token.
            let mut pending: BTreeMap<usize, Option<String>> =
                (0..chunk.len()).map(|i| (i, None)).collect();
            let mut pages = 0;
            while !pending.is_empty() {
                pages += 1;
                if pages > MAX_PAGES {
                    return Err(
                        self.malformed(format!("querybatch kept paging after {MAX_PAGES} pages"))
                    );
                }
                let order: Vec<usize> = pending.keys().copied().collect();
                let body = serde_json::json!({
                    "queries": order
                        .iter()
                        .map(|i| {
                            let q = &chunk[*i];
                            BatchQuery {
                                package: PackageRef {
                                    name: &q.name,
                                    ecosystem: q.ecosystem.as_str(),
                                },
                                version: &q.version,
                                page_token: pending[i].as_deref(),
                            }
                        })
                        .collect::<Vec<_>>()
                });
                let answer: BatchAnswer = self
                    .post(
                        "v1/querybatch",
                        serde_json::to_vec(&body).unwrap_or_default(),
                    )
                    .await?;
                if answer.results.len() != order.len() {
                    return Err(self.malformed(format!(
                        "querybatch answered {} results for {} queries",
                        answer.results.len(),
                        order.len()
                    )));
                }
                let mut next = BTreeMap::new();
                for (i, result) in order.into_iter().zip(answer.results) {
                    for v in result.vulns {
                        if !valid_id(&v.id) {
                            return Err(self.malformed(format!(
                                "querybatch named an invalid record id `{}`",
                                v.id.chars().take(80).collect::<String>()
                            )));
                        }
                        out[offset + i].insert(v.id);
                    }
                    if let Some(token) = result.next_page_token.filter(|t| !t.is_empty()) {
                        next.insert(i, Some(token));
                    }
                }
                pending = next;
            }
        }
        Ok(out)
    }

    /// The full record `id`.
    pub async fn vuln(&self, id: &str) -> Result<Vuln, AdvisoryError> {
        if !valid_id(id) {
            return Err(self.malformed(format!("invalid record id `{id}`")));
        }
        let url = self.endpoint(&format!("v1/vulns/{id}"))?;
        let (status, body) =
            self.transport
                .get(&url)
                .await
                .map_err(|detail| AdvisoryError::Unreachable {
                    source_name: self.base(),
                    detail,
                })?;
        if status == 404 {
            return Err(AdvisoryError::UnknownRecord {
                source_name: self.base(),
                id: id.to_string(),
            });
        }
        if !(200..300).contains(&status) {
            return Err(AdvisoryError::Status {
                source_name: self.base(),
                what: format!("record `{id}`"),
                status,
            });
        }
        let vuln: Vuln = serde_json::from_slice(&body)
            .map_err(|e| self.malformed(format!("record `{id}`: {e}")))?;
        if vuln.id != id && !vuln.aliases.iter().any(|a| a == id) {
            return Err(self.malformed(format!(
                "asked for record `{id}`, got `{}`",
                vuln.id.chars().take(80).collect::<String>()
            )));
        }
        Ok(vuln)
    }

    async fn post<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        body: Vec<u8>,
    ) -> Result<T, AdvisoryError> {
        let url = self.endpoint(path)?;
        let (status, answer) = self
            .transport
            .post_json(&url, body)
            .await
            .map_err(|detail| AdvisoryError::Unreachable {
                source_name: self.base(),
                detail,
            })?;
        if !(200..300).contains(&status) {
            return Err(AdvisoryError::Status {
                source_name: self.base(),
                what: path.to_string(),
                status,
            });
        }
        serde_json::from_slice(&answer).map_err(|e| self.malformed(format!("{path}: {e}")))
    }

    fn malformed(&self, detail: String) -> AdvisoryError {
        AdvisoryError::Malformed {
            source_name: self.base(),
            detail,
        }
    }
}

/// The queries of one ecosystem's packages, for tests and callers building them by hand.
pub fn query(ecosystem: OsvEcosystem, name: &str, version: &str) -> Query {
    Query {
        ecosystem,
        name: name.to_string(),
        version: version.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_ids_reach_a_url() {
        assert!(valid_id("GHSA-35jh-r3h4-6jhm"));
        assert!(valid_id("PYSEC-2021-59"));
        assert!(!valid_id("../v1/querybatch"));
        assert!(!valid_id("a/b"));
        assert!(!valid_id(""));
        assert!(!valid_id("x?y"));
    }
}

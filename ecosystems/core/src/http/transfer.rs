//! One exchange with a server: the request with its credential, redirects followed by hand
//! (so credentials never follow them to another origin), and the body read within its limit.

use super::{
    basic_value, origin, redact, Auth, Authorization, Expect, HttpClient, HttpError, Method,
    Request, Response,
};
use reqwest::header::{HeaderName, HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE, USER_AGENT};
use url::Url;

/// Redirects followed per request.
pub const MAX_REDIRECTS: usize = 5;

impl HttpClient {
    /// Sends `request` once, following redirects of reads, and reads the body.
    pub(super) async fn exchange(&self, request: &Request<'_>) -> Result<Response, HttpError> {
        let mut url = request.url.clone();
        for hop in 0..=MAX_REDIRECTS {
            let response = self.send_one(request, &url).await?;
            let status = response.status().as_u16();
            let location = response
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok());
            let follows =
                matches!(status, 301 | 302 | 303 | 307 | 308) && request.method.is_idempotent();
            if let (true, Some(location)) = (follows, location) {
                let next = url
                    .join(location)
                    .ok()
                    .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some());
                let Some(next) = next else {
                    return Err(HttpError::Redirect {
                        url: redact(&url),
                        detail: "to a location that is not an http(s) URL".into(),
                    });
                };
                if hop == MAX_REDIRECTS {
                    return Err(HttpError::Redirect {
                        url: redact(request.url),
                        detail: format!("more than {MAX_REDIRECTS} redirects"),
                    });
                }
                tracing::debug!(from = %redact(&url), to = %redact(&next), status, "redirected");
                url = next;
                continue;
            }
            return self.read(request, response, url).await;
        }
        Err(HttpError::Redirect {
            url: redact(request.url),
            detail: format!("more than {MAX_REDIRECTS} redirects"),
        })
    }

    /// The credential header a request to `url` carries: the configured one for `url`'s own
    /// origin, or the caller's only while the request stays on the origin it was meant for.
    fn credential_header(
        &self,
        request: &Request<'_>,
        url: &Url,
    ) -> Result<Option<(HeaderName, HeaderValue)>, HttpError> {
        let own_origin = origin(url) == origin(request.url);
        let (name, text) = match &request.authorization {
            Authorization::Configured => match self.credential_for(url) {
                Some(auth) => (AUTHORIZATION, auth_value(auth)),
                None => return Ok(None),
            },
            Authorization::Use(auth) if own_origin => (AUTHORIZATION, auth_value(auth)),
            Authorization::Header { name, value } if own_origin => (
                HeaderName::from_bytes(name.as_bytes()).map_err(|_| HttpError::InvalidUrl {
                    url: redact(url),
                    detail: format!("`{name}` is not a header name"),
                })?,
                value.expose().to_string(),
            ),
            Authorization::Anonymous | Authorization::Use(_) | Authorization::Header { .. } => {
                return Ok(None)
            }
        };
        let mut value = HeaderValue::from_str(&text).map_err(|_| HttpError::InvalidUrl {
            url: redact(url),
            detail: "the credential contains characters not allowed in a header".into(),
        })?;
        value.set_sensitive(true);
        Ok(Some((name, value)))
    }

    async fn send_one(
        &self,
        request: &Request<'_>,
        url: &Url,
    ) -> Result<reqwest::Response, HttpError> {
        let client = self.client_for(url)?;
        let mut builder = match request.method {
            Method::Get => client.get(url.clone()),
            Method::Head => client.head(url.clone()),
            Method::Post => client.post(url.clone()),
            Method::Put => client.put(url.clone()),
            Method::Delete => client.delete(url.clone()),
        };
        let mut headers = request.headers.clone();
        headers.insert(
            USER_AGENT,
            HeaderValue::from_static(concat!("updatebot/", env!("CARGO_PKG_VERSION"))),
        );
        if let Ok(value) = HeaderValue::from_str(request.accept) {
            headers.insert(ACCEPT, value);
        }
        if let Some((name, value)) = self.credential_header(request, url)? {
            headers.insert(name, value);
        }
        builder = builder.headers(headers);
        if let Some(body) = &request.body {
            builder = builder.body(body.clone());
        }
        builder
            .send()
            .await
            .map_err(|e| self.transport_error(&e, url, None))
    }

    /// The body, read chunk by chunk and refused as soon as it passes the limit (a declared
    /// `Content-Length` over the limit is refused before any of it is read).
    async fn read(
        &self,
        request: &Request<'_>,
        mut response: reqwest::Response,
        url: Url,
    ) -> Result<Response, HttpError> {
        let limit = request.limit.unwrap_or(self.options.max_body);
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let too_large = || HttpError::TooLarge {
            url: redact(&url),
            limit,
        };
        if request.method != Method::Head && response.content_length().unwrap_or(0) > limit as u64 {
            return Err(too_large());
        }
        if (200..300).contains(&status) && request.expect == Expect::Json {
            let got = headers
                .get(CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if !json_compatible(got) {
                return Err(HttpError::ContentType {
                    url: redact(&url),
                    expected: "JSON",
                    got: got.split(';').next().unwrap_or(got).trim().to_string(),
                });
            }
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| self.transport_error(&e, &url, Some(body.len())))?
        {
            if body.len() + chunk.len() > limit {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Response {
            status,
            headers,
            body,
            url,
        })
    }

    fn transport_error(&self, e: &reqwest::Error, url: &Url, read: Option<usize>) -> HttpError {
        let url = redact(url);
        if e.is_connect() {
            HttpError::Connect {
                url,
                detail: innermost(e),
            }
        } else if e.is_timeout() {
            HttpError::Timeout {
                url,
                seconds: self.options.timeout.as_secs(),
            }
        } else if let Some(read) = read {
            HttpError::Transport {
                url,
                detail: format!("the answer broke off after {read} bytes ({})", innermost(e)),
            }
        } else {
            HttpError::Transport {
                url,
                detail: format!("the request failed ({})", innermost(e)),
            }
        }
    }
}

fn auth_value(auth: &Auth) -> String {
    match auth {
        Auth::Basic { username, password } => basic_value(username, password.expose()),
        Auth::Bearer(token) => format!("Bearer {}", token.expose()),
    }
}

/// A missing content type, any JSON type (`application/json`, `…+json`), and the generic
/// types misconfigured servers send JSON as, are read as JSON; HTML, XML and the rest are not.
pub(crate) fn json_compatible(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence.is_empty()
        || essence.ends_with("/json")
        || essence.ends_with("+json")
        || essence == "text/plain"
        || essence == "application/octet-stream"
}

/// reqwest's message may contain the URL (ours is already redacted, so keep only the
/// innermost cause).
fn innermost(error: &reqwest::Error) -> String {
    let mut cause: &dyn std::error::Error = error;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

#[cfg(test)]
mod tests {
    use super::json_compatible;

    #[test]
    fn json_content_types() {
        for ok in [
            "",
            "application/json",
            "application/json; charset=utf-8",
            "Application/JSON",
            "application/vnd.npm.install-v1+json",
            "application/vnd.pypi.simple.v1+json",
            "application/vnd.docker.distribution.manifest.v2+json",
            "text/plain",
        ] {
            assert!(json_compatible(ok), "{ok}");
        }
        for bad in [
            "text/html",
            "text/html; charset=utf-8",
            "application/xhtml+xml",
            "application/xml",
            "image/png",
        ] {
            assert!(!json_compatible(bad), "{bad}");
        }
    }
}

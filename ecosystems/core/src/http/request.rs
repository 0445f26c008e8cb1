//! What is sent and what comes back: methods, which credential goes along, what the answer
//! must be, and the answer read in full.

use super::{redact, Auth, Purpose, Secret};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use std::fmt;
use url::Url;

/// The HTTP methods the registries and the forge need.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Post,
    Put,
    Delete,
}

impl Method {
    /// Reads, which may be repeated blindly.
    pub fn is_idempotent(self) -> bool {
        matches!(self, Method::Get | Method::Head)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
        }
    }
}

/// Which credential a request carries.
#[derive(Clone, Debug)]
pub enum Authorization {
    /// The credential configured for the URL's origin, if any (what [`HttpClient::get`] does);
    /// after a redirect, the one configured for the new origin, if any.
    Configured,
    /// None at all.
    Anonymous,
    /// This one (a token obtained for this origin, the origin's own credential handed to the
    /// token service it named, the forge's token), on the request's own origin only: a
    /// redirect to another origin goes without it.
    Use(Auth),
    /// A token in a header of its own (GitLab's `PRIVATE-TOKEN`), on the request's own origin
    /// only, like [`Authorization::Use`].
    Header { name: &'static str, value: Secret },
}

/// What a successful answer's body must be.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Expect {
    #[default]
    Anything,
    /// JSON: an HTML page (a login form, a proxy's error page) is an error naming the type.
    Json,
}

/// One request for [`HttpClient::send`].
#[derive(Clone)]
pub struct Request<'a> {
    pub method: Method,
    pub url: &'a Url,
    pub accept: &'a str,
    pub authorization: Authorization,
    /// More headers (a body's `Content-Type`).
    pub headers: HeaderMap,
    pub body: Option<Vec<u8>>,
    /// Largest body read (default: [`HttpOptions::max_body`]).
    pub limit: Option<usize>,
    pub expect: Expect,
    pub purpose: Purpose,
}

impl fmt::Debug for Request<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("method", &self.method)
            .field("url", &redact(self.url))
            .field("authorization", &self.authorization)
            .field("body", &self.body.as_ref().map(Vec::len))
            .field("limit", &self.limit)
            .finish()
    }
}

impl<'a> Request<'a> {
    pub fn new(method: Method, url: &'a Url, accept: &'a str) -> Self {
        Request {
            method,
            url,
            accept,
            authorization: Authorization::Configured,
            headers: HeaderMap::new(),
            body: None,
            limit: None,
            expect: Expect::Anything,
            purpose: Purpose::Registry,
        }
    }

    pub fn get(url: &'a Url, accept: &'a str) -> Self {
        Self::new(Method::Get, url, accept)
    }

    pub fn authorization(mut self, authorization: Authorization) -> Self {
        self.authorization = authorization;
        self
    }

    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.insert(name, value);
        self
    }

    pub fn body(mut self, body: Vec<u8>) -> Self {
        self.body = Some(body);
        self
    }

    pub fn limit(mut self, bytes: usize) -> Self {
        self.limit = Some(bytes);
        self
    }

    /// A successful answer must be JSON.
    pub fn json(mut self) -> Self {
        self.expect = Expect::Json;
        self
    }

    pub fn purpose(mut self, purpose: Purpose) -> Self {
        self.purpose = purpose;
        self
    }
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

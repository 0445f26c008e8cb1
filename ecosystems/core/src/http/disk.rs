//! The optional on-disk cache of registry answers, kept across runs and revalidated with
//! HTTP validators: an answer that carried an `ETag` or a `Last-Modified` is stored, and the
//! next run's request for it carries `If-None-Match` / `If-Modified-Since`; a `304 Not
//! Modified` is then answered from the stored body. Nothing is served from the cache without
//! asking the server first, so a cached answer is never stale; what is saved is the transfer
//! and the parsing of unchanged multi-megabyte documents on the server's side.
//!
//! One file per (URL, `Accept`, credential) under the cache directory, named by a 128-bit
//! hash of those (the credential is part of the key, so answers given to one credential are
//! never revalidated with another; it is never written to the file). The directory is made
//! private to the user (0700) and files are written whole (a temporary file renamed), so a
//! crash never leaves a torn entry. An entry that cannot be read is ignored and replaced.

use super::request::{Authorization, Method, Request, Response};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Headers kept with a stored answer: what readers of a [`Response`] look at.
const KEPT: &[&str] = &[
    "content-type",
    "etag",
    "last-modified",
    "docker-content-digest",
];

/// Format of the files; entries of another version are ignored.
const VERSION: u32 = 1;

/// Answers larger than this are not stored (a cap on the disk used per entry).
const MAX_ENTRY: usize = 64 * 1024 * 1024;

#[derive(Debug)]
pub(crate) struct DiskCache {
    dir: PathBuf,
}

#[derive(Serialize, Deserialize)]
struct Head {
    version: u32,
    /// Checked on reading against the request (a hash collision is a miss).
    url: String,
    accept: String,
    /// The URL after redirects.
    final_url: String,
    headers: Vec<(String, String)>,
}

/// A stored answer and the validators to revalidate it with.
pub(crate) struct Entry {
    path: PathBuf,
    final_url: url::Url,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Entry {
    /// `If-None-Match` / `If-Modified-Since` for the request.
    pub fn conditions(&self) -> Vec<(HeaderName, HeaderValue)> {
        let mut out = Vec::new();
        if let Some(etag) = self.headers.get(reqwest::header::ETAG) {
            out.push((reqwest::header::IF_NONE_MATCH, etag.clone()));
        }
        if let Some(modified) = self.headers.get(reqwest::header::LAST_MODIFIED) {
            out.push((reqwest::header::IF_MODIFIED_SINCE, modified.clone()));
        }
        out
    }

    /// The stored answer, as the server's `304` confirmed it.
    pub fn into_response(self) -> Response {
        Response {
            status: 200,
            headers: self.headers,
            body: self.body,
            url: self.final_url,
        }
    }
}

/// FNV-1a, 64 bits, from a given offset basis.
fn fnv(seed: u64, parts: &[&[u8]]) -> u64 {
    let mut hash = seed;
    for part in parts {
        for byte in part.iter().chain(&[0u8]) {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    hash
}

impl DiskCache {
    /// A cache in `dir`, created (private to the user) if missing.
    pub fn open(dir: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        }
        Ok(DiskCache {
            dir: dir.to_path_buf(),
        })
    }

    /// Whether answers to `request` may be stored: registry reads (GETs without a body)
    /// carrying no credential or the one configured for their origin. Tokens obtained during
    /// the run (an OCI registry's bearer tokens) change every run, so such answers could
    /// never be revalidated under the same key; they are left out.
    pub fn admits(request: &Request<'_>) -> bool {
        request.method == Method::Get
            && request.body.is_none()
            && request.purpose == super::Purpose::Registry
            && matches!(
                request.authorization,
                Authorization::Configured | Authorization::Anonymous
            )
    }

    /// The file of `request`, whose credential (if any) is `credential`.
    fn path(&self, request: &Request<'_>, credential: &str) -> PathBuf {
        let url = request.url.as_str().as_bytes();
        let accept = request.accept.as_bytes();
        let cred = credential.as_bytes();
        let a = fnv(0xcbf2_9ce4_8422_2325, &[url, accept, cred]);
        let b = fnv(0x6c62_272e_07bb_0142, &[cred, accept, url]);
        self.dir.join(format!("{a:016x}{b:016x}"))
    }

    /// The stored answer to `request`, if there is a readable one.
    pub fn load(&self, request: &Request<'_>, credential: &str) -> Option<Entry> {
        let path = self.path(request, credential);
        let bytes = std::fs::read(&path).ok()?;
        let newline = bytes.iter().position(|b| *b == b'\n')?;
        let head: Head = serde_json::from_slice(&bytes[..newline]).ok()?;
        if head.version != VERSION
            || head.url != request.url.as_str()
            || head.accept != request.accept
        {
            return None;
        }
        let mut headers = HeaderMap::new();
        for (name, value) in &head.headers {
            let name = HeaderName::from_bytes(name.as_bytes()).ok()?;
            headers.insert(name, HeaderValue::from_str(value).ok()?);
        }
        Some(Entry {
            path,
            final_url: url::Url::parse(&head.final_url).ok()?,
            headers,
            body: bytes[newline + 1..].to_vec(),
        })
    }

    /// Store a successful answer that can be revalidated (it has an `ETag` or a
    /// `Last-Modified`); else forget any older one. Failures are logged, never fatal.
    pub fn store(&self, request: &Request<'_>, credential: &str, response: &Response) {
        let path = self.path(request, credential);
        let validated = response.headers.contains_key(reqwest::header::ETAG)
            || response
                .headers
                .contains_key(reqwest::header::LAST_MODIFIED);
        if response.status != 200 || !validated || response.body.len() > MAX_ENTRY {
            let _ = std::fs::remove_file(&path);
            return;
        }
        let head = Head {
            version: VERSION,
            url: request.url.to_string(),
            accept: request.accept.to_string(),
            final_url: response.url.to_string(),
            headers: KEPT
                .iter()
                .filter_map(|name| {
                    let value = response.headers.get(*name)?.to_str().ok()?;
                    Some((name.to_string(), value.to_string()))
                })
                .collect(),
        };
        let written = (|| -> std::io::Result<()> {
            let mut bytes = serde_json::to_vec(&head).map_err(std::io::Error::other)?;
            bytes.push(b'\n');
            bytes.extend_from_slice(&response.body);
            let mut file = tempfile::NamedTempFile::new_in(&self.dir)?;
            std::io::Write::write_all(&mut file, &bytes)?;
            file.persist(&path).map_err(|e| e.error)?;
            Ok(())
        })();
        if let Err(e) = written {
            tracing::warn!(dir = %self.dir.display(), error = %e, "cannot write the HTTP cache");
        }
    }

    /// Drop an entry (its answer was refused, say for its content type).
    pub fn forget(&self, entry: Entry) {
        let _ = std::fs::remove_file(entry.path);
    }
}

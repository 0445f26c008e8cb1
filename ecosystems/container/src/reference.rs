//! The Docker image reference grammar (distribution/reference): `[host[:port]/]path[:tag][@digest]`,
//! with Docker Hub's normalisation (`nginx` → `docker.io/library/nginx`).
//!
//! Positions of the tag and digest are kept, so that a manager can turn them into spans.

use std::fmt;
use thiserror::Error;

use updatebot_core::defaults::DOCKER_HUB_ALIASES;
pub use updatebot_core::defaults::DOCKER_HUB_DOMAIN;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("invalid image reference `{reference}`: {reason}")]
pub struct ReferenceError {
    pub reference: String,
    pub reason: String,
}

/// A parsed image reference. Byte ranges are relative to the parsed text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reference {
    /// The registry host as written, or `docker.io` when none is written.
    pub domain: String,
    /// The repository path inside the registry, normalised (`library/nginx`).
    pub path: String,
    /// The name as written, without tag and digest (`nginx`, `ghcr.io/a/b`).
    pub written_name: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
    /// Where `tag` starts (after the `:`), when there is one.
    pub tag_start: Option<usize>,
    /// Where the digest starts (after the `@`), when there is one.
    pub digest_start: Option<usize>,
}

impl Reference {
    /// `docker.io/library/nginx`, `ghcr.io/owner/app`.
    pub fn repository(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }

    /// Whether the image lives on Docker Hub.
    pub fn is_docker_hub(&self) -> bool {
        self.domain == DOCKER_HUB_DOMAIN
    }

    /// The version text a manifest holds for this reference: `tag`, `tag@digest`, `@digest`.
    pub fn value(&self) -> String {
        match (&self.tag, &self.digest) {
            (Some(t), Some(d)) => format!("{t}@{d}"),
            (Some(t), None) => t.clone(),
            (None, Some(d)) => format!("@{d}"),
            (None, None) => String::new(),
        }
    }

    /// Byte range (relative to the parsed text) of [`Reference::value`], if non-empty.
    pub fn value_range(&self, text_len: usize) -> Option<(usize, usize)> {
        match (self.tag_start, self.digest_start) {
            (Some(t), _) => Some((t, text_len)),
            (None, Some(d)) => Some((d - 1, text_len)),
            (None, None) => None,
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.repository())?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

fn err(reference: &str, reason: impl Into<String>) -> ReferenceError {
    ReferenceError {
        reference: reference.to_string(),
        reason: reason.into(),
    }
}

/// A path component: `[a-z0-9]+` joined by `.`, `_`, `__` or `-`+.
fn valid_component(c: &str) -> bool {
    if c.is_empty() {
        return false;
    }
    let bytes = c.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if alnum(b) {
            i += 1;
            continue;
        }
        // A separator run: `.`, `_`, `__`, or one or more `-`.
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|b| b == b'-');
        if !ok {
            return false;
        }
    }
    true
}

fn valid_domain(d: &str) -> bool {
    let (host, port) = match d.rsplit_once(':') {
        // IPv6 literals are bracketed; a colon inside brackets is not a port.
        Some((h, p)) if !p.contains(']') => (h, Some(p)),
        _ => (d, None),
    };
    if let Some(p) = port {
        if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
    }
    if host.starts_with('[') {
        return host.ends_with(']') && host.len() > 2;
    }
    !host.is_empty()
        && host.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

fn valid_tag(t: &str) -> bool {
    let b = t.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

fn valid_digest(d: &str) -> bool {
    let Some((algorithm, hex)) = d.split_once(':') else {
        return false;
    };
    let hex_ok = |len: usize| {
        hex.len() == len
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    match algorithm {
        "sha256" => hex_ok(64),
        "sha512" => hex_ok(128),
        _ => false,
    }
}

/// Parse a reference as written in a manifest.
pub fn parse(text: &str) -> Result<Reference, ReferenceError> {
    if text.is_empty() {
        return Err(err(text, "empty"));
    }
    if text.len() > 512 {
        return Err(err(
            &text[..text.floor_char_boundary(64)],
            "longer than 512 bytes",
        ));
    }
    if let Some(c) = text
        .chars()
        .find(|c| c.is_whitespace() || c.is_control() || !c.is_ascii())
    {
        return Err(err(text, format!("contains {c:?}")));
    }
    let (rest, digest, digest_start) = match text.split_once('@') {
        Some((r, d)) => {
            if !valid_digest(d) {
                return Err(err(
                    text,
                    format!("`{d}` is not a digest (sha256:<64 hex> or sha512:<128 hex>)"),
                ));
            }
            (r, Some(d.to_string()), Some(r.len() + 1))
        }
        None => (text, None, None),
    };
    // The tag follows the last `:` after the last `/` (a `:` before it is a port).
    let last_slash = rest.rfind('/').map(|i| i + 1).unwrap_or(0);
    let (name, tag, tag_start) = match rest[last_slash..].rfind(':') {
        Some(i) => {
            let at = last_slash + i;
            let tag = &rest[at + 1..];
            if !valid_tag(tag) {
                return Err(err(text, format!("`{tag}` is not a valid tag")));
            }
            (&rest[..at], Some(tag.to_string()), Some(at + 1))
        }
        None => (rest, None, None),
    };
    if name.is_empty() {
        return Err(err(text, "no image name"));
    }
    let (domain, path) = match name.split_once('/') {
        Some((first, remainder))
            if first.contains('.') || first.contains(':') || first == "localhost" =>
        {
            if !valid_domain(first) {
                return Err(err(text, format!("`{first}` is not a valid registry host")));
            }
            (first.to_string(), remainder.to_string())
        }
        _ => (DOCKER_HUB_DOMAIN.to_string(), name.to_string()),
    };
    if path.is_empty() {
        return Err(err(text, "no repository path"));
    }
    for component in path.split('/') {
        if !valid_component(component) {
            let reason = if component.chars().any(|c| c.is_ascii_uppercase()) {
                "repository names must be lower case".to_string()
            } else {
                format!("`{component}` is not a valid repository path component")
            };
            return Err(err(text, reason));
        }
    }
    let domain = if DOCKER_HUB_ALIASES.contains(&domain.as_str()) {
        DOCKER_HUB_DOMAIN.to_string()
    } else {
        domain
    };
    let path = if domain == DOCKER_HUB_DOMAIN && !path.contains('/') {
        format!("library/{path}")
    } else {
        path
    };
    Ok(Reference {
        domain,
        path,
        written_name: name.to_string(),
        tag,
        digest,
        tag_start,
        digest_start,
    })
}

/// Whether `host` (without port) is a loopback address, where Docker itself speaks plain HTTP.
pub fn is_loopback_host(domain: &str) -> bool {
    let host = match domain.rsplit_once(':') {
        Some((h, p)) if !p.contains(']') => h,
        _ => domain,
    };
    host == "localhost" || host.starts_with("127.") || host == "[::1]"
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn docker_hub_names_are_normalised() {
        let r = parse("nginx").unwrap();
        assert_eq!(r.repository(), "docker.io/library/nginx");
        assert_eq!(r.tag, None);
        let r = parse("bitnami/redis:7.2").unwrap();
        assert_eq!(r.repository(), "docker.io/bitnami/redis");
        assert_eq!(r.tag.as_deref(), Some("7.2"));
        let r = parse("docker.io/nginx:1").unwrap();
        assert_eq!(r.repository(), "docker.io/library/nginx");
        let r = parse("index.docker.io/library/nginx").unwrap();
        assert_eq!(r.repository(), "docker.io/library/nginx");
    }

    #[test]
    fn hosts_ports_tags_and_digests() {
        let text = format!("127.0.0.1:5000/team/app:1.0@{D}");
        let r = parse(&text).unwrap();
        assert_eq!(r.domain, "127.0.0.1:5000");
        assert_eq!(r.path, "team/app");
        assert_eq!(r.written_name, "127.0.0.1:5000/team/app");
        assert_eq!(r.tag.as_deref(), Some("1.0"));
        assert_eq!(r.digest.as_deref(), Some(D));
        assert_eq!(r.value(), format!("1.0@{D}"));
        let (s, e) = r.value_range(text.len()).unwrap();
        assert_eq!(&text[s..e], format!("1.0@{D}"));
        let r = parse("localhost:5000/app").unwrap();
        assert_eq!(r.domain, "localhost:5000");
        assert_eq!(r.tag, None);
        let r = parse("localhost/app:2").unwrap();
        assert_eq!(r.domain, "localhost");
        let r = parse(&format!("nginx@{D}")).unwrap();
        assert_eq!(r.tag, None);
        assert_eq!(r.value(), format!("@{D}"));
        let r = parse("ghcr.io/a/b/c:v1.2.3-alpine").unwrap();
        assert_eq!(r.path, "a/b/c");
        assert_eq!(r.tag.as_deref(), Some("v1.2.3-alpine"));
        assert!(is_loopback_host("127.0.0.1:5000"));
        assert!(is_loopback_host("localhost"));
        assert!(!is_loopback_host("ghcr.io"));
    }

    #[test]
    fn malformed_references_say_why() {
        for bad in [
            "",
            "Nginx:1.0",
            "nginx:",
            "nginx:-x",
            "nginx@sha256:abc",
            "nginx:1.0@md5:00",
            "my registry/app",
            "-bad/app",
            "a//b",
            "${IMAGE}",
            "ghcr.io/",
            "ex ample.com/x:1",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        let e = parse("Nginx:1.0").unwrap_err();
        assert!(e.to_string().contains("lower case"), "{e}");
    }
}

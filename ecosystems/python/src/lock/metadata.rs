//! A release's core metadata (`Requires-Dist`, `Requires-Python`, `Summary`): from the PEP
//! 658 `.metadata` file when the index offers one, else from the wheel's own
//! `*.dist-info/METADATA` (the wheel is read, never installed or run). An sdist's metadata
//! is not read: that may need a build, which is running the package's code.

use std::collections::{BTreeSet, HashMap};
use std::io::Read;
use std::sync::{Arc, Mutex};
use updatebot_core::http::HttpClient;
use updatebot_core::registry::Release;
use url::Url;

/// Largest wheel downloaded to read its metadata.
const MAX_WHEEL_BYTES: usize = 64 * 1024 * 1024;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CoreMetadata {
    pub summary: Option<String>,
    pub requires_python: Option<String>,
    /// `Requires-Dist` lines, whitespace-normalised, sorted.
    pub requires_dist: BTreeSet<String>,
    /// The same lines with their spaces (runs of whitespace as one), sorted: markers need
    /// them (`… and extra == 'x'`).
    pub requires_dist_lines: BTreeSet<String>,
    pub provides_extra: BTreeSet<String>,
}

impl CoreMetadata {
    /// Whether two releases declare the same dependencies and Python range: then a lock's
    /// resolution of one holds for the other.
    pub fn same_requirements(&self, other: &CoreMetadata) -> bool {
        self.requires_dist == other.requires_dist
            && self.requires_dist_lines.len() == other.requires_dist_lines.len()
            && self.requires_python == other.requires_python
            && self.provides_extra == other.provides_extra
    }
}

fn squash(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join("")
}

/// Parse the RFC 822 header block of a METADATA file.
pub fn parse(text: &str) -> CoreMetadata {
    let mut out = CoreMetadata::default();
    let mut fields: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) {
            if let Some(last) = fields.last_mut() {
                last.1.push('\n');
                last.1.push_str(line.trim());
            }
            continue;
        }
        if let Some((key, value)) = line.split_once(':') {
            fields.push((key.trim().to_ascii_lowercase(), value.trim().to_string()));
        }
    }
    for (key, value) in fields {
        match key.as_str() {
            "summary" => out.summary = Some(value),
            "requires-python" => out.requires_python = Some(value),
            "requires-dist" => {
                out.requires_dist.insert(squash(&value));
                out.requires_dist_lines
                    .insert(value.split_whitespace().collect::<Vec<_>>().join(" "));
            }
            "provides-extra" => {
                out.provides_extra.insert(value);
            }
            _ => {}
        }
    }
    out
}

/// `*.dist-info/METADATA` out of a wheel (a zip archive), read from its central directory.
pub fn from_wheel(bytes: &[u8]) -> Result<String, String> {
    let le16 = |at: usize| -> Option<usize> {
        bytes
            .get(at..at + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]) as usize)
    };
    let le32 = |at: usize| -> Option<usize> {
        bytes
            .get(at..at + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
    };
    let bad = || "not a readable wheel (zip) archive".to_string();
    // End of central directory: the last `PK\x05\x06` within the final 64 KiB + 22 bytes.
    let floor = bytes.len().saturating_sub(65_557);
    let eocd = (floor..bytes.len().saturating_sub(21))
        .rev()
        .find(|&i| bytes[i..i + 4] == [0x50, 0x4b, 0x05, 0x06])
        .ok_or_else(bad)?;
    let entries = le16(eocd + 10).ok_or_else(bad)?;
    let mut at = le32(eocd + 16).ok_or_else(bad)?;
    for _ in 0..entries {
        if bytes.get(at..at + 4) != Some(&[0x50, 0x4b, 0x01, 0x02]) {
            return Err(bad());
        }
        let method = le16(at + 10).ok_or_else(bad)?;
        let compressed = le32(at + 20).ok_or_else(bad)?;
        let name_len = le16(at + 28).ok_or_else(bad)?;
        let extra_len = le16(at + 30).ok_or_else(bad)?;
        let comment_len = le16(at + 32).ok_or_else(bad)?;
        let local = le32(at + 42).ok_or_else(bad)?;
        let name = bytes.get(at + 46..at + 46 + name_len).ok_or_else(bad)?;
        let name = String::from_utf8_lossy(name);
        let mut parts = name.split('/');
        let is_metadata = matches!(
            (parts.next(), parts.next(), parts.next()),
            (Some(dir), Some("METADATA"), None) if dir.ends_with(".dist-info")
        );
        if is_metadata {
            if bytes.get(local..local + 4) != Some(&[0x50, 0x4b, 0x03, 0x04]) {
                return Err(bad());
            }
            let start = local
                + 30
                + le16(local + 26).ok_or_else(bad)?
                + le16(local + 28).ok_or_else(bad)?;
            let data = bytes.get(start..start + compressed).ok_or_else(bad)?;
            let mut text = String::new();
            match method {
                0 => text = String::from_utf8_lossy(data).into_owned(),
                8 => {
                    flate2::read::DeflateDecoder::new(data)
                        .take(16 * 1024 * 1024)
                        .read_to_string(&mut text)
                        .map_err(|e| format!("cannot inflate METADATA: {e}"))?;
                }
                m => return Err(format!("METADATA is stored with zip method {m}")),
            }
            return Ok(text);
        }
        at += 46 + name_len + extra_len + comment_len;
    }
    Err("the wheel has no .dist-info/METADATA".into())
}

/// Core metadata of releases, fetched once per file URL.
#[derive(Default)]
pub struct MetadataCache {
    entries: Mutex<HashMap<String, Arc<CoreMetadata>>>,
}

impl MetadataCache {
    /// The metadata of `release` (from its first wheel). `Err` says why it cannot be known
    /// without building an sdist.
    pub async fn get(
        &self,
        http: &HttpClient,
        package: &str,
        release: &Release,
    ) -> Result<Arc<CoreMetadata>, String> {
        let wheel = release
            .files
            .iter()
            .filter(|f| f.filename.ends_with(".whl"))
            .min_by(|a, b| a.filename.cmp(&b.filename))
            .ok_or_else(|| {
                format!(
                    "{package} {} has no wheel, so its dependencies are only known by building it",
                    release.version
                )
            })?;
        if let Some(hit) = self
            .entries
            .lock()
            .ok()
            .and_then(|e| e.get(&wheel.url).cloned())
        {
            return Ok(hit);
        }
        let url = Url::parse(&wheel.url).map_err(|e| format!("bad file URL: {e}"))?;
        let shown = updatebot_core::http::redact(&url);
        // PEP 658 first; any failure falls back to the wheel.
        let mut text = None;
        if let Ok(meta_url) = Url::parse(&format!("{}.metadata", wheel.url)) {
            if let Ok(r) = http.get(&meta_url, "*/*").await {
                if r.is_success() {
                    text = Some(String::from_utf8_lossy(&r.body).into_owned());
                }
            }
        }
        let text = match text {
            Some(t) => t,
            None => {
                let response = http
                    .get(&url, "*/*")
                    .await
                    .map_err(|e| format!("cannot fetch {shown}: {e}"))?;
                if !response.is_success() {
                    return Err(format!("{shown} answered HTTP {}", response.status));
                }
                if response.body.len() > MAX_WHEEL_BYTES {
                    return Err(format!("{shown} is larger than {MAX_WHEEL_BYTES} bytes"));
                }
                from_wheel(&response.body).map_err(|e| format!("{shown}: {e}"))?
            }
        };
        let parsed = Arc::new(parse(&text));
        if let Ok(mut e) = self.entries.lock() {
            e.insert(wheel.url.clone(), parsed.clone());
        }
        Ok(parsed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_with_continuations_and_a_body() {
        let text = "Metadata-Version: 2.1\nName: requests\nSummary: Python HTTP for Humans.\nRequires-Python: >=3.8\nRequires-Dist: idna (<4,>=2.5)\nRequires-Dist: urllib3 <3,>=1.21.1\nProvides-Extra: socks\nDescription: a\n  continued\n\nRequires-Dist: not-a-header\n";
        let m = parse(text);
        assert_eq!(m.summary.as_deref(), Some("Python HTTP for Humans."));
        assert_eq!(m.requires_python.as_deref(), Some(">=3.8"));
        assert_eq!(m.requires_dist.len(), 2);
        assert!(m.requires_dist.contains("urllib3<3,>=1.21.1"));
        assert_eq!(m.provides_extra.len(), 1);
    }

    #[test]
    fn garbage_is_not_a_wheel() {
        assert!(from_wheel(b"PK\x05\x06 nonsense").is_err());
        assert!(from_wheel(b"").is_err());
    }
}

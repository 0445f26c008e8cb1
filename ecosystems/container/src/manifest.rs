//! What an image manifest says, read from the registry's JSON: which platforms a tag covers
//! (an OCI index or Docker manifest list names them; a single manifest covers one), and
//! which config blob holds its build time. Pure: the registry client fetches, this reads.

use serde::Deserialize;

const INDEX_TYPES: [&str; 2] = [
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
];

/// A manifest as far as the bot needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Manifest {
    /// A multi-platform index: `os/arch[/variant]` of each image (attestations left out),
    /// sorted, and the digest of each platform's manifest.
    Index {
        platforms: Vec<String>,
        manifests: Vec<String>,
    },
    /// One image: its config blob's digest.
    Image { config: Option<String> },
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Raw {
    #[serde(default)]
    media_type: Option<String>,
    #[serde(default)]
    manifests: Option<Vec<Entry>>,
    #[serde(default)]
    config: Option<Descriptor>,
}

#[derive(Deserialize)]
struct Entry {
    digest: String,
    #[serde(default)]
    platform: Option<Platform>,
}

#[derive(Deserialize)]
struct Descriptor {
    digest: String,
}

#[derive(Deserialize)]
struct Platform {
    #[serde(default)]
    os: String,
    #[serde(default)]
    architecture: String,
    #[serde(default)]
    variant: Option<String>,
}

/// Reads a manifest; `content_type` is the answer's header (the body's `mediaType` wins).
pub fn parse(body: &[u8], content_type: Option<&str>) -> Result<Manifest, String> {
    let raw: Raw = serde_json::from_slice(body).map_err(|e| format!("not a manifest: {e}"))?;
    let media = raw
        .media_type
        .as_deref()
        .or(content_type.map(|t| t.split(';').next().unwrap_or(t).trim()))
        .unwrap_or_default();
    let is_index =
        INDEX_TYPES.contains(&media) || (raw.manifests.is_some() && raw.config.is_none());
    if !is_index {
        return Ok(Manifest::Image {
            config: raw.config.map(|c| c.digest),
        });
    }
    let entries = raw.manifests.unwrap_or_default();
    let mut platforms: Vec<String> = entries
        .iter()
        .filter_map(|e| e.platform.as_ref())
        // BuildKit's attestation manifests are `unknown/unknown`.
        .filter(|p| p.os != "unknown" && !p.os.is_empty() && !p.architecture.is_empty())
        .map(|p| match p.variant.as_deref().filter(|v| !v.is_empty()) {
            Some(v) => format!("{}/{}/{v}", p.os, p.architecture),
            None => format!("{}/{}", p.os, p.architecture),
        })
        .collect();
    platforms.sort();
    platforms.dedup();
    let manifests = entries
        .iter()
        .filter(|e| e.platform.as_ref().is_none_or(|p| p.os != "unknown"))
        .map(|e| e.digest.clone())
        .collect();
    Ok(Manifest::Index {
        platforms,
        manifests,
    })
}

/// Why `candidate` cannot replace `current` (`None`: it covers every platform the current
/// one does). Only an index is judged: a single image replaced by another is as before.
pub fn uncovered(current: &Manifest, candidate: &Manifest) -> Option<String> {
    let Manifest::Index {
        platforms: have, ..
    } = current
    else {
        return None;
    };
    if have.len() < 2 {
        return None;
    }
    match candidate {
        Manifest::Image { .. } => Some(format!(
            "is a single-platform image, where the tag in use covers {}",
            have.join(", ")
        )),
        Manifest::Index { platforms, .. } => {
            let missing: Vec<&str> = have
                .iter()
                .filter(|p| !platforms.contains(p))
                .map(String::as_str)
                .collect();
            (!missing.is_empty()).then(|| format!("does not cover {}", missing.join(", ")))
        }
    }
}

/// The build time (`created`, RFC 3339) an image config blob records.
pub fn config_created(body: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Config {
        #[serde(default)]
        created: Option<String>,
    }
    serde_json::from_slice::<Config>(body).ok()?.created
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn index(platforms: &[&str]) -> String {
        let manifests: Vec<serde_json::Value> = platforms
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let parts: Vec<&str> = p.split('/').collect();
                let mut platform = serde_json::json!({"os": parts[0], "architecture": parts[1]});
                if let Some(v) = parts.get(2) {
                    platform["variant"] = (*v).into();
                }
                serde_json::json!({
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "digest": format!("sha256:{i:064}"),
                    "size": 1,
                    "platform": platform,
                })
            })
            .collect();
        serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": manifests,
        })
        .to_string()
    }

    #[test]
    fn an_index_names_its_platforms_without_attestations() {
        let m = parse(
            index(&["linux/arm64/v8", "linux/amd64", "unknown/unknown"]).as_bytes(),
            None,
        )
        .unwrap();
        let Manifest::Index {
            platforms,
            manifests,
        } = &m
        else {
            panic!("{m:?}")
        };
        assert_eq!(platforms, &["linux/amd64", "linux/arm64/v8"]);
        assert_eq!(manifests.len(), 2);
    }

    #[test]
    fn a_single_arch_tag_does_not_replace_a_multi_arch_index() {
        let current = parse(index(&["linux/amd64", "linux/arm64"]).as_bytes(), None).unwrap();
        let single = parse(
            br#"{"schemaVersion":2,"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:c","size":1},"layers":[]}"#,
            Some("application/vnd.oci.image.manifest.v1+json"),
        )
        .unwrap();
        assert_eq!(
            single,
            Manifest::Image {
                config: Some("sha256:c".into())
            }
        );
        assert!(uncovered(&current, &single)
            .unwrap()
            .contains("is a single-platform image"));
        let fewer = parse(index(&["linux/amd64"]).as_bytes(), None).unwrap();
        assert_eq!(
            uncovered(&current, &fewer).as_deref(),
            Some("does not cover linux/arm64")
        );
        let more = parse(
            index(&["linux/amd64", "linux/arm64", "linux/s390x"]).as_bytes(),
            None,
        )
        .unwrap();
        assert_eq!(uncovered(&current, &more), None);
        // A single image now: anything may follow it.
        assert_eq!(uncovered(&single, &fewer), None);
    }

    #[test]
    fn config_times_and_bad_bodies() {
        assert_eq!(
            config_created(br#"{"created":"2026-11-20T10:00:00Z","architecture":"amd64"}"#)
                .as_deref(),
            Some("2026-11-20T10:00:00Z")
        );
        assert_eq!(config_created(b"nope"), None);
        assert!(parse(b"<html>", None).is_err());
    }
}

//! Registry credentials from a Docker `config.json` (what `docker login` writes, or a
//! Kubernetes `kubernetes.io/dockerconfigjson` pull secret mounted as a file), named by an
//! operator registry's `docker-config-file`.
//!
//! Only the entry for that registry's own host is used (Docker Hub's under any of its
//! names), so credentials still go to the one host the operator configured. `auths` entries
//! with `auth` (base64 of `user:password`), `username` + `password`, or `registrytoken` are
//! read; credential helpers (`credHelpers`, `credsStore`) are refused, since the bot runs no
//! programs to get secrets. Messages name the host and the key, never a value.

use serde_json::Value;
use updatebot_core::defaults::{DOCKER_HUB_ALIASES, DOCKER_HUB_DOMAIN};
use url::Url;

use super::operator::{Credentials, Secret};

/// `host` or `host:port` of a registry URL, lower case.
fn host_of(url: &Url) -> Option<String> {
    let host = url.host_str()?.to_ascii_lowercase();
    Some(match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host,
    })
}

/// An `auths` key (`ghcr.io`, `https://index.docker.io/v1/`, `http://host:5000`) as
/// `host[:port]`, lower case.
fn key_host(key: &str) -> String {
    let rest = key.split_once("://").map(|(_, rest)| rest).unwrap_or(key);
    let end = rest.find('/').unwrap_or(rest.len());
    rest[..end].to_ascii_lowercase()
}

fn is_docker_hub(host: &str) -> bool {
    host == DOCKER_HUB_DOMAIN || DOCKER_HUB_ALIASES.contains(&host)
}

fn same_registry(key: &str, host: &str) -> bool {
    let key = key_host(key);
    key == host || (is_docker_hub(&key) && is_docker_hub(host))
}

fn text<'v>(entry: &'v Value, key: &str) -> Option<&'v str> {
    entry
        .get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// Standard base64 (padding optional, as Docker accepts it).
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let bytes = text.trim().trim_end_matches('=').as_bytes();
    if bytes.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let mut n = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            n |= value(*c)? << (18 - 6 * i);
        }
        let got = chunk.len() * 6 / 8;
        out.extend_from_slice(&n.to_be_bytes()[1..1 + got]);
    }
    Some(out)
}

/// The credentials `config.json` (its text) holds for the registry at `url`; the error says
/// why there are none, naming the host and keys only.
pub(super) fn credentials_for(config: &str, url: &Url) -> Result<Credentials, String> {
    let root: Value = serde_json::from_str(config).map_err(|e| {
        format!(
            "not a Docker config.json: the JSON {} at line {} column {}",
            match e.classify() {
                serde_json::error::Category::Eof => "ends early",
                _ => "does not parse",
            },
            e.line(),
            e.column()
        )
    })?;
    if !root.is_object() {
        return Err("not a Docker config.json: expected a JSON object".into());
    }
    let host = host_of(url).ok_or_else(|| format!("`{url}` has no host"))?;
    let entry = match root.get("auths") {
        None | Some(Value::Null) => None,
        Some(Value::Object(auths)) => auths
            .iter()
            .find(|(key, _)| same_registry(key, &host))
            .map(|(_, entry)| entry),
        Some(_) => return Err("`auths` is not a JSON object".into()),
    };
    let helper = root
        .get("credHelpers")
        .and_then(Value::as_object)
        .and_then(|helpers| {
            helpers
                .iter()
                .find(|(key, _)| same_registry(key, &host))
                .and_then(|(_, helper)| helper.as_str())
        })
        .map(|helper| format!("`credHelpers` hands `{host}` to `docker-credential-{helper}`"))
        .or_else(|| {
            text(&root, "credsStore").map(|store| {
                format!("`credsStore` keeps its credentials in `docker-credential-{store}`")
            })
        });
    let refuse_helper = |why: String| {
        format!(
            "{why}, and updatebot runs no credential helpers: log in without one (the credentials then sit in `auths`), or give `username` and `password-file`"
        )
    };
    let Some(entry) = entry else {
        return Err(match helper {
            Some(why) => refuse_helper(why),
            None => format!("no `auths` entry for `{host}`"),
        });
    };
    if !entry.is_object() {
        return Err(format!(
            "the `auths` entry for `{host}` is not a JSON object"
        ));
    }
    if let Some(auth) = text(entry, "auth") {
        let decoded = base64_decode(auth)
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .ok_or_else(|| format!("the `auth` of `{host}` is not base64 text"))?;
        let (username, password) = decoded
            .split_once(':')
            .filter(|(u, p)| !u.is_empty() && !p.is_empty())
            .ok_or_else(|| format!("the `auth` of `{host}` is not `username:password`"))?;
        return Ok(Credentials::Basic {
            username: username.to_string(),
            password: Secret::new(password),
        });
    }
    match (text(entry, "username"), text(entry, "password")) {
        (Some(username), Some(password)) => {
            return Ok(Credentials::Basic {
                username: username.to_string(),
                password: Secret::new(password),
            })
        }
        (Some(_), None) | (None, Some(_)) => {
            return Err(format!(
                "the `auths` entry for `{host}` needs both `username` and `password`"
            ))
        }
        (None, None) => {}
    }
    if let Some(token) = text(entry, "registrytoken") {
        return Ok(Credentials::Bearer {
            token: Secret::new(token),
        });
    }
    if text(entry, "identitytoken").is_some() {
        return Err(format!(
            "the `auths` entry for `{host}` holds only an `identitytoken` (an OAuth refresh token), which updatebot does not exchange: log in with a password or access token"
        ));
    }
    Err(match helper {
        Some(why) => refuse_helper(why),
        None => format!("the `auths` entry for `{host}` holds no `auth`, `username`/`password` or `registrytoken`"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap()
    }

    fn basic(c: Result<Credentials, String>) -> (String, String) {
        match c {
            Ok(Credentials::Basic { username, password }) => {
                (username, password.expose().to_string())
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn base64_decodes_with_or_without_padding() {
        for text in ["", "f", "fo", "foo", "foob", "fooba", "foobar", "a:b:c"] {
            let encoded = updatebot_core::http::base64_encode(text.as_bytes());
            assert_eq!(base64_decode(&encoded).unwrap(), text.as_bytes());
            assert_eq!(
                base64_decode(encoded.trim_end_matches('=')).unwrap(),
                text.as_bytes()
            );
        }
        assert!(base64_decode("Zm9v!").is_none());
        assert!(base64_decode("Z").is_none());
    }

    #[test]
    fn auths_entries_by_host() {
        let config = r#"{
            "auths": {
                "https://index.docker.io/v1/": {"auth": "aHViOmh1YnBhc3M="},
                "registry.example.com:5000": {"username": "robot", "password": "s3cret"},
                "http://127.0.0.1:5001": {"auth": "dXBkYXRlYm90OnA6dw=="},
                "token.example.com": {"registrytoken": "tok"}
            }
        }"#;
        assert_eq!(
            basic(credentials_for(
                config,
                &url("https://registry-1.docker.io")
            )),
            ("hub".into(), "hubpass".into())
        );
        assert_eq!(
            basic(credentials_for(
                config,
                &url("https://registry.example.com:5000/")
            )),
            ("robot".into(), "s3cret".into())
        );
        // The password may hold `:`.
        assert_eq!(
            basic(credentials_for(config, &url("http://127.0.0.1:5001"))),
            ("updatebot".into(), "p:w".into())
        );
        assert!(matches!(
            credentials_for(config, &url("https://token.example.com")),
            Ok(Credentials::Bearer { .. })
        ));
        // Another port is another registry.
        let e = credentials_for(config, &url("https://registry.example.com")).unwrap_err();
        assert_eq!(e, "no `auths` entry for `registry.example.com`");
    }

    #[test]
    fn helpers_are_refused_and_nothing_secret_shows() {
        let helpers = r#"{"auths": {"ghcr.io": {}}, "credHelpers": {"ghcr.io": "pass"}, "credsStore": "desktop"}"#;
        let e = credentials_for(helpers, &url("https://ghcr.io")).unwrap_err();
        assert!(e.contains("`docker-credential-pass`"), "{e}");
        assert!(e.contains("runs no credential helpers"), "{e}");
        let e = credentials_for(helpers, &url("https://quay.io")).unwrap_err();
        assert!(e.contains("`docker-credential-desktop`"), "{e}");
        let bad = [
            (
                r#"{"auths": {"h.io": {"auth": "bm9jb2xvbg=="}}}"#,
                "not `username:password`",
            ),
            (r#"{"auths": {"h.io": {"auth": "!!"}}}"#, "not base64"),
            (r#"{"auths": {"h.io": {"username": "u"}}}"#, "needs both"),
            (
                r#"{"auths": {"h.io": {"identitytoken": "hunter2"}}}"#,
                "identitytoken",
            ),
            (r#"{"auths": {"h.io": "hunter2"}}"#, "not a JSON object"),
            (r#"{"auths": ["hunter2"]}"#, "`auths` is not a JSON object"),
            (r#"{"auths": {"h.io": {"auth": "hunter2"#, "ends early"),
            (r#"["hunter2"]"#, "expected a JSON object"),
            ("hunter2", "does not parse"),
        ];
        for (config, expected) in bad {
            let e = credentials_for(config, &url("https://h.io")).unwrap_err();
            assert!(e.contains(expected), "{config}: {e}");
            assert!(!e.contains("hunter2"), "{e}");
        }
    }
}

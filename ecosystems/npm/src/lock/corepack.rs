//! A project's `packageManager` (`pnpm@9.15.9`, `yarn@3.8.7+sha512.<hex>`) honoured for the
//! lock tools: when it names the lock's tool at another release than the configured one, the
//! lock is written by that release, run through corepack (`lockfiles.corepack.tool`), which
//! fetches it from the project's registry into a cache of the bot's own and checks its hash.
//! Without corepack, or when the release cannot be had, the update needs that release.

use std::path::{Path, PathBuf};
use std::time::Duration;
use updatebot_core::http::{Auth, Secret};
use updatebot_core::tool::{run, IndexAccess, ToolError, ToolRun, ToolSettings};

/// The `packageManager` of a manifest, split: `pnpm@8.15.9+sha512.abc`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pin {
    /// `pnpm`, `yarn`, `npm`, …
    pub tool: String,
    pub version: String,
    /// The field as written (with its hash, if any): what corepack is asked for.
    pub spec: String,
    /// `sha512.<hex>` (or another algorithm), if the field has one.
    pub hash: Option<String>,
}

impl Pin {
    /// `pnpm@8.15.9` (no hash), for messages.
    pub fn short(&self) -> String {
        format!("{}@{}", self.tool, self.version)
    }
}

/// The `packageManager` field of a `package.json` text, if it has one of the form
/// `name@x.y.z[+hash]`.
pub fn pin_of(manifest: &str) -> Option<Pin> {
    let doc: serde_json::Value =
        serde_json::from_str(manifest.trim_start_matches('\u{feff}')).ok()?;
    parse(doc.get("packageManager")?.as_str()?)
}

/// `name@x.y.z[+sha512.<hex>]`; a range, a tag or a URL is not a pin.
pub fn parse(spec: &str) -> Option<Pin> {
    let spec = spec.trim();
    let (tool, rest) = spec.split_once('@')?;
    let (version, hash) = match rest.split_once('+') {
        Some((v, h)) => (v, Some(h)),
        None => (rest, None),
    };
    let hash_ok = hash.is_none_or(|h| {
        h.split_once('.').is_some_and(|(algo, hex)| {
            !algo.is_empty()
                && algo.chars().all(|c| c.is_ascii_alphanumeric())
                && !hex.is_empty()
                && hex.chars().all(|c| c.is_ascii_hexdigit())
        })
    });
    let exact = hash_ok
        && !tool.is_empty()
        && tool
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && version.split('-').next().is_some_and(|core| {
            core.split('.').count() == 3 && core.split('.').all(|n| n.parse::<u64>().is_ok())
        })
        && version
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
    exact.then(|| Pin {
        tool: tool.to_string(),
        version: version.to_string(),
        spec: spec.to_string(),
        hash: hash.map(str::to_string),
    })
}

/// Where corepack keeps the releases it fetched: `$XDG_CACHE_HOME/updatebot/corepack`, else
/// `~/.cache/updatebot/corepack` of the bot (not the tool's throw-away home). A pin with a
/// hash gets a cache of its own, `pinned/<hash>`: corepack checks the hash only when it
/// downloads, and would run a release cached earlier under another hash (or none).
fn home(pin: &Pin) -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|h| PathBuf::from(h).join(".cache"))
        })?;
    let shared = base.join("updatebot").join("corepack");
    Some(match &pin.hash {
        Some(hash) => shared.join("pinned").join(hash),
        None => shared,
    })
}

/// The environment corepack runs with: its cache, no prompt, no pinning, the project's
/// registry (with the credentials configured for that registry's host only), and the
/// operator's `integrity-keys`.
pub fn env(
    settings: &ToolSettings,
    registry: &IndexAccess,
    pin: &Pin,
) -> (Vec<(String, String)>, Vec<Secret>) {
    let mut env = vec![
        (
            "COREPACK_ENABLE_DOWNLOAD_PROMPT".to_string(),
            "0".to_string(),
        ),
        ("COREPACK_ENABLE_AUTO_PIN".to_string(), "0".to_string()),
        ("COREPACK_ENABLE_STRICT".to_string(), "0".to_string()),
        (
            "COREPACK_NPM_REGISTRY".to_string(),
            registry.url.trim_end_matches('/').to_string(),
        ),
    ];
    if let Some(home) = home(pin) {
        env.push((
            "COREPACK_HOME".to_string(),
            home.to_string_lossy().into_owned(),
        ));
    }
    if let Some(keys) = &settings.integrity_keys {
        env.push(("COREPACK_INTEGRITY_KEYS".to_string(), keys.clone()));
    }
    let mut secrets = Vec::new();
    match &registry.auth {
        Some(Auth::Bearer(token)) => {
            env.push(("COREPACK_NPM_TOKEN".to_string(), token.expose().to_string()));
            secrets.push(token.clone());
        }
        Some(Auth::Basic { username, password }) => {
            env.push(("COREPACK_NPM_USERNAME".to_string(), username.clone()));
            env.push((
                "COREPACK_NPM_PASSWORD".to_string(),
                password.expose().to_string(),
            ));
            secrets.push(password.clone());
        }
        None => {}
    }
    (env, secrets)
}

/// Ask corepack for `pin` (fetching it when not cached) and return the version it runs, or
/// why it cannot be had.
pub async fn obtain(
    program: &Path,
    pin: &Pin,
    env: &[(String, String)],
    secrets: &[Secret],
    timeout: Duration,
) -> Result<String, String> {
    if let Some(home) = env
        .iter()
        .find(|(k, _)| k == "COREPACK_HOME")
        .map(|(_, v)| PathBuf::from(v))
    {
        std::fs::create_dir_all(&home)
            .map_err(|e| format!("cannot create `{}`: {e}", home.display()))?;
    }
    let job = ToolRun {
        program: program.to_path_buf(),
        args: vec![pin.spec.clone(), "--version".into()],
        env: env.to_vec(),
        secrets: secrets.to_vec(),
        timeout,
        ..ToolRun::default()
    };
    let out = run(&job, &[]).await.map_err(|e| match &e {
        // node prints the thrown error after its stack: the `Error: …` line says it all.
        ToolError::Failed { output, .. } => output
            .lines()
            .map(str::trim)
            .find(|l| l.starts_with("Error:") || l.starts_with("Usage Error:"))
            .map(|l| format!("`{}`: {l}", program.display()))
            .unwrap_or_else(|| e.to_string()),
        _ => e.to_string(),
    })?;
    let version = out
        .stdout
        .split_whitespace()
        .find(|w| w.chars().next().is_some_and(|c| c.is_ascii_digit()))
        .unwrap_or("")
        .to_string();
    if version != pin.version {
        return Err(format!(
            "`{} {} --version` printed `{}`",
            program.display(),
            pin.spec,
            out.stdout.trim()
        ));
    }
    Ok(version)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_names_the_registry_with_its_own_credentials_only() {
        let pin = parse("pnpm@8.15.9").unwrap();
        let settings = ToolSettings {
            integrity_keys: Some("0".into()),
            ..ToolSettings::default()
        };
        let get = |env: &[(String, String)], key: &str| {
            env.iter()
                .rev()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.clone())
        };
        let open = IndexAccess {
            url: "https://npm.example/repo/".into(),
            auth: None,
        };
        let (env, secrets) = env(&ToolSettings::default(), &open, &pin);
        assert_eq!(
            get(&env, "COREPACK_NPM_REGISTRY").as_deref(),
            Some("https://npm.example/repo")
        );
        assert_eq!(get(&env, "COREPACK_INTEGRITY_KEYS"), None);
        assert_eq!(get(&env, "COREPACK_NPM_TOKEN"), None);
        assert_eq!(
            get(&env, "COREPACK_ENABLE_DOWNLOAD_PROMPT").as_deref(),
            Some("0")
        );
        assert!(secrets.is_empty());
        let private = IndexAccess {
            url: "https://npm.example/repo".into(),
            auth: Some(Auth::Bearer(Secret::new("s3cret"))),
        };
        let (env, secrets) = super::env(&settings, &private, &pin);
        assert_eq!(get(&env, "COREPACK_NPM_TOKEN").as_deref(), Some("s3cret"));
        assert_eq!(get(&env, "COREPACK_INTEGRITY_KEYS").as_deref(), Some("0"));
        assert_eq!(secrets, vec![Secret::new("s3cret")]);
    }

    #[test]
    fn pins_are_exact_versions_with_an_optional_hash() {
        let p = parse("pnpm@8.15.9+sha512.abc123").unwrap();
        assert_eq!((p.tool.as_str(), p.version.as_str()), ("pnpm", "8.15.9"));
        assert_eq!(p.spec, "pnpm@8.15.9+sha512.abc123");
        assert_eq!(p.short(), "pnpm@8.15.9");
        assert_eq!(p.hash.as_deref(), Some("sha512.abc123"));
        assert_eq!(parse("pnpm@8.15.9").unwrap().hash, None);
        assert_eq!(parse("yarn@4.0.0-rc.1").unwrap().version, "4.0.0-rc.1");
        for bad in [
            "pnpm",
            "pnpm@^9",
            "pnpm@latest",
            "@pnpm@1.2.3",
            "pnpm@9.1",
            "pnpm@9.1.0+sha512",
            "pnpm@9.1.0+sha512.x/../y",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
        assert_eq!(
            pin_of(r#"{"packageManager": "npm@10.8.2"}"#).unwrap().tool,
            "npm"
        );
        assert_eq!(pin_of(r#"{"name": "x"}"#), None);
    }
}

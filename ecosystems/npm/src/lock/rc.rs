//! What npm, yarn and pnpm are told in a sandboxed run: the registries the run looks packages
//! up in, with only the credentials configured for each one's host, written into the tool's
//! temporary home (`~/.npmrc`, berry's `~/.yarnrc.yml`) — never into the copy of the project —
//! and the project's own settings files cut down to the keys that shape the lock.

use updatebot_core::http::{Auth, Secret};
use updatebot_core::tool::IndexAccess;

/// The registries of one run: the default one and those of scopes (`@acme`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Registries {
    pub default: IndexAccess,
    pub scopes: Vec<(String, IndexAccess)>,
}

fn with_slash(url: &str) -> String {
    if url.ends_with('/') {
        url.to_string()
    } else {
        format!("{url}/")
    }
}

/// npm's "nerf dart" of a registry URL: `//host:port/path/`, the key its credentials are
/// written under.
pub fn nerf_dart(url: &str) -> Option<String> {
    let parsed = url::Url::parse(url).ok()?;
    let host = parsed.host_str()?;
    let port = parsed.port().map(|p| format!(":{p}")).unwrap_or_default();
    let path = with_slash(parsed.path());
    Some(format!("//{host}{port}{path}"))
}

fn base64(text: &str) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes = text.as_bytes();
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(TABLE[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

impl Registries {
    fn all(&self) -> impl Iterator<Item = &IndexAccess> {
        std::iter::once(&self.default).chain(self.scopes.iter().map(|(_, a)| a))
    }

    /// The secrets the tool is given (to scrub from its output).
    pub fn secrets(&self) -> Vec<Secret> {
        self.all().flat_map(IndexAccess::secrets).collect()
    }

    /// `~/.npmrc` for npm, yarn 1 and pnpm.
    pub fn npmrc(&self) -> String {
        let mut out = String::from("# Written by updatebot for one sandboxed run.\n");
        out.push_str(&format!("registry={}\n", with_slash(&self.default.url)));
        for (scope, access) in &self.scopes {
            out.push_str(&format!("{scope}:registry={}\n", with_slash(&access.url)));
        }
        let mut done = Vec::new();
        for access in self.all() {
            let (Some(auth), Some(dart)) = (&access.auth, nerf_dart(&access.url)) else {
                continue;
            };
            if done.contains(&dart) {
                continue;
            }
            match auth {
                Auth::Bearer(token) => {
                    out.push_str(&format!("{dart}:_authToken={}\n", token.expose()))
                }
                Auth::Basic { username, password } => {
                    out.push_str(&format!("{dart}:username={username}\n"));
                    out.push_str(&format!("{dart}:_password={}\n", base64(password.expose())));
                }
            }
            done.push(dart);
        }
        out.push_str("fund=false\naudit=false\nupdate-notifier=false\n");
        out
    }

    /// `~/.yarnrc.yml` for yarn berry. `age_gate`: the yarn knows `npmMinimalAgeGate`
    /// (4.10+), which is set to 0: which release to take is updatebot's decision
    /// (`cooldown`), not the tool's.
    pub fn yarnrc(&self, age_gate: bool) -> String {
        let q = |s: &str| serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into());
        let server = |url: &str| url.trim_end_matches('/').to_string();
        let mut out = String::from("# Written by updatebot for one sandboxed run.\n");
        out.push_str(&format!(
            "npmRegistryServer: {}\n",
            q(&server(&self.default.url))
        ));
        if age_gate {
            out.push_str("npmMinimalAgeGate: 0\n");
        }
        let mut http_hosts: Vec<String> = self
            .all()
            .filter_map(|a| url::Url::parse(&a.url).ok())
            .filter(|u| u.scheme() == "http")
            .filter_map(|u| u.host_str().map(str::to_string))
            .collect();
        http_hosts.sort();
        http_hosts.dedup();
        if !http_hosts.is_empty() {
            out.push_str("unsafeHttpWhitelist:\n");
            for host in http_hosts {
                out.push_str(&format!("  - {}\n", q(&host)));
            }
        }
        if !self.scopes.is_empty() {
            out.push_str("npmScopes:\n");
            for (scope, access) in &self.scopes {
                out.push_str(&format!("  {}:\n", q(scope.trim_start_matches('@'))));
                out.push_str(&format!(
                    "    npmRegistryServer: {}\n",
                    q(&server(&access.url))
                ));
                if age_gate {
                    out.push_str("    npmMinimalAgeGate: 0\n");
                }
            }
        }
        let mut registries = String::new();
        let mut done = Vec::new();
        for access in self.all() {
            let Some(auth) = &access.auth else { continue };
            let key = server(&access.url);
            if done.contains(&key) {
                continue;
            }
            registries.push_str(&format!("  {}:\n", q(&key)));
            match auth {
                Auth::Bearer(token) => {
                    registries.push_str(&format!("    npmAuthToken: {}\n", q(token.expose())))
                }
                Auth::Basic { username, password } => registries.push_str(&format!(
                    "    npmAuthIdent: {}\n",
                    q(&format!("{username}:{}", password.expose()))
                )),
            }
            registries.push_str("    npmAlwaysAuth: true\n");
            done.push(key);
        }
        if !registries.is_empty() {
            out.push_str("npmRegistries:\n");
            out.push_str(&registries);
        }
        out
    }
}

/// `.npmrc` keys of a project that shape what npm or pnpm write into the lock; every other
/// line (registries, credentials, scripts, shells, paths, proxies, `${ENV}` values) is left out.
const NPMRC_KEEP: &[&str] = &[
    "legacy-peer-deps",
    "strict-peer-deps",
    "install-strategy",
    "install-links",
    "omit",
    "include",
    "optional",
    "auto-install-peers",
    "strict-peer-dependencies",
    "dedupe-peer-dependents",
    "resolve-peers-from-workspace-root",
    "exclude-links-from-lockfile",
    "lockfile-include-tarball-url",
    "link-workspace-packages",
    "prefer-workspace-packages",
    "shared-workspace-lockfile",
    "save-workspace-protocol",
    "dedupe-direct-deps",
    "dedupe-injected-deps",
    "peers-suffix-max-length",
    "inject-workspace-packages",
    "resolution-mode",
    "node-linker",
    "include-workspace-root",
    "disallow-workspace-cycles",
];

/// A project `.npmrc` cut down to [`NPMRC_KEEP`].
pub fn project_npmrc(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let t = line.trim();
        let Some((key, value)) = t.split_once('=') else {
            continue;
        };
        let key = key.trim();
        if value.contains("${") || !NPMRC_KEEP.contains(&key) {
            continue;
        }
        out.push_str(&format!("{key}={}\n", value.trim()));
    }
    out
}

/// `.yarnrc.yml` keys of a project that shape what yarn berry writes into the lock. Plugins,
/// `yarnPath`, scripts, registries and credentials, and release-age gates are left out.
const YARNRC_KEEP: &[&str] = &[
    "compressionLevel",
    "checksumBehavior",
    "packageExtensions",
    "defaultProtocol",
    "defaultSemverRangePrefix",
    "enableTransparentWorkspaces",
    "supportedArchitectures",
    "catalog",
    "catalogs",
    "nodeLinker",
    "cacheKeyOverride",
];

/// A project `.yarnrc.yml` cut down to the top-level blocks of [`YARNRC_KEEP`].
pub fn project_yarnrc(text: &str) -> String {
    let mut out = String::new();
    let mut keep = false;
    for line in text.split_inclusive('\n') {
        let indented = line.starts_with([' ', '\t']);
        let blank = line.trim().is_empty() || line.trim_start().starts_with('#');
        if !indented && !blank {
            let key = line
                .split(':')
                .next()
                .unwrap_or("")
                .trim()
                .trim_matches(['"', '\'']);
            keep = YARNRC_KEEP.contains(&key);
        }
        if keep && !blank {
            out.push_str(line);
            if !line.ends_with('\n') {
                out.push('\n');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn access(url: &str, auth: Option<Auth>) -> IndexAccess {
        IndexAccess {
            url: url.into(),
            auth,
        }
    }

    #[test]
    fn credentials_go_under_their_own_registry() {
        let registries = Registries {
            default: access("http://127.0.0.1:4873/", None),
            scopes: vec![(
                "@acme".into(),
                access(
                    "https://gitlab.example/api/v4/packages/npm",
                    Some(Auth::Bearer(Secret::new("tok"))),
                ),
            )],
        };
        let npmrc = registries.npmrc();
        assert!(
            npmrc.contains("registry=http://127.0.0.1:4873/\n"),
            "{npmrc}"
        );
        assert!(npmrc.contains("@acme:registry=https://gitlab.example/api/v4/packages/npm/\n"));
        assert!(npmrc.contains("//gitlab.example/api/v4/packages/npm/:_authToken=tok\n"));
        assert_eq!(npmrc.matches("tok").count(), 1);
        let yarnrc = registries.yarnrc(true);
        assert!(
            yarnrc.contains("npmRegistryServer: \"http://127.0.0.1:4873\"\n"),
            "{yarnrc}"
        );
        assert!(yarnrc.contains("unsafeHttpWhitelist:\n  - \"127.0.0.1\"\n"));
        assert!(yarnrc.contains("  \"acme\":\n    npmRegistryServer: \"https://gitlab.example/api/v4/packages/npm\"\n    npmMinimalAgeGate: 0\n"));
        assert!(yarnrc.contains("npmRegistries:\n  \"https://gitlab.example/api/v4/packages/npm\":\n    npmAuthToken: \"tok\"\n"));
        assert!(!registries.yarnrc(false).contains("AgeGate"));
        assert_eq!(registries.secrets().len(), 1);
        let basic = Registries {
            default: access(
                "https://npm.example/",
                Some(Auth::Basic {
                    username: "bot".into(),
                    password: Secret::new("p@ss"),
                }),
            ),
            scopes: Vec::new(),
        };
        let npmrc = basic.npmrc();
        assert!(
            npmrc.contains("//npm.example/:username=bot\n//npm.example/:_password=cEBzcw==\n"),
            "{npmrc}"
        );
        assert!(basic.yarnrc(false).contains("npmAuthIdent: \"bot:p@ss\""));
    }

    #[test]
    fn project_settings_keep_only_what_shapes_the_lock() {
        let npmrc = project_npmrc("registry=https://evil.example/\n//evil.example/:_authToken=x\nauto-install-peers = false\nscript-shell=/bin/evil\nlegacy-peer-deps=${X}\nnode-linker=hoisted\n");
        assert_eq!(npmrc, "auto-install-peers=false\nnode-linker=hoisted\n");
        let yarnrc = project_yarnrc("yarnPath: .yarn/releases/yarn-4.5.3.cjs\nplugins:\n  - path: .yarn/plugins/x.cjs\ncompressionLevel: mixed\npackageExtensions:\n  \"a@*\":\n    dependencies:\n      b: \"*\"\n\nnpmAuthToken: secret\nenableScripts: true\n");
        assert_eq!(
            yarnrc,
            "compressionLevel: mixed\npackageExtensions:\n  \"a@*\":\n    dependencies:\n      b: \"*\"\n"
        );
    }
}

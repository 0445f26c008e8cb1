//! The operator config (`--config FILE`): registries with credentials, defaults, HTTP.

use std::collections::BTreeMap;
use std::io;
use std::path::Path;

use url::Url;

use super::enums::RegistryKind;
use super::keys::{DOCKER_CONFIG_FILE, HTTP_KEYS, OPERATOR_REGISTRY_KEYS, OPERATOR_TOP_KEYS};
use super::problem::{show, ConfigErrors};
use super::registry;
use super::settings::{defaults_keys, parse_settings, UpdateSettings};
use super::walk::{place, Field, Fields, KeySet, Walker};

#[cfg(test)]
mod lockfile_tests {
    use super::load_operator_config;
    use updatebot_core::tool::Engine;

    #[test]
    fn lockfile_settings_parse_and_report_problems() {
        let text = "lockfiles:\n  poetry.lock:\n    engine: tool\n    tool: /opt/poetry/bin/poetry\n    timeout-seconds: 60\n    insecure-external-code-execution: allow\n  uv.lock:\n    engine: native\n";
        let config = load_operator_config(text, &|_| None, &|_| {
            Err(std::io::ErrorKind::NotFound.into())
        })
        .unwrap();
        let poetry = &config.lockfiles["poetry.lock"];
        assert_eq!(poetry.engine, Engine::Tool);
        assert_eq!(
            poetry.program.as_deref(),
            Some(std::path::Path::new("/opt/poetry/bin/poetry"))
        );
        assert_eq!(poetry.timeout.as_secs(), 60);
        assert!(poetry.allow_code_execution);
        assert_eq!(config.lockfiles["uv.lock"].engine, Engine::Native);
        assert!(!config.lockfiles["uv.lock"].allow_code_execution);
        let bad = "lockfiles:\n  bun.lockb: {}\n  uv.lock:\n    engine: fast\n    insecure-external-code-execution: maybe\n";
        let text =
            load_operator_config(
                bad,
                &|_| None,
                &|_| Err(std::io::ErrorKind::NotFound.into()),
            )
            .unwrap_err()
            .to_string();
        assert!(text.contains("bun.lockb"), "{text}");
        assert!(text.contains("`fast` is not one of"), "{text}");
        assert!(text.contains("`maybe` is not one of"), "{text}");
    }

    #[test]
    fn corepack_takes_integrity_keys_and_no_other_kind_does() {
        let load = |text: &str| {
            load_operator_config(text, &|_| None, &|_| {
                Err(std::io::ErrorKind::NotFound.into())
            })
        };
        let config =
            load("lockfiles:\n  corepack: {tool: /opt/corepack, integrity-keys: \"0\"}\n").unwrap();
        let corepack = &config.lockfiles["corepack"];
        assert_eq!(
            corepack.program.as_deref(),
            Some(std::path::Path::new("/opt/corepack"))
        );
        assert_eq!(corepack.integrity_keys.as_deref(), Some("0"));
        let text = load("lockfiles:\n  pnpm-lock.yaml: {integrity-keys: \"0\"}\n")
            .unwrap_err()
            .to_string();
        assert!(
            text.contains(
                "lockfiles.pnpm-lock.yaml.integrity-keys: only `lockfiles.corepack` takes it"
            ),
            "{text}"
        );
    }
}
use super::yaml;

/// A credential read from the environment or a file: core's [`Secret`], which prints as
/// `***`, has no `Serialize`, and gives its text only through [`Secret::expose`].
pub use updatebot_core::http::Secret;

#[derive(Debug, Clone)]
pub enum Credentials {
    /// HTTP basic authentication (PyPI-style `__token__` + token, Docker registries).
    Basic { username: String, password: Secret },
    /// A bearer token (npm registries, GitLab package registries).
    Bearer { token: Secret },
}

/// `registries.<name>` in the operator config.
#[derive(Debug, Clone)]
pub struct OperatorRegistry {
    pub kind: RegistryKind,
    pub url: Url,
    pub replaces_base: bool,
    /// `None`: an anonymous registry (a mirror, say).
    pub credentials: Option<Credentials>,
}

/// `http:`: how registries and GitLab are asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpSettings {
    /// One whole exchange: connecting, sending, reading the answer.
    pub timeout_seconds: u32,
    pub connect_timeout_seconds: u32,
    /// Retries after the first attempt.
    pub retries: u32,
    /// Total wait between the attempts of one request.
    pub max_retry_wait_seconds: u32,
    /// Requests in flight at once to one host.
    pub per_host_concurrency: u32,
    /// Failed requests in a row that make a host unavailable (0: never).
    pub circuit_breaker_failures: u32,
    /// How long an unavailable host is left alone before it is tried again.
    pub circuit_breaker_seconds: u32,
    /// Keep registry answers here across runs, revalidated with `ETag` / `Last-Modified`
    /// (`None`: only the run's in-memory cache).
    pub cache_dir: Option<std::path::PathBuf>,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            timeout_seconds: 30,
            connect_timeout_seconds: 10,
            retries: 3,
            max_retry_wait_seconds: 60,
            per_host_concurrency: 8,
            circuit_breaker_failures: 5,
            circuit_breaker_seconds: 300,
            cache_dir: None,
        }
    }
}

pub const MAX_TIMEOUT_SECONDS: u64 = 3600;
pub const MAX_RETRIES: u64 = 20;
pub const MAX_PER_HOST: u64 = 256;
pub const MAX_CIRCUIT_FAILURES: u64 = 1000;

#[derive(Debug, Clone, Default)]
pub struct OperatorConfig {
    pub registries: BTreeMap<String, OperatorRegistry>,
    /// Applied under every repository entry (the repository's values win).
    pub defaults: UpdateSettings,
    pub http: HttpSettings,
    /// The GitLab instance and the bot's token (`updatebot run`).
    pub gitlab: Option<super::fleet::GitlabSettings>,
    /// Which projects a fleet run walks.
    pub fleet: super::fleet::FleetSettings,
    /// How the bot names and marks what it creates.
    pub bot: super::fleet::BotSettings,
    /// Per kind of lockfile (`poetry.lock`, `uv.lock`, `Pipfile.lock`, `pip-compile`,
    /// `yarn.lock`, `yarn-berry`, `pnpm-lock.yaml`, `package-lock.json`): engine,
    /// tool path, time limit, code execution. Kinds not named get the defaults.
    pub lockfiles: BTreeMap<String, updatebot_core::tool::ToolSettings>,
}

/// Parses the operator config and reads every secret it names.
///
/// `env` looks up an environment variable and `read_file` reads a file (relative paths are
/// the caller's to resolve), so tests need no global state. A secret loses one trailing
/// newline. A missing variable, unreadable file or empty secret is a problem naming the
/// registry and the variable or file, never the value.
pub fn load_operator_config(
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
    read_file: &dyn Fn(&Path) -> io::Result<String>,
) -> Result<OperatorConfig, ConfigErrors> {
    let (root, mut problems) = yaml::parse(text);
    let Some(root) = root else {
        if problems.is_empty() {
            // An empty operator config is valid: no registries, no defaults.
            return Ok(OperatorConfig::default());
        }
        return Err(ConfigErrors::new(problems));
    };
    let mut w = Walker::default();
    let sources = Sources { env, read_file };
    let config = read_root(&mut w, &root, &sources);
    problems.append(&mut w.problems);
    match config {
        Some(c) if problems.is_empty() => Ok(c),
        _ => Err(ConfigErrors::new(problems)),
    }
}

pub(super) struct Sources<'s> {
    env: &'s dyn Fn(&str) -> Option<String>,
    read_file: &'s dyn Fn(&Path) -> io::Result<String>,
}

fn read_root(w: &mut Walker, root: &yaml::Node, sources: &Sources<'_>) -> Option<OperatorConfig> {
    let top = w.map(root, "", &KeySet::new(OPERATOR_TOP_KEYS))?;
    let mut config = OperatorConfig::default();
    if let Some(f) = top.get("registries") {
        for (name, _, def) in registry::named_entries(w, f, "registries") {
            if let Some(r) = operator_registry(w, def, &format!("registries.{name}"), name, sources)
            {
                config.registries.insert(name.to_owned(), r);
            }
        }
    }
    if let Some(f) = top.get("defaults") {
        if let Some(df) = w.map(f.value, "defaults", &defaults_keys()) {
            config.defaults = parse_settings(w, &df);
        }
    }
    if let Some(f) = top.get("http") {
        if let Some(hf) = w.map(f.value, "http", &KeySet::new(HTTP_KEYS)) {
            read_http(w, &hf, &mut config.http);
        }
    }
    if let Some(f) = top.get("gitlab") {
        config.gitlab = super::fleet::gitlab(w, f, sources);
    }
    if let Some(f) = top.get("fleet") {
        config.fleet = super::fleet::fleet(w, f);
    }
    if let Some(f) = top.get("bot") {
        if let Some(bot) = super::fleet::bot(w, f) {
            config.bot = bot;
        }
    }
    if let Some(f) = top.get("lockfiles") {
        config.lockfiles = lockfiles(w, f);
    }
    Some(config)
}

/// The `http` keys: each an integer within its bounds; durations and the slot count at
/// least 1.
fn read_http(w: &mut Walker, hf: &Fields<'_>, http: &mut HttpSettings) {
    if let Some(f) = hf.get("cache-dir") {
        http.cache_dir = w.string(f).map(std::path::PathBuf::from);
    }
    let keys: [(&str, u64, u64, &mut u32); 7] = [
        (
            "timeout-seconds",
            1,
            MAX_TIMEOUT_SECONDS,
            &mut http.timeout_seconds,
        ),
        (
            "connect-timeout-seconds",
            1,
            MAX_TIMEOUT_SECONDS,
            &mut http.connect_timeout_seconds,
        ),
        ("retries", 0, MAX_RETRIES, &mut http.retries),
        (
            "max-retry-wait-seconds",
            0,
            MAX_TIMEOUT_SECONDS,
            &mut http.max_retry_wait_seconds,
        ),
        (
            "per-host-concurrency",
            1,
            MAX_PER_HOST,
            &mut http.per_host_concurrency,
        ),
        (
            "circuit-breaker-failures",
            0,
            MAX_CIRCUIT_FAILURES,
            &mut http.circuit_breaker_failures,
        ),
        (
            "circuit-breaker-seconds",
            1,
            86_400,
            &mut http.circuit_breaker_seconds,
        ),
    ];
    for (key, min, max, slot) in keys {
        let Some(f) = hf.get(key) else { continue };
        match w.uint(f, max) {
            Some(v) if v < min => {
                w.problem(f.value.pos, format!("http.{key}: must be at least {min}"))
            }
            Some(v) => *slot = u32::try_from(v).unwrap_or(u32::MAX),
            None => {}
        }
    }
}

/// `lockfiles:`: `<kind>: {engine, tool, timeout-seconds, insecure-external-code-execution}`.
fn lockfiles(w: &mut Walker, f: Field<'_>) -> BTreeMap<String, updatebot_core::tool::ToolSettings> {
    use super::keys::{LOCKFILE_KEYS, LOCKFILE_KINDS};
    use updatebot_core::tool::{Engine, ToolSettings};
    let mut out = BTreeMap::new();
    let Some(kinds) = w.map(f.value, "lockfiles", &KeySet::new(LOCKFILE_KINDS)) else {
        return out;
    };
    for kind in LOCKFILE_KINDS {
        let Some(entry) = kinds.get(kind) else {
            continue;
        };
        let path = format!("lockfiles.{kind}");
        let Some(fields) = w.map(entry.value, &path, &KeySet::new(LOCKFILE_KEYS)) else {
            continue;
        };
        let mut settings = ToolSettings::default();
        if let Some(e) = fields.get("engine") {
            if let Some(text) = w.string(e) {
                match Engine::parse(&text) {
                    Some(engine) => settings.engine = engine,
                    None => w.problem(
                        e.value.pos,
                        format!("{path}.engine: `{text}` is not one of `native`, `tool`, `auto`"),
                    ),
                }
            }
        }
        if let Some(t) = fields.get("tool").and_then(|t| w.string(t)) {
            settings.program = Some(std::path::PathBuf::from(t));
        }
        if let Some(t) = fields.get("timeout-seconds") {
            match w.uint(t, MAX_TIMEOUT_SECONDS) {
                Some(0) => w.problem(
                    t.value.pos,
                    format!("{path}.timeout-seconds: must be at least 1"),
                ),
                Some(s) => settings.timeout = std::time::Duration::from_secs(s),
                None => {}
            }
        }
        if let Some(c) = fields.get("insecure-external-code-execution") {
            match w.string(c).as_deref() {
                Some("allow") => settings.allow_code_execution = true,
                Some("deny") => settings.allow_code_execution = false,
                Some(other) => w.problem(
                    c.value.pos,
                    format!("{path}.insecure-external-code-execution: `{other}` is not one of `allow`, `deny`"),
                ),
                None => {}
            }
        }
        if let Some(k) = fields.get("integrity-keys") {
            if *kind != "corepack" {
                w.problem(
                    k.value.pos,
                    format!("{path}.integrity-keys: only `lockfiles.corepack` takes it"),
                );
            } else if let Some(text) = w.string(k) {
                settings.integrity_keys = Some(text);
            }
        }
        out.insert(kind.to_string(), settings);
    }
    out
}

const LITERAL_REFUSALS: &[(&str, &str)] = &[
    (
        "password",
        "write `password-env` or `password-file` so the secret stays out of the file",
    ),
    (
        "token",
        "write `token-env` or `token-file` so the secret stays out of the file",
    ),
];

fn operator_registry(
    w: &mut Walker,
    def: &yaml::Node,
    path: &str,
    name: &str,
    sources: &Sources<'_>,
) -> Option<OperatorRegistry> {
    let keys = KeySet {
        allowed: OPERATOR_REGISTRY_KEYS,
        refused: LITERAL_REFUSALS,
        free: false,
    };
    let fields = w.map(def, path, &keys)?;
    let location = registry::location(w, &fields);
    let credentials = match fields.get(DOCKER_CONFIG_FILE) {
        Some(f) => docker_config(w, &fields, f, location.as_ref(), name, sources),
        None => credentials(w, &fields, name, sources),
    };
    let location = location?;
    Some(OperatorRegistry {
        kind: location.kind,
        url: location.url,
        replaces_base: location.replaces_base,
        credentials: credentials?,
    })
}

/// `docker-config-file`: the credentials a Docker `config.json` holds for this registry's
/// host, instead of `username`/`password-*`/`token-*`. `None`: a problem was reported.
fn docker_config(
    w: &mut Walker,
    fields: &Fields<'_>,
    f: Field<'_>,
    location: Option<&registry::Location>,
    name: &str,
    sources: &Sources<'_>,
) -> Option<Option<Credentials>> {
    let here = place(fields.path);
    let others: Vec<String> = OPERATOR_REGISTRY_KEYS
        .iter()
        .filter(|k| {
            k.starts_with("username") || k.starts_with("password") || k.starts_with("token")
        })
        .filter(|k| fields.get(k).is_some())
        .map(|k| format!("`{k}`"))
        .collect();
    if !others.is_empty() {
        let msg = format!(
            "give either `{DOCKER_CONFIG_FILE}` or {} {here}, not both",
            others.join(", ")
        );
        w.problem(f.key_pos, msg);
        return None;
    }
    let location = location?;
    if location.kind != RegistryKind::DockerRegistry {
        let msg = format!(
            "`{DOCKER_CONFIG_FILE}` {here} is for registries of type `docker-registry`, not `{}`",
            location.kind
        );
        w.problem(f.key_pos, msg);
        return None;
    }
    let source = w.string(f)?;
    let text = match (sources.read_file)(Path::new(&source)) {
        Ok(text) => text,
        Err(e) => {
            let msg = format!(
                "registry `{name}`: cannot read file `{}` (from `{DOCKER_CONFIG_FILE}`): {}",
                show(&source),
                e.kind()
            );
            w.problem(f.value.pos, msg);
            return None;
        }
    };
    match super::docker_config::credentials_for(&text, &location.url) {
        Ok(credentials) => Some(Some(credentials)),
        Err(why) => {
            let msg = format!(
                "registry `{name}`: `{}` (from `{DOCKER_CONFIG_FILE}`): {why}",
                show(&source)
            );
            w.problem(f.value.pos, msg);
            None
        }
    }
}

/// `Some(None)`: no credentials; `None`: a problem was reported.
fn credentials(
    w: &mut Walker,
    fields: &Fields<'_>,
    name: &str,
    sources: &Sources<'_>,
) -> Option<Option<Credentials>> {
    let username = exclusive(w, fields, &["username", "username-env", "username-file"])?;
    let password = exclusive(w, fields, &["password-env", "password-file"])?;
    let token = exclusive(w, fields, &["token-env", "token-file"])?;
    let here = place(fields.path);
    match (username, password, token) {
        (None, None, None) => Some(None),
        (None, None, Some(t)) => {
            let token = read_secret(w, t, &format!("registry `{name}`"), sources)?;
            Some(Some(Credentials::Bearer { token }))
        }
        (Some(u), Some(p), None) => {
            let username = if u.key == "username" {
                w.string(u)
            } else {
                read_secret(w, u, &format!("registry `{name}`"), sources)
                    .map(|s| s.expose().to_string())
            };
            let password = read_secret(w, p, &format!("registry `{name}`"), sources);
            Some(Some(Credentials::Basic {
                username: username?,
                password: password?,
            }))
        }
        (_, _, Some(t)) => {
            let msg = format!("give either a token or a username and password {here}, not both");
            w.problem(t.key_pos, msg);
            None
        }
        (Some(u), None, None) => {
            let msg = format!("`{}` {here} needs `password-env` or `password-file`", u.key);
            w.problem(u.key_pos, msg);
            None
        }
        (None, Some(p), None) => {
            let msg = format!(
                "`{}` {here} needs `username`, `username-env` or `username-file`",
                p.key
            );
            w.problem(p.key_pos, msg);
            None
        }
    }
}

/// At most one of `keys` may be given. `Some(None)`: none given; `None`: more than one.
fn exclusive<'a>(
    w: &mut Walker,
    fields: &Fields<'a>,
    keys: &[&'a str],
) -> Option<Option<Field<'a>>> {
    let given: Vec<Field<'a>> = keys.iter().filter_map(|k| fields.get(k)).collect();
    if given.len() > 1 {
        let names: Vec<String> = given.iter().map(|f| format!("`{}`", f.key)).collect();
        let msg = format!(
            "give only one of {} {}",
            names.join(", "),
            place(fields.path)
        );
        w.problem(given[1].key_pos, msg);
        return None;
    }
    Some(given.into_iter().next())
}

/// Reads the secret that an `*-env` or `*-file` key names.
pub(super) fn read_secret(
    w: &mut Walker,
    f: Field<'_>,
    owner: &str,
    sources: &Sources<'_>,
) -> Option<Secret> {
    let source = w.string(f)?;
    let from_env = f.key.ends_with("-env");
    let value = if from_env {
        match (sources.env)(&source) {
            Some(v) => v,
            None => {
                let msg = format!(
                    "{owner}: environment variable `{}` (from `{}`) is not set",
                    show(&source),
                    f.key
                );
                w.problem(f.value.pos, msg);
                return None;
            }
        }
    } else {
        match (sources.read_file)(Path::new(&source)) {
            Ok(v) => v,
            Err(e) => {
                let msg = format!(
                    "{owner}: cannot read file `{}` (from `{}`): {}",
                    show(&source),
                    f.key,
                    e.kind()
                );
                w.problem(f.value.pos, msg);
                return None;
            }
        }
    };
    let trimmed = value
        .strip_suffix("\r\n")
        .or_else(|| value.strip_suffix('\n'))
        .unwrap_or(&value);
    if trimmed.is_empty() {
        let what = if from_env {
            "environment variable"
        } else {
            "file"
        };
        let msg = format!(
            "{owner}: {what} `{}` (from `{}`) is empty",
            show(&source),
            f.key
        );
        w.problem(f.value.pos, msg);
        return None;
    }
    Some(Secret::new(trimmed))
}

//! Tests over whole files: the examples in `config/`, the bad-input fixtures in
//! `fixtures/config/`, and the JSON schema.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use super::*;

mod schema;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Problems as `expected.txt` holds them: one `Display` line each.
fn problem_lines(result: Result<RepoConfig, ConfigErrors>) -> String {
    match result {
        Ok(c) => {
            let mut s = String::from("(no problems)\n");
            for w in &c.warnings {
                s.push_str(&format!("warning: {w}\n"));
            }
            s
        }
        Err(e) => format!("{e}\n"),
    }
}

pub(super) fn problems(text: &str) -> Vec<String> {
    match parse_repo_config(text) {
        Ok(_) => Vec::new(),
        Err(e) => e.problems.iter().map(ToString::to_string).collect(),
    }
}

/// A fake environment and file system for operator configs.
pub(super) fn fake_env(name: &str) -> Option<String> {
    match name {
        "PYPI_TOKEN" => Some("pypi-secret-value\n".to_owned()),
        "HARBOR_USER" => Some("robot$updatebot".to_owned()),
        "HARBOR_PASSWORD" => Some("harbor-secret-value".to_owned()),
        "EMPTY" => Some("\n".to_owned()),
        _ => None,
    }
}

pub(super) fn fake_files(path: &Path) -> io::Result<String> {
    if path == Path::new("/run/secrets/npm-token") {
        Ok("npm-secret-value\r\n".to_owned())
    } else if path == Path::new("/run/secrets/pull-secret/.dockerconfigjson") {
        // `gitlab+deploy-token-1:registry-secret-value`
        Ok(r#"{"auths":{"registry.gitlab.example.com":{"auth":"Z2l0bGFiK2RlcGxveS10b2tlbi0xOnJlZ2lzdHJ5LXNlY3JldC12YWx1ZQ=="}}}"#.to_owned())
    } else {
        Err(io::Error::from(io::ErrorKind::NotFound))
    }
}

pub(super) fn operator(text: &str) -> Result<OperatorConfig, ConfigErrors> {
    load_operator_config(text, &fake_env, &fake_files)
}

/// Each `fixtures/config/<case>/.updatebot.yml` gives exactly the problems in its
/// `expected.txt`. Set `UPDATE_EXPECT=1` to rewrite the expectations (then review them).
#[test]
fn fixtures_give_expected_problems() {
    let dir = root().join("fixtures/config");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("fixtures/config exists")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.join(REPO_CONFIG_FILE).is_file())
        .collect();
    cases.sort();
    assert!(cases.len() >= 7, "fixture cases missing: {cases:?}");
    let update = std::env::var_os("UPDATE_EXPECT").is_some();
    let mut failures = Vec::new();
    for case in cases {
        let got = problem_lines(parse_repo_config(&read(&case.join(REPO_CONFIG_FILE))));
        let expected_path = case.join("expected.txt");
        if update {
            std::fs::write(&expected_path, &got).expect("write expected.txt");
            continue;
        }
        let expected = read(&expected_path);
        if got != expected {
            failures.push(format!(
                "{}:\n--- expected\n{expected}--- got\n{got}",
                case.display()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn example_repo_config_has_no_problems() {
    let text = read(&root().join("config/example.updatebot.yml"));
    let config = parse_repo_config(&text).unwrap_or_else(|e| panic!("{e}"));
    assert!(config.warnings.is_empty(), "{:?}", config.warnings);
    assert_eq!(config.updates.len(), 3);
    let eco: Vec<Ecosystem> = config
        .updates
        .iter()
        .map(|u| u.package_ecosystem.ecosystem())
        .collect();
    assert_eq!(eco, [Ecosystem::Python, Ecosystem::Npm, Ecosystem::Docker]);
    insta::assert_json_snapshot!("example_repo_config", config);
}

#[test]
fn example_operator_config_loads_with_fake_env() {
    let text = read(&root().join("config/operator.example.yml"));
    let op = operator(&text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(op.registries.len(), 5);
    match &op.registries["pypi-internal"].credentials {
        Some(Credentials::Basic { username, password }) => {
            assert_eq!(username, "__token__");
            assert_eq!(password.expose(), "pypi-secret-value");
        }
        other => panic!("unexpected {other:?}"),
    }
    match &op.registries["npm-internal"].credentials {
        Some(Credentials::Bearer { token }) => assert_eq!(token.expose(), "npm-secret-value"),
        other => panic!("unexpected {other:?}"),
    }
    match &op.registries["gitlab-registry"].credentials {
        Some(Credentials::Basic { username, password }) => {
            assert_eq!(username, "gitlab+deploy-token-1");
            assert_eq!(password.expose(), "registry-secret-value");
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(op.registries["dockerhub-mirror"].credentials.is_none());
    assert_eq!(op.defaults.open_merge_requests_limit, Some(5));
    assert_eq!(op.http, HttpSettings::default());
    // Nothing printable shows a secret.
    let debug = format!("{op:?}");
    assert!(!debug.contains("secret-value"), "{debug}");
}

#[test]
fn examples_merge() {
    let repo = parse_repo_config(&read(&root().join("config/example.updatebot.yml")))
        .unwrap_or_else(|e| panic!("{e}"));
    let op = operator(&read(&root().join("config/operator.example.yml")))
        .unwrap_or_else(|e| panic!("{e}"));
    let entries = effective_entries(&repo, &op).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(entries.len(), 3);
    let json = serde_json::to_string(&entries).expect("serialisable");
    assert!(!json.contains("secret-value"));
    insta::assert_json_snapshot!("examples_merged", entries);
}

/// Inputs that once broke parsers elsewhere, and random mutations of the example: no
/// panic, and every problem has a real position.
#[test]
fn no_panic_on_odd_input() {
    let mut inputs: Vec<String> = [
        "",
        "\u{feff}",
        "~",
        "[]",
        "- 1",
        "version: 2",
        "version: 2\nupdates:",
        "updates: {}",
        "version: 2\nupdates: [1, 'a', [], {}]",
        "? [a]\n: b",
        "{a: 1, a: 2}",
        "&a [*a]",
        "version: !!int x",
        "\t",
        "a: |\n  x\n b",
        "\"\\u",
        "- - - - -",
        "'",
        "key: \"unterminated",
        "version: 2\nupdates:\n  - <<: [1, 2]",
        "version: 2\nupdates:\n  - <<: 5",
        "version: 99999999999999999999999",
        "registries: {'': {}}",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    let example = read(&root().join("config/example.updatebot.yml"));
    let chars: Vec<char> = example.chars().collect();
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let noise = [
        ':', '-', ' ', '\n', '"', '\'', '[', '{', '*', '&', '#', '|', '>', '!', '\t', 'é',
    ];
    for _ in 0..300 {
        let mut c = chars.clone();
        for _ in 0..(next() % 4 + 1) {
            let at = usize::try_from(next()).unwrap_or(0) % c.len();
            match next() % 3 {
                0 => {
                    c.remove(at);
                }
                1 => c.insert(
                    at,
                    noise[usize::try_from(next()).unwrap_or(0) % noise.len()],
                ),
                _ => c.truncate(at),
            }
        }
        inputs.push(c.into_iter().collect());
    }
    for text in &inputs {
        let lines = text.lines().count().max(1);
        for result in [parse_repo_config(text).err(), operator(text).err()] {
            for p in result.map(|e| e.problems).unwrap_or_default() {
                assert!(p.line >= 1 && p.line <= lines + 1, "{p} in {text:?}");
                assert!(p.column >= 1, "{p} in {text:?}");
            }
        }
    }
}

#[test]
fn every_repo_problem_is_reported_not_just_the_first() {
    let text = "version: 3\nupdates:\n  - package-ecosystem: pipp\n    directory: /\n    schedule: {interval: sometimes}\n    labels: 1\n";
    let p = problems(text);
    assert_eq!(p.len(), 4, "{p:#?}");
    assert!(p[0].starts_with("line 1: version:"), "{p:#?}");
    assert!(p[1].contains("(did you mean `pip`?)"), "{p:#?}");
}

#[test]
fn empty_and_non_mapping_files() {
    assert_eq!(
        problems(""),
        ["line 1: the file is empty; expected a mapping with `version: 2` and `updates`"]
    );
    assert_eq!(
        problems("- a\n"),
        ["line 1: the document: expected a mapping, got a list"]
    );
}

#[test]
fn unsupported_dependabot_ecosystems_are_warnings() {
    let text = "version: 2\nupdates:\n  - package-ecosystem: github-actions\n    directory: /\n    schedule: {interval: weekly}\n  - package-ecosystem: pip\n    directory: /\n    schedule: {interval: weekly}\n";
    let c = parse_repo_config(text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.updates.len(), 1);
    assert_eq!(c.updates[0].index, 1);
    assert_eq!(c.warnings.len(), 1);
    assert_eq!(c.warnings[0].line, 3);
    // Skipped entries are still checked.
    let bad = "version: 2\nupdates:\n  - package-ecosystem: github-actions\n    directory: /\n    schedul: {interval: weekly}\n";
    assert_eq!(problems(bad).len(), 1);
}

#[test]
fn both_limit_spellings_is_a_problem() {
    let text = "version: 2\nupdates:\n  - package-ecosystem: pip\n    directory: /\n    schedule: {interval: weekly}\n    open-pull-requests-limit: 1\n    open-merge-requests-limit: 2\n";
    assert_eq!(
        problems(text),
        ["line 7: give only one of `open-pull-requests-limit` and `open-merge-requests-limit` in updates[0] (they are the same setting)"]
    );
}

#[test]
fn security_updates_settings_merge_and_are_checked() {
    let text = "version: 2\nupdates:\n  - package-ecosystem: pip\n    directory: /\n    schedule: {interval: weekly}\n    security-updates: {enabled: false}\n  - package-ecosystem: npm\n    directory: /\n    schedule: {interval: weekly}\n";
    let repo = parse_repo_config(text).unwrap();
    let op = load_operator_config(
        "defaults:\n  security-updates:\n    open-pull-requests-limit: 3\n",
        &|_| None,
        &|_| Err(std::io::ErrorKind::NotFound.into()),
    )
    .unwrap();
    let entries = effective_entries(&repo, &op).unwrap();
    assert!(!entries[0].security_updates.enabled);
    assert_eq!(entries[0].security_updates.open_merge_requests_limit, 3);
    assert!(entries[1].security_updates.enabled);
    assert_eq!(entries[1].security_updates.open_merge_requests_limit, 3);
    let bad = "version: 2\nupdates:\n  - package-ecosystem: pip\n    directory: /\n    schedule: {interval: weekly}\n    security-updates:\n      enabled: yes please\n      open-pull-requests-limit: 1\n      open-merge-requests-limit: 2\n      labels: [x]\n";
    let p = problems(bad);
    assert_eq!(p.len(), 3, "{p:?}");
    assert!(p[0].starts_with("line 7: "), "{p:?}");
    assert!(
        p.iter()
            .any(|l| l.contains("give only one of `open-pull-requests-limit`")),
        "{p:?}"
    );
    assert!(
        p.iter().any(|l| l.contains("unknown key `labels`")),
        "{p:?}"
    );
}

#[test]
fn pin_digests_is_a_docker_setting() {
    let text = "version: 2\nupdates:\n  - package-ecosystem: docker\n    directory: /\n    schedule: {interval: weekly}\n    pin-digests: true\n  - package-ecosystem: docker\n    directory: /deploy\n    schedule: {interval: weekly}\n";
    let repo = parse_repo_config(text).unwrap();
    let none = |_: &std::path::Path| Err(std::io::ErrorKind::NotFound.into());
    let entries = effective_entries(&repo, &OperatorConfig::default()).unwrap();
    assert!(entries[0].pin_digests);
    assert!(!entries[1].pin_digests);
    // Operator defaults apply where the repository says nothing.
    let op = load_operator_config("defaults:\n  pin-digests: true\n", &|_| None, &none).unwrap();
    let entries = effective_entries(&repo, &op).unwrap();
    assert!(entries[1].pin_digests);
    let npm = "version: 2\nupdates:\n  - package-ecosystem: npm\n    directory: /\n    schedule: {interval: weekly}\n    pin-digests: true\n";
    assert_eq!(
        problems(npm),
        ["line 6: updates[0].pin-digests: digests are pinned in `docker` entries only, not in `npm`"]
    );
    let bad = "version: 2\nupdates:\n  - package-ecosystem: docker\n    directory: /\n    schedule: {interval: weekly}\n    pin-digests: always\n";
    let p = problems(bad);
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(p[0].starts_with("line 6: "), "{p:?}");
}

#[test]
fn repeated_entries_are_a_problem() {
    let entry =
        "  - package-ecosystem: pip\n    directory: /backend/\n    schedule: {interval: weekly}\n";
    let text = format!("version: 2\nupdates:\n{entry}{entry}");
    let p = problems(&text);
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(
        p[0].starts_with("line 6: updates[1] repeats updates[0] (line 3)"),
        "{p:?}"
    );
}

#[test]
fn merge_keys_and_anchors_work() {
    let text = "version: 2\nupdates:\n  - &base\n    package-ecosystem: pip\n    directory: /a\n    schedule: {interval: weekly}\n    labels: [x]\n  - <<: *base\n    directory: /b\n";
    let c = parse_repo_config(text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.updates[1].directories[0].as_str(), "/b");
    assert_eq!(
        c.updates[1].settings.labels.as_deref(),
        Some(&["x".to_owned()][..])
    );
}

#[test]
fn directories_are_normalised() {
    let text = "version: 2\nupdates:\n  - package-ecosystem: npm\n    directories: [\"web/\", \"./apps/*\", \"/\"]\n    schedule: {interval: weekly}\n";
    let c = parse_repo_config(text).unwrap_or_else(|e| panic!("{e}"));
    let dirs: Vec<&str> = c.updates[0]
        .directories
        .iter()
        .map(RepoPath::as_str)
        .collect();
    assert_eq!(dirs, ["/web", "/apps/*", "/"]);
    assert!(c.updates[0].directories[1].is_glob());
    let glob_in_directory = "version: 2\nupdates:\n  - package-ecosystem: npm\n    directory: /apps/*\n    schedule: {interval: weekly}\n";
    assert_eq!(problems(glob_in_directory).len(), 1);
}

#[test]
fn registries_star_or_names() {
    let text = "version: 2\nupdates:\n  - package-ecosystem: npm\n    directory: /\n    schedule: {interval: weekly}\n    registries: all\n";
    let p = problems(text);
    assert_eq!(p.len(), 1);
    assert!(
        p[0].contains("expected `\"*\"` or a list of registry names"),
        "{p:?}"
    );
}

// ---- operator config ----

#[test]
fn operator_secret_problems_name_the_source_never_the_value() {
    let text = "registries:\n  a:\n    type: npm-registry\n    url: https://npm.example.com\n    token-env: NOT_SET\n  b:\n    type: python-index\n    url: https://pypi.example.com/simple\n    username: u\n    password-file: /nope\n  c:\n    type: python-index\n    url: https://pypi.example.com/simple\n    username: u\n    password-env: EMPTY\n";
    let e = operator(text).expect_err("problems");
    let lines: Vec<String> = e.problems.iter().map(ToString::to_string).collect();
    assert_eq!(
        lines,
        [
            "line 5: registry `a`: environment variable `NOT_SET` (from `token-env`) is not set",
            "line 10: registry `b`: cannot read file `/nope` (from `password-file`): entity not found",
            "line 15: registry `c`: environment variable `EMPTY` (from `password-env`) is empty",
        ]
    );
}

#[test]
fn operator_refuses_literal_secrets_and_mixed_credentials() {
    let text = "registries:\n  a:\n    type: npm-registry\n    url: https://npm.example.com\n    token: s3cr3t\n  b:\n    type: docker-registry\n    url: https://r.example.com\n    username: u\n    password-env: PYPI_TOKEN\n    token-env: PYPI_TOKEN\n  c:\n    type: docker-registry\n    url: https://r.example.com\n    username: u\n";
    let e = operator(text).expect_err("problems");
    let all = e.to_string();
    assert!(!all.contains("s3cr3t"), "{all}");
    assert_eq!(e.problems.len(), 3, "{all}");
    assert!(
        e.problems[0]
            .message
            .contains("`token-env` or `token-file`"),
        "{all}"
    );
    assert_eq!(e.problems[1].line, 11);
    assert!(
        e.problems[2].message.contains("needs `password-env`"),
        "{all}"
    );
}

#[test]
fn operator_defaults_refuse_entry_keys() {
    let text = "defaults:\n  directory: /\n  labels: [deps]\n  schedule: {interval: dayly}\n";
    let e = operator(text).expect_err("problems");
    assert_eq!(e.problems.len(), 2, "{e}");
    assert!(
        e.problems[0]
            .message
            .starts_with("`directory` is not allowed in defaults"),
        "{e}"
    );
    assert!(
        e.problems[1].message.contains("did you mean `daily`?"),
        "{e}"
    );
}

#[test]
fn operator_http_and_empty_file() {
    let op = operator("").expect("empty is fine");
    assert!(op.registries.is_empty());
    let e = operator("http: {timeout-seconds: 0, retries: -1, proxy: x}\n").expect_err("problems");
    assert_eq!(e.problems.len(), 3, "{e}");
    let op = operator(
        "http:\n  timeout-seconds: 20\n  connect-timeout-seconds: 5\n  retries: 2\n  max-retry-wait-seconds: 0\n  per-host-concurrency: 4\n  circuit-breaker-failures: 0\n  circuit-breaker-seconds: 60\n",
    )
    .expect("valid");
    assert_eq!(
        op.http,
        HttpSettings {
            timeout_seconds: 20,
            connect_timeout_seconds: 5,
            retries: 2,
            max_retry_wait_seconds: 0,
            per_host_concurrency: 4,
            circuit_breaker_failures: 0,
            circuit_breaker_seconds: 60,
            cache_dir: None,
        }
    );
    let op = operator("http:\n  cache-dir: /var/cache/updatebot\n").expect("valid");
    assert_eq!(
        op.http.cache_dir.as_deref(),
        Some(std::path::Path::new("/var/cache/updatebot"))
    );
    let e = operator("http: {cache-dir: ''}\n").expect_err("empty");
    assert!(
        e.to_string().contains("http.cache-dir: must not be empty"),
        "{e}"
    );
    let e = operator(
        "http:\n  per-host-concurrency: 0\n  circuit-breaker-seconds: 0\n  connect-timeout-seconds: 99999\n",
    )
    .expect_err("problems");
    let text = e.to_string();
    assert!(
        text.contains("line 2: http.per-host-concurrency: must be at least 1"),
        "{text}"
    );
    assert!(
        text.contains("line 3: http.circuit-breaker-seconds: must be at least 1"),
        "{text}"
    );
    assert!(
        text.contains("line 4: http.connect-timeout-seconds: expected an integer from 0 to 3600"),
        "{text}"
    );
}

#[test]
fn secret_never_prints() {
    let s = Secret::new("hunter2");
    assert_eq!(format!("{s} {s:?}"), "*** ***");
    assert_eq!(s.expose(), "hunter2");
}

// ---- merge ----

fn merged(repo: &str, op: &str) -> Result<Vec<EffectiveUpdate>, ConfigErrors> {
    let repo = parse_repo_config(repo).unwrap_or_else(|e| panic!("{e}"));
    let op = operator(op).unwrap_or_else(|e| panic!("{e}"));
    effective_entries(&repo, &op)
}

const OP: &str = "registries:\n  pypi-internal:\n    type: python-index\n    url: https://pypi.example.com/simple/\n    username: __token__\n    password-env: PYPI_TOKEN\n  harbor:\n    type: docker-registry\n    url: https://harbor.example.com\ndefaults:\n  schedule: {interval: weekly}\n  labels: [dependencies]\n  assignees: [bot-admin]\n  open-merge-requests-limit: 3\n";

#[test]
fn repo_values_win_and_lists_replace() {
    let repo = "version: 2\nupdates:\n  - package-ecosystem: pip\n    directory: /\n    labels: [python]\n";
    let e = merged(repo, OP).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(e[0].labels.as_deref(), Some(&["python".to_owned()][..]));
    assert_eq!(e[0].assignees, ["bot-admin"]);
    assert_eq!(e[0].open_merge_requests_limit, 3);
    assert_eq!(e[0].schedule.interval, Interval::Weekly);
    assert!(e[0].registries.is_empty());
}

#[test]
fn registries_resolve_by_name_and_star() {
    let repo = "version: 2\nregistries:\n  pypi-internal:\n    type: python-index\n    url: https://pypi.example.com/simple\n  mirror:\n    type: python-index\n    url: https://mirror.example.com/simple\nupdates:\n  - package-ecosystem: pip\n    directory: /\n    registries: [pypi-internal]\n  - package-ecosystem: poetry\n    directory: /b\n    registries: \"*\"\n";
    let e = merged(repo, OP).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(e[0].registries.len(), 1);
    assert!(e[0].registries[0].has_credentials());
    assert_eq!(e[0].registries[0].origin, RegistryOrigin::Operator);
    let star: BTreeMap<&str, bool> = e[1]
        .registries
        .iter()
        .map(|r| (r.name.as_str(), r.has_credentials()))
        .collect();
    // `harbor` is a Docker registry, so `*` leaves it out of a Python entry.
    assert_eq!(
        star,
        BTreeMap::from([("mirror", false), ("pypi-internal", true)])
    );
}

#[test]
fn repo_cannot_move_an_operator_registry() {
    let repo = "version: 2\nregistries:\n  pypi-internal:\n    type: python-index\n    url: https://evil.example.com/simple\nupdates:\n  - package-ecosystem: pip\n    directory: /\n    registries: [pypi-internal, nope, harbor]\n";
    let e = merged(repo, OP).expect_err("problems");
    let lines: Vec<String> = e.problems.iter().map(ToString::to_string).collect();
    assert_eq!(lines.len(), 3, "{lines:#?}");
    assert!(lines[0].starts_with("line 3: registries.pypi-internal: the operator config defines `pypi-internal` with another URL"), "{lines:#?}");
    assert!(lines[1].contains("unknown registry `nope`"), "{lines:#?}");
    assert!(
        lines[2].contains("registry `harbor` is a `docker-registry`"),
        "{lines:#?}"
    );
}

#[test]
fn schedule_is_required_somewhere() {
    let repo = "version: 2\nupdates:\n  - package-ecosystem: npm\n    directory: /\n";
    let e = merged(repo, "").expect_err("problems");
    assert_eq!(
        e.to_string(),
        "line 3: missing required key `schedule` in updates[0] (the operator config sets no default schedule)"
    );
}

/// `docker-config-file`: the `auths` entry of the registry's own host, instead of a
/// username and password; conflicts, other registry types, unreadable files and credential
/// helpers are problems at their line, naming the registry, never a secret.
#[test]
fn docker_config_file_credentials() {
    let files = |path: &Path| -> io::Result<String> {
        match path.to_str() {
            Some("/run/docker/config.json") => Ok(r#"{"auths": {"harbor.example.com": {"auth": "cm9ib3Q6aGFyYm9yLXNlY3JldA=="}}, "credHelpers": {"ghcr.io": "gcloud"}}"#.to_owned()),
            _ => Err(io::ErrorKind::NotFound.into()),
        }
    };
    let load = |text: &str| load_operator_config(text, &fake_env, &files);
    let ok = load(
        "registries:\n  harbor:\n    type: docker-registry\n    url: harbor.example.com\n    docker-config-file: /run/docker/config.json\n",
    )
    .unwrap();
    match &ok.registries["harbor"].credentials {
        Some(Credentials::Basic { username, password }) => {
            assert_eq!(username, "robot");
            assert_eq!(password.expose(), "harbor-secret");
        }
        other => panic!("{other:?}"),
    }
    let bad = "registries:\n  ghcr:\n    type: docker-registry\n    url: https://ghcr.io\n    docker-config-file: /run/docker/config.json\n  quay:\n    type: docker-registry\n    url: https://quay.io\n    docker-config-file: /run/docker/config.json\n  both:\n    type: docker-registry\n    url: https://harbor.example.com\n    username: robot\n    docker-config-file: /run/docker/config.json\n  pypi:\n    type: python-index\n    url: https://pypi.example.com/simple\n    docker-config-file: /run/docker/config.json\n  gone:\n    type: docker-registry\n    url: https://harbor.example.com\n    docker-config-file: /nowhere/config.json\n";
    let text = load(bad).unwrap_err().to_string();
    for expected in [
        "line 5: registry `ghcr`: `/run/docker/config.json` (from `docker-config-file`): `credHelpers` hands `ghcr.io` to `docker-credential-gcloud`, and updatebot runs no credential helpers",
        "line 9: registry `quay`: `/run/docker/config.json` (from `docker-config-file`): no `auths` entry for `quay.io`",
        "line 14: give either `docker-config-file` or `username`",
        "line 18: `docker-config-file` in registries.pypi is for registries of type `docker-registry`, not `python-index`",
        "line 22: registry `gone`: cannot read file `/nowhere/config.json` (from `docker-config-file`)",
    ] {
        assert!(text.contains(expected), "{expected}\n{text}");
    }
    assert!(!text.contains("harbor-secret"), "{text}");
}

//! Security updates end to end: `updatebot audit` and the fleet run against the advisories of
//! `fixtures/osv/` (as an OSV dump directory, and served by an OSV-shaped API fake), over
//! lockfiles made by the real npm from the real local registries (verdaccio, devpi), and
//! security merge requests on the GitLab API fake.

mod support;

use fake_gitlab::{access, FakeGitlab, MergeMethod, ProjectOptions};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use support::*;
use updatebot::config::{load_operator_config, OperatorConfig};
use updatebot::forge::gitlab::GitlabForge;
use updatebot::plugins::Plugins;
use updatebot::run::{Fleet, FleetReport, Shard};
use updatebot::schedule::Window;
use updatebot_core::http::{HttpClient, HttpOptions};

fn osv_dir() -> PathBuf {
    repo_root().join("fixtures/osv")
}

/// The real npm and the local registry, if running.
struct Npm {
    registry: String,
    npm: String,
    npmrc: String,
    node_bin: String,
}

fn npm_env() -> Option<Npm> {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    match (
        var("UPDATEBOT_TEST_NPM_REGISTRY"),
        var("UPDATEBOT_TEST_NPM"),
        var("UPDATEBOT_TEST_NPMRC"),
        var("UPDATEBOT_TEST_NODE"),
    ) {
        (Some(registry), Some(npm), Some(npmrc), Some(node_bin)) => Some(Npm {
            registry,
            npm,
            npmrc,
            node_bin,
        }),
        _ => {
            assert!(
                std::env::var_os("UPDATEBOT_REQUIRE_SERVICES").is_none(),
                "the npm registries are not running: run the tests through scripts/test.sh"
            );
            eprintln!("skipped: no local npm registry (run scripts/test.sh)");
            None
        }
    }
}

impl Npm {
    fn run(&self, dir: &Path, args: &[&str]) -> (bool, String) {
        run_npm(&self.npm, &self.node_bin, &self.npmrc, dir, args)
    }
}

/// A project with: lodash pinned at a vulnerable version (direct), debug ^4.3.4 locked at
/// 4.3.4 whose exact `ms: 2.1.2` is vulnerable (transitive, held back by debug), left-pad
/// (every version affected: no fix), is-number (its only advisory is withdrawn), chalk and
/// its tree (nothing known).
const PACKAGE_JSON: &str = r#"{
  "name": "security-demo",
  "version": "1.0.0",
  "private": true,
  "dependencies": {
    "debug": "^4.3.4",
    "is-number": "^7.0.0",
    "left-pad": "1.2.0",
    "lodash": "4.17.20"
  },
  "devDependencies": {
    "chalk": "^4.1.2"
  }
}
"#;

/// `package.json` and the lock the real npm makes for it from the local registry.
fn npm_project(npm: &Npm, dir: &Path) -> (String, String) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("package.json"), PACKAGE_JSON).unwrap();
    let (ok, log) = npm.run(
        dir,
        &[
            "install",
            "--package-lock-only",
            "--ignore-scripts",
            "--omit-lockfile-registry-resolved=false",
            // Locked at 4.3.4 (with its exact ms 2.1.2) though ^4.3.4 admits newer.
            "debug@4.3.4",
        ],
    );
    assert!(ok, "npm install failed:\n{log}");
    std::fs::write(dir.join("package.json"), PACKAGE_JSON).unwrap();
    let lock = std::fs::read_to_string(dir.join("package-lock.json")).unwrap();
    let doc: Value = serde_json::from_str(&lock).unwrap();
    assert_eq!(doc["packages"]["node_modules/ms"]["version"], "2.1.2");
    assert_eq!(doc["packages"]["node_modules/debug"]["version"], "4.3.4");
    (
        std::fs::read_to_string(dir.join("package.json")).unwrap(),
        lock,
    )
}

fn npm_operator(dir: &Path, registry: &str) -> PathBuf {
    let path = dir.join("operator.yml");
    std::fs::write(
        &path,
        format!("registries:\n  npm-main:\n    type: npm-registry\n    url: {registry}\n    replaces-base: true\n"),
    )
    .unwrap();
    path
}

fn audit_json(args: &[&str]) -> (Option<i32>, Value) {
    let output = updatebot(args);
    let report: Value = serde_json::from_str(&stdout(&output))
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", stdout(&output), stderr(&output)));
    (output.status.code(), report)
}

fn finding<'a>(report: &'a Value, package: &str) -> &'a Value {
    report["vulnerable"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["package"] == package)
        .unwrap_or_else(|| panic!("{package} not reported: {report:#}"))
}

fn vulnerable_names(report: &Value) -> Vec<String> {
    report["vulnerable"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["package"].as_str().unwrap().to_string())
        .collect()
}

/// What the npm audit must find, whichever way the advisories come.
fn check_npm_findings(report: &Value) {
    assert_eq!(
        vulnerable_names(report),
        ["left-pad", "lodash", "ms"],
        "is-number's only advisory is withdrawn: {report:#}"
    );
    let lodash = finding(report, "lodash");
    assert_eq!(lodash["version"], "4.17.20");
    assert_eq!(lodash["direct"], true);
    assert_eq!(lodash["fix"]["version"], "4.17.21");
    assert_eq!(
        lodash["fix"]["lockfile_only"], false,
        "an exact pin must move"
    );
    let advisory = &lodash["advisories"][0];
    assert_eq!(advisory["id"], "GHSA-35jh-r3h4-6jhm");
    assert_eq!(advisory["aliases"], json!(["CVE-2021-23337"]));
    assert_eq!(advisory["severity"], "High");
    assert_eq!(advisory["score"], 7.2);
    assert_eq!(advisory["fixed"], "4.17.21");
    assert_eq!(
        advisory["url"],
        "https://osv.dev/vulnerability/GHSA-35jh-r3h4-6jhm"
    );

    let ms = finding(report, "ms");
    assert_eq!(ms["version"], "2.1.2");
    assert_eq!(ms["direct"], false, "ms is transitive");
    assert_eq!(ms["fix"]["version"], "2.1.3");
    assert_eq!(
        ms["fix"]["via"],
        json!([{"package": "debug", "from": "4.3.4", "to": "4.3.7"}]),
        "debug 4.3.4 asks for exactly ms 2.1.2"
    );
    assert_eq!(
        ms["fix"]["lockfile_only"], true,
        "^4.3.4 admits debug 4.3.7"
    );
    assert_eq!(ms["advisories"][0]["severity"], "Moderate");

    let left_pad = finding(report, "left-pad");
    assert_eq!(left_pad["fix"], Value::Null);
    assert_eq!(
        left_pad["no_fix"],
        "no fix available: every newer release is affected too"
    );
    assert_eq!(report["summary"]["vulnerable"], 3);
    assert_eq!(report["summary"]["fixable"], 2);
}

#[test]
fn audit_lists_direct_and_transitive_npm_vulnerabilities_from_an_osv_dump() {
    let Some(npm) = npm_env() else { return };
    let work = tempfile::tempdir().unwrap();
    let tree = work.path().join("repo");
    npm_project(&npm, &tree);
    let config = npm_operator(work.path(), &npm.registry);
    let osv = osv_dir();
    let args = [
        "audit",
        tree.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
        "--osv-dir",
        osv.to_str().unwrap(),
    ];
    let (code, report) = audit_json(&[&args[..], &["--format", "json"]].concat());
    assert_eq!(code, Some(1), "vulnerable packages found: exit 1");
    check_npm_findings(&report);
    assert!(report["problems"].as_array().unwrap().is_empty());

    let table = updatebot(&args);
    let text = stdout(&table);
    assert!(
        text.contains("2.1.3 via debug 4.3.4 → 4.3.7 (lockfile only)"),
        "{text}"
    );
    assert!(
        text.contains(
            "3 vulnerable of 11 installed packages checked (2 with a fix) against the OSV dump"
        ),
        "{text}"
    );
    // The audit changes nothing.
    assert_eq!(
        std::fs::read_to_string(tree.join("package.json")).unwrap(),
        PACKAGE_JSON
    );

    // A cooldown does not hold back security fixes (the registry's releases are minutes
    // old), unless `security-updates.cooldown` says it should.
    let entry = "version: 2\nupdates:\n  - package-ecosystem: npm\n    directory: /\n    schedule: {interval: daily}\n    cooldown: {default-days: 3650}\n";
    std::fs::write(tree.join(".updatebot.yml"), entry).unwrap();
    let (_, report) = audit_json(&[&args[..], &["--format", "json"]].concat());
    assert_eq!(
        finding(&report, "lodash")["fix"]["version"],
        "4.17.21",
        "{report:#}"
    );
    std::fs::write(
        tree.join(".updatebot.yml"),
        format!("{entry}    security-updates: {{cooldown: true}}\n"),
    )
    .unwrap();
    let (_, report) = audit_json(&[&args[..], &["--format", "json"]].concat());
    let lodash = finding(&report, "lodash");
    assert_eq!(lodash["fix"], Value::Null, "{lodash:#}");
    assert!(
        lodash["no_fix"]
            .as_str()
            .unwrap()
            .contains("under the 3650-day cooldown (security-updates.cooldown)"),
        "{lodash:#}"
    );
}

/// The OSV API as a fake: `/v1/querybatch` answers with the ids OSV gives for each
/// (ecosystem, package, version) asked about, `/v1/vulns/ID` with the fixture records.
async fn osv_api() -> wiremock::MockServer {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, Request, ResponseTemplate};
    let server = MockServer::start().await;
    type Key = (&'static str, &'static str, &'static str);
    let answers: Vec<(Key, Vec<&str>)> = vec![
        (("npm", "lodash", "4.17.20"), vec!["GHSA-35jh-r3h4-6jhm"]),
        (("npm", "ms", "2.1.2"), vec!["UBT-2026-0001"]),
        (("npm", "left-pad", "1.2.0"), vec!["UBT-2026-0002"]),
        (("npm", "left-pad", "1.3.0"), vec!["UBT-2026-0002"]),
        // OSV still names a withdrawn record; the bot must leave it out.
        (("npm", "is-number", "7.0.0"), vec!["UBT-2026-0003"]),
    ];
    Mock::given(method("POST"))
        .and(path("/v1/querybatch"))
        .respond_with(move |request: &Request| {
            let body: Value = serde_json::from_slice(&request.body).unwrap();
            let results: Vec<Value> = body["queries"]
                .as_array()
                .unwrap()
                .iter()
                .map(|q| {
                    let key = (
                        q["package"]["ecosystem"].as_str().unwrap_or(""),
                        q["package"]["name"].as_str().unwrap_or(""),
                        q["version"].as_str().unwrap_or(""),
                    );
                    let ids = answers
                        .iter()
                        .find(|(k, _)| *k == key)
                        .map(|(_, ids)| ids.clone())
                        .unwrap_or_default();
                    if ids.is_empty() {
                        json!({})
                    } else {
                        json!({"vulns": ids.iter().map(|id| json!({"id": id, "modified": "2026-11-20T00:00:00Z"})).collect::<Vec<_>>()})
                    }
                })
                .collect();
            ResponseTemplate::new(200).set_body_json(json!({ "results": results }))
        })
        .mount(&server)
        .await;
    for ecosystem in ["npm", "PyPI"] {
        for entry in std::fs::read_dir(osv_dir().join(ecosystem)).unwrap() {
            let file = entry.unwrap().path();
            let record: Value =
                serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
            let id = record["id"].as_str().unwrap().to_string();
            Mock::given(method("GET"))
                .and(path(format!("/v1/vulns/{id}")))
                .respond_with(ResponseTemplate::new(200).set_body_json(record))
                .mount(&server)
                .await;
        }
    }
    server
}

#[tokio::test(flavor = "multi_thread")]
async fn audit_through_an_osv_api_finds_the_same_as_the_dump() {
    let Some(npm) = npm_env() else { return };
    let server = osv_api().await;
    let work = tempfile::tempdir().unwrap();
    let tree = work.path().join("repo");
    npm_project(&npm, &tree);
    let config = npm_operator(work.path(), &npm.registry);
    let url = server.uri();
    let tree_arg = tree.to_str().unwrap().to_string();
    let config_arg = config.to_str().unwrap().to_string();
    let (code, report) = tokio::task::spawn_blocking(move || {
        audit_json(&[
            "audit",
            &tree_arg,
            "--config",
            &config_arg,
            "--osv-url",
            &url,
            "--format",
            "json",
        ])
    })
    .await
    .unwrap();
    assert_eq!(code, Some(1));
    check_npm_findings(&report);
    let requests = server.received_requests().await.unwrap();
    let batches = requests
        .iter()
        .filter(|r| r.url.path() == "/v1/querybatch")
        .count();
    let records: Vec<String> = requests
        .iter()
        .filter(|r| r.url.path().starts_with("/v1/vulns/"))
        .map(|r| r.url.path().trim_start_matches("/v1/vulns/").to_string())
        .collect();
    // One batch for the installed versions, one to check the fixes found.
    assert_eq!(batches, 2, "{requests:?}");
    let mut unique = records.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(
        unique.len(),
        records.len(),
        "a record fetched twice in one run"
    );
    assert_eq!(unique.len(), 4, "{records:?}");
    // The same answer through the environment variable.
    let url = server.uri();
    let tree_arg = tree.to_str().unwrap().to_string();
    let config_arg = config.to_str().unwrap().to_string();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_updatebot"))
            .args([
                "audit",
                &tree_arg,
                "--config",
                &config_arg,
                "--format",
                "json",
            ])
            .env("UPDATEBOT_OSV_URL", &url)
            .env_remove("UPDATEBOT_OSV_DIR")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let again: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(again["vulnerable"], report["vulnerable"]);
    assert_eq!(again["source"], format!("{}/", server.uri()));
}

#[test]
fn audit_of_pinned_python_requirements_takes_the_lowest_fix_within_policy() {
    let Some(index) = python_index() else { return };
    let work = tempfile::tempdir().unwrap();
    let tree = work.path().join("repo");
    std::fs::create_dir_all(&tree).unwrap();
    std::fs::write(
        tree.join("requirements.txt"),
        "requests==2.25.0\nurllib3==1.26.5\nidna==2.10\nsix==1.16.0\n",
    )
    .unwrap();
    let config = operator_config(work.path(), &index);
    let osv = osv_dir();
    let args = [
        "audit",
        tree.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
        "--osv-dir",
        osv.to_str().unwrap(),
        "--format",
        "json",
    ];
    let (code, report) = audit_json(&args);
    assert_eq!(code, Some(1));
    assert_eq!(vulnerable_names(&report), ["idna", "requests", "urllib3"]);
    let requests = finding(&report, "requests");
    assert_eq!(requests["fix"]["version"], "2.31.0", "the lowest fix");
    // GHSA and PYSEC records of one flaw are one advisory.
    assert_eq!(requests["advisories"].as_array().unwrap().len(), 1);
    assert_eq!(requests["advisories"][0]["id"], "GHSA-j8r2-6x86-q33q");
    assert_eq!(
        requests["advisories"][0]["aliases"],
        json!(["CVE-2023-32681", "PYSEC-2023-74"])
    );
    assert_eq!(requests["advisories"][0]["affected"], ">=2.3.0, <2.31.0");
    // Fixed in 1.26.17 and 1.26.18 (and 2.0.7): the lowest release fixing both, same major.
    let urllib3 = finding(&report, "urllib3");
    assert_eq!(urllib3["fix"]["version"], "1.26.18");
    assert_eq!(urllib3["advisories"].as_array().unwrap().len(), 2);
    assert_eq!(
        urllib3["advisories"][0]["id"], "GHSA-v845-jxx5-vc9f",
        "the higher score first"
    );
    assert_eq!(finding(&report, "idna")["fix"]["version"], "3.7");
    assert_eq!(report["summary"]["checked"], 4);

    // A configuration that ignores idna's major updates leaves it without a fix, and says so.
    std::fs::write(
        tree.join(".updatebot.yml"),
        "version: 2\nupdates:\n  - package-ecosystem: pip\n    directory: /\n    schedule: {interval: daily}\n    ignore:\n      - dependency-name: idna\n        update-types: [\"version-update:semver-major\"]\n",
    )
    .unwrap();
    let (code, report) = audit_json(&args);
    assert_eq!(code, Some(1));
    let idna = finding(&report, "idna");
    assert_eq!(idna["fix"], Value::Null);
    let why = idna["no_fix"].as_str().unwrap();
    assert!(
        why.starts_with("no fix within the configuration: 3.7 is a major update"),
        "{why}"
    );

    // Nothing vulnerable: exit 0.
    std::fs::remove_file(tree.join(".updatebot.yml")).unwrap();
    std::fs::write(tree.join("requirements.txt"), "six==1.16.0\nrequests>=2\n").unwrap();
    let (code, report) = audit_json(&args);
    assert_eq!(code, Some(0), "{report:#}");
    assert_eq!(report["summary"]["vulnerable"], 0);
    assert_eq!(report["unpinned"], json!(["requirements.txt: requests"]));
}

#[test]
fn audit_without_reachable_advisories_fails_with_the_address() {
    let work = tempfile::tempdir().unwrap();
    std::fs::write(work.path().join("requirements.txt"), "six==1.16.0\n").unwrap();
    let output = updatebot(&[
        "audit",
        work.path().to_str().unwrap(),
        "--osv-dir",
        work.path().join("missing").to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("missing"), "{}", stderr(&output));
}

// ---------------------------------------------------------------- fleet run ---

struct World {
    gitlab: FakeGitlab,
    index: String,
    npm: Npm,
    token: String,
    bot_id: u64,
}

async fn world() -> Option<World> {
    let index = python_index()?;
    let npm = npm_env()?;
    let gitlab = FakeGitlab::start().await;
    let bot = gitlab.add_user("updatebot");
    Some(World {
        gitlab,
        index,
        npm,
        token: bot.token,
        bot_id: bot.id,
    })
}

impl World {
    fn project(&self, name: &str, files: &[(&str, &str)]) -> u64 {
        let id = self.gitlab.add_project_with(
            ProjectOptions::new("sec", name)
                .files(files)
                .merge_method(MergeMethod::Merge),
        );
        self.gitlab.add_member(id, self.bot_id, access::DEVELOPER);
        id
    }

    fn operator(&self) -> OperatorConfig {
        self.operator_with("")
    }

    /// The operator config with `extra` top-level sections (a `bot:` section, say).
    fn operator_with(&self, extra: &str) -> OperatorConfig {
        let text = format!(
            "gitlab:\n  url: {}\n  token-env: GITLAB_TOKEN\nfleet:\n  groups: [sec]\nregistries:\n  local-pypi:\n    type: python-index\n    url: {}\n    replaces-base: true\n  npm-main:\n    type: npm-registry\n    url: {}\n    replaces-base: true\n{extra}",
            self.gitlab.url(),
            self.index,
            self.npm.registry
        );
        let token = self.token.clone();
        load_operator_config(
            &text,
            &move |v| (v == "GITLAB_TOKEN").then(|| token.clone()),
            &|_| Err(std::io::ErrorKind::NotFound.into()),
        )
        .unwrap()
    }

    async fn run(&self, operator: &OperatorConfig, window: Window) -> FleetReport {
        self.run_with(operator, window, &osv_dir()).await
    }

    /// A run with the advisories of the OSV dump `osv`.
    async fn run_with(&self, operator: &OperatorConfig, window: Window, osv: &Path) -> FleetReport {
        let http = Arc::new(HttpClient::new(HttpOptions::default(), Vec::new()).unwrap());
        let forge = GitlabForge::connect(
            operator.gitlab.as_ref().unwrap(),
            &operator.bot,
            http.clone(),
        )
        .await
        .unwrap();
        let plugins = Plugins::standard();
        let mut fleet = Fleet::new(&forge, &plugins, operator, http);
        fleet.window = window;
        fleet.shard = Shard::ALL;
        fleet.advisories = Some(Arc::new(updatebot_advisory::Advisories::dump(
            osv.to_path_buf(),
        )));
        fleet.run().await
    }
}

fn utc(text: &str) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&chrono::Utc)
}

/// The titles of the open merge requests of `project`, sorted.
fn open_titles(w: &World, project: u64) -> Vec<String> {
    let mut out: Vec<String> = w
        .gitlab
        .merge_requests(project)
        .into_iter()
        .filter(|m| m.state == "opened")
        .map(|m| m.title)
        .collect();
    out.sort();
    out
}

fn actions(report: &FleetReport) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = report.projects[0]
        .changes
        .iter()
        .map(|c| (c.action.as_str().to_string(), c.title.clone()))
        .collect();
    out.sort();
    out
}

/// Not due (weekly on Friday; the window is a Tuesday) and no version merge requests allowed:
/// security merge requests come anyway, under their own limit.
const PIP_CONFIG: &str = "version: 2\nupdates:\n  - package-ecosystem: pip\n    directory: /\n    schedule:\n      interval: weekly\n      day: friday\n    open-pull-requests-limit: 0\n    security-updates:\n      open-pull-requests-limit: 2\n";

#[tokio::test(flavor = "multi_thread")]
async fn security_merge_requests_ignore_the_schedule_and_close_once_fixed() {
    let Some(w) = world().await else { return };
    w.gitlab.add_group("sec");
    let api = w.project(
        "api",
        &[
            (".updatebot.yml", PIP_CONFIG),
            (
                "requirements.txt",
                "requests==2.25.0  # http\nurllib3==1.26.5\nidna==2.10\nsix==1.15.0\n",
            ),
        ],
    );
    let operator = w.operator();
    let tuesday = Window::Between(utc("2026-11-23T05:00:00Z"), utc("2026-11-24T05:00:00Z"));
    let report = w.run(&operator, tuesday.clone()).await;
    assert!(!report.failed(), "{}", report.summary());
    assert_eq!(
        actions(&report),
        [
            (
                "opened".to_string(),
                "Bump idna from 2.10 to 3.7 [security]".to_string()
            ),
            (
                "opened".to_string(),
                "Bump requests from 2.25.0 to 2.31.0 [security]".to_string()
            ),
            (
                "skipped".to_string(),
                "Bump urllib3 from 1.26.5 to 1.26.18 [security]".to_string()
            ),
        ],
        "the most severe first (requests 6.1, idna 5.9, urllib3 5.9 by name):\n{}",
        report.summary()
    );
    let skipped = report.projects[0]
        .changes
        .iter()
        .find(|c| c.action.as_str() == "skipped")
        .unwrap();
    assert_eq!(
        skipped.reason.as_deref(),
        Some("open merge request limit reached (2 of 2)")
    );
    let mrs = w.gitlab.merge_requests(api);
    assert_eq!(mrs.len(), 2, "six 1.17.0 is not a security update");
    let requests = mrs
        .iter()
        .find(|m| m.source_branch == "updatebot/pip/security/requests-2.31.0")
        .expect("branch named after the package and its fixed version");
    assert_eq!(
        requests.labels,
        ["dependencies", "python", "security", "updatebot"]
    );
    for text in [
        "[GHSA-j8r2-6x86-q33q](https://osv.dev/vulnerability/GHSA-j8r2-6x86-q33q) (CVE-2023-32681, PYSEC-2023-74)",
        "| requests 2.25.0 | Moderate \\(6.1\\) |",
        "| 2.31.0 | Unintended leak of Proxy-Authorization header in requests |",
        "https://github.com/psf/requests/security/advisories/GHSA-j8r2-6x86-q33q",
    ] {
        assert!(
            requests.description.contains(text),
            "{text} not in:\n{}",
            requests.description
        );
    }
    assert_eq!(
        w.gitlab
            .file(
                api,
                "updatebot/pip/security/requests-2.31.0",
                "requirements.txt"
            )
            .as_deref(),
        Some("requests==2.31.0  # http\nurllib3==1.26.5\nidna==2.10\nsix==1.15.0\n"),
        "only the version text moves"
    );

    // The next run changes nothing.
    let again = w.run(&operator, tuesday.clone()).await;
    assert!(!again.failed(), "{}", again.summary());
    let kinds: Vec<String> = actions(&again).into_iter().map(|(a, _)| a).collect();
    assert_eq!(kinds, ["skipped", "unchanged", "unchanged"]);

    // A person fixes requests by hand: its merge request closes.
    w.gitlab.push(
        api,
        "main",
        &[(
            "requirements.txt",
            Some("requests==2.32.3  # http\nurllib3==1.26.5\nidna==2.10\nsix==1.15.0\n"),
        )],
        "rita",
    );
    let fixed = w.run(&operator, tuesday).await;
    assert!(!fixed.failed(), "{}", fixed.summary());
    let acts = actions(&fixed);
    assert!(
        acts.contains(&(
            "closed".to_string(),
            "Bump requests from 2.25.0 to 2.31.0 [security]".to_string()
        )),
        "{}",
        fixed.summary()
    );
    let closed = fixed.projects[0]
        .changes
        .iter()
        .find(|c| c.action.as_str() == "closed")
        .unwrap();
    assert_eq!(
        closed.reason.as_deref(),
        Some("no known advisory affects the locked requests any more")
    );
    // Closing comes after opening in a run: the freed slot is used by the next one.
    let next = w.run(&operator, Window::Always).await;
    assert!(
        actions(&next).contains(&(
            "opened".to_string(),
            "Bump urllib3 from 1.26.5 to 1.26.18 [security]".to_string()
        )),
        "{}",
        next.summary()
    );
    let open: Vec<String> = w
        .gitlab
        .merge_requests(api)
        .into_iter()
        .filter(|m| m.state == "opened")
        .map(|m| m.source_branch)
        .collect();
    assert!(
        open.contains(&"updatebot/pip/security/urllib3-1.26.18".to_string()),
        "{open:?}"
    );
    assert_eq!(open.len(), 2, "{open:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_transitive_npm_fix_bumps_the_parent_through_the_lock_alone() {
    let Some(w) = world().await else { return };
    w.gitlab.add_group("sec");
    let work = tempfile::tempdir().unwrap();
    let (manifest, lock) = npm_project(&w.npm, &work.path().join("made"));
    let config = "version: 2\nupdates:\n  - package-ecosystem: npm\n    directory: /\n    schedule: {interval: daily}\n    open-pull-requests-limit: 0\n";
    let web = w.project(
        "web",
        &[
            (".updatebot.yml", config),
            ("package.json", &manifest),
            ("package-lock.json", &lock),
        ],
    );
    let operator = w.operator();
    let report = w.run(&operator, Window::Always).await;
    assert!(!report.failed(), "{}", report.summary());
    let changes = &report.projects[0].changes;
    let find = |title: &str| {
        changes
            .iter()
            .find(|c| c.title == title)
            .unwrap_or_else(|| panic!("no `{title}` in {}", report.summary()))
    };
    assert_eq!(
        find("Bump ms from 2.1.2 to 2.1.3 [security]")
            .action
            .as_str(),
        "opened"
    );
    assert_eq!(
        find("Bump lodash from 4.17.20 to 4.17.21 [security]")
            .action
            .as_str(),
        "opened"
    );
    let left_pad = find("left-pad 1.2.0 is vulnerable [security]");
    assert_eq!(left_pad.action.as_str(), "skipped");
    assert_eq!(
        left_pad.reason.as_deref(),
        Some("UBT-2026-0002 in package-lock.json: no fix available: every newer release is affected too")
    );
    assert!(
        !changes.iter().any(|c| c.title.contains("is-number")),
        "withdrawn advisories are ignored"
    );

    // The dependency dashboard shows the security merge requests and what has no fix.
    let board = &w.gitlab.issues(web)[0].description;
    for text in [
        // (Markdown characters of titles escaped.)
        "Bump ms from 2.1.2 to 2.1.3 \\[security\\]",
        "**npm in `/`, security updates**",
        "- waiting: left-pad 1.2.0 is vulnerable \\[security\\] — UBT-2026-0002 in package-lock.json: no fix available",
    ] {
        assert!(board.contains(text), "{text} not in:\n{board}");
    }

    let branch = "updatebot/npm/security/ms-2.1.3";
    let mrs = w.gitlab.merge_requests(web);
    let ms = mrs
        .iter()
        .find(|m| m.source_branch == branch)
        .unwrap_or_else(|| {
            panic!(
                "{:?}",
                mrs.iter().map(|m| &m.source_branch).collect::<Vec<_>>()
            )
        });
    assert!(ms.labels.contains(&"security".to_string()));
    assert!(
        ms.description
            .contains("held back by debug 4.3.4: it moves to 4.3.7"),
        "{}",
        ms.description
    );
    // The manifest admits debug 4.3.7: only the lock moves, and npm accepts it.
    assert_eq!(
        w.gitlab.file(web, branch, "package.json").as_deref(),
        Some(manifest.as_str())
    );
    let new_lock = w.gitlab.file(web, branch, "package-lock.json").unwrap();
    let doc: Value = serde_json::from_str(&new_lock).unwrap();
    assert_eq!(doc["packages"]["node_modules/ms"]["version"], "2.1.3");
    assert_eq!(doc["packages"]["node_modules/debug"]["version"], "4.3.7");
    assert_eq!(
        doc["packages"]["node_modules/lodash"]["version"], "4.17.20",
        "lodash has its own merge request"
    );
    let check = work.path().join("check");
    std::fs::create_dir_all(&check).unwrap();
    std::fs::write(check.join("package.json"), &manifest).unwrap();
    std::fs::write(check.join("package-lock.json"), &new_lock).unwrap();
    let (ok, log) = w.npm.run(&check, &["ci", "--ignore-scripts", "--dry-run"]);
    assert!(ok, "npm ci refused the lock:\n{log}");
    let (ok, log) = w.npm.run(&check, &["ls", "--all", "--package-lock-only"]);
    assert!(ok, "npm ls found problems:\n{log}");
    // And the audit of the branch finds ms fixed.
    let config = npm_operator(work.path(), &w.npm.registry);
    let osv = osv_dir();
    let (_, after) = tokio::task::spawn_blocking(move || {
        audit_json(&[
            "audit",
            check.to_str().unwrap(),
            "--config",
            config.to_str().unwrap(),
            "--osv-dir",
            osv.to_str().unwrap(),
            "--format",
            "json",
        ])
    })
    .await
    .unwrap();
    assert_eq!(vulnerable_names(&after), ["left-pad", "lodash"]);
}

/// Budgets go to security updates first: with room for two new merge requests in the run,
/// the two security fixes are opened and the version updates wait, naming the budget. (The
/// entry is due and its version updates of requests and idna reach releases free of the
/// advisories: they carry the fixes, labelled `security`, instead of security merge requests
/// beside them.)
#[tokio::test(flavor = "multi_thread")]
async fn budgets_go_to_security_updates_first() {
    let Some(w) = world().await else { return };
    w.gitlab.add_group("sec");
    let p = w.project(
        "budget",
        &[
            (
                ".updatebot.yml",
                "version: 2\nupdates:\n  - package-ecosystem: pip\n    directory: /\n    schedule: {interval: daily}\n",
            ),
            (
                "requirements.txt",
                "six==1.15.0\nclick==7.1.2\nrequests==2.25.0\nidna==2.10\n",
            ),
        ],
    );
    let operator = w.operator_with("bot:\n  budgets:\n    opened-per-run: 2\n");
    let report = w.run(&operator, Window::Always).await;
    let mut titles: Vec<String> = w
        .gitlab
        .merge_requests(p)
        .into_iter()
        .inspect(|m| assert!(m.labels.contains(&"security".to_string()), "{m:?}"))
        .map(|m| m.title)
        .collect();
    titles.sort();
    assert_eq!(
        titles,
        [
            "Bump idna from 2.10 to 3.10 [security]",
            "Bump requests from 2.25.0 to 2.32.3 [security]"
        ],
        "{}",
        report.summary()
    );
    let waiting: Vec<_> = report.projects[0]
        .changes
        .iter()
        .filter(|c| {
            c.reason
                .as_deref()
                .is_some_and(|r| r.contains("budget of 2 new merge requests"))
        })
        .map(|c| c.title.clone())
        .collect();
    assert!(
        waiting.iter().any(|t| t.contains("six")) && waiting.iter().any(|t| t.contains("click")),
        "{waiting:?}"
    );
}

/// Across the fleet too: the project worked on first has only version updates, the other
/// has security fixes; with room for two new merge requests in the run (one project at a
/// time), the security fixes of the other take it and the first's version updates wait:
/// the run's census reserved the budget for them before any project was worked on.
#[tokio::test(flavor = "multi_thread")]
async fn fleet_budgets_go_to_security_updates_first_across_projects() {
    let Some(w) = world().await else { return };
    w.gitlab.add_group("sec");
    let daily = "version: 2\nupdates:\n  - package-ecosystem: pip\n    directory: /\n    schedule: {interval: daily}\n";
    // Listed newest first, as GitLab lists a group's projects: `versions` is worked on first.
    let security = w.project(
        "b-security",
        &[
            (".updatebot.yml", daily),
            ("requirements.txt", "requests==2.25.0\nidna==2.10\n"),
        ],
    );
    let versions = w.project(
        "a-versions",
        &[
            (".updatebot.yml", daily),
            ("requirements.txt", "six==1.15.0\nclick==7.1.2\n"),
        ],
    );
    let mut operator = w.operator_with("bot:\n  budgets:\n    opened-per-run: 2\n");
    operator.fleet.concurrency = 1;
    let report = w.run(&operator, Window::Always).await;
    let titles = |p| open_titles(&w, p);
    assert_eq!(
        titles(security),
        [
            // The due version updates carry the fixes (no second merge request).
            "Bump idna from 2.10 to 3.10 [security]",
            "Bump requests from 2.25.0 to 2.32.3 [security]"
        ],
        "{}",
        report.summary()
    );
    assert!(titles(versions).is_empty(), "{}", report.summary());
    let first = report
        .projects
        .iter()
        .find(|p| p.project == "sec/a-versions")
        .unwrap();
    assert!(
        first.changes.iter().any(|c| c.title.contains("six")
            && c.reason
                .as_deref()
                .is_some_and(|r| r.contains("budget of 2 new merge requests"))),
        "{}",
        report.summary()
    );
    // The security project's report says what the security-first pass did.
    let second = report
        .projects
        .iter()
        .find(|p| p.project == "sec/b-security")
        .unwrap();
    assert_eq!(
        second
            .changes
            .iter()
            .filter(|c| c.action.as_str() == "opened")
            .count(),
        2,
        "{}",
        report.summary()
    );
    // The next run, with a fresh budget, opens the version updates it held back.
    let report = w.run(&operator, Window::Always).await;
    assert_eq!(titles(versions).len(), 2, "{}", report.summary());
}

/// A Python lockfile made by the real uv against the local index: the audit reads every
/// locked package, the transitive ones too (`idna` comes with `requests`), and gives the
/// same fixes as for pins.
#[test]
fn audit_reads_a_real_uv_lock_with_its_transitive_packages() {
    let Some(index) = python_index() else { return };
    let Some(tools) = std::env::var_os("UPDATEBOT_TEST_TOOLS").map(PathBuf::from) else {
        assert!(
            std::env::var_os("UPDATEBOT_REQUIRE_SERVICES").is_none(),
            "UPDATEBOT_TEST_TOOLS is not set: run the tests through scripts/test.sh"
        );
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let tree = work.path().join("repo");
    std::fs::create_dir_all(&tree).unwrap();
    std::fs::write(
        tree.join("pyproject.toml"),
        "[project]\nname = \"app\"\nversion = \"0.1.0\"\nrequires-python = \">=3.9\"\ndependencies = [\"requests==2.25.0\", \"six==1.16.0\"]\n",
    )
    .unwrap();
    let home = work.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let out = std::process::Command::new(tools.join("uv"))
        .args(["lock", "--no-build"])
        .current_dir(&tree)
        .env("HOME", &home)
        .env("UV_CACHE_DIR", home.join("uv-cache"))
        .env("UV_DEFAULT_INDEX", &index)
        .env("UV_NO_CONFIG", "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "uv lock: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lock = std::fs::read_to_string(tree.join("uv.lock")).unwrap();
    assert!(lock.contains("name = \"idna\""), "{lock}");
    let config = operator_config(work.path(), &index);
    let osv = osv_dir();
    let (code, report) = audit_json(&[
        "audit",
        tree.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
        "--osv-dir",
        osv.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(code, Some(1), "{report:#}");
    let names = vulnerable_names(&report);
    assert!(names.contains(&"requests".to_string()), "{names:?}");
    let requests = finding(&report, "requests");
    assert_eq!(requests["version"], "2.25.0");
    assert_eq!(requests["direct"], true);
    assert_eq!(requests["fix"]["version"], "2.31.0");
    let idna = finding(&report, "idna");
    assert_eq!(
        idna["direct"], false,
        "idna is locked for requests: {idna:#}"
    );
    assert!(
        idna["version"].as_str().unwrap().starts_with("2."),
        "{idna:#}"
    );
    // requests 2.25.0 asks for idna<3: the fix bumps the parent, read from the uv.lock graph
    // and the parent's releases on the index.
    assert_eq!(idna["fix"]["version"], "3.7", "{idna:#}");
    assert_eq!(idna["fix"]["via"][0]["package"], "requests", "{idna:#}");
    assert_eq!(idna["fix"]["via"][0]["from"], "2.25.0", "{idna:#}");
}

#[path = "security/python_locks.rs"]
mod python_locks;

#[path = "security/superseding.rs"]
mod superseding;

//! Network faults end to end: a registry that is down while the others answer, and GitLab
//! answering 5xx and 429 to reads and writes. The client's own fault tests (timeouts, resets,
//! truncated and huge bodies, redirects, the circuit) are in `ecosystems/core/src/http/`.

mod support;

use fake_gitlab::{access, Failure, FakeGitlab, MergeMethod, ProjectOptions};
use serde_json::Value;
use std::sync::Arc;
use support::*;
use updatebot::config::{load_operator_config, OperatorConfig};
use updatebot::forge::gitlab::GitlabForge;
use updatebot::plugins::Plugins;
use updatebot::run::{Fleet, FleetReport};
use updatebot_core::http::{HttpClient, HttpOptions};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// A loopback address nothing listens on.
fn dead_address() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}")
}

#[tokio::test]
async fn a_registry_that_is_down_has_its_packages_skipped_and_the_others_are_proposed() {
    let Some(index) = python_index() else { return };
    // The npm registry answers 503 to everything; the @dead scope's refuses connections.
    let down = MockServer::start().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(ResponseTemplate::new(503).set_body_string("<html>maintenance</html>"))
        .mount(&down)
        .await;
    let dead = dead_address();
    let dir = tempfile::tempdir().unwrap();
    let checkout = dir.path().join("repo");
    copy_tree(
        &repo_root().join("fixtures/faults/one-registry-down"),
        &checkout,
    );
    let npmrc = checkout.join(".npmrc");
    let text = std::fs::read_to_string(&npmrc)
        .unwrap()
        .replace("@@NPM_DOWN@@", &down.uri())
        .replace("@@NPM_DEAD@@", &dead);
    std::fs::write(&npmrc, text).unwrap();
    // One request at a time per host, one retry, and two failed requests open the circuit:
    // the 503 registry must see exactly 2 × 2 requests, however many packages it holds.
    let config = dir.path().join("operator.yml");
    std::fs::write(
        &config,
        format!(
            "registries:\n  local-pypi:\n    type: python-index\n    url: {index}\n    replaces-base: true\nhttp:\n  retries: 1\n  per-host-concurrency: 1\n  circuit-breaker-failures: 2\n  max-retry-wait-seconds: 5\n  connect-timeout-seconds: 2\n"
        ),
    )
    .unwrap();
    let started = std::time::Instant::now();
    let output = updatebot(&[
        "check",
        checkout.to_str().unwrap(),
        "--format",
        "json",
        "--config",
        config.to_str().unwrap(),
    ]);
    let elapsed = started.elapsed();
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let report: Value = serde_json::from_str(&stdout(&output)).unwrap();
    let deps = |path: &str| -> Vec<Value> {
        report["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["path"] == path)
            .unwrap_or_else(|| panic!("no {path} in {report:#}"))["dependencies"]
            .as_array()
            .unwrap()
            .clone()
    };
    // Python: proposed as usual.
    let python = deps("requirements.txt");
    assert_eq!(python.len(), 2);
    for d in &python {
        assert_eq!(d["status"], "update", "{d:#}");
    }
    // npm: every package skipped, each naming its registry.
    let npm = deps("package.json");
    assert_eq!(npm.len(), 7);
    for d in &npm {
        assert_eq!(d["status"], "skipped", "{d:#}");
        assert_eq!(d["skip_reason"], "registry-unavailable", "{d:#}");
        let error = d["error"].as_str().unwrap();
        let name = d["name"].as_str().unwrap();
        let registry = if name.starts_with("@dead/") {
            &dead
        } else {
            &down.uri()
        };
        assert!(
            error.contains(registry.as_str()) && error.contains("is unavailable"),
            "{error}"
        );
    }
    let reasons: Vec<&str> = npm.iter().map(|d| d["error"].as_str().unwrap()).collect();
    assert!(
        reasons.iter().any(|e| e.contains("HTTP 503")),
        "{reasons:#?}"
    );
    assert!(
        reasons.iter().any(|e| e.contains("cannot connect")),
        "{reasons:#?}"
    );
    assert!(
        reasons
            .iter()
            .any(|e| e.contains("requests in a row failed")),
        "the circuit refused some: {reasons:#?}"
    );
    assert_eq!(report["summary"]["registry_unavailable"], 7, "{report:#}");
    assert_eq!(report["summary"]["updates"], 2, "{report:#}");
    assert_eq!(report["summary"]["failed"], 0, "{report:#}");
    // The circuit stopped the hammering: 2 failed requests of 2 attempts each.
    let hits = down.received_requests().await.unwrap().len();
    assert_eq!(hits, 4, "requests to the 503 registry");
    assert!(
        elapsed < std::time::Duration::from_secs(30),
        "took {elapsed:?}"
    );

    // The table says it too.
    let output = updatebot(&[
        "check",
        checkout.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(1));
    let table = stdout(&output);
    assert!(table.contains("skipped: registry-unavailable:"), "{table}");
    assert!(table.contains("2 updates"), "{table}");
}

const CONFIG: &str = "version: 2\nupdates:\n  - package-ecosystem: pip\n    directory: /\n    schedule: {interval: daily}\n";

struct World {
    gitlab: FakeGitlab,
    index: String,
    token: String,
    bot_id: u64,
}

async fn world() -> Option<World> {
    let index = python_index()?;
    let gitlab = FakeGitlab::start().await;
    let bot = gitlab.add_user("updatebot");
    Some(World {
        gitlab,
        index,
        token: bot.token,
        bot_id: bot.id,
    })
}

impl World {
    fn project(&self, name: &str) -> u64 {
        let id = self.gitlab.add_project_with(
            ProjectOptions::new("g", name)
                .files(&[
                    (".updatebot.yml", CONFIG),
                    ("requirements.txt", "six==1.15.0\n"),
                ])
                .merge_method(MergeMethod::Merge),
        );
        self.gitlab.add_member(id, self.bot_id, access::DEVELOPER);
        id
    }

    fn operator(&self, project: &str) -> OperatorConfig {
        let text = format!(
            "gitlab:\n  url: {}\n  token-env: GITLAB_TOKEN\nfleet:\n  projects: [g/{project}]\nregistries:\n  local-pypi:\n    type: python-index\n    url: {}\n    replaces-base: true\n",
            self.gitlab.url(),
            self.index
        );
        let token = self.token.clone();
        load_operator_config(
            &text,
            &move |v| (v == "GITLAB_TOKEN").then(|| token.clone()),
            &|_| Err(std::io::ErrorKind::NotFound.into()),
        )
        .unwrap()
    }

    async fn run(&self, operator: &OperatorConfig) -> FleetReport {
        let http = Arc::new(
            HttpClient::new(
                HttpOptions {
                    backoff: std::time::Duration::from_millis(10),
                    ..HttpOptions::default()
                },
                Vec::new(),
            )
            .unwrap(),
        );
        let forge = GitlabForge::connect(
            operator.gitlab.as_ref().unwrap(),
            &operator.bot,
            http.clone(),
        )
        .await
        .unwrap();
        let plugins = Plugins::standard();
        Fleet::new(&forge, &plugins, operator, http).run().await
    }

    fn count(&self, method: &str, path_ends: &str) -> usize {
        self.gitlab
            .requests()
            .iter()
            .filter(|r| r.method == method && r.path.ends_with(path_ends))
            .count()
    }
}

#[tokio::test]
async fn gitlab_reads_are_retried_and_writes_only_when_surely_not_done() {
    let Some(w) = world().await else { return };

    // Reads answered 502 twice, and a merge request refused with 429 (not acted on): retried.
    let p = w.project("flaky");
    w.gitlab
        .fail(Failure::new("/repository/tree", 502).method("GET").times(2));
    w.gitlab
        .fail(Failure::new("/merge_requests", 429).method("POST"));
    let report = w.run(&w.operator("flaky")).await;
    assert!(!report.failed(), "{}", report.summary());
    let mrs = w.gitlab.merge_requests(p);
    assert_eq!(mrs.len(), 1, "{mrs:?}");
    assert_eq!(
        w.count("POST", "/merge_requests"),
        2,
        "the 429, then the write"
    );
    let tree_statuses: Vec<u16> = w
        .gitlab
        .requests()
        .iter()
        .filter(|r| r.method == "GET" && r.path.ends_with("/repository/tree"))
        .map(|r| r.status)
        .collect();
    assert_eq!(&tree_statuses[..3], &[502, 502, 200], "{tree_statuses:?}");

    // A write whose answer is lost (500 after it was done) is not repeated: the next run
    // finds the merge request instead of opening a second.
    w.gitlab.clear_requests();
    let p = w.project("lost");
    w.gitlab.fail(
        Failure::new("/merge_requests", 500)
            .method("POST")
            .after_processing(),
    );
    let report = w.run(&w.operator("lost")).await;
    assert!(report.failed());
    assert_eq!(w.count("POST", "/merge_requests"), 1, "not retried");
    w.gitlab.clear_failures();
    let report = w.run(&w.operator("lost")).await;
    assert!(!report.failed(), "{}", report.summary());
    assert_eq!(w.gitlab.merge_requests(p).len(), 1);
}

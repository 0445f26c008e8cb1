//! One request per package per run, across a whole fleet: many projects in the GitLab fake
//! sharing most of their dependencies, Python and npm registries recorded with wiremock
//! (which counts every request and answers conditional ones as a real registry does), and a
//! second run with the disk cache that revalidates every package with a `304`.

use fake_gitlab::{access, FakeGitlab, MergeMethod, ProjectOptions};
use std::collections::BTreeMap;
use std::sync::Arc;
use updatebot::config::{load_operator_config, OperatorConfig};
use updatebot::forge::gitlab::GitlabForge;
use updatebot::plugins::Plugins;
use updatebot::run::{registry_client, Fleet, FleetReport};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const PROJECTS: usize = 24;
const PYTHON: &[(&str, &[&str])] = &[
    ("six", &["1.15.0", "1.16.0", "1.17.0"]),
    ("idna", &["2.10", "3.7", "3.10"]),
    ("click", &["7.1.2", "8.1.7"]),
    ("attrs", &["22.2.0", "23.2.0"]),
];
const NPM: &[(&str, &[&str])] = &[
    ("ms", &["2.0.0", "2.1.3"]),
    ("debug", &["2.6.9", "4.3.7"]),
    ("@types/node", &["20.1.0", "20.2.0"]),
];

/// A registry document with an `ETag`; a request carrying that tag gets `304`.
struct Document {
    body: String,
    content_type: &'static str,
    etag: String,
}

impl Respond for Document {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let matches = request
            .headers
            .get("if-none-match")
            .and_then(|v| v.to_str().ok())
            == Some(self.etag.as_str());
        if matches {
            ResponseTemplate::new(304).insert_header("etag", self.etag.as_str())
        } else {
            ResponseTemplate::new(200)
                .insert_header("etag", self.etag.as_str())
                .set_body_raw(self.body.clone(), self.content_type)
        }
    }
}

fn pep691(name: &str, versions: &[&str]) -> String {
    let files: Vec<_> = versions
        .iter()
        .map(|v| {
            serde_json::json!({
                "filename": format!("{name}-{v}-py3-none-any.whl"),
                "url": format!("../../files/{name}-{v}-py3-none-any.whl"),
                "hashes": {"sha256": format!("{:064x}", v.len())},
            })
        })
        .collect();
    serde_json::json!({"meta": {"api-version": "1.1"}, "name": name, "files": files}).to_string()
}

fn packument(name: &str, versions: &[&str]) -> String {
    let docs: serde_json::Map<_, _> = versions
        .iter()
        .map(|v| {
            (
                v.to_string(),
                serde_json::json!({"name": name, "version": v,
                    "dist": {"tarball": format!("http://x.invalid/{name}/-/{v}.tgz")}}),
            )
        })
        .collect();
    serde_json::json!({"name": name, "dist-tags": {"latest": versions.last().unwrap()},
        "versions": docs})
    .to_string()
}

async fn registries() -> (MockServer, MockServer) {
    let pypi = MockServer::start().await;
    for (name, versions) in PYTHON {
        Mock::given(wiremock::matchers::path(format!("/simple/{name}/")))
            .respond_with(Document {
                body: pep691(name, versions),
                content_type: "application/vnd.pypi.simple.v1+json",
                etag: format!("\"{name}-1\""),
            })
            .mount(&pypi)
            .await;
    }
    let npm = MockServer::start().await;
    for (name, versions) in NPM {
        Mock::given(wiremock::matchers::path(format!(
            "/{}",
            name.replace('/', "%2f")
        )))
        .respond_with(Document {
            body: packument(name, versions),
            content_type: "application/json",
            etag: format!("W/\"{name}-1\""),
        })
        .mount(&npm)
        .await;
    }
    (pypi, npm)
}

const REPO_CONFIG: &str = "version: 2\nupdates:\n  - package-ecosystem: pip\n    directory: /\n    schedule: {interval: daily}\n  - package-ecosystem: npm\n    directory: /\n    schedule: {interval: daily}\n";

/// Project `i`: an overlapping share of the packages, at their oldest versions.
fn files(i: usize) -> Vec<(String, String)> {
    let pick = |n: usize| (0..n).filter(move |k| (i + k) % 4 != 3);
    let requirements: String = pick(PYTHON.len())
        .map(|k| format!("{}=={}\n", PYTHON[k].0, PYTHON[k].1[0]))
        .collect();
    let deps: Vec<String> = pick(NPM.len())
        .map(|k| format!("    \"{}\": \"{}\"", NPM[k].0, NPM[k].1[0]))
        .collect();
    vec![
        (".updatebot.yml".into(), REPO_CONFIG.into()),
        ("requirements.txt".into(), requirements),
        (
            "package.json".into(),
            format!(
                "{{\n  \"name\": \"p{i}\",\n  \"dependencies\": {{\n{}\n  }}\n}}\n",
                deps.join(",\n")
            ),
        ),
    ]
}

fn operator(
    gitlab: &FakeGitlab,
    token: &str,
    pypi: &str,
    npm: &str,
    cache: &str,
) -> OperatorConfig {
    let text = format!(
        "gitlab:\n  url: {}\n  token-env: GITLAB_TOKEN\nfleet:\n  groups: [org]\n  concurrency: 8\n\
         registries:\n  pypi:\n    type: python-index\n    url: {pypi}/simple/\n    replaces-base: true\n  \
         npm:\n    type: npm-registry\n    url: {npm}/\n    replaces-base: true\n\
         http:\n  cache-dir: {cache}\n",
        gitlab.url()
    );
    let token = token.to_string();
    load_operator_config(
        &text,
        &move |v| (v == "GITLAB_TOKEN").then(|| token.clone()),
        &|_| Err(std::io::ErrorKind::NotFound.into()),
    )
    .unwrap()
}

async fn run(operator: &OperatorConfig) -> FleetReport {
    // A new client per run, as a new process would have: only the disk cache carries over.
    let http = Arc::new(registry_client(operator).unwrap());
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

/// Requests per path.
async fn requests(server: &MockServer) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for r in server.received_requests().await.unwrap() {
        *out.entry(r.url.path().to_string()).or_default() += 1;
    }
    out
}

#[tokio::test]
async fn one_request_per_package_across_the_fleet_and_304s_with_the_disk_cache() {
    let (pypi, npm) = registries().await;
    let gitlab = FakeGitlab::start().await;
    let bot = gitlab.add_user("updatebot");
    for i in 0..PROJECTS {
        let files = files(i);
        let files: Vec<(&str, &str)> = files
            .iter()
            .map(|(p, c)| (p.as_str(), c.as_str()))
            .collect();
        let id = gitlab.add_project_with(
            ProjectOptions::new("org", &format!("p{i}"))
                .files(&files)
                .merge_method(MergeMethod::Merge),
        );
        gitlab.add_member(id, bot.id, access::DEVELOPER);
    }
    let cache = tempfile::tempdir().unwrap();
    let operator = operator(
        &gitlab,
        &bot.token,
        &pypi.uri(),
        &npm.uri(),
        cache.path().to_str().unwrap(),
    );

    let first = run(&operator).await;
    assert!(!first.failed(), "{}", first.summary());
    let opened = first
        .projects
        .iter()
        .flat_map(|p| &p.changes)
        .filter(|c| c.action == updatebot::run::Action::Opened)
        .count();
    assert!(opened >= PROJECTS * 4, "{}", first.summary());
    // Every package was asked for exactly once, however many projects use it.
    let python = requests(&pypi).await;
    let node = requests(&npm).await;
    assert_eq!(python.len(), PYTHON.len(), "{python:?}");
    assert!(python.values().all(|n| *n == 1), "{python:?}");
    assert_eq!(node.len(), NPM.len(), "{node:?}");
    assert!(node.values().all(|n| *n == 1), "{node:?}");
    let packages = PYTHON.len() + NPM.len();
    assert_eq!(first.packages_looked_up, packages);
    assert_eq!(
        first.registry_requests.values().sum::<u64>(),
        packages as u64
    );
    assert!(first.cache_hits > 0);
    assert!(first.registry_not_modified.is_empty());

    // The next run: one conditional request per package, each a 304 read from disk, and the
    // same outcome (the merge requests are already there).
    let second = run(&operator).await;
    assert!(!second.failed(), "{}", second.summary());
    assert!(second
        .projects
        .iter()
        .flat_map(|p| &p.changes)
        .all(|c| c.action == updatebot::run::Action::Unchanged));
    assert_eq!(
        second.registry_requests.values().sum::<u64>(),
        packages as u64
    );
    assert_eq!(
        second.registry_not_modified.values().sum::<u64>(),
        packages as u64,
        "{:?}",
        second.registry_not_modified
    );
    let python = requests(&pypi).await;
    assert!(python.values().all(|n| *n == 2), "{python:?}");
    assert!(second.summary().contains("answered 304 Not Modified"));
}

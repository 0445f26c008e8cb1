//! Flux `HelmRelease` and `OCIRepository` charts end to end, with real components: charts
//! made by the real `helm` (`helm create`, `helm package`, `helm repo index`; from
//! `scripts/deploy-env.sh install`), an HTTP chart repository served from its folder by the
//! Rust static server of `tests/support` (one path behind basic auth), and an OCI chart
//! repository in the local docker-registry (`helm push --plain-http`; started by
//! `scripts/registry-env.sh`, whose plain and basic-auth registries share one storage).
//!
//! `fixtures/flux/in` is a Flux repository (releases under `clusters/`, sources under
//! `infrastructure/`) naming its servers by placeholder hosts; the copy gets their real
//! `127.0.0.1:PORT`, `updatebot update` runs on it, and the result, placeholders put back,
//! must equal `fixtures/flux/out` byte for byte. `fixtures/flux/bad` holds the bad input:
//! a malformed `index.yaml`, a repository nobody answers for, a chart the index lacks.

mod support;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use support::*;

struct Env {
    /// `127.0.0.1:PORT` of the static chart server, the registries, and a closed port.
    charts: String,
    plain: String,
    basic: String,
    down: String,
    /// Operator config: credentials for the basic registry and the private chart folder.
    operator: PathBuf,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn helm_binary() -> Option<PathBuf> {
    let dir = env("UPDATEBOT_DEPLOY_ENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".cache/deploy-env"));
    let helm = dir.join("bin/helm");
    if helm.is_file() {
        return Some(helm);
    }
    assert!(
        std::env::var_os("UPDATEBOT_REQUIRE_SERVICES").is_none(),
        "helm missing in {}: run scripts/deploy-env.sh install (scripts/test.sh does)",
        dir.display()
    );
    eprintln!("skipped: no helm (run scripts/deploy-env.sh install)");
    None
}

fn ok(output: Output, what: &str) -> String {
    assert!(
        output.status.success(),
        "{what} failed ({}):\n{}\n{}",
        output.status,
        stdout(&output),
        stderr(&output)
    );
    stdout(&output)
}

/// `helm ARGS` with its config, cache and data homes in `home`.
fn helm(binary: &Path, home: &Path, args: &[&str]) -> String {
    let output = Command::new(binary)
        .args(args)
        .env("HELM_CONFIG_HOME", home.join("config"))
        .env("HELM_CACHE_HOME", home.join("cache"))
        .env("HELM_DATA_HOME", home.join("data"))
        .output()
        .expect("helm runs");
    ok(output, &format!("helm {}", args.join(" ")))
}

/// Charts made and published once per test binary; `None` (skip) without the services.
fn setup() -> Option<&'static Env> {
    static ENV: OnceLock<Option<Env>> = OnceLock::new();
    ENV.get_or_init(|| {
        let Some(plain) = env("UPDATEBOT_TEST_REGISTRY_PLAIN") else {
            assert!(
                std::env::var_os("UPDATEBOT_REQUIRE_SERVICES").is_none(),
                "UPDATEBOT_TEST_REGISTRY_PLAIN is not set: run the tests through scripts/test.sh"
            );
            eprintln!("skipped: no local registries (run scripts/test.sh)");
            return None;
        };
        let binary = helm_binary()?;
        let basic = env("UPDATEBOT_TEST_REGISTRY_BASIC").expect("basic registry");
        let user = env("UPDATEBOT_TEST_REGISTRY_USER").expect("registry user");
        let password_file =
            env("UPDATEBOT_TEST_REGISTRY_PASSWORD_FILE").expect("registry password file");
        let work = tempfile::tempdir().unwrap().keep();
        let home = work.join("helm-home");
        let source = work.join("src");
        std::fs::create_dir_all(&source).unwrap();
        helm(&binary, &home, &["create", source.join("podinfo").to_str().unwrap()]);
        let chart = source.join("podinfo");
        let chart_yaml = chart.join("Chart.yaml");
        let original = std::fs::read_to_string(&chart_yaml).unwrap();
        let package = |version: &str, into: &Path, deprecated: bool| {
            std::fs::create_dir_all(into).unwrap();
            let text = if deprecated {
                format!("{original}deprecated: true\n")
            } else {
                original.clone()
            };
            std::fs::write(&chart_yaml, text).unwrap();
            helm(
                &binary,
                &home,
                &[
                    "package",
                    chart.to_str().unwrap(),
                    "--version",
                    version,
                    "-d",
                    into.to_str().unwrap(),
                ],
            );
            into.join(format!("podinfo-{version}.tgz"))
        };
        // The HTTP repository: 7.1.0 is deprecated, 7.2.0-rc.1 a pre-release.
        let site = work.join("site");
        let charts = site.join("charts");
        for version in ["6.5.4", "6.6.0", "7.0.0", "7.2.0-rc.1"] {
            package(version, &charts, false);
        }
        package("7.1.0", &charts, true);
        // A second chart with nothing deprecated.
        helm(&binary, &home, &["create", source.join("tiny").to_str().unwrap()]);
        for version in ["1.0.0", "1.1.0"] {
            let tiny = source.join("tiny");
            helm(
                &binary,
                &home,
                &[
                    "package",
                    tiny.to_str().unwrap(),
                    "--version",
                    version,
                    "-d",
                    charts.to_str().unwrap(),
                ],
            );
        }
        helm(&binary, &home, &["repo", "index", charts.to_str().unwrap()]);
        let private = site.join("private/charts");
        std::fs::create_dir_all(&private).unwrap();
        std::fs::copy(charts.join("index.yaml"), private.join("index.yaml")).unwrap();
        std::fs::create_dir_all(site.join("broken")).unwrap();
        std::fs::write(
            site.join("broken/index.yaml"),
            "<html><body>Moved to the new portal</body></html>\n",
        )
        .unwrap();
        let server = static_files::serve(&site, Some(("/private/", "flux:chart-secret")));
        // The OCI repository: 7.0.1+b2 is pushed as tag `7.0.1_b2`.
        let oci = work.join("oci");
        for version in ["6.5.4", "7.0.0", "7.0.1+b2"] {
            let tgz = package(version, &oci, false);
            helm(
                &binary,
                &home,
                &[
                    "push",
                    tgz.to_str().unwrap(),
                    &format!("oci://{plain}/flux-charts"),
                    "--plain-http",
                ],
            );
        }
        let down = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().to_string()
        };
        let chart_password = work.join("chart-password");
        std::fs::write(&chart_password, "chart-secret\n").unwrap();
        let operator = work.join("operator.yml");
        std::fs::write(
            &operator,
            format!(
                "registries:\n  basic:\n    type: docker-registry\n    url: http://{basic}\n    username: {user}\n    password-file: {password_file}\n  charts:\n    type: docker-registry\n    url: http://{}\n    username: flux\n    password-file: {}\n",
                server.host,
                chart_password.display()
            ),
        )
        .unwrap();
        Some(Env {
            charts: server.host,
            plain,
            basic,
            down,
            operator,
        })
    })
    .as_ref()
}

fn pairs(env: &Env) -> Vec<(&'static str, String)> {
    vec![
        ("charts.repo.test", env.charts.clone()),
        ("plain.registry.test", env.plain.clone()),
        ("basic.registry.test", env.basic.clone()),
        ("down.repo.test", env.down.clone()),
    ]
}

/// Copy `from` to `to`, replacing each `(a, b)` in the text.
fn copy_mapped(from: &Path, to: &Path, pairs: &[(&str, &str)]) {
    for file in files(from) {
        let target = to.join(&file);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        let mut text = std::fs::read_to_string(from.join(&file)).unwrap();
        for (a, b) in pairs {
            text = text.replace(a, b);
        }
        std::fs::write(target, text).unwrap();
    }
}

/// `updatebot ARGS <copy of fixtures/flux/<case>> [--config operator]`.
fn run(env: &Env, case: &str, args: &[&str], credentials: bool) -> (tempfile::TempDir, Output) {
    run_with(env, case, args, credentials, &[])
}

/// [`run`] with more files (path, text) written into the copy.
fn run_with(
    env: &Env,
    case: &str,
    args: &[&str],
    credentials: bool,
    extra: &[(&str, &str)],
) -> (tempfile::TempDir, Output) {
    let work = tempfile::tempdir().unwrap();
    let tree = work.path().join("repo");
    let pairs = pairs(env);
    let forward: Vec<(&str, &str)> = pairs.iter().map(|(a, b)| (*a, b.as_str())).collect();
    copy_mapped(
        &repo_root().join("fixtures/flux").join(case),
        &tree,
        &forward,
    );
    for (path, text) in extra {
        std::fs::write(tree.join(path), text).unwrap();
    }
    let mut all: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    all.push(tree.to_str().unwrap().to_string());
    if credentials {
        all.push("--config".into());
        all.push(env.operator.to_str().unwrap().to_string());
    }
    let all: Vec<&str> = all.iter().map(String::as_str).collect();
    let output = updatebot(&all);
    (work, output)
}

fn check_json(env: &Env, case: &str, credentials: bool) -> Value {
    let (_work, output) = run(env, case, &["check", "--format", "json"], credentials);
    serde_json::from_str(&stdout(&output))
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", stdout(&output), stderr(&output)))
}

/// The dependency `name` with `current_value` in file `path` of a check report.
fn dep<'a>(report: &'a Value, path: &str, name: &str, current: &str) -> &'a Value {
    report["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["path"] == path)
        .flat_map(|m| m["dependencies"].as_array().unwrap())
        .find(|d| d["name"] == name && d["current_value"] == current)
        .unwrap_or_else(|| panic!("no {name} {current} in {path}: {report:#}"))
}

#[test]
fn check_finds_every_chart_and_what_it_would_move_to() {
    let Some(env) = setup() else { return };
    let report = check_json(env, "in", true);
    let apps = "clusters/apps/podinfo.yaml";
    let pinned = dep(&report, apps, "podinfo", "6.5.4");
    assert_eq!(pinned["status"], "update", "{pinned:#}");
    // 7.1.0 is deprecated and 7.2.0-rc.1 a pre-release: 7.0.0 is the newest to propose.
    assert_eq!(pinned["new_version"], "7.0.0");
    assert_eq!(pinned["update_type"], "major");
    assert!(
        pinned["notes"][0]
            .as_str()
            .unwrap()
            .contains("7.1.0 is yanked (deprecated in the chart repository)"),
        "{pinned:#}"
    );
    // A range is reported (the newest chart it admits) and never bumped.
    let range = dep(&report, apps, "podinfo", ">=6.0.0 <7.0.0");
    assert_eq!(range["status"], "no-update", "{range:#}");
    assert_eq!(range["current_version"], "6.6.0");
    assert_eq!(
        range["reason"],
        "no update: 7.0.0: `>=6.0.0 <7.0.0` is a range, which Flux resolves itself at each reconciliation; not bumped"
    );
    // Behind basic auth: the credential configured for the host went along.
    let private = dep(&report, apps, "podinfo", "6.6.0");
    assert_eq!(private["new_version"], "7.0.0", "{private:#}");
    // A sourceRef defined nowhere: skipped, naming it.
    let ghost = dep(&report, apps, "ghost", "1.0.0");
    assert_eq!(ghost["status"], "skipped");
    assert_eq!(ghost["skip_reason"], "unknown-registry");
    assert_eq!(
        ghost["skip_detail"],
        "its sourceRef HelmRepository `flux-system/nowhere` is not defined in any file read from this repository"
    );
    // OCI: tags of `flux-charts/podinfo`, `7.0.1_b2` read as `7.0.1+b2`.
    let oci = "clusters/apps/oci.yaml";
    let report_oci: Vec<&Value> = report["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["path"] == oci)
        .flat_map(|m| m["dependencies"].as_array().unwrap())
        .collect();
    assert_eq!(report_oci.len(), 3, "{report_oci:#?}");
    for d in &report_oci[..2] {
        assert_eq!(d["new_version"], "7.0.1+b2", "{d:#}");
        assert_eq!(d["new_value"], "7.0.1+b2", "{d:#}");
    }
    let artifact = report_oci[2];
    assert_eq!(artifact["dep_type"], "oci-repository");
    assert_eq!(artifact["new_value"], "7.0.1_b2", "{artifact:#}");
}

#[test]
fn update_edits_versions_in_place_and_keeps_the_rest() {
    let Some(env) = setup() else { return };
    let (work, output) = run(env, "in", &["update"], true);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}\n{}",
        stdout(&output),
        stderr(&output)
    );
    let back = work.path().join("back");
    let pairs = pairs(env);
    let backward: Vec<(&str, &str)> = pairs.iter().map(|(a, b)| (b.as_str(), *a)).collect();
    copy_mapped(&work.path().join("repo"), &back, &backward);
    assert_same_tree(&repo_root().join("fixtures/flux/out"), &back);
    // The edited files still read as what was written.
    let again = run(env, "out", &["check", "--format", "json"], true).1;
    let report: Value = serde_json::from_str(&stdout(&again)).unwrap();
    let updated = dep(&report, "clusters/apps/podinfo.yaml", "podinfo", "7.0.0");
    assert_eq!(updated["status"], "no-update", "{updated:#}");
}

#[test]
fn without_credentials_the_protected_repositories_refuse_by_name() {
    let Some(env) = setup() else { return };
    let report = check_json(env, "in", false);
    let private = dep(&report, "clusters/apps/podinfo.yaml", "podinfo", "6.6.0");
    assert_eq!(private["status"], "error", "{private:#}");
    let error = private["error"].as_str().unwrap();
    assert!(
        error.contains("refused access to `podinfo` (HTTP 401)"),
        "{error}"
    );
    assert!(
        error.contains(&format!("http://{}/private/charts", env.charts)),
        "{error}"
    );
    let oci: Vec<&Value> = report["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["path"] == "clusters/apps/oci.yaml")
        .flat_map(|m| m["dependencies"].as_array().unwrap())
        .collect();
    // The basic-auth registry's copy of the same chart (the plain one answers anyone).
    assert_eq!(oci[0]["status"], "update", "{:#}", oci[0]);
    assert_eq!(oci[1]["status"], "error", "{:#}", oci[1]);
    assert!(
        oci[1]["error"]
            .as_str()
            .unwrap()
            .contains(&format!("http://{} refused access to `podinfo`", env.basic)),
        "{:#}",
        oci[1]
    );
}

#[test]
fn bad_repositories_fail_each_chart_alone_with_a_clear_message() {
    let Some(env) = setup() else { return };
    let report = check_json(env, "bad", false);
    let file = "clusters/bad.yaml";
    let deps: Vec<&Value> = report["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["path"] == file)
        .flat_map(|m| m["dependencies"].as_array().unwrap())
        .collect();
    assert_eq!(deps.len(), 3, "{report:#}");
    let broken = deps[0]["error"].as_str().unwrap_or_default();
    assert!(
        broken.contains("gave a malformed answer for `podinfo`")
            && broken.contains("index.yaml cannot be read: it has no `entries` mapping"),
        "{:#}",
        deps[0]
    );
    assert_eq!(deps[1]["status"], "skipped", "{:#}", deps[1]);
    assert_eq!(deps[1]["skip_reason"], "registry-unavailable");
    assert!(
        deps[1]["error"]
            .as_str()
            .unwrap()
            .contains(&format!("http://{}/charts is unavailable", env.down)),
        "{:#}",
        deps[1]
    );
    let missing = deps[2]["error"].as_str().unwrap_or_default();
    assert_eq!(
        missing,
        format!(
            "package `not-in-the-index` not found at http://{}/charts",
            env.charts
        )
    );
}

const TINY: &str = "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata: {name: tiny, namespace: apps}\nspec:\n  chart:\n    spec:\n      chart: tiny\n      version: 1.0.0\n      sourceRef: {kind: HelmRepository, name: podinfo, namespace: flux-system}\n";

#[test]
fn the_cooldown_reads_chart_dates_from_the_index() {
    let Some(env) = setup() else { return };
    // `helm repo index` dates every chart now: a 3-day cooldown holds them all back. The
    // sources' folder must be covered too, or its HelmRepositories are not read.
    let config = "version: 2\nupdates:\n  - package-ecosystem: helm\n    directories: [/clusters/apps, /infrastructure]\n    schedule: {interval: daily}\n    cooldown: {default-days: 3}\n";
    let (_work, output) = run_with(
        env,
        "in",
        &["check", "--format", "json"],
        true,
        &[
            (".updatebot.yml", config),
            ("clusters/apps/tiny.yaml", TINY),
        ],
    );
    let report: Value = serde_json::from_str(&stdout(&output))
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", stdout(&output), stderr(&output)));
    let pinned = dep(&report, "clusters/apps/podinfo.yaml", "podinfo", "6.5.4");
    assert_eq!(pinned["status"], "no-update", "{pinned:#}");
    let tiny = dep(&report, "clusters/apps/tiny.yaml", "tiny", "1.0.0");
    assert_eq!(
        tiny["reason"], "no update: 1.1.0 is 0 days old, under the 3-day cooldown",
        "{tiny:#}"
    );
    // OCI tags carry no date: proposed, saying the cooldown could not be applied.
    let oci = report["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["path"] == "clusters/apps/oci.yaml")
        .unwrap();
    let first = &oci["dependencies"][0];
    assert_eq!(first["status"], "update", "{first:#}");
    assert!(
        first["notes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n.as_str().unwrap().contains("has no release date")),
        "{first:#}"
    );
}

fn git(repo: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(args)
        .env("GIT_AUTHOR_NAME", "Dev")
        .env("GIT_AUTHOR_EMAIL", "dev@example.org")
        .env("GIT_COMMITTER_NAME", "Dev")
        .env("GIT_COMMITTER_EMAIL", "dev@example.org")
        .output()
        .unwrap();
    ok(output, &format!("git {args:?}"))
}

#[test]
fn a_fleet_run_opens_one_merge_request_per_chart_version() {
    let Some(env) = setup() else { return };
    let work = tempfile::tempdir().unwrap();
    let repo = work.path().join("repo");
    let pairs = pairs(env);
    let forward: Vec<(&str, &str)> = pairs.iter().map(|(a, b)| (*a, b.as_str())).collect();
    copy_mapped(&repo_root().join("fixtures/flux/in"), &repo, &forward);
    std::fs::write(
        repo.join(".updatebot.yml"),
        "version: 2\nupdates:\n  - package-ecosystem: helm\n    directories: [/clusters/apps, /infrastructure]\n    schedule: {interval: daily}\n",
    )
    .unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "init"]);
    let output = updatebot(&[
        "run",
        "--local",
        repo.to_str().unwrap(),
        "--config",
        env.operator.to_str().unwrap(),
        "--format",
        "json",
    ]);
    let report: Value = serde_json::from_str(&stdout(&output))
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", stdout(&output), stderr(&output)));
    let project = &report["projects"][0];
    assert_eq!(project["problems"], serde_json::json!([]), "{report:#}");
    // Every chart named `podinfo` in the directory moves in one merge request.
    let changes = project["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 1, "{report:#}");
    assert_eq!(changes[0]["action"], "opened");
    let branch = changes[0]["branch"].as_str().unwrap();
    assert_eq!(branch, "updatebot/docker/clusters/apps/podinfo-7.0.1+b2");
    let diff = git(&repo, &["diff", "main", branch]);
    let changed: Vec<&str> = diff
        .lines()
        .filter(|l| l.starts_with('+') && !l.starts_with("+++"))
        .collect();
    assert_eq!(
        changed,
        [
            "+      version: 7.0.1+b2",
            "+      version: \"7.0.1+b2\"",
            "+    tag: 7.0.1_b2  # the chart as an OCI artifact",
            "+      version: \"7.0.0\" # 7.1.0 is deprecated",
            "+      version: 7.0.0",
        ],
        "{diff}"
    );
    // One request per repository: two index.yaml files, one tag list per registry.
    let requests = &report["registry_requests"];
    assert_eq!(requests[env.charts.as_str()], 2, "{requests}");
    assert_eq!(requests[env.plain.as_str()], 1, "{requests}");
    assert_eq!(requests[env.basic.as_str()], 1, "{requests}");
}

//! End to end against real npm registries (two verdaccio instances on loopback: a main one and
//! a token-protected one for the `@acme` scope). Each case under `fixtures/npm/<case>/` is
//! updated by `updatebot update` and compared with its `out/` tree; then npm itself is the
//! oracle: `npm ci --dry-run` accepts the lock, `npm ls --package-lock-only --all` is clean,
//! and the lock holds the same (path, version, integrity) set as npm's own
//! `npm install --package-lock-only` from the same manifest and starting lock — and is in fact
//! the same file, byte for byte.

mod support;

use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use support::*;

struct Npm {
    registry: String,
    scoped: String,
    token: String,
    npm: String,
    npmrc: String,
    node_bin: String,
}

fn npm_env() -> Option<Npm> {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    match (
        var("UPDATEBOT_TEST_NPM_REGISTRY"),
        var("UPDATEBOT_TEST_NPM_SCOPED_REGISTRY"),
        var("UPDATEBOT_TEST_NPM_SCOPED_TOKEN"),
        var("UPDATEBOT_TEST_NPM"),
        var("UPDATEBOT_TEST_NPMRC"),
        var("UPDATEBOT_TEST_NODE"),
    ) {
        (Some(registry), Some(scoped), Some(token), Some(npm), Some(npmrc), Some(node_bin)) => {
            Some(Npm {
                registry,
                scoped,
                token,
                npm,
                npmrc,
                node_bin,
            })
        }
        _ => {
            assert!(
                std::env::var_os("UPDATEBOT_REQUIRE_SERVICES").is_none(),
                "the npm registries are not running: run the tests through scripts/test.sh"
            );
            eprintln!("skipped: no local npm registries (run scripts/test.sh)");
            None
        }
    }
}

impl Npm {
    /// Placeholders in fixtures ↔ the running registries' addresses.
    fn fill(&self, text: &str) -> String {
        text.replace("@@NPM_SCOPED@@/", &self.scoped)
            .replace("@@NPM@@/", &self.registry)
    }

    fn unfill(&self, text: &str) -> String {
        text.replace(&self.scoped, "@@NPM_SCOPED@@/")
            .replace(&self.registry, "@@NPM@@/")
    }

    fn copy(&self, from: &Path, to: &Path) {
        for file in files(from) {
            let target = to.join(&file);
            std::fs::create_dir_all(target.parent().unwrap()).unwrap();
            let text = std::fs::read_to_string(from.join(&file)).unwrap();
            std::fs::write(target, self.fill(&text)).unwrap();
        }
    }

    fn operator_config(&self, dir: &Path) -> PathBuf {
        std::fs::write(dir.join("scoped-token"), format!("{}\n", self.token)).unwrap();
        let path = dir.join("operator.yml");
        std::fs::write(
            &path,
            format!(
                "registries:\n  npm-main:\n    type: npm-registry\n    url: {}\n    replaces-base: true\n  npm-acme:\n    type: npm-registry\n    url: {}\n    token-file: scoped-token\n",
                self.registry, self.scoped
            ),
        )
        .unwrap();
        path
    }

    fn run(&self, dir: &Path, args: &[&str]) -> (bool, String) {
        run_npm(&self.npm, &self.node_bin, &self.npmrc, dir, args)
    }
}

/// (path, version, integrity) of every package in a lock.
fn inventory(lock: &Path) -> BTreeSet<(String, String, String)> {
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(lock).unwrap()).unwrap();
    doc["packages"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| !k.is_empty())
        .map(|(k, v)| {
            (
                k.clone(),
                v["version"].as_str().unwrap_or("").to_string(),
                v["integrity"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

fn run_case(name: &str) {
    let Some(npm) = npm_env() else { return };
    let case = repo_root().join("fixtures/npm").join(name);
    let work = tempfile::tempdir().unwrap();
    let tree = work.path().join("repo");
    npm.copy(&case.join("in"), &tree);
    let config = npm.operator_config(work.path());
    let output = updatebot(&[
        "update",
        tree.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
    ]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "stdout:\n{}\nstderr:\n{}",
        stdout(&output),
        stderr(&output)
    );
    // Compare with out/, addresses put back to placeholders.
    let actual = work.path().join("actual");
    for file in files(&tree) {
        let target = actual.join(&file);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::write(
            target,
            npm.unfill(&std::fs::read_to_string(tree.join(&file)).unwrap()),
        )
        .unwrap();
    }
    assert_same_tree(&case.join("out"), &actual);

    // npm accepts the lock.
    let (ok, log) = npm.run(&tree, &["ci", "--ignore-scripts", "--dry-run"]);
    assert!(ok, "npm ci refused the lock:\n{log}");
    let (ok, log) = npm.run(&tree, &["ls", "--all", "--package-lock-only"]);
    assert!(ok, "npm ls found problems:\n{log}");
    // npm's own update from the same manifest and starting lock gives the same packages.
    let theirs = work.path().join("theirs");
    npm.copy(&case.join("in"), &theirs);
    for file in files(&tree)
        .into_iter()
        .filter(|f| f.ends_with("package.json"))
    {
        std::fs::copy(tree.join(&file), theirs.join(&file)).unwrap();
    }
    // Most cases are `npm install`; an in-range update is npm's `update <name>` (fixture
    // file `npm-oracle` holds the arguments).
    let oracle =
        std::fs::read_to_string(case.join("npm-oracle")).unwrap_or_else(|_| "install".into());
    let mut args: Vec<&str> = oracle.split_whitespace().collect();
    args.extend(["--package-lock-only", "--ignore-scripts"]);
    let (ok, log) = npm.run(&theirs, &args);
    assert!(ok, "npm {oracle} failed:\n{log}");
    let ours = inventory(&tree.join("package-lock.json"));
    let npms = inventory(&theirs.join("package-lock.json"));
    assert_eq!(
        ours,
        npms,
        "ours (left) and npm's (right) differ:\nonly ours: {:?}\nonly npm's: {:?}",
        ours.difference(&npms).collect::<Vec<_>>(),
        npms.difference(&ours).collect::<Vec<_>>()
    );
    // Not just the same packages: the very same file, byte for byte.
    let text =
        |p: &Path| npm.unfill(&std::fs::read_to_string(p.join("package-lock.json")).unwrap());
    assert_eq!(
        text(&tree),
        text(&theirs),
        "the lock differs from npm's own in its text"
    );
}

#[test]
fn npm_patch_bump_keeps_the_rest() {
    run_case("npm_patch_bump_keeps_the_rest");
}

#[test]
fn npm_bump_adds_transitive_dependencies() {
    run_case("npm_bump_adds_transitive_dependencies");
}

#[test]
fn npm_bump_removes_transitive_dependencies_v2() {
    run_case("npm_bump_removes_transitive_dependencies_v2");
}

#[test]
fn npm_conflict_nests_a_copy() {
    run_case("npm_conflict_nests_a_copy");
}

#[test]
fn npm_optional_dependency() {
    run_case("npm_optional_dependency");
}

#[test]
fn npm_workspace_member() {
    run_case("npm_workspace_member");
}

#[test]
fn npm_scoped_package_from_a_second_registry() {
    run_case("npm_scoped_package_from_a_second_registry");
}

#[test]
fn npm_in_range_update_touches_only_the_lock() {
    run_case("npm_in_range_update_touches_only_the_lock");
}

/// `updatebot run --local` on a git repository holding the patch-bump case, with
/// `.updatebot.yml` extra lines; the JSON report and the repository.
fn run_local(npm: &Npm, entry_extra: &str) -> (Value, tempfile::TempDir) {
    let work = tempfile::tempdir().unwrap();
    let repo = work.path().join("repo");
    npm.copy(
        &repo_root().join("fixtures/npm/npm_patch_bump_keeps_the_rest/in"),
        &repo,
    );
    std::fs::write(
        repo.join(".updatebot.yml"),
        format!(
            "version: 2\nupdates:\n  - package-ecosystem: npm\n    directory: /\n    schedule: {{interval: daily}}\n{entry_extra}"
        ),
    )
    .unwrap();
    let git = |args: &[&str]| {
        let out = std::process::Command::new("git")
            .arg("-C")
            .arg(&repo)
            .args(args)
            .env("GIT_AUTHOR_NAME", "Dev")
            .env("GIT_AUTHOR_EMAIL", "dev@example.org")
            .env("GIT_COMMITTER_NAME", "Dev")
            .env("GIT_COMMITTER_EMAIL", "dev@example.org")
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {}", stderr_of(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    git(&["init", "-q", "-b", "main"]);
    git(&["add", "-A"]);
    git(&["commit", "-q", "-m", "init"]);
    let config = npm.operator_config(work.path());
    let output = updatebot(&[
        "run",
        "--local",
        repo.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let report: Value = serde_json::from_str(&stdout(&output)).unwrap();
    // The lock on the merge request's branch is npm's own, license fields and all.
    let branch = report["projects"][0]["changes"][0]["branch"]
        .as_str()
        .unwrap_or_else(|| panic!("no merge request: {report}"))
        .to_string();
    let lock = git(&["show", &format!("{branch}:package-lock.json")]);
    let expected = std::fs::read_to_string(
        repo_root().join("fixtures/npm/npm_patch_bump_keeps_the_rest/out/package-lock.json"),
    )
    .unwrap();
    assert_eq!(npm.unfill(&lock), expected);
    assert!(lock.contains("\"license\": \"MIT\""), "{lock}");
    (report, work)
}

fn stderr_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Registry requests of a run's report, all hosts together.
fn requests(report: &Value) -> u64 {
    report["registry_requests"]
        .as_object()
        .unwrap()
        .values()
        .map(|n| n.as_u64().unwrap())
        .sum()
}

/// A run applies what it proposes, and applying needs full documents (npm writes lock
/// entries from them: `license`), so it asks for each package's full document at once: one
/// request per package, never an abbreviated one and then the full one. `check`, which
/// applies nothing, asks for abbreviated documents (see the next tests).
#[test]
fn npm_a_run_asks_for_each_full_document_once() {
    let Some(npm) = npm_env() else { return };
    let (report, _work) = run_local(&npm, "");
    assert_eq!(report["packages_looked_up"], 2, "{report}");
    // left-pad and ms, one request each.
    assert_eq!(requests(&report), 2, "{report}");
    // left-pad 1.3.0 is deprecated: no merge request.
    let changes = report["projects"][0]["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 1, "{report}");
    assert_eq!(changes[0]["updates"][0]["name"], "ms", "{report}");
}

/// A cooldown needs publish dates, which npm's registry leaves out of abbreviated
/// documents: every lookup asks for the full document, once.
#[test]
fn npm_a_cooldown_asks_for_full_documents_once() {
    let Some(npm) = npm_env() else { return };
    let (report, _work) = run_local(&npm, "    cooldown: {default-days: 1}\n");
    assert_eq!(report["packages_looked_up"], 2, "{report}");
    assert_eq!(requests(&report), 2, "{report}");
}

/// What each document of the real registry carries, read through the run's cache.
#[tokio::test]
async fn npm_abbreviated_and_full_documents_of_the_real_registry() {
    use updatebot_core::http::{HttpClient, HttpOptions};
    use updatebot_core::registry::{Detail, LookupCache};
    let Some(npm) = npm_env() else { return };
    let http = std::sync::Arc::new(HttpClient::new(HttpOptions::default(), vec![]).unwrap());
    let registry = updatebot_npm::registry::registry_for(&npm.registry, http.clone()).unwrap();
    let cache = LookupCache::new();
    let brief = cache
        .lookup(registry.clone(), "ms", Detail::Brief)
        .await
        .unwrap();
    assert!(brief.abbreviated, "verdaccio serves abbreviated packuments");
    let meta = brief.release("2.1.3").unwrap().metadata.clone().unwrap();
    assert!(meta.get("license").is_none(), "{meta}");
    assert!(meta["dist"]["integrity"].is_string(), "{meta}");
    let full = cache.releases(registry.clone(), "ms").await.unwrap();
    assert!(!full.abbreviated);
    let meta = full.release("2.1.3").unwrap().metadata.clone().unwrap();
    assert_eq!(meta["license"], "MIT");
    // Once each, and the full one answers brief lookups from then on.
    let again = cache
        .lookup(registry.clone(), "ms", Detail::Brief)
        .await
        .unwrap();
    assert!(!again.abbreviated);
    let sent: u64 = http.stats().values().map(|s| s.requests).sum();
    assert_eq!(sent, 2);
}

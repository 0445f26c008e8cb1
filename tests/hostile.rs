//! Hostile input: repositories whose files try to run code, escape the checkout or exhaust
//! memory, and registry answers built to do the same. Nothing may run, nothing outside the
//! checkout may be read or written, and every bad input ends in an error that names it.
//!
//! The no-code-execution test uses `fixtures/hostile/repo` (see its README) against the real
//! local registries that `scripts/test.sh` starts (devpi and verdaccio).

mod support;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use support::*;
use updatebot_core::Manager;

const MARKER: &str = "updatebot-hostile-marker";

fn fixture() -> PathBuf {
    repo_root().join("fixtures/hostile/repo")
}

/// Every marker file below `dir` (recursively, `.git` included).
fn markers_in(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if entry.file_name().to_string_lossy().contains(MARKER) {
                out.push(path.clone());
            }
            if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                stack.push(path);
            }
        }
    }
    out
}

/// Markers directly in the system temporary folders (where the hooks write when run with a
/// scrubbed environment) and in `$TMPDIR`.
fn markers_in_temp() -> Vec<PathBuf> {
    let mut dirs = vec![PathBuf::from("/tmp"), std::env::temp_dir()];
    dirs.dedup();
    dirs.iter()
        .flat_map(|d| std::fs::read_dir(d).into_iter().flatten().flatten())
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(MARKER))
        })
        .collect()
}

/// Copy the hostile fixture to `to`, the npm registry's address filled in.
fn copy_fixture(to: &Path, npm_registry: &str) {
    for file in files(&fixture()) {
        let target = to.join(&file);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        let text = std::fs::read_to_string(fixture().join(&file)).unwrap();
        std::fs::write(&target, text.replace("@@NPM@@/", npm_registry)).unwrap();
        let mode = std::fs::metadata(fixture().join(&file))
            .unwrap()
            .permissions();
        std::fs::set_permissions(&target, mode).unwrap();
    }
}

fn git(repo: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(args)
        .env("GIT_AUTHOR_NAME", "Dev")
        .env("GIT_AUTHOR_EMAIL", "dev@example.org")
        .env("GIT_COMMITTER_NAME", "Dev")
        .env("GIT_COMMITTER_EMAIL", "dev@example.org")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn npm_registry() -> Option<String> {
    match std::env::var("UPDATEBOT_TEST_NPM_REGISTRY") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var_os("UPDATEBOT_REQUIRE_SERVICES").is_none(),
                "UPDATEBOT_TEST_NPM_REGISTRY is not set: run the tests through scripts/test.sh"
            );
            eprintln!("skipped: no local npm registry (run scripts/test.sh)");
            None
        }
    }
}

/// The hooks of the fixture do write their markers when something runs them: run each the
/// way its tool would, in a scratch copy with its own temporary folder.
#[test]
fn the_fixture_hooks_really_write_markers_when_run() {
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("repo");
    let tmp = dir.path().join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    copy_fixture(&copy, "http://127.0.0.1:9/");
    let run = |program: &str, args: &[&str]| {
        Command::new(program)
            .args(args)
            .current_dir(&copy)
            .env("TMPDIR", &tmp)
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    };
    let package: Value =
        serde_json::from_str(&std::fs::read_to_string(copy.join("package.json")).unwrap()).unwrap();
    let script = package["scripts"]["postinstall"].as_str().unwrap();
    let mut expected = vec!["script-shell"];
    assert!(run("./evil-shell.sh", &["-c", "true"]));
    if run("node", &["--version"]) {
        assert!(run("sh", &["-c", script]), "{script}");
        assert!(run("node", &["_build/evil-require.js"]));
        expected.extend(["npm-postinstall", "node-options"]);
    }
    if run("python3", &["-c", "import setuptools"]) {
        assert!(run("python3", &["setup.py", "--version"]));
        assert!(run(
            "python3",
            &[
                "-c",
                "import sys; sys.path.insert(0, '_build'); import backend"
            ]
        ));
        expected.extend(["setup-py", "build-backend"]);
    }
    for what in expected {
        let name = format!("{MARKER}-{what}");
        assert!(tmp.join(&name).exists(), "{name} not written to TMPDIR");
        assert!(copy.join(&name).exists(), "{name} not written to the cwd");
    }
}

/// `extract`, `check`, `update` and `run --local` on the hostile repository, against the real
/// registries: the updates are made, and no marker appears anywhere.
#[test]
fn nothing_from_the_repository_runs_in_any_mode() {
    let Some(index) = python_index() else { return };
    let Some(npm) = npm_registry() else { return };
    // Markers a failed earlier run left behind would hide nothing, but would fail this one.
    for stale in markers_in_temp() {
        let _ = std::fs::remove_file(stale);
    }
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    copy_fixture(&repo, &npm);
    let config = dir.path().join("operator.yml");
    std::fs::write(
        &config,
        format!(
            "registries:\n  local-pypi:\n    type: python-index\n    url: {index}\n    replaces-base: true\n  \
             local-npm:\n    type: npm-registry\n    url: {npm}\n    replaces-base: true\n"
        ),
    )
    .unwrap();
    let path = repo.to_str().unwrap();
    let config_arg = config.to_str().unwrap();

    let extract = updatebot(&["extract", path, "--format", "json"]);
    let listed: Value = serde_json::from_str(&stdout(&extract))
        .unwrap_or_else(|e| panic!("{e}: {}{}", stdout(&extract), stderr(&extract)));
    let manifests: Vec<&str> = listed["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["path"].as_str().unwrap())
        .collect();
    for wanted in ["package.json", "pyproject.toml", "requirements.txt"] {
        assert!(manifests.contains(&wanted), "{manifests:?}");
    }

    let check = updatebot(&["check", path, "--config", config_arg, "--format", "json"]);
    let checked = stdout(&check);
    assert!(checked.contains("\"new_version\": \"2.1.3\""), "{checked}");

    let dry = updatebot(&["update", "--dry-run", path, "--config", config_arg]);
    assert!(
        stdout(&dry).contains("+    \"ms\": \"2.1.3\""),
        "{}",
        stdout(&dry)
    );

    let update = updatebot(&["update", path, "--config", config_arg]);
    let package = std::fs::read_to_string(repo.join("package.json")).unwrap();
    assert!(
        package.contains("\"ms\": \"2.1.3\""),
        "{package}\n{}{}",
        stdout(&update),
        stderr(&update)
    );
    let pyproject = std::fs::read_to_string(repo.join("pyproject.toml")).unwrap();
    assert!(pyproject.contains("requests==2.32.3"), "{pyproject}");
    let requirements = std::fs::read_to_string(repo.join("requirements.txt")).unwrap();
    assert!(requirements.contains("idna==3.10"), "{requirements}");
    assert!(requirements.contains("-e ."), "{requirements}");

    // The fleet run on a git repository of the same files, with hooks in `.git/hooks` that
    // git would run on every ref update and commit.
    let fleet = dir.path().join("fleet");
    copy_fixture(&fleet, &npm);
    git(&fleet, &["init", "-q", "-b", "main"]);
    git(&fleet, &["add", "-A"]);
    git(&fleet, &["commit", "-q", "-m", "init"]);
    for hook in [
        "reference-transaction",
        "post-commit",
        "pre-commit",
        "post-checkout",
    ] {
        let file = fleet.join(".git/hooks").join(hook);
        std::fs::write(
            &file,
            format!("#!/bin/sh\ntouch \"${{TMPDIR:-/tmp}}/{MARKER}-git-{hook}\" \"{MARKER}-git-{hook}\"\n"),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let run = updatebot(&[
        "run",
        "--local",
        fleet.to_str().unwrap(),
        "--config",
        config_arg,
        "--format",
        "json",
    ]);
    let report: Value = serde_json::from_str(&stdout(&run))
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", stdout(&run), stderr(&run)));
    let opened = report["projects"][0]["changes"]
        .as_array()
        .map(|c| c.iter().filter(|c| c["action"] == "opened").count())
        .unwrap_or(0);
    assert!(opened >= 3, "{report:#}");

    let mut found = markers_in(dir.path());
    found.extend(markers_in_temp());
    assert!(found.is_empty(), "repository code ran: {found:?}");
}

/// A symbolic link in the checkout pointing outside is never read nor written: the manifest
/// fails naming the link, `update` leaves its target alone, a symlinked `.updatebot.yml` is
/// a configuration error.
#[test]
fn symlinks_out_of_the_checkout_are_refused_by_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let outside = dir.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("secret.txt"), "secret-package==1.0\n").unwrap();
    std::fs::write(
        outside.join("package.json"),
        "{\"dependencies\": {\"x\": \"1.0.0\"}}\n",
    )
    .unwrap();
    let repo = dir.path().join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    std::fs::write(repo.join("requirements.txt"), "idna==2.10\n").unwrap();
    std::os::unix::fs::symlink(
        outside.join("secret.txt"),
        repo.join("requirements-dev.txt"),
    )
    .unwrap();
    std::os::unix::fs::symlink(&outside, repo.join("web")).unwrap();
    let path = repo.to_str().unwrap();

    let out = updatebot(&["extract", path, "--format", "json"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(!text.contains("secret-package"), "{text}");
    assert!(
        text.contains("`requirements-dev.txt` is a symbolic link"),
        "{text}"
    );
    // The linked directory is not walked at all.
    assert!(!text.contains("web/package.json"), "{text}");

    std::os::unix::fs::symlink(outside.join("secret.txt"), repo.join(".updatebot.yml")).unwrap();
    let out = updatebot(&["extract", path]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("`.updatebot.yml` is a symbolic link"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        std::fs::read_to_string(outside.join("secret.txt")).unwrap(),
        "secret-package==1.0\n"
    );
}

/// `directory`, `directories` and `exclude-paths` that leave the repository are
/// configuration errors with their line, before anything is read.
#[test]
fn path_traversal_in_the_repository_config_is_a_config_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join(".updatebot.yml"),
        "version: 2\nupdates:\n  - package-ecosystem: pip\n    directory: ../../etc\n    schedule: {interval: daily}\n  - package-ecosystem: npm\n    directories: [/web, \"/a/../../..\"]\n    exclude-paths: [\"x/../../y\"]\n    schedule: {interval: daily}\n",
    )
    .unwrap();
    let out = updatebot(&["extract", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    for (line, value) in [(4, "../../etc"), (7, "/a/../../.."), (8, "x/../../y")] {
        assert!(
            err.contains(&format!(".updatebot.yml:{line}:")) && err.contains(value),
            "{line} {value}: {err}"
        );
    }
}

/// A 100 MB manifest is refused by size, naming the file, without being read.
#[test]
fn oversized_manifests_are_refused_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let big = std::fs::File::create(dir.path().join("requirements.txt")).unwrap();
    big.set_len(100 * 1024 * 1024).unwrap();
    std::fs::write(dir.path().join("Dockerfile"), "FROM nginx:1.25.3\n").unwrap();
    let started = Instant::now();
    let out = updatebot(&["extract", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(
        text.contains("`requirements.txt` is 104857600 bytes, over the 10485760-byte limit"),
        "{text}"
    );
    assert!(
        text.contains("nginx"),
        "the other manifest is still read: {text}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
}

/// Billion laughs: each YAML reader either refuses the aliases' expansion or never expands
/// them, quickly and in little memory.
#[test]
fn yaml_alias_bombs_are_bounded_in_every_yaml_reader() {
    let mut bomb =
        String::from("version: 2\na0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for i in 1..12 {
        let p = i - 1;
        bomb.push_str(&format!(
            "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
        ));
    }
    bomb.push_str("updates: *a11\nservices: {web: {image: *a11}}\nimage: *a11\nregistries: *a11\n");
    let started = Instant::now();
    let repo = updatebot::config::parse_repo_config(&bomb).unwrap_err();
    assert!(
        repo.problems
            .iter()
            .any(|p| p.message.contains("aliases expand to more than")),
        "{:?}",
        repo.problems
    );
    let operator =
        updatebot::config::load_operator_config(&bomb, &|_| None, &|_| Ok(String::new()))
            .unwrap_err();
    assert!(operator
        .problems
        .iter()
        .any(|p| p.message.contains("aliases expand to more than")));
    use updatebot_container::yaml_managers::{Compose, GitlabCi, HelmValues, Kubernetes};
    let managers: [(&dyn Manager, &str); 4] = [
        (&Compose, "compose.yaml"),
        (&GitlabCi, ".gitlab-ci.yml"),
        (&Kubernetes, "deploy/app.yaml"),
        (&HelmValues, "values.yaml"),
    ];
    for (manager, path) in managers {
        // Aliases are not expanded (an alias is read where its anchor is): no blow-up.
        if let Ok(file) = manager.extract(path, &bomb) {
            assert!(file.dependencies.len() < 100, "{path}");
        }
    }
    assert!(started.elapsed() < Duration::from_secs(5));
}

/// Nesting far deeper than any real file: an error naming the problem, never a stack
/// overflow (this test would abort the whole test binary).
#[test]
fn deeply_nested_input_is_an_error_not_a_stack_overflow() {
    let n = 100_000;
    let arrays = format!("{}{}", "[".repeat(n), "]".repeat(n));
    let objects = format!("{}1{}", "{\"a\":".repeat(n), "}".repeat(n));
    // Manifests.
    let package = format!("{{\"dependencies\": {{\"ms\": \"2.0.0\"}}, \"x\": {arrays}}}");
    let e = updatebot_npm::package_json::PackageJson
        .extract("package.json", &package)
        .unwrap_err();
    assert!(e.to_string().contains("nesting depth"), "{e}");
    let overrides = format!("{{\"overrides\": {objects}}}");
    assert!(updatebot_npm::package_json::PackageJson
        .extract("package.json", &overrides)
        .is_err());
    let toml = format!("[project]\ndependencies = []\nx = {arrays}\n");
    assert!(updatebot_python::pyproject::Pyproject
        .extract("pyproject.toml", &toml)
        .is_err());
    let marker = format!(
        "requests==2.25.0; {}python_version > '3'{}\n",
        "(".repeat(n),
        ")".repeat(n)
    );
    let e = updatebot_python::requirements::Requirements
        .extract("requirements.txt", &marker)
        .unwrap_err();
    assert!(e.to_string().contains("nested deeper"), "{e}");
    let yaml = format!("services: {arrays}\n");
    use updatebot_container::yaml_managers::{Compose, GitlabCi, HelmValues, Kubernetes};
    for manager in [
        &Compose as &dyn Manager,
        &GitlabCi,
        &Kubernetes,
        &HelmValues,
    ] {
        let _ = manager.extract("x.yaml", &yaml);
    }
    assert!(updatebot::config::parse_repo_config(&yaml).is_err());
    // Lockfiles.
    let lock = format!("{{\"lockfileVersion\": 3, \"packages\": {objects}}}");
    let e = updatebot_npm::lock::doc::LockDoc::parse("package-lock.json", &lock).unwrap_err();
    assert!(e.to_string().contains("recursion limit"), "{e}");
    // Registry answers.
    let answer = format!("{{\"versions\": {objects}}}");
    assert!(updatebot_npm::registry::parse_packument(
        "ms",
        "http://127.0.0.1:9",
        answer.as_bytes()
    )
    .is_err());
    let page = url::Url::parse("http://127.0.0.1:9/simple/ms/").unwrap();
    let files = format!("{{\"files\": {arrays}}}");
    assert!(updatebot_python::index::parse_simple_json(files.as_bytes(), &page).is_err());
    assert!(updatebot_python::index::parse_json_api("ms", answer.as_bytes()).is_err());
    let tags = format!("{{\"tags\": {arrays}}}");
    assert!(updatebot_container::registry::decode_tag_list(tags.as_bytes()).is_err());
}

/// The fleet run reads files through the forge (`git ls-tree`, `git cat-file`), not the
/// checkout: a committed symbolic link (here to files outside the repository) is listed as
/// a link and never read, written or committed over. A linked manifest is a problem naming
/// the link; with the local npm registry, a linked `package-lock.json` blocks its manifest's
/// update (a failed change naming the link, no branch) instead of being read as a lockfile.
#[test]
fn the_fleet_run_never_reads_or_writes_through_a_committed_symlink() {
    let dir = tempfile::tempdir().unwrap();
    let outside = dir.path().join("outside.txt");
    std::fs::write(&outside, "secret-package==1.0\n").unwrap();
    let outside_lock = dir.path().join("outside-lock.json");
    let lock = "{\n  \"name\": \"x\",\n  \"version\": \"1.0.0\",\n  \"lockfileVersion\": 3,\n  \
                \"requires\": true,\n  \"packages\": {\n    \"\": {\"name\": \"x\", \"version\": \"1.0.0\", \
                \"dependencies\": {\"ms\": \"2.0.0\"}},\n    \"node_modules/ms\": {\"version\": \"2.0.0\"}\n  }\n}\n";
    std::fs::write(&outside_lock, lock).unwrap();
    let repo = dir.path().join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    let mut config = String::from(
        "version: 2\nupdates:\n  - package-ecosystem: pip\n    directory: /\n    schedule: {interval: daily}\n",
    );
    std::os::unix::fs::symlink(&outside, repo.join("requirements.txt")).unwrap();
    let operator = dir.path().join("operator.yml");
    // Without the local registry the npm half is left out: fixtures never ask public hosts.
    let npm = npm_registry();
    if let Some(npm) = &npm {
        config.push_str(
            "  - package-ecosystem: npm\n    directory: /\n    schedule: {interval: daily}\n",
        );
        std::fs::write(
            repo.join("package.json"),
            "{\n  \"name\": \"x\",\n  \"version\": \"1.0.0\",\n  \"dependencies\": {\n    \"ms\": \"2.0.0\"\n  }\n}\n",
        )
        .unwrap();
        std::os::unix::fs::symlink(&outside_lock, repo.join("package-lock.json")).unwrap();
        std::fs::write(
            &operator,
            format!(
                "registries:\n  local-npm:\n    type: npm-registry\n    url: {npm}\n    replaces-base: true\n"
            ),
        )
        .unwrap();
    } else {
        std::fs::write(&operator, "{}\n").unwrap();
    }
    std::fs::write(repo.join(".updatebot.yml"), config).unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "init"]);
    let links = git(&repo, &["ls-tree", "-r", "HEAD"]);
    assert!(links.contains("120000 blob"), "{links}");

    let run = updatebot(&[
        "run",
        "--local",
        repo.to_str().unwrap(),
        "--config",
        operator.to_str().unwrap(),
        "--format",
        "json",
    ]);
    let report: Value = serde_json::from_str(&stdout(&run))
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", stdout(&run), stderr(&run)));
    let project = &report["projects"][0];
    assert_eq!(project["error"], Value::Null, "{report:#}");
    let problems = project["problems"].to_string();
    assert!(
        problems.contains("`requirements.txt` is a symbolic link"),
        "{report:#}"
    );
    assert!(!stdout(&run).contains("secret-package"), "{report:#}");
    if npm.is_some() {
        let changes = project["changes"].as_array().unwrap();
        assert_eq!(changes.len(), 1, "{report:#}");
        assert_eq!(changes[0]["action"], "failed", "{report:#}");
        let reason = changes[0]["reason"].as_str().unwrap_or_default();
        assert!(
            reason.contains("`package-lock.json` is a symbolic link"),
            "{report:#}"
        );
        assert_eq!(run.status.code(), Some(1), "{report:#}");
    } else {
        assert_eq!(project["changes"], serde_json::json!([]), "{report:#}");
    }
    // Nothing committed: no bot branch, the default branch where it was, the targets intact.
    assert_eq!(git(&repo, &["branch", "--list"]), "* main");
    assert_eq!(git(&repo, &["rev-list", "--count", "main"]), "1");
    assert_eq!(
        std::fs::read_to_string(&outside).unwrap(),
        "secret-package==1.0\n"
    );
    assert_eq!(std::fs::read_to_string(&outside_lock).unwrap(), lock);
}

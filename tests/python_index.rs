//! End to end against a real Python index (devpi on loopback, seeded with real packages):
//! every case under `fixtures/python/<case>/` is copied, updated with `updatebot update`,
//! and compared byte for byte with its `out/` tree; hashed requirements are then accepted by
//! pip itself (`pip install --dry-run --require-hashes`).

mod support;

use std::path::Path;
use std::process::Command;
use support::*;

fn run_case(name: &str) -> Option<tempfile::TempDir> {
    let index = python_index()?;
    let case = repo_root().join("fixtures/python").join(name);
    let work = tempfile::tempdir().unwrap();
    let tree = work.path().join("repo");
    copy_tree(&case.join("in"), &tree);
    let config = operator_config(work.path(), &index);
    let output = updatebot(&[
        "update",
        tree.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
    ]);
    let expected_exit: i32 = std::fs::read_to_string(case.join("exit-code"))
        .map(|s| s.trim().parse().unwrap())
        .unwrap_or(0);
    assert_eq!(
        output.status.code(),
        Some(expected_exit),
        "stdout:\n{}\nstderr:\n{}",
        stdout(&output),
        stderr(&output)
    );
    assert_same_tree(&case.join("out"), &tree);
    Some(work)
}

/// pip, from the test environment, installing `requirements` from `index` with hashes required.
fn pip_accepts(requirements: &Path, index: &str) -> (bool, String) {
    let pip = std::env::var("UPDATEBOT_TEST_PIP").unwrap_or_else(|_| {
        repo_root()
            .join(".cache/test-env/bin/pip")
            .to_string_lossy()
            .into_owned()
    });
    let output = Command::new(pip)
        .args([
            "install",
            "--dry-run",
            "--ignore-installed",
            "--no-deps",
            "--require-hashes",
            "--no-cache-dir",
        ])
        .arg("--index-url")
        .arg(index)
        .arg("-r")
        .arg(requirements)
        .env("PIP_FIND_LINKS", "")
        .env("PIP_CONFIG_FILE", "/dev/null")
        .env("PIP_DISABLE_PIP_VERSION_CHECK", "1")
        .output()
        .expect("pip runs");
    (
        output.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    )
}

#[test]
fn requirements_pins_and_ranges_move() {
    run_case("requirements_pins_and_ranges_move");
}

#[test]
fn requirements_crlf_is_kept() {
    run_case("requirements_crlf_is_kept");
}

#[test]
fn requirements_hashes_follow_the_pin() {
    let Some(work) = run_case("requirements_hashes_follow_the_pin") else {
        return;
    };
    let index = python_index().unwrap();
    let updated = work.path().join("repo/requirements.txt");
    let (ok, log) = pip_accepts(&updated, &index);
    assert!(ok, "pip refused the updated hashes:\n{log}");
    assert!(
        log.contains("idna-3.10") && log.contains("six-1.17.0"),
        "{log}"
    );
    // The oracle can fail: a tampered hash is refused.
    let tampered = work.path().join("tampered.txt");
    let text = std::fs::read_to_string(&updated).unwrap();
    std::fs::write(&tampered, text.replace("--hash=sha256:", "--hash=sha256:0")).unwrap();
    assert!(!pip_accepts(&tampered, &index).0);
}

#[test]
fn pyproject_pep621_keeps_operators_and_requires_python() {
    run_case("pyproject_pep621_keeps_operators_and_requires_python");
}

#[test]
fn poetry_constraints_keep_precision() {
    run_case("poetry_constraints_keep_precision");
}

#[test]
fn pipfile_pins_and_ranges() {
    run_case("pipfile_pins_and_ranges");
}

#[test]
fn updatebot_yml_limits_directories_and_rules() {
    run_case("updatebot_yml_limits_directories_and_rules");
}

#[test]
fn malformed_manifests_do_not_stop_the_run() {
    run_case("malformed_manifests_do_not_stop_the_run");
}

/// `check --format json` names every outcome: updates with their type, skips with their
/// reason, and the reason there is no update.
#[test]
fn check_json_explains_every_dependency() {
    let Some(index) = python_index() else { return };
    let work = tempfile::tempdir().unwrap();
    let tree = work.path().join("repo");
    copy_tree(
        &repo_root().join("fixtures/python/requirements_pins_and_ranges_move/in"),
        &tree,
    );
    let config = operator_config(work.path(), &index);
    let output = updatebot(&[
        "check",
        tree.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let report: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    let deps = report["manifests"][0]["dependencies"].as_array().unwrap();
    let by_name = |name: &str| deps.iter().find(|d| d["name"] == name).unwrap().clone();
    let requests = by_name("requests");
    assert_eq!(requests["status"], "update");
    assert_eq!(requests["new_version"], "2.32.3");
    assert_eq!(requests["new_value"], "==2.32.3");
    assert_eq!(requests["update_type"], "minor");
    assert_eq!(by_name("attrs")["status"], "no-update");
    assert!(by_name("attrs")["reason"]
        .as_str()
        .unwrap()
        .contains("admits 23.2.0"));
    assert_eq!(by_name("packaging")["skip_reason"], "unpinned");
    assert_eq!(by_name("thing")["skip_reason"], "git-dependency");
    assert_eq!(report["summary"]["failed"], 0);
    // Nothing was written by `check`.
    assert_same_tree(
        &repo_root().join("fixtures/python/requirements_pins_and_ranges_move/in"),
        &tree,
    );
}

/// A package the index does not have fails that package only, naming it and the index.
#[test]
fn unknown_packages_fail_alone() {
    let Some(index) = python_index() else { return };
    let work = tempfile::tempdir().unwrap();
    let tree = work.path().join("repo");
    std::fs::create_dir_all(&tree).unwrap();
    std::fs::write(
        tree.join("requirements.txt"),
        "six==1.15.0\nno-such-package-anywhere==1.0\n",
    )
    .unwrap();
    let config = operator_config(work.path(), &index);
    let output = updatebot(&[
        "update",
        tree.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(1));
    let text = stdout(&output);
    assert!(
        text.contains("package `no-such-package-anywhere` not found at http://127.0.0.1:"),
        "{text}"
    );
    assert_eq!(
        std::fs::read_to_string(tree.join("requirements.txt")).unwrap(),
        "six==1.17.0\nno-such-package-anywhere==1.0\n"
    );
}

/// `update --dry-run` prints a unified diff and writes nothing.
#[test]
fn dry_run_prints_a_diff_and_writes_nothing() {
    let Some(index) = python_index() else { return };
    let work = tempfile::tempdir().unwrap();
    let tree = work.path().join("repo");
    let case = repo_root().join("fixtures/python/requirements_crlf_is_kept");
    copy_tree(&case.join("in"), &tree);
    let config = operator_config(work.path(), &index);
    let output = updatebot(&[
        "update",
        "--dry-run",
        tree.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let diff = stdout(&output);
    assert!(
        diff.starts_with("--- a/requirements.txt\n+++ b/requirements.txt\n"),
        "{diff}"
    );
    assert!(
        diff.contains("-six==1.15.0\r\n") && diff.contains("+six==1.17.0\r\n"),
        "{diff:?}"
    );
    assert_same_tree(&case.join("in"), &tree);
}

/// A manifest whose lockfile cannot be updated yet is left alone, with the reason; the
/// manifest without a lockfile beside it moves.
#[test]
fn unsupported_lockfiles_block_their_manifest() {
    let Some(work) = run_case("unsupported_lockfiles_block_their_manifest") else {
        return;
    };
    let index = python_index().unwrap();
    let config = operator_config(work.path(), &index);
    let output = updatebot(&[
        "check",
        work.path().join("repo").to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stdout(&output).contains("error: 1.17.0 is available, but app/pdm.lock: needs pdm"),
        "{}",
        stdout(&output)
    );
}

/// A version that is not PEP 440/Poetry, an index URL naming an unset variable, and
/// arbitrary equality each fail or skip their own dependency only, with a message naming it.
#[test]
fn invalid_versions_and_indexes_fail_alone() {
    let Some(work) = run_case("invalid_versions_and_indexes_fail_alone") else {
        return;
    };
    let index = python_index().unwrap();
    let config = operator_config(work.path(), &index);
    let output = updatebot(&[
        "update",
        "--dry-run",
        work.path().join("repo").to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
    ]);
    let errors = stderr(&output);
    assert!(
        errors.contains(
            "error: a/pyproject.toml: six: `^not.a.version` is not a valid poetry version or range"
        ),
        "{errors}"
    );
    assert!(
        errors.contains("error: b/requirements.txt: six: invalid registry URL `${PRIVATE_INDEX}`"),
        "{errors}"
    );
}

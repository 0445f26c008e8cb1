//! Shared by the integration test binaries: the real local services, running the binary,
//! and comparing fixture trees.
#![allow(dead_code)]

pub mod static_files;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The real local Python index (devpi, started by `scripts/test-env.sh`), if running.
/// Under `UPDATEBOT_REQUIRE_SERVICES` (set by `scripts/test.sh`) a missing service fails
/// the test instead of skipping it.
pub fn python_index() -> Option<String> {
    match std::env::var("UPDATEBOT_TEST_PYPI_SIMPLE") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var_os("UPDATEBOT_REQUIRE_SERVICES").is_none(),
                "UPDATEBOT_TEST_PYPI_SIMPLE is not set: run the tests through scripts/test.sh"
            );
            eprintln!("skipped: no local Python index (run scripts/test.sh)");
            None
        }
    }
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// An empty OSV dump: the advisories of runs that do not test security updates (the public
/// OSV API, the default, is not reachable from tests).
pub fn no_advisories() -> PathBuf {
    let dir = std::env::temp_dir().join("updatebot-tests-no-advisories");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Run `updatebot ARGS` with a clean environment for registries; advisories come from
/// `--osv-dir`/`--osv-url` if ARGS give them, else from an empty dump.
pub fn updatebot(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_updatebot"))
        .args(args)
        .env_remove("UPDATEBOT_LOG")
        .env_remove("UPDATEBOT_OSV_URL")
        .env("UPDATEBOT_OSV_DIR", no_advisories())
        .output()
        .expect("the updatebot binary runs")
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Every file below `root`, repo-relative, sorted.
pub fn files(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_dir() {
                stack.push(entry.path());
            } else {
                let rel = entry
                    .path()
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/");
                out.push(rel);
            }
        }
    }
    out.sort();
    out
}

pub fn copy_tree(from: &Path, to: &Path) {
    for file in files(from) {
        let target = to.join(&file);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(from.join(&file), target).unwrap();
    }
}

/// Assert that `actual` holds exactly the files of `expected`, byte for byte. With
/// `UPDATEBOT_BLESS=1` the expected tree is rewritten instead (review the diff!).
pub fn assert_same_tree(expected: &Path, actual: &Path) {
    if std::env::var_os("UPDATEBOT_BLESS").is_some() {
        let _ = std::fs::remove_dir_all(expected);
        copy_tree(actual, expected);
        return;
    }
    assert_eq!(files(expected), files(actual), "file lists differ");
    for file in files(expected) {
        let want = std::fs::read(expected.join(&file)).unwrap();
        let got = std::fs::read(actual.join(&file)).unwrap();
        assert!(
            want == got,
            "{file} differs:\n--- expected\n{}\n--- actual\n{}",
            String::from_utf8_lossy(&want),
            String::from_utf8_lossy(&got)
        );
    }
}

/// An operator config whose only Python index is `index`, replacing PyPI.
pub fn operator_config(dir: &Path, index: &str) -> PathBuf {
    let path = dir.join("operator.yml");
    std::fs::write(
        &path,
        format!("registries:\n  local-pypi:\n    type: python-index\n    url: {index}\n    replaces-base: true\n"),
    )
    .unwrap();
    path
}

/// Run the test environment's npm (its node first on `PATH`, its `.npmrc`) in `dir`: whether
/// it succeeded, and its stdout and stderr.
pub fn run_npm(
    npm: &str,
    node_bin: &str,
    npmrc: &str,
    dir: &Path,
    args: &[&str],
) -> (bool, String) {
    let path = format!("{node_bin}:{}", std::env::var("PATH").unwrap_or_default());
    let out = Command::new(npm)
        .args(args)
        .current_dir(dir)
        .env("npm_config_userconfig", npmrc)
        .env("PATH", path)
        .output()
        .expect("npm runs");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// [`updatebot`] with extra environment variables.
pub fn updatebot_env(args: &[&str], vars: &[(&str, &Path)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_updatebot"));
    command
        .args(args)
        .env_remove("UPDATEBOT_LOG")
        .env_remove("UPDATEBOT_OSV_URL")
        .env("UPDATEBOT_OSV_DIR", no_advisories());
    for (k, v) in vars {
        command.env(k, v);
    }
    command.output().expect("the updatebot binary runs")
}

//! Python lockfiles against the real local index (devpi) and the real tools (uv, poetry,
//! pipenv, pip-tools from scripts/test-env.sh): each case locks a small project at old
//! versions with the tool itself, lets updatebot update it once with the native engine and
//! once with the tool engine, checks both results with the tool's own verification
//! (`uv lock --locked`, `poetry check --lock`, `pipenv verify`, `pip install --dry-run
//! --require-hashes`), and asserts native == tool byte for byte wherever native claims
//! exactness. The projects are in `fixtures/python/lock_cases/<case>/` with `@INDEX@` for
//! the index URL.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use support::{python_index, repo_root, stderr, stdout, updatebot};

fn tools() -> Option<PathBuf> {
    match std::env::var("UPDATEBOT_TEST_TOOLS") {
        Ok(dir) if Path::new(&dir).join("uv").exists() => Some(PathBuf::from(dir)),
        _ => {
            assert!(
                std::env::var_os("UPDATEBOT_REQUIRE_SERVICES").is_none(),
                "UPDATEBOT_TEST_TOOLS is not set: run the tests through scripts/test.sh"
            );
            eprintln!("skipped: no lockfile tools (run scripts/test.sh)");
            None
        }
    }
}

/// Run a tool in `dir` with a clean environment (its own HOME, no pip settings).
fn run_tool(
    tools: &Path,
    home: &Path,
    dir: &Path,
    program: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> (bool, String) {
    let output = Command::new(tools.join(program))
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", format!("{}:/usr/bin:/bin", tools.display()))
        .env("HOME", home)
        .env("LANG", "C.UTF-8")
        .env("PIPENV_VENV_IN_PROJECT", "1")
        .env("PIPENV_NOSPIN", "1")
        .env("PIPENV_YES", "1")
        .env("POETRY_VIRTUALENVS_CREATE", "false")
        .env("UV_NO_CONFIG", "1")
        .env("UV_PYTHON_DOWNLOADS", "never")
        .envs(env.iter().copied())
        .output()
        .expect("the tool runs");
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

struct Case {
    name: &'static str,
    /// The lockfile (relative to the project).
    lock: &'static str,
    /// The operator's kind name for `lockfiles`.
    kind: &'static str,
    /// The package the update must move, and to which version.
    package: &'static str,
    to: &'static str,
    /// Whether native must claim exactness (else it must refuse, and only the tool updates).
    native_exact: bool,
    /// Whether the tool, as updatebot runs it, writes the same bytes. pipenv and pip-compile
    /// record only the wheel hashes of what they resolve anew here (the lock as locked
    /// before lists the sdist's too, and so does native): both locks pass the tool's check.
    same_as_tool: bool,
}

const CASES: &[Case] = &[
    Case {
        name: "poetry_pin",
        lock: "poetry.lock",
        kind: "poetry.lock",
        package: "six",
        to: "1.17.0",
        native_exact: true,
        same_as_tool: true,
    },
    Case {
        name: "poetry_markers",
        lock: "poetry.lock",
        kind: "poetry.lock",
        package: "tomli",
        to: "2.0.1",
        native_exact: true,
        same_as_tool: true,
    },
    Case {
        name: "poetry_dev_group_and_extras",
        lock: "poetry.lock",
        kind: "poetry.lock",
        package: "certifi",
        to: "2024.8.30",
        native_exact: true,
        same_as_tool: true,
    },
    Case {
        name: "poetry_new_transitive",
        lock: "poetry.lock",
        kind: "poetry.lock",
        package: "requests",
        to: "2.32.3",
        native_exact: false,
        same_as_tool: false,
    },
    Case {
        name: "uv_pin",
        lock: "uv.lock",
        kind: "uv.lock",
        package: "six",
        to: "1.17.0",
        native_exact: true,
        same_as_tool: true,
    },
    Case {
        name: "uv_dev_group_extras_markers",
        lock: "uv.lock",
        kind: "uv.lock",
        package: "certifi",
        to: "2024.8.30",
        native_exact: true,
        same_as_tool: true,
    },
    Case {
        name: "uv_new_transitive",
        lock: "uv.lock",
        kind: "uv.lock",
        package: "requests",
        to: "2.32.3",
        native_exact: false,
        same_as_tool: false,
    },
    Case {
        name: "uv_requires_python_excludes_newest",
        lock: "uv.lock",
        kind: "uv.lock",
        package: "urllib3",
        to: "2.2.3",
        native_exact: false,
        same_as_tool: false,
    },
    Case {
        name: "pipenv_pin",
        lock: "Pipfile.lock",
        kind: "Pipfile.lock",
        package: "six",
        to: "1.17.0",
        native_exact: true,
        same_as_tool: false,
    },
    Case {
        name: "pip_compile_hashes",
        lock: "requirements.txt",
        kind: "pip-compile",
        package: "six",
        to: "1.17.0",
        native_exact: true,
        same_as_tool: false,
    },
    Case {
        name: "uv_pip_compile",
        lock: "requirements.txt",
        kind: "pip-compile",
        package: "certifi",
        to: "2024.8.30",
        native_exact: true,
        same_as_tool: true,
    },
];

/// Copy the case's project with `@INDEX@` filled in.
fn materialise(case: &str, index: &str, to: &Path) {
    let from = repo_root().join("fixtures/python/lock_cases").join(case);
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(&from).unwrap() {
        let entry = entry.unwrap();
        let text = std::fs::read_to_string(entry.path()).unwrap();
        std::fs::write(to.join(entry.file_name()), text.replace("@INDEX@", index)).unwrap();
    }
}

/// Lock the project with its own tool, at the versions its manifest pins.
fn lock_with_tool(tools: &Path, home: &Path, dir: &Path, case: &Case, index: &str) {
    let (ok, text) = match case.kind {
        "poetry.lock" => run_tool(
            tools,
            home,
            dir,
            "poetry",
            &["lock", "--no-interaction"],
            &[],
        ),
        "uv.lock" => {
            let extra = std::fs::read_to_string(dir.join("lock-args.txt")).unwrap_or_default();
            let mut args = vec!["lock", "--no-build"];
            args.extend(extra.split_whitespace());
            run_tool(
                tools,
                home,
                dir,
                "uv",
                &args,
                &[("UV_DEFAULT_INDEX", index)],
            )
        }
        "Pipfile.lock" => run_tool(tools, home, dir, "pipenv", &["lock"], &[]),
        _ => {
            let command = std::fs::read_to_string(dir.join("compile.txt")).unwrap();
            let words: Vec<&str> = command.split_whitespace().collect();
            let (program, args) = if words[0] == "uv" {
                ("uv", &words[1..])
            } else {
                ("pip-compile", &words[1..])
            };
            let mut args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
            args.push(format!("--index-url={index}"));
            let custom = command.trim().to_string();
            run_tool(
                tools,
                home,
                dir,
                program,
                &args.iter().map(String::as_str).collect::<Vec<_>>(),
                &[
                    ("CUSTOM_COMPILE_COMMAND", &custom),
                    ("UV_CUSTOM_COMPILE_COMMAND", &custom),
                ],
            )
        }
    };
    assert!(ok, "{}: initial lock failed: {text}", case.name);
}

/// The tool's own verdict on the lock.
fn verify(tools: &Path, home: &Path, dir: &Path, case: &Case, index: &str) {
    let (ok, text) = match case.kind {
        "poetry.lock" => run_tool(
            tools,
            home,
            dir,
            "poetry",
            &["check", "--lock", "--no-interaction"],
            &[],
        ),
        "uv.lock" => run_tool(
            tools,
            home,
            dir,
            "uv",
            &["lock", "--locked", "--no-build"],
            &[("UV_DEFAULT_INDEX", index)],
        ),
        "Pipfile.lock" => run_tool(tools, home, dir, "pipenv", &["verify"], &[]),
        _ => run_tool(
            tools,
            home,
            dir,
            "python",
            &[
                "-m",
                "pip",
                "install",
                "--dry-run",
                "--ignore-installed",
                "--no-deps",
                "--require-hashes",
                "--index-url",
                index,
                "-r",
                case.lock,
            ],
            &[],
        ),
    };
    assert!(
        ok,
        "{}: the tool rejects the updated lock: {text}",
        case.name
    );
}

fn update(dir: &Path, config: &Path) -> (String, String) {
    let output = updatebot(&[
        "update",
        dir.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
    ]);
    (stdout(&output), stderr(&output))
}

fn config(dir: &Path, index: &str, tools: &Path, kind: &str, engine: &str) -> PathBuf {
    let program = match kind {
        "poetry.lock" => "poetry",
        "uv.lock" => "uv",
        "Pipfile.lock" => "pipenv",
        _ => "pip-compile",
    };
    let path = dir.join(format!("operator-{engine}.yml"));
    let mut text = format!("registries:\n  local-pypi:\n    type: python-index\n    url: {index}\n    replaces-base: true\nlockfiles:\n");
    for k in ["poetry.lock", "uv.lock", "Pipfile.lock", "pip-compile"] {
        let tool = if k == kind { program } else { "uv" };
        text.push_str(&format!(
            "  {k}:\n    engine: {engine}\n    tool: {}\n    timeout-seconds: 300\n",
            tools.join(tool).display()
        ));
    }
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn locks_follow_their_updates_natively_and_with_the_tools() {
    let (Some(index), Some(tools)) = (python_index(), tools()) else {
        return;
    };
    let only = std::env::var("UPDATEBOT_LOCK_CASE").ok();
    let work = tempfile::tempdir().unwrap();
    let home = work.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let (mut exact, mut claimed) = (0, 0);
    for case in CASES {
        if only.as_deref().is_some_and(|o| o != case.name) {
            continue;
        }
        let base = work.path().join(case.name);
        let original = base.join("original");
        materialise(case.name, &index, &original);
        lock_with_tool(&tools, &home, &original, case, &index);
        let mut results = Vec::new();
        for engine in ["native", "tool"] {
            let dir = base.join(engine);
            materialise(case.name, &index, &dir);
            std::fs::copy(original.join(case.lock), dir.join(case.lock)).unwrap();
            let (out, err) = update(&dir, &config(&base, &index, &tools, case.kind, engine));
            let lock = std::fs::read_to_string(dir.join(case.lock)).unwrap();
            let before = std::fs::read_to_string(original.join(case.lock)).unwrap();
            let moved = lock.contains(case.to) && lock != before;
            if engine == "native" && !case.native_exact {
                assert!(!moved, "{}: native must refuse: {out}{err}", case.name);
                assert!(
                    format!("{out}{err}").contains(": needs "),
                    "{}: {out}{err}",
                    case.name
                );
                continue;
            }
            assert!(
                moved,
                "{}: {engine} did not move {} to {}:\n{out}\n{err}",
                case.name, case.package, case.to
            );
            verify(&tools, &home, &dir, case, &index);
            results.push((engine, lock));
        }
        if case.native_exact {
            claimed += 1;
            assert_eq!(results.len(), 2);
            if case.same_as_tool {
                assert_eq!(
                    results[0].1, results[1].1,
                    "{}: native and tool differ",
                    case.name
                );
                exact += 1;
            } else {
                assert_ne!(results[0].1, results[1].1, "{}: now equal", case.name);
            }
        }
    }
    eprintln!("native == tool in {exact} of {claimed} cases where native claims exactness");
}

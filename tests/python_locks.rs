//! Python lockfiles against the real local index (devpi) and the real tools (uv, poetry,
//! pipenv, pip-tools from scripts/test-env.sh): each case locks a small project at old
//! versions with the tool itself, lets updatebot update it once with the native engine and
//! once with the tool engine, checks both results with the tool's own verification
//! (`uv lock --locked`, `poetry check --lock`, `pipenv verify`, `pip install --dry-run
//! --require-hashes`), and asserts native == tool byte for byte wherever native claims
//! exactness. The projects are in `fixtures/python/lock_cases/<case>/` with `@INDEX@` for
//! the index URL.

#[path = "python_locks/auth_proxy.rs"]
mod auth_proxy;
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
    /// The program that locks and checks the project first (an older Poetry: `poetry-1`);
    /// `None`: the kind's tool.
    oracle: Option<&'static str>,
    /// A locked parent whose requirement excludes the new version: native must call the
    /// update not exact (naming it), and the tool cannot lock it without moving the parent,
    /// which the project pins, so the update fails and the lock stays.
    capped_by: Option<&'static str>,
    /// Served by the private index (basic auth in front of devpi).
    private: bool,
    /// A line the new release's other requirements bring into the lock (not in it before).
    new_line: Option<&'static str>,
}

const PLAIN: Case = Case {
    name: "",
    lock: "",
    kind: "",
    package: "",
    to: "",
    native_exact: true,
    same_as_tool: true,
    oracle: None,
    capped_by: None,
    private: false,
    new_line: None,
};

const CASES: &[Case] = &[
    Case {
        name: "poetry_pin",
        lock: "poetry.lock",
        kind: "poetry.lock",
        package: "six",
        to: "1.17.0",
        native_exact: true,
        same_as_tool: true,
        ..PLAIN
    },
    Case {
        name: "poetry_markers",
        lock: "poetry.lock",
        kind: "poetry.lock",
        package: "tomli",
        to: "2.0.1",
        native_exact: true,
        same_as_tool: true,
        ..PLAIN
    },
    Case {
        name: "poetry_dev_group_and_extras",
        lock: "poetry.lock",
        kind: "poetry.lock",
        package: "certifi",
        to: "2024.8.30",
        native_exact: true,
        same_as_tool: true,
        ..PLAIN
    },
    Case {
        name: "poetry_new_transitive",
        lock: "poetry.lock",
        kind: "poetry.lock",
        package: "requests",
        to: "2.32.3",
        native_exact: false,
        same_as_tool: false,
        ..PLAIN
    },
    // The new release declares other requirements (ranges, Python range, extras) that the
    // lock still satisfies: native rewrites the entry as the tool does.
    Case {
        name: "poetry_requests_new_range",
        lock: "poetry.lock",
        kind: "poetry.lock",
        package: "requests",
        to: "2.32.3",
        // 2.28.2 asked for urllib3 <1.27 and Python <4.
        new_line: Some("urllib3 = \">=1.21.1,<3\""),
        ..PLAIN
    },
    Case {
        name: "poetry_urllib3_extras",
        lock: "poetry.lock",
        kind: "poetry.lock",
        package: "urllib3",
        to: "2.5.0",
        new_line: Some("zstd = [\"zstandard (>=0.18.0)\"]"),
        ..PLAIN
    },
    // uv.lock records requests' dependencies by name: the entry changes as for a pin.
    Case {
        name: "uv_requests_new_range",
        lock: "uv.lock",
        kind: "uv.lock",
        package: "requests",
        to: "2.32.3",
        ..PLAIN
    },
    Case {
        name: "uv_pin",
        lock: "uv.lock",
        kind: "uv.lock",
        package: "six",
        to: "1.17.0",
        native_exact: true,
        same_as_tool: true,
        ..PLAIN
    },
    Case {
        name: "uv_dev_group_extras_markers",
        lock: "uv.lock",
        kind: "uv.lock",
        package: "certifi",
        to: "2024.8.30",
        native_exact: true,
        same_as_tool: true,
        ..PLAIN
    },
    Case {
        name: "uv_new_transitive",
        lock: "uv.lock",
        kind: "uv.lock",
        package: "requests",
        to: "2.32.3",
        native_exact: false,
        same_as_tool: false,
        ..PLAIN
    },
    // 2.5.0 needs Python 3.9, the project allows 3.8: 2.2.3 it is. Its Python range
    // (>=3.8) and extras differ from 2.0.7's, and still fit the lock: native is exact.
    Case {
        name: "uv_requires_python_excludes_newest",
        lock: "uv.lock",
        kind: "uv.lock",
        package: "urllib3",
        to: "2.2.3",
        ..PLAIN
    },
    Case {
        name: "pipenv_pin",
        lock: "Pipfile.lock",
        kind: "Pipfile.lock",
        package: "six",
        to: "1.17.0",
        native_exact: true,
        same_as_tool: false,
        ..PLAIN
    },
    Case {
        name: "pip_compile_hashes",
        lock: "requirements.txt",
        kind: "pip-compile",
        package: "six",
        to: "1.17.0",
        native_exact: true,
        same_as_tool: false,
        ..PLAIN
    },
    Case {
        name: "uv_pip_compile",
        lock: "requirements.txt",
        kind: "pip-compile",
        package: "certifi",
        to: "2024.8.30",
        native_exact: true,
        same_as_tool: true,
        ..PLAIN
    },
    Case {
        name: "poetry18_lock_version_2_0",
        lock: "poetry.lock",
        kind: "poetry.lock",
        package: "six",
        to: "1.17.0",
        oracle: Some("poetry-1"),
        ..PLAIN
    },
    // Poetry 1.8 writes extras its own way (`"ipaddress"` without its marker): formatting
    // urllib3 1.26.5's extras does not give the lock's text, so native refuses.
    Case {
        name: "poetry18_urllib3_extras",
        lock: "poetry.lock",
        kind: "poetry.lock",
        package: "urllib3",
        to: "2.5.0",
        native_exact: false,
        same_as_tool: false,
        oracle: Some("poetry-1"),
        new_line: Some("zstd = [\"zstandard (>=0.18.0)\"]"),
        ..PLAIN
    },
    Case {
        name: "poetry11_lock_version_1_1",
        lock: "poetry.lock",
        kind: "poetry.lock",
        package: "six",
        to: "1.17.0",
        oracle: Some("poetry-1.1"),
        ..PLAIN
    },
    Case {
        name: "uv_parent_caps",
        lock: "uv.lock",
        kind: "uv.lock",
        package: "pyparsing",
        to: "3.0.5",
        native_exact: false,
        same_as_tool: false,
        capped_by: Some("packaging 21.3"),
        ..PLAIN
    },
    Case {
        name: "poetry_parent_caps",
        lock: "poetry.lock",
        kind: "poetry.lock",
        package: "pyparsing",
        to: "3.0.5",
        native_exact: false,
        same_as_tool: false,
        capped_by: Some("packaging 21.3"),
        ..PLAIN
    },
    Case {
        name: "uv_private_index",
        lock: "uv.lock",
        kind: "uv.lock",
        package: "six",
        to: "1.17.0",
        private: true,
        ..PLAIN
    },
    Case {
        name: "pipenv_private_index",
        lock: "Pipfile.lock",
        kind: "Pipfile.lock",
        package: "six",
        to: "1.17.0",
        same_as_tool: false,
        private: true,
        ..PLAIN
    },
    Case {
        name: "pip_compile_private_index",
        lock: "requirements.txt",
        kind: "pip-compile",
        package: "six",
        to: "1.17.0",
        same_as_tool: false,
        private: true,
        ..PLAIN
    },
    Case {
        name: "poetry_private_index",
        lock: "poetry.lock",
        kind: "poetry.lock",
        package: "six",
        to: "1.17.0",
        private: true,
        ..PLAIN
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

/// The private index's credentials (the password must never show up anywhere).
const USER: &str = "locksmith";
const PASSWORD: &str = "s3cret-of-the-private-index";

/// The credentials a tool is given for the private index, the way it expects them (the
/// projects name it `private`).
fn credentials(case: &Case) -> Vec<(&'static str, &'static str)> {
    match (case.private, case.kind) {
        (true, "uv.lock") => vec![
            ("UV_INDEX_PRIVATE_USERNAME", USER),
            ("UV_INDEX_PRIVATE_PASSWORD", PASSWORD),
        ],
        // pip (under pipenv and pip-compile) reads ~/.netrc: see `netrc`.
        (true, "Pipfile.lock" | "pip-compile") => Vec::new(),
        (true, _) => vec![
            ("POETRY_HTTP_BASIC_PRIVATE_USERNAME", USER),
            ("POETRY_HTTP_BASIC_PRIVATE_PASSWORD", PASSWORD),
        ],
        _ => Vec::new(),
    }
}

/// The private index's credentials in `home/.netrc`, as pip reads them (owner-only, or
/// Python's netrc refuses the file).
fn netrc(home: &Path, origin: &str) {
    use std::os::unix::fs::PermissionsExt;
    let host = origin
        .trim_start_matches("http://")
        .split(':')
        .next()
        .unwrap();
    let path = home.join(".netrc");
    std::fs::write(
        &path,
        format!("machine {host}\nlogin {USER}\npassword {PASSWORD}\n"),
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

/// Lock the project with its own tool, at the versions its manifest pins.
fn lock_with_tool(tools: &Path, home: &Path, dir: &Path, case: &Case, index: &str) {
    let creds = credentials(case);
    let (ok, text) = match case.kind {
        "poetry.lock" => run_tool(
            tools,
            home,
            dir,
            case.oracle.unwrap_or("poetry"),
            &["lock", "--no-interaction"],
            &creds,
        ),
        "uv.lock" => {
            let extra = std::fs::read_to_string(dir.join("lock-args.txt")).unwrap_or_default();
            let mut args = vec!["lock", "--no-build"];
            args.extend(extra.split_whitespace());
            let mut env = creds.clone();
            if !case.private {
                env.push(("UV_DEFAULT_INDEX", index));
            }
            run_tool(tools, home, dir, "uv", &args, &env)
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
    let creds = credentials(case);
    let (ok, text) = match case.kind {
        // Poetry 1.1 has no `check --lock`; installing (dry run) warns on a stale lock.
        "poetry.lock" if case.oracle == Some("poetry-1.1") => {
            let (ok, text) = run_tool(
                tools,
                home,
                dir,
                "poetry-1.1",
                &["install", "--dry-run", "--no-root", "--no-interaction"],
                &creds,
            );
            (ok && !text.contains("not up to date"), text)
        }
        "poetry.lock" => run_tool(
            tools,
            home,
            dir,
            case.oracle.unwrap_or("poetry"),
            &["check", "--lock", "--no-interaction"],
            &creds,
        ),
        "uv.lock" => {
            let mut env = creds.clone();
            if !case.private {
                env.push(("UV_DEFAULT_INDEX", index));
            }
            run_tool(
                tools,
                home,
                dir,
                "uv",
                &["lock", "--locked", "--no-build"],
                &env,
            )
        }
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

/// The operator config of a run: the index (with the private index's credentials from a
/// file when `password` is given) and every lock kind on `engine`, the case's kind with
/// `program` (default: its tool in `tools`).
fn config(
    dir: &Path,
    index: &str,
    tools: &Path,
    kind: &str,
    engine: &str,
    password: Option<&str>,
    program: Option<&Path>,
) -> PathBuf {
    let default_program = match kind {
        "poetry.lock" => "poetry",
        "uv.lock" => "uv",
        "Pipfile.lock" => "pipenv",
        _ => "pip-compile",
    };
    let path = dir.join(format!("operator-{engine}.yml"));
    let mut text = format!("registries:\n  local-pypi:\n    type: python-index\n    url: {index}\n    replaces-base: true\n");
    if let Some(password) = password {
        let file = dir.join("index-password");
        std::fs::write(&file, password).unwrap();
        text.push_str(&format!(
            "    username: {USER}\n    password-file: {}\n",
            file.display()
        ));
    }
    text.push_str("lockfiles:\n");
    for k in ["poetry.lock", "uv.lock", "Pipfile.lock", "pip-compile"] {
        let tool = if k == kind {
            program.map_or_else(|| tools.join(default_program), Path::to_path_buf)
        } else {
            tools.join("uv")
        };
        text.push_str(&format!(
            "  {k}:\n    engine: {engine}\n    tool: {}\n    timeout-seconds: 300\n",
            tool.display()
        ));
    }
    std::fs::write(&path, text).unwrap();
    path
}

/// What one case's project looks like after updatebot ran on a copy of `original`.
struct Run {
    lock: String,
    output: String,
}

fn run_case(
    base: &Path,
    original: &Path,
    case: &Case,
    index: &str,
    engine: &str,
    config_path: &Path,
) -> Run {
    let dir = base.join(engine);
    let _ = std::fs::remove_dir_all(&dir);
    materialise(case.name, index, &dir);
    std::fs::copy(original.join(case.lock), dir.join(case.lock)).unwrap();
    let (out, err) = update(&dir, config_path);
    Run {
        lock: std::fs::read_to_string(dir.join(case.lock)).unwrap(),
        output: format!("{out}{err}"),
    }
}

fn lock_version(lock: &str) -> Option<String> {
    let doc: toml_edit::DocumentMut = lock.parse().ok()?;
    Some(
        doc.get("metadata")?
            .get("lock-version")?
            .as_str()?
            .to_string(),
    )
}

#[test]
fn locks_follow_their_updates_natively_and_with_the_tools() {
    let (Some(devpi), Some(tools)) = (python_index(), tools()) else {
        return;
    };
    let upstream = std::env::var("UPDATEBOT_TEST_DEVPI_URL").expect("devpi's URL");
    let proxy = auth_proxy::AuthProxy::start(&upstream, USER, PASSWORD);
    let private_index = format!("{}{}", proxy.origin, devpi.trim_start_matches(&upstream));
    let only = std::env::var("UPDATEBOT_LOCK_CASE").ok();
    let work = tempfile::tempdir().unwrap();
    let (mut exact, mut claimed) = (0, 0);
    for case in CASES {
        if only.as_deref().is_some_and(|o| o != case.name) {
            continue;
        }
        eprintln!("case {}", case.name);
        let index = if case.private { &private_index } else { &devpi };
        let password = case.private.then_some(PASSWORD);
        let base = work.path().join(case.name);
        // A home per case: Poetry 1.1 stalls on the caches a newer Poetry left.
        let home = base.join("home");
        std::fs::create_dir_all(&home).unwrap();
        if case.private {
            netrc(&home, &proxy.origin);
        }
        let original = base.join("original");
        materialise(case.name, index, &original);
        lock_with_tool(&tools, &home, &original, case, index);
        let before = std::fs::read_to_string(original.join(case.lock)).unwrap();
        let mut results = Vec::new();
        for engine in ["native", "tool"] {
            let config_path = config(&base, index, &tools, case.kind, engine, password, None);
            let run = run_case(&base, &original, case, index, engine, &config_path);
            let (lock, output) = (run.lock, run.output);
            assert!(
                !output.contains(PASSWORD) && !lock.contains(PASSWORD),
                "{}: the password leaked: {output}",
                case.name
            );
            let moved = lock.contains(case.to) && lock != before;
            if let Some(parent) = case.capped_by {
                assert!(!moved, "{}: {engine} moved a capped package", case.name);
                if engine == "native" {
                    assert!(
                        output.contains(&format!("not exact: {parent} (locked) requires")),
                        "{}: {output}",
                        case.name
                    );
                } else {
                    // The tool ran and could not lock it (the parent is pinned).
                    assert!(
                        output.contains("failed") && !output.contains("not exact"),
                        "{}: {output}",
                        case.name
                    );
                }
                continue;
            }
            if engine == "native" && !case.native_exact {
                assert!(!moved, "{}: native must refuse: {output}", case.name);
                assert!(output.contains(": needs "), "{}: {output}", case.name);
                continue;
            }
            assert!(
                moved,
                "{}: {engine} did not move {} to {}:\n{output}",
                case.name, case.package, case.to
            );
            if case.oracle.is_some() {
                // An older Poetry's lock keeps its format: same lock-version, no 2.x keys.
                assert_eq!(lock_version(&lock), lock_version(&before), "{}", case.name);
                assert!(!lock.contains("\ngroups = ["), "{}: {lock}", case.name);
            }
            if let Some(line) = case.new_line {
                assert!(
                    !before.contains(line) && lock.lines().any(|l| l == line),
                    "{}: {engine} did not write `{line}`:\n{lock}",
                    case.name
                );
            }
            verify(&tools, &home, &base.join(engine), case, index);
            results.push((engine, lock));
        }
        if case.oracle == Some("poetry-1") {
            // With only Poetry 2 at hand the tool engine names the Poetry the lock needs.
            let lone = base.join("lone");
            std::fs::create_dir_all(&lone).unwrap();
            std::os::unix::fs::symlink(tools.join("poetry"), lone.join("poetry")).unwrap();
            let config_path = config(
                &base,
                index,
                &tools,
                case.kind,
                "tool",
                password,
                Some(&lone.join("poetry")),
            );
            let run = run_case(&base, &original, case, index, "tool", &config_path);
            assert_eq!(run.lock, before, "{}: Poetry 2 rewrote the lock", case.name);
            assert!(
                run.output.contains("needs poetry")
                    && run
                        .output
                        .contains("lock-version 2.0, written by Poetry 1.8.5")
                    && run.output.contains("`poetry-1`"),
                "{}: {}",
                case.name,
                run.output
            );
        }
        if case.private {
            assert!(
                proxy.served.load(std::sync::atomic::Ordering::SeqCst) > 0,
                "nothing went through the private index"
            );
            // Without credentials the lookup fails and names the index.
            let refused = proxy.refused.load(std::sync::atomic::Ordering::SeqCst);
            let config_path = config(&base, index, &tools, case.kind, "auto", None, None);
            let run = run_case(&base, &original, case, index, "auto", &config_path);
            assert_eq!(run.lock, before, "{}", case.name);
            assert!(proxy.refused.load(std::sync::atomic::Ordering::SeqCst) > refused);
            eprintln!("{} without credentials:\n{}", case.name, run.output);
            let host = proxy.origin.trim_start_matches("http://");
            assert!(
                run.output.contains(host) && run.output.contains("401"),
                "{}: {}",
                case.name,
                run.output
            );
        }
        if case.native_exact && case.capped_by.is_none() {
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

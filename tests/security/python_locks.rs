//! Security merge requests for Python packages that only a lockfile names (`urllib3` and
//! `idna`, locked for `requests`): uv.lock and poetry.lock made by the real tools against the
//! local index, the fleet run on the GitLab fake, and the tools' own checks of the result.

use super::*;

/// The lockfile tools of `scripts/test-env.sh` (uv, poetry), if installed.
pub(crate) fn lock_tools() -> Option<PathBuf> {
    match std::env::var("UPDATEBOT_TEST_TOOLS") {
        Ok(dir) if Path::new(&dir).join("uv").exists() => Some(dir.into()),
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

/// Run a lockfile tool in `dir` with a scrubbed environment (its own HOME, the local index).
fn run_tool(tools: &Path, dir: &Path, program: &str, args: &[&str], index: &str) -> (bool, String) {
    let output = Command::new(tools.join(program))
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", format!("{}:/usr/bin:/bin", tools.display()))
        .env("HOME", dir.join(".home"))
        .env("LANG", "C.UTF-8")
        .env("POETRY_VIRTUALENVS_CREATE", "false")
        .env("UV_NO_CONFIG", "1")
        .env("UV_PYTHON_DOWNLOADS", "never")
        .env("UV_DEFAULT_INDEX", index)
        .output()
        .expect("the tool runs");
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

/// The operator config with the real tools as the lock engines' fallback (`engine: auto`:
/// native where it is exact, the tool where a fix changes a package's own requirements).
fn operator_with_tools(w: &World, tools: &Path) -> OperatorConfig {
    w.operator_with(&format!(
        "lockfiles:\n  uv.lock: {{engine: auto, tool: {}, timeout-seconds: 300}}\n  poetry.lock: {{engine: auto, tool: {}, timeout-seconds: 300}}\n",
        tools.join("uv").display(),
        tools.join("poetry").display()
    ))
}

/// Which Python lockfile a case uses.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Kind {
    Uv,
    Poetry,
}

impl Kind {
    pub(crate) fn lock(self) -> &'static str {
        match self {
            Kind::Uv => "uv.lock",
            Kind::Poetry => "poetry.lock",
        }
    }

    /// A pyproject.toml declaring `deps` (`name`, PEP 440 specifier) for this tool.
    pub(crate) fn pyproject(self, deps: &[(&str, &str)], index: &str) -> String {
        match self {
            Kind::Uv => {
                let list: Vec<String> = deps.iter().map(|(n, s)| format!("\"{n}{s}\"")).collect();
                format!(
                    "[project]\nname = \"app\"\nversion = \"0.1.0\"\nrequires-python = \">=3.9\"\ndependencies = [{}]\n",
                    list.join(", ")
                )
            }
            Kind::Poetry => {
                let mut text = String::from("[tool.poetry]\nname = \"app\"\nversion = \"0.1.0\"\ndescription = \"\"\nauthors = []\npackage-mode = false\n\n[tool.poetry.dependencies]\npython = \"^3.9\"\n");
                for (name, spec) in deps {
                    text.push_str(&format!("{name} = \"{spec}\"\n"));
                }
                text.push_str(&format!(
                    "\n[[tool.poetry.source]]\nname = \"devpi\"\nurl = \"{index}\"\npriority = \"primary\"\n"
                ));
                text
            }
        }
    }

    fn relock(self, tools: &Path, dir: &Path, index: &str) -> (bool, String) {
        match self {
            Kind::Uv => run_tool(tools, dir, "uv", &["lock", "--no-build"], index),
            Kind::Poetry => run_tool(tools, dir, "poetry", &["lock", "--no-interaction"], index),
        }
    }

    /// The tool's own verdict: the lock is in line with the manifest.
    pub(crate) fn check(self, tools: &Path, dir: &Path, index: &str) -> (bool, String) {
        match self {
            Kind::Uv => run_tool(tools, dir, "uv", &["lock", "--check", "--no-build"], index),
            Kind::Poetry => run_tool(
                tools,
                dir,
                "poetry",
                &["check", "--lock", "--no-interaction"],
                index,
            ),
        }
    }
}

/// A project locked by the real tool with `pins` held at old versions, then with `deps` only
/// (the tool keeps what is locked): the transitive packages stay at the pinned versions.
/// Returns (pyproject.toml, lockfile).
pub(crate) fn locked_project(
    tools: &Path,
    index: &str,
    kind: Kind,
    deps: &[(&str, &str)],
    pins: &[(&str, &str)],
) -> (String, String) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join(".home")).unwrap();
    let all: Vec<(&str, &str)> = deps.iter().chain(pins).copied().collect();
    std::fs::write(
        dir.path().join("pyproject.toml"),
        kind.pyproject(&all, index),
    )
    .unwrap();
    let (ok, log) = kind.relock(tools, dir.path(), index);
    assert!(ok, "{kind:?}: locking with pins failed: {log}");
    let pyproject = kind.pyproject(deps, index);
    std::fs::write(dir.path().join("pyproject.toml"), &pyproject).unwrap();
    let (ok, log) = kind.relock(tools, dir.path(), index);
    assert!(ok, "{kind:?}: locking without pins failed: {log}");
    let lock = std::fs::read_to_string(dir.path().join(kind.lock())).unwrap();
    (pyproject, lock)
}

/// The version a lockfile records for `package`.
pub(crate) fn locked_version(lock: &str, package: &str) -> Option<String> {
    let doc: toml_edit::DocumentMut = lock.parse().unwrap();
    let found = doc["package"].as_array_of_tables()?.iter().find_map(|p| {
        (p.get("name")?.as_str()? == package)
            .then(|| p.get("version")?.as_str().map(String::from))?
    });
    found
}

/// The names of the `[[package]]` blocks whose text differs between two locks.
fn changed_packages(before: &str, after: &str) -> Vec<String> {
    let blocks = |text: &str| -> Vec<(String, String)> {
        text.split("\n[[package]]\n")
            .skip(1)
            .map(|b| {
                let name = b
                    .lines()
                    .find_map(|l| l.strip_prefix("name = \""))
                    .map(|n| n.trim_end_matches('"').to_string())
                    .unwrap_or_default();
                (name, b.to_string())
            })
            .collect()
    };
    let old = blocks(before);
    let new = blocks(after);
    let mut out: Vec<String> = new
        .iter()
        .filter(|(n, b)| !old.iter().any(|(m, c)| m == n && c == b))
        .map(|(n, _)| n.clone())
        .collect();
    out.extend(
        old.iter()
            .filter(|(n, _)| !new.iter().any(|(m, _)| m == n))
            .map(|(n, _)| n.clone()),
    );
    out.sort();
    out.dedup();
    out
}

/// The checkout of `branch` with the tool's check run on it.
pub(crate) fn check_branch(
    w: &World,
    tools: &Path,
    project: u64,
    branch: &str,
    kind: Kind,
) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join(".home")).unwrap();
    for file in ["pyproject.toml", kind.lock()] {
        let text = w
            .gitlab
            .file(project, branch, file)
            .unwrap_or_else(|| panic!("{file} not on {branch}"));
        std::fs::write(dir.path().join(file), text).unwrap();
    }
    kind.check(tools, dir.path(), &w.index)
}

/// The merge request titled `title` moves `package` to `to` in the lock alone (only that
/// package's entry changes, the manifest stays), and the tool accepts the lock.
fn assert_lock_only_fix(
    w: &World,
    tools: &Path,
    p: u64,
    kind: Kind,
    (pyproject, lock): (&str, &str),
    title: &str,
    (package, to): (&str, &str),
) -> fake_gitlab::MergeRequestView {
    let mr = w
        .gitlab
        .merge_requests(p)
        .into_iter()
        .find(|m| m.title == title)
        .unwrap_or_else(|| panic!("no `{title}`"));
    assert!(
        mr.labels.contains(&"security".to_string()),
        "{:?}",
        mr.labels
    );
    let branch = &mr.source_branch;
    assert_eq!(
        w.gitlab.file(p, branch, "pyproject.toml").as_deref(),
        Some(pyproject),
        "the manifest admits the fix: only the lock moves"
    );
    let new_lock = w.gitlab.file(p, branch, kind.lock()).unwrap();
    assert_eq!(locked_version(&new_lock, package).as_deref(), Some(to));
    assert_eq!(
        changed_packages(lock, &new_lock),
        [package],
        "only {package}'s entry changes"
    );
    assert!(mr.description.contains("(lockfile)"), "{}", mr.description);
    let (ok, log) = check_branch(w, tools, p, branch, kind);
    assert!(ok, "{kind:?} rejects the lock of {branch}: {log}");
    mr
}

fn tuesday() -> Window {
    Window::Between(utc("2026-11-23T05:00:00Z"), utc("2026-11-24T05:00:00Z"))
}

/// uv.lock: urllib3 1.26.5 and idna 2.10, locked for requests 2.31.0 (not vulnerable, and
/// its ranges admit both fixes): two security merge requests that move only the lock, each
/// to the lowest fixing release (urllib3 1.26.18 fixes both of its advisories in the same
/// major, not 2.x), accepted by `uv lock --check`.
#[tokio::test(flavor = "multi_thread")]
async fn a_transitive_python_fix_moves_only_the_uv_lock() {
    let Some(w) = world().await else { return };
    let Some(tools) = lock_tools() else { return };
    w.gitlab.add_group("sec");
    let kind = Kind::Uv;
    let (pyproject, lock) = locked_project(
        &tools,
        &w.index,
        kind,
        &[("requests", ">=2.31.0")],
        &[("urllib3", "==1.26.5"), ("idna", "==2.10")],
    );
    assert_eq!(locked_version(&lock, "urllib3").as_deref(), Some("1.26.5"));
    assert_eq!(locked_version(&lock, "idna").as_deref(), Some("2.10"));
    let p = w.project(
        "uv-lock",
        &[
            (".updatebot.yml", PIP_CONFIG),
            ("pyproject.toml", &pyproject),
            (kind.lock(), &lock),
        ],
    );
    let operator = operator_with_tools(&w, &tools);
    let report = w.run(&operator, tuesday()).await;
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
                "Bump urllib3 from 1.26.5 to 1.26.18 [security]".to_string()
            ),
        ],
        "{}",
        report.summary()
    );
    let files = (pyproject.as_str(), lock.as_str());
    let urllib3 = assert_lock_only_fix(
        &w,
        &tools,
        p,
        kind,
        files,
        "Bump urllib3 from 1.26.5 to 1.26.18 [security]",
        ("urllib3", "1.26.18"),
    );
    for text in [
        "[GHSA-g4mx-q9vg-27p4](https://osv.dev/vulnerability/GHSA-g4mx-q9vg-27p4)",
        "[GHSA-v845-jxx5-vc9f](https://osv.dev/vulnerability/GHSA-v845-jxx5-vc9f)",
        "| urllib3 1.26.5 | Moderate \\(5.9\\) | &lt;1.26.17",
        "| 1.26.18 | urllib3's request body not stripped after redirect",
        "| 1.26.17 | \\`Cookie\\` HTTP header",
        "&lt;1.26.18",
    ] {
        assert!(
            urllib3.description.contains(text),
            "{text} not in:\n{}",
            urllib3.description
        );
    }
    assert_lock_only_fix(
        &w,
        &tools,
        p,
        kind,
        files,
        "Bump idna from 2.10 to 3.7 [security]",
        ("idna", "3.7"),
    );
    // The next run changes nothing.
    let again = w.run(&operator, tuesday()).await;
    let kinds: Vec<String> = actions(&again).into_iter().map(|(a, _)| a).collect();
    assert_eq!(kinds, ["unchanged", "unchanged"], "{}", again.summary());
}

/// poetry.lock: certifi 2023.7.22 (UBT-2026-0004, affected up to 2024.2.2) locked for
/// requests moves to 2024.8.30 (the lowest release after the range on the index) in the lock
/// alone, accepted by `poetry check --lock`. urllib3 1.26.18 declares other requirements than
/// 1.26.5 (its Python range and extras), which the lock still satisfies: the native engine
/// rewrites urllib3's entry (`python-versions`, `[package.extras]`) as poetry writes it, in
/// a second merge request that also moves only the lock.
#[tokio::test(flavor = "multi_thread")]
async fn a_transitive_python_fix_moves_only_the_poetry_lock() {
    let Some(w) = world().await else { return };
    let Some(tools) = lock_tools() else { return };
    w.gitlab.add_group("sec");
    let kind = Kind::Poetry;
    let (pyproject, lock) = locked_project(
        &tools,
        &w.index,
        kind,
        &[("requests", ">=2.31.0")],
        &[("certifi", "==2023.7.22"), ("urllib3", "==1.26.5")],
    );
    assert_eq!(
        locked_version(&lock, "certifi").as_deref(),
        Some("2023.7.22")
    );
    let p = w.project(
        "poetry-lock",
        &[
            (".updatebot.yml", PIP_CONFIG),
            ("pyproject.toml", &pyproject),
            (kind.lock(), &lock),
        ],
    );
    let operator = operator_with_tools(&w, &tools);
    let report = w.run(&operator, tuesday()).await;
    let changes = &report.projects[0].changes;
    let certifi = changes
        .iter()
        .find(|c| c.title == "Bump certifi from 2023.7.22 to 2024.8.30 [security]")
        .unwrap_or_else(|| panic!("{}", report.summary()));
    assert_eq!(certifi.action.as_str(), "opened", "{}", report.summary());
    let urllib3 = changes
        .iter()
        .find(|c| c.title == "Bump urllib3 from 1.26.5 to 1.26.18 [security]")
        .unwrap_or_else(|| panic!("{}", report.summary()));
    assert_eq!(
        urllib3.action.as_str(),
        "opened",
        "{:?}: {}",
        urllib3.reason,
        report.summary()
    );
    let fix = assert_lock_only_fix(
        &w,
        &tools,
        p,
        kind,
        (pyproject.as_str(), lock.as_str()),
        "Bump urllib3 from 1.26.5 to 1.26.18 [security]",
        ("urllib3", "1.26.18"),
    );
    let fixed_lock = w.gitlab.file(p, &fix.source_branch, kind.lock()).unwrap();
    for line in [
        "python-versions = \">=2.7, !=3.0.*, !=3.1.*, !=3.2.*, !=3.3.*, !=3.4.*, !=3.5.*\"",
        "secure = [\"certifi\", \"cryptography (>=1.3.4)\", \"idna (>=2.0.0)\", \"ipaddress ; python_version == \\\"2.7\\\"\", \"pyOpenSSL (>=0.14)\", \"urllib3-secure-extra\"]",
    ] {
        assert!(
            fixed_lock.lines().any(|l| l == line),
            "{line} not in:\n{fixed_lock}"
        );
    }
    let mr = assert_lock_only_fix(
        &w,
        &tools,
        p,
        kind,
        (pyproject.as_str(), lock.as_str()),
        "Bump certifi from 2023.7.22 to 2024.8.30 [security]",
        ("certifi", "2024.8.30"),
    );
    for text in [
        "| certifi 2023.7.22 | Low | &gt;\\=2023.5.7, &lt;\\=2024.2.2 | – | Test advisory",
        "Test advisory: certifi 2023.5.7 to 2024.2.2",
        "https://example.org/advisories/UBT-2026-0004",
    ] {
        assert!(
            mr.description.contains(text),
            "{text} not in:\n{}",
            mr.description
        );
    }
    assert_eq!(w.gitlab.merge_requests(p).len(), 2, "never a stale lock");
}

/// requests 2.25.0 asks for idna < 3, so idna's fix (3.7) needs requests to move; requests is
/// vulnerable itself and its own fix (2.31.0) admits idna 3.7: one merge request moves
/// requests in the manifest and both in the lock, listing both advisories. With requests
/// ignored by the configuration, neither can be fixed and the report says why.
async fn parent_bumped_for_a_transitive_fix(kind: Kind) {
    let Some(w) = world().await else { return };
    let Some(tools) = lock_tools() else { return };
    w.gitlab.add_group("sec");
    let (pyproject, lock) =
        locked_project(&tools, &w.index, kind, &[("requests", "==2.25.0")], &[]);
    assert_eq!(locked_version(&lock, "idna").as_deref(), Some("2.10"));
    let name = format!("{kind:?}-parent").to_lowercase();
    let p = w.project(
        &name,
        &[
            (".updatebot.yml", PIP_CONFIG),
            ("pyproject.toml", &pyproject),
            (kind.lock(), &lock),
        ],
    );
    let operator = operator_with_tools(&w, &tools);
    let report = w.run(&operator, tuesday()).await;
    assert!(!report.failed(), "{}", report.summary());
    assert_eq!(
        actions(&report),
        [(
            "opened".to_string(),
            "Bump requests from 2.25.0 to 2.31.0 [security]".to_string()
        )],
        "{}",
        report.summary()
    );
    let mr = w.gitlab.merge_requests(p).remove(0);
    let branch = &mr.source_branch;
    let manifest = w.gitlab.file(p, branch, "pyproject.toml").unwrap();
    assert_eq!(
        manifest,
        pyproject.replace("==2.25.0", "==2.31.0"),
        "only the pin moves"
    );
    let new_lock = w.gitlab.file(p, branch, kind.lock()).unwrap();
    assert_eq!(
        locked_version(&new_lock, "requests").as_deref(),
        Some("2.31.0")
    );
    let mut expected = vec![
        "[GHSA-j8r2-6x86-q33q](https://osv.dev/vulnerability/GHSA-j8r2-6x86-q33q)",
        "| requests 2.25.0 | Moderate \\(6.1\\) |",
    ];
    // In both locks: idna 3.7 declares another Python range than 2.10, which the lock
    // still satisfies, so the lock moves it exactly, in requests' merge request.
    assert_eq!(locked_version(&new_lock, "idna").as_deref(), Some("3.7"));
    expected.extend([
        "Bumps **requests** from 2.25.0 to 2.31.0 and **idna** from 2.10 to 3.7.",
        "[GHSA-jjg7-2v4v-x38h](https://osv.dev/vulnerability/GHSA-jjg7-2v4v-x38h)",
        "| idna 2.10 | Moderate \\(5.9\\) |",
        "| 3.7 | Internationalized Domain Names in Applications",
    ]);
    for text in expected {
        assert!(
            mr.description.contains(text),
            "{text} not in:\n{}",
            mr.description
        );
    }
    let (ok, log) = check_branch(&w, &tools, p, branch, kind);
    assert!(ok, "{kind:?} rejects the lock of {branch}: {log}");

    // requests ignored: no fix can be made, and the report says why for each.
    let ignoring = w.project(
        &format!("{name}-ignored"),
        &[
            (
                ".updatebot.yml",
                &format!("{PIP_CONFIG}    ignore:\n      - dependency-name: requests\n"),
            ),
            ("pyproject.toml", &pyproject),
            (kind.lock(), &lock),
        ],
    );
    let report = w.run(&operator, tuesday()).await;
    let reasons: Vec<(String, String)> = report
        .projects
        .iter()
        .find(|r| r.project.ends_with("-ignored"))
        .unwrap()
        .changes
        .iter()
        .map(|c| (c.title.clone(), c.reason.clone().unwrap_or_default()))
        .collect();
    // (Each lock records requests' range for idna as its tool wrote it.)
    let range = match kind {
        Kind::Uv => "<3,>=2.5",
        Kind::Poetry => ">=2.5,<3",
    };
    assert!(
        reasons.contains(&(
            "idna 2.10 is vulnerable [security]".to_string(),
            format!(
                "GHSA-jjg7-2v4v-x38h in {}: no fix reachable: requests 2.25.0 requires `idna@{range}`, and `requests` is ignored by the configuration",
                kind.lock()
            )
        )),
        "{reasons:#?}"
    );
    assert!(w.gitlab.merge_requests(ignoring).is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_parent_holding_back_the_fix_moves_with_it_in_uv_lock() {
    parent_bumped_for_a_transitive_fix(Kind::Uv).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_parent_holding_back_the_fix_moves_with_it_in_poetry_lock() {
    parent_bumped_for_a_transitive_fix(Kind::Poetry).await;
}

/// idna's security merge request moves requests (whose range holds idna below 3) to 2.28.2
/// while requests has no known advisory; once requests has one, idna's fix joins requests' merge request and idna's own
/// closes, saying where its fix went (never two merge requests moving requests).
#[tokio::test(flavor = "multi_thread")]
async fn a_transitive_fix_moves_into_its_parents_merge_request_once_the_parent_is_vulnerable() {
    let Some(w) = world().await else { return };
    let Some(tools) = lock_tools() else { return };
    w.gitlab.add_group("sec");
    let kind = Kind::Uv;
    let (pyproject, lock) =
        locked_project(&tools, &w.index, kind, &[("requests", "==2.25.0")], &[]);
    let p = w.project(
        "joins",
        &[
            (".updatebot.yml", PIP_CONFIG),
            ("pyproject.toml", &pyproject),
            (kind.lock(), &lock),
        ],
    );
    let operator = operator_with_tools(&w, &tools);
    // The dump without requests' advisory.
    let dump = tempfile::tempdir().unwrap();
    for dir in ["PyPI", "npm"] {
        std::fs::create_dir_all(dump.path().join(dir)).unwrap();
        for entry in std::fs::read_dir(osv_dir().join(dir)).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            if !text.contains("\"name\": \"requests\"") {
                std::fs::write(dump.path().join(dir).join(path.file_name().unwrap()), text)
                    .unwrap();
            }
        }
    }
    let before = w.run_with(&operator, tuesday(), dump.path()).await;
    assert!(!before.failed(), "{}", before.summary());
    assert_eq!(
        open_titles(&w, p),
        ["Bump idna from 2.10 to 3.7 [security]"],
        "{}",
        before.summary()
    );
    let idna = w.gitlab.merge_requests(p).remove(0);
    assert!(
        idna.description
            .contains("held back by requests 2.25.0: it moves to 2.28.2"),
        "{}",
        idna.description
    );
    // requests (not vulnerable in this dump) is bumped to its lowest release admitting idna
    // 3.7, through its declaration; the lock takes both and uv accepts it.
    let branch = &idna.source_branch;
    assert_eq!(
        w.gitlab.file(p, branch, "pyproject.toml").unwrap(),
        pyproject.replace("==2.25.0", "==2.28.2")
    );
    let new_lock = w.gitlab.file(p, branch, kind.lock()).unwrap();
    assert_eq!(
        locked_version(&new_lock, "requests").as_deref(),
        Some("2.28.2")
    );
    assert_eq!(locked_version(&new_lock, "idna").as_deref(), Some("3.7"));
    let (ok, log) = check_branch(&w, &tools, p, branch, kind);
    assert!(ok, "uv rejects the lock of {branch}: {log}");
    let after = w.run(&operator, tuesday()).await;
    assert!(!after.failed(), "{}", after.summary());
    assert_eq!(
        open_titles(&w, p),
        ["Bump requests from 2.25.0 to 2.31.0 [security]"],
        "{}",
        after.summary()
    );
    let requests = w
        .gitlab
        .merge_requests(p)
        .into_iter()
        .find(|m| m.state == "opened")
        .unwrap();
    let notes: Vec<String> = w
        .gitlab
        .notes(p, idna.iid)
        .into_iter()
        .map(|n| n.body)
        .collect();
    assert!(
        notes.contains(&format!(
            "Closing: its fix joined the security update on {}.",
            requests.source_branch
        )),
        "{notes:?}"
    );
}

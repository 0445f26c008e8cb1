//! `updatebot run --local`: the fleet run's merge request life cycle on a real local git
//! repository (branches and commits real, merge requests as JSON under `.git/updatebot/`),
//! against the real local Python index.

mod support;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use support::*;

struct Repo {
    _dir: tempfile::TempDir,
    path: PathBuf,
    config: PathBuf,
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

/// A repository with `files` committed on `main`.
fn repo(files: &[(&str, &str)]) -> Option<Repo> {
    let index = python_index()?;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("repo");
    std::fs::create_dir_all(&path).unwrap();
    git(&path, &["init", "-q", "-b", "main"]);
    for (name, text) in files {
        let file = path.join(name);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, text).unwrap();
    }
    git(&path, &["add", "-A"]);
    git(&path, &["commit", "-q", "-m", "init"]);
    let config = operator_config(dir.path(), &index);
    Some(Repo {
        _dir: dir,
        path,
        config,
    })
}

impl Repo {
    fn run(&self) -> Value {
        let output = updatebot(&[
            "run",
            "--local",
            self.path.to_str().unwrap(),
            "--config",
            self.config.to_str().unwrap(),
            "--format",
            "json",
        ]);
        let report: Value = serde_json::from_str(&stdout(&output))
            .unwrap_or_else(|e| panic!("{e}: {}\n{}", stdout(&output), stderr(&output)));
        report
    }

    /// Commit on main as a person (the working tree follows).
    fn commit(&self, file: &str, text: &str) {
        std::fs::write(self.path.join(file), text).unwrap();
        git(&self.path, &["add", "-A"]);
        git(&self.path, &["commit", "-q", "-m", "by hand"]);
    }

    fn mr(&self, iid: u64) -> Value {
        let file = self
            .path
            .join(format!(".git/updatebot/merge-requests/{iid}.json"));
        serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap()
    }

    fn set_mr(&self, iid: u64, value: &Value) {
        let file = self
            .path
            .join(format!(".git/updatebot/merge-requests/{iid}.json"));
        std::fs::write(file, serde_json::to_string_pretty(value).unwrap()).unwrap();
    }

    fn branches(&self) -> Vec<String> {
        git(
            &self.path,
            &[
                "for-each-ref",
                "--format=%(refname:short)",
                "refs/heads/updatebot/",
            ],
        )
        .lines()
        .map(str::to_string)
        .collect()
    }

    /// A person's comment on a merge request.
    fn comment(&self, iid: u64, author: &str, body: &str) {
        let mut mr = self.mr(iid);
        let notes = mr["notes"].as_array_mut().unwrap();
        let id = notes.len() as u64 + 100;
        notes.push(serde_json::json!({"id": id, "author": author, "body": body, "system": false, "bot_awards": []}));
        self.set_mr(iid, &mr);
    }
}

fn actions(report: &Value) -> Vec<(String, String)> {
    report["projects"][0]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["action"].as_str().unwrap().to_string(),
                c["title"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

const CONFIG: &str = "version: 2\nupdates:\n  - package-ecosystem: pip\n    directory: /\n    schedule: {interval: daily}\n";

#[test]
fn a_fresh_run_opens_and_a_second_run_changes_nothing() {
    let Some(repo) = repo(&[
        (".updatebot.yml", CONFIG),
        ("requirements.txt", "six==1.15.0\nidna==2.10\n"),
    ]) else {
        return;
    };
    let first = repo.run();
    assert_eq!(
        actions(&first),
        [
            ("opened".into(), "Bump idna from 2.10 to 3.10".into()),
            ("opened".into(), "Bump six from 1.15.0 to 1.17.0".into())
        ]
    );
    assert_eq!(
        repo.branches(),
        ["updatebot/pip/idna-3.10", "updatebot/pip/six-1.17.0"]
    );
    let six = git(
        &repo.path,
        &["show", "updatebot/pip/six-1.17.0:requirements.txt"],
    );
    assert_eq!(six, "six==1.17.0\nidna==2.10");
    let mr = repo.mr(2);
    assert_eq!(
        mr["merge_request"]["labels"],
        serde_json::json!(["dependencies", "python", "updatebot"])
    );
    assert!(mr["merge_request"]["description"]
        .as_str()
        .unwrap()
        .contains("| six | 1.15.0 | 1.17.0 | minor |"));
    let heads = git(
        &repo.path,
        &[
            "for-each-ref",
            "--format=%(objectname)",
            "refs/heads/updatebot/",
        ],
    );
    let second = repo.run();
    assert!(
        actions(&second).iter().all(|(a, _)| a == "unchanged"),
        "{second}"
    );
    assert_eq!(
        git(
            &repo.path,
            &[
                "for-each-ref",
                "--format=%(objectname)",
                "refs/heads/updatebot/"
            ]
        ),
        heads
    );
    assert_eq!(
        second["registry_requests"]
            .as_object()
            .unwrap()
            .values()
            .map(|v| v.as_u64().unwrap())
            .sum::<u64>(),
        2
    );
}

#[test]
fn a_moved_target_is_left_alone_unless_it_conflicts() {
    let Some(repo) = repo(&[
        (".updatebot.yml", CONFIG),
        ("requirements.txt", "six==1.15.0\n"),
    ]) else {
        return;
    };
    repo.run();
    let before = git(&repo.path, &["rev-parse", "updatebot/pip/six-1.17.0"]);
    repo.commit("README.md", "unrelated\n");
    assert_eq!(actions(&repo.run())[0].0, "unchanged");
    assert_eq!(
        git(&repo.path, &["rev-parse", "updatebot/pip/six-1.17.0"]),
        before
    );
    // The same line changed on main: the bot recreates its commit on the new main.
    repo.commit("requirements.txt", "six==1.16.0\n");
    let report = repo.run();
    assert_eq!(actions(&report)[0].0, "recreated", "{report}");
    let parent = git(&repo.path, &["rev-parse", "updatebot/pip/six-1.17.0^"]);
    assert_eq!(parent, git(&repo.path, &["rev-parse", "main"]));
    assert_eq!(
        git(
            &repo.path,
            &["show", "updatebot/pip/six-1.17.0:requirements.txt"]
        ),
        "six==1.17.0"
    );
}

#[test]
fn a_newer_version_supersedes_the_old_merge_request() {
    let capped = format!(
        "{CONFIG}    ignore:\n      - dependency-name: requests\n        versions: [\">=2.32\"]\n"
    );
    let Some(repo) = repo(&[
        (".updatebot.yml", &capped),
        ("requirements.txt", "requests==2.25.0\n"),
    ]) else {
        return;
    };
    assert_eq!(
        actions(&repo.run()),
        [(
            "opened".into(),
            "Bump requests from 2.25.0 to 2.31.0".into()
        )]
    );
    repo.commit(".updatebot.yml", CONFIG);
    let report = repo.run();
    assert_eq!(
        actions(&report),
        [
            (
                "opened".into(),
                "Bump requests from 2.25.0 to 2.32.3".into()
            ),
            (
                "superseded".into(),
                "Bump requests from 2.25.0 to 2.31.0".into()
            )
        ]
    );
    assert_eq!(repo.mr(1)["merge_request"]["state"], "closed");
    assert_eq!(repo.mr(1)["notes"][0]["body"], "Superseded by !2.");
    assert_eq!(repo.branches(), ["updatebot/pip/requests-2.32.3"]);
    // A merge request the bot closed itself blocks nothing: the next run is quiet.
    let again = repo.run();
    assert_eq!(
        actions(&again),
        [(
            "unchanged".into(),
            "Bump requests from 2.25.0 to 2.32.3".into()
        )]
    );
}

#[test]
fn a_merge_request_closed_without_merging_is_not_proposed_again() {
    let Some(repo) = repo(&[
        (".updatebot.yml", CONFIG),
        ("requirements.txt", "six==1.15.0\n"),
    ]) else {
        return;
    };
    repo.run();
    let mut mr = repo.mr(1);
    mr["merge_request"]["state"] = "closed".into();
    repo.set_mr(1, &mr);
    let report = repo.run();
    let change = &report["projects"][0]["changes"][0];
    assert_eq!(change["action"], "skipped");
    assert_eq!(
        change["reason"],
        "!1 was closed without merging: this version is ignored"
    );
    assert!(!Path::new(&repo.path.join(".git/updatebot/merge-requests/2.json")).exists());
}

#[test]
fn a_dependency_updated_by_hand_closes_its_merge_request() {
    let Some(repo) = repo(&[
        (".updatebot.yml", CONFIG),
        ("requirements.txt", "six==1.15.0\n"),
    ]) else {
        return;
    };
    repo.run();
    repo.commit("requirements.txt", "six==1.17.0\n");
    let report = repo.run();
    assert_eq!(actions(&report)[0].0, "closed", "{report}");
    let mr = repo.mr(1);
    assert_eq!(mr["merge_request"]["state"], "closed");
    assert!(
        mr["notes"][0]["body"]
            .as_str()
            .unwrap()
            // Markdown-escaped by the sanitiser; GitLab shows "(1.17.0 is the newest)".
            .contains(r"six: up to date \(1.17.0 is the newest\)"),
        "{mr}"
    );
    assert!(repo.branches().is_empty());
}

#[test]
fn a_person_s_commit_on_the_bot_branch_is_respected() {
    let Some(repo) = repo(&[
        (".updatebot.yml", CONFIG),
        ("requirements.txt", "six==1.15.0\n"),
    ]) else {
        return;
    };
    repo.run();
    git(&repo.path, &["checkout", "-q", "updatebot/pip/six-1.17.0"]);
    repo.commit("NOTES.md", "tested by hand\n");
    git(&repo.path, &["checkout", "-q", "main"]);
    let head = git(&repo.path, &["rev-parse", "updatebot/pip/six-1.17.0"]);
    // Even a conflicting target does not make the bot overwrite a person's work.
    repo.commit("requirements.txt", "six==1.16.0\n");
    let report = repo.run();
    assert_eq!(actions(&report)[0].0, "unchanged", "{report}");
    assert_eq!(
        git(&repo.path, &["rev-parse", "updatebot/pip/six-1.17.0"]),
        head
    );
    repo.run();
    let notes = repo.mr(1)["notes"].as_array().unwrap().clone();
    assert_eq!(notes.len(), 1, "the note is left once: {notes:?}");
    assert!(notes[0]["body"]
        .as_str()
        .unwrap()
        .contains("has commits by someone else"));
}

#[test]
fn commands_in_comments_are_acted_on_once() {
    let Some(repo) = repo(&[
        (".updatebot.yml", CONFIG),
        ("requirements.txt", "six==1.15.0\nidna==2.10\n"),
    ]) else {
        return;
    };
    repo.run();
    repo.comment(1, "alice", "@updatebot recreate");
    repo.comment(2, "bob", "Not yet.\n@updatebot ignore this dependency");
    let report = repo.run();
    let acts = actions(&report);
    assert!(
        acts.contains(&("ignored".into(), "Bump six from 1.15.0 to 1.17.0".into())),
        "{acts:?}"
    );
    assert!(
        acts.contains(&("recreated".into(), "Bump idna from 2.10 to 3.10".into())),
        "{acts:?}"
    );
    assert_eq!(
        git(&repo.path, &["rev-parse", "updatebot/pip/idna-3.10^"]),
        git(&repo.path, &["rev-parse", "main"])
    );
    assert_eq!(
        repo.mr(1)["notes"][0]["bot_awards"],
        serde_json::json!(["thumbsup"])
    );
    assert_eq!(repo.mr(2)["merge_request"]["state"], "closed");
    // Acknowledged commands are not acted on again; the ignored dependency stays away.
    let again = repo.run();
    let acts = actions(&again);
    assert!(
        acts.contains(&("unchanged".into(), "Bump idna from 2.10 to 3.10".into())),
        "{acts:?}"
    );
    assert!(
        acts.contains(&("skipped".into(), "Bump six from 1.15.0 to 1.17.0".into())),
        "{acts:?}"
    );
}

#[test]
fn the_open_merge_request_limit_holds_back_the_rest() {
    let limited = format!("{CONFIG}    open-merge-requests-limit: 1\n");
    let Some(repo) = repo(&[
        (".updatebot.yml", &limited),
        ("requirements.txt", "six==1.15.0\nidna==2.10\n"),
    ]) else {
        return;
    };
    let report = repo.run();
    let changes = report["projects"][0]["changes"].as_array().unwrap();
    assert_eq!(changes[0]["action"], "opened");
    assert_eq!(changes[1]["action"], "skipped");
    assert_eq!(
        changes[1]["reason"],
        "open merge request limit reached (1 of 1)"
    );
}

#[test]
fn a_broken_config_fails_the_project_with_its_line() {
    let Some(repo) = repo(&[
        (
            ".updatebot.yml",
            "version: 2\nupdates:\n  - package-ecosystem: pip\n    direktory: /\n",
        ),
        ("requirements.txt", "six==1.15.0\n"),
    ]) else {
        return;
    };
    let output = updatebot(&[
        "run",
        "--local",
        repo.path.to_str().unwrap(),
        "--config",
        repo.config.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stdout(&output).contains(".updatebot.yml:4:5: unknown key `direktory`"),
        "{}",
        stdout(&output)
    );
    assert!(repo.branches().is_empty());
}

/// A manifest that cannot be read is a problem of the run: the others are still worked on,
/// and `run` exits 1 (README, exit codes), not 0.
#[test]
fn an_unreadable_manifest_is_reported_and_the_run_exits_1() {
    let Some(repo) = repo(&[
        (
            ".updatebot.yml",
            "version: 2\nupdates:\n  - package-ecosystem: pip\n    directory: /\n    schedule: {interval: daily}\n  - package-ecosystem: pip\n    directory: /broken\n    schedule: {interval: daily}\n",
        ),
        ("requirements.txt", "six==1.15.0\n"),
        ("broken/pyproject.toml", "[project\ndependencies = [\"six==1.15.0\"]\n"),
    ]) else {
        return;
    };
    let output = updatebot(&[
        "run",
        "--local",
        repo.path.to_str().unwrap(),
        "--config",
        repo.config.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let report: Value = serde_json::from_str(&stdout(&output)).unwrap();
    let problems = report["projects"][0]["problems"].to_string();
    assert!(problems.contains("broken/pyproject.toml"), "{problems}");
    assert_eq!(actions(&report)[0].0, "opened", "{report}");
}

//! The fleet run against the GitLab API v4 fake (real bare git repositories behind it) and the
//! real local Python index: discovery, merge requests and their life cycle, convergence after
//! a crash at any point, faults on one project, and tokens that never leak.

mod support;

use fake_gitlab::{access, Failure, FakeGitlab, MergeMethod, ProjectOptions};
use std::sync::Arc;
use support::*;
use updatebot::config::{load_operator_config, OperatorConfig};
use updatebot::forge::gitlab::GitlabForge;
use updatebot::plugins::Plugins;
use updatebot::run::{Fleet, FleetReport, Shard};
use updatebot::schedule::Window;
use updatebot_core::http::{HttpClient, HttpOptions};

const CONFIG: &str = "version: 2\nupdates:\n  - package-ecosystem: pip\n    directory: /\n    schedule: {interval: daily}\n    labels: [dependencies, python]\n    reviewers: [rita]\n";

/// (state, source branch, title, labels) of each merge request, and the bot's branches.
type State = (Vec<(String, String, String, Vec<String>)>, Vec<String>);

struct World {
    gitlab: FakeGitlab,
    index: String,
    token: String,
    bot_id: u64,
    human: fake_gitlab::User,
}

async fn world() -> Option<World> {
    let index = python_index()?;
    let gitlab = FakeGitlab::start().await;
    let bot = gitlab.add_user("updatebot");
    let human = gitlab.add_user("rita");
    Some(World {
        gitlab,
        index,
        token: bot.token,
        bot_id: bot.id,
        human,
    })
}

impl World {
    fn project(&self, group: &str, name: &str, files: &[(&str, &str)]) -> u64 {
        self.project_with(
            ProjectOptions::new(group, name)
                .files(files)
                .merge_method(MergeMethod::Merge),
        )
    }

    fn project_with(&self, opts: ProjectOptions) -> u64 {
        let id = self.gitlab.add_project_with(opts);
        self.gitlab.add_member(id, self.bot_id, access::DEVELOPER);
        self.gitlab
            .add_member(id, self.human.id, access::MAINTAINER);
        id
    }

    fn operator(&self, fleet: &str) -> OperatorConfig {
        let text = format!(
            "gitlab:\n  url: {}\n  token-env: GITLAB_TOKEN\nfleet:\n{fleet}\nregistries:\n  local-pypi:\n    type: python-index\n    url: {}\n    replaces-base: true\n",
            self.gitlab.url(),
            self.index
        );
        let token = self.token.clone();
        load_operator_config(
            &text,
            &move |v| (v == "GITLAB_TOKEN").then(|| token.clone()),
            &|_| Err(std::io::ErrorKind::NotFound.into()),
        )
        .unwrap()
    }

    async fn run(&self, operator: &OperatorConfig) -> FleetReport {
        self.run_with(operator, Window::Always, Shard::ALL).await
    }

    async fn run_with(
        &self,
        operator: &OperatorConfig,
        window: Window,
        shard: Shard,
    ) -> FleetReport {
        let http = Arc::new(HttpClient::new(HttpOptions::default(), Vec::new()).unwrap());
        let forge = GitlabForge::connect(
            operator.gitlab.as_ref().unwrap(),
            &operator.bot,
            http.clone(),
        )
        .await
        .unwrap();
        let plugins = Plugins::standard();
        let mut fleet = Fleet::new(&forge, &plugins, operator, http);
        fleet.window = window;
        fleet.shard = shard;
        fleet.run().await
    }

    /// What a maintainer sees: (state, source branch, title, labels) of every merge request,
    /// and the bot's branches.
    fn state(&self, project: u64) -> State {
        let mut mrs: Vec<_> = self
            .gitlab
            .merge_requests(project)
            .into_iter()
            .map(|m| (m.state, m.source_branch, m.title, m.labels))
            .collect();
        mrs.sort();
        let branches = self
            .gitlab
            .branches(project)
            .into_iter()
            .map(|(b, _)| b)
            .filter(|b| b.starts_with("updatebot/"))
            .collect();
        (mrs, branches)
    }
}

fn actions(report: &FleetReport, project: usize) -> Vec<(String, String)> {
    report.projects[project]
        .changes
        .iter()
        .map(|c| (c.action.as_str().to_string(), c.title.clone()))
        .collect()
}

#[tokio::test]
async fn a_fresh_fleet_run_opens_merge_requests_and_a_second_is_a_no_op() {
    let Some(w) = world().await else { return };
    let group = w.gitlab.add_group("research");
    let _ = group;
    let api = w.project(
        "research",
        "api",
        &[
            (".updatebot.yml", CONFIG),
            ("requirements.txt", "six==1.15.0\nidna==2.10\n"),
        ],
    );
    let web = w.project_with(
        ProjectOptions::new("research/sub", "web")
            .files(&[
                (".updatebot.yml", CONFIG),
                ("requirements.txt", "click==7.1.2\n"),
            ])
            .topics(&["python"]),
    );
    let old = w.project_with(
        ProjectOptions::new("research", "old")
            .files(&[
                (".updatebot.yml", CONFIG),
                ("requirements.txt", "six==1.15.0\n"),
            ])
            .archived(true),
    );
    let bare = w.project(
        "research",
        "no-config",
        &[("requirements.txt", "six==1.15.0\n")],
    );
    let operator = w.operator("  groups: [research]");
    let report = w.run(&operator).await;
    assert!(!report.failed(), "{}", report.summary());
    let paths: Vec<&str> = report.projects.iter().map(|p| p.project.as_str()).collect();
    assert_eq!(paths.len(), 3, "{paths:?}");
    assert!(
        !paths.contains(&"research/old"),
        "archived projects are skipped"
    );
    let bare_report = report
        .projects
        .iter()
        .find(|p| p.project == "research/no-config")
        .unwrap();
    assert_eq!(
        bare_report.skipped.as_deref(),
        Some("no .updatebot.yml on `main`")
    );
    assert!(w.gitlab.merge_requests(old).is_empty());
    assert!(w.gitlab.merge_requests(bare).is_empty());

    let mrs = w.gitlab.merge_requests(api);
    assert_eq!(mrs.len(), 2);
    let six = mrs
        .iter()
        .find(|m| m.source_branch == "updatebot/pip/six-1.17.0")
        .unwrap();
    assert_eq!(six.title, "Bump six from 1.15.0 to 1.17.0");
    assert_eq!(six.target_branch, "main");
    assert_eq!(six.labels, ["dependencies", "python", "updatebot"]);
    assert_eq!(six.reviewer_ids, [w.human.id]);
    assert!(six.remove_source_branch);
    assert!(six
        .description
        .contains("| six | 1.15.0 | 1.17.0 | minor |"));
    assert_eq!(
        w.gitlab
            .file(api, "updatebot/pip/six-1.17.0", "requirements.txt")
            .as_deref(),
        Some("six==1.17.0\nidna==2.10\n")
    );
    let log = w.gitlab.log(api, "updatebot/pip/six-1.17.0");
    assert_eq!(log[0].author_name, "updatebot");
    assert_eq!(
        log[1].sha,
        w.gitlab
            .branches(api)
            .into_iter()
            .find(|(b, _)| b == "main")
            .unwrap()
            .1
    );
    for label in ["dependencies", "python", "updatebot"] {
        assert!(
            w.gitlab.labels(api).contains(&label.to_string()),
            "label {label} created"
        );
    }
    assert_eq!(w.gitlab.merge_requests(web).len(), 1);

    // The second run changes nothing at all.
    w.gitlab.clear_requests();
    let again = w.run(&operator).await;
    assert!(
        actions(&again, 0).iter().all(|(a, _)| a == "unchanged"),
        "{}",
        again.summary()
    );
    let writes: Vec<_> = w
        .gitlab
        .requests()
        .into_iter()
        .filter(|r| r.is_mutating())
        .collect();
    assert!(
        writes.is_empty(),
        "{:?}",
        writes
            .iter()
            .map(|r| format!("{} {}", r.method, r.path))
            .collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn topics_filter_a_group_and_explicit_projects_are_added() {
    let Some(w) = world().await else { return };
    w.gitlab.add_group("org");
    w.project_with(
        ProjectOptions::new("org", "tagged")
            .files(&[
                (".updatebot.yml", CONFIG),
                ("requirements.txt", "six==1.15.0\n"),
            ])
            .topics(&["updatebot"]),
    );
    w.project(
        "org",
        "untagged",
        &[
            (".updatebot.yml", CONFIG),
            ("requirements.txt", "six==1.15.0\n"),
        ],
    );
    w.project(
        "other",
        "listed",
        &[
            (".updatebot.yml", CONFIG),
            ("requirements.txt", "six==1.15.0\n"),
        ],
    );
    let operator = w.operator(
        "  projects: [other/listed]\n  groups:\n    - path: org\n      topics: [updatebot]",
    );
    let report = w.run(&operator).await;
    let mut paths: Vec<&str> = report.projects.iter().map(|p| p.project.as_str()).collect();
    paths.sort();
    assert_eq!(paths, ["org/tagged", "other/listed"]);
}

#[tokio::test]
async fn a_moved_target_needing_a_rebase_gets_the_commit_recreated() {
    let Some(w) = world().await else { return };
    let p = w.project_with(
        ProjectOptions::new("g", "ff")
            .files(&[
                (".updatebot.yml", CONFIG),
                ("requirements.txt", "six==1.15.0\n"),
            ])
            .merge_method(MergeMethod::FastForward),
    );
    let operator = w.operator("  projects: [g/ff]");
    w.run(&operator).await;
    let main = w
        .gitlab
        .push(p, "main", &[("README.md", Some("hello\n"))], "rita");
    assert_eq!(
        w.gitlab.merge_requests(p)[0].detailed_merge_status,
        "need_rebase"
    );
    let report = w.run(&operator).await;
    assert_eq!(
        actions(&report, 0),
        [("recreated".into(), "Bump six from 1.15.0 to 1.17.0".into())]
    );
    let log = w.gitlab.log(p, "updatebot/pip/six-1.17.0");
    assert_eq!(log[1].sha, main);
    assert_eq!(
        w.gitlab.merge_requests(p)[0].detailed_merge_status,
        "mergeable"
    );
}

#[tokio::test]
async fn a_behind_but_mergeable_request_is_not_rebased() {
    let Some(w) = world().await else { return };
    let p = w.project(
        "g",
        "merge",
        &[
            (".updatebot.yml", CONFIG),
            ("requirements.txt", "six==1.15.0\n"),
        ],
    );
    let operator = w.operator("  projects: [g/merge]");
    w.run(&operator).await;
    let before = w.gitlab.branches(p);
    w.gitlab
        .push(p, "main", &[("README.md", Some("hello\n"))], "rita");
    let report = w.run(&operator).await;
    assert_eq!(actions(&report, 0)[0].0, "unchanged");
    let after: Vec<_> = w
        .gitlab
        .branches(p)
        .into_iter()
        .filter(|(b, _)| b != "main")
        .collect();
    let before: Vec<_> = before.into_iter().filter(|(b, _)| b != "main").collect();
    assert_eq!(after, before);
}

#[tokio::test]
async fn merged_closed_and_edited_merge_requests_are_respected() {
    let Some(w) = world().await else { return };
    let p = w.project(
        "g",
        "life",
        &[
            (".updatebot.yml", CONFIG),
            (
                "requirements.txt",
                "six==1.15.0\nidna==2.10\nclick==7.1.2\n",
            ),
        ],
    );
    let operator = w.operator("  projects: [g/life]");
    w.run(&operator).await;
    let mrs = w.gitlab.merge_requests(p);
    let iid = |branch: &str| mrs.iter().find(|m| m.source_branch == branch).unwrap().iid;
    // six: merged by a maintainer. idna: closed without merging. click: a person pushes to it.
    w.gitlab.merge(p, iid("updatebot/pip/six-1.17.0"));
    w.gitlab
        .close(p, iid("updatebot/pip/idna-3.10"), w.human.id);
    w.gitlab.push(
        p,
        "updatebot/pip/click-8.1.7",
        &[("NOTES.md", Some("checked\n"))],
        "rita",
    );
    let report = w.run(&operator).await;
    let acts = actions(&report, 0);
    assert!(
        acts.contains(&("skipped".into(), "Bump idna from 2.10 to 3.10".into())),
        "{acts:?}"
    );
    assert!(
        acts.contains(&("unchanged".into(), "Bump click from 7.1.2 to 8.1.7".into())),
        "{acts:?}"
    );
    assert!(
        !acts.iter().any(|(_, t)| t.contains("six")),
        "merged: nothing to do: {acts:?}"
    );
    let click = w
        .gitlab
        .merge_requests(p)
        .into_iter()
        .find(|m| m.source_branch.contains("click"))
        .unwrap();
    let notes = w.gitlab.notes(p, click.iid);
    assert!(notes
        .iter()
        .any(|n| n.author == "updatebot" && n.body.contains("has commits by someone else")));
    assert_ne!(
        w.gitlab.log(p, "updatebot/pip/click-8.1.7")[0].author_name,
        "updatebot",
        "the person's commit stays"
    );
}

#[tokio::test]
async fn commands_in_comments_are_acknowledged_and_honoured() {
    let Some(w) = world().await else { return };
    let p = w.project(
        "g",
        "cmd",
        &[
            (".updatebot.yml", CONFIG),
            ("requirements.txt", "six==1.15.0\nidna==2.10\n"),
        ],
    );
    let operator = w.operator("  projects: [g/cmd]");
    w.run(&operator).await;
    let mrs = w.gitlab.merge_requests(p);
    let six = mrs
        .iter()
        .find(|m| m.source_branch.contains("six"))
        .unwrap()
        .iid;
    let idna = mrs
        .iter()
        .find(|m| m.source_branch.contains("idna"))
        .unwrap()
        .iid;
    let note = w
        .gitlab
        .add_note(p, six, w.human.id, "@updatebot ignore this major version");
    let recreate = w
        .gitlab
        .add_note(p, idna, w.human.id, "@updatebot recreate");
    let report = w.run(&operator).await;
    let acts = actions(&report, 0);
    assert!(
        acts.contains(&("ignored".into(), "Bump six from 1.15.0 to 1.17.0".into())),
        "{acts:?}"
    );
    assert!(
        acts.contains(&("recreated".into(), "Bump idna from 2.10 to 3.10".into())),
        "{acts:?}"
    );
    let awarded = |iid: u64, note: u64| {
        w.gitlab
            .notes(p, iid)
            .into_iter()
            .find(|n| n.id == note)
            .unwrap()
            .award_emoji
    };
    assert_eq!(awarded(six, note), ["thumbsup"]);
    assert_eq!(awarded(idna, recreate), ["thumbsup"]);
    let after = w.gitlab.merge_requests(p);
    assert_eq!(after.iter().find(|m| m.iid == six).unwrap().state, "closed");
    let again = w.run(&operator).await;
    let acts = actions(&again, 0);
    assert!(
        acts.contains(&("skipped".into(), "Bump six from 1.15.0 to 1.17.0".into())),
        "{acts:?}"
    );
    assert!(
        acts.contains(&("unchanged".into(), "Bump idna from 2.10 to 3.10".into())),
        "{acts:?}"
    );
}

#[tokio::test]
async fn one_broken_project_does_not_stop_the_fleet() {
    let Some(w) = world().await else { return };
    w.gitlab.add_group("f");
    let broken = w.project(
        "f",
        "broken",
        &[
            (".updatebot.yml", "version: 2\nupdates: nope\n"),
            ("requirements.txt", "six==1.15.0\n"),
        ],
    );
    let failing = w.project(
        "f",
        "failing",
        &[
            (".updatebot.yml", CONFIG),
            ("requirements.txt", "six==1.15.0\n"),
        ],
    );
    let readonly = w.gitlab.add_project(
        "f",
        "readonly",
        &[
            (".updatebot.yml", CONFIG),
            ("requirements.txt", "six==1.15.0\n"),
        ],
    );
    w.gitlab.add_member(readonly, w.bot_id, access::REPORTER);
    let fine = w.project(
        "f",
        "fine",
        &[
            (".updatebot.yml", CONFIG),
            ("requirements.txt", "six==1.15.0\n"),
        ],
    );
    w.gitlab.set_project_error(failing, 500);
    let operator = w.operator("  groups: [f]");
    let report = w.run(&operator).await;
    assert!(report.failed());
    let by = |path: &str| report.projects.iter().find(|p| p.project == path).unwrap();
    assert!(
        by("f/broken")
            .error
            .as_deref()
            .unwrap()
            .contains(".updatebot.yml:2:10"),
        "{:?}",
        by("f/broken").error
    );
    assert!(
        by("f/failing").error.as_deref().unwrap().contains("500"),
        "{:?}",
        by("f/failing").error
    );
    let denied = by("f/readonly");
    assert!(denied.failed(), "{}", report.summary());
    assert!(
        report.summary().contains("permission denied"),
        "{}",
        report.summary()
    );
    assert_eq!(
        actions(
            &report,
            report
                .projects
                .iter()
                .position(|p| p.project == "f/fine")
                .unwrap()
        )[0]
        .0,
        "opened"
    );
    assert_eq!(w.gitlab.merge_requests(fine).len(), 1);
    assert!(w.gitlab.merge_requests(broken).is_empty());
}

#[tokio::test]
async fn the_open_limit_counts_the_bot_s_merge_requests() {
    let Some(w) = world().await else { return };
    let limited = format!("{CONFIG}    open-merge-requests-limit: 2\n");
    let p = w.project(
        "g",
        "lim",
        &[
            (".updatebot.yml", &limited),
            (
                "requirements.txt",
                "six==1.15.0\nidna==2.10\nclick==7.1.2\n",
            ),
        ],
    );
    let operator = w.operator("  projects: [g/lim]");
    let report = w.run(&operator).await;
    let acts = actions(&report, 0);
    assert_eq!(
        acts.iter().filter(|(a, _)| a == "opened").count(),
        2,
        "{acts:?}"
    );
    assert_eq!(
        acts.iter().filter(|(a, _)| a == "skipped").count(),
        1,
        "{acts:?}"
    );
    assert_eq!(w.gitlab.merge_requests(p).len(), 2);
}

/// Kill the run after every possible number of writes, then run again: the end state is the
/// same as an uninterrupted run's, with no duplicate merge requests and no orphan branches.
#[tokio::test]
async fn a_run_cut_off_after_any_write_converges() {
    let Some(w) = world().await else { return };
    let files: &[(&str, &str)] = &[
        (".updatebot.yml", CONFIG),
        ("requirements.txt", "six==1.15.0\nidna==2.10\n"),
    ];
    let reference = w.project("ref", "p", files);
    let operator = w.operator("  projects: [ref/p]");
    w.gitlab.clear_requests();
    w.run(&operator).await;
    let writes = w
        .gitlab
        .requests()
        .into_iter()
        .filter(|r| r.is_mutating())
        .count();
    assert!(writes >= 6, "expected a handful of writes, saw {writes}");
    let expected = w.state(reference);
    for cut in 0..writes {
        let name = format!("p{cut}");
        let p = w.project("cut", &name, files);
        let operator = w.operator(&format!("  projects: [cut/{name}]"));
        w.gitlab.fail_after(cut);
        let broken = w.run(&operator).await;
        assert!(
            broken.failed(),
            "cut {cut}: the run should have seen the failure"
        );
        w.gitlab.fail_after(usize::MAX);
        w.run(&operator).await;
        assert_eq!(w.state(p), expected, "after a cut at write {cut}");
    }
}

/// A write whose answer is lost (the change happened, the client saw a 500) is repaired too.
#[tokio::test]
async fn lost_answers_do_not_duplicate_merge_requests() {
    let Some(w) = world().await else { return };
    let p = w.project(
        "g",
        "lost",
        &[
            (".updatebot.yml", CONFIG),
            ("requirements.txt", "six==1.15.0\n"),
        ],
    );
    let operator = w.operator("  projects: [g/lost]");
    w.gitlab.fail(
        Failure::new("/merge_requests", 500)
            .method("POST")
            .after_processing(),
    );
    let first = w.run(&operator).await;
    assert!(first.failed());
    w.gitlab.clear_failures();
    w.run(&operator).await;
    w.run(&operator).await;
    let mrs = w.gitlab.merge_requests(p);
    assert_eq!(mrs.len(), 1, "{mrs:?}");
    assert_eq!(mrs[0].state, "opened");
}

/// The token goes only to GitLab, in a header, and appears nowhere else: not in any request
/// body, merge request, note, report or output.
#[tokio::test]
async fn the_token_never_leaks() {
    let Some(w) = world().await else { return };
    let p = w.project(
        "g",
        "secret",
        &[
            (".updatebot.yml", CONFIG),
            ("requirements.txt", "six==1.15.0\n"),
        ],
    );
    w.gitlab.set_project_error(p, 0);
    let operator = w.operator("  projects: [g/secret, g/missing]");
    let report = w.run(&operator).await;
    let text = format!(
        "{}{}",
        report.summary(),
        serde_json::to_string(&report).unwrap()
    );
    assert!(!text.contains(&w.token), "token in the report");
    for request in w.gitlab.requests() {
        assert!(
            !request.body_str().contains(&w.token),
            "token in a body: {}",
            request.path
        );
        assert!(
            !request.query.contains(&w.token),
            "token in a query: {}",
            request.path
        );
        assert_eq!(request.header("private-token"), Some(w.token.as_str()));
    }
    for mr in w.gitlab.merge_requests(p) {
        assert!(!mr.description.contains(&w.token));
        for note in w.gitlab.notes(p, mr.iid) {
            assert!(!note.body.contains(&w.token));
        }
    }
    // Through the binary: a bad token is a clear error naming GitLab, never the token.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("operator.yml");
    std::fs::write(
        &config,
        format!("gitlab:\n  url: {}\n  token-file: token\n", w.gitlab.url()),
    )
    .unwrap();
    std::fs::write(dir.path().join("token"), "glpat-not-a-real-token\n").unwrap();
    let output = updatebot(&["run", "--config", config.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    let all = format!("{}{}", stdout(&output), stderr(&output));
    assert!(
        all.contains("GitLab at") && all.contains("permission denied"),
        "{all}"
    );
    assert!(!all.contains("glpat-not-a-real-token"), "{all}");
    // An unreachable GitLab is a clear error too.
    std::fs::write(
        &config,
        "gitlab:\n  url: http://127.0.0.1:9\n  token-file: token\n",
    )
    .unwrap();
    let output = updatebot(&["run", "--config", config.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("127.0.0.1:9"),
        "{}",
        stderr(&output)
    );
}

/// A whole fleet run through the binary with every log at trace level, in both log formats:
/// neither the GitLab token nor a registry password (nor its Basic encoding) appears in any
/// output, though both were sent where they belong.
#[tokio::test]
async fn no_secret_in_any_output_even_at_trace_level() {
    let Some(w) = world().await else { return };
    let p = w.project(
        "g",
        "traced",
        &[
            (".updatebot.yml", CONFIG),
            ("requirements.txt", "six==1.15.0\nidna==2.10\n"),
        ],
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("gitlab-token"), format!("{}\n", w.token)).unwrap();
    let password = "pypi-Pa55word-never-shown";
    let config = dir.path().join("operator.yml");
    std::fs::write(
        &config,
        format!(
            "gitlab:\n  url: {}\n  token-file: gitlab-token\nfleet:\n  projects: [g/traced]\nregistries:\n  local-pypi:\n    type: python-index\n    url: {}\n    replaces-base: true\n    username: bot\n    password-env: UPDATEBOT_TEST_PYPI_PASSWORD\n",
            w.gitlab.url(),
            w.index
        ),
    )
    .unwrap();
    let basic = updatebot_core::http::base64_encode(format!("bot:{password}").as_bytes());
    for format in ["text", "json"] {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_updatebot"))
            .args([
                "--log-format",
                format,
                "run",
                "--config",
                config.to_str().unwrap(),
                "--format",
                "json",
            ])
            .env("UPDATEBOT_LOG", "trace")
            .env("UPDATEBOT_TEST_PYPI_PASSWORD", password)
            // Not the public OSV API (unreachable here): no advisories.
            .env_remove("UPDATEBOT_OSV_URL")
            .env("UPDATEBOT_OSV_DIR", no_advisories())
            .output()
            .unwrap();
        let all = format!("{}{}", stdout(&output), stderr(&output));
        assert_eq!(output.status.code(), Some(0), "{format}: {all}");
        // The logs are really there, from our code and from the HTTP stack.
        let lines = stderr(&output).lines().count();
        assert!(lines > 50, "{format}: only {lines} log lines");
        assert!(all.contains("TRACE") || all.contains("\"level\":\"TRACE\""));
        for secret in [w.token.as_str(), password, basic.as_str()] {
            assert!(
                !all.contains(secret),
                "{format}: a secret in the output: {}",
                all.lines().find(|l| l.contains(secret)).unwrap_or_default()
            );
        }
    }
    // They were used: the token on every GitLab request, and the run opened its merge
    // requests through the authenticated index.
    assert!(w
        .gitlab
        .requests()
        .iter()
        .all(|r| r.header("private-token") == Some(w.token.as_str())));
    assert_eq!(w.gitlab.merge_requests(p).len(), 2);
}

#[tokio::test]
async fn a_newer_version_supersedes_and_an_unneeded_update_is_closed() {
    let Some(w) = world().await else { return };
    let capped = format!(
        "{CONFIG}    ignore:\n      - dependency-name: requests\n        versions: [\">=2.32\"]\n"
    );
    let p = w.project(
        "g",
        "sup",
        &[
            (".updatebot.yml", &capped),
            ("requirements.txt", "requests==2.25.0\nsix==1.15.0\n"),
        ],
    );
    let operator = w.operator("  projects: [g/sup]");
    w.run(&operator).await;
    // The cap goes, and six is bumped by hand on main.
    w.gitlab.push(
        p,
        "main",
        &[
            (".updatebot.yml", Some(CONFIG)),
            ("requirements.txt", Some("requests==2.25.0\nsix==1.17.0\n")),
        ],
        "rita",
    );
    let report = w.run(&operator).await;
    let acts = actions(&report, 0);
    assert!(
        acts.contains(&(
            "opened".into(),
            "Bump requests from 2.25.0 to 2.32.3".into()
        )),
        "{acts:?}"
    );
    assert!(
        acts.contains(&(
            "superseded".into(),
            "Bump requests from 2.25.0 to 2.31.0".into()
        )),
        "{acts:?}"
    );
    assert!(
        acts.contains(&("closed".into(), "Bump six from 1.15.0 to 1.17.0".into())),
        "{acts:?}"
    );
    let (mrs, branches) = w.state(p);
    assert_eq!(branches, ["updatebot/pip/requests-2.32.3"]);
    let open: Vec<_> = mrs.iter().filter(|m| m.0 == "opened").collect();
    assert_eq!(open.len(), 1);
    let old = w
        .gitlab
        .merge_requests(p)
        .into_iter()
        .find(|m| m.title.contains("2.31.0"))
        .unwrap();
    let new = w
        .gitlab
        .merge_requests(p)
        .into_iter()
        .find(|m| m.title.contains("2.32.3"))
        .unwrap();
    assert!(w
        .gitlab
        .notes(p, old.iid)
        .iter()
        .any(|n| n.body == format!("Superseded by !{}.", new.iid)));
}

/// Manifests in subdirectories (paths with `/` in every API call), the hashed lockfile, and a
/// group of updates in one merge request.
#[tokio::test]
async fn nested_manifests_hashes_and_groups() {
    let Some(w) = world().await else { return };
    let config = "version: 2\nupdates:\n  - package-ecosystem: pip\n    directories: [/backend, /tools]\n    schedule: {interval: weekly}\n    milestone: \"Sprint 1\"\n    groups:\n      tooling:\n        patterns: [\"*\"]\n";
    let hashed = std::fs::read_to_string(
        repo_root().join("fixtures/python/requirements_hashes_follow_the_pin/in/requirements.txt"),
    )
    .unwrap();
    let p = w.project(
        "g",
        "nested",
        &[
            (".updatebot.yml", config),
            ("backend/requirements.txt", &hashed),
            (
                "tools/pyproject.toml",
                "[project]\nname = \"t\"\ndependencies = [\"click==7.1.2\", \"attrs>=22.2,<23\"]\n",
            ),
        ],
    );
    let sprint = w.gitlab.add_milestone(p, "Sprint 1");
    let operator = w.operator("  projects: [g/nested]");
    let report = w.run(&operator).await;
    assert!(!report.failed(), "{}", report.summary());
    let acts = actions(&report, 0);
    assert_eq!(
        acts,
        [
            (
                "opened".into(),
                "Bump the tooling group in /backend with 2 updates".into()
            ),
            (
                "opened".into(),
                "Bump the tooling group in /tools with 2 updates".into()
            )
        ]
    );
    let expected = std::fs::read_to_string(
        repo_root().join("fixtures/python/requirements_hashes_follow_the_pin/out/requirements.txt"),
    )
    .unwrap();
    assert_eq!(
        w.gitlab.file(
            p,
            "updatebot/pip/backend/tooling",
            "backend/requirements.txt"
        ),
        Some(expected)
    );
    let tools = w
        .gitlab
        .file(p, "updatebot/pip/tools/tooling", "tools/pyproject.toml")
        .unwrap();
    assert!(
        tools.contains("\"click==8.1.7\", \"attrs>=23.2,<24\""),
        "{tools}"
    );
    let mr = w
        .gitlab
        .merge_requests(p)
        .into_iter()
        .find(|m| m.source_branch == "updatebot/pip/backend/tooling")
        .unwrap();
    assert!(
        mr.description
            .contains("`backend/requirements.txt` (pins and hashes)"),
        "{}",
        mr.description
    );
    assert_eq!(mr.milestone_id, Some(sprint));
    assert!(w.run(&operator).await.projects[0]
        .changes
        .iter()
        .all(|c| c.action.as_str() == "unchanged"));
}

fn utc(text: &str) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&chrono::Utc)
}

/// Two entries on different schedules: a run serves only the due one, and leaves the other
/// entry's merge requests alone (neither updated nor closed as unneeded).
#[tokio::test]
async fn a_run_serves_only_the_entries_that_are_due() {
    let Some(w) = world().await else { return };
    w.gitlab.add_group("sched");
    let config = "version: 2\nupdates:\n  - package-ecosystem: pip\n    directory: /daily\n    schedule:\n      interval: daily\n      time: \"04:00\"\n  - package-ecosystem: pip\n    directory: /monthly\n    schedule:\n      interval: monthly\n";
    let weekly_only = "version: 2\nupdates:\n  - package-ecosystem: pip\n    directory: /\n    schedule:\n      interval: weekly\n      day: friday\n";
    let both = w.project(
        "sched",
        "both",
        &[
            (".updatebot.yml", config),
            ("daily/requirements.txt", "six==1.15.0\n"),
            ("monthly/requirements.txt", "idna==2.10\n"),
        ],
    );
    let friday = w.project(
        "sched",
        "friday",
        &[
            (".updatebot.yml", weekly_only),
            ("requirements.txt", "six==1.15.0\n"),
        ],
    );
    let operator = w.operator("  groups: [sched]");
    // A run at 05:00 UTC on Tuesday 2026-11-24, the previous tick a day before: only the
    // daily entry (04:00) fired; the monthly one fires on the 1st, the weekly one on Friday.
    let window = Window::Between(utc("2026-11-23T05:00:00Z"), utc("2026-11-24T05:00:00Z"));
    let report = w.run_with(&operator, window, Shard::ALL).await;
    assert!(!report.failed(), "{}", report.summary());
    let branches = |id| -> Vec<String> {
        let mut b: Vec<_> = w
            .gitlab
            .merge_requests(id)
            .into_iter()
            .map(|m| m.source_branch)
            .collect();
        b.sort();
        b
    };
    assert_eq!(branches(both), ["updatebot/pip/daily/six-1.17.0"]);
    assert!(branches(friday).is_empty());
    let skipped = report
        .projects
        .iter()
        .find(|p| p.project == "sched/friday")
        .unwrap();
    assert_eq!(
        skipped.skipped.as_deref(),
        Some("no entry of its .updatebot.yml is due in this run")
    );

    // A forced run serves everything.
    let report = w.run(&operator).await;
    assert!(!report.failed(), "{}", report.summary());
    assert_eq!(
        branches(both),
        [
            "updatebot/pip/daily/six-1.17.0",
            "updatebot/pip/monthly/idna-3.10"
        ]
    );
    assert_eq!(branches(friday), ["updatebot/pip/six-1.17.0"]);

    // The next daily run, after the monthly entry's dependency went away: the monthly
    // entry is not due, so its merge request is not closed as unneeded.
    w.gitlab.push(
        both,
        "main",
        &[("monthly/requirements.txt", Some(""))],
        "rita",
    );
    let window = Window::Between(utc("2026-11-24T05:00:00Z"), utc("2026-11-25T05:00:00Z"));
    let report = w.run_with(&operator, window, Shard::ALL).await;
    assert!(!report.failed(), "{}", report.summary());
    let open: Vec<_> = w
        .gitlab
        .merge_requests(both)
        .into_iter()
        .filter(|m| m.state == "opened")
        .map(|m| m.source_branch)
        .collect();
    assert_eq!(open.len(), 2, "{open:?}");
}

/// Shards split the fleet into disjoint shares that together cover it, for any count.
#[tokio::test]
async fn shards_partition_the_fleet() {
    let Some(w) = world().await else { return };
    w.gitlab.add_group("many");
    let mut all = Vec::new();
    for i in 0..12 {
        let name = format!("p{i}");
        w.project("many", &name, &[("requirements.txt", "six==1.15.0\n")]);
        all.push(format!("many/{name}"));
    }
    all.sort();
    let operator = w.operator("  groups: [many]");
    for count in 1..=8 {
        let mut seen = Vec::new();
        for index in 0..count {
            let report = w
                .run_with(&operator, Window::Always, Shard { index, count })
                .await;
            seen.extend(report.projects.iter().map(|p| p.project.clone()));
        }
        seen.sort();
        assert_eq!(seen, all, "{count} shards");
    }
}

/// The dashboard issue: created on the first run with the open merge requests and the CI
/// findings, rewritten only when its text changes, listing the ignore a closed merge
/// request stands for; ticking that box makes the next run propose the update again.
#[tokio::test]
async fn the_dashboard_lists_what_the_bot_sees_and_a_ticked_box_unignores() {
    let Some(w) = world().await else { return };
    let ci = "stages: [test, review]\ntest:\n  script: [make test]\n  rules:\n    - if: $CI_PIPELINE_SOURCE == \"merge_request_event\"\nreview-app:\n  stage: review\n  script: [deploy]\n  environment: {name: review/$CI_COMMIT_REF_SLUG}\n  rules:\n    - if: $CI_PIPELINE_SOURCE == \"merge_request_event\"\n";
    let p = w.project(
        "g",
        "board",
        &[
            (".updatebot.yml", CONFIG),
            ("requirements.txt", "six==1.15.0\nidna==2.10\n"),
            (".gitlab-ci.yml", ci),
        ],
    );
    let bare = w.project(
        "g",
        "bare",
        &[
            (".updatebot.yml", CONFIG),
            ("requirements.txt", "six==1.15.0\n"),
        ],
    );
    let operator = w.operator("  projects: [g/board, g/bare]");
    let report = w.run(&operator).await;
    let issues = w.gitlab.issues(p);
    assert_eq!(issues.len(), 1, "{issues:?}");
    let board = &issues[0];
    assert_eq!(board.title, "Dependency dashboard (updatebot)");
    assert_eq!(board.author_id, w.bot_id);
    let mrs = w.gitlab.merge_requests(p);
    for mr in &mrs {
        assert!(
            board
                .description
                .contains(&format!("- !{} {}\n", mr.iid, mr.title)),
            "{}",
            board.description
        );
    }
    assert!(
        board
            .description
            .contains("- ⚠️ A bot merge-request pipeline deploys: `review-app`."),
        "{}",
        board.description
    );
    assert!(board
        .description
        .contains("!reference [.updatebot-never, rules]"));
    assert_eq!(
        report.projects[0].ci.as_ref().unwrap().deploy_jobs,
        ["review-app"]
    );
    // Without a CI configuration the dashboard says the updates go untested.
    let bare_board = &w.gitlab.issues(bare)[0].description;
    assert!(
        bare_board.contains("gets no merge-request pipeline"),
        "{bare_board}"
    );

    // A maintainer closes idna's merge request: the next run lists the ignore it stands for.
    let idna = mrs
        .iter()
        .find(|m| m.source_branch == "updatebot/pip/idna-3.10")
        .unwrap()
        .iid;
    w.gitlab.close(p, idna, w.human.id);
    w.run(&operator).await;
    let text = w.gitlab.issues(p)[0].description.clone();
    let line = text
        .lines()
        .find(|l| l.starts_with("- [ ] idna 3.10"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        line.contains(&format!("!{idna}, closed without merging")),
        "{line}"
    );

    // Nothing changed: the issue is not written again.
    let writes = |g: &FakeGitlab| {
        g.requests()
            .iter()
            .filter(|r| r.method == "PUT" && r.path.contains("/issues/"))
            .count()
    };
    let before = writes(&w.gitlab);
    let report = w.run(&operator).await;
    assert_eq!(writes(&w.gitlab), before);
    assert!(actions(&report, 0)
        .iter()
        .all(|(a, _)| a == "unchanged" || a == "skipped"));

    // Ticking the box un-ignores: the update is proposed again, once.
    w.gitlab.set_issue_description(
        p,
        w.gitlab.issues(p)[0].iid,
        &text.replace("- [ ] idna 3.10", "- [x] idna 3.10"),
    );
    let report = w.run(&operator).await;
    assert_eq!(report.projects[0].undone_ignores, [idna]);
    let open: Vec<_> = w
        .gitlab
        .merge_requests(p)
        .into_iter()
        .filter(|m| m.state == "opened" && m.source_branch == "updatebot/pip/idna-3.10")
        .collect();
    assert_eq!(open.len(), 1, "{open:?}");
    let text = w.gitlab.issues(p)[0].description.clone();
    assert!(
        !text.contains("- [ ] idna") && !text.contains("- [x] idna"),
        "{text}"
    );
    assert!(
        text.contains(&format!("- !{} Bump idna", open[0].iid)),
        "{text}"
    );
    let report = w.run(&operator).await;
    assert!(report.projects[0].undone_ignores.is_empty());
    assert!(
        actions(&report, 0).iter().all(|(a, _)| a == "unchanged"),
        "{:?}",
        actions(&report, 0)
    );
}

/// `bot.budgets`: the run's fleet-wide budget of new merge requests is shared by projects
/// worked on at once, a project gets no more new merge requests in a day than its cap, and
/// what waits says which budget held it back.
#[tokio::test]
async fn budgets_hold_back_new_merge_requests_across_the_fleet_and_the_day() {
    let Some(w) = world().await else { return };
    let files: &[(&str, &str)] = &[
        (".updatebot.yml", CONFIG),
        (
            "requirements.txt",
            "six==1.15.0\nidna==2.10\nclick==7.1.2\n",
        ),
    ];
    let a = w.project("b", "one", files);
    let b = w.project("b", "two", files);
    let operator = w.operator(
        "  projects: [b/one, b/two]\nbot:\n  budgets:\n    opened-per-run: 3\n    opened-per-project-per-day: 2",
    );
    let opened = |p| w.gitlab.merge_requests(p).len();
    let report = w.run(&operator).await;
    assert_eq!(opened(a) + opened(b), 3, "{}", report.summary());
    assert!(opened(a) <= 2 && opened(b) <= 2);
    let reasons: Vec<String> = report
        .projects
        .iter()
        .flat_map(|p| &p.changes)
        .filter(|c| c.action.as_str() == "skipped")
        .filter_map(|c| c.reason.clone())
        .collect();
    assert_eq!(reasons.len(), 3, "{reasons:?}");
    assert!(
        reasons
            .iter()
            .any(|r| r == "the run's budget of 3 new merge requests across the fleet is used up"),
        "{reasons:?}"
    );
    assert!(
        reasons
            .iter()
            .any(|r| r
                == "2 merge requests opened in this project today (UTC), the daily limit is 2"),
        "{reasons:?}"
    );
    // The next run (same day): the project at its cap gets nothing, the other one more.
    w.run(&operator).await;
    assert_eq!((opened(a), opened(b)), (2, 2));
}

/// The lockfile tools of `scripts/test-env.sh` (uv), if installed.
fn lock_tools() -> Option<std::path::PathBuf> {
    match std::env::var("UPDATEBOT_TEST_TOOLS") {
        Ok(dir) if std::path::Path::new(&dir).join("uv").exists() => Some(dir.into()),
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

/// `uv.lock` of `pyproject`, made by the real uv against the local index.
fn uv_lock(tools: &std::path::Path, index: &str, pyproject: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pyproject.toml"), pyproject).unwrap();
    let output = std::process::Command::new(tools.join("uv"))
        .args(["lock", "--no-build"])
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", format!("{}:/usr/bin:/bin", tools.display()))
        .env("HOME", dir.path())
        .env("LANG", "C.UTF-8")
        .env("UV_NO_CONFIG", "1")
        .env("UV_PYTHON_DOWNLOADS", "never")
        .env("UV_DEFAULT_INDEX", index)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    std::fs::read_to_string(dir.path().join("uv.lock")).unwrap()
}

/// Publish small pure-Python wheels to the local index: (name, version, requires-python,
/// requirements). devpi keeps what it was given, so callers use names of their own.
fn publish(wheels: &[(&str, &str, &str, &[&str])]) {
    let pip = std::env::var("UPDATEBOT_TEST_PIP").expect("UPDATEBOT_TEST_PIP");
    let bin = std::path::Path::new(&pip).parent().unwrap();
    let url = std::env::var("UPDATEBOT_TEST_DEVPI_URL").expect("UPDATEBOT_TEST_DEVPI_URL");
    let dir = tempfile::tempdir().unwrap();
    let dists = dir.path().join("dists");
    std::fs::create_dir(&dists).unwrap();
    let spec = serde_json::to_string(
        &wheels
            .iter()
            .map(|(n, v, py, reqs)| serde_json::json!([n, v, py, reqs]))
            .collect::<Vec<_>>(),
    )
    .unwrap();
    let script = r#"
import base64, hashlib, json, sys, zipfile
for name, version, python, requires in json.loads(sys.argv[2]):
    module = name.replace("-", "_")
    info = f"{module}-{version}.dist-info"
    files = {
        f"{module}/__init__.py": "",
        f"{info}/METADATA": "Metadata-Version: 2.1\nName: " + name + "\nVersion: " + version
            + "\nRequires-Python: " + python + "\n"
            + "".join("Requires-Dist: " + r + "\n" for r in requires),
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: updatebot-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = ""
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record += f"{path},sha256={digest},{len(text.encode())}\n"
    files[f"{info}/RECORD"] = record + f"{info}/RECORD,,\n"
    with zipfile.ZipFile(f"{sys.argv[1]}/{module}-{version}-py3-none-any.whl", "w") as z:
        for path, text in files.items():
            z.writestr(zipfile.ZipInfo(path, (2024, 1, 1, 0, 0, 0)), text)
"#;
    let run = |program: &std::path::Path, args: &[&str]| {
        let output = std::process::Command::new(program)
            .args(args)
            .env("HOME", dir.path())
            .output()
            .unwrap();
        assert!(output.status.success(), "{program:?} {args:?}: {output:?}");
    };
    run(
        &bin.join("python"),
        &["-c", script, dists.to_str().unwrap(), &spec],
    );
    let client = dir.path().join("client");
    let devpi = bin.join("devpi");
    let client_arg = format!("--clientdir={}", client.display());
    run(&devpi, &[&client_arg, "use", &format!("{url}/root/test")]);
    run(&devpi, &[&client_arg, "login", "root", "--password", ""]);
    run(
        &devpi,
        &[&client_arg, "upload", "--from-dir", dists.to_str().unwrap()],
    );
}

impl World {
    /// The operator config with the real uv for `uv.lock`.
    fn operator_with_uv(&self, fleet: &str, tools: &std::path::Path) -> OperatorConfig {
        let mut operator = self.operator(fleet);
        let extra = format!(
            "lockfiles:\n  uv.lock: {{engine: auto, tool: {}, timeout-seconds: 120}}\n",
            tools.join("uv").display()
        );
        let with = updatebot::config::load_operator_config(&extra, &|_| None, &|_| {
            Err(std::io::ErrorKind::NotFound.into())
        })
        .unwrap();
        operator.lockfiles = with.lockfiles;
        operator
    }
}

const SPLIT_CONFIG: &str = "version: 2\nupdates:\n  - package-ecosystem: pip\n    directory: /\n    schedule: {interval: daily}\n    groups:\n      everything:\n        patterns: [\"*\"]\n";

/// Two packages of this run's own on the index: `left` 2.0.0 needs `right<2`, and `right`
/// 2.0.0 is out; and a project pinning both at 1.0.0. Returns (left, right, pyproject).
fn conflicting_pair(prefix: &str) -> (String, String, String) {
    let id = std::process::id();
    let (left, right) = (
        format!("{prefix}-left-{id}"),
        format!("{prefix}-right-{id}"),
    );
    let needs_old_right = format!("{right}<2");
    publish(&[
        (&left, "1.0.0", ">=3.8", &[]),
        (&left, "2.0.0", ">=3.8", &[&needs_old_right]),
        (&right, "1.0.0", ">=3.8", &[]),
        (&right, "2.0.0", ">=3.9", &[]),
    ]);
    let pyproject = format!(
        "[project]\nname = \"svc\"\nversion = \"0.1.0\"\nrequires-python = \">=3.9\"\ndependencies = [\"{left}==1.0.0\", \"{right}==1.0.0\"]\n"
    );
    (left, right, pyproject)
}

/// A member whose new version the lock cannot take beside another member's is split into a
/// merge request of its own; the group goes ahead with the rest; a second run changes
/// nothing; once the group can take the member again, it rejoins and its own merge request
/// is closed.
#[tokio::test]
async fn a_member_the_group_cannot_take_goes_alone_and_rejoins_later() {
    let Some(w) = world().await else { return };
    let Some(tools) = lock_tools() else { return };
    let (left, right, pyproject) = conflicting_pair("split");
    let lock = uv_lock(&tools, &w.index, &pyproject);
    let p = w.project(
        "g",
        "split",
        &[
            (".updatebot.yml", SPLIT_CONFIG),
            ("pyproject.toml", &pyproject),
            ("uv.lock", &lock),
        ],
    );
    let operator = w.operator_with_uv("  projects: [g/split]", &tools);
    let report = w.run(&operator).await;
    assert!(!report.failed(), "{}", report.summary());
    let lone_title = format!("Bump {right} from 1.0.0 to 2.0.0");
    assert_eq!(
        actions(&report, 0),
        [
            (
                "opened".into(),
                "Bump the everything group with 1 update".into()
            ),
            ("opened".into(), lone_title.clone()),
        ]
    );
    let group = "updatebot/pip/everything";
    let alone = format!("updatebot/pip/{right}-2.0.0");
    let manifest = w.gitlab.file(p, group, "pyproject.toml").unwrap();
    assert!(manifest.contains(&format!("\"{left}==2.0.0\", \"{right}==1.0.0\"")));
    let locked = w.gitlab.file(p, group, "uv.lock").unwrap();
    assert!(locked.contains(&format!("name = \"{left}\"\nversion = \"2.0.0\"")));
    assert!(locked.contains(&format!("name = \"{right}\"\nversion = \"1.0.0\"")));
    let manifest = w.gitlab.file(p, &alone, "pyproject.toml").unwrap();
    assert!(manifest.contains(&format!("\"{left}==1.0.0\", \"{right}==2.0.0\"")));
    let locked = w.gitlab.file(p, &alone, "uv.lock").unwrap();
    assert!(locked.contains(&format!("name = \"{right}\"\nversion = \"2.0.0\"")));
    let mrs = w.gitlab.merge_requests(p);
    let group_mr = mrs.iter().find(|m| m.source_branch == group).unwrap();
    assert!(
        group_mr.description.contains("**Left out of this group**")
            && group_mr.description.contains(&format!(
                "- {right} 1.0.0 → 2.0.0: the group could not take it ("
            ))
            && group_mr.description.contains(&format!(
                "proposed in a merge request of its own, from `{alone}`"
            )),
        "{}",
        group_mr.description
    );
    let lone_mr = mrs.iter().find(|m| m.source_branch == alone).unwrap();
    assert!(
        lone_mr
            .description
            .contains("Proposed alone: the **everything** group could not take it"),
        "{}",
        lone_mr.description
    );
    // Still failing together: nothing moves.
    let state = w.state(p);
    let again = w.run(&operator).await;
    assert!(
        again.projects[0]
            .changes
            .iter()
            .all(|c| c.action.as_str() == "unchanged"),
        "{}",
        again.summary()
    );
    assert_eq!(w.state(p), state);
    // `left` 3.0.0 takes any `right`: the group takes both again, the lone one is closed.
    publish(&[(&left, "3.0.0", ">=3.8", &[])]);
    let rejoined = w.run(&operator).await;
    assert!(!rejoined.failed(), "{}", rejoined.summary());
    let acts = actions(&rejoined, 0);
    assert!(
        acts.contains(&(
            "recreated".into(),
            "Bump the everything group with 2 updates".into()
        )) && acts.contains(&("closed".into(), lone_title.clone())),
        "{acts:?}"
    );
    let (mrs, branches) = w.state(p);
    let open: Vec<_> = mrs.iter().filter(|m| m.0 == "opened").collect();
    assert_eq!(open.len(), 1, "{mrs:?}");
    assert_eq!(branches, [group.to_string()]);
    let closed = w
        .gitlab
        .merge_requests(p)
        .into_iter()
        .find(|m| m.source_branch == alone)
        .unwrap();
    assert!(w
        .gitlab
        .notes(p, closed.iid)
        .iter()
        .any(|n| n.body == "Closing: the everything group takes it again."));
    let settled = w.state(p);
    w.run(&operator).await;
    assert_eq!(w.state(p), settled);
}

/// A member that cannot be applied even alone (its new version conflicts with a package the
/// lock keeps) is reported failed with the reason — in the run report and on the dashboard —
/// and the group goes ahead without it; a second run writes nothing.
#[tokio::test]
async fn a_member_that_fails_even_alone_is_reported_and_the_group_goes_ahead() {
    let Some(w) = world().await else { return };
    let Some(tools) = lock_tools() else { return };
    let config = "version: 2\nupdates:\n  - package-ecosystem: pip\n    directory: /\n    schedule: {interval: daily}\n    ignore:\n      - dependency-name: requests\n    groups:\n      everything:\n        patterns: [\"*\"]\n";
    // requests 2.25.0 (kept: ignored) wants urllib3<1.27.
    let pyproject = "[project]\nname = \"svc\"\nversion = \"0.1.0\"\nrequires-python = \">=3.9\"\ndependencies = [\"requests==2.25.0\", \"six==1.15.0\", \"urllib3==1.26.5\"]\n";
    let lock = uv_lock(&tools, &w.index, pyproject);
    let p = w.project(
        "g",
        "stuck",
        &[
            (".updatebot.yml", config),
            ("pyproject.toml", pyproject),
            ("uv.lock", &lock),
        ],
    );
    let operator = w.operator_with_uv("  projects: [g/stuck]", &tools);
    let report = w.run(&operator).await;
    assert!(report.failed(), "a failed update fails the run");
    let project = &report.projects[0];
    assert_eq!(
        actions(&report, 0),
        [
            ("failed".into(), "Bump urllib3 from 1.26.5 to 2.5.0".into()),
            (
                "opened".into(),
                "Bump the everything group with 1 update".into()
            ),
        ]
    );
    let failed = &project.changes[0];
    let reason = failed.reason.as_deref().unwrap();
    assert!(
        reason.starts_with("left out of the everything group")
            && reason.contains("cannot be applied alone either")
            && reason.contains("urllib3"),
        "{reason}"
    );
    let group = "updatebot/pip/everything";
    let manifest = w.gitlab.file(p, group, "pyproject.toml").unwrap();
    assert!(
        manifest.contains("\"requests==2.25.0\", \"six==1.17.0\", \"urllib3==1.26.5\""),
        "{manifest}"
    );
    let mr = w
        .gitlab
        .merge_requests(p)
        .into_iter()
        .find(|m| m.source_branch == group)
        .unwrap();
    assert!(
        mr.description
            .contains("- urllib3 1.26.5 → 2.5.0: the group could not take it (")
            && mr.description.contains("cannot be applied alone either"),
        "{}",
        mr.description
    );
    let board = &w.gitlab.issues(p)[0];
    assert!(
        board.description.contains(
            "- failed: Bump urllib3 from 1.26.5 to 2.5.0 — left out of the everything group"
        ),
        "{}",
        board.description
    );
    assert_eq!(w.gitlab.merge_requests(p).len(), 1);
    // The next run finds the same: nothing is written.
    w.gitlab.clear_requests();
    let again = w.run(&operator).await;
    assert_eq!(
        actions(&again, 0),
        actions(&report, 0)
            .into_iter()
            .map(|(a, t)| (if a == "opened" { "unchanged".into() } else { a }, t))
            .collect::<Vec<_>>()
    );
    let writes: Vec<_> = w
        .gitlab
        .requests()
        .into_iter()
        .filter(|r| r.is_mutating())
        .collect();
    assert!(writes.is_empty(), "{writes:?}");
}

/// A run that splits a group, cut off after any of its writes, is finished by the next one:
/// the same merge requests and branches as an uninterrupted run, no duplicates.
#[tokio::test]
async fn a_split_run_cut_off_after_any_write_converges() {
    let Some(w) = world().await else { return };
    let Some(tools) = lock_tools() else { return };
    let (_, _, pyproject) = conflicting_pair("cut");
    let lock = uv_lock(&tools, &w.index, &pyproject);
    let files: &[(&str, &str)] = &[
        (".updatebot.yml", SPLIT_CONFIG),
        ("pyproject.toml", &pyproject),
        ("uv.lock", &lock),
    ];
    let reference = w.project("ref", "split", files);
    w.gitlab.clear_requests();
    w.run(&w.operator_with_uv("  projects: [ref/split]", &tools))
        .await;
    let writes = w
        .gitlab
        .requests()
        .into_iter()
        .filter(|r| r.is_mutating())
        .count();
    let expected = w.state(reference);
    assert_eq!(expected.0.len(), 2, "{expected:?}");
    for cut in 0..writes {
        let name = format!("split{cut}");
        let p = w.project("cut", &name, files);
        let operator = w.operator_with_uv(&format!("  projects: [cut/{name}]"), &tools);
        w.gitlab.fail_after(cut);
        let broken = w.run(&operator).await;
        assert!(broken.failed(), "cut {cut}: the run should have seen it");
        w.gitlab.fail_after(usize::MAX);
        w.run(&operator).await;
        assert_eq!(w.state(p), expected, "after a cut at write {cut}");
    }
}

/// `@updatebot unignore` on a merge request closed without merging: the next run proposes
/// the update again (acknowledged once with a 👍 and a reply), and the run after is a no-op.
#[tokio::test]
async fn an_unignore_comment_on_a_closed_merge_request_proposes_it_again() {
    let Some(w) = world().await else { return };
    let p = w.project(
        "g",
        "undo",
        &[
            (".updatebot.yml", CONFIG),
            ("requirements.txt", "six==1.15.0\n"),
        ],
    );
    let operator = w.operator("  projects: [g/undo]\nbot:\n  dashboard: false");
    w.run(&operator).await;
    let first = w.gitlab.merge_requests(p)[0].iid;
    w.gitlab.close(p, first, w.human.id);
    let report = w.run(&operator).await;
    assert_eq!(actions(&report, 0)[0].0, "skipped");
    let note = w
        .gitlab
        .add_note(p, first, w.human.id, "@updatebot unignore");
    let report = w.run(&operator).await;
    assert_eq!(report.projects[0].undone_ignores, [first]);
    assert_eq!(
        actions(&report, 0)[0].0,
        "opened",
        "{:?}",
        actions(&report, 0)
    );
    let notes = w.gitlab.notes(p, first);
    assert!(
        notes
            .iter()
            .any(|n| n.author == "updatebot" && n.body.contains("is proposed again")),
        "{notes:?}"
    );
    let asked = notes.iter().find(|n| n.id == note).unwrap();
    assert_eq!(
        asked.award_emoji,
        ["thumbsup"],
        "the comment is acknowledged"
    );
    let report = w.run(&operator).await;
    assert!(report.projects[0].undone_ignores.is_empty());
    assert_eq!(
        actions(&report, 0)[0].0,
        "unchanged",
        "{:?}",
        actions(&report, 0)
    );
    assert_eq!(
        w.gitlab
            .merge_requests(p)
            .iter()
            .filter(|m| m.state == "opened")
            .count(),
        1
    );
}

/// Two runs at once on the same fleet (a CronJob overlapping `serve`, say): branch creation
/// is the lock, so the end state is an uninterrupted run's, with no duplicate merge request,
/// and a third run changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_runs_at_once_converge() {
    let Some(w) = world().await else { return };
    let files: &[(&str, &str)] = &[
        (".updatebot.yml", CONFIG),
        (
            "requirements.txt",
            "six==1.15.0\nidna==2.10\nclick==7.1.2\n",
        ),
    ];
    let reference = w.project("ref", "p", files);
    w.run(&w.operator("  projects: [ref/p]")).await;
    let expected = w.state(reference);
    for round in 0..3 {
        let name = format!("p{round}");
        let p = w.project("twice", &name, files);
        let operator = w.operator(&format!("  projects: [twice/{name}]"));
        let (a, b) = tokio::join!(w.run(&operator), w.run(&operator));
        let _ = (a, b);
        w.run(&operator).await;
        assert_eq!(w.state(p), expected, "round {round}");
        let open = |p| {
            w.gitlab
                .issues(p)
                .into_iter()
                .filter(|i| i.state == "opened")
                .count()
        };
        assert_eq!(open(p), 1, "round {round}: one dashboard");
        let quiet = w.run(&operator).await;
        assert!(
            actions(&quiet, 0).iter().all(|(a, _)| a == "unchanged"),
            "round {round}: {:?}",
            actions(&quiet, 0)
        );
    }
}

/// `bot.persist-ignores`: an ignore made in a comment is written into `.updatebot.yml` by a
/// merge request of the bot's (the rest of the file kept), once; declined, it stays declined.
#[tokio::test]
async fn comment_made_ignores_are_proposed_into_the_config() {
    let Some(w) = world().await else { return };
    let config = "version: 2\nupdates:\n  # Python\n  - package-ecosystem: pip\n    directory: /\n    schedule: {interval: daily}\n    labels: [dependencies, python]\n";
    let p = w.project(
        "g",
        "persist",
        &[
            (".updatebot.yml", config),
            ("requirements.txt", "six==1.15.0\nclick==7.1.2\n"),
        ],
    );
    let operator = w.operator("  projects: [g/persist]\nbot:\n  persist-ignores: true");
    w.run(&operator).await;
    let click = w
        .gitlab
        .merge_requests(p)
        .into_iter()
        .find(|m| m.source_branch.contains("click"))
        .unwrap()
        .iid;
    w.gitlab
        .add_note(p, click, w.human.id, "@updatebot ignore this major version");
    w.run(&operator).await; // acts on the comment: the merge request is closed
    let report = w.run(&operator).await;
    let persist: Vec<_> = w
        .gitlab
        .merge_requests(p)
        .into_iter()
        .filter(|m| m.source_branch == "updatebot/config/ignores")
        .collect();
    assert_eq!(persist.len(), 1, "{}", report.summary());
    assert_eq!(persist[0].state, "opened");
    let edited = w
        .gitlab
        .file(p, "updatebot/config/ignores", ".updatebot.yml")
        .unwrap();
    assert_eq!(
        edited,
        format!(
            "{config}    ignore:\n      - dependency-name: \"click\"\n        versions: [\">=8,<9\"]\n"
        )
    );
    // Nothing new: nothing written.
    let before = w.gitlab.requests().len();
    w.run(&operator).await;
    let writes = w.gitlab.requests()[before..]
        .iter()
        .filter(|r| r.is_mutating())
        .count();
    assert_eq!(writes, 0);
    // Declined: not proposed again.
    w.gitlab.close(p, persist[0].iid, w.human.id);
    w.run(&operator).await;
    let open = w
        .gitlab
        .merge_requests(p)
        .into_iter()
        .filter(|m| m.source_branch == "updatebot/config/ignores" && m.state == "opened")
        .count();
    assert_eq!(open, 0);
}

//! A security update and a version update of the same package never stand side by side:
//! a version merge request whose target is still vulnerable is superseded by the security
//! merge request (closed with a note linking it), and a version update whose target fixes
//! the advisories carries them instead of a second merge request. Across runs, and after a
//! run cut off at any write.

use super::*;
use fake_gitlab::Failure;

/// Daily version updates of requests held below 2.29 (so the version merge request stays
/// vulnerable), and no security fix allowed past that either.
const HELD_BELOW: &str = "version: 2\nupdates:\n  - package-ecosystem: pip\n    directory: /\n    schedule: {interval: daily}\n    ignore:\n      - dependency-name: requests\n        versions: [\">=2.29\"]\n";
/// Weekly on Friday (not due on the Tuesday window), nothing ignored.
const FRIDAYS: &str = "version: 2\nupdates:\n  - package-ecosystem: pip\n    directory: /\n    schedule:\n      interval: weekly\n      day: friday\n";

fn tuesday() -> Window {
    Window::Between(utc("2026-11-23T05:00:00Z"), utc("2026-11-24T05:00:00Z"))
}

/// A version merge request of requests to 2.28.2 (still vulnerable), opened while the
/// configuration held requests below 2.29; then the configuration lets the fix in.
async fn vulnerable_version_merge_request(w: &World, name: &str) -> (u64, OperatorConfig) {
    let p = w.project(
        name,
        &[
            (".updatebot.yml", HELD_BELOW),
            ("requirements.txt", "requests==2.25.0\n"),
        ],
    );
    let operator = w.operator();
    let first = w.run(&operator, Window::Always).await;
    assert!(
        actions(&first).contains(&(
            "opened".to_string(),
            "Bump requests from 2.25.0 to 2.28.2".to_string()
        )),
        "{}",
        first.summary()
    );
    let skipped = first.projects[0]
        .changes
        .iter()
        .find(|c| c.title.contains("[security]"))
        .unwrap_or_else(|| panic!("{}", first.summary()));
    assert_eq!(skipped.action.as_str(), "skipped", "{}", first.summary());
    w.gitlab
        .push(p, "main", &[(".updatebot.yml", Some(FRIDAYS))], "rita");
    (p, operator)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_security_update_supersedes_a_vulnerable_version_merge_request() {
    let Some(w) = world().await else { return };
    w.gitlab.add_group("sec");
    let (p, operator) = vulnerable_version_merge_request(&w, "supersede").await;
    let version = w
        .gitlab
        .merge_requests(p)
        .into_iter()
        .find(|m| m.title == "Bump requests from 2.25.0 to 2.28.2")
        .unwrap();

    // Not due on Tuesday: the security update comes anyway and replaces the version one.
    let report = w.run(&operator, tuesday()).await;
    assert!(!report.failed(), "{}", report.summary());
    assert_eq!(
        open_titles(&w, p),
        ["Bump requests from 2.25.0 to 2.31.0 [security]"],
        "{}",
        report.summary()
    );
    let security = w
        .gitlab
        .merge_requests(p)
        .into_iter()
        .find(|m| m.state == "opened")
        .unwrap();
    let closed = w
        .gitlab
        .merge_requests(p)
        .into_iter()
        .find(|m| m.iid == version.iid)
        .unwrap();
    assert_eq!(closed.state, "closed");
    let notes: Vec<String> = w
        .gitlab
        .notes(p, version.iid)
        .into_iter()
        .map(|n| n.body)
        .collect();
    assert!(
        notes.iter().any(|n| n
            == &format!(
                "Superseded by !{}, the security update of requests.",
                security.iid
            )),
        "{notes:?}"
    );
    assert!(
        actions(&report).contains(&(
            "superseded".to_string(),
            "Bump requests from 2.25.0 to 2.28.2".to_string()
        )),
        "{}",
        report.summary()
    );

    // The same run again changes nothing, and once version updates are due, requests' waits
    // for the security merge request (one open merge request for the package).
    let again = w.run(&operator, tuesday()).await;
    let kinds: Vec<String> = actions(&again).into_iter().map(|(a, _)| a).collect();
    assert_eq!(kinds, ["unchanged"], "{}", again.summary());
    let due = w.run(&operator, Window::Always).await;
    assert!(!due.failed(), "{}", due.summary());
    let waiting = due.projects[0]
        .changes
        .iter()
        .find(|c| c.title == "Bump requests from 2.25.0 to 2.32.3")
        .unwrap_or_else(|| panic!("{}", due.summary()));
    assert_eq!(waiting.action.as_str(), "skipped");
    assert_eq!(
        waiting.reason.as_deref(),
        Some(
            format!(
                "waits for the security update of requests ({})",
                security.source_branch
            )
            .as_str()
        )
    );
    assert_eq!(
        open_titles(&w, p),
        ["Bump requests from 2.25.0 to 2.31.0 [security]"]
    );
}

/// The superseding run cut off after each of its writes, then run again: the same end state
/// every time (the security merge request open once, the version one closed with its note).
#[tokio::test(flavor = "multi_thread")]
async fn superseding_converges_after_a_run_cut_off_at_any_write() {
    let Some(w) = world().await else { return };
    w.gitlab.add_group("sec");
    let (reference, operator) = vulnerable_version_merge_request(&w, "reference").await;
    w.gitlab.clear_requests();
    w.run(&operator, tuesday()).await;
    let writes = w
        .gitlab
        .requests()
        .into_iter()
        .filter(|r| r.is_mutating())
        .count();
    assert!(writes >= 4, "expected a handful of writes, saw {writes}");
    let state = |p: u64| -> Vec<(String, String, usize)> {
        w.gitlab
            .merge_requests(p)
            .into_iter()
            .map(|m| {
                let superseded = w
                    .gitlab
                    .notes(p, m.iid)
                    .iter()
                    .filter(|n| n.body.starts_with("Superseded by !"))
                    .count();
                (m.title, m.state, superseded)
            })
            .collect()
    };
    let expected = state(reference);
    assert_eq!(
        expected,
        [
            (
                "Bump requests from 2.25.0 to 2.28.2".to_string(),
                "closed".to_string(),
                1
            ),
            (
                "Bump requests from 2.25.0 to 2.31.0 [security]".to_string(),
                "opened".to_string(),
                0
            ),
        ]
    );
    for cut in 0..writes {
        let (p, operator) = vulnerable_version_merge_request(&w, &format!("cut{cut}")).await;
        w.gitlab.fail_after(cut);
        let broken = w.run(&operator, tuesday()).await;
        assert!(
            broken.failed(),
            "cut {cut}: the run should have seen the failure"
        );
        w.gitlab.fail_after(usize::MAX);
        w.run(&operator, tuesday()).await;
        assert_eq!(state(p), expected, "after a cut at write {cut}");
    }
    // A lost answer to the closing: the next run does not close or note twice.
    let (p, operator) = vulnerable_version_merge_request(&w, "lost").await;
    w.gitlab.fail(
        Failure::new("/merge_requests/1", 500)
            .method("PUT")
            .after_processing(),
    );
    w.run(&operator, tuesday()).await;
    w.gitlab.clear_failures();
    w.run(&operator, tuesday()).await;
    assert_eq!(state(p), expected);
}

/// A version update to a release free of the advisories carries them: labelled `security`,
/// the advisories listed, and no security merge request beside it — also in a later run
/// where version updates are not due.
#[tokio::test(flavor = "multi_thread")]
async fn a_version_update_that_fixes_the_advisories_carries_them() {
    let Some(w) = world().await else { return };
    w.gitlab.add_group("sec");
    let p = w.project(
        "carry",
        &[
            (".updatebot.yml", FRIDAYS),
            ("requirements.txt", "requests==2.25.0\n"),
        ],
    );
    let operator = w.operator();
    let report = w.run(&operator, Window::Always).await;
    assert!(!report.failed(), "{}", report.summary());
    assert_eq!(
        open_titles(&w, p),
        ["Bump requests from 2.25.0 to 2.32.3 [security]"],
        "{}",
        report.summary()
    );
    let mr = w.gitlab.merge_requests(p).remove(0);
    assert!(
        mr.labels.contains(&"security".to_string()),
        "{:?}",
        mr.labels
    );
    for text in [
        "**Security advisories fixed**",
        "[GHSA-j8r2-6x86-q33q](https://osv.dev/vulnerability/GHSA-j8r2-6x86-q33q)",
        "| requests 2.25.0 | Moderate \\(6.1\\) |",
        "| 2.31.0 | Unintended leak of Proxy-Authorization header in requests |",
    ] {
        assert!(
            mr.description.contains(text),
            "{text} not in:\n{}",
            mr.description
        );
    }
    let carried = report.projects[0]
        .changes
        .iter()
        .find(|c| c.title == "Bump requests from 2.25.0 to 2.31.0 [security]")
        .unwrap_or_else(|| panic!("{}", report.summary()));
    assert_eq!(carried.action.as_str(), "skipped");
    assert_eq!(
        carried.reason.as_deref(),
        Some(
            format!(
                "the version update to 2.32.3 ({}) fixes it: it lists the advisories",
                mr.source_branch
            )
            .as_str()
        )
    );
    // Tuesday: version updates are not due; the open one still carries the fix.
    let later = w.run(&operator, tuesday()).await;
    assert!(!later.failed(), "{}", later.summary());
    assert_eq!(
        open_titles(&w, p),
        ["Bump requests from 2.25.0 to 2.32.3 [security]"]
    );
    assert_eq!(w.gitlab.merge_requests(p).len(), 1);
    assert_eq!(
        w.gitlab.merge_requests(p)[0].description,
        mr.description,
        "nothing to add"
    );

    // A person closes it without merging (the version is ignored from then on): the
    // security fix is not lost with it, the security merge request that stood by opens.
    let rita = w.gitlab.add_user("rita");
    w.gitlab.close(p, mr.iid, rita.id);
    let after = w.run(&operator, Window::Always).await;
    assert!(!after.failed(), "{}", after.summary());
    assert_eq!(
        open_titles(&w, p),
        ["Bump requests from 2.25.0 to 2.31.0 [security]"],
        "{}",
        after.summary()
    );
}

/// A security merge request kept open while its fix cannot be worked out (the configuration
/// now holds requests below the fix) still keeps the version update of its package waiting.
#[tokio::test(flavor = "multi_thread")]
async fn a_kept_security_merge_request_holds_the_version_update_back() {
    let Some(w) = world().await else { return };
    w.gitlab.add_group("sec");
    let p = w.project(
        "kept",
        &[
            (".updatebot.yml", FRIDAYS),
            ("requirements.txt", "requests==2.25.0\n"),
        ],
    );
    let operator = w.operator();
    w.run(&operator, tuesday()).await;
    assert_eq!(
        open_titles(&w, p),
        ["Bump requests from 2.25.0 to 2.31.0 [security]"]
    );
    let security = w.gitlab.merge_requests(p).remove(0);
    w.gitlab
        .push(p, "main", &[(".updatebot.yml", Some(HELD_BELOW))], "rita");
    let report = w.run(&operator, Window::Always).await;
    assert!(!report.failed(), "{}", report.summary());
    let version = report.projects[0]
        .changes
        .iter()
        .find(|c| c.title == "Bump requests from 2.25.0 to 2.28.2")
        .unwrap_or_else(|| panic!("{}", report.summary()));
    assert_eq!(version.action.as_str(), "skipped");
    assert_eq!(
        version.reason.as_deref(),
        Some(
            format!(
                "waits for the open security merge request !{} of requests",
                security.iid
            )
            .as_str()
        )
    );
    assert_eq!(
        open_titles(&w, p),
        ["Bump requests from 2.25.0 to 2.31.0 [security]"]
    );
}

//! The dashboard issue of a project: its open bot merge requests, the updates that wait or
//! failed (and why), every ignore the bot honours with where it comes from and how to undo
//! it, and what the project's CI does with the bot's merge requests. Rendering and reading
//! it back are pure; the fleet run writes it only when its text changed.
//!
//! A run reads only the entries that are due, so the "waiting and failed" part is kept per
//! `ecosystem:directory` scope: a run replaces the blocks of the scopes it read and keeps the
//! others as the last run that read them left them.

use crate::forge::MergeRequest;
use std::collections::BTreeMap;

const MARK: &str = "<!-- updatebot:dashboard -->";
const END: &str = "<!-- updatebot:end -->";
const CI: &str = "<!-- updatebot:ci -->";
const UNIGNORE: &str = "<!-- updatebot:unignore ";

/// An ignore that a merge request closed without merging stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClosedIgnore {
    pub iid: u64,
    /// `six 2.0.0 (this version)` and the like.
    pub what: String,
    /// `closed without merging` or `@rita: ignore this major version`.
    pub origin: String,
}

/// The ignores the bot's closed merge requests stand for.
pub fn closed_ignores(
    mrs: &[MergeRequest],
    policy: crate::config::ClosedMergeRequest,
) -> Vec<ClosedIgnore> {
    use super::meta::{Ignore, Meta};
    let mut out = Vec::new();
    for mr in mrs
        .iter()
        .filter(|m| m.state == crate::forge::MergeRequestState::Closed)
    {
        let Some(meta) = Meta::find(&mr.description) else {
            continue;
        };
        let Some(kind) = meta.standing_ignore(policy) else {
            continue;
        };
        let names: Vec<String> = meta
            .updates
            .iter()
            .map(|u| match kind {
                Ignore::Version => format!("{} {}", u.name, u.to),
                Ignore::Major => format!("{} {} (its major version)", u.name, u.to),
                Ignore::Dependency => format!("{} (every version)", u.name),
            })
            .collect();
        let origin = match meta.ignore {
            Some(_) => "ignored on request in a comment",
            None => "closed without merging",
        };
        out.push(ClosedIgnore {
            iid: mr.iid,
            what: names.join(", "),
            origin: origin.to_string(),
        });
    }
    out
}

/// What a dashboard shows.
#[derive(Debug, Default)]
pub struct Dashboard<'a> {
    pub open: Vec<&'a MergeRequest>,
    pub closed_ignores: Vec<ClosedIgnore>,
    /// Ignore rules of the configuration, one line each.
    pub configured: Vec<String>,
    /// Lines per `ecosystem:directory` scope this run read (waiting, failed, problems).
    pub scopes: BTreeMap<String, Vec<String>>,
    /// The CI findings of this run (`None`: not checked, the previous ones stay).
    pub ci: Option<Vec<String>>,
}

/// Text from manifests, registries and merge requests as one inert Markdown list line
/// (see [`super::sanitize::inline`]): no line breaks, no HTML, no links, and no GitLab
/// reference that would ping someone or cross-link.
pub fn inline(text: &str) -> String {
    super::sanitize::inline_max(text, super::sanitize::MAX_MESSAGE)
}

fn block<'t>(text: &'t str, start: &str) -> Option<&'t str> {
    let from = text.find(start)? + start.len();
    let to = text[from..].find(END)? + from;
    Some(text[from..to].trim_matches('\n'))
}

/// The scope blocks of an earlier dashboard: scope → its text.
fn scope_blocks(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let open = "<!-- updatebot:scope ";
    let mut rest = text;
    while let Some(at) = rest.find(open) {
        let after = &rest[at + open.len()..];
        let Some(close) = after.find(" -->") else {
            break;
        };
        let scope = after[..close].to_string();
        let body_start = close + " -->".len();
        let Some(end) = after[body_start..].find(END) else {
            break;
        };
        let body = after[body_start..body_start + end].trim_matches('\n');
        // The heading is rendered again; keep only the lines.
        let lines = match body.split_once('\n') {
            Some((first, rest)) if first.starts_with("**") && first.ends_with("**") => {
                rest.trim_start_matches('\n')
            }
            _ if body.starts_with("**") && body.ends_with("**") => "",
            _ => body,
        };
        out.insert(scope, lines.to_string());
        rest = &after[body_start + end + END.len()..];
    }
    out
}

/// The closed merge requests whose ignore a person asked to undo by ticking its box.
pub fn ticked(description: &str) -> Vec<u64> {
    description
        .lines()
        .filter(|l| {
            let t = l.trim_start();
            t.starts_with("- [x]") || t.starts_with("- [X]") || t.starts_with("* [x]")
        })
        .filter_map(|l| {
            let at = l.find(UNIGNORE)? + UNIGNORE.len();
            l[at..].split(" -->").next()?.trim().parse().ok()
        })
        .collect()
}

/// The dashboard's text; `previous` is the current text (kept parts come from it).
pub fn render(d: &Dashboard<'_>, previous: Option<&str>) -> String {
    let mut out = String::new();
    out.push_str(
        "This issue lists what updatebot sees in this project. The bot rewrites it on every \
         run; edits other than ticking a box are lost.\n\n",
    );
    out.push_str("### Open merge requests\n\n");
    if d.open.is_empty() {
        out.push_str("None.\n");
    }
    let mut open = d.open.clone();
    open.sort_by_key(|m| m.iid);
    for mr in open {
        out.push_str(&format!("- !{} {}\n", mr.iid, inline(&mr.title)));
    }
    out.push_str("\n### Waiting and failed\n\n");
    let mut blocks = previous.map(scope_blocks).unwrap_or_default();
    for (scope, lines) in &d.scopes {
        blocks.insert(scope.clone(), lines.join("\n"));
    }
    if blocks.values().all(|b| b.trim().is_empty()) {
        out.push_str("Nothing waits and nothing failed.\n");
    }
    for (scope, text) in &blocks {
        out.push_str(&format!("<!-- updatebot:scope {scope} -->\n"));
        if !text.trim().is_empty() {
            let (kind, rest) = match scope.strip_prefix(crate::security::mr::KEY_PREFIX) {
                Some(rest) => (", security updates", rest),
                None => ("", scope.as_str()),
            };
            let (eco, dir) = rest.split_once(':').unwrap_or((rest, "/"));
            out.push_str(&format!("**{eco} in `{dir}`{kind}**\n\n{text}\n"));
        }
        out.push_str(END);
        out.push('\n');
    }
    out.push_str("\n### Ignored updates\n\n");
    if d.closed_ignores.is_empty() && d.configured.is_empty() {
        out.push_str("None.\n");
    }
    let mut closed = d.closed_ignores.clone();
    closed.sort_by_key(|c| c.iid);
    for c in &closed {
        out.push_str(&format!(
            "- [ ] {} — !{}, {} (tick, or comment `@updatebot unignore` on it, to propose it again) {UNIGNORE}{} -->\n",
            inline(&c.what),
            c.iid,
            inline(&c.origin),
            c.iid
        ));
    }
    for line in &d.configured {
        out.push_str(&format!("- {line} (edit the configuration to undo)\n"));
    }
    out.push_str("\n### CI for the bot's merge requests\n\n");
    out.push_str(CI);
    out.push('\n');
    let ci = match &d.ci {
        Some(lines) => lines.join("\n"),
        None => previous
            .and_then(|p| block(p, CI))
            .map(str::to_string)
            .unwrap_or_else(|| "Not checked yet.".to_string()),
    };
    out.push_str(&ci);
    out.push('\n');
    out.push_str(END);
    out.push_str("\n\n");
    out.push_str(MARK);
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forge::{MergeRequestState, MergeStatus};

    fn mr(iid: u64, title: &str) -> MergeRequest {
        MergeRequest {
            iid,
            state: MergeRequestState::Opened,
            source_branch: format!("updatebot/pip/x-{iid}"),
            target_branch: "main".into(),
            title: title.into(),
            description: String::new(),
            labels: Vec::new(),
            sha: "abc".into(),
            merge_status: MergeStatus::Mergeable,
            author: "updatebot".into(),
            web_url: String::new(),
            created_at: None,
            updated_at: None,
        }
    }

    fn sample() -> (MergeRequest, MergeRequest) {
        (
            mr(3, "Bump six from 1.15.0 to 1.17.0"),
            mr(1, "Bump idna from 2.10 to 3.10"),
        )
    }

    #[test]
    fn everything_is_listed_with_its_origin_and_undo() {
        let (a, b) = sample();
        let d = Dashboard {
            open: vec![&a, &b],
            closed_ignores: vec![ClosedIgnore {
                iid: 7,
                what: "click 8.1.7 (this major version)".into(),
                origin: "@rita asked: ignore this major version".into(),
            }],
            configured: vec![
                "`django*`: major updates — `.updatebot.yml` updates[0] (line 4)".into(),
            ],
            scopes: [(
                "pip:/".to_string(),
                vec![
                    "- waiting: Bump x from 1 to 2 — open merge request limit reached (5 of 5)"
                        .into(),
                ],
            )]
            .into_iter()
            .collect(),
            ci: Some(vec![
                "- ✅ one merge-request pipeline per bot merge request".into(),
            ]),
        };
        let text = render(&d, None);
        insta::assert_snapshot!(text);
        assert!(ticked(&text).is_empty());
        assert_eq!(ticked(&text.replace("- [ ] click", "- [x] click")), [7]);
    }

    #[test]
    fn scopes_not_read_and_ci_not_checked_keep_their_earlier_text() {
        let (a, _) = sample();
        let first = Dashboard {
            open: vec![&a],
            scopes: [
                (
                    "pip:/".to_string(),
                    vec!["- failed: Bump a — boom".to_string()],
                ),
                (
                    "npm:/web".to_string(),
                    vec!["- waiting: Bump b — limit".to_string()],
                ),
            ]
            .into_iter()
            .collect(),
            ci: Some(vec!["- ⚠️ branch pipelines run".into()]),
            ..Dashboard::default()
        };
        let before = render(&first, None);
        let second = Dashboard {
            open: vec![&a],
            scopes: [("pip:/".to_string(), Vec::new())].into_iter().collect(),
            ci: None,
            ..Dashboard::default()
        };
        let after = render(&second, Some(&before));
        assert!(!after.contains("Bump a"), "{after}");
        assert!(after.contains("- waiting: Bump b — limit"), "{after}");
        assert!(after.contains("- ⚠️ branch pipelines run"), "{after}");
        // Rendering again from itself changes nothing: no write on the next run.
        assert_eq!(render(&second, Some(&after)), after);
    }

    #[test]
    fn text_from_outside_cannot_ping_or_inject() {
        let hostile = mr(2, "Bump <img src=x> from @everyone\nto #1");
        let d = Dashboard {
            open: vec![&hostile],
            ..Dashboard::default()
        };
        let text = render(&d, None);
        assert!(
            text.contains("- !2 Bump &lt;img src\\=x&gt; from @\u{2060}everyone to \\#\u{2060}1\n"),
            "{text}"
        );
    }
}

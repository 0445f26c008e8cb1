//! GitLab webhook deliveries: a comment addressed to the bot on one of its merge requests
//! is acted on at once instead of at the entry's next scheduled run.

use crate::run::commands;
use crate::run::meta::{scope_of, Meta};
use serde::Deserialize;

/// What a delivery asks of the bot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Run this project, for the entry owning this `ecosystem:directory` scope.
    Act { project: String, scope: String },
    /// Nothing to do, and why.
    Ignore(&'static str),
}

#[derive(Deserialize)]
struct Delivery {
    object_kind: Option<String>,
    user: Option<User>,
    project: Option<ProjectAttrs>,
    object_attributes: Option<NoteAttrs>,
    merge_request: Option<MergeRequestAttrs>,
}

#[derive(Deserialize)]
struct User {
    username: Option<String>,
}

#[derive(Deserialize)]
struct ProjectAttrs {
    path_with_namespace: Option<String>,
}

#[derive(Deserialize)]
struct NoteAttrs {
    note: Option<String>,
    noteable_type: Option<String>,
    #[serde(default)]
    system: bool,
}

#[derive(Deserialize)]
struct MergeRequestAttrs {
    source_branch: Option<String>,
    description: Option<String>,
    state: Option<String>,
}

/// Read a delivery (the body of a `Note Hook` event). An unreadable body is an error; a
/// readable one that asks nothing of the bot is `Ignore`.
pub fn decide(body: &[u8], bot_user: &str, branch_prefix: &str) -> Result<Decision, String> {
    let delivery: Delivery = serde_json::from_slice(body)
        .map_err(|e| format!("webhook body is not a GitLab event: {e}"))?;
    if delivery.object_kind.as_deref() != Some("note") {
        return Ok(Decision::Ignore("not a comment event"));
    }
    let Some(note) = delivery.object_attributes else {
        return Ok(Decision::Ignore("comment event without its comment"));
    };
    if note.noteable_type.as_deref() != Some("MergeRequest") {
        return Ok(Decision::Ignore("not a comment on a merge request"));
    }
    if note.system {
        return Ok(Decision::Ignore("a system note"));
    }
    let author = delivery.user.and_then(|u| u.username).unwrap_or_default();
    if author.eq_ignore_ascii_case(bot_user) {
        return Ok(Decision::Ignore("the bot's own comment"));
    }
    if commands::parse(note.note.as_deref().unwrap_or_default(), bot_user).is_none() {
        return Ok(Decision::Ignore("no command for the bot"));
    }
    let Some(mr) = delivery.merge_request else {
        return Ok(Decision::Ignore("comment event without its merge request"));
    };
    let prefix = format!("{}/", branch_prefix.trim_end_matches('/'));
    if !mr
        .source_branch
        .as_deref()
        .is_some_and(|b| b.starts_with(&prefix))
    {
        return Ok(Decision::Ignore("not one of the bot's merge requests"));
    }
    if mr.state.as_deref().is_some_and(|s| s != "opened") {
        return Ok(Decision::Ignore("the merge request is not open"));
    }
    let Some(meta) = mr.description.as_deref().and_then(Meta::find) else {
        return Ok(Decision::Ignore(
            "the merge request has no readable updatebot record",
        ));
    };
    let Some(project) = delivery.project.and_then(|p| p.path_with_namespace) else {
        return Ok(Decision::Ignore("comment event without its project"));
    };
    Ok(Decision::Act {
        project,
        scope: scope_of(&meta.key).to_string(),
    })
}

/// Compare a presented secret with the expected one in time independent of where they differ.
pub fn same_secret(presented: &[u8], expected: &[u8]) -> bool {
    if presented.len() != expected.len() {
        return false;
    }
    presented
        .iter()
        .zip(expected)
        .fold(0u8, |acc, (a, b)| acc | (a ^ b))
        == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn delivery(note: &str, author: &str, branch: &str, description: &str) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "object_kind": "note",
            "event_type": "note",
            "user": {"id": 2, "username": author, "name": "Rita"},
            "project_id": 7,
            "project": {"id": 7, "path_with_namespace": "research/api"},
            "object_attributes": {"id": 99, "note": note, "noteable_type": "MergeRequest", "system": false},
            "merge_request": {"iid": 3, "source_branch": branch, "state": "opened", "description": description}
        }))
        .unwrap()
    }

    fn record(key: &str) -> String {
        let meta = Meta {
            v: 1,
            key: key.to_string(),
            scheme: "pep440".into(),
            updates: Vec::new(),
            base: "abc".into(),
            ignore: None,
            closed_by_bot: false,
            unignored: false,
        };
        format!("Bumps six.\n\n{}", meta.render())
    }

    #[test]
    fn a_command_on_a_bot_merge_request_acts_on_its_scope() {
        let body = delivery(
            "@updatebot rebase",
            "rita",
            "updatebot/pip/api/six-1.17.0",
            &record("pip:/api:six"),
        );
        assert_eq!(
            decide(&body, "updatebot", "updatebot").unwrap(),
            Decision::Act {
                project: "research/api".into(),
                scope: "pip:/api".into()
            }
        );
    }

    #[test]
    fn everything_else_is_ignored_with_a_reason() {
        let rec = record("pip:/:six");
        let cases = [
            (
                delivery("thanks!", "rita", "updatebot/pip/six-1.17.0", &rec),
                "no command for the bot",
            ),
            (
                delivery(
                    "@updatebot rebase",
                    "updatebot",
                    "updatebot/pip/six-1.17.0",
                    &rec,
                ),
                "the bot's own comment",
            ),
            (
                delivery("@updatebot rebase", "rita", "feature/x", &rec),
                "not one of the bot's merge requests",
            ),
            (
                delivery(
                    "@updatebot rebase",
                    "rita",
                    "updatebot/pip/six-1.17.0",
                    "no record",
                ),
                "the merge request has no readable updatebot record",
            ),
        ];
        for (body, why) in cases {
            assert_eq!(
                decide(&body, "updatebot", "updatebot").unwrap(),
                Decision::Ignore(why)
            );
        }
        let push = serde_json::to_vec(&json!({"object_kind": "push"})).unwrap();
        assert_eq!(
            decide(&push, "updatebot", "updatebot").unwrap(),
            Decision::Ignore("not a comment event")
        );
        assert!(decide(b"<html>", "updatebot", "updatebot")
            .unwrap_err()
            .contains("not a GitLab event"));
    }

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret(b"s3cret", b"s3cret"));
        assert!(!same_secret(b"s3cres", b"s3cret"));
        assert!(!same_secret(b"s3cret!", b"s3cret"));
        assert!(!same_secret(b"", b"s3cret"));
    }
}

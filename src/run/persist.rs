//! `bot.persist-ignores`: the ignores people made with `@updatebot ignore …` comments are
//! written into `.updatebot.yml` by a merge request of the bot's, so they live in the
//! repository (reviewed, versioned, visible) rather than only in closed merge requests.

use super::meta::{scope_of, Ignore, Meta};
use super::{forge_problem, Action, ChangeReport, Fleet, ProjectReport};
use crate::config::edit::{add_ignores, NewIgnore};
use crate::config::{parse_repo_config, RepoConfig, REPO_CONFIG_FILE};
use crate::forge::{
    CommitRequest, FileAction, MergeRequest, MergeRequestEdit, MergeRequestState, NewMergeRequest,
    Project,
};
use crate::project::ProjectSettings;
use std::collections::BTreeMap;

const TITLE: &str = "Record the ignores made in comments in .updatebot.yml";
/// Hidden record of the file text a merge request proposes (declined ones are not proposed
/// again for the same text).
const MARK: &str = "<!-- updatebot:persist ";

/// The `ignore` rule that stands for an ignore made in a comment, in the scheme's syntax
/// (`None`: the scheme has no range for it).
fn rule_for(kind: Ignore, scheme: &str, name: &str, to: &str) -> Option<NewIgnore> {
    let major: Option<u64> = to
        .split(|c: char| !c.is_ascii_digit())
        .find(|p| !p.is_empty())
        .and_then(|p| p.parse().ok());
    let versions = match (kind, scheme) {
        (Ignore::Dependency, _) => None,
        (Ignore::Version, "pep440") => Some(format!("=={to}")),
        (Ignore::Version, _) => Some(to.to_string()),
        (Ignore::Major, "pep440") => major.map(|m| format!(">={m},<{}", m + 1)),
        (Ignore::Major, "npm") => major.map(|m| format!(">={m}.0.0 <{}.0.0", m + 1)),
        (Ignore::Major, _) => return None,
    };
    if let Some(v) = &versions {
        let readable = crate::workbench::scheme(scheme).is_some_and(|s| s.is_valid_range(v));
        if !readable {
            return None;
        }
    }
    Some(NewIgnore {
        dependency_name: name.to_string(),
        versions,
    })
}

/// Whether `repo`'s entry at `index` already holds `rule`.
fn already_there(repo: &RepoConfig, index: usize, rule: &NewIgnore) -> bool {
    let Some(entry) = repo.updates.iter().find(|e| e.index == index) else {
        return false;
    };
    entry.settings.ignore.iter().flatten().any(|r| {
        r.dependency_name == rule.dependency_name
            && match &rule.versions {
                None => r.versions.is_empty() && r.update_types.is_empty(),
                Some(v) => {
                    r.versions.contains(v) || (r.versions.is_empty() && r.update_types.is_empty())
                }
            }
    })
}

fn fingerprint(text: &str) -> String {
    let hash = ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
    hash.as_ref()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The repository configuration as this run read it.
pub(super) struct ConfigAt<'a> {
    /// The default branch head it was read at.
    pub base: &'a str,
    pub text: &'a str,
    pub repo: &'a RepoConfig,
    pub settings: &'a ProjectSettings,
}

impl Fleet<'_> {
    /// Propose (or keep up to date) the merge request that writes the comment-made ignores
    /// into `.updatebot.yml` on `base` (the default branch head that was read).
    pub(super) async fn persist_ignores(
        &self,
        project: &Project,
        config: ConfigAt<'_>,
        existing: &[MergeRequest],
        report: &mut ProjectReport,
    ) -> Result<(), String> {
        let ConfigAt {
            base,
            text,
            repo,
            settings,
        } = config;
        let bot = &self.operator.bot;
        if !bot.persist_ignores {
            return Ok(());
        }
        // Entry line → (entry index, rules).
        let mut by_entry: BTreeMap<usize, (usize, Vec<NewIgnore>)> = BTreeMap::new();
        for mr in existing
            .iter()
            .filter(|m| m.state == MergeRequestState::Closed)
        {
            let Some(meta) = Meta::find(&mr.description) else {
                continue;
            };
            let (Some(kind), false) = (meta.ignore, meta.unignored) else {
                continue;
            };
            let Some(index) = settings.entry_for_scope(scope_of(&meta.key)) else {
                continue;
            };
            let Some(entry) = repo.updates.iter().find(|e| e.index == index) else {
                continue;
            };
            for u in &meta.updates {
                let Some(rule) = rule_for(kind, &meta.scheme, &u.name, &u.to) else {
                    continue;
                };
                let rules = &mut by_entry.entry(entry.line).or_insert((index, Vec::new())).1;
                if !already_there(repo, index, &rule) && !rules.contains(&rule) {
                    rules.push(rule);
                }
            }
        }
        // Later entries first, so the earlier ones' lines stay where they were.
        let mut new_text = text.to_string();
        let mut added = Vec::new();
        for (line, (_, rules)) in by_entry.iter().rev() {
            match add_ignores(&new_text, *line, rules) {
                Ok(Some(t)) => {
                    new_text = t;
                    added.extend(rules.iter().cloned());
                }
                Ok(None) => {}
                Err(e) => report
                    .problems
                    .push(format!("{REPO_CONFIG_FILE}: ignores not recorded: {e}")),
            }
        }
        if added.is_empty() {
            return Ok(());
        }
        // The edit must read back as meant.
        match parse_repo_config(&new_text) {
            Ok(parsed) if crate::project::range_problems(&parsed).is_empty() => {}
            _ => {
                report.problems.push(format!(
                    "{REPO_CONFIG_FILE}: ignores not recorded: the edited file would not read back"
                ));
                return Ok(());
            }
        }
        let print = fingerprint(&new_text);
        let branch = format!("{}/config/ignores", bot.branch_prefix);
        let mine: Vec<&MergeRequest> = existing
            .iter()
            .filter(|m| m.source_branch == branch)
            .collect();
        let declined = mine.iter().any(|m| {
            m.state == MergeRequestState::Closed
                && m.description.contains(&format!("{MARK}{print}"))
        });
        if declined {
            return Ok(());
        }
        let open = mine.iter().find(|m| m.state == MergeRequestState::Opened);
        if open.is_some_and(|m| m.description.contains(&format!("{MARK}{print}"))) {
            return Ok(());
        }
        let lines: Vec<String> = added
            .iter()
            .map(|r| match &r.versions {
                Some(v) => format!(
                    "- `{}`: versions `{}`",
                    super::sanitize::code(&r.dependency_name).trim_matches('`'),
                    super::sanitize::code(v).trim_matches('`')
                ),
                None => format!(
                    "- `{}`: every version",
                    super::sanitize::code(&r.dependency_name).trim_matches('`')
                ),
            })
            .collect();
        let description = format!(
            "People asked in comments on closed merge requests that these updates be ignored. \
             This writes those ignores into `{REPO_CONFIG_FILE}`, where everyone can see and \
             change them:\n\n{}\n\nClose this merge request to keep them in the closed merge \
             requests only.\n\n{MARK}{print} -->",
            lines.join("\n")
        );
        self.forge
            .commit(
                project,
                &CommitRequest {
                    branch: branch.clone(),
                    start_sha: base.to_string(),
                    message: TITLE.to_string(),
                    actions: vec![FileAction::Update {
                        path: REPO_CONFIG_FILE.to_string(),
                        content: new_text,
                    }],
                },
            )
            .await
            .map_err(forge_problem)?;
        let (action, mr) = match open {
            Some(m) => {
                self.forge
                    .edit_merge_request(
                        project,
                        m.iid,
                        &MergeRequestEdit {
                            description: Some(description),
                            ..MergeRequestEdit::default()
                        },
                    )
                    .await
                    .map_err(forge_problem)?;
                (Action::Recreated, (*m).clone())
            }
            None => {
                let mr = self
                    .forge
                    .create_merge_request(
                        project,
                        &NewMergeRequest {
                            source_branch: branch.clone(),
                            target_branch: project.default_branch.clone(),
                            title: TITLE.to_string(),
                            description,
                            labels: vec![bot.ci_label.clone()],
                            assignee_ids: Vec::new(),
                            reviewer_ids: Vec::new(),
                            milestone_id: None,
                            remove_source_branch: bot.remove_source_branch,
                            squash: bot.squash,
                        },
                    )
                    .await
                    .map_err(forge_problem)?;
                (Action::Opened, mr)
            }
        };
        report.changes.push(ChangeReport {
            title: TITLE.to_string(),
            branch,
            ecosystem: None,
            scope: None,
            updates: Vec::new(),
            action,
            merge_request: Some(mr.iid),
            url: Some(mr.web_url.clone()),
            reason: Some(format!("{} ignore rule(s) to record", added.len())),
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_follow_the_ecosystem_s_syntax() {
        let r = |k, s, to| rule_for(k, s, "x", to).and_then(|r| r.versions);
        assert_eq!(
            r(Ignore::Version, "pep440", "2.0.1"),
            Some("==2.0.1".into())
        );
        assert_eq!(r(Ignore::Major, "pep440", "2.0.1"), Some(">=2,<3".into()));
        assert_eq!(
            r(Ignore::Major, "npm", "3.1.0"),
            Some(">=3.0.0 <4.0.0".into())
        );
        assert_eq!(r(Ignore::Version, "npm", "3.1.0"), Some("3.1.0".into()));
        assert_eq!(r(Ignore::Dependency, "npm", "3.1.0"), None);
        assert!(rule_for(Ignore::Dependency, "npm", "x", "1").is_some());
        // No major range for image tags: nothing is recorded for it.
        assert!(rule_for(Ignore::Major, "docker", "x", "1.27.0").is_none());
    }
}

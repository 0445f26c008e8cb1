//! A project's upkeep around its merge requests: the dashboard issue (read before the run
//! for ticked boxes, written after it) and the CI check.

use super::commands::{self, Command};
use super::dashboard::{self, Dashboard};
use super::meta::Meta;
use super::{forge_problem, Fleet, ProjectReport};
use crate::ci::{self, BotMergeRequest, CiCheck};
use crate::forge::{Issue, MergeRequest, MergeRequestEdit, MergeRequestState, Project};
use crate::project::ProjectSettings;
use std::collections::BTreeMap;

/// How far back closed merge requests are read for `@updatebot unignore` comments (a comment
/// updates its merge request, so older ones have none newer).
const UNIGNORE_LOOKBACK_DAYS: i64 = 14;

/// What the dashboard needs that only the run knows.
#[derive(Default)]
pub(super) struct Seen {
    /// The dashboard issue as it was before the run.
    pub issue: Option<Issue>,
    /// Newer duplicates of it (two runs at once each opened one), closed after the run.
    pub duplicates: Vec<u64>,
    /// Lines per scope read in this run.
    pub scopes: BTreeMap<String, Vec<String>>,
}

impl Fleet<'_> {
    /// Before the run: the dashboard issue, and the ignores people asked to undo, by ticking
    /// their box on the dashboard or with `@updatebot unignore` on the closed merge request
    /// (acknowledged with a 👍 and a reply, acted on once). Their records are marked, so this
    /// very run proposes the updates again.
    pub(super) async fn dashboard_before(
        &self,
        project: &Project,
        existing: &mut [MergeRequest],
        report: &mut ProjectReport,
    ) -> Result<(Option<Issue>, Vec<u64>), String> {
        let bot = &self.operator.bot;
        let mut issues = if bot.dashboard {
            self.forge
                .find_issues(project, &bot.dashboard_title)
                .await
                .map_err(forge_problem)?
        } else {
            Vec::new()
        };
        let duplicates: Vec<u64> = issues.iter().skip(1).map(|i| i.iid).collect();
        issues.truncate(1);
        let issue = issues.pop();
        // (iid, the comment that asked: its id and author)
        let mut undo: Vec<(u64, Option<(u64, String)>)> = issue
            .as_ref()
            .map(|i| dashboard::ticked(&i.description))
            .unwrap_or_default()
            .into_iter()
            .map(|iid| (iid, None))
            .collect();
        let recent = self.now - chrono::Duration::days(UNIGNORE_LOOKBACK_DAYS);
        let me = self.forge.bot_user().to_string();
        for mr in existing.iter().filter(|m| {
            m.state == MergeRequestState::Closed
                && m.updated_at.is_none_or(|t| t >= recent)
                && Meta::find(&m.description)
                    .is_some_and(|meta| meta.standing_ignore(bot.closed_merge_request).is_some())
        }) {
            let notes = self
                .forge
                .notes(project, mr.iid)
                .await
                .map_err(forge_problem)?;
            let asked = notes.into_iter().find(|n| {
                !n.system
                    && !n.author.eq_ignore_ascii_case(&me)
                    && n.bot_awards.is_empty()
                    && commands::parse(&n.body, &me) == Some(Command::Unignore)
            });
            if let Some(note) = asked {
                undo.retain(|(iid, _)| *iid != mr.iid);
                undo.push((mr.iid, Some((note.id, note.author))));
            }
        }
        for (iid, asked) in undo {
            let Some(mr) = existing
                .iter_mut()
                .find(|m| m.iid == iid && m.state == MergeRequestState::Closed)
            else {
                continue;
            };
            let Some(mut meta) = Meta::find(&mr.description) else {
                continue;
            };
            if meta.unignored {
                continue;
            }
            meta.unignored = true;
            let description = meta.replace_in(&mr.description);
            self.forge
                .edit_merge_request(
                    project,
                    iid,
                    &MergeRequestEdit {
                        description: Some(description.clone()),
                        ..MergeRequestEdit::default()
                    },
                )
                .await
                .map_err(forge_problem)?;
            mr.description = description;
            if let Some((note, author)) = asked {
                self.forge
                    .add_note(
                        project,
                        iid,
                        &format!(
                            "OK, @{}: this update is no longer ignored and is proposed again.",
                            super::sanitize::plain(&author, 100)
                        ),
                    )
                    .await
                    .map_err(forge_problem)?;
                self.forge
                    .award(project, iid, note, "thumbsup")
                    .await
                    .map_err(forge_problem)?;
            }
            report.undone_ignores.push(iid);
            tracing::info!(project = %project.path, iid, "ignore undone");
        }
        Ok((issue, duplicates))
    }

    /// After the run: check CI, then write the dashboard if its text changed.
    pub(super) async fn dashboard_after(
        &self,
        project: &Project,
        settings: &ProjectSettings,
        seen: Seen,
        report: &mut ProjectReport,
    ) -> Result<(), String> {
        let bot = &self.operator.bot;
        if !bot.dashboard && !bot.check_ci {
            return Ok(());
        }
        let mrs = self
            .forge
            .merge_requests(project, &bot.branch_prefix)
            .await
            .map_err(forge_problem)?;
        let open: Vec<&MergeRequest> = mrs
            .iter()
            .filter(|m| m.state == MergeRequestState::Opened)
            .collect();
        if bot.check_ci {
            report.ci = self.check_ci(project, &open).await;
        }
        if !bot.dashboard {
            return Ok(());
        }
        let configured = settings
            .entries()
            .flat_map(|e| {
                e.ignore.iter().map(move |rule| {
                    let what = match (rule.versions.is_empty(), rule.update_types.is_empty()) {
                        (true, true) => "every update".to_string(),
                        (false, _) => format!("versions {}", rule.versions.join(", ")),
                        (true, false) => rule
                            .update_types
                            .iter()
                            .map(|t| format!("{t:?} updates").to_lowercase())
                            .collect::<Vec<_>>()
                            .join(", "),
                    };
                    format!(
                        "`{}`: {what} — {} in `{}`, `.updatebot.yml` updates[{}] (line {})",
                        rule.dependency_name.replace('`', "'"),
                        e.package_ecosystem.as_str(),
                        e.directories
                            .iter()
                            .map(|d| d.as_str())
                            .collect::<Vec<_>>()
                            .join("`, `"),
                        e.index,
                        e.line
                    )
                })
            })
            .collect();
        let board = Dashboard {
            open,
            closed_ignores: dashboard::closed_ignores(&mrs, bot.closed_merge_request),
            configured,
            scopes: seen.scopes,
            ci: report.ci.as_ref().map(CiCheck::lines),
        };
        let previous = seen.issue.as_ref().map(|i| i.description.as_str());
        let text = dashboard::render(&board, previous);
        match &seen.issue {
            Some(issue) if issue.description == text => {}
            Some(issue) => self
                .forge
                .edit_issue(project, issue.iid, &text)
                .await
                .map_err(forge_problem)?,
            None => {
                let created = self
                    .forge
                    .create_issue(
                        project,
                        &bot.dashboard_title,
                        &text,
                        std::slice::from_ref(&bot.ci_label),
                    )
                    .await
                    .map_err(forge_problem)?;
                // Another run may have opened one at the same time: the oldest stays.
                let all = self
                    .forge
                    .find_issues(project, &bot.dashboard_title)
                    .await
                    .map_err(forge_problem)?;
                if all.first().is_some_and(|oldest| oldest.iid != created.iid) {
                    self.forge
                        .close_issue(project, created.iid)
                        .await
                        .map_err(forge_problem)?;
                }
            }
        }
        for iid in seen.duplicates {
            self.forge
                .close_issue(project, iid)
                .await
                .map_err(forge_problem)?;
        }
        Ok(())
    }

    /// GitLab's CI lint on the newest open bot branch (nothing to check without one).
    async fn check_ci(&self, project: &Project, open: &[&MergeRequest]) -> Option<CiCheck> {
        let newest = open.iter().max_by_key(|m| m.iid)?;
        let lint = match self
            .forge
            .ci_lint(project, &project.default_branch, &newest.source_branch)
            .await
        {
            Ok(Some(lint)) => lint,
            Ok(None) => return None,
            Err(e) => {
                return Some(CiCheck {
                    branch: newest.source_branch.clone(),
                    problems: vec![format!("GitLab's CI lint failed: {e}")],
                    ..CiCheck::default()
                })
            }
        };
        let mr = BotMergeRequest {
            source_branch: &newest.source_branch,
            target_branch: &newest.target_branch,
            default_branch: &project.default_branch,
            labels: &newest.labels,
            project_path: &project.path,
        };
        Some(ci::check(&lint, &mr))
    }
}

/// Dashboard lines of one run's work in a scope: what waits and what failed.
pub(super) fn scope_lines(
    report: &ProjectReport,
    from_change: usize,
    problems: &BTreeMap<String, Vec<String>>,
    scopes: &std::collections::BTreeSet<String>,
) -> BTreeMap<String, Vec<String>> {
    use super::Action;
    use dashboard::inline;
    let mut out: BTreeMap<String, Vec<String>> =
        scopes.iter().map(|s| (s.clone(), Vec::new())).collect();
    for change in &report.changes[from_change..] {
        let Some(scope) = &change.scope else { continue };
        let label = match change.action {
            Action::Skipped => "waiting",
            Action::Failed => "failed",
            _ => continue,
        };
        // Closed merge requests already show under "Ignored updates".
        if change
            .reason
            .as_deref()
            .is_some_and(|r| r.contains("was closed without merging"))
        {
            continue;
        }
        out.entry(scope.clone()).or_default().push(format!(
            "- {label}: {} — {}",
            inline(&change.title),
            inline(change.reason.as_deref().unwrap_or("no reason given"))
        ));
    }
    for (scope, lines) in problems {
        out.entry(scope.clone())
            .or_default()
            .extend(lines.iter().map(|p| format!("- problem: {}", inline(p))));
    }
    out
}

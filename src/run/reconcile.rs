//! Bring the forge in line with the planned changes: open, refresh, recreate, supersede and
//! close the bot's merge requests, honour commands and merge requests closed by people.
//! Every step is safe to repeat, so a run cut short anywhere is finished by the next one.

use super::body::describe;
use super::commands::{self, Command};
use super::meta::{Ignore, Meta, MetaUpdate};
use super::plan::{self, LeftOut, PlannedChange};
use super::sanitize;
use super::{Action, ChangeReport, ProjectReport, UpdateReport};
use crate::apply;
use crate::check::{Checker, ManifestResult, Outcome};
use crate::config::{BotSettings, Milestone};
use crate::forge::{
    CommitRequest, FileAction, Forge, ForgeError, MergeRequest, MergeRequestEdit,
    MergeRequestState, MergeStatus, NewMergeRequest, Project,
};
use std::collections::{BTreeMap, BTreeSet};
use updatebot_core::version::UpdateType;

/// A change's file actions, the files it touches and the lockfiles among them.
type Prepared = (Vec<FileAction>, Vec<String>, Vec<String>);

/// Label colour for labels the bot creates.
const LABEL_COLOUR: &str = "#0366d6";
/// A note the bot leaves once on a branch a person has pushed to.
const FOREIGN_NOTE: &str = "has commits by someone else, so updatebot no longer updates it";

pub(super) struct Context<'a> {
    pub forge: &'a dyn Forge,
    pub checker: &'a Checker<'a>,
    pub bot: &'a BotSettings,
    pub project: &'a Project,
    pub target: &'a str,
    pub base: &'a str,
    pub results: &'a [ManifestResult],
    pub lockfiles: &'a BTreeMap<String, Result<String, String>>,
    /// The `ecosystem:directory` scopes this run read; other merge requests are left alone.
    pub scopes: &'a BTreeSet<String>,
    /// Keys of merge requests kept open although no change is planned for them (a security
    /// fix that could not be worked out this run).
    pub keep: &'a BTreeSet<String>,
    /// The run's fleet-wide budgets.
    pub budget: &'a RunBudget,
    /// The bot's merge requests opened in the project today (UTC), this run's included.
    pub opened_today: &'a std::sync::atomic::AtomicUsize,
}

fn problem(e: ForgeError) -> String {
    e.to_string()
}

/// An existing bot merge request with its record (if readable).
struct Existing {
    mr: MergeRequest,
    meta: Option<Meta>,
}

impl Existing {
    fn key(&self) -> Option<&str> {
        self.meta.as_ref().map(|m| m.key.as_str())
    }

    fn is_open(&self) -> bool {
        self.mr.state == MergeRequestState::Opened
    }
}

fn meta_updates(change: &PlannedChange) -> Vec<MetaUpdate> {
    change
        .updates
        .iter()
        .map(|u| MetaUpdate {
            name: u.name.clone(),
            from: u.from.clone(),
            to: u.to.clone(),
        })
        .collect()
}

/// The report line of `change` after `action` on its merge request `mr`.
pub(crate) fn report(
    change: &PlannedChange,
    action: Action,
    mr: Option<&MergeRequest>,
    reason: Option<String>,
) -> ChangeReport {
    ChangeReport {
        title: change.title.clone(),
        branch: change.branch.clone(),
        ecosystem: Some(change.ecosystem.as_str().to_string()),
        scope: Some(scope_of(&change.key).to_string()),
        updates: change
            .updates
            .iter()
            .map(|u| UpdateReport {
                name: u.name.clone(),
                from: u.from.clone(),
                to: u.to.clone(),
                update_type: Some(u.update_type.as_str().to_string()),
            })
            .collect(),
        action,
        merge_request: mr.map(|m| m.iid),
        url: mr.map(|m| m.web_url.clone()),
        reason,
    }
}

fn existing_report(e: &Existing, action: Action, reason: String) -> ChangeReport {
    let mr = &e.mr;
    ChangeReport {
        title: mr.title.clone(),
        branch: mr.source_branch.clone(),
        ecosystem: e
            .key()
            .map(|k| k.strip_prefix(crate::security::mr::KEY_PREFIX).unwrap_or(k))
            .and_then(|k| k.split(':').next())
            .map(str::to_string),
        scope: e.key().map(|k| scope_of(k).to_string()),
        updates: e
            .meta
            .iter()
            .flat_map(|m| &m.updates)
            .map(|u| UpdateReport {
                name: u.name.clone(),
                from: u.from.clone(),
                to: u.to.clone(),
                update_type: None,
            })
            .collect(),
        action,
        merge_request: Some(mr.iid),
        url: Some(mr.web_url.clone()),
        reason: Some(reason),
    }
}

use super::budget::{RunBudget, Spend};

/// Whether a planned change is a security update for the budgets: a security merge request
/// (not one standing by for a version update) or a version update that carries a fix.
pub(super) fn takes_security_budget(change: &PlannedChange) -> bool {
    superseded::order(change) == 0
}
use super::meta::scope_of;

mod superseded;

impl Context<'_> {
    pub(super) async fn reconcile(
        &self,
        planned: Vec<PlannedChange>,
        existing: &[MergeRequest],
        report: &mut ProjectReport,
    ) -> Result<(), String> {
        let mut existing: Vec<Existing> = existing
            .iter()
            .filter(|mr| mr.target_branch == self.target)
            .map(|mr| Existing {
                meta: Meta::find(&mr.description),
                mr: mr.clone(),
            })
            .collect();
        existing.sort_by_key(|e| e.mr.iid);
        let forced = self.commands(&mut existing, report).await?;
        let (mut planned, mut prepared, held) = self.split_groups(planned, report).await;
        // Security updates first, so the budgets (rebases, the fleet's new and recreated
        // merge requests, the project's daily cap) go to them; then the oldest merge
        // requests first.
        planned.sort_by_key(|c| {
            let iid = existing
                .iter()
                .find(|e| e.is_open() && e.mr.source_branch == c.branch)
                .map(|e| e.mr.iid)
                .unwrap_or(u64::MAX);
            (superseded::order(c), iid)
        });
        let mut rebases = self.bot.rebase_limit;
        let mut labels_ready = false;
        let mut planned_keys: BTreeSet<String> = planned.iter().map(|c| c.key.clone()).collect();
        planned_keys.extend(held);
        // Keys of the changes whose merge request is open after this run's step.
        let mut open_now: BTreeSet<String> = BTreeSet::new();
        for change in &planned {
            if let Some(skipped) = superseded::standing_by(change, &existing, &open_now) {
                report.changes.push(skipped);
                continue;
            }
            let outcome = self
                .reconcile_change(
                    change,
                    &mut existing,
                    &forced,
                    &mut rebases,
                    &mut labels_ready,
                    &mut prepared,
                )
                .await;
            match outcome {
                Ok(reports) => {
                    if superseded::left_open(&reports) {
                        open_now.insert(change.key.clone());
                    }
                    report.changes.extend(reports)
                }
                Err(e) => report.changes.push(report_failed(change, e)),
            }
        }
        self.close_unneeded(&mut existing, &planned_keys, &planned, report)
            .await
    }

    /// Act on `@updatebot …` comments on open merge requests; returns the merge requests to
    /// recreate. Each command is acknowledged with an award emoji, so it is acted on once.
    async fn commands(
        &self,
        existing: &mut [Existing],
        report: &mut ProjectReport,
    ) -> Result<BTreeSet<u64>, String> {
        let mut forced = BTreeSet::new();
        let bot = self.forge.bot_user().to_string();
        for e in existing.iter_mut().filter(|e| e.is_open()) {
            let notes = self
                .forge
                .notes(self.project, e.mr.iid)
                .await
                .map_err(problem)?;
            for note in notes {
                if note.system
                    || note.author.eq_ignore_ascii_case(&bot)
                    || !note.bot_awards.is_empty()
                {
                    continue;
                }
                let Some(command) = commands::parse(&note.body, &bot) else {
                    continue;
                };
                match command {
                    Command::Rebase | Command::Recreate => {
                        forced.insert(e.mr.iid);
                    }
                    // An open merge request ignores nothing (see the closed ones' upkeep).
                    Command::Unignore => {}
                    Command::Ignore(kind) => {
                        if let Some(meta) = &mut e.meta {
                            meta.ignore = Some(kind);
                            let what = match kind {
                                Ignore::Version => "this version",
                                Ignore::Major => "this major version",
                                Ignore::Dependency => "this dependency",
                            };
                            let edit = MergeRequestEdit {
                                description: Some(meta.replace_in(&e.mr.description)),
                                close: true,
                                ..MergeRequestEdit::default()
                            };
                            self.forge
                                .add_note(
                                    self.project,
                                    e.mr.iid,
                                    &format!(
                                        "OK, @{}: I will not propose {what} again.",
                                        note.author
                                    ),
                                )
                                .await
                                .map_err(problem)?;
                            self.forge
                                .edit_merge_request(self.project, e.mr.iid, &edit)
                                .await
                                .map_err(problem)?;
                            self.delete_branch(&e.mr.source_branch).await?;
                            e.mr.state = MergeRequestState::Closed;
                            report.changes.push(existing_report(
                                e,
                                Action::Ignored,
                                format!("@{} asked to ignore {what}", note.author),
                            ));
                        }
                    }
                }
                self.forge
                    .award(self.project, e.mr.iid, note.id, "thumbsup")
                    .await
                    .map_err(problem)?;
            }
        }
        Ok(forced)
    }

    async fn delete_branch(&self, branch: &str) -> Result<(), String> {
        match self.forge.delete_branch(self.project, branch).await {
            Ok(()) | Err(ForgeError::NotFound { .. }) => Ok(()),
            Err(e) => Err(problem(e)),
        }
    }

    /// Whether a merge request closed without merging keeps `change` from being proposed.
    fn closed_before(&self, change: &PlannedChange, existing: &[Existing]) -> Option<String> {
        for e in existing
            .iter()
            .filter(|e| e.mr.state == MergeRequestState::Closed)
        {
            let Some(meta) = &e.meta else { continue };
            if meta.key != change.key {
                continue;
            }
            let Some(kind) = meta.standing_ignore(self.bot.closed_merge_request) else {
                continue;
            };
            let proposed: Vec<(&str, &str)> = change
                .updates
                .iter()
                .map(|u| (u.name.as_str(), u.to.as_str()))
                .collect();
            let closed: Vec<(&str, &str)> = meta
                .updates
                .iter()
                .map(|u| (u.name.as_str(), u.to.as_str()))
                .collect();
            let hit = match kind {
                Ignore::Dependency => true,
                Ignore::Version => proposed == closed,
                Ignore::Major => {
                    let scheme = self
                        .checker
                        .plugins
                        .get(change.ecosystem)
                        .and_then(|p| p.scheme(&meta.scheme));
                    proposed.len() == closed.len()
                        && proposed.iter().zip(&closed).all(|((pn, pv), (cn, cv))| {
                            pn == cn
                                && scheme
                                    .is_some_and(|s| s.update_type(cv, pv) != UpdateType::Major)
                        })
                }
            };
            if hit {
                let what = match kind {
                    Ignore::Dependency => "this dependency is ignored",
                    Ignore::Version => "this version is ignored",
                    Ignore::Major => "this major version is ignored",
                };
                return Some(format!("!{} was closed without merging: {what}", e.mr.iid));
            }
        }
        None
    }

    /// The files of one change, made from the target's current text (or as the group split
    /// already made them).
    async fn actions(
        &self,
        change: &PlannedChange,
        prepared: &mut BTreeMap<String, Prepared>,
    ) -> Result<Prepared, String> {
        if let Some(security) = &change.security {
            return security.actions();
        }
        if let Some(ready) = prepared.remove(&change.key) {
            return Ok(ready);
        }
        let applied = self.apply(change).await;
        self.prepared(applied)
    }

    /// Apply the updates of one change to the target's current text.
    async fn apply(&self, change: &PlannedChange) -> apply::Applied {
        let sites: BTreeSet<(String, usize)> = change
            .updates
            .iter()
            .flat_map(|u| u.sites.iter().cloned())
            .collect();
        let selected = |m: &ManifestResult, d: &crate::check::DependencyResult| {
            sites.contains(&(m.manifest.path.clone(), d.index))
        };
        let read = |path: &str| {
            self.lockfiles
                .get(path)
                .cloned()
                .unwrap_or_else(|| Err(format!("{path}: not read")))
        };
        apply::apply_selected(self.checker, self.results, &selected, &read).await
    }

    /// The file actions of an application, or why there are none.
    fn prepared(&self, applied: apply::Applied) -> Result<Prepared, String> {
        let failures: Vec<String> = applied
            .updates
            .iter()
            .filter_map(|u| {
                u.result
                    .as_ref()
                    .err()
                    .map(|e| format!("{} {}: {e}", u.dependency, u.new_version))
            })
            .collect();
        if !failures.is_empty() {
            return Err(failures.join("; "));
        }
        if applied.changes.is_empty() {
            return Err("the update changes no file".into());
        }
        // Lockfiles this change touched (a hash-pinned requirements file is its own lock).
        let lockfiles: Vec<String> = self
            .results
            .iter()
            .filter_map(|r| r.lockfile.as_ref().map(|(p, _)| p.clone()))
            .filter(|p| applied.changes.iter().any(|c| &c.path == p))
            .collect();
        let files = applied.changes.iter().map(|c| c.path.clone()).collect();
        let actions = applied
            .changes
            .into_iter()
            .map(|c| FileAction::Update {
                path: c.path,
                content: c.after,
            })
            .collect();
        Ok((actions, files, lockfiles))
    }

    /// Groups that cannot take all their members go ahead without the failing ones: each
    /// failing member's package leaves the group and is proposed alone when it applies
    /// alone, else reported failed. Returns the changes to reconcile, the files already
    /// made for them, and the keys whose merge requests stay although they failed.
    async fn split_groups(
        &self,
        planned: Vec<PlannedChange>,
        report: &mut ProjectReport,
    ) -> (
        Vec<PlannedChange>,
        BTreeMap<String, Prepared>,
        BTreeSet<String>,
    ) {
        let mut out = Vec::new();
        let mut prepared = BTreeMap::new();
        let mut held = BTreeSet::new();
        let mut alone_changes = Vec::new();
        for change in planned {
            let Some(group) = change.group.clone().filter(|_| change.security.is_none()) else {
                out.push(change);
                continue;
            };
            let mut applied = self.apply(&change).await;
            // Failing members by package (a package leaves the group with all its updates).
            let mut failing: BTreeMap<String, Vec<String>> = BTreeMap::new();
            for u in applied.updates.iter().filter(|u| u.result.is_err()) {
                let package = change
                    .updates
                    .iter()
                    .find(|p| p.name == u.dependency && p.to == u.new_version)
                    .or_else(|| change.updates.iter().find(|p| p.name == u.dependency))
                    .map(|p| p.package.clone())
                    .unwrap_or_else(|| u.dependency.clone());
                let why = u.result.as_ref().err().cloned().unwrap_or_default();
                let reasons = failing.entry(package).or_default();
                if !reasons.contains(&why) {
                    reasons.push(why);
                }
            }
            if failing.is_empty() {
                if let Ok(ready) = self.prepared(applied) {
                    prepared.insert(change.key.clone(), ready);
                }
                out.push(change);
                continue;
            }
            let mut left_out = Vec::new();
            let mut lone = Vec::new();
            for (package, reasons) in &failing {
                let reason = reasons.join("; ");
                let Some(single) = plan::alone(&change, package, &reason, self.bot) else {
                    continue;
                };
                let alone = self.prepared(self.apply(&single).await);
                for u in &single.updates {
                    left_out.push((
                        package.clone(),
                        LeftOut {
                            name: u.name.clone(),
                            from: u.from.clone(),
                            to: u.to.clone(),
                            reason: reason.clone(),
                            alone: alone.is_ok().then(|| single.branch.clone()),
                        },
                    ));
                }
                match alone {
                    Ok(ready) => {
                        prepared.insert(single.key.clone(), ready);
                        lone.push(single);
                    }
                    Err(why) => {
                        let reason = if why == reason {
                            format!("left out of the {group} group, and it cannot be applied alone either: {reason}")
                        } else {
                            format!("left out of the {group} group ({reason}), and it cannot be applied alone either: {why}")
                        };
                        // An earlier merge request of its own stays, as a failed update's does.
                        held.insert(single.key.clone());
                        report
                            .changes
                            .push(report_failed(&single, sanitize::steady(&reason)));
                    }
                }
            }
            match plan::without(&change, &left_out) {
                Some(rest) => {
                    // What the group keeps is what went in beside the failing members.
                    applied.updates.retain(|u| u.result.is_ok());
                    if let Ok(ready) = self.prepared(applied) {
                        prepared.insert(rest.key.clone(), ready);
                    }
                    out.push(rest);
                }
                // No member applies: the group fails as one (its merge request stays).
                None => out.push(change),
            }
            alone_changes.extend(lone);
        }
        out.extend(alone_changes);
        (out, prepared, held)
    }

    async fn ensure_labels(&self, change: &PlannedChange, ready: &mut bool) -> Result<(), String> {
        if *ready {
            return Ok(());
        }
        let wanted: Vec<(String, String)> = change
            .labels
            .iter()
            .map(|l| (l.clone(), LABEL_COLOUR.to_string()))
            .collect();
        self.forge
            .ensure_labels(self.project, &wanted)
            .await
            .map_err(problem)?;
        *ready = true;
        Ok(())
    }

    async fn reconcile_change(
        &self,
        change: &PlannedChange,
        existing: &mut Vec<Existing>,
        forced: &BTreeSet<u64>,
        rebases: &mut usize,
        labels_ready: &mut bool,
        prepared: &mut BTreeMap<String, Prepared>,
    ) -> Result<Vec<ChangeReport>, String> {
        if let Some(reason) = self.closed_before(change, existing) {
            return Ok(vec![report(change, Action::Skipped, None, Some(reason))]);
        }
        let meta = Meta {
            v: 1,
            key: change.key.clone(),
            scheme: change
                .updates
                .first()
                .map(|u| u.scheme.to_string())
                .unwrap_or_default(),
            updates: meta_updates(change),
            base: self.base.to_string(),
            ignore: None,
            closed_by_bot: false,
            unignored: false,
        };
        let same_branch = existing
            .iter()
            .position(|e| e.is_open() && e.mr.source_branch == change.branch);
        let mut out = Vec::new();
        let mr = match same_branch {
            Some(i) => {
                let e = &existing[i];
                if self.has_foreign_commits(&change.branch).await? {
                    self.note_foreign_once(&e.mr).await?;
                    return Ok(vec![report(
                        change,
                        Action::Unchanged,
                        Some(&e.mr),
                        Some(format!("the branch {FOREIGN_NOTE}")),
                    )]);
                }
                let old = e.meta.clone();
                let content_changed = old
                    .as_ref()
                    .map(|m| m.updates != meta.updates)
                    .unwrap_or(true);
                let stale = matches!(
                    e.mr.merge_status,
                    MergeStatus::NeedRebase | MergeStatus::Conflict
                );
                let asked = forced.contains(&e.mr.iid);
                let rebase = stale && change.rebase && *rebases > 0;
                let (actions, files, lockfiles) = self.actions(change, prepared).await?;
                let over_budget = if (content_changed || rebase) && !asked {
                    self.budget.take(Spend::Recreate).err()
                } else {
                    None
                };
                if let Some(why) = over_budget {
                    out.push(report(change, Action::Unchanged, Some(&e.mr), Some(why)));
                } else if content_changed || asked || rebase {
                    if rebase && !content_changed && !asked {
                        *rebases -= 1;
                    }
                    self.commit(change, actions).await?;
                    let description =
                        describe(change, &files, &lockfiles, &meta, self.forge.bot_user());
                    self.ensure_labels(change, labels_ready).await?;
                    self.edit(&e.mr, change, description).await?;
                    let why = if asked {
                        "asked for in a comment"
                    } else if content_changed {
                        "the updates changed"
                    } else if e.mr.merge_status == MergeStatus::Conflict {
                        "it had conflicts with the target branch"
                    } else {
                        "the target branch moved"
                    };
                    out.push(report(
                        change,
                        Action::Recreated,
                        Some(&e.mr),
                        Some(why.into()),
                    ));
                } else {
                    // Same updates: keep the recorded base, so a moving target causes no churn.
                    let kept = Meta {
                        base: old.map(|m| m.base).unwrap_or_else(|| self.base.to_string()),
                        ..meta.clone()
                    };
                    let description =
                        describe(change, &files, &lockfiles, &kept, self.forge.bot_user());
                    let labels_missing = change.labels.iter().any(|l| !e.mr.labels.contains(l));
                    if e.mr.title != change.title
                        || e.mr.description != description
                        || labels_missing
                    {
                        self.ensure_labels(change, labels_ready).await?;
                        self.edit(&e.mr, change, description).await?;
                        out.push(report(change, Action::Updated, Some(&e.mr), None));
                    } else {
                        let why = (stale && *rebases == 0 && change.rebase)
                            .then(|| "rebase limit reached for this run".to_string());
                        out.push(report(change, Action::Unchanged, Some(&e.mr), why));
                    }
                }
                e.mr.clone()
            }
            None => {
                let scope = scope_of(&change.key);
                let open_in_scope = existing
                    .iter()
                    .filter(|e| {
                        e.is_open()
                            && e.key()
                                .is_some_and(|k| scope_of(k) == scope && k != change.key)
                    })
                    .count();
                if open_in_scope >= change.open_limit {
                    return Ok(vec![report(
                        change,
                        Action::Skipped,
                        None,
                        Some(format!(
                            "open merge request limit reached ({open_in_scope} of {})",
                            change.open_limit
                        )),
                    )]);
                }
                use std::sync::atomic::Ordering;
                if let Err(why) = self
                    .budget
                    .day_allows(self.opened_today.load(Ordering::SeqCst))
                {
                    return Ok(vec![report(change, Action::Skipped, None, Some(why))]);
                }
                if self.branch_exists(&change.branch).await?
                    && self.has_foreign_commits(&change.branch).await?
                {
                    return Ok(vec![report(
                        change,
                        Action::Skipped,
                        None,
                        Some(format!(
                            "branch `{}` exists and {FOREIGN_NOTE}",
                            change.branch
                        )),
                    )]);
                }
                let (actions, files, lockfiles) = self.actions(change, prepared).await?;
                let security = takes_security_budget(change);
                if let Err(why) = self
                    .budget
                    .take_for(Spend::Open, &self.project.path, security)
                {
                    return Ok(vec![report(change, Action::Skipped, None, Some(why))]);
                }
                self.commit(change, actions).await?;
                self.ensure_labels(change, labels_ready).await?;
                let description =
                    describe(change, &files, &lockfiles, &meta, self.forge.bot_user());
                let request = NewMergeRequest {
                    source_branch: change.branch.clone(),
                    target_branch: self.target.to_string(),
                    title: change.title.clone(),
                    description,
                    labels: change.labels.clone(),
                    assignee_ids: self
                        .forge
                        .user_ids(&change.assignees)
                        .await
                        .map_err(problem)?,
                    reviewer_ids: self
                        .forge
                        .user_ids(&change.reviewers)
                        .await
                        .map_err(problem)?,
                    milestone_id: self.milestone(change).await?,
                    remove_source_branch: self.bot.remove_source_branch,
                    squash: self.bot.squash,
                };
                let mr = self
                    .forge
                    .create_merge_request(self.project, &request)
                    .await
                    .map_err(problem)?;
                self.opened_today.fetch_add(1, Ordering::SeqCst);
                out.push(report(change, Action::Opened, Some(&mr), None));
                existing.push(Existing {
                    meta: Some(meta.clone()),
                    mr: mr.clone(),
                });
                mr
            }
        };
        // Older merge requests for the same dependency are superseded by this one.
        for e in existing.iter_mut() {
            if !e.is_open() || e.mr.iid == mr.iid || e.key() != Some(change.key.as_str()) {
                continue;
            }
            self.close_by_bot(e, &format!("Superseded by !{}.", mr.iid))
                .await?;
            out.push(existing_report(
                e,
                Action::Superseded,
                format!("superseded by !{}", mr.iid),
            ));
        }
        out.extend(self.close_superseded(change, existing, mr.iid).await?);
        Ok(out)
    }

    /// Close a merge request for the bot's own reasons: note, record, close, delete branch.
    async fn close_by_bot(&self, e: &mut Existing, note: &str) -> Result<(), String> {
        self.forge
            .add_note(self.project, e.mr.iid, note)
            .await
            .map_err(problem)?;
        self.close_by_bot_quietly(e).await
    }

    /// Close a merge request for the bot's own reasons, already noted: record, close,
    /// delete branch.
    async fn close_by_bot_quietly(&self, e: &mut Existing) -> Result<(), String> {
        let description = e.meta.as_mut().map(|meta| {
            meta.closed_by_bot = true;
            meta.replace_in(&e.mr.description)
        });
        let edit = MergeRequestEdit {
            description,
            close: true,
            ..MergeRequestEdit::default()
        };
        self.forge
            .edit_merge_request(self.project, e.mr.iid, &edit)
            .await
            .map_err(problem)?;
        self.delete_branch(&e.mr.source_branch).await?;
        e.mr.state = MergeRequestState::Closed;
        Ok(())
    }

    async fn milestone(&self, change: &PlannedChange) -> Result<Option<u64>, String> {
        match &change.milestone {
            None => Ok(None),
            Some(Milestone::Id(id)) => Ok(Some(*id)),
            Some(Milestone::Title(title)) => self
                .forge
                .milestone_id(self.project, title)
                .await
                .map_err(problem),
        }
    }

    async fn commit(
        &self,
        change: &PlannedChange,
        actions: Vec<FileAction>,
    ) -> Result<String, String> {
        let request = CommitRequest {
            branch: change.branch.clone(),
            start_sha: self.base.to_string(),
            message: change.commit_message.clone(),
            actions,
        };
        self.forge
            .commit(self.project, &request)
            .await
            .map_err(problem)
    }

    async fn edit(
        &self,
        mr: &MergeRequest,
        change: &PlannedChange,
        description: String,
    ) -> Result<(), String> {
        let edit = MergeRequestEdit {
            title: Some(change.title.clone()),
            description: Some(description),
            labels: Some(change.labels.clone()),
            close: false,
        };
        self.forge
            .edit_merge_request(self.project, mr.iid, &edit)
            .await
            .map_err(problem)
    }

    async fn branch_exists(&self, branch: &str) -> Result<bool, String> {
        Ok(self
            .forge
            .branch_sha(self.project, branch)
            .await
            .map_err(problem)?
            .is_some())
    }

    /// Whether anyone but the bot committed on `branch` since it left the target.
    async fn has_foreign_commits(&self, branch: &str) -> Result<bool, String> {
        let commits = self
            .forge
            .commits_since(self.project, self.base, branch)
            .await
            .map_err(problem)?;
        let bot = self.forge.bot_email();
        Ok(commits
            .iter()
            .any(|c| !c.author_email.eq_ignore_ascii_case(bot)))
    }

    async fn note_foreign_once(&self, mr: &MergeRequest) -> Result<(), String> {
        let notes = self
            .forge
            .notes(self.project, mr.iid)
            .await
            .map_err(problem)?;
        let bot = self.forge.bot_user();
        if notes
            .iter()
            .any(|n| n.author.eq_ignore_ascii_case(bot) && n.body.contains(FOREIGN_NOTE))
        {
            return Ok(());
        }
        self.forge
            .add_note(
                self.project,
                mr.iid,
                &format!("This branch {FOREIGN_NOTE}. Comment `@{bot} recreate` to hand it back."),
            )
            .await
            .map_err(problem)
    }

    /// Close the bot's open merge requests that no planned change wants any more, unless the
    /// reason is unknown (a lookup failed, a manifest could not be read).
    async fn close_unneeded(
        &self,
        existing: &mut [Existing],
        planned: &BTreeSet<String>,
        changes: &[PlannedChange],
        report: &mut ProjectReport,
    ) -> Result<(), String> {
        let unreadable = self.results.iter().any(|r| r.manifest.result.is_err());
        for e in existing.iter_mut().filter(|e| e.is_open()) {
            let Some(meta) = e.meta.clone() else { continue };
            if planned.contains(&meta.key)
                || self.keep.contains(&meta.key)
                || !self.scopes.contains(scope_of(&meta.key))
            {
                continue;
            }
            if crate::security::mr::is_security_key(&meta.key) {
                let reason = superseded::taken_by(&meta, changes).unwrap_or_else(|| {
                    let names: Vec<String> = meta.updates.iter().map(|u| u.name.clone()).collect();
                    format!(
                        "no known advisory affects the locked {} any more",
                        names.join(", ")
                    )
                });
                self.close_by_bot(e, &format!("Closing: {reason}.")).await?;
                report
                    .changes
                    .push(existing_report(e, Action::Closed, reason));
                continue;
            }
            // A member proposed alone while its group could not take it, now back in it.
            if let Some(group) = changes.iter().find(|c| {
                c.group.is_some()
                    && !meta.key.contains(":group:")
                    && !meta.updates.is_empty()
                    && meta.updates.iter().all(|u| {
                        c.updates
                            .iter()
                            .any(|p| p.name == u.name && p.to == u.to && p.from == u.from)
                    })
            }) {
                let reason = format!(
                    "the {} group takes it again",
                    group.group.as_deref().unwrap_or_default()
                );
                self.close_by_bot(
                    e,
                    &format!(
                        "Closing: {}.",
                        sanitize::inline_max(&reason, sanitize::MAX_MESSAGE)
                    ),
                )
                .await?;
                report
                    .changes
                    .push(existing_report(e, Action::Closed, reason));
                continue;
            }
            if unreadable {
                continue;
            }
            let mut reasons = Vec::new();
            let mut uncertain = false;
            for update in &meta.updates {
                let outcomes: Vec<&Outcome> = self
                    .results
                    .iter()
                    .flat_map(|r| r.dependencies.iter())
                    .filter(|d| d.dependency.name == update.name)
                    .map(|d| &d.outcome)
                    .collect();
                if outcomes
                    .iter()
                    .any(|o| matches!(o, Outcome::Failed(_) | Outcome::Unavailable(_)))
                {
                    uncertain = true;
                }
                let why = outcomes
                    .iter()
                    .find_map(|o| match o {
                        Outcome::NoUpdate { reason, .. } => Some(reason.clone()),
                        Outcome::Skipped(reason) => Some(format!("it is skipped ({reason})")),
                        Outcome::Update(p) => {
                            Some(format!("{} is proposed instead", p.new_version))
                        }
                        Outcome::Failed(_) | Outcome::Unavailable(_) => None,
                    })
                    .unwrap_or_else(|| "it is no longer a dependency".into());
                reasons.push(format!("{}: {why}", update.name));
            }
            if uncertain {
                continue;
            }
            let reason = reasons.join("; ");
            // The reasons quote names, versions and registry messages: made inert.
            self.close_by_bot(
                e,
                &format!(
                    "Closing: this update is no longer needed ({}).",
                    sanitize::inline_max(&reason, sanitize::MAX_MESSAGE)
                ),
            )
            .await?;
            report
                .changes
                .push(existing_report(e, Action::Closed, reason));
        }
        Ok(())
    }
}

fn report_failed(change: &PlannedChange, reason: String) -> ChangeReport {
    report(change, Action::Failed, None, Some(reason))
}

#[cfg(test)]
mod tests {
    use crate::run::meta::scope_of;

    #[test]
    fn scopes_group_keys_by_ecosystem_and_directory() {
        assert_eq!(scope_of("pip:/backend:requests"), "pip:/backend");
        assert_eq!(scope_of("pip:/:group:dev"), "pip:/");
        assert_eq!(scope_of("odd"), "odd");
    }
}

//! The reconciliation's part in "one open merge request per package" (decided by
//! [`crate::security::supersede`]): a security update closes the version merge requests it
//! supersedes once it is open, and a security update standing by for a version update that
//! carries its fix is not opened when that one is.

use super::{existing_report, problem, report, Context, Existing};
use crate::run::meta::Meta;
use crate::run::plan::PlannedChange;
use crate::run::sanitize;
use crate::run::{Action, ChangeReport};
use std::collections::BTreeSet;

/// Where a change goes in the run's order, first to last: security updates and the version
/// updates carrying a fix (so the budgets go to them), then the security updates standing by
/// for those, then the other version updates.
pub(super) fn order(change: &PlannedChange) -> u8 {
    match (&change.security, &change.standby, change.fixes.is_empty()) {
        (Some(_), None, _) | (None, _, false) => 0,
        (Some(_), Some(_), _) => 1,
        (None, _, true) => 2,
    }
}

/// Whether a change's merge request is open after its step (its first report says so).
pub(super) fn left_open(reports: &[ChangeReport]) -> bool {
    matches!(
        reports.first().map(|r| r.action),
        Some(Action::Opened | Action::Updated | Action::Recreated | Action::Unchanged)
    )
}

/// Why a security merge request no change plans any more is closed when another security
/// change of this run takes its package (a transitive fix joined its parent's change).
pub(super) fn taken_by(meta: &Meta, changes: &[PlannedChange]) -> Option<String> {
    let name = &meta.updates.first()?.name;
    changes.iter().find_map(|c| {
        let security = c.security.as_ref()?;
        let takes = c.key != meta.key && security.packages.iter().any(|(n, _, _)| n == name);
        takes.then(|| format!("its fix joined the security update on {}", c.branch))
    })
}

/// The report of a security update standing by for a version update whose merge request is
/// open after this run's step (`open_now`: keys), or `None` when it goes ahead.
pub(super) fn standing_by(
    change: &PlannedChange,
    existing: &[Existing],
    open_now: &BTreeSet<String>,
) -> Option<ChangeReport> {
    let (carrier, why) = change.standby.as_ref()?;
    if !open_now.contains(carrier) {
        return None;
    }
    let mr = existing
        .iter()
        .find(|e| e.is_open() && e.key() == Some(carrier.as_str()))
        .map(|e| &e.mr);
    Some(report(change, Action::Skipped, mr, Some(why.clone())))
}

impl Context<'_> {
    /// Close the merge requests `change` supersedes, now that its merge request `iid` is
    /// open, each with a note linking it (written once, also across a run cut off between
    /// the note and the closing).
    pub(super) async fn close_superseded(
        &self,
        change: &PlannedChange,
        existing: &mut [Existing],
        iid: u64,
    ) -> Result<Vec<ChangeReport>, String> {
        let mut out = Vec::new();
        for (old, why) in &change.supersedes {
            let Some(e) = existing
                .iter_mut()
                .find(|e| e.is_open() && e.mr.iid == *old && e.mr.iid != iid)
            else {
                continue;
            };
            let note = format!(
                "Superseded by !{iid}, {}.",
                sanitize::inline_max(why, sanitize::MAX_MESSAGE)
            );
            let notes = self
                .forge
                .notes(self.project, e.mr.iid)
                .await
                .map_err(problem)?;
            let bot = self.forge.bot_user();
            if notes
                .iter()
                .any(|n| n.author.eq_ignore_ascii_case(bot) && n.body == note)
            {
                self.close_by_bot_quietly(e).await?;
            } else {
                self.close_by_bot(e, &note).await?;
            }
            out.push(existing_report(
                e,
                Action::Superseded,
                format!("superseded by !{iid}, {why}"),
            ));
        }
        Ok(out)
    }
}

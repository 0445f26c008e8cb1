//! The fleet-wide budgets of one run (operator `bot.budgets`): how many merge requests the
//! run may open and recreate across every project, shared by the projects worked on at
//! once, and the per-project daily cap on new merge requests.

use crate::config::Budgets;
use crate::forge::MergeRequest;
use chrono::{DateTime, Utc};
use std::sync::atomic::{AtomicUsize, Ordering};

/// What is left of the run's budgets. Taking is atomic: projects run concurrently.
#[derive(Debug, Default)]
pub struct RunBudget {
    limits: Budgets,
    opened: AtomicUsize,
    updated: AtomicUsize,
}

/// Which budget an action draws on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spend {
    Open,
    Recreate,
}

impl RunBudget {
    pub fn new(limits: Budgets) -> Self {
        RunBudget {
            limits,
            ..RunBudget::default()
        }
    }

    /// Take one unit; `Err` names the budget that is used up.
    pub fn take(&self, spend: Spend) -> Result<(), String> {
        let (counter, limit, what) = match spend {
            Spend::Open => (
                &self.opened,
                self.limits.opened_per_run,
                "new merge requests",
            ),
            Spend::Recreate => (
                &self.updated,
                self.limits.updated_per_run,
                "recreated merge requests",
            ),
        };
        let Some(limit) = limit else { return Ok(()) };
        counter
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < limit).then_some(n + 1)
            })
            .map(|_| ())
            .map_err(|_| format!("the run's budget of {limit} {what} across the fleet is used up"))
    }

    /// The per-project daily cap on new merge requests: `Err` when `today` (the bot's merge
    /// requests opened in the project since midnight UTC, see [`opened_today`]) reaches it.
    pub fn day_allows(&self, today: usize) -> Result<(), String> {
        let Some(limit) = self.limits.opened_per_project_per_day else {
            return Ok(());
        };
        if today >= limit {
            Err(format!(
                "{today} merge requests opened in this project today (UTC), the daily limit is {limit}"
            ))
        } else {
            Ok(())
        }
    }
}

/// The merge requests among `mrs` opened since midnight UTC of `now`.
pub fn opened_today(mrs: &[MergeRequest], now: DateTime<Utc>) -> usize {
    let midnight = now
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .map(|t| t.and_utc())
        .unwrap_or(now);
    mrs.iter()
        .filter(|m| m.created_at.is_some_and(|t| t >= midnight))
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budgets_run_out_and_unset_ones_never_do() {
        let b = RunBudget::new(Budgets {
            opened_per_run: Some(2),
            updated_per_run: None,
            opened_per_project_per_day: Some(1),
        });
        assert!(b.take(Spend::Open).is_ok());
        assert!(b.take(Spend::Open).is_ok());
        let e = b.take(Spend::Open).unwrap_err();
        assert!(e.contains("budget of 2 new merge requests"), "{e}");
        for _ in 0..100 {
            assert!(b.take(Spend::Recreate).is_ok());
        }
    }

    #[test]
    fn the_day_starts_at_midnight_utc() {
        let b = RunBudget::new(Budgets {
            opened_per_project_per_day: Some(1),
            ..Budgets::default()
        });
        let now: DateTime<Utc> = "2026-11-24T10:00:00Z".parse().unwrap();
        let mut mr = MergeRequest {
            iid: 1,
            state: crate::forge::MergeRequestState::Merged,
            source_branch: "updatebot/pip/x".into(),
            target_branch: "main".into(),
            title: String::new(),
            description: String::new(),
            labels: Vec::new(),
            sha: String::new(),
            merge_status: crate::forge::MergeStatus::Other,
            author: "updatebot".into(),
            web_url: String::new(),
            created_at: Some("2026-11-23T23:59:59Z".parse().unwrap()),
            updated_at: None,
        };
        assert_eq!(opened_today(std::slice::from_ref(&mr), now), 0);
        assert!(b.day_allows(0).is_ok());
        mr.created_at = Some("2026-11-24T00:00:00Z".parse().unwrap());
        assert_eq!(opened_today(std::slice::from_ref(&mr), now), 1);
        assert!(b.day_allows(1).is_err());
    }
}

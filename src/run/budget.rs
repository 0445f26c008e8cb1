//! The fleet-wide budgets of one run (operator `bot.budgets`): how many merge requests the
//! run may open and recreate across every project, shared by the projects worked on at
//! once, and the per-project daily cap on new merge requests.

use crate::config::Budgets;
use crate::forge::MergeRequest;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// What is left of the run's budgets. Taking is atomic: projects run concurrently.
///
/// New merge requests of security updates can be reserved per project before the run works
/// on any project (see `Fleet::run_projects`): a reservation is only ever taken by its own
/// project's security updates, and what other updates take must leave every reservation
/// whole, so security updates get the budget first across the fleet.
#[derive(Debug, Default)]
pub struct RunBudget {
    limits: Budgets,
    opened: Mutex<Opened>,
    updated: AtomicUsize,
}

#[derive(Debug, Default)]
struct Opened {
    taken: usize,
    /// Project path → new security merge requests still reserved for it.
    reserved: BTreeMap<String, usize>,
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

    /// Whether the run's budget of new merge requests is limited (reservations matter).
    pub fn limits_opening(&self) -> bool {
        self.limits.opened_per_run.is_some()
    }

    /// Hold `count` new merge requests of the run's budget for `project`'s security updates.
    pub fn reserve(&self, project: &str, count: usize) {
        if count == 0 || !self.limits_opening() {
            return;
        }
        let mut opened = self.opened.lock().unwrap_or_else(|p| p.into_inner());
        *opened.reserved.entry(project.to_string()).or_default() += count;
    }

    /// `project` is done: what it did not use of its reservation goes back to everyone.
    pub fn release(&self, project: &str) {
        let mut opened = self.opened.lock().unwrap_or_else(|p| p.into_inner());
        opened.reserved.remove(project);
    }

    /// Take one unit; `Err` names the budget that is used up.
    pub fn take(&self, spend: Spend) -> Result<(), String> {
        self.take_for(spend, "", false)
    }

    /// Take one unit for an update of `project`; `security` updates may use the project's
    /// reservation, the others only what is left beside every reservation.
    pub fn take_for(&self, spend: Spend, project: &str, security: bool) -> Result<(), String> {
        match spend {
            Spend::Open => {
                let Some(limit) = self.limits.opened_per_run else {
                    return Ok(());
                };
                let mut opened = self.opened.lock().unwrap_or_else(|p| p.into_inner());
                let own = if security {
                    opened.reserved.get(project).copied().unwrap_or(0)
                } else {
                    0
                };
                if own > 0 && opened.taken < limit {
                    opened.taken += 1;
                    if let Some(left) = opened.reserved.get_mut(project) {
                        *left -= 1;
                    }
                    return Ok(());
                }
                let held: usize = opened.reserved.values().sum();
                if opened.taken + held < limit {
                    opened.taken += 1;
                    Ok(())
                } else if opened.taken < limit {
                    Err(format!(
                        "the run's budget of {limit} new merge requests across the fleet is held for security updates"
                    ))
                } else {
                    Err(format!(
                        "the run's budget of {limit} new merge requests across the fleet is used up"
                    ))
                }
            }
            Spend::Recreate => {
                let Some(limit) = self.limits.updated_per_run else {
                    return Ok(());
                };
                self.updated
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                        (n < limit).then_some(n + 1)
                    })
                    .map(|_| ())
                    .map_err(|_| {
                        format!(
                            "the run's budget of {limit} recreated merge requests across the fleet is used up"
                        )
                    })
            }
        }
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
    fn reservations_are_for_their_own_projects_security_updates() {
        let b = RunBudget::new(Budgets {
            opened_per_run: Some(3),
            ..Budgets::default()
        });
        b.reserve("g/sec", 2);
        // One unit is free beside the reservation.
        assert!(b.take_for(Spend::Open, "g/other", false).is_ok());
        let e = b.take_for(Spend::Open, "g/other", false).unwrap_err();
        assert!(e.contains("held for security updates"), "{e}");
        // Another project's security update has no reservation here either.
        assert!(b.take_for(Spend::Open, "g/other", true).is_err());
        // The version updates of the reserving project do not use it.
        assert!(b.take_for(Spend::Open, "g/sec", false).is_err());
        assert!(b.take_for(Spend::Open, "g/sec", true).is_ok());
        // Released unused: the last unit goes to whoever asks next.
        b.release("g/sec");
        assert!(b.take_for(Spend::Open, "g/other", false).is_ok());
        let e = b.take_for(Spend::Open, "g/sec", true).unwrap_err();
        assert!(e.contains("used up"), "{e}");
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

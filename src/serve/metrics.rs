//! Prometheus metrics of the serve loop, in the text exposition format. Everything is derived
//! from the run reports, so `run` and `serve` count the same things.

use crate::run::{Action, FleetReport};
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

/// Upper bounds (seconds) of the run-duration histogram.
const RUN_BUCKETS: [f64; 10] = [
    1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0,
];

/// What started a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Trigger {
    Schedule,
    Webhook,
    Manual,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Schedule => "schedule",
            Trigger::Webhook => "webhook",
            Trigger::Manual => "manual",
        }
    }
}

type Labels = Vec<(&'static str, String)>;

#[derive(Default)]
struct Values {
    counters: BTreeMap<(&'static str, Labels), f64>,
    gauges: BTreeMap<&'static str, f64>,
    run_buckets: [u64; RUN_BUCKETS.len()],
    run_seconds_sum: f64,
    run_seconds_count: u64,
}

/// The metrics of one serving process.
#[derive(Default)]
pub struct Metrics {
    values: Mutex<Values>,
}

/// Name, type and help of every metric, in the order they are printed.
const FAMILIES: &[(&str, &str, &str)] = &[
    ("updatebot_runs_total", "counter", "Fleet runs finished, by trigger and outcome."),
    ("updatebot_runs_refused_total", "counter", "Runs asked for while one was queued or running, by trigger."),
    ("updatebot_run_in_progress", "gauge", "1 while a run is going on."),
    ("updatebot_run_duration_seconds", "histogram", "Wall time of fleet runs."),
    ("updatebot_last_run_timestamp_seconds", "gauge", "When the last run finished (Unix time)."),
    ("updatebot_last_success_timestamp_seconds", "gauge", "When the last run without failures finished (Unix time)."),
    ("updatebot_projects_total", "counter", "Projects gone through, by outcome (worked, skipped, failed)."),
    ("updatebot_updates_total", "counter", "Dependency updates of merge requests, by ecosystem and action (opened, updated, unchanged, failed, ...)."),
    ("updatebot_updates_proposed_total", "counter", "Dependency updates planned by runs, by ecosystem and update type."),
    ("updatebot_registry_requests_total", "counter", "Requests to registries, by host."),
    ("updatebot_registry_not_modified_total", "counter", "Registry requests answered 304 Not Modified and read from the disk cache, by host."),
    ("updatebot_packages_looked_up_total", "counter", "Distinct (registry, package) lookups."),
    ("updatebot_lookup_cache_hits_total", "counter", "Lookups answered by the run's cache instead of a request."),
    ("updatebot_webhooks_total", "counter", "Webhook deliveries, by outcome."),
];

impl Metrics {
    pub fn new() -> Self {
        Self::default()
    }

    fn with<T>(&self, f: impl FnOnce(&mut Values) -> T) -> T {
        let mut values = match self.values.lock() {
            Ok(v) => v,
            Err(poisoned) => poisoned.into_inner(),
        };
        f(&mut values)
    }

    fn add(values: &mut Values, name: &'static str, labels: Labels, by: f64) {
        *values.counters.entry((name, labels)).or_insert(0.0) += by;
    }

    pub fn run_started(&self) {
        self.with(|v| {
            v.gauges.insert("updatebot_run_in_progress", 1.0);
        });
    }

    pub fn run_refused(&self, trigger: Trigger) {
        self.with(|v| {
            Self::add(
                v,
                "updatebot_runs_refused_total",
                vec![("trigger", trigger.as_str().to_string())],
                1.0,
            )
        });
    }

    pub fn webhook(&self, outcome: &str) {
        self.with(|v| {
            Self::add(
                v,
                "updatebot_webhooks_total",
                vec![("outcome", outcome.to_string())],
                1.0,
            )
        });
    }

    /// Count everything a finished run did.
    pub fn run_finished(&self, trigger: Trigger, report: &FleetReport) {
        let seconds = (report.finished_at - report.started_at)
            .to_std()
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        let finished = report.finished_at.timestamp() as f64;
        let outcome = if report.interrupted {
            "interrupted"
        } else if report.failed() {
            "failed"
        } else {
            "ok"
        };
        self.with(|v| {
            v.gauges.insert("updatebot_run_in_progress", 0.0);
            v.gauges
                .insert("updatebot_last_run_timestamp_seconds", finished);
            if outcome == "ok" {
                v.gauges
                    .insert("updatebot_last_success_timestamp_seconds", finished);
            }
            Self::add(
                v,
                "updatebot_runs_total",
                vec![
                    ("trigger", trigger.as_str().to_string()),
                    ("outcome", outcome.to_string()),
                ],
                1.0,
            );
            for (i, bound) in RUN_BUCKETS.iter().enumerate() {
                if seconds <= *bound {
                    v.run_buckets[i] += 1;
                }
            }
            v.run_seconds_sum += seconds;
            v.run_seconds_count += 1;
            for project in &report.projects {
                let outcome = if project.failed() {
                    "failed"
                } else if project.skipped.is_some() {
                    "skipped"
                } else {
                    "worked"
                };
                Self::add(
                    v,
                    "updatebot_projects_total",
                    vec![("outcome", outcome.to_string())],
                    1.0,
                );
                for change in &project.changes {
                    let ecosystem = change.ecosystem.clone().unwrap_or_else(|| "unknown".into());
                    let count = change.updates.len().max(1) as f64;
                    Self::add(
                        v,
                        "updatebot_updates_total",
                        vec![
                            ("ecosystem", ecosystem.clone()),
                            ("action", change.action.as_str().to_string()),
                        ],
                        count,
                    );
                    // Planned in this run (the ones only read back carry no update type).
                    if !matches!(
                        change.action,
                        Action::Superseded | Action::Closed | Action::Ignored
                    ) {
                        for update in &change.updates {
                            if let Some(kind) = &update.update_type {
                                Self::add(
                                    v,
                                    "updatebot_updates_proposed_total",
                                    vec![
                                        ("ecosystem", ecosystem.clone()),
                                        ("update_type", kind.clone()),
                                    ],
                                    1.0,
                                );
                            }
                        }
                    }
                }
            }
            for (host, requests) in &report.registry_requests {
                Self::add(
                    v,
                    "updatebot_registry_requests_total",
                    vec![("host", host.clone())],
                    *requests as f64,
                );
            }
            for (host, n) in &report.registry_not_modified {
                Self::add(
                    v,
                    "updatebot_registry_not_modified_total",
                    vec![("host", host.clone())],
                    *n as f64,
                );
            }
            Self::add(
                v,
                "updatebot_packages_looked_up_total",
                Vec::new(),
                report.packages_looked_up as f64,
            );
            Self::add(
                v,
                "updatebot_lookup_cache_hits_total",
                Vec::new(),
                report.cache_hits as f64,
            );
        });
    }

    /// The text exposition format (version 0.0.4).
    pub fn render(&self) -> String {
        self.with(|v| {
            let mut out = String::new();
            for (name, kind, help) in FAMILIES {
                let _ = writeln!(out, "# HELP {name} {help}");
                let _ = writeln!(out, "# TYPE {name} {kind}");
                match *kind {
                    "histogram" => {
                        for (i, bound) in RUN_BUCKETS.iter().enumerate() {
                            let _ = writeln!(
                                out,
                                "{name}_bucket{{le=\"{bound}\"}} {}",
                                v.run_buckets[i]
                            );
                        }
                        let _ =
                            writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {}", v.run_seconds_count);
                        let _ = writeln!(out, "{name}_sum {}", v.run_seconds_sum);
                        let _ = writeln!(out, "{name}_count {}", v.run_seconds_count);
                    }
                    "gauge" => {
                        let _ =
                            writeln!(out, "{name} {}", v.gauges.get(name).copied().unwrap_or(0.0));
                    }
                    _ => {
                        let mut any = false;
                        for ((n, labels), value) in &v.counters {
                            if n == name {
                                any = true;
                                let _ = writeln!(out, "{name}{} {value}", render_labels(labels));
                            }
                        }
                        if !any && !FAMILIES_WITH_LABELS.contains(name) {
                            let _ = writeln!(out, "{name} 0");
                        }
                    }
                }
            }
            out
        })
    }
}

/// Counters that only appear once they have a labelled value.
const FAMILIES_WITH_LABELS: &[&str] = &[
    "updatebot_runs_total",
    "updatebot_runs_refused_total",
    "updatebot_projects_total",
    "updatebot_updates_total",
    "updatebot_updates_proposed_total",
    "updatebot_registry_requests_total",
    "updatebot_registry_not_modified_total",
    "updatebot_webhooks_total",
];

fn render_labels(labels: &Labels) -> String {
    if labels.is_empty() {
        return String::new();
    }
    let parts: Vec<String> = labels
        .iter()
        .map(|(k, v)| {
            let escaped = v
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n");
            format!("{k}=\"{escaped}\"")
        })
        .collect();
    format!("{{{}}}", parts.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::{ChangeReport, ProjectReport, UpdateReport};
    use chrono::{Duration, Utc};

    fn report() -> FleetReport {
        let started = Utc::now();
        let change = |action, ecosystem: &str, kind: Option<&str>| ChangeReport {
            title: "Bump six".into(),
            branch: "updatebot/pip/six-1.17.0".into(),
            ecosystem: Some(ecosystem.into()),
            scope: Some(format!("{ecosystem}:/")),
            updates: vec![UpdateReport {
                name: "six".into(),
                from: "1.15.0".into(),
                to: "1.17.0".into(),
                update_type: kind.map(str::to_string),
            }],
            action,
            merge_request: Some(1),
            url: None,
            reason: None,
        };
        let mut worked = ProjectReport::new("g/a");
        worked.changes = vec![
            change(Action::Opened, "pip", Some("minor")),
            change(Action::Failed, "npm", Some("major")),
            change(Action::Closed, "pip", None),
        ];
        let mut skipped = worked.clone();
        skipped.changes.clear();
        skipped.skipped = Some("no .updatebot.yml".into());
        FleetReport {
            run_id: "r".into(),
            started_at: started,
            finished_at: started + Duration::seconds(42),
            shard: None,
            error: None,
            interrupted: false,
            projects: vec![worked, skipped],
            registry_requests: [("pypi.org".to_string(), 7)].into_iter().collect(),
            registry_not_modified: [("pypi.org".to_string(), 2)].into_iter().collect(),
            packages_looked_up: 7,
            cache_hits: 3,
        }
    }

    #[test]
    fn a_run_is_counted_by_outcome_ecosystem_and_host() {
        let m = Metrics::new();
        m.run_started();
        assert!(m.render().contains("updatebot_run_in_progress 1\n"));
        m.run_finished(Trigger::Schedule, &report());
        m.run_refused(Trigger::Manual);
        let text = m.render();
        for line in [
            "updatebot_runs_total{trigger=\"schedule\",outcome=\"failed\"} 1",
            "updatebot_runs_refused_total{trigger=\"manual\"} 1",
            "updatebot_run_in_progress 0",
            "updatebot_run_duration_seconds_bucket{le=\"30\"} 0",
            "updatebot_run_duration_seconds_bucket{le=\"60\"} 1",
            "updatebot_run_duration_seconds_count 1",
            "updatebot_projects_total{outcome=\"failed\"} 1",
            "updatebot_projects_total{outcome=\"skipped\"} 1",
            "updatebot_updates_total{ecosystem=\"pip\",action=\"opened\"} 1",
            "updatebot_updates_total{ecosystem=\"npm\",action=\"failed\"} 1",
            "updatebot_updates_total{ecosystem=\"pip\",action=\"closed\"} 1",
            "updatebot_updates_proposed_total{ecosystem=\"pip\",update_type=\"minor\"} 1",
            "updatebot_updates_proposed_total{ecosystem=\"npm\",update_type=\"major\"} 1",
            "updatebot_registry_requests_total{host=\"pypi.org\"} 7",
            "updatebot_lookup_cache_hits_total 3",
        ] {
            assert!(
                text.contains(&format!("{line}\n")),
                "missing `{line}` in\n{text}"
            );
        }
        // Every sample line belongs to a family announced before it.
        let mut announced = Vec::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                announced.push(rest.split(' ').next().unwrap().to_string());
            } else if !line.starts_with('#') {
                let name = line.split(['{', ' ']).next().unwrap();
                assert!(
                    announced.iter().any(|a| name.starts_with(a.as_str())),
                    "{line}"
                );
            }
        }
    }

    #[test]
    fn label_values_are_escaped() {
        let m = Metrics::new();
        m.webhook("bad \"token\"\n");
        assert!(m
            .render()
            .contains("updatebot_webhooks_total{outcome=\"bad \\\"token\\\"\\n\"} 1\n"));
    }
}

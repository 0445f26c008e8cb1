//! The operator config's fleet sections: `gitlab` (instance and token), `fleet` (which
//! projects), `bot` (how the bot names and marks what it creates).

use serde::Serialize;
use url::Url;

use super::keys::{BOT_KEYS, BUDGET_KEYS, FLEET_GROUP_KEYS, FLEET_KEYS, GITLAB_KEYS};
use super::operator::{read_secret, Secret, Sources};
use super::walk::{Field, KeySet, Walker};
use super::yaml::Kind;

/// `gitlab:`: where the bot works, and as whom.
#[derive(Debug, Clone)]
pub struct GitlabSettings {
    pub url: Url,
    pub token: Secret,
}

/// One `fleet.groups[]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FleetGroup {
    pub path: String,
    pub include_subgroups: bool,
    /// Only projects with at least one of these topics (empty: all).
    pub topics: Vec<String>,
}

/// `fleet:`: which projects a run walks. Projects from all three sources are merged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FleetSettings {
    /// Project paths (`group/project`) or numeric ids.
    pub projects: Vec<String>,
    pub groups: Vec<FleetGroup>,
    /// Every project the token can write that has a `.updatebot.yml`.
    pub discover: bool,
    /// Projects worked on at once.
    pub concurrency: usize,
}

impl Default for FleetSettings {
    fn default() -> Self {
        FleetSettings {
            projects: Vec::new(),
            groups: Vec::new(),
            discover: false,
            concurrency: 4,
        }
    }
}

/// What a merge request closed without merging means for later runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClosedMergeRequest {
    /// Don't propose that version again; a newer one gets a new merge request.
    IgnoreVersion,
    /// Don't propose that major version again.
    IgnoreMajor,
}

/// `bot:`: names and marks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BotSettings {
    /// The bot's own schedule (5-field crontab), as its CronJob or serve loop runs it: an
    /// entry is due when its schedule fired since the previous tick of this one. `None`: every
    /// entry is due in every run.
    pub schedule: Option<String>,
    /// Time zone of `schedule` (IANA name; default UTC).
    pub timezone: Option<String>,
    /// First part of every branch the bot creates (`updatebot/pip/backend/requests-2.32.3`).
    pub branch_prefix: String,
    /// The label CI rules key on, so bot merge requests run only lint and tests.
    pub ci_label: String,
    pub closed_merge_request: ClosedMergeRequest,
    pub remove_source_branch: bool,
    pub squash: bool,
    /// Merge requests rebased (recreated) per project per run, oldest first.
    pub rebase_limit: usize,
    /// Keep a dashboard issue per project (open, waiting, failed and ignored updates, CI).
    pub dashboard: bool,
    pub dashboard_title: String,
    /// Check each project's CI configuration through GitLab's CI lint (branch pipelines and
    /// deployment jobs for the bot's merge requests).
    pub check_ci: bool,
    /// Write ignores made with `@updatebot ignore …` comments into `.updatebot.yml` by a
    /// merge request of the bot's.
    pub persist_ignores: bool,
    pub budgets: Budgets,
}

/// `bot.budgets`: fleet-wide limits of one run (`None`: no limit). What is held back is
/// reported and comes in the next run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Budgets {
    /// New merge requests across the fleet in one run.
    pub opened_per_run: Option<usize>,
    /// Merge requests recreated (rebased, refreshed) across the fleet in one run.
    pub updated_per_run: Option<usize>,
    /// New merge requests per project in a day (counted from the project's bot merge
    /// requests created since midnight UTC).
    pub opened_per_project_per_day: Option<usize>,
}

impl Default for BotSettings {
    fn default() -> Self {
        BotSettings {
            schedule: None,
            timezone: None,
            branch_prefix: "updatebot".into(),
            ci_label: "updatebot".into(),
            closed_merge_request: ClosedMergeRequest::IgnoreVersion,
            remove_source_branch: true,
            squash: false,
            rebase_limit: 5,
            dashboard: true,
            dashboard_title: "Dependency dashboard (updatebot)".into(),
            check_ci: true,
            persist_ignores: false,
            budgets: Budgets::default(),
        }
    }
}

pub(super) fn gitlab(
    w: &mut Walker,
    f: Field<'_>,
    sources: &Sources<'_>,
) -> Option<GitlabSettings> {
    let fields = w.map(f.value, "gitlab", &KeySet::new(GITLAB_KEYS))?;
    w.require(&fields, &["url"]);
    let url = fields.get("url").and_then(|u| {
        let text = w.string(u)?;
        match Url::parse(&text) {
            Ok(url) if matches!(url.scheme(), "http" | "https") => Some(url),
            _ => {
                w.problem(
                    u.value.pos,
                    format!("gitlab.url: `{text}` is not an http(s) URL"),
                );
                None
            }
        }
    });
    let token = match (fields.get("token-env"), fields.get("token-file")) {
        (Some(t), None) | (None, Some(t)) => read_secret(w, t, "gitlab", sources),
        (Some(_), Some(second)) => {
            w.problem(
                second.key_pos,
                "give only one of `token-env`, `token-file` in gitlab",
            );
            None
        }
        (None, None) => {
            w.problem(f.key_pos, "gitlab needs `token-env` or `token-file`");
            None
        }
    };
    Some(GitlabSettings {
        url: url?,
        token: token?,
    })
}

pub(super) fn fleet(w: &mut Walker, f: Field<'_>) -> FleetSettings {
    let mut out = FleetSettings::default();
    let Some(fields) = w.map(f.value, "fleet", &KeySet::new(FLEET_KEYS)) else {
        return out;
    };
    if let Some(p) = fields.get("projects") {
        if let Some(items) = w.seq(p) {
            for (i, item) in items.iter().enumerate() {
                let path = format!("fleet.projects[{i}]");
                let text = match &item.kind {
                    Kind::Scalar(super::yaml::Value::Int(n), _) => Some(n.to_string()),
                    _ => w.string_node(item, &path),
                };
                out.projects.extend(text);
            }
        }
    }
    if let Some(g) = fields.get("groups") {
        if let Some(items) = w.seq(g) {
            for (i, item) in items.iter().enumerate() {
                let path = format!("fleet.groups[{i}]");
                if let Kind::Map(_) = item.kind {
                    let Some(gf) = w.map(item, &path, &KeySet::new(FLEET_GROUP_KEYS)) else {
                        continue;
                    };
                    w.require(&gf, &["path"]);
                    let Some(group_path) = gf.get("path").and_then(|p| w.string(p)) else {
                        continue;
                    };
                    out.groups.push(FleetGroup {
                        path: group_path,
                        include_subgroups: gf
                            .get("include-subgroups")
                            .and_then(|b| w.bool(b))
                            .unwrap_or(true),
                        topics: gf
                            .get("topics")
                            .and_then(|t| w.string_list(t))
                            .unwrap_or_default(),
                    });
                } else if let Some(group_path) = w.string_node(item, &path) {
                    out.groups.push(FleetGroup {
                        path: group_path,
                        include_subgroups: true,
                        topics: Vec::new(),
                    });
                }
            }
        }
    }
    if let Some(d) = fields.get("discover").and_then(|d| w.bool(d)) {
        out.discover = d;
    }
    if let Some(c) = fields.get("concurrency").and_then(|c| w.uint(c, 64)) {
        out.concurrency = usize::try_from(c).unwrap_or(64).max(1);
    }
    out
}

pub(super) fn bot(w: &mut Walker, f: Field<'_>) -> Option<BotSettings> {
    let fields = w.map(f.value, "bot", &KeySet::new(BOT_KEYS))?;
    let mut out = BotSettings::default();
    let name_ok = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
    };
    if let Some(p) = fields.get("branch-prefix") {
        if let Some(prefix) = w.string(p) {
            if name_ok(&prefix)
                && !prefix.starts_with('/')
                && !prefix.ends_with('/')
                && !prefix.contains("..")
            {
                out.branch_prefix = prefix;
            } else {
                w.problem(
                    p.value.pos,
                    format!("bot.branch-prefix: `{prefix}` is not a usable branch name part"),
                );
            }
        }
    }
    if let Some(f) = fields.get("schedule") {
        if let Some(expression) = w.string(f) {
            let tz = fields
                .get("timezone")
                .and_then(|t| t.value.as_str().map(str::to_string));
            match crate::schedule::time_zone(tz.as_deref())
                .and_then(|tz| crate::schedule::Cron::parse(&expression, tz))
            {
                Ok(_) => out.schedule = Some(expression),
                Err(e) => w.problem(f.value.pos, format!("bot.schedule: {e}")),
            }
        }
    }
    if let Some(t) = fields.get("timezone").and_then(|t| w.string(t)) {
        out.timezone = Some(t);
    }
    if let Some(l) = fields.get("ci-label").and_then(|l| w.string(l)) {
        out.ci_label = l;
    }
    if let Some(c) = fields.get("closed-merge-request") {
        match w.string(c).as_deref() {
            Some("ignore-version") => out.closed_merge_request = ClosedMergeRequest::IgnoreVersion,
            Some("ignore-major") => out.closed_merge_request = ClosedMergeRequest::IgnoreMajor,
            Some(other) => w.problem(
                c.value.pos,
                format!("bot.closed-merge-request: `{other}` is not one of `ignore-version`, `ignore-major`"),
            ),
            None => {}
        }
    }
    if let Some(b) = fields.get("remove-source-branch").and_then(|b| w.bool(b)) {
        out.remove_source_branch = b;
    }
    if let Some(b) = fields.get("squash").and_then(|b| w.bool(b)) {
        out.squash = b;
    }
    if let Some(n) = fields.get("rebase-limit").and_then(|n| w.uint(n, 1000)) {
        out.rebase_limit = usize::try_from(n).unwrap_or(1000);
    }
    if let Some(b) = fields.get("dashboard").and_then(|b| w.bool(b)) {
        out.dashboard = b;
    }
    if let Some(t) = fields.get("dashboard-title") {
        match w.string(t) {
            Some(title) if !title.trim().is_empty() && title.len() <= 255 => {
                out.dashboard_title = title
            }
            Some(_) => w.problem(
                t.value.pos,
                "bot.dashboard-title: must be 1 to 255 characters",
            ),
            None => {}
        }
    }
    if let Some(b) = fields.get("check-ci").and_then(|b| w.bool(b)) {
        out.check_ci = b;
    }
    if let Some(b) = fields.get("persist-ignores").and_then(|b| w.bool(b)) {
        out.persist_ignores = b;
    }
    if let Some(b) = fields.get("budgets") {
        if let Some(budgets) = w.map(b.value, "bot.budgets", &KeySet::new(BUDGET_KEYS)) {
            let limit = |w: &mut Walker, key: &str| {
                budgets
                    .get(key)
                    .and_then(|n| w.uint(n, 100_000))
                    .map(|n| usize::try_from(n).unwrap_or(100_000))
            };
            out.budgets = Budgets {
                opened_per_run: limit(w, "opened-per-run"),
                updated_per_run: limit(w, "updated-per-run"),
                opened_per_project_per_day: limit(w, "opened-per-project-per-day"),
            };
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use crate::config::load_operator_config;

    #[test]
    fn fleet_sections_parse_and_report_problems() {
        let text = "gitlab:\n  url: https://gitlab.example.com\n  token-env: GITLAB_TOKEN\nfleet:\n  projects: [org/app, 42]\n  groups:\n    - org/python\n    - path: research\n      include-subgroups: false\n      topics: [updatebot]\n  concurrency: 8\nbot:\n  branch-prefix: deps\n  ci-label: bot\n  closed-merge-request: ignore-major\n";
        let config = load_operator_config(
            text,
            &|v| (v == "GITLAB_TOKEN").then(|| "glpat-xyz".into()),
            &|_| Err(std::io::ErrorKind::NotFound.into()),
        )
        .unwrap();
        let gitlab = config.gitlab.unwrap();
        assert_eq!(gitlab.url.as_str(), "https://gitlab.example.com/");
        assert_eq!(gitlab.token.expose(), "glpat-xyz");
        assert_eq!(config.fleet.projects, ["org/app", "42"]);
        assert_eq!(config.fleet.groups.len(), 2);
        assert!(config.fleet.groups[0].include_subgroups);
        assert_eq!(config.fleet.groups[1].topics, ["updatebot"]);
        assert_eq!(config.fleet.concurrency, 8);
        assert_eq!(config.bot.branch_prefix, "deps");
        assert_eq!(
            config.bot.closed_merge_request,
            super::ClosedMergeRequest::IgnoreMajor
        );

        let bad = "gitlab:\n  url: ftp://x\n  token-env: MISSING\nbot:\n  branch-prefix: /bad\n  colour: red\n  schedule: \"0 3 * *\"\n";
        let errors =
            load_operator_config(
                bad,
                &|_| None,
                &|_| Err(std::io::ErrorKind::NotFound.into()),
            )
            .unwrap_err();
        let text = errors.to_string();
        assert!(
            text.contains("line 2: gitlab.url: `ftp://x` is not an http(s) URL"),
            "{text}"
        );
        assert!(
            text.contains("line 3: gitlab: environment variable `MISSING`"),
            "{text}"
        );
        assert!(text.contains("line 5: bot.branch-prefix"), "{text}");
        assert!(text.contains("line 6: unknown key `colour`"), "{text}");
        assert!(
            text.contains("line 7: bot.schedule: invalid cron expression `0 3 * *`"),
            "{text}"
        );
    }
}

//! The fleet run: for every project, read its configuration and manifests through the forge,
//! look up updates (one request per package across the whole fleet), plan merge requests and
//! reconcile them with the ones earlier runs opened. The forge is the only state.

pub mod body;
pub mod budget;
pub mod commands;
pub mod dashboard;
pub mod meta;
mod persist;
pub mod plan;
mod reconcile;
pub(crate) use reconcile::report as change_report;
pub mod sanitize;
mod upkeep;

use crate::check::{Checker, ManifestResult};
use crate::config::{parse_repo_config, OperatorConfig, REPO_CONFIG_FILE};
use crate::forge::{FleetQuery, Forge, ForgeError, Project};
use crate::plugins::Plugins;
use crate::project::ProjectSettings;
use crate::scan::Scan;
use crate::schedule::Window;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use updatebot_core::http::HttpClient;
use updatebot_core::registry::LookupCache;
use updatebot_core::ManifestError;

/// What happened to one planned or existing merge request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    Opened,
    /// Title, description or labels refreshed.
    Updated,
    /// The commit made again on the current target (rebase, command, or changed content).
    Recreated,
    Unchanged,
    /// Replaced by a merge request for a newer version, and closed.
    Superseded,
    /// No longer needed, and closed.
    Closed,
    /// Closed on a person's `@updatebot ignore …` command.
    Ignored,
    /// Not opened: the reason says why (limit, closed before, edited by a person).
    Skipped,
    Failed,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Opened => "opened",
            Action::Updated => "updated",
            Action::Recreated => "recreated",
            Action::Unchanged => "unchanged",
            Action::Superseded => "superseded",
            Action::Closed => "closed",
            Action::Ignored => "ignored",
            Action::Skipped => "skipped",
            Action::Failed => "failed",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ChangeReport {
    pub title: String,
    pub branch: String,
    /// `pip`, `npm`, `docker` (unknown for a merge request whose record is unreadable).
    pub ecosystem: Option<String>,
    /// `ecosystem:directory`: the `.updatebot.yml` entry's share of the project.
    pub scope: Option<String>,
    /// The dependency updates the merge request carries.
    pub updates: Vec<UpdateReport>,
    pub action: Action,
    pub merge_request: Option<u64>,
    pub url: Option<String>,
    pub reason: Option<String>,
}

/// One dependency update of a change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UpdateReport {
    pub name: String,
    pub from: String,
    pub to: String,
    /// major/minor/patch/digest (known for the updates planned in this run).
    pub update_type: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ProjectReport {
    pub project: String,
    pub error: Option<String>,
    /// Why the project was not worked on, if it was not (no `.updatebot.yml`).
    pub skipped: Option<String>,
    pub changes: Vec<ChangeReport>,
    /// Manifests that could not be read and lookups that failed, each naming its file/package.
    pub problems: Vec<String>,
    /// What the project's CI does with the bot's merge requests (when checked).
    pub ci: Option<crate::ci::CiCheck>,
    /// Closed merge requests whose ignore a person undid from the dashboard in this run.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub undone_ignores: Vec<u64>,
    /// New merge requests this project's security updates need (counted by the run's
    /// census pass, for the fleet-wide budget).
    #[serde(skip)]
    pub security_opens: usize,
}

impl ProjectReport {
    pub fn new(project: &str) -> Self {
        ProjectReport {
            project: project.to_string(),
            error: None,
            skipped: None,
            changes: Vec::new(),
            problems: Vec::new(),
            ci: None,
            undone_ignores: Vec::new(),
            security_opens: 0,
        }
    }

    /// Something went wrong: the project failed, an update failed, or a problem was met (a
    /// manifest that could not be read, a registry that could not answer, a missing target
    /// branch). `run` then exits 1, as the README's exit codes say.
    pub fn failed(&self) -> bool {
        self.error.is_some()
            || !self.problems.is_empty()
            || self.changes.iter().any(|c| c.action == Action::Failed)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct FleetReport {
    /// The fleet could not be listed at all.
    /// Identifies the run in logs and reports.
    pub run_id: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    /// `I/N` when the run worked on one share of the fleet.
    pub shard: Option<String>,
    pub error: Option<String>,
    /// Stopped early (shutdown): the projects not reached are reported as skipped.
    pub interrupted: bool,
    pub projects: Vec<ProjectReport>,
    /// Registry requests per host, for the one-request-per-package promise.
    pub registry_requests: BTreeMap<String, u64>,
    /// Of those, the ones answered `304 Not Modified` and read from the disk cache
    /// (`http.cache-dir`), per host; hosts with none left out.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub registry_not_modified: BTreeMap<String, u64>,
    pub packages_looked_up: usize,
    /// Lookups answered from the run's cache instead of a request of their own.
    pub cache_hits: u64,
}

impl FleetReport {
    pub fn failed(&self) -> bool {
        self.error.is_some() || self.projects.iter().any(ProjectReport::failed)
    }

    /// A human summary.
    pub fn summary(&self) -> String {
        let mut out = String::new();
        if let Some(e) = &self.error {
            out.push_str(&format!("error: {e}\n"));
        }
        for p in &self.projects {
            out.push_str(&format!("{}\n", p.project));
            if let Some(e) = &p.error {
                out.push_str(&format!("  error: {e}\n"));
            }
            if let Some(s) = &p.skipped {
                out.push_str(&format!("  skipped: {s}\n"));
            }
            for c in &p.changes {
                let mr = c
                    .merge_request
                    .map(|i| format!(" !{i}"))
                    .unwrap_or_default();
                let why = c
                    .reason
                    .as_deref()
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default();
                out.push_str(&format!("  {}{mr}: {}{why}\n", c.action.as_str(), c.title));
            }
            for problem in &p.problems {
                out.push_str(&format!("  problem: {problem}\n"));
            }
        }
        let requests: u64 = self.registry_requests.values().sum();
        let not_modified: u64 = self.registry_not_modified.values().sum();
        let revalidated = if not_modified > 0 {
            format!(", {not_modified} answered 304 Not Modified from the disk cache")
        } else {
            String::new()
        };
        out.push_str(&format!(
            "{} projects, {} packages looked up with {requests} registry requests ({} cache hits{revalidated})\n",
            self.projects.len(),
            self.packages_looked_up,
            self.cache_hits
        ));
        if self.interrupted {
            out.push_str("interrupted: the bot was shutting down\n");
        }
        out
    }
}

/// Everything a fleet run works with.
pub struct Fleet<'a> {
    pub forge: &'a dyn Forge,
    pub plugins: &'a Plugins,
    pub operator: &'a OperatorConfig,
    pub http: Arc<HttpClient>,
    pub cache: Arc<LookupCache>,
    pub now: DateTime<Utc>,
    /// Which `updates[]` entries are due in this run.
    pub window: Window,
    /// This pod's share of the fleet.
    pub shard: Shard,
    /// Identifies the run in logs and the report.
    pub run_id: String,
    /// Set to stop before the next project (the ones in hand are finished).
    pub stop: Option<Arc<AtomicBool>>,
    /// Work only on the entries owning these `ecosystem:directory` scopes (a command on one
    /// merge request, acted on at once), whatever the window says.
    pub focus: Option<std::collections::BTreeSet<String>>,
    /// Where vulnerability advisories come from; `None`: no security merge requests.
    pub advisories: Option<Arc<updatebot_advisory::Advisories>>,
    /// What is left of the run's fleet-wide budgets (`bot.budgets`).
    pub budget: Arc<budget::RunBudget>,
}

impl<'a> Fleet<'a> {
    /// A run of the whole fleet, now, serving every entry; adjust the public fields after.
    pub fn new(
        forge: &'a dyn Forge,
        plugins: &'a Plugins,
        operator: &'a OperatorConfig,
        http: Arc<HttpClient>,
    ) -> Self {
        let now = Utc::now();
        Fleet {
            forge,
            plugins,
            operator,
            http,
            cache: Arc::new(LookupCache::new()),
            now,
            window: Window::Always,
            shard: Shard::ALL,
            run_id: new_run_id(now),
            stop: None,
            focus: None,
            advisories: None,
            budget: Arc::new(budget::RunBudget::new(operator.bot.budgets)),
        }
    }

    fn stopping(&self) -> bool {
        self.stop.as_ref().is_some_and(|s| s.load(Ordering::SeqCst))
    }
}

/// The HTTP client of registry lookups, with the operator's credentials and limits.
pub fn registry_client(
    operator: &OperatorConfig,
) -> Result<HttpClient, updatebot_core::http::HttpError> {
    use crate::config::Credentials;
    use updatebot_core::http::{Auth, Credential, HttpOptions};
    let credentials = operator
        .registries
        .values()
        .filter_map(|r| {
            let auth = match r.credentials.as_ref()? {
                Credentials::Basic { username, password } => Auth::Basic {
                    username: username.clone(),
                    password: password.clone(),
                },
                Credentials::Bearer { token } => Auth::Bearer(token.clone()),
            };
            Some(Credential {
                url: r.url.clone(),
                auth,
            })
        })
        .collect();
    let secs = |s: u32| std::time::Duration::from_secs(u64::from(s));
    let http = &operator.http;
    let options = HttpOptions {
        timeout: secs(http.timeout_seconds),
        connect_timeout: secs(http.connect_timeout_seconds),
        retries: http.retries,
        max_wait: secs(http.max_retry_wait_seconds),
        per_host: usize::try_from(http.per_host_concurrency).unwrap_or(usize::MAX),
        circuit_failures: http.circuit_breaker_failures,
        circuit_open_for: secs(http.circuit_breaker_seconds),
        ..HttpOptions::default()
    };
    let client = HttpClient::new(options, credentials)?;
    match &http.cache_dir {
        None => Ok(client),
        Some(dir) => {
            client
                .with_disk_cache(dir)
                .map_err(|e| updatebot_core::http::HttpError::Transport {
                    url: String::new(),
                    detail: format!("http.cache-dir `{}`: {e}", dir.display()),
                })
        }
    }
}

/// `20261124T183000Z-3fa9c2`: the start time and a random suffix.
pub fn new_run_id(now: DateTime<Utc>) -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_i64(now.timestamp_nanos_opt().unwrap_or_default());
    hasher.write_u32(std::process::id());
    format!(
        "{}-{:06x}",
        now.format("%Y%m%dT%H%M%SZ"),
        hasher.finish() & 0xff_ffff
    )
}

/// One of N disjoint shares of the fleet, by a stable hash of the project path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Shard {
    pub const ALL: Shard = Shard { index: 0, count: 1 };

    /// `I/N` with `0 <= I < N`.
    pub fn parse(text: &str) -> Option<Shard> {
        let (i, n) = text.split_once('/')?;
        let (index, count) = (i.trim().parse().ok()?, n.trim().parse().ok()?);
        (count > 0 && index < count).then_some(Shard { index, count })
    }

    /// Whether a project belongs to this shard (FNV-1a of its path: stable across runs,
    /// machines and versions).
    pub fn owns(&self, path: &str) -> bool {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in path.as_bytes() {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
        hash % u64::from(self.count) == u64::from(self.index)
    }
}

/// Configuration problems as one message, each with the file, line and column.
fn located(problems: &[crate::config::Problem]) -> String {
    problems
        .iter()
        .map(|p| format!("{REPO_CONFIG_FILE}:{}:{}: {}", p.line, p.column, p.message))
        .collect::<Vec<_>>()
        .join("; ")
}

pub(super) fn forge_problem(e: ForgeError) -> String {
    e.to_string()
}

/// What a pass over the fleet does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pass {
    /// Plan every project and count the new merge requests its security updates need (see
    /// `run_projects`); nothing is written.
    Census,
    /// Everything due.
    Full,
}

impl Fleet<'_> {
    /// Run over every project of the fleet (this shard's share of it).
    pub async fn run(&self) -> FleetReport {
        match self.list().await {
            Ok(projects) => self.run_listed(projects).await,
            Err(e) => {
                let mut report = self.empty_report();
                report.error = Some(e);
                report
            }
        }
    }

    /// The fleet's projects, as the operator config names them.
    pub async fn list(&self) -> Result<Vec<Project>, String> {
        let query = FleetQuery {
            projects: self.operator.fleet.projects.clone(),
            groups: self.operator.fleet.groups.clone(),
            discover: self.operator.fleet.discover,
        };
        self.forge
            .projects(&query)
            .await
            .map_err(|e| format!("cannot list the fleet's projects: {e}"))
    }

    /// Run over this shard's share of the given projects.
    pub async fn run_listed(&self, projects: Vec<Project>) -> FleetReport {
        let mut report = self.empty_report();
        let projects = projects
            .into_iter()
            .filter(|p| self.shard.owns(&p.path))
            .collect();
        self.run_projects(projects, &mut report).await;
        report.finished_at = Utc::now();
        report
    }

    fn empty_report(&self) -> FleetReport {
        FleetReport {
            run_id: self.run_id.clone(),
            started_at: Utc::now(),
            finished_at: Utc::now(),
            shard: (self.shard != Shard::ALL)
                .then(|| format!("{}/{}", self.shard.index, self.shard.count)),
            error: None,
            interrupted: false,
            projects: Vec::new(),
            registry_requests: BTreeMap::new(),
            registry_not_modified: BTreeMap::new(),
            packages_looked_up: 0,
            cache_hits: 0,
        }
    }

    /// Run over the given projects (the fleet already listed, or one shard of it).
    ///
    /// When the run's budget of new merge requests is limited and advisories are on,
    /// security updates get it first across the whole fleet, not only within each project:
    /// a first pass plans every project without writing anything and reserves, per project,
    /// the new merge requests its security updates need; the full pass then lets only those
    /// updates use a reservation, and hands back what a project left unused once it is done.
    pub async fn run_projects(&self, projects: Vec<Project>, report: &mut FleetReport) {
        if self.advisories.is_some() && self.focus.is_none() && self.budget.limits_opening() {
            for census in self.pass_over(projects.clone(), Pass::Census).await {
                self.budget.reserve(&census.project, census.security_opens);
            }
        }
        let results = self.pass_over(projects, Pass::Full).await;
        report.projects.extend(results);
        let stats = self.http.stats();
        report.registry_requests = stats
            .iter()
            .map(|(host, s)| (host.clone(), s.requests))
            .collect();
        report.registry_not_modified = stats
            .into_iter()
            .filter(|(_, s)| s.not_modified > 0)
            .map(|(host, s)| (host, s.not_modified))
            .collect();
        report.packages_looked_up = self.cache.len();
        report.cache_hits = self.cache.hits();
        report.interrupted = self.stopping();
    }

    /// One pass over `projects`, `fleet.concurrency` at a time; reports in `projects` order.
    async fn pass_over(&self, projects: Vec<Project>, pass: Pass) -> Vec<ProjectReport> {
        let concurrency = self.operator.fleet.concurrency.max(1);
        let mut results: Vec<(usize, ProjectReport)> =
            futures::stream::iter(projects.into_iter().enumerate())
                .map(
                    |(i, project)| -> futures::future::BoxFuture<'_, (usize, ProjectReport)> {
                        // Boxed: a spawned run (serve) needs the future to be Send for every
                        // lifetime, which rustc cannot prove through the unboxed closure.
                        Box::pin(async move {
                            if self.stopping() {
                                let mut skipped = ProjectReport::new(&project.path);
                                skipped.skipped =
                                    Some("not reached: the bot was shutting down".to_string());
                                return (i, skipped);
                            }
                            let report = self.run_project_in(&project, pass).await;
                            if pass == Pass::Full {
                                self.budget.release(&project.path);
                            }
                            (i, report)
                        })
                    },
                )
                .buffer_unordered(concurrency)
                .collect()
                .await;
        results.sort_by_key(|(i, _)| *i);
        results.into_iter().map(|(_, r)| r).collect()
    }

    /// One project; a failure is reported and never stops the fleet.
    pub async fn run_project(&self, project: &Project) -> ProjectReport {
        self.run_project_in(project, Pass::Full).await
    }

    async fn run_project_in(&self, project: &Project, pass: Pass) -> ProjectReport {
        let mut report = ProjectReport::new(&project.path);
        if let Err(e) = self.project_inner(project, pass, &mut report).await {
            report.error = Some(e);
        }
        report
    }

    async fn project_inner(
        &self,
        project: &Project,
        pass: Pass,
        report: &mut ProjectReport,
    ) -> Result<(), String> {
        let forge = self.forge;
        let head = forge
            .branch_sha(project, &project.default_branch)
            .await
            .map_err(forge_problem)?
            .ok_or_else(|| {
                format!(
                    "default branch `{}` not found (empty repository?)",
                    project.default_branch
                )
            })?;
        let Some(text) = forge
            .read_file(project, &head, REPO_CONFIG_FILE)
            .await
            .map_err(forge_problem)?
        else {
            report.skipped = Some(format!(
                "no {REPO_CONFIG_FILE} on `{}`",
                project.default_branch
            ));
            return Ok(());
        };
        let repo = parse_repo_config(&text).map_err(|e| located(&e.problems))?;
        let problems = crate::project::range_problems(&repo);
        if !problems.is_empty() {
            return Err(located(&problems));
        }
        // Entries may target other branches than the default: work per target branch.
        let mut targets: Vec<String> = Vec::new();
        let all =
            ProjectSettings::new(Some(&repo), self.operator).map_err(|e| located(&e.problems))?;
        // Entries not due in this run are left alone entirely (their merge requests too).
        let mut due_entries = std::collections::BTreeSet::new();
        for entry in all.entries() {
            let cron = crate::schedule::entry_cron(&entry.schedule).map_err(|e| {
                format!(
                    "{REPO_CONFIG_FILE}:{}: updates[{}].schedule: {e}",
                    entry.line, entry.index
                )
            })?;
            let due = match &self.focus {
                Some(scopes) => scopes
                    .iter()
                    .any(|scope| all.entry_for_scope(scope) == Some(entry.index)),
                None => self.window.is_due(&cron),
            };
            if due {
                due_entries.insert(entry.index);
            }
        }
        // Security updates are served whenever the bot runs, for every entry that wants them.
        let security_entries: std::collections::BTreeSet<usize> = all
            .entries()
            .filter(|e| self.advisories.is_some() && e.security_updates.enabled)
            .filter(|e| self.focus.is_none() || due_entries.contains(&e.index))
            .map(|e| e.index)
            .collect();
        if due_entries.is_empty() && security_entries.is_empty() {
            report.skipped = Some(match self.focus {
                Some(_) => "no entry of its .updatebot.yml owns the merge request".to_string(),
                None => "no entry of its .updatebot.yml is due in this run".to_string(),
            });
            return Ok(());
        }
        for entry in all
            .entries()
            .filter(|e| due_entries.contains(&e.index) || security_entries.contains(&e.index))
        {
            let target = entry
                .target_branch
                .clone()
                .unwrap_or_else(|| project.default_branch.clone());
            if !targets.contains(&target) {
                targets.push(target);
            }
        }
        let mut existing = forge
            .merge_requests(project, &self.operator.bot.branch_prefix)
            .await
            .map_err(forge_problem)?;
        let opened_today =
            std::sync::atomic::AtomicUsize::new(budget::opened_today(&existing, self.now));
        // The dashboard, its commands and the recorded ignores are the full pass's.
        let (issue, duplicates) = match pass {
            Pass::Full => {
                self.dashboard_before(project, &mut existing, report)
                    .await?
            }
            Pass::Census => (None, Vec::new()),
        };
        let mut seen = upkeep::Seen {
            issue,
            duplicates,
            scopes: BTreeMap::new(),
        };
        for target in targets {
            let default = project.default_branch.clone();
            let settings = ProjectSettings::for_entries(Some(&repo), self.operator, &|e| {
                due_entries.contains(&e.index)
                    && e.target_branch.clone().unwrap_or_else(|| default.clone()) == target
            })
            .map_err(|e| e.to_string())?;
            let Some(base) = forge
                .branch_sha(project, &target)
                .await
                .map_err(forge_problem)?
            else {
                report.problems.push(format!(
                    "target branch `{target}` not found; its entries were not worked on"
                ));
                continue;
            };
            let checker = Checker {
                plugins: self.plugins,
                http: self.http.clone(),
                cache: self.cache.clone(),
                settings: &settings,
                now: self.now,
                concurrency: 16,
                applying: true,
            };
            let (results, tree) = self.check_at(&checker, project, &base, &settings).await?;
            let mut scope_problems: BTreeMap<String, Vec<String>> = BTreeMap::new();
            for r in &results {
                let failures = crate::report::failures(std::slice::from_ref(r), None);
                scope_problems
                    .entry(plan::scope_of_result(r, &settings))
                    .or_default()
                    .extend(failures.iter().cloned());
                report.problems.extend(failures);
            }
            let mut planned = plan::plan(&results, &settings, &self.operator.bot);
            let mut scopes = plan::scopes(&results, &settings);
            let lockfiles = self
                .read_lockfiles(project, &base, &results, &tree.links)
                .await?;
            let mut keep = std::collections::BTreeSet::new();
            let mut skipped = Vec::new();
            if let Some(advisories) = &self.advisories {
                let security = ProjectSettings::for_entries(Some(&repo), self.operator, &|e| {
                    security_entries.contains(&e.index)
                        && e.target_branch.clone().unwrap_or_else(|| default.clone()) == target
                })
                .map_err(|e| e.to_string())?;
                if security.entries().next().is_some() {
                    let pass = crate::security::fleet::Pass {
                        fleet: self,
                        advisories,
                        project,
                        base: &base,
                        settings: &security,
                    };
                    let sec = pass.plan().await?;
                    planned.extend(sec.changes);
                    scopes.extend(sec.scopes);
                    keep = sec.keep;
                    report.problems.extend(sec.problems);
                    skipped = sec.skipped;
                    // One open merge request per package: security and version updates
                    // of the same package are arbitrated before anything is opened.
                    let decided = crate::security::supersede::arbitrate(
                        &mut planned,
                        &existing,
                        &target,
                        &sec.vulnerable,
                        &keep,
                        self.plugins,
                    );
                    keep.extend(decided.keep);
                    skipped.extend(decided.reports);
                    for a in decided.annotate {
                        let current = existing.iter().find(|m| m.iid == a.iid);
                        if current.is_some_and(|m| {
                            m.title == a.title
                                && m.labels == a.labels
                                && m.description == a.description
                        }) {
                            continue;
                        }
                        let edit = crate::forge::MergeRequestEdit {
                            title: Some(a.title),
                            description: Some(a.description),
                            labels: Some(a.labels),
                            close: false,
                        };
                        forge
                            .edit_merge_request(project, a.iid, &edit)
                            .await
                            .map_err(forge_problem)?;
                    }
                }
            }
            if pass == Pass::Census {
                report.security_opens += planned
                    .iter()
                    .filter(|c| reconcile::takes_security_budget(c))
                    .filter(|c| {
                        !existing.iter().any(|m| {
                            m.state == crate::forge::MergeRequestState::Opened
                                && m.source_branch == c.branch
                                && m.target_branch == target
                        })
                    })
                    .count();
                continue;
            }
            let ctx = reconcile::Context {
                forge,
                checker: &checker,
                bot: &self.operator.bot,
                project,
                target: &target,
                base: &base,
                results: &results,
                lockfiles: &lockfiles,
                scopes: &scopes,
                keep: &keep,
                budget: &self.budget,
                opened_today: &opened_today,
            };
            let from = report.changes.len();
            report.changes.extend(skipped);
            ctx.reconcile(planned, &existing, report).await?;
            seen.scopes
                .extend(upkeep::scope_lines(report, from, &scope_problems, &scopes));
        }
        if pass == Pass::Census {
            return Ok(());
        }
        if self.operator.bot.persist_ignores {
            let head = forge
                .branch_sha(project, &project.default_branch)
                .await
                .map_err(forge_problem)?;
            if let Some(head) = head {
                if let Err(e) = self
                    .persist_ignores(
                        project,
                        persist::ConfigAt {
                            base: &head,
                            text: &text,
                            repo: &repo,
                            settings: &all,
                        },
                        &existing,
                        report,
                    )
                    .await
                {
                    report.problems.push(format!("recording ignores: {e}"));
                }
            }
        }
        // A dashboard that could not be written fails the project (its changes stay
        // reported): the next run writes it.
        if let Err(e) = self.dashboard_after(project, &all, seen, report).await {
            report.error.get_or_insert(format!("dashboard: {e}"));
        }
        Ok(())
    }

    /// Scan the manifests at `base` through the forge and decide every update.
    async fn check_at(
        &self,
        checker: &Checker<'_>,
        project: &Project,
        base: &str,
        settings: &ProjectSettings,
    ) -> Result<(Vec<ManifestResult>, crate::scan::Tree), String> {
        let tree = self
            .forge
            .files(project, base)
            .await
            .map_err(forge_problem)?;
        let manifests = self.scan_at(project, base, settings, &tree).await?;
        // Links too: a symlinked lockfile blocks its manifest's update (never read).
        let results = checker.check(manifests, &tree.all(), &|_, _, _| {}).await;
        Ok((results, tree))
    }

    /// The manifests at `base` that `settings` cover, read through the forge (symbolic
    /// links refused).
    pub(crate) async fn scan_at(
        &self,
        project: &Project,
        base: &str,
        settings: &ProjectSettings,
        tree: &crate::scan::Tree,
    ) -> Result<Vec<crate::scan::Manifest>, String> {
        let mut scan = Scan::new(self.plugins, &tree.files, settings);
        scan.refuse_links(&tree.links);
        loop {
            let batch = scan.pending();
            if batch.is_empty() {
                break;
            }
            let reads = futures::future::join_all(
                batch
                    .iter()
                    .map(|(path, _, _)| self.forge.read_file(project, base, path)),
            )
            .await;
            for ((path, manager, ecosystem), read) in batch.into_iter().zip(reads) {
                let content = match read {
                    Ok(Some(text)) => crate::scan::check_size(&path, text.len() as u64)
                        .map(|()| text)
                        .map_err(ManifestError::from),
                    Ok(None) => Err(ManifestError::new(&path, None, "listed but not readable")),
                    Err(e) => return Err(forge_problem(e)),
                };
                scan.add(&path, manager, ecosystem, content);
            }
        }
        Ok(scan.finish())
    }

    /// Lockfiles kept apart from their manifests, read once for the apply step (or why one
    /// cannot be: a symbolic link, over the size limit).
    async fn read_lockfiles(
        &self,
        project: &Project,
        base: &str,
        results: &[ManifestResult],
        links: &[String],
    ) -> Result<BTreeMap<String, Result<String, String>>, String> {
        let mut out = BTreeMap::new();
        for r in results {
            let Some((path, _)) = &r.lockfile else {
                continue;
            };
            // The lock, and the files its updater reads beside it (a workspace's other
            // manifests, the tool's settings).
            let wanted = std::iter::once(path).chain(&r.related_files);
            for path in wanted {
                if path == &r.manifest.path || out.contains_key(path) {
                    continue;
                }
                if links.contains(path) {
                    let refused = crate::scan::ReadError::Symlink {
                        path: path.clone(),
                        via: None,
                    };
                    out.insert(path.clone(), Err(refused.to_string()));
                    continue;
                }
                // A manifest of this run is already read (and checked).
                if let Some(m) = results.iter().find(|m| &m.manifest.path == path) {
                    if m.manifest.result.is_ok() {
                        out.insert(path.clone(), Ok(m.manifest.content.clone()));
                        continue;
                    }
                }
                if let Some(text) = self
                    .forge
                    .read_file(project, base, path)
                    .await
                    .map_err(forge_problem)?
                {
                    let checked = crate::scan::check_size(path, text.len() as u64)
                        .map(|()| text)
                        .map_err(|e| e.to_string());
                    out.insert(path.clone(), checked);
                }
            }
        }
        Ok(out)
    }
}

//! `updatebot serve`: the fleet run on the bot's own schedule in a long-lived process, one run
//! at a time, with health, readiness and Prometheus metrics over HTTP, GitLab comment
//! webhooks acted on at once, and a graceful stop that finishes the projects in hand.
//!
//! One worker task runs every job in turn, so two runs never overlap: a scheduled tick or a
//! manual run asked for while a full run is queued or going on is refused (and counted), as a
//! CronJob with `concurrencyPolicy: Forbid` would; webhook jobs (one project, one entry) queue.

pub mod metrics;
pub mod webhook;

use crate::config::OperatorConfig;
use crate::forge::{Forge, Project};
use crate::plugins::Plugins;
use crate::run::{registry_client, Fleet, FleetReport};
use crate::schedule::{Cron, Window};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use chrono::{DateTime, Utc};
use metrics::{Metrics, Trigger};
use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, Notify};
use webhook::Decision;

/// How the service runs.
pub struct ServeSettings {
    pub listen: SocketAddr,
    /// The bot's own schedule.
    pub schedule: Cron,
    /// Shared secret of `POST /webhook` (GitLab's `X-Gitlab-Token`) and `POST /run`
    /// (`Authorization: Bearer …`). Without it both endpoints are off.
    pub secret: Option<String>,
    /// Where each run reads vulnerability advisories (`None`: no security merge requests).
    pub advisories: Option<crate::security::fleet::AdvisorySource>,
}

/// What the worker does next.
enum Job {
    /// The schedule ticked at this instant.
    Scheduled(DateTime<Utc>),
    /// Someone asked for a forced run of the whole fleet.
    Manual,
    /// A command on a merge request: that project, the entry owning that scope.
    Focus { project: String, scope: String },
}

struct Shared {
    metrics: Metrics,
    /// A full run is queued or going on.
    busy: AtomicBool,
    /// Stop before the next project, take no new jobs.
    stop: Arc<AtomicBool>,
    stopped: Notify,
    jobs: mpsc::UnboundedSender<Job>,
    /// Webhook jobs queued and not yet done (one per project and scope).
    pending: Mutex<BTreeSet<(String, String)>>,
    last_report: Mutex<Option<Arc<FleetReport>>>,
    /// The last fleet listing failed: not ready.
    listing_error: Mutex<Option<String>>,
    secret: Option<String>,
    bot_user: String,
    branch_prefix: String,
}

impl Shared {
    fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
        match m.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Queue a full run unless one is queued or going on.
    fn offer_full_run(&self, job: Job, trigger: Trigger) -> bool {
        if self.stop.load(Ordering::SeqCst)
            || self
                .busy
                .compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst)
                .is_err()
        {
            self.metrics.run_refused(trigger);
            return false;
        }
        if self.jobs.send(job).is_err() {
            self.busy.store(false, Ordering::SeqCst);
            return false;
        }
        true
    }
}

/// A started service.
pub struct Running {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    done: tokio::task::JoinHandle<()>,
}

impl Running {
    /// Stop as on SIGTERM: no new work, the projects in hand finished, then the server
    /// closes. Returns the report of the last run.
    pub async fn shutdown(self) -> Option<Arc<FleetReport>> {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.stopped.notify_waiters();
        let _ = self.done.await;
        Shared::lock(&self.shared.last_report).clone()
    }

    /// Serve until SIGTERM or Ctrl-C, then shut down gracefully.
    pub async fn until_signal(self) {
        shutdown_signal().await;
        tracing::warn!("shutting down: finishing the projects in hand");
        if let Some(report) = self.shutdown().await {
            tracing::info!(run_id = %report.run_id, "last run: {}", report.summary().trim_end());
        }
    }
}

/// The worker's view: everything a run needs.
struct Worker {
    operator: Arc<OperatorConfig>,
    plugins: Arc<Plugins>,
    forge: Arc<dyn Forge>,
    schedule: Cron,
    shared: Arc<Shared>,
    /// The tick of the last scheduled run: the next one serves entries due since.
    last_tick: Option<DateTime<Utc>>,
    known: HashMap<String, Project>,
    advisories: Option<crate::security::fleet::AdvisorySource>,
}

impl Worker {
    async fn list(&mut self) -> Result<Vec<Project>, String> {
        let http = Arc::new(registry_client(&self.operator).map_err(|e| e.to_string())?);
        let fleet = Fleet::new(self.forge.as_ref(), &self.plugins, &self.operator, http);
        let listed = fleet.list().await;
        *Shared::lock(&self.shared.listing_error) = listed.as_ref().err().cloned();
        let projects = listed?;
        self.known = projects
            .iter()
            .map(|p| (p.path.clone(), p.clone()))
            .collect();
        Ok(projects)
    }

    async fn job(&mut self, job: Job) {
        let http = match registry_client(&self.operator) {
            Ok(h) => Arc::new(h),
            Err(e) => {
                tracing::error!("cannot make the HTTP client: {e}");
                self.shared.busy.store(false, Ordering::SeqCst);
                return;
            }
        };
        let now = Utc::now();
        let (trigger, window, focus, only) = match &job {
            Job::Scheduled(tick) => {
                let from = self
                    .last_tick
                    .or_else(|| self.schedule.previous(*tick - chrono::Duration::seconds(1)))
                    .unwrap_or(*tick - chrono::Duration::days(1));
                self.last_tick = Some(*tick);
                (Trigger::Schedule, Window::Between(from, now), None, None)
            }
            Job::Manual => (Trigger::Manual, Window::Always, None, None),
            Job::Focus { project, scope } => {
                Shared::lock(&self.shared.pending).remove(&(project.clone(), scope.clone()));
                if !self.known.contains_key(project) {
                    // A project new to the fleet since the last listing?
                    let _ = self.list().await;
                }
                let Some(found) = self.known.get(project).cloned() else {
                    tracing::warn!(project, "webhook for a project outside the fleet: ignored");
                    self.shared.metrics.webhook("outside-fleet");
                    return;
                };
                (
                    Trigger::Webhook,
                    Window::Always,
                    Some([scope.clone()].into_iter().collect()),
                    Some(found),
                )
            }
        };
        let full = only.is_none();
        self.shared.metrics.run_started();
        let projects = match only {
            Some(project) => Ok(vec![project]),
            None => self.list().await,
        };
        // Advisories are read afresh by every run (its cache lives as long as the run).
        let advisories = self.advisories.as_ref().and_then(|source| {
            source
                .open(
                    http.clone(),
                    std::time::Duration::from_secs(u64::from(self.operator.http.timeout_seconds)),
                    self.operator.http.retries,
                )
                .map_err(|e| tracing::error!("security updates are off for this run: {e}"))
                .ok()
        });
        let mut fleet = Fleet::new(self.forge.as_ref(), &self.plugins, &self.operator, http);
        fleet.advisories = advisories.map(Arc::new);
        fleet.now = now;
        fleet.window = window;
        fleet.focus = focus;
        fleet.stop = Some(self.shared.stop.clone());
        let span = tracing::info_span!("run", run_id = %fleet.run_id, trigger = trigger.as_str());
        let report = tracing::Instrument::instrument(
            async {
                match projects {
                    Ok(projects) => fleet.run_listed(projects).await,
                    Err(e) => {
                        let mut report = fleet.run_listed(Vec::new()).await;
                        report.error = Some(e);
                        report
                    }
                }
            },
            span,
        )
        .await;
        tracing::info!(
            run_id = %report.run_id,
            projects = report.projects.len(),
            failed = report.failed(),
            "run finished"
        );
        self.shared.metrics.run_finished(trigger, &report);
        *Shared::lock(&self.shared.last_report) = Some(Arc::new(report));
        if full {
            self.shared.busy.store(false, Ordering::SeqCst);
        }
    }
}

/// Start serving: the HTTP endpoints, the schedule and the worker.
pub async fn start(
    settings: ServeSettings,
    operator: Arc<OperatorConfig>,
    plugins: Arc<Plugins>,
    forge: Arc<dyn Forge>,
) -> std::io::Result<Running> {
    let listener = tokio::net::TcpListener::bind(settings.listen).await?;
    let addr = listener.local_addr()?;
    let (jobs, mut queue) = mpsc::unbounded_channel();
    let shared = Arc::new(Shared {
        metrics: Metrics::new(),
        busy: AtomicBool::new(false),
        stop: Arc::new(AtomicBool::new(false)),
        stopped: Notify::new(),
        jobs,
        pending: Mutex::new(BTreeSet::new()),
        last_report: Mutex::new(None),
        listing_error: Mutex::new(None),
        secret: settings.secret.filter(|s| !s.is_empty()),
        bot_user: forge.bot_user().to_string(),
        branch_prefix: operator.bot.branch_prefix.clone(),
    });
    let mut worker = Worker {
        operator,
        plugins,
        forge,
        schedule: settings.schedule.clone(),
        shared: shared.clone(),
        last_tick: None,
        known: HashMap::new(),
        advisories: settings.advisories.clone(),
    };
    let worker_task = tokio::spawn(async move {
        if let Err(e) = worker.list().await {
            tracing::error!("{e}");
        }
        while let Some(job) = queue.recv().await {
            if worker.shared.stop.load(Ordering::SeqCst) {
                break;
            }
            worker.job(job).await;
        }
    });
    let schedule = settings.schedule;
    let ticker_shared = shared.clone();
    let ticker = tokio::spawn(async move {
        loop {
            let Some(next) = schedule.after(Utc::now()).next() else {
                tracing::warn!("the bot's schedule never fires again");
                return;
            };
            let wait = (next - Utc::now()).to_std().unwrap_or_default();
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = ticker_shared.stopped.notified() => return,
            }
            if ticker_shared.stop.load(Ordering::SeqCst) {
                return;
            }
            if !ticker_shared.offer_full_run(Job::Scheduled(next), Trigger::Schedule) {
                tracing::warn!(tick = %next, "a run is still going on: this tick is skipped");
            }
        }
    });
    let app = Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .route("/report", get(last_report))
        .route("/run", post(run_now))
        .route("/webhook", post(hook))
        .with_state(shared.clone());
    let server_shared = shared.clone();
    let done = tokio::spawn(async move {
        let stopping = async move {
            while !server_shared.stop.load(Ordering::SeqCst) {
                let notified = server_shared.stopped.notified();
                if server_shared.stop.load(Ordering::SeqCst) {
                    break;
                }
                notified.await;
            }
            ticker.abort();
            // Wake the worker so it sees the stop, and wait for the project in hand.
            let _ = server_shared.jobs.send(Job::Manual);
            let _ = worker_task.await;
        };
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(stopping)
            .await
        {
            tracing::error!("the HTTP server stopped: {e}");
        }
    });
    Ok(Running { addr, shared, done })
}

async fn readyz(State(shared): State<Arc<Shared>>) -> Response {
    if shared.stop.load(Ordering::SeqCst) {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n").into_response();
    }
    match Shared::lock(&shared.listing_error).clone() {
        Some(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("{e}\n")).into_response(),
        None => "ready\n".into_response(),
    }
}

async fn metrics_text(State(shared): State<Arc<Shared>>) -> Response {
    (
        [("content-type", "text/plain; version=0.0.4")],
        shared.metrics.render(),
    )
        .into_response()
}

async fn last_report(State(shared): State<Arc<Shared>>) -> Response {
    match Shared::lock(&shared.last_report).clone() {
        Some(report) => (
            [("content-type", "application/json")],
            serde_json::to_string_pretty(report.as_ref()).unwrap_or_default(),
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no run has finished yet\n").into_response(),
    }
}

fn presented<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h [u8]> {
    headers.get(name).map(|v| v.as_bytes())
}

async fn run_now(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    let Some(secret) = &shared.secret else {
        return (
            StatusCode::NOT_FOUND,
            "manual runs are off (no secret configured)\n",
        )
            .into_response();
    };
    let token = presented(&headers, "authorization")
        .and_then(|v| v.strip_prefix(b"Bearer "))
        .unwrap_or_default();
    if !webhook::same_secret(token, secret.as_bytes()) {
        return (StatusCode::UNAUTHORIZED, "wrong or missing token\n").into_response();
    }
    if shared.offer_full_run(Job::Manual, Trigger::Manual) {
        (StatusCode::ACCEPTED, "run started\n").into_response()
    } else {
        (
            StatusCode::CONFLICT,
            "a run is already queued or going on\n",
        )
            .into_response()
    }
}

async fn hook(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(secret) = &shared.secret else {
        return (
            StatusCode::NOT_FOUND,
            "webhooks are off (no secret configured)\n",
        )
            .into_response();
    };
    let token = presented(&headers, "x-gitlab-token").unwrap_or_default();
    if !webhook::same_secret(token, secret.as_bytes()) {
        shared.metrics.webhook("unauthorized");
        return (
            StatusCode::UNAUTHORIZED,
            "wrong or missing X-Gitlab-Token\n",
        )
            .into_response();
    }
    match webhook::decide(&body, &shared.bot_user, &shared.branch_prefix) {
        Err(e) => {
            shared.metrics.webhook("invalid");
            (StatusCode::BAD_REQUEST, format!("{e}\n")).into_response()
        }
        Ok(Decision::Ignore(why)) => {
            shared.metrics.webhook("ignored");
            (StatusCode::OK, format!("ignored: {why}\n")).into_response()
        }
        Ok(Decision::Act { project, scope }) => {
            if shared.stop.load(Ordering::SeqCst) {
                return (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n").into_response();
            }
            let fresh = Shared::lock(&shared.pending).insert((project.clone(), scope.clone()));
            if fresh && shared.jobs.send(Job::Focus { project, scope }).is_err() {
                return (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n").into_response();
            }
            shared.metrics.webhook("accepted");
            (StatusCode::ACCEPTED, "queued\n").into_response()
        }
    }
}

/// SIGTERM (Kubernetes stopping the pod) or Ctrl-C.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

//! The `updatebot` command line.

use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use updatebot::check::{Checker, ManifestResult};
use updatebot::config::{self, ConfigErrors, OperatorConfig, RepoConfig};
use updatebot::forge::gitlab::GitlabForge;
use updatebot::forge::local::LocalForge;
use updatebot::forge::Forge;
use updatebot::plugins::Plugins;
use updatebot::project::ProjectSettings;
use updatebot::run::{Fleet, Shard};
use updatebot::scan;
use updatebot::schedule::{self, Window};
use updatebot::security::{self, fleet::AdvisorySource};
use updatebot::{apply, report, workbench};
use updatebot_advisory::Advisories;
use updatebot_core::http::HttpClient;
use updatebot_core::registry::LookupCache;

/// Exit codes (also in the README).
const EXIT_OK: u8 = 0;
/// The command ran, but something failed: a manifest that could not be read, a registry
/// that could not answer, an update that could not be applied, or a config with problems.
const EXIT_PARTIAL: u8 = 1;
/// The command could not run: bad arguments, unreadable path or configuration.
const EXIT_USAGE: u8 = 2;
/// `audit`: nothing vulnerable was found, but something could not be checked.
const EXIT_INCOMPLETE: u8 = 3;

#[derive(Parser)]
#[command(
    name = "updatebot",
    version,
    about = "A dependency-update bot for self-hosted GitLab"
)]
struct Cli {
    /// Log lines on stderr as text or as JSON objects (one per line, for log collectors).
    /// The level comes from UPDATEBOT_LOG (default `warn`).
    #[arg(long, value_enum, default_value = "text", global = true)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Table,
    Json,
}

/// Where vulnerability advisories come from (`audit`, `run`, `serve`).
#[derive(clap::Args, Clone, Default)]
struct OsvArgs {
    /// Base URL of an OSV API (`/v1/querybatch`, `/v1/vulns/ID`): a mirror or an export
    /// serving it. Else UPDATEBOT_OSV_URL, else the public OSV API.
    #[arg(long, value_name = "URL")]
    osv_url: Option<String>,
    /// Read advisories from an OSV data dump (the per-ecosystem `all.zip` archives
    /// unzipped, `DIR/npm/*.json`, `DIR/PyPI/*.json`) instead of an API: no network.
    /// Else UPDATEBOT_OSV_DIR.
    #[arg(long, value_name = "DIR", conflicts_with = "osv_url")]
    osv_dir: Option<PathBuf>,
}

impl OsvArgs {
    fn source(&self) -> Result<AdvisorySource> {
        AdvisorySource::choose(self.osv_url.clone(), self.osv_dir.clone(), &|name| {
            std::env::var(name).ok()
        })
        .map_err(|e| anyhow::anyhow!(e))
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum SchemeName {
    Pep440,
    Poetry,
    Npm,
    Docker,
}

#[derive(Subcommand)]
enum ScheduleCommand {
    /// Print the next fire times of every entry of a `.updatebot.yml`.
    Explain {
        file: PathBuf,
        /// How many fire times per entry.
        #[arg(long, default_value_t = 3)]
        count: usize,
        /// Operator configuration: its default schedule and the bot's own schedule (which
        /// run serves each fire time).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Start from this instant (RFC 3339) instead of now.
        #[arg(long, value_name = "TIME")]
        from: Option<String>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// List the dependencies of every supported manifest under PATH (no network).
    Extract {
        /// A checkout (its `.updatebot.yml`, if any, limits which directories are read).
        path: PathBuf,
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// Look up the registries and show the update each dependency would get, or why none.
    Check {
        path: PathBuf,
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
        /// Operator configuration (registries, credentials, defaults).
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Write the proposed updates into the working tree (manifests and lockfiles).
    Update {
        path: PathBuf,
        #[arg(long)]
        config: Option<PathBuf>,
        /// Print a unified diff instead of writing.
        #[arg(long)]
        dry_run: bool,
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// List the vulnerable installed packages of a checkout (every locked version, transitive
    /// ones too; pinned versions where there is no lockfile) with the fix each would get, or
    /// why there is none. Exit code 0: none found; 1: vulnerable packages found; 3: none
    /// found, but something could not be checked.
    Audit {
        path: PathBuf,
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
        /// Operator configuration (registries, credentials, defaults).
        #[arg(long)]
        config: Option<PathBuf>,
        #[command(flatten)]
        osv: OsvArgs,
    },
    /// Versioning workbench: JSON requests on stdin, one JSON answer line each.
    ///
    /// Requests: {"op":"valid","version":V}, {"op":"compare","a":A,"b":B},
    /// {"op":"satisfies","range":R,"version":V}, {"op":"latest","current":C,"candidates":[..]}.
    Versions {
        #[arg(long, value_enum)]
        scheme: SchemeName,
    },
    /// The fleet run: open, refresh and close merge requests for every project of the
    /// operator config's fleet on GitLab, or (with --local) for one local git repository.
    Run {
        /// Operator configuration (GitLab, fleet, registries, credentials, defaults).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Work on this local git repository instead of GitLab: branches and commits are
        /// real, merge requests are written under `.git/updatebot/`.
        #[arg(long, value_name = "PATH")]
        local: Option<PathBuf>,
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
        /// Ignore schedules: every entry is due.
        #[arg(long)]
        force: bool,
        /// Work on one of N disjoint shares of the fleet (`I/N`, 0-based). In a Kubernetes
        /// Indexed Job it comes from JOB_COMPLETION_INDEX and JOB_COMPLETIONS by itself.
        #[arg(long, value_name = "I/N")]
        shard: Option<String>,
        /// Also write the run report (JSON) to this file.
        #[arg(long, value_name = "FILE")]
        report: Option<PathBuf>,
        #[command(flatten)]
        osv: OsvArgs,
    },
    /// Run the fleet on the bot's own schedule (`bot.schedule`) in a long-lived process, one
    /// run at a time, with /healthz, /readyz, /metrics (Prometheus), /report (the last run's
    /// report), and, when UPDATEBOT_WEBHOOK_SECRET is set, POST /webhook (GitLab comment
    /// events, `X-Gitlab-Token`) and POST /run (a forced run, `Authorization: Bearer`).
    /// SIGTERM finishes the projects in hand, then exits.
    Serve {
        /// Operator configuration (GitLab, fleet, registries, credentials, defaults).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Work on this local git repository instead of GitLab.
        #[arg(long, value_name = "PATH")]
        local: Option<PathBuf>,
        /// Address of the HTTP endpoints.
        #[arg(long, default_value = "0.0.0.0:8080")]
        listen: std::net::SocketAddr,
        #[command(flatten)]
        osv: OsvArgs,
    },
    /// Schedules: `schedule explain FILE` prints the next times each entry of a
    /// `.updatebot.yml` is due.
    Schedule {
        #[command(subcommand)]
        command: ScheduleCommand,
    },
    /// Validate a `.updatebot.yml` (or, with --operator, an operator config) and print every
    /// problem with its line.
    Validate {
        file: PathBuf,
        /// FILE is an operator configuration (its secrets are read from env/files too).
        #[arg(long)]
        operator: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = || {
        tracing_subscriber::EnvFilter::try_from_env("UPDATEBOT_LOG")
            .unwrap_or_else(|_| "warn".into())
    };
    let json_logs = matches!(cli.log_format, LogFormat::Json);
    match cli.log_format {
        LogFormat::Text => tracing_subscriber::fmt()
            .with_env_filter(filter())
            .with_writer(std::io::stderr)
            .init(),
        LogFormat::Json => tracing_subscriber::fmt()
            .json()
            .with_env_filter(filter())
            .with_writer(std::io::stderr)
            .init(),
    }
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            let text = match e.downcast_ref::<BadConfig>() {
                Some(bad) => bad.to_string(),
                None => format!("error: {e:#}"),
            };
            if json_logs {
                // One JSON line like every other, whatever the log level allows.
                let line = serde_json::json!({
                    "timestamp": chrono::Utc::now().to_rfc3339(),
                    "level": "ERROR",
                    "fields": {"message": text},
                    "target": "updatebot",
                });
                eprintln!("{line}");
            } else {
                eprintln!("{text}");
            }
            ExitCode::from(EXIT_USAGE)
        }
    }
}

fn run(cli: Cli) -> Result<u8> {
    match cli.command {
        Command::Extract { path, format } => extract(&path, format),
        Command::Check {
            path,
            format,
            config,
        } => check(&path, format, config.as_deref(), None),
        Command::Update {
            path,
            config,
            dry_run,
            format,
        } => check(&path, format, config.as_deref(), Some(dry_run)),
        Command::Versions { scheme } => {
            let name = match scheme {
                SchemeName::Pep440 => "pep440",
                SchemeName::Poetry => "poetry",
                SchemeName::Npm => "npm",
                SchemeName::Docker => "docker",
            };
            let scheme = workbench::scheme(name).context("unknown scheme")?;
            workbench::run(scheme, std::io::stdin().lock(), std::io::stdout().lock())?;
            Ok(EXIT_OK)
        }
        Command::Audit {
            path,
            format,
            config,
            osv,
        } => audit(&path, format, config.as_deref(), &osv),
        Command::Validate { file, operator } => validate(&file, operator),
        Command::Serve {
            config,
            local,
            listen,
            osv,
        } => serve(
            config.as_deref(),
            local.as_deref(),
            listen,
            cli.log_format,
            &osv,
        ),
        Command::Schedule {
            command:
                ScheduleCommand::Explain {
                    file,
                    count,
                    config,
                    from,
                },
        } => explain_schedule(&file, count, config.as_deref(), from.as_deref()),
        Command::Run {
            config,
            local,
            format,
            force,
            shard,
            report,
            osv,
        } => fleet_run(
            config.as_deref(),
            local.as_deref(),
            format,
            &RunOptions {
                force,
                shard,
                report,
                osv,
            },
        ),
    }
}

fn ensure_dir(path: &Path) -> Result<()> {
    let meta =
        std::fs::metadata(path).with_context(|| format!("cannot read `{}`", path.display()))?;
    anyhow::ensure!(meta.is_dir(), "`{}` is not a directory", path.display());
    Ok(())
}

/// A configuration that could not be used: its problems, each prefixed with the file.
#[derive(Debug)]
struct BadConfig(String);

impl std::fmt::Display for BadConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadConfig {}

fn located(file: &Path, errors: &ConfigErrors) -> String {
    errors
        .problems
        .iter()
        .map(|p| format!("{}:{}:{}: {}", file.display(), p.line, p.column, p.message))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The operator config at `file`, secrets read from the environment and from files (relative
/// paths are relative to the config file). No file: an empty config.
fn operator_config(file: Option<&Path>) -> Result<OperatorConfig> {
    let Some(file) = file else {
        return config::load_operator_config("{}", &|_| None, &|_| Ok(String::new()))
            .map_err(|e| anyhow::anyhow!("{e}"));
    };
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("cannot read `{}`", file.display()))?;
    let base = file.parent().unwrap_or(Path::new(".")).to_path_buf();
    config::load_operator_config(&text, &|name| std::env::var(name).ok(), &|p| {
        std::fs::read_to_string(base.join(p))
    })
    .map_err(|e| BadConfig(located(file, &e)).into())
}

/// The checkout's `.updatebot.yml`, if it has one.
fn repo_config(root: &Path) -> Result<Option<RepoConfig>> {
    let file = root.join(config::REPO_CONFIG_FILE);
    if std::fs::symlink_metadata(&file).is_err() {
        return Ok(None);
    }
    // Inside the checkout, not a symbolic link, bounded.
    let text = scan::read_repo_file(root, config::REPO_CONFIG_FILE)
        .map_err(|e| BadConfig(format!("{}: {e}", file.display())))?;
    let repo = config::parse_repo_config(&text).map_err(|e| BadConfig(located(&file, &e)))?;
    let problems = updatebot::project::range_problems(&repo);
    if !problems.is_empty() {
        return Err(BadConfig(located(&file, &ConfigErrors { problems })).into());
    }
    for warning in &repo.warnings {
        eprintln!(
            "{}:{}:{}: warning: {}",
            file.display(),
            warning.line,
            warning.column,
            warning.message
        );
    }
    Ok(Some(repo))
}

fn project_settings(root: &Path, operator: &OperatorConfig) -> Result<ProjectSettings> {
    let repo = repo_config(root)?;
    ProjectSettings::new(repo.as_ref(), operator)
        .map_err(|e| BadConfig(located(&root.join(config::REPO_CONFIG_FILE), &e)).into())
}

/// An HTTP client carrying the operator's credentials, each for its own origin only.
fn http_client(operator: &OperatorConfig) -> Result<HttpClient> {
    Ok(updatebot::run::registry_client(operator)?)
}

fn extract(path: &Path, format: Format) -> Result<u8> {
    ensure_dir(path)?;
    let plugins = Plugins::standard();
    let settings = project_settings(path, &operator_config(None)?)?;
    let manifests = scan::scan_dir(&plugins, path, &settings)
        .with_context(|| format!("cannot scan `{}`", path.display()))?;
    match format {
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&report::extract_json(&manifests))?
        ),
        Format::Table => print!("{}", report::extract_table(&manifests)),
    }
    Ok(if manifests.iter().any(|m| m.result.is_err()) {
        EXIT_PARTIAL
    } else {
        EXIT_OK
    })
}

/// `check`, and `update` when `update` is `Some(dry_run)`.
fn check(path: &Path, format: Format, config: Option<&Path>, update: Option<bool>) -> Result<u8> {
    ensure_dir(path)?;
    let plugins = Plugins::standard();
    let operator = operator_config(config)?;
    let settings = project_settings(path, &operator)?;
    // Symbolic links too: a symlinked lockfile blocks its manifest's update (never read).
    let files = scan::list_tree(path)
        .with_context(|| format!("cannot scan `{}`", path.display()))?
        .all();
    let manifests = scan::scan_dir(&plugins, path, &settings)?;
    let http = Arc::new(http_client(&operator)?);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let checker = Checker {
        plugins: &plugins,
        http,
        cache: Arc::new(LookupCache::new()),
        settings: &settings,
        now: chrono::Utc::now(),
        concurrency: 16,
        applying: update.is_some(),
    };
    let progress = Progress::new();
    let results: Vec<ManifestResult> =
        runtime.block_on(checker.check(manifests, &files, &|done, total, package| {
            progress.tick(done, total, package)
        }));
    progress.finish();
    let applied = match update {
        None => None,
        Some(dry_run) => {
            let read = |p: &str| scan::read_repo_file(path, p).map_err(|e| e.to_string());
            let applied = runtime.block_on(apply::apply(&checker, &results, &read));
            if dry_run {
                print!("{}", apply::unified_diff(&applied.changes));
            } else {
                apply::write_changes(path, &applied.changes)?;
            }
            Some(applied)
        }
    };
    let dry_run = update == Some(true);
    match format {
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&report::check_json(&results, applied.as_ref()))?
        ),
        Format::Table if dry_run => {
            // The diff is on stdout; what could not be done goes to stderr.
            for line in report::failures(&results, applied.as_ref()) {
                eprintln!("{line}");
            }
        }
        Format::Table => {
            print!("{}", report::check_table(&results));
            if let Some(applied) = &applied {
                for u in &applied.updates {
                    match &u.result {
                        Ok(()) => println!(
                            "updated {} to {} in {}",
                            u.dependency, u.new_version, u.manifest
                        ),
                        Err(e) => println!(
                            "failed {} {} in {}: {e}",
                            u.dependency, u.new_version, u.manifest
                        ),
                    }
                }
            }
        }
    }
    Ok(if report::has_errors(&results, applied.as_ref()) {
        EXIT_PARTIAL
    } else {
        EXIT_OK
    })
}

/// The advisories of one command or run, with the operator's HTTP timeout and retries.
fn open_advisories(
    source: &AdvisorySource,
    operator: &OperatorConfig,
    http: Arc<HttpClient>,
) -> Result<Advisories> {
    Ok(source.open(
        http,
        std::time::Duration::from_secs(u64::from(operator.http.timeout_seconds)),
        operator.http.retries,
    )?)
}

/// `audit`: exit 0 when nothing vulnerable was found, [`EXIT_PARTIAL`] when something was,
/// [`EXIT_INCOMPLETE`] when nothing was but a lockfile or record could not be read.
fn audit(path: &Path, format: Format, config: Option<&Path>, osv: &OsvArgs) -> Result<u8> {
    ensure_dir(path)?;
    let plugins = Plugins::standard();
    let operator = operator_config(config)?;
    let settings = project_settings(path, &operator)?;
    let files =
        scan::list_files(path).with_context(|| format!("cannot scan `{}`", path.display()))?;
    let manifests = scan::scan_dir(&plugins, path, &settings)
        .with_context(|| format!("cannot scan `{}`", path.display()))?;
    let mut locks = std::collections::BTreeMap::new();
    let mut unreadable = Vec::new();
    for lock in security::inventory::lockfiles(&plugins, &manifests, &files) {
        match std::fs::read_to_string(path.join(&lock)) {
            Ok(text) => {
                locks.insert(lock, text);
            }
            Err(e) => unreadable.push(format!("{lock}: {e}")),
        }
    }
    let http = Arc::new(http_client(&operator)?);
    let advisories = open_advisories(&osv.source()?, &operator, http.clone())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let checker = Checker {
        plugins: &plugins,
        http,
        cache: Arc::new(LookupCache::new()),
        settings: &settings,
        now: chrono::Utc::now(),
        concurrency: 16,
        applying: false,
    };
    let mut found = runtime
        .block_on(security::audit(
            &checker,
            &manifests,
            &files,
            &locks,
            &advisories,
        ))
        .context("cannot read the advisories")?;
    found.problems.extend(unreadable);
    found.problems.extend(
        manifests
            .iter()
            .filter_map(|m| m.result.as_ref().err().map(|e| format!("{}: {e}", m.path))),
    );
    match format {
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&security::output::json(&found))?
        ),
        Format::Table => print!("{}", security::output::table(&found)),
    }
    Ok(if !found.findings.is_empty() {
        EXIT_PARTIAL
    } else if found.incomplete() {
        EXIT_INCOMPLETE
    } else {
        EXIT_OK
    })
}

/// The knobs of one `run`.
struct RunOptions {
    force: bool,
    shard: Option<String>,
    report: Option<PathBuf>,
    osv: OsvArgs,
}

/// The share of the fleet this process works on: `--shard`, else a Kubernetes Indexed Job's
/// JOB_COMPLETION_INDEX / JOB_COMPLETIONS, else all of it.
fn shard_of(flag: Option<&str>, env: &dyn Fn(&str) -> Option<String>) -> Result<Shard> {
    let text = match flag {
        Some(text) => text.to_string(),
        None => match (env("JOB_COMPLETION_INDEX"), env("JOB_COMPLETIONS")) {
            (Some(i), Some(n)) => format!("{i}/{n}"),
            _ => return Ok(Shard::ALL),
        },
    };
    Shard::parse(&text)
        .ok_or_else(|| anyhow::anyhow!("invalid shard `{text}`: expected I/N with 0 <= I < N"))
}

/// Which entries this run serves: all with --force or without a bot schedule, else those
/// whose schedule fired since the bot's previous tick.
fn run_window(
    operator: &config::OperatorConfig,
    force: bool,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Window> {
    if force {
        return Ok(Window::Always);
    }
    match &operator.bot.schedule {
        None => Ok(Window::Always),
        Some(expression) => {
            let tz = schedule::time_zone(operator.bot.timezone.as_deref())?;
            let cron = schedule::Cron::parse(expression, tz)?;
            Ok(Window::since_previous_tick(&cron, now))
        }
    }
}

fn fleet_run(
    config: Option<&Path>,
    local: Option<&Path>,
    format: Format,
    options: &RunOptions,
) -> Result<u8> {
    let operator = operator_config(config)?;
    let shard = shard_of(options.shard.as_deref(), &|name| std::env::var(name).ok())?;
    let now = chrono::Utc::now();
    let window = run_window(&operator, options.force, now)?;
    let plugins = Plugins::standard();
    let http = Arc::new(http_client(&operator)?);
    let advisories = open_advisories(&options.osv.source()?, &operator, http.clone())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let report = runtime.block_on(async {
        let forge = connect_forge(&operator, local, http.clone()).await?;
        let mut fleet = Fleet::new(forge.as_ref(), &plugins, &operator, http.clone());
        fleet.now = now;
        fleet.window = window;
        fleet.shard = shard;
        fleet.advisories = Some(Arc::new(advisories));
        // SIGTERM (a pod being stopped) or Ctrl-C: finish the projects in hand, then stop.
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        fleet.stop = Some(stop.clone());
        tokio::spawn(async move {
            updatebot::serve::shutdown_signal().await;
            tracing::warn!("shutting down: finishing the projects in hand");
            stop.store(true, std::sync::atomic::Ordering::SeqCst);
        });
        let span = tracing::info_span!("run", run_id = %fleet.run_id);
        anyhow::Ok(tracing::Instrument::instrument(fleet.run(), span).await)
    })?;
    if let Some(path) = &options.report {
        std::fs::write(path, serde_json::to_string_pretty(&report)?)
            .with_context(|| format!("cannot write the report to `{}`", path.display()))?;
    }
    match format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&report)?),
        Format::Table => print!("{}", report.summary()),
    }
    Ok(if report.failed() {
        EXIT_PARTIAL
    } else {
        EXIT_OK
    })
}

fn serve(
    config: Option<&Path>,
    local: Option<&Path>,
    listen: std::net::SocketAddr,
    log_format: LogFormat,
    osv: &OsvArgs,
) -> Result<u8> {
    let operator = operator_config(config)?;
    let advisories = osv.source()?;
    let Some(expression) = operator.bot.schedule.clone() else {
        anyhow::bail!(
            "serve needs the bot's own schedule: set `bot.schedule` (a crontab line) in the operator config"
        );
    };
    let schedule = schedule::Cron::parse(
        &expression,
        schedule::time_zone(operator.bot.timezone.as_deref())?,
    )?;
    let secret = std::env::var("UPDATEBOT_WEBHOOK_SECRET").ok();
    let http = Arc::new(http_client(&operator)?);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let forge: Arc<dyn Forge> = Arc::from(connect_forge(&operator, local, http).await?);
        let settings = updatebot::serve::ServeSettings {
            listen,
            schedule,
            secret,
            advisories: Some(advisories),
        };
        let running = updatebot::serve::start(
            settings,
            Arc::new(operator),
            Arc::new(Plugins::standard()),
            forge,
        )
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
        tracing::info!(addr = %running.addr, "serving");
        // With JSON logs every line of stderr is a JSON object (log collectors parse them):
        // the address is in the `serving` event above.
        if matches!(log_format, LogFormat::Text) {
            eprintln!("updatebot: serving on {}", running.addr);
        }
        running.until_signal().await;
        anyhow::Ok(())
    })?;
    Ok(EXIT_OK)
}

/// The forge a fleet run works on: GitLab, or a local repository with `--local`.
async fn connect_forge(
    operator: &OperatorConfig,
    local: Option<&Path>,
    http: Arc<HttpClient>,
) -> Result<Box<dyn Forge>> {
    Ok(match local {
        Some(path) => Box::new(LocalForge::open(path).await?),
        None => {
            let gitlab = operator.gitlab.as_ref().ok_or_else(|| {
                anyhow::anyhow!("the operator config has no `gitlab` section (or use --local PATH)")
            })?;
            Box::new(GitlabForge::connect(gitlab, &operator.bot, http).await?)
        }
    })
}

fn explain_schedule(
    file: &Path,
    count: usize,
    config: Option<&Path>,
    from: Option<&str>,
) -> Result<u8> {
    let operator = operator_config(config)?;
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("cannot read `{}`", file.display()))?;
    let repo = config::parse_repo_config(&text).map_err(|e| BadConfig(located(file, &e)))?;
    let settings =
        ProjectSettings::new(Some(&repo), &operator).map_err(|e| BadConfig(located(file, &e)))?;
    let now = match from {
        Some(t) => chrono::DateTime::parse_from_rfc3339(t)
            .with_context(|| format!("invalid --from `{t}` (expected RFC 3339)"))?
            .with_timezone(&chrono::Utc),
        None => chrono::Utc::now(),
    };
    let bot = match &operator.bot.schedule {
        Some(expression) => Some(schedule::Cron::parse(
            expression,
            schedule::time_zone(operator.bot.timezone.as_deref())?,
        )?),
        None => None,
    };
    let entries: Vec<_> = settings.entries().collect();
    print!("{}", schedule::explain(&entries, bot.as_ref(), now, count)?);
    Ok(EXIT_OK)
}

fn validate(file: &Path, operator: bool) -> Result<u8> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("cannot read `{}`", file.display()))?;
    let outcome = if operator {
        let base = file.parent().unwrap_or(Path::new(".")).to_path_buf();
        config::load_operator_config(&text, &|name| std::env::var(name).ok(), &|p| {
            std::fs::read_to_string(base.join(p))
        })
        .map(|_| Vec::new())
    } else {
        config::parse_repo_config(&text).and_then(|repo| {
            let problems = updatebot::project::range_problems(&repo);
            if problems.is_empty() {
                Ok(repo.warnings)
            } else {
                Err(ConfigErrors { problems })
            }
        })
    };
    match outcome {
        Ok(warnings) => {
            for w in &warnings {
                println!(
                    "{}:{}:{}: warning: {}",
                    file.display(),
                    w.line,
                    w.column,
                    w.message
                );
            }
            println!("{}: valid", file.display());
            Ok(EXIT_OK)
        }
        Err(errors) => {
            println!("{}", located(file, &errors));
            Ok(EXIT_PARTIAL)
        }
    }
}

/// A progress bar on a terminal, plain lines otherwise.
struct Progress {
    bar: Option<indicatif::ProgressBar>,
}

impl Progress {
    fn new() -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new(0);
            bar.set_style(
                indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} {msg}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            bar
        });
        Progress { bar }
    }

    fn tick(&self, done: usize, total: usize, package: &str) {
        match &self.bar {
            Some(bar) => {
                bar.set_length(total as u64);
                bar.set_position(done as u64);
                bar.set_message(package.to_string());
            }
            None => eprintln!("looked up {done}/{total}: {package}"),
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

//! The `updatebot` command line.

use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use updatebot::check::{Checker, Defaults, ManifestResult, Settings};
use updatebot::plugins::Plugins;
use updatebot::scan::{self, Coverage, Everything};
use updatebot::{apply, report, workbench};
use updatebot_core::http::{HttpClient, HttpOptions};
use updatebot_core::registry::LookupCache;

/// Exit codes (also in the README).
const EXIT_OK: u8 = 0;
/// The command ran, but something failed: a manifest that could not be read, a registry
/// that could not answer, an update that could not be applied, or a config with problems.
const EXIT_PARTIAL: u8 = 1;
/// The command could not run: bad arguments, unreadable path or configuration.
const EXIT_USAGE: u8 = 2;

#[derive(Parser)]
#[command(
    name = "updatebot",
    version,
    about = "A dependency-update bot for self-hosted GitLab"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Table,
    Json,
}

#[derive(Clone, Copy, ValueEnum)]
enum SchemeName {
    Pep440,
    Poetry,
    Npm,
    Docker,
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
    /// Versioning workbench: JSON requests on stdin, one JSON answer line each.
    ///
    /// Requests: {"op":"valid","version":V}, {"op":"compare","a":A,"b":B},
    /// {"op":"satisfies","range":R,"version":V}, {"op":"latest","current":C,"candidates":[..]}.
    Versions {
        #[arg(long, value_enum)]
        scheme: SchemeName,
    },
    /// Validate a `.updatebot.yml` and print every problem with its line.
    Validate { file: PathBuf },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("UPDATEBOT_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
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
        Command::Validate { file } => validate(&file),
    }
}

fn ensure_dir(path: &Path) -> Result<()> {
    let meta =
        std::fs::metadata(path).with_context(|| format!("cannot read `{}`", path.display()))?;
    anyhow::ensure!(meta.is_dir(), "`{}` is not a directory", path.display());
    Ok(())
}

fn coverage_for(_path: &Path) -> Result<Box<dyn Coverage>> {
    Ok(Box::new(Everything))
}

fn extract(path: &Path, format: Format) -> Result<u8> {
    ensure_dir(path)?;
    let plugins = Plugins::standard();
    let coverage = coverage_for(path)?;
    let manifests = scan::scan_dir(&plugins, path, coverage.as_ref())
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
fn check(path: &Path, format: Format, _config: Option<&Path>, update: Option<bool>) -> Result<u8> {
    ensure_dir(path)?;
    let plugins = Plugins::standard();
    let coverage = coverage_for(path)?;
    let settings: Box<dyn Settings> = Box::new(Defaults);
    let files =
        scan::list_files(path).with_context(|| format!("cannot scan `{}`", path.display()))?;
    let manifests = scan::scan_dir(&plugins, path, coverage.as_ref())?;
    let http = Arc::new(HttpClient::new(HttpOptions::default(), Vec::new())?);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let checker = Checker {
        plugins: &plugins,
        http,
        cache: Arc::new(LookupCache::new()),
        settings: settings.as_ref(),
        now: chrono::Utc::now(),
        concurrency: 16,
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
            let read = |p: &str| std::fs::read_to_string(path.join(p)).map_err(|e| e.to_string());
            let applied = runtime.block_on(apply::apply(&plugins, &results, &read));
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
        Format::Table if dry_run => {}
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

fn validate(_file: &Path) -> Result<u8> {
    anyhow::bail!("validate: configuration support is not built yet")
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

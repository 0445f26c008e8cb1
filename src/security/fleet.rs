//! The security part of a fleet run, per project and target branch: every entry with
//! `security-updates` enabled is read whatever its schedule, its locked versions are
//! matched against the advisories, and each vulnerable package with a fix becomes a planned
//! change that the reconciliation opens, refreshes and closes like any other (apart from
//! the version updates' open limit: security merge requests have their own scope).

use super::inventory::{self, version_scheme};
use super::mr::{self, Planning};
use crate::check::Checker;
use crate::forge::Project;
use crate::project::ProjectSettings;
use crate::run::plan::{self, PlannedChange};
use crate::run::{Action, ChangeReport, Fleet};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use updatebot_advisory::{api, Advisories, AdvisoryError};
use updatebot_core::http::HttpClient;

/// Where a run's advisories come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AdvisorySource {
    /// The OSV API (or a mirror / export serving it) at this base URL.
    Api(String),
    /// An OSV data dump unzipped into this directory.
    Dump(PathBuf),
}

impl AdvisorySource {
    /// `--osv-url` / `--osv-dir`, else `UPDATEBOT_OSV_URL` / `UPDATEBOT_OSV_DIR`, else the
    /// public OSV API. Both kinds at one level is an error.
    pub fn choose(
        url: Option<String>,
        dir: Option<PathBuf>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, String> {
        let pick = |url: Option<String>, dir: Option<PathBuf>, what: &str| match (url, dir) {
            (Some(_), Some(_)) => Err(format!(
                "give only one of {what}: an OSV API URL or an OSV dump directory"
            )),
            (Some(u), None) => Ok(Some(AdvisorySource::Api(u))),
            (None, Some(d)) => Ok(Some(AdvisorySource::Dump(d))),
            (None, None) => Ok(None),
        };
        if let Some(source) = pick(url, dir, "--osv-url and --osv-dir")? {
            return Ok(source);
        }
        let env_url = env("UPDATEBOT_OSV_URL").filter(|v| !v.is_empty());
        let env_dir = env("UPDATEBOT_OSV_DIR")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from);
        Ok(
            pick(env_url, env_dir, "UPDATEBOT_OSV_URL and UPDATEBOT_OSV_DIR")?.unwrap_or_else(
                || AdvisorySource::Api(updatebot_advisory::DEFAULT_OSV_URL.to_string()),
            ),
        )
    }

    /// The advisories of one run (its cache lives as long as they do).
    pub fn open(
        &self,
        http: Arc<HttpClient>,
        timeout: std::time::Duration,
        retries: u32,
    ) -> Result<Advisories, AdvisoryError> {
        match self {
            AdvisorySource::Api(url) => {
                let transport = api::HttpTransport::new(http, timeout, retries).map_err(|e| {
                    AdvisoryError::InvalidUrl {
                        url: url.clone(),
                        detail: e,
                    }
                })?;
                Advisories::api(url, Arc::new(transport))
            }
            AdvisorySource::Dump(dir) => {
                if !dir.is_dir() {
                    return Err(AdvisoryError::Dump {
                        dir: dir.display().to_string(),
                        detail: "not a directory".into(),
                    });
                }
                Ok(Advisories::dump(dir.clone()))
            }
        }
    }
}

/// What the security pass of one target branch plans.
#[derive(Default)]
pub struct Planned {
    pub changes: Vec<PlannedChange>,
    /// The `security:ecosystem:directory` scopes it read in full (their merge requests
    /// that are no longer wanted are closed).
    pub scopes: BTreeSet<String>,
    /// Keys of vulnerable packages whose fix could not be worked out: their merge
    /// requests stay as they are.
    pub keep: BTreeSet<String>,
    /// Vulnerable packages without a fix (or whose fix cannot be worked out), with why.
    pub skipped: Vec<ChangeReport>,
    /// Lockfiles and advisories that could not be read.
    pub problems: Vec<String>,
    /// The vulnerable packages with a fix, for arbitration with the version updates.
    pub vulnerable: Vec<super::supersede::Vulnerable>,
}

/// The security pass of one project and target branch.
pub struct Pass<'a> {
    pub fleet: &'a Fleet<'a>,
    pub advisories: &'a Advisories,
    pub project: &'a Project,
    pub base: &'a str,
    /// The entries with security updates on for this target.
    pub settings: &'a ProjectSettings,
}

impl Pass<'_> {
    pub async fn plan(&self) -> Result<Planned, String> {
        let fleet = self.fleet;
        let tree = fleet
            .forge
            .files(self.project, self.base)
            .await
            .map_err(|e| e.to_string())?;
        let manifests = fleet
            .scan_at(self.project, self.base, self.settings, &tree)
            .await?;
        // Links too, so that a symlinked lockfile is found (and then refused, never read).
        let files = tree.all();
        let mut locks = BTreeMap::new();
        let mut refused = Vec::new();
        for path in inventory::lockfiles(fleet.plugins, &manifests, &files) {
            if tree.links.contains(&path) {
                refused.push(format!(
                    "security updates: {path}: a symbolic link, not read; its packages were not checked"
                ));
                continue;
            }
            if let Some(text) = fleet
                .forge
                .read_file(self.project, self.base, &path)
                .await
                .map_err(|e| e.to_string())?
            {
                locks.insert(path, text);
            }
        }
        let checker = Checker {
            plugins: fleet.plugins,
            http: fleet.http.clone(),
            cache: fleet.cache.clone(),
            settings: self.settings,
            now: fleet.now,
            concurrency: 16,
            applying: true,
        };
        let mut planned = Planned {
            problems: refused,
            ..Planned::default()
        };
        let audit = match super::audit(&checker, &manifests, &files, &locks, self.advisories).await
        {
            Ok(a) => a,
            Err(e) => {
                // Nothing can be said: no scope is read, so no merge request is closed.
                planned.problems.push(format!("security updates: {e}"));
                return Ok(planned);
            }
        };
        planned.problems.extend(
            audit
                .problems
                .iter()
                .map(|p| format!("security updates: {p}")),
        );
        let mut unsure: BTreeSet<String> = BTreeSet::new();
        for manifest in &manifests {
            if version_scheme(manifest.ecosystem).is_none() {
                continue;
            }
            let entry = self.settings.config_for(manifest.ecosystem, &manifest.path);
            let scope = mr::scope(
                manifest.ecosystem,
                &plan::directory_for(entry, &manifest.path),
            );
            if manifest.result.is_err() {
                unsure.insert(scope.clone());
            }
            planned.scopes.insert(scope);
        }
        for finding in &audit.findings {
            if let Err(why) = &finding.fix {
                let entry = self
                    .settings
                    .config_for(finding.installed.ecosystem, &finding.installed.manifest);
                let directory = plan::directory_for(entry, &finding.installed.manifest);
                planned.keep.insert(format!(
                    "{}{}:{directory}:{}",
                    mr::KEY_PREFIX,
                    finding.installed.ecosystem.as_str(),
                    finding.installed.name
                ));
                let ids: Vec<&str> = finding.advisories.iter().map(|a| a.id.as_str()).collect();
                planned.skipped.push(ChangeReport {
                    title: format!(
                        "{} {} is vulnerable [security]{}",
                        finding.installed.name,
                        finding.installed.version,
                        plan::location(&directory)
                    ),
                    branch: String::new(),
                    ecosystem: Some(finding.installed.ecosystem.as_str().to_string()),
                    scope: Some(mr::scope(finding.installed.ecosystem, &directory)),
                    updates: Vec::new(),
                    action: Action::Skipped,
                    merge_request: None,
                    url: None,
                    reason: Some(format!(
                        "{} in {}: {why}",
                        ids.join(", "),
                        finding
                            .installed
                            .lockfile
                            .as_ref()
                            .map(|(p, _)| p.as_str())
                            .unwrap_or(&finding.installed.manifest)
                    )),
                });
            }
        }
        planned.scopes.retain(|s| !unsure.contains(s));
        for finding in audit.findings.iter().filter(|f| f.fix.is_ok()) {
            let i = &finding.installed;
            let entry = self.settings.config_for(i.ecosystem, &i.manifest);
            let directory = plan::directory_for(entry, &i.manifest);
            let key = format!(
                "{}{}:{directory}:{}",
                mr::KEY_PREFIX,
                i.ecosystem.as_str(),
                i.name
            );
            let at = match planned.vulnerable.iter().position(|v| v.key == key) {
                Some(at) => at,
                None => {
                    planned.vulnerable.push(super::supersede::Vulnerable {
                        key,
                        ecosystem: i.ecosystem,
                        name: i.name.clone(),
                        records: Vec::new(),
                        advisories: Vec::new(),
                    });
                    planned.vulnerable.len() - 1
                }
            };
            let v = &mut planned.vulnerable[at];
            for r in &finding.records {
                if !v.records.iter().any(|k| k.id == r.id) {
                    v.records.push(r.clone());
                }
            }
            v.advisories.push((
                i.name.clone(),
                i.version.clone(),
                finding.advisories.clone(),
            ));
        }
        let planning = Planning {
            checker: &checker,
            settings: self.settings,
            bot: &fleet.operator.bot,
            manifests: &manifests,
            repo_files: &files,
            locks: &locks,
        };
        planned.changes = mr::plan_changes(&planning, &audit.findings).await;
        Ok(planned)
    }
}

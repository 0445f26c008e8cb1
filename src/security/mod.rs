//! Security updates: every locked version (lockfiles first, pins where there is no lock)
//! matched against vulnerability advisories (OSV), and for each vulnerable package the
//! lowest release that fixes every known advisory within the configuration, made through
//! its declaration, the lockfile alone, or a bump of the package holding it back.
//!
//! Used by `updatebot audit`, `updatebot update --security` and the fleet run (security
//! merge requests, outside the schedule and the version updates' open limit).

pub mod apply;
pub mod fix;
pub mod fleet;
pub mod inventory;
pub mod mr;
pub mod output;
pub mod supersede;

use crate::check::Checker;
use crate::scan::Manifest;
use futures::StreamExt;
use inventory::{version_scheme, Installed};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use updatebot_advisory::osv::{OsvEcosystem, Vuln};
use updatebot_advisory::{matching, Advisories, AdvisoryError, AdvisoryView, Query};
use updatebot_core::{Ecosystem, VersionScheme};

/// Rounds of checking that the chosen fixes are not affected by records of their own.
const VERIFY_ROUNDS: usize = 3;

/// The OSV ecosystem of an updatebot ecosystem.
pub fn osv_ecosystem(ecosystem: Ecosystem) -> Option<OsvEcosystem> {
    match ecosystem {
        Ecosystem::Npm => Some(OsvEcosystem::Npm),
        Ecosystem::Python => Some(OsvEcosystem::PyPI),
        Ecosystem::Docker => None,
    }
}

/// One vulnerable installed package.
#[derive(Clone, Debug)]
pub struct Finding {
    pub installed: Installed,
    /// Every record known for the package (each checked against candidate fixes).
    pub records: Vec<Arc<Vuln>>,
    /// The vulnerabilities of the installed version, merged across aliases, worst first.
    pub advisories: Vec<AdvisoryView>,
    /// The fix, or why there is none.
    pub fix: Result<fix::Fix, String>,
}

/// What an audit found.
#[derive(Debug, Default)]
pub struct Audit {
    pub findings: Vec<Finding>,
    /// Installed package versions checked.
    pub checked: usize,
    /// Dependencies not checked: no pin and no lock (`manifest: name`).
    pub unpinned: Vec<String>,
    /// Lockfiles and advisory records that could not be read, each named.
    pub problems: Vec<String>,
    /// Where the advisories came from.
    pub source: String,
}

impl Audit {
    /// Whether something could not be checked or looked up.
    pub fn incomplete(&self) -> bool {
        !self.problems.is_empty()
    }
}

fn scheme_of<'p>(checker: &'p Checker<'_>, ecosystem: Ecosystem) -> Option<&'p dyn VersionScheme> {
    checker
        .plugins
        .get(ecosystem)
        .and_then(|p| p.scheme(version_scheme(ecosystem)?))
}

fn query_of(installed: &Installed, version: &str) -> Option<Query> {
    Some(Query {
        ecosystem: osv_ecosystem(installed.ecosystem)?,
        name: installed.name.clone(),
        version: version.to_string(),
    })
}

fn affects(
    records: &[Arc<Vuln>],
    installed: &Installed,
    version: &str,
    scheme: &dyn VersionScheme,
) -> bool {
    let Some(ecosystem) = osv_ecosystem(installed.ecosystem) else {
        return false;
    };
    records
        .iter()
        .any(|r| matching::affects(r, ecosystem, &installed.name, version, scheme))
}

/// The merged views of the records affecting the installed version, worst first.
fn views(
    records: &[Arc<Vuln>],
    installed: &Installed,
    scheme: &dyn VersionScheme,
) -> Vec<AdvisoryView> {
    let Some(ecosystem) = osv_ecosystem(installed.ecosystem) else {
        return Vec::new();
    };
    let affecting: Vec<Arc<Vuln>> = records
        .iter()
        .filter(|r| matching::affects(r, ecosystem, &installed.name, &installed.version, scheme))
        .cloned()
        .collect();
    let mut out: Vec<AdvisoryView> = updatebot_advisory::merge(&affecting)
        .iter()
        .map(|m| {
            updatebot_advisory::view(m, ecosystem, &installed.name, &installed.version, scheme)
        })
        .collect();
    out.sort_by(|a, b| {
        let score = |v: &AdvisoryView| v.severity.score.unwrap_or(-1.0);
        b.severity
            .rank()
            .cmp(&a.severity.rank())
            .then(score(b).total_cmp(&score(a)))
            .then(a.id.cmp(&b.id))
    });
    out
}

/// Find the vulnerable packages of `manifests` and their fixes. `locks` holds the texts of
/// the lockfiles [`inventory::lockfiles`] names. Fails only when the advisories cannot be
/// read at all (then nothing can be said).
pub async fn audit(
    checker: &Checker<'_>,
    manifests: &[Manifest],
    repo_files: &[String],
    locks: &BTreeMap<String, String>,
    advisories: &Advisories,
) -> Result<Audit, AdvisoryError> {
    let inventory = inventory::collect(checker.plugins, manifests, repo_files, locks);
    let mut audit = Audit {
        unpinned: inventory.unpinned,
        problems: inventory.problems,
        source: advisories.describe(),
        ..Audit::default()
    };
    let installed: Vec<Installed> = inventory
        .installed
        .into_iter()
        .filter(|i| osv_ecosystem(i.ecosystem).is_some())
        .collect();
    audit.checked = installed.len();
    let unique: BTreeSet<Query> = installed
        .iter()
        .filter_map(|i| query_of(i, &i.version))
        .collect();
    let queries: Vec<Query> = unique.into_iter().collect();
    let found = advisories.find(&queries).await?;
    audit.problems.extend(found.problems);
    let by_query: BTreeMap<&Query, &Vec<Arc<Vuln>>> = queries.iter().zip(&found.records).collect();
    let mut findings = Vec::new();
    for i in installed {
        let (Some(q), Some(scheme)) = (query_of(&i, &i.version), scheme_of(checker, i.ecosystem))
        else {
            continue;
        };
        let records = by_query.get(&q).map(|r| r.to_vec()).unwrap_or_default();
        if !affects(&records, &i, &i.version, scheme) {
            continue;
        }
        findings.push(Finding {
            advisories: views(&records, &i, scheme),
            installed: i,
            records,
            fix: Err("not worked out".into()),
        });
    }
    let ctx = fix::FixContext {
        checker,
        manifests,
        repo_files,
        locks,
    };
    let mut pending: Vec<usize> = (0..findings.len()).collect();
    for round in 0..=VERIFY_ROUNDS {
        plan_fixes(&ctx, &mut findings, &pending).await;
        if advisories.lists_whole_packages() || round == VERIFY_ROUNDS {
            break;
        }
        // The API names only the records of the versions asked about: ask about each fix,
        // and work out again the fixes that turn out to be affected themselves.
        let asked: Vec<(usize, Query)> = pending
            .iter()
            .filter_map(|&n| {
                let f = &findings[n];
                let version = f.fix.as_ref().ok()?.version.clone();
                Some((n, query_of(&f.installed, &version)?))
            })
            .collect();
        if asked.is_empty() {
            break;
        }
        let queries: Vec<Query> = asked.iter().map(|(_, q)| q.clone()).collect();
        let found = advisories.find(&queries).await?;
        pending.clear();
        for ((n, q), records) in asked.into_iter().zip(found.records) {
            let finding = &mut findings[n];
            let new: Vec<Arc<Vuln>> = records
                .into_iter()
                .filter(|r| !finding.records.iter().any(|k| k.id == r.id))
                .collect();
            let Some(scheme) = scheme_of(checker, finding.installed.ecosystem) else {
                continue;
            };
            if affects(&new, &finding.installed, &q.version, scheme) {
                finding.records.extend(new);
                pending.push(n);
            }
        }
        if pending.is_empty() {
            break;
        }
    }
    findings.sort_by(|a, b| {
        (
            &a.installed.manifest,
            &a.installed.name,
            &a.installed.version,
        )
            .cmp(&(
                &b.installed.manifest,
                &b.installed.name,
                &b.installed.version,
            ))
    });
    audit.findings = findings;
    Ok(audit)
}

async fn plan_fixes(ctx: &fix::FixContext<'_>, findings: &mut [Finding], which: &[usize]) {
    let planned: Vec<(usize, Result<fix::Fix, String>)> =
        futures::stream::iter(which.iter().copied())
            .map(|n| {
                let finding = &findings[n];
                async move {
                    let Some(scheme) = scheme_of(ctx.checker, finding.installed.ecosystem) else {
                        return (n, Err("no versioning scheme".to_string()));
                    };
                    let affected =
                        |v: &str| affects(&finding.records, &finding.installed, v, scheme);
                    (n, fix::plan(ctx, &finding.installed, &affected).await)
                }
            })
            .buffer_unordered(8)
            .collect()
            .await;
    for (n, fix) in planned {
        findings[n].fix = fix;
    }
}

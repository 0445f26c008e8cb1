//! Vulnerability advisories for updatebot, from the OSV API or an OSV data dump.
//!
//! * [`Advisories`]: where records come from (the API at a base URL, or a dump directory),
//!   fetched at most once per record per run;
//! * [`matching`]: whether a version is affected, by the ecosystem's own version order;
//! * [`merge`]: records that are one vulnerability under several ids (GHSA, CVE, PYSEC)
//!   shown once;
//! * [`severity`]: CVSS v3 base scores and ratings.
//!
//! Nothing here knows about manifests, lockfiles or merge requests.

pub mod api;
pub mod dump;
pub mod matching;
pub mod osv;
pub mod severity;

use futures::future::{BoxFuture, FutureExt, Shared};
use osv::{OsvEcosystem, Vuln};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use thiserror::Error;
use updatebot_core::VersionScheme;

/// The public OSV API: the only place its address is written.
pub const DEFAULT_OSV_URL: &str = "https://api.osv.dev";

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AdvisoryError {
    #[error("invalid advisory database URL `{url}`: {detail}")]
    InvalidUrl { url: String, detail: String },
    #[error("could not reach the advisory database {source_name}: {detail}")]
    Unreachable { source_name: String, detail: String },
    #[error("the advisory database {source_name} answered HTTP {status} for {what}")]
    Status {
        source_name: String,
        what: String,
        status: u16,
    },
    #[error("the advisory database {source_name} gave a malformed answer: {detail}")]
    Malformed { source_name: String, detail: String },
    #[error("the advisory database {source_name} does not know record `{id}`")]
    UnknownRecord { source_name: String, id: String },
    #[error("cannot read the OSV dump `{dir}`: {detail}")]
    Dump { dir: String, detail: String },
}

/// One package version to look up.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Query {
    pub ecosystem: OsvEcosystem,
    pub name: String,
    pub version: String,
}

type SharedRecord = Shared<BoxFuture<'static, Result<Arc<Vuln>, AdvisoryError>>>;
type SharedDump = Shared<BoxFuture<'static, Result<Arc<dump::DumpIndex>, AdvisoryError>>>;

enum Source {
    Api(Arc<api::OsvApi>),
    Dump(PathBuf),
}

/// Records found for a set of queries.
#[derive(Default)]
pub struct Found {
    /// Per query (same order): the records that may concern it, withdrawn ones left out.
    /// From the API: those it says affect the version. From a dump: every record of the
    /// package. Decide with [`matching::affects`].
    pub records: Vec<Vec<Arc<Vuln>>>,
    /// Records that could not be read (a dump's broken files), each named.
    pub problems: Vec<String>,
}

/// Where advisories come from, with the run's cache of what was read.
pub struct Advisories {
    source: Source,
    records: Mutex<HashMap<String, SharedRecord>>,
    dumps: Mutex<HashMap<OsvEcosystem, SharedDump>>,
}

impl Advisories {
    /// The OSV API at `base` (e.g. [`DEFAULT_OSV_URL`], a mirror, or an export server).
    pub fn api(base: &str, transport: Arc<dyn api::Transport>) -> Result<Self, AdvisoryError> {
        Ok(Self::with(Source::Api(Arc::new(api::OsvApi::new(
            base, transport,
        )?))))
    }

    /// An OSV data dump unzipped into `dir`.
    pub fn dump(dir: impl Into<PathBuf>) -> Self {
        Self::with(Source::Dump(dir.into()))
    }

    fn with(source: Source) -> Self {
        Advisories {
            source,
            records: Mutex::new(HashMap::new()),
            dumps: Mutex::new(HashMap::new()),
        }
    }

    /// Where the records come from, for reports.
    pub fn describe(&self) -> String {
        match &self.source {
            Source::Api(api) => api.base(),
            Source::Dump(dir) => format!("the OSV dump in {}", dir.display()),
        }
    }

    /// Whether [`Advisories::find`] gives every record of a package (a dump), rather than
    /// only those of the version asked about (the API).
    pub fn lists_whole_packages(&self) -> bool {
        matches!(self.source, Source::Dump(_))
    }

    /// How many records were fetched one by one (API), for reports.
    pub fn records_fetched(&self) -> usize {
        self.records.lock().map(|r| r.len()).unwrap_or(0)
    }

    /// The records that may concern each query.
    pub async fn find(&self, queries: &[Query]) -> Result<Found, AdvisoryError> {
        match &self.source {
            Source::Api(api) => {
                let ids = api.query_ids(queries).await?;
                let unique: BTreeSet<&String> = ids.iter().flatten().collect();
                let fetched =
                    futures::future::join_all(unique.iter().map(|id| self.record(api.clone(), id)))
                        .await;
                let mut by_id: HashMap<&str, Arc<Vuln>> = HashMap::new();
                for (id, record) in unique.iter().zip(fetched) {
                    by_id.insert(id.as_str(), record?);
                }
                let records = ids
                    .iter()
                    .map(|set| {
                        set.iter()
                            .filter_map(|id| by_id.get(id.as_str()).cloned())
                            .filter(|v| !v.is_withdrawn())
                            .collect()
                    })
                    .collect();
                Ok(Found {
                    records,
                    problems: Vec::new(),
                })
            }
            Source::Dump(dir) => {
                let mut problems = Vec::new();
                let mut indexes: BTreeMap<OsvEcosystem, Arc<dump::DumpIndex>> = BTreeMap::new();
                for ecosystem in queries.iter().map(|q| q.ecosystem).collect::<BTreeSet<_>>() {
                    let index = self.dump_index(dir.clone(), ecosystem).await?;
                    problems.extend(index.problems.iter().cloned());
                    indexes.insert(ecosystem, index);
                }
                let records = queries
                    .iter()
                    .map(|q| {
                        indexes
                            .get(&q.ecosystem)
                            .and_then(|i| i.by_package.get(&q.ecosystem.normalize(&q.name)))
                            .cloned()
                            .unwrap_or_default()
                    })
                    .collect();
                Ok(Found { records, problems })
            }
        }
    }

    async fn record(&self, api: Arc<api::OsvApi>, id: &str) -> Result<Arc<Vuln>, AdvisoryError> {
        let shared = {
            let mut records = match self.records.lock() {
                Ok(r) => r,
                Err(poisoned) => poisoned.into_inner(),
            };
            records
                .entry(id.to_string())
                .or_insert_with(|| {
                    let id = id.to_string();
                    async move { api.vuln(&id).await.map(Arc::new) }
                        .boxed()
                        .shared()
                })
                .clone()
        };
        shared.await
    }

    async fn dump_index(
        &self,
        dir: PathBuf,
        ecosystem: OsvEcosystem,
    ) -> Result<Arc<dump::DumpIndex>, AdvisoryError> {
        let shared = {
            let mut dumps = match self.dumps.lock() {
                Ok(d) => d,
                Err(poisoned) => poisoned.into_inner(),
            };
            dumps
                .entry(ecosystem)
                .or_insert_with(|| {
                    async move {
                        let shown = dir.display().to_string();
                        tokio::task::spawn_blocking(move || dump::load(&dir, ecosystem))
                            .await
                            .map_err(|e| AdvisoryError::Dump {
                                dir: shown,
                                detail: e.to_string(),
                            })?
                            .map(Arc::new)
                    }
                    .boxed()
                    .shared()
                })
                .clone()
        };
        shared.await
    }
}

/// One vulnerability, however many records name it: records whose ids or aliases meet are
/// merged (GHSA, CVE, PYSEC for the same flaw).
#[derive(Clone, Debug)]
pub struct Merged {
    /// The records, the one shown first (GitHub's, then PyPI's, then the rest by id).
    pub records: Vec<Arc<Vuln>>,
}

impl Merged {
    pub fn primary(&self) -> &Vuln {
        &self.records[0]
    }

    /// Every id and alias, the primary id first, each once.
    pub fn ids(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for r in &self.records {
            for id in std::iter::once(&r.id).chain(&r.aliases) {
                if !out.contains(id) {
                    out.push(id.clone());
                }
            }
        }
        out
    }

    /// Whether `version` of `name` is affected by any of the records.
    pub fn affects(
        &self,
        ecosystem: OsvEcosystem,
        name: &str,
        version: &str,
        scheme: &dyn VersionScheme,
    ) -> bool {
        self.records
            .iter()
            .any(|r| matching::affects(r, ecosystem, name, version, scheme))
    }
}

fn preference(id: &str) -> u8 {
    if id.starts_with("GHSA-") {
        0
    } else if id.starts_with("PYSEC-") {
        1
    } else if id.starts_with("CVE-") {
        3
    } else {
        2
    }
}

/// Group records that share an id or alias, each group once, in a stable order.
pub fn merge(records: &[Arc<Vuln>]) -> Vec<Merged> {
    let mut unique: Vec<Arc<Vuln>> = Vec::new();
    for r in records {
        if !unique.iter().any(|u| u.id == r.id) {
            unique.push(r.clone());
        }
    }
    // Union-find over the records by shared names.
    let mut parent: Vec<usize> = (0..unique.len()).collect();
    fn root(parent: &mut [usize], i: usize) -> usize {
        let mut i = i;
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    let mut owner: HashMap<&str, usize> = HashMap::new();
    for (i, r) in unique.iter().enumerate() {
        for name in std::iter::once(&r.id).chain(&r.aliases) {
            match owner.get(name.as_str()) {
                Some(&j) => {
                    let (a, b) = (root(&mut parent, i), root(&mut parent, j));
                    if a != b {
                        parent[a] = b;
                    }
                }
                None => {
                    owner.insert(name.as_str(), i);
                }
            }
        }
    }
    let mut groups: BTreeMap<usize, Vec<Arc<Vuln>>> = BTreeMap::new();
    for (i, record) in unique.iter().enumerate() {
        let r = root(&mut parent, i);
        groups.entry(r).or_default().push(record.clone());
    }
    let mut out: Vec<Merged> = groups
        .into_values()
        .map(|mut records| {
            records.sort_by(|a, b| {
                (preference(&a.id), a.id.as_str()).cmp(&(preference(&b.id), b.id.as_str()))
            });
            Merged { records }
        })
        .collect();
    out.sort_by(|a, b| a.primary().id.cmp(&b.primary().id));
    out
}

/// What reports and merge requests show of one vulnerability for one package version.
#[derive(Clone, Debug, Serialize)]
pub struct AdvisoryView {
    pub id: String,
    pub aliases: Vec<String>,
    pub summary: Option<String>,
    pub severity: severity::Severity,
    /// The affected versions, as ranges.
    pub affected: String,
    /// The lowest version the records name as fixed above the current one.
    pub fixed: Option<String>,
    /// The record on osv.dev.
    pub url: String,
    /// The records' own advisory links (at most 3).
    pub references: Vec<String>,
}

/// The view of `merged` for `version` of `name`.
pub fn view(
    merged: &Merged,
    ecosystem: OsvEcosystem,
    name: &str,
    version: &str,
    scheme: &dyn VersionScheme,
) -> AdvisoryView {
    let primary = merged.primary();
    let ids = merged.ids();
    let summary = merged
        .records
        .iter()
        .find_map(|r| r.summary.clone().filter(|s| !s.trim().is_empty()))
        .or_else(|| {
            merged.records.iter().find_map(|r| {
                r.details
                    .as_deref()
                    .and_then(|d| d.lines().find(|l| !l.trim().is_empty()))
                    .map(str::to_string)
            })
        });
    let severity = merged
        .records
        .iter()
        .map(|r| severity::of(r))
        .max_by_key(|s| (s.rank(), s.score.is_some(), s.label.is_some()))
        .unwrap_or_default();
    let mut affected: Vec<String> = merged
        .records
        .iter()
        .filter(|r| r.affected_for(ecosystem, name).next().is_some())
        .map(|r| matching::describe_affected(r, ecosystem, name))
        .collect();
    affected.dedup();
    let fixed = merged
        .records
        .iter()
        .filter_map(|r| matching::fixed_for(r, ecosystem, name, version, scheme))
        .min_by(|a, b| matching::order(scheme, a, b));
    let mut references: Vec<String> = Vec::new();
    for r in &merged.records {
        let mut refs: Vec<&osv::Reference> = r.references.iter().collect();
        refs.sort_by_key(|x| x.kind != "ADVISORY");
        for x in refs {
            if references.len() < 3 && !references.contains(&x.url) {
                references.push(x.url.clone());
            }
        }
    }
    AdvisoryView {
        id: primary.id.clone(),
        aliases: ids.into_iter().skip(1).collect(),
        summary,
        severity,
        affected: affected
            .first()
            .cloned()
            .unwrap_or_else(|| "unknown".into()),
        fixed,
        url: format!("https://osv.dev/vulnerability/{}", primary.id),
        references,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str, aliases: &[&str]) -> Arc<Vuln> {
        Arc::new(Vuln {
            id: id.into(),
            aliases: aliases.iter().map(|a| a.to_string()).collect(),
            ..Vuln::default()
        })
    }

    #[test]
    fn records_naming_each_other_merge_once() {
        let merged = merge(&[
            record("PYSEC-2021-1", &["CVE-2021-1", "GHSA-aaaa"]),
            record("GHSA-aaaa", &["CVE-2021-1"]),
            record("CVE-2021-1", &[]),
            record("GHSA-bbbb", &["CVE-2022-2"]),
            record("GHSA-aaaa", &[]),
        ]);
        assert_eq!(merged.len(), 2);
        assert_eq!(merged[0].primary().id, "GHSA-aaaa");
        assert_eq!(merged[0].ids(), ["GHSA-aaaa", "CVE-2021-1", "PYSEC-2021-1"]);
        assert_eq!(merged[1].ids(), ["GHSA-bbbb", "CVE-2022-2"]);
    }
}

#[cfg(test)]
mod api_tests;

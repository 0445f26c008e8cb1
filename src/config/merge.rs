//! Repository entries over operator defaults, with registries resolved.

use std::collections::{BTreeMap, HashSet};

use serde::{Serialize, Serializer};
use url::Url;

use super::enums::{
    BranchSeparator, InsecureExternalCodeExecution, PackageEcosystem, RebaseStrategy, RegistryKind,
    VersioningStrategy,
};
use super::operator::{Credentials, OperatorConfig};
use super::problem::{show, ConfigErrors, Pos, Problem};
use super::registry::same_location;
use super::repo::{RepoConfig, UpdateEntry};
use super::rules::RepoPath;
use super::settings::{
    AllowRule, CommitMessage, Cooldown, Group, IgnoreRule, Milestone, RegistrySelection, Schedule,
    UpdateSettings,
};
use super::walk::suggest;

/// Dependabot's default for `open-pull-requests-limit`.
pub const DEFAULT_OPEN_LIMIT: u32 = 5;
/// Dependabot's limit of open security pull requests.
pub const DEFAULT_SECURITY_OPEN_LIMIT: u32 = 10;

/// `security-updates` with defaults applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct EffectiveSecurity {
    /// Security merge requests are opened (whenever the bot runs, whatever the schedule).
    pub enabled: bool,
    /// Open security merge requests per ecosystem and directory (apart from the version
    /// updates' limit).
    pub open_merge_requests_limit: u32,
    /// The entry's `cooldown` applies to security fixes too (default: exempt).
    pub cooldown: bool,
}

/// One repository entry with operator defaults applied and registries resolved.
#[derive(Debug, Clone, Serialize)]
pub struct EffectiveUpdate {
    pub index: usize,
    pub line: usize,
    pub package_ecosystem: PackageEcosystem,
    pub directories: Vec<RepoPath>,
    pub schedule: Schedule,
    pub exclude_paths: Vec<String>,
    /// Empty: Dependabot's default (every direct dependency).
    pub allow: Vec<AllowRule>,
    pub ignore: Vec<IgnoreRule>,
    pub groups: Vec<Group>,
    /// `None`: the bot's default labels; `Some(vec![])`: no labels.
    pub labels: Option<Vec<String>>,
    pub assignees: Vec<String>,
    pub reviewers: Vec<String>,
    pub milestone: Option<Milestone>,
    pub open_merge_requests_limit: u32,
    pub versioning_strategy: VersioningStrategy,
    pub commit_message: CommitMessage,
    /// `None`: the project's default branch.
    pub target_branch: Option<String>,
    pub registries: Vec<ResolvedRegistry>,
    pub cooldown: Option<Cooldown>,
    pub rebase_strategy: RebaseStrategy,
    pub branch_name_separator: BranchSeparator,
    pub insecure_external_code_execution: InsecureExternalCodeExecution,
    pub vendor: bool,
    pub security_updates: EffectiveSecurity,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RegistryOrigin {
    /// Defined in `.updatebot.yml`: a host without credentials.
    Repository,
    /// Defined by the operator (possibly with credentials).
    Operator,
}

/// A registry an entry may use. Only operator registries carry credentials.
#[derive(Debug, Clone, Serialize)]
pub struct ResolvedRegistry {
    pub name: String,
    pub kind: RegistryKind,
    pub url: Url,
    pub replaces_base: bool,
    pub origin: RegistryOrigin,
    #[serde(rename = "has_credentials", serialize_with = "is_some")]
    credentials: Option<Credentials>,
}

impl ResolvedRegistry {
    pub fn has_credentials(&self) -> bool {
        self.credentials.is_some()
    }

    pub fn credentials(&self) -> Option<&Credentials> {
        self.credentials.as_ref()
    }
}

fn is_some<S: Serializer>(c: &Option<Credentials>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_bool(c.is_some())
}

/// Applies operator defaults under each repository entry (the repository wins; lists
/// replace, never append) and resolves the registries each entry names.
pub fn effective_entries(
    repo: &RepoConfig,
    op: &OperatorConfig,
) -> Result<Vec<EffectiveUpdate>, ConfigErrors> {
    let mut problems = Vec::new();
    let available = available_registries(repo, op, &mut problems);
    let mut out = Vec::new();
    for entry in &repo.updates {
        if let Some(e) = effective(entry, &op.defaults, &available, &mut problems) {
            out.push(e);
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(ConfigErrors::new(problems))
    }
}

/// Every registry by name: operator definitions, then repository-only ones. A repository
/// registry reusing an operator name must point at the same place.
fn available_registries(
    repo: &RepoConfig,
    op: &OperatorConfig,
    problems: &mut Vec<Problem>,
) -> BTreeMap<String, ResolvedRegistry> {
    let mut all: BTreeMap<String, ResolvedRegistry> = op
        .registries
        .iter()
        .map(|(name, r)| {
            let resolved = ResolvedRegistry {
                name: name.clone(),
                kind: r.kind,
                url: r.url.clone(),
                replaces_base: r.replaces_base,
                origin: RegistryOrigin::Operator,
                credentials: r.credentials.clone(),
            };
            (name.clone(), resolved)
        })
        .collect();
    for (name, r) in &repo.registries {
        let at = Pos {
            line: r.line,
            column: 1,
        };
        match op.registries.get(name) {
            Some(o) if !same_location(&o.url, &r.url) => problems.push(Problem::new(
                at,
                format!(
                    "registries.{name}: the operator config defines `{name}` with another URL; a repository cannot point the operator's credentials at a new host (use the operator's URL or another name)"
                ),
            )),
            Some(o) if o.kind != r.kind => problems.push(Problem::new(
                at,
                format!(
                    "registries.{name}: the operator config defines `{name}` as `{}`, not `{}`",
                    o.kind, r.kind
                ),
            )),
            Some(_) => {}
            None => {
                let resolved = ResolvedRegistry {
                    name: name.clone(),
                    kind: r.kind,
                    url: r.url.clone(),
                    replaces_base: r.replaces_base,
                    origin: RegistryOrigin::Repository,
                    credentials: None,
                };
                all.insert(name.clone(), resolved);
            }
        }
    }
    all
}

fn effective(
    entry: &UpdateEntry,
    defaults: &UpdateSettings,
    available: &BTreeMap<String, ResolvedRegistry>,
    problems: &mut Vec<Problem>,
) -> Option<EffectiveUpdate> {
    let s = &entry.settings;
    let d = defaults;
    let i = entry.index;
    let at = Pos {
        line: entry.line,
        column: 1,
    };
    let schedule = s.schedule.clone().or_else(|| d.schedule.clone());
    if schedule.is_none() {
        problems.push(Problem::new(
            at,
            format!("missing required key `schedule` in updates[{i}] (the operator config sets no default schedule)"),
        ));
    }
    let registries = match (&s.registries, &d.registries) {
        (Some(sel), _) => resolve(entry, sel, false, available, problems),
        (None, Some(sel)) => resolve(entry, sel, true, available, problems),
        (None, None) => Some(Vec::new()),
    };
    let pick = |a: &Option<Vec<String>>, b: &Option<Vec<String>>| {
        a.clone().or_else(|| b.clone()).unwrap_or_default()
    };
    Some(EffectiveUpdate {
        index: i,
        line: entry.line,
        package_ecosystem: entry.package_ecosystem,
        directories: entry.directories.clone(),
        schedule: schedule?,
        exclude_paths: pick(&s.exclude_paths, &d.exclude_paths),
        allow: s
            .allow
            .clone()
            .or_else(|| d.allow.clone())
            .unwrap_or_default(),
        ignore: s
            .ignore
            .clone()
            .or_else(|| d.ignore.clone())
            .unwrap_or_default(),
        groups: s
            .groups
            .clone()
            .or_else(|| d.groups.clone())
            .unwrap_or_default(),
        labels: s.labels.clone().or_else(|| d.labels.clone()),
        assignees: pick(&s.assignees, &d.assignees),
        reviewers: pick(&s.reviewers, &d.reviewers),
        milestone: s.milestone.clone().or_else(|| d.milestone.clone()),
        open_merge_requests_limit: s
            .open_merge_requests_limit
            .or(d.open_merge_requests_limit)
            .unwrap_or(DEFAULT_OPEN_LIMIT),
        versioning_strategy: s
            .versioning_strategy
            .or(d.versioning_strategy)
            .unwrap_or(VersioningStrategy::Auto),
        commit_message: s
            .commit_message
            .clone()
            .or_else(|| d.commit_message.clone())
            .unwrap_or_default(),
        target_branch: s.target_branch.clone().or_else(|| d.target_branch.clone()),
        registries: registries?,
        cooldown: s.cooldown.clone().or_else(|| d.cooldown.clone()),
        rebase_strategy: s
            .rebase_strategy
            .or(d.rebase_strategy)
            .unwrap_or(RebaseStrategy::Auto),
        branch_name_separator: s
            .branch_name_separator
            .or(d.branch_name_separator)
            .unwrap_or(BranchSeparator::Slash),
        insecure_external_code_execution: s
            .insecure_external_code_execution
            .or(d.insecure_external_code_execution)
            .unwrap_or(InsecureExternalCodeExecution::Deny),
        vendor: s.vendor.or(d.vendor).unwrap_or(false),
        security_updates: {
            let own = s.security_updates.clone().unwrap_or_default();
            let dflt = d.security_updates.clone().unwrap_or_default();
            EffectiveSecurity {
                enabled: own.enabled.or(dflt.enabled).unwrap_or(true),
                open_merge_requests_limit: own
                    .open_merge_requests_limit
                    .or(dflt.open_merge_requests_limit)
                    .unwrap_or(DEFAULT_SECURITY_OPEN_LIMIT),
                cooldown: own.cooldown.or(dflt.cooldown).unwrap_or(false),
            }
        },
    })
}

fn resolve(
    entry: &UpdateEntry,
    selection: &RegistrySelection,
    from_defaults: bool,
    available: &BTreeMap<String, ResolvedRegistry>,
    problems: &mut Vec<Problem>,
) -> Option<Vec<ResolvedRegistry>> {
    let ecosystem = entry.package_ecosystem.ecosystem();
    let names = match selection {
        RegistrySelection::All => {
            return Some(
                available
                    .values()
                    .filter(|r| r.kind.ecosystem() == ecosystem)
                    .cloned()
                    .collect(),
            )
        }
        RegistrySelection::Named(names) => names,
    };
    let i = entry.index;
    let origin = if from_defaults {
        " (named by the operator's defaults)"
    } else {
        ""
    };
    let known: Vec<&str> = available.keys().map(String::as_str).collect();
    let mut out = Vec::new();
    let mut taken = HashSet::new();
    let mut ok = true;
    for r in names {
        let line = if from_defaults { entry.line } else { r.line };
        let at = Pos { line, column: 1 };
        match available.get(&r.name) {
            Some(reg) if reg.kind.ecosystem() != ecosystem => {
                ok = false;
                problems.push(Problem::new(
                    at,
                    format!(
                        "updates[{i}].registries: registry `{}` is a `{}`, which cannot serve package-ecosystem `{}`{origin}",
                        show(&r.name),
                        reg.kind,
                        entry.package_ecosystem
                    ),
                ));
            }
            Some(reg) => {
                if taken.insert(reg.name.as_str()) {
                    out.push(reg.clone());
                }
            }
            None => {
                ok = false;
                let hint = suggest(&r.name, &known)
                    .map(|s| format!(" (did you mean `{s}`?)"))
                    .unwrap_or_default();
                problems.push(Problem::new(
                    at,
                    format!(
                        "updates[{i}].registries: unknown registry `{}`{origin}; it is defined neither in `registries` of this file nor in the operator config{hint}",
                        show(&r.name)
                    ),
                ));
            }
        }
    }
    ok.then_some(out)
}

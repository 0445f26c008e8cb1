//! The settings of an `updates[]` entry, shared by `.updatebot.yml` and operator defaults.

use serde::Serialize;

use super::enums::{
    AllowDependencyType, AppliesTo, BranchSeparator, CommitMessageInclude, GroupDependencyType,
    IgnoreUpdateType, InsecureExternalCodeExecution, Interval, RebaseStrategy, SemverLevel,
    VersioningStrategy, Weekday,
};
use super::keys::{self, *};
use super::problem::show;
use super::rules::{self, CRON_PATTERN, NAME_PATTERN, TIMEZONE_PATTERN, TIME_PATTERN};
use super::walk::{place, Field, Fields, KeySet, Walker};
use super::yaml::{Kind, Node, Value};

/// Upper bound for `cooldown.digest-settle-hours` (a month).
const MAX_SETTLE_HOURS: u64 = 24 * 31;
/// Upper bound for `open-merge-requests-limit`.
pub const MAX_OPEN_LIMIT: u64 = 1000;
/// Upper bound for the `cooldown` day counts.
pub const MAX_COOLDOWN_DAYS: u64 = 3650;

/// Everything an `updates[]` entry can set besides where to look. Every field is optional:
/// `None` means "not given here" (operator defaults then apply, see `merge`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct UpdateSettings {
    pub exclude_paths: Option<Vec<String>>,
    pub schedule: Option<Schedule>,
    pub allow: Option<Vec<AllowRule>>,
    pub ignore: Option<Vec<IgnoreRule>>,
    pub groups: Option<Vec<Group>>,
    pub labels: Option<Vec<String>>,
    pub assignees: Option<Vec<String>>,
    pub reviewers: Option<Vec<String>>,
    pub milestone: Option<Milestone>,
    /// `open-pull-requests-limit` or `open-merge-requests-limit`.
    pub open_merge_requests_limit: Option<u32>,
    pub versioning_strategy: Option<VersioningStrategy>,
    pub commit_message: Option<CommitMessage>,
    pub target_branch: Option<String>,
    pub registries: Option<RegistrySelection>,
    pub cooldown: Option<Cooldown>,
    pub rebase_strategy: Option<RebaseStrategy>,
    /// `pull-request-branch-name.separator` or `merge-request-branch-name.separator`.
    pub branch_name_separator: Option<BranchSeparator>,
    pub insecure_external_code_execution: Option<InsecureExternalCodeExecution>,
    pub vendor: Option<bool>,
    /// `security-updates`: merge requests for vulnerable locked versions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub security_updates: Option<SecurityUpdates>,
}

/// `security-updates` of an entry or of the operator defaults; unset fields fall back.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SecurityUpdates {
    pub enabled: Option<bool>,
    /// `open-pull-requests-limit` or `open-merge-requests-limit`, for security merge requests.
    pub open_merge_requests_limit: Option<u32>,
    /// Whether the entry's `cooldown` holds back security fixes too (default: they are exempt).
    pub cooldown: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Schedule {
    pub interval: Interval,
    pub day: Option<Weekday>,
    pub time: Option<TimeOfDay>,
    /// An IANA zone name (only its shape is checked here).
    pub timezone: Option<String>,
    /// Five crontab fields; present exactly when `interval` is `cron`.
    pub cronjob: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeOfDay {
    pub hour: u8,
    pub minute: u8,
}

impl std::fmt::Display for TimeOfDay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:02}:{:02}", self.hour, self.minute)
    }
}

/// As written in the file: `"06:00"`.
impl Serialize for TimeOfDay {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AllowRule {
    /// A glob over dependency names.
    pub dependency_name: Option<String>,
    pub dependency_type: Option<AllowDependencyType>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IgnoreRule {
    /// A glob over dependency names.
    pub dependency_name: String,
    /// Version ranges in the ecosystem's own syntax; empty = every version.
    pub versions: Vec<String>,
    /// Update levels to ignore; empty = every level.
    pub update_types: Vec<SemverLevel>,
}

/// `groups.<name>`, kept in file order: a dependency joins the first group that matches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Group {
    pub name: String,
    pub line: usize,
    pub applies_to: AppliesTo,
    pub dependency_type: Option<GroupDependencyType>,
    pub patterns: Vec<String>,
    pub exclude_patterns: Vec<String>,
    pub update_types: Vec<SemverLevel>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Milestone {
    Id(u64),
    Title(String),
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CommitMessage {
    pub prefix: Option<String>,
    pub prefix_development: Option<String>,
    pub include_scope: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistrySelection {
    /// `registries: "*"`: every registry the entry's ecosystem can use.
    All,
    Named(Vec<RegistryRef>),
}

/// As written in the file: `"*"` or the list of names.
impl Serialize for RegistrySelection {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            RegistrySelection::All => s.serialize_str("*"),
            RegistrySelection::Named(names) => names.serialize(s),
        }
    }
}

/// A registry named by an entry, with the line that names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RegistryRef {
    pub name: String,
    pub line: usize,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Cooldown {
    pub default_days: Option<u32>,
    pub semver_major_days: Option<u32>,
    pub semver_minor_days: Option<u32>,
    pub semver_patch_days: Option<u32>,
    /// Hours a container tag must have stood still before its new digest is proposed.
    pub digest_settle_hours: Option<u32>,
    /// Globs over dependency names the cooldown applies to (empty = all).
    pub include: Vec<String>,
    /// Globs over dependency names exempt from the cooldown.
    pub exclude: Vec<String>,
}

/// Reads the settings keys of `fields` (the caller has already checked which keys exist).
pub(crate) fn parse_settings(w: &mut Walker, fields: &Fields<'_>) -> UpdateSettings {
    let mut s = UpdateSettings::default();
    if let Some(f) = fields.get("exclude-paths") {
        s.exclude_paths = list(w, f, rules::path_glob);
    }
    if let Some(f) = fields.get("schedule") {
        s.schedule = schedule(w, f);
    }
    if let Some(f) = fields.get("allow") {
        s.allow = list(w, f, allow_rule);
    }
    if let Some(f) = fields.get("ignore") {
        s.ignore = list(w, f, ignore_rule);
    }
    if let Some(f) = fields.get("groups") {
        s.groups = groups(w, f);
    }
    if let Some(f) = fields.get("labels") {
        s.labels = w.string_list(f);
    }
    if let Some(f) = fields.get("assignees") {
        s.assignees = w.string_list(f);
    }
    if let Some(f) = fields.get("reviewers") {
        s.reviewers = w.string_list(f);
    }
    if let Some(f) = fields.get("milestone") {
        s.milestone = milestone(w, f);
    }
    if let Some(f) = one_of(w, fields, OPEN_LIMIT, OPEN_LIMIT_GITLAB) {
        s.open_merge_requests_limit = w
            .uint(f, MAX_OPEN_LIMIT)
            .and_then(|n| u32::try_from(n).ok());
    }
    if let Some(f) = fields.get("versioning-strategy") {
        s.versioning_strategy = w.choice(f);
    }
    if let Some(f) = fields.get("commit-message") {
        s.commit_message = commit_message(w, f);
    }
    if let Some(f) = fields.get("target-branch") {
        s.target_branch = w.string(f);
    }
    if let Some(f) = fields.get("registries") {
        s.registries = registry_selection(w, f);
    }
    if let Some(f) = fields.get("cooldown") {
        s.cooldown = cooldown(w, f);
    }
    if let Some(f) = fields.get("rebase-strategy") {
        s.rebase_strategy = w.choice(f);
    }
    if let Some(f) = one_of(w, fields, BRANCH_NAME, BRANCH_NAME_GITLAB) {
        let p = f.path();
        if let Some(bf) = w.map(f.value, &p, &KeySet::new(BRANCH_NAME_KEYS)) {
            w.require(&bf, &["separator"]);
            s.branch_name_separator = bf.get("separator").and_then(|f| w.choice(f));
        }
    }
    if let Some(f) = fields.get("insecure-external-code-execution") {
        s.insecure_external_code_execution = w.choice(f);
    }
    if let Some(f) = fields.get("vendor") {
        s.vendor = w.bool(f);
    }
    if let Some(f) = fields.get(SECURITY_UPDATES) {
        s.security_updates = security_updates(w, f);
    }
    s
}

fn security_updates(w: &mut Walker, f: Field<'_>) -> Option<SecurityUpdates> {
    let p = f.path();
    let sf = w.map(f.value, &p, &KeySet::new(SECURITY_KEYS))?;
    Some(SecurityUpdates {
        enabled: sf.get("enabled").and_then(|f| w.bool(f)),
        open_merge_requests_limit: one_of(w, &sf, OPEN_LIMIT, OPEN_LIMIT_GITLAB)
            .and_then(|f| w.uint(f, MAX_OPEN_LIMIT))
            .and_then(|n| u32::try_from(n).ok()),
        cooldown: sf.get("cooldown").and_then(|f| w.bool(f)),
    })
}

/// The value of `a` or of its other spelling `b`; giving both is a problem.
fn one_of<'a>(w: &mut Walker, fields: &Fields<'a>, a: &'a str, b: &'a str) -> Option<Field<'a>> {
    match (fields.get(a), fields.get(b)) {
        (Some(fa), Some(fb)) => {
            let later = if fa.key_pos.line > fb.key_pos.line {
                fa
            } else {
                fb
            };
            let msg = format!(
                "give only one of `{a}` and `{b}` {} (they are the same setting)",
                place(fields.path)
            );
            w.problem(later.key_pos, msg);
            None
        }
        (fa, fb) => fa.or(fb),
    }
}

/// Reads a list whose items are read by `item` (given the item's path, `x[3]`).
fn list<T>(
    w: &mut Walker,
    f: Field<'_>,
    mut item: impl FnMut(&mut Walker, &Node, &str) -> Option<T>,
) -> Option<Vec<T>> {
    let items = w.seq(f)?;
    let path = f.path();
    let out = items
        .iter()
        .enumerate()
        .filter_map(|(i, node)| item(w, node, &format!("{path}[{i}]")))
        .collect();
    Some(out)
}

fn globs(w: &mut Walker, f: Field<'_>) -> Vec<String> {
    list(w, f, rules::glob).unwrap_or_default()
}

fn schedule(w: &mut Walker, f: Field<'_>) -> Option<Schedule> {
    let p = f.path();
    let sf = w.map(f.value, &p, &KeySet::new(SCHEDULE_KEYS))?;
    w.require(&sf, &["interval"]);
    let interval = sf.get("interval").and_then(|f| w.choice::<Interval>(f));
    let day = sf.get("day").and_then(|f| w.choice(f));
    let time = sf.get("time").and_then(|f| {
        let s = rules::patterned(
            w,
            f.value,
            &f.path(),
            TIME_PATTERN,
            "a time of day as `HH:MM` (00:00 to 23:59)",
        )?;
        let (h, m) = s.split_once(':')?;
        Some(TimeOfDay {
            hour: h.parse().ok()?,
            minute: m.parse().ok()?,
        })
    });
    let timezone = sf.get("timezone").and_then(|f| {
        rules::patterned(
            w,
            f.value,
            &f.path(),
            TIMEZONE_PATTERN,
            "an IANA time zone name like `Europe/Berlin` or `UTC`",
        )
    });
    let cron_field = sf.get("cronjob");
    let cronjob = cron_field.and_then(|f| {
        rules::patterned(
            w,
            f.value,
            &f.path(),
            CRON_PATTERN,
            "a crontab schedule of five fields (minute hour day-of-month month day-of-week)",
        )
    });
    match (interval, cron_field) {
        (Some(Interval::Cron), None) if !sf.misspelt("cronjob") => {
            let msg = format!(
                "missing required key `cronjob` in {p} (required when `interval` is `cron`)"
            );
            w.problem(sf.pos, msg);
        }
        (Some(i), Some(cf)) if i != Interval::Cron => {
            let msg = format!(
                "{}: only allowed when `interval` is `cron`, not `{i}`",
                cf.path()
            );
            w.problem(cf.key_pos, msg);
        }
        _ => {}
    }
    Some(Schedule {
        interval: interval?,
        day,
        time,
        timezone,
        cronjob,
    })
}

fn allow_rule(w: &mut Walker, node: &Node, path: &str) -> Option<AllowRule> {
    let af = w.map(node, path, &KeySet::new(ALLOW_KEYS))?;
    let dependency_name = af
        .get("dependency-name")
        .and_then(|f| rules::glob(w, f.value, &f.path()));
    let dependency_type = af.get("dependency-type").and_then(|f| w.choice(f));
    if af.get("dependency-name").is_none() && af.get("dependency-type").is_none() {
        let msg = format!("{path}: give `dependency-name`, `dependency-type` or both");
        w.problem(af.pos, msg);
        return None;
    }
    Some(AllowRule {
        dependency_name,
        dependency_type,
    })
}

fn ignore_rule(w: &mut Walker, node: &Node, path: &str) -> Option<IgnoreRule> {
    let igf = w.map(node, path, &KeySet::new(IGNORE_KEYS))?;
    w.require(&igf, &["dependency-name"]);
    let name = igf
        .get("dependency-name")
        .and_then(|f| rules::glob(w, f.value, &f.path()));
    let versions = match igf.get("versions") {
        // Dependabot also takes a single range as a plain string.
        Some(f) if f.value.as_str().is_some() => w.string(f).into_iter().collect(),
        Some(f) => w.string_list(f).unwrap_or_default(),
        None => Vec::new(),
    };
    let update_types = igf
        .get("update-types")
        .and_then(|f| w.choice_list::<IgnoreUpdateType>(f))
        .unwrap_or_default()
        .into_iter()
        .map(IgnoreUpdateType::level)
        .collect();
    Some(IgnoreRule {
        dependency_name: name?,
        versions,
        update_types,
    })
}

fn groups(w: &mut Walker, f: Field<'_>) -> Option<Vec<Group>> {
    let p = f.path();
    let Kind::Map(_) = f.value.kind else {
        let msg = format!(
            "{p}: expected a mapping of group names to groups, got {}",
            f.value.describe()
        );
        w.problem(f.value.pos, msg);
        return None;
    };
    // Group names are free, so list the names first and then read each group.
    let names: Vec<&str> = match &f.value.kind {
        Kind::Map(entries) => entries.iter().filter_map(|(k, _)| k.as_str()).collect(),
        _ => Vec::new(),
    };
    let gf = w.map(f.value, &p, &KeySet::new(&names))?;
    let mut out = Vec::new();
    for (name, key_pos, value) in gf.keys() {
        let gp = format!("{p}.{name}");
        if !w.matches(NAME_PATTERN, name) {
            let msg = format!(
                "{p}: group name `{}` may only hold letters, digits, `.`, `_` and `-`",
                show(name)
            );
            w.problem(key_pos, msg);
        }
        let Some(fields) = w.map(value, &gp, &KeySet::new(GROUP_KEYS)) else {
            continue;
        };
        let g = Group {
            name: name.to_owned(),
            line: key_pos.line,
            applies_to: fields
                .get("applies-to")
                .and_then(|f| w.choice(f))
                .unwrap_or(AppliesTo::VersionUpdates),
            dependency_type: fields.get("dependency-type").and_then(|f| w.choice(f)),
            patterns: fields
                .get("patterns")
                .map(|f| globs(w, f))
                .unwrap_or_default(),
            exclude_patterns: fields
                .get("exclude-patterns")
                .map(|f| globs(w, f))
                .unwrap_or_default(),
            update_types: fields
                .get("update-types")
                .and_then(|f| w.choice_list(f))
                .unwrap_or_default(),
        };
        if ["patterns", "dependency-type", "update-types"]
            .iter()
            .all(|k| fields.get(k).is_none())
        {
            let msg = format!(
                "{gp}: give at least one of `patterns`, `dependency-type` or `update-types`"
            );
            w.problem(fields.pos, msg);
        }
        out.push(g);
    }
    Some(out)
}

fn milestone(w: &mut Walker, f: Field<'_>) -> Option<Milestone> {
    match &f.value.kind {
        Kind::Scalar(Value::Int(i), raw) => match u64::try_from(*i) {
            Ok(id) if id >= 1 => Some(Milestone::Id(id)),
            _ => {
                let msg = format!(
                    "{}: a milestone id must be at least 1, got `{}`",
                    f.path(),
                    show(raw)
                );
                w.problem(f.value.pos, msg);
                None
            }
        },
        Kind::Scalar(Value::Str(_), _) => w.string(f).map(Milestone::Title),
        _ => {
            let msg = format!(
                "{}: expected a milestone id (integer) or title (string), got {}",
                f.path(),
                f.value.describe()
            );
            w.problem(f.value.pos, msg);
            None
        }
    }
}

fn commit_message(w: &mut Walker, f: Field<'_>) -> Option<CommitMessage> {
    let p = f.path();
    let cf = w.map(f.value, &p, &KeySet::new(COMMIT_MESSAGE_KEYS))?;
    Some(CommitMessage {
        prefix: cf.get("prefix").and_then(|f| w.string(f)),
        prefix_development: cf.get("prefix-development").and_then(|f| w.string(f)),
        include_scope: cf
            .get("include")
            .and_then(|f| w.choice::<CommitMessageInclude>(f))
            .is_some(),
    })
}

fn registry_selection(w: &mut Walker, f: Field<'_>) -> Option<RegistrySelection> {
    if let Kind::Scalar(Value::Str(s), _) = &f.value.kind {
        if s == "*" {
            return Some(RegistrySelection::All);
        }
        let msg = format!(
            "{}: expected `\"*\"` or a list of registry names, got string `{}`",
            f.path(),
            show(s)
        );
        w.problem(f.value.pos, msg);
        return None;
    }
    let names = list(w, f, |w, node, path| {
        let name = w.string_node(node, path)?;
        if name == "*" {
            let msg = format!("{path}: `*` stands alone: write `registries: \"*\"`");
            w.problem(node.pos, msg);
            return None;
        }
        Some(RegistryRef {
            name,
            line: node.pos.line,
        })
    })?;
    Some(RegistrySelection::Named(names))
}

fn cooldown(w: &mut Walker, f: Field<'_>) -> Option<Cooldown> {
    let p = f.path();
    let cf = w.map(f.value, &p, &KeySet::new(COOLDOWN_KEYS))?;
    let mut days = |key: &str| {
        cf.get(key)
            .and_then(|f| w.uint(f, MAX_COOLDOWN_DAYS))
            .and_then(|d| u32::try_from(d).ok())
    };
    let mut c = Cooldown {
        default_days: days("default-days"),
        semver_major_days: days("semver-major-days"),
        semver_minor_days: days("semver-minor-days"),
        semver_patch_days: days("semver-patch-days"),
        ..Cooldown::default()
    };
    c.digest_settle_hours = cf
        .get("digest-settle-hours")
        .and_then(|f| w.uint(f, MAX_SETTLE_HOURS))
        .and_then(|h| u32::try_from(h).ok());
    c.include = cf.get("include").map(|f| globs(w, f)).unwrap_or_default();
    c.exclude = cf.get("exclude").map(|f| globs(w, f)).unwrap_or_default();
    Some(c)
}

/// Keys of `updates[]` that operator defaults may not set, with the reason.
pub(crate) const DEFAULTS_REFUSED: &[(&str, &str)] = &[
    (
        "package-ecosystem",
        "defaults apply under every repository entry; the repository names its ecosystems",
    ),
    (
        "directory",
        "defaults apply under every repository entry; the repository names its directories",
    ),
    (
        "directories",
        "defaults apply under every repository entry; the repository names its directories",
    ),
];

/// The keys of operator `defaults`.
pub(crate) fn defaults_keys() -> KeySet<'static> {
    KeySet {
        allowed: keys::SETTINGS_KEYS,
        refused: DEFAULTS_REFUSED,
        free: false,
    }
}

//! Policy: which update, if any, a dependency gets. Pure: the releases come in, a decision
//! goes out, with the reason when there is no update.

use crate::config::AllowDependencyType;
use chrono::{DateTime, Utc};
use globset::{GlobBuilder, GlobMatcher};
use updatebot_core::dependency::{Dependency, MinimumAge, SkipReason};
use updatebot_core::registry::{Release, ReleaseList};
use updatebot_core::version::{
    RangeRequest, RangeStrategy, UpdateType, VersionError, VersionScheme,
};

/// A dependency-name pattern (`*` wildcards), matched case-insensitively against the name
/// as written and the registry name.
#[derive(Clone, Debug)]
pub struct NamePattern {
    text: String,
    matcher: Option<GlobMatcher>,
}

impl NamePattern {
    pub fn new(text: &str) -> Self {
        let matcher = GlobBuilder::new(&text.to_ascii_lowercase())
            .literal_separator(false)
            .build()
            .ok()
            .map(|g| g.compile_matcher());
        NamePattern {
            text: text.to_string(),
            matcher,
        }
    }

    pub fn matches(&self, dep: &Dependency) -> bool {
        let names = [
            dep.name.to_ascii_lowercase(),
            dep.package_name.to_ascii_lowercase(),
        ];
        match &self.matcher {
            Some(m) => names.iter().any(|n| m.is_match(n)),
            None => names.iter().any(|n| *n == self.text.to_ascii_lowercase()),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}

/// Dependabot's `ignore` entry.
#[derive(Clone, Debug)]
pub struct IgnoreRule {
    pub name: NamePattern,
    /// Version ranges, in the dependency's own scheme, never proposed.
    pub versions: Vec<String>,
    /// Update types never proposed.
    pub update_types: Vec<UpdateType>,
}

#[derive(Clone, Debug)]
pub struct AllowRule {
    pub name: Option<NamePattern>,
    pub dependency_type: Option<AllowDependencyType>,
}

/// Minimum release age, in days, per update type.
#[derive(Clone, Debug, Default)]
pub struct Cooldown {
    pub default_days: u32,
    pub major_days: Option<u32>,
    pub minor_days: Option<u32>,
    pub patch_days: Option<u32>,
    pub include: Vec<NamePattern>,
    pub exclude: Vec<NamePattern>,
}

impl Cooldown {
    pub(crate) fn days(&self, dep: &Dependency, update_type: UpdateType) -> u32 {
        if !self.include.is_empty() && !self.include.iter().any(|p| p.matches(dep)) {
            return 0;
        }
        if self.exclude.iter().any(|p| p.matches(dep)) {
            return 0;
        }
        let specific = match update_type {
            UpdateType::Major => self.major_days,
            UpdateType::Minor => self.minor_days,
            UpdateType::Patch | UpdateType::Digest => self.patch_days,
            // Pinning adds the digest of the tag already in use: nothing new is taken.
            UpdateType::Pin => return 0,
        };
        specific.unwrap_or(self.default_days)
    }

    /// The days per update type for `dep`, measured from `now` (Unix seconds); `None` when
    /// no update of it waits.
    pub(crate) fn minimum_age(&self, dep: &Dependency, now: i64) -> Option<MinimumAge> {
        let age = MinimumAge {
            major_days: self.days(dep, UpdateType::Major),
            minor_days: self.days(dep, UpdateType::Minor),
            patch_days: self.days(dep, UpdateType::Patch),
            now,
        };
        (age.major_days.max(age.minor_days).max(age.patch_days) > 0).then_some(age)
    }
}

/// The rules that apply to one dependency, from the configuration.
#[derive(Clone, Debug)]
pub struct Rules {
    pub strategy: RangeStrategy,
    pub allow: Vec<AllowRule>,
    pub ignore: Vec<IgnoreRule>,
    pub cooldown: Option<Cooldown>,
    /// Hours a container tag must have stood still before a new digest of it is proposed
    /// (multi-platform digests change while platforms are added).
    pub digest_settle_hours: u32,
    /// `pin-digests`: references without a digest get the digest of their tag added.
    pub pin_digests: bool,
    /// The cooldown holds back security fixes too (`security-updates.cooldown`).
    pub security_cooldown: bool,
}

/// The settle time of digest updates when `cooldown.digest-settle-hours` is not given.
pub const DEFAULT_DIGEST_SETTLE_HOURS: u32 = 6;

impl Default for Rules {
    fn default() -> Self {
        Rules {
            strategy: RangeStrategy::default(),
            allow: Vec::new(),
            ignore: Vec::new(),
            cooldown: None,
            digest_settle_hours: DEFAULT_DIGEST_SETTLE_HOURS,
            pin_digests: false,
            security_cooldown: false,
        }
    }
}

/// A proposed update.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Proposal {
    pub current_version: Option<String>,
    pub new_version: String,
    /// The manifest's new text; `None` when the range already admits the new version.
    pub new_value: Option<String>,
    pub update_type: UpdateType,
    /// Why a newer version was passed over, if one was.
    pub notes: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    Update(Proposal),
    /// Looked up, but nothing to do; the reason says why.
    NoUpdate {
        current_version: Option<String>,
        reason: String,
    },
    /// Not looked up at all.
    Skipped(SkipReason),
}

/// Whether the dependency is looked up at all (`allow` and name-only `ignore` rules).
pub fn skip_reason(dep: &Dependency, rules: &Rules) -> Option<SkipReason> {
    if let Some(reason) = &dep.skip_reason {
        return Some(reason.clone());
    }
    if !rules.allow.is_empty() && !rules.allow.iter().any(|a| allows(a, dep)) {
        return Some(SkipReason::Ignored);
    }
    let fully_ignored = rules
        .ignore
        .iter()
        .any(|r| r.versions.is_empty() && r.update_types.is_empty() && r.name.matches(dep));
    fully_ignored.then_some(SkipReason::Ignored)
}

fn allows(rule: &AllowRule, dep: &Dependency) -> bool {
    let name_ok = rule.name.as_ref().map(|n| n.matches(dep)).unwrap_or(true);
    let type_ok = match rule.dependency_type {
        None | Some(AllowDependencyType::All) | Some(AllowDependencyType::Direct) => true,
        // Manifests list direct dependencies only.
        Some(AllowDependencyType::Indirect) => false,
        Some(AllowDependencyType::Production) => !dep.development,
        Some(AllowDependencyType::Development) => dep.development,
    };
    name_ok && type_ok
}

/// The version in use: the pin, else the highest release the range admits that the
/// environment can install (the lowest, when the strategy raises ranges: `increase` moves
/// `>=1.0` even if it admits the newest). Stable releases are preferred: a range such as
/// `>=1.0,<2` is not "on" 1.9b1 just because it admits it.
pub fn current_version(
    dep: &Dependency,
    scheme: &dyn VersionScheme,
    releases: &[Release],
    strategy: RangeStrategy,
    usable: &dyn Fn(&Release) -> bool,
) -> Option<String> {
    if let Some(pinned) = scheme.pinned_version(&dep.current_value) {
        return Some(pinned);
    }
    let admitted: Vec<&Release> = releases
        .iter()
        .filter(|r| {
            !r.yanked
                && r.unfit.is_none()
                && usable(r)
                && scheme
                    .satisfies(&dep.current_value, &r.version)
                    .unwrap_or(false)
        })
        .collect();
    let stable: Vec<&Release> = admitted
        .iter()
        .copied()
        .filter(|r| !scheme.is_prerelease(&r.version))
        .collect();
    let pool = if stable.is_empty() { admitted } else { stable };
    let order = |a: &&Release, b: &&Release| {
        scheme
            .compare(&a.version, &b.version)
            .unwrap_or(std::cmp::Ordering::Equal)
    };
    let chosen = if strategy == RangeStrategy::Increase {
        pool.into_iter().min_by(order)
    } else {
        pool.into_iter().max_by(order)
    };
    chosen.map(|r| r.version.clone())
}

/// Why a candidate release is passed over, or `None` if it may be proposed.
type Filter<'a> = dyn Fn(&Release) -> Option<String> + 'a;

/// Newest first: the releases that are newer than `current`, valid, not withdrawn,
/// compatible, and pre-releases only when `current` is one. Releases passed over by
/// `filter` are returned with their reasons.
pub fn candidates<'r>(
    scheme: &dyn VersionScheme,
    current: Option<&str>,
    releases: &'r [Release],
    filter: &Filter<'_>,
) -> (Vec<&'r Release>, Vec<(&'r Release, String)>) {
    let allow_pre = current.map(|c| scheme.is_prerelease(c)).unwrap_or(false);
    let mut newer: Vec<&Release> = releases
        .iter()
        .filter(|r| scheme.is_valid_version(&r.version))
        .filter(|r| match current {
            Some(c) => scheme
                .compare(&r.version, c)
                .map(|o| o.is_gt())
                .unwrap_or(false),
            None => true,
        })
        .filter(|r| allow_pre || !scheme.is_prerelease(&r.version))
        .filter(|r| {
            current
                .map(|c| scheme.is_compatible(c, &r.version))
                .unwrap_or(true)
        })
        .collect();
    newer.sort_by(|a, b| {
        scheme
            .compare(&b.version, &a.version)
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    let mut ok = Vec::new();
    let mut passed = Vec::new();
    for release in newer {
        if release.yanked {
            let why = match &release.yanked_reason {
                Some(reason) => format!("{} is yanked ({reason})", release.version),
                None => format!("{} is yanked", release.version),
            };
            passed.push((release, why));
        } else if let Some(why) = &release.unfit {
            passed.push((release, format!("{} {why}", release.version)));
        } else if let Some(why) = filter(release) {
            passed.push((release, why));
        } else {
            ok.push(release);
        }
    }
    (ok, passed)
}

/// Everything `decide` needs besides the dependency.
pub struct Context<'a> {
    pub scheme: &'a dyn VersionScheme,
    pub releases: &'a ReleaseList,
    /// Whether a release fits the project's environment (requires-python, engines); the
    /// `Err` text says why not.
    pub environment: &'a dyn Fn(&Release) -> Result<(), String>,
    pub rules: &'a Rules,
    /// The version a lockfile records, if there is one.
    pub locked_version: Option<&'a str>,
    pub now: DateTime<Utc>,
}

fn released_hours_ago(release: &Release, now: DateTime<Utc>) -> Option<i64> {
    let at = DateTime::parse_from_rfc3339(release.released_at.as_deref()?).ok()?;
    Some((now - at.with_timezone(&Utc)).num_hours())
}

pub(crate) fn released_days_ago(release: &Release, now: DateTime<Utc>) -> Option<i64> {
    let at = DateTime::parse_from_rfc3339(release.released_at.as_deref()?).ok()?;
    Some((now - at.with_timezone(&Utc)).num_days())
}

/// The kind of step from `current` to `new`: a new digest of the same tag is a `pin` when the
/// reference had no digest before (`pin-digests`).
fn update_type_of(
    dep: &Dependency,
    scheme: &dyn VersionScheme,
    current: Option<&str>,
    new: &str,
) -> UpdateType {
    match current.map(|c| scheme.update_type(c, new)) {
        Some(UpdateType::Digest) if dep.pin_digest => UpdateType::Pin,
        Some(t) => t,
        None => UpdateType::Major,
    }
}

/// Decide the update of one dependency.
pub fn decide(dep: &Dependency, ctx: &Context<'_>) -> Decision {
    if let Some(reason) = skip_reason(dep, ctx.rules) {
        return Decision::Skipped(reason);
    }
    let scheme = ctx.scheme;
    let strategy = dep.range_strategy.unwrap_or(ctx.rules.strategy);
    if !dep.current_value.is_empty() && !scheme.is_valid_range(&dep.current_value) {
        return Decision::NoUpdate {
            current_version: None,
            reason: format!(
                "`{}` is not a valid {} version or range",
                dep.current_value,
                scheme.name()
            ),
        };
    }
    let current = ctx.locked_version.map(str::to_string).or_else(|| {
        let usable = |r: &Release| (ctx.environment)(r).is_ok();
        current_version(dep, scheme, &ctx.releases.releases, strategy, &usable)
    });
    let pinned = scheme.pinned_version(&dep.current_value).is_some();
    let filter = |release: &Release| -> Option<String> {
        if let Err(why) = (ctx.environment)(release) {
            return Some(format!("{} {why}", release.version));
        }
        // The registry's `latest` tag caps proposals, unless the project is already past it.
        if let Some(latest) = ctx.releases.tags.get("latest") {
            let above = |v: &str| {
                scheme
                    .compare(v, latest)
                    .map(|o| o.is_gt())
                    .unwrap_or(false)
            };
            if above(&release.version) && !current.as_deref().is_some_and(above) {
                return Some(format!(
                    "{} is newer than the registry's `latest` ({latest})",
                    release.version
                ));
            }
        }
        if strategy == RangeStrategy::LockfileOnly
            && !dep.current_value.is_empty()
            && !scheme
                .satisfies(&dep.current_value, &release.version)
                .unwrap_or(false)
        {
            return Some(format!(
                "{} is outside `{}` (versioning-strategy lockfile-only)",
                release.version, dep.current_value
            ));
        }
        let update_type = update_type_of(dep, scheme, current.as_deref(), &release.version);
        for rule in ctx.rules.ignore.iter().filter(|r| r.name.matches(dep)) {
            if rule.update_types.contains(&update_type) {
                return Some(format!(
                    "{} is a {update_type} update, ignored for `{}`",
                    release.version,
                    rule.name.as_str()
                ));
            }
            // An ignore range that does not parse fails closed: better no update than one the
            // team meant to exclude.
            if let Some(bad) = rule
                .versions
                .iter()
                .find(|v| scheme.satisfies(v, &release.version).is_err())
            {
                return Some(format!(
                    "the ignore range `{bad}` for `{}` is not a valid {} range, so nothing is proposed",
                    rule.name.as_str(),
                    scheme.name()
                ));
            }
            if let Some(range) = rule
                .versions
                .iter()
                .find(|v| scheme.satisfies(v, &release.version).unwrap_or(false))
            {
                return Some(format!(
                    "{} is ignored by `{range}` for `{}`",
                    release.version,
                    rule.name.as_str()
                ));
            }
        }
        if let Some(cooldown) = &ctx.rules.cooldown {
            let days = cooldown.days(dep, update_type);
            if days > 0 {
                match released_days_ago(release, ctx.now) {
                    Some(age) if age < i64::from(days) => {
                        return Some(format!(
                            "{} is {age} days old, under the {days}-day cooldown",
                            release.version
                        ))
                    }
                    // No date (PEP 503 HTML indexes give none): the cooldown cannot apply; the
                    // proposal says so in its notes.
                    _ => {}
                }
            }
        }
        let settle = ctx.rules.digest_settle_hours;
        if update_type == UpdateType::Digest && settle > 0 {
            if let Some(hours) = released_hours_ago(release, ctx.now) {
                if hours < i64::from(settle) {
                    return Some(format!(
                        "the tag moved {hours} hours ago, under the {settle}-hour settle time for new digests"
                    ));
                }
            }
        }
        None
    };
    let (ok, passed) = candidates(scheme, current.as_deref(), &ctx.releases.releases, &filter);
    let mut notes: Vec<String> = passed
        .iter()
        .take_while(|(r, _)| {
            ok.first()
                .map(|best| {
                    scheme
                        .compare(&r.version, &best.version)
                        .map(|o| o.is_gt())
                        .unwrap_or(false)
                })
                .unwrap_or(true)
        })
        .map(|(_, why)| why.clone())
        .collect();
    let mut cannot_rewrite: Option<usize> = None;
    for release in ok {
        let request = RangeRequest {
            current_value: &dep.current_value,
            current_version: current.as_deref(),
            new_version: &release.version,
            strategy,
        };
        let new_value = match scheme.new_range(request) {
            Ok(value) => value,
            Err(VersionError::CannotRewrite { reason, .. }) => {
                let note = format!("{}: {reason}", release.version);
                // Why the newest candidate could not be written says the most (a range the
                // scheme never rewrites): it leads the notes.
                if cannot_rewrite.is_none() {
                    cannot_rewrite = Some(notes.len());
                }
                notes.push(note);
                continue;
            }
            Err(e) => {
                notes.push(format!("{}: {e}", release.version));
                continue;
            }
        };
        let update_type = update_type_of(dep, scheme, current.as_deref(), &release.version);
        if let Some(cooldown) = &ctx.rules.cooldown {
            let days = cooldown.days(dep, update_type);
            if days > 0 && released_days_ago(release, ctx.now).is_none() {
                notes.push(format!(
                    "{} has no release date, so the {days}-day cooldown could not be applied",
                    release.version
                ));
            }
        }
        return Decision::Update(Proposal {
            current_version: current,
            new_version: release.version.clone(),
            new_value,
            update_type,
            notes,
        });
    }
    if let Some(at) = cannot_rewrite {
        let note = notes.remove(at);
        notes.insert(0, note);
    }
    let reason = if let Some(first) = notes.first() {
        format!("no update: {first}")
    } else if ctx.releases.releases.is_empty() {
        "the registry lists no releases".to_string()
    } else {
        match &current {
            Some(version) if pinned || ctx.locked_version.is_some() => {
                format!("up to date ({version} is the newest)")
            }
            Some(version) => format!(
                "up to date (`{}` admits {version}, the newest)",
                dep.current_value
            ),
            None => "no release matches the current range".to_string(),
        }
    };
    Decision::NoUpdate {
        current_version: current,
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use updatebot_python::pep440::Pep440;

    fn releases(versions: &[&str]) -> ReleaseList {
        ReleaseList {
            name: "demo".into(),
            releases: versions.iter().map(|v| Release::new(*v)).collect(),
            ..ReleaseList::default()
        }
    }

    fn dep(value: &str) -> Dependency {
        Dependency::new("demo", "demo", value, None, "pep440")
    }

    fn decide_with(dep: &Dependency, list: &ReleaseList, rules: &Rules) -> Decision {
        let ok = |_: &Release| Ok(());
        decide(
            dep,
            &Context {
                scheme: &Pep440,
                releases: list,
                environment: &ok,
                rules,
                locked_version: None,
                now: Utc::now(),
            },
        )
    }

    fn proposal(d: Decision) -> Proposal {
        match d {
            Decision::Update(p) => p,
            other => panic!("expected an update, got {other:?}"),
        }
    }

    #[test]
    fn pins_move_to_the_newest_stable() {
        let list = releases(&["1.0", "1.1", "2.0", "3.0b1"]);
        let p = proposal(decide_with(&dep("==1.0"), &list, &Rules::default()));
        assert_eq!(p.new_version, "2.0");
        assert_eq!(p.new_value.as_deref(), Some("==2.0"));
        assert_eq!(p.update_type, UpdateType::Major);
        assert_eq!(p.current_version.as_deref(), Some("1.0"));
    }

    #[test]
    fn prereleases_only_from_a_prerelease() {
        let list = releases(&["1.0", "2.0b1", "2.0b2"]);
        let p = proposal(decide_with(&dep("==2.0b1"), &list, &Rules::default()));
        assert_eq!(p.new_version, "2.0b2");
        let d = decide_with(&dep("==1.0"), &list, &Rules::default());
        assert!(matches!(d, Decision::NoUpdate { .. }), "{d:?}");
    }

    #[test]
    fn yanked_versions_are_passed_over_with_a_note() {
        let mut list = releases(&["1.0", "1.1", "1.2"]);
        list.releases[2].yanked = true;
        let p = proposal(decide_with(&dep("==1.0"), &list, &Rules::default()));
        assert_eq!(p.new_version, "1.1");
        assert_eq!(p.notes, ["1.2 is yanked"]);
    }

    #[test]
    fn ignore_rules_by_versions_and_update_types() {
        let list = releases(&["1.0", "1.1", "2.0", "3.0"]);
        let rules = Rules {
            ignore: vec![IgnoreRule {
                name: NamePattern::new("dem*"),
                versions: vec![">=3".into()],
                update_types: vec![UpdateType::Major],
            }],
            ..Rules::default()
        };
        let p = proposal(decide_with(&dep("==1.0"), &list, &rules));
        assert_eq!(p.new_version, "1.1");
        assert_eq!(p.notes.len(), 2);
        let skip = Rules {
            ignore: vec![IgnoreRule {
                name: NamePattern::new("DEMO"),
                versions: vec![],
                update_types: vec![],
            }],
            ..Rules::default()
        };
        assert_eq!(
            decide_with(&dep("==1.0"), &list, &skip),
            Decision::Skipped(SkipReason::Ignored)
        );
    }

    #[test]
    fn ranges_that_admit_the_newest_need_no_change() {
        let list = releases(&["1.0", "1.5"]);
        // Without a lock, the version of a range is the newest it admits.
        match decide_with(&dep(">=1.0"), &list, &Rules::default()) {
            Decision::NoUpdate {
                reason,
                current_version,
            } => {
                assert_eq!(reason, "up to date (`>=1.0` admits 1.5, the newest)");
                assert_eq!(current_version.as_deref(), Some("1.5"));
            }
            other => panic!("{other:?}"),
        }
        // With a lock at 1.0, the lock moves and the manifest stays.
        let ok = |_: &Release| Ok(());
        let p = proposal(decide(
            &dep(">=1.0"),
            &Context {
                scheme: &Pep440,
                releases: &list,
                environment: &ok,
                rules: &Rules::default(),
                locked_version: Some("1.0"),
                now: Utc::now(),
            },
        ));
        assert_eq!(p.new_version, "1.5");
        assert_eq!(p.new_value, None);
    }

    #[test]
    fn increase_raises_a_range_that_admits_the_newest() {
        let list = releases(&["1.0", "1.2", "1.5"]);
        let rules = Rules {
            strategy: RangeStrategy::Increase,
            ..Rules::default()
        };
        let p = proposal(decide_with(&dep(">=1.1"), &list, &rules));
        assert_eq!(p.current_version.as_deref(), Some("1.2"));
        assert_eq!(p.new_value.as_deref(), Some(">=1.5"));
        assert_eq!(p.update_type, UpdateType::Minor);
    }

    #[test]
    fn up_to_date_says_so() {
        let list = releases(&["1.0", "1.1"]);
        match decide_with(&dep("==1.1"), &list, &Rules::default()) {
            Decision::NoUpdate { reason, .. } => {
                assert_eq!(reason, "up to date (1.1 is the newest)")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn environment_filter_explains_itself() {
        let list = releases(&["1.0", "2.0"]);
        let needs = |r: &Release| {
            if r.version == "2.0" {
                Err("needs Python >=3.12".to_string())
            } else {
                Ok(())
            }
        };
        let d = decide(
            &dep("==1.0"),
            &Context {
                scheme: &Pep440,
                releases: &list,
                environment: &needs,
                rules: &Rules::default(),
                locked_version: None,
                now: Utc::now(),
            },
        );
        match d {
            Decision::NoUpdate { reason, .. } => {
                assert_eq!(reason, "no update: 2.0 needs Python >=3.12")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn cooldown_holds_young_releases() {
        let mut list = releases(&["1.0", "1.1", "1.2"]);
        let now = Utc::now();
        list.releases[1].released_at = Some((now - chrono::Duration::days(30)).to_rfc3339());
        list.releases[2].released_at = Some((now - chrono::Duration::days(2)).to_rfc3339());
        let rules = Rules {
            cooldown: Some(Cooldown {
                default_days: 7,
                ..Cooldown::default()
            }),
            ..Rules::default()
        };
        let ok = |_: &Release| Ok(());
        let d = decide(
            &dep("==1.0"),
            &Context {
                scheme: &Pep440,
                releases: &list,
                environment: &ok,
                rules: &rules,
                locked_version: None,
                now,
            },
        );
        let p = proposal(d);
        assert_eq!(p.new_version, "1.1");
        assert!(
            p.notes[0].contains("under the 7-day cooldown"),
            "{:?}",
            p.notes
        );
    }

    #[test]
    fn unfit_releases_are_passed_over_with_the_registry_s_reason() {
        let mut list = releases(&["1.0", "1.1", "1.2"]);
        list.releases[2].unfit = Some("does not cover linux/arm64".into());
        let p = proposal(decide_with(&dep("==1.0"), &list, &Rules::default()));
        assert_eq!(p.new_version, "1.1");
        assert_eq!(p.notes, ["1.2 does not cover linux/arm64"]);
    }

    #[test]
    fn stable_ranges_are_not_on_a_prerelease() {
        let list = releases(&["1.5", "1.9b1", "2.0", "2.1rc1"]);
        let p = proposal(decide_with(&dep(">=1.0,<2"), &list, &Rules::default()));
        assert_eq!(p.current_version.as_deref(), Some("1.5"));
        assert_eq!(p.new_version, "2.0");
        assert_eq!(p.new_value.as_deref(), Some(">=2.0,<3"));
    }

    #[test]
    fn invalid_ignore_ranges_fail_closed() {
        let list = releases(&["1.0", "1.1"]);
        let rules = Rules {
            ignore: vec![IgnoreRule {
                name: NamePattern::new("demo"),
                versions: vec!["1.17.x".into()],
                update_types: vec![],
            }],
            ..Rules::default()
        };
        match decide_with(&dep("==1.0"), &list, &rules) {
            Decision::NoUpdate { reason, .. } => assert!(
                reason.contains("`1.17.x` for `demo` is not a valid pep440 range"),
                "{reason}"
            ),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn lockfile_only_stays_inside_the_range() {
        let list = releases(&["1.0", "1.4", "2.0"]);
        let rules = Rules {
            strategy: RangeStrategy::LockfileOnly,
            ..Rules::default()
        };
        let ok = |_: &Release| Ok(());
        let p = proposal(decide(
            &dep(">=1.0,<2"),
            &Context {
                scheme: &Pep440,
                releases: &list,
                environment: &ok,
                rules: &rules,
                locked_version: Some("1.0"),
                now: Utc::now(),
            },
        ));
        assert_eq!(p.new_version, "1.4");
        assert_eq!(p.new_value, None);
    }

    #[test]
    fn the_latest_tag_caps_proposals() {
        let mut list = releases(&["1.0", "1.1", "2.0"]);
        list.tags.insert("latest".into(), "1.1".into());
        let p = proposal(decide_with(&dep("==1.0"), &list, &Rules::default()));
        assert_eq!(p.new_version, "1.1");
        assert!(p.notes[0].contains("newer than the registry's `latest` (1.1)"));
        // Already past `latest`: newer versions are fine.
        let mut past = releases(&["1.0", "1.1", "1.5", "2.0"]);
        past.tags.insert("latest".into(), "1.1".into());
        let p = proposal(decide_with(&dep("==1.5"), &past, &Rules::default()));
        assert_eq!(p.new_version, "2.0");
    }

    #[test]
    fn a_declaration_s_own_strategy_wins() {
        let list = releases(&["1.0", "2.0"]);
        let mut peer = dep(">=1.0,<2");
        peer.range_strategy = Some(RangeStrategy::Widen);
        let rules = Rules {
            strategy: RangeStrategy::Increase,
            ..Rules::default()
        };
        let p = proposal(decide_with(&peer, &list, &rules));
        assert_eq!(p.new_value.as_deref(), Some(">=1.0,<3"));
    }

    #[test]
    fn cooldown_without_dates_is_said_not_silently_blocking() {
        let list = releases(&["1.0", "1.1"]);
        let rules = Rules {
            cooldown: Some(Cooldown {
                default_days: 3,
                ..Cooldown::default()
            }),
            ..Rules::default()
        };
        let p = proposal(decide_with(&dep("==1.0"), &list, &rules));
        assert_eq!(p.new_version, "1.1");
        assert!(p.notes[0].contains("no release date"), "{:?}", p.notes);
    }

    /// `pin-digests`: the digest of the tag in use is a `pin`, outside any cooldown; a newer
    /// tag with its digest is an ordinary update; an already pinned reference moves as `digest`.
    #[test]
    fn pins_are_their_own_update_type() {
        use updatebot_container::Docker;
        const A: &str = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
        const B: &str = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
        let list = |versions: &[String]| ReleaseList {
            name: "nginx".into(),
            releases: versions.iter().map(Release::new).collect(),
            ..ReleaseList::default()
        };
        let rules = Rules {
            pin_digests: true,
            cooldown: Some(Cooldown {
                default_days: 30,
                ..Cooldown::default()
            }),
            ..Rules::default()
        };
        let decide_docker = |dep: &Dependency, list: &ReleaseList| {
            let ok = |_: &Release| Ok(());
            decide(
                dep,
                &Context {
                    scheme: &Docker,
                    releases: list,
                    environment: &ok,
                    rules: &rules,
                    locked_version: None,
                    now: Utc::now(),
                },
            )
        };
        let mut nginx =
            Dependency::new("nginx", "docker.io/library/nginx", "1.25.3", None, "docker");
        nginx.pin_digest = true;
        let only_current = list(&["1.25.3".into(), format!("1.25.3@{A}")]);
        let p = proposal(decide_docker(&nginx, &only_current));
        assert_eq!(p.update_type, UpdateType::Pin);
        assert_eq!(p.new_value, Some(format!("1.25.3@{A}")));
        assert!(p.notes.is_empty(), "{:?}", p.notes);
        let newer = list(&[
            "1.25.3".into(),
            format!("1.25.3@{A}"),
            "1.27.0".into(),
            format!("1.27.0@{B}"),
        ]);
        let p = proposal(decide_docker(&nginx, &newer));
        assert_eq!(p.update_type, UpdateType::Minor);
        assert_eq!(p.new_value, Some(format!("1.27.0@{B}")));
        // Already pinned: its moved digest is a `digest` update, as without `pin-digests`.
        let pinned = Dependency::new(
            "nginx",
            "docker.io/library/nginx",
            format!("1.25.3@{B}"),
            None,
            "docker",
        );
        let p = proposal(decide_docker(&pinned, &only_current));
        assert_eq!(p.update_type, UpdateType::Digest);
    }

    #[test]
    fn not_equal_exclusions_fall_back_to_the_next_version() {
        let list = releases(&["1.0", "1.9", "2.0"]);
        let p = proposal(decide_with(&dep("==1.0,!=2.0"), &list, &Rules::default()));
        // `==1.0,!=2.0` is no single pin: its current version is 1.0 by range.
        assert_eq!(p.new_version, "1.9");
    }
}

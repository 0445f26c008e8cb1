//! From decided updates to planned merge requests: one per dependency update, or one per
//! `groups` entry; branch names, titles and commit messages. Pure.

use crate::check::{ManifestResult, Outcome};
use crate::config::{
    AppliesTo, BotSettings, CommitMessage, EffectiveUpdate, GroupDependencyType, Milestone,
    SemverLevel,
};
use crate::policy::NamePattern;
use crate::project::ProjectSettings;
use crate::run::sanitize;
use std::collections::BTreeMap;
use std::sync::Arc;
use updatebot_core::registry::ReleaseList;
use updatebot_core::version::UpdateType;
use updatebot_core::Ecosystem;

/// One dependency update inside a planned change (it may span several manifests).
#[derive(Debug, Clone)]
pub struct PlannedUpdate {
    pub name: String,
    pub package: String,
    pub from: String,
    pub to: String,
    pub update_type: UpdateType,
    pub development: bool,
    pub scheme: &'static str,
    /// (manifest path, dependency index) pairs this update edits.
    pub sites: Vec<(String, usize)>,
    pub releases: Option<Arc<ReleaseList>>,
    pub notes: Vec<String>,
}

/// What one merge request should contain.
#[derive(Debug, Clone)]
pub struct PlannedChange {
    pub key: String,
    pub branch: String,
    pub ecosystem: Ecosystem,
    /// `/`-rooted directory of the entry (or of the manifest without a config).
    pub directory: String,
    pub group: Option<String>,
    pub updates: Vec<PlannedUpdate>,
    pub title: String,
    pub commit_message: String,
    pub labels: Vec<String>,
    pub assignees: Vec<String>,
    pub reviewers: Vec<String>,
    pub milestone: Option<Milestone>,
    /// The `.updatebot.yml` entry (index) the change belongs to, for its limit.
    pub entry: Option<usize>,
    pub open_limit: usize,
    pub rebase: bool,
    /// Set for a security update: its files and advisories (see [`crate::security::mr`]).
    pub security: Option<Arc<crate::security::mr::SecurityChange>>,
    /// How the entry names branches and commits (to make a group's member alone).
    pub separator: char,
    pub commit: CommitMessage,
    /// What a failed group member changed about this change (see [`split`]).
    pub split: Split,
    /// A version update that also fixes known advisories of its packages (name, installed
    /// version, advisories): listed in its description, labelled `security`, and no
    /// security merge request of its own (see [`crate::security::supersede`]).
    pub fixes: Vec<(String, String, Vec<updatebot_advisory::AdvisoryView>)>,
    /// Other merge requests of the bot this one replaces once it is open (a security update
    /// over version updates of the same package), closed with a note linking it.
    pub supersedes: Vec<(u64, String)>,
    /// A security update standing by for the version update (this key) that carries its fix:
    /// it is opened only if that one is not (skipped, failed) in this run, with why.
    pub standby: Option<(String, String)>,
}

/// A group that could not take all its members: who was left out, and why.
#[derive(Debug, Clone, Default)]
pub struct Split {
    /// Members left out of this group's change.
    pub left_out: Vec<LeftOut>,
    /// For a member proposed alone: the group it was left out of, and why.
    pub from_group: Option<(String, String)>,
}

/// A member left out of a group's change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeftOut {
    pub name: String,
    pub from: String,
    pub to: String,
    /// Why the group could not take it.
    pub reason: String,
    /// The branch of the merge request of its own it is proposed in (`None`: it cannot be
    /// applied alone either, and is reported failed).
    pub alone: Option<String>,
}

/// Label names per ecosystem, as Dependabot uses them.
pub fn ecosystem_label(ecosystem: Ecosystem) -> &'static str {
    match ecosystem {
        Ecosystem::Python => "python",
        Ecosystem::Npm => "javascript",
        Ecosystem::Docker => "docker",
    }
}

/// Characters git refuses in branch names become `-`.
fn ref_safe(part: &str) -> String {
    let cleaned: String = part
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '+' | '!') {
                c
            } else {
                '-'
            }
        })
        .collect();
    let cleaned = cleaned.replace("..", "-");
    // Bounded: git keeps each ref as a file, and file names have a limit.
    let end = cleaned
        .char_indices()
        .nth(MAX_BRANCH_PART)
        .map_or(cleaned.len(), |(i, _)| i);
    cleaned[..end].trim_matches(['.', '-']).to_string()
}

/// A version for titles and branch names: a digest shortened to 12 hex digits, as
/// `docker images` shows them (`1.28.0-alpine@sha256:393b52560379`). The full value stays in
/// the body, the commit message and the record.
pub fn short_version(version: &str) -> String {
    let shorten = |digest: &str| -> String {
        match digest.split_once(':') {
            Some((algo, hex)) if hex.len() > 12 && hex.bytes().all(|b| b.is_ascii_hexdigit()) => {
                format!("{algo}:{}", &hex[..12])
            }
            _ => digest.to_string(),
        }
    };
    match version.split_once('@') {
        Some((tag, digest)) => format!("{tag}@{}", shorten(digest)),
        None if version.starts_with("sha256:") || version.starts_with("sha512:") => {
            shorten(version)
        }
        None => version.to_string(),
    }
}
/// Longest piece of a branch name taken from a name or a version.
const MAX_BRANCH_PART: usize = 100;

/// `updatebot/pip/backend/requests-2.32.3` (separator from the entry).
pub fn branch_name(
    prefix: &str,
    separator: char,
    ecosystem: Ecosystem,
    directory: &str,
    leaf: &str,
) -> String {
    let mut parts: Vec<String> = vec![prefix.to_string(), ecosystem.as_str().to_string()];
    parts.extend(directory.split('/').filter(|p| !p.is_empty()).map(ref_safe));
    parts.push(ref_safe(leaf));
    parts.join(&separator.to_string())
}

fn directory_of(path: &str) -> String {
    match path.rsplit_once('/') {
        Some((dir, _)) => format!("/{dir}"),
        None => "/".to_string(),
    }
}

/// Whether a manifest directory belongs to an entry directory: the same, or its
/// `requirements/` folder (where pip projects keep requirement sets).
fn within(own: &str, dir: &str) -> bool {
    let base = dir.trim_end_matches('/');
    let requirements = format!("{base}/requirements");
    own == dir || own == requirements || own.starts_with(&format!("{requirements}/"))
}

fn level(update_type: UpdateType) -> Option<SemverLevel> {
    match update_type {
        UpdateType::Major => Some(SemverLevel::Major),
        UpdateType::Minor => Some(SemverLevel::Minor),
        UpdateType::Patch => Some(SemverLevel::Patch),
        UpdateType::Digest | UpdateType::Pin => None,
    }
}

/// The first version-update group of `entry` that `update` joins.
fn group_of<'e>(entry: &'e EffectiveUpdate, update: &PlannedUpdate) -> Option<&'e str> {
    let dep =
        updatebot_core::Dependency::new(&update.name, &update.package, "", None, update.scheme);
    entry
        .groups
        .iter()
        .filter(|g| g.applies_to == AppliesTo::VersionUpdates)
        .find(|g| {
            let named = g.patterns.is_empty()
                || g.patterns.iter().any(|p| NamePattern::new(p).matches(&dep));
            let excluded = g
                .exclude_patterns
                .iter()
                .any(|p| NamePattern::new(p).matches(&dep));
            let typed = match g.dependency_type {
                None => true,
                Some(GroupDependencyType::Production) => !update.development,
                Some(GroupDependencyType::Development) => update.development,
            };
            let leveled = g.update_types.is_empty()
                || level(update.update_type).is_some_and(|l| g.update_types.contains(&l));
            named && !excluded && typed && leveled
        })
        .map(|g| g.name.as_str())
}

/// `deps(deps-dev): bump` / `Bump`, after `commit-message`.
pub(crate) fn lead(commit: &CommitMessage, development: bool) -> String {
    let prefix = if development {
        commit
            .prefix_development
            .as_ref()
            .or(commit.prefix.as_ref())
    } else {
        commit.prefix.as_ref()
    };
    match prefix {
        Some(prefix) => {
            let scope = if commit.include_scope {
                if development {
                    "(deps-dev)"
                } else {
                    "(deps)"
                }
            } else {
                ""
            };
            format!("{}{scope}: bump", prefix.trim_end_matches(':'))
        }
        None => "Bump".to_string(),
    }
}

pub(crate) fn location(directory: &str) -> String {
    if directory == "/" {
        String::new()
    } else {
        format!(" in {directory}")
    }
}

/// The entry directory a manifest belongs to: its own, or the one whose `requirements/`
/// folder holds it; under a glob entry, the manifest's own directory.
pub(crate) fn directory_for(entry: Option<&EffectiveUpdate>, manifest_path: &str) -> String {
    let own = directory_of(manifest_path);
    entry
        .and_then(|e| {
            e.directories
                .iter()
                .filter(|d| !d.is_glob())
                .map(|d| d.as_str())
                .filter(|d| within(&own, d))
                .max_by_key(|d| d.len())
                .map(str::to_string)
        })
        .unwrap_or(own)
}

/// The `ecosystem:directory` scopes these results cover: the merge requests of other scopes
/// (entries not due, not read) are none of this run's business.
pub fn scopes(
    results: &[ManifestResult],
    settings: &ProjectSettings,
) -> std::collections::BTreeSet<String> {
    results
        .iter()
        .map(|r| scope_of_result(r, settings))
        .collect()
}

/// The `ecosystem:directory` scope one manifest belongs to.
pub fn scope_of_result(result: &ManifestResult, settings: &ProjectSettings) -> String {
    let entry = settings.config_for(result.manifest.ecosystem, &result.manifest.path);
    format!(
        "{}:{}",
        result.manifest.ecosystem.as_str(),
        directory_for(entry, &result.manifest.path)
    )
}

/// (ecosystem, directory, package, new version): one dependency update across manifests.
type UpdateKey = (Ecosystem, String, String, String);
/// (ecosystem, directory, group or package name).
type GroupKey = (Ecosystem, String, String);
/// The entry and the updates that make one change.
type Members<'e> = (Option<&'e EffectiveUpdate>, Vec<PlannedUpdate>);

/// Plan the changes of one project's check results.
pub fn plan(
    results: &[ManifestResult],
    settings: &ProjectSettings,
    bot: &BotSettings,
) -> Vec<PlannedChange> {
    // 1. Updates by (ecosystem, directory, package, new version), across manifests.
    let mut by_key: BTreeMap<UpdateKey, (Option<&EffectiveUpdate>, PlannedUpdate)> =
        BTreeMap::new();
    for result in results {
        let manifest = &result.manifest;
        let entry = settings.config_for(manifest.ecosystem, &manifest.path);
        let directory = directory_for(entry, &manifest.path);
        for dep in &result.dependencies {
            let Outcome::Update(p) = &dep.outcome else {
                continue;
            };
            let key = (
                manifest.ecosystem,
                directory.clone(),
                dep.dependency.package_name.clone(),
                p.new_version.clone(),
            );
            let item = by_key.entry(key).or_insert_with(|| {
                (
                    entry,
                    PlannedUpdate {
                        name: dep.dependency.name.clone(),
                        package: dep.dependency.package_name.clone(),
                        from: p
                            .current_version
                            .clone()
                            .unwrap_or_else(|| dep.dependency.current_value.clone()),
                        to: p.new_version.clone(),
                        update_type: p.update_type,
                        development: dep.dependency.development,
                        scheme: dep.dependency.versioning,
                        sites: Vec::new(),
                        releases: dep.releases.clone(),
                        notes: p.notes.clone(),
                    },
                )
            });
            item.1.sites.push((manifest.path.clone(), dep.index));
            item.1.development &= dep.dependency.development;
        }
    }
    // 2. Groups collect their members; the rest stand alone.
    let mut groups: BTreeMap<GroupKey, Members<'_>> = BTreeMap::new();
    let mut singles = Vec::new();
    for ((ecosystem, directory, _, _), (entry, update)) in by_key {
        match entry.and_then(|e| group_of(e, &update)) {
            Some(group) => groups
                .entry((ecosystem, directory, group.to_string()))
                .or_insert_with(|| (entry, Vec::new()))
                .1
                .push(update),
            None => singles.push((ecosystem, directory, entry, update)),
        }
    }
    let mut out = Vec::new();
    // Declarations of one package in one directory that move to different versions (behind
    // different markers, say) make one merge request: their key is the package's.
    let mut by_package: BTreeMap<GroupKey, Members<'_>> = BTreeMap::new();
    for (ecosystem, directory, entry, update) in singles {
        by_package
            .entry((ecosystem, directory, update.package.clone()))
            .or_insert_with(|| (entry, Vec::new()))
            .1
            .push(update);
    }
    for ((ecosystem, directory, package), (entry, updates)) in by_package {
        let separator = entry
            .map(|e| e.branch_name_separator.as_char())
            .unwrap_or('/');
        let commit = entry.map(|e| e.commit_message.clone()).unwrap_or_default();
        let title = single_title(&commit, &directory, &updates);
        out.push(change(
            single_key(ecosystem, &directory, &package),
            single_branch(bot, separator, ecosystem, &directory, &package, &updates),
            ecosystem,
            directory,
            None,
            updates,
            title,
            entry,
            bot,
        ));
    }
    for ((ecosystem, directory, group), (entry, updates)) in groups {
        let separator = entry
            .map(|e| e.branch_name_separator.as_char())
            .unwrap_or('/');
        let commit = entry.map(|e| e.commit_message.clone()).unwrap_or_default();
        let title = group_title(&commit, &group, &directory, &updates);
        out.push(change(
            format!("{}:{directory}:group:{group}", ecosystem.as_str()),
            branch_name(&bot.branch_prefix, separator, ecosystem, &directory, &group),
            ecosystem,
            directory,
            Some(group),
            updates,
            title,
            entry,
            bot,
        ));
    }
    out
}

#[allow(clippy::too_many_arguments)]
fn change(
    key: String,
    branch: String,
    ecosystem: Ecosystem,
    directory: String,
    group: Option<String>,
    updates: Vec<PlannedUpdate>,
    title: String,
    entry: Option<&EffectiveUpdate>,
    bot: &BotSettings,
) -> PlannedChange {
    let mut labels: Vec<String> = match entry.and_then(|e| e.labels.clone()) {
        Some(labels) => labels,
        None => vec![
            "dependencies".to_string(),
            ecosystem_label(ecosystem).to_string(),
        ],
    };
    if !labels.contains(&bot.ci_label) {
        labels.push(bot.ci_label.clone());
    }
    let title = sanitize::plain(&title, sanitize::MAX_TITLE);
    PlannedChange {
        commit_message: commit_message(&title, &updates),
        key,
        branch,
        ecosystem,
        directory,
        group,
        updates,
        title,
        labels,
        assignees: entry.map(|e| e.assignees.clone()).unwrap_or_default(),
        reviewers: entry.map(|e| e.reviewers.clone()).unwrap_or_default(),
        milestone: entry.and_then(|e| e.milestone.clone()),
        entry: entry.map(|e| e.index),
        open_limit: entry
            .map(|e| e.open_merge_requests_limit as usize)
            .unwrap_or(5),
        rebase: entry
            .map(|e| e.rebase_strategy == crate::config::RebaseStrategy::Auto)
            .unwrap_or(true),
        security: None,
        separator: entry
            .map(|e| e.branch_name_separator.as_char())
            .unwrap_or('/'),
        commit: entry.map(|e| e.commit_message.clone()).unwrap_or_default(),
        split: Split::default(),
        fixes: Vec::new(),
        supersedes: Vec::new(),
        standby: None,
    }
}

/// The commit message of a change: its (sanitised) title, a blank line, one line per update.
/// Names and versions come from manifests and registries: one line each, no references or
/// mentions (GitLab acts on those in titles and commit messages too).
fn commit_message(title: &str, updates: &[PlannedUpdate]) -> String {
    let mut body = String::new();
    for u in updates {
        body.push_str(&format!(
            "\nBumps {} from {} to {}.",
            sanitize::plain(&u.name, sanitize::MAX_FIELD),
            sanitize::plain(&u.from, sanitize::MAX_FIELD),
            sanitize::plain(&u.to, sanitize::MAX_FIELD)
        ));
    }
    format!("{title}\n{body}\n")
}

fn single_key(ecosystem: Ecosystem, directory: &str, package: &str) -> String {
    format!("{}:{directory}:{package}", ecosystem.as_str())
}

fn single_branch(
    bot: &BotSettings,
    separator: char,
    ecosystem: Ecosystem,
    directory: &str,
    package: &str,
    updates: &[PlannedUpdate],
) -> String {
    let newest = updates
        .last()
        .map(|u| short_version(&u.to))
        .unwrap_or_default();
    branch_name(
        &bot.branch_prefix,
        separator,
        ecosystem,
        directory,
        &format!("{package}-{newest}"),
    )
}

/// `Bump requests from 2.25.0 to 2.32.3 in /backend`.
fn single_title(commit: &CommitMessage, directory: &str, updates: &[PlannedUpdate]) -> String {
    let moves: Vec<String> = updates
        .iter()
        .map(|u| {
            format!(
                "from {} to {}",
                short_version(&u.from),
                short_version(&u.to)
            )
        })
        .collect();
    let development = updates.iter().all(|u| u.development);
    format!(
        "{} {} {}{}",
        lead(commit, development),
        updates.first().map(|u| u.name.as_str()).unwrap_or_default(),
        moves.join(", "),
        location(directory)
    )
}

/// `Bump the tooling group in /backend with 2 updates`.
fn group_title(
    commit: &CommitMessage,
    group: &str,
    directory: &str,
    updates: &[PlannedUpdate],
) -> String {
    let development = updates.iter().all(|u| u.development);
    let count = updates.len();
    format!(
        "{} the {group} group{} with {count} update{}",
        lead(commit, development),
        location(directory),
        if count == 1 { "" } else { "s" }
    )
}

/// The change the updates of `package`, a member of the group `change`, make alone: the
/// merge request they would have had without the group (same key and branch), saying why
/// they left it.
pub fn alone(
    change: &PlannedChange,
    package: &str,
    reason: &str,
    bot: &BotSettings,
) -> Option<PlannedChange> {
    let group = change.group.as_ref()?;
    let updates: Vec<PlannedUpdate> = change
        .updates
        .iter()
        .filter(|u| u.package == package)
        .cloned()
        .collect();
    if updates.is_empty() {
        return None;
    }
    let title = sanitize::plain(
        &single_title(&change.commit, &change.directory, &updates),
        sanitize::MAX_TITLE,
    );
    Some(PlannedChange {
        key: single_key(change.ecosystem, &change.directory, package),
        branch: single_branch(
            bot,
            change.separator,
            change.ecosystem,
            &change.directory,
            package,
            &updates,
        ),
        group: None,
        commit_message: commit_message(&title, &updates),
        title,
        updates,
        split: Split {
            left_out: Vec::new(),
            from_group: Some((group.clone(), reason.to_string())),
        },
        ..change.clone()
    })
}

/// The group `change` without the packages of `left_out` (each member's package and how it
/// left), titled for the members it keeps; `None` when it keeps none.
pub fn without(change: &PlannedChange, left_out: &[(String, LeftOut)]) -> Option<PlannedChange> {
    let group = change.group.as_ref()?;
    let updates: Vec<PlannedUpdate> = change
        .updates
        .iter()
        .filter(|u| !left_out.iter().any(|(p, _)| *p == u.package))
        .cloned()
        .collect();
    if updates.is_empty() {
        return None;
    }
    let title = sanitize::plain(
        &group_title(&change.commit, group, &change.directory, &updates),
        sanitize::MAX_TITLE,
    );
    Some(PlannedChange {
        commit_message: commit_message(&title, &updates),
        title,
        updates,
        split: Split {
            left_out: left_out.iter().map(|(_, l)| l.clone()).collect(),
            from_group: None,
        },
        ..change.clone()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_are_short_in_titles_and_branches() {
        let full =
            "1.28.0-alpine@sha256:393b52560379c1120cf5670b860ac006155de4678f8492c9f4c997ce5eb4e2a3";
        assert_eq!(short_version(full), "1.28.0-alpine@sha256:393b52560379");
        assert_eq!(
            short_version(
                "sha256:393b52560379c1120cf5670b860ac006155de4678f8492c9f4c997ce5eb4e2a3"
            ),
            "sha256:393b52560379"
        );
        assert_eq!(short_version("1.2.3"), "1.2.3");
        assert_eq!(short_version("npm:@scope/x@1.2.3"), "npm:@scope/x@1.2.3");
        assert_eq!(
            branch_name(
                "updatebot",
                '/',
                Ecosystem::Docker,
                "/",
                &format!("nginx-{}", short_version(full))
            ),
            "updatebot/docker/nginx-1.28.0-alpine-sha256-393b52560379"
        );
    }

    #[test]
    fn titles_and_commit_messages_are_one_inert_line() {
        let update = PlannedUpdate {
            name: "pkg\n\nCloses #1".into(),
            package: "pkg".into(),
            from: "1.0".into(),
            to: "2.0 @all !3\nSigned-off-by: x".into(),
            update_type: UpdateType::Major,
            development: false,
            scheme: "npm",
            sites: vec![],
            releases: None,
            notes: vec![],
        };
        let title = format!("Bump {} from {} to {}", update.name, update.from, update.to);
        let planned = change(
            "k".into(),
            branch_name("updatebot", '/', Ecosystem::Npm, "/", &"x".repeat(500)),
            Ecosystem::Npm,
            "/".into(),
            None,
            vec![update],
            title,
            None,
            &BotSettings::default(),
        );
        assert!(!planned.title.contains('\n'), "{}", planned.title);
        for text in [&planned.title, &planned.commit_message] {
            for reference in ["#1", "@all", "!3"] {
                assert!(!text.contains(reference), "{reference} in {text:?}");
            }
        }
        // Subject line, blank line, one line per update.
        assert_eq!(planned.commit_message.lines().count(), 3);
        assert!(!planned.commit_message.contains("\nSigned-off-by"));
        assert!(planned.branch.len() < 200, "{}", planned.branch);
    }

    #[test]
    fn branch_names_follow_the_layout() {
        assert_eq!(
            branch_name(
                "updatebot",
                '/',
                Ecosystem::Python,
                "/backend",
                "requests-2.32.3"
            ),
            "updatebot/pip/backend/requests-2.32.3"
        );
        assert_eq!(
            branch_name("updatebot", '-', Ecosystem::Python, "/", "six-1.17.0"),
            "updatebot-pip-six-1.17.0"
        );
        assert_eq!(
            branch_name("deps", '/', Ecosystem::Python, "/a b/..c", "x@{1}~^:"),
            "deps/pip/a-b/c/x--1"
        );
    }

    #[test]
    fn manifests_belong_to_their_entry_directory() {
        assert!(within("/", "/"));
        assert!(within("/requirements", "/"));
        assert!(within("/requirements/extras", "/"));
        assert!(!within("/api", "/"));
        assert!(within("/api", "/api"));
        assert!(!within("/api2", "/api"));
    }

    #[test]
    fn commit_message_prefixes() {
        let none = CommitMessage::default();
        assert_eq!(lead(&none, false), "Bump");
        let prefixed = CommitMessage {
            prefix: Some("deps".into()),
            prefix_development: Some("dev".into()),
            include_scope: false,
        };
        assert_eq!(lead(&prefixed, false), "deps: bump");
        assert_eq!(lead(&prefixed, true), "dev: bump");
        let scoped = CommitMessage {
            prefix: Some("build".into()),
            prefix_development: None,
            include_scope: true,
        };
        assert_eq!(lead(&scoped, false), "build(deps): bump");
        assert_eq!(lead(&scoped, true), "build(deps-dev): bump");
    }
}

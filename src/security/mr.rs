//! Security merge requests: one per vulnerable package and entry directory, on
//! `<prefix>/<ecosystem>/<directory>/security/<package>-<version>`, titled
//! `Bump X from A to B [security]`, labelled `security`, made from the fix's files, and
//! described with the advisories it fixes. Advisory text is untrusted: it is sanitised like
//! registry text (no mentions, references, HTML or foreign links; bounded).

use super::apply::apply_fix;
use super::fix::Via;
use super::Finding;
use crate::check::Checker;
use crate::config::BotSettings;
use crate::forge::FileAction;
use crate::project::ProjectSettings;
use crate::run::body::safe_url;
use crate::run::plan::{self, PlannedChange, PlannedUpdate};
use crate::run::sanitize::inline as sanitize;
use crate::scan::Manifest;
use std::collections::BTreeMap;
use std::sync::Arc;
use updatebot_advisory::AdvisoryView;
use updatebot_core::Ecosystem;

/// The label every security merge request carries.
pub const SECURITY_LABEL: &str = "security";
/// What keys and scopes of security merge requests start with.
pub const KEY_PREFIX: &str = "security:";
/// Advisories listed in one description.
const MAX_ADVISORIES: usize = 30;

/// Whether a change key is a security merge request's.
pub fn is_security_key(key: &str) -> bool {
    key.starts_with(KEY_PREFIX)
}

/// The scope of the security merge requests of an entry directory.
pub fn scope(ecosystem: Ecosystem, directory: &str) -> String {
    format!("{KEY_PREFIX}{}:{directory}", ecosystem.as_str())
}

/// A commit's file actions, the files, and the lockfiles among them.
pub type Actions = (Vec<FileAction>, Vec<String>, Vec<String>);

/// What a security change carries besides the plan.
#[derive(Debug)]
pub struct SecurityChange {
    /// The files it writes (path, new text), or why it cannot be made.
    pub files: Result<Vec<(String, String)>, String>,
    /// Lockfiles among them.
    pub lockfiles: Vec<String>,
    /// Per vulnerable package: name, installed version, advisories.
    pub packages: Vec<(String, String, Vec<AdvisoryView>)>,
    /// Packages moved to let the fix in.
    pub via: Vec<Via>,
}

impl SecurityChange {
    /// The commit's file actions, the files, and the lockfiles among them.
    pub fn actions(&self) -> Result<Actions, String> {
        let files = self.files.as_ref().map_err(Clone::clone)?;
        if files.is_empty() {
            return Err("the update changes no file".into());
        }
        Ok((
            files
                .iter()
                .map(|(path, content)| FileAction::Update {
                    path: path.clone(),
                    content: content.clone(),
                })
                .collect(),
            files.iter().map(|(p, _)| p.clone()).collect(),
            self.lockfiles.clone(),
        ))
    }

    /// The description's advisory section (Markdown).
    pub fn section(&self) -> String {
        section(&self.packages, &self.via)
    }
}

/// The advisory section of a description (Markdown): per vulnerable package (name, installed
/// version, advisories) each advisory fixed, and the packages moved to let the fix in.
pub fn section(packages: &[(String, String, Vec<AdvisoryView>)], via: &[Via]) -> String {
    let mut out = String::from(
        "\n**Security advisories fixed**\n\n| Advisory | Package | Severity | Affected versions | Fixed in | Summary |\n| --- | --- | --- | --- | --- | --- |\n",
    );
    let mut shown = 0;
    let mut links = Vec::new();
    for (name, version, advisories) in packages {
        for a in advisories {
            shown += 1;
            if shown > MAX_ADVISORIES {
                break;
            }
            let id = sanitize(&a.id);
            let head = match safe_url(&a.url) {
                Some(url)
                    if a.id
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c)) =>
                {
                    format!("[{id}]({url})")
                }
                _ => id,
            };
            let aliases = if a.aliases.is_empty() {
                String::new()
            } else {
                let list: Vec<String> = a.aliases.iter().take(5).map(|x| sanitize(x)).collect();
                format!(" ({})", list.join(", "))
            };
            out.push_str(&format!(
                "| {head}{aliases} | {} {} | {} | {} | {} | {} |\n",
                sanitize(name),
                sanitize(version),
                sanitize(&a.severity.display()),
                sanitize(&a.affected),
                a.fixed
                    .as_deref()
                    .map(sanitize)
                    .unwrap_or_else(|| "–".into()),
                a.summary.as_deref().map(sanitize).unwrap_or_default(),
            ));
            let refs: Vec<String> = a
                .references
                .iter()
                .filter_map(|r| safe_url(r))
                .enumerate()
                .map(|(i, url)| format!("[{}]({url})", i + 1))
                .collect();
            if !refs.is_empty() {
                links.push(format!("- {}: {}", sanitize(&a.id), refs.join(" · ")));
            }
        }
    }
    if shown > MAX_ADVISORIES {
        out.push_str(&format!(
            "\n({} more advisories not listed)\n",
            shown - MAX_ADVISORIES
        ));
    }
    if !links.is_empty() {
        out.push_str("\n**Advisory references**\n\n");
        out.push_str(&links.join("\n"));
        out.push('\n');
    }
    for v in via {
        out.push_str(&format!(
        "\nThe fixed version is held back by {} {}: it moves to {}, the lowest release that admits it.\n",
        sanitize(&v.package),
        sanitize(&v.from),
        sanitize(&v.to)
        ));
    }
    out
}

/// What planning security changes needs.
pub struct Planning<'a> {
    pub checker: &'a Checker<'a>,
    pub settings: &'a ProjectSettings,
    pub bot: &'a BotSettings,
    pub manifests: &'a [Manifest],
    pub repo_files: &'a [String],
    pub locks: &'a BTreeMap<String, String>,
}

/// (ecosystem, entry directory, package) of a security change.
type GroupKey = (Ecosystem, String, String);

/// A fix that bumps a package which is vulnerable itself joins that package's change when
/// the package's own fix goes at least as far: one merge request moves the package once
/// (its own fix), and the lock then takes the transitive fix on top. Otherwise two merge
/// requests would move the same package to different versions.
fn fold_into_parents(checker: &Checker<'_>, groups: &mut BTreeMap<GroupKey, Vec<Finding>>) {
    let keys: Vec<GroupKey> = groups.keys().cloned().collect();
    for key in keys {
        let (ecosystem, directory, _) = &key;
        let Some(scheme) =
            super::inventory::version_scheme(*ecosystem).and_then(|s| checker.plugins.scheme(s))
        else {
            continue;
        };
        let norm = |n: &str| super::inventory::normalize(*ecosystem, n);
        let Some(members) = groups.get(&key) else {
            continue;
        };
        // Only a change of a single finding with one parent moved is folded.
        let [member] = members.as_slice() else {
            continue;
        };
        let Ok(fix) = &member.fix else { continue };
        let [via] = fix.via.as_slice() else { continue };
        let parent_key = groups
            .keys()
            .find(|(e, d, n)| e == ecosystem && d == directory && norm(n) == norm(&via.package))
            .cloned();
        let Some(parent_key) = parent_key else {
            continue;
        };
        let goes_far_enough = groups[&parent_key].iter().all(|f| {
            f.fix.as_ref().is_ok_and(|own| {
                scheme
                    .compare(&own.version, &via.to)
                    .is_ok_and(|o| o != std::cmp::Ordering::Less)
            })
        });
        if !goes_far_enough {
            continue;
        }
        let mut member = member.clone();
        if let Ok(fix) = &mut member.fix {
            fix.steps.retain(|s| {
                let name = match s {
                    super::fix::Step::Direct { name, .. }
                    | super::fix::Step::Locked { name, .. } => name,
                };
                norm(name) != norm(&via.package)
            });
            fix.via.clear();
        }
        groups.remove(&key);
        if let Some(parent) = groups.get_mut(&parent_key) {
            parent.push(member);
        }
    }
}

/// One change per (ecosystem, entry directory, vulnerable package) with a fix.
pub async fn plan_changes(p: &Planning<'_>, findings: &[Finding]) -> Vec<PlannedChange> {
    let mut groups: BTreeMap<GroupKey, Vec<Finding>> = BTreeMap::new();
    for f in findings.iter().filter(|f| f.fix.is_ok()) {
        let entry = p
            .settings
            .config_for(f.installed.ecosystem, &f.installed.manifest);
        let directory = plan::directory_for(entry, &f.installed.manifest);
        groups
            .entry((f.installed.ecosystem, directory, f.installed.name.clone()))
            .or_default()
            .push(f.clone());
    }
    fold_into_parents(p.checker, &mut groups);
    let groups: BTreeMap<GroupKey, Vec<&Finding>> = groups
        .iter()
        .map(|(k, v)| (k.clone(), v.iter().collect()))
        .collect();
    // The worst first, so that the open limit keeps the most severe.
    let worst = |members: &[&Finding]| {
        members
            .iter()
            .flat_map(|f| f.advisories.first())
            .map(|a| (a.severity.rank(), a.severity.score.unwrap_or(-1.0)))
            .fold((0, -1.0), |m, x| if x > m { x } else { m })
    };
    let mut ordered: Vec<_> = groups.into_iter().collect();
    ordered.sort_by(|(ka, a), (kb, b)| {
        let (ra, sa) = worst(a);
        let (rb, sb) = worst(b);
        rb.cmp(&ra).then(sb.total_cmp(&sa)).then(ka.cmp(kb))
    });
    let mut out = Vec::new();
    for ((ecosystem, directory, package), members) in ordered {
        out.push(change(p, ecosystem, &directory, &package, &members).await);
    }
    out
}

async fn change(
    p: &Planning<'_>,
    ecosystem: Ecosystem,
    directory: &str,
    package: &str,
    members: &[&Finding],
) -> PlannedChange {
    let entry = p
        .settings
        .config_for(ecosystem, &members[0].installed.manifest);
    let mut texts: BTreeMap<String, String> = BTreeMap::new();
    let mut lockfiles = Vec::new();
    let mut failure = None;
    let mut updates: Vec<PlannedUpdate> = Vec::new();
    let mut via: Vec<Via> = Vec::new();
    let mut kept: Vec<&Finding> = Vec::new();
    let mut not_made: Vec<String> = Vec::new();
    let norm = |n: &str| super::inventory::normalize(ecosystem, n);
    for f in members {
        let Ok(fix) = &f.fix else { continue };
        let before = texts.clone();
        match apply_fix(
            p.checker,
            p.manifests,
            p.repo_files,
            p.locks,
            fix,
            &mut texts,
        )
        .await
        {
            Ok(touched) => lockfiles.extend(touched),
            // A transitive fix folded into this package's change (see fold_into_parents)
            // that cannot be made with it leaves; the package's own fix goes ahead.
            Err(e) if norm(&f.installed.name) != norm(package) => {
                texts = before;
                let ids: Vec<&str> = f.advisories.iter().map(|a| a.id.as_str()).collect();
                not_made.push(format!(
                    "{} {} to {} ({}) could not be made with it: {e}",
                    f.installed.name,
                    f.installed.version,
                    fix.version,
                    ids.join(", ")
                ));
                continue;
            }
            Err(e) => failure = Some(format!("{} {}: {e}", f.installed.name, fix.version)),
        }
        kept.push(f);
        let scheme = super::inventory::version_scheme(ecosystem).unwrap_or("");
        let update_type = p
            .checker
            .plugins
            .scheme(scheme)
            .map(|s| s.update_type(&f.installed.version, &fix.version))
            .unwrap_or(updatebot_core::UpdateType::Major);
        let releases = fix.steps.iter().next_back().map(|s| match s {
            super::fix::Step::Direct { releases, .. }
            | super::fix::Step::Locked { releases, .. } => releases.clone(),
        });
        if !updates
            .iter()
            .any(|u| u.from == f.installed.version && u.to == fix.version)
        {
            updates.push(PlannedUpdate {
                name: f.installed.name.clone(),
                package: f.installed.name.clone(),
                from: f.installed.version.clone(),
                to: fix.version.clone(),
                update_type,
                development: f.installed.development,
                scheme: super::inventory::version_scheme(ecosystem).unwrap_or(""),
                sites: f.installed.direct.clone(),
                releases,
                notes: Vec::new(),
            });
        }
        for v in &fix.via {
            if !via.contains(v) {
                via.push(v.clone());
            }
        }
    }
    let members: &[&Finding] = &kept;
    if let Some(own) = updates.iter_mut().find(|u| norm(&u.name) == norm(package)) {
        own.notes.extend(not_made);
    }
    for v in &via {
        updates.push(PlannedUpdate {
            name: v.package.clone(),
            package: v.package.clone(),
            from: v.from.clone(),
            to: v.to.clone(),
            update_type: p
                .checker
                .plugins
                .scheme(super::inventory::version_scheme(ecosystem).unwrap_or(""))
                .map(|s| s.update_type(&v.from, &v.to))
                .unwrap_or(updatebot_core::UpdateType::Major),
            development: members.iter().all(|m| m.installed.development),
            scheme: super::inventory::version_scheme(ecosystem).unwrap_or(""),
            sites: Vec::new(),
            releases: None,
            notes: Vec::new(),
        });
    }
    let original = |path: &str| -> Option<&str> {
        p.manifests
            .iter()
            .find(|m| m.path == path)
            .map(|m| m.content.as_str())
            .or_else(|| p.locks.get(path).map(String::as_str))
    };
    let files = match failure {
        Some(e) => Err(e),
        None => Ok(texts
            .into_iter()
            .filter(|(path, text)| original(path) != Some(text.as_str()))
            .collect()),
    };
    lockfiles.sort();
    lockfiles.dedup();
    let advisories: Vec<String> = members
        .iter()
        .flat_map(|f| f.advisories.iter().map(|a| a.id.clone()))
        .collect();
    let separator = entry
        .map(|e| e.branch_name_separator.as_char())
        .unwrap_or('/');
    let commit = entry.map(|e| e.commit_message.clone()).unwrap_or_default();
    let development = members.iter().all(|m| m.installed.development);
    let moves: Vec<String> = updates
        .iter()
        .filter(|u| u.name == package)
        .map(|u| format!("from {} to {}", u.from, u.to))
        .collect();
    // Registry and advisory text is untrusted: plain, bounded text only.
    let title = crate::run::sanitize::plain(
        &format!(
            "{} {package} {} [security]{}",
            plan::lead(&commit, development),
            moves.join(", "),
            plan::location(directory)
        ),
        crate::run::sanitize::MAX_TITLE,
    );
    let newest = updates
        .iter()
        .filter(|u| u.name == package)
        .map(|u| u.to.clone())
        .next_back()
        .unwrap_or_default();
    let mut labels: Vec<String> = match entry.and_then(|e| e.labels.clone()) {
        Some(labels) => labels,
        None => vec![
            "dependencies".to_string(),
            plan::ecosystem_label(ecosystem).to_string(),
        ],
    };
    for label in [SECURITY_LABEL.to_string(), p.bot.ci_label.clone()] {
        if !labels.contains(&label) {
            labels.push(label);
        }
    }
    let mut body = String::new();
    let plain = |t: &str| crate::run::sanitize::plain(t, crate::run::sanitize::MAX_FIELD);
    for u in &updates {
        body.push_str(&format!(
            "\nBumps {} from {} to {}.",
            plain(&u.name),
            plain(&u.from),
            plain(&u.to)
        ));
    }
    let ids: Vec<String> = advisories
        .iter()
        .take(MAX_ADVISORIES)
        .map(|a| plain(a))
        .collect();
    body.push_str(&format!("\nFixes {}.", ids.join(", ")));
    PlannedChange {
        commit_message: format!("{title}\n{body}\n"),
        key: format!("{KEY_PREFIX}{}:{directory}:{package}", ecosystem.as_str()),
        branch: plan::branch_name(
            &p.bot.branch_prefix,
            separator,
            ecosystem,
            &format!("{}/security", directory.trim_end_matches('/')),
            &format!("{package}-{newest}"),
        ),
        ecosystem,
        directory: directory.to_string(),
        group: None,
        updates,
        title,
        labels,
        assignees: entry.map(|e| e.assignees.clone()).unwrap_or_default(),
        reviewers: entry.map(|e| e.reviewers.clone()).unwrap_or_default(),
        milestone: entry.and_then(|e| e.milestone.clone()),
        entry: entry.map(|e| e.index),
        open_limit: entry
            .map(|e| e.security_updates.open_merge_requests_limit as usize)
            .unwrap_or(crate::config::DEFAULT_SECURITY_OPEN_LIMIT as usize),
        rebase: entry
            .map(|e| e.rebase_strategy == crate::config::RebaseStrategy::Auto)
            .unwrap_or(true),
        security: Some(Arc::new(SecurityChange {
            files,
            lockfiles,
            packages: members
                .iter()
                .map(|f| {
                    (
                        f.installed.name.clone(),
                        f.installed.version.clone(),
                        f.advisories.clone(),
                    )
                })
                .collect(),
            via,
        })),
        separator,
        commit: entry.map(|e| e.commit_message.clone()).unwrap_or_default(),
        split: Default::default(),
        fixes: Vec::new(),
        supersedes: Vec::new(),
        standby: None,
    }
}

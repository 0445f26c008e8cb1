//! One open merge request per package: a security update and a version update of the same
//! package never stand side by side.
//!
//! - A version update whose target is free of the package's advisories carries the fix: it
//!   is labelled `security` and lists the advisories, and no security merge request is
//!   opened for the package (the version merge request is the one people expect to merge).
//! - Otherwise the security update wins: a version merge request of the package (a target
//!   still affected, or any while a security merge request of it is already open) is
//!   closed with a note linking the security merge request once that one is open, and the
//!   version update waits (a group goes ahead without the package) until the security
//!   merge request is merged or closed.
//!
//! Every decision is made from the planned changes and the merge requests' records, so a
//! run cut short anywhere is finished the same way by the next one.

use super::inventory::normalize;
use super::mr::{is_security_key, KEY_PREFIX, SECURITY_LABEL};
use crate::forge::{MergeRequest, MergeRequestState};
use crate::plugins::Plugins;
use crate::run::meta::{scope_of, Meta};
use crate::run::plan::{self, LeftOut, PlannedChange};
use crate::run::{Action, ChangeReport};
use std::collections::BTreeSet;
use std::sync::Arc;
use updatebot_advisory::osv::Vuln;
use updatebot_advisory::{matching, AdvisoryView};
use updatebot_core::Ecosystem;

/// What the security pass knows of one vulnerable package (per security change key).
#[derive(Clone, Debug)]
pub struct Vulnerable {
    /// The security change's key, `security:<ecosystem>:<directory>:<package>`.
    pub key: String,
    pub ecosystem: Ecosystem,
    pub name: String,
    /// Every record known for the package.
    pub records: Vec<Arc<Vuln>>,
    /// Installed version and the advisories affecting it, per vulnerable installation.
    pub advisories: Vec<(String, String, Vec<AdvisoryView>)>,
}

impl Vulnerable {
    /// Whether a known advisory affects `version` of the package.
    fn affects(&self, plugins: &Plugins, version: &str) -> bool {
        let (Some(ecosystem), Some(scheme)) = (
            super::osv_ecosystem(self.ecosystem),
            super::inventory::version_scheme(self.ecosystem).and_then(|s| plugins.scheme(s)),
        ) else {
            return true;
        };
        self.records
            .iter()
            .any(|r| matching::affects(r, ecosystem, &self.name, version, scheme))
    }
}

/// What arbitration decided besides the changes it left planned.
#[derive(Debug, Default)]
pub struct Arbitration {
    /// Reports of the changes it took out of the plan.
    pub reports: Vec<ChangeReport>,
    /// Keys of merge requests that stay open although nothing is planned for them this run
    /// (a version merge request waiting to be superseded).
    pub keep: BTreeSet<String>,
    /// Open version merge requests not planned this run that carry a fix: labelled
    /// `security` and given the advisory section (iid, title, labels, description).
    pub annotate: Vec<Annotation>,
}

/// What an open version merge request that carries a fix is given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Annotation {
    pub iid: u64,
    pub title: String,
    pub labels: Vec<String>,
    pub description: String,
}

struct Open<'a> {
    mr: &'a MergeRequest,
    meta: Meta,
}

fn report(change: &PlannedChange, mr: Option<&MergeRequest>, reason: String) -> ChangeReport {
    crate::run::change_report(change, Action::Skipped, mr, Some(reason))
}

/// Arbitrate between the security changes and the version changes (planned, or open from
/// earlier runs) of the same packages, for the merge requests into `target`. `kept` names
/// the security merge requests that stay open although their fix could not be worked out
/// this run: version updates of their packages wait for them too.
pub fn arbitrate(
    planned: &mut Vec<PlannedChange>,
    existing: &[MergeRequest],
    target: &str,
    vulnerable: &[Vulnerable],
    kept: &BTreeSet<String>,
    plugins: &Plugins,
) -> Arbitration {
    let mut out = Arbitration::default();
    let open: Vec<Open<'_>> = existing
        .iter()
        .filter(|m| m.state == MergeRequestState::Opened && m.target_branch == target)
        .filter_map(|mr| Meta::find(&mr.description).map(|meta| Open { mr, meta }))
        .collect();
    let security_keys: Vec<String> = planned
        .iter()
        .filter(|c| c.security.is_some())
        .map(|c| c.key.clone())
        .collect();
    for key in security_keys {
        let Some(at) = planned.iter().position(|c| c.key == key) else {
            continue;
        };
        let Some(vulnerable) = vulnerable.iter().find(|v| v.key == key) else {
            continue;
        };
        let ecosystem = planned[at].ecosystem;
        let norm = |name: &str| normalize(ecosystem, name);
        let package = norm(&vulnerable.name);
        // The version changes' keys share the scope without the security prefix.
        let scope = scope_of(key.strip_prefix(KEY_PREFIX).unwrap_or(&key)).to_string();
        let moved: BTreeSet<String> = planned[at]
            .updates
            .iter()
            .map(|u| norm(&u.package))
            .collect();
        let in_scope = |k: &str| !is_security_key(k) && scope_of(k) == scope;
        let security_open = open.iter().find(|o| o.meta.key == key);
        if security_open.is_none() && moved.len() == 1 {
            // A version update of the package to a release free of its advisories carries
            // the fix: planned in this run, else open from an earlier one.
            let planned_target = planned.iter().position(|c| {
                c.security.is_none()
                    && in_scope(&c.key)
                    && c.updates.iter().any(|u| norm(&u.package) == package)
            });
            let carrier =
                match planned_target {
                    Some(i) => {
                        let to = planned[i]
                            .updates
                            .iter()
                            .find(|u| norm(&u.package) == package)
                            .map(|u| u.to.clone())
                            .unwrap_or_default();
                        // Version updates turned off (limit 0) carry nothing.
                        (planned[i].open_limit > 0 && !vulnerable.affects(plugins, &to))
                            .then_some((Some(i), None, to))
                    }
                    None => open.iter().filter(|o| in_scope(&o.meta.key)).find_map(|o| {
                        let to = o.meta.updates.iter().find(|u| norm(&u.name) == package)?;
                        (!vulnerable.affects(plugins, &to.to))
                            .then(|| (None, Some(o), to.to.clone()))
                    }),
                };
            if let Some((index, mr, to)) = carrier {
                let security = planned[at].clone();
                let (branch, mr) = match index {
                    Some(i) => {
                        let version = &mut planned[i];
                        for fix in &vulnerable.advisories {
                            let known = version
                                .fixes
                                .iter()
                                .any(|(n, v, _)| *n == fix.0 && *v == fix.1);
                            if !known {
                                version.fixes.push(fix.clone());
                            }
                        }
                        // It opens under the security updates' limit, as the security
                        // merge request it replaces would have.
                        version.open_limit = version.open_limit.max(security.open_limit);
                        if !version.labels.iter().any(|l| l == SECURITY_LABEL) {
                            version.labels.push(SECURITY_LABEL.to_string());
                        }
                        version.title = security_title(&version.title, &version.directory);
                        let mr = open
                            .iter()
                            .find(|o| o.meta.key == version.key)
                            .map(|o| o.mr);
                        (version.branch.clone(), mr)
                    }
                    None => {
                        let o = mr.expect("an open carrier");
                        let directory = scope.split_once(':').map(|(_, d)| d).unwrap_or("/");
                        out.annotate
                            .push(annotation(o.mr, directory, &vulnerable.advisories));
                        (o.mr.source_branch.clone(), Some(o.mr))
                    }
                };
                let reason = match mr {
                    Some(m) => format!(
                        "!{} (the version update to {to}) fixes it: it lists the advisories",
                        m.iid
                    ),
                    None => format!(
                        "the version update to {to} ({branch}) fixes it: it lists the advisories"
                    ),
                };
                match index {
                    // Planned in this run: the security update stands by in case the
                    // version update is not opened after all (closed before, limits, a
                    // lockfile that cannot follow).
                    Some(i) => {
                        let carrier = planned[i].key.clone();
                        planned[at].standby = Some((carrier, reason));
                    }
                    None => {
                        planned.remove(at);
                        out.reports.push(report(&security, mr, reason));
                    }
                }
                continue;
            }
        }
        // The security update wins: version changes of what it moves wait for it.
        let also: Vec<String> = moved.iter().filter(|m| **m != package).cloned().collect();
        let why = if also.is_empty() {
            format!("the security update of {}", vulnerable.name)
        } else {
            format!(
                "the security update of {}, which also moves {}",
                vulnerable.name,
                also.join(", ")
            )
        };
        let security_branch = planned[at].branch.clone();
        let mut supersedes: Vec<(u64, String)> = Vec::new();
        let mut i = 0;
        while i < planned.len() {
            let change = &planned[i];
            let touched: Vec<String> = change
                .updates
                .iter()
                .map(|u| u.package.clone())
                .filter(|p| moved.contains(&norm(p)))
                .collect();
            if change.security.is_some() || !in_scope(&change.key) || touched.is_empty() {
                i += 1;
                continue;
            }
            let waiting = format!("waits for {why} ({security_branch})");
            if change.group.is_some() {
                let left: Vec<(String, LeftOut)> = change
                    .updates
                    .iter()
                    .filter(|u| touched.contains(&u.package))
                    .map(|u| {
                        (
                            u.package.clone(),
                            LeftOut {
                                name: u.name.clone(),
                                from: u.from.clone(),
                                to: u.to.clone(),
                                reason: why.clone(),
                                alone: Some(security_branch.clone()),
                            },
                        )
                    })
                    .collect();
                if let Some(rest) = plan::without(change, &left) {
                    planned[i] = rest;
                    i += 1;
                    continue;
                }
            }
            let change = planned.remove(i);
            if let Some(o) = open.iter().find(|o| o.meta.key == change.key) {
                out.keep.insert(change.key.clone());
                supersedes.push((o.mr.iid, why.clone()));
            }
            let mr = open.iter().find(|o| o.meta.key == change.key).map(|o| o.mr);
            out.reports.push(report(&change, mr, waiting));
        }
        // Open version merge requests of these packages that nothing plans this run.
        for o in open.iter().filter(|o| in_scope(&o.meta.key)) {
            let touches = o
                .meta
                .updates
                .iter()
                .any(|u| moved.contains(&norm(&u.name)));
            let replanned = planned.iter().any(|c| c.key == o.meta.key);
            if touches && !replanned && !supersedes.iter().any(|(iid, _)| *iid == o.mr.iid) {
                out.keep.insert(o.meta.key.clone());
                supersedes.push((o.mr.iid, why.clone()));
            }
        }
        if let Some(security) = planned.iter_mut().find(|c| c.key == key) {
            security.supersedes.extend(supersedes);
        }
    }
    // Security merge requests kept open without a plan this run (their fix could not be
    // worked out): the version updates of what they move wait, as for a planned one.
    for o in open.iter().filter(|o| kept.contains(&o.meta.key)) {
        let Some(rest) = o.meta.key.strip_prefix(KEY_PREFIX) else {
            continue;
        };
        let scope = scope_of(rest);
        let (Some(ecosystem), Some(first)) = (
            planned
                .iter()
                .find(|c| scope_of(&c.key) == scope)
                .map(|c| c.ecosystem),
            o.meta.updates.first(),
        ) else {
            continue;
        };
        let norm = |name: &str| normalize(ecosystem, name);
        let moved: BTreeSet<String> = o.meta.updates.iter().map(|u| norm(&u.name)).collect();
        let why = format!(
            "the open security merge request !{} of {}",
            o.mr.iid, first.name
        );
        planned.retain(|c| {
            let waits = c.security.is_none()
                && scope_of(&c.key) == scope
                && c.updates.iter().any(|u| moved.contains(&norm(&u.package)));
            if waits {
                out.keep.insert(c.key.clone());
                let mr = open.iter().find(|x| x.meta.key == c.key).map(|x| x.mr);
                out.reports.push(report(c, mr, format!("waits for {why}")));
            }
            !waits
        });
    }
    out
}

/// A title marked as fixing advisories, as security merge requests' are: `Bump X from A to
/// B [security] in /dir`.
fn security_title(title: &str, directory: &str) -> String {
    const MARK: &str = " [security]";
    if title.contains(MARK) {
        return title.to_string();
    }
    let location = plan::location(directory);
    match title.strip_suffix(location.as_str()) {
        Some(head) if !location.is_empty() => format!("{head}{MARK}{location}"),
        _ => format!("{title}{MARK}"),
    }
}

/// An open version merge request's labels and description once it carries the fix (the
/// advisory section goes before its record; unchanged when it has one already).
fn annotation(
    mr: &MergeRequest,
    directory: &str,
    advisories: &[(String, String, Vec<AdvisoryView>)],
) -> Annotation {
    let mut labels = mr.labels.clone();
    if !labels.iter().any(|l| l == SECURITY_LABEL) {
        labels.push(SECURITY_LABEL.to_string());
    }
    let section = super::mr::section(advisories, &[]);
    let description = if mr.description.contains(section.trim()) {
        mr.description.clone()
    } else {
        match mr.description.rfind("\n---\n") {
            Some(at) => format!(
                "{}{}{}",
                &mr.description[..at],
                section,
                &mr.description[at..]
            ),
            None => format!("{}\n{section}", mr.description),
        }
    };
    Annotation {
        iid: mr.iid,
        title: security_title(&mr.title, directory),
        labels,
        description,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forge::MergeStatus;

    #[test]
    fn marks_titles_before_their_location_once() {
        assert_eq!(
            security_title("Bump requests from 2.25.0 to 2.32.3", "/"),
            "Bump requests from 2.25.0 to 2.32.3 [security]"
        );
        assert_eq!(
            security_title("Bump requests from 2.25.0 to 2.32.3 in /api", "/api"),
            "Bump requests from 2.25.0 to 2.32.3 [security] in /api"
        );
        assert_eq!(
            security_title("Bump requests from 2.25.0 to 2.32.3 [security]", "/"),
            "Bump requests from 2.25.0 to 2.32.3 [security]"
        );
    }

    #[test]
    fn an_annotation_goes_before_the_commands_and_only_once() {
        let mr = MergeRequest {
            iid: 4,
            state: MergeRequestState::Opened,
            source_branch: "updatebot/pip/requests-2.32.3".into(),
            target_branch: "main".into(),
            title: "Bump requests from 2.25.0 to 2.32.3".into(),
            description: "Bumps **requests** from 2.25.0 to 2.32.3.\n\n---\n\ncommands".into(),
            labels: vec!["dependencies".into()],
            sha: String::new(),
            merge_status: MergeStatus::Other,
            author: "updatebot".into(),
            web_url: String::new(),
            created_at: None,
            updated_at: None,
        };
        let advisories = vec![("requests".to_string(), "2.25.0".to_string(), Vec::new())];
        let a = annotation(&mr, "/", &advisories);
        assert_eq!(a.labels, ["dependencies", "security"]);
        assert_eq!(a.title, "Bump requests from 2.25.0 to 2.32.3 [security]");
        let (head, tail) = a
            .description
            .split_once("**Security advisories fixed**")
            .unwrap();
        assert!(head.starts_with("Bumps **requests**"), "{head}");
        assert!(tail.ends_with("\n---\n\ncommands"), "{tail}");
        let again = annotation(
            &MergeRequest {
                description: a.description.clone(),
                labels: a.labels.clone(),
                title: a.title.clone(),
                ..mr
            },
            "/",
            &advisories,
        );
        assert_eq!(again, a, "nothing to add the second time");
    }
}

//! The fix of a vulnerable package: the lowest release that no known advisory affects and
//! that the configuration allows (never a yanked or deprecated one), and how to get there —
//! the manifest's own declaration, the lockfile alone when every package depending on it
//! admits the fix, or a bump of the package that holds it back.

use super::inventory::{normalize, version_scheme, Installed};
use crate::check::{Checker, ManifestLookup};
use crate::policy::{self, Rules};
use crate::scan::Manifest;
use std::collections::BTreeMap;
use std::sync::Arc;
use updatebot_core::registry::{Release, ReleaseList};
use updatebot_core::version::{RangeRequest, RangeStrategy, VersionScheme};
use updatebot_core::{Dependency, Dependent, LockfileUpdater, Lookup, Plugin, Requirement};

/// Parent releases tried for one that admits a fix.
const MAX_PARENT_CANDIDATES: usize = 30;

/// One change a fix makes.
#[derive(Clone, Debug)]
pub enum Step {
    /// A declared dependency moves: `new_value` is the manifest's new text (`None`: the
    /// range already admits the version, only the lockfile moves).
    Direct {
        manifest: String,
        index: usize,
        name: String,
        new_value: Option<String>,
        new_version: String,
        releases: Arc<ReleaseList>,
    },
    /// A package nobody declares moves through the lockfile alone.
    Locked {
        manifest: String,
        name: String,
        new_version: String,
        releases: Arc<ReleaseList>,
    },
}

/// A package moved so that the fix is admitted.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Via {
    pub package: String,
    pub from: String,
    pub to: String,
}

#[derive(Clone, Debug)]
pub struct Fix {
    pub version: String,
    pub steps: Vec<Step>,
    /// Only the lockfile changes.
    pub lockfile_only: bool,
    /// Packages bumped because their range did not admit the fix.
    pub via: Vec<Via>,
}

pub struct FixContext<'a> {
    pub checker: &'a Checker<'a>,
    pub manifests: &'a [Manifest],
    pub repo_files: &'a [String],
    pub locks: &'a BTreeMap<String, String>,
}

/// Whether a version is affected by the known advisories of the package.
pub type Affected<'a> = dyn Fn(&str) -> bool + Sync + 'a;

/// Why `release` may not be proposed for `dep` under `rules` (ignore rules, the
/// environment), or `None`.
fn passed_over(
    ctx: &Resolve<'_>,
    dep: &Dependency,
    current: &str,
    release: &Release,
) -> Option<String> {
    let (rules, scheme) = (&ctx.rules, ctx.scheme);
    if !ctx.plugin.release_admits(&ctx.constraints, release) {
        return Some(format!(
            "{} does not fit the project's environment",
            release.version
        ));
    }
    let update_type = scheme.update_type(current, &release.version);
    // Security fixes are exempt from the cooldown unless `security-updates.cooldown` says.
    if let (true, Some(cooldown)) = (rules.security_cooldown, &rules.cooldown) {
        let days = cooldown.days(dep, update_type);
        if let Some(age) = policy::released_days_ago(release, ctx.lookup.checker.now) {
            if days > 0 && age < i64::from(days) {
                return Some(format!(
                    "{} is {age} days old, under the {days}-day cooldown (security-updates.cooldown)",
                    release.version
                ));
            }
        }
    }
    for rule in rules.ignore.iter().filter(|r| r.name.matches(dep)) {
        if rule.update_types.contains(&update_type) {
            return Some(format!(
                "{} is a {update_type} update, ignored for `{}`",
                release.version,
                rule.name.as_str()
            ));
        }
        if let Some(range) = rule
            .versions
            .iter()
            .find(|v| scheme.satisfies(v, &release.version).unwrap_or(true))
        {
            return Some(format!(
                "{} is ignored by `{range}` for `{}`",
                release.version,
                rule.name.as_str()
            ));
        }
    }
    None
}

/// Releases newer than `current` that may be proposed, lowest first, and those passed over
/// with why, lowest first.
type Allowed<'r> = (Vec<&'r Release>, Vec<(&'r Release, String)>);

fn allowed<'r>(
    ctx: &Resolve<'_>,
    dep: &Dependency,
    current: &str,
    releases: &'r ReleaseList,
) -> Allowed<'r> {
    let filter = |r: &Release| passed_over(ctx, dep, current, r);
    let (mut ok, mut passed) =
        policy::candidates(ctx.scheme, Some(current), &releases.releases, &filter);
    ok.reverse();
    passed.reverse();
    (ok, passed)
}

/// What one fix is worked out with.
struct Resolve<'a> {
    plugin: &'a dyn Plugin,
    scheme: &'a dyn VersionScheme,
    rules: Rules,
    constraints: updatebot_core::Constraints,
    lookup: ManifestLookup<'a>,
}

/// The fix of `installed`, or why there is none.
pub async fn plan(
    ctx: &FixContext<'_>,
    installed: &Installed,
    affected: &Affected<'_>,
) -> Result<Fix, String> {
    let manifest = ctx
        .manifests
        .iter()
        .find(|m| m.path == installed.manifest)
        .ok_or_else(|| format!("{}: not read", installed.manifest))?;
    let plugin = ctx
        .checker
        .plugins
        .get(installed.ecosystem)
        .ok_or_else(|| format!("no {} support in this build", installed.ecosystem))?;
    let scheme = version_scheme(installed.ecosystem)
        .and_then(|s| plugin.scheme(s))
        .ok_or_else(|| format!("no versioning scheme for {}", installed.ecosystem))?;
    let file = manifest.result.as_ref().map_err(|e| e.to_string())?;
    let r = Resolve {
        plugin,
        scheme,
        rules: ctx
            .checker
            .settings
            .rules(installed.ecosystem, &manifest.path),
        constraints: file.constraints.clone(),
        lookup: ManifestLookup {
            checker: ctx.checker,
            plugin,
            manifest,
            read: None,
            related: &[],
        },
    };
    let probe = Dependency::new(&installed.name, &installed.name, "", None, scheme.name());
    if policy::skip_reason(&probe, &r.rules).is_some() {
        return Err(format!(
            "`{}` is ignored by the configuration",
            installed.name
        ));
    }
    let releases = r
        .lookup
        .releases(&installed.name)
        .await
        .map_err(|e| e.to_string())?;
    let (ok, passed) = allowed(&r, &probe, &installed.version, &releases);
    let Some(target) = ok.iter().find(|rel| !affected(&rel.version)) else {
        // A release free of the advisories that the configuration or the project's
        // environment passes over is worth naming: the fix exists, but not for this project.
        let blocked = passed.iter().find(|(rel, _)| !affected(&rel.version));
        return Err(match blocked {
            Some((_, why)) => format!("no fix within the configuration: {why}"),
            None if ok.is_empty() && passed.is_empty() => {
                "no fix available: there is no newer release".into()
            }
            None => "no fix available: every newer release is affected too".into(),
        });
    };
    let version = target.version.clone();
    if !installed.direct.is_empty() {
        return direct(ctx, &r, installed, &version, &releases);
    }
    transitive(ctx, &r, installed, &version, &releases).await
}

fn direct(
    ctx: &FixContext<'_>,
    r: &Resolve<'_>,
    installed: &Installed,
    version: &str,
    releases: &Arc<ReleaseList>,
) -> Result<Fix, String> {
    let mut steps = Vec::new();
    for (path, index) in &installed.direct {
        let manifest = ctx
            .manifests
            .iter()
            .find(|m| &m.path == path)
            .ok_or_else(|| format!("{path}: not read"))?;
        let dep = manifest
            .result
            .as_ref()
            .ok()
            .and_then(|f| f.dependencies.get(*index))
            .ok_or_else(|| format!("{path}: no dependency #{index}"))?;
        let new_value = manifest_value(r, dep, &installed.version, version)?;
        steps.push(Step::Direct {
            manifest: path.clone(),
            index: *index,
            name: dep.name.clone(),
            new_value,
            new_version: version.to_string(),
            releases: releases.clone(),
        });
    }
    let lockfile_only = steps.iter().all(|s| {
        matches!(
            s,
            Step::Direct {
                new_value: None,
                ..
            }
        )
    });
    if lockfile_only && installed.lockfile.is_none() {
        return Err(format!(
            "`{}` admits {version} but there is no lockfile to move",
            installed.name
        ));
    }
    Ok(Fix {
        version: version.to_string(),
        steps,
        lockfile_only,
        via: Vec::new(),
    })
}

/// The manifest's new text for a declared dependency moving to `version`.
fn manifest_value(
    r: &Resolve<'_>,
    dep: &Dependency,
    current: &str,
    version: &str,
) -> Result<Option<String>, String> {
    let scheme = r
        .plugin
        .scheme(dep.versioning)
        .ok_or_else(|| format!("no versioning scheme `{}`", dep.versioning))?;
    let strategy = dep.range_strategy.unwrap_or(r.rules.strategy);
    let admits = dep.current_value.is_empty()
        || scheme
            .satisfies(&dep.current_value, version)
            .unwrap_or(false);
    if strategy == RangeStrategy::LockfileOnly {
        return if admits {
            Ok(None)
        } else {
            Err(format!(
                "`{}` does not admit {version} and versioning-strategy is lockfile-only",
                dep.current_value
            ))
        };
    }
    let value = scheme
        .new_range(RangeRequest {
            current_value: &dep.current_value,
            current_version: Some(current),
            new_version: version,
            strategy,
        })
        .map_err(|e| e.to_string())?;
    if value.is_none() && !admits {
        return Err(format!(
            "`{}` cannot be moved to admit {version}",
            dep.current_value
        ));
    }
    Ok(value)
}

fn updater<'p>(plugin: &'p dyn Plugin, name: &str) -> Option<&'p dyn LockfileUpdater> {
    plugin
        .lockfile_updaters()
        .iter()
        .find(|u| u.name() == name)
        .map(|u| u.as_ref())
}

/// Who depends on `package@version` in the lock, each with the range it asks for.
async fn dependents_with_ranges(
    r: &Resolve<'_>,
    updater: &dyn LockfileUpdater,
    lock_path: &str,
    lock: &str,
    package: &str,
    version: &str,
) -> Result<Vec<Dependent>, String> {
    let listed = updater
        .dependents(lock_path, lock, package, version, &r.lookup)
        .await
        .map_err(|e| e.to_string())?;
    // A lock without its graph (Pipfile.lock): any locked package may be one.
    let candidates = match listed {
        Some(list) => list,
        None => updater
            .locked_packages(lock_path, lock)
            .transpose()
            .map_err(|e| e.to_string())?
            .unwrap_or_default()
            .into_iter()
            .filter(|p| p.name != package)
            .map(|p| Dependent {
                name: p.name,
                version: p.version,
                range: None,
                scheme: r.scheme.name(),
                project: false,
            })
            .collect(),
    };
    let mut out = Vec::new();
    for mut d in candidates {
        if d.range.is_none() {
            let releases = r
                .lookup
                .releases(&d.name)
                .await
                .map_err(|e| e.to_string())?;
            let release = releases
                .release(&d.version)
                .ok_or_else(|| format!("the registry no longer lists {} {}", d.name, d.version))?;
            match updater
                .requirement(&d.name, release, package, &r.lookup)
                .await
            {
                Requirement::Absent => continue,
                Requirement::Range { range, scheme } => {
                    d.range = Some(range);
                    d.scheme = scheme;
                }
                Requirement::Unknown(why) => {
                    return Err(format!(
                        "cannot tell what {} {} asks for `{package}`: {why}",
                        d.name, d.version
                    ))
                }
            }
        }
        out.push(d);
    }
    Ok(out)
}

fn admits(r: &Resolve<'_>, dependent: &Dependent, version: &str) -> bool {
    let range = dependent.range.as_deref().unwrap_or("");
    r.plugin
        .scheme(dependent.scheme)
        .is_some_and(|s| s.satisfies(range, version).unwrap_or(false))
}

async fn transitive(
    ctx: &FixContext<'_>,
    r: &Resolve<'_>,
    installed: &Installed,
    version: &str,
    releases: &Arc<ReleaseList>,
) -> Result<Fix, String> {
    let Some((lock_path, updater_name)) = &installed.lockfile else {
        return Err("not declared, and there is no lockfile to move it in".into());
    };
    let updater = updater(r.plugin, updater_name)
        .ok_or_else(|| format!("no lockfile updater `{updater_name}`"))?;
    let lock = ctx
        .locks
        .get(lock_path)
        .ok_or_else(|| format!("{lock_path}: not read"))?;
    let dependents = dependents_with_ranges(
        r,
        updater,
        lock_path,
        lock,
        &installed.name,
        &installed.version,
    )
    .await?;
    let mut steps = Vec::new();
    let mut via = Vec::new();
    for blocker in dependents.iter().filter(|d| !admits(r, d, version)) {
        let range = blocker.range.clone().unwrap_or_default();
        if blocker.project {
            return Err(format!(
                "no fix reachable: {} asks for `{}@{range}`",
                blocker.name, installed.name
            ));
        }
        let (step, moved) = parent_bump(
            ctx, r, updater, lock_path, lock, installed, blocker, version,
        )
        .await?;
        steps.push(step);
        via.push(moved);
    }
    steps.push(Step::Locked {
        manifest: installed.manifest.clone(),
        name: installed.name.clone(),
        new_version: version.to_string(),
        releases: releases.clone(),
    });
    let lockfile_only = steps.iter().all(|s| {
        matches!(
            s,
            Step::Locked { .. }
                | Step::Direct {
                    new_value: None,
                    ..
                }
        )
    });
    Ok(Fix {
        version: version.to_string(),
        steps,
        lockfile_only,
        via,
    })
}

/// The lowest release of `blocker` whose range admits `version` of the vulnerable package,
/// and how it moves (its declaration, or the lock when everything depending on it admits
/// the new release).
#[allow(clippy::too_many_arguments)]
async fn parent_bump(
    ctx: &FixContext<'_>,
    r: &Resolve<'_>,
    updater: &dyn LockfileUpdater,
    lock_path: &str,
    lock: &str,
    installed: &Installed,
    blocker: &Dependent,
    version: &str,
) -> Result<(Step, Via), String> {
    let range = blocker.range.clone().unwrap_or_default();
    let held = format!(
        "no fix reachable: {} {} requires `{}@{range}`",
        blocker.name, blocker.version, installed.name
    );
    let parent = Dependency::new(&blocker.name, &blocker.name, "", None, r.scheme.name());
    if policy::skip_reason(&parent, &r.rules).is_some() {
        return Err(format!(
            "{held}, and `{}` is ignored by the configuration",
            blocker.name
        ));
    }
    let parent_releases = r
        .lookup
        .releases(&blocker.name)
        .await
        .map_err(|e| e.to_string())?;
    let (ok, _) = allowed(r, &parent, &blocker.version, &parent_releases);
    let mut unknown = None;
    let mut chosen = None;
    for candidate in ok.into_iter().take(MAX_PARENT_CANDIDATES) {
        match updater
            .requirement(&blocker.name, candidate, &installed.name, &r.lookup)
            .await
        {
            Requirement::Absent => {
                chosen = Some(candidate.version.clone());
                break;
            }
            Requirement::Range { range, scheme } => {
                let fits = r
                    .plugin
                    .scheme(scheme)
                    .is_some_and(|s| s.satisfies(&range, version).unwrap_or(false));
                if fits {
                    chosen = Some(candidate.version.clone());
                    break;
                }
            }
            Requirement::Unknown(why) => unknown = unknown.or(Some(why)),
        }
    }
    let Some(to) = chosen else {
        return Err(match unknown {
            Some(why) => format!("{held}; newer {} could not be read ({why})", blocker.name),
            None => format!("{held}, and no newer {} admits {version}", blocker.name),
        });
    };
    let moved = Via {
        package: blocker.name.clone(),
        from: blocker.version.clone(),
        to: to.clone(),
    };
    // Declared by a manifest sharing this lock: its declaration moves.
    for manifest in ctx.manifests.iter().filter(|m| {
        m.ecosystem == installed.ecosystem
            && super::inventory::lockfile_of(r.plugin, m, ctx.repo_files)
                .is_some_and(|(p, _)| p == lock_path)
    }) {
        let Ok(file) = &manifest.result else { continue };
        let declared = file.dependencies.iter().enumerate().find(|(_, d)| {
            d.skip_reason.is_none()
                && normalize(installed.ecosystem, &d.package_name)
                    == normalize(installed.ecosystem, &blocker.name)
        });
        if let Some((index, dep)) = declared {
            let new_value = manifest_value(r, dep, &blocker.version, &to)?;
            return Ok((
                Step::Direct {
                    manifest: manifest.path.clone(),
                    index,
                    name: dep.name.clone(),
                    new_value,
                    new_version: to,
                    releases: parent_releases,
                },
                moved,
            ));
        }
    }
    // Transitive itself: through the lock, if everything depending on it admits the move.
    let above =
        dependents_with_ranges(r, updater, lock_path, lock, &blocker.name, &blocker.version)
            .await?;
    if let Some(stuck) = above.iter().find(|d| !admits(r, d, &to)) {
        return Err(format!(
            "{held}; {} {to} would admit the fix, but {} requires `{}@{}`",
            blocker.name,
            stuck.name,
            blocker.name,
            stuck.range.as_deref().unwrap_or("")
        ));
    }
    Ok((
        Step::Locked {
            manifest: installed.manifest.clone(),
            name: blocker.name.clone(),
            new_version: to,
            releases: parent_releases,
        },
        moved,
    ))
}

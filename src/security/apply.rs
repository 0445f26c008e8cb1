//! Making a fix: the manifest declarations it moves are edited in place (confirmed by
//! re-parsing), then the lockfile follows with every moved package in one request. A fix
//! whose lockfile cannot follow fails whole; nothing is half-applied.

use super::fix::{Fix, Step};
use super::inventory::{lockfile_of, version_scheme};
use crate::check::{Checker, ManifestLookup};
use crate::scan::Manifest;
use std::collections::BTreeMap;
use updatebot_core::edit::{edit_values, ValueEdit};
use updatebot_core::{Dependency, LockRequest, PlannedUpdate};

/// Apply `fix` on top of `texts` (path → current text; files not in it are as `manifests`
/// and `locks` have them). Returns the lockfiles it changed.
pub async fn apply_fix(
    checker: &Checker<'_>,
    manifests: &[Manifest],
    repo_files: &[String],
    locks: &BTreeMap<String, String>,
    fix: &Fix,
    texts: &mut BTreeMap<String, String>,
) -> Result<Vec<String>, String> {
    // Steps by the manifest they belong to, in order of first appearance.
    let mut order: Vec<String> = Vec::new();
    for step in &fix.steps {
        let path = match step {
            Step::Direct { manifest, .. } | Step::Locked { manifest, .. } => manifest,
        };
        if !order.contains(path) {
            order.push(path.clone());
        }
    }
    let mut touched = Vec::new();
    for path in order {
        let manifest = manifests
            .iter()
            .find(|m| m.path == path)
            .ok_or_else(|| format!("{path}: not read"))?;
        let steps: Vec<&Step> = fix
            .steps
            .iter()
            .filter(|s| match s {
                Step::Direct { manifest, .. } | Step::Locked { manifest, .. } => *manifest == path,
            })
            .collect();
        if let Some(lock) =
            apply_manifest(checker, manifest, repo_files, locks, &steps, texts).await?
        {
            if !touched.contains(&lock) {
                touched.push(lock);
            }
        }
    }
    Ok(touched)
}

async fn apply_manifest(
    checker: &Checker<'_>,
    manifest: &Manifest,
    repo_files: &[String],
    locks: &BTreeMap<String, String>,
    steps: &[&Step],
    texts: &mut BTreeMap<String, String>,
) -> Result<Option<String>, String> {
    let (plugin, manager) = checker
        .plugins
        .manager(manifest.manager)
        .ok_or_else(|| format!("no manager `{}`", manifest.manager))?;
    let file = manifest.result.as_ref().map_err(|e| e.to_string())?;
    let content = texts
        .get(&manifest.path)
        .cloned()
        .unwrap_or_else(|| manifest.content.clone());
    let edits: Vec<ValueEdit> = steps
        .iter()
        .filter_map(|s| match s {
            Step::Direct {
                index,
                new_value: Some(value),
                ..
            } => Some(ValueEdit {
                index: *index,
                new_value: value.clone(),
            }),
            _ => None,
        })
        .collect();
    let mut tentative = if edits.is_empty() {
        content.clone()
    } else {
        edit_values(manager, &manifest.path, &content, &edits).map_err(|e| e.to_string())?
    };
    let lock = lockfile_of(plugin, manifest, repo_files);
    let Some((lock_path, updater_name)) = lock else {
        if steps.iter().any(|s| matches!(s, Step::Locked { .. })) {
            return Err(format!(
                "{}: no lockfile to move packages in",
                manifest.path
            ));
        }
        texts.insert(manifest.path.clone(), tentative);
        return Ok(None);
    };
    let updater = plugin
        .lockfile_updaters()
        .iter()
        .find(|u| u.name() == updater_name)
        .ok_or_else(|| format!("no lockfile updater `{updater_name}`"))?;
    updater.preflight(&lock_path).map_err(|e| e.to_string())?;
    let scheme = version_scheme(manifest.ecosystem).unwrap_or("");
    // The dependencies the updates are about: declared ones as the manifest has them, the
    // others made up by name.
    let made_up: Vec<Dependency> = steps
        .iter()
        .map(|s| match s {
            Step::Direct { index, .. } => file
                .dependencies
                .get(*index)
                .cloned()
                .ok_or_else(|| format!("{}: no dependency #{index}", manifest.path)),
            Step::Locked { name, .. } => Ok(Dependency::new(name, name, "", None, scheme)),
        })
        .collect::<Result<_, String>>()?;
    let mut planned = Vec::new();
    for (step, dependency) in steps.iter().zip(&made_up) {
        let (new_value, new_version, releases) = match step {
            Step::Direct {
                new_value,
                new_version,
                releases,
                ..
            } => (new_value.as_deref(), new_version, releases),
            Step::Locked {
                new_version,
                releases,
                ..
            } => (None, new_version, releases),
        };
        let release = releases.release(new_version).ok_or_else(|| {
            format!(
                "no release data for {} {new_version}",
                dependency.package_name
            )
        })?;
        planned.push(PlannedUpdate {
            dependency,
            new_value,
            new_version,
            release,
            releases,
        });
    }
    let in_manifest = lock_path == manifest.path;
    let lock_before = if in_manifest {
        tentative.clone()
    } else {
        texts
            .get(&lock_path)
            .or_else(|| locks.get(&lock_path))
            .cloned()
            .ok_or_else(|| format!("{lock_path}: not read"))?
    };
    // Other files as this change has them so far (a pip-compile `.in` source).
    let mut snapshot = locks.clone();
    snapshot.extend(texts.iter().map(|(k, v)| (k.clone(), v.clone())));
    let current = move |path: &str| -> Option<String> { snapshot.get(path).cloned() };
    let lookup = ManifestLookup {
        checker,
        plugin,
        manifest,
        read: Some(&current),
        // A security fix reads only the manifest and its lock (a yarn or pnpm workspace's
        // other manifests are not fetched for it).
        related: &[],
    };
    let output = updater
        .update_files(LockRequest {
            manifest_path: &manifest.path,
            manifest_before: &content,
            manifest_after: &tentative,
            lock_path: &lock_path,
            lock_content: &lock_before,
            updates: &planned,
            lookup: &lookup,
        })
        .await
        .map_err(|e| e.to_string())?;
    for (path, text) in output.other_files {
        texts.insert(path, text);
    }
    if in_manifest {
        tentative = output.content;
    } else {
        texts.insert(lock_path.clone(), output.content);
    }
    texts.insert(manifest.path.clone(), tentative);
    Ok(Some(lock_path))
}

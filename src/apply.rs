//! Apply decided updates: edit manifest spans (confirmed by re-parsing), then bring the
//! lockfile in line. An update whose lockfile cannot follow is dropped, never half-applied.

use crate::check::{Checker, DependencyResult, ManifestLookup, ManifestResult};
use std::collections::BTreeMap;
use std::path::Path;
use updatebot_core::edit::{edit_values, ValueEdit};
use updatebot_core::{LockRequest, PlannedUpdate};

/// A file's text before and after.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileChange {
    pub path: String,
    pub before: String,
    pub after: String,
}

/// What happened to one proposed update.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppliedUpdate {
    pub manifest: String,
    pub dependency: String,
    pub new_version: String,
    /// `Err` says why the update could not be made.
    pub result: Result<(), String>,
}

#[derive(Clone, Debug, Default)]
pub struct Applied {
    pub changes: Vec<FileChange>,
    pub updates: Vec<AppliedUpdate>,
}

/// Apply every update of `results`. `read` gives a repository file's text (for lockfiles
/// that are separate from their manifest).
pub async fn apply(
    checker: &Checker<'_>,
    results: &[ManifestResult],
    read: &(dyn Fn(&str) -> Result<String, String> + Sync),
) -> Applied {
    apply_selected(checker, results, &|_, _| true, read).await
}

/// Apply the updates `selected` picks (by manifest and dependency), each file starting from
/// its text in `results`: what one merge request changes.
pub async fn apply_selected(
    checker: &Checker<'_>,
    results: &[ManifestResult],
    selected: &(dyn Fn(&ManifestResult, &DependencyResult) -> bool + Sync),
    read: &(dyn Fn(&str) -> Result<String, String> + Sync),
) -> Applied {
    let plugins = checker.plugins;
    let mut applied = Applied::default();
    let mut locks: BTreeMap<String, (String, String)> = BTreeMap::new();
    for result in results {
        let manifest = &result.manifest;
        let Some((plugin, manager)) = plugins.manager(manifest.manager) else {
            continue;
        };
        let mut content = manifest.content.clone();
        for (dep, proposal) in result.updates().filter(|(d, _)| selected(result, d)) {
            let mut record = |outcome: Result<(), String>| {
                applied.updates.push(AppliedUpdate {
                    manifest: manifest.path.clone(),
                    dependency: dep.dependency.name.clone(),
                    new_version: proposal.new_version.clone(),
                    result: outcome,
                })
            };
            let mut tentative = match &proposal.new_value {
                Some(value) => match edit_values(
                    manager,
                    &manifest.path,
                    &content,
                    &[ValueEdit {
                        index: dep.index,
                        new_value: value.clone(),
                    }],
                ) {
                    Ok(text) => text,
                    Err(e) => {
                        record(Err(e.to_string()));
                        continue;
                    }
                },
                None => content.clone(),
            };
            if let Some((lock_path, updater_name)) = &result.lockfile {
                let Some(updater) = plugin
                    .lockfile_updaters()
                    .iter()
                    .find(|u| u.name() == *updater_name)
                else {
                    record(Err(format!("no lockfile updater `{updater_name}`")));
                    continue;
                };
                let Some(releases) = dep.releases.as_deref() else {
                    record(Err(format!("no release data for {}", proposal.new_version)));
                    continue;
                };
                let Some(release) = releases.release(&proposal.new_version) else {
                    record(Err(format!("no release data for {}", proposal.new_version)));
                    continue;
                };
                let in_manifest = lock_path == &manifest.path;
                let lock_before = if in_manifest {
                    tentative.clone()
                } else if let Some((_, current)) = locks.get(lock_path) {
                    current.clone()
                } else {
                    match read(lock_path) {
                        Ok(text) => text,
                        Err(e) => {
                            record(Err(format!("{lock_path}: {e}")));
                            continue;
                        }
                    }
                };
                let planned = [PlannedUpdate {
                    dependency: &dep.dependency,
                    new_value: proposal.new_value.as_deref(),
                    new_version: &proposal.new_version,
                    release,
                    releases,
                }];
                // Other files as this change has them so far (manifests edited before this
                // one included: a workspace's lock reads them all).
                let changes = &applied.changes;
                let current = |path: &str| -> Option<String> {
                    locks
                        .get(path)
                        .map(|(_, after)| after.clone())
                        .or_else(|| {
                            changes
                                .iter()
                                .find(|c| c.path == path)
                                .map(|c| c.after.clone())
                        })
                        .or_else(|| read(path).ok())
                };
                let lookup = ManifestLookup {
                    checker,
                    plugin,
                    manifest,
                    read: Some(&current),
                    related: &result.related_files,
                };
                let request = LockRequest {
                    lookup: &lookup,
                    manifest_path: &manifest.path,
                    manifest_before: &content,
                    manifest_after: &tentative,
                    lock_path,
                    lock_content: &lock_before,
                    updates: &planned,
                };
                let output = updater.update_files(request).await;
                match output {
                    Ok(output) => {
                        // Files changed beside the lock (a `.in` source) are kept like locks.
                        let mut others = Vec::new();
                        for (path, text) in output.other_files {
                            let original = match locks.get(&path) {
                                Some((o, _)) => o.clone(),
                                None => match read(&path) {
                                    Ok(t) => t,
                                    Err(e) => {
                                        others.push(Err(format!("{path}: {e}")));
                                        continue;
                                    }
                                },
                            };
                            others.push(Ok((path, original, text)));
                        }
                        if let Some(Err(e)) = others.iter().find(|o| o.is_err()) {
                            record(Err(e.clone()));
                            continue;
                        }
                        for (path, original, text) in others.into_iter().flatten() {
                            locks.insert(path, (original, text));
                        }
                        if in_manifest {
                            tentative = output.content;
                        } else {
                            let original = locks
                                .get(lock_path)
                                .map(|(o, _)| o.clone())
                                .unwrap_or_else(|| lock_before.clone());
                            locks.insert(lock_path.clone(), (original, output.content));
                        }
                    }
                    Err(e) => {
                        record(Err(e.to_string()));
                        continue;
                    }
                }
            }
            content = tentative;
            record(Ok(()));
        }
        if content != manifest.content {
            applied.changes.push(FileChange {
                path: manifest.path.clone(),
                before: manifest.content.clone(),
                after: content,
            });
        }
    }
    for (path, (before, after)) in locks {
        if before != after {
            applied.changes.push(FileChange {
                path,
                before,
                after,
            });
        }
    }
    applied
}

/// A unified diff of the changes, `a/` and `b/` prefixed like git's.
pub fn unified_diff(changes: &[FileChange]) -> String {
    let mut out = String::new();
    for change in changes {
        let diff = similar::TextDiff::from_lines(&change.before, &change.after);
        out.push_str(
            &diff
                .unified_diff()
                .context_radius(3)
                .header(&format!("a/{}", change.path), &format!("b/{}", change.path))
                .to_string(),
        );
    }
    out
}

/// Write the changes under `root`, each through a temporary file and a rename. A path that
/// leaves the checkout or goes through a symbolic link is refused before anything is written.
pub fn write_changes(root: &Path, changes: &[FileChange]) -> std::io::Result<()> {
    for change in changes {
        crate::scan::inside(root, &change.path).map_err(std::io::Error::other)?;
    }
    for change in changes {
        let target = crate::scan::inside(root, &change.path).map_err(std::io::Error::other)?;
        let tmp = target.with_extension("updatebot-tmp");
        // A fresh file: whatever was at the temporary name (a planted symbolic link, say) is
        // removed, never written through.
        let _ = std::fs::remove_file(&tmp);
        std::io::Write::write_all(
            &mut std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&tmp)?,
            change.after.as_bytes(),
        )?;
        if let Ok(meta) = std::fs::metadata(&target) {
            std::fs::set_permissions(&tmp, meta.permissions())?;
        }
        std::fs::rename(&tmp, &target)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_never_follow_symbolic_links() {
        let outside = tempfile::tempdir().unwrap();
        let victim = outside.path().join("victim.txt");
        std::fs::write(&victim, "untouched\n").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::os::unix::fs::symlink(&victim, root.join("requirements.txt")).unwrap();
        std::os::unix::fs::symlink(outside.path(), root.join("sub")).unwrap();
        // A planted link at the temporary name is replaced, not written through.
        std::fs::write(root.join("ok.txt"), "a\n").unwrap();
        std::os::unix::fs::symlink(&victim, root.join("ok.updatebot-tmp")).unwrap();
        let change = |path: &str| FileChange {
            path: path.into(),
            before: String::new(),
            after: "evil\n".into(),
        };
        for path in ["requirements.txt", "sub/victim.txt", "../victim.txt"] {
            assert!(write_changes(root, &[change(path)]).is_err(), "{path}");
        }
        write_changes(root, &[change("ok.txt")]).unwrap();
        assert_eq!(
            std::fs::read_to_string(root.join("ok.txt")).unwrap(),
            "evil\n"
        );
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "untouched\n");
    }
}

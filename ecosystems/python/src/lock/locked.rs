//! The versions a project's lockfile has installed (`poetry.lock`, `uv.lock`,
//! `Pipfile.lock` beside the manifest), so ranges that already admit a newer version get a
//! lockfile-only update.

use super::sibling;
use std::collections::BTreeMap;
use updatebot_core::PackageFile;

type Reader = fn(&str) -> Result<BTreeMap<String, String>, String>;

/// The settings files the scan reads for this.
pub const LOCK_NAMES: [&str; 3] = ["poetry.lock", "uv.lock", "Pipfile.lock"];

/// Set `locked_version` on the dependencies of the manifest at `manifest_path`.
pub fn annotate(manifest_path: &str, file: &mut PackageFile, files: &BTreeMap<String, String>) {
    let name = super::file_name(manifest_path);
    let candidates: &[(&str, Reader)] = match name {
        "pyproject.toml" => &[
            ("poetry.lock", super::poetry_lock::locked_versions),
            ("uv.lock", super::uv_lock::locked_versions),
        ],
        "Pipfile" => &[("Pipfile.lock", super::pipfile_lock::locked_versions)],
        _ => return,
    };
    let Some(versions) = candidates.iter().find_map(|(lock, read)| {
        // An unreadable lock is the updater's problem, reported when an update needs it.
        files
            .get(&sibling(manifest_path, lock))
            .map(|t| read(t).unwrap_or_default())
    }) else {
        return;
    };
    for dep in &mut file.dependencies {
        if dep.skip_reason.is_some() {
            continue;
        }
        let key = crate::requirement::normalize_name(&dep.package_name);
        if let Some(v) = versions.get(&key) {
            dep.locked_version = Some(v.clone());
        }
    }
}

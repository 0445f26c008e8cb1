//! Finding manifests in a file tree and extracting their dependencies.

use crate::plugins::Plugins;
use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Component, Path};
use updatebot_core::{Ecosystem, ManifestError, PackageFile};

/// Directories never searched for manifests: VCS data, virtualenvs, installed packages, caches.
const SKIPPED_DIRS: [&str; 12] = [
    ".git",
    ".hg",
    "node_modules",
    ".venv",
    "venv",
    "__pycache__",
    ".tox",
    ".nox",
    "site-packages",
    ".mypy_cache",
    ".pytest_cache",
    ".cache",
];

/// Largest manifest read, in bytes.
pub const MAX_MANIFEST_BYTES: u64 = 5 * 1024 * 1024;

/// Which manifests the repository's configuration covers.
pub trait Coverage: Sync {
    /// Whether the manifest at `path` (repo-relative) of `ecosystem` is covered.
    fn covers(&self, ecosystem: Ecosystem, path: &str) -> bool;
}

/// Without a configuration, every manifest is covered.
pub struct Everything;

impl Coverage for Everything {
    fn covers(&self, _: Ecosystem, _: &str) -> bool {
        true
    }
}

/// A manifest and what came of reading it.
#[derive(Debug)]
pub struct Manifest {
    /// Repo-relative, `/`-separated.
    pub path: String,
    pub manager: &'static str,
    pub ecosystem: Ecosystem,
    pub content: String,
    pub result: Result<PackageFile, ManifestError>,
}

/// Every regular file below `root` (repo-relative, sorted), not following symlinks and
/// skipping [`SKIPPED_DIRS`].
pub fn list_files(root: &Path) -> io::Result<Vec<String>> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let kind = entry.file_type()?;
            let name = entry.file_name();
            if kind.is_dir() {
                if !SKIPPED_DIRS.iter().any(|s| name == *s) {
                    stack.push(entry.path());
                }
            } else if kind.is_file() {
                if let Ok(rel) = entry.path().strip_prefix(root) {
                    out.push(to_repo_path(rel));
                }
            }
        }
    }
    out.sort();
    Ok(out)
}

fn to_repo_path(rel: &Path) -> String {
    rel.components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Join a manifest-relative include (`-r ../base.txt`) onto the manifest's directory,
/// refusing anything that leaves the repository.
pub fn resolve_include(manifest: &str, include: &str) -> Option<String> {
    if include.starts_with('/') || include.contains("://") || include.contains('\\') {
        return None;
    }
    let mut parts: Vec<&str> = manifest.split('/').collect();
    parts.pop();
    for piece in include.split('/') {
        match piece {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            other => parts.push(other),
        }
    }
    Some(parts.join("/"))
}

/// The manifests among `files` (with their manager), in file order.
pub fn select(
    plugins: &Plugins,
    files: &[String],
    coverage: &dyn Coverage,
) -> Vec<(String, &'static str, Ecosystem)> {
    let mut out = Vec::new();
    for path in files {
        for (plugin, manager) in plugins.managers() {
            if manager.matches(path) && coverage.covers(plugin.ecosystem(), path) {
                out.push((path.clone(), manager.name(), plugin.ecosystem()));
                break;
            }
        }
    }
    out
}

/// Extract one manifest with its manager.
pub fn extract(
    plugins: &Plugins,
    path: &str,
    manager: &'static str,
    ecosystem: Ecosystem,
    content: String,
) -> Manifest {
    let result = match plugins.manager(manager) {
        Some((_, m)) => m.extract(path, &content),
        None => Err(ManifestError::new(
            path,
            None,
            format!("no manager `{manager}`"),
        )),
    };
    Manifest {
        path: path.to_string(),
        manager,
        ecosystem,
        content,
        result,
    }
}

/// Read a file of the tree, refusing oversized ones.
pub fn read_manifest(root: &Path, path: &str) -> Result<String, ManifestError> {
    let full = root.join(path);
    let meta = std::fs::symlink_metadata(&full)
        .map_err(|e| ManifestError::new(path, None, format!("cannot read: {e}")))?;
    if meta.len() > MAX_MANIFEST_BYTES {
        return Err(ManifestError::new(
            path,
            None,
            format!(
                "file is {} bytes, over the {MAX_MANIFEST_BYTES}-byte limit",
                meta.len()
            ),
        ));
    }
    let bytes = std::fs::read(&full)
        .map_err(|e| ManifestError::new(path, None, format!("cannot read: {e}")))?;
    String::from_utf8(bytes).map_err(|_| ManifestError::new(path, None, "file is not UTF-8"))
}

/// An incremental scan: the caller reads the files [`Scan::pending`] names (from disk, from
/// a forge) and hands them back with [`Scan::add`]; includes (`-r other.txt`) to files the
/// name rules did not select are queued as they are found.
pub struct Scan<'p> {
    plugins: &'p Plugins,
    coverage: &'p dyn Coverage,
    known: BTreeSet<String>,
    queue: Vec<(String, &'static str, Ecosystem)>,
    next: usize,
    seen: BTreeSet<String>,
    out: Vec<Manifest>,
    /// Settings files (`.npmrc`) by ecosystem: path → text.
    context: BTreeMap<Ecosystem, BTreeMap<String, String>>,
}

/// The "manager" of a queued settings file (see [`Plugin::context_files`]).
pub const CONTEXT: &str = "(settings file)";

impl<'p> Scan<'p> {
    pub fn new(plugins: &'p Plugins, files: &[String], coverage: &'p dyn Coverage) -> Self {
        let mut queue = select(plugins, files, coverage);
        for plugin in plugins.all() {
            let names = plugin.context_files();
            for path in files {
                let name = path.rsplit('/').next().unwrap_or(path);
                if names.contains(&name) {
                    queue.push((path.clone(), CONTEXT, plugin.ecosystem()));
                }
            }
        }
        Scan {
            plugins,
            coverage,
            known: files.iter().cloned().collect(),
            seen: queue.iter().map(|(p, _, _)| p.clone()).collect(),
            queue,
            next: 0,
            out: Vec::new(),
            context: BTreeMap::new(),
        }
    }

    /// The manifests to read next (empty when the scan is complete).
    pub fn pending(&mut self) -> Vec<(String, &'static str, Ecosystem)> {
        let batch = self.queue[self.next..].to_vec();
        self.next = self.queue.len();
        batch
    }

    /// A manifest's text (or why it could not be read).
    pub fn add(
        &mut self,
        path: &str,
        manager: &'static str,
        ecosystem: Ecosystem,
        content: Result<String, ManifestError>,
    ) {
        if manager == CONTEXT {
            // An unreadable settings file is as good as none.
            if let Ok(text) = content {
                self.context
                    .entry(ecosystem)
                    .or_default()
                    .insert(path.to_string(), text);
            }
            return;
        }
        let manifest = match content {
            Ok(content) => extract(self.plugins, path, manager, ecosystem, content),
            Err(e) => Manifest {
                path: path.to_string(),
                manager,
                ecosystem,
                content: String::new(),
                result: Err(e),
            },
        };
        if let Ok(file) = &manifest.result {
            for include in &file.includes {
                if let Some(target) = resolve_include(path, include) {
                    // An include is read only where the configuration covers it (its own
                    // directory's entry, with that entry's rules and `exclude-paths`).
                    if self.known.contains(&target)
                        && self.coverage.covers(ecosystem, &target)
                        && self.seen.insert(target.clone())
                    {
                        self.queue.push((target, manager, ecosystem));
                    }
                }
            }
        }
        self.out.push(manifest);
    }

    /// The manifests, with their ecosystems' settings files applied.
    pub fn finish(mut self) -> Vec<Manifest> {
        for manifest in &mut self.out {
            let (Ok(file), Some(plugin)) =
                (&mut manifest.result, self.plugins.get(manifest.ecosystem))
            else {
                continue;
            };
            if let Some(context) = self.context.get(&manifest.ecosystem) {
                plugin.contextualize(&manifest.path, file, context);
            }
        }
        self.out
    }
}

/// Scan a local checkout: select manifests, read and extract them, follow includes.
pub fn scan_dir(
    plugins: &Plugins,
    root: &Path,
    coverage: &dyn Coverage,
) -> io::Result<Vec<Manifest>> {
    let files = list_files(root)?;
    let mut scan = Scan::new(plugins, &files, coverage);
    loop {
        let batch = scan.pending();
        if batch.is_empty() {
            break;
        }
        for (path, manager, ecosystem) in batch {
            let content = read_manifest(root, &path);
            scan.add(&path, manager, ecosystem, content);
        }
    }
    Ok(scan.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn includes_outside_the_coverage_are_not_read() {
        struct OnlyApp;
        impl Coverage for OnlyApp {
            fn covers(&self, _: Ecosystem, path: &str) -> bool {
                path.starts_with("app/")
            }
        }
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("app")).unwrap();
        std::fs::create_dir_all(dir.path().join("common")).unwrap();
        std::fs::write(
            dir.path().join("app/requirements.txt"),
            "-r ../common/base.txt\n-r extra.txt\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("app/extra.txt"), "idna==3.7\n").unwrap();
        std::fs::write(dir.path().join("common/base.txt"), "six==1.15.0\n").unwrap();
        let plugins = Plugins::standard();
        let manifests = scan_dir(&plugins, dir.path(), &OnlyApp).unwrap();
        let paths: Vec<_> = manifests.iter().map(|m| m.path.as_str()).collect();
        assert_eq!(paths, ["app/requirements.txt", "app/extra.txt"]);
    }

    #[test]
    fn includes_resolve_inside_the_repository_only() {
        assert_eq!(
            resolve_include("a/b/req.txt", "base.txt").as_deref(),
            Some("a/b/base.txt")
        );
        assert_eq!(
            resolve_include("a/b/req.txt", "../c.txt").as_deref(),
            Some("a/c.txt")
        );
        assert_eq!(resolve_include("req.txt", "../../etc/passwd"), None);
        assert_eq!(resolve_include("req.txt", "/etc/passwd"), None);
    }

    #[test]
    fn scan_follows_includes_and_skips_virtualenvs() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("svc/.venv/lib")).unwrap();
        std::fs::write(
            root.join("svc/requirements.txt"),
            "-r base.txt\nsix==1.16.0\n",
        )
        .unwrap();
        std::fs::write(root.join("svc/base.txt"), "idna==3.7\n").unwrap();
        std::fs::write(root.join("svc/.venv/lib/requirements.txt"), "bad===\n").unwrap();
        std::fs::write(root.join("svc/pyproject.toml"), "[project\n").unwrap();
        let plugins = Plugins::standard();
        let manifests = scan_dir(&plugins, root, &Everything).unwrap();
        let paths: Vec<_> = manifests.iter().map(|m| m.path.as_str()).collect();
        assert_eq!(
            paths,
            ["svc/pyproject.toml", "svc/requirements.txt", "svc/base.txt"]
        );
        assert!(manifests[0].result.is_err());
        assert_eq!(
            manifests[2].result.as_ref().unwrap().dependencies[0].name,
            "idna"
        );
    }
}

//! Finding manifests in a file tree and extracting their dependencies.

use crate::plugins::Plugins;
use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Component, Path, PathBuf};
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

/// Largest manifest, settings or configuration file read, in bytes. The biggest manifest of
/// the 26-repository corpus is 40 KB; a 10 MB one is an attack or a mistake.
pub const MAX_MANIFEST_BYTES: u64 = 10 * 1024 * 1024;
/// Largest lockfile read, in bytes (the corpus's biggest is 1.2 MB; big monorepos' npm locks
/// reach 20–30 MB).
pub const MAX_LOCKFILE_BYTES: u64 = 64 * 1024 * 1024;

/// File names that get [`MAX_LOCKFILE_BYTES`] rather than [`MAX_MANIFEST_BYTES`].
const LOCKFILE_NAMES: [&str; 9] = [
    "package-lock.json",
    "npm-shrinkwrap.json",
    "yarn.lock",
    "pnpm-lock.yaml",
    "bun.lock",
    "poetry.lock",
    "uv.lock",
    "Pipfile.lock",
    "pdm.lock",
];

/// The largest size the file at `path` (repo-relative) may have. The one place the limits
/// are decided: local checkouts, the forge's reads and lockfile reads all ask here.
pub fn size_limit(path: &str) -> u64 {
    let name = path.rsplit('/').next().unwrap_or(path);
    if LOCKFILE_NAMES.contains(&name) {
        MAX_LOCKFILE_BYTES
    } else {
        MAX_MANIFEST_BYTES
    }
}

/// Why a repository file was not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    #[error("`{path}` is {size} bytes, over the {limit}-byte limit; not read")]
    TooLarge { path: String, size: u64, limit: u64 },
    #[error("`{path}` is a symbolic link{}; symbolic links are neither read nor written", via.as_ref().map(|v| format!(" (at `{v}`)")).unwrap_or_default())]
    Symlink { path: String, via: Option<String> },
    #[error("`{path}` is not inside the repository")]
    Outside { path: String },
    #[error("`{path}` is not a regular file")]
    NotAFile { path: String },
    #[error("`{path}` is not UTF-8")]
    NotUtf8 { path: String },
    #[error("`{path}`: cannot read: {message}")]
    Io { path: String, message: String },
}

impl ReadError {
    pub fn path(&self) -> &str {
        match self {
            ReadError::TooLarge { path, .. }
            | ReadError::Symlink { path, .. }
            | ReadError::Outside { path }
            | ReadError::NotAFile { path }
            | ReadError::NotUtf8 { path }
            | ReadError::Io { path, .. } => path,
        }
    }
}

impl From<ReadError> for ManifestError {
    fn from(e: ReadError) -> Self {
        ManifestError::new(e.path().to_string(), None, e.to_string())
    }
}

/// Refuse a file of `size` bytes at `path` if it is over its [`size_limit`].
pub fn check_size(path: &str, size: u64) -> Result<(), ReadError> {
    let limit = size_limit(path);
    if size > limit {
        return Err(ReadError::TooLarge {
            path: path.to_string(),
            size,
            limit,
        });
    }
    Ok(())
}

/// `root` joined with the repo-relative `path`, after checking that no component of it
/// leaves the repository or is a symbolic link (a link could point anywhere, the checkout's
/// outside included). The last component may be missing (a file about to be created).
pub fn inside(root: &Path, path: &str) -> Result<PathBuf, ReadError> {
    let mut full = root.to_path_buf();
    let mut seen = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => continue,
            ".." => {
                return Err(ReadError::Outside {
                    path: path.to_string(),
                })
            }
            part if part.contains('\\') || Path::new(part).is_absolute() => {
                return Err(ReadError::Outside {
                    path: path.to_string(),
                })
            }
            part => {
                full.push(part);
                seen.push(part);
            }
        }
        match std::fs::symlink_metadata(&full) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let at = seen.join("/");
                return Err(ReadError::Symlink {
                    path: path.to_string(),
                    via: (at != path.trim_matches('/')).then_some(at),
                });
            }
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(ReadError::Io {
                    path: path.to_string(),
                    message: e.to_string(),
                })
            }
        }
    }
    if seen.is_empty() {
        return Err(ReadError::Outside {
            path: path.to_string(),
        });
    }
    Ok(full)
}

/// Read a repository file of a local checkout: inside the repository, no symbolic link on
/// the way, a regular file, at most its [`size_limit`] (checked before reading, and the read
/// itself stops there), UTF-8.
pub fn read_repo_file(root: &Path, path: &str) -> Result<String, ReadError> {
    use std::io::Read;
    let full = inside(root, path)?;
    let io_error = |e: io::Error| ReadError::Io {
        path: path.to_string(),
        message: e.to_string(),
    };
    let meta = std::fs::symlink_metadata(&full).map_err(io_error)?;
    if !meta.file_type().is_file() {
        return Err(ReadError::NotAFile {
            path: path.to_string(),
        });
    }
    check_size(path, meta.len())?;
    let limit = size_limit(path);
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    std::fs::File::open(&full)
        .map_err(io_error)?
        .take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(io_error)?;
    check_size(path, bytes.len() as u64)?;
    String::from_utf8(bytes).map_err(|_| ReadError::NotUtf8 {
        path: path.to_string(),
    })
}

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

/// The files of a checkout: regular files, and symbolic links (listed so that they can be
/// refused by name; never followed, read or written).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tree {
    /// Regular files, repo-relative and `/`-separated, sorted.
    pub files: Vec<String>,
    /// Symbolic links (to files or directories), sorted.
    pub links: Vec<String>,
}

impl Tree {
    /// Files and links together, sorted: what lockfile detection looks at (a symlinked
    /// lockfile must block its manifest's update, not be taken for no lockfile).
    pub fn all(&self) -> Vec<String> {
        let mut all: Vec<String> = self.files.iter().chain(&self.links).cloned().collect();
        all.sort();
        all
    }
}

/// Every regular file and symbolic link below `root`, not following symlinks and skipping
/// [`SKIPPED_DIRS`].
pub fn list_tree(root: &Path) -> io::Result<Tree> {
    let mut tree = Tree::default();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let kind = entry.file_type()?;
            let name = entry.file_name();
            let rel = entry.path().strip_prefix(root).map(to_repo_path);
            if kind.is_dir() {
                if !SKIPPED_DIRS.iter().any(|s| name == *s) {
                    stack.push(entry.path());
                }
            } else if kind.is_file() {
                tree.files.extend(rel);
            } else if kind.is_symlink() {
                tree.links.extend(rel);
            }
        }
    }
    tree.files.sort();
    tree.links.sort();
    Ok(tree)
}

/// Every regular file below `root` (repo-relative, sorted), not following symlinks and
/// skipping [`SKIPPED_DIRS`].
pub fn list_files(root: &Path) -> io::Result<Vec<String>> {
    list_tree(root).map(|t| t.files)
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

/// Read a manifest of a local checkout (see [`read_repo_file`]).
pub fn read_manifest(root: &Path, path: &str) -> Result<String, ManifestError> {
    read_repo_file(root, path).map_err(ManifestError::from)
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

    /// Symbolic links of the tree: those a manager would read are reported as manifests
    /// that could not be read, naming the link; none is ever read.
    pub fn refuse_links(&mut self, links: &[String]) {
        for (path, manager, ecosystem) in select(self.plugins, links, self.coverage) {
            if self.seen.insert(path.clone()) {
                let error = ReadError::Symlink {
                    path: path.clone(),
                    via: None,
                };
                self.out.push(Manifest {
                    path,
                    manager,
                    ecosystem,
                    content: String::new(),
                    result: Err(error.into()),
                });
            }
        }
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
        for plugin in self.plugins.all() {
            let mut read: Vec<updatebot_core::ScannedManifest<'_>> = self
                .out
                .iter_mut()
                .filter(|m| m.ecosystem == plugin.ecosystem())
                .filter_map(|m| match &mut m.result {
                    Ok(file) => Some(updatebot_core::ScannedManifest {
                        path: &m.path,
                        content: &m.content,
                        file,
                    }),
                    Err(_) => None,
                })
                .collect();
            plugin.link(&mut read);
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
    let tree = list_tree(root)?;
    let mut scan = Scan::new(plugins, &tree.files, coverage);
    scan.refuse_links(&tree.links);
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
    fn symlinks_are_listed_apart_and_never_read() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret.txt"), "django==1.0\n").unwrap();
        std::fs::create_dir(outside.path().join("dir")).unwrap();
        std::fs::write(outside.path().join("dir/requirements.txt"), "six==1.0\n").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::write(root.join("requirements.txt"), "idna==3.7\n").unwrap();
        let link = |target: &Path, name: &str| {
            std::os::unix::fs::symlink(target, root.join(name)).unwrap();
        };
        link(&outside.path().join("secret.txt"), "requirements-dev.txt");
        link(&outside.path().join("dir"), "linked");
        link(Path::new("requirements.txt"), "requirements-inside.txt");
        let tree = list_tree(root).unwrap();
        assert_eq!(tree.files, ["requirements.txt"]);
        assert_eq!(
            tree.links,
            ["linked", "requirements-dev.txt", "requirements-inside.txt"]
        );
        let plugins = Plugins::standard();
        let manifests = scan_dir(&plugins, root, &Everything).unwrap();
        let mut read: Vec<_> = manifests
            .iter()
            .map(|m| (m.path.as_str(), m.result.is_ok()))
            .collect();
        read.sort();
        assert_eq!(
            read,
            [
                ("requirements-dev.txt", false),
                ("requirements-inside.txt", false),
                ("requirements.txt", true)
            ]
        );
        let error = manifests[0].result.as_ref().unwrap_err().to_string();
        assert!(error.contains("symbolic link"), "{error}");
        assert!(manifests.iter().all(|m| !m.content.contains("django")));
        // Through a linked directory, or with `..`: refused by name.
        for path in ["linked/requirements.txt", "requirements-dev.txt"] {
            let e = read_repo_file(root, path).unwrap_err();
            assert!(matches!(e, ReadError::Symlink { .. }), "{path}: {e}");
        }
        for path in ["../secret.txt", "a/../../x", ""] {
            let e = read_repo_file(root, path).unwrap_err();
            assert!(matches!(e, ReadError::Outside { .. }), "{path}: {e}");
        }
        // A leading `/` is the repository's root, as in `.updatebot.yml`.
        let e = read_repo_file(root, "/etc/passwd").unwrap_err();
        assert!(matches!(e, ReadError::Io { .. }), "{e}");
        assert_eq!(
            read_repo_file(root, "requirements.txt").unwrap(),
            "idna==3.7\n"
        );
    }

    #[test]
    fn oversized_files_are_refused_before_they_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let big = std::fs::File::create(dir.path().join("requirements.txt")).unwrap();
        // Sparse: 100 MB that take no disk and are never read.
        big.set_len(100 * 1024 * 1024).unwrap();
        let e = read_repo_file(dir.path(), "requirements.txt").unwrap_err();
        assert_eq!(
            e.to_string(),
            "`requirements.txt` is 104857600 bytes, over the 10485760-byte limit; not read"
        );
        let plugins = Plugins::standard();
        let manifests = scan_dir(&plugins, dir.path(), &Everything).unwrap();
        let error = manifests[0].result.as_ref().unwrap_err().to_string();
        assert!(
            error.starts_with("requirements.txt: `requirements.txt` is 104857600 bytes"),
            "{error}"
        );
        assert_eq!(size_limit("web/package-lock.json"), MAX_LOCKFILE_BYTES);
        assert_eq!(size_limit("web/package.json"), MAX_MANIFEST_BYTES);
        assert!(check_size("uv.lock", 20 * 1024 * 1024).is_ok());
        assert!(check_size("pyproject.toml", 20 * 1024 * 1024).is_err());
    }

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

//! What a checkout installs: every locked package of its lockfiles (transitive ones too),
//! and the pinned versions of manifests that have no lock that lists packages.

use crate::plugins::Plugins;
use crate::scan::Manifest;
use std::collections::{BTreeMap, BTreeSet};
use updatebot_core::{Ecosystem, Plugin};

/// One installed package version in the scope of one manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Installed {
    pub ecosystem: Ecosystem,
    /// The manifest whose lock (or pins) installs it.
    pub manifest: String,
    /// The lockfile that lists it and the updater that keeps that lockfile, if any.
    pub lockfile: Option<(String, &'static str)>,
    /// The registry name.
    pub name: String,
    pub version: String,
    pub development: bool,
    /// Declarations of the package (manifest path, dependency index) that install this
    /// version; empty for a transitive dependency.
    pub direct: Vec<(String, usize)>,
}

#[derive(Debug, Default)]
pub struct Inventory {
    pub installed: Vec<Installed>,
    /// Dependencies with neither a pin nor a locked version (`requests>=2` without a lock):
    /// what they install is not known, so they are not checked. `manifest: name`.
    pub unpinned: Vec<String>,
    /// Lockfiles that could not be read, each named.
    pub problems: Vec<String>,
}

/// The versioning scheme versions of an ecosystem are compared in (a Poetry range is still
/// about PEP 440 versions).
pub fn version_scheme(ecosystem: Ecosystem) -> Option<&'static str> {
    match ecosystem {
        Ecosystem::Npm => Some("npm"),
        Ecosystem::Python => Some("pep440"),
        Ecosystem::Docker => None,
    }
}

/// A package name as its ecosystem compares names.
pub fn normalize(ecosystem: Ecosystem, name: &str) -> String {
    match ecosystem {
        Ecosystem::Python => updatebot_python::requirement::normalize_name(name),
        _ => name.to_string(),
    }
}

/// The lockfile of a manifest and its updater, as the checker finds it.
pub fn lockfile_of(
    plugin: &dyn Plugin,
    manifest: &Manifest,
    repo_files: &[String],
) -> Option<(String, &'static str)> {
    plugin.lockfile_updaters().iter().find_map(|u| {
        u.lockfile_for(&manifest.path, &manifest.content, repo_files)
            .map(|path| (path, u.name()))
    })
}

/// The lockfiles kept apart from their manifests that the inventory reads.
pub fn lockfiles(plugins: &Plugins, manifests: &[Manifest], repo_files: &[String]) -> Vec<String> {
    let mut out = BTreeSet::new();
    for manifest in manifests {
        if version_scheme(manifest.ecosystem).is_none() || manifest.result.is_err() {
            continue;
        }
        let Some(plugin) = plugins.get(manifest.ecosystem) else {
            continue;
        };
        if let Some((path, _)) = lockfile_of(plugin, manifest, repo_files) {
            if path != manifest.path {
                out.insert(path);
            }
        }
    }
    out.into_iter().collect()
}

/// Everything the manifests and their lockfiles install. `locks` holds the text of the
/// lockfiles [`lockfiles`] named.
pub fn collect(
    plugins: &Plugins,
    manifests: &[Manifest],
    repo_files: &[String],
    locks: &BTreeMap<String, String>,
) -> Inventory {
    let mut inventory = Inventory::default();
    // The manifest each lockfile's packages are attributed to (the first that uses it).
    let mut owners: BTreeMap<String, String> = BTreeMap::new();
    for manifest in manifests {
        let (Some(scheme_name), Ok(file), Some(plugin)) = (
            version_scheme(manifest.ecosystem),
            &manifest.result,
            plugins.get(manifest.ecosystem),
        ) else {
            continue;
        };
        let Some(scheme) = plugin.scheme(scheme_name) else {
            continue;
        };
        // A `.in` compiled into a pinned file is covered by that file.
        if plugin
            .lockfile_updaters()
            .iter()
            .any(|u| u.compiled_into(&manifest.path, repo_files).is_some())
        {
            continue;
        }
        let lock = lockfile_of(plugin, manifest, repo_files);
        let listed = lock.as_ref().and_then(|(path, updater)| {
            if *path == manifest.path {
                return None;
            }
            let text = locks.get(path)?;
            let updater = plugin
                .lockfile_updaters()
                .iter()
                .find(|u| u.name() == *updater)?;
            updater.locked_packages(path, text)
        });
        let declares = |name: &str, version: &str| -> Vec<(String, usize)> {
            file.dependencies
                .iter()
                .enumerate()
                .filter(|(_, d)| d.skip_reason.is_none())
                .filter(|(_, d)| {
                    normalize(manifest.ecosystem, &d.package_name)
                        == normalize(manifest.ecosystem, name)
                })
                .filter(|(_, d)| {
                    let installs = d
                        .locked_version
                        .clone()
                        .or_else(|| scheme.pinned_version(&d.current_value));
                    installs.is_some_and(|v| {
                        v == version
                            || scheme
                                .compare(&v, version)
                                .is_ok_and(|o| o == std::cmp::Ordering::Equal)
                    })
                })
                .map(|(i, _)| (manifest.path.clone(), i))
                .collect()
        };
        match listed {
            Some(Ok(packages)) => {
                let (lock_path, _) = lock.clone().unwrap_or_default();
                let owner = owners
                    .entry(lock_path.clone())
                    .or_insert_with(|| manifest.path.clone())
                    .clone();
                for p in packages {
                    let direct = declares(&p.name, &p.version);
                    if owner != manifest.path {
                        // Another manifest sharing the lock (an npm workspace member): its
                        // declarations join the owner's entries.
                        if let Some(entry) = inventory.installed.iter_mut().find(|i| {
                            i.manifest == owner && i.name == p.name && i.version == p.version
                        }) {
                            entry.direct.extend(direct);
                        }
                        continue;
                    }
                    inventory.installed.push(Installed {
                        ecosystem: manifest.ecosystem,
                        manifest: manifest.path.clone(),
                        lockfile: lock.clone(),
                        name: p.name,
                        version: p.version,
                        development: p.development,
                        direct,
                    });
                }
                continue;
            }
            Some(Err(e)) => inventory.problems.push(e.to_string()),
            None => {}
        }
        // No lock that lists packages: what the manifest pins (or a lock annotated).
        for (index, dep) in file.dependencies.iter().enumerate() {
            if dep.skip_reason.is_some() {
                continue;
            }
            let version = dep
                .locked_version
                .clone()
                .or_else(|| scheme.pinned_version(&dep.current_value));
            let Some(version) = version else {
                inventory
                    .unpinned
                    .push(format!("{}: {}", manifest.path, dep.name));
                continue;
            };
            let name = dep.package_name.clone();
            match inventory
                .installed
                .iter_mut()
                .find(|i| i.manifest == manifest.path && i.name == name && i.version == version)
            {
                Some(entry) => entry.direct.push((manifest.path.clone(), index)),
                None => inventory.installed.push(Installed {
                    ecosystem: manifest.ecosystem,
                    manifest: manifest.path.clone(),
                    lockfile: lock.clone(),
                    name,
                    version,
                    development: dep.development,
                    direct: vec![(manifest.path.clone(), index)],
                }),
            }
        }
    }
    inventory
}

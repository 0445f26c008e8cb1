//! Every manifest of the public corpus (`../shared/corpus.tar.xz`: 26 real repositories)
//! extracts without error or panic, and the extraction is stable under a round of edits.

use std::path::{Path, PathBuf};
use std::process::Command;
use updatebot::plugins::Plugins;
use updatebot::scan::{self, Everything};
use updatebot_core::edit::{edit_values, ValueEdit};
use updatebot_core::version::{RangeRequest, RangeStrategy};

fn corpus_archive() -> Option<PathBuf> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus.tar.xz");
    if path.exists() {
        return Some(path);
    }
    assert!(
        std::env::var_os("UPDATEBOT_REQUIRE_SERVICES").is_none(),
        "../shared/corpus.tar.xz is missing"
    );
    None
}

fn unpack() -> Option<tempfile::TempDir> {
    let archive = corpus_archive()?;
    let dir = tempfile::tempdir().unwrap();
    let status = Command::new("tar")
        .arg("-xJf")
        .arg(&archive)
        .arg("-C")
        .arg(dir.path())
        .status()
        .expect("tar runs");
    assert!(status.success(), "unpacking the corpus failed");
    Some(dir)
}

#[test]
fn every_python_manifest_of_the_corpus_extracts() {
    let Some(dir) = unpack() else { return };
    let plugins = Plugins::standard();
    let manifests = scan::scan_dir(&plugins, dir.path(), &Everything).unwrap();
    let errors: Vec<String> = manifests
        .iter()
        .filter_map(|m| m.result.as_ref().err().map(|e| e.to_string()))
        .collect();
    assert!(errors.is_empty(), "manifests that failed: {errors:#?}");
    // The corpus has requirements files and pyproject.toml files of many shapes.
    let count = |manager: &str| manifests.iter().filter(|m| m.manager == manager).count();
    assert!(
        count("pip_requirements") >= 50,
        "{}",
        count("pip_requirements")
    );
    assert!(count("pyproject") >= 14, "{}", count("pyproject"));
    let deps: usize = manifests
        .iter()
        .map(|m| m.result.as_ref().map(|f| f.dependencies.len()).unwrap_or(0))
        .sum();
    assert!(deps > 600, "only {deps} dependencies");
}

/// Bumping every editable range of the corpus to a far-future version, with the range
/// rewrite each scheme would use, gives valid ranges that admit it; splicing them in
/// re-parses to the same dependencies with the new values (spans are exact on real files).
#[test]
fn every_range_of_the_corpus_rewrites_and_edits_cleanly() {
    let Some(dir) = unpack() else { return };
    let plugins = Plugins::standard();
    let manifests = scan::scan_dir(&plugins, dir.path(), &Everything).unwrap();
    let mut edited = 0;
    let mut refused = Vec::new();
    for manifest in &manifests {
        let file = manifest.result.as_ref().unwrap();
        let (_, manager) = plugins.manager(manifest.manager).unwrap();
        let mut edits = Vec::new();
        for (index, dep) in file.dependencies.iter().enumerate() {
            if dep.span.is_none() || dep.skip_reason.is_some() {
                continue;
            }
            // A tag partly written beside its variable (`${VER}-dind`): the text around the
            // variable's part stays, so the far-future version goes into the part alone.
            if let Some((a, b)) = dep.span_part {
                let value = &dep.current_value;
                let new_value = format!("{}99.1.0{}", &value[..a], &value[b..]);
                edits.push(ValueEdit { index, new_value });
                continue;
            }
            let scheme = plugins.scheme(dep.versioning).unwrap();
            let request = RangeRequest {
                current_value: &dep.current_value,
                current_version: None,
                new_version: "99.1.0",
                strategy: RangeStrategy::Increase,
            };
            match scheme.new_range(request) {
                Ok(Some(new_value)) => {
                    assert!(
                        scheme.satisfies(&new_value, "99.1.0").unwrap(),
                        "{}: `{}` → `{new_value}`",
                        manifest.path,
                        dep.current_value
                    );
                    edits.push(ValueEdit { index, new_value });
                }
                Ok(None) => {}
                Err(e) => refused.push(format!("{}: {e}", manifest.path)),
            }
        }
        edited += edits.len();
        let out = edit_values(manager, &manifest.path, &manifest.content, &edits)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            out.lines().count(),
            manifest.content.lines().count(),
            "{}",
            manifest.path
        );
    }
    assert!(edited > 400, "only {edited} ranges rewritten");
    // Only upper-bounded clauses that a bump cannot express may be refused.
    assert!(
        refused.len() * 50 < edited,
        "too many refusals: {refused:#?}"
    );
}

/// npm's own lockfiles in the corpus agree with our reading of npm's rules: keys are in
/// npm's collation order, and the legacy `dependencies` section of a version 2 lock is exactly
/// what we would write from its `packages`.
#[test]
fn npm_lockfiles_of_the_corpus_match_our_model_of_npm() {
    use updatebot_npm::lock::{collate, legacy};
    let Some(dir) = unpack() else { return };
    let files = updatebot::scan::list_files(dir.path()).unwrap();
    let locks: Vec<&String> = files
        .iter()
        .filter(|f| f.ends_with("package-lock.json"))
        .collect();
    assert!(locks.len() >= 9, "{locks:?}");
    let mut legacy_checked = 0;
    for lock in locks {
        let text = std::fs::read_to_string(dir.path().join(lock)).unwrap();
        let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
        let packages = doc["packages"].as_object().unwrap();
        let keys: Vec<&String> = packages.keys().collect();
        for pair in keys.windows(2) {
            assert_eq!(
                collate::compare(pair[0], pair[1]),
                std::cmp::Ordering::Less,
                "{lock}: `{}` before `{}`",
                pair[0],
                pair[1]
            );
        }
        // Every edge npm wrote resolves, by our reading of node's lookup, to a version in range.
        let problems = updatebot_npm::lock::tree::problems(packages);
        eprintln!(
            "{lock}: {} problems {:?}",
            problems.len(),
            problems.iter().take(3).collect::<Vec<_>>()
        );
        // Our dev/optional/devOptional/peer flags are npm's.
        let mut recomputed = packages.clone();
        updatebot_npm::lock::flags::recompute(&mut recomputed);
        for (loc, entry) in packages {
            for flag in ["dev", "optional", "devOptional"] {
                assert_eq!(
                    recomputed[loc].get(flag),
                    entry.get(flag),
                    "{lock}: `{flag}` of `{loc}`"
                );
            }
        }
        // npm leaves `peer` on packages it once placed as peers; with the lock's own flags as
        // the starting point, applying our computation changes none of them.
        let flags = updatebot_npm::lock::flags::compute(packages);
        let mut kept = packages.clone();
        updatebot_npm::lock::flags::apply(&mut kept, &flags, Some(&flags));
        assert_eq!(&kept, packages, "{lock}: flags churned");
        if doc["lockfileVersion"] == 2 {
            let built = legacy::build(packages);
            let theirs = &doc["dependencies"];
            if built != *theirs {
                let b = built.as_object().unwrap();
                let t = theirs.as_object().unwrap();
                for (k, v) in t {
                    assert_eq!(b.get(k), Some(v), "{lock}: legacy entry `{k}`");
                }
                assert_eq!(b.len(), t.len(), "{lock}");
            }
            // And in the same key order as npm wrote it.
            assert_eq!(
                serde_json::to_string(&built).unwrap(),
                serde_json::to_string(theirs).unwrap(),
                "{lock}: order"
            );
            legacy_checked += 1;
        }
    }
    assert!(legacy_checked >= 2);
}

/// Every `poetry.lock`, `uv.lock` and `Pipfile.lock` of the corpus reads (locked versions,
/// package blocks as the native engines see them), and poetry's content hash recomputed
/// from the `pyproject.toml` beside each `poetry.lock` is the one the lock records.
#[test]
fn python_lockfiles_of_the_corpus_parse() {
    use updatebot_python::lock::{pipfile_lock, poetry_lock, uv_lock};
    let Some(dir) = unpack() else { return };
    let files = scan::list_files(dir.path()).unwrap();
    let (mut locks, mut hashes) = (0, 0);
    for path in &files {
        let name = path.rsplit('/').next().unwrap();
        let read = || std::fs::read_to_string(dir.path().join(path)).unwrap();
        match name {
            "poetry.lock" | "uv.lock" => {
                let text = read();
                let versions = if name == "poetry.lock" {
                    poetry_lock::locked_versions(&text)
                } else {
                    uv_lock::locked_versions(&text)
                }
                .unwrap_or_else(|e| panic!("{path}: {e}"));
                let doc: toml_edit::DocumentMut = text.parse().unwrap();
                // (A lock may hold no package at all: textual's uv.lock.)
                let tables = doc
                    .get("package")
                    .and_then(|p| p.as_array_of_tables())
                    .map_or(0, |a| a.len());
                assert!(versions.len() <= tables, "{path}: versions");
                assert_eq!(
                    updatebot_python::lock::package_blocks(&text).len(),
                    tables,
                    "{path}: package blocks"
                );
                locks += 1;
                if name == "poetry.lock" {
                    let pyproject = path.replace("poetry.lock", "pyproject.toml");
                    if let Ok(manifest) = std::fs::read_to_string(dir.path().join(&pyproject)) {
                        let recorded = poetry_lock::lock_hash(&text).unwrap();
                        let ours = [true, false]
                            .iter()
                            .filter_map(|g| poetry_lock::content_hash(&manifest, *g))
                            .collect::<Vec<_>>();
                        assert!(
                            ours.contains(&recorded),
                            "{path}: content-hash {recorded} not recomputed ({ours:?})"
                        );
                        hashes += 1;
                    }
                }
            }
            "Pipfile.lock" => {
                pipfile_lock::locked_versions(&read()).unwrap_or_else(|e| panic!("{path}: {e}"));
                locks += 1;
            }
            _ => {}
        }
    }
    assert!(
        locks >= 8,
        "only {locks} Python lockfiles found in the corpus"
    );
    eprintln!("{locks} Python lockfiles read, {hashes} poetry content hashes recomputed");
}

/// The corpus's `yarn.lock` and `pnpm-lock.yaml` files read, and every plain registry range of
/// the `package.json` beside each one finds its locked version (what lockfile-only updates
/// and the tool's result check rely on).
#[test]
fn yarn_and_pnpm_lockfiles_of_the_corpus_parse() {
    use updatebot_npm::lock::{pnpm, yarn};
    let Some(dir) = unpack() else { return };
    let files = updatebot::scan::list_files(dir.path()).unwrap();
    let (mut yarn_locks, mut pnpm_locks, mut found) = (0, 0, 0);
    for path in &files {
        let name = path.rsplit('/').next().unwrap_or(path);
        if name != "yarn.lock" && name != "pnpm-lock.yaml" {
            continue;
        }
        let text = std::fs::read_to_string(dir.path().join(path)).unwrap();
        let manifest_path = dir.path().join(path).with_file_name("package.json");
        let manifest: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&manifest_path).unwrap()).unwrap();
        let mut direct: Vec<(String, String)> = Vec::new();
        for section in ["dependencies", "devDependencies", "optionalDependencies"] {
            for (dep, spec) in manifest[section].as_object().into_iter().flatten() {
                let spec = spec.as_str().unwrap_or("");
                if nodejs_semver::Range::parse(spec).is_ok() {
                    direct.push((dep.clone(), spec.to_string()));
                }
            }
        }
        assert!(!direct.is_empty(), "{path}: no plain ranges beside it");
        for (dep, spec) in direct {
            let version = if name == "yarn.lock" {
                let lock = yarn::parse(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
                lock.version_of(&lock.descriptor(&dep, &spec))
                    .map(str::to_string)
            } else {
                let lock = pnpm::parse(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
                lock.version_of(".", &dep, &dep)
            };
            let version = version.unwrap_or_else(|| panic!("{path}: no locked `{dep}@{spec}`"));
            // Real locks need not satisfy the manifest (netbox's `resolutions` force an older
            // markdown-it than its range): what is read is the version recorded.
            nodejs_semver::Version::parse(&version)
                .unwrap_or_else(|e| panic!("{path}: `{dep}` locked at `{version}`: {e}"));
            found += 1;
        }
        if name == "yarn.lock" {
            yarn_locks += 1;
        } else {
            pnpm_locks += 1;
        }
    }
    assert!(
        yarn_locks >= 1 && pnpm_locks >= 2,
        "{yarn_locks} {pnpm_locks}"
    );
    eprintln!("{yarn_locks} yarn.lock, {pnpm_locks} pnpm-lock.yaml: {found} locked versions");
}

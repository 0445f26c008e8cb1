//! An OSV data dump on disk, for runs without the API: the per-ecosystem `all.zip` archives
//! of <https://osv-vulnerabilities.storage.googleapis.com/> unzipped, one JSON record per
//! file, each ecosystem in its own folder (`DIR/npm/GHSA-….json`, `DIR/PyPI/PYSEC-….json`).
//! Records lying directly in `DIR` are read too (one archive unzipped in place).

use crate::osv::{OsvEcosystem, Vuln};
use crate::AdvisoryError;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Largest record file read.
const MAX_RECORD_BYTES: u64 = 8 * 1024 * 1024;

/// The records of one ecosystem by normalised package name, and the files that could not
/// be read (named, with why).
#[derive(Default)]
pub struct DumpIndex {
    pub by_package: HashMap<String, Vec<Arc<Vuln>>>,
    pub problems: Vec<String>,
    pub records: usize,
}

fn json_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let kind = entry.file_type()?;
        if kind.is_file() && path.extension().is_some_and(|e| e == "json") {
            out.push(path);
        }
    }
    out.sort();
    Ok(out)
}

/// Read every record of `ecosystem` under `dir`.
pub fn load(dir: &Path, ecosystem: OsvEcosystem) -> Result<DumpIndex, AdvisoryError> {
    let unreadable = |e: std::io::Error| AdvisoryError::Dump {
        dir: dir.display().to_string(),
        detail: e.to_string(),
    };
    if !dir.is_dir() {
        return Err(AdvisoryError::Dump {
            dir: dir.display().to_string(),
            detail: "not a directory".into(),
        });
    }
    let mut files = json_files(dir).map_err(unreadable)?;
    let own = dir.join(ecosystem.as_str());
    if own.is_dir() {
        files.extend(json_files(&own).map_err(unreadable)?);
    }
    let mut index = DumpIndex::default();
    for path in files {
        let shown = path
            .strip_prefix(dir)
            .unwrap_or(&path)
            .display()
            .to_string();
        match std::fs::metadata(&path) {
            Ok(m) if m.len() > MAX_RECORD_BYTES => {
                index.problems.push(format!(
                    "{shown}: larger than {MAX_RECORD_BYTES} bytes, not read"
                ));
                continue;
            }
            Err(e) => {
                index.problems.push(format!("{shown}: {e}"));
                continue;
            }
            Ok(_) => {}
        }
        let vuln: Vuln = match std::fs::read(&path)
            .map_err(|e| e.to_string())
            .and_then(|bytes| serde_json::from_slice(&bytes).map_err(|e| e.to_string()))
        {
            Ok(v) => v,
            Err(e) => {
                index
                    .problems
                    .push(format!("{shown}: not an OSV record: {e}"));
                continue;
            }
        };
        if vuln.is_withdrawn() {
            continue;
        }
        let vuln = Arc::new(vuln);
        let mut names: Vec<String> = vuln
            .packages()
            .filter(|(e, _)| *e == ecosystem)
            .map(|(_, n)| n)
            .collect();
        names.sort();
        names.dedup();
        if names.is_empty() {
            continue;
        }
        index.records += 1;
        for name in names {
            index.by_package.entry(name).or_default().push(vuln.clone());
        }
    }
    Ok(index)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_ecosystem_folders_and_names_bad_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("PyPI")).unwrap();
        std::fs::create_dir_all(dir.path().join("npm")).unwrap();
        std::fs::write(
            dir.path().join("PyPI/PYSEC-1.json"),
            r#"{"id":"PYSEC-1","affected":[{"package":{"ecosystem":"PyPI","name":"Six"},"versions":["1.0"]}]}"#,
        )
        .unwrap();
        std::fs::write(
            dir.path().join("PyPI/W.json"),
            r#"{"id":"W","withdrawn":"2024-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"PyPI","name":"six"},"versions":["1.0"]}]}"#,
        )
        .unwrap();
        std::fs::write(dir.path().join("PyPI/broken.json"), "{").unwrap();
        std::fs::write(
            dir.path().join("npm/GHSA-1.json"),
            r#"{"id":"GHSA-1","affected":[{"package":{"ecosystem":"npm","name":"six"},"versions":["1.0.0"]}]}"#,
        )
        .unwrap();
        let index = load(dir.path(), OsvEcosystem::PyPI).unwrap();
        assert_eq!(index.records, 1);
        assert_eq!(index.by_package["six"][0].id, "PYSEC-1");
        assert_eq!(index.problems.len(), 1);
        assert!(index.problems[0].starts_with("PyPI/broken.json: not an OSV record"));
        let npm = load(dir.path(), OsvEcosystem::Npm).unwrap();
        assert_eq!(npm.by_package["six"][0].id, "GHSA-1");
        assert!(load(&dir.path().join("missing"), OsvEcosystem::Npm).is_err());
    }
}

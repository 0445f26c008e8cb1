//! `pnpm-lock.yaml` read for what it locks per importer (the workspace's projects): lockfile
//! versions 5.x (`specifiers` beside name → version), 6.0 and 9.0 (`{specifier, version}`),
//! with or without `importers`.

use super::yaml::{parse as parse_yaml, Node};
use std::collections::BTreeMap;

/// The dependency sections of an importer.
pub const SECTIONS: [&str; 3] = ["dependencies", "devDependencies", "optionalDependencies"];

/// One direct dependency of an importer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Direct {
    pub section: String,
    pub specifier: Option<String>,
    /// As written: `4.3.7`, `4.3.7(supports-color@8.1.1)`, `link:../lib`, `real@1.0.0`, …
    pub version: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PnpmLock {
    /// `lockfileVersion` as written (`9.0`, `6.0`, `5.4`).
    pub version: String,
    /// Importer (`.`, `packages/a`) → dependency name → what it locks.
    pub importers: BTreeMap<String, BTreeMap<String, Direct>>,
    /// The lock was made with a `.pnpmfile.cjs` (its checksum is recorded).
    pub pnpmfile: bool,
}

/// Read one importer (or the top level of a lock without `importers`).
fn importer(node: &Node) -> BTreeMap<String, Direct> {
    let mut out = BTreeMap::new();
    let specifiers = node.get("specifiers");
    for section in SECTIONS {
        for (name, value) in node.get(section).map(Node::entries).unwrap_or(&[]) {
            let Some(name) = name.as_str() else { continue };
            let (specifier, version) = match value {
                // 5.x: `name: version`, the specifier under `specifiers`.
                Node::Scalar(v) => (
                    specifiers
                        .and_then(|s| s.get(name))
                        .and_then(Node::as_str)
                        .map(str::to_string),
                    v.clone(),
                ),
                map @ Node::Map(_) => match map.get("version").and_then(Node::as_str) {
                    Some(v) => (
                        map.get("specifier")
                            .and_then(Node::as_str)
                            .map(str::to_string),
                        v.to_string(),
                    ),
                    None => continue,
                },
                _ => continue,
            };
            out.insert(
                name.to_string(),
                Direct {
                    section: section.to_string(),
                    specifier,
                    version,
                },
            );
        }
    }
    out
}

/// Read a `pnpm-lock.yaml`. `Err` says what is wrong.
pub fn parse(text: &str) -> Result<PnpmLock, String> {
    let doc = parse_yaml(text)?;
    if !matches!(doc, Node::Map(_)) {
        return Err("not a mapping".into());
    }
    let version = doc
        .get("lockfileVersion")
        .and_then(Node::as_str)
        .ok_or("no `lockfileVersion`")?
        .to_string();
    let mut importers = BTreeMap::new();
    match doc.get("importers") {
        Some(Node::Map(entries)) => {
            for (key, value) in entries {
                if let Some(key) = key.as_str() {
                    importers.insert(key.to_string(), importer(value));
                }
            }
        }
        Some(_) => return Err("`importers` is not a mapping".into()),
        None => {
            importers.insert(".".to_string(), importer(&doc));
        }
    }
    Ok(PnpmLock {
        version,
        importers,
        pnpmfile: doc.get("pnpmfileChecksum").is_some(),
    })
}

/// The registry version a locked `version` text names for `package` (the real package of an
/// alias), or `None` when it is a link, a path, another package or not a version.
pub fn registry_version(raw: &str, package: &str) -> Option<String> {
    // Peer suffixes: `(peer@1.0.0)` since 6.0, `_peer@1.0.0` in 5.x.
    let plain = raw.split('(').next().unwrap_or(raw);
    if plain.contains(':') {
        return None; // link:, file:, workspace:, https://…
    }
    let version = if plain.starts_with(|c: char| c.is_ascii_digit()) {
        plain
    } else if let Some(rest) = plain.trim_start_matches('/').strip_prefix(package) {
        // An alias's target: `real@1.0.0` (9.0), `/real@1.0.0` (6.0), `/real/1.0.0` (5.x).
        rest.strip_prefix('@').or_else(|| rest.strip_prefix('/'))?
    } else {
        return None; // another package
    };
    let version = version.split('_').next().unwrap_or(version);
    nodejs_semver::Version::parse(version)
        .ok()
        .map(|_| version.to_string())
}

impl PnpmLock {
    /// The version locked for `name` (real package `package`) in `importer`.
    pub fn version_of(&self, importer: &str, name: &str, package: &str) -> Option<String> {
        let direct = self.importers.get(importer)?.get(name)?;
        registry_version(&direct.version, package)
    }
}

/// The importer key of a manifest folder relative to the lock's folder (`.` for the same).
pub fn importer_key(relative_dir: &str) -> String {
    if relative_dir.is_empty() {
        ".".to_string()
    } else {
        relative_dir.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_nine_six_and_five() {
        let v9 = "lockfileVersion: '9.0'\n\nsettings:\n  autoInstallPeers: true\n\nimporters:\n\n  .:\n    dependencies:\n      debug:\n        specifier: ^4.3.4\n        version: 4.3.7(supports-color@7.2.0)\n      str:\n        specifier: npm:string-width@^4\n        version: string-width@4.2.3\n      lib:\n        specifier: workspace:*\n        version: link:packages/lib\n\n  packages/lib:\n    devDependencies:\n      ms:\n        specifier: ^2.1.0\n        version: 2.1.3\n";
        let lock = parse(v9).unwrap();
        assert_eq!(lock.version, "9.0");
        assert_eq!(
            lock.version_of(".", "debug", "debug").as_deref(),
            Some("4.3.7")
        );
        assert_eq!(
            lock.version_of(".", "str", "string-width").as_deref(),
            Some("4.2.3")
        );
        assert_eq!(lock.version_of(".", "lib", "lib"), None);
        assert_eq!(
            lock.version_of("packages/lib", "ms", "ms").as_deref(),
            Some("2.1.3")
        );
        assert_eq!(
            lock.importers["packages/lib"]["ms"].section,
            "devDependencies"
        );
        let v6 = "lockfileVersion: '6.0'\n\ndependencies:\n  debug:\n    specifier: ^4.3.4\n    version: 4.3.4\n  str:\n    specifier: npm:string-width@^4\n    version: /string-width@4.2.3\n";
        let lock = parse(v6).unwrap();
        assert_eq!(
            lock.version_of(".", "debug", "debug").as_deref(),
            Some("4.3.4")
        );
        assert_eq!(
            lock.version_of(".", "str", "string-width").as_deref(),
            Some("4.2.3")
        );
        let v5 = "lockfileVersion: 5.4\n\nspecifiers:\n  debug: ^4.3.4\n\ndependencies:\n  debug: 4.3.4_supports-color@7.2.0\n";
        let lock = parse(v5).unwrap();
        assert_eq!(lock.version, "5.4");
        assert_eq!(
            lock.importers["."]["debug"].specifier.as_deref(),
            Some("^4.3.4")
        );
        assert_eq!(
            lock.version_of(".", "debug", "debug").as_deref(),
            Some("4.3.4")
        );
    }

    #[test]
    fn bad_locks_are_errors() {
        assert!(parse("- a\n").is_err());
        assert!(parse("importers: 3\nlockfileVersion: '9.0'\n").is_err());
        assert!(parse("a: b\n").is_err());
        assert!(
            parse("lockfileVersion: '9.0'\npnpmfileChecksum: abc\n")
                .unwrap()
                .pnpmfile
        );
    }
}

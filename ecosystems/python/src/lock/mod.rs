//! Python lockfiles: `poetry.lock` (1.x and 2.x formats), `uv.lock`, `Pipfile.lock`, and
//! requirements files compiled by `pip-compile` / `uv pip compile`.
//!
//! Each has two engines behind one [`LockfileUpdater`]:
//!
//! * **native**: updatebot edits the lock itself, and only where the result is exactly what
//!   the tool would write: the updated package's new release (its wheel's core metadata)
//!   must depend on the same packages as the locked one, each admitting the version the
//!   lock holds, within a Python range covering the project's (see [`requires`]), so no
//!   other locked package moves. Version, files, hashes, description and the lock's
//!   content hash (poetry's `content-hash`, pipenv's `_meta.hash`) are rewritten as the tool
//!   writes them; every other byte stays.
//! * **tool**: the real tool in a scrubbed temporary directory (see
//!   [`updatebot_core::tool`]), told to move only this package, never to build sdists or the
//!   project unless the operator allows code execution.
//!
//! The operator picks per kind: `native`, `tool`, or `auto` (native when exact, else the
//! tool, else "needs <tool>").

mod exact;
pub mod graph;
pub mod locked;
pub mod metadata;
pub mod pip_compile;
pub mod pipfile_lock;
pub mod poetry_lock;
mod poetry_tool;
pub mod pyjson;
mod requires;
pub mod uv_lock;

use crate::requirement::normalize_name;
use std::future::Future;
use std::sync::Arc;
use updatebot_core::tool::{Engine, IndexAccess, ToolError, ToolSettings};
use updatebot_core::{LockError, LockOutput, LockRequest, LockfileUpdater, PlannedUpdate};

/// The lockfile updaters of the Python ecosystem, in the order they are tried.
pub fn updaters() -> Vec<Box<dyn LockfileUpdater>> {
    vec![
        Box::new(pip_compile::PipCompile::default()),
        Box::new(crate::hashes::RequirementHashes),
        Box::new(poetry_lock::PoetryLock::default()),
        Box::new(uv_lock::UvLock::default()),
        Box::new(pipfile_lock::PipfileLock::default()),
        Box::new(crate::locks::UnsupportedLocks),
    ]
}

/// What the native engine made of an update.
pub enum Native {
    /// The exact result: the lock's text and other files changed with it.
    Exact(String, Vec<(String, String)>),
    /// Why the native engine cannot be sure of the tool's result.
    Cannot(String),
}

pub(crate) fn failed(path: &str, reason: impl Into<String>) -> LockError {
    LockError::Failed {
        lockfile: path.to_string(),
        reason: reason.into(),
    }
}

pub(crate) fn sibling(manifest_path: &str, name: &str) -> String {
    match manifest_path.rsplit_once('/') {
        Some((dir, _)) => format!("{dir}/{name}"),
        None => name.to_string(),
    }
}

pub(crate) fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// Run the engines the operator chose for `kind`.
pub(crate) async fn run_engines<'a, N, T, NF, TF>(
    kind: &str,
    tool: &str,
    request: &LockRequest<'a>,
    native: N,
    run_tool: T,
) -> Result<LockOutput, LockError>
where
    N: FnOnce() -> NF,
    NF: Future<Output = Result<Native, LockError>>,
    T: FnOnce(ToolSettings) -> TF,
    TF: Future<Output = Result<(LockOutput, String), ToolFailure>>,
{
    let settings = request.lookup.tool_settings(kind);
    let reason = if settings.engine == Engine::Tool {
        "the engine for this lockfile is `tool`".to_string()
    } else {
        match native().await? {
            Native::Exact(content, other_files) => {
                return Ok(LockOutput {
                    content,
                    other_files,
                    engine: Some("native".into()),
                })
            }
            Native::Cannot(reason) => reason,
        }
    };
    if settings.engine == Engine::Native {
        return Err(LockError::NeedsTool {
            lockfile: request.lock_path.to_string(),
            tool: tool.to_string(),
            reason: format!("{reason}; the engine for {kind} is `native`"),
        });
    }
    match run_tool(settings).await {
        Ok((mut out, version)) => {
            out.engine = Some(format!("{tool} {version}").trim().to_string());
            Ok(out)
        }
        Err(ToolFailure::Unavailable(why)) => Err(LockError::NeedsTool {
            lockfile: request.lock_path.to_string(),
            tool: tool.to_string(),
            reason: format!("{reason}, and {why}"),
        }),
        Err(ToolFailure::Failed(why)) => Err(failed(request.lock_path, why)),
    }
}

/// Why the tool engine gave no lock.
pub enum ToolFailure {
    /// The tool is not there or not allowed: the update needs it.
    Unavailable(String),
    /// The tool ran and failed.
    Failed(String),
}

impl From<ToolError> for ToolFailure {
    fn from(e: ToolError) -> Self {
        match e {
            ToolError::Missing { .. } => ToolFailure::Unavailable(e.to_string()),
            other => ToolFailure::Failed(other.to_string()),
        }
    }
}

/// The indexes the tool is pointed at: those the run looks the updated packages up in.
pub(crate) fn indexes(request: &LockRequest<'_>) -> Vec<IndexAccess> {
    let mut out: Vec<IndexAccess> = Vec::new();
    for update in request.updates {
        for index in request.lookup.indexes(&update.dependency.package_name) {
            if !out.iter().any(|i| i.url == index.url) {
                out.push(index);
            }
        }
    }
    out
}

/// The (name, url) pairs of a pyproject.toml's `[[tool.<tool>.<table>]]` array: poetry's
/// `[[tool.poetry.source]]`, uv's `[[tool.uv.index]]`. Unreadable TOML has none.
pub(crate) fn named_indexes(pyproject: &str, tool: &str, table: &str) -> Vec<(String, String)> {
    let Ok(doc) = pyproject.parse::<toml_edit::DocumentMut>() else {
        return Vec::new();
    };
    doc.get("tool")
        .and_then(|t| t.get(tool))
        .and_then(|p| p.get(table))
        .and_then(|s| s.as_array_of_tables())
        .map(|entries| {
            entries
                .iter()
                .filter_map(|s| {
                    Some((
                        s.get("name")?.as_str()?.to_string(),
                        s.get("url")?.as_str()?.to_string(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Same index URL, trailing slash and case of scheme/host aside.
pub(crate) fn same_url(a: &str, b: &str) -> bool {
    let norm = |u: &str| u.trim_end_matches('/').to_ascii_lowercase();
    norm(a) == norm(b)
}

/// Metadata of the old and new release of an update; `Err(reason)` when they cannot be
/// read.
pub(crate) async fn release_metadata(
    cache: &metadata::MetadataCache,
    request: &LockRequest<'_>,
    update: &PlannedUpdate<'_>,
    old_version: &str,
) -> Result<(Arc<metadata::CoreMetadata>, Arc<metadata::CoreMetadata>), String> {
    let package = &update.dependency.package_name;
    let http = request
        .lookup
        .http()
        .ok_or_else(|| "no HTTP client to read release metadata".to_string())?;
    let old = update
        .releases
        .releases
        .iter()
        .find(|r| versions_equal(&r.version, old_version))
        .ok_or_else(|| format!("the index no longer lists {package} {old_version}"))?;
    let old_meta = cache.get(&http, package, old).await?;
    let new_meta = cache.get(&http, package, update.release).await?;
    Ok((old_meta, new_meta))
}

/// The new release's metadata when it declares the same dependencies and Python range as
/// the old one (what the flat locks, `Pipfile.lock` and compiled requirements, need: they
/// record no graph to check a change against); `Err(reason)` otherwise.
pub(crate) async fn same_requirements(
    cache: &metadata::MetadataCache,
    request: &LockRequest<'_>,
    update: &PlannedUpdate<'_>,
    old_version: &str,
) -> Result<Arc<metadata::CoreMetadata>, String> {
    let (old_meta, new_meta) = release_metadata(cache, request, update, old_version).await?;
    if !old_meta.same_requirements(&new_meta) {
        return Err(format!(
            "{} {} declares other dependencies or another Python range than {old_version}, so other locked packages may move",
            update.dependency.package_name, update.new_version
        ));
    }
    Ok(new_meta)
}

pub(crate) fn versions_equal(a: &str, b: &str) -> bool {
    use std::str::FromStr;
    match (
        pep440_rs::Version::from_str(a),
        pep440_rs::Version::from_str(b),
    ) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

/// Hex sha256 of `text`.
pub(crate) fn sha256_hex(text: &[u8]) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(text);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// A TOML basic string as tomlkit and uv write it.
pub(crate) fn toml_string(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\u{:04x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The version a tool locked `package` at, checked against the plan.
pub(crate) fn check_tool_versions(
    request: &LockRequest<'_>,
    locked: &dyn Fn(&str) -> Option<String>,
    tool: &str,
) -> Result<(), ToolFailure> {
    for update in request.updates {
        let name = normalize_name(&update.dependency.package_name);
        match locked(&name) {
            Some(v) if versions_equal(&v, update.new_version) => {}
            Some(v) => {
                return Err(ToolFailure::Failed(format!(
                    "{tool} locked {name} at {v}, not {}",
                    update.new_version
                )))
            }
            None => {
                return Err(ToolFailure::Failed(format!(
                    "{tool} left {name} out of the lock"
                )))
            }
        }
    }
    Ok(())
}

/// The tool's own version (`poetry --version`), best effort, for reports.
pub(crate) async fn tool_version(settings: &ToolSettings, default: &str) -> String {
    let run = updatebot_core::tool::ToolRun {
        program: program(settings, default),
        args: vec!["--version".into()],
        timeout: std::time::Duration::from_secs(30),
        ..Default::default()
    };
    match updatebot_core::tool::run(&run, &[]).await {
        Ok(out) => out
            .stdout
            .split_whitespace()
            .find(|w| w.chars().next().is_some_and(|c| c.is_ascii_digit()))
            .map(|w| w.trim_end_matches(')').to_string())
            .unwrap_or_default(),
        Err(_) => String::new(),
    }
}

pub(crate) fn program(settings: &ToolSettings, default: &str) -> std::path::PathBuf {
    settings
        .program
        .clone()
        .unwrap_or_else(|| std::path::PathBuf::from(default))
}

/// Line ranges of `[[package]]` blocks in a machine-written TOML lock: (start, end) byte
/// offsets, each block running to the next line that starts a table of the top level
/// (`[[package]]`, `[metadata]`, …) that is not one of its own sub-tables.
pub fn package_blocks(text: &str) -> Vec<(usize, usize)> {
    let mut starts: Vec<usize> = Vec::new();
    let mut ends: Vec<usize> = Vec::new();
    let mut offset = 0;
    let mut open = false;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_end();
        if trimmed == "[[package]]" {
            if open {
                ends.push(offset);
            }
            starts.push(offset);
            open = true;
        } else if open
            && trimmed.starts_with('[')
            && !trimmed.starts_with("[package.")
            && !trimmed.starts_with("[[package.")
        {
            ends.push(offset);
            open = false;
        }
        offset += line.len();
    }
    if open {
        ends.push(text.len());
    }
    starts.into_iter().zip(ends).collect()
}

/// The string value of `key = "…"` on its own line in `block` (top-level keys only: those
/// before the block's first sub-table).
pub(crate) fn block_value(block: &str, key: &str) -> Option<String> {
    for line in block.lines().skip(1) {
        if line.starts_with('[') {
            break;
        }
        if let Some(rest) = line.strip_prefix(key) {
            if let Some(value) = rest.trim_start().strip_prefix('=') {
                let value = value.trim();
                if let Ok(v) = value.parse::<toml_edit::Value>() {
                    return v.as_str().map(str::to_string);
                }
            }
        }
    }
    None
}

/// Replace the line `key = …` (top-level of the block) by `key = value_text`.
pub(crate) fn set_block_line(block: &str, key: &str, value_text: &str) -> Option<String> {
    let mut out = String::with_capacity(block.len());
    let mut done = false;
    let mut in_sub = false;
    for (i, line) in block.split_inclusive('\n').enumerate() {
        if i > 0 && line.starts_with('[') {
            in_sub = true;
        }
        let is_key = !in_sub
            && !done
            && line
                .strip_prefix(key)
                .is_some_and(|r| r.trim_start().starts_with('='));
        if is_key {
            let ending = if line.ends_with("\r\n") {
                "\r\n"
            } else if line.ends_with('\n') {
                "\n"
            } else {
                ""
            };
            out.push_str(&format!("{key} = {value_text}{ending}"));
            done = true;
        } else {
            out.push_str(line);
        }
    }
    done.then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_indexes_of_poetry_and_uv() {
        let text = "[[tool.poetry.source]]\nname = \"corp\"\nurl = \"https://pypi.corp/simple\"\n\n[[tool.uv.index]]\nname = \"mirror\"\nurl = \"https://mirror/simple\"\n[[tool.uv.index]]\nurl = \"https://nameless/simple\"\n";
        assert_eq!(
            named_indexes(text, "poetry", "source"),
            [("corp".to_string(), "https://pypi.corp/simple".to_string())]
        );
        assert_eq!(
            named_indexes(text, "uv", "index"),
            [("mirror".to_string(), "https://mirror/simple".to_string())]
        );
        assert!(named_indexes("not [toml", "uv", "index").is_empty());
    }

    #[test]
    fn blocks_run_to_the_next_top_level_table() {
        let text = "# x\n\n[[package]]\nname = \"a\"\nversion = \"1\"\n\n[package.extras]\nx = []\n\n[[package]]\nname = \"b\"\n\n[metadata]\nk = 1\n";
        let blocks = package_blocks(text);
        assert_eq!(blocks.len(), 2);
        let a = &text[blocks[0].0..blocks[0].1];
        assert!(a.contains("[package.extras]") && !a.contains("\"b\""));
        assert_eq!(block_value(a, "version").as_deref(), Some("1"));
        assert_eq!(block_value(a, "x"), None);
        let b = &text[blocks[1].0..blocks[1].1];
        assert!(!b.contains("metadata"));
        assert_eq!(
            set_block_line(a, "version", "\"2\"").unwrap(),
            a.replace("version = \"1\"", "version = \"2\"")
        );
    }
}

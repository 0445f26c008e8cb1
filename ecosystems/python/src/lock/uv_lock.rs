//! `uv.lock`: per package `version`, `source`, `dependencies`, `sdist` and `wheels` (url,
//! `sha256` hash, and `size` / `upload-time` when the index gives them, PEP 700), and for the
//! project itself `[package.metadata] requires-dist` / `requires-dev` with the specifiers of
//! `pyproject.toml`, which `uv lock --locked` compares.

use super::exact;
use super::metadata::MetadataCache;
use super::{
    block_value, failed, file_name, package_blocks, release_metadata, requires, run_engines,
    sibling, toml_string, versions_equal, Native, ToolFailure,
};
use crate::requirement::normalize_name;
use async_trait::async_trait;
use std::collections::BTreeMap;
use std::str::FromStr;
use updatebot_core::tool::{run, ToolRun, ToolSettings};
use updatebot_core::{LockError, LockOutput, LockRequest, LockfileUpdater, PlannedUpdate};

pub const KIND: &str = "uv.lock";
pub const UPDATER: &str = "uv.lock";

#[derive(Default)]
pub struct UvLock {
    cache: MetadataCache,
}

/// Locked versions of registry packages by normalised name (forked names left out).
pub fn locked_versions(text: &str) -> Result<BTreeMap<String, String>, String> {
    let doc: toml_edit::DocumentMut = text.parse().map_err(|e| format!("{e}"))?;
    let mut out = BTreeMap::new();
    let mut twice = Vec::new();
    if let Some(packages) = doc.get("package").and_then(|p| p.as_array_of_tables()) {
        for package in packages.iter() {
            let Some(name) = package.get("name").and_then(|v| v.as_str()) else {
                return Err("a [[package]] without a name".into());
            };
            // Workspace members and the project itself may have no version.
            let Some(version) = package.get("version").and_then(|v| v.as_str()) else {
                continue;
            };
            let name = normalize_name(name);
            if out.insert(name.clone(), version.to_string()).is_some() {
                twice.push(name);
            }
        }
    }
    for name in twice {
        out.remove(&name);
    }
    Ok(out)
}

/// A string `key = "…"` of the lock's top level (before its first table).
fn top_level_string(text: &str, key: &str) -> Option<String> {
    text.lines()
        .take_while(|l| !l.starts_with('['))
        .find_map(|l| l.strip_prefix(key)?.trim_start().strip_prefix('='))
        .and_then(|v| v.trim().parse::<toml_edit::Value>().ok())
        .and_then(|v| v.as_str().map(str::to_string))
}

/// A specifier set as uv writes it: each clause normalised, joined by `,`.
pub fn uv_specifier(text: &str) -> Option<String> {
    let specs = pep440_rs::VersionSpecifiers::from_str(text.trim()).ok()?;
    Some(
        specs
            .iter()
            .map(|s| s.to_string().replace(' ', ""))
            .collect::<Vec<_>>()
            .join(","),
    )
}

/// uv's `upload-time`: RFC 3339 UTC at millisecond precision, trailing zeros dropped.
pub fn upload_time(text: &str) -> Option<String> {
    let text = text.trim().trim_end_matches('Z').trim_end_matches("+00:00");
    let (main, fraction) = match text.split_once('.') {
        Some((m, f)) => (m, f),
        None => (text, ""),
    };
    if main.len() != 19 {
        return None;
    }
    let mut ms: String = fraction.chars().take(3).collect();
    while ms.ends_with('0') {
        ms.pop();
    }
    Some(if ms.is_empty() {
        format!("{main}Z")
    } else {
        format!("{main}.{ms}Z")
    })
}

/// One file as uv writes it inline.
fn file_entry(
    update: &PlannedUpdate<'_>,
    file: &updatebot_core::ReleaseFile,
    with_size: bool,
    with_time: bool,
) -> Result<String, String> {
    let hash = file
        .hashes
        .get("sha256")
        .ok_or_else(|| format!("the index gives no sha256 hash for `{}`", file.filename))?;
    let mut out = format!(
        "{{ url = {}, hash = {}",
        toml_string(&file.url),
        toml_string(&format!("sha256:{hash}"))
    );
    let extra = crate::index::file_details(update.release, &file.filename);
    if with_size {
        let size = extra
            .size
            .ok_or_else(|| format!("the index gives no size for `{}`", file.filename))?;
        out.push_str(&format!(", size = {size}"));
    }
    if with_time {
        let time = extra
            .upload_time
            .as_deref()
            .and_then(upload_time)
            .ok_or_else(|| format!("the index gives no upload time for `{}`", file.filename))?;
        out.push_str(&format!(", upload-time = {}", toml_string(&time)));
    }
    out.push_str(" }");
    Ok(out)
}

/// File names in a block's `sdist = …` line and `wheels = [ … ]` lines.
fn block_files(block: &str) -> (Option<String>, Vec<String>) {
    let name_of = |line: &str| -> Option<String> {
        let at = line.find("url = \"")? + 7;
        let rest = &line[at..];
        let url = &rest[..rest.find('"')?];
        Some(
            url.rsplit('/')
                .next()?
                .split(['#', '?'])
                .next()?
                .to_string(),
        )
    };
    let mut sdist = None;
    let mut wheels = Vec::new();
    let mut in_wheels = false;
    for line in block.lines() {
        if line.starts_with("sdist = ") {
            sdist = name_of(line);
        } else if line.starts_with("wheels = [") {
            in_wheels = true;
        } else if in_wheels {
            if line.trim() == "]" {
                in_wheels = false;
            } else if let Some(n) = name_of(line) {
                wheels.push(n);
            }
        }
    }
    (sdist, wheels)
}

fn is_wheel(name: &str) -> bool {
    name.ends_with(".whl")
}

impl UvLock {
    async fn native(&self, request: &LockRequest<'_>) -> Result<Native, LockError> {
        let path = request.lock_path;
        if let Err(e) = request.lock_content.parse::<toml_edit::DocumentMut>() {
            return Err(failed(path, format!("not valid TOML: {e}")));
        }
        let mut out = request.lock_content.to_string();
        for update in request.updates {
            let package = normalize_name(&update.dependency.package_name);
            // The project's own requirement first (`[package.metadata]`).
            if let Some(new_value) = update.new_value {
                match edit_requirement(&out, &package, &update.dependency.current_value, new_value)
                {
                    Ok(text) => out = text,
                    Err(reason) => return Ok(Native::Cannot(reason)),
                }
            }
            let blocks: Vec<(usize, usize)> = package_blocks(&out)
                .into_iter()
                .filter(|(s, e)| {
                    let b = &out[*s..*e];
                    block_value(b, "name").map(|n| normalize_name(&n)) == Some(package.clone())
                        && b.lines().any(|l| l.starts_with("source = { registry = "))
                })
                .collect();
            let (start, end) = match blocks.as_slice() {
                [one] => *one,
                [] => {
                    return Ok(Native::Cannot(format!(
                        "{package} is not locked from a registry"
                    )))
                }
                _ => {
                    return Ok(Native::Cannot(format!(
                        "{package} is locked more than once (forked resolution)"
                    )))
                }
            };
            let block = out[start..end].to_string();
            let Some(old_version) = block_value(&block, "version") else {
                return Err(failed(path, format!("{package} has no version")));
            };
            if versions_equal(&old_version, update.new_version) {
                continue;
            }
            let registry = block
                .lines()
                .find_map(|l| l.strip_prefix("source = { registry = "))
                .and_then(|r| r.trim_end().strip_suffix(" }"))
                .and_then(|r| r.parse::<toml_edit::Value>().ok())
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            let indexes = request.lookup.indexes(&package);
            if !indexes.iter().any(|i| super::same_url(&i.url, &registry)) {
                return Ok(Native::Cannot(format!(
                    "{package} is locked from {registry}, not from the index it was looked up in"
                )));
            }
            let (old_meta, new_meta) =
                match release_metadata(&self.cache, request, update, &old_version).await {
                    Ok(m) => m,
                    Err(reason) => return Ok(Native::Cannot(reason)),
                };
            // uv.lock records a registry package's dependencies by name and marker only, and
            // its extras' (`[package.optional-dependencies]`) only when someone asks for them.
            let locked = locked_versions(&out).map_err(|e| failed(path, e))?;
            let python = top_level_string(&out, "requires-python");
            let others = format!("{}{}", &out[..start], &out[end..]);
            let view = requires::LockView {
                package: &package,
                new_version: update.new_version,
                locked: &locked,
                python: python.as_deref().map(|p| {
                    (
                        &crate::pep440::Pep440 as &dyn updatebot_core::VersionScheme,
                        p,
                    )
                }),
                extras_requested: block.contains("[package.optional-dependencies]")
                    || requires::asks_for_extras(&others, &package)
                    || requires::asks_for_extras(request.manifest_after, &package),
            };
            if let Err(reason) = requires::fits(&old_meta, &new_meta, &view) {
                return Ok(Native::Cannot(reason));
            }
            if let Err(reason) = exact::dependents_admit(
                &self.cache,
                request,
                exact::Lock::Uv,
                &out,
                &package,
                update.new_version,
            )
            .await
            {
                return Ok(Native::Cannot(reason));
            }
            // Which files uv kept for the old release tells which it keeps for the new one:
            // all of them, in file-name order (else it pruned by Python or platform).
            let (old_sdist, old_wheels) = block_files(&block);
            let Some(old_release) = update
                .releases
                .releases
                .iter()
                .find(|r| versions_equal(&r.version, &old_version))
            else {
                return Ok(Native::Cannot(format!(
                    "the index no longer lists {package} {old_version}"
                )));
            };
            let mut release_wheels: Vec<String> = old_release
                .files
                .iter()
                .filter(|f| is_wheel(&f.filename))
                .map(|f| f.filename.clone())
                .collect();
            release_wheels.sort();
            let release_sdists: Vec<&str> = old_release
                .files
                .iter()
                .filter(|f| !is_wheel(&f.filename))
                .map(|f| f.filename.as_str())
                .collect();
            let sdist_kept = match (&old_sdist, release_sdists.as_slice()) {
                (Some(s), [one]) => s == one,
                (None, []) => true,
                _ => false,
            };
            if old_wheels != release_wheels || !sdist_kept {
                return Ok(Native::Cannot(format!(
                    "uv locked a selection of {package} {old_version}'s files, which updatebot does not reproduce"
                )));
            }
            let with_size = block.contains(", size = ");
            let with_time = block.contains(", upload-time = ");
            let mut new_files: Vec<&updatebot_core::ReleaseFile> =
                update.release.files.iter().collect();
            new_files.sort_by(|a, b| a.filename.cmp(&b.filename));
            let sdists: Vec<_> = new_files
                .iter()
                .filter(|f| !is_wheel(&f.filename))
                .collect();
            if sdists.len() > 1 {
                return Ok(Native::Cannot(format!(
                    "{package} {} has several sdists",
                    update.new_version
                )));
            }
            let mut sdist_line = None;
            if let Some(s) = sdists.first() {
                match file_entry(update, s, with_size, with_time) {
                    Ok(e) => sdist_line = Some(format!("sdist = {e}\n")),
                    Err(reason) => return Ok(Native::Cannot(reason)),
                }
            }
            let mut wheel_lines = String::new();
            for w in new_files.iter().filter(|f| is_wheel(&f.filename)) {
                match file_entry(update, w, with_size, with_time) {
                    Ok(e) => wheel_lines.push_str(&format!("    {e},\n")),
                    Err(reason) => return Ok(Native::Cannot(reason)),
                }
            }
            // Rebuild the block: lines up to `sdist`/`wheels` kept, files replaced, the rest kept.
            let mut new_block = String::new();
            let mut in_wheels = false;
            let mut files_written = false;
            let write_files = |into: &mut String| {
                if let Some(s) = &sdist_line {
                    into.push_str(s);
                }
                if !wheel_lines.is_empty() {
                    into.push_str("wheels = [\n");
                    into.push_str(&wheel_lines);
                    into.push_str("]\n");
                }
            };
            for line in block.split_inclusive('\n') {
                if in_wheels {
                    if line.trim_end() == "]" {
                        in_wheels = false;
                    }
                    continue;
                }
                if line.starts_with("version = ") {
                    new_block.push_str(&format!("version = {}\n", toml_string(update.new_version)));
                } else if line.starts_with("sdist = ") || line.starts_with("wheels = [") {
                    if line.starts_with("wheels = [") && !line.trim_end().ends_with(']') {
                        in_wheels = true;
                    }
                    if !files_written {
                        write_files(&mut new_block);
                        files_written = true;
                    }
                } else {
                    if !files_written && (line.starts_with('[') && !line.starts_with("[[package]]"))
                    {
                        write_files(&mut new_block);
                        files_written = true;
                    }
                    new_block.push_str(line);
                }
            }
            if !files_written {
                // The block ends with a blank line before the next package.
                let trimmed = new_block.trim_end_matches('\n').len();
                let tail = new_block[trimmed..].to_string();
                new_block.truncate(trimmed);
                new_block.push('\n');
                write_files(&mut new_block);
                new_block.push_str(&tail[1.min(tail.len())..]);
            }
            out = format!("{}{}{}", &out[..start], new_block, &out[end..]);
        }
        if let Err(e) = out.parse::<toml_edit::DocumentMut>() {
            return Err(failed(path, format!("the edit gave invalid TOML: {e}")));
        }
        Ok(Native::Exact(out, Vec::new()))
    }

    async fn tool(
        &self,
        request: &LockRequest<'_>,
        settings: ToolSettings,
    ) -> Result<(LockOutput, String), ToolFailure> {
        let program = super::program(&settings, "uv");
        let mut args: Vec<String> = vec!["lock".into(), "--no-progress".into()];
        if !settings.allow_code_execution {
            // Never build an sdist (or the project) to learn metadata: that runs its code.
            args.push("--no-build".into());
        }
        for update in request.updates {
            args.push("--upgrade-package".into());
            args.push(format!(
                "{}=={}",
                update.dependency.package_name, update.new_version
            ));
        }
        // Not UV_NO_CONFIG: that would drop the project's own `[tool.uv]` (its named
        // indexes, constraints and overrides shape the lock). The user's uv.toml is out of
        // reach (the run's HOME and XDG_CONFIG_HOME are temporary), and so are XDG system
        // directories; settings given here as variables win over the project's.
        let mut env = vec![
            ("XDG_CONFIG_DIRS".to_string(), "/nonexistent".to_string()),
            ("UV_PYTHON_DOWNLOADS".into(), "never".into()),
            ("UV_NO_PROGRESS".into(), "1".into()),
            ("UV_KEYRING_PROVIDER".into(), "disabled".into()),
        ];
        let mut secrets = Vec::new();
        let indexes = super::indexes(request);
        let named = super::named_indexes(request.manifest_after, "uv", "index");
        for (name, url) in &named {
            if let Some(index) = indexes.iter().find(|i| super::same_url(&i.url, url)) {
                if let Some(auth) = &index.auth {
                    let var = name.to_ascii_uppercase().replace(['-', '.', ' '], "_");
                    let (user, password) = match auth {
                        updatebot_core::http::Auth::Basic { username, password } => {
                            (username.clone(), password.clone())
                        }
                        updatebot_core::http::Auth::Bearer(t) => ("__token__".into(), t.clone()),
                    };
                    env.push((format!("UV_INDEX_{var}_USERNAME"), user));
                    env.push((
                        format!("UV_INDEX_{var}_PASSWORD"),
                        password.expose().to_string(),
                    ));
                    secrets.push(password);
                }
            }
        }
        // Without an index of its own the project uses uv's default, which the configured
        // index replaces (what the run looked the packages up in).
        if named.is_empty() {
            if let Some(index) = indexes.first() {
                if !super::same_url(&index.url, updatebot_core::defaults::PYPI_SIMPLE_URL) {
                    env.push(("UV_DEFAULT_INDEX".into(), index.url_with_credentials()));
                    secrets.extend(index.secrets());
                }
            }
        }
        let mut files = BTreeMap::new();
        files.insert(
            "pyproject.toml".to_string(),
            request.manifest_after.to_string(),
        );
        files.insert("uv.lock".to_string(), request.lock_content.to_string());
        let job = ToolRun {
            program,
            args,
            env,
            secrets,
            files,
            home_files: BTreeMap::new(),
            workdir: String::new(),
            timeout: settings.timeout,
        };
        let output = run(&job, &["uv.lock"]).await?;
        let lock = output
            .files
            .get("uv.lock")
            .cloned()
            .flatten()
            .ok_or_else(|| ToolFailure::Failed("uv wrote no uv.lock".into()))?;
        let versions = locked_versions(&lock).map_err(ToolFailure::Failed)?;
        super::check_tool_versions(request, &|n| versions.get(n).cloned(), "uv")?;
        let version = super::tool_version(&settings, "uv").await;
        Ok((
            LockOutput {
                content: lock,
                ..LockOutput::default()
            },
            version,
        ))
    }
}

/// Replace the specifier of `package` in the project's `requires-dist` / `requires-dev`.
fn edit_requirement(
    text: &str,
    package: &str,
    old_value: &str,
    new_value: &str,
) -> Result<String, String> {
    let (Some(old), Some(new)) = (uv_specifier(old_value), uv_specifier(new_value)) else {
        return Err(format!(
            "`{new_value}` is not a specifier uv writes as updatebot does"
        ));
    };
    let needle = format!("{{ name = {}", toml_string(package));
    let mut hits = Vec::new();
    for (at, _) in text.match_indices(&needle) {
        let Some(close) = text[at..].find('}') else {
            continue;
        };
        let table = &text[at..at + close];
        let spec = format!("specifier = {}", toml_string(&old));
        if let Some(pos) = table.find(&spec) {
            hits.push((at + pos, spec.len()));
        }
    }
    match hits.as_slice() {
        [(at, len)] => Ok(format!(
            "{}specifier = {}{}",
            &text[..*at],
            toml_string(&new),
            &text[at + len..]
        )),
        [] => Err(format!(
            "the lock does not record {package} `{old}` as the project's requirement: it was already out of date"
        )),
        _ => Err(format!("the project requires {package} `{old}` more than once")),
    }
}

#[async_trait]
impl LockfileUpdater for UvLock {
    fn name(&self) -> &'static str {
        UPDATER
    }

    fn lockfile_for(
        &self,
        manifest_path: &str,
        _manifest: &str,
        repo_files: &[String],
    ) -> Option<String> {
        let lock = sibling(manifest_path, "uv.lock");
        (file_name(manifest_path) == "pyproject.toml" && repo_files.contains(&lock)).then_some(lock)
    }

    fn locked_packages(
        &self,
        lock_path: &str,
        lock: &str,
    ) -> Option<Result<Vec<updatebot_core::LockedPackage>, LockError>> {
        Some(super::graph::uv_packages(lock_path, lock))
    }

    async fn dependents(
        &self,
        lock_path: &str,
        lock: &str,
        package: &str,
        _version: &str,
        _lookup: &dyn updatebot_core::Lookup,
    ) -> Result<Option<Vec<updatebot_core::Dependent>>, LockError> {
        super::graph::uv_dependents(lock_path, lock, package).map(Some)
    }

    async fn requirement(
        &self,
        parent: &str,
        release: &updatebot_core::Release,
        package: &str,
        lookup: &dyn updatebot_core::Lookup,
    ) -> updatebot_core::Requirement {
        super::graph::requirement(&self.cache, parent, release, package, lookup).await
    }

    async fn update(&self, request: LockRequest<'_>) -> Result<String, LockError> {
        self.update_files(request).await.map(|o| o.content)
    }

    async fn update_files(&self, request: LockRequest<'_>) -> Result<LockOutput, LockError> {
        run_engines(
            KIND,
            "uv",
            &request,
            || self.native(&request),
            |settings| self.tool(&request, settings),
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specifiers_and_times_as_uv_writes_them() {
        assert_eq!(uv_specifier(">=2.28, <3").as_deref(), Some(">=2.28,<3"));
        assert_eq!(uv_specifier("==1.16.0").as_deref(), Some("==1.16.0"));
        assert_eq!(
            upload_time("2024-07-26T18:15:02.050123Z").as_deref(),
            Some("2024-07-26T18:15:02.05Z")
        );
        assert_eq!(
            upload_time("2024-07-26T18:15:02Z").as_deref(),
            Some("2024-07-26T18:15:02Z")
        );
    }
}

//! `poetry.lock`, in Poetry 1.x (`lock-version` 1.1: files under `[metadata.files]`; 2.0:
//! files per package, `category`) and 2.x (`lock-version` 2.1: `groups`) formats.
//!
//! The `content-hash` is poetry's `Locker._get_content_hash`: sha256 of
//! `json.dumps(relevant, sort_keys=True)` where `relevant` holds `[project]`'s
//! `requires-python`, `dependencies` and `optional-dependencies`, `[dependency-groups]`
//! (from Poetry 2.3 on) and `[tool.poetry]`'s `dependencies`, `source`, `extras`,
//! `dev-dependencies` and `group`; without `[project]` content, the `[tool.poetry]` part
//! alone, with absent legacy keys as `null`. Which Poetry wrote the lock decides whether
//! dependency groups count, so both forms are tried against the lock as it was.

use super::metadata::MetadataCache;
use super::pyjson::{self, Json};
use super::{
    block_value, failed, file_name, package_blocks, run_engines, same_requirements, set_block_line,
    sibling, toml_string, versions_equal, Native, ToolFailure,
};
use crate::requirement::normalize_name;
use async_trait::async_trait;
use std::collections::BTreeMap;
use updatebot_core::tool::{run, ToolRun, ToolSettings};
use updatebot_core::{LockError, LockOutput, LockRequest, LockfileUpdater};

pub const KIND: &str = "poetry.lock";
pub const UPDATER: &str = "poetry.lock";

#[derive(Default)]
pub struct PoetryLock {
    cache: MetadataCache,
}

const LEGACY_KEYS: [&str; 4] = ["dependencies", "source", "extras", "dev-dependencies"];
const RELEVANT_KEYS: [&str; 5] = [
    "dependencies",
    "source",
    "extras",
    "dev-dependencies",
    "group",
];
const PROJECT_KEYS: [&str; 3] = ["requires-python", "dependencies", "optional-dependencies"];

fn non_empty(json: &Json) -> bool {
    match json {
        Json::Object(p) => !p.is_empty(),
        Json::Array(a) => !a.is_empty(),
        Json::Null => false,
        Json::Str(s) => !s.is_empty(),
        Json::Int(i) => *i != 0,
        Json::Float(f) => *f != 0.0,
        Json::Bool(b) => *b,
    }
}

/// poetry's content hash of a `pyproject.toml`; `None` if it does not parse.
pub fn content_hash(pyproject: &str, with_dependency_groups: bool) -> Option<String> {
    let doc: toml_edit::DocumentMut = pyproject.parse().ok()?;
    let root = pyjson::from_table(doc.as_table())?;
    let empty = Json::Object(Vec::new());
    let project = root.get("project").unwrap_or(&empty);
    let groups = if with_dependency_groups {
        root.get("dependency-groups")
            .cloned()
            .unwrap_or(Json::Object(Vec::new()))
    } else {
        Json::Object(Vec::new())
    };
    let poetry = root
        .get("tool")
        .and_then(|t| t.get("poetry"))
        .unwrap_or(&empty);
    let relevant_project: Vec<(String, Json)> = PROJECT_KEYS
        .iter()
        .filter_map(|k| project.get(k).map(|v| (k.to_string(), v.clone())))
        .collect();
    let mut relevant_poetry = Vec::new();
    for key in RELEVANT_KEYS {
        let data = poetry.get(key);
        if data.is_none()
            && (!LEGACY_KEYS.contains(&key) || !relevant_project.is_empty() || non_empty(&groups))
        {
            continue;
        }
        relevant_poetry.push((key.to_string(), data.cloned().unwrap_or(Json::Null)));
    }
    let mut relevant = Vec::new();
    if !relevant_project.is_empty() {
        relevant.push(("project".to_string(), Json::Object(relevant_project)));
    }
    if non_empty(&groups) {
        relevant.push(("dependency-groups".to_string(), groups));
    }
    let value = if relevant.is_empty() {
        Json::Object(relevant_poetry)
    } else {
        relevant.push((
            "tool".to_string(),
            Json::Object(vec![("poetry".to_string(), Json::Object(relevant_poetry))]),
        ));
        Json::Object(relevant)
    };
    Some(super::sha256_hex(
        pyjson::dumps(&value, pyjson::DEFAULT).as_bytes(),
    ))
}

/// `content-hash` in `[metadata]`.
pub fn lock_hash(text: &str) -> Option<String> {
    let mut in_metadata = false;
    for line in text.lines() {
        if line.starts_with('[') {
            in_metadata = line.trim_end() == "[metadata]";
            continue;
        }
        if in_metadata {
            if let Some(rest) = line.strip_prefix("content-hash") {
                let value = rest.trim_start().strip_prefix('=')?.trim();
                return value
                    .parse::<toml_edit::Value>()
                    .ok()?
                    .as_str()
                    .map(str::to_string);
            }
        }
    }
    None
}

/// Locked versions by normalised name (names locked more than once are left out).
pub fn locked_versions(text: &str) -> Result<BTreeMap<String, String>, String> {
    let doc: toml_edit::DocumentMut = text.parse().map_err(|e| format!("{e}"))?;
    let mut out = BTreeMap::new();
    let mut twice = Vec::new();
    if let Some(packages) = doc.get("package").and_then(|p| p.as_array_of_tables()) {
        for package in packages.iter() {
            let (Some(name), Some(version)) = (
                package.get("name").and_then(|v| v.as_str()),
                package.get("version").and_then(|v| v.as_str()),
            ) else {
                return Err("a [[package]] without name or version".into());
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

/// The `files` lines of a package as poetry writes them (sorted by file name).
fn files_lines(update: &updatebot_core::PlannedUpdate<'_>, indent: &str) -> Result<String, String> {
    let mut files: Vec<(String, String)> = Vec::new();
    for file in &update.release.files {
        let hash = file
            .hashes
            .get("sha256")
            .ok_or_else(|| format!("the index gives no sha256 hash for `{}`", file.filename))?;
        files.push((file.filename.clone(), hash.clone()));
    }
    files.sort();
    Ok(files
        .iter()
        .map(|(f, h)| {
            format!(
                "{indent}{{file = {}, hash = {}}},\n",
                toml_string(f),
                toml_string(&format!("sha256:{h}"))
            )
        })
        .collect())
}

/// Replace the array opened by the line `opener` (up to its closing `]` line) in `text`
/// by `lines`.
fn replace_array(text: &str, opener: &dyn Fn(&str) -> bool, lines: &str) -> Option<String> {
    let mut offset = 0;
    let mut start = None;
    for line in text.split_inclusive('\n') {
        if start.is_none() && opener(line) {
            if line.trim_end().ends_with("[]") {
                return None;
            }
            start = Some(offset + line.len());
        } else if let Some(s) = start {
            if line.trim_end() == "]" {
                return Some(format!("{}{}{}", &text[..s], lines, &text[offset..]));
            }
        }
        offset += line.len();
    }
    None
}

impl PoetryLock {
    async fn native(&self, request: &LockRequest<'_>) -> Result<Native, LockError> {
        let path = request.lock_path;
        let text = request.lock_content;
        if let Err(e) = text.parse::<toml_edit::DocumentMut>() {
            return Err(failed(path, format!("not valid TOML: {e}")));
        }
        let Some(old_hash) = lock_hash(text) else {
            return Ok(Native::Cannot("the lock has no content-hash".into()));
        };
        let Some(with_groups) = [true, false]
            .into_iter()
            .find(|g| content_hash(request.manifest_before, *g).as_deref() == Some(&old_hash))
        else {
            return Ok(Native::Cannot(
                "the lock's content-hash does not match pyproject.toml as it was: the lock was already out of date".into(),
            ));
        };
        let new_hash = content_hash(request.manifest_after, with_groups)
            .ok_or_else(|| failed(path, "pyproject.toml does not parse after the edit"))?;
        let mut out = text.to_string();
        for update in request.updates {
            let package = normalize_name(&update.dependency.package_name);
            let blocks: Vec<(usize, usize)> = package_blocks(&out)
                .into_iter()
                .filter(|(s, e)| {
                    block_value(&out[*s..*e], "name").map(|n| normalize_name(&n))
                        == Some(package.clone())
                })
                .collect();
            let (start, end) = match blocks.as_slice() {
                [one] => *one,
                [] => return Ok(Native::Cannot(format!("{package} is not in the lock"))),
                _ => {
                    return Ok(Native::Cannot(format!(
                        "{package} is locked more than once (per-environment resolutions)"
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
            if block.contains("[package.source]") {
                let url = source_url(&block);
                let indexes = request.lookup.indexes(&package);
                let known = url
                    .as_deref()
                    .is_some_and(|u| indexes.iter().any(|i| super::same_url(&i.url, u)));
                if !known {
                    return Ok(Native::Cannot(format!(
                        "{package} is locked from {}, not from the index it was looked up in",
                        url.unwrap_or_else(|| "another source".into())
                    )));
                }
            }
            let meta = match same_requirements(&self.cache, request, update, &old_version).await {
                Ok(m) => m,
                Err(reason) => return Ok(Native::Cannot(reason)),
            };
            let mut new_block = set_block_line(&block, "version", &toml_string(update.new_version))
                .ok_or_else(|| failed(path, format!("{package}: no version line")))?;
            if block_value(&block, "description").is_some() {
                let summary = meta.summary.clone().unwrap_or_default();
                new_block = set_block_line(&new_block, "description", &toml_string(&summary))
                    .unwrap_or(new_block);
            }
            let lines = match files_lines(update, "    ") {
                Ok(l) => l,
                Err(reason) => return Ok(Native::Cannot(reason)),
            };
            if block.lines().any(|l| l.starts_with("files = [")) {
                new_block = replace_array(&new_block, &|l| l.starts_with("files = ["), &lines)
                    .ok_or_else(|| failed(path, format!("{package}: unreadable files list")))?;
                out = format!("{}{}{}", &out[..start], new_block, &out[end..]);
            } else {
                out = format!("{}{}{}", &out[..start], new_block, &out[end..]);
                // lock-version 1.1: `[metadata.files]`, keyed by the name as locked.
                let name = block_value(&block, "name").unwrap_or_default();
                let keys = [format!("{name} = ["), format!("{} = [", toml_string(&name))];
                let Some((meta_start, _)) = out.match_indices("\n[metadata.files]\n").next() else {
                    return Ok(Native::Cannot(format!("{package} has no files list")));
                };
                let tail = &out[meta_start..];
                let replaced = replace_array(
                    tail,
                    &|l| keys.iter().any(|k| l.starts_with(k.as_str())),
                    &lines,
                )
                .ok_or_else(|| failed(path, format!("{package}: not in [metadata.files]")))?;
                out = format!("{}{}", &out[..meta_start], replaced);
            }
        }
        out = out.replacen(
            &format!("content-hash = {}", toml_string(&old_hash)),
            &format!("content-hash = {}", toml_string(&new_hash)),
            1,
        );
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
        if !settings.allow_code_execution {
            // poetry has no switch that stops it building an sdist to learn its metadata;
            // the updated release at least must not need that.
            for update in request.updates {
                if !update
                    .release
                    .files
                    .iter()
                    .any(|f| f.filename.ends_with(".whl"))
                {
                    return Err(ToolFailure::Unavailable(format!(
                        "{} {} has no wheel and poetry would build it; set insecure-external-code-execution: allow for poetry.lock to let it",
                        update.dependency.name, update.new_version
                    )));
                }
            }
        }
        let program = super::program(&settings, "poetry");
        let mut args: Vec<String> = vec![
            "update".into(),
            "--lock".into(),
            "--no-interaction".into(),
            "--no-plugins".into(),
            "--no-ansi".into(),
        ];
        args.extend(
            request
                .updates
                .iter()
                .map(|u| u.dependency.package_name.clone()),
        );
        let mut env = vec![
            ("POETRY_NO_INTERACTION".to_string(), "1".to_string()),
            ("POETRY_KEYRING_ENABLED".into(), "false".into()),
            (
                "PYTHON_KEYRING_BACKEND".into(),
                "keyring.backends.null.Keyring".into(),
            ),
            ("POETRY_VIRTUALENVS_CREATE".into(), "false".into()),
        ];
        let mut secrets = Vec::new();
        // Credentials for the project's own sources, matched by URL to configured indexes.
        let indexes = super::indexes(request);
        for (name, url) in super::named_indexes(request.manifest_after, "poetry", "source") {
            if let Some(index) = indexes.iter().find(|i| super::same_url(&i.url, &url)) {
                if let Some(auth) = &index.auth {
                    let var = name.to_ascii_uppercase().replace(['-', '.', ' '], "_");
                    let (user, password) = match auth {
                        updatebot_core::http::Auth::Basic { username, password } => {
                            (username.clone(), password.clone())
                        }
                        updatebot_core::http::Auth::Bearer(t) => ("__token__".into(), t.clone()),
                    };
                    env.push((format!("POETRY_HTTP_BASIC_{var}_USERNAME"), user));
                    env.push((
                        format!("POETRY_HTTP_BASIC_{var}_PASSWORD"),
                        password.expose().to_string(),
                    ));
                    secrets.push(password);
                }
            }
        }
        let dir = request
            .lock_path
            .rsplit_once('/')
            .map(|(d, _)| d)
            .unwrap_or("");
        let mut files = BTreeMap::new();
        files.insert(
            "pyproject.toml".to_string(),
            request.manifest_after.to_string(),
        );
        files.insert("poetry.lock".to_string(), request.lock_content.to_string());
        let settings_file = if dir.is_empty() {
            "poetry.toml".to_string()
        } else {
            format!("{dir}/poetry.toml")
        };
        if let Some(t) = request.lookup.read_file(&settings_file) {
            files.insert("poetry.toml".to_string(), t);
        }
        let job = ToolRun {
            program: program.clone(),
            args,
            env,
            secrets,
            files,
            home_files: BTreeMap::new(),
            workdir: String::new(),
            timeout: settings.timeout,
        };
        let output = run(&job, &["poetry.lock"]).await?;
        let lock = output
            .files
            .get("poetry.lock")
            .cloned()
            .flatten()
            .ok_or_else(|| ToolFailure::Failed("poetry wrote no poetry.lock".into()))?;
        let versions = locked_versions(&lock).map_err(ToolFailure::Failed)?;
        super::check_tool_versions(request, &|n| versions.get(n).cloned(), "poetry")?;
        let version = super::tool_version(&settings, "poetry").await;
        Ok((
            LockOutput {
                content: lock,
                ..LockOutput::default()
            },
            version,
        ))
    }
}

fn source_url(block: &str) -> Option<String> {
    let at = block.find("[package.source]")?;
    block_value(
        &format!("x\n{}", &block[at + "[package.source]".len()..]),
        "url",
    )
}

#[async_trait]
impl LockfileUpdater for PoetryLock {
    fn name(&self) -> &'static str {
        UPDATER
    }

    fn lockfile_for(
        &self,
        manifest_path: &str,
        _manifest: &str,
        repo_files: &[String],
    ) -> Option<String> {
        let lock = sibling(manifest_path, "poetry.lock");
        (file_name(manifest_path) == "pyproject.toml" && repo_files.contains(&lock)).then_some(lock)
    }

    fn locked_packages(
        &self,
        lock_path: &str,
        lock: &str,
    ) -> Option<Result<Vec<updatebot_core::LockedPackage>, LockError>> {
        Some(super::graph::poetry_packages(lock_path, lock))
    }

    async fn dependents(
        &self,
        lock_path: &str,
        lock: &str,
        package: &str,
        _version: &str,
        _lookup: &dyn updatebot_core::Lookup,
    ) -> Result<Option<Vec<updatebot_core::Dependent>>, LockError> {
        super::graph::poetry_dependents(lock_path, lock, package).map(Some)
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
            "poetry",
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
    fn content_hash_of_a_poetry_project() {
        // Written by poetry 2.5.1 for this pyproject.toml (see fixtures/python/lock_*).
        let pyproject = "[tool.poetry]\nname = \"demo\"\nversion = \"0.1.0\"\n\n[tool.poetry.dependencies]\npython = \"^3.9\"\nsix = \"1.16.0\"\n";
        let hash = content_hash(pyproject, true).unwrap();
        assert_eq!(hash.len(), 64);
        assert_eq!(content_hash(pyproject, false).unwrap(), hash);
    }
}

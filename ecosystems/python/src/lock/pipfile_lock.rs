//! `Pipfile.lock`: JSON as pipenv writes it (`json.dumps(indent=4, sort_keys=True)` and a
//! newline); per package `hashes` (sorted), `index`, `markers` (from the release's
//! `requires-python`), `version` (`==x`); `_meta.hash.sha256` is the sha256 of the
//! Pipfile's data as JSON (`sort_keys`, compact separators: plette's `get_hash`, with the
//! package names canonicalised since pipenv 2026). Which of the two forms the lock used is
//! read from the lock as it was.

use super::metadata::MetadataCache;
use super::pyjson::{self, Json};
use super::{
    failed, file_name, run_engines, same_requirements, sibling, versions_equal, Native, ToolFailure,
};
use crate::requirement::normalize_name;
use async_trait::async_trait;
use serde_json::Value;
use std::collections::BTreeMap;
use updatebot_core::tool::{run, ToolRun, ToolSettings};
use updatebot_core::{LockError, LockOutput, LockRequest, LockfileUpdater};

pub const KIND: &str = "Pipfile.lock";
pub const UPDATER: &str = "Pipfile.lock";

#[derive(Default)]
pub struct PipfileLock {
    cache: MetadataCache,
}

const SECTIONS: [&str; 7] = [
    "source",
    "packages",
    "dev-packages",
    "requires",
    "scripts",
    "pipfile",
    "pipenv",
];

fn canonical(section: &Json, canonicalise: bool) -> Json {
    match section {
        Json::Object(pairs) if canonicalise => Json::Object(
            pairs
                .iter()
                .map(|(k, v)| (normalize_name(k), v.clone()))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// pipenv's hash of a Pipfile; `None` if it does not parse.
pub fn pipfile_hash(pipfile: &str, canonicalise: bool) -> Option<String> {
    let doc: toml_edit::DocumentMut = pipfile.parse().ok()?;
    let root = pyjson::from_table(doc.as_table())?;
    let empty = Json::Object(Vec::new());
    let sources = match root.get("source") {
        Some(s) => s.clone(),
        None => Json::Array(vec![Json::Object(vec![
            ("name".into(), Json::Str("pypi".into())),
            ("url".into(), Json::Str("https://pypi.org/simple".into())),
            ("verify_ssl".into(), Json::Bool(true)),
        ])]),
    };
    let mut data = vec![
        (
            "_meta".to_string(),
            Json::Object(vec![
                ("sources".into(), sources),
                (
                    "requires".into(),
                    root.get("requires").cloned().unwrap_or(empty.clone()),
                ),
            ]),
        ),
        (
            "default".to_string(),
            canonical(root.get("packages").unwrap_or(&empty), canonicalise),
        ),
        (
            "develop".to_string(),
            canonical(root.get("dev-packages").unwrap_or(&empty), canonicalise),
        ),
    ];
    if let Json::Object(pairs) = &root {
        for (category, values) in pairs {
            if SECTIONS.contains(&category.as_str())
                || matches!(category.as_str(), "default" | "develop" | "pipenv")
            {
                continue;
            }
            data.push((category.clone(), canonical(values, canonicalise)));
        }
    }
    Some(super::sha256_hex(
        pyjson::dumps(&Json::Object(data), pyjson::COMPACT).as_bytes(),
    ))
}

/// JSON as Python's `json.dumps(indent=4, sort_keys=True)` writes it (ASCII only).
pub fn dump(value: &Value) -> String {
    let mut out = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, formatter);
    serde::Serialize::serialize(value, &mut ser).ok();
    let mut text = String::from_utf8(out).unwrap_or_default();
    text.push('\n');
    text
}

/// Locked versions (`default` and `develop`) by normalised name.
pub fn locked_versions(text: &str) -> Result<BTreeMap<String, String>, String> {
    let doc: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let mut out = BTreeMap::new();
    for section in ["default", "develop"] {
        if let Some(packages) = doc.get(section).and_then(Value::as_object) {
            for (name, entry) in packages {
                if let Some(v) = entry
                    .get("version")
                    .and_then(Value::as_str)
                    .and_then(|v| v.strip_prefix("=="))
                {
                    out.insert(normalize_name(name), v.to_string());
                }
            }
        }
    }
    Ok(out)
}

impl PipfileLock {
    async fn native(&self, request: &LockRequest<'_>) -> Result<Native, LockError> {
        let path = request.lock_path;
        let mut doc: Value = serde_json::from_str(request.lock_content)
            .map_err(|e| failed(path, format!("not valid JSON: {e}")))?;
        if dump(&doc) != request.lock_content {
            return Ok(Native::Cannot(
                "the lock is not laid out as pipenv writes it".into(),
            ));
        }
        let old_hash = doc
            .pointer("/_meta/hash/sha256")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let Some(canonicalise) = [true, false]
            .into_iter()
            .find(|c| pipfile_hash(request.manifest_before, *c).as_deref() == Some(&old_hash))
        else {
            return Ok(Native::Cannot(
                "the lock's _meta hash does not match the Pipfile as it was: the lock was already out of date".into(),
            ));
        };
        let new_hash = pipfile_hash(request.manifest_after, canonicalise)
            .ok_or_else(|| failed(path, "the Pipfile does not parse after the edit"))?;
        for update in request.updates {
            let package = normalize_name(&update.dependency.package_name);
            let mut found = false;
            for section in ["default", "develop"] {
                let Some(entry) = doc
                    .get(section)
                    .and_then(Value::as_object)
                    .and_then(|p| p.iter().find(|(k, _)| normalize_name(k) == package))
                    .map(|(k, _)| k.clone())
                else {
                    continue;
                };
                let old_version = doc[section][&entry]
                    .get("version")
                    .and_then(Value::as_str)
                    .and_then(|v| v.strip_prefix("=="))
                    .map(str::to_string);
                let Some(old_version) = old_version else {
                    return Ok(Native::Cannot(format!(
                        "{package} is not pinned with == in the lock"
                    )));
                };
                found = true;
                if versions_equal(&old_version, update.new_version) {
                    continue;
                }
                if let Err(reason) =
                    same_requirements(&self.cache, request, update, &old_version).await
                {
                    return Ok(Native::Cannot(reason));
                }
                let mut hashes = Vec::new();
                for file in &update.release.files {
                    match file.hashes.get("sha256") {
                        Some(h) => hashes.push(format!("sha256:{h}")),
                        None => {
                            return Ok(Native::Cannot(format!(
                                "the index gives no sha256 hash for `{}`",
                                file.filename
                            )))
                        }
                    }
                }
                hashes.sort();
                hashes.dedup();
                doc[section][&entry]["hashes"] =
                    Value::Array(hashes.into_iter().map(Value::String).collect());
                doc[section][&entry]["version"] =
                    Value::String(format!("=={}", update.new_version));
            }
            if !found {
                return Ok(Native::Cannot(format!("{package} is not in the lock")));
            }
        }
        if let Some(hash) = doc.pointer_mut("/_meta/hash/sha256") {
            *hash = Value::String(new_hash);
        }
        Ok(Native::Exact(dump(&doc), Vec::new()))
    }

    async fn tool(
        &self,
        request: &LockRequest<'_>,
        settings: ToolSettings,
    ) -> Result<(LockOutput, String), ToolFailure> {
        let program = super::program(&settings, "pipenv");
        let mut env = vec![
            ("PIPENV_VENV_IN_PROJECT".to_string(), "1".to_string()),
            ("PIPENV_IGNORE_VIRTUALENVS".into(), "1".into()),
            ("PIPENV_NOSPIN".into(), "1".into()),
            ("PIPENV_YES".into(), "1".into()),
            ("PIPENV_NO_INHERIT".into(), "1".into()),
            ("PIP_DISABLE_PIP_VERSION_CHECK".into(), "1".into()),
        ];
        if !settings.allow_code_execution {
            // pip never builds an sdist then: no package's setup.py runs.
            env.push(("PIP_ONLY_BINARY".into(), ":all:".into()));
        }
        let (netrc, secrets) = netrc(&super::indexes(request));
        let mut files = BTreeMap::new();
        files.insert("Pipfile".to_string(), request.manifest_after.to_string());
        files.insert("Pipfile.lock".to_string(), request.lock_content.to_string());
        let mut home_files = BTreeMap::new();
        if !netrc.is_empty() {
            home_files.insert(".netrc".to_string(), netrc);
        }
        let job = ToolRun {
            program,
            args: vec!["lock".into()],
            env,
            secrets,
            files,
            home_files,
            workdir: String::new(),
            timeout: settings.timeout,
        };
        let output = run(&job, &["Pipfile.lock"]).await?;
        let lock = output
            .files
            .get("Pipfile.lock")
            .cloned()
            .flatten()
            .ok_or_else(|| ToolFailure::Failed("pipenv wrote no Pipfile.lock".into()))?;
        let versions = locked_versions(&lock).map_err(ToolFailure::Failed)?;
        super::check_tool_versions(request, &|n| versions.get(n).cloned(), "pipenv")?;
        let version = super::tool_version(&settings, "pipenv").await;
        Ok((
            LockOutput {
                content: lock,
                ..LockOutput::default()
            },
            version,
        ))
    }
}

/// A `.netrc` with the credentials of the indexes that have basic auth, and their secrets.
pub(crate) fn netrc(
    indexes: &[updatebot_core::tool::IndexAccess],
) -> (String, Vec<updatebot_core::http::Secret>) {
    let mut text = String::new();
    let mut secrets = Vec::new();
    for index in indexes {
        let Some(auth) = &index.auth else { continue };
        let Some(host) = url::Url::parse(&index.url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_string))
        else {
            continue;
        };
        let (user, password) = match auth {
            updatebot_core::http::Auth::Basic { username, password } => {
                (username.clone(), password.clone())
            }
            updatebot_core::http::Auth::Bearer(t) => ("__token__".into(), t.clone()),
        };
        text.push_str(&format!(
            "machine {host}\nlogin {user}\npassword {}\n",
            password.expose()
        ));
        secrets.push(password);
    }
    (text, secrets)
}

#[async_trait]
impl LockfileUpdater for PipfileLock {
    fn name(&self) -> &'static str {
        UPDATER
    }

    fn lockfile_for(
        &self,
        manifest_path: &str,
        _manifest: &str,
        repo_files: &[String],
    ) -> Option<String> {
        let lock = sibling(manifest_path, "Pipfile.lock");
        (file_name(manifest_path) == "Pipfile" && repo_files.contains(&lock)).then_some(lock)
    }

    fn locked_packages(
        &self,
        lock_path: &str,
        lock: &str,
    ) -> Option<Result<Vec<updatebot_core::LockedPackage>, LockError>> {
        Some(super::graph::pipfile_packages(lock_path, lock))
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
            "pipenv",
            &request,
            || self.native(&request),
            |settings| self.tool(&request, settings),
        )
        .await
    }
}

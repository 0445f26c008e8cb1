//! The lockfiles only their own tool writes — `yarn.lock` (yarn 1 and yarn 2+),
//! `pnpm-lock.yaml`, `package-lock.json` v1 — updated by running that tool through core's
//! sandboxed runner ([`updatebot_core::tool`]):
//!
//! * a temporary directory holding only the lock, the workspace's `package.json` files,
//!   `pnpm-workspace.yaml`, patch files, and the project's `.npmrc` / `.yarnrc.yml` cut down
//!   to the keys that shape the lock (no plugins, no `yarnPath`, no registries or tokens);
//! * the registries the run looks packages up in, with only the credentials configured for
//!   each one's host, in the tool's temporary home (`~/.npmrc`, `~/.yarnrc.yml`);
//! * never installing and never running the project's code or lifecycle scripts:
//!   `npm install --package-lock-only --ignore-scripts`, `pnpm install --lockfile-only
//!   --ignore-scripts --ignore-pnpmfile`, `yarn install --mode=update-lockfile` with
//!   `enableScripts: false` (yarn 2+); yarn 1 has no lockfile-only mode, so it unpacks the
//!   packages into the temporary directory with `--ignore-scripts` and nothing else runs;
//! * exactly the planned version: the tool's choice is checked against the plan, and when the
//!   tool would take another release (a newer one the policy passed over, or none for a
//!   lockfile-only update) the version is first pinned in a throw-away copy of the manifest,
//!   then the real range is put back (for yarn, which re-resolves a new range to the newest
//!   release, the pinned entry is renamed to the range first);
//! * the lockfile's format kept: a tool that would rewrite it in another version (pnpm 9 on a
//!   6.0 lock, a newer yarn on an older berry lock) fails the update and says which tool the
//!   lock needs.

use super::corepack;
use super::rc::{self, Registries};
use super::{pnpm, yarn};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;
use updatebot_core::tool::{run, IndexAccess, ToolError, ToolRun, ToolSettings};
use updatebot_core::{LockOutput, LockRequest, PlannedUpdate};

/// The tools.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tool {
    /// yarn 1, for `yarn.lock` v1.
    YarnClassic,
    /// yarn 2 and later, for berry's `yarn.lock`.
    YarnBerry,
    Pnpm,
    Npm,
}

impl Tool {
    /// The operator's `lockfiles` key for this tool's locks.
    pub fn kind(&self) -> &'static str {
        match self {
            Tool::YarnClassic => "yarn.lock",
            Tool::YarnBerry => "yarn-berry",
            Tool::Pnpm => "pnpm-lock.yaml",
            Tool::Npm => "package-lock.json",
        }
    }

    /// The tool's name (and the program looked up on `PATH` when none is configured).
    pub fn program_name(&self) -> &'static str {
        match self {
            Tool::YarnClassic | Tool::YarnBerry => "yarn",
            Tool::Pnpm => "pnpm",
            Tool::Npm => "npm",
        }
    }

    /// What to call it in messages: `yarn 1`, `yarn 2+`, `pnpm`, `npm`.
    pub fn describe(&self) -> &'static str {
        match self {
            Tool::YarnClassic => "yarn 1",
            Tool::YarnBerry => "yarn 2+",
            Tool::Pnpm => "pnpm",
            Tool::Npm => "npm",
        }
    }

    fn is_yarn(&self) -> bool {
        matches!(self, Tool::YarnClassic | Tool::YarnBerry)
    }
}

/// Why the tool engine gave no lock.
#[derive(Debug)]
pub enum ToolFailure {
    /// The tool is not there, not the right one, or not allowed: the update needs it.
    Unavailable(String),
    /// The tool ran and failed, or its result is not what was planned.
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

fn dir_of(path: &str) -> &str {
    path.rsplit_once('/').map(|(d, _)| d).unwrap_or("")
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() || dir == "." {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}

/// `path` relative to `dir` (both repo-relative), if inside it.
fn relative<'a>(path: &'a str, dir: &str) -> Option<&'a str> {
    if dir.is_empty() {
        return Some(path);
    }
    let rest = path.strip_prefix(dir)?;
    if rest.is_empty() {
        Some("")
    } else {
        rest.strip_prefix('/')
    }
}

/// The tool's version (`yarn --version`), asked once per program and process.
async fn tool_version(program: &PathBuf) -> Result<String, ToolError> {
    static CACHE: OnceLock<Mutex<HashMap<PathBuf, String>>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    if let Some(v) = cache.lock().ok().and_then(|c| c.get(program).cloned()) {
        return Ok(v);
    }
    let job = ToolRun {
        program: program.clone(),
        args: vec!["--version".into()],
        env: vec![("COREPACK_ENABLE_STRICT".into(), "0".into())],
        timeout: Duration::from_secs(60),
        ..ToolRun::default()
    };
    let out = run(&job, &[]).await?;
    let version = out
        .stdout
        .split_whitespace()
        .find(|w| w.chars().next().is_some_and(|c| c.is_ascii_digit()))
        .unwrap_or("")
        .to_string();
    if let Ok(mut c) = cache.lock() {
        c.insert(program.clone(), version.clone());
    }
    Ok(version)
}

/// The program looked up on `PATH` when the operator names none: the tool's name, and for
/// yarn 2+ `yarn-berry` first (beside a yarn 1 `yarn`, as in the -full image).
fn default_program(tool: Tool) -> PathBuf {
    if tool == Tool::YarnBerry {
        let berry = PathBuf::from("yarn-berry");
        if updatebot_core::tool::find_program(&berry).is_ok() {
            return berry;
        }
    }
    PathBuf::from(tool.program_name())
}

fn major(version: &str) -> Option<u64> {
    version.split('.').next()?.parse().ok()
}

fn minor(version: &str) -> Option<u64> {
    version.split('.').nth(1)?.parse().ok()
}

/// The files an update of the lock at `lock_path` reads: `package.json`, `.npmrc`,
/// `.yarnrc.yml`, `pnpm-workspace.yaml` and patch files in the lock's folder and below
/// (`node_modules` aside), and `.yarnrc.yml` files above it.
pub fn related_files(lock_path: &str, repo_files: &[String]) -> Vec<String> {
    let lock_dir = dir_of(lock_path);
    let mut out = Vec::new();
    for path in repo_files {
        let name = path.rsplit('/').next().unwrap_or(path);
        let dir = dir_of(path);
        match relative(dir, lock_dir) {
            Some(rel) => {
                if rel.split('/').any(|p| p == "node_modules") || path == lock_path {
                    continue;
                }
                let wanted = matches!(
                    name,
                    "package.json" | ".npmrc" | ".yarnrc.yml" | "pnpm-workspace.yaml"
                ) || name.ends_with(".patch");
                if wanted {
                    out.push(path.clone());
                }
            }
            None => {
                // An ancestor's `.yarnrc.yml` applies too (yarn reads them up to the root).
                if name == ".yarnrc.yml" && relative(lock_dir, dir).is_some() {
                    out.push(path.clone());
                }
            }
        }
    }
    out.sort();
    out
}

/// Workspace folders (relative to the lock's folder, root excluded) named by the root
/// manifest's `workspaces` globs among `candidates`.
fn glob_members(root_manifest: &str, candidates: &[String]) -> Vec<String> {
    let Ok(doc) = serde_json::from_str::<Value>(root_manifest.trim_start_matches('\u{feff}'))
    else {
        return Vec::new();
    };
    let patterns: Vec<&str> = match doc.get("workspaces") {
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
        Some(Value::Object(o)) => o
            .get("packages")
            .and_then(Value::as_array)
            .map(|items| items.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default(),
        _ => Vec::new(),
    };
    let mut builder = globset::GlobSetBuilder::new();
    let mut any = false;
    for p in patterns {
        let p = p.trim_start_matches("./").trim_end_matches('/');
        if p.starts_with('!') {
            continue;
        }
        if let Ok(g) = globset::GlobBuilder::new(p).literal_separator(true).build() {
            builder.add(g);
            any = true;
        }
    }
    if !any {
        return Vec::new();
    }
    let Ok(set) = builder.build() else {
        return Vec::new();
    };
    candidates
        .iter()
        .filter(|c| !c.is_empty() && set.is_match(c.as_str()))
        .cloned()
        .collect()
}

/// The spec of `name` in the manifest's dependency sections (in the section of `dep_type`
/// first).
fn spec_in(manifest: &Value, dep_type: &str, name: &str) -> Option<String> {
    let sections = [
        dep_type,
        "dependencies",
        "devDependencies",
        "optionalDependencies",
    ];
    sections.iter().find_map(|s| {
        manifest
            .get(*s)
            .and_then(|d| d.get(name))
            .and_then(Value::as_str)
            .map(str::to_string)
    })
}

/// The spec that pins `update` to its planned version: `1.2.3`, or `npm:real@1.2.3`.
fn pinned_spec(update: &PlannedUpdate<'_>) -> String {
    let dep = update.dependency;
    if dep.package_name != dep.name {
        format!("npm:{}@{}", dep.package_name, update.new_version)
    } else {
        update.new_version.to_string()
    }
}

/// Whether the lock of `tool` is checked for this kind of dependency (peer dependencies and
/// npm's `overrides` are not locked as the project's own by every tool).
fn locked_kind(dep_type: &str) -> bool {
    matches!(
        dep_type,
        "dependencies" | "devDependencies" | "optionalDependencies"
    )
}

/// The outcome of checking a tool's lock against the plan.
enum Check {
    Good,
    /// Another version than planned: pinning may help.
    Other(String),
    /// Wrong in a way no retry fixes.
    Bad(String),
}

/// One update of one lock by its tool.
struct Job<'a> {
    tool: Tool,
    request: &'a LockRequest<'a>,
    program: PathBuf,
    version: String,
    /// The version as reported (`8.15.9 (corepack, …)`).
    label: String,
    timeout: Duration,
    /// Repo-relative path → text of everything written besides the lock (the updated
    /// manifest as edited).
    files: BTreeMap<String, String>,
    home_files: BTreeMap<String, String>,
    env: Vec<(String, String)>,
    secrets: Vec<updatebot_core::http::Secret>,
    args: Vec<String>,
    /// The manifest's folder relative to the lock's (`""`: the root project).
    member: String,
    format: String,
}

/// The lock's format as the tool writes it: yarn 1 / berry `__metadata.version`, pnpm's and
/// npm's `lockfileVersion`.
fn format_of(tool: Tool, text: &str) -> Result<String, String> {
    match tool {
        Tool::YarnClassic | Tool::YarnBerry => {
            let lock = yarn::parse(text)?;
            Ok(match lock.flavor {
                yarn::Flavor::Classic => "yarn lockfile v1".to_string(),
                yarn::Flavor::Berry => format!(
                    "berry lockfile version {}",
                    lock.metadata_version.unwrap_or_default()
                ),
            })
        }
        Tool::Pnpm => pnpm::parse(text).map(|l| format!("lockfileVersion {}", l.version)),
        Tool::Npm => {
            let doc: Value =
                serde_json::from_str(text).map_err(|e| format!("invalid JSON: {e}"))?;
            Ok(format!(
                "lockfileVersion {}",
                doc.get("lockfileVersion")
                    .and_then(Value::as_u64)
                    .unwrap_or(1)
            ))
        }
    }
}

impl<'a> Job<'a> {
    async fn prepare(
        tool: Tool,
        request: &'a LockRequest<'a>,
        settings: &ToolSettings,
    ) -> Result<Job<'a>, ToolFailure> {
        let program = settings
            .program
            .clone()
            .unwrap_or_else(|| default_program(tool));
        let direct = tool_version(&program).await;
        // The release the project's `packageManager` pins, when it names this tool.
        let lock_dir = dir_of(request.lock_path).to_string();
        let root_path = join(&lock_dir, "package.json");
        let root_text = if request.manifest_path == root_path {
            Some(request.manifest_after.to_string())
        } else {
            request.lookup.read_file(&root_path)
        };
        let mut label_note = String::new();
        let pin = match root_text.as_deref().and_then(corepack::pin_of) {
            Some(p) if p.tool == tool.program_name() => Some(p),
            Some(p) => {
                tracing::warn!(
                    lockfile = request.lock_path,
                    package_manager = p.spec,
                    "`packageManager` names {}, not {}: not used for the lock",
                    p.tool,
                    tool.program_name()
                );
                label_note = format!(
                    "; `packageManager` names {} (`{}`), not {}: not used",
                    p.tool,
                    p.spec,
                    tool.program_name()
                );
                None
            }
            None => None,
        };
        let via_corepack = match (&pin, &direct) {
            (Some(p), Ok(v)) if *v == p.version => None,
            (Some(p), _) => Some(p.clone()),
            (None, _) => None,
        };
        let corepack_settings = request.lookup.tool_settings("corepack");
        let (program, version) = match &via_corepack {
            Some(p) => {
                let Some(cp) = corepack_settings.program.clone() else {
                    let here = match &direct {
                        Ok(v) => {
                            format!("`{}` is {} `{v}`", program.display(), tool.program_name())
                        }
                        Err(e) => e.to_string(),
                    };
                    return Err(ToolFailure::Unavailable(format!(
                        "needs {} (package.json's `packageManager`): {here}, and no corepack is set (`lockfiles.corepack.tool`) to fetch that release",
                        p.short()
                    )));
                };
                (cp, p.version.clone())
            }
            None => (program, direct?),
        };
        let shown = program.display().to_string();
        match (tool, major(&version)) {
            (Tool::YarnClassic, Some(1)) | (Tool::YarnBerry, Some(2..)) => {}
            (Tool::YarnClassic | Tool::YarnBerry, _) => {
                return Err(ToolFailure::Unavailable(format!(
                    "`{shown}` is yarn `{version}`, not {} (set `lockfiles.{}.tool`)",
                    tool.describe(),
                    tool.kind()
                )))
            }
            (Tool::Npm, Some(0..=6)) => {
                return Err(ToolFailure::Unavailable(format!(
                    "`{shown}` is npm `{version}`; npm 7 or later is needed"
                )))
            }
            _ => {}
        }
        let lock_path = request.lock_path;
        let format = format_of(tool, request.lock_content)
            .map_err(|e| ToolFailure::Failed(format!("{lock_path} cannot be read: {e}")))?;
        let member = relative(dir_of(request.manifest_path), &lock_dir)
            .ok_or_else(|| {
                ToolFailure::Failed(format!(
                    "`{}` is not below the lock's folder",
                    request.manifest_path
                ))
            })?
            .to_string();
        let related = request.lookup.related_files();
        let read = |path: &str| -> Result<String, ToolFailure> {
            if path == request.manifest_path {
                return Ok(request.manifest_after.to_string());
            }
            request
                .lookup
                .read_file(path)
                .ok_or_else(|| ToolFailure::Failed(format!("cannot read `{path}`")))
        };
        let mut files = BTreeMap::new();
        // The workspace: the root manifest and every member's.
        let root_manifest_path = join(&lock_dir, "package.json");
        let root_manifest = read(&root_manifest_path)?;
        let candidates: Vec<String> = related
            .iter()
            .filter(|p| p.ends_with("package.json"))
            .filter_map(|p| relative(dir_of(p), &lock_dir).map(str::to_string))
            .collect();
        let mut members: BTreeSet<String> = glob_members(&root_manifest, &candidates)
            .into_iter()
            .collect();
        let inside = |m: &String| !m.split('/').any(|p| p == ".." || p == "node_modules");
        match tool {
            Tool::Pnpm => {
                if let Ok(lock) = pnpm::parse(request.lock_content) {
                    if lock.pnpmfile {
                        return Err(ToolFailure::Failed(format!(
                            "{lock_path} was made with a .pnpmfile.cjs, whose code updatebot does not run"
                        )));
                    }
                    members.extend(lock.importers.keys().filter(|k| *k != ".").cloned());
                }
            }
            Tool::YarnBerry => {
                if let Ok(lock) = yarn::parse(request.lock_content) {
                    members.extend(lock.workspaces().into_iter().filter(|w| w != "."));
                }
            }
            Tool::Npm => {
                if let Ok(doc) = serde_json::from_str::<Value>(request.lock_content) {
                    if let Some(packages) = doc.get("packages").and_then(Value::as_object) {
                        members.extend(
                            packages
                                .keys()
                                .filter(|k| !k.is_empty() && !k.contains("node_modules/"))
                                .cloned(),
                        );
                    }
                }
            }
            Tool::YarnClassic => {}
        }
        members.retain(inside);
        if !member.is_empty() && !members.contains(&member) {
            return Err(ToolFailure::Failed(format!(
                "`{}` is not one of the workspaces of {lock_path}",
                request.manifest_path
            )));
        }
        files.insert(root_manifest_path, root_manifest);
        for m in &members {
            let path = join(&join(&lock_dir, m), "package.json");
            // A member the lock still lists but the repository no longer has is left out.
            if let Ok(text) = read(&path) {
                files.insert(path, text);
            }
        }
        // Settings and patches.
        for path in &related {
            let name = path.rsplit('/').next().unwrap_or(path);
            let Some(text) = request.lookup.read_file(path) else {
                continue;
            };
            let at_root = dir_of(path) == lock_dir;
            match name {
                ".npmrc" if at_root => {
                    files.insert(path.clone(), rc::project_npmrc(&text));
                }
                ".yarnrc.yml" if tool == Tool::YarnBerry => {
                    files.insert(path.clone(), rc::project_yarnrc(&text));
                }
                "pnpm-workspace.yaml" if tool == Tool::Pnpm && at_root => {
                    files.insert(path.clone(), text);
                }
                n if n.ends_with(".patch") => {
                    files.insert(path.clone(), text);
                }
                _ => {}
            }
        }
        // Registries: the default one and those of the scopes the project uses.
        let registries = registries(request, &files).await;
        let mut home_files = BTreeMap::new();
        let mut env: Vec<(String, String)> = vec![
            ("COREPACK_ENABLE_STRICT".into(), "0".into()),
            ("COREPACK_ENABLE_AUTO_PIN".into(), "0".into()),
            ("COREPACK_ENABLE_DOWNLOAD_PROMPT".into(), "0".into()),
            ("NO_UPDATE_NOTIFIER".into(), "1".into()),
            ("NO_COLOR".into(), "1".into()),
            ("FORCE_COLOR".into(), "0".into()),
        ];
        let mut secrets = registries.secrets();
        let mut label = format!("{version}{label_note}");
        if let Some(pin) = &via_corepack {
            let (cp_env, cp_secrets) = corepack::env(&corepack_settings, &registries.default, pin);
            corepack::obtain(&program, pin, &cp_env, &cp_secrets, settings.timeout)
                .await
                .map_err(|e| {
                    ToolFailure::Unavailable(format!(
                        "needs {} (package.json's `packageManager`), which corepack could not obtain: {e}",
                        pin.short()
                    ))
                })?;
            env.extend(cp_env);
            secrets.extend(cp_secrets);
            label = format!("{version} (corepack, `packageManager: {}`)", pin.spec);
        }
        let mut args: Vec<String> = match tool {
            Tool::YarnClassic => {
                home_files.insert(".npmrc".into(), registries.npmrc());
                env.push(("YARN_IGNORE_PATH".into(), "1".into()));
                [
                    "install",
                    "--ignore-scripts",
                    "--non-interactive",
                    "--no-progress",
                    "--no-bin-links",
                    "--ignore-engines",
                    "--ignore-platform",
                    "--network-timeout",
                    "60000",
                ]
                .map(String::from)
                .to_vec()
            }
            Tool::YarnBerry => {
                let age_gate = major(&version).unwrap_or(0) > 4
                    || (major(&version) == Some(4) && minor(&version).unwrap_or(0) >= 10);
                home_files.insert(".yarnrc.yml".into(), registries.yarnrc(age_gate));
                for (k, v) in [
                    ("YARN_IGNORE_PATH", "1"),
                    ("YARN_ENABLE_SCRIPTS", "false"),
                    ("YARN_ENABLE_TELEMETRY", "false"),
                    ("YARN_ENABLE_PROGRESS_BARS", "false"),
                    ("YARN_ENABLE_COLORS", "false"),
                    ("YARN_ENABLE_IMMUTABLE_INSTALLS", "false"),
                ] {
                    env.push((k.into(), v.into()));
                }
                ["install", "--mode=update-lockfile"]
                    .map(String::from)
                    .to_vec()
            }
            Tool::Pnpm => {
                home_files.insert(".npmrc".into(), registries.npmrc());
                [
                    "install",
                    "--lockfile-only",
                    "--ignore-scripts",
                    "--ignore-pnpmfile",
                    "--no-frozen-lockfile",
                    "--config.manage-package-manager-versions=false",
                    "--config.package-manager-strict=false",
                    "--config.package-manager-strict-version=false",
                    "--config.minimum-release-age=0",
                    "--config.engine-strict=false",
                    "--reporter=append-only",
                ]
                .map(String::from)
                .to_vec()
            }
            Tool::Npm => {
                home_files.insert(".npmrc".into(), registries.npmrc());
                let version = format.trim_start_matches("lockfileVersion ");
                vec![
                    "install".into(),
                    "--package-lock-only".into(),
                    "--ignore-scripts".into(),
                    "--no-audit".into(),
                    "--no-fund".into(),
                    "--engine-strict=false".into(),
                    format!("--lockfile-version={version}"),
                ]
            }
        };
        if let Some(pin) = &via_corepack {
            args.insert(0, pin.spec.clone());
        }
        Ok(Job {
            tool,
            request,
            program,
            version,
            label,
            timeout: settings.timeout,
            files,
            home_files,
            env,
            secrets,
            args,
            member,
            format,
        })
    }

    /// Run the tool once on `lock` (with the updated manifest's text replaced by `manifest`
    /// when given); the lock it wrote.
    async fn run(&self, lock: &str, manifest: Option<&str>) -> Result<String, ToolFailure> {
        let mut files = self.files.clone();
        if let Some(text) = manifest {
            files.insert(self.request.manifest_path.to_string(), text.to_string());
        }
        files.insert(self.request.lock_path.to_string(), lock.to_string());
        let job = ToolRun {
            program: self.program.clone(),
            args: self.args.clone(),
            env: self.env.clone(),
            secrets: self.secrets.clone(),
            files: files.clone(),
            home_files: self.home_files.clone(),
            workdir: dir_of(self.request.lock_path).to_string(),
            timeout: self.timeout,
        };
        let wanted: Vec<&str> = files.keys().map(String::as_str).collect();
        let out = run(&job, &wanted).await?;
        // The tool must not have needed to change the project's own files.
        for (path, before) in &files {
            let name = path.rsplit('/').next().unwrap_or(path);
            if path == self.request.lock_path
                || !matches!(name, "package.json" | "pnpm-workspace.yaml")
            {
                continue;
            }
            if out.files.get(path).and_then(|t| t.as_deref()) != Some(before.as_str()) {
                return Err(ToolFailure::Failed(format!(
                    "{} {} also changed `{path}`, which updatebot does not carry over",
                    self.tool.program_name(),
                    self.version
                )));
            }
        }
        out.files
            .get(self.request.lock_path)
            .cloned()
            .flatten()
            .ok_or_else(|| {
                ToolFailure::Failed(format!(
                    "{} {} wrote no {}",
                    self.tool.program_name(),
                    self.version,
                    self.request.lock_path
                ))
            })
    }

    /// The version `lock` locks for `update`, as the project's manifest names it.
    fn locked(&self, lock: &str, update: &PlannedUpdate<'_>) -> Result<Option<String>, String> {
        let dep = update.dependency;
        let manifest: Value =
            serde_json::from_str(self.request.manifest_after.trim_start_matches('\u{feff}'))
                .map_err(|e| format!("{}: invalid JSON: {e}", self.request.manifest_path))?;
        let Some(spec) = spec_in(&manifest, &dep.dep_type, &dep.name) else {
            return Err(format!(
                "`{}` is not a dependency in {}",
                dep.name, self.request.manifest_path
            ));
        };
        Ok(match self.tool {
            Tool::YarnClassic | Tool::YarnBerry => {
                let lock = yarn::parse(lock)?;
                lock.version_of(&lock.descriptor(&dep.name, &spec))
                    .map(str::to_string)
            }
            Tool::Pnpm => pnpm::parse(lock)?.version_of(
                &pnpm::importer_key(&self.member),
                &dep.name,
                &dep.package_name,
            ),
            Tool::Npm => npm_locked(lock, &self.member, &dep.name)?,
        })
    }

    fn check(&self, lock: &str) -> Check {
        match format_of(self.tool, lock) {
            Ok(format) if format == self.format => {}
            Ok(format) => {
                return Check::Bad(format!(
                    "{} {} rewrote the lock from {} to {format}; the project's lock needs the {} it was made with (set `lockfiles.{}.tool`)",
                    self.tool.program_name(),
                    self.version,
                    self.format,
                    self.tool.program_name(),
                    self.tool.kind()
                ))
            }
            Err(e) => return Check::Bad(format!("the tool's lock cannot be read: {e}")),
        }
        for update in self.request.updates {
            if !locked_kind(&update.dependency.dep_type) {
                continue;
            }
            match self.locked(lock, update) {
                Ok(Some(v)) if v == update.new_version => {}
                Ok(Some(v)) => {
                    return Check::Other(format!(
                        "{} locked {} at {v}, not {}",
                        self.tool.program_name(),
                        update.dependency.name,
                        update.new_version
                    ))
                }
                Ok(None) => {
                    return Check::Other(format!(
                        "{} left {} out of the lock",
                        self.tool.program_name(),
                        update.dependency.name
                    ))
                }
                Err(e) => return Check::Bad(e),
            }
        }
        Check::Good
    }

    /// The manifest with every update pinned to its planned version.
    fn pinned_manifest(&self) -> Result<String, ToolFailure> {
        let path = self.request.manifest_path;
        let mut manifest: Value =
            serde_json::from_str(self.request.manifest_after.trim_start_matches('\u{feff}'))
                .map_err(|e| ToolFailure::Failed(format!("{path}: invalid JSON: {e}")))?;
        for update in self.request.updates {
            let dep = update.dependency;
            if !locked_kind(&dep.dep_type) {
                continue;
            }
            let Some(slot) = manifest
                .get_mut(dep.dep_type.as_str())
                .and_then(|s| s.get_mut(dep.name.as_str()))
            else {
                return Err(ToolFailure::Failed(format!(
                    "`{}` is not in `{}` of {path}",
                    dep.name, dep.dep_type
                )));
            };
            *slot = Value::String(pinned_spec(update));
        }
        serde_json::to_string_pretty(&manifest)
            .map(|t| t + "\n")
            .map_err(|e| ToolFailure::Failed(e.to_string()))
    }

    /// For yarn: rename each pinned descriptor in `lock` to the manifest's range.
    fn unpin(&self, lock: &str) -> Result<String, ToolFailure> {
        let parsed = yarn::parse(lock).map_err(ToolFailure::Failed)?;
        let manifest: Value =
            serde_json::from_str(self.request.manifest_after.trim_start_matches('\u{feff}'))
                .map_err(|e| ToolFailure::Failed(e.to_string()))?;
        let mut text = lock.to_string();
        for update in self.request.updates {
            let dep = update.dependency;
            if !locked_kind(&dep.dep_type) {
                continue;
            }
            let Some(spec) = spec_in(&manifest, &dep.dep_type, &dep.name) else {
                continue;
            };
            let from = parsed.descriptor(&dep.name, &pinned_spec(update));
            let to = parsed.descriptor(&dep.name, &spec);
            text = yarn::rename_descriptor(&text, &from, &to).ok_or_else(|| {
                ToolFailure::Failed(format!(
                    "{} did not lock `{from}` when the version was pinned",
                    self.tool.program_name()
                ))
            })?;
        }
        Ok(text)
    }
}

/// npm: the version of `name` as `member` (a workspace folder, `""` for the root) resolves it.
fn npm_locked(lock: &str, member: &str, name: &str) -> Result<Option<String>, String> {
    let doc: Value = serde_json::from_str(lock).map_err(|e| format!("invalid JSON: {e}"))?;
    let strip = |v: &str| -> String {
        // v1 writes an alias's version as `npm:real@1.2.3`.
        match v.strip_prefix("npm:") {
            Some(rest) => rest
                .get(1..)
                .and_then(|r| r.rfind('@'))
                .map(|at| rest[at + 2..].to_string())
                .unwrap_or_else(|| rest.to_string()),
            None => v.to_string(),
        }
    };
    if let Some(packages) = doc.get("packages").and_then(Value::as_object) {
        return Ok(super::tree::resolve(packages, member, name)
            .and_then(|location| packages[&location].get("version"))
            .and_then(Value::as_str)
            .map(strip));
    }
    Ok(doc
        .get("dependencies")
        .and_then(|d| d.get(name))
        .and_then(|d| d.get("version"))
        .and_then(Value::as_str)
        .map(strip))
}

fn scope_of(name: &str) -> Option<&str> {
    name.split_once('/')
        .map(|(scope, _)| scope)
        .filter(|s| s.starts_with('@') && s.len() > 1)
}

/// Of the registries a package would be looked up in, the one a tool (which takes one per
/// scope) is pointed at: when there are several, the one that served the releases of one of
/// `probes` (its tarball URLs lie below it), else the first.
async fn pick(
    request: &LockRequest<'_>,
    candidates: Vec<IndexAccess>,
    probes: &[&str],
) -> Option<IndexAccess> {
    if candidates.len() > 1 {
        for name in probes {
            let Ok(list) = request.lookup.releases(name).await else {
                continue;
            };
            for release in list.releases.iter().rev() {
                let Some(tarball) = release
                    .metadata
                    .as_ref()
                    .and_then(|m| m.get("dist")?.get("tarball")?.as_str().map(str::to_string))
                else {
                    continue;
                };
                let served = candidates
                    .iter()
                    .find(|c| tarball.starts_with(&format!("{}/", c.url.trim_end_matches('/'))));
                if let Some(c) = served {
                    return Some(c.clone());
                }
            }
        }
    }
    candidates.into_iter().next()
}

/// The registries the tool is pointed at: where the run looks up an unscoped package, and
/// each scope that the manifests or `.npmrc` files route elsewhere.
async fn registries(request: &LockRequest<'_>, files: &BTreeMap<String, String>) -> Registries {
    let lookup = request.lookup;
    // Every dependency name of the workspace's manifests, the updated ones first.
    let mut names: Vec<String> = Vec::new();
    for update in request.updates {
        names.push(update.dependency.package_name.clone());
    }
    for (path, text) in files {
        if !path.ends_with("package.json") {
            continue;
        }
        let Ok(doc) = serde_json::from_str::<Value>(text.trim_start_matches('\u{feff}')) else {
            continue;
        };
        for section in [
            "dependencies",
            "devDependencies",
            "optionalDependencies",
            "peerDependencies",
        ] {
            let Some(deps) = doc.get(section).and_then(Value::as_object) else {
                continue;
            };
            for (name, spec) in deps {
                // An alias's target is what is looked up.
                let real = spec
                    .as_str()
                    .and_then(|s| s.strip_prefix("npm:"))
                    .and_then(|rest| {
                        rest.get(1..)?
                            .rfind('@')
                            .map(|at| rest[..at + 1].to_string())
                    })
                    .unwrap_or_else(|| name.clone());
                if !names.contains(&real) {
                    names.push(real);
                }
            }
        }
    }
    let mut scopes: BTreeSet<String> = names
        .iter()
        .filter_map(|n| scope_of(n).map(str::to_string))
        .collect();
    // Scopes the project's `.npmrc` files route (read as the run reads them).
    for path in lookup.related_files() {
        if path.ends_with(".npmrc") {
            if let Some(text) = lookup.read_file(&path) {
                scopes.extend(crate::npmrc::parse(&text).scopes.into_keys());
            }
        }
    }
    let unscoped: Vec<&str> = names
        .iter()
        .map(String::as_str)
        .filter(|n| scope_of(n).is_none())
        .take(5)
        .collect();
    let default = pick(request, lookup.indexes("npm"), &unscoped)
        .await
        .unwrap_or_else(|| IndexAccess {
            url: updatebot_core::defaults::NPM_REGISTRY_URL.to_string(),
            auth: None,
        });
    let mut scoped = Vec::new();
    for scope in scopes {
        let probes: Vec<&str> = names
            .iter()
            .map(String::as_str)
            .filter(|n| scope_of(n) == Some(scope.as_str()))
            .take(5)
            .collect();
        let Some(access) = pick(request, lookup.indexes(&format!("{scope}/x")), &probes).await
        else {
            continue;
        };
        if !same_url(&access.url, &default.url) {
            scoped.push((scope, access));
        }
    }
    Registries {
        default,
        scopes: scoped,
    }
}

fn same_url(a: &str, b: &str) -> bool {
    let norm = |u: &str| u.trim_end_matches('/').to_ascii_lowercase();
    norm(a) == norm(b)
}

/// Update `request`'s lock with `tool`: the new lock and the tool's version.
pub async fn update(
    tool: Tool,
    request: &LockRequest<'_>,
    settings: &ToolSettings,
) -> Result<(LockOutput, String), ToolFailure> {
    let job = Job::prepare(tool, request, settings).await?;
    let done = |content: String| {
        Ok((
            LockOutput {
                content,
                ..LockOutput::default()
            },
            job.label.clone(),
        ))
    };
    let lock_only = request.updates.iter().any(|u| u.new_value.is_none());
    // First the plain run: the tool resolves the edited manifest (yarn: a lockfile-only
    // update's descriptor taken out of the lock, so it is resolved anew).
    if tool.is_yarn() || !lock_only {
        let mut lock = request.lock_content.to_string();
        if lock_only {
            let manifest: Value =
                serde_json::from_str(request.manifest_after.trim_start_matches('\u{feff}'))
                    .map_err(|e| {
                        ToolFailure::Failed(format!("{}: invalid JSON: {e}", request.manifest_path))
                    })?;
            let parsed = yarn::parse(&lock).map_err(ToolFailure::Failed)?;
            for update in request.updates.iter().filter(|u| u.new_value.is_none()) {
                let dep = update.dependency;
                if let Some(spec) = spec_in(&manifest, &dep.dep_type, &dep.name) {
                    if let Some(text) =
                        yarn::remove_descriptor(&lock, &parsed.descriptor(&dep.name, &spec))
                    {
                        lock = text;
                    }
                }
            }
        }
        let out = job.run(&lock, None).await?;
        match job.check(&out) {
            Check::Good => return done(out),
            Check::Bad(why) => return Err(ToolFailure::Failed(why)),
            Check::Other(_) => {}
        }
    }
    // Then exactly the planned version: pinned, then the real range put back.
    let pinned = job.pinned_manifest()?;
    let first = job.run(request.lock_content, Some(&pinned)).await?;
    let first = if tool.is_yarn() {
        job.unpin(&first)?
    } else {
        first
    };
    let out = job.run(&first, None).await?;
    match job.check(&out) {
        Check::Good => done(out),
        Check::Bad(why) | Check::Other(why) => Err(ToolFailure::Failed(why)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn related_files_are_the_workspace_and_its_settings() {
        let files: Vec<String> = [
            ".yarnrc.yml",
            "web/package.json",
            "web/yarn.lock",
            "web/.npmrc",
            "web/.yarnrc.yml",
            "web/packages/a/package.json",
            "web/node_modules/x/package.json",
            "web/patches/x.patch",
            "other/package.json",
            ".npmrc",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            related_files("web/yarn.lock", &files),
            [
                ".yarnrc.yml",
                "web/.npmrc",
                "web/.yarnrc.yml",
                "web/package.json",
                "web/packages/a/package.json",
                "web/patches/x.patch"
            ]
        );
    }

    #[test]
    fn workspace_globs_pick_members() {
        let candidates: Vec<String> = ["", "packages/a", "packages/b/c", "tools/x"]
            .map(String::from)
            .to_vec();
        assert_eq!(
            glob_members(r#"{"workspaces": ["packages/*"]}"#, &candidates),
            ["packages/a"]
        );
        assert_eq!(
            glob_members(
                r#"{"workspaces": {"packages": ["tools/*", "packages/**"]}}"#,
                &candidates
            ),
            ["packages/a", "packages/b/c", "tools/x"]
        );
        assert!(glob_members("{}", &candidates).is_empty());
    }

    #[test]
    fn npm_locked_versions_v1_and_v3() {
        let v1 = r#"{"lockfileVersion": 1, "dependencies": {"debug": {"version": "4.3.4"}, "x": {"version": "npm:@s/real@1.2.3"}}}"#;
        assert_eq!(
            npm_locked(v1, "", "debug").unwrap().as_deref(),
            Some("4.3.4")
        );
        assert_eq!(npm_locked(v1, "", "x").unwrap().as_deref(), Some("1.2.3"));
        let v3 = r#"{"lockfileVersion": 3, "packages": {"": {}, "packages/a": {}, "node_modules/debug": {"version": "4.3.7"}, "packages/a/node_modules/debug": {"version": "2.6.9"}}}"#;
        assert_eq!(
            npm_locked(v3, "", "debug").unwrap().as_deref(),
            Some("4.3.7")
        );
        assert_eq!(
            npm_locked(v3, "packages/a", "debug").unwrap().as_deref(),
            Some("2.6.9")
        );
    }
}

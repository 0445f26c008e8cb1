//! Running an ecosystem's own lockfile tool (poetry, uv, pipenv, pip-compile) safely.
//!
//! What a run gets, and nothing more:
//!
//! * a fresh temporary directory holding only the files the caller hands over (the manifest,
//!   the lockfile, a `.in` source), with the tool's working directory inside it;
//! * a scrubbed environment: `env_clear()`, then `PATH`, `HOME` and the XDG/tool cache and
//!   config directories pointing into the temporary directory, `LANG`, and the variables the
//!   caller names (the index URL and the credentials configured for that index's host only);
//! * a time limit, after which the whole process group is killed;
//! * its output with every secret it was given replaced by `***`.
//!
//! Whether the tool may build or run the project's code is the caller's to decide (each tool
//! has its own switches); [`ToolSettings::allow_code_execution`] carries the operator's word.

use crate::http::{Auth, Secret};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use thiserror::Error;

/// Which engine keeps a kind of lockfile in line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Engine {
    /// updatebot's own code only; an update it cannot make exactly fails.
    Native,
    /// The ecosystem's tool only.
    Tool,
    /// Native where it is exact, else the tool, else "needs <tool>".
    #[default]
    Auto,
}

impl Engine {
    pub fn as_str(&self) -> &'static str {
        match self {
            Engine::Native => "native",
            Engine::Tool => "tool",
            Engine::Auto => "auto",
        }
    }

    pub fn parse(text: &str) -> Option<Engine> {
        match text {
            "native" => Some(Engine::Native),
            "tool" => Some(Engine::Tool),
            "auto" => Some(Engine::Auto),
            _ => None,
        }
    }
}

/// Default time limit of one tool run.
pub const DEFAULT_TOOL_TIMEOUT: Duration = Duration::from_secs(300);

/// The operator's settings for one kind of lockfile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ToolSettings {
    pub engine: Engine,
    /// Where the tool is; `None`: looked up on `PATH`.
    pub program: Option<PathBuf>,
    pub timeout: Duration,
    /// The operator allows the tool to build sdists / run the project's build backend
    /// (`insecure-external-code-execution: allow`). Off by default.
    pub allow_code_execution: bool,
    /// `lockfiles.corepack.integrity-keys`: corepack's `COREPACK_INTEGRITY_KEYS` (`0`: no
    /// signature check, for a registry that strips npm's signatures); `None`: corepack's
    /// default.
    pub integrity_keys: Option<String>,
}

impl Default for ToolSettings {
    fn default() -> Self {
        ToolSettings {
            engine: Engine::Auto,
            program: None,
            timeout: DEFAULT_TOOL_TIMEOUT,
            allow_code_execution: false,
            integrity_keys: None,
        }
    }
}

/// An index a tool may use: its URL (without credentials) and the credentials configured
/// for its host, if any.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexAccess {
    pub url: String,
    pub auth: Option<Auth>,
}

impl IndexAccess {
    /// The URL with the credentials written into it (`https://user:pass@host/…`), as pip and
    /// uv take them in `*_INDEX_URL`. A bearer token becomes the password of user `__token__`.
    pub fn url_with_credentials(&self) -> String {
        let Some(auth) = &self.auth else {
            return self.url.clone();
        };
        let Ok(mut url) = url::Url::parse(&self.url) else {
            return self.url.clone();
        };
        let (user, password) = match auth {
            Auth::Basic { username, password } => (username.as_str(), password.expose()),
            Auth::Bearer(token) => ("__token__", token.expose()),
        };
        let _ = url.set_username(user);
        let _ = url.set_password(Some(password));
        url.to_string()
    }

    /// The secrets of this index (to scrub from a tool's output).
    pub fn secrets(&self) -> Vec<Secret> {
        match &self.auth {
            Some(Auth::Basic { password, .. }) => vec![password.clone()],
            Some(Auth::Bearer(token)) => vec![token.clone()],
            None => Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ToolError {
    /// The program is not there (not on `PATH`, or not at the configured path).
    #[error("`{program}` not found ({detail})")]
    Missing { program: String, detail: String },
    #[error("`{program}` did not finish within {seconds} s and was killed")]
    Timeout { program: String, seconds: u64 },
    #[error("`{program}` exited with {status}: {output}")]
    Failed {
        program: String,
        status: String,
        output: String,
    },
    #[error("running `{program}`: {detail}")]
    Io { program: String, detail: String },
}

/// One run of a tool.
#[derive(Clone, Debug, Default)]
pub struct ToolRun {
    /// The program as configured (`poetry`) or its configured path.
    pub program: PathBuf,
    pub args: Vec<String>,
    /// Environment variables on top of the scrubbed base.
    pub env: Vec<(String, String)>,
    /// Secrets that may appear in the output; replaced by `***`.
    pub secrets: Vec<Secret>,
    /// Files written into the working directory before the run (relative path → text).
    pub files: BTreeMap<String, String>,
    /// Files written into the tool's (temporary) home directory: `.netrc`, say.
    pub home_files: BTreeMap<String, String>,
    /// Working directory inside the temporary directory (relative; empty: its root).
    pub workdir: String,
    pub timeout: Duration,
}

/// What a finished run left behind.
#[derive(Clone, Debug)]
pub struct ToolOutput {
    /// Text of the requested files after the run (`None`: the file is not there).
    pub files: BTreeMap<String, Option<String>>,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

/// Find `program` (a bare name on `PATH`, or a path) as an executable file.
pub fn find_program(program: &Path) -> Result<PathBuf, ToolError> {
    let name = program.display().to_string();
    let missing = |detail: String| ToolError::Missing {
        program: name.clone(),
        detail,
    };
    let executable = |p: &Path| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(p)
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
    };
    if program.components().count() > 1 || program.is_absolute() {
        return if executable(program) {
            Ok(program.to_path_buf())
        } else {
            Err(missing(format!(
                "{} is not an executable file",
                program.display()
            )))
        };
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| executable(candidate))
        .ok_or_else(|| missing("not on PATH".into()))
}

/// Replace every secret in `text` by `***`.
pub fn scrub(text: &str, secrets: &[Secret]) -> String {
    let mut out = text.to_string();
    for secret in secrets {
        let value = secret.expose();
        if value.len() >= 3 {
            out = out.replace(value, "***");
            // Also as it appears inside URLs (percent-encoded).
            let encoded: String = url::form_urlencoded::byte_serialize(value.as_bytes()).collect();
            if encoded != value {
                out = out.replace(&encoded, "***");
            }
        }
    }
    out
}

/// The last `max` characters of a tool's output, for error messages.
fn tail(text: &str, max: usize) -> String {
    let trimmed = text.trim();
    let count = trimmed.chars().count();
    if count <= max {
        return trimmed.to_string();
    }
    let skip = count - max;
    format!("…{}", trimmed.chars().skip(skip).collect::<String>())
}

/// Run the tool in a fresh temporary directory with a scrubbed environment and read back
/// `wanted` files (relative to the temporary directory).
pub async fn run(run: &ToolRun, wanted: &[&str]) -> Result<ToolOutput, ToolError> {
    let name = run.program.display().to_string();
    let io = |e: std::io::Error| ToolError::Io {
        program: name.clone(),
        detail: e.to_string(),
    };
    let program = find_program(&run.program)?;
    let dir = tempfile::Builder::new()
        .prefix("updatebot-tool.")
        .tempdir()
        .map_err(io)?;
    let root = dir.path();
    for sub in ["home", "cache", "config", "data", "tmp"] {
        std::fs::create_dir_all(root.join(sub)).map_err(io)?;
    }
    let work = root.join("work");
    for (path, text) in &run.files {
        let target = safe_join(&work, path).ok_or_else(|| ToolError::Io {
            program: name.clone(),
            detail: format!("refusing to write `{path}` outside the work directory"),
        })?;
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        std::fs::write(&target, text).map_err(io)?;
    }
    for (path, text) in &run.home_files {
        let target = safe_join(&root.join("home"), path).ok_or_else(|| ToolError::Io {
            program: name.clone(),
            detail: format!("refusing to write `{path}` outside the home directory"),
        })?;
        std::fs::write(&target, text).map_err(io)?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o600)).map_err(io)?;
    }
    let cwd = safe_join(&work, &run.workdir).unwrap_or_else(|| work.clone());
    std::fs::create_dir_all(&cwd).map_err(io)?;

    let mut command = tokio::process::Command::new(&program);
    command
        .args(&run.args)
        .current_dir(&cwd)
        .env_clear()
        .env("PATH", tool_path(&program))
        .env("HOME", root.join("home"))
        .env("XDG_CACHE_HOME", root.join("cache"))
        .env("XDG_CONFIG_HOME", root.join("config"))
        .env("XDG_DATA_HOME", root.join("data"))
        .env("TMPDIR", root.join("tmp"))
        .env("LANG", "C.UTF-8")
        .env("LC_ALL", "C.UTF-8")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .process_group(0);
    for (key, value) in &run.env {
        command.env(key, value);
    }
    let started = Instant::now();
    let child = command.spawn().map_err(io)?;
    let pid = child.id();
    let output = match tokio::time::timeout(run.timeout, child.wait_with_output()).await {
        Ok(result) => result.map_err(io)?,
        Err(_) => {
            if let Some(pid) = pid {
                kill_group(pid);
            }
            return Err(ToolError::Timeout {
                program: name,
                seconds: run.timeout.as_secs(),
            });
        }
    };
    // Whatever the tool started in the background goes too.
    if let Some(pid) = pid {
        kill_group(pid);
    }
    let stdout = scrub(&String::from_utf8_lossy(&output.stdout), &run.secrets);
    let stderr = scrub(&String::from_utf8_lossy(&output.stderr), &run.secrets);
    if !output.status.success() {
        let status = match output.status.code() {
            Some(code) => format!("exit code {code}"),
            None => "a signal".to_string(),
        };
        let both = format!("{stderr}\n{stdout}");
        return Err(ToolError::Failed {
            program: name,
            status,
            output: tail(&both, 1500),
        });
    }
    let mut files = BTreeMap::new();
    for path in wanted {
        let text = safe_join(&work, path).and_then(|p| std::fs::read_to_string(p).ok());
        files.insert(path.to_string(), text);
    }
    Ok(ToolOutput {
        files,
        stdout,
        stderr,
        elapsed: started.elapsed(),
    })
}

/// `PATH` for the tool: its own directory first (a virtualenv's `bin`, where its Python is),
/// then the system's.
fn tool_path(program: &Path) -> String {
    let mut dirs: Vec<String> = Vec::new();
    if let Some(dir) = program.parent() {
        dirs.push(dir.display().to_string());
    }
    dirs.extend(
        ["/usr/local/bin", "/usr/bin", "/bin"]
            .iter()
            .map(|s| s.to_string()),
    );
    dirs.join(":")
}

fn kill_group(pid: u32) {
    let Ok(pid) = i32::try_from(pid) else { return };
    if pid <= 1 {
        return;
    }
    // SAFETY: kill(2) with a negative pid signals the process group the child leads
    // (`process_group(0)` made it a group leader); it touches no memory of ours.
    unsafe {
        libc::kill(-pid, libc::SIGKILL);
    }
}

/// `base/rel` when `rel` stays inside `base` (no absolute paths, no `..`).
fn safe_join(base: &Path, rel: &str) -> Option<PathBuf> {
    let mut out = base.to_path_buf();
    for part in rel.split('/') {
        match part {
            "" | "." => {}
            ".." => return None,
            p if p.contains('\\') || p.contains('\0') => return None,
            p => out.push(p),
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str, timeout: Duration) -> ToolRun {
        ToolRun {
            program: PathBuf::from("sh"),
            args: vec!["-c".into(), script.into()],
            timeout,
            ..ToolRun::default()
        }
    }

    #[tokio::test]
    async fn the_environment_is_scrubbed_and_files_come_back() {
        std::env::set_var("UPDATEBOT_TOOL_TEST_SECRET", "leak");
        let mut run = sh(
            "env | sort > seen.txt; cat in.txt >> seen.txt",
            Duration::from_secs(10),
        );
        run.files.insert("in.txt".into(), "hello\n".into());
        run.env
            .push(("UV_INDEX_URL".into(), "http://u:pw123@h/".into()));
        run.secrets.push(Secret::new("pw123"));
        let out = super::run(&run, &["seen.txt", "absent.txt"]).await.unwrap();
        let seen = out.files["seen.txt"].clone().unwrap();
        assert!(!seen.contains("UPDATEBOT_TOOL_TEST_SECRET"), "{seen}");
        assert!(seen.contains("HOME=/"), "{seen}");
        assert!(seen.contains("UV_INDEX_URL="), "{seen}");
        assert!(seen.ends_with("hello\n"));
        assert_eq!(out.files["absent.txt"], None);
    }

    #[tokio::test]
    async fn output_is_scrubbed_and_failures_say_why() {
        let mut run = sh("echo token pw123 >&2; exit 3", Duration::from_secs(10));
        run.secrets.push(Secret::new("pw123"));
        let err = super::run(&run, &[]).await.unwrap_err();
        let text = err.to_string();
        assert!(text.contains("exit code 3"), "{text}");
        assert!(text.contains("token ***"), "{text}");
        assert!(!text.contains("pw123"), "{text}");
    }

    #[tokio::test]
    async fn a_run_over_its_time_is_killed() {
        let started = Instant::now();
        let err = super::run(&sh("sleep 30 & sleep 30", Duration::from_millis(300)), &[])
            .await
            .unwrap_err();
        assert!(matches!(err, ToolError::Timeout { .. }), "{err}");
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[tokio::test]
    async fn missing_programs_and_escaping_files_are_refused() {
        let run = ToolRun {
            program: PathBuf::from("updatebot-no-such-tool"),
            timeout: Duration::from_secs(1),
            ..ToolRun::default()
        };
        assert!(matches!(
            super::run(&run, &[]).await.unwrap_err(),
            ToolError::Missing { .. }
        ));
        let mut run = sh("true", Duration::from_secs(5));
        run.files.insert("../escape".into(), "x".into());
        assert!(matches!(
            super::run(&run, &[]).await.unwrap_err(),
            ToolError::Io { .. }
        ));
    }

    #[test]
    fn credentials_go_into_the_url_only_when_asked() {
        let index = IndexAccess {
            url: "http://127.0.0.1:3141/root/test/+simple/".into(),
            auth: Some(Auth::Basic {
                username: "bot".into(),
                password: Secret::new("p@ss"),
            }),
        };
        assert_eq!(
            index.url_with_credentials(),
            "http://bot:p%40ss@127.0.0.1:3141/root/test/+simple/"
        );
        assert_eq!(
            scrub("see p%40ss and p@ss", &index.secrets()),
            "see *** and ***"
        );
    }
}

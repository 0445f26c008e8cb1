//! Real bare git repositories. Objects and loose refs on the hot paths are read and written
//! in-process (`objects`, `refs`, `native`), byte for byte as git stores them; everything
//! else, and every case those modules are not sure about, runs the `git` CLI (plumbing only).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::objects::{self, Signature};
use crate::{native, refs};

static INDEX_SEQ: AtomicU64 = AtomicU64::new(0);

/// A name and e-mail for commits.
#[derive(Debug, Clone)]
pub struct Ident {
    pub name: String,
    pub email: String,
}

/// One entry of a tree listing.
#[derive(Debug, Clone)]
pub struct TreeEntry {
    pub mode: String,
    pub kind: String,
    pub sha: String,
    pub path: String,
}

/// A commit as `git log` describes it.
#[derive(Debug, Clone)]
pub struct CommitInfo {
    pub sha: String,
    pub parents: Vec<String>,
    pub author_name: String,
    pub author_email: String,
    pub author_time: i64,
    pub committer_name: String,
    pub committer_email: String,
    pub committer_time: i64,
    pub message: String,
}

impl CommitInfo {
    pub fn title(&self) -> String {
        self.message.lines().next().unwrap_or("").to_string()
    }
}

use crate::refs::is_full_sha;

/// Commits known to exist, per repository (git never changes or, here, drops an object).
fn known_commits() -> &'static std::sync::Mutex<std::collections::HashSet<(PathBuf, String)>> {
    static KNOWN: std::sync::OnceLock<
        std::sync::Mutex<std::collections::HashSet<(PathBuf, String)>>,
    > = std::sync::OnceLock::new();
    KNOWN.get_or_init(Default::default)
}

/// Answers of git reads that cannot change (see `Repo::run`).
fn answers() -> &'static std::sync::Mutex<std::collections::HashMap<String, Output>> {
    static ANSWERS: std::sync::OnceLock<
        std::sync::Mutex<std::collections::HashMap<String, Output>>,
    > = std::sync::OnceLock::new();
    ANSWERS.get_or_init(Default::default)
}

fn known_commit(dir: &Path, sha: &str) -> bool {
    known_commits()
        .lock()
        .map(|k| k.contains(&(dir.to_path_buf(), sha.to_string())))
        .unwrap_or(false)
}

fn remember_commit(dir: &Path, sha: &str) {
    if let Ok(mut k) = known_commits().lock() {
        k.insert((dir.to_path_buf(), sha.to_string()));
    }
}

/// With `FAKE_GITLAB_GIT_TRACE=FILE`, one line per git process started (its arguments) is
/// appended to FILE, to see which reads and writes cost processes.
fn trace(args: &[&str]) {
    static FILE: std::sync::OnceLock<Option<std::sync::Mutex<std::fs::File>>> =
        std::sync::OnceLock::new();
    let file = FILE.get_or_init(|| {
        let path = std::env::var_os("FAKE_GITLAB_GIT_TRACE")?;
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .ok()
            .map(std::sync::Mutex::new)
    });
    if let Some(Ok(mut f)) = file.as_ref().map(|f| f.lock()) {
        let _ = writeln!(f, "{}", args.join(" ").replace('\n', " "));
    }
}

/// The flat content of a commit's tree: path → (mode, blob sha).
pub type FlatTree = BTreeMap<String, (String, String)>;

#[derive(Debug, Clone)]
pub struct Repo {
    pub dir: PathBuf,
}

fn command(dir: &Path) -> Command {
    let mut cmd = Command::new("git");
    cmd.current_dir(dir)
        .env("GIT_DIR", dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env_remove("GIT_INDEX_FILE")
        .env_remove("GIT_WORK_TREE")
        .stdin(Stdio::null());
    cmd
}

impl Repo {
    /// `git init --bare` with `main` (or `default_branch`) as HEAD.
    pub fn init(dir: &Path, default_branch: &str) -> Repo {
        std::fs::create_dir_all(dir).expect("create repo dir");
        trace(&["init", "--bare"]);
        let out = Command::new("git")
            .arg("init")
            .arg("--bare")
            .arg("--quiet")
            .arg(format!("--initial-branch={default_branch}"))
            .arg(dir)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .output()
            .expect("run git init");
        assert!(
            out.status.success(),
            "git init: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Repo {
            dir: dir.to_path_buf(),
        }
    }

    pub(crate) fn run(&self, args: &[&str], stdin: Option<&[u8]>, env: &[(&str, &str)]) -> Output {
        // Reads naming only objects (full shas, `sha^{tree}`, `sha:path`; paths after `--`)
        // always give the same answer: asked once per repository.
        let immutable = stdin.is_none()
            && env.is_empty()
            && matches!(
                args.first(),
                Some(&("ls-tree" | "cat-file" | "diff" | "merge-base" | "show" | "log"))
            )
            && {
                let mut revs = args[1..].iter().take_while(|a| **a != "--");
                revs.all(|a| {
                    a.starts_with('-')
                        || matches!(*a, "blob" | "tree" | "commit")
                        || a.get(..40).is_some_and(is_full_sha)
                            && (a.len() == 40 || a[40..].starts_with(['^', ':']))
                })
            };
        let key = immutable.then(|| {
            let mut key = self.dir.to_string_lossy().into_owned();
            for a in args {
                key.push('\0');
                key.push_str(a);
            }
            key
        });
        if let Some(key) = &key {
            if let Some(out) = answers().lock().ok().and_then(|m| m.get(key).cloned()) {
                return out;
            }
        }
        let out = self.run_git(args, stdin, env);
        if let Some(key) = key {
            if let Ok(mut m) = answers().lock() {
                m.insert(key, out.clone());
            }
        }
        out
    }

    fn run_git(&self, args: &[&str], stdin: Option<&[u8]>, env: &[(&str, &str)]) -> Output {
        trace(args);
        let mut cmd = command(&self.dir);
        cmd.args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        match stdin {
            None => cmd.output().expect("run git"),
            Some(input) => {
                cmd.stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped());
                let mut child = cmd.spawn().expect("spawn git");
                {
                    let mut sin = child.stdin.take().expect("stdin");
                    sin.write_all(input).expect("write git stdin");
                }
                child.wait_with_output().expect("wait git")
            }
        }
    }

    /// Run git and return stdout; panic on failure (for operations that must work).
    fn must(&self, args: &[&str], stdin: Option<&[u8]>, env: &[(&str, &str)]) -> Vec<u8> {
        let out = self.run(args, stdin, env);
        assert!(
            out.status.success(),
            "git {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    fn must_str(&self, args: &[&str]) -> String {
        String::from_utf8_lossy(&self.must(args, None, &[]))
            .trim()
            .to_string()
    }

    /// Is `sha` a commit of this repository? Known ones, then loose objects, without git.
    fn is_commit(&self, sha: &str) -> bool {
        if known_commit(&self.dir, sha) {
            return true;
        }
        let yes = native::kind(&self.dir, sha).as_deref() == Some("commit");
        if yes {
            remember_commit(&self.dir, sha);
        }
        yes
    }

    /// Resolve a revision to a commit sha. Full commit shas and plain branch refs are answered
    /// without running git when that is exact (objects never change; the fake never packs
    /// refs), which keeps fleet-sized runs from spending their time starting git.
    pub fn resolve_commit(&self, rev: &str) -> Option<String> {
        if rev.is_empty() || rev.starts_with('-') {
            return None;
        }
        if is_full_sha(rev) && self.is_commit(rev) {
            return Some(rev.to_string());
        }
        if rev.starts_with("refs/heads/") {
            match refs::read(&self.dir, rev) {
                Some(Some(sha)) if self.is_commit(&sha) => return Some(sha),
                Some(None) => return None,
                _ => {}
            }
        }
        if rev.starts_with("refs/tags/") && refs::read(&self.dir, rev) == Some(None) {
            return None;
        }
        let spec = format!("{rev}^{{commit}}");
        let out = self.run(
            &[
                "rev-parse",
                "--verify",
                "--quiet",
                "--end-of-options",
                &spec,
            ],
            None,
            &[],
        );
        if !out.status.success() {
            return None;
        }
        let s = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if is_full_sha(&s) {
            remember_commit(&self.dir, &s);
        }
        (!s.is_empty()).then_some(s)
    }

    /// Resolve a ref the way GitLab does for `ref` parameters: a branch, a tag or a sha.
    pub fn resolve_ref(&self, git_ref: &str) -> Option<String> {
        if let Some(sha) = self.branch_sha(git_ref) {
            return Some(sha);
        }
        if let Some(sha) = self.resolve_commit(&format!("refs/tags/{git_ref}")) {
            return Some(sha);
        }
        if git_ref.len() >= 7 && git_ref.chars().all(|c| c.is_ascii_hexdigit()) {
            return self.resolve_commit(git_ref);
        }
        None
    }

    pub fn branch_sha(&self, name: &str) -> Option<String> {
        if name.is_empty() {
            return None;
        }
        self.resolve_commit(&format!("refs/heads/{name}"))
    }

    /// All branches, sorted by name: (name, sha).
    pub fn branches(&self) -> Vec<(String, String)> {
        if let Some(list) = refs::list(&self.dir, "refs/heads/") {
            return list;
        }
        let out = self.must_str(&[
            "for-each-ref",
            "--format=%(refname:lstrip=2)%09%(objectname)",
            "refs/heads/",
        ]);
        let mut v: Vec<(String, String)> = out
            .lines()
            .filter_map(|l| l.split_once('\t'))
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        v.sort();
        v
    }

    pub fn valid_branch_name(&self, name: &str) -> bool {
        if let Some(valid) = refs::valid_branch_name(name) {
            return valid;
        }
        let out = self.run(&["check-ref-format", "--branch", name], None, &[]);
        out.status.success() && !name.starts_with('-')
    }

    /// Create or move a branch. `old` = Some(sha) checks the current value (compare-and-swap).
    pub fn set_branch(&self, name: &str, new: &str, old: Option<&str>) -> bool {
        let r = format!("refs/heads/{name}");
        if self.is_commit(new) {
            if let Some(done) = refs::write(&self.dir, &r, new, old) {
                return done;
            }
        }
        let mut args = vec!["update-ref", r.as_str(), new];
        if let Some(o) = old {
            args.push(o);
        }
        self.run(&args, None, &[]).status.success()
    }

    pub fn delete_branch(&self, name: &str) -> bool {
        let r = format!("refs/heads/{name}");
        if let Some(done) = refs::delete(&self.dir, &r) {
            return done;
        }
        self.run(&["update-ref", "-d", &r], None, &[])
            .status
            .success()
    }

    /// Point HEAD at a branch (the default branch).
    pub fn set_head(&self, branch: &str) {
        let r = format!("refs/heads/{branch}");
        let head = std::fs::read_to_string(self.dir.join("HEAD")).unwrap_or_default();
        if head != format!("ref: {r}\n") {
            self.must(&["symbolic-ref", "HEAD", &r], None, &[]);
        }
    }

    /// The flat tree of a commit (blobs and submodules only).
    pub fn flat_tree(&self, commit: &str) -> FlatTree {
        if let Some(tree) = native::flat_tree(&self.dir, commit) {
            return tree;
        }
        let out = self.must(&["ls-tree", "-r", "-z", "--full-tree", commit], None, &[]);
        let mut map = BTreeMap::new();
        for rec in out.split(|b| *b == 0).filter(|r| !r.is_empty()) {
            if let Some(e) = parse_ls_tree_record(rec, "") {
                map.insert(e.path, (e.mode, e.sha));
            }
        }
        map
    }

    /// List a tree (the root or `path`) at `commit`; `None` if `path` is not a directory.
    pub fn ls_tree(&self, commit: &str, path: &str, recursive: bool) -> Option<Vec<TreeEntry>> {
        let path = path.trim_matches('/');
        if let Some(list) = native::ls_tree(&self.dir, commit, path, recursive) {
            return list;
        }
        let spec = if path.is_empty() {
            format!("{commit}^{{tree}}")
        } else {
            format!("{commit}:{path}")
        };
        let kind = self.run(&["cat-file", "-t", &spec], None, &[]);
        if !kind.status.success() || String::from_utf8_lossy(&kind.stdout).trim() != "tree" {
            return None;
        }
        let mut args = vec!["ls-tree", "-z"];
        if recursive {
            args.push("-r");
            args.push("-t");
        }
        args.push(&spec);
        let out = self.must(&args, None, &[]);
        let prefix = if path.is_empty() {
            String::new()
        } else {
            format!("{path}/")
        };
        Some(
            out.split(|b| *b == 0)
                .filter(|r| !r.is_empty())
                .filter_map(|r| parse_ls_tree_record(r, &prefix))
                .collect(),
        )
    }

    /// The entry at `path` in `commit`.
    pub fn entry(&self, commit: &str, path: &str) -> Option<TreeEntry> {
        let path = path.trim_matches('/');
        if path.is_empty() {
            return None;
        }
        if let Some(entry) = native::entry(&self.dir, commit, path) {
            return entry;
        }
        let out = self.run(
            &["ls-tree", "-z", "--full-tree", commit, "--", path],
            None,
            &[],
        );
        if !out.status.success() {
            return None;
        }
        out.stdout
            .split(|b| *b == 0)
            .filter(|r| !r.is_empty())
            .filter_map(|r| parse_ls_tree_record(r, ""))
            .find(|e| e.path == path)
    }

    pub fn read_blob(&self, sha: &str) -> Vec<u8> {
        if let Some(("blob", content)) = objects::read(&self.dir, sha)
            .as_ref()
            .map(|(k, c)| (k.as_str(), c))
        {
            return content.clone();
        }
        self.must(&["cat-file", "blob", sha], None, &[])
    }

    /// Write a blob, return its sha.
    pub fn write_blob(&self, content: &[u8]) -> String {
        if let Ok(sha) = objects::write(&self.dir, "blob", content) {
            return sha;
        }
        String::from_utf8_lossy(&self.must(&["hash-object", "-w", "--stdin"], Some(content), &[]))
            .trim()
            .to_string()
    }

    /// Write a tree from a flat map, return its sha.
    pub fn write_tree(&self, files: &FlatTree) -> String {
        if let Some(tree) = self.write_tree_native(files) {
            return tree;
        }
        self.write_tree_git(files)
    }

    /// The trees written in-process, when every blob they name is stored loose (git's
    /// `write-tree` refuses missing objects: that case, and every other unusual one, is git's).
    fn write_tree_native(&self, files: &FlatTree) -> Option<String> {
        let (root, trees) = objects::build_trees(files)?;
        let blobs_present = files.values().all(|(mode, sha)| {
            mode == "160000" || native::kind(&self.dir, sha).as_deref() == Some("blob")
        });
        if !blobs_present {
            return None;
        }
        for (_, content) in &trees {
            objects::write(&self.dir, "tree", content).ok()?;
        }
        Some(root)
    }

    fn write_tree_git(&self, files: &FlatTree) -> String {
        let n = INDEX_SEQ.fetch_add(1, Ordering::Relaxed);
        let index = self
            .dir
            .join(format!("fake-index-{}-{n}", std::process::id()));
        let index_s = index.to_string_lossy().to_string();
        let env = [("GIT_INDEX_FILE", index_s.as_str())];
        let mut info = Vec::new();
        for (path, (mode, sha)) in files {
            info.extend_from_slice(format!("{mode} {sha}\t{path}").as_bytes());
            info.push(0);
        }
        self.must(&["read-tree", "--empty"], None, &env);
        self.must(&["update-index", "-z", "--index-info"], Some(&info), &env);
        let tree = String::from_utf8_lossy(&self.must(&["write-tree"], None, &env))
            .trim()
            .to_string();
        let _ = std::fs::remove_file(&index);
        tree
    }

    pub fn commit_tree(
        &self,
        tree: &str,
        parents: &[&str],
        message: &str,
        author: &Ident,
        author_time: Option<i64>,
        committer: &Ident,
    ) -> String {
        if let Some(sha) =
            self.commit_tree_native(tree, parents, message, author, author_time, committer)
        {
            remember_commit(&self.dir, &sha);
            return sha;
        }
        let mut args = vec!["commit-tree".to_string(), tree.to_string()];
        for p in parents {
            args.push("-p".into());
            args.push(p.to_string());
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let author_date = author_time.map(|t| format!("@{t} +0000"));
        let mut env = vec![
            ("GIT_AUTHOR_NAME", author.name.as_str()),
            ("GIT_AUTHOR_EMAIL", author.email.as_str()),
            ("GIT_COMMITTER_NAME", committer.name.as_str()),
            ("GIT_COMMITTER_EMAIL", committer.email.as_str()),
        ];
        if let Some(d) = &author_date {
            env.push(("GIT_AUTHOR_DATE", d.as_str()));
        }
        String::from_utf8_lossy(&self.must(&args, Some(message.as_bytes()), &env))
            .trim()
            .to_string()
    }

    fn commit_tree_native(
        &self,
        tree: &str,
        parents: &[&str],
        message: &str,
        author: &Ident,
        author_time: Option<i64>,
        committer: &Ident,
    ) -> Option<String> {
        if native::kind(&self.dir, tree).as_deref() != Some("tree")
            || !parents.iter().all(|p| self.is_commit(p))
        {
            return None;
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .ok()?
            .as_secs() as i64;
        let sig = |who: &Ident, time: i64| Signature {
            name: who.name.clone(),
            email: who.email.clone(),
            time,
        };
        let content = objects::commit_content(
            tree,
            parents,
            &sig(author, author_time.unwrap_or(now)),
            &sig(committer, now),
            message,
        )?;
        objects::write(&self.dir, "commit", &content).ok()
    }

    pub fn tree_of(&self, commit: &str) -> String {
        if let Some(c) = native::commit(&self.dir, commit) {
            return c.tree;
        }
        self.must_str(&["rev-parse", &format!("{commit}^{{tree}}")])
    }

    pub fn is_ancestor(&self, ancestor: &str, descendant: &str) -> bool {
        if let Some(yes) = native::is_ancestor(&self.dir, ancestor, descendant) {
            return yes;
        }
        self.run(
            &["merge-base", "--is-ancestor", ancestor, descendant],
            None,
            &[],
        )
        .status
        .success()
    }

    pub fn merge_base(&self, a: &str, b: &str) -> Option<String> {
        if let Some(base) = native::merge_base(&self.dir, a, b) {
            return base;
        }
        let out = self.run(&["merge-base", a, b], None, &[]);
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    /// A three-way merge without a work tree: `Ok(tree)` or `Err(conflicting paths)`.
    pub fn merge_tree(
        &self,
        base: Option<&str>,
        ours: &str,
        theirs: &str,
    ) -> Result<String, Vec<String>> {
        let mut args = vec![
            "merge-tree",
            "--write-tree",
            "-z",
            "--name-only",
            "--no-messages",
        ];
        let mb;
        if let Some(b) = base {
            mb = format!("--merge-base={b}");
            args.push(&mb);
        }
        args.push(ours);
        args.push(theirs);
        let out = self.run(&args, None, &[]);
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let mut parts = text.split('\0');
        let tree = parts.next().unwrap_or("").trim().to_string();
        match out.status.code() {
            Some(0) => Ok(tree),
            Some(1) => Err(parts
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect()),
            _ => panic!("git merge-tree: {}", String::from_utf8_lossy(&out.stderr)),
        }
    }

    /// Commits reachable from `rev` (a sha, branch or `a..b` range), newest first.
    pub fn log(&self, rev: &str, path: Option<&str>, first_parent: bool) -> Vec<CommitInfo> {
        let extra: &[&str] = if first_parent {
            &["--first-parent"]
        } else {
            &[]
        };
        self.log_with(rev, path, extra)
    }

    /// Commits of `from..to` without merges, oldest first (what a rebase replays).
    pub fn commits_to_replay(&self, from: &str, to: &str) -> Vec<CommitInfo> {
        self.log_with(
            &format!("{from}..{to}"),
            None,
            &["--reverse", "--no-merges"],
        )
    }

    fn log_with(&self, rev: &str, path: Option<&str>, extra: &[&str]) -> Vec<CommitInfo> {
        if let Some(list) = self.log_native(rev, path, extra) {
            return list;
        }
        let mut args = vec![
            "log",
            "-z",
            "--format=%H%x1f%P%x1f%an%x1f%ae%x1f%at%x1f%cn%x1f%ce%x1f%ct%x1f%B",
        ];
        args.extend_from_slice(extra);
        args.push(rev);
        args.push("--");
        if let Some(p) = path {
            args.push(p);
        }
        let out = self.run(&args, None, &[]);
        if !out.status.success() {
            return Vec::new();
        }
        String::from_utf8_lossy(&out.stdout)
            .split('\0')
            .filter(|r| !r.trim().is_empty())
            .filter_map(parse_commit_record)
            .collect()
    }

    /// `log_with` in-process: full shas only, no path, and history git orders as one line.
    fn log_native(&self, rev: &str, path: Option<&str>, extra: &[&str]) -> Option<Vec<CommitInfo>> {
        if path.is_some() {
            return None;
        }
        let (exclude, tip) = match rev.split_once("..") {
            Some((a, b)) => (Some(a), b),
            None => (None, rev),
        };
        if !is_full_sha(tip) || !exclude.is_none_or(is_full_sha) {
            return None;
        }
        let mut list = match extra {
            [] => native::log_line(&self.dir, tip, exclude, false)?,
            ["--first-parent"] if exclude.is_none() => {
                native::log_line(&self.dir, tip, None, true)?
            }
            // A line has no merges to leave out.
            ["--reverse", "--no-merges"] => native::log_line(&self.dir, tip, exclude, false)?,
            _ => return None,
        };
        if extra.first() == Some(&"--reverse") {
            list.reverse();
        }
        Some(list)
    }

    pub fn commit_info(&self, sha: &str) -> Option<CommitInfo> {
        let full = self.resolve_commit(sha)?;
        if let Some(info) = native::commit_info(&self.dir, &full) {
            return Some(info);
        }
        let out = self.run(
            &[
                "show",
                "-s",
                "-z",
                "--format=%H%x1f%P%x1f%an%x1f%ae%x1f%at%x1f%cn%x1f%ce%x1f%ct%x1f%B",
                &full,
            ],
            None,
            &[],
        );
        if !out.status.success() {
            return None;
        }
        String::from_utf8_lossy(&out.stdout)
            .split('\0')
            .find(|r| !r.trim().is_empty())
            .and_then(parse_commit_record)
    }

    /// The last commit at or before `commit` that touched `path`.
    pub fn last_commit_for_path(&self, commit: &str, path: &str) -> Option<String> {
        if let Some(found) = native::last_commit_for_path(&self.dir, commit, path) {
            return found;
        }
        let out = self.run(&["log", "-1", "--format=%H", commit, "--", path], None, &[]);
        let s = String::from_utf8_lossy(&out.stdout).trim().to_string();
        (!s.is_empty()).then_some(s)
    }
}

fn parse_ls_tree_record(rec: &[u8], prefix: &str) -> Option<TreeEntry> {
    let s = String::from_utf8_lossy(rec);
    let (meta, path) = s.split_once('\t')?;
    let mut m = meta.split(' ');
    Some(TreeEntry {
        mode: m.next()?.to_string(),
        kind: m.next()?.to_string(),
        sha: m.next()?.to_string(),
        path: format!("{prefix}{path}"),
    })
}

fn parse_commit_record(rec: &str) -> Option<CommitInfo> {
    let rec = rec.trim_start_matches('\n');
    let f: Vec<&str> = rec.splitn(9, '\x1f').collect();
    if f.len() < 9 {
        return None;
    }
    Some(CommitInfo {
        sha: f[0].to_string(),
        parents: f[1].split_whitespace().map(str::to_string).collect(),
        author_name: f[2].to_string(),
        author_email: f[3].to_string(),
        author_time: f[4].parse().unwrap_or(0),
        committer_name: f[5].to_string(),
        committer_email: f[6].to_string(),
        committer_time: f[7].parse().unwrap_or(0),
        message: f[8].trim_end_matches('\n').to_string(),
    })
}

#![recursion_limit = "256"]
//! A stateful fake of GitLab's REST API v4, backed by real bare git repositories.
//!
//! Tests start it in-process ([`FakeGitlab::start`]), seed users, groups and projects through
//! the programmatic API, point the client under test at [`FakeGitlab::url`], and inspect the
//! resulting state (branches, files, merge requests, notes, recorded requests). Request and
//! response shapes, status codes and error bodies follow GitLab's documentation, so that a
//! client sending a wrong parameter name or missing a required field fails like it would
//! against GitLab. See the crate README for the deviations.

mod api;
mod diff;
mod git;
mod http;
mod native;
mod numstat;
mod objects;
mod params;
mod refs;
mod state;
#[cfg(test)]
mod store_tests;
mod time;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::body::{to_bytes, Body};
use axum::extract::Request;
use axum::response::Response;
use axum::Router;
use percent_encoding::percent_decode_str;

use crate::git::{Ident, Repo};
use crate::http::{ApiError, Req, Resp};
use crate::params::{parse_form, Params};
use crate::state::{MrState, NoteRec, NsKind, ProjectRec, State, UserRec};

/// Access levels, as GitLab numbers them.
pub mod access {
    pub const GUEST: u32 = 10;
    pub const REPORTER: u32 = 20;
    pub const DEVELOPER: u32 = 30;
    pub const MAINTAINER: u32 = 40;
    pub const OWNER: u32 = 50;
}

/// A user and its personal access token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: u64,
    pub username: String,
    pub token: String,
}

/// A project's merge method (`merge_method` in the project settings).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MergeMethod {
    /// Merge commit: behind-but-clean merge requests stay `mergeable` (GitLab's own default).
    Merge,
    /// Merge commit with semi-linear history: behind merge requests are `need_rebase`
    /// (the fake's default, so that a moved target shows up in `detailed_merge_status`).
    #[default]
    RebaseMerge,
    /// Fast-forward merge: behind merge requests are `need_rebase`; merging moves the target.
    FastForward,
}

impl MergeMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            MergeMethod::Merge => "merge",
            MergeMethod::RebaseMerge => "rebase_merge",
            MergeMethod::FastForward => "ff",
        }
    }
}

/// Options for [`FakeGitlab::add_project_with`].
#[derive(Debug, Clone)]
pub struct ProjectOptions {
    pub namespace: String,
    pub name: String,
    pub files: Vec<(String, Vec<u8>)>,
    pub default_branch: String,
    pub archived: bool,
    pub topics: Vec<String>,
    pub merge_method: MergeMethod,
    /// The default branch accepts pushes (and merges) from Maintainers only, as GitLab's
    /// default branch protection does. On by default.
    pub protect_default_branch: bool,
    pub description: String,
}

impl ProjectOptions {
    pub fn new(namespace: &str, name: &str) -> ProjectOptions {
        ProjectOptions {
            namespace: namespace.to_string(),
            name: name.to_string(),
            files: Vec::new(),
            default_branch: "main".into(),
            archived: false,
            topics: Vec::new(),
            merge_method: MergeMethod::default(),
            protect_default_branch: true,
            description: String::new(),
        }
    }

    pub fn files(mut self, files: &[(&str, &str)]) -> Self {
        self.files = files
            .iter()
            .map(|(p, c)| (p.to_string(), c.as_bytes().to_vec()))
            .collect();
        self
    }

    pub fn file_bytes(mut self, path: &str, content: &[u8]) -> Self {
        self.files.push((path.to_string(), content.to_vec()));
        self
    }

    pub fn default_branch(mut self, branch: &str) -> Self {
        self.default_branch = branch.to_string();
        self
    }

    pub fn archived(mut self, archived: bool) -> Self {
        self.archived = archived;
        self
    }

    pub fn topics(mut self, topics: &[&str]) -> Self {
        self.topics = topics.iter().map(|t| t.to_string()).collect();
        self
    }

    pub fn merge_method(mut self, method: MergeMethod) -> Self {
        self.merge_method = method;
        self
    }

    pub fn protect_default_branch(mut self, on: bool) -> Self {
        self.protect_default_branch = on;
        self
    }

    pub fn description(mut self, d: &str) -> Self {
        self.description = d.to_string();
        self
    }
}

/// An issue as the fake holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct IssueView {
    pub iid: u64,
    pub title: String,
    pub description: String,
    /// `opened` or `closed`.
    pub state: String,
    pub author_id: u64,
    pub labels: Vec<String>,
}

/// A merge request as the fake holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct MergeRequestView {
    pub id: u64,
    pub iid: u64,
    /// `opened`, `closed`, `merged` or `locked`.
    pub state: String,
    pub source_branch: String,
    pub target_branch: String,
    pub title: String,
    pub description: String,
    pub labels: Vec<String>,
    pub assignee_ids: Vec<u64>,
    pub reviewer_ids: Vec<u64>,
    pub milestone_id: Option<u64>,
    pub squash: bool,
    /// `force_remove_source_branch` (the `remove_source_branch` parameter).
    pub remove_source_branch: bool,
    pub author_id: u64,
    /// Head of the source branch (the last one seen once merged or the branch is gone).
    pub sha: String,
    pub merge_commit_sha: Option<String>,
    pub detailed_merge_status: String,
    pub merge_error: Option<String>,
}

/// A note on a merge request.
#[derive(Debug, Clone, PartialEq)]
pub struct NoteView {
    pub id: u64,
    /// The author's username (empty when the author is unknown).
    pub author: String,
    pub body: String,
    pub system: bool,
    pub award_emoji: Vec<String>,
}

/// A commit on a branch.
#[derive(Debug, Clone, PartialEq)]
pub struct CommitView {
    pub sha: String,
    pub parents: Vec<String>,
    pub title: String,
    pub message: String,
    pub author_name: String,
    pub author_email: String,
    pub committer_name: String,
}

/// One request as received.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub method: String,
    /// The path as sent (percent-encoding kept).
    pub path: String,
    /// The raw query string (without `?`).
    pub query: String,
    pub body: Vec<u8>,
    /// Every header, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// The status the fake answered.
    pub status: u16,
}

impl RecordedRequest {
    pub fn body_str(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The path with percent-encoding decoded.
    pub fn decoded_path(&self) -> String {
        percent_decode_str(&self.path)
            .decode_utf8_lossy()
            .into_owned()
    }

    pub fn is_mutating(&self) -> bool {
        matches!(self.method.as_str(), "POST" | "PUT" | "DELETE" | "PATCH")
    }
}

/// A fault to inject: requests matching `method` (any when None) whose path (raw or
/// decoded) contains `path_contains` answer `status` with `body`, `times` times.
#[derive(Debug, Clone)]
pub struct Failure {
    pub method: Option<String>,
    pub path_contains: String,
    pub status: u16,
    /// Empty = GitLab's generic body for the status, e.g. `{"message":"500 Internal Server Error"}`.
    pub body: String,
    pub times: usize,
    /// Process the request first, then answer the error (the change happened but the client
    /// does not know: a lost response).
    pub after: bool,
}

impl Failure {
    pub fn new(path_contains: &str, status: u16) -> Failure {
        Failure {
            method: None,
            path_contains: path_contains.to_string(),
            status,
            body: String::new(),
            times: 1,
            after: false,
        }
    }

    pub fn method(mut self, method: &str) -> Self {
        self.method = Some(method.to_ascii_uppercase());
        self
    }

    pub fn body(mut self, body: &str) -> Self {
        self.body = body.to_string();
        self
    }

    pub fn times(mut self, times: usize) -> Self {
        self.times = times;
        self
    }

    pub fn after_processing(mut self) -> Self {
        self.after = true;
        self
    }
}

type Shared = Arc<Mutex<State>>;

struct Inner {
    state: Shared,
    url: String,
    shutdown: Mutex<Option<tokio::sync::oneshot::Sender<()>>>,
    _dir: Option<tempfile::TempDir>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.lock().map(|mut g| g.take()).ok().flatten() {
            let _ = tx.send(());
        }
    }
}

/// The fake GitLab. Cheap to clone; the server stops when the last clone is dropped.
#[derive(Clone)]
pub struct FakeGitlab {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for FakeGitlab {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeGitlab")
            .field("url", &self.inner.url)
            .finish()
    }
}

fn random_token() -> String {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-";
    let mut out = String::from("glpat-");
    let mut n = 0u64;
    while out.len() < 26 {
        let mut h = RandomState::new().build_hasher();
        h.write_u64(n);
        let v = h.finish();
        for i in 0..8 {
            if out.len() < 26 {
                out.push(ALPHABET[((v >> (i * 8)) & 63) as usize] as char);
            }
        }
        n += 1;
    }
    out
}

impl FakeGitlab {
    /// Bind `127.0.0.1:0` and serve in the background (on its own runtime thread, so it
    /// works under any test runtime flavour).
    pub async fn start() -> FakeGitlab {
        Self::start_blocking()
    }

    /// [`FakeGitlab::start`] for synchronous code.
    pub fn start_blocking() -> FakeGitlab {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), None)
    }

    /// Serve on `addr`, keeping repositories under `root` (a temporary folder when None).
    pub fn start_on(addr: SocketAddr, root: Option<PathBuf>) -> FakeGitlab {
        let (dir, root) = match root {
            Some(r) => (None, r),
            None => {
                let d = tempfile::Builder::new()
                    .prefix("fake-gitlab-")
                    .tempdir()
                    .expect("temp dir");
                let p = d.path().to_path_buf();
                (Some(d), p)
            }
        };
        let state: Shared = Arc::new(Mutex::new(State::new(root)));
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let shared = state.clone();
        std::thread::Builder::new()
            .name("fake-gitlab".into())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .expect("runtime");
                rt.block_on(async move {
                    let listener = match tokio::net::TcpListener::bind(addr).await {
                        Ok(l) => l,
                        Err(e) => {
                            let _ = addr_tx.send(Err(e.to_string()));
                            return;
                        }
                    };
                    let _ = addr_tx.send(Ok(listener.local_addr().expect("local addr")));
                    let app = Router::new().fallback(handle).with_state(shared);
                    let _ = axum::serve(listener, app)
                        .with_graceful_shutdown(async move {
                            let _ = stop_rx.await;
                        })
                        .await;
                });
            })
            .expect("spawn server thread");
        let local = addr_rx
            .recv()
            .expect("server thread")
            .unwrap_or_else(|e| panic!("fake-gitlab: cannot bind {addr}: {e}"));
        let url = format!("http://{local}");
        state.lock().expect("state").base_url = url.clone();
        FakeGitlab {
            inner: Arc::new(Inner {
                state,
                url,
                shutdown: Mutex::new(Some(stop_tx)),
                _dir: dir,
            }),
        }
    }

    fn st(&self) -> MutexGuard<'_, State> {
        self.inner
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// `http://127.0.0.1:PORT` (the API is under `/api/v4`).
    pub fn url(&self) -> String {
        self.inner.url.clone()
    }

    /// `127.0.0.1:PORT`, the form `gitlab::GitlabBuilder::new(host, token).insecure()` takes.
    pub fn host(&self) -> String {
        self.inner.url.trim_start_matches("http://").to_string()
    }

    /// A user with a fresh personal access token.
    pub fn add_user(&self, username: &str) -> User {
        self.add_user_with_token(username, &random_token())
    }

    /// A user with a chosen token.
    pub fn add_user_with_token(&self, username: &str, token: &str) -> User {
        let mut st = self.st();
        assert!(
            st.user_by_name(username).is_none(),
            "user {username} already exists"
        );
        let id = st.id();
        let ns = st.id();
        let now = st.now();
        st.users.insert(
            id,
            UserRec {
                id,
                username: username.to_string(),
                name: username.to_string(),
                email: format!("{username}@example.com"),
                token: token.to_string(),
                created_at: now,
            },
        );
        st.namespaces.insert(
            ns,
            state::Namespace {
                id: ns,
                name: username.to_string(),
                path: username.to_string(),
                full_path: username.to_string(),
                parent_id: None,
                kind: NsKind::User(id),
                members: BTreeMap::new(),
                created_at: now,
            },
        );
        User {
            id,
            username: username.to_string(),
            token: token.to_string(),
        }
    }

    /// A group (parents are created as needed: `org/sub`). Returns its id.
    pub fn add_group(&self, full_path: &str) -> u64 {
        self.st().ensure_group(full_path)
    }

    /// Make a user a member of a group (inherited by its subgroups and projects).
    pub fn add_group_member(&self, group: u64, user_id: u64, access_level: u32) {
        let mut st = self.st();
        st.namespaces
            .get_mut(&group)
            .expect("group")
            .members
            .insert(user_id, access_level);
    }

    /// A project with default options: branch `main`, one initial commit holding `files`.
    pub fn add_project(&self, namespace_path: &str, name: &str, files: &[(&str, &str)]) -> u64 {
        self.add_project_with(ProjectOptions::new(namespace_path, name).files(files))
    }

    pub fn add_project_with(&self, opts: ProjectOptions) -> u64 {
        let mut st = self.st();
        let ns = match st.namespace_by_path(&opts.namespace) {
            Some(id) => id,
            None => st.ensure_group(&opts.namespace),
        };
        let id = st.id();
        let now = st.now();
        let path = opts.name.to_lowercase().replace(
            |c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.'),
            "-",
        );
        let dir = st.root.join(format!("{id}-{path}.git"));
        let repo = Repo::init(&dir, &opts.default_branch);
        st.projects.insert(
            id,
            ProjectRec {
                id,
                name: opts.name.clone(),
                path,
                namespace_id: ns,
                description: opts.description.clone(),
                default_branch: opts.default_branch.clone(),
                archived: opts.archived,
                topics: opts.topics.clone(),
                merge_method: opts.merge_method,
                protect_default_branch: opts.protect_default_branch,
                created_at: now,
                last_activity_at: now,
                members: BTreeMap::new(),
                repo: repo.clone(),
                mrs: BTreeMap::new(),
                next_mr_iid: 1,
                labels: Vec::new(),
                milestones: Vec::new(),
                issues: BTreeMap::new(),
                ci_lint: None,
                analysis_cache: Default::default(),
            },
        );
        let changes: Vec<(String, Option<Vec<u8>>)> = opts
            .files
            .iter()
            .map(|(p, c)| (p.clone(), Some(c.clone())))
            .collect();
        let admin = Ident {
            name: "Administrator".into(),
            email: "admin@example.com".into(),
        };
        let sha = st.commit_files(id, None, &changes, "Initial commit", &admin);
        repo.set_branch(&opts.default_branch, &sha, None);
        repo.set_head(&opts.default_branch);
        id
    }

    /// Add (or change) a project member: 10 Guest, 20 Reporter, 30 Developer, 40 Maintainer,
    /// 50 Owner.
    pub fn add_member(&self, project: u64, user_id: u64, access_level: u32) {
        let mut st = self.st();
        st.projects
            .get_mut(&project)
            .expect("project")
            .members
            .insert(user_id, access_level);
    }

    pub fn set_archived(&self, project: u64, archived: bool) {
        self.st()
            .projects
            .get_mut(&project)
            .expect("project")
            .archived = archived;
    }

    /// A project milestone (state `active`). Returns its id.
    pub fn add_milestone(&self, project: u64, title: &str) -> u64 {
        let mut st = self.st();
        let id = st.id();
        let now = st.now();
        let p = st.projects.get_mut(&project).expect("project");
        let iid = p.milestones.len() as u64 + 1;
        p.milestones.push(state::MilestoneRec {
            id,
            iid,
            title: title.to_string(),
            description: String::new(),
            state: "active".into(),
            created_at: now,
        });
        id
    }

    /// A project label. Returns its id.
    pub fn add_label(&self, project: u64, name: &str, color: &str) -> u64 {
        let mut st = self.st();
        let id = st.id();
        st.projects
            .get_mut(&project)
            .expect("project")
            .labels
            .push(state::LabelRec {
                id,
                name: name.to_string(),
                color: color.to_string(),
                description: None,
                priority: None,
            });
        id
    }

    /// A direct commit to `branch` (as a `git push` by a person would make): `Some(content)`
    /// writes a file, `None` deletes it. The branch is created from the default branch if
    /// missing. `author` is a username (its name and e-mail are used) or any name.
    /// Returns the new commit's sha.
    pub fn push(
        &self,
        project: u64,
        branch: &str,
        changes: &[(&str, Option<&str>)],
        author: &str,
    ) -> String {
        let changes: Vec<(String, Option<Vec<u8>>)> = changes
            .iter()
            .map(|(p, c)| (p.to_string(), c.map(|c| c.as_bytes().to_vec())))
            .collect();
        self.push_bytes(project, branch, &changes, author, None)
    }

    /// [`FakeGitlab::push`] with byte contents and an optional commit message.
    pub fn push_bytes(
        &self,
        project: u64,
        branch: &str,
        changes: &[(String, Option<Vec<u8>>)],
        author: &str,
        message: Option<&str>,
    ) -> String {
        let mut st = self.st();
        let (ident, user) = match st.user_by_name(author) {
            Some(u) => (
                Ident {
                    name: u.name.clone(),
                    email: u.email.clone(),
                },
                u.id,
            ),
            None => (
                Ident {
                    name: author.to_string(),
                    email: format!("{}@example.com", author.to_lowercase().replace(' ', ".")),
                },
                0,
            ),
        };
        let p = &st.projects[&project];
        let parent = p
            .repo
            .branch_sha(branch)
            .or_else(|| p.repo.branch_sha(&p.default_branch));
        let default_message = format!(
            "Update {}",
            changes
                .iter()
                .map(|(p, _)| p.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
        let msg = message.map(str::to_string).unwrap_or(default_message);
        let sha = st.commit_files(project, parent.as_deref(), changes, &msg, &ident);
        st.update_branch(project, branch, &sha, user);
        sha
    }

    /// Delete a branch (as a person would).
    pub fn delete_branch(&self, project: u64, branch: &str) -> bool {
        self.st().projects[&project].repo.delete_branch(branch)
    }

    /// Merge a merge request into its target with a merge commit (as a maintainer clicking
    /// "Merge" would, whatever its detailed status); state becomes `merged`. Panics when git
    /// cannot merge (conflicts, missing branch).
    pub fn merge(&self, project: u64, iid: u64) {
        let mut st = self.st();
        let mr = st.projects[&project]
            .mrs
            .get(&iid)
            .expect("merge request")
            .clone();
        let merger = st.projects[&project]
            .members
            .iter()
            .find(|(_, l)| **l >= access::MAINTAINER)
            .map(|(u, _)| *u)
            .unwrap_or(mr.author_id);
        let remove = mr.force_remove_source_branch.unwrap_or(false);
        api::merge_request_merge(&mut st, project, iid, merger, mr.squash, remove)
            .unwrap_or_else(|_| panic!("cannot merge !{iid}: conflicts or missing branch"));
    }

    /// Close a merge request (as a person would).
    pub fn close(&self, project: u64, iid: u64, by_user_id: u64) {
        let mut st = self.st();
        let now = st.now();
        let mr = st
            .projects
            .get_mut(&project)
            .and_then(|p| p.mrs.get_mut(&iid))
            .expect("merge request");
        if mr.state == MrState::Opened {
            mr.state = MrState::Closed;
            mr.closed_at = Some(now);
            mr.closed_by = Some(by_user_id);
            mr.updated_at = now;
            st.add_system_note(project, iid, by_user_id, "closed");
        }
    }

    /// A file's content at a branch, tag or sha (None if absent).
    pub fn file(&self, project: u64, git_ref: &str, path: &str) -> Option<String> {
        let st = self.st();
        let repo = &st.projects.get(&project)?.repo;
        let commit = repo.resolve_ref(git_ref)?;
        let entry = repo.entry(&commit, path).filter(|e| e.kind == "blob")?;
        Some(String::from_utf8_lossy(&repo.read_blob(&entry.sha)).into_owned())
    }

    /// Branches, sorted by name: (name, sha).
    pub fn branches(&self, project: u64) -> Vec<(String, String)> {
        self.st().projects[&project].repo.branches()
    }

    /// Commits reachable from a ref, newest first.
    pub fn log(&self, project: u64, git_ref: &str) -> Vec<CommitView> {
        let st = self.st();
        let repo = &st.projects[&project].repo;
        let Some(sha) = repo.resolve_ref(git_ref) else {
            return Vec::new();
        };
        repo.log(&sha, None, false)
            .into_iter()
            .map(|c| CommitView {
                title: c.title(),
                sha: c.sha,
                parents: c.parents,
                message: c.message,
                author_name: c.author_name,
                author_email: c.author_email,
                committer_name: c.committer_name,
            })
            .collect()
    }

    /// The bare repository of a project (to run `git` on directly).
    pub fn repo_path(&self, project: u64) -> PathBuf {
        self.st().projects[&project].repo.dir.clone()
    }

    /// Merge requests, by iid.
    pub fn merge_requests(&self, project: u64) -> Vec<MergeRequestView> {
        let mut st = self.st();
        let iids: Vec<u64> = st.projects[&project].mrs.keys().copied().collect();
        iids.into_iter()
            .map(|iid| {
                let status = api::merge_request_status(&mut st, project, iid);
                let m = &st.projects[&project].mrs[&iid];
                MergeRequestView {
                    id: m.id,
                    iid,
                    state: m.state.as_str().to_string(),
                    source_branch: m.source_branch.clone(),
                    target_branch: m.target_branch.clone(),
                    title: m.title.clone(),
                    description: m.description.clone(),
                    labels: m.labels.clone(),
                    assignee_ids: m.assignee_ids.clone(),
                    reviewer_ids: m.reviewer_ids.clone(),
                    milestone_id: m.milestone_id,
                    squash: m.squash,
                    remove_source_branch: m.force_remove_source_branch.unwrap_or(false),
                    author_id: m.author_id,
                    sha: m.last_sha.clone(),
                    merge_commit_sha: m.merge_commit_sha.clone(),
                    detailed_merge_status: status.to_string(),
                    merge_error: m.merge_error.clone(),
                }
            })
            .collect()
    }

    /// Notes on a merge request, oldest first (system notes included, flagged).
    pub fn notes(&self, project: u64, iid: u64) -> Vec<NoteView> {
        let st = self.st();
        let mr = &st.projects[&project].mrs[&iid];
        mr.notes
            .iter()
            .map(|n| NoteView {
                id: n.id,
                author: st
                    .users
                    .get(&n.author_id)
                    .map(|u| u.username.clone())
                    .unwrap_or_default(),
                body: n.body.clone(),
                system: n.system,
                award_emoji: n.awards.iter().map(|a| a.name.clone()).collect(),
            })
            .collect()
    }

    /// Award emoji names on the merge request itself.
    pub fn merge_request_awards(&self, project: u64, iid: u64) -> Vec<String> {
        let st = self.st();
        st.projects[&project].mrs[&iid]
            .awards
            .iter()
            .map(|a| a.name.clone())
            .collect()
    }

    /// A comment by a person. Returns the note id.
    pub fn add_note(&self, project: u64, iid: u64, author_user_id: u64, body: &str) -> u64 {
        let mut st = self.st();
        let id = st.id();
        let now = st.now();
        let mr = st
            .projects
            .get_mut(&project)
            .and_then(|p| p.mrs.get_mut(&iid))
            .expect("merge request");
        mr.notes.push(NoteRec {
            id,
            author_id: author_user_id,
            body: body.to_string(),
            system: false,
            created_at: now,
            updated_at: now,
            awards: Vec::new(),
        });
        mr.updated_at = now;
        id
    }

    /// Label names of a project, sorted.
    pub fn labels(&self, project: u64) -> Vec<String> {
        let st = self.st();
        let mut v: Vec<String> = st.projects[&project]
            .labels
            .iter()
            .map(|l| l.name.clone())
            .collect();
        v.sort();
        v
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.st().requests.clone()
    }

    pub fn clear_requests(&self) {
        self.st().requests.clear();
    }

    /// The project's issues, oldest first.
    pub fn issues(&self, project: u64) -> Vec<IssueView> {
        let st = self.st();
        st.projects[&project]
            .issues
            .values()
            .map(|i| IssueView {
                iid: i.iid,
                title: i.title.clone(),
                description: i.description.clone(),
                state: i.state.clone(),
                author_id: i.author_id,
                labels: i.labels.clone(),
            })
            .collect()
    }

    /// A person edits an issue's description (ticks a checkbox, say).
    pub fn set_issue_description(&self, project: u64, iid: u64, description: &str) {
        let mut st = self.st();
        let now = st.now();
        if let Some(i) = st
            .projects
            .get_mut(&project)
            .and_then(|p| p.issues.get_mut(&iid))
        {
            i.description = description.to_string();
            i.updated_at = now;
        }
    }

    /// What `GET /projects/:id/ci/lint` answers for the project (shaped as GitLab's API
    /// documentation shows it: `valid`, `errors`, `warnings`, `merged_yaml`, `includes`,
    /// `jobs`); `None`: 404.
    pub fn set_ci_lint(&self, project: u64, answer: Option<serde_json::Value>) {
        if let Some(p) = self.st().projects.get_mut(&project) {
            p.ci_lint = answer;
        }
    }

    /// Answer every request only after `latency` (None: at once).
    pub fn set_latency(&self, latency: Option<std::time::Duration>) {
        self.st().latency = latency;
    }

    /// Inject a fault (rules are tried in the order they were added).
    pub fn fail(&self, rule: Failure) {
        self.st().failures.push(rule);
    }

    pub fn clear_failures(&self) {
        let mut st = self.st();
        st.failures.clear();
        st.fail_after = None;
        st.project_errors.clear();
    }

    /// Let `n` more mutating calls (POST/PUT/PATCH/DELETE) through, then answer 500 to every
    /// later one (a crash point). `fail_after(usize::MAX)` clears it.
    pub fn fail_after(&self, n_mutating_calls: usize) {
        self.st().fail_after = (n_mutating_calls != usize::MAX).then_some(n_mutating_calls);
    }

    /// Every request for that project answers `status` (0 clears).
    pub fn set_project_error(&self, project: u64, status: u16) {
        let mut st = self.st();
        if status == 0 {
            st.project_errors.remove(&project);
        } else {
            st.project_errors.insert(project, status);
        }
    }

    /// Allow several assignees and reviewers (GitLab Premium; default true). When false, only
    /// the first one is kept, as GitLab Free does.
    pub fn set_multiple_assignees(&self, on: bool) {
        self.st().multiple_assignees = on;
    }
}

// ---- the HTTP side ----

async fn handle(
    axum::extract::State(shared): axum::extract::State<Shared>,
    req: Request,
) -> Response {
    let (parts, body) = req.into_parts();
    let latency = shared.lock().map(|st| st.latency).unwrap_or(None);
    if let Some(latency) = latency {
        tokio::time::sleep(latency).await;
    }
    let bytes = to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default()
        .to_vec();
    let resp = tokio::task::spawn_blocking(move || process(&shared, &parts, bytes))
        .await
        .unwrap_or_else(|_| ApiError::generic(500).into_resp());
    let mut builder = Response::builder().status(resp.status);
    for (k, v) in &resp.headers {
        builder = builder.header(k.as_str(), v.as_str());
    }
    builder
        .body(Body::from(resp.body))
        .unwrap_or_else(|_| Response::new(Body::empty()))
}

fn error_with_body(status: u16, body: &str) -> Resp {
    if body.is_empty() {
        ApiError::generic(status).into_resp()
    } else {
        let mut r = Resp::json(status, &serde_json::Value::Null);
        r.body = body.as_bytes().to_vec();
        r
    }
}

fn process(shared: &Shared, parts: &axum::http::request::Parts, body: Vec<u8>) -> Resp {
    let mut st = shared.lock().unwrap_or_else(|p| p.into_inner());
    let method = parts.method.as_str().to_ascii_uppercase();
    let raw_path = parts.uri.path().to_string();
    let raw_query = parts.uri.query().unwrap_or("").to_string();
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let index = st.requests.len();
    st.requests.push(RecordedRequest {
        method: method.clone(),
        path: raw_path.clone(),
        query: raw_query.clone(),
        body: body.clone(),
        headers: headers.clone(),
        status: 0,
    });
    let resp = process_inner(&mut st, &method, &raw_path, &raw_query, &headers, &body);
    st.requests[index].status = resp.status;
    resp
}

fn process_inner(
    st: &mut State,
    method: &str,
    raw_path: &str,
    raw_query: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> Resp {
    let decoded_path = percent_decode_str(raw_path)
        .decode_utf8_lossy()
        .into_owned();
    // Injected faults.
    let mut after_failure: Option<Resp> = None;
    if let Some(i) = st.failures.iter().position(|f| {
        f.times > 0
            && f.method
                .as_deref()
                .is_none_or(|m| m.eq_ignore_ascii_case(method))
            && (raw_path.contains(&f.path_contains) || decoded_path.contains(&f.path_contains))
    }) {
        let f = &mut st.failures[i];
        f.times -= 1;
        let resp = error_with_body(f.status, &f.body);
        if f.after {
            after_failure = Some(resp);
        } else {
            return resp;
        }
    }
    if matches!(method, "POST" | "PUT" | "PATCH" | "DELETE") {
        if let Some(left) = st.fail_after.as_mut() {
            if *left == 0 {
                return ApiError::generic(500).into_resp();
            }
            *left -= 1;
        }
    }
    let resp = match serve(st, method, raw_path, raw_query, headers, body) {
        Ok(r) => r,
        Err(e) => e.into_resp(),
    };
    after_failure.unwrap_or(resp)
}

fn serve(
    st: &mut State,
    method: &str,
    raw_path: &str,
    raw_query: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> Result<Resp, ApiError> {
    let Some(rest) = raw_path.strip_prefix("/api/v4/") else {
        return Err(ApiError::no_route());
    };
    let segs: Vec<String> = rest
        .trim_end_matches('/')
        .split('/')
        .map(|s| percent_decode_str(s).decode_utf8_lossy().into_owned())
        .collect();
    let (handler, project_key, caps) = api::route(method, &segs)?;

    // Parameters: the query, then the body (JSON or form) on top.
    let mut map = parse_form(raw_query.as_bytes());
    let content_type = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        .map(|(_, v)| v.to_ascii_lowercase())
        .unwrap_or_default();
    if !body.is_empty() {
        if content_type.contains("json") {
            match serde_json::from_slice::<serde_json::Value>(body) {
                Ok(serde_json::Value::Object(o)) => map.extend(o),
                Ok(_) => {}
                Err(_) => {
                    return Err(ApiError::message(
                        400,
                        "400 Bad request - Invalid JSON body",
                    ))
                }
            }
        } else if content_type.is_empty() || content_type.contains("x-www-form-urlencoded") {
            map.extend(parse_form(body));
        }
    }
    let params = Params::new(map);

    // Authentication.
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim().to_string())
    };
    let token = header("private-token")
        .or_else(|| {
            header("authorization").and_then(|a| {
                a.strip_prefix("Bearer ")
                    .or_else(|| a.strip_prefix("bearer "))
                    .map(|t| t.trim().to_string())
            })
        })
        .or_else(|| params.str("private_token").ok().flatten())
        .or_else(|| params.str("access_token").ok().flatten());
    let user = token
        .and_then(|t| st.user_by_token(&t))
        .ok_or_else(ApiError::unauthorized)?;

    let mut ctx = api::Ctx { project: 0, caps };
    if let Some(key) = project_key {
        ctx.project = st.find_project(&key)?;
        if let Some(status) = st.project_errors.get(&ctx.project) {
            return Err(ApiError::generic(*status));
        }
    }
    let req = Req {
        raw_path: raw_path.to_string(),
        raw_query: raw_query.to_string(),
        params,
        user,
        base_url: st.base_url.clone(),
    };
    handler(st, &req, &ctx)
}

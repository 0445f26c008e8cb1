//! The forge contract: read a project's files, write branches and commits, manage merge
//! requests. It knows nothing of ecosystems. Implemented for GitLab's API v4 and for a local
//! git repository.

pub mod gitlab;
pub mod local;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ForgeError {
    #[error("{what} not found")]
    NotFound { what: String },
    #[error("{what}: permission denied (HTTP {status}); the bot's token needs Developer access")]
    Forbidden { what: String, status: u16 },
    #[error("{what}: conflict: {message}")]
    Conflict { what: String, message: String },
    #[error("{what}: the forge refused the request (HTTP {status}): {message}")]
    Rejected {
        what: String,
        status: u16,
        message: String,
    },
    #[error("{what}: the forge failed (HTTP {status}): {message}")]
    Server {
        what: String,
        status: u16,
        message: String,
    },
    #[error("{what}: {message}")]
    Transport { what: String, message: String },
}

/// A project of the fleet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Project {
    /// What the forge's API takes (numeric id, or the path).
    pub id: String,
    /// `group/sub/project`.
    pub path: String,
    pub default_branch: String,
    pub web_url: String,
}

/// A file change in a commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileAction {
    Create { path: String, content: String },
    Update { path: String, content: String },
    Delete { path: String },
}

impl FileAction {
    pub fn path(&self) -> &str {
        match self {
            FileAction::Create { path, .. }
            | FileAction::Update { path, .. }
            | FileAction::Delete { path } => path,
        }
    }
}

/// One commit on `branch`, whose parent is `start_sha`. If the branch exists it is reset
/// onto `start_sha` (force); otherwise it is created there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitRequest {
    pub branch: String,
    pub start_sha: String,
    pub message: String,
    pub actions: Vec<FileAction>,
}

/// A commit as the forge lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Commit {
    pub sha: String,
    pub author_name: String,
    pub author_email: String,
    pub title: String,
    pub parent_ids: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MergeRequestState {
    Opened,
    Closed,
    Merged,
    Locked,
}

/// Whether a merge request can be merged as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MergeStatus {
    Mergeable,
    /// The target moved: rebase needed.
    NeedRebase,
    Conflict,
    /// Anything else (checking, CI pending, draft, …): not the bot's concern.
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MergeRequest {
    pub iid: u64,
    pub state: MergeRequestState,
    pub source_branch: String,
    pub target_branch: String,
    pub title: String,
    pub description: String,
    pub labels: Vec<String>,
    /// Head commit of the source branch.
    pub sha: String,
    pub merge_status: MergeStatus,
    pub author: String,
    pub web_url: String,
    /// When it was opened (`None`: the forge did not say).
    #[serde(default)]
    pub created_at: Option<chrono::DateTime<chrono::Utc>>,
    /// When it last changed, a comment included (`None`: the forge did not say).
    #[serde(default)]
    pub updated_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// A new merge request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMergeRequest {
    pub source_branch: String,
    pub target_branch: String,
    pub title: String,
    pub description: String,
    pub labels: Vec<String>,
    pub assignee_ids: Vec<u64>,
    pub reviewer_ids: Vec<u64>,
    pub milestone_id: Option<u64>,
    pub remove_source_branch: bool,
    pub squash: bool,
}

/// Changes to a merge request; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MergeRequestEdit {
    pub title: Option<String>,
    pub description: Option<String>,
    pub labels: Option<Vec<String>>,
    pub close: bool,
}

/// A comment on a merge request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Note {
    pub id: u64,
    pub author: String,
    pub body: String,
    pub system: bool,
    /// Award emoji names given by the bot on this note.
    pub bot_awards: Vec<String>,
}

/// An issue (the bot keeps one: its dashboard).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Issue {
    pub iid: u64,
    pub title: String,
    pub description: String,
    pub web_url: String,
}

/// What GitLab's CI lint says of a project's CI configuration (`GET /projects/:id/ci/lint`
/// with a dry run: a pipeline created for a push to `dry_run_ref`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CiLint {
    pub valid: bool,
    #[serde(default)]
    pub errors: Vec<String>,
    #[serde(default)]
    pub warnings: Vec<String>,
    /// The configuration with its includes merged in.
    #[serde(default)]
    pub merged_yaml: Option<String>,
    /// The jobs the simulated pipeline would have.
    #[serde(default)]
    pub jobs: Vec<CiLintJob>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CiLintJob {
    pub name: String,
    #[serde(default)]
    pub stage: Option<String>,
}

/// Which projects a fleet run walks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FleetQuery {
    pub projects: Vec<String>,
    pub groups: Vec<crate::config::FleetGroup>,
    pub discover: bool,
}

#[async_trait]
pub trait Forge: Send + Sync {
    /// The bot's own user name on the forge (to tell its commits and notes from people's).
    fn bot_user(&self) -> &str;

    /// The e-mail address the bot's commits carry: a commit with another author on a bot
    /// branch means a person edited it.
    fn bot_email(&self) -> &str;

    /// The projects of the fleet, each once, archived ones left out.
    async fn projects(&self, query: &FleetQuery) -> Result<Vec<Project>, ForgeError>;

    /// The commit a branch points at, if the branch exists.
    async fn branch_sha(
        &self,
        project: &Project,
        branch: &str,
    ) -> Result<Option<String>, ForgeError>;

    /// Every file path at `sha` (repo-relative): regular files, and symbolic links apart
    /// (they are never read nor written; submodules are left out).
    async fn files(&self, project: &Project, sha: &str) -> Result<crate::scan::Tree, ForgeError>;

    /// A file's text at `sha`, or `None` if it does not exist.
    async fn read_file(
        &self,
        project: &Project,
        sha: &str,
        path: &str,
    ) -> Result<Option<String>, ForgeError>;

    /// Branches whose name starts with `prefix`, with their head commits.
    async fn branches(
        &self,
        project: &Project,
        prefix: &str,
    ) -> Result<Vec<(String, String)>, ForgeError>;

    /// Commits on `branch` that are not on `base` (newest first).
    async fn commits_since(
        &self,
        project: &Project,
        base: &str,
        branch: &str,
    ) -> Result<Vec<Commit>, ForgeError>;

    /// Make one commit (see [`CommitRequest`]); returns its sha.
    async fn commit(
        &self,
        project: &Project,
        request: &CommitRequest,
    ) -> Result<String, ForgeError>;

    async fn delete_branch(&self, project: &Project, branch: &str) -> Result<(), ForgeError>;

    /// The bot's merge requests (every state) whose source branch starts with `prefix`.
    async fn merge_requests(
        &self,
        project: &Project,
        prefix: &str,
    ) -> Result<Vec<MergeRequest>, ForgeError>;

    async fn create_merge_request(
        &self,
        project: &Project,
        request: &NewMergeRequest,
    ) -> Result<MergeRequest, ForgeError>;

    async fn edit_merge_request(
        &self,
        project: &Project,
        iid: u64,
        edit: &MergeRequestEdit,
    ) -> Result<(), ForgeError>;

    async fn notes(&self, project: &Project, iid: u64) -> Result<Vec<Note>, ForgeError>;

    async fn add_note(&self, project: &Project, iid: u64, body: &str) -> Result<(), ForgeError>;

    /// Acknowledge a note with an award emoji.
    async fn award(
        &self,
        project: &Project,
        iid: u64,
        note_id: u64,
        emoji: &str,
    ) -> Result<(), ForgeError>;

    /// Create the labels the project lacks (name, colour).
    async fn ensure_labels(
        &self,
        project: &Project,
        labels: &[(String, String)],
    ) -> Result<(), ForgeError>;

    /// User ids for user names; unknown names are left out.
    async fn user_ids(&self, usernames: &[String]) -> Result<Vec<u64>, ForgeError>;

    /// A milestone's id by title.
    async fn milestone_id(&self, project: &Project, title: &str)
        -> Result<Option<u64>, ForgeError>;

    /// The bot's open issue with exactly this title, if there is one.
    /// The bot's open issues titled `title`, oldest first (two runs at once may each have
    /// opened one).
    async fn find_issues(&self, project: &Project, title: &str) -> Result<Vec<Issue>, ForgeError>;

    /// Close an issue of the bot's (a duplicate dashboard).
    async fn close_issue(&self, project: &Project, iid: u64) -> Result<(), ForgeError>;

    async fn create_issue(
        &self,
        project: &Project,
        title: &str,
        description: &str,
        labels: &[String],
    ) -> Result<Issue, ForgeError>;

    async fn edit_issue(
        &self,
        project: &Project,
        iid: u64,
        description: &str,
    ) -> Result<(), ForgeError>;

    /// CI lint of the configuration at `content_ref`, simulating a push pipeline on
    /// `dry_run_ref`. `None`: this forge cannot lint.
    async fn ci_lint(
        &self,
        _project: &Project,
        _content_ref: &str,
        _dry_run_ref: &str,
    ) -> Result<Option<CiLint>, ForgeError> {
        Ok(None)
    }
}

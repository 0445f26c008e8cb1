//! GitLab's API v4 as a forge, through the `gitlab` crate's endpoints and our own HTTP
//! transport (timeouts, retries with backoff on 5xx/429 and `Retry-After`, the token sent only
//! to the configured instance and never printed).

use super::{
    CiLint, Commit, CommitRequest, FileAction, FleetQuery, Forge, ForgeError, Issue, MergeRequest,
    MergeRequestEdit, MergeRequestState, MergeStatus, NewMergeRequest, Note, Project,
};
use crate::config::{BotSettings, GitlabSettings};
use async_trait::async_trait;
use bytes::Bytes;
use gitlab::api::{self, AsyncQuery, Pagination};
use serde::Deserialize;
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use updatebot_core::http::{
    redact, Authorization, HttpClient, Method, Purpose, Request, Secret, LARGE_BODY,
};
use url::Url;

/// The transport the `gitlab` crate's endpoints are sent through: the run's shared HTTP
/// client (timeouts, retries, the per-host limit and circuit, bounded bodies), with the
/// token in `PRIVATE-TOKEN` and only ever to the configured instance's origin.
pub struct Transport {
    base: Url,
    token: Secret,
    http: Arc<HttpClient>,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TransportError(String);

impl api::RestClient for Transport {
    type Error = TransportError;

    fn rest_endpoint(&self, endpoint: &str) -> Result<Url, api::ApiError<Self::Error>> {
        Ok(self.base.join("api/v4/")?.join(endpoint)?)
    }
}

fn transport_error(message: impl Into<String>) -> api::ApiError<TransportError> {
    api::ApiError::client(TransportError(message.into()))
}

#[async_trait]
impl api::AsyncClient for Transport {
    async fn rest_async(
        &self,
        request: http::request::Builder,
        body: Vec<u8>,
    ) -> Result<http::Response<Bytes>, api::ApiError<Self::Error>> {
        let request = request
            .body(body)
            .map_err(|e| transport_error(e.to_string()))?;
        let (parts, body) = request.into_parts();
        let url = Url::parse(&parts.uri.to_string())?;
        // Pagination follows the `Link` URLs GitLab sends: the token goes to none but its own
        // instance, whatever an answer points at.
        if url.origin() != self.base.origin() {
            return Err(transport_error(format!(
                "{}: not the configured GitLab instance; the token is not sent there",
                redact(&url)
            )));
        }
        let method = match parts.method {
            http::Method::GET => Method::Get,
            http::Method::HEAD => Method::Head,
            http::Method::POST => Method::Post,
            http::Method::PUT => Method::Put,
            http::Method::DELETE => Method::Delete,
            other => return Err(transport_error(format!("unsupported method {other}"))),
        };
        // Reads are retried on any transient failure; writes only when they surely did not
        // reach GitLab (a connect error, a 429): a write whose answer was lost is left to the
        // run's reconcile logic, which finds what happened on the next look.
        let mut outgoing = Request::new(method, &url, "application/json")
            .authorization(Authorization::Header {
                name: "PRIVATE-TOKEN",
                value: self.token.clone(),
            })
            .limit(LARGE_BODY)
            .purpose(Purpose::Forge);
        for (name, value) in &parts.headers {
            if *name != http::header::ACCEPT {
                outgoing = outgoing.header(name.clone(), value.clone());
            }
        }
        if !body.is_empty() || method == Method::Post || method == Method::Put {
            outgoing = outgoing.body(body);
        }
        let response = self
            .http
            .send(outgoing)
            .await
            .map_err(|e| transport_error(e.to_string()))?;
        // A proxy's or login page where the API answers JSON (raw files are any type).
        let raw_file = url.path().ends_with("/raw");
        let html = response
            .header("content-type")
            .is_some_and(|t| t.trim_start().to_ascii_lowercase().starts_with("text/html"));
        if response.is_success() && html && !raw_file {
            return Err(transport_error(format!(
                "expected JSON, got `text/html` from {}",
                redact(&response.url)
            )));
        }
        let mut out = http::Response::builder().status(response.status);
        for (name, value) in &response.headers {
            out = out.header(name, value);
        }
        out.body(Bytes::from(response.body))
            .map_err(|e| transport_error(e.to_string()))
    }
}

/// An `ApiError` as a forge error naming what was asked.
fn forge_error(what: &str, error: api::ApiError<TransportError>) -> ForgeError {
    let what = what.to_string();
    let (status, message) = match &error {
        api::ApiError::GitlabWithStatus { status, msg } => (status.as_u16(), msg.clone()),
        api::ApiError::GitlabObjectWithStatus { status, obj }
        | api::ApiError::GitlabUnrecognizedWithStatus { status, obj } => {
            (status.as_u16(), obj.to_string())
        }
        api::ApiError::GitlabService { status, data } => (
            status.as_u16(),
            String::from_utf8_lossy(&data[..data.len().min(300)]).into_owned(),
        ),
        api::ApiError::Client { source } => {
            return ForgeError::Transport {
                what,
                message: source.to_string(),
            }
        }
        other => {
            return ForgeError::Transport {
                what,
                message: other.to_string(),
            }
        }
    };
    match status {
        404 => ForgeError::NotFound { what },
        401 | 403 => ForgeError::Forbidden { what, status },
        409 => ForgeError::Conflict { what, message },
        400..=499 => ForgeError::Rejected {
            what,
            status,
            message,
        },
        _ => ForgeError::Server {
            what,
            status,
            message,
        },
    }
}

#[derive(Deserialize)]
struct UserJson {
    id: u64,
    username: String,
}

#[derive(Deserialize)]
struct ProjectJson {
    id: u64,
    path_with_namespace: String,
    #[serde(default)]
    default_branch: Option<String>,
    #[serde(default)]
    archived: bool,
    #[serde(default)]
    topics: Vec<String>,
    #[serde(default)]
    web_url: String,
}

#[derive(Deserialize)]
struct BranchJson {
    name: String,
    commit: CommitJson,
}

#[derive(Deserialize)]
struct CommitJson {
    id: String,
    #[serde(default)]
    author_name: String,
    #[serde(default)]
    author_email: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    parent_ids: Vec<String>,
}

#[derive(Deserialize)]
struct CompareJson {
    #[serde(default)]
    commits: Vec<CommitJson>,
}

#[derive(Deserialize)]
struct TreeEntry {
    path: String,
    #[serde(rename = "type")]
    kind: String,
    /// Git's file mode: `120000` is a symbolic link.
    #[serde(default)]
    mode: String,
}

#[derive(Deserialize)]
struct MergeRequestJson {
    iid: u64,
    state: String,
    source_branch: String,
    target_branch: String,
    title: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    labels: Vec<String>,
    #[serde(default)]
    sha: Option<String>,
    #[serde(default)]
    detailed_merge_status: Option<String>,
    #[serde(default)]
    has_conflicts: bool,
    author: UserJson,
    #[serde(default)]
    web_url: String,
    #[serde(default)]
    created_at: Option<chrono::DateTime<chrono::Utc>>,
    #[serde(default)]
    updated_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl MergeRequestJson {
    fn into_merge_request(self) -> MergeRequest {
        let state = match self.state.as_str() {
            "opened" => MergeRequestState::Opened,
            "merged" => MergeRequestState::Merged,
            "locked" => MergeRequestState::Locked,
            _ => MergeRequestState::Closed,
        };
        let merge_status = match self.detailed_merge_status.as_deref() {
            _ if self.has_conflicts => MergeStatus::Conflict,
            Some("mergeable") => MergeStatus::Mergeable,
            Some("need_rebase") => MergeStatus::NeedRebase,
            Some("conflict") | Some("broken_status") => MergeStatus::Conflict,
            _ => MergeStatus::Other,
        };
        MergeRequest {
            iid: self.iid,
            state,
            source_branch: self.source_branch,
            target_branch: self.target_branch,
            title: self.title,
            description: self.description.unwrap_or_default(),
            labels: self.labels,
            sha: self.sha.unwrap_or_default(),
            merge_status,
            author: self.author.username,
            web_url: self.web_url,
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}

#[derive(Deserialize)]
struct NoteJson {
    id: u64,
    body: String,
    author: UserJson,
    #[serde(default)]
    system: bool,
}

#[derive(Deserialize)]
struct AwardJson {
    name: String,
    user: UserJson,
}

#[derive(Deserialize)]
struct LabelJson {
    name: String,
}

#[derive(Deserialize)]
struct IssueJson {
    iid: u64,
    title: String,
    #[serde(default)]
    description: Option<String>,
    web_url: String,
}

impl From<IssueJson> for Issue {
    fn from(i: IssueJson) -> Issue {
        Issue {
            iid: i.iid,
            title: i.title,
            description: i.description.unwrap_or_default(),
            web_url: i.web_url,
        }
    }
}

/// `GET /projects/:id/issues?author_id=&state=opened&search=&in=title`.
struct BotIssues<'a> {
    project: &'a str,
    author: u64,
    title: &'a str,
}

impl api::Endpoint for BotIssues<'_> {
    fn method(&self) -> http::Method {
        http::Method::GET
    }

    fn endpoint(&self) -> Cow<'static, str> {
        format!("projects/{}/issues", encode(self.project)).into()
    }

    fn parameters(&self) -> api::QueryParams<'_> {
        let mut params = api::QueryParams::default();
        params.push("author_id", self.author);
        params.push("state", "opened");
        params.push("search", self.title);
        params.push("in", "title");
        params
    }
}

impl api::Pageable for BotIssues<'_> {}

/// `POST /projects/:id/issues` and `PUT /projects/:id/issues/:iid` (description only).
struct WriteIssue<'a> {
    project: &'a str,
    iid: Option<u64>,
    title: Option<&'a str>,
    description: Option<&'a str>,
    labels: &'a [String],
    close: bool,
}

impl api::Endpoint for WriteIssue<'_> {
    fn method(&self) -> http::Method {
        match self.iid {
            Some(_) => http::Method::PUT,
            None => http::Method::POST,
        }
    }

    fn endpoint(&self) -> Cow<'static, str> {
        match self.iid {
            Some(iid) => format!("projects/{}/issues/{iid}", encode(self.project)).into(),
            None => format!("projects/{}/issues", encode(self.project)).into(),
        }
    }

    fn body(&self) -> Result<Option<(&'static str, Vec<u8>)>, api::BodyError> {
        let mut body = serde_json::Map::new();
        if let Some(title) = self.title {
            body.insert("title".into(), title.into());
        }
        if let Some(description) = self.description {
            body.insert("description".into(), description.into());
        }
        if !self.labels.is_empty() {
            body.insert("labels".into(), self.labels.join(",").into());
        }
        if self.close {
            body.insert("state_event".into(), "close".into());
        }
        Ok(Some((
            "application/json",
            serde_json::to_vec(&body).unwrap_or_default(),
        )))
    }
}

/// `GET /projects/:id/ci/lint?content_ref=&dry_run=true&dry_run_ref=&include_jobs=true`.
struct ProjectCiLint<'a> {
    project: &'a str,
    content_ref: &'a str,
    dry_run_ref: &'a str,
}

impl api::Endpoint for ProjectCiLint<'_> {
    fn method(&self) -> http::Method {
        http::Method::GET
    }

    fn endpoint(&self) -> Cow<'static, str> {
        format!("projects/{}/ci/lint", encode(self.project)).into()
    }

    fn parameters(&self) -> api::QueryParams<'_> {
        let mut params = api::QueryParams::default();
        params.push("content_ref", self.content_ref);
        params.push("dry_run", true);
        params.push("dry_run_ref", self.dry_run_ref);
        params.push("include_jobs", true);
        params
    }
}

#[derive(Deserialize)]
struct MilestoneJson {
    id: u64,
    title: String,
}

/// `GET /projects/:id/milestones?title=` (not in the `gitlab` crate).
struct ProjectMilestones<'a> {
    project: &'a str,
    title: &'a str,
}

impl api::Endpoint for ProjectMilestones<'_> {
    fn method(&self) -> http::Method {
        http::Method::GET
    }

    fn endpoint(&self) -> Cow<'static, str> {
        format!("projects/{}/milestones", encode(self.project)).into()
    }

    fn parameters(&self) -> api::QueryParams<'_> {
        let mut params = api::QueryParams::default();
        params.push("title", self.title);
        params
    }
}

/// `DELETE /projects/:id/repository/branches/:branch` with the branch name escaped (the
/// `gitlab` crate's `DeleteBranch` leaves `/` in it unescaped, which GitLab answers with 404).
struct DeleteBranch<'a> {
    project: &'a str,
    branch: &'a str,
}

impl api::Endpoint for DeleteBranch<'_> {
    fn method(&self) -> http::Method {
        http::Method::DELETE
    }

    fn endpoint(&self) -> Cow<'static, str> {
        format!(
            "projects/{}/repository/branches/{}",
            encode(self.project),
            encode(self.branch)
        )
        .into()
    }
}

/// Percent-encoding for one path segment (`/` included, as GitLab wants for ids and refs).
fn encode(id: &str) -> String {
    id.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

pub struct GitlabForge {
    api: Transport,
    bot_user: String,
    bot_id: u64,
    bot_email: String,
    users: Mutex<BTreeMap<String, Option<u64>>>,
}

impl GitlabForge {
    /// Connect as the token's user (`GET /user`), failing early on a bad URL or token.
    pub async fn connect(
        settings: &GitlabSettings,
        bot: &BotSettings,
        http: Arc<HttpClient>,
    ) -> Result<Self, ForgeError> {
        let _ = bot;
        let mut base = settings.url.clone();
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        let api = Transport {
            base,
            token: settings.token.clone(),
            http,
        };
        let me: UserJson = api::users::CurrentUser::builder()
            .build()
            .map_err(|e| builder_error("current user", e))?
            .query_async(&api)
            .await
            .map_err(|e| forge_error(&format!("GitLab at {}", redact(&settings.url)), e))?;
        let host = settings.url.host_str().unwrap_or("gitlab").to_string();
        Ok(GitlabForge {
            bot_email: format!("{}@{host}", me.username),
            bot_user: me.username,
            bot_id: me.id,
            api,
            users: Mutex::new(BTreeMap::new()),
        })
    }

    async fn project_json(&self, id: &str) -> Result<ProjectJson, ForgeError> {
        api::projects::Project::builder()
            .project(id)
            .build()
            .map_err(|e| builder_error("project", e))?
            .query_async(&self.api)
            .await
            .map_err(|e| forge_error(&format!("project `{id}`"), e))
    }
}

fn builder_error(what: &str, e: impl std::fmt::Display) -> ForgeError {
    ForgeError::Transport {
        what: what.to_string(),
        message: format!("cannot build the request: {e}"),
    }
}

fn to_project(p: ProjectJson) -> Project {
    Project {
        id: p.id.to_string(),
        path: p.path_with_namespace,
        default_branch: p.default_branch.unwrap_or_else(|| "main".into()),
        web_url: p.web_url,
    }
}

#[async_trait]
impl Forge for GitlabForge {
    fn bot_user(&self) -> &str {
        &self.bot_user
    }

    fn bot_email(&self) -> &str {
        &self.bot_email
    }

    async fn projects(&self, query: &FleetQuery) -> Result<Vec<Project>, ForgeError> {
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        let mut push = |p: ProjectJson, out: &mut Vec<Project>| {
            if !p.archived && seen.insert(p.id) {
                out.push(to_project(p));
            }
        };
        for id in &query.projects {
            let p = self.project_json(id).await?;
            push(p, &mut out);
        }
        for group in &query.groups {
            let list: Vec<ProjectJson> = api::paged(
                api::groups::projects::GroupProjects::builder()
                    .group(group.path.as_str())
                    .include_subgroups(group.include_subgroups)
                    .archived(false)
                    .build()
                    .map_err(|e| builder_error("group projects", e))?,
                Pagination::All,
            )
            .query_async(&self.api)
            .await
            .map_err(|e| forge_error(&format!("group `{}`", group.path), e))?;
            for p in list {
                if group.topics.is_empty() || p.topics.iter().any(|t| group.topics.contains(t)) {
                    push(p, &mut out);
                }
            }
        }
        if query.discover {
            let list: Vec<ProjectJson> = api::paged(
                api::projects::Projects::builder()
                    .membership(true)
                    .archived(false)
                    .min_access_level(api::common::AccessLevel::Developer)
                    .build()
                    .map_err(|e| builder_error("projects", e))?,
                Pagination::All,
            )
            .query_async(&self.api)
            .await
            .map_err(|e| forge_error("the projects the token can see", e))?;
            for p in list {
                let Some(branch) = p.default_branch.clone() else {
                    continue;
                };
                let has_config = self
                    .read_file(
                        &to_project(ProjectJson {
                            ..clone_project(&p)
                        }),
                        &branch,
                        crate::config::REPO_CONFIG_FILE,
                    )
                    .await;
                if matches!(has_config, Ok(Some(_))) {
                    push(p, &mut out);
                }
            }
        }
        Ok(out)
    }

    async fn branch_sha(
        &self,
        project: &Project,
        branch: &str,
    ) -> Result<Option<String>, ForgeError> {
        let found: Result<BranchJson, _> = api::projects::repository::branches::Branch::builder()
            .project(project.id.as_str())
            .branch(branch)
            .build()
            .map_err(|e| builder_error("branch", e))?
            .query_async(&self.api)
            .await;
        match found {
            Ok(b) => Ok(Some(b.commit.id)),
            Err(e) => match forge_error(&format!("{}: branch `{branch}`", project.path), e) {
                ForgeError::NotFound { .. } => Ok(None),
                other => Err(other),
            },
        }
    }

    async fn files(&self, project: &Project, sha: &str) -> Result<crate::scan::Tree, ForgeError> {
        let entries: Vec<TreeEntry> = api::paged(
            api::projects::repository::Tree::builder()
                .project(project.id.as_str())
                .ref_(sha)
                .recursive(true)
                .build()
                .map_err(|e| builder_error("tree", e))?,
            Pagination::All,
        )
        .query_async(&self.api)
        .await
        .map_err(|e| forge_error(&format!("{}: tree at {sha}", project.path), e))?;
        let mut tree = crate::scan::Tree::default();
        for e in entries.into_iter().filter(|e| e.kind == "blob") {
            if e.mode == "120000" {
                tree.links.push(e.path);
            } else {
                tree.files.push(e.path);
            }
        }
        Ok(tree)
    }

    async fn read_file(
        &self,
        project: &Project,
        sha: &str,
        path: &str,
    ) -> Result<Option<String>, ForgeError> {
        let raw = api::raw(
            api::projects::repository::files::FileRaw::builder()
                .project(project.id.as_str())
                .file_path(path)
                .ref_(sha)
                .build()
                .map_err(|e| builder_error("file", e))?,
        )
        .query_async(&self.api)
        .await;
        match raw {
            Ok(bytes) => String::from_utf8(bytes)
                .map(Some)
                .map_err(|_| ForgeError::Rejected {
                    what: format!("{}: {path}", project.path),
                    status: 200,
                    message: "the file is not UTF-8".into(),
                }),
            Err(e) => match forge_error(&format!("{}: {path}", project.path), e) {
                ForgeError::NotFound { .. } => Ok(None),
                other => Err(other),
            },
        }
    }

    async fn branches(
        &self,
        project: &Project,
        prefix: &str,
    ) -> Result<Vec<(String, String)>, ForgeError> {
        let list: Vec<BranchJson> = api::paged(
            api::projects::repository::branches::Branches::builder()
                .project(project.id.as_str())
                .search(format!("^{prefix}"))
                .build()
                .map_err(|e| builder_error("branches", e))?,
            Pagination::All,
        )
        .query_async(&self.api)
        .await
        .map_err(|e| forge_error(&format!("{}: branches", project.path), e))?;
        Ok(list
            .into_iter()
            .filter(|b| b.name.starts_with(prefix))
            .map(|b| (b.name, b.commit.id))
            .collect())
    }

    async fn commits_since(
        &self,
        project: &Project,
        base: &str,
        branch: &str,
    ) -> Result<Vec<Commit>, ForgeError> {
        let compare: CompareJson = api::projects::repository::commits::CompareCommits::builder()
            .project(project.id.as_str())
            .from(base)
            .to(branch)
            .straight(true)
            .build()
            .map_err(|e| builder_error("compare", e))?
            .query_async(&self.api)
            .await
            .map_err(|e| forge_error(&format!("{}: compare {base}...{branch}", project.path), e))?;
        Ok(compare
            .commits
            .into_iter()
            .map(|c| Commit {
                sha: c.id,
                author_name: c.author_name,
                author_email: c.author_email,
                title: c.title,
                parent_ids: c.parent_ids,
            })
            .collect())
    }

    async fn commit(
        &self,
        project: &Project,
        request: &CommitRequest,
    ) -> Result<String, ForgeError> {
        use api::projects::repository::commits::{CommitAction, CommitActionType, CreateCommit};
        let mut builder = CreateCommit::builder();
        builder
            .project(project.id.as_str())
            .branch(request.branch.as_str())
            .commit_message(request.message.as_str())
            .start_sha(request.start_sha.as_str())
            .force(true)
            .author_name(self.bot_user.as_str())
            .author_email(self.bot_email.as_str());
        for action in &request.actions {
            let mut a = CommitAction::builder();
            match action {
                FileAction::Create { path, content } => a
                    .action(CommitActionType::Create)
                    .file_path(path.as_str())
                    .content(content.as_bytes()),
                FileAction::Update { path, content } => a
                    .action(CommitActionType::Update)
                    .file_path(path.as_str())
                    .content(content.as_bytes()),
                FileAction::Delete { path } => {
                    a.action(CommitActionType::Delete).file_path(path.as_str())
                }
            };
            builder.action(a.build().map_err(|e| builder_error("commit action", e))?);
        }
        let commit: CommitJson = builder
            .build()
            .map_err(|e| builder_error("commit", e))?
            .query_async(&self.api)
            .await
            .map_err(|e| {
                forge_error(
                    &format!("{}: commit on `{}`", project.path, request.branch),
                    e,
                )
            })?;
        Ok(commit.id)
    }

    async fn delete_branch(&self, project: &Project, branch: &str) -> Result<(), ForgeError> {
        api::ignore(DeleteBranch {
            project: &project.id,
            branch,
        })
        .query_async(&self.api)
        .await
        .map_err(|e| forge_error(&format!("{}: branch `{branch}`", project.path), e))
    }

    async fn merge_requests(
        &self,
        project: &Project,
        prefix: &str,
    ) -> Result<Vec<MergeRequest>, ForgeError> {
        let list: Vec<MergeRequestJson> = api::paged(
            api::projects::merge_requests::MergeRequests::builder()
                .project(project.id.as_str())
                .author(self.bot_id)
                .build()
                .map_err(|e| builder_error("merge requests", e))?,
            Pagination::All,
        )
        .query_async(&self.api)
        .await
        .map_err(|e| forge_error(&format!("{}: merge requests", project.path), e))?;
        let mut out: Vec<MergeRequest> = list
            .into_iter()
            .filter(|m| m.source_branch.starts_with(prefix))
            .map(MergeRequestJson::into_merge_request)
            .collect();
        // The list does not always compute merge statuses; ask for the open ones one by one.
        for mr in out.iter_mut().filter(|m| {
            m.state == MergeRequestState::Opened && m.merge_status == MergeStatus::Other
        }) {
            let full: MergeRequestJson = api::projects::merge_requests::MergeRequest::builder()
                .project(project.id.as_str())
                .merge_request(mr.iid)
                .build()
                .map_err(|e| builder_error("merge request", e))?
                .query_async(&self.api)
                .await
                .map_err(|e| forge_error(&format!("{}: !{}", project.path, mr.iid), e))?;
            mr.merge_status = full.into_merge_request().merge_status;
        }
        Ok(out)
    }

    async fn create_merge_request(
        &self,
        project: &Project,
        request: &NewMergeRequest,
    ) -> Result<MergeRequest, ForgeError> {
        let mut builder = api::projects::merge_requests::CreateMergeRequest::builder();
        builder
            .project(project.id.as_str())
            .source_branch(request.source_branch.as_str())
            .target_branch(request.target_branch.as_str())
            .title(request.title.as_str())
            .description(request.description.as_str())
            .labels(request.labels.iter().map(String::as_str))
            .remove_source_branch(request.remove_source_branch)
            .squash(request.squash);
        if !request.assignee_ids.is_empty() {
            builder.assignees(request.assignee_ids.iter().copied());
        }
        if !request.reviewer_ids.is_empty() {
            builder.reviewers(request.reviewer_ids.iter().copied());
        }
        if let Some(m) = request.milestone_id {
            builder.milestone_id(m);
        }
        let created: MergeRequestJson = builder
            .build()
            .map_err(|e| builder_error("merge request", e))?
            .query_async(&self.api)
            .await
            .map_err(|e| {
                forge_error(
                    &format!(
                        "{}: merge request for `{}`",
                        project.path, request.source_branch
                    ),
                    e,
                )
            })?;
        Ok(created.into_merge_request())
    }

    async fn edit_merge_request(
        &self,
        project: &Project,
        iid: u64,
        edit: &MergeRequestEdit,
    ) -> Result<(), ForgeError> {
        use api::projects::merge_requests::{EditMergeRequest, MergeRequestStateEvent};
        let mut builder = EditMergeRequest::builder();
        builder.project(project.id.as_str()).merge_request(iid);
        if let Some(title) = &edit.title {
            builder.title(title.as_str());
        }
        if let Some(description) = &edit.description {
            builder.description(description.as_str());
        }
        if let Some(labels) = &edit.labels {
            builder.labels(labels.iter().map(String::as_str));
        }
        if edit.close {
            builder.state_event(MergeRequestStateEvent::Close);
        }
        api::ignore(
            builder
                .build()
                .map_err(|e| builder_error("merge request edit", e))?,
        )
        .query_async(&self.api)
        .await
        .map_err(|e| forge_error(&format!("{}: !{iid}", project.path), e))
    }

    async fn notes(&self, project: &Project, iid: u64) -> Result<Vec<Note>, ForgeError> {
        use api::projects::merge_requests::notes::awards::MergeRequestNoteAwards;
        use api::projects::merge_requests::notes::MergeRequestNotes;
        let list: Vec<NoteJson> = api::paged(
            MergeRequestNotes::builder()
                .project(project.id.as_str())
                .merge_request(iid)
                .build()
                .map_err(|e| builder_error("notes", e))?,
            Pagination::All,
        )
        .query_async(&self.api)
        .await
        .map_err(|e| forge_error(&format!("{}: notes of !{iid}", project.path), e))?;
        let mut out = Vec::new();
        for n in list {
            let mut bot_awards = Vec::new();
            // Only comments that might be commands are worth a look at their awards.
            if !n.system
                && n.author.id != self.bot_id
                && n.body.contains(&format!("@{}", self.bot_user))
            {
                let awards: Vec<AwardJson> = api::paged(
                    MergeRequestNoteAwards::builder()
                        .project(project.id.as_str())
                        .merge_request(iid)
                        .note(n.id)
                        .build()
                        .map_err(|e| builder_error("awards", e))?,
                    Pagination::All,
                )
                .query_async(&self.api)
                .await
                .map_err(|e| forge_error(&format!("{}: awards on !{iid}", project.path), e))?;
                bot_awards = awards
                    .into_iter()
                    .filter(|a| a.user.id == self.bot_id)
                    .map(|a| a.name)
                    .collect();
            }
            out.push(Note {
                id: n.id,
                author: n.author.username,
                body: n.body,
                system: n.system,
                bot_awards,
            });
        }
        Ok(out)
    }

    async fn add_note(&self, project: &Project, iid: u64, body: &str) -> Result<(), ForgeError> {
        api::ignore(
            api::projects::merge_requests::notes::CreateMergeRequestNote::builder()
                .project(project.id.as_str())
                .merge_request(iid)
                .body(body)
                .build()
                .map_err(|e| builder_error("note", e))?,
        )
        .query_async(&self.api)
        .await
        .map_err(|e| forge_error(&format!("{}: note on !{iid}", project.path), e))
    }

    async fn award(
        &self,
        project: &Project,
        iid: u64,
        note_id: u64,
        emoji: &str,
    ) -> Result<(), ForgeError> {
        api::ignore(
            api::projects::merge_requests::notes::awards::CreateMergeRequestNoteAward::builder()
                .project(project.id.as_str())
                .merge_request(iid)
                .note(note_id)
                .name(emoji)
                .build()
                .map_err(|e| builder_error("award", e))?,
        )
        .query_async(&self.api)
        .await
        .map_err(|e| forge_error(&format!("{}: award on !{iid}", project.path), e))
    }

    async fn ensure_labels(
        &self,
        project: &Project,
        labels: &[(String, String)],
    ) -> Result<(), ForgeError> {
        let existing: Vec<LabelJson> = api::paged(
            api::projects::labels::Labels::builder()
                .project(project.id.as_str())
                .build()
                .map_err(|e| builder_error("labels", e))?,
            Pagination::All,
        )
        .query_async(&self.api)
        .await
        .map_err(|e| forge_error(&format!("{}: labels", project.path), e))?;
        for (name, colour) in labels {
            if existing.iter().any(|l| l.name.eq_ignore_ascii_case(name)) {
                continue;
            }
            let created = api::ignore(
                api::projects::labels::CreateLabel::builder()
                    .project(project.id.as_str())
                    .name(name.as_str())
                    .color(api::projects::labels::LabelColor::from(colour.as_str()))
                    .build()
                    .map_err(|e| builder_error("label", e))?,
            )
            .query_async(&self.api)
            .await;
            match created.map_err(|e| forge_error(&format!("{}: label `{name}`", project.path), e))
            {
                Ok(()) | Err(ForgeError::Conflict { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    async fn user_ids(&self, usernames: &[String]) -> Result<Vec<u64>, ForgeError> {
        let mut out = Vec::new();
        for name in usernames {
            let known = self.users.lock().ok().and_then(|u| u.get(name).copied());
            let id = match known {
                Some(id) => id,
                None => {
                    let found: Vec<UserJson> = api::users::Users::builder()
                        .username(name.as_str())
                        .build()
                        .map_err(|e| builder_error("users", e))?
                        .query_async(&self.api)
                        .await
                        .map_err(|e| forge_error(&format!("user `{name}`"), e))?;
                    let id = found
                        .into_iter()
                        .find(|u| u.username.eq_ignore_ascii_case(name))
                        .map(|u| u.id);
                    if let Ok(mut users) = self.users.lock() {
                        users.insert(name.clone(), id);
                    }
                    id
                }
            };
            out.extend(id);
        }
        Ok(out)
    }

    async fn milestone_id(
        &self,
        project: &Project,
        title: &str,
    ) -> Result<Option<u64>, ForgeError> {
        let list: Vec<MilestoneJson> = ProjectMilestones {
            project: &project.id,
            title,
        }
        .query_async(&self.api)
        .await
        .map_err(|e| forge_error(&format!("{}: milestone `{title}`", project.path), e))?;
        Ok(list.into_iter().find(|m| m.title == title).map(|m| m.id))
    }

    async fn find_issues(&self, project: &Project, title: &str) -> Result<Vec<Issue>, ForgeError> {
        let list: Vec<IssueJson> = api::paged(
            BotIssues {
                project: &project.id,
                author: self.bot_id,
                title,
            },
            Pagination::All,
        )
        .query_async(&self.api)
        .await
        .map_err(|e| forge_error(&format!("{}: issues", project.path), e))?;
        let mut out: Vec<Issue> = list
            .into_iter()
            .filter(|i| i.title == title)
            .map(Issue::from)
            .collect();
        out.sort_by_key(|i| i.iid);
        Ok(out)
    }

    async fn close_issue(&self, project: &Project, iid: u64) -> Result<(), ForgeError> {
        let _: IssueJson = WriteIssue {
            project: &project.id,
            iid: Some(iid),
            title: None,
            description: None,
            labels: &[],
            close: true,
        }
        .query_async(&self.api)
        .await
        .map_err(|e| forge_error(&format!("{}: issue #{iid}", project.path), e))?;
        Ok(())
    }

    async fn create_issue(
        &self,
        project: &Project,
        title: &str,
        description: &str,
        labels: &[String],
    ) -> Result<Issue, ForgeError> {
        let created: IssueJson = WriteIssue {
            project: &project.id,
            iid: None,
            title: Some(title),
            description: Some(description),
            labels,
            close: false,
        }
        .query_async(&self.api)
        .await
        .map_err(|e| forge_error(&format!("{}: new issue", project.path), e))?;
        Ok(created.into())
    }

    async fn edit_issue(
        &self,
        project: &Project,
        iid: u64,
        description: &str,
    ) -> Result<(), ForgeError> {
        api::ignore(WriteIssue {
            project: &project.id,
            iid: Some(iid),
            title: None,
            description: Some(description),
            labels: &[],
            close: false,
        })
        .query_async(&self.api)
        .await
        .map_err(|e| forge_error(&format!("{}: issue #{iid}", project.path), e))
    }

    async fn ci_lint(
        &self,
        project: &Project,
        content_ref: &str,
        dry_run_ref: &str,
    ) -> Result<Option<CiLint>, ForgeError> {
        let lint: CiLint = ProjectCiLint {
            project: &project.id,
            content_ref,
            dry_run_ref,
        }
        .query_async(&self.api)
        .await
        .map_err(|e| forge_error(&format!("{}: CI lint", project.path), e))?;
        Ok(Some(lint))
    }
}

fn clone_project(p: &ProjectJson) -> ProjectJson {
    ProjectJson {
        id: p.id,
        path_with_namespace: p.path_with_namespace.clone(),
        default_branch: p.default_branch.clone(),
        archived: p.archived,
        topics: p.topics.clone(),
        web_url: p.web_url.clone(),
    }
}

//! Issues (what the bot's dashboard needs) and the project CI lint.

use serde_json::Value;

use super::Ctx;
use crate::http::{paginate, ApiError, ApiResult, Req, Resp};
use crate::state::{IssueRec, State, GUEST, REPORTER};

/// `GET /projects/:id/issues`: `state`, `author_id`, `author_username`, `labels`, `search`
/// (with `in=title` or `title,description`).
pub fn list_issues(st: &mut State, req: &Req, ctx: &Ctx) -> ApiResult {
    st.require_access(ctx.project, req.user, GUEST)?;
    let state = req.params.one_of("state", &["opened", "closed", "all"])?;
    let author_id = req.params.u64("author_id")?;
    let author_username = req.params.str("author_username")?;
    let labels = req.params.string_list("labels")?.unwrap_or_default();
    let search = req.params.str("search")?.map(|s| s.to_lowercase());
    let within = req
        .params
        .str("in")?
        .unwrap_or_else(|| "title,description".into());
    let author_by_name = author_username.and_then(|n| {
        st.users
            .values()
            .find(|u| u.username.eq_ignore_ascii_case(&n))
            .map(|u| u.id)
            .or(Some(0))
    });
    let items: Vec<Value> = st.projects[&ctx.project]
        .issues
        .values()
        .rev()
        .filter(|i| match state.as_deref() {
            None | Some("all") => true,
            Some(s) => i.state == s,
        })
        .filter(|i| author_id.is_none_or(|a| i.author_id == a))
        .filter(|i| author_by_name.is_none_or(|a| i.author_id == a))
        .filter(|i| labels.iter().all(|l| i.labels.contains(l)))
        .filter(|i| {
            search.as_ref().is_none_or(|s| {
                (within.contains("title") && i.title.to_lowercase().contains(s))
                    || (within.contains("description") && i.description.to_lowercase().contains(s))
            })
        })
        .map(|i| st.issue_json(ctx.project, i))
        .collect();
    paginate(req, items)
}

/// `POST /projects/:id/issues`.
pub fn create_issue(st: &mut State, req: &Req, ctx: &Ctx) -> ApiResult {
    st.require_access(ctx.project, req.user, GUEST)?;
    req.params.require(&["title"])?;
    let title = req.params.str("title")?.unwrap_or_default();
    if title.trim().is_empty() {
        return Err(ApiError::validation("title", "can't be blank"));
    }
    let description = req.params.str("description")?.unwrap_or_default();
    if description.chars().count() > 1_048_576 {
        return Err(ApiError::validation(
            "description",
            "is too long (maximum is 1048576 characters)",
        ));
    }
    let labels = req.params.string_list("labels")?.unwrap_or_default();
    st.ensure_labels(ctx.project, &labels);
    let id = st.id();
    let now = st.now();
    let project = st.projects.get_mut(&ctx.project).expect("project");
    let iid = project.issues.keys().next_back().copied().unwrap_or(0) + 1;
    let issue = IssueRec {
        id,
        iid,
        title,
        description,
        state: "opened".into(),
        author_id: req.user,
        labels,
        created_at: now,
        updated_at: now,
    };
    project.issues.insert(iid, issue.clone());
    Ok(Resp::created(st.issue_json(ctx.project, &issue)))
}

/// `PUT /projects/:id/issues/:iid`: `title`, `description`, `labels`, `state_event`.
pub fn edit_issue(st: &mut State, req: &Req, ctx: &Ctx) -> ApiResult {
    let iid = ctx.num(0, "Issue")?;
    let now = st.now();
    let author = st.projects[&ctx.project]
        .issues
        .get(&iid)
        .map(|i| i.author_id)
        .ok_or_else(|| ApiError::not_found("Issue"))?;
    if author != req.user {
        st.require_access(ctx.project, req.user, REPORTER)?;
    }
    let title = req.params.str("title")?;
    let description = req.params.str("description")?;
    let labels = req.params.string_list("labels")?;
    let event = req.params.one_of("state_event", &["close", "reopen"])?;
    if let Some(labels) = &labels {
        st.ensure_labels(ctx.project, labels);
    }
    let project = st.projects.get_mut(&ctx.project).expect("project");
    let issue = project.issues.get_mut(&iid).expect("issue");
    if let Some(t) = title {
        issue.title = t;
    }
    if let Some(d) = description {
        issue.description = d;
    }
    if let Some(l) = labels {
        issue.labels = l;
    }
    match event.as_deref() {
        Some("close") => issue.state = "closed".into(),
        Some("reopen") => issue.state = "opened".into(),
        _ => {}
    }
    issue.updated_at = now;
    let issue = issue.clone();
    Ok(Resp::ok(st.issue_json(ctx.project, &issue)))
}

/// `GET /projects/:id/ci/lint`: the answer the test set for the project, else what GitLab
/// answers without CI to evaluate: no `.gitlab-ci.yml` at `content_ref` is an invalid
/// configuration ("Please provide content of .gitlab-ci.yml"); a file present is returned
/// as the merged configuration (the fake resolves no includes and runs no dry run, so it
/// names no jobs).
pub fn ci_lint(st: &mut State, req: &Req, ctx: &Ctx) -> ApiResult {
    st.require_access(ctx.project, req.user, REPORTER)?;
    if let Some(answer) = &st.projects[&ctx.project].ci_lint {
        return Ok(Resp::ok(answer.clone()));
    }
    let project = &st.projects[&ctx.project];
    let git_ref = req
        .params
        .str("content_ref")?
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| project.default_branch.clone());
    let repo = &project.repo;
    let commit = repo
        .resolve_ref(&git_ref)
        .ok_or_else(|| ApiError::not_found("Commit"))?;
    let answer = match repo
        .entry(&commit, ".gitlab-ci.yml")
        .filter(|e| e.kind == "blob")
    {
        None => serde_json::json!({
            "valid": false,
            "errors": ["Please provide content of .gitlab-ci.yml"],
            "warnings": [],
            "merged_yaml": null,
            "includes": [],
            "jobs": [],
        }),
        Some(entry) => serde_json::json!({
            "valid": true,
            "errors": [],
            "warnings": [],
            "merged_yaml": String::from_utf8_lossy(&repo.read_blob(&entry.sha)),
            "includes": [],
            "jobs": [],
        }),
    };
    Ok(Resp::ok(answer))
}

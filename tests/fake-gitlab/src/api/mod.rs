//! The API v4 routes.

mod issues;
mod merge_requests;
mod projects;
mod repository;

use crate::http::{ApiError, ApiResult, Req};
use crate::state::State;

/// Path parameters captured by a route (`:p` is resolved to a project id).
#[derive(Debug, Default)]
pub struct Ctx {
    pub project: u64,
    pub caps: Vec<String>,
}

impl Ctx {
    pub fn cap(&self, i: usize) -> &str {
        &self.caps[i]
    }

    /// A numeric path parameter (`:iid`, `:note_id`…), 404 `what` when not a number.
    pub fn num(&self, i: usize, what: &str) -> Result<u64, ApiError> {
        self.caps[i].parse().map_err(|_| ApiError::not_found(what))
    }
}

pub type Handler = fn(&mut State, &Req, &Ctx) -> ApiResult;

/// (method, pattern, handler). `:p` = project id or path, `:x` = any other parameter.
const ROUTES: &[(&str, &[&str], Handler)] = &[
    ("GET", &["version"], projects::version),
    ("GET", &["user"], projects::current_user),
    ("GET", &["users"], projects::list_users),
    ("GET", &["users", ":x"], projects::get_user),
    ("GET", &["groups"], projects::list_groups),
    ("GET", &["groups", ":x"], projects::get_group),
    (
        "GET",
        &["groups", ":x", "projects"],
        projects::group_projects,
    ),
    (
        "GET",
        &["groups", ":x", "subgroups"],
        projects::group_subgroups,
    ),
    ("GET", &["projects"], projects::list_projects),
    ("GET", &["projects", ":p"], projects::get_project),
    (
        "GET",
        &["projects", ":p", "members"],
        projects::list_members,
    ),
    (
        "GET",
        &["projects", ":p", "members", "all"],
        projects::list_all_members,
    ),
    (
        "GET",
        &["projects", ":p", "members", ":x"],
        projects::get_member,
    ),
    (
        "GET",
        &["projects", ":p", "members", "all", ":x"],
        projects::get_all_member,
    ),
    ("GET", &["projects", ":p", "labels"], projects::list_labels),
    ("GET", &["projects", ":p", "issues"], issues::list_issues),
    ("POST", &["projects", ":p", "issues"], issues::create_issue),
    (
        "PUT",
        &["projects", ":p", "issues", ":x"],
        issues::edit_issue,
    ),
    ("GET", &["projects", ":p", "ci", "lint"], issues::ci_lint),
    (
        "POST",
        &["projects", ":p", "labels"],
        projects::create_label,
    ),
    (
        "GET",
        &["projects", ":p", "milestones"],
        projects::list_milestones,
    ),
    (
        "GET",
        &["projects", ":p", "repository", "tree"],
        repository::tree,
    ),
    (
        "GET",
        &["projects", ":p", "repository", "files", ":x"],
        repository::file,
    ),
    (
        "HEAD",
        &["projects", ":p", "repository", "files", ":x"],
        repository::file,
    ),
    (
        "GET",
        &["projects", ":p", "repository", "files", ":x", "raw"],
        repository::file_raw,
    ),
    (
        "GET",
        &["projects", ":p", "repository", "branches"],
        repository::list_branches,
    ),
    (
        "POST",
        &["projects", ":p", "repository", "branches"],
        repository::create_branch,
    ),
    (
        "GET",
        &["projects", ":p", "repository", "branches", ":x"],
        repository::get_branch,
    ),
    (
        "DELETE",
        &["projects", ":p", "repository", "branches", ":x"],
        repository::delete_branch,
    ),
    (
        "GET",
        &["projects", ":p", "repository", "commits"],
        repository::list_commits,
    ),
    (
        "POST",
        &["projects", ":p", "repository", "commits"],
        repository::create_commit,
    ),
    (
        "GET",
        &["projects", ":p", "repository", "commits", ":x"],
        repository::get_commit,
    ),
    (
        "GET",
        &["projects", ":p", "repository", "compare"],
        repository::compare,
    ),
    (
        "GET",
        &["projects", ":p", "merge_requests"],
        merge_requests::list,
    ),
    (
        "POST",
        &["projects", ":p", "merge_requests"],
        merge_requests::create,
    ),
    (
        "GET",
        &["projects", ":p", "merge_requests", ":x"],
        merge_requests::get,
    ),
    (
        "PUT",
        &["projects", ":p", "merge_requests", ":x"],
        merge_requests::update,
    ),
    (
        "PUT",
        &["projects", ":p", "merge_requests", ":x", "rebase"],
        merge_requests::rebase,
    ),
    (
        "PUT",
        &["projects", ":p", "merge_requests", ":x", "merge"],
        merge_requests::merge,
    ),
    (
        "GET",
        &["projects", ":p", "merge_requests", ":x", "commits"],
        merge_requests::commits,
    ),
    (
        "GET",
        &["projects", ":p", "merge_requests", ":x", "notes"],
        merge_requests::list_notes,
    ),
    (
        "POST",
        &["projects", ":p", "merge_requests", ":x", "notes"],
        merge_requests::create_note,
    ),
    (
        "GET",
        &["projects", ":p", "merge_requests", ":x", "notes", ":x"],
        merge_requests::get_note,
    ),
    (
        "PUT",
        &["projects", ":p", "merge_requests", ":x", "notes", ":x"],
        merge_requests::update_note,
    ),
    (
        "DELETE",
        &["projects", ":p", "merge_requests", ":x", "notes", ":x"],
        merge_requests::delete_note,
    ),
    (
        "GET",
        &["projects", ":p", "merge_requests", ":x", "award_emoji"],
        merge_requests::list_mr_awards,
    ),
    (
        "POST",
        &["projects", ":p", "merge_requests", ":x", "award_emoji"],
        merge_requests::create_mr_award,
    ),
    (
        "DELETE",
        &[
            "projects",
            ":p",
            "merge_requests",
            ":x",
            "award_emoji",
            ":x",
        ],
        merge_requests::delete_mr_award,
    ),
    (
        "GET",
        &[
            "projects",
            ":p",
            "merge_requests",
            ":x",
            "notes",
            ":x",
            "award_emoji",
        ],
        merge_requests::list_note_awards,
    ),
    (
        "POST",
        &[
            "projects",
            ":p",
            "merge_requests",
            ":x",
            "notes",
            ":x",
            "award_emoji",
        ],
        merge_requests::create_note_award,
    ),
    (
        "DELETE",
        &[
            "projects",
            ":p",
            "merge_requests",
            ":x",
            "notes",
            ":x",
            "award_emoji",
            ":x",
        ],
        merge_requests::delete_note_award,
    ),
];

/// The route for a method and decoded path segments: `Ok((handler, project key, caps))`,
/// 404 `{"error":"404 Not Found"}` when no path matches, 405 when only the method differs.
pub fn route(
    method: &str,
    segs: &[String],
) -> Result<(Handler, Option<String>, Vec<String>), ApiError> {
    let mut path_matched = false;
    let mut best: Option<(Handler, Option<String>, Vec<String>, usize)> = None;
    for (m, pattern, handler) in ROUTES {
        if pattern.len() != segs.len() {
            continue;
        }
        let mut project = None;
        let mut caps = Vec::new();
        let mut literals = 0;
        let ok = pattern.iter().zip(segs).all(|(p, s)| match *p {
            ":p" => {
                project = Some(s.clone());
                !s.is_empty()
            }
            ":x" => {
                caps.push(s.clone());
                !s.is_empty()
            }
            lit => {
                literals += 1;
                lit == s
            }
        });
        if !ok {
            continue;
        }
        path_matched = true;
        let method_ok = *m == method || (method == "HEAD" && *m == "GET");
        // Prefer the most specific route (most literal segments).
        if method_ok && best.as_ref().is_none_or(|b| b.3 < literals) {
            best = Some((*handler, project, caps, literals));
        }
    }
    match best {
        Some((h, p, c, _)) => Ok((h, p, c)),
        None if path_matched => Err(ApiError::method_not_allowed()),
        None => Err(ApiError::no_route()),
    }
}

/// Merge for the programmatic API: a merge commit, whatever the merge method.
pub fn merge_request_merge(
    st: &mut State,
    project: u64,
    iid: u64,
    user: u64,
    squash: bool,
    remove_source: bool,
) -> Result<(), ()> {
    let opts = merge_requests::MergeOpts {
        user,
        style: merge_requests::MergeStyle::Commit,
        squash,
        message: None,
        remove_source,
    };
    merge_requests::do_merge(st, project, iid, opts)
}

/// `detailed_merge_status` for the programmatic API.
pub fn merge_request_status(st: &mut State, project: u64, iid: u64) -> &'static str {
    merge_requests::detailed_status(st, project, iid)
}

//! Repository tree, files, branches, commits and compare.

use std::collections::BTreeMap;

use base64::Engine;
use serde_json::{json, Map, Value};

use super::Ctx;
use crate::git::{CommitInfo, Ident, Repo};
use crate::http::{paginate, paginate_keyset, wants_keyset, ApiError, ApiResult, Req, Resp};
use crate::params::{coerce_bool, scalar_string, Params};
use crate::state::{State, DEVELOPER};
use crate::time;

/// GitLab's commit entity.
pub fn commit_json(st: &State, project: u64, c: &CommitInfo) -> Value {
    let p = &st.projects[&project];
    json!({
        "id": c.sha,
        "short_id": &c.sha[..8],
        "created_at": time::iso_secs(c.committer_time),
        "parent_ids": c.parents,
        "title": c.title(),
        "message": c.message,
        "author_name": c.author_name,
        "author_email": c.author_email,
        "authored_date": time::iso_secs(c.author_time),
        "committer_name": c.committer_name,
        "committer_email": c.committer_email,
        "committed_date": time::iso_secs(c.committer_time),
        "trailers": {},
        "extended_trailers": {},
        "web_url": format!("{}/{}/-/commit/{}", st.base_url, st.project_full_path(p), c.sha),
    })
}

/// The commit entity with `stats`, `status`, `last_pipeline` and `project_id`.
pub fn commit_detail_json(st: &State, project: u64, c: &CommitInfo, stats: bool) -> Value {
    let mut v = commit_json(st, project, c);
    let o = v.as_object_mut().expect("object");
    if stats {
        let repo = &st.projects[&project].repo;
        let (add, del) = repo.numstat(c.parents.first().map(String::as_str), &c.sha);
        o.insert(
            "stats".into(),
            json!({"additions": add, "deletions": del, "total": add + del}),
        );
    }
    o.insert("status".into(), Value::Null);
    o.insert("last_pipeline".into(), Value::Null);
    o.insert("project_id".into(), json!(project));
    v
}

fn repo(st: &State, project: u64) -> Repo {
    st.projects[&project].repo.clone()
}

/// The commit for a `ref` parameter, the default branch when absent.
fn ref_or_default(
    st: &State,
    req: &Req,
    project: u64,
    key: &str,
) -> Result<Option<String>, ApiError> {
    let git_ref = req
        .params
        .str(key)?
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| st.projects[&project].default_branch.clone());
    Ok(repo(st, project).resolve_ref(&git_ref))
}

pub fn tree(st: &mut State, req: &Req, ctx: &Ctx) -> ApiResult {
    let recursive = req.params.bool("recursive")?.unwrap_or(false);
    let path = req.params.str("path")?.unwrap_or_default();
    let commit =
        ref_or_default(st, req, ctx.project, "ref")?.ok_or_else(|| ApiError::not_found("Tree"))?;
    let entries = repo(st, ctx.project)
        .ls_tree(&commit, &path, recursive)
        .ok_or_else(|| ApiError::not_found("Tree"))?;
    // GitLab lists trees, then blobs, then submodules.
    let mut sorted = Vec::new();
    for kind in ["tree", "blob", "commit"] {
        sorted.extend(entries.iter().filter(|e| e.kind == kind));
    }
    let items: Vec<(String, Value)> = sorted
        .into_iter()
        .map(|e| {
            let name = e.path.rsplit('/').next().unwrap_or(&e.path).to_string();
            (
                e.path.clone(),
                json!({"id": e.sha, "name": name, "type": e.kind, "path": e.path, "mode": e.mode}),
            )
        })
        .collect();
    if wants_keyset(req) {
        return paginate_keyset(req, items, "page_token");
    }
    paginate(req, items.into_iter().map(|(_, v)| v).collect())
}

struct FileAt {
    commit: String,
    path: String,
    mode: String,
    blob: String,
    content: Vec<u8>,
    last_commit: String,
    git_ref: String,
}

fn load_file(st: &State, req: &Req, ctx: &Ctx, ref_required: bool) -> Result<FileAt, ApiError> {
    if ref_required {
        req.params.require(&["ref"])?;
    }
    let path = ctx.cap(0).to_string();
    let git_ref = req
        .params
        .str("ref")?
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| st.projects[&ctx.project].default_branch.clone());
    let repo = repo(st, ctx.project);
    let commit = repo
        .resolve_ref(&git_ref)
        .ok_or_else(|| ApiError::not_found("Commit"))?;
    let entry = repo
        .entry(&commit, &path)
        .filter(|e| e.kind == "blob")
        .ok_or_else(|| ApiError::not_found("File"))?;
    let content = repo.read_blob(&entry.sha);
    let last_commit = repo
        .last_commit_for_path(&commit, &entry.path)
        .unwrap_or_else(|| commit.clone());
    Ok(FileAt {
        commit,
        path: entry.path,
        mode: entry.mode,
        blob: entry.sha,
        content,
        last_commit,
        git_ref,
    })
}

fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn file_headers(mut resp: Resp, f: &FileAt) -> Resp {
    let name = f.path.rsplit('/').next().unwrap_or(&f.path).to_string();
    resp = resp
        .header("X-Gitlab-Blob-Id", f.blob.clone())
        .header("X-Gitlab-Commit-Id", f.commit.clone())
        .header("X-Gitlab-Content-Sha256", sha256_hex(&f.content))
        .header("X-Gitlab-Encoding", "base64")
        .header(
            "X-Gitlab-Execute-Filemode",
            (f.mode == "100755").to_string(),
        )
        .header("X-Gitlab-File-Name", name)
        .header("X-Gitlab-File-Path", f.path.clone())
        .header("X-Gitlab-Last-Commit-Id", f.last_commit.clone())
        .header("X-Gitlab-Ref", f.git_ref.clone())
        .header("X-Gitlab-Size", f.content.len().to_string());
    resp
}

pub fn file(st: &mut State, req: &Req, ctx: &Ctx) -> ApiResult {
    let f = load_file(st, req, ctx, true)?;
    let name = f.path.rsplit('/').next().unwrap_or(&f.path).to_string();
    let v = json!({
        "file_name": name,
        "file_path": f.path,
        "size": f.content.len(),
        "encoding": "base64",
        "content": base64::engine::general_purpose::STANDARD.encode(&f.content),
        "content_sha256": sha256_hex(&f.content),
        "ref": f.git_ref,
        "blob_id": f.blob,
        "commit_id": f.commit,
        "last_commit_id": f.last_commit,
        "execute_filemode": f.mode == "100755",
    });
    Ok(file_headers(Resp::ok(v), &f))
}

pub fn file_raw(st: &mut State, req: &Req, ctx: &Ctx) -> ApiResult {
    let f = load_file(st, req, ctx, false)?;
    let resp = Resp {
        status: 200,
        headers: vec![("Content-Type".into(), "text/plain; charset=utf-8".into())],
        body: f.content.clone(),
    };
    Ok(file_headers(resp, &f))
}

fn branch_json(st: &State, project: u64, user: u64, name: &str, sha: &str) -> Value {
    let p = &st.projects[&project];
    let repo = &p.repo;
    let info = repo.commit_info(sha).expect("branch commit");
    let default_sha = repo.branch_sha(&p.default_branch);
    let merged = name != p.default_branch
        && default_sha
            .as_deref()
            .is_some_and(|d| repo.is_ancestor(sha, d));
    let protected = p.is_protected(name);
    json!({
        "name": name,
        "commit": commit_json(st, project, &info),
        "merged": merged,
        "protected": protected,
        "developers_can_push": !protected,
        "developers_can_merge": !protected,
        "can_push": st.can_push(project, user, name),
        "default": name == p.default_branch,
        "web_url": format!("{}/{}/-/tree/{}", st.base_url, st.project_full_path(p), name),
    })
}

fn matches_search(name: &str, search: &str) -> bool {
    match (search.strip_prefix('^'), search.strip_suffix('$')) {
        (Some(prefix), _) => name.starts_with(prefix),
        (_, Some(suffix)) => name.ends_with(suffix),
        _ => name.contains(search),
    }
}

pub fn list_branches(st: &mut State, req: &Req, ctx: &Ctx) -> ApiResult {
    let search = req.params.str("search")?;
    let branches = repo(st, ctx.project).branches();
    let items = branches
        .iter()
        .filter(|(n, _)| search.as_ref().is_none_or(|s| matches_search(n, s)))
        .map(|(n, sha)| branch_json(st, ctx.project, req.user, n, sha))
        .collect();
    paginate(req, items)
}

pub fn get_branch(st: &mut State, req: &Req, ctx: &Ctx) -> ApiResult {
    let name = ctx.cap(0);
    let sha = repo(st, ctx.project)
        .branch_sha(name)
        .ok_or_else(|| ApiError::not_found("Branch"))?;
    Ok(Resp::ok(branch_json(st, ctx.project, req.user, name, &sha)))
}

pub fn create_branch(st: &mut State, req: &Req, ctx: &Ctx) -> ApiResult {
    st.require_access(ctx.project, req.user, DEVELOPER)?;
    req.params.require(&["branch", "ref"])?;
    let branch = req.params.str("branch")?.unwrap_or_default();
    let git_ref = req.params.str("ref")?.unwrap_or_default();
    if !st.can_push(ctx.project, req.user, &branch) {
        return Err(ApiError::forbidden());
    }
    let repo = repo(st, ctx.project);
    if !repo.valid_branch_name(&branch) {
        return Err(ApiError::bad_request("Branch name is invalid"));
    }
    if repo.branch_sha(&branch).is_some() {
        return Err(ApiError::bad_request("Branch already exists"));
    }
    let sha = repo
        .resolve_ref(&git_ref)
        .ok_or_else(|| ApiError::bad_request(format!("Invalid reference name: {git_ref}")))?;
    st.update_branch(ctx.project, &branch, &sha, req.user);
    Ok(Resp::created(branch_json(
        st,
        ctx.project,
        req.user,
        &branch,
        &sha,
    )))
}

pub fn delete_branch(st: &mut State, req: &Req, ctx: &Ctx) -> ApiResult {
    st.require_access(ctx.project, req.user, DEVELOPER)?;
    let name = ctx.cap(0).to_string();
    let repo = repo(st, ctx.project);
    if repo.branch_sha(&name).is_none() {
        return Err(ApiError::not_found("Branch"));
    }
    if name == st.projects[&ctx.project].default_branch {
        return Err(ApiError::message(405, "Cannot remove HEAD branch"));
    }
    if !st.can_push(ctx.project, req.user, &name) {
        return Err(ApiError::message(
            405,
            "You don't have permission to delete the branch",
        ));
    }
    repo.delete_branch(&name);
    Ok(Resp::no_content())
}

pub fn list_commits(st: &mut State, req: &Req, ctx: &Ctx) -> ApiResult {
    let path = req.params.str("path")?;
    let first_parent = req.params.bool("first_parent")?.unwrap_or(false);
    let with_stats = req.params.bool("with_stats")?.unwrap_or(false);
    let since = req.params.str("since")?;
    let until = req.params.str("until")?;
    let since = match since {
        Some(s) => Some(time::parse_iso(&s).ok_or_else(|| ApiError::invalid("since"))?),
        None => None,
    };
    let until = match until {
        Some(s) => Some(time::parse_iso(&s).ok_or_else(|| ApiError::invalid("until"))?),
        None => None,
    };
    let repo = repo(st, ctx.project);
    let ref_name = req
        .params
        .str("ref_name")?
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| st.projects[&ctx.project].default_branch.clone());
    let rev = if ref_name.contains("..") {
        Some(ref_name.clone())
    } else {
        repo.resolve_ref(&ref_name)
    };
    let commits = match rev {
        Some(r) => repo.log(&r, path.as_deref(), first_parent),
        None => Vec::new(),
    };
    let items = commits
        .iter()
        .filter(|c| since.is_none_or(|s| c.committer_time * 1000 >= s))
        .filter(|c| until.is_none_or(|u| c.committer_time * 1000 <= u))
        .map(|c| {
            if with_stats {
                commit_detail_json(st, ctx.project, c, true)
            } else {
                commit_json(st, ctx.project, c)
            }
        })
        .collect();
    paginate(req, items)
}

pub fn get_commit(st: &mut State, req: &Req, ctx: &Ctx) -> ApiResult {
    let stats = req.params.bool("stats")?.unwrap_or(true);
    let repo = repo(st, ctx.project);
    let sha = repo
        .resolve_ref(ctx.cap(0))
        .ok_or_else(|| ApiError::not_found("Commit"))?;
    let info = repo
        .commit_info(&sha)
        .ok_or_else(|| ApiError::not_found("Commit"))?;
    Ok(Resp::ok(commit_detail_json(st, ctx.project, &info, stats)))
}

pub fn compare(st: &mut State, req: &Req, ctx: &Ctx) -> ApiResult {
    req.params.require(&["from", "to"])?;
    let from = req.params.str("from")?.unwrap_or_default();
    let to = req.params.str("to")?.unwrap_or_default();
    let straight = req.params.bool("straight")?.unwrap_or(false);
    let repo = repo(st, ctx.project);
    let from_sha = repo
        .resolve_ref(&from)
        .ok_or_else(|| ApiError::not_found("Ref"))?;
    let to_sha = repo
        .resolve_ref(&to)
        .ok_or_else(|| ApiError::not_found("Ref"))?;
    let base = if straight {
        from_sha.clone()
    } else {
        repo.merge_base(&from_sha, &to_sha)
            .unwrap_or_else(|| from_sha.clone())
    };
    let mut commits = repo.log(&format!("{from_sha}..{to_sha}"), None, false);
    commits.reverse();
    let diffs: Vec<Value> = repo
        .diff(&base, &to_sha)
        .into_iter()
        .map(|d| {
            json!({
                "old_path": d.old_path, "new_path": d.new_path,
                "a_mode": d.a_mode, "b_mode": d.b_mode, "diff": d.diff,
                "new_file": d.new_file, "renamed_file": d.renamed_file,
                "deleted_file": d.deleted_file, "generated_file": false,
            })
        })
        .collect();
    let last = commits.last().map(|c| commit_json(st, ctx.project, c));
    let p = &st.projects[&ctx.project];
    Ok(Resp::ok(json!({
        "commit": last,
        "commits": commits.iter().map(|c| commit_json(st, ctx.project, c)).collect::<Vec<_>>(),
        "diffs": diffs,
        "compare_timeout": false,
        "compare_same_ref": from_sha == to_sha,
        "web_url": format!("{}/{}/-/compare/{}...{}", st.base_url, st.project_full_path(p), from_sha, to_sha),
    })))
}

// ---- POST /projects/:id/repository/commits ----

struct Action {
    action: String,
    file_path: String,
    previous_path: Option<String>,
    content: Option<String>,
    encoding: String,
    last_commit_id: Option<String>,
    execute_filemode: Option<bool>,
}

/// Validate `actions[]` the way Grape does, collecting every error into one message.
fn parse_actions(params: &Params) -> Result<Vec<Action>, ApiError> {
    let items = match params.value("actions") {
        Some(Value::Array(items)) => items.clone(),
        Some(Value::Object(o)) => {
            // `actions[0][action]=…` style: a hash keyed by index.
            let mut pairs: Vec<(u64, Value)> = o
                .iter()
                .filter_map(|(k, v)| k.parse::<u64>().ok().map(|i| (i, v.clone())))
                .collect();
            if pairs.len() != o.len() {
                return Err(ApiError::invalid("actions"));
            }
            pairs.sort_by_key(|(i, _)| *i);
            pairs.into_iter().map(|(_, v)| v).collect()
        }
        _ => return Err(ApiError::invalid("actions")),
    };
    if items.is_empty() {
        return Err(ApiError::grape("actions is empty"));
    }
    let mut errors = Vec::new();
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let Value::Object(a) = item else {
            errors.push(format!("actions[{i}] is invalid"));
            continue;
        };
        let get = |k: &str, a: &Map<String, Value>| {
            a.get(k).filter(|v| !v.is_null()).and_then(scalar_string)
        };
        let action = get("action", a);
        let file_path = get("file_path", a);
        match &action {
            None => errors.push(format!("actions[{i}][action] is missing")),
            Some(x) if !["create", "update", "move", "delete", "chmod"].contains(&x.as_str()) => {
                errors.push(format!("actions[{i}][action] does not have a valid value"))
            }
            _ => {}
        }
        if file_path.is_none() {
            errors.push(format!("actions[{i}][file_path] is missing"));
        }
        let encoding = get("encoding", a).unwrap_or_else(|| "text".into());
        if encoding != "text" && encoding != "base64" {
            errors.push(format!(
                "actions[{i}][encoding] does not have a valid value"
            ));
        }
        let execute_filemode = match a.get("execute_filemode").filter(|v| !v.is_null()) {
            None => None,
            Some(v) => match coerce_bool(v) {
                Some(b) => Some(b),
                None => {
                    errors.push(format!("actions[{i}][execute_filemode] is invalid"));
                    None
                }
            },
        };
        out.push(Action {
            action: action.unwrap_or_default(),
            file_path: file_path.unwrap_or_default(),
            previous_path: get("previous_path", a),
            content: get("content", a),
            encoding,
            last_commit_id: get("last_commit_id", a),
            execute_filemode,
        });
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(ApiError::grape(errors.join(", ")))
    }
}

fn normalize_path(p: &str) -> Result<String, ApiError> {
    let p = p.trim_start_matches('/');
    let p = p.strip_prefix("./").unwrap_or(p);
    if p.is_empty() || p.split('/').any(|c| c == ".." || c.is_empty()) {
        return Err(ApiError::bad_request(format!(
            "Your changes could not be committed, because the file path {p} is invalid"
        )));
    }
    Ok(p.to_string())
}

fn decode_content(a: &Action) -> Result<Vec<u8>, ApiError> {
    let text = a.content.clone().unwrap_or_default();
    if a.encoding == "base64" {
        base64::engine::general_purpose::STANDARD
            .decode(text.trim().as_bytes())
            .map_err(|_| ApiError::bad_request("Invalid base64 content"))
    } else {
        Ok(text.into_bytes())
    }
}

pub fn create_commit(st: &mut State, req: &Req, ctx: &Ctx) -> ApiResult {
    let p = &req.params;
    st.require_access(ctx.project, req.user, DEVELOPER)?;
    p.require(&["branch", "commit_message", "actions"])?;
    let actions = parse_actions(p)?;
    let branch = p.str("branch")?.unwrap_or_default();
    let message = p.str("commit_message")?.unwrap_or_default();
    let start_branch = p.str("start_branch")?;
    let start_sha = p.str("start_sha")?;
    if start_branch.is_some() && start_sha.is_some() {
        return Err(ApiError::grape(
            "start_branch, start_sha are mutually exclusive",
        ));
    }
    let force = p.bool("force")?.unwrap_or(false);
    let stats = p.bool("stats")?.unwrap_or(true);
    let author_name = p.str("author_name")?;
    let author_email = p.str("author_email")?;
    if !st.can_push(ctx.project, req.user, &branch) {
        return Err(ApiError::forbidden_because(
            "You are not allowed to push into this branch",
        ));
    }
    let repo = repo(st, ctx.project);
    let empty_repo = repo.branches().is_empty();
    let start_branch = if start_sha.is_none() {
        Some(start_branch.unwrap_or_else(|| branch.clone()))
    } else {
        None
    };
    let base: Option<String> = match (&start_sha, &start_branch) {
        (Some(sha), _) => Some(
            repo.resolve_commit(sha)
                .filter(|_| sha.len() >= 7 && sha.chars().all(|c| c.is_ascii_hexdigit()))
                .ok_or_else(|| ApiError::bad_request(format!("Cannot find start_sha '{sha}'")))?,
        ),
        (None, Some(sb)) => match repo.branch_sha(sb) {
            Some(s) => Some(s),
            None if empty_repo => None,
            None => {
                return Err(ApiError::bad_request(
                    "You can only create or edit files when you are on a branch",
                ))
            }
        },
        (None, None) => None,
    };
    let different_branch = start_sha.is_some() || start_branch.as_deref() != Some(branch.as_str());
    let branch_exists = repo.branch_sha(&branch).is_some();
    if !empty_repo && different_branch && branch_exists && !force {
        return Err(ApiError::bad_request(format!(
            "A branch called '{branch}' already exists. Switch to that branch in order to make changes"
        )));
    }
    if !branch_exists && !repo.valid_branch_name(&branch) {
        return Err(ApiError::bad_request(format!(
            "Branch name {branch} is invalid"
        )));
    }

    let mut tree = match &base {
        Some(b) => repo.flat_tree(b),
        None => BTreeMap::new(),
    };
    let last_commit_check = |a: &Action, path: &str| -> Result<(), ApiError> {
        if let (Some(expected), Some(b)) = (&a.last_commit_id, &base) {
            let actual = repo.last_commit_for_path(b, path).unwrap_or_default();
            if !actual.starts_with(expected.as_str()) || expected.is_empty() {
                return Err(ApiError::bad_request(format!(
                    "The file has changed since you started editing it: {path}"
                )));
            }
        }
        Ok(())
    };
    for a in &actions {
        let path = normalize_path(&a.file_path)?;
        match a.action.as_str() {
            "create" => {
                if tree.contains_key(&path) {
                    return Err(ApiError::bad_request(
                        "A file with this name already exists",
                    ));
                }
                let prefix = format!("{path}/");
                if tree.keys().any(|k| k.starts_with(&prefix)) {
                    return Err(ApiError::bad_request(
                        "A directory with this name already exists",
                    ));
                }
                let blob = repo.write_blob(&decode_content(a)?);
                let mode = if a.execute_filemode == Some(true) {
                    "100755"
                } else {
                    "100644"
                };
                tree.insert(path, (mode.into(), blob));
            }
            "update" => {
                let Some((mode, _)) = tree.get(&path).cloned() else {
                    return Err(ApiError::bad_request("A file with this name doesn't exist"));
                };
                last_commit_check(a, &path)?;
                let blob = repo.write_blob(&decode_content(a)?);
                tree.insert(path, (mode, blob));
            }
            "delete" => {
                if !tree.contains_key(&path) {
                    return Err(ApiError::bad_request("A file with this name doesn't exist"));
                }
                last_commit_check(a, &path)?;
                tree.remove(&path);
            }
            "move" => {
                let prev = normalize_path(a.previous_path.as_deref().unwrap_or(""))?;
                let Some((mode, blob)) = tree.get(&prev).cloned() else {
                    return Err(ApiError::bad_request("A file with this name doesn't exist"));
                };
                if tree.contains_key(&path) {
                    return Err(ApiError::bad_request(
                        "A file with this name already exists",
                    ));
                }
                last_commit_check(a, &prev)?;
                let blob = if a.content.is_some() {
                    repo.write_blob(&decode_content(a)?)
                } else {
                    blob
                };
                tree.remove(&prev);
                tree.insert(path, (mode, blob));
            }
            "chmod" => {
                let Some((_, blob)) = tree.get(&path).cloned() else {
                    return Err(ApiError::bad_request("A file with this name doesn't exist"));
                };
                last_commit_check(a, &path)?;
                let mode = if a.execute_filemode == Some(true) {
                    "100755"
                } else {
                    "100644"
                };
                tree.insert(path, (mode.into(), blob));
            }
            _ => unreachable!("validated"),
        }
    }
    let tree_sha = repo.write_tree(&tree);
    let committer = st.ident(req.user);
    let author = Ident {
        name: author_name.unwrap_or_else(|| committer.name.clone()),
        email: author_email.unwrap_or_else(|| committer.email.clone()),
    };
    let parents: Vec<&str> = base.iter().map(String::as_str).collect();
    let sha = repo.commit_tree(&tree_sha, &parents, &message, &author, None, &committer);
    st.update_branch(ctx.project, &branch, &sha, req.user);
    let info = repo.commit_info(&sha).expect("new commit");
    Ok(Resp::created(commit_detail_json(
        st,
        ctx.project,
        &info,
        stats,
    )))
}

//! Merge requests, their notes and award emoji.

use serde_json::{json, Value};

use super::Ctx;
use crate::git::Ident;
use crate::http::{paginate, ApiError, ApiResult, Req, Resp};
use crate::state::{AwardRec, MrRec, MrState, NoteRec, State, DEVELOPER, MAINTAINER};
use crate::time;
use crate::MergeMethod;

/// The live git view of a merge request.
struct Live {
    source_sha: Option<String>,
    target_sha: Option<String>,
    detailed: &'static str,
    conflict: bool,
    base_sha: Option<String>,
    diverged: u64,
}

fn live(st: &mut State, project: u64, iid: u64) -> Live {
    let p = st.projects.get_mut(&project).expect("project");
    let mr = p.mrs.get(&iid).expect("mr").clone();
    let source_sha = p.repo.branch_sha(&mr.source_branch);
    let target_sha = p.repo.branch_sha(&mr.target_branch);
    if mr.state == MrState::Opened {
        if let Some(s) = &source_sha {
            p.mrs.get_mut(&iid).expect("mr").last_sha = s.clone();
        }
    }
    let analysis = match (&source_sha, &target_sha) {
        (Some(s), Some(t)) => Some(p.analyse(s, t)),
        _ => None,
    };
    let conflict = analysis.as_ref().is_some_and(|a| a.conflict);
    let needs_rebase_method = p.merge_method != MergeMethod::Merge;
    let detailed = if mr.state != MrState::Opened {
        "not_open"
    } else if mr.draft() {
        "draft"
    } else {
        match &analysis {
            None => "broken_status",
            Some(a) if !a.ahead => "commits_status",
            Some(a) if a.conflict => "conflict",
            Some(a) if a.behind && needs_rebase_method => "need_rebase",
            Some(_) => "mergeable",
        }
    };
    Live {
        source_sha,
        target_sha,
        detailed,
        conflict,
        base_sha: analysis.as_ref().and_then(|a| a.base_sha.clone()),
        diverged: analysis.as_ref().map(|a| a.diverged).unwrap_or(0),
    }
}

fn awards_count(awards: &[AwardRec], name: &str) -> usize {
    awards.iter().filter(|a| a.name == name).count()
}

#[derive(Default, Clone, Copy)]
struct Extra {
    single: bool,
    simple: bool,
    rebase_in_progress: bool,
    diverged: bool,
}

fn mr_json(st: &mut State, project: u64, iid: u64, user: u64, extra: Extra) -> Value {
    let lv = live(st, project, iid);
    let p = &st.projects[&project];
    let mr = &p.mrs[&iid];
    let full_path = st.project_full_path(p);
    let web_url = format!("{}/{}/-/merge_requests/{}", st.base_url, full_path, iid);
    if extra.simple {
        return json!({
            "id": mr.id, "iid": mr.iid, "project_id": project, "title": mr.title,
            "description": mr.description, "state": mr.state.as_str(),
            "created_at": time::iso_ms(mr.created_at), "updated_at": time::iso_ms(mr.updated_at),
            "web_url": web_url,
        });
    }
    let users = |ids: &[u64]| ids.iter().map(|u| st.user_basic(*u)).collect::<Vec<_>>();
    let milestone = mr.milestone_id.and_then(|m| {
        p.milestones
            .iter()
            .find(|x| x.id == m)
            .map(|x| st.milestone_json(project, x))
    });
    let sha = if mr.state == MrState::Opened {
        lv.source_sha.clone().unwrap_or_else(|| mr.last_sha.clone())
    } else {
        mr.last_sha.clone()
    };
    let mut labels = mr.labels.clone();
    labels.sort_by_key(|l| l.to_lowercase());
    let merge_status =
        if mr.state == MrState::Opened && (lv.conflict || lv.detailed == "broken_status") {
            "cannot_be_merged"
        } else {
            "can_be_merged"
        };
    let user_notes = mr.notes.iter().filter(|n| !n.system).count();
    let mut v = json!({
        "id": mr.id,
        "iid": mr.iid,
        "project_id": project,
        "title": mr.title,
        "description": mr.description,
        "state": mr.state.as_str(),
        "created_at": time::iso_ms(mr.created_at),
        "updated_at": time::iso_ms(mr.updated_at),
        "merged_by": mr.merged_by.map(|u| st.user_basic(u)),
        "merge_user": mr.merged_by.map(|u| st.user_basic(u)),
        "merged_at": mr.merged_at.map(time::iso_ms),
        "closed_by": mr.closed_by.map(|u| st.user_basic(u)),
        "closed_at": mr.closed_at.map(time::iso_ms),
        "target_branch": mr.target_branch,
        "source_branch": mr.source_branch,
        "user_notes_count": user_notes,
        "upvotes": awards_count(&mr.awards, "thumbsup"),
        "downvotes": awards_count(&mr.awards, "thumbsdown"),
        "author": st.user_basic(mr.author_id),
        "assignees": users(&mr.assignee_ids),
        "assignee": mr.assignee_ids.first().map(|u| st.user_basic(*u)),
        "reviewers": users(&mr.reviewer_ids),
        "source_project_id": project,
        "target_project_id": project,
        "labels": labels,
        "draft": mr.draft(),
        "work_in_progress": mr.draft(),
        "milestone": milestone,
        "merge_when_pipeline_succeeds": false,
        "merge_status": merge_status,
        "detailed_merge_status": lv.detailed,
        "merge_after": null,
        "sha": sha,
        "merge_commit_sha": mr.merge_commit_sha,
        "squash_commit_sha": mr.squash_commit_sha,
        "discussion_locked": mr.discussion_locked,
        "should_remove_source_branch": mr.should_remove_source_branch,
        "force_remove_source_branch": mr.force_remove_source_branch,
        "prepared_at": time::iso_ms(mr.created_at),
        "reference": format!("!{iid}"),
        "references": {"short": format!("!{iid}"), "relative": format!("!{iid}"), "full": format!("{full_path}!{iid}")},
        "web_url": web_url,
        "time_stats": {"time_estimate": 0, "total_time_spent": 0, "human_time_estimate": null, "human_total_time_spent": null},
        "squash": mr.squash,
        "squash_on_merge": mr.squash,
        "task_completion_status": {"count": 0, "completed_count": 0},
        "has_conflicts": mr.state == MrState::Opened && lv.conflict,
        "blocking_discussions_resolved": true,
        "approvals_before_merge": null,
    });
    if extra.single {
        let diff_refs = match (
            &mr.frozen_refs,
            &lv.base_sha,
            &lv.source_sha,
            &lv.target_sha,
        ) {
            (Some((b, h, s)), _, _, _) => json!({"base_sha": b, "head_sha": h, "start_sha": s}),
            (None, Some(b), Some(h), Some(s)) => {
                json!({"base_sha": b, "head_sha": h, "start_sha": s})
            }
            _ => Value::Null,
        };
        let o = v.as_object_mut().expect("object");
        let changes = match (&lv.base_sha, &lv.source_sha) {
            (Some(b), Some(h)) => p.repo.changed_file_count(b, h),
            _ => 0,
        };
        o.insert("subscribed".into(), json!(false));
        o.insert("changes_count".into(), json!(changes.to_string()));
        o.insert("latest_build_started_at".into(), Value::Null);
        o.insert("latest_build_finished_at".into(), Value::Null);
        o.insert("first_deployed_to_production_at".into(), Value::Null);
        o.insert("pipeline".into(), Value::Null);
        o.insert("head_pipeline".into(), Value::Null);
        o.insert("diff_refs".into(), diff_refs);
        o.insert("merge_error".into(), json!(mr.merge_error));
        o.insert("first_contribution".into(), json!(false));
        let can_merge = st.can_push(project, user, &mr.target_branch);
        o.insert("user".into(), json!({"can_merge": can_merge}));
        if extra.rebase_in_progress {
            o.insert("rebase_in_progress".into(), json!(false));
        }
        if extra.diverged {
            o.insert("diverged_commits_count".into(), json!(lv.diverged));
        }
    }
    v
}

fn find_mr(st: &State, project: u64, ctx: &Ctx) -> Result<u64, ApiError> {
    let iid = ctx.num(0, "Merge Request")?;
    if st.projects[&project].mrs.contains_key(&iid) {
        Ok(iid)
    } else {
        Err(ApiError::not_found("Merge Request"))
    }
}

fn mr_mut(st: &mut State, project: u64, iid: u64) -> &mut MrRec {
    st.projects
        .get_mut(&project)
        .and_then(|p| p.mrs.get_mut(&iid))
        .expect("merge request")
}

const MR_STATES: &[&str] = &["opened", "closed", "locked", "merged", "all"];

pub fn list(st: &mut State, req: &Req, ctx: &Ctx) -> ApiResult {
    let p = &req.params;
    let state = p
        .one_of("state", MR_STATES)?
        .unwrap_or_else(|| "all".into());
    let source = p.str("source_branch")?;
    let target = p.str("target_branch")?;
    let labels = p.string_list("labels")?;
    let author_id = p.u64("author_id")?;
    let author_username = p.str("author_username")?;
    let assignee_id = p.str("assignee_id")?;
    let reviewer_id = p.str("reviewer_id")?;
    let search = p.str("search")?.map(|s| s.to_lowercase());
    let milestone = p.str("milestone")?;
    let iids = p.id_list("iids")?;
    let wip = p.one_of("wip", &["yes", "no"])?;
    let scope = p
        .one_of(
            "scope",
            &[
                "created_by_me",
                "assigned_to_me",
                "all",
                "created-by-me",
                "assigned-to-me",
            ],
        )?
        .unwrap_or_else(|| "all".into());
    let order_by = p
        .one_of(
            "order_by",
            &[
                "created_at",
                "updated_at",
                "merged_at",
                "title",
                "label_priority",
                "milestone_due",
                "popularity",
                "priority",
            ],
        )?
        .unwrap_or_else(|| "created_at".into());
    let sort = p
        .one_of("sort", &["asc", "desc"])?
        .unwrap_or_else(|| "desc".into());
    let created_after = p.str("created_after")?.and_then(|s| time::parse_iso(&s));
    let created_before = p.str("created_before")?.and_then(|s| time::parse_iso(&s));
    let updated_after = p.str("updated_after")?.and_then(|s| time::parse_iso(&s));
    let updated_before = p.str("updated_before")?.and_then(|s| time::parse_iso(&s));
    let simple = p.str("view")?.as_deref() == Some("simple");
    let author_by_name = author_username
        .as_ref()
        .map(|n| st.user_by_name(n).map(|u| u.id).unwrap_or(u64::MAX));
    let milestone_ids = |title: &str| -> Vec<u64> {
        st.projects[&ctx.project]
            .milestones
            .iter()
            .filter(|m| m.title == title)
            .map(|m| m.id)
            .collect()
    };
    let id_filter = |f: &Option<String>, ids: &[u64]| -> bool {
        match f.as_deref() {
            None => true,
            Some("None") | Some("none") => ids.is_empty(),
            Some("Any") | Some("any") => !ids.is_empty(),
            Some(x) => x.parse::<u64>().is_ok_and(|id| ids.contains(&id)),
        }
    };
    let mut mrs: Vec<&MrRec> = st.projects[&ctx.project]
        .mrs
        .values()
        .filter(|m| state == "all" || m.state.as_str() == state)
        .filter(|m| source.as_ref().is_none_or(|s| &m.source_branch == s))
        .filter(|m| target.as_ref().is_none_or(|t| &m.target_branch == t))
        .filter(|m| match labels.as_deref() {
            None => true,
            Some([x]) if x.eq_ignore_ascii_case("none") => m.labels.is_empty(),
            Some([x]) if x.eq_ignore_ascii_case("any") => !m.labels.is_empty(),
            Some(ls) => ls.iter().all(|l| m.labels.contains(l)),
        })
        .filter(|m| author_id.is_none_or(|a| m.author_id == a))
        .filter(|m| author_by_name.is_none_or(|a| m.author_id == a))
        .filter(|m| id_filter(&assignee_id, &m.assignee_ids))
        .filter(|m| id_filter(&reviewer_id, &m.reviewer_ids))
        .filter(|m| {
            search.as_ref().is_none_or(|s| {
                m.title.to_lowercase().contains(s) || m.description.to_lowercase().contains(s)
            })
        })
        .filter(|m| match milestone.as_deref() {
            None => true,
            Some("None") => m.milestone_id.is_none(),
            Some("Any") => m.milestone_id.is_some(),
            Some(t) => m
                .milestone_id
                .is_some_and(|id| milestone_ids(t).contains(&id)),
        })
        .filter(|m| iids.as_ref().is_none_or(|ids| ids.contains(&m.iid)))
        .filter(|m| match wip.as_deref() {
            Some("yes") => m.draft(),
            Some("no") => !m.draft(),
            _ => true,
        })
        .filter(|m| match scope.as_str() {
            "created_by_me" | "created-by-me" => m.author_id == req.user,
            "assigned_to_me" | "assigned-to-me" => m.assignee_ids.contains(&req.user),
            _ => true,
        })
        .filter(|m| created_after.is_none_or(|t| m.created_at >= t))
        .filter(|m| created_before.is_none_or(|t| m.created_at <= t))
        .filter(|m| updated_after.is_none_or(|t| m.updated_at >= t))
        .filter(|m| updated_before.is_none_or(|t| m.updated_at <= t))
        .collect();
    mrs.sort_by(|a, b| {
        let ord = match order_by.as_str() {
            "updated_at" => a.updated_at.cmp(&b.updated_at),
            "title" => a.title.to_lowercase().cmp(&b.title.to_lowercase()),
            "merged_at" => a.merged_at.cmp(&b.merged_at),
            _ => a.created_at.cmp(&b.created_at),
        }
        .then(a.id.cmp(&b.id));
        if sort == "asc" {
            ord
        } else {
            ord.reverse()
        }
    });
    let iids: Vec<u64> = mrs.iter().map(|m| m.iid).collect();
    let extra = Extra {
        simple,
        ..Extra::default()
    };
    let items = iids
        .into_iter()
        .map(|iid| mr_json(st, ctx.project, iid, req.user, extra))
        .collect();
    paginate(req, items)
}

pub fn get(st: &mut State, req: &Req, ctx: &Ctx) -> ApiResult {
    let iid = find_mr(st, ctx.project, ctx)?;
    let extra = Extra {
        single: true,
        simple: false,
        rebase_in_progress: req
            .params
            .bool("include_rebase_in_progress")?
            .unwrap_or(false),
        diverged: req
            .params
            .bool("include_diverged_commits_count")?
            .unwrap_or(false),
    };
    Ok(Resp::ok(mr_json(st, ctx.project, iid, req.user, extra)))
}

fn single(st: &mut State, project: u64, iid: u64, user: u64) -> Value {
    mr_json(
        st,
        project,
        iid,
        user,
        Extra {
            single: true,
            ..Extra::default()
        },
    )
}

/// Keep only existing users (and only the first unless multiple assignees are allowed).
fn filter_users(st: &State, ids: Vec<u64>, multiple: bool) -> Vec<u64> {
    let mut out: Vec<u64> = Vec::new();
    for id in ids {
        if id != 0 && st.users.contains_key(&id) && !out.contains(&id) {
            out.push(id);
        }
    }
    if !multiple {
        out.truncate(1);
    }
    out
}

fn assignees_param(st: &State, req: &Req) -> Result<Option<Vec<u64>>, ApiError> {
    if let Some(ids) = req.params.id_list("assignee_ids")? {
        return Ok(Some(filter_users(st, ids, st.multiple_assignees)));
    }
    if let Some(id) = req.params.u64("assignee_id")? {
        return Ok(Some(filter_users(st, vec![id], false)));
    }
    Ok(None)
}

fn reviewers_param(st: &State, req: &Req) -> Result<Option<Vec<u64>>, ApiError> {
    Ok(req
        .params
        .id_list("reviewer_ids")?
        .map(|ids| filter_users(st, ids, st.multiple_assignees)))
}

fn milestone_param(st: &State, req: &Req, project: u64) -> Result<Option<Option<u64>>, ApiError> {
    Ok(req.params.u64("milestone_id")?.map(|m| {
        st.projects[&project]
            .milestones
            .iter()
            .find(|x| x.id == m)
            .map(|x| x.id)
    }))
}

fn conflicting_mr(
    st: &State,
    project: u64,
    source: &str,
    target: &str,
    except: u64,
) -> Option<u64> {
    st.projects[&project]
        .mrs
        .values()
        .find(|m| {
            m.state == MrState::Opened
                && m.source_branch == source
                && m.target_branch == target
                && m.iid != except
        })
        .map(|m| m.iid)
}

pub fn create(st: &mut State, req: &Req, ctx: &Ctx) -> ApiResult {
    let p = &req.params;
    st.require_access(ctx.project, req.user, DEVELOPER)?;
    p.require(&["source_branch", "target_branch", "title"])?;
    let source = p.str("source_branch")?.unwrap_or_default();
    let target = p.str("target_branch")?.unwrap_or_default();
    let title = p.str("title")?.unwrap_or_default();
    let description = p.str("description")?.unwrap_or_default();
    let labels = p.string_list("labels")?.unwrap_or_default();
    let remove_source = p.bool("remove_source_branch")?;
    let squash = p.bool("squash")?.unwrap_or(false);
    if let Some(tp) = p.u64("target_project_id")? {
        if tp != ctx.project {
            return Err(ApiError::not_found("Project"));
        }
    }
    let assignees = assignees_param(st, req)?.unwrap_or_default();
    let reviewers = reviewers_param(st, req)?.unwrap_or_default();
    let milestone = milestone_param(st, req, ctx.project)?.flatten();
    if title.trim().is_empty() {
        return Err(ApiError::validation("title", "can't be blank"));
    }
    if source == target {
        return Err(ApiError::new(
            422,
            json!({"message": ["You can't use same project/branch for source and target"]}),
        ));
    }
    let repo = st.projects[&ctx.project].repo.clone();
    if repo.branch_sha(&source).is_none() {
        return Err(ApiError::validation("source_branch", "does not exist"));
    }
    if repo.branch_sha(&target).is_none() {
        return Err(ApiError::validation("target_branch", "does not exist"));
    }
    if let Some(n) = conflicting_mr(st, ctx.project, &source, &target, 0) {
        return Err(ApiError::new(
            409,
            json!({"message": [format!("Another open merge request already exists for this source branch: !{n}")]}),
        ));
    }
    st.ensure_labels(ctx.project, &labels);
    let id = st.id();
    let now = st.now();
    let last_sha = repo.branch_sha(&source).unwrap_or_default();
    let pr = st.projects.get_mut(&ctx.project).expect("project");
    let iid = pr.next_mr_iid;
    pr.next_mr_iid += 1;
    pr.last_activity_at = now;
    pr.mrs.insert(
        iid,
        MrRec {
            id,
            iid,
            title,
            description,
            state: MrState::Opened,
            source_branch: source,
            target_branch: target,
            author_id: req.user,
            assignee_ids: assignees,
            reviewer_ids: reviewers,
            labels: dedup(labels),
            milestone_id: milestone,
            squash,
            force_remove_source_branch: remove_source,
            should_remove_source_branch: None,
            discussion_locked: None,
            created_at: now,
            updated_at: now,
            closed_at: None,
            closed_by: None,
            merged_at: None,
            merged_by: None,
            merge_commit_sha: None,
            squash_commit_sha: None,
            last_sha,
            frozen_refs: None,
            merge_error: None,
            notes: Vec::new(),
            awards: Vec::new(),
        },
    );
    Ok(Resp::created(single(st, ctx.project, iid, req.user)))
}

fn dedup(v: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for x in v {
        if !out.contains(&x) {
            out.push(x);
        }
    }
    out
}

const UPDATE_PARAMS: &[&str] = &[
    "assignee_id",
    "assignee_ids",
    "reviewer_ids",
    "description",
    "labels",
    "add_labels",
    "remove_labels",
    "milestone_id",
    "remove_source_branch",
    "allow_collaboration",
    "allow_maintainer_to_push",
    "squash",
    "target_branch",
    "title",
    "state_event",
    "discussion_locked",
];

fn can_update(st: &State, project: u64, user: u64, mr: &MrRec) -> bool {
    (st.access_level(project, user) >= DEVELOPER || mr.author_id == user)
        && !st.projects[&project].archived
}

pub fn update(st: &mut State, req: &Req, ctx: &Ctx) -> ApiResult {
    let p = &req.params;
    let iid = find_mr(st, ctx.project, ctx)?;
    if !can_update(
        st,
        ctx.project,
        req.user,
        &st.projects[&ctx.project].mrs[&iid],
    ) {
        return Err(ApiError::forbidden());
    }
    if !UPDATE_PARAMS.iter().any(|k| p.has(k)) {
        return Err(ApiError::grape(format!(
            "{} are missing, at least one parameter must be provided",
            UPDATE_PARAMS.join(", ")
        )));
    }
    let state_event = p.one_of("state_event", &["close", "reopen"])?;
    let title = p.str("title")?;
    let description = p.str("description")?;
    let target = p.str("target_branch")?;
    let labels = p.string_list("labels")?;
    let add_labels = p.string_list("add_labels")?;
    let remove_labels = p.string_list("remove_labels")?;
    let remove_source = p.bool("remove_source_branch")?;
    let squash = p.bool("squash")?;
    let discussion_locked = p.bool("discussion_locked")?;
    let assignees = assignees_param(st, req)?;
    let reviewers = reviewers_param(st, req)?;
    let milestone = milestone_param(st, req, ctx.project)?;
    if title.as_ref().is_some_and(|t| t.trim().is_empty()) {
        return Err(ApiError::validation("title", "can't be blank"));
    }
    let mr = st.projects[&ctx.project].mrs[&iid].clone();
    if let Some(t) = &target {
        if *t == mr.source_branch {
            return Err(ApiError::new(
                422,
                json!({"message": ["You can't use same project/branch for source and target"]}),
            ));
        }
        if st.projects[&ctx.project].repo.branch_sha(t).is_none() {
            return Err(ApiError::validation("target_branch", "does not exist"));
        }
    }
    let new_target = target.clone().unwrap_or(mr.target_branch.clone());
    let reopening = state_event.as_deref() == Some("reopen") && mr.state == MrState::Closed;
    if mr.state == MrState::Opened || reopening {
        if let Some(n) = conflicting_mr(st, ctx.project, &mr.source_branch, &new_target, iid) {
            return Err(ApiError::new(
                409,
                json!({"message": [format!("Another open merge request already exists for this source branch: !{n}")]}),
            ));
        }
    }
    let mut all_labels: Vec<String> = Vec::new();
    for l in [&labels, &add_labels].into_iter().flatten() {
        all_labels.extend(l.iter().cloned());
    }
    st.ensure_labels(ctx.project, &all_labels);
    let now = st.now();
    let mut notes: Vec<String> = Vec::new();
    {
        let m = mr_mut(st, ctx.project, iid);
        if let Some(t) = title {
            if t != m.title {
                notes.push(format!("changed title from **{}** to **{}**", m.title, t));
                m.title = t;
            }
        }
        if let Some(d) = description {
            if d != m.description {
                notes.push("changed the description".into());
                m.description = d;
            }
        }
        if let Some(t) = target {
            if t != m.target_branch {
                notes.push(format!(
                    "changed target branch from `{}` to `{}`",
                    m.target_branch, t
                ));
                m.target_branch = t;
            }
        }
        if let Some(l) = labels {
            m.labels = dedup(l);
        }
        if let Some(add) = add_labels {
            for l in add {
                if !m.labels.contains(&l) {
                    m.labels.push(l);
                }
            }
        }
        if let Some(rm) = remove_labels {
            m.labels.retain(|l| !rm.contains(l));
        }
        if let Some(a) = assignees {
            m.assignee_ids = a;
        }
        if let Some(r) = reviewers {
            m.reviewer_ids = r;
        }
        if let Some(ms) = milestone {
            m.milestone_id = ms;
        }
        if remove_source.is_some() {
            m.force_remove_source_branch = remove_source;
        }
        if let Some(s) = squash {
            m.squash = s;
        }
        if discussion_locked.is_some() {
            m.discussion_locked = discussion_locked;
        }
        match state_event.as_deref() {
            Some("close") if m.state == MrState::Opened => {
                m.state = MrState::Closed;
                m.closed_at = Some(now);
                m.closed_by = Some(req.user);
                notes.push("closed".into());
            }
            Some("reopen") if m.state == MrState::Closed => {
                m.state = MrState::Opened;
                m.closed_at = None;
                m.closed_by = None;
                notes.push("reopened".into());
            }
            _ => {}
        }
        m.updated_at = now;
    }
    for n in notes {
        st.add_system_note(ctx.project, iid, req.user, &n);
    }
    Ok(Resp::ok(single(st, ctx.project, iid, req.user)))
}

/// Replay the source branch's own commits onto the target; Err(message) on conflict.
pub fn rebase_branch(st: &mut State, project: u64, iid: u64, user: u64) -> Result<(), String> {
    let p = &st.projects[&project];
    let mr = p.mrs[&iid].clone();
    let repo = p.repo.clone();
    let (Some(source), Some(target)) = (
        repo.branch_sha(&mr.source_branch),
        repo.branch_sha(&mr.target_branch),
    ) else {
        return Err("Rebase failed: the source or target branch does not exist".into());
    };
    let committer = st.ident(user);
    let mut head = target.clone();
    for c in repo.commits_to_replay(&target, &source) {
        let parent = c.parents.first().cloned();
        let tree =
            match repo.merge_tree(parent.as_deref(), &head, &c.sha) {
                Ok(t) => t,
                Err(_) => return Err(
                    "Rebase failed: Rebase locally, resolve all conflicts, then push the branch."
                        .into(),
                ),
            };
        let author = Ident {
            name: c.author_name.clone(),
            email: c.author_email.clone(),
        };
        head = repo.commit_tree(
            &tree,
            &[&head],
            &c.message,
            &author,
            Some(c.author_time),
            &committer,
        );
    }
    if head != source {
        st.update_branch(project, &mr.source_branch, &head, user);
    }
    Ok(())
}

pub fn rebase(st: &mut State, req: &Req, ctx: &Ctx) -> ApiResult {
    let iid = find_mr(st, ctx.project, ctx)?;
    let _skip_ci = req.params.bool("skip_ci")?;
    let mr = st.projects[&ctx.project].mrs[&iid].clone();
    if !st.can_push(ctx.project, req.user, &mr.source_branch) {
        return Err(ApiError::forbidden());
    }
    if mr.state != MrState::Opened {
        return Err(ApiError::forbidden());
    }
    let result = rebase_branch(st, ctx.project, iid, req.user);
    mr_mut(st, ctx.project, iid).merge_error = result.err();
    Ok(Resp::json(202, &json!({"rebase_in_progress": true})))
}

/// How a merge writes the target branch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MergeStyle {
    /// A merge commit (GitLab's default merge method).
    Commit,
    /// Move the target to the source head.
    FastForward,
}

/// How to merge.
pub struct MergeOpts {
    pub user: u64,
    pub style: MergeStyle,
    pub squash: bool,
    pub message: Option<String>,
    pub remove_source: bool,
}

/// Merge an MR into its target. Err(()) when git cannot (conflict, missing branch).
pub fn do_merge(st: &mut State, project: u64, iid: u64, opts: MergeOpts) -> Result<(), ()> {
    let MergeOpts {
        user,
        style,
        squash,
        message: merge_message,
        remove_source,
    } = opts;
    let p = &st.projects[&project];
    let mr = p.mrs[&iid].clone();
    let repo = p.repo.clone();
    let full_path = st.project_full_path(p);
    let source = repo.branch_sha(&mr.source_branch).ok_or(())?;
    let target = repo.branch_sha(&mr.target_branch).ok_or(())?;
    let base = repo.merge_base(&source, &target).ok_or(())?;
    let who = st.ident(user);
    let mut head = source.clone();
    let mut squash_sha = None;
    if squash {
        let author = st.ident(mr.author_id);
        let tree = repo.tree_of(&source);
        let s = repo.commit_tree(&tree, &[&base], &mr.title, &author, None, &who);
        squash_sha = Some(s.clone());
        head = s;
    }
    let new_target = match style {
        MergeStyle::FastForward => {
            if !repo.is_ancestor(&target, &head) {
                return Err(());
            }
            head.clone()
        }
        MergeStyle::Commit => {
            let tree = repo.merge_tree(None, &target, &head).map_err(|_| ())?;
            let msg = merge_message.unwrap_or_else(|| {
                format!(
                    "Merge branch '{}' into '{}'\n\n{}\n\nSee merge request {}!{}",
                    mr.source_branch, mr.target_branch, mr.title, full_path, iid
                )
            });
            repo.commit_tree(&tree, &[&target, &head], &msg, &who, None, &who)
        }
    };
    st.update_branch(project, &mr.target_branch, &new_target, user);
    let now = st.now();
    {
        let m = mr_mut(st, project, iid);
        m.state = MrState::Merged;
        m.merged_at = Some(now);
        m.merged_by = Some(user);
        m.merge_commit_sha = (style == MergeStyle::Commit).then(|| new_target.clone());
        m.squash_commit_sha = squash_sha;
        m.last_sha = source.clone();
        m.frozen_refs = Some((base, source, target));
        m.updated_at = now;
        m.merge_error = None;
    }
    st.add_system_note(project, iid, user, "merged");
    if remove_source {
        repo.delete_branch(&mr.source_branch);
    }
    Ok(())
}

pub fn merge(st: &mut State, req: &Req, ctx: &Ctx) -> ApiResult {
    let p = &req.params;
    let iid = find_mr(st, ctx.project, ctx)?;
    let squash_param = p.bool("squash")?;
    let should_remove = p.bool("should_remove_source_branch")?;
    let sha = p.str("sha")?;
    let message = p.str("merge_commit_message")?;
    let mr = st.projects[&ctx.project].mrs[&iid].clone();
    if !st.can_push(ctx.project, req.user, &mr.target_branch) {
        return Err(ApiError::unauthorized());
    }
    let lv = live(st, ctx.project, iid);
    if lv.detailed != "mergeable" {
        return Err(ApiError::message(405, "405 Method Not Allowed"));
    }
    if let (Some(want), Some(have)) = (&sha, &lv.source_sha) {
        if want != have {
            return Err(ApiError::message(
                409,
                format!("SHA does not match HEAD of source branch: {have}"),
            ));
        }
    }
    let method = st.projects[&ctx.project].merge_method;
    let style = match method {
        MergeMethod::FastForward => MergeStyle::FastForward,
        _ => MergeStyle::Commit,
    };
    let squash = squash_param.unwrap_or(mr.squash);
    let remove = should_remove
        .or(mr.force_remove_source_branch)
        .unwrap_or(false);
    if should_remove.is_some() {
        mr_mut(st, ctx.project, iid).should_remove_source_branch = should_remove;
    }
    let opts = MergeOpts {
        user: req.user,
        style,
        squash,
        message,
        remove_source: remove,
    };
    do_merge(st, ctx.project, iid, opts)
        .map_err(|_| ApiError::message(422, "Branch cannot be merged"))?;
    Ok(Resp::ok(single(st, ctx.project, iid, req.user)))
}

pub fn commits(st: &mut State, req: &Req, ctx: &Ctx) -> ApiResult {
    let iid = find_mr(st, ctx.project, ctx)?;
    let lv = live(st, ctx.project, iid);
    let p = &st.projects[&ctx.project];
    let mr = &p.mrs[&iid];
    let (from, to) = match (&mr.frozen_refs, &lv.base_sha, &lv.source_sha) {
        (Some((b, h, _)), _, _) => (b.clone(), h.clone()),
        (None, Some(b), Some(h)) => (b.clone(), h.clone()),
        _ => return paginate(req, Vec::new()),
    };
    let list = p.repo.log(&format!("{from}..{to}"), None, false);
    let items = list
        .iter()
        .map(|c| super::repository::commit_json(st, ctx.project, c))
        .collect();
    paginate(req, items)
}

// ---- notes ----

fn note_json(st: &State, project: u64, mr: &MrRec, n: &NoteRec) -> Value {
    json!({
        "id": n.id,
        "type": null,
        "body": n.body,
        "attachment": null,
        "author": st.user_basic(n.author_id),
        "created_at": time::iso_ms(n.created_at),
        "updated_at": time::iso_ms(n.updated_at),
        "system": n.system,
        "noteable_id": mr.id,
        "noteable_type": "MergeRequest",
        "project_id": project,
        "commit_id": null,
        "resolvable": false,
        "confidential": false,
        "internal": false,
        "imported": false,
        "imported_from": "none",
        "noteable_iid": mr.iid,
        "commands_changes": {},
    })
}

fn find_note(st: &State, project: u64, iid: u64, ctx: &Ctx, i: usize) -> Result<usize, ApiError> {
    let id = ctx.num(i, "Note")?;
    st.projects[&project].mrs[&iid]
        .notes
        .iter()
        .position(|n| n.id == id)
        .ok_or_else(|| ApiError::not_found("Note"))
}

pub fn list_notes(st: &mut State, req: &Req, ctx: &Ctx) -> ApiResult {
    let iid = find_mr(st, ctx.project, ctx)?;
    let sort = req
        .params
        .one_of("sort", &["asc", "desc"])?
        .unwrap_or_else(|| "desc".into());
    let order_by = req
        .params
        .one_of("order_by", &["created_at", "updated_at"])?
        .unwrap_or_else(|| "created_at".into());
    let mr = &st.projects[&ctx.project].mrs[&iid];
    let mut notes: Vec<&NoteRec> = mr.notes.iter().collect();
    notes.sort_by(|a, b| {
        let ord = if order_by == "updated_at" {
            a.updated_at.cmp(&b.updated_at)
        } else {
            a.created_at.cmp(&b.created_at)
        }
        .then(a.id.cmp(&b.id));
        if sort == "asc" {
            ord
        } else {
            ord.reverse()
        }
    });
    let items = notes
        .iter()
        .map(|n| note_json(st, ctx.project, mr, n))
        .collect();
    paginate(req, items)
}

pub fn create_note(st: &mut State, req: &Req, ctx: &Ctx) -> ApiResult {
    let iid = find_mr(st, ctx.project, ctx)?;
    req.params.require(&["body"])?;
    let body = req.params.str("body")?.unwrap_or_default();
    let mr = &st.projects[&ctx.project].mrs[&iid];
    if mr.discussion_locked == Some(true) && st.access_level(ctx.project, req.user) < DEVELOPER {
        return Err(ApiError::forbidden());
    }
    if st.projects[&ctx.project].archived {
        return Err(ApiError::forbidden());
    }
    if body.trim().is_empty() {
        return Err(ApiError::validation("note", "can't be blank"));
    }
    let id = st.id();
    let now = st.now();
    let note = NoteRec {
        id,
        author_id: req.user,
        body,
        system: false,
        created_at: now,
        updated_at: now,
        awards: Vec::new(),
    };
    let m = mr_mut(st, ctx.project, iid);
    m.notes.push(note);
    m.updated_at = now;
    let mr = &st.projects[&ctx.project].mrs[&iid];
    let n = mr.notes.last().expect("note");
    Ok(Resp::created(note_json(st, ctx.project, mr, n)))
}

pub fn get_note(st: &mut State, _req: &Req, ctx: &Ctx) -> ApiResult {
    let iid = find_mr(st, ctx.project, ctx)?;
    let i = find_note(st, ctx.project, iid, ctx, 1)?;
    let mr = &st.projects[&ctx.project].mrs[&iid];
    Ok(Resp::ok(note_json(st, ctx.project, mr, &mr.notes[i])))
}

pub fn update_note(st: &mut State, req: &Req, ctx: &Ctx) -> ApiResult {
    let iid = find_mr(st, ctx.project, ctx)?;
    let i = find_note(st, ctx.project, iid, ctx, 1)?;
    req.params.require(&["body"])?;
    let body = req.params.str("body")?.unwrap_or_default();
    let note = &st.projects[&ctx.project].mrs[&iid].notes[i];
    if note.author_id != req.user || note.system {
        return Err(ApiError::forbidden());
    }
    if body.trim().is_empty() {
        return Err(ApiError::validation("note", "can't be blank"));
    }
    let now = st.now();
    let n = &mut mr_mut(st, ctx.project, iid).notes[i];
    n.body = body;
    n.updated_at = now;
    let mr = &st.projects[&ctx.project].mrs[&iid];
    Ok(Resp::ok(note_json(st, ctx.project, mr, &mr.notes[i])))
}

pub fn delete_note(st: &mut State, req: &Req, ctx: &Ctx) -> ApiResult {
    let iid = find_mr(st, ctx.project, ctx)?;
    let i = find_note(st, ctx.project, iid, ctx, 1)?;
    let note = &st.projects[&ctx.project].mrs[&iid].notes[i];
    if note.author_id != req.user && st.access_level(ctx.project, req.user) < MAINTAINER {
        return Err(ApiError::forbidden());
    }
    mr_mut(st, ctx.project, iid).notes.remove(i);
    Ok(Resp::no_content())
}

// ---- award emoji ----

fn award_json(st: &State, a: &AwardRec, awardable_id: u64, kind: &str) -> Value {
    json!({
        "id": a.id,
        "name": a.name,
        "user": st.user_basic(a.user_id),
        "created_at": time::iso_ms(a.created_at),
        "updated_at": time::iso_ms(a.created_at),
        "awardable_id": awardable_id,
        "awardable_type": kind,
    })
}

/// Which award list: the MR's own, or a note's (index into notes).
fn awards_of(
    st: &mut State,
    project: u64,
    iid: u64,
    note: Option<usize>,
) -> (&mut Vec<AwardRec>, u64, &'static str) {
    let m = mr_mut(st, project, iid);
    match note {
        None => (&mut m.awards, m.id, "MergeRequest"),
        Some(i) => {
            let n = &mut m.notes[i];
            (&mut n.awards, n.id, "Note")
        }
    }
}

fn list_awards(
    st: &mut State,
    req: &Req,
    project: u64,
    iid: u64,
    note: Option<usize>,
) -> ApiResult {
    let (awards, id, kind) = awards_of(st, project, iid, note);
    let awards = awards.clone();
    let items = awards.iter().map(|a| award_json(st, a, id, kind)).collect();
    paginate(req, items)
}

fn valid_emoji(name: &str) -> bool {
    !name.is_empty()
        && name.chars().all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-' || c == '+'
        })
}

fn create_award(
    st: &mut State,
    req: &Req,
    project: u64,
    iid: u64,
    note: Option<usize>,
) -> ApiResult {
    req.params.require(&["name"])?;
    let name = req.params.str("name")?.unwrap_or_default();
    if st.projects[&project].archived {
        return Err(ApiError::forbidden());
    }
    if !valid_emoji(&name) {
        return Err(ApiError::not_found(
            "Award Emoji Name is not a valid emoji name",
        ));
    }
    let award_id = st.id();
    let now = st.now();
    let user = req.user;
    let (awards, id, kind) = awards_of(st, project, iid, note);
    if awards.iter().any(|a| a.user_id == user && a.name == name) {
        return Err(ApiError::not_found(
            "Award Emoji User has already been taken",
        ));
    }
    let award = AwardRec {
        id: award_id,
        name,
        user_id: user,
        created_at: now,
    };
    awards.push(award.clone());
    Ok(Resp::created(award_json(st, &award, id, kind)))
}

fn delete_award(
    st: &mut State,
    req: &Req,
    project: u64,
    iid: u64,
    note: Option<usize>,
    award: &str,
) -> ApiResult {
    let award_id: u64 = award
        .parse()
        .map_err(|_| ApiError::not_found("Award Emoji"))?;
    let user = req.user;
    let (awards, _, _) = awards_of(st, project, iid, note);
    let Some(i) = awards.iter().position(|a| a.id == award_id) else {
        return Err(ApiError::not_found("Award Emoji"));
    };
    if awards[i].user_id != user {
        return Err(ApiError::forbidden());
    }
    awards.remove(i);
    Ok(Resp::no_content())
}

pub fn list_mr_awards(st: &mut State, req: &Req, ctx: &Ctx) -> ApiResult {
    let iid = find_mr(st, ctx.project, ctx)?;
    list_awards(st, req, ctx.project, iid, None)
}

pub fn create_mr_award(st: &mut State, req: &Req, ctx: &Ctx) -> ApiResult {
    let iid = find_mr(st, ctx.project, ctx)?;
    create_award(st, req, ctx.project, iid, None)
}

pub fn delete_mr_award(st: &mut State, req: &Req, ctx: &Ctx) -> ApiResult {
    let iid = find_mr(st, ctx.project, ctx)?;
    delete_award(st, req, ctx.project, iid, None, ctx.cap(1))
}

pub fn list_note_awards(st: &mut State, req: &Req, ctx: &Ctx) -> ApiResult {
    let iid = find_mr(st, ctx.project, ctx)?;
    let i = find_note(st, ctx.project, iid, ctx, 1)?;
    list_awards(st, req, ctx.project, iid, Some(i))
}

pub fn create_note_award(st: &mut State, req: &Req, ctx: &Ctx) -> ApiResult {
    let iid = find_mr(st, ctx.project, ctx)?;
    let i = find_note(st, ctx.project, iid, ctx, 1)?;
    create_award(st, req, ctx.project, iid, Some(i))
}

pub fn delete_note_award(st: &mut State, req: &Req, ctx: &Ctx) -> ApiResult {
    let iid = find_mr(st, ctx.project, ctx)?;
    let i = find_note(st, ctx.project, iid, ctx, 1)?;
    delete_award(st, req, ctx.project, iid, Some(i), ctx.cap(2))
}

pub fn detailed_status(st: &mut State, project: u64, iid: u64) -> &'static str {
    live(st, project, iid).detailed
}

//! Users, groups, projects, members, labels and milestones.

use serde_json::{json, Value};

use super::Ctx;
use crate::http::{paginate, paginate_keyset, wants_keyset, ApiError, ApiResult, Req, Resp};
use crate::state::{LabelRec, NsKind, State, REPORTER};

/// The version the fake imitates.
pub fn version(_: &mut State, _: &Req, _: &Ctx) -> ApiResult {
    Ok(Resp::ok(
        json!({"version": "17.5.0", "revision": "fake", "kas": {"enabled": false}, "enterprise": false}),
    ))
}

pub fn current_user(st: &mut State, req: &Req, _: &Ctx) -> ApiResult {
    Ok(Resp::ok(st.user_full(req.user, true)))
}

pub fn list_users(st: &mut State, req: &Req, _: &Ctx) -> ApiResult {
    let username = req.params.str("username")?;
    let search = req.params.str("search")?.map(|s| s.to_lowercase());
    let items: Vec<Value> = st
        .users
        .values()
        .filter(|u| {
            username
                .as_ref()
                .is_none_or(|n| u.username.eq_ignore_ascii_case(n))
        })
        .filter(|u| {
            search.as_ref().is_none_or(|s| {
                u.username.to_lowercase().contains(s)
                    || u.name.to_lowercase().contains(s)
                    || u.email.to_lowercase() == *s
            })
        })
        .map(|u| st.user_basic(u.id))
        .collect();
    paginate(req, items)
}

pub fn get_user(st: &mut State, req: &Req, ctx: &Ctx) -> ApiResult {
    let id = ctx.num(0, "User")?;
    if !st.users.contains_key(&id) {
        return Err(ApiError::not_found("User"));
    }
    Ok(Resp::ok(st.user_full(id, id == req.user)))
}

pub fn list_groups(st: &mut State, req: &Req, _: &Ctx) -> ApiResult {
    let search = req.params.str("search")?.map(|s| s.to_lowercase());
    let items: Vec<Value> = st
        .namespaces
        .values()
        .filter(|n| n.kind == NsKind::Group)
        .filter(|n| {
            search
                .as_ref()
                .is_none_or(|s| n.full_path.to_lowercase().contains(s))
        })
        .map(|n| st.group_json(n.id))
        .collect();
    paginate(req, items)
}

pub fn get_group(st: &mut State, _req: &Req, ctx: &Ctx) -> ApiResult {
    let id = st.find_group(ctx.cap(0))?;
    Ok(Resp::ok(st.group_json(id)))
}

pub fn group_subgroups(st: &mut State, req: &Req, ctx: &Ctx) -> ApiResult {
    let id = st.find_group(ctx.cap(0))?;
    let items: Vec<Value> = st
        .namespaces
        .values()
        .filter(|n| n.kind == NsKind::Group && n.parent_id == Some(id))
        .map(|n| st.group_json(n.id))
        .collect();
    paginate(req, items)
}

const PROJECT_ORDER: &[&str] = &[
    "id",
    "name",
    "path",
    "created_at",
    "updated_at",
    "last_activity_at",
    "similarity",
    "star_count",
    "repository_size",
    "storage_size",
    "packages_size",
    "wiki_size",
];

/// The filters and ordering shared by `GET /projects` and `GET /groups/:id/projects`.
fn filter_projects(st: &State, req: &Req, mut ids: Vec<u64>) -> ApiResult {
    let p = &req.params;
    let archived = p.bool("archived")?;
    let search = p.str("search")?.map(|s| s.to_lowercase());
    let search_namespaces = p.bool("search_namespaces")?.unwrap_or(false);
    let topics = p.string_list("topic")?.unwrap_or_default();
    let membership = p.bool("membership")?.unwrap_or(false);
    let owned = p.bool("owned")?.unwrap_or(false);
    let min_access = match p.value("min_access_level") {
        None => None,
        Some(_) => {
            let v = p.u64("min_access_level")?;
            if !matches!(v, Some(10 | 15 | 20 | 30 | 40 | 50)) {
                return Err(ApiError::not_valid("min_access_level"));
            }
            v.map(|v| v as u32)
        }
    };
    let order_by = p
        .one_of("order_by", PROJECT_ORDER)?
        .unwrap_or_else(|| "created_at".into());
    let sort = p
        .one_of("sort", &["asc", "desc"])?
        .unwrap_or_else(|| "desc".into());
    ids.retain(|id| {
        let pr = &st.projects[id];
        let level = st.access_level(*id, req.user);
        archived.is_none_or(|a| pr.archived == a)
            && search.as_ref().is_none_or(|s| {
                pr.name.to_lowercase().contains(s)
                    || pr.path.to_lowercase().contains(s)
                    || (search_namespaces && st.project_full_path(pr).to_lowercase().contains(s))
            })
            && topics.iter().all(|t| pr.topics.iter().any(|pt| pt == t))
            && (!membership || level > 0)
            && (!owned || st.namespaces[&pr.namespace_id].kind == NsKind::User(req.user))
            && min_access.is_none_or(|m| level >= m)
    });
    ids.sort_by(|a, b| {
        let (pa, pb) = (&st.projects[a], &st.projects[b]);
        let ord = match order_by.as_str() {
            "name" => pa.name.to_lowercase().cmp(&pb.name.to_lowercase()),
            "path" => pa.path.cmp(&pb.path),
            "updated_at" | "last_activity_at" => pa.last_activity_at.cmp(&pb.last_activity_at),
            _ => pa.id.cmp(&pb.id),
        }
        .then(pa.id.cmp(&pb.id));
        if sort == "asc" {
            ord
        } else {
            ord.reverse()
        }
    });
    let simple = p.bool("simple")?.unwrap_or(false);
    let render = |id: &u64| {
        let mut v = st.project_json(*id, req.user);
        if simple {
            if let Some(o) = v.as_object_mut() {
                o.remove("permissions");
            }
        }
        v
    };
    if wants_keyset(req) {
        if order_by != "id" {
            return Err(ApiError::method_not_allowed());
        }
        let cursor = if sort == "asc" {
            "id_after"
        } else {
            "id_before"
        };
        let items = ids.iter().map(|id| (id.to_string(), render(id))).collect();
        return paginate_keyset(req, items, cursor);
    }
    paginate(req, ids.iter().map(render).collect())
}

pub fn list_projects(st: &mut State, req: &Req, _: &Ctx) -> ApiResult {
    let ids = st.projects.keys().copied().collect();
    filter_projects(st, req, ids)
}

pub fn group_projects(st: &mut State, req: &Req, ctx: &Ctx) -> ApiResult {
    let gid = st.find_group(ctx.cap(0))?;
    let include_subgroups = req.params.bool("include_subgroups")?.unwrap_or(false);
    let ids = st
        .projects
        .values()
        .filter(|p| {
            if include_subgroups {
                st.ancestors(p.namespace_id).contains(&gid)
            } else {
                p.namespace_id == gid
            }
        })
        .map(|p| p.id)
        .collect();
    filter_projects(st, req, ids)
}

pub fn get_project(st: &mut State, req: &Req, ctx: &Ctx) -> ApiResult {
    Ok(Resp::ok(st.project_json(ctx.project, req.user)))
}

fn member_json(st: &State, user: u64, level: u32) -> Value {
    let mut v = st.user_basic(user);
    if let Some(o) = v.as_object_mut() {
        o.insert("access_level".into(), json!(level));
        o.insert("expires_at".into(), Value::Null);
        o.insert("membership_state".into(), json!("active"));
    }
    v
}

fn members(st: &State, project: u64, inherited: bool) -> Vec<(u64, u32)> {
    let mut out: Vec<(u64, u32)> = if inherited {
        st.users
            .keys()
            .map(|u| (*u, st.access_level(project, *u)))
            .filter(|(_, l)| *l > 0)
            .collect()
    } else {
        st.projects[&project]
            .members
            .iter()
            .map(|(u, l)| (*u, *l))
            .collect()
    };
    out.sort();
    out
}

fn list_members_impl(st: &State, req: &Req, project: u64, inherited: bool) -> ApiResult {
    let query = req.params.str("query")?.map(|q| q.to_lowercase());
    let items = members(st, project, inherited)
        .into_iter()
        .filter(|(u, _)| {
            query
                .as_ref()
                .is_none_or(|q| st.users[u].username.to_lowercase().contains(q))
        })
        .map(|(u, l)| member_json(st, u, l))
        .collect();
    paginate(req, items)
}

pub fn list_members(st: &mut State, req: &Req, ctx: &Ctx) -> ApiResult {
    list_members_impl(st, req, ctx.project, false)
}

pub fn list_all_members(st: &mut State, req: &Req, ctx: &Ctx) -> ApiResult {
    list_members_impl(st, req, ctx.project, true)
}

fn get_member_impl(st: &State, ctx: &Ctx, inherited: bool) -> ApiResult {
    let user = ctx.num(0, "Member")?;
    members(st, ctx.project, inherited)
        .into_iter()
        .find(|(u, _)| *u == user)
        .map(|(u, l)| Resp::ok(member_json(st, u, l)))
        .ok_or_else(|| ApiError::not_found("Member"))
}

pub fn get_member(st: &mut State, _req: &Req, ctx: &Ctx) -> ApiResult {
    get_member_impl(st, ctx, false)
}

pub fn get_all_member(st: &mut State, _req: &Req, ctx: &Ctx) -> ApiResult {
    get_member_impl(st, ctx, true)
}

pub fn list_labels(st: &mut State, req: &Req, ctx: &Ctx) -> ApiResult {
    let search = req.params.str("search")?.map(|s| s.to_lowercase());
    let mut labels: Vec<&LabelRec> = st.projects[&ctx.project]
        .labels
        .iter()
        .filter(|l| {
            search
                .as_ref()
                .is_none_or(|s| l.name.to_lowercase().contains(s))
        })
        .collect();
    labels.sort_by_key(|l| l.name.to_lowercase());
    let items = labels.into_iter().map(|l| st.label_json(l)).collect();
    paginate(req, items)
}

const CSS_COLORS: &[&str] = &[
    "red", "green", "blue", "yellow", "orange", "purple", "black", "white", "gray", "grey", "pink",
    "brown", "cyan", "magenta", "navy", "teal", "olive", "maroon", "lime", "aqua", "silver",
    "fuchsia", "gold", "indigo", "violet", "coral", "salmon", "khaki",
];

fn valid_color(c: &str) -> bool {
    if let Some(hex) = c.strip_prefix('#') {
        (hex.len() == 6 || hex.len() == 3) && hex.chars().all(|ch| ch.is_ascii_hexdigit())
    } else {
        CSS_COLORS.contains(&c.to_ascii_lowercase().as_str())
    }
}

pub fn create_label(st: &mut State, req: &Req, ctx: &Ctx) -> ApiResult {
    st.require_access(ctx.project, req.user, REPORTER)?;
    req.params.require(&["name", "color"])?;
    let name = req.params.str("name")?.unwrap_or_default();
    let color = req.params.str("color")?.unwrap_or_default();
    let description = req.params.str("description")?;
    let priority = req.params.u64("priority")?;
    if name.trim().is_empty() {
        return Err(ApiError::validation("title", "can't be blank"));
    }
    if !valid_color(&color) {
        return Err(ApiError::validation("color", "must be a valid color code"));
    }
    if st.projects[&ctx.project]
        .labels
        .iter()
        .any(|l| l.name == name)
    {
        return Err(ApiError::message(409, "Label already exists"));
    }
    let id = st.id();
    let label = LabelRec {
        id,
        name,
        color,
        description,
        priority,
    };
    let v = st.label_json(&label);
    st.projects
        .get_mut(&ctx.project)
        .expect("project")
        .labels
        .push(label);
    Ok(Resp::created(v))
}

pub fn list_milestones(st: &mut State, req: &Req, ctx: &Ctx) -> ApiResult {
    let title = req.params.str("title")?;
    let state = req.params.one_of("state", &["active", "closed"])?;
    let search = req.params.str("search")?.map(|s| s.to_lowercase());
    let ms: Vec<Value> = st.projects[&ctx.project]
        .milestones
        .iter()
        .rev()
        .filter(|m| title.as_ref().is_none_or(|t| &m.title == t))
        .filter(|m| state.as_ref().is_none_or(|s| &m.state == s))
        .filter(|m| {
            search
                .as_ref()
                .is_none_or(|s| m.title.to_lowercase().contains(s))
        })
        .map(|m| st.milestone_json(ctx.project, m))
        .collect();
    paginate(req, ms)
}

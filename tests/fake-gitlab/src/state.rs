//! The fake's state: users, namespaces, projects (each with a bare repository), merge
//! requests, notes, labels, milestones, recorded requests and injected faults.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use serde_json::{json, Value};

use crate::git::{Ident, Repo};
use crate::http::ApiError;
use crate::time;
use crate::{Failure, MergeMethod, RecordedRequest};

pub const GUEST: u32 = 10;
pub const REPORTER: u32 = 20;
pub const DEVELOPER: u32 = 30;
pub const MAINTAINER: u32 = 40;
pub const OWNER: u32 = 50;

#[derive(Debug, Clone)]
pub struct UserRec {
    pub id: u64,
    pub username: String,
    pub name: String,
    pub email: String,
    pub token: String,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub enum NsKind {
    Group,
    User(u64),
}

#[derive(Debug, Clone)]
pub struct Namespace {
    pub id: u64,
    pub name: String,
    pub path: String,
    pub full_path: String,
    pub parent_id: Option<u64>,
    pub kind: NsKind,
    pub members: BTreeMap<u64, u32>,
    pub created_at: i64,
}

#[derive(Debug, Clone)]
pub struct LabelRec {
    pub id: u64,
    pub name: String,
    pub color: String,
    pub description: Option<String>,
    pub priority: Option<u64>,
}

#[derive(Debug, Clone)]
pub struct MilestoneRec {
    pub id: u64,
    pub iid: u64,
    pub title: String,
    pub description: String,
    pub state: String,
    pub created_at: i64,
}

#[derive(Debug, Clone)]
pub struct AwardRec {
    pub id: u64,
    pub name: String,
    pub user_id: u64,
    pub created_at: i64,
}

#[derive(Debug, Clone)]
pub struct NoteRec {
    pub id: u64,
    pub author_id: u64,
    pub body: String,
    pub system: bool,
    pub created_at: i64,
    pub updated_at: i64,
    pub awards: Vec<AwardRec>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MrState {
    Opened,
    Closed,
    Merged,
    /// Never entered by the fake (GitLab uses it briefly while merging).
    #[allow(dead_code)]
    Locked,
}

impl MrState {
    pub fn as_str(self) -> &'static str {
        match self {
            MrState::Opened => "opened",
            MrState::Closed => "closed",
            MrState::Merged => "merged",
            MrState::Locked => "locked",
        }
    }
}

#[derive(Debug, Clone)]
pub struct MrRec {
    pub id: u64,
    pub iid: u64,
    pub title: String,
    pub description: String,
    pub state: MrState,
    pub source_branch: String,
    pub target_branch: String,
    pub author_id: u64,
    pub assignee_ids: Vec<u64>,
    pub reviewer_ids: Vec<u64>,
    pub labels: Vec<String>,
    pub milestone_id: Option<u64>,
    pub squash: bool,
    pub force_remove_source_branch: Option<bool>,
    pub should_remove_source_branch: Option<bool>,
    pub discussion_locked: Option<bool>,
    pub created_at: i64,
    pub updated_at: i64,
    pub closed_at: Option<i64>,
    pub closed_by: Option<u64>,
    pub merged_at: Option<i64>,
    pub merged_by: Option<u64>,
    pub merge_commit_sha: Option<String>,
    pub squash_commit_sha: Option<String>,
    /// The source branch head when last seen (kept when the branch is deleted or merged).
    pub last_sha: String,
    /// diff_refs frozen at merge time: (base, head, start).
    pub frozen_refs: Option<(String, String, String)>,
    pub merge_error: Option<String>,
    pub notes: Vec<NoteRec>,
    pub awards: Vec<AwardRec>,
}

impl MrRec {
    pub fn draft(&self) -> bool {
        let t = self.title.trim_start().to_ascii_lowercase();
        t.starts_with("draft:") || t.starts_with("[draft]") || t.starts_with("(draft)")
    }
}

/// What git says about a source branch against its target.
#[derive(Debug, Clone)]
pub struct MergeAnalysis {
    pub behind: bool,
    pub ahead: bool,
    pub conflict: bool,
    pub base_sha: Option<String>,
    pub diverged: u64,
}

#[derive(Debug, Clone)]
pub struct ProjectRec {
    pub id: u64,
    pub name: String,
    pub path: String,
    pub namespace_id: u64,
    pub description: String,
    pub default_branch: String,
    pub archived: bool,
    pub topics: Vec<String>,
    pub merge_method: MergeMethod,
    pub protect_default_branch: bool,
    pub created_at: i64,
    pub last_activity_at: i64,
    pub members: BTreeMap<u64, u32>,
    pub repo: Repo,
    pub mrs: BTreeMap<u64, MrRec>,
    pub next_mr_iid: u64,
    pub labels: Vec<LabelRec>,
    pub milestones: Vec<MilestoneRec>,
    pub issues: BTreeMap<u64, IssueRec>,
    /// What `GET /projects/:id/ci/lint` answers (set by the test; None: 404).
    pub ci_lint: Option<Value>,
    pub analysis_cache: HashMap<(String, String), MergeAnalysis>,
}

/// An issue.
#[derive(Debug, Clone)]
pub struct IssueRec {
    pub id: u64,
    pub iid: u64,
    pub title: String,
    pub description: String,
    /// `opened` or `closed`.
    pub state: String,
    pub author_id: u64,
    pub labels: Vec<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl ProjectRec {
    pub fn analyse(&mut self, source_sha: &str, target_sha: &str) -> MergeAnalysis {
        let key = (source_sha.to_string(), target_sha.to_string());
        if let Some(a) = self.analysis_cache.get(&key) {
            return a.clone();
        }
        let repo = &self.repo;
        let base = repo.merge_base(source_sha, target_sha);
        let behind = !repo.is_ancestor(target_sha, source_sha);
        let ahead = !repo.is_ancestor(source_sha, target_sha);
        let conflict = behind && ahead && repo.merge_tree(None, target_sha, source_sha).is_err();
        let diverged = if behind {
            repo.log(&format!("{source_sha}..{target_sha}"), None, false)
                .len() as u64
        } else {
            0
        };
        let a = MergeAnalysis {
            behind,
            ahead,
            conflict,
            base_sha: base,
            diverged,
        };
        self.analysis_cache.insert(key, a.clone());
        a
    }

    pub fn is_protected(&self, branch: &str) -> bool {
        self.protect_default_branch && branch == self.default_branch
    }
}

/// The whole fake.
pub struct State {
    pub base_url: String,
    pub root: PathBuf,
    pub users: BTreeMap<u64, UserRec>,
    pub namespaces: BTreeMap<u64, Namespace>,
    pub projects: BTreeMap<u64, ProjectRec>,
    next_id: u64,
    last_ms: i64,
    pub requests: Vec<RecordedRequest>,
    pub failures: Vec<Failure>,
    /// Mutating calls still allowed before every later one fails (None = no limit).
    pub fail_after: Option<usize>,
    pub project_errors: HashMap<u64, u16>,
    pub multiple_assignees: bool,
    /// Added before every answer (a slow server).
    pub latency: Option<std::time::Duration>,
}

impl State {
    pub fn new(root: PathBuf) -> State {
        State {
            base_url: String::new(),
            root,
            users: BTreeMap::new(),
            namespaces: BTreeMap::new(),
            projects: BTreeMap::new(),
            next_id: 1,
            last_ms: 0,
            requests: Vec::new(),
            failures: Vec::new(),
            fail_after: None,
            project_errors: HashMap::new(),
            multiple_assignees: true,
            latency: None,
        }
    }

    /// A fresh id (all object kinds share one counter, so ids never collide).
    pub fn id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// Now, strictly increasing, in milliseconds.
    pub fn now(&mut self) -> i64 {
        let t = time::now_ms().max(self.last_ms + 1);
        self.last_ms = t;
        t
    }

    // ---- users ----

    pub fn user_by_token(&self, token: &str) -> Option<u64> {
        self.users
            .values()
            .find(|u| !token.is_empty() && u.token == token)
            .map(|u| u.id)
    }

    pub fn user_by_name(&self, username: &str) -> Option<&UserRec> {
        self.users
            .values()
            .find(|u| u.username.eq_ignore_ascii_case(username))
    }

    pub fn ident(&self, user: u64) -> Ident {
        match self.users.get(&user) {
            Some(u) => Ident {
                name: u.name.clone(),
                email: u.email.clone(),
            },
            None => Ident {
                name: "Unknown".into(),
                email: "unknown@example.com".into(),
            },
        }
    }

    pub fn user_basic(&self, user: u64) -> Value {
        match self.users.get(&user) {
            Some(u) => json!({
                "id": u.id,
                "username": u.username,
                "name": u.name,
                "state": "active",
                "locked": false,
                "avatar_url": null,
                "web_url": format!("{}/{}", self.base_url, u.username),
            }),
            None => Value::Null,
        }
    }

    pub fn user_full(&self, user: u64, with_private: bool) -> Value {
        let mut v = self.user_basic(user);
        if let (Some(u), Some(obj)) = (self.users.get(&user), v.as_object_mut()) {
            obj.insert("created_at".into(), json!(time::iso_ms(u.created_at)));
            obj.insert("bio".into(), json!(""));
            obj.insert("bot".into(), json!(false));
            obj.insert("public_email".into(), Value::Null);
            if with_private {
                obj.insert("email".into(), json!(u.email));
                obj.insert("commit_email".into(), json!(u.email));
                obj.insert("is_admin".into(), json!(false));
                obj.insert("can_create_project".into(), json!(true));
                obj.insert("two_factor_enabled".into(), json!(false));
            }
        }
        v
    }

    // ---- namespaces ----

    pub fn namespace_by_path(&self, full_path: &str) -> Option<u64> {
        self.namespaces
            .values()
            .find(|n| n.full_path.eq_ignore_ascii_case(full_path))
            .map(|n| n.id)
    }

    /// Find or create the group `full_path`, creating parents as needed.
    pub fn ensure_group(&mut self, full_path: &str) -> u64 {
        let full_path = full_path.trim_matches('/');
        if let Some(id) = self.namespace_by_path(full_path) {
            return id;
        }
        let (parent, path) = match full_path.rsplit_once('/') {
            Some((p, name)) => (Some(self.ensure_group(p)), name.to_string()),
            None => (None, full_path.to_string()),
        };
        let id = self.id();
        let now = self.now();
        self.namespaces.insert(
            id,
            Namespace {
                id,
                name: path.clone(),
                path,
                full_path: full_path.to_string(),
                parent_id: parent,
                kind: NsKind::Group,
                members: BTreeMap::new(),
                created_at: now,
            },
        );
        id
    }

    /// The group and its ancestors, innermost first.
    pub fn ancestors(&self, ns: u64) -> Vec<u64> {
        let mut out = Vec::new();
        let mut cur = Some(ns);
        while let Some(id) = cur {
            out.push(id);
            cur = self.namespaces.get(&id).and_then(|n| n.parent_id);
        }
        out
    }

    /// Resolve a group id given as a number or a URL-decoded full path.
    pub fn find_group(&self, key: &str) -> Result<u64, ApiError> {
        let found = match key.parse::<u64>() {
            Ok(id) => self
                .namespaces
                .get(&id)
                .filter(|n| n.kind == NsKind::Group)
                .map(|n| n.id),
            Err(_) => self
                .namespace_by_path(key)
                .filter(|id| self.namespaces[id].kind == NsKind::Group),
        };
        found.ok_or_else(|| ApiError::not_found("Group"))
    }

    pub fn group_json(&self, id: u64) -> Value {
        let n = &self.namespaces[&id];
        let full_name = self
            .ancestors(id)
            .iter()
            .rev()
            .map(|a| self.namespaces[a].name.clone())
            .collect::<Vec<_>>()
            .join(" / ");
        json!({
            "id": n.id,
            "name": n.name,
            "path": n.path,
            "description": "",
            "visibility": "internal",
            "full_name": full_name,
            "full_path": n.full_path,
            "parent_id": n.parent_id,
            "created_at": time::iso_ms(n.created_at),
            "web_url": format!("{}/groups/{}", self.base_url, n.full_path),
            "avatar_url": null,
        })
    }

    // ---- projects ----

    pub fn project_full_path(&self, p: &ProjectRec) -> String {
        format!("{}/{}", self.namespaces[&p.namespace_id].full_path, p.path)
    }

    /// Resolve a project id given as a number or a URL-decoded full path.
    pub fn find_project(&self, key: &str) -> Result<u64, ApiError> {
        let found = match key.parse::<u64>() {
            Ok(id) => self.projects.contains_key(&id).then_some(id),
            Err(_) => self
                .projects
                .values()
                .find(|p| self.project_full_path(p).eq_ignore_ascii_case(key))
                .map(|p| p.id),
        };
        found.ok_or_else(|| ApiError::not_found("Project"))
    }

    /// The effective access level of `user` on a project (0 = none).
    pub fn access_level(&self, project: u64, user: u64) -> u32 {
        let p = &self.projects[&project];
        let mut level = p.members.get(&user).copied().unwrap_or(0);
        for ns in self.ancestors(p.namespace_id) {
            let n = &self.namespaces[&ns];
            if n.kind == NsKind::User(user) {
                level = level.max(OWNER);
            }
            level = level.max(n.members.get(&user).copied().unwrap_or(0));
        }
        level
    }

    /// The group-inherited part of the access level.
    fn group_access(&self, project: u64, user: u64) -> u32 {
        let p = &self.projects[&project];
        self.ancestors(p.namespace_id)
            .iter()
            .map(|ns| self.namespaces[ns].members.get(&user).copied().unwrap_or(0))
            .max()
            .unwrap_or(0)
    }

    pub fn require_access(&self, project: u64, user: u64, level: u32) -> Result<(), ApiError> {
        if self.projects[&project].archived && level > GUEST {
            return Err(ApiError::forbidden());
        }
        if self.access_level(project, user) >= level {
            Ok(())
        } else {
            Err(ApiError::forbidden())
        }
    }

    /// Can `user` push to `branch` (protected default branch: Maintainers only)?
    pub fn can_push(&self, project: u64, user: u64, branch: &str) -> bool {
        let level = self.access_level(project, user);
        let p = &self.projects[&project];
        if p.archived {
            return false;
        }
        if p.is_protected(branch) {
            level >= MAINTAINER
        } else {
            level >= DEVELOPER
        }
    }

    pub fn project_json(&self, id: u64, user: u64) -> Value {
        let p = &self.projects[&id];
        let ns = &self.namespaces[&p.namespace_id];
        let full_path = self.project_full_path(p);
        let ns_name = self
            .ancestors(ns.id)
            .iter()
            .rev()
            .map(|a| self.namespaces[a].name.clone())
            .collect::<Vec<_>>()
            .join(" / ");
        let project_access = p
            .members
            .get(&user)
            .map(|l| json!({"access_level": l, "notification_level": 3}));
        let group_level = self.group_access(id, user);
        let group_access = (group_level > 0)
            .then(|| json!({"access_level": group_level, "notification_level": 3}));
        let web_url = format!("{}/{}", self.base_url, full_path);
        let host = self
            .base_url
            .trim_start_matches("http://")
            .trim_start_matches("https://");
        json!({
            "id": p.id,
            "description": p.description,
            "name": p.name,
            "name_with_namespace": format!("{ns_name} / {}", p.name),
            "path": p.path,
            "path_with_namespace": full_path,
            "created_at": time::iso_ms(p.created_at),
            "updated_at": time::iso_ms(p.last_activity_at),
            "last_activity_at": time::iso_ms(p.last_activity_at),
            "default_branch": p.default_branch,
            "tag_list": p.topics,
            "topics": p.topics,
            "ssh_url_to_repo": format!("git@{host}:{full_path}.git"),
            "http_url_to_repo": format!("{web_url}.git"),
            "web_url": web_url,
            "readme_url": null,
            "avatar_url": null,
            "forks_count": 0,
            "star_count": 0,
            "visibility": "internal",
            "namespace": {
                "id": ns.id,
                "name": ns.name,
                "path": ns.path,
                "kind": if ns.kind == NsKind::Group { "group" } else { "user" },
                "full_path": ns.full_path,
                "parent_id": ns.parent_id,
                "avatar_url": null,
                "web_url": format!("{}/{}", self.base_url, ns.full_path),
            },
            "empty_repo": false,
            "archived": p.archived,
            "merge_method": p.merge_method.as_str(),
            "squash_option": "default_off",
            "merge_requests_enabled": true,
            "only_allow_merge_if_pipeline_succeeds": false,
            "only_allow_merge_if_all_discussions_are_resolved": false,
            "remove_source_branch_after_merge": true,
            "permissions": {
                "project_access": project_access,
                "group_access": group_access,
            },
        })
    }

    pub fn label_json(&self, l: &LabelRec) -> Value {
        json!({
            "id": l.id,
            "name": l.name,
            "color": l.color,
            "text_color": text_color(&l.color),
            "description": l.description,
            "description_html": l.description.clone().unwrap_or_default(),
            "open_issues_count": 0,
            "closed_issues_count": 0,
            "open_merge_requests_count": 0,
            "subscribed": false,
            "priority": l.priority,
            "is_project_label": true,
        })
    }

    pub fn issue_json(&self, project: u64, i: &IssueRec) -> Value {
        let p = &self.projects[&project];
        json!({
            "id": i.id,
            "iid": i.iid,
            "project_id": project,
            "title": i.title,
            "description": i.description,
            "state": i.state,
            "created_at": time::iso_ms(i.created_at),
            "updated_at": time::iso_ms(i.updated_at),
            "closed_at": null,
            "labels": i.labels,
            "milestone": null,
            "assignees": [],
            "author": self.user_basic(i.author_id),
            "type": "ISSUE",
            "user_notes_count": 0,
            "confidential": false,
            "web_url": format!("{}/{}/-/issues/{}", self.base_url, self.project_full_path(p), i.iid),
        })
    }

    pub fn milestone_json(&self, project: u64, m: &MilestoneRec) -> Value {
        let p = &self.projects[&project];
        json!({
            "id": m.id,
            "iid": m.iid,
            "project_id": project,
            "title": m.title,
            "description": m.description,
            "state": m.state,
            "created_at": time::iso_ms(m.created_at),
            "updated_at": time::iso_ms(m.created_at),
            "due_date": null,
            "start_date": null,
            "expired": false,
            "web_url": format!("{}/{}/-/milestones/{}", self.base_url, self.project_full_path(p), m.iid),
        })
    }

    /// Ensure the labels exist on the project (GitLab creates unknown ones on use).
    pub fn ensure_labels(&mut self, project: u64, names: &[String]) {
        for name in names {
            let exists = self.projects[&project]
                .labels
                .iter()
                .any(|l| &l.name == name);
            if !exists {
                let id = self.id();
                self.projects
                    .get_mut(&project)
                    .expect("project")
                    .labels
                    .push(LabelRec {
                        id,
                        name: name.clone(),
                        color: "#6699cc".into(),
                        description: None,
                        priority: None,
                    });
            }
        }
    }

    // ---- branches and system notes ----

    /// Move a branch (or create it) and record what GitLab would note on open merge
    /// requests whose source it is.
    pub fn update_branch(&mut self, project: u64, branch: &str, new: &str, user: u64) {
        let now = self.now();
        let p = self.projects.get_mut(&project).expect("project");
        let old = p.repo.branch_sha(branch);
        assert!(p.repo.set_branch(branch, new, None), "update-ref {branch}");
        p.last_activity_at = now;
        let Some(old) = old else { return };
        if old == new {
            return;
        }
        let fast_forward = p.repo.is_ancestor(&old, new);
        let added = if fast_forward {
            p.repo.log(&format!("{old}..{new}"), None, false)
        } else {
            Vec::new()
        };
        let body = if fast_forward {
            let list: Vec<String> = added
                .iter()
                .map(|c| format!("* {} - {}", &c.sha[..8], c.title()))
                .collect();
            format!(
                "added {} commit{}\n\n{}",
                added.len(),
                if added.len() == 1 { "" } else { "s" },
                list.join("\n")
            )
        } else {
            "force-pushed the branch".to_string()
        };
        let iids: Vec<u64> = p
            .mrs
            .values()
            .filter(|m| m.state == MrState::Opened && m.source_branch == branch)
            .map(|m| m.iid)
            .collect();
        for iid in iids {
            self.add_system_note(project, iid, user, &body);
            let p = self.projects.get_mut(&project).expect("project");
            if let Some(mr) = p.mrs.get_mut(&iid) {
                mr.updated_at = now;
                mr.merge_error = None;
                mr.last_sha = new.to_string();
            }
        }
    }

    pub fn add_system_note(&mut self, project: u64, iid: u64, user: u64, body: &str) {
        let id = self.id();
        let now = self.now();
        if let Some(mr) = self
            .projects
            .get_mut(&project)
            .and_then(|p| p.mrs.get_mut(&iid))
        {
            mr.notes.push(NoteRec {
                id,
                author_id: user,
                body: body.to_string(),
                system: true,
                created_at: now,
                updated_at: now,
                awards: Vec::new(),
            });
        }
    }

    /// Commit `files` (path → Some(content) | None to delete) on top of `parent`.
    pub fn commit_files(
        &mut self,
        project: u64,
        parent: Option<&str>,
        changes: &[(String, Option<Vec<u8>>)],
        message: &str,
        author: &Ident,
    ) -> String {
        let repo = self.projects[&project].repo.clone();
        let mut tree = match parent {
            Some(p) => repo.flat_tree(p),
            None => BTreeMap::new(),
        };
        for (path, content) in changes {
            match content {
                Some(c) => {
                    let sha = repo.write_blob(c);
                    let mode = tree
                        .get(path)
                        .map(|(m, _)| m.clone())
                        .unwrap_or_else(|| "100644".into());
                    tree.insert(path.clone(), (mode, sha));
                }
                None => {
                    tree.remove(path);
                }
            }
        }
        let tree_sha = repo.write_tree(&tree);
        let parents: Vec<&str> = parent.into_iter().collect();
        repo.commit_tree(&tree_sha, &parents, message, author, None, author)
    }
}

/// GitLab picks black or white text for a label colour.
pub fn text_color(color: &str) -> &'static str {
    let hex = color.trim_start_matches('#');
    if hex.len() == 6 {
        if let (Ok(r), Ok(g), Ok(b)) = (
            u8::from_str_radix(&hex[0..2], 16),
            u8::from_str_radix(&hex[2..4], 16),
            u8::from_str_radix(&hex[4..6], 16),
        ) {
            let lum = 0.299 * r as f64 + 0.587 * g as f64 + 0.114 * b as f64;
            return if lum > 186.0 { "#1F1E24" } else { "#FFFFFF" };
        }
    }
    "#FFFFFF"
}

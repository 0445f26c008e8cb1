//! A local git repository as a forge: branches and commits are real (made with git's
//! plumbing, the working tree untouched), merge requests and notes are JSON files under
//! `.git/updatebot/`, so the whole product can be tried with no server.

use super::{
    Commit, CommitRequest, FileAction, FleetQuery, Forge, ForgeError, Issue, MergeRequest,
    MergeRequestEdit, MergeRequestState, MergeStatus, NewMergeRequest, Note, Project,
};
use async_trait::async_trait;
use std::path::{Path, PathBuf};
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

pub const BOT_NAME: &str = "updatebot";
pub const BOT_EMAIL: &str = "updatebot@localhost";

pub struct LocalForge {
    root: PathBuf,
    git_dir: PathBuf,
}

fn transport(what: impl Into<String>, message: impl Into<String>) -> ForgeError {
    ForgeError::Transport {
        what: what.into(),
        message: message.into(),
    }
}

impl LocalForge {
    /// The repository at `root` (its working tree or a bare repository).
    pub async fn open(root: &Path) -> Result<Self, ForgeError> {
        let out = Command::new("git")
            .arg("-C")
            .arg(root)
            .args(["rev-parse", "--absolute-git-dir"])
            .output()
            .await
            .map_err(|e| transport(root.display().to_string(), format!("cannot run git: {e}")))?;
        if !out.status.success() {
            return Err(transport(
                root.display().to_string(),
                format!(
                    "not a git repository: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                ),
            ));
        }
        let git_dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        Ok(LocalForge {
            root: root.to_path_buf(),
            git_dir,
        })
    }

    fn store(&self) -> PathBuf {
        self.git_dir.join("updatebot")
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new("git");
        // No hooks: `update-ref` would run a `reference-transaction` hook, code the bot
        // did not choose to run.
        cmd.args(["-c", "core.hooksPath=/dev/null"])
            .arg("--git-dir")
            .arg(&self.git_dir)
            .env("GIT_AUTHOR_NAME", BOT_NAME)
            .env("GIT_AUTHOR_EMAIL", BOT_EMAIL)
            .env("GIT_COMMITTER_NAME", BOT_NAME)
            .env("GIT_COMMITTER_EMAIL", BOT_EMAIL)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env_remove("GIT_INDEX_FILE");
        cmd
    }

    async fn git(&self, args: &[&str]) -> Result<String, ForgeError> {
        self.git_with(args, None, &[]).await
    }

    async fn git_with(
        &self,
        args: &[&str],
        stdin: Option<&[u8]>,
        env: &[(&str, &Path)],
    ) -> Result<String, ForgeError> {
        let mut cmd = self.command();
        cmd.args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.stdin(if stdin.is_some() {
            std::process::Stdio::piped()
        } else {
            std::process::Stdio::null()
        });
        cmd.stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = cmd
            .spawn()
            .map_err(|e| transport(format!("git {}", args[0]), e.to_string()))?;
        if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
            pipe.write_all(input)
                .await
                .map_err(|e| transport(format!("git {}", args[0]), e.to_string()))?;
        }
        let out = child
            .wait_with_output()
            .await
            .map_err(|e| transport(format!("git {}", args[0]), e.to_string()))?;
        if !out.status.success() {
            return Err(transport(
                format!("git {}", args.join(" ")),
                String::from_utf8_lossy(&out.stderr).trim().to_string(),
            ));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    async fn load_mrs(&self) -> Result<Vec<StoredMergeRequest>, ForgeError> {
        let dir = self.store().join("merge-requests");
        let mut out = Vec::new();
        let Ok(mut entries) = tokio::fs::read_dir(&dir).await else {
            return Ok(out);
        };
        while let Ok(Some(entry)) = entries.next_entry().await {
            let path = entry.path();
            if path.extension().and_then(|e| e.to_str()) != Some("json") {
                continue;
            }
            let text = tokio::fs::read_to_string(&path)
                .await
                .map_err(|e| transport(path.display().to_string(), e.to_string()))?;
            let mr: StoredMergeRequest = serde_json::from_str(&text)
                .map_err(|e| transport(path.display().to_string(), format!("unreadable: {e}")))?;
            out.push(mr);
        }
        out.sort_by_key(|m| m.merge_request.iid);
        Ok(out)
    }

    async fn save_mr(&self, mr: &StoredMergeRequest) -> Result<(), ForgeError> {
        let dir = self.store().join("merge-requests");
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(|e| transport(dir.display().to_string(), e.to_string()))?;
        let path = dir.join(format!("{}.json", mr.merge_request.iid));
        let text = serde_json::to_string_pretty(mr).unwrap_or_default();
        tokio::fs::write(&path, text)
            .await
            .map_err(|e| transport(path.display().to_string(), e.to_string()))
    }

    async fn load_issues(&self) -> Result<Vec<Issue>, ForgeError> {
        let dir = self.store().join("issues");
        let mut out = Vec::new();
        let Ok(mut entries) = tokio::fs::read_dir(&dir).await else {
            return Ok(out);
        };
        while let Ok(Some(entry)) = entries.next_entry().await {
            let path = entry.path();
            if path.extension().and_then(|e| e.to_str()) != Some("json") {
                continue;
            }
            let text = tokio::fs::read_to_string(&path)
                .await
                .map_err(|e| transport(path.display().to_string(), e.to_string()))?;
            let issue: Issue = serde_json::from_str(&text)
                .map_err(|e| transport(path.display().to_string(), e.to_string()))?;
            out.push(issue);
        }
        out.sort_by_key(|i| i.iid);
        Ok(out)
    }

    async fn save_issue(&self, issue: &Issue) -> Result<(), ForgeError> {
        let dir = self.store().join("issues");
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(|e| transport(dir.display().to_string(), e.to_string()))?;
        let path = dir.join(format!("{}.json", issue.iid));
        let text = serde_json::to_string_pretty(issue).unwrap_or_default();
        tokio::fs::write(&path, text)
            .await
            .map_err(|e| transport(path.display().to_string(), e.to_string()))
    }

    async fn find_mr(&self, iid: u64) -> Result<StoredMergeRequest, ForgeError> {
        self.load_mrs()
            .await?
            .into_iter()
            .find(|m| m.merge_request.iid == iid)
            .ok_or_else(|| ForgeError::NotFound {
                what: format!("merge request !{iid}"),
            })
    }

    async fn merge_status(&self, source: &str, target: &str) -> MergeStatus {
        let (Ok(Some(source_sha)), Ok(Some(target_sha))) =
            (self.sha_of(source).await, self.sha_of(target).await)
        else {
            return MergeStatus::Other;
        };
        if self
            .git(&["merge-base", "--is-ancestor", &target_sha, &source_sha])
            .await
            .is_ok()
        {
            return MergeStatus::Mergeable;
        }
        // Behind but mergeable is mergeable, as in a GitLab project that merges with merge
        // commits (`need_rebase` only exists under fast-forward merge methods).
        match self
            .git(&["merge-tree", "--write-tree", &target_sha, &source_sha])
            .await
        {
            Ok(_) => MergeStatus::Mergeable,
            Err(_) => MergeStatus::Conflict,
        }
    }

    async fn sha_of(&self, branch: &str) -> Result<Option<String>, ForgeError> {
        match self
            .git(&[
                "rev-parse",
                "--verify",
                "--quiet",
                &format!("refs/heads/{branch}^{{commit}}"),
            ])
            .await
        {
            Ok(sha) => Ok(Some(sha.trim().to_string())),
            Err(_) => Ok(None),
        }
    }
}

/// A merge request as stored on disk, with its notes.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct StoredMergeRequest {
    merge_request: MergeRequest,
    #[serde(default)]
    notes: Vec<Note>,
}

#[async_trait]
impl Forge for LocalForge {
    fn bot_user(&self) -> &str {
        BOT_NAME
    }

    fn bot_email(&self) -> &str {
        BOT_EMAIL
    }

    async fn projects(&self, _query: &FleetQuery) -> Result<Vec<Project>, ForgeError> {
        let head = self.git(&["symbolic-ref", "--short", "HEAD"]).await?;
        let name = self
            .root
            .canonicalize()
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "local".into());
        Ok(vec![Project {
            id: self.root.display().to_string(),
            path: name,
            default_branch: head.trim().to_string(),
            web_url: format!("file://{}", self.root.display()),
        }])
    }

    async fn branch_sha(
        &self,
        _project: &Project,
        branch: &str,
    ) -> Result<Option<String>, ForgeError> {
        self.sha_of(branch).await
    }

    async fn files(&self, _project: &Project, sha: &str) -> Result<crate::scan::Tree, ForgeError> {
        // `<mode> <type> <object>\t<path>`; `120000` is a symbolic link, `commit` a submodule.
        let out = self.git(&["ls-tree", "-r", "-z", sha]).await?;
        let mut tree = crate::scan::Tree::default();
        for entry in out.split('\0').filter(|s| !s.is_empty()) {
            let Some((info, path)) = entry.split_once('\t') else {
                continue;
            };
            let mut fields = info.split(' ');
            match (fields.next(), fields.next()) {
                (Some("120000"), _) => tree.links.push(path.to_string()),
                (Some(_), Some("blob")) => tree.files.push(path.to_string()),
                _ => {}
            }
        }
        Ok(tree)
    }

    async fn read_file(
        &self,
        _project: &Project,
        sha: &str,
        path: &str,
    ) -> Result<Option<String>, ForgeError> {
        let spec = format!("{sha}:{path}");
        if self.git(&["cat-file", "-e", &spec]).await.is_err() {
            return Ok(None);
        }
        self.git(&["cat-file", "blob", &spec]).await.map(Some)
    }

    async fn branches(
        &self,
        _project: &Project,
        prefix: &str,
    ) -> Result<Vec<(String, String)>, ForgeError> {
        let out = self
            .git(&[
                "for-each-ref",
                "--format=%(refname:short) %(objectname)",
                "refs/heads/",
            ])
            .await?;
        Ok(out
            .lines()
            .filter_map(|l| l.split_once(' '))
            .filter(|(name, _)| name.starts_with(prefix))
            .map(|(n, s)| (n.to_string(), s.to_string()))
            .collect())
    }

    async fn commits_since(
        &self,
        _project: &Project,
        base: &str,
        branch: &str,
    ) -> Result<Vec<Commit>, ForgeError> {
        let range = format!("{base}..refs/heads/{branch}");
        let out = self
            .git(&["log", "--format=%H%x00%an%x00%ae%x00%s%x00%P", &range])
            .await?;
        Ok(out
            .lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split('\0').collect();
                (f.len() == 5).then(|| Commit {
                    sha: f[0].into(),
                    author_name: f[1].into(),
                    author_email: f[2].into(),
                    title: f[3].into(),
                    parent_ids: f[4].split_whitespace().map(str::to_string).collect(),
                })
            })
            .collect())
    }

    async fn commit(
        &self,
        _project: &Project,
        request: &CommitRequest,
    ) -> Result<String, ForgeError> {
        let index_dir =
            tempfile::tempdir().map_err(|e| transport("temporary index", e.to_string()))?;
        let index = index_dir.path().join("index");
        let env = [("GIT_INDEX_FILE", index.as_path())];
        self.git_with(&["read-tree", &request.start_sha], None, &env)
            .await?;
        for action in &request.actions {
            match action {
                FileAction::Create { path, content } | FileAction::Update { path, content } => {
                    let blob = self
                        .git_with(
                            &["hash-object", "-w", "--stdin"],
                            Some(content.as_bytes()),
                            &[],
                        )
                        .await?;
                    let existing = self
                        .git(&["ls-tree", &request.start_sha, "--", path])
                        .await?;
                    let mode = existing
                        .split_whitespace()
                        .next()
                        .unwrap_or("100644")
                        .to_string();
                    let info = format!("{mode},{},{path}", blob.trim());
                    self.git_with(&["update-index", "--add", "--cacheinfo", &info], None, &env)
                        .await?;
                }
                FileAction::Delete { path } => {
                    self.git_with(&["update-index", "--force-remove", "--", path], None, &env)
                        .await?;
                }
            }
        }
        let tree = self.git_with(&["write-tree"], None, &env).await?;
        let sha = self
            .git_with(
                &[
                    "commit-tree",
                    tree.trim(),
                    "-p",
                    &request.start_sha,
                    "-F",
                    "-",
                ],
                Some(request.message.as_bytes()),
                &[],
            )
            .await?;
        let sha = sha.trim().to_string();
        self.git(&[
            "update-ref",
            &format!("refs/heads/{}", request.branch),
            &sha,
        ])
        .await?;
        Ok(sha)
    }

    async fn delete_branch(&self, _project: &Project, branch: &str) -> Result<(), ForgeError> {
        self.git(&["update-ref", "-d", &format!("refs/heads/{branch}")])
            .await
            .map(|_| ())
    }

    async fn merge_requests(
        &self,
        _project: &Project,
        prefix: &str,
    ) -> Result<Vec<MergeRequest>, ForgeError> {
        let mut out = Vec::new();
        for stored in self.load_mrs().await? {
            let mut mr = stored.merge_request;
            if !mr.source_branch.starts_with(prefix) {
                continue;
            }
            if mr.state == MergeRequestState::Opened {
                mr.merge_status = self
                    .merge_status(&mr.source_branch, &mr.target_branch)
                    .await;
                mr.sha = self.sha_of(&mr.source_branch).await?.unwrap_or_default();
            }
            out.push(mr);
        }
        Ok(out)
    }

    async fn create_merge_request(
        &self,
        _project: &Project,
        request: &NewMergeRequest,
    ) -> Result<MergeRequest, ForgeError> {
        let existing = self.load_mrs().await?;
        if let Some(open) = existing.iter().find(|m| {
            m.merge_request.state == MergeRequestState::Opened
                && m.merge_request.source_branch == request.source_branch
        }) {
            return Err(ForgeError::Conflict {
                what: format!("merge request for `{}`", request.source_branch),
                message: format!(
                    "another open merge request exists: !{}",
                    open.merge_request.iid
                ),
            });
        }
        let iid = existing
            .iter()
            .map(|m| m.merge_request.iid)
            .max()
            .unwrap_or(0)
            + 1;
        let sha =
            self.sha_of(&request.source_branch)
                .await?
                .ok_or_else(|| ForgeError::NotFound {
                    what: format!("branch `{}`", request.source_branch),
                })?;
        let merge_request = MergeRequest {
            iid,
            state: MergeRequestState::Opened,
            source_branch: request.source_branch.clone(),
            target_branch: request.target_branch.clone(),
            title: request.title.clone(),
            description: request.description.clone(),
            labels: request.labels.clone(),
            sha,
            merge_status: MergeStatus::Mergeable,
            author: BOT_NAME.into(),
            web_url: format!("{}/merge-requests/{iid}.json", self.store().display()),
            created_at: Some(chrono::Utc::now()),
            updated_at: None,
        };
        self.save_mr(&StoredMergeRequest {
            merge_request: merge_request.clone(),
            notes: Vec::new(),
        })
        .await?;
        Ok(merge_request)
    }

    async fn edit_merge_request(
        &self,
        _project: &Project,
        iid: u64,
        edit: &MergeRequestEdit,
    ) -> Result<(), ForgeError> {
        let mut stored = self.find_mr(iid).await?;
        let mr = &mut stored.merge_request;
        if let Some(title) = &edit.title {
            mr.title = title.clone();
        }
        if let Some(description) = &edit.description {
            mr.description = description.clone();
        }
        if let Some(labels) = &edit.labels {
            mr.labels = labels.clone();
        }
        if edit.close {
            mr.state = MergeRequestState::Closed;
        }
        self.save_mr(&stored).await
    }

    async fn notes(&self, _project: &Project, iid: u64) -> Result<Vec<Note>, ForgeError> {
        Ok(self.find_mr(iid).await?.notes)
    }

    async fn add_note(&self, _project: &Project, iid: u64, body: &str) -> Result<(), ForgeError> {
        let mut stored = self.find_mr(iid).await?;
        let id = stored.notes.iter().map(|n| n.id).max().unwrap_or(0) + 1;
        stored.notes.push(Note {
            id,
            author: BOT_NAME.into(),
            body: body.into(),
            system: false,
            bot_awards: Vec::new(),
        });
        self.save_mr(&stored).await
    }

    async fn award(
        &self,
        _project: &Project,
        iid: u64,
        note_id: u64,
        emoji: &str,
    ) -> Result<(), ForgeError> {
        let mut stored = self.find_mr(iid).await?;
        if let Some(note) = stored.notes.iter_mut().find(|n| n.id == note_id) {
            note.bot_awards.push(emoji.into());
        }
        self.save_mr(&stored).await
    }

    async fn ensure_labels(
        &self,
        _project: &Project,
        _labels: &[(String, String)],
    ) -> Result<(), ForgeError> {
        Ok(())
    }

    async fn user_ids(&self, _usernames: &[String]) -> Result<Vec<u64>, ForgeError> {
        Ok(Vec::new())
    }

    async fn milestone_id(
        &self,
        _project: &Project,
        _title: &str,
    ) -> Result<Option<u64>, ForgeError> {
        Ok(None)
    }

    async fn find_issues(&self, _project: &Project, title: &str) -> Result<Vec<Issue>, ForgeError> {
        let mut out: Vec<Issue> = self
            .load_issues()
            .await?
            .into_iter()
            .filter(|i| i.title == title)
            .collect();
        out.sort_by_key(|i| i.iid);
        Ok(out)
    }

    /// A closed issue's file is removed (the local forge keeps open issues only).
    async fn close_issue(&self, _project: &Project, iid: u64) -> Result<(), ForgeError> {
        let path = self.store().join("issues").join(format!("{iid}.json"));
        match tokio::fs::remove_file(&path).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(transport(path.display().to_string(), e.to_string())),
        }
    }

    async fn create_issue(
        &self,
        _project: &Project,
        title: &str,
        description: &str,
        _labels: &[String],
    ) -> Result<Issue, ForgeError> {
        let iid = self.load_issues().await?.last().map_or(1, |i| i.iid + 1);
        let issue = Issue {
            iid,
            title: title.to_string(),
            description: description.to_string(),
            web_url: format!("{}/issues/{iid}.json", self.store().display()),
        };
        self.save_issue(&issue).await?;
        Ok(issue)
    }

    async fn edit_issue(
        &self,
        _project: &Project,
        iid: u64,
        description: &str,
    ) -> Result<(), ForgeError> {
        let mut issue = self
            .load_issues()
            .await?
            .into_iter()
            .find(|i| i.iid == iid)
            .ok_or_else(|| ForgeError::NotFound {
                what: format!("issue #{iid}"),
            })?;
        issue.description = description.to_string();
        self.save_issue(&issue).await
    }
}

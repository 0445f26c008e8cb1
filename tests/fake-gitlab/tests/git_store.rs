//! The repositories the fake writes (objects and refs mostly in-process) stay repositories
//! git reads: after a sequence of API writes `git fsck --strict` is clean and git's own
//! view of branches, files and history is what the API reported.

use std::path::Path;
use std::process::Command;

use fake_gitlab::{access, FakeGitlab};
use serde_json::{json, Value};

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .env("GIT_DIR", dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .expect("run git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .trim_end()
        .to_string()
}

struct Api {
    base: String,
    token: String,
    http: reqwest::Client,
}

impl Api {
    async fn call(&self, method: &str, path: &str, body: Value) -> (u16, Value) {
        let resp = self
            .http
            .request(
                reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
                format!("{}{path}", self.base),
            )
            .header("PRIVATE-TOKEN", &self.token)
            .json(&body)
            .send()
            .await
            .expect("send");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }
}

#[tokio::test]
async fn api_writes_leave_a_repository_git_fsck_accepts() {
    let gl = FakeGitlab::start().await;
    let bot = gl.add_user("bot");
    let pid = gl.add_project(
        "org",
        "app",
        &[
            ("README.md", "hello\n"),
            ("requirements.txt", "requests==2.25.0\n"),
            (
                "web/package.json",
                "{\"dependencies\": {\"left-pad\": \"1.0.0\"}}\n",
            ),
        ],
    );
    gl.add_member(pid, bot.id, access::MAINTAINER);
    let api = Api {
        base: format!("{}/api/v4", gl.url()),
        token: bot.token.clone(),
        http: reqwest::Client::new(),
    };
    let branch = "updatebot/pip/requests-2.32.3";
    let commits = format!("/projects/{pid}/repository/commits");

    // A commit with every action on a new branch: nested, unicode and space names, chmod.
    let (status, commit) = api
        .call(
            "POST",
            &commits,
            json!({"branch": branch, "start_branch": "main", "commit_message": "Bump requests\n\nBody ünï\n",
                   "author_name": "Up Datebot", "author_email": "bot@example.com",
                   "actions": [
                {"action": "update", "file_path": "requirements.txt", "content": "requests==2.32.3\n"},
                {"action": "create", "file_path": "docs/ünï code/a b.md", "content": "x\n"},
                {"action": "create", "file_path": "a.b", "content": "dot\n"},
                {"action": "create", "file_path": "a/c", "content": "slash\n", "execute_filemode": true},
                {"action": "move", "file_path": "web/pkg.json", "previous_path": "web/package.json"},
                {"action": "chmod", "file_path": "README.md", "execute_filemode": true},
            ]}),
        )
        .await;
    assert_eq!(status, 201, "{commit}");
    let sha = commit["id"].as_str().unwrap().to_string();
    let dir = gl.repo_path(pid);
    assert_eq!(
        git(&dir, &["rev-parse", &format!("refs/heads/{branch}")]),
        sha
    );
    assert_eq!(
        git(&dir, &["show", "-s", "--format=%an <%ae>%n%B", &sha]),
        "Up Datebot <bot@example.com>\nBump requests\n\nBody ünï"
    );
    assert_eq!(
        git(&dir, &["ls-tree", "-r", "--name-only", "-z", &sha]).replace('\0', "\n"),
        "README.md\na.b\na/c\ndocs/ünï code/a b.md\nrequirements.txt\nweb/pkg.json\n"
    );
    assert_eq!(
        git(&dir, &["cat-file", "-p", &format!("{sha}:a/c")]),
        "slash"
    );
    assert!(git(&dir, &["ls-tree", &sha, "README.md"]).starts_with("100755 "));

    // Read back through the API: blob id and content digest as git and sha256sum give them.
    let (status, file) = api
        .call(
            "GET",
            &format!("/projects/{pid}/repository/files/a%2Fc?ref={sha}"),
            Value::Null,
        )
        .await;
    assert_eq!(status, 200, "{file}");
    assert_eq!(
        file["blob_id"],
        json!(git(&dir, &["rev-parse", &format!("{sha}:a/c")]))
    );
    // printf 'slash\n' | sha256sum
    assert_eq!(
        file["content_sha256"],
        "8578a26bad9cf662e6e0cd91540eea63fb2ed5b5b2cebc471364c137b12931e6"
    );

    // A merge request, the target moving on, a rebase, a second commit, the merge.
    let (status, mr) = api
        .call(
            "POST",
            &format!("/projects/{pid}/merge_requests"),
            json!({"source_branch": branch, "target_branch": "main", "title": "Bump requests"}),
        )
        .await;
    assert_eq!(status, 201, "{mr}");
    assert_eq!(mr["changes_count"], "6");
    gl.push(pid, "main", &[("README.md", Some("moved on\n"))], "alice");
    let url = format!("/projects/{pid}/merge_requests/{}", mr["iid"]);
    assert_eq!(
        api.call("PUT", &format!("{url}/rebase"), json!({})).await.0,
        202
    );
    let (_, after) = api.call("GET", &url, Value::Null).await;
    assert_eq!(after["detailed_merge_status"], "mergeable", "{after}");
    let (status, _) = api
        .call(
            "POST",
            &commits,
            json!({"branch": branch, "commit_message": "Also delete", "actions": [
                {"action": "delete", "file_path": "a.b"}]}),
        )
        .await;
    assert_eq!(status, 201);
    let (status, merged) = api
        .call(
            "PUT",
            &format!("{url}/merge"),
            json!({"should_remove_source_branch": true}),
        )
        .await;
    assert_eq!(status, 200, "{merged}");

    // Branch created and deleted through the API.
    let branches = format!("/projects/{pid}/repository/branches");
    let (status, _) = api
        .call("POST", &branches, json!({"branch": "tmp/x", "ref": "main"}))
        .await;
    assert_eq!(status, 201);
    let (status, _) = api
        .call("DELETE", &format!("{branches}/tmp%2Fx"), Value::Null)
        .await;
    assert_eq!(status, 204);

    // git agrees with the API and finds nothing wrong.
    assert_eq!(
        git(&dir, &["for-each-ref", "--format=%(refname)"]),
        "refs/heads/main"
    );
    let main = git(&dir, &["rev-parse", "main"]);
    assert_eq!(merged["merge_commit_sha"], json!(main));
    assert_eq!(
        git(&dir, &["log", "--format=%H", "main"]),
        gl.log(pid, "main")
            .iter()
            .map(|c| c.sha.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert_eq!(git(&dir, &["show", "main:README.md"]), "moved on");
    assert_eq!(
        git(&dir, &["show", "main:requirements.txt"]),
        "requests==2.32.3"
    );
    let fsck = Command::new("git")
        .args(["fsck", "--strict", "--full", "--no-dangling"])
        .env("GIT_DIR", &dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .expect("git fsck");
    assert!(
        fsck.status.success() && fsck.stdout.is_empty() && fsck.stderr.is_empty(),
        "git fsck: {}{}",
        String::from_utf8_lossy(&fsck.stdout),
        String::from_utf8_lossy(&fsck.stderr)
    );
}

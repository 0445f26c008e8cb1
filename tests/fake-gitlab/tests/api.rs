//! The fake against an HTTP client: shapes, status codes, error bodies, state.

use fake_gitlab::{access, Failure, FakeGitlab, MergeMethod, ProjectOptions, User};
use serde_json::{json, Value};

struct Api {
    base: String,
    token: Option<String>,
    http: reqwest::Client,
}

struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Value,
    raw: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_else(|| panic!("no header {name}"))
    }
}

impl Api {
    fn new(gl: &FakeGitlab, user: &User) -> Api {
        Api {
            base: format!("{}/api/v4", gl.url()),
            token: Some(user.token.clone()),
            http: reqwest::Client::new(),
        }
    }

    fn anonymous(gl: &FakeGitlab) -> Api {
        Api {
            base: format!("{}/api/v4", gl.url()),
            token: None,
            http: reqwest::Client::new(),
        }
    }

    async fn send(&self, method: &str, path: &str, body: Option<(&str, Vec<u8>)>) -> Answer {
        let url = format!("{}{}", self.base, path);
        let mut rb = self.http.request(
            reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
            &url,
        );
        if let Some(t) = &self.token {
            rb = rb.header("PRIVATE-TOKEN", t);
        }
        if let Some((ct, b)) = body {
            rb = rb.header("Content-Type", ct).body(b);
        }
        let resp = rb.send().await.expect("send");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let raw = resp.bytes().await.expect("body").to_vec();
        let body = serde_json::from_slice(&raw).unwrap_or(Value::Null);
        Answer {
            status,
            headers,
            body,
            raw,
        }
    }

    async fn get(&self, path: &str) -> Answer {
        self.send("GET", path, None).await
    }

    async fn json(&self, method: &str, path: &str, body: Value) -> Answer {
        self.send(
            method,
            path,
            Some(("application/json", body.to_string().into_bytes())),
        )
        .await
    }

    async fn form(&self, method: &str, path: &str, body: &str) -> Answer {
        self.send(
            method,
            path,
            Some((
                "application/x-www-form-urlencoded",
                body.as_bytes().to_vec(),
            )),
        )
        .await
    }

    async fn delete(&self, path: &str) -> Answer {
        self.send("DELETE", path, None).await
    }
}

fn form(pairs: &[(&str, &str)]) -> String {
    let mut s = form_serializer();
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

fn form_serializer() -> FormSer {
    FormSer(String::new())
}

/// A tiny application/x-www-form-urlencoded writer (keys and values percent-encoded).
struct FormSer(String);

impl FormSer {
    fn append_pair(&mut self, k: &str, v: &str) {
        if !self.0.is_empty() {
            self.0.push('&');
        }
        self.0.push_str(&pct(k));
        self.0.push('=');
        self.0.push_str(&pct(v));
    }
    fn finish(self) -> String {
        self.0
    }
}

fn pct(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// A fake with one developer (`bot`) on project `org/sub/app`.
async fn setup() -> (FakeGitlab, User, u64, Api) {
    let gl = FakeGitlab::start().await;
    let bot = gl.add_user("bot");
    let pid = gl.add_project(
        "org/sub",
        "app",
        &[
            ("README.md", "hello\n"),
            ("requirements.txt", "requests==2.25.0\nflask==2.0.0\n"),
            ("backend/pyproject.toml", "[project]\nname = \"x\"\n"),
        ],
    );
    gl.add_member(pid, bot.id, access::DEVELOPER);
    let api = Api::new(&gl, &bot);
    (gl, bot, pid, api)
}

#[tokio::test]
async fn auth_and_unknown_routes() {
    let (gl, _bot, pid, api) = setup().await;
    let anon = Api::anonymous(&gl);
    let r = anon.get("/user").await;
    assert_eq!(r.status, 401);
    assert_eq!(r.body, json!({"message": "401 Unauthorized"}));
    let r = anon.get(&format!("/projects/{pid}")).await;
    assert_eq!(r.status, 401);
    let bad = Api {
        token: Some("glpat-nope".into()),
        ..Api::anonymous(&gl)
    };
    assert_eq!(bad.get("/user").await.status, 401);
    // Bearer works too.
    let resp = reqwest::Client::new()
        .get(format!("{}/api/v4/user", gl.url()))
        .header(
            "Authorization",
            format!("Bearer {}", api.token.clone().unwrap()),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);

    let r = api.get("/user").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["username"], "bot");
    let r = api.get("/no/such/route").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.body, json!({"error": "404 Not Found"}));
    let r = api.get("/projects/999999").await;
    assert_eq!(r.body, json!({"message": "404 Project Not Found"}));
    let r = api.get("/projects/org%2Fnope").await;
    assert_eq!(r.status, 404);
    // Unencoded slashes in the id are another route: 404 Not Found.
    assert_eq!(
        api.get("/projects/org/sub/app").await.body,
        json!({"error": "404 Not Found"})
    );
    let r = api.get("/users?username=BOT").await;
    assert_eq!(r.body.as_array().unwrap().len(), 1);
    let r = api.get("/users?username=bo").await;
    assert_eq!(r.body, json!([]));
    let r = api.get("/users/424242").await;
    assert_eq!(r.body, json!({"message": "404 User Not Found"}));
}

#[tokio::test]
async fn projects_and_groups() {
    let (gl, bot, pid, api) = setup().await;
    let other = gl.add_project_with(
        ProjectOptions::new("org", "lib")
            .files(&[("a", "b")])
            .topics(&["python", "updatebot"]),
    );
    let old = gl.add_project_with(ProjectOptions::new("org/sub", "old").archived(true));
    let elsewhere = gl.add_project("acme", "tool", &[("x", "y")]);
    gl.add_member(other, bot.id, access::MAINTAINER);

    let r = api.get("/projects/org%2Fsub%2Fapp").await;
    assert_eq!(r.status, 200);
    let p = &r.body;
    assert_eq!(p["id"], pid);
    assert_eq!(p["path_with_namespace"], "org/sub/app");
    assert_eq!(p["default_branch"], "main");
    assert_eq!(p["archived"], false);
    assert_eq!(p["namespace"]["full_path"], "org/sub");
    assert_eq!(p["permissions"]["project_access"]["access_level"], 30);
    assert_eq!(p["web_url"], format!("{}/org/sub/app", gl.url()));

    let r = api.get("/projects?membership=true&archived=false").await;
    let ids: Vec<u64> = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, vec![other, pid], "newest first, members only");
    let r = api.get("/projects?min_access_level=40").await;
    assert_eq!(r.body.as_array().unwrap().len(), 1);
    let r = api.get("/projects?topic=python").await;
    assert_eq!(r.body[0]["id"], other);
    let r = api.get("/projects").await;
    assert_eq!(r.body.as_array().unwrap().len(), 4);
    assert_eq!(r.header("x-total"), "4");

    let r = api.get("/groups/org/projects").await;
    assert_eq!(
        r.body.as_array().unwrap().len(),
        1,
        "no subgroups by default"
    );
    let r = api
        .get("/groups/org/projects?include_subgroups=true&archived=false")
        .await;
    let mut ids: Vec<u64> = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_u64().unwrap())
        .collect();
    ids.sort();
    assert_eq!(ids, vec![pid, other]);
    assert!(!ids.contains(&old) && !ids.contains(&elsewhere));
    let r = api
        .get("/groups/org/projects?include_subgroups=true&topic=updatebot")
        .await;
    assert_eq!(r.body.as_array().unwrap().len(), 1);
    let r = api.get("/groups/org%2Fsub").await;
    assert_eq!(r.body["full_path"], "org/sub");
    assert_eq!(
        api.get("/groups/nope").await.body,
        json!({"message": "404 Group Not Found"})
    );
    assert_eq!(
        api.get("/projects?order_by=stars").await.body,
        json!({"error": "order_by does not have a valid value"})
    );
}

#[tokio::test]
async fn tree_pagination_and_files() {
    let gl = FakeGitlab::start().await;
    let u = gl.add_user("reader");
    let mut opts = ProjectOptions::new("g", "many");
    for i in 0..25 {
        opts = opts.file_bytes(&format!("f{i:02}.txt"), format!("file {i}\n").as_bytes());
    }
    opts = opts.file_bytes("dir/nested/deep.txt", b"deep\n");
    let pid = gl.add_project_with(opts);
    let api = Api::new(&gl, &u);

    // Root, not recursive: 1 tree + 25 blobs.
    let r = api.get(&format!("/projects/{pid}/repository/tree")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body.as_array().unwrap().len(), 20);
    assert_eq!(
        r.body[0],
        json!({"id": r.body[0]["id"], "name": "dir", "type": "tree", "path": "dir", "mode": "040000"})
    );
    assert_eq!(r.header("x-total"), "26");
    assert_eq!(r.header("x-total-pages"), "2");
    assert_eq!(r.header("x-page"), "1");
    assert_eq!(r.header("x-per-page"), "20");
    assert_eq!(r.header("x-next-page"), "2");
    assert_eq!(r.header("x-prev-page"), "");
    let link = r.header("link");
    assert!(
        link.contains(&format!(
            "<{}/api/v4/projects/{pid}/repository/tree?page=2&per_page=20>; rel=\"next\"",
            gl.url()
        )),
        "{link}"
    );
    assert!(link.contains("rel=\"first\"") && link.contains("rel=\"last\""));
    let r2 = api
        .get(&format!("/projects/{pid}/repository/tree?page=2"))
        .await;
    assert_eq!(r2.body.as_array().unwrap().len(), 6);
    assert_eq!(r2.header("x-next-page"), "");
    assert_eq!(r2.header("x-prev-page"), "1");

    // Recursive, 100 per page: trees first, then blobs.
    let r = api
        .get(&format!(
            "/projects/{pid}/repository/tree?recursive=true&per_page=100"
        ))
        .await;
    let paths: Vec<&str> = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths.len(), 28);
    assert_eq!(&paths[..2], &["dir", "dir/nested"]);
    assert!(paths.contains(&"dir/nested/deep.txt"));
    let r = api
        .get(&format!(
            "/projects/{pid}/repository/tree?path=dir/nested&ref=main"
        ))
        .await;
    assert_eq!(r.body[0]["path"], "dir/nested/deep.txt");

    // Keyset: follow Link rel="next".
    let mut url = format!(
        "{}/api/v4/projects/{pid}/repository/tree?recursive=true&pagination=keyset&per_page=10",
        gl.url()
    );
    let mut seen = 0;
    let mut pages = 0;
    loop {
        let resp = reqwest::Client::new()
            .get(&url)
            .header("PRIVATE-TOKEN", &u.token)
            .send()
            .await
            .unwrap();
        let next = resp
            .headers()
            .get("link")
            .map(|l| l.to_str().unwrap().to_string());
        let page: Vec<Value> = resp.json().await.unwrap();
        seen += page.len();
        pages += 1;
        match next {
            Some(l) => {
                url = l
                    .trim_start_matches('<')
                    .split('>')
                    .next()
                    .unwrap()
                    .to_string()
            }
            None => break,
        }
    }
    assert_eq!((seen, pages), (28, 3));

    let r = api
        .get(&format!("/projects/{pid}/repository/tree?ref=nope"))
        .await;
    assert_eq!(
        (r.status, r.body.clone()),
        (404, json!({"message": "404 Tree Not Found"}))
    );

    // Raw and JSON files.
    let r = api
        .get(&format!(
            "/projects/{pid}/repository/files/dir%2Fnested%2Fdeep.txt/raw?ref=main"
        ))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.raw, b"deep\n");
    assert_eq!(r.header("x-gitlab-file-path"), "dir/nested/deep.txt");
    let r = api
        .get(&format!(
            "/projects/{pid}/repository/files/missing.txt/raw?ref=main"
        ))
        .await;
    assert_eq!(
        (r.status, r.body.clone()),
        (404, json!({"message": "404 File Not Found"}))
    );
    let r = api
        .get(&format!(
            "/projects/{pid}/repository/files/f01.txt?ref=main"
        ))
        .await;
    assert_eq!(r.body["content"], "ZmlsZSAxCg==");
    assert_eq!(r.body["encoding"], "base64");
    assert_eq!(r.body["file_name"], "f01.txt");
    let head = gl.branches(pid)[0].1.clone();
    assert_eq!(r.body["commit_id"], head);
    assert_eq!(r.body["last_commit_id"], head);
    let r = api
        .get(&format!("/projects/{pid}/repository/files/f01.txt"))
        .await;
    assert_eq!(
        (r.status, r.body.clone()),
        (400, json!({"error": "ref is missing"}))
    );
    let r = api
        .get(&format!(
            "/projects/{pid}/repository/files/f01.txt/raw?ref={head}"
        ))
        .await;
    assert_eq!(r.raw, b"file 1\n");
}

#[tokio::test]
async fn commits_with_form_encoded_actions() {
    let (gl, _bot, pid, api) = setup().await;
    let main_before = gl.branches(pid)[0].1.clone();
    let body = form(&[
        ("branch", "main2"),
        ("start_branch", "main"),
        ("commit_message", "Bump requests from 2.25.0 to 2.32.3"),
        ("actions[][action]", "update"),
        ("actions[][file_path]", "requirements.txt"),
        ("actions[][content]", "requests==2.32.3\nflask==2.0.0\n"),
        ("actions[][action]", "create"),
        ("actions[][file_path]", "new/file.txt"),
        ("actions[][content]", "aGk="),
        ("actions[][encoding]", "base64"),
        ("actions[][action]", "delete"),
        ("actions[][file_path]", "README.md"),
    ]);
    let r = api
        .form(
            "POST",
            &format!("/projects/{pid}/repository/commits"),
            &body,
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let c = &r.body;
    assert_eq!(c["title"], "Bump requests from 2.25.0 to 2.32.3");
    assert_eq!(c["parent_ids"], json!([main_before]));
    assert_eq!(c["author_name"], "bot");
    assert_eq!(c["author_email"], "bot@example.com");
    assert_eq!(c["short_id"], c["id"].as_str().unwrap()[..8]);
    assert_eq!(c["stats"]["deletions"], 2);
    assert_eq!(
        gl.file(pid, "main2", "requirements.txt").unwrap(),
        "requests==2.32.3\nflask==2.0.0\n"
    );
    assert_eq!(gl.file(pid, "main2", "new/file.txt").unwrap(), "hi");
    assert_eq!(gl.file(pid, "main2", "README.md"), None);
    assert_eq!(gl.file(pid, "main", "README.md").unwrap(), "hello\n");
    // Real git: the bare repository agrees.
    let out = std::process::Command::new("git")
        .arg("--git-dir")
        .arg(gl.repo_path(pid))
        .args(["show", "main2:requirements.txt"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "requests==2.32.3\nflask==2.0.0\n"
    );

    // GitLab's errors for bad actions.
    let url = format!("/projects/{pid}/repository/commits");
    let r = api
        .json("POST", &url, json!({"branch": "main2", "commit_message": "m", "actions": [{"action": "create", "file_path": "new/file.txt", "content": "x"}]}))
        .await;
    assert_eq!(
        (r.status, r.body.clone()),
        (
            400,
            json!({"message": "A file with this name already exists"})
        )
    );
    let r = api
        .json("POST", &url, json!({"branch": "main2", "commit_message": "m", "actions": [{"action": "update", "file_path": "nope.txt", "content": "x"}]}))
        .await;
    assert_eq!(
        (r.status, r.body.clone()),
        (
            400,
            json!({"message": "A file with this name doesn't exist"})
        )
    );
    let r = api
        .json("POST", &url, json!({"branch": "main2", "commit_message": "m", "actions": [{"action": "rename", "file_path": "a"}, {"file_path": "b"}]}))
        .await;
    assert_eq!(
        r.body,
        json!({"error": "actions[0][action] does not have a valid value, actions[1][action] is missing"})
    );
    let r = api
        .json("POST", &url, json!({"branch": "main2", "commit_message": "m", "actions": [{"action": "update", "file_path": "requirements.txt", "content": "x", "last_commit_id": main_before}]}))
        .await;
    assert_eq!(
        r.body,
        json!({"message": "The file has changed since you started editing it: requirements.txt"})
    );
    let r = api.form("POST", &url, "").await;
    assert_eq!(
        (r.status, r.body.clone()),
        (
            400,
            json!({"error": "branch is missing, commit_message is missing, actions is missing"})
        )
    );
    let r = api.json("POST", &url, json!({"branch": "x", "commit_message": "m", "start_branch": "main", "start_sha": main_before, "actions": [{"action": "delete", "file_path": "README.md"}]})).await;
    assert_eq!(
        r.body,
        json!({"error": "start_branch, start_sha are mutually exclusive"})
    );
}

#[tokio::test]
async fn commits_start_sha_force_and_branch_rules() {
    let (gl, bot, pid, api) = setup().await;
    let url = format!("/projects/{pid}/repository/commits");
    let base = gl.branches(pid)[0].1.clone();
    gl.push(pid, "main", &[("README.md", Some("moved on\n"))], "alice");
    let action = json!([{"action": "update", "file_path": "requirements.txt", "content": "requests==2.32.3\n"}]);

    // A new branch at an exact sha.
    let r = api.json("POST", &url, json!({"branch": "updatebot/pip/requests-2.32.3", "start_sha": base, "commit_message": "bump", "actions": action})).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["parent_ids"], json!([base]));
    // Missing branch, no start: GitLab's error.
    let r = api
        .json(
            "POST",
            &url,
            json!({"branch": "nowhere", "commit_message": "bump", "actions": action}),
        )
        .await;
    assert_eq!(
        r.body,
        json!({"message": "You can only create or edit files when you are on a branch"})
    );
    // Existing branch with a start point and no force.
    let r = api.json("POST", &url, json!({"branch": "updatebot/pip/requests-2.32.3", "start_branch": "main", "commit_message": "bump", "actions": action})).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["message"], "A branch called 'updatebot/pip/requests-2.32.3' already exists. Switch to that branch in order to make changes");
    // Force: the branch is reset onto main's head and the commit made there.
    let main_head = gl
        .branches(pid)
        .into_iter()
        .find(|(n, _)| n == "main")
        .unwrap()
        .1;
    let r = api.json("POST", &url, json!({"branch": "updatebot/pip/requests-2.32.3", "start_branch": "main", "force": true, "commit_message": "bump again", "actions": action})).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["parent_ids"], json!([main_head]));
    assert_eq!(
        gl.file(pid, "updatebot/pip/requests-2.32.3", "README.md")
            .unwrap(),
        "moved on\n"
    );
    // Committing on top of an existing branch (no start): parent is its head.
    let head = r.body["id"].clone();
    let r = api.json("POST", &url, json!({"branch": "updatebot/pip/requests-2.32.3", "commit_message": "more", "actions": [{"action": "create", "file_path": "x.txt", "content": "x"}], "author_name": "Up Date", "author_email": "up@date"})).await;
    assert_eq!(r.body["parent_ids"], json!([head]));
    assert_eq!(r.body["author_name"], "Up Date");
    assert_eq!(r.body["committer_name"], "bot");
    // The default branch is protected: a Developer cannot push to it.
    let r = api
        .json(
            "POST",
            &url,
            json!({"branch": "main", "commit_message": "x", "actions": action}),
        )
        .await;
    assert_eq!(
        (r.status, r.body.clone()),
        (
            403,
            json!({"message": "403 Forbidden - You are not allowed to push into this branch"})
        )
    );
    gl.add_member(pid, bot.id, access::MAINTAINER);
    let r = api
        .json(
            "POST",
            &url,
            json!({"branch": "main", "commit_message": "x", "actions": action}),
        )
        .await;
    assert_eq!(r.status, 201);

    // Commit listing and single commit.
    let r = api.get(&format!("/projects/{pid}/repository/commits?ref_name=updatebot%2Fpip%2Frequests-2.32.3&per_page=2")).await;
    assert_eq!(r.body[0]["title"], "more");
    assert_eq!(r.body.as_array().unwrap().len(), 2);
    assert_eq!(r.header("x-next-page"), "2");
    let sha = r.body[0]["id"].as_str().unwrap().to_string();
    let r = api
        .get(&format!("/projects/{pid}/repository/commits/{sha}"))
        .await;
    assert_eq!(r.body["stats"]["additions"], 1);
    assert_eq!(
        api.get(&format!("/projects/{pid}/repository/commits/deadbeef"))
            .await
            .body,
        json!({"message": "404 Commit Not Found"})
    );
    let r = api
        .get(&format!(
            "/projects/{pid}/repository/compare?from=main&to=updatebot%2Fpip%2Frequests-2.32.3"
        ))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["compare_same_ref"], false);
    assert!(!r.body["diffs"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn branches_endpoints() {
    let (gl, _bot, pid, api) = setup().await;
    let r = api
        .form(
            "POST",
            &format!("/projects/{pid}/repository/branches"),
            "branch=feature%2Fa&ref=main",
        )
        .await;
    assert_eq!(r.status, 201);
    assert_eq!(r.body["name"], "feature/a");
    assert_eq!(r.body["default"], false);
    assert_eq!(r.body["merged"], true);
    let r = api
        .form(
            "POST",
            &format!("/projects/{pid}/repository/branches"),
            "branch=feature%2Fa&ref=main",
        )
        .await;
    assert_eq!(
        (r.status, r.body.clone()),
        (400, json!({"message": "Branch already exists"}))
    );
    let r = api
        .form(
            "POST",
            &format!("/projects/{pid}/repository/branches"),
            "branch=b&ref=nope",
        )
        .await;
    assert_eq!(r.body, json!({"message": "Invalid reference name: nope"}));
    let r = api
        .form(
            "POST",
            &format!("/projects/{pid}/repository/branches"),
            "branch=b",
        )
        .await;
    assert_eq!(r.body, json!({"error": "ref is missing"}));
    let r = api
        .get(&format!("/projects/{pid}/repository/branches/feature%2Fa"))
        .await;
    assert_eq!(r.body["commit"]["id"], gl.branches(pid)[0].1);
    let r = api
        .get(&format!("/projects/{pid}/repository/branches/main"))
        .await;
    assert_eq!(
        (r.body["protected"].clone(), r.body["default"].clone()),
        (json!(true), json!(true))
    );
    let r = api
        .get(&format!("/projects/{pid}/repository/branches?search=feat"))
        .await;
    assert_eq!(r.body.as_array().unwrap().len(), 1);
    let r = api
        .delete(&format!("/projects/{pid}/repository/branches/feature%2Fa"))
        .await;
    assert_eq!(r.status, 204);
    let r = api
        .get(&format!("/projects/{pid}/repository/branches/feature%2Fa"))
        .await;
    assert_eq!(
        (r.status, r.body.clone()),
        (404, json!({"message": "404 Branch Not Found"}))
    );
    assert_eq!(gl.branches(pid).len(), 1);
}

async fn open_mr(gl: &FakeGitlab, api: &Api, pid: u64, branch: &str, content: &str) -> Value {
    gl.push(pid, branch, &[("requirements.txt", Some(content))], "bot");
    let r = api
        .json(
            "POST",
            &format!("/projects/{pid}/merge_requests"),
            json!({"source_branch": branch, "target_branch": "main", "title": format!("Update {branch}")}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.body
}

#[tokio::test]
async fn merge_request_lifecycle() {
    let (gl, bot, pid, api) = setup().await;
    let alice = gl.add_user("alice");
    let milestone = gl.add_milestone(pid, "v1");
    gl.push(
        pid,
        "updatebot/pip/requests-2.32.3",
        &[("requirements.txt", Some("requests==2.32.3\nflask==2.0.0\n"))],
        "bot",
    );
    let body = format!(
        "source_branch=updatebot%2Fpip%2Frequests-2.32.3&target_branch=main&title=Bump+requests&description=Body+%40alice&labels=dependencies%2Cpython&assignee_ids%5B%5D={}&assignee_ids%5B%5D={}&reviewer_ids%5B%5D={}&milestone_id={milestone}&remove_source_branch=true&squash=false",
        bot.id, alice.id, alice.id
    );
    let r = api
        .form("POST", &format!("/projects/{pid}/merge_requests"), &body)
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let mr = &r.body;
    assert_eq!(mr["iid"], 1);
    assert_eq!(mr["state"], "opened");
    assert_eq!(mr["title"], "Bump requests");
    assert_eq!(mr["description"], "Body @alice");
    assert_eq!(mr["labels"], json!(["dependencies", "python"]));
    assert_eq!(mr["assignees"].as_array().unwrap().len(), 2);
    assert_eq!(mr["assignee"]["id"], bot.id);
    assert_eq!(mr["reviewers"][0]["username"], "alice");
    assert_eq!(mr["milestone"]["title"], "v1");
    assert_eq!(mr["force_remove_source_branch"], true);
    assert_eq!(mr["author"]["username"], "bot");
    assert_eq!(mr["detailed_merge_status"], "mergeable");
    assert_eq!(mr["merge_status"], "can_be_merged");
    assert_eq!(mr["has_conflicts"], false);
    assert_eq!(
        mr["sha"],
        gl.branches(pid)
            .iter()
            .find(|(n, _)| n.starts_with("updatebot"))
            .unwrap()
            .1
    );
    assert_eq!(
        mr["web_url"],
        format!("{}/org/sub/app/-/merge_requests/1", gl.url())
    );
    assert!(mr["diff_refs"]["base_sha"].is_string());
    assert_eq!(
        gl.labels(pid),
        vec!["dependencies", "python"],
        "labels created on use"
    );
    let view = &gl.merge_requests(pid)[0];
    assert_eq!(
        (view.remove_source_branch, view.milestone_id),
        (true, Some(milestone))
    );

    // Duplicate: 409 with GitLab's array message.
    let r = api
        .form("POST", &format!("/projects/{pid}/merge_requests"), &body)
        .await;
    assert_eq!(
        (r.status, r.body.clone()),
        (
            409,
            json!({"message": ["Another open merge request already exists for this source branch: !1"]})
        )
    );
    let r = api
        .json(
            "POST",
            &format!("/projects/{pid}/merge_requests"),
            json!({"source_branch": "nope", "target_branch": "main", "title": "t"}),
        )
        .await;
    assert_eq!(
        (r.status, r.body.clone()),
        (
            400,
            json!({"message": {"source_branch": ["does not exist"]}})
        )
    );
    let r = api
        .json(
            "POST",
            &format!("/projects/{pid}/merge_requests"),
            json!({"source_branch": "main", "target_branch": "main", "title": "t"}),
        )
        .await;
    assert_eq!(r.status, 422);
    let r = api
        .json(
            "POST",
            &format!("/projects/{pid}/merge_requests"),
            json!({"target_branch": "main"}),
        )
        .await;
    assert_eq!(
        r.body,
        json!({"error": "source_branch is missing, title is missing"})
    );

    let second = open_mr(
        &gl,
        &api,
        pid,
        "updatebot/pip/flask-3.0.0",
        "requests==2.25.0\nflask==3.0.0\n",
    )
    .await;
    assert_eq!(second["iid"], 2);

    // Listing and filters.
    let base = format!("/projects/{pid}/merge_requests");
    let r = api.get(&format!("{base}?state=opened")).await;
    let iids: Vec<u64> = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["iid"].as_u64().unwrap())
        .collect();
    assert_eq!(iids, vec![2, 1], "newest first");
    let r = api
        .get(&format!(
            "{base}?source_branch=updatebot%2Fpip%2Frequests-2.32.3"
        ))
        .await;
    assert_eq!(r.body.as_array().unwrap().len(), 1);
    let r = api.get(&format!("{base}?labels=dependencies,python")).await;
    assert_eq!(r.body[0]["iid"], 1);
    assert_eq!(r.body.as_array().unwrap().len(), 1);
    let r = api
        .get(&format!("{base}?author_username=bot&sort=asc"))
        .await;
    assert_eq!(r.body[0]["iid"], 1);
    let r = api.get(&format!("{base}?state=wrong")).await;
    assert_eq!(
        (r.status, r.body.clone()),
        (400, json!({"error": "state does not have a valid value"}))
    );
    let r = api.get(&format!("{base}?search=flask")).await;
    assert_eq!(r.body[0]["iid"], 2);

    // Update.
    let r = api.json("PUT", &format!("{base}/1"), json!({})).await;
    assert_eq!(r.status, 400);
    assert!(r.body["error"]
        .as_str()
        .unwrap()
        .ends_with("are missing, at least one parameter must be provided"));
    let r = api
        .form(
            "PUT",
            &format!("{base}/1"),
            "title=Bump+requests+to+2.32.4&add_labels=security&remove_labels=python&assignee_ids=0",
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["title"], "Bump requests to 2.32.4");
    assert_eq!(r.body["labels"], json!(["dependencies", "security"]));
    assert_eq!(r.body["assignees"], json!([]));
    let r = api.form("PUT", &format!("{base}/1"), "labels=a,b").await;
    assert_eq!(r.body["labels"], json!(["a", "b"]));
    let r = api
        .form("PUT", &format!("{base}/1"), "state_event=shut")
        .await;
    assert_eq!(
        r.body,
        json!({"error": "state_event does not have a valid value"})
    );
    let r = api
        .form("PUT", &format!("{base}/1"), "state_event=close")
        .await;
    assert_eq!(r.body["state"], "closed");
    assert!(r.body["closed_at"].is_string());
    assert_eq!(r.body["detailed_merge_status"], "not_open");
    let r = api.get(&format!("{base}?state=closed")).await;
    assert_eq!(r.body.as_array().unwrap().len(), 1);
    // A closed MR no longer blocks a new one for the same branch.
    let r = api
        .form("POST", &format!("/projects/{pid}/merge_requests"), &body)
        .await;
    assert_eq!(r.status, 201);
    let r = api
        .form("PUT", &format!("{base}/1"), "state_event=reopen")
        .await;
    assert_eq!(r.status, 409, "reopening would duplicate !3");
    let notes = gl.notes(pid, 1);
    assert!(notes.iter().any(|n| n.system && n.body == "closed"));
    assert!(notes
        .iter()
        .any(|n| n.system && n.body.starts_with("changed title from")));
    assert_eq!(
        api.get(&format!("{base}/99")).await.body,
        json!({"message": "404 Merge Request Not Found"})
    );
}

#[tokio::test]
async fn detailed_merge_status_and_rebase() {
    let (gl, bot, pid, api) = setup().await;
    let mr = open_mr(
        &gl,
        &api,
        pid,
        "updatebot/pip/requests-2.32.3",
        "requests==2.32.3\nflask==2.0.0\n",
    )
    .await;
    let url = format!("/projects/{pid}/merge_requests/{}", mr["iid"]);
    assert_eq!(
        api.get(&url).await.body["detailed_merge_status"],
        "mergeable"
    );

    // The target moves (another file): behind, no conflict.
    gl.push(pid, "main", &[("README.md", Some("changed\n"))], "alice");
    let r = api
        .get(&format!("{url}?include_diverged_commits_count=true"))
        .await;
    assert_eq!(r.body["detailed_merge_status"], "need_rebase");
    assert_eq!(r.body["has_conflicts"], false);
    assert_eq!(r.body["diverged_commits_count"], 1);

    // Rebase fixes it and really replays the commit on main.
    let r = api
        .json("PUT", &format!("{url}/rebase"), json!({"skip_ci": true}))
        .await;
    assert_eq!(
        (r.status, r.body.clone()),
        (202, json!({"rebase_in_progress": true}))
    );
    let r = api
        .get(&format!("{url}?include_rebase_in_progress=true"))
        .await;
    assert_eq!(r.body["detailed_merge_status"], "mergeable");
    assert_eq!(r.body["rebase_in_progress"], false);
    assert_eq!(r.body["merge_error"], Value::Null);
    assert_eq!(
        gl.file(pid, "updatebot/pip/requests-2.32.3", "README.md")
            .unwrap(),
        "changed\n"
    );
    let log = gl.log(pid, "updatebot/pip/requests-2.32.3");
    assert_eq!(log[0].author_name, "bot");
    assert_eq!(log[1].sha, gl.log(pid, "main")[0].sha);

    // The same line changes on main: conflict.
    gl.push(
        pid,
        "main",
        &[("requirements.txt", Some("requests==2.31.0\nflask==2.0.0\n"))],
        "alice",
    );
    let r = api.get(&url).await;
    assert_eq!(r.body["detailed_merge_status"], "conflict");
    assert_eq!(r.body["has_conflicts"], true);
    assert_eq!(r.body["merge_status"], "cannot_be_merged");
    let r = api.json("PUT", &format!("{url}/rebase"), json!({})).await;
    assert_eq!(r.status, 202);
    let r = api.get(&url).await;
    assert!(r.body["merge_error"]
        .as_str()
        .unwrap()
        .starts_with("Rebase failed"));
    assert_eq!(r.body["detailed_merge_status"], "conflict");

    // Merging a conflicting MR: 405. After a forced recreate on main it merges.
    gl.add_member(pid, bot.id, access::MAINTAINER);
    let r = api.json("PUT", &format!("{url}/merge"), json!({})).await;
    assert_eq!(r.status, 405);
    let r = api.json("POST", &format!("/projects/{pid}/repository/commits"), json!({"branch": "updatebot/pip/requests-2.32.3", "start_branch": "main", "force": true, "commit_message": "Bump requests", "actions": [{"action": "update", "file_path": "requirements.txt", "content": "requests==2.32.3\nflask==2.0.0\n"}]})).await;
    assert_eq!(r.status, 201);
    let r = api.get(&url).await;
    assert_eq!(r.body["detailed_merge_status"], "mergeable");
    assert!(gl
        .notes(pid, 1)
        .iter()
        .any(|n| n.system && n.body.contains("force-pushed")));
    let r = api
        .json("PUT", &format!("{url}/merge"), json!({"sha": "0000000"}))
        .await;
    assert_eq!(r.status, 409);
    let r = api
        .json(
            "PUT",
            &format!("{url}/merge"),
            json!({"should_remove_source_branch": true}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["state"], "merged");
    assert!(r.body["merge_commit_sha"].is_string());
    assert_eq!(
        gl.file(pid, "main", "requirements.txt").unwrap(),
        "requests==2.32.3\nflask==2.0.0\n"
    );
    assert_eq!(gl.branches(pid).len(), 1, "source branch removed");
    assert_eq!(gl.log(pid, "main")[0].parents.len(), 2, "a merge commit");
}

#[tokio::test]
async fn merge_methods_and_programmatic_merge() {
    let gl = FakeGitlab::start().await;
    let bot = gl.add_user("bot");
    let pid = gl.add_project_with(
        ProjectOptions::new("g", "p")
            .files(&[("a", "1\n"), ("b", "1\n")])
            .merge_method(MergeMethod::Merge),
    );
    gl.add_member(pid, bot.id, access::DEVELOPER);
    let api = Api::new(&gl, &bot);
    let mr = open_mr(&gl, &api, pid, "topic", "x\n").await;
    gl.push(pid, "main", &[("b", Some("2\n"))], "alice");
    let url = format!("/projects/{pid}/merge_requests/{}", mr["iid"]);
    let r = api.get(&url).await;
    assert_eq!(
        r.body["detailed_merge_status"], "mergeable",
        "merge method: behind is fine"
    );
    let r = api.get(&format!("/projects/{pid}")).await;
    assert_eq!(r.body["merge_method"], "merge");
    // A Developer cannot merge into the protected default branch.
    assert_eq!(
        api.json("PUT", &format!("{url}/merge"), json!({}))
            .await
            .status,
        401
    );
    gl.merge(pid, 1);
    let v = &gl.merge_requests(pid)[0];
    assert_eq!(v.state, "merged");
    assert_eq!(gl.file(pid, "main", "requirements.txt").unwrap(), "x\n");
    assert_eq!(api.get(&url).await.body["state"], "merged");
    // Draft titles.
    let r = open_mr(&gl, &api, pid, "topic2", "y\n").await;
    let url = format!("/projects/{pid}/merge_requests/{}", r["iid"]);
    let r = api.json("PUT", &url, json!({"title": "Draft: wip"})).await;
    assert_eq!(
        (
            r.body["draft"].clone(),
            r.body["detailed_merge_status"].clone()
        ),
        (json!(true), json!("draft"))
    );
}

#[tokio::test]
async fn notes_and_award_emoji() {
    let (gl, _bot, pid, api) = setup().await;
    let alice = gl.add_user("alice");
    let mr = open_mr(&gl, &api, pid, "b1", "z\n").await;
    let iid = mr["iid"].as_u64().unwrap();
    let human = gl.add_note(pid, iid, alice.id, "@bot rebase");
    let base = format!("/projects/{pid}/merge_requests/{iid}/notes");
    let r = api.form("POST", &base, "body=Rebasing+now").await;
    assert_eq!(r.status, 201);
    assert_eq!(r.body["body"], "Rebasing now");
    assert_eq!(r.body["author"]["username"], "bot");
    assert_eq!(r.body["system"], false);
    assert_eq!(r.body["noteable_type"], "MergeRequest");
    let mine = r.body["id"].as_u64().unwrap();
    assert_eq!(
        api.form("POST", &base, "").await.body,
        json!({"error": "body is missing"})
    );
    let r = api.get(&base).await;
    let ids: Vec<u64> = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, vec![mine, human], "newest first by default");
    let r = api.get(&format!("{base}?sort=asc")).await;
    assert_eq!(r.body[0]["id"], human);
    let r = api
        .json("PUT", &format!("{base}/{mine}"), json!({"body": "Rebased"}))
        .await;
    assert_eq!(r.body["body"], "Rebased");
    assert_eq!(
        api.json("PUT", &format!("{base}/{human}"), json!({"body": "x"}))
            .await
            .status,
        403
    );

    let r = api
        .form("POST", &format!("{base}/{human}/award_emoji"), "name=eyes")
        .await;
    assert_eq!(r.status, 201);
    assert_eq!(r.body["name"], "eyes");
    assert_eq!(r.body["awardable_type"], "Note");
    assert_eq!(r.body["awardable_id"], human);
    let r = api
        .form("POST", &format!("{base}/{human}/award_emoji"), "name=eyes")
        .await;
    assert_eq!(r.status, 404);
    let r = api.get(&format!("{base}/{human}/award_emoji")).await;
    assert_eq!(r.body[0]["user"]["username"], "bot");
    assert_eq!(
        api.form("POST", &format!("{base}/{human}/award_emoji"), "")
            .await
            .body,
        json!({"error": "name is missing"})
    );
    let r = api
        .form(
            "POST",
            &format!("/projects/{pid}/merge_requests/{iid}/award_emoji"),
            "name=thumbsup",
        )
        .await;
    assert_eq!(r.body["awardable_type"], "MergeRequest");
    assert_eq!(
        api.get(&format!("/projects/{pid}/merge_requests/{iid}"))
            .await
            .body["upvotes"],
        1
    );
    let notes = gl.notes(pid, iid);
    let h = notes.iter().find(|n| n.id == human).unwrap();
    assert_eq!(
        (h.author.as_str(), h.award_emoji.clone()),
        ("alice", vec!["eyes".to_string()])
    );
    assert_eq!(
        api.get(&format!("/projects/{pid}/merge_requests/{iid}"))
            .await
            .body["user_notes_count"],
        2
    );
    assert_eq!(
        api.get(&format!("{base}/424242")).await.body,
        json!({"message": "404 Note Not Found"})
    );
}

#[tokio::test]
async fn labels_and_milestones() {
    let (gl, _bot, pid, api) = setup().await;
    let base = format!("/projects/{pid}/labels");
    let r = api
        .form(
            "POST",
            &base,
            "name=dependencies&color=%23428BCA&description=deps",
        )
        .await;
    assert_eq!(r.status, 201);
    assert_eq!(r.body["name"], "dependencies");
    assert_eq!(r.body["color"], "#428BCA");
    let r = api
        .form("POST", &base, "name=dependencies&color=%23428BCA")
        .await;
    assert_eq!(
        (r.status, r.body.clone()),
        (409, json!({"message": "Label already exists"}))
    );
    let r = api.form("POST", &base, "name=x").await;
    assert_eq!(
        (r.status, r.body.clone()),
        (400, json!({"error": "color is missing"}))
    );
    let r = api.form("POST", &base, "name=x&color=notacolor").await;
    assert_eq!(
        r.body,
        json!({"message": {"color": ["must be a valid color code"]}})
    );
    for i in 0..22 {
        gl.add_label(pid, &format!("l{i:02}"), "#ffffff");
    }
    let r = api.get(&base).await;
    assert_eq!(r.body.as_array().unwrap().len(), 20);
    assert_eq!(r.header("x-total"), "23");
    gl.add_milestone(pid, "v1");
    gl.add_milestone(pid, "v2");
    let r = api
        .get(&format!("/projects/{pid}/milestones?title=v2"))
        .await;
    assert_eq!(r.body.as_array().unwrap().len(), 1);
    assert_eq!(r.body[0]["title"], "v2");
}

#[tokio::test]
async fn permissions() {
    let (gl, _bot, pid, _api) = setup().await;
    let reporter = gl.add_user("rep");
    gl.add_member(pid, reporter.id, access::REPORTER);
    let stranger = gl.add_user("stranger");
    let rep = Api::new(&gl, &reporter);
    let out = Api::new(&gl, &stranger);
    let commit = json!({"branch": "x", "start_branch": "main", "commit_message": "m", "actions": [{"action": "delete", "file_path": "README.md"}]});
    let r = rep
        .json(
            "POST",
            &format!("/projects/{pid}/repository/commits"),
            commit.clone(),
        )
        .await;
    assert_eq!(
        (r.status, r.body.clone()),
        (403, json!({"message": "403 Forbidden"}))
    );
    let r = out
        .json(
            "POST",
            &format!("/projects/{pid}/merge_requests"),
            json!({"source_branch": "main", "target_branch": "x", "title": "t"}),
        )
        .await;
    assert_eq!(r.status, 403);
    // Internal visibility: everyone with a token reads.
    let r = out.get(&format!("/projects/{pid}/repository/tree")).await;
    assert_eq!(r.status, 200);
    let r = out.get(&format!("/projects/{pid}")).await;
    assert_eq!(r.body["permissions"]["project_access"], Value::Null);
    // Reporters manage labels.
    assert_eq!(
        rep.form(
            "POST",
            &format!("/projects/{pid}/labels"),
            "name=a&color=red"
        )
        .await
        .status,
        201
    );
    // Archived projects are read-only.
    gl.set_archived(pid, true);
    let dev = gl.add_user("dev");
    gl.add_member(pid, dev.id, access::MAINTAINER);
    let r = Api::new(&gl, &dev)
        .json(
            "POST",
            &format!("/projects/{pid}/repository/commits"),
            commit,
        )
        .await;
    assert_eq!(r.status, 403);
}

#[tokio::test]
async fn fault_injection_and_recording() {
    let (gl, _bot, pid, api) = setup().await;
    let other = gl.add_project("org", "other", &[("a", "b")]);
    gl.fail(Failure::new("/repository/tree", 502).times(2));
    assert_eq!(
        api.get(&format!("/projects/{pid}/repository/tree"))
            .await
            .status,
        502
    );
    assert_eq!(
        api.get(&format!("/projects/{pid}/repository/tree"))
            .await
            .body,
        json!({"message": "502 Bad Gateway"})
    );
    assert_eq!(
        api.get(&format!("/projects/{pid}/repository/tree"))
            .await
            .status,
        200
    );
    gl.fail(
        Failure::new("merge_requests", 500)
            .method("POST")
            .body("{\"message\":\"boom\"}"),
    );
    assert_eq!(
        api.get(&format!("/projects/{pid}/merge_requests"))
            .await
            .status,
        200
    );
    let r = api
        .json(
            "POST",
            &format!("/projects/{pid}/merge_requests"),
            json!({}),
        )
        .await;
    assert_eq!(
        (r.status, r.body.clone()),
        (500, json!({"message": "boom"}))
    );

    // A lost response: the branch is created, the client sees a 500.
    gl.fail(
        Failure::new("/repository/branches", 500)
            .method("POST")
            .after_processing(),
    );
    let r = api
        .form(
            "POST",
            &format!("/projects/{pid}/repository/branches"),
            "branch=lost&ref=main",
        )
        .await;
    assert_eq!(r.status, 500);
    assert!(gl.branches(pid).iter().any(|(n, _)| n == "lost"));

    // Crash point: one more mutating call, then 500s; reads still work.
    gl.fail_after(1);
    assert_eq!(
        api.form(
            "POST",
            &format!("/projects/{pid}/repository/branches"),
            "branch=a1&ref=main"
        )
        .await
        .status,
        201
    );
    assert_eq!(
        api.form(
            "POST",
            &format!("/projects/{pid}/repository/branches"),
            "branch=a2&ref=main"
        )
        .await
        .status,
        500
    );
    assert_eq!(
        api.delete(&format!("/projects/{pid}/repository/branches/a1"))
            .await
            .status,
        500
    );
    assert_eq!(
        api.get(&format!("/projects/{pid}/repository/branches"))
            .await
            .status,
        200
    );
    gl.fail_after(usize::MAX);
    assert_eq!(
        api.delete(&format!("/projects/{pid}/repository/branches/a1"))
            .await
            .status,
        204
    );

    gl.set_project_error(pid, 503);
    assert_eq!(api.get(&format!("/projects/{pid}")).await.status, 503);
    assert_eq!(
        api.get("/projects/org%2Fsub%2Fapp/repository/tree")
            .await
            .status,
        503
    );
    assert_eq!(api.get(&format!("/projects/{other}")).await.status, 200);
    gl.set_project_error(pid, 0);
    assert_eq!(api.get(&format!("/projects/{pid}")).await.status, 200);

    let reqs = gl.requests();
    let post = reqs
        .iter()
        .find(|r| r.method == "POST" && r.path.ends_with("/repository/branches"))
        .unwrap();
    assert_eq!(post.body_str(), "branch=lost&ref=main");
    assert_eq!(post.header("private-token"), api.token.as_deref());
    assert_eq!(
        post.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert!(reqs
        .iter()
        .any(|r| r.path == "/api/v4/projects/org%2Fsub%2Fapp/repository/tree" && r.status == 503));
}

/// The `gitlab` crate (form-encoded bodies, keyset tree paging) against the fake.
#[tokio::test]
async fn gitlab_crate_client() {
    use gitlab::api::projects::merge_requests::{CreateMergeRequest, MergeRequest};
    use gitlab::api::projects::repository::commits::{
        CommitAction, CommitActionType, CreateCommit,
    };
    use gitlab::api::projects::repository::files::FileRaw;
    use gitlab::api::projects::repository::Tree;
    use gitlab::api::{self as glapi, AsyncQuery, Pagination};

    let (gl, bot, pid, _api) = setup().await;
    let alice = gl.add_user("alice");
    for i in 0..30 {
        gl.push(
            pid,
            "main",
            &[(&format!("many/{i}.txt"), Some("x"))],
            "alice",
        );
    }
    let client = gitlab::GitlabBuilder::new(gl.host(), bot.token.clone())
        .insecure()
        .build_async()
        .await
        .expect("client");

    let tree = Tree::builder()
        .project("org/sub/app")
        .recursive(true)
        .build()
        .unwrap();
    let entries: Vec<Value> = glapi::paged(tree, Pagination::All)
        .query_async(&client)
        .await
        .unwrap();
    assert_eq!(entries.len(), 35, "4 blobs + 2 trees + 30 blobs in many/");
    let pages: Vec<String> = gl
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/repository/tree"))
        .map(|r| r.query)
        .collect();
    assert_eq!(pages.len(), 1, "{pages:?}");
    assert!(pages[0].contains("pagination=keyset"), "{pages:?}");

    let raw = FileRaw::builder()
        .project(pid)
        .file_path("requirements.txt")
        .ref_("main")
        .build()
        .unwrap();
    let bytes = glapi::raw(raw).query_async(&client).await.unwrap();
    assert_eq!(bytes, b"requests==2.25.0\nflask==2.0.0\n");

    let base = gl
        .branches(pid)
        .into_iter()
        .find(|(n, _)| n == "main")
        .unwrap()
        .1;
    let commit = CreateCommit::builder()
        .project("org/sub/app")
        .branch("updatebot/pip/requests-2.32.3")
        .start_sha(base.as_str())
        .commit_message("Bump requests from 2.25.0 to 2.32.3")
        .actions([
            CommitAction::builder()
                .action(CommitActionType::Update)
                .file_path("requirements.txt")
                .content(&b"requests==2.32.3\nflask==2.0.0\n"[..])
                .build()
                .unwrap(),
            CommitAction::builder()
                .action(CommitActionType::Create)
                .file_path("CHANGES & notes.txt")
                .content(&b"a=b&c\n\xff"[..])
                .build()
                .unwrap(),
        ])
        .build()
        .unwrap();
    let c: Value = commit.query_async(&client).await.unwrap();
    assert_eq!(c["parent_ids"], json!([base]));
    assert_eq!(
        gl.file(pid, "updatebot/pip/requests-2.32.3", "requirements.txt")
            .unwrap(),
        "requests==2.32.3\nflask==2.0.0\n"
    );
    let raw = FileRaw::builder()
        .project(pid)
        .file_path("CHANGES & notes.txt")
        .ref_("updatebot/pip/requests-2.32.3")
        .build()
        .unwrap();
    assert_eq!(
        glapi::raw(raw).query_async(&client).await.unwrap(),
        b"a=b&c\n\xff"
    );

    let create = CreateMergeRequest::builder()
        .project(pid)
        .source_branch("updatebot/pip/requests-2.32.3")
        .target_branch("main")
        .title("Bump requests from 2.25.0 to 2.32.3")
        .description("| Package | From | To |")
        .labels(["dependencies", "updatebot"].into_iter())
        .assignees([bot.id, alice.id].into_iter())
        .reviewers([alice.id].into_iter())
        .remove_source_branch(true)
        .squash(true)
        .build()
        .unwrap();
    let mr: Value = create.query_async(&client).await.unwrap();
    assert_eq!(mr["iid"], 1);
    let view = &gl.merge_requests(pid)[0];
    assert_eq!(view.labels, vec!["dependencies", "updatebot"]);
    assert_eq!(view.assignee_ids, vec![bot.id, alice.id]);
    assert_eq!(view.reviewer_ids, vec![alice.id]);
    assert!(view.squash && view.remove_source_branch);
    let get = MergeRequest::builder()
        .project(pid)
        .merge_request(1)
        .build()
        .unwrap();
    let mr: Value = get.query_async(&client).await.unwrap();
    assert_eq!(mr["detailed_merge_status"], "mergeable");
    let posted = gl
        .requests()
        .into_iter()
        .find(|r| r.method == "POST" && r.path.ends_with("/merge_requests"))
        .unwrap();
    assert!(
        posted.body_str().contains("assignee_ids%5B%5D="),
        "{}",
        posted.body_str()
    );
}

/// The standalone binary serves a seeded tree and prints its URL and token.
#[tokio::test]
async fn binary_serves_a_seed_tree() {
    use std::io::BufRead;
    let seed = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(seed.path().join("org/app/src")).unwrap();
    std::fs::write(
        seed.path().join("org/app/requirements.txt"),
        "requests==2.0\n",
    )
    .unwrap();
    std::fs::write(seed.path().join("org/app/src/main.py"), "print()\n").unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_fake-gitlab"))
        .args(["--port", "0", "--token", "t0k", "--seed"])
        .arg(seed.path())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let url = lines
        .next()
        .unwrap()
        .unwrap()
        .trim_start_matches("url: ")
        .to_string();
    assert_eq!(lines.next().unwrap().unwrap(), "token: t0k");
    let resp = reqwest::Client::new()
        .get(format!(
            "{url}/api/v4/projects/org%2Fapp/repository/files/src%2Fmain.py/raw?ref=main"
        ))
        .header("PRIVATE-TOKEN", "t0k")
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    child.kill().unwrap();
    let _ = child.wait();
    assert_eq!((status, text.as_str()), (200, "print()\n"));
}

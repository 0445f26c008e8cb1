//! `serve` against the GitLab API fake and the real local Python index: health, readiness and
//! metrics answer; a second run asked for while one goes on is refused; a comment webhook is
//! acted on at once; a stop finishes the project in hand and reaches no other.

mod support;

use fake_gitlab::{access, FakeGitlab, MergeMethod, ProjectOptions};
use std::sync::Arc;
use std::time::Duration;
use support::*;
use updatebot::config::{load_operator_config, OperatorConfig};
use updatebot::forge::gitlab::GitlabForge;
use updatebot::forge::Forge;
use updatebot::plugins::Plugins;
use updatebot::schedule::Cron;
use updatebot::serve::{self, Running, ServeSettings};
use updatebot_core::http::{HttpClient, HttpOptions};

const CONFIG: &str = "version: 2\nupdates:\n  - package-ecosystem: pip\n    directory: /\n    schedule: {interval: weekly}\n";
const SECRET: &str = "hook-secret-5e1f";

struct World {
    gitlab: FakeGitlab,
    index: String,
    token: String,
    bot_id: u64,
    human: fake_gitlab::User,
}

async fn world() -> Option<World> {
    let index = python_index()?;
    let gitlab = FakeGitlab::start().await;
    let bot = gitlab.add_user("updatebot");
    let human = gitlab.add_user("rita");
    Some(World {
        gitlab,
        index,
        token: bot.token,
        bot_id: bot.id,
        human,
    })
}

impl World {
    fn project(&self, name: &str, files: &[(&str, &str)]) -> u64 {
        let id = self.gitlab.add_project_with(
            ProjectOptions::new("svc", name)
                .files(files)
                .merge_method(MergeMethod::Merge),
        );
        self.gitlab.add_member(id, self.bot_id, access::DEVELOPER);
        self.gitlab
            .add_member(id, self.human.id, access::MAINTAINER);
        id
    }

    fn operator(&self, concurrency: usize) -> OperatorConfig {
        // A yearly schedule: no tick fires during a test; runs come from /run and /webhook.
        let text = format!(
            "gitlab:\n  url: {}\n  token-env: GITLAB_TOKEN\nfleet:\n  groups: [svc]\n  concurrency: {concurrency}\nbot:\n  schedule: \"0 0 1 1 *\"\nregistries:\n  local-pypi:\n    type: python-index\n    url: {}\n    replaces-base: true\n",
            self.gitlab.url(),
            self.index
        );
        let token = self.token.clone();
        load_operator_config(
            &text,
            &move |v| (v == "GITLAB_TOKEN").then(|| token.clone()),
            &|_| Err(std::io::ErrorKind::NotFound.into()),
        )
        .unwrap()
    }

    async fn serve(&self, operator: OperatorConfig) -> Running {
        let http = Arc::new(HttpClient::new(HttpOptions::default(), Vec::new()).unwrap());
        let forge: Arc<dyn Forge> = Arc::new(
            GitlabForge::connect(operator.gitlab.as_ref().unwrap(), &operator.bot, http)
                .await
                .unwrap(),
        );
        let settings = ServeSettings {
            listen: "127.0.0.1:0".parse().unwrap(),
            schedule: Cron::parse("0 0 1 1 *", chrono_tz::UTC).unwrap(),
            secret: Some(SECRET.to_string()),
            advisories: None,
        };
        serve::start(
            settings,
            Arc::new(operator),
            Arc::new(Plugins::standard()),
            forge,
        )
        .await
        .unwrap()
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::new()
}

async fn get(running: &Running, path: &str) -> (u16, String) {
    let resp = client()
        .get(format!("http://{}{path}", running.addr))
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

async fn post(
    running: &Running,
    path: &str,
    headers: &[(&str, &str)],
    body: String,
) -> (u16, String) {
    let mut req = client()
        .post(format!("http://{}{path}", running.addr))
        .body(body);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

/// Poll `/metrics` until it holds `line` (a whole sample line), for up to 30 s.
async fn metrics_reach(running: &Running, line: &str) -> String {
    let mut text = String::new();
    for _ in 0..300 {
        text = get(running, "/metrics").await.1;
        if text.lines().any(|l| l == line) {
            return text;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("`{line}` never appeared in\n{text}");
}

async fn ready(running: &Running) {
    for _ in 0..100 {
        if get(running, "/readyz").await.0 == 200 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("never ready: {:?}", get(running, "/readyz").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_metrics_and_one_run_at_a_time() {
    let Some(w) = world().await else { return };
    let p = w.project(
        "api",
        &[
            (".updatebot.yml", CONFIG),
            ("requirements.txt", "six==1.15.0\n"),
        ],
    );
    let running = w.serve(w.operator(4)).await;
    assert_eq!(get(&running, "/healthz").await, (200, "ok\n".to_string()));
    ready(&running).await;
    let (status, text) = get(&running, "/metrics").await;
    assert_eq!(status, 200);
    assert!(
        text.contains("# TYPE updatebot_runs_total counter\n"),
        "{text}"
    );
    assert!(text.contains("\nupdatebot_run_in_progress 0\n"), "{text}");
    assert_eq!(get(&running, "/report").await.0, 404);

    // Manual runs need the token.
    assert_eq!(post(&running, "/run", &[], String::new()).await.0, 401);
    let wrong = [("authorization", "Bearer nope")];
    assert_eq!(post(&running, "/run", &wrong, String::new()).await.0, 401);

    // A slow GitLab keeps the first run going while the second is asked for.
    w.gitlab.set_latency(Some(Duration::from_millis(40)));
    let bearer = format!("Bearer {SECRET}");
    let auth = [("authorization", bearer.as_str())];
    assert_eq!(post(&running, "/run", &auth, String::new()).await.0, 202);
    let (status, body) = post(&running, "/run", &auth, String::new()).await;
    assert_eq!(
        (status, body.as_str()),
        (409, "a run is already queued or going on\n")
    );
    w.gitlab.set_latency(None);

    let text = metrics_reach(
        &running,
        "updatebot_runs_total{trigger=\"manual\",outcome=\"ok\"} 1",
    )
    .await;
    for line in [
        "updatebot_runs_refused_total{trigger=\"manual\"} 1",
        "updatebot_projects_total{outcome=\"worked\"} 1",
        "updatebot_updates_total{ecosystem=\"pip\",action=\"opened\"} 1",
        "updatebot_updates_proposed_total{ecosystem=\"pip\",update_type=\"minor\"} 1",
        "updatebot_run_in_progress 0",
        "updatebot_packages_looked_up_total 1",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing `{line}` in\n{text}"
        );
    }
    assert!(
        text.lines()
            .any(|l| l.starts_with("updatebot_registry_requests_total{host=\"127.0.0.1")),
        "{text}"
    );
    let (status, report) = get(&running, "/report").await;
    assert_eq!(status, 200);
    let report: serde_json::Value = serde_json::from_str(&report).unwrap();
    assert_eq!(report["projects"][0]["project"], "svc/api");
    assert_eq!(report["projects"][0]["changes"][0]["action"], "opened");
    assert_eq!(report["projects"][0]["changes"][0]["ecosystem"], "pip");
    assert_eq!(
        report["projects"][0]["changes"][0]["updates"][0],
        serde_json::json!({"name": "six", "from": "1.15.0", "to": "1.17.0", "update_type": "minor"})
    );
    assert!(report["run_id"].as_str().unwrap().len() > 16);
    assert_eq!(w.gitlab.merge_requests(p).len(), 1);

    // A new run is accepted once the last one is over.
    assert_eq!(post(&running, "/run", &auth, String::new()).await.0, 202);
    metrics_reach(
        &running,
        "updatebot_runs_total{trigger=\"manual\",outcome=\"ok\"} 2",
    )
    .await;
    running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_comment_webhook_is_acted_on_at_once() {
    let Some(w) = world().await else { return };
    let p = w.project(
        "web",
        &[
            (".updatebot.yml", CONFIG),
            ("requirements.txt", "six==1.15.0\n"),
        ],
    );
    let running = w.serve(w.operator(4)).await;
    ready(&running).await;
    let bearer = format!("Bearer {SECRET}");
    assert_eq!(
        post(
            &running,
            "/run",
            &[("authorization", bearer.as_str())],
            String::new()
        )
        .await
        .0,
        202
    );
    metrics_reach(
        &running,
        "updatebot_runs_total{trigger=\"manual\",outcome=\"ok\"} 1",
    )
    .await;
    let mr = w.gitlab.merge_requests(p).remove(0);
    let note = w
        .gitlab
        .add_note(p, mr.iid, w.human.id, "@updatebot recreate");
    let payload = serde_json::json!({
        "object_kind": "note",
        "event_type": "note",
        "user": {"id": w.human.id, "username": "rita", "name": "Rita"},
        "project_id": p,
        "project": {"id": p, "path_with_namespace": "svc/web"},
        "object_attributes": {"id": note, "note": "@updatebot recreate", "noteable_type": "MergeRequest", "system": false},
        "merge_request": {"iid": mr.iid, "source_branch": mr.source_branch, "state": "opened", "description": mr.description}
    })
    .to_string();
    let hook = |token: &'static str| [("x-gitlab-event", "Note Hook"), ("x-gitlab-token", token)];
    assert_eq!(
        post(&running, "/webhook", &hook("wrong"), payload.clone())
            .await
            .0,
        401
    );
    assert_eq!(
        post(&running, "/webhook", &hook(SECRET), "{".into())
            .await
            .0,
        400
    );
    let (status, body) = post(
        &running,
        "/webhook",
        &hook(SECRET),
        serde_json::json!({"object_kind": "push"}).to_string(),
    )
    .await;
    assert_eq!(
        (status, body.as_str()),
        (200, "ignored: not a comment event\n")
    );
    assert_eq!(
        post(&running, "/webhook", &hook(SECRET), payload).await.0,
        202
    );
    metrics_reach(
        &running,
        "updatebot_runs_total{trigger=\"webhook\",outcome=\"ok\"} 1",
    )
    .await;
    let awards = w
        .gitlab
        .notes(p, mr.iid)
        .into_iter()
        .find(|n| n.id == note)
        .unwrap()
        .award_emoji;
    assert_eq!(awards, ["thumbsup"], "the command was acknowledged");
    let report: serde_json::Value =
        serde_json::from_str(&get(&running, "/report").await.1).unwrap();
    assert_eq!(report["projects"][0]["changes"][0]["action"], "recreated");
    let text = get(&running, "/metrics").await.1;
    for line in [
        "updatebot_webhooks_total{outcome=\"accepted\"} 1",
        "updatebot_webhooks_total{outcome=\"ignored\"} 1",
        "updatebot_webhooks_total{outcome=\"invalid\"} 1",
        "updatebot_webhooks_total{outcome=\"unauthorized\"} 1",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing `{line}` in\n{text}"
        );
    }
    running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_finishes_the_project_in_hand_and_starts_no_other() {
    let Some(w) = world().await else { return };
    let mut ids = Vec::new();
    for i in 0..6 {
        ids.push(w.project(
            &format!("p{i}"),
            &[
                (".updatebot.yml", CONFIG),
                ("requirements.txt", "six==1.15.0\n"),
            ],
        ));
    }
    let running = w.serve(w.operator(1)).await;
    ready(&running).await;
    w.gitlab.set_latency(Some(Duration::from_millis(30)));
    let bearer = format!("Bearer {SECRET}");
    assert_eq!(
        post(
            &running,
            "/run",
            &[("authorization", bearer.as_str())],
            String::new()
        )
        .await
        .0,
        202
    );
    // Wait until the first project has its merge request, then stop.
    for _ in 0..300 {
        if ids
            .iter()
            .any(|id| !w.gitlab.merge_requests(*id).is_empty())
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let report = running.shutdown().await;
    w.gitlab.set_latency(None);
    let report = report.expect("the interrupted run reports");
    assert!(report.interrupted, "{}", report.summary());
    let reached: Vec<_> = report
        .projects
        .iter()
        .filter(|p| p.skipped.as_deref() != Some("not reached: the bot was shutting down"))
        .collect();
    assert!(
        !reached.is_empty() && reached.len() < 6,
        "{}",
        report.summary()
    );
    // Every project reached was finished: its merge request is there, complete.
    for p in &reached {
        assert_eq!(p.changes.len(), 1, "{}", report.summary());
        assert_eq!(p.changes[0].action.as_str(), "opened");
    }
    let with_mr = ids
        .iter()
        .filter(|id| !w.gitlab.merge_requests(**id).is_empty())
        .count();
    assert_eq!(with_mr, reached.len());
    for id in &ids {
        let branches: Vec<_> = w
            .gitlab
            .branches(*id)
            .into_iter()
            .filter(|(b, _)| b.starts_with("updatebot/"))
            .collect();
        assert_eq!(
            branches.len(),
            w.gitlab.merge_requests(*id).len(),
            "no orphan branch"
        );
    }
}

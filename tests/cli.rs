//! The command line without network: `extract`, `versions`, `validate`, `--help`, exit codes.

mod support;

use serde_json::Value;
use std::io::Write;
use std::process::{Command, Stdio};
use support::*;

#[test]
fn every_command_has_help() {
    for args in [
        vec!["--help"],
        vec!["extract", "--help"],
        vec!["check", "--help"],
        vec!["update", "--help"],
        vec!["versions", "--help"],
        vec!["validate", "--help"],
        vec!["run", "--help"],
        vec!["serve", "--help"],
        vec!["schedule", "explain", "--help"],
    ] {
        let output = updatebot(&args);
        assert_eq!(output.status.code(), Some(0), "{args:?}");
        assert!(stdout(&output).contains("Usage: updatebot"), "{args:?}");
    }
    assert_eq!(updatebot(&["frobnicate"]).status.code(), Some(2));
}

#[test]
fn extract_json_has_the_documented_shape_and_goes_on_past_bad_files() {
    let root = repo_root().join("fixtures/python/malformed_manifests_do_not_stop_the_run/in");
    let output = updatebot(&["extract", root.to_str().unwrap(), "--format", "json"]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let report: Value = serde_json::from_str(&stdout(&output)).unwrap();
    let manifests = report["manifests"].as_array().unwrap();
    assert_eq!(manifests.len(), 3);
    for m in manifests {
        let keys: Vec<_> = m.as_object().unwrap().keys().cloned().collect();
        assert_eq!(
            keys,
            ["path", "manager", "ecosystem", "dependencies", "error"]
        );
        assert_eq!(m["ecosystem"], "pip");
    }
    let by_path = |p: &str| manifests.iter().find(|m| m["path"] == p).unwrap();
    let bad = by_path("bad/pyproject.toml");
    assert!(bad["error"]
        .as_str()
        .unwrap()
        .starts_with("bad/pyproject.toml:1: invalid TOML"));
    let worse = by_path("worse/requirements.txt");
    assert!(worse["error"]
        .as_str()
        .unwrap()
        .starts_with("worse/requirements.txt:2: invalid requirement `requests==2.25.0=`"));
    let good = by_path("good/requirements.txt");
    assert_eq!(good["error"], Value::Null);
    assert_eq!(
        good["dependencies"],
        serde_json::json!([{"name": "six", "current_value": "==1.15.0", "dep_type": "dependencies", "skip_reason": null}])
    );
}

#[test]
fn extract_respects_the_repository_config() {
    let root = repo_root().join("fixtures/python/updatebot_yml_limits_directories_and_rules/in");
    let output = updatebot(&["extract", root.to_str().unwrap(), "--format", "json"]);
    assert_eq!(output.status.code(), Some(0));
    let report: Value = serde_json::from_str(&stdout(&output)).unwrap();
    let paths: Vec<_> = report["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["path"].clone())
        .collect();
    assert_eq!(paths, ["backend/requirements.txt"]);
    // The table form lists the same.
    let table = stdout(&updatebot(&["extract", root.to_str().unwrap()]));
    assert!(table.starts_with("FILE"));
    assert!(table.contains("backend/requirements.txt  pip_requirements  requests"));
    assert!(!table.contains("\nrequirements.txt"));
}

#[test]
fn a_broken_repository_config_is_a_usage_error_naming_the_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join(".updatebot.yml"),
        "version: 2\nupdates:\n  - package-ecosystem: pip\n    directory: /\n    labelz: [x]\n",
    )
    .unwrap();
    let output = updatebot(&["extract", dir.path().to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains(".updatebot.yml:5:5: unknown key `labelz`"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn versions_answers_one_line_per_request() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_updatebot"))
        .args(["versions", "--scheme", "npm"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"{\"op\":\"satisfies\",\"range\":\"^0.2.3\",\"version\":\"0.3.0\"}\ngarbage\n{\"op\":\"latest\",\"current\":\"1.2.3\",\"candidates\":[\"1.3.0\",\"2.0.0-rc.1\",\"1.2.4\"]}\n")
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success());
    let lines: Vec<Value> = stdout(&output)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0], serde_json::json!({"result": false}));
    assert!(lines[1]["error"].is_string());
    assert_eq!(lines[2], serde_json::json!({"result": "1.3.0"}));
}

#[test]
fn validate_prints_every_problem_with_its_line() {
    let good = repo_root().join("config/example.updatebot.yml");
    let output = updatebot(&["validate", good.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    let bad = repo_root().join("fixtures/config/unknown-key/.updatebot.yml");
    let output = updatebot(&["validate", bad.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    let text = stdout(&output);
    assert_eq!(text.lines().count(), 4, "{text}");
    assert!(text.contains(":4:5: unknown key `dirctory` in updates[0] (did you mean `directory`?)"));
    assert_eq!(
        updatebot(&["validate", "/nonexistent/.updatebot.yml"])
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn operator_configs_validate_with_their_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("operator.yml");
    std::fs::write(
        &file,
        "registries:\n  internal:\n    type: python-index\n    url: https://pypi.internal.example/simple\n    username: __token__\n    password-file: token.txt\n",
    )
    .unwrap();
    let output = updatebot(&["validate", "--operator", file.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stdout(&output).contains("token.txt"), "{}", stdout(&output));
    std::fs::write(dir.path().join("token.txt"), "s3cret-value\n").unwrap();
    let output = updatebot(&["validate", "--operator", file.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    assert!(!stdout(&output).contains("s3cret-value"));
}

/// The shipped CI template parses, and its patterns name the bot's default CI label and
/// branch prefix (so changing a default without the template fails here).
#[test]
fn the_ci_template_matches_the_bot_defaults() {
    use saphyr::{LoadableYamlNode, Yaml};
    let text =
        std::fs::read_to_string(repo_root().join("config/gitlab-ci/updatebot.gitlab-ci.yml"))
            .unwrap();
    let docs = Yaml::load_from_str(&text).unwrap();
    let root = &docs[0];
    let bot = updatebot::config::BotSettings::default();
    let label = format!("/(^|,){}(,|$)/", bot.ci_label);
    let prefix = format!("/^{}\\//", bot.branch_prefix);
    let never = root[".updatebot-never"]["rules"].as_vec().unwrap();
    let conditions: Vec<&str> = never.iter().map(|r| r["if"].as_str().unwrap()).collect();
    assert!(conditions[0].ends_with(&label), "{conditions:?}");
    assert!(conditions[1].ends_with(&prefix), "{conditions:?}");
    let workflow = root["workflow"]["rules"].as_vec().unwrap();
    let first = workflow[0]["if"].as_str().unwrap();
    assert!(
        first.contains("push") && first.ends_with(&prefix),
        "{first}"
    );
    assert_eq!(workflow[0]["when"].as_str(), Some("never"));
}

#[test]
fn schedule_explain_names_the_run_that_serves_each_fire_time() {
    let dir = tempfile::tempdir().unwrap();
    let operator = dir.path().join("operator.yml");
    std::fs::write(
        &operator,
        "bot:\n  schedule: \"0 6 * * 1-5\"\n  timezone: Europe/Berlin\n",
    )
    .unwrap();
    let file = repo_root().join("fixtures/sample/.updatebot.yml");
    let output = updatebot(&[
        "schedule",
        "explain",
        file.to_str().unwrap(),
        "--config",
        operator.to_str().unwrap(),
        "--from",
        "2026-11-24T12:00:00Z",
        "--count",
        "2",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(
        stdout(&output),
        "bot schedule: `0 6 * * 1-5` in Europe/Berlin\n\
         updates[0] (line 4) pip in /, /api, /worker: `0 5 * * 1` in Europe/Berlin\n\
         \x20 Mon 2026-11-30 05:00 CET (04:00 UTC)  served by the run at Mon 2026-11-30 06:00 CET (05:00 UTC)\n\
         \x20 Mon 2026-12-07 05:00 CET (04:00 UTC)  served by the run at Mon 2026-12-07 06:00 CET (05:00 UTC)\n"
    );
}

#[test]
fn a_bad_shard_or_bot_schedule_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let output = updatebot(&[
        "run",
        "--local",
        dir.path().to_str().unwrap(),
        "--shard",
        "3/3",
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("invalid shard `3/3`"),
        "{}",
        stderr(&output)
    );
    let operator = dir.path().join("operator.yml");
    std::fs::write(&operator, "bot:\n  schedule: \"0 6 * *\"\n").unwrap();
    let output = updatebot(&[
        "run",
        "--config",
        operator.to_str().unwrap(),
        "--local",
        ".",
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("bot.schedule: invalid cron expression `0 6 * *`"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn serve_needs_the_bot_schedule() {
    let dir = tempfile::tempdir().unwrap();
    let output = updatebot(&[
        "serve",
        "--local",
        dir.path().to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("serve needs the bot's own schedule: set `bot.schedule`"),
        "{}",
        stderr(&output)
    );
}

/// With `--log-format json`, even the final error is a JSON line (log collectors parse every
/// line), and the exit code is still 2.
#[test]
fn a_fatal_error_is_a_json_line_with_json_logs() {
    let output = updatebot(&[
        "--log-format",
        "json",
        "run",
        "--config",
        "/nonexistent/operator.yml",
    ]);
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    let lines: Vec<&str> = err.lines().collect();
    assert!(!lines.is_empty());
    for line in lines {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert_eq!(v["level"], "ERROR");
        assert!(v["fields"]["message"]
            .as_str()
            .unwrap()
            .contains("/nonexistent/operator.yml"));
    }
}

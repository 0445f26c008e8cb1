//! What a project's CI does with the bot's merge requests: whether a push to a bot branch
//! makes a branch pipeline (GitLab's own simulation, through the CI lint API) and which
//! deployment or review-app jobs a merge-request pipeline of the bot would run (simulated
//! here on the merged configuration GitLab returns, with the variables such a pipeline has).

pub mod rules;
pub mod tree;

use crate::forge::CiLint;
use serde::Serialize;
use std::collections::BTreeMap;
use tree::Y;

/// Top-level keys that are not jobs.
const GLOBAL_KEYS: &[&str] = &[
    "image",
    "services",
    "stages",
    "types",
    "before_script",
    "after_script",
    "variables",
    "cache",
    "include",
    "workflow",
    "default",
    "spec",
];

/// A bot merge request as CI sees it.
pub struct BotMergeRequest<'a> {
    pub source_branch: &'a str,
    pub target_branch: &'a str,
    pub default_branch: &'a str,
    pub labels: &'a [String],
    pub project_path: &'a str,
}

/// A merge-request pipeline of the bot, simulated.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct MrPipeline {
    /// Workflow rules let the pipeline be created.
    pub created: bool,
    pub jobs: Vec<String>,
    /// Jobs that deploy (an `environment`, or a deploy/review/release name or stage) and run
    /// without a person starting them.
    pub deploy_jobs: Vec<String>,
}

/// The CI check of one project, for the run report and the dashboard.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CiCheck {
    /// The bot branch the check simulated.
    pub branch: String,
    /// Jobs of the branch pipeline a push to a bot branch creates (empty: none, as wanted).
    pub branch_pipeline_jobs: Vec<String>,
    /// Deployment jobs a bot merge-request pipeline runs (empty: none, as wanted).
    pub deploy_jobs: Vec<String>,
    /// The bot's merge requests get no merge-request pipeline at all (untested).
    pub no_merge_request_pipeline: bool,
    /// What could not be checked, and why.
    pub problems: Vec<String>,
    /// The change to the project's CI configuration that makes it quiet.
    pub fix: Option<String>,
}

impl CiCheck {
    pub fn quiet(&self) -> bool {
        self.branch_pipeline_jobs.is_empty()
            && self.deploy_jobs.is_empty()
            && !self.no_merge_request_pipeline
            && self.problems.is_empty()
    }

    /// Markdown list lines for the dashboard.
    pub fn lines(&self) -> Vec<String> {
        use crate::run::dashboard::inline;
        let mut out = Vec::new();
        if self.quiet() {
            out.push(format!(
                "- ✅ A bot merge request runs one merge-request pipeline, with no deployment (checked on {}).",
                crate::run::sanitize::code(&self.branch)
            ));
        }
        if !self.branch_pipeline_jobs.is_empty() {
            out.push(format!(
                "- ⚠️ A push to a bot branch also makes a branch pipeline: {}.",
                code_list(&self.branch_pipeline_jobs)
            ));
        }
        if !self.deploy_jobs.is_empty() {
            out.push(format!(
                "- ⚠️ A bot merge-request pipeline deploys: {}.",
                code_list(&self.deploy_jobs)
            ));
        }
        if self.no_merge_request_pipeline {
            out.push(
                "- ⚠️ A bot merge request gets no merge-request pipeline: its updates are not tested."
                    .into(),
            );
        }
        for p in &self.problems {
            out.push(format!("- Not checked: {}", inline(p)));
        }
        if let Some(fix) = &self.fix {
            out.push(String::new());
            out.push(fix.clone());
        }
        out
    }
}

fn code_list(names: &[String]) -> String {
    names
        .iter()
        .map(|n| crate::run::sanitize::code(n))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The include line of the shipped template, for fixes.
const TEMPLATE: &str = "config/gitlab-ci/updatebot.gitlab-ci.yml";

/// Judge one project's CI from GitLab's lint answer (a dry run of a push to `mr.source_branch`).
pub fn check(lint: &CiLint, mr: &BotMergeRequest<'_>) -> CiCheck {
    let mut out = CiCheck {
        branch: mr.source_branch.to_string(),
        ..CiCheck::default()
    };
    // The dry run is a push pipeline on the bot branch: its jobs are a branch pipeline.
    // GitLab's answer for a project without a CI configuration.
    if !lint.valid
        && lint
            .errors
            .iter()
            .any(|e| e.contains("provide content of .gitlab-ci.yml"))
    {
        out.no_merge_request_pipeline = true;
        return out;
    }
    let filtered = lint.errors.iter().any(|e| {
        let e = e.to_ascii_lowercase();
        e.contains("workflow") || e.contains("will not run") || e.contains("filtered")
    });
    if lint.valid {
        out.branch_pipeline_jobs = lint.jobs.iter().map(|j| j.name.clone()).collect();
    } else if !filtered {
        out.problems.push(format!(
            "GitLab finds the CI configuration invalid: {}",
            lint.errors.join("; ")
        ));
    }
    match &lint.merged_yaml {
        Some(yaml) => match simulate(yaml, mr) {
            Ok(p) => {
                out.no_merge_request_pipeline = !p.created || p.jobs.is_empty();
                out.deploy_jobs = p.deploy_jobs;
            }
            Err(e) => out
                .problems
                .push(format!("the merged CI configuration: {e}")),
        },
        None if lint.valid || filtered => out
            .problems
            .push("GitLab's CI lint gave no merged configuration".into()),
        None => {}
    }
    if !out.branch_pipeline_jobs.is_empty() || !out.deploy_jobs.is_empty() {
        let mut fix = format!(
            "Fix: include updatebot's CI template at the top of `.gitlab-ci.yml`:\n\n```yaml\ninclude:\n  - project: <where updatebot's repository is>\n    file: {TEMPLATE}\n```"
        );
        if !out.deploy_jobs.is_empty() {
            fix.push_str(&format!(
                "\n\nand put `- !reference [.updatebot-never, rules]` first in the `rules:` of {}.",
                code_list(&out.deploy_jobs)
            ));
        }
        out.fix = Some(fix);
    }
    out
}

/// The variables of a bot merge-request pipeline.
fn variables(root: &Y, mr: &BotMergeRequest<'_>) -> BTreeMap<String, String> {
    let mut vars: BTreeMap<String, String> = BTreeMap::new();
    if let Some(Y::Map(globals)) = root.get("variables") {
        for (k, v) in globals {
            let value = match v {
                Y::Str(s) => s.clone(),
                Y::Map(_) => v
                    .get("value")
                    .and_then(Y::as_str)
                    .unwrap_or_default()
                    .to_string(),
                Y::Bool(b) => b.to_string(),
                _ => continue,
            };
            vars.insert(k.clone(), value);
        }
    }
    for (k, v) in [
        ("CI", "true"),
        ("GITLAB_CI", "true"),
        ("CI_PIPELINE_SOURCE", "merge_request_event"),
        ("CI_MERGE_REQUEST_ID", "1"),
        ("CI_MERGE_REQUEST_IID", "1"),
        ("CI_MERGE_REQUEST_EVENT_TYPE", "detached"),
        ("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME", mr.source_branch),
        ("CI_MERGE_REQUEST_TARGET_BRANCH_NAME", mr.target_branch),
        ("CI_MERGE_REQUEST_PROJECT_PATH", mr.project_path),
        ("CI_COMMIT_REF_NAME", mr.source_branch),
        ("CI_DEFAULT_BRANCH", mr.default_branch),
        ("CI_PROJECT_PATH", mr.project_path),
    ] {
        vars.insert(k.to_string(), v.to_string());
    }
    vars.insert("CI_MERGE_REQUEST_LABELS".into(), mr.labels.join(","));
    vars
}

/// `!reference [a, b]` looked up in the document.
fn lookup<'y>(root: &'y Y, path: &[String]) -> Option<&'y Y> {
    path.iter().try_fold(root, |node, key| node.get(key))
}

/// A list with its references resolved and nested lists flattened (as GitLab does for
/// `rules` and scripts).
fn flatten(root: &Y, items: &[Y], depth: usize, out: &mut Vec<Y>) {
    for item in items {
        match item {
            Y::Ref(path) if depth < 10 => match lookup(root, path) {
                Some(Y::Seq(inner)) => flatten(root, inner, depth + 1, out),
                Some(other) => out.push(other.clone()),
                None => {}
            },
            Y::Seq(inner) if depth < 10 => flatten(root, inner, depth + 1, out),
            other => out.push(other.clone()),
        }
    }
}

/// Deep merge for `extends`: maps merge key by key, anything else is replaced.
fn merge(base: &Y, over: &Y) -> Y {
    match (base, over) {
        (Y::Map(b), Y::Map(o)) => {
            let mut out = b.clone();
            for (k, v) in o {
                match out.iter_mut().find(|(bk, _)| bk == k) {
                    Some((_, bv)) => *bv = merge(bv, v),
                    None => out.push((k.clone(), v.clone())),
                }
            }
            Y::Map(out)
        }
        (_, o) => o.clone(),
    }
}

/// A job with its `extends` chain applied (bounded depth, cycles cut).
fn expand(root: &Y, job: &Y, depth: usize) -> Y {
    let parents: Vec<String> = match job.get("extends") {
        Some(Y::Str(s)) => vec![s.clone()],
        Some(Y::Seq(items)) => items
            .iter()
            .filter_map(|i| i.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    };
    if parents.is_empty() || depth > 11 {
        return job.clone();
    }
    let mut base = Y::Map(Vec::new());
    for p in parents {
        if let Some(parent) = root.get(&p) {
            base = merge(&base, &expand(root, parent, depth + 1));
        }
    }
    merge(&base, job)
}

/// The outcome of a `rules:` list: `Some(when)` of the first rule that matches, `None` when
/// none does (the job is left out).
fn first_rule(
    root: &Y,
    rules: &Y,
    vars: &BTreeMap<String, String>,
) -> Result<Option<String>, String> {
    let Y::Seq(items) = rules else {
        return Ok(Some("on_success".into()));
    };
    let mut flat = Vec::new();
    flatten(root, items, 0, &mut flat);
    for rule in &flat {
        let hit = match rule.get("if").and_then(Y::as_str) {
            Some(expression) => rules::evaluate(expression, vars).map_err(|e| e.to_string())?,
            // `changes:`/`exists:` alone: assume it may match (the bot changes files).
            None => true,
        };
        if hit {
            let when = rule
                .get("when")
                .and_then(Y::as_str)
                .unwrap_or("on_success")
                .to_string();
            return Ok(Some(when));
        }
    }
    Ok(None)
}

/// Whether `only:`/`except:` keep a job in a merge-request pipeline.
fn only_except(job: &Y) -> bool {
    let refs = |y: Option<&Y>| -> Option<Vec<String>> {
        let list = match y? {
            Y::Map(_) => y?.get("refs")?,
            other => other,
        };
        Some(match list {
            Y::Seq(items) => items
                .iter()
                .filter_map(|i| i.as_str().map(str::to_string))
                .collect(),
            Y::Str(s) => vec![s.clone()],
            _ => Vec::new(),
        })
    };
    let only = refs(job.get("only")).unwrap_or_else(|| vec!["branches".into(), "tags".into()]);
    let except = refs(job.get("except")).unwrap_or_default();
    let mr = |list: &[String]| list.iter().any(|r| r == "merge_requests");
    mr(&only) && !mr(&except)
}

fn deploys(name: &str, job: &Y) -> bool {
    let words = [
        "deploy",
        "review",
        "release",
        "publish",
        "production",
        "staging",
        "rollout",
    ];
    let named = |s: &str| {
        let s = s.to_ascii_lowercase();
        words.iter().any(|w| s.contains(w))
    };
    let environment = match job.get("environment") {
        Some(Y::Str(_)) => true,
        Some(env @ Y::Map(_)) => !matches!(
            env.get("action").and_then(Y::as_str),
            Some("prepare" | "verify" | "access")
        ),
        _ => false,
    };
    environment || named(name) || job.get("stage").and_then(Y::as_str).is_some_and(named)
}

/// Simulate a bot merge-request pipeline on a merged CI configuration.
pub fn simulate(merged_yaml: &str, mr: &BotMergeRequest<'_>) -> Result<MrPipeline, String> {
    let root = tree::parse(merged_yaml)?;
    let Y::Map(entries) = &root else {
        return Err("the configuration is not a mapping".into());
    };
    let vars = variables(&root, mr);
    let mut out = MrPipeline::default();
    if let Some(rules) = root.get("workflow").and_then(|w| w.get("rules")) {
        match first_rule(&root, rules, &vars)? {
            Some(when) if when != "never" => {}
            _ => return Ok(out),
        }
    }
    out.created = true;
    for (name, job) in entries {
        if name.starts_with('.')
            || GLOBAL_KEYS.contains(&name.as_str())
            || !matches!(job, Y::Map(_))
        {
            continue;
        }
        let job = expand(&root, job, 0);
        let when = match job.get("rules") {
            Some(rules) => match first_rule(&root, rules, &vars)? {
                Some(when) if when != "never" => when,
                _ => continue,
            },
            None if only_except(&job) => job
                .get("when")
                .and_then(Y::as_str)
                .unwrap_or("on_success")
                .to_string(),
            None => continue,
        };
        out.jobs.push(name.clone());
        if when != "manual" && deploys(name, &job) {
            out.deploy_jobs.push(name.clone());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forge::CiLintJob;

    const TEMPLATE_TEXT: &str = include_str!("../../config/gitlab-ci/updatebot.gitlab-ci.yml");

    fn mr() -> BotMergeRequest<'static> {
        static LABELS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
        BotMergeRequest {
            source_branch: "updatebot/pip/six-1.17.0",
            target_branch: "main",
            default_branch: "main",
            labels: LABELS.get_or_init(|| vec!["dependencies".into(), "updatebot".into()]),
            project_path: "g/app",
        }
    }

    /// A project's own jobs: tests, and a review app on every merge request.
    const PROJECT: &str = "
stages: [test, review]
test:
  stage: test
  script: [make test]
  rules:
    - if: $CI_PIPELINE_SOURCE == \"merge_request_event\"
    - if: $CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH
review-app:
  stage: review
  script: [deploy]
  environment: {name: review/$CI_COMMIT_REF_SLUG}
  rules:
    - if: $CI_PIPELINE_SOURCE == \"merge_request_event\"
stop-review:
  stage: review
  script: [stop]
  environment: {name: review/$CI_COMMIT_REF_SLUG, action: stop}
  rules:
    - if: $CI_PIPELINE_SOURCE == \"merge_request_event\"
      when: manual
lint:
  script: [make lint]
  only: [merge_requests]
";

    #[test]
    fn a_project_without_the_template_deploys_review_apps_for_the_bot() {
        let p = simulate(PROJECT, &mr()).unwrap();
        assert!(p.created);
        assert_eq!(p.jobs, ["test", "review-app", "stop-review", "lint"]);
        assert_eq!(p.deploy_jobs, ["review-app"]);
    }

    #[test]
    fn the_template_keeps_deployments_out_and_the_merge_request_pipeline_in() {
        // As GitLab merges an include: the template's keys beside the project's, with the
        // review job's rules starting with the template's reference.
        let fixed = PROJECT.replace(
            "  environment: {name: review/$CI_COMMIT_REF_SLUG}\n  rules:\n",
            "  environment: {name: review/$CI_COMMIT_REF_SLUG}\n  rules:\n    - !reference [.updatebot-never, rules]\n",
        );
        let merged = format!("{TEMPLATE_TEXT}\n{fixed}");
        let p = simulate(&merged, &mr()).unwrap();
        assert!(p.created);
        assert!(p.jobs.contains(&"test".to_string()), "{p:?}");
        assert!(!p.jobs.contains(&"review-app".to_string()), "{p:?}");
        assert!(p.deploy_jobs.is_empty(), "{p:?}");
    }

    #[test]
    fn a_project_without_ci_is_named_untested() {
        let lint = CiLint {
            valid: false,
            errors: vec!["Please provide content of .gitlab-ci.yml".into()],
            ..CiLint::default()
        };
        let c = check(&lint, &mr());
        assert!(
            c.no_merge_request_pipeline && c.problems.is_empty(),
            "{c:?}"
        );
        assert!(!c.quiet());
        assert_eq!(c.fix, None);
    }

    #[test]
    fn extends_and_workflow_rules_apply() {
        let yaml = "
workflow:
  rules:
    - if: $CI_MERGE_REQUEST_LABELS =~ /(^|,)updatebot(,|$)/
      when: never
    - when: always
.deploy:
  environment: production
deploy:
  extends: .deploy
  script: [go]
";
        let p = simulate(yaml, &mr()).unwrap();
        assert!(!p.created);
        let p = simulate(&yaml.replace("updatebot(,", "nobody(,"), &mr()).unwrap();
        assert!(p.created);
        // `deploy` has no rules and no `only`: branch and tag pipelines only.
        assert!(p.jobs.is_empty());
        let p = simulate(
            &format!("{yaml}  only: [merge_requests]\n").replace("updatebot(,", "nobody(,"),
            &mr(),
        )
        .unwrap();
        assert_eq!(p.deploy_jobs, ["deploy"]);
    }

    fn lint(valid: bool, errors: &[&str], jobs: &[&str], yaml: &str) -> CiLint {
        CiLint {
            valid,
            errors: errors.iter().map(|e| e.to_string()).collect(),
            warnings: Vec::new(),
            merged_yaml: Some(yaml.to_string()),
            jobs: jobs
                .iter()
                .map(|j| CiLintJob {
                    name: j.to_string(),
                    stage: Some("test".into()),
                })
                .collect(),
        }
    }

    #[test]
    fn the_check_reports_branch_pipelines_deployments_and_the_fix() {
        let noisy = check(&lint(true, &[], &["test", "review-app"], PROJECT), &mr());
        assert_eq!(noisy.branch_pipeline_jobs, ["test", "review-app"]);
        assert_eq!(noisy.deploy_jobs, ["review-app"]);
        assert!(!noisy.quiet());
        let fix = noisy.fix.as_deref().unwrap();
        assert!(
            fix.contains("file: config/gitlab-ci/updatebot.gitlab-ci.yml"),
            "{fix}"
        );
        assert!(fix.contains("`review-app`"), "{fix}");
        let quiet_yaml = format!("{TEMPLATE_TEXT}\ntest:\n  script: [x]\n  rules:\n    - if: $CI_PIPELINE_SOURCE == \"merge_request_event\"\n");
        let quiet = check(
            &lint(
                false,
                &["Pipeline filtered out by workflow rules."],
                &[],
                &quiet_yaml,
            ),
            &mr(),
        );
        assert!(quiet.quiet(), "{quiet:?}");
        assert!(quiet.fix.is_none());
        let broken = check(
            &lint(
                false,
                &["jobs config should contain at least one visible job"],
                &[],
                "{}",
            ),
            &mr(),
        );
        assert!(broken.problems[0].contains("invalid"), "{broken:?}");
    }
}

//! The deployment files of issue 7: the Helm chart (`config/helm/updatebot`), the plain
//! manifests it renders (`config/kubernetes`), the Containerfiles and the CI snippet that
//! builds them.
//!
//! The chart is checked with the real helm (`helm lint --strict`, `helm template` with
//! several value sets), every rendered object against Kubernetes' own OpenAPI schemas
//! (kubernetes-validate, offline, strict) for the oldest and newest Kubernetes the chart
//! supports, the plain manifests against the render (byte for byte) and against kustomize,
//! and the operator config inside the ConfigMap with `updatebot validate --operator`. The
//! serve Deployment's container is also run for real (its args, env and config, against the
//! GitLab API fake): probes, metrics, webhook secret, JSON logs and SIGTERM. The
//! tools come from `scripts/deploy-env.sh install` (run by `scripts/test.sh`); without them
//! the tests that need them skip, unless `UPDATEBOT_REQUIRE_SERVICES` is set.

mod support;

use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use support::{repo_root, stderr, stdout, updatebot};

const CONFIG_DIR: &str = "/etc/updatebot";
const CONFIG_FILE: &str = "/etc/updatebot/config.yml";
/// The oldest Kubernetes the chart supports (Chart.yaml `kubeVersion`) and the newest the
/// validator knows.
const KUBE_VERSIONS: [&str; 2] = ["1.29.0", "1.37.0"];

// ------------------------------------------------------------------------------ tools ---

struct Tools {
    helm: PathBuf,
    kubectl: PathBuf,
    validate: PathBuf,
}

/// helm, kubectl and kubernetes-validate from `scripts/deploy-env.sh install`.
fn tools() -> Option<Tools> {
    let dir = std::env::var_os("UPDATEBOT_DEPLOY_ENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".cache/deploy-env"));
    let tools = Tools {
        helm: dir.join("bin/helm"),
        kubectl: dir.join("bin/kubectl"),
        validate: dir.join("bin/kubernetes-validate"),
    };
    if [&tools.helm, &tools.kubectl, &tools.validate]
        .iter()
        .all(|p| p.is_file())
    {
        return Some(tools);
    }
    assert!(
        std::env::var_os("UPDATEBOT_REQUIRE_SERVICES").is_none(),
        "helm, kubectl or kubernetes-validate missing in {}: run scripts/deploy-env.sh install \
         (scripts/test.sh does)",
        dir.display()
    );
    eprintln!("skipped: no helm/kubernetes-validate (run scripts/deploy-env.sh install)");
    None
}

fn run(program: &Path, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()))
}

fn ok(output: &Output, what: &str) -> String {
    assert!(
        output.status.success(),
        "{what} failed ({}):\n{}\n{}",
        output.status,
        stdout(output),
        stderr(output)
    );
    stdout(output)
}

fn chart() -> PathBuf {
    repo_root().join("config/helm/updatebot")
}

/// `helm template updatebot <chart> -f <values>`: the rendered text, or the error.
fn helm_template(tools: &Tools, values: &Value, extra: &[&str]) -> Result<String, String> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("values.json");
    std::fs::write(&file, values.to_string()).unwrap();
    let chart = chart();
    let mut args = vec![
        "template",
        "updatebot",
        chart.to_str().unwrap(),
        "-f",
        file.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let output = run(&tools.helm, &args);
    if output.status.success() {
        Ok(stdout(&output))
    } else {
        Err(stderr(&output))
    }
}

/// `kubernetes-validate --strict` of every document in `text` against each supported
/// Kubernetes version. Objects of kinds it has no schema for are returned (to be checked
/// by hand); anything else that is not valid fails.
fn schema_validate(tools: &Tools, text: &str, what: &str) -> BTreeSet<String> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("objects.yaml");
    std::fs::write(&file, text).unwrap();
    let mut unknown = BTreeSet::new();
    for version in KUBE_VERSIONS {
        let output = run(
            &tools.validate,
            &["--strict", "-k", version, file.to_str().unwrap()],
        );
        let out = stdout(&output) + &stderr(&output);
        assert!(
            output.status.success() && !out.contains("ERROR"),
            "{what}: not valid for Kubernetes {version}:\n{out}"
        );
        for line in out.lines() {
            if let Some(rest) = line.split("Couldn't find schema for kind ").nth(1) {
                unknown.insert(rest.split(' ').next().unwrap().to_string());
            }
        }
    }
    unknown
}

// ------------------------------------------------------------------------------- YAML ---

fn to_json(node: &saphyr::Yaml) -> Value {
    use saphyr::{Scalar, Yaml};
    match node {
        Yaml::Value(Scalar::Null) => Value::Null,
        Yaml::Value(Scalar::Boolean(b)) => json!(b),
        Yaml::Value(Scalar::Integer(i)) => json!(i),
        Yaml::Value(Scalar::FloatingPoint(f)) => json!(f.into_inner()),
        Yaml::Value(Scalar::String(s)) => json!(s.as_ref()),
        Yaml::Sequence(items) => Value::Array(items.iter().map(to_json).collect()),
        Yaml::Mapping(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let key = match to_json(k) {
                        Value::String(s) => s,
                        other => other.to_string(),
                    };
                    (key, to_json(v))
                })
                .collect(),
        ),
        other => panic!("unexpected YAML node {other:?}"),
    }
}

/// The documents of a (multi-document) YAML text, empty ones left out.
fn yaml_docs(text: &str) -> Vec<Value> {
    use saphyr::{LoadableYamlNode, Yaml};
    Yaml::load_from_str(text)
        .unwrap_or_else(|e| panic!("not YAML: {e}\n{text}"))
        .iter()
        .map(to_json)
        .filter(|d| !d.is_null())
        .collect()
}

fn str_at<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no string at {pointer} in {v:#}"))
}

fn kinds(docs: &[Value]) -> BTreeSet<String> {
    docs.iter()
        .map(|d| str_at(d, "/kind").to_string())
        .collect()
}

fn the<'a>(docs: &'a [Value], kind: &str) -> &'a Value {
    let found: Vec<&Value> = docs.iter().filter(|d| d["kind"] == kind).collect();
    assert_eq!(found.len(), 1, "expected one {kind}, found {}", found.len());
    found[0]
}

/// Every string value under a key ending in `suffix` (`-env`, `-file`), anywhere in `v`.
fn names_under(v: &Value, suffix: &str, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                match v {
                    Value::String(s) if k.ends_with(suffix) => {
                        out.insert(s.clone());
                    }
                    _ => names_under(v, suffix, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| names_under(v, suffix, out)),
        _ => {}
    }
}

/// The plain manifests, as `kustomization.yaml` lists them (which must be every `.yaml`
/// file beside it).
fn plain_manifests() -> Vec<(String, String)> {
    let dir = repo_root().join("config/kubernetes");
    let kustomization =
        yaml_docs(&std::fs::read_to_string(dir.join("kustomization.yaml")).unwrap());
    let listed: Vec<String> = kustomization[0]["resources"]
        .as_array()
        .expect("kustomization.yaml lists resources")
        .iter()
        .map(|r| r.as_str().unwrap().to_string())
        .collect();
    let on_disk: BTreeSet<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yaml") && n != "kustomization.yaml")
        .collect();
    assert_eq!(
        listed.iter().cloned().collect::<BTreeSet<_>>(),
        on_disk,
        "kustomization.yaml must list exactly the manifests in config/kubernetes"
    );
    listed
        .into_iter()
        .map(|name| {
            let text = std::fs::read_to_string(dir.join(&name)).unwrap();
            (name, text)
        })
        .collect()
}

fn plain_docs() -> Vec<Value> {
    plain_manifests()
        .iter()
        .flat_map(|(_, text)| yaml_docs(text))
        .collect()
}

/// Chart.yaml's appVersion and kubeVersion.
fn chart_meta() -> Value {
    yaml_docs(&std::fs::read_to_string(chart().join("Chart.yaml")).unwrap()).remove(0)
}

// ------------------------------------------------------------------------- invariants ---

/// What one render is expected to be, from the values it was made with.
struct Expect {
    serve: bool,
    shards: u64,
    schedule: &'static str,
    time_zone: &'static str,
    /// The bot's own schedule in the operator config (the user's, if they set one).
    bot_schedule: &'static str,
    /// The Secret the pods read (made by the chart unless `existing_secret`).
    secret: &'static str,
    existing_secret: bool,
    /// `secret.mountPath`, if the Secret is mounted as files.
    secret_mount: Option<String>,
    webhook: bool,
    service_monitor: bool,
}

impl Default for Expect {
    fn default() -> Self {
        Expect {
            serve: false,
            shards: 1,
            schedule: "0 * * * *",
            time_zone: "Etc/UTC",
            bot_schedule: "0 * * * *",
            secret: "updatebot",
            existing_secret: false,
            secret_mount: None,
            webhook: false,
            service_monitor: false,
        }
    }
}

/// The operator config in the ConfigMap, parsed.
fn operator_config(docs: &[Value]) -> (String, Value) {
    let text = str_at(the(docs, "ConfigMap"), "/data/config.yml").to_string();
    let parsed = yaml_docs(&text).remove(0);
    (text, parsed)
}

fn env_names(container: &Value) -> BTreeMap<String, Value> {
    container["env"]
        .as_array()
        .map(|env| {
            env.iter()
                .map(|e| (str_at(e, "/name").to_string(), e.clone()))
                .collect()
        })
        .unwrap_or_default()
}

/// Everything the issue and the README promise about the objects of one render.
fn check_objects(docs: &[Value], expect: &Expect) {
    let mut want: BTreeSet<String> = ["ServiceAccount", "ConfigMap"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    if !expect.existing_secret {
        want.insert("Secret".into());
    }
    if expect.serve {
        want.extend(["Deployment".into(), "Service".into()]);
        if expect.service_monitor {
            want.insert("ServiceMonitor".into());
        }
    } else {
        want.insert("CronJob".into());
    }
    assert_eq!(kinds(docs), want, "the kinds rendered");

    // No Kubernetes API token anywhere: the bot never talks to the cluster.
    let account = the(docs, "ServiceAccount");
    assert_eq!(account["automountServiceAccountToken"], json!(false));
    let account_name = str_at(account, "/metadata/name");

    let (pod_meta, pod, args) = if expect.serve {
        let deployment = the(docs, "Deployment");
        assert_eq!(deployment["spec"]["replicas"], json!(1));
        assert_eq!(
            deployment["spec"]["strategy"],
            json!({"type": "Recreate"}),
            "never two serve pods at once"
        );
        let template = &deployment["spec"]["template"];
        let selector = deployment["spec"]["selector"]["matchLabels"]
            .as_object()
            .unwrap();
        for (k, v) in selector {
            assert_eq!(&template["metadata"]["labels"][k], v, "selector label {k}");
        }
        (
            &template["metadata"],
            &template["spec"],
            vec![
                "serve",
                "--config",
                CONFIG_FILE,
                "--listen",
                "0.0.0.0:8080",
                "--log-format",
                "json",
            ],
        )
    } else {
        let cron = the(docs, "CronJob");
        let spec = &cron["spec"];
        assert_eq!(spec["concurrencyPolicy"], "Forbid");
        assert_eq!(spec["schedule"], expect.schedule);
        assert_eq!(spec["timeZone"], expect.time_zone);
        assert!(spec["startingDeadlineSeconds"].as_u64().unwrap() > 0);
        assert!(spec["successfulJobsHistoryLimit"].is_u64());
        assert!(spec["failedJobsHistoryLimit"].is_u64());
        let job = &spec["jobTemplate"]["spec"];
        if expect.shards > 1 {
            assert_eq!(job["completionMode"], "Indexed");
            assert_eq!(job["completions"], json!(expect.shards));
            assert_eq!(job["parallelism"], json!(expect.shards));
            // One failed share must not stop the others.
            assert!(job["backoffLimitPerIndex"].is_u64(), "{job:#}");
            assert!(job.get("backoffLimit").is_none(), "{job:#}");
        } else {
            assert!(job.get("completionMode").is_none(), "{job:#}");
            assert!(job.get("completions").is_none(), "{job:#}");
        }
        let rules = job["podFailurePolicy"]["rules"].as_array().unwrap();
        let fail = if expect.shards > 1 {
            "FailIndex"
        } else {
            "FailJob"
        };
        assert_eq!(rules[0]["action"], fail);
        assert_eq!(rules[0]["onExitCodes"]["values"], json!([1, 2]));
        let template = &job["template"];
        assert_eq!(template["spec"]["restartPolicy"], "Never");
        (
            &template["metadata"],
            &template["spec"],
            vec![
                "run",
                "--config",
                CONFIG_FILE,
                "--log-format",
                "json",
                "--report",
                "/tmp/report.json",
            ],
        )
    };

    // The pod: its account without a token, non-root, seccomp, scratch space, config.
    assert_eq!(pod["serviceAccountName"], account_name);
    assert_eq!(pod["automountServiceAccountToken"], json!(false));
    let pod_security = &pod["securityContext"];
    assert_eq!(pod_security["runAsNonRoot"], json!(true));
    assert_ne!(pod_security["runAsUser"], json!(0));
    assert_eq!(pod_security["seccompProfile"]["type"], "RuntimeDefault");
    let containers = pod["containers"].as_array().unwrap();
    assert_eq!(containers.len(), 1);
    let container = &containers[0];
    assert_eq!(container["name"], "updatebot");
    assert!(
        container.get("command").is_none(),
        "the image's ENTRYPOINT is the binary"
    );
    assert_eq!(container["args"], json!(args));
    let security = &container["securityContext"];
    assert_eq!(security["readOnlyRootFilesystem"], json!(true));
    assert_eq!(security["allowPrivilegeEscalation"], json!(false));
    assert_eq!(security["capabilities"]["drop"], json!(["ALL"]));
    for key in ["/requests/cpu", "/requests/memory", "/limits/memory"] {
        assert!(
            container["resources"].pointer(key).is_some(),
            "resources{key} is set"
        );
    }
    let chart = chart_meta();
    let image = str_at(container, "/image");
    assert!(
        image.ends_with(&format!(":{}", str_at(&chart, "/appVersion"))),
        "the image is the chart's appVersion: {image}"
    );

    let volumes: BTreeMap<String, Value> = pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (str_at(v, "/name").to_string(), v.clone()))
        .collect();
    let mounts: BTreeMap<String, Value> = container["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (str_at(m, "/mountPath").to_string(), m.clone()))
        .collect();
    let volume_at = |path: &str| -> &Value {
        let mount = mounts
            .get(path)
            .unwrap_or_else(|| panic!("nothing mounted at {path}: {mounts:#?}"));
        &volumes[str_at(mount, "/name")]
    };
    let config_map = the(docs, "ConfigMap");
    assert_eq!(
        volume_at(CONFIG_DIR)["configMap"]["name"],
        config_map["metadata"]["name"]
    );
    assert_eq!(mounts[CONFIG_DIR]["readOnly"], json!(true));
    assert!(config_map["data"]["config.yml"].is_string());
    assert!(
        volume_at("/tmp")["emptyDir"].is_object(),
        "an emptyDir at /tmp"
    );

    // Secrets reach the bot as environment variables named like the Secret's keys (and as
    // files with secret.mountPath); the operator config names exactly those.
    let env = env_names(container);
    let env_from: Vec<&str> = container["envFrom"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| str_at(e, "/secretRef/name"))
        .collect();
    assert_eq!(env_from, [expect.secret]);
    let (_, config) = operator_config(docs);
    let mut wanted_env = BTreeSet::new();
    names_under(&config, "-env", &mut wanted_env);
    let gitlab = config["gitlab"].as_object().expect("a gitlab section");
    assert_eq!(
        ["token-env", "token-file"]
            .iter()
            .filter(|k| gitlab.contains_key(**k))
            .count(),
        1,
        "the GitLab token from exactly one place: {gitlab:?}"
    );
    let mut secret_keys = None;
    if !expect.existing_secret {
        let secret = the(docs, "Secret");
        assert_eq!(secret["metadata"]["name"], expect.secret);
        // `stringData` as the chart writes it, `data` as kustomize's secretGenerator does.
        let keys: BTreeSet<String> = ["stringData", "data"]
            .iter()
            .filter_map(|field| secret[*field].as_object())
            .flat_map(|map| map.keys().cloned())
            .collect();
        assert!(
            wanted_env.is_subset(&keys),
            "the operator config reads {wanted_env:?}, the Secret has {keys:?}"
        );
        secret_keys = Some(keys);
    }
    let mut wanted_files = BTreeSet::new();
    names_under(&config, "-file", &mut wanted_files);
    match &expect.secret_mount {
        Some(path) => {
            assert_eq!(volume_at(path)["secret"]["secretName"], expect.secret);
            assert_eq!(mounts[path.as_str()]["readOnly"], json!(true));
            for file in &wanted_files {
                let key = file
                    .strip_prefix(&format!("{path}/"))
                    .unwrap_or_else(|| panic!("{file} is not under the Secret's mount {path}"));
                if let Some(keys) = &secret_keys {
                    assert!(keys.contains(key), "{file}: the Secret has {keys:?}");
                }
            }
        }
        None => {
            assert!(!volumes.values().any(|v| v.get("secret").is_some()));
            assert!(
                wanted_files.is_empty(),
                "{wanted_files:?} but nothing mounted"
            );
        }
    }
    // The shard count: Kubernetes sets only JOB_COMPLETION_INDEX.
    if !expect.serve && expect.shards > 1 {
        let completions = env.get("JOB_COMPLETIONS").unwrap_or_else(|| {
            panic!("no JOB_COMPLETIONS (Kubernetes sets only JOB_COMPLETION_INDEX): {env:#?}")
        });
        assert_eq!(completions["value"], json!(expect.shards.to_string()));
    } else {
        assert!(!env.contains_key("JOB_COMPLETIONS"));
    }
    assert_eq!(env["HOME"]["value"], "/tmp", "HOME must be writable");

    // The bot's own schedule is the one it runs on (unless the user set another).
    assert_eq!(config["bot"]["schedule"], expect.bot_schedule);
    assert_eq!(config["bot"]["timezone"], expect.time_zone);

    if expect.serve {
        let port = container["ports"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "http")
            .expect("a port named http");
        assert_eq!(port["containerPort"], json!(8080));
        assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/healthz");
        assert_eq!(container["livenessProbe"]["httpGet"]["port"], "http");
        assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
        assert_eq!(container["readinessProbe"]["httpGet"]["port"], "http");
        let service = the(docs, "Service");
        let service_port = &service["spec"]["ports"][0];
        assert_eq!(service_port["name"], "http");
        assert_eq!(service_port["port"], json!(8080));
        assert_eq!(service_port["targetPort"], "http");
        for (k, v) in service["spec"]["selector"].as_object().unwrap() {
            assert_eq!(
                &pod_meta["labels"][k], v,
                "the Service selects the pod ({k})"
            );
        }
        if expect.webhook {
            let from = &env["UPDATEBOT_WEBHOOK_SECRET"]["valueFrom"]["secretKeyRef"];
            assert_eq!(from["name"], expect.secret);
            assert_eq!(from["key"], "UPDATEBOT_WEBHOOK_SECRET");
            if !expect.existing_secret {
                let secret = the(docs, "Secret");
                assert!(secret["stringData"]["UPDATEBOT_WEBHOOK_SECRET"].is_string());
            }
        } else {
            assert!(!env.contains_key("UPDATEBOT_WEBHOOK_SECRET"));
        }
        if expect.service_monitor {
            // No schema for this CRD in the validator: its essentials by hand.
            let monitor = the(docs, "ServiceMonitor");
            assert_eq!(monitor["apiVersion"], "monitoring.coreos.com/v1");
            let endpoint = &monitor["spec"]["endpoints"][0];
            assert_eq!(endpoint["port"], "http");
            assert_eq!(endpoint["path"], "/metrics");
            for (k, v) in monitor["spec"]["selector"]["matchLabels"]
                .as_object()
                .unwrap()
            {
                assert_eq!(
                    &service["metadata"]["labels"][k], v,
                    "the ServiceMonitor selects the Service ({k})"
                );
            }
        }
    }
}

/// `updatebot validate --operator` on the ConfigMap's config, with every `*-env` it names
/// set (and `*-file` it names written under `files_root`): valid. Without one of the
/// variables: a problem naming it.
fn validate_operator_config(docs: &[Value], files_root: Option<&Path>) {
    let (text, config) = operator_config(docs);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config.yml");
    std::fs::write(&file, &text).unwrap();
    let mut env = BTreeSet::new();
    names_under(&config, "-env", &mut env);
    let mut files = BTreeSet::new();
    names_under(&config, "-file", &mut files);
    for f in &files {
        let root = files_root.expect("a directory for the mounted secret files");
        assert!(Path::new(f).starts_with(root), "{f}");
        std::fs::write(f, "s3cret\n").unwrap();
    }
    let validate = |skip: Option<&str>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_updatebot"));
        cmd.args(["validate", "--operator", file.to_str().unwrap()]);
        for name in &env {
            if Some(name.as_str()) == skip {
                cmd.env_remove(name);
            } else {
                cmd.env(name, "s3cret");
            }
        }
        cmd.output().unwrap()
    };
    let output = validate(None);
    assert_eq!(
        output.status.code(),
        Some(0),
        "the operator config of the ConfigMap:\n{text}\n{}{}",
        stdout(&output),
        stderr(&output)
    );
    // Without one of its secrets the config is not valid, and the problem names it.
    let missing = match env.iter().next() {
        Some(name) => validate(Some(name)),
        None => {
            let file = files.iter().next().expect("the config reads some secret");
            std::fs::remove_file(file).unwrap();
            validate(None)
        }
    };
    let name = env.iter().chain(&files).next().unwrap();
    assert_eq!(missing.status.code(), Some(1), "{}", stdout(&missing));
    assert!(
        stdout(&missing).contains(name.as_str()),
        "{}",
        stdout(&missing)
    );
}

// ------------------------------------------------------------------ plain manifests ---

#[test]
fn plain_manifests_hold_what_the_issue_asks() {
    let docs = plain_docs();
    check_objects(&docs, &Expect::default());
    assert_eq!(
        str_at(&chart_meta(), "/appVersion"),
        env!("CARGO_PKG_VERSION"),
        "Chart.yaml appVersion is the crate's version"
    );
    validate_operator_config(&docs, None);
}

/// One way to break the plain manifests.
type Breakage = Box<dyn Fn(&mut [Value])>;

#[test]
fn the_invariant_checks_catch_a_broken_manifest() {
    // The checks above must be able to fail: break one thing at a time.
    let docs = plain_docs();
    let cases: Vec<(&str, Breakage)> = vec![
        (
            "concurrencyPolicy",
            Box::new(|d: &mut [Value]| {
                let cron = d.iter_mut().find(|o| o["kind"] == "CronJob").unwrap();
                cron["spec"]["concurrencyPolicy"] = json!("Allow");
            }),
        ),
        (
            "readOnlyRootFilesystem",
            Box::new(|d: &mut [Value]| {
                let cron = d.iter_mut().find(|o| o["kind"] == "CronJob").unwrap();
                cron.pointer_mut("/spec/jobTemplate/spec/template/spec/containers/0/securityContext/readOnlyRootFilesystem")
                    .map(|v| *v = json!(false))
                    .unwrap();
            }),
        ),
        (
            "token env",
            Box::new(|d: &mut [Value]| {
                let secret = d.iter_mut().find(|o| o["kind"] == "Secret").unwrap();
                let data = secret["stringData"].as_object_mut().unwrap();
                let value = data.remove("GITLAB_TOKEN").unwrap();
                data.insert("GITLAB_TOKN".into(), value);
            }),
        ),
        (
            "bot schedule",
            Box::new(|d: &mut [Value]| {
                let map = d.iter_mut().find(|o| o["kind"] == "ConfigMap").unwrap();
                let config = map["data"]["config.yml"].as_str().unwrap();
                assert!(config.contains("schedule: 0 * * * *"), "{config}");
                map["data"]["config.yml"] =
                    json!(config.replacen("schedule: 0 * * * *", "schedule: 30 * * * *", 1));
            }),
        ),
        (
            "config mount",
            Box::new(|d: &mut [Value]| {
                let cron = d.iter_mut().find(|o| o["kind"] == "CronJob").unwrap();
                cron.pointer_mut(
                    "/spec/jobTemplate/spec/template/spec/containers/0/volumeMounts/0/mountPath",
                )
                .map(|v| *v = json!("/etc/bot"))
                .unwrap();
            }),
        ),
    ];
    for (what, breakage) in cases {
        let mut broken = docs.clone();
        breakage(&mut broken);
        let caught = std::panic::catch_unwind(|| check_objects(&broken, &Expect::default()));
        assert!(caught.is_err(), "a broken {what} went unnoticed");
    }
}

// -------------------------------------------------------------------------- the chart ---

#[test]
fn the_chart_lints_and_renders_exactly_the_plain_manifests() {
    let Some(tools) = tools() else { return };
    let chart = chart();
    let lint = run(&tools.helm, &["lint", "--strict", chart.to_str().unwrap()]);
    ok(&lint, "helm lint --strict");

    // `scripts/deploy-env.sh render` into a fresh folder gives what config/kubernetes holds.
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(repo_root().join("scripts/deploy-env.sh"))
        .args(["render", dir.path().to_str().unwrap()])
        .env(
            "UPDATEBOT_DEPLOY_ENV",
            tools.helm.parent().unwrap().parent().unwrap(),
        )
        .output()
        .unwrap();
    ok(&output, "scripts/deploy-env.sh render");
    let rendered: BTreeSet<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let plain = plain_manifests();
    assert_eq!(
        rendered,
        plain
            .iter()
            .map(|(n, _)| n.clone())
            .collect::<BTreeSet<_>>(),
        "config/kubernetes is stale: run scripts/deploy-env.sh render"
    );
    for (name, text) in &plain {
        let fresh = std::fs::read_to_string(dir.path().join(name)).unwrap();
        if &fresh != text {
            let diff = similar::TextDiff::from_lines(text.as_str(), fresh.as_str())
                .unified_diff()
                .header(&format!("config/kubernetes/{name}"), "helm template")
                .to_string();
            panic!("config/kubernetes/{name} is stale: run scripts/deploy-env.sh render\n{diff}");
        }
    }

    // kubectl apply -k sees the same objects as helm install.
    let kustomized = ok(
        &run(
            &tools.kubectl,
            &[
                "kustomize",
                repo_root().join("config/kubernetes").to_str().unwrap(),
            ],
        ),
        "kubectl kustomize config/kubernetes",
    );
    let by_name = |docs: Vec<Value>| -> BTreeMap<(String, String), Value> {
        docs.into_iter()
            .map(|d| {
                (
                    (
                        str_at(&d, "/kind").to_string(),
                        str_at(&d, "/metadata/name").to_string(),
                    ),
                    d,
                )
            })
            .collect()
    };
    let helm = helm_template(&tools, &json!({}), &[]).unwrap();
    assert_eq!(by_name(yaml_docs(&kustomized)), by_name(yaml_docs(&helm)));

    assert!(
        schema_validate(&tools, &kustomized, "config/kubernetes").is_empty(),
        "every plain manifest has a schema"
    );
}

#[test]
fn every_value_set_renders_valid_objects() {
    let Some(tools) = tools() else { return };
    let files = tempfile::tempdir().unwrap();
    let mount = files.path().join("secrets");
    std::fs::create_dir_all(&mount).unwrap();
    let mount_path = mount.to_str().unwrap().to_string();
    let cases: Vec<(&str, Value, Expect)> = vec![
        ("defaults", json!({}), Expect::default()),
        (
            "four shards",
            json!({"shards": 4, "schedule": "15 6 * * 1-5", "timeZone": "Europe/Berlin"}),
            Expect {
                shards: 4,
                schedule: "15 6 * * 1-5",
                bot_schedule: "15 6 * * 1-5",
                time_zone: "Europe/Berlin",
                ..Expect::default()
            },
        ),
        (
            "serve with webhook, ServiceMonitor and secret files",
            json!({
                "serve": {"enabled": true, "webhook": {"enabled": true},
                          "serviceMonitor": {"enabled": true}},
                "secret": {"env": {"GITLAB_TOKEN": "t", "UPDATEBOT_WEBHOOK_SECRET": "w",
                                   "NPM_TOKEN": "n"},
                           "mountPath": mount_path},
                "config": {
                    "gitlab": {"token-env": null,
                               "token-file": format!("{mount_path}/GITLAB_TOKEN")},
                    "fleet": {"groups": ["research"]},
                    "registries": {"npm-internal": {
                        "type": "npm-registry", "url": "https://npm.example.com/",
                        "token-file": format!("{mount_path}/NPM_TOKEN")}},
                },
            }),
            Expect {
                serve: true,
                webhook: true,
                service_monitor: true,
                secret_mount: Some(mount_path.clone()),
                ..Expect::default()
            },
        ),
        (
            "existing Secret, the user's own bot schedule, a registry password",
            json!({
                "secret": {"existingSecret": "gitlab-bot"},
                "config": {
                    "bot": {"schedule": "30 2 * * *"},
                    "registries": {"pypi-internal": {
                        "type": "python-index", "url": "https://pypi.example.com/simple",
                        "username": "__token__", "password-env": "PYPI_TOKEN"}},
                },
            }),
            Expect {
                secret: "gitlab-bot",
                existing_secret: true,
                bot_schedule: "30 2 * * *",
                ..Expect::default()
            },
        ),
    ];
    for (name, values, expect) in &cases {
        let text = helm_template(&tools, values, &[])
            .unwrap_or_else(|e| panic!("{name}: helm template failed: {e}"));
        let docs = yaml_docs(&text);
        check_objects(&docs, expect);
        let unknown = schema_validate(&tools, &text, name);
        let expected_unknown: BTreeSet<String> = if expect.service_monitor {
            ["ServiceMonitor".to_string()].into()
        } else {
            BTreeSet::new()
        };
        assert_eq!(unknown, expected_unknown, "{name}: kinds without a schema");
        validate_operator_config(&docs, Some(&mount));

        // The same values lint, and render for the oldest supported Kubernetes.
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("values.json");
        std::fs::write(&file, values.to_string()).unwrap();
        let chart = chart();
        ok(
            &run(
                &tools.helm,
                &[
                    "lint",
                    "--strict",
                    chart.to_str().unwrap(),
                    "-f",
                    file.to_str().unwrap(),
                ],
            ),
            &format!("helm lint ({name})"),
        );
        let min = str_at(&chart_meta(), "/kubeVersion")
            .trim_start_matches(">=")
            .trim_end_matches("-0")
            .to_string();
        assert_eq!(min, KUBE_VERSIONS[0], "the oldest version validated");
        helm_template(&tools, values, &["--kube-version", &min])
            .unwrap_or_else(|e| panic!("{name} on Kubernetes {min}: {e}"));
    }
}

#[test]
fn the_chart_refuses_values_that_cannot_work() {
    let Some(tools) = tools() else { return };
    let cases = [
        (json!({"shards": 0}), "shards"),
        (json!({"shards": "3"}), "shards"),
        (
            json!({"serve": {"enabled": true}, "shards": 2}),
            "serve mode runs one pod",
        ),
        (
            json!({"serve": {"enabled": true, "webhook": {"enabled": true}}}),
            "UPDATEBOT_WEBHOOK_SECRET",
        ),
        (json!({"schedule": "0 3 * *"}), "schedule"),
    ];
    for (values, message) in cases {
        match helm_template(&tools, &values, &[]) {
            Ok(_) => panic!("{values} rendered"),
            Err(e) => assert!(e.contains(message), "{values}: {e}"),
        }
    }
    let too_old = helm_template(&tools, &json!({}), &["--kube-version", "1.28.0"]);
    assert!(too_old.unwrap_err().contains("kubeVersion"));
}

#[test]
fn the_schema_validator_rejects_a_broken_object() {
    let Some(tools) = tools() else { return };
    let plain = plain_manifests();
    let (_, cronjob) = plain.iter().find(|(n, _)| n == "cronjob.yaml").unwrap();
    for (from, to) in [
        (
            "concurrencyPolicy: Forbid",
            "concurrencyPolicy: Forbid\n  colour: red",
        ),
        (
            "startingDeadlineSeconds: 600",
            "startingDeadlineSeconds: soon",
        ),
    ] {
        assert!(cronjob.contains(from));
        let broken = cronjob.replacen(from, to, 1);
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("cronjob.yaml");
        std::fs::write(&file, &broken).unwrap();
        let output = run(
            &tools.validate,
            &["--strict", "-k", KUBE_VERSIONS[1], file.to_str().unwrap()],
        );
        assert!(!output.status.success(), "{to} was accepted");
    }
}

/// The README's overlay: the operator config and the token replace the defaults, and
/// every reference to them still holds.
#[test]
fn a_kustomize_overlay_replaces_config_and_secret() {
    let Some(tools) = tools() else { return };
    let dir = tempfile::tempdir().unwrap();
    // kustomize wants a relative path to the base.
    let ups = dir.path().components().count() - 1;
    let base = format!(
        "{}{}",
        "../".repeat(ups),
        repo_root()
            .join("config/kubernetes")
            .to_str()
            .unwrap()
            .trim_start_matches('/')
    );
    std::fs::write(
        dir.path().join("kustomization.yaml"),
        format!(
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n\
             namespace: updatebot\nresources:\n  - {base}\n\
             configMapGenerator:\n  - name: updatebot\n    behavior: replace\n    files: [config.yml]\n\
             secretGenerator:\n  - name: updatebot\n    behavior: replace\n    envs: [updatebot.env]\n"
        ),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("config.yml"),
        "gitlab:\n  url: https://gitlab.example.org\n  token-env: GITLAB_TOKEN\n\
         fleet:\n  projects: [team/app]\nbot:\n  schedule: \"0 * * * *\"\n  timezone: Etc/UTC\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("updatebot.env"),
        "GITLAB_TOKEN=glpat-example\n",
    )
    .unwrap();
    let out = ok(
        &run(&tools.kubectl, &["kustomize", dir.path().to_str().unwrap()]),
        "kubectl kustomize (overlay)",
    );
    let docs = yaml_docs(&out);
    for d in &docs {
        assert_eq!(d["metadata"]["namespace"], "updatebot", "{d:#}");
    }
    check_objects(&docs, &Expect::default());
    let (_, config) = operator_config(&docs);
    assert_eq!(config["fleet"]["projects"], json!(["team/app"]));
    assert!(the(&docs, "Secret")["data"]["GITLAB_TOKEN"].is_string());
    validate_operator_config(&docs, None);
}

// ------------------------------------------------------------- images and CI snippet ---

/// The binary's name: Cargo.toml's package name (no `[[bin]]` renames it).
fn binary_name() -> String {
    let manifest = std::fs::read_to_string(repo_root().join("Cargo.toml")).unwrap();
    assert!(
        !manifest.contains("[[bin]]"),
        "a [[bin]] section: check its name here"
    );
    assert!(
        Path::new(env!("CARGO_BIN_EXE_updatebot")).is_file(),
        "the binary target is named updatebot"
    );
    env!("CARGO_PKG_NAME").to_string()
}

/// `updatebot extract` of the given repository files (copied at the same paths into a
/// scratch folder): (file, image, tag, skip reason).
fn extracted_images(paths: &[&str]) -> Vec<(String, String, String, Value)> {
    let dir = tempfile::tempdir().unwrap();
    for path in paths {
        let to = dir.path().join(path);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(repo_root().join(path), to).unwrap();
    }
    let output = updatebot(&["extract", dir.path().to_str().unwrap(), "--format", "json"]);
    let report: Value = serde_json::from_str(&ok(&output, "updatebot extract")).unwrap();
    let mut out = Vec::new();
    for manifest in report["manifests"].as_array().unwrap() {
        assert!(manifest["error"].is_null(), "{manifest:#}");
        for dep in manifest["dependencies"].as_array().unwrap() {
            out.push((
                str_at(manifest, "/path").to_string(),
                str_at(dep, "/name").to_string(),
                dep["current_value"].as_str().unwrap_or("").to_string(),
                dep["skip_reason"].clone(),
            ));
        }
    }
    out
}

#[test]
fn the_containerfiles_build_the_binary_from_pinned_images() {
    let bin = binary_name();
    let images = extracted_images(&["Containerfile", "Containerfile.full"]);
    for (file, image, tag, skip) in &images {
        assert!(
            skip.is_null() && !tag.is_empty() && !tag.starts_with("sha256:"),
            "{file}: {image}:{tag} is not pinned to a tag ({skip})"
        );
    }
    let per_file = |f: &str| -> BTreeSet<String> {
        images
            .iter()
            .filter(|(file, ..)| file == f)
            .map(|(_, image, ..)| image.clone())
            .collect()
    };
    assert_eq!(
        per_file("Containerfile"),
        ["docker.io/library/rust".to_string()].into(),
        "the slim image: a Rust build stage and an empty base"
    );
    assert_eq!(
        per_file("Containerfile.full"),
        [
            "docker.io/library/node",
            "docker.io/library/python",
            "docker.io/library/rust"
        ]
        .map(String::from)
        .into()
    );
    // The Rust toolchain of the build stage is the one Cargo.toml asks for.
    let manifest = std::fs::read_to_string(repo_root().join("Cargo.toml")).unwrap();
    let rust_version = manifest
        .lines()
        .find_map(|l| l.strip_prefix("rust-version = "))
        .unwrap()
        .trim_matches('"');
    for (_, image, tag, _) in &images {
        if image.ends_with("/rust") {
            assert!(
                tag.starts_with(rust_version),
                "{image}:{tag} vs {rust_version}"
            );
        }
    }

    for file in ["Containerfile", "Containerfile.full"] {
        let text = std::fs::read_to_string(repo_root().join(file)).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let last_from = lines.iter().rposition(|l| l.starts_with("FROM ")).unwrap();
        let final_stage = &lines[last_from..];
        assert_eq!(
            final_stage
                .iter()
                .filter(|l| l.starts_with("ENTRYPOINT"))
                .collect::<Vec<_>>(),
            [&format!("ENTRYPOINT [\"{bin}\"]").as_str()],
            "{file}: the final stage's ENTRYPOINT is the binary"
        );
        let user = final_stage
            .iter()
            .find_map(|l| l.strip_prefix("USER "))
            .unwrap_or_else(|| panic!("{file}: no USER in the final stage"));
        let uid = user.split(':').next().unwrap();
        assert!(
            uid.parse::<u32>().is_ok_and(|u| u != 0),
            "{file}: USER {user} must be a numeric non-root user (runAsNonRoot checks it)"
        );
        assert_eq!(uid, "10001", "{file}: the chart's runAsUser is 10001");
        for needle in [
            format!("cargo build --release --locked --bin {bin} "),
            format!("/release/{bin}\""),
            "target-feature=+crt-static".to_string(),
            format!("/usr/local/bin/{bin}"),
        ] {
            assert!(text.contains(&needle), "{file} lacks `{needle}`");
        }
    }
    let full = std::fs::read_to_string(repo_root().join("Containerfile.full")).unwrap();
    for tool in [
        "uv==",
        "poetry==",
        "pip-tools==",
        "pipenv==",
        "npm-cli.js",
        "yarn@1.",
        "@yarnpkg/cli-dist@",
        "/usr/local/bin/yarn-berry",
        "pnpm@",
    ] {
        assert!(full.contains(tool), "Containerfile.full lacks {tool}");
    }
    // The yarn and pnpm versions are the ones the npm tests use as oracles.
    let npm_env = std::fs::read_to_string(repo_root().join("scripts/npm-env.sh")).unwrap();
    for var in ["YARN_SPEC=", "YARN_BERRY_SPEC=", "PNPM_SPEC="] {
        let spec = npm_env
            .lines()
            .find_map(|l| l.strip_prefix(var))
            .unwrap_or_else(|| panic!("scripts/npm-env.sh sets no {var}"))
            .trim_matches('"');
        assert!(
            full.contains(spec),
            "Containerfile.full lacks {spec} (scripts/npm-env.sh)"
        );
    }
    // The build context leaves the (huge) build output and caches out.
    let ignore = std::fs::read_to_string(repo_root().join(".dockerignore")).unwrap();
    for entry in ["target/", ".cache/", ".git/"] {
        assert!(
            ignore.lines().any(|l| l == entry),
            ".dockerignore lacks {entry}"
        );
    }
    // The pod's user is the image's.
    let docs = plain_docs();
    let cron = the(&docs, "CronJob");
    assert_eq!(
        cron.pointer("/spec/jobTemplate/spec/template/spec/securityContext/runAsUser"),
        Some(&json!(10001))
    );
}

#[test]
fn the_ci_snippet_builds_both_images_without_docker() {
    let text =
        std::fs::read_to_string(repo_root().join("config/gitlab-ci/build-image.yml")).unwrap();
    let ci = yaml_docs(&text).remove(0);
    let template = &ci[".updatebot-build-image"];
    assert_eq!(template["rules"], json!([{"if": "$CI_COMMIT_TAG"}]));
    assert!(template.get("services").is_none(), "no docker-in-docker");
    assert!(!text.contains("docker:") && !text.contains("dind"));
    let script: Vec<&str> = template["script"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    let build = script
        .iter()
        .find(|s| s.starts_with("buildah build"))
        .unwrap();
    for tag in ["\"$IMAGE:$CI_COMMIT_TAG\"", "\"$IMAGE:latest\""] {
        assert!(build.contains(&format!("--tag {tag}")), "{build}");
        assert!(script.contains(&format!("buildah push {tag}").as_str()));
    }
    assert!(build.contains("--file \"$CONTAINERFILE\""));
    let mut built = BTreeMap::new();
    for job in ["build-image", "build-image-full"] {
        assert_eq!(ci[job]["extends"], ".updatebot-build-image");
        let file = str_at(&ci[job], "/variables/CONTAINERFILE");
        assert!(repo_root().join(file).is_file(), "{job}: no {file}");
        built.insert(
            file.to_string(),
            str_at(&ci[job], "/variables/IMAGE").to_string(),
        );
    }
    assert_eq!(
        built,
        BTreeMap::from([
            (
                "Containerfile".to_string(),
                "$CI_REGISTRY_IMAGE".to_string()
            ),
            (
                "Containerfile.full".to_string(),
                "$CI_REGISTRY_IMAGE/full".to_string()
            ),
        ])
    );
    let images = extracted_images(&["config/gitlab-ci/build-image.yml"]);
    assert_eq!(images.len(), 1, "{images:?}");
    let (_, image, tag, skip) = &images[0];
    assert!(
        image.ends_with("buildah/stable") && skip.is_null(),
        "{image}:{tag} {skip}"
    );
}

// ------------------------------------------------------------- serve, for real ---

/// The process environment kubelet would give the container: its `envFrom` Secret's keys,
/// then its `env` (values and `secretKeyRef`s, which win over `envFrom` as in Kubernetes),
/// every secret value read from the rendered Secret.
fn container_env(container: &Value, docs: &[Value]) -> Vec<(String, String)> {
    let secret = the(docs, "Secret");
    let secret_value = |name: &str, key: &str| -> Option<String> {
        assert_eq!(str_at(secret, "/metadata/name"), name, "another Secret");
        secret["stringData"][key].as_str().map(str::to_string)
    };
    let mut out: Vec<(String, String)> = Vec::new();
    for from in container["envFrom"].as_array().unwrap() {
        let name = str_at(from, "/secretRef/name");
        for key in secret["stringData"].as_object().unwrap().keys() {
            out.push((key.clone(), secret_value(name, key).unwrap()));
        }
    }
    for e in container["env"].as_array().unwrap() {
        let name = str_at(e, "/name").to_string();
        let value = match e.get("value") {
            Some(v) => v.as_str().unwrap().to_string(),
            None => {
                let from = &e["valueFrom"]["secretKeyRef"];
                secret_value(str_at(from, "/name"), str_at(from, "/key"))
                    .unwrap_or_else(|| panic!("{name}: no such key in the Secret"))
            }
        };
        out.retain(|(n, _)| n != &name);
        out.push((name, value));
    }
    out
}

/// The serve Deployment's container, started as Kubernetes would start it (its args, the
/// environment from its `env`/`envFrom` and the rendered Secret, the ConfigMap's operator
/// config at the mounted path) against the GitLab API fake, on the port its probes name:
/// both probes answer 200 (readiness only once the fleet was listed with the Secret's
/// token), /metrics is Prometheus text, the webhook and /run take the secret the chart wired
/// and refuse another, a run goes through the fleet's project, every log line is a JSON
/// object (run id included), and SIGTERM ends it cleanly well within the grace period.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_serve_deployment_runs_the_real_server() {
    use fake_gitlab::{access, FakeGitlab, ProjectOptions};
    use std::time::{Duration, Instant};

    let Some(tools) = tools() else { return };
    const HOOK_SECRET: &str = "hook-5e1f";
    let gitlab = FakeGitlab::start().await;
    let bot = gitlab.add_user("updatebot");
    // A project whose run needs no registry: a pip entry and an empty requirements file.
    let project = gitlab.add_project_with(ProjectOptions::new("svc", "api").files(&[
        (
            ".updatebot.yml",
            "version: 2\nupdates:\n  - package-ecosystem: pip\n    directory: /\n    schedule: {interval: weekly}\n",
        ),
        ("requirements.txt", "# nothing pinned yet\n"),
    ]));
    gitlab.add_member(project, bot.id, access::DEVELOPER);
    let values = json!({
        "serve": {"enabled": true, "webhook": {"enabled": true}},
        "secret": {"env": {"GITLAB_TOKEN": bot.token, "UPDATEBOT_WEBHOOK_SECRET": HOOK_SECRET}},
        // A yearly schedule: no tick fires during the test; the run comes from POST /run.
        "schedule": "0 0 1 1 *",
        "config": {"gitlab": {"url": gitlab.url()}, "fleet": {"projects": null, "groups": ["svc"]}},
    });
    let docs = yaml_docs(&helm_template(&tools, &values, &[]).unwrap());
    let pod = &the(&docs, "Deployment")["spec"]["template"]["spec"];
    let container = &pod["containers"][0];

    // The config where the ConfigMap is mounted; the listen address on a free loopback port
    // in place of the one the probes reach through the `http` port.
    let mount = container["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "config")
        .expect("the config volume is mounted");
    assert_eq!(str_at(mount, "/mountPath"), CONFIG_DIR);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yml");
    std::fs::write(&config, operator_config(&docs).0).unwrap();
    let http_port = container["ports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "http")
        .and_then(|p| p["containerPort"].as_u64())
        .expect("a port named http");
    for probe in ["livenessProbe", "readinessProbe"] {
        assert_eq!(str_at(container, &format!("/{probe}/httpGet/port")), "http");
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    let chart_listen = format!("0.0.0.0:{http_port}");
    let args: Vec<String> = container["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| match a.as_str().unwrap() {
            CONFIG_FILE => config.to_str().unwrap().to_string(),
            a if a == chart_listen => listen.clone(),
            other => other.to_string(),
        })
        .collect();
    assert!(
        args.contains(&listen),
        "--listen {chart_listen} not in {args:?}"
    );
    assert!(
        args.contains(&config.to_str().unwrap().to_string()),
        "{args:?}"
    );
    assert!(
        container.get("command").is_none(),
        "the image's ENTRYPOINT runs"
    );

    let env = container_env(container, &docs);
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_updatebot"))
        .args(&args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.iter().map(|(k, v)| (k, v)))
        // The container's HOME is its /tmp emptyDir; here, a scratch folder.
        .env("HOME", dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    // Read the log as it comes (a full pipe would block the server).
    let mut stderr_pipe = child.stderr.take().unwrap();
    let log = tokio::spawn(async move {
        let mut text = String::new();
        tokio::io::AsyncReadExt::read_to_string(&mut stderr_pipe, &mut text)
            .await
            .unwrap();
        text
    });

    let client = reqwest::Client::new();
    let url = |path: &str| format!("http://{listen}{path}");
    let probe = |name: &str| str_at(container, &format!("/{name}/httpGet/path")).to_string();
    let get = |path: String| {
        let request = client.get(url(&path)).send();
        async move {
            match request.await {
                Ok(resp) => Some((resp.status().as_u16(), resp.text().await.unwrap())),
                Err(_) => None,
            }
        }
    };
    let mut live = None;
    for _ in 0..200 {
        live = get(probe("livenessProbe")).await;
        if live.is_some() {
            break;
        }
        assert!(child.try_wait().unwrap().is_none(), "serve exited early");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(live.map(|l| l.0), Some(200), "the liveness probe");
    let mut ready = None;
    for _ in 0..200 {
        ready = get(probe("readinessProbe")).await;
        if ready.as_ref().is_some_and(|r| r.0 == 200) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        ready.as_ref().map(|r| r.0),
        Some(200),
        "the readiness probe (the fleet listed with the Secret's token): {ready:?}"
    );

    let (status, metrics) = get("/metrics".into()).await.unwrap();
    assert_eq!(status, 200);
    assert!(
        metrics.contains("# TYPE updatebot_runs_total counter\n")
            && metrics.lines().any(|l| l == "updatebot_run_in_progress 0"),
        "{metrics}"
    );

    // The webhook is on with the secret the chart wired, and refuses any other token; so
    // is POST /run (the same secret as a bearer token).
    let post = |path: &str, header: (&'static str, String), body: &'static str| {
        client
            .post(url(path))
            .header(header.0, header.1)
            .header("X-Gitlab-Event", "Note Hook")
            .body(body)
            .send()
    };
    let status = |resp: reqwest::Result<reqwest::Response>| resp.unwrap().status().as_u16();
    let token = |t: &str| ("X-Gitlab-Token", t.to_string());
    assert_eq!(
        status(post("/webhook", token("not-the-secret"), "{}").await),
        401
    );
    let resp = post("/webhook", token(HOOK_SECRET), "{}").await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.text().await.unwrap(), "ignored: not a comment event\n");
    let bearer = |t: &str| ("Authorization", format!("Bearer {t}"));
    assert_eq!(
        status(post("/run", bearer("not-the-secret"), "").await),
        401
    );
    assert_eq!(status(post("/run", bearer(HOOK_SECRET), "").await), 202);
    let mut metrics = String::new();
    for _ in 0..300 {
        metrics = get("/metrics".into()).await.unwrap().1;
        if metrics
            .lines()
            .any(|l| l == "updatebot_runs_total{trigger=\"manual\",outcome=\"ok\"} 1")
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for line in [
        "updatebot_runs_total{trigger=\"manual\",outcome=\"ok\"} 1",
        "updatebot_projects_total{outcome=\"worked\"} 1",
        "updatebot_webhooks_total{outcome=\"unauthorized\"} 1",
        "updatebot_webhooks_total{outcome=\"ignored\"} 1",
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "no `{line}` in\n{metrics}"
        );
    }
    let (status, report) = get("/report".into()).await.unwrap();
    assert_eq!(status, 200, "{report}");
    let report: Value = serde_json::from_str(&report).unwrap();
    assert_eq!(report["projects"][0]["project"], "svc/api", "{report:#}");
    let run_id = str_at(&report, "/run_id").to_string();

    // SIGTERM, as kubelet stops the pod: a clean exit long before the grace period ends.
    let pid = child.id().unwrap().to_string();
    let term = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(term.success());
    let grace = pod["terminationGracePeriodSeconds"].as_u64().unwrap();
    let asked = Instant::now();
    let exit = tokio::time::timeout(Duration::from_secs(grace), child.wait())
        .await
        .unwrap_or_else(|_| panic!("serve did not stop within the pod's {grace} s grace period"))
        .unwrap();
    assert!(exit.success(), "serve exited with {exit}");
    assert!(
        asked.elapsed() < Duration::from_secs(10),
        "an idle server took {:?} to stop",
        asked.elapsed()
    );

    // `--log-format json`: every line a JSON object, the run's lines with its id, the stop
    // logged; the tokens nowhere.
    let log = log.await.unwrap();
    let lines: Vec<Value> = log
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            serde_json::from_str::<Value>(line)
                .ok()
                .filter(Value::is_object)
                .unwrap_or_else(|| panic!("--log-format json, yet this line: {line}\n{log}"))
        })
        .collect();
    let message = |l: &Value| {
        l["fields"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    assert!(
        lines.iter().any(|l| message(l) == "run finished"
            && l["fields"]["run_id"].as_str() == Some(run_id.as_str())),
        "no `run finished` line with run id {run_id}:\n{log}"
    );
    assert!(
        lines
            .iter()
            .any(|l| message(l).starts_with("shutting down")),
        "{log}"
    );
    assert!(
        !log.contains(&bot.token) && !log.contains(HOOK_SECRET),
        "{log}"
    );
}

//! End to end against real OCI registries (Debian's docker-registry on loopback, started by
//! `scripts/registry-env.sh`: plain, htpasswd basic auth, and token auth behind
//! `tests/token-service`), seeded here over plain HTTP with images, tag sets and a
//! multi-arch index. Every case under `fixtures/container/<case>/` is copied, updated with
//! `updatebot update`, and compared byte for byte with its `out/` tree.
//!
//! Fixture files name the registries by fixed placeholder hosts (`plain.registry.test`,
//! `basic.registry.test`, `token.registry.test`); the copy has them replaced by the real
//! `127.0.0.1:PORT` of each, and the result has them put back before the comparison. So the
//! real host:port grammar, the plain-HTTP loopback rule and the per-host credentials are all
//! exercised, while fixtures stay stable. Docker Hub names (`nginx:1.25.3`) reach the plain
//! registry through an operator `docker-registry` entry with `replaces-base: true`.
//!
//! Seeded content is derived from its names only, so digests are the same on every machine
//! and fixture `out/` files can hold them.

mod support;

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use support::*;

struct Registries {
    plain: String,
    basic: String,
    token: String,
    user: String,
    password_file: String,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// The registries, seeded once per test binary; `None` (skip) when not started.
fn registries() -> Option<&'static Registries> {
    static SEEDED: OnceLock<Option<Registries>> = OnceLock::new();
    SEEDED
        .get_or_init(|| {
            let Some(plain) = env("UPDATEBOT_TEST_REGISTRY_PLAIN") else {
                assert!(
                    std::env::var_os("UPDATEBOT_REQUIRE_SERVICES").is_none(),
                    "UPDATEBOT_TEST_REGISTRY_PLAIN is not set: run the tests through scripts/test.sh"
                );
                eprintln!("skipped: no local registries (run scripts/test.sh)");
                return None;
            };
            let r = Registries {
                plain,
                basic: env("UPDATEBOT_TEST_REGISTRY_BASIC").expect("basic registry"),
                token: env("UPDATEBOT_TEST_REGISTRY_TOKEN").expect("token registry"),
                user: env("UPDATEBOT_TEST_REGISTRY_USER").expect("registry user"),
                password_file: env("UPDATEBOT_TEST_REGISTRY_PASSWORD_FILE")
                    .expect("registry password file"),
            };
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(seed(&r.plain));
            Some(r)
        })
        .as_ref()
}

// ------------------------------------------------------------------ seeding ---

fn sha256(bytes: &[u8]) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, bytes);
    let hex: String = d.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// Deterministic "random" bytes for a name (a tiny xorshift stream).
fn noise(name: &str, len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for b in name.bytes() {
        x = (x ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
    }
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x & 0xff) as u8
        })
        .collect()
}

struct Pusher {
    http: reqwest::Client,
    base: String,
}

impl Pusher {
    async fn blob(&self, repo: &str, bytes: &[u8]) -> String {
        let digest = sha256(bytes);
        let head = self
            .http
            .head(format!("{}/v2/{repo}/blobs/{digest}", self.base))
            .send()
            .await
            .unwrap();
        if head.status().is_success() {
            return digest;
        }
        let start = self
            .http
            .post(format!("{}/v2/{repo}/blobs/uploads/", self.base))
            .send()
            .await
            .unwrap();
        assert_eq!(start.status().as_u16(), 202, "starting an upload to {repo}");
        let location = start.headers()["location"].to_str().unwrap().to_string();
        let location = if location.starts_with('/') {
            format!("{}{location}", self.base)
        } else {
            location
        };
        let sep = if location.contains('?') { '&' } else { '?' };
        let put = self
            .http
            .put(format!("{location}{sep}digest={digest}"))
            .header("content-type", "application/octet-stream")
            .body(bytes.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(put.status().as_u16(), 201, "uploading a blob to {repo}");
        digest
    }

    async fn manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        body: &Value,
    ) -> String {
        let bytes = canonical(body);
        let put = self
            .http
            .put(format!("{}/v2/{repo}/manifests/{reference}", self.base))
            .header("content-type", media_type)
            .body(bytes.clone())
            .send()
            .await
            .unwrap();
        let status = put.status().as_u16();
        assert_eq!(
            status,
            201,
            "{repo}:{reference}: {}",
            put.text().await.unwrap_or_default()
        );
        sha256(&bytes)
    }

    /// A one-layer image for `arch`; returns (manifest digest, size).
    async fn image(&self, repo: &str, tag: &str, arch: &str, reference: &str) -> (String, usize) {
        self.image_built(repo, tag, arch, reference, None).await
    }

    /// [`Pusher::image`] with a build time in its config (`created`).
    async fn image_built(
        &self,
        repo: &str,
        tag: &str,
        arch: &str,
        reference: &str,
        created: Option<&str>,
    ) -> (String, usize) {
        let layer = noise(&format!("{repo}:{tag}:{arch}:layer"), 64);
        let layer_digest = self.blob(repo, &layer).await;
        let mut config = json!({
            "architecture": arch,
            "os": "linux",
            "config": {"Labels": {"org.opencontainers.image.version": tag}},
            "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
        });
        if let Some(created) = created {
            config["created"] = created.into();
        }
        let config = canonical(&config);
        let config_digest = self.blob(repo, &config).await;
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": config_digest,
                "size": config.len(),
            },
            "layers": [{
                "mediaType": "application/vnd.oci.image.layer.v1.tar",
                "digest": layer_digest,
                "size": layer.len(),
            }],
        });
        let size = canonical(&manifest).len();
        let digest = self
            .manifest(
                repo,
                reference,
                "application/vnd.oci.image.manifest.v1+json",
                &manifest,
            )
            .await;
        (digest, size)
    }

    async fn multi_arch(&self, repo: &str, tag: &str) {
        self.multi_arch_built(repo, tag, None).await
    }

    async fn multi_arch_built(&self, repo: &str, tag: &str, created: Option<&str>) {
        let mut manifests = Vec::new();
        for arch in ["amd64", "arm64"] {
            let name = format!("{tag}-{arch}-only");
            let (digest, size) = self.image_built(repo, tag, arch, &name, created).await;
            manifests.push(json!({
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": digest,
                "size": size,
                "platform": {"architecture": arch, "os": "linux"},
            }));
        }
        let index = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": manifests,
        });
        self.manifest(repo, tag, "application/vnd.oci.image.index.v1+json", &index)
            .await;
    }
}

/// JSON with object keys sorted, whatever serde_json's map order is in this build (the
/// workspace enables `preserve_order` for other tests): seeded digests stay the same.
fn canonical(value: &Value) -> Vec<u8> {
    fn write(value: &Value, out: &mut String) {
        match value {
            Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                out.push('{');
                for (i, key) in keys.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&Value::String(key.clone()).to_string());
                    out.push(':');
                    write(&map[key], out);
                }
                out.push('}');
            }
            Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write(item, out);
                }
                out.push(']');
            }
            scalar => out.push_str(&scalar.to_string()),
        }
    }
    let mut out = String::new();
    write(value, &mut out);
    out.into_bytes()
}

/// The seeded images (one storage behind all three registries).
const TAGS: &[(&str, &[&str])] = &[
    (
        "library/nginx",
        &[
            "1.25.3",
            "1.25.4",
            "1.27.0",
            "1.27.0-alpine",
            "1.28.0-alpine",
            "latest",
            "1.29.0-rc1",
        ],
    ),
    ("library/alpine", &["3.19", "3.20", "3.20.3"]),
    ("library/redis", &["7.2.4", "7.4.1", "7.4.1-alpine"]),
    ("team/app", &["1.0", "1.1", "2.0"]),
];

async fn seed(base: &str) {
    let pusher = Pusher {
        http: reqwest::Client::new(),
        base: format!("http://{base}"),
    };
    for (repo, tags) in TAGS {
        for tag in *tags {
            pusher.image(repo, tag, "amd64", tag).await;
        }
    }
    for tag in ["1.0", "1.1"] {
        pusher.multi_arch("team/multi", tag).await;
    }
    // Platforms: 1.2 is built for amd64 only, so it cannot replace the multi-arch 1.0.
    for tag in ["1.0", "1.1"] {
        pusher.multi_arch("team/platforms", tag).await;
    }
    pusher.image("team/platforms", "1.2", "amd64", "1.2").await;
    // Settle time: a tag (re)built just now.
    let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
    pusher
        .multi_arch_built("team/settle", "1.0", Some(&now))
        .await;
    // Cooldown: build times chosen relative to now; 1.3 records none.
    let ago = |days: i64| {
        (chrono::Utc::now() - chrono::Duration::days(days))
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string()
    };
    for (tag, created) in [
        ("1.0", Some(ago(100))),
        ("1.1", Some(ago(20))),
        ("1.2", Some(ago(2))),
        ("1.3", None),
    ] {
        pusher
            .image_built("team/aged", tag, "amd64", tag, created.as_deref())
            .await;
    }
    // A multi-arch index is as old as its newest image.
    pusher
        .multi_arch_built("team/young", "1.0", Some(&ago(60)))
        .await;
    pusher
        .multi_arch_built("team/young", "1.1", Some(&ago(3)))
        .await;
}

// ------------------------------------------------------------------- cases ---

const PLACEHOLDERS: [&str; 3] = [
    "plain.registry.test",
    "basic.registry.test",
    "token.registry.test",
];

fn hosts(r: &Registries) -> [&str; 3] {
    [r.plain.as_str(), r.basic.as_str(), r.token.as_str()]
}

/// Copy `from` to `to`, replacing each placeholder host with its real address (or back).
fn copy_mapped(from: &Path, to: &Path, pairs: &[(&str, &str)]) {
    for file in files(from) {
        let target = to.join(&file);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        let bytes = std::fs::read(from.join(&file)).unwrap();
        match String::from_utf8(bytes) {
            Ok(mut text) => {
                for (a, b) in pairs {
                    text = text.replace(a, b);
                }
                std::fs::write(target, text).unwrap();
            }
            Err(e) => std::fs::write(target, e.into_bytes()).unwrap(),
        }
    }
}

fn operator_config_for(r: &Registries, credentials: bool) -> String {
    let creds = |indent: &str| {
        if credentials {
            format!(
                "{indent}username: {}\n{indent}password-file: {}\n",
                r.user, r.password_file
            )
        } else {
            String::new()
        }
    };
    format!(
        "registries:\n  hub-mirror:\n    type: docker-registry\n    url: http://{}\n    replaces-base: true\n  basic:\n    type: docker-registry\n    url: http://{}\n{}  token:\n    type: docker-registry\n    url: http://{}\n{}",
        r.plain,
        r.basic,
        creds("    "),
        r.token,
        creds("    ")
    )
}

struct Run {
    work: tempfile::TempDir,
    output: std::process::Output,
}

impl Run {
    fn tree(&self) -> PathBuf {
        self.work.path().join("repo")
    }
}

fn run_in(r: &Registries, input: &Path, args: &[&str], credentials: bool) -> Run {
    run_with_config(r, input, args, &operator_config_for(r, credentials))
}

/// `updatebot <args> <copy of input> --config <operator config>`.
fn run_with_config(r: &Registries, input: &Path, args: &[&str], operator: &str) -> Run {
    let work = tempfile::tempdir().unwrap();
    let tree = work.path().join("repo");
    let pairs: Vec<(&str, &str)> = PLACEHOLDERS.iter().copied().zip(hosts(r)).collect();
    copy_mapped(input, &tree, &pairs);
    let config = work.path().join("operator.yml");
    std::fs::write(&config, operator).unwrap();
    let mut all: Vec<&str> = args.to_vec();
    let tree_arg = tree.to_str().unwrap().to_string();
    let config_arg = config.to_str().unwrap().to_string();
    all.extend([tree_arg.as_str(), "--config", config_arg.as_str()]);
    let output = updatebot(&all);
    Run { work, output }
}

fn run_case(name: &str) -> Option<Run> {
    let r = registries()?;
    let case = repo_root().join("fixtures/container").join(name);
    let run = run_in(r, &case.join("in"), &["update"], true);
    let expected_exit: i32 = std::fs::read_to_string(case.join("exit-code"))
        .map(|s| s.trim().parse().unwrap())
        .unwrap_or(0);
    assert_eq!(
        run.output.status.code(),
        Some(expected_exit),
        "stdout:\n{}\nstderr:\n{}",
        stdout(&run.output),
        stderr(&run.output)
    );
    // Put the placeholders back and compare.
    let back = run.work.path().join("back");
    let pairs: Vec<(&str, &str)> = hosts(r).into_iter().zip(PLACEHOLDERS).collect();
    copy_mapped(&run.tree(), &back, &pairs);
    assert_same_tree(&case.join("out"), &back);
    Some(run)
}

fn check_json(r: &Registries, input: &Path, credentials: bool) -> Value {
    let run = run_in(r, input, &["check", "--format", "json"], credentials);
    serde_json::from_str(&stdout(&run.output))
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", stdout(&run.output), stderr(&run.output)))
}

fn dependencies(report: &Value) -> Vec<Value> {
    report["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|m| m["dependencies"].as_array().cloned().unwrap_or_default())
        .collect()
}

#[test]
fn dockerfile_stages_args_and_digests() {
    run_case("dockerfile_stages_args_and_digests");
}

#[test]
fn containerfile_crlf_bom_and_escape() {
    run_case("containerfile_crlf_bom_and_escape");
}

#[test]
fn compose_and_gitlab_ci_with_includes() {
    run_case("compose_and_gitlab_ci_with_includes");
}

/// GitLab CI images assembled from `variables:` (global, job, `{value:}` maps, variables
/// in variables, a tag partly written beside its variable) are looked up and updated in the
/// variables' values; a variable two images read moves once, for both.
#[test]
fn gitlab_ci_variables() {
    let Some(r) = registries() else { return };
    run_case("gitlab_ci_variables");
    let report = check_json(
        r,
        &repo_root().join("fixtures/container/gitlab_ci_variables/in"),
        true,
    );
    let deps = dependencies(&report);
    let find = |name: &str, value: &str| {
        deps.iter()
            .find(|d| {
                d["name"].as_str().unwrap_or_default().ends_with(name)
                    && d["current_value"] == value
            })
            .unwrap_or_else(|| panic!("{name} {value}: {deps:#?}"))
            .clone()
    };
    assert_eq!(find("team/app", "1.0")["new_value"], "2.0");
    assert_eq!(find("team/app", "1.1")["new_value"], "2.0");
    let plain = find("library/redis", "7.2.4");
    let alpine = find("library/redis", "7.2.4-alpine");
    assert_eq!(plain["new_value"], "7.4.1", "{plain:#}");
    assert!(
        alpine["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("moves to 7.4.1-alpine with"),
        "{alpine:#}"
    );
    let ci = find("$CI_REGISTRY_IMAGE/app:$APP_TAG", "");
    assert_eq!(ci["skip_reason"], "variable", "{ci:#}");
    assert_eq!(report["summary"]["failed"], 0, "{report:#}");
}

/// One variable read by two images that would move it to different tags: neither is
/// proposed, and each says why.
#[test]
fn gitlab_ci_variable_shared_by_diverging_images_is_a_conflict() {
    let Some(r) = registries() else { return };
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join(".gitlab-ci.yml"),
        "variables:\n  TAG: \"1.0\"\napp:\n  image: plain.registry.test/team/app:$TAG\n  script: [a]\nmulti:\n  image: plain.registry.test/team/multi:$TAG\n  script: [b]\n",
    )
    .unwrap();
    let report = check_json(r, dir.path(), true);
    let deps = dependencies(&report);
    assert_eq!(deps.len(), 2, "{deps:#?}");
    for dep in &deps {
        assert_eq!(dep["status"], "error", "{dep:#}");
        let error = dep["error"].as_str().unwrap();
        assert!(
            error.contains("which would move it to different values")
                && error.contains("wants `2.0`")
                && error.contains("wants `1.1`"),
            "{error}"
        );
    }
}

/// `cooldown`: image tags are dated by their images' build time (`created`; an index by its
/// newest image). A tag younger than the cooldown waits with the reason every ecosystem
/// gives, a tag without a build time is held back, and the newest old-enough tag is taken.
#[test]
fn cooldown_for_image_tags() {
    let Some(r) = registries() else { return };
    run_case("cooldown_for_image_tags");
    let report = check_json(
        r,
        &repo_root().join("fixtures/container/cooldown_for_image_tags/in"),
        true,
    );
    let deps = dependencies(&report);
    let find = |name: &str| {
        deps.iter()
            .find(|d| d["name"].as_str().unwrap_or_default().ends_with(name))
            .unwrap_or_else(|| panic!("{name}: {deps:#?}"))
            .clone()
    };
    let aged = find("team/aged");
    assert_eq!(aged["new_value"], "1.1", "{aged:#}");
    let notes = aged["notes"].to_string();
    assert!(
        notes.contains("1.2 is 2 days old, under the 7-day cooldown"),
        "{notes}"
    );
    assert!(
        notes.contains("1.3 has no build time (`created`) in its image config"),
        "{notes}"
    );
    let young = find("team/young");
    assert_eq!(young["status"], "no-update", "{young:#}");
    assert!(
        young["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("1.1 is 3 days old, under the 7-day cooldown"),
        "{young:#}"
    );
}

#[test]
fn kubernetes_and_helm_values() {
    run_case("kubernetes_and_helm_values");
}

#[test]
fn docker_hub_names_through_a_replacing_mirror() {
    run_case("docker_hub_names_through_a_replacing_mirror");
}

/// A tag that does not cover the platforms of the multi-arch tag in use is never proposed
/// (the newest that does is, with a note), and a digest that moved within the settle time
/// waits.
#[test]
fn platforms_and_settle_time() {
    let Some(r) = registries() else { return };
    run_case("platforms_and_settle_time");
    let report = check_json(
        r,
        &repo_root().join("fixtures/container/platforms_and_settle_time/in"),
        true,
    );
    let deps = dependencies(&report);
    let find = |name: &str| {
        deps.iter()
            .find(|d| d["name"].as_str().unwrap_or_default().ends_with(name))
            .unwrap_or_else(|| panic!("{name}: {deps:#?}"))
            .clone()
    };
    let platforms = find("team/platforms");
    assert_eq!(platforms["new_value"], "1.1", "{platforms:#}");
    assert!(
        platforms.to_string().contains(
            "1.2 is a single-platform image, where the tag in use covers linux/amd64, linux/arm64"
        ),
        "{platforms:#}"
    );
    let settle = find("team/settle");
    assert_ne!(settle["status"], "update", "{settle:#}");
    assert!(
        settle
            .to_string()
            .contains("under the 6-hour settle time for new digests"),
        "{settle:#}"
    );
}

/// `pin-digests: true`: references without a digest get their tag's digest (the index digest
/// of a multi-arch tag) in every manager, as update type `pin`; one with a newer tag moves to
/// it with its digest; a moving tag (`latest`) is pinned too; `redis` alone has no tag to
/// pin and is left as it is.
#[test]
fn pin_digests_in_every_manager() {
    let Some(r) = registries() else { return };
    run_case("pin_digests_in_every_manager");
    let report = check_json(
        r,
        &repo_root().join("fixtures/container/pin_digests_in_every_manager/in"),
        true,
    );
    let deps = dependencies(&report);
    let find = |name: &str, value: &str| {
        deps.iter()
            .find(|d| {
                d["name"].as_str().unwrap_or_default().ends_with(name)
                    && d["current_value"] == value
            })
            .unwrap_or_else(|| panic!("{name} {value}: {deps:#?}"))
            .clone()
    };
    for (name, value) in [
        ("team/app", "2.0"),
        ("team/multi", "1.1"),
        ("library/nginx", "latest"),
        ("library/nginx", "1.28.0-alpine"),
        ("library/redis", "7.4.1-alpine"),
    ] {
        let dep = find(name, value);
        assert_eq!(dep["update_type"], "pin", "{dep:#}");
        assert!(
            dep["new_value"]
                .as_str()
                .unwrap_or_default()
                .starts_with(&format!("{value}@sha256:")),
            "{dep:#}"
        );
    }
    let nginx = find("nginx", "1.25.3");
    assert_eq!(nginx["update_type"], "minor", "{nginx:#}");
    assert!(nginx["new_value"]
        .as_str()
        .unwrap()
        .starts_with("1.27.0@sha256:"));
    let bare = find("library/redis", "");
    assert_eq!(bare["status"], "skipped", "{bare:#}");
    assert_eq!(report["summary"]["failed"], 0, "{report:#}");
}

#[test]
fn updatebot_yml_ignore_applies_to_images() {
    run_case("updatebot_yml_ignore_applies_to_images");
}

#[test]
fn bad_images_fail_alone() {
    let Some(run) = run_case("bad_images_fail_alone") else {
        return;
    };
    let text = stdout(&run.output);
    for expected in [
        "Nginx:1.0` is not a valid docker version or range",
        "not found at http://127.0.0.1:",
    ] {
        assert!(text.contains(expected), "{expected}\n{text}");
    }
}

/// The JSON report names update types: a moved digest is `digest`, the multi-arch index's
/// digest is the one pinned, tags keep their suffix and precision, pre-releases wait.
#[test]
fn check_reports_update_types_and_digests() {
    let Some(r) = registries() else { return };
    let report = check_json(
        r,
        &repo_root().join("fixtures/container/dockerfile_stages_args_and_digests/in"),
        true,
    );
    let deps = dependencies(&report);
    let find = |name: &str, value_prefix: &str| {
        deps.iter()
            .find(|d| {
                d["name"].as_str().unwrap_or_default().ends_with(name)
                    && d["current_value"]
                        .as_str()
                        .unwrap_or_default()
                        .starts_with(value_prefix)
            })
            .unwrap_or_else(|| panic!("{name} {value_prefix}: {deps:#?}"))
            .clone()
    };
    let multi = find("team/multi", "1.1@");
    assert_eq!(multi["status"], "update", "{multi:#}");
    assert_eq!(multi["update_type"], "digest");
    let nginx = find("library/nginx", "1.25.3");
    assert_eq!(nginx["new_value"], "1.27.0");
    assert_eq!(nginx["update_type"], "minor");
    let alpine = find("library/nginx", "1.27.0-alpine@");
    assert_eq!(alpine["update_type"], "minor");
    assert!(alpine["new_value"]
        .as_str()
        .unwrap()
        .starts_with("1.28.0-alpine@sha256:"));
    assert_eq!(report["summary"]["failed"], 0, "{report:#}");
}

/// Without credentials, the basic-auth and token-auth registries refuse, each image failing
/// alone with a message naming the registry; the anonymous registry still answers.
#[test]
fn missing_credentials_are_per_image_errors() {
    let Some(r) = registries() else { return };
    let report = check_json(
        r,
        &repo_root().join("fixtures/container/dockerfile_stages_args_and_digests/in"),
        false,
    );
    let deps = dependencies(&report);
    let errors: Vec<String> = deps
        .iter()
        .filter(|d| d["status"] == "error")
        .map(|d| d["error"].as_str().unwrap().to_string())
        .collect();
    assert!(
        errors
            .iter()
            .any(|e| e.contains(&format!("http://{} refused access", r.basic))),
        "{errors:#?}"
    );
    assert!(
        errors
            .iter()
            .any(|e| e.contains(&format!("http://{} refused access", r.token))),
        "{errors:#?}"
    );
    assert!(deps.iter().any(|d| d["status"] == "update"), "{deps:#?}");
    // The password never shows.
    let password = std::fs::read_to_string(&r.password_file).unwrap();
    assert!(!report.to_string().contains(password.trim()));
}

/// Credentials from a Docker `config.json` the operator points at (`docker-config-file`):
/// `auth` (base64) for the basic-auth registry, `username`/`password` for the token one; a
/// file that leaves the registry to a credential helper fails the configuration, naming it.
#[test]
fn docker_config_json_credentials() {
    let Some(r) = registries() else { return };
    let password = std::fs::read_to_string(&r.password_file).unwrap();
    let password = password.trim_end_matches('\n');
    let secrets = tempfile::tempdir().unwrap();
    let auth = updatebot_core::http::base64_encode(format!("{}:{password}", r.user).as_bytes());
    let config_json = secrets.path().join("config.json");
    let auths = json!({
        "auths": {
            format!("http://{}", r.basic): {"auth": auth},
            r.token.clone(): {"username": r.user, "password": password},
        }
    });
    std::fs::write(&config_json, auths.to_string()).unwrap();
    let operator = |file: &Path| {
        format!(
            "registries:\n  hub-mirror:\n    type: docker-registry\n    url: http://{}\n    replaces-base: true\n  basic:\n    type: docker-registry\n    url: http://{}\n    docker-config-file: {}\n  token:\n    type: docker-registry\n    url: http://{}\n    docker-config-file: {}\n",
            r.plain,
            r.basic,
            file.display(),
            r.token,
            file.display()
        )
    };
    let input = repo_root().join("fixtures/container/dockerfile_stages_args_and_digests/in");
    let run = run_with_config(
        r,
        &input,
        &["check", "--format", "json"],
        &operator(&config_json),
    );
    let report: Value = serde_json::from_str(&stdout(&run.output))
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", stdout(&run.output), stderr(&run.output)));
    assert_eq!(report["summary"]["failed"], 0, "{report:#}");
    let deps = dependencies(&report);
    for host in [&r.basic, &r.token] {
        assert!(
            deps.iter().any(|d| d["name"]
                .as_str()
                .is_some_and(|n| n.starts_with(host.as_str()))
                && d["status"] == "update"),
            "{host}: {deps:#?}"
        );
    }
    assert!(!report.to_string().contains(password));
    // A helper holds the token registry's credentials: refused, with the reason.
    let helper_json = secrets.path().join("helper.json");
    let helpers = json!({
        "auths": {format!("http://{}", r.basic): {"auth": auth}},
        "credHelpers": {r.token.clone(): "secretservice"},
    });
    std::fs::write(&helper_json, helpers.to_string()).unwrap();
    let run = run_with_config(r, &input, &["check"], &operator(&helper_json));
    let out = format!("{}{}", stdout(&run.output), stderr(&run.output));
    assert_ne!(run.output.status.code(), Some(0), "{out}");
    assert!(out.contains("docker-credential-secretservice"), "{out}");
    assert!(out.contains("runs no credential helpers"), "{out}");
    assert!(!out.contains(password), "{out}");
}

/// Every Dockerfile, compose, CI and Kubernetes file of the public corpus extracts without
/// error, and every editable image value splices back and re-reads the same.
#[test]
fn every_container_manifest_of_the_corpus_extracts_and_edits() {
    use updatebot::plugins::Plugins;
    use updatebot::scan::{self, Everything};
    use updatebot_core::edit::{edit_values, ValueEdit};
    let archive = repo_root().join("../shared/corpus.tar.xz");
    if !archive.exists() {
        assert!(std::env::var_os("UPDATEBOT_REQUIRE_SERVICES").is_none());
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let status = std::process::Command::new("tar")
        .arg("-xJf")
        .arg(&archive)
        .arg("-C")
        .arg(dir.path())
        .status()
        .unwrap();
    assert!(status.success());
    let plugins = Plugins::standard();
    let manifests = scan::scan_dir(&plugins, dir.path(), &Everything).unwrap();
    let docker: Vec<_> = manifests
        .iter()
        .filter(|m| m.ecosystem == updatebot_core::Ecosystem::Docker)
        .collect();
    let errors: Vec<String> = docker
        .iter()
        .filter_map(|m| m.result.as_ref().err().map(|e| e.to_string()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    let count = |manager: &str| docker.iter().filter(|m| m.manager == manager).count();
    assert!(count("dockerfile") >= 60, "{}", count("dockerfile"));
    assert!(count("docker-compose") >= 15, "{}", count("docker-compose"));
    assert!(count("gitlab-ci") >= 20, "{}", count("gitlab-ci"));
    let mut edited = 0;
    for m in &docker {
        let file = m.result.as_ref().unwrap();
        let (_, manager) = plugins.manager(m.manager).unwrap();
        let edits: Vec<ValueEdit> = file
            .dependencies
            .iter()
            .enumerate()
            .filter(|(_, d)| d.span.is_some() && d.skip_reason.is_none())
            .map(|(index, d)| ValueEdit {
                index,
                new_value: match d.span_part {
                    // `docker:${VERSION}-dind`: the text beside the variable stays.
                    Some((a, b)) => {
                        format!("{}99.1.0{}", &d.current_value[..a], &d.current_value[b..])
                    }
                    None if d.current_value.contains('@') => {
                        format!("99.1.0@sha256:{}", "a".repeat(64))
                    }
                    None => "99.1.0".to_string(),
                },
            })
            .collect();
        edited += edits.len();
        edit_values(manager, &m.path, &m.content, &edits).unwrap_or_else(|e| panic!("{e}"));
    }
    assert!(edited >= 70, "only {edited} images edited");
}

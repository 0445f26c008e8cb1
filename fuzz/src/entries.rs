//! The fuzz entry points: one function per parser, each taking raw bytes and going through the
//! same public functions the bot uses. Shared by the `cargo fuzz` targets (`fuzz_targets/`)
//! and by the replay test of the committed seeds and crash inputs (`tests/fuzz_corpus.rs`),
//! so a fixed crash stays fixed without running the fuzzer.
//!
//! Every entry must return normally on any input: a panic, a stack overflow or an
//! unbounded allocation is a bug in the parser.

use updatebot_core::edit::{edit_values, ValueEdit};
use updatebot_core::{Manager, RangeRequest, RangeStrategy, VersionScheme};

/// A fuzz entry point.
pub type Entry = fn(&[u8]);

/// Every target, by name: the name of its `fuzz_targets/<name>.rs` and of its seed folder.
pub const TARGETS: &[(&str, Entry)] = &[
    ("requirements", requirements),
    ("pyproject", pyproject),
    ("pipfile", pipfile),
    ("package_json", package_json),
    ("npmrc", npmrc),
    ("npm_lock", npm_lock),
    ("dockerfile", dockerfile),
    ("compose", compose),
    ("gitlab_ci", gitlab_ci),
    ("kubernetes", kubernetes),
    ("helm_values", helm_values),
    ("repo_config", repo_config),
    ("operator_config", operator_config),
    ("pep440", pep440),
    ("poetry", poetry),
    ("npm_spec", npm_spec),
    ("docker_tag", docker_tag),
    ("pypi_simple_json", pypi_simple_json),
    ("pypi_simple_html", pypi_simple_html),
    ("pypi_json_api", pypi_json_api),
    ("npm_packument", npm_packument),
    ("oci_answers", oci_answers),
    ("helm_index", helm_index),
];

/// The entry called `name`.
pub fn entry(name: &str) -> Option<Entry> {
    TARGETS.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
}

fn text(data: &[u8]) -> Option<&str> {
    std::str::from_utf8(data).ok()
}

/// Extract with a manager, check every span lies in the text, and edit the first few
/// dependencies (which re-reads the edited text).
fn manifest(manager: &dyn Manager, path: &str, data: &[u8]) {
    let Some(content) = text(data) else { return };
    let Ok(file) = manager.extract(path, content) else {
        return;
    };
    for (index, dep) in file.dependencies.iter().enumerate().take(4) {
        if let Some(span) = dep.span {
            assert!(
                span.slice(content).is_some(),
                "span {span:?} of `{}` outside the text",
                dep.name
            );
            let _ = edit_values(
                manager,
                path,
                content,
                &[ValueEdit {
                    index,
                    new_value: "9.9.9".to_string(),
                }],
            );
        }
    }
}

pub fn requirements(data: &[u8]) {
    manifest(
        &updatebot_python::requirements::Requirements,
        "requirements.txt",
        data,
    );
}

pub fn pyproject(data: &[u8]) {
    manifest(
        &updatebot_python::pyproject::Pyproject,
        "pyproject.toml",
        data,
    );
}

pub fn pipfile(data: &[u8]) {
    manifest(&updatebot_python::pipfile::Pipfile, "Pipfile", data);
}

pub fn package_json(data: &[u8]) {
    manifest(
        &updatebot_npm::package_json::PackageJson,
        "package.json",
        data,
    );
}

pub fn npmrc(data: &[u8]) {
    let Some(content) = text(data) else { return };
    let _ = updatebot_npm::npmrc::parse(content);
    let files = std::collections::BTreeMap::from([
        (".npmrc".to_string(), content.to_string()),
        ("app/.npmrc".to_string(), content.to_string()),
    ]);
    let _ = updatebot_npm::npmrc::effective("app/package.json", &files);
}

/// The npm lockfile reader: the document, its tree, and the locked versions it gives a
/// manifest.
pub fn npm_lock(data: &[u8]) {
    use updatebot_npm::lock::{doc::LockDoc, tree};
    let Some(content) = text(data) else { return };
    if let Ok(doc) = LockDoc::parse("package-lock.json", content) {
        if let Some(packages) = doc.packages() {
            let _ = tree::reachable(packages);
            let _ = tree::problems(packages);
        }
        let _ = doc.render();
    }
    let manifest = "{\"dependencies\": {\"a\": \"^1.0.0\", \"b\": \"~2\"}, \"devDependencies\": {\"@s/c\": \"*\"}}";
    if let Ok(mut file) = updatebot_npm::package_json::PackageJson.extract("package.json", manifest)
    {
        let files = std::collections::BTreeMap::from([(
            "package-lock.json".to_string(),
            content.to_string(),
        )]);
        updatebot_npm::lock::locked::annotate("package.json", &mut file, &files);
    }
}

pub fn dockerfile(data: &[u8]) {
    manifest(
        &updatebot_container::dockerfile::Dockerfile,
        "Dockerfile",
        data,
    );
}

pub fn compose(data: &[u8]) {
    manifest(
        &updatebot_container::yaml_managers::Compose,
        "compose.yaml",
        data,
    );
}

pub fn gitlab_ci(data: &[u8]) {
    manifest(
        &updatebot_container::yaml_managers::GitlabCi,
        ".gitlab-ci.yml",
        data,
    );
}

pub fn kubernetes(data: &[u8]) {
    manifest(
        &updatebot_container::yaml_managers::Kubernetes,
        "deploy/app.yaml",
        data,
    );
}

pub fn helm_values(data: &[u8]) {
    manifest(
        &updatebot_container::yaml_managers::HelmValues,
        "values.yaml",
        data,
    );
}

pub fn repo_config(data: &[u8]) {
    let Some(content) = text(data) else { return };
    if let Ok(repo) = updatebot::config::parse_repo_config(content) {
        let _ = updatebot::project::range_problems(&repo);
        let operator =
            updatebot::config::load_operator_config("{}", &|_| None, &|_| Ok(String::new()));
        if let Ok(operator) = operator {
            let _ = updatebot::project::ProjectSettings::new(Some(&repo), &operator);
        }
    }
}

pub fn operator_config(data: &[u8]) {
    let Some(content) = text(data) else { return };
    // Secrets resolve to fixed text: the fuzzer never reads the environment or files.
    let _ =
        updatebot::config::load_operator_config(content, &|_| Some("secret".to_string()), &|_| {
            Ok("secret".to_string())
        });
}

/// Every operation of a scheme on the lines of the input (versions, ranges).
fn scheme(scheme: &dyn VersionScheme, data: &[u8]) {
    let Some(content) = text(data) else { return };
    let mut lines = content.split('\n');
    let a = lines.next().unwrap_or("");
    let b = lines.next().unwrap_or("1.0.0");
    let c = lines.next().unwrap_or("2.0.0");
    for s in [a, b, c] {
        let _ = scheme.is_valid_version(s);
        let _ = scheme.is_valid_range(s);
        let _ = scheme.is_prerelease(s);
        let _ = scheme.pinned_version(s);
    }
    let _ = scheme.compare(a, b);
    let _ = scheme.compare(b, c);
    let _ = scheme.satisfies(a, b);
    let _ = scheme.satisfies(a, c);
    let _ = scheme.is_compatible(b, c);
    let _ = scheme.update_type(b, c);
    for strategy in [
        RangeStrategy::Auto,
        RangeStrategy::Increase,
        RangeStrategy::IncreaseIfNecessary,
        RangeStrategy::LockfileOnly,
        RangeStrategy::Widen,
        RangeStrategy::Pin,
    ] {
        let _ = scheme.new_range(RangeRequest {
            current_value: a,
            current_version: Some(b),
            new_version: c,
            strategy,
        });
    }
    let mut versions: Vec<String> = content.split('\n').take(64).map(str::to_string).collect();
    updatebot_core::version::sort_versions(scheme, &mut versions);
}

pub fn pep440(data: &[u8]) {
    scheme(&updatebot_python::pep440::Pep440, data);
}

pub fn poetry(data: &[u8]) {
    scheme(&updatebot_python::poetry::Poetry, data);
}

pub fn npm_spec(data: &[u8]) {
    if let Some(content) = text(data) {
        for line in content.split('\n').take(8) {
            let _ = updatebot_npm::spec::classify(line);
        }
    }
    scheme(&updatebot_npm::Npm, data);
}

pub fn docker_tag(data: &[u8]) {
    if let Some(content) = text(data) {
        for line in content.split('\n').take(8) {
            if let Ok(reference) = updatebot_container::reference::parse(line) {
                let _ = reference.to_string();
            }
        }
    }
    scheme(&updatebot_container::Docker, data);
}

fn page() -> url::Url {
    url::Url::parse("http://127.0.0.1:3141/root/pypi/+simple/requests/").expect("a valid URL")
}

pub fn pypi_simple_json(data: &[u8]) {
    if let Ok(files) = updatebot_python::index::parse_simple_json(data, &page()) {
        let _ = updatebot_python::index::group_files("requests", files);
    }
}

pub fn pypi_simple_html(data: &[u8]) {
    let Some(content) = text(data) else { return };
    if let Ok(files) = updatebot_python::index::parse_simple_html(content, &page()) {
        let _ = updatebot_python::index::group_files("requests", files);
    }
}

pub fn pypi_json_api(data: &[u8]) {
    let _ = updatebot_python::index::parse_json_api("requests", data);
}

pub fn npm_packument(data: &[u8]) {
    let _ = updatebot_npm::registry::parse_packument("left-pad", "http://127.0.0.1:4873", data);
}

/// OCI registry answers: a tag list page, its `Link` header, an auth challenge, a digest.
pub fn oci_answers(data: &[u8]) {
    let _ = updatebot_container::registry::decode_tag_list(data);
    if let Some(content) = text(data) {
        let _ = updatebot_container::registry::next_link(content);
        let _ = updatebot_container::registry::parse_challenge(content);
        let _ = updatebot_container::reference::parse(&format!("x:1@{content}"));
    }
}

/// A Helm chart repository's `index.yaml`, and the chart versions in it.
pub fn helm_index(data: &[u8]) {
    let Some(content) = text(data) else {
        return;
    };
    if let Ok(index) = updatebot_container::helm_repo::parse_index(content) {
        let scheme = updatebot_container::helm_version::Helm::CHART;
        for chart in index.values() {
            for release in &chart.releases {
                let _ = scheme.compare(&release.version, "1.0.0");
                let _ = scheme.satisfies(&release.version, "1.0.0");
            }
        }
    }
}

//! `.gitlab-ci.yml` and the files it includes: `image:` and `services:` (strings or `name:`
//! maps) of jobs, hidden jobs, `default:` and the old top-level keys.
//!
//! Variables in an image (`$IMAGE`, `$REGISTRY/app:$TAG`, `python:${PY_VERSION}-slim`) are
//! expanded from the file's `variables:`: the top-level (global) ones, overridden by the
//! job's own, each a plain value or a `{value: …, description: …}` map, and values may use
//! other variables. As for a Dockerfile `ARG` default, the tag is then edited where the
//! variable's value is written, so the variable stays. A reference that names a variable the
//! file does not define (CI/CD settings, `$CI_REGISTRY_IMAGE`) is listed under its text as
//! written and skipped as `variable`.

use crate::image::{dependency, Located};
use crate::vars::{expand, Scope};
use crate::yaml::Node;
use crate::yaml_managers::{file_name, is_yaml, parse, scalar_image};
use std::collections::BTreeSet;
use updatebot_core::{Dependency, Ecosystem, Manager, ManifestError, PackageFile, Span};

pub struct GitlabCi;

/// Top-level keys of `.gitlab-ci.yml` that are not jobs.
const CI_KEYWORDS: &[&str] = &[
    "include",
    "stages",
    "variables",
    "workflow",
    "spec",
    "cache",
    "before_script",
    "after_script",
];

/// Rounds of expanding variables that use other variables.
const EXPANSION_ROUNDS: usize = 8;

/// Variables declared in a `variables:` block, in order: name → value with the file offsets
/// of its text (`None` offsets where the value is not written verbatim).
fn declared(block: Option<&Node>) -> Vec<(String, Located)> {
    let Some(block) = block else {
        return Vec::new();
    };
    block
        .entries()
        .iter()
        .filter_map(|(key, value)| {
            let name = key.as_str()?.trim().to_string();
            let node = match value {
                Node::Map(_) => value.get("value")?,
                other => other,
            };
            let Node::Scalar { value, span, .. } = node else {
                return None;
            };
            let located = match span {
                Some(s) => Located::at(value, s.start),
                None => Located {
                    text: value.clone(),
                    sources: vec![None; value.len()],
                },
            };
            Some((name, located))
        })
        .collect()
}

/// The scope of `declared` (later declarations win), with values that use other variables
/// expanded; a value that uses a variable not declared here stays unknown.
fn scope_of(declared: &[(String, Located)]) -> Scope {
    let mut raw: Vec<(String, Located)> = Vec::new();
    for (name, value) in declared {
        raw.retain(|(n, _)| n != name);
        raw.push((name.clone(), value.clone()));
    }
    let mut scope = Scope::new();
    for _ in 0..EXPANSION_ROUNDS {
        let mut progress = false;
        for (name, value) in &raw {
            if scope.contains_key(name) {
                continue;
            }
            if let Some(expanded) = expand(value, &scope, 0) {
                scope.insert(name.clone(), Some(expanded));
                progress = true;
            }
        }
        if !progress {
            break;
        }
    }
    scope
}

/// The dependency for an image named by a YAML scalar, its variables expanded with `scope`.
fn ci_image(node: &Node, scope: &Scope, dep_type: &str) -> Option<Dependency> {
    let Node::Scalar { value, span, .. } = node else {
        return None;
    };
    let text = value.trim();
    if !text.contains('$') {
        return scalar_image(node, dep_type);
    }
    let located = match span {
        Some(s) if text == value => Located::at(value, s.start),
        _ => Located {
            text: text.to_string(),
            sources: vec![None; text.len()],
        },
    };
    // Unknown variables: the reference as written names them.
    let expanded = expand(&located, scope, 0).filter(|e| !e.text.contains('$'));
    Some(dependency(text, expanded.as_ref(), dep_type))
}

impl GitlabCi {
    fn job_images(job: &Node, scope: &Scope, out: &mut Vec<Dependency>) {
        if let Some(image) = job.get("image") {
            let node = match image {
                Node::Map(_) => image.get("name"),
                other => Some(other),
            };
            if let Some(dep) = node.and_then(|n| ci_image(n, scope, "image")) {
                out.push(dep);
            }
        }
        for service in job.get("services").map(Node::items).unwrap_or_default() {
            let node = match service {
                Node::Map(_) => service.get("name"),
                other => Some(other),
            };
            if let Some(dep) = node.and_then(|n| ci_image(n, scope, "service")) {
                out.push(dep);
            }
        }
    }

    /// `include:` entries that are files of this repository, relative to the manifest's
    /// directory (GitLab reads `local:` includes from the repository root).
    fn includes(path: &str, include: &Node) -> Vec<String> {
        let mut locals = Vec::new();
        let mut add = |text: &str| {
            let text = text.trim();
            if text.is_empty() || text.contains("://") || text.contains('*') || text.contains('$') {
                return;
            }
            locals.push(text.trim_start_matches('/').to_string());
        };
        let entries: Vec<&Node> = match include {
            Node::Seq(items) => items.iter().collect(),
            other => vec![other],
        };
        for entry in entries {
            match entry {
                Node::Scalar { value, .. } => add(value),
                Node::Map(_) => {
                    if let Some(local) = entry.get("local").and_then(Node::as_str) {
                        add(local);
                    }
                }
                _ => {}
            }
        }
        let depth = path.matches('/').count();
        locals
            .into_iter()
            .map(|p| format!("{}{p}", "../".repeat(depth)))
            .collect()
    }

    /// Whether a YAML document is shaped like GitLab CI configuration: `stages:`,
    /// `include:`, or a job with a `script:`.
    pub(crate) fn looks_like_ci(doc: &Node) -> bool {
        doc.get("stages").is_some()
            || doc.get("include").is_some()
            || doc
                .entries()
                .iter()
                .any(|(_, v)| v.get("script").is_some() || v.get("extends").is_some())
    }

    pub(crate) fn extract_doc(path: &str, doc: &Node, file: &mut PackageFile) {
        let globals = declared(doc.get("variables"));
        let global_scope = scope_of(&globals);
        let mut deps = Vec::new();
        // Old-style global `image:`/`services:`.
        Self::job_images(doc, &global_scope, &mut deps);
        for (key, value) in doc.entries() {
            let Some(key) = key.as_str() else { continue };
            if key == "include" {
                file.includes.extend(Self::includes(path, value));
                continue;
            }
            if CI_KEYWORDS.contains(&key) || key == "image" || key == "services" {
                continue;
            }
            if !matches!(value, Node::Map(_)) {
                continue;
            }
            // Jobs and hidden jobs (templates) with their own variables; `default:` has none.
            let own = declared(value.get("variables"));
            if own.is_empty() {
                Self::job_images(value, &global_scope, &mut deps);
            } else {
                let mut all = globals.clone();
                all.extend(own);
                Self::job_images(value, &scope_of(&all), &mut deps);
            }
        }
        // One image read through one variable in several jobs is one value to edit.
        let mut seen: BTreeSet<(Span, String, String)> = BTreeSet::new();
        for dep in deps {
            if let Some(span) = dep.span {
                let key = (span, dep.package_name.clone(), dep.current_value.clone());
                if !seen.insert(key) {
                    continue;
                }
            }
            file.dependencies.push(dep);
        }
    }
}

impl Manager for GitlabCi {
    fn name(&self) -> &'static str {
        "gitlab-ci"
    }
    fn ecosystem(&self) -> Ecosystem {
        Ecosystem::Docker
    }
    /// `.gitlab-ci.yml`, `*.gitlab-ci.yml`, and YAML under `.gitlab/` or a `ci/` folder
    /// with `gitlab` in its path (where included CI files usually live). Other included
    /// files are read when an `include:` names them.
    fn matches(&self, path: &str) -> bool {
        let name = file_name(path);
        if !is_yaml(path) {
            return false;
        }
        let lower = path.to_ascii_lowercase();
        name == ".gitlab-ci.yml"
            || name == ".gitlab-ci.yaml"
            || name.ends_with(".gitlab-ci.yml")
            || name.ends_with(".gitlab-ci.yaml")
            || lower.starts_with(".gitlab/ci/")
            || (lower.starts_with("ci/") && lower.contains("gitlab"))
    }
    fn extract(&self, path: &str, content: &str) -> Result<PackageFile, ManifestError> {
        let mut file = PackageFile::default();
        for doc in parse(path, content)? {
            Self::extract_doc(path, &doc, &mut file);
        }
        Ok(file)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use updatebot_core::edit::{edit_values, EditError, ValueEdit};
    use updatebot_core::SkipReason;

    type Row = (String, String, String, Option<SkipReason>);

    fn summary(path: &str, text: &str) -> Vec<Row> {
        GitlabCi
            .extract(path, text)
            .unwrap()
            .dependencies
            .into_iter()
            .map(|d| {
                let at = d
                    .span
                    .and_then(|s| s.slice(text))
                    .unwrap_or_default()
                    .to_string();
                (d.name, d.current_value, at, d.skip_reason)
            })
            .collect()
    }

    fn edit(text: &str, edits: &[(usize, &str)]) -> Result<String, EditError> {
        let edits: Vec<ValueEdit> = edits
            .iter()
            .map(|(index, v)| ValueEdit {
                index: *index,
                new_value: v.to_string(),
            })
            .collect();
        edit_values(&GitlabCi, ".gitlab-ci.yml", text, &edits)
    }

    #[test]
    fn images_services_and_includes() {
        let text = "include:\n  - local: /ci/images.yml\n  - remote: https://example.org/x.yml\n  - 'other.yml'\n  - project: a/b\n    file: c.yml\nvariables:\n  X: 1\nimage: python:3.12\n.base: &base\n  image:\n    name: node:20.11.1\n    entrypoint: [\"\"]\ntest:\n  <<: *base\n  services:\n    - postgres:16.1\n    - name: redis:7.2.4\n      alias: cache\n  script: [true]\nlint:\n  image: $LINT_IMAGE\n";
        let file = GitlabCi.extract("sub/.gitlab-ci.yml", text).unwrap();
        assert_eq!(file.includes, ["../ci/images.yml", "../other.yml"]);
        let d = summary("sub/.gitlab-ci.yml", text);
        let names: Vec<_> = d.iter().map(|x| x.0.as_str()).collect();
        assert_eq!(
            names,
            ["python", "node", "postgres", "redis", "$LINT_IMAGE"]
        );
        assert_eq!(d[3].2, "7.2.4");
        assert_eq!(d[4].3, Some(SkipReason::Variable));
        assert!(GitlabCi.matches(".gitlab/ci/build.gitlab-ci.yml"));
        assert!(GitlabCi.matches("ci/gitlab/builds.yml"));
        assert!(!GitlabCi.matches("deploy/app.yaml"));
    }

    #[test]
    fn global_and_job_variables_resolve_and_edit_the_value() {
        let text = "variables:\n  REGISTRY: 127.0.0.1:5000/team\n  TAG: \"1.0\"  # app tag\n  PY_VERSION:\n    value: '3.12'\n    description: Python of the jobs\n  IMAGE: $REGISTRY/app:$TAG\ndefault:\n  image: python:${PY_VERSION}-slim\nbuild:\n  image: $IMAGE\n  script: [make]\nold:\n  variables:\n    TAG: \"0.9\"\n  image:\n    name: ${REGISTRY}/app:${TAG}\n  services:\n    - name: $REGISTRY/db:$TAG\n  script: [make]\nci:\n  image: $CI_REGISTRY_IMAGE/app:$TAG\n  script: [make]\n";
        let d = summary(".gitlab-ci.yml", text);
        let rows: Vec<(&str, &str, &str)> = d
            .iter()
            .map(|r| (r.0.as_str(), r.1.as_str(), r.2.as_str()))
            .collect();
        assert_eq!(
            rows,
            [
                ("python", "3.12-slim", "3.12"),
                ("127.0.0.1:5000/team/app", "1.0", "1.0"),
                ("127.0.0.1:5000/team/app", "0.9", "0.9"),
                ("127.0.0.1:5000/team/db", "0.9", "0.9"),
                ("$CI_REGISTRY_IMAGE/app:$TAG", "", ""),
            ]
        );
        assert!(d[..4].iter().all(|r| r.3.is_none()), "{d:?}");
        assert_eq!(d[4].3, Some(SkipReason::Variable));
        // The variable's value moves; the image lines stay as written.
        let out = edit(text, &[(0, "3.13-slim"), (1, "2.0")]).unwrap();
        assert_eq!(
            out,
            text.replace("'3.12'", "'3.13'")
                .replace("TAG: \"1.0\"", "TAG: \"2.0\"")
        );
        // `-slim` is written beside the variable: an update must keep it.
        let e = edit(text, &[(0, "3.13-alpine")]).unwrap_err();
        assert!(e.to_string().contains("`…-slim`"), "{e}");
        // Two images of one job read one variable: it moves once, and both follow.
        let out = edit(text, &[(2, "1.0"), (3, "1.0")]).unwrap();
        assert!(out.contains("    TAG: \"1.0\"\n  image:"), "{out}");
        let out = edit(text, &[(2, "1.0")]).unwrap();
        assert!(out.contains("    TAG: \"1.0\"\n  image:"), "{out}");
        // …but not to two values at once.
        assert!(edit(text, &[(2, "1.0"), (3, "1.1")]).is_err());
    }

    #[test]
    fn one_variable_used_by_two_jobs_is_one_dependency() {
        let text = "variables:\n  NODE: node:20.11.1\na:\n  image: $NODE\n  script: [x]\nb:\n  image: ${NODE}\n  script: [y]\n";
        let d = summary(".gitlab-ci.yml", text);
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!(d[0].2, "20.11.1");
    }

    #[test]
    fn doubling_variables_stop_at_a_bound() {
        let mut text = String::from("variables:\n  V0: x\n");
        for i in 1..40 {
            text.push_str(&format!("  V{i}: $V{p}$V{p}\n", p = i - 1));
        }
        text.push_str("j:\n  image: app:$V39\n  script: [x]\n");
        let d = summary(".gitlab-ci.yml", &text);
        assert_eq!(d[0].3, Some(SkipReason::Variable));
    }

    #[test]
    fn unknown_and_circular_variables_are_skipped_by_name() {
        let text = "variables:\n  A: $B\n  B: $A\n  C: $CI_COMMIT_TAG\nx:\n  image: $A\n  services: [\"redis:$C\", \"${UNSET:-redis:7.2.4}\"]\n  script: [x]\n";
        let d = summary(".gitlab-ci.yml", text);
        let names: Vec<_> = d.iter().map(|x| x.0.as_str()).collect();
        assert_eq!(names, ["$A", "redis:$C", "redis"]);
        assert_eq!(d[0].3, Some(SkipReason::Variable));
        assert_eq!(d[1].3, Some(SkipReason::Variable));
        assert_eq!(d[2].2, "7.2.4");
    }
}

//! Hash-pinned requirements files (`pkg==1.0 --hash=sha256:…`): the lock lives in the
//! manifest. After the pin moves, the hashes are replaced by those of every file of the new
//! release, in the line's own layout.

use crate::requirement::{normalize_name, parse_requirement};
use crate::requirements::{hash_options, is_requirements_path, logical_lines, requirement_end};
use async_trait::async_trait;
use std::collections::BTreeSet;
use std::str::FromStr;
use updatebot_core::edit::{apply_replacements, Replacement};
use updatebot_core::{LockError, LockRequest, LockfileUpdater};

pub const UPDATER: &str = "requirements-hashes";

#[derive(Clone, Copy, Debug, Default)]
pub struct RequirementHashes;

fn failed(path: &str, reason: impl Into<String>) -> LockError {
    LockError::Failed {
        lockfile: path.to_string(),
        reason: reason.into(),
    }
}

/// Rewrite the hashes of the lines pinning `package` to `version` in `content`.
pub fn rewrite_hashes(
    path: &str,
    content: &str,
    package: &str,
    version: &str,
    release_hashes: &dyn Fn(&str) -> Result<Vec<String>, String>,
) -> Result<String, LockError> {
    let mut replacements = Vec::new();
    let mut seen_line = false;
    for line in logical_lines(content) {
        let text = &line.text;
        let req_text = text[..requirement_end(text)].trim();
        if req_text.is_empty() || req_text.starts_with('-') {
            continue;
        }
        let Ok(parsed) = parse_requirement(req_text) else {
            continue;
        };
        if normalize_name(&parsed.name) != package {
            continue;
        }
        let hashes = hash_options(text);
        if hashes.is_empty() {
            continue;
        }
        // `==1.17` pins 1.17.0: compare as PEP 440 versions, not as text.
        let wanted = pep440_rs::Version::from_str(version).ok();
        let pinned = parsed
            .specifier
            .as_ref()
            .and_then(|(s, _, _)| {
                pep440_rs::Version::from_str(s.trim_start_matches("==").trim()).ok()
            })
            .is_some_and(|v| Some(v) == wanted);
        if !pinned {
            continue;
        }
        seen_line = true;
        let algorithm = hashes[0]
            .2
            .split_once(':')
            .map(|(a, _)| a.to_string())
            .ok_or_else(|| {
                failed(
                    path,
                    format!("line {}: malformed `--hash={}`", line.line, hashes[0].2),
                )
            })?;
        let digests = release_hashes(&algorithm).map_err(|r| failed(path, r))?;
        let spans: Vec<_> = hashes
            .iter()
            .map(|(a, b, _)| line.file_span(*a, *b))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| {
                failed(
                    path,
                    format!(
                        "line {}: a `--hash` option is split across lines",
                        line.line
                    ),
                )
            })?;
        let first = spans[0];
        let last = spans[spans.len() - 1];
        // Keep the line's layout: the text between the first two hashes separates them all.
        let separator = if spans.len() >= 2 {
            content[spans[0].end..spans[1].start].to_string()
        } else {
            let before = &content[line.start..first.start];
            match before.rfind('\n') {
                Some(newline) => {
                    let indent = &before[newline + 1..];
                    let tail = &before[..newline];
                    let continuation = tail.len() - tail.trim_end_matches(['\r', '\\', ' ']).len();
                    format!("{}\n{indent}", &tail[tail.len() - continuation..])
                }
                None => " ".to_string(),
            }
        };
        let text = digests
            .iter()
            .map(|d| format!("--hash={algorithm}:{d}"))
            .collect::<Vec<_>>()
            .join(&separator);
        replacements.push(Replacement {
            span: updatebot_core::Span::new(first.start, last.end),
            text,
        });
    }
    if !seen_line {
        return Err(failed(
            path,
            format!("no hashed line pins `{package}` to `{version}` after the edit"),
        ));
    }
    apply_replacements(path, content, &replacements).map_err(|e| failed(path, e.to_string()))
}

#[async_trait]
impl LockfileUpdater for RequirementHashes {
    fn name(&self) -> &'static str {
        UPDATER
    }

    fn lockfile_for(
        &self,
        manifest_path: &str,
        manifest: &str,
        _repo_files: &[String],
    ) -> Option<String> {
        (is_requirements_path(manifest_path)
            && logical_lines(manifest)
                .iter()
                .any(|l| !hash_options(&l.text).is_empty()))
        .then(|| manifest_path.to_string())
    }

    async fn update(&self, request: LockRequest<'_>) -> Result<String, LockError> {
        let mut content = request.lock_content.to_string();
        for update in request.updates {
            let release = update.release;
            let hashes = |algorithm: &str| -> Result<Vec<String>, String> {
                if release.files.is_empty() {
                    return Err(format!(
                        "the index lists no files for {} {}",
                        update.dependency.name, update.new_version
                    ));
                }
                let mut out = BTreeSet::new();
                for file in &release.files {
                    let digest = file.hashes.get(algorithm).ok_or_else(|| {
                        format!(
                            "the index gives no {algorithm} hash for `{}`",
                            file.filename
                        )
                    })?;
                    out.insert(digest.clone());
                }
                Ok(out.into_iter().collect())
            };
            let uses_hashes = logical_lines(&content).iter().any(|l| {
                let t = &l.text;
                !hash_options(t).is_empty()
                    && parse_requirement(t[..requirement_end(t)].trim())
                        .map(|p| normalize_name(&p.name) == update.dependency.package_name)
                        .unwrap_or(false)
            });
            if !uses_hashes {
                continue;
            }
            content = rewrite_hashes(
                request.lock_path,
                &content,
                &update.dependency.package_name,
                update.new_version,
                &hashes,
            )?;
        }
        Ok(content)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn two(_: &str) -> Result<Vec<String>, String> {
        Ok(vec!["1111".into(), "2222".into()])
    }

    #[test]
    fn multi_line_layout_is_kept() {
        let text = "six==1.17.0 \\\n    --hash=sha256:aaaa \\\n    --hash=sha256:bbbb \\\n    --hash=sha256:cccc\n    # via -r requirements.in\nidna==3.7 --hash=sha256:dddd\n";
        let out = rewrite_hashes("r.txt", text, "six", "1.17.0", &two).unwrap();
        assert_eq!(
            out,
            "six==1.17.0 \\\n    --hash=sha256:1111 \\\n    --hash=sha256:2222\n    # via -r requirements.in\nidna==3.7 --hash=sha256:dddd\n"
        );
    }

    #[test]
    fn single_hash_on_a_continuation_line_grows_in_the_same_layout() {
        let text = "six==1.17.0 \\\r\n    --hash=sha256:aaaa\r\n";
        let out = rewrite_hashes("r.txt", text, "six", "1.17.0", &two).unwrap();
        assert_eq!(
            out,
            "six==1.17.0 \\\r\n    --hash=sha256:1111 \\\r\n    --hash=sha256:2222\r\n"
        );
    }

    #[test]
    fn single_line_hashes_stay_on_one_line() {
        let text = "idna==3.10 --hash=sha256:dddd  # pinned\n";
        let out = rewrite_hashes("r.txt", text, "idna", "3.10", &two).unwrap();
        assert_eq!(
            out,
            "idna==3.10 --hash=sha256:1111 --hash=sha256:2222  # pinned\n"
        );
    }

    #[test]
    fn a_shortened_pin_is_found() {
        let text = "six==1.17 \\\n    --hash=sha256:aaaa\n";
        let out = rewrite_hashes("r.txt", text, "six", "1.17.0", &two).unwrap();
        assert!(out.contains("--hash=sha256:1111"), "{out}");
    }

    #[test]
    fn a_missing_line_is_an_error() {
        let err =
            rewrite_hashes("r.txt", "six==1.0 --hash=sha256:a\n", "six", "2.0", &two).unwrap_err();
        assert!(
            err.to_string()
                .contains("no hashed line pins `six` to `2.0`"),
            "{err}"
        );
    }
}

//! `Dockerfile`, `Containerfile` and `*.Dockerfile`: images in `FROM`, `COPY --from=` and
//! `RUN --mount=…,from=`, with `ARG` defaults expanded the way BuildKit does.
//!
//! Read as Docker's own parser reads it: a byte-order mark, parser directives (`# escape=`),
//! CRLF or LF, line continuations (with comment lines inside them), heredocs (skipped), and
//! instructions in any case. Stage names (`FROM … AS build`) and stage numbers are not images.
//! When the tag of an image comes from an `ARG` default (`ARG TAG=1.25`, `FROM nginx:$TAG`),
//! the span is the default's text; in `${TAG:-1.25}` with no default for `TAG`, it is the
//! text after `:-`.

use crate::image::{dependency, Located};
use crate::vars::{expand, slice, Scope};
use std::collections::{BTreeMap, BTreeSet};
use updatebot_core::{Ecosystem, Manager, ManifestError, PackageFile};

pub const MANAGER: &str = "dockerfile";

pub struct Dockerfile;

/// Whether `path` names a Dockerfile: `Dockerfile`, `Containerfile`, `Dockerfile.dev`,
/// `app.Dockerfile`, `Dockerfile-alpine` (not `Dockerfile.template`-style templates that are
/// not Dockerfiles? they are: their `FROM` lines are read like any other).
pub fn is_dockerfile(path: &str) -> bool {
    let file = path.rsplit('/').next().unwrap_or(path);
    let lower = file.to_ascii_lowercase();
    if lower.ends_with(".dockerignore") {
        return false;
    }
    lower == "dockerfile"
        || lower == "containerfile"
        || lower.starts_with("dockerfile.")
        || lower.starts_with("dockerfile-")
        || lower.starts_with("containerfile.")
        || lower.ends_with(".dockerfile")
        || lower.ends_with(".containerfile")
}

impl Manager for Dockerfile {
    fn name(&self) -> &'static str {
        MANAGER
    }

    fn ecosystem(&self) -> Ecosystem {
        Ecosystem::Docker
    }

    fn matches(&self, path: &str) -> bool {
        is_dockerfile(path)
    }

    fn extract(&self, path: &str, content: &str) -> Result<PackageFile, ManifestError> {
        extract(path, content)
    }
}

/// One instruction with its text joined over continuation lines; `sources[i]` is the file
/// offset of `text`'s byte `i`.
struct Instruction {
    line: usize,
    text: Located,
}

/// Splits the file into instructions (comments, blank lines and heredoc bodies dropped).
fn instructions(content: &str) -> Vec<Instruction> {
    let bom = if content.starts_with('\u{feff}') {
        3
    } else {
        0
    };
    let mut lines: Vec<(usize, &str)> = Vec::new();
    let mut offset = bom;
    for raw in content[bom..].split_inclusive('\n') {
        let line = raw
            .strip_suffix('\n')
            .map(|l| l.strip_suffix('\r').unwrap_or(l))
            .unwrap_or(raw);
        lines.push((offset, line));
        offset += raw.len();
    }
    // Parser directives: `# key=value` lines at the very top.
    let mut escape = '\\';
    let mut first = 0;
    for (_, line) in &lines {
        let trimmed = line.trim();
        let Some(body) = trimmed.strip_prefix('#') else {
            break;
        };
        let Some((key, value)) = body.split_once('=') else {
            break;
        };
        let key = key.trim().to_ascii_lowercase();
        if key.is_empty() || key.contains(char::is_whitespace) {
            break;
        }
        if key == "escape" {
            match value.trim() {
                "`" => escape = '`',
                "\\" => escape = '\\',
                _ => {}
            }
        }
        first += 1;
    }
    let mut out = Vec::new();
    let mut i = first;
    while i < lines.len() {
        let (start, line) = lines[i];
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            i += 1;
            continue;
        }
        let line_no = i + 1;
        let mut text = Located::default();
        let mut current = (start, line);
        loop {
            let (off, l) = current;
            let body = l.trim_end();
            match body.strip_suffix(escape) {
                // Docker's own rule: the escape character at the end of a line (trailing
                // blanks aside) continues it, however many precede it.
                Some(head) => {
                    text.push_str(head, Some(off));
                    i += 1;
                    // Skip comment and empty lines inside the continuation.
                    while i < lines.len() {
                        let t = lines[i].1.trim_start();
                        if t.starts_with('#') || t.trim().is_empty() {
                            i += 1;
                        } else {
                            break;
                        }
                    }
                    if i >= lines.len() {
                        break;
                    }
                    current = lines[i];
                }
                _ => {
                    text.push_str(l, Some(off));
                    i += 1;
                    break;
                }
            }
        }
        // Heredocs (`<<EOF`, `<<-EOF`, `<<"EOF"`): their bodies are not instructions.
        for (delimiter, strip_tabs) in heredoc_delimiters(&text.text) {
            while i < lines.len() {
                let l = lines[i].1;
                i += 1;
                let candidate = if strip_tabs {
                    l.trim_start_matches('\t')
                } else {
                    l
                };
                if candidate == delimiter {
                    break;
                }
            }
        }
        out.push(Instruction {
            line: line_no,
            text,
        });
    }
    out
}

fn heredoc_delimiters(text: &str) -> Vec<(String, bool)> {
    let keyword = text
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_ascii_uppercase();
    if !matches!(keyword.as_str(), "RUN" | "COPY" | "ADD") {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("<<") {
        rest = &rest[at + 2..];
        let strip = rest.starts_with('-');
        let word = rest.trim_start_matches('-');
        let word = word
            .split(|c: char| c.is_whitespace() || c == '>' || c == '|' || c == ';' || c == '&')
            .next()
            .unwrap_or_default();
        let delimiter = word.trim_matches(['"', '\'']);
        if !delimiter.is_empty()
            && delimiter
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            out.push((delimiter.to_string(), strip));
        }
    }
    out
}

/// Splits an instruction's text into words at unquoted whitespace, each word keeping its
/// source offsets (quotes included: callers strip them where the syntax allows quotes).
fn words(text: &Located) -> Vec<Located> {
    let mut out = Vec::new();
    let mut current: Option<Located> = None;
    let mut quote: Option<char> = None;
    for (i, c) in text.text.char_indices() {
        if quote.is_none() && c.is_whitespace() {
            if let Some(w) = current.take() {
                out.push(w);
            }
            continue;
        }
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            _ => {}
        }
        let w = current.get_or_insert_with(Located::default);
        w.text.push(c);
        for k in 0..c.len_utf8() {
            w.sources.push(text.sources.get(i + k).copied().flatten());
        }
    }
    if let Some(w) = current {
        out.push(w);
    }
    out
}

/// Strips one pair of surrounding quotes.
fn unquote(word: &Located) -> Located {
    let t = &word.text;
    if t.len() >= 2
        && ((t.starts_with('"') && t.ends_with('"')) || (t.starts_with('\'') && t.ends_with('\'')))
    {
        slice(word, 1, t.len() - 1)
    } else {
        word.clone()
    }
}

/// `ARG A=1 B="x y" C`: declarations in order, values with their source offsets.
fn arg_declarations(args: &[Located], scope: &Scope) -> Vec<(String, Option<Located>)> {
    args.iter()
        .filter_map(|word| match word.text.split_once('=') {
            Some((name, _)) => {
                let value = unquote(&slice(word, name.len() + 1, word.text.len()));
                // An ARG default may use earlier ARGs.
                let value = expand(&value, scope, 0);
                Some((name.to_string(), value))
            }
            None if !word.text.is_empty() => Some((word.text.clone(), None)),
            None => None,
        })
        .collect()
}

pub fn extract(path: &str, content: &str) -> Result<PackageFile, ManifestError> {
    let mut file = PackageFile::default();
    let mut global: Scope = BTreeMap::new();
    let mut stage: Option<Scope> = None;
    let mut stages: BTreeSet<String> = BTreeSet::new();
    let mut stage_count = 0usize;
    let mut seen_spans = BTreeSet::new();
    let mut push = |dep: updatebot_core::Dependency, file: &mut PackageFile| {
        if let Some(span) = dep.span {
            // One image read through one ARG default in several stages is one value to
            // edit; different images reading it are kept (the check moves it only when they
            // agree).
            let key = (span, dep.package_name.clone(), dep.current_value.clone());
            if !seen_spans.insert(key) {
                return;
            }
        }
        file.dependencies.push(dep);
    };
    for instruction in instructions(content) {
        let all = words(&instruction.text);
        let Some(keyword) = all.first() else { continue };
        let keyword = keyword.text.to_ascii_uppercase();
        let args = &all[1..];
        match keyword.as_str() {
            "ARG" => {
                let scope_now = stage.clone().unwrap_or_else(|| global.clone());
                for (name, value) in arg_declarations(args, &scope_now) {
                    match &mut stage {
                        None => {
                            global.insert(name, value);
                        }
                        Some(scope) => {
                            // `ARG NAME` in a stage takes the global default.
                            let value = value.or_else(|| global.get(&name).cloned().flatten());
                            scope.insert(name, value);
                        }
                    }
                }
            }
            "FROM" => {
                let mut rest = args.iter().skip_while(|w| w.text.starts_with("--"));
                let Some(image) = rest.next() else {
                    return Err(ManifestError::new(
                        path,
                        Some(instruction.line),
                        "FROM without an image",
                    ));
                };
                let alias = match (rest.next(), rest.next()) {
                    (Some(as_word), Some(name)) if as_word.text.eq_ignore_ascii_case("as") => {
                        Some(name.text.to_ascii_lowercase())
                    }
                    _ => None,
                };
                let expanded = expand(image, &global, 0);
                let is_stage_or_scratch = expanded.as_ref().is_some_and(|e| {
                    let lower = e.text.to_ascii_lowercase();
                    lower == "scratch" || stages.contains(&lower)
                });
                if !is_stage_or_scratch {
                    push(
                        dependency(&image.text, expanded.as_ref(), "from"),
                        &mut file,
                    );
                }
                if let Some(alias) = alias {
                    stages.insert(alias);
                }
                stage_count += 1;
                stage = Some(Scope::new());
            }
            "COPY" | "ADD" => {
                let scope = merged(&global, stage.as_ref());
                for flag in args.iter().take_while(|w| w.text.starts_with("--")) {
                    let Some(value) = flag_value(flag, "--from=") else {
                        continue;
                    };
                    if let Some(d) =
                        image_or_stage(value, &scope, &stages, stage_count, "copy-from")
                    {
                        push(d, &mut file);
                    }
                }
            }
            "RUN" => {
                let scope = merged(&global, stage.as_ref());
                for flag in args.iter().take_while(|w| w.text.starts_with("--")) {
                    let Some(mount) = flag_value(flag, "--mount=") else {
                        continue;
                    };
                    // `type=bind,from=image,source=/x,target=/y`
                    let mut at = 0;
                    for option in mount.text.split(',') {
                        let start = at;
                        at += option.len() + 1;
                        if let Some(v) = option.strip_prefix("from=") {
                            let value = slice(&mount, start + 5, start + 5 + v.len());
                            if let Some(d) =
                                image_or_stage(value, &scope, &stages, stage_count, "mount-from")
                            {
                                push(d, &mut file);
                            }
                        }
                    }
                }
            }
            _ => {}
        }
    }
    Ok(file)
}

fn merged(global: &Scope, stage: Option<&Scope>) -> Scope {
    // Inside a stage only the ARGs declared there are in scope.
    match stage {
        Some(s) => s.clone(),
        None => global.clone(),
    }
}

fn flag_value(flag: &Located, prefix: &str) -> Option<Located> {
    flag.text
        .get(..prefix.len())
        .filter(|p| p.eq_ignore_ascii_case(prefix))?;
    Some(unquote(&slice(flag, prefix.len(), flag.text.len())))
}

/// The dependency for a `--from` value, unless it names a stage (by name or number).
fn image_or_stage(
    value: Located,
    scope: &Scope,
    stages: &BTreeSet<String>,
    stage_count: usize,
    dep_type: &str,
) -> Option<updatebot_core::Dependency> {
    let expanded = expand(&value, scope, 0);
    if let Some(e) = &expanded {
        let lower = e.text.to_ascii_lowercase();
        if stages.contains(&lower) || lower == "scratch" {
            return None;
        }
        if let Ok(n) = lower.parse::<usize>() {
            if n < stage_count.max(1) {
                return None;
            }
        }
    }
    Some(dependency(&value.text, expanded.as_ref(), dep_type))
}

#[cfg(test)]
mod tests {
    use super::*;
    use updatebot_core::edit::{edit_values, ValueEdit};
    use updatebot_core::SkipReason;

    fn deps(text: &str) -> Vec<(String, String, String, Option<SkipReason>)> {
        extract("Dockerfile", text)
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

    fn names(text: &str) -> Vec<String> {
        deps(text).into_iter().map(|d| d.0).collect()
    }

    #[test]
    fn file_names() {
        for yes in [
            "Dockerfile",
            "a/b/Dockerfile",
            "Containerfile",
            "ci/debian-12.Dockerfile",
            "Dockerfile.dev",
            "Dockerfile-alpine.template",
        ] {
            assert!(is_dockerfile(yes), "{yes}");
        }
        for no in [
            "Dockerfile.dockerignore",
            ".dockerignore",
            "docker-compose.yml",
            "Dockerfiles/x",
        ] {
            assert!(!is_dockerfile(no), "{no}");
        }
    }

    #[test]
    fn multi_stage_with_platform_aliases_and_stage_references() {
        let text = "FROM --platform=$BUILDPLATFORM golang:1.22-alpine AS build\n\
                    RUN go build\n\
                    from build AS test\n\
                    FROM scratch\n\
                    COPY --from=build /app /app\n\
                    COPY --from=0 /x /x\n\
                    COPY --from=nginx:1.25.3 /etc/nginx /etc/nginx\n\
                    RUN --mount=type=bind,from=busybox:1.36,source=/bin,target=/b true\n\
                    FROM gcr.io/distroless/static:nonroot\n";
        let d = deps(text);
        assert_eq!(
            d.iter().map(|x| x.0.as_str()).collect::<Vec<_>>(),
            ["golang", "nginx", "busybox", "gcr.io/distroless/static"]
        );
        assert_eq!(d[0].2, "1.22-alpine");
        assert_eq!(d[1].2, "1.25.3");
        assert_eq!(d[2].2, "1.36");
        assert_eq!(d[3].3, Some(SkipReason::Unpinned));
    }

    #[test]
    fn arg_defaults_give_the_span() {
        let text = "ARG BASE=python\nARG PY_VERSION=3.12.1\nARG DEBIAN=\"bookworm\"\nARG UNSET\n\
                    FROM ${BASE}:${PY_VERSION}-slim-${DEBIAN} AS one\n\
                    FROM $BASE:$PY_VERSION\n\
                    FROM nginx:${NGINX:-1.25.3}\n\
                    FROM redis:${UNSET}\n\
                    FROM $UNKNOWN\n\
                    ARG IMG=node:20.11.0\nFROM ${IMG}\n";
        // An ARG declared after the first FROM is not visible to FROM.
        let d = deps(text);
        assert_eq!(d[0].0, "python");
        assert_eq!(d[0].1, "3.12.1-slim-bookworm");
        // The tag is assembled: the ARG holding its digits is edited, `-slim-` and the
        // Debian release stay.
        assert_eq!(d[0].2, "3.12.1");
        assert_eq!(d[0].3, None);
        assert_eq!(d[1].1, "3.12.1");
        assert_eq!(d[1].2, "3.12.1");
        assert_eq!(d[1].3, None);
        assert_eq!(d[2].2, "1.25.3");
        assert_eq!(d[3].3, Some(SkipReason::Variable));
        assert_eq!(d[4].3, Some(SkipReason::Variable));
        assert_eq!(d[5].0, "${IMG}");
        assert_eq!(d[5].3, Some(SkipReason::Variable));
        let d = deps("ARG IMG=node:20.11.0\nFROM ${IMG}\n");
        assert_eq!(d[0].0, "node");
        assert_eq!(d[0].2, "20.11.0");
        // A set ARG wins over the `:-` default.
        let d = deps("ARG V=1.27.0\nFROM nginx:${V:-1.25.3}\n");
        assert_eq!(d[0].1, "1.27.0");
        assert_eq!(d[0].2, "1.27.0");
    }

    #[test]
    fn one_arg_used_twice_is_one_dependency() {
        let d = deps("ARG V=1.25.3\nFROM nginx:$V AS a\nFROM nginx:$V\n");
        assert_eq!(d.len(), 1);
    }

    #[test]
    fn continuations_comments_crlf_bom_escape_and_heredocs() {
        let text = "\u{feff}# syntax=docker/dockerfile:1\r\n# escape=`\r\nFROM `\r\n  # a comment\r\n  --platform=linux/amd64 `\r\n  alpine:3.19 AS base\r\nRUN <<EOF\r\nFROM evil:1.0\r\nEOF\r\nFROM base\r\n";
        let d = deps(text);
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!(d[0].0, "alpine");
        assert_eq!(d[0].2, "3.19");
        let text = "FROM \\\n    nginx:1.25 \\\n    AS web\n";
        assert_eq!(deps(text)[0].2, "1.25");
    }

    #[test]
    fn edits_splice_and_confirm() {
        let text = "ARG TAG=1.25.3\r\nFROM nginx:${TAG} AS web\r\nFROM redis:7.2.4-alpine\r\n";
        let out = edit_values(
            &Dockerfile,
            "Dockerfile",
            text,
            &[
                ValueEdit {
                    index: 0,
                    new_value: "1.27.0".into(),
                },
                ValueEdit {
                    index: 1,
                    new_value: "7.4.1-alpine".into(),
                },
            ],
        )
        .unwrap();
        assert_eq!(
            out,
            "ARG TAG=1.27.0\r\nFROM nginx:${TAG} AS web\r\nFROM redis:7.4.1-alpine\r\n"
        );
    }

    #[test]
    fn bad_input_never_panics() {
        for text in [
            "FROM\n",
            "FROM ${\n",
            "FROM ${X:-\n",
            "ARG =\nFROM $\n",
            "FROM a:b:c@\n",
            "\\\n",
            "FROM x \\",
            "RUN --mount=from=\n",
            "COPY --from= a b\n",
            "FROM ${A:-${B:-${C:-${D:-${E:-${F:-${G:-${H:-${I:-${J:-1}}}}}}}}}}\n",
            "é\nFROM é:é\n",
        ] {
            let _ = extract("Dockerfile", text);
        }
        assert!(extract("Dockerfile", "FROM\n").is_err());
        assert_eq!(names("FROM Nginx:1.0\n"), ["Nginx:1.0"]);
    }
}

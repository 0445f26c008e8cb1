//! pip requirements files (`requirements*.txt`, `*.in`, `requirements/*.txt`): pins, ranges,
//! extras, markers, `-r`/`-c` includes, `--hash` options across continuation lines, index
//! options, comments, and VCS/URL/path lines (listed, skipped with a reason).

use crate::requirement::{normalize_name, parse_requirement};
use updatebot_core::dependency::{Dependency, PackageFile, SkipReason, Span};
use updatebot_core::{Ecosystem, Manager, ManifestError};

pub const MANAGER: &str = "pip_requirements";

/// A logical line: physical lines joined at a trailing backslash, comments removed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogicalLine {
    /// 1-based number of its first physical line.
    pub line: usize,
    /// The joined text, comment removed.
    pub text: String,
    /// `(offset in text, offset in file)` at the start of each joined physical segment.
    segments: Vec<(usize, usize)>,
    /// File byte range of the whole logical line (without its final line break).
    pub start: usize,
    pub end: usize,
    /// A comment began: pip folds the rest of the joined line into it.
    in_comment: bool,
}

impl LogicalLine {
    /// The file range of `text[a..b]`, when it lies within one physical line.
    pub fn file_span(&self, a: usize, b: usize) -> Option<Span> {
        let (text_start, file_start) =
            self.segments.iter().rev().find(|(t, _)| *t <= a).copied()?;
        let next = self
            .segments
            .iter()
            .find(|(t, _)| *t > a)
            .map(|(t, _)| *t)
            .unwrap_or(usize::MAX);
        (b <= next).then(|| Span::new(file_start + (a - text_start), file_start + (b - text_start)))
    }
}

/// Split a requirements file into logical lines (pip's `join_lines` + comment stripping).
pub fn logical_lines(content: &str) -> Vec<LogicalLine> {
    let mut out = Vec::new();
    let mut current: Option<LogicalLine> = None;
    let bom = if content.starts_with('\u{feff}') {
        '\u{feff}'.len_utf8()
    } else {
        0
    };
    let mut offset = bom;
    for (index, raw) in content[bom..].split_inclusive('\n').enumerate() {
        let line_start = offset;
        offset += raw.len();
        let body = raw.trim_end_matches(['\n', '\r']);
        let continued = body.ends_with('\\') && !is_comment_only(body);
        let body = if continued {
            &body[..body.len() - 1]
        } else {
            body
        };
        let entry = current.get_or_insert_with(|| LogicalLine {
            line: index + 1,
            text: String::new(),
            segments: Vec::new(),
            start: line_start,
            end: line_start,
            in_comment: false,
        });
        entry.segments.push((entry.text.len(), line_start));
        // A comment ends the logical line's content; lines joined to it by a continuation
        // belong to the comment, as in pip (which joins first and strips comments after).
        if !entry.in_comment {
            let kept = strip_comment(body);
            entry.in_comment = kept.len() < body.len();
            entry.text.push_str(kept);
        }
        entry.end = line_start + body.len() + usize::from(continued);
        if !continued {
            out.extend(current.take());
        }
    }
    out.extend(current.take());
    out
}

fn is_comment_only(line: &str) -> bool {
    line.trim_start().starts_with('#')
}

/// pip's comment rule: `#` at the start or after whitespace begins a comment.
fn strip_comment(line: &str) -> &str {
    let bytes = line.as_bytes();
    for (i, b) in bytes.iter().enumerate() {
        if *b == b'#' && (i == 0 || (bytes[i - 1] as char).is_whitespace()) {
            return &line[..i];
        }
    }
    line
}

/// A whitespace-separated token of a logical line, with its offset in the line's text.
fn tokens(text: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices() {
        match (c.is_whitespace(), start) {
            (true, Some(s)) => {
                out.push((s, &text[s..i]));
                start = None;
            }
            (false, None) => start = Some(i),
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push((s, &text[s..]));
    }
    out
}

/// The `--hash` values of a logical line, with their token positions in the line's text.
pub fn hash_options(text: &str) -> Vec<(usize, usize, String)> {
    let toks = tokens(text);
    let mut out = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        let (at, tok) = toks[i];
        if let Some(value) = tok.strip_prefix("--hash=") {
            out.push((at, at + tok.len(), value.to_string()));
        } else if tok == "--hash" {
            if let Some((vat, value)) = toks.get(i + 1) {
                out.push((at, vat + value.len(), value.to_string()));
                i += 1;
            }
        }
        i += 1;
    }
    out
}

/// Where the requirement part of a logical line ends: at the first option token.
pub fn requirement_end(text: &str) -> usize {
    tokens(text)
        .iter()
        .find(|(_, t)| t.starts_with('-'))
        .map(|(at, _)| *at)
        .unwrap_or(text.len())
}

fn looks_like_url(s: &str) -> bool {
    s.contains("://") || s.starts_with("file:")
}

fn looks_like_path(s: &str) -> bool {
    s.starts_with(['.', '/', '~'])
        || s.contains(['/', '\\'])
        || [".whl", ".zip", ".tar.gz", ".tgz", ".tar.bz2"]
            .iter()
            .any(|ext| s.ends_with(ext))
}

/// The project name a URL line installs: its `#egg=` fragment, else the last path segment
/// without `.git` (`git+https://github.com/celery/kombu.git` → `kombu`).
fn egg_name(url: &str) -> Option<&str> {
    let (base, fragment) = url.split_once('#').unwrap_or((url, ""));
    let egg = fragment
        .split('&')
        .find_map(|kv| kv.strip_prefix("egg="))
        .filter(|n| !n.is_empty());
    egg.or_else(|| {
        if !base.contains("://") {
            return None;
        }
        let last = base.trim_end_matches('/').rsplit('/').next()?;
        let name = last.split('@').next()?.trim_end_matches(".git");
        (!name.is_empty() && !name.contains('.')).then_some(name)
    })
}

fn skipped(name: &str, reason: SkipReason, value: &str) -> Dependency {
    Dependency::new(
        name,
        normalize_name(name),
        value,
        None,
        crate::pep440::SCHEME,
    )
    .with_dep_type("dependencies", false)
    .skipped(reason)
}

fn url_reason(url: &str) -> SkipReason {
    if url.starts_with("git+")
        || url.starts_with("hg+")
        || url.starts_with("svn+")
        || url.starts_with("bzr+")
    {
        SkipReason::GitDependency
    } else if url.starts_with("file:") {
        SkipReason::PathDependency
    } else {
        SkipReason::UrlDependency
    }
}

/// The option value of `-x VALUE`, `-xVALUE`, `--long VALUE` or `--long=VALUE`.
fn option_value<'a>(toks: &[(usize, &'a str)], short: &str, long: &str) -> Option<&'a str> {
    let first = toks.first()?.1;
    if first == short || first == long {
        return toks.get(1).map(|t| t.1);
    }
    if let Some(v) = first.strip_prefix(&format!("{long}=")) {
        return Some(v);
    }
    if !short.is_empty()
        && first.len() > short.len()
        && first.starts_with(short)
        && !first.starts_with("--")
    {
        return Some(&first[short.len()..]);
    }
    None
}

#[derive(Clone, Copy, Debug, Default)]
pub struct Requirements;

/// File-name rule: `*requirements*.{txt,in,pip}`, `*constraints*.{txt,in}`, or any `.txt`/`.in`
/// below a `requirements/` directory.
pub fn is_requirements_path(path: &str) -> bool {
    let path = path.trim_start_matches("./");
    let file = path.rsplit('/').next().unwrap_or(path);
    let lower = file.to_ascii_lowercase();
    let (stem, ext) = match lower.rsplit_once('.') {
        Some((s, e)) => (s, e),
        None => return false,
    };
    if !matches!(ext, "txt" | "in" | "pip") {
        return false;
    }
    if stem.contains("requirements") || stem.contains("constraints") {
        return true;
    }
    ext != "pip"
        && path
            .split('/')
            .rev()
            .skip(1)
            .any(|dir| dir.eq_ignore_ascii_case("requirements"))
}

impl Manager for Requirements {
    fn name(&self) -> &'static str {
        MANAGER
    }

    fn ecosystem(&self) -> Ecosystem {
        Ecosystem::Python
    }

    fn matches(&self, path: &str) -> bool {
        is_requirements_path(path)
    }

    fn extract(&self, path: &str, content: &str) -> Result<PackageFile, ManifestError> {
        // A byte-order mark is whitespace to pip; it stays in the text so spans keep their
        // place in the file.
        let mut file = PackageFile::default();
        let mut extra_indexes = Vec::new();
        let mut index_url = None;
        for line in logical_lines(content) {
            let text = line.text.as_str();
            if text.trim().is_empty() {
                continue;
            }
            let error = |message: String| ManifestError::new(path, Some(line.line), message);
            let toks = tokens(text);
            let first = toks[0].1;
            if first.starts_with('-') {
                if let Some(v) = option_value(&toks, "-r", "--requirement")
                    .or_else(|| option_value(&toks, "-c", "--constraint"))
                {
                    file.includes.push(v.to_string());
                } else if let Some(v) = option_value(&toks, "-i", "--index-url") {
                    index_url = Some(v.to_string());
                } else if let Some(v) = option_value(&toks, "", "--extra-index-url") {
                    extra_indexes.push(v.to_string());
                } else if let Some(v) = option_value(&toks, "-e", "--editable") {
                    let name = egg_name(v).unwrap_or(v);
                    file.dependencies
                        .push(skipped(name, SkipReason::Editable, v));
                } else if matches!(
                    first,
                    "-r" | "-c"
                        | "-i"
                        | "-e"
                        | "--requirement"
                        | "--constraint"
                        | "--index-url"
                        | "--extra-index-url"
                        | "--editable"
                ) {
                    return Err(error(format!("option `{first}` needs a value")));
                }
                continue;
            }
            let req_end = requirement_end(text);
            let req_text = text[..req_end].trim_end();
            let first_token = req_text.split_whitespace().next().unwrap_or_default();
            if looks_like_url(first_token) {
                let name = egg_name(req_text).unwrap_or(req_text);
                file.dependencies
                    .push(skipped(name, url_reason(req_text), req_text));
                continue;
            }
            if looks_like_path(first_token) && !req_text.contains("==") && !req_text.contains('@') {
                file.dependencies
                    .push(skipped(req_text, SkipReason::PathDependency, req_text));
                continue;
            }
            let leading_name = req_text
                .split(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
                .next()
                .unwrap_or(req_text);
            if req_text.contains("${") {
                file.dependencies
                    .push(skipped(leading_name, SkipReason::Variable, req_text));
                continue;
            }
            if let Some(at) = req_text.find("===") {
                let value = req_text[at..].split(';').next().unwrap_or_default().trim();
                file.dependencies.push(skipped(
                    leading_name,
                    SkipReason::UnsupportedVersion,
                    value,
                ));
                continue;
            }
            let parsed = parse_requirement(req_text).map_err(error)?;
            let package = normalize_name(&parsed.name);
            let mut dep = if let Some(url) = &parsed.url {
                skipped(&parsed.name, url_reason(url), url)
            } else if let Some((spec, a, b)) = &parsed.specifier {
                let span = line.file_span(*a, *b);
                let mut dep =
                    Dependency::new(&parsed.name, &package, spec, span, crate::pep440::SCHEME)
                        .with_dep_type("dependencies", false);
                if span.is_none() {
                    dep = dep.skipped(SkipReason::UnsupportedSyntax);
                }
                dep
            } else {
                skipped(&parsed.name, SkipReason::Unpinned, "")
            };
            dep.package_name = package;
            if let Some(python) = parsed
                .marker
                .as_deref()
                .and_then(crate::markers::python_constraint)
            {
                dep.constraints.insert("python".into(), python);
            }
            file.dependencies.push(dep);
        }
        // pip asks the index (PyPI unless `--index-url` says otherwise) and every extra one.
        if index_url.is_none() && !extra_indexes.is_empty() {
            index_url = Some(updatebot_core::defaults::PYPI_SIMPLE_URL.to_string());
        }
        file.registry_urls.extend(index_url);
        file.registry_urls.extend(extra_indexes);
        Ok(file)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn extract(text: &str) -> PackageFile {
        Requirements.extract("requirements.txt", text).unwrap()
    }

    #[test]
    fn file_names() {
        for yes in [
            "requirements.txt",
            "dev-requirements.txt",
            "requirements-dev.in",
            "a/b/requirements_test.txt",
            "requirements/base.txt",
            "celery/requirements/extras/redis.txt",
            "constraints.txt",
        ] {
            assert!(is_requirements_path(yes), "{yes}");
        }
        for no in [
            "MANIFEST.in",
            "README.txt",
            "docs/notes.txt",
            "requirements.txt.bak",
            "setup.cfg",
        ] {
            assert!(!is_requirements_path(no), "{no}");
        }
    }

    #[test]
    fn pins_ranges_extras_markers_and_comments() {
        let text = "# top comment\nrequests[socks]==2.25.0  # pinned\nsix>=1.10,<2 ; python_version >= \"3\"\nidna\n\n";
        let file = extract(text);
        let deps = &file.dependencies;
        assert_eq!(deps.len(), 3);
        assert_eq!(deps[0].name, "requests");
        assert_eq!(deps[0].current_value, "==2.25.0");
        assert_eq!(deps[0].span.unwrap().slice(text), Some("==2.25.0"));
        assert_eq!(deps[1].current_value, ">=1.10,<2");
        assert_eq!(deps[1].span.unwrap().slice(text), Some(">=1.10,<2"));
        assert_eq!(deps[2].skip_reason, Some(SkipReason::Unpinned));
    }

    #[test]
    fn a_continued_comment_swallows_the_next_line() {
        let deps = extract("six==1.0 # c \\\nnot a requirement at all\nidna==3.7\n").dependencies;
        assert_eq!(deps.len(), 2);
        assert_eq!(deps[1].name, "idna");
    }

    #[test]
    fn markers_narrow_the_python_of_their_line() {
        let deps = extract(
            "six==1.15.0 ; python_version < \"3.8\"\nsix==1.16.0 ; python_version >= \"3.8\"\n",
        )
        .dependencies;
        assert_eq!(deps[0].constraints["python"], "<3.8");
        assert_eq!(deps[1].constraints["python"], ">=3.8");
    }

    #[test]
    fn hashes_on_continuation_lines() {
        let text = "six==1.16.0 \\\n    --hash=sha256:aaaa \\\n    --hash=sha256:bbbb\n    # via -r requirements.in\nidna==3.7 --hash=sha256:cccc\n";
        let file = extract(text);
        assert_eq!(file.dependencies.len(), 2);
        assert_eq!(
            file.dependencies[0].span.unwrap().slice(text),
            Some("==1.16.0")
        );
        assert_eq!(
            file.dependencies[1].span.unwrap().slice(text),
            Some("==3.7")
        );
        let lines = logical_lines(text);
        let hashes = hash_options(&lines[0].text);
        assert_eq!(
            hashes.iter().map(|h| h.2.as_str()).collect::<Vec<_>>(),
            ["sha256:aaaa", "sha256:bbbb"]
        );
    }

    #[test]
    fn options_includes_and_indexes() {
        let text = "-r base.txt\n--constraint=constraints.txt\n-i https://pypi.example/simple\n--extra-index-url https://extra.example/simple\n--pre\n-e git+https://g.example/x.git#egg=xpkg\n-e .\n";
        let file = extract(text);
        assert_eq!(file.includes, ["base.txt", "constraints.txt"]);
        assert_eq!(
            file.registry_urls,
            [
                "https://pypi.example/simple",
                "https://extra.example/simple"
            ]
        );
        assert_eq!(file.dependencies.len(), 2);
        assert_eq!(file.dependencies[0].name, "xpkg");
        assert!(file
            .dependencies
            .iter()
            .all(|d| d.skip_reason == Some(SkipReason::Editable)));
    }

    #[test]
    fn extra_indexes_add_to_pypi() {
        let file = extract("--extra-index-url https://extra.example/simple\nsix==1.0\n");
        assert_eq!(
            file.registry_urls,
            [
                updatebot_core::defaults::PYPI_SIMPLE_URL,
                "https://extra.example/simple"
            ]
        );
    }

    #[test]
    fn vcs_url_and_path_lines_are_skipped_with_reasons() {
        let text = "git+https://github.com/a/b.git#egg=bpkg\nhttps://example.org/c-1.0.tar.gz\n./local/pkg\nd @ git+https://github.com/d/d.git\ne @ https://example.org/e.whl\nf==${F_VERSION}\n";
        let deps = extract(text).dependencies;
        let reasons: Vec<_> = deps
            .iter()
            .map(|d| d.skip_reason.clone().unwrap())
            .collect();
        assert_eq!(
            reasons,
            [
                SkipReason::GitDependency,
                SkipReason::UrlDependency,
                SkipReason::PathDependency,
                SkipReason::GitDependency,
                SkipReason::UrlDependency,
                SkipReason::Variable
            ]
        );
        assert_eq!(deps[0].name, "bpkg");
        let kombu = extract("git+https://github.com/celery/kombu.git\n").dependencies;
        assert_eq!(kombu[0].name, "kombu");
        let tagged = extract("git+https://host.example/o/billiard.git@v4.0\n").dependencies;
        assert_eq!(tagged[0].name, "billiard");
        assert_eq!(deps[3].name, "d");
    }

    #[test]
    fn arbitrary_equality_is_listed_not_rewritten() {
        let deps = extract("foo===1.0-weird\n").dependencies;
        assert_eq!(deps[0].skip_reason, Some(SkipReason::UnsupportedVersion));
    }

    #[test]
    fn malformed_line_names_file_and_line() {
        let err = Requirements
            .extract("req/requirements.txt", "six==1.0\nrequests==2.0=\n")
            .unwrap_err();
        assert_eq!(err.line, Some(2));
        assert!(
            err.to_string()
                .starts_with("req/requirements.txt:2: invalid requirement `requests==2.0=`"),
            "{err}"
        );
    }

    #[test]
    fn crlf_and_bom_are_fine() {
        let text = "\u{feff}six==1.16.0\r\nidna==3.7\r\n";
        let file = Requirements.extract("requirements.txt", text).unwrap();
        assert_eq!(file.dependencies.len(), 2);
        assert_eq!(file.dependencies[1].current_value, "==3.7");
        assert_eq!(
            file.dependencies[0].span.unwrap().slice(text),
            Some("==1.16.0")
        );
    }

    #[test]
    fn normalised_lookup_names() {
        let deps = extract("Python_Dateutil==2.8.2\n").dependencies;
        assert_eq!(deps[0].name, "Python_Dateutil");
        assert_eq!(deps[0].package_name, "python-dateutil");
    }
}

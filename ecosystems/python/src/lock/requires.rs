//! Whether a new release whose declared requirements differ from the locked release's still
//! leaves the rest of a lock as it is, and how `poetry.lock` records those requirements.
//!
//! A lock's resolution holds for the new release when its base requirements (those behind no
//! `extra` marker) name the same packages under the same markers as the old release's, each
//! admitting the version the lock holds; its extras changed only where no one asks for them;
//! and its Python range still covers the project's. Then no package is added, removed or
//! moved: only the updated package's own entry changes (its `python-versions`, dependency
//! constraints and extras in `poetry.lock`; nothing more in `uv.lock`, which records names
//! and markers only).
//!
//! What poetry writes is checked against the lock first: the old release's requirements,
//! formatted here, must give the lock's text byte for byte, else the update is not exact.

use super::metadata::CoreMetadata;
use crate::requirement::{normalize_name, parse_requirement};
use std::collections::{BTreeMap, BTreeSet};
use updatebot_core::VersionScheme;

/// One `Requires-Dist` line.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Req {
    /// As the release spells it.
    name: String,
    extras: Vec<String>,
    specifier: String,
    /// The marker without its `extra == …` part.
    marker: Option<String>,
    /// The extra (normalised) this line belongs to.
    extra: Option<String>,
}

fn parse(line: &str) -> Result<Req, String> {
    let r = parse_requirement(line).map_err(|e| format!("cannot read `{line}`: {e}"))?;
    if r.url.is_some() {
        return Err(format!("`{line}` is a direct reference"));
    }
    let (marker, extra) = match r.marker.as_deref() {
        Some(m) => split_extra(m).ok_or_else(|| format!("cannot read the marker of `{line}`"))?,
        None => (None, None),
    };
    Ok(Req {
        name: r.name,
        extras: r.extras,
        specifier: r.specifier.map(|(s, _, _)| s).unwrap_or_default(),
        marker,
        extra,
    })
}

/// Strip the outer parentheses of `text` when they enclose all of it.
fn unwrap_parens(text: &str) -> &str {
    let t = text.trim();
    if !(t.starts_with('(') && t.ends_with(')')) {
        return t;
    }
    let mut depth = 0;
    for (i, c) in t.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 && i != t.len() - 1 {
                    return t;
                }
            }
            _ => {}
        }
    }
    unwrap_parens(&t[1..t.len() - 1])
}

/// (the marker without a trailing `and extra == "x"`, x); `None` when `extra` appears
/// anywhere else.
fn split_extra(marker: &str) -> Option<(Option<String>, Option<String>)> {
    let m = marker.trim();
    let (rest, extra) = match m.rfind("extra") {
        None => (m, None),
        Some(at) => {
            let tail = m[at + "extra".len()..]
                .trim_start()
                .strip_prefix("==")?
                .trim();
            let name = tail.trim_matches(|c| c == '\'' || c == '"');
            if name.is_empty() || name.contains(['\'', '"', ' ', ')']) {
                return None;
            }
            let head = m[..at].trim_end();
            let head = if head.is_empty() {
                ""
            } else {
                head.strip_suffix("and")?.trim_end()
            };
            (head, Some(normalize_name(name)))
        }
    };
    if rest.contains("extra") {
        return None;
    }
    let rest = unwrap_parens(rest);
    Some(((!rest.is_empty()).then(|| rest.replace('\'', "\"")), extra))
}

/// The base requirements and extras of a release.
struct Declared {
    base: Vec<Req>,
    extras: BTreeMap<String, Vec<Req>>,
}

fn declared(meta: &CoreMetadata) -> Result<Declared, String> {
    let mut base = Vec::new();
    let mut extras: BTreeMap<String, Vec<Req>> = BTreeMap::new();
    for line in &meta.requires_dist_lines {
        let r = parse(line)?;
        match r.extra.clone() {
            Some(e) => extras.entry(e).or_default().push(r),
            None => base.push(r),
        }
    }
    base.sort();
    Ok(Declared { base, extras })
}

/// What decides the new release fits the lock.
pub(crate) struct LockView<'a> {
    pub package: &'a str,
    pub new_version: &'a str,
    /// Locked versions by normalised name.
    pub locked: &'a BTreeMap<String, String>,
    /// The project's Python range as the lock records it, and its scheme.
    pub python: Option<(&'a dyn VersionScheme, &'a str)>,
    /// Whether anything in the lock or the manifest asks for the package's extras.
    pub extras_requested: bool,
}

/// Python versions a range is probed at (every minor of 2.x and 3.x, at .0, .1 and .99).
fn python_probes() -> impl Iterator<Item = String> {
    (2..=3).flat_map(|major| {
        (0..=40).flat_map(move |minor| {
            [0, 1, 99]
                .into_iter()
                .map(move |patch| format!("{major}.{minor}.{patch}"))
        })
    })
}

/// `Err(reason)` unless the lock's resolution holds for the new release.
pub(crate) fn fits(
    old: &CoreMetadata,
    new: &CoreMetadata,
    view: &LockView<'_>,
) -> Result<(), String> {
    let package = view.package;
    let not_exact = |why: String| format!("not exact: {package} {}: {why}", view.new_version);
    if old.requires_python != new.requires_python {
        let range = new.requires_python.clone().unwrap_or_default();
        let Some((scheme, project)) = view.python else {
            return Err(not_exact(
                "another Python range, and the lock records no Python range of the project".into(),
            ));
        };
        for probe in python_probes() {
            let in_project = scheme.satisfies(project, &probe).unwrap_or(true);
            let admitted = crate::pep440::Pep440
                .satisfies(&range, &probe)
                .map_err(|e| not_exact(format!("cannot read Requires-Python `{range}`: {e}")))?;
            if in_project && !admitted {
                return Err(not_exact(format!(
                    "its Python range `{range}` leaves out Python {probe}, which the project's `{project}` admits"
                )));
            }
        }
    }
    let (o, n) = (
        declared(old).map_err(&not_exact)?,
        declared(new).map_err(&not_exact)?,
    );
    let shape = |d: &Declared| -> BTreeSet<(String, Vec<String>, Option<String>)> {
        d.base
            .iter()
            .map(|r| (normalize_name(&r.name), r.extras.clone(), r.marker.clone()))
            .collect()
    };
    if shape(&o) != shape(&n) || o.base.len() != n.base.len() {
        return Err(not_exact(
            "it depends on other packages (or under other markers) than the locked release, so packages would be added or removed".into(),
        ));
    }
    for r in &n.base {
        let name = normalize_name(&r.name);
        match view.locked.get(&name) {
            Some(v) => {
                let ok = r.specifier.is_empty()
                    || crate::pep440::Pep440
                        .satisfies(&r.specifier, v)
                        .map_err(|e| not_exact(format!("cannot read `{}`: {e}", r.specifier)))?;
                if !ok {
                    return Err(not_exact(format!(
                        "it requires {name} `{}`, which the locked {name} {v} does not satisfy, so the tool would move it",
                        r.specifier
                    )));
                }
            }
            // Left out of the lock by its marker, as for the locked release.
            None if r.marker.is_some() => {}
            None => {
                return Err(not_exact(format!(
                    "it requires {name}, which the lock holds more than once or not at all"
                )))
            }
        }
    }
    let extras_differ = o.extras != n.extras || old.provides_extra != new.provides_extra;
    if extras_differ && view.extras_requested {
        return Err(not_exact(
            "its extras declare other requirements, and the project or a locked package asks for its extras".into(),
        ));
    }
    Ok(())
}

/// Whether `text` (a lock or a manifest) asks for extras of `package`: a line naming the
/// package with `extra` on it, or `package[`. Errs on the side of yes.
pub(crate) fn asks_for_extras(text: &str, package: &str) -> bool {
    let wanted = normalize_name(package);
    text.lines().any(|line| {
        let l = line.to_ascii_lowercase().replace(['_', '.'], "-");
        l.contains(&format!("{wanted}[")) || (l.contains(&wanted) && l.contains("extra"))
    })
}

/// A specifier set as poetry writes a constraint: lower bounds, exclusions, upper bounds
/// (`>=1.5.6,!=1.5.7,<2.0`); `*` for none. `None` for what this does not format (`~=`,
/// wildcards, `===`).
fn poetry_constraint(spec: &str) -> Option<String> {
    let spec = spec.trim();
    if spec.is_empty() {
        return Some("*".into());
    }
    let mut lower = Vec::new();
    let mut not = Vec::new();
    let mut upper = Vec::new();
    let mut exact = Vec::new();
    for clause in spec.split(',') {
        let c: String = clause.split_whitespace().collect();
        let op_len = c.find(|ch: char| ch.is_ascii_alphanumeric())?;
        let (op, version) = c.split_at(op_len);
        if version.contains('*') {
            return None;
        }
        match op {
            ">=" | ">" => lower.push(c.clone()),
            "<" | "<=" => upper.push(c.clone()),
            "!=" => not.push(c.clone()),
            "==" => exact.push(c.clone()),
            _ => return None,
        }
    }
    if !exact.is_empty() {
        if exact.len() == 1 && lower.is_empty() && upper.is_empty() && not.is_empty() {
            return Some(exact.remove(0));
        }
        return None;
    }
    if lower.len() > 1 || upper.len() > 1 {
        return None;
    }
    Some([lower, not, upper].concat().join(","))
}

/// One requirement as poetry lists it under `[package.extras]`:
/// `name[x] (constraint) ; marker`.
fn poetry_pep508(r: &Req) -> Option<String> {
    let mut out = r.name.clone();
    if !r.extras.is_empty() {
        out.push_str(&format!("[{}]", r.extras.join(",")));
    }
    if !r.specifier.is_empty() {
        out.push_str(&format!(" ({})", poetry_constraint(&r.specifier)?));
    }
    if let Some(m) = &r.marker {
        out.push_str(&format!(" ; {m}"));
    }
    Some(out)
}

/// The lines of `[package.extras]` poetry writes for a release (extras with requirements
/// only, by name, each list sorted).
fn poetry_extras_lines(meta: &CoreMetadata) -> Option<Vec<String>> {
    let d = declared(meta).ok()?;
    let mut out = Vec::new();
    for (extra, reqs) in &d.extras {
        let mut items: Vec<String> = reqs.iter().map(poetry_pep508).collect::<Option<_>>()?;
        items.sort();
        items.dedup();
        let list: Vec<String> = items.iter().map(|i| super::toml_string(i)).collect();
        out.push(format!("{extra} = [{}]", list.join(", ")));
    }
    Some(out)
}

/// The body lines (no header, no blank lines) of the sub-table `header` of a `[[package]]`
/// block, and their byte range.
fn section(block: &str, header: &str) -> Option<(Vec<String>, usize, usize)> {
    let mut offset = 0;
    let mut start = None;
    let mut lines = Vec::new();
    for line in block.split_inclusive('\n') {
        let t = line.trim_end();
        if let Some(s) = start {
            if t.starts_with('[') {
                return Some((lines, s, offset));
            }
            if !t.is_empty() {
                lines.push(t.to_string());
            }
        } else if t == header {
            start = Some(offset + line.len());
        }
        offset += line.len();
    }
    start.map(|s| (lines, s, block.len()))
}

/// Replace the non-blank body lines of a section by `lines` (blank lines after it kept).
fn replace_section(block: &str, start: usize, end: usize, lines: &[String]) -> String {
    let body = &block[start..end];
    let trailing = body.len() - body.trim_end_matches(['\n', '\r']).len();
    let trailing = &body[body.len() - trailing..];
    let blank = if trailing.matches('\n').count() > 1 {
        "\n"
    } else {
        ""
    };
    let mut text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    text.push_str(blank);
    if body.trim().is_empty() {
        text = body.to_string();
    }
    format!("{}{}{}", &block[..start], text, &block[end..])
}

/// `name = "constraint"` or `name = {version = "constraint", …}`: the constraint's span.
fn constraint_span(line: &str) -> Option<(String, usize, usize)> {
    let (name, value) = line.split_once(" = ")?;
    let base = name.len() + 3;
    let (at, quoted) = if value.starts_with('"') {
        (base, value)
    } else {
        let k = value.find("version = \"")? + "version = ".len();
        (base + k, &value[k..])
    };
    let close = quoted[1..].find('"')? + 1;
    Some((name.trim_matches('"').to_string(), at + 1, at + close))
}

/// The package's `[[package]]` block of a `poetry.lock` rewritten for the new release's
/// requirements; `Err(reason)` when its text cannot be had exactly.
pub(crate) fn poetry_block(
    block: &str,
    old: &CoreMetadata,
    new: &CoreMetadata,
) -> Result<String, String> {
    let mut out = block.to_string();
    let cannot = |what: &str| {
        format!("not exact: the lock's {what} is not written the way this formats the locked release's, so the new one's cannot be written as poetry would")
    };
    if old.requires_python != new.requires_python {
        let shown = |m: &CoreMetadata| m.requires_python.clone().unwrap_or_else(|| "*".into());
        if super::block_value(&out, "python-versions") != Some(shown(old)) {
            return Err(cannot("python-versions"));
        }
        out = super::set_block_line(&out, "python-versions", &super::toml_string(&shown(new)))
            .ok_or_else(|| cannot("python-versions"))?;
    }
    let (o, n) = (declared(old)?, declared(new)?);
    if o.base != n.base {
        let (lines, start, end) = section(&out, "[package.dependencies]")
            .ok_or_else(|| cannot("[package.dependencies]"))?;
        let spec_of = |d: &Declared, name: &str| -> Option<String> {
            let mut found = d.base.iter().filter(|r| normalize_name(&r.name) == name);
            let r = found.next()?;
            found
                .next()
                .is_none()
                .then(|| poetry_constraint(&r.specifier))?
        };
        let mut new_lines = Vec::new();
        for line in &lines {
            let (name, s, e) =
                constraint_span(line).ok_or_else(|| cannot("[package.dependencies]"))?;
            let key = normalize_name(&name);
            if spec_of(&o, &key).as_deref() != Some(&line[s..e]) {
                return Err(cannot("[package.dependencies]"));
            }
            let c = spec_of(&n, &key).ok_or_else(|| cannot("[package.dependencies]"))?;
            new_lines.push(format!("{}{}{}", &line[..s], c, &line[e..]));
        }
        if lines.len() != o.base.len() {
            return Err(cannot("[package.dependencies]"));
        }
        out = replace_section(&out, start, end, &new_lines);
    }
    if o.extras != n.extras {
        let old_lines = poetry_extras_lines(old).ok_or_else(|| cannot("[package.extras]"))?;
        let new_lines = poetry_extras_lines(new).ok_or_else(|| cannot("[package.extras]"))?;
        let (lines, start, end) =
            section(&out, "[package.extras]").ok_or_else(|| cannot("[package.extras]"))?;
        if lines != old_lines || new_lines.is_empty() {
            return Err(cannot("[package.extras]"));
        }
        out = replace_section(&out, start, end, &new_lines);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(python: Option<&str>, lines: &[&str]) -> CoreMetadata {
        let mut m = CoreMetadata {
            requires_python: python.map(str::to_string),
            ..Default::default()
        };
        for l in lines {
            m.requires_dist_lines.insert(l.to_string());
        }
        m
    }

    #[test]
    fn markers_lose_their_extra() {
        assert_eq!(
            split_extra("((os_name != \"nt\" or python_version >= \"3\") and platform_python_implementation != \"CPython\") and extra == 'brotli'"),
            Some((Some("(os_name != \"nt\" or python_version >= \"3\") and platform_python_implementation != \"CPython\"".into()), Some("brotli".into())))
        );
        assert_eq!(
            split_extra("extra == 'socks'"),
            Some((None, Some("socks".into())))
        );
        assert_eq!(split_extra("extra == 'a' or python_version < '3'"), None);
    }

    #[test]
    fn constraints_as_poetry_writes_them() {
        assert_eq!(
            poetry_constraint("!=1.5.7,<2.0,>=1.5.6").as_deref(),
            Some(">=1.5.6,!=1.5.7,<2.0")
        );
        assert_eq!(poetry_constraint("<4,>=2").as_deref(), Some(">=2,<4"));
        assert_eq!(poetry_constraint("").as_deref(), Some("*"));
        assert_eq!(poetry_constraint("==1.0.9").as_deref(), Some("==1.0.9"));
        assert_eq!(poetry_constraint("~=1.2"), None);
    }

    #[test]
    fn a_new_range_that_the_lock_satisfies_fits() {
        let old = meta(
            Some(">=3.7, <4"),
            &["urllib3 (<1.27,>=1.21.1)", "idna (<4,>=2.5)"],
        );
        let new = meta(Some(">=3.7"), &["urllib3 (<3,>=1.21.1)", "idna (<4,>=2.5)"]);
        let locked: BTreeMap<String, String> = [
            ("urllib3".to_string(), "1.26.5".to_string()),
            ("idna".into(), "3.7".into()),
        ]
        .into();
        let view = LockView {
            package: "requests",
            new_version: "2.31.0",
            locked: &locked,
            python: Some((&crate::pep440::Pep440, ">=3.9")),
            extras_requested: false,
        };
        assert!(fits(&old, &new, &view).is_ok());
        let caps = meta(
            Some(">=3.7"),
            &["urllib3 (<1.26,>=1.21.1)", "idna (<4,>=2.5)"],
        );
        assert!(fits(&old, &caps, &view)
            .unwrap_err()
            .contains("does not satisfy"));
        let more = meta(Some(">=3.7"), &["urllib3 (<3)", "idna (<4)", "six"]);
        assert!(fits(&old, &more, &view)
            .unwrap_err()
            .contains("added or removed"));
        let py = meta(
            Some(">=3.10"),
            &["urllib3 (<3,>=1.21.1)", "idna (<4,>=2.5)"],
        );
        assert!(fits(&old, &py, &view).unwrap_err().contains("3.9.0"));
        let block = "[[package]]\nname = \"requests\"\nversion = \"2.28.2\"\npython-versions = \">=3.7, <4\"\n\n[package.dependencies]\nidna = \">=2.5,<4\"\nurllib3 = {version = \">=1.21.1,<1.27\", markers = \"x\"}\n\n[package.source]\n";
        let written = poetry_block(block, &old, &new).unwrap();
        assert_eq!(
            written,
            block
                .replace("\">=3.7, <4\"", "\">=3.7\"")
                .replace(">=1.21.1,<1.27", ">=1.21.1,<3")
        );
        assert!(poetry_block(&block.replace(">=2.5,<4", "<4,>=2.5"), &old, &new).is_err());
    }

    #[test]
    fn extras_are_rewritten_when_the_old_ones_match() {
        let old = meta(None, &["PySocks (!=1.5.7,<2.0,>=1.5.6) ; extra == 'socks'"]);
        let new = meta(
            None,
            &[
                "PySocks !=1.5.7,<2.0,>=1.5.6 ; extra == 'socks'",
                "ipaddress ; (python_version == \"2.7\") and extra == 'secure'",
            ],
        );
        let block = "[[package]]\nname = \"urllib3\"\n\n[package.extras]\nsocks = [\"PySocks (>=1.5.6,!=1.5.7,<2.0)\"]\n\n[package.source]\n";
        let written = poetry_block(block, &old, &new).unwrap();
        assert!(written.contains("[package.extras]\nsecure = [\"ipaddress ; python_version == \\\"2.7\\\"\"]\nsocks = [\"PySocks (>=1.5.6,!=1.5.7,<2.0)\"]\n\n[package.source]\n"), "{written}");
        let locked = BTreeMap::new();
        let mut view = LockView {
            package: "urllib3",
            new_version: "1.26.18",
            locked: &locked,
            python: Some((&crate::poetry::Poetry, "^3.9")),
            extras_requested: true,
        };
        assert!(fits(&old, &new, &view)
            .unwrap_err()
            .contains("asks for its extras"));
        view.extras_requested = false;
        assert!(fits(&old, &new, &view).is_ok());
        assert!(asks_for_extras(
            "urllib3 = {version = \"*\", extras = [\"socks\"]}",
            "urllib3"
        ));
        assert!(!asks_for_extras("urllib3 = \">=1.21\"", "urllib3"));
    }
}

//! Textual rules on values (patterns), written once and shared with the JSON schema.
//!
//! The patterns use the common subset of Rust `regex` and ECMA-262 syntax, so the schema
//! can carry the very same strings (the schema test checks that it does).

use serde::Serialize;

use super::problem::show;
use super::walk::Walker;
use super::yaml::Node;

/// `schedule.time`: `HH:MM`, 24-hour.
pub const TIME_PATTERN: &str = r"^([01][0-9]|2[0-3]):[0-5][0-9]$";
/// `schedule.timezone`: the shape of an IANA name (`UTC`, `Europe/Berlin`, `Etc/GMT+1`).
pub const TIMEZONE_PATTERN: &str = r"^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*$";
/// `schedule.cronjob`: five crontab fields.
pub const CRON_PATTERN: &str = r"^\s*[0-9A-Za-z*,/?#-]+(\s+[0-9A-Za-z*,/?#-]+){4}\s*$";
/// Registry and group names (they end up in branch names and messages).
pub const NAME_PATTERN: &str = r"^[A-Za-z0-9][A-Za-z0-9._-]*$";

/// Patterns a repository path or path glob must NOT match, with the reason.
pub const PATH_FORBIDDEN: &[(&str, &str)] = &[
    (
        r"(^|/)\.\.(/|$)",
        "must not contain `..`: paths stay inside the repository",
    ),
    (r"\\", "must use `/` as separator, not `\\`"),
    (
        r"^~",
        "must not start with `~`: paths are relative to the repository root",
    ),
    (
        r"^[A-Za-z]:",
        "must not be a drive path: paths are relative to the repository root",
    ),
    (r"[\x00-\x1f\x7f]", "must not contain control characters"),
];

#[cfg(test)]
fn matches(pattern: &str, text: &str) -> bool {
    regex::Regex::new(pattern).is_ok_and(|re| re.is_match(text))
}

/// Reads a string that must match `pattern`; `what` describes the expected shape.
pub(crate) fn patterned(
    w: &mut Walker,
    node: &Node,
    path: &str,
    pattern: &'static str,
    what: &str,
) -> Option<String> {
    let s = w.string_node(node, path)?;
    if w.matches(pattern, &s) {
        Some(s)
    } else {
        w.problem(node.pos, format!("{path}: `{}` is not {what}", show(&s)));
        None
    }
}

/// Checks that `pattern` is a glob pattern globset accepts.
pub(crate) fn glob(w: &mut Walker, node: &Node, path: &str) -> Option<String> {
    let s = w.string_node(node, path)?;
    match globset::Glob::new(&s) {
        Ok(_) => Some(s),
        Err(e) => {
            let msg = format!(
                "{path}: `{}` is not a valid glob pattern ({})",
                show(&s),
                e.kind()
            );
            w.problem(node.pos, msg);
            None
        }
    }
}

/// A path inside the repository, normalised to start with `/` (`/`, `/backend`, `/apps/*`).
///
/// It may be a glob where the configuration allows one (`directories`, `exclude-paths`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct RepoPath(String);

impl RepoPath {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the path holds glob characters.
    pub fn is_glob(&self) -> bool {
        self.0.contains(['*', '?', '[', '{'])
    }

    /// The path without the leading `/`, as file APIs of forges expect (`""` for the root).
    pub fn relative(&self) -> &str {
        &self.0[1..]
    }

    fn normalise(s: &str) -> RepoPath {
        let parts: Vec<&str> = s
            .split('/')
            .filter(|p| !p.is_empty() && *p != ".")
            .collect();
        RepoPath(format!("/{}", parts.join("/")))
    }
}

impl std::fmt::Display for RepoPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Checks a path (or path glob) against [`PATH_FORBIDDEN`] and, for globs, globset.
fn check_path(w: &mut Walker, node: &Node, path: &str, glob_allowed: bool) -> Option<String> {
    let s = w.string_node(node, path)?;
    let mut ok = true;
    for (pattern, why) in PATH_FORBIDDEN {
        if w.matches(pattern, &s) {
            w.problem(node.pos, format!("{path}: `{}` {why}", show(&s)));
            ok = false;
        }
    }
    if !ok {
        return None;
    }
    if glob_allowed {
        if let Err(e) = globset::Glob::new(&s) {
            let msg = format!(
                "{path}: `{}` is not a valid glob pattern ({})",
                show(&s),
                e.kind()
            );
            w.problem(node.pos, msg);
            return None;
        }
    } else if s.contains(['*', '?', '[', '{']) {
        let msg = format!(
            "{path}: `{}` is a glob; use `directories` for patterns",
            show(&s)
        );
        w.problem(node.pos, msg);
        return None;
    }
    Some(s)
}

/// Reads a repository path; with `glob_allowed` the path may be a glob pattern.
pub(crate) fn repo_path(
    w: &mut Walker,
    node: &Node,
    path: &str,
    glob_allowed: bool,
) -> Option<RepoPath> {
    check_path(w, node, path, glob_allowed).map(|s| RepoPath::normalise(&s))
}

/// Reads a path glob (`exclude-paths`), kept as written: `**/tests/**` stays unanchored.
pub(crate) fn path_glob(w: &mut Walker, node: &Node, path: &str) -> Option<String> {
    check_path(w, node, path, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_patterns_compile() {
        for p in [TIME_PATTERN, TIMEZONE_PATTERN, CRON_PATTERN, NAME_PATTERN]
            .into_iter()
            .chain(PATH_FORBIDDEN.iter().map(|(p, _)| *p))
        {
            assert!(regex::Regex::new(p).is_ok(), "{p}");
        }
    }

    #[test]
    fn time_pattern() {
        for ok in ["00:00", "09:30", "23:59"] {
            assert!(matches(TIME_PATTERN, ok), "{ok}");
        }
        for bad in ["9:30", "24:00", "12:60", "12:00:00", " 12:00"] {
            assert!(!matches(TIME_PATTERN, bad), "{bad}");
        }
    }

    #[test]
    fn timezone_and_cron_patterns() {
        for ok in [
            "UTC",
            "Europe/Berlin",
            "America/Argentina/Buenos_Aires",
            "Etc/GMT+1",
        ] {
            assert!(matches(TIMEZONE_PATTERN, ok), "{ok}");
        }
        for bad in ["", "Europe/", "/Berlin", "Europe Berlin", "+01:00"] {
            assert!(!matches(TIMEZONE_PATTERN, bad), "{bad}");
        }
        assert!(matches(CRON_PATTERN, "0 9 * * 1-5"));
        assert!(matches(CRON_PATTERN, "*/15 3 1,15 JAN MON"));
        assert!(!matches(CRON_PATTERN, "0 9 * *"));
        assert!(!matches(CRON_PATTERN, "0 0 9 * * *"));
    }

    #[test]
    fn forbidden_paths() {
        let bad = |s: &str| PATH_FORBIDDEN.iter().any(|(p, _)| matches(p, s));
        for b in [
            "..", "../x", "/a/../b", "/a/..", "a\\b", "~/x", "C:/x", "a\tb",
        ] {
            assert!(bad(b), "{b}");
        }
        for ok in [
            "/", "/backend", "backend", "/a/..b", "/a/b..", "/apps/*", "./x",
        ] {
            assert!(!bad(ok), "{ok}");
        }
    }

    #[test]
    fn normalisation() {
        assert_eq!(RepoPath::normalise("/").as_str(), "/");
        assert_eq!(RepoPath::normalise("backend/").as_str(), "/backend");
        assert_eq!(RepoPath::normalise("./a//b/.").as_str(), "/a/b");
        assert_eq!(RepoPath::normalise("/a/b").relative(), "a/b");
    }
}

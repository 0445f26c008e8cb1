//! Problems found in a configuration file, each with its position.

use std::fmt;

use serde::Serialize;

/// One problem in a configuration file.
///
/// `line` and `column` are 1-based and count characters, not bytes. Problems that
/// concern a whole file (for example an empty file) point at line 1, column 1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl Problem {
    pub(crate) fn new(pos: Pos, message: impl Into<String>) -> Self {
        Problem {
            line: pos.line,
            column: pos.column,
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

/// Every problem found while reading a configuration, sorted by position.
///
/// `Display` prints one problem per line (`line 12: …`); callers add the file name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", display_all(.problems))]
pub struct ConfigErrors {
    pub problems: Vec<Problem>,
}

/// At most this many problems are kept; a last one says how many more there were.
pub const MAX_PROBLEMS: usize = 100;

impl ConfigErrors {
    pub(crate) fn new(mut problems: Vec<Problem>) -> Self {
        sort(&mut problems);
        if problems.len() > MAX_PROBLEMS {
            let more = problems.len() - MAX_PROBLEMS;
            let first_hidden = Pos {
                line: problems[MAX_PROBLEMS].line,
                column: problems[MAX_PROBLEMS].column,
            };
            problems.truncate(MAX_PROBLEMS);
            problems.push(Problem::new(
                first_hidden,
                format!("… and {more} more problems from here on, not shown"),
            ));
        }
        ConfigErrors { problems }
    }
}

/// Sorts problems by position, keeping the discovery order for equal positions.
pub(crate) fn sort(problems: &mut [Problem]) {
    problems.sort_by_key(|p| (p.line, p.column));
}

fn display_all(problems: &[Problem]) -> String {
    let lines: Vec<String> = problems.iter().map(Problem::to_string).collect();
    lines.join("\n")
}

/// A 1-based position in the source text (characters, not bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Pos {
    pub line: usize,
    pub column: usize,
}

impl Pos {
    pub(crate) const START: Pos = Pos { line: 1, column: 1 };
}

/// Shows a user-written value in a message: control characters escaped, long values cut.
pub(crate) fn show(value: &str) -> String {
    const MAX: usize = 60;
    let mut out = String::new();
    for (i, c) in value.chars().enumerate() {
        if i == MAX {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_line_and_message() {
        let p = Problem::new(
            Pos {
                line: 12,
                column: 3,
            },
            "unknown key `x`",
        );
        assert_eq!(p.to_string(), "line 12: unknown key `x`");
    }

    #[test]
    fn errors_are_sorted_and_one_per_line() {
        let e = ConfigErrors::new(vec![
            Problem::new(Pos { line: 5, column: 1 }, "b"),
            Problem::new(Pos { line: 2, column: 7 }, "a"),
        ]);
        assert_eq!(e.to_string(), "line 2: a\nline 5: b");
    }

    #[test]
    fn problems_are_capped() {
        let many = (1..=250)
            .map(|line| Problem::new(Pos { line, column: 1 }, "x"))
            .collect();
        let e = ConfigErrors::new(many);
        assert_eq!(e.problems.len(), MAX_PROBLEMS + 1);
        assert_eq!(
            e.problems[MAX_PROBLEMS].to_string(),
            "line 101: … and 150 more problems from here on, not shown"
        );
    }

    #[test]
    fn show_escapes_and_truncates() {
        assert_eq!(show("a\nb"), "a\\nb");
        let long = "x".repeat(100);
        assert_eq!(show(&long).chars().count(), 61);
    }
}

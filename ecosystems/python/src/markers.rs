//! The Python versions an environment marker limits a requirement to, when the marker says
//! so plainly: `python_version < "3.8"`, `python_full_version >= "3.8.1" and python_version
//! < "3.12"`. Anything else (an `or`, other variables mixed in with `or`) says nothing.

/// A PEP 440 specifier set equivalent to the marker's Python bounds, if it has any and they
/// can be read exactly.
pub fn python_constraint(marker: &str) -> Option<String> {
    let lower = marker.to_ascii_lowercase();
    if lower.split_whitespace().any(|w| w == "or") || marker.contains('(') {
        return None;
    }
    let mut clauses = Vec::new();
    for part in split_and(marker) {
        let part = part.trim();
        let Some((variable, op, value)) = comparison(part) else {
            continue;
        };
        if variable != "python_version" && variable != "python_full_version" {
            continue;
        }
        let clause = match (op, variable) {
            ("==", "python_version") => format!("=={value}.*"),
            ("!=", "python_version") => format!("!={value}.*"),
            // `python_version > "3.8"` means 3.9 and later, not 3.8.1.
            (">", "python_version") => format!(">={}", next_minor(value)?),
            ("<=", "python_version") => format!("<{}", next_minor(value)?),
            ("<" | ">=" | "==" | "!=" | ">" | "<=", _) => format!("{op}{value}"),
            _ => return None,
        };
        clauses.push(clause);
    }
    (!clauses.is_empty()).then(|| clauses.join(","))
}

fn split_and(marker: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = marker;
    while let Some(at) = rest.find(" and ") {
        out.push(&rest[..at]);
        rest = &rest[at + 5..];
    }
    out.push(rest);
    out
}

/// `variable op "value"` (or reversed, `"value" op variable`).
fn comparison(part: &str) -> Option<(&str, &'static str, &str)> {
    const OPS: [&str; 6] = ["<=", ">=", "==", "!=", "<", ">"];
    let (at, op) = OPS
        .iter()
        .filter_map(|op| part.find(op).map(|i| (i, *op)))
        .min_by_key(|(i, op)| (*i, usize::MAX - op.len()))?;
    let left = part[..at].trim();
    let right = part[at + op.len()..].trim();
    let unquote = |s: &str| -> Option<String> {
        let s = s.trim();
        let q = s.chars().next()?;
        (matches!(q, '"' | '\'') && s.len() >= 2 && s.ends_with(q))
            .then(|| s[1..s.len() - 1].to_string())
    };
    match (unquote(left), unquote(right)) {
        (None, Some(_)) => {
            let value = right.trim().get(1..right.trim().len() - 1)?;
            Some((left, op, value))
        }
        (Some(_), None) => {
            let value = left.get(1..left.len() - 1)?;
            let flipped = match op {
                "<" => ">",
                ">" => "<",
                "<=" => ">=",
                ">=" => "<=",
                other => other,
            };
            Some((right, flipped, value))
        }
        _ => None,
    }
}

fn next_minor(version: &str) -> Option<String> {
    let mut parts = version.split('.');
    let major: u64 = parts.next()?.parse().ok()?;
    let minor: u64 = parts.next().unwrap_or("0").parse().ok()?;
    Some(format!("{major}.{}", minor + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_python_bounds_are_read() {
        assert_eq!(
            python_constraint("python_version < \"3.8\"").as_deref(),
            Some("<3.8")
        );
        assert_eq!(
            python_constraint("python_version >= '3.8' and sys_platform == 'linux'").as_deref(),
            Some(">=3.8")
        );
        assert_eq!(
            python_constraint("python_full_version >= \"3.8.1\" and python_version < \"3.12\"")
                .as_deref(),
            Some(">=3.8.1,<3.12")
        );
        assert_eq!(
            python_constraint("python_version == \"3.11\"").as_deref(),
            Some("==3.11.*")
        );
        assert_eq!(
            python_constraint("python_version > \"3.8\"").as_deref(),
            Some(">=3.9")
        );
        assert_eq!(
            python_constraint("python_version <= \"3.8\"").as_deref(),
            Some("<3.9")
        );
        assert_eq!(
            python_constraint("\"3.8\" > python_version").as_deref(),
            Some("<3.8")
        );
    }

    #[test]
    fn anything_unclear_says_nothing() {
        assert_eq!(
            python_constraint("python_version < '3.8' or sys_platform == 'win32'"),
            None
        );
        assert_eq!(python_constraint("sys_platform == 'linux'"), None);
        assert_eq!(python_constraint("(python_version < '3.8')"), None);
        assert_eq!(python_constraint("extra == 'socks'"), None);
    }
}

//! Editing `.updatebot.yml` as text: `ignore` rules added to one `updates[]` entry, the rest
//! of the file (comments, quoting, order, line endings) kept byte for byte. Pure; the caller
//! re-parses the result to confirm it says what was meant.

/// One `ignore` rule to add.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewIgnore {
    pub dependency_name: String,
    /// One version range in the ecosystem's syntax; `None`: every version.
    pub versions: Option<String>,
}

/// `text` with `rules` appended to the `ignore` list of the entry whose first key is on
/// line `entry_line` (1-based), creating the list if the entry has none. `None` when there
/// is nothing to add; `Err` when the entry's layout is not one this edit understands (an
/// inline `ignore: [...]`, say), naming it.
pub fn add_ignores(
    text: &str,
    entry_line: usize,
    rules: &[NewIgnore],
) -> Result<Option<String>, String> {
    if rules.is_empty() {
        return Ok(None);
    }
    let eol = if text.contains("\r\n") { "\r\n" } else { "\n" };
    let mut lines: Vec<&str> = text.split('\n').collect();
    // A final newline leaves an empty last piece: not a line.
    let trailing_newline = text.ends_with('\n');
    if trailing_newline {
        lines.pop();
    }
    let lines: Vec<String> = lines
        .into_iter()
        .map(|l| l.strip_suffix('\r').unwrap_or(l).to_string())
        .collect();
    let start = entry_line
        .checked_sub(1)
        .filter(|i| *i < lines.len())
        .ok_or_else(|| format!("line {entry_line}: no such line"))?;
    let first = &lines[start];
    let key_indent = first
        .char_indices()
        .find(|(_, c)| *c != ' ' && *c != '-')
        .map(|(i, _)| i)
        .ok_or_else(|| format!("line {entry_line}: not an `updates[]` entry"))?;
    let indent_of = |l: &str| l.len() - l.trim_start_matches(' ').len();
    let meaningful = |l: &str| {
        let t = l.trim();
        !t.is_empty() && !t.starts_with('#')
    };
    // The entry runs until a meaningful line indented less than its keys.
    let end = (start + 1..lines.len())
        .find(|&i| meaningful(&lines[i]) && indent_of(&lines[i]) < key_indent)
        .unwrap_or(lines.len());
    let ignore_key = format!("{}ignore:", " ".repeat(key_indent));
    let ignore_at = (start..end).find(|&i| {
        let l = if i == start {
            // `- ignore:` as the entry's first key.
            format!("{}{}", " ".repeat(key_indent), &lines[i][key_indent..])
        } else {
            lines[i].clone()
        };
        l.starts_with(&ignore_key)
    });
    let quote = |s: &str| serde_json::to_string(s).unwrap_or_else(|_| format!("\"{s}\""));
    let item = |indent: usize, r: &NewIgnore| -> Vec<String> {
        let pad = " ".repeat(indent);
        let mut out = vec![format!(
            "{pad}- dependency-name: {}",
            quote(&r.dependency_name)
        )];
        if let Some(v) = &r.versions {
            out.push(format!("{pad}  versions: [{}]", quote(v)));
        }
        out
    };
    let mut out_lines = lines.clone();
    match ignore_at {
        Some(at) => {
            let rest = lines[at][lines[at].find("ignore:").unwrap_or(0) + "ignore:".len()..]
                .trim()
                .to_string();
            if !rest.is_empty() && !rest.starts_with('#') {
                return Err(format!(
                    "line {}: `ignore: {rest}` is written inline; add the rules by hand",
                    at + 1
                ));
            }
            // The list runs until a meaningful line at or left of the key (or not a list
            // item at the key's own indentation).
            let block_end = (at + 1..end)
                .find(|&i| {
                    let l = &lines[i];
                    meaningful(l)
                        && (indent_of(l) < key_indent
                            || (indent_of(l) == key_indent && !l.trim_start().starts_with('-')))
                })
                .unwrap_or(end);
            let item_indent = (at + 1..block_end)
                .find(|&i| lines[i].trim_start().starts_with('-'))
                .map(|i| indent_of(&lines[i]))
                .unwrap_or(key_indent + 2);
            // After the list's last meaningful line (comments and blank lines below stay
            // where they are).
            let insert_at = (at + 1..block_end)
                .rev()
                .find(|&i| meaningful(&lines[i]))
                .map_or(at + 1, |i| i + 1);
            let new: Vec<String> = rules.iter().flat_map(|r| item(item_indent, r)).collect();
            out_lines.splice(insert_at..insert_at, new);
        }
        None => {
            let insert_at = (start..end)
                .rev()
                .find(|&i| meaningful(&lines[i]))
                .map_or(start + 1, |i| i + 1);
            let mut new = vec![format!("{}ignore:", " ".repeat(key_indent))];
            new.extend(rules.iter().flat_map(|r| item(key_indent + 2, r)));
            out_lines.splice(insert_at..insert_at, new);
        }
    }
    let mut out = out_lines.join(eol);
    if trailing_newline {
        out.push_str(eol);
    }
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_repo_config;

    fn six() -> NewIgnore {
        NewIgnore {
            dependency_name: "six".into(),
            versions: Some("==1.17.0".into()),
        }
    }

    #[test]
    fn a_new_ignore_list_goes_at_the_end_of_its_entry() {
        let text = "version: 2\nupdates:\n  - package-ecosystem: pip\n    directory: /\n    schedule: {interval: daily}\n  # npm next\n  - package-ecosystem: npm\n    directory: /web\n    schedule: {interval: weekly}\n";
        let out = add_ignores(text, 3, &[six()]).unwrap().unwrap();
        assert_eq!(
            out,
            "version: 2\nupdates:\n  - package-ecosystem: pip\n    directory: /\n    schedule: {interval: daily}\n    ignore:\n      - dependency-name: \"six\"\n        versions: [\"==1.17.0\"]\n  # npm next\n  - package-ecosystem: npm\n    directory: /web\n    schedule: {interval: weekly}\n"
        );
        let config = parse_repo_config(&out).unwrap();
        assert_eq!(config.updates[0].settings.ignore.as_ref().unwrap().len(), 1);
        assert!(config.updates[1].settings.ignore.is_none());
    }

    #[test]
    fn an_existing_list_is_appended_to_in_its_own_style() {
        let text = "version: 2\r\nupdates:\r\n- package-ecosystem: npm\r\n  directory: /\r\n  ignore:\r\n  - dependency-name: lodash   # pinned on purpose\r\n\r\n  schedule:\r\n    interval: daily\r\n";
        let rule = NewIgnore {
            dependency_name: "@types/*".into(),
            versions: None,
        };
        let out = add_ignores(text, 3, &[rule]).unwrap().unwrap();
        assert_eq!(
            out,
            "version: 2\r\nupdates:\r\n- package-ecosystem: npm\r\n  directory: /\r\n  ignore:\r\n  - dependency-name: lodash   # pinned on purpose\r\n  - dependency-name: \"@types/*\"\r\n\r\n  schedule:\r\n    interval: daily\r\n"
        );
        let config = parse_repo_config(&out).unwrap();
        let names: Vec<_> = config.updates[0]
            .settings
            .ignore
            .as_ref()
            .unwrap()
            .iter()
            .map(|r| r.dependency_name.as_str())
            .collect();
        assert_eq!(names, ["lodash", "@types/*"]);
    }

    #[test]
    fn inline_lists_and_bad_lines_are_refused_and_nothing_is_nothing() {
        let text = "version: 2\nupdates:\n  - package-ecosystem: pip\n    directory: /\n    ignore: [{dependency-name: x}]\n";
        assert!(add_ignores(text, 3, &[six()])
            .unwrap_err()
            .contains("inline"));
        assert!(add_ignores(text, 99, &[six()]).is_err());
        assert_eq!(add_ignores(text, 3, &[]), Ok(None));
    }
}

//! The order npm writes lockfile keys in: `localeCompare(…, 'en')`, i.e. ICU's root collation.
//! For the characters of package names and paths that is: punctuation in CLDR's order
//! (`_` before `-` before `.` before `@` before `/` …), then digits, then letters with case
//! ignored, case deciding only ties (lower case first).

use std::cmp::Ordering;

/// CLDR root order of ASCII punctuation and symbols.
const PUNCTUATION: &str = "_-,;:!?.'\"()[]{}@*/\\&#%`^+<=>|~$";

fn primary(c: char) -> u32 {
    if c.is_whitespace() {
        return 0;
    }
    if let Some(i) = PUNCTUATION.find(c) {
        return 10 + i as u32;
    }
    if c.is_ascii_digit() {
        return 100 + (c as u32 - '0' as u32);
    }
    if c.is_ascii_alphabetic() {
        return 200 + (c.to_ascii_lowercase() as u32 - 'a' as u32);
    }
    1000 + c.to_lowercase().next().unwrap_or(c) as u32
}

/// Compare like npm's `localeCompare` with the `en` locale.
pub fn compare(a: &str, b: &str) -> Ordering {
    let pa = a.chars().map(primary);
    let pb = b.chars().map(primary);
    match pa.cmp(pb) {
        Ordering::Equal => {}
        other => return other,
    }
    // Same letters: lower case sorts first at the first difference in case.
    for (x, y) in a.chars().zip(b.chars()) {
        if x != y {
            return match (x.is_lowercase(), y.is_lowercase()) {
                (true, false) => Ordering::Less,
                (false, true) => Ordering::Greater,
                _ => x.cmp(&y),
            };
        }
    }
    a.len().cmp(&b.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_npm_order_on_real_paths() {
        let mut keys = vec![
            "node_modules/string-width",
            "node_modules/string_decoder",
            "",
            "node_modules/@babel/core",
            "node_modules/abc",
            "node_modules/a.b",
            "node_modules/a/node_modules/x",
            "node_modules/a-b",
            "node_modules/A2",
            "node_modules/a2",
        ];
        keys.sort_by(|a, b| compare(a, b));
        assert_eq!(
            keys,
            [
                "",
                "node_modules/@babel/core",
                "node_modules/a-b",
                "node_modules/a.b",
                "node_modules/a/node_modules/x",
                "node_modules/a2",
                "node_modules/A2",
                "node_modules/abc",
                "node_modules/string_decoder",
                "node_modules/string-width",
            ]
        );
    }
}

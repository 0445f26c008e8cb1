//! Text that crosses into GitLab: merge request titles, descriptions, notes and commit
//! messages. Everything a registry or a repository supplies (package names, version strings,
//! release dates, deprecation and yank messages, URLs) goes through this module first.
//!
//! GitLab renders Markdown and then turns references into links and notifications: `@user`
//! and `@group` ping people, `#123` / `!123` / `&123` / `$123` / `^alert#1` link issues, merge
//! requests, epics, snippets and alerts (and cross-link them back with a system note), `~label`
//! and `%milestone` link labels and milestones; a commit message saying `Closes #12` closes an
//! issue when it is merged. Renovate and Dependabot make such text inert with an invisible
//! joiner after the sigil; so does this module (U+2060 WORD JOINER), which leaves the text
//! readable and copyable while no reference pattern matches it any more.
//!
//! * [`inline`]: a Markdown table cell or list item — Markdown and HTML characters escaped,
//!   references defused, one line, bounded.
//! * [`plain`]: titles and commit messages (not Markdown, but references are still found
//!   there) — references defused, one line, bounded.
//! * [`code`]: a code span (paths).
//! * [`url`]: a registry-supplied URL that may become a link: `http`/`https` only.
//! * [`bounded`]: a whole description or note cut to its limit on a character boundary.

/// Longest piece of registry text kept in a description, in characters.
pub const MAX_FIELD: usize = 200;
/// Longest reason or message kept in a note, in characters.
pub const MAX_MESSAGE: usize = 1_000;
/// Longest merge request title GitLab accepts, in characters.
pub const MAX_TITLE: usize = 255;
/// Longest URL linked.
pub const MAX_URL: usize = 500;
/// Longest description or note the bot writes, in bytes (GitLab accepts 1,048,576
/// characters; ours stay far smaller).
pub const MAX_DESCRIPTION: usize = 60_000;

/// The invisible character put after a reference sigil.
const JOINER: char = '\u{2060}';

/// Characters that start a GitLab reference or mention.
const SIGILS: [char; 8] = ['@', '#', '!', '~', '%', '$', '&', '^'];

/// Whether `c` must not be in text at all: control characters (newlines, tabs, escape
/// sequences) and the invisible characters that reorder or hide text (bidi overrides, as in
/// "Trojan Source").
fn unwanted(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2069}'
            | '\u{feff}' | '\u{2028}' | '\u{2029}')
}

/// Break the patterns GitLab turns into links by itself: `scheme://` and `www.`.
fn defuse_autolinks(out: String) -> String {
    if !out.contains("://") && !out.to_ascii_lowercase().contains("www.") {
        return out;
    }
    let mut text = out.replace("://", &format!(":{JOINER}//"));
    for www in ["www.", "WWW.", "Www."] {
        text = text.replace(www, &format!("{}{JOINER}.", &www[..3]));
    }
    text
}

/// A failure reason that reads the same in every run: the random names of the tools'
/// temporary directories (`updatebot-tool.Ab3xYz`) are cut, so a description or dashboard
/// quoting it does not change from run to run.
pub fn steady(text: &str) -> String {
    const MARK: &str = "updatebot-tool.";
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(MARK) {
        out.push_str(&rest[..at + MARK.len()]);
        rest = &rest[at + MARK.len()..];
        let end = rest
            .find(|c: char| !c.is_ascii_alphanumeric() && c != '_')
            .unwrap_or(rest.len());
        out.push('*');
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// Registry text as one inert line of Markdown (a table cell, a list item): Markdown and
/// HTML characters escaped, mentions and references defused, no links, control characters
/// turned into spaces, at most [`MAX_FIELD`] characters of the original.
pub fn inline(text: &str) -> String {
    inline_max(text, MAX_FIELD)
}

/// [`inline`] with another limit (`max` characters of the original; a cut is marked `…`).
pub fn inline_max(text: &str, max: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max) + 16);
    for (taken, c) in text.chars().enumerate() {
        if taken == max {
            out.push('…');
            break;
        }
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => {
                out.push_str("&amp;");
                out.push(JOINER);
            }
            '"' => out.push_str("&quot;"),
            '@' | '#' | '!' | '~' | '%' | '$' | '^' => {
                // Markdown-significant ones escaped as well; all of them defused.
                if matches!(c, '#' | '!' | '~' | '$') {
                    out.push('\\');
                }
                out.push(c);
                out.push(JOINER);
            }
            '[' | ']' | '(' | ')' | '`' | '*' | '_' | '|' | '\\' | '{' | '}' | '+' | '=' => {
                out.push('\\');
                out.push(c);
            }
            c if unwanted(c) => out.push(' '),
            c => out.push(c),
        }
    }
    defuse_autolinks(out)
}

/// Text for a title or a commit message: one line, references and mentions defused, at
/// most `max` characters of the original. Markdown characters are left as they are (a title
/// is shown as text), so ordinary names and versions come out unchanged.
pub fn plain(text: &str, max: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max) + 8);
    for (taken, c) in text.chars().enumerate() {
        if taken == max {
            out.push('…');
            break;
        }
        if unwanted(c) {
            out.push(' ');
        } else {
            out.push(c);
            if SIGILS.contains(&c) {
                out.push(JOINER);
            }
        }
    }
    out
}

/// A Markdown code span holding `text` (a path): backticks and control characters dropped,
/// at most [`MAX_FIELD`] characters. Nothing inside a code span is a reference or a link.
pub fn code(text: &str) -> String {
    let inner: String = text
        .chars()
        .filter(|c| *c != '`')
        .map(|c| if unwanted(c) { ' ' } else { c })
        .take(MAX_FIELD)
        .collect();
    format!("`{}`", inner.trim())
}

/// A registry-supplied URL, if it is a plain `http`/`https` URL with a host that is safe to
/// put into a Markdown link: no other scheme (`javascript:`, `data:`, `file:`), no
/// credentials, nothing that could end the link early, at most [`MAX_URL`] bytes.
pub fn url(text: &str) -> Option<String> {
    let parsed = url::Url::parse(text.trim()).ok()?;
    if !matches!(parsed.scheme(), "http" | "https")
        || parsed.host_str().is_none()
        || !parsed.username().is_empty()
        || parsed.password().is_some()
    {
        return None;
    }
    let text = parsed.to_string();
    let clean = text.len() <= MAX_URL
        && !text.contains(['(', ')', ' ', '<', '>', '"', '\'', '[', ']', '`', '\\', '|']);
    clean.then_some(text)
}

/// Whether `text` is safe verbatim inside a URL path and in Markdown: a version or a name
/// made only of letters, digits and `.-_+`.
pub fn is_plain_token(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 128
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '+'))
}

/// `text` cut to at most `max` bytes on a character boundary, marked when cut.
pub fn bounded(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut cut = max.saturating_sub(40);
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}\n\n(shortened)\n", &text[..cut])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What GitLab would find in rendered text: a sigil directly followed by a name char.
    fn pings(text: &str) -> bool {
        let rendered = text
            .replace("&quot;", "\"")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&");
        let chars: Vec<char> = rendered.chars().collect();
        chars.windows(2).any(|w| {
            SIGILS.contains(&w[0]) && (w[1].is_alphanumeric() || matches!(w[1], '"' | '_'))
        })
    }

    #[test]
    fn mentions_and_references_are_defused() {
        for hostile in [
            "@everyone please look",
            "fixes #123 and !45",
            "group/project#9",
            "~security ~\"needs review\" %\"v1.0\" %12",
            "$77 &88 ^alert#3",
            "@all",
        ] {
            assert!(!pings(&inline(hostile)), "{hostile} → {}", inline(hostile));
            assert!(
                !pings(&plain(hostile, 100)),
                "{hostile} → {}",
                plain(hostile, 100)
            );
        }
        // Readable all the same: only invisible characters were added.
        assert_eq!(plain("fixes #123", 100).replace(JOINER, ""), "fixes #123");
    }

    #[test]
    fn no_html_and_no_markdown_links() {
        let s = inline("<img src=x onerror=alert(1)> [click](javascript:alert(1)) <script>");
        assert!(!s.contains('<') && !s.contains('>'), "{s}");
        assert!(
            s.contains("\\[click\\]\\(javascript:alert\\(1\\)\\)"),
            "{s}"
        );
        let s = inline("see https://evil.example/x and www.evil.example");
        assert!(!s.contains("://") && !s.contains("www."), "{s}");
        let s = inline("![x](data:image/png;base64,AAAA) <a href=\"javascript:x\">");
        assert!(
            !s.contains("](") && !s.contains('"') && !s.contains('<'),
            "{s}"
        );
    }

    #[test]
    fn one_line_that_cannot_break_a_table() {
        let s = inline("1.0 | evil |\n| --- |\r\n# Heading\u{202e}txt");
        assert!(
            !s.contains('\n') && !s.contains('\r') && !s.contains('\u{202e}'),
            "{s}"
        );
        assert!(!s.contains(" | "), "{s}");
        assert!(s.contains("\\|"), "{s}");
        let t = plain("2.0\n\nCloses #1\nSigned-off-by: x", 200);
        assert!(!t.contains('\n'), "{t}");
    }

    #[test]
    fn lengths_are_bounded() {
        assert_eq!(inline(&"x".repeat(10_000)).chars().count(), MAX_FIELD + 1);
        assert_eq!(plain(&"y".repeat(10_000), 20).chars().count(), 21);
        // Every escape at most a few bytes per original character.
        assert!(inline(&"@#<".repeat(5_000)).len() < MAX_FIELD * 8);
        let long = "é".repeat(MAX_DESCRIPTION);
        let cut = bounded(&long, MAX_DESCRIPTION);
        assert!(cut.len() <= MAX_DESCRIPTION && cut.ends_with("(shortened)\n"));
        assert_eq!(bounded("short", 10), "short");
    }

    #[test]
    fn ordinary_text_is_unchanged_where_it_is_shown_as_text() {
        assert_eq!(
            plain("Bump requests from 2.25.0 to 2.32.3 in /backend", 255),
            "Bump requests from 2.25.0 to 2.32.3 in /backend"
        );
        assert_eq!(inline("2.32.3"), "2.32.3");
        assert_eq!(inline("left-pad"), "left-pad");
        assert_eq!(inline("a_b"), "a\\_b");
    }

    #[test]
    fn code_spans_hold_no_backticks() {
        assert_eq!(code("/backend"), "`/backend`");
        // Inside a code span nothing is HTML, a link or a reference.
        assert_eq!(code("<b>@all #1"), "`<b>@all #1`");
        assert_eq!(code("a`b\nc"), "`ab c`");
    }

    #[test]
    fn only_plain_web_urls_are_linked() {
        assert_eq!(
            url("https://github.com/psf/requests").as_deref(),
            Some("https://github.com/psf/requests")
        );
        for bad in [
            "javascript:alert(1)",
            "JavaScript:alert(1)",
            "data:text/html;base64,PHNjcmlwdD4=",
            "file:///etc/passwd",
            "vbscript:x",
            "https://x.example/a)b",
            "https://user:pw@x.example/",
            "//x.example/a",
        ] {
            assert_eq!(url(bad), None, "{bad}");
        }
        // Quotes are percent-encoded: nothing can leave the link's target.
        let quoted = url("https://x.example/\"onmouseover=\"x").unwrap();
        assert!(!quoted.contains('"'), "{quoted}");
        assert_eq!(url(&format!("https://x.example/{}", "a".repeat(600))), None);
    }

    #[test]
    fn plain_tokens() {
        assert!(is_plain_token("2.32.3"));
        assert!(is_plain_token("1.0.0-rc.1+build"));
        assert!(!is_plain_token("1.0/../../x"));
        assert!(!is_plain_token("1.0)](javascript:x"));
        assert!(!is_plain_token(""));
    }
}

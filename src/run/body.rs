//! Merge request descriptions: the change table, links, release dates, files touched, notes
//! and the commands the bot understands. Text from registries is sanitised: no mentions that
//! ping people, no raw HTML, no Markdown links but ours, bounded length.

use super::meta::Meta;
use super::plan::PlannedChange;

/// Longest description the bot writes (GitLab accepts 1,048,576 characters).
pub const MAX_DESCRIPTION: usize = 60_000;
/// Longest piece of registry text kept.
const MAX_FIELD: usize = 200;

/// Registry text made inert: Markdown and HTML characters escaped, `@` defused with a zero-width
/// joiner so it pings no one, control characters dropped, length bounded.
pub fn sanitize(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars().take(MAX_FIELD) {
        match c {
            '@' => out.push_str("@\u{2060}"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '[' | ']' | '(' | ')' | '`' | '*' | '_' | '|' | '#' | '!' | '\\' | '~' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// A registry-supplied URL, if it is a plain http(s) URL safe to link.
pub fn safe_url(url: &str) -> Option<String> {
    let parsed = url::Url::parse(url.trim()).ok()?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return None;
    }
    let text = parsed.to_string();
    (text.len() <= 500 && !text.contains(['(', ')', ' ', '<', '>', '"'])).then_some(text)
}

/// A compare view between two versions, for repositories on GitHub or GitLab.
fn compare_url(source: &str, from: &str, to: &str) -> Option<String> {
    let base = source.trim_end_matches('/').trim_end_matches(".git");
    let parsed = url::Url::parse(base).ok()?;
    let segments = parsed.path_segments()?.filter(|s| !s.is_empty()).count();
    if segments < 2 {
        return None;
    }
    let (from, to) = (sanitize(from), sanitize(to));
    match parsed.host_str()? {
        "github.com" => Some(format!("{base}/compare/{from}...{to}")),
        host if host.contains("gitlab") => Some(format!("{base}/-/compare/{from}...{to}")),
        _ => None,
    }
}

fn date_of(releases: &updatebot_core::registry::ReleaseList, version: &str) -> String {
    releases
        .release(version)
        .and_then(|r| r.released_at.as_deref())
        .map(|d| sanitize(d.get(..10).unwrap_or(d)))
        .unwrap_or_else(|| "–".into())
}

/// The description of a planned change, with its meta record at the end.
pub fn describe(
    change: &PlannedChange,
    files: &[String],
    lockfiles: &[String],
    meta: &Meta,
    bot: &str,
) -> String {
    let mut out = String::new();
    match &change.group {
        None => {
            let moves: Vec<String> = change
                .updates
                .iter()
                .map(|u| format!("from {} to {}", sanitize(&u.from), sanitize(&u.to)))
                .collect();
            let name = change
                .updates
                .first()
                .map(|u| sanitize(&u.name))
                .unwrap_or_default();
            out.push_str(&format!("Bumps **{name}** {}", moves.join(" and ")));
        }
        Some(group) => out.push_str(&format!(
            "Bumps the **{}** group with {} update{}",
            sanitize(group),
            change.updates.len(),
            if change.updates.len() == 1 { "" } else { "s" }
        )),
    }
    if change.directory != "/" {
        out.push_str(&format!(" in `{}`", change.directory.replace('`', "")));
    }
    out.push_str(
        ".\n\n| Package | From | To | Update | Released |\n| --- | --- | --- | --- | --- |\n",
    );
    for u in &change.updates {
        let released = u
            .releases
            .as_deref()
            .map(|r| date_of(r, &u.to))
            .unwrap_or_else(|| "–".into());
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} |\n",
            sanitize(&u.name),
            sanitize(&u.from),
            sanitize(&u.to),
            u.update_type,
            released
        ));
    }
    if let Some(security) = &change.security {
        out.push_str(&security.section());
    }
    let mut links = Vec::new();
    for u in &change.updates {
        let Some(releases) = u.releases.as_deref() else {
            continue;
        };
        let mut mine = Vec::new();
        if let Some(source) = releases.source_url.as_deref().and_then(safe_url) {
            if let Some(compare) = compare_url(&source, &u.from, &u.to) {
                mine.push(format!(
                    "[compare {}…{}]({compare})",
                    sanitize(&u.from),
                    sanitize(&u.to)
                ));
            }
            mine.push(format!("[source]({source})"));
        }
        if let Some(changelog) = releases.changelog_url.as_deref().and_then(safe_url) {
            mine.push(format!("[changelog]({changelog})"));
        }
        if mine.is_empty() {
            if let Some(home) = releases.homepage.as_deref().and_then(safe_url) {
                mine.push(format!("[homepage]({home})"));
            }
        }
        if !mine.is_empty() {
            links.push(format!("- {}: {}", sanitize(&u.name), mine.join(" · ")));
        }
    }
    if !links.is_empty() {
        out.push_str("\n**Release notes**\n\n");
        out.push_str(&links.join("\n"));
        out.push('\n');
    }
    out.push_str("\n**Files**\n\n");
    let manifests: Vec<&str> = change
        .updates
        .iter()
        .flat_map(|u| u.sites.iter().map(|(p, _)| p.as_str()))
        .collect();
    for file in files {
        let lock = match (lockfiles.contains(file), manifests.contains(&file.as_str())) {
            (true, true) => " (pins and hashes)",
            (true, false) => " (lockfile)",
            _ => "",
        };
        out.push_str(&format!("- `{}`{lock}\n", file.replace('`', "")));
    }
    let notes: Vec<String> = change
        .updates
        .iter()
        .flat_map(|u| {
            u.notes
                .iter()
                .map(move |n| format!("- {}: {}", sanitize(&u.name), sanitize(n)))
        })
        .collect();
    if !notes.is_empty() {
        out.push_str("\n**Not proposed**\n\n");
        out.push_str(&notes.join("\n"));
        out.push('\n');
    }
    out.push_str(&format!(
        "\n---\n\n<details>\n<summary>Commands</summary>\n\nComment on this merge request:\n\n\
         - `@{bot} rebase`: rebase this merge request onto its target branch\n\
         - `@{bot} recreate`: recreate it, overwriting any edits\n\
         - `@{bot} ignore this version`: close it and never propose this version again\n\
         - `@{bot} ignore this major version`: close it and skip this major version\n\
         - `@{bot} ignore this dependency`: close it and stop updating this dependency\n\n</details>\n"
    ));
    let record = format!("\n{}", meta.render());
    if out.len() + record.len() > MAX_DESCRIPTION {
        let mut cut = MAX_DESCRIPTION.saturating_sub(record.len() + 40);
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
        out.push_str("\n\n(description shortened)\n");
    }
    out.push_str(&record);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_text_cannot_ping_link_or_inject_html() {
        let s = sanitize("@everyone <img src=x onerror=alert(1)> [click](https://evil)");
        assert!(!s.contains("@e"), "{s}");
        assert!(!s.contains('<'));
        assert!(s.contains("\\[click\\]\\(https://evil\\)"));
        assert_eq!(sanitize(&"x".repeat(1000)).len(), MAX_FIELD);
    }

    #[test]
    fn only_plain_web_urls_are_linked() {
        assert_eq!(
            safe_url("https://github.com/psf/requests").as_deref(),
            Some("https://github.com/psf/requests")
        );
        assert_eq!(safe_url("javascript:alert(1)"), None);
        assert_eq!(safe_url("https://x.example/a)b"), None);
        assert_eq!(
            compare_url("https://github.com/psf/requests", "2.25.0", "2.32.3").as_deref(),
            Some("https://github.com/psf/requests/compare/2.25.0...2.32.3")
        );
        assert_eq!(compare_url("https://example.org/x", "1", "2"), None);
    }
}

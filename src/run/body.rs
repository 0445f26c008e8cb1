//! Merge request descriptions: the change table, links, release dates, files touched, notes
//! and the commands the bot understands. Text from registries is sanitised: no mentions that
//! ping people, no raw HTML, no Markdown links but ours, bounded length.

use super::meta::Meta;
use super::plan::PlannedChange;

pub use super::sanitize::MAX_DESCRIPTION;
use super::sanitize::{self, code, inline as sanitize};

/// A registry-supplied URL, if it is a plain http(s) URL safe to link.
pub fn safe_url(url: &str) -> Option<String> {
    sanitize::url(url)
}

/// A compare view between two versions, for repositories on GitHub or GitLab.
fn compare_url(source: &str, from: &str, to: &str) -> Option<String> {
    let base = source.trim_end_matches('/').trim_end_matches(".git");
    let parsed = url::Url::parse(base).ok()?;
    let segments = parsed.path_segments()?.filter(|s| !s.is_empty()).count();
    if segments < 2 {
        return None;
    }
    // Versions go into the URL verbatim: only plain ones make a compare view.
    if !sanitize::is_plain_token(from) || !sanitize::is_plain_token(to) {
        return None;
    }
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

/// What a group could not take, or why this update left its group. Reasons are quoted as
/// every run gives them (see [`sanitize::steady`]), so the description does not churn.
fn split_section(change: &PlannedChange) -> String {
    let reason = |r: &str| sanitize::inline_max(&sanitize::steady(r), sanitize::MAX_MESSAGE);
    let mut out = String::new();
    if !change.split.left_out.is_empty() {
        out.push_str("\n**Left out of this group**\n\n");
        for l in &change.split.left_out {
            let next = match &l.alone {
                Some(branch) => format!(
                    "proposed in a merge request of its own, from {}",
                    sanitize::code(branch)
                ),
                None => "it cannot be applied alone either: reported as failed in the run report and the dependency dashboard".to_string(),
            };
            out.push_str(&format!(
                "- {} {} → {}: the group could not take it ({}); {next}.\n",
                sanitize(&l.name),
                sanitize(&l.from),
                sanitize(&l.to),
                reason(&l.reason)
            ));
        }
    }
    if let Some((group, why)) = &change.split.from_group {
        out.push_str(&format!(
            "\nProposed alone: the **{}** group could not take it ({}). It joins the group \
             again, and this merge request is closed, once the group can take it.\n",
            sanitize(group),
            reason(why)
        ));
    }
    out
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
            let first = change.updates.first().map(|u| u.name.as_str());
            // Other packages a security update moves (a parent, a folded transitive fix)
            // are named.
            let moves: Vec<String> = change
                .updates
                .iter()
                .map(|u| {
                    let what = format!("from {} to {}", sanitize(&u.from), sanitize(&u.to));
                    if Some(u.name.as_str()) == first {
                        what
                    } else {
                        format!("**{}** {what}", sanitize(&u.name))
                    }
                })
                .collect();
            let name = first.map(sanitize).unwrap_or_default();
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
        out.push_str(&format!(" in {}", code(&change.directory)));
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
    } else if !change.fixes.is_empty() {
        out.push_str(&crate::security::mr::section(&change.fixes, &[]));
    }
    out.push_str(&split_section(change));
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
        out.push_str(&format!("- {}{lock}\n", code(file)));
    }
    let notes: Vec<String> = change
        .updates
        .iter()
        .flat_map(|u| {
            u.notes.iter().map(move |n| {
                format!(
                    "- {}: {}",
                    sanitize(&u.name),
                    sanitize::inline_max(n, sanitize::MAX_MESSAGE)
                )
            })
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
    use crate::run::meta::MetaUpdate;
    use std::sync::Arc;
    use updatebot_core::registry::{Release, ReleaseList};
    use updatebot_core::version::UpdateType;
    use updatebot_core::Ecosystem;

    fn hostile_change() -> (PlannedChange, Meta) {
        let from = "1.0 | x |\n| --- |";
        let to = "2.0<script>alert(1)</script>@all #1 !2 ~bug %v1";
        let mut release = Release::new(to);
        release.released_at = Some("2024-01-01<img src=x onerror=alert(1)>".into());
        let releases = ReleaseList {
            name: "evil".into(),
            releases: vec![release],
            source_url: Some("javascript:alert(1)//github.com/a/b".into()),
            changelog_url: Some("data:text/html;base64,PHNjcmlwdD4=".into()),
            homepage: Some("https://evil.example/x)[y](javascript:z".into()),
            ..ReleaseList::default()
        };
        let update = super::super::plan::PlannedUpdate {
            name: "@everyone/pkg](javascript:alert(1))".into(),
            package: "pkg".into(),
            from: from.into(),
            to: to.into(),
            update_type: UpdateType::Major,
            development: false,
            scheme: "npm",
            sites: vec![("pkg`\n# x/package.json".into(), 0)],
            releases: Some(Arc::new(releases)),
            notes: vec![format!(
                "3.0 is deprecated: {}",
                "@here see #99 ".repeat(1000)
            )],
        };
        let change = PlannedChange {
            key: "npm:/:pkg".into(),
            branch: "updatebot/npm/pkg-2.0".into(),
            ecosystem: Ecosystem::Npm,
            directory: "/we`ird\n".into(),
            group: None,
            updates: vec![update],
            title: "t".into(),
            commit_message: "t".into(),
            labels: vec![],
            assignees: vec![],
            reviewers: vec![],
            milestone: None,
            entry: None,
            open_limit: 5,
            rebase: true,
            security: None,
            separator: '/',
            commit: Default::default(),
            split: Default::default(),
            fixes: Vec::new(),
            supersedes: Vec::new(),
            standby: None,
        };
        let meta = Meta {
            v: 1,
            key: change.key.clone(),
            scheme: "npm".into(),
            updates: vec![MetaUpdate {
                name: "x-->".into(),
                from: from.into(),
                to: to.into(),
            }],
            base: "abc".into(),
            ignore: None,
            closed_by_bot: false,
            unignored: false,
        };
        (change, meta)
    }

    #[test]
    fn registry_text_cannot_ping_link_break_the_table_or_inject_html() {
        let (change, meta) = hostile_change();
        let files = vec!["pkg`\n# x/package.json".to_string()];
        let body = describe(&change, &files, &[], &meta, "updatebot");
        let (text, record) = body.split_at(body.rfind("<!-- updatebot:meta").unwrap());
        assert!(Meta::find(record).is_some());
        // The only HTML is the bot's own collapsible section and its record.
        let html: String = text
            .replace("<details>", "")
            .replace("</details>", "")
            .replace("<summary>", "")
            .replace("</summary>", "");
        assert!(!html.contains('<'), "{text}");
        assert!(
            !text.contains("javascript:") || !text.contains("](javascript"),
            "{text}"
        );
        assert!(
            !text.contains("](data:") && !text.contains("](https://evil"),
            "{text}"
        );
        for sigil in [
            "@everyone",
            "@all",
            "@here",
            "#1 ",
            "#99",
            "!2",
            "~bug",
            "%v1",
        ] {
            assert!(!text.contains(sigil), "{sigil} in {text}");
        }
        // The bot's own command list still mentions the bot (on purpose).
        assert!(text.contains("`@updatebot rebase`"));
        // The table keeps five cells per row.
        let row = text
            .lines()
            .find(|l| l.starts_with("| ") && l.contains("2.0"))
            .unwrap();
        assert_eq!(row.replace("\\|", "").matches('|').count(), 6, "{row}");
        // Bounded: the long deprecation note was cut.
        assert!(text.len() < 10_000, "{}", text.len());
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
        assert_eq!(
            compare_url("https://github.com/a/b", "1", "2)](javascript:x"),
            None
        );
    }
}

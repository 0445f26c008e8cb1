//! What the bot records in its own merge requests (a hidden comment in the description):
//! the platform is the only state, so every run reads back what earlier runs did.

use serde::{Deserialize, Serialize};

const OPEN: &str = "<!-- updatebot:meta ";
const CLOSE: &str = " -->";

/// Why a merge request closed without merging keeps its updates from coming back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Ignore {
    Version,
    Major,
    Dependency,
}

/// The `ecosystem:directory` scope of a change key: `pip:/backend:requests` → `pip:/backend`.
pub fn scope_of(key: &str) -> &str {
    match key.find(":/") {
        Some(at) => match key[at + 1..].find(':') {
            Some(end) => &key[..at + 1 + end],
            None => key,
        },
        None => key,
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetaUpdate {
    pub name: String,
    pub from: String,
    pub to: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meta {
    /// Format version.
    pub v: u32,
    /// The change's identity across versions: `pip:/backend:requests`, `pip:/:group:dev`.
    pub key: String,
    /// The versioning scheme of the updates (to compare majors later).
    pub scheme: String,
    pub updates: Vec<MetaUpdate>,
    /// The target-branch commit the change was made on.
    pub base: String,
    /// Set when a command or the closed-merge-request policy says what to ignore.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignore: Option<Ignore>,
    /// Set when the bot itself closed the merge request (superseded, no longer needed): such
    /// a closing says nothing about what people want.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub closed_by_bot: bool,
    /// Set when a person undid the ignore this closed merge request stood for (from the
    /// dashboard): its updates may be proposed again.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unignored: bool,
}

impl Meta {
    /// What this record of a merge request closed without merging keeps from being proposed
    /// again: the ignore a command set, else the operator's policy for a person's closing;
    /// nothing when the bot closed it itself or a person undid the ignore.
    pub fn standing_ignore(&self, policy: crate::config::ClosedMergeRequest) -> Option<Ignore> {
        if self.unignored || (self.closed_by_bot && self.ignore.is_none()) {
            return None;
        }
        Some(self.ignore.unwrap_or(match policy {
            crate::config::ClosedMergeRequest::IgnoreVersion => Ignore::Version,
            crate::config::ClosedMergeRequest::IgnoreMajor => Ignore::Major,
        }))
    }

    /// The hidden comment carrying this record. `<` and `>` are escaped inside the JSON, so
    /// no value can end the comment.
    pub fn render(&self) -> String {
        let json = serde_json::to_string(self)
            .unwrap_or_default()
            .replace('<', "\\u003c")
            .replace('>', "\\u003e");
        format!("{OPEN}{json}{CLOSE}")
    }

    /// The record in a description, if there is a readable one.
    pub fn find(description: &str) -> Option<Meta> {
        let start = description.rfind(OPEN)? + OPEN.len();
        let end = description[start..].find(CLOSE)? + start;
        serde_json::from_str(&description[start..end]).ok()
    }

    /// `description` with its record replaced by this one (or appended).
    pub fn replace_in(&self, description: &str) -> String {
        match description.rfind(OPEN) {
            Some(start) => {
                let end = description[start..]
                    .find(CLOSE)
                    .map(|e| start + e + CLOSE.len())
                    .unwrap_or(description.len());
                format!(
                    "{}{}{}",
                    &description[..start],
                    self.render(),
                    &description[end..]
                )
            }
            None => format!("{description}\n\n{}", self.render()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> Meta {
        Meta {
            v: 1,
            key: "pip:/backend:requests".into(),
            scheme: "pep440".into(),
            updates: vec![MetaUpdate {
                name: "requests".into(),
                from: "2.25.0".into(),
                to: "<script>-->".into(),
            }],
            base: "abc".into(),
            ignore: None,
            closed_by_bot: false,
            unignored: false,
        }
    }

    #[test]
    fn round_trips_and_cannot_be_broken_out_of() {
        let text = format!("Bumps requests.\n\n{}", meta().render());
        assert!(!text[..text.len() - 4].contains("-->") || text.matches("-->").count() == 1);
        assert_eq!(Meta::find(&text), Some(meta()));
        let mut ignored = meta();
        ignored.ignore = Some(Ignore::Major);
        let replaced = ignored.replace_in(&text);
        assert_eq!(Meta::find(&replaced).unwrap().ignore, Some(Ignore::Major));
        assert!(replaced.starts_with("Bumps requests.\n\n"));
        assert_eq!(Meta::find("no record here"), None);
        assert_eq!(Meta::find("<!-- updatebot:meta {broken -->"), None);
    }
}

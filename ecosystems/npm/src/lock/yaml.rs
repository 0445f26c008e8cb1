//! A small read-only YAML tree for lockfiles (`pnpm-lock.yaml`, yarn berry's `yarn.lock`),
//! built from `saphyr-parser` events. Aliases are not expanded (no tool writes them in a
//! lock, and expanding them invites "billion laughs"); nesting is bounded.

use saphyr_parser::{Event, Parser};

/// Deeper nesting than this is refused (it bounds the walkers' recursion).
const MAX_DEPTH: usize = 64;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Node {
    /// A scalar's value as text (`9.0`, `true`, `4.3.7`), whatever its style.
    Scalar(String),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
    Alias,
}

impl Node {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Node::Scalar(s) => Some(s),
            _ => None,
        }
    }

    /// The value of `key` in a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entries()
            .iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(_, v)| v)
    }

    pub fn entries(&self) -> &[(Node, Node)] {
        match self {
            Node::Map(entries) => entries,
            _ => &[],
        }
    }

    pub fn items(&self) -> &[Node] {
        match self {
            Node::Seq(items) => items,
            _ => &[],
        }
    }
}

enum Frame {
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>, Option<Node>),
}

/// The first document of `text` (an empty text is an empty mapping). `Err`: line and why.
pub fn parse(text: &str) -> Result<Node, String> {
    let body = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut stack: Vec<Frame> = Vec::new();
    for event in Parser::new_from_str(body) {
        let (event, span) =
            event.map_err(|e| format!("line {}: {}", e.marker().line().max(1), e.info()))?;
        let node = match event {
            Event::SequenceStart(..) | Event::MappingStart(..) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(format!(
                        "line {}: nested deeper than {MAX_DEPTH} levels",
                        span.start.line().max(1)
                    ));
                }
                stack.push(if matches!(event, Event::SequenceStart(..)) {
                    Frame::Seq(Vec::new())
                } else {
                    Frame::Map(Vec::new(), None)
                });
                continue;
            }
            Event::SequenceEnd => match stack.pop() {
                Some(Frame::Seq(items)) => Node::Seq(items),
                _ => return Err("unbalanced sequence".into()),
            },
            Event::MappingEnd => match stack.pop() {
                Some(Frame::Map(entries, _)) => Node::Map(entries),
                _ => return Err("unbalanced mapping".into()),
            },
            Event::Scalar(value, ..) => Node::Scalar(value.into_owned()),
            Event::Alias(_) => Node::Alias,
            Event::DocumentEnd => break,
            _ => continue,
        };
        match stack.last_mut() {
            None => return Ok(node),
            Some(Frame::Seq(items)) => items.push(node),
            Some(Frame::Map(entries, key)) => match key.take() {
                None => *key = Some(node),
                Some(k) => entries.push((k, node)),
            },
        }
    }
    Ok(Node::Map(Vec::new()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lock_shaped_document_reads_and_hostile_ones_fail_cleanly() {
        let doc = parse("lockfileVersion: '9.0'\nimporters:\n  .:\n    dependencies:\n      debug:\n        specifier: ^4.3.4\n        version: 4.3.7(supports-color@7.2.0)\n").unwrap();
        assert_eq!(
            doc.get("lockfileVersion").and_then(Node::as_str),
            Some("9.0")
        );
        let debug = doc
            .get("importers")
            .and_then(|i| i.get("."))
            .and_then(|i| i.get("dependencies"))
            .and_then(|d| d.get("debug"))
            .unwrap();
        assert_eq!(
            debug.get("version").and_then(Node::as_str),
            Some("4.3.7(supports-color@7.2.0)")
        );
        assert_eq!(parse("").unwrap(), Node::Map(Vec::new()));
        assert!(parse(&"[".repeat(500)).is_err());
        assert!(parse("a: [b\n").is_err());
        assert_eq!(
            parse("a: &x [1]\nb: *x\n").unwrap().get("b"),
            Some(&Node::Alias)
        );
    }
}

//! A YAML tree whose scalars know the byte span of their text, for format-preserving edits.
//!
//! Built from `saphyr-parser` events. Only the start of a scalar is taken from the parser
//! (its end markers are unreliable for double-quoted scalars followed by a comment); the end
//! is found by matching the scalar's value against the text at that start. A scalar whose
//! text is not its value verbatim (escapes, folded lines, block scalars) gets no span, and is
//! never edited.

use saphyr_parser::{Event, Parser, ScalarStyle};
use updatebot_core::Span;

/// Nesting deeper than this is refused (it bounds the walkers' recursion).
const MAX_DEPTH: usize = 128;

#[derive(Clone, Debug)]
pub enum Node {
    Scalar {
        value: String,
        /// The span of the value's text (inside quotes), when it is verbatim.
        span: Option<Span>,
        line: usize,
    },
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
    /// An alias (`*name`): the anchored node is read where it is defined.
    Alias,
}

impl Node {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Node::Scalar { value, .. } => Some(value),
            _ => None,
        }
    }

    /// The value of `key` in a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match self {
            Node::Map(entries) => entries
                .iter()
                .find(|(k, _)| k.as_str() == Some(key))
                .map(|(_, v)| v),
            _ => None,
        }
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

/// Why a YAML file could not be read: line and message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct YamlError {
    pub line: usize,
    pub message: String,
}

enum Frame {
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>, Option<Node>),
}

/// Every document of `text`.
pub fn parse(text: &str) -> Result<Vec<Node>, YamlError> {
    let bom = if text.starts_with('\u{feff}') { 3 } else { 0 };
    let body = &text[bom..];
    // Marker indices count characters; map them to bytes.
    let ascii = body.is_ascii();
    let char_starts: Vec<usize> = if ascii {
        Vec::new()
    } else {
        body.char_indices().map(|(i, _)| i).collect()
    };
    let to_byte = |index: usize| -> usize {
        if ascii {
            index.min(body.len())
        } else {
            char_starts.get(index).copied().unwrap_or(body.len())
        }
    };
    let mut docs = Vec::new();
    let mut stack: Vec<Frame> = Vec::new();
    let mut finished: Option<Node> = None;
    for event in Parser::new_from_str(body) {
        let (event, span) = event.map_err(|e| YamlError {
            line: e.marker().line().max(1),
            message: e.info().to_string(),
        })?;
        let node = match event {
            Event::SequenceStart(..) | Event::MappingStart(..) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(YamlError {
                        line: span.start.line().max(1),
                        message: format!("nested deeper than {MAX_DEPTH} levels"),
                    });
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
                _ => continue,
            },
            Event::MappingEnd => match stack.pop() {
                Some(Frame::Map(entries, _)) => Node::Map(entries),
                _ => continue,
            },
            Event::Scalar(value, style, _, _) => {
                let start = to_byte(span.start.index());
                let span = scalar_span(body, start, &value, style)
                    .map(|(s, e)| Span::new(s + bom, e + bom));
                Node::Scalar {
                    value: value.into_owned(),
                    span,
                    line: span_line(&span, text),
                }
            }
            Event::Alias(_) => Node::Alias,
            Event::DocumentEnd => {
                docs.push(finished.take().unwrap_or(Node::Seq(Vec::new())));
                continue;
            }
            _ => continue,
        };
        match stack.last_mut() {
            None => finished = Some(node),
            Some(Frame::Seq(items)) => items.push(node),
            Some(Frame::Map(entries, key)) => match key.take() {
                None => *key = Some(node),
                Some(k) => entries.push((k, node)),
            },
        }
    }
    if let Some(node) = finished {
        docs.push(node);
    }
    Ok(docs)
}

fn span_line(span: &Option<Span>, text: &str) -> usize {
    span.map(|s| s.line_in(text)).unwrap_or(0)
}

/// The byte range of `value`'s text when it is written verbatim at `start`.
fn scalar_span(
    body: &str,
    start: usize,
    value: &str,
    style: ScalarStyle,
) -> Option<(usize, usize)> {
    let quote = match style {
        ScalarStyle::Plain => None,
        ScalarStyle::SingleQuoted => Some('\''),
        ScalarStyle::DoubleQuoted => Some('"'),
        _ => return None,
    };
    let rest = body.get(start..)?;
    match quote {
        None => rest
            .starts_with(value)
            .then_some((start, start + value.len())),
        Some(q) => {
            let inner = rest.strip_prefix(q)?;
            let after = inner.strip_prefix(value)?;
            after
                .starts_with(q)
                .then_some((start + 1, start + 1 + value.len()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_exclude_quotes_and_comments() {
        let text = "\u{feff}a: \"nginx:1.25\"   # c\nb: 'x'\nc: plain  # d\né: [\"v\", w]\n---\nk: \"esc\\u0041\"\n";
        let docs = parse(text).unwrap();
        assert_eq!(docs.len(), 2);
        let at = |n: &Node| match n {
            Node::Scalar { span, .. } => span.and_then(|s| s.slice(text)).map(str::to_string),
            _ => None,
        };
        assert_eq!(at(docs[0].get("a").unwrap()).as_deref(), Some("nginx:1.25"));
        assert_eq!(at(docs[0].get("b").unwrap()).as_deref(), Some("x"));
        assert_eq!(at(docs[0].get("c").unwrap()).as_deref(), Some("plain"));
        assert_eq!(
            at(&docs[0].get("é").unwrap().items()[0]).as_deref(),
            Some("v")
        );
        assert_eq!(at(docs[1].get("k").unwrap()), None);
    }

    #[test]
    fn errors_have_a_line() {
        let e = parse("a: [\nb: c\n  - d: e: f\n").unwrap_err();
        assert!(e.line >= 1);
    }
}

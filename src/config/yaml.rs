//! A small YAML tree in which every node knows its line and column.
//!
//! Built from `saphyr-parser` events rather than with saphyr's own loader, because the
//! loader stops at the first duplicate mapping key while we want to report every
//! duplicate (with the line of both occurrences) next to every other problem. Scalars are
//! resolved with saphyr's YAML 1.2 core schema, so `"2"` is a string and `2` an integer.

use std::borrow::Cow;
use std::collections::BTreeMap;

use saphyr::Scalar;
use saphyr_parser::{Event, Parser, ScalarStyle, Span, SpannedEventReceiver, Tag};

use super::problem::{show, Pos, Problem};

/// Deeper nesting than this is refused (no configuration needs it; it bounds recursion).
const MAX_DEPTH: usize = 64;
/// Upper bound on nodes produced by alias expansion ("billion laughs").
const MAX_ALIAS_NODES: usize = 10_000;
/// Configuration files are small; a bigger one is refused rather than parsed.
pub(crate) const MAX_BYTES: usize = 1024 * 1024;

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float,
    Str(String),
}

#[derive(Debug, Clone)]
pub(crate) enum Kind {
    /// A scalar: its resolved value and the text as written.
    Scalar(Value, String),
    Seq(Vec<Node>),
    /// Entries in document order, duplicates included (the walker reports them).
    Map(Vec<(Node, Node)>),
}

#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub pos: Pos,
    pub kind: Kind,
}

impl Node {
    /// What the node is, for messages: "a list", "integer `3`", …
    pub(crate) fn describe(&self) -> String {
        match &self.kind {
            Kind::Seq(_) => "a list".to_owned(),
            Kind::Map(_) => "a mapping".to_owned(),
            Kind::Scalar(Value::Null, _) => "nothing (null)".to_owned(),
            Kind::Scalar(Value::Bool(_), raw) => format!("boolean `{}`", show(raw)),
            Kind::Scalar(Value::Int(_), raw) => format!("integer `{}`", show(raw)),
            Kind::Scalar(Value::Float, raw) => format!("number `{}`", show(raw)),
            Kind::Scalar(Value::Str(_), raw) => format!("string `{}`", show(raw)),
        }
    }

    pub(crate) fn as_str(&self) -> Option<&str> {
        match &self.kind {
            Kind::Scalar(Value::Str(s), _) => Some(s),
            _ => None,
        }
    }

    fn count(&self) -> usize {
        match &self.kind {
            Kind::Scalar(..) => 1,
            Kind::Seq(items) => 1 + items.iter().map(Node::count).sum::<usize>(),
            Kind::Map(entries) => {
                1 + entries
                    .iter()
                    .map(|(k, v)| k.count() + v.count())
                    .sum::<usize>()
            }
        }
    }
}

/// Parses `text` as a single YAML document.
///
/// Returns the root node (`None` for an empty document) and the problems found. A syntax
/// error gives no tree and exactly one problem, at the parser's position.
pub(crate) fn parse(text: &str) -> (Option<Node>, Vec<Problem>) {
    if text.len() > MAX_BYTES {
        let msg = format!(
            "the file is larger than {} KiB; refusing to read it",
            MAX_BYTES / 1024
        );
        return (None, vec![Problem::new(Pos::START, msg)]);
    }
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(text);
    if let Err(e) = parser.load(&mut builder, true) {
        let m = e.marker();
        let pos = Pos {
            line: m.line().max(1),
            column: m.col() + 1,
        };
        return (
            None,
            vec![Problem::new(pos, format!("invalid YAML: {}", e.info()))],
        );
    }
    if builder.aborted {
        return (None, builder.problems);
    }
    (builder.docs.into_iter().next(), builder.problems)
}

fn pos_of(span: &Span) -> Pos {
    Pos {
        line: span.start.line().max(1),
        column: span.start.col() + 1,
    }
}

enum Frame {
    Seq(Pos, usize, Vec<Node>),
    Map(Pos, usize, Vec<(Node, Node)>, Option<Node>),
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    docs: Vec<Node>,
    documents_seen: usize,
    anchors: BTreeMap<usize, Node>,
    alias_nodes: usize,
    problems: Vec<Problem>,
    aborted: bool,
}

impl Builder {
    fn abort(&mut self, pos: Pos, message: impl Into<String>) {
        self.problems.push(Problem::new(pos, message));
        self.aborted = true;
        self.stack.clear();
    }

    fn check_tag(&mut self, tag: Option<&Cow<'_, Tag>>, pos: Pos) {
        if let Some(tag) = tag {
            if !tag.is_yaml_core_schema() {
                self.problems.push(Problem::new(
                    pos,
                    format!(
                        "YAML tag `{}` is not supported here",
                        show(&tag.to_string())
                    ),
                ));
            }
        }
    }

    fn push_frame(&mut self, frame: Frame, pos: Pos) {
        if self.stack.len() >= MAX_DEPTH {
            self.abort(pos, format!("nesting deeper than {MAX_DEPTH} levels"));
        } else {
            self.stack.push(frame);
        }
    }

    fn finish(&mut self, node: Node, anchor: usize) {
        if anchor != 0 {
            self.anchors.insert(anchor, node.clone());
        }
        match self.stack.last_mut() {
            Some(Frame::Seq(_, _, items)) => items.push(node),
            Some(Frame::Map(_, _, entries, key)) => match key.take() {
                Some(k) => entries.push((k, node)),
                None => *key = Some(node),
            },
            None => {
                if self.documents_seen == 1 {
                    self.docs.push(node);
                }
            }
        }
    }

    fn scalar(
        &mut self,
        text: Cow<'_, str>,
        style: ScalarStyle,
        tag: Option<Cow<'_, Tag>>,
    ) -> Node {
        let raw = text.to_string();
        let value = match Scalar::parse_from_cow_and_metadata(text, style, tag.as_ref()) {
            Some(Scalar::Null) => Value::Null,
            Some(Scalar::Boolean(b)) => Value::Bool(b),
            Some(Scalar::Integer(i)) => Value::Int(i),
            Some(Scalar::FloatingPoint(_)) => Value::Float,
            Some(Scalar::String(s)) => Value::Str(s.into_owned()),
            // A core tag whose text does not fit it (`!!int abc`): keep the text.
            None => Value::Str(raw.clone()),
        };
        Node {
            pos: Pos::default(),
            kind: Kind::Scalar(value, raw),
        }
    }
}

impl<'input> SpannedEventReceiver<'input> for Builder {
    fn on_event(&mut self, ev: Event<'input>, span: Span) {
        if self.aborted {
            return;
        }
        let pos = pos_of(&span);
        match ev {
            Event::Nothing | Event::StreamStart | Event::StreamEnd | Event::DocumentEnd => {}
            Event::DocumentStart(_) => {
                self.documents_seen += 1;
                if self.documents_seen == 2 {
                    self.problems.push(Problem::new(
                        pos,
                        "a second YAML document (`---`) is not allowed; the configuration is one document",
                    ));
                }
            }
            Event::Scalar(text, style, anchor, tag) => {
                self.check_tag(tag.as_ref(), pos);
                let mut node = self.scalar(text, style, tag);
                node.pos = pos;
                self.finish(node, anchor);
            }
            Event::SequenceStart(anchor, tag) => {
                self.check_tag(tag.as_ref(), pos);
                self.push_frame(Frame::Seq(pos, anchor, Vec::new()), pos);
            }
            Event::MappingStart(anchor, tag) => {
                self.check_tag(tag.as_ref(), pos);
                self.push_frame(Frame::Map(pos, anchor, Vec::new(), None), pos);
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (node, anchor) = match self.stack.pop() {
                    Some(Frame::Seq(start, anchor, items)) => (
                        Node {
                            pos: start,
                            kind: Kind::Seq(items),
                        },
                        anchor,
                    ),
                    Some(Frame::Map(start, anchor, entries, _)) => (
                        Node {
                            pos: start,
                            kind: Kind::Map(entries),
                        },
                        anchor,
                    ),
                    None => return,
                };
                self.finish(node, anchor);
            }
            Event::Alias(id) => match self.anchors.get(&id) {
                Some(target) => {
                    self.alias_nodes += target.count();
                    if self.alias_nodes > MAX_ALIAS_NODES {
                        self.abort(
                            pos,
                            format!("YAML aliases expand to more than {MAX_ALIAS_NODES} nodes"),
                        );
                        return;
                    }
                    let mut node = target.clone();
                    node.pos = pos;
                    self.finish(node, 0);
                }
                None => self.abort(pos, "YAML alias to an unknown anchor"),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root(text: &str) -> Node {
        let (node, problems) = parse(text);
        assert!(problems.is_empty(), "{problems:?}");
        node.expect("a document")
    }

    #[test]
    fn scalars_follow_the_core_schema() {
        let n = root("a: 2\nb: \"2\"\nc: true\nd: ~\ne: 1.5\nf: 09:00\n");
        let Kind::Map(entries) = n.kind else {
            panic!("not a map")
        };
        let values: Vec<Value> = entries
            .iter()
            .map(|(_, v)| match &v.kind {
                Kind::Scalar(v, _) => v.clone(),
                _ => panic!("not a scalar"),
            })
            .collect();
        assert_eq!(
            values,
            vec![
                Value::Int(2),
                Value::Str("2".into()),
                Value::Bool(true),
                Value::Null,
                Value::Float,
                Value::Str("09:00".into()),
            ]
        );
    }

    #[test]
    fn positions_are_one_based() {
        let n = root("x:\n  - a\n  - b: c\n");
        let Kind::Map(entries) = &n.kind else {
            panic!()
        };
        let Kind::Seq(items) = &entries[0].1.kind else {
            panic!()
        };
        assert_eq!(items[0].pos, Pos { line: 2, column: 5 });
        assert_eq!(items[1].pos, Pos { line: 3, column: 5 });
    }

    #[test]
    fn duplicates_are_kept_for_the_walker() {
        let n = root("a: 1\na: 2\n");
        let Kind::Map(entries) = &n.kind else {
            panic!()
        };
        assert_eq!(entries.len(), 2);
    }

    #[test]
    fn syntax_error_is_one_problem_with_line() {
        let (node, problems) = parse("a: 1\nb: [1, 2\nc: 3\n");
        assert!(node.is_none());
        assert_eq!(problems.len(), 1);
        assert!(problems[0].message.starts_with("invalid YAML"));
    }

    #[test]
    fn aliases_are_expanded_with_a_budget() {
        let n = root("a: &x [1, 2]\nb: *x\n");
        let Kind::Map(entries) = &n.kind else {
            panic!()
        };
        assert!(matches!(&entries[1].1.kind, Kind::Seq(items) if items.len() == 2));
        assert_eq!(entries[1].1.pos.line, 2);

        let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 0..8 {
            let prev = if i == 0 {
                "a".to_string()
            } else {
                format!("l{}", i - 1)
            };
            bomb.push_str(&format!("l{i}: &l{i} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"));
        }
        let (node, problems) = parse(&bomb);
        assert!(node.is_none());
        assert!(problems[0].message.contains("aliases expand"));
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        let text = "[".repeat(10_000) + &"]".repeat(10_000);
        let (node, problems) = parse(&text);
        assert!(node.is_none());
        assert_eq!(problems.len(), 1);
    }

    #[test]
    fn second_document_and_tags_are_problems() {
        let (_, problems) = parse("a: 1\n---\nb: 2\n");
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].line, 2);
        let (_, problems) = parse("a: !reference [x]\n");
        assert_eq!(problems.len(), 1);
    }

    #[test]
    fn oversized_text_is_refused_unparsed() {
        let text = "#".repeat(MAX_BYTES + 1);
        let (node, problems) = parse(&text);
        assert!(node.is_none());
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].line, 1);
    }

    #[test]
    fn empty_text_has_no_root() {
        let (node, problems) = parse("# only a comment\n");
        assert!(node.is_none() && problems.is_empty());
    }
}

//! A GitLab CI document as a plain tree: mappings in order, strings, and `!reference` tags
//! kept as references. Alias expansion and nesting are bounded (a hostile configuration
//! cannot blow up the bot).

use saphyr::Scalar;
use saphyr_parser::{Event, Parser, Span, SpannedEventReceiver};
use std::collections::BTreeMap;

const MAX_DEPTH: usize = 64;
const MAX_ALIAS_NODES: usize = 100_000;
pub const MAX_BYTES: usize = 4 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq)]
pub enum Y {
    Map(Vec<(String, Y)>),
    Seq(Vec<Y>),
    Str(String),
    Bool(bool),
    /// Numbers and nulls: not needed by anything here beyond "present".
    Other,
    /// `!reference [job, key, …]`.
    Ref(Vec<String>),
}

impl Y {
    pub fn get(&self, key: &str) -> Option<&Y> {
        match self {
            Y::Map(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Y::Str(s) => Some(s),
            _ => None,
        }
    }

    fn count(&self) -> usize {
        match self {
            Y::Map(e) => 1 + e.iter().map(|(_, v)| v.count()).sum::<usize>(),
            Y::Seq(items) => 1 + items.iter().map(Y::count).sum::<usize>(),
            _ => 1,
        }
    }
}

enum Frame {
    Seq(usize, bool, Vec<Y>),
    Map(usize, Vec<(String, Y)>, Option<String>),
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    root: Option<Y>,
    anchors: BTreeMap<usize, Y>,
    alias_nodes: usize,
    error: Option<String>,
}

impl Builder {
    fn finish(&mut self, node: Y, anchor: usize) {
        if anchor != 0 {
            self.anchors.insert(anchor, node.clone());
        }
        match self.stack.last_mut() {
            Some(Frame::Seq(_, _, items)) => items.push(node),
            Some(Frame::Map(_, entries, key)) => match key.take() {
                Some(k) => entries.push((k, node)),
                None => {
                    *key = Some(match node {
                        Y::Str(s) => s,
                        Y::Bool(b) => b.to_string(),
                        _ => String::new(),
                    })
                }
            },
            None => {
                if self.root.is_none() {
                    self.root = Some(node);
                }
            }
        }
    }
}

impl<'input> SpannedEventReceiver<'input> for Builder {
    fn on_event(&mut self, ev: Event<'input>, _span: Span) {
        if self.error.is_some() {
            return;
        }
        match ev {
            Event::Scalar(text, style, anchor, tag) => {
                let node =
                    match Scalar::parse_from_cow_and_metadata(text.clone(), style, tag.as_ref()) {
                        Some(Scalar::String(s)) => Y::Str(s.into_owned()),
                        Some(Scalar::Boolean(b)) => Y::Bool(b),
                        Some(_) => Y::Other,
                        None => Y::Str(text.into_owned()),
                    };
                self.finish(node, anchor);
            }
            Event::SequenceStart(anchor, tag) => {
                let reference = tag.is_some_and(|t| t.handle == "!" && t.suffix == "reference");
                if self.stack.len() >= MAX_DEPTH {
                    self.error = Some(format!("nesting deeper than {MAX_DEPTH} levels"));
                    return;
                }
                self.stack.push(Frame::Seq(anchor, reference, Vec::new()));
            }
            Event::MappingStart(anchor, _) => {
                if self.stack.len() >= MAX_DEPTH {
                    self.error = Some(format!("nesting deeper than {MAX_DEPTH} levels"));
                    return;
                }
                self.stack.push(Frame::Map(anchor, Vec::new(), None));
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (node, anchor) = match self.stack.pop() {
                    Some(Frame::Seq(anchor, true, items)) => (
                        Y::Ref(
                            items
                                .iter()
                                .map(|i| i.as_str().unwrap_or_default().to_string())
                                .collect(),
                        ),
                        anchor,
                    ),
                    Some(Frame::Seq(anchor, false, items)) => (Y::Seq(items), anchor),
                    Some(Frame::Map(anchor, entries, _)) => (Y::Map(entries), anchor),
                    None => return,
                };
                self.finish(node, anchor);
            }
            Event::Alias(id) => match self.anchors.get(&id).cloned() {
                Some(target) => {
                    self.alias_nodes += target.count();
                    if self.alias_nodes > MAX_ALIAS_NODES {
                        self.error = Some("too many nodes from aliases".into());
                    } else {
                        self.finish(target, 0);
                    }
                }
                None => self.error = Some(format!("unknown alias {id}")),
            },
            _ => {}
        }
    }
}

/// The first document of `text`.
pub fn parse(text: &str) -> Result<Y, String> {
    if text.len() > MAX_BYTES {
        return Err(format!("larger than {} MiB", MAX_BYTES / 1024 / 1024));
    }
    let mut builder = Builder::default();
    Parser::new_from_str(text)
        .load(&mut builder, false)
        .map_err(|e| format!("invalid YAML: {}", e.info()))?;
    if let Some(e) = builder.error {
        return Err(e);
    }
    Ok(builder.root.unwrap_or(Y::Map(Vec::new())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_and_aliases() {
        let y = parse(
            "base: &b {a: 1}\njob:\n  rules:\n    - !reference [.never, rules]\n    - when: always\n  copy: *b\n",
        )
        .unwrap();
        let job = y.get("job").unwrap();
        assert_eq!(
            job.get("rules").unwrap(),
            &Y::Seq(vec![
                Y::Ref(vec![".never".into(), "rules".into()]),
                Y::Map(vec![("when".into(), Y::Str("always".into()))]),
            ])
        );
        assert_eq!(job.get("copy"), y.get("base"));
    }

    #[test]
    fn alias_bombs_are_refused() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            let prev = format!("*a{}", i - 1);
            text.push_str(&format!(
                "a{i}: &a{i} [{}]\n",
                std::iter::repeat_n(prev.as_str(), 10)
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        assert!(parse(&text).unwrap_err().contains("aliases"));
    }
}

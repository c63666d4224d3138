//! A small YAML tree built from saphyr-parser events: scalars, sequences and mappings, each with
//! its position. Aliases are resolved (shared, never deep-copied) and merge keys (`<<`) applied,
//! under budgets that stop alias bombs, deep nesting and oversized input before they cost memory.
//!
//! What does not live here: what the keys mean (`parse`).

use std::collections::{HashMap, HashSet};
use std::rc::Rc;

use saphyr_parser::{Event, Marker, Parser, ScalarStyle, Span};

use super::{Error, Position};

/// The largest configuration accepted, as Drone does.
pub(crate) const MAX_INPUT_BYTES: usize = 10 * 1024 * 1024;
/// Nodes in the whole file, counting every node an alias expands to.
pub(crate) const MAX_NODES: usize = 100_000;
/// Bytes of scalar text in the whole file, counting alias expansions.
pub(crate) const MAX_EXPANDED_BYTES: usize = 32 * 1024 * 1024;
/// Nesting of sequences and mappings, counting alias expansions.
pub(crate) const MAX_DEPTH: usize = 64;

/// One YAML node and where it starts.
#[derive(Debug)]
pub(crate) struct Node {
    pub pos: Position,
    pub value: Value,
    /// Carries an anchor (`&name`): written to be referred to elsewhere.
    pub anchored: bool,
}

#[derive(Debug)]
pub(crate) enum Value {
    /// `plain` is false for quoted and block scalars: `"true"` is text, `true` is a boolean.
    Scalar {
        text: String,
        plain: bool,
    },
    Seq(Vec<Rc<Node>>),
    Map(Vec<Entry>),
}

/// A mapping entry; keys are always scalars here.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub key: String,
    pub key_pos: Position,
    pub value: Rc<Node>,
}

impl Node {
    /// A plain `null`, `~` or empty scalar: YAML's null.
    pub fn is_null(&self) -> bool {
        matches!(&self.value, Value::Scalar { text, plain: true } if is_null_text(text))
    }
}

pub(crate) fn is_null_text(text: &str) -> bool {
    matches!(text, "" | "~" | "null" | "Null" | "NULL")
}

pub(crate) fn position(mark: &Marker) -> Position {
    Position {
        line: mark.line(),
        column: mark.col() + 1,
    }
}

/// The documents of a YAML stream, in order; `None` for an empty document.
pub(crate) fn documents(text: &str) -> Result<Vec<Option<Rc<Node>>>, Error> {
    if text.len() > MAX_INPUT_BYTES {
        return Err(Error::at(
            Position { line: 1, column: 1 },
            "configuration is larger than 10 MiB",
        ));
    }
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(truncate_at_document_end(text));
    while let Some(next) = parser.next_event() {
        let (event, span) = next
            .map_err(|e| Error::at(position(e.marker()), format!("invalid YAML: {}", e.info())))?;
        if event == Event::StreamEnd {
            break;
        }
        builder.event(event, span)?;
    }
    Ok(builder.documents)
}

/// Drone stops reading at a `...` line (the signature covers only what comes before it), where
/// YAML would go on to the next document.
fn truncate_at_document_end(text: &str) -> &str {
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        if let Some(rest) = line.strip_prefix("...")
            && rest
                .chars()
                .next()
                .is_none_or(|c| matches!(c, ' ' | '\t' | '\r' | '\n' | '#'))
        {
            return &text[..offset];
        }
        offset += line.len();
    }
    text
}

/// What a subtree costs once every alias in it is expanded.
#[derive(Debug, Clone, Copy, Default)]
struct Weight {
    nodes: usize,
    bytes: usize,
    /// Nesting levels of sequences and mappings (0 for a scalar).
    height: usize,
}

impl Weight {
    fn add_child(&mut self, child: Weight) {
        self.nodes += child.nodes;
        self.bytes += child.bytes;
        self.height = self.height.max(child.height + 1);
    }
}

enum Frame {
    Seq {
        pos: Position,
        anchor: usize,
        items: Vec<Rc<Node>>,
        weight: Weight,
    },
    Map {
        pos: Position,
        anchor: usize,
        entries: Vec<Entry>,
        /// Values of `<<` keys, applied when the mapping ends.
        merges: Vec<Rc<Node>>,
        key: Option<(String, Position, bool)>,
        weight: Weight,
    },
}

#[derive(Default)]
struct Builder {
    documents: Vec<Option<Rc<Node>>>,
    stack: Vec<Frame>,
    root: Option<Rc<Node>>,
    anchors: HashMap<usize, (Rc<Node>, Weight)>,
    /// Budget spent so far, over the whole file.
    spent: Weight,
}

impl Builder {
    fn event(&mut self, event: Event<'_>, span: Span) -> Result<(), Error> {
        let pos = position(&span.start);
        match event {
            Event::DocumentStart(_) => {
                self.root = None;
                self.stack.clear();
                self.anchors.clear();
            }
            Event::DocumentEnd => {
                let root = self.root.take();
                self.documents.push(root.filter(|node| !node.is_null()));
            }
            Event::Scalar(text, style, anchor, _tag) => {
                let weight = Weight {
                    nodes: 1,
                    bytes: text.len(),
                    height: 0,
                };
                self.spend(weight, pos)?;
                let node = Rc::new(Node {
                    pos,
                    value: Value::Scalar {
                        text: text.into_owned(),
                        plain: style == ScalarStyle::Plain,
                    },
                    anchored: anchor != 0,
                });
                self.finish(node, weight, anchor, style == ScalarStyle::Plain)?;
            }
            Event::Alias(id) => {
                let Some((node, weight)) = self.anchors.get(&id).cloned() else {
                    // saphyr-parser rejects unknown anchors, so this is an alias to a
                    // node still being built: a recursive structure.
                    return Err(Error::at(pos, "an alias may not refer to its own anchor"));
                };
                self.spend(weight, pos)?;
                let plain = matches!(node.value, Value::Scalar { plain: true, .. });
                self.finish(node, weight, 0, plain)?;
            }
            Event::SequenceStart(anchor, _tag) => {
                self.open(pos)?;
                self.stack.push(Frame::Seq {
                    pos,
                    anchor,
                    items: Vec::new(),
                    weight: Weight {
                        nodes: 1,
                        bytes: 0,
                        height: 1,
                    },
                });
            }
            Event::MappingStart(anchor, _tag) => {
                self.open(pos)?;
                self.stack.push(Frame::Map {
                    pos,
                    anchor,
                    entries: Vec::new(),
                    merges: Vec::new(),
                    key: None,
                    weight: Weight {
                        nodes: 1,
                        bytes: 0,
                        height: 1,
                    },
                });
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let Some(frame) = self.stack.pop() else {
                    return Err(Error::at(pos, "invalid YAML: unbalanced collection"));
                };
                let (node, weight, anchor) = match frame {
                    Frame::Seq {
                        pos,
                        anchor,
                        items,
                        weight,
                    } => (
                        Node {
                            pos,
                            value: Value::Seq(items),
                            anchored: anchor != 0,
                        },
                        weight,
                        anchor,
                    ),
                    Frame::Map {
                        pos,
                        anchor,
                        entries,
                        merges,
                        weight,
                        ..
                    } => (
                        Node {
                            pos,
                            value: Value::Map(merge(entries, &merges)?),
                            anchored: anchor != 0,
                        },
                        weight,
                        anchor,
                    ),
                };
                self.finish(Rc::new(node), weight, anchor, false)?;
            }
            Event::StreamStart | Event::StreamEnd | Event::Nothing => {}
        }
        Ok(())
    }

    /// Checks the budget before a collection opens at the current depth.
    fn open(&mut self, pos: Position) -> Result<(), Error> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(too_deep(pos));
        }
        self.spend(
            Weight {
                nodes: 1,
                bytes: 0,
                height: 0,
            },
            pos,
        )
    }

    fn spend(&mut self, weight: Weight, pos: Position) -> Result<(), Error> {
        self.spent.nodes = self.spent.nodes.saturating_add(weight.nodes);
        self.spent.bytes = self.spent.bytes.saturating_add(weight.bytes);
        if self.spent.nodes > MAX_NODES {
            return Err(Error::at(
                pos,
                format!(
                    "configuration is too large: more than {MAX_NODES} YAML nodes once aliases are expanded"
                ),
            ));
        }
        if self.spent.bytes > MAX_EXPANDED_BYTES {
            return Err(Error::at(
                pos,
                "configuration is too large: more than 32 MiB of text once aliases are expanded",
            ));
        }
        if self.stack.len() + weight.height > MAX_DEPTH {
            return Err(too_deep(pos));
        }
        Ok(())
    }

    /// Hands a finished node to the open collection (or makes it the document's root).
    fn finish(
        &mut self,
        node: Rc<Node>,
        weight: Weight,
        anchor: usize,
        plain: bool,
    ) -> Result<(), Error> {
        if anchor != 0 {
            self.anchors.insert(anchor, (Rc::clone(&node), weight));
        }
        match self.stack.last_mut() {
            None => self.root = Some(node),
            Some(Frame::Seq {
                items, weight: w, ..
            }) => {
                w.add_child(weight);
                items.push(node);
            }
            Some(Frame::Map {
                entries,
                merges,
                key,
                weight: w,
                ..
            }) => {
                w.add_child(weight);
                match key.take() {
                    None => {
                        let Value::Scalar { text, .. } = &node.value else {
                            return Err(Error::at(
                                node.pos,
                                "mapping keys must be strings, not lists or mappings",
                            ));
                        };
                        *key = Some((text.clone(), node.pos, plain));
                    }
                    Some((text, key_pos, key_plain)) => {
                        if key_plain && text == "<<" {
                            merges.push(node);
                        } else {
                            entries.push(Entry {
                                key: text,
                                key_pos,
                                value: node,
                            });
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

fn too_deep(pos: Position) -> Error {
    Error::at(
        pos,
        format!("configuration is nested more than {MAX_DEPTH} levels deep"),
    )
}

/// Applies merge keys: the mapping's own keys win, then each merged mapping in order (YAML's
/// merge-key rule, which Drone's YAML library follows). A key written twice is an error.
fn merge(mut entries: Vec<Entry>, merges: &[Rc<Node>]) -> Result<Vec<Entry>, Error> {
    let mut seen: HashSet<String> = HashSet::with_capacity(entries.len());
    for entry in &entries {
        if !seen.insert(entry.key.clone()) {
            return Err(Error::at(
                entry.key_pos,
                format!("key `{}` is written twice in this mapping", entry.key),
            ));
        }
    }
    for source in merges {
        let sources: Vec<&Node> = match &source.value {
            Value::Map(_) => vec![source],
            Value::Seq(items) => items.iter().map(|item| &**item).collect(),
            Value::Scalar { .. } => vec![source],
        };
        for source in sources {
            let Value::Map(merged) = &source.value else {
                return Err(Error::at(
                    source.pos,
                    "`<<` merges only mappings (or a list of mappings)",
                ));
            };
            for entry in merged {
                if seen.insert(entry.key.clone()) {
                    entries.push(entry.clone());
                }
            }
        }
    }
    Ok(entries)
}

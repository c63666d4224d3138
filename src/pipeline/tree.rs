//! A small YAML tree built from saphyr-parser events: scalars, sequences and mappings, each with
//! its position. Aliases are resolved (shared, never deep-copied) and merge keys (`<<`) applied,
//! under budgets that stop alias bombs, deep nesting and oversized input before they cost memory.
//!
//! The tree lives in a few flat vectors (nodes, sequence items, mapping entries, and one string
//! holding every scalar's text) and nodes refer to each other by index: a 200-step file makes a
//! handful of allocations instead of one per node, key and child list, and drops as fast. An
//! alias is the index of its anchor's node.
//!
//! What does not live here: what the keys mean (`parse`).

use std::collections::{HashMap, HashSet};

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

/// The documents of a YAML stream, read into one tree.
#[derive(Debug, Default)]
pub(crate) struct Tree {
    nodes: Vec<NodeData>,
    /// The items of every sequence, each sequence's together.
    items: Vec<usize>,
    /// The entries of every mapping (merged ones included), each mapping's together.
    entries: Vec<EntryData>,
    /// The text of every scalar, one after the other.
    text: String,
    /// The root of each document that is not empty, in order.
    roots: Vec<usize>,
}

/// A run of `items`, `entries` or `text`.
#[derive(Debug, Clone, Copy, Default)]
struct Slice {
    start: usize,
    len: usize,
}

impl Slice {
    fn range(self) -> std::ops::Range<usize> {
        self.start..self.start + self.len
    }
}

#[derive(Debug)]
struct NodeData {
    pos: Position,
    kind: Kind,
    anchored: bool,
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Scalar { text: Slice, plain: bool },
    Seq(Slice),
    Map(Slice),
}

#[derive(Debug, Clone, Copy)]
struct EntryData {
    key: Slice,
    key_pos: Position,
    value: usize,
}

impl Tree {
    /// The documents that are not empty, in order.
    pub fn documents(&self) -> impl Iterator<Item = Node<'_>> {
        self.roots.iter().map(|&id| Node { tree: self, id })
    }

    fn str(&self, text: Slice) -> &str {
        &self.text[text.range()]
    }
}

/// One YAML node and where it starts.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Node<'t> {
    tree: &'t Tree,
    id: usize,
}

/// What a node holds. `plain` is false for quoted and block scalars: `"true"` is text, `true`
/// is a boolean.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Value<'t> {
    Scalar { text: &'t str, plain: bool },
    Seq(Items<'t>),
    Map(Entries<'t>),
}

/// The items of a sequence.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Items<'t> {
    tree: &'t Tree,
    ids: &'t [usize],
}

/// The entries of a mapping, merged ones included.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Entries<'t> {
    tree: &'t Tree,
    entries: &'t [EntryData],
}

/// A mapping entry; keys are always scalars here.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Entry<'t> {
    pub key: &'t str,
    pub key_pos: Position,
    pub value: Node<'t>,
}

impl<'t> Node<'t> {
    fn data(self) -> &'t NodeData {
        &self.tree.nodes[self.id]
    }

    pub fn pos(self) -> Position {
        self.data().pos
    }

    /// Carries an anchor (`&name`): written to be referred to elsewhere.
    pub fn anchored(self) -> bool {
        self.data().anchored
    }

    pub fn value(self) -> Value<'t> {
        let tree = self.tree;
        match self.data().kind {
            Kind::Scalar { text, plain } => Value::Scalar {
                text: tree.str(text),
                plain,
            },
            Kind::Seq(items) => Value::Seq(Items {
                tree,
                ids: &tree.items[items.range()],
            }),
            Kind::Map(entries) => Value::Map(Entries {
                tree,
                entries: &tree.entries[entries.range()],
            }),
        }
    }

    /// A plain `null`, `~` or empty scalar: YAML's null.
    pub fn is_null(self) -> bool {
        matches!(self.value(), Value::Scalar { text, plain: true } if is_null_text(text))
    }
}

impl<'t> Items<'t> {
    /// No items: what a null `node` holds where a sequence is expected.
    pub fn empty(node: Node<'t>) -> Items<'t> {
        Items {
            tree: node.tree,
            ids: &[],
        }
    }

    pub fn len(self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(self) -> bool {
        self.ids.is_empty()
    }

    pub fn iter(self) -> impl ExactSizeIterator<Item = Node<'t>> {
        let tree = self.tree;
        self.ids.iter().map(move |&id| Node { tree, id })
    }
}

impl<'t> Entries<'t> {
    /// No entries: what a null `node` holds where a mapping is expected.
    pub fn empty(node: Node<'t>) -> Entries<'t> {
        Entries {
            tree: node.tree,
            entries: &[],
        }
    }

    pub fn len(self) -> usize {
        self.entries.len()
    }

    pub fn iter(self) -> impl ExactSizeIterator<Item = Entry<'t>> {
        let tree = self.tree;
        self.entries.iter().map(move |e| Entry {
            key: tree.str(e.key),
            key_pos: e.key_pos,
            value: Node { tree, id: e.value },
        })
    }

    /// The entry for `key`, if the mapping has one.
    pub fn get(self, key: &str) -> Option<Entry<'t>> {
        self.iter().find(|e| e.key == key)
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

/// Reads the documents of a YAML stream.
pub(crate) fn documents(text: &str) -> Result<Tree, Error> {
    if text.len() > MAX_INPUT_BYTES {
        return Err(Error::at(
            Position { line: 1, column: 1 },
            "configuration is larger than 10 MiB",
        ));
    }
    let text = truncate_at_document_end(text);
    let mut builder = Builder::sized_for(text.len());
    let mut parser = Parser::new_from_str(text);
    while let Some(next) = parser.next_event() {
        let (event, span) = next
            .map_err(|e| Error::at(position(e.marker()), format!("invalid YAML: {}", e.info())))?;
        if event == Event::StreamEnd {
            break;
        }
        builder.event(event, span)?;
    }
    Ok(builder.tree)
}

/// Drone stops reading at a `...` line (the signature covers only what comes before it), where
/// YAML would go on to the next document.
/// Only the places where `...` starts a line are looked at, with a substring search rather than
/// a walk over every line.
fn truncate_at_document_end(text: &str) -> &str {
    let line_starts = text.match_indices("\n...").map(|(at, _)| at + 1);
    for start in std::iter::once(0).chain(line_starts) {
        if let Some(rest) = text[start..].strip_prefix("...")
            && rest
                .chars()
                .next()
                .is_none_or(|c| matches!(c, ' ' | '\t' | '\r' | '\n' | '#'))
        {
            return &text[..start];
        }
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
    const COLLECTION: Weight = Weight {
        nodes: 1,
        bytes: 0,
        height: 1,
    };

    fn add_child(&mut self, child: Weight) {
        self.nodes += child.nodes;
        self.bytes += child.bytes;
        self.height = self.height.max(child.height + 1);
    }
}

/// A collection being read. Its children wait in the builder's `items` or `entries` from
/// `start` on (nested collections stack theirs above), and move into the tree when it ends.
enum Frame {
    Seq {
        pos: Position,
        anchor: usize,
        start: usize,
        weight: Weight,
    },
    Map {
        pos: Position,
        anchor: usize,
        start: usize,
        /// Where this mapping's `<<` values start in the builder's `merges`.
        merges: usize,
        /// The key read, waiting for its value: its text, position, and whether it is plain.
        key: Option<(Slice, Position, bool)>,
        weight: Weight,
    },
}

#[derive(Default)]
struct Builder {
    tree: Tree,
    stack: Vec<Frame>,
    items: Vec<usize>,
    entries: Vec<EntryData>,
    /// Values of `<<` keys, applied when their mapping ends.
    merges: Vec<usize>,
    root: Option<usize>,
    anchors: HashMap<usize, (usize, Weight)>,
    /// Budget spent so far, over the whole file.
    spent: Weight,
}

impl Builder {
    /// A builder whose vectors rarely grow for `len` bytes of typical pipeline YAML (about one
    /// node per 8 bytes; none past the node budget).
    fn sized_for(len: usize) -> Builder {
        let nodes = (len / 8).min(MAX_NODES) + 1;
        Builder {
            tree: Tree {
                nodes: Vec::with_capacity(nodes),
                items: Vec::with_capacity(nodes / 4),
                entries: Vec::with_capacity(nodes / 2),
                text: String::with_capacity(len),
                roots: Vec::new(),
            },
            stack: Vec::with_capacity(16),
            items: Vec::with_capacity(64),
            entries: Vec::with_capacity(64),
            ..Builder::default()
        }
    }

    fn event(&mut self, event: Event<'_>, span: Span) -> Result<(), Error> {
        let pos = position(&span.start);
        match event {
            Event::DocumentStart(_) => {
                self.root = None;
                self.stack.clear();
                self.items.clear();
                self.entries.clear();
                self.merges.clear();
                self.anchors.clear();
            }
            Event::DocumentEnd => {
                if let Some(root) = self.root.take()
                    && !(Node {
                        tree: &self.tree,
                        id: root,
                    })
                    .is_null()
                {
                    self.tree.roots.push(root);
                }
            }
            Event::Scalar(text, style, anchor, _tag) => {
                let weight = Weight {
                    nodes: 1,
                    bytes: text.len(),
                    height: 0,
                };
                self.spend(weight, pos)?;
                let plain = style == ScalarStyle::Plain;
                let slice = Slice {
                    start: self.tree.text.len(),
                    len: text.len(),
                };
                self.tree.text.push_str(&text);
                let id = self.push(pos, Kind::Scalar { text: slice, plain }, anchor);
                self.finish(id, weight, anchor, plain)?;
            }
            Event::Alias(id) => {
                let Some(&(node, weight)) = self.anchors.get(&id) else {
                    // saphyr-parser rejects unknown anchors, so this is an alias to a
                    // node still being built: a recursive structure.
                    return Err(Error::at(pos, "an alias may not refer to its own anchor"));
                };
                self.spend(weight, pos)?;
                let plain = matches!(self.tree.nodes[node].kind, Kind::Scalar { plain: true, .. });
                self.finish(node, weight, 0, plain)?;
            }
            Event::SequenceStart(anchor, _tag) => {
                self.open(pos)?;
                self.stack.push(Frame::Seq {
                    pos,
                    anchor,
                    start: self.items.len(),
                    weight: Weight::COLLECTION,
                });
            }
            Event::MappingStart(anchor, _tag) => {
                self.open(pos)?;
                self.stack.push(Frame::Map {
                    pos,
                    anchor,
                    start: self.entries.len(),
                    merges: self.merges.len(),
                    key: None,
                    weight: Weight::COLLECTION,
                });
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let Some(frame) = self.stack.pop() else {
                    return Err(Error::at(pos, "invalid YAML: unbalanced collection"));
                };
                let (pos, kind, weight, anchor) = match frame {
                    Frame::Seq {
                        pos,
                        anchor,
                        start,
                        weight,
                    } => {
                        let items = Slice {
                            start: self.tree.items.len(),
                            len: self.items.len().saturating_sub(start),
                        };
                        self.tree.items.extend(self.items.drain(start..));
                        (pos, Kind::Seq(items), weight, anchor)
                    }
                    Frame::Map {
                        pos,
                        anchor,
                        start,
                        merges,
                        weight,
                        ..
                    } => (pos, Kind::Map(self.merge(start, merges)?), weight, anchor),
                };
                let id = self.push(pos, kind, anchor);
                self.finish(id, weight, anchor, false)?;
            }
            Event::StreamStart | Event::StreamEnd | Event::Nothing => {}
        }
        Ok(())
    }

    fn push(&mut self, pos: Position, kind: Kind, anchor: usize) -> usize {
        self.tree.nodes.push(NodeData {
            pos,
            kind,
            anchored: anchor != 0,
        });
        self.tree.nodes.len() - 1
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
        id: usize,
        weight: Weight,
        anchor: usize,
        plain: bool,
    ) -> Result<(), Error> {
        if anchor != 0 {
            self.anchors.insert(anchor, (id, weight));
        }
        match self.stack.last_mut() {
            None => self.root = Some(id),
            Some(Frame::Seq { weight: w, .. }) => {
                w.add_child(weight);
                self.items.push(id);
            }
            Some(Frame::Map { key, weight: w, .. }) => {
                w.add_child(weight);
                let node = &self.tree.nodes[id];
                match key.take() {
                    None => {
                        let Kind::Scalar { text, .. } = node.kind else {
                            return Err(Error::at(
                                node.pos,
                                "mapping keys must be strings, not lists or mappings",
                            ));
                        };
                        *key = Some((text, node.pos, plain));
                    }
                    Some((text, key_pos, key_plain)) => {
                        if key_plain && self.tree.str(text) == "<<" {
                            self.merges.push(id);
                        } else {
                            self.entries.push(EntryData {
                                key: text,
                                key_pos,
                                value: id,
                            });
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Moves the entries of the mapping that ends into the tree and applies its merge keys: the
    /// mapping's own keys win, then each merged mapping in order (YAML's merge-key rule, which
    /// Drone's YAML library follows). A key written twice is an error.
    fn merge(&mut self, start: usize, merges: usize) -> Result<Slice, Error> {
        let Tree {
            nodes,
            items,
            entries,
            text,
            ..
        } = &mut self.tree;
        let text = text.as_str();
        let first = entries.len();
        let mut keys = Keys::default();
        for &entry in self.entries.get(start..).unwrap_or_default() {
            let key = &text[entry.key.range()];
            if !keys.insert(text, &entries[first..], key) {
                return Err(Error::at(
                    entry.key_pos,
                    format!("key `{key}` is written twice in this mapping"),
                ));
            }
            entries.push(entry);
        }
        self.entries.truncate(start);
        for &source in self.merges.get(merges..).unwrap_or_default() {
            let sources = match nodes[source].kind {
                Kind::Seq(list) => &items[list.range()],
                Kind::Map(_) | Kind::Scalar { .. } => std::slice::from_ref(&source),
            };
            for &source in sources {
                let Kind::Map(merged) = nodes[source].kind else {
                    return Err(Error::at(
                        nodes[source].pos,
                        "`<<` merges only mappings (or a list of mappings)",
                    ));
                };
                for i in merged.range() {
                    let entry = entries[i];
                    if keys.insert(text, &entries[first..], &text[entry.key.range()]) {
                        entries.push(entry);
                    }
                }
            }
        }
        self.merges.truncate(merges);
        Ok(Slice {
            start: first,
            len: entries.len() - first,
        })
    }
}

/// The keys of a mapping being merged. Most mappings have a few keys, compared in place; a hash
/// set takes over for large ones so that hostile input stays linear.
#[derive(Default)]
struct Keys<'a> {
    set: HashSet<&'a str>,
}

impl<'a> Keys<'a> {
    const SCAN: usize = 16;

    /// Whether `key` is new to `done` (the entries kept so far), remembering it if so.
    fn insert(&mut self, text: &'a str, done: &[EntryData], key: &'a str) -> bool {
        if done.len() < Self::SCAN {
            return !done.iter().any(|e| &text[e.key.range()] == key);
        }
        if self.set.is_empty() {
            self.set.extend(done.iter().map(|e| &text[e.key.range()]));
        }
        self.set.insert(key)
    }
}

fn too_deep(pos: Position) -> Error {
    Error::at(
        pos,
        format!("configuration is nested more than {MAX_DEPTH} levels deep"),
    )
}

#[cfg(test)]
mod tests;

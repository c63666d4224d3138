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

mod build;
mod input;

use saphyr_parser::{Event, Marker, Parser};

use super::{Error, Position};
use build::Builder;
use input::ShortWindow;

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
    items: Vec<u32>,
    /// The entries of every mapping (merged ones included), each mapping's together.
    entries: Vec<EntryData>,
    /// The text of every scalar, one after the other.
    text: String,
    /// The root of each document that is not empty, in order.
    roots: Vec<u32>,
}

// The tree stores indices, offsets, lines and columns as `u32`, which halves the memory a large
// file touches. The budgets keep every one of them far below `u32::MAX` (10 MiB of input, 32 MiB
// of text, 100,000 nodes), so `small` never saturates.
fn small(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// A run of `items`, `entries` or `text`.
#[derive(Debug, Clone, Copy, Default)]
struct Slice {
    start: u32,
    len: u32,
}

impl Slice {
    fn new(start: usize, len: usize) -> Slice {
        Slice {
            start: small(start),
            len: small(len),
        }
    }

    fn range(self) -> std::ops::Range<usize> {
        self.start as usize..self.start as usize + self.len as usize
    }
}

/// A [`Position`] as the tree stores it.
#[derive(Debug, Clone, Copy)]
struct Place {
    line: u32,
    column: u32,
}

impl Place {
    fn new(pos: Position) -> Place {
        Place {
            line: small(pos.line),
            column: small(pos.column),
        }
    }

    fn position(self) -> Position {
        Position {
            line: self.line as usize,
            column: self.column as usize,
        }
    }
}

#[derive(Debug)]
struct NodeData {
    pos: Place,
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
    key_pos: Place,
    value: u32,
}

impl Tree {
    /// The documents that are not empty, in order.
    pub fn documents(&self) -> impl Iterator<Item = Node<'_>> {
        self.roots.iter().map(|&id| Node {
            tree: self,
            id: id as usize,
        })
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
    ids: &'t [u32],
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
        self.data().pos.position()
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
        self.ids.iter().map(move |&id| Node {
            tree,
            id: id as usize,
        })
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
            key_pos: e.key_pos.position(),
            value: Node {
                tree,
                id: e.value as usize,
            },
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
    let mut parser = Parser::new(ShortWindow::new(text));
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
/// YAML would go on to the next document. A substring search finds the candidates, rather than
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

#[cfg(test)]
mod tests;

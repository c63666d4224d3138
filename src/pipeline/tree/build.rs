//! Building the tree from parser events: collections wait on stacks until they end, aliases
//! resolve to their anchor's node, merge keys are applied, and every event is charged to the
//! budgets (nodes, text and nesting, counting alias expansions).

use std::collections::{HashMap, HashSet};

use saphyr_parser::{Event, ScalarStyle, Span};

use super::{
    EntryData, Error, Kind, MAX_DEPTH, MAX_EXPANDED_BYTES, MAX_NODES, Node, NodeData, Place,
    Position, Slice, Tree, position, small,
};

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
        key: Option<(Slice, Place, bool)>,
        weight: Weight,
    },
}

#[derive(Default)]
pub(super) struct Builder {
    pub(super) tree: Tree,
    stack: Vec<Frame>,
    items: Vec<u32>,
    entries: Vec<EntryData>,
    /// Values of `<<` keys, applied when their mapping ends.
    merges: Vec<usize>,
    root: Option<usize>,
    anchors: HashMap<usize, (usize, Weight)>,
    /// Budget spent so far, over the whole file.
    spent: Weight,
}

impl Builder {
    /// A builder whose vectors do not grow for `len` bytes of pipeline YAML, which has about
    /// one node per 8 bytes, one list item per 25 and one mapping entry per 20. Reserving more
    /// than is used costs address space only: untouched pages are never mapped in.
    pub(super) fn sized_for(len: usize) -> Builder {
        let nodes = (len / 4).min(MAX_NODES) + 1;
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

    pub(super) fn event(&mut self, event: Event<'_>, span: Span) -> Result<(), Error> {
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
                    self.tree.roots.push(small(root));
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
                let slice = Slice::new(self.tree.text.len(), text.len());
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
                        let items = Slice::new(
                            self.tree.items.len(),
                            self.items.len().saturating_sub(start),
                        );
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
            pos: Place::new(pos),
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
                self.items.push(small(id));
            }
            Some(Frame::Map { key, weight: w, .. }) => {
                w.add_child(weight);
                let node = &self.tree.nodes[id];
                match key.take() {
                    None => {
                        let Kind::Scalar { text, .. } = node.kind else {
                            return Err(Error::at(
                                node.pos.position(),
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
                                value: small(id),
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
                    entry.key_pos.position(),
                    format!("key `{key}` is written twice in this mapping"),
                ));
            }
            entries.push(entry);
        }
        self.entries.truncate(start);
        for &source in self.merges.get(merges..).unwrap_or_default() {
            let one = [small(source)];
            let sources = match nodes[source].kind {
                Kind::Seq(list) => &items[list.range()],
                Kind::Map(_) | Kind::Scalar { .. } => &one[..],
            };
            for &source in sources {
                let source = &nodes[source as usize];
                let Kind::Map(merged) = source.kind else {
                    return Err(Error::at(
                        source.pos.position(),
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
        Ok(Slice::new(first, entries.len() - first))
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

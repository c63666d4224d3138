//! The resolved plan: which step waits for which, and which stage for which. Within a stage,
//! steps run one after another until any step declares `depends_on`; from then on the stage
//! is a graph and each step waits for exactly the steps it names. The clone runs first in
//! either case and is never listed.
//!
//! What does not live here: checking that the graph is sound (`lint`), running it (`runner`).

use std::borrow::Cow;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use super::{Manifest, Pipeline};

/// The plan of a whole file, as `hangar lint --format json` prints it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Plan {
    pub pipelines: Vec<PlanPipeline>,
}

/// One stage of the plan.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PlanPipeline {
    pub name: String,
    #[serde(rename = "type")]
    pub pipeline_type: String,
    pub depends_on: Vec<String>,
    pub steps: Vec<PlanStep>,
}

/// One step of a stage, with the steps it waits for.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PlanStep {
    pub name: String,
    pub depends_on: Vec<String>,
}

/// The plan of every pipeline of `manifest`, in file order.
pub fn plan(manifest: &Manifest) -> Plan {
    Plan {
        pipelines: manifest
            .pipelines
            .iter()
            .map(|p| PlanPipeline {
                name: p.name.clone(),
                pipeline_type: p.pipeline_type.as_str().to_string(),
                depends_on: p.depends_on.clone(),
                steps: p
                    .resolved_steps()
                    .into_iter()
                    .map(|(name, depends_on)| PlanStep { name, depends_on })
                    .collect(),
            })
            .collect(),
    }
}

impl Pipeline {
    /// Whether the steps form a graph (some step declares `depends_on`) rather than a sequence.
    pub fn is_graph(&self) -> bool {
        self.steps.iter().any(|s| !s.depends_on.is_empty())
    }

    /// Each step's name with the names of the steps it waits for: the previous step in a
    /// sequence, exactly the declared ones in a graph. `clone` is left out of the declared
    /// lists unless the clone is disabled (and a step took the name), since the clone always
    /// runs first.
    pub fn resolved_steps(&self) -> Vec<(String, Vec<String>)> {
        self.step_graph()
            .into_iter()
            .map(|(name, deps)| (name.to_string(), deps.into_owned()))
            .collect()
    }

    /// [`Pipeline::resolved_steps`], borrowed from the pipeline: `lint` orders every file's
    /// steps, and copying them for that is most of its work.
    pub(crate) fn step_graph(&self) -> Vec<(&str, Cow<'_, [String]>)> {
        if self.is_graph() {
            let implicit_clone = !self.clone.disable;
            return self
                .steps
                .iter()
                .map(|s| {
                    let deps = if implicit_clone && s.depends_on.iter().any(|d| d == "clone") {
                        Cow::Owned(
                            s.depends_on
                                .iter()
                                .filter(|d| *d != "clone")
                                .cloned()
                                .collect(),
                        )
                    } else {
                        Cow::Borrowed(s.depends_on.as_slice())
                    };
                    (s.name.as_str(), deps)
                })
                .collect();
        }
        let mut previous: Option<&String> = None;
        self.steps
            .iter()
            .map(|s| {
                let deps = previous.map_or(&[][..], std::slice::from_ref);
                previous = Some(&s.name);
                (s.name.as_str(), Cow::Borrowed(deps))
            })
            .collect()
    }
}

/// Nodes that wait for each other in a circle, as indices into the input: each waits for the
/// next, and the last for the first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopologicalError {
    pub cycle: Vec<usize>,
}

/// An order of `nodes` (name, names it waits for) in which every node comes after what it waits
/// for, as indices; among nodes free to go, the earlier in the input goes first. Names that are
/// not in `nodes` are ignored (`lint` reports them); of two nodes with one name, the first
/// takes it.
pub fn topological_order(nodes: &[(String, Vec<String>)]) -> Result<Vec<usize>, TopologicalError> {
    order(nodes)
}

/// [`topological_order`] over names however they are held (borrowed, for `lint`).
pub(crate) fn order<N, D, S>(nodes: &[(N, D)]) -> Result<Vec<usize>, TopologicalError>
where
    N: AsRef<str>,
    D: AsRef<[S]>,
    S: AsRef<str>,
{
    let mut index: HashMap<&str, usize> = HashMap::with_capacity(nodes.len());
    for (i, (name, _)) in nodes.iter().enumerate() {
        index.entry(name.as_ref()).or_insert(i);
    }
    // For each node, the nodes waiting for it, and how many nodes each still waits for.
    let mut waiting: Vec<Vec<usize>> = vec![Vec::new(); nodes.len()];
    let mut pending: Vec<usize> = vec![0; nodes.len()];
    for (i, (_, deps)) in nodes.iter().enumerate() {
        for dep in deps.as_ref() {
            if let Some(&d) = index.get(dep.as_ref()) {
                waiting[d].push(i);
                pending[i] += 1;
            }
        }
    }
    let mut ready: BinaryHeap<Reverse<usize>> = (0..nodes.len())
        .filter(|&i| pending[i] == 0)
        .map(Reverse)
        .collect();
    let mut order = Vec::with_capacity(nodes.len());
    while let Some(Reverse(i)) = ready.pop() {
        order.push(i);
        for &w in &waiting[i] {
            pending[w] -= 1;
            if pending[w] == 0 {
                ready.push(Reverse(w));
            }
        }
    }
    if order.len() == nodes.len() {
        return Ok(order);
    }
    Err(TopologicalError {
        cycle: find_cycle(nodes, &index, &pending),
    })
}

/// Every node left with `pending > 0` waits for another such node, so walking from the first
/// of them along those edges must come back to a node already seen: that loop is a cycle.
fn find_cycle<N, D: AsRef<[S]>, S: AsRef<str>>(
    nodes: &[(N, D)],
    index: &HashMap<&str, usize>,
    pending: &[usize],
) -> Vec<usize> {
    let Some(start) = (0..nodes.len()).find(|&i| pending[i] > 0) else {
        return Vec::new();
    };
    let mut seen_at: HashMap<usize, usize> = HashMap::new();
    let mut path = Vec::new();
    let mut current = start;
    loop {
        if let Some(&at) = seen_at.get(&current) {
            return path.split_off(at);
        }
        seen_at.insert(current, path.len());
        path.push(current);
        let next = nodes[current]
            .1
            .as_ref()
            .iter()
            .find_map(|dep| index.get(dep.as_ref()).copied().filter(|&d| pending[d] > 0));
        match next {
            Some(next) => current = next,
            // Unreachable by the invariant above; return what was walked rather than loop.
            None => return path,
        }
    }
}

#[cfg(test)]
mod tests;

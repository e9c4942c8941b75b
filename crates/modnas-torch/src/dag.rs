//! Layers whose edges are slots: the DAG cell of DARTS and parallel chains.

use crate::ops::Op;
use crate::slot::{Slot, SlotSet, SlotSpec};
use std::any::Any;
use std::collections::BTreeMap;
use tch::Tensor;

/// How a node merges its incoming edges and how the layer merges its nodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Merge {
    /// Element-wise sum.
    Sum,
    /// Element-wise mean.
    Mean,
    /// Concatenation along channels.
    Concat,
    /// The last state only.
    Last,
}

fn merge(m: Merge, xs: &[Tensor]) -> Tensor {
    match m {
        Merge::Sum | Merge::Mean => {
            let mut acc = xs[0].shallow_clone();
            for x in &xs[1..] {
                acc = &acc + x;
            }
            if m == Merge::Mean {
                acc / xs.len() as f64
            } else {
                acc
            }
        }
        Merge::Concat => Tensor::cat(xs, 1),
        Merge::Last => xs[xs.len() - 1].shallow_clone(),
    }
}

/// A directed acyclic graph: `n_inputs` input states, then `n_nodes` nodes, each the merge of one
/// edge (a slot) from every earlier state; the output merges the nodes.
#[derive(Debug)]
pub struct DagLayer {
    n_inputs: usize,
    edges: Vec<Vec<(usize, Slot)>>,
    merger_state: Merge,
    merger_out: Merge,
    drop_path: Option<DropPath>,
}

/// Drop-path regularisation of edges (final training of DARTS cells): in training, each non-identity
/// edge output of each sample is zeroed with probability `p` and the rest scaled by `1/(1−p)`.
#[derive(Clone, Debug, Default)]
pub struct DropPath(pub std::sync::Arc<std::sync::atomic::AtomicU64>);

impl DropPath {
    /// The current probability.
    pub fn prob(&self) -> f64 {
        f64::from_bits(self.0.load(std::sync::atomic::Ordering::Relaxed))
    }

    /// Sets the probability.
    pub fn set(&self, p: f64) {
        self.0
            .store(p.to_bits(), std::sync::atomic::Ordering::Relaxed);
    }
}

/// Options of a DAG layer.
#[derive(Clone, Debug)]
pub struct DagOpts {
    /// Name prefix of the edge slots.
    pub name: String,
    /// Share key prefix: edges at the same position in layers with the same key share α.
    pub share: Option<String>,
    /// Input states.
    pub n_inputs: usize,
    /// Intermediate nodes.
    pub n_nodes: usize,
    /// Channels of every state.
    pub chn: i64,
    /// Stride of edges from the input states (2 in reduction cells).
    pub input_stride: i64,
    /// Node merge.
    pub merger_state: Merge,
    /// Output merge (of the intermediate nodes).
    pub merger_out: Merge,
    /// Edges kept per node when an architecture is derived (DARTS: 2).
    pub keep_edges: usize,
}

impl DagLayer {
    /// Creates the layer and its edge slots in `slots`.
    pub fn new(slots: &SlotSet, o: &DagOpts) -> DagLayer {
        let mut edges = Vec::with_capacity(o.n_nodes);
        for j in 0..o.n_nodes {
            let node = o.n_inputs + j;
            let mut node_edges = Vec::with_capacity(node);
            for src in 0..node {
                let stride = if src < o.n_inputs { o.input_stride } else { 1 };
                let mut kwargs = BTreeMap::new();
                let group = format!("{}-node{node}", o.share.as_deref().unwrap_or(&o.name));
                kwargs.insert("dag_group".to_string(), serde_json::json!(group));
                kwargs.insert("dag_keep".to_string(), serde_json::json!(o.keep_edges));
                kwargs.insert("dag_src".to_string(), serde_json::json!(src));
                let spec = SlotSpec {
                    name: format!("{}-node{node}-from{src}", o.name),
                    chn_in: o.chn,
                    chn_out: o.chn,
                    stride,
                    kwargs,
                    share: o
                        .share
                        .as_ref()
                        .map(|s| format!("{s}-node{node}-from{src}")),
                };
                node_edges.push((src, slots.slot_with(spec)));
            }
            edges.push(node_edges);
        }
        DagLayer {
            n_inputs: o.n_inputs,
            edges,
            merger_state: o.merger_state,
            merger_out: o.merger_out,
            drop_path: None,
        }
    }

    /// Applies drop-path to edge outputs (shared setting).
    pub fn with_drop_path(mut self, d: DropPath) -> Self {
        self.drop_path = Some(d);
        self
    }

    fn drop_path(&self, y: Tensor, edge: &Slot, train: bool) -> Tensor {
        let Some(d) = &self.drop_path else { return y };
        let p = d.prob();
        if !train
            || p <= 0.0
            || edge.op_name() == "IDT"
                && edge
                    .with_entity(|e| e.as_any().is::<crate::ops::Identity>())
                    .unwrap_or(false)
        {
            return y;
        }
        let keep = 1.0 - p;
        let n = y.size()[0];
        let mask = Tensor::rand([n, 1, 1, 1], (y.kind(), y.device()))
            .lt(keep)
            .to_kind(y.kind());
        y * mask / keep
    }

    /// The edges of every node: `(source state, slot)`.
    pub fn edges(&self) -> &[Vec<(usize, Slot)>] {
        &self.edges
    }

    /// Runs the graph on the input states.
    pub fn forward_states(&self, inputs: &[Tensor], train: bool) -> Tensor {
        let mut states: Vec<Tensor> = inputs.iter().map(Tensor::shallow_clone).collect();
        for node in &self.edges {
            let mut parts = Vec::with_capacity(node.len());
            for (src, edge) in node {
                // A derived architecture holds zero operations on its dropped edges: in a sum they
                // add nothing, so they are skipped.
                // (A type check: a mixed operator's name would read its probabilities every pass.)
                if self.merger_state == Merge::Sum
                    && edge
                        .with_entity(|e| e.as_any().is::<crate::ops::Zero>())
                        .unwrap_or(false)
                {
                    continue;
                }
                let y = Op::forward_t(edge, &states[*src], train);
                parts.push(self.drop_path(y, edge, train));
            }
            let s = if parts.is_empty() {
                // Every edge dropped: the node is zero (shape of its first edge's output).
                Op::forward_t(&node[0].1, &states[node[0].0], train)
            } else {
                merge(self.merger_state, &parts)
            };
            states.push(s);
        }
        merge(self.merger_out, &states[self.n_inputs..])
    }
}

impl Op for DagLayer {
    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        let inputs: Vec<Tensor> = (0..self.n_inputs).map(|_| x.shallow_clone()).collect();
        self.forward_states(&inputs, train)
    }
    fn op_name(&self) -> String {
        "DAG".into()
    }
    fn children(&self, f: &mut dyn FnMut(&dyn Op)) {
        for node in &self.edges {
            for (_, s) in node {
                f(s);
            }
        }
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// Parallel chains of slots whose outputs are merged; the first slot of each chain carries the
/// stride and the channel change.
#[derive(Debug)]
pub struct MultiChainLayer {
    name: String,
    chains: Vec<Vec<Slot>>,
    merger: Merge,
}

impl MultiChainLayer {
    /// `n_chain` chains of `n_nodes` slots each, standing in for the slot `outer` as its candidate
    /// `tag`: its shape, extra arguments and share group carry over, and slot `c`/`n` is
    /// `{outer}.{tag}-chain{c}-node{n}` (in share group `{group}.{tag}-chain{c}-node{n}`).
    pub fn new(
        slots: &SlotSet,
        tag: &str,
        outer: &SlotSpec,
        n_chain: usize,
        n_nodes: usize,
        merger: Merge,
    ) -> Self {
        let chains = (0..n_chain)
            .map(|c| {
                (0..n_nodes)
                    .map(|n| {
                        let (ci, s) = if n == 0 {
                            (outer.chn_in, outer.stride)
                        } else {
                            (outer.chn_out, 1)
                        };
                        let suffix = format!(".{tag}-chain{c}-node{n}");
                        slots.slot_with(SlotSpec {
                            name: format!("{}{suffix}", outer.name),
                            chn_in: ci,
                            chn_out: outer.chn_out,
                            stride: s,
                            kwargs: outer.kwargs.clone(),
                            share: outer.share.as_ref().map(|g| format!("{g}{suffix}")),
                        })
                    })
                    .collect()
            })
            .collect();
        MultiChainLayer {
            name: tag.to_string(),
            chains,
            merger,
        }
    }
}

impl Op for MultiChainLayer {
    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        let outs: Vec<Tensor> = self
            .chains
            .iter()
            .map(|c| {
                let mut h = Op::forward_t(&c[0], x, train);
                for s in &c[1..] {
                    h = Op::forward_t(s, &h, train);
                }
                h
            })
            .collect();
        merge(self.merger, &outs)
    }
    fn op_name(&self) -> String {
        self.name.clone()
    }
    fn children(&self, f: &mut dyn FnMut(&dyn Op)) {
        for c in &self.chains {
            for s in c {
                f(s);
            }
        }
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

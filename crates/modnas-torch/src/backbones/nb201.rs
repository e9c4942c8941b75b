//! The NAS-Bench-201 network (Dong & Yang 2020): the cell space whose 15 625 architectures the
//! NAS-Bench-201 table scores, so that a network built here and the table's accuracy describe
//! the same architecture.
//!
//! A 3×3 stem, three stages of `cells` cells (16, 32 and 64 channels by default) joined by
//! residual reduction blocks, batch norm and ReLU, global pooling and a classifier. A cell is a
//! DAG of four states: state 0 is the cell's input and state `j` sums one edge from every earlier
//! state, in the table's edge order `1←0, 2←0, 2←1, 3←0, 3←1, 3←2`; the cell's output is state
//! 3. Every cell shares the same six edge slots (one architecture per network), named
//! `cell-node{j}-from{i}`; [`NB201_OPS`] lists the table's operations in its order.

use crate::backbones::{BuildCtx, Network};
use crate::dag::{DagLayer, DagOpts, Merge};
use crate::layers::{BatchNorm, Conv, ConvOpts, Linear, global_avg_pool};
use crate::ops::Op;
use modnas_core::registry::Args;
use serde::{Deserialize, Serialize};
use std::any::Any;
use tch::{Tensor, nn};

/// The candidates of every edge, in the table's order: `none`, `skip_connect`, `nor_conv_1x1`,
/// `nor_conv_3x3`, `avg_pool_3x3`.
pub const NB201_OPS: [&str; 5] = ["NIL", "IDT", "NC1", "NC3", "AVG"];

/// The table's name of each of [`NB201_OPS`].
pub const NB201_TABLE_OPS: [&str; 5] = [
    "none",
    "skip_connect",
    "nor_conv_1x1",
    "nor_conv_3x3",
    "avg_pool_3x3",
];

/// The six edges `(to, from)` in the table's order.
pub const NB201_EDGES: [(usize, usize); 6] = [(1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2)];

/// The slot (and parameter) name of edge `to ← from`.
pub fn nb201_edge_name(to: usize, from: usize) -> String {
    format!("cell-node{to}-from{from}")
}

/// Arguments of the NAS-Bench-201 network.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Nb201Args {
    /// Input channels.
    pub chn_in: i64,
    /// Channels of the first stage (doubled at each reduction).
    pub chn: i64,
    /// Cells per stage.
    pub cells: usize,
    /// Classes.
    pub n_classes: i64,
    /// Input height and width.
    pub image_size: i64,
}

impl Default for Nb201Args {
    fn default() -> Self {
        Nb201Args {
            chn_in: 3,
            chn: 16,
            cells: 5,
            n_classes: 10,
            image_size: 32,
        }
    }
}

impl Args for Nb201Args {
    fn check(&self) -> Result<(), (String, String)> {
        for (k, v) in [
            ("chn_in", self.chn_in),
            ("chn", self.chn),
            ("n_classes", self.n_classes),
        ] {
            if v < 1 {
                return Err((k.into(), format!("`{k}` must be at least 1")));
            }
        }
        if self.cells < 1 {
            return Err(("cells".into(), "`cells` must be at least 1".into()));
        }
        if self.image_size < 4 {
            return Err((
                "image_size".into(),
                "`image_size` must be at least 4 (two reductions)".into(),
            ));
        }
        Ok(())
    }
}

/// ReLU, convolution, batch norm.
#[derive(Debug)]
struct ReluConvBn {
    conv: Conv,
    bn: BatchNorm,
}

impl ReluConvBn {
    fn new(p: &nn::Path, cin: i64, cout: i64, stride: i64, affine: bool) -> ReluConvBn {
        let o = ConvOpts {
            stride: [stride, stride],
            ..ConvOpts::default()
        };
        ReluConvBn {
            conv: Conv::square(&(p / "conv"), cin, cout, 3, o),
            bn: BatchNorm::new(&(p / "bn"), cout, affine),
        }
    }

    fn forward(&self, x: &Tensor, train: bool) -> Tensor {
        self.bn.forward(&self.conv.forward(&x.relu()), train)
    }
}

/// The residual reduction block between stages: two ReLU-conv-BN (the first strided) beside a
/// 2×2 average pooling and a 1×1 convolution.
#[derive(Debug)]
struct Reduction {
    a: ReluConvBn,
    b: ReluConvBn,
    shortcut: Conv,
}

impl Reduction {
    fn new(p: &nn::Path, cin: i64, cout: i64, affine: bool) -> Reduction {
        Reduction {
            a: ReluConvBn::new(&(p / "a"), cin, cout, 2, affine),
            b: ReluConvBn::new(&(p / "b"), cout, cout, 1, affine),
            shortcut: Conv::square(&(p / "shortcut"), cin, cout, 1, ConvOpts::default()),
        }
    }

    fn forward(&self, x: &Tensor, train: bool) -> Tensor {
        let h = self.b.forward(&self.a.forward(x, train), train);
        let s = x.avg_pool2d([2, 2], [2, 2], [0, 0], false, true, None::<i64>);
        h + self.shortcut.forward(&s)
    }
}

#[derive(Debug)]
enum Stage {
    Cell(DagLayer),
    Reduction(Box<Reduction>),
}

/// The network.
#[derive(Debug)]
pub struct Nb201Net {
    stem: Conv,
    stem_bn: BatchNorm,
    stages: Vec<Stage>,
    last_bn: BatchNorm,
    classifier: Linear,
}

impl Nb201Net {
    /// Builds the network; its six shared edges become slots of `ctx.slots`.
    pub fn new(p: &nn::Path, ctx: &BuildCtx, a: &Nb201Args) -> Nb201Net {
        let stem = Conv::square(&(p / "stem"), a.chn_in, a.chn, 3, ConvOpts::default());
        let stem_bn = BatchNorm::new(&(p / "stem_bn"), a.chn, true);
        let mut stages = Vec::new();
        let mut c = a.chn;
        for s in 0..3 {
            if s > 0 {
                stages.push(Stage::Reduction(Box::new(Reduction::new(
                    &(p / format!("reduce{s}")),
                    c,
                    2 * c,
                    true,
                ))));
                c *= 2;
            }
            for i in 0..a.cells {
                stages.push(Stage::Cell(DagLayer::new(
                    &ctx.slots,
                    &DagOpts {
                        name: format!("stage{s}-cell{i}"),
                        share: Some("cell".into()),
                        n_inputs: 1,
                        n_nodes: 3,
                        chn: c,
                        input_stride: 1,
                        merger_state: Merge::Sum,
                        merger_out: Merge::Last,
                        keep_edges: 3,
                    },
                )));
            }
        }
        Nb201Net {
            stem,
            stem_bn,
            stages,
            last_bn: BatchNorm::new(&(p / "last_bn"), c, true),
            classifier: Linear::new(&(p / "classifier"), c, a.n_classes),
        }
    }
}

impl Op for Nb201Net {
    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        let mut h = self.stem_bn.forward(&self.stem.forward(x), train);
        for s in &self.stages {
            h = match s {
                Stage::Cell(d) => Op::forward_t(d, &h, train),
                Stage::Reduction(r) => r.forward(&h, train),
            };
        }
        let h = self.last_bn.forward(&h, train).relu();
        self.classifier.forward(&global_avg_pool(&h))
    }
    fn op_name(&self) -> String {
        "NB201".into()
    }
    fn children(&self, f: &mut dyn FnMut(&dyn Op)) {
        for s in &self.stages {
            if let Stage::Cell(d) = s {
                f(d);
            }
        }
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl Network for Nb201Net {}

struct Nb201Backbone(Nb201Args);

impl crate::backbones::Backbone for Nb201Backbone {
    fn build(&self, p: &nn::Path, ctx: &BuildCtx) -> Result<Box<dyn Network>, String> {
        Ok(Box::new(Nb201Net::new(p, ctx, &self.0)))
    }
    fn default_candidates(&self, _slot: &crate::slot::SlotSpec) -> Option<Vec<String>> {
        Some(NB201_OPS.iter().map(|s| s.to_string()).collect())
    }
    fn input_shape(&self) -> [i64; 3] {
        [self.0.chn_in, self.0.image_size, self.0.image_size]
    }
    fn n_classes(&self) -> i64 {
        self.0.n_classes
    }
}

pub(crate) fn register(
    reg: &mut crate::backbones::BackboneRegistry,
) -> Result<(), modnas_core::registry::RegistryError> {
    reg.add::<Nb201Args>(
        "NB201",
        &["NASBench201", "NasBench201Net", "NAS-Bench-201"],
        "The NAS-Bench-201 cell network: stem, three stages of DAG cells sharing six edges (none, skip, 1×1 and 3×3 ReLU-conv-BN, 3×3 average pooling), residual reductions, classifier.",
        |a, _| Ok(Box::new(Nb201Backbone(a))),
    )
}

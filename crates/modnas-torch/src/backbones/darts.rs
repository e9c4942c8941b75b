//! The DARTS cell network (Liu et al. 2019), for 1- or 3-channel images of any size.
//!
//! A 3×3 stem, `layers` cells — reduction cells at 1/3 and 2/3 of the depth — each a DAG of
//! `nodes` nodes over the two previous cells' outputs, global pooling and a classifier. All normal
//! cells share their architecture parameters, as do all reduction cells. An auxiliary head at 2/3
//! of the depth serves final training.

use crate::backbones::{BuildCtx, Network};
use crate::dag::{DagLayer, DagOpts, Merge};
use crate::layers::{BatchNorm, Conv, ConvOpts, Linear, global_avg_pool};
use crate::ops::{FactorizedReduce, Op, OpStyle, OpsOrder};
use modnas_core::registry::Args;
use serde::{Deserialize, Serialize};
use std::any::Any;
use std::sync::Mutex;
use tch::{Tensor, nn};

/// Arguments of the DARTS network.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DartsArgs {
    /// Input channels (1 for Fashion-MNIST, 3 for CIFAR).
    pub chn_in: i64,
    /// Channels of the first cells.
    pub chn: i64,
    /// Classes.
    pub n_classes: i64,
    /// Cells.
    pub layers: usize,
    /// Intermediate nodes per cell.
    pub nodes: usize,
    /// Stem width multiplier.
    pub stem_multiplier: i64,
    /// Add the auxiliary head (final training).
    pub auxiliary: bool,
    /// Share architecture parameters among cells of the same kind.
    pub shared_a: bool,
    /// Input height and width (28 for Fashion-MNIST, 32 for CIFAR).
    pub image_size: i64,
}

impl Default for DartsArgs {
    fn default() -> Self {
        DartsArgs {
            chn_in: 3,
            chn: 16,
            n_classes: 10,
            layers: 8,
            nodes: 4,
            stem_multiplier: 3,
            auxiliary: false,
            shared_a: true,
            image_size: 32,
        }
    }
}

impl Args for DartsArgs {
    fn check(&self) -> Result<(), (String, String)> {
        if self.chn_in < 1 || self.chn < 2 || self.chn % 2 != 0 {
            return Err((
                "chn".into(),
                "`chn` must be a positive even number (and `chn_in` positive)".into(),
            ));
        }
        if self.image_size < 4 {
            return Err((
                "image_size".into(),
                "`image_size` must be at least 4".into(),
            ));
        }
        if self.layers < 1 || self.nodes < 1 || self.n_classes < 1 || self.stem_multiplier < 1 {
            return Err((
                "layers".into(),
                "`layers`, `nodes`, `n_classes` and `stem_multiplier` must be positive".into(),
            ));
        }
        Ok(())
    }
}

/// The default DARTS candidates.
pub const DARTS_CANDIDATES: &[&str] = &["MAX", "AVG", "IDT", "SC3", "SC5", "DC3", "DC5", "NIL"];

#[derive(Debug)]
enum Pre {
    Conv(Conv, BatchNorm),
    Reduce(FactorizedReduce),
}

impl Pre {
    fn forward(&self, x: &Tensor, train: bool) -> Tensor {
        match self {
            Pre::Conv(c, bn) => bn.forward(&c.forward(&x.relu()), train),
            Pre::Reduce(r) => r.forward_t(x, train),
        }
    }
}

#[derive(Debug)]
struct Cell {
    pre0: Pre,
    pre1: Pre,
    dag: DagLayer,
}

#[derive(Debug)]
struct AuxHead {
    conv1: Conv,
    bn1: BatchNorm,
    conv2: Conv,
    bn2: BatchNorm,
    fc: Linear,
}

impl AuxHead {
    fn new(p: &nn::Path, c: i64, n_classes: i64) -> AuxHead {
        AuxHead {
            conv1: Conv::square(&(p / "conv1"), c, 128, 1, ConvOpts::default()),
            bn1: BatchNorm::new(&(p / "bn1"), 128, true),
            conv2: Conv::square(
                &(p / "conv2"),
                128,
                768,
                2,
                ConvOpts {
                    padding: Some([0, 0]),
                    ..Default::default()
                },
            ),
            bn2: BatchNorm::new(&(p / "bn2"), 768, true),
            fc: Linear::new(&(p / "fc"), 768, n_classes),
        }
    }

    fn forward(&self, x: &Tensor, train: bool) -> Tensor {
        // Adaptive pooling to 2×2 keeps the head valid for any input size.
        let h = x.relu().adaptive_avg_pool2d([2, 2]);
        let h = self.bn1.forward(&self.conv1.forward(&h), train).relu();
        let h = self.bn2.forward(&self.conv2.forward(&h), train).relu();
        self.fc.forward(&h.flatten(1, -1))
    }
}

/// The network.
#[derive(Debug)]
pub struct DartsNet {
    stem: Conv,
    stem_bn: BatchNorm,
    cells: Vec<Cell>,
    aux_at: Option<usize>,
    aux: Option<AuxHead>,
    aux_out: Mutex<Option<Tensor>>,
    classifier: Linear,
}

impl DartsNet {
    /// Builds the network; its edges become slots of `ctx.slots`.
    pub fn new(p: &nn::Path, ctx: &BuildCtx, a: &DartsArgs) -> DartsNet {
        // Preprocessing follows DARTS: ReLU-conv-BN, affine as the global style says.
        let style = OpStyle {
            ops_order: OpsOrder::ActWeightBn,
            ..ctx.style
        };
        let c_stem = a.chn * a.stem_multiplier;
        let stem = Conv::square(&(p / "stem"), a.chn_in, c_stem, 3, ConvOpts::default());
        let stem_bn = BatchNorm::new(&(p / "stem_bn"), c_stem, true);
        let (mut c_pp, mut c_p, mut c_cur) = (c_stem, c_stem, a.chn);
        let mut reduction_prev = false;
        let mut cells = Vec::with_capacity(a.layers);
        let reductions = [a.layers / 3, 2 * a.layers / 3];
        let mut aux_c = 0;
        for i in 0..a.layers {
            let reduction = a.layers >= 3 && reductions.contains(&i);
            if reduction {
                c_cur *= 2;
            }
            let cp = p / format!("cell{i}");
            let pre0 = if reduction_prev {
                Pre::Reduce(
                    FactorizedReduce::new(&(&cp / "pre0"), c_pp, c_cur, &style)
                        .unwrap_or_else(|_| unreachable_even()),
                )
            } else {
                Pre::Conv(
                    Conv::square(&(&cp / "pre0"), c_pp, c_cur, 1, ConvOpts::default()),
                    BatchNorm::new(&(&cp / "pre0_bn"), c_cur, style.affine),
                )
            };
            let pre1 = Pre::Conv(
                Conv::square(&(&cp / "pre1"), c_p, c_cur, 1, ConvOpts::default()),
                BatchNorm::new(&(&cp / "pre1_bn"), c_cur, style.affine),
            );
            let kind = if reduction { "reduce" } else { "normal" };
            let dag = DagLayer::new(
                &ctx.slots,
                &DagOpts {
                    name: format!("cell{i}"),
                    share: a.shared_a.then(|| kind.to_string()),
                    n_inputs: 2,
                    n_nodes: a.nodes,
                    chn: c_cur,
                    input_stride: if reduction { 2 } else { 1 },
                    merger_state: Merge::Sum,
                    merger_out: Merge::Concat,
                    keep_edges: 2,
                },
            )
            .with_drop_path(ctx.drop_path.clone());
            cells.push(Cell { pre0, pre1, dag });
            reduction_prev = reduction;
            c_pp = c_p;
            c_p = c_cur * a.nodes as i64;
            if i == 2 * a.layers / 3 {
                aux_c = c_p;
            }
        }
        let aux_at = (a.auxiliary && a.layers >= 3).then_some(2 * a.layers / 3);
        let aux = aux_at.map(|_| AuxHead::new(&(p / "aux"), aux_c, a.n_classes));
        DartsNet {
            stem,
            stem_bn,
            cells,
            aux_at,
            aux,
            aux_out: Mutex::new(None),
            classifier: Linear::new(&(p / "classifier"), c_p, a.n_classes),
        }
    }
}

fn unreachable_even() -> FactorizedReduce {
    // `chn` is checked to be even, and reductions double it, so channels are always even here.
    panic!("DARTS channels must be even")
}

impl Op for DartsNet {
    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        let s = self.stem_bn.forward(&self.stem.forward(x), train);
        let (mut s0, mut s1) = (s.shallow_clone(), s);
        for (i, c) in self.cells.iter().enumerate() {
            let a = c.pre0.forward(&s0, train);
            let b = c.pre1.forward(&s1, train);
            let out = c.dag.forward_states(&[a, b], train);
            s0 = s1;
            s1 = out;
            if Some(i) == self.aux_at
                && train
                && let Some(h) = &self.aux
                && let Ok(mut g) = self.aux_out.lock()
            {
                *g = Some(h.forward(&s1, train));
            }
        }
        self.classifier.forward(&global_avg_pool(&s1))
    }
    fn op_name(&self) -> String {
        "DARTS".into()
    }
    fn children(&self, f: &mut dyn FnMut(&dyn Op)) {
        for c in &self.cells {
            f(&c.dag);
        }
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl Network for DartsNet {
    fn take_aux(&self) -> Option<Tensor> {
        self.aux_out.lock().ok().and_then(|mut g| g.take())
    }
}

struct DartsBackbone(DartsArgs, [i64; 3]);

impl crate::backbones::Backbone for DartsBackbone {
    fn build(&self, p: &nn::Path, ctx: &BuildCtx) -> Result<Box<dyn Network>, String> {
        Ok(Box::new(DartsNet::new(p, ctx, &self.0)))
    }
    fn default_candidates(&self, _slot: &crate::slot::SlotSpec) -> Option<Vec<String>> {
        Some(DARTS_CANDIDATES.iter().map(|s| s.to_string()).collect())
    }
    fn input_shape(&self) -> [i64; 3] {
        self.1
    }
    fn n_classes(&self) -> i64 {
        self.0.n_classes
    }
}

pub(crate) fn register(
    reg: &mut crate::backbones::BackboneRegistry,
) -> Result<(), modnas_core::registry::RegistryError> {
    reg.add::<DartsArgs>("DARTS", &["DartsNet", "DARTSNetwork"], "DARTS cell network: stem, normal and reduction DAG cells with shared α, classifier, optional auxiliary head.", |a, _| {
        let shape = [a.chn_in, a.image_size, a.image_size];
        Ok(Box::new(DartsBackbone(a, shape)))
    })
}

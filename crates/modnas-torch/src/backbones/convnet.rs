//! A small convolutional network with one slot per block: quick searches and tests.

use super::{Backbone, BuildCtx, Network};
use crate::layers::{BatchNorm, Conv, ConvOpts, Linear, global_avg_pool};
use crate::ops::Op;
use crate::slot::{Slot, SlotSpec};
use modnas_core::registry::{Args, RegistryError};
use serde::{Deserialize, Serialize};
use std::any::Any;
use tch::{Tensor, nn};

/// Arguments of [`ConvNet`].
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConvNetArgs {
    /// Input channels.
    pub chn_in: i64,
    /// Input height and width.
    pub image_size: i64,
    /// Classes.
    pub n_classes: i64,
    /// Output channels of each stage (each stage halves the resolution).
    pub widths: Vec<i64>,
    /// Blocks (slots) per stage.
    pub blocks: usize,
}

impl Default for ConvNetArgs {
    fn default() -> Self {
        ConvNetArgs {
            chn_in: 1,
            image_size: 28,
            n_classes: 10,
            widths: vec![16, 32],
            blocks: 2,
        }
    }
}

impl Args for ConvNetArgs {
    fn check(&self) -> Result<(), (String, String)> {
        if self.widths.is_empty() || self.widths.iter().any(|&w| w < 2 || w % 2 != 0) {
            return Err((
                "widths".into(),
                "`widths` must list positive even channel counts".into(),
            ));
        }
        if self.blocks == 0 || self.chn_in < 1 || self.n_classes < 1 || self.image_size < 2 {
            return Err((
                "blocks".into(),
                "`blocks`, `chn_in`, `n_classes` and `image_size` must be positive".into(),
            ));
        }
        Ok(())
    }
}

/// Stem conv, stages of slots (the first of each stage strided), pooling, classifier.
#[derive(Debug)]
pub struct ConvNet {
    stem: Conv,
    stem_bn: BatchNorm,
    blocks: Vec<Slot>,
    fc: Linear,
}

impl ConvNet {
    /// Builds the network.
    pub fn new(p: &nn::Path, ctx: &BuildCtx, a: &ConvNetArgs) -> ConvNet {
        let c0 = a.widths[0];
        let mut blocks = Vec::new();
        let mut cin = c0;
        for (s, &w) in a.widths.iter().enumerate() {
            for b in 0..a.blocks {
                let stride = if b == 0 && s > 0 { 2 } else { 1 };
                blocks.push(
                    ctx.slots
                        .slot(&format!("stage{s}-block{b}"), cin, w, stride),
                );
                cin = w;
            }
        }
        ConvNet {
            stem: Conv::square(&(p / "stem"), a.chn_in, c0, 3, ConvOpts::default()),
            stem_bn: BatchNorm::new(&(p / "stem_bn"), c0, true),
            blocks,
            fc: Linear::new(&(p / "fc"), cin, a.n_classes),
        }
    }
}

impl Op for ConvNet {
    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        let mut h = self.stem_bn.forward(&self.stem.forward(x), train).relu();
        for b in &self.blocks {
            h = Op::forward_t(b, &h, train);
        }
        self.fc.forward(&global_avg_pool(&h))
    }
    fn op_name(&self) -> String {
        "ConvNet".into()
    }
    fn children(&self, f: &mut dyn FnMut(&dyn Op)) {
        for b in &self.blocks {
            f(b);
        }
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl Network for ConvNet {}

struct ConvNetBackbone(ConvNetArgs);

impl Backbone for ConvNetBackbone {
    fn build(&self, p: &nn::Path, ctx: &BuildCtx) -> Result<Box<dyn Network>, String> {
        Ok(Box::new(ConvNet::new(p, ctx, &self.0)))
    }
    fn default_candidates(&self, slot: &SlotSpec) -> Option<Vec<String>> {
        let mut c: Vec<String> = ["NC3", "NC5", "SC3", "SC5", "DC3"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        if slot.stride == 1 && slot.chn_in == slot.chn_out {
            c.push("IDT".into());
        }
        Some(c)
    }
    fn input_shape(&self) -> [i64; 3] {
        [self.0.chn_in, self.0.image_size, self.0.image_size]
    }
    fn n_classes(&self) -> i64 {
        self.0.n_classes
    }
}

pub(crate) fn register(reg: &mut super::BackboneRegistry) -> Result<(), RegistryError> {
    reg.add::<ConvNetArgs>(
        "ConvNet",
        &["SimpleConvNet"],
        "A small CNN with one slot per block (stem, stages of slots, pooling, classifier).",
        |a, _| Ok(Box::new(ConvNetBackbone(a))),
    )
}

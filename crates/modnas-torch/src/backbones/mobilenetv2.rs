//! MobileNetV2 (Sandler et al. 2018) with a slot in every inverted-residual block, in the
//! ImageNet layout or the CIFAR one (stride 1 in the stem and the second stage for 32 px inputs).
//! The search space of ProxylessNAS: kernels {3, 5, 7} × expansions {3, 6}, plus the zero operation
//! where the block has a residual connection; the first block stays fixed.

use super::{Backbone, BuildCtx, Network};
use crate::layers::{BatchNorm, Conv, ConvOpts, Linear, global_avg_pool};
use crate::ops::Op;
use crate::slot::{Slot, SlotSpec};
use modnas_core::registry::{Args, RegistryError};
use serde::{Deserialize, Serialize};
use std::any::Any;
use std::collections::BTreeMap;
use tch::{Tensor, nn};

/// Arguments of [`MobileNetV2`].
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MobileNetV2Args {
    /// Input channels.
    pub chn_in: i64,
    /// Classes.
    pub n_classes: i64,
    /// Input height and width.
    pub image_size: i64,
    /// The CIFAR layout (stride 1 in the stem and the second stage).
    pub cifar: bool,
    /// Width multiplier.
    pub width_mult: f64,
    /// Depth multiplier (repeats per stage).
    pub depth_mult: f64,
    /// Dropout before the classifier.
    pub dropout: f64,
}

impl Default for MobileNetV2Args {
    fn default() -> Self {
        MobileNetV2Args {
            chn_in: 3,
            n_classes: 1000,
            image_size: 224,
            cifar: false,
            width_mult: 1.0,
            depth_mult: 1.0,
            dropout: 0.2,
        }
    }
}

impl Args for MobileNetV2Args {
    fn check(&self) -> Result<(), (String, String)> {
        if !(self.width_mult > 0.0) || !(self.depth_mult > 0.0) {
            return Err(("width_mult".into(), "multipliers must be positive".into()));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(("dropout".into(), "`dropout` must be in [0, 1)".into()));
        }
        Ok(())
    }
}

/// The stages `[expansion, channels, repeats, stride]`.
pub(super) const CFG: [[i64; 4]; 7] = [
    [1, 16, 1, 1],
    [6, 24, 2, 2],
    [6, 32, 3, 2],
    [6, 64, 4, 2],
    [6, 96, 3, 1],
    [6, 160, 3, 2],
    [6, 320, 1, 1],
];

pub(super) fn round_ch(c: f64) -> i64 {
    (((c / 8.0).round() as i64) * 8).max(8)
}

#[derive(Debug)]
struct Block {
    slot: Slot,
    residual: bool,
}

/// The network.
#[derive(Debug)]
pub struct MobileNetV2 {
    stem: Conv,
    stem_bn: BatchNorm,
    blocks: Vec<Block>,
    last: Conv,
    last_bn: BatchNorm,
    dropout: f64,
    fc: Linear,
}

impl MobileNetV2 {
    /// Builds the network.
    pub fn new(p: &nn::Path, ctx: &BuildCtx, a: &MobileNetV2Args) -> MobileNetV2 {
        let c_stem = round_ch(32.0 * a.width_mult);
        let stem_stride = if a.cifar { 1 } else { 2 };
        let mut blocks = Vec::new();
        let mut cin = c_stem;
        for (si, &[t, c, n, s]) in CFG.iter().enumerate() {
            let cout = round_ch(c as f64 * a.width_mult);
            let repeats = ((n as f64 * a.depth_mult).ceil() as i64).max(1);
            let s = if a.cifar && si == 1 { 1 } else { s };
            for r in 0..repeats {
                let stride = if r == 0 { s } else { 1 };
                let residual = stride == 1 && cin == cout;
                let mut kwargs = BTreeMap::new();
                kwargs.insert("expansion".to_string(), serde_json::json!(t));
                kwargs.insert("residual".to_string(), serde_json::json!(residual));
                if si == 0 && r == 0 {
                    kwargs.insert("fixed".to_string(), serde_json::json!(format!("MB3E{t}")));
                }
                let spec = SlotSpec {
                    name: format!("stage{si}-block{r}"),
                    chn_in: cin,
                    chn_out: cout,
                    stride,
                    kwargs,
                    share: None,
                };
                blocks.push(Block {
                    slot: ctx.slots.slot_with(spec),
                    residual,
                });
                cin = cout;
            }
        }
        let c_last = if a.width_mult > 1.0 {
            round_ch(1280.0 * a.width_mult)
        } else {
            1280
        };
        MobileNetV2 {
            stem: Conv::square(
                &(p / "stem"),
                a.chn_in,
                c_stem,
                3,
                ConvOpts::stride(stem_stride),
            ),
            stem_bn: BatchNorm::new(&(p / "stem_bn"), c_stem, true),
            blocks,
            last: Conv::square(&(p / "last"), cin, c_last, 1, ConvOpts::default()),
            last_bn: BatchNorm::new(&(p / "last_bn"), c_last, true),
            dropout: a.dropout,
            fc: Linear::new(&(p / "fc"), c_last, a.n_classes),
        }
    }
}

impl Op for MobileNetV2 {
    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        let mut h = self.stem_bn.forward(&self.stem.forward(x), train).relu6();
        for b in &self.blocks {
            let y = Op::forward_t(&b.slot, &h, train);
            h = if b.residual { h + y } else { y };
        }
        let h = self.last_bn.forward(&self.last.forward(&h), train).relu6();
        self.fc
            .forward(&global_avg_pool(&h).dropout(self.dropout, train))
    }
    fn op_name(&self) -> String {
        "MobileNetV2".into()
    }
    fn children(&self, f: &mut dyn FnMut(&dyn Op)) {
        for b in &self.blocks {
            f(&b.slot);
        }
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl Network for MobileNetV2 {}

struct Mbv2(MobileNetV2Args);

impl Backbone for Mbv2 {
    fn build(&self, p: &nn::Path, ctx: &BuildCtx) -> Result<Box<dyn Network>, String> {
        Ok(Box::new(MobileNetV2::new(p, ctx, &self.0)))
    }
    fn default_candidates(&self, slot: &SlotSpec) -> Option<Vec<String>> {
        if let Some(f) = slot.kwargs.get("fixed").and_then(|v| v.as_str()) {
            return Some(vec![f.to_string()]);
        }
        let mut c: Vec<String> = ["MB3E3", "MB3E6", "MB5E3", "MB5E6", "MB7E3", "MB7E6"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        if slot
            .kwargs
            .get("residual")
            .and_then(|v| v.as_bool())
            .unwrap_or(false)
        {
            c.push("NIL".into());
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
    reg.add::<MobileNetV2Args>(
        "MobileNetV2",
        &["ImageNet-MobileNetV2"],
        "MobileNetV2 with a slot per inverted-residual block (ProxylessNAS space by default).",
        |a, _| Ok(Box::new(Mbv2(a))),
    )?;
    reg.add::<super::PresetArgs>(
        "CIFAR-MobileNetV2",
        &["CifarMobileNetV2"],
        "MobileNetV2 in the CIFAR layout (32 px, 10 classes by default; `MobileNetV2` with `cifar: true` takes every argument).",
        |p, _| {
            let mut a = MobileNetV2Args {
                cifar: true,
                image_size: 32,
                n_classes: 10,
                ..Default::default()
            };
            p.apply(&mut a.chn_in, &mut a.image_size, &mut a.n_classes);
            Ok(Box::new(Mbv2(a)))
        },
    )
}

//! ResNet and ResNeXt (He et al. 2016; Xie et al. 2017) whose 3×3 convolutions are slots, in the
//! CIFAR layout (3×3 stem, three stages) or the ImageNet one (7×7 stem, four stages).
//! A slot stands for convolution + batch norm; the block applies activations and the shortcut.

use super::{Backbone, BuildCtx, Network};
use crate::layers::{BatchNorm, Conv, ConvOpts, Linear, global_avg_pool};
use crate::ops::Op;
use crate::slot::{Slot, SlotSpec};
use modnas_core::registry::{Args, RegistryError};
use serde::{Deserialize, Serialize};
use std::any::Any;
use std::collections::BTreeMap;
use tch::{Tensor, nn};

/// Arguments of [`ResNet`].
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ResNetArgs {
    /// Blocks per stage, e.g. `[2, 2, 2, 2]` (ResNet-18) or `[3, 3, 3]` (CIFAR ResNet-20).
    pub blocks: Vec<usize>,
    /// Bottleneck blocks (ResNet-50 and deeper, ResNeXt).
    pub bottleneck: bool,
    /// Groups of the 3×3 convolution (ResNeXt cardinality).
    pub groups: i64,
    /// Width of the first stage.
    pub width: i64,
    /// Input channels.
    pub chn_in: i64,
    /// Input height and width.
    pub image_size: i64,
    /// Classes.
    pub n_classes: i64,
    /// CIFAR layout.
    pub cifar: bool,
}

impl Default for ResNetArgs {
    fn default() -> Self {
        ResNetArgs {
            blocks: vec![3, 3, 3],
            bottleneck: false,
            groups: 1,
            width: 16,
            chn_in: 3,
            image_size: 32,
            n_classes: 10,
            cifar: true,
        }
    }
}

impl Args for ResNetArgs {
    fn check(&self) -> Result<(), (String, String)> {
        if self.blocks.is_empty() || self.blocks.contains(&0) {
            return Err((
                "blocks".into(),
                "`blocks` must list at least one positive count".into(),
            ));
        }
        if self.groups < 1 || self.width < 1 || self.width % self.groups != 0 {
            return Err(("groups".into(), "`groups` must divide `width`".into()));
        }
        Ok(())
    }
}

#[derive(Debug)]
struct Block {
    reduce: Option<(Conv, BatchNorm)>,
    mid: Slot,
    second: Option<Slot>,
    expand: Option<(Conv, BatchNorm)>,
    shortcut: Option<(Conv, BatchNorm)>,
}

/// The network.
#[derive(Debug)]
pub struct ResNet {
    stem: Conv,
    stem_bn: BatchNorm,
    pool: bool,
    blocks: Vec<Block>,
    fc: Linear,
}

fn conv_slot(ctx: &BuildCtx, name: &str, cin: i64, cout: i64, stride: i64, groups: i64) -> Slot {
    let mut kwargs = BTreeMap::new();
    kwargs.insert("groups".to_string(), serde_json::json!(groups));
    kwargs.insert("ops_order".to_string(), serde_json::json!("weight_bn"));
    ctx.slots.slot_with(SlotSpec {
        name: name.to_string(),
        chn_in: cin,
        chn_out: cout,
        stride,
        kwargs,
        share: None,
    })
}

impl ResNet {
    /// Builds the network.
    pub fn new(p: &nn::Path, ctx: &BuildCtx, a: &ResNetArgs) -> ResNet {
        // ResNeXt's grouped bottlenecks are twice as wide as their output expansion.
        let expansion = match (a.bottleneck, a.groups > 1) {
            (false, _) => 1,
            (true, false) => 4,
            (true, true) => 2,
        };
        let c_stem = if a.cifar { a.width } else { a.width.min(64) };
        let (stem, pool) = if a.cifar {
            (
                Conv::square(&(p / "stem"), a.chn_in, c_stem, 3, ConvOpts::default()),
                false,
            )
        } else {
            (
                Conv::square(&(p / "stem"), a.chn_in, c_stem, 7, ConvOpts::stride(2)),
                true,
            )
        };
        let mut cin = c_stem;
        let mut blocks = Vec::new();
        for (s, &n) in a.blocks.iter().enumerate() {
            let w = a.width << s;
            for b in 0..n {
                let stride = if b == 0 && s > 0 { 2 } else { 1 };
                let cout = w * expansion;
                let bp = p / format!("stage{s}-block{b}");
                let name = format!("stage{s}-block{b}");
                let shortcut = (stride != 1 || cin != cout).then(|| {
                    (
                        Conv::square(
                            &(&bp / "shortcut"),
                            cin,
                            cout,
                            1,
                            ConvOpts {
                                stride: [stride, stride],
                                padding: Some([0, 0]),
                                ..Default::default()
                            },
                        ),
                        BatchNorm::new(&(&bp / "shortcut_bn"), cout, true),
                    )
                });
                let block = if a.bottleneck {
                    Block {
                        reduce: Some((
                            Conv::square(&(&bp / "reduce"), cin, w, 1, ConvOpts::default()),
                            BatchNorm::new(&(&bp / "reduce_bn"), w, true),
                        )),
                        mid: conv_slot(ctx, &format!("{name}-conv"), w, w, stride, a.groups),
                        second: None,
                        expand: Some((
                            Conv::square(&(&bp / "expand"), w, cout, 1, ConvOpts::default()),
                            BatchNorm::new(&(&bp / "expand_bn"), cout, true),
                        )),
                        shortcut,
                    }
                } else {
                    Block {
                        reduce: None,
                        mid: conv_slot(ctx, &format!("{name}-conv1"), cin, w, stride, a.groups),
                        second: Some(conv_slot(ctx, &format!("{name}-conv2"), w, w, 1, a.groups)),
                        expand: None,
                        shortcut,
                    }
                };
                blocks.push(block);
                cin = cout;
            }
        }
        ResNet {
            stem,
            stem_bn: BatchNorm::new(&(p / "stem_bn"), c_stem, true),
            pool,
            blocks,
            fc: Linear::new(&(p / "fc"), cin, a.n_classes),
        }
    }
}

impl Op for ResNet {
    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        let mut h = self.stem_bn.forward(&self.stem.forward(x), train).relu();
        if self.pool {
            h = h.max_pool2d([3, 3], [2, 2], [1, 1], [1, 1], false);
        }
        for b in &self.blocks {
            let mut y = match &b.reduce {
                Some((c, bn)) => bn.forward(&c.forward(&h), train).relu(),
                None => h.shallow_clone(),
            };
            y = Op::forward_t(&b.mid, &y, train);
            if let Some(s2) = &b.second {
                y = Op::forward_t(s2, &y.relu(), train);
            } else {
                y = y.relu();
            }
            if let Some((c, bn)) = &b.expand {
                y = bn.forward(&c.forward(&y), train);
            }
            let short = match &b.shortcut {
                Some((c, bn)) => bn.forward(&c.forward(&h), train),
                None => h.shallow_clone(),
            };
            h = (y + short).relu();
        }
        self.fc.forward(&global_avg_pool(&h))
    }
    fn op_name(&self) -> String {
        "ResNet".into()
    }
    fn children(&self, f: &mut dyn FnMut(&dyn Op)) {
        for b in &self.blocks {
            f(&b.mid);
            if let Some(s) = &b.second {
                f(s);
            }
        }
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl Network for ResNet {}

struct ResNetBackbone(ResNetArgs);

impl Backbone for ResNetBackbone {
    fn build(&self, p: &nn::Path, ctx: &BuildCtx) -> Result<Box<dyn Network>, String> {
        Ok(Box::new(ResNet::new(p, ctx, &self.0)))
    }
    fn default_candidates(&self, _slot: &SlotSpec) -> Option<Vec<String>> {
        // Kernel sizes; a grouped slot (ResNeXt) passes its groups on to the convolutions.
        Some(vec!["NC3".into(), "NC5".into(), "NC7".into()])
    }
    fn input_shape(&self) -> [i64; 3] {
        [self.0.chn_in, self.0.image_size, self.0.image_size]
    }
    fn n_classes(&self) -> i64 {
        self.0.n_classes
    }
}

fn preset(blocks: &[usize], bottleneck: bool, groups: i64, width: i64, cifar: bool) -> ResNetArgs {
    let d = ResNetArgs::default();
    ResNetArgs {
        blocks: blocks.to_vec(),
        bottleneck,
        groups,
        width,
        cifar,
        image_size: if cifar { 32 } else { 224 },
        n_classes: if cifar { 10 } else { 1000 },
        ..d
    }
}

pub(crate) fn register(reg: &mut super::BackboneRegistry) -> Result<(), RegistryError> {
    reg.add::<ResNetArgs>("ResNet", &[], "ResNet / ResNeXt whose 3×3 convolutions are slots (kernel-size search); any depth via `blocks`.", |a, _| {
        Ok(Box::new(ResNetBackbone(a)))
    })?;
    reg.add::<super::PresetArgs>(
        "CIFAR-ResNet-20",
        &["CifarResNet20"],
        "CIFAR ResNet-20 (3 stages × 3 basic blocks, width 16).",
        |p, _| {
            let mut a = preset(&[3, 3, 3], false, 1, 16, true);
            p.apply(&mut a.chn_in, &mut a.image_size, &mut a.n_classes);
            Ok(Box::new(ResNetBackbone(a)))
        },
    )?;
    reg.add::<super::PresetArgs>(
        "ImageNet-ResNet-18",
        &["ResNet18"],
        "ImageNet ResNet-18.",
        |p, _| {
            let mut a = preset(&[2, 2, 2, 2], false, 1, 64, false);
            p.apply(&mut a.chn_in, &mut a.image_size, &mut a.n_classes);
            Ok(Box::new(ResNetBackbone(a)))
        },
    )?;
    reg.add::<super::PresetArgs>(
        "ImageNet-ResNet-50",
        &["ResNet50"],
        "ImageNet ResNet-50 (bottleneck blocks).",
        |p, _| {
            let mut a = preset(&[3, 4, 6, 3], true, 1, 64, false);
            p.apply(&mut a.chn_in, &mut a.image_size, &mut a.n_classes);
            Ok(Box::new(ResNetBackbone(a)))
        },
    )?;
    reg.add::<super::PresetArgs>(
        "ImageNet-ResNeXt-50",
        &["ResNeXt50"],
        "ImageNet ResNeXt-50 32×4d (grouped 3×3 convolutions).",
        |p, _| {
            let mut a = preset(&[3, 4, 6, 3], true, 32, 128, false);
            p.apply(&mut a.chn_in, &mut a.image_size, &mut a.n_classes);
            Ok(Box::new(ResNetBackbone(a)))
        },
    )
}

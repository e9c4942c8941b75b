//! MobileNetV2-Elastic (paper App. G.1): MobileNetV2 whose inverted-residual blocks have elastic
//! expansion ratios (an [`ElasticSpatial`] group on the hidden feature map of every block: the
//! expand convolution and its batch norm, the depthwise convolution and its batch norm produce
//! it, the projection reads it) and whose stages have elastic depth (an [`ElasticSequential`]
//! group per stage). The first block is excluded and kernels are 3×3.
//!
//! Parameters: `stage{S}.depth` (blocks of stage S) and `stage{S}-block{B}.expansion`. Built
//! from an architecture description, the network is the narrow, shallow one itself.

use super::mobilenetv2::{CFG, round_ch};
use super::{Backbone, BuildCtx, Network};
use crate::elastic::{ElasticSequential, ElasticSpatial, GroupKind, Rank};
use crate::layers::{BatchNorm, Conv, ConvOpts, Linear, global_avg_pool};
use crate::ops::{InvertedResidual, Op};
use modnas_core::param::Value;
use modnas_core::registry::{Args, RegistryError};
use serde::{Deserialize, Serialize};
use std::any::Any;
use std::sync::Arc;
use tch::{Tensor, nn};

/// Arguments of [`MobileNetV2Elastic`].
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MobileNetV2ElasticArgs {
    /// Input channels.
    pub chn_in: i64,
    /// Classes.
    pub n_classes: i64,
    /// Input height and width.
    pub image_size: i64,
    /// The CIFAR layout (stride 1 in the stem and the second stage), for small images.
    pub cifar: bool,
    /// Width multiplier.
    pub width_mult: f64,
    /// Channels of the last 1×1 convolution.
    pub last_channels: i64,
    /// Dropout before the classifier.
    pub dropout: f64,
    /// Expansion ratios of every block.
    pub expansions: Vec<i64>,
    /// Blocks per stage (the largest is the number built).
    pub depths: Vec<usize>,
    /// How channels are ranked before narrower widths take the first ones.
    pub rank: Rank,
}

impl Default for MobileNetV2ElasticArgs {
    fn default() -> Self {
        MobileNetV2ElasticArgs {
            chn_in: 3,
            n_classes: 1000,
            image_size: 224,
            cifar: false,
            width_mult: 1.0,
            last_channels: 1280,
            dropout: 0.2,
            expansions: vec![1, 3, 6],
            depths: vec![1, 2, 3, 4],
            rank: Rank::L1FanIn,
        }
    }
}

impl Args for MobileNetV2ElasticArgs {
    fn check(&self) -> Result<(), (String, String)> {
        if !(self.width_mult > 0.0) {
            return Err(("width_mult".into(), "`width_mult` must be positive".into()));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(("dropout".into(), "`dropout` must be in [0, 1)".into()));
        }
        if self.expansions.is_empty() || self.expansions.iter().any(|&e| !(1..=16).contains(&e)) {
            return Err((
                "expansions".into(),
                "`expansions` must list ratios between 1 and 16".into(),
            ));
        }
        if self.depths.is_empty() || self.depths.iter().any(|&d| !(1..=16).contains(&d)) {
            return Err((
                "depths".into(),
                "`depths` must list block counts between 1 and 16".into(),
            ));
        }
        if self.last_channels < 1 {
            return Err((
                "last_channels".into(),
                "`last_channels` must be at least 1".into(),
            ));
        }
        Ok(())
    }
}

/// A block with an elastic hidden width: 1×1 expand, BN, ReLU6, 3×3 depthwise, BN, ReLU6, 1×1
/// project, BN (the expand convolution is kept at every ratio, also 1, so that every width is
/// a slice of the largest).
#[derive(Debug)]
struct ElasticBlock {
    expand: Conv,
    expand_bn: BatchNorm,
    dw: Conv,
    dw_bn: BatchNorm,
    project: Conv,
    project_bn: BatchNorm,
}

impl ElasticBlock {
    fn new(p: &nn::Path, cin: i64, mid: i64, cout: i64, stride: i64) -> Self {
        ElasticBlock {
            expand: Conv::square(&(p / "expand"), cin, mid, 1, ConvOpts::default()),
            expand_bn: BatchNorm::new(&(p / "expand_bn"), mid, true),
            dw: Conv::square(
                &(p / "dw"),
                mid,
                mid,
                3,
                ConvOpts {
                    stride: [stride, stride],
                    groups: mid,
                    ..Default::default()
                },
            ),
            dw_bn: BatchNorm::new(&(p / "dw_bn"), mid, true),
            project: Conv::square(&(p / "project"), mid, cout, 1, ConvOpts::default()),
            project_bn: BatchNorm::new(&(p / "project_bn"), cout, true),
        }
    }

    /// Wires the hidden feature map into an elastic group.
    fn join(&mut self, g: &mut ElasticSpatial) -> Result<(), String> {
        g.fan_out_conv(&mut self.expand)?;
        g.fan_out_bn(&mut self.expand_bn)?;
        g.fan_out_conv(&mut self.dw)?;
        g.fan_out_bn(&mut self.dw_bn)?;
        g.fan_in_conv(&mut self.project)
    }

    fn forward(&self, x: &Tensor, train: bool) -> Tensor {
        let h = self
            .expand_bn
            .forward(&self.expand.forward(x), train)
            .relu6();
        let h = self.dw_bn.forward(&self.dw.forward(&h), train).relu6();
        self.project_bn.forward(&self.project.forward(&h), train)
    }
}

#[derive(Debug)]
struct Stage {
    blocks: Vec<(ElasticBlock, bool)>,
    depth: Option<ElasticSequential>,
}

/// The network.
#[derive(Debug)]
pub struct MobileNetV2Elastic {
    stem: Conv,
    stem_bn: BatchNorm,
    first: InvertedResidual,
    stages: Vec<Stage>,
    last: Conv,
    last_bn: BatchNorm,
    dropout: f64,
    fc: Linear,
}

impl MobileNetV2Elastic {
    /// Builds the network; its elastic parameters go to `ctx.elastic`.
    pub fn new(
        p: &nn::Path,
        ctx: &BuildCtx,
        a: &MobileNetV2ElasticArgs,
    ) -> Result<MobileNetV2Elastic, String> {
        let e_labels: Vec<Value> = a.expansions.iter().map(|&e| Value::Int(e)).collect();
        let d_labels: Vec<Value> = a.depths.iter().map(|&d| Value::Int(d as i64)).collect();
        let e_max = a.expansions.iter().copied().max().unwrap_or(1);
        let d_max = a.depths.iter().copied().max().unwrap_or(1);
        let c_stem = round_ch(32.0 * a.width_mult);
        let [_, c0, _, _] = CFG[0];
        let c0 = round_ch(c0 as f64 * a.width_mult);
        let first = InvertedResidual::new(&(p / "stage0-block0"), "MB3E1", c_stem, c0, 1, 3, 1);
        let mut cin = c0;
        let mut stages = Vec::new();
        for (si, &[_, c, _, s]) in CFG.iter().enumerate().skip(1) {
            let cout = round_ch(c as f64 * a.width_mult);
            let s = if a.cifar && si == 1 { 1 } else { s };
            let dname = format!("stage{si}.depth");
            let fixed_depth = ctx.elastic.fixed_choice(&dname, &d_labels)?;
            let built = fixed_depth.map_or(d_max, |i| a.depths[i]);
            let mut blocks = Vec::new();
            for r in 0..d_max {
                let (stride, bin) = if r == 0 { (s, cin) } else { (1, cout) };
                let ename = format!("stage{si}-block{r}.expansion");
                let fixed_e = ctx.elastic.fixed_choice(&ename, &e_labels)?;
                if r >= built {
                    continue;
                }
                let bp = p / format!("stage{si}-block{r}");
                let residual = stride == 1 && bin == cout;
                match fixed_e {
                    Some(i) => {
                        let mid = bin * a.expansions[i];
                        blocks.push((ElasticBlock::new(&bp, bin, mid, cout, stride), residual));
                    }
                    None => {
                        let mut b = ElasticBlock::new(&bp, bin, bin * e_max, cout, stride);
                        let mut g = ElasticSpatial::new(bin * e_max, a.rank);
                        b.join(&mut g)?;
                        let widths = a.expansions.iter().map(|&e| bin * e).collect();
                        ctx.elastic.add(
                            &ename,
                            e_labels.clone(),
                            GroupKind::Spatial {
                                group: Arc::new(std::sync::Mutex::new(g)),
                                widths,
                            },
                        )?;
                        blocks.push((b, residual));
                    }
                }
            }
            let depth = match fixed_depth {
                Some(_) => None,
                None => {
                    let g = ElasticSequential::new(d_max);
                    ctx.elastic.add(
                        &dname,
                        d_labels.clone(),
                        GroupKind::Sequential {
                            group: g.clone(),
                            depths: a.depths.clone(),
                        },
                    )?;
                    Some(g)
                }
            };
            stages.push(Stage { blocks, depth });
            cin = cout;
        }
        Ok(MobileNetV2Elastic {
            stem: Conv::square(
                &(p / "stem"),
                a.chn_in,
                c_stem,
                3,
                ConvOpts::stride(if a.cifar { 1 } else { 2 }),
            ),
            stem_bn: BatchNorm::new(&(p / "stem_bn"), c_stem, true),
            first,
            stages,
            last: Conv::square(&(p / "last"), cin, a.last_channels, 1, ConvOpts::default()),
            last_bn: BatchNorm::new(&(p / "last_bn"), a.last_channels, true),
            dropout: a.dropout,
            fc: Linear::new(&(p / "fc"), a.last_channels, a.n_classes),
        })
    }
}

impl Op for MobileNetV2Elastic {
    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        let h = self.stem_bn.forward(&self.stem.forward(x), train).relu6();
        let mut h = Op::forward_t(&self.first, &h, train);
        for st in &self.stages {
            for (r, (b, residual)) in st.blocks.iter().enumerate() {
                if st.depth.as_ref().is_some_and(|g| !g.runs(r)) {
                    break;
                }
                let y = b.forward(&h, train);
                h = if *residual { h + y } else { y };
            }
        }
        let h = self.last_bn.forward(&self.last.forward(&h), train).relu6();
        self.fc
            .forward(&global_avg_pool(&h).dropout(self.dropout, train))
    }
    fn op_name(&self) -> String {
        "MobileNetV2-Elastic".into()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl Network for MobileNetV2Elastic {}

struct Mbv2Elastic(MobileNetV2ElasticArgs);

impl Backbone for Mbv2Elastic {
    fn build(&self, p: &nn::Path, ctx: &BuildCtx) -> Result<Box<dyn Network>, String> {
        Ok(Box::new(MobileNetV2Elastic::new(p, ctx, &self.0)?))
    }
    fn input_shape(&self) -> [i64; 3] {
        [self.0.chn_in, self.0.image_size, self.0.image_size]
    }
    fn n_classes(&self) -> i64 {
        self.0.n_classes
    }
}

pub(crate) fn register(reg: &mut super::BackboneRegistry) -> Result<(), RegistryError> {
    reg.add::<MobileNetV2ElasticArgs>(
        "MobileNetV2-Elastic",
        &["MobileNetV2Elastic", "ElasticMobileNetV2"],
        "MobileNetV2 with elastic expansion per block and elastic depth per stage (Once-for-All; searched by ProgressiveShrinking, SPOS or SubNet).",
        |a, _| Ok(Box::new(Mbv2Elastic(a))),
    )
}

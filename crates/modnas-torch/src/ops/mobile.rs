//! MobileNetV2 inverted residual convolutions and MobileNetV3 blocks.
//!
//! The residual addition belongs to the block that holds the slot (the backbone), as in the
//! reference code, so a zero candidate can stand for "skip this block".

use super::Op;
use crate::layers::{BatchNorm, Conv, ConvOpts, Linear};
use std::any::Any;
use tch::{Tensor, nn};

/// MobileNetV2's inverted residual body: [1×1 expand, BN, ReLU6] (when `e > 1`), k×k depthwise,
/// BN, ReLU6, 1×1 project, BN.
#[derive(Debug)]
pub struct InvertedResidual {
    name: String,
    expand: Option<(Conv, BatchNorm)>,
    dw: Conv,
    dw_bn: BatchNorm,
    project: Conv,
    project_bn: BatchNorm,
}

impl InvertedResidual {
    /// `MB{k}E{e}` from `cin` to `cout` with `stride`.
    pub fn new(
        p: &nn::Path,
        name: &str,
        cin: i64,
        cout: i64,
        stride: i64,
        k: i64,
        e: i64,
    ) -> InvertedResidual {
        let mid = cin * e;
        let expand = (e != 1).then(|| {
            (
                Conv::square(&(p / "expand"), cin, mid, 1, ConvOpts::default()),
                BatchNorm::new(&(p / "expand_bn"), mid, true),
            )
        });
        InvertedResidual {
            name: name.to_string(),
            expand,
            dw: Conv::square(
                &(p / "dw"),
                mid,
                mid,
                k,
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
}

impl Op for InvertedResidual {
    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        let h = match &self.expand {
            Some((c, bn)) => bn.forward(&c.forward(x), train).relu6(),
            None => x.shallow_clone(),
        };
        let h = self.dw_bn.forward(&self.dw.forward(&h), train).relu6();
        self.project_bn.forward(&self.project.forward(&h), train)
    }
    fn op_name(&self) -> String {
        self.name.clone()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// MobileNetV3's block body: expand, depthwise, optional squeeze-and-excitation (reduction 4,
/// hard sigmoid), project; hard-swish activations when `hswish`, ReLU otherwise.
#[derive(Debug)]
pub struct MobileV3Block {
    name: String,
    hswish: bool,
    expand: Option<(Conv, BatchNorm)>,
    dw: Conv,
    dw_bn: BatchNorm,
    se: Option<(Linear, Linear)>,
    project: Conv,
    project_bn: BatchNorm,
}

impl MobileV3Block {
    /// `M3B{k}E{e}[H|S|SH]` from `cin` to `cout`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        p: &nn::Path,
        name: &str,
        cin: i64,
        cout: i64,
        stride: i64,
        k: i64,
        e: i64,
        hswish: bool,
        se: bool,
    ) -> MobileV3Block {
        let mid = cin * e;
        MobileV3Block {
            name: name.to_string(),
            hswish,
            expand: (e != 1).then(|| {
                (
                    Conv::square(&(p / "expand"), cin, mid, 1, ConvOpts::default()),
                    BatchNorm::new(&(p / "expand_bn"), mid, true),
                )
            }),
            dw: Conv::square(
                &(p / "dw"),
                mid,
                mid,
                k,
                ConvOpts {
                    stride: [stride, stride],
                    groups: mid,
                    ..Default::default()
                },
            ),
            dw_bn: BatchNorm::new(&(p / "dw_bn"), mid, true),
            se: se.then(|| {
                let r = (mid / 4).max(1);
                (
                    Linear::new(&(p / "se_reduce"), mid, r),
                    Linear::new(&(p / "se_expand"), r, mid),
                )
            }),
            project: Conv::square(&(p / "project"), mid, cout, 1, ConvOpts::default()),
            project_bn: BatchNorm::new(&(p / "project_bn"), cout, true),
        }
    }

    fn act(&self, x: &Tensor) -> Tensor {
        if self.hswish { x.hardswish() } else { x.relu() }
    }
}

impl Op for MobileV3Block {
    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        let h = match &self.expand {
            Some((c, bn)) => self.act(&bn.forward(&c.forward(x), train)),
            None => x.shallow_clone(),
        };
        let mut h = self.act(&self.dw_bn.forward(&self.dw.forward(&h), train));
        if let Some((r, e)) = &self.se {
            let s = crate::layers::global_avg_pool(&h);
            let s = e.forward(&r.forward(&s).relu()).hardsigmoid();
            let sz = s.size();
            h = &h * s.view([sz[0], sz[1], 1, 1]);
        }
        self.project_bn.forward(&self.project.forward(&h), train)
    }
    fn op_name(&self) -> String {
        self.name.clone()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

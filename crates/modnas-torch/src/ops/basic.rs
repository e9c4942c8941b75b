//! Zero, identity, factorized reduce, pooling and convolution chains.

use super::{Op, OpStyle, OpsOrder};
use crate::layers::{BatchNorm, Conv, ConvOpts};
use std::any::Any;
use tch::{Tensor, nn};

/// The zero operation: outputs zeros of the output shape (strided when `stride > 1`).
#[derive(Debug)]
pub struct Zero {
    /// Output channels.
    pub cout: i64,
    /// Stride.
    pub stride: i64,
}

impl Op for Zero {
    fn forward_t(&self, x: &Tensor, _train: bool) -> Tensor {
        let s = x.size();
        let (h, w) = (
            (s[2] + self.stride - 1) / self.stride,
            (s[3] + self.stride - 1) / self.stride,
        );
        Tensor::zeros([s[0], self.cout, h, w], (x.kind(), x.device()))
    }
    fn op_name(&self) -> String {
        "NIL".into()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// The identity.
#[derive(Debug)]
pub struct Identity;

impl Op for Identity {
    fn forward_t(&self, x: &Tensor, _train: bool) -> Tensor {
        x.shallow_clone()
    }
    fn op_name(&self) -> String {
        "IDT".into()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// One step of a chain.
#[derive(Debug)]
pub enum Layer {
    /// ReLU.
    Relu,
    /// ReLU6.
    Relu6,
    /// Hard swish.
    HardSwish,
    /// A convolution.
    Conv(Conv),
    /// Batch norm.
    Bn(BatchNorm),
}

impl Layer {
    fn forward(&self, x: &Tensor, train: bool) -> Tensor {
        match self {
            Layer::Relu => x.relu(),
            Layer::Relu6 => x.relu6(),
            Layer::HardSwish => x.hardswish(),
            Layer::Conv(c) => c.forward(x),
            Layer::Bn(b) => b.forward(x, train),
        }
    }
}

/// A sequence of layers with a name (most convolutional primitives).
#[derive(Debug)]
pub struct Chain {
    /// The name in architecture descriptions.
    pub name: String,
    /// The layers.
    pub layers: Vec<Layer>,
}

impl Chain {
    /// Runs layers `start..end` on `x`. A ReLU right after a batch norm works in place: batch
    /// norm keeps its input, not its output, for the backward pass, so no copy is needed.
    fn run_range(&self, start: usize, end: usize, x: &Tensor, train: bool) -> Tensor {
        let mut h = self.layers[start].forward(x, train);
        for (i, l) in self.layers.iter().enumerate().take(end).skip(start + 1) {
            h = match (l, &self.layers[i - 1]) {
                (Layer::Relu, Layer::Bn(_)) => h.relu_(),
                _ => l.forward(&h, train),
            };
        }
        h
    }

    fn run_from(&self, start: usize, x: &Tensor, train: bool) -> Tensor {
        self.run_range(start, self.layers.len(), x, train)
    }
}

impl Op for Chain {
    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        self.run_from(0, x, train)
    }
    fn leading_relu(&self) -> bool {
        matches!(self.layers.first(), Some(Layer::Relu)) && self.layers.len() > 1
    }
    fn forward_after_relu(&self, xr: &Tensor, train: bool) -> Tensor {
        self.run_from(1, xr, train)
    }
    fn forward_scaled(
        &self,
        x: &Tensor,
        train: bool,
        s: &Tensor,
        after_relu: bool,
    ) -> Option<Tensor> {
        let n = self.layers.len();
        let Some(Layer::Bn(bn)) = self.layers.last() else {
            return None;
        };
        let start = usize::from(after_relu && self.leading_relu());
        let h = if start < n - 1 {
            self.run_range(start, n - 1, x, train)
        } else {
            x.shallow_clone()
        };
        Some(bn.forward_scaled(&h, train, s))
    }
    fn op_name(&self) -> String {
        self.name.clone()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// Builds `convs` (each `(cin, cout, kernel, opts)`) in the style's order, one activation before
/// (or after) the group and one batch norm after each `bn_after` index.
pub(crate) struct ChainBuilder<'a> {
    path: &'a nn::Path<'a>,
    style: OpStyle,
    layers: Vec<Layer>,
    n: usize,
}

impl<'a> ChainBuilder<'a> {
    pub(crate) fn new(path: &'a nn::Path<'a>, style: OpStyle) -> Self {
        ChainBuilder {
            path,
            style,
            layers: Vec::new(),
            n: 0,
        }
    }

    fn next_path(&mut self) -> nn::Path<'a> {
        let p = self.path / self.n.to_string();
        self.n += 1;
        p
    }

    /// A unit: the style's arrangement of [ReLU, convs…, BN(cout)].
    pub(crate) fn unit(mut self, convs: &[(i64, i64, [i64; 2], ConvOpts)]) -> Self {
        let cout = convs.last().map(|c| c.1).unwrap_or(0);
        let style = self.style;
        let mut conv_layers = Vec::new();
        for &(ci, co, k, o) in convs {
            let p = self.next_path();
            conv_layers.push(Layer::Conv(Conv::new(
                &p,
                ci,
                co,
                k,
                ConvOpts {
                    bias: style.conv_bias,
                    ..o
                },
            )));
        }
        match style.ops_order {
            OpsOrder::ActWeightBn => {
                self.layers.push(Layer::Relu);
                self.layers.extend(conv_layers);
                let p = self.next_path();
                self.layers
                    .push(Layer::Bn(BatchNorm::new(&p, cout, style.affine)));
            }
            OpsOrder::BnActWeight => {
                let cin = convs.first().map(|c| c.0).unwrap_or(0);
                let p = self.next_path();
                self.layers
                    .push(Layer::Bn(BatchNorm::new(&p, cin, style.affine)));
                self.layers.push(Layer::Relu);
                self.layers.extend(conv_layers);
            }
            OpsOrder::WeightBnAct | OpsOrder::WeightBn => {
                self.layers.extend(conv_layers);
                let p = self.next_path();
                self.layers
                    .push(Layer::Bn(BatchNorm::new(&p, cout, style.affine)));
                if style.ops_order == OpsOrder::WeightBnAct {
                    self.layers.push(Layer::Relu);
                }
            }
        }
        self
    }

    pub(crate) fn finish(self, name: &str) -> Chain {
        Chain {
            name: name.to_string(),
            layers: self.layers,
        }
    }
}

/// Reduces the resolution by 2 with two offset 1×1 strided convolutions whose outputs are
/// concatenated (DARTS), then batch norm.
#[derive(Debug)]
pub struct FactorizedReduce {
    a: Conv,
    b: Conv,
    bn: BatchNorm,
    relu: bool,
}

impl FactorizedReduce {
    /// From `cin` to `cout` (even) channels.
    pub fn new(
        p: &nn::Path,
        cin: i64,
        cout: i64,
        style: &OpStyle,
    ) -> Result<FactorizedReduce, String> {
        if cout % 2 != 0 {
            return Err(format!(
                "factorized reduce needs an even number of output channels, got {cout}"
            ));
        }
        let o = ConvOpts {
            stride: [2, 2],
            padding: Some([0, 0]),
            bias: style.conv_bias,
            ..Default::default()
        };
        Ok(FactorizedReduce {
            a: Conv::square(&(p / "conv_1"), cin, cout / 2, 1, o),
            b: Conv::square(&(p / "conv_2"), cin, cout / 2, 1, o),
            bn: BatchNorm::new(&(p / "bn"), cout, style.affine),
            relu: true,
        })
    }
}

impl FactorizedReduce {
    fn reduce(&self, x: &Tensor, train: bool, scale: Option<&Tensor>) -> Tensor {
        let s = x.size();
        // The second path sees the input shifted by one pixel; pad odd sizes to keep shapes equal.
        let shifted = x
            .narrow(2, 1, s[2] - 1)
            .narrow(3, 1, s[3] - 1)
            .constant_pad_nd([0, 1, 0, 1]);
        let y = Tensor::cat(&[self.a.forward(x), self.b.forward(&shifted)], 1);
        match scale {
            Some(s) => self.bn.forward_scaled(&y, train, s),
            None => self.bn.forward(&y, train),
        }
    }
}

impl Op for FactorizedReduce {
    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        if self.relu {
            self.reduce(&x.relu(), train, None)
        } else {
            self.reduce(x, train, None)
        }
    }
    fn leading_relu(&self) -> bool {
        self.relu
    }
    fn forward_after_relu(&self, xr: &Tensor, train: bool) -> Tensor {
        self.reduce(xr, train, None)
    }
    fn forward_scaled(
        &self,
        x: &Tensor,
        train: bool,
        s: &Tensor,
        after_relu: bool,
    ) -> Option<Tensor> {
        Some(if self.relu && !after_relu {
            self.reduce(&x.relu(), train, Some(s))
        } else {
            self.reduce(x, train, Some(s))
        })
    }
    fn op_name(&self) -> String {
        "IDT".into()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// Which pooling.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolKind {
    /// Average (padding excluded from the count, as DARTS does).
    Avg,
    /// Maximum.
    Max,
}

/// `k × k` pooling followed by batch norm.
#[derive(Debug)]
pub struct Pool {
    name: String,
    kind: PoolKind,
    k: i64,
    stride: i64,
    bn: Option<BatchNorm>,
}

impl Pool {
    /// A pooling primitive.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        p: &nn::Path,
        name: &str,
        kind: PoolKind,
        k: i64,
        stride: i64,
        c: i64,
        style: &OpStyle,
        with_bn: bool,
    ) -> Pool {
        Pool {
            name: name.to_string(),
            kind,
            k,
            stride,
            bn: with_bn.then(|| BatchNorm::new(&(p / "bn"), c, style.affine)),
        }
    }
}

impl Pool {
    fn pool(&self, x: &Tensor) -> Tensor {
        let pad = self.k / 2;
        match self.kind {
            PoolKind::Avg => x.avg_pool2d(
                [self.k, self.k],
                [self.stride, self.stride],
                [pad, pad],
                false,
                false,
                None::<i64>,
            ),
            PoolKind::Max => x.max_pool2d(
                [self.k, self.k],
                [self.stride, self.stride],
                [pad, pad],
                [1, 1],
                false,
            ),
        }
    }
}

impl Op for Pool {
    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        let y = self.pool(x);
        match &self.bn {
            Some(bn) => bn.forward(&y, train),
            None => y,
        }
    }
    fn forward_scaled(
        &self,
        x: &Tensor,
        train: bool,
        s: &Tensor,
        _after_relu: bool,
    ) -> Option<Tensor> {
        let bn = self.bn.as_ref()?;
        Some(bn.forward_scaled(&self.pool(x), train, s))
    }
    fn op_name(&self) -> String {
        self.name.clone()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

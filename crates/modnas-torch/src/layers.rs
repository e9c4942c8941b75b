//! Parametrised building blocks (convolution, batch norm, linear) initialised exactly as PyTorch
//! initialises its modules, so results match the literature and plain-PyTorch baselines.
//!
//! tch's own defaults differ (BatchNorm γ ~ U(0, 1), Kaiming-uniform with the ReLU gain); these
//! use PyTorch's: weights ~ U(±1/√fan_in) for convolutions and linear layers, γ = 1, β = 0.

use std::cell::Cell;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use tch::{Kind, Tensor, nn};

thread_local! {
    static CHANNELS_LAST: Cell<bool> = const { Cell::new(false) };
    static BN_MOMENTUM: Cell<Option<f64>> = const { Cell::new(None) };
}

/// Runs `f` with every batch norm's running-statistics momentum set to `momentum` (batch-norm
/// recalibration: momentum `1/(k+1)` on the `k`-th batch makes the running statistics the mean
/// over the batches seen).
pub fn with_bn_momentum<R>(momentum: f64, f: impl FnOnce() -> R) -> R {
    let before = BN_MOMENTUM.with(|c| c.replace(Some(momentum)));
    let r = f();
    BN_MOMENTUM.with(|c| c.set(before));
    r
}

/// Runs `f` with convolutions producing channels-last outputs (see [`Conv::forward`]).
pub fn with_channels_last<R>(on: bool, f: impl FnOnce() -> R) -> R {
    let before = CHANNELS_LAST.with(|c| c.replace(on));
    let r = f();
    CHANNELS_LAST.with(|c| c.set(before));
    r
}

/// The same NCHW tensor with NHWC strides.
pub fn to_channels_last(x: &Tensor) -> Tensor {
    x.permute([0, 2, 3, 1]).contiguous().permute([0, 3, 1, 2])
}

/// The number of active channels of an elastic feature map (elastic width, Once-for-All): layers
/// limited by it use only their first `n` channels on that side. Shared by every layer that
/// produces or consumes the feature map; `0` means all channels.
#[derive(Clone, Debug, Default)]
pub struct ChannelLimit(Arc<AtomicI64>);

impl ChannelLimit {
    /// A limit that keeps every channel.
    pub fn new() -> Self {
        Self::default()
    }

    /// Uses the first `n` channels (`0`: all).
    pub fn set(&self, n: i64) {
        self.0.store(n.max(0), Ordering::SeqCst);
    }

    /// The active channels out of `full`.
    pub fn of(&self, full: i64) -> i64 {
        match self.0.load(Ordering::SeqCst) {
            0 => full,
            n => n.min(full),
        }
    }
}

/// The first `limit.of(len)` entries of `t` along `dim` (a view: gradients and in-place updates
/// reach `t`).
fn narrowed(t: &Tensor, dim: i64, limit: Option<&ChannelLimit>) -> Tensor {
    match limit {
        Some(l) => {
            let full = t.size()[dim as usize];
            let n = l.of(full);
            if n == full {
                t.shallow_clone()
            } else {
                t.narrow(dim, 0, n)
            }
        }
        None => t.shallow_clone(),
    }
}

/// A 2-D convolution.
#[derive(Debug)]
pub struct Conv {
    /// Weight `[out, in/groups, kh, kw]`.
    pub weight: Tensor,
    /// Bias.
    pub bias: Option<Tensor>,
    /// Stride `(h, w)`.
    pub stride: [i64; 2],
    /// Padding `(h, w)`.
    pub padding: [i64; 2],
    /// Dilation.
    pub dilation: i64,
    /// Groups.
    pub groups: i64,
    /// Elastic output channels (see [`Conv::limit_out`]).
    pub out_limit: Option<ChannelLimit>,
    /// Elastic input channels (see [`Conv::limit_in`]).
    pub in_limit: Option<ChannelLimit>,
}

/// Options of [`Conv::new`].
#[derive(Clone, Copy, Debug)]
pub struct ConvOpts {
    /// Stride `(h, w)`.
    pub stride: [i64; 2],
    /// Padding `(h, w)`; `None`: "same" for odd kernels.
    pub padding: Option<[i64; 2]>,
    /// Dilation.
    pub dilation: i64,
    /// Groups (`in` for depthwise).
    pub groups: i64,
    /// With a bias.
    pub bias: bool,
}

impl Default for ConvOpts {
    fn default() -> Self {
        ConvOpts {
            stride: [1, 1],
            padding: None,
            dilation: 1,
            groups: 1,
            bias: false,
        }
    }
}

impl ConvOpts {
    /// Stride `s` in both directions.
    pub fn stride(s: i64) -> Self {
        ConvOpts {
            stride: [s, s],
            ..Default::default()
        }
    }
}

fn uniform(p: &nn::Path, name: &str, dims: &[i64], bound: f64) -> Tensor {
    p.var(
        name,
        dims,
        nn::Init::Uniform {
            lo: -bound,
            up: bound,
        },
    )
}

impl Conv {
    /// A convolution with kernel `(kh, kw)` from `cin` to `cout` channels.
    pub fn new(p: &nn::Path, cin: i64, cout: i64, kernel: [i64; 2], o: ConvOpts) -> Conv {
        let fan_in = (cin / o.groups) * kernel[0] * kernel[1];
        let bound = 1.0 / (fan_in as f64).sqrt();
        let weight = uniform(
            p,
            "weight",
            &[cout, cin / o.groups, kernel[0], kernel[1]],
            bound,
        );
        let bias = o.bias.then(|| uniform(p, "bias", &[cout], bound));
        let padding = o.padding.unwrap_or([
            o.dilation * (kernel[0] - 1) / 2,
            o.dilation * (kernel[1] - 1) / 2,
        ]);
        Conv {
            weight,
            bias,
            stride: o.stride,
            padding,
            dilation: o.dilation,
            groups: o.groups,
            out_limit: None,
            in_limit: None,
        }
    }

    /// Whether every group holds one input channel and one output channel (a depthwise
    /// convolution, whose channels are both its input and its output).
    pub fn is_depthwise(&self) -> bool {
        let s = self.weight.size();
        self.groups > 1 && s[0] == self.groups && s[1] == 1
    }

    /// Makes the output channels elastic: only the first `limit` are computed. A depthwise
    /// convolution then also reads only the first `limit` input channels.
    pub fn limit_out(&mut self, limit: &ChannelLimit) {
        self.out_limit = Some(limit.clone());
    }

    /// Makes the input channels elastic: the input holds only the first `limit` channels.
    /// Grouped convolutions other than depthwise ones cannot be limited this way.
    pub fn limit_in(&mut self, limit: &ChannelLimit) -> Result<(), String> {
        if self.is_depthwise() {
            self.out_limit = Some(limit.clone());
            return Ok(());
        }
        if self.groups != 1 {
            return Err(format!(
                "a convolution with {} groups cannot have elastic input channels",
                self.groups
            ));
        }
        self.in_limit = Some(limit.clone());
        Ok(())
    }

    /// The weight, bias and groups of the active channels.
    fn active(&self) -> (Tensor, Option<Tensor>, i64) {
        if self.out_limit.is_none() && self.in_limit.is_none() {
            return (
                self.weight.shallow_clone(),
                self.bias.as_ref().map(Tensor::shallow_clone),
                self.groups,
            );
        }
        let w = narrowed(&self.weight, 0, self.out_limit.as_ref());
        let b = self
            .bias
            .as_ref()
            .map(|b| narrowed(b, 0, self.out_limit.as_ref()));
        if self.is_depthwise() {
            let g = w.size()[0];
            return (w, b, g);
        }
        (narrowed(&w, 1, self.in_limit.as_ref()), b, self.groups)
    }

    /// A square `k × k` convolution.
    pub fn square(p: &nn::Path, cin: i64, cout: i64, k: i64, o: ConvOpts) -> Conv {
        Conv::new(p, cin, cout, [k, k], o)
    }

    /// Applies the convolution. Inside [`with_channels_last`], an output that is not yet in the
    /// channels-last layout (a one-channel input is ambiguous, so the stem's output is not) is
    /// converted, and the layers after it keep that layout.
    pub fn forward(&self, x: &Tensor) -> Tensor {
        let (weight, bias, groups) = self.active();
        let y = if self.is_strided_pointwise() {
            // A strided 1×1 convolution reads only every s-th pixel: it equals a stride-1
            // convolution of the subsampled input, exactly, in value and gradient. The strided
            // kernel is avoided because oneDNN's channels-last 1×1 stride-2 backward on AVX2
            // writes past its workspace when there are fewer input channels than its block
            // (heap corruption or wrong weight gradients; oneDNN issue 6035).
            let xs = x
                .slice(2, 0, None, self.stride[0])
                .slice(3, 0, None, self.stride[1]);
            xs.conv2d(&weight, bias.as_ref(), [1, 1], [0, 0], [1, 1], groups)
        } else {
            x.conv2d(
                &weight,
                bias.as_ref(),
                self.stride,
                self.padding,
                [self.dilation, self.dilation],
                groups,
            )
        };
        if crate::counter::counting() {
            let s = y.size();
            let nb = bias.as_ref().map_or(0, |b| b.numel() as i64);
            let w = weight.numel();
            crate::counter::add(w as i64 + nb, w as f64 * (s[2] * s[3]) as f64);
        }
        if CHANNELS_LAST.with(Cell::get) && y.dim() == 4 && y.size()[1] > 1 && y.stride()[1] != 1 {
            to_channels_last(&y)
        } else {
            y
        }
    }

    /// A 1×1 kernel without padding and with a stride above 1 (computed on the subsampled input).
    fn is_strided_pointwise(&self) -> bool {
        let s = self.weight.size();
        s.len() == 4
            && s[2] == 1
            && s[3] == 1
            && self.padding == [0, 0]
            && (self.stride[0] > 1 || self.stride[1] > 1)
    }

    /// Multiply-accumulate operations for an output of `out_hw` pixels per image.
    pub fn macs(&self, out_hw: i64) -> f64 {
        self.weight.numel() as f64 * out_hw as f64
    }
}

/// 2-D batch normalisation.
#[derive(Debug)]
pub struct BatchNorm {
    /// Scale γ (affine only).
    pub weight: Option<Tensor>,
    /// Shift β (affine only).
    pub bias: Option<Tensor>,
    /// Running mean.
    pub running_mean: Tensor,
    /// Running variance.
    pub running_var: Tensor,
    /// Running-statistics momentum (PyTorch's convention: 0.1).
    pub momentum: f64,
    /// ε.
    pub eps: f64,
    /// Elastic channels (see [`BatchNorm::limit`]).
    pub limit: Option<ChannelLimit>,
}

impl BatchNorm {
    /// Batch norm over `c` channels.
    pub fn new(p: &nn::Path, c: i64, affine: bool) -> BatchNorm {
        let weight = affine.then(|| p.var("weight", &[c], nn::Init::Const(1.0)));
        let bias = affine.then(|| p.var("bias", &[c], nn::Init::Const(0.0)));
        let running_mean = p.zeros_no_train("running_mean", &[c]);
        let running_var = p.ones_no_train("running_var", &[c]);
        BatchNorm {
            weight,
            bias,
            running_mean,
            running_var,
            momentum: 0.1,
            eps: 1e-5,
            limit: None,
        }
    }

    /// Normalises `x`; batch statistics (and running-statistics updates) when `train`.
    pub fn forward(&self, x: &Tensor, train: bool) -> Tensor {
        self.count();
        let [w, b, m, v] = self.active();
        x.batch_norm(
            w.as_ref(),
            b.as_ref(),
            m.as_ref(),
            v.as_ref(),
            train,
            self.momentum(),
            self.eps,
            false,
        )
    }

    /// `s · BN(x)` for a scalar tensor `s`, as one batch norm whose scale and shift are
    /// multiplied by `s`: the product then keeps no tensor of its own for the backward pass (the
    /// gradient of `s` comes from the batch norm's saved input).
    pub fn forward_scaled(&self, x: &Tensor, train: bool, s: &Tensor) -> Tensor {
        self.count();
        let c = x.size()[1];
        let [g, b, m, v] = self.active();
        let w = match &g {
            Some(g) => g * s,
            // A contiguous weight: the channels-last CPU kernel mishandles an expanded (stride 0) one.
            None => s.expand([c], false).contiguous(),
        };
        let b = b.as_ref().map(|b| b * s);
        x.batch_norm(
            Some(&w),
            b.as_ref(),
            m.as_ref(),
            v.as_ref(),
            train,
            self.momentum(),
            self.eps,
            false,
        )
    }
}

impl BatchNorm {
    /// Makes the channels elastic: only the first `limit` are normalised (scale, shift and running
    /// statistics of the others stay as they are).
    pub fn limit(&mut self, limit: &ChannelLimit) {
        self.limit = Some(limit.clone());
    }

    /// Scale, shift, running mean and running variance of the active channels.
    fn active(&self) -> [Option<Tensor>; 4] {
        let l = self.limit.as_ref();
        [
            self.weight.as_ref().map(|t| narrowed(t, 0, l)),
            self.bias.as_ref().map(|t| narrowed(t, 0, l)),
            Some(narrowed(&self.running_mean, 0, l)),
            Some(narrowed(&self.running_var, 0, l)),
        ]
    }

    fn momentum(&self) -> f64 {
        BN_MOMENTUM.with(Cell::get).unwrap_or(self.momentum)
    }

    fn count(&self) {
        if crate::counter::counting() {
            let c = self.running_mean.size()[0];
            let c = self.limit.as_ref().map_or(c, |l| l.of(c));
            let n = c * (self.weight.is_some() as i64 + self.bias.is_some() as i64);
            crate::counter::add(n, 0.0);
        }
    }
}

/// A fully-connected layer.
#[derive(Debug)]
pub struct Linear {
    /// Weight `[out, in]`.
    pub weight: Tensor,
    /// Bias `[out]`.
    pub bias: Tensor,
}

impl Linear {
    /// `cin → cout`.
    pub fn new(p: &nn::Path, cin: i64, cout: i64) -> Linear {
        let bound = 1.0 / (cin as f64).sqrt();
        Linear {
            weight: uniform(p, "weight", &[cout, cin], bound),
            bias: uniform(p, "bias", &[cout], bound),
        }
    }

    /// Applies the layer.
    pub fn forward(&self, x: &Tensor) -> Tensor {
        if crate::counter::counting() {
            let w = self.weight.numel();
            crate::counter::add((w + self.bias.numel()) as i64, w as f64);
        }
        x.linear(&self.weight, Some(&self.bias))
    }
}

/// Global average pooling to `[N, C]`.
pub fn global_avg_pool(x: &Tensor) -> Tensor {
    x.mean_dim(&[2i64, 3][..], false, x.kind())
}

/// A scalar `0` of the kind and device of `x`.
pub fn zero_like_scalar(x: &Tensor) -> Tensor {
    Tensor::zeros([], (x.kind(), x.device()))
}

/// Kind used for labels.
pub const LABEL_KIND: Kind = Kind::Int64;

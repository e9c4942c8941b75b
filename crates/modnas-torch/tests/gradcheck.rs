//! Architecture gradients checked against central finite differences, in double precision.

mod common;

use common::{assert_close, batch, finite_differences, flat, tiny_convnet};
use modnas_torch::grad::{ArchBatch, hypergradient};
use modnas_torch::mixed::{GateMode, MixControl, MixKind, MixedOp};
use modnas_torch::ops::{Op, OpStyle, build_primitive};
use modnas_torch::slot::SlotSpec;
use modnas_torch::train::{OptimSpec, Optimizer, loss};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use tch::{Device, Kind, Tensor, nn};

const CANDIDATES: &[&str] = &["NC1", "NC3", "SC3", "DC3", "MAX", "AVG", "IDT", "NIL"];

/// Sets α to spread-out values, so that the softmax is far from uniform.
fn spread_alphas(m: &modnas_torch::model::Model, seed: i64) {
    tch::manual_seed(seed);
    tch::no_grad(|| {
        for a in m.alphas() {
            a.shallow_clone()
                .copy_(&Tensor::randn(a.size(), (a.kind(), a.device())));
        }
    });
}

fn loss_value(m: &modnas_torch::model::Model, x: &Tensor, y: &Tensor) -> f64 {
    tch::no_grad(|| loss(&m.forward(x, true), y, 0.0).double_value(&[]))
}

fn autograd_alpha(m: &modnas_torch::model::Model, x: &Tensor, y: &Tensor) -> Vec<f64> {
    let l = loss(&m.forward(x, true), y, 0.0);
    flat(&Tensor::run_backward(&[l], &m.alphas(), false, false))
}

#[test]
fn softmax_sum_alpha_gradient_matches_finite_differences() {
    let _rng = common::rng_lock();
    let mut m = tiny_convnet(MixKind::SoftmaxSum, CANDIDATES, 3);
    m.to_double();
    spread_alphas(&m, 11);
    let (x, y) = batch(6, 5);
    let got = autograd_alpha(&m, &x, &y);
    let alphas = m.alphas();
    let want = finite_differences(&alphas, 1e-5, || loss_value(&m, &x, &y));
    assert!(
        want.iter().any(|g| g.abs() > 1e-4),
        "the check needs non-trivial gradients: {want:?}"
    );
    assert_close(&got, &want, 1e-5, "SoftmaxSum ∂L/∂α");
}

#[test]
fn gumbel_sum_alpha_gradient_matches_finite_differences_with_fixed_noise() {
    let _rng = common::rng_lock();
    let mut m = tiny_convnet(MixKind::GumbelSum, CANDIDATES, 4);
    m.to_double();
    spread_alphas(&m, 12);
    m.control.with(|s| {
        s.fixed_uniform = true;
        s.temperature = 0.7;
    });
    let (x, y) = batch(6, 6);
    let got = autograd_alpha(&m, &x, &y);
    let alphas = m.alphas();
    let want = finite_differences(&alphas, 1e-5, || loss_value(&m, &x, &y));
    assert!(want.iter().any(|g| g.abs() > 1e-4));
    assert_close(&got, &want, 1e-5, "GumbelSum ∂L/∂α");
    // The temperature matters: the same α at another temperature gives another gradient.
    m.control.with(|s| s.temperature = 3.0);
    let other = autograd_alpha(&m, &x, &y);
    let diff = other
        .iter()
        .zip(&got)
        .fold(0.0f64, |d, (a, b)| d.max((a - b).abs()));
    assert!(diff > 1e-6, "temperature had no effect");
}

/// ProxylessNAS's binary gates: the forward pass is the active path only, and α's gradient is
/// Σ_k ∂L/∂g_k · ∂p_k/∂α over the sampled paths, p the softmax of their α. ∂L/∂g_k = ⟨r, o_k⟩ for
/// L = ⟨r, y⟩, and the softmax part is taken by finite differences.
#[test]
fn binary_gate_gradient_matches_the_gate_formula() {
    let _rng = common::rng_lock();
    for kind in [MixKind::BinaryGate, MixKind::BinaryGateUniform] {
        let vs = nn::VarStore::new(Device::Cpu);
        let spec = SlotSpec {
            name: "s".into(),
            chn_in: 4,
            chn_out: 4,
            stride: 1,
            kwargs: BTreeMap::new(),
            share: None,
        };
        let names = ["NC1", "NC3", "SC3", "DC3", "MAX"];
        let cands: Vec<(String, Box<dyn Op>)> = names
            .iter()
            .map(|n| {
                let op = build_primitive(&(vs.root() / *n), n, &spec, &OpStyle::default())
                    .expect("primitive");
                (n.to_string(), op)
            })
            .collect();
        let alpha = vs
            .root()
            .var("alpha", &[names.len() as i64], nn::Init::Const(0.0));
        let control = MixControl::new(7);
        let op = MixedOp::new(
            kind,
            cands,
            Some(alpha.shallow_clone()),
            "s",
            Arc::new(AtomicUsize::new(0)),
            control.clone(),
        );
        let mut vs = vs;
        vs.double();
        tch::manual_seed(3);
        tch::no_grad(|| {
            alpha.shallow_clone().copy_(&Tensor::randn(
                [names.len() as i64],
                (Kind::Double, Device::Cpu),
            ));
        });
        let x = Tensor::randn([3, 4, 6, 6], (Kind::Double, Device::Cpu));
        let r = Tensor::randn([3, 4, 6, 6], (Kind::Double, Device::Cpu));
        control.with(|s| s.gate_mode = GateMode::ArchGrad(2));
        let y = op.forward_t(&x, true);
        let chosen = op.sampled();
        assert_eq!(chosen.len(), 2, "{kind:?}: two sampled paths");
        let l = (&y * &r).sum(Kind::Double);
        let got = flat(&Tensor::run_backward(
            &[l],
            &[alpha.shallow_clone()],
            false,
            false,
        ));
        // The candidates' outputs (train mode: batch statistics, the same on every call).
        let outs: Vec<Tensor> = tch::no_grad(|| {
            op.candidates()
                .iter()
                .map(|c| c.forward_t(&x, true))
                .collect()
        });
        let dl_dg: Vec<f64> = chosen
            .iter()
            .map(|&i| tch::no_grad(|| (&outs[i] * &r).sum(Kind::Double).double_value(&[])))
            .collect();
        // The forward value is exactly one of the sampled paths.
        let matches: Vec<usize> = chosen
            .iter()
            .copied()
            .filter(|&i| tch::no_grad(|| (&y - &outs[i]).abs().max().double_value(&[])) < 1e-12)
            .collect();
        assert_eq!(matches.len(), 1, "{kind:?}: the output is one active path");
        let idx = Tensor::from_slice(&chosen.iter().map(|&i| i as i64).collect::<Vec<_>>());
        let want = finite_differences(&[alpha.shallow_clone()], 1e-6, || {
            tch::no_grad(|| {
                let p = alpha.index_select(0, &idx).softmax(0, Kind::Double);
                (0..chosen.len())
                    .map(|k| p.double_value(&[k as i64]) * dl_dg[k])
                    .sum::<f64>()
            })
        });
        assert!(
            want.iter().any(|g| g.abs() > 1e-6),
            "{kind:?}: non-trivial gradient"
        );
        // Paths that were not sampled get no gradient.
        for (i, g) in got.iter().enumerate() {
            if !chosen.contains(&i) {
                assert_eq!(*g, 0.0, "{kind:?}: unsampled path {i} got a gradient");
            }
        }
        assert_close(&got, &want, 1e-6, &format!("{kind:?} ∂L/∂α"));
    }
}

/// DARTS's second-order hypergradient: d/dα L_val(w − ξ(m·v + ∇w L_train(w, α) + λw), α), the
/// whole function differentiated by finite differences, on twelve draws of network, α and data.
/// The Hessian-vector product inside `hypergradient` is itself a central difference of
/// gradients, which jump where a ReLU changes side: its radius must be small enough that no
/// pre-activation crosses zero (in double precision, 1e-6 of the vector's norm; 1e-4 crossed a
/// kink on draw 10, a 6× error).
#[test]
fn darts_second_order_matches_finite_differences_of_the_unrolled_loss() {
    let _rng = common::rng_lock();
    for k in 0..12 {
        darts_second_order_on_draw(k);
    }
}

fn darts_second_order_on_draw(k: i64) {
    let mut m = tiny_convnet(
        MixKind::SoftmaxSum,
        &["NC1", "NC3", "SC3", "AVG", "IDT"],
        8 + k as u64,
    );
    m.to_double();
    spread_alphas(&m, 13 + k);
    let (xt, yt) = batch(6, 21 + 3 * k);
    let (xv, yv) = batch(6, 22 + 3 * k);
    let mut w_opt = Optimizer::new(
        OptimSpec::Sgd {
            lr: 0.1,
            momentum: 0.9,
            nesterov: false,
            weight_decay: 3e-4,
        },
        m.weights(),
    );
    // One weight step, so that the momentum buffers exist and enter the virtual step.
    {
        w_opt.zero_grad();
        let l = loss(&m.forward(&xt, true), &yt, 0.0);
        l.backward();
        w_opt.step();
        w_opt.zero_grad();
    }
    let xi = 0.5;
    let b = ArchBatch {
        train: (&xt, &yt),
        valid: (&xv, &yv),
    };
    // A small radius for the inner Hessian-vector product: this tiny ReLU network has few weights,
    // so DARTS's radius (0.01 of the vector's norm) would cross kinks and blur the comparison.
    let got = flat(&hypergradient(&m, &b, &w_opt, 2, xi, 1e-6));
    let first = flat(&hypergradient(&m, &b, &w_opt, 1, xi, 1e-6));

    let w = m.weights();
    let (momentum, wd) = w_opt.momentum_and_decay();
    let bufs: Vec<Option<Tensor>> = (0..w.len())
        .map(|i| w_opt.momentum_buffer(i).map(|t| t.copy()))
        .collect();
    let unrolled = || -> f64 {
        let backup: Vec<Tensor> = tch::no_grad(|| w.iter().map(Tensor::copy).collect());
        let lt = loss(&m.forward(&xt, true), &yt, 0.0);
        let g = Tensor::run_backward(&[lt], &w, false, false);
        tch::no_grad(|| {
            for (i, (p, gi)) in w.iter().zip(&g).enumerate() {
                let mut d = gi + p * wd;
                if let Some(v) = &bufs[i] {
                    d += v * momentum;
                }
                let _ = p.shallow_clone().g_sub_(&(d * xi));
            }
        });
        let v = loss_value(&m, &xv, &yv);
        tch::no_grad(|| {
            for (p, b) in w.iter().zip(&backup) {
                p.shallow_clone().copy_(b);
            }
        });
        v
    };
    let alphas = m.alphas();
    let want = finite_differences(&alphas, 1e-5, unrolled);
    assert_close(
        &got,
        &want,
        2e-3,
        &format!("draw {k}: DARTS second-order ∂L_val/∂α"),
    );
    // The Hessian-vector term itself is well above the tolerance: the partial derivative
    // ∂α L_val(w′, α) at the virtual weights alone (the term dropped) is far from the answer.
    let partial = {
        let backup: Vec<Tensor> = tch::no_grad(|| w.iter().map(Tensor::copy).collect());
        let lt = loss(&m.forward(&xt, true), &yt, 0.0);
        let g = Tensor::run_backward(&[lt], &w, false, false);
        tch::no_grad(|| {
            for (i, (p, gi)) in w.iter().zip(&g).enumerate() {
                let mut d = gi + p * wd;
                if let Some(v) = &bufs[i] {
                    d += v * momentum;
                }
                let _ = p.shallow_clone().g_sub_(&(d * xi));
            }
        });
        let d = autograd_alpha(&m, &xv, &yv);
        tch::no_grad(|| {
            for (p, b) in w.iter().zip(&backup) {
                p.shallow_clone().copy_(b);
            }
        });
        d
    };
    let hvp_gap = partial
        .iter()
        .zip(&want)
        .fold(0.0f64, |d, (a, b)| d.max((a - b).abs()));
    let want_scale = want.iter().fold(0.0f64, |s, v| s.max(v.abs()));
    assert!(
        hvp_gap > 10.0 * 2e-3 * want_scale,
        "draw {k}: ∂α L_val(w′) already matches ({hvp_gap:.3e} vs {want_scale:.3e}): the test would not see a missing Hessian term"
    );
    // The second-order term is not negligible here, so the check can tell the orders apart.
    let gap = first
        .iter()
        .zip(&want)
        .fold(0.0f64, |d, (a, b)| d.max((a - b).abs()));
    let scale = want.iter().fold(0.0f64, |s, v| s.max(v.abs()));
    assert!(
        gap > 2e-2 * scale,
        "draw {k}: first order already matches ({gap:.3e} vs {scale:.3e}): the test would not see a wrong second-order term"
    );
}

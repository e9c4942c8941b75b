//! Parameters that the loss does not reach: the inner α of a layer candidate that was not sampled
//! (ProxylessNAS, REINFORCE), and weights that only an auxiliary head uses (DARTS second order).
//! Their gradients count as zero; sampling methods credit only the choices of the current pass.

mod common;

use common::backbone;
use modnas_core::config::{ComponentSpec, yaml::parse_str};
use modnas_torch::grad::{self, ArchBatch, ArchContext, ArchOptimizer, hypergradient};
use modnas_torch::mixed::MixKind;
use modnas_torch::model::{Conversion, Model, ModelOptions};
use modnas_torch::ops::OpStyle;
use modnas_torch::train::{TrainArgs, loss, weight_optimizer};
use tch::{Device, Kind, Tensor};

fn convnet(kind: MixKind, candidates: &[&str], seed: u64) -> Model {
    let bb = backbone(
        "{type: ConvNet, args: {chn_in: 1, image_size: 8, widths: [8, 8], blocks: 1, n_classes: 3}}",
    );
    Model::build(
        bb.as_ref(),
        &ModelOptions {
            conversion: Conversion::Mixed {
                kind,
                candidates: Some(candidates.iter().map(|s| s.to_string()).collect()),
            },
            style: OpStyle::default(),
            seed,
            device: Device::Cpu,
        },
    )
    .map(|mut m| {
        // NCHW: these checks are about gradients, not memory layouts.
        m.channels_last = false;
        m
    })
    .expect("model builds")
}

fn optimizer(yaml: &str, m: &Model, seed: u64) -> Box<dyn ArchOptimizer> {
    let spec = ComponentSpec::parse(&parse_str("t", yaml).expect("yaml"), "optim").expect("spec");
    grad::registry()
        .build(
            &spec,
            &ArchContext {
                alphas: m.alphas(),
                seed,
            },
        )
        .expect("optimizer builds")
}

fn float_batch(n: i64, seed: i64) -> (Tensor, Tensor) {
    tch::manual_seed(seed);
    (
        Tensor::randn([n, 1, 8, 8], (Kind::Float, Device::Cpu)),
        Tensor::randint(3, [n], (Kind::Int64, Device::Cpu)),
    )
}

/// Outer slots with their α, and the α of every inner slot with its parent slot's name.
struct Layout {
    outer: Vec<(String, Tensor)>,
    inner: Vec<(String, String, Tensor)>,
}

fn layout(m: &Model) -> Layout {
    let mut l = Layout {
        outer: Vec::new(),
        inner: Vec::new(),
    };
    m.visit_mixed(|s, op| {
        let Some(a) = op.alpha() else { return };
        match s.spec().kwargs.get("parent").and_then(|p| p.as_str()) {
            Some(p) => l
                .inner
                .push((s.name().to_string(), p.to_string(), a.shallow_clone())),
            None => l.outer.push((s.name().to_string(), a.shallow_clone())),
        }
    });
    l
}

/// The candidate names the outer slot `name` used in the last forward pass.
fn sampled_names(m: &Model, name: &str) -> Vec<String> {
    let mut out = Vec::new();
    m.visit_mixed(|s, op| {
        if s.name() == name {
            out = op
                .sampled()
                .iter()
                .map(|&i| op.names()[i].clone())
                .collect();
        }
    });
    out
}

fn values(t: &Tensor) -> Vec<f64> {
    Vec::try_from(t.detach().to_kind(Kind::Double)).expect("f64")
}

/// Runs `steps` architecture steps of `method` on a ConvNet whose candidates include a two-slot
/// chain; after each step, an inner α may have moved only if its parent used the chain.
/// Returns how many (step, inner α) pairs moved. With `check_parent` off (several forward passes
/// per step), only that nothing panics and α stays finite.
fn inner_alphas_move_only_with_their_parent(
    method: &str,
    seeds: u64,
    steps: usize,
    check_parent: bool,
) -> usize {
    let mut moved = 0;
    for seed in 0..seeds {
        let mut m = convnet(MixKind::BinaryGate, &["NC3", "SC3", "CHAIN2"], seed);
        let lay = layout(&m);
        assert!(!lay.inner.is_empty(), "the chain creates inner slots");
        let mut o = optimizer(method, &m, seed);
        let train = TrainArgs::default();
        let w = weight_optimizer(&m, &train);
        for step in 0..steps {
            let (x, y) = float_batch(6, (seed * 100 + step as u64) as i64);
            let (xv, yv) = float_batch(6, (seed * 100 + step as u64 + 50) as i64);
            let before: Vec<Vec<f64>> = lay.inner.iter().map(|(_, _, a)| values(a)).collect();
            o.step(
                &mut m,
                &ArchBatch {
                    train: (&x, &y),
                    valid: (&xv, &yv),
                },
                &w,
                &train,
            )
            .unwrap_or_else(|e| panic!("{method}, seed {seed}, step {step}: {e}"));
            for ((name, parent, a), b) in lay.inner.iter().zip(&before) {
                let now = values(a);
                assert!(now.iter().all(|v| v.is_finite()), "{name}: {now:?}");
                if check_parent && now != *b {
                    moved += 1;
                    let used = sampled_names(&m, parent);
                    assert!(
                        used.iter().any(|n| n == "CHAIN2"),
                        "{method}, seed {seed}, step {step}: α of `{name}` moved ({b:?} → {now:?}) \
                         although `{parent}` used {used:?}"
                    );
                }
            }
            for (name, a) in &lay.outer {
                assert!(values(a).iter().all(|v| v.is_finite()), "{name}");
            }
        }
    }
    moved
}

#[test]
fn proxylessnas_with_a_layer_candidate_treats_unreached_inner_alphas_as_zero() {
    let _rng = common::rng_lock();
    for method in ["ProxylessNAS-G", "ProxylessNAS-GU"] {
        let moved = inner_alphas_move_only_with_their_parent(method, 20, 3, true);
        assert!(moved > 0, "{method}: no inner α ever moved");
    }
}

#[test]
fn reinforce_with_a_layer_candidate_credits_only_the_current_pass() {
    let _rng = common::rng_lock();
    // One sampled path per step, so that the parent's choice after the step is the one rewarded.
    let moved = inner_alphas_move_only_with_their_parent(
        "{type: REINFORCE, args: {batch_size: 1}}",
        20,
        4,
        true,
    );
    assert!(moved > 0, "REINFORCE: no inner α ever moved");
    // The default batch of ten paths per step runs as well.
    inner_alphas_move_only_with_their_parent("REINFORCE", 3, 2, false);
}

fn darts_aux() -> Model {
    let bb = backbone(
        "{type: DARTS, args: {chn_in: 1, chn: 8, layers: 3, nodes: 2, image_size: 8, n_classes: 3, auxiliary: true}}",
    );
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
    .map(|mut m| {
        // NCHW: these checks are about gradients, not memory layouts.
        m.channels_last = false;
        m
    })
    .expect("model builds")
}

#[test]
fn darts_second_order_with_an_auxiliary_head_runs() {
    let _rng = common::rng_lock();
    let mut m = darts_aux();
    let train = TrainArgs::default();
    let mut w = weight_optimizer(&m, &train);
    let (x, y) = float_batch(4, 1);
    let (xv, yv) = float_batch(4, 2);
    // A weight step first (main loss only: the head's weights get no gradient and no momentum).
    w.zero_grad();
    loss(&m.forward(&x, true), &y, 0.0).backward();
    let _ = m.net.take_aux();
    w.step();
    let b = ArchBatch {
        train: (&x, &y),
        valid: (&xv, &yv),
    };
    let g = hypergradient(&m, &b, &w, 2, 0.025, 0.01);
    assert_eq!(g.len(), m.alphas().len());
    for t in &g {
        assert!(t.defined());
        assert!(values(t).iter().all(|v| v.is_finite()));
    }
    let mut o = optimizer("{type: DARTS, args: {order: 2}}", &m, 0);
    let before = common::flat(&m.alphas());
    for _ in 0..2 {
        o.step(&mut m, &b, &w, &train).expect("step");
    }
    let after = common::flat(&m.alphas());
    assert!(after.iter().all(|v| v.is_finite()));
    assert_ne!(before, after, "α moved");
}

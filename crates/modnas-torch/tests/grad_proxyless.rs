//! ProxylessNAS: the rescaling after an architecture step keeps the probability of every candidate
//! that no operator sampled, also when several operators share one α; `-GU` activates one of the
//! two sampled paths uniformly.

mod common;

use common::backbone;
use modnas_core::config::{ComponentSpec, yaml::parse_str};
use modnas_torch::grad::{self, ArchBatch, ArchContext};
use modnas_torch::mixed::{GateMode, MixControl, MixKind, MixedOp};
use modnas_torch::model::{Conversion, Model, ModelOptions};
use modnas_torch::ops::{Op, OpStyle, build_primitive};
use modnas_torch::slot::SlotSpec;
use modnas_torch::train::{TrainArgs, weight_optimizer};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use tch::{Device, Kind, Tensor, nn};

fn softmax(a: &Tensor) -> Vec<f64> {
    Vec::try_from(a.detach().softmax(0, Kind::Double)).expect("f64")
}

/// Every α of the model with the union of the candidates its operators sampled in the last pass.
fn sampled_unions(m: &Model) -> Vec<(Tensor, BTreeSet<usize>, usize)> {
    let mut out: Vec<(Tensor, BTreeSet<usize>, usize)> = Vec::new();
    m.visit_mixed(|_, op| {
        let Some(a) = op.alpha() else { return };
        let s = op.sampled();
        match out
            .iter_mut()
            .find(|(b, _, _)| b.data_ptr() == a.data_ptr())
        {
            Some((_, u, users)) => {
                u.extend(s);
                *users += 1;
            }
            None => out.push((a.shallow_clone(), s.into_iter().collect(), 1)),
        }
    });
    out
}

#[test]
fn rescaling_keeps_unsampled_probabilities_with_shared_alphas() {
    let _rng = common::rng_lock();
    let bb = backbone(
        "{type: DARTS, args: {chn_in: 1, chn: 8, layers: 4, nodes: 2, image_size: 8, n_classes: 3}}",
    );
    let mut m = Model::build(
        bb.as_ref(),
        &ModelOptions {
            conversion: Conversion::Mixed {
                kind: MixKind::BinaryGate,
                candidates: None,
            },
            style: OpStyle::default(),
            seed: 5,
            device: Device::Cpu,
        },
    )
    .expect("model builds");
    m.to_double();
    m.channels_last = false;
    let spec = ComponentSpec::parse(&parse_str("t", "ProxylessNAS-G").expect("yaml"), "optim")
        .expect("spec");
    let mut o = grad::registry()
        .build(
            &spec,
            &ArchContext {
                alphas: m.alphas(),
                seed: 5,
            },
        )
        .expect("optimizer");
    let train = TrainArgs::default();
    let w = weight_optimizer(&m, &train);
    let mut differing_pairs = 0;
    for step in 0..6 {
        tch::manual_seed(100 + step);
        let x = Tensor::randn([4, 1, 8, 8], (Kind::Double, Device::Cpu));
        let y = Tensor::randint(3, [4], (Kind::Int64, Device::Cpu));
        let before: Vec<(i64, Vec<f64>)> = m
            .alphas()
            .iter()
            .map(|a| (a.data_ptr() as i64, softmax(a)))
            .collect();
        o.step(
            &mut m,
            &ArchBatch {
                train: (&x, &y),
                valid: (&x, &y),
            },
            &w,
            &train,
        )
        .expect("step");
        let unions = sampled_unions(&m);
        let mut moved = false;
        for (a, u, users) in &unions {
            assert!(users >= &2, "the DARTS backbone shares every α");
            if u.len() > 2 {
                differing_pairs += 1;
            }
            let p0 = &before
                .iter()
                .find(|(ptr, _)| *ptr == a.data_ptr() as i64)
                .expect("α known")
                .1;
            let p1 = softmax(a);
            let outside = |p: &[f64]| {
                (0..p.len())
                    .filter(|i| !u.contains(i))
                    .map(|i| p[i])
                    .sum::<f64>()
            };
            assert!(
                (outside(p0) - outside(&p1)).abs() < 1e-6,
                "step {step}: probability outside the sampled {u:?} went from {} to {}",
                outside(p0),
                outside(&p1)
            );
            moved |= p0 != &p1;
        }
        assert!(moved, "step {step}: no α moved");
    }
    assert!(
        differing_pairs > 0,
        "the operators sharing an α always drew the same pair: the check saw no shared case"
    );
}

#[test]
fn gu_activates_either_sampled_path_uniformly() {
    let _rng = common::rng_lock();
    let vs = nn::VarStore::new(Device::Cpu);
    let spec = SlotSpec {
        name: "s".into(),
        chn_in: 4,
        chn_out: 4,
        stride: 1,
        kwargs: BTreeMap::new(),
        share: None,
    };
    let names = ["NC1", "MAX", "AVG", "IDT"];
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
    // Strongly in favour of the first candidate.
    tch::no_grad(|| {
        let _ = alpha.get(0).fill_(6.0);
    });
    let control = MixControl::new(11);
    let op = MixedOp::new(
        MixKind::BinaryGateUniform,
        cands,
        Some(alpha.shallow_clone()),
        "s",
        Arc::new(AtomicUsize::new(0)),
        control.clone(),
    );
    tch::manual_seed(4);
    let x = Tensor::randn([2, 4, 5, 5], (Kind::Float, Device::Cpu));
    let outs: Vec<Tensor> = tch::no_grad(|| {
        op.candidates()
            .iter()
            .map(|c| c.forward_t(&x, true))
            .collect()
    });
    control.with(|s| s.gate_mode = GateMode::ArchGrad(2));
    // Per pair position: how often the first-drawn and the second-drawn path was active.
    let (mut first, mut with_favourite, mut favourite_active) = (0usize, 0usize, 0usize);
    let n = 2000;
    for _ in 0..n {
        let y = tch::no_grad(|| op.forward_t(&x, true));
        let pair = op.sampled();
        assert_eq!(pair.len(), 2);
        let active: Vec<usize> = pair
            .iter()
            .copied()
            .filter(|&i| tch::no_grad(|| (&y - &outs[i]).abs().max().double_value(&[])) < 1e-5)
            .collect();
        assert_eq!(active.len(), 1, "one active path ({pair:?})");
        if active[0] == pair[0] {
            first += 1;
        }
        if pair.contains(&0) {
            with_favourite += 1;
            if active[0] == 0 {
                favourite_active += 1;
            }
        }
    }
    let share = favourite_active as f64 / with_favourite.max(1) as f64;
    assert!(
        with_favourite > 500,
        "the favoured candidate is in {with_favourite} pairs of {n}: pairs are drawn uniformly"
    );
    assert!(
        (share - 0.5).abs() < 0.06,
        "the favoured candidate was active in {favourite_active} of its {with_favourite} pairs \
         ({share:.3}); uniform activation gives about half"
    );
    let f = first as f64 / n as f64;
    assert!((f - 0.5).abs() < 0.05, "first of the pair active {f:.3}");
}

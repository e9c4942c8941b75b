//! Every gradient method on a space with shared α (the DARTS cells) and on a hierarchical space
//! (layer candidates whose slots are searched too): architecture steps alternating with weight
//! steps, no panic, α finite and moving.

mod common;

use common::backbone;
use modnas_core::config::{ComponentSpec, yaml::parse_str};
use modnas_torch::backbones::Backbone;
use modnas_torch::grad::{self, ArchBatch, ArchContext};
use modnas_torch::model::{Conversion, Model, ModelOptions};
use modnas_torch::ops::OpStyle;
use modnas_torch::train::{TrainArgs, train_step, weight_optimizer};
use tch::{Device, Kind, Tensor};

const METHODS: &[&str] = &[
    "{type: DARTS, args: {order: 1}}",
    "{type: DARTS, args: {order: 2}}",
    "DirectGrad",
    "DirectGradBiLevel",
    "SNAS",
    "ProxylessNAS-G",
    "ProxylessNAS-GU",
    "REINFORCE",
];

fn run(method: &str, bb: &dyn Backbone, candidates: Option<&[&str]>, steps: usize) {
    let spec = ComponentSpec::parse(&parse_str("t", method).expect("yaml"), "optim").expect("spec");
    let kind = grad::preferred_mixed_op(&spec.name).expect("a mixed-operator kind");
    let mut m = Model::build(
        bb,
        &ModelOptions {
            conversion: Conversion::Mixed {
                kind,
                candidates: candidates.map(|c| c.iter().map(|s| s.to_string()).collect()),
            },
            style: OpStyle::default(),
            seed: 1,
            device: Device::Cpu,
        },
    )
    .expect("model builds");
    m.channels_last = false;
    let mut o = grad::registry()
        .build(
            &spec,
            &ArchContext {
                alphas: m.alphas(),
                seed: 1,
            },
        )
        .expect("optimizer builds");
    let train = TrainArgs::default();
    let mut w = weight_optimizer(&m, &train);
    let before = common::flat(&m.alphas());
    o.begin_epoch(&m, 0, 2);
    for step in 0..steps {
        tch::manual_seed(step as i64);
        let x = Tensor::randn([4, 1, 8, 8], (Kind::Float, Device::Cpu));
        let y = Tensor::randint(3, [4], (Kind::Int64, Device::Cpu));
        let xv = Tensor::randn([4, 1, 8, 8], (Kind::Float, Device::Cpu));
        let yv = Tensor::randint(3, [4], (Kind::Int64, Device::Cpu));
        o.step(
            &mut m,
            &ArchBatch {
                train: (&x, &y),
                valid: (&xv, &yv),
            },
            &w,
            &train,
        )
        .unwrap_or_else(|e| panic!("{method}, step {step}: {e}"));
        o.before_weight_step(&m);
        let (l, _) = grad::without_alpha_grads(&m, || train_step(&m, &mut w, &train, &x, &y));
        assert!(l.is_finite(), "{method}: weight loss {l}");
        let a = common::flat(&m.alphas());
        assert!(
            a.iter().all(|v| v.is_finite()),
            "{method}, step {step}: {a:?}"
        );
    }
    let after = common::flat(&m.alphas());
    assert_ne!(before, after, "{method}: α did not move");
}

#[test]
fn every_method_on_shared_alphas() {
    let _rng = common::rng_lock();
    let bb = backbone(
        "{type: DARTS, args: {chn_in: 1, chn: 8, layers: 3, nodes: 2, image_size: 8, n_classes: 3}}",
    );
    // Three cells: the two reduction cells share their α. The zero op is among the candidates.
    for method in METHODS {
        run(method, bb.as_ref(), Some(&["SC3", "MAX", "IDT", "NIL"]), 2);
    }
}

#[test]
fn every_method_on_a_hierarchical_space() {
    let _rng = common::rng_lock();
    let bb = backbone(
        "{type: ConvNet, args: {chn_in: 1, image_size: 8, widths: [8, 8], blocks: 1, n_classes: 3}}",
    );
    for method in METHODS {
        run(
            method,
            bb.as_ref(),
            Some(&["NC3", "SC3", "CHAIN2", "MULTI2X1"]),
            3,
        );
    }
}

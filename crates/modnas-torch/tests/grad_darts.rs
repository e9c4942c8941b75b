//! DARTS: second order by default (the paper's bi-level setting), `DirectGradBiLevel` for first
//! order, and a Hessian-vector product that stays a derivative when the forward pass is random
//! (drop-path in the search cells).

mod common;

use common::{backbone, flat};
use modnas_core::config::{ComponentSpec, yaml::parse_str};
use modnas_torch::grad::{self, ArchBatch, ArchContext, ArchOptimizer, DartsArgs, hypergradient};
use modnas_torch::mixed::MixKind;
use modnas_torch::model::{Conversion, Model, ModelOptions};
use modnas_torch::ops::OpStyle;
use modnas_torch::train::{OptimSpec, Optimizer, TrainArgs, weight_optimizer};
use tch::{Device, Kind, Tensor};

/// libtorch's random generator is global: the tests of this file run one at a time, so that
/// seeded initialisations are not interleaved with another test's draws.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

fn optimizer(yaml: &str, m: &Model) -> Box<dyn ArchOptimizer> {
    let spec = ComponentSpec::parse(&parse_str("t", yaml).expect("yaml"), "optim").expect("spec");
    grad::registry()
        .build(
            &spec,
            &ArchContext {
                alphas: m.alphas(),
                seed: 0,
            },
        )
        .expect("optimizer builds")
}

#[test]
fn darts_is_second_order_by_default_and_says_so() {
    let _rng = common::rng_lock();
    let _serial = serial();
    assert_eq!(DartsArgs::default().order, 2);
    let reg = grad::registry();
    let e = reg
        .entries()
        .iter()
        .find(|e| e.name == "DARTS")
        .expect("DARTS registered");
    assert!(
        e.summary.contains("second order by default"),
        "the description states the default: {}",
        e.summary
    );
    let order = e
        .args()
        .into_iter()
        .find(|a| a.name == "order")
        .expect("an `order` argument");
    assert_eq!(order.default, serde_json::json!(2));
}

/// `DirectGradBiLevel` is bi-level first order: the same update as `{type: DARTS, args: {order: 1}}`.
#[test]
fn direct_grad_bi_level_is_first_order_darts() {
    let _rng = common::rng_lock();
    let _serial = serial();
    let make = || common::tiny_convnet(MixKind::SoftmaxSum, &["NC1", "NC3", "AVG"], 4);
    let (mut a, mut b) = (make(), make());
    let (mut oa, mut ob) = (
        optimizer("DirectGradBiLevel", &a),
        optimizer("{type: DARTS, args: {order: 1}}", &b),
    );
    assert_eq!(
        grad::preferred_mixed_op("DirectGradBiLevel"),
        Some(MixKind::SoftmaxSum)
    );
    let train = TrainArgs::default();
    let (wa, wb) = (weight_optimizer(&a, &train), weight_optimizer(&b, &train));
    tch::manual_seed(1);
    let (x, y) = (
        Tensor::randn([4, 1, 8, 8], (Kind::Float, Device::Cpu)),
        Tensor::randint(3, [4], (Kind::Int64, Device::Cpu)),
    );
    let (xv, yv) = (
        Tensor::randn([4, 1, 8, 8], (Kind::Float, Device::Cpu)),
        Tensor::randint(3, [4], (Kind::Int64, Device::Cpu)),
    );
    let batch = ArchBatch {
        train: (&x, &y),
        valid: (&xv, &yv),
    };
    for _ in 0..3 {
        oa.step(&mut a, &batch, &wa, &train).expect("step");
        ob.step(&mut b, &batch, &wb, &train).expect("step");
    }
    assert_eq!(flat(&a.alphas()), flat(&b.alphas()));
    assert_ne!(
        flat(&a.alphas()),
        flat(&make().alphas()),
        "α moved from its initial values"
    );
}

/// With drop-path on, the two evaluations of the central difference must see the same masks:
/// then the Hessian-vector product converges as its radius shrinks; with independent masks it
/// grows like 1/radius.
#[test]
fn second_order_hvp_uses_the_same_random_masks_on_both_sides() {
    let _rng = common::rng_lock();
    let _serial = serial();
    let bb = backbone(
        "{type: DARTS, args: {chn_in: 1, chn: 8, layers: 2, nodes: 2, image_size: 8, n_classes: 3}}",
    );
    let mut m = Model::build(
        bb.as_ref(),
        &ModelOptions {
            conversion: Conversion::Mixed {
                kind: MixKind::SoftmaxSum,
                candidates: Some(vec!["NC1".into(), "SC3".into(), "AVG".into(), "IDT".into()]),
            },
            style: OpStyle::default(),
            seed: 2,
            device: Device::Cpu,
        },
    )
    .expect("model builds");
    m.to_double();
    m.channels_last = false;
    tch::manual_seed(3);
    tch::no_grad(|| {
        for a in m.alphas() {
            a.shallow_clone()
                .copy_(&Tensor::randn(a.size(), (a.kind(), a.device())));
        }
    });
    let (xt, yt) = common::batch(6, 31);
    let (xv, yv) = common::batch(6, 32);
    let w = Optimizer::new(
        OptimSpec::Sgd {
            lr: 0.1,
            momentum: 0.0,
            nesterov: false,
            weight_decay: 0.0,
        },
        m.weights(),
    );
    m.drop_path.set(0.5);
    let b = ArchBatch {
        train: (&xt, &yt),
        valid: (&xv, &yv),
    };
    let at = |radius: f64| {
        tch::manual_seed(77);
        flat(&hypergradient(&m, &b, &w, 2, 0.5, radius))
    };
    let (g1, g2) = (at(1e-4), at(1e-5));
    // The first-order part (∇α L_val at w′) is the same in both calls: compare the second-order terms.
    let scale = g1.iter().fold(0.0f64, |s, v| s.max(v.abs()));
    let err = g1
        .iter()
        .zip(&g2)
        .fold(0.0f64, |d, (a, b)| d.max((a - b).abs()));
    assert!(
        err < 1e-2 * scale,
        "the hypergradient depends on the difference radius ({err:.3e} vs {scale:.3e}):\n{g1:?}\n{g2:?}"
    );
}

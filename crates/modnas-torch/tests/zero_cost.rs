//! Zero-cost proxies on the NAS-Bench-201 network: SynFlow against its definition (finite
//! differences of R = Σ f(1) of the sign-free network), a closed form, sign invariance.

mod common;

use common::backbone;
use modnas_torch::backbones::{NB201_EDGES, nb201_edge_name};
use modnas_torch::candidates::proxies::{Proxy, gradient_scores, synflow};
use modnas_torch::model::{ArchDesc, Conversion, Model, ModelOptions};
use modnas_torch::ops::OpStyle;
use tch::{Device, Kind, Tensor};

const SMALL: &str = "{type: NB201, args: {chn: 2, cells: 1, image_size: 8, n_classes: 3}}";

fn desc(ops: [&str; 6]) -> ArchDesc {
    let mut d = ArchDesc::new();
    for ((to, from), op) in NB201_EDGES.iter().zip(ops) {
        d.insert(nb201_edge_name(*to, *from), op.into());
    }
    d
}

fn build(ops: [&str; 6], seed: u64) -> Model {
    Model::build(
        backbone(SMALL).as_ref(),
        &ModelOptions {
            conversion: Conversion::Fixed(desc(ops)),
            style: OpStyle::default(),
            seed,
            device: Device::Cpu,
        },
    )
    .expect("an NB201 architecture builds")
}

const MIXED: [&str; 6] = ["NC3", "IDT", "NC1", "AVG", "NIL", "NC3"];

/// R = Σ f(1) of the network with |θ|, in double precision and evaluation mode.
fn r_value(m: &Model) -> f64 {
    let [c, h, w] = m.input_shape;
    tch::no_grad(|| {
        m.forward(
            &Tensor::ones([1, c, h, w], (Kind::Double, Device::Cpu)),
            false,
        )
        .sum(Kind::Double)
        .double_value(&[])
    })
}

#[test]
fn synflow_is_the_sum_of_weight_times_finite_difference_of_r() {
    let _rng = common::rng_lock();
    let got = synflow(build(MIXED, 3)).expect("score");
    let mut m = build(MIXED, 3);
    m.to_double();
    tch::no_grad(|| {
        for w in m.weights() {
            let _ = w.shallow_clone().abs_();
        }
    });
    // Σ |θ_i · ∂R/∂θ_i|, every derivative by a central difference.
    let mut want = 0.0;
    for w in m.weights() {
        let flat = w.view([-1]);
        for i in 0..flat.numel() as i64 {
            let orig = tch::no_grad(|| flat.get(i).double_value(&[]));
            let h = 1e-6 * orig.abs().max(1e-3);
            let set = |v: f64| {
                tch::no_grad(|| {
                    let _ = flat.get(i).fill_(v);
                })
            };
            set(orig + h);
            let plus = r_value(&m);
            set(orig - h);
            let minus = r_value(&m);
            set(orig);
            want += (orig * (plus - minus) / (2.0 * h)).abs();
        }
    }
    assert!(want > 0.0);
    assert!(
        (got - want.ln()).abs() < 1e-6,
        "synflow {got} (ln), finite differences give ln {want} = {}",
        want.ln()
    );
}

#[test]
fn a_cell_of_zero_edges_leaves_only_the_classifier_bias() {
    let _rng = common::rng_lock();
    // Every cell outputs zero, so the logits are the classifier's bias b: R = Σ|b| and only b
    // has a gradient (1), so the score is Σ|b|.
    let m = build(["NIL"; 6], 5);
    let bias: f64 =
        m.vs.variables()
            .iter()
            .filter(|(k, _)| k.contains("classifier") && k.ends_with("bias"))
            .map(|(_, t)| t.abs().sum(Kind::Double).double_value(&[]))
            .sum();
    assert!(bias > 0.0, "the classifier has a bias");
    let got = synflow(m).expect("score");
    assert!(
        (got - bias.ln()).abs() < 1e-9,
        "{got} vs ln Σ|b| = {}",
        bias.ln()
    );
    // Connected architectures score far higher.
    let conv = synflow(build(["NC3"; 6], 5)).expect("score");
    assert!(conv > got + 1.0, "all-conv {conv} vs all-zero {got}");
}

#[test]
fn synflow_ignores_the_signs_of_weights_and_gradient_scores_are_finite() {
    let _rng = common::rng_lock();
    let a = synflow(build(MIXED, 7)).expect("score");
    let m = build(MIXED, 7);
    tch::no_grad(|| {
        for w in m.weights() {
            let _ = w.shallow_clone().neg_();
        }
    });
    let b = synflow(m).expect("score");
    assert!((a - b).abs() < 1e-9, "{a} vs {b} after flipping signs");

    let m = build(MIXED, 7);
    tch::manual_seed(1);
    let x = Tensor::randn([4, 3, 8, 8], (Kind::Float, Device::Cpu));
    let y = Tensor::from_slice(&[0i64, 1, 2, 0]);
    let s = gradient_scores(&m, &x, &y, &[Proxy::GradNorm, Proxy::Snip]).expect("scores");
    assert_eq!(s.len(), 2);
    for (p, v) in s {
        assert!(v.is_finite() && v > 0.0, "{p:?} = {v}");
    }
}

//! Elastic groups on MobileNetV2-Elastic: re-ranking keeps the network's function; a narrow,
//! shallow subnet of the supernet equals the stand-alone network built from its description with
//! the supernet's weights copied in (outputs, parameters and MACs); gradients reach only the
//! active channels; bad descriptions get clear errors.

mod common;

use common::backbone;
use modnas_core::param::{Assignment, ParamValue};
use modnas_torch::backbones::Backbone;
use modnas_torch::elastic::inherit;
use modnas_torch::metrics::count;
use modnas_torch::mixed::MixKind;
use modnas_torch::model::{Conversion, Model, ModelOptions};
use modnas_torch::ops::OpStyle;
use tch::{Device, Kind, Tensor};

static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

const NET: &str = "{type: MobileNetV2-Elastic, args: {chn_in: 1, image_size: 16, n_classes: 5, cifar: true, width_mult: 0.25, last_channels: 24, dropout: 0.0}}";

fn build(bb: &dyn Backbone, conversion: Conversion, seed: u64) -> Result<Model, String> {
    Model::build(
        bb,
        &ModelOptions {
            conversion,
            style: OpStyle::default(),
            seed,
            device: Device::Cpu,
        },
    )
    .map_err(|e| e.to_string())
}

fn supernet(bb: &dyn Backbone, seed: u64) -> Model {
    let m = build(
        bb,
        Conversion::Mixed {
            kind: MixKind::Index,
            candidates: None,
        },
        seed,
    )
    .expect("the supernet builds");
    // Batch-norm statistics and scales that are not the identity, so that every channel's
    // place matters in evaluation mode.
    tch::no_grad(|| {
        for (name, t) in m.vs.variables() {
            let s = t.size();
            let r = if name.ends_with("running_var") {
                Tensor::rand(&s[..], (Kind::Float, Device::Cpu)) + 0.5
            } else if name.ends_with("running_mean") || name.ends_with("bias") {
                Tensor::randn(&s[..], (Kind::Float, Device::Cpu)) * 0.1
            } else if name.ends_with("bn.weight") {
                Tensor::rand(&s[..], (Kind::Float, Device::Cpu)) + 0.5
            } else {
                continue;
            };
            t.shallow_clone().copy_(&r);
        }
    });
    m
}

fn max_rel(a: &Tensor, b: &Tensor) -> f64 {
    let d = (a - b).abs().max().double_value(&[]);
    d / b.abs().max().double_value(&[]).max(1e-12)
}

fn input(seed: i64) -> Tensor {
    tch::manual_seed(seed);
    Tensor::randn([4, 1, 16, 16], (Kind::Float, Device::Cpu))
}

/// An assignment with the given choice index for every parameter, by name prefix rule.
fn choose(m: &Model, f: impl Fn(&str, usize) -> usize) -> Assignment {
    Assignment(
        m.space
            .params()
            .iter()
            .map(|p| ParamValue::Choice(f(&p.name, p.domain.cardinality().unwrap_or(1) as usize)))
            .collect(),
    )
}

#[test]
fn the_space_has_a_depth_per_stage_and_an_expansion_per_block() {
    let _rng = common::rng_lock();
    let _g = serial();
    let bb = backbone(NET);
    let m = supernet(bb.as_ref(), 1);
    let names: Vec<&str> = m.space.params().iter().map(|p| p.name.as_str()).collect();
    // Six searched stages of four blocks: 6 depths and 24 expansions; the first block is fixed.
    assert_eq!(names.iter().filter(|n| n.ends_with(".depth")).count(), 6);
    assert_eq!(
        names.iter().filter(|n| n.ends_with(".expansion")).count(),
        24
    );
    assert!(names.contains(&"stage1.depth") && names.contains(&"stage6-block3.expansion"));
    assert!(!names.iter().any(|n| n.starts_with("stage0")));
}

#[test]
fn reranking_channels_keeps_the_function() {
    let _rng = common::rng_lock();
    let _g = serial();
    let bb = backbone(NET);
    let mut m = supernet(bb.as_ref(), 2);
    let full = choose(&m, |_, n| n - 1);
    m.apply(&full).expect("applies");
    let x = input(3);
    let before = tch::no_grad(|| m.forward(&x, false));
    let moved = m.elastic.rerank();
    assert!(moved > 0, "random weights are not already sorted");
    let after = tch::no_grad(|| m.forward(&x, false));
    let d = max_rel(&after, &before);
    assert!(d < 1e-5, "re-ranking changed the outputs by {d:e}");
    // A second rerank finds everything in order.
    assert_eq!(m.elastic.rerank(), 0);
}

fn narrow_choice(name: &str, n: usize) -> usize {
    // Depths: stages alternate between 1 and 3 blocks; expansions: cycle through 1, 3, 6.
    let digit = name
        .chars()
        .filter(char::is_ascii_digit)
        .map(|c| c as usize - '0' as usize)
        .sum::<usize>();
    if name.ends_with(".depth") {
        if digit % 2 == 0 { 0 } else { 2.min(n - 1) }
    } else {
        digit % n
    }
}

#[test]
fn a_subnet_equals_the_standalone_network_of_its_description() {
    let _rng = common::rng_lock();
    let _g = serial();
    let bb = backbone(NET);
    let mut sup = supernet(bb.as_ref(), 4);
    sup.elastic.rerank();
    let a = choose(&sup, narrow_choice);
    sup.apply(&a).expect("applies");
    let desc = sup.space.to_json(&a);
    let alone = build(bb.as_ref(), Conversion::Fixed(desc), 5).expect("stand-alone builds");
    assert!(
        alone.space.is_empty(),
        "a fixed network has nothing to search"
    );
    let r = inherit(&alone.vs, &sup.vs.variables()).expect("inherits");
    assert!(r.sliced > 0 && r.whole > 0, "{r:?}");
    let (cs, _) = tch::no_grad(|| count(&sup, [1, 16, 16]));
    let (ca, _) = tch::no_grad(|| count(&alone, [1, 16, 16]));
    assert_eq!(cs.params, ca.params, "parameters of the subnet");
    assert_eq!(cs.macs, ca.macs, "MACs of the subnet");
    assert!(
        (alone.n_params() as f64) < 0.8 * sup.n_params() as f64,
        "the stand-alone network is smaller"
    );
    let x = input(6);
    for train in [false, true] {
        let ys = tch::no_grad(|| sup.forward(&x, train));
        let ya = tch::no_grad(|| alone.forward(&x, train));
        let d = max_rel(&ya, &ys);
        assert!(d < 1e-5, "train={train}: outputs differ by {d:e}");
    }
    // The narrow subnet computes something else than the full network.
    sup.apply(&choose(&sup, |_, n| n - 1)).expect("applies");
    let yf = tch::no_grad(|| sup.forward(&x, false));
    let ya = tch::no_grad(|| alone.forward(&x, false));
    assert!(max_rel(&ya, &yf) > 1e-3);
}

#[test]
fn gradients_reach_only_the_active_channels() {
    let _rng = common::rng_lock();
    let _g = serial();
    let bb = backbone(NET);
    let mut m = supernet(bb.as_ref(), 7);
    m.apply(&choose(&m, |name, _| {
        usize::from(name.ends_with(".depth")) * 3
    }))
    .expect("applies");
    let out = m.forward(&input(8), true);
    out.sum(None).backward();
    let vars = m.vs.variables();
    // stage1-block0: expansion 1 of 6 → 1/6 of the hidden channels active.
    let w = &vars["net.stage1-block0.expand.weight"];
    let g = w.grad();
    let c = w.size()[0];
    let active = c / 6;
    let live = g.narrow(0, 0, active).abs().sum(None).double_value(&[]);
    let dead = g
        .narrow(0, active, c - active)
        .abs()
        .sum(None)
        .double_value(&[]);
    assert!(live > 0.0, "the active channels get gradients");
    assert_eq!(dead, 0.0, "the inactive channels get none");
}

#[test]
fn descriptions_that_do_not_fit_get_clear_errors() {
    let _rng = common::rng_lock();
    let _g = serial();
    let bb = backbone(NET);
    let sup = supernet(bb.as_ref(), 9);
    let mut desc = sup.space.to_json(&choose(&sup, |_, _| 0));
    desc.insert("stage2-block1.expansion".into(), serde_json::json!(4));
    let e = build(bb.as_ref(), Conversion::Fixed(desc.clone()), 1).expect_err("4 is not a ratio");
    assert!(
        e.contains("stage2-block1.expansion") && e.contains("1, 3, 6"),
        "{e}"
    );
    desc.remove("stage2-block1.expansion");
    let e = build(bb.as_ref(), Conversion::Fixed(desc.clone()), 1).expect_err("missing entry");
    assert!(
        e.contains("no entry") && e.contains("stage2-block1.expansion"),
        "{e}"
    );
    desc.insert("stage2-block1.expansion".into(), serde_json::json!(3));
    desc.insert("stage9.depth".into(), serde_json::json!(2));
    let e = build(bb.as_ref(), Conversion::Fixed(desc), 1).expect_err("unknown entry");
    assert!(e.contains("stage9.depth"), "{e}");
}

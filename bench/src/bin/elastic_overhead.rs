//! Elastic overhead: a narrow, shallow subnet of the MobileNetV2-Elastic supernet (its widths and
//! depths set by elastic groups: sliced convolution and batch-norm weights, skipped blocks)
//! against the same network built stand-alone from the subnet's description (only its own
//! weights, copied from the supernet), one training step each (forward, cross-entropy, backward,
//! SGD with momentum), same shapes, batch and threads.
//!
//! ```text
//! cargo run --release -p modnas-benchmarks --bin elastic_overhead [-- --rounds 10 --steps 5 --batch 64 --threads 2]
//! ```
//!
//! Three subnets: the largest, a middle one (expansion 3, two blocks per stage) and the smallest
//! (expansion 1, one block per stage). Rounds alternate the implementations; ratios are of the
//! median round times. Before timing, the outputs of both are compared (they must be equal).

use modnas_benchmarks::int_arg;
use modnas_core::config::ComponentSpec;
use modnas_core::config::yaml::parse_str;
use modnas_core::param::{Assignment, ParamValue};
use modnas_torch::backbones::{BackboneContext, registry};
use modnas_torch::elastic::inherit;
use modnas_torch::mixed::MixKind;
use modnas_torch::model::{Conversion, Model, ModelOptions};
use modnas_torch::ops::OpStyle;
use modnas_torch::train::{OptimSpec, Schedule, TrainArgs, train_step, weight_optimizer};
use std::time::Instant;
use tch::{Device, Kind, Tensor};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rounds = int_arg(&args, "--rounds", 10);
    let steps = int_arg(&args, "--steps", 5);
    let batch = int_arg(&args, "--batch", 64);
    let threads = int_arg(&args, "--threads", 2);
    tch::set_num_threads(threads as i32);
    tch::set_num_interop_threads(1);

    let cfg = "model: {type: MobileNetV2-Elastic, args: {chn_in: 1, image_size: 28, n_classes: 10, cifar: true, width_mult: 0.35, last_channels: 256, dropout: 0.0}}";
    let root = parse_str("bench", cfg).expect("valid model");
    let spec = ComponentSpec::parse(root.get("model").expect("model"), "model").expect("spec");
    let backbone = registry()
        .build(&spec, &BackboneContext)
        .expect("MobileNetV2-Elastic");
    let options = |conversion| ModelOptions {
        conversion,
        style: OpStyle::default(),
        seed: 0,
        device: Device::Cpu,
    };
    let train = TrainArgs {
        optimizer: OptimSpec::Sgd {
            lr: 0.01,
            momentum: 0.9,
            nesterov: false,
            weight_decay: 4e-5,
        },
        lr_scheduler: Schedule::Constant,
        grad_clip: None,
        ..TrainArgs::default()
    };
    tch::manual_seed(1);
    let x = Tensor::randn([batch, 1, 28, 28], (Kind::Float, Device::Cpu));
    let y = Tensor::randint(10, [batch], (Kind::Int64, Device::Cpu));
    println!(
        "MobileNetV2-Elastic (width 0.35, 28 px), batch {batch}, {threads} threads; ms per training step, medians of {rounds} rounds of {steps} steps"
    );
    println!("| subnet | params | elastic subnet ms | stand-alone ms | ratio |");
    println!("|---|---|---|---|---|");
    // (name, expansion choice index, depth choice index) of [1, 3, 6] and [1, 2, 3, 4].
    for (name, e, d) in [
        ("largest (e6, d4)", 2, 3),
        ("middle (e3, d2)", 1, 1),
        ("smallest (e1, d1)", 0, 0),
    ] {
        let mut sup = Model::build(
            backbone.as_ref(),
            &options(Conversion::Mixed {
                kind: MixKind::Index,
                candidates: None,
            }),
        )
        .expect("supernet");
        let a = Assignment(
            sup.space
                .params()
                .iter()
                .map(|p| ParamValue::Choice(if p.name.ends_with(".depth") { d } else { e }))
                .collect(),
        );
        sup.apply(&a).expect("applies");
        let alone = Model::build(
            backbone.as_ref(),
            &options(Conversion::Fixed(sup.space.to_json(&a))),
        )
        .expect("stand-alone");
        inherit(&alone.vs, &sup.vs.variables()).expect("inherits");
        let diff = tch::no_grad(|| {
            (sup.forward(&x, false) - alone.forward(&x, false))
                .abs()
                .max()
                .double_value(&[])
        });
        assert!(diff < 1e-4, "{name}: outputs differ by {diff}");
        let mut ws = weight_optimizer(&sup, &train);
        let mut wa = weight_optimizer(&alone, &train);
        // Warm-up.
        let _ = train_step(&sup, &mut ws, &train, &x, &y);
        let _ = train_step(&alone, &mut wa, &train, &x, &y);
        let (mut ts, mut ta) = (Vec::new(), Vec::new());
        for _ in 0..rounds {
            let t = Instant::now();
            for _ in 0..steps {
                let _ = train_step(&sup, &mut ws, &train, &x, &y);
            }
            ts.push(t.elapsed().as_secs_f64() * 1e3 / steps as f64);
            let t = Instant::now();
            for _ in 0..steps {
                let _ = train_step(&alone, &mut wa, &train, &x, &y);
            }
            ta.push(t.elapsed().as_secs_f64() * 1e3 / steps as f64);
        }
        let (ms, ma) = (median(ts), median(ta));
        println!(
            "| {name} | {} | {ms:.2} | {ma:.2} | **{:.3}** |",
            alone.n_params(),
            ms / ma
        );
    }
}

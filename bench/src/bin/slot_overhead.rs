//! Framework overhead: a network built from slots and an architecture description against the
//! same network written by hand with `tch::nn`, one training step each (forward, cross-entropy,
//! backward, SGD with momentum), same shapes, batch and threads.
//!
//! ```text
//! cargo run --release -p modnas-benchmarks --bin slot_overhead [-- --rounds 12 --steps 10 --batch 64 --threads 2]
//! ```
//!
//! The network is the `ConvNet` backbone (3×3 stem, stages of widths 16/32/64 with two blocks
//! each, the first of a stage strided, global pooling, classifier) with every slot set to `NC3`
//! (ReLU → 3×3 conv → batch norm). Rounds alternate the implementations; ratios are of the
//! median round times. modnas runs in the plain (NCHW) layout here, like the hand-written network,
//! and once more in its default channels-last layout; the slot-built network is also stepped by
//! tch's own SGD, which separates the network's overhead from the optimizer's.

use modnas_benchmarks::int_arg;
use modnas_core::config::ComponentSpec;
use modnas_core::config::yaml::parse_str;
use modnas_torch::backbones::{BackboneContext, registry};
use modnas_torch::model::{ArchDesc, Conversion, Model, ModelOptions};
use modnas_torch::ops::OpStyle;
use modnas_torch::train::{OptimSpec, Schedule, TrainArgs, train_step, weight_optimizer};
use std::time::Instant;
use tch::nn::{self, ModuleT, OptimizerConfig};
use tch::{Device, Kind, Tensor};

const WIDTHS: [i64; 3] = [16, 32, 64];

/// The same network by hand.
#[derive(Debug)]
struct Hand {
    stem: nn::Conv2D,
    stem_bn: nn::BatchNorm,
    blocks: Vec<(nn::Conv2D, nn::BatchNorm)>,
    fc: nn::Linear,
}

impl Hand {
    fn new(p: &nn::Path) -> Hand {
        let conv = |p: nn::Path, cin, cout, stride| {
            nn::conv2d(
                p,
                cin,
                cout,
                3,
                nn::ConvConfig {
                    stride,
                    padding: 1,
                    bias: false,
                    ..Default::default()
                },
            )
        };
        let mut blocks = Vec::new();
        let mut cin = WIDTHS[0];
        for (s, &w) in WIDTHS.iter().enumerate() {
            for b in 0..2 {
                let stride = if b == 0 && s > 0 { 2 } else { 1 };
                blocks.push((
                    conv(p / format!("conv{s}{b}"), cin, w, stride),
                    nn::batch_norm2d(p / format!("bn{s}{b}"), w, Default::default()),
                ));
                cin = w;
            }
        }
        Hand {
            stem: conv(p / "stem", 1, WIDTHS[0], 1),
            stem_bn: nn::batch_norm2d(p / "stem_bn", WIDTHS[0], Default::default()),
            blocks,
            fc: nn::linear(p / "fc", cin, 10, Default::default()),
        }
    }
}

impl ModuleT for Hand {
    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        let mut h = x.apply(&self.stem).apply_t(&self.stem_bn, train).relu();
        for (c, bn) in &self.blocks {
            h = h.relu().apply(c).apply_t(bn, train);
        }
        h.mean_dim(&[2i64, 3][..], false, Kind::Float)
            .apply(&self.fc)
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rounds = int_arg(&args, "--rounds", 12);
    let steps = int_arg(&args, "--steps", 10);
    let batch = int_arg(&args, "--batch", 64);
    let threads = int_arg(&args, "--threads", 2);
    tch::set_num_threads(threads as i32);
    tch::set_num_interop_threads(1);

    let cfg = "model: {type: ConvNet, args: {chn_in: 1, image_size: 28, n_classes: 10, widths: [16, 32, 64], blocks: 2}}";
    let root = parse_str("bench", cfg).expect("valid model");
    let spec = ComponentSpec::parse(root.get("model").expect("model"), "model").expect("spec");
    let backbone = registry().build(&spec, &BackboneContext).expect("ConvNet");
    let mut desc = ArchDesc::new();
    for s in 0..3 {
        for b in 0..2 {
            desc.insert(format!("stage{s}-block{b}"), serde_json::json!("NC3"));
        }
    }
    let build = |channels_last: bool| {
        let mut m = Model::build(
            backbone.as_ref(),
            &ModelOptions {
                conversion: Conversion::Fixed(desc.clone()),
                style: OpStyle::default(),
                seed: 0,
                device: Device::Cpu,
            },
        )
        .expect("model");
        m.channels_last = channels_last;
        m
    };
    let train = TrainArgs {
        optimizer: OptimSpec::Sgd {
            lr: 0.01,
            momentum: 0.9,
            nesterov: false,
            weight_decay: 3e-4,
        },
        lr_scheduler: Schedule::Constant,
        grad_clip: None,
        ..TrainArgs::default()
    };
    let ours = build(false);
    let ours_cl = build(true);
    let mut w = weight_optimizer(&ours, &train);
    let mut w_cl = weight_optimizer(&ours_cl, &train);
    let vs = nn::VarStore::new(Device::Cpu);
    let hand = Hand::new(&vs.root());
    let mut sgd = nn::Sgd {
        momentum: 0.9,
        dampening: 0.0,
        wd: 3e-4,
        nesterov: false,
    }
    .build(&vs, 0.01)
    .expect("optimizer");
    assert_eq!(
        ours.n_params(),
        vs.trainable_variables()
            .iter()
            .map(|t| t.numel() as i64)
            .sum::<i64>(),
        "the same network"
    );

    tch::manual_seed(0);
    let x = Tensor::randn([batch, 1, 28, 28], (Kind::Float, Device::Cpu));
    let y = Tensor::randint(10, [batch], (Kind::Int64, Device::Cpu));
    // The slot-built network stepped by tch's own (C++) SGD: the network alone, without modnas's
    // optimizer (which keeps its state in Rust for checkpoints and DARTS's virtual step).
    let mut tsgd = nn::Sgd {
        momentum: 0.9,
        dampening: 0.0,
        wd: 3e-4,
        nesterov: false,
    }
    .build(&ours.vs, 0.01)
    .expect("optimizer");
    let run_ours = |m: &Model, w: &mut modnas_torch::train::Optimizer| {
        let t = Instant::now();
        for _ in 0..steps {
            let _ = train_step(m, w, &train, &x, &y);
        }
        t.elapsed().as_secs_f64()
    };
    let mut run_net = || {
        let t = Instant::now();
        for _ in 0..steps {
            let loss = ours.forward(&x, true).cross_entropy_for_logits(&y);
            tsgd.backward_step(&loss);
            let _ = loss.double_value(&[]);
        }
        t.elapsed().as_secs_f64()
    };
    let mut run_hand = || {
        let t = Instant::now();
        for _ in 0..steps {
            let loss = hand.forward_t(&x, true).cross_entropy_for_logits(&y);
            sgd.backward_step(&loss);
            let _ = loss.double_value(&[]);
        }
        t.elapsed().as_secs_f64()
    };
    // Warm-up.
    run_ours(&ours, &mut w);
    run_ours(&ours_cl, &mut w_cl);
    run_net();
    run_hand();
    let (mut a, mut b, mut c, mut d) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        a.push(run_ours(&ours, &mut w));
        b.push(run_hand());
        c.push(run_ours(&ours_cl, &mut w_cl));
        d.push(run_net());
    }
    let per = |v: Vec<f64>| 1000.0 * median(v) / steps as f64;
    let (ours_ms, hand_ms, cl_ms, net_ms) = (per(a), per(b), per(c), per(d));
    println!(
        "{}",
        serde_json::json!({"hand_ms_per_step": hand_ms, "modnas_ms_per_step": ours_ms, "modnas_net_tch_sgd_ms_per_step": net_ms,
            "modnas_channels_last_ms_per_step": cl_ms, "ratio": ours_ms / hand_ms, "ratio_net_only": net_ms / hand_ms,
            "ratio_channels_last": cl_ms / hand_ms, "batch": batch, "threads": threads, "weights": ours.n_params()})
    );
    println!(
        "slot-built ConvNet (6 NC3 slots, {} weights, batch {batch}, 1x28x28, {threads} threads), median ms per training step:",
        ours.n_params()
    );
    println!("  hand-written tch network + tch SGD          {hand_ms:6.2}");
    println!(
        "  modnas network + tch SGD                    {net_ms:6.2}  ratio {:.3}",
        net_ms / hand_ms
    );
    println!(
        "  modnas network + modnas SGD (train_step)    {ours_ms:6.2}  ratio {:.3}",
        ours_ms / hand_ms
    );
    println!(
        "  the same in modnas's default channels-last  {cl_ms:6.2}  ratio {:.3}",
        cl_ms / hand_ms
    );
}

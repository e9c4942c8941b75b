//! Times DARTS supernet steps (one architecture step on a validation batch, then one weight step on
//! a training batch) of the DARTS cell network built from slots, and measures the peak memory
//! they add to the process. `bench/darts_step.py` runs the same supernet in plain PyTorch and then this program
//! with the same settings, and prints the ratios.
//!
//! ```text
//! darts_step [--chn 16] [--layers 5] [--nodes 4] [--batch 64] [--size 28] [--chn-in 1]
//!            [--steps 20] [--warmup 3] [--threads 2] [--order 1]
//!            [--contiguous] [--with-zero] [--no-shared-relu] [--no-fold]
//! ```
//! Prints one JSON line: `{"ms_per_step": …, "peak_mb": …, …}`.

use modnas_benchmarks::int_arg;
use modnas_core::config::ComponentSpec;
use modnas_core::config::yaml::parse_str;
use modnas_torch::backbones::{BackboneContext, registry};
use modnas_torch::grad::{self, ArchBatch, ArchContext};
use modnas_torch::mixed::MixKind;
use modnas_torch::model::{Conversion, Model, ModelOptions};
use modnas_torch::ops::OpStyle;
use modnas_torch::train::{TrainArgs, train_step, weight_optimizer};
use std::time::Instant;
use tch::{Device, Kind, Tensor};

/// Resident set size and its peak, in MiB, from /proc/self/status.
fn rss_mb() -> (f64, f64) {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |k: &str| {
        s.lines()
            .find(|l| l.starts_with(k))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
            / 1024.0
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let chn = int_arg(&args, "--chn", 16);
    let layers = int_arg(&args, "--layers", 5);
    let nodes = int_arg(&args, "--nodes", 4);
    let batch = int_arg(&args, "--batch", 64);
    let size = int_arg(&args, "--size", 28);
    let chn_in = int_arg(&args, "--chn-in", 1);
    let steps = int_arg(&args, "--steps", 20);
    let warmup = int_arg(&args, "--warmup", 3);
    let threads = int_arg(&args, "--threads", 2);
    let order = int_arg(&args, "--order", 1);
    tch::set_num_threads(threads as i32);
    tch::set_num_interop_threads(1);

    let cfg = format!(
        "model: {{type: DARTS, args: {{chn_in: {chn_in}, chn: {chn}, layers: {layers}, nodes: {nodes}, image_size: {size}}}}}"
    );
    let root = parse_str("bench", &cfg).expect("valid model");
    let spec = ComponentSpec::parse(root.get("model").expect("model"), "model").expect("spec");
    let backbone = registry()
        .build(&spec, &BackboneContext)
        .expect("DARTS backbone");
    let mut model = Model::build(
        backbone.as_ref(),
        &ModelOptions {
            conversion: Conversion::Mixed {
                kind: MixKind::SoftmaxSum,
                candidates: None,
            },
            // DARTS searches with batch norms without scale and shift.
            style: OpStyle {
                affine: false,
                ..OpStyle::default()
            },
            seed: 0,
            device: Device::Cpu,
        },
    )
    .expect("supernet");
    // Switches that undo one optimisation each, to measure what it gives.
    let off = |flag: &str| args.iter().any(|a| a == flag);
    if off("--contiguous") {
        model.channels_last = false;
    }
    model.control.with(|s| {
        s.sum.skip_zero = !off("--with-zero");
        s.sum.share_relu = !off("--no-shared-relu");
        s.sum.fold_weight = !off("--no-fold");
    });
    let train = TrainArgs::default();
    let mut weights = weight_optimizer(&model, &train);
    let optim_node = parse_str(
        "bench",
        &format!("{{type: DARTS, args: {{order: {order}}}}}"),
    )
    .expect("optimizer spec");
    let optim_spec = ComponentSpec::parse(&optim_node, "optim").expect("optimizer spec");
    let mut optim = grad::registry()
        .build(
            &optim_spec,
            &ArchContext {
                alphas: model.alphas(),
                seed: 0,
            },
        )
        .expect("DARTS optimizer");

    tch::manual_seed(1);
    let shape = [batch, chn_in, size, size];
    let xs: Vec<(Tensor, Tensor)> = (0..4)
        .map(|_| {
            (
                Tensor::randn(shape, (Kind::Float, Device::Cpu)),
                Tensor::randint(10, [batch], (Kind::Int64, Device::Cpu)),
            )
        })
        .collect();
    let mut step = |i: i64| {
        let (x, y) = &xs[(2 * i as usize) % 4];
        let (xv, yv) = &xs[(2 * i as usize + 1) % 4];
        optim
            .step(
                &mut model,
                &ArchBatch {
                    train: (x, y),
                    valid: (xv, yv),
                },
                &weights,
                &train,
            )
            .expect("architecture step");
        let (l, _) =
            grad::without_alpha_grads(&model, || train_step(&model, &mut weights, &train, x, y));
        l
    };
    // The peak covers the steps: the resident set once the network and batches exist is the base.
    let (rss_before, _) = rss_mb();
    for i in 0..warmup {
        step(i);
    }
    let start = Instant::now();
    let mut last = 0.0;
    for i in 0..steps {
        last = step(warmup + i);
    }
    let secs = start.elapsed().as_secs_f64();
    let (_, peak) = rss_mb();
    println!(
        "{}",
        serde_json::json!({
            "impl": "modnas",
            "ms_per_step": 1000.0 * secs / steps as f64,
            "peak_mb": peak - rss_before,
            "rss_before_mb": rss_before,
            "loss": last,
            "weights": model.n_params(),
            "alphas": model.alphas().iter().map(|a| a.numel()).sum::<usize>(),
            "threads": threads,
        })
    );
}

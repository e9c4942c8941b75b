//! BOHB against TPE and random search (both with the Hyperband pruner) on a multi-fidelity
//! Hartmann-6 (`bench/bohb_side_by_side.py` runs Optuna's TPE with its Hyperband pruner on the
//! same function, evaluated by `serve`, and prints all four).
//!
//! ```text
//! cargo run --release -p modnas-optim --example bohb_multi_fidelity -- run \
//!     --optim BOHB --seeds 30 --budget 1080
//! cargo run --release -p modnas-optim --example bohb_multi_fidelity -- serve
//! ```
//!
//! A trial runs up to `S = 27` steps. At step `s` it reports
//! `f(x, s) = H6(x) + r·2·mean_i (x_i − 0.2)² + r·0.3·ε`, `r = 1 − s/S`, `ε` a standard normal
//! drawn from (search seed, trial, step): low budgets are biased towards `x = 0.2` and noisy;
//! the full budget is the noiseless Hartmann-6 (minimum −3.32237). Trials run one after the other
//! and stop when the pruner says so; a search ends once it has spent `--budget` steps in all.
//! The figure of a search is the best full-budget value (smaller is better).
//!
//! `run` prints one JSON line per seed. `serve` reads lines `seed trial step x1 … x6` and
//! answers each with `f(x, step)`.

use modnas_bench::synthetic::{Function, Synthetic, SyntheticArgs};
use modnas_core::config::{ComponentSpec, yaml::parse_str};
use modnas_core::estimator::Estimator;
use modnas_core::optimizer::{OptimContext, Optimizer};
use modnas_core::param::{Assignment, ParamSpace, ParamValue};
use modnas_core::prune::{Decision, Hyperband, HyperbandArgs, Pruner, Report};
use modnas_core::seed::{derive_seed, rng_from_seed};
use modnas_core::trial::Observation;
use modnas_optim::support::gaussian;
use std::io::{BufRead, Write};
use std::sync::Arc;

/// Steps of a full trial.
const FULL: u64 = 27;

fn value(h6: &Synthetic, x: &[f64], seed: u64, trial: u64, step: u64) -> f64 {
    let a = Assignment(x.iter().map(|&v| ParamValue::Float(v)).collect());
    let r = 1.0 - step.min(FULL) as f64 / FULL as f64;
    let bias = 2.0 * x.iter().map(|v| (v - 0.2).powi(2)).sum::<f64>() / x.len() as f64;
    let mut rng = rng_from_seed(derive_seed(seed, "noise", trial * 1000 + step));
    h6.value(&a) + r * bias + r * 0.3 * gaussian(&mut rng)
}

fn floats(a: &Assignment) -> Vec<f64> {
    a.values()
        .iter()
        .map(|v| match v {
            ParamValue::Float(x) => *x,
            _ => f64::NAN,
        })
        .collect()
}

fn build(spec: &str, space: &Arc<ParamSpace>, seed: u64) -> Result<Box<dyn Optimizer>, String> {
    let n = parse_str("bench", &format!("optim: {spec}")).map_err(|e| e.to_string())?;
    let spec = ComponentSpec::parse(n.get("optim").ok_or("no optim")?, "optim")
        .map_err(|e| e.to_string())?;
    modnas_optim::registry()
        .build(
            &spec,
            &OptimContext {
                space: space.clone(),
                seed,
            },
        )
        .map_err(|e| e.to_string())
}

/// One search: the best full-budget value, the trials and the full-budget trials.
fn search(h6: &Synthetic, spec: &str, seed: u64, budget: u64) -> Result<(f64, u64, u64), String> {
    let space = Arc::new(h6.space().ok_or("no space")?);
    let mut opt = build(spec, &space, derive_seed(seed, "optim", 0))?;
    // BOHB brings its own Hyperband; the others get the same one.
    let mut pruner: Box<dyn Pruner> = match opt.companion_pruner() {
        Some(p) => p,
        None => Box::new(Hyperband::new(&HyperbandArgs {
            eta: 3.0,
            min_resource: 1,
            max_resource: Some(FULL),
            multi_objective: false,
        })),
    };
    let (mut spent, mut trial, mut full) = (0u64, 0u64, 0u64);
    let mut best = f64::INFINITY;
    while spent < budget {
        let Some(a) = opt.next(1).map_err(|e| e.to_string())?.pop() else {
            break;
        };
        let x = floats(&a);
        let mut steps = Vec::new();
        for s in 1..=FULL {
            let v = value(h6, &x, seed, trial, s);
            spent += 1;
            steps.push((s, -v));
            if s == FULL {
                full += 1;
                best = best.min(v);
            }
            let d = pruner.report(&Report {
                trial,
                step: s,
                scores: &[-v],
                value: v,
            });
            if d == Decision::Prune || spent >= budget {
                break;
            }
        }
        let obs = Observation {
            number: trial,
            score: steps.last().map(|(_, v)| *v),
            params: a,
            steps,
            ..Default::default()
        };
        opt.step(&[obs]).map_err(|e| e.to_string())?;
        trial += 1;
    }
    Ok((best, trial, full))
}

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().collect();
    let h6 = Synthetic::new(SyntheticArgs {
        function: Function::Hartmann6,
        ..Default::default()
    });
    match args.get(1).map(String::as_str) {
        Some("run") => {
            let spec = arg(&args, "--optim").ok_or("--optim SPEC")?;
            let seeds: u64 = arg(&args, "--seeds")
                .unwrap_or("30".into())
                .parse()
                .map_err(|e| format!("--seeds: {e}"))?;
            let budget: u64 = arg(&args, "--budget")
                .unwrap_or("1080".into())
                .parse()
                .map_err(|e| format!("--budget: {e}"))?;
            for seed in 0..seeds {
                let (best, trials, full) = search(&h6, &spec, seed, budget)?;
                println!(
                    "{}",
                    serde_json::json!({"seed": seed, "best": best, "trials": trials, "full": full})
                );
            }
            Ok(())
        }
        Some("serve") => {
            let stdin = std::io::stdin();
            let mut out = std::io::stdout().lock();
            for line in stdin.lock().lines() {
                let line = line.map_err(|e| e.to_string())?;
                let f: Vec<f64> = line
                    .split_whitespace()
                    .map(|t| t.parse::<f64>().map_err(|e| format!("`{t}`: {e}")))
                    .collect::<Result<_, _>>()?;
                if f.len() != 9 {
                    return Err(format!("expected `seed trial step x1 … x6`, got `{line}`"));
                }
                let v = value(&h6, &f[3..], f[0] as u64, f[1] as u64, f[2] as u64);
                writeln!(out, "{v}").map_err(|e| e.to_string())?;
                out.flush().map_err(|e| e.to_string())?;
            }
            Ok(())
        }
        _ => Err(
            "usage: bohb_multi_fidelity run --optim SPEC [--seeds N] [--budget STEPS] | serve"
                .into(),
        ),
    }
}

//! Pruning on a multi-fidelity problem: random search with ASHA, Hyperband or median stopping
//! against random search without pruning, at equal total resource (steps evaluated).
//!
//! The problem is the `MultiFidelity` Hartmann-6 with `steps: 27` (a learning curve per configuration
//! that ends at the function's value; curves cross). Every search runs until the steps it has
//! evaluated reach the budget (`stop.max_cost`, the cost of a trial being its steps); its result
//! is the final value of its best complete trial (lower is better; optimum −3.32237).
//!
//! ```text
//! cargo run --release -p modnas-bench --example prune_multi_fidelity -- --seeds 30
//! ```

use modnas_bench::synthetic::{Function, MultiFidelityArgs, Synthetic};
use modnas_core::estimator::Estimator;
use modnas_core::journal::MemoryJournal;
use modnas_core::objective::{Objective, Objectives};
use modnas_core::optimizer::{History, OptimError, Optimizer};
use modnas_core::param::{Assignment, ParamSpace};
use modnas_core::prune::{
    Hyperband, HyperbandArgs, Percentile, PercentileArgs, Pruner, RungArgs, Rungs,
};
use modnas_core::search::{Search, SearchOutcome};
use modnas_core::seed::{Rng, derive_seed, rng_from_seed};
use modnas_core::stop::StopCriteria;
use modnas_core::trial::TrialState;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

const STEPS: u64 = 27;

/// Random search (each proposal drawn from the space).
struct Random {
    space: ParamSpace,
    rng: Rng,
}

impl Optimizer for Random {
    fn next(&mut self, n: usize) -> Result<Vec<Assignment>, OptimError> {
        Ok((0..n).map(|_| self.space.sample(&mut self.rng)).collect())
    }
    fn step(&mut self, _: &[modnas_core::trial::Observation]) -> Result<(), OptimError> {
        Ok(())
    }
    fn state(&self) -> String {
        String::new()
    }
    fn restore(&mut self, _: &str, _: &History) -> Result<(), OptimError> {
        Ok(())
    }
}

fn pruner(method: &str) -> Option<Box<dyn Pruner>> {
    match method {
        "asha" => Some(Box::new(Rungs::new(
            &RungArgs {
                eta: 3.0,
                min_resource: 1,
                max_resource: Some(STEPS),
                multi_objective: false,
            },
            1,
        ))),
        "hyperband" => Some(Box::new(Hyperband::new(&HyperbandArgs {
            eta: 3.0,
            min_resource: 1,
            max_resource: Some(STEPS),
            multi_objective: false,
        }))),
        "median" => Some(Box::new(Percentile::new(PercentileArgs {
            percentile: 50.0,
            warmup_steps: 3,
            min_trials: 5,
        }))),
        _ => None,
    }
}

/// One search of `method` until `budget` steps are used.
fn search(method: &str, seed: u64, budget: f64) -> SearchOutcome {
    let est = Arc::new(Synthetic::multi_fidelity(&MultiFidelityArgs {
        function: Function::Hartmann6,
        steps: STEPS,
        ..Default::default()
    }));
    let space = Arc::new(est.space().expect("a synthetic function has a space"));
    let mut s = Search {
        space: space.clone(),
        objectives: Objectives(vec![Objective::minimize("value")]),
        optimizer: Box::new(Random {
            space: (*space).clone(),
            rng: rng_from_seed(derive_seed(seed, "optim", 0)),
        }),
        estimator: est,
        journal: Box::new(MemoryJournal::new()),
        derived: Vec::new(),
        stop: StopCriteria {
            max_cost: Some(budget),
            ..Default::default()
        },
        parallel: 1,
        seed,
        callbacks: Vec::new(),
        interrupt: Arc::new(AtomicBool::new(false)),
        run_dir: None,
        worker: "bench".into(),
        max_attempts: 3,
        pruner: pruner(method),
    };
    s.run().expect("the search runs")
}

/// The final value of the best complete trial.
fn best(out: &SearchOutcome) -> f64 {
    out.best
        .map(|i| out.trials[i].metrics["value"])
        .unwrap_or(f64::NAN)
}

/// Steps used when the best complete trial first reaches `target`.
fn steps_to_reach(out: &SearchOutcome, target: f64) -> Option<f64> {
    let mut used = 0.0;
    for t in &out.trials {
        used += t.cost.unwrap_or(0.0);
        if t.state == TrialState::Complete && t.metrics["value"] <= target {
            return Some(used);
        }
    }
    None
}

fn mean_std(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let m = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
    (m, var.sqrt())
}

fn main() {
    let mut seeds = 30u64;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--seeds" => {
                seeds = args.next().and_then(|s| s.parse().ok()).expect("--seeds N");
            }
            other => panic!("unknown argument {other} (use --seeds N)"),
        }
    }
    let budgets = [20.0, 50.0, 150.0].map(|k: f64| k * STEPS as f64);
    let methods = ["none", "asha", "hyperband", "median"];
    println!(
        "Hartmann-6, {STEPS} steps per full trial, {seeds} seeds; best final value (mean ± sd, lower is better) and trials run"
    );
    print!("| method |");
    for b in budgets {
        print!(" {b} steps ({} full trials) |", b / STEPS as f64);
    }
    println!();
    println!("|---|{}", "---|".repeat(budgets.len()));
    let mut reference = f64::NAN;
    let mut largest: Vec<(&str, Vec<SearchOutcome>)> = Vec::new();
    for m in methods {
        print!("| {m} |");
        for (k, &b) in budgets.iter().enumerate() {
            let outs: Vec<SearchOutcome> = (0..seeds).map(|s| search(m, s, b)).collect();
            let bests: Vec<f64> = outs.iter().map(best).collect();
            let trials: Vec<f64> = outs.iter().map(|o| o.trials.len() as f64).collect();
            let (mb, sb) = mean_std(&bests);
            let (mt, _) = mean_std(&trials);
            print!(" {mb:.4} ± {sb:.4} ({mt:.0} trials) |");
            if k == budgets.len() - 1 {
                if m == "none" {
                    reference = mb;
                }
                largest.push((m, outs));
            }
        }
        println!();
    }
    // The resource each method needs to reach random search's mean at the largest budget.
    let top = budgets[budgets.len() - 1];
    println!();
    println!(
        "steps until the best complete trial reaches {reference:.4} (random search's mean at {top} steps): median over the seeds that got there within that budget"
    );
    for (m, outs) in &largest {
        let mut need: Vec<f64> = outs
            .iter()
            .filter_map(|o| steps_to_reach(o, reference))
            .collect();
        need.sort_by(f64::total_cmp);
        let median = need.get(need.len() / 2).copied().unwrap_or(f64::NAN);
        println!(
            "| {m} | {median:.0} steps ({:.0}% of {top}) | {}/{seeds} seeds |",
            100.0 * median / top,
            need.len()
        );
    }
}

//! modnas's optimizers on the problems of the Optuna side-by-side benchmark
//! (`bench/optuna_side_by_side.py` runs Optuna's samplers on the same problems and reports both).
//!
//! ```text
//! cargo run --release -p modnas-optim --example tpe_vs_optuna -- run --problem nb201 \
//!     --optim "{type: TPE, args: {multivariate: true}}" --name "TPE (mv)" --seeds 30 --out FILE
//! cargo run --release -p modnas-optim --example tpe_vs_optuna -- describe --problem mixed_branin
//! cargo run --release -p modnas-optim --example tpe_vs_optuna -- serve --problem mixed_branin
//! ```
//!
//! Problems: `nb201` (NAS-Bench-201 CIFAR-10 table under `data/nasbench201/`; each trial sees one
//! random seed's validation accuracy, the figure is the seed-mean of the best observed
//! configuration, larger is better) and the noiseless synthetic functions `mixed_branin`,
//! `mixed_hartmann`, `hpo_like` (the figure is the best value found, smaller is better).
//!
//! `run` appends one JSON line per search seed: the figure after 50, 100 and 200 trials and the
//! mean time of a proposal plus the telling of its result (µs). `describe` prints the space as
//! JSON, `serve` reads one JSON object of parameter values per line and answers with the
//! function's value, so that Optuna evaluates exactly the same function.

use modnas_bench::synthetic::{Function, Synthetic, SyntheticArgs};
use modnas_bench::table::Table;
use modnas_core::config::{ComponentSpec, yaml::parse_str};
use modnas_core::optimizer::{OptimContext, Optimizer};
use modnas_core::param::{Assignment, ParamSpace};
use modnas_core::seed::{derive_seed, rng_from_seed};
use modnas_core::trial::Observation;
use rand::RngExt;
use std::io::{BufRead, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

const BUDGETS: [usize; 3] = [50, 100, 200];

enum Problem {
    Table(Arc<Table>),
    Function(Synthetic),
}

impl Problem {
    fn load(name: &str) -> Result<Problem, String> {
        let function = match name {
            "nb201" => {
                let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
                let csv = root.join("data/nasbench201/cifar10.csv");
                let t =
                    Table::load(&csv, &csv.with_extension("yaml")).map_err(|e| e.to_string())?;
                return Ok(Problem::Table(Arc::new(t)));
            }
            "mixed_branin" => Function::MixedBranin,
            "mixed_hartmann" => Function::MixedHartmann,
            "hpo_like" => Function::HpoLike,
            _ => {
                return Err(format!(
                    "unknown problem `{name}` (nb201, mixed_branin, mixed_hartmann, hpo_like)"
                ));
            }
        };
        Ok(Problem::Function(Synthetic::new(SyntheticArgs {
            function,
            ..Default::default()
        })))
    }

    fn space(&self) -> ParamSpace {
        match self {
            Problem::Table(t) => t.space().clone(),
            Problem::Function(f) => modnas_core::estimator::Estimator::space(f).unwrap_or_default(),
        }
    }

    /// The score the optimizer sees (larger is better) for trial `trial` of search `seed`.
    fn observe(&self, a: &Assignment, seed: u64, trial: u64) -> Option<f64> {
        match self {
            Problem::Table(t) => {
                let runs = t.runs(a);
                if runs == 0 {
                    return None;
                }
                let k = rng_from_seed(derive_seed(seed, "trial", trial)).random_range(0..runs);
                t.run(a, k).and_then(|(m, _)| m.get("val_acc").copied())
            }
            Problem::Function(f) => Some(-f.value(a)),
        }
    }

    /// The figure of a returned configuration.
    fn figure(&self, a: &Assignment) -> f64 {
        match self {
            Problem::Table(t) => t.mean_of(a, "val_acc").unwrap_or(f64::NAN),
            Problem::Function(f) => f.value(a),
        }
    }
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

/// One search: the figures at the budgets and the mean µs per trial of the optimizer.
fn search(problem: &Problem, spec: &str, seed: u64) -> Result<([f64; 3], f64), String> {
    let space = Arc::new(problem.space());
    let mut opt = build(spec, &space, derive_seed(seed, "optim", 0))?;
    let mut best: Option<(f64, Assignment)> = None;
    let mut out = [f64::NAN; 3];
    let mut spent = 0.0;
    for t in 0..BUDGETS[2] {
        let start = Instant::now();
        let a = opt
            .next(1)
            .map_err(|e| e.to_string())?
            .pop()
            .ok_or("the optimizer proposed nothing")?;
        spent += start.elapsed().as_secs_f64();
        let score = problem.observe(&a, seed, t as u64);
        if let Some(s) = score
            && best.as_ref().is_none_or(|(b, _)| s > *b)
        {
            best = Some((s, a.clone()));
        }
        let obs = Observation {
            number: t as u64,
            params: a,
            score,
            metrics: Default::default(),
            steps: Vec::new(),
            scores: Vec::new(),
        };
        let start = Instant::now();
        opt.step(&[obs]).map_err(|e| e.to_string())?;
        spent += start.elapsed().as_secs_f64();
        if let Some(k) = BUDGETS.iter().position(|&b| b == t + 1) {
            out[k] = best.as_ref().map_or(f64::NAN, |(_, a)| problem.figure(a));
        }
    }
    Ok((out, spent * 1e6 / BUDGETS[2] as f64))
}

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Err(e) = run(&args) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run(args: &[String]) -> Result<(), String> {
    let usage = "usage: tpe_vs_optuna run|describe|serve --problem P [--optim SPEC --name NAME --seeds N --out FILE]";
    let problem = Problem::load(&arg(args, "--problem").ok_or(usage)?)?;
    match args.first().map(String::as_str) {
        Some("describe") => {
            let json =
                serde_json::to_string(&problem.space().describe()).map_err(|e| e.to_string())?;
            println!("{json}");
            Ok(())
        }
        Some("serve") => serve(&problem),
        Some("run") => {
            let spec = arg(args, "--optim").ok_or(usage)?;
            let name = arg(args, "--name").unwrap_or_else(|| spec.clone());
            let seeds: u64 =
                arg(args, "--seeds").map_or(Ok(30), |s| s.parse().map_err(|_| usage))?;
            let threads: u64 =
                arg(args, "--threads").map_or(Ok(2), |s| s.parse().map_err(|_| usage))?;
            let problem_name = arg(args, "--problem").unwrap_or_default();
            let rows = Mutex::new(Vec::new());
            let next = std::sync::atomic::AtomicU64::new(0);
            let failed = Mutex::new(None);
            std::thread::scope(|s| {
                for _ in 0..threads.max(1) {
                    s.spawn(|| {
                        loop {
                            let seed = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                            if seed >= seeds {
                                break;
                            }
                            match search(&problem, &spec, seed) {
                                Ok(r) => rows
                                    .lock()
                                    .unwrap_or_else(|e| e.into_inner())
                                    .push((seed, r)),
                                Err(e) => {
                                    *failed.lock().unwrap_or_else(|e| e.into_inner()) = Some(e)
                                }
                            }
                        }
                    });
                }
            });
            if let Some(e) = failed.into_inner().unwrap_or_else(|e| e.into_inner()) {
                return Err(e);
            }
            let mut rows = rows.into_inner().unwrap_or_else(|e| e.into_inner());
            rows.sort_by_key(|r| r.0);
            let mut text = String::new();
            for (seed, (fig, us)) in rows {
                let line = serde_json::json!({
                    "side": "modnas", "optimizer": name, "problem": problem_name,
                    "seed": seed, "budgets": BUDGETS, "figure": fig, "us_per_trial": us,
                });
                text.push_str(&line.to_string());
                text.push('\n');
            }
            match arg(args, "--out") {
                Some(path) => std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&path)
                    .and_then(|mut f| f.write_all(text.as_bytes()))
                    .map_err(|e| format!("cannot write {path}: {e}")),
                None => {
                    print!("{text}");
                    Ok(())
                }
            }
        }
        _ => Err(usage.into()),
    }
}

/// Answers one JSON line of parameter values with the value of the function (`null` for a
/// table, which the caller reads itself).
fn serve(problem: &Problem) -> Result<(), String> {
    let space = problem.space();
    let stdin = std::io::stdin();
    let mut out = std::io::stdout().lock();
    for line in stdin.lock().lines() {
        let line = line.map_err(|e| e.to_string())?;
        let map: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(&line).map_err(|e| format!("bad request {line}: {e}"))?;
        let a = space.from_json(&map).map_err(|e| e.to_string())?;
        let v = match problem {
            Problem::Function(f) => serde_json::json!(f.value(&a)),
            Problem::Table(_) => serde_json::Value::Null,
        };
        writeln!(out, "{v}")
            .and_then(|_| out.flush())
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

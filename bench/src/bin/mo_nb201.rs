//! Multi-objective search on NAS-Bench-201 CIFAR-10: maximise validation accuracy, minimise
//! latency (both columns of the table). Each trial sees one random seed's validation accuracy;
//! latency is the same for every seed.
//!
//! The figure of a run at budget B: the trials among its first B whose *observed* values are
//! non-dominated (what the search would report), scored by the hypervolume of their seed-mean
//! accuracy and latency. Both objectives are scaled to [0, 1] by the table's range (accuracy from
//! the worst seed-mean architecture to the best, latency from the slowest to the fastest); the
//! reference point is the worst corner (0, 0), so the table's own Pareto front has the largest
//! possible hypervolume, printed as the optimum.
//!
//! ```text
//! python bench/mo_nb201.py --seeds 50 --trials 200 --out bench/results/mo_nb201_optuna.json
//! cargo run --release -p modnas-benchmarks --bin mo_nb201 -- --seeds 50 \
//!     --optuna bench/results/mo_nb201_optuna.json
//! ```
//!
//! With `--max-latency S` (and the same option to the Python script) every modnas optimizer but
//! random search gets `constraints: [{metric: latency, max: S}]`, Optuna a `constraints_func`,
//! and only feasible trials count towards the hypervolume.
//!
//! Budgets 50, 100 and 200 are prefixes of one 200-trial run per seed (no algorithm here knows
//! its budget). Optuna's runs are read from the JSON the Python script writes and scored by the
//! same routine.

use modnas_bench::table::Table;
use modnas_benchmarks::{mann_whitney, mean_std, nb201, repo, run_search};
use modnas_core::journal::MemoryJournal;
use modnas_core::param::{Assignment, Value};
use std::sync::Arc;
use std::time::Instant;

const BUDGETS: [usize; 3] = [50, 100, 200];

/// One run's trials: values, observed accuracy and latency.
type Run = Vec<(Assignment, f64, f64)>;

/// One algorithm's results: name, seconds per trial, hypervolumes per run and budget, feasible
/// fraction per run.
type Row = (String, f64, Vec<[f64; 3]>, Vec<f64>);

/// Scales (mean accuracy, latency) to the unit square, larger is better on both axes.
struct Scale {
    acc: (f64, f64),
    lat: (f64, f64),
}

impl Scale {
    fn of(table: &Table) -> (Scale, Vec<(f64, f64)>) {
        let space = table.space();
        let card = space.cardinality().unwrap_or(0);
        let mut pts = Vec::new();
        for i in 0..card {
            let Ok(a) = space.assignment_at(i) else {
                continue;
            };
            if let (Some(acc), Some(lat)) =
                (table.mean_of(&a, "val_acc"), table.mean_of(&a, "latency"))
            {
                pts.push((acc, lat));
            }
        }
        let fold = |f: fn(&(f64, f64)) -> f64| {
            pts.iter()
                .map(f)
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), x| {
                    (lo.min(x), hi.max(x))
                })
        };
        let s = Scale {
            acc: fold(|p| p.0),
            lat: fold(|p| p.1),
        };
        let unit = pts.iter().map(|&(a, l)| s.unit(a, l)).collect();
        (s, unit)
    }

    fn unit(&self, acc: f64, lat: f64) -> (f64, f64) {
        (
            (acc - self.acc.0) / (self.acc.1 - self.acc.0),
            (self.lat.1 - lat) / (self.lat.1 - self.lat.0),
        )
    }
}

/// Hypervolume of points (both coordinates larger-is-better) above the reference point (0, 0).
fn hypervolume(points: &[(f64, f64)]) -> f64 {
    let mut p: Vec<(f64, f64)> = points
        .iter()
        .copied()
        .filter(|&(x, y)| x > 0.0 && y > 0.0)
        .collect();
    // By x descending: each point adds the strip between its y and the best y so far.
    p.sort_by(|a, b| b.0.total_cmp(&a.0).then(b.1.total_cmp(&a.1)));
    let (mut hv, mut top) = (0.0, 0.0);
    for (x, y) in p {
        if y > top {
            hv += x * (y - top);
            top = y;
        }
    }
    hv
}

/// Indices of the observed-non-dominated trials (observed: accuracy up, latency down).
fn observed_front(obs: &[(f64, f64)]) -> Vec<usize> {
    let dom = |a: (f64, f64), b: (f64, f64)| a.0 >= b.0 && a.1 <= b.1 && (a.0 > b.0 || a.1 < b.1);
    (0..obs.len())
        .filter(|&i| !obs.iter().any(|&o| dom(o, obs[i])))
        .collect()
}

/// The run's hypervolume at each budget: observed front of the feasible trials (latency at
/// most `max_latency`), scored at seed-means; and the feasible fraction of trials 101–200.
fn score_run(
    table: &Table,
    scale: &Scale,
    trials: &[(Assignment, f64, f64)],
    max_latency: f64,
) -> ([f64; 3], f64) {
    let late = trials.get(100..).unwrap_or_default();
    let feasible =
        late.iter().filter(|t| t.2 <= max_latency).count() as f64 / late.len().max(1) as f64;
    let hv = BUDGETS.map(|b| {
        let t: Run = trials[..b.min(trials.len())]
            .iter()
            .filter(|t| t.2 <= max_latency)
            .cloned()
            .collect();
        let obs: Vec<(f64, f64)> = t.iter().map(|(_, a, l)| (*a, *l)).collect();
        let pts: Vec<(f64, f64)> = observed_front(&obs)
            .into_iter()
            .filter_map(|i| {
                let a = &t[i].0;
                Some(scale.unit(table.mean_of(a, "val_acc")?, table.mean_of(a, "latency")?))
            })
            .collect();
        hypervolume(&pts)
    });
    (hv, feasible)
}

/// Optuna's runs from the JSON of `bench/mo_nb201.py`.
fn optuna_runs(table: &Table, path: &str) -> Result<(String, f64, Vec<Run>), String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    let j: serde_json::Value = serde_json::from_str(&text).map_err(|e| format!("{path}: {e}"))?;
    let name = format!(
        "{} {}",
        j["framework"].as_str().unwrap_or("optuna"),
        j["sampler"].as_str().unwrap_or("NSGAIISampler")
    );
    let per_trial = j["seconds_per_trial"].as_f64().unwrap_or(f64::NAN);
    let space = table.space();
    let mut runs = Vec::new();
    for r in j["runs"].as_array().ok_or("no runs")? {
        let mut trials = Vec::new();
        for t in r["trials"].as_array().ok_or("no trials")? {
            let arch = t["arch"].as_array().ok_or("no arch")?;
            let values = t["values"].as_array().ok_or("no values")?;
            let mut a = Vec::new();
            for (p, v) in space.params().iter().zip(arch) {
                let v = Value::Str(v.as_str().ok_or("arch entries are strings")?.to_string());
                a.push(p.domain.parse(&v)?);
            }
            let acc = values
                .first()
                .and_then(|v| v.as_f64())
                .ok_or("no accuracy")?;
            let lat = values.get(1).and_then(|v| v.as_f64()).ok_or("no latency")?;
            trials.push((Assignment(a), acc, lat));
        }
        runs.push(trials);
    }
    Ok((name, per_trial, runs))
}

/// The NAS-Bench-201 table with two objectives: accuracy (max) and latency (min).
fn two_objective_table(dir: &std::path::Path) -> Result<Arc<Table>, String> {
    let csv = repo().join("data/nasbench201/cifar10.csv");
    let yaml = std::fs::read_to_string(csv.with_extension("yaml")).map_err(|e| e.to_string())?;
    let yaml: String = yaml
        .lines()
        .map(|l| {
            if l.starts_with("objectives:") {
                "objectives: [{metric: val_acc, direction: max}, {metric: latency, direction: min}]"
            } else {
                l
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let desc = dir.join("cifar10-two-objectives.yaml");
    std::fs::write(&desc, yaml).map_err(|e| e.to_string())?;
    Table::load(&csv, &desc)
        .map(Arc::new)
        .map_err(|e| e.to_string())
}

fn main() {
    let mut seeds = 50usize;
    let mut optuna: Option<String> = None;
    let mut max_latency: Option<f64> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--seeds" => seeds = args.next().and_then(|s| s.parse().ok()).unwrap_or(seeds),
            "--optuna" => optuna = args.next(),
            "--max-latency" => max_latency = args.next().and_then(|s| s.parse().ok()),
            _ => {
                eprintln!(
                    "usage: mo_nb201 [--seeds N] [--optuna FILE.json] [--max-latency SECONDS]"
                );
                std::process::exit(2);
            }
        }
    }
    if let Err(e) = nb201() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let table = match two_objective_table(dir.path()) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    };
    let (scale, all) = Scale::of(&table);
    let max_lat = max_latency.unwrap_or(f64::INFINITY);
    let lat_ok = scale.unit(scale.acc.0, max_lat).1;
    let front: Vec<(f64, f64)> = {
        let neg: Vec<(f64, f64)> = all
            .iter()
            .filter(|p| max_latency.is_none() || p.1 >= lat_ok)
            .map(|&(x, y)| (x, -y))
            .collect();
        observed_front(&neg)
            .into_iter()
            .map(|i| (neg[i].0, -neg[i].1))
            .collect()
    };
    if let Some(m) = max_latency {
        println!(
            "constraint: latency ≤ {m} (modnas: `constraints: [{{metric: latency, max: {m}}}]`)"
        );
    }
    println!(
        "NAS-Bench-201 CIFAR-10: val_acc (max, one random seed per trial) vs latency (min); {seeds} search seeds"
    );
    println!(
        "hypervolume of the table's Pareto front ({} architectures): {:.4}\n",
        front.len(),
        hypervolume(&front)
    );
    let algorithms: Vec<(&str, &str)> = vec![
        ("random search", "RandomSearch"),
        (
            "NSGA-II (population 50)",
            "{type: NSGA2, args: {population: 50}}",
        ),
        (
            "NSGA-II (population 20)",
            "{type: NSGA2, args: {population: 20}}",
        ),
        (
            "Pareto RE (P=50, S=10)",
            "{type: ParetoRegularizedEvolution, args: {population: 50, sample: 10}}",
        ),
        (
            "Pareto RE (P=20, S=5)",
            "{type: ParetoRegularizedEvolution, args: {population: 20, sample: 5}}",
        ),
    ];
    let mut rows: Vec<Row> = Vec::new();
    for (name, spec) in &algorithms {
        let spec = match (max_latency, spec.strip_suffix("}}")) {
            (Some(m), Some(head)) => {
                format!("{head}, constraints: [{{metric: latency, max: {m}}}]}}}}")
            }
            _ => spec.to_string(),
        };
        let start = Instant::now();
        let (mut hv, mut feasible) = (Vec::new(), Vec::new());
        for seed in 0..seeds as u64 {
            let trials = run_search(&table, &spec, seed, 200, Box::new(MemoryJournal::new()))
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            let t: Run = trials
                .iter()
                .map(|t| (t.params.clone(), t.metrics["val_acc"], t.metrics["latency"]))
                .collect();
            let (h, f) = score_run(&table, &scale, &t, max_lat);
            hv.push(h);
            feasible.push(f);
        }
        let per_trial = start.elapsed().as_secs_f64() / (seeds * 200) as f64;
        rows.push((name.to_string(), per_trial, hv, feasible));
    }
    if let Some(path) = &optuna {
        match optuna_runs(&table, path) {
            Ok((name, per_trial, runs)) => {
                let (hv, feasible) = runs
                    .iter()
                    .take(seeds)
                    .map(|t| score_run(&table, &scale, t, max_lat))
                    .unzip();
                rows.push((name, per_trial, hv, feasible));
            }
            Err(e) => {
                eprintln!("error: {e}");
                std::process::exit(1);
            }
        }
    }
    println!(
        "| algorithm | runs | time per trial | HV @50 | HV @100 | HV @200 | feasible, trials 101–200 |"
    );
    println!("|---|---|---|---|---|---|---|");
    for (name, per_trial, hv, feasible) in &rows {
        let cells: Vec<String> = (0..3)
            .map(|k| {
                let v: Vec<f64> = hv.iter().map(|r| r[k]).collect();
                let (m, s) = mean_std(&v);
                format!("{m:.4} ± {s:.4}")
            })
            .collect();
        println!(
            "| {name} | {} | {:.0} µs | {} | {:.0}% |",
            hv.len(),
            per_trial * 1e6,
            cells.join(" | "),
            100.0 * mean_std(feasible).0
        );
    }
    if optuna.is_some() {
        let (oname, _, ohv, _) = rows.last().expect("optuna row");
        println!("\nMann–Whitney against {oname} (one-sided p of each direction):\n");
        println!("| algorithm | budget | P(beats) | p (better) | p (worse) |");
        println!("|---|---|---|---|---|");
        for (name, _, hv, _) in &rows[..rows.len() - 1] {
            for (k, b) in BUDGETS.iter().enumerate() {
                let a: Vec<f64> = hv.iter().map(|r| r[k]).collect();
                let o: Vec<f64> = ohv.iter().map(|r| r[k]).collect();
                let (p_beat, p_better) = mann_whitney(&a, &o);
                let (_, p_worse) = mann_whitney(&o, &a);
                println!("| {name} | {b} | {p_beat:.2} | {p_better:.3} | {p_worse:.3} |");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hypervolume_of_a_staircase() {
        assert_eq!(hypervolume(&[(1.0, 1.0)]), 1.0);
        // (0.5, 1) and (1, 0.5): 0.5 + 0.5 · 0.5.
        assert!((hypervolume(&[(0.5, 1.0), (1.0, 0.5), (0.4, 0.4)]) - 0.75).abs() < 1e-12);
        assert_eq!(
            observed_front(&[(1.0, 2.0), (1.0, 3.0), (2.0, 3.0)]),
            vec![0, 2]
        );
    }
}

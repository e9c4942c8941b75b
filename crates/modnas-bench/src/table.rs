//! Benchmark tables: a CSV of evaluated configurations plus a YAML description of its columns.
//!
//! The format is documented in `docs/table-format.md`. In short: one column per parameter (named
//! as in the description), one per metric, optional `seed`, cost and `fidelity` columns; several
//! rows with the same parameter values are repeated runs (seeds), and with a fidelity column the
//! rows of one run at growing fidelity (epochs…) are its learning curve.

use modnas_core::config::{ConfigError, Fields, Node, space_from_node, yaml};
use modnas_core::objective::{Direction, Metrics, Objective};
use modnas_core::param::{Assignment, ParamSpace, ParamValue, Value};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Errors reading a table.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    /// The description is invalid.
    #[error("{0}")]
    Description(#[from] ConfigError),
    /// The CSV cannot be read.
    #[error("{file}: {message}")]
    Io {
        /// The file.
        file: String,
        /// What went wrong.
        message: String,
    },
    /// A CSV cell or header is invalid.
    #[error("{file}:{line}: {message}")]
    Cell {
        /// The file.
        file: String,
        /// Line number (1 = header).
        line: u64,
        /// What is wrong.
        message: String,
    },
}

/// One parsed CSV row: key bits, metrics, cost, parameter values, run (seed cell), fidelity.
type Row = (Vec<u64>, Vec<f64>, f64, Vec<ParamValue>, String, u64);

/// The learning curve of a run: rows in fidelity order, the last one being the run's result.
#[derive(Clone, Debug, Default)]
struct Curves {
    fidelity: Vec<u64>,
    values: Vec<f64>,
    costs: Vec<f64>,
    /// Per final row (run), its range in the arrays above.
    ranges: Vec<(u32, u32)>,
}

/// A loaded benchmark table.
pub struct Table {
    space: ParamSpace,
    metric_names: Vec<String>,
    objectives: Vec<Objective>,
    describe: Option<String>,
    has_cost: bool,
    index: HashMap<Vec<u64>, (u32, u32)>,
    configs: Vec<Assignment>,
    values: Vec<f64>,
    costs: Vec<f64>,
    rows: usize,
    path: PathBuf,
    /// With a fidelity column: every run's learning curve.
    curves: Option<Curves>,
}

impl std::fmt::Debug for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Table({}, {} rows)", self.path.display(), self.rows)
    }
}

struct Description {
    space: ParamSpace,
    metrics: Vec<String>,
    cost: Option<String>,
    seed: Option<String>,
    fidelity: Option<String>,
    objectives: Vec<Objective>,
    describe: Option<String>,
}

fn read_description(node: &Node) -> Result<Description, ConfigError> {
    let mut f = Fields::new(node, "")?;
    let space = space_from_node(f.req_raw("params")?, "params")?;
    let metrics: Vec<String> = f.req("metrics")?;
    let cost: Option<String> = f.opt("cost")?;
    let seed: Option<String> = f.opt("seed")?;
    let fidelity: Option<String> = f.opt("fidelity")?;
    let objectives: Option<Vec<Objective>> = f.opt("objectives")?;
    let describe: Option<String> = f.opt("describe")?;
    let _: Option<String> = f.opt("source")?;
    f.finish()?;
    if metrics.is_empty() {
        return Err(ConfigError::at(
            node.get("metrics").unwrap_or(node),
            "metrics",
            "a table needs at least one metric column",
        ));
    }
    let objectives = objectives.unwrap_or_else(|| {
        vec![Objective {
            metric: metrics[0].clone(),
            direction: Direction::Maximize,
        }]
    });
    for o in &objectives {
        if !metrics.contains(&o.metric) {
            return Err(ConfigError::at(
                node.get("objectives").unwrap_or(node),
                "objectives",
                format!("objective metric `{}` is not a metric column", o.metric),
            )
            .with_hint(modnas_core::config::choices_hint(
                &o.metric,
                &metrics.iter().map(String::as_str).collect::<Vec<_>>(),
            )));
        }
    }
    Ok(Description {
        space,
        metrics,
        cost,
        seed,
        fidelity,
        objectives,
        describe,
    })
}

fn parse_choice(v: &Value, text: &str) -> bool {
    match v {
        Value::Str(s) => s == text,
        Value::Int(i) => {
            text.trim().parse::<i64>().is_ok_and(|t| t == *i)
                || text.trim().parse::<f64>().is_ok_and(|t| t == *i as f64)
        }
        Value::Float(x) => text.trim().parse::<f64>().is_ok_and(|t| t == *x),
        Value::Bool(b) => text
            .trim()
            .eq_ignore_ascii_case(if *b { "true" } else { "false" }),
    }
}

impl Table {
    /// Loads `csv` described by `description` (YAML).
    pub fn load(csv_path: &Path, description: &Path) -> Result<Table, TableError> {
        for (p, what) in [(csv_path, "table"), (description, "table description")] {
            if !p.is_file() {
                return Err(TableError::Io {
                    file: p.display().to_string(),
                    message: format!("{what} file not found"),
                });
            }
        }
        let node = yaml::load_file(description)?;
        let desc = read_description(&node)?;
        let file = csv_path.display().to_string();
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .from_path(csv_path)
            .map_err(|e| TableError::Io {
                file: file.clone(),
                message: match e.kind() {
                    csv::ErrorKind::Io(io) if io.kind() == std::io::ErrorKind::NotFound => {
                        "file not found".into()
                    }
                    _ => e.to_string(),
                },
            })?;
        let headers = reader
            .headers()
            .map_err(|e| TableError::Io {
                file: file.clone(),
                message: e.to_string(),
            })?
            .clone();
        let col = |name: &str| headers.iter().position(|h| h.trim() == name);
        let missing = |name: &str| TableError::Cell {
            file: file.clone(),
            line: 1,
            message: format!(
                "no column `{name}` (the header has: {})",
                headers.iter().collect::<Vec<_>>().join(", ")
            ),
        };
        let param_cols: Vec<usize> = desc
            .space
            .params()
            .iter()
            .map(|p| col(&p.name).ok_or_else(|| missing(&p.name)))
            .collect::<Result<_, _>>()?;
        let metric_cols: Vec<usize> = desc
            .metrics
            .iter()
            .map(|m| col(m).ok_or_else(|| missing(m)))
            .collect::<Result<_, _>>()?;
        let cost_col = desc
            .cost
            .as_deref()
            .map(|c| col(c).ok_or_else(|| missing(c)))
            .transpose()?;
        let seed_col = desc
            .seed
            .as_deref()
            .map(|c| col(c).ok_or_else(|| missing(c)))
            .transpose()?;
        let fidelity_col = desc
            .fidelity
            .as_deref()
            .map(|c| col(c).ok_or_else(|| missing(c)))
            .transpose()?;

        let mut rows: Vec<Row> = Vec::new();
        for (i, rec) in reader.records().enumerate() {
            let line = i as u64 + 2;
            let rec = rec.map_err(|e| TableError::Cell {
                file: file.clone(),
                line,
                message: e.to_string(),
            })?;
            let mut key = Vec::with_capacity(param_cols.len());
            let mut vals = Vec::with_capacity(param_cols.len());
            for (p, &c) in desc.space.params().iter().zip(&param_cols) {
                let text = rec.get(c).unwrap_or("");
                let v = match &p.domain {
                    modnas_core::param::Domain::Categorical { choices } => {
                        match choices.iter().position(|ch| parse_choice(ch, text)) {
                            Some(k) => ParamValue::Choice(k),
                            None => {
                                return Err(TableError::Cell {
                                    file: file.clone(),
                                    line,
                                    message: format!(
                                        "column `{}`: `{text}` is not {}",
                                        p.name,
                                        p.domain.describe()
                                    ),
                                });
                            }
                        }
                    }
                    d => {
                        let x: f64 = text.trim().parse().map_err(|_| TableError::Cell {
                            file: file.clone(),
                            line,
                            message: format!("column `{}`: `{text}` is not a number", p.name),
                        })?;
                        if matches!(d, modnas_core::param::Domain::Int { .. }) && x.fract() != 0.0 {
                            return Err(TableError::Cell {
                                file: file.clone(),
                                line,
                                message: format!("column `{}`: `{text}` is not an integer", p.name),
                            });
                        }
                        let pv = if matches!(d, modnas_core::param::Domain::Int { .. }) {
                            ParamValue::Int(x as i64)
                        } else {
                            ParamValue::Float(x)
                        };
                        if !d.contains(&pv) {
                            return Err(TableError::Cell {
                                file: file.clone(),
                                line,
                                message: format!(
                                    "column `{}`: `{text}` is not {}",
                                    p.name,
                                    d.describe()
                                ),
                            });
                        }
                        pv
                    }
                };
                key.push(v.key_bits());
                vals.push(v);
            }
            let mut ms = Vec::with_capacity(metric_cols.len());
            for (m, &c) in desc.metrics.iter().zip(&metric_cols) {
                let text = rec.get(c).unwrap_or("");
                let x: f64 = text.trim().parse().map_err(|_| TableError::Cell {
                    file: file.clone(),
                    line,
                    message: format!("column `{m}`: `{text}` is not a number"),
                })?;
                ms.push(x);
            }
            let cost = match cost_col {
                Some(c) => {
                    let text = rec.get(c).unwrap_or("");
                    text.trim().parse().map_err(|_| TableError::Cell {
                        file: file.clone(),
                        line,
                        message: format!("cost column: `{text}` is not a number"),
                    })?
                }
                None => 0.0,
            };
            let run = seed_col
                .map(|c| rec.get(c).unwrap_or("").trim().to_string())
                .unwrap_or_default();
            let fidelity = match fidelity_col {
                Some(c) => {
                    let text = rec.get(c).unwrap_or("").trim();
                    text.parse::<u64>().map_err(|_| TableError::Cell {
                        file: file.clone(),
                        line,
                        message: format!(
                            "fidelity column: `{text}` is not a whole number ≥ 0 (an epoch, a budget)"
                        ),
                    })?
                }
                None => 0,
            };
            rows.push((key, ms, cost, vals, run, fidelity));
        }
        if rows.is_empty() {
            return Err(TableError::Io {
                file,
                message: "the table has no rows".into(),
            });
        }
        if fidelity_col.is_some() {
            rows.sort_by(|a, b| (&a.0, &a.4, a.5).cmp(&(&b.0, &b.4, b.5)));
        } else {
            // Stable: the runs of a configuration keep their order in the file.
            rows.sort_by(|a, b| a.0.cmp(&b.0));
        }
        // With a fidelity column, the rows of one run (configuration and seed) are its learning
        // curve: its last row is the run's result, the others go to `curves`.
        let mut curves = fidelity_col.map(|_| Curves::default());
        if let Some(c) = curves.as_mut() {
            let mut finals: Vec<Row> = Vec::new();
            let mut start = 0usize;
            for i in 0..rows.len() {
                let last_of_run =
                    i + 1 == rows.len() || rows[i + 1].0 != rows[i].0 || rows[i + 1].4 != rows[i].4;
                if rows[i].5 == rows.get(i + 1).map_or(u64::MAX, |r| r.5) && !last_of_run {
                    return Err(TableError::Io {
                        file,
                        message: format!(
                            "two rows of one run at fidelity {} (the same parameters and seed)",
                            rows[i].5
                        ),
                    });
                }
                if last_of_run {
                    let from = c.fidelity.len() as u32;
                    for r in &rows[start..=i] {
                        c.fidelity.push(r.5);
                        c.values.extend_from_slice(&r.1);
                        c.costs.push(r.2);
                    }
                    c.ranges.push((from, (i + 1 - start) as u32));
                    finals.push(rows[i].clone());
                    start = i + 1;
                }
            }
            rows = finals;
        }
        let n_metrics = desc.metrics.len();
        let mut index = HashMap::new();
        let mut configs = Vec::new();
        let mut values = Vec::with_capacity(rows.len() * n_metrics);
        let mut costs = Vec::with_capacity(rows.len());
        let mut start = 0usize;
        for i in 0..rows.len() {
            values.extend_from_slice(&rows[i].1);
            costs.push(rows[i].2);
            if i + 1 == rows.len() || rows[i + 1].0 != rows[i].0 {
                index.insert(rows[i].0.clone(), (start as u32, (i + 1 - start) as u32));
                configs.push(Assignment(rows[i].3.clone()));
                start = i + 1;
            }
        }
        Ok(Table {
            space: desc.space,
            metric_names: desc.metrics,
            objectives: desc.objectives,
            describe: desc.describe,
            has_cost: cost_col.is_some(),
            index,
            configs,
            values,
            costs,
            rows: rows.len(),
            path: csv_path.to_path_buf(),
            curves,
        })
    }

    /// The table's parameter space.
    pub fn space(&self) -> &ParamSpace {
        &self.space
    }

    /// The metric columns.
    pub fn metric_names(&self) -> &[String] {
        &self.metric_names
    }

    /// The default objectives.
    pub fn objectives(&self) -> &[Objective] {
        &self.objectives
    }

    /// Whether the table has a cost column.
    pub fn has_cost(&self) -> bool {
        self.has_cost
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.rows
    }

    /// Whether the table has no rows (never, once loaded).
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Number of distinct configurations.
    pub fn configurations(&self) -> usize {
        self.index.len()
    }

    /// Rows (repeated runs) of a configuration.
    pub fn runs(&self, a: &Assignment) -> usize {
        self.index.get(&a.key()).map_or(0, |r| r.1 as usize)
    }

    /// Metrics and cost of run `k` of configuration `a`.
    pub fn run(&self, a: &Assignment, k: usize) -> Option<(Metrics, f64)> {
        let &(start, len) = self.index.get(&a.key())?;
        if k >= len as usize {
            return None;
        }
        let row = start as usize + k;
        let n = self.metric_names.len();
        let m = self
            .metric_names
            .iter()
            .cloned()
            .zip(self.values[row * n..(row + 1) * n].iter().copied())
            .collect();
        Some((m, self.costs[row]))
    }

    /// Whether the table has a fidelity column (runs have learning curves).
    pub fn has_fidelity(&self) -> bool {
        self.curves.is_some()
    }

    /// The learning curve of run `k` of `a`: `(fidelity, metrics, cost)` in fidelity order, the
    /// last being [`Table::run`]'s result; `None` without a fidelity column.
    pub fn curve(&self, a: &Assignment, k: usize) -> Option<Vec<(u64, Metrics, f64)>> {
        let c = self.curves.as_ref()?;
        let &(start, len) = self.index.get(&a.key())?;
        if k >= len as usize {
            return None;
        }
        let (from, n) = c.ranges[start as usize + k];
        let m = self.metric_names.len();
        Some(
            (from as usize..(from + n) as usize)
                .map(|r| {
                    let metrics = self
                        .metric_names
                        .iter()
                        .cloned()
                        .zip(c.values[r * m..(r + 1) * m].iter().copied())
                        .collect();
                    (c.fidelity[r], metrics, c.costs[r])
                })
                .collect(),
        )
    }

    /// Mean metrics and cost over the runs of `a`.
    pub fn mean(&self, a: &Assignment) -> Option<(Metrics, f64)> {
        let &(start, len) = self.index.get(&a.key())?;
        let n = self.metric_names.len();
        let mut sums = vec![0.0; n];
        let mut cost = 0.0;
        for row in start as usize..(start + len) as usize {
            for (s, v) in sums.iter_mut().zip(&self.values[row * n..(row + 1) * n]) {
                *s += v;
            }
            cost += self.costs[row];
        }
        let l = len as f64;
        Some((
            self.metric_names
                .iter()
                .cloned()
                .zip(sums.into_iter().map(|s| s / l))
                .collect(),
            cost / l,
        ))
    }

    /// Mean of one metric over the runs of `a`.
    pub fn mean_of(&self, a: &Assignment, metric: &str) -> Option<f64> {
        let j = self.metric_names.iter().position(|m| m == metric)?;
        let &(start, len) = self.index.get(&a.key())?;
        let n = self.metric_names.len();
        let s: f64 = (start as usize..(start + len) as usize)
            .map(|row| self.values[row * n + j])
            .sum();
        Some(s / len as f64)
    }

    /// The configuration with the best mean of `metric`, and that mean.
    pub fn best_mean(&self, metric: &str, direction: Direction) -> Option<(Assignment, f64)> {
        let mut best: Option<(Assignment, f64)> = None;
        for a in &self.configs {
            if let Some(v) = self.mean_of(a, metric) {
                let better = match (&best, direction) {
                    (None, _) => true,
                    (Some((_, b)), Direction::Maximize) => v > *b,
                    (Some((_, b)), Direction::Minimize) => v < *b,
                };
                if better {
                    best = Some((a.clone(), v));
                }
            }
        }
        best
    }

    /// The description template filled with the values of `a`.
    pub fn describe(&self, a: &Assignment) -> Option<String> {
        let mut out = self.describe.clone()?;
        for (name, v) in self.space.render(a) {
            out = out.replace(&format!("{{{name}}}"), &v.to_string());
        }
        Some(out)
    }

    /// The CSV file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

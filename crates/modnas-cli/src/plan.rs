//! From a configuration tree to a ready-to-run search.

use crate::registries::Registries;
use modnas_core::config::{ComponentSpec, ConfigError, Fields, Node, NodeKind, space_from_node};
use modnas_core::estimator::{EstimContext, Estimator};
use modnas_core::metric::{Metric, MetricContext};
use modnas_core::objective::{Direction, Objective, Objectives};
use modnas_core::optimizer::{OptimContext, Optimizer};
use modnas_core::param::ParamSpace;
use modnas_core::prune::{PruneContext, Pruner};
use modnas_core::seed::derive_seed;
use modnas_core::stop::StopCriteria;
use std::sync::Arc;

/// Where trials are recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JournalKind {
    /// `journal.sqlite` in the run directory.
    Sqlite(modnas_store::Sync),
    /// Nothing is kept (no resume).
    Memory,
}

/// A search ready to run.
pub struct Plan {
    /// Run name (the directory under the runs directory).
    pub name: String,
    /// Run seed.
    pub seed: u64,
    /// The space.
    pub space: Arc<ParamSpace>,
    /// Objectives.
    pub objectives: Objectives,
    /// The optimizer.
    pub optimizer: Box<dyn Optimizer>,
    /// The estimator.
    pub estimator: Arc<dyn Estimator>,
    /// Derived metrics.
    pub derived: Vec<(String, Box<dyn Metric>)>,
    /// Stop criteria.
    pub stop: StopCriteria,
    /// Trials at once.
    pub parallel: usize,
    /// Where trials go.
    pub journal: JournalKind,
    /// Whether to write `report.html`.
    pub report: bool,
    /// Interrupted evaluations after which a trial is failed (`retry.max_attempts`).
    pub max_attempts: u32,
    /// Stops unpromising trials early (`prune:`).
    pub pruner: Option<Box<dyn Pruner>>,
    /// What defines the run (compared when resuming).
    pub identity: serde_json::Value,
    /// The whole resolved configuration.
    pub resolved: serde_json::Value,
}

fn objective_from_node(n: &Node, path: &str) -> Result<Objective, ConfigError> {
    match &n.kind {
        NodeKind::Str(s) => {
            let (metric, dir) = match s.rsplit_once(':') {
                Some((m, d)) => (m, Some(d)),
                None => (s.as_str(), None),
            };
            let direction = match dir {
                None | Some("max") | Some("maximize") => Direction::Maximize,
                Some("min") | Some("minimize") => Direction::Minimize,
                Some(other) => {
                    return Err(
                        ConfigError::at(n, path, format!("unknown direction `{other}`"))
                            .with_hint("write `metric:max` or `metric:min`"),
                    );
                }
            };
            if metric.is_empty() {
                return Err(ConfigError::at(n, path, "the metric name is empty"));
            }
            Ok(Objective {
                metric: metric.to_string(),
                direction,
            })
        }
        NodeKind::Map(_) => modnas_core::config::from_node(n, path),
        _ => Err(ConfigError::at(
            n,
            path,
            format!(
                "expected an objective such as `val_acc`, `loss:min` or {{metric: loss, direction: min}}, found {}",
                n.describe()
            ),
        )),
    }
}

fn objectives_from_node(n: &Node, path: &str) -> Result<Vec<Objective>, ConfigError> {
    let out: Vec<Objective> = match &n.kind {
        NodeKind::Seq(items) => items
            .iter()
            .enumerate()
            .map(|(i, x)| objective_from_node(x, &format!("{path}[{i}]")))
            .collect::<Result<_, _>>()?,
        _ => vec![objective_from_node(n, path)?],
    };
    if out.is_empty() {
        return Err(ConfigError::at(n, path, "give at least one objective"));
    }
    for (i, o) in out.iter().enumerate() {
        if out[..i].iter().any(|p| p.metric == o.metric) {
            return Err(ConfigError::at(
                n,
                path,
                format!("metric `{}` is listed twice", o.metric),
            ));
        }
    }
    Ok(out)
}

pub fn journal_from_node(n: &Node) -> Result<JournalKind, ConfigError> {
    let kinds = ["sqlite", "memory"];
    let (kind, sync) = match &n.kind {
        NodeKind::Str(s) => (s.clone(), None),
        NodeKind::Map(_) => {
            let mut f = Fields::new(n, "journal")?;
            let kind: String = f.opt("type")?.unwrap_or_else(|| "sqlite".into());
            let sync: Option<String> = f.opt("sync")?;
            f.finish()?;
            (kind, sync)
        }
        _ => {
            return Err(ConfigError::at(
                n,
                "journal",
                format!("expected `sqlite` or `memory`, found {}", n.describe()),
            ));
        }
    };
    let sync = match sync.as_deref() {
        None | Some("process") => modnas_store::Sync::Process,
        Some("power") => modnas_store::Sync::Power,
        Some(other) => {
            let at = n.get("sync").unwrap_or(n);
            return Err(ConfigError::at(
                at,
                "journal.sync",
                format!("unknown sync mode `{other}`"),
            )
            .with_hint(modnas_core::config::choices_hint(
                other,
                &["process", "power"],
            )));
        }
    };
    match kind.as_str() {
        "sqlite" => Ok(JournalKind::Sqlite(sync)),
        "memory" => Ok(JournalKind::Memory),
        other => {
            let at = n.get("type").unwrap_or(n);
            Err(
                ConfigError::at(at, "journal", format!("unknown journal `{other}`"))
                    .with_hint(modnas_core::config::choices_hint(other, &kinds)),
            )
        }
    }
}

/// The default of `retry.max_attempts`.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 3;

/// Reads `retry: {max_attempts: N}`: after how many interrupted evaluations (the process died
/// while the trial ran) a trial is failed instead of run again.
pub fn retry_from_node(n: &Node) -> Result<u32, ConfigError> {
    let mut f = Fields::new(n, "retry")?;
    let max: Option<i64> = f.opt("max_attempts")?;
    f.finish()?;
    match max {
        None => Ok(DEFAULT_MAX_ATTEMPTS),
        Some(m) if (1..=1000).contains(&m) => Ok(m as u32),
        Some(m) => Err(ConfigError::at(
            n.get("max_attempts").unwrap_or(n),
            "retry.max_attempts",
            format!("`max_attempts` must be between 1 and 1000, found {m}"),
        )
        .with_hint("the number of times a trial may be started before it is failed, e.g. `retry: {max_attempts: 3}`")),
    }
}

/// Checks a run name: it becomes a directory.
pub fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty()
        || name.len() > 200
        || name.starts_with('.')
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(format!(
            "`{name}` is not a valid run name: use letters, digits, `-`, `_` and `.` (it names a directory)"
        ));
    }
    Ok(())
}

/// Builds a plan. `default_name` is used when neither `--name` nor `name:` is given; `seed`
/// overrides the configuration's seed; `base_dir` resolves relative paths given on the command line.
/// `other_keys` are top-level keys that are read elsewhere (the network of a search over networks).
pub fn build(
    root: &Node,
    regs: &Registries,
    other_keys: &[&'static str],
    default_name: &str,
    cli_name: Option<&str>,
    seed: Option<u64>,
    stored_seed: Option<u64>,
) -> Result<Plan, ConfigError> {
    let mut f = Fields::new(root, "")?;
    for k in other_keys {
        f.allow(k);
    }
    let cfg_name: Option<String> = f.opt("name")?;
    let cfg_seed: Option<u64> = f.opt("seed")?;
    let space_node = f.raw("space");
    let optim_node = f.raw("optim");
    let estim_node = f.raw("estim");
    let objectives_node = f.raw("objectives");
    let metrics_node = f.raw("metrics");
    let stop_node = f.raw("stop");
    let parallel: Option<usize> = f.opt("parallel")?;
    let journal_node = f.raw("journal");
    let retry_node = f.raw("retry");
    let prune_node = f.raw("prune");
    let report: bool = f.opt("report")?.unwrap_or(true);
    f.finish()?;

    let name = cli_name
        .map(str::to_string)
        .or(cfg_name)
        .unwrap_or_else(|| default_name.to_string());
    check_name(&name).map_err(|m| match root.get("name") {
        Some(n) if cli_name.is_none() => ConfigError::at(n, "name", m),
        _ => ConfigError::new(m),
    })?;
    let seed = seed.or(cfg_seed).or(stored_seed).unwrap_or(0);

    let cfg_space = space_node
        .map(|n| space_from_node(n, "space"))
        .transpose()?;
    let estim_node = estim_node.ok_or_else(|| {
        ConfigError::at(root, "", "missing required key `estim`: how are trials evaluated?")
            .with_hint("for example `estim: {type: NasBench201}` or `estim: {type: External, args: {command: [...]}}`; see `modnas list estimators`")
    })?;
    let estim_spec = ComponentSpec::parse(estim_node, "estim")?;
    let estim_ctx = EstimContext {
        space: cfg_space.clone(),
        seed: derive_seed(seed, "estim", 0),
        base_dir: estim_spec.args.span.base_dir(),
    };
    let estimator: Arc<dyn Estimator> = Arc::from(regs.estim.build(&estim_spec, &estim_ctx)?);
    let space = match (estimator.space(), cfg_space) {
        (Some(s), None) => s,
        (None, Some(s)) => s,
        (Some(_), Some(_)) => {
            let at = space_node.unwrap_or(root);
            return Err(ConfigError::at(
                at,
                "space",
                format!(
                    "the estimator `{}` defines its own search space; remove the `space:` section",
                    estim_spec.name
                ),
            ));
        }
        (None, None) => {
            return Err(ConfigError::at(
                root,
                "",
                "missing `space`: the estimator does not define a search space",
            )
            .with_hint(
                "add a `space:` section, e.g. `space: {lr: {low: 1.0e-5, high: 0.1, log: true}}`",
            ));
        }
    };
    let space = Arc::new(space);

    let objectives = match objectives_node {
        Some(n) => objectives_from_node(n, "objectives")?,
        None => {
            let d = estimator.default_objectives();
            if d.is_empty() {
                return Err(ConfigError::at(root, "", "missing `objectives`: which metric should be optimised?").with_hint("for example `objectives: [loss:min]` or `objectives: [{metric: accuracy, direction: max}]`"));
            }
            d
        }
    };

    let optim_spec = match optim_node {
        Some(n) => ComponentSpec::parse(n, "optim")?,
        None => ComponentSpec::parse(
            &Node::new(NodeKind::Str("RandomSearch".into()), root.span.clone()),
            "optim",
        )?,
    };
    let optimizer = regs.optim.build(
        &optim_spec,
        &OptimContext {
            space: space.clone(),
            seed: derive_seed(seed, "optim", 0),
        },
    )?;

    let mut derived = Vec::new();
    if let Some(n) = metrics_node {
        let entries = n.as_map().ok_or_else(|| {
            ConfigError::at(
                n,
                "metrics",
                format!("expected a map of `name: metric`, found {}", n.describe()),
            )
        })?;
        for (k, v) in entries {
            let spec = ComponentSpec::parse(v, &format!("metrics.{}", k.name))?;
            derived.push((k.name.clone(), regs.metric.build(&spec, &MetricContext)?));
        }
    }
    // When the estimator's metrics are known, misspelt objectives and metric terms are
    // configuration errors before anything runs.
    if let Some(mut known) = estimator.metric_names() {
        for (name, m) in &derived {
            for r in m.requires() {
                if !known.contains(&r) {
                    let at = metrics_node.and_then(|n| n.get(name)).unwrap_or(root);
                    return Err(ConfigError::at(
                        at,
                        &format!("metrics.{name}"),
                        format!("metric `{r}` is not reported by the estimator"),
                    )
                    .with_hint(modnas_core::config::choices_hint(
                        &r,
                        &known.iter().map(String::as_str).collect::<Vec<_>>(),
                    )));
                }
            }
            known.push(name.clone());
        }
        for o in &objectives {
            if !known.contains(&o.metric) {
                let at = objectives_node.unwrap_or(root);
                return Err(ConfigError::at(
                    at,
                    "objectives",
                    format!(
                        "objective metric `{}` is not reported by the estimator",
                        o.metric
                    ),
                )
                .with_hint(modnas_core::config::choices_hint(
                    &o.metric,
                    &known.iter().map(String::as_str).collect::<Vec<_>>(),
                )));
            }
        }
    }

    let stop = match stop_node {
        Some(n) => StopCriteria::from_node(n, "stop")?,
        None => StopCriteria::default(),
    };
    if !stop.is_bounded() && !space.is_finite() {
        return Err(ConfigError::at(
            stop_node.unwrap_or(root),
            "stop",
            "no stop criterion, and the space is infinite: the search would never end",
        )
        .with_hint("set `stop: {max_trials: 100}` (or max_time, max_cost, target, patience)"));
    }
    let parallel = parallel.unwrap_or(1);
    if parallel == 0 || parallel > 1024 {
        let at = root.get("parallel").unwrap_or(root);
        return Err(ConfigError::at(
            at,
            "parallel",
            "`parallel` must be between 1 and 1024",
        ));
    }
    let journal = match journal_node {
        Some(n) => journal_from_node(n)?,
        None => JournalKind::Sqlite(modnas_store::Sync::Process),
    };
    let max_attempts = match retry_node {
        Some(n) => retry_from_node(n)?,
        None => DEFAULT_MAX_ATTEMPTS,
    };
    let prune_spec = prune_node
        .map(|n| ComponentSpec::parse(n, "prune"))
        .transpose()?;
    let pruner = prune_spec
        .as_ref()
        .map(|spec| {
            regs.prune.build(
                spec,
                &PruneContext {
                    seed: derive_seed(seed, "prune", 0),
                    objectives: objectives.len(),
                },
            )
        })
        .transpose()?
        // An optimizer that needs a particular pruner (BOHB: Hyperband) brings it when the
        // configuration sets none.
        .or_else(|| optimizer.companion_pruner());
    let mut identity = serde_json::json!({
        "seed": seed,
        "space": space.describe(),
        "optim": spec_json(&optim_spec, regs.optim.get(&optim_spec.name).map(|e| e.name)),
        "estim": spec_json(&estim_spec, regs.estim.get(&estim_spec.name).map(|e| e.name)),
        "objectives": objectives,
        "metrics": metrics_node.map(Node::to_json),
    });
    // Only runs that prune carry the key, so runs made before pruners existed still resume.
    if let (Some(spec), Some(m)) = (&prune_spec, identity.as_object_mut()) {
        m.insert(
            "prune".into(),
            spec_json(spec, regs.prune.get(&spec.name).map(|e| e.name)),
        );
    }
    without_operational(&mut identity);
    let mut resolved = root.to_json();
    if let Some(m) = resolved.as_object_mut() {
        m.insert("name".into(), serde_json::json!(name));
        m.insert("seed".into(), serde_json::json!(seed));
        m.insert(
            "objectives".into(),
            serde_json::to_value(&objectives).unwrap_or_default(),
        );
        m.insert(
            "stop".into(),
            serde_json::to_value(&stop).unwrap_or_default(),
        );
        m.insert("parallel".into(), serde_json::json!(parallel));
        m.insert(
            "retry".into(),
            serde_json::json!({"max_attempts": max_attempts}),
        );
    }
    Ok(Plan {
        name,
        seed,
        space,
        objectives: Objectives(objectives),
        optimizer,
        estimator,
        derived,
        stop,
        parallel,
        journal,
        report,
        max_attempts,
        pruner,
        identity,
        resolved,
    })
}

/// Estimator arguments that change how an evaluation is run or logged, not what it measures:
/// they are left out of the run's identity, so that a resumed run may change them.
pub const OPERATIONAL_ESTIM_ARGS: &[&str] = &[
    "keep_logs",
    "tail_lines",
    "timeout",
    "max_log_bytes",
    "max_line_bytes",
    "sleep",
];

/// Removes the operational estimator arguments from a run identity (`estim.args`), in place;
/// applied to stored identities too, so that runs started before an argument was operational
/// still resume.
pub fn without_operational(identity: &mut serde_json::Value) {
    if let Some(args) = identity
        .get_mut("estim")
        .and_then(|e| e.get_mut("args"))
        .and_then(|a| a.as_object_mut())
    {
        for k in OPERATIONAL_ESTIM_ARGS {
            args.remove(*k);
        }
    }
}

fn spec_json(s: &ComponentSpec, canonical: Option<&str>) -> serde_json::Value {
    serde_json::json!({"type": canonical.unwrap_or(&s.name), "args": s.args.to_json()})
}

/// The first place where two JSON values differ, as `(path, old, new)`.
pub fn first_difference(
    a: &serde_json::Value,
    b: &serde_json::Value,
    path: &str,
) -> Option<(String, String, String)> {
    use serde_json::Value as J;
    match (a, b) {
        (J::Object(x), J::Object(y)) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                match (x.get(k), y.get(k)) {
                    (Some(u), Some(v)) => {
                        if let Some(d) = first_difference(u, v, &p) {
                            return Some(d);
                        }
                    }
                    (u, v) => {
                        let show = |o: Option<&J>| {
                            o.map(|v| v.to_string())
                                .unwrap_or_else(|| "(absent)".into())
                        };
                        return Some((p, show(u), show(v)));
                    }
                }
            }
            None
        }
        (J::Array(x), J::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (u, v))| first_difference(u, v, &format!("{path}[{i}]"))),
        _ if a == b => None,
        _ => Some((path.to_string(), a.to_string(), b.to_string())),
    }
}

/// Default run name from the first configuration file.
pub fn name_from_file(p: &std::path::Path) -> String {
    p.file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .filter(|s| check_name(s).is_ok())
        .unwrap_or_else(|| "run".into())
}

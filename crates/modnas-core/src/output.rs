//! The files a search leaves in its run directory: `best.yaml` and `pareto.yaml`.

use crate::config::yaml::emit;
use crate::estimator::Estimator;
use crate::objective::Objectives;
use crate::param::ParamSpace;
use crate::trial::Trial;
use serde_json::{Value, json};
use std::path::Path;

/// A trial as written to `best.yaml` / `pareto.yaml`.
pub fn trial_summary(space: &ParamSpace, estimator: Option<&dyn Estimator>, t: &Trial) -> Value {
    let mut v = json!({
        "trial": t.number,
        "seed": t.seed,
        "params": Value::Object(space.to_json(&t.params)),
        "metrics": t.metrics,
    });
    if let Some(d) = estimator.and_then(|e| e.describe(space, &t.params)) {
        v["description"] = Value::String(d);
    }
    if let Some(c) = t.cost {
        v["cost"] = json!(c);
    }
    v
}

/// Writes `best.yaml` (and `pareto.yaml` when there are several objectives) atomically.
pub fn write_results(
    dir: &Path,
    space: &ParamSpace,
    objectives: &Objectives,
    estimator: Option<&dyn Estimator>,
    trials: &[Trial],
    best: Option<usize>,
    pareto: &[usize],
) -> std::io::Result<()> {
    if let Some(b) = best {
        let mut v = trial_summary(space, estimator, &trials[b]);
        v["objective"] = json!({"metric": objectives.primary().metric, "direction": objectives.primary().direction});
        write_atomic(&dir.join("best.yaml"), &emit(&v))?;
    }
    if objectives.len() > 1 {
        let mut front: Vec<&Trial> = pareto.iter().map(|&i| &trials[i]).collect();
        let m = &objectives.primary().metric;
        front.sort_by(|a, b| {
            a.metrics
                .get(m)
                .partial_cmp(&b.metrics.get(m))
                .unwrap_or(std::cmp::Ordering::Equal)
        });
        let v = json!({
            "objectives": objectives.0,
            "front": front.iter().map(|t| trial_summary(space, estimator, t)).collect::<Vec<_>>(),
        });
        write_atomic(&dir.join("pareto.yaml"), &emit(&v))?;
    }
    Ok(())
}

/// Writes a file through a temporary file and a rename, so readers never see half of it.
pub fn write_atomic(path: &Path, text: &str) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp~");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}

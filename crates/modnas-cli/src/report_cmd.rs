//! `modnas report RUN_DIR`: the HTML report of a run, from its journal.

use crate::error::CliError;
use modnas_core::estimator::Estimator;
use modnas_core::journal::Journal;
use modnas_core::objective::Objectives;
use modnas_core::param::ParamSpace;
use modnas_core::trial::{Step, Trial};
use modnas_store::SqliteJournal;
use std::collections::BTreeMap;
use std::path::Path;

/// Renders the report of a run.
#[cfg_attr(not(feature = "torch"), allow(dead_code))]
pub fn render(
    name: &str,
    space: &ParamSpace,
    objectives: &Objectives,
    trials: &[Trial],
    estimator: Option<&dyn Estimator>,
    facts: Vec<(String, String)>,
) -> String {
    let none = BTreeMap::new();
    render_with_steps(name, space, objectives, trials, &none, estimator, facts)
}

/// Renders the report of a run whose trials reported intermediate results.
pub fn render_with_steps(
    name: &str,
    space: &ParamSpace,
    objectives: &Objectives,
    trials: &[Trial],
    steps: &BTreeMap<u64, Vec<Step>>,
    estimator: Option<&dyn Estimator>,
    facts: Vec<(String, String)>,
) -> String {
    let describe =
        |a: &modnas_core::param::Assignment| estimator.and_then(|e| e.describe(space, a));
    modnas_report::render_html(&modnas_report::ReportInput {
        title: name.to_string(),
        space,
        objectives,
        trials,
        describe: &describe,
        facts,
        steps,
    })
}

/// Writes `report.html` (or `output`) for the run in `run_dir`.
pub fn report(run_dir: &Path, output: Option<&Path>) -> Result<(), CliError> {
    let path = run_dir.join("journal.sqlite");
    if !path.exists() {
        return Err(CliError::Usage(format!(
            "{} is not a run directory (no journal.sqlite)",
            run_dir.display()
        )));
    }
    let mut j = SqliteJournal::open_read_only(&path)?;
    let run = j
        .stored_run()?
        .ok_or_else(|| CliError::Runtime(format!("{} holds no run", path.display())))?;
    let (meta, space, objectives) = (run.meta, run.space, run.objectives);
    if objectives.is_empty() {
        return Err(CliError::Runtime("the run has no objectives".into()));
    }
    let (trials, _) = j.trials(&space)?;
    let steps = j.steps()?;
    let html = render_with_steps(
        &meta.name,
        &space,
        &objectives,
        &trials,
        &steps,
        None,
        vec![("seed".into(), meta.seed.to_string())],
    );
    let out = output
        .map(Path::to_path_buf)
        .unwrap_or_else(|| run_dir.join("report.html"));
    modnas_core::output::write_atomic(&out, &html)
        .map_err(|e| CliError::Runtime(format!("cannot write {}: {e}", out.display())))?;
    println!("wrote {} ({} trials)", out.display(), trials.len());
    Ok(())
}

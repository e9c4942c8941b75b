//! Export of a run into Optuna 5.0's RDB storage format, as an SQLite file that
//! `optuna.load_study(study_name=..., storage="sqlite:///FILE")` and `optuna-dashboard` open.
//!
//! [`Study::from_run`] maps the run (see there for the rules), [`write_sqlite`] writes it, and
//! [`export_journal`] does both for a run's journal.

mod datetime;
mod distribution;
mod error;
mod pyjson;
mod schema;
mod state;
mod study;
mod value;
mod write;

pub use datetime::sql_datetime;
pub use distribution::Distribution;
pub use error::OptunaExportError;
pub use schema::{ALEMBIC_REVISION, LIBRARY_VERSION, SCHEMA_VERSION};
pub use state::OptunaState;
pub use study::{AttrValue, RunData, Study, StudyTrial, TrialParam};
pub use value::StoredFloat;
pub use write::write_sqlite;

use crate::SqliteJournal;
use modnas_core::journal::Journal;
use std::path::Path;

/// What an export wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExportSummary {
    /// The study name.
    pub study: String,
    /// Number of trials.
    pub trials: usize,
    /// Number of objectives.
    pub objectives: usize,
}

/// Reads the run in `journal` and writes it to `out` as the study `study_name` (default: the
/// run's name); an existing `out` is replaced only when `overwrite`.
pub fn export_journal(
    journal: &mut SqliteJournal,
    out: &Path,
    study_name: Option<&str>,
    overwrite: bool,
) -> Result<ExportSummary, OptunaExportError> {
    let path = journal.path().to_path_buf();
    let run = journal.stored_run()?.ok_or_else(|| {
        OptunaExportError::Unsupported(format!("{} holds no run", path.display()))
    })?;
    let (meta, space, objectives) = (run.meta, run.space, run.objectives);
    let (trials, _) = journal.trials(&space)?;
    let steps = journal.steps()?;
    let name = study_name.unwrap_or(&meta.name);
    if name.is_empty() {
        return Err(OptunaExportError::Unsupported(
            "the study name is empty".into(),
        ));
    }
    let study = Study::from_run(&RunData {
        name,
        seed: meta.seed,
        space: &space,
        objectives: &objectives,
        trials: &trials,
        steps: &steps,
    })
    .map_err(|e| OptunaExportError::Unsupported(format!("{}: {e}", path.display())))?;
    write_sqlite(&study, out, overwrite)?;
    Ok(ExportSummary {
        study: study.name,
        trials: study.trials.len(),
        objectives: study.directions.len(),
    })
}

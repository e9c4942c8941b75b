//! `modnas export RUN_DIR --optuna FILE`: a run as an Optuna storage file.

use crate::error::CliError;
use modnas_store::SqliteJournal;
use modnas_store::optuna::{OptunaExportError, export_journal};
use std::path::Path;

/// Writes the run in `run_dir` to `out` in Optuna 5.0's SQLite storage format, as the study
/// `study` (default: the run's name); an existing `out` is replaced only with `force`.
pub fn export_optuna(
    run_dir: &Path,
    out: &Path,
    study: Option<&str>,
    force: bool,
) -> Result<(), CliError> {
    if !run_dir.is_dir() {
        return Err(CliError::Usage(format!(
            "{} is not a run directory (no such directory)",
            run_dir.display()
        )));
    }
    let path = run_dir.join("journal.sqlite");
    if !path.exists() {
        return Err(CliError::Usage(format!(
            "{} is not a run directory (no journal.sqlite)",
            run_dir.display()
        )));
    }
    if study.is_some_and(str::is_empty) {
        return Err(CliError::Usage("--study: the study name is empty".into()));
    }
    let mut journal = SqliteJournal::open_read_only(&path)?;
    let summary = export_journal(&mut journal, out, study, force).map_err(|e| match e {
        OptunaExportError::Exists(_) | OptunaExportError::NotAFile { .. } => {
            CliError::Usage(e.to_string())
        }
        OptunaExportError::Journal(j) => CliError::from(j),
        other => CliError::Runtime(other.to_string()),
    })?;
    println!(
        "wrote {} (Optuna study `{}`: {} trials, {} objective{}); open it with optuna.load_study(study_name={:?}, storage=\"sqlite:///{}\")",
        out.display(),
        summary.study,
        summary.trials,
        summary.objectives,
        if summary.objectives == 1 { "" } else { "s" },
        summary.study,
        out.display()
    );
    Ok(())
}

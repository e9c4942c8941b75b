//! Why an export to Optuna's storage failed.

use modnas_core::journal::JournalError;
use std::path::PathBuf;

/// Errors of the Optuna export.
#[derive(Debug, thiserror::Error)]
pub enum OptunaExportError {
    /// The output file exists and overwriting was not asked for.
    #[error("{} exists already (pass --force to overwrite it)", .0.display())]
    Exists(PathBuf),
    /// The output path names something that cannot be replaced by a file.
    #[error("{}: {reason}", path.display())]
    NotAFile {
        /// The output path.
        path: PathBuf,
        /// What it is instead.
        reason: String,
    },
    /// The run cannot be expressed as an Optuna study.
    #[error("{0}")]
    Unsupported(String),
    /// Reading the run's journal failed.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// Writing the SQLite file failed.
    #[error("cannot write {}: {reason}", path.display())]
    Write {
        /// The output path.
        path: PathBuf,
        /// What failed.
        reason: String,
    },
}

//! # modnas-store
//!
//! Durable trial journals implementing [`modnas_core::journal::Journal`]: an SQLite file (the
//! default, one per run directory) and the in-memory journal re-exported from the core.
//! The interface is the one a database shared by many machines implements: a trial table that is
//! also the work queue (claim, heartbeat, guarded finish, reap), plus the optimizer state.
//! [`optuna`] writes a run as an Optuna storage file (for Optuna's analysis and dashboard).
#![warn(missing_docs)]

mod locked;
pub mod optuna;
mod sqlite;
mod stored_run;

pub use locked::Locked;
pub use modnas_core::journal::MemoryJournal;
pub use sqlite::{RunLock, SqliteJournal, Sync, journal_mode_warning, lock_failure};
pub use stored_run::StoredRun;

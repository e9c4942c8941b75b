//! # modnas-store
//!
//! Durable trial journals implementing [`modnas_core::journal::Journal`]: an SQLite file (the
//! default, one per run directory), a PostgreSQL database shared by many runs and worker
//! machines ([`PgJournal`]), and the in-memory journal re-exported from the core.
//! The interface is a trial table that is also the work queue (claim, heartbeat, guarded
//! finish, reap), plus the optimizer state; [`open_journal`] picks the kind from a path or URL.
//! [`optuna`] writes a run as an Optuna storage file (for Optuna's analysis and dashboard).
#![warn(missing_docs)]

mod locked;
mod open;
pub mod optuna;
pub mod postgres;
mod sqlite;
mod stored_run;
#[cfg(feature = "test-server")]
pub mod test_server;

pub use locked::Locked;
pub use modnas_core::journal::MemoryJournal;
pub use open::{JournalOptions, open_journal};
pub use postgres::PgJournal;
pub use sqlite::{RunLock, SqliteJournal, Sync, journal_mode_warning, lock_failure};
pub use stored_run::StoredRun;

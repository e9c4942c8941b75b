//! Opening a run's journal from one string: a file path (SQLite) or a PostgreSQL URL.

use crate::postgres::{DEFAULT_LEASE, PgJournal, is_postgres_url};
use crate::sqlite::{SqliteJournal, Sync};
use modnas_core::journal::{Journal, JournalError};
use std::path::Path;
use std::time::Duration;

/// Settings of [`open_journal`] (each applies to one kind of journal only).
#[derive(Clone, Debug)]
pub struct JournalOptions {
    /// SQLite: how hard commits are pushed to disk.
    pub sync: Sync,
    /// PostgreSQL: how long a claim lives without a heartbeat.
    pub lease: Duration,
}

impl Default for JournalOptions {
    fn default() -> Self {
        JournalOptions {
            sync: Sync::Process,
            lease: DEFAULT_LEASE,
        }
    }
}

/// Opens the journal named by `spec`: a `postgresql://…` or `postgres://…` URL is the run
/// `run` in that database ([`PgJournal`]); anything else is the path of an SQLite file holding
/// one run ([`SqliteJournal`], locked against a second process; `run` is not used).
pub fn open_journal(
    spec: &str,
    run: &str,
    options: &JournalOptions,
) -> Result<Box<dyn Journal>, JournalError> {
    if is_postgres_url(spec) {
        Ok(Box::new(PgJournal::connect(spec, run, options.lease)?))
    } else {
        Ok(Box::new(SqliteJournal::open(
            Path::new(spec),
            options.sync,
        )?))
    }
}

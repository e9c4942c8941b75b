//! The PostgreSQL schema: a version table and the migrations that bring a database up to date.
//!
//! Many runs share one database; every table is keyed by the run's id (from `modnas_runs`, by
//! name). Migrations run in one transaction under an advisory lock, so processes starting at the
//! same time migrate once.

use super::connect::error_text;
use modnas_core::journal::JournalError;
use postgres::Client;

/// The schema version this code reads and writes.
pub const SCHEMA_VERSION: i32 = 1;

/// The advisory-lock key taken while migrating (any constant shared by all modnas processes).
const MIGRATION_LOCK: i64 = 0x6d6f_646e_6173;

/// Migration `k` (1-based) brings the schema from version `k - 1` to `k`.
const MIGRATIONS: &[&str] = &[
    // 1: runs, their key/value metadata, trials (also the work queue), steps, optimizer state.
    "CREATE TABLE modnas_runs (
        id BIGSERIAL PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        created_at TIMESTAMPTZ NOT NULL DEFAULT now()
     );
     CREATE TABLE modnas_run_meta (
        run_id BIGINT NOT NULL REFERENCES modnas_runs(id) ON DELETE CASCADE,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (run_id, key)
     );
     CREATE TABLE modnas_trials (
        run_id BIGINT NOT NULL REFERENCES modnas_runs(id) ON DELETE CASCADE,
        number BIGINT NOT NULL,
        state TEXT NOT NULL,
        params TEXT NOT NULL,
        seed BIGINT NOT NULL,
        metrics TEXT,
        cost DOUBLE PRECISION,
        error TEXT,
        attempts INTEGER NOT NULL DEFAULT 0,
        worker TEXT,
        created_at DOUBLE PRECISION NOT NULL,
        started_at DOUBLE PRECISION,
        finished_at DOUBLE PRECISION,
        heartbeat_at TIMESTAMPTZ,
        told_seq BIGINT,
        attrs TEXT,
        PRIMARY KEY (run_id, number)
     );
     CREATE INDEX modnas_trials_waiting ON modnas_trials (run_id, number) WHERE state = 'waiting';
     CREATE INDEX modnas_trials_lease ON modnas_trials (run_id, heartbeat_at) WHERE state = 'running';
     CREATE INDEX modnas_trials_told ON modnas_trials (run_id, told_seq) WHERE told_seq IS NOT NULL;
     CREATE TABLE modnas_steps (
        run_id BIGINT NOT NULL,
        number BIGINT NOT NULL,
        step BIGINT NOT NULL,
        metrics TEXT NOT NULL,
        PRIMARY KEY (run_id, number, step),
        FOREIGN KEY (run_id, number) REFERENCES modnas_trials(run_id, number) ON DELETE CASCADE
     );
     CREATE TABLE modnas_optimizer_state (
        run_id BIGINT PRIMARY KEY REFERENCES modnas_runs(id) ON DELETE CASCADE,
        state TEXT NOT NULL,
        updated_at TIMESTAMPTZ NOT NULL
     );",
];

fn db(e: postgres::Error) -> JournalError {
    JournalError::Storage(format!("PostgreSQL: {}", error_text(&e)))
}

/// Brings the schema up to [`SCHEMA_VERSION`]; refuses a database written by a newer modnas.
pub fn migrate(client: &mut Client) -> Result<(), JournalError> {
    debug_assert_eq!(MIGRATIONS.len(), SCHEMA_VERSION as usize);
    let mut tx = client.transaction().map_err(db)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .map_err(db)?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS modnas_schema_version (
            id INTEGER PRIMARY KEY CHECK (id = 0),
            version INTEGER NOT NULL
         )",
    )
    .map_err(db)?;
    let current: i32 = tx
        .query_opt(
            "SELECT version FROM modnas_schema_version WHERE id = 0",
            &[],
        )
        .map_err(db)?
        .map(|r| r.get(0))
        .unwrap_or(0);
    if current > SCHEMA_VERSION {
        return Err(JournalError::Mismatch(format!(
            "the database has modnas schema version {current}; this modnas reads version {SCHEMA_VERSION}"
        )));
    }
    for (k, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        tx.batch_execute(sql).map_err(db)?;
        let version = k as i32 + 1;
        tx.execute(
            "INSERT INTO modnas_schema_version (id, version) VALUES (0, $1)
             ON CONFLICT (id) DO UPDATE SET version = excluded.version",
            &[&version],
        )
        .map_err(db)?;
        tracing::debug!("PostgreSQL journal schema migrated to version {version}");
    }
    tx.commit().map_err(db)
}

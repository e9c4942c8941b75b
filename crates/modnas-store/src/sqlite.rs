//! The SQLite journal.

use modnas_core::journal::{
    Journal, JournalError, RunMeta, metrics_from_json, metrics_to_json, now, params_from_json,
    params_to_json,
};
use modnas_core::param::ParamSpace;
use modnas_core::trial::{Evaluation, NewTrial, Outcome, Step, Trial, TrialState};
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

const SCHEMA_VERSION: &str = "3";

/// How hard commits are pushed to disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sync {
    /// Survives a crash of the process (`synchronous=NORMAL` in WAL mode); the default.
    Process,
    /// Also survives a power loss (`synchronous=FULL`): an fsync per commit.
    Power,
}

/// A run's journal in one SQLite file, locked against a second process.
pub struct SqliteJournal {
    conn: Connection,
    path: PathBuf,
    _lock: Option<RunLock>,
}

fn db<E: std::fmt::Display>(e: E) -> JournalError {
    JournalError::Storage(e.to_string())
}

/// An exclusive lock on a run (the file `journal.lock` in its directory), held while the value
/// lives; a second process asking for it is refused instead of waiting.
#[derive(Debug)]
pub struct RunLock {
    _file: File,
    path: PathBuf,
}

impl RunLock {
    /// Takes the lock of the run directory `run_dir` (`journal.lock` in it).
    pub fn for_run(run_dir: &Path) -> Result<RunLock, JournalError> {
        Self::acquire(&run_dir.join("journal.lock"))
    }

    /// Takes the lock file `lock_path` (creating it and its directory if needed) and records
    /// this process's id in it.
    pub fn acquire(lock_path: &Path) -> Result<RunLock, JournalError> {
        let run_dir = run_dir_of(lock_path);
        std::fs::create_dir_all(run_dir).map_err(|e| {
            JournalError::Storage(format!("cannot create {}: {e}", run_dir.display()))
        })?;
        let lock_path = lock_path.to_path_buf();
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&lock_path)
            .map_err(|e| {
                JournalError::Storage(format!("cannot open {}: {e}", lock_path.display()))
            })?;
        if let Err(e) = file.try_lock() {
            let owner = std::fs::read_to_string(&lock_path).unwrap_or_default();
            return Err(lock_failure(e, &lock_path, run_dir, owner.trim()));
        }
        let _ = file.set_len(0);
        let _ = write!(file, "{}", std::process::id());
        Ok(RunLock {
            _file: file,
            path: lock_path,
        })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// What a failed attempt to lock `lock_path` means: only "would block" says that another process
/// holds the run; any other error (no lock support on the file system, say) is a storage error.
pub fn lock_failure(
    e: std::fs::TryLockError,
    lock_path: &Path,
    run_dir: &Path,
    owner: &str,
) -> JournalError {
    match e {
        std::fs::TryLockError::WouldBlock => JournalError::Busy(format!(
            "the run at {} is in use by another modnas process{}; wait for it to finish or stop it",
            run_dir.display(),
            if owner.is_empty() {
                String::new()
            } else {
                format!(" (pid {owner})")
            }
        )),
        std::fs::TryLockError::Error(e) => JournalError::Storage(format!(
            "cannot lock {}: {e} (the file system may not support file locks; put the runs directory on a local disk)",
            lock_path.display()
        )),
    }
}

/// The warning to give when SQLite did not switch to WAL mode (it answered `mode`).
pub fn journal_mode_warning(mode: &str, path: &Path) -> Option<String> {
    (!mode.eq_ignore_ascii_case("wal")).then(|| {
        format!(
            "{}: SQLite kept journal mode `{mode}` instead of `wal` (the file system may not support it); commits are safe against a crash of modnas but may not survive a power loss",
            path.display()
        )
    })
}

/// Checks read-only that an existing file at `path` is a database, before a writing connection
/// could change anything of a file that is not (such as deleting its `-wal` file on close).
fn probe(path: &Path) -> Result<(), JournalError> {
    if std::fs::metadata(path).map(|m| m.len()).unwrap_or(0) == 0 {
        return Ok(());
    }
    let Ok(conn) = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    ) else {
        return Ok(());
    };
    match conn.query_row("SELECT COUNT(*) FROM sqlite_master", [], |r| {
        r.get::<_, i64>(0)
    }) {
        Err(e) => match corrupt_or(e, path) {
            c @ JournalError::Corrupt(_) => Err(c),
            // Anything else is for the writing connection to report.
            _ => Ok(()),
        },
        Ok(_) => Ok(()),
    }
}

/// Opens the database at `path` with the run's settings and brings its schema up to date.
fn connect(path: &Path, sync: Sync) -> Result<Connection, JournalError> {
    probe(path)?;
    let mut conn = Connection::open(path)
        .map_err(|e| JournalError::Storage(format!("cannot open {}: {e}", path.display())))?;
    let mode: String = conn
        .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
        .map_err(|e| corrupt_or(e, path))?;
    if let Some(w) = journal_mode_warning(&mode, path) {
        tracing::warn!("{w}");
    }
    let sync_pragma = match sync {
        Sync::Process => "NORMAL",
        Sync::Power => "FULL",
    };
    conn.execute_batch(&format!(
        "PRAGMA synchronous={sync_pragma}; PRAGMA busy_timeout=10000; PRAGMA foreign_keys=ON;"
    ))
    .map_err(|e| corrupt_or(e, path))?;
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
         CREATE TABLE IF NOT EXISTS trials (
            number INTEGER PRIMARY KEY,
            state TEXT NOT NULL,
            params TEXT NOT NULL,
            seed INTEGER NOT NULL,
            metrics TEXT,
            cost REAL,
            error TEXT,
            attempts INTEGER NOT NULL DEFAULT 0,
            worker TEXT,
            created_at REAL NOT NULL,
            started_at REAL,
            finished_at REAL,
            heartbeat_at REAL,
            told_seq INTEGER,
            attrs TEXT
         );
         CREATE INDEX IF NOT EXISTS trials_by_state ON trials(state, number);
         CREATE INDEX IF NOT EXISTS trials_by_told ON trials(told_seq);
         CREATE TABLE IF NOT EXISTS optimizer_state (id INTEGER PRIMARY KEY CHECK (id = 0), state TEXT NOT NULL, updated_at REAL NOT NULL);
         CREATE TABLE IF NOT EXISTS steps (
            number INTEGER NOT NULL,
            step INTEGER NOT NULL,
            metrics TEXT NOT NULL,
            PRIMARY KEY (number, step)
         );",
    )
    .map_err(|e| corrupt_or(e, path))?;
    let version: Option<String> = conn
        .query_row(
            "SELECT value FROM meta WHERE key = 'schema_version'",
            [],
            |r| r.get(0),
        )
        .optional()
        .map_err(|e| corrupt_or(e, path))?;
    match version.as_deref() {
        None => {
            conn.execute(
                "INSERT INTO meta(key, value) VALUES ('schema_version', ?1)",
                [SCHEMA_VERSION],
            )
            .map_err(db)?;
        }
        Some(SCHEMA_VERSION) => {}
        // Version 1 had no `attrs` column, version 2 no `steps` table (created above, as
        // `CREATE TABLE IF NOT EXISTS`, for every version). The column and the version change
        // in one transaction; a file changed by an earlier version outside a transaction may
        // have the column already.
        Some(old @ ("1" | "2")) => {
            let tx = conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(db)?;
            let has_attrs: bool = tx
                .query_row(
                    "SELECT COUNT(*) > 0 FROM pragma_table_info('trials') WHERE name = 'attrs'",
                    [],
                    |r| r.get(0),
                )
                .map_err(db)?;
            if !has_attrs {
                tx.execute_batch("ALTER TABLE trials ADD COLUMN attrs TEXT;")
                    .map_err(db)?;
            }
            tx.execute(
                "UPDATE meta SET value = ?1 WHERE key = 'schema_version'",
                [SCHEMA_VERSION],
            )
            .map_err(db)?;
            tx.commit().map_err(db)?;
            tracing::debug!(
                "journal {} migrated from schema version {old} to {SCHEMA_VERSION}",
                path.display()
            );
        }
        Some(v) => {
            return Err(JournalError::Mismatch(format!(
                "{} has journal schema version {v}; this modnas reads version {SCHEMA_VERSION}",
                path.display()
            )));
        }
    }
    Ok(conn)
}

/// Renames a corrupt journal and its `-wal`/`-shm` files to `<name>.corrupt-<unix time>…`;
/// returns the new name of the main file.
fn set_aside(path: &Path) -> Result<PathBuf, JournalError> {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| "journal.sqlite".into());
    let sibling = |suffix: &str| path.with_file_name(format!("{name}{suffix}"));
    let mut stem = format!(".corrupt-{secs}");
    let mut k = 1;
    while ["", "-wal", "-shm"]
        .iter()
        .any(|s| sibling(&format!("{stem}{s}")).exists())
    {
        stem = format!(".corrupt-{secs}-{k}");
        k += 1;
    }
    for s in ["-wal", "-shm", ""] {
        let from = sibling(s);
        if from.exists() {
            let to = sibling(&format!("{stem}{s}"));
            std::fs::rename(&from, &to).map_err(|e| {
                JournalError::Storage(format!(
                    "cannot move {} to {}: {e}",
                    from.display(),
                    to.display()
                ))
            })?;
        }
    }
    Ok(sibling(&stem))
}

impl SqliteJournal {
    /// Opens (creating if needed) the journal at `path` for writing; a lock file next to it keeps
    /// a second process from running the same run at the same time.
    pub fn open(path: &Path, sync: Sync) -> Result<Self, JournalError> {
        let lock = RunLock::acquire(&path.with_extension("lock"))?;
        let conn = connect(path, sync)?;
        Ok(SqliteJournal {
            conn,
            path: path.to_path_buf(),
            _lock: Some(lock),
        })
    }

    /// Opens the journal at `path` for writing and deletes everything in it, to start the run
    /// over. A file that is not a valid journal is renamed to `<name>.corrupt-<unix time>` (with
    /// its `-wal` and `-shm` files) under the run lock, and a new journal is made; its new name
    /// is returned.
    pub fn open_fresh(path: &Path, sync: Sync) -> Result<(Self, Option<PathBuf>), JournalError> {
        let lock = RunLock::acquire(&path.with_extension("lock"))?;
        let attempt = |path: &Path| -> Result<Connection, JournalError> {
            let conn = connect(path, sync)?;
            reset_conn(&conn).map_err(|e| match e {
                JournalError::Storage(s) if s.contains("malformed") => JournalError::Corrupt(
                    format!("{} is not a valid journal ({s})", path.display()),
                ),
                other => other,
            })?;
            Ok(conn)
        };
        let (conn, aside) = match attempt(path) {
            Ok(c) => (c, None),
            Err(JournalError::Corrupt(_)) => {
                let aside = set_aside(path)?;
                (attempt(path)?, Some(aside))
            }
            Err(e) => return Err(e),
        };
        Ok((
            SqliteJournal {
                conn,
                path: path.to_path_buf(),
                _lock: Some(lock),
            },
            aside,
        ))
    }

    /// Opens an existing journal read-only (e.g. to report on a running search).
    pub fn open_read_only(path: &Path) -> Result<Self, JournalError> {
        if !path.exists() {
            return Err(JournalError::Storage(format!(
                "no journal at {}",
                path.display()
            )));
        }
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| JournalError::Storage(format!("cannot open {}: {e}", path.display())))?;
        conn.execute_batch("PRAGMA busy_timeout=10000;")
            .map_err(db)?;
        Ok(SqliteJournal {
            conn,
            path: path.to_path_buf(),
            _lock: None,
        })
    }

    /// Deletes every trial, the optimizer state and the run identity (the journal stays locked).
    pub fn reset(&mut self) -> Result<(), JournalError> {
        reset_conn(&self.conn)
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The stored run identity, if the run exists.
    pub fn run_meta(&mut self) -> Result<Option<RunMeta>, JournalError> {
        let get = |k: &str| -> Result<Option<String>, JournalError> {
            self.conn
                .query_row("SELECT value FROM meta WHERE key = ?1", [k], |r| r.get(0))
                .optional()
                .map_err(db)
        };
        let (Some(name), Some(seed), Some(config), Some(space)) =
            (get("name")?, get("seed")?, get("config")?, get("space")?)
        else {
            return Ok(None);
        };
        let parse =
            |t: &str| serde_json::from_str(t).map_err(|e| JournalError::Corrupt(e.to_string()));
        Ok(Some(RunMeta {
            name,
            seed: seed
                .parse()
                .map_err(|_| JournalError::Corrupt(format!("seed `{seed}`")))?,
            config: parse(&config)?,
            space: parse(&space)?,
        }))
    }

    fn set_state_tx(tx: &rusqlite::Transaction<'_>, state: &str) -> Result<(), JournalError> {
        tx.prepare_cached(
            "INSERT INTO optimizer_state(id, state, updated_at) VALUES (0, ?1, ?2)
             ON CONFLICT(id) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at",
        )
        .map_err(db)?
        .execute(params![state, now()])
        .map_err(db)?;
        Ok(())
    }
}

fn reset_conn(conn: &Connection) -> Result<(), JournalError> {
    conn.execute_batch(
        "BEGIN IMMEDIATE; DELETE FROM steps; DELETE FROM trials; DELETE FROM optimizer_state; DELETE FROM meta WHERE key <> 'schema_version'; COMMIT;",
    )
    .map_err(db)
}

/// The run directory of a journal file (its directory, or `.`).
fn run_dir_of(path: &Path) -> &Path {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

fn corrupt_or(e: rusqlite::Error, path: &Path) -> JournalError {
    let s = e.to_string();
    if s.contains("not a database") || s.contains("malformed") {
        JournalError::Corrupt(format!("{} is not a valid journal ({s})", path.display()))
    } else {
        JournalError::Storage(format!("{}: {s}", path.display()))
    }
}

fn row_to_trial(
    space: &ParamSpace,
    r: &rusqlite::Row<'_>,
) -> Result<(Trial, Option<i64>), JournalError> {
    let get_err = |e: rusqlite::Error| JournalError::Corrupt(e.to_string());
    let number: i64 = r.get(0).map_err(get_err)?;
    let state: String = r.get(1).map_err(get_err)?;
    let params_text: String = r.get(2).map_err(get_err)?;
    let seed: i64 = r.get(3).map_err(get_err)?;
    let metrics: Option<String> = r.get(4).map_err(get_err)?;
    let told_seq: Option<i64> = r.get(13).map_err(get_err)?;
    let attrs: Option<String> = r.get(14).map_err(get_err)?;
    let trial = Trial {
        number: number as u64,
        params: params_from_json(space, &params_text)?,
        seed: seed as u64,
        state: TrialState::parse(&state)
            .ok_or_else(|| JournalError::Corrupt(format!("trial state `{state}`")))?,
        metrics: match metrics {
            Some(m) => metrics_from_json(&m)?,
            None => Default::default(),
        },
        cost: r.get(5).map_err(get_err)?,
        error: r.get(6).map_err(get_err)?,
        attempts: r.get::<_, i64>(7).map_err(get_err)? as u32,
        worker: r.get(8).map_err(get_err)?,
        created_at: r.get(9).map_err(get_err)?,
        started_at: r.get(10).map_err(get_err)?,
        finished_at: r.get(11).map_err(get_err)?,
        told: told_seq.is_some(),
        attrs: match attrs {
            Some(a) => serde_json::from_str(&a)
                .map_err(|e| JournalError::Corrupt(format!("trial attributes: {e}")))?,
            None => serde_json::Value::Null,
        },
    };
    Ok((trial, told_seq))
}

const TRIAL_COLUMNS: &str = "number, state, params, seed, metrics, cost, error, attempts, worker, created_at, started_at, finished_at, heartbeat_at, told_seq, attrs";

impl Journal for SqliteJournal {
    fn open(&mut self, meta: &RunMeta) -> Result<Option<RunMeta>, JournalError> {
        if let Some(m) = self.run_meta()? {
            return Ok(Some(m));
        }
        let tx = self.conn.transaction().map_err(db)?;
        for (k, v) in [
            ("name", meta.name.clone()),
            ("seed", meta.seed.to_string()),
            ("config", meta.config.to_string()),
            ("space", meta.space.to_string()),
            ("created_at", now().to_string()),
        ] {
            tx.execute(
                "INSERT OR REPLACE INTO meta(key, value) VALUES (?1, ?2)",
                params![k, v],
            )
            .map_err(db)?;
        }
        tx.commit().map_err(db)?;
        Ok(None)
    }

    fn reap(&mut self) -> Result<Vec<u64>, JournalError> {
        // The run lock guarantees that no other process is evaluating: every running trial was
        // left behind by a process that died.
        let mut stmt = self
            .conn
            .prepare_cached("UPDATE trials SET state = 'waiting', worker = NULL WHERE state = 'running' RETURNING number")
            .map_err(db)?;
        let rows = stmt.query_map([], |r| r.get::<_, i64>(0)).map_err(db)?;
        let mut out = Vec::new();
        for r in rows {
            out.push(r.map_err(db)? as u64);
        }
        out.sort_unstable();
        Ok(out)
    }

    fn create(
        &mut self,
        space: &ParamSpace,
        trials: &[NewTrial],
        optimizer_state: &str,
    ) -> Result<Vec<u64>, JournalError> {
        let space_less = trials.is_empty();
        let tx = self.conn.transaction().map_err(db)?;
        let start: i64 = tx
            .query_row(
                "SELECT COALESCE(MAX(number), -1) + 1 FROM trials",
                [],
                |r| r.get(0),
            )
            .map_err(db)?;
        let mut numbers = Vec::with_capacity(trials.len());
        {
            let mut ins = tx
                .prepare_cached("INSERT INTO trials(number, state, params, seed, created_at) VALUES (?1, 'waiting', ?2, ?3, ?4)")
                .map_err(db)?;
            let t_now = now();
            for (i, t) in trials.iter().enumerate() {
                let n = start + i as i64;
                ins.execute(params![
                    n,
                    params_to_json(space, &t.params),
                    t.seed as i64,
                    t_now
                ])
                .map_err(db)?;
                numbers.push(n as u64);
            }
        }
        if !space_less {
            Self::set_state_tx(&tx, optimizer_state)?;
        }
        tx.commit().map_err(db)?;
        Ok(numbers)
    }

    fn claim(&mut self, space: &ParamSpace, worker: &str) -> Result<Option<Trial>, JournalError> {
        let t = now();
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(db)?;
        let claimed = {
            let mut stmt = tx
                .prepare_cached(&format!(
                    "UPDATE trials SET state = 'running', worker = ?1, attempts = attempts + 1, started_at = ?2, heartbeat_at = ?2
                     WHERE number = (SELECT number FROM trials WHERE state = 'waiting' ORDER BY number LIMIT 1)
                     RETURNING {TRIAL_COLUMNS}"
                ))
                .map_err(db)?;
            let mut rows = stmt.query(params![worker, t]).map_err(db)?;
            match rows.next().map_err(db)? {
                Some(r) => Some(row_to_trial(space, r)?.0),
                None => None,
            }
        };
        tx.commit().map_err(db)?;
        Ok(claimed)
    }

    fn heartbeat(&mut self, number: u64, worker: &str) -> Result<(), JournalError> {
        self.conn
            .prepare_cached("UPDATE trials SET heartbeat_at = ?1 WHERE number = ?2 AND worker = ?3 AND state = 'running'")
            .map_err(db)?
            .execute(params![now(), number as i64, worker])
            .map_err(db)?;
        Ok(())
    }

    fn finish(
        &mut self,
        number: u64,
        worker: &str,
        outcome: &Outcome,
    ) -> Result<bool, JournalError> {
        let t = now();
        let n = match outcome {
            Outcome::Complete(ev) | Outcome::Pruned(ev) => {
                let Evaluation {
                    metrics,
                    cost,
                    attrs,
                } = ev;
                let state = if matches!(outcome, Outcome::Pruned(_)) {
                    TrialState::Pruned
                } else {
                    TrialState::Complete
                };
                self.conn
                    .prepare_cached(
                        "UPDATE trials SET state = ?7, metrics = ?1, cost = ?2, error = NULL, finished_at = ?3, attrs = ?6
                         WHERE number = ?4 AND worker = ?5 AND state = 'running'",
                    )
                    .map_err(db)?
                    .execute(params![
                        metrics_to_json(metrics),
                        cost,
                        t,
                        number as i64,
                        worker,
                        (!attrs.is_null()).then(|| attrs.to_string()),
                        state.as_str()
                    ])
                    .map_err(db)?
            }
            Outcome::Failed(reason) => self
                .conn
                .prepare_cached(
                    "UPDATE trials SET state = 'failed', error = ?1, finished_at = ?2
                     WHERE number = ?3 AND worker = ?4 AND state = 'running'",
                )
                .map_err(db)?
                .execute(params![reason, t, number as i64, worker])
                .map_err(db)?,
            Outcome::FailedWithMetrics { reason, metrics } => self
                .conn
                .prepare_cached(
                    "UPDATE trials SET state = 'failed', error = ?1, metrics = ?2, finished_at = ?3
                     WHERE number = ?4 AND worker = ?5 AND state = 'running'",
                )
                .map_err(db)?
                .execute(params![
                    reason,
                    metrics_to_json(metrics),
                    t,
                    number as i64,
                    worker
                ])
                .map_err(db)?,
        };
        Ok(n == 1)
    }

    fn record_steps(
        &mut self,
        number: u64,
        worker: &str,
        steps: &[Step],
    ) -> Result<bool, JournalError> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(db)?;
        let claimed: bool = tx
            .query_row(
                "SELECT COUNT(*) > 0 FROM trials WHERE number = ?1 AND worker = ?2 AND state = 'running'",
                params![number as i64, worker],
                |r| r.get(0),
            )
            .map_err(db)?;
        if !claimed {
            return Ok(false);
        }
        tx.execute("DELETE FROM steps WHERE number = ?1", [number as i64])
            .map_err(db)?;
        {
            let mut ins = tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO steps(number, step, metrics) VALUES (?1, ?2, ?3)",
                )
                .map_err(db)?;
            for s in steps {
                let step = i64::try_from(s.step).map_err(|_| {
                    JournalError::Storage(format!("step {} is too large to store", s.step))
                })?;
                ins.execute(params![number as i64, step, metrics_to_json(&s.metrics)])
                    .map_err(db)?;
            }
        }
        tx.commit().map_err(db)?;
        Ok(true)
    }

    fn steps(&mut self) -> Result<BTreeMap<u64, Vec<Step>>, JournalError> {
        // A read-only connection to a journal older than version 3 has no steps table.
        let has_table: bool = self
            .conn
            .query_row(
                "SELECT COUNT(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'steps'",
                [],
                |r| r.get(0),
            )
            .map_err(db)?;
        let mut out: BTreeMap<u64, Vec<Step>> = BTreeMap::new();
        if !has_table {
            return Ok(out);
        }
        let mut stmt = self
            .conn
            .prepare_cached("SELECT number, step, metrics FROM steps ORDER BY number, step")
            .map_err(db)?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, String>(2)?,
                ))
            })
            .map_err(db)?;
        for row in rows {
            let (n, step, m) = row.map_err(db)?;
            out.entry(n as u64).or_default().push(Step {
                step: step as u64,
                metrics: metrics_from_json(&m)?,
            });
        }
        Ok(out)
    }

    fn release(&mut self, number: u64, worker: &str) -> Result<(), JournalError> {
        self.conn
            .prepare_cached("UPDATE trials SET state = 'waiting', worker = NULL, attempts = MAX(attempts - 1, 0) WHERE number = ?1 AND worker = ?2 AND state = 'running'")
            .map_err(db)?
            .execute(params![number as i64, worker])
            .map_err(db)?;
        Ok(())
    }

    fn give_up(&mut self, number: u64, reason: &str) -> Result<bool, JournalError> {
        let n = self
            .conn
            .prepare_cached(
                "UPDATE trials SET state = 'failed', error = ?1, finished_at = ?2 WHERE number = ?3 AND state = 'waiting'",
            )
            .map_err(db)?
            .execute(params![reason, now(), number as i64])
            .map_err(db)?;
        Ok(n == 1)
    }

    fn mark_told(&mut self, numbers: &[u64], optimizer_state: &str) -> Result<(), JournalError> {
        let tx = self.conn.transaction().map_err(db)?;
        {
            let next: i64 = tx
                .query_row(
                    "SELECT COALESCE(MAX(told_seq), -1) + 1 FROM trials",
                    [],
                    |r| r.get(0),
                )
                .map_err(db)?;
            let mut upd = tx
                .prepare_cached(
                    "UPDATE trials SET told_seq = ?1 WHERE number = ?2 AND told_seq IS NULL",
                )
                .map_err(db)?;
            for (k, &n) in numbers.iter().enumerate() {
                upd.execute(params![next + k as i64, n as i64])
                    .map_err(db)?;
            }
        }
        Self::set_state_tx(&tx, optimizer_state)?;
        tx.commit().map_err(db)
    }

    fn optimizer_state(&mut self) -> Result<Option<String>, JournalError> {
        self.conn
            .query_row("SELECT state FROM optimizer_state WHERE id = 0", [], |r| {
                r.get(0)
            })
            .optional()
            .map_err(db)
    }

    fn trials(&mut self, space: &ParamSpace) -> Result<(Vec<Trial>, Vec<u64>), JournalError> {
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "SELECT {TRIAL_COLUMNS} FROM trials ORDER BY number"
            ))
            .map_err(db)?;
        let mut rows = stmt.query([]).map_err(db)?;
        let mut trials = Vec::new();
        let mut told: Vec<(i64, u64)> = Vec::new();
        while let Some(r) = rows.next().map_err(db)? {
            let (t, seq) = row_to_trial(space, r)?;
            if t.number as usize != trials.len() {
                return Err(JournalError::Corrupt(format!(
                    "trial numbers are not contiguous at {}",
                    t.number
                )));
            }
            if let Some(s) = seq {
                told.push((s, t.number));
            }
            trials.push(t);
        }
        told.sort_unstable();
        Ok((trials, told.into_iter().map(|(_, n)| n).collect()))
    }

    fn count(&mut self) -> Result<u64, JournalError> {
        let n: i64 = self
            .conn
            .query_row(
                "SELECT COALESCE(MAX(number), -1) + 1 FROM trials",
                [],
                |r| r.get(0),
            )
            .map_err(db)?;
        Ok(n as u64)
    }

    fn get_meta(&mut self, key: &str) -> Result<Option<String>, JournalError> {
        self.conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()
            .map_err(db)
    }

    fn set_meta(&mut self, key: &str, value: &str) -> Result<(), JournalError> {
        self.conn
            .prepare_cached("INSERT OR REPLACE INTO meta(key, value) VALUES (?1, ?2)")
            .map_err(db)?
            .execute(params![key, value])
            .map_err(db)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_would_block_means_in_use() {
        let lock = Path::new("/runs/r/journal.lock");
        let run = Path::new("/runs/r");
        match lock_failure(std::fs::TryLockError::WouldBlock, lock, run, "42") {
            JournalError::Busy(m) => {
                assert!(
                    m.contains("in use by another modnas process (pid 42)"),
                    "{m}"
                )
            }
            other => panic!("{other:?}"),
        }
        for errno in [
            37, /* ENOLCK */
            95, /* EOPNOTSUPP */
            38, /* ENOSYS */
        ] {
            let e = std::io::Error::from_raw_os_error(errno);
            let text = e.to_string();
            match lock_failure(std::fs::TryLockError::Error(e), lock, run, "42") {
                JournalError::Storage(m) => {
                    assert!(m.contains("/runs/r/journal.lock"), "{m}");
                    assert!(m.contains(&text), "{m}");
                    assert!(!m.contains("in use"), "{m}");
                }
                other => panic!("errno {errno}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_journal_mode_other_than_wal_is_warned_about() {
        let p = Path::new("j.sqlite");
        assert_eq!(journal_mode_warning("wal", p), None);
        assert_eq!(journal_mode_warning("WAL", p), None);
        let w = journal_mode_warning("delete", p).unwrap();
        assert!(w.contains("j.sqlite") && w.contains("`delete`"), "{w}");
    }

    #[test]
    fn the_lock_file_records_the_holder_and_refuses_a_second() {
        let dir = tempfile::tempdir().unwrap();
        let l = RunLock::for_run(dir.path()).unwrap();
        assert_eq!(
            std::fs::read_to_string(l.path()).unwrap(),
            std::process::id().to_string()
        );
        assert!(matches!(
            RunLock::for_run(dir.path()),
            Err(JournalError::Busy(_))
        ));
        drop(l);
        assert!(RunLock::for_run(dir.path()).is_ok());
    }
}

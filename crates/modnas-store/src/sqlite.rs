//! The SQLite journal.

use modnas_core::journal::{
    Journal, JournalError, RunMeta, metrics_from_json, metrics_to_json, now, params_from_json,
    params_to_json,
};
use modnas_core::param::ParamSpace;
use modnas_core::trial::{Evaluation, NewTrial, Outcome, Trial, TrialState};
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

const SCHEMA_VERSION: &str = "2";

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
    _lock: Option<File>,
}

fn db<E: std::fmt::Display>(e: E) -> JournalError {
    JournalError::Storage(e.to_string())
}

impl SqliteJournal {
    /// Opens (creating if needed) the journal at `path` for writing; a lock file next to it keeps
    /// a second process from running the same run at the same time.
    pub fn open(path: &Path, sync: Sync) -> Result<Self, JournalError> {
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir).map_err(|e| {
                JournalError::Storage(format!("cannot create {}: {e}", dir.display()))
            })?;
        }
        let lock_path = path.with_extension("lock");
        let mut lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&lock_path)
            .map_err(|e| {
                JournalError::Storage(format!("cannot open {}: {e}", lock_path.display()))
            })?;
        if lock.try_lock().is_err() {
            let owner = std::fs::read_to_string(&lock_path).unwrap_or_default();
            return Err(JournalError::Busy(format!(
                "the run at {} is in use by another modnas process{}; wait for it to finish or stop it",
                path.parent().unwrap_or(path).display(),
                if owner.trim().is_empty() {
                    String::new()
                } else {
                    format!(" (pid {})", owner.trim())
                }
            )));
        }
        let _ = lock.set_len(0);
        let _ = write!(lock, "{}", std::process::id());
        let conn = Connection::open(path)
            .map_err(|e| JournalError::Storage(format!("cannot open {}: {e}", path.display())))?;
        let sync_pragma = match sync {
            Sync::Process => "NORMAL",
            Sync::Power => "FULL",
        };
        conn.execute_batch(&format!(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous={sync_pragma}; PRAGMA busy_timeout=10000; PRAGMA foreign_keys=ON;"
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
             CREATE TABLE IF NOT EXISTS optimizer_state (id INTEGER PRIMARY KEY CHECK (id = 0), state TEXT NOT NULL, updated_at REAL NOT NULL);",
        )
        .map_err(|e| corrupt_or(e, path))?;
        let version: Option<String> = conn
            .query_row(
                "SELECT value FROM meta WHERE key = 'schema_version'",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(db)?;
        match version.as_deref() {
            None => {
                conn.execute(
                    "INSERT INTO meta(key, value) VALUES ('schema_version', ?1)",
                    [SCHEMA_VERSION],
                )
                .map_err(db)?;
            }
            Some(SCHEMA_VERSION) => {}
            // Version 1 had no `attrs` column.
            Some("1") => {
                conn.execute_batch("ALTER TABLE trials ADD COLUMN attrs TEXT; UPDATE meta SET value = '2' WHERE key = 'schema_version';")
                    .map_err(db)?;
            }
            Some(v) => {
                return Err(JournalError::Mismatch(format!(
                    "{} has journal schema version {v}; this modnas reads version {SCHEMA_VERSION}",
                    path.display()
                )));
            }
        }
        Ok(SqliteJournal {
            conn,
            path: path.to_path_buf(),
            _lock: Some(lock),
        })
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
        self.conn
            .execute_batch(
                "BEGIN IMMEDIATE; DELETE FROM trials; DELETE FROM optimizer_state; DELETE FROM meta WHERE key <> 'schema_version'; COMMIT;",
            )
            .map_err(db)
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
            Outcome::Complete(Evaluation { metrics, cost, attrs }) => self
                .conn
                .prepare_cached(
                    "UPDATE trials SET state = 'complete', metrics = ?1, cost = ?2, error = NULL, finished_at = ?3, attrs = ?6
                     WHERE number = ?4 AND worker = ?5 AND state = 'running'",
                )
                .map_err(db)?
                .execute(params![metrics_to_json(metrics), cost, t, number as i64, worker, (!attrs.is_null()).then(|| attrs.to_string())])
                .map_err(db)?,
            Outcome::Failed(reason) => self
                .conn
                .prepare_cached(
                    "UPDATE trials SET state = 'failed', error = ?1, finished_at = ?2
                     WHERE number = ?3 AND worker = ?4 AND state = 'running'",
                )
                .map_err(db)?
                .execute(params![reason, t, number as i64, worker])
                .map_err(db)?,
        };
        Ok(n == 1)
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

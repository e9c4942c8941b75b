//! [`PgJournal`]: the [`Journal`] of one run in a PostgreSQL database.

use super::connect::{ConnSpec, Target, error_text};
use super::row::{TRIAL_COLUMNS, to_trial};
use super::schema;
use modnas_core::journal::{Journal, JournalError, RunMeta, metrics_to_json, now, params_to_json};
use modnas_core::param::ParamSpace;
use modnas_core::trial::{Evaluation, NewTrial, Outcome, Step, Trial, TrialState};
use postgres::Client;
use std::collections::BTreeMap;
use std::time::Duration;

/// The lease length used unless told otherwise: a worker that sent no heartbeat for this long is
/// considered gone, and its trial is re-queued by the next [`Journal::reap`].
pub const DEFAULT_LEASE: Duration = Duration::from_secs(120);

/// The server's clock as Unix seconds.
const NOW_EPOCH: &str = "EXTRACT(EPOCH FROM now())::DOUBLE PRECISION";

/// One run's journal in a PostgreSQL database (one connection; open one per worker thread).
pub struct PgJournal {
    client: Client,
    run_id: i64,
    run: String,
    lease: Duration,
    target: Target,
}

fn db(e: postgres::Error) -> JournalError {
    JournalError::Storage(format!("PostgreSQL: {}", error_text(&e)))
}

fn to_i64(n: u64) -> Result<i64, JournalError> {
    i64::try_from(n).map_err(|_| JournalError::Storage(format!("number {n} is too large to store")))
}

impl PgJournal {
    /// Connects to the database named by `spec` (a `postgresql://` URL or a libpq keyword
    /// string), brings its schema up to date, and opens the run `run` (creating its row if new).
    /// `lease` is how long a claim lives without a heartbeat.
    pub fn connect(spec: &str, run: &str, lease: Duration) -> Result<Self, JournalError> {
        let conn = ConnSpec::parse(spec)?;
        let mut client = conn.connect()?;
        let target = conn.target().clone();
        let on = |e: JournalError| match e {
            JournalError::Storage(s) => JournalError::Storage(format!("{target}: {s}")),
            other => other,
        };
        schema::migrate(&mut client).map_err(on)?;
        let row = client
            .query_one(
                "INSERT INTO modnas_runs (name) VALUES ($1)
                 ON CONFLICT (name) DO UPDATE SET name = excluded.name
                 RETURNING id",
                &[&run],
            )
            .map_err(|e| on(db(e)))?;
        Ok(PgJournal {
            client,
            run_id: row.get(0),
            run: run.to_string(),
            lease,
            target,
        })
    }

    /// The run's name.
    pub fn run(&self) -> &str {
        &self.run
    }

    /// Where the database is (printable; no password).
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// The lease length.
    pub fn lease(&self) -> Duration {
        self.lease
    }

    /// Deletes every trial, step, the optimizer state and the identity of this run (other runs
    /// in the database are untouched).
    pub fn reset(&mut self) -> Result<(), JournalError> {
        let id = self.run_id;
        let mut tx = self.client.transaction().map_err(db)?;
        tx.execute(
            "SELECT id FROM modnas_runs WHERE id = $1 FOR UPDATE",
            &[&id],
        )
        .map_err(db)?;
        tx.execute("DELETE FROM modnas_steps WHERE run_id = $1", &[&id])
            .map_err(db)?;
        tx.execute("DELETE FROM modnas_trials WHERE run_id = $1", &[&id])
            .map_err(db)?;
        tx.execute(
            "DELETE FROM modnas_optimizer_state WHERE run_id = $1",
            &[&id],
        )
        .map_err(db)?;
        tx.execute("DELETE FROM modnas_run_meta WHERE run_id = $1", &[&id])
            .map_err(db)?;
        tx.commit().map_err(db)
    }

    /// The stored run identity, if the run was opened before.
    pub fn run_meta(&mut self) -> Result<Option<RunMeta>, JournalError> {
        let rows = self
            .client
            .query(
                "SELECT key, value FROM modnas_run_meta WHERE run_id = $1 AND key IN ('name', 'seed', 'config', 'space')",
                &[&self.run_id],
            )
            .map_err(db)?;
        let kv: BTreeMap<String, String> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
        let (Some(name), Some(seed), Some(config), Some(space)) = (
            kv.get("name"),
            kv.get("seed"),
            kv.get("config"),
            kv.get("space"),
        ) else {
            return Ok(None);
        };
        let parse =
            |t: &str| serde_json::from_str(t).map_err(|e| JournalError::Corrupt(e.to_string()));
        Ok(Some(RunMeta {
            name: name.clone(),
            seed: seed
                .parse()
                .map_err(|_| JournalError::Corrupt(format!("seed `{seed}`")))?,
            config: parse(config)?,
            space: parse(space)?,
        }))
    }

    /// Locks the run's row until the transaction ends: serialises the writers that number
    /// things (trials, told order).
    fn lock_run(tx: &mut postgres::Transaction<'_>, id: i64) -> Result<(), JournalError> {
        tx.execute(
            "SELECT id FROM modnas_runs WHERE id = $1 FOR UPDATE",
            &[&id],
        )
        .map_err(db)?;
        Ok(())
    }

    fn set_state_tx(
        tx: &mut postgres::Transaction<'_>,
        id: i64,
        state: &str,
    ) -> Result<(), JournalError> {
        tx.execute(
            "INSERT INTO modnas_optimizer_state (run_id, state, updated_at) VALUES ($1, $2, now())
             ON CONFLICT (run_id) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at",
            &[&id, &state],
        )
        .map_err(db)?;
        Ok(())
    }
}

impl Journal for PgJournal {
    fn open(&mut self, meta: &RunMeta) -> Result<Option<RunMeta>, JournalError> {
        if let Some(m) = self.run_meta()? {
            return Ok(Some(m));
        }
        let id = self.run_id;
        let mut tx = self.client.transaction().map_err(db)?;
        Self::lock_run(&mut tx, id)?;
        let exists = tx
            .query_opt(
                "SELECT 1 FROM modnas_run_meta WHERE run_id = $1 AND key = 'name'",
                &[&id],
            )
            .map_err(db)?
            .is_some();
        if !exists {
            for (k, v) in [
                ("name", meta.name.clone()),
                ("seed", meta.seed.to_string()),
                ("config", meta.config.to_string()),
                ("space", meta.space.to_string()),
                ("created_at", now().to_string()),
            ] {
                tx.execute(
                    "INSERT INTO modnas_run_meta (run_id, key, value) VALUES ($1, $2, $3)
                     ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value",
                    &[&id, &k, &v],
                )
                .map_err(db)?;
            }
        }
        tx.commit().map_err(db)?;
        if exists {
            // Another process created it between the two reads.
            return self.run_meta();
        }
        Ok(None)
    }

    fn reap(&mut self) -> Result<Vec<u64>, JournalError> {
        let lease = self.lease.as_secs_f64();
        let rows = self
            .client
            .query(
                "UPDATE modnas_trials SET state = 'waiting', worker = NULL
                 WHERE run_id = $1 AND state = 'running'
                   AND heartbeat_at <= now() - make_interval(secs => $2)
                 RETURNING number",
                &[&self.run_id, &lease],
            )
            .map_err(db)?;
        let mut out: Vec<u64> = rows.iter().map(|r| r.get::<_, i64>(0) as u64).collect();
        out.sort_unstable();
        Ok(out)
    }

    fn create(
        &mut self,
        space: &ParamSpace,
        trials: &[NewTrial],
        optimizer_state: &str,
    ) -> Result<Vec<u64>, JournalError> {
        let id = self.run_id;
        let mut tx = self.client.transaction().map_err(db)?;
        Self::lock_run(&mut tx, id)?;
        let start: i64 = tx
            .query_one(
                "SELECT COALESCE(MAX(number), -1) + 1 FROM modnas_trials WHERE run_id = $1",
                &[&id],
            )
            .map_err(db)?
            .get(0);
        let mut numbers = Vec::with_capacity(trials.len());
        if !trials.is_empty() {
            let ins = tx
                .prepare(&format!(
                    "INSERT INTO modnas_trials (run_id, number, state, params, seed, created_at)
                     VALUES ($1, $2, 'waiting', $3, $4, {NOW_EPOCH})"
                ))
                .map_err(db)?;
            for (i, t) in trials.iter().enumerate() {
                let n = start + i as i64;
                let params = params_to_json(space, &t.params);
                let seed = t.seed as i64;
                tx.execute(&ins, &[&id, &n, &params, &seed]).map_err(db)?;
                numbers.push(n as u64);
            }
            Self::set_state_tx(&mut tx, id, optimizer_state)?;
        }
        tx.commit().map_err(db)?;
        Ok(numbers)
    }

    fn claim(&mut self, space: &ParamSpace, worker: &str) -> Result<Option<Trial>, JournalError> {
        let row = self
            .client
            .query_opt(
                &format!(
                    "UPDATE modnas_trials
                     SET state = 'running', worker = $2, attempts = attempts + 1,
                         started_at = {NOW_EPOCH}, heartbeat_at = now()
                     WHERE run_id = $1 AND number = (
                         SELECT number FROM modnas_trials
                         WHERE run_id = $1 AND state = 'waiting'
                         ORDER BY number LIMIT 1
                         FOR UPDATE SKIP LOCKED)
                     RETURNING {TRIAL_COLUMNS}"
                ),
                &[&self.run_id, &worker],
            )
            .map_err(db)?;
        match row {
            Some(r) => Ok(Some(to_trial(space, &r)?.0)),
            None => Ok(None),
        }
    }

    fn heartbeat(&mut self, number: u64, worker: &str) -> Result<(), JournalError> {
        self.client
            .execute(
                "UPDATE modnas_trials SET heartbeat_at = now()
                 WHERE run_id = $1 AND number = $2 AND worker = $3 AND state = 'running'",
                &[&self.run_id, &to_i64(number)?, &worker],
            )
            .map_err(db)?;
        Ok(())
    }

    fn finish(
        &mut self,
        number: u64,
        worker: &str,
        outcome: &Outcome,
    ) -> Result<bool, JournalError> {
        let (id, n) = (self.run_id, to_i64(number)?);
        let guard = "WHERE run_id = $1 AND number = $2 AND worker = $3 AND state = 'running'";
        let changed = match outcome {
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
                let attrs = (!attrs.is_null()).then(|| attrs.to_string());
                self.client
                    .execute(
                        &format!(
                            "UPDATE modnas_trials SET state = $4, metrics = $5, cost = $6, error = NULL,
                             attrs = $7, finished_at = {NOW_EPOCH} {guard}"
                        ),
                        &[
                            &id,
                            &n,
                            &worker,
                            &state.as_str(),
                            &metrics_to_json(metrics),
                            cost,
                            &attrs,
                        ],
                    )
                    .map_err(db)?
            }
            Outcome::Failed(reason) => self
                .client
                .execute(
                    &format!(
                        "UPDATE modnas_trials SET state = 'failed', error = $4, finished_at = {NOW_EPOCH} {guard}"
                    ),
                    &[&id, &n, &worker, reason],
                )
                .map_err(db)?,
            Outcome::FailedWithMetrics { reason, metrics } => self
                .client
                .execute(
                    &format!(
                        "UPDATE modnas_trials SET state = 'failed', error = $4, metrics = $5,
                         finished_at = {NOW_EPOCH} {guard}"
                    ),
                    &[&id, &n, &worker, reason, &metrics_to_json(metrics)],
                )
                .map_err(db)?,
        };
        Ok(changed == 1)
    }

    fn record_steps(
        &mut self,
        number: u64,
        worker: &str,
        steps: &[Step],
    ) -> Result<bool, JournalError> {
        let (id, n) = (self.run_id, to_i64(number)?);
        let mut tx = self.client.transaction().map_err(db)?;
        // Locking the trial row keeps a reap (or another worker's claim) from slipping in
        // between the check and the write.
        let claimed = tx
            .query_opt(
                "SELECT 1 FROM modnas_trials
                 WHERE run_id = $1 AND number = $2 AND worker = $3 AND state = 'running'
                 FOR UPDATE",
                &[&id, &n, &worker],
            )
            .map_err(db)?
            .is_some();
        if !claimed {
            return Ok(false);
        }
        tx.execute(
            "DELETE FROM modnas_steps WHERE run_id = $1 AND number = $2",
            &[&id, &n],
        )
        .map_err(db)?;
        let mut sorted: BTreeMap<i64, String> = BTreeMap::new();
        for s in steps {
            let step = i64::try_from(s.step).map_err(|_| {
                JournalError::Storage(format!("step {} is too large to store", s.step))
            })?;
            sorted.insert(step, metrics_to_json(&s.metrics));
        }
        if !sorted.is_empty() {
            let ins = tx
                .prepare(
                    "INSERT INTO modnas_steps (run_id, number, step, metrics) VALUES ($1, $2, $3, $4)",
                )
                .map_err(db)?;
            for (step, m) in &sorted {
                tx.execute(&ins, &[&id, &n, step, m]).map_err(db)?;
            }
        }
        tx.commit().map_err(db)?;
        Ok(true)
    }

    fn steps(&mut self) -> Result<BTreeMap<u64, Vec<Step>>, JournalError> {
        let rows = self
            .client
            .query(
                "SELECT number, step, metrics FROM modnas_steps WHERE run_id = $1 ORDER BY number, step",
                &[&self.run_id],
            )
            .map_err(db)?;
        let mut out: BTreeMap<u64, Vec<Step>> = BTreeMap::new();
        for r in rows {
            let (n, step, m): (i64, i64, String) = (r.get(0), r.get(1), r.get(2));
            out.entry(n as u64).or_default().push(Step {
                step: step as u64,
                metrics: modnas_core::journal::metrics_from_json(&m)?,
            });
        }
        Ok(out)
    }

    fn release(&mut self, number: u64, worker: &str) -> Result<(), JournalError> {
        self.client
            .execute(
                "UPDATE modnas_trials SET state = 'waiting', worker = NULL, attempts = GREATEST(attempts - 1, 0)
                 WHERE run_id = $1 AND number = $2 AND worker = $3 AND state = 'running'",
                &[&self.run_id, &to_i64(number)?, &worker],
            )
            .map_err(db)?;
        Ok(())
    }

    fn give_up(&mut self, number: u64, reason: &str) -> Result<bool, JournalError> {
        let n = self
            .client
            .execute(
                &format!(
                    "UPDATE modnas_trials SET state = 'failed', error = $3, finished_at = {NOW_EPOCH}
                     WHERE run_id = $1 AND number = $2 AND state = 'waiting'"
                ),
                &[&self.run_id, &to_i64(number)?, &reason],
            )
            .map_err(db)?;
        Ok(n == 1)
    }

    fn mark_told(&mut self, numbers: &[u64], optimizer_state: &str) -> Result<(), JournalError> {
        let id = self.run_id;
        let mut tx = self.client.transaction().map_err(db)?;
        Self::lock_run(&mut tx, id)?;
        let next: i64 = tx
            .query_one(
                "SELECT COALESCE(MAX(told_seq), -1) + 1 FROM modnas_trials WHERE run_id = $1",
                &[&id],
            )
            .map_err(db)?
            .get(0);
        if !numbers.is_empty() {
            let upd = tx
                .prepare(
                    "UPDATE modnas_trials SET told_seq = $3
                     WHERE run_id = $1 AND number = $2 AND told_seq IS NULL",
                )
                .map_err(db)?;
            for (k, &n) in numbers.iter().enumerate() {
                tx.execute(&upd, &[&id, &to_i64(n)?, &(next + k as i64)])
                    .map_err(db)?;
            }
        }
        Self::set_state_tx(&mut tx, id, optimizer_state)?;
        tx.commit().map_err(db)
    }

    fn optimizer_state(&mut self) -> Result<Option<String>, JournalError> {
        Ok(self
            .client
            .query_opt(
                "SELECT state FROM modnas_optimizer_state WHERE run_id = $1",
                &[&self.run_id],
            )
            .map_err(db)?
            .map(|r| r.get(0)))
    }

    fn trials(&mut self, space: &ParamSpace) -> Result<(Vec<Trial>, Vec<u64>), JournalError> {
        let rows = self
            .client
            .query(
                &format!(
                    "SELECT {TRIAL_COLUMNS} FROM modnas_trials WHERE run_id = $1 ORDER BY number"
                ),
                &[&self.run_id],
            )
            .map_err(db)?;
        let mut trials = Vec::with_capacity(rows.len());
        let mut told: Vec<(i64, u64)> = Vec::new();
        for r in &rows {
            let (t, seq) = to_trial(space, r)?;
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
            .client
            .query_one(
                "SELECT COALESCE(MAX(number), -1) + 1 FROM modnas_trials WHERE run_id = $1",
                &[&self.run_id],
            )
            .map_err(db)?
            .get(0);
        Ok(n as u64)
    }

    fn get_meta(&mut self, key: &str) -> Result<Option<String>, JournalError> {
        Ok(self
            .client
            .query_opt(
                "SELECT value FROM modnas_run_meta WHERE run_id = $1 AND key = $2",
                &[&self.run_id, &key],
            )
            .map_err(db)?
            .map(|r| r.get(0)))
    }

    fn set_meta(&mut self, key: &str, value: &str) -> Result<(), JournalError> {
        self.client
            .execute(
                "INSERT INTO modnas_run_meta (run_id, key, value) VALUES ($1, $2, $3)
                 ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value",
                &[&self.run_id, &key, &value],
            )
            .map_err(db)?;
        Ok(())
    }
}

//! The trial journal: every trial is durable before the optimizer learns of it.
//!
//! The journal is the single source of truth of a run, and also its work queue: trials are
//! created `waiting`, claimed `running` by a worker, and finished `complete` or `failed` with a
//! guard on the worker, so a worker declared dead cannot overwrite a re-run. The same interface
//! serves an in-memory journal (benchmarks), an SQLite file (the default), and a database shared
//! by many machines.

use crate::param::Assignment;
use crate::param::ParamSpace;
use crate::trial::{Evaluation, NewTrial, Outcome, Step, Trial, TrialState};
use std::collections::BTreeMap;

/// Journal errors.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// The storage failed.
    #[error("journal storage error: {0}")]
    Storage(String),
    /// The stored run does not match this one.
    #[error("{0}")]
    Mismatch(String),
    /// The run is used by another live process.
    #[error("{0}")]
    Busy(String),
    /// Stored data is corrupt.
    #[error("journal data is corrupt: {0}")]
    Corrupt(String),
}

/// Identity of a run, stored when it is created and checked when it is resumed.
#[derive(Clone, Debug, PartialEq)]
pub struct RunMeta {
    /// Run name.
    pub name: String,
    /// Run seed.
    pub seed: u64,
    /// The search-defining part of the configuration (JSON), compared on resume.
    pub config: serde_json::Value,
    /// The parameter space (JSON list of parameters).
    pub space: serde_json::Value,
}

/// Storage of a run's trials.
pub trait Journal: Send {
    /// Creates the run, or returns the stored identity when it exists already.
    fn open(&mut self, meta: &RunMeta) -> Result<Option<RunMeta>, JournalError>;

    /// Returns trials left `running` by workers that are gone to `waiting`; returns their numbers.
    fn reap(&mut self) -> Result<Vec<u64>, JournalError>;

    /// Appends trials numbered from the current count, together with the optimizer state that
    /// proposed them (one atomic write). Returns their numbers.
    fn create(
        &mut self,
        space: &ParamSpace,
        trials: &[NewTrial],
        optimizer_state: &str,
    ) -> Result<Vec<u64>, JournalError>;

    /// Claims the oldest waiting trial for `worker`.
    fn claim(&mut self, space: &ParamSpace, worker: &str) -> Result<Option<Trial>, JournalError>;

    /// Records that `worker` is still evaluating trial `number`.
    fn heartbeat(&mut self, number: u64, worker: &str) -> Result<(), JournalError>;

    /// Finishes a trial claimed by `worker`; `false` if the claim was lost meanwhile.
    fn finish(
        &mut self,
        number: u64,
        worker: &str,
        outcome: &Outcome,
    ) -> Result<bool, JournalError>;

    /// Replaces the intermediate results of trial `number`, claimed by `worker`, with `steps`
    /// (written before [`Journal::finish`], so a finished trial always has its learning curve);
    /// `false` if the claim was lost meanwhile.
    fn record_steps(
        &mut self,
        number: u64,
        worker: &str,
        steps: &[Step],
    ) -> Result<bool, JournalError>;

    /// The intermediate results of every trial that reported some, by trial number, each in
    /// step order.
    fn steps(&mut self) -> Result<BTreeMap<u64, Vec<Step>>, JournalError>;

    /// Puts a claimed trial back in the queue (its evaluation was interrupted, or could not be
    /// set up); the handed-back evaluation does not count in its `attempts`.
    fn release(&mut self, number: u64, worker: &str) -> Result<(), JournalError>;

    /// Finishes a waiting trial as failed with `reason` without evaluating it (its evaluation
    /// was interrupted too many times); `false` if it is not waiting.
    fn give_up(&mut self, number: u64, reason: &str) -> Result<bool, JournalError>;

    /// Records that the optimizer was told these results, with its new state (one atomic write).
    fn mark_told(&mut self, numbers: &[u64], optimizer_state: &str) -> Result<(), JournalError>;

    /// The last saved optimizer state.
    fn optimizer_state(&mut self) -> Result<Option<String>, JournalError>;

    /// All trials, by number; `told_order` lists the told ones in the order they were told.
    fn trials(&mut self, space: &ParamSpace) -> Result<(Vec<Trial>, Vec<u64>), JournalError>;

    /// Number of trials.
    fn count(&mut self) -> Result<u64, JournalError>;

    /// Reads a run-level value.
    fn get_meta(&mut self, key: &str) -> Result<Option<String>, JournalError>;

    /// Writes a run-level value.
    fn set_meta(&mut self, key: &str, value: &str) -> Result<(), JournalError>;
}

/// Seconds since the Unix epoch.
pub fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// A journal kept in memory (for benchmarks and tests; nothing survives the process).
#[derive(Default)]
pub struct MemoryJournal {
    meta: Option<RunMeta>,
    trials: Vec<Trial>,
    told_order: Vec<u64>,
    state: Option<String>,
    kv: std::collections::BTreeMap<String, String>,
    waiting: std::collections::BTreeSet<u64>,
    steps: BTreeMap<u64, Vec<Step>>,
}

impl MemoryJournal {
    /// An empty journal.
    pub fn new() -> Self {
        Self::default()
    }

    fn get(&mut self, number: u64) -> Result<&mut Trial, JournalError> {
        self.trials
            .get_mut(number as usize)
            .ok_or_else(|| JournalError::Corrupt(format!("no trial {number}")))
    }
}

impl Journal for MemoryJournal {
    fn open(&mut self, meta: &RunMeta) -> Result<Option<RunMeta>, JournalError> {
        match &self.meta {
            Some(m) => Ok(Some(m.clone())),
            None => {
                self.meta = Some(meta.clone());
                Ok(None)
            }
        }
    }

    fn reap(&mut self) -> Result<Vec<u64>, JournalError> {
        let mut out = Vec::new();
        for t in &mut self.trials {
            if t.state == TrialState::Running {
                t.state = TrialState::Waiting;
                t.worker = None;
                self.waiting.insert(t.number);
                out.push(t.number);
            }
        }
        Ok(out)
    }

    fn create(
        &mut self,
        _space: &ParamSpace,
        trials: &[NewTrial],
        optimizer_state: &str,
    ) -> Result<Vec<u64>, JournalError> {
        let now = now();
        let mut numbers = Vec::with_capacity(trials.len());
        for t in trials {
            let number = self.trials.len() as u64;
            self.trials.push(Trial {
                number,
                params: t.params.clone(),
                seed: t.seed,
                state: TrialState::Waiting,
                metrics: Default::default(),
                cost: None,
                error: None,
                attempts: 0,
                worker: None,
                created_at: now,
                started_at: None,
                finished_at: None,
                told: false,
                attrs: serde_json::Value::Null,
            });
            self.waiting.insert(number);
            numbers.push(number);
        }
        self.state = Some(optimizer_state.to_string());
        Ok(numbers)
    }

    fn claim(&mut self, _space: &ParamSpace, worker: &str) -> Result<Option<Trial>, JournalError> {
        let Some(number) = self.waiting.pop_first() else {
            return Ok(None);
        };
        let now = now();
        let t = self.get(number)?;
        t.state = TrialState::Running;
        t.worker = Some(worker.to_string());
        t.attempts += 1;
        t.started_at = Some(now);
        Ok(Some(t.clone()))
    }

    fn heartbeat(&mut self, _number: u64, _worker: &str) -> Result<(), JournalError> {
        Ok(())
    }

    fn finish(
        &mut self,
        number: u64,
        worker: &str,
        outcome: &Outcome,
    ) -> Result<bool, JournalError> {
        let t = self.get(number)?;
        if t.state != TrialState::Running || t.worker.as_deref() != Some(worker) {
            return Ok(false);
        }
        t.finished_at = Some(now());
        match outcome {
            Outcome::Complete(Evaluation {
                metrics,
                cost,
                attrs,
            }) => {
                t.state = TrialState::Complete;
                t.metrics = metrics.clone();
                t.cost = *cost;
                t.attrs = attrs.clone();
            }
            Outcome::Failed(reason) => {
                t.state = TrialState::Failed;
                t.error = Some(reason.clone());
            }
            Outcome::FailedWithMetrics { reason, metrics } => {
                t.state = TrialState::Failed;
                t.error = Some(reason.clone());
                t.metrics = metrics.clone();
            }
            Outcome::Pruned(ev) => {
                t.state = TrialState::Pruned;
                t.metrics = ev.metrics.clone();
                t.cost = ev.cost;
                t.attrs = ev.attrs.clone();
            }
        }
        Ok(true)
    }

    fn record_steps(
        &mut self,
        number: u64,
        worker: &str,
        steps: &[Step],
    ) -> Result<bool, JournalError> {
        let t = self.get(number)?;
        if t.state != TrialState::Running || t.worker.as_deref() != Some(worker) {
            return Ok(false);
        }
        let mut v = steps.to_vec();
        v.sort_by_key(|s| s.step);
        if v.is_empty() {
            self.steps.remove(&number);
        } else {
            self.steps.insert(number, v);
        }
        Ok(true)
    }

    fn steps(&mut self) -> Result<BTreeMap<u64, Vec<Step>>, JournalError> {
        Ok(self.steps.clone())
    }

    fn release(&mut self, number: u64, worker: &str) -> Result<(), JournalError> {
        let t = self.get(number)?;
        if t.state == TrialState::Running && t.worker.as_deref() == Some(worker) {
            t.state = TrialState::Waiting;
            t.worker = None;
            t.attempts = t.attempts.saturating_sub(1);
            self.waiting.insert(number);
        }
        Ok(())
    }

    fn give_up(&mut self, number: u64, reason: &str) -> Result<bool, JournalError> {
        let now = now();
        let t = self.get(number)?;
        if t.state != TrialState::Waiting {
            return Ok(false);
        }
        t.state = TrialState::Failed;
        t.error = Some(reason.to_string());
        t.finished_at = Some(now);
        self.waiting.remove(&number);
        Ok(true)
    }

    fn mark_told(&mut self, numbers: &[u64], optimizer_state: &str) -> Result<(), JournalError> {
        for &n in numbers {
            self.get(n)?.told = true;
            self.told_order.push(n);
        }
        self.state = Some(optimizer_state.to_string());
        Ok(())
    }

    fn optimizer_state(&mut self) -> Result<Option<String>, JournalError> {
        Ok(self.state.clone())
    }

    fn trials(&mut self, _space: &ParamSpace) -> Result<(Vec<Trial>, Vec<u64>), JournalError> {
        Ok((self.trials.clone(), self.told_order.clone()))
    }

    fn count(&mut self) -> Result<u64, JournalError> {
        Ok(self.trials.len() as u64)
    }

    fn get_meta(&mut self, key: &str) -> Result<Option<String>, JournalError> {
        Ok(self.kv.get(key).cloned())
    }

    fn set_meta(&mut self, key: &str, value: &str) -> Result<(), JournalError> {
        self.kv.insert(key.to_string(), value.to_string());
        Ok(())
    }
}

/// Helper for journals that store assignments as JSON maps.
pub fn params_to_json(space: &ParamSpace, a: &Assignment) -> String {
    serde_json::Value::Object(space.to_json(a)).to_string()
}

/// Inverse of [`params_to_json`].
pub fn params_from_json(space: &ParamSpace, text: &str) -> Result<Assignment, JournalError> {
    let v: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| JournalError::Corrupt(format!("params `{text}`: {e}")))?;
    let map = v
        .as_object()
        .ok_or_else(|| JournalError::Corrupt(format!("params `{text}` is not a map")))?;
    space.from_json(map).map_err(|e| {
        JournalError::Mismatch(format!(
            "a stored trial does not fit the current space: {e}"
        ))
    })
}

/// Metrics as JSON text; non-finite values are written as the strings `"nan"`, `"inf"`, `"-inf"`.
pub fn metrics_to_json(m: &crate::objective::Metrics) -> String {
    let map: serde_json::Map<String, serde_json::Value> = m
        .iter()
        .map(|(k, v)| {
            let j = if v.is_finite() {
                serde_json::Number::from_f64(*v)
                    .map(serde_json::Value::Number)
                    .unwrap_or(serde_json::Value::Null)
            } else if v.is_nan() {
                serde_json::Value::String("nan".into())
            } else if *v > 0.0 {
                serde_json::Value::String("inf".into())
            } else {
                serde_json::Value::String("-inf".into())
            };
            (k.clone(), j)
        })
        .collect();
    serde_json::Value::Object(map).to_string()
}

/// Inverse of [`metrics_to_json`].
pub fn metrics_from_json(text: &str) -> Result<crate::objective::Metrics, JournalError> {
    let v: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| JournalError::Corrupt(format!("metrics `{text}`: {e}")))?;
    let map = v
        .as_object()
        .ok_or_else(|| JournalError::Corrupt(format!("metrics `{text}` is not a map")))?;
    let mut out = crate::objective::Metrics::new();
    for (k, x) in map {
        let f = match x {
            serde_json::Value::Number(n) => n.as_f64().unwrap_or(f64::NAN),
            serde_json::Value::String(s) if s == "inf" => f64::INFINITY,
            serde_json::Value::String(s) if s == "-inf" => f64::NEG_INFINITY,
            _ => f64::NAN,
        };
        out.insert(k.clone(), f);
    }
    Ok(out)
}

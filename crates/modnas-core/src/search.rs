//! The search routine (paper Algorithm 1/2): propose, evaluate, record, learn.
//!
//! ```text
//! loop until a stop criterion holds:
//!     proposals = optimizer.next(k)       # Ω
//!     journal.create(proposals)           # durable, with the optimizer state that made them
//!     metrics = estimator.evaluate(...)   # ω, η (the estimator applies the Transform routine)
//!     journal.finish(trial, metrics)      # durable before anything learns of it
//!     optimizer.step(results)             # Ω learns; its new state is saved
//! ```
//!
//! Re-running on the same journal resumes: the optimizer state is restored, finished trials are
//! never evaluated again, and trials that were running when the process died are re-run.

use crate::callback::{Callback, Status};
use crate::estimator::{Estimator, EvalContext};
use crate::journal::{Journal, JournalError};
use crate::metric::{Metric, MetricInput};
use crate::objective::{Objectives, pareto_front};
use crate::optimizer::{History, OptimError, Optimizer};
use crate::param::ParamSpace;
use crate::prune::{PruneHub, Pruner, Taken};
use crate::seed::derive_seed;
use crate::stop::{StopCriteria, StopReason};
use crate::trial::{
    Evaluation, MAX_REASON_BYTES, NewTrial, Observation, Outcome, Step, Trial, TrialFailure,
    TrialState, shorten,
};
use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Instant;

/// Errors that end a search.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// The journal failed.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// The optimizer failed.
    #[error("optimizer: {0}")]
    Optim(#[from] OptimError),
    /// A trial failed in a way that will repeat for every trial.
    #[error("trial {trial} failed and the search cannot go on: {reason}")]
    Fatal {
        /// The trial.
        trial: u64,
        /// Why.
        reason: String,
    },
}

/// The result of a search session.
#[derive(Debug)]
pub struct SearchOutcome {
    /// Every trial of the run, by number.
    pub trials: Vec<Trial>,
    /// Index of the best trial (primary objective), if any succeeded.
    pub best: Option<usize>,
    /// Indices of the Pareto-optimal trials over all objectives.
    pub pareto: Vec<usize>,
    /// Why the search stopped.
    pub reason: StopReason,
    /// Trials evaluated in this session.
    pub evaluated: u64,
    /// Trials found in the journal when the session started.
    pub resumed_from: u64,
    /// The intermediate results (learning curves) of the trials that reported some.
    pub steps: BTreeMap<u64, Vec<Step>>,
}

/// A configured search.
pub struct Search {
    /// The space.
    pub space: Arc<ParamSpace>,
    /// Objectives (the first is primary).
    pub objectives: Objectives,
    /// The optimizer.
    pub optimizer: Box<dyn Optimizer>,
    /// The estimator.
    pub estimator: Arc<dyn Estimator>,
    /// The journal.
    pub journal: Box<dyn Journal>,
    /// Metrics computed from the estimator's metrics, in order.
    pub derived: Vec<(String, Box<dyn Metric>)>,
    /// When to stop.
    pub stop: StopCriteria,
    /// Trials evaluated at once.
    pub parallel: usize,
    /// Run seed.
    pub seed: u64,
    /// Observers.
    pub callbacks: Vec<Box<dyn Callback>>,
    /// Set to stop the search (e.g. on Ctrl-C).
    pub interrupt: Arc<AtomicBool>,
    /// The run directory.
    pub run_dir: Option<PathBuf>,
    /// This process's worker name.
    pub worker: String,
    /// A trial whose evaluation was interrupted this many times (the process died while it ran)
    /// is failed instead of evaluated again, so a trial that takes the process down cannot stop
    /// the run for good; 0 means no limit.
    pub max_attempts: u32,
    /// Stops unpromising trials from their intermediate results (`None`: none is stopped; the
    /// results are recorded all the same).
    pub pruner: Option<Box<dyn Pruner>>,
}

/// What becomes of an evaluation's result.
enum Resolution {
    /// Back to the queue (interrupted, or a failure that says nothing about the trial).
    Requeue(Option<SearchError>),
    /// Recorded with its steps.
    Record(Outcome, Vec<Step>),
}

/// Why a trial is given up on after `attempts` interrupted evaluations.
fn interrupted_reason(attempts: u32, max_attempts: u32) -> String {
    format!(
        "the evaluation was interrupted {attempts} time{} (modnas crashed or was killed while it ran), so it is not tried again (retry.max_attempts: {max_attempts})",
        if attempts == 1 { "" } else { "s" }
    )
}

struct Tracker {
    created: u64,
    finished: u64,
    failed: u64,
    best: Option<usize>,
    best_score: f64,
    last_improvement: u64,
    cost: f64,
}

impl Tracker {
    fn new() -> Self {
        Tracker {
            created: 0,
            finished: 0,
            failed: 0,
            best: None,
            best_score: f64::NEG_INFINITY,
            last_improvement: 0,
            cost: 0.0,
        }
    }

    fn add(&mut self, trials: &[Trial], i: usize, objectives: &Objectives) {
        let t = &trials[i];
        match t.state {
            TrialState::Complete => {
                self.finished += 1;
                self.cost += t.cost.unwrap_or(0.0);
                if let Some(s) = objectives.primary().score(&t.metrics)
                    && s > self.best_score
                {
                    self.best_score = s;
                    self.best = Some(i);
                    self.last_improvement = self.finished;
                }
            }
            TrialState::Failed => {
                self.finished += 1;
                self.failed += 1;
                self.cost += t.cost.unwrap_or(0.0);
            }
            TrialState::Pruned => {
                self.finished += 1;
                self.cost += t.cost.unwrap_or(0.0);
            }
            _ => {}
        }
    }

    fn stop_reason(
        &self,
        stop: &StopCriteria,
        objectives: &Objectives,
        elapsed: f64,
    ) -> Option<StopReason> {
        if let (Some(target), Some(_)) = (stop.target, self.best) {
            let primary = objectives.primary();
            let best_value = match primary.direction {
                crate::objective::Direction::Maximize => self.best_score,
                crate::objective::Direction::Minimize => -self.best_score,
            };
            if best_value == target || primary.better(best_value, target) {
                return Some(StopReason::Target);
            }
        }
        if stop.max_time.is_some_and(|m| elapsed >= m) {
            return Some(StopReason::MaxTime);
        }
        if stop.max_cost.is_some_and(|m| self.cost >= m) {
            return Some(StopReason::MaxCost);
        }
        if stop
            .patience
            .is_some_and(|p| self.finished >= self.last_improvement + p)
        {
            return Some(StopReason::Patience);
        }
        None
    }
}

fn observation(t: &Trial, objectives: &Objectives, steps: Option<&Vec<Step>>) -> Observation {
    // A pruned trial is observed with the scores of its last reported step.
    let complete = matches!(t.state, TrialState::Complete | TrialState::Pruned);
    let scores: Vec<Option<f64>> = objectives
        .0
        .iter()
        .map(|o| o.score(&t.metrics).filter(|_| complete))
        .collect();
    Observation {
        number: t.number,
        params: t.params.clone(),
        score: scores.first().copied().flatten(),
        scores,
        metrics: t.metrics.clone(),
        steps: steps
            .map(|st| {
                st.iter()
                    .filter_map(|s| {
                        let v = objectives.primary().score(&s.metrics)?;
                        v.is_finite().then_some((s.step, v))
                    })
                    .collect()
            })
            .unwrap_or_default(),
    }
}

type Done = (Trial, Result<Evaluation, TrialFailure>);

/// Brings the in-memory copy of a trial up to the outcome recorded in the journal.
fn apply(slot: &mut Trial, outcome: &Outcome) {
    slot.finished_at = Some(crate::journal::now());
    match outcome {
        Outcome::Complete(ev) | Outcome::Pruned(ev) => {
            slot.state = if matches!(outcome, Outcome::Pruned(_)) {
                TrialState::Pruned
            } else {
                TrialState::Complete
            };
            slot.metrics = ev.metrics.clone();
            slot.cost = ev.cost;
            slot.attrs = ev.attrs.clone();
        }
        Outcome::Failed(reason) => {
            slot.state = TrialState::Failed;
            slot.error = Some(reason.clone());
        }
        Outcome::FailedWithMetrics { reason, metrics } => {
            slot.state = TrialState::Failed;
            slot.error = Some(reason.clone());
            slot.metrics = metrics.clone();
        }
    }
}

impl Search {
    fn status<'a>(&'a self, trials: &'a [Trial], tr: &Tracker, elapsed: f64) -> Status<'a> {
        Status {
            space: &self.space,
            objectives: &self.objectives,
            finished: tr.finished,
            failed: tr.failed,
            max_trials: self.stop.max_trials,
            best: tr.best.map(|i| &trials[i]),
            elapsed,
            cost: tr.cost,
        }
    }

    fn evaluate(
        estimator: &dyn Estimator,
        space: &ParamSpace,
        run_dir: Option<&std::path::Path>,
        cancel: &AtomicBool,
        hub: &PruneHub,
        t: &Trial,
    ) -> Result<Evaluation, TrialFailure> {
        let reporter = hub.reporter(t.number);
        let ctx = EvalContext {
            trial: t.number,
            seed: t.seed,
            space,
            run_dir,
            cancel,
            reporter: &reporter,
        };
        // A panicking estimator fails its trial instead of taking the search down.
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            estimator.evaluate(&ctx, &t.params)
        })) {
            Ok(r) => r,
            Err(p) => {
                let msg = p
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "unknown panic".to_string());
                Err(TrialFailure::new(format!("the estimator panicked: {msg}")))
            }
        }
    }

    /// Completes an evaluation: derived metrics, objective checks.
    fn complete(
        &self,
        t: &Trial,
        result: Result<Evaluation, TrialFailure>,
    ) -> Result<Evaluation, TrialFailure> {
        let mut ev = result?;
        for (name, m) in &self.derived {
            if let Some(missing) = m
                .requires()
                .into_iter()
                .find(|r| !ev.metrics.contains_key(r))
            {
                let have: Vec<&str> = ev.metrics.keys().map(String::as_str).collect();
                return Err(TrialFailure::fatal(format!(
                    "metric `{name}` needs `{missing}`, which was not reported; the estimator reported: {}",
                    if have.is_empty() {
                        "nothing".to_string()
                    } else {
                        crate::suggest::quoted_list(&have)
                    }
                )));
            }
            let input = MetricInput {
                metrics: &ev.metrics,
                space: &self.space,
                params: &t.params,
                model: None,
            };
            let v = m
                .compute(&input)
                .map_err(|e| TrialFailure::new(format!("metric `{name}`: {e}")))?;
            ev.metrics.insert(name.clone(), v);
        }
        for o in &self.objectives.0 {
            match ev.metrics.get(&o.metric) {
                None => {
                    let have: Vec<&str> = ev.metrics.keys().map(String::as_str).collect();
                    return Err(TrialFailure::fatal(format!(
                        "the objective metric `{}` was not reported; the estimator reported: {}",
                        o.metric,
                        if have.is_empty() {
                            "nothing".to_string()
                        } else {
                            crate::suggest::quoted_list(&have)
                        }
                    )));
                }
                Some(v) if !v.is_finite() => {
                    let reason = format!("objective metric `{}` is {v}", o.metric);
                    return Err(TrialFailure::new(reason).with_metrics(ev.metrics));
                }
                _ => {}
            }
        }
        Ok(ev)
    }

    /// The hub of this session's evaluations, its pruner shown the stored steps of every
    /// finished trial (in trial order) so that it decides as in an uninterrupted run.
    fn rebuild_hub(&mut self, trials: &[Trial], steps: &BTreeMap<u64, Vec<Step>>) -> PruneHub {
        let hub = PruneHub::new(self.pruner.take(), self.objectives.clone());
        if hub.prunes() {
            for (&n, s) in steps {
                if trials
                    .get(n as usize)
                    .is_some_and(|t| t.state.is_finished())
                {
                    hub.replay(n, s);
                }
            }
        }
        hub
    }

    /// What to record for an evaluation's result: an interrupted one goes back to the queue; a
    /// pruned one keeps the metrics of its last step (whatever the evaluation returned after
    /// being told to stop, a failure included); a fatal failure goes back to the queue too.
    fn resolve(&self, t: &Trial, r: Result<Evaluation, TrialFailure>, taken: Taken) -> Resolution {
        let Taken { steps, pruned } = taken;
        if let Err(f) = &r
            && f.cancelled
        {
            return Resolution::Requeue(None);
        }
        if pruned {
            let last = steps.last().map(|s| s.metrics.clone()).unwrap_or_default();
            let (cost, attrs) = match r {
                Ok(ev) => (ev.cost, ev.attrs),
                Err(_) => (None, serde_json::Value::Null),
            };
            let ev = Evaluation {
                metrics: last,
                cost,
                attrs,
            };
            return Resolution::Record(Outcome::Pruned(ev), steps);
        }
        let r = self.complete(t, r);
        let outcome = match r {
            Ok(ev) => Outcome::Complete(ev),
            Err(f) if f.cancelled => return Resolution::Requeue(None),
            Err(f) if f.fatal => {
                // The trial says nothing about its parameters: it goes back to the queue (the
                // optimizer is not told) and runs once the problem is fixed.
                return Resolution::Requeue(Some(SearchError::Fatal {
                    trial: t.number,
                    reason: shorten(&f.reason, MAX_REASON_BYTES).into_owned(),
                }));
            }
            Err(f) => {
                let reason = shorten(&f.reason, MAX_REASON_BYTES).into_owned();
                let metrics: crate::objective::Metrics = f
                    .metrics
                    .into_iter()
                    .filter(|(_, v)| v.is_finite())
                    .collect();
                if metrics.is_empty() {
                    Outcome::Failed(reason)
                } else {
                    Outcome::FailedWithMetrics { reason, metrics }
                }
            }
        };
        Resolution::Record(outcome, steps)
    }

    /// Runs (or resumes) the search until a stop criterion holds.
    pub fn run(&mut self) -> Result<SearchOutcome, SearchError> {
        let session_start = Instant::now();
        let prev_elapsed: f64 = self
            .journal
            .get_meta("elapsed_s")?
            .and_then(|s| s.parse().ok())
            .unwrap_or(0.0);
        let elapsed = |_: ()| prev_elapsed + session_start.elapsed().as_secs_f64();

        let (mut trials, told_order) = self.journal.trials(&self.space)?;
        let resumed_from = trials.len() as u64;
        for n in self.journal.reap()? {
            if let Some(t) = trials.get_mut(n as usize) {
                t.state = TrialState::Waiting;
                t.worker = None;
                if self.max_attempts > 0 && t.attempts >= self.max_attempts {
                    let reason = interrupted_reason(t.attempts, self.max_attempts);
                    if self.journal.give_up(n, &reason)? {
                        tracing::warn!("trial {n} failed: {reason}");
                        t.state = TrialState::Failed;
                        t.error = Some(reason);
                        t.finished_at = Some(crate::journal::now());
                    }
                }
            }
        }
        let mut all_steps = self.journal.steps()?;
        if let Some(state) = self.journal.optimizer_state()? {
            let history = History {
                proposed: trials.iter().map(|t| t.params.clone()).collect(),
                observed: told_order
                    .iter()
                    .filter_map(|&n| trials.get(n as usize))
                    .map(|t| observation(t, &self.objectives, all_steps.get(&t.number)))
                    .collect(),
            };
            self.optimizer.restore(&state, &history)?;
        }
        let untold: Vec<u64> = trials
            .iter()
            .filter(|t| t.state.is_finished() && !t.told)
            .map(|t| t.number)
            .collect();
        if !untold.is_empty() {
            let obs: Vec<Observation> = untold
                .iter()
                .map(|&n| observation(&trials[n as usize], &self.objectives, all_steps.get(&n)))
                .collect();
            self.optimizer.step(&obs)?;
            self.journal.mark_told(&untold, &self.optimizer.state())?;
            for &n in &untold {
                trials[n as usize].told = true;
            }
        }

        let mut tr = Tracker::new();
        tr.created = trials.len() as u64;
        for i in 0..trials.len() {
            tr.add(&trials, i, &self.objectives);
        }
        let mut callbacks = std::mem::take(&mut self.callbacks);
        {
            let st = self.status(&trials, &tr, elapsed(()));
            for c in &mut callbacks {
                c.on_start(&st);
            }
        }

        let parallel = self
            .parallel
            .max(1)
            .min(self.estimator.max_parallel().unwrap_or(usize::MAX).max(1));
        let estimator = self.estimator.clone();
        let space = self.space.clone();
        let run_dir = self.run_dir.clone();
        let cancel = self.interrupt.clone();
        let hub = Arc::new(self.rebuild_hub(&trials, &all_steps));
        let mut evaluated = 0u64;
        let mut last_elapsed_write = Instant::now();

        let result: Result<StopReason, SearchError> = std::thread::scope(|scope| {
            let (job_tx, job_rx) = mpsc::channel::<Trial>();
            let (done_tx, done_rx) = mpsc::channel::<Done>();
            let job_rx = Arc::new(Mutex::new(job_rx));
            if parallel > 1 {
                for _ in 0..parallel {
                    let job_rx = job_rx.clone();
                    let done_tx = done_tx.clone();
                    let estimator = estimator.clone();
                    let space = space.clone();
                    let run_dir = run_dir.clone();
                    let cancel = cancel.clone();
                    let hub = hub.clone();
                    scope.spawn(move || {
                        loop {
                            let job = match job_rx.lock() {
                                Ok(rx) => rx.recv(),
                                Err(_) => break,
                            };
                            let Ok(t) = job else { break };
                            let r = Search::evaluate(
                                estimator.as_ref(),
                                &space,
                                run_dir.as_deref(),
                                &cancel,
                                &hub,
                                &t,
                            );
                            if done_tx.send((t, r)).is_err() {
                                break;
                            }
                        }
                    });
                }
            }
            drop(done_tx);
            // On an error, running evaluations are asked to stop before the workers are joined.
            let cancel_on_error = cancel.clone();
            let outcome = (|| -> Result<StopReason, SearchError> {
                let mut inline_done: VecDeque<Done> = VecDeque::new();
                let mut in_flight = 0usize;
                let mut stop: Option<StopReason> = None;
                let mut fatal: Option<SearchError> = None;
                let mut starved;
                loop {
                    // Fill the free evaluation slots.
                    starved = false;
                    while stop.is_none() && fatal.is_none() && in_flight < parallel {
                        if self.interrupt.load(Ordering::SeqCst) {
                            stop = Some(StopReason::Interrupted);
                            break;
                        }
                        if let Some(t) = self.journal.claim(&space, &self.worker)? {
                            if let Some(slot) = trials.get_mut(t.number as usize) {
                                *slot = t.clone();
                            }
                            if parallel > 1 {
                                let _ = job_tx.send(t);
                            } else {
                                let r = Search::evaluate(
                                    estimator.as_ref(),
                                    &space,
                                    run_dir.as_deref(),
                                    &cancel,
                                    &hub,
                                    &t,
                                );
                                inline_done.push_back((t, r));
                            }
                            in_flight += 1;
                            continue;
                        }
                        if let Some(r) = tr.stop_reason(&self.stop, &self.objectives, elapsed(())) {
                            stop = Some(r);
                            break;
                        }
                        let mut want = (parallel - in_flight) as u64;
                        if let Some(max) = self.stop.max_trials {
                            if tr.created >= max {
                                break;
                            }
                            want = want.min(max - tr.created);
                        }
                        let proposals = self.optimizer.next(want as usize)?;
                        if proposals.is_empty() {
                            starved = true;
                            break;
                        }
                        let new: Vec<NewTrial> = proposals
                            .into_iter()
                            .enumerate()
                            .map(|(i, params)| NewTrial {
                                params,
                                seed: derive_seed(self.seed, "trial", tr.created + i as u64),
                            })
                            .collect();
                        let state = self.optimizer.state();
                        let numbers = self.journal.create(&space, &new, &state)?;
                        for (n, nt) in numbers.iter().zip(new) {
                            trials.push(Trial {
                                number: *n,
                                params: nt.params,
                                seed: nt.seed,
                                state: TrialState::Waiting,
                                metrics: Default::default(),
                                cost: None,
                                error: None,
                                attempts: 0,
                                worker: None,
                                created_at: crate::journal::now(),
                                started_at: None,
                                finished_at: None,
                                told: false,
                                attrs: serde_json::Value::Null,
                            });
                        }
                        tr.created += numbers.len() as u64;
                    }
                    if in_flight == 0 {
                        if let Some(e) = fatal {
                            return Err(e);
                        }
                        return Ok(stop.unwrap_or_else(|| {
                            if self.stop.max_trials.is_some_and(|m| tr.created >= m) {
                                StopReason::MaxTrials
                            } else {
                                debug_assert!(starved || self.optimizer.exhausted());
                                StopReason::Exhausted
                            }
                        }));
                    }
                    // Wait for one result.
                    let (t, r) = match inline_done.pop_front() {
                        Some(d) => d,
                        None => match done_rx.recv() {
                            Ok(d) => d,
                            Err(_) => {
                                return Err(SearchError::Journal(JournalError::Storage(
                                    "evaluation workers stopped".into(),
                                )));
                            }
                        },
                    };
                    in_flight -= 1;
                    let taken = hub.take(t.number);
                    let (outcome, steps) = match self.resolve(&t, r, taken) {
                        Resolution::Record(o, steps) => (o, steps),
                        Resolution::Requeue(err) => {
                            if fatal.is_none() {
                                fatal = err;
                            }
                            self.journal.release(t.number, &self.worker)?;
                            if let Some(slot) = trials.get_mut(t.number as usize) {
                                slot.state = TrialState::Waiting;
                                slot.worker = None;
                            }
                            continue;
                        }
                    };
                    if !steps.is_empty()
                        && !self.journal.record_steps(t.number, &self.worker, &steps)?
                    {
                        tracing::warn!(
                            trial = t.number,
                            "the claim on this trial was lost; its result is dropped"
                        );
                        continue;
                    }
                    if !self.journal.finish(t.number, &self.worker, &outcome)? {
                        tracing::warn!(
                            trial = t.number,
                            "the claim on this trial was lost; its result is dropped"
                        );
                        continue;
                    }
                    evaluated += 1;
                    let i = t.number as usize;
                    if let Some(slot) = trials.get_mut(i) {
                        apply(slot, &outcome);
                    }
                    if !steps.is_empty() {
                        all_steps.insert(t.number, steps);
                    }
                    tr.add(&trials, i, &self.objectives);
                    {
                        let st = self.status(&trials, &tr, elapsed(()));
                        for c in &mut callbacks {
                            c.on_trial_end(&trials[i], &st);
                        }
                    }
                    self.optimizer.step(&[observation(
                        &trials[i],
                        &self.objectives,
                        all_steps.get(&t.number),
                    )])?;
                    self.journal
                        .mark_told(&[t.number], &self.optimizer.state())?;
                    trials[i].told = true;
                    if last_elapsed_write.elapsed().as_secs_f64() > 1.0 {
                        self.journal
                            .set_meta("elapsed_s", &elapsed(()).to_string())?;
                        last_elapsed_write = Instant::now();
                    }
                    if stop.is_none()
                        && let Some(r) = tr.stop_reason(&self.stop, &self.objectives, elapsed(()))
                    {
                        stop = Some(r);
                    }
                }
            })();
            if outcome.is_err() {
                cancel_on_error.store(true, Ordering::SeqCst);
            }
            drop(job_tx);
            outcome
        });
        if let Ok(hub) = Arc::try_unwrap(hub) {
            self.pruner = hub.into_pruner();
        }
        // A journal that fails here must not hide the error that ended the search.
        let saved = self.journal.set_meta("elapsed_s", &elapsed(()).to_string());
        let reason = match (result, saved) {
            (Ok(r), Ok(())) => r,
            (Ok(_), Err(e)) => return Err(e.into()),
            (Err(e), Ok(())) => return Err(e),
            (Err(e), Err(j)) => {
                tracing::warn!("cannot record the elapsed time: {j}");
                return Err(e);
            }
        };
        {
            let st = self.status(&trials, &tr, elapsed(()));
            for c in &mut callbacks {
                c.on_end(&st);
            }
        }
        self.callbacks = callbacks;
        let complete: Vec<usize> = (0..trials.len())
            .filter(|&i| trials[i].state == TrialState::Complete)
            .collect();
        let scored: Vec<(usize, Vec<f64>)> = complete
            .iter()
            .filter_map(|&i| self.objectives.scores(&trials[i].metrics).map(|s| (i, s)))
            .collect();
        let front = pareto_front(&scored.iter().map(|(_, s)| s.clone()).collect::<Vec<_>>());
        let pareto = front.into_iter().map(|k| scored[k].0).collect();
        Ok(SearchOutcome {
            best: tr.best,
            pareto,
            reason,
            evaluated,
            resumed_from,
            trials,
            steps: all_steps,
        })
    }
}

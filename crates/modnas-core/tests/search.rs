//! The search routine with a toy optimizer and estimator: stop criteria, objectives, derived
//! metrics, failures, interruption and parallel evaluation.

use modnas_core::estimator::{Estimator, EvalContext};
use modnas_core::journal::{Journal, JournalError, MemoryJournal};
use modnas_core::metric::{Metric, MetricInput};
use modnas_core::objective::{Metrics, Objective, Objectives};
use modnas_core::optimizer::{History, OptimError, Optimizer};
use modnas_core::param::{Assignment, Domain, ParamSpace, ParamValue};
use modnas_core::search::{Search, SearchError};
use modnas_core::stop::{StopCriteria, StopReason};
use modnas_core::trial::{Evaluation, Observation, Outcome, Trial, TrialFailure, TrialState};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// What the optimizer was told: trial numbers and scores.
type Told = Arc<Mutex<Vec<(u64, Option<f64>)>>>;

/// Proposes 0, 1, 2, … in order (a real-valued parameter `x`).
struct Counter {
    next: u64,
    told: Told,
}

impl Optimizer for Counter {
    fn next(&mut self, n: usize) -> Result<Vec<Assignment>, OptimError> {
        let out = (0..n)
            .map(|i| Assignment(vec![ParamValue::Float((self.next + i as u64) as f64)]))
            .collect();
        self.next += n as u64;
        Ok(out)
    }
    fn step(&mut self, results: &[Observation]) -> Result<(), OptimError> {
        self.told
            .lock()
            .unwrap()
            .extend(results.iter().map(|r| (r.number, r.score)));
        Ok(())
    }
    fn state(&self) -> String {
        self.next.to_string()
    }
    fn restore(&mut self, state: &str, _history: &History) -> Result<(), OptimError> {
        self.next = state.parse().map_err(|_| OptimError::State(state.into()))?;
        Ok(())
    }
}

/// value = x, cost = 10, latency = 100 − x; fails on multiples of `fail_every`; sleeps `sleep_ms`.
struct Toy {
    fail_every: u64,
    fatal_at: Option<u64>,
    sleep_ms: u64,
    running: AtomicUsize,
    max_running: AtomicUsize,
}

impl Toy {
    fn new() -> Self {
        Toy {
            fail_every: 0,
            fatal_at: None,
            sleep_ms: 0,
            running: AtomicUsize::new(0),
            max_running: AtomicUsize::new(0),
        }
    }
}

impl Estimator for Toy {
    fn evaluate(&self, ctx: &EvalContext<'_>, p: &Assignment) -> Result<Evaluation, TrialFailure> {
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_running.fetch_max(now, Ordering::SeqCst);
        std::thread::sleep(std::time::Duration::from_millis(self.sleep_ms));
        self.running.fetch_sub(1, Ordering::SeqCst);
        let x = match p.values()[0] {
            ParamValue::Float(x) => x,
            _ => unreachable!(),
        };
        if self.fatal_at == Some(ctx.trial) {
            return Err(TrialFailure::fatal("the program is missing"));
        }
        if self.fail_every > 0 && ctx.trial.is_multiple_of(self.fail_every) {
            return Err(TrialFailure::new(format!("trial {} broke", ctx.trial)));
        }
        if ctx.cancel.load(Ordering::SeqCst) {
            return Err(TrialFailure::cancelled());
        }
        let m: Metrics = [("value".to_string(), x), ("latency".to_string(), 100.0 - x)].into();
        Ok(Evaluation {
            metrics: m,
            cost: Some(10.0),
            attrs: Default::default(),
        })
    }
}

fn space() -> Arc<ParamSpace> {
    let mut s = ParamSpace::new();
    s.add(
        "x",
        Domain::Float {
            low: 0.0,
            high: 1e9,
            log: false,
        },
    )
    .unwrap();
    Arc::new(s)
}

fn search(
    est: Arc<dyn Estimator>,
    stop: StopCriteria,
    objectives: Vec<Objective>,
) -> (Search, Told) {
    let told = Arc::new(Mutex::new(Vec::new()));
    let s = Search {
        space: space(),
        objectives: Objectives(objectives),
        optimizer: Box::new(Counter {
            next: 0,
            told: told.clone(),
        }),
        estimator: est,
        journal: Box::new(MemoryJournal::new()),
        derived: vec![],
        stop,
        parallel: 1,
        seed: 1,
        callbacks: vec![],
        interrupt: Arc::new(AtomicBool::new(false)),
        run_dir: None,
        worker: "w".into(),
        max_attempts: 3,
        pruner: None,
    };
    (s, told)
}

#[test]
fn trial_budget() {
    let (mut s, told) = search(
        Arc::new(Toy::new()),
        StopCriteria {
            max_trials: Some(7),
            ..Default::default()
        },
        vec![Objective::maximize("value")],
    );
    let out = s.run().unwrap();
    assert_eq!(out.reason, StopReason::MaxTrials);
    assert_eq!(out.trials.len(), 7);
    assert_eq!(out.best, Some(6));
    assert_eq!(
        told.lock().unwrap().len(),
        7,
        "the optimizer learns every result"
    );
    // Every trial has its own recorded seed.
    let seeds: std::collections::HashSet<u64> = out.trials.iter().map(|t| t.seed).collect();
    assert_eq!(seeds.len(), 7);
}

#[test]
fn target_reached() {
    let (mut s, _) = search(
        Arc::new(Toy::new()),
        StopCriteria {
            max_trials: Some(100),
            target: Some(4.0),
            ..Default::default()
        },
        vec![Objective::maximize("value")],
    );
    let out = s.run().unwrap();
    assert_eq!(out.reason, StopReason::Target);
    assert_eq!(out.trials.len(), 5);
    let (mut s, _) = search(
        Arc::new(Toy::new()),
        StopCriteria {
            max_trials: Some(100),
            target: Some(96.0),
            ..Default::default()
        },
        vec![Objective::minimize("latency")],
    );
    let out = s.run().unwrap();
    assert_eq!(
        (out.reason, out.trials.len()),
        (StopReason::Target, 5),
        "a target of a minimised metric"
    );
}

#[test]
fn simulated_cost_budget() {
    let (mut s, _) = search(
        Arc::new(Toy::new()),
        StopCriteria {
            max_cost: Some(55.0),
            ..Default::default()
        },
        vec![Objective::maximize("value")],
    );
    let out = s.run().unwrap();
    assert_eq!(out.reason, StopReason::MaxCost);
    assert_eq!(out.trials.len(), 6, "stops once 6 × 10 ≥ 55");
}

#[test]
fn patience_without_improvement() {
    // Minimising `value` = x: the first trial is the best forever.
    let (mut s, _) = search(
        Arc::new(Toy::new()),
        StopCriteria {
            max_trials: Some(100),
            patience: Some(5),
            ..Default::default()
        },
        vec![Objective::minimize("value")],
    );
    let out = s.run().unwrap();
    assert_eq!(out.reason, StopReason::Patience);
    assert_eq!(out.trials.len(), 6);
}

#[test]
fn wall_clock_budget() {
    let toy = Toy {
        sleep_ms: 20,
        ..Toy::new()
    };
    let (mut s, _) = search(
        Arc::new(toy),
        StopCriteria {
            max_time: Some(0.15),
            ..Default::default()
        },
        vec![Objective::maximize("value")],
    );
    let out = s.run().unwrap();
    assert_eq!(out.reason, StopReason::MaxTime);
    // At most 0.15 s / 20 ms = 8 trials fit, plus the one running when time ran out.
    assert!((1..=9).contains(&out.trials.len()), "{}", out.trials.len());
}

#[test]
fn failures_are_recorded_and_told_as_missing_scores() {
    let toy = Toy {
        fail_every: 3,
        ..Toy::new()
    };
    let (mut s, told) = search(
        Arc::new(toy),
        StopCriteria {
            max_trials: Some(9),
            ..Default::default()
        },
        vec![Objective::maximize("value")],
    );
    let out = s.run().unwrap();
    let failed: Vec<u64> = out
        .trials
        .iter()
        .filter(|t| t.state == TrialState::Failed)
        .map(|t| t.number)
        .collect();
    assert_eq!(failed, vec![0, 3, 6]);
    assert_eq!(out.trials[3].error.as_deref(), Some("trial 3 broke"));
    let told = told.lock().unwrap();
    assert_eq!(told.iter().filter(|t| t.1.is_none()).count(), 3);
}

#[test]
fn a_fatal_failure_stops_the_search() {
    let toy = Toy {
        fatal_at: Some(2),
        ..Toy::new()
    };
    let (mut s, _) = search(
        Arc::new(toy),
        StopCriteria {
            max_trials: Some(50),
            ..Default::default()
        },
        vec![Objective::maximize("value")],
    );
    match s.run() {
        Err(SearchError::Fatal { trial, reason }) => {
            assert_eq!(trial, 2);
            assert!(reason.contains("missing"));
        }
        other => panic!("expected a fatal error, got {other:?}"),
    }
    let (trials, _) = s.journal.trials(&space()).unwrap();
    assert_eq!(trials.len(), 3, "nothing is proposed after the fatal trial");
    assert_eq!(
        trials[2].state,
        TrialState::Waiting,
        "the fatal trial goes back to the queue instead of failing for good"
    );
    assert_eq!((trials[2].error.as_deref(), trials[2].told), (None, false));
}

#[test]
fn a_trial_stopped_by_a_fatal_failure_runs_once_the_problem_is_fixed() {
    let toy = Toy {
        fatal_at: Some(2),
        ..Toy::new()
    };
    let stop = StopCriteria {
        max_trials: Some(5),
        ..Default::default()
    };
    let (mut s, told) = search(
        Arc::new(toy),
        stop.clone(),
        vec![Objective::maximize("value")],
    );
    assert!(matches!(s.run(), Err(SearchError::Fatal { trial: 2, .. })));
    assert_eq!(
        told.lock().unwrap().iter().map(|t| t.0).collect::<Vec<_>>(),
        vec![0, 1],
        "the optimizer is not told of the fatal trial"
    );
    let journal = std::mem::replace(&mut s.journal, Box::new(MemoryJournal::new()));
    // "Fixed": the same search with an estimator that works.
    let (mut s2, told2) = search(
        Arc::new(Toy::new()),
        stop,
        vec![Objective::maximize("value")],
    );
    s2.journal = journal;
    let out = s2.run().unwrap();
    assert_eq!(out.trials.len(), 5);
    assert!(out.trials.iter().all(|t| t.state == TrialState::Complete));
    assert_eq!(
        out.trials[2].attempts, 1,
        "the fatal evaluation did not count"
    );
    assert_eq!(
        told2.lock().unwrap()[0],
        (2, Some(2.0)),
        "trial 2 ran first"
    );
}

/// A journal whose trial `0` was claimed `crashes` times by processes that died.
fn crashed_journal(crashes: u32) -> Box<dyn Journal> {
    use modnas_core::trial::NewTrial;
    let mut j = MemoryJournal::new();
    j.create(
        &space(),
        &[NewTrial {
            params: Assignment(vec![ParamValue::Float(0.0)]),
            seed: 9,
        }],
        "1",
    )
    .unwrap();
    for k in 0..crashes {
        if k > 0 {
            j.reap().unwrap();
        }
        assert_eq!(j.claim(&space(), "dead").unwrap().unwrap().attempts, k + 1);
    }
    Box::new(j)
}

#[test]
fn a_trial_interrupted_max_attempts_times_fails_and_the_search_goes_on() {
    let stop = StopCriteria {
        max_trials: Some(4),
        ..Default::default()
    };
    let (mut s, told) = search(
        Arc::new(Toy::new()),
        stop.clone(),
        vec![Objective::maximize("value")],
    );
    s.journal = crashed_journal(3);
    let out = s.run().unwrap();
    assert_eq!(out.trials.len(), 4, "no trial is lost");
    let t0 = &out.trials[0];
    assert_eq!(t0.state, TrialState::Failed);
    let reason = t0.error.as_deref().unwrap();
    assert!(
        reason.contains("interrupted 3 times (modnas crashed or was killed"),
        "{reason}"
    );
    assert!(
        out.trials[1..]
            .iter()
            .all(|t| t.state == TrialState::Complete)
    );
    assert_eq!(out.evaluated, 3, "trial 0 was not evaluated again");
    let told = told.lock().unwrap();
    assert_eq!(
        told[0],
        (0, None),
        "the optimizer is told that trial 0 failed"
    );
    assert_eq!(told.len(), 4);
    drop(told);
    let (stored, _) = s.journal.trials(&space()).unwrap();
    assert_eq!(stored[0].state, TrialState::Failed);
    assert!(stored[0].told);

    // Below the limit the trial is evaluated again.
    let (mut s, _) = search(
        Arc::new(Toy::new()),
        stop,
        vec![Objective::maximize("value")],
    );
    s.journal = crashed_journal(2);
    let out = s.run().unwrap();
    assert!(out.trials.iter().all(|t| t.state == TrialState::Complete));
    assert_eq!(out.trials[0].attempts, 3);
}

#[test]
fn long_failure_reasons_are_capped_keeping_start_and_end() {
    struct Loud {
        fatal: bool,
    }
    impl Estimator for Loud {
        fn evaluate(
            &self,
            _: &EvalContext<'_>,
            _: &Assignment,
        ) -> Result<Evaluation, TrialFailure> {
            let r = format!("START{}END", "x".repeat(1 << 20));
            Err(if self.fatal {
                TrialFailure::fatal(r)
            } else {
                TrialFailure::new(r)
            })
        }
    }
    let stop = StopCriteria {
        max_trials: Some(2),
        ..Default::default()
    };
    let (mut s, _) = search(
        Arc::new(Loud { fatal: false }),
        stop.clone(),
        vec![Objective::maximize("value")],
    );
    let out = s.run().unwrap();
    let (stored, _) = s.journal.trials(&space()).unwrap();
    for t in out.trials.iter().chain(&stored) {
        let e = t.error.as_deref().unwrap();
        assert!(
            e.len() <= modnas_core::trial::MAX_REASON_BYTES,
            "{}",
            e.len()
        );
        assert!(e.starts_with("START") && e.ends_with("END"));
    }
    let (mut s, _) = search(
        Arc::new(Loud { fatal: true }),
        stop,
        vec![Objective::maximize("value")],
    );
    match s.run() {
        Err(SearchError::Fatal { reason, .. }) => {
            assert!(reason.len() <= modnas_core::trial::MAX_REASON_BYTES);
            assert!(reason.starts_with("START") && reason.ends_with("END"));
        }
        other => panic!("{other:?}"),
    }
}

/// A journal that cannot write run-level values.
struct NoMeta(MemoryJournal);

impl Journal for NoMeta {
    fn open(
        &mut self,
        m: &modnas_core::journal::RunMeta,
    ) -> Result<Option<modnas_core::journal::RunMeta>, JournalError> {
        self.0.open(m)
    }
    fn reap(&mut self) -> Result<Vec<u64>, JournalError> {
        self.0.reap()
    }
    fn create(
        &mut self,
        s: &ParamSpace,
        t: &[modnas_core::trial::NewTrial],
        st: &str,
    ) -> Result<Vec<u64>, JournalError> {
        self.0.create(s, t, st)
    }
    fn claim(&mut self, s: &ParamSpace, w: &str) -> Result<Option<Trial>, JournalError> {
        self.0.claim(s, w)
    }
    fn heartbeat(&mut self, n: u64, w: &str) -> Result<(), JournalError> {
        self.0.heartbeat(n, w)
    }
    fn finish(&mut self, n: u64, w: &str, o: &Outcome) -> Result<bool, JournalError> {
        self.0.finish(n, w, o)
    }
    fn release(&mut self, n: u64, w: &str) -> Result<(), JournalError> {
        self.0.release(n, w)
    }
    fn record_steps(
        &mut self,
        n: u64,
        w: &str,
        s: &[modnas_core::trial::Step],
    ) -> Result<bool, JournalError> {
        self.0.record_steps(n, w, s)
    }
    fn steps(
        &mut self,
    ) -> Result<std::collections::BTreeMap<u64, Vec<modnas_core::trial::Step>>, JournalError> {
        self.0.steps()
    }
    fn give_up(&mut self, n: u64, r: &str) -> Result<bool, JournalError> {
        self.0.give_up(n, r)
    }
    fn mark_told(&mut self, n: &[u64], st: &str) -> Result<(), JournalError> {
        self.0.mark_told(n, st)
    }
    fn optimizer_state(&mut self) -> Result<Option<String>, JournalError> {
        self.0.optimizer_state()
    }
    fn trials(&mut self, s: &ParamSpace) -> Result<(Vec<Trial>, Vec<u64>), JournalError> {
        self.0.trials(s)
    }
    fn count(&mut self) -> Result<u64, JournalError> {
        self.0.count()
    }
    fn get_meta(&mut self, k: &str) -> Result<Option<String>, JournalError> {
        self.0.get_meta(k)
    }
    fn set_meta(&mut self, _: &str, _: &str) -> Result<(), JournalError> {
        Err(JournalError::Storage("disk full".into()))
    }
}

#[test]
fn a_journal_error_at_the_end_does_not_hide_the_error_that_stopped_the_search() {
    let toy = Toy {
        fatal_at: Some(0),
        ..Toy::new()
    };
    let (mut s, _) = search(
        Arc::new(toy),
        StopCriteria {
            max_trials: Some(3),
            ..Default::default()
        },
        vec![Objective::maximize("value")],
    );
    s.journal = Box::new(NoMeta(MemoryJournal::new()));
    match s.run() {
        Err(SearchError::Fatal { trial: 0, reason }) => assert!(reason.contains("missing")),
        other => panic!("expected the fatal error, got {other:?}"),
    }
}

#[test]
fn a_missing_objective_metric_is_fatal_and_explained() {
    let (mut s, _) = search(
        Arc::new(Toy::new()),
        StopCriteria {
            max_trials: Some(5),
            ..Default::default()
        },
        vec![Objective::maximize("accuracy")],
    );
    let e = s.run().unwrap_err().to_string();
    assert!(
        e.contains("`accuracy` was not reported") && e.contains("`latency`, `value`"),
        "{e}"
    );
}

#[test]
fn several_objectives_give_a_pareto_front() {
    struct Tradeoff;
    impl Estimator for Tradeoff {
        fn evaluate(
            &self,
            _: &EvalContext<'_>,
            p: &Assignment,
        ) -> Result<Evaluation, TrialFailure> {
            let x = match p.values()[0] {
                ParamValue::Float(x) => x,
                _ => 0.0,
            };
            // Accuracy rises with x up to 5 then falls; latency rises with x.
            let acc = 10.0 - (x - 5.0).abs();
            Ok(Evaluation {
                metrics: [("acc".to_string(), acc), ("lat".to_string(), x)].into(),
                ..Default::default()
            })
        }
    }
    let (mut s, _) = search(
        Arc::new(Tradeoff),
        StopCriteria {
            max_trials: Some(10),
            ..Default::default()
        },
        vec![Objective::maximize("acc"), Objective::minimize("lat")],
    );
    let out = s.run().unwrap();
    let mut front: Vec<u64> = out.pareto.iter().map(|&i| out.trials[i].number).collect();
    front.sort();
    assert_eq!(
        front,
        vec![0, 1, 2, 3, 4, 5],
        "x ≤ 5 trade accuracy for latency; x > 5 is dominated by 10 − x"
    );
    assert_eq!(out.best, Some(5));
}

#[test]
fn derived_metrics_can_be_objectives() {
    struct Ratio;
    impl Metric for Ratio {
        fn compute(&self, i: &MetricInput<'_>) -> Result<f64, String> {
            Ok(i.metrics["value"] / (1.0 + i.metrics["latency"]))
        }
    }
    let (mut s, _) = search(
        Arc::new(Toy::new()),
        StopCriteria {
            max_trials: Some(4),
            ..Default::default()
        },
        vec![Objective::maximize("ratio")],
    );
    s.derived.push(("ratio".into(), Box::new(Ratio)));
    let out = s.run().unwrap();
    assert!((out.trials[3].metrics["ratio"] - 3.0 / 98.0).abs() < 1e-12);
    assert_eq!(out.best, Some(3));
}

#[test]
fn interruption_stops_and_keeps_results() {
    let toy = Toy {
        sleep_ms: 5,
        ..Toy::new()
    };
    let (mut s, _) = search(
        Arc::new(toy),
        StopCriteria {
            max_trials: Some(1000),
            ..Default::default()
        },
        vec![Objective::maximize("value")],
    );
    let flag = s.interrupt.clone();
    std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(60));
        flag.store(true, Ordering::SeqCst);
    });
    let out = s.run().unwrap();
    assert_eq!(out.reason, StopReason::Interrupted);
    assert!(out.trials.len() < 1000);
    let waiting = out.trials.iter().filter(|t| !t.state.is_finished()).count();
    assert!(
        waiting <= 1,
        "at most the cancelled trial waits for the next session"
    );
}

#[test]
fn parallel_evaluation_uses_every_slot() {
    let toy = Arc::new(Toy {
        sleep_ms: 30,
        ..Toy::new()
    });
    let (mut s, told) = search(
        toy.clone(),
        StopCriteria {
            max_trials: Some(12),
            ..Default::default()
        },
        vec![Objective::maximize("value")],
    );
    s.parallel = 4;
    let out = s.run().unwrap();
    assert_eq!(out.trials.len(), 12);
    assert!(out.trials.iter().all(|t| t.state == TrialState::Complete));
    assert_eq!(
        toy.max_running.load(Ordering::SeqCst),
        4,
        "four evaluations ran at once"
    );
    assert_eq!(told.lock().unwrap().len(), 12);
}

#[test]
fn resume_continues_from_the_journal() {
    let (mut s, _) = search(
        Arc::new(Toy::new()),
        StopCriteria {
            max_trials: Some(4),
            ..Default::default()
        },
        vec![Objective::maximize("value")],
    );
    s.run().unwrap();
    let journal: Box<dyn Journal> =
        std::mem::replace(&mut s.journal, Box::new(MemoryJournal::new()));
    let (mut s2, told2) = search(
        Arc::new(Toy::new()),
        StopCriteria {
            max_trials: Some(9),
            ..Default::default()
        },
        vec![Objective::maximize("value")],
    );
    s2.journal = journal;
    let out = s2.run().unwrap();
    assert_eq!(out.resumed_from, 4);
    assert_eq!(out.evaluated, 5);
    let xs: Vec<ParamValue> = out.trials.iter().map(|t| t.params.values()[0]).collect();
    assert_eq!(
        xs,
        (0..9)
            .map(|i| ParamValue::Float(i as f64))
            .collect::<Vec<_>>(),
        "the restored optimizer continues at 4"
    );
    assert_eq!(
        told2.lock().unwrap().len(),
        5,
        "already-told results are not told again"
    );
}

#[test]
fn a_failed_trial_keeps_its_finite_metrics() {
    struct HalfBroken;
    impl Estimator for HalfBroken {
        fn evaluate(
            &self,
            _: &EvalContext<'_>,
            _: &Assignment,
        ) -> Result<Evaluation, TrialFailure> {
            Ok(Evaluation {
                metrics: [
                    ("value".to_string(), f64::NAN),
                    ("acc".to_string(), 0.5),
                    ("huge".to_string(), f64::INFINITY),
                ]
                .into(),
                ..Default::default()
            })
        }
    }
    let (mut s, told) = search(
        Arc::new(HalfBroken),
        StopCriteria {
            max_trials: Some(2),
            ..Default::default()
        },
        vec![Objective::maximize("value")],
    );
    let out = s.run().unwrap();
    let (stored, _) = s.journal.trials(&space()).unwrap();
    for t in out.trials.iter().chain(&stored) {
        assert_eq!(t.state, TrialState::Failed);
        assert!(t.error.as_deref().unwrap().contains("`value` is NaN"));
        let m: Vec<(&String, &f64)> = t.metrics.iter().collect();
        assert_eq!(m, [(&"acc".to_string(), &0.5)], "only the finite metrics");
    }
    assert!(told.lock().unwrap().iter().all(|t| t.1.is_none()));
}

/// A learning curve per trial: quality q ∈ [0, 1) from x (scrambled), value at step s is
/// q·(1 − 2^−s) for s = 1..=steps; stops at the first step answered "prune".
struct Curves {
    steps: u64,
    sleep_ms: u64,
    /// Fails (as a killed program would) once told to stop.
    fail_when_pruned: bool,
}

fn quality(x: f64) -> f64 {
    ((x as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 11) as f64 / (1u64 << 53) as f64
}

impl Estimator for Curves {
    fn evaluate(&self, ctx: &EvalContext<'_>, p: &Assignment) -> Result<Evaluation, TrialFailure> {
        let ParamValue::Float(x) = p.values()[0] else {
            unreachable!()
        };
        let q = quality(x);
        let mut m = Metrics::new();
        for s in 1..=self.steps {
            std::thread::sleep(std::time::Duration::from_millis(self.sleep_ms));
            m = [("value".to_string(), q * (1.0 - 0.5f64.powi(s as i32)))].into();
            if ctx.reporter.report(s, &m) == modnas_core::estimator::Decision::Prune {
                if self.fail_when_pruned {
                    return Err(TrialFailure::new("killed by signal 9"));
                }
                break;
            }
        }
        Ok(Evaluation {
            metrics: m,
            cost: None,
            attrs: Default::default(),
        })
    }
}

fn asha(eta: f64, max: u64) -> Box<dyn modnas_core::prune::Pruner> {
    Box::new(modnas_core::prune::Rungs::new(
        &modnas_core::prune::RungArgs {
            eta,
            min_resource: 1,
            max_resource: Some(max),
            multi_objective: false,
        },
        1,
    ))
}

fn pruned_search(max_trials: u64, parallel: usize, sleep_ms: u64) -> (Search, Told) {
    let (mut s, told) = search(
        Arc::new(Curves {
            steps: 9,
            sleep_ms,
            fail_when_pruned: false,
        }),
        StopCriteria {
            max_trials: Some(max_trials),
            ..Default::default()
        },
        vec![Objective::maximize("value")],
    );
    s.parallel = parallel;
    s.pruner = Some(asha(3.0, 9));
    (s, told)
}

/// (state, metrics, steps reported) of every trial.
fn decisions(out: &modnas_core::search::SearchOutcome) -> Vec<(TrialState, Metrics, Vec<u64>)> {
    out.trials
        .iter()
        .map(|t| {
            let steps = out
                .steps
                .get(&t.number)
                .map(|v| v.iter().map(|s| s.step).collect())
                .unwrap_or_default();
            (t.state, t.metrics.clone(), steps)
        })
        .collect()
}

#[test]
fn asha_prunes_with_the_last_value_and_tells_the_optimizer() {
    let (mut s, told) = pruned_search(30, 1, 0);
    let out = s.run().unwrap();
    let d = decisions(&out);
    let pruned: Vec<_> = d.iter().filter(|x| x.0 == TrialState::Pruned).collect();
    assert!(!pruned.is_empty(), "nothing pruned");
    assert!(d.iter().any(|x| x.0 == TrialState::Complete));
    for (state, metrics, steps) in &d {
        let last = *steps.last().unwrap();
        match state {
            // Stopped at a rung (1 or 3): the kept value is the one reported there.
            TrialState::Pruned => assert!(last == 1 || last == 3, "{steps:?}"),
            TrialState::Complete => assert_eq!(last, 9),
            other => panic!("{other:?}"),
        }
        assert_eq!(steps, &(1..=last).collect::<Vec<_>>());
        assert!(metrics.contains_key("value"));
    }
    // The first trial is alone at each rung: it always completes.
    assert_eq!(d[0].0, TrialState::Complete);
    // The optimizer heard of every trial, pruned ones with the score of their last step.
    let told = told.lock().unwrap();
    assert_eq!(told.len(), 30);
    for &(n, score) in told.iter() {
        assert_eq!(score, out.trials[n as usize].metrics.get("value").copied());
    }
    // The best trial is a complete one.
    assert_eq!(out.trials[out.best.unwrap()].state, TrialState::Complete);
}

#[test]
fn a_resumed_pruned_search_decides_as_an_uninterrupted_one() {
    let (mut full, _) = pruned_search(30, 1, 0);
    let want = decisions(&full.run().unwrap());
    let (mut first, _) = pruned_search(11, 1, 0);
    first.run().unwrap();
    let journal = std::mem::replace(&mut first.journal, Box::new(MemoryJournal::new()));
    let (mut second, _) = pruned_search(30, 1, 0);
    second.journal = journal;
    let out = second.run().unwrap();
    assert_eq!(out.resumed_from, 11);
    assert_eq!(decisions(&out), want);
}

#[test]
fn parallel_workers_share_one_pruner() {
    let (mut s, _) = pruned_search(24, 4, 1);
    let out = s.run().unwrap();
    let d = decisions(&out);
    assert_eq!(d.len(), 24);
    assert!(d.iter().any(|x| x.0 == TrialState::Pruned));
    for (state, _, steps) in &d {
        match state {
            TrialState::Pruned => assert!(steps.len() < 9, "{steps:?}"),
            TrialState::Complete => assert_eq!(steps.len(), 9),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn a_trial_that_fails_after_being_pruned_is_recorded_as_pruned() {
    let (mut s, _) = pruned_search(20, 1, 0);
    let want = decisions(&s.run().unwrap());
    let (mut s, _) = pruned_search(20, 1, 0);
    s.estimator = Arc::new(Curves {
        steps: 9,
        sleep_ms: 0,
        fail_when_pruned: true,
    });
    let out = s.run().unwrap();
    assert!(out.trials.iter().all(|t| t.error.is_none()));
    assert_eq!(decisions(&out), want);
}

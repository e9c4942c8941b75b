//! One behaviour suite run against every journal implementation.

use modnas_core::journal::{Journal, JournalError, MemoryJournal, RunMeta};
use modnas_core::param::{Assignment, Domain, ParamSpace, ParamValue, Value};
use modnas_core::trial::{Evaluation, NewTrial, Outcome, TrialState};
use modnas_store::test_server::TestServer;
use modnas_store::{PgJournal, SqliteJournal, Sync};
use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn space() -> ParamSpace {
    let mut s = ParamSpace::new();
    s.add(
        "op",
        Domain::Categorical {
            choices: vec![Value::from("a"), Value::from("b"), Value::from("c")],
        },
    )
    .unwrap();
    s.add(
        "lr",
        Domain::Float {
            low: 1e-5,
            high: 1.0,
            log: true,
        },
    )
    .unwrap();
    s
}

fn new(op: usize, lr: f64, seed: u64) -> NewTrial {
    NewTrial {
        params: Assignment(vec![ParamValue::Choice(op), ParamValue::Float(lr)]),
        seed,
    }
}

fn meta() -> RunMeta {
    RunMeta {
        name: "r".into(),
        seed: 7,
        config: json!({"optim": "RandomSearch"}),
        space: json!([]),
    }
}

fn suite(j: &mut dyn Journal) {
    let s = space();
    assert!(
        j.open(&meta()).unwrap().is_none(),
        "a new run has no stored identity"
    );
    assert_eq!(
        j.open(&meta()).unwrap(),
        Some(meta()),
        "opening again returns the stored identity"
    );
    assert_eq!(j.count().unwrap(), 0);
    assert!(j.optimizer_state().unwrap().is_none());
    let nums = j
        .create(
            &s,
            &[new(0, 0.1, 11), new(1, 0.012345678901234567, u64::MAX)],
            r#"{"k":1}"#,
        )
        .unwrap();
    assert_eq!(nums, vec![0, 1]);
    assert_eq!(j.optimizer_state().unwrap(), Some(r#"{"k":1}"#.to_string()));
    let nums = j.create(&s, &[new(2, 1e-5, 13)], r#"{"k":2}"#).unwrap();
    assert_eq!(nums, vec![2]);

    // Claims come in number order.
    let t0 = j.claim(&s, "w1").unwrap().unwrap();
    assert_eq!(
        (t0.number, t0.state, t0.attempts, t0.seed),
        (0, TrialState::Running, 1, 11)
    );
    let t1 = j.claim(&s, "w2").unwrap().unwrap();
    assert_eq!(t1.number, 1);
    assert_eq!(t1.seed, u64::MAX, "seeds keep all 64 bits");
    assert_eq!(
        t1.params.values()[1],
        ParamValue::Float(0.012345678901234567),
        "floats round-trip exactly"
    );

    // A finish by the wrong worker is refused.
    let ev = Evaluation {
        metrics: [("acc".to_string(), 0.5), ("odd".to_string(), f64::NAN)].into(),
        cost: Some(3.0),
        attrs: json!({"arch": {"cell": "SC3"}}),
    };
    assert!(!j.finish(0, "w2", &Outcome::Complete(ev.clone())).unwrap());
    assert!(j.finish(0, "w1", &Outcome::Complete(ev.clone())).unwrap());
    assert!(
        !j.finish(0, "w1", &Outcome::Complete(ev.clone())).unwrap(),
        "a trial finishes once"
    );
    j.heartbeat(1, "w2").unwrap();
    assert!(j.finish(1, "w2", &Outcome::Failed("boom".into())).unwrap());

    // Release puts a claimed trial back.
    let t2 = j.claim(&s, "w1").unwrap().unwrap();
    assert_eq!(t2.number, 2);
    j.release(2, "w1").unwrap();
    let t2 = j.claim(&s, "w3").unwrap().unwrap();
    assert_eq!(
        (t2.number, t2.attempts),
        (2, 1),
        "a released evaluation is not counted"
    );
    assert!(j.claim(&s, "w3").unwrap().is_none());

    // Reap returns running trials to the queue; the interrupted evaluation counts.
    assert_eq!(j.reap().unwrap(), vec![2]);
    let t2 = j.claim(&s, "w4").unwrap().unwrap();
    assert_eq!((t2.number, t2.attempts), (2, 2));

    // Giving up finishes a waiting trial only.
    let nums = j.create(&s, &[new(0, 0.5, 14)], r#"{"k":2}"#).unwrap();
    assert_eq!(nums, vec![3]);
    assert!(!j.give_up(2, "too often").unwrap(), "trial 2 is running");
    assert!(j.give_up(3, "interrupted 3 times").unwrap());
    assert!(!j.give_up(3, "again").unwrap(), "a trial finishes once");
    assert!(j.claim(&s, "w4").unwrap().is_none(), "it left the queue");
    let (all, _) = j.trials(&s).unwrap();
    assert_eq!(all[3].state, TrialState::Failed);
    assert_eq!(all[3].error.as_deref(), Some("interrupted 3 times"));
    assert!(all[3].finished_at.is_some());

    // A failed trial may keep metrics.
    assert_eq!(
        j.create(&s, &[new(1, 0.2, 15)], r#"{"k":2}"#).unwrap(),
        vec![4]
    );
    assert_eq!(j.claim(&s, "w9").unwrap().unwrap().number, 4);
    let partial = Outcome::FailedWithMetrics {
        reason: "objective metric `loss` is NaN".into(),
        metrics: [("acc".to_string(), 0.25)].into(),
    };
    assert!(!j.finish(4, "w1", &partial).unwrap());
    assert!(j.finish(4, "w9", &partial).unwrap());

    j.mark_told(&[1, 0], r#"{"k":3}"#).unwrap();
    assert_eq!(j.optimizer_state().unwrap(), Some(r#"{"k":3}"#.to_string()));
    let (trials, told) = j.trials(&s).unwrap();
    assert_eq!(told, vec![1, 0], "told order is kept");
    assert_eq!(trials.len(), 5);
    assert_eq!(trials[4].state, TrialState::Failed);
    assert_eq!(trials[4].metrics["acc"], 0.25);
    assert!(trials[4].error.as_deref().unwrap().contains("NaN"));
    assert_eq!(trials[0].state, TrialState::Complete);
    assert_eq!(trials[0].metrics["acc"], 0.5);
    assert!(trials[0].metrics["odd"].is_nan());
    assert_eq!(trials[0].cost, Some(3.0));
    assert_eq!(trials[0].attrs, json!({"arch": {"cell": "SC3"}}));
    assert!(trials[1].attrs.is_null());
    assert!(trials[0].told && trials[1].told && !trials[2].told);
    assert_eq!(trials[1].state, TrialState::Failed);
    assert_eq!(trials[1].error.as_deref(), Some("boom"));
    assert_eq!(trials[2].state, TrialState::Running);
    assert!(trials[0].finished_at.unwrap() >= trials[0].started_at.unwrap());

    j.set_meta("elapsed_s", "1.5").unwrap();
    assert_eq!(j.get_meta("elapsed_s").unwrap().as_deref(), Some("1.5"));
    assert_eq!(j.get_meta("nothing").unwrap(), None);
}

#[test]
fn memory_journal_conforms() {
    suite(&mut MemoryJournal::new());
}

#[test]
fn sqlite_journal_conforms_and_persists() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run/journal.sqlite");
    {
        let mut j = SqliteJournal::open(&path, Sync::Process).unwrap();
        suite(&mut j);
    }
    let mut j = SqliteJournal::open(&path, Sync::Power).unwrap();
    let (trials, told) = j.trials(&space()).unwrap();
    assert_eq!(trials.len(), 5);
    assert_eq!(trials[3].state, TrialState::Failed);
    assert_eq!(trials[4].metrics["acc"], 0.25);
    assert_eq!(told, vec![1, 0]);
    assert_eq!(j.open(&meta()).unwrap(), Some(meta()));
    assert_eq!(j.optimizer_state().unwrap(), Some(r#"{"k":3}"#.to_string()));
}

#[test]
fn sqlite_journal_is_locked_against_a_second_writer() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.sqlite");
    let _first = SqliteJournal::open(&path, Sync::Process).unwrap();
    match SqliteJournal::open(&path, Sync::Process) {
        Err(JournalError::Busy(msg)) => {
            assert!(msg.contains("in use by another modnas process"), "{msg}")
        }
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("a second writer must be refused"),
    }
    // Readers are welcome.
    let mut r = SqliteJournal::open_read_only(&path).unwrap();
    assert_eq!(r.count().unwrap(), 0);
}

#[test]
fn a_file_that_is_not_a_journal_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.sqlite");
    std::fs::write(
        &path,
        b"this is not sqlite at all, just some text that is long enough to look like a header....",
    )
    .unwrap();
    let e = SqliteJournal::open(&path, Sync::Process)
        .err()
        .expect("must fail");
    assert!(e.to_string().contains("not a valid journal"), "{e}");
}

/// A version-1 journal (no `attrs` column), made here with plain SQL; `with_attrs` simulates a
/// migration that stopped after adding the column.
fn v1_journal(path: &std::path::Path, with_attrs: bool) {
    let c = rusqlite::Connection::open(path).unwrap();
    c.execute_batch(&format!(
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
         CREATE TABLE trials (
            number INTEGER PRIMARY KEY, state TEXT NOT NULL, params TEXT NOT NULL,
            seed INTEGER NOT NULL, metrics TEXT, cost REAL, error TEXT,
            attempts INTEGER NOT NULL DEFAULT 0, worker TEXT, created_at REAL NOT NULL,
            started_at REAL, finished_at REAL, heartbeat_at REAL, told_seq INTEGER{});
         CREATE TABLE optimizer_state (id INTEGER PRIMARY KEY CHECK (id = 0), state TEXT NOT NULL, updated_at REAL NOT NULL);
         INSERT INTO meta VALUES ('schema_version', '1');
         INSERT INTO trials(number, state, params, seed, metrics, created_at, told_seq)
             VALUES (0, 'complete', '{{\"op\": \"b\", \"lr\": 0.5}}', 3, '{{\"acc\": 0.25}}', 1.0, 0);",
        if with_attrs { ", attrs TEXT" } else { "" }
    ))
    .unwrap();
}

#[test]
fn a_version_1_journal_is_migrated_and_a_half_migrated_one_opens() {
    for with_attrs in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.sqlite");
        v1_journal(&path, with_attrs);
        let mut j = SqliteJournal::open(&path, Sync::Process)
            .unwrap_or_else(|e| panic!("with_attrs={with_attrs}: {e}"));
        assert_eq!(j.get_meta("schema_version").unwrap().as_deref(), Some("3"));
        assert!(j.steps().unwrap().is_empty());
        let (trials, told) = j.trials(&space()).unwrap();
        assert_eq!(told, vec![0]);
        assert_eq!(trials[0].metrics["acc"], 0.25);
        assert!(trials[0].attrs.is_null());
        drop(j);
        // And again, now at version 3.
        let mut j = SqliteJournal::open(&path, Sync::Process).unwrap();
        assert_eq!(j.count().unwrap(), 1);
    }
}

#[test]
fn fresh_sets_a_corrupt_file_aside_under_the_lock() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.sqlite");
    let junk: Vec<u8> = (0..8192u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    std::fs::write(&path, &junk).unwrap();
    std::fs::write(dir.path().join("journal.sqlite-wal"), b"old wal").unwrap();
    let (mut j, aside) = SqliteJournal::open_fresh(&path, Sync::Process).unwrap();
    let aside = aside.expect("the corrupt file was set aside");
    assert!(
        aside
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("journal.sqlite.corrupt-"),
        "{}",
        aside.display()
    );
    assert_eq!(std::fs::read(&aside).unwrap(), junk);
    let wal = aside.with_file_name(format!(
        "{}-wal",
        aside.file_name().unwrap().to_string_lossy()
    ));
    assert_eq!(std::fs::read(wal).unwrap(), b"old wal");
    assert_eq!(j.count().unwrap(), 0);
    assert!(j.open(&meta()).unwrap().is_none(), "a new, empty run");
    drop(j);
    // A valid journal is reset, not set aside.
    let mut j = SqliteJournal::open(&path, Sync::Process).unwrap();
    j.open(&meta()).unwrap();
    j.create(&space(), &[new(0, 0.1, 1)], "s").unwrap();
    drop(j);
    let (mut j, aside) = SqliteJournal::open_fresh(&path, Sync::Process).unwrap();
    assert!(aside.is_none());
    assert_eq!(j.count().unwrap(), 0);
    // A second process may not set aside a journal in use.
    match SqliteJournal::open_fresh(&path, Sync::Process) {
        Err(JournalError::Busy(_)) => {}
        other => panic!("expected busy, got {:?}", other.map(|_| ())),
    }
}

/// Intermediate results and the pruned state.
fn steps_suite(j: &mut dyn Journal) {
    use modnas_core::trial::Step;
    let s = space();
    j.open(&meta()).unwrap();
    j.create(&s, &[new(0, 0.1, 1), new(1, 0.2, 2)], "{}")
        .unwrap();
    assert_eq!(j.claim(&s, "w1").unwrap().unwrap().number, 0);
    let step = |k: u64, v: f64| Step {
        step: k,
        metrics: [("acc".to_string(), v)].into(),
    };
    // Only the worker holding the claim writes steps; a second write replaces the first.
    assert!(!j.record_steps(0, "w2", &[step(1, 0.0)]).unwrap());
    assert!(!j.record_steps(1, "w1", &[step(1, 0.0)]).unwrap());
    assert!(
        j.record_steps(0, "w1", &[step(1, 0.1), step(2, 0.9)])
            .unwrap()
    );
    assert!(
        j.record_steps(0, "w1", &[step(2, 0.2), step(1, 0.1)])
            .unwrap()
    );
    let ev = Evaluation {
        metrics: [("acc".to_string(), 0.2)].into(),
        cost: Some(2.0),
        attrs: json!(null),
    };
    assert!(j.finish(0, "w1", &Outcome::Pruned(ev)).unwrap());
    let all = j.steps().unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[&0], vec![step(1, 0.1), step(2, 0.2)]);
    let (trials, _) = j.trials(&s).unwrap();
    assert_eq!(trials[0].state, TrialState::Pruned);
    assert!(trials[0].state.is_finished());
    assert_eq!(trials[0].metrics["acc"], 0.2);
    assert_eq!(trials[0].cost, Some(2.0));
}

#[test]
fn memory_journal_keeps_steps_and_pruned_trials() {
    steps_suite(&mut MemoryJournal::new());
}

#[test]
fn sqlite_journal_keeps_steps_and_pruned_trials_across_opens() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.sqlite");
    {
        let mut j = SqliteJournal::open(&path, Sync::Process).unwrap();
        steps_suite(&mut j);
    }
    let mut j = SqliteJournal::open_read_only(&path).unwrap();
    assert_eq!(j.steps().unwrap()[&0].len(), 2);
    assert_eq!(j.trials(&space()).unwrap().0[0].state, TrialState::Pruned);
}

#[test]
fn a_version_2_journal_gains_the_steps_table() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.sqlite");
    v1_journal(&path, true);
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch("UPDATE meta SET value = '2' WHERE key = 'schema_version';")
        .unwrap();
    // Read-only, it is read as it is (no steps table yet).
    let mut r = SqliteJournal::open_read_only(&path).unwrap();
    assert!(r.steps().unwrap().is_empty());
    drop(r);
    let mut j = SqliteJournal::open(&path, Sync::Process).unwrap();
    assert_eq!(j.get_meta("schema_version").unwrap().as_deref(), Some("3"));
    assert!(j.steps().unwrap().is_empty());
    let (trials, _) = j.trials(&space()).unwrap();
    assert_eq!(trials[0].metrics["acc"], 0.25);
}

/// A throw-away server; fails (never skips) when PostgreSQL is not installed.
fn pg_server() -> TestServer {
    TestServer::start("modnas").unwrap_or_else(|e| panic!("{e}"))
}

/// A journal of run `run` whose lease is over at once, so that a reap re-queues every running
/// trial as the SQLite journal's does (its run lock says no other process is evaluating).
fn pg(server: &TestServer, run: &str, lease: Duration) -> PgJournal {
    PgJournal::connect(&server.url(), run, lease).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn postgres_journal_conforms_persists_and_keeps_runs_apart() {
    let server = pg_server();
    suite(&mut pg(&server, "r", Duration::ZERO));
    steps_suite(&mut pg(&server, "steps", Duration::ZERO));
    // Reopened (a resume), everything is there.
    let mut j = pg(&server, "r", Duration::from_secs(60));
    let (trials, told) = j.trials(&space()).unwrap();
    assert_eq!(trials.len(), 5);
    assert_eq!(trials[3].state, TrialState::Failed);
    assert_eq!(trials[4].metrics["acc"], 0.25);
    assert_eq!(told, vec![1, 0]);
    assert_eq!(j.open(&meta()).unwrap(), Some(meta()));
    assert_eq!(j.optimizer_state().unwrap(), Some(r#"{"k":3}"#.to_string()));
    assert_eq!(j.get_meta("elapsed_s").unwrap().as_deref(), Some("1.5"));
    let mut s = pg(&server, "steps", Duration::from_secs(60));
    assert_eq!(s.steps().unwrap()[&0].len(), 2);
    assert_eq!(s.count().unwrap(), 2);
    // Another run in the same database starts empty, and resetting it leaves the others alone.
    let mut other = pg(&server, "other", Duration::from_secs(60));
    assert_eq!(other.count().unwrap(), 0);
    assert!(other.steps().unwrap().is_empty());
    assert!(other.optimizer_state().unwrap().is_none());
    s.reset().unwrap();
    assert_eq!(s.count().unwrap(), 0);
    assert_eq!(j.count().unwrap(), 5);
    // Through the one constructor.
    let mut k = modnas_store::open_journal(&server.url(), "r", &Default::default()).unwrap();
    assert_eq!(k.count().unwrap(), 5);
}

/// Gives a worker thread its own access to a journal: its own connection (PostgreSQL), or a
/// share of one process-wide journal (SQLite, whose run lock admits one process).
type Access = Box<dyn FnMut(&mut dyn FnMut(&mut dyn Journal)) + Send>;

/// `accesses.len()` threads claim and finish from 500 waiting trials: every trial is claimed
/// exactly once, none is lost, and each result is the claiming worker's.
fn claims_are_exclusive(mut setup: Access, accesses: Vec<Access>) {
    const N: usize = 500;
    let s = space();
    let batch: Vec<NewTrial> = (0..N).map(|i| new(i % 3, 0.01, i as u64)).collect();
    setup(&mut |j| {
        j.open(&meta()).unwrap();
        j.create(&s, &batch, "{}").unwrap();
    });
    let handles: Vec<_> = accesses
        .into_iter()
        .enumerate()
        .map(|(w, mut access)| {
            std::thread::spawn(move || {
                let s = space();
                let name = format!("w{w}");
                let mut mine = Vec::new();
                loop {
                    let mut got = None;
                    access(&mut |j| got = j.claim(&s, &name).unwrap().map(|t| t.number));
                    let Some(n) = got else { break };
                    let ev = Evaluation {
                        metrics: [("acc".to_string(), w as f64)].into(),
                        cost: None,
                        attrs: json!(null),
                    };
                    let mut ok = false;
                    access(&mut |j| {
                        ok = j.finish(n, &name, &Outcome::Complete(ev.clone())).unwrap()
                    });
                    assert!(ok, "{name} lost trial {n}");
                    mine.push(n);
                }
                (w, mine)
            })
        })
        .collect();
    let mut all = Vec::new();
    let mut busy = 0;
    for h in handles {
        let (w, mine) = h.join().unwrap();
        busy += usize::from(!mine.is_empty());
        all.extend(mine.iter().map(|&n| (n, w)));
    }
    let mut numbers: Vec<u64> = all.iter().map(|&(n, _)| n).collect();
    numbers.sort_unstable();
    assert_eq!(
        numbers,
        (0..N as u64).collect::<Vec<_>>(),
        "each trial exactly once"
    );
    assert!(
        busy > 1,
        "the work was shared ({busy} workers claimed some)"
    );
    let mut trials = Vec::new();
    setup(&mut |j| trials = j.trials(&s).unwrap().0);
    for (n, w) in all {
        let t = &trials[n as usize];
        assert_eq!(t.state, TrialState::Complete);
        assert_eq!(t.attempts, 1, "trial {n}");
        assert_eq!(t.worker.as_deref(), Some(format!("w{w}").as_str()));
        assert_eq!(t.metrics["acc"], w as f64);
    }
}

#[test]
fn sqlite_claims_from_many_threads_are_exclusive() {
    let dir = tempfile::tempdir().unwrap();
    let j = Arc::new(Mutex::new(
        SqliteJournal::open(&dir.path().join("journal.sqlite"), Sync::Process).unwrap(),
    ));
    let share = |j: &Arc<Mutex<SqliteJournal>>| {
        let j = j.clone();
        Box::new(move |f: &mut dyn FnMut(&mut dyn Journal)| f(&mut *j.lock().unwrap())) as Access
    };
    let accesses: Vec<Access> = (0..8).map(|_| share(&j)).collect();
    claims_are_exclusive(share(&j), accesses);
}

#[test]
fn postgres_claims_from_many_connections_are_exclusive() {
    let server = pg_server();
    let lease = Duration::from_secs(60);
    let own = || {
        let mut j = pg(&server, "r", lease);
        Box::new(move |f: &mut dyn FnMut(&mut dyn Journal)| f(&mut j)) as Access
    };
    let accesses: Vec<Access> = (0..8).map(|_| own()).collect();
    claims_are_exclusive(own(), accesses);
}

/// After a reap, the worker that held the claim can neither finish the trial nor write its
/// steps, and the new worker's result stands.
fn a_reaped_claim_is_lost(j: &mut dyn Journal) {
    let s = space();
    j.open(&meta()).unwrap();
    j.create(&s, &[new(0, 0.1, 1)], "{}").unwrap();
    assert_eq!(j.claim(&s, "old").unwrap().unwrap().number, 0);
    assert_eq!(j.reap().unwrap(), vec![0]);
    let t = j.claim(&s, "new").unwrap().unwrap();
    assert_eq!((t.number, t.attempts), (0, 2));
    let ev = |v: f64| Evaluation {
        metrics: [("acc".to_string(), v)].into(),
        cost: None,
        attrs: json!(null),
    };
    let step = modnas_core::trial::Step {
        step: 1,
        metrics: [("acc".to_string(), 0.0)].into(),
    };
    assert!(
        !j.record_steps(0, "old", std::slice::from_ref(&step))
            .unwrap()
    );
    assert!(!j.finish(0, "old", &Outcome::Complete(ev(0.1))).unwrap());
    assert!(j.finish(0, "new", &Outcome::Complete(ev(0.9))).unwrap());
    assert!(!j.finish(0, "old", &Outcome::Complete(ev(0.1))).unwrap());
    let (trials, _) = j.trials(&s).unwrap();
    assert_eq!(trials[0].metrics["acc"], 0.9);
    assert_eq!(trials[0].worker.as_deref(), Some("new"));
    assert!(j.steps().unwrap().is_empty());
}

#[test]
fn a_reaped_claim_is_lost_everywhere() {
    a_reaped_claim_is_lost(&mut MemoryJournal::new());
    let dir = tempfile::tempdir().unwrap();
    a_reaped_claim_is_lost(
        &mut SqliteJournal::open(&dir.path().join("journal.sqlite"), Sync::Process).unwrap(),
    );
    let server = pg_server();
    a_reaped_claim_is_lost(&mut pg(&server, "r", Duration::ZERO));
}

#[test]
fn postgres_leases_expire_on_the_server_clock_unless_renewed() {
    let server = pg_server();
    let s = space();
    let lease = Duration::from_millis(1500);
    let mut a = pg(&server, "r", lease);
    let mut b = pg(&server, "r", lease);
    a.open(&meta()).unwrap();
    a.create(&s, &[new(0, 0.1, 1), new(1, 0.2, 2)], "{}")
        .unwrap();
    assert_eq!(a.claim(&s, "a").unwrap().unwrap().number, 0);
    assert_eq!(b.claim(&s, "b").unwrap().unwrap().number, 1);
    assert!(b.reap().unwrap().is_empty(), "fresh leases are kept");
    std::thread::sleep(Duration::from_millis(900));
    b.heartbeat(1, "b").unwrap();
    a.heartbeat(1, "a").unwrap(); // not a's trial: renews nothing
    std::thread::sleep(Duration::from_millis(900));
    assert_eq!(
        b.reap().unwrap(),
        vec![0],
        "only the lease without heartbeat expired"
    );
    let t = b.claim(&s, "c").unwrap().unwrap();
    assert_eq!((t.number, t.attempts), (0, 2));
    let ev = Evaluation {
        metrics: [("acc".to_string(), 0.3)].into(),
        cost: None,
        attrs: json!(null),
    };
    assert!(!a.finish(0, "a", &Outcome::Complete(ev.clone())).unwrap());
    assert!(b.finish(0, "c", &Outcome::Complete(ev.clone())).unwrap());
    assert!(b.finish(1, "b", &Outcome::Complete(ev)).unwrap());
    let (trials, _) = a.trials(&s).unwrap();
    assert_eq!(trials[0].worker.as_deref(), Some("c"));
    assert!(trials.iter().all(|t| t.state == TrialState::Complete));
}

#[test]
fn postgres_create_and_mark_told_are_atomic() {
    let server = pg_server();
    let s = space();
    let mut j = pg(&server, "r", Duration::from_secs(60));
    j.open(&meta()).unwrap();
    j.create(&s, &[new(0, 0.1, 1)], "s1").unwrap();
    // Another client makes the database refuse a trial of seed 3 and telling trial 1, so that
    // a create of two trials fails at its second, and telling 0 and 1 at the second.
    let mut raw = postgres::Client::connect(&server.url(), postgres::NoTls).unwrap();
    raw.batch_execute(
        "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS
            $$ BEGIN
                IF NEW.seed = 3 OR (NEW.number = 1 AND NEW.told_seq IS NOT NULL) THEN
                    RAISE EXCEPTION 'refused';
                END IF;
                RETURN NEW;
            END $$;
         CREATE TRIGGER refuse BEFORE INSERT OR UPDATE ON modnas_trials
            FOR EACH ROW EXECUTE FUNCTION refuse();",
    )
    .unwrap();
    let e = j
        .create(&s, &[new(0, 0.2, 2), new(1, 0.3, 3)], "s2")
        .unwrap_err();
    assert!(e.to_string().contains("refused"), "{e}");
    assert_eq!(
        j.optimizer_state().unwrap().as_deref(),
        Some("s1"),
        "state kept"
    );
    assert_eq!(
        j.count().unwrap(),
        1,
        "no trial of the failed create is left"
    );
    assert_eq!(j.create(&s, &[new(0, 0.2, 2)], "s2").unwrap(), vec![1]);
    // Telling 0 and 1 fails at 1: 0 is not told either, and the state is the old one.
    assert!(j.mark_told(&[0, 1], "s3").is_err());
    let (trials, told) = j.trials(&s).unwrap();
    assert!(told.is_empty() && !trials[0].told);
    assert_eq!(j.optimizer_state().unwrap().as_deref(), Some("s2"));
    j.mark_told(&[0], "s3").unwrap();
    assert_eq!(j.trials(&s).unwrap().1, vec![0]);
    assert_eq!(j.optimizer_state().unwrap().as_deref(), Some("s3"));
}

#[test]
fn postgres_passwords_come_from_the_environment_and_failures_name_the_server() {
    let server = pg_server();
    // A wrong password: a clear error naming host, user and database, not the password.
    let wrong = server
        .url()
        .replace(modnas_store::test_server::PASSWORD, "wrong-secret");
    let e = PgJournal::connect(&wrong, "r", Duration::from_secs(1))
        .err()
        .expect("wrong password");
    let m = e.to_string();
    assert!(m.contains("authentication failed"), "{m}");
    assert!(
        m.contains("host=127.0.0.1") && m.contains("user=postgres"),
        "{m}"
    );
    assert!(m.contains("dbname=modnas"), "{m}");
    assert!(!m.contains("wrong-secret"), "{m}");
    // The password from a password file (PGPASSFILE).
    let dir = tempfile::tempdir().unwrap();
    let passfile = dir.path().join("pgpass");
    std::fs::write(
        &passfile,
        format!(
            "127.0.0.1:{}:modnas:postgres:{}\n",
            server.port(),
            modnas_store::test_server::PASSWORD
        ),
    )
    .unwrap();
    // SAFETY: no other test of this binary reads or writes these variables.
    unsafe {
        std::env::remove_var("PGPASSWORD");
        std::env::set_var("PGPASSFILE", &passfile);
    }
    let mut j = PgJournal::connect(&server.url_without_password(), "r", Duration::from_secs(1))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(j.count().unwrap(), 0);
    // PGPASSWORD comes before the file.
    unsafe { std::env::set_var("PGPASSWORD", "env-wrong") };
    let e = PgJournal::connect(&server.url_without_password(), "r", Duration::from_secs(1))
        .err()
        .expect("PGPASSWORD is used");
    assert!(e.to_string().contains("PGPASSWORD"), "{e}");
    assert!(!e.to_string().contains("env-wrong"), "{e}");
    unsafe {
        std::env::remove_var("PGPASSWORD");
        std::env::remove_var("PGPASSFILE");
    }
}

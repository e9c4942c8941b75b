//! One behaviour suite run against every journal implementation.

use modnas_core::journal::{Journal, JournalError, MemoryJournal, RunMeta};
use modnas_core::param::{Assignment, Domain, ParamSpace, ParamValue, Value};
use modnas_core::trial::{Evaluation, NewTrial, Outcome, TrialState};
use modnas_store::{SqliteJournal, Sync};
use serde_json::json;

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

    j.mark_told(&[1, 0], r#"{"k":3}"#).unwrap();
    assert_eq!(j.optimizer_state().unwrap(), Some(r#"{"k":3}"#.to_string()));
    let (trials, told) = j.trials(&s).unwrap();
    assert_eq!(told, vec![1, 0], "told order is kept");
    assert_eq!(trials.len(), 4);
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
    assert_eq!(trials.len(), 4);
    assert_eq!(trials[3].state, TrialState::Failed);
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


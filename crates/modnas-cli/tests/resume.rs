//! Crash safety: a search killed with SIGKILL at any point resumes to exactly the run it would
//! have been, with no duplicate and no lost trial.

mod common;
use common::{modnas, repo, require_nb201, text};
use std::path::Path;
use std::time::{Duration, Instant};

const BUDGET: i64 = 240;

fn args(runs: &Path) -> Vec<String> {
    vec![
        "search".into(),
        repo()
            .join("examples/nb201-regularized-evolution.yaml")
            .display()
            .to_string(),
        "--runs-dir".into(),
        runs.display().to_string(),
        "--no-progress".into(),
        "-q".into(),
        "-o".into(),
        format!("stop.max_trials={BUDGET}"),
        // A little wall-clock time per evaluation, so the kill lands mid-run.
        "-o".into(),
        "estim.args.sleep=0.003".into(),
    ]
}

/// `(number, state, params, metrics)` of every trial.
fn trials(runs: &Path) -> Vec<common::TrialRow> {
    common::trial_rows(&runs.join("nb201-regularized-evolution/journal.sqlite"))
}

fn finished(runs: &Path) -> i64 {
    common::finished_trials(&runs.join("nb201-regularized-evolution/journal.sqlite"))
}

#[test]
fn sigkill_at_several_points_then_resume() {
    require_nb201();
    // Reference: one uninterrupted run.
    let reference_dir = tempfile::tempdir().unwrap();
    let out = modnas().args(args(reference_dir.path())).output().unwrap();
    assert!(out.status.success(), "{:?}", text(&out));
    let reference = trials(reference_dir.path());
    assert_eq!(reference.len() as i64, BUDGET);

    for kill_after in [0, 1, 37, 120, 233] {
        let dir = tempfile::tempdir().unwrap();
        let mut child = modnas().args(args(dir.path())).spawn().unwrap();
        let start = Instant::now();
        loop {
            if finished(dir.path()) >= kill_after || start.elapsed() > Duration::from_secs(60) {
                break;
            }
            if child.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        let at_kill = finished(dir.path());
        // Resume with the very same command.
        let out = modnas().args(args(dir.path())).output().unwrap();
        let (so, se) = text(&out);
        assert!(
            out.status.success(),
            "kill after {kill_after}: resume failed\n{so}\n{se}"
        );
        let t = trials(dir.path());
        assert_eq!(
            t.len() as i64,
            BUDGET,
            "kill after {kill_after} (killed at {at_kill})"
        );
        for (i, row) in t.iter().enumerate() {
            assert_eq!(row.0, i as i64, "trial numbers are contiguous");
            assert_eq!(row.1, "complete");
        }
        let distinct: std::collections::HashSet<&String> = t.iter().map(|r| &r.2).collect();
        assert_eq!(distinct.len() as i64, BUDGET, "no trial is duplicated");
        // The resumed run is the run that would have happened without the crash.
        assert_eq!(
            t, reference,
            "kill after {kill_after} (killed at {at_kill}): trials differ from the uninterrupted run"
        );
        eprintln!(
            "killed after {at_kill} finished trials; resumed to {BUDGET}, identical to the uninterrupted run"
        );
    }
}

#[test]
fn a_second_process_on_the_same_run_is_refused() {
    require_nb201();
    let dir = tempfile::tempdir().unwrap();
    let mut a = args(dir.path());
    a[7] = "stop.max_trials=100000".into();
    a[9] = "estim.args.sleep=0.01".into();
    let mut child = modnas().args(&a).spawn().unwrap();
    let start = Instant::now();
    while finished(dir.path()) < 1 && start.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(5));
    }
    let out = modnas().args(&a).output().unwrap();
    // --fresh must not delete a run that another process is using either.
    let mut fresh = a.clone();
    fresh.push("--fresh".into());
    let out_fresh = modnas().args(&fresh).output().unwrap();
    let still_there = finished(dir.path()) > 0;
    let _ = child.kill();
    let _ = child.wait();
    let (_, se) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{se}");
    assert!(se.contains("in use by another modnas process"), "{se}");
    let (_, se) = text(&out_fresh);
    assert_eq!(out_fresh.status.code(), Some(2), "{se}");
    assert!(se.contains("in use by another modnas process"), "{se}");
    assert!(still_there, "the live run's journal was kept");
}

#[test]
fn sigint_stops_cleanly_and_resumes() {
    require_nb201();
    let dir = tempfile::tempdir().unwrap();
    let mut child = modnas().args(args(dir.path())).spawn().unwrap();
    let start = Instant::now();
    while finished(dir.path()) < 20 && start.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(2));
    }
    // SAFETY: sending SIGINT to our own child process.
    unsafe {
        libc_kill(child.id() as i32, 2);
    }
    let status = child.wait().unwrap();
    assert_eq!(
        status.code(),
        Some(130),
        "an interrupted search exits with 130"
    );
    let n = finished(dir.path());
    assert!(n < BUDGET, "it stopped early ({n})");
    assert!(
        dir.path()
            .join("nb201-regularized-evolution/best.yaml")
            .exists(),
        "results are written on interrupt"
    );
    let out = modnas().args(args(dir.path())).output().unwrap();
    assert!(out.status.success());
    assert_eq!(trials(dir.path()).len() as i64, BUDGET);
}

unsafe extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

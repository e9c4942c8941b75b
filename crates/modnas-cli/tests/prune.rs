//! Pruning from the command line: multi-fidelity synthetic functions and external programs that
//! print step lines, parallel workers, and a run killed with SIGKILL that resumes to the very
//! trials, steps and pruning decisions of an uninterrupted run.

mod common;
use common::{modnas, text, trial_rows as trials};
use rusqlite::Connection;
use std::path::Path;
use std::time::{Duration, Instant};

/// `(number, step, metrics)` of every stored step.
fn steps(journal: &Path) -> Vec<(i64, i64, String)> {
    let c = Connection::open(journal).unwrap();
    let mut s = c
        .prepare("SELECT number, step, metrics FROM steps ORDER BY number, step")
        .unwrap();
    s.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// `modnas search FILE` in `dir`, into `dir/runs`.
fn command(dir: &Path, file: &str) -> std::process::Command {
    let mut c = modnas();
    c.current_dir(dir)
        .args(["search", file, "--runs-dir", "runs", "--no-progress", "-q"]);
    c
}

fn search(dir: &Path, file: &str, extra: &[&str]) -> (String, String) {
    let out = command(dir, file).args(extra).output().unwrap();
    let (so, se) = text(&out);
    assert!(out.status.success(), "{so}\n{se}");
    (so, se)
}

const SYNTHETIC: &str = "name: mf\nestim: {type: MultiFidelity, args: {function: branin, steps: 9}}\noptim: RandomSearch\nstop: {max_trials: 40}\n";

/// Checks that complete trials ran every step and pruned ones stopped at a rung.
fn check_curves(journal: &Path, rungs: &[i64]) -> usize {
    let t = trials(journal);
    let s = steps(journal);
    let mut pruned = 0;
    for (n, state, _, metrics) in &t {
        let mine: Vec<i64> = s.iter().filter(|x| x.0 == *n).map(|x| x.1).collect();
        assert_eq!(
            mine,
            (1..=*mine.last().unwrap()).collect::<Vec<_>>(),
            "trial {n}"
        );
        match state.as_str() {
            "complete" => assert_eq!(mine.len(), 9, "trial {n}"),
            "pruned" => {
                pruned += 1;
                assert!(rungs.contains(mine.last().unwrap()), "trial {n}: {mine:?}");
                // Its metrics are those of its last step.
                let last = &s.iter().rfind(|x| x.0 == *n).unwrap().2;
                assert_eq!(metrics.as_deref(), Some(last.as_str()), "trial {n}");
            }
            other => panic!("trial {n} is {other}"),
        }
    }
    pruned
}

#[test]
fn asha_and_hyperband_prune_a_multi_fidelity_function() {
    let dir = tempfile::tempdir().unwrap();
    for (name, prune, rungs, parallel) in [
        (
            "asha",
            "{type: ASHA, args: {max_resource: 9}}",
            &[1, 3][..],
            1,
        ),
        (
            "asha4",
            "{type: ASHA, args: {max_resource: 9}}",
            &[1, 3][..],
            4,
        ),
        (
            "hb",
            "{type: Hyperband, args: {max_resource: 9}}",
            &[1, 3][..],
            1,
        ),
        (
            "median",
            "{type: MedianStopping, args: {min_trials: 3}}",
            &[1, 2, 3, 4, 5, 6, 7, 8][..],
            2,
        ),
    ] {
        let file = format!("{name}.yaml");
        std::fs::write(
            dir.path().join(&file),
            format!("{SYNTHETIC}parallel: {parallel}\nprune: {prune}\n")
                .replace("name: mf", &format!("name: {name}")),
        )
        .unwrap();
        let (so, _) = search(dir.path(), &file, &[]);
        let journal = dir.path().join(format!("runs/{name}/journal.sqlite"));
        let pruned = check_curves(&journal, rungs);
        assert!(pruned > 0, "{name}: nothing pruned");
        assert!(so.contains(&format!("{pruned} pruned")), "{name}: {so}");
        let html =
            std::fs::read_to_string(dir.path().join(format!("runs/{name}/report.html"))).unwrap();
        assert!(
            html.contains("id=\"curves\"") && html.contains("pruned (last step)"),
            "{name}"
        );
    }
    // Without a pruner, every trial runs its 9 steps and the steps are stored all the same.
    std::fs::write(
        dir.path().join("none.yaml"),
        SYNTHETIC.replace("name: mf", "name: none"),
    )
    .unwrap();
    let (so, _) = search(dir.path(), "none.yaml", &[]);
    assert!(!so.contains("pruned"), "{so}");
    let journal = dir.path().join("runs/none/journal.sqlite");
    assert_eq!(check_curves(&journal, &[]), 0);
    assert_eq!(steps(&journal).len(), 40 * 9);
}

#[test]
fn a_bad_pruner_is_a_located_error() {
    let dir = tempfile::tempdir().unwrap();
    for (prune, want) in [
        ("{type: ASHAA}", "ASHA"),
        ("{type: ASHA, args: {eta: 1}}", "prune.args.eta"),
        ("{type: Hyperband}", "max_resource"),
    ] {
        std::fs::write(
            dir.path().join("bad.yaml"),
            format!("{SYNTHETIC}prune: {prune}\n"),
        )
        .unwrap();
        let out = command(dir.path(), "bad.yaml").output().unwrap();
        let (so, se) = text(&out);
        assert!(!out.status.success(), "{prune}: {so}");
        assert!(se.contains(want), "{prune}: {se}");
        assert!(!se.contains("panicked"), "{se}");
    }
}

/// Prints a learning curve, one step line per step, then the result line.
const CURVE: &str = r#"import json, sys, time
x = float(sys.argv[1])
final = (x - 0.3) ** 2
for step in range(1, 10):
    time.sleep(0.01)
    loss = final + (1.0 + x) * (0.5 ** step)
    print(json.dumps({"step": step, "loss": loss}), flush=True)
print("done")
print(json.dumps({"loss": final}))
"#;

const EXTERNAL: &str = "name: ext\nspace: {x: {low: 0.0, high: 1.0}}\nestim: {type: External, args: {command: [python3, curve.py, \"{x}\"]}}\nobjectives: [loss:min]\nstop: {max_trials: 16}\nprune: {type: ASHA, args: {eta: 2, max_resource: 9}}\n";

#[test]
fn an_external_program_is_pruned_and_a_killed_run_resumes_identically() {
    let reference = tempfile::tempdir().unwrap();
    std::fs::write(reference.path().join("curve.py"), CURVE).unwrap();
    std::fs::write(reference.path().join("ext.yaml"), EXTERNAL).unwrap();
    search(reference.path(), "ext.yaml", &[]);
    let journal = reference.path().join("runs/ext/journal.sqlite");
    let want_trials = trials(&journal);
    let want_steps = steps(&journal);
    assert_eq!(want_trials.len(), 16);
    let pruned = check_curves(&journal, &[1, 2, 4, 8]);
    assert!(pruned > 0, "nothing pruned");
    // A complete trial's result is the line without a step, not its last step line.
    for (n, state, _, metrics) in &want_trials {
        if state == "complete" {
            let last = &want_steps.iter().rfind(|x| x.0 == *n).unwrap().2;
            assert_ne!(metrics.as_deref(), Some(last.as_str()), "trial {n}");
        }
    }

    for kill_after in [2, 9] {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("curve.py"), CURVE).unwrap();
        std::fs::write(dir.path().join("ext.yaml"), EXTERNAL).unwrap();
        let journal = dir.path().join("runs/ext/journal.sqlite");
        let mut child = command(dir.path(), "ext.yaml").spawn().unwrap();
        let start = Instant::now();
        while common::finished_trials(&journal) < kill_after
            && start.elapsed() < Duration::from_secs(60)
            && child.try_wait().unwrap().is_none()
        {
            std::thread::sleep(Duration::from_millis(2));
        }
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        let at_kill = common::finished_trials(&journal);
        search(dir.path(), "ext.yaml", &[]);
        assert_eq!(
            trials(&journal),
            want_trials,
            "killed at {at_kill}: trials or pruning decisions differ from the uninterrupted run"
        );
        assert_eq!(
            steps(&journal),
            want_steps,
            "killed at {at_kill}: steps differ"
        );
    }
}

#[test]
fn a_table_with_a_fidelity_column_is_pruned() {
    let dir = tempfile::tempdir().unwrap();
    // 8 configurations × 2 seeds × 9 epochs: accuracy climbs to a level set by the choice, the
    // first one searched (c0) being the best.
    let mut csv = String::from("op,seed,epoch,acc,time\n");
    for op in 0..8 {
        for seed in 0..2 {
            for epoch in 1..=9 {
                let acc = (8.0 - op as f64) * 10.0 * (1.0 - 0.5f64.powi(epoch)) + seed as f64;
                csv.push_str(&format!("c{op},{seed},{epoch},{acc},{}\n", epoch * 10));
            }
        }
    }
    std::fs::write(dir.path().join("t.csv"), csv).unwrap();
    std::fs::write(
        dir.path().join("t.yaml"),
        "params:\n  op: [c0, c1, c2, c3, c4, c5, c6, c7]\nmetrics: [acc, time]\ncost: time\nseed: seed\nfidelity: epoch\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("tab.yaml"),
        "name: tab\nestim: {type: LookupTable, args: {table: t.csv}}\noptim: GridSearch\nprune: {type: ASHA, args: {eta: 2, max_resource: 9}}\n",
    )
    .unwrap();
    let (so, _) = search(dir.path(), "tab.yaml", &[]);
    let journal = dir.path().join("runs/tab/journal.sqlite");
    let pruned = check_curves(&journal, &[1, 2, 4, 8]);
    assert!(pruned > 0, "{so}");
    // A pruned trial costs the time of the epoch it reached.
    let c = Connection::open(&journal).unwrap();
    let costs: Vec<(String, f64)> = c
        .prepare("SELECT state, cost FROM trials")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(
        costs.iter().all(|(s, c)| (s == "complete") == (*c == 90.0)),
        "{costs:?}"
    );
}

#[test]
fn bohb_brings_its_hyperband_pruner_when_none_is_configured() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bohb.yaml"),
        SYNTHETIC.replace("name: mf", "name: bohb").replace(
            "optim: RandomSearch",
            "optim: {type: BOHB, args: {max_resource: 9}}",
        ),
    )
    .unwrap();
    search(dir.path(), "bohb.yaml", &[]);
    let pruned = check_curves(&dir.path().join("runs/bohb/journal.sqlite"), &[1, 3]);
    assert!(pruned > 0, "BOHB's Hyperband pruned nothing");
}

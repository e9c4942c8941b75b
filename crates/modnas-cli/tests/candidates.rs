//! Discrete searches over a network through the command line: every discrete optimizer with the
//! `SubNet` and `SPOS` estimators by a change of `optim:` / `estim:`, final training of the
//! result, a trained supernet serving a second search, and exact resume after a crash in the
//! middle of supernet training.
#![cfg(feature = "torch")]

mod common;

use common::{modnas, text};
use std::path::Path;

/// A network with two searchable slots of four candidates, on synthetic 1×16×16 images.
const NET: &str = r#"
seed: 5
model:
  type: ConvNet
  args: {chn_in: 1, image_size: 16, n_classes: 4, widths: [4, 8], blocks: 1}
candidates: [NC1, NC3, SC3, IDT]
data: {dataset: synthetic, synthetic_size: 64, valid_size: 32, test_size: 32, batch_size: 16}
threads: 1
train:
  estim: {final: {type: Default, args: {epochs: 1}}}
"#;

fn search(dir: &Path, name: &str, extra: &str, env: &[(&str, &str)]) -> (bool, String, String) {
    std::fs::write(dir.join(format!("{name}.yaml")), format!("{NET}{extra}")).unwrap();
    let mut cmd = modnas();
    cmd.current_dir(dir).args([
        "search",
        &format!("{name}.yaml"),
        "--runs-dir",
        "runs",
        "--no-progress",
    ]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let (so, se) = text(&out);
    (out.status.success(), so, se)
}

/// `(params, metrics)` of every trial in `best.yaml`'s run, from its journal, as text.
fn trials(dir: &Path, run: &str) -> Vec<String> {
    let conn =
        rusqlite::Connection::open(dir.join("runs").join(run).join("journal.sqlite")).unwrap();
    let mut q = conn
        .prepare("SELECT number, params, metrics FROM trials ORDER BY number")
        .unwrap();
    q.query_map([], |r| {
        Ok(format!(
            "{} {} {}",
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, Option<String>>(2)?.unwrap_or_default()
        ))
    })
    .unwrap()
    .map(Result::unwrap)
    .collect()
}

#[test]
fn every_discrete_optimizer_searches_a_network_by_one_line() {
    let dir = tempfile::tempdir().unwrap();
    for optim in [
        "GridSearch",
        "RandomSearch",
        "Evolution",
        "RegularizedEvolution",
        "Smbo",
        "BayesOpt",
    ] {
        let name = format!("subnet-{}", optim.to_lowercase());
        let (ok, so, se) = search(
            dir.path(),
            &name,
            &format!(
                "search:\n  optim: {optim}\n  estim: {{type: SubNet, args: {{epochs: 1, max_steps: 2}}}}\n  stop: {{max_trials: 3}}\n"
            ),
            &[],
        );
        assert!(ok, "{optim}:\n{so}\n{se}");
        assert!(so.contains("3 trials: 3 complete"), "{optim}: {so}");
        let best =
            std::fs::read_to_string(dir.path().join("runs").join(&name).join("best.yaml")).unwrap();
        for key in [
            "stage0-block0:",
            "stage1-block0:",
            "val_acc:",
            "params_m:",
            "macs_m:",
        ] {
            assert!(best.contains(key), "{optim}: {key} missing from\n{best}");
        }
    }
    // The found architecture trains as a stand-alone network.
    let out = modnas()
        .current_dir(dir.path())
        .args([
            "train",
            "subnet-randomsearch.yaml",
            "--arch",
            "runs/subnet-randomsearch/best.yaml",
            "--runs-dir",
            "runs",
            "--no-progress",
        ])
        .output()
        .unwrap();
    let (so, se) = text(&out);
    assert!(out.status.success(), "{so}\n{se}");
    assert!(so.contains("test accuracy"), "{so}");
}

const SPOS: &str = "search:\n  optim: RegularizedEvolution\n  estim: {type: SPOS, args: {epochs: 2, num_bn_batch: 2}}\n  stop: {max_trials: 6}\n";

#[test]
fn spos_resumes_a_crash_in_supernet_training_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, so, se) = search(dir.path(), "whole", SPOS, &[]);
    assert!(ok, "{so}\n{se}");
    assert!(dir.path().join("runs/whole/supernet/last").exists());
    // Killed after the supernet's first epoch was checkpointed, before anything else.
    let (ok, _, se) = search(
        dir.path(),
        "crashed",
        SPOS,
        &[("MODNAS_TEST_CRASH_AT", "checkpoint-renamed@1")],
    );
    assert!(!ok, "the crash hook fired: {se}");
    assert!(
        trials(dir.path(), "crashed")
            .iter()
            .all(|t| t.ends_with(' ')),
        "no trial finished"
    );
    let (ok, so, se) = search(dir.path(), "crashed", SPOS, &[]);
    assert!(ok, "{so}\n{se}");
    let log = std::fs::read_to_string(dir.path().join("runs/crashed/search.log")).unwrap();
    assert!(
        log.contains("supernet: resumed after 1 of 2 epochs"),
        "{log}"
    );
    let (a, b) = (trials(dir.path(), "whole"), trials(dir.path(), "crashed"));
    assert_eq!(a.len(), 6);
    assert_eq!(
        a, b,
        "the resumed run evaluates exactly what the uninterrupted one did"
    );
}

#[test]
fn a_trained_supernet_serves_another_search() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, so, se) = search(dir.path(), "first", SPOS, &[]);
    assert!(ok, "{so}\n{se}");
    let reuse = SPOS.replace(
        "num_bn_batch: 2}",
        "num_bn_batch: 2, supernet: runs/first/supernet}",
    );
    let (ok, so, se) = search(
        dir.path(),
        "second",
        &reuse.replace("RegularizedEvolution", "RandomSearch"),
        &[],
    );
    assert!(ok, "{so}\n{se}");
    let log = std::fs::read_to_string(dir.path().join("runs/second/search.log")).unwrap();
    assert!(!log.contains("supernet: training"), "{log}");
    assert!(!dir.path().join("runs/second/supernet").exists());
    // A missing supernet is a configuration error before anything runs.
    let bad = SPOS.replace(
        "num_bn_batch: 2}",
        "num_bn_batch: 2, supernet: runs/nowhere}",
    );
    let (ok, so, se) = search(dir.path(), "third", &bad, &[]);
    assert!(!ok);
    assert!(se.contains("runs/nowhere does not exist"), "{so}\n{se}");
}

#[test]
fn a_pruner_stops_candidate_networks_early() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, so, se) = search(
        dir.path(),
        "pruned",
        "search:\n  optim: RandomSearch\n  estim: {type: SubNet, args: {epochs: 4, max_steps: 1}}\n  prune: {type: ASHA, args: {eta: 2, min_resource: 1, max_resource: 4}}\n  stop: {max_trials: 8}\n",
        &[],
    );
    assert!(ok, "{so}\n{se}");
    assert!(
        so.contains("pruned"),
        "some candidate was stopped early: {so}"
    );
    // Every candidate's validation curve is in the journal, one step per epoch trained.
    let conn = rusqlite::Connection::open(dir.path().join("runs/pruned/journal.sqlite")).unwrap();
    let steps: i64 = conn
        .query_row("SELECT COUNT(*) FROM steps", [], |r| r.get(0))
        .unwrap();
    assert!(
        (8..32).contains(&steps),
        "{steps} steps for 8 trials of at most 4 epochs"
    );
}

/// On DARTS cells a candidate is every edge's own choice: what is trained, described and written
/// to `best.yaml` is the assignment itself, not a gradient search's export of the two strongest
/// edges per node (which would drop edges the candidate evaluated).
#[test]
fn a_cell_candidate_is_described_and_trained_as_assigned() {
    let dir = tempfile::tempdir().unwrap();
    let cells = "seed: 2\nmodel: {type: DARTS, args: {chn_in: 1, image_size: 16, n_classes: 4, chn: 4, layers: 2, nodes: 3}}\nops: {affine: false}\ndata: {dataset: synthetic, synthetic_size: 32, valid_size: 16, test_size: 16, batch_size: 16}\nthreads: 1\noptim: RandomSearch\nestim: {type: SubNet, args: {epochs: 1, max_steps: 1}}\nstop: {max_trials: 4}\n";
    std::fs::write(dir.path().join("cells.yaml"), cells).unwrap();
    let out = modnas()
        .current_dir(dir.path())
        .args([
            "search",
            "cells.yaml",
            "--runs-dir",
            "runs",
            "--no-progress",
        ])
        .output()
        .unwrap();
    let (so, se) = text(&out);
    assert!(out.status.success(), "{so}\n{se}");
    let best = std::fs::read_to_string(dir.path().join("runs/cells/best.yaml")).unwrap();
    // `params:` is a block of `  edge: OP` lines; `description:` one quoted line of `edge=OP`.
    let assigned: Vec<String> = best
        .lines()
        .skip_while(|l| *l != "params:")
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .map(|l| l.trim().replacen(": ", "=", 1))
        .collect();
    assert!(
        assigned.len() >= 9,
        "one choice per edge of a 3-node cell: {best}"
    );
    let line = best
        .lines()
        .find_map(|l| l.strip_prefix("description: "))
        .expect("a description");
    let described: Vec<String> = line
        .trim_matches('"')
        .split(' ')
        .map(String::from)
        .collect();
    assert_eq!(described, assigned, "{best}");
}

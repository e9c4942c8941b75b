//! A network search crashed at every step of saving and recording an epoch resumes and ends
//! exactly as an uninterrupted run: its checkpoints and its journal never disagree.
#![cfg(feature = "torch")]

mod common;

use common::{modnas, text};
use std::path::Path;

const TINY: &str = r#"
seed: 5
model:
  type: ConvNet
  args: {chn_in: 1, image_size: 16, n_classes: 4, widths: [8, 8], blocks: 1}
candidates: [NC1, NC3, SC3, AVG, IDT, NIL]
data: {dataset: synthetic, synthetic_size: 64, valid_size: 32, test_size: 32, batch_size: 16}
threads: 1
search:
  optim: DARTS
  estim:
    warmup: {type: Default, args: {epochs: 1, test: false}}
    search: {type: SuperNet, args: {epochs: 2}}
"#;

fn search(cfg: &Path, runs: &Path, name: &str, crash: Option<&str>) -> (Option<i32>, String) {
    let mut c = modnas();
    c.arg("search")
        .arg(cfg)
        .args(["--name", name, "--no-progress", "--runs-dir"])
        .arg(runs);
    if let Some(at) = crash {
        c.env("MODNAS_TEST_CRASH_AT", at);
    }
    let o = c.output().expect("modnas runs");
    let (out, err) = text(&o);
    (o.status.code(), format!("{out}\n{err}"))
}

/// A temporary directory with the configuration written into it, and its runs directory.
fn setup() -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let cfg = dir.path().join("tiny.yaml");
    std::fs::write(&cfg, TINY).expect("write");
    let runs = dir.path().join("runs");
    (dir, cfg, runs)
}

/// Runs the search `name` to its end without interruption.
fn finished(cfg: &Path, runs: &Path, name: &str) {
    let (code, out) = search(cfg, runs, name, None);
    assert_eq!(code, Some(0), "{out}");
}

fn best(runs: &Path, name: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(runs.join(name).join("best.yaml")).expect("best.yaml");
    modnas_core::config::yaml::parse_str("best.yaml", &text)
        .expect("YAML")
        .to_json()
}

fn assert_same(runs: &Path, a: &str, b: &str) {
    let (x, y) = (best(runs, a), best(runs, b));
    assert_eq!(x["arch"], y["arch"], "{b}: the same architecture as {a}");
    assert_eq!(x["epochs"], y["epochs"], "{b}: the same number of epochs");
    assert_eq!(
        x["metrics"]["val_acc"], y["metrics"]["val_acc"],
        "{b}: the same final validation accuracy"
    );
    assert_eq!(
        x["metrics"]["train_loss"], y["metrics"]["train_loss"],
        "{b}: the same final training loss"
    );
}

#[test]
fn a_crash_at_any_step_of_an_epoch_save_resumes_to_the_same_result() {
    let (_dir, cfg, runs) = setup();
    finished(&cfg, &runs, "whole");
    for step in [
        "checkpoint-weights",
        "checkpoint-files",
        "checkpoint-renamed",
        "epoch-created",
        "epoch-committed",
    ] {
        for epoch in [1, 2] {
            let name = format!("{step}-{epoch}");
            let at = format!("{step}@{epoch}");
            let (code, out) = search(&cfg, &runs, &name, Some(&at));
            assert_ne!(code, Some(0), "{at}: the crash point was reached: {out}");
            assert!(out.contains("crashing at"), "{at}: {out}");
            let (code, out) = search(&cfg, &runs, &name, None);
            assert_eq!(code, Some(0), "{at}: the rerun resumes: {out}");
            assert!(out.contains("3 epochs"), "{at}: {out}");
            assert_same(&runs, "whole", &name);
            // Only the last epoch's checkpoint is kept once it is recorded.
            let ckpt = runs.join(&name).join("checkpoints");
            let mut left: Vec<String> = std::fs::read_dir(&ckpt)
                .expect("checkpoints")
                .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
                .collect();
            left.sort();
            assert_eq!(left, ["epoch-3", "last"], "{at}");
            assert_eq!(
                std::fs::read_link(ckpt.join("last")).expect("a link"),
                Path::new("epoch-3"),
                "{at}"
            );
        }
    }
}

#[test]
fn a_failed_checkpoint_save_loses_no_recorded_epoch() {
    let (_dir, cfg, runs) = setup();
    finished(&cfg, &runs, "whole");
    // The run stops after its first epoch; then a plain file where the second epoch's
    // checkpoint goes makes that save fail.
    let (code, out) = search(&cfg, &runs, "cut", Some("epoch-committed@1"));
    assert_ne!(code, Some(0), "{out}");
    let ckpt = runs.join("cut").join("checkpoints");
    std::fs::write(ckpt.join("epoch-2"), "in the way").expect("write");
    let (code, out) = search(&cfg, &runs, "cut", None);
    assert_eq!(code, Some(1), "the save failed: {out}");
    assert!(out.contains("epoch-2"), "the error names the path: {out}");
    std::fs::remove_file(ckpt.join("epoch-2")).expect("rm");
    let (code, out) = search(&cfg, &runs, "cut", None);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("resuming after 1 recorded epochs"), "{out}");
    assert_same(&runs, "whole", "cut");
}

#[test]
fn a_checkpoint_in_the_older_layout_still_resumes() {
    let (_dir, cfg, runs) = setup();
    finished(&cfg, &runs, "old");
    // The older layout kept `checkpoints/last` (and left `tmp` complete when a crash hit its
    // swap); both are read when they hold the recorded epochs.
    let ckpt = runs.join("old").join("checkpoints");
    std::fs::remove_file(ckpt.join("last")).expect("the link");
    let mut from = ckpt.join("epoch-3");
    for old in ["last", "tmp"] {
        std::fs::rename(&from, ckpt.join(old)).expect("rename");
        from = ckpt.join(old);
        let (code, out) = search(&cfg, &runs, "old", None);
        assert_eq!(code, Some(0), "{old}: {out}");
        assert!(
            out.contains("resuming after 3 recorded epochs"),
            "{old}: {out}"
        );
    }
}

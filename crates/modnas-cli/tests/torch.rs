//! The tensor layer through the command line: every gradient method by a one-line change, final
//! training of the exported architecture, crash and resume, and clear errors for bad input.
#![cfg(feature = "torch")]

mod common;

use common::{modnas, text};
use std::path::Path;

/// A tiny search on synthetic 1×16×16 images of 4 classes: seconds per run.
const TINY: &str = r#"
seed: 3
model:
  type: ConvNet
  args: {chn_in: 1, image_size: 16, n_classes: 4, widths: [4, 8], blocks: 1}
candidates: [NC1, NC3, SC3, DC3, AVG, IDT, NIL]
data: {dataset: synthetic, synthetic_size: 96, valid_size: 48, test_size: 48, batch_size: 16}
threads: 1
search:
  optim: DARTS
  estim:
    warmup: {type: Default, args: {epochs: 1, test: false}}
    search: {type: SuperNet, args: {epochs: 2}}
train:
  estim:
    final: {type: Default, args: {epochs: 2}}
"#;

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write");
    p
}

fn run(args: &[&str], runs: &Path) -> (i32, String, String) {
    let o = modnas()
        .args(args)
        .arg("--runs-dir")
        .arg(runs)
        .arg("--no-progress")
        .output()
        .expect("modnas runs");
    let (out, err) = text(&o);
    (o.status.code().unwrap_or(-1), out, err)
}

fn best(runs: &Path, name: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(runs.join(name).join("best.yaml")).expect("best.yaml");
    let node = modnas_core::config::yaml::parse_str("best.yaml", &text).expect("YAML");
    node.to_json()
}

#[test]
fn every_gradient_method_is_one_line_away_and_its_result_trains() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let cfg = write(dir.path(), "tiny.yaml", TINY);
    let cfg = cfg.to_str().expect("path");
    let runs = dir.path().join("runs");
    let methods = [
        "DARTS",
        "{type: DARTS, args: {order: 2}}",
        "DirectGrad",
        "SNAS",
        "ProxylessNAS-G",
        "ProxylessNAS-GU",
        "REINFORCE",
    ];
    for (i, m) in methods.iter().enumerate() {
        let name = format!("m{i}");
        let o = format!("optim={m}");
        let (code, out, err) = run(&["search", cfg, "-o", &o, "--name", &name], &runs);
        assert_eq!(code, 0, "{m}: {out}\n{err}");
        assert!(out.contains("3 epochs"), "{m}: {out}");
        let b = best(&runs, &name);
        let arch = b["arch"].as_object().expect("arch map");
        assert_eq!(arch.len(), 2, "{m}: one entry per slot: {arch:?}");
        for v in arch.values() {
            let op = v.as_str().expect("operation name");
            assert!(
                ["NC1", "NC3", "SC3", "DC3", "AVG", "IDT", "NIL"].contains(&op),
                "{m}: {op}"
            );
        }
        assert!(b["metrics"]["val_acc"].as_f64().is_some(), "{m}: {b}");
        // The journal holds one record per epoch with the architecture of that epoch.
        let conn =
            rusqlite::Connection::open(runs.join(&name).join("journal.sqlite")).expect("journal");
        let n: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM trials WHERE state = 'complete'",
                [],
                |r| r.get(0),
            )
            .expect("count");
        assert_eq!(n, 3, "{m}");
    }
    // The found network trains from scratch and is tested.
    let arch = runs.join("m0").join("best.yaml");
    let arch = arch.to_str().expect("path");
    let (code, out, err) = run(&["train", cfg, "--arch", arch, "--name", "final"], &runs);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("test accuracy:"), "{out}");
    let b = best(&runs, "final");
    let acc = b["test"]["test_acc"].as_f64().expect("test accuracy");
    assert!((0.0..=100.0).contains(&acc));
    assert_eq!(
        b["arch"],
        best(&runs, "m0")["arch"],
        "the trained architecture is the searched one"
    );
    // The derived network can start from the supernet's weights (same variable names).
    let w = runs.join("m0/checkpoints/last/weights.ot");
    let o = format!("init_from={}", w.display());
    let (code, out, err) = run(
        &["train", cfg, "--arch", arch, "--name", "warm", "-o", &o],
        &runs,
    );
    assert_eq!(code, 0, "{out}\n{err}");
    let line = err
        .lines()
        .find(|l| l.contains("initialised"))
        .unwrap_or_else(|| panic!("{err}"));
    let n: usize = line
        .split_whitespace()
        .find_map(|w| w.parse().ok())
        .expect("a count");
    assert!(n > 0, "{line}");
}

#[test]
fn a_killed_search_resumes_after_its_last_epoch() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let long = TINY.replace(
        "search: {type: SuperNet, args: {epochs: 2}}",
        "search: {type: SuperNet, args: {epochs: 12}}",
    );
    let cfg = write(dir.path(), "tiny.yaml", &long);
    let cfg = cfg.to_str().expect("path");
    let runs = dir.path().join("runs");
    // The reference: the whole run at once.
    let (code, out, err) = run(&["search", cfg, "--name", "whole"], &runs);
    assert_eq!(code, 0, "{out}\n{err}");
    // The same run killed once its third epoch is in the journal, then rerun.
    let mut child = modnas()
        .args([
            "search",
            cfg,
            "--name",
            "cut",
            "--no-progress",
            "--runs-dir",
        ])
        .arg(&runs)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stdout));
    let mut seen = 0;
    for l in lines.by_ref() {
        if l.expect("line").contains("epoch") {
            seen += 1;
            if seen == 3 {
                break;
            }
        }
    }
    child.kill().expect("kill");
    let _ = child.wait();
    assert_eq!(seen, 3, "the run printed its epochs");
    let (code, out, err) = run(&["search", cfg, "--name", "cut"], &runs);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(err.contains("resuming after"), "{err}");
    assert!(out.contains("13 epochs"), "{out}");
    let (a, b) = (best(&runs, "whole"), best(&runs, "cut"));
    assert_eq!(
        a["arch"], b["arch"],
        "the resumed run found the same architecture"
    );
    let (va, vb) = (
        a["metrics"]["val_acc"].as_f64().expect("val_acc"),
        b["metrics"]["val_acc"].as_f64().expect("val_acc"),
    );
    assert!(
        (va - vb).abs() < 1e-9,
        "final validation accuracy {va} vs {vb}"
    );
}

/// Runs `search` on the tiny configuration changed by `overrides`; returns (exit code, stderr).
fn failing(extra: &str, overrides: &[&str], cmd: &str, arch: Option<&str>) -> (i32, String) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let cfg = write(dir.path(), "tiny.yaml", &format!("{TINY}{extra}"));
    let runs = dir.path().join("runs");
    let mut args: Vec<String> = vec![cmd.into(), cfg.to_str().expect("path").into()];
    for o in overrides {
        args.push("-o".into());
        args.push(o.to_string());
    }
    if let Some(a) = arch {
        let p = write(dir.path(), "arch.yaml", a);
        args.push("--arch".into());
        args.push(p.to_str().expect("path").into());
    }
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, out, err) = run(&refs, &runs);
    assert!(!err.contains("panicked"), "a panic: {err}");
    assert!(!err.contains("RUST_BACKTRACE"), "a panic: {err}");
    let _ = out;
    (code, err)
}

#[test]
fn an_unknown_primitive_is_named_with_a_suggestion_and_its_line() {
    let (code, err) = failing("", &["candidates=[NC1, SC3, XC3]"], "search", None);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("unknown primitive `XC3`"), "{err}");
    assert!(err.contains("did you mean"), "{err}");
}

#[test]
fn a_primitive_that_cannot_take_a_slot_shape_names_the_slot() {
    // Pooling keeps channels; the second stage changes them (4 → 8), so it has no candidate.
    let (code, err) = failing("", &["candidates=[MAX, AVG]"], "search", None);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("stage1-block0"), "{err}");
    assert!(err.contains("in=4 out=8 stride=2"), "{err}");
}

#[test]
fn data_of_another_shape_than_the_model_is_a_clear_error() {
    let (code, err) = failing("", &["model.args.image_size=28"], "search", None);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("[1, 16, 16]") && err.contains("[1, 28, 28]"),
        "{err}"
    );
}

#[test]
fn missing_or_corrupt_idx_files_are_named() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let root = dir.path().to_str().expect("path").to_string();
    let o = format!("data={{dataset: fashion_mnist, root: {root}, valid_size: 10}}");
    let (code, err) = failing("", &[&o], "search", None);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("train-images-idx3-ubyte") && err.contains("file not found"),
        "{err}"
    );
    // Not gzip, and then a wrong magic number.
    std::fs::write(
        dir.path().join("train-images-idx3-ubyte.gz"),
        b"this is not gzip",
    )
    .expect("write");
    let (_, err) = failing("", &[&o], "search", None);
    assert!(err.contains("train-images-idx3-ubyte.gz"), "{err}");
    std::fs::remove_file(dir.path().join("train-images-idx3-ubyte.gz")).expect("remove");
    std::fs::write(
        dir.path().join("train-images-idx3-ubyte"),
        [0u8, 0, 9, 9, 0, 0, 0, 1],
    )
    .expect("write");
    let (_, err) = failing("", &[&o], "search", None);
    assert!(
        err.contains("train-images-idx3-ubyte:") && err.contains("element type"),
        "{err}"
    );
}

#[test]
fn an_architecture_that_does_not_fit_the_network_names_the_entry() {
    let good = "arch: {stage0-block0: SC3, stage1-block0: DC3}";
    let (code, err) = failing(
        "",
        &[],
        "train",
        Some("arch: {stage0-block0: SC3, stage1-blok0: DC3}"),
    );
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("`stage1-blok0`") && err.contains("did you mean `stage1-block0`"),
        "{err}"
    );
    let (_, err) = failing("", &[], "train", Some("arch: {stage0-block0: SC3}"));
    assert!(err.contains("no entry for slot `stage1-block0`"), "{err}");
    let (_, err) = failing(
        "",
        &[],
        "train",
        Some("arch: {stage0-block0: SC9X, stage1-block0: DC3}"),
    );
    assert!(
        err.contains("stage0-block0") && err.contains("SC9X"),
        "{err}"
    );
    let (code, err) = failing("", &[], "train", Some("arch: [1, 2]"));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("arch.yaml"), "{err}");
    // And the good one trains.
    let (code, err) = failing("", &[], "train", Some(good));
    assert_eq!(code, 0, "{err}");
}

#[test]
fn train_without_an_architecture_says_how_to_give_one() {
    let (code, err) = failing("", &[], "train", None);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--arch"), "{err}");
}

#[test]
fn a_macs_penalty_steers_the_search_to_cheaper_operations() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let cfg = write(dir.path(), "tiny.yaml", TINY);
    let cfg = cfg.to_str().expect("path");
    let runs = dir.path().join("runs");
    let cands = "candidates=[NC1, NC7]";
    let (code, out, err) = run(&["search", cfg, "-o", cands, "--name", "plain"], &runs);
    assert_eq!(code, 0, "{out}\n{err}");
    let (code, out, err) = run(
        &[
            "search",
            cfg,
            "-o",
            cands,
            "-o",
            "macs_penalty=50",
            "--name",
            "cheap",
        ],
        &runs,
    );
    assert_eq!(code, 0, "{out}\n{err}");
    let cheap = best(&runs, "cheap");
    for (slot, op) in cheap["arch"].as_object().expect("arch") {
        assert_eq!(
            op, "NC1",
            "{slot}: the penalty should pick the 1×1 convolution"
        );
    }
    let macs = |b: &serde_json::Value| b["metrics"]["macs_m"].as_f64().expect("macs_m");
    assert!(
        macs(&cheap) < macs(&best(&runs, "plain")),
        "expected MACs {} (penalised) vs {}",
        macs(&cheap),
        macs(&best(&runs, "plain"))
    );
}

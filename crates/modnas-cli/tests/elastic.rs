//! Elastic width and depth through the command line: Once-for-All's progressive shrinking on
//! MobileNetV2-Elastic with a discrete optimizer, the found subnet trained stand-alone from the
//! supernet's weights, exact resume after a crash mid-stage, and SPOS / SubNet on the same space.
#![cfg(feature = "torch")]

mod common;

use common::{modnas, text};
use std::path::Path;

const NET: &str = r#"
seed: 3
model:
  type: MobileNetV2-Elastic
  args: {chn_in: 1, image_size: 16, n_classes: 4, cifar: true, width_mult: 0.25, last_channels: 16, dropout: 0.0, depths: [1, 2]}
data: {dataset: synthetic, synthetic_size: 64, valid_size: 32, test_size: 32, batch_size: 16}
threads: 1
train:
  estim: {final: {type: Default, args: {epochs: 1}}}
"#;

fn run(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
    let mut cmd = modnas();
    cmd.current_dir(dir)
        .args(args)
        .args(["--runs-dir", "runs", "--no-progress"]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let (so, se) = text(&out);
    (out.status.success(), so, se)
}

fn search(dir: &Path, name: &str, extra: &str, env: &[(&str, &str)]) -> (bool, String, String) {
    std::fs::write(dir.join(format!("{name}.yaml")), format!("{NET}{extra}")).unwrap();
    run(dir, &["search", &format!("{name}.yaml")], env)
}

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

fn log(dir: &Path, run: &str) -> String {
    std::fs::read_to_string(dir.join("runs").join(run).join("search.log")).unwrap()
}

const PS: &str = "search:\n  optim: RegularizedEvolution\n  estim: {type: ProgressiveShrinking, args: {epochs_per_stage: 1, max_steps: 2, n_subnet_batch: 2, num_bn_batch: 2}}\n  stop: {max_trials: 5}\n";

#[test]
fn progressive_shrinking_searches_and_the_subnet_trains_from_the_supernet() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, so, se) = search(dir.path(), "ps", PS, &[]);
    assert!(ok, "{so}\n{se}");
    assert!(so.contains("5 trials: 5 complete"), "{so}");
    // Widths {6}, {6,3}, {6,3,1}, then depths {2,1}: four stages, largest network first.
    let l = log(dir.path(), "ps");
    for s in [
        "stage 1/4 (widths: 1 largest, depths: 1 largest)",
        "stage 4/4 (widths: 3 largest, depths: 2 largest)",
    ] {
        assert!(l.contains(s), "{s} missing from\n{l}");
    }
    let best = std::fs::read_to_string(dir.path().join("runs/ps/best.yaml")).unwrap();
    for key in ["stage1.depth:", "stage1-block0.expansion:", "macs_m:"] {
        assert!(best.contains(key), "{key} missing from\n{best}");
    }
    // The chosen subnet, built stand-alone, starts from the supernet's (sliced) weights.
    let (ok, so, se) = run(
        dir.path(),
        &[
            "train",
            "ps.yaml",
            "--arch",
            "runs/ps/best.yaml",
            "--init-from",
            "runs/ps/supernet",
        ],
        &[],
    );
    assert!(ok, "{so}\n{se}");
    let l = log(dir.path(), "ps-train");
    let line = l
        .lines()
        .find(|l| l.contains("initialised"))
        .unwrap_or_else(|| panic!("no initialisation line in\n{l}"));
    let after = line.split("initialised").nth(1).unwrap_or_default();
    let nums: Vec<usize> = after
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|w| w.parse().ok())
        .collect();
    assert!(
        nums.len() >= 2 && nums[0] == nums[1],
        "every variable inherited: {line}"
    );
    assert!(line.contains("as leading slices"), "{line}");
    // A path that is not there is a usage error.
    let (ok, _, se) = run(
        dir.path(),
        &[
            "train",
            "ps.yaml",
            "--arch",
            "runs/ps/best.yaml",
            "--init-from",
            "runs/none",
        ],
        &[],
    );
    assert!(!ok && se.contains("--init-from runs/none"), "{se}");
}

#[test]
fn progressive_shrinking_resumes_a_crash_mid_stage_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let staged = PS.replace(
        "epochs_per_stage: 1,",
        "stages: [{epochs: 2, width: 1, depth: 1}, {epochs: 2, width: 3, depth: 2}],",
    );
    let (ok, so, se) = search(dir.path(), "whole", &staged, &[]);
    assert!(ok, "{so}\n{se}");
    // Killed after the third epoch's checkpoint: in the middle of the second stage.
    let (ok, _, se) = search(
        dir.path(),
        "crashed",
        &staged,
        &[("MODNAS_TEST_CRASH_AT", "checkpoint-renamed@3")],
    );
    assert!(!ok, "the crash hook fired: {se}");
    let (ok, so, se) = search(dir.path(), "crashed", &staged, &[]);
    assert!(ok, "{so}\n{se}");
    let l = log(dir.path(), "crashed");
    assert!(l.contains("supernet: resumed after 3 of 4 epochs"), "{l}");
    let (a, b) = (trials(dir.path(), "whole"), trials(dir.path(), "crashed"));
    assert_eq!(a.len(), 5);
    assert_eq!(
        a, b,
        "the resumed run evaluates exactly what the uninterrupted one did"
    );
}

#[test]
fn spos_and_subnet_search_the_elastic_space_too() {
    let dir = tempfile::tempdir().unwrap();
    for (name, estim) in [
        (
            "spos",
            "{type: SPOS, args: {epochs: 1, max_steps: 2, num_bn_batch: 2}}",
        ),
        ("subnet", "{type: SubNet, args: {epochs: 1, max_steps: 1}}"),
    ] {
        let (ok, so, se) = search(
            dir.path(),
            name,
            &format!(
                "search:\n  optim: RandomSearch\n  estim: {estim}\n  stop: {{max_trials: 3}}\n"
            ),
            &[],
        );
        assert!(ok, "{name}: {so}\n{se}");
        assert!(so.contains("3 trials: 3 complete"), "{name}: {so}");
    }
    // Candidates of different sizes were evaluated: their MACs differ.
    let macs: std::collections::BTreeSet<String> = trials(dir.path(), "subnet")
        .iter()
        .filter_map(|t| t.split("\"macs_m\":").nth(1).map(|r| r[..8].to_string()))
        .collect();
    assert!(macs.len() > 1, "{macs:?}");
}

#[test]
fn progressive_shrinking_needs_an_elastic_network() {
    let dir = tempfile::tempdir().unwrap();
    let plain = "seed: 1\nmodel: {type: ConvNet, args: {chn_in: 1, image_size: 16, n_classes: 4, widths: [4]}}\ncandidates: [NC1, NC3]\ndata: {dataset: synthetic, synthetic_size: 32, valid_size: 16, test_size: 16, batch_size: 16}\noptim: RandomSearch\nestim: ProgressiveShrinking\nstop: {max_trials: 2}\n";
    std::fs::write(dir.path().join("plain.yaml"), plain).unwrap();
    let (ok, so, se) = run(dir.path(), &["search", "plain.yaml"], &[]);
    assert!(!ok);
    assert!(
        se.contains("needs a network with elastic width or depth"),
        "{so}\n{se}"
    );
}

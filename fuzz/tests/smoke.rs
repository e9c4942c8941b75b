//! A short, fixed-seed fuzzing run of every target: no input may panic.

use modnas_fuzz::{Options, Target, fuzz, quiet_panics};
use std::path::Path;

fn smoke(target: Target, iterations: u64) {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let seeds = target.seed_corpus(&repo);
    assert!(seeds.len() >= 3, "{}: seed corpus missing", target.name());
    let report = fuzz(
        &Options {
            target,
            iterations,
            max_time: None,
            seed: 0x5eed,
            current_input: None,
        },
        seeds,
    );
    if let Some(c) = report.crash {
        panic!(
            "{}: crash: {}\ninput ({} bytes): {:?}",
            target.name(),
            c.message,
            c.input.len(),
            String::from_utf8_lossy(&c.input)
        );
    }
    assert!(report.executions > iterations, "{report:?}");
    assert!(report.outcomes > 3, "{}: {report:?}", target.name());
}

#[test]
fn config_target_survives_a_short_run() {
    quiet_panics();
    smoke(Target::Config, 3000);
}

#[test]
fn table_target_survives_a_short_run() {
    quiet_panics();
    smoke(Target::Table, 3000);
}

#[test]
fn external_output_target_survives_a_short_run() {
    quiet_panics();
    smoke(Target::ExternalOutput, 3000);
}

#[test]
fn the_binary_reports_usage_errors_and_runs_a_target() {
    let exe = env!("CARGO_BIN_EXE_modnas-fuzz");
    let out = std::process::Command::new(exe)
        .arg("nope")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown target `nope`"));
    let crashes = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(exe)
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."))
        .args(["config", "--iterations", "200", "--seed", "9", "--crashes"])
        .arg(crashes.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("executions"), "{stdout}");
}

/// Replays the inputs that once crashed a target (`fuzz/regressions/<target>/`).
fn replay(target: Target) {
    quiet_panics();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("regressions")
        .join(target.name());
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        let data = std::fs::read(&p).unwrap();
        if let Err(m) = modnas_fuzz::run_one(target, &data) {
            panic!("{}: {m}", p.display());
        }
        n += 1;
    }
    assert!(n > 0, "no regression inputs in {}", dir.display());
}

#[test]
fn config_regressions_do_not_crash() {
    replay(Target::Config);
}

#[test]
fn external_output_regressions_do_not_crash() {
    replay(Target::ExternalOutput);
}

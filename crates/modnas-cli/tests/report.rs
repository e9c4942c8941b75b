//! `modnas report` and the files a search leaves behind.

mod common;
use common::{modnas, repo, require_nb201, text};

#[test]
fn multi_objective_runs_write_pareto_front_and_report() {
    require_nb201();
    let dir = tempfile::tempdir().unwrap();
    let example = repo().join("examples/nb201-multi-objective.yaml");
    let out = modnas()
        .args(["search", &example.display().to_string(), "--runs-dir"])
        .arg(dir.path())
        .args(["--no-progress", "-q", "-o", "stop.max_trials=120"])
        .output()
        .unwrap();
    let (so, se) = text(&out);
    assert!(out.status.success(), "{so}\n{se}");
    let run = dir.path().join("nb201-multi-objective");
    for f in [
        "best.yaml",
        "pareto.yaml",
        "config.yaml",
        "report.html",
        "journal.sqlite",
        "search.log",
    ] {
        assert!(run.join(f).is_file(), "{f} is missing");
    }
    let pareto = std::fs::read_to_string(run.join("pareto.yaml")).unwrap();
    assert!(
        pareto.contains("front:") && pareto.contains("description: \"|"),
        "{pareto}"
    );
    // The file reads back (an NB201 description starts with `|`, which YAML must quote).
    let node = modnas_core::config::yaml::parse_str("pareto.yaml", &pareto).unwrap();
    let first = &node.to_json()["front"][0]["description"];
    assert!(
        first.as_str().is_some_and(|d| d.starts_with('|')),
        "{first}"
    );
    // `modnas report` rebuilds the report from the journal alone.
    let target = dir.path().join("again.html");
    let out = modnas()
        .arg("report")
        .arg(&run)
        .arg("-o")
        .arg(&target)
        .output()
        .unwrap();
    assert!(out.status.success(), "{:?}", text(&out));
    let html = std::fs::read_to_string(&target).unwrap();
    // Progress, Pareto, importance, parallel coordinates, objective vs latency, model_size and
    // train_time, and the best trial's NAS-Bench-201 cell.
    assert_eq!(html.matches("<svg").count(), 8, "charts");
    for id in [
        "progress",
        "pareto",
        "importance",
        "parallel",
        "cost",
        "cells",
    ] {
        assert!(html.contains(&format!("id=\"{id}\"")), "{id}");
    }
    assert_eq!(
        html.matches("<rect class=\"bar\"").count(),
        6,
        "one bar per edge"
    );
    assert_eq!(
        html.matches("<g class=\"node\">").count(),
        4,
        "NB201 cell nodes"
    );
    assert!(html.contains("Pareto front") && html.contains("120"));
    let fronts = pareto.matches("trial:").count();
    assert!(fronts >= 1);
}

#[test]
fn a_running_search_can_be_reported() {
    require_nb201();
    let dir = tempfile::tempdir().unwrap();
    let example = repo().join("examples/nb201-regularized-evolution.yaml");
    let mut child = modnas()
        .args(["search", &example.display().to_string(), "--runs-dir"])
        .arg(dir.path())
        .args([
            "--no-progress",
            "-q",
            "-o",
            "estim.args.sleep=0.01",
            "-o",
            "stop.max_trials=100000",
        ])
        .spawn()
        .unwrap();
    let run = dir.path().join("nb201-regularized-evolution");
    let start = std::time::Instant::now();
    while !run.join("journal.sqlite").exists() && start.elapsed().as_secs() < 30 {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    let out = modnas().arg("report").arg(&run).output().unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(out.status.success(), "{:?}", text(&out));
    assert!(run.join("report.html").is_file());
}

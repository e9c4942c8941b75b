//! The report's analysis sections on synthetic NAS runs: importance bars sorted and labelled,
//! one parallel-coordinates line per drawn trial, cost charts with log axes and the front, the
//! best trial's cell, and a bounded page for a large run.

#[path = "../examples/common/synthetic.rs"]
#[allow(dead_code)]
mod synthetic;

use modnas_core::trial::TrialState;
use modnas_report::{MAX_LINES, ReportInput, best_and_front, render_html, sample::MAX_POINTS};
use std::collections::BTreeMap;

fn section<'a>(html: &'a str, id: &str) -> &'a str {
    let start = html
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no {id}"));
    let rest = &html[start..];
    &rest[..rest.find("</div>").unwrap()]
}

fn render(n: usize) -> (String, Vec<modnas_core::trial::Trial>) {
    let space = synthetic::space();
    let objectives = synthetic::objectives();
    let trials = synthetic::trials(&space, n, 5);
    let describe = |_: &modnas_core::param::Assignment| None;
    let html = render_html(&ReportInput {
        title: "synthetic".into(),
        space: &space,
        objectives: &objectives,
        trials: &trials,
        describe: &describe,
        facts: vec![],
        steps: &BTreeMap::new(),
    });
    (html, trials)
}

fn attr_values(s: &str, attr: &str) -> Vec<String> {
    s.split(&format!("{attr}=\""))
        .skip(1)
        .map(|x| x[..x.find('"').unwrap()].to_string())
        .collect()
}

#[test]
fn small_run_draws_every_trial() {
    let (html, trials) = render(400);
    let complete = trials
        .iter()
        .filter(|t| t.state == TrialState::Complete)
        .count();
    // Importance: one bar per parameter, sorted, the edges of the cell and lr among the labels.
    let imp = section(&html, "importance");
    let vals: Vec<f64> = attr_values(imp, "data-importance")
        .iter()
        .map(|v| v.parse().unwrap())
        .collect();
    assert_eq!(vals.len(), 8);
    assert!(vals.windows(2).all(|w| w[0] >= w[1]), "{vals:?}");
    assert!((vals.iter().sum::<f64>() - 1.0).abs() < 1e-3);
    let names = attr_values(imp, "data-param");
    assert!(names.contains(&"lr".to_string()) && names.contains(&"edge_3_2".to_string()));
    // The learning rate (a strong quadratic effect in log space) beats the integer width.
    let pos = |n: &str| names.iter().position(|x| x == n).unwrap();
    assert!(pos("lr") < pos("width"), "{names:?}");
    // Parallel coordinates: one line per complete trial, 9 axes, categorical labels, log ticks.
    let par = section(&html, "parallel");
    assert_eq!(par.matches("<polyline class=\"trial\"").count(), complete);
    assert_eq!(par.matches("<g class=\"axis\"").count(), 9);
    assert!(par.contains(">nor_conv_3x3</text>") && par.contains(">avg_pool_3x3</text>"));
    assert!(
        par.contains(">0.001</text>") && par.contains(">0.01</text>"),
        "log axis of lr"
    );
    // Cost charts: latency, macs_m, params_m; MACs span > 50× so a log axis; every trial drawn
    // and the Pareto-optimal ones highlighted.
    let cost = section(&html, "cost");
    assert_eq!(cost.matches("<svg").count(), 3);
    assert!(cost.contains("aria-label=\"val_acc vs macs_m\" data-log-x=\"true\""));
    let objectives = synthetic::objectives();
    let (_, front) = best_and_front(&objectives, &trials);
    assert!(!front.is_empty());
    assert_eq!(cost.matches("class=\"pt\"").count(), 3 * complete);
    assert_eq!(cost.matches("class=\"front\"").count(), 3 * front.len());
    // The best trial's cell: 4 nodes, its non-`none` edges, labelled.
    let cells = section(&html, "cells");
    assert_eq!(cells.matches("<g class=\"node\">").count(), 4);
    assert!(cells.matches("<path class=\"edge\"").count() >= 1);
    assert!(cells.contains("class=\"op\""));
}

#[test]
fn large_run_is_subsampled_and_bounded() {
    let (html, trials) = render(20_000);
    let complete = trials
        .iter()
        .filter(|t| t.state == TrialState::Complete)
        .count();
    assert!(complete > MAX_POINTS);
    let par = section(&html, "parallel");
    assert_eq!(par.matches("<polyline class=\"trial\"").count(), MAX_LINES);
    let cost = section(&html, "cost");
    let pts = cost.matches("class=\"pt\"").count();
    assert!(
        (3 * (MAX_POINTS - 200)..=3 * MAX_POINTS).contains(&pts),
        "{pts}"
    );
    // The best trial is among the drawn lines.
    let objectives = synthetic::objectives();
    let (best, _) = best_and_front(&objectives, &trials);
    let best = trials[best.unwrap()].number;
    assert!(par.contains(&format!("data-trial=\"{best}\"")));
    let progress = section(&html, "progress");
    assert!(progress.matches("<circle").count() <= MAX_POINTS + 4);
    assert!(html.len() < 1_500_000, "{} bytes", html.len());
}

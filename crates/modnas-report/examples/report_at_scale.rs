//! Renders the report of a synthetic run of many trials and prints the time and the size.
//!
//! ```text
//! cargo run --release -p modnas-report --example report_at_scale -- 100000 /tmp/report.html
//! ```

#[path = "common/synthetic.rs"]
#[allow(dead_code)]
mod synthetic;

use modnas_report::{ReportInput, render_html};
use std::collections::BTreeMap;
use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let out = args.next();
    let space = synthetic::space();
    let objectives = synthetic::objectives();
    let trials = synthetic::trials(&space, n, 1);
    let describe = |_: &modnas_core::param::Assignment| None;
    let steps = BTreeMap::new();
    let t0 = Instant::now();
    let html = render_html(&ReportInput {
        title: format!("synthetic-{n}"),
        space: &space,
        objectives: &objectives,
        trials: &trials,
        describe: &describe,
        facts: vec![],
        steps: &steps,
    });
    let secs = t0.elapsed().as_secs_f64();
    println!(
        "{n} trials: rendered in {secs:.3} s, {} bytes ({:.1} KiB), {} <svg>, {} <circle>, {} <polyline>",
        html.len(),
        html.len() as f64 / 1024.0,
        html.matches("<svg").count(),
        html.matches("<circle").count(),
        html.matches("<polyline").count()
    );
    if let Some(p) = out {
        if let Err(e) = std::fs::write(&p, &html) {
            eprintln!("cannot write {p}: {e}");
            std::process::exit(1);
        }
        println!("wrote {p}");
    }
}

//! Objective against cost: one scatter chart per cost metric the trials report (MACs,
//! parameters, latency, size, time…), with a log x axis when the costs span more than a factor
//! of 50, and the Pareto-optimal trials highlighted.

use crate::svg::{esc, fmt_tick, ticks};
use modnas_core::objective::Objective;
use modnas_core::trial::Trial;
use std::fmt::Write;

/// Parts of metric names that mark a cost.
const COST_WORDS: [&str; 10] = [
    "macs", "flops", "params", "latency", "size", "time", "mem", "energy", "cost", "seconds",
];

/// Whether a metric's name says it is a cost.
pub fn is_cost_metric(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    COST_WORDS.iter().any(|w| n.contains(w))
}

/// The cost metrics reported by any of `trials` other than `objective`, in name order.
pub fn cost_metrics(trials: &[&Trial], objective: &str) -> Vec<String> {
    let mut names = std::collections::BTreeSet::new();
    for t in trials {
        for k in t.metrics.keys() {
            if k != objective && is_cost_metric(k) {
                names.insert(k.clone());
            }
        }
    }
    names.into_iter().collect()
}

/// Renders `objective` against `cost` for `trials`: one `<circle class="pt">` per trial with
/// both values, and a larger `<circle class="front">` for each of them in `front` (trial numbers
/// of the Pareto front of a multi-objective run).
pub fn cost_svg(
    objective: &Objective,
    cost: &str,
    trials: &[&Trial],
    front: &[u64],
    width: f64,
) -> String {
    let pts: Vec<(u64, f64, f64)> = trials
        .iter()
        .filter_map(|t| {
            let x = *t.metrics.get(cost)?;
            let y = *t.metrics.get(&objective.metric)?;
            (x.is_finite() && y.is_finite()).then_some((t.number, x, y))
        })
        .collect();
    let (x0, x1) = pts.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |a, p| {
        (a.0.min(p.1), a.1.max(p.1))
    });
    let (y0, y1) = pts.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |a, p| {
        (a.0.min(p.2), a.1.max(p.2))
    });
    let log = x0 > 0.0 && x1 / x0 > 50.0;
    let tx = |x: f64| if log { x.log10() } else { x };
    let pad = |a: f64, b: f64| {
        if !a.is_finite() {
            (0.0, 1.0)
        } else if b - a < 1e-12 {
            (a - 0.5 * a.abs().max(1.0), b + 0.5 * b.abs().max(1.0))
        } else {
            (a - (b - a) * 0.05, b + (b - a) * 0.05)
        }
    };
    let (a0, a1) = pad(tx(x0), tx(x1));
    let (b0, b1) = pad(y0, y1);
    let height = 320.0;
    let (ml, mr, mt, mb) = (70.0, 20.0, 34.0, 46.0);
    let (pw, ph) = (width - ml - mr, height - mt - mb);
    let sx = |x: f64| ml + (tx(x) - a0) / (a1 - a0) * pw;
    let sy = |y: f64| mt + ph - (y - b0) / (b1 - b0) * ph;
    let mut s = String::new();
    let _ = write!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12" role="img" aria-label="{o} vs {c}" data-log-x="{log}"><rect width="{width}" height="{height}" fill="#ffffff"/><text x="{ml}" y="20" font-size="14" font-weight="bold">{o} vs {c}{}</text><rect x="{ml}" y="{mt}" width="{pw}" height="{ph}" fill="#fafafa" stroke="#999"/>"##,
        if log { " (log scale)" } else { "" },
        o = esc(&objective.metric),
        c = esc(cost)
    );
    let xt: Vec<f64> = if log {
        let (a, b) = (a0.ceil() as i32, a1.floor() as i32);
        (a..=b).map(|e| 10f64.powi(e)).collect()
    } else {
        ticks(a0, a1, 8)
    };
    for t in xt {
        let x = sx(t);
        let _ = write!(
            s,
            r##"<line x1="{x:.1}" y1="{mt}" x2="{x:.1}" y2="{:.1}" stroke="#e4e4e4"/><text x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
            mt + ph,
            mt + ph + 16.0,
            fmt_tick(t)
        );
    }
    for t in ticks(b0, b1, 5) {
        let y = sy(t);
        let _ = write!(
            s,
            r##"<line x1="{ml}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#e4e4e4"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
            ml + pw,
            ml - 6.0,
            y + 4.0,
            fmt_tick(t)
        );
    }
    let _ = write!(
        s,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text><text x="16" y="{:.1}" text-anchor="middle" transform="rotate(-90 16 {:.1})">{}</text>"#,
        ml + pw / 2.0,
        height - 8.0,
        esc(cost),
        mt + ph / 2.0,
        mt + ph / 2.0,
        esc(&objective.metric)
    );
    s.push_str(r##"<g fill="#7f8c9d" fill-opacity="0.5">"##);
    for &(_, x, y) in &pts {
        let _ = write!(
            s,
            r#"<circle class="pt" cx="{:.1}" cy="{:.1}" r="2.5"/>"#,
            sx(x),
            sy(y)
        );
    }
    s.push_str("</g>");
    let mut fp: Vec<(f64, f64)> = pts
        .iter()
        .filter(|p| front.contains(&p.0))
        .map(|p| (p.1, p.2))
        .collect();
    fp.sort_by(|a, b| a.0.total_cmp(&b.0));
    if !fp.is_empty() {
        s.push_str(r##"<g fill="#d35400" stroke="#fff">"##);
        for &(x, y) in &fp {
            let _ = write!(
                s,
                r#"<circle class="front" cx="{:.1}" cy="{:.1}" r="4"/>"#,
                sx(x),
                sy(y)
            );
        }
        let _ = write!(
            s,
            r##"</g><text x="{:.1}" y="{:.1}" text-anchor="end" fill="#d35400">● Pareto-optimal</text>"##,
            ml + pw - 6.0,
            mt + 16.0
        );
    }
    s.push_str("</svg>");
    s
}

//! Parallel coordinates: one vertical axis per parameter and one for the objective, one line per
//! trial, coloured by the objective (yellow is best). Categorical axes carry the choices, log
//! parameters get a log axis.

use crate::color;
use crate::svg::{esc, fmt_tick, ticks};
use modnas_core::objective::{Direction, Objective};
use modnas_core::param::{Domain, ParamSpace, ParamValue};
use modnas_core::trial::Trial;
use std::fmt::Write;

/// The most parameter axes drawn (the first ones of the space).
pub const MAX_AXES: usize = 24;

/// One axis: maps a value to `[0, 1]` (bottom to top) and carries its tick labels.
struct Axis {
    name: String,
    ticks: Vec<(f64, String)>,
}

fn unit(domain: &Domain, v: &ParamValue) -> Option<f64> {
    let u = match (domain, v) {
        (Domain::Categorical { choices }, ParamValue::Choice(i)) => {
            if choices.len() <= 1 {
                0.5
            } else {
                *i as f64 / (choices.len() - 1) as f64
            }
        }
        (Domain::Int { low, high, log }, ParamValue::Int(x)) => {
            lin_or_log(*low as f64, *high as f64, *log, *x as f64)
        }
        (Domain::Float { low, high, log }, ParamValue::Float(x)) => {
            lin_or_log(*low, *high, *log, *x)
        }
        _ => return None,
    };
    u.is_finite().then_some(u.clamp(0.0, 1.0))
}

fn lin_or_log(low: f64, high: f64, log: bool, x: f64) -> f64 {
    if high <= low {
        return 0.5;
    }
    if log && low > 0.0 {
        (x.ln() - low.ln()) / (high.ln() - low.ln())
    } else {
        (x - low) / (high - low)
    }
}

fn range_ticks(low: f64, high: f64, log: bool) -> Vec<(f64, String)> {
    if high <= low {
        return vec![(0.5, fmt_tick(low))];
    }
    if log && low > 0.0 {
        let (a, b) = (low.log10().ceil() as i32, high.log10().floor() as i32);
        let step = ((b - a) / 5 + 1).max(1);
        let mut t: Vec<(f64, String)> = (a..=b)
            .step_by(step as usize)
            .map(|e| {
                let v = 10f64.powi(e);
                (lin_or_log(low, high, true, v), fmt_tick(v))
            })
            .collect();
        if t.len() < 2 {
            t = vec![(0.0, fmt_tick(low)), (1.0, fmt_tick(high))];
        }
        return t;
    }
    ticks(low, high, 4)
        .into_iter()
        .map(|v| ((v - low) / (high - low), fmt_tick(v)))
        .collect()
}

fn axis(name: &str, domain: &Domain) -> Axis {
    let ticks = match domain {
        Domain::Categorical { choices } => choices
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let u = if choices.len() <= 1 {
                    0.5
                } else {
                    i as f64 / (choices.len() - 1) as f64
                };
                (u, c.to_string())
            })
            .collect(),
        Domain::Int { low, high, log } => range_ticks(*low as f64, *high as f64, *log),
        Domain::Float { low, high, log } => range_ticks(*low, *high, *log),
    };
    Axis {
        name: name.to_string(),
        ticks,
    }
}

/// Renders the chart of `trials` (each drawn as one `<polyline class="trial">`; trials without
/// a finite value of the objective are left out) against `objective`.
pub fn parallel_svg(
    space: &ParamSpace,
    objective: &Objective,
    trials: &[&Trial],
    width: f64,
) -> String {
    let params: Vec<(usize, &modnas_core::param::Param)> =
        space.params().iter().enumerate().take(MAX_AXES).collect();
    let values: Vec<(&Trial, f64)> = trials
        .iter()
        .filter_map(|t| {
            let v = t.metrics.get(&objective.metric).copied()?;
            v.is_finite().then_some((*t, v))
        })
        .collect();
    let (lo, hi) = values
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| {
            (a.min(x.1), b.max(x.1))
        });
    let (lo, hi) = if lo.is_finite() { (lo, hi) } else { (0.0, 1.0) };
    let mut axes: Vec<Axis> = params
        .iter()
        .map(|(_, p)| axis(&p.name, &p.domain))
        .collect();
    axes.push(Axis {
        name: objective.metric.clone(),
        ticks: range_ticks(lo, hi, false),
    });
    let height = 380.0;
    let (ml, mr, mt, mb) = (50.0, 70.0, 40.0, 50.0);
    let ph = height - mt - mb;
    let n_axes = axes.len();
    let gap = (width - ml - mr) / (n_axes.max(2) - 1) as f64;
    let ax_x = |k: usize| ml + gap * k as f64;
    let y_of = |u: f64| mt + ph * (1.0 - u);
    let mut s = String::new();
    let _ = write!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11" role="img" aria-label="parallel coordinates"><rect width="{width}" height="{height}" fill="#ffffff"/><text x="{ml}" y="18" font-size="14" font-weight="bold">Parallel coordinates ({} trials, colour: {}, yellow is best)</text>"##,
        values.len(),
        esc(&objective.metric)
    );
    // Lines, worst first so that the best are drawn on top.
    let mut order: Vec<(&Trial, f64)> = values.clone();
    let score = |v: f64| match objective.direction {
        Direction::Maximize => v,
        Direction::Minimize => -v,
    };
    order.sort_by(|a, b| score(a.1).total_cmp(&score(b.1)));
    let span = (hi - lo).max(1e-300);
    s.push_str(r#"<g fill="none" stroke-width="1.2" stroke-opacity="0.6">"#);
    for (t, v) in &order {
        let mut pts = String::new();
        for (k, (j, p)) in params.iter().enumerate() {
            let u = t
                .params
                .get(*j)
                .and_then(|x| unit(&p.domain, x))
                .unwrap_or(0.5);
            let _ = write!(pts, "{:.1},{:.1} ", ax_x(k), y_of(u));
        }
        let u = (v - lo) / span;
        let _ = write!(pts, "{:.1},{:.1}", ax_x(n_axes - 1), y_of(u));
        let good = if score(hi) >= score(lo) { u } else { 1.0 - u };
        let _ = write!(
            s,
            r#"<polyline class="trial" data-trial="{}" points="{pts}" stroke="{}"/>"#,
            t.number,
            color::scale(good)
        );
    }
    s.push_str("</g>");
    for (k, a) in axes.iter().enumerate() {
        let x = ax_x(k);
        let _ = write!(
            s,
            r##"<g class="axis" data-axis="{n}"><line x1="{x:.1}" y1="{mt}" x2="{x:.1}" y2="{:.1}" stroke="#333"/><text x="{x:.1}" y="{:.1}" text-anchor="middle" font-weight="bold">{n}</text>"##,
            mt + ph,
            mt + ph + 20.0,
            n = esc(&a.name)
        );
        for (u, label) in &a.ticks {
            let y = y_of(*u);
            let _ = write!(
                s,
                r##"<line x1="{:.1}" y1="{y:.1}" x2="{x:.1}" y2="{y:.1}" stroke="#333"/><text class="tick" x="{:.1}" y="{:.1}" stroke="#fff" stroke-width="3" paint-order="stroke">{}</text>"##,
                x - 4.0,
                x + 4.0,
                y + 4.0,
                esc(label)
            );
        }
        s.push_str("</g>");
    }
    s.push_str("</svg>");
    s
}

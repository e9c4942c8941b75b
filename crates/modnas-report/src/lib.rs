//! # modnas-report
//!
//! A self-contained HTML report of a run: summary, the best trial, a progress chart (every trial
//! and the best so far, pruned trials marked), learning curves when trials reported steps, the
//! Pareto front when there are several objectives, the best trials and the failures. Charts are inline SVG; the page needs no network and no script.
#![warn(missing_docs)]

pub mod color;
pub mod cost;
pub mod front;
pub mod graph;
pub mod importance;
pub mod parallel;
pub mod sample;
pub mod svg;

use modnas_core::objective::{Direction, Objectives};
use modnas_core::param::{Assignment, ParamSpace};
use modnas_core::trial::{Step, Trial, TrialState};
use std::collections::BTreeMap;
use std::fmt::Write;
use svg::{Chart, Mark, Series, esc};

/// What a report shows.
pub struct ReportInput<'a> {
    /// Run name.
    pub title: String,
    /// The space.
    pub space: &'a ParamSpace,
    /// The objectives.
    pub objectives: &'a Objectives,
    /// All trials, by number.
    pub trials: &'a [Trial],
    /// Describes an assignment (e.g. a NAS-Bench-201 cell string).
    pub describe: &'a dyn Fn(&Assignment) -> Option<String>,
    /// Lines of the summary table `(label, value)`.
    pub facts: Vec<(String, String)>,
    /// The trials' intermediate results (learning curves), by trial number.
    pub steps: &'a BTreeMap<u64, Vec<Step>>,
}

/// The best trials every chart keeps when it subsamples a large run.
pub const KEEP_BEST: usize = 200;

/// The most rows of a table (the Pareto-optimal trials).
pub const MAX_ROWS: usize = 100;

/// The most lines of the parallel-coordinates chart.
pub const MAX_LINES: usize = 1000;

/// The most cost charts.
pub const MAX_COST_CHARTS: usize = 4;

/// The most learning curves drawn of each kind (complete, pruned), so that the page stays small
/// for runs of any size.
pub const MAX_CURVES: usize = 60;

const CSS: &str = "body{font-family:system-ui,sans-serif;margin:24px auto;max-width:1100px;color:#222}
h1{font-size:22px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ddd;padding:3px 8px;text-align:left}
th{background:#f3f3f3}td.num{text-align:right;font-variant-numeric:tabular-nums}
.fail{color:#b00}.chart{margin:10px 0}code{background:#f4f4f4;padding:1px 4px}";

fn metric_value(t: &Trial, m: &str) -> Option<f64> {
    t.metrics.get(m).copied().filter(|v| v.is_finite())
}

fn fmt(v: f64) -> String {
    if v.abs() >= 1e5 || (v != 0.0 && v.abs() < 1e-3) {
        format!("{v:.4e}")
    } else {
        format!("{v:.4}")
    }
}

/// Indices of the best trial and of the Pareto front (over complete trials).
pub fn best_and_front(objectives: &Objectives, trials: &[Trial]) -> (Option<usize>, Vec<usize>) {
    let mut best: Option<(usize, f64)> = None;
    let mut scored = Vec::new();
    for (i, t) in trials.iter().enumerate() {
        if t.state != TrialState::Complete {
            continue;
        }
        if let Some(s) = objectives.primary().score(&t.metrics)
            && best.is_none_or(|(_, b)| s > b)
        {
            best = Some((i, s));
        }
        if let Some(s) = objectives.scores(&t.metrics) {
            scored.push((i, s));
        }
    }
    let front = front::pareto_front(&scored.iter().map(|(_, s)| s.clone()).collect::<Vec<_>>());
    (
        best.map(|b| b.0),
        front.into_iter().map(|k| scored[k].0).collect(),
    )
}

fn progress_chart(input: &ReportInput<'_>, shown: &[bool]) -> Chart {
    let o = input.objectives.primary();
    let mut all = Vec::new();
    let mut failed = Vec::new();
    let mut pruned = Vec::new();
    let mut best_curve = Vec::new();
    let mut best: Option<f64> = None;
    let lo = input
        .trials
        .iter()
        .filter_map(|t| metric_value(t, &o.metric))
        .fold(f64::INFINITY, f64::min);
    let mut last_x = None;
    for (i, t) in input.trials.iter().enumerate() {
        let x = t.number as f64;
        let show = shown.get(i).copied().unwrap_or(true);
        let mut improved = false;
        match (t.state, metric_value(t, &o.metric)) {
            (TrialState::Complete, Some(v)) => {
                if show {
                    all.push((x, v));
                }
                if best.is_none_or(|b| o.better(v, b)) {
                    best = Some(v);
                    improved = true;
                }
            }
            (TrialState::Pruned, Some(v)) if show => pruned.push((x, v)),
            (TrialState::Failed, _) if show => {
                failed.push((x, if lo.is_finite() { lo } else { 0.0 }))
            }
            _ => {}
        }
        // The staircase needs only the points where the best changes (and the last one).
        if let Some(b) = best
            && t.state.is_finished()
        {
            if improved {
                best_curve.push((x, b));
                last_x = None;
            } else {
                last_x = Some((x, b));
            }
        }
    }
    if let Some(p) = last_x {
        best_curve.push(p);
    }
    let mut series = vec![
        Series {
            label: "trials".into(),
            color: "#7f8c9d".into(),
            mark: Mark::Dots,
            points: all,
        },
        Series {
            label: "best so far".into(),
            color: "#1f5fbf".into(),
            mark: Mark::Steps,
            points: best_curve,
        },
    ];
    if !pruned.is_empty() {
        series.insert(
            0,
            Series {
                label: "pruned (last step)".into(),
                color: "#e69f00".into(),
                mark: Mark::Dots,
                points: pruned,
            },
        );
    }
    if !failed.is_empty() {
        series.push(Series {
            label: "failed".into(),
            color: "#c0392b".into(),
            mark: Mark::Crosses,
            points: failed,
        });
    }
    let dir = match o.direction {
        Direction::Maximize => "higher is better",
        Direction::Minimize => "lower is better",
    };
    Chart {
        title: format!("Progress: {} ({dir})", o.metric),
        x_label: "trial".into(),
        y_label: o.metric.clone(),
        series,
    }
}

/// Up to `n` of `items`, evenly spaced (all of them when there are at most `n`).
fn spread<T: Copy>(items: &[T], n: usize) -> Vec<T> {
    if items.len() <= n {
        return items.to_vec();
    }
    (0..n).map(|k| items[k * items.len() / n]).collect()
}

/// The learning curves of the primary objective: the best complete trials' and a spread of the
/// pruned ones', at most [`MAX_CURVES`] each; `None` when no trial reported steps.
fn curves_chart(input: &ReportInput<'_>) -> Option<Chart> {
    let o = input.objectives.primary();
    let curve = |t: &Trial| -> Vec<(f64, f64)> {
        input
            .steps
            .get(&t.number)
            .map(|v| {
                v.iter()
                    .filter_map(|s| {
                        let y = s.metrics.get(&o.metric).copied()?;
                        y.is_finite().then_some((s.step as f64, y))
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let with_steps = |state: TrialState| -> Vec<&Trial> {
        input
            .trials
            .iter()
            .filter(|t| t.state == state && input.steps.contains_key(&t.number))
            .collect()
    };
    let mut complete = with_steps(TrialState::Complete);
    complete.sort_by(|a, b| {
        let s = |t: &Trial| o.score(&t.metrics).unwrap_or(f64::NEG_INFINITY);
        s(b).total_cmp(&s(a))
    });
    complete.truncate(MAX_CURVES);
    let pruned = spread(&with_steps(TrialState::Pruned), MAX_CURVES);
    if complete.is_empty() && pruned.is_empty() {
        return None;
    }
    let mut series = Vec::new();
    for (group, color, label) in [
        (&pruned, "#e69f00", "pruned"),
        (&complete, "#1f5fbf", "complete (best)"),
    ] {
        for (k, t) in group.iter().enumerate() {
            series.push(Series {
                label: if k == 0 { label.into() } else { String::new() },
                color: color.into(),
                mark: Mark::Line,
                points: curve(t),
            });
        }
    }
    Some(Chart {
        title: format!("Learning curves: {}", o.metric),
        x_label: "step".into(),
        y_label: o.metric.clone(),
        series,
    })
}

fn pareto_chart(input: &ReportInput<'_>, shown: &[bool]) -> Chart {
    let (a, b) = (&input.objectives.0[0], &input.objectives.0[1]);
    let all: Vec<(bool, (f64, f64))> = input
        .trials
        .iter()
        .enumerate()
        .filter(|(_, t)| t.state == TrialState::Complete)
        .filter_map(|(i, t)| {
            Some((
                shown.get(i).copied().unwrap_or(true),
                (metric_value(t, &a.metric)?, metric_value(t, &b.metric)?),
            ))
        })
        .collect();
    let pts: Vec<(f64, f64)> = all.iter().map(|p| p.1).collect();
    // The front of the two plotted objectives (with more objectives, the table lists the full one).
    let sign = |o: &modnas_core::objective::Objective| {
        if o.direction == Direction::Maximize {
            1.0
        } else {
            -1.0
        }
    };
    let scores: Vec<Vec<f64>> = pts
        .iter()
        .map(|p| vec![sign(a) * p.0, sign(b) * p.1])
        .collect();
    let mut fp: Vec<(f64, f64)> = front::pareto_front(&scores)
        .into_iter()
        .map(|i| pts[i])
        .collect();
    fp.sort_by(|p, q| p.0.total_cmp(&q.0));
    let arrow = |o: &modnas_core::objective::Objective| {
        if o.direction == Direction::Maximize {
            "↑"
        } else {
            "↓"
        }
    };
    Chart {
        title: format!(
            "Pareto front: {} {} vs {} {}",
            a.metric,
            arrow(a),
            b.metric,
            arrow(b)
        ),
        x_label: a.metric.clone(),
        y_label: b.metric.clone(),
        series: vec![
            Series {
                label: "trials".into(),
                color: "#7f8c9d".into(),
                mark: Mark::Dots,
                points: all.iter().filter(|p| p.0).map(|p| p.1).collect(),
            },
            Series {
                label: "Pareto front".into(),
                color: "#d35400".into(),
                mark: Mark::Steps,
                points: fp.clone(),
            },
            Series {
                label: "Pareto-optimal".into(),
                color: "#d35400".into(),
                mark: Mark::Dots,
                points: fp,
            },
        ],
    }
}

/// Indices of the complete trials with a primary score, best first.
fn ranked_complete(input: &ReportInput<'_>) -> Vec<usize> {
    let o = input.objectives.primary();
    let mut r: Vec<(usize, f64)> = input
        .trials
        .iter()
        .enumerate()
        .filter(|(_, t)| t.state == TrialState::Complete)
        .filter_map(|(i, t)| Some((i, o.score(&t.metrics)?)))
        .filter(|x| x.1.is_finite())
        .collect();
    r.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    r.into_iter().map(|x| x.0).collect()
}

/// Parameter importance, parallel coordinates, cost charts and the best trial's cells.
fn analysis_sections(
    input: &ReportInput<'_>,
    h: &mut String,
    best: Option<usize>,
    front: &[usize],
    ranked: &[usize],
) {
    let o = input.objectives.primary();
    if ranked.len() >= 2 && !input.space.params().is_empty() {
        let params: Vec<&Assignment> = ranked.iter().map(|&i| &input.trials[i].params).collect();
        let losses: Vec<f64> = ranked
            .iter()
            .map(|&i| -o.score(&input.trials[i].metrics).unwrap_or(f64::NAN))
            .collect();
        let cfg = importance::PedAnova::default();
        if let Ok(imp) = importance::ped_anova(input.space, &params, &losses, &cfg) {
            let _ = write!(
                h,
                "<h2>Parameter importance</h2><p>PED-ANOVA: how differently each parameter is distributed in the top {:.0}% of the {} complete trials (by {}) than in all of them; normalised to sum 1.</p><div class=\"chart\" id=\"importance\">{}</div>",
                cfg.target_quantile * 100.0,
                ranked.len(),
                esc(&o.metric),
                importance::importance_svg("Parameter importance (PED-ANOVA)", &imp, 1000.0)
            );
        }
    }
    if ranked.is_empty() {
        return;
    }
    // Positions (in `ranked`) of the trials to keep: the best and the front.
    let pos_of: std::collections::HashMap<usize, usize> =
        ranked.iter().enumerate().map(|(p, &i)| (i, p)).collect();
    let mut keep: Vec<usize> = (0..ranked.len().min(KEEP_BEST / 2)).collect();
    keep.extend(front.iter().filter_map(|i| pos_of.get(i).copied()));
    // Trial order (by number) for an even spread over the run.
    let mut by_number: Vec<usize> = ranked.to_vec();
    by_number.sort_unstable();
    let keep_n: Vec<usize> = keep
        .iter()
        .filter_map(|&p| by_number.binary_search(&ranked[p]).ok())
        .collect();
    let lines: Vec<&Trial> = sample::subsample(by_number.len(), &keep_n, MAX_LINES)
        .into_iter()
        .map(|k| &input.trials[by_number[k]])
        .collect();
    if !input.space.params().is_empty() {
        let _ = write!(
            h,
            "<h2>Parallel coordinates</h2><div class=\"chart\" id=\"parallel\">{}</div>",
            parallel::parallel_svg(input.space, o, &lines, 1000.0)
        );
    }
    let points: Vec<&Trial> = sample::subsample(
        by_number.len(),
        &{
            let mut k: Vec<usize> = (0..ranked.len().min(KEEP_BEST))
                .filter_map(|p| by_number.binary_search(&ranked[p]).ok())
                .collect();
            k.extend(keep_n.iter().copied());
            k
        },
        sample::MAX_POINTS,
    )
    .into_iter()
    .map(|k| &input.trials[by_number[k]])
    .collect();
    let costs = cost::cost_metrics(&points, &o.metric);
    if !costs.is_empty() {
        let front_numbers: Vec<u64> = if input.objectives.len() >= 2 {
            front.iter().map(|&i| input.trials[i].number).collect()
        } else {
            Vec::new()
        };
        h.push_str("<h2>Objective vs cost</h2><div class=\"chart\" id=\"cost\">");
        for c in costs.iter().take(MAX_COST_CHARTS) {
            h.push_str(&cost::cost_svg(o, c, &points, &front_numbers, 1000.0));
        }
        h.push_str("</div>");
    }
    if let Some(b) = best {
        let cells = graph::cells_of(input.space, &input.trials[b].params);
        if !cells.is_empty() {
            let _ = write!(
                h,
                "<h2>Architecture of the best trial</h2><div class=\"chart\" id=\"cells\">"
            );
            for (group, cell) in cells.iter().take(8) {
                let name = if group.is_empty() {
                    format!("Cell of trial {}", input.trials[b].number)
                } else {
                    format!("Cell {group} of trial {}", input.trials[b].number)
                };
                h.push_str(&graph::cell_svg(&name, cell));
            }
            h.push_str("</div>");
        }
    }
}

fn params_cell(input: &ReportInput<'_>, t: &Trial) -> String {
    let mut s = esc(&input.space.format(&t.params));
    if let Some(d) = (input.describe)(&t.params) {
        let _ = write!(s, "<br><code>{}</code>", esc(&d));
    }
    s
}

/// Renders the report.
pub fn render_html(input: &ReportInput<'_>) -> String {
    let (best, front) = best_and_front(input.objectives, input.trials);
    let complete = input
        .trials
        .iter()
        .filter(|t| t.state == TrialState::Complete)
        .count();
    let failed = input
        .trials
        .iter()
        .filter(|t| t.state == TrialState::Failed)
        .count();
    let pruned = input
        .trials
        .iter()
        .filter(|t| t.state == TrialState::Pruned)
        .count();
    let pending = input.trials.len() - complete - failed - pruned;
    let ranked_idx = ranked_complete(input);
    // The trials the scatter charts draw: the best, the front and a spread of the rest.
    let keep: Vec<usize> = ranked_idx
        .iter()
        .take(KEEP_BEST)
        .chain(front.iter())
        .copied()
        .collect();
    let mut shown = vec![false; input.trials.len()];
    for i in sample::subsample(input.trials.len(), &keep, sample::MAX_POINTS) {
        shown[i] = true;
    }
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>modnas report: {t}</title><style>{CSS}</style></head><body><h1>modnas run <code>{t}</code></h1>",
        t = esc(&input.title)
    );
    h.push_str("<h2>Summary</h2><table>");
    let mut facts = vec![
        ("trials".to_string(), input.trials.len().to_string()),
        (
            "complete / failed / unfinished".to_string(),
            format!("{complete} / {failed} / {pending}"),
        ),
        (
            "objectives".to_string(),
            input
                .objectives
                .0
                .iter()
                .map(|o| {
                    format!(
                        "{} ({})",
                        o.metric,
                        if o.direction == Direction::Maximize {
                            "max"
                        } else {
                            "min"
                        }
                    )
                })
                .collect::<Vec<_>>()
                .join(", "),
        ),
        ("parameters".to_string(), input.space.len().to_string()),
    ];
    if pruned > 0 {
        facts.insert(2, ("pruned".to_string(), pruned.to_string()));
    }
    facts.extend(input.facts.iter().cloned());
    for (k, v) in &facts {
        let _ = write!(h, "<tr><th>{}</th><td>{}</td></tr>", esc(k), esc(v));
    }
    h.push_str("</table>");
    if let Some(b) = best {
        let t = &input.trials[b];
        let _ = write!(
            h,
            "<h2>Best trial</h2><p>Trial {} — {}</p><table>",
            t.number,
            params_cell(input, t)
        );
        for (k, v) in &t.metrics {
            let _ = write!(
                h,
                "<tr><th>{}</th><td class=\"num\">{}</td></tr>",
                esc(k),
                fmt(*v)
            );
        }
        h.push_str("</table>");
    } else {
        h.push_str("<h2>Best trial</h2><p class=\"fail\">No trial has completed yet.</p>");
    }
    let _ = write!(
        h,
        "<h2>Progress</h2><div class=\"chart\" id=\"progress\">{}</div>",
        progress_chart(input, &shown).render(1000.0, 380.0)
    );
    if let Some(c) = curves_chart(input) {
        let _ = write!(
            h,
            "<h2>Learning curves</h2><div class=\"chart\" id=\"curves\">{}</div>",
            c.render(1000.0, 380.0)
        );
    }
    if input.objectives.len() >= 2 {
        let _ = write!(
            h,
            "<h2>Pareto front</h2><div class=\"chart\" id=\"pareto\">{}</div>",
            pareto_chart(input, &shown).render(1000.0, 420.0)
        );
        h.push_str("<table><tr><th>trial</th><th>parameters</th>");
        for o in &input.objectives.0 {
            let _ = write!(h, "<th>{}</th>", esc(&o.metric));
        }
        h.push_str("</tr>");
        let mut fr = front.clone();
        fr.sort_by(|&a, &b| {
            let m = &input.objectives.primary().metric;
            metric_value(&input.trials[a], m)
                .unwrap_or(0.0)
                .total_cmp(&metric_value(&input.trials[b], m).unwrap_or(0.0))
        });
        let n_front = fr.len();
        for i in fr.into_iter().take(MAX_ROWS) {
            let t = &input.trials[i];
            let _ = write!(
                h,
                "<tr><td class=\"num\">{}</td><td>{}</td>",
                t.number,
                params_cell(input, t)
            );
            for o in &input.objectives.0 {
                let _ = write!(
                    h,
                    "<td class=\"num\">{}</td>",
                    metric_value(t, &o.metric).map(fmt).unwrap_or_default()
                );
            }
            h.push_str("</tr>");
        }
        h.push_str("</table>");
        if n_front > MAX_ROWS {
            let _ = write!(
                h,
                "<p>… and {} more Pareto-optimal trials.</p>",
                n_front - MAX_ROWS
            );
        }
    }
    analysis_sections(input, &mut h, best, &front, &ranked_idx);
    // Top trials.
    // Complete trials without a primary score come last, by number.
    let mut ranked: Vec<&Trial> = ranked_idx.iter().map(|&i| &input.trials[i]).collect();
    if ranked.len() < complete {
        let scored: std::collections::HashSet<usize> = ranked_idx.iter().copied().collect();
        ranked.extend(
            input
                .trials
                .iter()
                .enumerate()
                .filter(|(i, t)| t.state == TrialState::Complete && !scored.contains(i))
                .map(|(_, t)| t),
        );
    }
    let metric_names: Vec<String> = {
        let mut v: Vec<String> = input
            .objectives
            .0
            .iter()
            .map(|o| o.metric.clone())
            .collect();
        for t in ranked.iter().take(MAX_ROWS) {
            for k in t.metrics.keys() {
                if !v.contains(k) {
                    v.push(k.clone());
                }
            }
        }
        v.truncate(6);
        v
    };
    h.push_str("<h2>Best trials</h2><table><tr><th>rank</th><th>trial</th><th>parameters</th>");
    for m in &metric_names {
        let _ = write!(h, "<th>{}</th>", esc(m));
    }
    h.push_str("<th>seconds</th></tr>");
    for (r, t) in ranked.iter().take(20).enumerate() {
        let _ = write!(
            h,
            "<tr><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td>",
            r + 1,
            t.number,
            params_cell(input, t)
        );
        for m in &metric_names {
            let _ = write!(
                h,
                "<td class=\"num\">{}</td>",
                metric_value(t, m).map(fmt).unwrap_or_default()
            );
        }
        let _ = write!(
            h,
            "<td class=\"num\">{}</td></tr>",
            t.duration().map(|d| format!("{d:.2}")).unwrap_or_default()
        );
    }
    h.push_str("</table>");
    let failures: Vec<&Trial> = input
        .trials
        .iter()
        .filter(|t| t.state == TrialState::Failed)
        .collect();
    if !failures.is_empty() {
        let _ = write!(
            h,
            "<h2>Failed trials ({})</h2><table><tr><th>trial</th><th>parameters</th><th>reason</th></tr>",
            failures.len()
        );
        for t in failures.iter().take(50) {
            let _ = write!(
                h,
                "<tr><td class=\"num\">{}</td><td>{}</td><td class=\"fail\"><pre>{}</pre></td></tr>",
                t.number,
                esc(&input.space.format(&t.params)),
                esc(t.error.as_deref().unwrap_or(""))
            );
        }
        h.push_str("</table>");
    }
    h.push_str("<p style=\"color:#888;font-size:12px\">Generated by modnas.</p></body></html>\n");
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use modnas_core::objective::Objective;
    use modnas_core::param::{Domain, ParamValue, Value};

    fn trial(n: u64, state: TrialState, x: usize, acc: f64, lat: f64) -> Trial {
        Trial {
            number: n,
            params: Assignment(vec![ParamValue::Choice(x)]),
            seed: n,
            state,
            metrics: if state == TrialState::Complete {
                [("acc".to_string(), acc), ("lat".to_string(), lat)].into()
            } else {
                Default::default()
            },
            cost: None,
            error: (state == TrialState::Failed).then(|| "exploded <badly>".to_string()),
            attempts: 1,
            worker: None,
            created_at: 0.0,
            started_at: Some(0.0),
            finished_at: Some(1.0),
            told: true,
            attrs: serde_json::Value::Null,
        }
    }

    #[test]
    fn report_has_charts_tables_and_escapes_text() {
        let mut space = ParamSpace::new();
        space
            .add(
                "op",
                Domain::Categorical {
                    choices: vec![Value::from("a<b"), Value::from("c"), Value::from("d")],
                },
            )
            .unwrap();
        let objectives = Objectives(vec![Objective::maximize("acc"), Objective::minimize("lat")]);
        let trials = vec![
            trial(0, TrialState::Complete, 0, 0.5, 1.0),
            trial(1, TrialState::Complete, 1, 0.9, 3.0),
            trial(2, TrialState::Failed, 2, 0.0, 0.0),
            trial(3, TrialState::Complete, 2, 0.4, 2.0),
            trial(4, TrialState::Running, 1, 0.0, 0.0),
        ];
        let describe = |_: &Assignment| None;
        let html = render_html(&ReportInput {
            title: "t&t".into(),
            space: &space,
            objectives: &objectives,
            trials: &trials,
            describe: &describe,
            facts: vec![],
            steps: &BTreeMap::new(),
        });
        assert!(html.starts_with("<!DOCTYPE html>") && html.trim_end().ends_with("</html>"));
        assert_eq!(
            html.matches("<svg").count(),
            4,
            "progress, Pareto, importance and parallel-coordinates charts"
        );
        assert_eq!(html.matches("</svg>").count(), 4);
        for id in ["progress", "pareto", "importance", "parallel"] {
            assert!(html.contains(&format!("id=\"{id}\"")), "{id}");
        }
        assert!(html.contains("3 / 1 / 1"), "complete / failed / unfinished");
        assert!(html.contains("Failed trials (1)"));
        assert!(
            html.contains("exploded &lt;badly&gt;")
                && html.contains("op=a&lt;b")
                && html.contains("t&amp;t")
        );
        assert!(!html.contains("a<b"));
        // Pareto front: trials 0 (low latency) and 1 (high accuracy); 3 is dominated by 0.
        let (best, front) = best_and_front(&objectives, &trials);
        assert_eq!(best, Some(1));
        let mut f = front.clone();
        f.sort();
        assert_eq!(f, vec![0, 1]);
        // Progress chart: 3 trial dots (+1 legend dot), a best-so-far line, failed-trial crosses.
        let progress =
            &html[html.find("id=\"progress\"").unwrap()..html.find("id=\"pareto\"").unwrap()];
        assert_eq!(progress.matches("<circle").count(), 3 + 1);
        assert_eq!(progress.matches("<polyline").count(), 1);
        assert!(progress.contains("data-label=\"failed\""));
    }

    #[test]
    fn pruned_trials_and_learning_curves_are_shown() {
        let mut space = ParamSpace::new();
        space
            .add(
                "op",
                Domain::Categorical {
                    choices: vec![Value::from("a"), Value::from("b"), Value::from("c")],
                },
            )
            .unwrap();
        let objectives = Objectives(vec![Objective::maximize("acc")]);
        let mut trials = vec![
            trial(0, TrialState::Complete, 0, 0.9, 1.0),
            trial(1, TrialState::Pruned, 1, 0.0, 0.0),
            trial(2, TrialState::Pruned, 2, 0.0, 0.0),
        ];
        for t in &mut trials[1..] {
            t.metrics = [("acc".to_string(), 0.2)].into();
        }
        let curve = |n: usize| -> Vec<Step> {
            (1..=n as u64)
                .map(|k| Step {
                    step: k,
                    metrics: [("acc".to_string(), k as f64 / 10.0)].into(),
                })
                .collect()
        };
        let steps: BTreeMap<u64, Vec<Step>> = [(0, curve(9)), (1, curve(2)), (2, curve(2))].into();
        let describe = |_: &Assignment| None;
        let html = render_html(&ReportInput {
            title: "p".into(),
            space: &space,
            objectives: &objectives,
            trials: &trials,
            describe: &describe,
            facts: vec![],
            steps: &steps,
        });
        assert!(
            html.contains("<tr><th>pruned</th><td>2</td></tr>"),
            "{html}"
        );
        assert!(
            html.contains("1 / 0 / 0"),
            "pruned trials are not unfinished"
        );
        let progress =
            &html[html.find("id=\"progress\"").unwrap()..html.find("id=\"curves\"").unwrap()];
        assert!(progress.contains("data-label=\"pruned (last step)\""));
        let curves = &html[html.find("id=\"curves\"").unwrap()..];
        let curves = &curves[..curves.find("</svg>").unwrap()];
        // One line per trial; one legend entry per kind.
        assert_eq!(curves.matches("<polyline").count(), 3);
        assert_eq!(curves.matches(">pruned</text>").count(), 1);
        assert_eq!(curves.matches(">complete (best)</text>").count(), 1);
        // The best trial is not a pruned one, whatever its metrics.
        assert_eq!(best_and_front(&objectives, &trials).0, Some(0));
        assert_eq!(spread(&[1, 2, 3, 4, 5, 6], 3), vec![1, 3, 5]);
    }

    #[test]
    fn a_run_without_results_still_renders() {
        let mut space = ParamSpace::new();
        space
            .add(
                "x",
                Domain::Float {
                    low: 0.0,
                    high: 1.0,
                    log: false,
                },
            )
            .unwrap();
        let objectives = Objectives(vec![Objective::maximize("acc")]);
        let describe = |_: &Assignment| None;
        let html = render_html(&ReportInput {
            title: "empty".into(),
            space: &space,
            objectives: &objectives,
            trials: &[],
            describe: &describe,
            facts: vec![],
            steps: &BTreeMap::new(),
        });
        assert!(html.contains("No trial has completed yet"));
        assert_eq!(html.matches("<svg").count(), 1);
    }
}

//! Small SVG charts: scatter points, crosses and step lines on linear axes with round ticks.

use std::fmt::Write;

/// How a series is drawn.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Mark {
    /// Filled circles.
    Dots,
    /// Small crosses (failed trials).
    Crosses,
    /// A staircase through the points (best-so-far curves, Pareto fronts).
    Steps,
    /// Straight segments through the points.
    Line,
}

/// One series of a chart.
#[derive(Clone, Debug)]
pub struct Series {
    /// Legend text.
    pub label: String,
    /// CSS colour.
    pub color: String,
    /// How to draw it.
    pub mark: Mark,
    /// The points `(x, y)`.
    pub points: Vec<(f64, f64)>,
}

/// A chart.
#[derive(Clone, Debug)]
pub struct Chart {
    /// Title above the plot.
    pub title: String,
    /// Label of the x axis.
    pub x_label: String,
    /// Label of the y axis.
    pub y_label: String,
    /// The series, drawn in order.
    pub series: Vec<Series>,
}

/// Round tick positions covering `[lo, hi]` (about `n` of them, never more than 50).
pub fn ticks(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    if !(lo.is_finite() && hi.is_finite()) || hi <= lo {
        return vec![lo];
    }
    let raw = (hi - lo) / n.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    if !(step > 0.0) || !step.is_finite() {
        return vec![lo, hi];
    }
    // Integer multiples of the step: no accumulated error, and a bounded count even when the
    // values are huge and close together.
    let first = (lo / step).ceil();
    let last = (hi / step).floor();
    if !(first.is_finite() && last.is_finite()) || last - first > 50.0 || last < first {
        return vec![lo, hi];
    }
    let count = (last - first) as i64;
    let mut out: Vec<f64> = Vec::new();
    for i in 0..=count {
        let t = (first + i as f64) * step;
        let t = if t.abs() < step * 1e-9 { 0.0 } else { t };
        // Beyond 2^53 neighbouring multiples may round to the same number.
        if out.last() != Some(&t) {
            out.push(t);
        }
    }
    out
}

/// A short label for a tick value.
pub fn fmt_tick(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let a = v.abs();
    if !(1e-3..1e6).contains(&a) {
        format!("{v:.1e}")
    } else if a >= 100.0 || v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        let s = format!("{v:.4}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// Escapes text for HTML and SVG.
pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn bounds(vals: impl Iterator<Item = f64>) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in vals.filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    if hi - lo < 1e-12 {
        let pad = if lo == 0.0 { 1.0 } else { lo.abs() * 0.05 };
        return (lo - pad, hi + pad);
    }
    let pad = (hi - lo) * 0.05;
    (lo - pad, hi + pad)
}

impl Chart {
    /// Renders the chart as an `<svg>` element of the given size.
    pub fn render(&self, width: f64, height: f64) -> String {
        let (ml, mr, mt, mb) = (70.0, 20.0, 34.0, 70.0);
        let pw = width - ml - mr;
        let ph = height - mt - mb;
        let (x0, x1) = bounds(
            self.series
                .iter()
                .flat_map(|s| s.points.iter().map(|p| p.0)),
        );
        let (y0, y1) = bounds(
            self.series
                .iter()
                .flat_map(|s| s.points.iter().map(|p| p.1)),
        );
        let sx = |x: f64| ml + (x - x0) / (x1 - x0) * pw;
        let sy = |y: f64| mt + ph - (y - y0) / (y1 - y0) * ph;
        let mut s = String::new();
        let _ = write!(
            s,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12" role="img" aria-label="{t}">"#,
            t = esc(&self.title)
        );
        let _ = write!(
            s,
            r##"<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>"##
        );
        let _ = write!(
            s,
            r#"<text x="{}" y="20" font-size="14" font-weight="bold">{}</text>"#,
            ml,
            esc(&self.title)
        );
        let _ = write!(
            s,
            r##"<rect x="{ml}" y="{mt}" width="{pw}" height="{ph}" fill="#fafafa" stroke="#999"/>"##
        );
        for t in ticks(x0, x1, 8) {
            let x = sx(t);
            let _ = write!(
                s,
                r##"<line x1="{x:.1}" y1="{mt}" x2="{x:.1}" y2="{:.1}" stroke="#e4e4e4"/><text x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
                mt + ph,
                mt + ph + 16.0,
                fmt_tick(t)
            );
        }
        for t in ticks(y0, y1, 6) {
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
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            ml + pw / 2.0,
            mt + ph + 36.0,
            esc(&self.x_label)
        );
        let _ = write!(
            s,
            r#"<text x="16" y="{:.1}" text-anchor="middle" transform="rotate(-90 16 {:.1})">{}</text>"#,
            mt + ph / 2.0,
            mt + ph / 2.0,
            esc(&self.y_label)
        );
        for series in &self.series {
            let c = esc(&series.color);
            match series.mark {
                Mark::Dots => {
                    let _ = write!(
                        s,
                        r#"<g class="series" data-label="{}" fill="{c}" fill-opacity="0.55">"#,
                        esc(&series.label)
                    );
                    for &(x, y) in series
                        .points
                        .iter()
                        .filter(|p| p.0.is_finite() && p.1.is_finite())
                    {
                        let _ = write!(s, r#"<circle cx="{:.1}" cy="{:.1}" r="3"/>"#, sx(x), sy(y));
                    }
                    s.push_str("</g>");
                }
                Mark::Crosses => {
                    let _ = write!(
                        s,
                        r#"<g class="series" data-label="{}" stroke="{c}" stroke-width="1.5">"#,
                        esc(&series.label)
                    );
                    for &(x, y) in series
                        .points
                        .iter()
                        .filter(|p| p.0.is_finite() && p.1.is_finite())
                    {
                        let (px, py) = (sx(x), sy(y));
                        let _ = write!(
                            s,
                            r#"<path d="M{:.1} {:.1}L{:.1} {:.1}M{:.1} {:.1}L{:.1} {:.1}"/>"#,
                            px - 3.0,
                            py - 3.0,
                            px + 3.0,
                            py + 3.0,
                            px - 3.0,
                            py + 3.0,
                            px + 3.0,
                            py - 3.0
                        );
                    }
                    s.push_str("</g>");
                }
                Mark::Steps | Mark::Line => {
                    let pts: Vec<(f64, f64)> = series
                        .points
                        .iter()
                        .copied()
                        .filter(|p| p.0.is_finite() && p.1.is_finite())
                        .collect();
                    let mut d = String::new();
                    for (i, &(x, y)) in pts.iter().enumerate() {
                        if i == 0 {
                            let _ = write!(d, "{:.1},{:.1}", sx(x), sy(y));
                        } else {
                            if series.mark == Mark::Steps {
                                let _ = write!(d, " {:.1},{:.1}", sx(x), sy(pts[i - 1].1));
                            }
                            let _ = write!(d, " {:.1},{:.1}", sx(x), sy(y));
                        }
                    }
                    let _ = write!(
                        s,
                        r#"<polyline class="series" data-label="{}" points="{d}" fill="none" stroke="{c}" stroke-width="2"/>"#,
                        esc(&series.label)
                    );
                }
            }
        }
        // Legend.
        let mut lx = ml;
        let ly = height - 14.0;
        // Series without a label (one of many learning curves) have no legend entry.
        for series in self.series.iter().filter(|x| !x.label.is_empty()) {
            let c = esc(&series.color);
            match series.mark {
                Mark::Dots => {
                    let _ = write!(
                        s,
                        r#"<circle cx="{:.1}" cy="{:.1}" r="4" fill="{c}"/>"#,
                        lx + 5.0,
                        ly - 4.0
                    );
                }
                Mark::Crosses => {
                    let _ = write!(
                        s,
                        r#"<path d="M{:.1} {:.1}l8 8m0 -8l-8 8" stroke="{c}" stroke-width="1.5"/>"#,
                        lx + 1.0,
                        ly - 8.0
                    );
                }
                _ => {
                    let _ = write!(
                        s,
                        r#"<line x1="{lx:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="{c}" stroke-width="2"/>"#,
                        ly - 4.0,
                        lx + 12.0,
                        ly - 4.0
                    );
                }
            }
            let _ = write!(
                s,
                r#"<text x="{:.1}" y="{ly:.1}">{}</text>"#,
                lx + 16.0,
                esc(&series.label)
            );
            lx += 30.0 + 7.0 * series.label.chars().count() as f64;
        }
        s.push_str("</svg>");
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_ticks() {
        assert_eq!(ticks(0.0, 10.0, 5), vec![0.0, 2.0, 4.0, 6.0, 8.0, 10.0]);
        let t = ticks(88.3, 91.7, 6);
        assert!(t.first().unwrap() >= &88.3 && t.last().unwrap() <= &91.7);
        assert!(t.len() >= 3);
    }

    #[test]
    fn huge_close_values_give_few_ticks() {
        let t = ticks(1e16, 1e16 + 2.0, 6);
        assert!(t.len() <= 51, "{}", t.len());
        let t = ticks(-1e300, 1e300, 6);
        assert!(t.len() <= 51);
    }

    #[test]
    fn renders_every_point() {
        let c = Chart {
            title: "t".into(),
            x_label: "x".into(),
            y_label: "y".into(),
            series: vec![
                Series {
                    label: "all".into(),
                    color: "#888".into(),
                    mark: Mark::Dots,
                    points: vec![(0.0, 1.0), (1.0, 2.0), (2.0, f64::NAN)],
                },
                Series {
                    label: "best".into(),
                    color: "#00f".into(),
                    mark: Mark::Steps,
                    points: vec![(0.0, 1.0), (1.0, 2.0)],
                },
            ],
        };
        let svg = c.render(600.0, 300.0);
        assert_eq!(
            svg.matches("<circle").count(),
            2 + 1,
            "two points and a legend dot"
        );
        assert!(svg.contains("<polyline"));
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
    }
}

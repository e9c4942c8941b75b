//! A sequential colour scale (dark blue → teal → yellow) for values in `[0, 1]`.

/// Anchor colours of the scale, evenly spaced over `[0, 1]`.
const ANCHORS: [(f64, f64, f64); 5] = [
    (40.0, 30.0, 110.0),
    (40.0, 100.0, 160.0),
    (30.0, 155.0, 140.0),
    (120.0, 200.0, 80.0),
    (245.0, 225.0, 40.0),
];

/// The colour of `t` (clamped to `[0, 1]`; NaN is grey) as `#rrggbb`.
pub fn scale(t: f64) -> String {
    if t.is_nan() {
        return "#999999".into();
    }
    let t = t.clamp(0.0, 1.0) * (ANCHORS.len() - 1) as f64;
    let k = (t.floor() as usize).min(ANCHORS.len() - 2);
    let f = t - k as f64;
    let (a, b) = (ANCHORS[k], ANCHORS[k + 1]);
    let mix = |x: f64, y: f64| (x + (y - x) * f).round().clamp(0.0, 255.0) as u8;
    format!(
        "#{:02x}{:02x}{:02x}",
        mix(a.0, b.0),
        mix(a.1, b.1),
        mix(a.2, b.2)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ends_and_middle() {
        assert_eq!(scale(0.0), "#281e6e");
        assert_eq!(scale(1.0), "#f5e128");
        assert_eq!(scale(2.0), scale(1.0));
        assert_eq!(scale(0.5), "#1e9b8c");
        assert_eq!(scale(f64::NAN), "#999999");
        assert_ne!(scale(0.3), scale(0.7));
    }
}

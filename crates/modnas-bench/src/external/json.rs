//! The metrics line: parsing a JSON object (with Python's non-finite tokens) into metrics.

use modnas_core::objective::Metrics;

/// Parses a JSON object line; Python's `NaN`, `Infinity` and `-Infinity` (what `json.dumps`
/// writes for a diverged loss) are accepted and become non-finite metrics.
pub fn parse_json_line(t: &str) -> Option<serde_json::Value> {
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(t) {
        return v.is_object().then_some(v);
    }
    // Quote the bare non-finite tokens outside strings, then parse again.
    let mut out = String::with_capacity(t.len() + 16);
    let mut in_str = false;
    let mut escaped = false;
    let mut i = 0;
    let b = t.as_bytes();
    while i < b.len() {
        let c = b[i] as char;
        if in_str {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_str = false;
            }
            i += 1;
            continue;
        }
        let rest = &t[i..];
        let token = ["-Infinity", "Infinity", "NaN"]
            .into_iter()
            .find(|k| rest.starts_with(k));
        match token {
            Some(k) => {
                out.push('"');
                out.push_str(k);
                out.push('"');
                i += k.len();
            }
            None => {
                if c == '"' {
                    in_str = true;
                }
                out.push(c);
                i += c.len_utf8();
            }
        }
    }
    serde_json::from_str::<serde_json::Value>(&out)
        .ok()
        .filter(|v| v.is_object())
}

/// Numeric entries of a JSON object, nested objects flattened with dots.
pub fn metrics_from_json(v: &serde_json::Value) -> Metrics {
    fn walk(prefix: &str, v: &serde_json::Value, out: &mut Metrics) {
        match v {
            serde_json::Value::Number(n) => {
                if let Some(x) = n.as_f64() {
                    out.insert(prefix.to_string(), x);
                }
            }
            serde_json::Value::String(t)
                if matches!(t.as_str(), "NaN" | "Infinity" | "-Infinity") =>
            {
                let x = match t.as_str() {
                    "NaN" => f64::NAN,
                    "Infinity" => f64::INFINITY,
                    _ => f64::NEG_INFINITY,
                };
                out.insert(prefix.to_string(), x);
            }
            serde_json::Value::Object(m) => {
                for (k, x) in m {
                    let key = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    walk(&key, x, out);
                }
            }
            _ => {}
        }
    }
    let mut out = Metrics::new();
    walk("", v, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flattening() {
        let m =
            metrics_from_json(&serde_json::json!({"loss": 1.5, "val": {"acc": 0.9}, "name": "x"}));
        assert_eq!(m.len(), 2);
        assert_eq!(m["val.acc"], 0.9);
    }
}

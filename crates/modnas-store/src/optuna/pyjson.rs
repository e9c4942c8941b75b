//! JSON text in the form Python's `json.dumps` writes it (Optuna's `value_json` and
//! `distribution_json` columns): `", "` and `": "` separators, and the `NaN` / `Infinity` /
//! `-Infinity` literals that `json.loads` reads back as non-finite floats.

use serde_json::Value;

/// A JSON value with Python's separators.
pub fn dumps(v: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, v);
    out
}

/// A float as Python's `json.dumps` accepts and `json.loads` reads it back (non-finite values
/// as `NaN`, `Infinity`, `-Infinity`).
pub fn float(x: f64) -> String {
    if x.is_nan() {
        "NaN".into()
    } else if x == f64::INFINITY {
        "Infinity".into()
    } else if x == f64::NEG_INFINITY {
        "-Infinity".into()
    } else {
        match serde_json::Number::from_f64(x) {
            Some(n) => n.to_string(),
            None => "NaN".into(),
        }
    }
}

fn write_value(out: &mut String, v: &Value) {
    match v {
        Value::Array(items) => {
            out.push('[');
            for (i, x) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_value(out, x);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (k, x)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push_str(": ");
                write_value(out, x);
            }
            out.push('}');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separators_and_non_finite_floats_follow_python() {
        let v = serde_json::json!({"a": [1, 2.5, "x\"y", null, true], "b": {}});
        assert_eq!(dumps(&v), r#"{"a": [1, 2.5, "x\"y", null, true], "b": {}}"#);
        assert_eq!(float(f64::NAN), "NaN");
        assert_eq!(float(f64::INFINITY), "Infinity");
        assert_eq!(float(f64::NEG_INFINITY), "-Infinity");
        assert_eq!(float(-5.0), "-5.0");
        assert_eq!(float(1e-5).parse::<f64>().ok(), Some(1e-5));
    }
}

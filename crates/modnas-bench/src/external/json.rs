//! The metrics line: parsing a JSON object (with Python's non-finite tokens) into metrics.

use modnas_core::objective::Metrics;

/// Parses a JSON object line; Python's `NaN`, `Infinity` and `-Infinity` (what `json.dumps`
/// writes for a diverged loss) are accepted and become non-finite metrics. Any text is accepted
/// as input: a line that is not a JSON object gives `None`.
pub fn parse_json_line(t: &str) -> Option<serde_json::Value> {
    parse_metrics_object(t).ok()
}

/// Like [`parse_json_line`], with the parser's message when the line is not a JSON object.
pub(super) fn parse_metrics_object(t: &str) -> Result<serde_json::Value, String> {
    let object = |v: serde_json::Value| {
        if v.is_object() {
            Ok(v)
        } else {
            Err("not a JSON object".to_string())
        }
    };
    match serde_json::from_str::<serde_json::Value>(t) {
        Ok(v) => object(v),
        Err(first) => match quote_non_finite(t) {
            None => Err(first.to_string()),
            Some(quoted) => match serde_json::from_str::<serde_json::Value>(&quoted) {
                Ok(v) => object(v),
                Err(e) => Err(e.to_string()),
            },
        },
    }
}

/// `t` with the bare tokens `NaN`, `Infinity` and `-Infinity` outside strings put in quotes, or
/// `None` when it has none.
fn quote_non_finite(t: &str) -> Option<String> {
    const TOKENS: [&str; 3] = ["-Infinity", "Infinity", "NaN"];
    let mut out = String::with_capacity(t.len() + 16);
    let mut copied = 0;
    let mut in_str = false;
    let mut escaped = false;
    let mut chars = t.char_indices();
    while let Some((i, c)) = chars.next() {
        if in_str {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_str = false;
            }
            continue;
        }
        if c == '"' {
            in_str = true;
            continue;
        }
        // `i` is a character boundary, so slicing here is safe.
        if let Some(k) = TOKENS.iter().find(|k| t[i..].starts_with(**k)) {
            out.push_str(&t[copied..i]);
            out.push('"');
            out.push_str(k);
            out.push('"');
            copied = i + k.len();
            // The tokens are ASCII: one character per byte.
            for _ in 1..k.len() {
                chars.next();
            }
        }
    }
    if copied == 0 {
        return None;
    }
    out.push_str(&t[copied..]);
    Some(out)
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
    use modnas_core::seed::rng_from_seed;
    use rand::RngExt;

    #[test]
    fn lines_with_multibyte_or_replaced_bytes_never_panic() {
        for t in [
            "{€}",
            "{'a': '日本'}",
            "{'loss': 0.5, 'note': '→ done'}",
            "{\u{fffd}}",
            "{→}",
            "{\"a\": NaN, '𝄞'}",
            "{\"a\": \"\\",
            "{NaN",
            "{-Infinity→}",
            "{\"é\": Infinit}",
        ] {
            assert_eq!(parse_json_line(t), None, "{t}");
        }
        let v = parse_json_line(&String::from_utf8_lossy(b"{\xff}")).is_none();
        assert!(v);
    }

    #[test]
    fn non_ascii_keys_on_lines_with_non_finite_values_stay_exact() {
        let v =
            parse_json_line("{\"k\u{e9}\": NaN, \"日本\": -Infinity, \"s\": \"NaN→\"}").unwrap();
        let m = metrics_from_json(&v);
        assert!(m["k\u{e9}"].is_nan(), "{m:?}");
        assert_eq!(m["日本"], f64::NEG_INFINITY);
        assert_eq!(v["s"], "NaN→");
        let v = parse_json_line("{\"loss\": Infinity, \"v\": {\"acc\": 0.5}}").unwrap();
        assert_eq!(metrics_from_json(&v)["loss"], f64::INFINITY);
    }

    #[test]
    fn random_byte_strings_never_panic() {
        let alphabet: &[&str] = &[
            "{",
            "}",
            "\"",
            "\\",
            "N",
            "a",
            "NaN",
            "Infinity",
            "-Infinity",
            "-",
            ":",
            ",",
            " ",
            "1",
            "e",
            "é",
            "→",
            "日",
            "𝄞",
            "\u{fffd}",
            "'",
            "[",
            "]",
            "\n",
        ];
        let mut rng = rng_from_seed(20_260_202);
        for case in 0..20_000 {
            let n = rng.random_range(0..40);
            let line: String = if case % 2 == 0 {
                let bytes: Vec<u8> = (0..n).map(|_| rng.random()).collect();
                String::from_utf8_lossy(&bytes).into_owned()
            } else {
                let mut s = String::from("{");
                for _ in 0..n {
                    s.push_str(alphabet[rng.random_range(0..alphabet.len())]);
                }
                s.push('}');
                s
            };
            let _ = parse_json_line(&line);
        }
    }

    #[test]
    fn flattening() {
        let m =
            metrics_from_json(&serde_json::json!({"loss": 1.5, "val": {"acc": 0.9}, "name": "x"}));
        assert_eq!(m.len(), 2);
        assert_eq!(m["val.acc"], 0.9);
    }
}

//! Durations written as `90`, `90s`, `10m`, `1h30m`, `2d` or `500ms`.

use serde::{Deserialize, Deserializer, Serialize};

/// A duration in seconds.
#[derive(Clone, Copy, Debug, PartialEq, PartialOrd, Serialize)]
pub struct Seconds(pub f64);

impl Seconds {
    /// Parses `90`, `90s`, `1.5h`, `1h30m`, `500ms`, `2d`.
    ///
    /// ```
    /// use modnas_core::config::Seconds;
    /// assert_eq!(Seconds::parse("1h30m").unwrap().0, 5400.0);
    /// assert_eq!(Seconds::parse("250ms").unwrap().0, 0.25);
    /// assert!(Seconds::parse("ten minutes").is_err());
    /// ```
    pub fn parse(text: &str) -> Result<Seconds, String> {
        let t = text.trim();
        if let Ok(x) = t.parse::<f64>() {
            return check(x, text);
        }
        let mut total = 0.0;
        let mut rest = t;
        let mut any = false;
        while !rest.is_empty() {
            let num_len = rest
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .unwrap_or(rest.len());
            if num_len == 0 {
                return Err(bad(text));
            }
            let x: f64 = rest[..num_len].parse().map_err(|_| bad(text))?;
            rest = rest[num_len..].trim_start();
            let unit_len = rest
                .find(|c: char| !c.is_ascii_alphabetic())
                .unwrap_or(rest.len());
            let factor = match &rest[..unit_len] {
                "ms" => 0.001,
                "s" | "sec" | "secs" => 1.0,
                "m" | "min" | "mins" => 60.0,
                "h" | "hr" | "hrs" => 3600.0,
                "d" | "day" | "days" => 86400.0,
                _ => return Err(bad(text)),
            };
            rest = rest[unit_len..].trim_start();
            total += x * factor;
            any = true;
        }
        if !any {
            return Err(bad(text));
        }
        check(total, text)
    }
}

fn check(x: f64, text: &str) -> Result<Seconds, String> {
    if x.is_finite() && x >= 0.0 {
        Ok(Seconds(x))
    } else {
        Err(bad(text))
    }
}

fn bad(text: &str) -> String {
    format!(
        "`{text}` is not a duration; write seconds (`90`) or a number with units such as `90s`, `10m`, `1h30m`, `2d`"
    )
}

impl<'de> Deserialize<'de> for Seconds {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Seconds;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a duration such as `90s`, `10m` or `1h`")
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Seconds, E> {
                check(v as f64, &v.to_string()).map_err(E::custom)
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Seconds, E> {
                check(v as f64, &v.to_string()).map_err(E::custom)
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Seconds, E> {
                check(v, &v.to_string()).map_err(E::custom)
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Seconds, E> {
                Seconds::parse(v).map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

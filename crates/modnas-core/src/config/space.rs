//! Parameter spaces written in YAML.
//!
//! ```yaml
//! space:
//!   op: [conv3x3, conv5x5, skip]                        # a list: categorical
//!   act: {type: categorical, choices: [relu, gelu]}
//!   layers: {type: int, low: 1, high: 8}
//!   lr: {type: float, low: 1.0e-5, high: 0.1, log: true}
//!   dropout: {low: 0.0, high: 0.5}                       # type inferred from the bounds
//!   width: [[16, 64]]                                    # a one-range list: numeric
//! ```

use super::error::{ConfigError, choices_hint};
use super::node::{Node, NodeKind};
use crate::param::{Domain, ParamSpace, Value};

fn scalar_value(n: &Node, path: &str) -> Result<Value, ConfigError> {
    Ok(match &n.kind {
        NodeKind::Bool(b) => Value::Bool(*b),
        NodeKind::Int(i) => Value::Int(*i),
        NodeKind::Float(x) => Value::Float(*x),
        NodeKind::Str(s) => Value::Str(s.clone()),
        _ => {
            return Err(ConfigError::at(
                n,
                path,
                format!(
                    "a choice must be a string, number or boolean, found {}",
                    n.describe()
                ),
            ));
        }
    })
}

fn number(n: &Node, path: &str) -> Result<(f64, bool), ConfigError> {
    match &n.kind {
        NodeKind::Int(i) => Ok((*i as f64, true)),
        NodeKind::Float(x) => Ok((*x, false)),
        _ => Err(ConfigError::at(
            n,
            path,
            format!("expected a number, found {}", n.describe()),
        )),
    }
}

const TWO_63: f64 = 9_223_372_036_854_775_808.0;

/// An integer bound exactly as written (an integer written as a float, `8.0`, must fit too).
fn exact_int(n: &Node, x: f64, path: &str) -> Result<i64, ConfigError> {
    match n.kind {
        NodeKind::Int(i) => Ok(i),
        // -2^63 is i64::MIN exactly; 2^63 is the first float past i64::MAX.
        _ if (-TWO_63..TWO_63).contains(&x) => Ok(x as i64),
        _ => Err(ConfigError::at(
            n,
            path,
            format!("the integer bound {x:e} does not fit in 64 bits"),
        )),
    }
}

fn numeric(
    kind: Option<&str>,
    low: &Node,
    high: &Node,
    log: bool,
    path: &str,
    at: &Node,
) -> Result<Domain, ConfigError> {
    let (lo, lo_int) = number(low, &format!("{path}.low"))?;
    let (hi, hi_int) = number(high, &format!("{path}.high"))?;
    let int = match kind {
        Some("int") | Some("integer") => {
            if lo.fract() != 0.0 || hi.fract() != 0.0 {
                return Err(ConfigError::at(
                    at,
                    path,
                    "an integer parameter needs integer bounds",
                ));
            }
            true
        }
        Some("float") | Some("real") => false,
        _ => lo_int && hi_int,
    };
    Ok(if int {
        Domain::Int {
            low: exact_int(low, lo, &format!("{path}.low"))?,
            high: exact_int(high, hi, &format!("{path}.high"))?,
            log,
        }
    } else {
        Domain::Float {
            low: lo,
            high: hi,
            log,
        }
    })
}

/// Reads one parameter's domain.
pub fn domain_from_node(n: &Node, path: &str) -> Result<Domain, ConfigError> {
    let domain = match &n.kind {
        NodeKind::Seq(items) => {
            if let [only] = items.as_slice()
                && let NodeKind::Seq(range) = &only.kind
            {
                if range.len() != 2 {
                    return Err(ConfigError::at(
                        only,
                        path,
                        "a numeric range is written `[[low, high]]`",
                    ));
                }
                numeric(None, &range[0], &range[1], false, path, only)?
            } else {
                let choices = items
                    .iter()
                    .enumerate()
                    .map(|(i, c)| scalar_value(c, &format!("{path}[{i}]")))
                    .collect::<Result<_, _>>()?;
                Domain::Categorical { choices }
            }
        }
        NodeKind::Map(_) => {
            let mut f = super::Fields::new(n, path)?;
            let kind: Option<String> = f.opt("type")?;
            let log: bool = f.opt("log")?.unwrap_or(false);
            let choices = f.raw("choices");
            let low = f.raw("low");
            let high = f.raw("high");
            f.finish()?;
            let kinds = ["categorical", "int", "integer", "float", "real"];
            if let Some(k) = &kind
                && !kinds.contains(&k.as_str())
            {
                let at = n.get("type").unwrap_or(n);
                return Err(ConfigError::at(
                    at,
                    &format!("{path}.type"),
                    format!("unknown parameter type `{k}`"),
                )
                .with_hint(choices_hint(k, &kinds)));
            }
            match (kind.as_deref(), choices, low, high) {
                (Some("categorical") | None, Some(c), None, None) => match &c.kind {
                    NodeKind::Seq(items) => Domain::Categorical {
                        choices: items
                            .iter()
                            .enumerate()
                            .map(|(i, x)| scalar_value(x, &format!("{path}.choices[{i}]")))
                            .collect::<Result<_, _>>()?,
                    },
                    _ => {
                        return Err(ConfigError::at(
                            c,
                            &format!("{path}.choices"),
                            format!("expected a list of choices, found {}", c.describe()),
                        ));
                    }
                },
                (Some("categorical"), None, _, _) => {
                    return Err(ConfigError::at(
                        n,
                        path,
                        "a categorical parameter needs `choices`",
                    ));
                }
                (k, None, Some(lo), Some(hi)) if k != Some("categorical") => {
                    numeric(k, lo, hi, log, path, n)?
                }
                (_, Some(_), _, _) => {
                    return Err(ConfigError::at(
                        n,
                        path,
                        "give either `choices` or `low` and `high`, not both",
                    ));
                }
                _ => {
                    return Err(ConfigError::at(
                        n,
                        path,
                        "a numeric parameter needs both `low` and `high`",
                    )
                    .with_hint("for example {type: float, low: 0.0, high: 1.0}"));
                }
            }
        }
        _ => {
            return Err(ConfigError::at(n, path, format!("expected a parameter definition, found {}", n.describe()))
                .with_hint("write a list of choices, `[[low, high]]`, or a map such as {type: float, low: 0, high: 1, log: false}"));
        }
    };
    domain.check().map_err(|m| ConfigError::at(n, path, m))?;
    Ok(domain)
}

/// Reads a space: a map from parameter names to definitions, in written order.
pub fn space_from_node(n: &Node, path: &str) -> Result<ParamSpace, ConfigError> {
    let entries = n.as_map().ok_or_else(|| {
        ConfigError::at(
            n,
            path,
            format!("expected a map of parameters, found {}", n.describe()),
        )
        .with_hint("for example `space: {x: {low: -5.0, high: 5.0}, op: [a, b]}`")
    })?;
    if entries.is_empty() {
        return Err(ConfigError::at(n, path, "the space has no parameters"));
    }
    let mut space = ParamSpace::new();
    for (k, v) in entries {
        let p = format!("{path}.{}", k.name);
        let d = domain_from_node(v, &p)?;
        space
            .add(&k.name, d)
            .map_err(|e| ConfigError::at(v, &p, e.to_string()))?;
    }
    Ok(space)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::yaml::parse_str;

    #[test]
    fn forms() {
        let n = parse_str(
            "s.yaml",
            "op: [a, b, 3]\nact: {type: categorical, choices: [relu, gelu]}\nn: {type: int, low: 1, high: 8}\nlr: {type: float, low: 1.0e-5, high: 0.1, log: true}\nd: {low: 0, high: 0.5}\nw: [[16, 64]]\nf: {type: float, low: 0, high: 2}\n",
        )
        .unwrap();
        let s = space_from_node(&n, "space").unwrap();
        let names: Vec<&str> = s.params().iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["op", "act", "n", "lr", "d", "w", "f"]);
        assert_eq!(
            s.params()[2].domain,
            Domain::Int {
                low: 1,
                high: 8,
                log: false
            }
        );
        assert_eq!(
            s.params()[3].domain,
            Domain::Float {
                low: 1e-5,
                high: 0.1,
                log: true
            }
        );
        assert!(matches!(s.params()[4].domain, Domain::Float { .. }));
        assert_eq!(
            s.params()[5].domain,
            Domain::Int {
                low: 16,
                high: 64,
                log: false
            }
        );
        assert_eq!(
            s.params()[6].domain,
            Domain::Float {
                low: 0.0,
                high: 2.0,
                log: false
            }
        );
    }

    #[test]
    fn integer_bounds_are_kept_exactly() {
        let n = parse_str(
            "s.yaml",
            "x: {type: int, low: 9007199254740993, high: 9223372036854775807}\ny: [[-9223372036854775808, 9007199254740995]]\n",
        )
        .unwrap();
        let s = space_from_node(&n, "space").unwrap();
        assert_eq!(
            s.params()[0].domain,
            Domain::Int {
                low: 9007199254740993,
                high: i64::MAX,
                log: false
            }
        );
        assert_eq!(
            s.params()[1].domain,
            Domain::Int {
                low: i64::MIN,
                high: 9007199254740995,
                log: false
            }
        );
    }

    #[test]
    fn errors() {
        for (text, needle) in [
            ("x: {type: flaot, low: 0, high: 1}", "did you mean `float`"),
            ("x: {low: 1}", "needs both `low` and `high`"),
            ("x: {low: 2, high: 1}", "greater than high"),
            ("x: {type: float, low: 0, high: 1, log: true}", "log-scale"),
            ("x: []", "at least one choice"),
            ("x: {choices: [a], low: 1, high: 2}", "not both"),
            ("x: 5", "expected a parameter definition"),
            ("x: {type: int, low: 0.5, high: 2}", "integer bounds"),
            (
                "x: {type: int, low: 0, high: 1.0e19}",
                "does not fit in 64 bits",
            ),
            (
                "x: {type: int, low: 1152921504606846976, high: 1152921504606846976, log: true}",
                "too narrow to sample on a log scale",
            ),
            (
                "x: {type: float, low: 1.0e300, high: 1.0000000000000002e300, log: true}",
                "too narrow to sample on a log scale",
            ),
            ("x: {lo: 0, high: 1}", "unknown key `lo`"),
        ] {
            let n = parse_str("s.yaml", text).unwrap();
            let e = space_from_node(&n, "space").unwrap_err();
            let full = e.to_string();
            assert!(full.contains(needle), "{text}: {full}");
            assert!(e.span.is_some(), "{text}");
        }
    }
}

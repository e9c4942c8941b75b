//! `modnas tune`: command-line flags turned into a configuration with the External estimator.

use crate::error::CliError;
use modnas_core::config::{ConfigError, Node, apply_override_from};

/// Flags of `modnas tune` that become configuration.
pub struct TuneFlags<'a> {
    /// `-p name=spec` parameters.
    pub params: &'a [String],
    /// `--optim`.
    pub optim: Option<&'a str>,
    /// `--trials`.
    pub trials: Option<u64>,
    /// `--max-time`.
    pub max_time: Option<&'a str>,
    /// `--parallel`.
    pub parallel: Option<usize>,
    /// `--timeout`.
    pub timeout: Option<&'a str>,
    /// `--objective`.
    pub objectives: &'a [String],
    /// The command after `--`.
    pub command: &'a [String],
}

fn json(v: impl serde::Serialize) -> String {
    serde_json::to_string(&v).unwrap_or_default()
}

/// Parses `-p` values: `float:LOW:HIGH[:log]`, `logfloat:LOW:HIGH`, `int:LOW:HIGH[:log]`,
/// `choice:A,B,C`, or any YAML parameter definition (`{low: 0, high: 1}`, `[a, b]`).
pub fn param_yaml(spec: &str) -> Result<String, String> {
    let s = spec.trim();
    if s.starts_with('{') || s.starts_with('[') {
        return Ok(s.to_string());
    }
    let (kind, rest) = s.split_once(':').ok_or_else(|| {
        format!("`{spec}`: write float:LOW:HIGH, int:LOW:HIGH, logfloat:LOW:HIGH or choice:A,B,C")
    })?;
    let num = |t: &str| -> Result<String, String> {
        let t = t.trim();
        t.parse::<f64>()
            .map_err(|_| format!("`{t}` is not a number in `{spec}`"))?;
        Ok(t.to_string())
    };
    match kind {
        "float" | "int" | "logfloat" | "logint" => {
            let parts: Vec<&str> = rest.split(':').collect();
            let (lo, hi, log) = match parts.as_slice() {
                [lo, hi] => (num(lo)?, num(hi)?, kind.starts_with("log")),
                [lo, hi, "log"] => (num(lo)?, num(hi)?, true),
                _ => return Err(format!("`{spec}`: write {kind}:LOW:HIGH")),
            };
            let ty = if kind.ends_with("int") {
                "int"
            } else {
                "float"
            };
            let (lo, hi) = if ty == "float" {
                (
                    if lo.contains(['.', 'e', 'E']) {
                        lo
                    } else {
                        format!("{lo}.0")
                    },
                    if hi.contains(['.', 'e', 'E']) {
                        hi
                    } else {
                        format!("{hi}.0")
                    },
                )
            } else {
                (lo, hi)
            };
            Ok(format!("{{type: {ty}, low: {lo}, high: {hi}, log: {log}}}"))
        }
        "choice" | "cat" | "categorical" => {
            let items: Vec<String> = rest
                .split(',')
                .map(str::trim)
                .filter(|x| !x.is_empty())
                .map(json)
                .collect();
            if items.is_empty() {
                return Err(format!("`{spec}`: list the choices, e.g. choice:relu,gelu"));
            }
            Ok(format!("[{}]", items.join(", ")))
        }
        other => Err(format!(
            "`{spec}`: unknown parameter kind `{other}` (float, int, logfloat, logint, choice)"
        )),
    }
}

/// Applies the flags to the configuration tree.
pub fn apply(root: &mut Node, f: &TuneFlags<'_>) -> Result<(), CliError> {
    let set =
        |root: &mut Node, path: &str, value: String, flag: String| -> Result<(), ConfigError> {
            apply_override_from(
                root,
                &format!("{path}={value}"),
                &format!("command line ({flag})"),
            )
        };
    for p in f.params {
        let (name, spec) = p.split_once('=').ok_or_else(|| {
            CliError::Usage(format!("-p {p}: write NAME=SPEC, e.g. -p x=float:-5:5"))
        })?;
        let name = name.trim();
        if name.is_empty() || name.contains('.') {
            return Err(CliError::Usage(format!(
                "-p {p}: `{name}` is not a valid parameter name"
            )));
        }
        let yaml = param_yaml(spec).map_err(|m| CliError::Usage(format!("-p {p}: {m}")))?;
        set(root, &format!("space.{name}"), yaml, format!("-p {p}"))?;
    }
    if let Some(o) = f.optim {
        let value = if o.trim_start().starts_with(['{', '[']) {
            o.to_string()
        } else {
            json(o)
        };
        set(root, "optim", value, format!("--optim {o}"))?;
    }
    if let Some(n) = f.trials {
        set(
            root,
            "stop.max_trials",
            n.to_string(),
            format!("--trials {n}"),
        )?;
    }
    if let Some(t) = f.max_time {
        set(root, "stop.max_time", json(t), format!("--max-time {t}"))?;
    }
    if let Some(n) = f.parallel {
        set(root, "parallel", n.to_string(), format!("--parallel {n}"))?;
    }
    if !f.objectives.is_empty() {
        set(
            root,
            "objectives",
            json(f.objectives),
            format!("--objective {}", f.objectives.join(",")),
        )?;
    }
    if !f.command.is_empty() {
        let has_estim = root.get("estim").is_some();
        if !has_estim {
            set(root, "estim.type", json("External"), "-- COMMAND".into())?;
        }
        set(
            root,
            "estim.args.command",
            json(f.command),
            format!("-- {}", f.command.join(" ")),
        )?;
    }
    if let Some(t) = f.timeout {
        set(
            root,
            "estim.args.timeout",
            json(t),
            format!("--timeout {t}"),
        )?;
    }
    if root.get("estim").is_none() {
        return Err(CliError::Usage("give the program to tune after `--`, e.g. `modnas tune -p x=float:-5:5 --objective loss:min -- python3 train.py --x {x}`".into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn param_specs() {
        assert_eq!(
            param_yaml("float:-5:5").unwrap(),
            "{type: float, low: -5.0, high: 5.0, log: false}"
        );
        assert_eq!(
            param_yaml("logfloat:1e-5:0.1").unwrap(),
            "{type: float, low: 1e-5, high: 0.1, log: true}"
        );
        assert_eq!(
            param_yaml("int:1:8:log").unwrap(),
            "{type: int, low: 1, high: 8, log: true}"
        );
        assert_eq!(
            param_yaml("choice:relu, gelu").unwrap(),
            "[\"relu\", \"gelu\"]"
        );
        assert_eq!(
            param_yaml("{low: 0, high: 1}").unwrap(),
            "{low: 0, high: 1}"
        );
        assert!(param_yaml("float:a:1").is_err());
        assert!(param_yaml("weird:1:2").is_err());
        assert!(param_yaml("5").is_err());
    }
}

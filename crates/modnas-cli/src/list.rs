//! `modnas list [KIND]`: every registered component with its arguments and defaults.

use crate::error::CliError;
use crate::registries::Registries;
use modnas_core::registry::{ArgInfo, Registry};

struct Row {
    name: &'static str,
    aliases: &'static [&'static str],
    summary: &'static str,
    args: Vec<ArgInfo>,
}

fn rows<T: ?Sized, C>(r: &Registry<T, C>) -> Vec<Row> {
    r.entries()
        .iter()
        .map(|e| Row {
            name: e.name,
            aliases: e.aliases,
            summary: e.summary,
            args: e.args(),
        })
        .collect()
}

fn print_kind(title: &str, config_key: &str, rows: &[Row]) {
    println!("{title}  ({config_key})");
    for r in rows {
        if r.aliases.is_empty() {
            println!("  {}", r.name);
        } else {
            println!("  {}  (also: {})", r.name, r.aliases.join(", "));
        }
        println!("      {}", r.summary);
        for a in &r.args {
            let default = match &a.default {
                serde_json::Value::Null => "null".to_string(),
                serde_json::Value::String(s) if s.is_empty() => "(required)".to_string(),
                v => v.to_string(),
            };
            if a.help.is_empty() {
                println!("      {:<18} = {default}", a.name);
            } else {
                println!("      {:<18} = {default:<12} {}", a.name, a.help);
            }
        }
    }
    println!();
}

#[cfg(feature = "torch")]
fn plain(entries: impl IntoIterator<Item = (&'static str, &'static str)>) -> Vec<Row> {
    entries
        .into_iter()
        .map(|(name, summary)| Row {
            name,
            aliases: &[],
            summary,
            args: vec![],
        })
        .collect()
}

/// The tensor layer's components.
#[cfg(feature = "torch")]
fn tensor_kinds() -> Vec<(&'static str, &'static str, Vec<Row>)> {
    use modnas_torch::{backbones, grad, mixed::MixKind, ops, routine::estim};
    vec![
        ("backbones", "model:", rows(&backbones::registry())),
        (
            "gradient optimizers",
            "optim: (with a model:)",
            rows(&grad::registry()),
        ),
        (
            "network estimators",
            "estim: (with a model:)",
            rows(&estim::registry()),
        ),
        (
            "mixed operators",
            "mixed_op:",
            plain(MixKind::ALL.iter().map(|k| (k.name(), k.summary()))),
        ),
        (
            "primitives",
            "candidates: [...]",
            plain(ops::catalogue::FORMS.iter().copied()),
        ),
    ]
}

#[cfg(not(feature = "torch"))]
fn tensor_kinds() -> Vec<(&'static str, &'static str, Vec<Row>)> {
    vec![]
}

/// Lists components of one kind, or of every kind.
pub fn list(kind: Option<&str>) -> Result<(), CliError> {
    let regs = Registries::all();
    let surrogates = modnas_optim::models::registry();
    let acquisitions = modnas_optim::acquisition::registry();
    let mut kinds: Vec<(&str, &str, Vec<Row>)> = vec![
        ("optimizers", "optim:", rows(&regs.optim)),
        ("estimators", "estim:", rows(&regs.estim)),
        ("metrics", "metrics: {name: ...}", rows(&regs.metric)),
        ("pruners", "prune:", rows(&regs.prune)),
        (
            "surrogates",
            "optim: {type: Smbo, args: {surrogate: ...}}",
            rows(&surrogates),
        ),
        (
            "acquisitions",
            "optim: {type: Smbo, args: {acquisition: ...}}",
            rows(&acquisitions),
        ),
    ];
    kinds.extend(tensor_kinds());
    match kind {
        None => {
            for (t, k, r) in &kinds {
                print_kind(t, k, r);
            }
            Ok(())
        }
        Some(wanted) => {
            let w = modnas_core::registry::normalize(wanted);
            let found = kinds.iter().find(|(t, _, _)| {
                let t = modnas_core::registry::normalize(t);
                t == w
                    || t.trim_end_matches('s') == w.trim_end_matches('s')
                    || (w.len() >= 3 && t.starts_with(&w))
            });
            match found {
                Some((t, k, r)) => {
                    print_kind(t, k, r);
                    Ok(())
                }
                None => {
                    let names: Vec<&str> = kinds.iter().map(|k| k.0).collect();
                    Err(CliError::Usage(format!(
                        "unknown kind `{wanted}`; {}",
                        modnas_core::config::choices_hint(wanted, &names)
                    )))
                }
            }
        }
    }
}

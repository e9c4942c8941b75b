//! PED-ANOVA importances against Optuna's `PedAnovaImportanceEvaluator` on the same trials.
//!
//! The reference file is written by `bench/ped_anova_optuna.py` (Optuna 5.0.0): three studies
//! with real, log-real, integer, log-integer and categorical parameters.

use modnas_core::param::{Assignment, Domain, ParamSpace, ParamValue, Value};
use modnas_report::importance::{PedAnova, ped_anova};
use serde_json::Value as J;

/// Largest allowed difference of a normalised importance from Optuna's.
const TOL: f64 = 1e-9;

fn space_of(spec: &serde_json::Map<String, J>) -> ParamSpace {
    let mut space = ParamSpace::new();
    for (name, s) in spec {
        let log = s["log"].as_bool().unwrap_or(false);
        let d = if let Some(c) = s.get("choices") {
            Domain::Categorical {
                choices: c
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| Value::from(v.as_str().unwrap()))
                    .collect(),
            }
        } else if let Some(f) = s.get("float") {
            Domain::Float {
                low: f[0].as_f64().unwrap(),
                high: f[1].as_f64().unwrap(),
                log,
            }
        } else {
            let i = &s["int"];
            Domain::Int {
                low: i[0].as_i64().unwrap(),
                high: i[1].as_i64().unwrap(),
                log,
            }
        };
        space.add(name, d).unwrap();
    }
    space
}

#[test]
fn importances_match_optuna() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/ped_anova_optuna.json"
    );
    let data: J = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let spec = data["space"].as_object().unwrap();
    let space = space_of(spec);
    let cases = data["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 3);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let maximize = case["direction"] == "maximize";
        let mut assignments = Vec::new();
        let mut losses = Vec::new();
        for t in case["trials"].as_array().unwrap() {
            let mut vals = Vec::new();
            for p in space.params() {
                let v = &t["params"][&p.name];
                vals.push(match &p.domain {
                    Domain::Categorical { choices } => ParamValue::Choice(
                        choices
                            .iter()
                            .position(|c| c.same_as(&Value::from(v.as_str().unwrap())))
                            .unwrap(),
                    ),
                    Domain::Int { .. } => ParamValue::Int(v.as_i64().unwrap()),
                    Domain::Float { .. } => ParamValue::Float(v.as_f64().unwrap()),
                });
            }
            assignments.push(Assignment(vals));
            let y = t["value"].as_f64().unwrap();
            losses.push(if maximize { -y } else { y });
        }
        let refs: Vec<&Assignment> = assignments.iter().collect();
        let cfg = PedAnova {
            target_quantile: case["target_quantile"].as_f64().unwrap(),
            ..PedAnova::default()
        };
        let got = ped_anova(&space, &refs, &losses, &cfg).unwrap();
        let want = case["importances"].as_object().unwrap();
        assert_eq!(got.len(), want.len());
        let mut worst: f64 = 0.0;
        for (p, v) in &got {
            let w = want[p].as_f64().unwrap();
            worst = worst.max((v - w).abs());
            assert!(
                (v - w).abs() < TOL,
                "{name}: {p}: modnas {v} vs optuna {w}\n{got:?}"
            );
        }
        // Same order as Optuna's (sorted from the most important).
        let order: Vec<&String> = got.iter().map(|x| &x.0).collect();
        let want_order: Vec<&String> = want.keys().collect();
        assert_eq!(order, want_order, "{name}");
        println!("{name}: largest difference from Optuna {worst:.2e}");
    }
}

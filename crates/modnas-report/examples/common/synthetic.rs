//! Synthetic NAS runs for the report's tests and its scale example (a module of both, by `#[path]`).
//! A NAS-Bench-201-like space (six edge operators) plus a log learning rate and an integer
//! width; two objectives (accuracy up, latency down) and cost metrics.

use modnas_core::objective::{Objective, Objectives};
use modnas_core::param::{Assignment, Domain, ParamSpace, ParamValue, Value};
use modnas_core::trial::{Trial, TrialState};
use rand::RngExt;

/// The operators of each edge.
pub const OPS: [&str; 5] = [
    "none",
    "skip_connect",
    "nor_conv_1x1",
    "nor_conv_3x3",
    "avg_pool_3x3",
];

/// The space.
pub fn space() -> ParamSpace {
    let mut s = ParamSpace::new();
    for (to, from) in [(1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2)] {
        let _ = s.add(
            &format!("edge_{to}_{from}"),
            Domain::Categorical {
                choices: OPS.iter().map(|o| Value::from(*o)).collect(),
            },
        );
    }
    let _ = s.add(
        "lr",
        Domain::Float {
            low: 1e-4,
            high: 1.0,
            log: true,
        },
    );
    let _ = s.add(
        "width",
        Domain::Int {
            low: 8,
            high: 64,
            log: false,
        },
    );
    s
}

/// Accuracy up, latency down.
pub fn objectives() -> Objectives {
    Objectives(vec![
        Objective::maximize("val_acc"),
        Objective::minimize("latency"),
    ])
}

/// `n` trials drawn with `seed`; every 50th fails.
pub fn trials(space: &ParamSpace, n: usize, seed: u64) -> Vec<Trial> {
    let mut rng = modnas_core::seed::rng_from_seed(seed);
    (0..n)
        .map(|k| {
            let params: Assignment = space.sample(&mut rng);
            let v = params.values();
            let conv: f64 = v[..6]
                .iter()
                .map(|x| match x {
                    ParamValue::Choice(2) => 0.6,
                    ParamValue::Choice(3) => 1.0,
                    ParamValue::Choice(1) => 0.2,
                    _ => 0.0,
                })
                .sum();
            let lr = match v[6] {
                ParamValue::Float(x) => x,
                _ => 0.1,
            };
            let width = match v[7] {
                ParamValue::Int(w) => w as f64,
                _ => 16.0,
            };
            let acc = 60.0 + 5.0 * conv - 4.0 * (lr.log10() + 1.5).powi(2)
                + 0.05 * width
                + rng.random_range(-0.5..0.5);
            let macs = (1.0 + 10.0 * conv) * width * width * 0.5;
            let failed = k % 50 == 49;
            Trial {
                number: k as u64,
                params,
                seed: k as u64,
                state: if failed {
                    TrialState::Failed
                } else {
                    TrialState::Complete
                },
                metrics: if failed {
                    Default::default()
                } else {
                    [
                        ("val_acc".to_string(), acc),
                        ("latency".to_string(), 0.2 + macs / 1000.0),
                        ("macs_m".to_string(), macs),
                        ("params_m".to_string(), 0.01 + conv * width / 100.0),
                    ]
                    .into()
                },
                cost: None,
                error: failed.then(|| "out of memory".to_string()),
                attempts: 1,
                worker: None,
                created_at: k as f64,
                started_at: Some(k as f64),
                finished_at: Some(k as f64 + 1.0),
                told: true,
                attrs: serde_json::Value::Null,
            }
        })
        .collect()
}

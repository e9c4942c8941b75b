//! A modnas run mapped onto an Optuna study: directions, trials, values, attributes.

use super::distribution::Distribution;
use super::state::OptunaState;
use modnas_core::objective::{Direction, Objectives};
use modnas_core::param::ParamSpace;
use modnas_core::trial::{Step, Trial, TrialState};
use std::collections::BTreeMap;

/// An Optuna study, ready to be written.
#[derive(Clone, Debug, PartialEq)]
pub struct Study {
    /// `studies.study_name`.
    pub name: String,
    /// `MAXIMIZE` / `MINIMIZE` per objective, in objective order.
    pub directions: Vec<&'static str>,
    /// The objectives' metric names (Optuna's `study:metric_names` system attribute).
    pub metric_names: Vec<String>,
    /// Study user attributes.
    pub user_attrs: Vec<(String, AttrValue)>,
    /// The trials, by number.
    pub trials: Vec<StudyTrial>,
}

/// One Optuna trial.
#[derive(Clone, Debug, PartialEq)]
pub struct StudyTrial {
    /// Trial number (the modnas trial number).
    pub number: u64,
    /// Its state.
    pub state: OptunaState,
    /// Start (Unix seconds); `None` only for waiting trials.
    pub start: Option<f64>,
    /// End (Unix seconds); set exactly for finished trials.
    pub complete: Option<f64>,
    /// Parameter values in the space's order.
    pub params: Vec<TrialParam>,
    /// One value per objective, or none.
    pub values: Option<Vec<f64>>,
    /// `(step, value of the first objective's metric)` in step order.
    pub intermediate: Vec<(u64, f64)>,
    /// Trial user attributes.
    pub user_attrs: Vec<(String, AttrValue)>,
}

/// One parameter of a trial.
#[derive(Clone, Debug, PartialEq)]
pub struct TrialParam {
    /// Parameter name.
    pub name: String,
    /// The value in Optuna's internal form (a choice index for categoricals).
    pub value: f64,
    /// Its distribution.
    pub distribution: Distribution,
}

/// The value of a user attribute.
#[derive(Clone, Debug, PartialEq)]
pub enum AttrValue {
    /// A number (possibly non-finite).
    Float(f64),
    /// Any JSON value.
    Json(serde_json::Value),
}

impl AttrValue {
    /// The `value_json` text.
    pub fn to_json(&self) -> String {
        match self {
            AttrValue::Float(x) => super::pyjson::float(*x),
            AttrValue::Json(v) => super::pyjson::dumps(v),
        }
    }
}

/// Trial user attributes that modnas sets; a metric with one of these names is stored as
/// `metric:<name>` instead.
const RESERVED: [&str; 7] = [
    "modnas_number",
    "modnas_seed",
    "modnas_state",
    "modnas_attempts",
    "modnas_cost",
    "modnas_error",
    "modnas_attrs",
];

/// What one run holds, as read from its journal.
pub struct RunData<'a> {
    /// The study name.
    pub name: &'a str,
    /// The run seed.
    pub seed: u64,
    /// The parameter space.
    pub space: &'a ParamSpace,
    /// The objectives (at least one).
    pub objectives: &'a Objectives,
    /// Every trial, by number.
    pub trials: &'a [Trial],
    /// Intermediate results by trial number.
    pub steps: &'a BTreeMap<u64, Vec<Step>>,
}

impl Study {
    /// Maps a run onto a study.
    ///
    /// - A complete trial is `COMPLETE` with one value per objective; when an objective's
    ///   metric is missing or NaN (which Optuna does not allow in a complete trial) it is `FAIL`
    ///   and keeps its metrics as attributes.
    /// - A pruned trial is `PRUNED`; in a single-objective study its value is the objective's
    ///   metric at its last step (what Optuna records for a pruned trial), unless that is NaN.
    /// - Failed, running and waiting trials are `FAIL`, `RUNNING` and `WAITING`, without values.
    /// - Every metric that is not one of the trial's values becomes a user attribute of its
    ///   name, next to `modnas_number`, `modnas_seed`, `modnas_state`, `modnas_attempts` and,
    ///   when set, `modnas_cost`, `modnas_error` and `modnas_attrs`.
    /// - Intermediate values are the first objective's metric at each step that reported it.
    pub fn from_run(run: &RunData<'_>) -> Result<Self, String> {
        if run.objectives.is_empty() {
            return Err("the run has no objectives".into());
        }
        let distributions: Vec<(String, Distribution)> = run
            .space
            .params()
            .iter()
            .map(|p| (p.name.clone(), Distribution::of(&p.domain)))
            .collect();
        let trials = run
            .trials
            .iter()
            .map(|t| {
                map_trial(
                    t,
                    &distributions,
                    run.objectives,
                    run.steps.get(&t.number).map(Vec::as_slice).unwrap_or(&[]),
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        let objectives_json = serde_json::Value::Array(
            run.objectives
                .0
                .iter()
                .map(|o| {
                    serde_json::json!({
                        "metric": o.metric,
                        "direction": match o.direction { Direction::Maximize => "max", Direction::Minimize => "min" },
                    })
                })
                .collect(),
        );
        Ok(Study {
            name: run.name.to_string(),
            directions: run
                .objectives
                .0
                .iter()
                .map(|o| match o.direction {
                    Direction::Maximize => "MAXIMIZE",
                    Direction::Minimize => "MINIMIZE",
                })
                .collect(),
            metric_names: run.objectives.0.iter().map(|o| o.metric.clone()).collect(),
            user_attrs: vec![
                (
                    "modnas_seed".into(),
                    AttrValue::Json(serde_json::Value::from(run.seed)),
                ),
                ("modnas_objectives".into(), AttrValue::Json(objectives_json)),
            ],
            trials,
        })
    }
}

fn map_trial(
    t: &Trial,
    distributions: &[(String, Distribution)],
    objectives: &Objectives,
    steps: &[Step],
) -> Result<StudyTrial, String> {
    if t.params.len() != distributions.len() {
        return Err(format!(
            "trial {} has {} parameter values for {} parameters",
            t.number,
            t.params.len(),
            distributions.len()
        ));
    }
    let params = distributions
        .iter()
        .zip(t.params.values())
        .map(|((name, d), v)| {
            d.internal(v)
                .map(|value| TrialParam {
                    name: name.clone(),
                    value,
                    distribution: d.clone(),
                })
                .ok_or_else(|| {
                    format!(
                        "trial {}: the value {v:?} of `{name}` does not fit its distribution",
                        t.number
                    )
                })
        })
        .collect::<Result<Vec<_>, _>>()?;

    let objective_values: Vec<Option<f64>> = objectives
        .0
        .iter()
        .map(|o| t.metrics.get(&o.metric).copied().filter(|x| !x.is_nan()))
        .collect();
    let mut state = OptunaState::from(t.state);
    let mut note = None;
    let values = match t.state {
        TrialState::Complete => {
            match objective_values.iter().copied().collect::<Option<Vec<_>>>() {
                Some(v) => Some(v),
                None => {
                    state = OptunaState::Fail;
                    let missing: Vec<&str> = objectives
                        .0
                        .iter()
                        .zip(&objective_values)
                        .filter(|(_, v)| v.is_none())
                        .map(|(o, _)| o.metric.as_str())
                        .collect();
                    note = Some(format!(
                        "complete in modnas without a value of {}",
                        missing.join(", ")
                    ));
                    None
                }
            }
        }
        TrialState::Pruned if objectives.len() == 1 => objective_values[0].map(|v| vec![v]),
        _ => None,
    };

    let start = match t.state {
        TrialState::Waiting => None,
        _ => Some(t.started_at.unwrap_or(t.created_at)),
    };
    let complete = if state.is_finished() {
        Some(t.finished_at.or(start).unwrap_or(t.created_at))
    } else {
        None
    };

    let primary = &objectives.primary().metric;
    let intermediate = steps
        .iter()
        .filter_map(|s| s.metrics.get(primary).map(|v| (s.step, *v)))
        .collect();

    let mut attrs: Vec<(String, AttrValue)> = vec![
        (
            "modnas_number".into(),
            AttrValue::Json(serde_json::Value::from(t.number)),
        ),
        (
            "modnas_seed".into(),
            AttrValue::Json(serde_json::Value::from(t.seed)),
        ),
        (
            "modnas_state".into(),
            AttrValue::Json(serde_json::Value::from(t.state.as_str())),
        ),
        (
            "modnas_attempts".into(),
            AttrValue::Json(serde_json::Value::from(t.attempts)),
        ),
    ];
    if let Some(c) = t.cost {
        attrs.push(("modnas_cost".into(), AttrValue::Float(c)));
    }
    let error = match (&t.error, note) {
        (Some(e), Some(n)) => Some(format!("{e}; {n}")),
        (Some(e), None) => Some(e.clone()),
        (None, n) => n,
    };
    if let Some(e) = error {
        attrs.push(("modnas_error".into(), AttrValue::Json(e.into())));
    }
    if !t.attrs.is_null() {
        attrs.push(("modnas_attrs".into(), AttrValue::Json(t.attrs.clone())));
    }
    let exported: Vec<&str> = if values.is_some() {
        objectives.0.iter().map(|o| o.metric.as_str()).collect()
    } else {
        Vec::new()
    };
    for (k, v) in &t.metrics {
        if exported.contains(&k.as_str()) {
            continue;
        }
        let key = if RESERVED.contains(&k.as_str()) {
            format!("metric:{k}")
        } else {
            k.clone()
        };
        attrs.push((key, AttrValue::Float(*v)));
    }

    Ok(StudyTrial {
        number: t.number,
        state,
        start,
        complete,
        params,
        values,
        intermediate,
        user_attrs: attrs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use modnas_core::objective::Objective;
    use modnas_core::param::{Assignment, Domain, ParamValue, Value};

    fn space() -> ParamSpace {
        let mut s = ParamSpace::new();
        s.add(
            "x",
            Domain::Float {
                low: -1.0,
                high: 1.0,
                log: false,
            },
        )
        .unwrap();
        s.add(
            "lr",
            Domain::Float {
                low: 1e-4,
                high: 1.0,
                log: true,
            },
        )
        .unwrap();
        s.add(
            "n",
            Domain::Int {
                low: 1,
                high: 8,
                log: false,
            },
        )
        .unwrap();
        s.add(
            "act",
            Domain::Categorical {
                choices: vec![Value::Str("relu".into()), Value::Str("tanh".into())],
            },
        )
        .unwrap();
        s
    }

    fn trial(number: u64, state: TrialState, metrics: &[(&str, f64)]) -> Trial {
        Trial {
            number,
            params: Assignment(vec![
                ParamValue::Float(0.25),
                ParamValue::Float(0.01),
                ParamValue::Int(3),
                ParamValue::Choice(1),
            ]),
            seed: 1000 + number,
            state,
            metrics: metrics.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            cost: None,
            error: (state == TrialState::Failed).then(|| "exit status 1".to_string()),
            attempts: u32::from(state != TrialState::Waiting),
            worker: None,
            created_at: 100.0 + number as f64,
            started_at: (state != TrialState::Waiting).then_some(101.0 + number as f64),
            finished_at: state.is_finished().then_some(102.0 + number as f64),
            told: false,
            attrs: serde_json::Value::Null,
        }
    }

    fn attr<'a>(t: &'a StudyTrial, key: &str) -> Option<&'a AttrValue> {
        t.user_attrs.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    fn map(objectives: &Objectives, trials: &[Trial], steps: &BTreeMap<u64, Vec<Step>>) -> Study {
        Study::from_run(&RunData {
            name: "run",
            seed: 7,
            space: &space(),
            objectives,
            trials,
            steps,
        })
        .unwrap()
    }

    #[test]
    fn single_objective_trials_keep_state_values_params_and_steps() {
        let objectives = Objectives(vec![Objective::minimize("loss")]);
        let trials = vec![
            trial(0, TrialState::Complete, &[("loss", 0.5), ("acc", 0.9)]),
            trial(1, TrialState::Pruned, &[("loss", 2.0)]),
            trial(2, TrialState::Failed, &[]),
            trial(3, TrialState::Running, &[]),
            trial(4, TrialState::Waiting, &[]),
            // Complete in modnas, but Optuna needs a value for the objective.
            trial(5, TrialState::Complete, &[("acc", 0.1)]),
            trial(6, TrialState::Pruned, &[("loss", f64::NAN)]),
        ];
        let step = |s: u64, loss: f64| Step {
            step: s,
            metrics: [("loss".to_string(), loss), ("acc".to_string(), 0.0)].into(),
        };
        let mut steps = BTreeMap::new();
        steps.insert(0, vec![step(1, 3.0), step(2, f64::INFINITY), step(3, 0.5)]);
        steps.insert(
            1,
            vec![
                step(1, 2.5),
                Step {
                    step: 2,
                    metrics: [("acc".to_string(), 0.3)].into(),
                },
                step(4, 2.0),
            ],
        );
        let s = map(&objectives, &trials, &steps);
        assert_eq!(s.name, "run");
        assert_eq!(s.directions, vec!["MINIMIZE"]);
        assert_eq!(s.metric_names, vec!["loss"]);
        let states: Vec<&str> = s.trials.iter().map(|t| t.state.as_str()).collect();
        assert_eq!(
            states,
            [
                "COMPLETE", "PRUNED", "FAIL", "RUNNING", "WAITING", "FAIL", "PRUNED"
            ]
        );
        let t = &s.trials;
        assert_eq!(t[0].values, Some(vec![0.5]));
        assert_eq!(
            t[1].values,
            Some(vec![2.0]),
            "a pruned trial has its last value"
        );
        assert_eq!(t[2].values, None);
        assert_eq!(t[5].values, None);
        assert_eq!(t[6].values, None, "NaN is no value");
        // Times: waiting has none, running only a start, finished ones both.
        assert_eq!((t[0].start, t[0].complete), (Some(101.0), Some(102.0)));
        assert_eq!((t[3].start, t[3].complete), (Some(104.0), None));
        assert_eq!((t[4].start, t[4].complete), (None, None));
        // Parameters in internal form, in space order.
        let p: Vec<(&str, f64)> = t[0]
            .params
            .iter()
            .map(|p| (p.name.as_str(), p.value))
            .collect();
        assert_eq!(p, [("x", 0.25), ("lr", 0.01), ("n", 3.0), ("act", 1.0)]);
        // Intermediate values: the objective's metric where the step has it.
        assert_eq!(
            t[0].intermediate,
            vec![(1, 3.0), (2, f64::INFINITY), (3, 0.5)]
        );
        assert_eq!(t[1].intermediate, vec![(1, 2.5), (4, 2.0)]);
        assert!(t[2].intermediate.is_empty());
        // Attributes: modnas facts, and the metrics that are not values.
        assert_eq!(
            attr(&t[0], "modnas_seed"),
            Some(&AttrValue::Json(1000.into()))
        );
        assert_eq!(
            attr(&t[0], "modnas_number"),
            Some(&AttrValue::Json(0.into()))
        );
        assert_eq!(attr(&t[0], "acc"), Some(&AttrValue::Float(0.9)));
        assert_eq!(attr(&t[0], "loss"), None, "the value is not repeated");
        assert_eq!(
            attr(&t[2], "modnas_error"),
            Some(&AttrValue::Json("exit status 1".into()))
        );
        assert_eq!(
            attr(&t[5], "modnas_state"),
            Some(&AttrValue::Json("complete".into()))
        );
        match attr(&t[5], "modnas_error") {
            Some(AttrValue::Json(serde_json::Value::String(e))) => {
                assert!(e.contains("loss"), "{e}")
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(attr(&t[6], "loss"), Some(AttrValue::Float(x)) if x.is_nan()));
    }

    #[test]
    fn several_objectives_give_several_directions_and_values() {
        let objectives = Objectives(vec![
            Objective::maximize("acc"),
            Objective::minimize("latency"),
        ]);
        let mut done = trial(
            0,
            TrialState::Complete,
            &[("acc", 0.9), ("latency", 3.0), ("params", 1e6)],
        );
        done.cost = Some(12.5);
        done.attrs = serde_json::json!({"arch": "a|b"});
        let trials = vec![
            done,
            trial(1, TrialState::Pruned, &[("acc", 0.4), ("latency", 1.0)]),
            trial(
                2,
                TrialState::Complete,
                &[("acc", 0.9), ("latency", f64::NAN)],
            ),
        ];
        let s = map(&objectives, &trials, &BTreeMap::new());
        assert_eq!(s.directions, vec!["MAXIMIZE", "MINIMIZE"]);
        assert_eq!(s.metric_names, vec!["acc", "latency"]);
        assert_eq!(s.trials[0].values, Some(vec![0.9, 3.0]));
        assert_eq!(attr(&s.trials[0], "params"), Some(&AttrValue::Float(1e6)));
        assert_eq!(
            attr(&s.trials[0], "modnas_cost"),
            Some(&AttrValue::Float(12.5))
        );
        assert_eq!(
            attr(&s.trials[0], "modnas_attrs"),
            Some(&AttrValue::Json(serde_json::json!({"arch": "a|b"})))
        );
        // Optuna gives pruned trials of a multi-objective study no values: the metrics stay.
        assert_eq!(s.trials[1].state, OptunaState::Pruned);
        assert_eq!(s.trials[1].values, None);
        assert_eq!(attr(&s.trials[1], "acc"), Some(&AttrValue::Float(0.4)));
        assert_eq!(s.trials[2].state, OptunaState::Fail);
        assert_eq!(s.trials[2].values, None);
    }

    #[test]
    fn a_metric_named_like_a_modnas_attribute_is_renamed() {
        let objectives = Objectives(vec![Objective::maximize("acc")]);
        let trials = vec![trial(
            0,
            TrialState::Complete,
            &[("acc", 1.0), ("modnas_seed", 5.0)],
        )];
        let s = map(&objectives, &trials, &BTreeMap::new());
        assert_eq!(
            attr(&s.trials[0], "modnas_seed"),
            Some(&AttrValue::Json(1000.into()))
        );
        assert_eq!(
            attr(&s.trials[0], "metric:modnas_seed"),
            Some(&AttrValue::Float(5.0))
        );
    }

    #[test]
    fn a_run_without_objectives_or_with_foreign_values_is_refused() {
        let none = Objectives(vec![]);
        let r = Study::from_run(&RunData {
            name: "run",
            seed: 0,
            space: &space(),
            objectives: &none,
            trials: &[],
            steps: &BTreeMap::new(),
        });
        assert!(r.unwrap_err().contains("no objectives"));
        let one = Objectives(vec![Objective::maximize("acc")]);
        let mut t = trial(0, TrialState::Complete, &[("acc", 1.0)]);
        t.params.0[2] = ParamValue::Float(3.0);
        let e = Study::from_run(&RunData {
            name: "run",
            seed: 0,
            space: &space(),
            objectives: &one,
            trials: &[t],
            steps: &BTreeMap::new(),
        })
        .unwrap_err();
        assert!(e.contains("`n`"), "{e}");
        let mut t = trial(0, TrialState::Complete, &[("acc", 1.0)]);
        t.params.0.pop();
        let e = Study::from_run(&RunData {
            name: "run",
            seed: 0,
            space: &space(),
            objectives: &one,
            trials: &[t],
            steps: &BTreeMap::new(),
        })
        .unwrap_err();
        assert!(e.contains("3 parameter values for 4"), "{e}");
    }
}

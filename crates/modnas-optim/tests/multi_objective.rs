//! Multi-objective optimizers (NSGA-II, Pareto regularized evolution) on a two-objective mixed
//! problem with a constraint, and CMA-ES on real-valued functions, through the real search loop.

use modnas_bench::synthetic::{Function, Synthetic, SyntheticArgs};
use modnas_core::config::{ComponentSpec, yaml::parse_str};
use modnas_core::estimator::{Estimator, EvalContext};
use modnas_core::journal::{Journal, MemoryJournal};
use modnas_core::objective::{Objective, Objectives};
use modnas_core::optimizer::OptimContext;
use modnas_core::param::{Assignment, Domain, ParamSpace, ParamValue, Value};
use modnas_core::search::Search;
use modnas_core::stop::StopCriteria;
use modnas_core::trial::{Evaluation, Trial, TrialFailure, TrialState};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

/// A ZDT1-like problem over a mixed space: minimise `f1 = x` and `f2 = g (1 − √(x / g))`, where
/// `g ≥ 1` grows with `y`, with a non-zero choice of `op` and with `depth`; `size = depth`.
struct Zdt;

impl Estimator for Zdt {
    fn space(&self) -> Option<ParamSpace> {
        let mut s = ParamSpace::new();
        let f = |low, high, log| Domain::Float { low, high, log };
        s.add("x", f(0.0, 1.0, false)).ok()?;
        s.add("y", f(1e-4, 1.0, true)).ok()?;
        s.add(
            "op",
            Domain::Categorical {
                choices: (0..4).map(Value::Int).collect(),
            },
        )
        .ok()?;
        s.add(
            "depth",
            Domain::Int {
                low: 1,
                high: 8,
                log: false,
            },
        )
        .ok()?;
        Some(s)
    }
    fn default_objectives(&self) -> Vec<Objective> {
        vec![Objective::minimize("f1"), Objective::minimize("f2")]
    }
    fn evaluate(&self, _: &EvalContext<'_>, p: &Assignment) -> Result<Evaluation, TrialFailure> {
        let (
            ParamValue::Float(x),
            ParamValue::Float(y),
            ParamValue::Choice(op),
            ParamValue::Int(d),
        ) = (p.0[0], p.0[1], p.0[2], p.0[3])
        else {
            return Err(TrialFailure::new("unexpected values"));
        };
        let g = 1.0 + 3.0 * (y + f64::from(u8::from(op != 0)) + (d - 1) as f64 / 7.0);
        let f2 = g * (1.0 - (x / g).sqrt());
        Ok(Evaluation {
            metrics: [
                ("f1".to_string(), x),
                ("f2".to_string(), f2),
                ("size".to_string(), d as f64),
            ]
            .into(),
            ..Default::default()
        })
    }
}

fn search(
    spec: &str,
    est: Arc<dyn Estimator>,
    journal: Box<dyn Journal>,
    max: u64,
    seed: u64,
) -> (Vec<Trial>, Box<dyn Journal>) {
    let space = Arc::new(est.space().unwrap());
    let n = parse_str("test.yaml", &format!("optim: {spec}")).unwrap();
    let spec = ComponentSpec::parse(n.get("optim").unwrap(), "optim").unwrap();
    let optimizer = modnas_optim::registry()
        .build(
            &spec,
            &OptimContext {
                space: space.clone(),
                seed,
            },
        )
        .unwrap();
    let mut s = Search {
        space,
        objectives: Objectives(est.default_objectives()),
        optimizer,
        estimator: est,
        journal,
        derived: vec![],
        stop: StopCriteria {
            max_trials: Some(max),
            ..Default::default()
        },
        parallel: 1,
        seed,
        callbacks: vec![],
        interrupt: Arc::new(AtomicBool::new(false)),
        run_dir: None,
        worker: "test".into(),
        max_attempts: 3,
        pruner: None,
    };
    let out = s.run().unwrap();
    (out.trials, s.journal)
}

/// Hypervolume (both objectives minimised) of the complete trials with `size ≤ max_size`,
/// against the reference point (1, 10).
fn hypervolume(trials: &[Trial], max_size: f64) -> f64 {
    let mut pts: Vec<(f64, f64)> = trials
        .iter()
        .filter(|t| t.state == TrialState::Complete && t.metrics["size"] <= max_size)
        .map(|t| (t.metrics["f1"], t.metrics["f2"]))
        .filter(|&(a, b)| a < 1.0 && b < 10.0)
        .collect();
    pts.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
    let (mut hv, mut best_f2) = (0.0, 10.0);
    for i in 0..pts.len() {
        let (f1, f2) = pts[i];
        if f2 < best_f2 {
            best_f2 = f2;
        }
        let next_f1 = pts.get(i + 1).map_or(1.0, |p| p.0);
        hv += (next_f1 - f1) * (10.0 - best_f2);
    }
    hv
}

const NSGA2: &str = "{type: NSGA2, args: {population: 20, constraints: [{metric: size, max: 4}]}}";
const PRE: &str = "{type: ParetoRegularizedEvolution, args: {population: 20, sample: 5, constraints: [{metric: size, max: 4}]}}";

#[test]
fn multi_objective_search_beats_random_search_and_honours_constraints() {
    let est: Arc<dyn Estimator> = Arc::new(Zdt);
    let mean = |spec: &str| {
        let mut hv = 0.0;
        let mut feasible = 0usize;
        for seed in 0..5 {
            let (t, _) = search(spec, est.clone(), Box::new(MemoryJournal::new()), 200, seed);
            hv += hypervolume(&t, 4.0) / 5.0;
            feasible += t[100..].iter().filter(|t| t.metrics["size"] <= 4.0).count();
        }
        (hv, feasible as f64 / 500.0)
    };
    let (hv_rs, feas_rs) = mean("RandomSearch");
    for spec in [NSGA2, PRE] {
        let (hv, feas) = mean(spec);
        eprintln!("{spec}: hv {hv:.3} feasible {feas:.2}; random {hv_rs:.3} {feas_rs:.2}");
        assert!(
            hv > hv_rs + 0.3,
            "{spec}: hypervolume {hv} vs random {hv_rs}"
        );
        assert!(
            feas > 0.8 && feas > feas_rs + 0.2,
            "{spec}: feasible {feas} vs random {feas_rs}"
        );
    }
}

#[test]
fn multi_objective_searches_resume_exactly() {
    let est: Arc<dyn Estimator> = Arc::new(Zdt);
    for spec in [NSGA2, PRE, "{type: CmaEs, args: {popsize: 7}}"] {
        let (a, _) = search(spec, est.clone(), Box::new(MemoryJournal::new()), 90, 3);
        let (_, j) = search(spec, est.clone(), Box::new(MemoryJournal::new()), 37, 3);
        let (b, _) = search(spec, est.clone(), j, 90, 3);
        let pa: Vec<&Assignment> = a.iter().map(|t| &t.params).collect();
        let pb: Vec<&Assignment> = b.iter().map(|t| &t.params).collect();
        assert_eq!(pa, pb, "{spec}");
    }
}

fn best(spec: &str, function: Function, dims: usize, budget: u64, seed: u64) -> f64 {
    let est: Arc<dyn Estimator> = Arc::new(Synthetic::new(SyntheticArgs {
        function,
        dims,
        ..Default::default()
    }));
    let (t, _) = search(spec, est, Box::new(MemoryJournal::new()), budget, seed);
    t.iter()
        .filter_map(|t| t.metrics.get("value").copied())
        .fold(f64::INFINITY, f64::min)
}

#[test]
fn cmaes_converges_on_real_valued_functions() {
    for (function, dims, budget) in [(Function::Sphere, 6, 300), (Function::Hartmann6, 6, 300)] {
        let mut cma = 0.0;
        let mut rs = 0.0;
        for seed in 0..4 {
            cma += best("CmaEs", function, dims, budget, seed) / 4.0;
            rs += best("RandomSearch", function, dims, budget, seed) / 4.0;
        }
        eprintln!("{function:?}: CMA-ES {cma:.4}, random {rs:.4}");
        assert!(cma < rs, "{function:?}: CMA-ES {cma} vs random {rs}");
        if function == Function::Sphere {
            // Random search over [-5, 5]^6 gets to about 10 in 300 draws.
            assert!(cma < 0.5, "sphere: CMA-ES best {cma}");
        }
    }
}

#[test]
fn bad_constraints_are_configuration_errors() {
    let space = Arc::new(Zdt.space().unwrap());
    for (spec, needle) in [
        (
            "{type: NSGA2, args: {constraints: [{metric: size, maximum: 4}]}}",
            "maximum",
        ),
        (
            "{type: ParetoRegularizedEvolution, args: {constraints: [{metric: size}]}}",
            "`max` or `min`",
        ),
        ("{type: NSGA2, args: {crossover_prob: 2}}", "crossover_prob"),
        ("{type: CmaEs, args: {sigma0: 0}}", "sigma0"),
    ] {
        let n = parse_str("test.yaml", &format!("optim: {spec}")).unwrap();
        let e = ComponentSpec::parse(n.get("optim").unwrap(), "optim")
            .and_then(|spec| {
                modnas_optim::registry().build(
                    &spec,
                    &OptimContext {
                        space: space.clone(),
                        seed: 0,
                    },
                )
            })
            .err()
            .unwrap_or_else(|| panic!("{spec} should be rejected"));
        assert!(e.to_string().contains(needle), "{spec}: {e}");
    }
}

/// Random search that records the observations it is told.
struct Recorder {
    inner: Box<dyn modnas_core::optimizer::Optimizer>,
    seen: Arc<std::sync::Mutex<Vec<modnas_core::trial::Observation>>>,
}

impl modnas_core::optimizer::Optimizer for Recorder {
    fn next(&mut self, n: usize) -> Result<Vec<Assignment>, modnas_core::optimizer::OptimError> {
        self.inner.next(n)
    }
    fn step(
        &mut self,
        results: &[modnas_core::trial::Observation],
    ) -> Result<(), modnas_core::optimizer::OptimError> {
        self.seen.lock().unwrap().extend_from_slice(results);
        self.inner.step(results)
    }
    fn state(&self) -> String {
        self.inner.state()
    }
    fn restore(
        &mut self,
        state: &str,
        history: &modnas_core::optimizer::History,
    ) -> Result<(), modnas_core::optimizer::OptimError> {
        self.inner.restore(state, history)
    }
}

#[test]
fn observations_carry_every_objective_score() {
    let est: Arc<dyn Estimator> = Arc::new(Zdt);
    let space = Arc::new(est.space().unwrap());
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let inner = modnas_optim::registry()
        .build(
            &ComponentSpec::parse(
                parse_str("t.yaml", "optim: RandomSearch")
                    .unwrap()
                    .get("optim")
                    .unwrap(),
                "optim",
            )
            .unwrap(),
            &OptimContext {
                space: space.clone(),
                seed: 1,
            },
        )
        .unwrap();
    let mut s = Search {
        space,
        objectives: Objectives(vec![Objective::maximize("size"), Objective::minimize("f2")]),
        optimizer: Box::new(Recorder {
            inner,
            seen: seen.clone(),
        }),
        estimator: est,
        journal: Box::new(MemoryJournal::new()),
        derived: vec![],
        stop: StopCriteria {
            max_trials: Some(10),
            ..Default::default()
        },
        parallel: 1,
        seed: 1,
        callbacks: vec![],
        interrupt: Arc::new(AtomicBool::new(false)),
        run_dir: None,
        worker: "test".into(),
        max_attempts: 3,
        pruner: None,
    };
    s.run().unwrap();
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 10);
    for o in seen.iter() {
        let (size, f2) = (o.metrics["size"], o.metrics["f2"]);
        assert_eq!(o.scores, vec![Some(size), Some(-f2)]);
        assert_eq!(o.score, Some(size));
    }
}

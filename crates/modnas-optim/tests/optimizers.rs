//! Every registered optimizer, driven through the real search routine.

use modnas_bench::synthetic::{Function, Synthetic, SyntheticArgs};
use modnas_core::config::{ComponentSpec, yaml::parse_str};
use modnas_core::estimator::Estimator;
use modnas_core::journal::{Journal, MemoryJournal};
use modnas_core::objective::Objectives;
use modnas_core::optimizer::{OptimContext, Optimizer};
use modnas_core::param::{Assignment, Domain, ParamSpace, Value};
use modnas_core::search::Search;
use modnas_core::stop::StopCriteria;
use modnas_core::trial::TrialState;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

fn build(
    spec: &str,
    space: &Arc<ParamSpace>,
    seed: u64,
) -> Result<Box<dyn Optimizer>, modnas_core::config::ConfigError> {
    let n = parse_str("test.yaml", &format!("optim: {spec}")).unwrap();
    let spec = ComponentSpec::parse(n.get("optim").unwrap(), "optim")?;
    modnas_optim::registry().build(
        &spec,
        &OptimContext {
            space: space.clone(),
            seed,
        },
    )
}

fn search(
    spec: &str,
    est: Arc<dyn Estimator>,
    journal: Box<dyn Journal>,
    max_trials: u64,
    seed: u64,
    parallel: usize,
) -> (Vec<Assignment>, Vec<f64>, Box<dyn Journal>) {
    let space = Arc::new(est.space().unwrap());
    let mut s = Search {
        space: space.clone(),
        objectives: Objectives(est.default_objectives()),
        optimizer: build(spec, &space, seed).unwrap(),
        estimator: est,
        journal,
        derived: vec![],
        stop: StopCriteria {
            max_trials: Some(max_trials),
            ..Default::default()
        },
        parallel,
        seed,
        callbacks: vec![],
        interrupt: Arc::new(AtomicBool::new(false)),
        run_dir: None,
        worker: "test".into(),
        max_attempts: 3,
        pruner: None,
    };
    let out = s.run().unwrap();
    let params = out.trials.iter().map(|t| t.params.clone()).collect();
    let values = out
        .trials
        .iter()
        .map(|t| t.metrics.get("value").copied().unwrap_or(f64::NAN))
        .collect();
    (params, values, s.journal)
}

fn categorical(dims: usize, choices: usize) -> Arc<dyn Estimator> {
    Arc::new(Synthetic::new(SyntheticArgs {
        function: Function::Categorical,
        dims,
        choices,
        noise: 0.0,
    }))
}

const ALL: &[&str] = &[
    "GridSearch",
    "RandomSearch",
    "{type: Evolution, args: {pop_size: 10, n_select: 4}}",
    "{type: GenerationalAgingEvolution, args: {pop_size: 10, n_select: 4}}",
    "{type: RegularizedEvolution, args: {population: 10, sample: 3}}",
    "{type: Smbo, args: {n_next: 8}}",
    "{type: Smbo, args: {n_next: 8, surrogate: Ridge, acquisition: RandomSampling}}",
    "{type: Smbo, args: {n_next: 8, surrogate: {type: Mlp, args: {epochs: 20}}}}",
    "{type: Smbo, args: {n_next: 8, surrogate: GaussianProcess, acquisition: {type: Annealing, args: {chains: 16}}}}",
    "{type: BayesOpt, args: {n_initial: 5, candidates: 200, local: 50}}",
    "{type: NSGA2, args: {population: 8}}",
    "{type: ParetoRegularizedEvolution, args: {population: 10, sample: 3}}",
    "{type: CmaEs, args: {popsize: 6}}",
    "{type: TPE, args: {n_startup: 5}}",
    "{type: TPE, args: {n_startup: 5, multivariate: false}}",
    "{type: TPE, args: {n_startup: 5, bandwidth: neighbours}}",
    "{type: BOHB, args: {max_resource: 9}}",
];

/// The component type an entry of [`ALL`] names: the whole spec, or its `type:` field.
fn type_name(spec: &str) -> &str {
    match spec.strip_prefix('{') {
        None => spec.trim(),
        Some(rest) => {
            let after = rest
                .split_once("type:")
                .map(|(_, t)| t)
                .unwrap_or_else(|| panic!("spec {spec} has no type"));
            after
                .split([',', '}'])
                .next()
                .map(str::trim)
                .unwrap_or_default()
        }
    }
}

#[test]
fn every_registered_optimizer_is_exercised() {
    let reg = modnas_optim::registry();
    let names: Vec<&str> = reg.entries().iter().map(|e| e.name).collect();
    for e in reg.entries() {
        assert!(
            ALL.iter().any(|s| type_name(s) == e.name),
            "optimizer {} has no test entry",
            e.name
        );
    }
    // And every entry names a registered optimizer by its canonical name.
    for s in ALL {
        assert!(
            names.contains(&type_name(s)),
            "test entry {s} names no registered optimizer (registered: {names:?})"
        );
    }
}

#[test]
fn same_seed_same_trials_and_exact_resume() {
    for spec in ALL {
        let est = categorical(5, 3);
        let (a, va, _) = search(spec, est.clone(), Box::new(MemoryJournal::new()), 40, 7, 1);
        let (b, _, _) = search(spec, est.clone(), Box::new(MemoryJournal::new()), 40, 7, 1);
        assert_eq!(a, b, "{spec}: same seed must give the same trials");
        assert_eq!(a.len(), 40, "{spec}");
        // Stop after 17 trials, then resume in a new search (fresh optimizer restored from the journal).
        let (_, _, j) = search(spec, est.clone(), Box::new(MemoryJournal::new()), 17, 7, 1);
        let (c, vc, _) = search(spec, est.clone(), j, 40, 7, 1);
        assert_eq!(a, c, "{spec}: a resumed search must continue exactly");
        assert_eq!(va, vc);
        let (d, _, _) = search(spec, est, Box::new(MemoryJournal::new()), 40, 8, 1);
        if !spec.starts_with("Grid") {
            assert_ne!(a, d, "{spec}: another seed should give other trials");
        }
    }
}

/// Fails every third trial.
struct EveryThirdFails(Synthetic);

impl Estimator for EveryThirdFails {
    fn space(&self) -> Option<ParamSpace> {
        self.0.space()
    }
    fn default_objectives(&self) -> Vec<modnas_core::Objective> {
        self.0.default_objectives()
    }
    fn evaluate(
        &self,
        ctx: &modnas_core::estimator::EvalContext<'_>,
        p: &Assignment,
    ) -> Result<modnas_core::trial::Evaluation, modnas_core::trial::TrialFailure> {
        if ctx.trial % 3 == 1 {
            return Err(modnas_core::trial::TrialFailure::new("broken"));
        }
        self.0.evaluate(ctx, p)
    }
}

#[test]
fn exact_resume_with_failed_trials() {
    for spec in ALL {
        let est: Arc<dyn Estimator> = Arc::new(EveryThirdFails(Synthetic::new(SyntheticArgs {
            function: Function::Categorical,
            dims: 5,
            choices: 3,
            noise: 0.0,
        })));
        let (a, _, _) = search(spec, est.clone(), Box::new(MemoryJournal::new()), 36, 11, 1);
        assert_eq!(a.len(), 36, "{spec}");
        // Resume after every few trials, through the saved state each time.
        let mut j: Box<dyn Journal> = Box::new(MemoryJournal::new());
        for stop in [5u64, 12, 13, 24, 36] {
            let (_, _, jj) = search(spec, est.clone(), j, stop, 11, 1);
            j = jj;
        }
        let (b, _, _) = search(spec, est, j, 36, 11, 1);
        assert_eq!(
            a, b,
            "{spec}: resuming around failed trials must continue exactly"
        );
    }
}

#[test]
fn no_optimizer_repeats_a_point_and_all_run_in_parallel() {
    for spec in ALL {
        let (p, _, _) = search(
            spec,
            categorical(4, 3),
            Box::new(MemoryJournal::new()),
            60,
            3,
            3,
        );
        let keys: std::collections::HashSet<_> = p.iter().map(|a| a.key()).collect();
        assert_eq!(keys.len(), p.len(), "{spec}: repeated a point");
        assert_eq!(p.len(), 60, "{spec}");
    }
}

#[test]
fn finite_spaces_are_exhausted_exactly() {
    for spec in ALL {
        // 2^5 = 32 points; ask for more.
        let est: Arc<dyn Estimator> = Arc::new(Synthetic::new(SyntheticArgs {
            function: Function::OneMax,
            dims: 5,
            choices: 2,
            noise: 0.0,
        }));
        let (p, _, _) = search(spec, est, Box::new(MemoryJournal::new()), 100, 1, 1);
        let keys: std::collections::HashSet<_> = p.iter().map(|a| a.key()).collect();
        assert_eq!(
            keys.len(),
            32,
            "{spec}: should visit every point once, visited {}",
            keys.len()
        );
        assert_eq!(p.len(), 32, "{spec}");
    }
}

#[test]
fn grid_order_is_mixed_radix() {
    let (p, _, _) = search(
        "GridSearch",
        categorical(2, 3),
        Box::new(MemoryJournal::new()),
        9,
        0,
        1,
    );
    let space = categorical(2, 3).space().unwrap();
    for (i, a) in p.iter().enumerate() {
        assert_eq!(space.index_of(a).unwrap(), i as u128);
    }
}

#[test]
fn real_valued_spaces() {
    let branin: Arc<dyn Estimator> = Arc::new(Synthetic::new(SyntheticArgs {
        function: Function::Branin,
        ..Default::default()
    }));
    let space = Arc::new(branin.space().unwrap());
    let e = build("GridSearch", &space, 0)
        .err()
        .expect("grid search cannot enumerate reals");
    assert!(
        e.message.contains("finite space") && e.message.contains("x1"),
        "{e}"
    );
    for spec in &ALL[1..] {
        let (p, v, _) = search(
            spec,
            branin.clone(),
            Box::new(MemoryJournal::new()),
            30,
            2,
            1,
        );
        assert_eq!(p.len(), 30, "{spec}");
        for a in &p {
            space.validate(a).unwrap();
        }
        assert!(v.iter().all(|x| x.is_finite()), "{spec}");
    }
}

fn best_of(spec: &str, est: &Arc<dyn Estimator>, budget: u64, seed: u64, minimize: bool) -> f64 {
    let (_, v, _) = search(
        spec,
        est.clone(),
        Box::new(MemoryJournal::new()),
        budget,
        seed,
        1,
    );
    v.into_iter().fold(
        if minimize {
            f64::INFINITY
        } else {
            f64::NEG_INFINITY
        },
        |b, x| if minimize { b.min(x) } else { b.max(x) },
    )
}

#[test]
fn model_based_and_evolutionary_search_beat_random_search() {
    // A categorical landscape with 4^10 points; 120 evaluations.
    let est = categorical(10, 4);
    let seeds = 0..8u64;
    let mean = |spec: &str| {
        seeds
            .clone()
            .map(|s| best_of(spec, &est, 120, s, false))
            .sum::<f64>()
            / 8.0
    };
    let rs = mean("RandomSearch");
    let re = mean("{type: RegularizedEvolution, args: {population: 20, sample: 5}}");
    let smbo = mean("{type: Smbo, args: {n_next: 16}}");
    assert!(re > rs + 0.05, "regularized evolution {re} vs random {rs}");
    assert!(smbo > rs + 0.05, "SMBO {smbo} vs random {rs}");
}

#[test]
fn bayesian_optimisation_finds_the_branin_minimum() {
    let branin: Arc<dyn Estimator> = Arc::new(Synthetic::new(SyntheticArgs {
        function: Function::Branin,
        ..Default::default()
    }));
    let mut worst: f64 = 0.0;
    let mut rs_mean = 0.0;
    for seed in 0..3 {
        let bo = best_of("BayesOpt", &branin, 40, seed, true);
        worst = worst.max(bo);
        rs_mean += best_of("RandomSearch", &branin, 40, seed, true) / 3.0;
    }
    assert!(
        worst < 0.5,
        "GP-BO best after 40 evaluations: {worst} (optimum 0.398)"
    );
    assert!(worst < rs_mean, "GP-BO {worst} vs random {rs_mean}");
}

#[test]
fn failed_trials_are_survived() {
    // An estimator that fails on half the points.
    struct Flaky(Synthetic);
    impl Estimator for Flaky {
        fn space(&self) -> Option<ParamSpace> {
            self.0.space()
        }
        fn default_objectives(&self) -> Vec<modnas_core::Objective> {
            self.0.default_objectives()
        }
        fn evaluate(
            &self,
            ctx: &modnas_core::estimator::EvalContext<'_>,
            p: &Assignment,
        ) -> Result<modnas_core::trial::Evaluation, modnas_core::trial::TrialFailure> {
            if ctx.trial % 2 == 1 {
                return Err(modnas_core::trial::TrialFailure::new("flaky"));
            }
            self.0.evaluate(ctx, p)
        }
    }
    for spec in ALL {
        let est: Arc<dyn Estimator> = Arc::new(Flaky(Synthetic::new(SyntheticArgs {
            function: Function::Categorical,
            dims: 4,
            choices: 3,
            noise: 0.0,
        })));
        let space = Arc::new(est.space().unwrap());
        let mut s = Search {
            space: space.clone(),
            objectives: Objectives(est.default_objectives()),
            optimizer: build(spec, &space, 1).unwrap(),
            estimator: est,
            journal: Box::new(MemoryJournal::new()),
            derived: vec![],
            stop: StopCriteria {
                max_trials: Some(30),
                ..Default::default()
            },
            parallel: 1,
            seed: 1,
            callbacks: vec![],
            interrupt: Arc::new(AtomicBool::new(false)),
            run_dir: None,
            worker: "t".into(),
            max_attempts: 3,
            pruner: None,
        };
        let out = s.run().unwrap();
        assert_eq!(out.trials.len(), 30, "{spec}");
        assert_eq!(
            out.trials
                .iter()
                .filter(|t| t.state == TrialState::Failed)
                .count(),
            15,
            "{spec}"
        );
        assert!(out.best.is_some());
    }
}

#[test]
fn mixed_spaces_with_integers_and_log_floats() {
    struct Mixed(ParamSpace);
    impl Estimator for Mixed {
        fn space(&self) -> Option<ParamSpace> {
            Some(self.0.clone())
        }
        fn default_objectives(&self) -> Vec<modnas_core::Objective> {
            vec![modnas_core::Objective::minimize("value")]
        }
        fn evaluate(
            &self,
            ctx: &modnas_core::estimator::EvalContext<'_>,
            p: &Assignment,
        ) -> Result<modnas_core::trial::Evaluation, modnas_core::trial::TrialFailure> {
            let m = ctx.space.to_json(p);
            let lr = m["lr"].as_f64().unwrap();
            let n = m["n"].as_f64().unwrap();
            let act = if m["act"] == "gelu" { 0.0 } else { 1.0 };
            let v = (lr.log10() + 3.0).powi(2) + (n - 5.0).powi(2) / 10.0 + act;
            Ok(modnas_core::trial::Evaluation {
                metrics: [("value".to_string(), v)].into(),
                ..Default::default()
            })
        }
    }
    let mut sp = ParamSpace::new();
    sp.add(
        "lr",
        Domain::Float {
            low: 1e-6,
            high: 1.0,
            log: true,
        },
    )
    .unwrap();
    sp.add(
        "n",
        Domain::Int {
            low: 1,
            high: 12,
            log: false,
        },
    )
    .unwrap();
    sp.add(
        "act",
        Domain::Categorical {
            choices: vec![Value::from("relu"), Value::from("gelu")],
        },
    )
    .unwrap();
    let est: Arc<dyn Estimator> = Arc::new(Mixed(sp));
    for spec in &ALL[1..] {
        let best = best_of(spec, &est, 40, 4, true);
        eprintln!("{spec}: {best}");
        assert!(best.is_finite() && best < 5.0, "{spec}: {best}");
    }
    assert!(best_of("BayesOpt", &est, 40, 4, true) < 0.5);
}

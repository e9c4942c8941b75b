//! Synthetic test functions with known optima, for fast tests of optimizers.

use modnas_core::config::ConfigError;
use modnas_core::estimator::{EstimContext, EstimRegistry, Estimator, EvalContext};
use modnas_core::objective::{Metrics, Objective};
use modnas_core::param::{Assignment, Domain, ParamSpace, ParamValue, Value};
use modnas_core::registry::{Args, RegistryError};
use modnas_core::seed::rng_from_seed;
use modnas_core::trial::{Evaluation, TrialFailure};
use rand::RngExt;
use serde::{Deserialize, Serialize};

/// The available functions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Function {
    /// Branin on `[-5, 10] × [0, 15]`; minimum 0.397887 (three minimisers).
    #[default]
    Branin,
    /// Hartmann 6-D on `[0, 1]^6`; minimum −3.32237.
    Hartmann6,
    /// Sphere `Σ x²` on `[-5, 5]^d`; minimum 0 at the origin.
    Sphere,
    /// Rosenbrock on `[-2, 2]^d`; minimum 0 at `(1, …, 1)`.
    Rosenbrock,
    /// OneMax over `d` binary categorical parameters: number of ones (maximise; optimum `d`).
    OneMax,
    /// A categorical landscape: `d` parameters with `k` choices each; the score is the mean over
    /// parameters of `choice/(k−1)` (maximise; optimum 1), like the reference FakeData estimator.
    Categorical,
    /// Branin with an integer and a categorical parameter added: `x1 ∈ [-5, 10]`,
    /// `x2 ∈ [0, 15]`, `k ∈ 0..=10` (adds `0.1·|k − 3|`), `c` one of 4 (adds 1, 0, 0.5 or 2);
    /// minimum 0.397887 at `k = 3`, `c = 1`.
    MixedBranin,
    /// Hartmann 6-D with `x4` an integer in `0..=20` (read as `x4/20`) and `x5` one of 5 levels
    /// `{0, 0.25, 0.5, 0.75, 1}`; the other four real in `[0, 1]`. Minimum about −3.13754 (near
    /// `(0.4047, 0.8825, 0.8537, 0.5741, 3, 0)`, the basin of Hartmann's fourth term).
    MixedHartmann,
    /// A made-up training loss over typical hyperparameters: learning rate (log scale),
    /// batch size (log-scale integer), optimizer (4 choices, each with its own best learning
    /// rate), dropout, layers (integer) and activation (3 choices); minimum 0 with `adam`,
    /// `lr = 1e-3`, batch 64, dropout 0.3, 4 layers and `gelu`.
    HpoLike,
}

/// Arguments of [`Synthetic`].
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SyntheticArgs {
    /// The function.
    pub function: Function,
    /// Dimension (sphere, rosenbrock, one_max, categorical).
    pub dims: usize,
    /// Choices per parameter (categorical).
    pub choices: usize,
    /// Standard deviation of Gaussian noise added to the value.
    pub noise: f64,
}

impl Default for SyntheticArgs {
    fn default() -> Self {
        SyntheticArgs {
            function: Function::Branin,
            dims: 4,
            choices: 4,
            noise: 0.0,
        }
    }
}

impl Args for SyntheticArgs {
    fn check(&self) -> Result<(), (String, String)> {
        modnas_core::registry::at_most("dims", self.dims, 100_000)?;
        modnas_core::registry::at_most("choices", self.choices, 100_000)?;
        if self.dims == 0 {
            return Err(("dims".into(), "`dims` must be at least 1".into()));
        }
        if self.choices < 2 {
            return Err(("choices".into(), "`choices` must be at least 2".into()));
        }
        if !(self.noise >= 0.0) {
            return Err(("noise".into(), "`noise` must not be negative".into()));
        }
        Ok(())
    }
}

/// A synthetic function as an estimator; it reports the metric `value`.
pub struct Synthetic {
    args: SyntheticArgs,
    space: ParamSpace,
    /// Steps of a multi-fidelity evaluation (0: one value, no steps).
    steps: u64,
}

/// Arguments of the multi-fidelity form of [`Synthetic`]: the function's arguments and `steps`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MultiFidelityArgs {
    /// The function.
    pub function: Function,
    /// Dimension (sphere, rosenbrock, one_max, categorical).
    pub dims: usize,
    /// Choices per parameter (categorical).
    pub choices: usize,
    /// Standard deviation of Gaussian noise added to each step's value.
    pub noise: f64,
    /// Steps of an evaluation: it reports a learning curve at steps 1..=S that ends at the
    /// function's value (see [`learning_curve`]), stops when pruned, and costs the steps it ran.
    pub steps: u64,
}

impl Default for MultiFidelityArgs {
    fn default() -> Self {
        let d = SyntheticArgs::default();
        MultiFidelityArgs {
            function: d.function,
            dims: d.dims,
            choices: d.choices,
            noise: d.noise,
            steps: 27,
        }
    }
}

impl MultiFidelityArgs {
    /// The function's own arguments.
    pub fn function_args(&self) -> SyntheticArgs {
        SyntheticArgs {
            function: self.function,
            dims: self.dims,
            choices: self.choices,
            noise: self.noise,
        }
    }
}

impl Args for MultiFidelityArgs {
    fn check(&self) -> Result<(), (String, String)> {
        self.function_args().check()?;
        if !(1..=1_000_000).contains(&self.steps) {
            return Err((
                "steps".into(),
                format!("`steps` must be between 1 and 1000000, got {}", self.steps),
            ));
        }
        Ok(())
    }
}

fn real(space: &mut ParamSpace, name: &str, low: f64, high: f64) {
    let _ = space.add(
        name,
        Domain::Float {
            low,
            high,
            log: false,
        },
    );
}

impl Synthetic {
    /// The function's estimator.
    pub fn new(args: SyntheticArgs) -> Self {
        let mut space = ParamSpace::new();
        match args.function {
            Function::Branin => {
                real(&mut space, "x1", -5.0, 10.0);
                real(&mut space, "x2", 0.0, 15.0);
            }
            Function::Hartmann6 => {
                (0..6).for_each(|i| real(&mut space, &format!("x{i}"), 0.0, 1.0))
            }
            Function::Sphere => {
                (0..args.dims).for_each(|i| real(&mut space, &format!("x{i}"), -5.0, 5.0))
            }
            Function::Rosenbrock => {
                (0..args.dims).for_each(|i| real(&mut space, &format!("x{i}"), -2.0, 2.0))
            }
            Function::OneMax => (0..args.dims).for_each(|i| {
                let _ = space.add(
                    &format!("b{i}"),
                    Domain::Categorical {
                        choices: vec![Value::Int(0), Value::Int(1)],
                    },
                );
            }),
            Function::Categorical => (0..args.dims).for_each(|i| {
                let _ = space.add(
                    &format!("c{i}"),
                    Domain::Categorical {
                        choices: (0..args.choices as i64).map(Value::Int).collect(),
                    },
                );
            }),
            Function::MixedBranin => {
                real(&mut space, "x1", -5.0, 10.0);
                real(&mut space, "x2", 0.0, 15.0);
                int(&mut space, "k", 0, 10, false);
                choice(&mut space, "c", &["a", "b", "c", "d"]);
            }
            Function::MixedHartmann => {
                (0..4).for_each(|i| real(&mut space, &format!("x{i}"), 0.0, 1.0));
                int(&mut space, "x4", 0, 20, false);
                choice(&mut space, "x5", &["0", "0.25", "0.5", "0.75", "1"]);
            }
            Function::HpoLike => {
                let _ = space.add(
                    "lr",
                    Domain::Float {
                        low: 1e-5,
                        high: 1.0,
                        log: true,
                    },
                );
                int(&mut space, "batch", 16, 1024, true);
                choice(
                    &mut space,
                    "optimizer",
                    &["sgd", "momentum", "adam", "rmsprop"],
                );
                real(&mut space, "dropout", 0.0, 0.9);
                int(&mut space, "layers", 1, 8, false);
                choice(&mut space, "activation", &["relu", "tanh", "gelu"]);
            }
        }
        Synthetic {
            args,
            space,
            steps: 0,
        }
    }

    /// The function's multi-fidelity estimator: a learning curve over `steps` steps.
    pub fn multi_fidelity(args: &MultiFidelityArgs) -> Self {
        Synthetic {
            steps: args.steps,
            ..Synthetic::new(args.function_args())
        }
    }

    /// The noiseless value at `a`.
    pub fn value(&self, a: &Assignment) -> f64 {
        let x: Vec<f64> = a
            .values()
            .iter()
            .map(|v| match v {
                ParamValue::Float(f) => *f,
                ParamValue::Int(i) => *i as f64,
                ParamValue::Choice(c) => *c as f64,
            })
            .collect();
        match self.args.function {
            Function::Branin => branin(x[0], x[1]),
            Function::Hartmann6 => hartmann6(&x),
            Function::Sphere => x.iter().map(|v| v * v).sum(),
            Function::Rosenbrock => x
                .windows(2)
                .map(|w| 100.0 * (w[1] - w[0] * w[0]).powi(2) + (1.0 - w[0]).powi(2))
                .sum(),
            Function::OneMax => x.iter().sum(),
            Function::MixedBranin => {
                const C: [f64; 4] = [1.0, 0.0, 0.5, 2.0];
                branin(x[0], x[1]) + 0.1 * (x[2] - 3.0).abs() + C[x[3] as usize % 4]
            }
            Function::MixedHartmann => {
                let mut y = x.clone();
                y[4] = x[4] / 20.0;
                y[5] = x[5] * 0.25;
                hartmann6(&y)
            }
            Function::HpoLike => hpo_like(&x),
            Function::Categorical => {
                x.iter()
                    .map(|c| c / (self.args.choices as f64 - 1.0))
                    .sum::<f64>()
                    / x.len() as f64
            }
        }
    }

    /// Whether larger values are better.
    pub fn maximize(&self) -> bool {
        matches!(self.args.function, Function::OneMax | Function::Categorical)
    }
}

fn branin(x1: f64, x2: f64) -> f64 {
    let pi = std::f64::consts::PI;
    let b = 5.1 / (4.0 * pi * pi);
    let c = 5.0 / pi;
    let t = 1.0 / (8.0 * pi);
    (x2 - b * x1 * x1 + c * x1 - 6.0).powi(2) + 10.0 * (1.0 - t) * x1.cos() + 10.0
}

/// `x`: lr, batch, optimizer, dropout, layers, activation (choices as indices).
fn hpo_like(x: &[f64]) -> f64 {
    // Per optimizer: its offset and its best log10 learning rate.
    const OPT: [(f64, f64); 4] = [(0.4, -1.0), (0.15, -2.0), (0.0, -3.0), (0.1, -3.5)];
    const ACT: [f64; 3] = [0.05, 0.2, 0.0];
    let (offset, best_lr) = OPT[x[2] as usize % 4];
    let lr = x[0].log10() - best_lr;
    let batch = x[1].log2() - 6.0;
    // Large batches want larger learning rates: the two interact.
    let lr_batch = lr - 0.15 * batch;
    offset
        + 0.5 * lr_batch * lr_batch
        + 0.03 * batch * batch
        + (x[3] - 0.3).powi(2)
        + 0.05 * (x[4] - 4.0).abs()
        + ACT[x[5] as usize % 3]
}

fn int(space: &mut ParamSpace, name: &str, low: i64, high: i64, log: bool) {
    let _ = space.add(name, Domain::Int { low, high, log });
}

fn choice(space: &mut ParamSpace, name: &str, choices: &[&str]) {
    let _ = space.add(
        name,
        Domain::Categorical {
            choices: choices.iter().map(|c| Value::Str((*c).into())).collect(),
        },
    );
}

fn hartmann6(x: &[f64]) -> f64 {
    const ALPHA: [f64; 4] = [1.0, 1.2, 3.0, 3.2];
    const A: [[f64; 6]; 4] = [
        [10.0, 3.0, 17.0, 3.5, 1.7, 8.0],
        [0.05, 10.0, 17.0, 0.1, 8.0, 14.0],
        [3.0, 3.5, 1.7, 10.0, 17.0, 8.0],
        [17.0, 8.0, 0.05, 10.0, 0.1, 14.0],
    ];
    const P: [[f64; 6]; 4] = [
        [0.1312, 0.1696, 0.5569, 0.0124, 0.8283, 0.5886],
        [0.2329, 0.4135, 0.8307, 0.3736, 0.1004, 0.9991],
        [0.2348, 0.1451, 0.3522, 0.2883, 0.3047, 0.6650],
        [0.4047, 0.8828, 0.8732, 0.5743, 0.1091, 0.0381],
    ];
    -(0..4)
        .map(|i| {
            ALPHA[i]
                * (-(0..6)
                    .map(|j| A[i][j] * (x[j] - P[i][j]).powi(2))
                    .sum::<f64>())
                .exp()
        })
        .sum::<f64>()
}

impl Estimator for Synthetic {
    fn space(&self) -> Option<ParamSpace> {
        Some(self.space.clone())
    }

    fn metric_names(&self) -> Option<Vec<String>> {
        Some(vec!["value".to_string()])
    }

    fn default_objectives(&self) -> Vec<Objective> {
        vec![if self.maximize() {
            Objective::maximize("value")
        } else {
            Objective::minimize("value")
        }]
    }

    fn evaluate(
        &self,
        ctx: &EvalContext<'_>,
        params: &Assignment,
    ) -> Result<Evaluation, TrialFailure> {
        if self.steps > 0 {
            return Ok(self.evaluate_steps(ctx, params));
        }
        let mut v = self.value(params);
        if self.args.noise > 0.0 {
            let mut rng = rng_from_seed(ctx.seed);
            v += self.args.noise * gaussian(&mut rng);
        }
        let metrics: Metrics = [("value".to_string(), v)].into();
        Ok(Evaluation {
            metrics,
            cost: None,
            attrs: Default::default(),
        })
    }
}

/// A standard normal draw (Box–Muller).
fn gaussian(rng: &mut modnas_core::seed::Rng) -> f64 {
    let u1: f64 = rng.random_range(f64::MIN_POSITIVE..1.0);
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

/// A hash of an assignment in `[0, 1)`, one per `salt`.
fn unit_hash(params: &Assignment, salt: u64) -> f64 {
    use modnas_core::seed::splitmix64;
    let mut h = splitmix64(salt);
    for v in params.values() {
        let bits = match *v {
            ParamValue::Choice(i) => i as u64,
            ParamValue::Int(i) => i as u64,
            ParamValue::Float(x) => x.to_bits(),
        };
        h = splitmix64(h ^ bits);
    }
    (h >> 11) as f64 / (1u64 << 53) as f64
}

/// The value at `step` of `steps` of a learning curve that ends at `end`: worse than `end`
/// (larger when `minimize`) by `(|end| + 1)·c·(e^(−k·step/steps) − e^(−k))`, where the height
/// `c ∈ [0.5, 1.5)` and the speed `k ∈ [1, 6)` depend on the assignment, so curves cross and an
/// early leader need not win.
pub fn learning_curve(params: &Assignment, end: f64, minimize: bool, step: u64, steps: u64) -> f64 {
    let c = 0.5 + unit_hash(params, 1);
    let k = 1.0 + 5.0 * unit_hash(params, 2);
    let t = step.min(steps) as f64 / steps.max(1) as f64;
    let gap = (end.abs() + 1.0) * c * ((-k * t).exp() - (-k).exp());
    if minimize { end + gap } else { end - gap }
}

impl Synthetic {
    /// A multi-fidelity evaluation: the learning curve reported step by step.
    fn evaluate_steps(&self, ctx: &EvalContext<'_>, params: &Assignment) -> Evaluation {
        let end = self.value(params);
        let minimize = !self.maximize();
        let mut rng = rng_from_seed(ctx.seed);
        let mut metrics = Metrics::new();
        let mut ran = 0;
        for step in 1..=self.steps {
            let mut v = learning_curve(params, end, minimize, step, self.steps);
            if self.args.noise > 0.0 {
                v += self.args.noise * gaussian(&mut rng);
            }
            metrics = [("value".to_string(), v)].into();
            ran = step;
            if ctx.reporter.report(step, &metrics) == modnas_core::estimator::Decision::Prune {
                break;
            }
        }
        Evaluation {
            metrics,
            cost: Some(ran as f64),
            attrs: Default::default(),
        }
    }
}

/// Registers `Synthetic`.
pub fn register(reg: &mut EstimRegistry) -> Result<(), RegistryError> {
    reg.add::<SyntheticArgs>(
        "Synthetic",
        &["TestFunction", "FakeData", "FakeDataEstim"],
        "Synthetic test functions with known optima: branin, hartmann6, sphere, rosenbrock, one_max, categorical, and the mixed categorical/integer/real mixed_branin, mixed_hartmann, hpo_like.",
        |a, ctx: &EstimContext| {
            if ctx.space.is_some() {
                return Err(ConfigError::new("the Synthetic estimator defines its own space; remove the `space:` section"));
            }
            Ok(Box::new(Synthetic::new(a)))
        },
    )?;
    reg.add::<MultiFidelityArgs>(
        "MultiFidelity",
        &["SyntheticMultiFidelity"],
        "A synthetic function as a learning curve over `steps` steps (ends at the function's value; curves cross), for pruners.",
        |a, ctx: &EstimContext| {
            if ctx.space.is_some() {
                return Err(ConfigError::new("the MultiFidelity estimator defines its own space; remove the `space:` section"));
            }
            Ok(Box::new(Synthetic::multi_fidelity(&a)))
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learning_curves_end_at_the_value_and_improve() {
        let s = Synthetic::multi_fidelity(&MultiFidelityArgs {
            function: Function::Branin,
            steps: 10,
            ..Default::default()
        });
        let a = |x: f64| Assignment(vec![ParamValue::Float(x), ParamValue::Float(3.0)]);
        let mut ends = Vec::new();
        let mut firsts = Vec::new();
        for i in 0..100 {
            let x = -5.0 + 0.15 * i as f64;
            let end = s.value(&a(x));
            let curve: Vec<f64> = (1..=10)
                .map(|k| learning_curve(&a(x), end, true, k, 10))
                .collect();
            assert_eq!(curve[9], end);
            assert!(curve.windows(2).all(|w| w[1] <= w[0]), "{curve:?}");
            ends.push(end);
            firsts.push(curve[0]);
        }
        // Some pairs are ranked differently at step 1 and at the end (the curves cross).
        let crossings = (0..100)
            .flat_map(|i| (0..i).map(move |j| (i, j)))
            .filter(|&(i, j)| (firsts[i] < firsts[j]) != (ends[i] < ends[j]))
            .count();
        assert!(crossings > 0 && crossings < 4950 / 2, "{crossings}");
        // Reported step by step, and stopped by a prune.
        struct StopAt3(std::sync::Mutex<Vec<u64>>);
        impl modnas_core::estimator::Reporter for StopAt3 {
            fn report(&self, step: u64, _: &Metrics) -> modnas_core::estimator::Decision {
                self.0.lock().unwrap().push(step);
                if step == 3 {
                    modnas_core::estimator::Decision::Prune
                } else {
                    modnas_core::estimator::Decision::Continue
                }
            }
        }
        let r = StopAt3(Default::default());
        let space = s.space.clone();
        let cancel = std::sync::atomic::AtomicBool::new(false);
        let ctx = EvalContext {
            trial: 0,
            seed: 1,
            space: &space,
            run_dir: None,
            cancel: &cancel,
            reporter: &r,
        };
        let ev = s.evaluate(&ctx, &a(1.0)).unwrap();
        assert_eq!(*r.0.lock().unwrap(), vec![1, 2, 3]);
        assert_eq!(ev.cost, Some(3.0));
        assert_eq!(
            ev.metrics["value"],
            learning_curve(&a(1.0), s.value(&a(1.0)), true, 3, 10)
        );
    }

    fn at(s: &Synthetic, xs: &[f64]) -> f64 {
        s.value(&Assignment(
            xs.iter().map(|x| ParamValue::Float(*x)).collect(),
        ))
    }

    #[test]
    fn known_optima() {
        let b = Synthetic::new(SyntheticArgs {
            function: Function::Branin,
            ..Default::default()
        });
        for (x1, x2) in [
            (-std::f64::consts::PI, 12.275),
            (std::f64::consts::PI, 2.275),
            (9.42478, 2.475),
        ] {
            assert!((at(&b, &[x1, x2]) - 0.397887).abs() < 1e-5);
        }
        let h = Synthetic::new(SyntheticArgs {
            function: Function::Hartmann6,
            ..Default::default()
        });
        assert!(
            (at(
                &h,
                &[0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573]
            ) + 3.32237)
                .abs()
                < 1e-4
        );
        let r = Synthetic::new(SyntheticArgs {
            function: Function::Rosenbrock,
            dims: 3,
            ..Default::default()
        });
        assert_eq!(at(&r, &[1.0, 1.0, 1.0]), 0.0);
    }

    #[test]
    fn mixed_functions_have_their_stated_optima() {
        let f = |function| {
            Synthetic::new(SyntheticArgs {
                function,
                ..Default::default()
            })
        };
        use ParamValue::{Choice, Float, Int};
        let mb = f(Function::MixedBranin);
        let best = Assignment(vec![
            Float(std::f64::consts::PI),
            Float(2.275),
            Int(3),
            Choice(1),
        ]);
        mb.space.validate(&best).unwrap();
        assert!((mb.value(&best) - 0.397887).abs() < 1e-5);
        let worse = Assignment(vec![
            Float(std::f64::consts::PI),
            Float(2.275),
            Int(4),
            Choice(0),
        ]);
        assert!(mb.value(&worse) > mb.value(&best) + 1.0);
        let mh = f(Function::MixedHartmann);
        let near = Assignment(vec![
            Float(0.404668),
            Float(0.882547),
            Float(0.853722),
            Float(0.574079),
            Int(3),
            Choice(0),
        ]);
        mh.space.validate(&near).unwrap();
        assert!(
            (mh.value(&near) + 3.13754).abs() < 1e-4,
            "{}",
            mh.value(&near)
        );
        let hp = f(Function::HpoLike);
        let best = Assignment(vec![
            Float(1e-3),
            Int(64),
            Choice(2),
            Float(0.3),
            Int(4),
            Choice(2),
        ]);
        hp.space.validate(&best).unwrap();
        assert!(hp.value(&best).abs() < 1e-12);
        let mut rng = rng_from_seed(0);
        for _ in 0..1000 {
            assert!(hp.value(&hp.space.sample(&mut rng)) > 0.0);
            let a = mb.space.sample(&mut rng);
            assert!(mb.value(&a) >= 0.397887 - 1e-6);
        }
    }
}

//! Weight and architecture optimizers (SGD with momentum / Nesterov, Adam), written on tensors so
//! their state (momentum buffers) is visible: DARTS's virtual step needs it.
//!
//! They follow `torch.optim.SGD` / `torch.optim.Adam` exactly: [`Optimizer::zero_grad`] clears the
//! gradients (PyTorch's `set_to_none`), a parameter without a gradient is left alone (no decay, no
//! momentum, no step counted), Adam counts its bias-correction steps per parameter, and `step`
//! leaves the gradients as they are.

use serde::{Deserialize, Serialize};
use tch::{COptimizer, Kind, Tensor};

/// Which algorithm, with its settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum OptimSpec {
    /// Stochastic gradient descent.
    Sgd {
        /// Learning rate.
        lr: f64,
        /// Momentum.
        #[serde(default)]
        momentum: f64,
        /// Nesterov momentum.
        #[serde(default)]
        nesterov: bool,
        /// L2 weight decay.
        #[serde(default)]
        weight_decay: f64,
    },
    /// Adam.
    Adam {
        /// Learning rate.
        lr: f64,
        /// β₁, β₂.
        #[serde(default = "default_betas")]
        betas: (f64, f64),
        /// ε.
        #[serde(default = "default_eps")]
        eps: f64,
        /// L2 weight decay (added to the gradient, as PyTorch's Adam does).
        #[serde(default)]
        weight_decay: f64,
    },
}

fn default_betas() -> (f64, f64) {
    (0.9, 0.999)
}

fn default_eps() -> f64 {
    1e-8
}

impl OptimSpec {
    /// The base learning rate.
    pub fn lr(&self) -> f64 {
        match self {
            OptimSpec::Sgd { lr, .. } | OptimSpec::Adam { lr, .. } => *lr,
        }
    }

    /// Checks the settings.
    pub fn check(&self) -> Result<(), String> {
        let ok = |c: bool, m: &str| if c { Ok(()) } else { Err(m.to_string()) };
        match self {
            OptimSpec::Sgd {
                lr,
                momentum,
                weight_decay,
                ..
            } => {
                ok(*lr > 0.0, "the learning rate must be positive")?;
                ok((0.0..1.0).contains(momentum), "momentum must be in [0, 1)")?;
                ok(*weight_decay >= 0.0, "weight decay must not be negative")
            }
            OptimSpec::Adam {
                lr,
                betas,
                eps,
                weight_decay,
            } => {
                ok(*lr > 0.0, "the learning rate must be positive")?;
                ok(
                    (0.0..1.0).contains(&betas.0) && (0.0..1.0).contains(&betas.1),
                    "betas must be in [0, 1)",
                )?;
                ok(*eps > 0.0, "eps must be positive")?;
                ok(*weight_decay >= 0.0, "weight decay must not be negative")
            }
        }
    }
}

/// An optimizer over a fixed list of tensors.
#[derive(Debug)]
pub struct Optimizer {
    spec: OptimSpec,
    params: Vec<Tensor>,
    buf1: Vec<Option<Tensor>>,
    buf2: Vec<Option<Tensor>>,
    /// Updates of each parameter (Adam's bias correction).
    steps: Vec<i64>,
    /// Calls of `step`.
    t: i64,
    lr: f64,
    /// libtorch's own optimizer over the same tensors, used only to clear their gradients (tch
    /// has no other way to make a gradient undefined again).
    clearer: Option<COptimizer>,
}

/// A libtorch optimizer holding `params`, whose `zero_grad` resets their gradients to undefined.
fn gradient_clearer(params: &[Tensor]) -> Option<COptimizer> {
    let mut c = COptimizer::sgd(1.0, 0.0, 0.0, 0.0, false).ok()?;
    for p in params {
        c.add_parameters(p, 0).ok()?;
    }
    Some(c)
}

impl Optimizer {
    /// An optimizer of `params`.
    pub fn new(spec: OptimSpec, params: Vec<Tensor>) -> Optimizer {
        let n = params.len();
        let lr = spec.lr();
        let clearer = gradient_clearer(&params);
        Optimizer {
            spec,
            params,
            buf1: (0..n).map(|_| None).collect(),
            buf2: (0..n).map(|_| None).collect(),
            steps: vec![0; n],
            t: 0,
            lr,
            clearer,
        }
    }

    /// The parameters.
    pub fn params(&self) -> &[Tensor] {
        &self.params
    }

    /// The settings.
    pub fn spec(&self) -> &OptimSpec {
        &self.spec
    }

    /// Current learning rate.
    pub fn lr(&self) -> f64 {
        self.lr
    }

    /// Sets the learning rate.
    pub fn set_lr(&mut self, lr: f64) {
        self.lr = lr;
    }

    /// SGD momentum and weight decay (0 for Adam).
    pub fn momentum_and_decay(&self) -> (f64, f64) {
        match &self.spec {
            OptimSpec::Sgd {
                momentum,
                weight_decay,
                ..
            } => (*momentum, *weight_decay),
            OptimSpec::Adam { weight_decay, .. } => (0.0, *weight_decay),
        }
    }

    /// The momentum buffer of parameter `i`, once one step has been taken.
    pub fn momentum_buffer(&self, i: usize) -> Option<&Tensor> {
        match self.spec {
            OptimSpec::Sgd { .. } => self.buf1.get(i).and_then(Option::as_ref),
            OptimSpec::Adam { .. } => None,
        }
    }

    /// The state tensors by name (momentum buffers `m{i}`, second moments `v{i}`, and each
    /// updated parameter's step count `s{i}`), and the number of `step` calls.
    pub fn state(&self) -> (Vec<(String, Tensor)>, i64) {
        let mut out = Vec::new();
        for (i, b) in self.buf1.iter().enumerate() {
            if let Some(t) = b {
                out.push((format!("m{i}"), t.shallow_clone()));
            }
        }
        for (i, b) in self.buf2.iter().enumerate() {
            if let Some(t) = b {
                out.push((format!("v{i}"), t.shallow_clone()));
            }
        }
        for (i, &s) in self.steps.iter().enumerate() {
            if s > 0 {
                out.push((format!("s{i}"), Tensor::from_slice(&[s])));
            }
        }
        (out, self.t)
    }

    /// How many updates parameter `i` has had (steps on which it had a gradient).
    pub fn param_steps(&self, i: usize) -> i64 {
        self.steps.get(i).copied().unwrap_or(0)
    }

    /// Restores [`Optimizer::state`]. A state without step counts (written before they were
    /// kept) gives every parameter with a buffer `t` steps.
    pub fn load_state(&mut self, named: &[(String, Tensor)], t: i64) -> Result<(), String> {
        let mut counted = false;
        for (name, tensor) in named {
            let (Some(which), Some(idx)) = (name.get(..1), name.get(1..)) else {
                return Err(format!("bad optimizer state entry `{name}`"));
            };
            let i: usize = idx
                .parse()
                .map_err(|_| format!("bad optimizer state entry `{name}`"))?;
            if which == "s" {
                let steps = self.steps.get_mut(i).ok_or_else(|| {
                    format!(
                        "optimizer state entry `{name}` does not fit ({} parameters)",
                        self.params.len()
                    )
                })?;
                if tensor.numel() != 1 {
                    return Err(format!(
                        "optimizer state entry `{name}` must hold one step count"
                    ));
                }
                *steps = tensor.to_kind(Kind::Int64).int64_value(&[0]);
                counted = true;
                continue;
            }
            let slot = match which {
                "m" => self.buf1.get_mut(i),
                "v" => self.buf2.get_mut(i),
                _ => None,
            }
            .ok_or_else(|| {
                format!(
                    "optimizer state entry `{name}` does not fit ({} parameters)",
                    self.params.len()
                )
            })?;
            if tensor.size() != self.params[i].size() {
                return Err(format!(
                    "optimizer state entry `{name}` has shape {:?}, the parameter {:?}",
                    tensor.size(),
                    self.params[i].size()
                ));
            }
            *slot = Some(
                tensor
                    .to_device(self.params[i].device())
                    .to_kind(self.params[i].kind()),
            );
        }
        if !counted {
            for (i, s) in self.steps.iter_mut().enumerate() {
                *s = if self.buf1[i].is_some() || self.buf2[i].is_some() {
                    t
                } else {
                    0
                };
            }
        }
        self.t = t;
        Ok(())
    }

    /// Clears the gradients: they become undefined (PyTorch's `zero_grad(set_to_none=True)`),
    /// so that a parameter the next loss does not reach gets no update.
    pub fn zero_grad(&self) {
        match &self.clearer {
            Some(c) if c.zero_grad().is_ok() => {}
            // Without libtorch's optimizer, zero them (the parameters then still get decay).
            _ => {
                for p in &self.params {
                    let mut g = p.grad();
                    if g.defined() {
                        let _ = g.detach_().zero_();
                    }
                }
            }
        }
    }

    /// Scales gradients so their global L2 norm is at most `max`; returns the norm before.
    pub fn clip_grad_norm(&self, max: f64) -> f64 {
        tch::no_grad(|| {
            let grads: Vec<Tensor> = self
                .params
                .iter()
                .map(Tensor::grad)
                .filter(Tensor::defined)
                .collect();
            if grads.is_empty() {
                return 0.0;
            }
            let total: f64 = grads
                .iter()
                .map(|g| {
                    g.pow_tensor_scalar(2)
                        .sum(tch::Kind::Double)
                        .double_value(&[])
                })
                .sum::<f64>()
                .sqrt();
            if total > max && total > 0.0 {
                let scale = max / (total + 1e-6);
                for g in &grads {
                    let _ = g.shallow_clone().g_mul_scalar_(scale);
                }
            }
            total
        })
    }

    /// One update of every parameter that has a gradient; the gradients are not changed.
    pub fn step(&mut self) {
        self.t += 1;
        let lr = self.lr;
        tch::no_grad(|| {
            for (i, p) in self.params.iter().enumerate() {
                let g = p.grad();
                if !g.defined() {
                    continue;
                }
                self.steps[i] += 1;
                let t = self.steps[i];
                match &self.spec {
                    OptimSpec::Sgd {
                        momentum,
                        nesterov,
                        weight_decay,
                        ..
                    } => {
                        // The momentum buffer is updated in place; the gradient is only read.
                        let mut d = if *weight_decay != 0.0 {
                            &g + p * *weight_decay
                        } else {
                            g.shallow_clone()
                        };
                        if *momentum != 0.0 {
                            let buf = match self.buf1[i].take() {
                                None => d.copy(),
                                Some(mut b) => {
                                    let _ = b.g_mul_scalar_(*momentum);
                                    let _ = b.g_add_(&d);
                                    b
                                }
                            };
                            d = if *nesterov {
                                &d + &buf * *momentum
                            } else {
                                buf.shallow_clone()
                            };
                            self.buf1[i] = Some(buf);
                        }
                        let _ = p.shallow_clone().g_sub_(&(d * lr));
                    }
                    OptimSpec::Adam {
                        betas,
                        eps,
                        weight_decay,
                        ..
                    } => {
                        let g = if *weight_decay != 0.0 {
                            &g + p * *weight_decay
                        } else {
                            g.shallow_clone()
                        };
                        let m = match self.buf1[i].take() {
                            None => &g * (1.0 - betas.0),
                            Some(m) => m * betas.0 + &g * (1.0 - betas.0),
                        };
                        let v = match self.buf2[i].take() {
                            None => g.square() * (1.0 - betas.1),
                            Some(v) => v * betas.1 + g.square() * (1.0 - betas.1),
                        };
                        let bc1 = 1.0 - betas.0.powi(t as i32);
                        let bc2 = 1.0 - betas.1.powi(t as i32);
                        let denom = (&v / bc2).sqrt() + *eps;
                        let _ = p.shallow_clone().g_sub_(&((&m / bc1) / denom * lr));
                        self.buf1[i] = Some(m);
                        self.buf2[i] = Some(v);
                    }
                }
            }
        });
    }
}

/// Learning-rate schedule over epochs.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Schedule {
    /// Constant.
    #[default]
    Constant,
    /// Cosine annealing from the base rate to `eta_min` over the run.
    Cosine {
        /// Final learning rate.
        #[serde(default)]
        eta_min: f64,
    },
    /// Multiply by `gamma` every `step_size` epochs.
    Step {
        /// Epochs between decays.
        step_size: usize,
        /// Factor.
        gamma: f64,
    },
    /// Multiply by `gamma` every epoch.
    Exponential {
        /// Factor.
        gamma: f64,
    },
}

impl Schedule {
    /// The learning rate of `epoch` (from 0) out of `epochs`.
    pub fn lr(&self, base: f64, epoch: usize, epochs: usize) -> f64 {
        match self {
            Schedule::Constant => base,
            Schedule::Cosine { eta_min } => {
                let t = epoch as f64 / epochs.max(1) as f64;
                eta_min + (base - eta_min) * (1.0 + (std::f64::consts::PI * t).cos()) / 2.0
            }
            Schedule::Step { step_size, gamma } => {
                base * gamma.powi((epoch / (*step_size).max(1)) as i32)
            }
            Schedule::Exponential { gamma } => base * gamma.powi(epoch as i32),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    #[test]
    fn sgd_with_momentum_matches_the_pytorch_rule() {
        let p = Tensor::from_slice(&[1.0f64, -2.0]).set_requires_grad(true);
        let mut o = Optimizer::new(
            OptimSpec::Sgd {
                lr: 0.1,
                momentum: 0.9,
                nesterov: false,
                weight_decay: 0.01,
            },
            vec![p.shallow_clone()],
        );
        // Two steps of the loss p·p: g = 2p.
        let mut expect = [1.0f64, -2.0];
        let mut buf = [0.0f64; 2];
        for step in 0..2 {
            o.zero_grad();
            (&p * &p).sum(Kind::Double).backward();
            o.step();
            for k in 0..2 {
                let d = 2.0 * expect[k] + 0.01 * expect[k];
                buf[k] = if step == 0 { d } else { 0.9 * buf[k] + d };
                expect[k] -= 0.1 * buf[k];
            }
        }
        let got: Vec<f64> = Vec::try_from(&p).unwrap();
        assert!(
            (got[0] - expect[0]).abs() < 1e-12 && (got[1] - expect[1]).abs() < 1e-12,
            "{got:?} vs {expect:?}"
        );
    }

    #[test]
    fn adam_minimises_a_quadratic() {
        let p = Tensor::from_slice(&[3.0f32, -1.0]).set_requires_grad(true);
        let mut o = Optimizer::new(
            OptimSpec::Adam {
                lr: 0.1,
                betas: (0.9, 0.999),
                eps: 1e-8,
                weight_decay: 0.0,
            },
            vec![p.shallow_clone()],
        );
        for _ in 0..300 {
            o.zero_grad();
            (&p * &p).sum(Kind::Float).backward();
            o.step();
        }
        assert!(p.abs().max().double_value(&[]) < 1e-2);
        let _ = Device::Cpu;
    }

    /// Adam's per-parameter step counts survive `state` → `load_state`: a restored optimizer
    /// continues exactly as the original.
    #[test]
    fn adam_state_round_trip_keeps_the_step_counts() {
        let spec = OptimSpec::Adam {
            lr: 0.1,
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay: 0.0,
        };
        let make = || {
            let a = Tensor::from_slice(&[1.0f64, -1.0]).set_requires_grad(true);
            let b = Tensor::from_slice(&[0.5f64]).set_requires_grad(true);
            (a, b)
        };
        let run = |o: &mut Optimizer, a: &Tensor, b: &Tensor, with_b: bool| {
            o.zero_grad();
            (a * a).sum(Kind::Double).backward();
            if with_b {
                (b * b).sum(Kind::Double).backward();
            }
            o.step();
        };
        let (a, b) = make();
        let mut o = Optimizer::new(spec.clone(), vec![a.shallow_clone(), b.shallow_clone()]);
        for k in 0..4 {
            run(&mut o, &a, &b, k == 3);
        }
        assert_eq!((o.param_steps(0), o.param_steps(1)), (4, 1));
        let (named, t) = o.state();
        let (a2, b2) = make();
        tch::no_grad(|| {
            a2.shallow_clone().copy_(&a);
            b2.shallow_clone().copy_(&b);
        });
        let mut o2 = Optimizer::new(spec, vec![a2.shallow_clone(), b2.shallow_clone()]);
        o2.load_state(&named, t).expect("state loads");
        assert_eq!((o2.param_steps(0), o2.param_steps(1)), (4, 1));
        run(&mut o, &a, &b, true);
        run(&mut o2, &a2, &b2, true);
        let (x, y): (Vec<f64>, Vec<f64>) = (
            Vec::try_from(&b.detach()).expect("f64"),
            Vec::try_from(&b2.detach()).expect("f64"),
        );
        assert_eq!(x, y);
        // A state written without step counts gives every parameter with a buffer `t` steps.
        let old: Vec<(String, Tensor)> = named
            .into_iter()
            .filter(|(n, _)| !n.starts_with('s'))
            .collect();
        let params: Vec<Tensor> = o.params().iter().map(Tensor::shallow_clone).collect();
        let mut o3 = Optimizer::new(o.spec().clone(), params);
        o3.load_state(&old, t).expect("state loads");
        assert_eq!((o3.param_steps(0), o3.param_steps(1)), (4, 4));
    }

    #[test]
    fn clipping_bounds_the_global_norm() {
        let p = Tensor::from_slice(&[3.0f32, 4.0]).set_requires_grad(true);
        let o = Optimizer::new(
            OptimSpec::Sgd {
                lr: 0.1,
                momentum: 0.0,
                nesterov: false,
                weight_decay: 0.0,
            },
            vec![p.shallow_clone()],
        );
        (&p * &p).sum(Kind::Float).backward();
        let n = o.clip_grad_norm(1.0);
        assert!((n - 10.0).abs() < 1e-5);
        assert!((p.grad().norm().double_value(&[]) - 1.0).abs() < 1e-4);
    }

    #[test]
    fn cosine_schedule() {
        let s = Schedule::Cosine { eta_min: 0.001 };
        assert_eq!(s.lr(0.1, 0, 10), 0.1);
        assert!((s.lr(0.1, 5, 10) - 0.0505).abs() < 1e-12);
    }
}

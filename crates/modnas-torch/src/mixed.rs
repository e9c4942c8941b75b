//! Mixed operators: a choice among candidate operations, driven by architecture parameters.
//!
//! | kind | forward | method |
//! |---|---|---|
//! | `SoftmaxSum` | Σ softmax(α)ᵢ · opᵢ(x) | DARTS |
//! | `GumbelSum` | Σ softmax((α + g)/T)ᵢ · opᵢ(x), g Gumbel noise | SNAS |
//! | `BinaryGate` | one path sampled from softmax(α); binary-gate gradient on two sampled paths | ProxylessNAS-G |
//! | `BinaryGateUniform` | as `BinaryGate`, paths sampled uniformly | ProxylessNAS-GU |
//! | `Index` | the candidate chosen by a categorical parameter | SPOS, evolution, RL |
//!
//! The zero candidate (`NIL`) is never computed: its output is zero, so leaving it out of the sum
//! changes neither the output nor any gradient, and saves its memory.

use crate::ops::{Op, is_zero_name};
use modnas_core::param::TensorHandle;
use rand::RngExt;
use std::any::Any;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tch::{Kind, Tensor};

/// The kinds of mixed operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum MixKind {
    /// DARTS.
    SoftmaxSum,
    /// SNAS.
    GumbelSum,
    /// ProxylessNAS-G.
    BinaryGate,
    /// ProxylessNAS-GU.
    BinaryGateUniform,
    /// A categorical choice.
    Index,
}

impl MixKind {
    /// The registered name.
    pub fn name(&self) -> &'static str {
        match self {
            MixKind::SoftmaxSum => "SoftmaxSum",
            MixKind::GumbelSum => "GumbelSum",
            MixKind::BinaryGate => "BinaryGate",
            MixKind::BinaryGateUniform => "BinaryGateUniform",
            MixKind::Index => "Index",
        }
    }

    /// One line on what the kind does.
    pub fn summary(&self) -> &'static str {
        match self {
            MixKind::SoftmaxSum => "DARTS: sum of the candidates weighted by softmax(α)",
            MixKind::GumbelSum => {
                "SNAS: sum weighted by a Gumbel-softmax sample of α (temperature set by the optimizer)"
            }
            MixKind::BinaryGate => {
                "ProxylessNAS-G: one sampled path in the forward pass, binary-gate gradient over two sampled paths"
            }
            MixKind::BinaryGateUniform => {
                "ProxylessNAS-GU: like BinaryGate with the paths sampled uniformly (the pair and the active one)"
            }
            MixKind::Index => {
                "one candidate chosen by a categorical parameter (evolution, random search, SPOS)"
            }
        }
    }

    /// All kinds.
    pub const ALL: [MixKind; 5] = [
        MixKind::SoftmaxSum,
        MixKind::GumbelSum,
        MixKind::BinaryGate,
        MixKind::BinaryGateUniform,
        MixKind::Index,
    ];

    /// Parses a registered name (case, `-`, `_`, spaces and a `MixedOp` suffix ignored).
    pub fn parse(s: &str) -> Option<MixKind> {
        let n = modnas_core::registry::normalize(s);
        let n = n.strip_suffix("mixedop").unwrap_or(&n);
        MixKind::ALL
            .into_iter()
            .find(|k| modnas_core::registry::normalize(k.name()) == n)
    }

    /// Whether the kind learns a tensor α.
    pub fn has_alpha(&self) -> bool {
        !matches!(self, MixKind::Index)
    }
}

/// How binary-gate operators behave in the current step.
#[derive(Clone, Debug, PartialEq)]
pub enum GateMode {
    /// Weight training: one path per operator, sampled from the distribution.
    Sample,
    /// Architecture step: `n` paths sampled, binary-gate gradient to α.
    ArchGrad(usize),
    /// Evaluation of the most likely path.
    Argmax,
}

/// Settings shared by every mixed operator of a model, set by the optimizer.
#[derive(Debug)]
pub struct MixSettings {
    /// Gumbel-softmax temperature.
    pub temperature: f64,
    /// Binary-gate behaviour.
    pub gate_mode: GateMode,
    /// Uniform noise for Gumbel sampling, fixed (for gradient checks); `None`: fresh noise.
    pub fixed_uniform: bool,
    /// Random generator for path sampling.
    pub rng: modnas_core::seed::Rng,
    /// How weighted sums are computed (all on by default; switches for measurements).
    pub sum: SumOptions,
}

/// How mixed operators compute weighted sums of candidates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SumOptions {
    /// Leave out the zero operation (it adds nothing).
    pub skip_zero: bool,
    /// Compute the ReLU that several candidates start with once.
    pub share_relu: bool,
    /// Fold each candidate's weight into its final batch norm.
    pub fold_weight: bool,
}

impl Default for SumOptions {
    fn default() -> Self {
        SumOptions {
            skip_zero: true,
            share_relu: true,
            fold_weight: true,
        }
    }
}

/// Handle on the shared settings.
#[derive(Clone, Debug)]
pub struct MixControl(pub Arc<Mutex<MixSettings>>);

impl MixControl {
    /// Settings seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        MixControl(Arc::new(Mutex::new(MixSettings {
            temperature: 1.0,
            gate_mode: GateMode::Sample,
            fixed_uniform: false,
            rng: modnas_core::seed::rng_from_seed(seed),
            sum: SumOptions::default(),
        })))
    }

    /// Runs `f` on the settings.
    pub fn with<R>(&self, f: impl FnOnce(&mut MixSettings) -> R) -> R {
        let mut g = self.0.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut g)
    }
}

/// α, shared between the operators that use it, exposed to the parameter space.
#[derive(Debug)]
pub struct AlphaHandle(pub Mutex<Tensor>);

impl TensorHandle for AlphaHandle {
    fn shape(&self) -> Vec<usize> {
        self.0
            .lock()
            .map(|t| t.size().iter().map(|&d| d as usize).collect())
            .unwrap_or_default()
    }
    fn values(&self) -> Vec<f64> {
        self.0
            .lock()
            .map(|t| {
                Vec::<f64>::try_from(t.to_kind(Kind::Double).flatten(0, -1)).unwrap_or_default()
            })
            .unwrap_or_default()
    }
    fn set_values(&self, values: &[f64]) -> Result<(), String> {
        let t = self.0.lock().map_err(|e| e.to_string())?;
        if values.len() as i64 != t.numel() as i64 {
            return Err(format!(
                "expected {} values, got {}",
                t.numel(),
                values.len()
            ));
        }
        tch::no_grad(|| {
            let src = Tensor::from_slice(values)
                .to_kind(t.kind())
                .view(t.size().as_slice());
            t.shallow_clone().copy_(&src);
        });
        Ok(())
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// A mixed operator.
#[derive(Debug)]
pub struct MixedOp {
    kind: MixKind,
    names: Vec<String>,
    ops: Vec<Box<dyn Op>>,
    alpha: Option<Tensor>,
    alpha_name: String,
    index: Arc<AtomicUsize>,
    control: MixControl,
    /// Paths used by the current or last forward pass (binary gates, REINFORCE).
    sampled: Mutex<Vec<usize>>,
}

impl MixedOp {
    /// A mixed operator over `candidates`. `alpha` is required for every kind but `Index`, whose
    /// choice is `index`.
    pub fn new(
        kind: MixKind,
        candidates: Vec<(String, Box<dyn Op>)>,
        alpha: Option<Tensor>,
        alpha_name: &str,
        index: Arc<AtomicUsize>,
        control: MixControl,
    ) -> MixedOp {
        let (names, ops) = candidates.into_iter().unzip();
        MixedOp {
            kind,
            names,
            ops,
            alpha,
            alpha_name: alpha_name.to_string(),
            index,
            control,
            sampled: Mutex::new(Vec::new()),
        }
    }

    /// The kind.
    pub fn kind(&self) -> MixKind {
        self.kind
    }

    /// Candidate names.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The candidates.
    pub fn candidates(&self) -> &[Box<dyn Op>] {
        &self.ops
    }

    /// α (none for `Index`).
    pub fn alpha(&self) -> Option<&Tensor> {
        self.alpha.as_ref()
    }

    /// Name of the architecture parameter (α or the categorical).
    pub fn param_name(&self) -> &str {
        &self.alpha_name
    }

    /// The categorical choice (for `Index`).
    pub fn index(&self) -> usize {
        self.index.load(Ordering::SeqCst)
    }

    /// Paths used by the last forward pass of the model (empty when this operator did not run in
    /// it: [`crate::model::Model::forward`] clears them first).
    pub fn sampled(&self) -> Vec<usize> {
        self.sampled.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Forgets the paths of earlier passes.
    pub fn clear_sampled(&self) {
        self.set_sampled(Vec::new());
    }

    /// Probabilities of the candidates: softmax(α), or one-hot for `Index`.
    pub fn probs(&self) -> Vec<f64> {
        match &self.alpha {
            Some(a) => tch::no_grad(|| {
                Vec::<f64>::try_from(a.softmax(0, Kind::Double)).unwrap_or_default()
            }),
            None => (0..self.names.len())
                .map(|i| if i == self.index() { 1.0 } else { 0.0 })
                .collect(),
        }
    }

    /// Index of the most probable candidate (the chosen one for `Index`), optionally excluding the
    /// zero operation.
    pub fn best(&self, exclude_zero: bool) -> usize {
        let p = self.probs();
        (0..p.len())
            .filter(|&i| !(exclude_zero && is_zero_name(&self.names[i])))
            .max_by(|&a, &b| p[a].total_cmp(&p[b]).then(b.cmp(&a)))
            .unwrap_or(0)
    }

    /// The `k` most probable candidate names (the chosen name for `Index`).
    pub fn top_k(&self, k: usize) -> Vec<String> {
        let p = self.probs();
        let mut idx: Vec<usize> = (0..p.len()).collect();
        idx.sort_by(|&a, &b| p[b].total_cmp(&p[a]).then(a.cmp(&b)));
        idx.into_iter()
            .take(k.max(1))
            .map(|i| self.names[i].clone())
            .collect()
    }

    /// Σ wᵢ·opᵢ(x) over `paths` (indices into the candidates, with their weight indices), the
    /// zero operation skipped, the ReLU that several candidates begin with computed once.
    fn sum_paths(
        &self,
        x: &Tensor,
        w: &Tensor,
        paths: &[(usize, i64)],
        train: bool,
    ) -> Option<Tensor> {
        let o = self.control.with(|s| s.sum);
        let live: Vec<(usize, i64)> = paths
            .iter()
            .copied()
            .filter(|&(i, _)| !o.skip_zero || !is_zero_name(&self.names[i]))
            .collect();
        let shared = o.share_relu
            && live
                .iter()
                .filter(|&&(i, _)| self.ops[i].leading_relu())
                .count()
                >= 2;
        let xr = shared.then(|| x.relu());
        let mut out: Option<Tensor> = None;
        for (i, k) in live {
            let op = &self.ops[i];
            let after_relu = xr.is_some() && op.leading_relu();
            let input = match &xr {
                Some(xr) if after_relu => xr,
                _ => x,
            };
            let wk = w.get(k);
            // The weight folds into a final batch norm where there is one.
            let folded = if o.fold_weight {
                op.forward_scaled(input, train, &wk, after_relu)
            } else {
                None
            };
            let y = match folded {
                Some(y) => y,
                None if after_relu => op.forward_after_relu(input, train) * wk,
                None => op.forward_t(input, train) * wk,
            };
            out = Some(match out {
                Some(o) => o + y,
                None => y,
            });
        }
        out
    }

    fn weighted_sum(&self, x: &Tensor, w: &Tensor, train: bool) -> Tensor {
        let paths: Vec<(usize, i64)> = (0..self.ops.len()).map(|i| (i, i as i64)).collect();
        let out = self.sum_paths(x, w, &paths, train);
        out.unwrap_or_else(|| {
            let z = self.zero_index().map(|i| self.ops[i].forward_t(x, train));
            z.unwrap_or_else(|| x.zeros_like())
        })
    }

    fn zero_index(&self) -> Option<usize> {
        self.names.iter().position(|n| is_zero_name(n))
    }

    fn set_sampled(&self, s: Vec<usize>) {
        if let Ok(mut g) = self.sampled.lock() {
            *g = s;
        }
    }

    fn sample_from(&self, probs: &[f64], uniform: bool, rng: &mut modnas_core::seed::Rng) -> usize {
        if uniform {
            return rng.random_range(0..probs.len());
        }
        let u: f64 = rng.random();
        let mut acc = 0.0;
        for (i, p) in probs.iter().enumerate() {
            acc += p;
            if u < acc {
                return i;
            }
        }
        probs.len() - 1
    }

    fn forward_gate(&self, x: &Tensor, train: bool, alpha: &Tensor) -> Tensor {
        let uniform = self.kind == MixKind::BinaryGateUniform;
        let probs = self.probs();
        let mode = self.control.with(|s| s.gate_mode.clone());
        let mode = if train { mode } else { GateMode::Argmax };
        match mode {
            GateMode::Argmax => {
                let j = self.best(false);
                self.set_sampled(vec![j]);
                self.ops[j].forward_t(x, train)
            }
            GateMode::Sample => {
                let j = self
                    .control
                    .with(|s| self.sample_from(&probs, uniform, &mut s.rng));
                self.set_sampled(vec![j]);
                self.ops[j].forward_t(x, train)
            }
            GateMode::ArchGrad(n) => {
                let n = n.clamp(1, self.ops.len());
                // Draw n distinct paths (from the distribution, or uniformly), then one active path
                // among them (likewise); the gates carry the gradient of the restricted softmax to α.
                let chosen: Vec<usize> = self.control.with(|s| {
                    let mut left: Vec<usize> = (0..self.ops.len()).collect();
                    let mut out = Vec::with_capacity(n);
                    while out.len() < n {
                        let p: Vec<f64> = if uniform {
                            vec![1.0 / left.len() as f64; left.len()]
                        } else {
                            let tot: f64 = left.iter().map(|&i| probs[i]).sum();
                            left.iter().map(|&i| probs[i] / tot.max(1e-300)).collect()
                        };
                        let k = self.sample_from(&p, false, &mut s.rng);
                        out.push(left.remove(k));
                    }
                    out
                });
                let idx = Tensor::from_slice(&chosen.iter().map(|&i| i as i64).collect::<Vec<_>>())
                    .to_device(alpha.device());
                let p_s = alpha.index_select(0, &idx).softmax(0, alpha.kind());
                let p_vals: Vec<f64> = tch::no_grad(|| {
                    Vec::<f64>::try_from(p_s.to_kind(Kind::Double)).unwrap_or_default()
                });
                // The active path: from the pair's restricted softmax, or uniformly for `-GU` (whose
                // gates keep the softmax for the gradient).
                let active = self
                    .control
                    .with(|s| self.sample_from(&p_vals, uniform, &mut s.rng));
                self.set_sampled(chosen.clone());
                let one_hot = Tensor::zeros([n as i64], (alpha.kind(), alpha.device()));
                let _ = one_hot.get(active as i64).fill_(1.0);
                let gates = one_hot + &p_s - p_s.detach();
                let paths: Vec<(usize, i64)> = chosen
                    .iter()
                    .enumerate()
                    .map(|(k, &i)| (i, k as i64))
                    .collect();
                match self.sum_paths(x, &gates, &paths, train) {
                    Some(o) => o,
                    None => self.ops[chosen[0]].forward_t(x, train) * gates.get(0),
                }
            }
        }
    }
}

/// Gumbel noise `−log(−log U)` for uniform `u`.
pub fn gumbel(u: &Tensor) -> Tensor {
    -(-(u.clamp(1e-20, 1.0)).log()).clamp_min(1e-20).log()
}

impl MixedOp {
    /// The counting pass (see [`crate::metrics`]): every candidate of non-zero probability, under
    /// its probability.
    fn forward_counting(&self, x: &Tensor) -> Tensor {
        let w = match (&self.alpha, self.kind) {
            (Some(a), k) if k != MixKind::Index => a.softmax(0, a.kind()),
            _ => {
                let t = Tensor::zeros([self.ops.len() as i64], (x.kind(), x.device()));
                let _ = t
                    .get(self.index().min(self.ops.len() - 1) as i64)
                    .fill_(1.0);
                t
            }
        };
        let mut out: Option<Tensor> = None;
        for (i, op) in self.ops.iter().enumerate() {
            let wi = w.get(i as i64);
            if tch::no_grad(|| wi.double_value(&[])) == 0.0 {
                continue;
            }
            let y = crate::counter::with_weight(&wi, || op.forward_t(x, false));
            if out.is_none() && !is_zero_name(&self.names[i]) {
                out = Some(y);
            }
        }
        out.unwrap_or_else(|| self.ops[0].forward_t(x, false))
    }
}

impl Op for MixedOp {
    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        if crate::counter::counting() {
            return self.forward_counting(x);
        }
        match (self.kind, &self.alpha) {
            (MixKind::Index, _) | (_, None) => {
                let i = self.index().min(self.ops.len() - 1);
                self.set_sampled(vec![i]);
                self.ops[i].forward_t(x, train)
            }
            (MixKind::SoftmaxSum, Some(a)) => self.weighted_sum(x, &a.softmax(0, a.kind()), train),
            (MixKind::GumbelSum, Some(a)) => {
                if !train {
                    return self.weighted_sum(x, &a.softmax(0, a.kind()), train);
                }
                let (t, fixed) = self.control.with(|s| (s.temperature, s.fixed_uniform));
                let u = if fixed {
                    // Deterministic noise for gradient checks.
                    Tensor::linspace(0.2, 0.8, a.numel() as i64, (a.kind(), a.device()))
                } else {
                    Tensor::rand([a.numel() as i64], (a.kind(), a.device()))
                };
                let w = ((a + gumbel(&u)) / t).softmax(0, a.kind());
                self.weighted_sum(x, &w, train)
            }
            (MixKind::BinaryGate | MixKind::BinaryGateUniform, Some(a)) => {
                self.forward_gate(x, train, a)
            }
        }
    }
    fn op_name(&self) -> String {
        self.names
            .get(self.best(false))
            .cloned()
            .unwrap_or_default()
    }
    fn children(&self, f: &mut dyn FnMut(&dyn Op)) {
        for op in &self.ops {
            f(op.as_ref());
        }
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

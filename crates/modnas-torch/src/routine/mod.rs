//! Searches and final training on the tensor layer, from a configuration:
//!
//! ```yaml
//! model: {type: DARTS, args: {chn_in: 1, chn: 8, layers: 5, image_size: 28}}
//! data: {dataset: fashion_mnist, train_size: 10000, valid_size: 10000}
//! trainer: {optimizer: {sgd: {lr: 0.025, momentum: 0.9, weight_decay: 3.0e-4}}}
//! optim: DARTS                      # SNAS, ProxylessNAS-G, ProxylessNAS-GU, REINFORCE
//! estim: {search: {type: SuperNet, args: {epochs: 10}}}
//! ```
//!
//! The mixed operator follows the optimizer (`SoftmaxSum` for DARTS, `GumbelSum` for SNAS, binary
//! gates for ProxylessNAS and REINFORCE) unless `mixed_op:` names one, so switching method is one
//! line. Every epoch is recorded in the journal with its metrics and derived architecture, and
//! checkpointed, so a rerun resumes after the last finished epoch.

pub mod checkpoint;
pub mod estim;

use crate::backbones::Backbone;
use crate::data::{DataArgs, Loader, Splits, load_splits};
use crate::grad::{self, ArchContext, ArchOptimizer};
use crate::mixed::MixKind;
use crate::model::{ArchDesc, Conversion, Model, ModelOptions};
use crate::ops::OpStyle;
use crate::setup::NetworkSetup;
use crate::train::{TrainArgs, weight_optimizer};
use estim::{BatchProgress, EpochResult, EstimCtx, EstimRun, TorchEstim};
use modnas_core::config::{ComponentSpec, ConfigError, Fields, Node, NodeKind, from_node};
use modnas_core::journal::Journal;
use modnas_core::objective::Metrics;
use modnas_core::param::Assignment;
use modnas_core::seed::derive_seed;
use modnas_core::trial::{Evaluation, NewTrial, Outcome, Trial};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use tch::{Device, Tensor};

/// Top-level keys of a tensor-layer configuration.
pub const KEYS: &[&str] = &[
    "name",
    "seed",
    "model",
    "init_from",
    "macs_penalty",
    "mixed_op",
    "candidates",
    "ops",
    "arch_desc",
    "data",
    "trainer",
    "optim",
    "estim",
    "device",
    "threads",
    "journal",
    "report",
];

/// A configured search or training run.
pub struct TorchPlan {
    /// Run name.
    pub name: String,
    /// Run seed.
    pub seed: u64,
    /// The backbone.
    pub backbone: Box<dyn Backbone>,
    /// How slots become modules.
    pub conversion: Conversion,
    /// The primitive style.
    pub style: OpStyle,
    /// Data settings.
    pub data: DataArgs,
    /// Directory that relative data paths are resolved against.
    pub data_base: PathBuf,
    /// Training settings.
    pub train: TrainArgs,
    /// The architecture optimizer, built once the model exists.
    pub optim: Option<ComponentSpec>,
    /// Estimators, in order.
    pub estims: Vec<(String, Box<dyn TorchEstim>)>,
    /// Device.
    pub device: Device,
    /// What defines the run (compared when resuming).
    pub identity: serde_json::Value,
    /// The resolved configuration.
    pub resolved: serde_json::Value,
    /// Top-level `journal:` node, for the caller.
    pub journal: Option<Node>,
    /// Whether to write the report.
    pub report: bool,
    /// Weight of the expected MACs (per million) in the architecture loss.
    pub macs_penalty: f64,
    /// Weights to start from (`init_from:`, a `weights.ot` or a checkpoint directory): every
    /// variable of the same name is loaded, whole or as the leading slice of a larger one, so a
    /// derived network (also a narrow subnet of an elastic supernet) starts from its supernet.
    pub init_from: Option<PathBuf>,
}

/// Whether a configuration is for the tensor layer (it has a `model:`).
pub fn is_torch_config(root: &Node) -> bool {
    root.get("model").is_some()
}

/// Reads an architecture description: a YAML/JSON file holding a map of slot → operation, or a
/// `best.yaml` whose `arch:` (a gradient-based search) or `params:` (a discrete search over the
/// network's slots) holds it.
pub fn load_arch_desc(path: &Path) -> Result<ArchDesc, ConfigError> {
    let node = modnas_core::config::yaml::load_file(path)?;
    let map = node
        .get("arch")
        .or_else(|| node.get("params"))
        .unwrap_or(&node);
    match map.to_json() {
        serde_json::Value::Object(m) if !m.is_empty() => Ok(m),
        _ => Err(ConfigError::at(
            map,
            "arch",
            "expected a map from slots to operations (or a best.yaml with an `arch:` map)",
        )),
    }
}

/// Builds a plan. `arch` (from `--arch`) makes it a final training of that architecture.
pub fn build(
    root: &Node,
    default_name: &str,
    cli_name: Option<&str>,
    seed: Option<u64>,
    stored_seed: Option<u64>,
    arch: Option<ArchDesc>,
) -> Result<TorchPlan, ConfigError> {
    build_with(root, default_name, cli_name, seed, stored_seed, arch, None)
}

/// [`build`] with the network given (a user's own, see [`crate::backbones::from_fn`]) instead of by
/// `model:`.
pub fn build_with(
    root: &Node,
    default_name: &str,
    cli_name: Option<&str>,
    seed: Option<u64>,
    stored_seed: Option<u64>,
    arch: Option<ArchDesc>,
    network: Option<Box<dyn Backbone>>,
) -> Result<TorchPlan, ConfigError> {
    let mut f = Fields::new(root, "")?;
    let cfg_name: Option<String> = f.opt("name")?;
    let cfg_seed: Option<u64> = f.opt("seed")?;
    let net = NetworkSetup::read(&mut f, root, network)?;
    let mixed_node = f.raw("mixed_op");
    let arch_desc_node = f.raw("arch_desc");
    let optim_node = f.raw("optim");
    let estim_node = f.raw("estim");
    let journal = f.raw("journal").cloned();
    let report: bool = f.opt("report")?.unwrap_or(true);
    let macs_penalty: f64 = f.opt("macs_penalty")?.unwrap_or(0.0);
    if !(macs_penalty >= 0.0 && macs_penalty.is_finite()) {
        return Err(ConfigError::at(
            root.get("macs_penalty").unwrap_or(root),
            "macs_penalty",
            "`macs_penalty` must be a finite number ≥ 0 (per million MACs)",
        ));
    }
    f.finish()?;
    let name = cli_name
        .map(str::to_string)
        .or(cfg_name)
        .unwrap_or_else(|| default_name.to_string());
    let seed = seed.or(cfg_seed).or(stored_seed).unwrap_or(0);
    let NetworkSetup {
        backbone,
        model: model_json,
        candidates,
        style,
        data,
        data_base,
        train,
        device,
        init_from,
    } = net;

    // A fixed architecture from --arch or `arch_desc:`, else a search space.
    let arch = match (arch, arch_desc_node) {
        (Some(a), _) => Some(a),
        (None, Some(n)) => Some(match &n.kind {
            NodeKind::Str(p) => load_arch_desc(&n.span.base_dir().join(p))?,
            NodeKind::Map(_) => match n.to_json() {
                serde_json::Value::Object(m) => m,
                _ => ArchDesc::new(),
            },
            _ => {
                return Err(ConfigError::at(
                    n,
                    "arch_desc",
                    "expected a file name or a map from slots to operations",
                ));
            }
        }),
        (None, None) => None,
    };
    let optim = match optim_node {
        Some(n) => Some(ComponentSpec::parse(n, "optim")?),
        None => None,
    };
    let conversion = match arch {
        Some(a) => Conversion::Fixed(a),
        None => {
            let kind = match mixed_node {
                Some(n) => {
                    let s: String = from_node(n, "mixed_op")?;
                    MixKind::parse(&s).ok_or_else(|| {
                        let names: Vec<&str> = MixKind::ALL.iter().map(|k| k.name()).collect();
                        ConfigError::unknown_name("mixed operator", &s, &names, &names)
                            .located(&n.span, "mixed_op")
                    })?
                }
                None => match &optim {
                    Some(o) => grad::preferred_mixed_op(&o.name).unwrap_or(MixKind::SoftmaxSum),
                    None => MixKind::Index,
                },
            };
            Conversion::Mixed {
                kind,
                candidates: candidates.clone(),
            }
        }
    };
    let mut estims: Vec<(String, Box<dyn TorchEstim>)> = Vec::new();
    let reg = estim::registry();
    match estim_node {
        None => estims.push((
            "train".into(),
            Box::new(estim::DefaultEstim(Default::default())),
        )),
        Some(n) => match &n.kind {
            NodeKind::Map(entries) if !entries.iter().any(|(k, _)| k.name == "type") => {
                for (k, v) in entries {
                    let spec = ComponentSpec::parse(v, &format!("estim.{}", k.name))?;
                    estims.push((k.name.clone(), reg.build(&spec, &EstimCtx)?));
                }
            }
            _ => {
                let spec = ComponentSpec::parse(n, "estim")?;
                estims.push(("estim".into(), reg.build(&spec, &EstimCtx)?));
            }
        },
    }
    if estims.is_empty() {
        return Err(ConfigError::at(
            estim_node.unwrap_or(root),
            "estim",
            "give at least one estimator",
        ));
    }
    let searching = matches!(conversion, Conversion::Mixed { .. });
    if searching
        && optim.is_none()
        && estim_node.is_some_and(|n| n.to_json().to_string().to_lowercase().contains("supernet"))
    {
        return Err(ConfigError::at(
            root,
            "",
            "the SuperNet estimator needs an architecture optimizer: add `optim:` (DARTS, SNAS, ProxylessNAS-G, ProxylessNAS-GU, REINFORCE)",
        ));
    }
    let identity = serde_json::json!({
        "seed": seed,
        "model": model_json,
        "conversion": match &conversion { Conversion::Fixed(a) => serde_json::json!({"fixed": a}), Conversion::Mixed { kind, candidates } => serde_json::json!({"mixed": kind.name(), "candidates": candidates}) },
        "ops": serde_json::to_value(style).unwrap_or_default(),
        "data": serde_json::to_value(&data).unwrap_or_default(),
        "trainer": serde_json::to_value(&train).unwrap_or_default(),
        "optim": optim.as_ref().map(|o| serde_json::json!({"type": o.name, "args": o.args.to_json()})),
        "estim": estim_node.map(Node::to_json),
        "init_from": init_from.as_ref().map(|p| p.display().to_string()),
        "macs_penalty": macs_penalty,
        "objectives": [{"metric": "val_acc", "direction": "max"}],
    });
    let mut resolved = root.to_json();
    if let Some(m) = resolved.as_object_mut() {
        m.insert("name".into(), serde_json::json!(name));
        m.insert("seed".into(), serde_json::json!(seed));
    }
    Ok(TorchPlan {
        name,
        seed,
        backbone,
        conversion,
        style,
        data,
        data_base,
        train,
        optim,
        estims,
        device,
        identity,
        resolved,
        journal,
        report,
        init_from,
        macs_penalty,
    })
}

/// The (empty) parameter space of a tensor-layer run's journal: its records are epochs.
pub fn journal_space() -> modnas_core::param::ParamSpace {
    modnas_core::param::ParamSpace::new()
}

/// A uniformly random architecture of the plan's search space: α drawn from a standard normal
/// distribution with `seed`, then exported as a search's result would be (each slot's most likely
/// candidate; for DAG cells the edges of the largest non-zero weights, a uniform choice too).
/// The baseline every search should beat.
pub fn random_arch(plan: &TorchPlan, seed: u64) -> Result<ArchDesc, String> {
    let candidates = match &plan.conversion {
        Conversion::Mixed { candidates, .. } => candidates.clone(),
        Conversion::Fixed(_) => {
            return Err(
                "a random architecture needs a search space, not a fixed architecture".into(),
            );
        }
    };
    let model = Model::build(
        plan.backbone.as_ref(),
        &ModelOptions {
            conversion: Conversion::Mixed {
                kind: MixKind::SoftmaxSum,
                candidates,
            },
            style: plan.style,
            seed,
            device: Device::Cpu,
        },
    )
    .map_err(|e| e.to_string())?;
    let mut rng = modnas_core::seed::rng_from_seed(derive_seed(seed, "random-arch", 0));
    tch::no_grad(|| {
        for a in model.alphas() {
            let n = a.numel();
            // Standard normal draws (Box–Muller).
            let v: Vec<f32> = (0..n)
                .map(|_| {
                    use rand::RngExt;
                    let (u, w): (f64, f64) = (rng.random::<f64>().max(1e-300), rng.random());
                    ((-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * w).cos()) as f32
                })
                .collect();
            a.shallow_clone()
                .copy_(&Tensor::from_slice(&v).view(a.size().as_slice()));
        }
    });
    Ok(model.export())
}

/// What a run produced.
#[derive(Debug)]
pub struct TorchOutcome {
    /// Every epoch, as journal trials.
    pub trials: Vec<Trial>,
    /// The (derived) architecture at the end.
    pub arch: ArchDesc,
    /// Metrics of the last epoch.
    pub last: Metrics,
    /// Test metrics, when a test set was evaluated.
    pub test: Option<Metrics>,
    /// Whether the run was interrupted.
    pub interrupted: bool,
    /// Number of weight parameters of the model.
    pub n_params: i64,
}

impl TorchOutcome {
    /// Epochs recorded as finished (the journal may also hold records of epochs that a crash
    /// interrupted and that ran again).
    pub fn epochs_done(&self) -> usize {
        count_done(&self.trials)
    }
}

fn count_done(trials: &[Trial]) -> usize {
    trials
        .iter()
        .filter(|t| t.state == modnas_core::trial::TrialState::Complete)
        .count()
}

fn metrics_of(r: &EpochResult, epoch: usize) -> Metrics {
    let mut m = Metrics::new();
    m.insert("epoch".into(), epoch as f64);
    m.insert("train_loss".into(), r.train.loss);
    m.insert("train_acc".into(), 100.0 * r.train.acc1);
    m.insert("val_loss".into(), r.valid.loss);
    m.insert("val_acc".into(), 100.0 * r.valid.acc1);
    m.insert("val_acc5".into(), 100.0 * r.valid.acc5);
    m.insert("epoch_seconds".into(), r.seconds);
    if let Some(t) = &r.test {
        m.insert("test_loss".into(), t.loss);
        m.insert("test_acc".into(), 100.0 * t.acc1);
        m.insert("test_acc5".into(), 100.0 * t.acc5);
    }
    m
}

/// Searches a user's network (see [`crate::backbones::from_fn`]) with settings written as a
/// configuration file would be, without `model:` (a `search:` section applies), keeping the
/// epochs in memory. Progress goes to the log.
///
/// ```no_run
/// # fn net() -> Box<dyn modnas_torch::backbones::Backbone> { unimplemented!() }
/// let out = modnas_torch::routine::search(net(), "optim: DARTS\ncandidates: [NC3, NC5, NC7]")?;
/// println!("{:?}", out.arch);
/// # Ok::<(), String>(())
/// ```
pub fn search(network: Box<dyn Backbone>, yaml: &str) -> Result<TorchOutcome, String> {
    use modnas_core::config;
    let mut root = config::yaml::parse_str("settings", yaml).map_err(|e| e.to_string())?;
    config::apply_routine(&mut root, "search", config::ROUTINES);
    config::apply_defaults(&mut root).map_err(|e| e.to_string())?;
    let mut plan = build_with(&root, "search", None, None, None, None, Some(network))
        .map_err(|e| e.to_string())?;
    let mut journal = modnas_core::journal::MemoryJournal::new();
    let meta = modnas_core::journal::RunMeta {
        name: plan.name.clone(),
        seed: plan.seed,
        config: plan.identity.clone(),
        space: serde_json::json!([]),
    };
    journal.open(&meta).map_err(|e| e.to_string())?;
    let stop = AtomicBool::new(false);
    let mut log = |estim: &str, epoch: usize, epochs: usize, m: &Metrics| {
        tracing::info!(
            "[{estim}] epoch {}/{epochs}: val_acc {:.2}",
            epoch + 1,
            m.get("val_acc").copied().unwrap_or(f64::NAN)
        );
    };
    run(
        &mut plan,
        &mut journal,
        RunOpts {
            run_dir: None,
            interrupt: &stop,
            on_epoch: &mut log,
            on_batch: &mut |_| {},
        },
    )
}

/// Options of [`run`].
pub struct RunOpts<'a> {
    /// The run directory (checkpoints go to `checkpoints/`).
    pub run_dir: Option<&'a Path>,
    /// Set on Ctrl-C.
    pub interrupt: &'a AtomicBool,
    /// Called after every epoch with (estimator, epoch, epochs, metrics).
    pub on_epoch: &'a mut dyn FnMut(&str, usize, usize, &Metrics),
    /// Called after every training batch (progress within an epoch).
    pub on_batch: &'a mut dyn FnMut(&BatchProgress<'_>),
}

/// Runs the plan: builds the model, loads the data, runs the estimators epoch by epoch, recording
/// each epoch in `journal` (resuming after the last recorded one).
pub fn run(
    plan: &mut TorchPlan,
    journal: &mut dyn Journal,
    o: RunOpts<'_>,
) -> Result<TorchOutcome, String> {
    let mut model = Model::build(
        plan.backbone.as_ref(),
        &ModelOptions {
            conversion: plan.conversion.clone(),
            style: plan.style,
            seed: plan.seed,
            device: plan.device,
        },
    )
    .map_err(|e| e.to_string())?;
    let splits: Splits =
        load_splits(&plan.data, &plan.data_base, plan.seed).map_err(|e| e.to_string())?;
    tracing::info!(
        "{}",
        splits.describe(
            &serde_json::to_value(plan.data.dataset)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default()
        )
    );
    tracing::info!(
        "model: {} weights{}, {} slots",
        model.n_params(),
        if model.alphas().is_empty() {
            String::new()
        } else {
            format!(
                ", {} architecture parameters",
                model.alphas().iter().map(|a| a.numel()).sum::<usize>()
            )
        },
        model.slots.len()
    );
    let shape = plan.backbone.input_shape();
    if splits.shape != shape {
        return Err(format!(
            "the data has images of shape {:?} but the model `{}` expects {:?}; set the model's `chn_in`/`image_size` to match",
            splits.shape, plan.name, shape
        ));
    }
    let mut optim: Option<Box<dyn ArchOptimizer>> = match (&plan.optim, &plan.conversion) {
        (Some(spec), Conversion::Mixed { kind, .. }) => {
            let o = grad::registry()
                .build(
                    spec,
                    &ArchContext {
                        alphas: model.alphas(),
                        seed: derive_seed(plan.seed, "arch", 0),
                    },
                )
                .map_err(|e| e.to_string())?;
            if o.mixed_op() != *kind {
                return Err(format!(
                    "the optimizer `{}` works with `{}` mixed operators, not `{}`: remove `mixed_op:` or set it to `{}`",
                    spec.name,
                    o.mixed_op().name(),
                    kind.name(),
                    o.mixed_op().name()
                ));
            }
            if kind.has_alpha() && model.alphas().is_empty() {
                return Err(
                    "the model has no architecture parameters: no slot has more than one candidate"
                        .into(),
                );
            }
            Some(o)
        }
        _ => None,
    };
    model.macs_penalty = plan.macs_penalty;
    if let Some(p) = &plan.init_from {
        let file = checkpoint::weights_file(p);
        let r = crate::elastic::inherit_from_file(&model.vs, &file)
            .map_err(|e| format!("init_from {}: {e}", file.display()))?;
        let total = model.vs.variables().len();
        tracing::info!(
            "initialised {} of {total} variables from {} ({} as leading slices of larger ones)",
            r.whole + r.sliced,
            file.display(),
            r.sliced
        );
    }
    let mut weights = weight_optimizer(&model, &plan.train);
    // Epoch records carry no parameters: the architecture lives in their `attrs`.
    let space = journal_space();
    let (mut trials, _) = journal.trials(&space).map_err(|e| e.to_string())?;
    // Epochs already recorded (a resumed run continues after them, from the checkpoint).
    let done_total = count_done(&trials);
    journal.reap().map_err(|e| e.to_string())?;
    // An epoch record left unfinished by a crash between its creation and its result: that epoch
    // runs again, so the stale record is closed (else it would be claimed in place of the next).
    while let Some(t) = journal.claim(&space, "torch").map_err(|e| e.to_string())? {
        journal
            .finish(
                t.number,
                "torch",
                &Outcome::Failed(
                    "the process stopped while this epoch was being recorded; the epoch ran again"
                        .into(),
                ),
            )
            .map_err(|e| e.to_string())?;
        journal
            .mark_told(&[t.number], "")
            .map_err(|e| e.to_string())?;
    }
    let ckpt_dir = o.run_dir.map(|d| d.join("checkpoints"));
    if done_total > 0 {
        let dir = ckpt_dir
            .as_ref()
            .ok_or("cannot resume without a run directory")?;
        checkpoint::load(
            dir,
            &mut model,
            &mut weights,
            optim.as_deref_mut(),
            done_total,
        )
        .map_err(|e| format!("cannot resume from {}: {e}", dir.display()))?;
        tracing::info!("resuming after {done_total} recorded epochs");
    }
    let mut last = Metrics::new();
    let mut test = None;
    let mut global = 0usize;
    let mut interrupted = false;
    'outer: for (ei, (ename, est)) in plan.estims.iter_mut().enumerate() {
        let epochs = est.epochs();
        for epoch in 0..epochs {
            if global < done_total {
                global += 1;
                continue;
            }
            if o.interrupt.load(Ordering::SeqCst) {
                interrupted = true;
                break 'outer;
            }
            // Every epoch is seeded from (run, estimator, epoch): a resumed run draws the same batches.
            let es = derive_seed(plan.seed, ename, epoch as u64);
            tch::manual_seed(es as i64);
            model.control.with(|s| {
                s.rng = modnas_core::seed::rng_from_seed(derive_seed(es, "mixed", ei as u64))
            });
            let b = plan.data.batch_size;
            let mut train_loader = Loader::new(
                &splits.train,
                &splits.mean,
                &splits.std,
                b,
                true,
                plan.data.augment,
                derive_seed(es, "train", 0),
                plan.device,
            );
            let mut valid_loader = Loader::new(
                &splits.valid,
                &splits.mean,
                &splits.std,
                b,
                true,
                Default::default(),
                derive_seed(es, "valid", 0),
                plan.device,
            );
            let mut test_loader = splits.test.as_ref().map(|t| {
                Loader::new(
                    t,
                    &splits.mean,
                    &splits.std,
                    b,
                    false,
                    Default::default(),
                    0,
                    plan.device,
                )
            });
            let mut r = EstimRun {
                model: &mut model,
                optim: optim.as_deref_mut(),
                weights: &mut weights,
                train: &plan.train,
                train_loader: &mut train_loader,
                valid_loader: &mut valid_loader,
                test_loader: test_loader.as_mut(),
                interrupt: o.interrupt,
                on_batch: &mut |b: usize, batches: usize, images: usize| {
                    (o.on_batch)(&BatchProgress {
                        estim: ename,
                        epoch,
                        epochs,
                        batch: b,
                        batches,
                        images,
                    })
                },
            };
            let result = est.run_epoch(&mut r, epoch)?;
            if result.interrupted {
                // The unfinished epoch is not recorded: a rerun starts it again.
                interrupted = true;
                break 'outer;
            }
            let mut metrics = metrics_of(&result, epoch);
            // Expected size and cost of the architecture (exact for a fixed one), in millions.
            let (counts, _) = crate::metrics::count(&model, shape);
            metrics.insert("params_m".into(), counts.params / 1e6);
            metrics.insert("macs_m".into(), counts.macs / 1e6);
            let arch = model.export();
            // The checkpoint is on disk before the journal records the epoch (see `checkpoint`).
            if let Some(d) = &ckpt_dir {
                checkpoint::save(d, &model, &weights, optim.as_deref_mut(), global + 1)?;
            }
            let nt = NewTrial {
                params: Assignment(vec![]),
                seed: es,
            };
            journal
                .create(&space, &[nt], "")
                .map_err(|e| e.to_string())?;
            checkpoint::crash_point("epoch-created", global + 1);
            let t = journal
                .claim(&space, "torch")
                .map_err(|e| e.to_string())?
                .ok_or("journal lost the epoch record")?;
            let ev = Evaluation {
                metrics: metrics.clone(),
                cost: None,
                attrs: serde_json::json!({"estimator": ename, "epoch": epoch, "arch": arch}),
            };
            journal
                .finish(t.number, "torch", &Outcome::Complete(ev))
                .map_err(|e| e.to_string())?;
            journal
                .mark_told(&[t.number], "")
                .map_err(|e| e.to_string())?;
            global += 1;
            checkpoint::crash_point("epoch-committed", global);
            if let Some(d) = &ckpt_dir {
                checkpoint::prune(d, global)?;
            }
            if result.test.is_some() {
                test = Some(
                    metrics
                        .iter()
                        .filter(|(k, _)| k.starts_with("test_"))
                        .map(|(k, v)| (k.clone(), *v))
                        .collect(),
                );
            }
            (o.on_epoch)(ename, epoch, epochs, &metrics);
            last = metrics;
        }
    }
    trials.clear();
    let (all, _) = journal.trials(&space).map_err(|e| e.to_string())?;
    if last.is_empty()
        && let Some(t) = all
            .iter()
            .rev()
            .find(|t| t.state == modnas_core::trial::TrialState::Complete)
    {
        last = t.metrics.clone();
        if last.contains_key("test_acc") {
            test = Some(
                last.iter()
                    .filter(|(k, _)| k.starts_with("test_"))
                    .map(|(k, v)| (k.clone(), *v))
                    .collect(),
            );
        }
    }
    Ok(TorchOutcome {
        trials: all,
        arch: model.export(),
        last,
        test,
        interrupted,
        n_params: model.n_params(),
    })
}

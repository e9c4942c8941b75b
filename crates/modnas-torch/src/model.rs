//! A model: a network with its slots converted, its weights and architecture parameters, the
//! parameter space they form, and the Transform routine that applies discrete choices.

use crate::backbones::{Backbone, BuildCtx, Network};
use crate::dag::{DropPath, Merge, MultiChainLayer};
use crate::elastic::ElasticSet;
use crate::mixed::{AlphaHandle, MixControl, MixKind, MixedOp};
use crate::ops::{
    LayerCandidate, Op, OpError, OpStyle, build_primitive, is_zero_name, parse_layer_name,
};
use crate::slot::{Slot, SlotSet};
use modnas_core::param::{Assignment, Domain, ParamSpace, Value};
use modnas_core::transform::{Transform, Trigger};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tch::{Device, Kind, Tensor, nn};

/// A DAG edge when exporting: its key, its weight (best non-zero probability) and that operation.
type DagEdge = (String, f64, String);

/// An architecture description: for every slot (or share group), the chosen operation.
pub type ArchDesc = serde_json::Map<String, serde_json::Value>;

/// Errors building a model.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// A primitive cannot be built.
    #[error("{0}")]
    Op(#[from] OpError),
    /// A slot was left unconverted.
    #[error("{0}")]
    Unconverted(#[from] crate::slot::UnconvertedSlot),
    /// The architecture description does not fit the network.
    #[error("architecture description: {0}")]
    ArchDesc(String),
    /// Anything else.
    #[error("{0}")]
    Other(String),
}

/// How slots become modules.
#[derive(Clone, Debug)]
pub enum Conversion {
    /// Mixed operators over candidates (a search space).
    Mixed {
        /// The mixed-operator kind.
        kind: MixKind,
        /// Candidates of every slot; `None`: the backbone's defaults.
        candidates: Option<Vec<String>>,
    },
    /// The operations of an architecture description (a derived network).
    Fixed(ArchDesc),
}

/// Options of [`Model::build`].
#[derive(Clone, Debug)]
pub struct ModelOptions {
    /// How slots become modules.
    pub conversion: Conversion,
    /// The primitive style.
    pub style: OpStyle,
    /// Seed of weights, α and sampling.
    pub seed: u64,
    /// Device.
    pub device: Device,
}

/// A built model.
pub struct Model {
    /// The network.
    pub net: Box<dyn Network>,
    /// Weights.
    pub vs: nn::VarStore,
    /// Architecture parameters α.
    pub arch_vs: nn::VarStore,
    /// The slots, in creation order.
    pub slots: SlotSet,
    /// The elastic width and depth parameters.
    pub elastic: ElasticSet,
    /// The parameter space: categorical choices of `Index` operators and tensor parameters α.
    pub space: ParamSpace,
    /// Handlers applying categorical choices.
    pub transform: Transform,
    /// Settings shared by the mixed operators.
    pub control: MixControl,
    /// Drop-path probability of the network.
    pub drop_path: DropPath,
    /// The device.
    pub device: Device,
    /// `[channels, height, width]` of one input image.
    pub input_shape: [i64; 3],
    /// Weight of the expected MACs (per million) added to the architecture loss: λ in
    /// L_arch = L + λ·E\[MACs\]/10⁶, so that cheaper candidates win unless they cost accuracy.
    pub macs_penalty: f64,
    /// Run convolutions in the channels-last memory layout (by default on the CPU, where oneDNN's
    /// depthwise convolutions and pooling are about twice as fast in it).
    pub channels_last: bool,
    current: Assignment,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Model({} slots, {} weights)",
            self.slots.len(),
            self.vs.trainable_variables().len()
        )
    }
}

/// The share key of a slot: its share group, or its own name.
pub fn share_key(s: &Slot) -> String {
    s.spec()
        .share
        .clone()
        .unwrap_or_else(|| s.name().to_string())
}

fn path_name(s: &str) -> String {
    s.replace('.', "_")
}

impl Model {
    /// Builds `backbone` and converts its slots.
    pub fn build(backbone: &dyn Backbone, o: &ModelOptions) -> Result<Model, ModelError> {
        tch::manual_seed(o.seed as i64);
        let vs = nn::VarStore::new(o.device);
        let arch_vs = nn::VarStore::new(o.device);
        let slots = SlotSet::new();
        let drop_path = DropPath::default();
        let elastic = match &o.conversion {
            Conversion::Fixed(desc) => ElasticSet::fixed(desc.clone()),
            Conversion::Mixed { .. } => ElasticSet::new(),
        };
        let ctx = BuildCtx {
            slots: slots.clone(),
            style: o.style,
            drop_path: drop_path.clone(),
            elastic: elastic.clone(),
        };
        let net = backbone
            .build(&(vs.root() / "net"), &ctx)
            .map_err(ModelError::Other)?;
        let control = MixControl::new(modnas_core::seed::derive_seed(o.seed, "mixed", 0));
        let mut model = Model {
            net,
            vs,
            arch_vs,
            slots,
            elastic,
            space: ParamSpace::new(),
            transform: Transform::new(),
            control,
            drop_path,
            device: o.device,
            channels_last: o.device == Device::Cpu,
            input_shape: backbone.input_shape(),
            macs_penalty: 0.0,
            current: Assignment(Vec::new()),
        };
        model.convert(backbone, o)?;
        model.slots.check_converted()?;
        model.add_elastic_params()?;
        // Start every categorical choice at its first value and apply it.
        model.current = Assignment(
            model
                .space
                .params()
                .iter()
                .map(|p| p.domain.value_at(0))
                .collect(),
        );
        let names: Vec<String> = model
            .space
            .params()
            .iter()
            .map(|p| p.name.clone())
            .collect();
        let mut cur = model.current.clone();
        model
            .transform
            .dispatch(&model.space, &mut cur, names)
            .map_err(|e| ModelError::Other(e.to_string()))?;
        model.current = cur;
        Ok(model)
    }

    fn convert(&mut self, backbone: &dyn Backbone, o: &ModelOptions) -> Result<(), ModelError> {
        let mut alphas: BTreeMap<String, Tensor> = BTreeMap::new();
        let mut indices: BTreeMap<String, Arc<AtomicUsize>> = BTreeMap::new();
        // Slots named by the description that are not created yet may come from layer candidates:
        // the check that every entry names a slot waits for the conversion; an entry naming no
        // slot at all fails first, though, before anything is built.
        if let Conversion::Fixed(desc) = &o.conversion {
            self.check_desc_keys(desc, true)?;
        }
        // Hierarchical spaces: converting a slot may create new slots; convert until none is left.
        for _pass in 0..8 {
            let todo = self.slots.unconverted();
            if todo.is_empty() {
                break;
            }
            for slot in todo {
                let spec = slot.spec().clone();
                let base = self.vs.root() / "slots" / path_name(slot.name());
                if let Some(fixed) = spec.kwargs.get("fixed").and_then(|v| v.as_str()) {
                    let op = build_primitive(&(&base / path_name(fixed)), fixed, &spec, &o.style)?;
                    slot.set_entity(op);
                    continue;
                }
                match &o.conversion {
                    Conversion::Fixed(desc) => {
                        let key = share_key(&slot);
                        let v = desc
                            .get(slot.name())
                            .or_else(|| desc.get(&key))
                            .ok_or_else(|| {
                                ModelError::ArchDesc(format!(
                                    "no entry for slot `{}` (share group `{key}`)",
                                    slot.name()
                                ))
                            })?;
                        let name = match v {
                            serde_json::Value::String(s) => s.clone(),
                            serde_json::Value::Array(a) if a.len() == 1 && a[0].is_string() => {
                                a[0].as_str().unwrap_or_default().to_string()
                            }
                            other => {
                                return Err(ModelError::ArchDesc(format!(
                                    "entry `{key}` must be an operation name, found {other}"
                                )));
                            }
                        };
                        let op = match parse_layer_name(&name) {
                            Some(lc) => self.layer_candidate(&spec, &name, lc, &[]),
                            None => {
                                build_primitive(&(&base / path_name(&name)), &name, &spec, &o.style)
                                    .map_err(|e| {
                                        ModelError::ArchDesc(format!("entry `{key}`: {e}"))
                                    })?
                            }
                        };
                        slot.set_entity(op);
                    }
                    Conversion::Mixed { kind, candidates } => {
                        let names: Vec<String> = match spec
                            .kwargs
                            .get("candidates")
                            .and_then(|c| serde_json::from_value::<Vec<String>>(c.clone()).ok())
                        {
                            Some(c) => c,
                            None => match (candidates, backbone.default_candidates(&spec)) {
                                (Some(c), _) => c.clone(),
                                (None, Some(c)) => c,
                                (None, None) => {
                                    return Err(ModelError::Other(format!(
                                        "slot `{}` has no candidates: give `candidates:`",
                                        slot.name()
                                    )));
                                }
                            },
                        };
                        // Candidates that cannot take this slot's shape are dropped (pooling where
                        // channels change), unless none is left.
                        let mut cands: Vec<(String, Box<dyn Op>)> = Vec::new();
                        let mut first_err = None;
                        for n in &names {
                            if let Some(lc) = parse_layer_name(n) {
                                cands.push((n.clone(), self.layer_candidate(&spec, n, lc, &names)));
                                continue;
                            }
                            match build_primitive(&(&base / path_name(n)), n, &spec, &o.style) {
                                Ok(op) => cands.push((n.clone(), op)),
                                Err(e @ OpError::Unknown { .. }) => return Err(e.into()),
                                Err(e) => {
                                    first_err.get_or_insert(e);
                                }
                            }
                        }
                        if cands.is_empty() {
                            return Err(first_err.map(ModelError::Op).unwrap_or_else(|| {
                                ModelError::Other(format!(
                                    "slot `{}` has no candidates",
                                    slot.name()
                                ))
                            }));
                        }
                        if cands.len() == 1 {
                            let (_, op) = cands
                                .pop()
                                .map(|c| (c.0, c.1))
                                .ok_or_else(|| ModelError::Other("no candidate".into()))?;
                            slot.set_entity(op);
                            continue;
                        }
                        let key = share_key(&slot);
                        let n = cands.len() as i64;
                        let cand_names: Vec<String> = cands.iter().map(|c| c.0.clone()).collect();
                        let alpha = if kind.has_alpha() {
                            let a = match alphas.get(&key) {
                                Some(a) if a.size() == [n] => a.shallow_clone(),
                                Some(_) => {
                                    return Err(ModelError::Other(format!(
                                        "slots sharing `{key}` have different candidate counts"
                                    )));
                                }
                                None => {
                                    let a = self.arch_vs.root().var(
                                        &path_name(&key),
                                        &[n],
                                        nn::Init::Randn {
                                            mean: 0.0,
                                            stdev: 1e-3,
                                        },
                                    );
                                    self.space.add_tensor(
                                        &key,
                                        Arc::new(AlphaHandle(std::sync::Mutex::new(
                                            a.shallow_clone(),
                                        ))),
                                    );
                                    alphas.insert(key.clone(), a.shallow_clone());
                                    a
                                }
                            };
                            Some(a)
                        } else {
                            None
                        };
                        let index = match indices.get(&key) {
                            Some(i) => i.clone(),
                            None => {
                                let i = Arc::new(AtomicUsize::new(0));
                                if !kind.has_alpha() {
                                    let choices =
                                        cand_names.iter().map(|c| Value::Str(c.clone())).collect();
                                    let pname = self
                                        .space
                                        .add(&key, Domain::Categorical { choices })
                                        .map_err(|e| ModelError::Other(e.to_string()))?;
                                    let handle = i.clone();
                                    self.transform
                                        .on(Trigger::param(pname.clone()), 0, move |u| {
                                            if let Some(modnas_core::ParamValue::Choice(c)) =
                                                u.value(&pname)
                                            {
                                                handle.store(c, Ordering::SeqCst);
                                            }
                                            Ok(())
                                        });
                                }
                                indices.insert(key.clone(), i.clone());
                                i
                            }
                        };
                        slot.set_entity(Box::new(MixedOp::new(
                            *kind,
                            cands,
                            alpha,
                            &key,
                            index,
                            self.control.clone(),
                        )));
                    }
                }
            }
        }
        if let Conversion::Fixed(desc) = &o.conversion {
            self.check_desc_keys(desc, false)?;
        }
        Ok(())
    }

    /// Every elastic group becomes a categorical parameter over its labels, applied by a
    /// Transform handler.
    fn add_elastic_params(&mut self) -> Result<(), ModelError> {
        for p in self.elastic.params() {
            let name = self
                .space
                .add(
                    &p.name,
                    Domain::Categorical {
                        choices: p.labels.clone(),
                    },
                )
                .map_err(|e| ModelError::Other(e.to_string()))?;
            let kind = p.kind.clone();
            let pname = name.clone();
            self.transform.on(Trigger::param(name), 0, move |u| {
                if let Some(modnas_core::ParamValue::Choice(c)) = u.value(&pname) {
                    kind.apply(c);
                }
                Ok(())
            });
        }
        Ok(())
    }

    /// Fails on a description entry that names no slot (or share group). Before conversion
    /// (`early`), entries that may name slots of layer candidates (`slot.LAYER-…`) pass.
    fn check_desc_keys(&self, desc: &ArchDesc, early: bool) -> Result<(), ModelError> {
        let keys: Vec<String> = self
            .slots
            .all()
            .iter()
            .flat_map(|s| [s.name().to_string(), share_key(s)])
            .chain(self.elastic.used())
            .collect();
        for k in desc.keys() {
            let inner = k.contains('.') && keys.iter().any(|p| k.starts_with(&format!("{p}.")));
            if keys.contains(k) || (early && inner) {
                continue;
            }
            let hint = modnas_core::suggest::did_you_mean(k, &keys)
                .map(|s| format!("; did you mean `{s}`?"))
                .unwrap_or_default();
            return Err(ModelError::ArchDesc(format!(
                "entry `{k}` matches no slot of the network{hint}"
            )));
        }
        Ok(())
    }

    /// A layer candidate of `spec`: chains of new slots, searched over `outer`'s primitive
    /// candidates (converted in the next pass).
    fn layer_candidate(
        &self,
        spec: &crate::slot::SlotSpec,
        tag: &str,
        lc: LayerCandidate,
        outer: &[String],
    ) -> Box<dyn Op> {
        let mut inner = spec.clone();
        for k in ["dag_group", "dag_keep", "fixed"] {
            inner.kwargs.remove(k);
        }
        let prims: Vec<String> = outer
            .iter()
            .filter(|c| parse_layer_name(c).is_none())
            .cloned()
            .collect();
        inner
            .kwargs
            .insert("candidates".into(), serde_json::json!(prims));
        inner
            .kwargs
            .insert("parent".into(), serde_json::json!(spec.name));
        inner
            .kwargs
            .insert("parent_op".into(), serde_json::json!(tag));
        Box::new(MultiChainLayer::new(
            &self.slots,
            tag,
            &inner,
            lc.chains,
            lc.nodes,
            Merge::Sum,
        ))
    }

    /// Applies a full assignment of the categorical choices (the Transform routine).
    pub fn apply(&mut self, a: &Assignment) -> Result<(), String> {
        let mut cur = self.current.clone();
        self.transform
            .update(&self.space, &mut cur, a)
            .map_err(|e| e.to_string())?;
        self.current = cur;
        Ok(())
    }

    /// Calls `f` on every mixed operator with its slot, in slot order.
    pub fn visit_mixed(&self, mut f: impl FnMut(&Slot, &MixedOp)) {
        for s in self.slots.all() {
            s.with_entity(|e| {
                if let Some(m) = e.as_any().downcast_ref::<MixedOp>() {
                    f(&s, m);
                }
            });
        }
    }

    /// The forward pass. Every mixed operator's record of sampled paths is cleared first, so that
    /// after the pass only the operators that ran report a choice.
    pub fn forward(&self, x: &Tensor, train: bool) -> Tensor {
        self.visit_mixed(|_, m| m.clear_sampled());
        if self.channels_last && x.dim() == 4 {
            // Operators keep the layout of their input from the first convolution on.
            crate::layers::with_channels_last(true, || self.net.forward_t(x, train))
        } else {
            self.net.forward_t(x, train)
        }
    }

    /// Weights that train.
    pub fn weights(&self) -> Vec<Tensor> {
        self.vs.trainable_variables()
    }

    /// Architecture parameters α.
    pub fn alphas(&self) -> Vec<Tensor> {
        self.arch_vs.trainable_variables()
    }

    /// The derived architecture: for every slot (or share group) its chosen operation. DAG edges
    /// keep, per node, the `dag_keep` best edges by their best non-zero operation; the others get
    /// `NIL`.
    pub fn export(&self) -> ArchDesc {
        let mut desc = ArchDesc::new();
        // (group → [(key, weight, best op)]) for DAG edges.
        let mut groups: BTreeMap<String, (usize, Vec<DagEdge>)> = BTreeMap::new();
        for s in self.slots.all() {
            let key = share_key(&s);
            if desc.contains_key(&key) || groups.values().any(|g| g.1.iter().any(|e| e.0 == key)) {
                continue;
            }
            let info = s.with_entity(|e| match e.as_any().downcast_ref::<MixedOp>() {
                Some(m) => {
                    let p = m.probs();
                    let best = m.best(true);
                    (
                        m.names()[best].clone(),
                        p[best],
                        Some(m.best(false)),
                        m.names().to_vec(),
                    )
                }
                None => (e.op_name(), 1.0, None, vec![]),
            });
            let Some((best_nonzero, weight, best_any, names)) = info else {
                continue;
            };
            if let Some(group) = s.spec().kwargs.get("dag_group").and_then(|g| g.as_str()) {
                let keep = s
                    .spec()
                    .kwargs
                    .get("dag_keep")
                    .and_then(|k| k.as_u64())
                    .unwrap_or(2) as usize;
                groups
                    .entry(group.to_string())
                    .or_insert((keep, Vec::new()))
                    .1
                    .push((key.clone(), weight, best_nonzero));
                desc.insert(key, serde_json::Value::Null);
            } else {
                let name = match best_any {
                    Some(i) => names[i].clone(),
                    None => best_nonzero,
                };
                desc.insert(key, serde_json::Value::String(name));
            }
        }
        for (_, (keep, mut edges)) in groups {
            let mut order: Vec<usize> = (0..edges.len()).collect();
            order.sort_by(|&a, &b| edges[b].1.total_cmp(&edges[a].1).then(a.cmp(&b)));
            let kept: Vec<usize> = order
                .into_iter()
                .filter(|&i| !is_zero_name(&edges[i].2))
                .take(keep)
                .collect();
            for (i, e) in edges.iter_mut().enumerate() {
                let op = if kept.contains(&i) {
                    e.2.clone()
                } else {
                    "NIL".to_string()
                };
                desc.insert(e.0.clone(), serde_json::Value::String(op));
            }
        }
        for p in self.elastic.params() {
            if let Some(v) = self.current.get_named(&self.space, &p.name)
                && let Some(i) = self.space.position(&p.name)
            {
                let shown = self.space.params()[i].domain.render(&v);
                desc.insert(p.name.clone(), shown.to_json());
            }
        }
        // Slots of layer candidates that were not chosen are not part of the architecture.
        loop {
            let dropped: Vec<String> = self
                .slots
                .all()
                .iter()
                .filter_map(|s| {
                    let key = share_key(s);
                    let kw = &s.spec().kwargs;
                    let parent = self.slots.get(kw.get("parent")?.as_str()?)?;
                    let op = kw.get("parent_op")?.as_str()?;
                    let chosen = desc.get(&share_key(&parent)).and_then(|v| v.as_str());
                    (desc.contains_key(&key) && chosen != Some(op)).then_some(key)
                })
                .collect();
            if dropped.is_empty() {
                break;
            }
            for k in dropped {
                desc.remove(&k);
            }
        }
        desc
    }

    /// Number of weight parameters.
    pub fn n_params(&self) -> i64 {
        self.weights().iter().map(|t| t.numel() as i64).sum()
    }

    /// Switches every tensor to double precision (for gradient checks).
    pub fn to_double(&mut self) {
        self.vs.double();
        self.arch_vs.double();
    }

    /// A random batch of `n` inputs of the backbone's input shape.
    pub fn dummy_input(shape: [i64; 3], n: i64, device: Device) -> Tensor {
        Tensor::randn([n, shape[0], shape[1], shape[2]], (Kind::Float, device))
    }
}

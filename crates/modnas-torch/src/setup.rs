//! The network half of a configuration: which network (`model:` or a user's own), how its slots'
//! primitives look (`candidates:`, `ops:`), the data, the training settings and the device. Every
//! way of searching or training a network reads it the same way.

use crate::backbones::{self, Backbone, BackboneContext};
use crate::data::DataArgs;
use crate::ops::OpStyle;
use crate::train::TrainArgs;
use modnas_core::config::{ComponentSpec, ConfigError, Fields, Node, NodeKind};
use modnas_core::registry::Args;
use std::path::PathBuf;
use tch::Device;

/// The top-level keys [`NetworkSetup::read`] consumes.
pub const NETWORK_KEYS: &[&str] = &[
    "model",
    "candidates",
    "ops",
    "data",
    "trainer",
    "device",
    "threads",
    "init_from",
];

/// A network, its search space's primitives, data and training settings.
pub struct NetworkSetup {
    /// The backbone.
    pub backbone: Box<dyn Backbone>,
    /// The `model:` node as JSON (`"user network"` for a network given in code).
    pub model: serde_json::Value,
    /// Candidates of every slot (`None`: each slot's or the backbone's default).
    pub candidates: Option<Vec<String>>,
    /// The primitive style.
    pub style: OpStyle,
    /// Data settings.
    pub data: DataArgs,
    /// Directory that relative data paths are resolved against.
    pub data_base: PathBuf,
    /// Training settings.
    pub train: TrainArgs,
    /// Device.
    pub device: Device,
    /// Weights to start from (`init_from:`).
    pub init_from: Option<PathBuf>,
}

impl NetworkSetup {
    /// Reads the keys of [`NETWORK_KEYS`] from the top-level map `f` of `root`. `network` is a
    /// user's own network, used instead of `model:` (which is then optional). Sets libtorch's
    /// thread count when `threads:` (or `trainer.threads`) is given.
    pub fn read(
        f: &mut Fields<'_>,
        root: &Node,
        network: Option<Box<dyn Backbone>>,
    ) -> Result<NetworkSetup, ConfigError> {
        let model_node = match network {
            Some(_) => f.raw("model"),
            None => Some(f.req_raw("model")?),
        };
        let candidates: Option<Vec<String>> = f.opt("candidates")?;
        let style: OpStyle = f.opt("ops")?.unwrap_or_default();
        let data: DataArgs = f.opt("data")?.unwrap_or_default();
        let train: TrainArgs = f.opt("trainer")?.unwrap_or_default();
        let device: String = f.opt("device")?.unwrap_or_else(|| "auto".into());
        let threads: Option<i32> = f.opt("threads")?;
        let init_from: Option<PathBuf> = f.opt::<PathBuf>("init_from")?.map(|p| {
            root.get("init_from")
                .map(|n| n.span.base_dir())
                .unwrap_or_default()
                .join(p)
        });
        for (key, node, r) in [
            ("data", root.get("data"), data.check()),
            ("trainer", root.get("trainer"), train.check()),
        ] {
            if let Err((field, m)) = r {
                let at = node.and_then(|n| n.get(&field)).or(node).unwrap_or(root);
                return Err(ConfigError::at(at, &format!("{key}.{field}"), m));
            }
        }
        let device = device_from(&device)
            .map_err(|m| ConfigError::at(root.get("device").unwrap_or(root), "device", m))?;
        if let Some(t) = threads.or(train.threads) {
            if t < 1 {
                return Err(ConfigError::at(
                    root.get("threads").unwrap_or(root),
                    "threads",
                    "`threads` must be at least 1",
                ));
            }
            tch::set_num_threads(t);
        }
        check_candidates(root)?;
        let backbone = match (network, model_node) {
            (Some(b), _) => b,
            (None, Some(m)) => {
                backbones::registry().build(&ComponentSpec::parse(m, "model")?, &BackboneContext)?
            }
            (None, None) => return Err(ConfigError::at(root, "model", "give a `model:`")),
        };
        Ok(NetworkSetup {
            backbone,
            model: model_node
                .map(Node::to_json)
                .unwrap_or_else(|| serde_json::json!("user network")),
            candidates,
            style,
            data,
            data_base: root.span.base_dir(),
            train,
            device,
            init_from,
        })
    }

    /// What defines the network side of a run (compared when resuming).
    pub fn identity(&self) -> serde_json::Value {
        serde_json::json!({
            "model": self.model,
            "candidates": self.candidates,
            "ops": serde_json::to_value(self.style).unwrap_or_default(),
            "data": serde_json::to_value(&self.data).unwrap_or_default(),
            "trainer": serde_json::to_value(&self.train).unwrap_or_default(),
            "init_from": self.init_from.as_ref().map(|p| p.display().to_string()),
        })
    }
}

/// Every name of `candidates:` is a primitive or layer of the catalogue.
fn check_candidates(root: &Node) -> Result<(), ConfigError> {
    if let Some(NodeKind::Seq(items)) = root.get("candidates").map(|n| &n.kind) {
        for it in items {
            if let Some(name) = it.as_str()
                && !crate::ops::is_candidate_name(name)
            {
                let forms: Vec<&str> = crate::ops::catalogue::FORMS.iter().map(|f| f.0).collect();
                return Err(ConfigError::unknown_name(
                    "primitive",
                    name,
                    &forms,
                    &crate::ops::catalogue::near_names(name),
                )
                .located(&it.span, "candidates"));
            }
        }
    }
    Ok(())
}

/// `cpu`, `cuda`, `cuda:N` or `auto`.
pub fn device_from(s: &str) -> Result<Device, String> {
    match s {
        "cpu" => Ok(Device::Cpu),
        "auto" => Ok(Device::cuda_if_available()),
        "cuda" => Ok(Device::Cuda(0)),
        other => match other.strip_prefix("cuda:").and_then(|i| i.parse().ok()) {
            Some(i) => Ok(Device::Cuda(i)),
            None => Err(format!(
                "unknown device `{other}`; use cpu, cuda, cuda:N or auto"
            )),
        },
    }
}

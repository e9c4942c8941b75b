//! Backbones: networks with slots, chosen by name in `model:`.

mod convnet;
mod custom;
mod darts;
mod mobilenetv2;
mod mobilenetv2_elastic;
mod nb201;
mod resnet;

pub use convnet::{ConvNet, ConvNetArgs};
pub use custom::from_fn;
pub use darts::{DARTS_CANDIDATES, DartsArgs, DartsNet};
pub use mobilenetv2::{MobileNetV2, MobileNetV2Args};
pub use mobilenetv2_elastic::{MobileNetV2Elastic, MobileNetV2ElasticArgs};
pub use nb201::{NB201_EDGES, NB201_OPS, NB201_TABLE_OPS, Nb201Args, Nb201Net, nb201_edge_name};
pub use resnet::{ResNet, ResNetArgs};

use crate::dag::DropPath;
use crate::ops::{Op, OpStyle};
use crate::slot::{SlotSet, SlotSpec};
use modnas_core::registry::{Registry, RegistryError};
use tch::{Tensor, nn};

/// A whole network.
pub trait Network: Op {
    /// The auxiliary head's logits of the last training forward pass, if the network has one.
    fn take_aux(&self) -> Option<Tensor> {
        None
    }
}

/// What backbones are built with.
#[derive(Clone, Debug)]
pub struct BuildCtx {
    /// Where their slots go.
    pub slots: SlotSet,
    /// The global primitive style.
    pub style: OpStyle,
    /// The drop-path setting of the model.
    pub drop_path: DropPath,
    /// Where elastic groups go (width and depth parameters).
    pub elastic: crate::elastic::ElasticSet,
}

/// A network family with slots.
pub trait Backbone: Send + Sync {
    /// Builds the network under `p`.
    fn build(&self, p: &nn::Path, ctx: &BuildCtx) -> Result<Box<dyn Network>, String>;

    /// Candidates of a slot when the configuration gives none.
    fn default_candidates(&self, _slot: &SlotSpec) -> Option<Vec<String>> {
        None
    }

    /// The shape `[channels, height, width]` of one input image.
    fn input_shape(&self) -> [i64; 3];

    /// Number of classes.
    fn n_classes(&self) -> i64;
}

/// Arguments of a preset backbone (`CIFAR-ResNet-20`, `CIFAR-MobileNetV2`…): what may differ from
/// the preset; `null` keeps the preset's value.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PresetArgs {
    /// Input channels.
    pub chn_in: Option<i64>,
    /// Input height and width.
    pub image_size: Option<i64>,
    /// Classes.
    pub n_classes: Option<i64>,
}

impl modnas_core::registry::Args for PresetArgs {
    fn check(&self) -> Result<(), (String, String)> {
        for (k, v) in [
            ("chn_in", self.chn_in),
            ("image_size", self.image_size),
            ("n_classes", self.n_classes),
        ] {
            if v.is_some_and(|v| v < 1) {
                return Err((k.into(), format!("`{k}` must be at least 1")));
            }
        }
        Ok(())
    }
}

impl PresetArgs {
    /// Applies the given values to `(chn_in, image_size, n_classes)`.
    pub fn apply(&self, chn_in: &mut i64, image_size: &mut i64, n_classes: &mut i64) {
        if let Some(v) = self.chn_in {
            *chn_in = v;
        }
        if let Some(v) = self.image_size {
            *image_size = v;
        }
        if let Some(v) = self.n_classes {
            *n_classes = v;
        }
    }
}

/// What backbone builders get (nothing yet).
pub struct BackboneContext;

/// The backbone registry.
pub type BackboneRegistry = Registry<dyn Backbone, BackboneContext>;

/// Registers every backbone.
pub fn register_all(reg: &mut BackboneRegistry) -> Result<(), RegistryError> {
    darts::register(reg)?;
    mobilenetv2::register(reg)?;
    mobilenetv2_elastic::register(reg)?;
    nb201::register(reg)?;
    resnet::register(reg)?;
    convnet::register(reg)
}

/// A registry with every backbone.
pub fn registry() -> BackboneRegistry {
    let mut r = Registry::new("backbone", &["net", "network", "model"]);
    register_all(&mut r).expect("backbone names are unique");
    r
}

//! Backbones: networks with slots, chosen by name in `model:`.

mod convnet;
mod darts;
mod mobilenetv2;
mod resnet;

pub use convnet::{ConvNet, ConvNetArgs};
pub use darts::{DARTS_CANDIDATES, DartsArgs, DartsNet};
pub use mobilenetv2::{MobileNetV2, MobileNetV2Args};
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

/// What backbone builders get (nothing yet).
pub struct BackboneContext;

/// The backbone registry.
pub type BackboneRegistry = Registry<dyn Backbone, BackboneContext>;

/// Registers every backbone.
pub fn register_all(reg: &mut BackboneRegistry) -> Result<(), RegistryError> {
    darts::register(reg)?;
    mobilenetv2::register(reg)?;
    resnet::register(reg)?;
    convnet::register(reg)
}

/// A registry with every backbone.
pub fn registry() -> BackboneRegistry {
    let mut r = Registry::new("backbone", &["net", "network", "model"]);
    register_all(&mut r).expect("backbone names are unique");
    r
}

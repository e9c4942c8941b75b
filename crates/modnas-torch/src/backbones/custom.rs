//! A user's own network as a backbone: any `tch::nn::ModuleT` whose searchable layers are slots.

use super::{Backbone, BuildCtx, Network};
use crate::ops::Op;
use crate::slot::SlotSet;
use std::any::Any;
use tch::{Tensor, nn};

type BuildFn<M> = dyn Fn(&nn::Path, &SlotSet) -> M + Send + Sync;

struct FnBackbone<M> {
    build: Box<BuildFn<M>>,
    input_shape: [i64; 3],
    n_classes: i64,
}

/// The user's module, run as a network of the tensor layer.
#[derive(Debug)]
struct UserNet<M>(M);

impl<M: nn::ModuleT + 'static> Op for UserNet<M> {
    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        self.0.forward_t(x, train)
    }
    fn op_name(&self) -> String {
        "user".into()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl<M: nn::ModuleT + 'static> Network for UserNet<M> {}

impl<M: nn::ModuleT + 'static> Backbone for FnBackbone<M> {
    fn build(&self, p: &nn::Path, ctx: &BuildCtx) -> Result<Box<dyn Network>, String> {
        Ok(Box::new(UserNet((self.build)(p, &ctx.slots))))
    }
    fn input_shape(&self) -> [i64; 3] {
        self.input_shape
    }
    fn n_classes(&self) -> i64 {
        self.n_classes
    }
}

/// A backbone from a function that builds the user's network under a variable-store path,
/// creating a [`Slot`](crate::slot::Slot) (with `slots.slot(name, chn_in, chn_out, stride)`)
/// wherever it would have created a searchable layer. `input_shape` is `[channels, height,
/// width]` of one image.
///
/// ```no_run
/// use modnas_torch::backbones::from_fn;
/// use modnas_torch::slot::{Slot, SlotSet};
/// use tch::nn::{self, ModuleT};
///
/// #[derive(Debug)]
/// struct Net { stem: nn::Conv2D, body: Slot, fc: nn::Linear }
///
/// impl ModuleT for Net {
///     fn forward_t(&self, x: &tch::Tensor, train: bool) -> tch::Tensor {
///         let h = x.apply(&self.stem).relu().apply_t(&self.body, train);
///         h.mean_dim(&[2i64, 3][..], false, h.kind()).apply(&self.fc)
///     }
/// }
///
/// let backbone = from_fn([1, 28, 28], 10, |p: &nn::Path, slots: &SlotSet| Net {
///     stem: nn::conv2d(p / "stem", 1, 8, 3, Default::default()),
///     body: slots.slot("body", 8, 16, 2), // was: nn::conv2d(p / "body", 8, 16, 3, …)
///     fc: nn::linear(p / "fc", 16, 10, Default::default()),
/// });
/// ```
pub fn from_fn<M, F>(input_shape: [i64; 3], n_classes: i64, build: F) -> Box<dyn Backbone>
where
    M: nn::ModuleT + 'static,
    F: Fn(&nn::Path, &SlotSet) -> M + Send + Sync + 'static,
{
    Box::new(FnBackbone {
        build: Box::new(build),
        input_shape,
        n_classes,
    })
}

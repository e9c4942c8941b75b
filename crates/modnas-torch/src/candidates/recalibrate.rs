//! Batch-norm recalibration: a candidate that inherits a supernet's weights also inherits running
//! statistics gathered over many paths, which do not describe its own activations. Before it is
//! validated, the running statistics are recomputed on training batches through its own path.

use crate::data::Loader;
use crate::layers::with_bn_momentum;
use crate::model::Model;

/// Resets every batch norm's running statistics (mean 0, variance 1) and recomputes them as the
/// mean over `batches` training batches of `loader`, in training mode, without gradients.
/// Returns the batches used (fewer when the loader has fewer).
pub fn recalibrate(model: &Model, loader: &mut Loader, batches: usize) -> usize {
    if batches == 0 {
        return 0;
    }
    tch::no_grad(|| {
        for (name, t) in model.vs.variables() {
            if name.ends_with("running_mean") {
                let _ = t.shallow_clone().fill_(0.0);
            } else if name.ends_with("running_var") {
                let _ = t.shallow_clone().fill_(1.0);
            }
        }
        let drop_path = model.drop_path.prob();
        model.drop_path.set(0.0);
        let mut used = 0;
        while used < batches {
            let Some((x, _)) = loader.next_batch(false) else {
                break;
            };
            // Momentum 1/(k+1) on the k-th batch: the running statistics are the batches' mean.
            with_bn_momentum(1.0 / (used as f64 + 1.0), || {
                let _ = model.forward(&x, true);
            });
            used += 1;
        }
        model.drop_path.set(drop_path);
        used
    })
}

//! Batch-norm recalibration: a candidate that inherits a supernet's weights also inherits running
//! statistics gathered over many paths, which do not describe its own activations. Before it is
//! validated, the running statistics are recomputed on training batches through its own path.

use crate::data::Loader;
use crate::layers::with_bn_momentum;
use crate::model::Model;
use tch::{Tensor, nn};

/// Resets every batch norm's running statistics of `model` and recomputes them on `batches`
/// training batches of `loader` through its current path (see [`recalibrate_with`]). Returns the
/// batches used (fewer when the loader has fewer).
pub fn recalibrate(model: &Model, loader: &mut Loader, batches: usize) -> usize {
    let drop_path = model.drop_path.prob();
    model.drop_path.set(0.0);
    let used = recalibrate_with(
        &model.vs,
        batches,
        || loader.next_batch(false).map(|b| b.0),
        |x| {
            let _ = model.forward(x, true);
        },
    );
    model.drop_path.set(drop_path);
    used
}

/// Resets the running statistics of every batch norm in `vs` (mean 0, variance 1), then runs
/// `forward` in training mode, without gradients, on up to `batches` inputs of `next`, with
/// momentum `1/(k+1)` on the `k`-th: the running statistics become the mean of the batches'
/// statistics (PyTorch's cumulative moving average).
pub fn recalibrate_with(
    vs: &nn::VarStore,
    batches: usize,
    mut next: impl FnMut() -> Option<Tensor>,
    forward: impl Fn(&Tensor),
) -> usize {
    if batches == 0 {
        return 0;
    }
    tch::no_grad(|| {
        for (name, t) in vs.variables() {
            if name.ends_with("running_mean") {
                let _ = t.shallow_clone().fill_(0.0);
            } else if name.ends_with("running_var") {
                let _ = t.shallow_clone().fill_(1.0);
            }
        }
        let mut used = 0;
        while used < batches {
            let Some(x) = next() else { break };
            with_bn_momentum(1.0 / (used as f64 + 1.0), || forward(&x));
            used += 1;
        }
        used
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::BatchNorm;
    use tch::{Device, Kind};

    #[test]
    fn running_statistics_become_the_mean_over_the_batches() {
        let vs = nn::VarStore::new(Device::Cpu);
        let bn = BatchNorm::new(&(vs.root() / "bn"), 3, true);
        tch::manual_seed(0);
        // Statistics left by a supernet: far from the batches' own.
        tch::no_grad(|| {
            let _ = bn.running_mean.shallow_clone().fill_(5.0);
            let _ = bn.running_var.shallow_clone().fill_(9.0);
        });
        let xs: Vec<Tensor> = (0..3)
            .map(|i| {
                Tensor::randn([4, 3, 2, 2], (Kind::Float, Device::Cpu)) * (i + 1) as f64 + i as f64
            })
            .collect();
        let mut it = xs.iter().map(Tensor::shallow_clone);
        let used = recalibrate_with(
            &vs,
            5,
            || it.next(),
            |x| {
                let _ = bn.forward(x, true);
            },
        );
        assert_eq!(used, 3);
        let mean = Tensor::stack(
            &xs.iter()
                .map(|x| x.mean_dim(Some([0i64, 2, 3].as_slice()), false, Kind::Float))
                .collect::<Vec<_>>(),
            0,
        )
        .mean_dim(Some([0i64].as_slice()), false, Kind::Float);
        let var = Tensor::stack(
            &xs.iter()
                .map(|x| x.var_correction(Some([0i64, 2, 3].as_slice()), 1, false))
                .collect::<Vec<_>>(),
            0,
        )
        .mean_dim(Some([0i64].as_slice()), false, Kind::Float);
        let dm = (&bn.running_mean - mean).abs().max().double_value(&[]);
        let dv = (&bn.running_var - var).abs().max().double_value(&[]);
        assert!(
            dm < 1e-5 && dv < 1e-4,
            "mean off by {dm:.2e}, variance by {dv:.2e}"
        );
        // Outside recalibration the configured momentum applies again.
        let before = bn.running_mean.copy();
        let _ = tch::no_grad(|| bn.forward(&xs[0], true));
        let expected =
            &before * 0.9 + xs[0].mean_dim(Some([0i64, 2, 3].as_slice()), false, Kind::Float) * 0.1;
        assert!((&bn.running_mean - expected).abs().max().double_value(&[]) < 1e-5);
    }
}

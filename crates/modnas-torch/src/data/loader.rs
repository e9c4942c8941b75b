//! Batching with augmentation (random crop with padding, horizontal flip, cutout) and
//! normalisation. The data stays in memory as one tensor; a batch is an index-select, so batching
//! costs little next to the network on two cores.

use super::Dataset;
use modnas_core::seed::Rng;
use rand::RngExt;
use rand::seq::SliceRandom;
use tch::{Device, Tensor};

/// Augmentations applied to training batches.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Augment {
    /// Random crop after zero padding by this many pixels (0: none).
    pub crop_padding: i64,
    /// Random horizontal flip.
    pub flip: bool,
    /// Cutout square side in pixels (0: none).
    pub cutout: i64,
}

/// Serves batches of a dataset.
#[derive(Debug)]
pub struct Loader {
    images: Tensor,
    labels: Tensor,
    mean: Tensor,
    std: Tensor,
    batch_size: i64,
    shuffle: bool,
    augment: Augment,
    rng: Rng,
    order: Vec<i64>,
    pos: usize,
    device: Device,
}

impl Loader {
    /// A loader over `ds` with per-channel `mean` and `std`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        ds: &Dataset,
        mean: &[f64],
        std: &[f64],
        batch_size: i64,
        shuffle: bool,
        augment: Augment,
        seed: u64,
        device: Device,
    ) -> Loader {
        let c = mean.len() as i64;
        let to_t = |v: &[f64]| {
            Tensor::from_slice(&v.iter().map(|&x| x as f32).collect::<Vec<_>>())
                .view([1, c, 1, 1])
                .to_device(device)
        };
        let mut l = Loader {
            images: ds.images.shallow_clone(),
            labels: ds.labels.shallow_clone(),
            mean: to_t(mean),
            std: to_t(std),
            batch_size: batch_size.max(1),
            shuffle,
            augment,
            rng: modnas_core::seed::rng_from_seed(seed),
            order: (0..ds.len()).collect(),
            pos: 0,
            device,
        };
        l.reshuffle();
        l
    }

    fn reshuffle(&mut self) {
        if self.shuffle {
            self.order.shuffle(&mut self.rng);
        }
        self.pos = 0;
    }

    /// Starts a new pass without reshuffling (evaluation reads every example once).
    pub fn rewind(&mut self) {
        self.pos = 0;
    }

    /// Examples served.
    pub fn len(&self) -> i64 {
        self.order.len() as i64
    }

    /// Whether the dataset is empty.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// Batches in one pass (the last one may be smaller).
    pub fn batches_per_epoch(&self) -> usize {
        (self.order.len() as i64 + self.batch_size - 1) as usize / self.batch_size as usize
    }

    /// The next batch; a new (reshuffled) pass starts when one ends. `None` at the end of a pass
    /// when `wrap` is false.
    pub fn next_batch(&mut self, wrap: bool) -> Option<(Tensor, Tensor)> {
        if self.pos >= self.order.len() {
            if !wrap {
                self.reshuffle();
                return None;
            }
            self.reshuffle();
        }
        let end = (self.pos + self.batch_size as usize).min(self.order.len());
        let idx = Tensor::from_slice(&self.order[self.pos..end]);
        self.pos = end;
        let x = self.images.index_select(0, &idx);
        let y = self.labels.index_select(0, &idx);
        let x = self.augment_batch(x);
        let x = (x.to_device(self.device) - &self.mean) / &self.std;
        Some((x, y.to_device(self.device)))
    }

    fn augment_batch(&mut self, x: Tensor) -> Tensor {
        let a = self.augment;
        let s = x.size();
        let (n, h, w) = (s[0], s[2], s[3]);
        let mut x = x;
        if a.crop_padding > 0 {
            let p = a.crop_padding;
            let padded = x.constant_pad_nd([p, p, p, p]);
            let crops: Vec<Tensor> = (0..n)
                .map(|i| {
                    let dy = self.rng.random_range(0..=2 * p);
                    let dx = self.rng.random_range(0..=2 * p);
                    padded.get(i).narrow(1, dy, h).narrow(2, dx, w)
                })
                .collect();
            x = Tensor::stack(&crops, 0);
        }
        if a.flip {
            let m: Vec<f32> = (0..n)
                .map(|_| if self.rng.random::<bool>() { 1.0 } else { 0.0 })
                .collect();
            let m = Tensor::from_slice(&m).view([n, 1, 1, 1]);
            x = &x * (1.0 - &m) + x.flip([3]) * &m;
        }
        if a.cutout > 0 {
            let mut mask = vec![1f32; (n * h * w) as usize];
            for i in 0..n {
                let cy = self.rng.random_range(0..h);
                let cx = self.rng.random_range(0..w);
                let half = a.cutout / 2;
                for yy in (cy - half).max(0)..(cy + a.cutout - half).min(h) {
                    for xx in (cx - half).max(0)..(cx + a.cutout - half).min(w) {
                        mask[(i * h * w + yy * w + xx) as usize] = 0.0;
                    }
                }
            }
            x = &x * Tensor::from_slice(&mask).view([n, 1, h, w]);
        }
        x
    }
}

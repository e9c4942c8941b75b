//! Data: Fashion-MNIST / MNIST (IDX), CIFAR-10 (binary), synthetic data; splits with a fixed
//! seed; augmentation; batching.

pub mod cifar;
pub mod idx;
mod loader;
mod source;

pub use loader::{Augment, Loader};
pub use source::{DataArgs, DataSource, Splits, load_splits};

use std::path::Path;
use tch::Tensor;

/// Errors loading data.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// A file cannot be read.
    #[error("{path}: {message}")]
    Io {
        /// The file.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// A file's content is not what the format says.
    #[error("{path}: {message}")]
    Format {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// The settings do not fit the data.
    #[error("{0}")]
    Settings(String),
}

impl DataError {
    fn io(path: &Path, e: std::io::Error) -> DataError {
        let message = match e.kind() {
            std::io::ErrorKind::NotFound => "file not found".to_string(),
            std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
            _ => e.to_string(),
        };
        DataError::Io {
            path: path.display().to_string(),
            message,
        }
    }

    fn format(path: &Path, message: impl Into<String>) -> DataError {
        DataError::Format {
            path: path.display().to_string(),
            message: message.into(),
        }
    }
}

/// Images `[N, C, H, W]` in `[0, 1]` (before normalisation) and labels `[N]`.
#[derive(Debug)]
pub struct Dataset {
    /// Images.
    pub images: Tensor,
    /// Labels.
    pub labels: Tensor,
    /// Number of classes.
    pub n_classes: i64,
}

impl Dataset {
    /// Number of examples.
    pub fn len(&self) -> i64 {
        self.labels.size()[0]
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The examples at `idx`.
    pub fn select(&self, idx: &Tensor) -> Dataset {
        Dataset {
            images: self.images.index_select(0, idx),
            labels: self.labels.index_select(0, idx),
            n_classes: self.n_classes,
        }
    }

    /// A random permutation of the examples (seeded).
    pub fn permutation(&self, seed: u64) -> Tensor {
        let mut rng = modnas_core::seed::rng_from_seed(seed);
        let mut idx: Vec<i64> = (0..self.len()).collect();
        use rand::seq::SliceRandom;
        idx.shuffle(&mut rng);
        Tensor::from_slice(&idx)
    }

    /// Synthetic data: `n` images of `shape` whose class is written into them (a class-dependent
    /// pattern plus noise), learnable by any small network. Deterministic for a seed.
    pub fn synthetic(n: i64, shape: [i64; 3], n_classes: i64, seed: u64) -> Dataset {
        use rand::RngExt;
        let mut rng = modnas_core::seed::rng_from_seed(seed);
        let pix = (shape[0] * shape[1] * shape[2]) as usize;
        let patterns: Vec<f32> = (0..n_classes as usize * pix)
            .map(|_| rng.random::<f32>())
            .collect();
        let mut images = Vec::with_capacity(n as usize * pix);
        let mut labels = Vec::with_capacity(n as usize);
        for _ in 0..n {
            let c = rng.random_range(0..n_classes);
            labels.push(c);
            let base = &patterns[c as usize * pix..(c as usize + 1) * pix];
            images.extend(
                base.iter()
                    .map(|&p| (0.7 * p + 0.3 * rng.random::<f32>()).clamp(0.0, 1.0)),
            );
        }
        Dataset {
            images: Tensor::from_slice(&images).view([n, shape[0], shape[1], shape[2]]),
            labels: Tensor::from_slice(&labels),
            n_classes,
        }
    }
}

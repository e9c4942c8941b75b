//! Datasets chosen in configuration: `data: {dataset: fashion_mnist, …}`.

use super::{DataError, Dataset, cifar, idx};
use modnas_core::registry::Args;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Which data.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DataSource {
    /// Fashion-MNIST (IDX files; the Debian package `dataset-fashion-mnist`).
    #[default]
    FashionMnist,
    /// MNIST (IDX files).
    Mnist,
    /// CIFAR-10 (binary batches `data_batch_{1..5}.bin`, `test_batch.bin`).
    Cifar10,
    /// Synthetic images whose class is written into them.
    Synthetic,
}

/// Arguments of the `data:` section.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DataArgs {
    /// The dataset.
    pub dataset: DataSource,
    /// Its directory (default: `/usr/share/datasets/fashion-mnist` for Fashion-MNIST).
    pub root: Option<PathBuf>,
    /// Training examples used (default: all left after the validation split).
    pub train_size: Option<i64>,
    /// Examples held out of the training files for validation (architecture steps, model
    /// selection).
    pub valid_size: i64,
    /// Test examples used (default: all; 0: no test set).
    pub test_size: Option<i64>,
    /// Batch size.
    pub batch_size: i64,
    /// Augmentation of training batches.
    pub augment: super::Augment,
    /// Examples of synthetic data (training part).
    pub synthetic_size: i64,
}

impl Default for DataArgs {
    fn default() -> Self {
        DataArgs {
            dataset: DataSource::FashionMnist,
            root: None,
            train_size: None,
            valid_size: 5000,
            test_size: None,
            batch_size: 64,
            augment: Default::default(),
            synthetic_size: 512,
        }
    }
}

impl Args for DataArgs {
    fn check(&self) -> Result<(), (String, String)> {
        if self.batch_size < 1 {
            return Err((
                "batch_size".into(),
                "`batch_size` must be at least 1".into(),
            ));
        }
        if self.valid_size < 0
            || self.train_size.is_some_and(|t| t < 1)
            || self.test_size.is_some_and(|t| t < 0)
        {
            return Err((
                "valid_size".into(),
                "sizes must not be negative (and `train_size` at least 1)".into(),
            ));
        }
        Ok(())
    }
}

/// Training, validation and test sets, and how to normalise them.
#[derive(Debug)]
pub struct Splits {
    /// Training examples.
    pub train: Dataset,
    /// Validation examples (held out of the training files).
    pub valid: Dataset,
    /// Test examples.
    pub test: Option<Dataset>,
    /// Per-channel mean.
    pub mean: Vec<f64>,
    /// Per-channel standard deviation.
    pub std: Vec<f64>,
    /// `[channels, height, width]`.
    pub shape: [i64; 3],
    /// Examples in the training files (before the validation split and any subset).
    pub available: i64,
}

impl Splits {
    /// One line on the sizes, saying when a subset is used.
    pub fn describe(&self, name: &str) -> String {
        let used = self.train.len() + self.valid.len();
        let subset = if used < self.available {
            format!(" (a subset of the {} training images)", self.available)
        } else {
            String::new()
        };
        let test = match &self.test {
            Some(t) => format!(", {} test images", t.len()),
            None => ", no test set".to_string(),
        };
        format!(
            "data: {name}, {} training + {} validation images{subset}{test}, {}x{}x{}",
            self.train.len(),
            self.valid.len(),
            self.shape[0],
            self.shape[1],
            self.shape[2]
        )
    }
}

/// Where Debian's `dataset-fashion-mnist` puts its files.
pub const FASHION_MNIST_DIR: &str = "/usr/share/datasets/fashion-mnist";

fn first_existing(dir: &Path, names: &[&str]) -> PathBuf {
    names
        .iter()
        .map(|n| dir.join(n))
        .find(|p| p.exists())
        .unwrap_or_else(|| dir.join(names[0]))
}

fn take(ds: Dataset, n: Option<i64>, seed: u64) -> Dataset {
    match n {
        Some(n) if n < ds.len() => {
            let perm = ds.permutation(seed);
            ds.select(&perm.narrow(0, 0, n))
        }
        _ => ds,
    }
}

/// Loads the data; `base` resolves a relative `root`; `seed` fixes the validation split.
pub fn load_splits(a: &DataArgs, base: &Path, seed: u64) -> Result<Splits, DataError> {
    let root = a.root.as_ref().map(|r| {
        if r.is_absolute() {
            r.clone()
        } else {
            base.join(r)
        }
    });
    let (train_all, test, mean, std) = match a.dataset {
        DataSource::FashionMnist | DataSource::Mnist => {
            let dir = root.unwrap_or_else(|| PathBuf::from(FASHION_MNIST_DIR));
            if !dir.is_dir() {
                return Err(DataError::Io {
                    path: dir.display().to_string(),
                    message: "directory not found (install the Debian package `dataset-fashion-mnist`, or set `data.root`)".into(),
                });
            }
            let f = |stem: &str| first_existing(&dir, &[&format!("{stem}.gz"), stem]);
            let train = idx::load(
                &f("train-images-idx3-ubyte"),
                &f("train-labels-idx1-ubyte"),
                10,
            )?;
            let test = if a.test_size == Some(0) {
                None
            } else {
                Some(idx::load(
                    &f("t10k-images-idx3-ubyte"),
                    &f("t10k-labels-idx1-ubyte"),
                    10,
                )?)
            };
            let (m, s) = if a.dataset == DataSource::FashionMnist {
                (0.2860, 0.3530)
            } else {
                (0.1307, 0.3081)
            };
            (train, test, vec![m], vec![s])
        }
        DataSource::Cifar10 => {
            let dir = root.ok_or_else(|| DataError::Settings("CIFAR-10 needs `data.root`: the directory of data_batch_1.bin … test_batch.bin".into()))?;
            let train_files: Vec<PathBuf> = (1..=5)
                .map(|i| dir.join(format!("data_batch_{i}.bin")))
                .filter(|p| p.exists())
                .collect();
            if train_files.is_empty() {
                return Err(DataError::Io {
                    path: dir.join("data_batch_1.bin").display().to_string(),
                    message: "file not found".into(),
                });
            }
            let refs: Vec<&Path> = train_files.iter().map(PathBuf::as_path).collect();
            let train = cifar::load(&refs)?;
            let t = dir.join("test_batch.bin");
            let test = if a.test_size == Some(0) || !t.exists() {
                None
            } else {
                Some(cifar::load(&[&t])?)
            };
            (
                train,
                test,
                vec![0.4914, 0.4822, 0.4465],
                vec![0.2470, 0.2435, 0.2616],
            )
        }
        DataSource::Synthetic => {
            // One draw (one set of class patterns) split into training and test parts.
            let n_test = if a.test_size == Some(0) {
                0
            } else {
                a.test_size.unwrap_or(a.synthetic_size / 2).max(1)
            };
            let n_train = a.synthetic_size + a.valid_size;
            let all = Dataset::synthetic(n_train + n_test, [1, 16, 16], 4, seed);
            let range = |lo: i64, hi: i64| {
                tch::Tensor::arange_start(lo, hi, (tch::Kind::Int64, tch::Device::Cpu))
            };
            let train = all.select(&range(0, n_train));
            let test = (n_test > 0).then(|| all.select(&range(n_train, n_train + n_test)));
            (train, test, vec![0.5], vec![0.3])
        }
    };
    if a.valid_size >= train_all.len() {
        return Err(DataError::Settings(format!(
            "valid_size ({}) must be smaller than the {} training examples",
            a.valid_size,
            train_all.len()
        )));
    }
    let available = train_all.len();
    let perm = train_all.permutation(modnas_core::seed::derive_seed(seed, "split", 0));
    let n_valid = a.valid_size;
    let valid = train_all.select(&perm.narrow(0, 0, n_valid));
    let rest = train_all.select(&perm.narrow(0, n_valid, train_all.len() - n_valid));
    let train = take(
        rest,
        a.train_size,
        modnas_core::seed::derive_seed(seed, "train_subset", 0),
    );
    let test = test.map(|t| {
        take(
            t,
            a.test_size,
            modnas_core::seed::derive_seed(seed, "test_subset", 0),
        )
    });
    let s = train.images.size();
    Ok(Splits {
        shape: [s[1], s[2], s[3]],
        train,
        valid,
        test,
        mean,
        std,
        available,
    })
}

//! The CIFAR-10 binary format: records of one label byte and 3×32×32 image bytes.

use super::{DataError, Dataset};
use std::path::Path;
use tch::{Kind, Tensor};

/// Bytes per record.
pub const RECORD: usize = 1 + 3 * 32 * 32;

/// Loads CIFAR-10 binary batch files (`data_batch_1.bin` … or `test_batch.bin`).
pub fn load(files: &[&Path]) -> Result<Dataset, DataError> {
    let mut images = Vec::new();
    let mut labels = Vec::new();
    for f in files {
        let b = std::fs::read(f).map_err(|e| DataError::io(f, e))?;
        if b.is_empty() || b.len() % RECORD != 0 {
            return Err(DataError::format(
                f,
                format!(
                    "{} bytes is not a whole number of {RECORD}-byte CIFAR-10 records",
                    b.len()
                ),
            ));
        }
        for rec in b.chunks_exact(RECORD) {
            if rec[0] > 9 {
                return Err(DataError::format(
                    f,
                    format!("label {} is not a CIFAR-10 class (0-9)", rec[0]),
                ));
            }
            labels.push(rec[0]);
            images.extend_from_slice(&rec[1..]);
        }
    }
    let n = labels.len() as i64;
    Ok(Dataset {
        images: Tensor::from_slice(&images)
            .view([n, 3, 32, 32])
            .to_kind(Kind::Float)
            / 255.0,
        labels: Tensor::from_slice(&labels).to_kind(Kind::Int64),
        n_classes: 10,
    })
}

//! The IDX format of MNIST and Fashion-MNIST (optionally gzipped).

use super::{DataError, Dataset};
use std::io::Read;
use std::path::Path;
use tch::{Kind, Tensor};

fn read_all(path: &Path) -> Result<Vec<u8>, DataError> {
    let raw = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .map_err(|e| DataError::format(path, format!("corrupt gzip data ({e})")))?;
        Ok(out)
    } else {
        Ok(raw)
    }
}

/// Reads an IDX file: returns its dimensions and its bytes (u8 data only).
pub fn read_idx(path: &Path, expected_dims: usize) -> Result<(Vec<usize>, Vec<u8>), DataError> {
    let b = read_all(path)?;
    if b.len() < 4 {
        return Err(DataError::format(
            path,
            format!("too short to be an IDX file ({} bytes)", b.len()),
        ));
    }
    if b[0] != 0 || b[1] != 0 {
        return Err(DataError::format(
            path,
            format!(
                "not an IDX file (magic {:02x}{:02x}{:02x}{:02x})",
                b[0], b[1], b[2], b[3]
            ),
        ));
    }
    if b[2] != 0x08 {
        return Err(DataError::format(
            path,
            format!("element type 0x{:02x} is not unsigned bytes (0x08)", b[2]),
        ));
    }
    let ndim = b[3] as usize;
    if ndim != expected_dims {
        return Err(DataError::format(
            path,
            format!("has {ndim} dimensions, expected {expected_dims}"),
        ));
    }
    let header = 4 + 4 * ndim;
    if b.len() < header {
        return Err(DataError::format(
            path,
            "the header is truncated".to_string(),
        ));
    }
    let dims: Vec<usize> = (0..ndim)
        .map(|i| {
            u32::from_be_bytes([b[4 + 4 * i], b[5 + 4 * i], b[6 + 4 * i], b[7 + 4 * i]]) as usize
        })
        .collect();
    let n: usize = dims.iter().product();
    if b.len() != header + n {
        return Err(DataError::format(
            path,
            format!(
                "the header announces {n} bytes of data {dims:?}, the file holds {}",
                b.len() - header
            ),
        ));
    }
    Ok((dims, b[header..].to_vec()))
}

/// Loads images (`[N, rows, cols]`) and labels (`[N]`) from IDX files into a dataset with values
/// in `[0, 1]`.
pub fn load(images: &Path, labels: &Path, n_classes: i64) -> Result<Dataset, DataError> {
    let (idims, ibytes) = read_idx(images, 3)?;
    let (ldims, lbytes) = read_idx(labels, 1)?;
    if idims[0] != ldims[0] {
        return Err(DataError::format(
            labels,
            format!(
                "holds {} labels for {} images in {}",
                ldims[0],
                idims[0],
                images.display()
            ),
        ));
    }
    if let Some(bad) = lbytes.iter().find(|&&l| l as i64 >= n_classes) {
        return Err(DataError::format(
            labels,
            format!("label {bad} is not below the number of classes ({n_classes})"),
        ));
    }
    let images_t = Tensor::from_slice(&ibytes)
        .view([idims[0] as i64, 1, idims[1] as i64, idims[2] as i64])
        .to_kind(Kind::Float)
        / 255.0;
    let labels_t = Tensor::from_slice(&lbytes).to_kind(Kind::Int64);
    Ok(Dataset {
        images: images_t,
        labels: labels_t,
        n_classes,
    })
}

/// Writes an IDX file (tests and tools).
pub fn write_idx(path: &Path, dims: &[usize], data: &[u8]) -> std::io::Result<()> {
    let mut out = vec![0u8, 0, 0x08, dims.len() as u8];
    for d in dims {
        out.extend_from_slice(&(*d as u32).to_be_bytes());
    }
    out.extend_from_slice(data);
    std::fs::write(path, out)
}

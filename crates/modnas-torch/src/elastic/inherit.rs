//! Weights of a narrow or shallow network taken from an elastic supernet: every variable takes the
//! leading slice of the supernet variable of the same name. Because elastic widths use a
//! feature map's first channels (after [`super::ElasticSpatial::rerank`] physically reordered
//! them) and elastic depths the first blocks, the stand-alone network then computes exactly what
//! the supernet computes with the same choices.

use std::collections::HashMap;
use std::path::Path;
use tch::{Tensor, nn};

/// What [`inherit`] copied.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InheritReport {
    /// Variables copied whole.
    pub whole: usize,
    /// Variables copied as a leading slice of a larger one.
    pub sliced: usize,
    /// Variables the source does not have (left as they were).
    pub missing: Vec<String>,
}

/// Copies into every variable of `vs` the leading slice of the same-named tensor of `from`
/// (the whole tensor when the shapes are equal). Variables `from` lacks are listed in the report;
/// one larger than its source in some dimension is an error naming it.
pub fn inherit(vs: &nn::VarStore, from: &HashMap<String, Tensor>) -> Result<InheritReport, String> {
    let mut r = InheritReport::default();
    tch::no_grad(|| {
        let mut vars: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        for (name, t) in vars {
            let Some(src) = from.get(&name) else {
                r.missing.push(name);
                continue;
            };
            let (want, have) = (t.size(), src.size());
            if want.len() != have.len() || want.iter().zip(&have).any(|(w, h)| w > h) {
                return Err(format!(
                    "variable `{name}` has shape {want:?}, which is not a slice of the source's {have:?}"
                ));
            }
            let mut s = src.shallow_clone();
            for (d, &n) in want.iter().enumerate() {
                s = s.narrow(d as i64, 0, n);
            }
            t.shallow_clone()
                .copy_(&s.to_device(t.device()).to_kind(t.kind()));
            if want == have {
                r.whole += 1;
            } else {
                r.sliced += 1;
            }
        }
        Ok(r)
    })
}

/// [`inherit`] from a saved weights file (`weights.ot`).
pub fn inherit_from_file(vs: &nn::VarStore, file: &Path) -> Result<InheritReport, String> {
    let named = Tensor::load_multi(file)
        .map_err(|e| format!("cannot read weights from {}: {e}", file.display()))?;
    inherit(vs, &named.into_iter().collect())
}

//! Parameter and MAC counts, checked against counts made by hand.

mod common;

use common::backbone;
use modnas_torch::metrics::count;
use modnas_torch::mixed::MixKind;
use modnas_torch::model::{Conversion, Model, ModelOptions};
use modnas_torch::ops::OpStyle;
use tch::{Device, Tensor};

fn model(conversion: Conversion) -> Model {
    let bb = backbone(
        "{type: ConvNet, args: {chn_in: 1, image_size: 8, widths: [4], blocks: 1, n_classes: 3}}",
    );
    Model::build(
        bb.as_ref(),
        &ModelOptions {
            conversion,
            style: OpStyle::default(),
            seed: 0,
            device: Device::Cpu,
        },
    )
    .expect("model")
}

// Stem: 3×3 conv 1→4 (36 weights, 36 MACs per pixel of 8×8) and batch norm (8); classifier 4→3
// (12 weights + 3 biases, 12 MACs). The slot is 4→4 at 8×8.
const STEM_PARAMS: f64 = 36.0 + 8.0 + 15.0;
const STEM_MACS: f64 = 36.0 * 64.0 + 12.0;

#[test]
fn a_fixed_network_is_counted_exactly() {
    let desc = serde_json::json!({"stage0-block0": "NC3"})
        .as_object()
        .cloned()
        .expect("map");
    let m = model(Conversion::Fixed(desc));
    let (c, _) = count(&m, [1, 8, 8]);
    // NC3: ReLU, 3×3 conv 4→4 (144 weights), batch norm (8).
    assert_eq!(c.params, STEM_PARAMS + 152.0);
    assert_eq!(c.macs, STEM_MACS + 144.0 * 64.0);
    assert_eq!(
        c.params,
        m.n_params() as f64,
        "every weight is counted once"
    );
}

#[test]
fn mixed_operators_count_candidates_by_probability_and_the_count_is_differentiable() {
    let m = model(Conversion::Mixed {
        kind: MixKind::SoftmaxSum,
        candidates: Some(vec!["NC1".into(), "NC3".into()]),
    });
    tch::no_grad(|| {
        for a in m.alphas() {
            let _ = a.shallow_clone().fill_(0.0);
        }
    });
    let (c, t) = count(&m, [1, 8, 8]);
    // p = (½, ½): NC1 has 16 + 8 weights and 16 MACs per pixel, NC3 144 + 8 and 144.
    assert!(
        (c.params - (STEM_PARAMS + 0.5 * 24.0 + 0.5 * 152.0)).abs() < 1e-9,
        "{c:?}"
    );
    assert!(
        (c.macs - (STEM_MACS + 0.5 * 16.0 * 64.0 + 0.5 * 144.0 * 64.0)).abs() < 1e-6,
        "{c:?}"
    );
    let t = t.expect("a differentiable count");
    assert!((t.double_value(&[]) - c.macs).abs() < 1e-3);
    let g = Tensor::run_backward(&[t], &m.alphas(), false, false);
    let g: Vec<f64> = Vec::try_from(g[0].to_kind(tch::Kind::Double)).expect("gradient");
    // d/dα₁ (p₁·1024 + p₂·9216) = p₁p₂(1024 − 9216) = −2048.
    assert!(
        (g[0] + 2048.0).abs() < 1e-2 && (g[1] - 2048.0).abs() < 1e-2,
        "{g:?}"
    );
    // Index: the chosen candidate only.
    let idx = model(Conversion::Mixed {
        kind: MixKind::Index,
        candidates: Some(vec!["NC1".into(), "NC3".into()]),
    });
    let (c, _) = count(&idx, [1, 8, 8]);
    assert_eq!(c.macs, STEM_MACS + 16.0 * 64.0);
}

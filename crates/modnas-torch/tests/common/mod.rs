//! Shared helpers of the tensor-layer tests.
#![allow(dead_code)]

use modnas_core::config::{ComponentSpec, yaml::parse_str};
use modnas_torch::backbones::{Backbone, BackboneContext, registry};
use modnas_torch::mixed::MixKind;
use modnas_torch::model::{Conversion, Model, ModelOptions};
use modnas_torch::ops::OpStyle;
use std::sync::{Mutex, MutexGuard};
use tch::{Device, Kind, Tensor};

static RNG: Mutex<()> = Mutex::new(());

/// Serialises the tests of one binary that seed libtorch's generator: it is global to the
/// process, so a test running beside another draws numbers the other's seed did not fix. Hold
/// the guard for the whole test (building the model and drawing the data included).
pub fn rng_lock() -> MutexGuard<'static, ()> {
    RNG.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A backbone from a YAML `model:` value.
pub fn backbone(model_yaml: &str) -> Box<dyn Backbone> {
    let n = parse_str("test", &format!("model: {model_yaml}")).expect("valid YAML");
    let spec = ComponentSpec::parse(n.get("model").expect("model"), "model").expect("spec");
    registry()
        .build(&spec, &BackboneContext)
        .expect("backbone builds")
}

/// A small ConvNet (1×8×8 inputs, widths 4 and 6) with mixed operators of `kind`.
pub fn tiny_convnet(kind: MixKind, candidates: &[&str], seed: u64) -> Model {
    let bb = backbone(
        "{type: ConvNet, args: {chn_in: 1, image_size: 8, widths: [4, 6], blocks: 1, n_classes: 3}}",
    );
    Model::build(
        bb.as_ref(),
        &ModelOptions {
            conversion: Conversion::Mixed {
                kind,
                candidates: Some(candidates.iter().map(|s| s.to_string()).collect()),
            },
            style: OpStyle::default(),
            seed,
            device: Device::Cpu,
        },
    )
    .expect("model builds")
}

/// A batch of `n` double-precision 1×8×8 inputs and labels of 3 classes.
pub fn batch(n: i64, seed: i64) -> (Tensor, Tensor) {
    tch::manual_seed(seed);
    (
        Tensor::randn([n, 1, 8, 8], (Kind::Double, Device::Cpu)),
        Tensor::randint(3, [n], (Kind::Int64, Device::Cpu)),
    )
}

/// Flattens tensors into one vector of f64.
pub fn flat(ts: &[Tensor]) -> Vec<f64> {
    ts.iter()
        .flat_map(|t| Vec::<f64>::try_from(t.to_kind(Kind::Double).flatten(0, -1)).expect("f64"))
        .collect()
}

/// Central finite differences of `f` with respect to every element of `params`.
pub fn finite_differences(params: &[Tensor], h: f64, mut f: impl FnMut() -> f64) -> Vec<f64> {
    let mut out = Vec::new();
    for p in params {
        let n = p.numel() as i64;
        let flat = p.view([-1]);
        for i in 0..n {
            let orig = tch::no_grad(|| flat.get(i).double_value(&[]));
            let set = |v: f64| {
                tch::no_grad(|| {
                    let _ = flat.get(i).fill_(v);
                })
            };
            set(orig + h);
            let plus = f();
            set(orig - h);
            let minus = f();
            set(orig);
            out.push((plus - minus) / (2.0 * h));
        }
    }
    out
}

/// Asserts that `got` matches `want` to `rel` of the largest magnitude.
pub fn assert_close(got: &[f64], want: &[f64], rel: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    let scale = want.iter().fold(0.0f64, |m, v| m.max(v.abs())).max(1e-12);
    let err = got
        .iter()
        .zip(want)
        .fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
    assert!(
        err <= rel * scale,
        "{what}: max error {err:.3e} > {rel} × {scale:.3e}\n got  {got:?}\n want {want:?}"
    );
}

/// Small arguments for each backbone, so that every one builds and runs on a CPU in a moment.
pub fn small_args(name: &str) -> &'static str {
    match name {
        "DARTS" => "{chn_in: 1, chn: 4, layers: 3, nodes: 2, image_size: 8}",
        "MobileNetV2" => "{image_size: 32, n_classes: 5, width_mult: 0.25, depth_mult: 0.5}",
        "CIFAR-MobileNetV2" => "{image_size: 16}",
        "ResNet" => "{blocks: [1, 1], width: 4, image_size: 8}",
        "CIFAR-ResNet-20" => "{image_size: 8}",
        "ImageNet-ResNet-18" | "ImageNet-ResNet-50" | "ImageNet-ResNeXt-50" => {
            "{image_size: 32, n_classes: 5}"
        }
        "ConvNet" => "{image_size: 8, widths: [4, 8], blocks: 1}",
        "NB201" => "{chn: 4, cells: 1, image_size: 8}",
        "MobileNetV2-Elastic" => {
            "{image_size: 16, n_classes: 5, cifar: true, width_mult: 0.25, last_channels: 16, depths: [1, 2]}"
        }
        other => panic!("no small arguments for backbone `{other}`: add them here"),
    }
}

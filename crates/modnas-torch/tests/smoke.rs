use modnas_core::config::{ComponentSpec, yaml::parse_str};
use modnas_torch::backbones::{BackboneContext, registry};
use modnas_torch::mixed::MixKind;
use modnas_torch::model::{Conversion, Model, ModelOptions};
use modnas_torch::ops::OpStyle;
use tch::{Device, Kind, Tensor};

#[test]
fn darts_supernet_forward() {
    let n = parse_str("t", "model: {type: DARTS, args: {chn_in: 1, chn: 4, n_classes: 10, layers: 3, nodes: 2, image_size: 16}}").unwrap();
    let spec = ComponentSpec::parse(n.get("model").unwrap(), "model").unwrap();
    let bb = registry().build(&spec, &BackboneContext).unwrap();
    for kind in MixKind::ALL {
        let m = Model::build(
            bb.as_ref(),
            &ModelOptions {
                conversion: Conversion::Mixed {
                    kind,
                    candidates: None,
                },
                style: OpStyle::default(),
                seed: 1,
                device: Device::Cpu,
            },
        )
        .unwrap();
        let x = Tensor::randn([2, 1, 16, 16], (Kind::Float, Device::Cpu));
        let y = m.forward(&x, true);
        assert_eq!(y.size(), vec![2, 10], "{kind:?}");
        let desc = m.export();
        eprintln!(
            "{kind:?}: {} slots, {} alphas, {} params; desc {}",
            m.slots.len(),
            m.alphas().len(),
            m.space.len(),
            serde_json::to_string(&desc).unwrap()
        );
        let fixed = Model::build(
            bb.as_ref(),
            &ModelOptions {
                conversion: Conversion::Fixed(desc),
                style: OpStyle::default(),
                seed: 1,
                device: Device::Cpu,
            },
        )
        .unwrap();
        assert_eq!(fixed.forward(&x, false).size(), vec![2, 10]);
    }
}

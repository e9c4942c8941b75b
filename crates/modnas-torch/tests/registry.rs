//! Every registered component of the tensor layer, exercised: backbones, primitives, mixed
//! operators, gradient optimizers and estimators; and the data loaders on files the tests write.

mod common;

use common::{backbone, tiny_convnet};
use modnas_core::config::{ComponentSpec, yaml::parse_str};
use modnas_torch::backbones;
use modnas_torch::data::{DataArgs, DataSource, Dataset, Loader, cifar, idx, load_splits};
use modnas_torch::grad::{self, ArchBatch, ArchContext};
use modnas_torch::mixed::MixKind;
use modnas_torch::model::{Conversion, Model, ModelOptions};
use modnas_torch::ops::{CATALOGUE_EXAMPLES, OpStyle, OpsOrder, build_primitive};
use modnas_torch::routine::estim::{self, EstimCtx, EstimRun};
use modnas_torch::slot::SlotSpec;
use modnas_torch::train::{TrainArgs, weight_optimizer};
use std::collections::BTreeMap;
use tch::{Device, Kind, Tensor, nn};

#[test]
fn every_backbone_builds_runs_and_exports_under_every_mixed_operator() {
    let reg = backbones::registry();
    assert!(reg.entries().len() >= 8);
    for e in reg.entries() {
        let bb = backbone(&format!(
            "{{type: {}, args: {}}}",
            e.name,
            common::small_args(e.name)
        ));
        let kinds: &[MixKind] = if e.name.starts_with("ImageNet") {
            &[MixKind::SoftmaxSum]
        } else {
            &MixKind::ALL
        };
        for &kind in kinds {
            let m = Model::build(
                bb.as_ref(),
                &ModelOptions {
                    conversion: Conversion::Mixed {
                        kind,
                        candidates: None,
                    },
                    style: OpStyle::default(),
                    seed: 0,
                    device: Device::Cpu,
                },
            )
            .unwrap_or_else(|err| panic!("{} with {kind:?}: {err}", e.name));
            let elastic = m.elastic.params().len();
            assert!(
                !m.slots.is_empty() || elastic > 0,
                "{}: nothing to search",
                e.name
            );
            let s = bb.input_shape();
            let x = Tensor::randn([2, s[0], s[1], s[2]], (Kind::Float, Device::Cpu));
            let y = m.forward(&x, true);
            assert_eq!(y.size(), vec![2, bb.n_classes()], "{} {kind:?}", e.name);
            let desc = m.export();
            assert_eq!(desc.len(), {
                let mut keys: Vec<String> = m
                    .slots
                    .all()
                    .iter()
                    .map(modnas_torch::model::share_key)
                    .collect();
                keys.sort();
                keys.dedup();
                keys.len() + elastic
            });
        }
    }
}

#[test]
fn every_catalogue_primitive_builds_with_the_slot_shape_in_every_order() {
    let vs = nn::VarStore::new(Device::Cpu);
    for order in [
        OpsOrder::ActWeightBn,
        OpsOrder::BnActWeight,
        OpsOrder::WeightBnAct,
        OpsOrder::WeightBn,
    ] {
        let style = OpStyle {
            ops_order: order,
            ..OpStyle::default()
        };
        for name in CATALOGUE_EXAMPLES {
            for (cin, cout, stride) in [(8, 8, 1), (8, 8, 2), (8, 16, 2), (8, 16, 1)] {
                let spec = SlotSpec {
                    name: format!("{name}-{cin}-{cout}-{stride}"),
                    chn_in: cin,
                    chn_out: cout,
                    stride,
                    kwargs: BTreeMap::new(),
                    share: None,
                };
                let p = vs.root() / format!("{order:?}") / format!("{name}_{cin}_{cout}_{stride}");
                match build_primitive(&p, name, &spec, &style) {
                    Ok(op) => {
                        let x = Tensor::randn([2, cin, 10, 10], (Kind::Float, Device::Cpu));
                        let y = op.forward_t(&x, true);
                        let hw = (10 + stride - 1) / stride;
                        assert_eq!(
                            y.size(),
                            vec![2, cout, hw, hw],
                            "{name} {order:?} {}",
                            spec.describe()
                        );
                        assert_eq!(&op.op_name(), name);
                    }
                    Err(err) => {
                        // Only pooling (and the identity of a 1×1 kind) may refuse to change channels.
                        assert!(
                            cin != cout && ["AVG", "MAX", "AP5", "MP5"].contains(name),
                            "{name} {order:?} {}: {err}",
                            spec.describe()
                        );
                        assert!(
                            err.to_string().contains(&spec.name),
                            "the error names the slot: {err}"
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn every_gradient_optimizer_changes_alpha_and_keeps_it_finite() {
    let (x, y) = (
        Tensor::randn([8, 1, 8, 8], (Kind::Float, Device::Cpu)),
        Tensor::randint(3, [8], (Kind::Int64, Device::Cpu)),
    );
    let reg = grad::registry();
    for e in reg.entries() {
        let spec =
            ComponentSpec::parse(&parse_str("t", e.name).expect("yaml"), "optim").expect("spec");
        let kind = grad::preferred_mixed_op(e.name)
            .unwrap_or_else(|| panic!("no mixed operator for `{}`", e.name));
        let mut m = tiny_convnet(kind, &["NC1", "NC3", "SC3", "AVG", "NIL"], 1);
        let mut o = reg
            .build(
                &spec,
                &ArchContext {
                    alphas: m.alphas(),
                    seed: 1,
                },
            )
            .expect("optimizer");
        assert_eq!(o.mixed_op(), kind, "{}", e.name);
        let before = common::flat(&m.alphas());
        let train = TrainArgs::default();
        let w = weight_optimizer(&m, &train);
        o.begin_epoch(&m, 0, 2);
        for _ in 0..12 {
            o.step(
                &mut m,
                &ArchBatch {
                    train: (&x, &y),
                    valid: (&x, &y),
                },
                &w,
                &train,
            )
            .unwrap_or_else(|err| panic!("{}: {err}", e.name));
        }
        let after = common::flat(&m.alphas());
        assert!(after.iter().all(|v| v.is_finite()), "{}: {after:?}", e.name);
        assert!(
            before.iter().zip(&after).any(|(a, b)| a != b),
            "{}: α did not move",
            e.name
        );
    }
}

#[test]
fn every_estimator_runs_an_epoch() {
    let reg = estim::registry();
    let splits = load_splits(
        &DataArgs {
            dataset: DataSource::Synthetic,
            synthetic_size: 64,
            valid_size: 32,
            test_size: Some(16),
            batch_size: 16,
            ..Default::default()
        },
        std::path::Path::new("."),
        0,
    )
    .expect("synthetic data");
    for e in reg.entries() {
        let spec = ComponentSpec::parse(
            &parse_str("t", &format!("{{type: {}, args: {{epochs: 1}}}}", e.name)).expect("yaml"),
            "estim",
        )
        .expect("spec");
        let mut est = reg.build(&spec, &EstimCtx).expect("estimator");
        let bb = backbone(
            "{type: ConvNet, args: {chn_in: 1, image_size: 16, n_classes: 4, widths: [4], blocks: 1}}",
        );
        let mut m = Model::build(
            bb.as_ref(),
            &ModelOptions {
                conversion: Conversion::Mixed {
                    kind: MixKind::SoftmaxSum,
                    candidates: Some(vec!["NC1".into(), "NC3".into()]),
                },
                style: OpStyle::default(),
                seed: 0,
                device: Device::Cpu,
            },
        )
        .expect("model");
        let spec_o =
            ComponentSpec::parse(&parse_str("t", "DARTS").expect("yaml"), "optim").expect("spec");
        let mut o = grad::registry()
            .build(
                &spec_o,
                &ArchContext {
                    alphas: m.alphas(),
                    seed: 0,
                },
            )
            .expect("optimizer");
        let train = TrainArgs::default();
        let mut w = weight_optimizer(&m, &train);
        let mut tl = Loader::new(
            &splits.train,
            &splits.mean,
            &splits.std,
            16,
            true,
            Default::default(),
            1,
            Device::Cpu,
        );
        let mut vl = Loader::new(
            &splits.valid,
            &splits.mean,
            &splits.std,
            16,
            true,
            Default::default(),
            2,
            Device::Cpu,
        );
        let mut te = Loader::new(
            splits.test.as_ref().expect("test"),
            &splits.mean,
            &splits.std,
            16,
            false,
            Default::default(),
            0,
            Device::Cpu,
        );
        let mut ticks = Vec::new();
        let r = est
            .run_epoch(
                &mut EstimRun {
                    model: &mut m,
                    optim: Some(o.as_mut()),
                    weights: &mut w,
                    train: &train,
                    train_loader: &mut tl,
                    valid_loader: &mut vl,
                    test_loader: Some(&mut te),
                    interrupt: &std::sync::atomic::AtomicBool::new(false),
                    on_batch: &mut |done, total, _| ticks.push((done, total)),
                },
                0,
            )
            .unwrap_or_else(|err| panic!("{}: {err}", e.name));
        assert_eq!(
            r.valid.n, 32,
            "{}: the whole validation set is evaluated",
            e.name
        );
        assert_eq!(r.train.n, 64, "{}", e.name);
        let batches = ticks.last().map_or(0, |t| t.1);
        assert_eq!(
            ticks,
            (1..=batches).map(|i| (i, batches)).collect::<Vec<_>>(),
            "{}: progress after every training batch",
            e.name
        );
        assert!(batches > 0, "{}", e.name);
        assert!(r.train.loss.is_finite());
    }
}

#[test]
fn idx_files_load_raw_and_gzipped_and_bad_ones_are_named() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let images: Vec<u8> = (0..5 * 4 * 4).map(|i| (i * 3 % 256) as u8).collect();
    let labels: Vec<u8> = vec![0, 1, 2, 9, 4];
    idx::write_idx(&dir.path().join("img"), &[5, 4, 4], &images).expect("write");
    idx::write_idx(&dir.path().join("lab"), &[5], &labels).expect("write");
    let ds = idx::load(&dir.path().join("img"), &dir.path().join("lab"), 10).expect("loads");
    assert_eq!(ds.images.size(), vec![5, 1, 4, 4]);
    assert_eq!(
        Vec::<i64>::try_from(&ds.labels).expect("labels"),
        vec![0, 1, 2, 9, 4]
    );
    let px = ds.images.get(0).get(0).get(0).get(1).double_value(&[]);
    assert!(
        (px - 3.0 / 255.0).abs() < 1e-6,
        "pixels are scaled to [0, 1]: {px}"
    );
    // The same through gzip.
    let gz = dir.path().join("img.gz");
    let mut enc = flate2::write::GzEncoder::new(
        std::fs::File::create(&gz).expect("create"),
        flate2::Compression::fast(),
    );
    std::io::Write::write_all(
        &mut enc,
        &std::fs::read(dir.path().join("img")).expect("read"),
    )
    .expect("gzip");
    enc.finish().expect("finish");
    let dz = idx::load(&gz, &dir.path().join("lab"), 10).expect("loads gzip");
    assert_eq!(dz.images.size(), ds.images.size());
    // Labels out of range, counts that differ, truncated data, a wrong magic number.
    idx::write_idx(&dir.path().join("bad-lab"), &[5], &[0, 1, 2, 10, 4]).expect("write");
    let e = idx::load(&dir.path().join("img"), &dir.path().join("bad-lab"), 10)
        .expect_err("label 10 of 10 classes");
    assert!(e.to_string().contains("bad-lab"), "{e}");
    idx::write_idx(&dir.path().join("short-lab"), &[4], &[0, 1, 2, 3]).expect("write");
    let e = idx::load(&dir.path().join("img"), &dir.path().join("short-lab"), 10)
        .expect_err("4 labels for 5 images");
    assert!(
        e.to_string().contains("short-lab") || e.to_string().contains("img"),
        "{e}"
    );
    let bytes = std::fs::read(dir.path().join("img")).expect("read");
    std::fs::write(dir.path().join("cut"), &bytes[..bytes.len() - 7]).expect("write");
    let e = idx::load(&dir.path().join("cut"), &dir.path().join("lab"), 10).expect_err("truncated");
    assert!(e.to_string().contains("cut"), "{e}");
    let mut wrong = bytes.clone();
    wrong[2] = 0x0d;
    std::fs::write(dir.path().join("magic"), &wrong).expect("write");
    let e = idx::load(&dir.path().join("magic"), &dir.path().join("lab"), 10)
        .expect_err("wrong type byte");
    assert!(e.to_string().contains("magic"), "{e}");
}

#[test]
fn cifar_binary_batches_load_and_truncated_ones_are_named() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let mut bytes = Vec::new();
    for i in 0..3u8 {
        bytes.push(i);
        bytes.extend(std::iter::repeat_n(i * 10, 3 * 32 * 32));
    }
    let f = dir.path().join("data_batch_1.bin");
    std::fs::write(&f, &bytes).expect("write");
    let ds = cifar::load(&[&f]).expect("loads");
    assert_eq!(ds.images.size(), vec![3, 3, 32, 32]);
    assert_eq!(
        Vec::<i64>::try_from(&ds.labels).expect("labels"),
        vec![0, 1, 2]
    );
    assert!((ds.images.get(2).max().double_value(&[]) - 20.0 / 255.0).abs() < 1e-6);
    std::fs::write(&f, &bytes[..bytes.len() - 1]).expect("write");
    let e = cifar::load(&[&f]).expect_err("truncated");
    assert!(e.to_string().contains("data_batch_1.bin"), "{e}");
}

#[test]
fn splits_are_fixed_by_the_seed_and_the_loader_covers_every_example() {
    let a = DataArgs {
        dataset: DataSource::Synthetic,
        synthetic_size: 40,
        valid_size: 20,
        batch_size: 7,
        ..Default::default()
    };
    let s1 = load_splits(&a, std::path::Path::new("."), 5).expect("data");
    let s2 = load_splits(&a, std::path::Path::new("."), 5).expect("data");
    assert_eq!(s1.train.len(), 40);
    assert_eq!(s1.valid.len(), 20);
    assert_eq!(
        Vec::<i64>::try_from(&s1.valid.labels).expect("l"),
        Vec::<i64>::try_from(&s2.valid.labels).expect("l")
    );
    let mut l = Loader::new(
        &s1.train,
        &s1.mean,
        &s1.std,
        7,
        true,
        Default::default(),
        3,
        Device::Cpu,
    );
    let mut n = 0;
    while let Some((x, _)) = l.next_batch(false) {
        n += x.size()[0];
    }
    assert_eq!(n, 40);
    // Augmentation keeps shapes.
    let aug = modnas_torch::data::Augment {
        crop_padding: 2,
        flip: true,
        cutout: 4,
    };
    let mut l = Loader::new(&s1.train, &s1.mean, &s1.std, 8, true, aug, 3, Device::Cpu);
    let (x, _) = l.next_batch(false).expect("batch");
    assert_eq!(x.size(), vec![8, 1, 16, 16]);
    let _ = Dataset::synthetic(4, [1, 4, 4], 2, 0);
}

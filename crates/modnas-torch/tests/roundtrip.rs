//! Export → reload: an architecture description exported from a supernet rebuilds exactly the
//! chosen network, which computes what the supernet computes with those choices.

mod common;

use common::backbone;
use modnas_core::param::{Assignment, Domain, ParamValue, Value};
use modnas_torch::backbones::Backbone;
use modnas_torch::mixed::MixKind;
use modnas_torch::model::{ArchDesc, Conversion, Model, ModelOptions, share_key};
use modnas_torch::ops::{Op, OpStyle};
use tch::{Device, Kind, Tensor};

/// libtorch's random generator is global: tests of this file run one at a time, so that seeded
/// initialisations and dropout masks are not interleaved with another test's draws.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

fn build(bb: &dyn Backbone, conversion: Conversion, seed: u64) -> Model {
    Model::build(
        bb,
        &ModelOptions {
            conversion,
            style: OpStyle::default(),
            seed,
            device: Device::Cpu,
        },
    )
    .expect("model builds")
}

/// Copies every variable of `dst` (weights and batch-norm statistics) from `src`, by name.
fn copy_weights(dst: &Model, src: &Model) {
    let from = src.vs.variables();
    tch::no_grad(|| {
        for (name, t) in dst.vs.variables() {
            let s = from.get(&name).unwrap_or_else(|| {
                panic!("`{name}` of the rebuilt network is not in the supernet")
            });
            assert_eq!(t.size(), s.size(), "shape of `{name}`");
            t.shallow_clone().copy_(s);
        }
    });
}

fn max_diff(a: &Tensor, b: &Tensor) -> f64 {
    (a - b).abs().max().double_value(&[])
}

fn check(bb: &dyn Backbone, candidates: Option<&[&str]>, shape: [i64; 4]) -> ArchDesc {
    check_pinned(bb, candidates, shape, &[])
}

/// [`check`] with α number `i` favouring candidate `j` for every `(i, j)` of `pin`.
fn check_pinned(
    bb: &dyn Backbone,
    candidates: Option<&[&str]>,
    shape: [i64; 4],
    pin: &[(usize, i64)],
) -> ArchDesc {
    let cands = candidates.map(|c| c.iter().map(|s| s.to_string()).collect::<Vec<_>>());
    let sup = build(
        bb,
        Conversion::Mixed {
            kind: MixKind::SoftmaxSum,
            candidates: cands.clone(),
        },
        1,
    );
    // A random architecture distribution, so that the export is not the first candidate everywhere.
    tch::manual_seed(42);
    tch::no_grad(|| {
        for a in sup.alphas() {
            a.shallow_clone()
                .copy_(&(Tensor::randn(a.size(), (Kind::Float, Device::Cpu)) * 3.0));
        }
    });
    tch::no_grad(|| {
        let alphas = sup.alphas();
        for &(i, j) in pin {
            let _ = alphas[i].get(j).fill_(10.0);
        }
    });
    let desc = sup.export();
    let fixed = build(bb, Conversion::Fixed(desc.clone()), 2);
    // Exactly the chosen operations, slot by slot.
    for s in fixed.slots.all() {
        let want = desc
            .get(s.name())
            .or_else(|| desc.get(&share_key(&s)))
            .and_then(|v| v.as_str())
            .unwrap_or_else(|| panic!("no entry for `{}`", s.name()));
        assert_eq!(s.op_name(), want, "slot `{}`", s.name());
    }
    // The same network as the supernet with those choices made by `Index` operators.
    let idx = build(
        bb,
        Conversion::Mixed {
            kind: MixKind::Index,
            candidates: cands,
        },
        1,
    );
    let mut idx = idx;
    let values: Vec<ParamValue> = idx
        .space
        .params()
        .iter()
        .map(|p| {
            // Slots of layer candidates that were not chosen are not described: any value.
            let Some(op) = desc.get(&p.name).and_then(|v| v.as_str()) else {
                return ParamValue::Choice(0);
            };
            match &p.domain {
                Domain::Categorical { choices } => ParamValue::Choice(
                    choices
                        .iter()
                        .position(|c| *c == Value::Str(op.to_string()))
                        .unwrap_or_else(|| panic!("`{op}` is not a candidate of `{}`", p.name)),
                ),
                other => panic!("unexpected domain {other:?}"),
            }
        })
        .collect();
    idx.apply(&Assignment(values)).expect("assignment applies");
    copy_weights(&fixed, &sup);
    copy_weights(&idx, &sup);
    tch::manual_seed(7);
    let x = Tensor::randn(shape, (Kind::Float, Device::Cpu));
    let (a, b) = tch::no_grad(|| (fixed.forward(&x, false), idx.forward(&x, false)));
    assert_eq!(max_diff(&a, &b), 0.0, "evaluation outputs differ");
    // Training mode (batch statistics; dropout draws the same masks from the same seed).
    let (a, b) = tch::no_grad(|| {
        tch::manual_seed(9);
        let a = fixed.forward(&x, true);
        tch::manual_seed(9);
        (a, idx.forward(&x, true))
    });
    assert_eq!(max_diff(&a, &b), 0.0, "training-mode outputs differ");
    // The rebuilt network keeps only the chosen operations' weights.
    assert!(fixed.n_params() < sup.n_params());
    desc
}

#[test]
fn darts_cells_export_top_two_edges_and_rebuild_exactly() {
    let _serial = serial();
    let bb =
        backbone("{type: DARTS, args: {chn_in: 1, chn: 4, layers: 3, nodes: 3, image_size: 8}}");
    let desc = check(bb.as_ref(), None, [3, 1, 8, 8]);
    // Every node of both cell kinds keeps exactly two non-zero incoming edges.
    for kind in ["normal", "reduce"] {
        for node in 2..5 {
            let kept = desc
                .iter()
                .filter(|(k, v)| {
                    k.starts_with(&format!("{kind}-node{node}-")) && v.as_str() != Some("NIL")
                })
                .count();
            assert_eq!(kept, 2, "{kind} node {node}: {desc:?}");
        }
    }
}

#[test]
fn convnet_resnet_and_mobilenet_rebuild_exactly() {
    let _serial = serial();
    let convnet =
        backbone("{type: ConvNet, args: {chn_in: 1, image_size: 8, widths: [4, 8], blocks: 2}}");
    check(
        convnet.as_ref(),
        Some(&["NC1", "NC3", "SC3", "DC3", "MAX", "IDT"]),
        [2, 1, 8, 8],
    );
    let resnet =
        backbone("{type: ResNet, args: {blocks: [1, 1], width: 4, chn_in: 3, image_size: 8}}");
    check(resnet.as_ref(), None, [2, 3, 8, 8]);
    let mbv2 = backbone("{type: CIFAR-MobileNetV2, args: {image_size: 16, n_classes: 4}}");
    check(mbv2.as_ref(), None, [2, 3, 16, 16]);
}

#[test]
fn a_description_written_to_yaml_and_read_back_rebuilds_the_same_network() {
    let _serial = serial();
    let bb =
        backbone("{type: ConvNet, args: {chn_in: 1, image_size: 8, widths: [4, 8], blocks: 1}}");
    let desc = check(bb.as_ref(), Some(&["NC3", "SC3", "DC3"]), [2, 1, 8, 8]);
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("best.yaml");
    let text = modnas_core::config::yaml::emit(
        &serde_json::json!({"metrics": {"val_acc": 50.0}, "arch": desc}),
    );
    std::fs::write(&path, text).expect("write");
    let back = modnas_torch::routine::load_arch_desc(&path).expect("reads back");
    assert_eq!(back, desc);
    let a = build(bb.as_ref(), Conversion::Fixed(back), 5);
    let b = build(bb.as_ref(), Conversion::Fixed(desc), 5);
    let x = Tensor::randn([2, 1, 8, 8], (Kind::Float, Device::Cpu));
    let (ya, yb) = tch::no_grad(|| (a.forward(&x, false), b.forward(&x, false)));
    assert_eq!(max_diff(&ya, &yb), 0.0);
    let _ = a.net.op_name();
}

#[test]
fn layer_candidates_make_hierarchical_spaces_that_export_and_rebuild() {
    let _serial = serial();
    let bb =
        backbone("{type: ConvNet, args: {chn_in: 1, image_size: 8, widths: [4, 8], blocks: 1}}");
    let cands = ["NC3", "SC3", "CHAIN2", "MULTI2X1"];
    // The first slot takes the two-slot chain, the second a plain convolution.
    let desc = check_pinned(bb.as_ref(), Some(&cands), [2, 1, 8, 8], &[(0, 2), (1, 0)]);
    assert_eq!(desc["stage0-block0"], "CHAIN2");
    assert_eq!(desc["stage1-block0"], "NC3");
    // The chosen chain's two slots are described, the others (of candidates not chosen) are not.
    let inner: Vec<&String> = desc.keys().filter(|k| k.contains('.')).collect();
    assert_eq!(
        inner,
        vec![
            "stage0-block0.CHAIN2-chain0-node0",
            "stage0-block0.CHAIN2-chain0-node1"
        ],
        "{desc:?}"
    );
    for k in inner {
        assert!(
            ["NC3", "SC3"].contains(&desc[k].as_str().expect("name")),
            "inner slots search the primitives only"
        );
    }
    // And the parallel layer.
    let desc = check_pinned(bb.as_ref(), Some(&cands), [2, 1, 8, 8], &[(0, 3), (1, 3)]);
    assert_eq!(
        desc.keys()
            .filter(|k| k.contains(".MULTI2X1-chain"))
            .count(),
        4,
        "{desc:?}"
    );
}

/// The export keeps the two strongest edges of every node, the strength of an edge being the
/// probability of its best non-zero operation (the zero op counts in the softmax but never as the
/// edge's operation). α is pinned so that the expected edges and operations are known.
#[test]
fn darts_export_keeps_the_top_two_edges_by_their_best_non_zero_operation() {
    let _serial = serial();
    let bb =
        backbone("{type: DARTS, args: {chn_in: 1, chn: 4, layers: 3, nodes: 3, image_size: 8}}");
    let sup = build(
        bb.as_ref(),
        Conversion::Mixed {
            kind: MixKind::SoftmaxSum,
            candidates: None,
        },
        1,
    );
    // Score of the best operation of the edge from `src` into `node`; the kept edges are the two
    // highest, which are not the first two for nodes 3 and 4.
    let score = |node: usize, src: usize| -> f64 {
        match node {
            2 => [2.0, 3.0][src],
            3 => [3.0, 1.0, 2.0][src],
            _ => [1.0, 3.0, 0.5, 2.5][src],
        }
    };
    let kept = |node: usize| -> [usize; 2] {
        match node {
            2 => [0, 1],
            3 => [0, 2],
            _ => [1, 3],
        }
    };
    let mut expected = std::collections::BTreeMap::new();
    sup.visit_mixed(|s, m| {
        let key = share_key(s);
        let (kind, rest) = key.split_once("-node").expect("a DAG edge key");
        let (node, src) = rest.split_once("-from").expect("a DAG edge key");
        let (node, src): (usize, usize) = (node.parse().expect("node"), src.parse().expect("src"));
        let nil = m.names().iter().position(|n| n == "NIL").expect("NIL");
        let non_zero: Vec<usize> = (0..m.names().len()).filter(|&i| i != nil).collect();
        let best = non_zero[(node + src) % non_zero.len()];
        let a = m.alpha().expect("α");
        tch::no_grad(|| {
            let _ = a.shallow_clone().fill_(0.0);
            let _ = a.get(best as i64).fill_(score(node, src));
            // A dominant zero op on an edge that would be kept if the zero op counted.
            if node == 3 && src == 1 {
                let _ = a.get(nil as i64).fill_(8.0);
            }
        });
        let want = if kept(node).contains(&src) {
            m.names()[best].clone()
        } else {
            "NIL".to_string()
        };
        expected.insert(format!("{kind}-node{node}-from{src}"), want);
    });
    assert_eq!(
        expected.len(),
        2 * (2 + 3 + 4),
        "both cell kinds, every edge"
    );
    let desc = sup.export();
    for (k, want) in &expected {
        assert_eq!(
            desc.get(k).and_then(|v| v.as_str()),
            Some(want.as_str()),
            "edge `{k}`: {desc:?}"
        );
    }
}

/// What a discrete search evaluates and what it reports are one network: a random assignment of
/// the `Index` space (every DAG edge chosen on its own, `NIL` included), written as a description
/// (`space.to_json`, as `best.yaml`'s `params:`), rebuilds a stand-alone network that computes
/// exactly what the supernet computes with that assignment.
#[test]
fn any_assignment_of_a_discrete_space_rebuilds_the_network_it_evaluated() {
    let _serial = serial();
    for spec in [
        "{type: DARTS, args: {chn_in: 1, chn: 4, layers: 3, nodes: 3, image_size: 8}}",
        "{type: ConvNet, args: {chn_in: 1, image_size: 8, widths: [4, 8], blocks: 2}}",
    ] {
        let bb = backbone(spec);
        let mut sup = build(
            bb.as_ref(),
            Conversion::Mixed {
                kind: MixKind::Index,
                candidates: None,
            },
            1,
        );
        let mut rng = modnas_core::seed::rng_from_seed(4);
        for round in 0..4 {
            let a = sup.space.sample(&mut rng);
            sup.apply(&a).expect("assignment applies");
            let desc: ArchDesc = sup.space.to_json(&a);
            let fixed = build(bb.as_ref(), Conversion::Fixed(desc.clone()), 2);
            for s in fixed.slots.all() {
                let want = desc
                    .get(s.name())
                    .or_else(|| desc.get(&share_key(&s)))
                    .and_then(|v| v.as_str())
                    .unwrap_or_else(|| panic!("no entry for `{}`", s.name()));
                assert_eq!(
                    s.op_name(),
                    want,
                    "{spec} round {round}: slot `{}`",
                    s.name()
                );
            }
            copy_weights(&fixed, &sup);
            tch::manual_seed(7);
            let x = Tensor::randn([2, 1, 8, 8], (Kind::Float, Device::Cpu));
            let (p, q) = tch::no_grad(|| (fixed.forward(&x, false), sup.forward(&x, false)));
            assert_eq!(
                max_diff(&p, &q),
                0.0,
                "{spec} round {round}: outputs differ"
            );
        }
    }
}

//! Every registered component, found through `modnas list`, is exercised in a real search.

mod common;
use common::{modnas, require_nb201, text};
use std::collections::BTreeMap;

/// `kind → names` parsed from `modnas list`.
fn listed() -> BTreeMap<String, Vec<String>> {
    let out = modnas().arg("list").output().unwrap();
    assert!(out.status.success());
    let mut kinds = BTreeMap::new();
    let mut current = String::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        if !line.starts_with(' ') && !line.is_empty() {
            current = line.split_whitespace().next().unwrap().to_string();
            kinds.insert(current.clone(), Vec::new());
        } else if line.starts_with("  ") && !line.starts_with("   ") {
            let name = line.split_whitespace().next().unwrap().to_string();
            kinds.get_mut(&current).unwrap().push(name);
        }
    }
    kinds
}

const QUAD: &str =
    "import json, sys\nx = float(sys.argv[1])\nprint(json.dumps({'loss': (x - 0.3) ** 2}))\n";

fn config(kind: &str, name: &str) -> String {
    let nb = "estim: {type: NasBench201}\nstop: {max_trials: 40}\n";
    match kind {
        // BOHB models learning curves: a multi-fidelity problem with steps.
        "optimizers" if name == "BOHB" => "estim: {type: MultiFidelity, args: {function: hartmann6, steps: 9}}\nstop: {max_trials: 30}\noptim: {type: BOHB, args: {max_resource: 9}}\n".to_string(),
        "optimizers" => format!("{nb}optim: {{type: {name}, args: {}}}\n", match name {
            "Evolution" | "GenerationalAgingEvolution" => "{pop_size: 10, n_select: 3}",
            "RegularizedEvolution" => "{population: 10, sample: 3}",
            "Smbo" => "{n_next: 10}",
            "BayesOpt" => "{n_initial: 5, candidates: 200, local: 50}",
            _ => "{}",
        }),
        "estimators" => match name {
            "LookupTable" => "estim: {type: LookupTable, args: {table: TABLE}}\nstop: {max_trials: 20}\n".to_string(),
            "NasBench201" => nb.to_string(),
            "Synthetic" => "estim: {type: Synthetic, args: {function: hartmann6}}\nstop: {max_trials: 20}\n".to_string(),
            "MultiFidelity" => "estim: {type: MultiFidelity, args: {function: hartmann6, steps: 9}}\nstop: {max_trials: 20}\nprune: ASHA\n".to_string(),
            "External" => "space: {x: {low: 0.0, high: 1.0}}\nestim: {type: External, args: {command: [python3, quad.py, \"{x}\"]}}\nobjectives: [loss:min]\nstop: {max_trials: 5}\n".to_string(),
            "SubNet" => format!("{TENSOR}{CONVNET}estim: {{type: SubNet, args: {{epochs: 1}}}}\nstop: {{max_trials: 2}}\n"),
            "SPOS" => format!("{TENSOR}{CONVNET}optim: RegularizedEvolution\nestim: {{type: SPOS, args: {{epochs: 1, num_bn_batch: 1}}}}\nstop: {{max_trials: 3}}\n"),
            "ProgressiveShrinking" => format!("{TENSOR}model: {{type: MobileNetV2-Elastic, args: {ELASTIC}}}\noptim: RegularizedEvolution\nestim: {{type: ProgressiveShrinking, args: {{epochs_per_stage: 1, max_steps: 1, num_bn_batch: 1}}}}\nstop: {{max_trials: 3}}\n"),
            "ZeroCost" => format!("{TENSOR}model: {{type: NB201, args: {NB201}}}\noptim: RandomSearch\nestim: {{type: ZeroCost, args: {{proxies: [synflow, grad_norm, snip]}}}}\nstop: {{max_trials: 3}}\n"),
            other => panic!("no test configuration for estimator {other}"),
        },
        "metrics" => format!("{nb}metrics: {{combined: {{type: {name}, args: {{terms: [{{metric: val_acc}}, {{metric: latency, base: 0.02, weight: -0.1}}]}}}}}}\nobjectives: [combined, latency:min]\n"),
        "pruners" => format!("estim: {{type: MultiFidelity, args: {{function: branin, steps: 9}}}}\nstop: {{max_trials: 20}}\nprune: {{type: {name}, args: {}}}\n", match name {
            "Hyperband" => "{max_resource: 9}",
            "Threshold" => "{upper: 1000}",
            _ => "{}",
        }),
        "surrogates" => format!("{nb}optim: {{type: Smbo, args: {{n_next: 10, surrogate: {name}, acquisition: {{type: Annealing, args: {{chains: 16}}}}}}}}\n"),
        "acquisitions" => format!("{nb}optim: {{type: Smbo, args: {{n_next: 10, acquisition: {name}}}}}\n"),
        // The tensor layer, on synthetic 1×16×16 images of 4 classes. An elastic network has no
        // operations to choose: a discrete search over its widths and depths.
        "backbones" if name == "MobileNetV2-Elastic" => format!("{TENSOR}model: {{type: {name}, args: {ELASTIC}}}\noptim: RandomSearch\nestim: {{type: SubNet, args: {{epochs: 1, max_steps: 1}}}}\nstop: {{max_trials: 2}}\n"),
        "backbones" => format!("{TENSOR}model: {{type: {name}, args: {}}}\noptim: DARTS\nestim: {{s: {{type: SuperNet, args: {{epochs: 1, max_steps: 2}}}}}}\n", match name {
            "DARTS" => "{chn_in: 1, image_size: 16, n_classes: 4, chn: 4, layers: 3, nodes: 2}",
            "MobileNetV2" => "{chn_in: 1, image_size: 16, n_classes: 4, width_mult: 0.25, depth_mult: 0.5}",
            "ResNet" => "{chn_in: 1, image_size: 16, n_classes: 4, blocks: [1, 1], width: 4}",
            "ConvNet" => "{chn_in: 1, image_size: 16, n_classes: 4, widths: [4, 8], blocks: 1}",
            "NB201" => NB201,
            _ => "{chn_in: 1, image_size: 16, n_classes: 4}",
        }),
        "gradient" => format!("{TENSOR}{CONVNET}optim: {name}\nestim: {{s: {{type: SuperNet, args: {{epochs: 1}}}}}}\n"),
        "network" => format!("{TENSOR}{CONVNET}optim: DARTS\nestim: {{s: {{type: {name}, args: {{epochs: 1}}}}}}\n"),
        "mixed" => format!("{TENSOR}{CONVNET}mixed_op: {name}\n{}", match name {
            "SoftmaxSum" => "optim: DARTS\nestim: {s: {type: SuperNet}}\n",
            "GumbelSum" => "optim: SNAS\nestim: {s: {type: SuperNet}}\n",
            "BinaryGate" => "optim: ProxylessNAS-G\nestim: {s: {type: SuperNet}}\n",
            "BinaryGateUniform" => "optim: ProxylessNAS-GU\nestim: {s: {type: SuperNet}}\n",
            _ => "estim: {s: {type: Default}}\n",
        }),
        other => panic!("unknown kind {other}"),
    }
}

const NB201: &str = "{chn_in: 1, image_size: 16, n_classes: 4, chn: 4, cells: 1}";
const ELASTIC: &str = "{chn_in: 1, image_size: 16, n_classes: 4, cifar: true, width_mult: 0.25, last_channels: 16, depths: [1, 2]}";
const TENSOR: &str = "data: {dataset: synthetic, synthetic_size: 32, valid_size: 16, test_size: 16, batch_size: 16}\nthreads: 1\n";
const CONVNET: &str = "model: {type: ConvNet, args: {chn_in: 1, image_size: 16, n_classes: 4, widths: [4, 8], blocks: 1}}\ncandidates: [NC1, NC3, SC3, AVG, NIL]\n";

/// The tensor layer's kinds in `modnas list` (primitives are name forms, built one by one in
/// modnas-torch's registry test).
const TENSOR_KINDS: &[&str] = &["backbones", "gradient", "network", "mixed"];

#[test]
fn every_registered_component_runs() {
    let table = require_nb201();
    let kinds = listed();
    for k in [
        "optimizers",
        "estimators",
        "metrics",
        "pruners",
        "surrogates",
        "acquisitions",
    ] {
        assert!(
            kinds.get(k).is_some_and(|v| !v.is_empty()),
            "`modnas list` shows no {k}"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("quad.py"), QUAD).unwrap();
    for k in TENSOR_KINDS.iter().chain(&["primitives"]) {
        assert!(
            kinds.get(*k).is_some_and(|v| !v.is_empty()),
            "`modnas list` shows no {k}"
        );
    }
    let mut runs = 0;
    for (kind, names) in &kinds {
        if kind == "primitives" {
            continue;
        }
        for name in names {
            let cfg = config(kind, name).replace("TABLE", &table.display().to_string());
            let file = format!("{kind}-{name}.yaml");
            std::fs::write(dir.path().join(&file), &cfg).unwrap();
            let out = modnas()
                .current_dir(dir.path())
                .args(["search", &file, "--runs-dir", "runs", "--no-progress", "-q"])
                .output()
                .unwrap();
            let (so, se) = text(&out);
            assert!(out.status.success(), "{kind} {name}:\n{so}\n{se}");
            // Gradient runs report their final training; discrete searches (with `max_trials`)
            // their best trial.
            if TENSOR_KINDS.contains(&kind.as_str()) && !cfg.contains("max_trials") {
                assert!(so.contains("final: "), "{kind} {name}: {so}");
            } else {
                assert!(so.contains("best "), "{kind} {name}: {so}");
            }
            runs += 1;
        }
    }
    assert!(runs >= 19 + 20, "{runs}");
}

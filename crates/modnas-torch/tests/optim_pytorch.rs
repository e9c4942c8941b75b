//! The weight optimizers against PyTorch itself: the same initial tensors and the same gradient
//! sequence go through `torch.optim.SGD` / `torch.optim.Adam` (run by the project's Python
//! environment) and through [`Optimizer`]; the parameters must agree to 1e-6 in double precision.
//!
//! The sequences include a parameter that gets a gradient on the first step only and one whose
//! first gradient arrives after many steps: PyTorch (`zero_grad(set_to_none=True)`) leaves a
//! parameter without a gradient untouched (no decay, no momentum) and counts Adam's bias
//! correction per parameter.

use modnas_torch::train::{OptimSpec, Optimizer};
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use tch::{Device, Kind, Tensor};

const TORCH_SCRIPT: &str = r#"
import json, sys
import torch
cfg = json.load(sys.stdin)
params = [torch.tensor(p, dtype=torch.float64, requires_grad=True) for p in cfg["init"]]
o = cfg["optim"]
if o["kind"] == "sgd":
    opt = torch.optim.SGD(params, lr=o["lr"], momentum=o["momentum"], nesterov=o["nesterov"],
                          weight_decay=o["weight_decay"])
else:
    opt = torch.optim.Adam(params, lr=o["lr"], betas=tuple(o["betas"]), eps=o["eps"],
                           weight_decay=o["weight_decay"])
for step in cfg["grads"]:
    opt.zero_grad(set_to_none=True)
    for p, g in zip(params, step):
        if g is not None:
            p.grad = torch.tensor(g, dtype=torch.float64)
    opt.step()
print(json.dumps([p.detach().tolist() for p in params]))
"#;

fn python() -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python");
    assert!(
        p.exists(),
        "these tests compare with PyTorch and need its Python environment at {} \
         (scripts/setup-torch installs it)",
        p.display()
    );
    p
}

/// Runs the PyTorch optimizer on `init` and `grads` (per step, per parameter, `None`: no gradient).
fn torch_reference(
    optim: serde_json::Value,
    init: &[Vec<f64>],
    grads: &[Vec<Option<Vec<f64>>>],
) -> Vec<Vec<f64>> {
    let cfg = serde_json::json!({"optim": optim, "init": init, "grads": grads});
    let mut child = Command::new(python())
        .arg("-c")
        .arg(TORCH_SCRIPT)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python starts");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(cfg.to_string().as_bytes())
        .expect("write the configuration");
    let out = child.wait_with_output().expect("python runs");
    assert!(
        out.status.success(),
        "the PyTorch reference failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "PyTorch printed no parameters ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// Runs [`Optimizer`] on the same sequence: each gradient is set by a backward pass of ⟨p, g⟩.
/// Also checks that `step` leaves the gradients as the backward pass made them.
fn modnas_run(
    spec: OptimSpec,
    init: &[Vec<f64>],
    grads: &[Vec<Option<Vec<f64>>>],
) -> Vec<Vec<f64>> {
    let params: Vec<Tensor> = init
        .iter()
        .map(|p| Tensor::from_slice(p).set_requires_grad(true))
        .collect();
    let mut o = Optimizer::new(spec, params.iter().map(Tensor::shallow_clone).collect());
    for (k, step) in grads.iter().enumerate() {
        o.zero_grad();
        for (p, g) in params.iter().zip(step) {
            if let Some(g) = g {
                (p * Tensor::from_slice(g)).sum(Kind::Double).backward();
            }
        }
        o.step();
        for (i, (p, g)) in params.iter().zip(step).enumerate() {
            if let Some(g) = g {
                let now: Vec<f64> = Vec::try_from(p.grad()).expect("f64 gradient");
                assert_eq!(
                    &now, g,
                    "step {k}: `step` changed the gradient of parameter {i}"
                );
            }
        }
    }
    params
        .iter()
        .map(|p| Vec::<f64>::try_from(p.detach()).expect("f64"))
        .collect()
}

/// A deterministic gradient of `n` entries for step `k` of parameter `i`.
fn grad(n: usize, i: usize, k: usize) -> Vec<f64> {
    (0..n)
        .map(|j| ((k * 7 + i * 3 + j) as f64 * 0.37).sin() * (1.0 + 0.1 * j as f64))
        .collect()
}

/// Per step, per parameter: its gradient, or `None` for no gradient.
type Gradients = Vec<Vec<Option<Vec<f64>>>>;

/// `steps` steps over three parameters: p0 has a gradient on every step, p1 on the first step
/// only (and again from `late` on), p2 only from `late` on.
fn sequence(steps: usize, late: usize) -> (Vec<Vec<f64>>, Gradients) {
    let init = vec![
        vec![1.0, -2.0, 0.5],
        vec![0.3, -0.7],
        vec![2.0, -1.5, 0.25, 4.0],
    ];
    let grads = (0..steps)
        .map(|k| {
            vec![
                Some(grad(3, 0, k)),
                (k == 0 || k >= late + 3).then(|| grad(2, 1, k)),
                (k >= late).then(|| grad(4, 2, k)),
            ]
        })
        .collect();
    (init, grads)
}

fn compare(what: &str, got: &[Vec<f64>], want: &[Vec<f64>]) {
    assert_eq!(got.len(), want.len(), "{what}: parameter count");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert_eq!(g.len(), w.len(), "{what}: length of parameter {i}");
        for (j, (a, b)) in g.iter().zip(w).enumerate() {
            assert!(
                (a - b).abs() <= 1e-6,
                "{what}: parameter {i}[{j}] is {a}, PyTorch gives {b}\n modnas  {got:?}\n PyTorch {want:?}"
            );
        }
    }
}

#[test]
fn sgd_matches_pytorch_with_momentum_nesterov_decay_and_missing_gradients() {
    let (init, grads) = sequence(40, 25);
    for (momentum, nesterov, weight_decay) in [
        (0.9, false, 0.01),
        (0.9, true, 0.01),
        (0.0, false, 0.05),
        (0.5, true, 0.0),
    ] {
        let want = torch_reference(
            serde_json::json!({"kind": "sgd", "lr": 0.1, "momentum": momentum,
                "nesterov": nesterov, "weight_decay": weight_decay}),
            &init,
            &grads,
        );
        let got = modnas_run(
            OptimSpec::Sgd {
                lr: 0.1,
                momentum,
                nesterov,
                weight_decay,
            },
            &init,
            &grads,
        );
        compare(
            &format!("SGD momentum {momentum}, nesterov {nesterov}, decay {weight_decay}"),
            &got,
            &want,
        );
    }
}

#[test]
fn adam_matches_pytorch_with_decay_and_a_late_first_gradient() {
    let (init, grads) = sequence(320, 300);
    for (betas, weight_decay) in [
        ((0.9, 0.999), 0.01),
        ((0.0, 0.999), 0.0),
        ((0.5, 0.99), 1e-3),
    ] {
        let want = torch_reference(
            serde_json::json!({"kind": "adam", "lr": 0.01, "betas": [betas.0, betas.1],
                "eps": 1e-8, "weight_decay": weight_decay}),
            &init,
            &grads,
        );
        let got = modnas_run(
            OptimSpec::Adam {
                lr: 0.01,
                betas,
                eps: 1e-8,
                weight_decay,
            },
            &init,
            &grads,
        );
        compare(
            &format!("Adam betas {betas:?}, decay {weight_decay}"),
            &got,
            &want,
        );
    }
}

/// The late parameter's first Adam update is lr·sign(g) (up to ε), whatever the global step.
#[test]
fn adam_first_update_of_a_late_parameter_is_the_learning_rate() {
    let early = Tensor::zeros([2], (Kind::Double, Device::Cpu)).set_requires_grad(true);
    let late = Tensor::zeros([2], (Kind::Double, Device::Cpu)).set_requires_grad(true);
    let mut o = Optimizer::new(
        OptimSpec::Adam {
            lr: 0.01,
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay: 0.0,
        },
        vec![early.shallow_clone(), late.shallow_clone()],
    );
    for k in 0..1001 {
        o.zero_grad();
        (&early * Tensor::from_slice(&[1.0, -1.0]))
            .sum(Kind::Double)
            .backward();
        if k == 1000 {
            (&late * Tensor::from_slice(&[0.3, -2.0]))
                .sum(Kind::Double)
                .backward();
        }
        o.step();
    }
    let got: Vec<f64> = Vec::try_from(&late.detach()).expect("f64");
    assert!(
        (got[0] + 0.01).abs() < 1e-7 && (got[1] - 0.01).abs() < 1e-7,
        "first update {got:?}, expected [-0.01, 0.01]"
    );
}

/// `zero_grad` clears gradients (as PyTorch's `set_to_none`), it does not keep zero tensors.
#[test]
fn zero_grad_leaves_no_gradient() {
    let p = Tensor::from_slice(&[1.0f64, 2.0]).set_requires_grad(true);
    let o = Optimizer::new(
        OptimSpec::Sgd {
            lr: 0.1,
            momentum: 0.9,
            nesterov: false,
            weight_decay: 0.0,
        },
        vec![p.shallow_clone()],
    );
    (&p * &p).sum(Kind::Double).backward();
    assert!(p.grad().defined());
    o.zero_grad();
    assert!(!p.grad().defined(), "the gradient is still defined");
}

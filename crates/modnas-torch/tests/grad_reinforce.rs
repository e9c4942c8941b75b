//! REINFORCE's baseline and gradient on fixed rewards: b ← b + d·(mean − b) (b starts at the first
//! mean), applied before the advantages r − b; ∂/∂α = −(1/N) Σₖ (rₖ − b) ∂ log softmax(α)[jₖ].

mod common;

use common::tiny_convnet;
use modnas_torch::grad::{Reinforce, ReinforceArgs};
use modnas_torch::mixed::MixKind;
use tch::{Kind, Tensor};

fn softmax(a: &Tensor) -> Vec<f64> {
    Vec::try_from(a.detach().softmax(0, Kind::Double)).expect("f64")
}

#[test]
fn baseline_and_gradient_follow_the_reference_rule() {
    let mut m = tiny_convnet(MixKind::BinaryGate, &["NC1", "NC3", "SC3", "AVG"], 2);
    m.to_double();
    let alphas = m.alphas();
    assert!(alphas.len() >= 2);
    let args = ReinforceArgs::default();
    let d = args.baseline_decay;
    assert_eq!(d, 0.99, "the reference's default decay");
    let mut r = Reinforce::new(args, m.alphas());
    assert_eq!(r.baseline(), None);
    // Two sampled paths per step: path k takes candidate (k + i) mod nᵢ at α number i.
    let n: Vec<usize> = alphas.iter().map(|a| a.numel()).collect();
    let paths: Vec<Vec<(Tensor, usize)>> = (0..2)
        .map(|k| {
            alphas
                .iter()
                .enumerate()
                .map(|(i, a)| (a.shallow_clone(), (k + i) % n[i]))
                .collect()
        })
        .collect();
    let mut b: Option<f64> = None;
    for rewards in [[0.2, 0.4], [0.6, 0.8], [0.1, 0.9]] {
        let mean = (rewards[0] + rewards[1]) / 2.0;
        let want_b = match b {
            None => mean,
            Some(b) => b + d * (mean - b),
        };
        b = Some(want_b);
        let probs: Vec<Vec<f64>> = alphas.iter().map(softmax).collect();
        let samples: Vec<(f64, Vec<(Tensor, usize)>)> = rewards
            .iter()
            .zip(&paths)
            .map(|(&rw, p)| (rw, p.iter().map(|(a, j)| (a.shallow_clone(), *j)).collect()))
            .collect();
        r.apply_rewards(&m, &samples);
        let got_b = r.baseline().expect("a baseline");
        assert!(
            (got_b - want_b).abs() < 1e-12,
            "rewards {rewards:?}: baseline {got_b}, expected {want_b}"
        );
        for (i, a) in alphas.iter().enumerate() {
            let g: Vec<f64> = Vec::try_from(a.grad()).expect("f64 gradient");
            let want: Vec<f64> = (0..n[i])
                .map(|c| {
                    -(0..2)
                        .map(|k| {
                            let hot = if (k + i) % n[i] == c { 1.0 } else { 0.0 };
                            (rewards[k] - want_b) * (hot - probs[i][c])
                        })
                        .sum::<f64>()
                        / 2.0
                })
                .collect();
            for c in 0..n[i] {
                assert!(
                    (g[c] - want[c]).abs() < 1e-9,
                    "rewards {rewards:?}, α {i}: gradient {g:?}, expected {want:?}"
                );
            }
        }
    }
}

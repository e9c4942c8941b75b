use super::*;
use modnas_core::param::{Domain, ParamValue, Value};

fn space_of(params: Vec<(&str, Domain)>) -> Arc<ParamSpace> {
    let mut s = ParamSpace::new();
    for (name, d) in params {
        s.add(name, d).unwrap();
    }
    Arc::new(s)
}

/// A categorical, a log-scale real, an integer and a log-scale integer.
fn mixed_space() -> Arc<ParamSpace> {
    space_of(vec![
        (
            "op",
            Domain::Categorical {
                choices: (0..4).map(Value::Int).collect(),
            },
        ),
        (
            "lr",
            Domain::Float {
                low: 1e-5,
                high: 1.0,
                log: true,
            },
        ),
        (
            "layers",
            Domain::Int {
                low: 1,
                high: 8,
                log: false,
            },
        ),
        (
            "batch",
            Domain::Int {
                low: 16,
                high: 512,
                log: true,
            },
        ),
    ])
}

fn args(max: u64) -> BohbArgs {
    BohbArgs {
        max_resource: Some(max),
        ..Default::default()
    }
}

/// A learning curve: the score at step `s` of a point of final quality `q` is `q − 1/s`.
fn quality(a: &Assignment) -> f64 {
    let v = a.values();
    let (ParamValue::Choice(op), ParamValue::Float(lr), ParamValue::Int(layers)) =
        (v[0], v[1], v[2])
    else {
        unreachable!()
    };
    -((op != 2) as u8 as f64) - (lr.log10() + 3.0).powi(2) / 4.0 - ((layers - 5) as f64).abs() / 4.0
}

/// Runs `trials` sequential ask/tell steps as Hyperband would: trial `n` runs to budget
/// `[1, 3, 9][n % 3]`, reporting every step; every seventh fails.
fn drive(opt: &mut Bohb, h: &mut History, trials: usize) {
    for _ in 0..trials {
        let a = opt.next(1).unwrap().remove(0);
        let number = h.proposed.len() as u64;
        h.proposed.push(a.clone());
        let q = quality(&a);
        let last = [1u64, 3, 9][number as usize % 3];
        let obs = Observation {
            number,
            score: (number % 7 != 3).then(|| q - 1.0 / last as f64),
            params: a,
            steps: (1..=last).map(|s| (s, q - 1.0 / s as f64)).collect(),
            ..Default::default()
        };
        opt.step(std::slice::from_ref(&obs)).unwrap();
        h.observed.push(obs);
    }
}

#[test]
fn state_round_trip_continues_exactly() {
    let space = mixed_space();
    let mut a = Bohb::new(space.clone(), 5, args(9));
    let mut h = History::default();
    drive(&mut a, &mut h, 30);
    assert!(a.model_budget().is_some(), "the model should be in use");
    let state = a.state();
    // Through JSON text, into a fresh optimizer.
    let mut b = Bohb::new(space.clone(), 999, args(9));
    b.restore(&state, &h).unwrap();
    assert_eq!(a.model_budget(), b.model_budget());
    for _ in 0..10 {
        assert_eq!(a.next(2).unwrap(), b.next(2).unwrap());
    }
    assert!(b.restore("{not json", &h).is_err());
}

#[test]
fn same_seed_same_proposals_other_seed_other_ones() {
    let space = mixed_space();
    let run = |seed: u64| {
        let mut o = Bohb::new(space.clone(), seed, args(9));
        let mut h = History::default();
        drive(&mut o, &mut h, 40);
        h.proposed
    };
    assert_eq!(run(3), run(3));
    assert_ne!(run(3), run(4));
}

/// One real parameter; observations at budgets 1, 3 and 9 disagree on where the good region
/// is: at budget 1 near 0.9, at budget 3 near 0.1, at budget 9 near 0.5.
#[test]
fn the_model_uses_the_largest_budget_with_enough_points() {
    let space = space_of(vec![(
        "x",
        Domain::Float {
            low: 0.0,
            high: 1.0,
            log: false,
        },
    )]);
    let a = BohbArgs {
        random_fraction: 0.0,
        avoid_duplicates: false,
        ..args(9)
    };
    let mut o = Bohb::new(space.clone(), 1, a);
    assert_eq!(o.budgets(), &[1, 3, 9]);
    // n_min = 2: a budget is modelled with 4 points.
    let xs = |n: usize| (0..n).map(move |i| (i as f64 + 0.5) / n as f64);
    let mut number = 0;
    // Where the optimum is at each budget.
    let opt = |s: u64| match s {
        1 | 2 => 0.9,
        3..=8 => 0.1,
        _ => 0.5,
    };
    let mut tell = |o: &mut Bohb, x: f64, last: u64| {
        let obs = Observation {
            number,
            params: Assignment(vec![ParamValue::Float(x)]),
            score: Some(-(x - opt(last)).abs()),
            steps: (1..=last).map(|s| (s, -(x - opt(s)).abs())).collect(),
            ..Default::default()
        };
        number += 1;
        o.step(&[obs]).unwrap();
    };
    for x in xs(12) {
        tell(&mut o, x, 1);
    }
    assert_eq!(o.model_budget(), Some(1));
    for x in xs(3) {
        tell(&mut o, x, 3);
    }
    // Three points at budget 3 (fewer than 4): still budget 1.
    assert_eq!(o.model_budget(), Some(1));
    let mean = |o: &mut Bohb| {
        let p = o.next(40).unwrap();
        p.iter()
            .map(|a| match a.0[0] {
                ParamValue::Float(x) => x,
                _ => unreachable!(),
            })
            .sum::<f64>()
            / p.len() as f64
    };
    let m1 = mean(&mut o);
    assert!(m1 > 0.65, "fitted at budget 1, proposals near 0.9: {m1}");
    for x in xs(6) {
        tell(&mut o, x, 3);
    }
    assert_eq!(o.model_budget(), Some(3));
    let m3 = mean(&mut o);
    assert!(m3 < 0.35, "fitted at budget 3, proposals near 0.1: {m3}");
    // Three full-budget trials: budget 3 still (budget 9 holds 3 < 4).
    for x in [0.2, 0.5, 0.8] {
        tell(&mut o, x, 9);
    }
    assert_eq!(o.model_budget(), Some(3));
    for x in [0.45, 0.55, 0.6] {
        tell(&mut o, x, 9);
    }
    assert_eq!(o.model_budget(), Some(9));
    let m9 = mean(&mut o);
    assert!((m9 - 0.5).abs() < 0.15, "fitted at budget 9: {m9}");
}

#[test]
fn proposals_stay_in_the_space() {
    let space = mixed_space();
    for seed in 0..4 {
        let mut o = Bohb::new(
            space.clone(),
            seed,
            BohbArgs {
                random_fraction: 0.0,
                ..args(9)
            },
        );
        let mut h = History::default();
        drive(&mut o, &mut h, 60);
        assert!(o.model_budget().is_some());
        for a in &h.proposed {
            space.validate(a).unwrap();
        }
        let keys: std::collections::HashSet<_> = h.proposed.iter().map(|a| a.key()).collect();
        assert_eq!(keys.len(), h.proposed.len(), "repeated a point");
    }
}

#[test]
fn the_model_beats_random_proposals() {
    let space = mixed_space();
    let best = |random_fraction: f64| {
        let mut total = 0.0;
        for seed in 0..6 {
            let mut o = Bohb::new(
                space.clone(),
                seed,
                BohbArgs {
                    random_fraction,
                    ..args(9)
                },
            );
            let mut h = History::default();
            drive(&mut o, &mut h, 60);
            total += h
                .proposed
                .iter()
                .map(quality)
                .fold(f64::NEG_INFINITY, f64::max);
        }
        total / 6.0
    };
    let (model, random) = (best(1.0 / 3.0), best(1.0));
    assert!(model > random, "BOHB {model} vs random {random}");
}

#[test]
fn the_companion_pruner_is_hyperband_and_arguments_are_checked() {
    let o = Bohb::new(mixed_space(), 0, args(27));
    assert!(o.companion_pruner().is_some());
    assert_eq!(o.budgets(), &[1, 3, 9, 27]);
    assert!(
        BohbArgs::default().check().is_err(),
        "max_resource required"
    );
    assert!(args(9).check().is_ok());
    for bad in [
        BohbArgs {
            top_n_percent: 0.0,
            ..args(9)
        },
        BohbArgs {
            random_fraction: 1.5,
            ..args(9)
        },
        BohbArgs {
            num_samples: 0,
            ..args(9)
        },
        BohbArgs {
            min_bandwidth: 0.0,
            ..args(9)
        },
        BohbArgs {
            eta: 1.0,
            ..args(9)
        },
    ] {
        assert!(bad.check().is_err(), "{bad:?}");
    }
}

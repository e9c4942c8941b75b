use super::*;
use modnas_core::param::{Domain, ParamValue, Value};
use modnas_core::seed::rng_from_seed;
use rand::RngExt;

fn cat(k: i64) -> Domain {
    Domain::Categorical {
        choices: (0..k).map(Value::Int).collect(),
    }
}

fn real(low: f64, high: f64, log: bool) -> Domain {
    Domain::Float { low, high, log }
}

fn int(low: i64, high: i64, log: bool) -> Domain {
    Domain::Int { low, high, log }
}

/// A space of the parameters given.
fn space_of(params: Vec<(&str, Domain)>) -> Arc<ParamSpace> {
    let mut s = ParamSpace::new();
    for (name, d) in params {
        s.add(name, d).unwrap();
    }
    Arc::new(s)
}

/// Two categoricals, a log-scale real, an integer and a log-scale integer.
fn mixed_space() -> Arc<ParamSpace> {
    let act = Domain::Categorical {
        choices: vec![Value::Str("relu".into()), Value::Str("gelu".into())],
    };
    space_of(vec![
        ("op", cat(4)),
        ("act", act),
        ("lr", real(1e-5, 1.0, true)),
        ("layers", int(1, 8, false)),
        ("batch", int(16, 512, true)),
    ])
}

/// A score with its maximum 0 at op = 2, act = gelu, lr = 1e-3, layers = 5, batch = 64.
fn score(a: &Assignment) -> f64 {
    let v = a.values();
    let (ParamValue::Choice(op), ParamValue::Choice(act)) = (v[0], v[1]) else {
        unreachable!()
    };
    let (ParamValue::Float(lr), ParamValue::Int(layers), ParamValue::Int(batch)) =
        (v[2], v[3], v[4])
    else {
        unreachable!()
    };
    -((op != 2) as u8 as f64)
        - 0.5 * (act != 1) as u8 as f64
        - (lr.log10() + 3.0).powi(2) / 4.0
        - ((layers - 5) as f64).abs() / 4.0
        - ((batch as f64).log2() - 6.0).abs() / 3.0
}

fn tpe(space: &Arc<ParamSpace>, seed: u64, args: TpeArgs) -> Tpe {
    Tpe::new(space.clone(), seed, args).unwrap()
}

/// Runs `trials` sequential ask/tell steps; every seventh trial fails.
fn drive(opt: &mut Tpe, h: &mut History, trials: usize) {
    for _ in 0..trials {
        let a = opt.next(1).unwrap().remove(0);
        let number = h.proposed.len() as u64;
        h.proposed.push(a.clone());
        let obs = Observation {
            number,
            score: (number % 7 != 3).then(|| score(&a)),
            params: a,
            metrics: Default::default(),
            steps: Vec::new(),
            scores: Vec::new(),
        };
        opt.step(std::slice::from_ref(&obs)).unwrap();
        h.observed.push(obs);
    }
}

#[test]
fn proposals_are_valid_and_deterministic() {
    let space = mixed_space();
    let variants = [
        TpeArgs {
            multivariate: false,
            ..Default::default()
        },
        TpeArgs::default(),
        TpeArgs {
            bandwidth: parzen::JointBandwidth::Neighbours,
            ..Default::default()
        },
        TpeArgs {
            groups: vec![vec!["op".into(), "lr".into()], vec!["batch".into()]],
            ..Default::default()
        },
    ];
    for args in variants {
        let multivariate = args.multivariate;
        let (mut a, mut b) = (tpe(&space, 5, args.clone()), tpe(&space, 5, args.clone()));
        let (mut ha, mut hb) = (History::default(), History::default());
        drive(&mut a, &mut ha, 60);
        drive(&mut b, &mut hb, 60);
        assert_eq!(ha.proposed, hb.proposed, "multivariate {multivariate}");
        for p in &ha.proposed {
            space.validate(p).unwrap();
        }
        let mut c = tpe(&space, 6, args);
        let mut hc = History::default();
        drive(&mut c, &mut hc, 60);
        assert_ne!(ha.proposed, hc.proposed);
    }
}

#[test]
fn resume_from_state_and_history_continues_exactly() {
    let space = mixed_space();
    for multivariate in [false, true] {
        let args = TpeArgs {
            multivariate,
            n_startup: 5,
            ..Default::default()
        };
        let mut full = tpe(&space, 9, args.clone());
        let mut hf = History::default();
        drive(&mut full, &mut hf, 50);

        let mut first = tpe(&space, 9, args.clone());
        let mut h = History::default();
        drive(&mut first, &mut h, 23);
        // Two proposals are still pending when the state is saved.
        let pend = first.next(2).unwrap();
        h.proposed.extend(pend.iter().cloned());
        let state = first.state();
        drop(first);
        let mut resumed = tpe(&space, 1234, args.clone());
        resumed.restore(&state, &h).unwrap();
        assert_eq!(resumed.pending(), pend.as_slice());
        // The same with the uninterrupted optimizer.
        let mut twin = tpe(&space, 9, args);
        let mut ht = History::default();
        drive(&mut twin, &mut ht, 23);
        let tp = twin.next(2).unwrap();
        assert_eq!(tp, pend);
        ht.proposed.extend(tp);
        for (k, a) in pend.iter().enumerate() {
            for o in [&mut resumed, &mut twin] {
                o.step(&[Observation {
                    number: 23 + k as u64,
                    params: a.clone(),
                    score: Some(score(a)),
                    metrics: Default::default(),
                    steps: Vec::new(),
                    scores: Vec::new(),
                }])
                .unwrap();
            }
        }
        let mut hr = h.clone();
        drive(&mut resumed, &mut hr, 20);
        drive(&mut twin, &mut ht, 20);
        assert_eq!(hr.proposed[25..], ht.proposed[25..], "mv {multivariate}");
        // And an interruption between sequential steps gives the uninterrupted run.
        let mut part = tpe(
            &space,
            9,
            TpeArgs {
                multivariate,
                n_startup: 5,
                ..Default::default()
            },
        );
        let mut hp = History::default();
        drive(&mut part, &mut hp, 31);
        let st = part.state();
        let mut again = tpe(
            &space,
            0,
            TpeArgs {
                multivariate,
                n_startup: 5,
                ..Default::default()
            },
        );
        again.restore(&st, &hp).unwrap();
        drive(&mut again, &mut hp, 19);
        assert_eq!(hp.proposed, hf.proposed, "mv {multivariate}");
    }
}

#[test]
fn beats_random_search_on_a_mixed_space() {
    let space = mixed_space();
    let (mut tpe_best, mut rs_best) = (0.0, 0.0);
    for seed in 0..10 {
        let mut o = tpe(&space, seed, TpeArgs::default());
        let mut h = History::default();
        drive(&mut o, &mut h, 80);
        tpe_best += h
            .observed
            .iter()
            .filter_map(|o| o.score)
            .fold(f64::MIN, f64::max);
        let mut rng = rng_from_seed(seed);
        rs_best += (0..80)
            .map(|_| score(&space.sample(&mut rng)))
            .fold(f64::MIN, f64::max);
    }
    assert!(tpe_best > rs_best, "TPE {tpe_best} vs random {rs_best}");
}

#[test]
fn categorical_good_choice_dominates_later_proposals() {
    // One categorical of 6 choices where only choice 4 scores; after the start-up TPE should
    // propose it far more often than 1 in 6.
    let space = space_of(vec![("c", cat(6)), ("x", real(0.0, 1.0, false))]);
    let mut o = tpe(&space, 2, TpeArgs::default());
    let mut hits = 0;
    for number in 0..100u64 {
        let a = o.next(1).unwrap().remove(0);
        let good = a.values()[0] == ParamValue::Choice(4);
        if number >= 30 && good {
            hits += 1;
        }
        let x = match a.values()[1] {
            ParamValue::Float(x) => x,
            _ => unreachable!(),
        };
        o.step(&[Observation {
            number,
            score: Some(good as u8 as f64 + 0.1 * x),
            params: a,
            metrics: Default::default(),
            steps: Vec::new(),
            scores: Vec::new(),
        }])
        .unwrap();
    }
    assert!(hits > 35, "choice 4 proposed {hits} times out of 70");
}

#[test]
fn constant_liar_spreads_a_batch() {
    // A single real parameter after 20 results: without the liar, a batch of 8 draws from the
    // same densities and clusters; with it each pending point pushes the next one away.
    let space = space_of(vec![("x", real(0.0, 1.0, false))]);
    let spread = |liar: bool, seed: u64| {
        let mut o = tpe(
            &space,
            seed,
            TpeArgs {
                constant_liar: liar,
                ..Default::default()
            },
        );
        let mut rng = rng_from_seed(seed + 100);
        for number in 0..20u64 {
            let a = o.next(1).unwrap().remove(0);
            let x = match a.values()[0] {
                ParamValue::Float(x) => x,
                _ => unreachable!(),
            };
            let noise: f64 = rng.random::<f64>() * 0.01;
            o.step(&[Observation {
                number,
                score: Some(-(x - 0.3).abs() + noise),
                params: a,
                metrics: Default::default(),
                steps: Vec::new(),
                scores: Vec::new(),
            }])
            .unwrap();
        }
        let batch: Vec<f64> = o
            .next(8)
            .unwrap()
            .iter()
            .map(|a| match a.values()[0] {
                ParamValue::Float(x) => x,
                _ => unreachable!(),
            })
            .collect();
        assert_eq!(batch.len(), 8);
        let m = batch.iter().sum::<f64>() / 8.0;
        (batch.iter().map(|x| (x - m).powi(2)).sum::<f64>() / 8.0).sqrt()
    };
    let (mut with, mut without) = (0.0, 0.0);
    for seed in 0..10 {
        with += spread(true, seed);
        without += spread(false, seed);
    }
    assert!(
        with > 1.5 * without,
        "spread with liar {with}, without {without}"
    );
}

#[test]
fn failed_trials_count_as_worst() {
    // Every proposal with c = 0 fails: TPE must learn to avoid it as if it scored worst.
    let space = space_of(vec![("c", cat(3))]);
    let mut o = tpe(
        &space,
        4,
        TpeArgs {
            avoid_duplicates: false,
            ..Default::default()
        },
    );
    let mut late_fail = 0;
    for number in 0..80u64 {
        let a = o.next(1).unwrap().remove(0);
        let ParamValue::Choice(c) = a.values()[0] else {
            unreachable!()
        };
        if number >= 20 && c == 0 {
            late_fail += 1;
        }
        o.step(&[Observation {
            number,
            score: (c != 0).then_some(1.0),
            params: a,
            metrics: Default::default(),
            steps: Vec::new(),
            scores: Vec::new(),
        }])
        .unwrap();
    }
    assert!(
        late_fail < 15,
        "proposed the failing choice {late_fail} times in 60"
    );
}

#[test]
fn groups_resolve_names_and_reject_unknown_ones() {
    let space = mixed_space();
    let args = TpeArgs {
        groups: vec![vec!["lr".into(), "batch".into()]],
        ..Default::default()
    };
    let o = tpe(&space, 0, args);
    assert_eq!(o.blocks, vec![vec![2, 4], vec![0], vec![1], vec![3]]);
    let bad = TpeArgs {
        groups: vec![vec!["lr".into(), "bacth".into()]],
        ..Default::default()
    };
    let e = Tpe::new(space.clone(), 0, bad).err().unwrap().to_string();
    assert!(e.contains("bacth") && e.contains("batch"), "{e}");
    let twice = TpeArgs {
        groups: vec![vec!["lr".into()], vec!["lr".into()]],
        ..Default::default()
    };
    let e = Tpe::new(space, 0, twice).err().unwrap().to_string();
    assert!(e.contains("more than one group"), "{e}");
}

#[test]
fn bad_arguments_are_rejected() {
    for (args, field) in [
        (
            TpeArgs {
                gamma: 0.0,
                ..Default::default()
            },
            "gamma",
        ),
        (
            TpeArgs {
                n_candidates: 0,
                ..Default::default()
            },
            "n_candidates",
        ),
        (
            TpeArgs {
                prior_weight: -1.0,
                ..Default::default()
            },
            "prior_weight",
        ),
    ] {
        assert_eq!(args.check().unwrap_err().0, field);
    }
    assert!(TpeArgs::default().check().is_ok());
}

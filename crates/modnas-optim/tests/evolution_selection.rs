//! Selection, survival and aging of the evolutionary optimizers, with scores chosen by the test.
//!
//! The spaces have many parameters with many values each, so that two random individuals differ
//! in (nearly) every gene: the parent of a mutant is then the one member at Hamming distance 1,
//! and the origin of each gene of a crossover child is known.

use modnas_core::optimizer::Optimizer;
use modnas_core::param::{Assignment, Domain, ParamSpace};
use modnas_core::trial::Observation;
use modnas_optim::evolution::{Evolution, EvolutionArgs, Survival};
use modnas_optim::regularized::{RegularizedArgs, RegularizedEvolution};
use std::sync::Arc;

/// `dims` integer parameters with `values` values each.
fn wide_space(dims: usize, values: i64) -> Arc<ParamSpace> {
    let mut s = ParamSpace::new();
    for i in 0..dims {
        s.add(
            &format!("g{i}"),
            Domain::Int {
                low: 0,
                high: values - 1,
                log: false,
            },
        )
        .expect("valid parameter");
    }
    Arc::new(s)
}

fn hamming(a: &Assignment, b: &Assignment) -> usize {
    a.0.iter().zip(&b.0).filter(|(x, y)| x != y).count()
}

fn told(a: &Assignment, score: f64, number: u64) -> Observation {
    Observation {
        number,
        params: a.clone(),
        score: Some(score),
        scores: vec![Some(score)],
        metrics: Default::default(),
        steps: Vec::new(),
    }
}

/// The index of the member `child` is a one-gene mutant of.
fn parent_of(members: &[Assignment], child: &Assignment) -> usize {
    let close: Vec<usize> = (0..members.len())
        .filter(|&i| hamming(&members[i], child) == 1)
        .collect();
    assert_eq!(
        close.len(),
        1,
        "a child must be a one-gene mutant of exactly one member"
    );
    close[0]
}

fn regularized(population: usize, sample: usize, seed: u64) -> RegularizedEvolution {
    RegularizedEvolution::new(
        wide_space(8, 1000),
        seed,
        RegularizedArgs {
            population,
            sample,
            avoid_duplicates: false,
            ..Default::default()
        },
    )
}

#[test]
fn aging_removes_the_oldest_member_even_when_it_is_the_best() {
    const P: usize = 5;
    // With S = P the tournament always sees the whole population, so the parent is the best
    // member still in it.
    let mut re = regularized(P, P, 1);
    let members = re.next(P).expect("random start");
    assert_eq!(members.len(), P);
    for i in 0..P {
        for j in 0..i {
            assert!(hamming(&members[i], &members[j]) > 2, "members too close");
        }
    }
    // The oldest gets by far the best score.
    let scores = [100.0, 1.0, 2.0, 3.0, 4.0];
    let obs: Vec<_> = (0..P)
        .map(|i| told(&members[i], scores[i], i as u64))
        .collect();
    re.step(&obs).expect("tell");
    // While it is a member, the oldest is the parent of every child.
    let children = re.next(50).expect("children");
    assert_eq!(children.len(), 50);
    for c in &children {
        assert_eq!(parent_of(&members, c), 0, "the best member is the parent");
    }
    // Result P + 1 (a poor one) pushes the oldest out; from now on the best member left (score
    // 4.0, the youngest of the first five) is the parent.
    re.step(&[told(&children[0], 0.0, P as u64)]).expect("tell");
    let later = re.next(200).expect("children");
    assert_eq!(later.len(), 200);
    let mut survivors: Vec<Assignment> = members[1..].to_vec();
    survivors.push(children[0].clone());
    for c in &later {
        assert!(
            hamming(&members[0], c) > 1,
            "the oldest member left the population but still parented {c:?}"
        );
        assert_eq!(
            parent_of(&survivors, c),
            3,
            "the best surviving member (score 4) is the parent"
        );
    }
}

#[test]
fn tournament_size_controls_selection_pressure() {
    const P: usize = 5;
    const DRAWS: usize = 4000;
    let scores = [3.0, 1.0, 5.0, 2.0, 4.0];
    let counts = |sample: usize, seed: u64| -> Vec<usize> {
        let mut re = regularized(P, sample, seed);
        let members = re.next(P).expect("random start");
        let obs: Vec<_> = (0..P)
            .map(|i| told(&members[i], scores[i], i as u64))
            .collect();
        re.step(&obs).expect("tell");
        // Without new results the population stays the same, so every child is one tournament.
        let mut c = vec![0usize; P];
        for child in re.next(DRAWS).expect("children") {
            c[parent_of(&members, &child)] += 1;
        }
        c
    };
    // S = P: the best (index 2) always wins.
    for seed in 0..3 {
        assert_eq!(
            counts(P, seed),
            vec![0, 0, DRAWS, 0, 0],
            "S = P, seed {seed}"
        );
    }
    // S = 1: every member is the parent with probability 1/P. Each count is binomial with mean
    // 800 and standard deviation sqrt(4000 · 0.2 · 0.8) ≈ 25.3; allow 5 standard deviations.
    let expect = DRAWS as f64 / P as f64;
    let sd = (DRAWS as f64 * 0.2 * 0.8).sqrt();
    for seed in 0..3 {
        let c = counts(1, seed);
        for (i, &n) in c.iter().enumerate() {
            assert!(
                (n as f64 - expect).abs() < 5.0 * sd,
                "S = 1, seed {seed}: member {i} parented {n} of {DRAWS} (expected {expect})"
            );
        }
    }
    // S = 2 (sampled without replacement): the member of rank r (0 = best) wins when it is
    // drawn with a worse one, probability 2(P − 1 − r) / (P (P − 1)): 0.4, 0.3, 0.2, 0.1, 0.
    let c = counts(2, 7);
    let by_rank = [c[2], c[4], c[0], c[3], c[1]];
    for (r, &n) in by_rank.iter().enumerate() {
        let p = 2.0 * (P - 1 - r) as f64 / (P * (P - 1)) as f64;
        let sd = (DRAWS as f64 * p * (1.0 - p)).sqrt();
        assert!(
            (n as f64 - DRAWS as f64 * p).abs() <= 5.0 * sd,
            "S = 2: rank {r} parented {n} of {DRAWS} (expected {})",
            DRAWS as f64 * p
        );
    }
}

/// Runs one generation of `Evolution` with the given scores (by proposal order) and returns the
/// first generation and the children bred from it.
fn one_generation(
    args: EvolutionArgs,
    scores: &[f64],
    seed: u64,
) -> (Vec<Assignment>, Vec<Assignment>) {
    let n = args.pop_size;
    let mut ga = Evolution::new(wide_space(6, 100_000), seed, args);
    let first = ga.next(n).expect("first generation");
    assert_eq!(first.len(), n);
    // Results arrive in reverse order: age is the proposal order, not the order of results.
    let obs: Vec<_> = (0..n)
        .rev()
        .map(|i| told(&first[i], scores[i], i as u64))
        .collect();
    ga.step(&obs).expect("tell");
    let children = ga.next(n).expect("second generation");
    assert_eq!(children.len(), n);
    (first, children)
}

/// For every gene of every child, the members of `first` it can have come from.
fn gene_sources(first: &[Assignment], children: &[Assignment]) -> Vec<Vec<Vec<usize>>> {
    children
        .iter()
        .map(|c| {
            (0..c.0.len())
                .map(|g| {
                    (0..first.len())
                        .filter(|&m| first[m].0[g] == c.0[g])
                        .collect::<Vec<_>>()
                })
                .collect()
        })
        .collect()
}

fn used_members(first: &[Assignment], children: &[Assignment]) -> Vec<bool> {
    let mut used = vec![false; first.len()];
    for child in gene_sources(first, children) {
        for sources in child {
            assert!(
                !sources.is_empty(),
                "without mutation every gene is inherited"
            );
            for m in sources {
                used[m] = true;
            }
        }
    }
    used
}

fn ga_args(survival: Survival, n_select: usize, n_eliminate: usize) -> EvolutionArgs {
    EvolutionArgs {
        pop_size: 8,
        n_parents: 2,
        n_offsprings: 1,
        n_select,
        n_eliminate,
        mutation_prob: 0.0,
        survival,
        ..Default::default()
    }
}

#[test]
fn generational_survival_removes_the_worst() {
    // The worst two (indices 3 and 6) are eliminated; all others are selected.
    let scores = [5.0, 7.0, 6.0, 0.5, 8.0, 4.0, 0.1, 3.0];
    for seed in 0..3 {
        let (first, children) = one_generation(ga_args(Survival::Worst, 6, 2), &scores, seed);
        let used = used_members(&first, &children);
        assert!(
            !used[3] && !used[6],
            "seed {seed}: an eliminated individual was a parent: {used:?}"
        );
        assert!(
            used.iter().filter(|u| **u).count() >= 5,
            "seed {seed}: survivors should all get a chance: {used:?}"
        );
    }
}

#[test]
fn generational_aging_survival_removes_the_oldest() {
    // The oldest two (indices 0 and 1) are eliminated although they are the best; the worst
    // stay and are selected (n_select = 6 keeps every survivor).
    let scores = [9.0, 8.0, 1.0, 2.0, 3.0, 4.0, 0.1, 0.2];
    for seed in 0..3 {
        let (first, children) = one_generation(ga_args(Survival::Oldest, 6, 2), &scores, seed);
        let used = used_members(&first, &children);
        assert!(
            !used[0] && !used[1],
            "seed {seed}: an eliminated (oldest) individual was a parent: {used:?}"
        );
        assert!(
            used[6] || used[7],
            "seed {seed}: the worst survivors are parents too: {used:?}"
        );
    }
}

#[test]
fn generational_selection_keeps_the_best() {
    // No elimination; only the best two (indices 4 and 1) breed.
    let scores = [5.0, 7.0, 6.0, 0.5, 8.0, 4.0, 0.1, 3.0];
    for seed in 0..3 {
        let (first, children) = one_generation(ga_args(Survival::Worst, 2, 0), &scores, seed);
        let used = used_members(&first, &children);
        let expected: Vec<bool> = (0..8).map(|i| i == 1 || i == 4).collect();
        assert_eq!(
            used, expected,
            "seed {seed}: parents other than the two best"
        );
        // Uniform crossover of two parents: every child's gene comes from one of them.
        for c in &children {
            let from_4 = (0..6).filter(|&g| c.0[g] == first[4].0[g]).count();
            let from_1 = (0..6).filter(|&g| c.0[g] == first[1].0[g]).count();
            assert_eq!(from_4 + from_1, 6, "{c:?}");
        }
    }
}

//! Crossover and mutation of NSGA-II. Numeric parameters (integers and reals) vary in the
//! unit-scaled domain of [`Domain::to_unit`], so log-scale parameters vary on the log scale,
//! integers are rounded back and every value stays inside its bounds; categorical parameters
//! take one parent's choice (uniform crossover) or a new random choice (mutation).

use modnas_core::param::{Assignment, Domain, ParamSpace, ParamValue};
use modnas_core::seed::Rng;
use rand::RngExt;

/// Whether a parameter can take more than one value.
fn variable(d: &Domain) -> bool {
    d.cardinality() != Some(1)
}

/// One child of `a` and `b`: uniform crossover of categorical parameters, simulated binary
/// crossover (SBX, distribution index `eta`) of numeric ones, each parameter crossed with
/// probability 1/2.
pub fn crossover(
    space: &ParamSpace,
    rng: &mut Rng,
    a: &Assignment,
    b: &Assignment,
    eta: f64,
) -> Assignment {
    let mut out = a.clone();
    for (i, p) in space.params().iter().enumerate() {
        let d = &p.domain;
        if !variable(d) {
            continue;
        }
        let (x, y) = (&a.0[i], &b.0[i]);
        out.0[i] = if d.is_categorical() {
            if rng.random_bool(0.5) { *x } else { *y }
        } else if rng.random_bool(0.5) {
            let (u1, u2) = (d.to_unit(x), d.to_unit(y));
            let r: f64 = rng.random();
            let beta = if r <= 0.5 {
                (2.0 * r).powf(1.0 / (eta + 1.0))
            } else {
                (1.0 / (2.0 * (1.0 - r))).powf(1.0 / (eta + 1.0))
            };
            let c = if rng.random_bool(0.5) {
                0.5 * ((1.0 + beta) * u1 + (1.0 - beta) * u2)
            } else {
                0.5 * ((1.0 - beta) * u1 + (1.0 + beta) * u2)
            };
            d.from_unit(c.clamp(0.0, 1.0))
        } else {
            *x
        };
    }
    out
}

/// Mutates each variable parameter with probability `prob`: a new random choice for
/// categoricals, a polynomial-mutation step (distribution index `eta`) in the unit-scaled
/// domain for numeric ones.
pub fn mutate(
    space: &ParamSpace,
    rng: &mut Rng,
    a: &Assignment,
    prob: f64,
    eta: f64,
) -> Assignment {
    let mut out = a.clone();
    for (i, p) in space.params().iter().enumerate() {
        let d = &p.domain;
        if !variable(d) || !rng.random_bool(prob.clamp(0.0, 1.0)) {
            continue;
        }
        out.0[i] = match (d, &a.0[i]) {
            (Domain::Categorical { choices }, ParamValue::Choice(c)) => {
                let mut k = rng.random_range(0..choices.len() - 1);
                if k >= *c {
                    k += 1;
                }
                ParamValue::Choice(k)
            }
            (_, v) => {
                let u = d.to_unit(v);
                let r: f64 = rng.random();
                let delta = if r < 0.5 {
                    (2.0 * r).powf(1.0 / (eta + 1.0)) - 1.0
                } else {
                    1.0 - (2.0 * (1.0 - r)).powf(1.0 / (eta + 1.0))
                };
                d.from_unit((u + delta).clamp(0.0, 1.0))
            }
        };
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use modnas_core::param::Value;
    use modnas_core::seed::rng_from_seed;

    fn space() -> ParamSpace {
        let mut s = ParamSpace::new();
        s.add(
            "op",
            Domain::Categorical {
                choices: (0..4).map(Value::Int).collect(),
            },
        )
        .unwrap();
        s.add(
            "lr",
            Domain::Float {
                low: 1e-5,
                high: 1.0,
                log: true,
            },
        )
        .unwrap();
        s.add(
            "width",
            Domain::Int {
                low: 8,
                high: 512,
                log: true,
            },
        )
        .unwrap();
        s.add(
            "depth",
            Domain::Int {
                low: 1,
                high: 20,
                log: false,
            },
        )
        .unwrap();
        s
    }

    #[test]
    fn children_stay_in_the_space_and_mix_their_parents() {
        let s = space();
        let mut rng = rng_from_seed(3);
        let mut from_b = 0;
        for _ in 0..2000 {
            let a = s.sample(&mut rng);
            let b = s.sample(&mut rng);
            let c = crossover(&s, &mut rng, &a, &b, 15.0);
            s.validate(&c).unwrap();
            assert!(c.0[0] == a.0[0] || c.0[0] == b.0[0]);
            from_b += usize::from(c.0[0] == b.0[0] && a.0[0] != b.0[0]);
            let m = mutate(&s, &mut rng, &c, 0.5, 20.0);
            s.validate(&m).unwrap();
        }
        assert!(from_b > 500, "{from_b}");
    }

    #[test]
    fn numeric_steps_are_taken_on_the_log_scale() {
        let s = space();
        let mut rng = rng_from_seed(4);
        let a = Assignment(vec![
            ParamValue::Choice(0),
            ParamValue::Float(1e-4),
            ParamValue::Int(16),
            ParamValue::Int(2),
        ]);
        let mut lr = Vec::new();
        for _ in 0..1000 {
            let m = mutate(&s, &mut rng, &a, 1.0, 20.0);
            // Mutation with probability 1 changes the categorical parameter every time.
            assert_ne!(m.0[0], a.0[0]);
            if let ParamValue::Float(x) = m.0[1] {
                lr.push(x);
            }
        }
        lr.sort_by(f64::total_cmp);
        // A step of a few hundredths of the unit range: a factor below 3 on the log scale,
        // but about 0.03 (300 times the value) on a linear scale.
        let median = lr[lr.len() / 2];
        assert!((3e-5..3e-4).contains(&median), "{median}");
    }
}

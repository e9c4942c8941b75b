//! Successive halving with rungs: ASHA, synchronous-quorum successive halving, Hyperband.
//!
//! Rung `k` sits at resource `min_resource·ηᵏ` (below `max_resource`). The first time a trial
//! reports a step at or beyond a rung, the score of that step is its value at the rung, and it
//! goes on only if it ranks in the top `max(1, ⌊n/η⌋)` of the `n` values recorded at that rung so
//! far (itself included; ties at the cut go on). ASHA decides at once (asynchronous successive
//! halving: no trial waits for others); `SuccessiveHalving` lets every trial pass a rung until it
//! holds `η` values, so no decision rests on fewer trials than one halving needs.
//!
//! With `multi_objective: true`, a rung ranks its values by non-dominated sorting over all
//! objectives (MO-ASHA): whole Pareto fronts are kept, best first, until they hold the
//! `max(1, ⌊n/η⌋)` places.
//!
//! Hyperband runs brackets of ASHA that start at different resources: bracket `b` first judges
//! a trial at `min_resource·η^b`. The optimizer proposes as usual; the pruner assigns each trial,
//! by its number, to a bracket, in proportion to the trials Hyperband gives each bracket
//! (`⌈(s+1)/(s−b+1)·η^(s−b)⌉` for `s+1` brackets), so a trial's number alone fixes the resource
//! it is guaranteed before it can be stopped.

use super::{Decision, PruneContext, Pruner, PrunerRegistry, Report};
use crate::registry::{Args, RegistryError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Arguments of ASHA and successive halving.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RungArgs {
    /// Reduction factor η: about one trial in η goes on past each rung.
    pub eta: f64,
    /// Resource (step) of the first rung.
    pub min_resource: u64,
    /// The full resource: no rung at or beyond it (`null`: rungs without end).
    pub max_resource: Option<u64>,
    /// Rank by non-dominated sorting over all objectives (MO-ASHA).
    pub multi_objective: bool,
}

impl Default for RungArgs {
    fn default() -> Self {
        RungArgs {
            eta: 3.0,
            min_resource: 1,
            max_resource: None,
            multi_objective: false,
        }
    }
}

fn check_common(eta: f64, min_resource: u64, max: Option<u64>) -> Result<(), (String, String)> {
    if !(eta.is_finite() && eta > 1.0) {
        return Err((
            "eta".into(),
            format!("eta must be a number above 1, got {eta}"),
        ));
    }
    if min_resource == 0 {
        return Err((
            "min_resource".into(),
            "min_resource must be at least 1".into(),
        ));
    }
    if let Some(m) = max
        && m < min_resource
    {
        return Err((
            "max_resource".into(),
            format!("max_resource ({m}) must be at least min_resource ({min_resource})"),
        ));
    }
    Ok(())
}

const RUNG_HELP: &[(&str, &str)] = &[
    (
        "eta",
        "reduction factor: about one trial in eta goes on past each rung",
    ),
    ("min_resource", "step of the first rung"),
    (
        "max_resource",
        "the full resource (no rung at or beyond it); null: rungs without end",
    ),
    (
        "multi_objective",
        "rank by non-dominated sorting over all objectives (MO-ASHA)",
    ),
];

impl Args for RungArgs {
    fn check(&self) -> Result<(), (String, String)> {
        check_common(self.eta, self.min_resource, self.max_resource)
    }
    fn help() -> &'static [(&'static str, &'static str)] {
        RUNG_HELP
    }
}

/// The resources of the rungs from `min` by factor `eta`, below `max`.
fn rung_levels(min: u64, eta: f64, max: Option<u64>) -> Vec<u64> {
    let mut out = Vec::new();
    let mut r = min as f64;
    while out.len() < 64 {
        let level = r.round() as u64;
        if max.is_some_and(|m| level >= m) || r > u64::MAX as f64 / 2.0 {
            break;
        }
        if out.last() != Some(&level) {
            out.push(level);
        }
        r *= eta;
    }
    out
}

/// `a` dominates `b` (scores, larger is better).
fn dominates(a: &[f64], b: &[f64]) -> bool {
    a.iter().zip(b).all(|(x, y)| x >= y) && a.iter().zip(b).any(|(x, y)| x > y)
}

/// Successive-halving rungs over the trials of one bracket.
pub struct Rungs {
    levels: Vec<u64>,
    eta: f64,
    quorum: usize,
    multi_objective: bool,
    /// Per rung, each trial's scores there.
    values: Vec<BTreeMap<u64, Vec<f64>>>,
}

impl Rungs {
    /// Rungs from `args`; no decision at a rung until it holds `quorum` values.
    pub fn new(args: &RungArgs, quorum: usize) -> Self {
        let levels = rung_levels(args.min_resource, args.eta, args.max_resource);
        Rungs {
            values: vec![BTreeMap::new(); levels.len()],
            levels,
            eta: args.eta,
            quorum: quorum.max(1),
            multi_objective: args.multi_objective,
        }
    }

    /// The rungs' resources.
    pub fn levels(&self) -> &[u64] {
        &self.levels
    }

    /// Whether `trial` goes on at rung `k`.
    fn keeps(&self, k: usize, trial: u64) -> bool {
        let rung = &self.values[k];
        let n = rung.len();
        if n < self.quorum {
            return true;
        }
        let keep = ((n as f64 / self.eta).floor() as usize).max(1);
        let points: Vec<(u64, &[f64])> = rung.iter().map(|(&t, v)| (t, v.as_slice())).collect();
        let mut left: Vec<usize> = (0..points.len()).collect();
        let mut placed = 0;
        while placed < keep && !left.is_empty() {
            let front: Vec<usize> = left
                .iter()
                .copied()
                .filter(|&i| !left.iter().any(|&j| dominates(points[j].1, points[i].1)))
                .collect();
            if front.iter().any(|&i| points[i].0 == trial) {
                return true;
            }
            placed += front.len();
            left.retain(|i| !front.contains(i));
        }
        false
    }
}

impl Pruner for Rungs {
    fn report(&mut self, r: &Report<'_>) -> Decision {
        let scores: Vec<f64> = if self.multi_objective {
            if r.scores.iter().any(|s| s.is_nan()) {
                return Decision::Continue;
            }
            r.scores.to_vec()
        } else {
            vec![r.score()]
        };
        let mut decision = Decision::Continue;
        for k in 0..self.levels.len() {
            if self.levels[k] > r.step {
                break;
            }
            // A trial's value at a rung is that of its first step at or beyond it; the rung's
            // own step reported again replaces it.
            if !self.values[k].contains_key(&r.trial) || self.levels[k] == r.step {
                self.values[k].insert(r.trial, scores.clone());
                if !self.keeps(k, r.trial) {
                    decision = Decision::Prune;
                }
            }
        }
        decision
    }
}

/// Arguments of [`Hyperband`].
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HyperbandArgs {
    /// Reduction factor η.
    pub eta: f64,
    /// The smallest resource a trial gets (first rung of the most aggressive bracket).
    pub min_resource: u64,
    /// The full resource (required).
    pub max_resource: Option<u64>,
    /// Rank by non-dominated sorting over all objectives.
    pub multi_objective: bool,
}

impl Default for HyperbandArgs {
    fn default() -> Self {
        HyperbandArgs {
            eta: 3.0,
            min_resource: 1,
            max_resource: None,
            multi_objective: false,
        }
    }
}

impl Args for HyperbandArgs {
    fn check(&self) -> Result<(), (String, String)> {
        if self.max_resource.is_none() {
            return Err((
                "max_resource".into(),
                "Hyperband needs max_resource (the full number of steps of a trial)".into(),
            ));
        }
        check_common(self.eta, self.min_resource, self.max_resource)
    }
    fn help() -> &'static [(&'static str, &'static str)] {
        RUNG_HELP
    }
}

/// Brackets of ASHA starting at different resources; trials are assigned by number.
pub struct Hyperband {
    brackets: Vec<Rungs>,
    /// Cumulative trial counts of the brackets over one cycle.
    cumulative: Vec<u64>,
}

impl Hyperband {
    /// A Hyperband pruner (`args` checked).
    pub fn new(args: &HyperbandArgs) -> Self {
        let max = args
            .max_resource
            .unwrap_or(args.min_resource)
            .max(args.min_resource);
        let mut s = 0u32;
        while (args.min_resource as f64) * args.eta.powi(s as i32 + 1) <= max as f64 && s < 32 {
            s += 1;
        }
        let mut brackets = Vec::new();
        let mut cumulative = Vec::new();
        let mut total = 0u64;
        for b in 0..=s {
            let halvings = s - b;
            let start = (args.min_resource as f64 * args.eta.powi(b as i32)).round() as u64;
            let rung = RungArgs {
                eta: args.eta,
                min_resource: start,
                max_resource: Some(max),
                multi_objective: args.multi_objective,
            };
            brackets.push(Rungs::new(&rung, 1));
            let n = ((s + 1) as f64 / (halvings + 1) as f64 * args.eta.powi(halvings as i32)).ceil()
                as u64;
            total += n.max(1);
            cumulative.push(total);
        }
        Hyperband {
            brackets,
            cumulative,
        }
    }

    /// The bracket of `trial`.
    pub fn bracket_of(&self, trial: u64) -> usize {
        let total = self.cumulative.last().copied().unwrap_or(1).max(1);
        let pos = trial % total;
        self.cumulative.iter().position(|&c| pos < c).unwrap_or(0)
    }

    /// The brackets' first rungs.
    pub fn bracket_starts(&self) -> Vec<u64> {
        self.brackets
            .iter()
            .map(|b| b.levels().first().copied().unwrap_or(0))
            .collect()
    }
}

impl Pruner for Hyperband {
    fn report(&mut self, r: &Report<'_>) -> Decision {
        let b = self.bracket_of(r.trial);
        self.brackets[b].report(r)
    }
}

pub(super) fn register(reg: &mut PrunerRegistry) -> Result<(), RegistryError> {
    reg.add::<RungArgs>(
        "ASHA",
        &["AsyncSuccessiveHalving", "AsynchronousSuccessiveHalving"],
        "Asynchronous successive halving: at each rung (min_resource·eta^k) only the top 1/eta so far go on; decides at once, suits parallel workers.",
        |a, _: &PruneContext| Ok(Box::new(Rungs::new(&a, 1))),
    )?;
    reg.add::<RungArgs>(
        "SuccessiveHalving",
        &["SH"],
        "Successive halving: like ASHA, but a rung judges no trial until it holds eta values.",
        |a, _: &PruneContext| {
            let quorum = a.eta.ceil() as usize;
            Ok(Box::new(Rungs::new(&a, quorum)))
        },
    )?;
    reg.add::<HyperbandArgs>(
        "Hyperband",
        &[],
        "Hyperband: brackets of ASHA starting at min_resource·eta^b; each trial is assigned a bracket by its number.",
        |a, _: &PruneContext| Ok(Box::new(Hyperband::new(&a))),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::prune::report_value as rep;

    #[test]
    fn rung_levels_stop_below_the_full_resource() {
        assert_eq!(rung_levels(1, 3.0, Some(27)), vec![1, 3, 9]);
        assert_eq!(rung_levels(1, 3.0, Some(28)), vec![1, 3, 9, 27]);
        assert_eq!(rung_levels(2, 2.0, Some(10)), vec![2, 4, 8]);
        assert_eq!(rung_levels(5, 3.0, Some(5)), Vec::<u64>::new());
        assert_eq!(rung_levels(1, 10.0, None).len(), 19);
    }

    #[test]
    fn asha_golden_decisions() {
        // eta 2, rungs at 1, 2 (max 4).
        let mut p = Rungs::new(
            &RungArgs {
                eta: 2.0,
                min_resource: 1,
                max_resource: Some(4),
                multi_objective: false,
            },
            1,
        );
        // Rung 1: trial 0 alone: keep max(1, 0) = 1: goes on.
        assert_eq!(rep(&mut p, 0, 1, 0.5), Decision::Continue);
        // Trial 1 worse, n = 2, keep 1: pruned.
        assert_eq!(rep(&mut p, 1, 1, 0.3), Decision::Prune);
        // Trial 2 better than both, n = 3, keep 1: goes on.
        assert_eq!(rep(&mut p, 2, 1, 0.7), Decision::Continue);
        // Trial 3 is second of four, keep 2: goes on.
        assert_eq!(rep(&mut p, 3, 1, 0.6), Decision::Continue);
        // Rung 2: trial 0 alone goes on; trial 2 at step 3 (first step past rung 2) is better.
        assert_eq!(rep(&mut p, 0, 2, 0.55), Decision::Continue);
        assert_eq!(rep(&mut p, 2, 3, 0.8), Decision::Continue);
        // Trial 3 third of three at rung 2 (keep 1): pruned.
        assert_eq!(rep(&mut p, 3, 2, 0.5), Decision::Prune);
        // No rung at or past 4: trial 2 finishes.
        assert_eq!(rep(&mut p, 2, 4, 0.1), Decision::Continue);
    }

    #[test]
    fn successive_halving_waits_for_a_quorum() {
        let args = RungArgs {
            eta: 3.0,
            max_resource: Some(9),
            ..Default::default()
        };
        let mut p = Rungs::new(&args, 3);
        assert_eq!(rep(&mut p, 0, 1, 0.5), Decision::Continue);
        // ASHA would prune this one (second of two, keep 1); SH waits for three values.
        assert_eq!(rep(&mut p, 1, 1, 0.3), Decision::Continue);
        // Third value: keep 1 of 3, and 0.4 is not the best.
        assert_eq!(rep(&mut p, 2, 1, 0.4), Decision::Prune);
        let mut a = Rungs::new(&args, 1);
        rep(&mut a, 0, 1, 0.5);
        assert_eq!(rep(&mut a, 1, 1, 0.3), Decision::Prune);
    }

    #[test]
    fn a_trial_jumping_over_rungs_is_judged_at_each() {
        let mut p = Rungs::new(
            &RungArgs {
                eta: 2.0,
                max_resource: Some(8),
                ..Default::default()
            },
            1,
        );
        for t in 0..3 {
            rep(&mut p, t, 1, 1.0);
            rep(&mut p, t, 2, 1.0);
            rep(&mut p, t, 4, 1.0);
        }
        // Reported first at step 5: it lands on rungs 1, 2 and 4 at once, worst at each.
        assert_eq!(rep(&mut p, 9, 5, 0.0), Decision::Prune);
        assert!(p.values.iter().all(|r| r.contains_key(&9)));
    }

    #[test]
    fn multi_objective_rungs_keep_whole_fronts() {
        let mut p = Rungs::new(
            &RungArgs {
                eta: 2.0,
                max_resource: Some(2),
                multi_objective: true,
                ..Default::default()
            },
            1,
        );
        let mo = |p: &mut Rungs, t: u64, a: f64, b: f64| {
            p.report(&Report {
                trial: t,
                step: 1,
                scores: &[a, b],
                value: a,
            })
        };
        assert_eq!(mo(&mut p, 0, 1.0, 0.0), Decision::Continue);
        // Neither dominates: one front of two, kept whole.
        assert_eq!(mo(&mut p, 1, 0.0, 1.0), Decision::Continue);
        // Dominated by trial 0 (front 2); keep 1 of 3 is filled by front 1.
        assert_eq!(mo(&mut p, 2, 0.5, -1.0), Decision::Prune);
        // A missing objective: no decision.
        assert_eq!(mo(&mut p, 3, -5.0, f64::NAN), Decision::Continue);
    }

    #[test]
    fn hyperband_brackets_and_assignment() {
        let h = Hyperband::new(&HyperbandArgs {
            max_resource: Some(27),
            ..Default::default()
        });
        // s = 3: brackets start at 1, 3, 9, 27; counts ⌈4/4·27⌉=27, ⌈4/3·9⌉=12, ⌈4/2·3⌉=6, 4.
        assert_eq!(h.bracket_starts(), vec![1, 3, 9, 0]);
        assert_eq!(h.cumulative, vec![27, 39, 45, 49]);
        assert_eq!(h.bracket_of(0), 0);
        assert_eq!(h.bracket_of(26), 0);
        assert_eq!(h.bracket_of(27), 1);
        assert_eq!(h.bracket_of(44), 2);
        assert_eq!(h.bracket_of(45), 3);
        assert_eq!(h.bracket_of(49), 0);
        // The last bracket has no rung: its trials always run to the end.
        let mut h = h;
        for t in [45, 46, 47, 48] {
            assert_eq!(rep(&mut h, t, 1, -(t as f64)), Decision::Continue);
        }
        // Bracket 1 does not judge at step 1.
        assert_eq!(rep(&mut h, 27, 1, 1.0), Decision::Continue);
        assert_eq!(rep(&mut h, 28, 1, 0.0), Decision::Continue);
        assert_eq!(rep(&mut h, 27, 3, 1.0), Decision::Continue);
        assert_eq!(rep(&mut h, 28, 3, 0.0), Decision::Prune);
    }
}

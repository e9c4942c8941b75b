//! Which trials a chart draws when a run has too many: the best ones, the Pareto front and an
//! even spread of the rest, so that plots of 10⁵ trials stay small and fast.

use std::collections::BTreeSet;

/// The most trials a scatter or parallel-coordinates chart draws.
pub const MAX_POINTS: usize = 2000;

/// Up to `cap` indices out of `0..n` (ascending): every index of `keep` first (the best trials
/// and the front, as many as fit), then an even spread of the others. All of them when
/// `n <= cap`.
pub fn subsample(n: usize, keep: &[usize], cap: usize) -> Vec<usize> {
    if n <= cap {
        return (0..n).collect();
    }
    let mut chosen: BTreeSet<usize> = keep.iter().copied().filter(|&i| i < n).take(cap).collect();
    let room = cap - chosen.len();
    if room > 0 {
        let others = n - chosen.len();
        // Evenly spaced ranks among the indices not kept yet.
        let mut wanted = (0..room).map(|k| k * others / room).peekable();
        let mut rank = 0;
        for i in 0..n {
            if chosen.contains(&i) {
                continue;
            }
            if wanted.peek() == Some(&rank) {
                wanted.next();
                chosen.insert(i);
                if wanted.peek().is_none() {
                    break;
                }
            }
            rank += 1;
        }
    }
    chosen.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_given_and_spreads_the_rest() {
        assert_eq!(subsample(5, &[4], 10), vec![0, 1, 2, 3, 4]);
        let s = subsample(1000, &[999, 500, 3], 10);
        assert_eq!(s.len(), 10);
        assert!(s.contains(&999) && s.contains(&500) && s.contains(&3));
        assert!(s.windows(2).all(|w| w[0] < w[1]));
        // The spread reaches both ends of the run.
        assert_eq!(s[0], 0);
        assert!(*s.iter().rev().nth(1).unwrap() > 800);
        // More to keep than room: the first `cap` of them.
        let many: Vec<usize> = (0..50).map(|i| i * 7).collect();
        assert_eq!(subsample(1000, &many, 5), vec![0, 7, 14, 21, 28]);
    }
}

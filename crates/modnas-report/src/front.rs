//! The Pareto front of many points in `O(n log n + n·F)` (F: the front's size): points sorted
//! lexicographically from the best are checked only against the front found so far (anything
//! that dominates a point comes before it, and is itself on the front or dominated by a point of
//! it).

/// Indices of the non-dominated points (every coordinate is maximised), ascending; equal points
/// are all kept. Same result as `modnas_core::objective::pareto_front`.
pub fn pareto_front(points: &[Vec<f64>]) -> Vec<usize> {
    let dominates = |a: &[f64], b: &[f64]| {
        a.iter().zip(b).all(|(x, y)| x >= y) && a.iter().zip(b).any(|(x, y)| x > y)
    };
    let mut order: Vec<usize> = (0..points.len()).collect();
    order.sort_by(|&i, &j| {
        let (a, b) = (&points[i], &points[j]);
        a.iter()
            .zip(b)
            .map(|(x, y)| y.total_cmp(x))
            .find(|o| o.is_ne())
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    let mut front: Vec<usize> = Vec::new();
    for i in order {
        if !front.iter().any(|&f| dominates(&points[f], &points[i])) {
            front.push(i);
        }
    }
    front.sort_unstable();
    front
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_front_as_the_quadratic_one() {
        let mut rng = modnas_core::seed::rng_from_seed(3);
        use rand::RngExt;
        for dims in [2, 3] {
            let pts: Vec<Vec<f64>> = (0..400)
                .map(|_| (0..dims).map(|_| rng.random_range(0..20) as f64).collect())
                .collect();
            let want = modnas_core::objective::pareto_front(&pts);
            assert_eq!(pareto_front(&pts), want);
            assert!(!want.is_empty());
        }
        assert!(pareto_front(&[]).is_empty());
    }
}

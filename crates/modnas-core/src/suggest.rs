//! "Did you mean …?" suggestions for misspelt names.

/// Edit distance counting insertions, deletions, substitutions and swaps of adjacent characters
/// (optimal string alignment), case-insensitively.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.to_lowercase().chars().collect();
    let b: Vec<char> = b.to_lowercase().chars().collect();
    let (n, m) = (a.len(), b.len());
    let mut d = vec![vec![0usize; m + 1]; n + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=n {
        for j in 1..=m {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = v;
        }
    }
    d[n][m]
}

/// The candidate closest to `wanted`, if it is close enough to be a plausible typo.
///
/// ```
/// use modnas_core::suggest::did_you_mean;
/// assert_eq!(did_you_mean("RandomSerch", &["RandomSearch", "GridSearch"]), Some("RandomSearch"));
/// assert_eq!(did_you_mean("zzz", &["RandomSearch"]), None);
/// ```
pub fn did_you_mean<'a, S: AsRef<str>>(wanted: &str, candidates: &'a [S]) -> Option<&'a str> {
    let w = normalize_loose(wanted);
    let mut best: Option<(usize, &str)> = None;
    for c in candidates {
        let c = c.as_ref();
        let n = normalize_loose(c);
        let d = if n.contains(&w) && w.len() >= 4 || w.contains(&n) && n.len() >= 4 {
            1
        } else {
            edit_distance(&w, &n)
        };
        let limit = (w.len().max(n.len()) / 3).max(1);
        if d <= limit && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, c));
        }
    }
    best.map(|(_, c)| c)
}

fn normalize_loose(s: &str) -> String {
    s.chars()
        .filter(|c| !matches!(c, '-' | '_' | ' '))
        .flat_map(char::to_lowercase)
        .collect()
}

/// A list rendered as `` `a`, `b`, `c` `` for error messages.
pub fn quoted_list<S: AsRef<str>>(items: &[S]) -> String {
    items
        .iter()
        .map(|s| format!("`{}`", s.as_ref()))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("same", "SAME"), 0);
        assert_eq!(edit_distance("flaot", "float"), 1);
    }

    #[test]
    fn suggestions() {
        let c = ["max_trials", "max_time", "max_cost", "patience", "target"];
        assert_eq!(did_you_mean("max_trails", &c), Some("max_trials"));
        assert_eq!(did_you_mean("maxtime", &c), Some("max_time"));
        assert_eq!(did_you_mean("population", &c), None);
    }
}

//! Small dense linear algebra for the surrogate models: dot products, Cholesky factorisation,
//! triangular solves and the inverse of a symmetric positive-definite matrix. Every square matrix
//! is an `n × n` row-major slice.

use super::Matrix;

/// The dot product of two slices of equal length (four accumulators, so it vectorises).
pub(crate) fn dot(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f64; 4];
    let mut ca = a.chunks_exact(4);
    let mut cb = b.chunks_exact(4);
    for (x, y) in (&mut ca).zip(&mut cb) {
        acc[0] += x[0] * y[0];
        acc[1] += x[1] * y[1];
        acc[2] += x[2] * y[2];
        acc[3] += x[3] * y[3];
    }
    let mut s = (acc[0] + acc[1]) + (acc[2] + acc[3]);
    for (x, y) in ca.remainder().iter().zip(cb.remainder()) {
        s += x * y;
    }
    s
}

/// `y += a * x` over the common length.
pub(crate) fn axpy(a: f64, x: &[f64], y: &mut [f64]) {
    for (yi, xi) in y.iter_mut().zip(x) {
        *yi += a * xi;
    }
}

/// The lower Cholesky factor `L` (`L Lᵀ = A`) of the symmetric positive-definite `n × n` matrix
/// `a` (only its lower triangle is read), or `None` when `a` is not numerically positive
/// definite.
pub(crate) fn cholesky(a: &[f64], n: usize) -> Option<Vec<f64>> {
    debug_assert_eq!(a.len(), n * n);
    let mut l = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..=i {
            let s = a[i * n + j] - dot(&l[i * n..i * n + j], &l[j * n..j * n + j]);
            if i == j {
                if !(s > 0.0 && s.is_finite()) {
                    return None;
                }
                l[i * n + i] = s.sqrt();
            } else {
                l[i * n + j] = s / l[j * n + j];
            }
        }
    }
    Some(l)
}

/// The Cholesky factor of `a + jitter·I`, trying no jitter first and then jitters growing from
/// `1e-10` to `1e-2` times the mean diagonal. Returns the factor and the jitter used.
pub(crate) fn cholesky_with_jitter(a: &[f64], n: usize) -> Result<(Vec<f64>, f64), String> {
    if let Some(l) = cholesky(a, n) {
        return Ok((l, 0.0));
    }
    let mean_diag = if n == 0 {
        1.0
    } else {
        (0..n).map(|i| a[i * n + i].abs()).sum::<f64>() / n as f64
    };
    let scale = if mean_diag > 0.0 && mean_diag.is_finite() {
        mean_diag
    } else {
        1.0
    };
    let mut work = a.to_vec();
    let mut rel = 1e-10;
    while rel <= 1e-2 {
        let jitter = rel * scale;
        for i in 0..n {
            work[i * n + i] = a[i * n + i] + jitter;
        }
        if let Some(l) = cholesky(&work, n) {
            return Ok((l, jitter));
        }
        rel *= 10.0;
    }
    Err("matrix is not positive definite, even with jitter".to_string())
}

/// Solves `L z = b` in place (`L` lower triangular).
pub(crate) fn solve_lower_in_place(l: &[f64], n: usize, b: &mut [f64]) {
    for i in 0..n {
        let s = b[i] - dot(&l[i * n..i * n + i], &b[..i]);
        b[i] = s / l[i * n + i];
    }
}

/// Solves `Lᵀ x = b` in place (`L` lower triangular).
pub(crate) fn solve_upper_t_in_place(l: &[f64], n: usize, b: &mut [f64]) {
    for i in (0..n).rev() {
        let xi = b[i] / l[i * n + i];
        b[i] = xi;
        axpy(-xi, &l[i * n..i * n + i], &mut b[..i]);
    }
}

/// Solves `L Lᵀ x = b` in place.
pub(crate) fn cholesky_solve_in_place(l: &[f64], n: usize, b: &mut [f64]) {
    solve_lower_in_place(l, n, b);
    solve_upper_t_in_place(l, n, b);
}

/// The full (symmetric) inverse `(L Lᵀ)⁻¹` from the Cholesky factor `L`.
pub(crate) fn inverse_from_cholesky(l: &[f64], n: usize) -> Vec<f64> {
    // M = L⁻¹, lower triangular: row i is (e_i - Σ_{k<i} L_ik M_k) / L_ii.
    let mut m = vec![0.0; n * n];
    for i in 0..n {
        let (done, rest) = m.split_at_mut(i * n);
        let row = &mut rest[..n];
        for k in 0..i {
            let lik = l[i * n + k];
            if lik != 0.0 {
                axpy(-lik, &done[k * n..k * n + k + 1], &mut row[..=k]);
            }
        }
        let inv = 1.0 / l[i * n + i];
        for v in &mut row[..i] {
            *v *= inv;
        }
        row[i] = inv;
    }
    // A⁻¹ = Mᵀ M: (A⁻¹)_ab = Σ_i M_ia M_ib, accumulated on the lower triangle then mirrored.
    let mut out = vec![0.0; n * n];
    for i in 0..n {
        let mi = &m[i * n..i * n + i + 1];
        for a in 0..=i {
            let mia = mi[a];
            if mia != 0.0 {
                axpy(mia, &mi[..=a], &mut out[a * n..a * n + a + 1]);
            }
        }
    }
    for a in 0..n {
        for b in 0..a {
            out[b * n + a] = out[a * n + b];
        }
    }
    out
}

/// Checks a training set: at least one row, as many targets as rows, and only finite values.
pub(crate) fn validate(x: &Matrix, y: &[f64]) -> Result<(), String> {
    if x.rows() == 0 {
        return Err("no training data".to_string());
    }
    if x.rows() != y.len() {
        return Err(format!(
            "{} rows of features but {} targets",
            x.rows(),
            y.len()
        ));
    }
    if let Some(i) = x.data().iter().position(|v| !v.is_finite()) {
        return Err(format!(
            "non-finite feature at row {}, column {}",
            i / x.cols().max(1),
            i % x.cols().max(1)
        ));
    }
    if let Some(i) = y.iter().position(|v| !v.is_finite()) {
        return Err(format!("non-finite target at row {i}"));
    }
    Ok(())
}

/// The mean and the standard deviation (population) of `v`; a deviation below `1e-12` (a
/// constant) is reported as 1 so that standardising never divides by zero.
pub(crate) fn mean_std(v: impl Iterator<Item = f64> + Clone) -> (f64, f64) {
    let mut n = 0usize;
    let mut sum = 0.0;
    for x in v.clone() {
        n += 1;
        sum += x;
    }
    if n == 0 {
        return (0.0, 1.0);
    }
    let mean = sum / n as f64;
    let var = v.map(|x| (x - mean) * (x - mean)).sum::<f64>() / n as f64;
    let std = var.sqrt();
    (
        mean,
        if std > 1e-12 * mean.abs().max(1.0) {
            std
        } else {
            1.0
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spd(n: usize) -> Vec<f64> {
        // A = B Bᵀ + n I with a fixed pseudo-random B.
        let b: Vec<f64> = (0..n * n)
            .map(|k| ((k * 7919 % 113) as f64 / 113.0) - 0.5)
            .collect();
        let mut a = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..n {
                a[i * n + j] = dot(&b[i * n..(i + 1) * n], &b[j * n..(j + 1) * n])
                    + if i == j { n as f64 } else { 0.0 };
            }
        }
        a
    }

    #[test]
    fn cholesky_reconstructs_and_solves() {
        let n = 13;
        let a = spd(n);
        let l = cholesky(&a, n).expect("positive definite");
        for i in 0..n {
            for j in 0..n {
                let s = dot(&l[i * n..i * n + n], &l[j * n..j * n + n]);
                assert!((s - a[i * n + j]).abs() < 1e-10);
            }
        }
        let x_true: Vec<f64> = (0..n).map(|i| i as f64 - 3.0).collect();
        let mut b: Vec<f64> = (0..n)
            .map(|i| dot(&a[i * n..(i + 1) * n], &x_true))
            .collect();
        cholesky_solve_in_place(&l, n, &mut b);
        for (u, v) in b.iter().zip(&x_true) {
            assert!((u - v).abs() < 1e-10);
        }
        let inv = inverse_from_cholesky(&l, n);
        for i in 0..n {
            for j in 0..n {
                let s: f64 = (0..n).map(|k| a[i * n + k] * inv[k * n + j]).sum();
                let e = if i == j { 1.0 } else { 0.0 };
                assert!((s - e).abs() < 1e-10, "({i},{j}) {s}");
            }
        }
    }

    #[test]
    fn jitter_rescues_a_singular_matrix() {
        let n = 3;
        let a = vec![1.0; n * n];
        assert!(cholesky(&a, n).is_none());
        let (_, jitter) = cholesky_with_jitter(&a, n).expect("jitter helps");
        assert!(jitter > 0.0 && jitter <= 1e-2);
    }
}

//! Numbers as Optuna stores objective and intermediate values: a nullable float and its kind.

/// A float split the way Optuna's `trial_values` and `trial_intermediate_values` tables hold it:
/// the finite value, or `NULL` with the kind of non-finite value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StoredFloat {
    /// The value when finite.
    pub value: Option<f64>,
    /// `FINITE`, `INF_POS`, `INF_NEG` or `NAN`.
    pub kind: &'static str,
}

impl StoredFloat {
    /// How `x` is stored.
    pub fn of(x: f64) -> Self {
        if x.is_finite() {
            StoredFloat {
                value: Some(x),
                kind: "FINITE",
            }
        } else if x.is_nan() {
            StoredFloat {
                value: None,
                kind: "NAN",
            }
        } else if x > 0.0 {
            StoredFloat {
                value: None,
                kind: "INF_POS",
            }
        } else {
            StoredFloat {
                value: None,
                kind: "INF_NEG",
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_finite_values_are_null_with_their_kind() {
        assert_eq!(
            StoredFloat::of(-2.5),
            StoredFloat {
                value: Some(-2.5),
                kind: "FINITE"
            }
        );
        assert_eq!(StoredFloat::of(0.0).kind, "FINITE");
        for (x, kind) in [
            (f64::INFINITY, "INF_POS"),
            (f64::NEG_INFINITY, "INF_NEG"),
            (f64::NAN, "NAN"),
        ] {
            let s = StoredFloat::of(x);
            assert_eq!((s.value, s.kind), (None, kind));
        }
    }
}

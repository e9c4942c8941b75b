//! Reading a trial row.

use modnas_core::journal::{JournalError, metrics_from_json, params_from_json};
use modnas_core::param::ParamSpace;
use modnas_core::trial::{Trial, TrialState};

/// The columns [`to_trial`] reads, in order.
pub const TRIAL_COLUMNS: &str = "number, state, params, seed, metrics, cost, error, attempts, worker, created_at, started_at, finished_at, told_seq, attrs";

/// A row of [`TRIAL_COLUMNS`] as a trial, with its told sequence number.
pub fn to_trial(
    space: &ParamSpace,
    r: &postgres::Row,
) -> Result<(Trial, Option<i64>), JournalError> {
    let bad = |e: postgres::Error| JournalError::Corrupt(format!("trial row: {e}"));
    let number: i64 = r.try_get(0).map_err(bad)?;
    let state: String = r.try_get(1).map_err(bad)?;
    let params_text: String = r.try_get(2).map_err(bad)?;
    let seed: i64 = r.try_get(3).map_err(bad)?;
    let metrics: Option<String> = r.try_get(4).map_err(bad)?;
    let attempts: i32 = r.try_get(7).map_err(bad)?;
    let told_seq: Option<i64> = r.try_get(12).map_err(bad)?;
    let attrs: Option<String> = r.try_get(13).map_err(bad)?;
    let trial = Trial {
        number: number as u64,
        params: params_from_json(space, &params_text)?,
        seed: seed as u64,
        state: TrialState::parse(&state)
            .ok_or_else(|| JournalError::Corrupt(format!("trial state `{state}`")))?,
        metrics: match metrics {
            Some(m) => metrics_from_json(&m)?,
            None => Default::default(),
        },
        cost: r.try_get(5).map_err(bad)?,
        error: r.try_get(6).map_err(bad)?,
        attempts: attempts.max(0) as u32,
        worker: r.try_get(8).map_err(bad)?,
        created_at: r.try_get(9).map_err(bad)?,
        started_at: r.try_get(10).map_err(bad)?,
        finished_at: r.try_get(11).map_err(bad)?,
        told: told_seq.is_some(),
        attrs: match attrs {
            Some(a) => serde_json::from_str(&a)
                .map_err(|e| JournalError::Corrupt(format!("trial attributes: {e}")))?,
            None => serde_json::Value::Null,
        },
    };
    Ok((trial, told_seq))
}

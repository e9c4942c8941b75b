//! The identity of a run decoded from its journal: what reports and exports need to read trials.

use crate::SqliteJournal;
use modnas_core::journal::{JournalError, RunMeta};
use modnas_core::objective::{Objective, Objectives};
use modnas_core::param::{Param, ParamSpace};

/// A run's stored identity with its parameter space and objectives decoded.
pub struct StoredRun {
    /// Name, seed and the stored configuration.
    pub meta: RunMeta,
    /// The parameter space its trials were drawn from.
    pub space: ParamSpace,
    /// Its objectives, as configured (possibly empty in a journal written by hand).
    pub objectives: Objectives,
}

impl SqliteJournal {
    /// The run this journal holds, or `None` when it holds none yet.
    pub fn stored_run(&mut self) -> Result<Option<StoredRun>, JournalError> {
        let Some(meta) = self.run_meta()? else {
            return Ok(None);
        };
        let params: Vec<Param> = serde_json::from_value(meta.space.clone())
            .map_err(|e| JournalError::Corrupt(format!("stored space: {e}")))?;
        let space = ParamSpace::from_params(params)
            .map_err(|e| JournalError::Corrupt(format!("stored space: {e}")))?;
        let objectives: Vec<Objective> =
            serde_json::from_value(meta.config.get("objectives").cloned().unwrap_or_default())
                .map_err(|e| JournalError::Corrupt(format!("stored objectives: {e}")))?;
        Ok(Some(StoredRun {
            meta,
            space,
            objectives: Objectives(objectives),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Sync;
    use modnas_core::journal::Journal;
    use modnas_core::param::Domain;

    #[test]
    fn the_space_and_objectives_come_back_and_bad_ones_are_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.sqlite");
        let mut space = ParamSpace::new();
        space
            .add(
                "n",
                Domain::Int {
                    low: 1,
                    high: 4,
                    log: false,
                },
            )
            .unwrap();
        let mut j = SqliteJournal::open(&path, Sync::Process).unwrap();
        assert!(j.stored_run().unwrap().is_none());
        j.open(&RunMeta {
            name: "r".into(),
            seed: 9,
            config: serde_json::json!({"objectives": [{"metric": "loss", "direction": "min"}]}),
            space: serde_json::to_value(space.params()).unwrap(),
        })
        .unwrap();
        let run = j.stored_run().unwrap().unwrap();
        assert_eq!((run.meta.name.as_str(), run.meta.seed), ("r", 9));
        assert_eq!(run.space.params(), space.params());
        assert_eq!(
            run.objectives,
            Objectives(vec![Objective::minimize("loss")])
        );
        drop(j);

        let other = dir.path().join("other.sqlite");
        let mut j = SqliteJournal::open(&other, Sync::Process).unwrap();
        j.open(&RunMeta {
            name: "r".into(),
            seed: 9,
            config: serde_json::json!({"objectives": [{"metric": "loss", "direction": "sideways"}]}),
            space: serde_json::json!([]),
        })
        .unwrap();
        let e = j.stored_run().err().unwrap();
        assert!(e.to_string().contains("stored objectives"), "{e}");
    }
}

//! A journal kept together with the run lock, for journals that have no lock of their own.

use crate::sqlite::RunLock;
use modnas_core::journal::{Journal, JournalError, RunMeta};
use modnas_core::param::ParamSpace;
use modnas_core::trial::{NewTrial, Outcome, Step, Trial};
use std::collections::BTreeMap;

/// A journal that holds the lock of its run directory for as long as it lives, so that no other
/// modnas process uses the directory meanwhile (e.g. an in-memory journal of a run whose
/// programs write into `<run>/trials/`).
pub struct Locked<J> {
    journal: J,
    lock: RunLock,
}

impl<J: Journal> Locked<J> {
    /// `journal`, holding `lock`.
    pub fn new(journal: J, lock: RunLock) -> Self {
        Locked { journal, lock }
    }

    /// The lock held.
    pub fn lock(&self) -> &RunLock {
        &self.lock
    }
}

impl<J: Journal> Journal for Locked<J> {
    fn open(&mut self, meta: &RunMeta) -> Result<Option<RunMeta>, JournalError> {
        self.journal.open(meta)
    }
    fn reap(&mut self) -> Result<Vec<u64>, JournalError> {
        self.journal.reap()
    }
    fn create(
        &mut self,
        space: &ParamSpace,
        trials: &[NewTrial],
        optimizer_state: &str,
    ) -> Result<Vec<u64>, JournalError> {
        self.journal.create(space, trials, optimizer_state)
    }
    fn claim(&mut self, space: &ParamSpace, worker: &str) -> Result<Option<Trial>, JournalError> {
        self.journal.claim(space, worker)
    }
    fn heartbeat(&mut self, number: u64, worker: &str) -> Result<(), JournalError> {
        self.journal.heartbeat(number, worker)
    }
    fn finish(
        &mut self,
        number: u64,
        worker: &str,
        outcome: &Outcome,
    ) -> Result<bool, JournalError> {
        self.journal.finish(number, worker, outcome)
    }
    fn record_steps(
        &mut self,
        number: u64,
        worker: &str,
        steps: &[Step],
    ) -> Result<bool, JournalError> {
        self.journal.record_steps(number, worker, steps)
    }
    fn steps(&mut self) -> Result<BTreeMap<u64, Vec<Step>>, JournalError> {
        self.journal.steps()
    }
    fn release(&mut self, number: u64, worker: &str) -> Result<(), JournalError> {
        self.journal.release(number, worker)
    }
    fn give_up(&mut self, number: u64, reason: &str) -> Result<bool, JournalError> {
        self.journal.give_up(number, reason)
    }
    fn mark_told(&mut self, numbers: &[u64], optimizer_state: &str) -> Result<(), JournalError> {
        self.journal.mark_told(numbers, optimizer_state)
    }
    fn optimizer_state(&mut self) -> Result<Option<String>, JournalError> {
        self.journal.optimizer_state()
    }
    fn trials(&mut self, space: &ParamSpace) -> Result<(Vec<Trial>, Vec<u64>), JournalError> {
        self.journal.trials(space)
    }
    fn count(&mut self) -> Result<u64, JournalError> {
        self.journal.count()
    }
    fn get_meta(&mut self, key: &str) -> Result<Option<String>, JournalError> {
        self.journal.get_meta(key)
    }
    fn set_meta(&mut self, key: &str, value: &str) -> Result<(), JournalError> {
        self.journal.set_meta(key, value)
    }
}

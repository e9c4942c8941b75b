//! The elastic sequential group (paper App. D): a run of shape-preserving blocks of which only
//! the first `depth` run; the others are skipped (identity).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The active depth of a run of blocks, shared between the network and its Transform handler.
#[derive(Clone, Debug)]
pub struct ElasticSequential {
    max: usize,
    active: Arc<AtomicUsize>,
}

impl ElasticSequential {
    /// A group of `max` blocks, all active.
    pub fn new(max: usize) -> Self {
        ElasticSequential {
            max,
            active: Arc::new(AtomicUsize::new(max)),
        }
    }

    /// The number of blocks.
    pub fn max(&self) -> usize {
        self.max
    }

    /// Runs the first `d` blocks (at least 1, at most all).
    pub fn set_depth(&self, d: usize) {
        self.active
            .store(d.clamp(1, self.max.max(1)), Ordering::SeqCst);
    }

    /// The number of blocks that run.
    pub fn depth(&self) -> usize {
        self.active.load(Ordering::SeqCst)
    }

    /// Whether block `i` (from 0) runs.
    pub fn runs(&self, i: usize) -> bool {
        i < self.depth()
    }
}

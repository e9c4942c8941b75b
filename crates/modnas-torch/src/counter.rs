//! The thread-local counter behind [`crate::metrics`]: layers add their parameters and
//! multiply-accumulates while a counting pass runs, weighted by the probability of the path they
//! are on. A leaf module, so the layers need nothing above them.

use std::cell::RefCell;
use tch::Tensor;

struct Counter {
    weight: Vec<Tensor>,
    params: f64,
    macs: f64,
    /// MACs on weighted paths, as a tensor.
    macs_t: Option<Tensor>,
    /// MACs outside any weighted path.
    macs_fixed: f64,
}

thread_local! {
    static COUNTER: RefCell<Option<Counter>> = const { RefCell::new(None) };
}

/// Whether a counting pass is running on this thread.
pub fn counting() -> bool {
    COUNTER.with(|c| c.borrow().is_some())
}

/// Adds a module's parameters and MACs, weighted by the current path weight.
pub fn add(params: i64, macs: f64) {
    COUNTER.with(|c| {
        if let Some(c) = c.borrow_mut().as_mut() {
            let w = c.weight.last().map(|t| t.double_value(&[])).unwrap_or(1.0);
            c.params += w * params as f64;
            c.macs += w * macs;
            match c.weight.last() {
                Some(t) => {
                    let term = t * macs;
                    c.macs_t = Some(match c.macs_t.take() {
                        Some(s) => s + term,
                        None => term,
                    });
                }
                None => c.macs_fixed += macs,
            }
        }
    });
}

/// Runs `f` on a path of weight `w` (a scalar tensor; multiplied into the enclosing weight).
pub fn with_weight<R>(w: &Tensor, f: impl FnOnce() -> R) -> R {
    COUNTER.with(|c| {
        if let Some(c) = c.borrow_mut().as_mut() {
            let next = match c.weight.last() {
                Some(outer) => outer * w,
                None => w.shallow_clone(),
            };
            c.weight.push(next);
        }
    });
    let r = f();
    COUNTER.with(|c| {
        if let Some(c) = c.borrow_mut().as_mut() {
            c.weight.pop();
        }
    });
    r
}

/// Starts a counting pass on this thread (any unfinished one is discarded).
pub fn begin() {
    COUNTER.with(|c| {
        *c.borrow_mut() = Some(Counter {
            weight: Vec::new(),
            params: 0.0,
            macs: 0.0,
            macs_t: None,
            macs_fixed: 0.0,
        })
    });
}

/// Ends the counting pass: expected parameters, expected MACs, and the MACs as a tensor
/// differentiable in the path weights (`None` when no path was weighted); `None` when no pass ran.
pub fn finish() -> Option<(f64, f64, Option<Tensor>)> {
    let c = COUNTER.with(|c| c.borrow_mut().take())?;
    Some((c.params, c.macs, c.macs_t.map(|t| t + c.macs_fixed)))
}

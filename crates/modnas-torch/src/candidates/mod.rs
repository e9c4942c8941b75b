//! Estimators that evaluate one candidate network per trial, so that every discrete optimizer
//! (grid, random, evolution, regularized evolution, SMBO, Bayesian) searches a network by
//! changing `optim:` only. Each slot becomes an `Index` mixed operator, whose categorical choice
//! is a parameter of the space; a trial's assignment is applied through the Transform routine.
//!
//! - [`subnet::SubNet`]: each candidate built and trained from scratch, then validated (the
//!   paper's Table 7, setup A).
//! - [`spos::Spos`]: one supernet trained with a uniformly sampled path per batch (single-path
//!   one-shot), then each candidate validated with the inherited weights after batch-norm
//!   recalibration.
//! - [`progressive::Progressive`]: Once-for-All's progressive shrinking of an elastic supernet
//!   (widths, then depths), then candidates evaluated as in SPOS.
//! - [`zero_cost::ZeroCost`]: each candidate scored untrained by zero-cost proxies (SynFlow,
//!   gradient norm, SNIP).
//!
//! ```yaml
//! model: {type: ConvNet, args: {image_size: 28, widths: [8, 16]}}
//! candidates: [NC3, NC5, SC3, IDT]
//! data: {dataset: fashion_mnist, train_size: 2000, valid_size: 1000}
//! optim: RegularizedEvolution
//! estim: {type: SPOS, args: {epochs: 3, num_bn_batch: 10}}
//! stop: {max_trials: 30}
//! ```

mod bench;
pub mod progressive;
pub mod proxies;
pub mod recalibrate;
pub mod spos;
pub mod subnet;
pub mod zero_cost;

pub use bench::{Bench, ElasticInfo};

use crate::setup::NetworkSetup;
use modnas_core::config::ConfigError;
use modnas_core::estimator::EstimRegistry;
use modnas_core::registry::RegistryError;
use std::sync::Arc;

/// The estimator names of this module (configurations naming one of them are discrete searches
/// over a network).
pub const NAMES: &[&str] = &["SubNet", "SPOS", "ProgressiveShrinking", "ZeroCost"];

/// Registers the candidate estimators. `net` is the network of the configuration being built
/// (`None` for listings: building one then fails with a clear error).
pub fn register_all(
    reg: &mut EstimRegistry,
    net: Option<Arc<NetworkSetup>>,
) -> Result<(), RegistryError> {
    let n = net.clone();
    reg.add::<subnet::SubNetArgs>(
        "SubNet",
        &["SubNetEstim", "SubNetEstimator"],
        "Trains each candidate network from scratch for `epochs` and validates it (stand-alone accuracy).",
        move |a, ctx| Ok(Box::new(subnet::SubNet::new(a, Bench::new(need(&n)?, ctx.seed)?))),
    )?;
    let n = net.clone();
    reg.add::<zero_cost::ZeroCostArgs>(
        "ZeroCost",
        &["ZeroCostProxy", "ZeroCostEstim", "Proxy"],
        "Scores each candidate network untrained, at initialisation, by zero-cost proxies: synflow (data-free), grad_norm, snip.",
        move |a, ctx| Ok(Box::new(zero_cost::ZeroCost::new(a, Bench::new(need(&n)?, ctx.seed)?))),
    )?;
    let n = net.clone();
    reg.add::<progressive::ProgressiveArgs>(
        "ProgressiveShrinking",
        &["ProgressiveShrinkingEstim", "PS", "OnceForAll", "OFA"],
        "Once-for-All: trains an elastic supernet from the largest network to smaller ones (widths, then depths; L1 channel re-ranking per stage; several subnets per batch), then validates each candidate with inherited weights after batch-norm recalibration.",
        move |mut a: progressive::ProgressiveArgs, ctx| {
            a.supernet = a.supernet.map(|p| ctx.resolve(&p));
            Ok(Box::new(progressive::Progressive::new(
                a,
                Bench::new(need(&n)?, ctx.seed)?,
            )?))
        },
    )?;
    reg.add::<spos::SposArgs>(
        "SPOS",
        &["SPOSEstim", "OneShot", "UniformSupernet"],
        "Trains one supernet with a uniformly sampled path per batch, then validates each candidate with inherited weights after batch-norm recalibration.",
        move |mut a: spos::SposArgs, ctx| {
            a.supernet = a.supernet.map(|p| ctx.resolve(&p));
            Ok(Box::new(spos::Spos::new(a, Bench::new(need(&net)?, ctx.seed)?)?))
        },
    )
}

fn need(net: &Option<Arc<NetworkSetup>>) -> Result<Arc<NetworkSetup>, ConfigError> {
    net.clone().ok_or_else(|| {
        ConfigError::new("this estimator evaluates networks: the configuration needs a `model:`")
    })
}

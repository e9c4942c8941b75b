//! Deterministic seed derivation.
//!
//! Every run has one seed; every trial and every component derives its own seed from it with
//! [`derive_seed`], so any trial can be replayed from the journal alone.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// The random generator used throughout modnas: portable across platforms and versions, and
/// serialisable, so optimizer states survive a restart bit for bit.
pub type Rng = ChaCha8Rng;

/// One step of SplitMix64, a well-mixed 64-bit hash.
pub fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = x;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Hash of a component tag (FNV-1a), used to separate the seed streams of components.
fn tag_hash(tag: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in tag.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01B3);
    }
    h
}

/// Derives the seed of component `tag` for item `index` (a trial number, a worker…) of the run
/// seeded with `run_seed`.
///
/// ```
/// use modnas_core::seed::derive_seed;
/// assert_eq!(derive_seed(7, "trial", 3), derive_seed(7, "trial", 3));
/// assert_ne!(derive_seed(7, "trial", 3), derive_seed(7, "trial", 4));
/// assert_ne!(derive_seed(7, "trial", 3), derive_seed(7, "optim", 3));
/// ```
pub fn derive_seed(run_seed: u64, tag: &str, index: u64) -> u64 {
    splitmix64(splitmix64(run_seed ^ tag_hash(tag)) ^ splitmix64(index.wrapping_add(0x51_7C_C1_B7)))
}

/// A generator seeded with `seed`.
pub fn rng_from_seed(seed: u64) -> Rng {
    Rng::seed_from_u64(seed)
}

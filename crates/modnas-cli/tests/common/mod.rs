//! Helpers shared by the CLI tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The `modnas` binary under test.
pub fn modnas() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_modnas"));
    c.env_remove("RUST_LOG");
    // The data made by scripts/setup-data, wherever the binary was built.
    c.env("MODNAS_DATA_DIR", repo().join("data"));
    c
}

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repository root")
}

/// Fails with set-up instructions when the NAS-Bench-201 table is missing.
pub fn require_nb201() -> PathBuf {
    let p = repo().join("data/nasbench201/cifar10.csv");
    assert!(
        p.is_file(),
        "the NAS-Bench-201 table is missing: run `scripts/setup-data` (the README's test command does)"
    );
    p
}

/// stdout + stderr as text.
pub fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).to_string(),
        String::from_utf8_lossy(&o.stderr).to_string(),
    )
}

/// Address space (KiB) that the binary maps before doing anything: with the tensor layer it loads
/// libtorch and its CUDA libraries (about 2.5 GB of mappings), without it almost nothing. Tests
/// that cap memory with `ulimit -v` add it to their own budget.
pub const STARTUP_ADDRESS_SPACE_KIB: u64 = if cfg!(feature = "torch") {
    4_000_000
} else {
    0
};

/// Trials of the journal at `journal` that are finished (complete, failed or pruned); 0 while it
/// does not exist or cannot be read.
pub fn finished_trials(journal: &Path) -> i64 {
    if !journal.exists() {
        return 0;
    }
    let Ok(c) =
        rusqlite::Connection::open_with_flags(journal, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
    else {
        return 0;
    };
    c.query_row(
        "SELECT COUNT(*) FROM trials WHERE state IN ('complete', 'failed', 'pruned')",
        [],
        |r| r.get(0),
    )
    .unwrap_or(0)
}

/// `(number, state, params, metrics)` of a journal's trials.
pub type TrialRow = (i64, String, String, Option<String>);

/// Every trial of the journal at `journal`, by number.
pub fn trial_rows(journal: &Path) -> Vec<TrialRow> {
    let c = rusqlite::Connection::open(journal).unwrap();
    let mut s = c
        .prepare("SELECT number, state, params, metrics FROM trials ORDER BY number")
        .unwrap();
    s.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

//! Per-trial overhead of modnas's search loop on the NAS-Bench-201 table: random search and
//! regularized evolution, with the in-memory journal and with the SQLite journal (one durable
//! transaction when a trial is created, one when it finishes and one when the optimizer learns),
//! both in its default mode (`sqlite`: survives a crash of the process) and with an fsync per
//! commit (`sqlite-power`: survives a power loss).
//!
//! ```text
//! cargo run --release -p modnas-benchmarks --bin overhead -- [--trials 2000] [--repeats 3]
//! ```
//! Prints one JSON object per configuration: the median over repeats of microseconds per trial.

use modnas_benchmarks::{nb201, run_search};
use modnas_core::journal::{Journal, MemoryJournal};
use modnas_store::{SqliteJournal, Sync};
use std::time::Instant;

fn main() {
    let mut trials = 2000u64;
    let mut repeats = 3usize;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--trials" => trials = args.next().and_then(|s| s.parse().ok()).unwrap_or(trials),
            "--repeats" => repeats = args.next().and_then(|s| s.parse().ok()).unwrap_or(repeats),
            _ => {
                eprintln!("usage: overhead [--trials N] [--repeats R]");
                std::process::exit(2);
            }
        }
    }
    let table = match nb201() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    };
    let optimizers = [
        ("random", "RandomSearch"),
        (
            "regularized_evolution",
            "{type: RegularizedEvolution, args: {population: 100, sample: 25}}",
        ),
    ];
    for (name, spec) in optimizers {
        for storage in ["memory", "sqlite", "sqlite-power"] {
            let mut per_trial = Vec::new();
            for r in 0..repeats {
                let dir = tempfile::tempdir().expect("temp dir");
                let journal: Box<dyn Journal> = match storage {
                    "memory" => Box::new(MemoryJournal::new()),
                    _ => Box::new(
                        SqliteJournal::open(&dir.path().join("journal.sqlite"), Sync::Process)
                            .expect("journal"),
                    ),
                };
                let start = Instant::now();
                let t = run_search(&table, spec, r as u64, trials, journal).expect("search");
                let secs = start.elapsed().as_secs_f64();
                assert_eq!(t.len() as u64, trials);
                per_trial.push(secs / trials as f64 * 1e6);
            }
            per_trial.sort_by(f64::total_cmp);
            let median = per_trial[per_trial.len() / 2];
            println!(
                "{}",
                serde_json::json!({"framework": "modnas", "optimizer": name, "storage": storage, "trials": trials, "repeats": repeats, "us_per_trial": median})
            );
        }
    }
}

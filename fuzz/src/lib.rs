//! # modnas-fuzz
//!
//! Seeded, mutation-based fuzzing of modnas's input parsers that runs on stable Rust: the
//! configuration loader (YAML to [`Node`](modnas_core::config::Node) trees and parameter
//! spaces), the benchmark-table loader, and the reader of an external program's JSON lines.
//!
//! The targets are plain functions ([`config`], [`table`], [`external_output`]) that must not
//! panic on any input; [`fuzz`] feeds them mutated inputs and reports the first panic. See
//! `fuzz/README.md` for the command line.
#![warn(missing_docs)]

mod mutate;
mod targets;

pub use mutate::{Mutator, SplitMix};
pub use targets::{
    config, config_outcome, exercise_space, external_output, external_output_outcome, table,
    table_outcome,
};

use std::collections::HashSet;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Inputs are cut to this many bytes: larger inputs make iterations slow without reaching new
/// code (the size limits of the loaders are tested separately).
pub const MAX_INPUT: usize = 64 * 1024;

/// The corpus grows by inputs with new outcomes up to this many entries.
const MAX_CORPUS: usize = 4096;

/// What is fuzzed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// [`config`].
    Config,
    /// [`table`].
    Table,
    /// [`external_output`].
    ExternalOutput,
}

impl Target {
    /// Every target.
    pub const ALL: [Target; 3] = [Target::Config, Target::Table, Target::ExternalOutput];

    /// The target called `name` (`config`, `table`, `external_output`).
    pub fn from_name(name: &str) -> Option<Target> {
        Target::ALL
            .into_iter()
            .find(|t| t.name() == name || t.name().replace('_', "-") == name)
    }

    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Target::Config => "config",
            Target::Table => "table",
            Target::ExternalOutput => "external_output",
        }
    }

    /// The file extension crash files get.
    pub fn extension(self) -> &'static str {
        match self {
            Target::Config => "yaml",
            Target::Table => "table",
            Target::ExternalOutput => "txt",
        }
    }

    /// Runs the target on `data` and returns its outcome label.
    pub fn run(self, data: &[u8]) -> String {
        match self {
            Target::Config => config_outcome(data),
            Target::Table => table_outcome(data),
            Target::ExternalOutput => external_output_outcome(data),
        }
    }

    /// The seed corpus found under the repository root `repo`: the example configurations and
    /// the bad-configuration corpus for `config`, plus `fuzz/corpus/<target>/*`.
    pub fn seed_corpus(self, repo: &Path) -> Vec<Vec<u8>> {
        let mut dirs: Vec<PathBuf> = vec![repo.join("fuzz/corpus").join(self.name())];
        if self == Target::Config {
            dirs.push(repo.join("examples"));
            dirs.push(repo.join("crates/modnas-cli/tests/bad-configs"));
        }
        let mut out = Vec::new();
        for d in dirs {
            out.extend(read_dir_files(&d));
        }
        if out.is_empty() {
            out.push(Vec::new());
        }
        out
    }

    /// The tokens that mutations insert.
    pub fn dictionary(self) -> &'static [&'static str] {
        const YAML: &[&str] = &[
            "&a ",
            "*a",
            "&b ",
            "*b",
            "<<: *a",
            "- ",
            "\n- ",
            "{",
            "}",
            "[",
            "]",
            ": ",
            ":",
            ",",
            "!!",
            "!!str ",
            "!!int ",
            "!!float ",
            "!!bool ",
            "!!null ",
            "!!map",
            "?",
            "|",
            ">",
            "'",
            "\"",
            "#",
            "\n",
            "\n  ",
            "---\n",
            "...\n",
            "~",
            "null",
            "true",
            ".inf",
            "-.inf",
            ".nan",
            "NaN",
            "1e308",
            "-1e308",
            "1e-320",
            "4.9e-324",
            "1.0000000000000002e300",
            "9223372036854775807",
            "-9223372036854775808",
            "9223372036854775808",
            "1152921504606846976",
            "0x7fffffffffffffff",
            "0o777",
            "-0",
            "0.5",
            "é",
            "\u{2028}",
            "\u{feff}",
            "日本",
            "😀",
            "\t",
            "\r\n",
            "\\",
            "\\u0000",
            "type: ",
            "low: ",
            "high: ",
            "log: true",
            "choices: ",
            "space: ",
            "optim: ",
            "estim: ",
            "args: ",
            "defaults: ",
            "stop: ",
            "objectives: ",
            "search: ",
            "tune: ",
            "int",
            "float",
            "categorical",
            "a.b.c",
            "x+: ",
            "*: ",
        ];
        const JSON: &[&str] = &[
            "{",
            "}",
            "[",
            "]",
            ":",
            ",",
            "\"",
            "\\\"",
            "\\u00e9",
            "\\ud800",
            "NaN",
            "Infinity",
            "-Infinity",
            "1e400",
            "-0",
            "1e-400",
            "9223372036854775808",
            "null",
            "true",
            "é",
            "😀",
            "\u{ff}",
            "{\"loss\": ",
            "\"a\": {\"b\": ",
            "0.5",
            " ",
        ];
        match self {
            Target::Config | Target::Table => YAML,
            Target::ExternalOutput => JSON,
        }
    }
}

fn read_dir_files(d: &Path) -> Vec<Vec<u8>> {
    let Ok(entries) = std::fs::read_dir(d) else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    paths.sort();
    paths
        .into_iter()
        .filter_map(|p| std::fs::read(p).ok())
        .map(|mut b| {
            b.truncate(MAX_INPUT);
            b
        })
        .collect()
}

/// Settings of one fuzzing session.
#[derive(Clone, Debug)]
pub struct Options {
    /// The target.
    pub target: Target,
    /// Number of mutated inputs to run.
    pub iterations: u64,
    /// Stop after this long, whatever `iterations` says.
    pub max_time: Option<Duration>,
    /// Seed of the mutations: the same seed and corpus give the same inputs.
    pub seed: u64,
    /// Before running an input, write it here (so that an abort, which cannot be caught,
    /// leaves the input behind).
    pub current_input: Option<PathBuf>,
}

/// An input that made a target panic.
#[derive(Clone, Debug)]
pub struct Crash {
    /// The input.
    pub input: Vec<u8>,
    /// The panic message and location.
    pub message: String,
}

/// The result of a session.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Inputs run (seed corpus included).
    pub executions: u64,
    /// Distinct outcome labels seen.
    pub outcomes: usize,
    /// Size of the corpus at the end.
    pub corpus: usize,
    /// The slowest input and how long it took.
    pub slowest: Option<(Duration, Vec<u8>)>,
    /// The first crash, which ends the session.
    pub crash: Option<Crash>,
}

static LAST_PANIC: Mutex<Option<String>> = Mutex::new(None);

/// Replaces the panic hook by one that records the message for [`run_one`] instead of printing
/// it (the fuzzer prints crashes itself).
pub fn quiet_panics() {
    std::panic::set_hook(Box::new(|info| {
        let msg = match info.payload().downcast_ref::<&str>() {
            Some(s) => s.to_string(),
            None => info
                .payload()
                .downcast_ref::<String>()
                .cloned()
                .unwrap_or_else(|| "a panic with a non-string payload".into()),
        };
        let at = info
            .location()
            .map(|l| format!(" at {}:{}:{}", l.file(), l.line(), l.column()))
            .unwrap_or_default();
        if let Ok(mut g) = LAST_PANIC.lock() {
            *g = Some(format!("{msg}{at}"));
        }
    }));
}

/// Runs `target` on `data`, turning a panic into `Err(message)`.
pub fn run_one(target: Target, data: &[u8]) -> Result<String, String> {
    catch_unwind(AssertUnwindSafe(|| target.run(data))).map_err(|_| {
        LAST_PANIC
            .lock()
            .ok()
            .and_then(|mut g| g.take())
            .unwrap_or_else(|| "panic".into())
    })
}

/// Runs the seed corpus, then mutated inputs, until a crash, `iterations` or `max_time`.
pub fn fuzz(opts: &Options, seeds: Vec<Vec<u8>>) -> Report {
    let start = Instant::now();
    let mut report = Report::default();
    let mut seen: HashSet<String> = HashSet::new();
    let mut corpus: Vec<Vec<u8>> = Vec::new();
    let mut mutator = Mutator::new(opts.seed, opts.target.dictionary());
    let mut run = |input: Vec<u8>, report: &mut Report, corpus: &mut Vec<Vec<u8>>| -> bool {
        if let Some(p) = &opts.current_input {
            let _ = std::fs::write(p, &input);
        }
        let t0 = Instant::now();
        let r = run_one(opts.target, &input);
        let took = t0.elapsed();
        report.executions += 1;
        if report.slowest.as_ref().is_none_or(|(d, _)| took > *d) {
            report.slowest = Some((took, input.clone()));
        }
        match r {
            Ok(outcome) => {
                if seen.insert(outcome) && corpus.len() < MAX_CORPUS {
                    corpus.push(input);
                }
                true
            }
            Err(message) => {
                report.crash = Some(Crash { input, message });
                false
            }
        }
    };
    for s in seeds {
        if !run(s.clone(), &mut report, &mut corpus) {
            break;
        }
        // Every seed stays in the corpus, whatever its outcome.
        if !corpus.contains(&s) {
            corpus.push(s);
        }
    }
    if corpus.is_empty() {
        corpus.push(Vec::new());
    }
    let mut i = 0;
    while report.crash.is_none() && i < opts.iterations {
        if opts.max_time.is_some_and(|m| start.elapsed() >= m) {
            break;
        }
        let input = mutator.mutate(&corpus);
        run(input, &mut report, &mut corpus);
        i += 1;
    }
    report.outcomes = seen.len();
    report.corpus = corpus.len();
    report
}

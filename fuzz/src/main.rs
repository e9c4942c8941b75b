//! `modnas-fuzz <target> [--iterations N] [--seconds S] [--seed S] [--corpus DIR] [--crashes DIR]`
//!
//! Runs the seed corpus and then mutated inputs through a target. The work runs in a child
//! process, so that an abort (a stack overflow, a failed allocation), which no `catch_unwind`
//! can catch, is reported with its input too. Exit codes: 0 no crash, 1 a crash (its input is
//! written to the crashes directory), 2 a usage error.

use modnas_fuzz::{Options, Target, fuzz, quiet_panics, run_one};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

const USAGE: &str = "usage: modnas-fuzz <config|table|external_output> [--iterations N] [--seconds S] [--seed S] [--corpus DIR]... [--crashes DIR] [--replay FILE]...";

struct Args {
    target: Target,
    iterations: u64,
    seconds: Option<u64>,
    seed: u64,
    corpus: Vec<PathBuf>,
    crashes: PathBuf,
    replay: Vec<PathBuf>,
    worker: bool,
}

fn parse_args(raw: &[String]) -> Result<Args, String> {
    let mut it = raw.iter();
    let name = it.next().ok_or("missing target")?;
    let target = Target::from_name(name).ok_or_else(|| format!("unknown target `{name}`"))?;
    let mut a = Args {
        target,
        iterations: 100_000,
        seconds: None,
        seed: 1,
        corpus: Vec::new(),
        crashes: PathBuf::from("fuzz/crashes"),
        replay: Vec::new(),
        worker: false,
    };
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .cloned()
                .ok_or_else(|| format!("`{flag}` needs a value"))
        };
        let number = |v: String| -> Result<u64, String> {
            v.parse()
                .map_err(|_| format!("`{flag}`: `{v}` is not a non-negative integer"))
        };
        match flag.as_str() {
            "--iterations" => a.iterations = number(value()?)?,
            "--seconds" => a.seconds = Some(number(value()?)?),
            "--seed" => a.seed = number(value()?)?,
            "--corpus" => a.corpus.push(PathBuf::from(value()?)),
            "--crashes" => a.crashes = PathBuf::from(value()?),
            "--replay" => a.replay.push(PathBuf::from(value()?)),
            "--worker" => a.worker = true,
            other => return Err(format!("unknown option `{other}`")),
        }
    }
    Ok(a)
}

/// The repository root: the working directory when it holds `fuzz/`, else the source tree this
/// binary was built from.
fn repo_root() -> PathBuf {
    if Path::new("fuzz/Cargo.toml").is_file() {
        return PathBuf::from(".");
    }
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

fn crash_name(target: Target, input: &[u8]) -> String {
    // FNV-1a: a stable short name per input.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in input {
        h = (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("crash-{}-{h:016x}.{}", target.name(), target.extension())
}

fn save_crash(dir: &Path, target: Target, input: &[u8]) -> Result<PathBuf, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let p = dir.join(crash_name(target, input));
    std::fs::write(&p, input).map_err(|e| format!("cannot write {}: {e}", p.display()))?;
    Ok(p)
}

fn worker(a: &Args) -> Result<bool, String> {
    quiet_panics();
    if !a.replay.is_empty() {
        let mut ok = true;
        for f in &a.replay {
            let data = std::fs::read(f).map_err(|e| format!("cannot read {}: {e}", f.display()))?;
            match run_one(a.target, &data) {
                Ok(outcome) => println!("{}: {outcome}", f.display()),
                Err(m) => {
                    println!("{}: CRASH {m}", f.display());
                    ok = false;
                }
            }
        }
        return Ok(ok);
    }
    let mut seeds = a.target.seed_corpus(&repo_root());
    for d in &a.corpus {
        let entries =
            std::fs::read_dir(d).map_err(|e| format!("cannot read {}: {e}", d.display()))?;
        let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for p in paths.into_iter().filter(|p| p.is_file()) {
            if let Ok(b) = std::fs::read(&p) {
                seeds.push(b);
            }
        }
    }
    std::fs::create_dir_all(&a.crashes)
        .map_err(|e| format!("cannot create {}: {e}", a.crashes.display()))?;
    let opts = Options {
        target: a.target,
        iterations: a.iterations,
        max_time: a.seconds.map(Duration::from_secs),
        seed: a.seed,
        current_input: Some(a.crashes.join(".current")),
    };
    let report = fuzz(&opts, seeds);
    let _ = std::fs::remove_file(a.crashes.join(".current"));
    println!(
        "{}: {} executions, {} distinct outcomes, corpus {}",
        a.target.name(),
        report.executions,
        report.outcomes,
        report.corpus
    );
    if let Some((d, input)) = &report.slowest {
        let p = a.crashes.join(format!(
            "slowest-{}.{}",
            a.target.name(),
            a.target.extension()
        ));
        let saved = std::fs::write(&p, input).is_ok();
        println!(
            "slowest input: {:.1} ms ({} bytes){}",
            d.as_secs_f64() * 1e3,
            input.len(),
            if saved {
                format!(", written to {}", p.display())
            } else {
                String::new()
            }
        );
    }
    match report.crash {
        None => Ok(true),
        Some(c) => {
            let p = save_crash(&a.crashes, a.target, &c.input)?;
            println!("CRASH: {}\ninput written to {}", c.message, p.display());
            Ok(false)
        }
    }
}

fn main() -> ExitCode {
    let raw: Vec<String> = std::env::args().skip(1).collect();
    let a = match parse_args(&raw) {
        Ok(a) => a,
        Err(m) => {
            eprintln!("error: {m}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    if a.worker || !a.replay.is_empty() {
        return match worker(&a) {
            Ok(true) => ExitCode::SUCCESS,
            Ok(false) => ExitCode::from(1),
            Err(m) => {
                eprintln!("error: {m}");
                ExitCode::from(2)
            }
        };
    }
    // Supervise a worker: an abort kills it, not us, and its last input is still on disk.
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("error: cannot find this program: {e}");
            return ExitCode::from(2);
        }
    };
    let status = std::process::Command::new(exe)
        .args(&raw)
        .arg("--worker")
        .status();
    match status {
        Ok(s) if s.success() => ExitCode::SUCCESS,
        Ok(s) if s.code() == Some(1) || s.code() == Some(2) => {
            ExitCode::from(s.code().unwrap_or(1) as u8)
        }
        Ok(s) => {
            let current = a.crashes.join(".current");
            match std::fs::read(&current) {
                Ok(input) => {
                    let saved = save_crash(&a.crashes, a.target, &input);
                    let _ = std::fs::remove_file(&current);
                    match saved {
                        Ok(p) => println!(
                            "CRASH: the worker died ({s}); its last input was written to {}",
                            p.display()
                        ),
                        Err(m) => eprintln!("error: the worker died ({s}); {m}"),
                    }
                }
                Err(_) => eprintln!("error: the worker died ({s}) before running an input"),
            }
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("error: cannot start the worker: {e}");
            ExitCode::from(2)
        }
    }
}

//! Trials claimed and finished per second by the PostgreSQL journal on a loopback server, with
//! 1, 2, 4, 8 and 16 worker threads (one connection each) and a zero-cost evaluation; then the
//! same server measured with Optuna (RandomSampler, `study.optimize`, as many processes).
//!
//! `cargo run --release -p modnas-store --example pg_throughput -- [TRIALS] [PYTHON]`
//! (TRIALS per setting, default 1000; PYTHON with optuna and psycopg2, default `python3`;
//! `-` skips Optuna). Needs the PostgreSQL server binaries (`scripts/setup-postgres`).

use modnas_core::journal::{Journal, RunMeta};
use modnas_core::param::{Assignment, Domain, ParamSpace, ParamValue};
use modnas_core::trial::{Evaluation, NewTrial, Outcome};
use modnas_store::PgJournal;
use modnas_store::test_server::TestServer;
use std::time::{Duration, Instant};

fn space() -> ParamSpace {
    let mut s = ParamSpace::new();
    let lr = Domain::Float {
        low: 1e-5,
        high: 1.0,
        log: true,
    };
    if let Err(e) = s.add("lr", lr) {
        eprintln!("{e}");
    }
    s
}

fn modnas(url: &str, run: &str, workers: usize, trials: usize) -> Result<f64, String> {
    let s = space();
    let lease = Duration::from_secs(60);
    let mut setup = PgJournal::connect(url, run, lease).map_err(|e| e.to_string())?;
    setup
        .open(&RunMeta {
            name: run.into(),
            seed: 0,
            config: serde_json::json!({}),
            space: serde_json::json!([]),
        })
        .map_err(|e| e.to_string())?;
    let batch: Vec<NewTrial> = (0..trials)
        .map(|i| NewTrial {
            params: Assignment(vec![ParamValue::Float(1e-3 * (1 + i % 100) as f64)]),
            seed: i as u64,
        })
        .collect();
    setup.create(&s, &batch, "{}").map_err(|e| e.to_string())?;
    let mut journals = Vec::new();
    for _ in 0..workers {
        journals.push(PgJournal::connect(url, run, lease).map_err(|e| e.to_string())?);
    }
    let t0 = Instant::now();
    let handles: Vec<_> = journals
        .into_iter()
        .enumerate()
        .map(|(w, mut j)| {
            std::thread::spawn(move || -> Result<usize, String> {
                let s = space();
                let name = format!("w{w}");
                let mut done = 0;
                while let Some(t) = j.claim(&s, &name).map_err(|e| e.to_string())? {
                    let lr = match t.params.values()[0] {
                        ParamValue::Float(x) => x,
                        _ => 0.0,
                    };
                    let ev = Evaluation {
                        metrics: [("loss".to_string(), lr)].into(),
                        cost: None,
                        attrs: serde_json::Value::Null,
                    };
                    if j.finish(t.number, &name, &Outcome::Complete(ev))
                        .map_err(|e| e.to_string())?
                    {
                        done += 1;
                    }
                }
                Ok(done)
            })
        })
        .collect();
    let mut done = 0;
    for h in handles {
        done += h.join().map_err(|_| "a worker panicked".to_string())??;
    }
    let dt = t0.elapsed().as_secs_f64();
    if done != trials {
        return Err(format!("{done} of {trials} trials finished"));
    }
    Ok(trials as f64 / dt)
}

fn optuna(python: &str, url: &str, workers: usize, trials: usize) -> Result<f64, String> {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../bench/pg_throughput_optuna.py"
    );
    let out = std::process::Command::new(python)
        .arg(script)
        .arg(url)
        .arg(workers.to_string())
        .arg(trials.to_string())
        .output()
        .map_err(|e| format!("cannot run {python}: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.strip_prefix("trials_per_s ")?.trim().parse().ok())
        .ok_or_else(|| {
            format!(
                "optuna bench failed: {}{}",
                text,
                String::from_utf8_lossy(&out.stderr)
            )
        })
}

fn main() {
    let mut args = std::env::args().skip(1);
    let trials: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let python = args.next().unwrap_or_else(|| "python3".into());
    let server = match TestServer::start("bench") {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    let url = server.url();
    println!("{trials} trials per setting");
    println!("workers  modnas trials/s  optuna trials/s  ratio");
    for workers in [1, 2, 4, 8, 16] {
        let ours = match modnas(&url, &format!("bench-{workers}"), workers, trials) {
            Ok(x) => x,
            Err(e) => {
                eprintln!("modnas with {workers} workers: {e}");
                std::process::exit(1);
            }
        };
        let theirs = if python == "-" {
            None
        } else {
            match optuna(&python, &url, workers, trials) {
                Ok(x) => Some(x),
                Err(e) => {
                    eprintln!("{e}");
                    None
                }
            }
        };
        match theirs {
            Some(o) => println!("{workers:>7}  {ours:>16.1}  {o:>15.1}  {:>5.1}", ours / o),
            None => println!("{workers:>7}  {ours:>16.1}  {:>15}  {:>5}", "-", "-"),
        }
    }
}

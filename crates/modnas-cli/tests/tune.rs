//! `modnas tune` on real external programs: finding an optimum, and surviving programs that
//! crash, hang, print garbage or cannot start.

mod common;
use common::{modnas, text};
use rusqlite::Connection;
use std::path::Path;

const QUADRATIC: &str = r#"
import argparse, json
p = argparse.ArgumentParser()
p.add_argument("--x", type=float)
p.add_argument("--y", type=float)
a = p.parse_args()
print("training...")
print(json.dumps({"loss": (a.x - 3) ** 2 + (a.y + 1) ** 2, "x": a.x}))
"#;

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

fn best_value(stdout: &str, metric: &str) -> f64 {
    let line = stdout
        .lines()
        .find(|l| l.starts_with(&format!("best {metric} = ")))
        .unwrap_or_else(|| panic!("no best line in:\n{stdout}"));
    line.split(' ').nth(3).unwrap().parse().unwrap()
}

fn tune(dir: &Path, name: &str, extra: &[&str], command: &[&str]) -> std::process::Output {
    let mut c = modnas();
    c.current_dir(dir)
        .args([
            "tune",
            "--runs-dir",
            "runs",
            "--name",
            name,
            "--no-progress",
            "-q",
        ])
        .args(extra)
        .arg("--")
        .args(command);
    c.output().unwrap()
}

#[test]
fn finds_the_optimum_of_an_external_program() {
    let dir = tempfile::tempdir().unwrap();
    let prog = write(dir.path(), "quadratic.py", QUADRATIC);
    let params = [
        "-p",
        "x=float:-5:5",
        "-p",
        "y=float:-5:5",
        "--objective",
        "loss:min",
    ];
    for (optim, trials, limit) in [
        ("RandomSearch", "150", 1.0),
        ("{type: BayesOpt, args: {n_initial: 8}}", "30", 0.05),
        ("{type: Smbo, args: {n_next: 8}}", "60", 1.0),
    ] {
        let name = optim
            .split([',', ' ', '{', ':'])
            .find(|s| !s.is_empty() && *s != "type")
            .unwrap()
            .to_lowercase();
        let mut extra: Vec<&str> = params.to_vec();
        extra.extend(["--optim", optim, "--trials", trials]);
        let out = tune(
            dir.path(),
            &name,
            &extra,
            &["python3", &prog, "--x", "{x}", "--y", "{y}"],
        );
        let (so, se) = text(&out);
        assert!(out.status.success(), "{optim}:\n{so}\n{se}");
        let best = best_value(&so, "loss");
        eprintln!("{optim}: best loss {best:.5} after {trials} trials");
        assert!(
            best < limit,
            "{optim}: best loss {best} (limit {limit})\n{so}"
        );
        assert!(
            dir.path()
                .join("runs")
                .join(&name)
                .join("report.html")
                .exists()
        );
        // Every trial kept its output.
        assert!(
            dir.path()
                .join("runs")
                .join(&name)
                .join("trials/0/stdout.log")
                .exists()
        );
    }
}

#[test]
fn parallel_trials_run_as_separate_processes() {
    let dir = tempfile::tempdir().unwrap();
    // Each trial records its pid and when it ran.
    let prog = write(
        dir.path(),
        "slow.py",
        "import json, os, sys, time\nd = os.environ['MODNAS_TRIAL_DIR']\nt0 = time.time()\ntime.sleep(0.4)\nopen(d + '/span', 'w').write(f'{os.getpid()} {t0} {time.time()}')\nprint(json.dumps({'v': float(sys.argv[1])}))\n",
    );
    let out = tune(
        dir.path(),
        "par",
        &[
            "-p",
            "a=float:0:1",
            "--objective",
            "v",
            "--trials",
            "8",
            "--parallel",
            "4",
        ],
        &["python3", &prog, "{a}"],
    );
    let (so, se) = text(&out);
    assert!(out.status.success(), "{so}\n{se}");
    let spans: Vec<(String, f64, f64)> = (0..8)
        .map(|i| {
            let t = std::fs::read_to_string(dir.path().join(format!("runs/par/trials/{i}/span")))
                .unwrap();
            let v: Vec<&str> = t.split(' ').collect();
            (
                v[0].to_string(),
                v[1].parse().unwrap(),
                v[2].parse().unwrap(),
            )
        })
        .collect();
    let pids: std::collections::HashSet<&String> = spans.iter().map(|s| &s.0).collect();
    assert_eq!(pids.len(), 8, "one process per trial");
    // The most trials running at the same moment.
    let most = spans
        .iter()
        .map(|a| spans.iter().filter(|b| b.1 <= a.1 && a.1 < b.2).count())
        .max()
        .unwrap();
    assert!(
        (2..=4).contains(&most),
        "{most} trials overlapped (4 slots)"
    );
}

fn failures(db: &Path) -> Vec<(String, Option<String>)> {
    let c = Connection::open(db).unwrap();
    let mut s = c
        .prepare("SELECT state, error FROM trials ORDER BY number")
        .unwrap();
    s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

#[test]
fn crashing_hanging_and_garbage_programs_fail_their_trials() {
    let dir = tempfile::tempdir().unwrap();
    let cases: Vec<(&str, String, Vec<&str>, Vec<&str>)> = vec![
        (
            "crash",
            write(
                dir.path(),
                "crash.py",
                "import sys\nprint('loading data', file=sys.stderr)\nprint('RuntimeError: CUDA out of memory', file=sys.stderr)\nsys.exit(3)\n",
            ),
            vec![],
            vec![
                "exited with status 3",
                "--- last lines of stderr ---",
                "RuntimeError: CUDA out of memory",
            ],
        ),
        (
            "hang",
            write(dir.path(), "hang.py", "import time\ntime.sleep(60)\n"),
            vec!["--timeout", "1s"],
            vec!["timed out after 1 s"],
        ),
        (
            "garbage",
            write(
                dir.path(),
                "garbage.py",
                "print('hello')\nprint('{not json at all}')\nprint('loss = 0.3')\n",
            ),
            vec![],
            vec!["printed no JSON object line on stdout", "loss = 0.3"],
        ),
        (
            "segv",
            write(
                dir.path(),
                "segv.py",
                "import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)\n",
            ),
            vec![],
            vec!["killed by signal 11 (SIGSEGV)"],
        ),
        (
            "nonnumeric",
            write(dir.path(), "text.py", "print('{\"loss\": \"low\"}')\n"),
            vec![],
            vec!["holds no numeric metric"],
        ),
    ];
    for (name, prog, extra, expects) in cases {
        let mut args = vec![
            "-p",
            "x=float:0:1",
            "--objective",
            "loss:min",
            "--trials",
            "3",
        ];
        args.extend(extra);
        let start = std::time::Instant::now();
        let out = tune(dir.path(), name, &args, &["python3", &prog, "{x}"]);
        let (so, se) = text(&out);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{name}: a search where no trial succeeds exits with 1\n{so}\n{se}"
        );
        assert!(se.contains("no trial succeeded (3 failed)"), "{name}: {se}");
        assert!(!se.contains("panicked"));
        let rows = failures(&dir.path().join(format!("runs/{name}/journal.sqlite")));
        assert_eq!(rows.len(), 3, "{name}: every trial is recorded");
        for (state, err) in rows {
            assert_eq!(state, "failed");
            let err = err.unwrap();
            for e in &expects {
                assert!(
                    err.contains(e),
                    "{name}: `{e}` not in the recorded reason:\n{err}"
                );
            }
        }
        if name == "hang" {
            assert!(
                start.elapsed().as_secs_f64() < 20.0,
                "the hanging program was not killed in time"
            );
        }
    }
}

#[test]
fn failing_trials_do_not_stop_the_search() {
    let dir = tempfile::tempdir().unwrap();
    let prog = write(
        dir.path(),
        "half.py",
        "import json, sys\nx = float(sys.argv[1])\nif x < 0: sys.exit('negative x is not supported')\nprint(json.dumps({'loss': (x - 2) ** 2}))\n",
    );
    let out = tune(
        dir.path(),
        "half",
        &[
            "-p",
            "x=float:-5:5",
            "--objective",
            "loss:min",
            "--trials",
            "40",
        ],
        &["python3", &prog, "{x}"],
    );
    let (so, se) = text(&out);
    assert!(out.status.success(), "{so}\n{se}");
    let rows = failures(&dir.path().join("runs/half/journal.sqlite"));
    assert_eq!(rows.len(), 40);
    let failed = rows.iter().filter(|r| r.0 == "failed").count();
    assert!(failed > 5 && failed < 35, "{failed} failures");
    assert!(
        rows.iter()
            .filter_map(|r| r.1.as_deref())
            .all(|e| e.contains("negative x is not supported"))
    );
    assert!(best_value(&so, "loss") < 0.5);
}

#[test]
fn a_program_that_cannot_start_stops_the_search_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let out = tune(
        dir.path(),
        "missing",
        &[
            "-p",
            "x=float:0:1",
            "--objective",
            "loss:min",
            "--trials",
            "50",
        ],
        &["no-such-program-xyz", "{x}"],
    );
    let (_, se) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{se}");
    assert!(
        se.contains("cannot start `no-such-program-xyz`: program not found"),
        "{se}"
    );
    assert_eq!(
        failures(&dir.path().join("runs/missing/journal.sqlite")).len(),
        1,
        "only one trial is spent"
    );
}

#[test]
fn values_are_passed_as_single_arguments_never_through_a_shell() {
    let dir = tempfile::tempdir().unwrap();
    let prog = write(
        dir.path(),
        "argv.py",
        "import json, sys\nprint(json.dumps({'n': len(sys.argv) - 1, 'ok': float(sys.argv[1] == 'a b; touch pwned')}))\n",
    );
    let out = tune(
        dir.path(),
        "argv",
        &[
            "-p",
            "s=choice:a b; touch pwned",
            "--objective",
            "ok",
            "--trials",
            "1",
        ],
        &["python3", &prog, "{s}"],
    );
    let (so, se) = text(&out);
    assert!(out.status.success(), "{so}\n{se}");
    assert!(so.contains("best ok = 1 "), "{so}");
    assert!(!dir.path().join("pwned").exists());
}

#[test]
fn results_can_come_from_a_file_and_configs_work_for_tune() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "writer.py",
        "import json, os, sys\njson.dump({'score': -abs(float(sys.argv[1]) - 0.25)}, open(os.environ['MODNAS_RESULT_FILE'], 'w'))\nprint('done, no JSON here')\n",
    );
    write(
        dir.path(),
        "tune.yaml",
        "space:\n  a: {low: 0.0, high: 1.0}\nestim:\n  type: External\n  args:\n    command: [python3, writer.py, \"{a}\"]\n    result: file\nobjectives: [score]\noptim: BayesOpt\nstop: {max_trials: 20}\n",
    );
    let out = modnas()
        .current_dir(dir.path())
        .args([
            "tune",
            "tune.yaml",
            "--runs-dir",
            "runs",
            "--no-progress",
            "-q",
        ])
        .output()
        .unwrap();
    let (so, se) = text(&out);
    assert!(out.status.success(), "{so}\n{se}");
    assert!(best_value(&so, "score") > -0.05, "{so}");
    assert!(
        so.contains("run `tune`"),
        "the run is named after the configuration file\n{so}"
    );
}

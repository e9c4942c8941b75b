//! Run-directory safety with real processes: trials that kill modnas, directories that are not
//! runs, corrupt journals, runs in use by another process, setup failures, long failure reasons
//! and operational settings changed on resume.

mod common;
use common::{modnas, text};
use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

/// `modnas tune` in `dir` with runs under `dir/<runs>`.
fn tune(dir: &Path, runs: &str, name: &str, extra: &[&str], command: &[&str]) -> Output {
    modnas()
        .current_dir(dir)
        .args([
            "tune",
            "--runs-dir",
            runs,
            "--name",
            name,
            "--no-progress",
            "-q",
            "-p",
            "x=float:0:1",
            "--objective",
            "loss:min",
        ])
        .args(extra)
        .arg("--")
        .args(command)
        .output()
        .unwrap()
}

/// `(state, error, told)` of every trial of a run.
fn trials(db: &Path) -> Vec<(String, Option<String>, bool)> {
    let c = Connection::open(db).unwrap();
    let mut s = c
        .prepare("SELECT state, error, told_seq IS NOT NULL FROM trials ORDER BY number")
        .unwrap();
    s.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

const LOSS: &str = "import json, sys\nprint(json.dumps({'loss': float(sys.argv[1])}))\n";

/// A trial program that SIGKILLs modnas (its parent) on its first `kills` runs of trial 0,
/// counting the runs in `<counts>/<trial>`.
const KILLER: &str = r#"
import json, os, signal, sys, time
x, trial, counts, kills = float(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
p = os.path.join(counts, trial)
n = int(open(p).read()) if os.path.exists(p) else 0
with open(p, "w") as f:
    f.write(str(n + 1))
def parent_of(pid):
    return int(open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()[1])
if trial == "0" and n < kills:
    # The program's parent is the trial's supervisor; modnas is the one above it.
    os.kill(parent_of(os.getppid()), signal.SIGKILL)
    time.sleep(30)
print(json.dumps({"loss": x}))
"#;

fn killer_run(dir: &Path, name: &str, extra: &[&str], kills: u32) -> Output {
    let prog = dir.join("killer.py");
    if !prog.exists() {
        std::fs::write(&prog, KILLER).unwrap();
    }
    let counts = dir.join(format!("counts-{name}"));
    std::fs::create_dir_all(&counts).unwrap();
    let mut e = vec!["--trials", "4"];
    e.extend_from_slice(extra);
    tune(
        dir,
        "runs",
        name,
        &e,
        &[
            "python3",
            &prog.display().to_string(),
            "{x}",
            "{trial}",
            &counts.display().to_string(),
            &kills.to_string(),
        ],
    )
}

/// Reruns the same command until it exits normally; returns the number of runs and the last output.
fn rerun_until_done(mut run: impl FnMut() -> Output, at_most: usize) -> (usize, Output) {
    let mut runs = 0;
    loop {
        let out = run();
        runs += 1;
        if out.status.code().is_some() || runs >= at_most {
            return (runs, out);
        }
    }
}

#[test]
fn a_trial_that_kills_modnas_fails_after_max_attempts_and_the_search_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    // The program would kill modnas on every run of trial 0 (more often than the limit).
    let (runs, out) = rerun_until_done(|| killer_run(dir.path(), "crashy", &[], 10), 8);
    let (so, se) = text(&out);
    assert_eq!(
        runs, 4,
        "three killed runs, then the fourth finishes the search\n{so}\n{se}"
    );
    assert_eq!(out.status.code(), Some(0), "{so}\n{se}");
    let t = trials(&dir.path().join("runs/crashy/journal.sqlite"));
    assert_eq!(t.len(), 4, "no trial is lost: {t:?}");
    assert_eq!(t[0].0, "failed", "{t:?}");
    let reason = t[0].1.as_deref().unwrap_or("");
    assert!(
        reason.contains("interrupted 3 times") && reason.contains("modnas crashed or was killed"),
        "{reason}"
    );
    assert!(t[0].2, "the optimizer was told of the failure");
    for row in &t[1..] {
        assert_eq!(row.0, "complete", "{t:?}");
        assert!(row.2);
    }
    // Trial 0 ran exactly three times; every other trial once.
    let count = |n: u32| {
        std::fs::read_to_string(dir.path().join(format!("counts-crashy/{n}")))
            .unwrap()
            .trim()
            .to_string()
    };
    assert_eq!(count(0), "3");
    for n in 1..4 {
        assert_eq!(count(n), "1");
    }

    // `retry.max_attempts` sets the limit.
    let (runs, out) = rerun_until_done(
        || killer_run(dir.path(), "once", &["-o", "retry.max_attempts=1"], 10),
        8,
    );
    assert_eq!((runs, out.status.code()), (2, Some(0)), "{:?}", text(&out));
    let t = trials(&dir.path().join("runs/once/journal.sqlite"));
    assert_eq!(t[0].0, "failed");
    assert!(
        t[0].1
            .as_deref()
            .unwrap_or("")
            .contains("interrupted 1 time"),
        "{t:?}"
    );

    // A trial killed fewer times than the limit is simply run again.
    let (runs, out) = rerun_until_done(|| killer_run(dir.path(), "twice", &[], 2), 8);
    assert_eq!((runs, out.status.code()), (3, Some(0)), "{:?}", text(&out));
    let t = trials(&dir.path().join("runs/twice/journal.sqlite"));
    assert!(t.iter().all(|r| r.0 == "complete"), "{t:?}");
}

#[test]
fn the_attempt_limit_is_validated() {
    let dir = tempfile::tempdir().unwrap();
    let prog = write(dir.path(), "loss.py", LOSS);
    for bad in [
        "retry.max_attempts=0",
        "retry.max_attempts=-1",
        "retry.tries=2",
    ] {
        let out = tune(
            dir.path(),
            "runs",
            "v",
            &["--trials", "1", "-o", bad],
            &["python3", &prog, "{x}"],
        );
        let (_, se) = text(&out);
        assert_eq!(out.status.code(), Some(2), "{bad}: {se}");
        assert!(se.contains("retry"), "{bad}: {se}");
    }
    let out = tune(
        dir.path(),
        "runs",
        "v",
        &["--trials", "1", "-o", "retry.max_attempts=2"],
        &["python3", &prog, "{x}"],
    );
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
}

#[test]
fn a_directory_that_is_not_a_run_is_never_cleared_or_written() {
    let dir = tempfile::tempdir().unwrap();
    let prog = write(dir.path(), "loss.py", LOSS);
    let src = dir.path().join("proj/src");
    std::fs::create_dir_all(src.join("sub")).unwrap();
    std::fs::write(src.join("important.txt"), "keep me").unwrap();
    std::fs::write(src.join("sub/code.rs"), "fn main() {}").unwrap();
    for fresh in [true, false] {
        let mut extra = vec!["--trials", "2"];
        if fresh {
            extra.push("--fresh");
        }
        let out = tune(
            dir.path(),
            "proj",
            "src",
            &extra,
            &["python3", &prog, "{x}"],
        );
        let (_, se) = text(&out);
        assert_eq!(out.status.code(), Some(2), "fresh={fresh}: {se}");
        assert!(
            se.contains("not a modnas run directory"),
            "fresh={fresh}: {se}"
        );
        assert_eq!(
            std::fs::read_to_string(src.join("important.txt")).unwrap(),
            "keep me"
        );
        assert!(src.join("sub/code.rs").exists());
        let mut names: Vec<String> = std::fs::read_dir(&src)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .collect();
        names.sort();
        assert_eq!(names, ["important.txt", "sub"], "nothing was written");
    }
    // An empty directory and a run directory made by modnas are fine, with and without --fresh.
    std::fs::create_dir_all(dir.path().join("proj/empty")).unwrap();
    for fresh in [false, true, false] {
        let mut extra = vec!["--trials", "2"];
        if fresh {
            extra.push("--fresh");
        }
        let out = tune(
            dir.path(),
            "proj",
            "empty",
            &extra,
            &["python3", &prog, "{x}"],
        );
        assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    }
    assert!(dir.path().join("proj/empty/.modnas-run").exists());
    // A run directory of an earlier version (a journal, no marker) is accepted.
    std::fs::remove_file(dir.path().join("proj/empty/.modnas-run")).unwrap();
    let out = tune(
        dir.path(),
        "proj",
        "empty",
        &["--trials", "3"],
        &["python3", &prog, "{x}"],
    );
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    assert_eq!(
        trials(&dir.path().join("proj/empty/journal.sqlite")).len(),
        3
    );
}

/// Waits until `p` exists.
fn wait_for(p: &Path, limit: Duration) -> bool {
    let start = Instant::now();
    while !p.exists() {
        if start.elapsed() > limit {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}

#[test]
fn a_memory_journal_run_cannot_touch_a_live_run() {
    let dir = tempfile::tempdir().unwrap();
    // Each trial waits until the test lets it go, then writes its result file.
    let gate = dir.path().join("gate");
    let prog = write(
        dir.path(),
        "slow.py",
        "import json, os, sys, time\nwhile not os.path.exists(sys.argv[2]):\n    time.sleep(0.02)\nopen(os.environ['MODNAS_RESULT_FILE'], 'w').write(json.dumps({'loss': float(sys.argv[1])}))\n",
    );
    let gate_s = gate.display().to_string();
    let cmd = ["python3", prog.as_str(), "{x}", gate_s.as_str()];
    let mut live = modnas()
        .current_dir(dir.path())
        .args([
            "tune",
            "--runs-dir",
            "runs",
            "--name",
            "livefresh",
            "--no-progress",
            "-q",
            "-p",
            "x=float:0:1",
            "--objective",
            "loss:min",
            "--trials",
            "3",
            "-o",
            "estim.args.result=file",
            "--",
        ])
        .args(cmd)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let trial0 = dir.path().join("runs/livefresh/trials/0");
    assert!(
        wait_for(&trial0, Duration::from_secs(60)),
        "trial 0 started"
    );
    let marker = trial0.join("user-file");
    std::fs::write(&marker, "still here").unwrap();
    // Were it not refused, its trial would not wait for the gate.
    let open_gate = dir.path().join("open-gate");
    std::fs::write(&open_gate, "go").unwrap();
    let open_gate = open_gate.display().to_string();
    let second = tune(
        dir.path(),
        "runs",
        "livefresh",
        &[
            "--trials",
            "1",
            "-o",
            "journal=memory",
            "-o",
            "estim.args.result=file",
            "--fresh",
        ],
        &["python3", prog.as_str(), "{x}", open_gate.as_str()],
    );
    let untouched = marker.exists();
    std::fs::write(&gate, "go").unwrap();
    let status = live.wait().unwrap();
    let (_, se) = text(&second);
    assert_eq!(second.status.code(), Some(2), "{se}");
    assert!(se.contains("in use"), "{se}");
    assert!(untouched, "the live run's trials/ was left alone");
    assert!(status.success());
    let t = trials(&dir.path().join("runs/livefresh/journal.sqlite"));
    assert_eq!(t.len(), 3);
    assert!(t.iter().all(|r| r.0 == "complete"), "{t:?}");
    // Once the live run is over, a memory-journal run of that name is allowed.
    let out = tune(
        dir.path(),
        "runs",
        "livefresh",
        &[
            "--trials",
            "1",
            "-o",
            "journal=memory",
            "-o",
            "estim.args.result=file",
        ],
        &cmd,
    );
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
}

/// 8 KB of deterministic pseudo-random bytes.
fn noise() -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..8192)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

fn corrupt_copies(run: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(run)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("journal.sqlite.corrupt-")
        })
        .collect();
    v.sort();
    v
}

#[test]
fn fresh_sets_a_corrupt_journal_aside() {
    let dir = tempfile::tempdir().unwrap();
    let prog = write(dir.path(), "loss.py", LOSS);
    let run = dir.path().join("runs/broken");
    std::fs::create_dir_all(&run).unwrap();
    std::fs::write(run.join("journal.sqlite"), noise()).unwrap();
    // Without --fresh: an error that says how to recover; the file is left as it is.
    let out = tune(
        dir.path(),
        "runs",
        "broken",
        &["--trials", "2"],
        &["python3", &prog, "{x}"],
    );
    let (_, se) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{se}");
    assert!(se.contains("corrupt") && se.contains("--fresh"), "{se}");
    assert_eq!(std::fs::read(run.join("journal.sqlite")).unwrap(), noise());
    // With --fresh: set aside, said so, and a new run.
    let out = tune(
        dir.path(),
        "runs",
        "broken",
        &["--trials", "2", "--fresh"],
        &["python3", &prog, "{x}"],
    );
    let (so, se) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{so}\n{se}");
    let aside = corrupt_copies(&run);
    assert_eq!(aside.len(), 1, "{aside:?}");
    assert_eq!(std::fs::read(&aside[0]).unwrap(), noise(), "kept as it was");
    assert!(
        se.contains(&aside[0].file_name().unwrap().to_string_lossy().to_string()),
        "{se}"
    );
    assert_eq!(trials(&run.join("journal.sqlite")).len(), 2);
}

#[test]
fn a_fatal_failure_leaves_the_trial_to_run_once_fixed() {
    let dir = tempfile::tempdir().unwrap();
    // Not executable yet: the program cannot start, which would happen for every trial.
    let prog = write(
        dir.path(),
        "prog.sh",
        "#!/bin/sh\necho \"{\\\"loss\\\": $1}\"\n",
    );
    let out = tune(
        dir.path(),
        "runs",
        "fatal",
        &["--trials", "3"],
        &[&prog, "{x}"],
    );
    let (_, se) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{se}");
    assert!(se.contains("permission denied"), "{se}");
    let db = dir.path().join("runs/fatal/journal.sqlite");
    let t = trials(&db);
    assert_eq!(t.len(), 1, "{t:?}");
    assert_eq!(t[0].0, "waiting", "the trial never ran: it is not failed");
    assert!(!t[0].2, "the optimizer was not told a failure");
    // Fixed: the same command runs it, and the rest of the search.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&prog, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = tune(
        dir.path(),
        "runs",
        "fatal",
        &["--trials", "3"],
        &[&prog, "{x}"],
    );
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    let t = trials(&db);
    assert_eq!(t.len(), 3);
    assert!(t.iter().all(|r| r.0 == "complete"), "{t:?}");
}

#[test]
fn long_failure_reasons_are_capped_in_the_journal_and_on_the_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let prog = write(
        dir.path(),
        "big.py",
        "import sys\nsys.stderr.write('start-of-it ' + 'x' * 3000000 + ' end-of-it\\n')\nsys.exit(1)\n",
    );
    let out = tune(
        dir.path(),
        "runs",
        "big",
        &["--trials", "2"],
        &["python3", &prog],
    );
    let (_, se) = text(&out);
    assert_eq!(out.status.code(), Some(1));
    assert!(se.len() < 40_000, "{} bytes printed", se.len());
    let db = dir.path().join("runs/big/journal.sqlite");
    for (state, error, _) in trials(&db) {
        assert_eq!(state, "failed");
        let e = error.unwrap();
        assert!(e.len() <= 16 * 1024, "{} bytes stored", e.len());
        assert!(e.contains("exited with status 1"), "the start is kept");
    }
    // A long reason stored by an earlier version is capped when printed too.
    let c = Connection::open(&db).unwrap();
    c.execute(
        "UPDATE trials SET error = ?1",
        [format!("first {} last", "y".repeat(2_000_000))],
    )
    .unwrap();
    drop(c);
    let out = tune(
        dir.path(),
        "runs",
        "big",
        &["--trials", "2"],
        &["python3", &prog],
    );
    let (_, se) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{se}");
    assert!(se.len() < 40_000, "{} bytes printed", se.len());
    assert!(se.contains("first") && se.contains("last"), "{se}");
}

#[test]
fn operational_settings_may_change_on_resume() {
    let dir = tempfile::tempdir().unwrap();
    let prog = write(dir.path(), "loss.py", LOSS);
    let cmd = ["python3", prog.as_str(), "{x}"];
    let out = tune(dir.path(), "runs", "ops", &["--trials", "2"], &cmd);
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    let out = tune(
        dir.path(),
        "runs",
        "ops",
        &[
            "--trials",
            "3",
            "--timeout",
            "60s",
            "-o",
            "estim.args.keep_logs=false",
            "-o",
            "estim.args.tail_lines=5",
        ],
        &cmd,
    );
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    assert_eq!(trials(&dir.path().join("runs/ops/journal.sqlite")).len(), 3);
    // What defines the search still may not change.
    let out = tune(
        dir.path(),
        "runs",
        "ops",
        &["--trials", "4"],
        &["python3", prog.as_str(), "{x}", "extra"],
    );
    let (_, se) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{se}");
    assert!(se.contains("different configuration"), "{se}");
}

//! `modnas tune` against external programs that misbehave in the ways real training scripts do:
//! endless output without newlines, huge lines, odd bytes in JSON-looking lines, progress bars,
//! and process trees that outlive a killed modnas.

mod common;
use common::{modnas, text};
use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

/// `modnas tune` in `dir` with `extra` options and `command` as the trial program; `wrap` is a
/// shell prefix run before modnas (e.g. a `ulimit`).
fn tune_cmd(dir: &Path, name: &str, wrap: &str, extra: &[&str], command: &[&str]) -> Command {
    let m = modnas();
    let mut c = Command::new("sh");
    c.arg("-c")
        .arg(format!("{wrap} exec \"$0\" \"$@\""))
        .arg(m.get_program());
    for (k, v) in m.get_envs() {
        match v {
            Some(v) => c.env(k, v),
            None => c.env_remove(k),
        };
    }
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
    c
}

fn tune(dir: &Path, name: &str, wrap: &str, extra: &[&str], command: &[&str]) -> Output {
    tune_cmd(dir, name, wrap, extra, command).output().unwrap()
}

/// `(state, metrics, error)` of every trial of a run.
fn trials(run: &Path) -> Vec<(String, Option<String>, Option<String>)> {
    let c = Connection::open(run.join("journal.sqlite")).unwrap();
    let mut s = c
        .prepare("SELECT state, metrics, error FROM trials ORDER BY number")
        .unwrap();
    s.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

fn metric(json: &str, key: &str) -> f64 {
    let v: serde_json::Value = serde_json::from_str(json).unwrap();
    v[key]
        .as_f64()
        .unwrap_or_else(|| panic!("no {key} in {json}"))
}

const ONE: [&str; 6] = [
    "-p",
    "x=float:0:1",
    "--objective",
    "loss:min",
    "--trials",
    "1",
];

#[test]
fn endless_output_without_newlines_is_read_in_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let mut extra = ONE.to_vec();
    extra.extend(["--timeout", "6s", "-o", "estim.args.keep_logs=false"]);
    // Under a 1.5 GB address-space cap: buffering the endless line would abort modnas.
    let out = tune(
        dir.path(),
        "zero",
        &format!(
            "ulimit -v {};",
            1_500_000 + common::STARTUP_ADDRESS_SPACE_KIB
        ),
        &extra,
        &["sh", "-c", "cat /dev/zero", "{x}"],
    );
    let (so, se) = text(&out);
    assert_eq!(
        out.status.code(),
        Some(1),
        "modnas must end normally with `no trial succeeded`\n{so}\n{se}"
    );
    assert!(se.contains("no trial succeeded"), "{se}");
    let rows = trials(&dir.path().join("runs/zero"));
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].0, "failed");
    let err = rows[0].2.as_deref().unwrap();
    assert!(err.contains("timed out after 6 s"), "{err}");
}

#[test]
fn a_metrics_line_over_the_limit_fails_the_trial_with_a_clear_reason() {
    let dir = tempfile::tempdir().unwrap();
    let prog = write(
        dir.path(),
        "big.py",
        "import json\nprint(json.dumps({'loss': 1.0, 'pad': 'x' * 2_000_000}))\n",
    );
    let out = tune(dir.path(), "big", "", &ONE, &["python3", &prog, "{x}"]);
    let (so, se) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{so}\n{se}");
    let rows = trials(&dir.path().join("runs/big"));
    let err = rows[0].2.as_deref().unwrap();
    assert!(err.contains("output line too long"), "{err}");
    assert!(err.len() < 20_000, "{} bytes", err.len());
}

#[test]
fn stdout_log_can_be_capped() {
    let dir = tempfile::tempdir().unwrap();
    let prog = write(
        dir.path(),
        "chatty.py",
        "import json\nfor i in range(100_000): print('line', i)\nprint(json.dumps({'loss': 0.5}))\n",
    );
    let mut extra = ONE.to_vec();
    extra.extend(["-o", "estim.args.max_log_bytes=10000"]);
    let out = tune(dir.path(), "cap", "", &extra, &["python3", &prog, "{x}"]);
    let (so, se) = text(&out);
    assert!(out.status.success(), "{so}\n{se}");
    let log = std::fs::read_to_string(dir.path().join("runs/cap/trials/0/stdout.log")).unwrap();
    assert!(log.len() < 11_000, "{} bytes", log.len());
    assert!(log.starts_with("line 0\n"), "{}", &log[..20]);
    assert!(log.contains("truncated"), "{}", &log[log.len() - 200..]);
    // The metrics line after the cap is still read.
    let rows = trials(&dir.path().join("runs/cap"));
    assert_eq!(rows[0].0, "complete");
    assert_eq!(metric(rows[0].1.as_deref().unwrap(), "loss"), 0.5);
}

#[test]
fn json_looking_lines_with_non_ascii_text_never_panic_and_the_last_valid_line_wins() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "dict",
            "import sys\nprint('{\"loss\": 1.0}')\nprint({'a': '→'})\nprint('{\"loss\": 2.0}')\nprint({'b': '日本'})\n",
            2.0,
        ),
        (
            "badfirst",
            "import sys\nprint('{→}')\nfor i in range(100): print('x' * 100)\nsys.stdout.flush()\nsys.stdout.buffer.write(b'{\\xff}\\n')\nprint('{\"loss\": 4.0}')\n",
            4.0,
        ),
    ];
    for (name, src, want) in cases {
        let prog = write(dir.path(), &format!("{name}.py"), src);
        let out = tune(dir.path(), name, "", &ONE, &["python3", &prog, "{x}"]);
        let (so, se) = text(&out);
        assert!(out.status.success(), "{name}:\n{so}\n{se}");
        assert!(!se.contains("panicked"), "{name}: {se}");
        let rows = trials(&dir.path().join("runs").join(name));
        assert_eq!(rows[0].0, "complete", "{name}: {:?}", rows[0]);
        assert_eq!(
            metric(rows[0].1.as_deref().unwrap(), "loss"),
            want,
            "{name}"
        );
    }
}

#[test]
fn a_number_out_of_range_is_named_as_such() {
    let dir = tempfile::tempdir().unwrap();
    let out = tune(
        dir.path(),
        "range",
        "",
        &ONE,
        &["sh", "-c", "echo '{{\"loss\": 1e400}}'", "{x}"],
    );
    let (so, se) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{so}\n{se}");
    let rows = trials(&dir.path().join("runs/range"));
    let err = rows[0].2.as_deref().unwrap();
    assert!(err.contains("number out of range"), "{err}");
    assert!(!err.contains("not valid JSON"), "{err}");
}

#[test]
fn failure_reasons_stay_small_whatever_the_program_writes() {
    let dir = tempfile::tempdir().unwrap();
    let prog = write(
        dir.path(),
        "bigstderr.py",
        "import sys\nsys.stderr.write('E' * 50_000_000)\nsys.stderr.flush()\nsys.exit(1)\n",
    );
    let mut extra = ONE.to_vec();
    extra[5] = "3";
    let out = tune(dir.path(), "bigerr", "", &extra, &["python3", &prog, "{x}"]);
    let (so, se) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{so}");
    assert!(se.len() < 100_000, "modnas printed {} bytes", se.len());
    assert!(
        se.contains("exited with status 1"),
        "{}",
        &se[..se.len().min(2000)]
    );
    let run = dir.path().join("runs/bigerr");
    let rows = trials(&run);
    assert_eq!(rows.len(), 3);
    for r in &rows {
        let err = r.2.as_deref().unwrap();
        assert!(err.len() < 20_000, "a stored reason of {} bytes", err.len());
        assert!(err.contains("exited with status 1"), "{}", &err[..200]);
        assert!(err.ends_with("EEEE"), "the end of the line is kept");
    }
    let report = std::fs::metadata(run.join("report.html")).unwrap().len();
    assert!(report < 1_000_000, "report.html is {report} bytes");
    // Many long lines quoted: the reason keeps the last ones that fit.
    let prog = write(
        dir.path(),
        "manylines.py",
        "import sys\nfor i in range(2000): print(f'line {i} ' + 'w' * 1000, file=sys.stderr)\nsys.exit(4)\n",
    );
    extra[5] = "1";
    extra.extend(["-o", "estim.args.tail_lines=2000"]);
    let out = tune(dir.path(), "many", "", &extra, &["python3", &prog, "{x}"]);
    assert_eq!(out.status.code(), Some(1));
    let err = trials(&dir.path().join("runs/many"))[0].2.clone().unwrap();
    assert!(err.len() < 20_000, "a stored reason of {} bytes", err.len());
    assert!(err.starts_with("exited with status 4"), "{}", &err[..200]);
    assert!(err.contains("line 1999 w"), "the last line is kept");
    assert!(err.contains("earlier lines left out"));
}

#[test]
fn progress_bars_written_with_carriage_returns_quote_only_their_last_state() {
    let dir = tempfile::tempdir().unwrap();
    let out = tune(
        dir.path(),
        "cr",
        "",
        &ONE,
        &[
            "sh",
            "-c",
            "printf 'epoch 1/3\\repoch 2/3\\repoch 3/3 diverged\\r\\n' >&2; exit 2",
            "{x}",
        ],
    );
    let (so, se) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{so}\n{se}");
    let rows = trials(&dir.path().join("runs/cr"));
    let err = rows[0].2.as_deref().unwrap();
    assert!(err.contains("epoch 3/3 diverged"), "{err}");
    assert!(!err.contains("epoch 1/3"), "{err}");
    assert!(!err.contains('\r'), "{err:?}");
}

#[test]
fn exit_statuses_and_signals_of_the_program_are_reported_exactly() {
    let dir = tempfile::tempdir().unwrap();
    for (name, script, want) in [
        ("code", "exit 77", "exited with status 77"),
        ("pipe", "kill -PIPE $$", "killed by signal 13 (SIGPIPE)"),
        (
            "term",
            "kill -TERM 0; sleep 5",
            "killed by signal 15 (SIGTERM)",
        ),
        ("segv", "kill -SEGV $$", "killed by signal 11 (SIGSEGV)"),
    ] {
        let out = tune(dir.path(), name, "", &ONE, &["sh", "-c", script, "{x}"]);
        let (so, se) = text(&out);
        assert_eq!(out.status.code(), Some(1), "{name}:\n{so}\n{se}");
        let rows = trials(&dir.path().join("runs").join(name));
        let err = rows[0].2.as_deref().unwrap();
        assert!(err.contains(want), "{name}: {err}");
    }
}

#[test]
fn a_program_that_is_not_executable_stops_the_search_with_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let prog = write(dir.path(), "plain.sh", "echo hi\n");
    let mut extra = ONE.to_vec();
    extra[5] = "20";
    let out = tune(dir.path(), "noexec", "", &extra, &[&prog, "{x}"]);
    let (_, se) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{se}");
    assert!(
        se.contains(&format!("cannot start `{prog}`: permission denied")),
        "{se}"
    );
    assert_eq!(trials(&dir.path().join("runs/noexec")).len(), 1);
}

#[test]
fn a_trial_directory_that_cannot_be_made_leaves_the_trial_to_run_once_fixed() {
    let dir = tempfile::tempdir().unwrap();
    let prog = write(
        dir.path(),
        "ok.py",
        "import sys\nprint('{\"loss\": %s}' % sys.argv[1])\n",
    );
    let args = |n: &'static str| {
        let mut e = ONE.to_vec();
        e[5] = n;
        e
    };
    let out = tune(
        dir.path(),
        "nodir",
        "",
        &args("1"),
        &["python3", &prog, "{x}"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out).1);
    // Where the trial directories go, a plain file: the next trial cannot get its directory.
    let trials_dir = dir.path().join("runs/nodir/trials");
    std::fs::remove_dir_all(&trials_dir).unwrap();
    std::fs::write(&trials_dir, "in the way").unwrap();
    let out = tune(
        dir.path(),
        "nodir",
        "",
        &args("2"),
        &["python3", &prog, "{x}"],
    );
    let (_, se) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{se}");
    assert!(se.contains("cannot create"), "{se}");
    let t = trials(&dir.path().join("runs/nodir"));
    assert_eq!(t.len(), 2);
    assert_eq!(t[1].0, "waiting", "the trial goes back to the queue: {t:?}");
    std::fs::remove_file(&trials_dir).unwrap();
    let out = tune(
        dir.path(),
        "nodir",
        "",
        &args("2"),
        &["python3", &prog, "{x}"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out).1);
    let t = trials(&dir.path().join("runs/nodir"));
    assert_eq!(t.len(), 2);
    assert!(t.iter().all(|r| r.0 == "complete"), "{t:?}");
}

/// Pids of live processes whose command line is exactly `argv`.
fn processes_with_args(argv: &[&str]) -> Vec<i32> {
    let want: Vec<u8> = argv
        .iter()
        .flat_map(|a| [a.as_bytes(), b"\0"].concat())
        .collect();
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(cmd) = std::fs::read(e.path().join("cmdline")) else {
            continue;
        };
        // A zombie has an empty command line; it is already dead.
        if cmd == want {
            out.push(pid);
        }
    }
    out
}

fn wait_until(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    f()
}

fn kill_all(pids: &[i32]) {
    for &p in pids {
        let _ = Command::new("kill").args(["-9", &p.to_string()]).status();
    }
}

/// A unique `sleep` duration to find the test's processes by.
fn unique_sleep(tag: u32) -> String {
    format!("300.{}{tag}", std::process::id())
}

/// Starts `modnas tune` with `script` as the trial program, waits until `sleep <arg>` runs,
/// SIGKILLs modnas and returns the run directory.
fn start_and_kill(dir: &Path, name: &str, script: &str, arg: &str) -> PathBuf {
    let mut child = tune_cmd(dir, name, "", &ONE, &["sh", "-c", script, "{x}"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = wait_until(Duration::from_secs(30), || {
        !processes_with_args(&["sleep", arg]).is_empty()
    });
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(started, "the trial program never started its grandchild");
    dir.join("runs").join(name)
}

#[test]
fn killing_modnas_ends_the_whole_process_tree_of_its_trials() {
    let dir = tempfile::tempdir().unwrap();
    let arg = unique_sleep(1);
    start_and_kill(dir.path(), "tree", &format!("sleep {arg} & wait"), &arg);
    let gone = wait_until(Duration::from_secs(5), || {
        processes_with_args(&["sleep", &arg]).is_empty()
    });
    let left = processes_with_args(&["sleep", &arg]);
    kill_all(&left);
    assert!(gone, "grandchildren outlived the killed modnas: {left:?}");
}

#[test]
fn a_resumed_run_first_ends_what_is_left_of_an_interrupted_trial() {
    let dir = tempfile::tempdir().unwrap();
    let arg = unique_sleep(2);
    // A grandchild in its own session escapes the process group; the first attempt leaves one
    // behind, the second finishes at once.
    let script = format!(
        "if [ -e \"$MODNAS_TRIAL_DIR/started\" ]; then echo '{{{{\"loss\": 1.0}}}}'; exit 0; fi; \
         touch \"$MODNAS_TRIAL_DIR/started\"; setsid sleep {arg} & wait"
    );
    let run = start_and_kill(dir.path(), "escaped", &script, &arg);
    let resumed = tune(
        dir.path(),
        "escaped",
        "",
        &ONE,
        &["sh", "-c", &script, "{x}"],
    );
    let left = processes_with_args(&["sleep", &arg]);
    kill_all(&left);
    let (so, se) = text(&resumed);
    assert!(resumed.status.success(), "{so}\n{se}");
    assert!(
        left.is_empty(),
        "the escaped grandchild was left running: {left:?}"
    );
    assert_eq!(trials(&run)[0].0, "complete");
}

#[test]
fn ctrl_c_ends_the_trial_programs_with_their_children_and_requeues_the_trial() {
    let dir = tempfile::tempdir().unwrap();
    let arg = unique_sleep(3);
    let mut child = tune_cmd(
        dir.path(),
        "int",
        "",
        &ONE,
        &["sh", "-c", &format!("sleep {arg} & wait"), "{x}"],
    )
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::null())
    .spawn()
    .unwrap();
    let started = wait_until(Duration::from_secs(30), || {
        !processes_with_args(&["sleep", &arg]).is_empty()
    });
    let _ = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let status = child.wait().unwrap();
    let gone = wait_until(Duration::from_secs(5), || {
        processes_with_args(&["sleep", &arg]).is_empty()
    });
    let left = processes_with_args(&["sleep", &arg]);
    kill_all(&left);
    assert!(started, "the trial program never started its grandchild");
    assert_eq!(status.code(), Some(130));
    assert!(
        gone,
        "grandchildren outlived the interrupted trial: {left:?}"
    );
    assert_eq!(trials(&dir.path().join("runs/int"))[0].0, "waiting");
}

#[test]
fn processes_that_left_the_group_end_with_their_trial() {
    let dir = tempfile::tempdir().unwrap();
    let arg = unique_sleep(4);
    let out = tune(
        dir.path(),
        "daemon",
        "",
        &ONE,
        &[
            "sh",
            "-c",
            &format!(
                "cd \"$MODNAS_TRIAL_DIR\"; setsid sh -c 'touch up; exec sleep {arg}' & \
                 while [ ! -e up ]; do sleep 0.05; done; echo '{{{{\"loss\": 1.0}}}}'"
            ),
            "{x}",
        ],
    );
    let left = processes_with_args(&["sleep", &arg]);
    kill_all(&left);
    let (so, se) = text(&out);
    assert!(out.status.success(), "{so}\n{se}");
    assert!(
        left.is_empty(),
        "a setsid child outlived its trial: {left:?}"
    );
    assert_eq!(trials(&dir.path().join("runs/daemon"))[0].0, "complete");
}

//! A corpus of bad configurations: each must give one clear, located error and exit code 2.

mod common;
use common::{modnas, require_nb201, text};
use std::path::Path;

fn directives(text: &str, key: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix(&format!("# {key}: ")))
        .map(|s| s.to_string())
        .collect()
}

fn check_failure(name: &str, out: &std::process::Output, expects: &[String]) {
    let (stdout, stderr) = text(out);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{name}: exit code {:?}\nstdout: {stdout}\nstderr: {stderr}",
        out.status.code()
    );
    assert!(
        !stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"),
        "{name}: panic\n{stderr}"
    );
    assert!(
        stderr.starts_with("error: "),
        "{name}: stderr must start with `error: `\n{stderr}"
    );
    for e in expects {
        assert!(
            stderr.contains(e.as_str()),
            "{name}: expected `{e}` in:\n{stderr}"
        );
    }
    assert!(
        stderr.lines().count() <= 8,
        "{name}: the error should be one short paragraph:\n{stderr}"
    );
}

#[test]
fn every_bad_configuration_is_a_clear_located_error() {
    require_nb201();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bad-configs");
    let runs = tempfile::tempdir().unwrap();
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    let mut checked = 0;
    for f in &files {
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        let content = std::fs::read_to_string(f).unwrap();
        let out = modnas()
            .current_dir(&dir)
            .arg("search")
            .arg(&name)
            .arg("--runs-dir")
            .arg(runs.path())
            .arg("--no-progress")
            .output()
            .unwrap();
        if name.starts_with("ok-") {
            let (so, se) = text(&out);
            assert!(out.status.success(), "{name} must be accepted:\n{so}\n{se}");
            continue;
        }
        let mut expects = directives(&content, "expect");
        assert!(!expects.is_empty(), "{name} has no `# expect:` line");
        for at in directives(&content, "at") {
            expects.push(format!("{name}:{at}"));
        }
        check_failure(&name, &out, &expects);
        checked += 1;
    }
    assert!(checked >= 30, "only {checked} bad configurations");
}

#[test]
fn bad_command_lines_are_clear_errors() {
    require_nb201();
    let runs = tempfile::tempdir().unwrap();
    let example = common::repo().join("examples/nb201-regularized-evolution.yaml");
    let cases: Vec<(Vec<String>, Vec<&str>)> = vec![
        (
            vec!["search".into(), "no/such/file.yaml".into()],
            vec!["cannot read configuration file `no/such/file.yaml`: file not found"],
        ),
        (
            vec![
                "search".into(),
                example.display().to_string(),
                "-o".into(),
                "stop.max_trials".into(),
            ],
            vec!["an override must look like `key.path=value`"],
        ),
        (
            vec![
                "search".into(),
                example.display().to_string(),
                "-o".into(),
                "stop.max_trials=many".into(),
            ],
            vec![
                "command line (-o stop.max_trials=many)",
                "`stop.max_trials`: expected a non-negative integer, found the string `many`",
            ],
        ),
        (
            vec![
                "search".into(),
                example.display().to_string(),
                "-o".into(),
                "optim.args.populatoin=3".into(),
            ],
            vec!["-o optim.args.populatoin=3", "did you mean `population`?"],
        ),
        (
            vec![
                "search".into(),
                example.display().to_string(),
                "--name".into(),
                "../escape".into(),
            ],
            vec!["is not a valid run name"],
        ),
        (
            vec![
                "tune".into(),
                "-p".into(),
                "x=float:a:b".into(),
                "--".into(),
                "true".into(),
            ],
            vec!["-p x=float:a:b", "`a` is not a number"],
        ),
        (
            vec![
                "tune".into(),
                "-p".into(),
                "x=float:0:1".into(),
                "--".into(),
                "true".into(),
            ],
            vec!["missing `objectives`"],
        ),
        (
            vec![
                "tune".into(),
                "-p".into(),
                "x=float:0:1".into(),
                "--objective".into(),
                "loss:min".into(),
            ],
            vec!["give the program to tune after `--`"],
        ),
        (
            vec![
                "tune".into(),
                "-p".into(),
                "x=float:0:1".into(),
                "--objective".into(),
                "loss:min".into(),
                "--".into(),
                "prog".into(),
                "{y}".into(),
            ],
            vec!["unknown placeholder `{y}`", "did you mean `x`?"],
        ),
        (
            vec!["list".into(), "optimisers".into()],
            vec!["did you mean `optimizers`?"],
        ),
        (vec!["list".into(), "optimizers".into()], vec![]),
        (
            vec!["list".into(), "widgets".into()],
            vec!["unknown kind `widgets`"],
        ),
        (
            vec!["report".into(), "/nonexistent/run".into()],
            vec!["is not a run directory"],
        ),
    ];
    for (args, expects) in cases {
        let mut cmd = modnas();
        cmd.args(&args);
        if matches!(args[0].as_str(), "search" | "tune") {
            cmd.arg("--runs-dir").arg(runs.path());
        }
        let out = cmd.output().unwrap();
        let label = args.join(" ");
        if expects.is_empty() {
            assert!(out.status.success(), "{label}: {:?}", text(&out));
            continue;
        }
        let expects: Vec<String> = expects.iter().map(|s| s.to_string()).collect();
        check_failure(&label, &out, &expects);
    }
}

#[test]
fn output_into_a_closed_pipe_ends_quietly() {
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "'{}' list | head -n 1",
            env!("CARGO_BIN_EXE_modnas")
        ))
        .output()
        .unwrap();
    let (so, se) = text(&out);
    assert_eq!(so.lines().count(), 1);
    assert!(!se.contains("panicked"), "{se}");
}

/// Runs `modnas ARGS` under an address-space cap (in KiB), so that a regression that tries to
/// allocate without bound aborts instead of taking the machine's memory.
fn modnas_capped(cap_kib: u64, dir: &Path, args: &[&str]) -> std::process::Output {
    let cap_kib = cap_kib + common::STARTUP_ADDRESS_SPACE_KIB;
    let mut script = format!("ulimit -v {cap_kib} && exec \"$0\"");
    for i in 1..=args.len() {
        script.push_str(&format!(" \"${{{i}}}\""));
    }
    let mut cmd = std::process::Command::new("sh");
    cmd.current_dir(dir)
        .arg("-c")
        .arg(script)
        .arg(env!("CARGO_BIN_EXE_modnas"))
        .args(args)
        .env_remove("RUST_LOG")
        .env("MODNAS_DATA_DIR", common::repo().join("data"));
    cmd.output().unwrap()
}

/// A "billion laughs" document: every level lists the previous level's alias nine times.
fn alias_bomb(levels: usize) -> String {
    let mut s = String::from("l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for i in 1..=levels {
        let p = format!("*l{}", i - 1);
        s.push_str(&format!("l{i}: &l{i} [{}]\n", vec![p; 9].join(", ")));
    }
    s
}

#[test]
fn alias_bombs_are_refused_within_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path().join("runs");
    let runs = runs.to_str().unwrap();
    for levels in [7, 8] {
        let text = alias_bomb(levels);
        assert!(text.len() < 600, "{} bytes", text.len());
        let name = format!("bomb{levels}.yaml");
        std::fs::write(dir.path().join(&name), &text).unwrap();
        let out = modnas_capped(
            2_000_000,
            dir.path(),
            &["search", &name, "--runs-dir", runs, "--no-progress"],
        );
        check_failure(
            &name,
            &out,
            &["too many alias expansions".into(), format!("{name}:")],
        );
    }
    // The same through an override: `-o` values are YAML too.
    let ok = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bad-configs/ok-reference.yaml");
    // One line, so that the error (which quotes the override) stays short.
    let bomb = alias_bomb(8);
    let flow: Vec<&str> = bomb.lines().collect();
    let value = format!("x={{{}}}", flow.join(", "));
    let out = modnas_capped(
        2_000_000,
        dir.path(),
        &[
            "search",
            ok.to_str().unwrap(),
            "-o",
            &value,
            "--runs-dir",
            runs,
            "--no-progress",
        ],
    );
    check_failure(
        "-o bomb",
        &out,
        &[
            "too many alias expansions".into(),
            "command line (-o".into(),
        ],
    );
}

#[test]
fn deeply_nested_yaml_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path().join("runs");
    let runs = runs.to_str().unwrap();
    for depth in [10_000usize, 100_000] {
        let name = format!("deep{depth}.yaml");
        let block = format!("x:\n{}v\n", "- ".repeat(depth));
        let flow = format!("x: {}v{}\n", "[".repeat(depth), "]".repeat(depth));
        for (kind, text) in [("block", block), ("flow", flow)] {
            std::fs::write(dir.path().join(&name), text).unwrap();
            let out = modnas_capped(
                2_000_000,
                dir.path(),
                &["search", &name, "--runs-dir", runs, "--no-progress"],
            );
            check_failure(
                &format!("{name} ({kind})"),
                &out,
                &["nested too deeply".into(), format!("{name}:")],
            );
        }
    }
    // An override whose key path is deeper than the limit.
    let ok = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bad-configs/ok-reference.yaml");
    let deep_key = format!("{}=1", vec!["k"; 50_000].join("."));
    let out = modnas_capped(
        2_000_000,
        dir.path(),
        &[
            "search",
            ok.to_str().unwrap(),
            "-o",
            &deep_key,
            "--runs-dir",
            runs,
            "--no-progress",
        ],
    );
    check_failure("-o deep key", &out, &["nested too deeply".into()]);
    // A `defaults:` key path deeper than the limit (an explicit `?` key: plain keys are limited
    // to 1024 characters by the YAML parser).
    let text = format!(
        "defaults:\n  ? {}\n  : 1\nestim: {{type: NasBench201}}\nstop: {{max_trials: 1}}\n",
        vec!["k"; 100_000].join(".")
    );
    std::fs::write(dir.path().join("deep-defaults.yaml"), text).unwrap();
    let out = modnas_capped(
        2_000_000,
        dir.path(),
        &[
            "search",
            "deep-defaults.yaml",
            "--runs-dir",
            runs,
            "--no-progress",
        ],
    );
    check_failure(
        "deep defaults",
        &out,
        &["nested too deeply".into(), "deep-defaults.yaml:2:".into()],
    );
}

#[test]
fn oversized_configuration_files_are_refused_before_reading_them() {
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path().join("runs");
    let runs = runs.to_str().unwrap();
    let out = modnas_capped(
        1_000_000,
        dir.path(),
        &["search", "/dev/zero", "--runs-dir", runs, "--no-progress"],
    );
    check_failure(
        "/dev/zero",
        &out,
        &["`/dev/zero`".into(), "larger than 16 MiB".into()],
    );
    // A real file just over the limit: valid YAML (comments), so only its size is wrong.
    let big = dir.path().join("big.yaml");
    let line = format!("# {}\n", "x".repeat(1021));
    let mut text = String::with_capacity(17 << 20);
    while text.len() <= 16 << 20 {
        text.push_str(&line);
    }
    std::fs::write(&big, text).unwrap();
    let out = modnas_capped(
        1_000_000,
        dir.path(),
        &["search", "big.yaml", "--runs-dir", runs, "--no-progress"],
    );
    check_failure(
        "big.yaml",
        &out,
        &["`big.yaml`".into(), "larger than 16 MiB".into()],
    );
}

#[test]
fn domains_that_cannot_be_sampled_are_configuration_errors() {
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path().join("runs");
    let runs = runs.to_str().unwrap();
    for (spec, expect) in [
        (
            "x={type: int, low: 1152921504606846976, high: 1152921504606846976, log: true}",
            "too narrow to sample on a log scale",
        ),
        (
            "x={type: float, low: 1.0e300, high: 1.0000000000000002e300, log: true}",
            "too narrow to sample on a log scale",
        ),
        (
            "x={type: int, low: 1152921504606846976, high: 1152921504606847000, log: true}",
            "too narrow to sample on a log scale",
        ),
    ] {
        let out = modnas_capped(
            2_000_000,
            dir.path(),
            &[
                "tune",
                "-p",
                spec,
                "--objective",
                "loss:min",
                "--trials",
                "2",
                "--runs-dir",
                runs,
                "--no-progress",
                "--",
                "true",
            ],
        );
        check_failure(spec, &out, &[expect.into(), format!("-p {spec}")]);
    }
}

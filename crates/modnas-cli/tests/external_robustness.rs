//! `modnas tune` against external programs that misbehave in the ways real training scripts do:
//! endless output without newlines, huge lines, odd bytes in JSON-looking lines, progress bars,
//! and process trees that outlive a killed modnas.

mod common;
use common::{modnas, text};
use rusqlite::Connection;
use std::path::Path;
use std::process::{Command, Output};

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

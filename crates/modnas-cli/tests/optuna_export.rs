//! `modnas export RUN_DIR --optuna FILE` on real runs, checked with Optuna itself: the file is
//! opened with `optuna.load_study` and every trial is compared with the modnas journal.
//!
//! Python with `optuna==5.0.0`: `$MODNAS_PYTHON`, else `<repo>/.venv/bin/python`
//! (`scripts/setup-optuna` installs it; `./run test` does).

mod common;
use common::{modnas, repo, require_nb201, text};
use rusqlite::Connection;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The Python that has Optuna 5.0.
fn python() -> PathBuf {
    let p = std::env::var_os("MODNAS_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join(".venv/bin/python"));
    let ok = Command::new(&p)
        .args([
            "-c",
            "import optuna; assert optuna.__version__ == '5.0.0', optuna.__version__",
        ])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        ok,
        "{} has no optuna 5.0.0: run `scripts/setup-optuna` (or set MODNAS_PYTHON to a Python that has it)",
        p.display()
    );
    p
}

/// Loads the study and compares it with the expectations in `argv[3]` (JSON): directions,
/// metric names, and for every trial its number, state, parameters, values, intermediate values,
/// user attributes and times. Then runs an analysis (`mode`): `importance` (single objective:
/// best trial and parameter importances), `pareto` (several: `best_trials`) or `none`; and
/// asks for and tells a trial in a copy of the file.
const CHECK: &str = r#"
import datetime, json, math, shutil, sys, warnings
import optuna
warnings.simplefilter("ignore")
optuna.logging.set_verbosity(optuna.logging.WARNING)
db, name, expected_path = sys.argv[1], sys.argv[2], sys.argv[3]
want = json.load(open(expected_path))
study = optuna.load_study(study_name=name, storage="sqlite:///" + db)
errors = []
def check(what, got, exp):
    if got != exp:
        errors.append(f"{what}: got {got!r}, want {exp!r}")
check("directions", [d.name for d in study.directions], want["directions"])
check("metric names", study.metric_names, want["metric_names"])
check("study names", optuna.get_all_study_names("sqlite:///" + db), [name])
trials = study.get_trials(deepcopy=False)
check("trial count", len(trials), len(want["trials"]))
def utc(d):
    return None if d is None else d.replace(tzinfo=datetime.timezone.utc).timestamp()
for t, w in zip(trials, want["trials"]):
    n = w["number"]
    t._validate()
    check(f"trial {n} number", t.number, n)
    check(f"trial {n} state", t.state.name, w["state"])
    check(f"trial {n} params", t.params, w["params"])
    for k, v in w["params"].items():
        check(f"trial {n} param {k} type", type(t.params.get(k)).__name__, type(v).__name__)
    check(f"trial {n} values", t.values, w["values"])
    check(f"trial {n} intermediate values", t.intermediate_values,
          {int(k): v for k, v in w["intermediate"].items()})
    for k, v in w["attrs"].items():
        check(f"trial {n} user attr {k}", t.user_attrs.get(k), v)
    for what, got, exp in [("start", t.datetime_start, w["start"]), ("end", t.datetime_complete, w["end"])]:
        ok = (got is None and exp is None) or (got is not None and exp is not None and abs(utc(got) - exp) < 2e-6)
        if not ok:
            errors.append(f"trial {n} {what}: got {got}, want {exp}")
mode = want["mode"]
if mode == "importance":
    check("best trial", study.best_trial.number, want["best"])
    imp = optuna.importance.get_param_importances(study)
    check("importance keys", sorted(imp), sorted(want["trials"][0]["params"]))
    if not math.isclose(sum(imp.values()), 1.0, rel_tol=1e-6):
        errors.append(f"importances do not sum to 1: {imp}")
    print("importances", imp)
elif mode == "pareto":
    check("pareto front", sorted(t.number for t in study.best_trials), sorted(want["best"]))
    print("best trials", sorted(t.number for t in study.best_trials))
# The file is a working storage: a copy takes new trials with the stored distributions.
shutil.copy(db, db + ".copy")
again = optuna.load_study(study_name=name, storage="sqlite:///" + db + ".copy")
# Waiting trials are Optuna's queue: the next trial asked for is the first of them, with its
# parameters.
waiting = [w for w in want["trials"] if w["state"] == "WAITING"]
t = again.ask(trials[0].distributions)
if waiting:
    check("asked trial", (t.number, t.params), (waiting[0]["number"], waiting[0]["params"]))
else:
    check("asked trial number", t.number, len(trials))
again.tell(t, [0.0] * len(study.directions))
if errors:
    print("\n".join(errors[:40]), file=sys.stderr)
    sys.exit(1)
print(f"ok: {len(trials)} trials")
"#;

/// The state an exported modnas trial has in Optuna.
fn optuna_state(state: &str) -> &'static str {
    match state {
        "complete" => "COMPLETE",
        "pruned" => "PRUNED",
        "failed" => "FAIL",
        "running" => "RUNNING",
        "waiting" => "WAITING",
        other => panic!("unknown state {other}"),
    }
}

/// What Optuna should show for each trial of the journal, worked out from the journal's rows.
fn expected_trials(journal: &Path, objectives: &[&str]) -> Vec<Value> {
    let c =
        Connection::open_with_flags(journal, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let mut steps = c
        .prepare("SELECT step, metrics FROM steps WHERE number = ?1 ORDER BY step")
        .unwrap();
    let mut s = c
        .prepare("SELECT number, state, params, metrics, seed, started_at, finished_at, created_at FROM trials ORDER BY number")
        .unwrap();
    /// The columns of a journal's trial that the export reads.
    struct Row {
        number: i64,
        state: String,
        params: String,
        metrics: Option<String>,
        seed: i64,
        started: Option<f64>,
        finished: Option<f64>,
        created: f64,
    }
    let rows: Vec<Row> = s
        .query_map([], |r| {
            Ok(Row {
                number: r.get(0)?,
                state: r.get(1)?,
                params: r.get(2)?,
                metrics: r.get(3)?,
                seed: r.get(4)?,
                started: r.get(5)?,
                finished: r.get(6)?,
                created: r.get(7)?,
            })
        })
        .unwrap()
        .map(Result::unwrap)
        .collect();
    rows.into_iter()
        .map(
            |Row {
                 number,
                 state,
                 params,
                 metrics,
                 seed,
                 started,
                 finished,
                 created,
             }| {
                let metrics: serde_json::Map<String, Value> = metrics
                    .map(|m| serde_json::from_str(&m).unwrap())
                    .unwrap_or_default();
                let objective_values: Option<Vec<Value>> = objectives
                    .iter()
                    .map(|o| metrics.get(*o).filter(|v| v.is_number()).cloned())
                    .collect();
                let values = match state.as_str() {
                    "complete" => Value::from(objective_values.clone().expect("complete trial")),
                    "pruned" if objectives.len() == 1 => objective_values
                        .clone()
                        .map(Value::from)
                        .unwrap_or(Value::Null),
                    _ => Value::Null,
                };
                let mut attrs = serde_json::Map::new();
                attrs.insert("modnas_number".into(), number.into());
                attrs.insert("modnas_seed".into(), (seed as u64).into());
                attrs.insert("modnas_state".into(), state.clone().into());
                for (k, v) in &metrics {
                    if values.is_null() || !objectives.contains(&k.as_str()) {
                        attrs.insert(k.clone(), v.clone());
                    }
                }
                let intermediate: serde_json::Map<String, Value> = steps
                    .query_map([number], |r| {
                        Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
                    })
                    .unwrap()
                    .map(Result::unwrap)
                    .filter_map(|(step, m)| {
                        let m: Value = serde_json::from_str(&m).unwrap();
                        m.get(objectives[0]).map(|v| (step.to_string(), v.clone()))
                    })
                    .collect();
                let start = match state.as_str() {
                    "waiting" => Value::Null,
                    _ => started.unwrap_or(created).into(),
                };
                let end = match state.as_str() {
                    "complete" | "pruned" | "failed" => finished.into(),
                    _ => Value::Null,
                };
                json!({
                    "number": number,
                    "state": optuna_state(&state),
                    "params": serde_json::from_str::<Value>(&params).unwrap(),
                    "values": values,
                    "intermediate": intermediate,
                    "attrs": attrs,
                    "start": start,
                    "end": end,
                })
            },
        )
        .collect()
}

/// Exports `run` to `db` as `study`, then checks it with Optuna; returns Python's stdout.
fn export_and_check(run: &Path, db: &Path, study: Option<&str>, expected: Value) -> String {
    let mut c = modnas();
    c.arg("export").arg(run).arg("--optuna").arg(db);
    if let Some(s) = study {
        c.args(["--study", s]);
    }
    let out = c.output().unwrap();
    let (so, se) = text(&out);
    assert!(out.status.success(), "{so}\n{se}");
    let n = expected["trials"].as_array().unwrap().len();
    assert!(so.contains(&format!("{n} trials")), "{so}");
    let name = expected["name"].as_str().unwrap().to_string();
    let want = db.with_extension("expected.json");
    std::fs::write(&want, expected.to_string()).unwrap();
    let out = Command::new(python())
        .args(["-c", CHECK])
        .arg(db)
        .arg(&name)
        .arg(&want)
        .output()
        .unwrap();
    let (so, se) = text(&out);
    assert!(
        out.status.success(),
        "Optuna disagrees with the journal:\n{so}\n{se}"
    );
    so
}

/// A program with a learning curve: step lines of `loss`, then `loss`, `acc` and `size`;
/// trials 3, 10, 17… fail.
const TRAIN: &str = r#"import json, os, sys
x, lr, n, act = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
if int(os.environ["MODNAS_TRIAL"]) % 7 == 3:
    print("diverged", file=sys.stderr)
    sys.exit(1)
final = (x - 0.3) ** 2 + abs(lr - 0.01) + 0.05 * n + {"relu": 0.0, "tanh": 0.2, "sigmoid": 0.5}[act]
for step in range(1, 9):
    print(json.dumps({"step": step, "loss": final + 2.0 * 0.5 ** step, "acc": 1.0 - final}), flush=True)
print(json.dumps({"loss": final, "acc": 1.0 - final, "size": n * 10}))
"#;

fn tune_command(dir: &Path, name: &str, trials: &str, prog: &str) -> Command {
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
        .args([
            "-p",
            "x=float:-1:1",
            "-p",
            "lr=logfloat:1e-4:1",
            "-p",
            "n=int:1:8",
        ])
        .args([
            "-p",
            "act=choice:relu,tanh,sigmoid",
            "--objective",
            "loss:min",
        ])
        .args([
            "--trials",
            trials,
            "-o",
            "prune={type: ASHA, args: {eta: 2, max_resource: 8}}",
        ])
        .args(["--", "python3", prog, "{x}", "{lr}", "{n}", "{act}"]);
    c
}

#[test]
fn a_pruned_tuning_run_opens_in_optuna_trial_by_trial() {
    let py = python();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("train.py"), TRAIN).unwrap();
    let out = tune_command(dir.path(), "curves", "24", "train.py")
        .output()
        .unwrap();
    let (so, se) = text(&out);
    assert!(out.status.success(), "{so}\n{se}");
    let run = dir.path().join("runs/curves");
    let journal = run.join("journal.sqlite");
    let trials = expected_trials(&journal, &["loss"]);
    let count = |s: &str| trials.iter().filter(|t| t["state"] == s).count();
    assert!(
        count("COMPLETE") > 0 && count("PRUNED") > 0 && count("FAIL") > 0,
        "the run should have complete, pruned and failed trials:\n{so}"
    );
    let best: u64 = so
        .lines()
        .find_map(|l| l.strip_prefix("best loss = "))
        .and_then(|l| l.split("(trial ").nth(1))
        .and_then(|n| n.trim_end_matches(')').parse().ok())
        .unwrap_or_else(|| panic!("no best trial in\n{so}"));
    let db = dir.path().join("curves.db");
    let expected = json!({
        "name": "curves",
        "directions": ["MINIMIZE"],
        "metric_names": ["loss"],
        "trials": trials,
        "mode": "importance",
        "best": best,
    });
    let so = export_and_check(&run, &db, None, expected);
    assert!(so.contains("ok: 24 trials"), "{so}");
    // The checks can fail: a study whose values differ from the journal's is refused.
    let mut wrong = expected_trials(&journal, &["loss"]);
    wrong[0]["params"]["x"] = json!(5.0);
    std::fs::write(
        dir.path().join("wrong.json"),
        json!({"name": "curves", "directions": ["MINIMIZE"], "metric_names": ["loss"], "trials": wrong, "mode": "importance", "best": best}).to_string(),
    )
    .unwrap();
    let out = Command::new(&py)
        .args(["-c", CHECK])
        .arg(&db)
        .arg("curves")
        .arg(dir.path().join("wrong.json"))
        .output()
        .unwrap();
    let (_, se) = text(&out);
    assert!(
        !out.status.success() && se.contains("trial 0 params"),
        "{se}"
    );
}

#[test]
fn a_multi_objective_search_opens_as_a_multi_objective_study() {
    require_nb201();
    python();
    let dir = tempfile::tempdir().unwrap();
    let example = repo().join("examples/nb201-multi-objective.yaml");
    let out = modnas()
        .args(["search", &example.display().to_string(), "--runs-dir"])
        .arg(dir.path())
        .args(["--no-progress", "-q", "-o", "stop.max_trials=60"])
        .output()
        .unwrap();
    let (so, se) = text(&out);
    assert!(out.status.success(), "{so}\n{se}");
    let run = dir.path().join("nb201-multi-objective");
    let pareto = std::fs::read_to_string(run.join("pareto.yaml")).unwrap();
    let front: Vec<u64> = pareto
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- trial: "))
        .map(|n| n.parse().unwrap())
        .collect();
    assert!(!front.is_empty(), "{pareto}");
    let trials = expected_trials(&run.join("journal.sqlite"), &["val_acc", "latency"]);
    assert_eq!(trials.len(), 60);
    let expected = json!({
        "name": "nb201-mo",
        "directions": ["MAXIMIZE", "MINIMIZE"],
        "metric_names": ["val_acc", "latency"],
        "trials": trials,
        "mode": "pareto",
        "best": front,
    });
    let so = export_and_check(&run, &dir.path().join("mo.db"), Some("nb201-mo"), expected);
    assert!(so.contains("ok: 60 trials"), "{so}");
}

#[test]
fn an_interrupted_run_exports_its_running_trial() {
    python();
    let dir = tempfile::tempdir().unwrap();
    // Every trial takes a while, so the run is killed in the middle of one.
    std::fs::write(
        dir.path().join("slow.py"),
        TRAIN.replace("flush=True)", "flush=True); __import__('time').sleep(0.3)"),
    )
    .unwrap();
    let journal = dir.path().join("runs/cut/journal.sqlite");
    let mut child = tune_command(dir.path(), "cut", "50", "slow.py")
        .spawn()
        .unwrap();
    let start = Instant::now();
    let running = || {
        Connection::open_with_flags(&journal, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .and_then(|c| {
                c.query_row(
                    "SELECT COUNT(*) FROM trials WHERE state = 'running' AND (SELECT COUNT(*) FROM trials WHERE state <> 'running') >= 2",
                    [],
                    |r| r.get::<_, i64>(0),
                )
            })
            .unwrap_or(0)
    };
    while running() == 0 && start.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill(); // SIGKILL: the trial stays `running` in the journal.
    let _ = child.wait();
    let trials = expected_trials(&journal, &["loss"]);
    assert!(
        trials.iter().any(|t| t["state"] == "RUNNING"),
        "no running trial: {:?}",
        trials.iter().map(|t| &t["state"]).collect::<Vec<_>>()
    );
    let expected = json!({
        "name": "cut",
        "directions": ["MINIMIZE"],
        "metric_names": ["loss"],
        "trials": trials,
        "mode": "none",
    });
    export_and_check(
        &dir.path().join("runs/cut"),
        &dir.path().join("cut.db"),
        None,
        expected,
    );
}

#[test]
fn bad_export_requests_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let export = |args: &[&str]| {
        let out = modnas()
            .current_dir(dir.path())
            .arg("export")
            .args(args)
            .output()
            .unwrap();
        let (so, se) = text(&out);
        (out.status.code(), so, se)
    };
    let (code, _, se) = export(&["nowhere", "--optuna", "o.db"]);
    assert_eq!(code, Some(2), "{se}");
    assert!(se.contains("nowhere is not a run directory"), "{se}");
    std::fs::create_dir(dir.path().join("empty")).unwrap();
    let (code, _, se) = export(&["empty", "--optuna", "o.db"]);
    assert_eq!(code, Some(2), "{se}");
    assert!(se.contains("no journal.sqlite"), "{se}");
    let (code, _, se) = export(&["empty"]);
    assert_eq!(code, Some(2), "{se}");
    assert!(se.contains("--optuna"), "{se}");

    // A real run: the existing file is kept without --force and replaced with it.
    std::fs::write(
        dir.path().join("q.py"),
        "import json, sys\nprint(json.dumps({'loss': float(sys.argv[1]) ** 2}))\n",
    )
    .unwrap();
    let out = modnas()
        .current_dir(dir.path())
        .args([
            "tune",
            "--runs-dir",
            "runs",
            "--name",
            "q",
            "--no-progress",
            "-q",
        ])
        .args([
            "-p",
            "x=float:-1:1",
            "--objective",
            "loss:min",
            "--trials",
            "3",
        ])
        .args(["--", "python3", "q.py", "{x}"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{:?}", text(&out));
    std::fs::write(dir.path().join("o.db"), "keep me").unwrap();
    let (code, _, se) = export(&["runs/q", "--optuna", "o.db"]);
    assert_eq!(code, Some(2), "{se}");
    assert!(
        se.contains("o.db exists already") && se.contains("--force"),
        "{se}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("o.db")).unwrap(),
        "keep me"
    );
    let (code, _, se) = export(&["runs/q", "--optuna", "o.db", "--study", ""]);
    assert_eq!(code, Some(2), "{se}");
    assert!(se.contains("study name is empty"), "{se}");
    let (code, so, se) = export(&[
        "runs/q", "--optuna", "o.db", "--force", "--study", "renamed",
    ]);
    assert_eq!(code, Some(0), "{se}");
    assert!(
        so.contains("study `renamed`: 3 trials, 1 objective)"),
        "{so}"
    );
    let c = Connection::open(dir.path().join("o.db")).unwrap();
    let name: String = c
        .query_row("SELECT study_name FROM studies", [], |r| r.get(0))
        .unwrap();
    assert_eq!(name, "renamed");
    let (code, _, se) = export(&["runs/q", "--optuna", "runs", "--force"]);
    assert_eq!(code, Some(2), "{se}");
    assert!(se.contains("a directory"), "{se}");
    let (code, _, se) = export(&["runs/q", "--optuna", "missing/o.db"]);
    assert_eq!(code, Some(1), "{se}");
    assert!(se.contains("cannot write missing/o.db"), "{se}");
    assert!(!se.contains("panicked"), "{se}");
}

#[test]
fn waiting_and_running_trials_and_every_choice_type_open_in_optuna() {
    use modnas_core::journal::{Journal, RunMeta};
    use modnas_core::param::{Domain, ParamSpace, Value as Choice};
    use modnas_core::trial::{Evaluation, NewTrial, Outcome, Step};
    python();
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("queue");
    std::fs::create_dir(&run).unwrap();
    let mut space = ParamSpace::new();
    space
        .add(
            "c",
            Domain::Categorical {
                choices: vec![
                    Choice::Int(1),
                    Choice::Float(2.5),
                    Choice::Str("x".into()),
                    Choice::Bool(true),
                ],
            },
        )
        .unwrap();
    space
        .add(
            "k",
            Domain::Int {
                low: 1,
                high: 1024,
                log: true,
            },
        )
        .unwrap();
    let meta = RunMeta {
        name: "queue".into(),
        seed: 5,
        config: json!({"objectives": [{"metric": "acc", "direction": "max"}]}),
        space: serde_json::to_value(space.params()).unwrap(),
    };
    {
        let mut j = modnas_store::SqliteJournal::open(
            &run.join("journal.sqlite"),
            modnas_store::Sync::Process,
        )
        .unwrap();
        j.open(&meta).unwrap();
        let mut rng = modnas_core::seed::rng_from_seed(3);
        let new: Vec<NewTrial> = (0..8)
            .map(|i| NewTrial {
                params: space.sample(&mut rng),
                seed: 100 + i,
            })
            .collect();
        j.create(&space, &new, "{}").unwrap();
        // Trials 0-3 finish (complete, complete, failed, pruned), 4 stays running, 5-7 wait.
        for n in 0..5u64 {
            let t = j.claim(&space, "w").unwrap().unwrap();
            assert_eq!(t.number, n);
            let steps: Vec<Step> = (1..=n)
                .map(|s| Step {
                    step: s * 10,
                    metrics: [("acc".to_string(), s as f64 / 10.0)].into(),
                })
                .collect();
            j.record_steps(n, "w", &steps).unwrap();
            let ev = |acc: f64| Evaluation {
                metrics: [("acc".to_string(), acc), ("mem".to_string(), 7.5)].into(),
                cost: Some(2.0),
                attrs: json!({"note": "n"}),
            };
            let outcome = match n {
                0 | 1 => Outcome::Complete(ev(n as f64 + 0.5)),
                2 => Outcome::Failed("out of memory".into()),
                3 => Outcome::Pruned(ev(0.3)),
                _ => continue,
            };
            assert!(j.finish(n, "w", &outcome).unwrap());
        }
    }
    let trials = expected_trials(&run.join("journal.sqlite"), &["acc"]);
    let states: Vec<&str> = trials
        .iter()
        .map(|t| t["state"].as_str().unwrap())
        .collect();
    assert_eq!(
        states,
        [
            "COMPLETE", "COMPLETE", "FAIL", "PRUNED", "RUNNING", "WAITING", "WAITING", "WAITING"
        ]
    );
    let choices: std::collections::BTreeSet<String> = trials
        .iter()
        .map(|t| t["params"]["c"].to_string())
        .collect();
    assert!(choices.len() >= 3, "{choices:?}");
    let expected = json!({
        "name": "queue",
        "directions": ["MAXIMIZE"],
        "metric_names": ["acc"],
        "trials": trials,
        "mode": "importance",
        "best": 1,
    });
    export_and_check(&run, &dir.path().join("queue.db"), None, expected);
}

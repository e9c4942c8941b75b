//! Running a plan in its run directory: resume checks, the search, outputs and the summary.

use crate::error::CliError;
use crate::plan::{JournalKind, Plan, first_difference, without_operational};
use crate::progress::Progress;
use modnas_core::config::yaml::emit;
use modnas_core::journal::{Journal, JournalError, MemoryJournal, RunMeta};
use modnas_core::output::{write_atomic, write_results};
use modnas_core::search::Search;
use modnas_core::stop::StopReason;
use modnas_core::trial::{MAX_REASON_BYTES, TrialState, shorten};
use modnas_store::{Locked, RunLock, SqliteJournal};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

/// Options of a run that are not part of its configuration.
pub struct RunOptions {
    /// Directory holding run directories.
    pub runs_dir: PathBuf,
    /// Discard an existing run of the same name first.
    pub fresh: bool,
    /// Set by Ctrl-C.
    pub interrupt: Arc<AtomicBool>,
    /// Show a progress bar on terminals.
    pub progress: bool,
}

/// The seed stored in an existing run, so that resuming without `--seed` continues it.
pub fn stored_seed(runs_dir: &Path, name: &str) -> Option<u64> {
    let path = runs_dir.join(name).join("journal.sqlite");
    let mut j = SqliteJournal::open_read_only(&path).ok()?;
    j.run_meta().ok().flatten().map(|m| m.seed)
}

/// The file that marks a directory as a run directory made by modnas.
pub const RUN_MARKER: &str = ".modnas-run";

/// Deletes what an earlier run left in `dir` except its (locked) journal files and the marker.
fn clear_outputs(dir: &Path) -> Result<(), CliError> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| CliError::Runtime(format!("cannot read {}: {e}", dir.display())))?;
    for e in entries.flatten() {
        let p = e.path();
        let name = e.file_name().to_string_lossy().to_string();
        if name.starts_with("journal.") || name == RUN_MARKER {
            continue;
        }
        let r = if p.is_dir() {
            std::fs::remove_dir_all(&p)
        } else {
            std::fs::remove_file(&p)
        };
        r.map_err(|e| CliError::Runtime(format!("cannot remove {}: {e}", p.display())))?;
    }
    Ok(())
}

/// Refuses a directory that exists, is not empty and was not made by modnas (no marker, no
/// journal): modnas never writes into or deletes anything in such a directory.
fn check_run_dir(run_dir: &Path) -> Result<(), CliError> {
    let entries = match std::fs::read_dir(run_dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) if run_dir.exists() && !run_dir.is_dir() => {
            return Err(CliError::Usage(format!(
                "{} exists and is not a directory ({e}); choose another --name or --runs-dir",
                run_dir.display()
            )));
        }
        Err(e) => {
            return Err(CliError::Runtime(format!(
                "cannot read the run directory {}: {e}",
                run_dir.display()
            )));
        }
    };
    let mut empty = true;
    for e in entries.flatten() {
        let name = e.file_name();
        if name == RUN_MARKER || name == "journal.sqlite" {
            return Ok(());
        }
        empty = false;
    }
    if empty {
        return Ok(());
    }
    Err(CliError::Usage(format!(
        "{} is not a modnas run directory: it is not empty and has no {RUN_MARKER} or journal.sqlite, so modnas will neither write into it nor delete anything in it.\n    = choose another --name or --runs-dir",
        run_dir.display()
    )))
}

/// Marks `run_dir` as a run directory (once its lock is held).
fn mark_run_dir(run_dir: &Path) -> Result<(), CliError> {
    let marker = run_dir.join(RUN_MARKER);
    if marker.exists() {
        return Ok(());
    }
    std::fs::write(
        &marker,
        "This directory is a modnas run directory (modnas may delete files in it on --fresh).\n",
    )
    .map_err(|e| CliError::Runtime(format!("cannot write {}: {e}", marker.display())))
}

/// Opens the journal of `run_dir` (taking its lock first, so that a run in use by another process
/// is never touched), starts over when `fresh`, and checks that a stored run has the same
/// configuration. A directory that exists, is not empty and is not a run directory is refused.
pub fn open_run(
    run_dir: &Path,
    kind: JournalKind,
    fresh: bool,
    meta: &RunMeta,
) -> Result<Box<dyn Journal>, CliError> {
    check_run_dir(run_dir)?;
    std::fs::create_dir_all(run_dir).map_err(|e| {
        CliError::Runtime(format!(
            "cannot create the run directory {}: {e}",
            run_dir.display()
        ))
    })?;
    let path = run_dir.join("journal.sqlite");
    let mut journal: Box<dyn Journal> = match kind {
        JournalKind::Sqlite(sync) if fresh => {
            let (j, aside) = SqliteJournal::open_fresh(&path, sync)?;
            if let Some(a) = aside {
                tracing::warn!(
                    "{} was not a valid journal: it was moved to {} and the run starts over",
                    path.display(),
                    a.display()
                );
            }
            Box::new(j)
        }
        JournalKind::Sqlite(sync) => match SqliteJournal::open(&path, sync) {
            Ok(j) => Box::new(j),
            Err(JournalError::Corrupt(m)) => {
                return Err(CliError::Runtime(format!(
                    "journal data is corrupt: {m}\n    = to start the run over, pass --fresh (the file is kept as journal.sqlite.corrupt-<time>); to keep it untouched and start another run, pass --name NEW_NAME"
                )));
            }
            Err(e) => return Err(e.into()),
        },
        JournalKind::Memory => Box::new(Locked::new(
            MemoryJournal::new(),
            RunLock::for_run(run_dir)?,
        )),
    };
    mark_run_dir(run_dir)?;
    if fresh {
        clear_outputs(run_dir)?;
    }
    // Operational settings may change between sessions: they are compared without them (on
    // both sides, so that runs stored before a setting was operational resume too).
    if let Some(mut stored) = journal.open(meta)?
        && let Some((path, old, new)) = {
            let mut now = meta.config.clone();
            without_operational(&mut stored.config);
            without_operational(&mut now);
            first_difference(&stored.config, &now, "")
        }
    {
        return Err(CliError::Usage(format!(
            "the run `{}` in {} was started with a different configuration: `{path}` was {old}, now {new}.\n    = to continue it, use the original configuration (stop criteria and `parallel` may change); to start over, pass --fresh; to keep both, pass --name NEW_NAME",
            meta.name,
            run_dir.display()
        )));
    }
    Ok(journal)
}

/// Runs (or resumes) the plan and prints a summary.
pub fn execute(plan: Plan, opts: &RunOptions) -> Result<(), CliError> {
    let run_dir = opts.runs_dir.join(&plan.name);
    let meta = RunMeta {
        name: plan.name.clone(),
        seed: plan.seed,
        config: plan.identity.clone(),
        space: serde_json::to_value(plan.space.describe()).unwrap_or_default(),
    };
    let mut journal = open_run(&run_dir, plan.journal, opts.fresh, &meta)?;
    crate::logging::set_log_file(&run_dir.join("search.log"));
    write_atomic(&run_dir.join("config.yaml"), &emit(&plan.resolved))
        .map_err(|e| CliError::Runtime(format!("cannot write config.yaml: {e}")))?;
    let resumed = journal.count()?;
    tracing::info!(
        "{} `{}` in {} (seed {}, {} parameters, optimizing {})",
        if resumed > 0 {
            "resuming run"
        } else {
            "starting run"
        },
        plan.name,
        run_dir.display(),
        plan.seed,
        plan.space.len(),
        plan.objectives
            .0
            .iter()
            .map(|o| format!("{} {:?}", o.metric, o.direction).to_lowercase())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let worker = format!("{}:{}", hostname(), std::process::id());
    let mut search = Search {
        space: plan.space.clone(),
        objectives: plan.objectives.clone(),
        optimizer: plan.optimizer,
        estimator: plan.estimator.clone(),
        journal,
        derived: plan.derived,
        stop: plan.stop.clone(),
        parallel: plan.parallel,
        seed: plan.seed,
        callbacks: vec![Box::new(Progress::new(opts.progress))],
        interrupt: opts.interrupt.clone(),
        run_dir: Some(run_dir.clone()),
        worker,
        max_attempts: plan.max_attempts,
        pruner: plan.pruner,
    };
    let started = std::time::Instant::now();
    let outcome = search.run().map_err(|e| match e {
        modnas_core::search::SearchError::Fatal { trial, reason } => CliError::Runtime(format!(
            "trial {trial} failed in a way that would repeat for every trial, so the search stopped:\n{reason}\n    = fix the problem and rerun the same command to resume (a changed configuration needs --fresh)"
        )),
        other => CliError::Runtime(other.to_string()),
    })?;
    let est = plan.estimator.as_ref();
    write_results(
        &run_dir,
        &plan.space,
        &plan.objectives,
        Some(est),
        &outcome.trials,
        outcome.best,
        &outcome.pareto,
    )
    .map_err(|e| {
        CliError::Runtime(format!(
            "cannot write results in {}: {e}",
            run_dir.display()
        ))
    })?;
    if plan.report {
        let html = crate::report_cmd::render_with_steps(
            &plan.name,
            &plan.space,
            &plan.objectives,
            &outcome.trials,
            &outcome.steps,
            Some(est),
            vec![
                ("seed".into(), plan.seed.to_string()),
                ("stopped because".into(), outcome.reason.to_string()),
            ],
        );
        write_atomic(&run_dir.join("report.html"), &html)
            .map_err(|e| CliError::Runtime(format!("cannot write report.html: {e}")))?;
    }

    // Summary on stdout.
    let complete = outcome
        .trials
        .iter()
        .filter(|t| t.state == TrialState::Complete)
        .count();
    let failed = outcome
        .trials
        .iter()
        .filter(|t| t.state == TrialState::Failed)
        .count();
    let pruned = outcome
        .trials
        .iter()
        .filter(|t| t.state == TrialState::Pruned)
        .count();
    let pruned_text = if pruned > 0 {
        format!(", {pruned} pruned")
    } else {
        String::new()
    };
    println!(
        "run `{}`: {} ({} trials: {complete} complete, {failed} failed{pruned_text}; {} evaluated in {:.1} s this session)",
        plan.name,
        outcome.reason,
        outcome.trials.len(),
        outcome.evaluated,
        started.elapsed().as_secs_f64()
    );
    match outcome.best {
        Some(b) => {
            let t = &outcome.trials[b];
            let o = plan.objectives.primary();
            println!(
                "best {} = {} (trial {})",
                o.metric,
                t.metrics.get(&o.metric).copied().unwrap_or(f64::NAN),
                t.number
            );
            for (k, v) in plan.space.render(&t.params) {
                println!("  {k} = {v}");
            }
            if let Some(d) = est.describe(&plan.space, &t.params) {
                println!("  {d}");
            }
            for (k, v) in est.facts(&plan.space, &t.params) {
                println!("  {k}: {v}");
            }
            if plan.objectives.len() > 1 {
                println!(
                    "Pareto front: {} trials (pareto.yaml)",
                    outcome.pareto.len()
                );
            }
        }
        None => println!("no trial has completed"),
    }
    let mut files = vec!["best.yaml", "config.yaml"];
    if plan.objectives.len() > 1 {
        files.push("pareto.yaml");
    }
    if plan.report {
        files.push("report.html");
    }
    if matches!(plan.journal, JournalKind::Sqlite(_)) {
        files.push("journal.sqlite");
    }
    println!("results in {}/ ({})", run_dir.display(), files.join(", "));

    if outcome.reason == StopReason::Interrupted {
        return Err(CliError::Interrupted(format!(
            "interrupted after {} trials; everything evaluated is saved. Rerun the same command to resume.",
            outcome
                .trials
                .iter()
                .filter(|t| t.state.is_finished())
                .count()
        )));
    }
    if complete == 0 && failed > 0 {
        let first = outcome
            .trials
            .iter()
            .find_map(|t| t.error.as_deref())
            .map(|e| shorten(e, MAX_REASON_BYTES / 2).into_owned())
            .unwrap_or_default();
        return Err(CliError::NoSuccess(format!(
            "no trial succeeded ({failed} failed). The first failure:\n{first}"
        )));
    }
    Ok(())
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "local".into())
}

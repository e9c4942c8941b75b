//! Searches and final training on the tensor layer: configurations with a `model:`.

use crate::epoch_bar::EpochBar;
use crate::error::CliError;
use crate::plan::{JournalKind, check_name, journal_from_node};
use crate::run::open_run;
use crate::{RunFlags, interrupt_flag, resume_seed};
use modnas_core::config::Node;
use modnas_core::config::yaml::emit;
use modnas_core::journal::RunMeta;
use modnas_core::objective::{Metrics, Objective, Objectives};
use modnas_core::output::write_atomic;
use modnas_torch::model::ArchDesc;
use modnas_torch::routine::estim::BatchProgress;
use modnas_torch::routine::{self, RunOpts};
use std::path::Path;

/// What the run is for.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// An architecture search (`modnas search`).
    Search,
    /// Final training of one architecture (`modnas train`).
    Train,
}

fn fmt_metrics(m: &Metrics, keys: &[&str]) -> String {
    keys.iter()
        .filter_map(|k| m.get(*k).map(|v| format!("{k} {v:.4}")))
        .collect::<Vec<_>>()
        .join("  ")
}

/// The architecture to train.
pub enum ArchChoice {
    /// From `--arch FILE`.
    Given(ArchDesc),
    /// `--arch random`.
    Random,
}

/// Runs (or resumes) a tensor-layer configuration and prints a summary.
pub fn execute(
    root: Node,
    default_name: &str,
    flags: &RunFlags,
    arch: Option<ArchChoice>,
    purpose: Purpose,
    config_files: &[&Path],
) -> Result<(), CliError> {
    let stored = resume_seed(&root, default_name, flags);
    let has_arch = arch.is_some() || root.get("arch_desc").is_some();
    if purpose == Purpose::Train && !has_arch {
        return Err(CliError::Usage(
            "`modnas train` needs the architecture to train: pass --arch runs/NAME/best.yaml (or set `arch_desc:` in the configuration)".into(),
        ));
    }
    let arch = match arch {
        Some(ArchChoice::Random) => {
            let space = routine::build(
                &root,
                default_name,
                flags.name.as_deref(),
                flags.seed,
                stored,
                None,
            )?;
            let desc = routine::random_arch(&space, space.seed).map_err(CliError::Runtime)?;
            tracing::info!(
                "a random architecture of the search space (seed {})",
                space.seed
            );
            Some(desc)
        }
        Some(ArchChoice::Given(d)) => Some(d),
        None => None,
    };
    let mut plan = routine::build(
        &root,
        default_name,
        flags.name.as_deref(),
        flags.seed,
        stored,
        arch,
    )?;
    check_name(&plan.name).map_err(CliError::Usage)?;
    let kind = match &plan.journal {
        Some(n) => journal_from_node(n)?,
        None => JournalKind::Sqlite(modnas_store::Sync::Process),
    };
    let run_dir = flags.runs_dir.join(&plan.name);
    let meta = RunMeta {
        name: plan.name.clone(),
        seed: plan.seed,
        config: plan.identity.clone(),
        space: serde_json::json!([]),
    };
    let mut journal = open_run(&run_dir, kind, flags.fresh, &meta)?;
    crate::logging::set_log_file(&run_dir.join("search.log"));
    write_atomic(&run_dir.join("config.yaml"), &emit(&plan.resolved))
        .map_err(|e| CliError::Runtime(format!("cannot write config.yaml: {e}")))?;
    let what = match (&plan.optim, purpose) {
        (_, Purpose::Train) => "training".to_string(),
        (Some(o), _) => format!("searching with {}", o.name),
        (None, _) => "training a fixed architecture".to_string(),
    };
    tracing::info!(
        "{what}: run `{}` in {} (seed {}, device {:?})",
        plan.name,
        run_dir.display(),
        plan.seed,
        plan.device
    );
    let interrupt = interrupt_flag();
    let started = std::time::Instant::now();
    let bar = std::cell::RefCell::new(EpochBar::new(!flags.no_progress));
    let mut on_epoch = |estim: &str, epoch: usize, epochs: usize, m: &Metrics| {
        bar.borrow().println(&format!(
            "[{estim}] epoch {}/{epochs}  {}  ({:.1} s)",
            epoch + 1,
            fmt_metrics(m, &["train_loss", "train_acc", "val_acc", "test_acc"]),
            m.get("epoch_seconds").copied().unwrap_or(0.0)
        ));
    };
    let mut on_batch = |p: &BatchProgress<'_>| bar.borrow_mut().tick(p);
    let outcome = routine::run(
        &mut plan,
        journal.as_mut(),
        RunOpts {
            run_dir: Some(&run_dir),
            interrupt: &interrupt,
            on_epoch: &mut on_epoch,
            on_batch: &mut on_batch,
        },
    );
    bar.borrow_mut().finish();
    let outcome = outcome.map_err(CliError::Runtime)?;
    let epochs_done = outcome.epochs_done();

    let mut best = serde_json::Map::new();
    best.insert("name".into(), serde_json::json!(plan.name));
    best.insert("seed".into(), serde_json::json!(plan.seed));
    best.insert(
        "purpose".into(),
        serde_json::json!(match purpose {
            Purpose::Search => "search",
            Purpose::Train => "train",
        }),
    );
    best.insert("epochs".into(), serde_json::json!(epochs_done));
    best.insert("params".into(), serde_json::json!(outcome.n_params));
    best.insert("metrics".into(), serde_json::json!(outcome.last));
    if let Some(t) = &outcome.test {
        best.insert("test".into(), serde_json::json!(t));
    }
    best.insert(
        "arch".into(),
        serde_json::Value::Object(outcome.arch.clone()),
    );
    write_atomic(
        &run_dir.join("best.yaml"),
        &emit(&serde_json::Value::Object(best)),
    )
    .map_err(|e| CliError::Runtime(format!("cannot write best.yaml: {e}")))?;
    let mut files = vec!["best.yaml", "config.yaml"];
    if plan.report {
        let space = routine::journal_space();
        let objectives = Objectives(vec![Objective::maximize("val_acc")]);
        let mut facts = vec![
            ("seed".into(), plan.seed.to_string()),
            ("weights".into(), outcome.n_params.to_string()),
        ];
        if let Some(o) = &plan.optim {
            facts.push(("optimizer".into(), o.name.clone()));
        }
        let chosen: Vec<String> = outcome
            .arch
            .iter()
            .filter_map(|(k, v)| {
                let v = v.as_str().unwrap_or_default();
                (v != "NIL").then(|| format!("{k}: {v}"))
            })
            .collect();
        let zero = outcome.arch.len() - chosen.len();
        let mut arch = chosen.join(", ");
        if zero > 0 {
            arch.push_str(&format!(" ({zero} more: NIL)"));
        }
        facts.push(("architecture".into(), arch));
        let html = crate::report_cmd::render(
            &plan.name,
            &space,
            &objectives,
            &outcome.trials,
            None,
            facts,
        );
        write_atomic(&run_dir.join("report.html"), &html)
            .map_err(|e| CliError::Runtime(format!("cannot write report.html: {e}")))?;
        files.push("report.html");
    }
    if matches!(kind, JournalKind::Sqlite(_)) {
        files.push("journal.sqlite");
    }

    println!(
        "run `{}`: {} epochs ({:.1} s this session), {} weights",
        plan.name,
        epochs_done,
        started.elapsed().as_secs_f64(),
        outcome.n_params
    );
    println!(
        "final: {}",
        fmt_metrics(&outcome.last, &["train_acc", "val_acc", "val_acc5"])
    );
    if let Some(t) = &outcome.test {
        println!(
            "test accuracy: {:.2}% (top-5 {:.2}%)",
            t.get("test_acc").copied().unwrap_or(f64::NAN),
            t.get("test_acc5").copied().unwrap_or(f64::NAN)
        );
    }
    if purpose == Purpose::Search && plan.optim.is_some() {
        println!("architecture:");
        let mut zero = 0;
        for (k, v) in &outcome.arch {
            let v = match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            if v == "NIL" {
                zero += 1;
            } else {
                println!("  {k}: {v}");
            }
        }
        if zero > 0 {
            println!("  ({zero} more entries are NIL, the zero operation; best.yaml lists all)");
        }
    }
    println!("results in {}/ ({})", run_dir.display(), files.join(", "));
    if purpose == Purpose::Search && plan.optim.is_some() && !outcome.interrupted {
        let cfgs: Vec<String> = config_files
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        println!(
            "train it: modnas train {} --arch {}",
            cfgs.join(" "),
            run_dir.join("best.yaml").display()
        );
    }
    if outcome.interrupted {
        return Err(CliError::Interrupted(format!(
            "interrupted after {epochs_done} epochs; every finished epoch is saved with a checkpoint. Rerun the same command to resume."
        )));
    }
    Ok(())
}

/// Reads `--arch FILE` (or `--arch random`).
pub fn load_arch(path: &Path) -> Result<ArchChoice, CliError> {
    if path.as_os_str() == "random" {
        return Ok(ArchChoice::Random);
    }
    Ok(ArchChoice::Given(routine::load_arch_desc(path)?))
}

/// Whether a configuration with a `model:` is a discrete search over the network: its
/// estimator evaluates candidate networks (`SubNet`, `SPOS`), proposed by any optimizer.
pub fn is_candidate_search(root: &Node) -> bool {
    let Some(e) = root.get("estim") else {
        return false;
    };
    let name = match e.as_str() {
        Some(s) => Some(s.to_string()),
        None => e.get("type").and_then(|t| t.as_str().map(str::to_string)),
    };
    let mut reg = modnas_core::estimator::new_registry();
    modnas_torch::candidates::register_all(&mut reg, None).is_ok()
        && name.is_some_and(|n| reg.get(&n).is_some())
}

/// Runs (or resumes) a discrete search over a network: the network half of the configuration
/// (`model:`, `candidates:`, `data:`, `trainer:`…) defines the candidates, and the search runs
/// as every other search does (journal, resume, report, `best.yaml`).
pub fn candidate_search(root: Node, default_name: &str, flags: &RunFlags) -> Result<(), CliError> {
    use modnas_torch::setup::{NETWORK_KEYS, NetworkSetup};
    let mut f = modnas_core::config::Fields::new(&root, "")?;
    let net = NetworkSetup::read(&mut f, &root, None)?;
    let identity = net.identity();
    let regs = crate::registries::Registries::for_network(std::sync::Arc::new(net));
    crate::run_search(
        root,
        default_name,
        flags,
        &regs,
        NETWORK_KEYS,
        Some(("network", identity)),
    )
}

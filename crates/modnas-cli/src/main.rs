//! `modnas`: modular neural architecture search and hyperparameter optimisation.
//!
//! Exit codes: 0 success; 1 the run failed (I/O, a fatal trial error, no successful trial);
//! 2 invalid configuration or command line; 130 interrupted (the state is saved; rerun to resume).

#[cfg(feature = "torch")]
mod epoch_bar;
mod error;
mod export_cmd;
mod list;
mod logging;
mod plan;
mod progress;
mod registries;
mod report_cmd;
mod run;
#[cfg(feature = "torch")]
mod torch_run;
mod tune;

use clap::{Args, Parser, Subcommand};
use error::CliError;
use modnas_core::config::{self, Node};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

#[derive(Parser)]
#[command(name = "modnas", version, about = "Modular neural architecture search and hyperparameter optimisation", long_about = None)]
struct Cli {
    /// More log output (repeat for more).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Only warnings and errors.
    #[arg(short, long, global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs a search described by configuration files; rerunning it resumes.
    Search(SearchArgs),
    /// Trains an architecture (a searched `best.yaml`) from scratch and reports its test accuracy.
    Train(TrainArgs),
    /// Tunes the parameters of any program: `modnas tune -p x=float:-5:5 --objective loss:min -- prog --x {x}`.
    Tune(TuneArgs),
    /// Lists registered components (optimizers, estimators, metrics, surrogates, acquisitions) with their arguments.
    List {
        /// One kind only.
        kind: Option<String>,
    },
    /// Writes the HTML report of a run directory.
    Report {
        /// The run directory (runs/NAME).
        run_dir: PathBuf,
        /// Output file (default: RUN_DIR/report.html).
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Writes a run in another tool's format: `modnas export runs/NAME --optuna study.db`.
    Export(ExportArgs),
}

#[derive(Args)]
struct ExportArgs {
    /// The run directory (runs/NAME).
    run_dir: PathBuf,
    /// Write an SQLite file in Optuna 5.0's storage format, for `optuna.load_study` and
    /// optuna-dashboard (`sqlite:///FILE`).
    #[arg(long, value_name = "FILE", required = true)]
    optuna: PathBuf,
    /// The study name (default: the run's name).
    #[arg(long, value_name = "NAME")]
    study: Option<String>,
    /// Replace FILE if it exists.
    #[arg(long)]
    force: bool,
}

#[derive(Args)]
struct RunFlags {
    /// Override a configuration value: -o optim.args.population=50 (the value is YAML).
    #[arg(short = 'o', long = "override", value_name = "KEY=VALUE")]
    overrides: Vec<String>,
    /// Run name (default: `name:` in the configuration, else the first file's name).
    #[arg(long)]
    name: Option<String>,
    /// Run seed (default: `seed:` in the configuration, else the stored seed of the run, else 0).
    #[arg(long)]
    seed: Option<u64>,
    /// Directory of run directories.
    #[arg(long, default_value = "runs")]
    runs_dir: PathBuf,
    /// Delete an existing run of the same name and start over.
    #[arg(long)]
    fresh: bool,
    /// No progress bar.
    #[arg(long)]
    no_progress: bool,
}

#[derive(Args)]
struct SearchArgs {
    /// Configuration files, merged in order.
    #[arg(required = true, value_name = "CONFIG")]
    configs: Vec<PathBuf>,
    #[command(flatten)]
    run: RunFlags,
}

#[derive(Args)]
struct TrainArgs {
    /// Configuration files with a `model:`, merged in order; their `train:` sections apply.
    #[arg(required = true, value_name = "CONFIG")]
    configs: Vec<PathBuf>,
    /// The architecture: a `best.yaml` written by a search, a map from slots to operations, or
    /// `random` for a uniformly random one of the search space (drawn with the run's seed).
    #[arg(long, value_name = "FILE|random")]
    arch: Option<PathBuf>,
    /// Start from these weights: a supernet (`runs/NAME/supernet`, a checkpoint directory or a
    /// `weights.ot`). Every variable takes the same-named one, or its leading slice for a narrow
    /// subnet of an elastic supernet (the same as `init_from:` in the configuration).
    #[arg(long, value_name = "PATH")]
    init_from: Option<PathBuf>,
    #[command(flatten)]
    run: RunFlags,
}

#[derive(Args)]
struct TuneArgs {
    /// Configuration files (optional), merged in order.
    #[arg(value_name = "CONFIG")]
    configs: Vec<PathBuf>,
    /// A parameter: NAME=float:LOW:HIGH, int:LOW:HIGH, logfloat:LOW:HIGH, choice:A,B or YAML.
    #[arg(short = 'p', long = "param", value_name = "NAME=SPEC")]
    params: Vec<String>,
    /// The optimizer (see `modnas list optimizers`).
    #[arg(long)]
    optim: Option<String>,
    /// Number of trials.
    #[arg(long)]
    trials: Option<u64>,
    /// Wall-clock budget, e.g. 30m.
    #[arg(long)]
    max_time: Option<String>,
    /// Trials run at once, as separate processes.
    #[arg(long)]
    parallel: Option<usize>,
    /// Per-trial time limit, e.g. 60s.
    #[arg(long)]
    timeout: Option<String>,
    /// Objective: METRIC, METRIC:max or METRIC:min (repeat for several).
    #[arg(long = "objective", value_name = "METRIC[:min|max]")]
    objectives: Vec<String>,
    #[command(flatten)]
    run: RunFlags,
    /// The program and its arguments; `{name}` is replaced by parameter values.
    #[arg(last = true, value_name = "COMMAND")]
    command: Vec<String>,
}

fn interrupt_flag() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    let f = flag.clone();
    // The first Ctrl-C (or SIGTERM) asks the search to stop and save; a second one stops at once,
    // killing the programs of running trials.
    if let Ok(mut signals) = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
    ]) {
        std::thread::spawn(move || {
            for _ in signals.forever() {
                if f.swap(true, std::sync::atomic::Ordering::SeqCst) {
                    modnas_bench::external::kill_running_programs();
                    eprintln!("interrupted again: stopping at once");
                    std::process::exit(130);
                }
                eprintln!(
                    "interrupt: stopping after the running trials and saving (press Ctrl-C again to stop at once)"
                );
            }
        });
    }
    flag
}

/// The seed of the existing run this command continues, if any: resuming without --seed keeps
/// the run's own seed.
fn resume_seed(root: &Node, default_name: &str, flags: &RunFlags) -> Option<u64> {
    if flags.fresh {
        return None;
    }
    let name = flags
        .name
        .clone()
        .or_else(|| {
            root.get("name")
                .and_then(|n| n.as_str().map(str::to_string))
        })
        .unwrap_or_else(|| default_name.to_string());
    run::stored_seed(&flags.runs_dir, &name)
}

fn run_config(root: Node, default_name: &str, flags: &RunFlags) -> Result<(), CliError> {
    run_search(
        root,
        default_name,
        flags,
        &registries::Registries::all(),
        &[],
        None,
    )
}

/// Builds and runs a search; `other_keys` are top-level keys read elsewhere, and
/// `extra_identity` joins the run's identity (both for searches over networks).
fn run_search(
    root: Node,
    default_name: &str,
    flags: &RunFlags,
    regs: &registries::Registries,
    other_keys: &[&'static str],
    extra_identity: Option<(&str, serde_json::Value)>,
) -> Result<(), CliError> {
    let stored = resume_seed(&root, default_name, flags);
    let mut plan = plan::build(
        &root,
        regs,
        other_keys,
        default_name,
        flags.name.as_deref(),
        flags.seed,
        stored,
    )?;
    if let (Some((k, v)), Some(m)) = (extra_identity, plan.identity.as_object_mut()) {
        m.insert(k.to_string(), v);
    }
    let opts = run::RunOptions {
        runs_dir: flags.runs_dir.clone(),
        fresh: flags.fresh,
        interrupt: interrupt_flag(),
        progress: !flags.no_progress,
    };
    run::execute(plan, &opts)
}

fn search(a: &SearchArgs) -> Result<(), CliError> {
    let files: Vec<&Path> = a.configs.iter().map(PathBuf::as_path).collect();
    let root = config::load(&files, &a.run.overrides, "search")?;
    let name = plan::name_from_file(&a.configs[0]);
    if root.get("model").is_some() {
        #[cfg(feature = "torch")]
        if torch_run::is_candidate_search(&root) {
            return torch_run::candidate_search(root, &name, &a.run);
        }
        return tensor_run(root, &name, &a.run, None, &files);
    }
    run_config(root, &name, &a.run)
}

fn train(a: &TrainArgs) -> Result<(), CliError> {
    let files: Vec<&Path> = a.configs.iter().map(PathBuf::as_path).collect();
    let mut overrides = a.run.overrides.clone();
    if let Some(p) = &a.init_from {
        if !p.exists() {
            return Err(CliError::Usage(format!(
                "--init-from {}: no such file or directory",
                p.display()
            )));
        }
        let p = std::path::absolute(p).unwrap_or_else(|_| p.clone());
        overrides.push(format!(
            "init_from={}",
            serde_json::json!(p.display().to_string())
        ));
    }
    let root = config::load(&files, &overrides, "train")?;
    if root.get("model").is_none() {
        return Err(CliError::Usage(format!(
            "`modnas train` trains networks: {} has no `model:` section",
            a.configs[0].display()
        )));
    }
    let name = format!("{}-train", plan::name_from_file(&a.configs[0]));
    let arch = a.arch.as_deref();
    tensor_run(root, &name, &a.run, Some(arch), &files)
}

/// Runs a tensor-layer configuration: a search (`arch` is `None`) or a final training
/// (`arch` is `Some`, holding the `--arch` file when one was given).
#[cfg(feature = "torch")]
fn tensor_run(
    root: Node,
    name: &str,
    flags: &RunFlags,
    arch: Option<Option<&Path>>,
    files: &[&Path],
) -> Result<(), CliError> {
    use torch_run::Purpose;
    let (desc, purpose) = match arch {
        None => (None, Purpose::Search),
        Some(Some(p)) => (Some(torch_run::load_arch(p)?), Purpose::Train),
        Some(None) => (None, Purpose::Train),
    };
    torch_run::execute(root, name, flags, desc, purpose, files)
}

#[cfg(not(feature = "torch"))]
fn tensor_run(
    _root: Node,
    _name: &str,
    _flags: &RunFlags,
    _arch: Option<Option<&Path>>,
    _files: &[&Path],
) -> Result<(), CliError> {
    Err(CliError::Usage(
        "this configuration has a `model:` (a network search), but this modnas was built without the tensor layer: build it with the default `torch` feature (scripts/setup-torch installs libtorch)".into(),
    ))
}

fn tune(a: &TuneArgs) -> Result<(), CliError> {
    let files: Vec<&Path> = a.configs.iter().map(PathBuf::as_path).collect();
    let mut root = config::load(&files, &[], "tune")?;
    tune::apply(
        &mut root,
        &tune::TuneFlags {
            params: &a.params,
            optim: a.optim.as_deref(),
            trials: a.trials,
            max_time: a.max_time.as_deref(),
            parallel: a.parallel,
            timeout: a.timeout.as_deref(),
            objectives: &a.objectives,
            command: &a.command,
        },
    )?;
    for o in &a.run.overrides {
        config::apply_override(&mut root, o)?;
    }
    config::apply_defaults(&mut root)?;
    let default_name = match a.configs.first() {
        Some(f) => plan::name_from_file(f),
        None => {
            let prog = a.command.iter().find(|s| {
                !s.starts_with('-') && !matches!(s.as_str(), "python" | "python3" | "bash" | "sh")
            });
            let stem = prog
                .and_then(|p| Path::new(p).file_stem())
                .map(|s| s.to_string_lossy().to_string())
                .unwrap_or_default();
            let name = format!("tune-{stem}");
            if plan::check_name(&name).is_ok() {
                name
            } else {
                "tune".into()
            }
        }
    };
    run_config(root, &default_name, &a.run)
}

fn main() -> ExitCode {
    // Like other Unix tools, end quietly when the reader of our output goes away
    // (`modnas list | head`).
    // SAFETY: restoring the default disposition of SIGPIPE before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    logging::init(if cli.quiet { -1 } else { cli.verbose as i8 });
    let result = match &cli.command {
        Command::Search(a) => search(a),
        Command::Train(a) => train(a),
        Command::Tune(a) => tune(a),
        Command::List { kind } => list::list(kind.as_deref()),
        Command::Report { run_dir, output } => report_cmd::report(run_dir, output.as_deref()),
        Command::Export(a) => {
            export_cmd::export_optuna(&a.run_dir, &a.optuna, a.study.as_deref(), a.force)
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let label = match e {
                CliError::Interrupted(_) => "interrupted",
                _ => "error",
            };
            eprintln!("{label}: {e}");
            e.exit_code()
        }
    }
}

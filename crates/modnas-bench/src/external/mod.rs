//! The external-program estimator: each trial runs a command and reads its metrics.
//!
//! Protocol (see `docs/external-programs.md`):
//! - the command is a list of arguments; `{name}` in an argument is replaced by the value of
//!   parameter `name` (also `{trial}`, `{seed}`, `{trial_dir}`, `{run_dir}`; `{{` and `}}` for
//!   braces). Arguments stay separate: nothing goes through a shell.
//! - the program gets `MODNAS_TRIAL`, `MODNAS_SEED`, `MODNAS_PARAMS` (JSON), `MODNAS_TRIAL_DIR`
//!   and `MODNAS_RESULT_FILE` in its environment;
//! - it reports metrics as a JSON object on its last JSON line of stdout, e.g.
//!   `{"loss": 0.25, "accuracy": 0.91}` (nested objects flatten to `a.b`), or writes that object to
//!   `$MODNAS_RESULT_FILE` when `result: file`;
//! - a crash, a non-zero exit, a timeout or unparsable output fails the trial with the reason and
//!   the last lines of stderr; the search goes on.
//!
//! Robustness: output is read in bounded memory (each line keeps its last 1 KiB, a metrics line
//! may be at most 1 MiB), failure reasons are bounded (16 KiB), transient start failures are
//! retried, and each program runs under a supervisor process so that its whole process tree ends
//! with the trial, or with modnas if modnas is killed.

mod argv;
mod json;
mod output;
mod process;
mod reason;

pub use argv::{Argv, split_command};
pub use json::{metrics_from_json, parse_json_line};
pub use process::kill_running_programs;

use argv::Template;
use modnas_core::config::{ConfigError, Seconds};
use modnas_core::estimator::{EstimContext, EstimRegistry, Estimator, EvalContext};
use modnas_core::param::{Assignment, ParamSpace};
use modnas_core::registry::{Args, RegistryError};
use modnas_core::trial::{Evaluation, TrialFailure};
use output::{JSON_LINE_MAX, Log, collect, drain, take_steps};
use process::{
    RUNNING, SPAWN_RETRY_DELAYS, clear_record, end_marked, end_recorded, is_transient, kill_group,
    new_token, record, signal_name, spawn_retrying, supervise, wait_until_ended,
};
use reason::{QUOTE_LINE_MAX, cap_reason, keep_start, quote_tail};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Where a program's metrics are read from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResultSource {
    /// The last line of stdout that is a JSON object.
    #[default]
    Stdout,
    /// The JSON object in the file `$MODNAS_RESULT_FILE`.
    File,
}

/// Arguments of [`External`].
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExternalArgs {
    /// The command, with `{param}` placeholders (required).
    pub command: Argv,
    /// Extra environment variables (values may hold placeholders too).
    pub env: BTreeMap<String, String>,
    /// Working directory (default: the current directory).
    pub cwd: Option<PathBuf>,
    /// Per-trial time limit, e.g. `30s`, `10m` (default: none).
    pub timeout: Option<Seconds>,
    /// `stdout` or `file`.
    pub result: ResultSource,
    /// Lines of stderr quoted in failure reasons.
    pub tail_lines: usize,
    /// Keep each trial's stdout/stderr in `<run>/trials/<n>/`.
    pub keep_logs: bool,
    /// Stop copying a stream to its log after this many bytes (default: no limit).
    pub max_log_bytes: Option<u64>,
}

impl Default for ExternalArgs {
    fn default() -> Self {
        ExternalArgs {
            command: Argv::default(),
            env: BTreeMap::new(),
            cwd: None,
            timeout: None,
            result: ResultSource::Stdout,
            tail_lines: 20,
            keep_logs: true,
            max_log_bytes: None,
        }
    }
}

impl Args for ExternalArgs {
    fn check(&self) -> Result<(), (String, String)> {
        if self.command.0.is_empty() || self.command.0[0].is_empty() {
            return Err((
                "command".into(),
                "missing `command`: the program to run and its arguments".into(),
            ));
        }
        if self.timeout.is_some_and(|t| t.0 <= 0.0 || t.0 > 3.2e7) {
            return Err((
                "timeout".into(),
                "`timeout` must be positive and at most a year".into(),
            ));
        }
        if self.tail_lines > 10_000 {
            return Err((
                "tail_lines".into(),
                "`tail_lines` must be at most 10000".into(),
            ));
        }
        if self.max_log_bytes == Some(0) {
            return Err((
                "max_log_bytes".into(),
                "`max_log_bytes` must be positive (use `keep_logs: false` to keep no logs)".into(),
            ));
        }
        Ok(())
    }

    fn help() -> &'static [(&'static str, &'static str)] {
        &[
            (
                "command",
                "program and arguments; `{name}` is replaced by parameter values (required)",
            ),
            ("env", "extra environment variables (placeholders allowed)"),
            ("cwd", "working directory"),
            ("timeout", "per-trial time limit such as 30s or 10m"),
            (
                "result",
                "`stdout` (last JSON line) or `file` ($MODNAS_RESULT_FILE)",
            ),
            ("tail_lines", "lines of stderr quoted when a trial fails"),
            (
                "keep_logs",
                "keep stdout/stderr of each trial in <run>/trials/<n>/",
            ),
            (
                "max_log_bytes",
                "stop copying stdout/stderr to the logs after this many bytes each",
            ),
        ]
    }
}

/// Runs an external program per trial.
pub struct External {
    argv: Vec<Template>,
    env: Vec<(String, Template)>,
    cwd: Option<PathBuf>,
    timeout: Option<Duration>,
    result: ResultSource,
    tail_lines: usize,
    keep_logs: bool,
    max_log_bytes: Option<u64>,
}

impl External {
    /// Builds the estimator, checking every placeholder against `space`.
    pub fn new(
        args: ExternalArgs,
        space: &ParamSpace,
        base_dir: &Path,
    ) -> Result<Self, ConfigError> {
        let field = |f: &str, e: String| ConfigError {
            path: f.to_string(),
            ..ConfigError::new(e)
        };
        let argv = args
            .command
            .0
            .iter()
            .enumerate()
            .map(|(i, s)| Template::parse(s, space).map_err(|e| field(&format!("command[{i}]"), e)))
            .collect::<Result<Vec<_>, _>>()?;
        let env = args
            .env
            .iter()
            .map(|(k, v)| {
                Template::parse(v, space)
                    .map(|t| (k.clone(), t))
                    .map_err(|e| field(&format!("env.{k}"), e))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let cwd = args
            .cwd
            .map(|c| if c.is_absolute() { c } else { base_dir.join(c) });
        if let Some(c) = &cwd
            && !c.is_dir()
        {
            return Err(field(
                "cwd",
                format!("the working directory {} does not exist", c.display()),
            ));
        }
        Ok(External {
            argv,
            env,
            cwd,
            timeout: args.timeout.map(|t| Duration::from_secs_f64(t.0)),
            result: args.result,
            tail_lines: args.tail_lines,
            keep_logs: args.keep_logs,
            max_log_bytes: args.max_log_bytes,
        })
    }
}

impl External {
    /// Runs the trial's program and reads its metrics.
    fn run_trial(
        &self,
        ctx: &EvalContext<'_>,
        params: &Assignment,
    ) -> Result<Evaluation, TrialFailure> {
        let trial_dir: Option<PathBuf> = ctx
            .run_dir
            .map(|d| d.join("trials").join(ctx.trial.to_string()));
        if let Some(d) = &trial_dir
            && let Err(e) = std::fs::create_dir_all(d)
        {
            // A set-up failure (a full disk, a read-only directory) says nothing about the
            // trial: it goes back to the queue and the search stops until the problem is fixed.
            return Err(TrialFailure::fatal(format!(
                "cannot create {}: {e}",
                d.display()
            )));
        }
        // A run of this trial interrupted by the death of modnas may have left processes behind.
        if let Some(d) = &trial_dir {
            end_recorded(d);
        }
        let token = new_token(ctx.trial);
        let scratch;
        let result_file = match &trial_dir {
            Some(d) => d.join("result.json"),
            None => {
                scratch = std::env::temp_dir().join(format!(
                    "modnas-{}-{}-result.json",
                    std::process::id(),
                    ctx.trial
                ));
                scratch.clone()
            }
        };
        let _ = std::fs::remove_file(&result_file);
        let td = trial_dir
            .as_deref()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        let rd = ctx
            .run_dir
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        let argv: Vec<String> = self
            .argv
            .iter()
            .map(|t| t.render(ctx.space, params, ctx.trial, ctx.seed, &td, &rd))
            .collect();
        let mut cmd = Command::new(&argv[0]);
        cmd.args(&argv[1..])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .env("MODNAS_TRIAL", ctx.trial.to_string())
            .env("MODNAS_SEED", ctx.seed.to_string())
            .env(
                "MODNAS_PARAMS",
                serde_json::Value::Object(ctx.space.to_json(params)).to_string(),
            )
            .env("MODNAS_RESULT_FILE", &result_file)
            .env("MODNAS_TRIAL_DIR", &td)
            .env("MODNAS_TRIAL_TOKEN", &token);
        for (k, t) in &self.env {
            cmd.env(
                k,
                t.render(ctx.space, params, ctx.trial, ctx.seed, &td, &rd),
            );
        }
        if let Some(c) = &self.cwd {
            cmd.current_dir(c);
        }
        // The program runs under a supervisor that ends its whole process group if modnas dies.
        supervise(&mut cmd);
        let mut child = match spawn_retrying(&mut cmd, &SPAWN_RETRY_DELAYS) {
            Ok(c) => c,
            // A passing shortage (processes, memory, the file being written): this trial fails,
            // the next may start.
            Err((e, attempts)) if is_transient(&e) => {
                return Err(TrialFailure::new(format!(
                    "cannot start `{}`: {e} (still after {attempts} attempts)",
                    argv[0]
                )));
            }
            Err((e, _)) => {
                let what = match e.kind() {
                    std::io::ErrorKind::NotFound => {
                        "program not found (check the name and PATH)".to_string()
                    }
                    std::io::ErrorKind::PermissionDenied => {
                        "permission denied (is it executable?)".to_string()
                    }
                    _ => e.to_string(),
                };
                return Err(TrialFailure::fatal(format!(
                    "cannot start `{}`: {what}",
                    argv[0]
                )));
            }
        };
        let pid = child.id();
        if let Some(d) = &trial_dir {
            record(d, pid, &token);
        }
        if let Ok(mut set) = RUNNING.lock() {
            set.insert(pid as i32);
        }
        let logs = self.keep_logs.then_some(()).and(trial_dir.as_ref());
        let log = |name: &str| {
            logs.map(|d| Log {
                path: d.join(name),
                max_bytes: self.max_log_bytes,
            })
        };
        let out_h = child
            .stdout
            .take()
            .map(|s| drain(s, self.tail_lines.max(5), log("stdout.log")));
        let err_h = child
            .stderr
            .take()
            .map(|s| drain(s, self.tail_lines, log("stderr.log")));
        let (tx, rx) = mpsc::channel();
        let waiter = std::thread::spawn(move || {
            wait_until_ended(pid);
            let _ = tx.send(());
        });
        let start = Instant::now();
        let mut timed_out = false;
        let mut cancelled = false;
        let mut steps = StepReports::default();
        loop {
            match rx.recv_timeout(Duration::from_millis(50)) {
                Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => break,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if let Some(h) = &out_h
                        && steps.forward(ctx, take_steps(h))
                    {
                        kill_group(pid);
                    }
                    if ctx.cancel.load(Ordering::SeqCst) && !cancelled {
                        cancelled = true;
                        kill_group(pid);
                    }
                    if let Some(t) = self.timeout
                        && start.elapsed() >= t
                        && !timed_out
                    {
                        timed_out = true;
                        kill_group(pid);
                    }
                }
            }
        }
        // Whatever it left behind goes too: its process group (killed while the supervisor, its
        // leader, is not reaped yet, so that the group id cannot have been reused), and
        // processes that left the group but still carry the trial's token.
        kill_group(pid);
        let status = child.wait();
        end_marked(&token, None);
        if let Some(d) = &trial_dir {
            clear_record(d);
        }
        let _ = waiter.join();
        if let Ok(mut set) = RUNNING.lock() {
            set.remove(&(pid as i32));
        }
        let deadline = Instant::now() + Duration::from_secs(2);
        let out = match &out_h {
            Some(h) => {
                let d = collect(h, deadline);
                steps.forward(ctx, take_steps(h));
                d
            }
            None => Default::default(),
        };
        let err = err_h.map(|h| collect(&h, deadline)).unwrap_or_default();
        let (out_tail, last_json, last_bad_json, err_tail) = (
            out.tail,
            out.last_result.or(out.last_json),
            out.last_bad_json,
            err.tail,
        );
        if cancelled {
            return Err(TrialFailure::cancelled());
        }
        // Told to stop: its result is its last step, however it ended.
        if steps.pruned {
            return Ok(Evaluation {
                metrics: steps.last.unwrap_or_default(),
                cost: None,
                attrs: Default::default(),
            });
        }
        if out.broken || err.broken {
            return Err(TrialFailure::new(
                "reading the program's output failed (an internal error in modnas); its metrics could not be read reliably",
            ));
        }
        let err_quote = quote_tail("stderr", &err_tail);
        if timed_out {
            let secs = self.timeout.map(|t| t.as_secs_f64()).unwrap_or_default();
            return Err(TrialFailure::new(format!(
                "timed out after {secs} s; the process group was killed{err_quote}"
            )));
        }
        let status = status
            .map_err(|e| TrialFailure::new(format!("waiting for the program failed: {e}")))?;
        if let Some(sig) = status.signal() {
            return Err(TrialFailure::new(format!(
                "killed by signal {sig} ({}){err_quote}",
                signal_name(sig)
            )));
        }
        if !status.success() {
            return Err(TrialFailure::new(format!(
                "exited with status {}{err_quote}",
                status.code().unwrap_or(-1)
            )));
        }
        let v: serde_json::Value = match self.result {
            ResultSource::Stdout => match last_json {
                Some(v) => v,
                None => {
                    let bad = last_bad_json
                        .map(|b| format!(" ({})", b.describe()))
                        .unwrap_or_default();
                    return Err(TrialFailure::new(format!(
                        "the program printed no JSON object line on stdout (expected e.g. {{\"loss\": 0.5}}){bad}{}{err_quote}",
                        quote_tail("stdout", &out_tail)
                    )));
                }
            },
            ResultSource::File => {
                let text = read_result_file(&result_file).map_err(|e| {
                    TrialFailure::new(format!(
                        "cannot read the result file {}: {e}{err_quote}",
                        result_file.display()
                    ))
                })?;
                if trial_dir.is_none() {
                    let _ = std::fs::remove_file(&result_file);
                }
                parse_json_line(text.trim()).ok_or_else(|| {
                    TrialFailure::new(format!(
                        "the result file does not hold a JSON object of metrics: {}",
                        keep_start(text.trim(), QUOTE_LINE_MAX)
                    ))
                })?
            }
        };
        let metrics = metrics_from_json(&v);
        if metrics.is_empty() {
            return Err(TrialFailure::new(format!(
                "the result holds no numeric metric: {}",
                keep_start(&v.to_string(), QUOTE_LINE_MAX)
            )));
        }
        Ok(Evaluation {
            metrics,
            cost: None,
            attrs: Default::default(),
        })
    }
}

impl Estimator for External {
    fn evaluate(
        &self,
        ctx: &EvalContext<'_>,
        params: &Assignment,
    ) -> Result<Evaluation, TrialFailure> {
        self.run_trial(ctx, params).map_err(|mut f| {
            f.reason = cap_reason(std::mem::take(&mut f.reason));
            f
        })
    }
}

/// The step lines of a running program, passed on to the trial's reporter.
#[derive(Default)]
struct StepReports {
    /// The metrics of the last step reported.
    last: Option<modnas_core::objective::Metrics>,
    /// The reporter answered "prune".
    pruned: bool,
}

impl StepReports {
    /// Reports `lines`; `true` when this call first learns that the trial is pruned.
    fn forward(&mut self, ctx: &EvalContext<'_>, lines: Vec<(u64, serde_json::Value)>) -> bool {
        let was = self.pruned;
        for (step, v) in lines {
            if self.pruned {
                break;
            }
            let m = metrics_from_json(&v);
            if ctx.reporter.report(step, &m) == modnas_core::estimator::Decision::Prune {
                self.pruned = true;
            }
            self.last = Some(m);
        }
        self.pruned && !was
    }
}

/// The text of a result file, refusing one larger than a metrics line may be.
fn read_result_file(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(JSON_LINE_MAX as u64 + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() > JSON_LINE_MAX {
        return Err(std::io::Error::other(format!(
            "it is larger than {JSON_LINE_MAX} bytes"
        )));
    }
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Registers `External`.
pub fn register(reg: &mut EstimRegistry) -> Result<(), RegistryError> {
    reg.add::<ExternalArgs>(
        "External",
        &["ExternalProgram", "Program", "Command"],
        "Runs a program per trial with parameters in its arguments; reads a JSON line of metrics (docs/external-programs.md).",
        |a, ctx: &EstimContext| {
            let space = ctx.space.as_ref().ok_or_else(|| {
                ConfigError::new("the External estimator needs a `space:` section defining the parameters it receives")
                    .with_hint("for example `space: {x: {low: -5.0, high: 5.0}}` and `command: [python3, f.py, --x, \"{x}\"]`")
            })?;
            Ok(Box::new(External::new(a, space, &ctx.base_dir)?))
        },
    )
}

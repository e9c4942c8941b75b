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

use modnas_core::config::{ConfigError, Seconds};
use modnas_core::estimator::{EstimContext, EstimRegistry, Estimator, EvalContext};
use modnas_core::objective::Metrics;
use modnas_core::param::{Assignment, ParamSpace};
use modnas_core::registry::{Args, RegistryError};
use modnas_core::trial::{Evaluation, TrialFailure};
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeSet;
use std::collections::{BTreeMap, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// A command line: a list of arguments, or one string split at spaces (with `'…'` / `"…"`
/// quoting, but no shell).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Argv(pub Vec<String>);

impl<'de> Deserialize<'de> for Argv {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Argv;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a command: a list of arguments or a string")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Argv, E> {
                split_command(v).map(Argv).map_err(E::custom)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Argv, A::Error> {
                let mut out = Vec::new();
                while let Some(s) = seq.next_element::<ArgItem>()? {
                    out.push(s.0);
                }
                Ok(Argv(out))
            }
        }
        d.deserialize_any(V)
    }
}

/// One argument: a string, or a number written without quotes.
struct ArgItem(String);

impl<'de> Deserialize<'de> for ArgItem {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = ArgItem;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a command-line argument")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<ArgItem, E> {
                Ok(ArgItem(v.to_string()))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<ArgItem, E> {
                Ok(ArgItem(v.to_string()))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<ArgItem, E> {
                Ok(ArgItem(v.to_string()))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<ArgItem, E> {
                Ok(ArgItem(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

/// Splits a command string at unquoted whitespace; `'…'` and `"…"` group, `\` escapes in double
/// quotes and outside quotes.
pub fn split_command(s: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(x) => cur.push(x),
                        None => return Err(format!("unterminated single quote in `{s}`")),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(x) => cur.push(x),
                            None => return Err(format!("trailing backslash in `{s}`")),
                        },
                        Some(x) => cur.push(x),
                        None => return Err(format!("unterminated double quote in `{s}`")),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some(x) => cur.push(x),
                    None => return Err(format!("trailing backslash in `{s}`")),
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        out.push(cur);
    }
    Ok(out)
}

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
        ]
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Piece {
    Lit(String),
    Param(usize),
    Trial,
    Seed,
    TrialDir,
    RunDir,
}

#[derive(Clone, Debug)]
struct Template(Vec<Piece>);

impl Template {
    fn parse(s: &str, space: &ParamSpace) -> Result<Template, String> {
        let mut pieces = Vec::new();
        let mut lit = String::new();
        let mut chars = s.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '{' if chars.peek() == Some(&'{') => {
                    chars.next();
                    lit.push('{');
                }
                '}' if chars.peek() == Some(&'}') => {
                    chars.next();
                    lit.push('}');
                }
                '{' => {
                    let mut name = String::new();
                    loop {
                        match chars.next() {
                            Some('}') => break,
                            Some(x) => name.push(x),
                            None => {
                                return Err(format!(
                                    "unclosed `{{` in `{s}` (write `{{{{` for a literal brace)"
                                ));
                            }
                        }
                    }
                    if !lit.is_empty() {
                        pieces.push(Piece::Lit(std::mem::take(&mut lit)));
                    }
                    let name = name.trim();
                    pieces.push(match name {
                        "trial" => Piece::Trial,
                        "seed" => Piece::Seed,
                        "trial_dir" => Piece::TrialDir,
                        "run_dir" => Piece::RunDir,
                        _ => match space.position(name) {
                            Some(i) => Piece::Param(i),
                            None => {
                                let mut valid: Vec<&str> =
                                    space.params().iter().map(|p| p.name.as_str()).collect();
                                valid.extend(["trial", "seed", "trial_dir", "run_dir"]);
                                return Err(format!(
                                    "unknown placeholder `{{{name}}}` in `{s}`; {}",
                                    modnas_core::config::choices_hint(name, &valid)
                                        .replace("valid choices", "valid placeholders")
                                ));
                            }
                        },
                    });
                }
                '}' => {
                    return Err(format!(
                        "unmatched `}}` in `{s}` (write `}}}}` for a literal brace)"
                    ));
                }
                c => lit.push(c),
            }
        }
        if !lit.is_empty() || pieces.is_empty() {
            pieces.push(Piece::Lit(lit));
        }
        Ok(Template(pieces))
    }

    fn render(
        &self,
        space: &ParamSpace,
        a: &Assignment,
        trial: u64,
        seed: u64,
        trial_dir: &str,
        run_dir: &str,
    ) -> String {
        let mut out = String::new();
        for p in &self.0 {
            match p {
                Piece::Lit(s) => out.push_str(s),
                Piece::Param(i) => {
                    if let (Some(param), Some(v)) = (space.params().get(*i), a.get(*i)) {
                        out.push_str(&param.domain.render(v).to_string());
                    }
                }
                Piece::Trial => out.push_str(&trial.to_string()),
                Piece::Seed => out.push_str(&seed.to_string()),
                Piece::TrialDir => out.push_str(trial_dir),
                Piece::RunDir => out.push_str(run_dir),
            }
        }
        out
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
        })
    }
}

/// What a drained stream held: its last lines and its last JSON-object line.
#[derive(Default, Clone)]
struct Drained {
    tail: VecDeque<String>,
    last_json: Option<serde_json::Value>,
    last_bad_json: Option<String>,
    done: bool,
}

type SharedDrain = Arc<(Mutex<Drained>, Condvar)>;

/// Parses a JSON object line; Python's `NaN`, `Infinity` and `-Infinity` (what `json.dumps`
/// writes for a diverged loss) are accepted and become non-finite metrics.
pub fn parse_json_line(t: &str) -> Option<serde_json::Value> {
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(t) {
        return v.is_object().then_some(v);
    }
    // Quote the bare non-finite tokens outside strings, then parse again.
    let mut out = String::with_capacity(t.len() + 16);
    let mut in_str = false;
    let mut escaped = false;
    let mut i = 0;
    let b = t.as_bytes();
    while i < b.len() {
        let c = b[i] as char;
        if in_str {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_str = false;
            }
            i += 1;
            continue;
        }
        let rest = &t[i..];
        let token = ["-Infinity", "Infinity", "NaN"]
            .into_iter()
            .find(|k| rest.starts_with(k));
        match token {
            Some(k) => {
                out.push('"');
                out.push_str(k);
                out.push('"');
                i += k.len();
            }
            None => {
                if c == '"' {
                    in_str = true;
                }
                out.push(c);
                i += c.len_utf8();
            }
        }
    }
    serde_json::from_str::<serde_json::Value>(&out)
        .ok()
        .filter(|v| v.is_object())
}

/// Keeps the last lines of a stream and, optionally, copies everything to a file.
fn drain<R: Read + Send + 'static>(r: R, keep: usize, log: Option<PathBuf>) -> SharedDrain {
    let shared: SharedDrain = Arc::new((Mutex::new(Drained::default()), Condvar::new()));
    let s = shared.clone();
    std::thread::spawn(move || {
        let mut file = log
            .and_then(|p| std::fs::File::create(p).ok())
            .map(std::io::BufWriter::new);
        let mut reader = BufReader::new(r);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match reader.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            if let Some(f) = file.as_mut() {
                let _ = f.write_all(&buf);
            }
            let line = String::from_utf8_lossy(&buf)
                .trim_end_matches(['\n', '\r'])
                .to_string();
            let t = line.trim();
            let mut d = s.0.lock().unwrap_or_else(|p| p.into_inner());
            if t.starts_with('{') && t.ends_with('}') {
                match parse_json_line(t) {
                    Some(v) => d.last_json = Some(v),
                    None => d.last_bad_json = Some(t.to_string()),
                }
            }
            d.tail.push_back(line);
            if d.tail.len() > keep.max(1) {
                d.tail.pop_front();
            }
        }
        if let Some(f) = file.as_mut() {
            let _ = f.flush();
        }
        let mut d = s.0.lock().unwrap_or_else(|p| p.into_inner());
        d.done = true;
        s.1.notify_all();
    });
    shared
}

/// What the stream held, waiting until it ends or `deadline` passes (a process that escaped the
/// process group may keep the pipe open forever).
fn collect(s: &SharedDrain, deadline: Instant) -> Drained {
    let mut d = s.0.lock().unwrap_or_else(|p| p.into_inner());
    while !d.done {
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        d = match s.1.wait_timeout(d, deadline - now) {
            Ok((g, _)) => g,
            Err(p) => p.into_inner().0,
        };
    }
    d.clone()
}

/// Process groups of the programs running now, so a forced exit can stop them.
static RUNNING: Mutex<BTreeSet<i32>> = Mutex::new(BTreeSet::new());

/// Kills every program started by the External estimator that is still running (for a forced
/// exit on a second Ctrl-C).
pub fn kill_running_programs() {
    if let Ok(set) = RUNNING.lock() {
        for &pgid in set.iter() {
            // SAFETY: signals the process groups of our own children.
            unsafe {
                libc::kill(-pgid, libc::SIGKILL);
            }
        }
    }
}

fn signal_name(sig: i32) -> &'static str {
    match sig {
        libc::SIGKILL => "SIGKILL",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGABRT => "SIGABRT",
        libc::SIGTERM => "SIGTERM",
        libc::SIGINT => "SIGINT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGILL => "SIGILL",
        libc::SIGPIPE => "SIGPIPE",
        _ => "a signal",
    }
}

/// Numeric entries of a JSON object, nested objects flattened with dots.
pub fn metrics_from_json(v: &serde_json::Value) -> Metrics {
    fn walk(prefix: &str, v: &serde_json::Value, out: &mut Metrics) {
        match v {
            serde_json::Value::Number(n) => {
                if let Some(x) = n.as_f64() {
                    out.insert(prefix.to_string(), x);
                }
            }
            serde_json::Value::String(t)
                if matches!(t.as_str(), "NaN" | "Infinity" | "-Infinity") =>
            {
                let x = match t.as_str() {
                    "NaN" => f64::NAN,
                    "Infinity" => f64::INFINITY,
                    _ => f64::NEG_INFINITY,
                };
                out.insert(prefix.to_string(), x);
            }
            serde_json::Value::Object(m) => {
                for (k, x) in m {
                    let key = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    walk(&key, x, out);
                }
            }
            _ => {}
        }
    }
    let mut out = Metrics::new();
    walk("", v, &mut out);
    out
}

fn quote_tail(title: &str, tail: &VecDeque<String>) -> String {
    let lines: Vec<&String> = tail.iter().filter(|l| !l.trim().is_empty()).collect();
    if lines.is_empty() {
        return String::new();
    }
    let mut s = format!("\n--- last lines of {title} ---");
    for l in lines {
        s.push('\n');
        s.push_str(l);
    }
    s
}

fn kill_group(pid: u32) {
    // SAFETY: kill(2) with a negative pid signals the process group we created for the child.
    unsafe {
        libc::kill(-(pid as i32), libc::SIGKILL);
    }
}

impl Estimator for External {
    fn evaluate(
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
            return Err(TrialFailure::new(format!(
                "cannot create {}: {e}",
                d.display()
            )));
        }
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
            .env("MODNAS_TRIAL_DIR", &td);
        for (k, t) in &self.env {
            cmd.env(
                k,
                t.render(ctx.space, params, ctx.trial, ctx.seed, &td, &rd),
            );
        }
        if let Some(c) = &self.cwd {
            cmd.current_dir(c);
        }
        // If modnas itself is killed, the program goes too (its own children are killed with its
        // process group on timeout and on interruption).
        // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        // If modnas itself is killed, the program goes too (its own children are killed with its
        // process group on timeout and on interruption).
        // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
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
        if let Ok(mut set) = RUNNING.lock() {
            set.insert(pid as i32);
        }
        let logs = self.keep_logs.then_some(()).and(trial_dir.as_ref());
        let out_h = child.stdout.take().map(|s| {
            drain(
                s,
                self.tail_lines.max(5),
                logs.map(|d| d.join("stdout.log")),
            )
        });
        let err_h = child
            .stderr
            .take()
            .map(|s| drain(s, self.tail_lines, logs.map(|d| d.join("stderr.log"))));
        let (tx, rx) = mpsc::channel();
        let waiter = std::thread::spawn(move || {
            let _ = tx.send(child.wait());
        });
        let start = Instant::now();
        let mut timed_out = false;
        let mut cancelled = false;
        let status = loop {
            match rx.recv_timeout(Duration::from_millis(50)) {
                Ok(s) => break s,
                Err(mpsc::RecvTimeoutError::Timeout) => {
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
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    break Err(std::io::Error::other("lost the child process"));
                }
            }
        };
        // Whatever it left behind in its process group goes too.
        kill_group(pid);
        let _ = waiter.join();
        if let Ok(mut set) = RUNNING.lock() {
            set.remove(&(pid as i32));
        }
        let deadline = Instant::now() + Duration::from_secs(2);
        let out = out_h.map(|h| collect(&h, deadline)).unwrap_or_default();
        let err = err_h.map(|h| collect(&h, deadline)).unwrap_or_default();
        let (out_tail, last_json, last_bad_json, err_tail) =
            (out.tail, out.last_json, out.last_bad_json, err.tail);
        if cancelled {
            return Err(TrialFailure::cancelled());
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
                        .map(|b| {
                            format!(" (the last line that looks like one is not valid JSON: {b})")
                        })
                        .unwrap_or_default();
                    return Err(TrialFailure::new(format!(
                        "the program printed no JSON object line on stdout (expected e.g. {{\"loss\": 0.5}}){bad}{}{err_quote}",
                        quote_tail("stdout", &out_tail)
                    )));
                }
            },
            ResultSource::File => {
                let text = std::fs::read_to_string(&result_file).map_err(|e| {
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
                        text.trim()
                    ))
                })?
            }
        };
        let metrics = metrics_from_json(&v);
        if metrics.is_empty() {
            return Err(TrialFailure::new(format!(
                "the result holds no numeric metric: {v}"
            )));
        }
        Ok(Evaluation {
            metrics,
            cost: None,
            attrs: Default::default(),
        })
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use modnas_core::param::{Domain, Value};

    #[test]
    fn splitting() {
        assert_eq!(
            split_command("python3 f.py --x {x}").unwrap(),
            ["python3", "f.py", "--x", "{x}"]
        );
        assert_eq!(
            split_command("a 'b c' \"d \\\"e\" f\\ g").unwrap(),
            ["a", "b c", "d \"e", "f g"]
        );
        assert!(split_command("a 'b").is_err());
    }

    #[test]
    fn templates() {
        let mut s = ParamSpace::new();
        s.add(
            "x",
            Domain::Float {
                low: 0.0,
                high: 1.0,
                log: false,
            },
        )
        .unwrap();
        s.add(
            "act",
            Domain::Categorical {
                choices: vec![Value::from("relu"), Value::from("gelu")],
            },
        )
        .unwrap();
        let a = Assignment(vec![
            modnas_core::ParamValue::Float(0.25),
            modnas_core::ParamValue::Choice(1),
        ]);
        let t = Template::parse("--x={x};{act};{{lit}};{trial}", &s).unwrap();
        assert_eq!(t.render(&s, &a, 7, 9, "", ""), "--x=0.25;gelu;{lit};7");
        let e = Template::parse("{actt}", &s).unwrap_err();
        assert!(e.contains("did you mean `act`"), "{e}");
        assert!(Template::parse("{x", &s).is_err());
        assert!(Template::parse("x}", &s).is_err());
    }

    #[test]
    fn flattening() {
        let m =
            metrics_from_json(&serde_json::json!({"loss": 1.5, "val": {"acc": 0.9}, "name": "x"}));
        assert_eq!(m.len(), 2);
        assert_eq!(m["val.acc"], 0.9);
    }
}

//! Log output: to stderr (without tearing the progress bar) and to the run's log file.

use indicatif::ProgressBar;
use std::fs::File;
use std::io::{IsTerminal, Write};
use std::path::Path;
use std::sync::Mutex;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

static LOG_FILE: Mutex<Option<File>> = Mutex::new(None);
static BAR: Mutex<Option<ProgressBar>> = Mutex::new(None);

struct Stderr;

impl Write for Stderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let bar = BAR.lock().ok().and_then(|b| b.clone());
        match bar {
            Some(b) => b
                .suspend(|| std::io::stderr().write_all(buf))
                .map(|_| buf.len()),
            None => std::io::stderr().write_all(buf).map(|_| buf.len()),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

struct LogFile;

impl Write for LogFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut g) = LOG_FILE.lock()
            && let Some(f) = g.as_mut()
        {
            f.write_all(buf)?;
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        if let Ok(mut g) = LOG_FILE.lock()
            && let Some(f) = g.as_mut()
        {
            f.flush()?;
        }
        Ok(())
    }
}

struct MakeStderr;
impl<'a> MakeWriter<'a> for MakeStderr {
    type Writer = Stderr;
    fn make_writer(&'a self) -> Stderr {
        Stderr
    }
}

struct MakeLogFile;
impl<'a> MakeWriter<'a> for MakeLogFile {
    type Writer = LogFile;
    fn make_writer(&'a self) -> LogFile {
        LogFile
    }
}

/// Starts logging; `verbosity` 0 is `info`, negative is quieter, positive more verbose.
/// `RUST_LOG` overrides the level on stderr.
pub fn init(verbosity: i8) {
    let level = match verbosity {
        i8::MIN..=-1 => "warn",
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let stderr_layer = tracing_subscriber::fmt::layer()
        .with_writer(MakeStderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .without_time()
        .with_filter(filter);
    let file_layer = tracing_subscriber::fmt::layer()
        .with_writer(MakeLogFile)
        .with_ansi(false)
        .with_target(false)
        .with_filter(EnvFilter::new("debug"));
    let _ = tracing_subscriber::registry()
        .with(stderr_layer)
        .with(file_layer)
        .try_init();
}

/// Also writes the log to `path` (appending).
pub fn set_log_file(path: &Path) {
    if let Ok(f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        && let Ok(mut g) = LOG_FILE.lock()
    {
        *g = Some(f);
    }
}

/// Routes stderr logs around `bar` while it is shown.
pub fn set_bar(bar: Option<ProgressBar>) {
    if let Ok(mut g) = BAR.lock() {
        *g = bar;
    }
}

//! Reading a program's stdout and stderr.

use super::json::parse_json_line;
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

/// What a drained stream held: its last lines and its last JSON-object line.
#[derive(Default, Clone)]
pub(super) struct Drained {
    pub(super) tail: VecDeque<String>,
    pub(super) last_json: Option<serde_json::Value>,
    pub(super) last_bad_json: Option<String>,
    pub(super) done: bool,
    /// Reading stopped on an internal failure: what was read may be incomplete.
    pub(super) broken: bool,
}

pub(super) type SharedDrain = Arc<(Mutex<Drained>, Condvar)>;

/// Keeps the last lines of a stream and, optionally, copies everything to a file.
pub(super) fn drain<R: Read + Send + 'static>(
    r: R,
    keep: usize,
    log: Option<PathBuf>,
) -> SharedDrain {
    let shared: SharedDrain = Arc::new((Mutex::new(Drained::default()), Condvar::new()));
    let s = shared.clone();
    std::thread::spawn(move || {
        // Whatever happens while reading, `done` is set so that nobody waits for this stream.
        let read = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            read_lines(r, keep, log, &s)
        }));
        let mut d = s.0.lock().unwrap_or_else(|p| p.into_inner());
        d.broken |= read.is_err();
        d.done = true;
        s.1.notify_all();
    });
    shared
}

/// Reads `r` to its end line by line.
fn read_lines<R: Read>(r: R, keep: usize, log: Option<PathBuf>, s: &SharedDrain) {
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
}

/// What the stream held, waiting until it ends or `deadline` passes (a process that escaped the
/// process group may keep the pipe open forever).
pub(super) fn collect(s: &SharedDrain, deadline: Instant) -> Drained {
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

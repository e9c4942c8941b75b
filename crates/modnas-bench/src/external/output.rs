//! Reading a program's stdout and stderr in bounded memory.
//!
//! Output is read in chunks and split into lines; whatever a program writes (no newlines at all,
//! NUL bytes, gigabytes of progress bars), modnas keeps at most [`LINE_KEEP`] bytes of each line
//! for failure reasons and at most [`JSON_LINE_MAX`] bytes of a line that may be the metrics line.
//! A line is what a terminal would show: after a `\r` (a progress bar redrawing itself), only the
//! text written after it counts.

use super::json::parse_metrics_object;
use super::reason::keep_start;
use std::collections::VecDeque;
use std::io::{ErrorKind, Read, Write};
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

/// How much of the end of each line is kept for failure reasons.
pub(super) const LINE_KEEP: usize = 1024;
/// The longest line read as a metrics line; a longer line that looks like a JSON object fails
/// the trial ("output line too long").
pub(super) const JSON_LINE_MAX: usize = 1 << 20;
/// Bytes read at once.
const CHUNK: usize = 64 * 1024;

/// The start of the current line, as far as it may be a JSON object.
#[derive(Debug, Default)]
enum Head {
    /// Nothing but whitespace yet.
    #[default]
    Blank,
    /// Starts with `{`: the bytes so far (at most `JSON_LINE_MAX`).
    Object(Vec<u8>),
    /// Starts with `{` but is longer than `JSON_LINE_MAX`.
    TooLong,
    /// Starts with something else.
    Other,
}

/// What a finished line may be as a metrics line.
#[derive(Debug, PartialEq)]
pub(super) enum Candidate {
    /// Not a JSON-object line.
    None,
    /// A line starting with `{` and ending with `}`.
    Object(String),
    /// Such a line, longer than `JSON_LINE_MAX` bytes (its length).
    TooLong(u64),
}

/// One line of output.
#[derive(Debug)]
pub(super) struct Line {
    /// The end of the line (at most about `LINE_KEEP` bytes), trimmed; `…` in front when cut.
    pub text: String,
    /// What it may be as a metrics line.
    pub candidate: Candidate,
}

/// Splits a byte stream into lines, keeping a bounded part of each.
#[derive(Debug, Default)]
pub(super) struct Lines {
    /// The end of the current line: at most `2 * LINE_KEEP` bytes.
    tail: Vec<u8>,
    head: Head,
    /// Bytes in the current line.
    len: u64,
    /// The last byte was a `\r`: text that follows starts the line over.
    after_cr: bool,
}

impl Lines {
    /// Feeds `bytes`, calling `line` for each line they complete.
    pub fn feed(&mut self, mut bytes: &[u8], line: &mut impl FnMut(Line)) {
        while !bytes.is_empty() {
            match bytes.iter().position(|&b| b == b'\n' || b == b'\r') {
                None => {
                    self.push(bytes);
                    return;
                }
                Some(i) => {
                    self.push(&bytes[..i]);
                    if bytes[i] == b'\n' {
                        line(self.take());
                    } else {
                        self.after_cr = true;
                    }
                    bytes = &bytes[i + 1..];
                }
            }
        }
    }

    /// Ends the stream: the last line, if it did not end with a newline.
    pub fn finish(&mut self) -> Option<Line> {
        (self.len > 0).then(|| self.take())
    }

    fn push(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        if self.after_cr {
            self.reset();
        }
        self.len += bytes.len() as u64;
        if bytes.len() >= LINE_KEEP {
            self.tail.clear();
            self.tail
                .extend_from_slice(&bytes[bytes.len() - LINE_KEEP..]);
        } else {
            self.tail.extend_from_slice(bytes);
            if self.tail.len() > 2 * LINE_KEEP {
                let cut = self.tail.len() - LINE_KEEP;
                self.tail.drain(..cut);
            }
        }
        let mut rest = bytes;
        if matches!(self.head, Head::Blank) {
            match rest.iter().position(|b| !b.is_ascii_whitespace()) {
                None => return,
                Some(i) => {
                    rest = &rest[i..];
                    self.head = if rest[0] == b'{' {
                        Head::Object(Vec::new())
                    } else {
                        Head::Other
                    };
                }
            }
        }
        if let Head::Object(v) = &mut self.head {
            if v.len() + rest.len() > JSON_LINE_MAX {
                self.head = Head::TooLong;
            } else {
                v.extend_from_slice(rest);
            }
        }
    }

    fn reset(&mut self) {
        self.tail.clear();
        self.head = Head::Blank;
        self.len = 0;
        self.after_cr = false;
    }

    fn take(&mut self) -> Line {
        let mut kept: &[u8] = &self.tail;
        if kept.len() > LINE_KEEP {
            kept = &kept[kept.len() - LINE_KEEP..];
        }
        let cut = self.len > kept.len() as u64;
        if cut {
            // Start at a character, not inside one.
            let skip = kept
                .iter()
                .take(3)
                .take_while(|&&b| b & 0xC0 == 0x80)
                .count();
            kept = &kept[skip..];
        }
        let body = String::from_utf8_lossy(kept);
        let body = body.trim();
        let text = if cut && !body.is_empty() {
            format!("…{body}")
        } else {
            body.to_string()
        };
        let ends_object = body.ends_with('}');
        let candidate = match std::mem::take(&mut self.head) {
            Head::Object(v) if ends_object => {
                Candidate::Object(String::from_utf8_lossy(&v).trim_end().to_string())
            }
            Head::TooLong if ends_object => Candidate::TooLong(self.len),
            _ => Candidate::None,
        };
        self.reset();
        Line { text, candidate }
    }
}

/// The last JSON-looking line that could not be used.
#[derive(Clone, Debug)]
pub(super) enum BadLine {
    /// It did not parse: why, and its start.
    Invalid { error: String, start: String },
    /// It was longer than `JSON_LINE_MAX` (its length in bytes).
    TooLong(u64),
}

impl BadLine {
    /// Why the line could not be used, for a failure reason.
    pub fn describe(&self) -> String {
        match self {
            BadLine::Invalid { error, start } if error.contains("number out of range") => format!(
                "the last line that looks like one holds a number out of range for a 64-bit float ({error}): {start}"
            ),
            BadLine::Invalid { error, start } => {
                format!("the last line that looks like one is not valid JSON ({error}): {start}")
            }
            BadLine::TooLong(n) => format!(
                "output line too long: the last line that looks like one has {n} bytes, more than the {JSON_LINE_MAX} bytes read as a metrics line"
            ),
        }
    }
}

/// What a drained stream held: its last lines and its last JSON-object line.
#[derive(Default, Clone)]
pub(super) struct Drained {
    /// The last lines (their ends).
    pub tail: VecDeque<String>,
    /// The last line that parsed as a JSON object (a step line included).
    pub last_json: Option<serde_json::Value>,
    /// The last JSON-object line without a `step`: the result, when there is one.
    pub last_result: Option<serde_json::Value>,
    /// Step lines read and not yet taken ([`take_steps`]): the step and the line's other fields.
    pub steps: Vec<(u64, serde_json::Value)>,
    /// The last JSON-looking line that did not.
    pub last_bad_json: Option<BadLine>,
    /// Reading ended (end of stream, an error, or an internal failure).
    pub done: bool,
    /// Reading stopped on an internal failure: the metrics may be incomplete.
    pub broken: bool,
}

pub(super) type SharedDrain = Arc<(Mutex<Drained>, Condvar)>;

/// Where a stream is copied, and how much of it.
pub(super) struct Log {
    /// The file.
    pub path: PathBuf,
    /// Stop copying after this many bytes (a note marks the cut).
    pub max_bytes: Option<u64>,
}

/// Copies a stream to its log file, up to the limit.
struct LogWriter {
    file: std::io::BufWriter<std::fs::File>,
    written: u64,
    max: Option<u64>,
    full: bool,
}

impl LogWriter {
    fn open(log: Log) -> Option<LogWriter> {
        let f = std::fs::File::create(&log.path).ok()?;
        Some(LogWriter {
            file: std::io::BufWriter::new(f),
            written: 0,
            max: log.max_bytes,
            full: false,
        })
    }

    fn write(&mut self, bytes: &[u8]) {
        if self.full {
            return;
        }
        let room = self.max.map_or(bytes.len(), |m| {
            m.saturating_sub(self.written).min(bytes.len() as u64) as usize
        });
        let ok = self.file.write_all(&bytes[..room]).is_ok();
        self.written += room as u64;
        if !ok {
            self.full = true;
        } else if room < bytes.len() {
            let _ = write!(
                self.file,
                "\n[modnas: log truncated after {} bytes (max_log_bytes); the rest was read but not kept]\n",
                self.written
            );
            self.full = true;
        }
    }
}

impl Drop for LogWriter {
    fn drop(&mut self) {
        let _ = self.file.flush();
    }
}

/// Reads `r` to its end in a thread, keeping its last `keep` lines and its last JSON-object
/// line, and copying it to `log`.
pub(super) fn drain<R: Read + Send + 'static>(r: R, keep: usize, log: Option<Log>) -> SharedDrain {
    let shared: SharedDrain = Arc::new((Mutex::new(Drained::default()), Condvar::new()));
    let s = shared.clone();
    std::thread::spawn(move || {
        let read = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            read_stream(r, keep, log, &s)
        }));
        let mut d = s.0.lock().unwrap_or_else(|p| p.into_inner());
        d.broken |= read.is_err();
        d.done = true;
        s.1.notify_all();
    });
    shared
}

fn read_stream<R: Read>(mut r: R, keep: usize, log: Option<Log>, s: &SharedDrain) {
    let mut file = log.and_then(LogWriter::open);
    let mut lines = Lines::default();
    let mut buf = vec![0u8; CHUNK];
    let keep = keep.max(1);
    let mut record = |line: Line| {
        let mut d = s.0.lock().unwrap_or_else(|p| p.into_inner());
        match line.candidate {
            Candidate::None => {}
            Candidate::Object(t) => match parse_metrics_object(&t) {
                Ok(v) => {
                    match step_of(&v) {
                        Some(step) => {
                            let mut rest = v.clone();
                            if let Some(m) = rest.as_object_mut() {
                                m.remove("step");
                            }
                            d.steps.push((step, rest));
                        }
                        None => d.last_result = Some(v.clone()),
                    }
                    d.last_json = Some(v);
                }
                Err(error) => {
                    d.last_bad_json = Some(BadLine::Invalid {
                        error: keep_start(&error, 200),
                        start: keep_start(&t, LINE_KEEP),
                    })
                }
            },
            Candidate::TooLong(n) => d.last_bad_json = Some(BadLine::TooLong(n)),
        }
        d.tail.push_back(line.text);
        while d.tail.len() > keep {
            d.tail.pop_front();
        }
    };
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        if let Some(f) = file.as_mut() {
            f.write(&buf[..n]);
        }
        lines.feed(&buf[..n], &mut record);
    }
    if let Some(l) = lines.finish() {
        record(l);
    }
}

/// The step of a step line: a `step` field holding a whole number ≥ 0 (`3` or `3.0`); a line
/// whose `step` is anything else is an ordinary line.
pub(super) fn step_of(v: &serde_json::Value) -> Option<u64> {
    let s = v.get("step")?;
    if let Some(n) = s.as_u64() {
        return Some(n);
    }
    let f = s.as_f64()?;
    (f >= 0.0 && f.fract() == 0.0 && f < u64::MAX as f64).then_some(f as u64)
}

/// The step lines read since the last call.
pub(super) fn take_steps(s: &SharedDrain) -> Vec<(u64, serde_json::Value)> {
    let mut d = s.0.lock().unwrap_or_else(|p| p.into_inner());
    std::mem::take(&mut d.steps)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn split(chunks: &[&[u8]]) -> Vec<Line> {
        let mut l = Lines::default();
        let mut out = Vec::new();
        for c in chunks {
            l.feed(c, &mut |x| out.push(x));
        }
        out.extend(l.finish());
        out
    }

    #[test]
    fn lines_split_across_chunks_and_carriage_returns() {
        let out = split(&[
            b"a\nb",
            b"c\r\n",
            b"10%\r20%\r",
            b"30% done\r\n\r\n",
            b"tail",
        ]);
        let t: Vec<&str> = out.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(t, ["a", "bc", "30% done", "", "tail"]);
    }

    #[test]
    fn json_candidates_after_a_progress_bar() {
        let out = split(&[b"step 3\r{\"loss\": 1}\n", b"  {\"a\": 2}  \n{x\n"]);
        assert_eq!(out[0].candidate, Candidate::Object("{\"loss\": 1}".into()));
        assert_eq!(out[1].candidate, Candidate::Object("{\"a\": 2}".into()));
        assert_eq!(out[2].candidate, Candidate::None);
    }

    #[test]
    fn step_lines_are_queued_and_the_result_is_the_last_other_line() {
        let text = b"{\"step\": 1, \"loss\": 0.9}\nprogress\n{\"step\": 2.0, \"loss\": 0.5}\n{\"step\": \"x\", \"loss\": 0.4}\n{\"step\": 3, \"loss\": 0.3}\n";
        let shared = drain(&text[..], 5, None);
        let far = Instant::now() + std::time::Duration::from_secs(60);
        let d = collect(&shared, far);
        let steps: Vec<(u64, String)> = take_steps(&shared)
            .into_iter()
            .map(|(k, v)| (k, v.to_string()))
            .collect();
        assert_eq!(
            steps,
            vec![
                (1, "{\"loss\":0.9}".to_string()),
                (2, "{\"loss\":0.5}".to_string()),
                (3, "{\"loss\":0.3}".to_string())
            ]
        );
        assert!(take_steps(&shared).is_empty());
        // A `step` that is not a whole number makes an ordinary line.
        assert_eq!(d.last_result.unwrap()["loss"], 0.4);
        assert_eq!(d.last_json.unwrap()["step"], 3);
        assert_eq!(step_of(&serde_json::json!({"step": -1})), None);
        assert_eq!(step_of(&serde_json::json!({"step": 2.5})), None);
    }

    #[test]
    fn a_huge_line_keeps_only_its_end() {
        let mut l = Lines::default();
        let chunk = vec![b'x'; CHUNK];
        for _ in 0..100 {
            l.feed(&chunk, &mut |_| panic!("no newline was fed"));
        }
        assert!(l.tail.len() <= 2 * LINE_KEEP);
        assert!(matches!(l.head, Head::Other));
        l.feed("é→end\n".as_bytes(), &mut |x| {
            assert!(x.text.starts_with('…'));
            assert!(x.text.ends_with("é→end"));
            assert!(x.text.len() <= LINE_KEEP + 3);
        });
    }

    #[test]
    fn an_object_line_over_the_limit_is_too_long() {
        let mut body = b"{\"pad\": \"".to_vec();
        body.extend(vec![b'x'; JSON_LINE_MAX]);
        body.extend(b"\"}\n");
        let out = split(&[&body]);
        assert_eq!(out[0].candidate, Candidate::TooLong(body.len() as u64 - 1));
    }

    #[test]
    fn a_number_out_of_range_is_described_as_such() {
        let error = parse_metrics_object("{\"loss\": 1e400}").unwrap_err();
        let d = BadLine::Invalid {
            error,
            start: "{\"loss\": 1e400}".into(),
        }
        .describe();
        assert!(d.contains("number out of range"), "{d}");
        assert!(!d.contains("not valid JSON"), "{d}");
    }

    /// A reader that fails inside the reading thread.
    struct Exploding(bool);

    impl Read for Exploding {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if std::mem::replace(&mut self.0, true) {
                panic!("a failure while reading");
            }
            let line = b"{\"loss\": 1.0}\n";
            buf[..line.len()].copy_from_slice(line);
            Ok(line.len())
        }
    }

    #[test]
    fn a_failure_inside_the_reader_still_ends_the_stream_and_is_reported() {
        let shared = drain(Exploding(false), 5, None);
        // A far deadline: the stream must be marked done, not abandoned.
        let far = Instant::now() + std::time::Duration::from_secs(60);
        let d = collect(&shared, far);
        assert!(d.done);
        assert!(d.broken);
    }

    #[test]
    fn a_cut_never_splits_a_character() {
        let s = "→".repeat(2000) + "\n";
        for step in [1, 2, 5, 1000] {
            let chunks: Vec<&[u8]> = s.as_bytes().chunks(step).collect();
            let out = split(&chunks);
            assert!(!out[0].text.contains('\u{fffd}'), "{}", out[0].text);
        }
    }
}

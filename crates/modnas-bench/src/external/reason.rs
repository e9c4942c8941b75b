//! Failure reasons.

use std::collections::VecDeque;

/// The most of one quoted output line kept in a reason.
pub(super) const QUOTE_LINE_MAX: usize = 1024;

/// The start of `s`, at most `max` bytes, cut at a character boundary; `…` marks a cut.
pub(super) fn keep_start(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

pub(super) fn quote_tail(title: &str, tail: &VecDeque<String>) -> String {
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

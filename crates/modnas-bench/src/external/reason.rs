//! Failure reasons, bounded in size: they are stored in the journal, shown in the report and
//! printed on the terminal, so a program that writes megabytes on one line must not make them
//! megabytes long.

use std::collections::VecDeque;

/// The most of one quoted output line kept in a reason (its end).
pub(super) const QUOTE_LINE_MAX: usize = 1024;
/// The most of a whole reason.
pub(super) const REASON_MAX: usize = 16 * 1024;
/// The most one quote of output (the last lines of stderr or stdout) takes of a reason.
const QUOTE_MAX: usize = 6 * 1024;

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

/// The end of `s`, at most `max` bytes, cut at a character boundary; `…` marks a cut.
pub(super) fn keep_end(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut start = s.len() - max;
    while !s.is_char_boundary(start) {
        start += 1;
    }
    format!("…{}", &s[start..])
}

/// The last non-blank lines of `tail` under a title, as many as fit in the quote's budget (each
/// line cut to its end).
pub(super) fn quote_tail(title: &str, tail: &VecDeque<String>) -> String {
    let lines: Vec<String> = tail
        .iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| keep_end(l, QUOTE_LINE_MAX))
        .collect();
    if lines.is_empty() {
        return String::new();
    }
    let mut used = 0;
    let mut first = lines.len();
    while first > 0 && used + lines[first - 1].len() < QUOTE_MAX {
        first -= 1;
        used += lines[first].len() + 1;
    }
    let mut s = if first > 0 {
        format!("\n--- last lines of {title} ({first} earlier lines left out) ---")
    } else {
        format!("\n--- last lines of {title} ---")
    };
    for l in &lines[first..] {
        s.push('\n');
        s.push_str(l);
    }
    s
}

/// `reason` cut to [`REASON_MAX`] bytes: its start and its end are kept (the cause comes first,
/// the last output lines at the end).
pub(super) fn cap_reason(reason: String) -> String {
    if reason.len() <= REASON_MAX {
        return reason;
    }
    let half = REASON_MAX / 2 - 64;
    format!(
        "{}\n[… {} bytes left out …]\n{}",
        keep_start(&reason, half).trim_end_matches('…'),
        reason.len() - 2 * half,
        keep_end(&reason, half).trim_start_matches('…')
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_fall_on_character_boundaries() {
        let s = "é→".repeat(1000);
        for max in 0..20 {
            assert!(keep_start(&s, max).len() <= max + 3);
            assert!(keep_end(&s, max).len() <= max + 3);
        }
        assert_eq!(keep_end("abc", 5), "abc");
        assert_eq!(keep_end("abcdef", 3), "…def");
        assert_eq!(keep_start("abcdef", 3), "abc…");
    }

    #[test]
    fn quotes_and_reasons_are_bounded() {
        let tail: VecDeque<String> = (0..100)
            .map(|i| format!("{i} {}", "y".repeat(5000)))
            .collect();
        let q = quote_tail("stderr", &tail);
        assert!(q.len() <= QUOTE_MAX + 200, "{}", q.len());
        assert!(q.contains("earlier lines left out"));
        assert!(q.ends_with(&"y".repeat(100)));
        let r = cap_reason(format!("exited with status 1{}", "z→".repeat(100_000)));
        assert!(r.len() <= REASON_MAX, "{}", r.len());
        assert!(r.starts_with("exited with status 1"));
        assert!(r.ends_with("z→"));
    }
}

//! Failure reasons.

use std::collections::VecDeque;

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

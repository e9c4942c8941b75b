//! Starting and stopping the program's processes.

use std::collections::BTreeSet;
use std::sync::Mutex;

/// Process groups of the programs running now, so a forced exit can stop them.
pub(super) static RUNNING: Mutex<BTreeSet<i32>> = Mutex::new(BTreeSet::new());

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

pub(super) fn signal_name(sig: i32) -> &'static str {
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

pub(super) fn kill_group(pid: u32) {
    // SAFETY: kill(2) with a negative pid signals the process group we created for the child.
    unsafe {
        libc::kill(-(pid as i32), libc::SIGKILL);
    }
}

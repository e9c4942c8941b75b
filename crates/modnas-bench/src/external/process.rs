//! Starting and stopping the program's processes.

use std::collections::BTreeSet;
use std::io;
use std::process::{Child, Command};
use std::sync::Mutex;
use std::time::Duration;

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

/// Delays before retrying a start that failed for a passing reason.
pub(super) const SPAWN_RETRY_DELAYS: [Duration; 5] = [
    Duration::from_millis(50),
    Duration::from_millis(100),
    Duration::from_millis(200),
    Duration::from_millis(400),
    Duration::from_millis(800),
];

/// Whether a start failure may pass: too many processes (EAGAIN), out of memory (ENOMEM), the
/// program file still open for writing (ETXTBSY).
pub(super) fn is_transient(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EAGAIN | libc::ENOMEM | libc::ETXTBSY)
    )
}

/// Spawns `cmd`, retrying after each of `delays` while the failure is transient. Returns the
/// child, or the last error and how many attempts were made.
pub(super) fn spawn_retrying(
    cmd: &mut Command,
    delays: &[Duration],
) -> Result<Child, (io::Error, usize)> {
    let mut attempt = 0;
    loop {
        match cmd.spawn() {
            Ok(c) => return Ok(c),
            Err(e) if is_transient(&e) && attempt < delays.len() => {
                tracing::debug!(error = %e, attempt, "starting the program failed; retrying");
                std::thread::sleep(delays[attempt]);
                attempt += 1;
            }
            Err(e) => return Err((e, attempt + 1)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_program_file_still_open_for_writing_is_started_once_it_is_closed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("prog.sh");
        let mut f = std::fs::File::create(&path).unwrap();
        f.write_all(b"#!/bin/sh\nexit 0\n").unwrap();
        f.flush().unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        let mut cmd = Command::new(&path);
        // While the file is open for writing, exec fails with ETXTBSY.
        let e = cmd.spawn().unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ETXTBSY), "{e}");
        let closer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(150));
            drop(f);
        });
        let delays = [Duration::from_millis(100); 50];
        let mut child = spawn_retrying(&mut cmd, &delays).map_err(|e| e.0).unwrap();
        assert!(child.wait().unwrap().success());
        closer.join().unwrap();
    }

    #[test]
    fn permanent_start_failures_are_not_retried() {
        let mut cmd = Command::new("/nonexistent/modnas-test-program");
        let (e, attempts) = spawn_retrying(&mut cmd, &SPAWN_RETRY_DELAYS).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        assert_eq!(attempts, 1);
    }
}

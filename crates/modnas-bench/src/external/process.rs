//! Starting and stopping the program's processes.
//!
//! Each trial's program runs under a small supervisor process: modnas starts the supervisor (a
//! process-group leader), the supervisor starts the program in its group and waits for it. When
//! the program ends, the supervisor ends the same way (same exit code, or killed by the same
//! signal), so statuses reach modnas unchanged. When modnas itself dies, even by SIGKILL, the
//! supervisor notices (parent-death signal, and a check of its parent pid) and kills its whole
//! process group, so grandchildren do not outlive modnas.
//!
//! Processes that leave the group (`setsid`, `setpgid`) escape the group kill. They still carry
//! the trial's `MODNAS_TRIAL_TOKEN` in their environment: when a trial ends, and before a trial
//! interrupted by the death of modnas is run again, every process carrying that token is killed.

use std::collections::BTreeSet;
use std::io;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command};
use std::sync::Mutex;
use std::time::{Duration, Instant};

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

/// A readable name of a signal.
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
        libc::SIGHUP => "SIGHUP",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGUSR1 => "SIGUSR1",
        libc::SIGUSR2 => "SIGUSR2",
        libc::SIGALRM => "SIGALRM",
        libc::SIGXCPU => "SIGXCPU",
        libc::SIGXFSZ => "SIGXFSZ",
        _ => "a signal",
    }
}

/// Kills the process group `pgid` (a trial's supervisor and everything in its group).
pub(super) fn kill_group(pgid: u32) {
    // SAFETY: kill(2) with a negative pid signals the process group we created for the child.
    unsafe {
        libc::kill(-(pgid as i32), libc::SIGKILL);
    }
}

/// Signals the supervisor catches: it must not die of a signal sent to its group (the program
/// gets it too and its own fate is what counts), and it must wake on the parent-death signal
/// and on SIGCHLD. Faults (SIGSEGV…) and stop/continue signals keep their default action.
const CAUGHT: [libc::c_int; 19] = [
    libc::SIGHUP,
    libc::SIGINT,
    libc::SIGQUIT,
    libc::SIGTERM,
    libc::SIGUSR1,
    libc::SIGUSR2,
    libc::SIGPIPE,
    libc::SIGALRM,
    libc::SIGCHLD,
    libc::SIGXCPU,
    libc::SIGXFSZ,
    libc::SIGVTALRM,
    libc::SIGPROF,
    libc::SIGIO,
    libc::SIGPWR,
    libc::SIGSTKFLT,
    libc::SIGTSTP,
    libc::SIGTTIN,
    libc::SIGTTOU,
];

/// The signal the supervisor gets when modnas dies.
const DEATH_SIGNAL: libc::c_int = libc::SIGHUP;

/// What the supervisor needs, computed before the fork (where anything may be called).
#[derive(Clone, Copy)]
struct SupervisorSetup {
    /// modnas's pid: the supervisor's parent while modnas lives.
    parent: libc::pid_t,
    /// Real-time signals (they terminate by default), caught too.
    rt: (libc::c_int, libc::c_int),
    /// Highest file descriptor to close if `close_range` is missing.
    max_fd: libc::c_int,
}

extern "C" fn wake(_: libc::c_int) {}

/// Makes `cmd` start its program under a supervisor (see the module documentation). `cmd` must
/// also have `process_group(0)`: the supervisor leads the group.
pub(super) fn supervise(cmd: &mut Command) {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we pass.
    let max_fd = if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0 {
        lim.rlim_cur.min(1 << 20) as libc::c_int
    } else {
        4096
    };
    let setup = SupervisorSetup {
        parent: std::process::id() as libc::pid_t,
        rt: (libc::SIGRTMIN(), libc::SIGRTMAX()),
        max_fd,
    };
    // SAFETY: the closure runs in the forked child before exec and calls only async-signal-safe
    // functions (sigaction, sigprocmask, prctl, getppid, getpid, fork, waitpid, sigsuspend,
    // kill, close, _exit); it allocates nothing.
    unsafe {
        cmd.pre_exec(move || supervise_in_child(setup));
    }
}

/// The set of signals the supervisor catches.
///
/// # Safety
/// Async-signal-safe: only sigemptyset/sigaddset on a local set.
unsafe fn caught_set(setup: &SupervisorSetup) -> libc::sigset_t {
    // SAFETY: sigset_t is plain data; sigemptyset initialises it.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in CAUGHT {
            libc::sigaddset(&mut set, s);
        }
        for s in setup.rt.0..=setup.rt.1 {
            libc::sigaddset(&mut set, s);
        }
        set
    }
}

/// Signal actions by signal number.
type Actions = [libc::sigaction; 65];

/// Sets the action of every caught signal to `handler`, saving the previous ones in `saved`.
///
/// # Safety
/// Async-signal-safe: sigaction only. Errors (signals reserved by the C library) are ignored.
unsafe fn catch_all(setup: &SupervisorSetup, handler: libc::sighandler_t, saved: &mut Actions) {
    // SAFETY: a zeroed sigaction with an empty mask and a valid handler.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = handler;
        libc::sigemptyset(&mut sa.sa_mask);
        for s in CAUGHT.into_iter().chain(setup.rt.0..=setup.rt.1) {
            if let Some(old) = saved.get_mut(s as usize) {
                libc::sigaction(s, &sa, old);
            }
        }
    }
}

/// Puts back the actions saved by [`catch_all`].
///
/// # Safety
/// Async-signal-safe: sigaction only.
unsafe fn restore_all(setup: &SupervisorSetup, saved: &Actions) {
    // SAFETY: actions returned by sigaction.
    unsafe {
        for s in CAUGHT.into_iter().chain(setup.rt.0..=setup.rt.1) {
            if let Some(old) = saved.get(s as usize) {
                libc::sigaction(s, old, std::ptr::null_mut());
            }
        }
    }
}

/// Runs in the child of modnas's fork. Forks the program's process, which returns `Ok` so that
/// the standard library goes on to exec the program; the supervisor itself never returns.
fn supervise_in_child(setup: SupervisorSetup) -> io::Result<()> {
    // SAFETY: async-signal-safe calls only (see `supervise`).
    unsafe {
        let caught = caught_set(&setup);
        let mut before: libc::sigset_t = std::mem::zeroed();
        // Block the caught signals first: from here on, none is lost between a check and the
        // wait, they stay pending until `sigsuspend`.
        if libc::sigprocmask(libc::SIG_BLOCK, &caught, &mut before) != 0 {
            return Err(io::Error::last_os_error());
        }
        let mut saved: Actions = std::mem::zeroed();
        catch_all(
            &setup,
            wake as extern "C" fn(libc::c_int) as libc::sighandler_t,
            &mut saved,
        );
        libc::prctl(libc::PR_SET_PDEATHSIG, DEATH_SIGNAL as libc::c_ulong);
        // modnas may have died before the prctl: then no signal will come.
        if libc::getppid() != setup.parent {
            return Err(io::Error::from_raw_os_error(libc::ESRCH));
        }
        let me = libc::getpid();
        let program = libc::fork();
        if program < 0 {
            return Err(io::Error::last_os_error());
        }
        if program == 0 {
            // The program's process: the signal state the standard library set up, and death
            // with the supervisor.
            restore_all(&setup, &saved);
            libc::sigprocmask(libc::SIG_SETMASK, &before, std::ptr::null_mut());
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong);
            if libc::getppid() != me {
                return Err(io::Error::from_raw_os_error(libc::ESRCH));
            }
            return Ok(());
        }
        // A name of its own in `ps`/`top` (it is a copy of modnas that never runs exec).
        libc::prctl(libc::PR_SET_NAME, c"modnas-trial".as_ptr() as libc::c_ulong);
        // The supervisor keeps no descriptor: not the pipes of stdout/stderr (their readers see
        // the end when the program's side closes), not the standard library's exec-error pipe
        // (its end tells modnas that the exec happened).
        if libc::syscall(libc::SYS_close_range, 0u32, u32::MAX, 0u32) != 0 {
            for fd in 0..=setup.max_fd {
                libc::close(fd);
            }
        }
        loop {
            let mut status = 0;
            let r = libc::waitpid(program, &mut status, libc::WNOHANG);
            if r == program {
                pass_on(status);
            }
            if r < 0 && io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
                libc::_exit(127);
            }
            if libc::getppid() != setup.parent {
                // modnas is gone: end the whole group, this process included.
                libc::kill(-me, libc::SIGKILL);
                libc::_exit(137);
            }
            libc::sigsuspend(&before);
        }
    }
}

/// Ends the supervisor the way its program ended.
///
/// # Safety
/// Async-signal-safe calls only.
unsafe fn pass_on(status: libc::c_int) -> ! {
    // SAFETY: async-signal-safe calls only.
    unsafe {
        if libc::WIFEXITED(status) {
            libc::_exit(libc::WEXITSTATUS(status));
        }
        if libc::WIFSIGNALED(status) {
            let sig = libc::WTERMSIG(status);
            // Die of the same signal, without writing a core file of this copy of modnas.
            libc::prctl(libc::PR_SET_DUMPABLE, 0 as libc::c_ulong);
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = libc::SIG_DFL;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, std::ptr::null_mut());
            let mut one: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut one);
            libc::sigaddset(&mut one, sig);
            libc::sigprocmask(libc::SIG_UNBLOCK, &one, std::ptr::null_mut());
            libc::kill(libc::getpid(), sig);
            libc::_exit(128 + sig);
        }
        libc::_exit(127)
    }
}

/// Waits until the child `pid` has ended, without reaping it (its pid, and so its process group
/// id, stays taken until it is reaped).
pub(super) fn wait_until_ended(pid: u32) {
    loop {
        // SAFETY: waitid writes into the siginfo we pass; WNOWAIT leaves the child reapable.
        let r = unsafe {
            let mut info: libc::siginfo_t = std::mem::zeroed();
            libc::waitid(
                libc::P_PID,
                pid as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOWAIT,
            )
        };
        if r == 0 || io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            return;
        }
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

/// The file in a trial directory that records the process group and token of the program
/// running there; it is removed when the trial ends.
const RECORD: &str = ".modnas-processes";

/// A token identifying one run of a trial's program.
pub(super) fn new_token(trial: u64) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{}-{trial}-{nanos}", std::process::id())
}

/// Records the running program's group and token in `trial_dir`.
pub(super) fn record(trial_dir: &Path, pgid: u32, token: &str) {
    let _ = std::fs::write(trial_dir.join(RECORD), format!("{pgid} {token}\n"));
}

/// Ends every process of the trial run recorded in `trial_dir` (left over when modnas was killed
/// during the trial) and removes the record.
pub(super) fn end_recorded(trial_dir: &Path) {
    let path = trial_dir.join(RECORD);
    let Ok(text) = std::fs::read_to_string(&path) else {
        return;
    };
    let mut it = text.split_whitespace();
    let pgid = it.next().and_then(|p| p.parse::<i32>().ok());
    if let (Some(pgid), Some(token)) = (pgid, it.next()) {
        let n = end_marked(token, Some(pgid));
        if n > 0 {
            tracing::warn!(
                dir = %trial_dir.display(),
                processes = n,
                "ended processes left over from an interrupted run of this trial"
            );
        }
    }
    let _ = std::fs::remove_file(&path);
}

/// Removes the record of `trial_dir` (the trial ended and its processes were ended).
pub(super) fn clear_record(trial_dir: &Path) {
    let _ = std::fs::remove_file(trial_dir.join(RECORD));
}

/// Kills every process whose environment holds `MODNAS_TRIAL_TOKEN=<token>`, and the group
/// `pgid` when one of them is in it; waits a little for them to go. Returns how many there were.
pub(super) fn end_marked(token: &str, pgid: Option<i32>) -> usize {
    let marker = format!("MODNAS_TRIAL_TOKEN={token}");
    let found = marked_processes(marker.as_bytes());
    let me = std::process::id() as i32;
    for &(pid, group) in &found {
        if pid == me {
            continue;
        }
        // SAFETY: kill(2) on processes that carry this trial's token.
        unsafe {
            if pgid == Some(group) {
                libc::kill(-group, libc::SIGKILL);
            }
            libc::kill(pid, libc::SIGKILL);
        }
    }
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(2) && found.iter().any(|&(pid, _)| alive(pid)) {
        std::thread::sleep(Duration::from_millis(20));
    }
    found.len()
}

/// `(pid, process group)` of the live processes whose environment holds `entry`.
fn marked_processes(entry: &[u8]) -> Vec<(i32, i32)> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in dir.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        // Unreadable (another user's process, or gone): not ours.
        let Ok(env) = std::fs::read(e.path().join("environ")) else {
            continue;
        };
        if !env.split(|&b| b == 0).any(|v| v == entry) {
            continue;
        }
        if let Some((_, group)) = stat_of(pid) {
            out.push((pid, group));
        }
    }
    out
}

/// `(state, process group)` of `pid` from `/proc/<pid>/stat`.
fn stat_of(pid: i32) -> Option<(char, i32)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "pid (comm) state ppid pgrp …": the command name may hold spaces and parentheses.
    let rest = &s[s.rfind(')')? + 1..];
    let mut f = rest.split_whitespace();
    let state = f.next()?.chars().next()?;
    let _ppid = f.next()?;
    let pgrp = f.next()?.parse().ok()?;
    Some((state, pgrp))
}

/// Whether `pid` is still running (a zombie has ended).
fn alive(pid: i32) -> bool {
    matches!(stat_of(pid), Some((s, _)) if s != 'Z' && s != 'X')
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

    fn supervised(script: &str) -> Command {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", script]).process_group(0);
        supervise(&mut cmd);
        cmd
    }

    #[test]
    fn the_supervisor_passes_on_exit_codes_and_signals_exactly() {
        use std::os::unix::process::ExitStatusExt;
        for (script, code, signal) in [
            ("exit 0", Some(0), None),
            ("exit 7", Some(7), None),
            ("exit 255", Some(255), None),
            ("kill -PIPE $$", None, Some(libc::SIGPIPE)),
            ("kill -KILL $$", None, Some(libc::SIGKILL)),
            ("kill -USR1 $$", None, Some(libc::SIGUSR1)),
            // A signal sent to the whole group: the supervisor survives it, the program not.
            ("kill -TERM 0; sleep 5", None, Some(libc::SIGTERM)),
        ] {
            let st = supervised(script).status().unwrap();
            assert_eq!((st.code(), st.signal()), (code, signal), "{script}");
        }
    }

    #[test]
    fn exec_errors_reach_the_caller_through_the_supervisor() {
        let mut cmd = Command::new("/nonexistent/modnas-test-program");
        cmd.process_group(0);
        supervise(&mut cmd);
        let e = cmd.spawn().unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn output_and_the_process_group_belong_to_the_program() {
        let out = supervised("echo out; echo err >&2; ps -o pgid= -p $$")
            .output()
            .unwrap();
        assert!(out.status.success());
        let text = String::from_utf8_lossy(&out.stdout);
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some("out"));
        // The program is in a group of its own, not in the test's.
        let pgid: i32 = lines.next().unwrap().trim().parse().unwrap();
        // SAFETY: getpgrp has no preconditions.
        assert_ne!(pgid, unsafe { libc::getpgrp() });
        assert_eq!(String::from_utf8_lossy(&out.stderr), "err\n");
    }

    #[test]
    fn permanent_start_failures_are_not_retried() {
        let mut cmd = Command::new("/nonexistent/modnas-test-program");
        let (e, attempts) = spawn_retrying(&mut cmd, &SPAWN_RETRY_DELAYS).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        assert_eq!(attempts, 1);
    }
}

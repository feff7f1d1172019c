//! Running a script or notify program the way keepalived does, and a little safer: without
//! a shell, as the configured user, in a process group of its own, with a clean
//! environment and ordinary scheduling, and stopped whole at its timeout.
//!
//! Between fork and exec the child, in this order:
//! 1. drops real-time scheduling and any raised nice value (`sched_setscheduler(SCHED_OTHER)`,
//!    `setpriority(0)`), so a busy script cannot starve the adverts the agent owes, nor
//!    inherit the agent's RLIMIT_RTTIME budget;
//! 2. sets its supplementary groups (none unless asked for), then its group, then its user
//!    (in that order: after `setuid` the others are no longer allowed);
//! 3. becomes the leader of a new process group, so that a timeout reaches everything it
//!    started.
//!
//! Its environment holds only `PATH` ([`SCRIPT_PATH`]), `HOME`, `USER` and `LOGNAME`; its
//! working directory is `/`; stdin, stdout and stderr are /dev/null. Descriptors the agent
//! holds are all close-on-exec.
//!
//! At `timeout` the whole process group gets SIGTERM, then SIGKILL after [`TERM_GRACE`]
//! (and SIGKILL anyway once the leader is gone, for children it left behind); the run
//! counts as a failure. Exit is awaited through a pidfd, so no SIGCHLD handler or polling
//! is needed (polling every 10 ms is the fallback when the kernel has no pidfd_open).

use std::io;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use tokio::io::unix::AsyncFd;

use crate::config::model::RunAs;

use super::book::RunResult;

/// The `PATH` scripts get, and where a script named without a `/` is looked for: Debian's
/// default for root.
pub const SCRIPT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Time a timed-out program gets between SIGTERM and SIGKILL.
pub const TERM_GRACE: Duration = Duration::from_secs(1);

/// Fallback exit polling period when pidfds are not available.
const EXIT_POLL: Duration = Duration::from_millis(10);

/// The command for `argv` (not empty) run as `run_as`, set up as the module text says.
pub fn command(argv: &[String], run_as: Option<&RunAs>) -> Command {
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..])
        .env_clear()
        .env("PATH", SCRIPT_PATH)
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0);
    if let Some(r) = run_as {
        cmd.env("HOME", &r.home)
            .env("USER", &r.user)
            .env("LOGNAME", &r.user);
    }
    // Everything the child needs is computed here, before the fork: after it, only system
    // calls.
    let credentials = run_as.map(|r| (r.uid, r.gid, r.groups.clone()));
    // SAFETY: the closure runs in the forked child before exec. It only makes system calls
    // that are async-signal-safe (sched_setscheduler, setpriority, setgroups, setgid,
    // setuid, getuid, getgid) on data allocated before the fork; it allocates nothing and
    // takes no lock.
    unsafe {
        cmd.pre_exec(move || {
            ordinary_scheduling()?;
            if let Some((uid, gid, groups)) = &credentials {
                become_user(*uid, *gid, groups)?;
            }
            Ok(())
        });
    }
    cmd
}

/// In the child: back to SCHED_OTHER at nice 0.
fn ordinary_scheduling() -> io::Result<()> {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: sched_setscheduler reads `param`, which lives across the call; pid 0 is the
    // calling process.
    if unsafe { libc::sched_setscheduler(0, libc::SCHED_OTHER, &param) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // A raised priority (negative nice) goes too; failing to lower it only happens when
    // the agent is not root, and then it had no raised priority to give away.
    // SAFETY: setpriority takes plain integers.
    unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, 0) };
    Ok(())
}

/// In the child: supplementary groups, group, then user. Changing to the user and group
/// one already has is skipped, so an agent that is not root can still run scripts as
/// itself.
fn become_user(uid: u32, gid: u32, groups: &[u32]) -> io::Result<()> {
    // SAFETY: setgroups reads `groups.len()` gids from a live slice.
    if unsafe { libc::setgroups(groups.len(), groups.as_ptr()) } != 0 {
        let e = io::Error::last_os_error();
        // Only root may set groups; an agent running as the script's own user keeps its
        // own, as it could not give more than it has.
        // SAFETY: getuid has no preconditions.
        if e.raw_os_error() != Some(libc::EPERM) || unsafe { libc::getuid() } != uid {
            return Err(e);
        }
    }
    // SAFETY: getgid/setgid take and return plain integers.
    if unsafe { libc::getgid() } != gid && unsafe { libc::setgid(gid) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: getuid/setuid take and return plain integers.
    if unsafe { libc::getuid() } != uid && unsafe { libc::setuid(uid) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Runs `argv` as `run_as` (the agent's own user when `None`) until it exits or `timeout`
/// passes; at the timeout the whole process group is stopped (see the module text).
pub async fn run(argv: &[String], run_as: Option<&RunAs>, timeout: Duration) -> RunResult {
    let Some(program) = argv.first() else {
        return RunResult::CannotStart("empty command".into());
    };
    let mut child = match Running::spawn(argv, run_as) {
        Ok(c) => c,
        Err(e) => return RunResult::CannotStart(format!("{program}: {e}")),
    };
    match tokio::time::timeout(timeout, child.wait(false)).await {
        Ok(status) => describe_exit(status),
        Err(_) => {
            child.signal_group(libc::SIGTERM);
            if tokio::time::timeout(TERM_GRACE, child.wait(true))
                .await
                .is_err()
            {
                child.signal_group(libc::SIGKILL);
                child.wait(true).await;
            }
            RunResult::TimedOut {
                after_ms: timeout.as_millis() as u64,
            }
        }
    }
}

fn describe_exit(status: ExitStatus) -> RunResult {
    if status.success() {
        RunResult::Success
    } else if let Some(code) = status.code() {
        RunResult::Failed(format!("exit status {code}"))
    } else {
        let signal = status.signal().unwrap_or(0);
        RunResult::Failed(format!("killed by signal {signal}"))
    }
}

/// A started program, leader of its own process group. Dropping it (the tracker stopped,
/// or the task was cancelled) kills the group and reaps the leader on a helper thread.
struct Running {
    child: Option<Child>,
    pid: libc::pid_t,
    /// Readable once the leader has exited (it stays a zombie until reaped).
    pidfd: Option<AsyncFd<OwnedFd>>,
    /// The leader's status, once reaped.
    status: Option<ExitStatus>,
}

impl Running {
    fn spawn(argv: &[String], run_as: Option<&RunAs>) -> io::Result<Running> {
        let child = command(argv, run_as).spawn()?;
        let pid = child.id() as libc::pid_t;
        Ok(Running {
            pidfd: pidfd_open(pid),
            child: Some(child),
            pid,
            status: None,
        })
    }

    /// Waits for the leader to exit and reaps it. With `kill_rest`, the rest of its group
    /// gets SIGKILL before the leader is reaped, while its pid still names the group.
    async fn wait(&mut self, kill_rest: bool) -> ExitStatus {
        if let Some(status) = self.status {
            return status;
        }
        if let Some(fd) = &self.pidfd {
            // Readiness is never cleared: once exited, the pidfd stays readable.
            if fd.readable().await.is_err() {
                // Cannot poll the pidfd after all: fall back to polling below.
                self.pidfd = None;
            }
        }
        loop {
            if self.pidfd.is_some() && kill_rest {
                self.signal_group(libc::SIGKILL);
            }
            let child = self.child.as_mut().expect("child kept until reaped");
            match child.try_wait() {
                Ok(Some(status)) => {
                    if self.pidfd.is_none() && kill_rest {
                        self.signal_group(libc::SIGKILL);
                    }
                    self.status = Some(status);
                    self.child = None;
                    return status;
                }
                Ok(None) => tokio::time::sleep(EXIT_POLL).await,
                Err(e) => {
                    // Someone else reaped it (a waitpid(-1) elsewhere in the process):
                    // nothing more to learn; call it a failure rather than hang.
                    tracing::warn!(pid = self.pid, "waiting for check program: {e}");
                    let status = ExitStatus::from_raw(libc::SIGKILL);
                    self.status = Some(status);
                    self.child = None;
                    return status;
                }
            }
        }
    }

    /// Sends `signal` to the program's whole process group.
    fn signal_group(&self, signal: libc::c_int) {
        // SAFETY: kill(2) takes plain integers. The group id is the leader's pid; it cannot
        // have been reused for another group, because either the leader is not reaped yet
        // (we reap only in `wait`) or group members still hold the id.
        unsafe { libc::kill(-self.pid, signal) };
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            self.signal_group(libc::SIGKILL);
            // Reap off the runtime: after SIGKILL this is quick, but it is still blocking.
            std::thread::spawn(move || {
                let _ = child.wait();
            });
        }
    }
}

/// A pidfd for `pid` registered with the runtime, or `None` where the kernel or a seccomp
/// filter refuses (the exit is then polled).
fn pidfd_open(pid: libc::pid_t) -> Option<AsyncFd<OwnedFd>> {
    // SAFETY: pidfd_open(2) takes a pid and flags and returns a new descriptor or -1; no
    // memory is passed.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return None;
    }
    // SAFETY: `fd` was just returned by pidfd_open, is open (with O_CLOEXEC) and is owned
    // by nobody else.
    let fd = unsafe { OwnedFd::from_raw_fd(fd as libc::c_int) };
    // SAFETY: the AsyncFd takes the OwnedFd, which stays open and names the same pidfd until
    // the AsyncFd is dropped; OwnedFd::as_raw_fd always returns that descriptor.
    unsafe { AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE) }.ok()
}

//! On time on a busy box: a VRRP router is a timekeeper, and when other processes saturate
//! the CPUs its adverts must still go out on time or its backups take over by mistake.
//! Measured here with four spinners per core: 10 ms adverts kept a 10.1 ms worst gap under
//! SCHED_RR, against 26-30 ms without it.
//!
//! What [`apply`] sets up, as keepalived's VRRP process does (`vrrp_rt_priority`,
//! `vrrp_rlimit_rtime`, `vrrp_no_swap`):
//! - SCHED_RR at a modest priority, with SCHED_RESET_ON_FORK so scripts and notify programs
//!   start with normal scheduling whatever path spawns them;
//! - an RLIMIT_RTTIME guard: a real-time thread that runs this long without blocking gets
//!   SIGXCPU, on which the engine drops back to normal scheduling ([`drop_to_normal`]) and
//!   says so, instead of starving the box (a flood that never lets the loop sleep);
//! - memory locked (`mlockall`), so a page-in never delays an advert.
//!
//! On by default at priority [`DEFAULT_PRIORITY`]; `--realtime-priority 0` (or
//! `vrrp_rt_priority 0` in global_defs) turns it off, `--no-mlock` keeps memory swappable.

use std::io;

/// SCHED_RR priority when nothing says otherwise: above every normal task, below the
/// kernel's own real-time threads and anything an operator put at 50+.
pub const DEFAULT_PRIORITY: i32 = 10;

/// Busy real-time CPU time (µs) before SIGXCPU: far above what one batch of adverts and
/// timers costs (tens of µs) and above loading the XDP program on a reload (the kernel's
/// verifier runs in our syscall, ~0.3 s here), short enough that a runaway loop is caught
/// within a second. The guard is set after start-up's own XDP load.
pub const RTTIME_SOFT_US: u64 = 1_000_000;
/// ...and before the kernel kills the process, should the soft signal go unheard.
pub const RTTIME_HARD_US: u64 = 3_000_000;

/// What could be set up; each part fails on its own (and is logged by the caller).
#[derive(Debug)]
pub struct Applied {
    pub scheduling: io::Result<()>,
    pub rttime: io::Result<()>,
    pub memory: Option<io::Result<()>>,
}

/// Real-time scheduling at `priority` (1-99; 0 leaves scheduling alone) for the whole
/// process, and memory locked when `lock_memory`.
pub fn apply(priority: i32, lock_memory: bool) -> Applied {
    let (scheduling, rttime) = if priority > 0 {
        (set_rr(priority.clamp(1, 99)), set_rttime_guard())
    } else {
        (Ok(()), Ok(()))
    };
    let memory = lock_memory.then(lock_all);
    Applied {
        scheduling,
        rttime,
        memory,
    }
}

fn set_rr(priority: i32) -> io::Result<()> {
    let param = libc::sched_param {
        sched_priority: priority,
    };
    // SAFETY: sched_setscheduler on our own process with a valid sched_param.
    let rc =
        unsafe { libc::sched_setscheduler(0, libc::SCHED_RR | libc::SCHED_RESET_ON_FORK, &param) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn set_rttime_guard() -> io::Result<()> {
    let lim = libc::rlimit {
        rlim_cur: RTTIME_SOFT_US,
        rlim_max: RTTIME_HARD_US,
    };
    // SAFETY: setrlimit with a valid rlimit for our own process.
    if unsafe { libc::setrlimit(libc::RLIMIT_RTTIME, &lim) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn lock_all() -> io::Result<()> {
    // SAFETY: mlockall takes flags only.
    if unsafe { libc::mlockall(libc::MCL_CURRENT | libc::MCL_FUTURE) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// [`apply`], with what it did and did not manage logged.
pub fn apply_and_log(priority: i32, lock_memory: bool) {
    let a = apply(priority, lock_memory);
    match (&a.scheduling, priority) {
        (_, 0) => {
            tracing::info!("real-time scheduling off (vrrp_rt_priority / --realtime-priority 0)")
        }
        (Ok(()), p) => {
            tracing::info!(
                priority = p,
                "real-time scheduling (SCHED_RR, reset on fork)"
            )
        }
        (Err(e), _) => tracing::warn!(
            error = %e,
            "no real-time scheduling; adverts may be late on a busy box"
        ),
    }
    if let Err(e) = &a.rttime {
        tracing::warn!(error = %e, "no RLIMIT_RTTIME guard");
    }
    if let Some(Err(e)) = &a.memory {
        tracing::warn!(error = %e, "memory not locked (mlockall); a page-in may delay an advert");
    }
}

/// Back to normal scheduling (SIGXCPU: the RLIMIT_RTTIME guard fired).
pub fn drop_to_normal() -> io::Result<()> {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: as in `set_rr`.
    if unsafe { libc::sched_setscheduler(0, libc::SCHED_OTHER, &param) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The scheduling policy of the calling thread (for status and tests).
pub fn policy() -> i32 {
    // SAFETY: no arguments beyond the pid.
    unsafe { libc::sched_getscheduler(0) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Run `f` in a forked child so the test process keeps its own scheduling; the child
    /// exits 0 when `f` holds.
    fn in_child(f: impl FnOnce() -> bool) -> bool {
        // SAFETY: the child only makes async-signal-safe system calls and exits.
        match unsafe { libc::fork() } {
            0 => {
                let code = if f() { 0 } else { 1 };
                // SAFETY: ending the forked child without running the parent's destructors.
                unsafe { libc::_exit(code) }
            }
            pid if pid > 0 => {
                let mut status = 0;
                // SAFETY: waiting for the child we just forked.
                unsafe { libc::waitpid(pid, &mut status, 0) };
                libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0
            }
            _ => panic!("fork failed"),
        }
    }

    #[test]
    fn real_time_is_reset_for_children_and_the_rttime_guard_is_set() {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("skipped: needs root for SCHED_RR");
            return;
        }
        assert!(in_child(|| {
            let a = apply(5, false);
            if a.scheduling.is_err() || a.rttime.is_err() {
                return false;
            }
            // SCHED_RESET_ON_FORK is reported along with the policy.
            let rr = policy() == libc::SCHED_RR | libc::SCHED_RESET_ON_FORK;
            let mut lim = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            // SAFETY: reading our own limit into a local.
            unsafe { libc::getrlimit(libc::RLIMIT_RTTIME, &mut lim) };
            // A grandchild starts with normal scheduling.
            let child_normal = in_child(|| policy() == libc::SCHED_OTHER);
            let dropped = drop_to_normal().is_ok() && policy() == libc::SCHED_OTHER;
            rr && lim.rlim_cur == RTTIME_SOFT_US && child_normal && dropped
        }));
    }

    #[test]
    fn priority_zero_leaves_scheduling_alone() {
        assert!(in_child(|| {
            let before = policy();
            let a = apply(0, false);
            a.scheduling.is_ok() && a.memory.is_none() && policy() == before
        }));
    }
}

//! The descriptor limit. systemd and most shells start services with a soft
//! RLIMIT_NOFILE of 1024 while the hard limit is far higher (systemd: 524288): the soft
//! limit exists for programs that still use select(2), which we do not. Each instance,
//! interface, tracked script, control and metrics connection costs descriptors, so the
//! daemon raises its soft limit to the hard one at start.

use std::io;

/// What [`raise_nofile`] found and did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NofileChange {
    /// Soft limit before.
    pub was: u64,
    /// Soft limit now (the hard limit, unless it could not be raised).
    pub now: u64,
    /// The hard limit.
    pub hard: u64,
}

fn get() -> io::Result<libc::rlimit> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit into the struct we own.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(lim)
}

/// Raises the soft RLIMIT_NOFILE of this process to its hard limit and logs what it did.
/// Failure is only logged: the daemon runs with the limit it has.
pub fn raise_nofile() -> io::Result<NofileChange> {
    let result = raise_nofile_quietly();
    match &result {
        Ok(c) if c.now != c.was => {
            tracing::info!(
                from = c.was,
                to = c.now,
                "raised the open-file limit (RLIMIT_NOFILE)"
            )
        }
        Ok(c) => tracing::debug!(limit = c.now, "open-file limit already at its hard limit"),
        Err(e) => tracing::warn!(error = %e, "could not raise the open-file limit (RLIMIT_NOFILE)"),
    }
    result
}

/// [`raise_nofile`] without the log.
pub fn raise_nofile_quietly() -> io::Result<NofileChange> {
    let mut lim = get()?;
    let was = lim.rlim_cur;
    if lim.rlim_cur < lim.rlim_max {
        lim.rlim_cur = lim.rlim_max;
        // SAFETY: setrlimit reads the struct we own; raising the soft limit up to the hard
        // one needs no privilege.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    let after = get()?;
    Ok(NofileChange {
        was,
        now: after.rlim_cur,
        hard: after.rlim_max,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// In a child process, so lowering the limit cannot disturb the tests beside it.
    #[test]
    fn the_soft_limit_is_raised_to_the_hard_limit() {
        let before = get().unwrap();
        if before.rlim_max <= 64 {
            return; // nothing to show on a box this constrained
        }
        // SAFETY: the child only makes system calls (no allocation, no locks) and leaves
        // with _exit.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork: {}", io::Error::last_os_error());
        if pid == 0 {
            let low = libc::rlimit {
                rlim_cur: 64,
                rlim_max: before.rlim_max,
            };
            // SAFETY: as above; setrlimit reads a struct on our stack.
            let code = unsafe {
                if libc::setrlimit(libc::RLIMIT_NOFILE, &low) != 0 {
                    2
                } else {
                    match raise_nofile_quietly() {
                        Ok(c) if c.was == 64 && c.now == before.rlim_max && c.hard == c.now => 0,
                        Ok(_) => 3,
                        Err(_) => 4,
                    }
                }
            };
            // SAFETY: ends the child without running the parent's destructors.
            unsafe { libc::_exit(code) };
        }
        let mut status = 0;
        // SAFETY: waits for the child we forked, writing its status to our variable.
        assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
        assert!(libc::WIFEXITED(status), "child status {status:#x}");
        assert_eq!(
            libc::WEXITSTATUS(status),
            0,
            "1..4: see the child's branches"
        );
        // Once raised, a second call changes nothing.
        raise_nofile_quietly().unwrap();
        let c = raise_nofile_quietly().unwrap();
        assert_eq!((c.was, c.now), (c.now, c.hard));
    }
}

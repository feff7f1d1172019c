//! Where the daemon keeps its runtime files (control socket, pid lock): `/run/vrrpx` in
//! the host's network namespace and `/run/vrrpx/netns/NAME` inside `ip netns exec NAME`.
//!
//! `ip netns exec` gives a process its own network namespace but the host's /run, so a
//! path shared by every namespace would let the daemon of one namespace take the socket of
//! another (and `status` would ask the wrong daemon). Keying the directory on the
//! namespace makes the plain commands (`vrrp-agent run -f FILE`, `vrrp-agent status`) find
//! each other in every namespace without a flag.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

const BASE: &str = "/run/vrrpx";
/// What must survive a reboot (maintenance drains) lives here, keyed the same way.
const STATE_BASE: &str = "/var/lib/vrrpx";

/// The runtime directory for the calling process's network namespace.
pub fn run_dir() -> PathBuf {
    run_dir_under(Path::new(BASE), Path::new("/run/netns"))
}

/// The persistent state directory for the calling process's network namespace:
/// `/var/lib/vrrpx`, or `/var/lib/vrrpx/netns/NAME` inside `ip netns exec NAME`.
pub fn state_dir() -> PathBuf {
    run_dir_under(Path::new(STATE_BASE), Path::new("/run/netns"))
}

/// Where this namespace's pinned XDP links go under the bpffs mounted at `bpffs`:
/// `vrrpx`, or `vrrpx/netns/NAME` inside `ip netns exec NAME` (docs/kernel-guard.md).
pub fn pin_dir(bpffs: &Path) -> PathBuf {
    run_dir_under(&bpffs.join("vrrpx"), Path::new("/run/netns"))
}

/// Whether this process runs in a network namespace of its own (not the host's).
pub fn in_named_or_private_namespace() -> bool {
    run_dir() != Path::new(BASE)
}

/// The control socket `run`, `status`, `reload` and `events` use unless told otherwise.
pub fn default_control_socket() -> PathBuf {
    run_dir().join("control.sock")
}

fn ns_id(path: &Path) -> Option<(u64, u64)> {
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

fn run_dir_under(base: &Path, named: &Path) -> PathBuf {
    let Some(me) = ns_id(Path::new("/proc/self/ns/net")) else {
        return base.to_path_buf();
    };
    // A namespace named by `ip netns add` is a bind mount under /run/netns.
    if let Ok(entries) = std::fs::read_dir(named) {
        for e in entries.flatten() {
            if ns_id(&e.path()) == Some(me) {
                let name = e.file_name().to_string_lossy().into_owned();
                return base.join("netns").join(name);
            }
        }
    }
    // An unnamed namespace other than init's (`unshare -n`) gets one by its inode; init's
    // own, or one we cannot compare with (no permission to read init's), is the host's.
    match ns_id(Path::new("/proc/1/ns/net")) {
        Some(init) if init != me => base.join("netns").join(format!("ns-{}", me.1)),
        _ => base.to_path_buf(),
    }
}

/// Create `dir` (and its parents) with mode 0700 if missing.
pub fn ensure_private_dir(dir: &Path) -> Result<()> {
    if dir.exists() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("creating {}", dir.display()))?;
    // The mode above went through the umask; say exactly what we mean.
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("chmod 0700 {}", dir.display()))
}

/// Held while the daemon runs: one vrrp-agent per network namespace. A second one would
/// take the first one's addresses for leftovers of a crash and remove them, and both
/// would answer for the same virtual routers.
pub struct DaemonLock {
    _file: File,
    path: PathBuf,
}

impl DaemonLock {
    /// Take the lock of this namespace's runtime directory, or say who holds it.
    pub fn acquire() -> Result<DaemonLock> {
        Self::acquire_in(&run_dir())
    }

    pub fn acquire_in(dir: &Path) -> Result<DaemonLock> {
        ensure_private_dir(dir)?;
        let path = dir.join("vrrp-agent.pid");
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o644)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        // SAFETY: flock on a descriptor we own; no memory is passed.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            let err = std::io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
                let mut pid = String::new();
                let _ = file.read_to_string(&mut pid);
                bail!(
                    "another vrrp-agent (pid {}) is already running in this network namespace \
                     (lock {}); stop it first, or start this one in another namespace",
                    pid.trim(),
                    path.display()
                );
            }
            return Err(err).with_context(|| format!("locking {}", path.display()));
        }
        file.set_len(0)?;
        file.rewind()?;
        writeln!(file, "{}", std::process::id())?;
        Ok(DaemonLock { _file: file, path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for DaemonLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_named_namespace_gets_its_own_directory() {
        // A fake /run/netns whose entry is our own namespace file stands for
        // `ip netns exec NAME`: the directory is keyed on the name.
        let named = std::env::temp_dir().join(format!("vrrpx-netns-{}", std::process::id()));
        std::fs::create_dir_all(&named).unwrap();
        let entry = named.join("blue");
        let _ = std::fs::remove_file(&entry);
        std::os::unix::fs::symlink("/proc/self/ns/net", &entry).unwrap();
        let base = Path::new("/tmp/vrrpx-base");
        assert_eq!(run_dir_under(base, &named), base.join("netns").join("blue"));
        std::fs::remove_file(&entry).unwrap();
        // Without a name, the host's (or an unreadable init's) namespace is the base.
        let d = run_dir_under(base, &named);
        assert!(
            d == base || d.starts_with(base.join("netns/ns-")),
            "{}",
            d.display()
        );
        let _ = std::fs::remove_dir(&named);
    }

    #[test]
    fn a_second_lock_in_the_same_directory_is_refused_with_the_holders_pid() {
        let dir = std::env::temp_dir().join(format!("vrrpx-lock-{}", std::process::id()));
        let first = DaemonLock::acquire_in(&dir).unwrap();
        let err = DaemonLock::acquire_in(&dir)
            .err()
            .expect("second lock must fail");
        let text = format!("{err:#}");
        assert!(
            text.contains(&format!("pid {}", std::process::id())),
            "{text}"
        );
        drop(first);
        let again = DaemonLock::acquire_in(&dir).unwrap();
        drop(again);
        let _ = std::fs::remove_dir(&dir);
    }
}

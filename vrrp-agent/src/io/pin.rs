//! Pinned XDP links: the attachment outlives the agent, so the kernel guard can stop a
//! dead agent's host from answering for its addresses (docs/kernel-guard.md).
//!
//! A link pinned in bpffs stays attached until its pin is removed, whoever holds fds on
//! it. Each interface has one pin, named `MODE@IFINDEX@IFNAME`, in a directory keyed like
//! the runtime directory ([`crate::run_dir::pin_dir`]). A restarted agent swaps its own
//! program into the pinned link (one atomic `BPF_LINK_UPDATE`: the interface is never
//! unfiltered and never has two programs); a clean stop removes the pin, which detaches.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context, Result};
use aya::programs::links::{FdLink, PinnedLink};
use aya::programs::xdp::{XdpLink, XdpLinkId};
use aya::programs::Xdp;

/// Where a host without systemd's mount gets one (the usual place).
const SYS_BPFFS: &str = "/sys/fs/bpf";
/// `ip netns exec` gives the process a /sys of its own, and a bpffs mounted there goes
/// away with the process, pins and all. A bpffs the host mounts here is seen by every
/// namespace's agent, and is preferred when present.
pub const SHARED_BPFFS: &str = "/run/vrrpx/bpffs";
/// `statfs(2)` type of bpffs (linux/magic.h).
const BPF_FS_MAGIC: i64 = 0xcafe4a11;

fn is_bpffs(path: &Path) -> bool {
    let Ok(c) = CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: statfs fills the zeroed struct we own; the path is NUL-terminated.
    unsafe {
        let mut st: libc::statfs = std::mem::zeroed();
        libc::statfs(c.as_ptr(), &mut st) == 0 && st.f_type as i64 == BPF_FS_MAGIC
    }
}

/// Where pins may live, in order of preference.
pub const BPFFS_CANDIDATES: [&str; 2] = [SHARED_BPFFS, SYS_BPFFS];

/// The bpffs already mounted that pins go to, if any (nothing is mounted).
pub fn existing_bpffs() -> Option<PathBuf> {
    BPFFS_CANDIDATES
        .into_iter()
        .map(PathBuf::from)
        .find(|p| is_bpffs(p))
}

/// The bpffs pins go to, mounting one at /sys/fs/bpf when none is (and saying so).
pub fn bpffs() -> Result<PathBuf> {
    if let Some(p) = existing_bpffs() {
        return Ok(p);
    }
    let target = CString::new(SYS_BPFFS).expect("no NUL in a constant");
    // SAFETY: every pointer is a NUL-terminated string that outlives the call.
    let rc = unsafe {
        libc::mount(
            c"bpffs".as_ptr(),
            target.as_ptr(),
            c"bpf".as_ptr(),
            0,
            c"mode=0700".as_ptr().cast(),
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error())
            .with_context(|| format!("mounting bpffs at {SYS_BPFFS}"));
    }
    if crate::run_dir::in_named_or_private_namespace() {
        tracing::warn!(
            path = SYS_BPFFS,
            "mounted bpffs, but this /sys is this network namespace's own: the pinned XDP link \
             goes away with the agent; mount a bpffs at {SHARED_BPFFS} on the host to keep it"
        );
    } else {
        tracing::info!(
            path = SYS_BPFFS,
            "mounted bpffs (it was not mounted): the XDP link is pinned there"
        );
    }
    Ok(PathBuf::from(SYS_BPFFS))
}

/// One pin's name: attach mode, ifindex and interface name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PinName {
    pub mode: &'static str,
    pub ifindex: u32,
    pub ifname: String,
}

impl PinName {
    pub fn file_name(&self) -> String {
        format!("{}@{}@{}", self.mode, self.ifindex, self.ifname)
    }

    /// The interface name goes last: Linux allows `@` in it.
    pub fn parse(name: &str) -> Option<PinName> {
        let mut it = name.splitn(3, '@');
        let mode = match it.next()? {
            "driver" => "driver",
            "generic" => "generic",
            _ => return None,
        };
        let ifindex = it.next()?.parse().ok()?;
        let ifname = it.next()?.to_string();
        Some(PinName {
            mode,
            ifindex,
            ifname,
        })
    }
}

/// This namespace's pins: (path, parsed name). Unparsable entries are not ours to touch.
fn pins_in(dir: &Path) -> Vec<(PathBuf, PinName)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| {
            let name = PinName::parse(&e.file_name().to_string_lossy())?;
            Some((e.path(), name))
        })
        .collect()
}

fn remove_pin(path: &Path, why: &str) {
    match std::fs::remove_file(path) {
        Ok(()) => {
            tracing::info!(pin = %path.display(), "removed a pinned XDP link: {why}");
            remove_dir_if_empty(path);
        }
        Err(e) => {
            tracing::warn!(pin = %path.display(), error = %e, "could not remove a pinned XDP link")
        }
    }
}

/// After the last pin of a namespace went: its directory goes too, so nothing of ours is
/// left in bpffs once no vrrpx runs there. A directory still holding another interface's
/// pin is not empty and stays (the error says so and is not one).
fn remove_dir_if_empty(pin: &Path) {
    if let Some(dir) = pin.parent() {
        let _ = std::fs::remove_dir(dir);
    }
}

/// Remove this namespace's pins for interfaces not in `keep` (at start: configured no
/// more, or every one with `--no-xdp`): removing the pin detaches the program a dead
/// predecessor left. Mounts nothing.
pub fn remove_unconfigured(keep: &[&str]) {
    let Some(fs) = existing_bpffs() else {
        return;
    };
    for (path, name) in pins_in(&crate::run_dir::pin_dir(&fs)) {
        if !keep.contains(&name.ifname.as_str()) {
            remove_pin(&path, "its interface is not configured");
        }
    }
}

/// Remove this namespace's pin for one interface (when its receive path falls back to
/// the raw socket, a predecessor's program must not stay).
pub fn remove_for(ifindex: u32) {
    let Some(fs) = existing_bpffs() else {
        return;
    };
    for (path, name) in pins_in(&crate::run_dir::pin_dir(&fs)) {
        if name.ifindex == ifindex {
            remove_pin(&path, "this interface runs without XDP now");
        }
    }
}

/// A link that stays attached past this process until [`Drop`] removes its pin.
#[derive(Debug)]
pub struct KeptLink {
    path: PathBuf,
    /// Held so the link lives while we run, even if someone removes the pin.
    _link: FdLink,
}

impl KeptLink {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for KeptLink {
    /// A clean stop: the pin goes, and with our fd closed right after, the link detaches.
    fn drop(&mut self) {
        match std::fs::remove_file(&self.path) {
            Ok(()) => remove_dir_if_empty(&self.path),
            Err(e) => {
                tracing::warn!(pin = %self.path.display(), error = %e, "could not remove the pinned XDP link")
            }
        }
    }
}

/// The directory of this namespace's pins, created; `None` (said in the log) when there
/// is no bpffs to pin in: the link then goes with the process.
pub fn pin_dir(ifname: &str) -> Option<PathBuf> {
    let made = bpffs().and_then(|fs| {
        let dir = crate::run_dir::pin_dir(&fs);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(dir)
    });
    match made {
        Ok(dir) => Some(dir),
        Err(e) => {
            tracing::warn!(
                iface = ifname,
                error = format!("{e:#}"),
                "nowhere to pin the XDP link: it goes with the agent, and no kernel guard is kept"
            );
            None
        }
    }
}

/// Swap `prog` into the link a predecessor pinned for `ifindex`, if there is one that
/// still works; pins of the same interface name under another ifindex (the interface was
/// recreated) or that cannot be updated are removed. Returns the kept link and its mode.
pub fn adopt(
    prog: &mut Xdp,
    dir: &Path,
    ifindex: u32,
    ifname: &str,
) -> Option<(KeptLink, &'static str)> {
    let mut adopted = None;
    for (path, name) in pins_in(dir) {
        if name.ifindex != ifindex && name.ifname != ifname {
            continue;
        }
        if name.ifindex != ifindex || name.ifname != ifname || adopted.is_some() {
            remove_pin(&path, "its interface was recreated or renamed");
            continue;
        }
        match swap_into(prog, &path) {
            Ok(link) => {
                tracing::info!(
                    iface = ifname,
                    pin = %path.display(),
                    "adopted the XDP link a previous run pinned: this run's program replaced its program"
                );
                adopted = Some((
                    KeptLink {
                        path: path.clone(),
                        _link: link,
                    },
                    name.mode,
                ));
            }
            Err(e) => {
                tracing::warn!(
                    iface = ifname,
                    error = format!("{e:#}"),
                    "cannot adopt a pinned XDP link"
                );
                remove_pin(&path, "it could not be adopted");
            }
        }
    }
    adopted
}

fn swap_into(prog: &mut Xdp, path: &Path) -> Result<FdLink> {
    let pinned = PinnedLink::from_pin(path).map_err(|e| anyhow!("{e}"))?;
    let link =
        XdpLink::try_from(FdLink::from(pinned)).map_err(|e| anyhow!("not an XDP link: {e}"))?;
    let id = prog.attach_to_link(link).context("BPF_LINK_UPDATE")?;
    take_fd_link(prog, id)
}

fn take_fd_link(prog: &mut Xdp, id: XdpLinkId) -> Result<FdLink> {
    let link = prog.take_link(id)?;
    FdLink::try_from(link).map_err(|e| anyhow!("not a bpf_link (netlink attach): {e}"))
}

/// Pin the link `prog` just made on `ifindex` in `dir`, so it outlives this process. On
/// an error the link is gone (detached): the caller attaches again without a pin.
pub fn keep(
    prog: &mut Xdp,
    id: XdpLinkId,
    dir: &Path,
    ifindex: u32,
    ifname: &str,
    mode: &'static str,
) -> Result<KeptLink> {
    let name = PinName {
        mode,
        ifindex,
        ifname: ifname.to_string(),
    };
    let path = dir.join(name.file_name());
    // `adopt` removed every pin of this interface it did not take over; one left now is
    // no one's.
    if path.exists() {
        remove_pin(&path, "a stale pin under this name");
    }
    let pinned = take_fd_link(prog, id)?
        .pin(&path)
        .with_context(|| format!("pinning the XDP link at {}", path.display()))?;
    Ok(KeptLink {
        path,
        _link: FdLink::from(pinned),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pin_name_round_trips_and_keeps_an_at_sign_in_the_interface_name() {
        let n = PinName {
            mode: "driver",
            ifindex: 7,
            ifname: "eth0@x".into(),
        };
        assert_eq!(n.file_name(), "driver@7@eth0@x");
        assert_eq!(PinName::parse(&n.file_name()), Some(n));
        assert_eq!(PinName::parse("tc@7@eth0"), None, "not a mode of ours");
        assert_eq!(PinName::parse("generic@x@eth0"), None);
        assert_eq!(PinName::parse("generic@3"), None);
    }
}

//! Send crafted frames from inside a lab namespace. The sending thread joins the namespace
//! with setns(2) (network namespaces are per thread), so no helper process is needed.
//! Every send loop is bounded by a count and a deadline.

use std::ffi::CString;
use std::mem::{size_of, zeroed};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// Run `f` on a thread that has joined network namespace `ns` (a name under /run/netns).
pub fn in_netns<T: Send + 'static>(
    ns: &str,
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    let path = format!("/run/netns/{ns}");
    let file = std::fs::File::open(&path).with_context(|| format!("opening {path}"))?;
    std::thread::spawn(move || {
        // SAFETY: setns on a valid namespace fd; it only affects this thread.
        if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
            return Err(std::io::Error::last_os_error()).context("setns");
        }
        f()
    })
    .join()
    .map_err(|_| anyhow::anyhow!("injector thread panicked"))?
}

/// A raw AF_PACKET socket for sending whole Ethernet frames on one interface.
pub struct Injector {
    fd: OwnedFd,
    ifindex: i32,
}

impl Injector {
    /// Open on `ifname` in the calling thread's namespace.
    pub fn open(ifname: &str) -> Result<Injector> {
        let c = CString::new(ifname)?;
        // SAFETY: valid C string.
        let ifindex = unsafe { libc::if_nametoindex(c.as_ptr()) } as i32;
        if ifindex == 0 {
            bail!("no interface {ifname}");
        }
        // SAFETY: plain socket(2); checked below.
        let raw = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
        if raw < 0 {
            return Err(std::io::Error::last_os_error()).context("AF_PACKET socket");
        }
        // SAFETY: freshly created descriptor we own.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        Ok(Injector { fd, ifindex })
    }

    pub fn send(&self, frame: &[u8]) -> Result<()> {
        // SAFETY: zeroed sockaddr_ll is valid.
        let mut sll: libc::sockaddr_ll = unsafe { zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_ifindex = self.ifindex;
        sll.sll_halen = 6;
        sll.sll_addr[..6].copy_from_slice(&frame[..6]);
        // SAFETY: frame and sll are live for the call and their lengths are passed.
        let n = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                frame.as_ptr() as *const libc::c_void,
                frame.len(),
                0,
                &sll as *const libc::sockaddr_ll as *const libc::sockaddr,
                size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if n < 0 {
            return Err(std::io::Error::last_os_error()).context("sendto");
        }
        Ok(())
    }

    /// Send `frames` round-robin, `count` in all, at most `rate` per second (0: as fast as
    /// possible), giving up at `deadline`. Returns how many were sent.
    pub fn burst(
        &self,
        frames: &[Vec<u8>],
        count: usize,
        rate: u32,
        limit: Duration,
    ) -> Result<usize> {
        let start = Instant::now();
        let mut sent = 0;
        while sent < count && start.elapsed() < limit {
            if rate > 0 {
                let due = Duration::from_secs_f64(sent as f64 / rate as f64);
                if let Some(wait) = due.checked_sub(start.elapsed()) {
                    std::thread::sleep(wait);
                }
            }
            match self.send(&frames[sent % frames.len()]) {
                Ok(()) => sent += 1,
                // A full transmit queue: back off briefly and retry.
                Err(e)
                    if e.downcast_ref::<std::io::Error>()
                        .and_then(|e| e.raw_os_error())
                        == Some(libc::ENOBUFS) =>
                {
                    std::thread::sleep(Duration::from_micros(100));
                }
                Err(e) => return Err(e),
            }
        }
        Ok(sent)
    }
}

/// Open an injector on `ifname` inside namespace `ns` and send a bounded burst.
pub fn burst_in(
    ns: &str,
    ifname: &str,
    frames: Vec<Vec<u8>>,
    count: usize,
    rate: u32,
    limit: Duration,
) -> Result<usize> {
    let ifname = ifname.to_string();
    in_netns(ns, move || {
        Injector::open(&ifname)?.burst(&frames, count, rate, limit)
    })
}

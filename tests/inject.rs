//! Send crafted frames from inside a lab namespace. The sending thread joins the namespace
//! with setns(2) (network namespaces are per thread), so no helper process is needed.
//! Every send loop is bounded by a count and a deadline.

use std::time::{Duration, Instant};

use anyhow::Result;
use vrrp_agent::io::arp::GarpSender;
use vrrp_agent::io::iface::index_of;

/// Run `f` on a thread that has joined network namespace `ns` (a name under /run/netns).
pub fn in_netns<T: Send + 'static>(
    ns: &str,
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    crate::probe::spawn_in_netns(ns, f)?
        .join()
        .map_err(|_| anyhow::anyhow!("thread in {ns} panicked"))?
}

/// A raw AF_PACKET socket for sending whole Ethernet frames on one interface: the
/// agent's own frame sender (the one its gratuitous ARPs leave through).
pub struct Injector {
    sender: GarpSender,
}

impl Injector {
    /// Open on `ifname` in the calling thread's namespace.
    pub fn open(ifname: &str) -> Result<Injector> {
        let sender = GarpSender::open(index_of(ifname)?)?;
        Ok(Injector { sender })
    }

    pub fn send(&self, frame: &[u8]) -> Result<()> {
        self.sender.send_frame(frame)
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

/// [`burst_in`] of one frame, repeated, from eth0 of lab host `h`: how many were sent.
pub fn burst_from(
    lab: &crate::netns::Lab,
    h: &str,
    frame: Vec<u8>,
    count: usize,
    rate: u32,
    limit: Duration,
) -> usize {
    burst_in(&lab.ns(h), "eth0", vec![frame], count, rate, limit)
        .unwrap_or_else(|e| panic!("burst from {h} eth0: {e:#}"))
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

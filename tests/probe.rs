//! A client's view of a virtual address: UDP echo responders on the routers (each answers
//! with its own name) and a prober that sends a numbered datagram every millisecond and
//! records who answered when. The outage is the longest gap between two replies.

use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

/// Spawn `f` on a thread that joined network namespace `ns` (it runs on while the caller
/// goes on; join the handle for its result).
pub fn spawn_in_netns<T: Send + 'static>(
    ns: &str,
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<JoinHandle<Result<T>>> {
    let path = format!("/run/netns/{ns}");
    let file = std::fs::File::open(&path).with_context(|| format!("opening {path}"))?;
    Ok(std::thread::spawn(move || {
        // SAFETY: setns on a valid namespace fd; it affects only this thread.
        if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
            return Err(std::io::Error::last_os_error()).context("setns");
        }
        f()
    }))
}

/// A UDP echo responder; stops when dropped.
pub struct Echo {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Result<()>>>,
}

impl Echo {
    /// Answer every datagram on `port` in namespace `ns` with its first 8 bytes and `name`.
    pub fn start(ns: &str, name: &str, port: u16) -> Result<Echo> {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let name = name.as_bytes().to_vec();
        let thread = spawn_in_netns(ns, move || {
            let sock = UdpSocket::bind(("0.0.0.0", port))?;
            sock.set_read_timeout(Some(Duration::from_millis(50)))?;
            let mut buf = [0u8; 64];
            while !s.load(Ordering::Relaxed) {
                if let Ok((n, from)) = sock.recv_from(&mut buf) {
                    if n >= 8 {
                        let mut reply = buf[..8].to_vec();
                        reply.extend_from_slice(&name);
                        let _ = sock.send_to(&reply, from);
                    }
                }
            }
            Ok(())
        })?;
        Ok(Echo {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Echo {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Replies seen by a prober: (time since the probe started, responder name).
pub struct ProbeResult {
    pub sent: u64,
    pub replies: Vec<(Duration, String)>,
}

impl ProbeResult {
    /// The longest time without a reply, and the responders on either side of it.
    pub fn longest_gap(&self) -> Option<(Duration, String, String)> {
        self.replies
            .windows(2)
            .map(|w| (w[1].0 - w[0].0, w[0].1.clone(), w[1].1.clone()))
            .max_by_key(|g| g.0)
    }

    /// The gap during which the responder changed from `from` (None: any) to another one.
    pub fn handover(&self) -> Option<(Duration, String, String)> {
        self.replies
            .windows(2)
            .filter(|w| w[0].1 != w[1].1)
            .map(|w| (w[1].0 - w[0].0, w[0].1.clone(), w[1].1.clone()))
            .next()
    }
}

/// A running prober; `finish` stops it and returns what it saw.
pub struct Prober {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Result<ProbeResult>>,
}

impl Prober {
    /// Probe `target` from namespace `ns` every `period`, for at most `limit`.
    pub fn start(
        ns: &str,
        target: SocketAddr,
        period: Duration,
        limit: Duration,
    ) -> Result<Prober> {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let thread = spawn_in_netns(ns, move || {
            let sock = UdpSocket::bind(("0.0.0.0", 0))?;
            sock.set_nonblocking(true)?;
            let start = Instant::now();
            let mut sent = 0u64;
            let mut replies = Vec::new();
            let mut buf = [0u8; 64];
            while !s.load(Ordering::Relaxed) && start.elapsed() < limit {
                let due = period * sent as u32;
                if start.elapsed() >= due {
                    let _ = sock.send_to(&sent.to_be_bytes(), target);
                    sent += 1;
                }
                while let Ok((n, _)) = sock.recv_from(&mut buf) {
                    if n > 8 {
                        let name = String::from_utf8_lossy(&buf[8..n]).into_owned();
                        replies.push((start.elapsed(), name));
                    }
                }
                std::thread::sleep(Duration::from_micros(100));
            }
            Ok(ProbeResult { sent, replies })
        })?;
        Ok(Prober { stop, thread })
    }

    pub fn finish(self) -> Result<ProbeResult> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread
            .join()
            .map_err(|_| anyhow::anyhow!("prober panicked"))?
    }
}

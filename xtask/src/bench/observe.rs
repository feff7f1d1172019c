//! The client's instruments for the failover bench. Every socket is opened on a thread that
//! joined the client's namespace (a socket stays in the namespace it was made in) and every
//! arrival carries the kernel's receive timestamp (`SO_TIMESTAMPNS`, CLOCK_REALTIME), so
//! probe replies, VRRP adverts and gratuitous ARPs are on one clock and a late wake-up of
//! our own threads on a busy machine does not move them.
//!
//! - [`Prober`]: a numbered UDP datagram to VIP:port every millisecond; the routers'
//!   echo responders ([`vrrpx_tests::probe::Echo`]) answer with the seq and their name.
//! - [`Sniffer`]: VRRP adverts (group 224.0.0.18 joined on the client) and ARP announcing
//!   the VIP, to tell where a takeover's time went.

use std::io::IoSliceMut;
use std::mem::{size_of, zeroed};
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
use vrrpx_tests::inject::in_netns;

/// CLOCK_REALTIME now, nanoseconds: the clock `SO_TIMESTAMPNS` stamps arrivals with.
pub fn now_ns() -> i64 {
    // SAFETY: zeroed timespec is valid; clock_gettime writes it.
    let mut ts: libc::timespec = unsafe { zeroed() };
    // SAFETY: valid pointer to a timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts) };
    ts.tv_sec * 1_000_000_000 + ts.tv_nsec
}

fn setsockopt<T>(fd: RawFd, level: i32, name: i32, val: &T) -> Result<()> {
    // SAFETY: `val` is a live value of the size we pass.
    let r = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            val as *const T as *const libc::c_void,
            size_of::<T>() as libc::socklen_t,
        )
    };
    if r != 0 {
        return Err(std::io::Error::last_os_error()).context(format!("setsockopt {level}/{name}"));
    }
    Ok(())
}

/// Ask for kernel receive timestamps and bound blocking reads (so threads see `stop`).
fn prepare(fd: RawFd) -> Result<()> {
    setsockopt(fd, libc::SOL_SOCKET, libc::SO_TIMESTAMPNS, &1i32)?;
    let tv = libc::timeval {
        tv_sec: 0,
        tv_usec: 20_000,
    };
    setsockopt(fd, libc::SOL_SOCKET, libc::SO_RCVTIMEO, &tv)
}

/// One datagram and its kernel arrival time (falls back to now if the stamp is missing).
fn recv_stamped(fd: RawFd, buf: &mut [u8]) -> Option<(usize, i64)> {
    let mut iov = [IoSliceMut::new(buf)];
    let mut control = nix::cmsg_space!(libc::timespec);
    let msg = recvmsg::<()>(fd, &mut iov, Some(&mut control), MsgFlags::empty()).ok()?;
    let stamp = msg.cmsgs().ok()?.find_map(|c| match c {
        ControlMessageOwned::ScmTimestampns(ts) => Some(ts.tv_sec() * 1_000_000_000 + ts.tv_nsec()),
        _ => None,
    });
    Some((msg.bytes, stamp.unwrap_or_else(now_ns)))
}

/// Wait for a worker thread (once: the slot is emptied) and take what it returned; a
/// thread that panicked, or was already joined, gives the empty value.
fn join<T: Default>(slot: &mut Option<JoinHandle<T>>) -> T {
    slot.take().and_then(|t| t.join().ok()).unwrap_or_default()
}

/// One probe reply.
#[derive(Clone, Debug)]
pub struct Reply {
    pub seq: u64,
    /// The responder's name (`r1`, `r2`).
    pub from: String,
    pub rx_ns: i64,
}

/// What a prober did.
pub struct Probes {
    /// Send time of probe `seq` (index), CLOCK_REALTIME ns.
    pub sent_ns: Vec<i64>,
    /// In arrival order.
    pub replies: Vec<Reply>,
}

/// A running prober: one thread sends, one receives.
pub struct Prober {
    stop: Arc<AtomicBool>,
    replies: Arc<Mutex<Vec<Reply>>>,
    sender: Option<JoinHandle<Vec<i64>>>,
    receiver: Option<JoinHandle<()>>,
}

impl Prober {
    /// Send probe `seq` (8 bytes, big endian) to `target` every `period` from namespace `ns`,
    /// for at most `limit`. A sender that falls behind does not burst to catch up.
    pub fn start(
        ns: &str,
        target: SocketAddrV4,
        period: Duration,
        limit: Duration,
    ) -> Result<Self> {
        let sock = in_netns(ns, || Ok(UdpSocket::bind(("0.0.0.0", 0))?))?;
        prepare(sock.as_raw_fd())?;
        let rx = sock.try_clone()?;
        let stop = Arc::new(AtomicBool::new(false));
        let replies = Arc::new(Mutex::new(Vec::with_capacity(16_384)));

        let (s, out) = (stop.clone(), replies.clone());
        let receiver = std::thread::spawn(move || {
            let mut buf = [0u8; 64];
            while !s.load(Ordering::Relaxed) {
                let Some((n, rx_ns)) = recv_stamped(rx.as_raw_fd(), &mut buf) else {
                    continue;
                };
                if n > 8 {
                    let seq = u64::from_be_bytes(buf[..8].try_into().unwrap());
                    let from = String::from_utf8_lossy(&buf[8..n]).into_owned();
                    out.lock().unwrap().push(Reply { seq, from, rx_ns });
                }
            }
        });

        let s = stop.clone();
        let sender = std::thread::spawn(move || {
            let t0 = Instant::now();
            let mut next = t0;
            let mut sent = Vec::with_capacity(16_384);
            while !s.load(Ordering::Relaxed) && t0.elapsed() < limit {
                let now = Instant::now();
                if next > now {
                    std::thread::sleep(next - now);
                }
                let seq = sent.len() as u64;
                sent.push(now_ns());
                let _ = sock.send_to(&seq.to_be_bytes(), target);
                next += period;
                let now = Instant::now();
                if next + period < now {
                    next = now; // descheduled: resume the cadence from here
                }
            }
            sent
        });
        Ok(Prober {
            stop,
            replies,
            sender: Some(sender),
            receiver: Some(receiver),
        })
    }

    /// Whether some reply satisfies `f` yet.
    pub fn any(&self, f: impl Fn(&Reply) -> bool) -> bool {
        self.replies.lock().unwrap().iter().any(f)
    }

    pub fn count(&self, f: impl Fn(&Reply) -> bool) -> usize {
        self.replies.lock().unwrap().iter().filter(|r| f(r)).count()
    }

    pub fn finish(mut self) -> Probes {
        self.stop.store(true, Ordering::Relaxed);
        let sent_ns = join(&mut self.sender);
        join(&mut self.receiver);
        let replies = std::mem::take(&mut *self.replies.lock().unwrap());
        Probes { sent_ns, replies }
    }
}

impl Drop for Prober {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        join(&mut self.receiver);
        join(&mut self.sender);
    }
}

/// Ask each of `addrs` once (seq u64::MAX) until it answers, from namespace `ns`. This
/// checks the echo responders and lets each router learn the client's MAC (from the
/// client's ARP request), as routers on a live network already know their clients: the
/// first reply after a takeover then needs no ARP round trip of its own.
pub fn warm_up(ns: &str, addrs: &[Ipv4Addr], port: u16, limit: Duration) -> Result<()> {
    let addrs = addrs.to_vec();
    in_netns(ns, move || {
        let sock = UdpSocket::bind(("0.0.0.0", 0))?;
        sock.set_read_timeout(Some(Duration::from_millis(50)))?;
        let t0 = Instant::now();
        let mut buf = [0u8; 64];
        for a in addrs {
            loop {
                if t0.elapsed() > limit {
                    bail!("no echo from {a}:{port}");
                }
                sock.send_to(&u64::MAX.to_be_bytes(), (a, port))?;
                if let Ok((n, from)) = sock.recv_from(&mut buf) {
                    if n > 8 && from.ip() == std::net::IpAddr::V4(a) {
                        break;
                    }
                }
            }
        }
        Ok(())
    })
}

/// A VRRP advert the client saw.
#[derive(Clone, Debug)]
pub struct SeenAdvert {
    pub rx_ns: i64,
    pub src: Ipv4Addr,
    pub priority: u8,
    /// Max Adver Int, centiseconds (v3).
    pub interval_cs: u16,
}

/// An ARP frame whose sender address is the VIP (a gratuitous ARP or a reply for it).
#[derive(Clone, Debug)]
pub struct SeenArp {
    pub rx_ns: i64,
    pub sender_mac: [u8; 6],
    pub op: u16,
}

pub struct Sniffer {
    stop: Arc<AtomicBool>,
    adverts: Option<JoinHandle<Vec<SeenAdvert>>>,
    arps: Option<JoinHandle<Vec<SeenArp>>>,
}

/// Read datagrams from `fd` until `stop`, keeping what `parse` makes of them.
fn collect<T: Send + 'static>(
    fd: OwnedFd,
    stop: Arc<AtomicBool>,
    parse: impl Fn(&[u8], i64) -> Option<T> + Send + 'static,
) -> JoinHandle<Vec<T>> {
    std::thread::spawn(move || {
        let mut out = Vec::new();
        let mut buf = [0u8; 2048];
        while !stop.load(Ordering::Relaxed) {
            if let Some((n, ts)) = recv_stamped(fd.as_raw_fd(), &mut buf) {
                out.extend(parse(&buf[..n], ts));
            }
        }
        out
    })
}

fn socket(domain: i32, ty: i32, proto: i32) -> Result<OwnedFd> {
    // SAFETY: plain socket(2); checked below.
    let raw = unsafe { libc::socket(domain, ty | libc::SOCK_CLOEXEC, proto) };
    if raw < 0 {
        return Err(std::io::Error::last_os_error()).context("socket");
    }
    // SAFETY: a fresh descriptor we own.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

impl Sniffer {
    /// Watch `ifname` in namespace `ns` for VRRP adverts and for ARP announcing `vip`.
    pub fn start(ns: &str, ifname: &str, vip: Ipv4Addr) -> Result<Sniffer> {
        let ifname = std::ffi::CString::new(ifname)?;
        let (vrrp, arp) = in_netns(ns, move || {
            // SAFETY: valid C string.
            let ifindex = unsafe { libc::if_nametoindex(ifname.as_ptr()) } as i32;
            if ifindex == 0 {
                bail!("no interface {ifname:?}");
            }
            // IP protocol 112, with the VRRP group joined so the kernel delivers it here.
            let vrrp = socket(libc::AF_INET, libc::SOCK_RAW, 112)?;
            let mreq = libc::ip_mreqn {
                imr_multiaddr: libc::in_addr {
                    s_addr: u32::from(Ipv4Addr::new(224, 0, 0, 18)).to_be(),
                },
                imr_address: libc::in_addr { s_addr: 0 },
                imr_ifindex: ifindex,
            };
            setsockopt(
                vrrp.as_raw_fd(),
                libc::IPPROTO_IP,
                libc::IP_ADD_MEMBERSHIP,
                &mreq,
            )?;
            let arp = socket(
                libc::AF_PACKET,
                libc::SOCK_RAW,
                (libc::ETH_P_ARP as u16).to_be() as i32,
            )?;
            // SAFETY: zeroed sockaddr_ll is valid.
            let mut sll: libc::sockaddr_ll = unsafe { zeroed() };
            sll.sll_family = libc::AF_PACKET as u16;
            sll.sll_protocol = (libc::ETH_P_ARP as u16).to_be();
            sll.sll_ifindex = ifindex;
            // SAFETY: sll is live and its size is passed.
            let r = unsafe {
                libc::bind(
                    arp.as_raw_fd(),
                    &sll as *const libc::sockaddr_ll as *const libc::sockaddr,
                    size_of::<libc::sockaddr_ll>() as libc::socklen_t,
                )
            };
            if r != 0 {
                return Err(std::io::Error::last_os_error()).context("bind ARP socket");
            }
            Ok((vrrp, arp))
        })?;
        prepare(vrrp.as_raw_fd())?;
        prepare(arp.as_raw_fd())?;
        let stop = Arc::new(AtomicBool::new(false));
        let adverts = collect(vrrp, stop.clone(), |b, rx_ns| {
            // IPv4 header, then the VRRP header: ver/type, vrid, priority, count, rsvd/int.
            let ihl = usize::from(*b.first()? & 0x0f) * 4;
            let v = b.get(ihl..ihl + 8)?;
            (v[0] == 0x31).then(|| SeenAdvert {
                rx_ns,
                src: Ipv4Addr::new(b[12], b[13], b[14], b[15]),
                priority: v[2],
                interval_cs: u16::from_be_bytes([v[4], v[5]]) & 0x0fff,
            })
        });
        let vip = vip.octets();
        let arps = collect(arp, stop.clone(), move |b, rx_ns| {
            // Ethernet (14) + ARP: op 20..22, sender MAC 22..28, sender IP 28..32.
            if b.len() < 42 || b[28..32] != vip {
                return None;
            }
            Some(SeenArp {
                rx_ns,
                sender_mac: b[22..28].try_into().ok()?,
                op: u16::from_be_bytes([b[20], b[21]]),
            })
        });
        Ok(Sniffer {
            stop,
            adverts: Some(adverts),
            arps: Some(arps),
        })
    }

    pub fn finish(mut self) -> (Vec<SeenAdvert>, Vec<SeenArp>) {
        self.stop.store(true, Ordering::Relaxed);
        (join(&mut self.adverts), join(&mut self.arps))
    }
}

impl Drop for Sniffer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        join(&mut self.adverts);
        join(&mut self.arps);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_datagram_comes_with_its_kernel_arrival_time() {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        prepare(rx.as_raw_fd()).unwrap();
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        // The kernel turns receive stamping on for the whole stack lazily (a deferred
        // static key): until it is on, a datagram is stamped when read. One datagram
        // and a pause first, as a live socket has had long before it counts anything.
        tx.send_to(b"warm-up", rx.local_addr().unwrap()).unwrap();
        let mut buf = [0u8; 64];
        recv_stamped(rx.as_raw_fd(), &mut buf).expect("the warm-up datagram");
        std::thread::sleep(Duration::from_millis(100));
        let before = now_ns();
        tx.send_to(b"seq-and-name", rx.local_addr().unwrap())
            .unwrap();
        let sent = now_ns();
        // Read late: the stamp must still say when the datagram arrived, not when we read.
        std::thread::sleep(Duration::from_millis(50));
        let (n, stamp) = recv_stamped(rx.as_raw_fd(), &mut buf).expect("a datagram");
        assert_eq!(&buf[..n], b"seq-and-name");
        assert!(
            (before..=sent).contains(&stamp),
            "{before} <= {stamp} <= {sent}"
        );
        // Nothing more: the read is bounded by SO_RCVTIMEO and says so.
        assert!(recv_stamped(rx.as_raw_fd(), &mut buf).is_none());
    }
}

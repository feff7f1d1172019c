//! The socket adverts leave by: a raw IP socket for protocol 112 bound to one interface.
//! The kernel writes the IP header; we hand it the complete VRRP message (checksum
//! already computed by the caller) and say where it goes.
//!
//! RFC 5798 §5.1.1.3 / §5.1.2.3: TTL / hop limit 255, so receivers can tell the advert
//! has not crossed a router; §5.1.1.1 / §5.1.2.1: the source is the interface's primary
//! IPv4 address or its IPv6 link-local address (see [`super::netlink::Netlink::sources`]);
//! §5.1.1.2 / §5.1.2.2: the destination is 224.0.0.18 / ff02::12, or a unicast peer.
//!
//! The socket also joins the VRRP group on the interface, so a real NIC's multicast
//! filter passes adverts to the XDP program even when nothing reads this socket. An
//! open protocol-112 socket also stops the kernel answering unicast adverts with ICMP
//! protocol-unreachable. When the agent receives through XDP or AF_PACKET instead, open
//! with `receive = false`: a drop-all socket filter then keeps the queue empty.
//!
//! Over 600 lines because sending one message, a `sendmmsg` batch and receiving all build
//! the same per-message control data; they stay beside the one helper they share.

use std::mem::{size_of, zeroed};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::ops::Range;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use anyhow::{bail, Context, Result};

use super::iface::name_of;

/// IANA protocol number of VRRP.
pub const IPPROTO_VRRP: i32 = 112;
pub const VRRP_GROUP_V4: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);
pub const VRRP_GROUP_V6: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12);
/// DSCP CS6 (network control), as keepalived and FRR mark adverts.
const TOS_NETWORK_CONTROL: i32 = 0xc0;
/// Not in libc for glibc targets; the value is uapi `linux/in6.h`.
const IPV6_MULTICAST_ALL: i32 = 29;

/// `struct in6_pktinfo` (uapi `linux/ipv6.h`); libc does not define it for glibc.
#[repr(C)]
#[derive(Clone, Copy)]
struct In6Pktinfo {
    addr: [u8; 16],
    ifindex: u32,
}
const _: () = assert!(size_of::<In6Pktinfo>() == 20);

/// An advert the socket received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Received {
    pub src: IpAddr,
    pub dst: IpAddr,
    /// IPv4 TTL or IPv6 hop limit as it arrived.
    pub hop_limit: u8,
    /// Where the VRRP message sits in the caller's buffer (after the IPv4 header).
    pub payload: Range<usize>,
    /// Kernel arrival time on CLOCK_MONOTONIC, in nanoseconds: when the advert really
    /// came, however late userspace reads it.
    pub arrival_ns: u64,
}

/// One message of a [`AdvertSocket::send_batch`].
#[derive(Clone, Copy, Debug)]
pub struct Outgoing<'a> {
    /// The complete VRRP message, checksum included.
    pub msg: &'a [u8],
    pub dst: IpAddr,
    /// IP TTL / hop limit instead of 255 (`unicast_ttl`).
    pub ttl: Option<u8>,
}

/// A message with its destination address and control data, ready for a `msghdr`.
struct Addressed<'a> {
    iov: libc::iovec,
    name: libc::sockaddr_storage,
    name_len: usize,
    control: [u64; 8],
    control_len: usize,
    /// `iov` points into the caller's message.
    _msg: std::marker::PhantomData<&'a [u8]>,
}

impl Addressed<'_> {
    /// A `msghdr` pointing into `self`: valid while `self` stays where it is.
    fn header(&mut self) -> libc::msghdr {
        // SAFETY: msghdr is plain data; zero is a valid initial value.
        let mut msg: libc::msghdr = unsafe { zeroed() };
        msg.msg_name = &mut self.name as *mut _ as *mut libc::c_void;
        msg.msg_namelen = self.name_len as libc::socklen_t;
        msg.msg_iov = &mut self.iov;
        msg.msg_iovlen = 1;
        msg.msg_control = self.control.as_mut_ptr() as *mut libc::c_void;
        msg.msg_controllen = self.control_len;
        msg
    }
}

/// A raw protocol-112 socket on one interface.
pub struct AdvertSocket {
    fd: OwnedFd,
    ifindex: u32,
    src: IpAddr,
}

impl AdvertSocket {
    /// Open in the calling thread's namespace on `ifindex`, sending from `src` (its
    /// family picks IPv4 or IPv6). Needs CAP_NET_RAW. Non-blocking: register
    /// [`AsRawFd::as_raw_fd`] with the runtime to wait for [`AdvertSocket::recv`].
    pub fn open(ifindex: u32, src: IpAddr, receive: bool) -> Result<AdvertSocket> {
        let ifname = name_of(ifindex);
        let family = if src.is_ipv4() {
            libc::AF_INET
        } else {
            libc::AF_INET6
        };
        // SAFETY: plain socket(2) call; the result is checked before use.
        let raw = unsafe {
            libc::socket(
                family,
                libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                IPPROTO_VRRP,
            )
        };
        if raw < 0 {
            return Err(std::io::Error::last_os_error())
                .with_context(|| format!("{ifname}: VRRP raw socket (needs CAP_NET_RAW)"));
        }
        // SAFETY: raw is a freshly created descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let s = AdvertSocket { fd, ifindex, src };
        let ctx = |what: &str| format!("{ifname}: VRRP socket option {what}");
        if !receive {
            // First, so nothing queues before the socket is fully set up.
            s.attach_drop_all()
                .with_context(|| ctx("SO_ATTACH_FILTER"))?;
        }
        s.set_int(libc::SOL_SOCKET, libc::SO_BINDTOIFINDEX, ifindex as i32)
            .with_context(|| ctx("SO_BINDTOIFINDEX"))?;
        match src {
            IpAddr::V4(_) => s.setup_v4(&ctx)?,
            IpAddr::V6(_) => s.setup_v6(receive, &ctx)?,
        }
        if receive {
            s.set_int(libc::SOL_SOCKET, libc::SO_TIMESTAMPNS, 1)
                .with_context(|| ctx("SO_TIMESTAMPNS"))?;
        }
        Ok(s)
    }

    fn setup_v4(&self, ctx: &dyn Fn(&str) -> String) -> Result<()> {
        let ip = libc::IPPROTO_IP;
        // SAFETY: ip_mreqn is plain data; zero is a valid initial value.
        let mut mreqn: libc::ip_mreqn = unsafe { zeroed() };
        mreqn.imr_ifindex = self.ifindex as i32;
        self.set(ip, libc::IP_MULTICAST_IF, &mreqn)
            .with_context(|| ctx("IP_MULTICAST_IF"))?;
        self.set_int(ip, libc::IP_MULTICAST_TTL, 255)
            .with_context(|| ctx("IP_MULTICAST_TTL"))?;
        self.set_int(ip, libc::IP_TTL, 255)
            .with_context(|| ctx("IP_TTL"))?;
        self.set_int(ip, libc::IP_MULTICAST_LOOP, 0)
            .with_context(|| ctx("IP_MULTICAST_LOOP"))?;
        // Only the groups this socket joined, not every group the host is in.
        self.set_int(ip, libc::IP_MULTICAST_ALL, 0)
            .with_context(|| ctx("IP_MULTICAST_ALL"))?;
        self.set_int(ip, libc::IP_TOS, TOS_NETWORK_CONTROL)
            .with_context(|| ctx("IP_TOS"))?;
        mreqn.imr_multiaddr.s_addr = u32::from_ne_bytes(VRRP_GROUP_V4.octets());
        self.set(ip, libc::IP_ADD_MEMBERSHIP, &mreqn)
            .with_context(|| ctx("IP_ADD_MEMBERSHIP 224.0.0.18"))?;
        Ok(())
    }

    fn setup_v6(&self, receive: bool, ctx: &dyn Fn(&str) -> String) -> Result<()> {
        let ip6 = libc::IPPROTO_IPV6;
        self.set_int(ip6, libc::IPV6_MULTICAST_IF, self.ifindex as i32)
            .with_context(|| ctx("IPV6_MULTICAST_IF"))?;
        self.set_int(ip6, libc::IPV6_MULTICAST_HOPS, 255)
            .with_context(|| ctx("IPV6_MULTICAST_HOPS"))?;
        self.set_int(ip6, libc::IPV6_UNICAST_HOPS, 255)
            .with_context(|| ctx("IPV6_UNICAST_HOPS"))?;
        self.set_int(ip6, libc::IPV6_MULTICAST_LOOP, 0)
            .with_context(|| ctx("IPV6_MULTICAST_LOOP"))?;
        self.set_int(ip6, IPV6_MULTICAST_ALL, 0)
            .with_context(|| ctx("IPV6_MULTICAST_ALL"))?;
        self.set_int(ip6, libc::IPV6_TCLASS, TOS_NETWORK_CONTROL)
            .with_context(|| ctx("IPV6_TCLASS"))?;
        if receive {
            // The IPv6 header is not delivered: ask for hop limit and destination.
            self.set_int(ip6, libc::IPV6_RECVHOPLIMIT, 1)
                .with_context(|| ctx("IPV6_RECVHOPLIMIT"))?;
            self.set_int(ip6, libc::IPV6_RECVPKTINFO, 1)
                .with_context(|| ctx("IPV6_RECVPKTINFO"))?;
        }
        let mreq = libc::ipv6_mreq {
            ipv6mr_multiaddr: libc::in6_addr {
                s6_addr: VRRP_GROUP_V6.octets(),
            },
            ipv6mr_interface: self.ifindex,
        };
        self.set(ip6, libc::IPV6_ADD_MEMBERSHIP, &mreq)
            .with_context(|| ctx("IPV6_ADD_MEMBERSHIP ff02::12"))?;
        Ok(())
    }

    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// The source address adverts are sent from.
    pub fn source(&self) -> IpAddr {
        self.src
    }

    /// Send from `src` from now on (the primary address changed). Same family only.
    pub fn set_source(&mut self, src: IpAddr) -> Result<()> {
        if src.is_ipv4() != self.src.is_ipv4() {
            bail!(
                "{}: cannot send from {src} on a socket opened for {}",
                name_of(self.ifindex),
                self.src
            );
        }
        self.src = src;
        Ok(())
    }

    /// Send one VRRP message to `dst` (the group or a unicast peer), from our source,
    /// with TTL / hop limit 255. The source goes in IP_PKTINFO / IPV6_PKTINFO, so it
    /// must be an address of this host (the kernel refuses others).
    pub fn send(&self, vrrp_msg: &[u8], dst: IpAddr) -> Result<()> {
        self.send_with_ttl(vrrp_msg, dst, None)
    }

    /// As [`send`](Self::send), with this IP TTL / hop limit instead of 255 when `ttl` is
    /// given (keepalived's `unicast_ttl`: adverts to a unicast peer behind routers).
    pub fn send_with_ttl(&self, vrrp_msg: &[u8], dst: IpAddr, ttl: Option<u8>) -> Result<()> {
        let mut out = self.address(vrrp_msg, dst, ttl)?;
        let msg = out.header();
        // SAFETY: msg points into `out` (name, iov, control), live and sized as declared
        // until the call returns; the kernel only reads them.
        let n = unsafe { libc::sendmsg(self.fd.as_raw_fd(), &msg, 0) };
        if n < 0 {
            return Err(std::io::Error::last_os_error()).with_context(|| self.what(dst));
        }
        Ok(())
    }

    /// Send several VRRP messages in one `sendmmsg(2)`, each with the same destination
    /// address and control data (source in IP_PKTINFO / IPV6_PKTINFO, TTL) that
    /// [`send_with_ttl`](Self::send_with_ttl) gives it. Every message is tried: one the
    /// kernel refuses is skipped and reported with its index in `batch`; the others
    /// still go.
    pub fn send_batch(&self, batch: &[Outgoing<'_>]) -> Vec<(usize, anyhow::Error)> {
        let mut failed = Vec::new();
        // Addressed first and not moved afterwards: the headers point into them.
        let mut outs = Vec::with_capacity(batch.len());
        let mut index = Vec::with_capacity(batch.len());
        for (k, o) in batch.iter().enumerate() {
            match self.address(o.msg, o.dst, o.ttl) {
                Ok(out) => {
                    outs.push(out);
                    index.push(k);
                }
                Err(e) => failed.push((k, e)),
            }
        }
        let mut headers: Vec<libc::mmsghdr> = outs
            .iter_mut()
            .map(|o| libc::mmsghdr {
                msg_hdr: o.header(),
                msg_len: 0,
            })
            .collect();
        let mut at = 0;
        while at < headers.len() {
            let rest = &mut headers[at..];
            // SAFETY: every header points into `outs`, which lives (unmoved) until after
            // this loop; the kernel reads the messages and writes only msg_len.
            let n = unsafe {
                libc::sendmmsg(
                    self.fd.as_raw_fd(),
                    rest.as_mut_ptr(),
                    rest.len() as libc::c_uint,
                    0,
                )
            };
            if n < 0 {
                // sendmmsg reports an error only when the first message failed: skip it.
                let err = std::io::Error::last_os_error();
                let k = index[at];
                failed.push((k, anyhow::Error::new(err).context(self.what(batch[k].dst))));
                at += 1;
            } else {
                at += n as usize;
            }
        }
        failed.sort_by_key(|(k, _)| *k);
        failed
    }

    fn what(&self, dst: IpAddr) -> String {
        format!(
            "{}: sending an advert from {} to {dst}",
            name_of(self.ifindex),
            self.src
        )
    }

    /// The destination address and control data of one message to `dst`.
    fn address<'a>(
        &self,
        vrrp_msg: &'a [u8],
        dst: IpAddr,
        ttl: Option<u8>,
    ) -> Result<Addressed<'a>> {
        // Room for one pktinfo of either family and a TTL; u64 for cmsghdr alignment.
        let mut control = [0u64; 8];
        // SAFETY: sockaddr_storage is plain data; zero is a valid initial value.
        let mut name: libc::sockaddr_storage = unsafe { zeroed() };
        let (name_len, control_len) = match (self.src, dst) {
            (IpAddr::V4(src), IpAddr::V4(d)) => {
                // SAFETY: sockaddr_storage is large and aligned enough for sockaddr_in.
                let sin = unsafe { &mut *(&mut name as *mut _ as *mut libc::sockaddr_in) };
                sin.sin_family = libc::AF_INET as libc::sa_family_t;
                sin.sin_addr.s_addr = u32::from_ne_bytes(d.octets());
                let info = libc::in_pktinfo {
                    ipi_ifindex: self.ifindex as i32,
                    ipi_spec_dst: libc::in_addr {
                        s_addr: u32::from_ne_bytes(src.octets()),
                    },
                    ipi_addr: libc::in_addr { s_addr: 0 },
                };
                let mut len = put_cmsg(&mut control, 0, libc::IPPROTO_IP, libc::IP_PKTINFO, info);
                if let Some(t) = ttl {
                    len = put_cmsg(&mut control, len, libc::IPPROTO_IP, libc::IP_TTL, t as i32);
                }
                (size_of::<libc::sockaddr_in>(), len)
            }
            (IpAddr::V6(src), IpAddr::V6(d)) => {
                // SAFETY: sockaddr_storage is large and aligned enough for sockaddr_in6.
                let sin6 = unsafe { &mut *(&mut name as *mut _ as *mut libc::sockaddr_in6) };
                sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
                sin6.sin6_addr.s6_addr = d.octets();
                // Link-local peers and ff02::12 are only meaningful with a zone.
                sin6.sin6_scope_id = self.ifindex;
                let info = In6Pktinfo {
                    addr: src.octets(),
                    ifindex: self.ifindex,
                };
                let mut len = put_cmsg(
                    &mut control,
                    0,
                    libc::IPPROTO_IPV6,
                    libc::IPV6_PKTINFO,
                    info,
                );
                if let Some(t) = ttl {
                    len = put_cmsg(
                        &mut control,
                        len,
                        libc::IPPROTO_IPV6,
                        libc::IPV6_HOPLIMIT,
                        t as i32,
                    );
                }
                (size_of::<libc::sockaddr_in6>(), len)
            }
            _ => bail!(
                "{}: cannot send to {dst} from {}",
                name_of(self.ifindex),
                self.src
            ),
        };
        Ok(Addressed {
            iov: libc::iovec {
                iov_base: vrrp_msg.as_ptr() as *mut libc::c_void,
                iov_len: vrrp_msg.len(),
            },
            name,
            name_len,
            control,
            control_len,
            _msg: std::marker::PhantomData,
        })
    }

    /// Read one advert into `buf` without blocking (`WouldBlock` when none is queued).
    /// Only with `receive = true` at open.
    pub fn recv(&self, buf: &mut [u8]) -> std::io::Result<Received> {
        use std::io::{Error, ErrorKind};
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr() as *mut libc::c_void,
            iov_len: buf.len(),
        };
        let mut control = [0u64; 16];
        // SAFETY: sockaddr_storage is plain data; zero is a valid initial value.
        let mut name: libc::sockaddr_storage = unsafe { zeroed() };
        // SAFETY: msghdr is plain data; zero is a valid initial value.
        let mut msg: libc::msghdr = unsafe { zeroed() };
        msg.msg_name = &mut name as *mut _ as *mut libc::c_void;
        msg.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr() as *mut libc::c_void;
        msg.msg_controllen = size_of::<[u64; 16]>();
        // SAFETY: msg points at live buffers sized as declared.
        let n = unsafe { libc::recvmsg(self.fd.as_raw_fd(), &mut msg, libc::MSG_DONTWAIT) };
        if n < 0 {
            return Err(Error::last_os_error());
        }
        let n = n as usize;
        if msg.msg_flags & libc::MSG_TRUNC != 0 {
            return Err(Error::new(
                ErrorKind::InvalidData,
                format!("a {}-byte buffer truncated an advert", buf.len()),
            ));
        }
        let mono_now = clock_ns(libc::CLOCK_MONOTONIC);
        let real_now = clock_ns(libc::CLOCK_REALTIME);
        let mut arrival_ns = mono_now;
        let mut hop_limit = None;
        let mut dst6 = None;
        // SAFETY: the CMSG_* macros walk the control buffer the kernel filled, bounded by
        // msg_controllen; each payload is read unaligned with the type the kernel wrote.
        unsafe {
            let mut c = libc::CMSG_FIRSTHDR(&msg);
            while !c.is_null() {
                let data = libc::CMSG_DATA(c);
                match ((*c).cmsg_level, (*c).cmsg_type) {
                    (libc::SOL_SOCKET, libc::SCM_TIMESTAMPNS) => {
                        let t = std::ptr::read_unaligned(data as *const libc::timespec);
                        let real = t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64;
                        arrival_ns = mono_now.saturating_sub(real_now.saturating_sub(real));
                    }
                    (libc::IPPROTO_IPV6, libc::IPV6_HOPLIMIT) => {
                        hop_limit = Some(std::ptr::read_unaligned(data as *const i32) as u8);
                    }
                    (libc::IPPROTO_IPV6, libc::IPV6_PKTINFO) => {
                        let p = std::ptr::read_unaligned(data as *const In6Pktinfo);
                        dst6 = Some(Ipv6Addr::from(p.addr));
                    }
                    _ => {}
                }
                c = libc::CMSG_NXTHDR(&msg, c);
            }
        }
        let bad = |what: &str| Error::new(ErrorKind::InvalidData, what.to_string());
        if self.src.is_ipv4() {
            // An IPv4 raw socket delivers the IP header too.
            let h = buf.get(..n).ok_or_else(|| bad("short read"))?;
            if h.len() < 20 || h[0] >> 4 != 4 || usize::from(h[0] & 0x0f) * 4 > h.len() {
                return Err(bad("malformed IPv4 header"));
            }
            let ihl = usize::from(h[0] & 0x0f) * 4;
            Ok(Received {
                src: IpAddr::V4(Ipv4Addr::new(h[12], h[13], h[14], h[15])),
                dst: IpAddr::V4(Ipv4Addr::new(h[16], h[17], h[18], h[19])),
                hop_limit: h[8],
                payload: ihl..n,
                arrival_ns,
            })
        } else {
            // SAFETY: for an AF_INET6 socket the kernel fills msg_name with a sockaddr_in6.
            let sin6 = unsafe { &*(&name as *const _ as *const libc::sockaddr_in6) };
            Ok(Received {
                src: IpAddr::V6(Ipv6Addr::from(sin6.sin6_addr.s6_addr)),
                dst: IpAddr::V6(dst6.ok_or_else(|| bad("no IPV6_PKTINFO"))?),
                hop_limit: hop_limit.ok_or_else(|| bad("no IPV6_HOPLIMIT"))?,
                payload: 0..n,
                arrival_ns,
            })
        }
    }

    fn set<T>(&self, level: i32, name: i32, value: &T) -> std::io::Result<()> {
        // SAFETY: value is a live T and the length passed is its size.
        let rc = unsafe {
            libc::setsockopt(
                self.fd.as_raw_fd(),
                level,
                name,
                value as *const T as *const libc::c_void,
                size_of::<T>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            Err(std::io::Error::last_os_error())
        } else {
            Ok(())
        }
    }

    fn set_int(&self, level: i32, name: i32, value: i32) -> std::io::Result<()> {
        self.set(level, name, &value)
    }

    /// A classic BPF program of one instruction, "return 0": every packet is dropped
    /// before it is queued.
    fn attach_drop_all(&self) -> std::io::Result<()> {
        let mut insns = [libc::sock_filter {
            code: (libc::BPF_RET | libc::BPF_K) as u16,
            jt: 0,
            jf: 0,
            k: 0,
        }];
        let prog = libc::sock_fprog {
            len: insns.len() as u16,
            filter: insns.as_mut_ptr(),
        };
        self.set(libc::SOL_SOCKET, libc::SO_ATTACH_FILTER, &prog)
    }
}

/// Write one control message carrying `value` at the start of `buf`; returns the
/// control length to put in `msg_controllen`.
/// Write one control message at byte `offset` of `buf` (a multiple of the cmsg alignment,
/// as the lengths this returns are) and return the length used so far.
fn put_cmsg<T: Copy>(buf: &mut [u64; 8], offset: usize, level: i32, ty: i32, value: T) -> usize {
    let space = cmsg_space::<T>();
    assert!(
        offset.is_multiple_of(size_of::<u64>()) && offset + space <= size_of::<[u64; 8]>(),
        "control buffer too small"
    );
    // SAFETY: a zeroed msghdr pointing at buf + offset (8-byte aligned, `space` bytes
    // checked above) lets CMSG_FIRSTHDR / CMSG_DATA compute in-bounds pointers; the
    // header and value are written unaligned-safe within those bounds.
    unsafe {
        let mut msg: libc::msghdr = zeroed();
        msg.msg_control = (buf.as_mut_ptr() as *mut u8).add(offset) as *mut libc::c_void;
        msg.msg_controllen = space;
        let c = libc::CMSG_FIRSTHDR(&msg);
        (*c).cmsg_level = level;
        (*c).cmsg_type = ty;
        (*c).cmsg_len = libc::CMSG_LEN(size_of::<T>() as u32) as usize;
        std::ptr::write_unaligned(libc::CMSG_DATA(c) as *mut T, value);
    }
    offset + space
}

fn cmsg_space<T>() -> usize {
    // SAFETY: CMSG_SPACE only does arithmetic on its argument.
    unsafe { libc::CMSG_SPACE(size_of::<T>() as u32) as usize }
}

fn clock_ns(clock: libc::clockid_t) -> u64 {
    // SAFETY: timespec is plain data; zero is a valid initial value.
    let mut ts: libc::timespec = unsafe { zeroed() };
    // SAFETY: ts is a valid, writable timespec.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

impl AsRawFd for AdvertSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl AsFd for AdvertSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(target_pointer_width = "64")]
    fn pktinfo_control_message_is_laid_out_as_the_kernel_reads_it() {
        let mut buf = [0u64; 8];
        let info = In6Pktinfo {
            addr: [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
            ifindex: 7,
        };
        let len = put_cmsg(&mut buf, 0, libc::IPPROTO_IPV6, libc::IPV6_PKTINFO, info);
        // cmsghdr (16 bytes on 64-bit) + 20 bytes of data, padded to 8.
        assert_eq!(len, 16 + 24);
        let bytes: Vec<u8> = buf.iter().flat_map(|w| w.to_ne_bytes()).collect();
        assert_eq!(
            usize::from_ne_bytes(bytes[0..8].try_into().unwrap()),
            16 + 20
        );
        assert_eq!(
            i32::from_ne_bytes(bytes[8..12].try_into().unwrap()),
            libc::IPPROTO_IPV6
        );
        assert_eq!(
            i32::from_ne_bytes(bytes[12..16].try_into().unwrap()),
            libc::IPV6_PKTINFO
        );
        assert_eq!(&bytes[16..32], &info.addr);
        assert_eq!(u32::from_ne_bytes(bytes[32..36].try_into().unwrap()), 7);
    }

    #[test]
    fn a_ttl_control_message_follows_the_pktinfo_one() {
        let mut buf = [0u64; 8];
        let info = In6Pktinfo {
            addr: [0; 16],
            ifindex: 7,
        };
        let first = put_cmsg(&mut buf, 0, libc::IPPROTO_IPV6, libc::IPV6_PKTINFO, info);
        let len = put_cmsg(
            &mut buf,
            first,
            libc::IPPROTO_IPV6,
            libc::IPV6_HOPLIMIT,
            64i32,
        );
        // Second cmsghdr: 16 bytes, then a 4-byte int, padded to 8.
        assert_eq!(len, first + 16 + 8);
        let bytes: Vec<u8> = buf.iter().flat_map(|w| w.to_ne_bytes()).collect();
        let at = first;
        assert_eq!(
            usize::from_ne_bytes(bytes[at..at + 8].try_into().unwrap()),
            16 + 4,
            "cmsg_len"
        );
        assert_eq!(
            i32::from_ne_bytes(bytes[at + 8..at + 12].try_into().unwrap()),
            libc::IPPROTO_IPV6
        );
        assert_eq!(
            i32::from_ne_bytes(bytes[at + 12..at + 16].try_into().unwrap()),
            libc::IPV6_HOPLIMIT
        );
        assert_eq!(
            i32::from_ne_bytes(bytes[at + 16..at + 20].try_into().unwrap()),
            64
        );
    }
}

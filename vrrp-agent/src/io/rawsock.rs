//! The raw-socket receive path, for when XDP cannot be used: an AF_PACKET socket bound to
//! the interface reads every frame, and the very same classifier the XDP program runs
//! decides on it in userspace. Rejected frames cannot be dropped here (the stack has its
//! own copy); they are counted and ignored.
//!
//! The kernel takes the outer VLAN tag off a frame before a packet socket sees it and
//! reports it beside the data (`PACKET_AUXDATA`). The tag is put back first, so the
//! classifier sees the frame as it was on the wire, as XDP does, and leaves a tagged frame
//! to the VLAN device's own receive path.

use std::mem::{size_of, zeroed};
use std::os::fd::{AsRawFd, OwnedFd};

use anyhow::Result;
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use vrrp_ebpf::abi::*;
use vrrp_ebpf::classify::{classify, Frame, Verdict};
use vrrp_ebpf::state::{decide, slot_of, Decision, Heard, Ours};
use vrrp_ebpf::wire::{ETH_P_8021Q, VLAN_HLEN};

use super::packet_socket::PacketSocket;
use crate::filter::{Counters, PolicyTable};

/// A frame held in a byte slice.
pub struct SliceFrame<'a>(pub &'a [u8]);

impl Frame for SliceFrame<'_> {
    fn load<const N: usize>(&self, off: usize) -> Option<[u8; N]> {
        let end = off.checked_add(N)?;
        self.0.get(off..end)?.try_into().ok()
    }
}

/// Run the shared checks on one frame and count the verdict the way the XDP program does.
/// Returns the event for an accepted advert or a reported ARP.
pub fn process_frame(
    frame: &[u8],
    ifindex: u32,
    ts_ns: u64,
    policy: &PolicyTable,
    counters: &mut Counters,
) -> (Verdict, Option<Event>) {
    let mut ev = Event::zeroed();
    let verdict = classify(&SliceFrame(frame), &policy.view(ifindex), &mut ev);
    ev.ts_ns = ts_ns;
    ev.ifindex = ifindex;
    match verdict {
        Verdict::Pass => {
            counters.stats[STAT_NON_VRRP as usize] += 1;
            (verdict, None)
        }
        Verdict::Arp => {
            counters.stats[STAT_ARP_REPORTED as usize] += 1;
            (verdict, Some(ev))
        }
        Verdict::Tagged => {
            counters.stats[STAT_VLAN_PASSED as usize] += 1;
            (verdict, None)
        }
        // Counted only: a raw socket sees a copy and cannot stop the stack accepting it
        // (the engine warns that no_accept needs the XDP path).
        Verdict::ToVipRefused => {
            counters.stats[STAT_VIP_DROPPED as usize] += 1;
            (verdict, None)
        }
        Verdict::Vrrp { vrid, reason } => {
            counters.bump(vrid, reason as u32);
            // Rejected or foreign: counted, and no event (nothing for our routers).
            if reason != Reason::Accepted {
                return (verdict, None);
            }
            if ev.family == FAMILY_V4 && ev.version == 3 {
                let slot = if ev.csum_form == CSUM_PSEUDO {
                    SLOT_CSUM_PSEUDO
                } else {
                    SLOT_CSUM_PLAIN
                };
                counters.bump(vrid, slot);
            }
            (verdict, Some(ev))
        }
    }
}

/// The receive-state decision on an accepted advert's event, made the way the XDP program
/// makes it (the same [`decide`] on the same [`VridState`]), counting what is absorbed or
/// rate-limited. Without a state entry for the VRID the advert is reported.
pub fn apply_state(
    states: &mut std::collections::HashMap<VridKey, VridState>,
    ev: &Event,
    counters: &mut Counters,
) -> Decision {
    let Ok(family) = Family::try_from(ev.family) else {
        return Decision::Report;
    };
    let Some(st) = states.get_mut(&VridKey::new(ev.ifindex, ev.vrid, family)) else {
        return Decision::Report;
    };
    let d = decide(st, &Heard::of(ev), ev.ts_ns);
    if let Some(slot) = slot_of(d) {
        counters.bump(ev.vrid, slot);
    }
    d
}

/// Put a VLAN tag the kernel took off (`tpid`, `tci`) back after the two MAC addresses of
/// the `len`-byte frame in `buf`; returns the new length. `buf` must have room for
/// [`VLAN_HLEN`] more bytes (the read leaves it); a frame too short for the MAC addresses
/// is left as it is.
pub fn restore_vlan_tag(buf: &mut [u8], len: usize, tpid: u16, tci: u16) -> usize {
    const MACS: usize = 12;
    if len < MACS || len + VLAN_HLEN > buf.len() {
        return len;
    }
    buf.copy_within(MACS..len, MACS + VLAN_HLEN);
    buf[MACS..MACS + 2].copy_from_slice(&tpid.to_be_bytes());
    buf[MACS + 2..MACS + 4].copy_from_slice(&tci.to_be_bytes());
    len + VLAN_HLEN
}

/// CLOCK_MONOTONIC now, in nanoseconds: the clock XDP's `bpf_ktime_get_ns` reads.
pub fn monotonic_ns() -> u64 {
    clock_ns(libc::CLOCK_MONOTONIC)
}

/// CLOCK_REALTIME now, in nanoseconds (UTC, what `auth_hmac` timestamps carry).
pub fn realtime_ns() -> u64 {
    clock_ns(libc::CLOCK_REALTIME)
}

/// CLOCK_TAI now, in nanoseconds: the clock XDP's `bpf_ktime_get_tai_ns` reads.
pub fn tai_ns() -> u64 {
    clock_ns(libc::CLOCK_TAI)
}

fn clock_ns(clock: libc::clockid_t) -> u64 {
    // SAFETY: zeroed timespec is valid; clock_gettime only writes into it.
    let mut ts: libc::timespec = unsafe { zeroed() };
    // SAFETY: valid pointer to a timespec.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// An AF_PACKET socket on one interface running the shared checks.
pub struct RawFilter {
    fd: AsyncFd<OwnedFd>,
    ifindex: u32,
    policy: PolicyTable,
    counters: Counters,
    /// The receive state the XDP program would keep in its `STATE` map.
    states: std::collections::HashMap<VridKey, VridState>,
    buf: Vec<u8>,
}

impl RawFilter {
    pub fn open(ifindex: u32, policy: &PolicyTable) -> Result<RawFilter> {
        let sock = PacketSocket::receive_all(ifindex)?;
        // Our own transmissions are not adverts we received.
        sock.set_option(
            libc::SOL_PACKET,
            libc::PACKET_IGNORE_OUTGOING,
            1,
            "PACKET_IGNORE_OUTGOING",
        )?;
        // The VLAN tag the kernel strips, so it can be put back (see the module comment).
        sock.set_option(libc::SOL_PACKET, libc::PACKET_AUXDATA, 1, "PACKET_AUXDATA")?;
        // The kernel stamps each frame on arrival; we convert that to CLOCK_MONOTONIC.
        sock.set_option(libc::SOL_SOCKET, libc::SO_TIMESTAMPNS, 1, "SO_TIMESTAMPNS")?;
        // Room for a burst; best effort.
        let _ = sock.set_option(
            libc::SOL_SOCKET,
            libc::SO_RCVBUFFORCE,
            4 << 20,
            "SO_RCVBUFFORCE",
        );
        // SAFETY: the OwnedFd stays open and unchanged for as long as the AsyncFd owns it.
        let fd = unsafe { AsyncFd::register_with_interest(sock.into_fd(), Interest::READABLE) }
            .map_err(|e| e.into_parts().1)?;
        Ok(RawFilter {
            fd,
            ifindex,
            policy: policy.clone(),
            counters: Counters::default(),
            states: Default::default(),
            buf: vec![0; 65536],
        })
    }

    pub fn set_policy(&mut self, policy: &PolicyTable) {
        self.policy = policy.clone();
        self.states.retain(|k, _| policy.vrids.contains_key(k));
    }

    /// Our side of one virtual router (as [`crate::io::xdp::write_state`] writes it).
    pub fn set_state(&mut self, key: VridKey, ours: &Ours) {
        let prev = self.states.get(&key).copied();
        self.states.insert(key, ours.apply(prev));
    }

    pub fn state(&self, key: VridKey) -> Option<VridState> {
        self.states.get(&key).copied()
    }

    pub fn counters(&self) -> Counters {
        self.counters.clone()
    }

    /// One counter, without copying them all.
    pub fn counter(&self, vrid: u8, slot: u32) -> u64 {
        self.counters.slot(vrid, slot)
    }

    pub fn recount(&mut self, vrid: u8, reason: Reason) {
        self.counters.recount(vrid, reason, 1);
    }

    /// Read one frame without blocking; `None` when the socket is drained.
    fn read_one(&mut self) -> std::io::Result<Option<(usize, u64)>> {
        // Keep room to put a stripped VLAN tag back.
        let mut iov = libc::iovec {
            iov_base: self.buf.as_mut_ptr() as *mut libc::c_void,
            iov_len: self.buf.len() - VLAN_HLEN,
        };
        let mut control = [0u64; 16];
        // SAFETY: msghdr is plain data; zero is a valid initial value.
        let mut msg: libc::msghdr = unsafe { zeroed() };
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr() as *mut libc::c_void;
        msg.msg_controllen = size_of::<[u64; 16]>();
        // SAFETY: msg points at live buffers sized as declared.
        let n = unsafe { libc::recvmsg(self.fd.as_raw_fd(), &mut msg, libc::MSG_DONTWAIT) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            return if e.kind() == std::io::ErrorKind::WouldBlock {
                Ok(None)
            } else {
                Err(e)
            };
        }
        let mono_now = monotonic_ns();
        let real_now = clock_ns(libc::CLOCK_REALTIME);
        let mut ts = mono_now;
        let mut tag = None;
        // SAFETY: the CMSG_* macros walk the control buffer the kernel filled, bounded by
        // msg_controllen; each payload is read unaligned at the size its type has.
        unsafe {
            let mut c = libc::CMSG_FIRSTHDR(&msg);
            while !c.is_null() {
                let (level, kind) = ((*c).cmsg_level, (*c).cmsg_type);
                if level == libc::SOL_SOCKET && kind == libc::SCM_TIMESTAMPNS {
                    let t = std::ptr::read_unaligned(libc::CMSG_DATA(c) as *const libc::timespec);
                    let real = t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64;
                    // Arrival in CLOCK_MONOTONIC: now minus how long ago it arrived.
                    ts = mono_now.saturating_sub(real_now.saturating_sub(real));
                } else if level == libc::SOL_PACKET && kind == libc::PACKET_AUXDATA {
                    let aux = std::ptr::read_unaligned(
                        libc::CMSG_DATA(c) as *const libc::tpacket_auxdata
                    );
                    if aux.tp_status & libc::TP_STATUS_VLAN_VALID != 0 {
                        let tpid = if aux.tp_status & libc::TP_STATUS_VLAN_TPID_VALID != 0 {
                            aux.tp_vlan_tpid
                        } else {
                            ETH_P_8021Q
                        };
                        tag = Some((tpid, aux.tp_vlan_tci));
                    }
                }
                c = libc::CMSG_NXTHDR(&msg, c);
            }
        }
        let len = match tag {
            Some((tpid, tci)) => restore_vlan_tag(&mut self.buf, n as usize, tpid, tci),
            None => n as usize,
        };
        Ok(Some((len, ts)))
    }

    fn drain(&mut self, out: &mut Vec<Event>) -> std::io::Result<()> {
        while let Some((n, ts)) = self.read_one()? {
            let (_, ev) = process_frame(
                &self.buf[..n],
                self.ifindex,
                ts,
                &self.policy,
                &mut self.counters,
            );
            let Some(ev) = ev else { continue };
            if ev.kind == EVENT_ADVERT
                && apply_state(&mut self.states, &ev, &mut self.counters) != Decision::Report
            {
                continue;
            }
            out.push(ev);
        }
        Ok(())
    }

    /// Wait for frames and return the events among them.
    pub async fn recv(&mut self, out: &mut Vec<Event>) -> Result<()> {
        loop {
            let mut guard = self.fd.readable().await?;
            guard.clear_ready();
            drop(guard);
            self.drain(out)?;
            if !out.is_empty() {
                return Ok(());
            }
        }
    }

    pub fn try_recv(&mut self, out: &mut Vec<Event>) -> Result<()> {
        Ok(self.drain(out)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stripped_vlan_tag_goes_back_after_the_mac_addresses() {
        let frame: Vec<u8> = (0..20).collect();
        let mut buf = frame.clone();
        buf.resize(64, 0xee);
        let n = restore_vlan_tag(&mut buf, frame.len(), 0x88a8, 0x2064);
        assert_eq!(n, 24);
        assert_eq!(&buf[..12], &frame[..12]);
        assert_eq!(&buf[12..16], &[0x88, 0xa8, 0x20, 0x64]);
        assert_eq!(&buf[16..24], &frame[12..20]);
    }

    #[test]
    fn a_frame_without_room_or_without_mac_addresses_is_left_alone() {
        let mut short = [1u8; 16];
        assert_eq!(restore_vlan_tag(&mut short, 10, 0x8100, 5), 10);
        assert_eq!(short, [1u8; 16]);
        let mut full = [2u8; 20];
        assert_eq!(restore_vlan_tag(&mut full, 20, 0x8100, 5), 20);
        assert_eq!(full, [2u8; 20]);
    }
}

//! One receive path for the rest of the agent: XDP when it can be loaded, otherwise the
//! raw socket. Both produce the same events and the same counters, and each event is
//! converted once, here, into a typed [`Received`] for the engine and the monitor.

use std::net::{IpAddr, Ipv4Addr};

use anyhow::Result;
use vrrp_ebpf::abi::{Event, EventKind, Family, Reason, VridKey, EVENT_ADDR_BYTES};
use vrrp_ebpf::state::Ours;

use crate::filter::{Counters, PolicyTable};
use crate::io::rawsock::RawFilter;
use crate::io::xdp::{ModeChoice, XdpFilter};

/// What a receive path reports, typed: the only form the engine and the monitor read.
// Adverts are nearly every event and each is moved once, from the batch to its handler:
// boxing them would add an allocation per advert to save bytes on the rare ARP report.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq)]
pub enum Received {
    Advert(AdvertIn),
    Arp(ArpIn),
    MasterDown(MasterDownIn),
}

/// The kernel's Master_Down timer of one virtual router expired (docs/kernel-state.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MasterDownIn {
    pub ifindex: u32,
    pub family: Family,
    pub vrid: u8,
    /// When the timer fired, CLOCK_MONOTONIC ns.
    pub ts_ns: u64,
    /// Arrival time of the master's last absorbed advert then (0: none absorbed).
    pub last_ts: u64,
}

/// An advertisement that passed the receive checks (RFC 5798 §7.1).
#[derive(Clone, Debug, PartialEq)]
pub struct AdvertIn {
    pub ifindex: u32,
    pub family: Family,
    /// 2 or 3.
    pub version: u8,
    pub vrid: u8,
    /// The IP source: the sending router's primary address.
    pub src: IpAddr,
    pub priority: u8,
    /// Max Adver Int in centiseconds (v2 seconds scaled by 100).
    pub interval_cs: u16,
    /// Kernel arrival time, CLOCK_MONOTONIC nanoseconds.
    pub ts_ns: u64,
    pub ttl: u8,
    /// For v3 over IPv4, the form that verified (`CSUM_PSEUDO` or `CSUM_PLAIN`).
    pub csum_form: u8,
    /// The advert's `count` field, which may exceed `addrs.len()` (the event holds the
    /// first [`EVENT_ADDR_BYTES`] of the list).
    pub addr_count: u8,
    pub addrs: Vec<IpAddr>,
    /// Ethernet source MAC.
    pub mac: [u8; 6],
    /// The event as the filter filled it: the `auth_hmac` check needs the header,
    /// addresses and trailer bytes exactly as they were sent.
    pub raw: Event,
}

/// An ARP packet naming one of the virtual addresses (as sender or target).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArpIn {
    pub ifindex: u32,
    pub ts_ns: u64,
    /// ARP operation (1 request, 2 reply; RFC 826).
    pub op: u16,
    /// The sender hardware address.
    pub mac: [u8; 6],
    pub sender: Ipv4Addr,
    pub target: Ipv4Addr,
}

/// Why a ring-buffer record is not an event the agent understands: the program and the
/// agent disagree about the ABI (never in a build of one tree).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BadEvent {
    Kind(u8),
    Family(u8),
}

impl std::fmt::Display for BadEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BadEvent::Kind(k) => write!(f, "event of unknown kind {k}"),
            BadEvent::Family(b) => write!(f, "advert event of unknown family {b}"),
        }
    }
}

/// An address from its wire bytes (the first 4 of `b` for IPv4, 16 for IPv6).
pub fn addr_from(family: Family, b: &[u8; 16]) -> IpAddr {
    match family {
        Family::V4 => IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3])),
        Family::V6 => IpAddr::V6((*b).into()),
    }
}

fn v4(b: &[u8; 16]) -> Ipv4Addr {
    Ipv4Addr::new(b[0], b[1], b[2], b[3])
}

impl TryFrom<&Event> for Received {
    type Error = BadEvent;

    fn try_from(ev: &Event) -> Result<Received, BadEvent> {
        match EventKind::try_from(ev.kind).map_err(BadEvent::Kind)? {
            EventKind::Arp => Ok(Received::Arp(ArpIn {
                ifindex: ev.ifindex,
                ts_ns: ev.ts_ns,
                op: ev.arp_op,
                mac: ev.mac,
                sender: v4(&ev.src),
                target: v4(&ev.dst),
            })),
            EventKind::MasterDown => Ok(Received::MasterDown(MasterDownIn {
                ifindex: ev.ifindex,
                family: Family::try_from(ev.family).map_err(BadEvent::Family)?,
                vrid: ev.vrid,
                ts_ns: ev.ts_ns,
                last_ts: ev.last_ts,
            })),
            EventKind::Advert => {
                let family = Family::try_from(ev.family).map_err(BadEvent::Family)?;
                let width = family.addr_len();
                let shown = (ev.addr_count as usize).min(EVENT_ADDR_BYTES / width);
                let addrs = ev.addrs[..shown * width]
                    .chunks_exact(width)
                    .map(|b| {
                        let mut a = [0u8; 16];
                        a[..width].copy_from_slice(b);
                        addr_from(family, &a)
                    })
                    .collect();
                Ok(Received::Advert(AdvertIn {
                    ifindex: ev.ifindex,
                    family,
                    version: ev.version,
                    vrid: ev.vrid,
                    src: addr_from(family, &ev.src),
                    priority: ev.priority,
                    interval_cs: ev.interval_cs,
                    ts_ns: ev.ts_ns,
                    ttl: ev.ttl,
                    csum_form: ev.csum_form,
                    addr_count: ev.addr_count,
                    addrs,
                    mac: ev.mac,
                    raw: *ev,
                }))
            }
        }
    }
}

/// The current master's adverts a receive path absorbed (docs/kernel-state.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Absorbed {
    /// Kernel arrival time of the newest one.
    pub last_ts: u64,
    /// Time between the newest two, and the longest time between two of them (0 while
    /// fewer than two were absorbed).
    pub last_gap_ns: u64,
    pub max_gap_ns: u64,
}

pub struct PathOptions {
    /// Never try XDP.
    pub no_xdp: bool,
    pub xdp_mode: ModeChoice,
    /// Pin the XDP link so the kernel guard outlives the agent (the daemon; not the
    /// passive monitor): docs/kernel-guard.md.
    pub pin: bool,
}

pub enum ReceivePath {
    Xdp(XdpFilter),
    Raw(RawFilter),
}

impl ReceivePath {
    /// Open the best path available on `ifindex`, logging which one is live and why.
    pub fn open(
        iface: &str,
        ifindex: u32,
        policy: &PolicyTable,
        opts: &PathOptions,
    ) -> Result<ReceivePath> {
        if !opts.no_xdp {
            match XdpFilter::attach(iface, ifindex, policy, opts.xdp_mode, opts.pin) {
                Ok(f) => {
                    tracing::info!(
                        iface,
                        path = "xdp",
                        mode = f.mode(),
                        pin = f.pin_path().map(|p| p.display().to_string()),
                        "receive path: XDP filter attached"
                    );
                    return Ok(ReceivePath::Xdp(f));
                }
                Err(e) => {
                    tracing::warn!(
                        iface,
                        error = format!("{e:#}"),
                        "XDP unavailable; falling back to the raw-socket path"
                    );
                }
            }
        }
        if opts.pin {
            // A predecessor's pinned program must not keep guarding our addresses.
            crate::io::pin::remove_for(ifindex);
        }
        let raw = RawFilter::open(ifindex, policy)?;
        tracing::info!(
            iface,
            path = "raw-socket",
            "receive path: raw socket with userspace checks; no kernel guard: if the agent \
             dies, this host keeps answering for its addresses"
        );
        Ok(ReceivePath::Raw(raw))
    }

    /// "xdp (driver)", "xdp (generic)" or "raw-socket".
    pub fn describe(&self) -> String {
        match self {
            ReceivePath::Xdp(f) => format!("xdp ({})", f.mode()),
            ReceivePath::Raw(_) => "raw-socket".to_string(),
        }
    }

    pub fn set_policy(&mut self, policy: &PolicyTable) -> Result<()> {
        match self {
            ReceivePath::Xdp(f) => f.set_policy(policy),
            ReceivePath::Raw(f) => {
                f.set_policy(policy);
                Ok(())
            }
        }
    }

    /// Refresh the kernel guard's heartbeat when due; the raw-socket path has no guard.
    pub fn heartbeat(&mut self, now_ns: u64) {
        if let ReceivePath::Xdp(f) = self {
            if let Err(e) = f.heartbeat(now_ns) {
                tracing::warn!(
                    error = format!("{e:#}"),
                    "kernel guard heartbeat not written"
                );
            }
        }
    }

    pub fn counters(&self) -> Result<Counters> {
        match self {
            ReceivePath::Xdp(f) => f.counters(),
            ReceivePath::Raw(f) => Ok(f.counters()),
        }
    }

    /// Our side of one virtual router, for the path's receive decisions
    /// (docs/kernel-state.md).
    pub fn set_state(&mut self, key: VridKey, ours: &Ours) -> Result<()> {
        match self {
            ReceivePath::Xdp(f) => f.set_state(key, ours),
            ReceivePath::Raw(f) => {
                f.set_state(key, ours);
                Ok(())
            }
        }
    }

    /// One counter of `vrid` now (0 if it cannot be read).
    pub fn counter(&self, vrid: u8, slot: u32) -> u64 {
        match self {
            ReceivePath::Xdp(f) => f.counter(vrid, slot).unwrap_or(0),
            ReceivePath::Raw(f) => f.counter(vrid, slot),
        }
    }

    /// Whether the path reports Master_Down itself (the XDP program's kernel timer): the
    /// raw-socket path leaves it to the state machine's own deadline.
    pub fn times_master_down(&self) -> bool {
        matches!(self, ReceivePath::Xdp(_))
    }

    /// What the path absorbed from the current master of `key` since our role was last
    /// written: `None` when nothing.
    pub fn absorbed(&self, key: VridKey) -> Option<Absorbed> {
        let st = match self {
            ReceivePath::Xdp(f) => f.state(key),
            ReceivePath::Raw(f) => f.state(key),
        }?;
        (st.last_ts != 0).then_some(Absorbed {
            last_ts: st.last_ts,
            last_gap_ns: st.last_gap_ns,
            max_gap_ns: st.max_gap_ns,
        })
    }

    /// Move one advert of `vrid` the path counted as accepted to `reason`: the agent
    /// refused it after the filter passed it (an `auth_hmac` check XDP cannot make).
    pub fn recount(&mut self, vrid: u8, reason: Reason) {
        match self {
            ReceivePath::Xdp(f) => f.recount(vrid, reason),
            ReceivePath::Raw(f) => f.recount(vrid, reason),
        }
    }

    /// Wait for at least one event and append everything available to `out`.
    pub async fn recv(&mut self, out: &mut Vec<Event>) -> Result<()> {
        match self {
            ReceivePath::Xdp(f) => f.recv(out).await,
            ReceivePath::Raw(f) => f.recv(out).await,
        }
    }

    /// Wait for events and return them as one batch (for callers that poll several paths).
    pub async fn next_batch(&mut self) -> Result<Vec<Event>> {
        let mut v = Vec::new();
        self.recv(&mut v).await?;
        Ok(v)
    }

    /// Append whatever is already queued, without waiting.
    pub fn try_recv(&mut self, out: &mut Vec<Event>) -> Result<()> {
        match self {
            ReceivePath::Xdp(f) => {
                f.try_recv(out);
                Ok(())
            }
            ReceivePath::Raw(f) => f.try_recv(out),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vrrp_ebpf::abi::{EVENT_ADVERT, EVENT_ARP, FAMILY_V4, FAMILY_V6};

    #[test]
    fn an_ipv6_advert_event_becomes_a_typed_advert_with_its_addresses() {
        let mut ev = Event::zeroed();
        ev.kind = EVENT_ADVERT;
        ev.family = FAMILY_V6;
        ev.version = 3;
        ev.vrid = 51;
        ev.priority = 150;
        ev.interval_cs = 100;
        ev.ts_ns = 42;
        ev.ifindex = 3;
        ev.addr_count = 2;
        ev.src = "fe80::1".parse::<std::net::Ipv6Addr>().unwrap().octets();
        ev.addrs[..16].copy_from_slice(
            &"2001:db8::1"
                .parse::<std::net::Ipv6Addr>()
                .unwrap()
                .octets(),
        );
        ev.addrs[16..32].copy_from_slice(
            &"2001:db8::2"
                .parse::<std::net::Ipv6Addr>()
                .unwrap()
                .octets(),
        );
        let Ok(Received::Advert(a)) = Received::try_from(&ev) else {
            panic!("not an advert");
        };
        assert_eq!(a.family, Family::V6);
        assert_eq!(a.src, "fe80::1".parse::<IpAddr>().unwrap());
        assert_eq!(
            (a.vrid, a.priority, a.interval_cs, a.ts_ns, a.ifindex),
            (51, 150, 100, 42, 3)
        );
        let want: Vec<IpAddr> = vec![
            "2001:db8::1".parse().unwrap(),
            "2001:db8::2".parse().unwrap(),
        ];
        assert_eq!(a.addrs, want);
    }

    #[test]
    fn an_address_count_beyond_what_the_event_holds_shows_only_the_held_addresses() {
        let mut ev = Event::zeroed();
        ev.kind = EVENT_ADVERT;
        ev.family = FAMILY_V4;
        ev.addr_count = 40;
        let Ok(Received::Advert(a)) = Received::try_from(&ev) else {
            panic!("not an advert");
        };
        assert_eq!((a.addr_count, a.addrs.len()), (40, EVENT_ADDR_BYTES / 4));
    }

    #[test]
    fn an_arp_event_names_sender_and_target() {
        let mut ev = Event::zeroed();
        ev.kind = EVENT_ARP;
        ev.family = FAMILY_V4;
        ev.arp_op = 2;
        ev.mac = [2, 0, 0, 0, 0, 9];
        ev.src[..4].copy_from_slice(&[10, 9, 0, 100]);
        ev.dst[..4].copy_from_slice(&[10, 9, 0, 7]);
        let got = Received::try_from(&ev).unwrap();
        assert_eq!(
            got,
            Received::Arp(ArpIn {
                ifindex: 0,
                ts_ns: 0,
                op: 2,
                mac: [2, 0, 0, 0, 0, 9],
                sender: Ipv4Addr::new(10, 9, 0, 100),
                target: Ipv4Addr::new(10, 9, 0, 7),
            })
        );
    }

    #[test]
    fn unknown_kinds_and_families_are_refused_not_guessed() {
        let mut ev = Event::zeroed();
        assert_eq!(Received::try_from(&ev), Err(BadEvent::Kind(0)));
        ev.kind = EVENT_ADVERT;
        ev.family = 5;
        assert_eq!(Received::try_from(&ev), Err(BadEvent::Family(5)));
    }
}

//! Types shared between the XDP program and the agent: map keys and values, counter
//! layout and the ring-buffer event. Everything is `#[repr(C)]`, plain old data, with its
//! size pinned by a compile-time assertion so the two sides can never disagree silently.
//!
//! Over 600 lines on purpose: the ABI is defined once, here, so the kernel and user sides
//! cannot drift; splitting it would scatter the size assertions that keep them in step.

/// Map names, as the agent looks them up in the loaded object. The XDP program's map
/// statics carry exactly these names (aya names a map after its static), and
/// tests/xdp_verdicts.rs checks that the built object holds every one of [`MAP_NAMES`].
pub const MAP_IFACES: &str = "IFACES";
pub const MAP_VRIDS: &str = "VRIDS";
pub const MAP_VIPS: &str = "VIPS";
pub const MAP_PEERS: &str = "PEERS";
pub const MAP_COUNTERS: &str = "COUNTERS";
pub const MAP_STATS: &str = "STATS";
pub const MAP_EVENTS: &str = "EVENTS";
/// The per-CPU slot where the XDP program builds an event (never read by the agent).
pub const MAP_SCRATCH: &str = "SCRATCH";
/// Per-VRID receive state ([`VridState`]), shared by the agent and the program.
pub const MAP_STATE: &str = "STATE";
pub const MAP_NAMES: [&str; 9] = [
    MAP_IFACES,
    MAP_VRIDS,
    MAP_VIPS,
    MAP_PEERS,
    MAP_COUNTERS,
    MAP_STATS,
    MAP_EVENTS,
    MAP_SCRATCH,
    MAP_STATE,
];
/// Name of the XDP program function in the object.
pub const PROGRAM_NAME: &str = "vrrp_xdp";

/// Capacity of the hash maps the agent fills.
pub const MAX_IFACES: u32 = 64;
pub const MAX_VRIDS: u32 = 1024;
pub const MAX_VIPS: u32 = 4096;
pub const MAX_PEERS: u32 = 4096;
/// Ring buffer size in bytes (a power of two and a multiple of the page size).
pub const EVENTS_BYTES: u32 = 256 * 1024;

/// What became of a VRRP packet: accepted, passed on as another router's, or rejected by
/// one of the receive checks. The numeric value is the counter slot. The rejections are in
/// the order of the receive checks (RFC 5798 §7.1, RFC 3768 §7.1); whether the packet is
/// ours at all ([`Reason::Foreign`], check 5) is decided before any of them.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Reason {
    Accepted = 0,
    /// IP TTL / hop limit is not 255 (RFC 5798 §7.1 first check).
    Ttl = 1,
    /// Version field not 3 (or not 2 for a v2 instance), or v2 over IPv6.
    Version = 2,
    /// Type is not 1 (advertisement).
    Type = 3,
    /// Truncated: IP or VRRP length does not cover the header and the addresses, or count 0.
    Length = 4,
    /// Checksum does not verify in the form the instance expects.
    Checksum = 5,
    /// Not ours: its VRID (in its address family) has no policy on the receiving interface,
    /// which does not take every VRID either. RFC 5798 §7.1 check 5 discards it only for our
    /// own state machines: it may be another daemon's, so it passes to the kernel stack
    /// untouched, whatever the other checks would say (its owner applies them).
    Foreign = 6,
    /// v2 authentication type or password mismatch (RFC 3768 §7.1).
    Auth = 7,
    /// v2 advertisement interval differs from ours (RFC 3768 §7.1).
    Interval = 8,
    /// An instance with unicast peers heard a source that is not one of them (keepalived's
    /// `check_unicast_src`, always on here): whoever can route protocol 112 to us could
    /// otherwise make the master yield (priority 255) or the backup take over (priority 0).
    NotPeer = 9,
    /// `auth_hmac`: the trailer is missing where it is required (`enforce`), or its shape is
    /// wrong (length, scheme, reserved bits) or it names a key id we do not hold.
    HmacTrailer = 10,
    /// `auth_hmac` with `anti_replay time`: the trailer's timestamp is outside the window.
    HmacStale = 11,
    /// `auth_hmac`: the HMAC does not verify (checked in the agent; XDP cannot hash).
    HmacInvalid = 12,
    /// `auth_hmac`: the sequence is not newer than the last one verified from that sender.
    HmacReplay = 13,
}

impl Reason {
    pub const ALL: [Reason; 14] = [
        Reason::Accepted,
        Reason::Ttl,
        Reason::Version,
        Reason::Type,
        Reason::Length,
        Reason::Checksum,
        Reason::Foreign,
        Reason::Auth,
        Reason::Interval,
        Reason::NotPeer,
        Reason::HmacTrailer,
        Reason::HmacStale,
        Reason::HmacInvalid,
        Reason::HmacReplay,
    ];

    /// The counter name used in logs, JSON and metrics.
    pub const fn name(self) -> &'static str {
        match self {
            Reason::Accepted => "accepted",
            Reason::Ttl => "ttl",
            Reason::Version => "version",
            Reason::Type => "type",
            Reason::Length => "length",
            Reason::Checksum => "checksum",
            Reason::Foreign => "foreign",
            Reason::Auth => "auth",
            Reason::Interval => "interval",
            Reason::NotPeer => "not_peer",
            Reason::HmacTrailer => "hmac_trailer",
            Reason::HmacStale => "hmac_stale",
            Reason::HmacInvalid => "hmac_invalid",
            Reason::HmacReplay => "hmac_replay",
        }
    }

    /// Whether the packet failed a check of one of our routers and is dropped. Accepted and
    /// foreign packets pass; logs of rejections and rejection metrics leave them out.
    pub const fn is_rejection(self) -> bool {
        !matches!(self, Reason::Accepted | Reason::Foreign)
    }
}

/// Counter slots per VRID in the `COUNTERS` per-CPU array: one per [`Reason`], then the
/// checksum forms seen on accepted v3-over-IPv4 adverts.
pub const SLOT_CSUM_PSEUDO: u32 = 14;
pub const SLOT_CSUM_PLAIN: u32 = 15;
/// Accepted adverts the receive state absorbed: the current master's unchanged advert,
/// which only refreshed [`VridState::last_ts`] and woke nobody (docs/kernel-state.md).
pub const SLOT_ABSORBED: u32 = 16;
/// Accepted adverts heard while Master beyond the one per advert interval the RFC 9568
/// reply needs: counted, not reported.
pub const SLOT_RATE_LIMITED: u32 = 17;
pub const SLOTS_PER_VRID: u32 = 18;
/// Adverts too short to carry a VRID are counted under VRID 0, which is never valid.
pub const COUNTER_ENTRIES: u32 = 256 * SLOTS_PER_VRID;

/// Index of a counter in `COUNTERS`.
#[inline(always)]
pub const fn counter_index(vrid: u8, slot: u32) -> u32 {
    (vrid as u32) * SLOTS_PER_VRID + slot
}

/// Global statistics in the `STATS` per-CPU array.
pub const STAT_RINGBUF_FULL: u32 = 0;
pub const STAT_ARP_REPORTED: u32 = 1;
pub const STAT_NON_VRRP: u32 = 2;
/// Packets addressed to a virtual address of a master without Accept_Mode, dropped
/// (RFC 5798 §6.4.3).
pub const STAT_VIP_DROPPED: u32 = 3;
/// Frames under one or two VLAN tags, passed untouched: the VLAN device has its own
/// program and policy and sees them untagged (docs/xdp-filter.md).
pub const STAT_VLAN_PASSED: u32 = 4;
/// Slots 5 to 7 are the kernel guard's (`STAT_GUARD_*`, at the end of this file).
pub const STAT_ENTRIES: u32 = 8;

/// `IfacePolicy::flags`: accept every VRID (any version) without a `VRIDS` entry — the
/// passive monitor's mode.
pub const IFACE_ANY_VRID: u32 = 1;

/// Per-interface policy, keyed by ifindex. An interface without an entry is not filtered.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IfacePolicy {
    pub flags: u32,
}

/// An address family as the maps and events code it (the IP version number). Map keys and
/// events hold it as a plain `u8` (they cross the kernel boundary, where any byte may
/// arrive); code converts with [`Family::try_from`] at that boundary and uses the enum.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Family {
    V4 = 4,
    V6 = 6,
}

impl Family {
    /// Bytes of one address of this family.
    pub const fn addr_len(self) -> usize {
        match self {
            Family::V4 => 4,
            Family::V6 => 16,
        }
    }
}

impl TryFrom<u8> for Family {
    /// The byte that is not a family.
    type Error = u8;

    fn try_from(b: u8) -> Result<Family, u8> {
        match b {
            4 => Ok(Family::V4),
            6 => Ok(Family::V6),
            other => Err(other),
        }
    }
}

/// What a ring-buffer [`Event`] reports (its `kind` byte).
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// An accepted advertisement.
    Advert = 1,
    /// An ARP packet naming a virtual address.
    Arp = 2,
    /// The kernel's Master_Down timer expired (docs/kernel-state.md): `ts_ns` is when,
    /// [`Event::last_ts`] the master's last absorbed arrival.
    MasterDown = 3,
}

impl TryFrom<u8> for EventKind {
    type Error = u8;

    fn try_from(b: u8) -> Result<EventKind, u8> {
        match b {
            1 => Ok(EventKind::Advert),
            2 => Ok(EventKind::Arp),
            3 => Ok(EventKind::MasterDown),
            other => Err(other),
        }
    }
}

/// Key of the `VRIDS` map: one virtual router on one interface and address family.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct VridKey {
    pub ifindex: u32,
    pub vrid: u8,
    /// [`FAMILY_V4`] or [`FAMILY_V6`].
    pub family: u8,
    pub _pad: [u8; 2],
}

/// [`VridState::role`]: the agent has not said (or the instance is in Init / Fault):
/// every accepted advert is reported, as without receive state.
pub const ROLE_UNKNOWN: u8 = 0;
pub const ROLE_BACKUP: u8 = 1;
pub const ROLE_MASTER: u8 = 2;

/// [`VridState::flags`]: Preempt_Mode is on (RFC 5798 §6.1).
pub const STATE_PREEMPT: u8 = 1;
/// [`VridState::flags`]: adverts may be absorbed or rate-limited at all. Off for
/// `auth_hmac` instances: their HMAC is verified in the agent, on every advert, so every
/// advert must reach it.
pub const STATE_ABSORB: u8 = 2;

/// Receive state of one virtual router (map `STATE`, keyed by [`VridKey`]): what the
/// agent says about our side, and what the receive path keeps about the current master.
/// The XDP program and the raw-socket path both run [`crate::state::decide`] on it, so
/// both wake the agent for the same adverts (docs/kernel-state.md).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VridState {
    // Written by the agent on every change the node core reports.
    /// One of `ROLE_*`.
    pub role: u8,
    /// Our effective priority.
    pub priority: u8,
    /// `STATE_*` bits.
    pub flags: u8,
    /// Written by the program: 1 once `timer` is initialised with its callback. Every
    /// write by the agent clears it: the kernel replaces the element, timer included.
    pub timer_ready: u8,
    /// Our Advertisement_Interval in centiseconds: the Master's report rate limit.
    pub advert_int_cs: u16,
    pub _pad1: [u8; 2],
    /// Master_Down_Interval and Skew_Time in ns, as the router computes them (RFC 5798
    /// §6.1; with the learned Master_Adver_Interval).
    pub master_down_ns: u64,
    pub skew_ns: u64,
    /// Our primary address (the equal-priority tie-breaker of RFC 5798 §6.4.3), IPv4 in
    /// the first four bytes.
    pub our_addr: [u8; 16],
    // Written by the receive path.
    /// The master last reported to the agent while Backup: source, priority, interval.
    pub master_src: [u8; 16],
    /// 1 when `master_*` hold a master; the agent clears it on every role change.
    pub master_known: u8,
    pub master_priority: u8,
    pub master_interval_cs: u16,
    /// The recorded master's VRRP checksum. It covers the address list, so with source,
    /// priority and interval unchanged a new checksum means the master now advertises
    /// other addresses (or, for v2, other authentication data).
    pub master_csum: u16,
    pub _pad2: [u8; 2],
    /// Kernel arrival time (CLOCK_MONOTONIC ns) of the newest advert absorbed from the
    /// master: the agent restarts Master_Down from it instead of taking over.
    pub last_ts: u64,
    /// While Master: arrival time of the last advert reported without beating us.
    pub last_report_ts: u64,
    /// Time between the last two absorbed adverts, and the longest such time since the
    /// role was written: the agent's timer margin (Master_Down minus the gap).
    pub last_gap_ns: u64,
    pub max_gap_ns: u64,
    /// The kernel's Master_Down timer of this virtual router (opaque here; the agent's
    /// writes leave it alone: the kernel never copies a timer from userspace).
    pub timer: bpf_timer,
}

/// The kernel's `struct bpf_timer`: opaque, and named exactly so, since the verifier
/// finds a timer in a map value by the name of its BTF type.
#[allow(non_camel_case_types)]
#[repr(C, align(8))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct bpf_timer {
    pub opaque: [u64; 2],
}

pub const FAMILY_V4: u8 = Family::V4 as u8;
pub const FAMILY_V6: u8 = Family::V6 as u8;

impl VridKey {
    #[inline(always)]
    pub const fn new(ifindex: u32, vrid: u8, family: Family) -> VridKey {
        VridKey {
            ifindex,
            vrid,
            family: family as u8,
            _pad: [0; 2],
        }
    }
}

/// How a v3-over-IPv4 checksum is expected to be computed (the RFCs disagree:
/// docs/rfc-index.md).
pub const CSUM_PSEUDO: u8 = 0;
/// RFC 9568: no IPv4 pseudo-header.
pub const CSUM_PLAIN: u8 = 1;
/// Either form verifies (passive monitoring).
pub const CSUM_EITHER: u8 = 2;

/// v2 authentication types (RFC 3768 §5.3.6). Only "none" and simple text are carried over
/// IP protocol 112; IP AH is a different protocol.
pub const AUTH_NONE: u8 = 0;
pub const AUTH_PASS: u8 = 1;

/// `VridPolicy::flags`: the instance talks to unicast peers; a unicast advert is exempt
/// from the TTL check (docs/xdp-filter.md, check 1).
pub const VRID_UNICAST: u8 = 1;
/// `VridPolicy::flags`: only sources with a `PEERS` entry are heard (`unicast_peer`); any
/// other source is dropped as [`Reason::NotPeer`].
pub const VRID_PEERS_ONLY: u8 = 2;

/// `VridPolicy::hmac_mode` (`auth_hmac { mode }`, docs/auth-hmac.md): no trailer expected.
pub const HMAC_OFF: u8 = 0;
/// Verify a trailer that is present, accept adverts without one, send none.
pub const HMAC_RECEIVE_ONLY: u8 = 1;
/// Sign, verify a trailer that is present, accept adverts without one.
pub const HMAC_PERMISSIVE: u8 = 2;
/// Sign, and drop every advert without a valid trailer.
pub const HMAC_ENFORCE: u8 = 3;
/// The 28-byte trailer after the VRRP message (draft-cassen-vrrp-auth-hmac): scheme, key
/// id, two reserved bytes, a 64-bit sequence (seconds, 1/65536 s, counter) and the
/// HMAC-SHA256 truncated to 128 bits.
pub const HMAC_TRAILER_LEN: usize = 28;
/// The only scheme: HMAC-SHA256 truncated to its first 16 bytes.
pub const HMAC_SCHEME_SHA256_128: u8 = 1;

pub const VERSION_ANY: u8 = 0;

/// What one configured virtual router accepts.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VridPolicy {
    /// 2 or 3, or [`VERSION_ANY`] for a passive entry that accepts either and checks
    /// neither v2 authentication nor interval.
    pub version: u8,
    /// One of `CSUM_*` (v3 over IPv4 only; IPv6 always uses the pseudo-header, v2 never).
    pub csum_form: u8,
    /// v2 only: `AUTH_NONE` or `AUTH_PASS`.
    pub auth_type: u8,
    pub flags: u8,
    /// v2 only: the advertisement interval in seconds that must match.
    pub adver_int_s: u8,
    /// One of `HMAC_*`.
    pub hmac_mode: u8,
    /// `anti_replay time`: the freshness window in seconds; 0 for `monotonic` (no clock
    /// check, only strictly growing sequences, checked in the agent).
    pub hmac_window_s: u16,
    /// v2 `PASS` password, zero padded to 8 bytes.
    pub auth_pass: [u8; 8],
    /// CLOCK_TAI minus CLOCK_REALTIME in seconds, as the agent read it: XDP has a TAI clock
    /// (`bpf_ktime_get_tai_ns`) but no UTC one, and trailers carry UTC seconds. TAI follows
    /// clock steps by itself; the offset only changes at a leap second.
    pub tai_offset_s: i32,
    pub _pad: [u8; 4],
}

/// Key of the `PEERS` map: one configured unicast peer of one virtual router.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct PeerKey {
    pub ifindex: u32,
    pub vrid: u8,
    pub family: u8,
    pub _pad: [u8; 2],
    /// IPv4 addresses use the first four bytes; the rest is zero.
    pub addr: [u8; 16],
}

impl PeerKey {
    /// `addr` holds an IPv4 address in its first four bytes, the rest zero.
    #[inline(always)]
    pub const fn new(ifindex: u32, vrid: u8, family: Family, addr: [u8; 16]) -> PeerKey {
        PeerKey {
            ifindex,
            vrid,
            family: family as u8,
            _pad: [0; 2],
            addr,
        }
    }
}

/// What one unicast peer's adverts must look like: the TTL / hop limit range keepalived's
/// `min_ttl` / `max_ttl` set per peer (default 0..=255: any, since unicast crosses routers).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerPolicy {
    pub min_ttl: u8,
    pub max_ttl: u8,
    pub _pad: [u8; 2],
}

impl Default for PeerPolicy {
    fn default() -> Self {
        PeerPolicy {
            min_ttl: 0,
            max_ttl: 255,
            _pad: [0; 2],
        }
    }
}

/// `VIPS` map values: report ARP naming this address (always set).
pub const VIP_REPORT_ARP: u8 = 1;
/// Drop packets addressed to this address: we are master, not the owner, and Accept_Mode
/// is off (RFC 5798 §6.4.3). ARP and IPv6 neighbour discovery still pass.
pub const VIP_DROP_TRAFFIC: u8 = 2;

/// Key of the `VIPS` map: a virtual address whose ARP traffic is reported.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct VipKey {
    pub ifindex: u32,
    pub family: u8,
    pub _pad: [u8; 3],
    /// IPv4 addresses use the first four bytes; the rest is zero.
    pub addr: [u8; 16],
}

impl VipKey {
    /// `addr` holds an IPv4 address in its first four bytes, the rest zero.
    #[inline(always)]
    pub const fn new(ifindex: u32, family: Family, addr: [u8; 16]) -> VipKey {
        VipKey {
            ifindex,
            family: family as u8,
            _pad: [0; 3],
            addr,
        }
    }
}

pub const EVENT_ADVERT: u8 = EventKind::Advert as u8;
pub const EVENT_ARP: u8 = EventKind::Arp as u8;
pub const EVENT_MASTER_DOWN: u8 = EventKind::MasterDown as u8;

/// Bytes of the advertised address list carried in an event: 32 IPv4 or 8 IPv6 addresses.
/// A signed advert with more cannot be verified (its HMAC covers every address) and is
/// counted as [`Reason::HmacInvalid`].
pub const EVENT_ADDR_BYTES: usize = 128;

/// One ring-buffer record: an accepted advert, or an ARP packet that names a virtual
/// address. Fields are in host byte order except addresses, which stay in network order.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event {
    /// Kernel arrival time, CLOCK_MONOTONIC nanoseconds (`bpf_ktime_get_ns`).
    pub ts_ns: u64,
    pub ifindex: u32,
    /// `EVENT_ADVERT` or `EVENT_ARP`.
    pub kind: u8,
    /// `FAMILY_V4` or `FAMILY_V6`.
    pub family: u8,
    pub version: u8,
    pub vrid: u8,
    pub priority: u8,
    /// The advert's `count` field (may exceed what fits in `addrs`).
    pub addr_count: u8,
    /// Advertisement interval in centiseconds (v2 seconds are scaled by 100).
    pub interval_cs: u16,
    pub ttl: u8,
    /// For v3 over IPv4: `CSUM_PSEUDO` or `CSUM_PLAIN`, whichever verified.
    pub csum_form: u8,
    /// ARP operation (1 request, 2 reply).
    pub arp_op: u16,
    /// Ethernet source MAC, or the ARP sender hardware address.
    pub mac: [u8; 6],
    pub _pad: [u8; 2],
    /// IP source address, or the ARP sender protocol address.
    pub src: [u8; 16],
    /// IP destination address, or the ARP target protocol address.
    pub dst: [u8; 16],
    /// The first [`EVENT_ADDR_BYTES`] of the advertised address list.
    pub addrs: [u8; EVENT_ADDR_BYTES],
    /// The VRRP header as it came (checksum included), for the agent's HMAC check.
    pub hdr: [u8; 8],
    /// The `auth_hmac` trailer when [`Event::signed`] is 1.
    pub trailer: [u8; HMAC_TRAILER_LEN],
    /// 1 when the advert carried an `auth_hmac` trailer (only for a VRID that expects one).
    pub signed: u8,
    pub _pad2: [u8; 3],
    /// `MasterDown` only: kernel arrival time of the master's last absorbed advert.
    pub last_ts: u64,
}

impl Event {
    pub const fn zeroed() -> Event {
        Event {
            ts_ns: 0,
            ifindex: 0,
            kind: 0,
            family: 0,
            version: 0,
            vrid: 0,
            priority: 0,
            addr_count: 0,
            interval_cs: 0,
            ttl: 0,
            csum_form: 0,
            arp_op: 0,
            mac: [0; 6],
            _pad: [0; 2],
            src: [0; 16],
            dst: [0; 16],
            addrs: [0; EVENT_ADDR_BYTES],
            hdr: [0; 8],
            trailer: [0; HMAC_TRAILER_LEN],
            signed: 0,
            _pad2: [0; 3],
            last_ts: 0,
        }
    }
}

impl Event {
    /// Zero an event in place with 8-byte stores. The eBPF target has no memset, and the
    /// compiler's fallback is a byte loop over every byte on every packet.
    #[inline(always)]
    pub fn clear(this: &mut core::mem::MaybeUninit<Event>) -> &mut Event {
        let p = this.as_mut_ptr() as *mut u64;
        let mut i = 0;
        while i < core::mem::size_of::<Event>() / 8 {
            // SAFETY: Event is a multiple of 8 bytes with 8-byte alignment, so p.add(i) for
            // i < size / 8 is in bounds and aligned; volatile keeps the stores from being merged into memset.
            unsafe { p.add(i).write_volatile(0) };
            i += 1;
        }
        // SAFETY: every byte was just written, and all-zero is a valid Event.
        unsafe { this.assume_init_mut() }
    }
}

const _: () = assert!(core::mem::align_of::<Event>() == 8);
const _: () = assert!(core::mem::size_of::<IfacePolicy>() == 4);
const _: () = assert!(core::mem::size_of::<VridKey>() == 8);
const _: () = assert!(core::mem::size_of::<VridPolicy>() == 24);
const _: () = assert!(core::mem::size_of::<PeerKey>() == 24);
const _: () = assert!(core::mem::size_of::<PeerPolicy>() == 4);
const _: () = assert!(core::mem::size_of::<VipKey>() == 24);
const _: () = assert!(core::mem::size_of::<Event>() == 240);
const _: () = assert!(core::mem::size_of::<VridState>() == 112);
const _: () = assert!(SLOT_CSUM_PSEUDO as usize >= Reason::ALL.len());
const _: () = assert!(SLOT_CSUM_PLAIN < SLOT_ABSORBED);
const _: () = assert!(SLOT_RATE_LIMITED < SLOTS_PER_VRID);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn family_and_event_kind_bytes_convert_back_and_only_known_values_do() {
        for f in [Family::V4, Family::V6] {
            assert_eq!(Family::try_from(f as u8), Ok(f));
        }
        assert_eq!(Family::try_from(0), Err(0));
        assert_eq!(Family::try_from(5), Err(5));
        for k in [EventKind::Advert, EventKind::Arp] {
            assert_eq!(EventKind::try_from(k as u8), Ok(k));
        }
        assert_eq!(EventKind::try_from(0), Err(0));
        assert_eq!(Family::V6.addr_len(), 16);
    }

    #[test]
    fn key_constructors_zero_the_padding() {
        let k = VipKey::new(3, Family::V6, [0xfe; 16]);
        assert_eq!((k.ifindex, k.family, k._pad), (3, 6, [0; 3]));
        let p = PeerKey::new(
            3,
            51,
            Family::V4,
            [10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        );
        assert_eq!((p.vrid, p.family, p._pad), (51, 4, [0; 2]));
        assert_eq!(
            VridKey::new(3, 51, Family::V4),
            VridKey {
                ifindex: 3,
                vrid: 51,
                family: 4,
                _pad: [0; 2]
            }
        );
    }

    #[test]
    fn only_accepted_and_foreign_packets_pass_every_other_reason_is_a_rejection() {
        let passed: std::vec::Vec<Reason> = Reason::ALL
            .into_iter()
            .filter(|r| !r.is_rejection())
            .collect();
        assert_eq!(passed, [Reason::Accepted, Reason::Foreign]);
        assert_eq!(Reason::Foreign.name(), "foreign");
    }
}

#[cfg(feature = "user")]
mod pod {
    // SAFETY: all of these are #[repr(C)] structs of integers and byte arrays with explicit
    // padding fields, so every bit pattern is valid and there are no hidden padding bytes.
    unsafe impl aya::Pod for super::IfacePolicy {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::VridKey {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::VridPolicy {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::VipKey {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::PeerKey {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::PeerPolicy {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::Event {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::VridState {}
}

// ---------------------------------------------------------------------------------------
// The kernel guard (docs/kernel-guard.md): what keeps a dead agent's host from answering
// for the addresses it held as Master once its heartbeat is older than Master_Down.
// ---------------------------------------------------------------------------------------

/// One [`Heartbeat`] (array of one entry), written by the agent's select loop.
pub const MAP_HEARTBEAT: &str = "HEARTBEAT";
/// [`VipKey`] to [`VipGuard`]: the addresses this host holds as Master.
pub const MAP_GUARDS: &str = "GUARDS";
/// The guard's maps, which the built object must hold beside [`MAP_NAMES`].
pub const GUARD_MAP_NAMES: [&str; 2] = [MAP_HEARTBEAT, MAP_GUARDS];

/// `STATS` slots: frames the guard dropped because the heartbeat went stale. ARP
/// requests for a guarded address (RFC 826 op 1, target protocol address).
pub const STAT_GUARD_ARP: u32 = 5;
/// IPv6 neighbour solicitations whose target is a guarded address (RFC 4861 §4.3).
pub const STAT_GUARD_ND: u32 = 6;
/// Any other IPv4 or IPv6 packet addressed to a guarded address.
pub const STAT_GUARD_TRAFFIC: u32 = 7;

/// The agent's proof of life, in the program's own clock.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Heartbeat {
    /// CLOCK_MONOTONIC nanoseconds (`bpf_ktime_get_ns`) of the latest refresh; 0 before
    /// the first, which never counts as stale.
    pub beat_ns: u64,
    /// The smallest [`VipGuard::master_down_ns`] in `GUARDS` (`u64::MAX` when it is
    /// empty): while the heartbeat is younger than this, no frame needs a look-up.
    pub min_master_down_ns: u64,
}

/// `GUARDS` value: the Master_Down interval of the instance holding the address
/// (RFC 5798 §6.1: 3 × Master_Adver_Interval + Skew_Time, for the instance's priority).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VipGuard {
    pub master_down_ns: u64,
}

const _: () = assert!(core::mem::size_of::<Heartbeat>() == 16);
const _: () = assert!(core::mem::size_of::<VipGuard>() == 8);
const _: () = assert!(STAT_GUARD_TRAFFIC < STAT_ENTRIES);

#[cfg(feature = "user")]
mod guard_pod {
    // SAFETY: #[repr(C)] structs of u64 fields only: no padding, every bit pattern valid.
    unsafe impl aya::Pod for super::Heartbeat {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::VipGuard {}
}

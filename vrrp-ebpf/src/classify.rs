//! The one definition of the VRRP receive checks. The XDP program runs it on the frame in
//! the driver's buffer; the agent's raw-socket path runs the very same code on a frame read
//! from an AF_PACKET socket. Both sides only supply how to read bytes ([`Frame`]) and how
//! to look policy up ([`Policy`]).
//!
//! Everything here is written for the eBPF verifier as much as for people: every read is
//! bounds-checked through [`Frame::load`], every loop has a constant bound, and nothing
//! allocates or panics.

use crate::abi::*;
use crate::checksum;
use crate::wire::*;

/// Read access to the bytes of one Ethernet frame.
pub trait Frame {
    /// `N` bytes at `off`, or `None` when the frame is shorter than `off + N`.
    fn load<const N: usize>(&self, off: usize) -> Option<[u8; N]>;

    #[inline(always)]
    fn u8_at(&self, off: usize) -> Option<u8> {
        self.load::<1>(off).map(|b| b[0])
    }

    #[inline(always)]
    fn u16_at(&self, off: usize) -> Option<u16> {
        self.load::<2>(off).map(u16::from_be_bytes)
    }
}

/// Policy look-ups for the interface the frame arrived on.
pub trait Policy {
    fn iface(&self) -> Option<IfacePolicy>;
    fn vrid(&self, vrid: u8, family: Family) -> Option<VridPolicy>;
    /// `VIP_*` flags for a virtual address, 0 when it is not one.
    fn vip_flags(&self, family: Family, addr: &[u8; 16]) -> u8;
    /// The policy of a configured unicast peer of `vrid`, `None` when `addr` is not one.
    fn peer(&self, vrid: u8, family: Family, addr: &[u8; 16]) -> Option<PeerPolicy>;
    /// CLOCK_TAI now, in whole seconds (for the `auth_hmac` freshness window).
    fn tai_now_s(&self) -> u64;
}

/// What the classifier decided about one frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Not VRRP, not an interesting ARP, or an interface we do not filter: let it through.
    Pass,
    /// A VRRP packet with the VRID it is counted under and the reason. Only
    /// `Reason::Accepted` fills the event; accepted and foreign packets pass, the rest
    /// ([`Reason::is_rejection`]) are dropped.
    Vrrp { vrid: u8, reason: Reason },
    /// A frame under one or two VLAN tags (802.1Q, 802.1ad): not this interface's to judge.
    /// The VLAN device has its own receive path and policy and sees the frame untagged, so
    /// it passes untouched (counted).
    Tagged,
    /// An ARP packet naming a virtual address: the event is filled; the frame passes.
    Arp,
    /// Addressed to a virtual address whose master does not accept traffic for it
    /// (Accept_Mode off, RFC 5798 §6.4.3): drop.
    ToVipRefused,
}

/// Classify one frame. `event` is filled for accepted adverts and reported ARP; its
/// `ts_ns` and `ifindex` are the caller's to set.
#[inline(always)]
pub fn classify<F: Frame, P: Policy>(frame: &F, policy: &P, event: &mut Event) -> Verdict {
    let iface = match policy.iface() {
        Some(p) => p,
        None => return Verdict::Pass,
    };

    let ethertype = match frame.u16_at(12) {
        Some(t) => t,
        None => return Verdict::Pass,
    };
    // A tagged frame belongs to a VLAN device, whose own program judges it by that VLAN's
    // policy (routers, Accept_Mode, ARP). Judging it here by the parent's policy would mix
    // up two segments that merely share a wire.
    if ethertype == ETH_P_8021Q || ethertype == ETH_P_8021AD {
        return Verdict::Tagged;
    }
    if let Some(mac) = frame.load::<6>(6) {
        event.mac = mac;
    }

    match ethertype {
        ETH_P_IP => classify_v4(frame, policy, &iface, ETH_HLEN, event),
        ETH_P_IPV6 => classify_v6(frame, policy, &iface, ETH_HLEN, event),
        ETH_P_ARP => classify_arp(frame, policy, ETH_HLEN, event),
        _ => Verdict::Pass,
    }
}

#[inline(always)]
fn classify_v4<F: Frame, P: Policy>(
    frame: &F,
    policy: &P,
    iface: &IfacePolicy,
    ip: usize,
    event: &mut Event,
) -> Verdict {
    let hdr = match frame.load::<20>(ip) {
        Some(h) => h,
        None => return Verdict::Pass,
    };
    if hdr[9] != IPPROTO_VRRP {
        let mut dst = [0u8; 16];
        dst[..4].copy_from_slice(&hdr[16..20]);
        if policy.vip_flags(Family::V4, &dst) & VIP_DROP_TRAFFIC != 0 {
            return Verdict::ToVipRefused;
        }
        return Verdict::Pass;
    }
    // From here on it is VRRP and every outcome is counted. Read the VRID early so even a
    // malformed advert is counted under the router it claims to be.
    let ihl = ((hdr[0] & 0x0f) as usize) * 4;
    let vrid = frame.u8_at(ip + ihl.max(20) + 1).unwrap_or(0);
    let reject = |reason| Verdict::Vrrp { vrid, reason };
    let configured = match ownership(policy, iface, vrid, Family::V4) {
        Some(c) => c,
        None => return reject(Reason::Foreign),
    };

    if hdr[0] >> 4 != 4 || ihl < 20 {
        return reject(Reason::Length);
    }
    let total = u16::from_be_bytes([hdr[2], hdr[3]]) as usize;
    // A fragment cannot be checked on its own (RFC 5798 adverts are never fragmented).
    let frag = u16::from_be_bytes([hdr[6], hdr[7]]);
    if frag & 0x3fff != 0 || total < ihl + VRRP_HLEN || total - ihl > MAX_VRRP_LEN {
        return reject(Reason::Length);
    }
    let vrrp = ip + ihl;
    let len = total - ihl;
    let src = [hdr[12], hdr[13], hdr[14], hdr[15]];
    let dst = [hdr[16], hdr[17], hdr[18], hdr[19]];
    let ttl = hdr[8];
    let multicast = dst[0] & 0xf0 == 0xe0;
    event.src[..4].copy_from_slice(&src);
    event.dst[..4].copy_from_slice(&dst);
    event.ttl = ttl;

    // Pseudo-header sum for v3 over IPv4 (RFC 5798 §5.2.8): source, destination, zero and
    // protocol; the length is added once it is known what the checksum covers.
    let pseudo = checksum::pseudo_header(&src, &dst, IPPROTO_VRRP);
    let packet = Packet {
        vrrp,
        len,
        family: Family::V4,
        ttl,
        multicast,
        pseudo,
        vrid,
    };
    check_vrrp(frame, policy, configured, &packet, event)
}

#[inline(always)]
fn classify_v6<F: Frame, P: Policy>(
    frame: &F,
    policy: &P,
    iface: &IfacePolicy,
    ip: usize,
    event: &mut Event,
) -> Verdict {
    let hdr = match frame.load::<8>(ip) {
        Some(h) => h,
        None => return Verdict::Pass,
    };
    // VRRP is carried directly after the fixed header; extension headers are not used by
    // any implementation we interoperate with.
    if hdr[6] != IPPROTO_VRRP {
        return refuse_to_vip_v6(frame, policy, ip, hdr[6]);
    }
    let vrrp = ip + IPV6_HLEN;
    let vrid = frame.u8_at(vrrp + 1).unwrap_or(0);
    let reject = |reason| Verdict::Vrrp { vrid, reason };
    let configured = match ownership(policy, iface, vrid, Family::V6) {
        Some(c) => c,
        None => return reject(Reason::Foreign),
    };
    let (src, dst) = match (frame.load::<16>(ip + 8), frame.load::<16>(ip + 24)) {
        (Some(s), Some(d)) => (s, d),
        _ => return reject(Reason::Length),
    };
    if hdr[0] >> 4 != 6 {
        return reject(Reason::Length);
    }
    let len = u16::from_be_bytes([hdr[4], hdr[5]]) as usize;
    if !(VRRP_HLEN..=MAX_VRRP_LEN).contains(&len) {
        return reject(Reason::Length);
    }
    let hop_limit = hdr[7];
    event.src = src;
    event.dst = dst;
    event.ttl = hop_limit;
    let multicast = dst[0] == 0xff;
    // IPv6 upper-layer checksum always covers the pseudo-header (RFC 8200 §8.1).
    let pseudo = checksum::pseudo_header(&src, &dst, IPPROTO_VRRP);
    let packet = Packet {
        vrrp,
        len,
        family: Family::V6,
        ttl: hop_limit,
        multicast,
        pseudo,
        vrid,
    };
    check_vrrp(frame, policy, configured, &packet, event)
}

/// Whose packet this is (RFC 5798 §7.1 check 5, asked first): `Some(policy)` for a VRID
/// configured on this interface in this family, `Some(None)` for any VRID on an interface
/// that takes them all (the passive monitor), `None` for another router's packet, which is
/// not ours to judge. A frame too short to carry a VRID claims VRID 0, which no instance
/// has.
#[inline(always)]
fn ownership<P: Policy>(
    policy: &P,
    iface: &IfacePolicy,
    vrid: u8,
    family: Family,
) -> Option<Option<VridPolicy>> {
    match policy.vrid(vrid, family) {
        Some(p) => Some(Some(p)),
        None if iface.flags & IFACE_ANY_VRID != 0 => Some(None),
        None => None,
    }
}

/// Where a VRRP message sits in the frame and what its IP header said.
struct Packet {
    /// Offset of the VRRP header.
    vrrp: usize,
    /// IP payload length: the VRRP message and, when signed, the `auth_hmac` trailer.
    len: usize,
    family: Family,
    ttl: u8,
    multicast: bool,
    /// Pseudo-header sum without the length (source, destination, protocol).
    pseudo: u32,
    vrid: u8,
}

/// The VRRP checks proper for a packet that is ours (`configured` is its VRID's policy, or
/// `None` when the interface takes every VRID), in the order of RFC 5798 §7.1 (RFC 3768
/// §7.1 for v2), with the unicast peer check first and the `auth_hmac` trailer checks with
/// the authentication check (6).
#[inline(always)]
fn check_vrrp<F: Frame, P: Policy>(
    frame: &F,
    policy: &P,
    configured: Option<VridPolicy>,
    pkt: &Packet,
    event: &mut Event,
) -> Verdict {
    let vrid = pkt.vrid;
    let (vrrp, len, family) = (pkt.vrrp, pkt.len, pkt.family);
    let reject = |reason| Verdict::Vrrp { vrid, reason };

    // 0. An instance with unicast peers hears only them (keepalived's check_unicast_src,
    //    always on): nobody else may move its election. A peer may bound its TTL.
    let peer = match configured {
        Some(p) if p.flags & VRID_PEERS_ONLY != 0 => match policy.peer(vrid, family, &event.src) {
            Some(peer) => Some(peer),
            None => return reject(Reason::NotPeer),
        },
        _ => None,
    };

    // 1. TTL / hop limit 255; adverts unicast to a unicast-peer instance are exempt, and
    //    held to the peer's min_ttl..=max_ttl instead.
    let unicast_ok = match configured {
        Some(p) => p.flags & VRID_UNICAST != 0 && !pkt.multicast,
        None => false,
    };
    let ttl = pkt.ttl;
    let ttl_ok = match peer {
        Some(peer) if unicast_ok => ttl >= peer.min_ttl && ttl <= peer.max_ttl,
        _ => ttl == 255 || unicast_ok,
    };
    if !ttl_ok {
        return reject(Reason::Ttl);
    }

    let hdr = match frame.load::<VRRP_HLEN>(vrrp) {
        Some(h) => h,
        None => return reject(Reason::Length),
    };
    // 2. Version and type.
    let version = hdr[0] >> 4;
    let vtype = hdr[0] & 0x0f;
    let version_ok = match configured {
        Some(p) if p.version != VERSION_ANY => version == p.version,
        _ => version == 3 || version == 2,
    };
    if !version_ok || (version == 2 && family != Family::V4) {
        return reject(Reason::Version);
    }
    if vtype != VRRP_TYPE_ADVERT {
        return reject(Reason::Type);
    }

    // 3. Length covers the header, `count` addresses and (v2) the authentication data.
    let count = hdr[3] as usize;
    let addr_len = family.addr_len();
    let auth_len = if version == 2 { V2_AUTH_LEN } else { 0 };
    let need = VRRP_HLEN + count * addr_len + auth_len;
    // Every VRRP field is a whole number of 32-bit words (RFC 5798 §5.1), so an odd length
    // is never a well-formed advert; refusing it also keeps the checksum loop word-only.
    if count == 0 || len < need || len % 2 == 1 {
        return reject(Reason::Length);
    }
    // A VRID with auth_hmac reads a payload exactly 28 bytes longer than the message as
    // signed (keepalived's rule: padding never reaches that size, and IP lengths carry none).
    let hmac_mode = configured.map_or(HMAC_OFF, |p| p.hmac_mode);
    let signed = hmac_mode != HMAC_OFF && len == need + HMAC_TRAILER_LEN;
    // The trailer is outside the IPv4 checksum (computed over the message, length in the
    // pseudo-header likewise), inside the IPv6 one (the transport checksum covers the whole
    // payload): keepalived 2.4 sends both so.
    let csum_len = if signed && family == Family::V4 {
        need
    } else {
        len
    };
    let pseudo = pkt.pseudo + csum_len as u32;

    // 4. Checksum over the whole VRRP message.
    let body = match sum_range(frame, vrrp, csum_len) {
        Some(s) => s,
        None => return reject(Reason::Length),
    };
    let plain_ok = checksum::verifies(body);
    let pseudo_ok = checksum::verifies(body + pseudo);
    let form = if version == 2 {
        // RFC 3768 §5.3.8: the v2 checksum never includes a pseudo-header.
        if plain_ok {
            CSUM_PLAIN
        } else {
            CSUM_NONE
        }
    } else if family == Family::V6 {
        if pseudo_ok {
            CSUM_PSEUDO
        } else {
            CSUM_NONE
        }
    } else {
        let wanted = match configured {
            Some(p) => p.csum_form,
            None => CSUM_EITHER,
        };
        if pseudo_ok && wanted != CSUM_PLAIN {
            CSUM_PSEUDO
        } else if plain_ok && wanted != CSUM_PSEUDO {
            CSUM_PLAIN
        } else {
            CSUM_NONE
        }
    };
    if form == CSUM_NONE {
        return reject(Reason::Checksum);
    }

    // 5. The VRID is configured on this interface: settled by `ownership` before check 1.

    // 6. v2 only: authentication and interval must match ours.
    let interval_cs = if version == 2 {
        // A passive entry (version "any") does not know the password or interval.
        if let Some(p) = configured.filter(|p| p.version == 2) {
            let auth_type = hdr[4];
            if auth_type != p.auth_type {
                return reject(Reason::Auth);
            }
            if p.auth_type == AUTH_PASS {
                let pass = match frame.load::<8>(vrrp + VRRP_HLEN + count * 4) {
                    Some(b) => b,
                    None => return reject(Reason::Length),
                };
                if pass != p.auth_pass {
                    return reject(Reason::Auth);
                }
            }
            if hdr[5] != p.adver_int_s {
                return reject(Reason::Interval);
            }
        }
        hdr[5] as u16 * 100
    } else {
        u16::from_be_bytes([hdr[4], hdr[5]]) & 0x0fff
    };

    // 6 (auth_hmac). What XDP can judge without hashing: a trailer where one is required,
    // its shape and a timestamp inside the window. The agent verifies
    // the HMAC and the sequence before the state machine sees the advert.
    if hmac_mode == HMAC_ENFORCE && !signed {
        return reject(Reason::HmacTrailer);
    }
    if signed {
        let p = match configured {
            Some(p) => p,
            None => return reject(Reason::HmacTrailer),
        };
        let head = match frame.load::<12>(vrrp + need) {
            Some(h) => h,
            None => return reject(Reason::Length),
        };
        if head[0] != HMAC_SCHEME_SHA256_128 || head[2] != 0 || head[3] != 0 {
            return reject(Reason::HmacTrailer);
        }
        if p.hmac_window_s != 0 {
            let sent = u32::from_be_bytes([head[4], head[5], head[6], head[7]]) as i64;
            let now = policy.tai_now_s() as i64 - p.tai_offset_s as i64;
            // A second of slack: the agent's exact check must never be stricter than this.
            let window = p.hmac_window_s as i64 + 1;
            if now - sent > window || sent - now > window {
                return reject(Reason::HmacStale);
            }
        }
        let tail = match frame.load::<16>(vrrp + need + 12) {
            Some(t) => t,
            None => return reject(Reason::Length),
        };
        event.trailer[..12].copy_from_slice(&head);
        event.trailer[12..].copy_from_slice(&tail);
        event.signed = 1;
    }

    event.kind = EventKind::Advert as u8;
    event.family = family as u8;
    event.version = version;
    event.vrid = vrid;
    event.priority = hdr[2];
    event.addr_count = hdr[3];
    event.interval_cs = interval_cs;
    event.csum_form = form;
    event.hdr = hdr;
    copy_addrs(frame, vrrp + VRRP_HLEN, count * addr_len, &mut event.addrs);
    Verdict::Vrrp {
        vrid,
        reason: Reason::Accepted,
    }
}

/// ARP naming one of our virtual addresses as sender or target (RFC 826 layout).
#[inline(always)]
fn classify_arp<F: Frame, P: Policy>(
    frame: &F,
    policy: &P,
    off: usize,
    event: &mut Event,
) -> Verdict {
    let arp = match frame.load::<ARP_LEN>(off) {
        Some(a) => a,
        None => return Verdict::Pass,
    };
    // Ethernet hardware (1), IPv4 protocol, 6- and 4-byte addresses.
    if arp[0..2] != [0, 1] || arp[2..4] != [0x08, 0x00] || arp[4] != 6 || arp[5] != 4 {
        return Verdict::Pass;
    }
    let mut sender = [0u8; 16];
    let mut target = [0u8; 16];
    sender[..4].copy_from_slice(&arp[14..18]);
    target[..4].copy_from_slice(&arp[24..28]);
    if policy.vip_flags(Family::V4, &sender) == 0 && policy.vip_flags(Family::V4, &target) == 0 {
        return Verdict::Pass;
    }
    event.kind = EventKind::Arp as u8;
    event.family = Family::V4 as u8;
    event.arp_op = u16::from_be_bytes([arp[6], arp[7]]);
    event.mac.copy_from_slice(&arp[8..14]);
    event.src = sender;
    event.dst = target;
    Verdict::Arp
}

/// IPv6 traffic to a virtual address whose master refuses it — except neighbour
/// solicitations and advertisements (ICMPv6 135/136), without which the address could not
/// even be resolved as a next hop.
#[inline(always)]
fn refuse_to_vip_v6<F: Frame, P: Policy>(frame: &F, policy: &P, ip: usize, next: u8) -> Verdict {
    let dst = match frame.load::<16>(ip + 24) {
        Some(d) => d,
        None => return Verdict::Pass,
    };
    if policy.vip_flags(Family::V6, &dst) & VIP_DROP_TRAFFIC == 0 {
        return Verdict::Pass;
    }
    if next == IPPROTO_ICMPV6 {
        if let Some(t) = frame.u8_at(ip + IPV6_HLEN) {
            if t == 135 || t == 136 {
                return Verdict::Pass;
            }
        }
    }
    Verdict::ToVipRefused
}

/// Not a valid checksum in any accepted form (internal marker, never stored).
const CSUM_NONE: u8 = 0xff;

/// One's-complement sum of the `len / 2` 16-bit words at `off` (callers pass even
/// lengths). `len` is at most [`MAX_VRRP_LEN`], so the loop bound is a constant the
/// verifier accepts and the 32-bit accumulator cannot overflow.
#[inline(always)]
fn sum_range<F: Frame>(frame: &F, off: usize, len: usize) -> Option<u32> {
    let mut sum = 0u32;
    let words = len / 2;
    let mut i = 0;
    while i < MAX_VRRP_LEN / 2 {
        if i >= words {
            break;
        }
        sum += frame.u16_at(off + i * 2)? as u32;
        i += 1;
    }
    Some(sum)
}

/// Copy up to `EVENT_ADDR_BYTES` of the address list, four bytes at a time.
#[inline(always)]
fn copy_addrs<F: Frame>(frame: &F, off: usize, len: usize, out: &mut [u8; EVENT_ADDR_BYTES]) {
    let mut i = 0;
    while i < EVENT_ADDR_BYTES / 4 {
        if i * 4 >= len {
            break;
        }
        match frame.load::<4>(off + i * 4) {
            Some(b) => out[i * 4..i * 4 + 4].copy_from_slice(&b),
            None => break,
        }
        i += 1;
    }
}

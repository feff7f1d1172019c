//! The fuzz targets, written once in stable Rust: `fuzz/fuzz_targets/*.rs` (cargo-fuzz,
//! nightly) call these, and `tests/fuzz_replay.rs` replays the stored corpus through the
//! very same functions in the normal test suite. Each target panics when a property fails;
//! a panic inside the project's code is a finding just the same.
//!
//! - [`wire`]: one Ethernet frame through the raw-socket path (`process_frame`, which runs
//!   the shared XDP classifier) under four policies. The verdict is compared with a
//!   reference reading of the receive checks written here from RFC 5798 §7.1 / RFC 3768
//!   §7.1 and `docs/rfc-index.md` (and §6.4.3 for traffic to the addresses of a master
//!   without Accept_Mode; docs/xdp-filter.md for what is not ours: other VRIDs and
//!   VLAN-tagged frames pass); an accepted advert or a reported ARP must carry exactly the
//!   fields in the bytes, and the counters must count the verdict once.
//! - [`config`]: any bytes as keepalived.conf and as native TOML: no panic, the same answer
//!   twice, messages that point into the text, and a configuration that loads keeps the
//!   model's promises (ranges, families, cross-references). Each of its instances'
//!   adverts, built as the engine builds them, must be accepted by a peer with the same
//!   configuration.
//! - [`advert_roundtrip`]: an advert built from the bytes by `AdvertOut::emit` is accepted
//!   under a matching policy and under the passive monitor, with the fields it was built
//!   from; a policy expecting the other checksum form or another password refuses it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::sync::LazyLock;

use crate::policies::strict_instances;
use vrrp_agent::config::check_str;
use vrrp_agent::config::model::{ChecksumForm, Config, Family, Instance, Version};
use vrrp_agent::filter::{family_code, vip_key, vrid_policy, Counters, PolicyTable};
use vrrp_agent::io::rawsock::process_frame;
use vrrp_agent::proto::advert::AdvertOut;
use vrrp_ebpf::abi::*;
use vrrp_ebpf::classify::Verdict;
use vrrp_ebpf::wire::{
    ETH_P_8021AD, ETH_P_8021Q, ETH_P_ARP, ETH_P_IP, ETH_P_IPV6, IPPROTO_VRRP as PROTO_VRRP,
    MAX_VRRP_LEN,
};

/// The interface every frame "arrives" on, and the arrival time stamped on events.
const IFINDEX: u32 = 7;
const TS_NS: u64 = 0x0123_4567_89ab_cdef;

/// The largest VRRP message the receive checks look at (a 1500-byte MTU less the IPv4
/// header); longer ones are refused as `length`.
const MAX_MSG: usize = MAX_VRRP_LEN;

// ---------------------------------------------------------------------------------------
// wire
// ---------------------------------------------------------------------------------------

/// One frame, as is and (when it carries a whole VRRP message) with its VRRP checksum
/// rewritten in each form, so the fuzzer reaches the checks that follow the checksum.
pub fn wire(data: &[u8]) {
    wire_one(data);
    if let Spec::Vrrp { msg: Some(m), .. } = decode(data) {
        for pseudo in [false, true] {
            let mut f = data.to_vec();
            let sum = if pseudo { ones_sum(&m.pseudo) } else { 0 };
            let c = m.off + 6;
            f[c..c + 2].copy_from_slice(&[0, 0]);
            let c_val = !fold(sum + ones_sum(&f[m.off..m.off + m.len]));
            f[c..c + 2].copy_from_slice(&c_val.to_be_bytes());
            wire_one(&f);
        }
    }
}

/// The policies every frame is judged under: no filtering on the interface, the passive
/// monitor (every VRID, and only two), and configured instances.
static POLICIES: LazyLock<[(&str, PolicyTable); 4]> = LazyLock::new(|| {
    [
        ("unfiltered", PolicyTable::default()),
        ("monitor", PolicyTable::monitor(IFINDEX, &[])),
        ("monitor 51 52", PolicyTable::monitor(IFINDEX, &[51, 52])),
        ("strict", strict_policy()),
    ]
});

fn wire_one(f: &[u8]) {
    let spec = decode(f);
    let policies = &*POLICIES;
    for (name, policy) in policies {
        let mut counters = Counters::default();
        let (verdict, event) = process_frame(f, IFINDEX, TS_NS, policy, &mut counters);
        let (want_verdict, want_event) = expected(f, &spec, policy);
        match (want_verdict, verdict) {
            // Which check refuses an advert is the classifier's business; that it is
            // counted as VRRP under the VRID it claims, and refused, is checked here.
            (
                Verdict::Vrrp {
                    vrid,
                    reason: Reason::Length,
                },
                Verdict::Vrrp { vrid: got, reason },
            ) if want_event.is_none() => {
                assert_eq!(got, vrid, "{name}: counted under another VRID: {}", hex(f));
                assert_ne!(reason, Reason::Accepted, "{name}: accepted: {}", hex(f));
            }
            _ => assert_eq!(verdict, want_verdict, "{name}: verdict of {}", hex(f)),
        }
        assert_eq!(event, want_event, "{name}: event of {}", hex(f));
        check_counters(&counters, verdict, event.as_ref(), name);
    }
    // The same frame, the same answer.
    let monitor = &policies[1].1;
    let mut a = Counters::default();
    let mut b = Counters::default();
    let first = process_frame(f, IFINDEX, TS_NS, monitor, &mut a);
    let second = process_frame(f, IFINDEX, TS_NS, monitor, &mut b);
    assert_eq!(first, second, "two runs on one frame differ");
    assert_eq!(a, b, "two runs on one frame count differently");
}

/// The strict instances (VRIDs 51..54, as tests/xdp_verdicts.rs has them), 55 as a v2 instance
/// without authentication, and three virtual addresses: 10.9.0.100 and fd00:9::100 of a
/// master without Accept_Mode (traffic to them refused), 10.9.0.101 only reported.
pub fn strict_policy() -> PolicyTable {
    let mut p = strict_instances(IFINDEX);
    p.vrids.insert(
        VridKey::new(IFINDEX, 55, vrrp_ebpf::abi::Family::V4),
        VridPolicy {
            version: 2,
            adver_int_s: 3,
            ..VridPolicy::default()
        },
    );
    let refused = [
        vip_key(IFINDEX, IpAddr::V4(Ipv4Addr::new(10, 9, 0, 100))),
        vip_key(
            IFINDEX,
            IpAddr::V6(Ipv6Addr::new(0xfd00, 9, 0, 0, 0, 0, 0, 0x100)),
        ),
    ];
    p.vips.extend(refused);
    p.refuse.extend(refused);
    p.vips
        .insert(vip_key(IFINDEX, IpAddr::V4(Ipv4Addr::new(10, 9, 0, 101))));
    p
}

/// A VRRP message found in a frame whose IP framing is sound and which holds all of it.
struct Msg {
    family: u8,
    /// Offset of the VRRP header in the frame, and the message length the IP header gives.
    off: usize,
    len: usize,
    ttl: u8,
    src: [u8; 16],
    dst: [u8; 16],
    multicast: bool,
    /// The pseudo-header (RFC 5798 §5.2.8 for IPv4, RFC 8200 §8.1 for IPv6), as bytes.
    pseudo: Vec<u8>,
}

/// What a frame is, read independently of the classifier.
enum Spec {
    /// Neither VRRP nor an Ethernet/IPv4 ARP packet, nor IP to a refusable address.
    Pass,
    /// Under one or more VLAN tags: the VLAN device's to judge, never the parent's.
    Tagged,
    /// IP other than VRRP (and other than IPv6 neighbour discovery) to `dst`: refused when
    /// that is a virtual address of a master without Accept_Mode (RFC 5798 §6.4.3).
    ToAddress { family: u8, dst: [u8; 16] },
    /// ARP for IPv4 over Ethernet (RFC 826).
    Arp {
        op: u16,
        sha: [u8; 6],
        spa: [u8; 4],
        tpa: [u8; 4],
    },
    /// IP protocol 112 over `family`: counted under `vrid` (the byte the header claims, or
    /// 0 when the frame is too short to hold it). `msg` is `None` when the IP framing is
    /// wrong or the frame does not hold the whole message: never accepted.
    Vrrp {
        family: u8,
        vrid: u8,
        msg: Option<Msg>,
    },
}

fn be16(f: &[u8], off: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*f.get(off)?, *f.get(off + 1)?]))
}

fn decode(f: &[u8]) -> Spec {
    let Some(ethertype) = be16(f, 12) else {
        return Spec::Pass;
    };
    match ethertype {
        ETH_P_8021Q | ETH_P_8021AD => Spec::Tagged,
        ETH_P_IP => decode_v4(f, 14),
        ETH_P_IPV6 => decode_v6(f, 14),
        ETH_P_ARP => decode_arp(f, 14),
        _ => Spec::Pass,
    }
}

fn decode_v4(f: &[u8], ip: usize) -> Spec {
    let Some(h) = f.get(ip..ip + 20) else {
        return Spec::Pass;
    };
    if h[9] != PROTO_VRRP {
        let mut dst = [0; 16];
        dst[..4].copy_from_slice(&h[16..20]);
        return Spec::ToAddress {
            family: FAMILY_V4,
            dst,
        };
    }
    let ihl = usize::from(h[0] & 0x0f) * 4;
    let vrid = f.get(ip + ihl.max(20) + 1).copied().unwrap_or(0);
    let total = usize::from(u16::from_be_bytes([h[2], h[3]]));
    // More-fragments flag or a fragment offset: not an advert on its own.
    let fragment = u16::from_be_bytes([h[6], h[7]]) & 0x3fff != 0;
    let framed = h[0] >> 4 == 4
        && ihl >= 20
        && !fragment
        && total >= ihl + 8
        && total - ihl <= MAX_MSG
        && f.len() >= ip + total;
    if !framed {
        return Spec::Vrrp {
            family: FAMILY_V4,
            vrid,
            msg: None,
        };
    }
    let len = total - ihl;
    let mut src = [0; 16];
    let mut dst = [0; 16];
    src[..4].copy_from_slice(&h[12..16]);
    dst[..4].copy_from_slice(&h[16..20]);
    let mut pseudo = Vec::with_capacity(12);
    pseudo.extend_from_slice(&h[12..20]);
    pseudo.extend_from_slice(&[0, PROTO_VRRP]);
    pseudo.extend_from_slice(&(len as u16).to_be_bytes());
    Spec::Vrrp {
        family: FAMILY_V4,
        vrid,
        msg: Some(Msg {
            family: FAMILY_V4,
            off: ip + ihl,
            len,
            ttl: h[8],
            src,
            dst,
            multicast: (224..=239).contains(&h[16]),
            pseudo,
        }),
    }
}

fn decode_v6(f: &[u8], ip: usize) -> Spec {
    let Some(h) = f.get(ip..ip + 8) else {
        return Spec::Pass;
    };
    // VRRP directly after the fixed header: no extension headers (VRRP.md).
    if h[6] != PROTO_VRRP {
        let Some(dst) = f.get(ip + 24..ip + 40) else {
            return Spec::Pass;
        };
        // Neighbour solicitations and advertisements (ICMPv6 135, 136) always pass: the
        // address must stay resolvable.
        if h[6] == 58 && matches!(f.get(ip + 40), Some(135 | 136)) {
            return Spec::Pass;
        }
        return Spec::ToAddress {
            family: FAMILY_V6,
            dst: dst.try_into().unwrap(),
        };
    }
    let vrid = f.get(ip + 41).copied().unwrap_or(0);
    let len = usize::from(u16::from_be_bytes([h[4], h[5]]));
    let framed = f.len() >= ip + 40
        && h[0] >> 4 == 6
        && (8..=MAX_MSG).contains(&len)
        && f.len() >= ip + 40 + len;
    if !framed {
        return Spec::Vrrp {
            family: FAMILY_V6,
            vrid,
            msg: None,
        };
    }
    let src: [u8; 16] = f[ip + 8..ip + 24].try_into().unwrap();
    let dst: [u8; 16] = f[ip + 24..ip + 40].try_into().unwrap();
    let mut pseudo = Vec::with_capacity(40);
    pseudo.extend_from_slice(&src);
    pseudo.extend_from_slice(&dst);
    pseudo.extend_from_slice(&(len as u32).to_be_bytes());
    pseudo.extend_from_slice(&[0, 0, 0, PROTO_VRRP]);
    Spec::Vrrp {
        family: FAMILY_V6,
        vrid,
        msg: Some(Msg {
            family: FAMILY_V6,
            off: ip + 40,
            len,
            ttl: h[7],
            src,
            dst,
            multicast: dst[0] == 0xff,
            pseudo,
        }),
    }
}

fn decode_arp(f: &[u8], off: usize) -> Spec {
    let Some(a) = f.get(off..off + 28) else {
        return Spec::Pass;
    };
    // Ethernet hardware, IPv4 protocol, 6- and 4-byte addresses.
    if a[0..2] != [0, 1] || a[2..4] != [0x08, 0x00] || a[4] != 6 || a[5] != 4 {
        return Spec::Pass;
    }
    Spec::Arp {
        op: u16::from_be_bytes([a[6], a[7]]),
        sha: a[8..14].try_into().unwrap(),
        spa: a[14..18].try_into().unwrap(),
        tpa: a[24..28].try_into().unwrap(),
    }
}

/// The one's-complement sum of RFC 1071 over `b` (an odd tail padded with zero), in a wide
/// accumulator; [`fold`] finishes it.
fn ones_sum(b: &[u8]) -> u64 {
    b.chunks(2)
        .map(|c| u64::from(u16::from_be_bytes([c[0], c.get(1).copied().unwrap_or(0)])))
        .sum()
}

fn fold(mut s: u64) -> u16 {
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    s as u16
}

/// The verdict and event the receive checks demand for `f` under `policy`.
fn expected(f: &[u8], spec: &Spec, policy: &PolicyTable) -> (Verdict, Option<Event>) {
    let Some(iface) = policy.ifaces.get(&IFINDEX) else {
        // An interface without policy is not filtered at all.
        return (Verdict::Pass, None);
    };
    let mut ev = Event::zeroed();
    ev.ts_ns = TS_NS;
    ev.ifindex = IFINDEX;
    let key = |family, addr| VipKey {
        ifindex: IFINDEX,
        family,
        _pad: [0; 3],
        addr,
    };
    match spec {
        Spec::Pass => (Verdict::Pass, None),
        Spec::Tagged => (Verdict::Tagged, None),
        Spec::ToAddress { family, dst } => {
            let k = key(*family, *dst);
            // Refused only when it is a virtual address at all.
            if policy.vips.contains(&k) && policy.refuse.contains(&k) {
                (Verdict::ToVipRefused, None)
            } else {
                (Verdict::Pass, None)
            }
        }
        Spec::Arp { op, sha, spa, tpa } => {
            let mut sender = [0; 16];
            let mut target = [0; 16];
            sender[..4].copy_from_slice(spa);
            target[..4].copy_from_slice(tpa);
            let vip = |addr: [u8; 16]| policy.vips.contains(&key(FAMILY_V4, addr));
            if !vip(sender) && !vip(target) {
                return (Verdict::Pass, None);
            }
            ev.kind = EVENT_ARP;
            ev.family = FAMILY_V4;
            ev.arp_op = *op;
            ev.mac = *sha;
            ev.src = sender;
            ev.dst = target;
            (Verdict::Arp, Some(ev))
        }
        Spec::Vrrp { family, vrid, msg } => {
            let configured = policy
                .vrids
                .get(&VridKey {
                    ifindex: IFINDEX,
                    vrid: *vrid,
                    family: *family,
                    _pad: [0; 2],
                })
                .copied();
            // Check 5 first: another router's packet, sound or not, is its owner's to judge.
            if configured.is_none() && iface.flags & IFACE_ANY_VRID == 0 {
                let foreign = Verdict::Vrrp {
                    vrid: *vrid,
                    reason: Reason::Foreign,
                };
                return (foreign, None);
            }
            // Stands for "refused for some reason" (see `wire_one`).
            let reject = Verdict::Vrrp {
                vrid: *vrid,
                reason: Reason::Length,
            };
            let Some(m) = msg else {
                return (reject, None);
            };
            let Some(form) = accepts(f, m, configured) else {
                return (reject, None);
            };
            let b = &f[m.off..m.off + m.len];
            let count = usize::from(b[3]);
            let version = b[0] >> 4;
            ev.kind = EVENT_ADVERT;
            ev.family = m.family;
            ev.version = version;
            ev.vrid = *vrid;
            ev.priority = b[2];
            ev.addr_count = b[3];
            ev.interval_cs = if version == 2 {
                u16::from(b[5]) * 100
            } else {
                u16::from_be_bytes([b[4], b[5]]) & 0x0fff
            };
            ev.ttl = m.ttl;
            ev.csum_form = form;
            ev.mac = f[6..12].try_into().unwrap();
            ev.src = m.src;
            ev.dst = m.dst;
            let addr_len = if m.family == FAMILY_V4 { 4 } else { 16 };
            let n = (count * addr_len).min(EVENT_ADDR_BYTES);
            ev.addrs[..n].copy_from_slice(&b[8..8 + n]);
            // The raw header, for the agent's auth_hmac check (no trailer: no such policy).
            ev.hdr.copy_from_slice(&b[..8]);
            (
                Verdict::Vrrp {
                    vrid: *vrid,
                    reason: Reason::Accepted,
                },
                Some(ev),
            )
        }
    }
}

/// The checks of RFC 5798 §7.1 (RFC 3768 §7.1 for v2) with docs/xdp-filter.md's choices, for an advert
/// that is ours (`configured` is `None` only for the monitor, which takes every VRID):
/// `Some(form)` of the checksum that verified when the advert is accepted.
fn accepts(f: &[u8], m: &Msg, configured: Option<VridPolicy>) -> Option<u8> {
    let b = &f[m.off..m.off + m.len];
    // 1. TTL / hop limit 255, except an advert unicast to a unicast-peer instance.
    let unicast_ok = configured.is_some_and(|p| p.flags & VRID_UNICAST != 0) && !m.multicast;
    if m.ttl != 255 && !unicast_ok {
        return None;
    }
    // 2. Version (the configured one, else 2 or 3; v2 is IPv4 only) and type 1.
    let version = b[0] >> 4;
    let version_ok = match configured {
        Some(p) if p.version != VERSION_ANY => version == p.version,
        _ => version == 2 || version == 3,
    };
    if !version_ok || (version == 2 && m.family != FAMILY_V4) || b[0] & 0x0f != 1 {
        return None;
    }
    // 3. At least one address; the length covers them (and v2's authentication data);
    //    whole 16-bit words.
    let count = usize::from(b[3]);
    let addr_len = if m.family == FAMILY_V4 { 4 } else { 16 };
    let need = 8 + count * addr_len + if version == 2 { 8 } else { 0 };
    if count == 0 || m.len < need || m.len % 2 == 1 {
        return None;
    }
    // 4. Checksum: v2 over the message alone; v3 over IPv6 with the pseudo-header; v3 over
    //    IPv4 in the configured form, either for the monitor, the pseudo-header form first.
    let plain_ok = fold(ones_sum(b)) == 0xffff;
    let pseudo_ok = fold(ones_sum(b) + ones_sum(&m.pseudo)) == 0xffff;
    let form = if version == 2 {
        plain_ok.then_some(CSUM_PLAIN)
    } else if m.family == FAMILY_V6 {
        pseudo_ok.then_some(CSUM_PSEUDO)
    } else {
        let wanted = configured.map_or(CSUM_EITHER, |p| p.csum_form);
        if pseudo_ok && wanted != CSUM_PLAIN {
            Some(CSUM_PSEUDO)
        } else if plain_ok && wanted != CSUM_PSEUDO {
            Some(CSUM_PLAIN)
        } else {
            None
        }
    }?;
    // 5. The VRID is configured here (or the monitor takes every VRID): settled above.
    // 6. v2 against a v2 instance: authentication type, password and interval match.
    if let Some(p) = configured.filter(|p| version == 2 && p.version == 2) {
        if b[4] != p.auth_type {
            return None;
        }
        let pass = 8 + count * 4;
        if p.auth_type == AUTH_PASS && b[pass..pass + 8] != p.auth_pass {
            return None;
        }
        if b[5] != p.adver_int_s {
            return None;
        }
    }
    Some(form)
}

/// One verdict is counted exactly once, where the XDP program would count it.
fn check_counters(c: &Counters, verdict: Verdict, event: Option<&Event>, policy: &str) {
    let slots: u64 = c.slots.iter().sum();
    // A frame that is not VRRP is counted once in its global stat and never under a VRID.
    let stat = |index: u32, what: &str| {
        assert_eq!(c.stats[index as usize], 1, "{policy}: {what} not counted");
        assert_eq!(slots, 0, "{policy}: {what} counted under a VRID");
    };
    match verdict {
        Verdict::Pass => stat(STAT_NON_VRRP, "a pass"),
        Verdict::Tagged => stat(STAT_VLAN_PASSED, "a tagged frame"),
        Verdict::Arp => stat(STAT_ARP_REPORTED, "an ARP"),
        Verdict::ToVipRefused => stat(STAT_VIP_DROPPED, "a refusal"),
        Verdict::Vrrp { vrid, reason } => {
            assert_eq!(c.get(vrid, reason), 1, "{policy}: {reason:?} not counted");
            let form_counted = reason == Reason::Accepted
                && event.is_some_and(|e| e.family == FAMILY_V4 && e.version == 3);
            assert_eq!(
                slots,
                1 + u64::from(form_counted),
                "{policy}: counted twice"
            );
            if form_counted {
                let slot = if event.unwrap().csum_form == CSUM_PSEUDO {
                    SLOT_CSUM_PSEUDO
                } else {
                    SLOT_CSUM_PLAIN
                };
                assert_eq!(c.slot(vrid, slot), 1, "{policy}: checksum form not counted");
            }
            assert_eq!(
                c.stats.iter().sum::<u64>(),
                0,
                "{policy}: VRRP counted as stats"
            );
        }
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

// ---------------------------------------------------------------------------------------
// config
// ---------------------------------------------------------------------------------------

/// The bytes (lossily made UTF-8) as keepalived.conf and as native TOML.
///
/// Text naming `include` (any of its variants) is skipped: an include reads whatever files
/// the pattern names on this machine, which makes a run neither deterministic nor bounded.
pub fn config(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if text.contains("include") {
        return;
    }
    for name in ["fuzz.conf", "fuzz.toml"] {
        config_one(&text, Path::new(name));
    }
}

fn config_one(text: &str, name: &Path) {
    let first = check_str(text, name);
    let again = check_str(text, name);
    assert_eq!(first.config, again.config, "{name:?}: two reads differ");
    assert_eq!(
        first.warnings, again.warnings,
        "{name:?}: two reads warn differently"
    );
    assert_eq!(
        first.errors, again.errors,
        "{name:?}: two reads fail differently"
    );
    assert_eq!(
        first.config.is_some(),
        first.errors.is_empty(),
        "{name:?}: a config with errors, or no config and no error"
    );
    let lines = text.matches('\n').count() + 1;
    let places = first
        .errors
        .iter()
        .map(|e| (&e.location, &e.message))
        .chain(first.warnings.iter().map(|w| (&w.location, &w.message)));
    for (at, message) in places {
        assert_eq!(at.file, name, "message about another file: {message}");
        assert!(
            at.line <= lines,
            "{name:?}: line {} of {lines}: {message}",
            at.line
        );
        assert!(
            !message.trim().is_empty(),
            "{name:?}:{}: empty message",
            at.line
        );
    }
    if let Some(config) = &first.config {
        model_promises(config);
        for instance in &config.instances {
            instance_adverts_accepted(instance);
        }
    }
}

fn family_of(a: &IpAddr) -> Family {
    if a.is_ipv4() {
        Family::V4
    } else {
        Family::V6
    }
}

/// What `config::model` says every loaded configuration already satisfies.
fn model_promises(c: &Config) {
    for (i, a) in c.instances.iter().enumerate() {
        let who = &a.name;
        for b in &c.instances[..i] {
            assert_ne!(a.name, b.name, "two instances named {who}");
            assert!(
                !(a.interface == b.interface && a.vrid == b.vrid && a.family == b.family),
                "{who} and {} share interface, VRID and family",
                b.name
            );
        }
        assert!(a.vrid >= 1, "{who}: VRID 0");
        assert!(a.priority >= 1, "{who}: priority 0");
        match a.version {
            Version::V2 => {
                assert_eq!(a.family, Family::V4, "{who}: VRRPv2 over IPv6");
                assert!(
                    a.advert_int_cs % 100 == 0 && (100..=25500).contains(&a.advert_int_cs),
                    "{who}: v2 interval {} cs",
                    a.advert_int_cs
                );
            }
            Version::V3 => {
                assert!(
                    (1..=4095).contains(&a.advert_int_cs),
                    "{who}: v3 interval {} cs",
                    a.advert_int_cs
                );
                assert!(a.auth_pass.is_none(), "{who}: a password on VRRPv3");
            }
        }
        assert!(
            a.virtual_addresses.len() <= 255,
            "{who}: too many addresses"
        );
        for v in &a.virtual_addresses {
            assert_eq!(family_of(&v.addr), a.family, "{who}: mixed families");
            let max = if a.family == Family::V4 { 32 } else { 128 };
            assert!(v.prefix_len <= max, "{who}: {}/{}", v.addr, v.prefix_len);
        }
        for peer in a.unicast_src.iter().chain(&a.unicast_peers) {
            assert_eq!(
                family_of(peer),
                a.family,
                "{who}: unicast {peer} of the other family"
            );
        }
        if a.priority == 255 {
            assert!(a.preempt, "{who}: an address owner that does not preempt");
        }
        assert!(a.preempt_delay.as_secs() <= 1000, "{who}: preempt_delay");
        for t in &a.track_interfaces {
            assert!(t.weight.abs() <= 253, "{who}: track_interface weight");
        }
        // Every tracked script and file is defined, its weight in range.
        let script = |n: &String| c.scripts.iter().any(|s| &s.name == n);
        let file = |n: &String| c.track_files.iter().any(|f| &f.name == n);
        let tracks = (a.track_scripts.iter())
            .map(|t| ("script", &t.name, t.weight, 253, script(&t.name)))
            .chain(
                a.track_files
                    .iter()
                    .map(|t| ("file", &t.name, t.weight, 254, file(&t.name))),
            );
        for (kind, name, weight, max, defined) in tracks {
            assert!(defined, "{who}: tracks an undefined {kind} {name}");
            let in_range = weight.is_none_or(|w: i32| w.abs() <= max);
            assert!(in_range, "{who}: {kind} weight");
        }
    }
    for (i, s) in c.scripts.iter().enumerate() {
        assert!(
            c.scripts[..i].iter().all(|o| o.name != s.name),
            "two scripts named {}",
            s.name
        );
        assert!(!s.interval.is_zero(), "script {}: interval 0", s.name);
        assert!(!s.timeout.is_zero(), "script {}: timeout 0", s.name);
        assert!(s.weight.abs() <= 253, "script {}: weight", s.name);
        assert!(s.rise >= 1 && s.fall >= 1, "script {}: rise/fall 0", s.name);
        assert!(
            !s.script.trim().is_empty(),
            "script {}: empty command",
            s.name
        );
    }
    for f in &c.track_files {
        assert!(f.weight.abs() <= 254, "track_file {}: weight", f.name);
        assert!(
            !f.path.as_os_str().is_empty(),
            "track_file {}: no path",
            f.name
        );
    }
    let mut claimed: Vec<&str> = Vec::new();
    for g in &c.sync_groups {
        assert!(!g.members.is_empty(), "sync group {} is empty", g.name);
        for m in &g.members {
            assert!(
                c.instances.iter().any(|i| &i.name == m),
                "sync group {}: no instance {m}",
                g.name
            );
            assert!(!claimed.contains(&m.as_str()), "{m} is in two sync groups");
            claimed.push(m);
        }
    }
}

/// A few adverts as the engine sends them for `a` (its priority, and 0 when it resigns),
/// to each destination, judged by a peer whose receive policy comes from the same
/// configuration.
///
/// Two kinds of loaded configuration give adverts no peer accepts, and are only checked to
/// be refused as `length` (reported to the lead, not fixed here): an instance without
/// virtual addresses (count 0, which RFC 5798 §5.2.5 forbids), and an IPv6 instance with
/// more than 92 addresses (a message longer than the 1480 bytes the checks look at).
fn instance_adverts_accepted(a: &Instance) {
    let src = a.unicast_src.unwrap_or(match a.family {
        Family::V4 => IpAddr::V4(Ipv4Addr::new(10, 9, 0, 1)),
        Family::V6 => IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1)),
    });
    let destinations = if a.unicast_peers.is_empty() {
        vec![match a.family {
            Family::V4 => IpAddr::V4(Ipv4Addr::new(224, 0, 0, 18)),
            Family::V6 => IpAddr::V6(Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12)),
        }]
    } else {
        a.unicast_peers.clone()
    };
    // The policy the agent loads for the same configuration, minus what this unsigned
    // advert from an unlisted source cannot meet: the sender is not in its own peer list,
    // and it carries no auth_hmac trailer.
    let loaded = vrid_policy(a, 0);
    let peer = VridPolicy {
        flags: loaded.flags & !VRID_PEERS_ONLY,
        hmac_mode: HMAC_OFF,
        hmac_window_s: 0,
        ..loaded
    };
    let family = family_code(a.family);
    let policy = one_vrid_policy(a.vrid, family, peer);
    let count = a.virtual_addresses.len();
    let known_gap = count == 0 || (a.family == Family::V6 && count > 92);
    for priority in [a.priority, 0] {
        let advert = AdvertOut {
            version: a.version,
            vrid: a.vrid,
            priority,
            interval_cs: a.advert_int_cs,
            addrs: a.virtual_addresses.iter().map(|v| v.addr).collect(),
            auth_pass: a.auth_pass,
        };
        for &dst in &destinations {
            let msg = advert.emit(src, dst, a.checksum);
            let frame = wrap(&msg, src, dst, 255, &[]);
            let mut counters = Counters::default();
            let (verdict, event) = process_frame(&frame, IFINDEX, TS_NS, &policy, &mut counters);
            if known_gap {
                assert_eq!(
                    verdict,
                    Verdict::Vrrp {
                        vrid: a.vrid,
                        reason: Reason::Length
                    },
                    "{}: {count} addresses",
                    a.name
                );
                continue;
            }
            assert_eq!(
                verdict,
                Verdict::Vrrp {
                    vrid: a.vrid,
                    reason: Reason::Accepted
                },
                "{}: the advert to {dst} is refused by a peer with the same config: {}",
                a.name,
                hex(&frame)
            );
            let ev = event.unwrap();
            assert_eq!(ev.priority, priority);
            assert_eq!(ev.interval_cs, a.advert_int_cs, "{}: interval", a.name);
        }
    }
}

fn one_vrid_policy(vrid: u8, family: u8, p: VridPolicy) -> PolicyTable {
    let mut t = PolicyTable::default();
    t.ifaces.insert(IFINDEX, IfacePolicy { flags: 0 });
    t.vrids.insert(
        VridKey {
            ifindex: IFINDEX,
            vrid,
            family,
            _pad: [0; 2],
        },
        p,
    );
    t
}

/// A VRRP message in Ethernet (with `vlans` TPIDs, VID 9) and an IP header from `src` to
/// `dst` with TTL / hop limit `ttl`.
fn wrap(msg: &[u8], src: IpAddr, dst: IpAddr, ttl: u8, vlans: &[u16]) -> Vec<u8> {
    let mut f = Vec::with_capacity(14 + 8 + 40 + msg.len());
    let dst_mac = match dst {
        IpAddr::V4(d) if d.is_multicast() => [0x01, 0x00, 0x5e, 0, 0, d.octets()[3]],
        IpAddr::V6(d) if d.is_multicast() => [0x33, 0x33, 0, 0, 0, d.octets()[15]],
        _ => [0x02, 0, 0, 0, 0, 0x02],
    };
    f.extend_from_slice(&dst_mac);
    f.extend_from_slice(&[0x02, 0, 0, 0, 0, 0x01]);
    for &tpid in vlans {
        f.extend_from_slice(&tpid.to_be_bytes());
        f.extend_from_slice(&9u16.to_be_bytes());
    }
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            f.extend_from_slice(&ETH_P_IP.to_be_bytes());
            let total = (20 + msg.len()) as u16;
            let mut ip = vec![0x45, 0xc0];
            ip.extend_from_slice(&total.to_be_bytes());
            ip.extend_from_slice(&[0, 0, 0, 0, ttl, PROTO_VRRP, 0, 0]);
            ip.extend_from_slice(&s.octets());
            ip.extend_from_slice(&d.octets());
            let c = !fold(ones_sum(&ip));
            ip[10..12].copy_from_slice(&c.to_be_bytes());
            f.extend_from_slice(&ip);
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            f.extend_from_slice(&ETH_P_IPV6.to_be_bytes());
            f.extend_from_slice(&[0x60, 0, 0, 0]);
            f.extend_from_slice(&(msg.len() as u16).to_be_bytes());
            f.extend_from_slice(&[PROTO_VRRP, ttl]);
            f.extend_from_slice(&s.octets());
            f.extend_from_slice(&d.octets());
        }
        _ => panic!("source and destination of different families"),
    }
    f.extend_from_slice(msg);
    f
}

// ---------------------------------------------------------------------------------------
// advert_roundtrip
// ---------------------------------------------------------------------------------------

/// Bytes read front to back; zeros once they run out, so every input means something.
struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn u8(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }

    fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.u8(), self.u8()])
    }

    fn array<const N: usize>(&mut self) -> [u8; N] {
        std::array::from_fn(|_| self.u8())
    }

    fn addr(&mut self, v6: bool) -> IpAddr {
        if v6 {
            IpAddr::V6(Ipv6Addr::from(self.array::<16>()))
        } else {
            IpAddr::V4(Ipv4Addr::from(self.array::<4>()))
        }
    }
}

/// Input layout: flags (bit 0 VRRPv2, bit 1 IPv6, bit 2 plain checksum form, bit 3 a v2
/// password, bit 4 unicast, bits 5-6 VLAN tags, bit 7 a TTL other than 255), VRID,
/// priority, interval (2 bytes), address count, the addresses, the password (8), the
/// source, the unicast destination, the TTL.
///
/// The advert stays inside what a loaded configuration can ask for (see
/// [`instance_adverts_accepted`]): one address family, v2 over IPv4 only and in whole
/// seconds. Within that, with 1..=255 addresses (1..=92 for IPv6), it must be accepted;
/// with none, or with more IPv6 addresses than fit in 1480 bytes, refused as `length`.
pub fn advert_roundtrip(data: &[u8]) {
    let mut r = Bytes(data);
    let flags = r.u8();
    let v2 = flags & 1 != 0;
    let v6 = flags & 2 != 0 && !v2;
    let form = if flags & 4 != 0 {
        ChecksumForm::Plain
    } else {
        ChecksumForm::Pseudo
    };
    let unicast = flags & 16 != 0;
    let vlans: &[u16] = match (flags >> 5) & 3 {
        1 => &[ETH_P_8021Q],
        2 => &[ETH_P_8021AD, ETH_P_8021Q],
        _ => &[],
    };
    let vrid = r.u8();
    let priority = r.u8();
    let raw_interval = r.u16();
    let interval_cs = if v2 {
        (raw_interval % 255 + 1) * 100
    } else {
        raw_interval
    };
    let count = usize::from(r.u8());
    let addrs: Vec<IpAddr> = (0..count).map(|_| r.addr(v6)).collect();
    let password = r.array::<8>();
    let auth_pass = (v2 && flags & 8 != 0).then_some(password);
    let src = r.addr(v6);
    let multicast = if v6 {
        IpAddr::V6(Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12))
    } else {
        IpAddr::V4(Ipv4Addr::new(224, 0, 0, 18))
    };
    let dst = if unicast { r.addr(v6) } else { multicast };
    let ttl = if flags & 128 != 0 { r.u8() } else { 255 };

    let advert = AdvertOut {
        version: if v2 { Version::V2 } else { Version::V3 },
        vrid,
        priority,
        interval_cs,
        addrs,
        auth_pass,
    };
    let msg = advert.emit(src, dst, form);
    // The VLAN device sees the frame untagged; its parent sees it tagged.
    let frame = wrap(&msg, src, dst, ttl, &[]);
    let tagged = wrap(&msg, src, dst, ttl, vlans);
    let family = if v6 { FAMILY_V6 } else { FAMILY_V4 };
    let wanted = if form == ChecksumForm::Plain {
        CSUM_PLAIN
    } else {
        CSUM_PSEUDO
    };
    let matching = VridPolicy {
        version: if v2 { 2 } else { 3 },
        csum_form: wanted,
        auth_type: if auth_pass.is_some() {
            AUTH_PASS
        } else {
            AUTH_NONE
        },
        flags: if unicast { VRID_UNICAST } else { 0 },
        adver_int_s: (interval_cs / 100).clamp(1, 255) as u8,
        auth_pass: auth_pass.unwrap_or([0; 8]),
        ..VridPolicy::default()
    };
    let judge = |p: VridPolicy| {
        let mut counters = Counters::default();
        process_frame(
            &frame,
            IFINDEX,
            TS_NS,
            &one_vrid_policy(vrid, family, p),
            &mut counters,
        )
    };
    let verdict = |reason| Verdict::Vrrp { vrid, reason };

    // On the parent interface a tagged frame is passed untouched, even to a policy that
    // would accept it untagged: the VLAN device's own policy judges it.
    if !vlans.is_empty() {
        for p in [
            one_vrid_policy(vrid, family, matching),
            PolicyTable::monitor(IFINDEX, &[]),
        ] {
            let mut counters = Counters::default();
            let got = process_frame(&tagged, IFINDEX, TS_NS, &p, &mut counters);
            assert_eq!(got, (Verdict::Tagged, None), "tagged: {}", hex(&tagged));
            assert_eq!(counters.stats[STAT_VLAN_PASSED as usize], 1);
        }
    }

    let fits = count >= 1 && (!v6 || count <= 92);
    let dst_multicast = match dst {
        IpAddr::V4(d) => d.octets()[0] & 0xf0 == 0xe0,
        IpAddr::V6(d) => d.octets()[0] == 0xff,
    };
    let ttl_ok = ttl == 255 || (unicast && !dst_multicast);
    let (got, event) = judge(matching);
    if !fits {
        // An IPv6 payload over 1480 bytes is refused with the IP header, before the TTL is
        // looked at; an advert without addresses is refused after it.
        let want = if ttl_ok || count > 92 {
            Reason::Length
        } else {
            Reason::Ttl
        };
        assert_eq!(got, verdict(want), "{count} addresses: {}", hex(&frame));
        return;
    }
    if !ttl_ok {
        assert_eq!(got, verdict(Reason::Ttl), "TTL {ttl} to {dst}");
        return;
    }
    assert_eq!(
        got,
        verdict(Reason::Accepted),
        "an emitted advert is refused under a matching policy: {advert:?} from {src} to \
         {dst}: {}",
        hex(&frame)
    );
    let ev = event.expect("an accepted advert has an event");
    let v4_v3 = !v6 && !v2;
    assert_eq!(ev.kind, EVENT_ADVERT);
    assert_eq!(ev.family, family);
    assert_eq!(ev.version, if v2 { 2 } else { 3 });
    assert_eq!(ev.vrid, vrid);
    assert_eq!(ev.priority, priority);
    assert_eq!(usize::from(ev.addr_count), count);
    let interval_on_wire = if v2 {
        interval_cs
    } else {
        interval_cs & 0x0fff
    };
    assert_eq!(ev.interval_cs, interval_on_wire, "interval");
    assert_eq!(ev.ttl, ttl);
    let want_form = if v2 {
        CSUM_PLAIN
    } else if v6 {
        CSUM_PSEUDO
    } else {
        wanted
    };
    assert_eq!(ev.csum_form, want_form, "checksum form");
    let addr_bytes: Vec<u8> = advert
        .addrs
        .iter()
        .flat_map(|a| match a {
            IpAddr::V4(a) => a.octets().to_vec(),
            IpAddr::V6(a) => a.octets().to_vec(),
        })
        .take(EVENT_ADDR_BYTES)
        .collect();
    assert_eq!(&ev.addrs[..addr_bytes.len()], &addr_bytes[..], "addresses");

    // The passive monitor accepts it too (when the TTL is 255: it has no unicast peers).
    if ttl == 255 {
        let mut counters = Counters::default();
        let monitor = PolicyTable::monitor(IFINDEX, &[]);
        let (v, _) = process_frame(&frame, IFINDEX, TS_NS, &monitor, &mut counters);
        assert_eq!(v, verdict(Reason::Accepted), "refused by the monitor");
    }

    // The other checksum form is refused, unless the pseudo-header happens to add nothing
    // (its one's-complement sum is 0 mod 0xffff, so both forms verify).
    if v4_v3 {
        let mut pseudo = Vec::new();
        for a in [src, dst] {
            if let IpAddr::V4(a) = a {
                pseudo.extend_from_slice(&a.octets());
            }
        }
        pseudo.extend_from_slice(&[0, PROTO_VRRP]);
        pseudo.extend_from_slice(&(msg.len() as u16).to_be_bytes());
        let neutral = fold(ones_sum(&pseudo)) == 0xffff;
        let other = if wanted == CSUM_PLAIN {
            CSUM_PSEUDO
        } else {
            CSUM_PLAIN
        };
        let (v, _) = judge(VridPolicy {
            csum_form: other,
            ..matching
        });
        let want = if neutral {
            Reason::Accepted
        } else {
            Reason::Checksum
        };
        assert_eq!(v, verdict(want), "the other checksum form: {}", hex(&frame));
    }

    // A v2 peer with another password refuses it.
    if let Some(p) = auth_pass {
        let mut wrong = p;
        wrong[0] ^= 1;
        let (v, _) = judge(VridPolicy {
            auth_pass: wrong,
            ..matching
        });
        assert_eq!(v, verdict(Reason::Auth), "another password");
    }
}

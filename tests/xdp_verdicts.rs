//! The XDP program run on crafted frames without a NIC (BPF_PROG_TEST_RUN), side by side
//! with the raw-socket path's userspace checks on the same bytes: same verdict, same
//! counter, same event, and every passed frame left byte for byte as it came. VLAN-tagged
//! frames are covered here rather than on VLAN devices (this kernel has no 802.1Q module):
//! the parent's program passes them, and the untagged frame the VLAN device would see is
//! judged by that device's policy. Needs root (CAP_BPF) and the agent built with the eBPF
//! object (`cargo xtask test` does both).

use std::net::{IpAddr, Ipv4Addr};

use aya::maps::{MapData, PerCpuArray, RingBuf};
use aya::Ebpf;
use vrrp_agent::filter::{peer_key, tai_offset_s, vip_key, Counters, PolicyTable};
use vrrp_agent::io::rawsock::process_frame;
use vrrp_agent::io::rawsock::realtime_ns;
use vrrp_agent::io::xdp::{decode_event, load_object, write_policy};
use vrrp_agent::proto::auth_hmac::{AntiReplay, AuthHmac, Mode, Signer};
use vrrp_ebpf::abi::*;
use vrrp_ebpf::classify::Verdict;
use vrrp_ebpf::wire::IPPROTO_ICMPV6;
use vrrpx_tests::frames::{arp_frame, udp_frame, v4_addrs, Advert, Csum, VRRP_MCAST_V4};
use vrrpx_tests::policies::{strict_instances, v3};

/// BPF_PROG_TEST_RUN without a context runs the program as if the frame arrived on the
/// loopback device of the caller's namespace.
const IFINDEX: u32 = 1;
const XDP_DROP: u32 = 1;
const XDP_PASS: u32 = 2;

struct Harness {
    ebpf: Ebpf,
    ring: RingBuf<MapData>,
    policy: PolicyTable,
}

impl Harness {
    fn new(policy: PolicyTable) -> Harness {
        assert!(
            vrrpx_tests::is_root(),
            "XDP tests need root (CAP_BPF); run them through `cargo xtask test` as root"
        );
        let mut ebpf = load_object().expect("XDP object loads and passes the verifier");
        write_policy(&mut ebpf, &policy).unwrap();
        let ring = RingBuf::try_from(ebpf.take_map(MAP_EVENTS).unwrap()).unwrap();
        Harness { ebpf, ring, policy }
    }

    fn counter(&self, index: u32) -> u64 {
        self.sum(MAP_COUNTERS, index)
    }

    fn stat(&self, index: u32) -> u64 {
        self.sum(MAP_STATS, index)
    }

    fn sum(&self, map: &str, index: u32) -> u64 {
        let m: PerCpuArray<_, u64> = PerCpuArray::try_from(self.ebpf.map(map).unwrap()).unwrap();
        m.get(&index, 0).unwrap().iter().sum()
    }

    /// Run one frame through the kernel: (action, event pushed to the ring, if any).
    fn xdp(&mut self, frame: &[u8]) -> (u32, Option<Event>) {
        let (action, out) = vrrpx_tests::xdp_test_run(&self.ebpf, frame);
        if action == XDP_PASS {
            // The program only reads: what passes is the frame as it came.
            assert_eq!(out, frame, "passed frame altered");
        }
        let ev = self.ring.next().and_then(|item| decode_event(&item));
        assert!(self.ring.next().is_none(), "at most one event per frame");
        (action, ev)
    }

    /// Run `frame` through both paths, assert they agree on everything, return the verdict.
    fn check(&mut self, frame: &[u8]) -> Verdict {
        let mut counters = Counters::default();
        let (verdict, user_ev) = process_frame(frame, IFINDEX, 0, &self.policy, &mut counters);
        let slot = match verdict {
            Verdict::Vrrp { vrid, reason } => Some(counter_index(vrid, reason as u32)),
            _ => None,
        };
        if frame.len() < 14 {
            // BPF_PROG_TEST_RUN refuses frames shorter than an Ethernet header; such a frame
            // never reaches XDP from a real NIC either.
            assert_eq!(verdict, Verdict::Pass);
            return verdict;
        }
        let before = slot.map(|s| self.counter(s));
        let tagged_before = self.stat(STAT_VLAN_PASSED);
        let (action, xdp_ev) = self.xdp(frame);
        let want_action = match verdict {
            Verdict::Vrrp { reason, .. } if reason.is_rejection() => XDP_DROP,
            Verdict::ToVipRefused => XDP_DROP,
            _ => XDP_PASS,
        };
        let tagged = u64::from(verdict == Verdict::Tagged);
        assert_eq!(
            self.stat(STAT_VLAN_PASSED),
            tagged_before + tagged,
            "kernel VLAN count for {verdict:?}"
        );
        assert_eq!(
            counters.stats[STAT_VLAN_PASSED as usize], tagged,
            "userspace VLAN count for {verdict:?}"
        );
        assert_eq!(
            action, want_action,
            "XDP action for {verdict:?} on {frame:02x?}"
        );
        if let (Some(s), Some(b)) = (slot, before) {
            assert_eq!(self.counter(s), b + 1, "kernel counter for {verdict:?}");
            assert_eq!(
                counters.slots[s as usize], 1,
                "userspace counter for {verdict:?}"
            );
        }
        match (user_ev, xdp_ev) {
            (None, None) => {}
            (Some(u), Some(mut k)) => {
                assert!(k.ts_ns > 0, "kernel timestamp present");
                assert_eq!(k.ifindex, IFINDEX);
                k.ts_ns = 0;
                assert_eq!(u, k, "events differ between paths for {frame:02x?}");
            }
            (u, k) => panic!("event mismatch: userspace {u:?}, kernel {k:?}"),
        }
        verdict
    }
}

/// An ARP frame (operation `op`) from the neighbour 02:00:00:00:00:09, `sender` about
/// `target`.
fn neighbour_arp(op: u16, sender: &str, target: &str) -> Vec<u8> {
    let ip = |a: &str| a.parse().unwrap();
    arp_frame(op, [2, 0, 0, 0, 0, 9], ip(sender), ip(target))
}

fn vrid_key(vrid: u8, family: Family) -> VridKey {
    VridKey::new(IFINDEX, vrid, family)
}

/// A strict policy as an engine would install it: the strict instances (VRIDs 51..54), the
/// unicast, peer and auth_hmac instances below; 10.9.0.100 is a virtual address.
fn strict_policy() -> PolicyTable {
    let mut p = strict_instances(IFINDEX);
    let v3 = v3();
    // VRID 55: unicast peers 10.9.0.2 (any TTL) and 10.9.0.3 (min_ttl 250), nobody else.
    p.vrids.insert(
        vrid_key(55, Family::V4),
        VridPolicy {
            flags: VRID_UNICAST | VRID_PEERS_ONLY,
            ..v3
        },
    );
    p.peers.insert(
        peer_key(IFINDEX, 55, "10.9.0.2".parse().unwrap()),
        PeerPolicy::default(),
    );
    p.peers.insert(
        peer_key(IFINDEX, 55, "10.9.0.3".parse().unwrap()),
        PeerPolicy {
            min_ttl: 250,
            ..PeerPolicy::default()
        },
    );
    // VRID 56 (both families): auth_hmac enforce, 5 s window; VRID 57: permissive,
    // monotonic.
    let enforce = VridPolicy {
        hmac_mode: HMAC_ENFORCE,
        hmac_window_s: 5,
        tai_offset_s: tai_offset_s(),
        ..v3
    };
    p.vrids.insert(vrid_key(56, Family::V4), enforce);
    p.vrids.insert(vrid_key(56, Family::V6), enforce);
    p.vrids.insert(
        vrid_key(57, Family::V4),
        VridPolicy {
            hmac_mode: HMAC_PERMISSIVE,
            ..v3
        },
    );
    p.vips
        .insert(vip_key(IFINDEX, IpAddr::V4(Ipv4Addr::new(10, 9, 0, 100))));
    // 10.9.0.200 and fd00:9::200 belong to a master without Accept_Mode.
    for a in [
        IpAddr::V4(Ipv4Addr::new(10, 9, 0, 200)),
        "fd00:9::200".parse().unwrap(),
    ] {
        p.vips.insert(vip_key(IFINDEX, a));
        p.refuse.insert(vip_key(IFINDEX, a));
    }
    p
}

/// ICMPv6 Echo Request (RFC 4443 §4.1) and Neighbor Solicitation (RFC 4861 §4.3).
const ICMPV6_ECHO_REQUEST: u8 = 128;
const ICMPV6_NEIGHBOR_SOLICIT: u8 = 135;

/// A UDP/IPv4 packet (not VRRP) to `dst`.
fn udp_to(dst: &str) -> Vec<u8> {
    to_address(dst.parse().unwrap(), libc::IPPROTO_UDP as u8, 0)
}

/// An ICMPv6 message of type `icmp_type` to `dst`.
fn icmpv6_to(dst: &str, icmp_type: u8) -> Vec<u8> {
    to_address(dst.parse().unwrap(), IPPROTO_ICMPV6, icmp_type)
}

/// A non-VRRP packet to `dst`: UDP over IPv4, or over IPv6 the given next header with the
/// given first payload byte (ICMPv6 type).
fn to_address(dst: IpAddr, next: u8, first: u8) -> Vec<u8> {
    let mut a = match dst {
        IpAddr::V4(_) => Advert::v3_ipv4(),
        IpAddr::V6(_) => Advert::v3_ipv6(),
    };
    a.dst = dst;
    let mut f = a.build();
    let ip = 14;
    match dst {
        IpAddr::V4(_) => f[ip + 9] = next,
        IpAddr::V6(_) => {
            f[ip + 6] = next;
            f[ip + 40] = first;
        }
    }
    f
}

fn vrrp(vrid: u8, reason: Reason) -> Verdict {
    Verdict::Vrrp { vrid, reason }
}

fn v2() -> Advert {
    Advert {
        vrid: 52,
        ..Advert::v2_pass()
    }
}

/// Every case: a name, the frame, and the verdict the RFC checks demand.
fn cases() -> Vec<(&'static str, Vec<u8>, Verdict)> {
    use Reason::*;
    let v4 = Advert::v3_ipv4();
    let v6 = Advert::v3_ipv6();
    let mut c: Vec<(&'static str, Vec<u8>, Verdict)> = vec![
        ("v3 ipv4 valid", v4.build(), vrrp(51, Accepted)),
        ("v3 ipv6 valid", v6.build(), vrrp(51, Accepted)),
        ("v2 PASS valid", v2().build(), vrrp(52, Accepted)),
        (
            "v3 ipv4 under one 802.1Q tag is the VLAN device's",
            Advert {
                vlans: vec![(0x8100, 10)],
                ..v4.clone()
            }
            .build(),
            Verdict::Tagged,
        ),
        (
            "v3 ipv6 under QinQ is the VLAN device's",
            Advert {
                vlans: vec![(0x88a8, 100), (0x8100, 10)],
                ..v6.clone()
            }
            .build(),
            Verdict::Tagged,
        ),
        (
            "v2 under QinQ is the VLAN device's",
            Advert {
                vlans: vec![(0x88a8, 100), (0x8100, 10)],
                ..v2()
            }
            .build(),
            Verdict::Tagged,
        ),
        (
            "tagged advert with TTL 1 is not the parent's to drop",
            Advert {
                ttl: 1,
                vlans: vec![(0x8100, 10)],
                ..v4.clone()
            }
            .build(),
            Verdict::Tagged,
        ),
        (
            "tagged UDP to a refused virtual address passes the parent",
            {
                let mut f = udp_to("10.9.0.200");
                f.splice(12..12, [0x81, 0x00, 0x00, 0x0a]);
                f
            },
            Verdict::Tagged,
        ),
        (
            "tagged ARP for a virtual address is reported by the VLAN device, not here",
            {
                let mut f = neighbour_arp(1, "10.9.0.7", "10.9.0.100");
                f.splice(12..12, [0x88, 0xa8, 0x00, 0x0a]);
                f
            },
            Verdict::Tagged,
        ),
        (
            "v3 ipv4 with IP options (router alert)",
            Advert {
                ip_options: vec![0x94, 0x04, 0, 0],
                ..v4.clone()
            }
            .build(),
            vrrp(51, Accepted),
        ),
        (
            "v3 ipv4 with Ethernet padding",
            Advert {
                eth_padding: 18,
                ..v4.clone()
            }
            .build(),
            vrrp(51, Accepted),
        ),
        (
            "v3 ipv4 with several addresses",
            Advert {
                addrs: v4_addrs(20),
                ..v4.clone()
            }
            .build(),
            vrrp(51, Accepted),
        ),
        (
            "v3 plain checksum on a plain-checksum instance",
            Advert {
                vrid: 53,
                csum: Csum::Plain,
                ..v4.clone()
            }
            .build(),
            vrrp(53, Accepted),
        ),
        (
            "v3 unicast advert with TTL 64 on a unicast instance",
            Advert {
                vrid: 54,
                ttl: 64,
                dst: IpAddr::V4(Ipv4Addr::new(10, 9, 0, 2)),
                ..v4.clone()
            }
            .build(),
            vrrp(54, Accepted),
        ),
        (
            "ipv4 TTL 254",
            Advert {
                ttl: 254,
                ..v4.clone()
            }
            .build(),
            vrrp(51, Ttl),
        ),
        (
            "ipv6 hop limit 1",
            Advert {
                ttl: 1,
                ..v6.clone()
            }
            .build(),
            vrrp(51, Ttl),
        ),
        ("v2 TTL 0", Advert { ttl: 0, ..v2() }.build(), vrrp(52, Ttl)),
        (
            "multicast advert with TTL 64 on a unicast instance",
            Advert {
                vrid: 54,
                ttl: 64,
                ..v4.clone()
            }
            .build(),
            vrrp(54, Ttl),
        ),
        (
            "version 4",
            Advert {
                version: 4,
                ..v4.clone()
            }
            .build(),
            vrrp(51, Version),
        ),
        (
            "version 1 over ipv6",
            Advert {
                version: 1,
                ..v6.clone()
            }
            .build(),
            vrrp(51, Version),
        ),
        (
            "v2 advert for a v3 instance",
            Advert {
                version: 2,
                csum: Csum::Plain,
                auth_data: [0; 8],
                auth_type: 0,
                ..v4.clone()
            }
            .build(),
            vrrp(51, Version),
        ),
        (
            "v3 advert for a v2 instance",
            Advert {
                vrid: 52,
                ..v4.clone()
            }
            .build(),
            vrrp(52, Version),
        ),
        (
            "type 2",
            Advert {
                vtype: 2,
                ..v4.clone()
            }
            .build(),
            vrrp(51, Type),
        ),
        (
            "ipv6 type 0",
            Advert {
                vtype: 0,
                ..v6.clone()
            }
            .build(),
            vrrp(51, Type),
        ),
        (
            "count 0",
            Advert {
                count: Some(0),
                addrs: vec![],
                ..v4.clone()
            }
            .build(),
            vrrp(51, Length),
        ),
        (
            "count beyond the message",
            Advert {
                count: Some(3),
                ..v4.clone()
            }
            .build(),
            vrrp(51, Length),
        ),
        (
            "ipv6 count beyond the message",
            Advert {
                count: Some(2),
                ..v6.clone()
            }
            .build(),
            vrrp(51, Length),
        ),
        (
            "v2 without room for auth data",
            Advert {
                count: Some(3),
                ..v2()
            }
            .build(),
            vrrp(52, Length),
        ),
        (
            "odd VRRP length",
            Advert {
                trailer: vec![0],
                ..v4.clone()
            }
            .build(),
            vrrp(51, Length),
        ),
        (
            "bad checksum ipv4",
            Advert {
                csum: Csum::Bad,
                ..v4.clone()
            }
            .build(),
            vrrp(51, Checksum),
        ),
        (
            "bad checksum ipv6",
            Advert {
                csum: Csum::Bad,
                ..v6.clone()
            }
            .build(),
            vrrp(51, Checksum),
        ),
        (
            "ipv6 checksum without the pseudo-header",
            Advert {
                csum: Csum::Plain,
                ..v6.clone()
            }
            .build(),
            vrrp(51, Checksum),
        ),
        (
            "bad checksum v2",
            Advert {
                csum: Csum::Bad,
                ..v2()
            }
            .build(),
            vrrp(52, Checksum),
        ),
        (
            "plain checksum on a pseudo-header instance",
            Advert {
                csum: Csum::Plain,
                ..v4.clone()
            }
            .build(),
            vrrp(51, Checksum),
        ),
        (
            "pseudo-header checksum on a plain-checksum instance",
            Advert {
                vrid: 53,
                ..v4.clone()
            }
            .build(),
            vrrp(53, Checksum),
        ),
        (
            "unknown VRID is another router's",
            Advert {
                vrid: 99,
                ..v4.clone()
            }
            .build(),
            vrrp(99, Foreign),
        ),
        (
            "a VRID configured for ipv4 only is another router's over ipv6",
            Advert {
                vrid: 52,
                ..v6.clone()
            }
            .build(),
            vrrp(52, Foreign),
        ),
        (
            "unknown VRID with TTL 64 is not ours to judge",
            Advert {
                vrid: 99,
                ttl: 64,
                ..v4.clone()
            }
            .build(),
            vrrp(99, Foreign),
        ),
        (
            "unknown VRID with a bad checksum is not ours to judge",
            Advert {
                vrid: 99,
                csum: Csum::Bad,
                ..v6.clone()
            }
            .build(),
            vrrp(99, Foreign),
        ),
        (
            "unknown v2 VRID with a short message is not ours to judge",
            Advert {
                vrid: 98,
                count: Some(3),
                ..Advert::v2_pass()
            }
            .build(),
            vrrp(98, Foreign),
        ),
        (
            "unknown VRID of version 9 is not ours to judge",
            Advert {
                vrid: 97,
                version: 9,
                ..v4.clone()
            }
            .build(),
            vrrp(97, Foreign),
        ),
        (
            "v2 wrong password",
            Advert {
                auth_data: *b"secret!?",
                ..v2()
            }
            .build(),
            vrrp(52, Auth),
        ),
        (
            "v2 no authentication",
            Advert {
                auth_type: 0,
                auth_data: [0; 8],
                ..v2()
            }
            .build(),
            vrrp(52, Auth),
        ),
        (
            "v2 interval 2 s against 1 s",
            Advert {
                interval: 2,
                ..v2()
            }
            .build(),
            vrrp(52, Interval),
        ),
        ("UDP is not VRRP", udp_frame(), Verdict::Pass),
        (
            "ARP announcing the virtual address",
            neighbour_arp(1, "10.9.0.100", "10.9.0.100"),
            Verdict::Arp,
        ),
        (
            "ARP asking for the virtual address",
            neighbour_arp(1, "10.9.0.7", "10.9.0.100"),
            Verdict::Arp,
        ),
        (
            "ARP unrelated to virtual addresses",
            neighbour_arp(2, "10.9.0.7", "10.9.0.8"),
            Verdict::Pass,
        ),
        ("empty frame", vec![], Verdict::Pass),
        (
            "UDP to a virtual address refused without Accept_Mode",
            udp_to("10.9.0.200"),
            Verdict::ToVipRefused,
        ),
        (
            "UDP to a virtual address with Accept_Mode",
            udp_to("10.9.0.100"),
            Verdict::Pass,
        ),
        (
            "ICMPv6 echo to an IPv6 virtual address refused without Accept_Mode",
            icmpv6_to("fd00:9::200", ICMPV6_ECHO_REQUEST),
            Verdict::ToVipRefused,
        ),
        (
            "neighbour solicitation to a refused IPv6 virtual address still passes",
            icmpv6_to("fd00:9::200", ICMPV6_NEIGHBOR_SOLICIT),
            Verdict::Pass,
        ),
    ];
    c.extend(peer_cases());
    c.extend(hmac_cases());
    // However deep the tags are stacked, the outermost one decides.
    c.push((
        "three VLAN tags are the VLAN device's too",
        Advert {
            vlans: vec![(0x88a8, 1), (0x8100, 2), (0x8100, 3)],
            ..v4
        }
        .build(),
        Verdict::Tagged,
    ));
    c
}

/// VRID 55 hears only its unicast peers, each within its TTL bounds.
fn peer_cases() -> Vec<(&'static str, Vec<u8>, Verdict)> {
    use Reason::*;
    let unicast = |src: &str, ttl: u8| Advert {
        vrid: 55,
        priority: 255,
        src: src.parse().unwrap(),
        dst: "10.9.0.1".parse().unwrap(),
        ttl,
        ..Advert::v3_ipv4()
    };
    vec![
        (
            "priority 255 unicast from a host that is not a peer",
            unicast("10.9.0.9", 255).build(),
            vrrp(55, NotPeer),
        ),
        (
            "multicast with TTL 255 from a host that is not a peer",
            Advert {
                dst: IpAddr::V4(VRRP_MCAST_V4),
                ..unicast("10.9.0.9", 255)
            }
            .build(),
            vrrp(55, NotPeer),
        ),
        (
            "unicast from a peer across routers (TTL 64)",
            unicast("10.9.0.2", 64).build(),
            vrrp(55, Accepted),
        ),
        (
            "unicast from a peer below its min_ttl",
            unicast("10.9.0.3", 64).build(),
            vrrp(55, Ttl),
        ),
        (
            "unicast from a peer at its min_ttl",
            unicast("10.9.0.3", 250).build(),
            vrrp(55, Accepted),
        ),
    ]
}

fn hmac_key() -> AuthHmac {
    AuthHmac {
        keys: vec![(7, vec![0x5a; 32])],
        active_key: 7,
        mode: Mode::Enforce,
        anti_replay: AntiReplay::Time { window_s: 5 },
    }
}

/// VRID 56 requires an auth_hmac trailer; VRID 57 takes one or none. XDP judges presence,
/// shape and age; the HMAC itself is the agent's (tests/auth_hmac.rs).
fn hmac_cases() -> Vec<(&'static str, Vec<u8>, Verdict)> {
    use Reason::*;
    let cfg = hmac_key();
    let now = realtime_ns();
    let mut s = Signer::default();
    let v4 = Advert {
        vrid: 56,
        ..Advert::v3_ipv4()
    };
    let v6 = Advert {
        vrid: 56,
        ..Advert::v3_ipv6()
    };
    let signed4 = v4.clone().signed(&cfg, &mut s, now);
    let mut bad_scheme = signed4.clone();
    bad_scheme.hmac.as_mut().unwrap()[0] = 2;
    let mut reserved = signed4.clone();
    reserved.hmac.as_mut().unwrap()[3] = 1;
    // The trailer inside the IPv4 checksum, as a generic "bytes after the message" would be.
    let inside_csum = Advert {
        hmac: None,
        trailer: signed4.hmac.unwrap().to_vec(),
        ..v4.clone()
    };
    vec![
        (
            "signed IPv4 advert to an enforce VRID",
            signed4.build(),
            vrrp(56, Accepted),
        ),
        (
            "signed IPv6 advert to an enforce VRID",
            v6.clone().signed(&cfg, &mut s, now).build(),
            vrrp(56, Accepted),
        ),
        (
            "unsigned advert to an enforce VRID",
            v4.build(),
            vrrp(56, HmacTrailer),
        ),
        (
            "unsigned IPv6 advert to an enforce VRID",
            v6.build(),
            vrrp(56, HmacTrailer),
        ),
        (
            "trailer of an unknown scheme",
            bad_scheme.build(),
            vrrp(56, HmacTrailer),
        ),
        (
            "trailer with reserved bits set",
            reserved.build(),
            vrrp(56, HmacTrailer),
        ),
        (
            "trailer stamped 100 s ago",
            v4.clone()
                .signed(&cfg, &mut Signer::default(), now - 100_000_000_000)
                .build(),
            vrrp(56, HmacStale),
        ),
        (
            "trailer stamped 100 s ahead",
            v4.clone()
                .signed(&cfg, &mut Signer::default(), now + 100_000_000_000)
                .build(),
            vrrp(56, HmacStale),
        ),
        (
            "IPv4 trailer counted inside the checksum",
            inside_csum.build(),
            vrrp(56, Checksum),
        ),
        (
            "unsigned advert to a permissive VRID",
            Advert {
                vrid: 57,
                ..Advert::v3_ipv4()
            }
            .build(),
            vrrp(57, Accepted),
        ),
        (
            "signed advert to a permissive VRID, monotonic (no clock check)",
            Advert {
                vrid: 57,
                ..Advert::v3_ipv4()
            }
            .signed(&cfg, &mut Signer::default(), 1_000_000_000)
            .build(),
            vrrp(57, Accepted),
        ),
    ]
}

#[test]
fn a_signed_advert_reaches_the_agent_with_its_header_and_trailer_as_sent() {
    let mut h = Harness::new(strict_policy());
    let a = Advert {
        vrid: 56,
        ..Advert::v3_ipv4()
    }
    .signed(&hmac_key(), &mut Signer::default(), realtime_ns());
    let (action, ev) = h.xdp(&a.build());
    assert_eq!(action, XDP_PASS);
    let ev = ev.expect("event for an accepted advert");
    assert_eq!(ev.signed, 1);
    assert_eq!(ev.trailer, a.hmac.unwrap());
    assert_eq!(&ev.hdr[..], &a.signed_part()[..8]);
}

#[test]
fn every_receive_check_gives_the_same_verdict_counter_and_event_in_xdp_and_userspace() {
    let mut h = Harness::new(strict_policy());
    let mut reasons_seen = std::collections::BTreeSet::new();
    for (name, frame, want) in cases() {
        let got = h.check(&frame);
        assert_eq!(got, want, "case {name:?}");
        if let Verdict::Vrrp { reason, .. } = got {
            reasons_seen.insert(reason);
        }
    }
    // The HMAC and the sequence are checked by the agent, after the filter.
    let agent_only = [Reason::HmacInvalid, Reason::HmacReplay];
    assert!(agent_only.iter().all(|r| !reasons_seen.contains(r)));
    assert_eq!(
        reasons_seen.len(),
        Reason::ALL.len() - agent_only.len(),
        "every reason exercised"
    );
}

/// `frame` with VLAN tags (TPID, VID), outermost first, after the MAC addresses: what
/// the parent interface sees of a frame its VLAN device receives untagged.
fn tagged(frame: &[u8], tags: &[(u16, u16)]) -> Vec<u8> {
    let mut f = frame.to_vec();
    let mut at = 12;
    for &(tpid, vid) in tags {
        f.splice(
            at..at,
            tpid.to_be_bytes().into_iter().chain(vid.to_be_bytes()),
        );
        at += 4;
    }
    f
}

#[test]
fn a_tagged_frame_passes_its_parent_untouched_and_untagged_it_meets_the_vlan_devices_policy() {
    let mut h = Harness::new(strict_policy());
    let v4 = Advert::v3_ipv4();
    let arp = neighbour_arp(1, "10.9.0.7", "10.9.0.100");
    for (name, untagged, on_vlan_device) in [
        ("valid advert", v4.build(), vrrp(51, Reason::Accepted)),
        (
            "TTL 1",
            Advert {
                ttl: 1,
                ..v4.clone()
            }
            .build(),
            vrrp(51, Reason::Ttl),
        ),
        (
            "another router's advert",
            Advert {
                vrid: 99,
                ..v4.clone()
            }
            .build(),
            vrrp(99, Reason::Foreign),
        ),
        (
            "UDP to a virtual address without Accept_Mode",
            udp_to("10.9.0.200"),
            Verdict::ToVipRefused,
        ),
        ("ARP for a virtual address", arp, Verdict::Arp),
    ] {
        for tags in [vec![(0x8100, 10)], vec![(0x88a8, 100), (0x8100, 10)]] {
            let f = tagged(&untagged, &tags);
            assert_eq!(h.check(&f), Verdict::Tagged, "{name} under {tags:x?}");
        }
        assert_eq!(h.check(&untagged), on_vlan_device, "{name} untagged");
    }
    assert_eq!(h.stat(STAT_VLAN_PASSED), 10);
}

#[test]
fn a_monitor_of_chosen_vrids_passes_every_other_vrid_as_foreign_even_when_malformed() {
    let mut h = Harness::new(PolicyTable::monitor(IFINDEX, &[51]));
    let v4 = Advert::v3_ipv4();
    for (frame, want) in [
        (v4.build(), vrrp(51, Reason::Accepted)),
        (
            Advert {
                ttl: 3,
                ..v4.clone()
            }
            .build(),
            vrrp(51, Reason::Ttl),
        ),
        (
            Advert {
                vrid: 7,
                ..v4.clone()
            }
            .build(),
            vrrp(7, Reason::Foreign),
        ),
        (
            Advert {
                vrid: 7,
                ttl: 3,
                csum: Csum::Bad,
                ..v4.clone()
            }
            .build(),
            vrrp(7, Reason::Foreign),
        ),
    ] {
        assert_eq!(h.check(&frame), want);
    }
    assert_eq!(h.counter(counter_index(7, Reason::Foreign as u32)), 2);
}

#[test]
fn accepted_advert_event_carries_kernel_time_source_priority_interval_and_addresses() {
    let mut h = Harness::new(strict_policy());
    let a = Advert {
        priority: 200,
        interval: 10,
        addrs: vec![
            IpAddr::V4(Ipv4Addr::new(10, 9, 0, 100)),
            IpAddr::V4(Ipv4Addr::new(10, 9, 0, 101)),
        ],
        ..Advert::v3_ipv4()
    };
    let before = vrrp_agent::io::rawsock::monotonic_ns();
    let (action, ev) = h.xdp(&a.build());
    let after = vrrp_agent::io::rawsock::monotonic_ns();
    assert_eq!(action, XDP_PASS);
    let ev = ev.expect("event pushed");
    assert!(
        before <= ev.ts_ns && ev.ts_ns <= after,
        "CLOCK_MONOTONIC stamp"
    );
    assert_eq!(ev.kind, EVENT_ADVERT);
    assert_eq!(
        (ev.vrid, ev.priority, ev.interval_cs, ev.version),
        (51, 200, 10, 3)
    );
    assert_eq!(ev.addr_count, 2);
    assert_eq!(&ev.src[..4], &[10, 9, 0, 1]);
    assert_eq!(&ev.dst[..4], &[224, 0, 0, 18]);
    assert_eq!(&ev.addrs[..8], &[10, 9, 0, 100, 10, 9, 0, 101]);
    assert_eq!(ev.csum_form, CSUM_PSEUDO);
    assert_eq!(ev.mac, [0x02, 0, 0, 0, 0, 0x01]);
    assert_eq!(h.counter(counter_index(51, SLOT_CSUM_PSEUDO)), 1);
}

#[test]
fn monitor_policy_accepts_any_vrid_either_checksum_form_and_both_versions() {
    let mut h = Harness::new(PolicyTable::monitor(IFINDEX, &[]));
    let v4 = Advert::v3_ipv4();
    for (frame, vrid) in [
        (
            Advert {
                vrid: 7,
                ..v4.clone()
            }
            .build(),
            7,
        ),
        (
            Advert {
                vrid: 200,
                csum: Csum::Plain,
                ..v4.clone()
            }
            .build(),
            200,
        ),
        (
            Advert {
                vrid: 9,
                ..Advert::v2_pass()
            }
            .build(),
            9,
        ),
        (
            Advert {
                vrid: 255,
                ..Advert::v3_ipv6()
            }
            .build(),
            255,
        ),
    ] {
        assert_eq!(h.check(&frame), vrrp(vrid, Reason::Accepted));
    }
    assert_eq!(h.counter(counter_index(200, SLOT_CSUM_PLAIN)), 1);
    // Still not everything: the TTL and checksum checks hold in monitor mode too.
    assert_eq!(
        h.check(
            &Advert {
                ttl: 9,
                ..v4.clone()
            }
            .build()
        ),
        vrrp(51, Reason::Ttl)
    );
    assert_eq!(
        h.check(
            &Advert {
                csum: Csum::Bad,
                ..v4
            }
            .build()
        ),
        vrrp(51, Reason::Checksum)
    );
}

/// A valid v3 IPv4, v3 IPv6 and v2 advert of the strict policy's instances, then `more`.
fn valid_adverts_and(more: [Vec<u8>; 2]) -> Vec<Vec<u8>> {
    let mut frames = vec![
        Advert::v3_ipv4().build(),
        Advert::v3_ipv6().build(),
        v2().build(),
    ];
    frames.extend(more);
    frames
}

#[test]
fn truncated_frames_at_every_length_are_never_accepted_and_both_paths_agree() {
    let mut h = Harness::new(strict_policy());
    let frames = valid_adverts_and([
        Advert {
            vlans: vec![(0x88a8, 100), (0x8100, 10)],
            ..Advert::v3_ipv6()
        }
        .build(),
        Advert {
            ip_options: vec![1, 1, 1, 1, 1, 1, 1, 0],
            ..Advert::v3_ipv4()
        }
        .build(),
    ]);
    let mut checked = 0;
    for f in &frames {
        for len in 0..f.len() {
            let v = h.check(&f[..len]);
            assert!(
                !matches!(
                    v,
                    Verdict::Vrrp {
                        reason: Reason::Accepted,
                        ..
                    }
                ),
                "truncated to {len} of {} bytes yet accepted",
                f.len()
            );
            checked += 1;
        }
    }
    assert!(checked > 300);
}

/// xorshift64*: deterministic pseudo-random bytes, so a failure replays.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

#[test]
fn mutated_and_random_frames_never_panic_and_both_paths_agree() {
    let mut h = Harness::new(strict_policy());
    let seeds = valid_adverts_and([
        Advert {
            vlans: vec![(0x8100, 5)],
            ..Advert::v3_ipv4()
        }
        .build(),
        neighbour_arp(1, "10.9.0.100", "10.9.0.1"),
    ]);
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    for i in 0..3000 {
        let mut f = if i % 10 == 9 {
            // Pure noise of random length.
            let n = (rng.next() % 200) as usize;
            (0..n).map(|_| rng.next() as u8).collect()
        } else {
            seeds[i % seeds.len()].clone()
        };
        // Flip a few bytes, and sometimes cut or extend the frame.
        for _ in 0..(1 + rng.next() % 4) {
            if !f.is_empty() {
                let at = (rng.next() as usize) % f.len();
                f[at] = rng.next() as u8;
            }
        }
        match rng.next() % 8 {
            0 => f.truncate((rng.next() as usize) % (f.len() + 1)),
            1 => f.extend((0..rng.next() % 40).map(|_| rng.next() as u8)),
            _ => {}
        }
        h.check(&f);
    }
}

/// The map names are defined once, in the ABI: the program's statics carry them, and the
/// agent finds each one in the object it loads.
#[test]
fn every_map_name_of_the_abi_is_a_map_in_the_built_object() {
    let h = Harness::new(PolicyTable::default());
    let mut in_object: Vec<&str> = h.ebpf.maps().map(|(name, _)| name).collect();
    in_object.push(MAP_EVENTS); // taken out of the object by the harness
    in_object.sort_unstable();
    let mut wanted = MAP_NAMES.to_vec();
    wanted.extend(GUARD_MAP_NAMES);
    wanted.sort_unstable();
    assert_eq!(in_object, wanted);
}

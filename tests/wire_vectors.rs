//! Independent wire test vectors: VRRP adverts captured from real keepalived 2.2.7 and FRR
//! vrrpd 8.4.4 (see the comment header of each `vectors/*.hex` file for the software, the
//! config and the capture), run through the classifier exactly as the agent's raw-socket
//! path runs it. The expected values are the ones tshark 4.0.17 decoded from the same
//! frames, so they do not depend on our own parser.

use std::net::IpAddr;

use vrrp_agent::filter::{addr_bytes, Counters, PolicyTable};
use vrrp_agent::io::rawsock::process_frame;
use vrrp_ebpf::abi::*;
use vrrp_ebpf::classify::Verdict;
use vrrpx_tests::policies::{instance, v3};

const IFINDEX: u32 = 7;
const ETH_HLEN: usize = 14;
const IPV4_HLEN: usize = 20;
const IPV6_HLEN: usize = 40;
const VRRP_HLEN: usize = 8;

/// The frame bytes of `tests/vectors/NAME.hex`.
fn vector(name: &str) -> Vec<u8> {
    vrrpx_tests::read_hex(&vrrpx_tests::workspace().join(format!("tests/vectors/{name}.hex")))
}

/// Run one frame through the raw-socket path with a fresh set of counters.
fn classify(frame: &[u8], policy: &PolicyTable) -> (Verdict, Option<Event>, Counters) {
    let mut counters = Counters::default();
    let (verdict, event) = process_frame(frame, IFINDEX, 0, policy, &mut counters);
    (verdict, event, counters)
}

/// Just the reason a frame is counted under.
fn reason(frame: &[u8], policy: &PolicyTable, vrid: u8) -> Reason {
    match classify(frame, policy).0 {
        Verdict::Vrrp { vrid: v, reason } => {
            assert_eq!(v, vrid, "counted under the wrong VRID");
            reason
        }
        other => panic!("expected a VRRP verdict, got {other:?}"),
    }
}

/// The keepalived v2 instance of `keepalived_v2_pass.hex`: PASS "s3cret!!", advert_int 1.
fn v2_instance(auth_pass: [u8; 8], adver_int_s: u8) -> PolicyTable {
    instance(
        IFINDEX,
        51,
        Family::V4,
        VridPolicy {
            version: 2,
            auth_type: AUTH_PASS,
            auth_pass,
            adver_int_s,
            csum_form: CSUM_PSEUDO,
            ..Default::default()
        },
    )
}

/// A v3 instance expecting one checksum form (meaningful for IPv4 only).
fn v3_instance(vrid: u8, family: Family, csum_form: u8) -> PolicyTable {
    instance(IFINDEX, vrid, family, VridPolicy { csum_form, ..v3() })
}

/// What tshark decoded from one vector.
struct Decoded {
    eth_src: [u8; 6],
    /// The IP source and destination; their family is the advert's.
    src: IpAddr,
    dst: IpAddr,
    ttl: u8,
    version: u8,
    vrid: u8,
    priority: u8,
    addr_count: u8,
    /// Centiseconds; v2 "Adver Int" seconds times 100.
    interval_cs: u16,
    /// The checksum form the sender used (tshark "Checksum Status: Good" with
    /// `vrrp.v3_checksum_as_in_v2: FALSE`; "Bad" with TRUE for the v3 IPv4 vectors).
    csum_form: u8,
    addrs: Vec<IpAddr>,
}

impl Decoded {
    fn family(&self) -> Family {
        addr_bytes(self.src).0
    }
}

fn ip(a: &str) -> IpAddr {
    a.parse().unwrap()
}

fn ips(addrs: &[&str]) -> Vec<IpAddr> {
    addrs.iter().map(|a| ip(a)).collect()
}

/// One captured advert: its file, its length, what tshark decoded from it and the
/// instance its sender was configured as.
struct Capture {
    name: &'static str,
    len: usize,
    want: Decoded,
    configured: PolicyTable,
}

const KEEPALIVED_MAC: [u8; 6] = [0x02, 0x99, 0x00, 0x00, 0x00, 0x0a];

fn captures() -> [Capture; 5] {
    [
        Capture {
            name: "keepalived_v2_pass",
            len: 58,
            want: Decoded {
                eth_src: KEEPALIVED_MAC,
                src: ip("10.99.0.1"),
                dst: ip("224.0.0.18"),
                ttl: 255,
                version: 2,
                vrid: 51,
                priority: 150,
                addr_count: 2,
                interval_cs: 100,
                // RFC 3768: no pseudo-header; the classifier reports that as the plain form.
                csum_form: CSUM_PLAIN,
                addrs: ips(&["10.99.0.51", "10.99.0.151"]),
            },
            configured: v2_instance(*b"s3cret!!", 1),
        },
        Capture {
            name: "keepalived_v3_ipv4",
            len: 46,
            want: Decoded {
                eth_src: KEEPALIVED_MAC,
                src: ip("10.99.0.1"),
                dst: ip("224.0.0.18"),
                ttl: 255,
                version: 3,
                vrid: 52,
                priority: 200,
                addr_count: 1,
                interval_cs: 10,
                csum_form: CSUM_PSEUDO,
                addrs: ips(&["10.99.0.52"]),
            },
            configured: v3_instance(52, Family::V4, CSUM_PSEUDO),
        },
        Capture {
            name: "keepalived_v3_ipv6",
            len: 78,
            want: Decoded {
                eth_src: KEEPALIVED_MAC,
                src: ip("fe80::99:ff:fe00:a"),
                dst: ip("ff02::12"),
                ttl: 255,
                version: 3,
                vrid: 53,
                priority: 100,
                addr_count: 1,
                interval_cs: 100,
                csum_form: CSUM_PSEUDO,
                addrs: ips(&["fd99::100"]),
            },
            configured: v3_instance(53, Family::V6, CSUM_PSEUDO),
        },
        Capture {
            name: "frr_v3_ipv4",
            len: 46,
            want: Decoded {
                eth_src: [0x00, 0x00, 0x5e, 0x00, 0x01, 0x36],
                src: ip("10.99.0.1"),
                dst: ip("224.0.0.18"),
                ttl: 255,
                version: 3,
                vrid: 54,
                priority: 150,
                addr_count: 1,
                interval_cs: 10,
                csum_form: CSUM_PSEUDO,
                addrs: ips(&["10.99.0.154"]),
            },
            configured: v3_instance(54, Family::V4, CSUM_PSEUDO),
        },
        Capture {
            name: "frr_v3_ipv6",
            len: 78,
            want: Decoded {
                eth_src: [0x00, 0x00, 0x5e, 0x00, 0x02, 0x37],
                src: ip("fe80::200:5eff:fe00:237"),
                dst: ip("ff02::12"),
                ttl: 255,
                version: 3,
                vrid: 55,
                priority: 150,
                addr_count: 1,
                interval_cs: 10,
                csum_form: CSUM_PSEUDO,
                addrs: ips(&["fd99::155"]),
            },
            configured: v3_instance(55, Family::V6, CSUM_PSEUDO),
        },
    ]
}

/// Check an accepted event field by field against tshark's decode.
fn assert_event(name: &str, policy: &PolicyTable, want: &Decoded) {
    let frame = vector(name);
    let (verdict, event, counters) = classify(&frame, policy);
    assert_eq!(
        verdict,
        Verdict::Vrrp {
            vrid: want.vrid,
            reason: Reason::Accepted
        },
        "{name}"
    );
    let ev = event.unwrap_or_else(|| panic!("{name}: accepted advert without an event"));
    assert_eq!(ev.kind, EVENT_ADVERT, "{name}: kind");
    assert_eq!(ev.ifindex, IFINDEX, "{name}: ifindex");
    assert_eq!(ev.ts_ns, 0, "{name}: ts_ns");
    assert_eq!(ev.mac, want.eth_src, "{name}: Ethernet source");
    assert_eq!(ev.version, want.version, "{name}: version");
    assert_eq!(ev.vrid, want.vrid, "{name}: VRID");
    assert_eq!(ev.priority, want.priority, "{name}: priority");
    assert_eq!(ev.addr_count, want.addr_count, "{name}: count");
    assert_eq!(ev.interval_cs, want.interval_cs, "{name}: interval");
    assert_eq!(ev.family, want.family() as u8, "{name}: family");
    assert_eq!(ev.ttl, want.ttl, "{name}: TTL / hop limit");
    assert_eq!(ev.csum_form, want.csum_form, "{name}: checksum form");
    assert_eq!(ev.src, addr_bytes(want.src).1, "{name}: source address");
    assert_eq!(
        ev.dst,
        addr_bytes(want.dst).1,
        "{name}: destination address"
    );
    let listed: Vec<u8> = want
        .addrs
        .iter()
        .flat_map(|&a| {
            let (family, bytes) = addr_bytes(a);
            bytes[..family.addr_len()].to_vec()
        })
        .collect();
    let mut addrs = [0u8; EVENT_ADDR_BYTES];
    addrs[..listed.len()].copy_from_slice(&listed);
    assert_eq!(ev.addrs, addrs, "{name}: virtual addresses");

    assert_eq!(counters.get(want.vrid, Reason::Accepted), 1, "{name}");
    assert_eq!(counters.total(Reason::Accepted), 1, "{name}");
    // Accepted v3-over-IPv4 adverts also count which checksum form arrived.
    let (pseudo, plain) = if want.family() == Family::V4 && want.version == 3 {
        match want.csum_form {
            CSUM_PSEUDO => (1, 0),
            _ => (0, 1),
        }
    } else {
        (0, 0)
    };
    assert_eq!(counters.slot(want.vrid, SLOT_CSUM_PSEUDO), pseudo, "{name}");
    assert_eq!(counters.slot(want.vrid, SLOT_CSUM_PLAIN), plain, "{name}");
}

/// Offset of the IP TTL / hop-limit byte in an untagged frame.
fn ttl_offset(family: Family) -> usize {
    ETH_HLEN + if family == Family::V4 { 8 } else { 7 }
}

/// Offset of the first advertised address in an untagged frame.
fn addrs_offset(family: Family) -> usize {
    ETH_HLEN
        + if family == Family::V4 {
            IPV4_HLEN
        } else {
            IPV6_HLEN
        }
        + VRRP_HLEN
}

/// The tampering checks every vector must pass against its own configured instance.
fn assert_tampering_is_caught(name: &str, policy: &PolicyTable, want: &Decoded) {
    let frame = vector(name);
    assert_eq!(
        reason(&frame, policy, want.vrid),
        Reason::Accepted,
        "{name}: untouched"
    );

    let mut hop = frame.clone();
    hop[ttl_offset(want.family())] -= 1;
    assert_eq!(
        reason(&hop, policy, want.vrid),
        Reason::Ttl,
        "{name}: TTL 254"
    );

    let first = addrs_offset(want.family());
    let listed: usize = want.addrs.iter().map(|&a| addr_bytes(a).0.addr_len()).sum();
    for i in 0..listed {
        let mut flipped = frame.clone();
        flipped[first + i] ^= 0x01;
        assert_eq!(
            reason(&flipped, policy, want.vrid),
            Reason::Checksum,
            "{name}: address byte {i} flipped"
        );
    }

    // On a real NIC these short frames are padded to the 60-byte Ethernet minimum; the
    // padding is not part of the advert.
    let mut padded = frame.clone();
    padded.resize(padded.len().max(60) + 4, 0);
    assert_eq!(
        reason(&padded, policy, want.vrid),
        Reason::Accepted,
        "{name}: Ethernet padding"
    );
}

#[test]
fn every_vector_file_holds_one_whole_ethernet_frame() {
    for c in captures() {
        assert_eq!(vector(c.name).len(), c.len, "{}", c.name);
    }
}

#[test]
fn every_vector_parses_to_the_fields_tshark_decoded_under_the_monitor_and_its_instance() {
    for c in captures() {
        let only_its_vrid = PolicyTable::monitor(IFINDEX, &[c.want.vrid]);
        for policy in [
            &PolicyTable::monitor(IFINDEX, &[]),
            &only_its_vrid,
            &c.configured,
        ] {
            assert_event(c.name, policy, &c.want);
        }
    }
}

#[test]
fn keepalived_v2_pass_advert_carries_the_password_in_the_last_eight_bytes() {
    let frame = vector("keepalived_v2_pass");
    // tshark: "Authentication String: s3cret!!", after 2 addresses.
    let auth = ETH_HLEN + IPV4_HLEN + VRRP_HLEN + 2 * 4;
    assert_eq!(&frame[auth..], b"s3cret!!");
}

#[test]
fn every_vector_with_a_flipped_address_byte_or_lower_ttl_is_rejected_by_its_instance() {
    for c in captures() {
        assert_tampering_is_caught(c.name, &c.configured, &c.want);
    }
}

/// A v2 instance of `vrid` at 1 s adverts without authentication.
fn v2_unauthenticated(vrid: u8) -> PolicyTable {
    instance(
        IFINDEX,
        vrid,
        Family::V4,
        VridPolicy {
            version: 2,
            auth_type: AUTH_NONE,
            adver_int_s: 1,
            ..Default::default()
        },
    )
}

#[test]
fn vectors_are_counted_under_the_reason_each_instance_gives() {
    use Reason::*;
    let pass = v2_instance;
    let ipv4_v3 = |vrid, csum_form| v3_instance(vrid, Family::V4, csum_form);
    // Each vector, the VRID it is counted under, and the instances it meets.
    let checks = [
        (
            "keepalived_v2_pass",
            51,
            vec![
                (pass(*b"s3cret!!", 1), Accepted, "right password"),
                (pass(*b"s3cret!?", 1), Auth, "wrong password"),
                // What an unquoted `auth_pass s3cret!!` in keepalived.conf puts on the
                // wire: the `!` starts a comment.
                (pass(*b"s3cret\0\0", 1), Auth, "password cut at `!`"),
                (v2_unauthenticated(51), Auth, "no authentication"),
                (pass(*b"s3cret!!", 2), Interval, "interval 2 s"),
                (ipv4_v3(51, CSUM_PSEUDO), Version, "a v3 instance"),
            ],
        ),
        (
            "keepalived_v3_ipv4",
            52,
            vec![
                (ipv4_v3(52, CSUM_PSEUDO), Accepted, "pseudo form"),
                (ipv4_v3(52, CSUM_PLAIN), Checksum, "plain form"),
                (ipv4_v3(52, CSUM_EITHER), Accepted, "either form"),
                (v2_unauthenticated(52), Version, "a v2 instance"),
                (ipv4_v3(51, CSUM_PSEUDO), Foreign, "another VRID"),
            ],
        ),
        (
            "keepalived_v3_ipv6",
            53,
            vec![(ipv4_v3(53, CSUM_PSEUDO), Foreign, "IPv4, same VRID")],
        ),
        (
            "frr_v3_ipv4",
            54,
            vec![
                (ipv4_v3(54, CSUM_PSEUDO), Accepted, "pseudo form"),
                (ipv4_v3(54, CSUM_PLAIN), Checksum, "plain form"),
            ],
        ),
    ];
    for (name, vrid, instances) in checks {
        let frame = vector(name);
        for (policy, want, instance) in instances {
            assert_eq!(
                reason(&frame, &policy, vrid),
                want,
                "{name} under the instance with {instance}"
            );
        }
    }
}

#[test]
fn vectors_are_passed_untouched_on_an_interface_without_a_policy() {
    for c in captures() {
        let frame = vector(c.name);
        let (verdict, event, _) = classify(&frame, &PolicyTable::monitor(IFINDEX + 1, &[]));
        assert_eq!(verdict, Verdict::Pass, "{}", c.name);
        assert!(event.is_none(), "{}", c.name);
    }
}

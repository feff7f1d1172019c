//! Independent wire test vectors: VRRP adverts captured from real keepalived 2.2.7 and FRR
//! vrrpd 8.4.4 (see the comment header of each `vectors/*.hex` file for the software, the
//! config and the capture), run through the classifier exactly as the agent's raw-socket
//! path runs it. The expected values are the ones tshark 4.0.17 decoded from the same
//! frames, so they do not depend on our own parser.

use std::net::{Ipv4Addr, Ipv6Addr};

use vrrp_agent::filter::{Counters, PolicyTable};
use vrrp_agent::io::rawsock::process_frame;
use vrrp_ebpf::abi::*;
use vrrp_ebpf::classify::Verdict;

const IFINDEX: u32 = 7;
const ETH_HLEN: usize = 14;
const IPV4_HLEN: usize = 20;
const IPV6_HLEN: usize = 40;
const VRRP_HLEN: usize = 8;

/// The frame bytes of `tests/vectors/NAME.hex`: `#` lines are comments, whitespace is ignored.
fn vector(name: &str) -> Vec<u8> {
    let path = format!("{}/vectors/{name}.hex", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let digits: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .flat_map(|l| l.chars())
        .filter(|c| !c.is_whitespace())
        .collect();
    assert_eq!(digits.len() % 2, 0, "{path}: odd number of hex digits");
    (0..digits.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&digits[i..i + 2], 16).expect("hex digit"))
        .collect()
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

/// A policy for one configured instance on interface 7, as the daemon would install it.
fn instance(vrid: u8, family: u8, vrid_policy: VridPolicy) -> PolicyTable {
    let mut policy = PolicyTable::default();
    policy.ifaces.insert(IFINDEX, IfacePolicy { flags: 0 });
    policy.vrids.insert(
        VridKey {
            ifindex: IFINDEX,
            vrid,
            family,
            _pad: [0; 2],
        },
        vrid_policy,
    );
    policy
}

/// The keepalived v2 instance of `keepalived_v2_pass.hex`: PASS "s3cret!!", advert_int 1.
fn v2_instance(auth_pass: [u8; 8], adver_int_s: u8) -> PolicyTable {
    instance(
        51,
        FAMILY_V4,
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
fn v3_instance(vrid: u8, family: u8, csum_form: u8) -> PolicyTable {
    instance(
        vrid,
        family,
        VridPolicy {
            version: 3,
            csum_form,
            ..Default::default()
        },
    )
}

/// What tshark decoded from one vector.
struct Decoded {
    eth_src: [u8; 6],
    version: u8,
    vrid: u8,
    priority: u8,
    addr_count: u8,
    /// Centiseconds; v2 "Adver Int" seconds times 100.
    interval_cs: u16,
    family: u8,
    ttl: u8,
    /// The checksum form the sender used (tshark "Checksum Status: Good" with
    /// `vrrp.v3_checksum_as_in_v2: FALSE`; "Bad" with TRUE for the v3 IPv4 vectors).
    csum_form: u8,
    src: [u8; 16],
    dst: [u8; 16],
    addrs: Vec<u8>,
}

fn v4(a: &str) -> [u8; 16] {
    let mut out = [0; 16];
    out[..4].copy_from_slice(&a.parse::<Ipv4Addr>().unwrap().octets());
    out
}

fn v6(a: &str) -> [u8; 16] {
    a.parse::<Ipv6Addr>().unwrap().octets()
}

fn v4_list(addrs: &[&str]) -> Vec<u8> {
    addrs.iter().flat_map(|a| v4(a)[..4].to_vec()).collect()
}

fn v6_list(addrs: &[&str]) -> Vec<u8> {
    addrs.iter().flat_map(|a| v6(a).to_vec()).collect()
}

fn keepalived_v2_pass() -> Decoded {
    Decoded {
        eth_src: [0x02, 0x99, 0x00, 0x00, 0x00, 0x0a],
        version: 2,
        vrid: 51,
        priority: 150,
        addr_count: 2,
        interval_cs: 100,
        family: FAMILY_V4,
        ttl: 255,
        // RFC 3768: no pseudo-header; the classifier reports that as the plain form.
        csum_form: CSUM_PLAIN,
        src: v4("10.99.0.1"),
        dst: v4("224.0.0.18"),
        addrs: v4_list(&["10.99.0.51", "10.99.0.151"]),
    }
}

fn keepalived_v3_ipv4() -> Decoded {
    Decoded {
        eth_src: [0x02, 0x99, 0x00, 0x00, 0x00, 0x0a],
        version: 3,
        vrid: 52,
        priority: 200,
        addr_count: 1,
        interval_cs: 10,
        family: FAMILY_V4,
        ttl: 255,
        csum_form: CSUM_PSEUDO,
        src: v4("10.99.0.1"),
        dst: v4("224.0.0.18"),
        addrs: v4_list(&["10.99.0.52"]),
    }
}

fn keepalived_v3_ipv6() -> Decoded {
    Decoded {
        eth_src: [0x02, 0x99, 0x00, 0x00, 0x00, 0x0a],
        version: 3,
        vrid: 53,
        priority: 100,
        addr_count: 1,
        interval_cs: 100,
        family: FAMILY_V6,
        ttl: 255,
        csum_form: CSUM_PSEUDO,
        src: v6("fe80::99:ff:fe00:a"),
        dst: v6("ff02::12"),
        addrs: v6_list(&["fd99::100"]),
    }
}

fn frr_v3_ipv4() -> Decoded {
    Decoded {
        eth_src: [0x00, 0x00, 0x5e, 0x00, 0x01, 0x36],
        version: 3,
        vrid: 54,
        priority: 150,
        addr_count: 1,
        interval_cs: 10,
        family: FAMILY_V4,
        ttl: 255,
        csum_form: CSUM_PSEUDO,
        src: v4("10.99.0.1"),
        dst: v4("224.0.0.18"),
        addrs: v4_list(&["10.99.0.154"]),
    }
}

fn frr_v3_ipv6() -> Decoded {
    Decoded {
        eth_src: [0x00, 0x00, 0x5e, 0x00, 0x02, 0x37],
        version: 3,
        vrid: 55,
        priority: 150,
        addr_count: 1,
        interval_cs: 10,
        family: FAMILY_V6,
        ttl: 255,
        csum_form: CSUM_PSEUDO,
        src: v6("fe80::200:5eff:fe00:237"),
        dst: v6("ff02::12"),
        addrs: v6_list(&["fd99::155"]),
    }
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
    assert_eq!(ev.family, want.family, "{name}: family");
    assert_eq!(ev.ttl, want.ttl, "{name}: TTL / hop limit");
    assert_eq!(ev.csum_form, want.csum_form, "{name}: checksum form");
    assert_eq!(ev.src, want.src, "{name}: source address");
    assert_eq!(ev.dst, want.dst, "{name}: destination address");
    let mut addrs = [0u8; EVENT_ADDR_BYTES];
    addrs[..want.addrs.len()].copy_from_slice(&want.addrs);
    assert_eq!(ev.addrs, addrs, "{name}: virtual addresses");

    assert_eq!(counters.get(want.vrid, Reason::Accepted), 1, "{name}");
    assert_eq!(counters.total(Reason::Accepted), 1, "{name}");
    // Accepted v3-over-IPv4 adverts also count which checksum form arrived.
    let (pseudo, plain) = if want.family == FAMILY_V4 && want.version == 3 {
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
fn ttl_offset(family: u8) -> usize {
    ETH_HLEN + if family == FAMILY_V4 { 8 } else { 7 }
}

/// Offset of the first advertised address in an untagged frame.
fn addrs_offset(family: u8) -> usize {
    ETH_HLEN
        + if family == FAMILY_V4 {
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
    hop[ttl_offset(want.family)] -= 1;
    assert_eq!(
        reason(&hop, policy, want.vrid),
        Reason::Ttl,
        "{name}: TTL 254"
    );

    let first = addrs_offset(want.family);
    for i in 0..want.addrs.len() {
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
    for (name, len) in [
        ("keepalived_v2_pass", 58),
        ("keepalived_v3_ipv4", 46),
        ("keepalived_v3_ipv6", 78),
        ("frr_v3_ipv4", 46),
        ("frr_v3_ipv6", 78),
    ] {
        assert_eq!(vector(name).len(), len, "{name}");
    }
}

#[test]
fn keepalived_v2_pass_advert_parses_to_the_fields_tshark_decoded() {
    assert_event(
        "keepalived_v2_pass",
        &PolicyTable::monitor(IFINDEX, &[]),
        &keepalived_v2_pass(),
    );
    assert_event(
        "keepalived_v2_pass",
        &v2_instance(*b"s3cret!!", 1),
        &keepalived_v2_pass(),
    );
}

#[test]
fn keepalived_v2_pass_advert_carries_the_password_in_the_last_eight_bytes() {
    let frame = vector("keepalived_v2_pass");
    // tshark: "Authentication String: s3cret!!", after 2 addresses.
    let auth = ETH_HLEN + IPV4_HLEN + VRRP_HLEN + 2 * 4;
    assert_eq!(&frame[auth..], b"s3cret!!");
}

#[test]
fn keepalived_v2_pass_advert_with_the_right_password_is_accepted() {
    let frame = vector("keepalived_v2_pass");
    assert_eq!(
        reason(&frame, &v2_instance(*b"s3cret!!", 1), 51),
        Reason::Accepted
    );
}

#[test]
fn keepalived_v2_pass_advert_with_a_wrong_password_is_rejected_as_auth() {
    let frame = vector("keepalived_v2_pass");
    assert_eq!(
        reason(&frame, &v2_instance(*b"s3cret!?", 1), 51),
        Reason::Auth
    );
    // What an unquoted `auth_pass s3cret!!` in keepalived.conf puts on the wire: the `!`
    // starts a comment.
    assert_eq!(
        reason(&frame, &v2_instance(*b"s3cret\0\0", 1), 51),
        Reason::Auth
    );
    // An instance without authentication does not accept a PASS advert either.
    let none = instance(
        51,
        FAMILY_V4,
        VridPolicy {
            version: 2,
            auth_type: AUTH_NONE,
            adver_int_s: 1,
            ..Default::default()
        },
    );
    assert_eq!(reason(&frame, &none, 51), Reason::Auth);
}

#[test]
fn keepalived_v2_pass_advert_with_a_different_interval_is_rejected_as_interval() {
    let frame = vector("keepalived_v2_pass");
    assert_eq!(
        reason(&frame, &v2_instance(*b"s3cret!!", 2), 51),
        Reason::Interval
    );
}

#[test]
fn keepalived_v2_pass_advert_with_a_flipped_address_byte_or_lower_ttl_is_rejected() {
    assert_tampering_is_caught(
        "keepalived_v2_pass",
        &v2_instance(*b"s3cret!!", 1),
        &keepalived_v2_pass(),
    );
}

#[test]
fn keepalived_v2_pass_advert_is_rejected_by_a_v3_instance() {
    let frame = vector("keepalived_v2_pass");
    assert_eq!(
        reason(&frame, &v3_instance(51, FAMILY_V4, CSUM_PSEUDO), 51),
        Reason::Version
    );
}

#[test]
fn keepalived_v3_ipv4_advert_parses_to_the_fields_tshark_decoded() {
    let want = keepalived_v3_ipv4();
    assert_event(
        "keepalived_v3_ipv4",
        &PolicyTable::monitor(IFINDEX, &[]),
        &want,
    );
    assert_event(
        "keepalived_v3_ipv4",
        &PolicyTable::monitor(IFINDEX, &[52]),
        &want,
    );
    assert_event(
        "keepalived_v3_ipv4",
        &v3_instance(52, FAMILY_V4, CSUM_PSEUDO),
        &want,
    );
}

#[test]
fn keepalived_v3_ipv4_advert_uses_the_pseudo_header_checksum_and_fails_the_plain_form() {
    let frame = vector("keepalived_v3_ipv4");
    assert_eq!(
        reason(&frame, &v3_instance(52, FAMILY_V4, CSUM_PSEUDO), 52),
        Reason::Accepted
    );
    assert_eq!(
        reason(&frame, &v3_instance(52, FAMILY_V4, CSUM_PLAIN), 52),
        Reason::Checksum
    );
    assert_eq!(
        reason(&frame, &v3_instance(52, FAMILY_V4, CSUM_EITHER), 52),
        Reason::Accepted
    );
}

#[test]
fn keepalived_v3_ipv4_advert_with_a_flipped_address_byte_or_lower_ttl_is_rejected() {
    assert_tampering_is_caught(
        "keepalived_v3_ipv4",
        &v3_instance(52, FAMILY_V4, CSUM_PSEUDO),
        &keepalived_v3_ipv4(),
    );
}

#[test]
fn keepalived_v3_ipv4_advert_is_rejected_by_a_v2_instance_and_passed_as_foreign_on_another_vrid() {
    let frame = vector("keepalived_v3_ipv4");
    let v2 = instance(
        52,
        FAMILY_V4,
        VridPolicy {
            version: 2,
            adver_int_s: 1,
            ..Default::default()
        },
    );
    assert_eq!(reason(&frame, &v2, 52), Reason::Version);
    assert_eq!(
        reason(&frame, &v3_instance(51, FAMILY_V4, CSUM_PSEUDO), 52),
        Reason::Foreign
    );
}

#[test]
fn keepalived_v3_ipv6_advert_parses_to_the_fields_tshark_decoded() {
    let want = keepalived_v3_ipv6();
    assert_event(
        "keepalived_v3_ipv6",
        &PolicyTable::monitor(IFINDEX, &[]),
        &want,
    );
    assert_event(
        "keepalived_v3_ipv6",
        &v3_instance(53, FAMILY_V6, CSUM_PSEUDO),
        &want,
    );
}

#[test]
fn keepalived_v3_ipv6_advert_with_a_flipped_address_byte_or_lower_hop_limit_is_rejected() {
    assert_tampering_is_caught(
        "keepalived_v3_ipv6",
        &v3_instance(53, FAMILY_V6, CSUM_PSEUDO),
        &keepalived_v3_ipv6(),
    );
}

#[test]
fn keepalived_v3_ipv6_advert_is_not_matched_by_an_ipv4_instance_of_the_same_vrid() {
    let frame = vector("keepalived_v3_ipv6");
    assert_eq!(
        reason(&frame, &v3_instance(53, FAMILY_V4, CSUM_PSEUDO), 53),
        Reason::Foreign
    );
}

#[test]
fn frr_v3_ipv4_advert_parses_to_the_fields_tshark_decoded() {
    let want = frr_v3_ipv4();
    assert_event("frr_v3_ipv4", &PolicyTable::monitor(IFINDEX, &[]), &want);
    assert_event(
        "frr_v3_ipv4",
        &v3_instance(54, FAMILY_V4, CSUM_PSEUDO),
        &want,
    );
}

#[test]
fn frr_v3_ipv4_advert_uses_the_pseudo_header_checksum_and_fails_the_plain_form() {
    let frame = vector("frr_v3_ipv4");
    assert_eq!(
        reason(&frame, &v3_instance(54, FAMILY_V4, CSUM_PSEUDO), 54),
        Reason::Accepted
    );
    assert_eq!(
        reason(&frame, &v3_instance(54, FAMILY_V4, CSUM_PLAIN), 54),
        Reason::Checksum
    );
}

#[test]
fn frr_v3_ipv4_advert_with_a_flipped_address_byte_or_lower_ttl_is_rejected() {
    assert_tampering_is_caught(
        "frr_v3_ipv4",
        &v3_instance(54, FAMILY_V4, CSUM_PSEUDO),
        &frr_v3_ipv4(),
    );
}

#[test]
fn frr_v3_ipv6_advert_parses_to_the_fields_tshark_decoded() {
    let want = frr_v3_ipv6();
    assert_event("frr_v3_ipv6", &PolicyTable::monitor(IFINDEX, &[]), &want);
    assert_event(
        "frr_v3_ipv6",
        &v3_instance(55, FAMILY_V6, CSUM_PSEUDO),
        &want,
    );
}

#[test]
fn frr_v3_ipv6_advert_with_a_flipped_address_byte_or_lower_hop_limit_is_rejected() {
    assert_tampering_is_caught(
        "frr_v3_ipv6",
        &v3_instance(55, FAMILY_V6, CSUM_PSEUDO),
        &frr_v3_ipv6(),
    );
}

#[test]
fn vectors_are_passed_untouched_on_an_interface_without_a_policy() {
    for name in [
        "keepalived_v2_pass",
        "keepalived_v3_ipv4",
        "keepalived_v3_ipv6",
        "frr_v3_ipv4",
        "frr_v3_ipv6",
    ] {
        let frame = vector(name);
        let (verdict, event, _) = classify(&frame, &PolicyTable::monitor(IFINDEX + 1, &[]));
        assert_eq!(verdict, Verdict::Pass, "{name}");
        assert!(event.is_none(), "{name}");
    }
}

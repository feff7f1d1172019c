//! Four tests per format, over fixed bytes: deconstruct (read a byte vector through the
//! view), construct (set a view's fields and compare the bytes), parse (bytes to `Repr`)
//! and emit (`Repr` to bytes). The VRRP, IPv4 and IPv6 bytes are the adverts captured from
//! FRR and keepalived in tests/vectors (frr_v3_ipv4, keepalived_v2_pass,
//! keepalived_v3_ipv6).

use super::*;

fn hex(s: &str) -> std::vec::Vec<u8> {
    let s: std::string::String = s.chars().filter(|c| !c.is_whitespace()).collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// frr_v3_ipv4.hex: Ethernet, IPv4, VRRP v3 VRID 54 priority 150, 10 cs, 10.99.0.154.
const FRR_V3_V4: &str = "01005e00001200005e000136080045c0
    002074024000ff701c350a630001e000
    001231369601000a42ce0a63009a";
/// keepalived_v2_pass.hex: VRRP v2 VRID 51, PASS "s3cret!!", 1 s, two addresses.
const KA_V2: &str = "01005e00001202990000000a080045c0
    002c00010000ff70d02a0a630001e000
    0012213396020101d4fd0a6300330a63
    00977333637265742121";
/// keepalived_v3_ipv6.hex: VRRP v3 over IPv6 VRID 53, priority 100, 100 cs, fd99::100.
const KA_V3_V6: &str = "33330000001202990000000a86dd6c04
    d857001870fffe800000000000000099
    00fffe00000aff020000000000000000
    0000000000123135640100646e0afd99
    0000000000000000000000000100";

const MCAST_MAC: [u8; 6] = [0x01, 0x00, 0x5e, 0x00, 0x00, 0x12];
const FRR_VMAC: [u8; 6] = [0x00, 0x00, 0x5e, 0x00, 0x01, 0x36];
const FD99_100: [u8; 16] = [0xfd, 0x99, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0];
const FE80_SRC: [u8; 16] = [
    0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0x99, 0, 0xff, 0xfe, 0, 0, 0x0a,
];
const FF02_12: [u8; 16] = [0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x12];

// --- Ethernet (and 802.1Q) ------------------------------------------------------------

#[test]
fn ethernet_deconstruct_reads_macs_and_ethertype() {
    let f = hex(FRR_V3_V4);
    let h = EthHdr::parse(&f).unwrap();
    assert_eq!(h.dst, MCAST_MAC);
    assert_eq!(h.src, FRR_VMAC);
    assert_eq!(h.ether_type(), ETH_P_IP);
    assert!(!h.is_tagged());
    assert_eq!(EthHdr::parse(&f[..13]), Err(WireError::Truncated));
}

#[test]
fn ethernet_construct_writes_the_captured_header() {
    let mut h = EthHdr {
        dst: MCAST_MAC,
        src: FRR_VMAC,
        ..EthHdr::default()
    };
    h.set_ether_type(ETH_P_IP);
    let mut b = [0u8; ETH_HLEN];
    h.write(&mut b).unwrap();
    assert_eq!(&b[..], &hex(FRR_V3_V4)[..ETH_HLEN]);
    assert_eq!(h.write(&mut [0u8; 13]), Err(WireError::NoRoom));
}

#[test]
fn ethernet_parse_reads_one_vlan_tag_and_the_inner_ethertype() {
    let mut f = hex(FRR_V3_V4);
    assert_eq!(
        EthRepr::parse(&f),
        Ok(EthRepr {
            dst: MCAST_MAC,
            src: FRR_VMAC,
            vlan: None,
            ether_type: ETH_P_IP
        })
    );
    // Tag it: TPID 8100, VLAN 100, then the original EtherType.
    f.splice(12..12, [0x81, 0x00, 0x00, 0x64]);
    let r = EthRepr::parse(&f).unwrap();
    assert_eq!(r.vlan, Some((ETH_P_8021Q, 100)));
    assert_eq!((r.ether_type, r.header_len()), (ETH_P_IP, 18));
    assert_eq!(EthRepr::parse(&f[..16]), Err(WireError::Truncated));
}

#[test]
fn ethernet_emit_writes_the_tag_between_the_macs_and_the_ethertype() {
    let r = EthRepr {
        dst: MCAST_MAC,
        src: FRR_VMAC,
        vlan: Some((ETH_P_8021AD, 0x0abc)),
        ether_type: ETH_P_IPV6,
    };
    let mut b = [0u8; 18];
    assert_eq!(r.emit(&mut b), Ok(18));
    let mut want = std::vec::Vec::new();
    want.extend_from_slice(&MCAST_MAC);
    want.extend_from_slice(&FRR_VMAC);
    want.extend_from_slice(&[0x88, 0xa8, 0x0a, 0xbc, 0x86, 0xdd]);
    assert_eq!(&b[..], &want[..]);
    assert_eq!(r.emit(&mut [0u8; 17]), Err(WireError::NoRoom));
}

// --- IPv4 -------------------------------------------------------------------------------

#[test]
fn ipv4_deconstruct_reads_the_captured_header() {
    let f = hex(FRR_V3_V4);
    let h = Ipv4Hdr::parse(&f[ETH_HLEN..]).unwrap();
    assert_eq!((h.version(), h.header_len(), h.total_len()), (4, 20, 32));
    assert_eq!((h.ttl, h.protocol), (255, IPPROTO_VRRP));
    assert!(!h.is_fragment(), "Don't Fragment alone is not a fragment");
    assert_eq!(h.src, [10, 99, 0, 1]);
    assert_eq!(h.dst, [224, 0, 0, 18]);
    assert!(checksum::verifies(checksum::sum(&h.into_bytes())));
}

#[test]
fn ipv4_construct_fills_the_captured_checksum() {
    let f = hex(FRR_V3_V4);
    let mut h = Ipv4Hdr {
        version_ihl: 0x45,
        tos: 0xc0,
        total_len: 32u16.to_be_bytes(),
        id: [0x74, 0x02],
        frag: [0x40, 0x00],
        ttl: 255,
        protocol: IPPROTO_VRRP,
        src: [10, 99, 0, 1],
        dst: [224, 0, 0, 18],
        ..Ipv4Hdr::default()
    };
    h.fill_checksum();
    assert_eq!(h.checksum, [0x1c, 0x35]);
    assert_eq!(&h.into_bytes()[..], &f[ETH_HLEN..ETH_HLEN + IPV4_HLEN]);
}

#[test]
fn ipv4_parse_gives_addresses_protocol_ttl_and_payload_length() {
    let f = hex(KA_V2);
    let r = Ipv4Repr::parse(&f[ETH_HLEN..]).unwrap();
    assert_eq!(
        r,
        Ipv4Repr {
            src: [10, 99, 0, 1],
            dst: [224, 0, 0, 18],
            protocol: IPPROTO_VRRP,
            ttl: 255,
            payload_len: 24
        }
    );
    let mut frag = f[ETH_HLEN..].to_vec();
    frag[7] = 1; // fragment offset 8 bytes
    assert_eq!(Ipv4Repr::parse(&frag), Err(WireError::Malformed));
    let mut v6 = f[ETH_HLEN..].to_vec();
    v6[0] = 0x65;
    assert_eq!(Ipv4Repr::parse(&v6), Err(WireError::Malformed));
}

#[test]
fn ipv4_emit_writes_a_20_byte_header_with_its_checksum() {
    let r = Ipv4Repr {
        src: [10, 99, 0, 1],
        dst: [224, 0, 0, 18],
        protocol: IPPROTO_VRRP,
        ttl: 255,
        payload_len: 12,
    };
    let mut b = [0u8; IPV4_HLEN];
    assert_eq!(r.emit(&mut b), Ok(20));
    // The captured header with identification 0 and Don't Fragment clear.
    assert_eq!(
        &b[..],
        &hex("45c00020 00000000 ff70d037 0a630001 e0000012")[..]
    );
    assert_eq!(Ipv4Repr::parse(&b), Ok(r));
}

// --- IPv6 -------------------------------------------------------------------------------

#[test]
fn ipv6_deconstruct_reads_the_captured_header() {
    let f = hex(KA_V3_V6);
    let h = Ipv6Hdr::parse(&f[ETH_HLEN..]).unwrap();
    assert_eq!((h.version(), h.payload_len()), (6, 24));
    assert_eq!((h.next_header, h.hop_limit), (IPPROTO_VRRP, 255));
    assert_eq!((h.src, h.dst), (FE80_SRC, FF02_12));
    assert_eq!(
        Ipv6Hdr::parse(&f[ETH_HLEN..ETH_HLEN + 39]),
        Err(WireError::Truncated)
    );
}

#[test]
fn ipv6_construct_writes_the_captured_header() {
    let h = Ipv6Hdr {
        version_class_flow: [0x6c, 0x04, 0xd8, 0x57],
        payload_len: 24u16.to_be_bytes(),
        next_header: IPPROTO_VRRP,
        hop_limit: 255,
        src: FE80_SRC,
        dst: FF02_12,
    };
    let f = hex(KA_V3_V6);
    assert_eq!(&h.into_bytes()[..], &f[ETH_HLEN..ETH_HLEN + IPV6_HLEN]);
}

#[test]
fn ipv6_parse_gives_addresses_next_header_hop_limit_and_length() {
    let f = hex(KA_V3_V6);
    let r = Ipv6Repr::parse(&f[ETH_HLEN..]).unwrap();
    assert_eq!(
        r,
        Ipv6Repr {
            src: FE80_SRC,
            dst: FF02_12,
            next_header: IPPROTO_VRRP,
            hop_limit: 255,
            payload_len: 24
        }
    );
    let mut v4 = f[ETH_HLEN..].to_vec();
    v4[0] = 0x4c;
    assert_eq!(Ipv6Repr::parse(&v4), Err(WireError::Malformed));
}

#[test]
fn ipv6_emit_writes_the_header_with_class_and_flow_zero() {
    let r = Ipv6Repr::parse(&hex(KA_V3_V6)[ETH_HLEN..]).unwrap();
    let mut b = [0u8; IPV6_HLEN];
    assert_eq!(r.emit(&mut b), Ok(40));
    let mut want = hex(KA_V3_V6)[ETH_HLEN..ETH_HLEN + IPV6_HLEN].to_vec();
    want[..4].copy_from_slice(&[0x60, 0, 0, 0]);
    assert_eq!(&b[..], &want[..]);
}

// --- VRRP -------------------------------------------------------------------------------

#[test]
fn vrrp_deconstruct_reads_v3_and_v2_fixed_fields() {
    let f = hex(FRR_V3_V4);
    let h = VrrpHdr::parse(&f[34..]).unwrap();
    assert_eq!(
        (h.version(), h.kind(), h.vrid, h.priority, h.count),
        (3, 1, 54, 150, 1)
    );
    assert_eq!((h.max_adver_int_cs(), h.checksum()), (10, 0x42ce));
    let f = hex(KA_V2);
    let h = VrrpHdr::parse(&f[34..]).unwrap();
    assert_eq!((h.version(), h.vrid, h.priority, h.count), (2, 51, 150, 2));
    assert_eq!(
        (h.auth_type(), h.adver_int_s(), h.checksum()),
        (1, 1, 0xd4fd)
    );
}

#[test]
fn vrrp_construct_writes_the_captured_v3_header() {
    let h = VrrpHdr {
        version_type: 0x31,
        vrid: 54,
        priority: 150,
        count: 1,
        interval: 10u16.to_be_bytes(),
        checksum: 0x42ceu16.to_be_bytes(),
    };
    assert_eq!(&h.into_bytes()[..], &hex(FRR_V3_V4)[34..42]);
}

#[test]
fn vrrp_parse_gives_addresses_and_v2_authentication_data() {
    let f = hex(KA_V2);
    let r = VrrpRepr::parse(&f[34..], Family::V4).unwrap();
    assert_eq!((r.version, r.vrid, r.priority, r.interval), (2, 51, 150, 1));
    assert_eq!((r.auth_type, r.count()), (1, 2));
    assert_eq!(r.addrs, &[10, 99, 0, 51, 10, 99, 0, 151]);
    assert_eq!(&r.auth_data, b"s3cret!!");
    let f6 = hex(KA_V3_V6);
    let r6 = VrrpRepr::parse(&f6[54..], Family::V6).unwrap();
    assert_eq!(
        (r6.version, r6.vrid, r6.priority, r6.interval),
        (3, 53, 100, 100)
    );
    assert_eq!(r6.addrs, &FD99_100);
    // Cut inside the authentication data / the address; a type other than 1.
    assert_eq!(
        VrrpRepr::parse(&f[34..f.len() - 1], Family::V4),
        Err(WireError::Truncated)
    );
    assert_eq!(
        VrrpRepr::parse(&f6[54..f6.len() - 1], Family::V6),
        Err(WireError::Truncated)
    );
    let mut t = f[34..].to_vec();
    t[0] = 0x22;
    assert_eq!(VrrpRepr::parse(&t, Family::V4), Err(WireError::Malformed));
}

#[test]
fn vrrp_emit_gives_back_the_captured_messages_byte_for_byte() {
    for (vector, off, family) in [
        (FRR_V3_V4, 34, Family::V4),
        (KA_V2, 34, Family::V4),
        (KA_V3_V6, 54, Family::V6),
    ] {
        let f = hex(vector);
        let r = VrrpRepr::parse(&f[off..], family).unwrap();
        let mut b = [0u8; 64];
        let n = r.emit(&mut b).unwrap();
        assert_eq!(&b[..n], &f[off..], "{vector}");
        assert_eq!(r.emit(&mut b[..n - 1]), Err(WireError::NoRoom));
    }
    let odd = VrrpRepr {
        addrs: &[10, 0, 0],
        ..VrrpRepr::parse(&hex(FRR_V3_V4)[34..], Family::V4).unwrap()
    };
    assert_eq!(odd.emit(&mut [0u8; 64]), Err(WireError::Malformed));
}

// --- ARP --------------------------------------------------------------------------------

/// A gratuitous ARP request for 10.9.0.100 from 02:11:22:33:44:55 (RFC 5227 §3 form).
const GARP: &str = "0001 0800 06 04 0001 021122334455 0a090064 000000000000 0a090064";
const MAC: [u8; 6] = [0x02, 0x11, 0x22, 0x33, 0x44, 0x55];

#[test]
fn arp_deconstruct_reads_operation_and_addresses() {
    let b = hex(GARP);
    let h = ArpHdr::parse(&b).unwrap();
    assert!(h.is_ethernet_ipv4());
    assert_eq!(h.op(), 1);
    assert_eq!(
        (h.sha, h.spa, h.tpa),
        (MAC, [10, 9, 0, 100], [10, 9, 0, 100])
    );
    assert_eq!(ArpHdr::parse(&b[..27]), Err(WireError::Truncated));
}

#[test]
fn arp_construct_writes_the_gratuitous_request() {
    let h = ArpHdr {
        htype: [0, 1],
        ptype: [0x08, 0x00],
        hlen: 6,
        plen: 4,
        op: [0, 1],
        sha: MAC,
        spa: [10, 9, 0, 100],
        tha: [0; 6],
        tpa: [10, 9, 0, 100],
    };
    assert_eq!(&h.into_bytes()[..], &hex(GARP)[..]);
}

#[test]
fn arp_parse_refuses_other_hardware_or_protocol_types() {
    let b = hex(GARP);
    let r = ArpRepr::parse(&b).unwrap();
    assert_eq!(
        r,
        ArpRepr {
            op: 1,
            sender_mac: MAC,
            sender_ip: [10, 9, 0, 100],
            target_mac: [0; 6],
            target_ip: [10, 9, 0, 100]
        }
    );
    let mut v6 = b.clone();
    v6[2..4].copy_from_slice(&[0x86, 0xdd]);
    assert_eq!(ArpRepr::parse(&v6), Err(WireError::Malformed));
}

#[test]
fn arp_emit_writes_a_reply() {
    let r = ArpRepr {
        op: 2,
        sender_mac: MAC,
        sender_ip: [10, 9, 0, 100],
        target_mac: [0xff; 6],
        target_ip: [10, 9, 0, 7],
    };
    let mut b = [0u8; ARP_LEN];
    assert_eq!(r.emit(&mut b), Ok(28));
    assert_eq!(
        &b[..],
        &hex("0001 0800 06 04 0002 021122334455 0a090064 ffffffffffff 0a090007")[..]
    );
    assert_eq!(ArpRepr::parse(&b), Ok(r));
}

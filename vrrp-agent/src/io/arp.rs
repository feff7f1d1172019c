//! Gratuitous ARP and unsolicited Neighbour Advertisements, sent when we become master
//! (RFC 5798 §6.4.1, §6.4.2) so hosts and switches move the VIP to our MAC at once.
//!
//! The frame builders are pure functions over fixed-size arrays; [`GarpSender`] is the
//! edge that puts them on the wire through a [`PacketSocket`].

use std::net::{Ipv4Addr, Ipv6Addr};

use anyhow::{Context, Result};

use vrrp_ebpf::checksum;

use super::packet_socket::PacketSocket;

pub const ETH_BROADCAST: [u8; 6] = [0xff; 6];
/// 33:33 + the low 32 bits of ff02::1 (RFC 2464 §7).
pub const ETH_ALL_NODES: [u8; 6] = [0x33, 0x33, 0, 0, 0, 1];
pub const IPV6_ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

const ETHERTYPE_ARP: u16 = 0x0806;
const ETHERTYPE_IPV6: u16 = 0x86dd;
const IPPROTO_ICMPV6: u8 = 58;
const ICMPV6_NA: u8 = 136;
const ND_OPT_TARGET_LLADDR: u8 = 2;

/// Neighbour Advertisement flags (RFC 4861 §4.4): Router, Solicited, Override.
pub const NA_ROUTER: u8 = 0x80;
pub const NA_SOLICITED: u8 = 0x40;
pub const NA_OVERRIDE: u8 = 0x20;

/// Length of a gratuitous ARP frame (NICs pad it to the 60-byte minimum).
pub const GARP_LEN: usize = 42;
/// Length of an unsolicited NA frame with one target link-layer address option.
pub const NA_LEN: usize = 86;

/// A gratuitous ARP request announcing that `vip` is at `mac`:
///
/// ```text
///  0                   6                   12      14
/// +-------------------+-------------------+-------+
/// | ff:ff:ff:ff:ff:ff | mac               | 0806  |  Ethernet
/// +-----+-----+---+---+-----+-------------+-------+---------+----------+
/// | 0001| 0800| 6 | 4 | 0001| sha = mac   | spa = vip       | tha = 0  | tpa = vip
/// +-----+-----+---+---+-----+-------------+-----------------+----------+
///  14    16    18  19  20    22            28                32         38..42
/// ```
///
/// A request rather than a reply: every host processes a broadcast request, and Linux
/// overrides an existing neighbour entry when sender and target address are equal
/// (RFC 5227 §3 "ARP Announcement"; the target hardware address is ignored, so zero).
pub fn garp_frame(vip: Ipv4Addr, mac: [u8; 6]) -> [u8; GARP_LEN] {
    let mut f = [0u8; GARP_LEN];
    f[0..6].copy_from_slice(&ETH_BROADCAST);
    f[6..12].copy_from_slice(&mac);
    f[12..14].copy_from_slice(&ETHERTYPE_ARP.to_be_bytes());
    f[14..16].copy_from_slice(&1u16.to_be_bytes()); // hardware: Ethernet
    f[16..18].copy_from_slice(&0x0800u16.to_be_bytes()); // protocol: IPv4
    f[18] = 6;
    f[19] = 4;
    f[20..22].copy_from_slice(&1u16.to_be_bytes()); // request
    f[22..28].copy_from_slice(&mac);
    f[28..32].copy_from_slice(&vip.octets());
    // 32..38: target hardware address, zero.
    f[38..42].copy_from_slice(&vip.octets());
    f
}

/// An unsolicited Neighbour Advertisement for `target` at `mac`, from the link-local
/// `src_ll` to all nodes, hop limit 255, flags R=1 S=0 O=1 (RFC 5798 §8.2.3 asks for an
/// unsolicited NA; RFC 4861 §7.2.6 for Override so caches take the new address):
///
/// ```text
///  0          6          12    14                               54
/// | 33:33:0:0:0:1 | mac  | 86dd | IPv6: 6, plen 32, nh 58, hl 255, src_ll -> ff02::1 |
///  54   55   56     58               62              78   79   80        86
/// | 136 | 0 | csum | R.O. flags+rsvd | target (16)  | 2  | 1  | mac (6) |
/// ```
pub fn unsolicited_na_frame(target: Ipv6Addr, mac: [u8; 6], src_ll: Ipv6Addr) -> [u8; NA_LEN] {
    const ICMP_LEN: usize = 32;
    let mut f = [0u8; NA_LEN];
    f[0..6].copy_from_slice(&ETH_ALL_NODES);
    f[6..12].copy_from_slice(&mac);
    f[12..14].copy_from_slice(&ETHERTYPE_IPV6.to_be_bytes());
    let ip = &mut f[14..54];
    ip[0] = 0x60; // version 6, traffic class 0, flow label 0
    ip[4..6].copy_from_slice(&(ICMP_LEN as u16).to_be_bytes());
    ip[6] = IPPROTO_ICMPV6;
    ip[7] = 255; // RFC 4861 §7.1.2: receivers drop ND with any other hop limit
    ip[8..24].copy_from_slice(&src_ll.octets());
    ip[24..40].copy_from_slice(&IPV6_ALL_NODES.octets());
    let icmp = &mut f[54..NA_LEN];
    icmp[0] = ICMPV6_NA;
    icmp[4] = NA_ROUTER | NA_OVERRIDE;
    icmp[8..24].copy_from_slice(&target.octets());
    icmp[24] = ND_OPT_TARGET_LLADDR;
    icmp[25] = 1; // length in units of 8 bytes
    icmp[26..32].copy_from_slice(&mac);
    let csum = icmpv6_checksum(src_ll, IPV6_ALL_NODES, icmp);
    icmp[2..4].copy_from_slice(&csum.to_be_bytes());
    f
}

/// The ICMPv6 checksum (RFC 4443 §2.3) of `msg` (its checksum field zero) with the
/// IPv6 pseudo-header (RFC 8200 §8.1).
pub fn icmpv6_checksum(src: Ipv6Addr, dst: Ipv6Addr, msg: &[u8]) -> u16 {
    // Upper-layer length (32 bits), three zero bytes and the next header.
    let pseudo = checksum::pseudo_header(&src.octets(), &dst.octets(), IPPROTO_ICMPV6);
    checksum::finish(pseudo + msg.len() as u32 + checksum::sum(msg))
}

/// Sends GARP / NA frames on one interface through a send-only AF_PACKET socket.
pub struct GarpSender {
    sock: PacketSocket,
}

impl GarpSender {
    /// Open on `ifindex` in the calling thread's namespace (needs CAP_NET_RAW).
    pub fn open(ifindex: u32) -> Result<GarpSender> {
        let sock = PacketSocket::send_only(ifindex).context("GARP")?;
        Ok(GarpSender { sock })
    }

    pub fn ifindex(&self) -> u32 {
        self.sock.ifindex()
    }

    /// Announce IPv4 `vip` at `mac` (the interface's MAC, or the virtual MAC with a vmac).
    pub fn send_garp(&self, vip: Ipv4Addr, mac: [u8; 6]) -> Result<()> {
        self.send_frame(&garp_frame(vip, mac))
            .with_context(|| format!("gratuitous ARP for {vip}"))
    }

    /// Announce IPv6 `vip6` at `mac` from the interface's link-local address `src_ll`.
    pub fn send_na(&self, vip6: Ipv6Addr, mac: [u8; 6], src_ll: Ipv6Addr) -> Result<()> {
        self.send_frame(&unsolicited_na_frame(vip6, mac, src_ll))
            .with_context(|| format!("unsolicited NA for {vip6}"))
    }

    /// Send one complete Ethernet frame.
    pub fn send_frame(&self, frame: &[u8]) -> Result<()> {
        self.sock.send_frame(frame)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAC: [u8; 6] = [0x02, 0x11, 0x22, 0x33, 0x44, 0x55];

    #[test]
    fn garp_is_a_broadcast_request_with_sender_equal_to_target() {
        let f = garp_frame(Ipv4Addr::new(10, 9, 0, 100), MAC);
        #[rustfmt::skip]
        let want: [u8; GARP_LEN] = [
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff,     // broadcast
            0x02, 0x11, 0x22, 0x33, 0x44, 0x55,     // source MAC
            0x08, 0x06,                             // ARP
            0x00, 0x01, 0x08, 0x00, 6, 4,           // Ethernet / IPv4, lengths
            0x00, 0x01,                             // request
            0x02, 0x11, 0x22, 0x33, 0x44, 0x55,     // sender MAC
            10, 9, 0, 100,                          // sender IP = VIP
            0, 0, 0, 0, 0, 0,                       // target MAC (ignored)
            10, 9, 0, 100,                          // target IP = VIP
        ];
        assert_eq!(f, want);
    }

    #[test]
    fn garp_with_a_virtual_mac_uses_it_as_ethernet_and_sender_address() {
        let vmac = [0x00, 0x00, 0x5e, 0x00, 0x01, 51];
        let f = garp_frame(Ipv4Addr::new(192, 0, 2, 1), vmac);
        assert_eq!(&f[6..12], &vmac);
        assert_eq!(&f[22..28], &vmac);
    }

    #[test]
    fn unsolicited_na_has_router_and_override_flags_and_a_target_lladdr_option() {
        let src: Ipv6Addr = "fe80::11:22ff:fe33:4455".parse().unwrap();
        let target: Ipv6Addr = "2001:db8::100".parse().unwrap();
        let f = unsolicited_na_frame(target, MAC, src);
        #[rustfmt::skip]
        let want: [u8; NA_LEN] = [
            0x33, 0x33, 0x00, 0x00, 0x00, 0x01,     // all-nodes MAC
            0x02, 0x11, 0x22, 0x33, 0x44, 0x55,     // source MAC
            0x86, 0xdd,                             // IPv6
            0x60, 0x00, 0x00, 0x00,                 // version, class, flow
            0x00, 0x20, 58, 255,                    // 32 bytes of ICMPv6, hop limit 255
            0xfe, 0x80, 0, 0, 0, 0, 0, 0,           // source fe80::11:22ff:fe33:4455
            0x00, 0x11, 0x22, 0xff, 0xfe, 0x33, 0x44, 0x55,
            0xff, 0x02, 0, 0, 0, 0, 0, 0,           // destination ff02::1
            0, 0, 0, 0, 0, 0, 0, 0x01,
            136, 0,                                 // Neighbour Advertisement
            0xdb, 0x32,                             // checksum (computed independently)
            0xa0, 0, 0, 0,                          // R=1 S=0 O=1
            0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0,     // target 2001:db8::100
            0, 0, 0, 0, 0, 0, 0x01, 0x00,
            2, 1,                                   // target link-layer address, 8 bytes
            0x02, 0x11, 0x22, 0x33, 0x44, 0x55,
        ];
        assert_eq!(f, want);
    }

    #[test]
    fn na_checksum_verifies_to_zero_over_pseudo_header_and_message() {
        let src: Ipv6Addr = "fe80::1".parse().unwrap();
        let f = unsolicited_na_frame("fd00::5".parse().unwrap(), MAC, src);
        // Summing a message that carries its own checksum gives 0xffff, i.e. !sum == 0.
        assert_eq!(icmpv6_checksum(src, IPV6_ALL_NODES, &f[54..]), 0);
    }
}

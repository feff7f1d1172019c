//! Frames built byte by byte for tests, the demo and the flood benchmark: VRRP v2/v3
//! adverts over IPv4 and IPv6 (optionally VLAN-tagged, with IPv4 options) and ARP.
//! Written from the RFC layouts, independently of the parser under test.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use vrrp_ebpf::checksum;

/// How the VRRP checksum is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Csum {
    /// Including the IP pseudo-header (v3 default; always for IPv6).
    Pseudo,
    /// Over the VRRP message alone (v2 always; RFC 9568 v3 over IPv4).
    Plain,
    /// The correct pseudo-header checksum plus one: never valid.
    Bad,
}

#[derive(Clone, Debug)]
pub struct Advert {
    pub version: u8,
    /// The VRRP type nibble (1 = advertisement).
    pub vtype: u8,
    pub vrid: u8,
    pub priority: u8,
    /// v3: centiseconds (12 bits); v2: seconds (8 bits).
    pub interval: u16,
    pub addrs: Vec<IpAddr>,
    /// Overrides the count field (for malformed adverts); `None` means `addrs.len()`.
    pub count: Option<u8>,
    /// v2: authentication type and data.
    pub auth_type: u8,
    pub auth_data: [u8; 8],
    pub src: IpAddr,
    pub dst: IpAddr,
    pub ttl: u8,
    pub csum: Csum,
    pub src_mac: [u8; 6],
    pub dst_mac: [u8; 6],
    /// VLAN tags, outermost first: (TPID, VID).
    pub vlans: Vec<(u16, u16)>,
    /// Extra IPv4 header option bytes (a multiple of 4, at most 40).
    pub ip_options: Vec<u8>,
    /// Bytes appended after the VRRP message inside the IP payload.
    pub trailer: Vec<u8>,
    /// An `auth_hmac` trailer after the message (and after `trailer`): outside the IPv4
    /// checksum, inside the IPv6 one, as keepalived 2.4 sends it.
    pub hmac: Option<[u8; 28]>,
    /// Ethernet padding after the IP packet.
    pub eth_padding: usize,
}

pub const VRRP_MCAST_V4: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);
pub const VRRP_MCAST_V6: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12);

impl Advert {
    /// A valid VRRPv3 IPv4 advert: VRID 51, priority 100, 100 cs, one address.
    pub fn v3_ipv4() -> Advert {
        Advert {
            version: 3,
            vtype: 1,
            vrid: 51,
            priority: 100,
            interval: 100,
            addrs: vec![IpAddr::V4(Ipv4Addr::new(10, 9, 0, 100))],
            count: None,
            auth_type: 0,
            auth_data: [0; 8],
            src: IpAddr::V4(Ipv4Addr::new(10, 9, 0, 1)),
            dst: IpAddr::V4(VRRP_MCAST_V4),
            ttl: 255,
            csum: Csum::Pseudo,
            src_mac: [0x02, 0, 0, 0, 0, 0x01],
            dst_mac: [0x01, 0x00, 0x5e, 0x00, 0x00, 0x12],
            vlans: vec![],
            ip_options: vec![],
            trailer: vec![],
            hmac: None,
            eth_padding: 0,
        }
    }

    /// A valid VRRPv2 advert with PASS authentication `secret!!`, 1 s interval.
    pub fn v2_pass() -> Advert {
        Advert {
            version: 2,
            interval: 1,
            auth_type: 1,
            auth_data: *b"secret!!",
            csum: Csum::Plain,
            ..Advert::v3_ipv4()
        }
    }

    /// A valid VRRPv3 IPv6 advert from a link-local source.
    pub fn v3_ipv6() -> Advert {
        Advert {
            addrs: vec![IpAddr::V6("fd00:9::100".parse().unwrap())],
            src: IpAddr::V6("fe80::1".parse().unwrap()),
            dst: IpAddr::V6(VRRP_MCAST_V6),
            dst_mac: [0x33, 0x33, 0, 0, 0, 0x12],
            ..Advert::v3_ipv4()
        }
    }

    fn is_v6(&self) -> bool {
        self.src.is_ipv6()
    }

    /// The VRRP message alone, checksum filled in.
    pub fn vrrp_bytes(&self) -> Vec<u8> {
        let mut m = vec![
            (self.version << 4) | (self.vtype & 0x0f),
            self.vrid,
            self.priority,
            self.count.unwrap_or(self.addrs.len() as u8),
        ];
        if self.version == 2 {
            m.push(self.auth_type);
            m.push(self.interval as u8);
        } else {
            m.extend_from_slice(&(self.interval & 0x0fff).to_be_bytes());
        }
        m.extend_from_slice(&[0, 0]);
        for a in &self.addrs {
            match a {
                IpAddr::V4(a) => m.extend_from_slice(&a.octets()),
                IpAddr::V6(a) => m.extend_from_slice(&a.octets()),
            }
        }
        if self.version == 2 {
            m.extend_from_slice(&self.auth_data);
        }
        m.extend_from_slice(&self.trailer);
        let v6_hmac = self.is_v6() && self.hmac.is_some();
        if v6_hmac {
            m.extend_from_slice(&self.hmac.unwrap());
        }
        let mut sum = checksum::sum(&m);
        if self.csum != Csum::Plain {
            sum += pseudo_sum(self.src, self.dst, m.len());
        }
        let mut c = checksum::finish(sum);
        if self.csum == Csum::Bad {
            c = c.wrapping_add(1);
        }
        m[6..8].copy_from_slice(&c.to_be_bytes());
        if let (false, Some(t)) = (v6_hmac, self.hmac) {
            m.extend_from_slice(&t);
        }
        m
    }

    /// The VRRP message an `auth_hmac` trailer signs: without any trailer (the checksum
    /// field is not covered).
    pub fn signed_part(&self) -> Vec<u8> {
        let bare = Advert {
            hmac: None,
            ..self.clone()
        };
        bare.vrrp_bytes()
    }

    /// This advert signed by `signer` under `cfg` at UTC time `utc_ns`.
    pub fn signed(
        mut self,
        cfg: &vrrp_agent::proto::auth_hmac::AuthHmac,
        signer: &mut vrrp_agent::proto::auth_hmac::Signer,
        utc_ns: u64,
    ) -> Advert {
        let b = vrrp_agent::proto::auth_hmac::Binding {
            version: self.version,
            vrid: self.vrid,
            src: self.src,
        };
        self.hmac = signer.sign(cfg, &b, &self.signed_part(), utc_ns);
        self
    }

    /// The whole Ethernet frame.
    /// The junk every flood test sends, built from this advert: a bad TTL, a bad checksum,
    /// and another VRID (`foreign_vrid`, which the receiver passes as foreign).
    pub fn junk(&self, foreign_vrid: u8) -> Vec<Vec<u8>> {
        vec![
            Advert {
                ttl: 64,
                ..self.clone()
            }
            .build(),
            Advert {
                csum: Csum::Bad,
                ..self.clone()
            }
            .build(),
            Advert {
                vrid: foreign_vrid,
                ..self.clone()
            }
            .build(),
        ]
    }

    pub fn build(&self) -> Vec<u8> {
        let vrrp = self.vrrp_bytes();
        let mut f = Vec::with_capacity(128);
        f.extend_from_slice(&self.dst_mac);
        f.extend_from_slice(&self.src_mac);
        for &(tpid, vid) in &self.vlans {
            f.extend_from_slice(&tpid.to_be_bytes());
            f.extend_from_slice(&vid.to_be_bytes());
        }
        match (self.src, self.dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                f.extend_from_slice(&0x0800u16.to_be_bytes());
                let ihl = 20 + self.ip_options.len();
                let total = (ihl + vrrp.len()) as u16;
                let mut ip = vec![0x40 | (ihl / 4) as u8, 0xc0];
                ip.extend_from_slice(&total.to_be_bytes());
                ip.extend_from_slice(&[0x12, 0x34, 0x00, 0x00, self.ttl, 112, 0, 0]);
                ip.extend_from_slice(&s.octets());
                ip.extend_from_slice(&d.octets());
                ip.extend_from_slice(&self.ip_options);
                let c = checksum::finish(checksum::sum(&ip));
                ip[10..12].copy_from_slice(&c.to_be_bytes());
                f.extend_from_slice(&ip);
            }
            (IpAddr::V6(s), IpAddr::V6(d)) => {
                f.extend_from_slice(&0x86ddu16.to_be_bytes());
                f.extend_from_slice(&[0x60, 0, 0, 0]);
                f.extend_from_slice(&(vrrp.len() as u16).to_be_bytes());
                f.extend_from_slice(&[112, self.ttl]);
                f.extend_from_slice(&s.octets());
                f.extend_from_slice(&d.octets());
            }
            _ => panic!("source and destination families differ"),
        }
        f.extend_from_slice(&vrrp);
        f.extend(std::iter::repeat_n(0u8, self.eth_padding));
        f
    }

    /// Offset of the VRRP header within `build()`'s frame.
    pub fn vrrp_offset(&self) -> usize {
        14 + 4 * self.vlans.len()
            + if self.is_v6() {
                40
            } else {
                20 + self.ip_options.len()
            }
    }
}

/// `n` IPv4 addresses from 10.9.1.1 up, for adverts listing many.
pub fn v4_addrs(n: u8) -> Vec<IpAddr> {
    (1..=n)
        .map(|i| IpAddr::V4(Ipv4Addr::new(10, 9, 1, i)))
        .collect()
}

/// `n` IPv6 addresses from fd00:9::1 up.
pub fn v6_addrs(n: u16) -> Vec<IpAddr> {
    (1..=n)
        .map(|i| IpAddr::V6(Ipv6Addr::new(0xfd00, 9, 0, 0, 0, 0, 0, i)))
        .collect()
}

/// An ARP frame (RFC 826) from `sender` about `target`.
pub fn arp_frame(op: u16, sender_mac: [u8; 6], sender: Ipv4Addr, target: Ipv4Addr) -> Vec<u8> {
    let mut f = Vec::with_capacity(60);
    f.extend_from_slice(&[0xff; 6]);
    f.extend_from_slice(&sender_mac);
    f.extend_from_slice(&0x0806u16.to_be_bytes());
    f.extend_from_slice(&[0, 1, 0x08, 0x00, 6, 4]);
    f.extend_from_slice(&op.to_be_bytes());
    f.extend_from_slice(&sender_mac);
    f.extend_from_slice(&sender.octets());
    f.extend_from_slice(&[0; 6]);
    f.extend_from_slice(&target.octets());
    f
}

/// A UDP/IPv4 frame: something that is not VRRP at all.
pub fn udp_frame() -> Vec<u8> {
    let mut a = Advert::v3_ipv4();
    a.dst = IpAddr::V4(Ipv4Addr::new(10, 9, 0, 2));
    let mut f = a.build();
    f[14 + 9] = 17;
    f
}

fn pseudo_sum(src: IpAddr, dst: IpAddr, len: usize) -> u32 {
    let bytes = |a: IpAddr| match a {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    };
    checksum::sum(&bytes(src)) + checksum::sum(&bytes(dst)) + 112 + len as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v3_ipv4_advert_matches_hand_assembled_bytes() {
        let a = Advert::v3_ipv4();
        let m = a.vrrp_bytes();
        // 0x31: version 3, type 1; VRID 51; priority 100; count 1; interval 100 cs.
        assert_eq!(&m[..6], &[0x31, 51, 100, 1, 0x00, 0x64]);
        assert_eq!(&m[8..], &[10, 9, 0, 100]);
        // The pseudo-header checksum verifies: the sum of everything folds to 0xffff.
        let total = checksum::sum(&m) + pseudo_sum(a.src, a.dst, m.len());
        assert!(checksum::verifies(total));
        let f = a.build();
        assert_eq!(f.len(), 14 + 20 + 12);
        assert_eq!(&f[12..14], &[0x08, 0x00]);
        assert_eq!(f[14 + 8], 255);
    }

    #[test]
    fn v2_advert_carries_auth_after_addresses_and_a_plain_checksum() {
        let m = Advert::v2_pass().vrrp_bytes();
        assert_eq!(&m[..6], &[0x21, 51, 100, 1, 1, 1]);
        assert_eq!(&m[12..20], b"secret!!");
        assert!(checksum::verifies(checksum::sum(&m)));
    }
}

//! Wire constants for the headers the filter walks. Offsets are from the start of each
//! header; multi-byte fields are big-endian on the wire.
//!
//! Over 600 lines on purpose: every header view and its `Repr` sits in this one module,
//! shared by the XDP program and userspace (docs/wire.md); tests are in wire_tests.rs.

pub const ETH_HLEN: usize = 14;
pub const VLAN_HLEN: usize = 4;
pub const ETH_P_IP: u16 = 0x0800;
pub const ETH_P_ARP: u16 = 0x0806;
pub const ETH_P_IPV6: u16 = 0x86dd;
pub const ETH_P_8021Q: u16 = 0x8100;
pub const ETH_P_8021AD: u16 = 0x88a8;

pub const IPV6_HLEN: usize = 40;
/// IANA protocol number of VRRP (RFC 5798 §5.1.1.3).
pub const IPPROTO_VRRP: u8 = 112;
pub const IPPROTO_ICMPV6: u8 = 58;

/// The fixed VRRP header, identical in size for v2 and v3 (RFC 5798 §5.1):
///
/// ```text
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |Version| Type  | Virtual Rtr ID|   Priority    |Count IPvX Addr|
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |(rsvd) |     Max Adver Int     |          Checksum             |   v3
/// |   Auth Type   |   Adver Int   |          Checksum             |   v2
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                  IPvX Address(es) ...                         |
/// |                  (v2 only) Authentication Data, 8 bytes       |
/// ```
pub const VRRP_HLEN: usize = 8;
pub const VRRP_TYPE_ADVERT: u8 = 1;
/// v2 carries 8 bytes of authentication data after the addresses (RFC 3768 §5.3.10).
pub const V2_AUTH_LEN: usize = 8;
/// Largest VRRP message the filter checks: a full 1500-byte MTU minus the IPv4 header.
/// Longer ones (only possible with jumbo frames) are rejected as `length`.
pub const MAX_VRRP_LEN: usize = 1480;

/// ARP for IPv4 over Ethernet is 28 bytes (RFC 826).
pub const ARP_LEN: usize = 28;

// ---------------------------------------------------------------------------------------
// Header views. Each header is a `#[repr(C)]` struct of bytes and byte arrays (alignment 1,
// size pinned), multi-byte fields big-endian as on the wire, read through getters: the same
// type serves the XDP program (built from a bounds-checked `Frame::load`) and userspace
// (built from a slice with `parse`, which checks the length first). Nothing here panics.
// ---------------------------------------------------------------------------------------

use crate::abi::Family;
use crate::checksum;

/// Why bytes are not a header or message of the expected format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WireError {
    /// Shorter than the header, or than the lengths its fields announce.
    Truncated,
    /// A field holds a value this format does not allow (version, type, lengths).
    Malformed,
    /// The buffer to emit into is too short.
    NoRoom,
}

macro_rules! header {
    ($t:ident, $len:expr) => {
        const _: () = assert!(core::mem::size_of::<$t>() == $len);
        const _: () = assert!(core::mem::align_of::<$t>() == 1);

        impl $t {
            pub const LEN: usize = $len;

            /// The header held in exactly its own bytes.
            #[inline(always)]
            pub const fn from_bytes(b: [u8; $len]) -> $t {
                // SAFETY: the struct is repr(C) with only u8 and [u8; N] fields, so it has
                // no padding, alignment 1 and the size asserted above: every byte pattern
                // of that size is a valid value.
                unsafe { core::mem::transmute::<[u8; $len], $t>(b) }
            }

            #[inline(always)]
            pub const fn into_bytes(self) -> [u8; $len] {
                // SAFETY: as in `from_bytes`; every value is plain bytes.
                unsafe { core::mem::transmute::<$t, [u8; $len]>(self) }
            }

            /// The header at the start of `b` (checked view): `Truncated` when `b` is
            /// shorter than the header.
            #[inline(always)]
            pub fn parse(b: &[u8]) -> Result<$t, WireError> {
                match b.get(..$len) {
                    Some(h) => {
                        let mut a = [0u8; $len];
                        a.copy_from_slice(h);
                        Ok($t::from_bytes(a))
                    }
                    None => Err(WireError::Truncated),
                }
            }

            /// Write the header at the start of `b`.
            #[inline(always)]
            pub fn write(&self, b: &mut [u8]) -> Result<(), WireError> {
                match b.get_mut(..$len) {
                    Some(out) => {
                        out.copy_from_slice(&self.into_bytes());
                        Ok(())
                    }
                    None => Err(WireError::NoRoom),
                }
            }
        }
    };
}

/// Ethernet II header (IEEE 802.3 clause 3.2.6 with an EtherType):
///
/// ```text
/// | destination MAC (6) | source MAC (6) | EtherType (2) |
/// ```
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EthHdr {
    pub dst: [u8; 6],
    pub src: [u8; 6],
    pub ether_type: [u8; 2],
}
header!(EthHdr, ETH_HLEN);

impl EthHdr {
    #[inline(always)]
    pub const fn ether_type(&self) -> u16 {
        u16::from_be_bytes(self.ether_type)
    }

    #[inline(always)]
    pub fn set_ether_type(&mut self, t: u16) {
        self.ether_type = t.to_be_bytes();
    }

    /// Whether the EtherType is an 802.1Q or 802.1ad tag rather than the payload's type.
    #[inline(always)]
    pub const fn is_tagged(&self) -> bool {
        matches!(self.ether_type(), ETH_P_8021Q | ETH_P_8021AD)
    }
}

/// The 4 bytes an 802.1Q / 802.1ad tag adds after the MAC addresses (its TPID is the
/// Ethernet header's EtherType): priority, DEI and VLAN id, then the next EtherType.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VlanHdr {
    pub tci: [u8; 2],
    pub ether_type: [u8; 2],
}
header!(VlanHdr, VLAN_HLEN);

impl VlanHdr {
    /// The 12-bit VLAN identifier.
    #[inline(always)]
    pub const fn vid(&self) -> u16 {
        u16::from_be_bytes(self.tci) & 0x0fff
    }

    #[inline(always)]
    pub const fn ether_type(&self) -> u16 {
        u16::from_be_bytes(self.ether_type)
    }
}

pub const IPV4_HLEN: usize = 20;

/// The fixed IPv4 header (RFC 791 §3.1); options, when IHL > 5, follow it.
///
/// ```text
/// |Ver| IHL|  TOS  |  Total Length  | Identification |Flg| Fragment Off |
/// |  TTL  | Proto |    Checksum    |  Source (4)    | Destination (4)   |
/// ```
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ipv4Hdr {
    pub version_ihl: u8,
    pub tos: u8,
    pub total_len: [u8; 2],
    pub id: [u8; 2],
    pub frag: [u8; 2],
    pub ttl: u8,
    pub protocol: u8,
    pub checksum: [u8; 2],
    pub src: [u8; 4],
    pub dst: [u8; 4],
}
header!(Ipv4Hdr, IPV4_HLEN);

impl Ipv4Hdr {
    #[inline(always)]
    pub const fn version(&self) -> u8 {
        self.version_ihl >> 4
    }

    /// Header length in bytes, options included.
    #[inline(always)]
    pub const fn header_len(&self) -> usize {
        ((self.version_ihl & 0x0f) as usize) * 4
    }

    #[inline(always)]
    pub const fn total_len(&self) -> usize {
        u16::from_be_bytes(self.total_len) as usize
    }

    /// More-fragments set or a non-zero offset: one piece of a larger datagram.
    #[inline(always)]
    pub const fn is_fragment(&self) -> bool {
        u16::from_be_bytes(self.frag) & 0x3fff != 0
    }

    /// Fill in the header checksum over these 20 bytes (RFC 791 §3.1; no options).
    pub fn fill_checksum(&mut self) {
        self.checksum = [0; 2];
        self.checksum = checksum::finish(checksum::sum(&self.into_bytes())).to_be_bytes();
    }
}

/// The fixed IPv6 header (RFC 8200 §3).
///
/// ```text
/// |Ver| Traffic Class |        Flow Label       | Payload Length | Next | Hop Limit |
/// |                 Source (16)                 |           Destination (16)       |
/// ```
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ipv6Hdr {
    pub version_class_flow: [u8; 4],
    pub payload_len: [u8; 2],
    pub next_header: u8,
    pub hop_limit: u8,
    pub src: [u8; 16],
    pub dst: [u8; 16],
}
header!(Ipv6Hdr, IPV6_HLEN);

impl Ipv6Hdr {
    #[inline(always)]
    pub const fn version(&self) -> u8 {
        self.version_class_flow[0] >> 4
    }

    #[inline(always)]
    pub const fn payload_len(&self) -> usize {
        u16::from_be_bytes(self.payload_len) as usize
    }
}

/// The fixed VRRP header drawn above [`VRRP_HLEN`] (RFC 5798 §5.1, RFC 3768 §5.1).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VrrpHdr {
    pub version_type: u8,
    pub vrid: u8,
    pub priority: u8,
    pub count: u8,
    /// v3: 4 reserved bits and the 12-bit Max Adver Int (centiseconds); v2: Auth Type
    /// then Adver Int (seconds).
    pub interval: [u8; 2],
    pub checksum: [u8; 2],
}
header!(VrrpHdr, VRRP_HLEN);

/// Offset of the checksum in the VRRP header.
pub const VRRP_CHECKSUM_OFF: usize = 6;

impl VrrpHdr {
    #[inline(always)]
    pub const fn version(&self) -> u8 {
        self.version_type >> 4
    }

    #[inline(always)]
    pub const fn kind(&self) -> u8 {
        self.version_type & 0x0f
    }

    /// v3 Max Adver Int in centiseconds (RFC 5798 §5.2.7: the reserved bits are ignored).
    #[inline(always)]
    pub const fn max_adver_int_cs(&self) -> u16 {
        u16::from_be_bytes(self.interval) & 0x0fff
    }

    /// v2 Auth Type (RFC 3768 §5.3.6).
    #[inline(always)]
    pub const fn auth_type(&self) -> u8 {
        self.interval[0]
    }

    /// v2 Adver Int in seconds (RFC 3768 §5.3.7).
    #[inline(always)]
    pub const fn adver_int_s(&self) -> u8 {
        self.interval[1]
    }

    #[inline(always)]
    pub const fn checksum(&self) -> u16 {
        u16::from_be_bytes(self.checksum)
    }
}

/// ARP for IPv4 over Ethernet (RFC 826): hardware 1, protocol 0x0800, lengths 6 and 4.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ArpHdr {
    pub htype: [u8; 2],
    pub ptype: [u8; 2],
    pub hlen: u8,
    pub plen: u8,
    pub op: [u8; 2],
    pub sha: [u8; 6],
    pub spa: [u8; 4],
    pub tha: [u8; 6],
    pub tpa: [u8; 4],
}
header!(ArpHdr, ARP_LEN);

impl ArpHdr {
    /// Whether this is the Ethernet/IPv4 form (the only one vrrpx reads).
    #[inline(always)]
    pub const fn is_ethernet_ipv4(&self) -> bool {
        u16::from_be_bytes(self.htype) == 1
            && u16::from_be_bytes(self.ptype) == ETH_P_IP
            && self.hlen == 6
            && self.plen == 4
    }

    #[inline(always)]
    pub const fn op(&self) -> u16 {
        u16::from_be_bytes(self.op)
    }
}

/// A parsed VRRP message (v2 or v3): the fixed fields, the address list as it sits in the
/// message and (v2) the authentication data. `emit` writes exactly what `parse` read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VrrpRepr<'a> {
    /// 2 or 3.
    pub version: u8,
    pub vrid: u8,
    pub priority: u8,
    /// v3: Max Adver Int in centiseconds (12 bits); v2: Adver Int in seconds.
    pub interval: u16,
    /// v2 only (0 for v3).
    pub auth_type: u8,
    pub checksum: u16,
    pub family: Family,
    /// `count` addresses of `family`, back to back.
    pub addrs: &'a [u8],
    /// v2 only: the 8 bytes of authentication data after the addresses.
    pub auth_data: [u8; V2_AUTH_LEN],
}

impl<'a> VrrpRepr<'a> {
    /// Parse the VRRP message at the start of `b` (an IP payload of `family`): version 2
    /// or 3, type advertisement, and a length that covers the addresses and (v2) the
    /// authentication data. The checksum is read, not judged (the receive checks decide
    /// which form must verify).
    pub fn parse(b: &'a [u8], family: Family) -> Result<VrrpRepr<'a>, WireError> {
        let h = VrrpHdr::parse(b)?;
        let version = h.version();
        if !(version == 2 || version == 3) || h.kind() != VRRP_TYPE_ADVERT {
            return Err(WireError::Malformed);
        }
        let addr_len = h.count as usize * family.addr_len();
        let addrs = b
            .get(VRRP_HLEN..VRRP_HLEN + addr_len)
            .ok_or(WireError::Truncated)?;
        let mut auth_data = [0u8; V2_AUTH_LEN];
        let (interval, auth_type) = if version == 2 {
            let off = VRRP_HLEN + addr_len;
            let a = b.get(off..off + V2_AUTH_LEN).ok_or(WireError::Truncated)?;
            auth_data.copy_from_slice(a);
            (h.adver_int_s() as u16, h.auth_type())
        } else {
            (h.max_adver_int_cs(), 0)
        };
        Ok(VrrpRepr {
            version,
            vrid: h.vrid,
            priority: h.priority,
            interval,
            auth_type,
            checksum: h.checksum(),
            family,
            addrs,
            auth_data,
        })
    }

    /// How many addresses the message carries.
    pub fn count(&self) -> usize {
        self.addrs.len() / self.family.addr_len()
    }

    /// Bytes `emit` writes.
    pub fn buffer_len(&self) -> usize {
        VRRP_HLEN + self.addrs.len() + if self.version == 2 { V2_AUTH_LEN } else { 0 }
    }

    /// Write the message into the start of `b` with the checksum field as `self.checksum`;
    /// returns the bytes written. `Malformed` for more than 255 addresses or an address
    /// list that is not whole addresses.
    pub fn emit(&self, b: &mut [u8]) -> Result<usize, WireError> {
        let width = self.family.addr_len();
        if !self.addrs.len().is_multiple_of(width) || self.count() > 255 {
            return Err(WireError::Malformed);
        }
        let len = self.buffer_len();
        let out = b.get_mut(..len).ok_or(WireError::NoRoom)?;
        let interval = if self.version == 2 {
            [self.auth_type, self.interval as u8]
        } else {
            (self.interval & 0x0fff).to_be_bytes()
        };
        let h = VrrpHdr {
            version_type: (self.version << 4) | VRRP_TYPE_ADVERT,
            vrid: self.vrid,
            priority: self.priority,
            count: self.count() as u8,
            interval,
            checksum: self.checksum.to_be_bytes(),
        };
        out[..VRRP_HLEN].copy_from_slice(&h.into_bytes());
        out[VRRP_HLEN..VRRP_HLEN + self.addrs.len()].copy_from_slice(self.addrs);
        if self.version == 2 {
            out[VRRP_HLEN + self.addrs.len()..].copy_from_slice(&self.auth_data);
        }
        Ok(len)
    }
}

/// A parsed Ethernet header with at most one VLAN tag, and the offset of its payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EthRepr {
    pub dst: [u8; 6],
    pub src: [u8; 6],
    /// The tag (TPID, VLAN id) when there is one.
    pub vlan: Option<(u16, u16)>,
    /// The payload's EtherType.
    pub ether_type: u16,
}

impl EthRepr {
    pub fn parse(b: &[u8]) -> Result<EthRepr, WireError> {
        let h = EthHdr::parse(b)?;
        let (vlan, ether_type) = if h.is_tagged() {
            let t = VlanHdr::parse(b.get(ETH_HLEN..).ok_or(WireError::Truncated)?)?;
            (Some((h.ether_type(), t.vid())), t.ether_type())
        } else {
            (None, h.ether_type())
        };
        Ok(EthRepr {
            dst: h.dst,
            src: h.src,
            vlan,
            ether_type,
        })
    }

    pub fn header_len(&self) -> usize {
        ETH_HLEN + if self.vlan.is_some() { VLAN_HLEN } else { 0 }
    }

    pub fn emit(&self, b: &mut [u8]) -> Result<usize, WireError> {
        let mut h = EthHdr {
            dst: self.dst,
            src: self.src,
            ether_type: [0; 2],
        };
        match self.vlan {
            Some((tpid, vid)) => {
                h.set_ether_type(tpid);
                let t = VlanHdr {
                    tci: (vid & 0x0fff).to_be_bytes(),
                    ether_type: self.ether_type.to_be_bytes(),
                };
                h.write(b)?;
                t.write(b.get_mut(ETH_HLEN..).ok_or(WireError::NoRoom)?)?;
            }
            None => {
                h.set_ether_type(self.ether_type);
                h.write(b)?;
            }
        }
        Ok(self.header_len())
    }
}

/// A parsed IPv4 header (options skipped over, not kept).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv4Repr {
    pub src: [u8; 4],
    pub dst: [u8; 4],
    pub protocol: u8,
    pub ttl: u8,
    /// Bytes after the header (total length minus header length).
    pub payload_len: usize,
}

impl Ipv4Repr {
    /// Version 4, a header length of at least 20 that the bytes cover, a total length
    /// that covers the header, not a fragment. The header checksum is not judged.
    pub fn parse(b: &[u8]) -> Result<Ipv4Repr, WireError> {
        let h = Ipv4Hdr::parse(b)?;
        let hl = h.header_len();
        if h.version() != 4 || hl < IPV4_HLEN || h.total_len() < hl || h.is_fragment() {
            return Err(WireError::Malformed);
        }
        if b.len() < hl {
            return Err(WireError::Truncated);
        }
        Ok(Ipv4Repr {
            src: h.src,
            dst: h.dst,
            protocol: h.protocol,
            ttl: h.ttl,
            payload_len: h.total_len() - hl,
        })
    }

    /// A 20-byte header (no options, DSCP CS6 as RFC 5798 §5.1.1 routers send, id 0,
    /// Don't Fragment off) with its checksum.
    pub fn emit(&self, b: &mut [u8]) -> Result<usize, WireError> {
        let total = IPV4_HLEN + self.payload_len;
        if total > u16::MAX as usize {
            return Err(WireError::Malformed);
        }
        let mut h = Ipv4Hdr {
            version_ihl: 0x45,
            tos: 0xc0,
            total_len: (total as u16).to_be_bytes(),
            ttl: self.ttl,
            protocol: self.protocol,
            src: self.src,
            dst: self.dst,
            ..Ipv4Hdr::default()
        };
        h.fill_checksum();
        h.write(b)?;
        Ok(IPV4_HLEN)
    }
}

/// A parsed fixed IPv6 header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv6Repr {
    pub src: [u8; 16],
    pub dst: [u8; 16],
    pub next_header: u8,
    pub hop_limit: u8,
    pub payload_len: usize,
}

impl Ipv6Repr {
    pub fn parse(b: &[u8]) -> Result<Ipv6Repr, WireError> {
        let h = Ipv6Hdr::parse(b)?;
        if h.version() != 6 {
            return Err(WireError::Malformed);
        }
        Ok(Ipv6Repr {
            src: h.src,
            dst: h.dst,
            next_header: h.next_header,
            hop_limit: h.hop_limit,
            payload_len: h.payload_len(),
        })
    }

    /// Traffic class and flow label 0.
    pub fn emit(&self, b: &mut [u8]) -> Result<usize, WireError> {
        if self.payload_len > u16::MAX as usize {
            return Err(WireError::Malformed);
        }
        Ipv6Hdr {
            version_class_flow: [0x60, 0, 0, 0],
            payload_len: (self.payload_len as u16).to_be_bytes(),
            next_header: self.next_header,
            hop_limit: self.hop_limit,
            src: self.src,
            dst: self.dst,
        }
        .write(b)?;
        Ok(IPV6_HLEN)
    }
}

/// A parsed Ethernet/IPv4 ARP packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArpRepr {
    /// 1 request, 2 reply.
    pub op: u16,
    pub sender_mac: [u8; 6],
    pub sender_ip: [u8; 4],
    pub target_mac: [u8; 6],
    pub target_ip: [u8; 4],
}

impl ArpRepr {
    pub fn parse(b: &[u8]) -> Result<ArpRepr, WireError> {
        let h = ArpHdr::parse(b)?;
        if !h.is_ethernet_ipv4() {
            return Err(WireError::Malformed);
        }
        Ok(ArpRepr {
            op: h.op(),
            sender_mac: h.sha,
            sender_ip: h.spa,
            target_mac: h.tha,
            target_ip: h.tpa,
        })
    }

    pub fn emit(&self, b: &mut [u8]) -> Result<usize, WireError> {
        ArpHdr {
            htype: 1u16.to_be_bytes(),
            ptype: ETH_P_IP.to_be_bytes(),
            hlen: 6,
            plen: 4,
            op: self.op.to_be_bytes(),
            sha: self.sender_mac,
            spa: self.sender_ip,
            tha: self.target_mac,
            tpa: self.target_ip,
        }
        .write(b)?;
        Ok(ARP_LEN)
    }
}

#[cfg(test)]
#[path = "wire_tests.rs"]
mod tests;

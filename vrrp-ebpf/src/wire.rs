//! Wire constants for the headers the filter walks. Offsets are from the start of each
//! header; multi-byte fields are big-endian on the wire.

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

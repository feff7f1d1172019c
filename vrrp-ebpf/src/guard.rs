//! The kernel guard: once the agent's heartbeat is older than an address's Master_Down
//! interval, the host stops answering for that address — ARP requests for it, IPv6
//! neighbour solicitations for it and traffic to it are dropped — so a host whose agent
//! died cannot keep answering beside the backup that took over (docs/kernel-guard.md).
//!
//! Pure: the frame, the heartbeat, the clock reading and the address look-up come in as
//! arguments, so the XDP program and the host's unit tests run the same code. Like the
//! classifier, every read goes through [`Frame::load`] at a constant offset and nothing
//! panics.

use crate::abi::{Family, Heartbeat, STAT_GUARD_ARP, STAT_GUARD_ND, STAT_GUARD_TRAFFIC};
use crate::classify::Frame;
use crate::wire::*;

/// ICMPv6 Neighbor Solicitation (RFC 4861 §4.3).
pub const ICMPV6_NEIGHBOR_SOLICIT: u8 = 135;
/// Offset of the solicitation's Target Address in its ICMPv6 message (type, code,
/// checksum, 4 reserved bytes).
const NS_TARGET_OFF: usize = 8;
/// ARP operation "request" (RFC 826).
const ARP_REQUEST: u16 = 1;

/// Where the guard looks an address up: the Master_Down interval of the instance that
/// holds it as Master, `None` when this host does not.
pub trait Guarded {
    fn master_down_ns(&self, family: Family, addr: &[u8; 16]) -> Option<u64>;
}

/// What a frame asks of an address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ask {
    /// An ARP request whose target protocol address it is.
    ArpRequest,
    /// An IPv6 neighbour solicitation whose target it is.
    NeighborSolicit,
    /// An IPv4 or IPv6 packet addressed to it.
    Traffic,
}

impl Ask {
    /// The `STATS` slot that counts a drop of this kind.
    pub const fn stat(self) -> u32 {
        match self {
            Ask::ArpRequest => STAT_GUARD_ARP,
            Ask::NeighborSolicit => STAT_GUARD_ND,
            Ask::Traffic => STAT_GUARD_TRAFFIC,
        }
    }
}

/// The guard's decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GuardVerdict {
    /// Nothing to guard: the classifier decides as if there were no guard.
    Pass,
    /// The address's holder is presumed dead: drop, counted under `Ask::stat`.
    Drop(Ask),
}

/// Whether a heartbeat taken at `beat_ns` is older than `master_down_ns` at `now_ns`. A
/// heartbeat never written (0) is not stale: nothing was promised yet.
#[inline(always)]
pub const fn is_stale(beat_ns: u64, now_ns: u64, master_down_ns: u64) -> bool {
    beat_ns != 0 && now_ns.saturating_sub(beat_ns) > master_down_ns
}

/// The address a frame asks about and how, if it is one the guard could refuse: the
/// target of an ARP request or of a neighbour solicitation, else the IP destination.
/// Tagged frames are the VLAN device's (it has its own program) and are not looked at.
#[inline(always)]
pub fn asked<F: Frame>(frame: &F) -> Option<(Ask, Family, [u8; 16])> {
    let eth = EthHdr::from_bytes(frame.load::<ETH_HLEN>(0)?);
    let mut addr = [0u8; 16];
    match eth.ether_type() {
        ETH_P_ARP => {
            let arp = ArpHdr::from_bytes(frame.load::<ARP_LEN>(ETH_HLEN)?);
            if !arp.is_ethernet_ipv4() || arp.op() != ARP_REQUEST {
                return None;
            }
            addr[..4].copy_from_slice(&arp.tpa);
            Some((Ask::ArpRequest, Family::V4, addr))
        }
        ETH_P_IP => {
            let ip = Ipv4Hdr::from_bytes(frame.load::<IPV4_HLEN>(ETH_HLEN)?);
            addr[..4].copy_from_slice(&ip.dst);
            Some((Ask::Traffic, Family::V4, addr))
        }
        ETH_P_IPV6 => {
            let ip = Ipv6Hdr::from_bytes(frame.load::<IPV6_HLEN>(ETH_HLEN)?);
            let icmp = ETH_HLEN + IPV6_HLEN;
            // A solicitation goes to the target's solicited-node group, not to the
            // target: the address asked about is in the message (RFC 4861 §4.3).
            // Solicitations carry no extension headers in practice; one that does is
            // judged by its destination like any other packet.
            if ip.next_header == IPPROTO_ICMPV6
                && frame.u8_at(icmp) == Some(ICMPV6_NEIGHBOR_SOLICIT)
            {
                let target = frame.load::<16>(icmp + NS_TARGET_OFF)?;
                return Some((Ask::NeighborSolicit, Family::V6, target));
            }
            Some((Ask::Traffic, Family::V6, ip.dst))
        }
        _ => None,
    }
}

/// Decide on one frame. While the heartbeat is younger than every guarded address's
/// Master_Down (the common case: the agent is alive) this costs no parsing at all.
#[inline(always)]
pub fn guard<F: Frame, G: Guarded>(
    frame: &F,
    beat: &Heartbeat,
    now_ns: u64,
    guarded: &G,
) -> GuardVerdict {
    if !is_stale(beat.beat_ns, now_ns, beat.min_master_down_ns) {
        return GuardVerdict::Pass;
    }
    let Some((ask, family, addr)) = asked(frame) else {
        return GuardVerdict::Pass;
    };
    match guarded.master_down_ns(family, &addr) {
        Some(md) if is_stale(beat.beat_ns, now_ns, md) => GuardVerdict::Drop(ask),
        _ => GuardVerdict::Pass,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    struct Bytes<'a>(&'a [u8]);

    impl Frame for Bytes<'_> {
        fn load<const N: usize>(&self, off: usize) -> Option<[u8; N]> {
            self.0.get(off..off.checked_add(N)?)?.try_into().ok()
        }
    }

    /// 10.9.0.100 held with a 3.6 s Master_Down; fd99::100 with 36 ms.
    struct Held;

    const VIP4: [u8; 4] = [10, 9, 0, 100];
    const VIP6: [u8; 16] = [0xfd, 0x99, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0];

    impl Guarded for Held {
        fn master_down_ns(&self, family: Family, addr: &[u8; 16]) -> Option<u64> {
            match family {
                Family::V4 if addr[..4] == VIP4 && addr[4..] == [0; 12] => Some(3_600_000_000),
                Family::V6 if *addr == VIP6 => Some(36_000_000),
                _ => None,
            }
        }
    }

    fn eth(ether_type: u16) -> Vec<u8> {
        let mut f = Vec::from([0xffu8; 6]);
        f.extend_from_slice(&[2, 0, 0, 0, 0, 9]);
        f.extend_from_slice(&ether_type.to_be_bytes());
        f
    }

    fn arp(op: u16, target: [u8; 4]) -> Vec<u8> {
        let mut f = eth(ETH_P_ARP);
        f.extend_from_slice(&[0, 1, 0x08, 0x00, 6, 4]);
        f.extend_from_slice(&op.to_be_bytes());
        f.extend_from_slice(&[2, 0, 0, 0, 0, 9, 10, 9, 0, 7]);
        f.extend_from_slice(&[0; 6]);
        f.extend_from_slice(&target);
        f
    }

    fn ipv4_to(dst: [u8; 4]) -> Vec<u8> {
        let mut f = eth(ETH_P_IP);
        f.extend_from_slice(&[0x45, 0, 0, 28, 0, 0, 0x40, 0, 64, 17, 0, 0, 10, 9, 0, 7]);
        f.extend_from_slice(&dst);
        f.extend_from_slice(&[0; 8]);
        f
    }

    fn ipv6(next: u8, dst: [u8; 16], payload: &[u8]) -> Vec<u8> {
        let mut f = eth(ETH_P_IPV6);
        f.extend_from_slice(&[0x60, 0, 0, 0]);
        f.extend_from_slice(&(payload.len() as u16).to_be_bytes());
        f.extend_from_slice(&[next, 255]);
        f.extend_from_slice(&[0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7]);
        f.extend_from_slice(&dst);
        f.extend_from_slice(payload);
        f
    }

    fn solicitation(target: [u8; 16]) -> Vec<u8> {
        // Solicited-node group ff02::1:ff00:100 of fd99::100.
        let group = [0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0, 1, 0];
        let mut icmp = Vec::from([ICMPV6_NEIGHBOR_SOLICIT, 0, 0, 0, 0, 0, 0, 0]);
        icmp.extend_from_slice(&target);
        ipv6(IPPROTO_ICMPV6, group, &icmp)
    }

    const BEAT: u64 = 1_000_000_000;

    fn beat() -> Heartbeat {
        Heartbeat {
            beat_ns: BEAT,
            min_master_down_ns: 36_000_000,
        }
    }

    fn verdict(frame: &[u8], now_ns: u64) -> GuardVerdict {
        guard(&Bytes(frame), &beat(), now_ns, &Held)
    }

    #[test]
    fn a_heartbeat_is_stale_only_once_older_than_master_down_and_never_before_the_first() {
        assert!(!is_stale(BEAT, BEAT + 36_000_000, 36_000_000));
        assert!(is_stale(BEAT, BEAT + 36_000_001, 36_000_000));
        assert!(!is_stale(0, u64::MAX, 1), "never written: not stale");
        assert!(!is_stale(BEAT, BEAT - 5, 0), "a clock read before the beat");
    }

    #[test]
    fn while_the_heartbeat_is_fresh_every_frame_for_a_held_address_passes() {
        let now = BEAT + 30_000_000;
        assert_eq!(verdict(&arp(1, VIP4), now), GuardVerdict::Pass);
        assert_eq!(verdict(&ipv4_to(VIP4), now), GuardVerdict::Pass);
        assert_eq!(verdict(&solicitation(VIP6), now), GuardVerdict::Pass);
    }

    #[test]
    fn a_stale_heartbeat_drops_arp_requests_solicitations_and_traffic_for_held_addresses() {
        let now = BEAT + 4_000_000_000;
        assert_eq!(
            verdict(&arp(1, VIP4), now),
            GuardVerdict::Drop(Ask::ArpRequest)
        );
        assert_eq!(
            verdict(&ipv4_to(VIP4), now),
            GuardVerdict::Drop(Ask::Traffic)
        );
        assert_eq!(
            verdict(&solicitation(VIP6), now),
            GuardVerdict::Drop(Ask::NeighborSolicit)
        );
        let udp = ipv6(17, VIP6, &[0; 8]);
        assert_eq!(verdict(&udp, now), GuardVerdict::Drop(Ask::Traffic));
        assert_eq!(Ask::NeighborSolicit.stat(), STAT_GUARD_ND);
    }

    #[test]
    fn each_address_goes_stale_after_its_own_master_down() {
        // 100 ms after the last beat: past fd99::100's 36 ms, well within 10.9.0.100's 3.6 s.
        let now = BEAT + 100_000_000;
        assert_eq!(verdict(&arp(1, VIP4), now), GuardVerdict::Pass);
        assert_eq!(
            verdict(&solicitation(VIP6), now),
            GuardVerdict::Drop(Ask::NeighborSolicit)
        );
    }

    #[test]
    fn replies_other_addresses_tagged_and_short_frames_pass_even_when_stale() {
        let now = BEAT + 10_000_000_000;
        assert_eq!(verdict(&arp(2, VIP4), now), GuardVerdict::Pass, "a reply");
        assert_eq!(verdict(&arp(1, [10, 9, 0, 1]), now), GuardVerdict::Pass);
        assert_eq!(verdict(&ipv4_to([224, 0, 0, 18]), now), GuardVerdict::Pass);
        let mut tagged = arp(1, VIP4);
        tagged[12..14].copy_from_slice(&ETH_P_8021Q.to_be_bytes());
        assert_eq!(verdict(&tagged, now), GuardVerdict::Pass);
        let whole = solicitation(VIP6);
        for len in 0..whole.len() {
            assert_eq!(
                verdict(&whole[..len], now),
                GuardVerdict::Pass,
                "{len} bytes"
            );
        }
    }
}

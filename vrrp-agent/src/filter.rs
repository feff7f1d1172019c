//! What the receive filter is told (policy) and what it reports (counters), independent
//! of whether the checks run in XDP or on a raw socket.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::IpAddr;

use serde_json::{json, Map, Value};
use vrrp_ebpf::abi::*;
use vrrp_ebpf::classify::Policy;

/// The whole filter policy. The XDP path copies it into kernel maps; the raw-socket path
/// consults it directly through [`PolicyView`].
#[derive(Clone, Debug, Default)]
pub struct PolicyTable {
    pub ifaces: HashMap<u32, IfacePolicy>,
    pub vrids: HashMap<VridKey, VridPolicy>,
    pub vips: HashSet<VipKey>,
    /// Of those, the ones whose traffic is refused (master without Accept_Mode).
    pub refuse: HashSet<VipKey>,
    /// Unicast peers of the VRIDs flagged `VRID_PEERS_ONLY`.
    pub peers: HashMap<PeerKey, PeerPolicy>,
}

impl PolicyTable {
    /// The passive monitor's policy for one interface: every VRID (any version, either
    /// checksum form) when `vrids` is empty, otherwise only those.
    pub fn monitor(ifindex: u32, vrids: &[u8]) -> PolicyTable {
        let mut t = PolicyTable::default();
        let flags = if vrids.is_empty() { IFACE_ANY_VRID } else { 0 };
        t.ifaces.insert(ifindex, IfacePolicy { flags });
        for &vrid in vrids {
            for family in [FAMILY_V4, FAMILY_V6] {
                t.vrids.insert(
                    VridKey {
                        ifindex,
                        vrid,
                        family,
                        _pad: [0; 2],
                    },
                    VridPolicy {
                        version: VERSION_ANY,
                        csum_form: CSUM_EITHER,
                        ..VridPolicy::default()
                    },
                );
            }
        }
        t
    }

    /// The policy as seen from one interface.
    pub fn view(&self, ifindex: u32) -> PolicyView<'_> {
        PolicyView {
            table: self,
            ifindex,
        }
    }
}

/// An address in the maps' layout: its family code and 16 bytes (IPv4 in the first four).
pub fn addr_bytes(addr: IpAddr) -> (u8, [u8; 16]) {
    let mut bytes = [0u8; 16];
    match addr {
        IpAddr::V4(a) => {
            bytes[..4].copy_from_slice(&a.octets());
            (FAMILY_V4, bytes)
        }
        IpAddr::V6(a) => (FAMILY_V6, a.octets()),
    }
}

pub fn vip_key(ifindex: u32, addr: IpAddr) -> VipKey {
    let (family, addr) = addr_bytes(addr);
    VipKey {
        ifindex,
        family,
        _pad: [0; 3],
        addr,
    }
}

pub fn peer_key(ifindex: u32, vrid: u8, addr: IpAddr) -> PeerKey {
    let (family, addr) = addr_bytes(addr);
    PeerKey {
        ifindex,
        vrid,
        family,
        _pad: [0; 2],
        addr,
    }
}

/// CLOCK_TAI minus CLOCK_REALTIME in whole seconds (0 unless NTP set the kernel's TAI
/// offset): what XDP must subtract from its TAI clock to compare with UTC timestamps.
pub fn tai_offset_s() -> i32 {
    let d = crate::io::rawsock::tai_ns() as i128 - crate::io::rawsock::realtime_ns() as i128;
    (d as f64 / 1e9).round() as i32
}

/// [`PolicyTable`] restricted to one interface, in the shape the shared classifier wants.
pub struct PolicyView<'a> {
    table: &'a PolicyTable,
    ifindex: u32,
}

impl Policy for PolicyView<'_> {
    fn iface(&self) -> Option<IfacePolicy> {
        self.table.ifaces.get(&self.ifindex).copied()
    }

    fn vrid(&self, vrid: u8, family: u8) -> Option<VridPolicy> {
        let key = VridKey {
            ifindex: self.ifindex,
            vrid,
            family,
            _pad: [0; 2],
        };
        self.table.vrids.get(&key).copied()
    }

    fn vip_flags(&self, family: u8, addr: &[u8; 16]) -> u8 {
        let key = VipKey {
            ifindex: self.ifindex,
            family,
            _pad: [0; 3],
            addr: *addr,
        };
        match (
            self.table.vips.contains(&key),
            self.table.refuse.contains(&key),
        ) {
            (false, _) => 0,
            (true, false) => VIP_REPORT_ARP,
            (true, true) => VIP_REPORT_ARP | VIP_DROP_TRAFFIC,
        }
    }

    fn peer(&self, vrid: u8, family: u8, addr: &[u8; 16]) -> Option<PeerPolicy> {
        let key = PeerKey {
            ifindex: self.ifindex,
            vrid,
            family,
            _pad: [0; 2],
            addr: *addr,
        };
        self.table.peers.get(&key).copied()
    }

    fn tai_now_s(&self) -> u64 {
        crate::io::rawsock::tai_ns() / 1_000_000_000
    }
}

/// Verdict counters, laid out exactly like the kernel's `COUNTERS` and `STATS` maps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Counters {
    /// `SLOTS_PER_VRID` counters for each of the 256 VRIDs.
    pub slots: Vec<u64>,
    pub stats: [u64; STAT_ENTRIES as usize],
}

impl Default for Counters {
    fn default() -> Self {
        Counters {
            slots: vec![0; COUNTER_ENTRIES as usize],
            stats: [0; STAT_ENTRIES as usize],
        }
    }
}

impl Counters {
    pub fn bump(&mut self, vrid: u8, slot: u32) {
        self.slots[counter_index(vrid, slot) as usize] += 1;
    }

    pub fn get(&self, vrid: u8, reason: Reason) -> u64 {
        self.slots[counter_index(vrid, reason as u32) as usize]
    }

    pub fn slot(&self, vrid: u8, slot: u32) -> u64 {
        self.slots[counter_index(vrid, slot) as usize]
    }

    /// Move `n` adverts of `vrid` from accepted to `reason` (refused by the agent after
    /// the filter passed them).
    pub fn recount(&mut self, vrid: u8, reason: Reason, n: u64) {
        let accepted = &mut self.slots[counter_index(vrid, Reason::Accepted as u32) as usize];
        *accepted = accepted.saturating_sub(n);
        self.slots[counter_index(vrid, reason as u32) as usize] += n;
    }

    /// Sum of one reason over every VRID.
    pub fn total(&self, reason: Reason) -> u64 {
        (0..=255u8).map(|v| self.get(v, reason)).sum()
    }

    /// Total VRRP packets seen (every reason) for one VRID.
    fn vrid_seen(&self, vrid: u8) -> u64 {
        Reason::ALL.iter().map(|&r| self.get(vrid, r)).sum()
    }

    fn reasons_json(&self, f: impl Fn(Reason) -> u64) -> Map<String, Value> {
        Reason::ALL
            .iter()
            .map(|&r| (r.name().to_string(), json!(f(r))))
            .collect()
    }

    /// `{"counters": {reason: n, ...}, "by_vrid": {"51": {...}}, ...}`. `foreign` counts
    /// other routers' adverts, passed on; `vlan_passed` tagged frames left to the VLAN
    /// device.
    pub fn to_json(&self) -> Value {
        let by_vrid: BTreeMap<String, Value> = (0..=255u8)
            .filter(|&v| self.vrid_seen(v) > 0)
            .map(|v| {
                let mut m = self.reasons_json(|r| self.get(v, r));
                m.insert(
                    "checksum_pseudo".into(),
                    json!(self.slot(v, SLOT_CSUM_PSEUDO)),
                );
                m.insert(
                    "checksum_plain".into(),
                    json!(self.slot(v, SLOT_CSUM_PLAIN)),
                );
                (v.to_string(), Value::Object(m))
            })
            .collect();
        json!({
            "counters": self.reasons_json(|r| self.total(r)),
            "by_vrid": by_vrid,
            "ringbuf_full": self.stats[STAT_RINGBUF_FULL as usize],
            "arp_reported": self.stats[STAT_ARP_REPORTED as usize],
            "vlan_passed": self.stats[STAT_VLAN_PASSED as usize],
        })
    }
}

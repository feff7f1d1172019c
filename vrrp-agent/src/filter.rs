//! What the receive filter is told (policy) and what it reports (counters), independent
//! of whether the checks run in XDP or on a raw socket.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::IpAddr;

use serde_json::{json, Map, Value};
use vrrp_ebpf::abi::{self, *};
use vrrp_ebpf::classify::Policy;

use crate::config::model::{ChecksumForm, Family, Instance, Version};
use crate::proto::auth_hmac::{AntiReplay, AuthHmac, Mode};

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
    /// The kernel guard's share (docs/kernel-guard.md): the addresses held as Master, with
    /// their instance's Master_Down interval in nanoseconds.
    pub guarded: HashMap<VipKey, u64>,
}

impl PolicyTable {
    /// The passive monitor's policy for one interface: every VRID (any version, either
    /// checksum form) when `vrids` is empty, otherwise only those.
    pub fn monitor(ifindex: u32, vrids: &[u8]) -> PolicyTable {
        let mut t = PolicyTable::default();
        let flags = if vrids.is_empty() { IFACE_ANY_VRID } else { 0 };
        t.ifaces.insert(ifindex, IfacePolicy { flags });
        for &vrid in vrids {
            for family in [abi::Family::V4, abi::Family::V6] {
                t.vrids.insert(
                    VridKey::new(ifindex, vrid, family),
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

/// One configured instance as the filter sees it: its configuration and whether it is
/// Master now (which decides whether traffic to its addresses is refused).
#[derive(Clone, Copy, Debug)]
pub struct Served<'a> {
    pub cfg: &'a Instance,
    pub master: bool,
}

impl PolicyTable {
    /// The receive policy of the instances on interface `ifindex` (the caller passes only
    /// those): what each VRID accepts, its unicast peers, its virtual addresses and which
    /// of them refuse traffic. Pure: `tai_offset_s` is read by the caller
    /// ([`tai_offset_s`]), so the fuzz targets build exactly the table the agent loads.
    pub fn for_instances<'a>(
        ifindex: u32,
        instances: impl IntoIterator<Item = Served<'a>>,
        tai_offset_s: i32,
    ) -> PolicyTable {
        let mut p = PolicyTable::default();
        p.ifaces.insert(ifindex, IfacePolicy { flags: 0 });
        for Served { cfg: c, master } in instances {
            for (k, &peer) in c.unicast_peers.iter().enumerate() {
                let (min_ttl, max_ttl) = c.unicast_peer_ttl.get(k).copied().unwrap_or((0, 255));
                p.peers.insert(
                    peer_key(ifindex, c.vrid, peer),
                    PeerPolicy {
                        min_ttl,
                        max_ttl,
                        _pad: [0; 2],
                    },
                );
            }
            p.vrids.insert(
                VridKey::new(ifindex, c.vrid, wire_family(c.family)),
                vrid_policy(c, tai_offset_s),
            );
            // RFC 5798 §6.4.3: a master that does not own the addresses refuses traffic
            // for them unless Accept_Mode is on.
            let refuse = !c.accept && c.priority != 255 && master;
            for v in &c.virtual_addresses {
                p.vips.insert(vip_key(ifindex, v.addr));
                if refuse {
                    p.refuse.insert(vip_key(ifindex, v.addr));
                }
            }
            guard_addresses(&mut p, ifindex, c, master);
        }
        p
    }
}

/// The kernel guard watches the addresses of a master that is not their owner: an owner's
/// (priority 255) are the interface's own, and refusing them would cut the host off.
fn guard_addresses(p: &mut PolicyTable, ifindex: u32, c: &Instance, master: bool) {
    if !master || c.priority == 255 {
        return;
    }
    let md = master_down_ns(c);
    for v in &c.virtual_addresses {
        p.guarded.insert(vip_key(ifindex, v.addr), md);
    }
}

/// The Master_Down interval of an instance for its own priority and interval (RFC 5798
/// §6.1; RFC 3768 §6.1 for v2, whose skew ignores the interval).
pub fn master_down_ns(c: &Instance) -> u64 {
    use crate::proto::timers::{master_down_interval_ns, master_down_interval_v2_ns};
    match c.version {
        Version::V3 => master_down_interval_ns(c.priority, c.advert_int_cs),
        Version::V2 => {
            master_down_interval_v2_ns(c.priority, (c.advert_int_cs / 100).max(1) as u64)
        }
    }
}

/// What one instance's VRID accepts: its version, checksum form, v2 authentication and
/// interval (RFC 3768 §7.1), unicast (TTL exempt, only the configured peers heard) and
/// `auth_hmac`.
pub fn vrid_policy(c: &Instance, tai_offset_s: i32) -> VridPolicy {
    let (auth_type, auth_pass) = match (c.version, c.auth_pass) {
        (Version::V2, Some(p)) => (AUTH_PASS, p),
        _ => (AUTH_NONE, [0; 8]),
    };
    let flags = if c.unicast_peers.is_empty() {
        0
    } else {
        VRID_UNICAST | VRID_PEERS_ONLY
    };
    let (hmac_mode, hmac_window_s) = hmac_policy(c.auth_hmac.as_ref());
    VridPolicy {
        version: if c.version == Version::V2 { 2 } else { 3 },
        csum_form: match c.checksum {
            ChecksumForm::Pseudo => CSUM_PSEUDO,
            ChecksumForm::Plain => CSUM_PLAIN,
        },
        auth_type,
        flags,
        adver_int_s: (c.advert_int_cs / 100).clamp(1, 255) as u8,
        hmac_mode,
        hmac_window_s,
        auth_pass,
        tai_offset_s,
        _pad: [0; 4],
    }
}

/// The filter's share of `auth_hmac`: mode and freshness window (0: monotonic).
fn hmac_policy(cfg: Option<&AuthHmac>) -> (u8, u16) {
    let Some(cfg) = cfg else {
        return (HMAC_OFF, 0);
    };
    let mode = match cfg.mode {
        Mode::ReceiveOnly => HMAC_RECEIVE_ONLY,
        Mode::Permissive => HMAC_PERMISSIVE,
        Mode::Enforce => HMAC_ENFORCE,
    };
    let window = match cfg.anti_replay {
        AntiReplay::Time { window_s } => window_s,
        AntiReplay::Monotonic => 0,
    };
    (mode, window)
}

/// The ABI's family of a configured address family.
pub fn wire_family(f: Family) -> abi::Family {
    match f {
        Family::V4 => abi::Family::V4,
        Family::V6 => abi::Family::V6,
    }
}

/// The maps' family byte of a configured address family.
pub fn family_code(f: Family) -> u8 {
    wire_family(f) as u8
}

/// An address in the maps' layout: its family and 16 bytes (IPv4 in the first four).
pub fn addr_bytes(addr: IpAddr) -> (abi::Family, [u8; 16]) {
    let mut bytes = [0u8; 16];
    match addr {
        IpAddr::V4(a) => {
            bytes[..4].copy_from_slice(&a.octets());
            (abi::Family::V4, bytes)
        }
        IpAddr::V6(a) => (abi::Family::V6, a.octets()),
    }
}

pub fn vip_key(ifindex: u32, addr: IpAddr) -> VipKey {
    let (family, addr) = addr_bytes(addr);
    VipKey::new(ifindex, family, addr)
}

pub fn peer_key(ifindex: u32, vrid: u8, addr: IpAddr) -> PeerKey {
    let (family, addr) = addr_bytes(addr);
    PeerKey::new(ifindex, vrid, family, addr)
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

    fn vrid(&self, vrid: u8, family: abi::Family) -> Option<VridPolicy> {
        let key = VridKey::new(self.ifindex, vrid, family);
        self.table.vrids.get(&key).copied()
    }

    fn vip_flags(&self, family: abi::Family, addr: &[u8; 16]) -> u8 {
        let key = VipKey::new(self.ifindex, family, *addr);
        match (
            self.table.vips.contains(&key),
            self.table.refuse.contains(&key),
        ) {
            (false, _) => 0,
            (true, false) => VIP_REPORT_ARP,
            (true, true) => VIP_REPORT_ARP | VIP_DROP_TRAFFIC,
        }
    }

    fn peer(&self, vrid: u8, family: abi::Family, addr: &[u8; 16]) -> Option<PeerPolicy> {
        let key = PeerKey::new(self.ifindex, vrid, family, *addr);
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
                // Receive-state decisions (docs/kernel-state.md): accepted adverts that
                // woke nobody.
                m.insert("absorbed".into(), json!(self.slot(v, SLOT_ABSORBED)));
                m.insert(
                    "rate_limited".into(),
                    json!(self.slot(v, SLOT_RATE_LIMITED)),
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
            "guard_dropped": {
                "arp": self.stats[STAT_GUARD_ARP as usize],
                "nd": self.stats[STAT_GUARD_ND as usize],
                "traffic": self.stats[STAT_GUARD_TRAFFIC as usize],
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn instances(text: &str) -> Vec<Instance> {
        let loaded = crate::config::load_str(text, Path::new("filter.conf"))
            .map_err(|e| format!("{e:?}"))
            .unwrap();
        loaded.config.instances
    }

    const TWO: &str = "vrrp_instance A {\n interface eth0\n virtual_router_id 51\n priority 100\n \
        advert_int 2\n no_accept\n virtual_ipaddress {\n 10.9.0.100/24\n }\n}\n\
        vrrp_instance B {\n interface eth0\n virtual_router_id 52\n priority 100\n \
        unicast_src_ip 10.9.0.1\n unicast_peer {\n 10.9.0.2 min_ttl 250 max_ttl 254\n }\n \
        virtual_ipaddress {\n 10.9.0.101/24\n }\n}\n";

    #[test]
    fn a_master_without_accept_mode_refuses_traffic_to_its_addresses_and_a_backup_does_not() {
        let all = instances(TWO);
        let served = [
            Served {
                cfg: &all[0],
                master: true,
            },
            Served {
                cfg: &all[1],
                master: false,
            },
        ];
        let p = PolicyTable::for_instances(7, served, 37);
        let a = vip_key(7, "10.9.0.100".parse().unwrap());
        let b = vip_key(7, "10.9.0.101".parse().unwrap());
        assert!(p.vips.contains(&a) && p.vips.contains(&b));
        assert!(p.refuse.contains(&a), "master A refuses (RFC 5798 §6.4.3)");
        assert!(!p.refuse.contains(&b), "backup B does not");
        // Only master A's address is guarded, with A's v2 Master_Down: 3 × 2 s plus
        // (256 - 100) / 256 s.
        assert_eq!(p.guarded.get(&a), Some(&6_609_375_000));
        assert!(!p.guarded.contains_key(&b));
        assert_eq!(p.ifaces.get(&7), Some(&IfacePolicy { flags: 0 }));
    }

    #[test]
    fn a_unicast_instance_hears_only_its_peers_within_their_ttl_range() {
        let all = instances(TWO);
        let served = all.iter().map(|cfg| Served { cfg, master: false });
        let p = PolicyTable::for_instances(7, served, 37);
        let key = |vrid| VridKey::new(7, vrid, abi::Family::V4);
        let a = p.vrids[&key(51)];
        assert_eq!((a.version, a.flags, a.adver_int_s), (2, 0, 2));
        assert_eq!(a.tai_offset_s, 37);
        let b = p.vrids[&key(52)];
        assert_eq!(b.flags, VRID_UNICAST | VRID_PEERS_ONLY);
        let peer = p.peers[&peer_key(7, 52, "10.9.0.2".parse().unwrap())];
        assert_eq!((peer.min_ttl, peer.max_ttl), (250, 254));
        assert_eq!(p.peers.len(), 1);
    }
}

//! One configured virtual router at run time: its state machine, where it sends and
//! receives, and what it has done (for status and metrics).

use std::net::IpAddr;

use vrrp_ebpf::abi::*;

use crate::config::model::{ChecksumForm, Family, Instance, Version};
use crate::filter::{vip_key, PolicyTable};
use crate::proto::router::{Router, RouterParams};
use crate::status::Transition;

#[derive(Clone, Debug, Default)]
pub struct Stats {
    pub adverts_sent: u64,
    pub adverts_received: u64,
    pub replies_suppressed: u64,
    pub transitions: u64,
    pub last_transition: Option<Transition>,
    /// Kernel arrival time of the previous advert, for inter-arrival times.
    pub last_rx_ts: Option<u64>,
    /// How far before the Master_Down deadline the latest advert arrived (ms).
    pub margin_ms: Option<f64>,
    pub min_margin_ms: Option<f64>,
    /// When split brain was last logged for this instance (rate limit).
    pub split_logged_at: u64,
    /// Until when, after the latest sign of another master, the addresses are
    /// re-announced every second: clients that followed the other side come back even if
    /// it steps down without a word.
    pub reannounce_until: u64,
}

pub struct Runtime {
    pub cfg: Instance,
    /// Where adverts are received (the configured interface).
    pub ifindex: u32,
    /// Where adverts, announcements and addresses go: the vmac, or the interface itself.
    pub tx_ifindex: u32,
    pub family: u8,
    pub router: Router,
    pub primary: IpAddr,
    /// Multicast group, or the unicast peers.
    pub destinations: Vec<IpAddr>,
    pub link_up: bool,
    /// Priority adjustments from tracking and why (base priority comes from `cfg`).
    pub priority_reasons: Vec<String>,
    /// Tracking says fault (weight 0 failure).
    pub track_fault: bool,
    /// Tracking has no first result yet for an unweighted check: stay in INIT.
    pub track_pending: bool,
    /// Stopped by shutdown or reload: never start again.
    pub stopped: bool,
    pub stats: Stats,
}

impl Runtime {
    pub fn label(&self) -> String {
        format!(
            "{} ({} vrid {})",
            self.cfg.name, self.cfg.interface, self.cfg.vrid
        )
    }
}

pub fn family_code(f: Family) -> u8 {
    match f {
        Family::V4 => FAMILY_V4,
        Family::V6 => FAMILY_V6,
    }
}

/// The multicast group of RFC 5798 §5.1.1.2 / §5.1.2.2, or the unicast peers.
pub fn destinations(c: &Instance) -> Vec<IpAddr> {
    if !c.unicast_peers.is_empty() {
        return c.unicast_peers.clone();
    }
    vec![match c.family {
        Family::V4 => IpAddr::V4(std::net::Ipv4Addr::new(224, 0, 0, 18)),
        Family::V6 => IpAddr::V6(std::net::Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12)),
    }]
}

pub fn router_params(c: &Instance, primary: IpAddr) -> RouterParams {
    RouterParams {
        version: c.version,
        priority: c.priority,
        advert_int_cs: c.advert_int_cs,
        preempt: c.preempt,
        preempt_delay_ns: c.preempt_delay.as_nanos() as u64,
        primary,
        garp_repeat: c.garp.master_repeat,
        garp_master_delay_ns: c.garp.master_delay.as_nanos() as u64,
        garp_refresh_ns: c.garp.master_refresh.map(|d| d.as_nanos() as u64),
    }
}

/// The receive policy for one interface: exactly the configured virtual routers.
pub fn policy_for(ifindex: u32, instances: &[Runtime]) -> PolicyTable {
    let mut p = PolicyTable::default();
    p.ifaces.insert(ifindex, IfacePolicy { flags: 0 });
    for rt in instances.iter().filter(|r| r.ifindex == ifindex) {
        let c = &rt.cfg;
        let (auth_type, auth_pass) = match (c.version, c.auth_pass) {
            (Version::V2, Some(p)) => (AUTH_PASS, p),
            _ => (AUTH_NONE, [0; 8]),
        };
        p.vrids.insert(
            VridKey {
                ifindex,
                vrid: c.vrid,
                family: rt.family,
                _pad: [0; 2],
            },
            VridPolicy {
                version: if c.version == Version::V2 { 2 } else { 3 },
                csum_form: match c.checksum {
                    ChecksumForm::Pseudo => CSUM_PSEUDO,
                    ChecksumForm::Plain => CSUM_PLAIN,
                },
                auth_type,
                flags: if c.unicast_peers.is_empty() {
                    0
                } else {
                    VRID_UNICAST
                },
                adver_int_s: (c.advert_int_cs / 100).clamp(1, 255) as u8,
                _pad: [0; 3],
                auth_pass,
            },
        );
        // RFC 5798 §6.4.3: a master that does not own the addresses refuses traffic for
        // them unless Accept_Mode is on.
        let refuse = !c.accept
            && c.priority != 255
            && rt.router.state() == crate::proto::router::StateName::Master;
        for v in &c.virtual_addresses {
            p.vips.insert(vip_key(ifindex, v.addr));
            if refuse {
                p.refuse.insert(vip_key(ifindex, v.addr));
            }
        }
    }
    p
}

/// Whether two instance definitions are the same apart from where they were written: a
/// reload leaves such an instance alone.
pub fn same_instance(a: &Instance, b: &Instance) -> bool {
    let mut a = a.clone();
    let mut b = b.clone();
    a.location = Default::default();
    b.location = Default::default();
    a == b
}

pub fn link_up(ifname: &str) -> bool {
    // operstate "up" (or "unknown" for interfaces without carrier reporting).
    std::fs::read_to_string(format!("/sys/class/net/{ifname}/operstate"))
        .map(|s| matches!(s.trim(), "up" | "unknown"))
        .unwrap_or(false)
}

//! One configured virtual router at run time, on the I/O side: where it sends and
//! receives, what the host offers it, and what it has done (for status and metrics). Its
//! state machine lives in the node core ([`Node`]) at the same index.

use std::net::IpAddr;

use crate::config::model::{Family, Instance, VirtualAddress};
pub use crate::filter::family_code;
use crate::filter::{tai_offset_s, PolicyTable, Served};
use crate::proto::auth_hmac::HmacState;
use crate::proto::health::Health;
use crate::proto::node::{InstanceSpec, Node};
use crate::proto::router::{RouterParams, StateName};
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
    /// When a peer's differing address list or interval was last logged (rate limit).
    pub mismatch_logged_at: u64,
    /// The latest router heard advertising (source, priority > 0), kept after it goes
    /// silent so the takeover log names the master that was lost.
    pub master_heard: Option<(IpAddr, u8)>,
}

pub struct Runtime {
    pub cfg: Instance,
    /// Where adverts are received (the configured interface); 0 while it does not exist.
    pub ifindex: u32,
    /// Where adverts, announcements and addresses go: the vmac, or the interface itself.
    pub tx_ifindex: u32,
    pub family: u8,
    /// The advert source (`unicast_src_ip`, or the interface's primary IPv4 address / IPv6
    /// link-local, followed as it changes); `None` while there is none.
    pub primary: Option<IpAddr>,
    /// Multicast group, or the unicast peers.
    pub destinations: Vec<IpAddr>,
    pub health: Health,
    /// Why the set-up failed last (logged once per distinct error).
    pub setup_error: Option<String>,
    /// The virtual addresses this instance added itself (interface, address): only these
    /// are ever removed, so an address an administrator put there by hand stays.
    pub added: Vec<(u32, VirtualAddress)>,
    /// Priority adjustments from tracking and why (base priority comes from `cfg`).
    pub priority_reasons: Vec<String>,
    /// Stopped by shutdown or reload: never start again.
    pub stopped: bool,
    /// In maintenance (`vrrp-agent drain`).
    pub drain: Option<super::drain::DrainMode>,
    pub stats: Stats,
    /// `auth_hmac` sequence and anti-replay state (unused without `auth_hmac`).
    pub hmac: HmacState,
    /// Our side as last written into the receive path's state (`None`: not yet, or the
    /// path is new): written again only when it changes.
    pub state_written: Option<vrrp_ebpf::state::Ours>,
    /// Whether the node core was last told the receive path times Master_Down.
    pub kernel_timed: bool,
    /// The adverts' bytes, built once per priority, source and address list.
    pub adverts: super::adverts::AdvertCache,
}

impl Runtime {
    /// A runtime for `c` that knows nothing about the host yet; the engine resolves the
    /// interface, the source address and the sockets before it starts anything.
    pub fn new(c: &Instance) -> Runtime {
        Runtime {
            cfg: c.clone(),
            ifindex: 0,
            tx_ifindex: 0,
            family: family_code(c.family),
            primary: None,
            destinations: destinations(c),
            health: Health::default(),
            setup_error: None,
            added: Vec::new(),
            priority_reasons: Vec::new(),
            stopped: false,
            drain: None,
            stats: Stats::default(),
            hmac: HmacState::new(c.unicast_peers.len()),
            state_written: None,
            kernel_timed: false,
            adverts: Default::default(),
        }
    }

    pub fn label(&self) -> String {
        format!(
            "{} ({} vrid {})",
            self.cfg.name, self.cfg.interface, self.cfg.vrid
        )
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

/// The node core's view of an instance: its name and state-machine parameters (the tie-
/// break address is the configured `unicast_src_ip`, or unspecified until the interface's
/// primary address is known).
pub fn instance_spec(c: &Instance) -> InstanceSpec {
    let unspecified = match c.family {
        Family::V4 => IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
        Family::V6 => IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
    };
    InstanceSpec {
        name: c.name.clone(),
        router: router_params(c, c.unicast_src.unwrap_or(unspecified)),
    }
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
        no_reply_to_lower: c.strict,
    }
}

/// The receive policy for one interface: exactly the configured virtual routers.
pub fn policy_for(ifindex: u32, instances: &[Runtime], node: &Node) -> PolicyTable {
    let served = instances
        .iter()
        .enumerate()
        .filter(|(_, r)| r.ifindex == ifindex)
        .map(|(i, rt)| Served {
            cfg: &rt.cfg,
            master: node.router(i).state() == StateName::Master,
        });
    PolicyTable::for_instances(ifindex, served, tai_offset_s())
}

/// Whether a reload must restart an instance going from `old` to `new`: only when
/// something else than what can change under a running state machine changed. Notify
/// programs, mail, tracking, Accept_Mode and the address list are applied in place, so a
/// Master stays Master through them (keepalived users edit notify paths, and add or
/// remove virtual addresses, on live pairs; a restart would hand the role to the backup
/// and take it back, two failovers for one edit).
pub fn restart_needed(old: &Instance, new: &Instance) -> bool {
    let mut live = new.clone();
    live.virtual_addresses = old.virtual_addresses.clone();
    live.notify = old.notify.clone();
    live.smtp_alert = old.smtp_alert;
    live.track_interfaces = old.track_interfaces.clone();
    live.track_scripts = old.track_scripts.clone();
    live.track_files = old.track_files.clone();
    live.accept = old.accept;
    live != *old
}

/// For status: operstate "up" (or "unknown" for interfaces without carrier reporting).
/// `None` when it cannot be read (no such interface, or no file descriptor to read it
/// with): unknown is not down.
pub fn link_up(ifname: &str) -> Option<bool> {
    match std::fs::read_to_string(format!("/sys/class/net/{ifname}/operstate")) {
        Ok(s) => Some(matches!(s.trim(), "up" | "unknown")),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some(false),
        Err(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::model::Notify;

    fn instance() -> Instance {
        let text = "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n priority 100\n virtual_ipaddress {\n 10.9.0.100/24\n }\n}\n";
        // One file per call: the tests run in parallel threads of one process.
        static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("vrrpx-rt-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("k{n}.conf"));
        std::fs::write(&path, text).unwrap();
        let loaded = crate::config::load(&path).map_err(|_| ()).unwrap();
        loaded.config.instances[0].clone()
    }

    #[test]
    fn a_changed_notify_path_or_tracking_needs_no_restart() {
        let old = instance();
        let mut new = old.clone();
        new.notify = Notify {
            master: Some("/usr/local/bin/other.sh".into()),
            ..Notify::default()
        };
        new.smtp_alert = true;
        new.accept = !old.accept;
        assert!(!restart_needed(&old, &new));
    }

    #[test]
    fn a_changed_priority_or_interval_restarts_the_instance_and_an_address_list_does_not() {
        let old = instance();
        let mut p = old.clone();
        p.priority = 120;
        assert!(restart_needed(&old, &p));
        let mut i = old.clone();
        i.advert_int_cs = 50;
        assert!(restart_needed(&old, &i));
        let mut a = old.clone();
        a.virtual_addresses.clear();
        assert!(!restart_needed(&old, &a));
        a.vrid = 52;
        assert!(restart_needed(&old, &a));
    }
}

//! A point-in-time view of the daemon for `vrrp-agent status` and `/metrics`. The engine
//! fills it; the control socket and the metrics endpoint only render it.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::proto::router::{Cause, StateName};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Transition {
    pub from: StateName,
    pub to: StateName,
    pub cause: Cause,
    /// Wall-clock time, Unix seconds (for people).
    pub at_unix: f64,
    /// CLOCK_MONOTONIC ns (for arithmetic).
    pub at_mono_ns: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InstanceStatus {
    pub name: String,
    pub interface: String,
    pub vrid: u8,
    /// "ipv4" or "ipv6".
    pub family: String,
    pub version: u8,
    pub state: StateName,
    /// Configured priority.
    pub base_priority: u8,
    /// Priority in effect now (base adjusted by tracking).
    pub effective_priority: u8,
    /// Why the two differ, one entry per source (e.g. "chk_nginx down: -20").
    pub priority_reasons: Vec<String>,
    /// The master we hear (when Backup): address and priority.
    pub master: Option<(IpAddr, u8)>,
    pub advert_interval_cs: u16,
    /// Master_Adver_Interval learned from the master.
    pub master_adver_interval_cs: u16,
    pub last_transition: Option<Transition>,
    pub transitions: u64,
    pub adverts_sent: u64,
    pub adverts_received: u64,
    /// While Backup: how far before the Master_Down deadline the latest advert arrived,
    /// in ms (the early warning). The smallest margin seen is kept too.
    pub timer_margin_ms: Option<f64>,
    pub min_timer_margin_ms: Option<f64>,
    pub virtual_addresses: Vec<String>,
    /// What this instance tracks and how each item stands.
    #[serde(default)]
    pub tracks: Vec<TrackResult>,
    /// Immediate replies to lower-priority adverts held back by the rate limit (a forged
    /// flood shows up here rather than as adverts on the wire).
    #[serde(default)]
    pub replies_suppressed: u64,
    /// In maintenance (`vrrp-agent drain`): "hard" (out of Master) or "soft" (priority 1).
    #[serde(default)]
    pub drained: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrackResult {
    pub name: String,
    /// "script" or "interface".
    pub kind: String,
    /// None while a script has not run yet.
    pub up: Option<bool>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Status {
    pub version: String,
    pub pid: u32,
    /// "xdp (driver)", "xdp (generic)" or "raw-socket", per interface.
    pub receive_paths: BTreeMap<String, String>,
    pub instances: Vec<InstanceStatus>,
    /// Rejection counters per interface: reason → count, summed over VRIDs.
    pub rejections: BTreeMap<String, BTreeMap<String, u64>>,
    /// Split-brain events seen (Master hearing another Master, or a foreign ARP for a VIP).
    pub split_brain_events: u64,
}

/// A synthetic backup instance (VI_1 on eth0, VRID 51, hearing 10.0.0.1 at 150): the one
/// the renderers' and the clients' tests start from, overriding what they are about.
pub fn sample_instance() -> InstanceStatus {
    InstanceStatus {
        name: "VI_1".into(),
        interface: "eth0".into(),
        vrid: 51,
        family: "ipv4".into(),
        version: 3,
        state: StateName::Backup,
        base_priority: 100,
        effective_priority: 80,
        priority_reasons: vec!["chk_nginx down: -20".into()],
        master: Some((IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1)), 150)),
        advert_interval_cs: 100,
        master_adver_interval_cs: 50,
        last_transition: Some(Transition {
            from: StateName::Initialize,
            to: StateName::Backup,
            cause: Cause::Startup,
            at_unix: 1_700_000_000.5,
            at_mono_ns: 42,
        }),
        transitions: 1,
        adverts_sent: 0,
        adverts_received: 1234,
        timer_margin_ms: Some(812.5),
        min_timer_margin_ms: Some(790.25),
        virtual_addresses: vec!["10.0.0.100/24".into()],
        tracks: vec![],
        replies_suppressed: 0,
        drained: None,
    }
}

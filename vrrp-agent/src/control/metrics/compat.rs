//! `--metrics-compat keepalived-exporter`: the families and labels of the most used
//! keepalived exporter (mehdy/keepalived-exporter, formerly cafebazaar's), served beside
//! our own so dashboards and alerts written for it keep working. docs/metrics.md lists
//! what each family means here and which of the exporter's families have no counterpart.
//!
//! Its conventions, which dashboards depend on:
//! - per-instance families are labelled `iname` (the VRRP instance), `intf`, `vrid`;
//! - `keepalived_vrrp_state` has one series per virtual address (`ip_address`, spelled as
//!   keepalived spells it: the prefix only when it is not the full length), valued with
//!   keepalived's state numbers (0 INIT, 1 BACKUP, 2 MASTER, 3 FAULT); an instance without
//!   addresses has one series with an empty `ip_address`;
//! - `keepalived_script_status{name}` is 1 for a good script and 0 for a bad one.

use std::collections::BTreeMap;

use serde::Deserialize;
use vrrp_ebpf::abi::Reason;

use crate::proto::router::StateName;
use crate::status::{InstanceStatus, Status};

use super::exposition::{Exposition, Num};
use super::render::{per_instance, per_instance_by, PerInstance};

/// Another exporter's metric names to serve as well.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Compat {
    /// mehdy/keepalived-exporter (formerly cafebazaar/keepalived-exporter).
    KeepalivedExporter,
}

/// keepalived's number for a state (its `VRRP_STATE_*` constants), which the exporter
/// publishes as the value of `keepalived_vrrp_state`.
pub fn keepalived_state_number(state: StateName) -> u64 {
    match state {
        StateName::Initialize => 0,
        StateName::Backup => 1,
        StateName::Master => 2,
        StateName::Fault => 3,
    }
}

/// Our receive-check rejections that keepalived counts under a family of its own. Other
/// reasons (version, checksum, unknown VRID) have no exporter family; they stay in
/// `vrrpx_rejected_adverts_total`.
const ERROR_FAMILIES: [(Reason, &str, &str); 5] = [
    (
        Reason::Ttl,
        "keepalived_ip_ttl_errors_total",
        "Adverts rejected for a TTL or hop limit other than 255.",
    ),
    (
        Reason::Length,
        "keepalived_packet_length_errors_total",
        "Adverts rejected as truncated or with a length not covering their addresses.",
    ),
    (
        Reason::Type,
        "keepalived_invalid_type_received_total",
        "Adverts rejected for a VRRP type other than advertisement.",
    ),
    (
        Reason::Interval,
        "keepalived_advertisements_interval_errors_total",
        "VRRPv2 adverts rejected for an interval other than ours.",
    ),
    (
        Reason::Auth,
        "keepalived_authentication_failure_total",
        "VRRPv2 adverts rejected by the authentication check.",
    ),
];

/// Entries into and exits from MASTER per instance, counted from the engine's transition
/// events (the snapshot only keeps the latest transition).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TransitionTally {
    by_instance: BTreeMap<String, MasterCounts>,
    lost: u64,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct MasterCounts {
    became: u64,
    released: u64,
}

/// The fields of a transition event the tally needs.
#[derive(Deserialize)]
struct TransitionEvent {
    #[serde(rename = "type")]
    kind: String,
    instance: String,
    from: StateName,
    to: StateName,
}

impl TransitionTally {
    /// Counts one transition: into MASTER is keepalived's "became master", out of it
    /// (to BACKUP, FAULT or a stop) its "released master".
    pub fn record(&mut self, instance: &str, from: StateName, to: StateName) {
        let entered = to == StateName::Master && from != StateName::Master;
        let left = from == StateName::Master && to != StateName::Master;
        if !(entered || left) {
            return;
        }
        let counts = match self.by_instance.get_mut(instance) {
            Some(c) => c,
            None => self.by_instance.entry(instance.to_owned()).or_default(),
        };
        if entered {
            counts.became += 1;
        } else {
            counts.released += 1;
        }
    }

    /// Counts the event if it is a transition (one JSON line of the event stream); any
    /// other event, or a line that does not parse, is ignored.
    pub fn record_event(&mut self, line: &str) {
        if let Ok(ev) = serde_json::from_str::<TransitionEvent>(line) {
            if ev.kind == "transition" {
                self.record(&ev.instance, ev.from, ev.to);
            }
        }
    }

    /// Events the tally never saw (the stream dropped them); its counts are low by up to
    /// this many transitions.
    pub fn note_lost(&mut self, count: u64) {
        self.lost += count;
    }

    pub fn lost(&self) -> u64 {
        self.lost
    }

    pub fn became_master(&self, instance: &str) -> u64 {
        self.by_instance.get(instance).map_or(0, |c| c.became)
    }

    pub fn released_master(&self, instance: &str) -> u64 {
        self.by_instance.get(instance).map_or(0, |c| c.released)
    }
}

/// keepalived's spelling of a virtual address: `addr/len`, without `/len` when the
/// prefix is the full length (32 or 128).
fn keepalived_address(cidr: &str) -> &str {
    match cidr.rsplit_once('/') {
        Some((addr, "32")) if !addr.contains(':') => addr,
        Some((addr, "128")) if addr.contains(':') => addr,
        _ => cidr,
    }
}

fn compat_labels<'a>(i: &'a InstanceStatus, vrid: &'a str) -> [(&'static str, &'a str); 3] {
    [("iname", &i.name), ("intf", &i.interface), ("vrid", vrid)]
}

/// The exporter's families for this snapshot.
pub fn render_keepalived_exporter(status: &Status, tally: &TransitionTally) -> String {
    let mut out = Exposition::with_capacity(1024 + 1024 * status.instances.len());
    let inst = &status.instances;

    // The exporter's own health: it is 0 when keepalived cannot be read. We are the
    // daemon, so a page that is served at all is a daemon that is up.
    out.single(
        (
            "keepalived_up",
            "gauge",
            "1 while the VRRP daemon answers (vrrpx serves this page itself).",
        ),
        &[],
        Num::Int(1),
    );

    per_instance_by(
        &mut out,
        (
            "keepalived_vrrp_state",
            "gauge",
            "VRRP state per virtual address: 0 INIT, 1 BACKUP, 2 MASTER, 3 FAULT.",
        ),
        inst,
        compat_labels,
        "ip_address",
        |i| {
            let state = keepalived_state_number(i.state);
            match i.virtual_addresses.is_empty() {
                true => vec![("", Num::Int(state))],
                false => i
                    .virtual_addresses
                    .iter()
                    .map(|v| (keepalived_address(v), Num::Int(state)))
                    .collect(),
            }
        },
    );

    let counters: [(&str, &str, &PerInstance); 4] = [
        (
            "keepalived_advertisements_received_total",
            "VRRP advertisements received that passed the receive checks.",
            &|i| Some(Num::Int(i.adverts_received)),
        ),
        (
            "keepalived_advertisements_sent_total",
            "VRRP advertisements sent.",
            &|i| Some(Num::Int(i.adverts_sent)),
        ),
        (
            "keepalived_become_master_total",
            "Transitions into MASTER.",
            &|i| Some(Num::Int(tally.became_master(&i.name))),
        ),
        (
            "keepalived_release_master_total",
            "Transitions out of MASTER.",
            &|i| Some(Num::Int(tally.released_master(&i.name))),
        ),
    ];
    for (name, help, value) in counters {
        per_instance(
            &mut out,
            (name, "counter", help),
            inst,
            compat_labels,
            value,
        );
    }

    // We count rejections per interface before a packet is matched to an instance (an
    // unknown VRID has none), so these carry `intf` only; summing by host, as the
    // exporter's dashboards do, gives the same figure.
    for (reason, name, help) in ERROR_FAMILIES {
        out.family(name, "counter", help);
        for (iface, reasons) in &status.rejections {
            let n = reasons.get(reason.name()).copied().unwrap_or(0);
            out.sample(name, &[("intf", iface)], Num::Int(n));
        }
    }

    let scripts: BTreeMap<&str, bool> = inst
        .iter()
        .flat_map(|i| &i.tracks)
        .filter(|t| t.kind == "script")
        .filter_map(|t| t.up.map(|up| (t.name.as_str(), up)))
        .collect();
    if !scripts.is_empty() {
        out.family(
            "keepalived_script_status",
            "gauge",
            "Tracking scripts: 1 good, 0 bad (scripts not run yet are absent).",
        );
        for (name, up) in scripts {
            out.sample(
                "keepalived_script_status",
                &[("name", name)],
                Num::Int(u64::from(up)),
            );
        }
    }

    out.into_text()
}

#[cfg(test)]
mod tests {
    use super::super::exposition::check_exposition;
    use super::super::fixtures::{instance, status};
    use super::*;
    use crate::status::TrackResult;

    fn type_of<'a>(page: &'a str, family: &str) -> Option<&'a str> {
        let prefix = format!("# TYPE {family} ");
        page.lines().find_map(|l| l.strip_prefix(prefix.as_str()))
    }

    fn snapshot() -> Status {
        let mut s = status();
        s.instances[0].virtual_addresses = vec!["10.0.0.100/24".into(), "10.0.0.101/32".into()];
        s.instances[0].tracks = vec![TrackResult {
            name: "chk_nginx".into(),
            kind: "script".into(),
            up: Some(false),
        }];
        let mut v6 = instance();
        v6.name = "VI_6".into();
        v6.interface = "eth1".into();
        v6.vrid = 52;
        v6.state = StateName::Master;
        v6.adverts_sent = 77;
        v6.virtual_addresses = vec!["2001:db8::1/128".into(), "2001:db8::2/64".into()];
        v6.tracks = vec![
            TrackResult {
                name: "chk_nginx".into(),
                kind: "script".into(),
                up: Some(false),
            },
            TrackResult {
                name: "eth1".into(),
                kind: "interface".into(),
                up: Some(true),
            },
        ];
        s.instances.push(v6);
        let mut bare = instance();
        bare.name = "VI_BARE".into();
        bare.vrid = 53;
        bare.state = StateName::Fault;
        bare.virtual_addresses = vec![];
        s.instances.push(bare);
        s.rejections = [(
            "eth0".to_string(),
            [
                ("ttl".to_string(), 3),
                ("auth".to_string(), 4),
                ("vrid".to_string(), 9),
            ]
            .into(),
        )]
        .into();
        s
    }

    #[test]
    fn families_have_the_exporters_types() {
        let page = render_keepalived_exporter(&snapshot(), &TransitionTally::default());
        check_exposition(&page);
        for (family, kind) in [
            ("keepalived_up", "gauge"),
            ("keepalived_vrrp_state", "gauge"),
            ("keepalived_advertisements_received_total", "counter"),
            ("keepalived_advertisements_sent_total", "counter"),
            ("keepalived_become_master_total", "counter"),
            ("keepalived_release_master_total", "counter"),
            ("keepalived_ip_ttl_errors_total", "counter"),
            ("keepalived_packet_length_errors_total", "counter"),
            ("keepalived_invalid_type_received_total", "counter"),
            ("keepalived_advertisements_interval_errors_total", "counter"),
            ("keepalived_authentication_failure_total", "counter"),
            ("keepalived_script_status", "gauge"),
        ] {
            assert_eq!(type_of(&page, family), Some(kind), "{family}\n{page}");
        }
    }

    #[test]
    fn state_is_one_series_per_address_with_keepalived_numbers_and_spelling() {
        let page = render_keepalived_exporter(&snapshot(), &TransitionTally::default());
        let states: Vec<&str> = page
            .lines()
            .filter(|l| l.starts_with("keepalived_vrrp_state{"))
            .collect();
        assert_eq!(
            states,
            [
                r#"keepalived_vrrp_state{iname="VI_1",intf="eth0",vrid="51",ip_address="10.0.0.100/24"} 1"#,
                r#"keepalived_vrrp_state{iname="VI_1",intf="eth0",vrid="51",ip_address="10.0.0.101"} 1"#,
                r#"keepalived_vrrp_state{iname="VI_6",intf="eth1",vrid="52",ip_address="2001:db8::1"} 2"#,
                r#"keepalived_vrrp_state{iname="VI_6",intf="eth1",vrid="52",ip_address="2001:db8::2/64"} 2"#,
                r#"keepalived_vrrp_state{iname="VI_BARE",intf="eth0",vrid="53",ip_address=""} 3"#,
            ]
        );
        assert_eq!(keepalived_state_number(StateName::Initialize), 0);
    }

    #[test]
    fn counters_carry_iname_intf_vrid_and_errors_map_by_reason() {
        let mut tally = TransitionTally::default();
        tally.record("VI_6", StateName::Initialize, StateName::Backup);
        tally.record("VI_6", StateName::Backup, StateName::Master);
        tally.record("VI_6", StateName::Master, StateName::Fault);
        tally.record("VI_6", StateName::Fault, StateName::Backup);
        tally.record("VI_6", StateName::Backup, StateName::Master);
        let page = render_keepalived_exporter(&snapshot(), &tally);
        let lines: Vec<&str> = page.lines().collect();
        for want in [
            r#"keepalived_advertisements_received_total{iname="VI_1",intf="eth0",vrid="51"} 1234"#,
            r#"keepalived_advertisements_sent_total{iname="VI_6",intf="eth1",vrid="52"} 77"#,
            r#"keepalived_become_master_total{iname="VI_6",intf="eth1",vrid="52"} 2"#,
            r#"keepalived_release_master_total{iname="VI_6",intf="eth1",vrid="52"} 1"#,
            r#"keepalived_become_master_total{iname="VI_1",intf="eth0",vrid="51"} 0"#,
            r#"keepalived_ip_ttl_errors_total{intf="eth0"} 3"#,
            r#"keepalived_authentication_failure_total{intf="eth0"} 4"#,
            r#"keepalived_packet_length_errors_total{intf="eth0"} 0"#,
            "keepalived_up 1",
        ] {
            assert!(lines.contains(&want), "missing {want}\n{page}");
        }
        // A script tracked by two instances is one series; interfaces are not scripts.
        let scripts: Vec<&str> = lines
            .iter()
            .copied()
            .filter(|l| l.starts_with("keepalived_script_status{"))
            .collect();
        assert_eq!(scripts, [r#"keepalived_script_status{name="chk_nginx"} 0"#]);
    }

    #[test]
    fn transition_events_are_tallied_from_the_event_stream_lines() {
        let mut tally = TransitionTally::default();
        for line in [
            r#"{"seq":1,"type":"transition","instance":"VI_1","interface":"eth0","vrid":51,"from":"Backup","to":"Master","cause":"MasterDown"}"#,
            r#"{"seq":2,"type":"split_brain","instance":"VI_1"}"#,
            r#"{"seq":3,"type":"transition","instance":"VI_1","from":"Master","to":"Backup"}"#,
            r#"{"seq":4,"type":"transition","instance":"VI_1","from":"Nowhere","to":"Master"}"#,
            "not json",
        ] {
            tally.record_event(line);
        }
        assert_eq!(tally.became_master("VI_1"), 1);
        assert_eq!(tally.released_master("VI_1"), 1);
        assert_eq!(tally.became_master("VI_2"), 0);
        tally.note_lost(3);
        assert_eq!(tally.lost(), 3);
    }

    #[test]
    fn an_empty_snapshot_still_says_the_daemon_is_up() {
        let page = render_keepalived_exporter(&Status::default(), &TransitionTally::default());
        check_exposition(&page);
        assert!(page.lines().any(|l| l == "keepalived_up 1"));
        assert!(!page.contains("keepalived_script_status"));
    }
}

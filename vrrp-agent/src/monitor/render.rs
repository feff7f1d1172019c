//! What the monitor prints: the live table and the JSON lines.

use std::fmt::Write;

use serde_json::{json, Value};
use vrrp_ebpf::abi::{Family, Reason, CSUM_PLAIN, CSUM_PSEUDO, STAT_VLAN_PASSED};

use super::table::RouterTable;
use crate::filter::Counters;
use crate::io::iface;
use crate::receive::{AdvertIn, ArpIn};

/// One JSON object per accepted advert.
pub fn advert_json(ev: &AdvertIn, ifname: &str, rx_ns: u64) -> Value {
    let csum = match (ev.family, ev.version, ev.csum_form) {
        (Family::V4, 3, CSUM_PSEUDO) => "pseudo",
        (Family::V4, 3, CSUM_PLAIN) => "plain",
        (Family::V4, _, _) => "plain",
        _ => "pseudo",
    };
    json!({
        "ts_ns": ev.ts_ns,
        "rx_ns": rx_ns,
        "iface": ifname,
        "src": ev.src.to_string(),
        "vrid": ev.vrid,
        "priority": ev.priority,
        "interval_cs": ev.interval_cs,
        "version": ev.version,
        "family": match ev.family {
            Family::V4 => "ipv4",
            Family::V6 => "ipv6",
        },
        "ttl": ev.ttl,
        "checksum": csum,
        "count": ev.addr_count,
        "addrs": ev.addrs.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
    })
}

fn mac_string(m: &[u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn arp_op(op: u16) -> &'static str {
    match op {
        1 => "request",
        2 => "reply",
        _ => "other",
    }
}

/// One JSON object per ARP packet naming a virtual address.
pub fn arp_json(ev: &ArpIn, ifname: &str, rx_ns: u64) -> Value {
    json!({
        "ts_ns": ev.ts_ns,
        "rx_ns": rx_ns,
        "iface": ifname,
        "arp": arp_op(ev.op),
        "sender_mac": mac_string(&ev.mac),
        "sender_ip": ev.sender.to_string(),
        "target_ip": ev.target.to_string(),
    })
}

pub fn arp_line(ev: &ArpIn) -> String {
    format!(
        "ARP {} from {} ({}) for {}",
        arp_op(ev.op),
        ev.sender,
        mac_string(&ev.mac),
        ev.target
    )
}

fn opt_ms(v: Option<f64>) -> String {
    v.map(|x| format!("{x:.2}")).unwrap_or_else(|| "-".into())
}

/// The table of routers heard, then the verdict counters.
pub fn table(t: &RouterTable, c: &Counters, path: &str, now_ns: u64) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "vrrp-agent monitor — receive path: {path}");
    let _ = writeln!(
        s,
        "{:<10} {:>4} {:>3} {:<26} {:>4} {:>8} {:>12} {:>10} {:>8} {:>9}  ADDRESSES",
        "IFACE",
        "VRID",
        "VER",
        "SOURCE",
        "PRIO",
        "ADV(ms)",
        "MEASURED(ms)",
        "JITTER(ms)",
        "ADVERTS",
        "AGO(ms)"
    );
    for (k, r) in &t.routers {
        let addrs: Vec<String> = r.addrs.iter().map(|a| a.to_string()).collect();
        let _ = writeln!(
            s,
            "{:<10} {:>4} {:>3} {:<26} {:>4} {:>8} {:>12} {:>10} {:>8} {:>9}  {}",
            iface::name_of(k.ifindex),
            k.vrid,
            r.version,
            k.src.to_string(),
            r.priority,
            r.interval_cs as u32 * 10,
            opt_ms(r.measured_interval_ms()),
            opt_ms(r.jitter_ms()),
            r.adverts,
            now_ns.saturating_sub(r.last_ts_ns) / 1_000_000,
            addrs.join(",")
        );
    }
    let counts: Vec<String> = Reason::ALL
        .iter()
        .map(|&r| format!("{}={}", r.name(), c.total(r)))
        .collect();
    let _ = writeln!(s, "verdicts: {}", counts.join(" "));
    // Foreign adverts pass too; they are in the line above.
    let _ = writeln!(
        s,
        "passed to the VLAN device: vlan_tagged={}",
        c.stats[STAT_VLAN_PASSED as usize]
    );
    s
}

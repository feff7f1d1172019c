//! `vrrp-agent monitor` on a lab segment with real keepalived routers: it hears both,
//! stamps adverts with kernel arrival times close to when userspace read them, and counts
//! junk per reason identically on the XDP and raw-socket paths (other routers' VRIDs as
//! `foreign`, passed), and leaves VLAN-tagged adverts to the VLAN device on both paths.
//! Needs root and the release agent (`cargo xtask test`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use std::process::Command;

use serde_json::Value;
use vrrp_ebpf::abi::Reason;
use vrrpx_tests::agent::Monitor;
use vrrpx_tests::frames::Advert;
use vrrpx_tests::inject::burst_in;
use vrrpx_tests::netns::{run, secs, wait_for, Lab};
use vrrpx_tests::pair::{bare_test, preconditions};
use vrrpx_tests::peers::{keepalived_config, start_keepalived, PeerInstance};
use vrrpx_tests::scratch;

/// Two keepalived routers, each master of one VRID (the dual-master layout), 100 ms v3.
fn dual_master_lab(name: &str) -> (PathBuf, Lab) {
    let (dir, mut lab) = bare_test(name);
    lab.host("r1", "eth0", &["10.80.0.1/24"]).unwrap();
    lab.host("r2", "eth0", &["10.80.0.2/24"]).unwrap();
    lab.host("mon", "eth0", &["10.80.0.10/24"]).unwrap();
    for (h, p61, p62) in [("r1", 150, 100), ("r2", 100, 150)] {
        let conf = keepalived_config(
            h,
            &[
                PeerInstance::v3("VI_61", 61, p61, &["10.80.0.61/24"]),
                PeerInstance::v3("VI_62", 62, p62, &["10.80.0.62/24"]),
            ],
        );
        start_keepalived(&mut lab, h, &conf, &dir).unwrap();
    }
    let up = wait_for(secs(10), || {
        lab.addrs("r1", "eth0")
            .unwrap()
            .iter()
            .any(|a| a == "10.80.0.61/24")
            && lab
                .addrs("r2", "eth0")
                .unwrap()
                .iter()
                .any(|a| a == "10.80.0.62/24")
    });
    assert!(up, "keepalived routers did not each take their VRID");
    (dir, lab)
}

/// Run the monitor for `secs` with `extra` arguments; returns (JSON lines, its log).
fn monitor(lab: &mut Lab, dir: &Path, secs: &str, extra: &[&str]) -> (Vec<Value>, String) {
    let args = [&["--duration", secs][..], extra].concat();
    let m = Monitor::start(lab, "mon", "eth0", dir, &args);
    let limit = Duration::from_secs_f64(secs.parse::<f64>().unwrap() + 10.0);
    let exited = wait_for(limit, || lab.exited(m.idx));
    assert!(exited, "monitor did not stop by itself");
    let lines = m
        .output()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON {l:?}: {e}")))
        .collect();
    (lines, m.log())
}

fn check_hears_both_routers(adverts: &[&Value]) {
    let mut by_src: BTreeMap<(String, u64), Vec<(u64, u64)>> = BTreeMap::new();
    for a in adverts {
        by_src
            .entry((
                a["src"].as_str().unwrap().to_string(),
                a["vrid"].as_u64().unwrap(),
            ))
            .or_default()
            .push((a["ts_ns"].as_u64().unwrap(), a["rx_ns"].as_u64().unwrap()));
        assert_eq!(a["version"], 3);
        assert_eq!(a["interval_cs"], 10);
    }
    let keys: Vec<_> = by_src.keys().cloned().collect();
    assert_eq!(
        keys,
        vec![("10.80.0.1".to_string(), 61), ("10.80.0.2".to_string(), 62)],
        "each master heard for its own VRID"
    );
    for (k, stamps) in &by_src {
        assert!(
            stamps.len() >= 15,
            "{k:?}: only {} adverts in 2 s",
            stamps.len()
        );
        let mut lags = Vec::new();
        for w in stamps.windows(2) {
            assert!(w[1].0 > w[0].0, "{k:?}: kernel timestamps increase");
        }
        for &(ts, rx) in stamps {
            assert!(rx >= ts, "{k:?}: read before it arrived?");
            lags.push(rx - ts);
        }
        lags.sort();
        let median = lags[lags.len() / 2];
        assert!(median < 3_000_000, "{k:?}: median receive lag {median} ns");
        let span = (stamps.last().unwrap().0 - stamps[0].0) as f64 / (stamps.len() - 1) as f64;
        assert!(
            (80e6..120e6).contains(&span),
            "{k:?}: measured interval {span} ns"
        );
    }
}

#[test]
fn monitor_hears_both_keepalived_masters_with_kernel_timestamps_on_the_xdp_path() {
    let (dir, mut lab) = dual_master_lab("netns-monitor-xdp");
    let (lines, log) = monitor(&mut lab, &dir, "2.5", &[]);
    assert!(log.contains("path=\"xdp\""), "XDP path is live: {log}");
    let adverts: Vec<&Value> = lines.iter().filter(|l| l.get("vrid").is_some()).collect();
    check_hears_both_routers(&adverts);
    let counters = lines.last().unwrap();
    assert_eq!(
        counters["counters"]["accepted"].as_u64().unwrap(),
        adverts.len() as u64,
        "one JSON line per accepted advert"
    );
}

#[test]
fn monitor_hears_both_keepalived_masters_with_kernel_timestamps_on_the_raw_socket_path() {
    let (dir, mut lab) = dual_master_lab("netns-monitor-raw");
    let (lines, log) = monitor(&mut lab, &dir, "2.5", &["--no-xdp"]);
    assert!(
        log.contains("path=\"raw-socket\""),
        "raw path is live: {log}"
    );
    let adverts: Vec<&Value> = lines.iter().filter(|l| l.get("vrid").is_some()).collect();
    check_hears_both_routers(&adverts);
}

/// `vrrp-agent monitor -i IFACE --json ARGS...` in host `mon` while host `junk` sends
/// `count` of `frames`, round robin, from its interface `from`; then SIGTERM. Returns what
/// it printed (one JSON object a line, the counters last) and its log.
fn monitor_burst(
    lab: &mut Lab,
    dir: &Path,
    iface: &str,
    args: &[&str],
    from: &str,
    frames: Vec<Vec<u8>>,
    count: usize,
) -> (String, String) {
    let m = Monitor::start(lab, "mon", iface, dir, args);
    assert!(m.wait_ready(secs(5)), "{}", m.log());
    let sent = burst_in(&lab.ns("junk"), from, frames, count, 10_000, secs(5)).unwrap();
    assert_eq!(sent, count);
    std::thread::sleep(Duration::from_millis(300));
    assert!(lab.stop(m.idx, libc::SIGTERM, secs(3)).unwrap());
    (m.output(), m.log())
}

/// The final counters object of [`monitor_burst`]'s output, and how many adverts it
/// printed before them.
fn counters_and_adverts(out: &str) -> (Value, usize) {
    let last = out.lines().last().expect("counters printed on SIGTERM");
    let adverts = out.lines().filter(|l| l.contains("\"ts_ns\"")).count();
    (serde_json::from_str(last).unwrap(), adverts)
}

/// A lab of the monitor's host and the host sending to it, on `net` (a /24 prefix).
fn mon_and_junk(prefix: &str, net: &str) -> Lab {
    let mut lab = Lab::new(prefix).unwrap();
    lab.host("mon", "eth0", &[&format!("{net}.10/24")]).unwrap();
    lab.host("junk", "eth0", &[&format!("{net}.66/24")])
        .unwrap();
    lab
}

/// A sound VRRPv3 advert for VRID 61 from the junk host on `net`.
fn advert_61(net: &str) -> Advert {
    Advert {
        vrid: 61,
        src: format!("{net}.66").parse().unwrap(),
        ..Advert::v3_ipv4()
    }
}

/// Junk from a third host, counted per reason. Returns the final counters object.
fn junk_counts(prefix: &str, extra: &[&str]) -> Value {
    let dir = scratch(prefix);
    let mut lab = mon_and_junk(prefix, "10.81.0");
    let base = advert_61("10.81.0");
    let mut frames = base.junk(9);
    frames.extend([
        Advert {
            vtype: 3,
            ..base.clone()
        }
        .build(),
        Advert {
            count: Some(4),
            ..base.clone()
        }
        .build(),
        base.build(),
    ]);
    let args = [&["--vrid", "61,62"][..], extra].concat();
    let (out, _) = monitor_burst(&mut lab, &dir, "eth0", &args, "eth0", frames, 600);
    let (counters, adverts) = counters_and_adverts(&out);
    assert_eq!(adverts, 100, "one JSON line per valid advert");
    counters
}

#[test]
fn junk_is_counted_per_reason_and_identically_on_xdp_and_raw_socket_paths() {
    preconditions();
    let xdp = junk_counts("vxt-junkx-", &[]);
    let raw = junk_counts("vxt-junkr-", &["--no-xdp"]);
    for (reason, n) in [
        ("accepted", 100),
        ("ttl", 100),
        ("checksum", 100),
        ("foreign", 100),
        ("type", 100),
        ("length", 100),
        ("version", 0),
        ("auth", 0),
        ("interval", 0),
    ] {
        assert_eq!(xdp["counters"][reason], n, "xdp {reason}: {xdp}");
        assert_eq!(raw["counters"][reason], n, "raw {reason}: {raw}");
    }
    assert_eq!(xdp["by_vrid"]["9"]["foreign"], 100);
    assert_eq!(xdp["by_vrid"]["61"], raw["by_vrid"]["61"]);
}

/// The monitor watching VRID 61 on `d0`, a veth joined straight to the sender's (no bridge:
/// a bridge port takes the tag off into packet metadata, see docs/xdp-filter.md), hears 100
/// sound adverts untagged, then 100 with one 802.1Q tag and 100 under QinQ. Returns the
/// final counters and how many adverts were printed.
fn tagged_counts(prefix: &str, extra: &[&str]) -> (Value, usize) {
    let dir = scratch(prefix);
    let mut lab = mon_and_junk(prefix, "10.82.0");
    run(Command::new("ip").args([
        "link",
        "add",
        "d0",
        "netns",
        &lab.ns("junk"),
        "type",
        "veth",
        "peer",
        "name",
        "d0",
        "netns",
        &lab.ns("mon"),
    ]))
    .unwrap();
    for h in ["mon", "junk"] {
        lab.exec(h, &["ip", "link", "set", "d0", "up"]).unwrap();
    }
    let base = advert_61("10.82.0");
    let frames = vec![
        base.build(),
        Advert {
            vlans: vec![(0x8100, 10)],
            ..base.clone()
        }
        .build(),
        Advert {
            vlans: vec![(0x88a8, 100), (0x8100, 10)],
            ..base.clone()
        }
        .build(),
    ];
    let args = [&["--vrid", "61"][..], extra].concat();
    let (out, _) = monitor_burst(&mut lab, &dir, "d0", &args, "d0", frames, 300);
    counters_and_adverts(&out)
}

#[test]
fn vlan_tagged_adverts_are_left_to_the_vlan_device_on_the_xdp_and_raw_socket_paths() {
    preconditions();
    // The kernel hands a packet socket the frame with its outer tag taken off; the raw
    // path must put it back to see that the advert is VLAN 10's, not d0's.
    for (name, extra) in [("xdp", &[][..]), ("raw", &["--no-xdp"][..])] {
        let (c, printed) = tagged_counts(&format!("vxt-vlan{}-", &name[..1]), extra);
        assert_eq!(c["counters"]["accepted"], 100, "{name}: {c}");
        assert_eq!(
            printed, 100,
            "{name}: only the untagged adverts are printed"
        );
        assert_eq!(c["vlan_passed"], 200, "{name}: {c}");
        for reason in Reason::ALL.iter().filter(|r| **r != Reason::Accepted) {
            assert_eq!(c["counters"][reason.name()], 0, "{name} {reason:?}: {c}");
        }
    }
}

#[test]
fn on_a_stacked_device_without_native_xdp_auto_mode_falls_back_to_generic_and_judges_by_its_policy()
{
    preconditions();
    // A macvlan over eth0 stands in for a VLAN device (none can be made on this kernel):
    // stacked on the NIC, no driver-mode XDP, frames delivered to it untagged.
    let prefix = "vxt-stack-";
    let dir = scratch(prefix);
    let mut lab = mon_and_junk(prefix, "10.83.0");
    for cmd in [
        &[
            "ip", "link", "add", "mv0", "link", "eth0", "type", "macvlan", "mode", "bridge",
        ][..],
        // Multicast reaches a macvlan only for groups it joined; the monitor joins none.
        &["ip", "link", "set", "mv0", "allmulticast", "on", "up"][..],
    ] {
        lab.exec("mon", cmd).unwrap();
    }
    let base = advert_61("10.83.0");
    let frames = vec![
        base.build(),
        Advert {
            ttl: 1,
            ..base.clone()
        }
        .build(),
        Advert {
            vrid: 62,
            ..base.clone()
        }
        .build(),
    ];
    let (out, log) = monitor_burst(
        &mut lab,
        &dir,
        "mv0",
        &["--vrid", "61"],
        "eth0",
        frames,
        150,
    );
    assert!(
        log.contains("driver-mode XDP refused") && log.contains("mode=\"generic\""),
        "auto mode fell back to generic: {log}"
    );
    let (c, _) = counters_and_adverts(&out);
    for (reason, n) in [("accepted", 50), ("ttl", 50), ("foreign", 50)] {
        assert_eq!(c["counters"][reason], n, "{reason}: {c}");
    }
}

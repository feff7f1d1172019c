//! `vrrp-agent status` (JSON and the table) and `/metrics` of a master and a backup, field
//! by field. Needs root and the release agent (`cargo xtask test`).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use vrrpx_tests::agent::{instance_in, Agent};
use vrrpx_tests::inject::in_netns;
use vrrpx_tests::netns::{secs, wait_for};
use vrrpx_tests::pair::{config, has, only, pair_test, VIP};

/// GET /metrics from 127.0.0.1:`port` inside namespace `ns`; returns the body.
fn fetch_metrics(ns: &str, port: u16) -> String {
    let reply = in_netns(ns, move || {
        let mut s = TcpStream::connect(("127.0.0.1", port))?;
        s.set_read_timeout(Some(secs(5)))?;
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")?;
        let mut reply = String::new();
        s.read_to_string(&mut reply)?;
        Ok(reply)
    })
    .unwrap();
    let (head, body) = reply.split_once("\r\n\r\n").expect("an HTTP reply");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    body.to_string()
}

/// The value of one sample, `series` being the name with its full label set.
fn sample(page: &str, series: &str) -> Option<f64> {
    page.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .map(|v| v.trim().parse().unwrap())
}

#[test]
fn status_and_metrics_report_a_master_and_a_backup_field_by_field() {
    let (dir, mut lab) = pair_test("ops-status");
    let r1 = Agent::start(&mut lab, "r1", &config("pair-master.conf"), &dir, &[]);
    assert!(
        wait_for(secs(5), || has(&lab, "r1", VIP)),
        "r1 is master\n{}",
        r1.log()
    );
    let r2 = Agent::start(
        &mut lab,
        "r2",
        &config("pair-backup.conf"),
        &dir,
        &["--metrics", "127.0.0.1:9650"],
    );
    // Two status refreshes (every second), ~20 adverts heard.
    std::thread::sleep(Duration::from_millis(2200));
    assert!(only(&lab, "r1", "r2", VIP), "stable");

    let s1 = r1.status(&lab).expect("r1 answers status");
    let m = instance_in(&s1, "VI_51").unwrap();
    eprintln!("master: {m:#}");
    assert_eq!(s1["receive_paths"]["eth0"], "xdp (driver)", "{s1:#}");
    assert_eq!(s1["split_brain_events"], 0, "{s1:#}");
    assert_eq!(m["state"], "Master");
    assert_eq!(m["vrid"], 51);
    assert_eq!(m["interface"], "eth0");
    assert_eq!(m["family"], "ipv4");
    assert_eq!(m["version"], 3);
    assert_eq!(m["base_priority"], 150);
    assert_eq!(m["effective_priority"], 150);
    assert!(m["master"].is_null(), "a master hears no master: {m:#}");
    assert_eq!(m["advert_interval_cs"], 10);
    assert!(m["adverts_sent"].as_u64().unwrap() > 0, "{m:#}");
    assert_eq!(m["last_transition"]["from"], "Backup", "{m:#}");
    assert_eq!(m["last_transition"]["to"], "Master", "{m:#}");
    assert_eq!(m["last_transition"]["cause"], "MasterDown", "{m:#}");
    assert_eq!(m["transitions"], 2, "INIT->BACKUP->MASTER: {m:#}");
    assert_eq!(m["virtual_addresses"], serde_json::json!(["10.9.0.100/24"]));

    let s2 = r2.status(&lab).expect("r2 answers status");
    let b = instance_in(&s2, "VI_51").unwrap();
    eprintln!("backup: {b:#}");
    assert_eq!(s2["receive_paths"]["eth0"], "xdp (driver)", "{s2:#}");
    assert_eq!(b["state"], "Backup");
    assert_eq!(b["base_priority"], 100);
    assert_eq!(b["effective_priority"], 100);
    assert_eq!(b["master"], serde_json::json!(["10.9.0.1", 150]), "{b:#}");
    assert_eq!(b["master_adver_interval_cs"], 10, "learned from r1: {b:#}");
    assert_eq!(b["adverts_sent"], 0, "{b:#}");
    assert!(b["adverts_received"].as_u64().unwrap() > 0, "{b:#}");
    assert_eq!(b["last_transition"]["from"], "Initialize", "{b:#}");
    assert_eq!(b["last_transition"]["to"], "Backup", "{b:#}");
    assert_eq!(b["last_transition"]["cause"], "Startup", "{b:#}");
    assert_eq!(b["transitions"], 1, "{b:#}");
    // Master_Down_Interval = 3 x 100 ms + (256 - 100) / 256 x 100 ms = 360.9 ms; an advert
    // every 100 ms arrives about 260 ms before it.
    let margin = b["timer_margin_ms"].as_f64().expect("a timer margin");
    assert!(margin > 0.0 && margin < 360.9, "margin {margin} ms");
    let min = b["min_timer_margin_ms"].as_f64().expect("a minimum margin");
    assert!(
        min > 0.0 && min <= margin,
        "min margin {min} ms, margin {margin}"
    );

    let page = fetch_metrics(&lab.ns("r2"), 9650);
    let l = r#"instance="VI_51",interface="eth0",vrid="51""#;
    let get = |name: &str, extra: &str| {
        let series = if extra.is_empty() {
            format!("{name}{{{l}}}")
        } else {
            format!("{name}{{{l},{extra}}}")
        };
        sample(&page, &series).unwrap_or_else(|| panic!("no {series} in\n{page}"))
    };
    assert_eq!(get("vrrpx_instance_state", r#"state="backup""#), 1.0);
    assert_eq!(get("vrrpx_instance_state", r#"state="master""#), 0.0);
    assert_eq!(get("vrrpx_instance_priority", r#"kind="base""#), 100.0);
    assert_eq!(get("vrrpx_instance_priority", r#"kind="effective""#), 100.0);
    assert_eq!(get("vrrpx_master_priority", ""), 150.0);
    assert!(get("vrrpx_adverts_received_total", "") > 0.0);
    let count = get("vrrpx_advert_interarrival_seconds_count", "");
    assert!(count > 0.0, "inter-arrival observations");
    // Cumulative buckets: those between 50 ms and 250 ms hold the 100 ms adverts.
    let le = |b: &str| {
        get(
            "vrrpx_advert_interarrival_seconds_bucket",
            &format!("le=\"{b}\""),
        )
    };
    let around = le("0.25") - le("0.05");
    eprintln!(
        "inter-arrival: {count} observations, {around} in (0.05, 0.25], {} in (0.05, 0.1]",
        le("0.1") - le("0.05")
    );
    assert!(
        around >= 0.8 * count,
        "most inter-arrivals near 0.1 s: {around} of {count}\n{page}"
    );
    assert_eq!(le("+Inf"), count);
    let sum = get("vrrpx_advert_interarrival_seconds_sum", "");
    let mean = sum / count;
    assert!((0.09..0.2).contains(&mean), "mean inter-arrival {mean} s");
    assert_eq!(
        sample(
            &page,
            r#"vrrpx_receive_path_info{interface="eth0",path="xdp (driver)"}"#
        ),
        Some(1.0)
    );

    let human = r2.cli(&lab, &["status"]);
    assert!(human.status.success());
    let human = String::from_utf8_lossy(&human.stdout);
    eprintln!("{human}");
    assert!(
        human.contains("VI_51") && human.contains("BACKUP"),
        "{human}"
    );
    assert!(human.contains("10.9.0.1 (150)"), "{human}");
}

//! A reload at 10 ms adverts: changing one of three instances restarts only that one
//! while the other two keep advertising without a gap (a passive `vrrp-agent monitor` on
//! the other host times every advert), and an invalid file is refused with file:line and
//! changes nothing. Configurations are in tests/ops/. Needs root and the release agent
//! (`cargo xtask test`).

use std::time::Duration;

use serde_json::Value;
use vrrp_agent::proto::router::StateName::Master;
use vrrpx_tests::agent::{instance_in, Agent, Monitor};
use vrrpx_tests::netns::{secs, wait_for};
use vrrpx_tests::pair::{fixture, has, pair_test};

/// CLOCK_MONOTONIC in ns: the clock of the XDP arrival timestamps.
fn monotonic_ns() -> u64 {
    // SAFETY: zeroed timespec is valid; clock_gettime writes it.
    let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
    // SAFETY: a valid clock id and a pointer to a live timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// The monitor's adverts for `vrid`: (ts_ns, priority), in arrival order.
fn adverts(lines: &[Value], vrid: u64) -> Vec<(u64, u64)> {
    lines
        .iter()
        .filter(|l| l["vrid"].as_u64() == Some(vrid))
        .map(|l| {
            (
                l["ts_ns"].as_u64().unwrap(),
                l["priority"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// The longest gap between consecutive adverts that touches the window [from, to], and
/// how many adverts fell inside it.
fn longest_gap(adv: &[(u64, u64)], from: u64, to: u64) -> (Duration, usize) {
    let inside = adv.iter().filter(|a| a.0 >= from && a.0 <= to).count();
    let gap = adv
        .windows(2)
        .filter(|w| w[1].0 >= from && w[0].0 <= to)
        .map(|w| w[1].0.saturating_sub(w[0].0))
        .max()
        .unwrap_or(u64::MAX);
    (Duration::from_nanos(gap), inside)
}

#[test]
fn a_reload_changing_one_of_three_10ms_instances_leaves_the_others_advertising_without_a_gap() {
    let (dir, mut lab) = pair_test("ops-reload");
    let conf = dir.join("r1.conf");
    std::fs::copy(fixture("ops/reload-three.conf"), &conf).unwrap();
    let r1 = Agent::start(&mut lab, "r1", &conf, &dir, &[]);
    let vips = ["10.9.0.151/24", "10.9.0.152/24", "10.9.0.153/24"];
    assert!(
        wait_for(secs(5), || vips.iter().all(|v| has(&lab, "r1", v))),
        "r1 masters all three\n{}",
        r1.log()
    );

    // r2 watches passively, with kernel arrival timestamps.
    let mon = Monitor::start(&mut lab, "r2", "eth0", &dir, &[]);
    assert!(
        wait_for(secs(5), || mon.lines().len() > 150),
        "the monitor hears adverts\n{}",
        mon.log()
    );
    std::thread::sleep(Duration::from_millis(300));

    // Change only VI_53 (priority 150 -> 120) and reload.
    let changes_before = r1.mark();
    std::fs::copy(fixture("ops/reload-three-changed.conf"), &conf).unwrap();
    let t_reload = monotonic_ns();
    let out = r1.cli(&lab, &["reload"]);
    let t_done = monotonic_ns();
    assert!(
        out.status.success(),
        "reload answers ok: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        r1.log()
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("reloaded"));
    eprintln!(
        "reload round trip {:?}",
        Duration::from_nanos(t_done - t_reload)
    );
    let st = r1.status_until(&lab, secs(3), |s| {
        instance_in(s, "VI_53").is_some_and(|i| i["base_priority"] == 120 && i["state"] == "Master")
    });
    let instance = |st, name| instance_in(st, name).unwrap();
    for name in ["VI_51", "VI_52", "VI_53"] {
        assert_eq!(instance(&st, name)["state"], "Master", "{name}: {st:#}");
    }
    assert_eq!(instance(&st, "VI_51")["base_priority"], 150);
    assert_eq!(instance(&st, "VI_52")["base_priority"], 150);
    assert_eq!(instance(&st, "VI_53")["base_priority"], 120);
    // Unchanged instances keep their first (and only) transitions.
    assert_eq!(instance(&st, "VI_51")["transitions"], 2, "{st:#}");
    assert_eq!(instance(&st, "VI_52")["transitions"], 2, "{st:#}");
    std::thread::sleep(Duration::from_millis(700));
    let after = r1.all_moves_since(changes_before);
    assert!(
        after.iter().all(|(name, _, _)| name == "VI_53"),
        "no transition for VI_51 or VI_52 after the reload: {after:#?}\n{}",
        r1.log()
    );
    assert!(
        after.iter().any(|(_, to, _)| *to == Master),
        "VI_53 restarted and is master again: {after:#?}"
    );
    // How the reload was applied is only logged: no event or status field says it.
    assert!(
        r1.log().contains("reload applied as a diff"),
        "{}",
        r1.log()
    );

    // An invalid file: refused with file:line, nothing changes.
    std::fs::copy(fixture("ops/reload-invalid.conf"), &conf).unwrap();
    let changes_before = r1.mark();
    let sent_before = r1.status(&lab).expect("r1 answers status");
    let t_bad = monotonic_ns();
    let out = r1.cli(&lab, &["reload"]);
    let t_bad_done = monotonic_ns();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    eprintln!("invalid reload: {err}");
    assert!(!out.status.success(), "an invalid file is refused");
    assert!(
        err.contains(&format!("{}:33", conf.display())) && err.contains("virtual_router_id"),
        "the error names file:line and the keyword: {err}"
    );
    std::thread::sleep(Duration::from_millis(1200));
    let st = r1.status(&lab).expect("r1 answers status");
    assert_eq!(st["instances"].as_array().unwrap().len(), 3, "{st:#}");
    for name in ["VI_51", "VI_52", "VI_53"] {
        let i = instance(&st, name);
        assert_eq!(i["state"], "Master", "{name}: {st:#}");
        let sent = i["adverts_sent"].as_u64().unwrap();
        let was = instance(&sent_before, name)["adverts_sent"]
            .as_u64()
            .unwrap();
        assert!(
            sent >= was + 50,
            "{name} still advertising: {was} -> {sent}"
        );
    }
    assert_eq!(instance(&st, "VI_53")["base_priority"], 120, "unchanged");
    assert_eq!(
        r1.all_moves_since(changes_before),
        [],
        "no transition after the refused reload\n{}",
        r1.log()
    );
    assert!(vips.iter().all(|v| has(&lab, "r1", v)), "addresses kept");

    assert!(
        lab.stop(mon.idx, libc::SIGTERM, secs(3)).unwrap(),
        "the monitor stops"
    );
    let lines = mon.lines();
    let ms = |ms: u64| ms * 1_000_000;
    for vrid in [51, 52] {
        let adv = adverts(&lines, vrid);
        let (gap, n) = longest_gap(&adv, t_reload - ms(300), t_done + ms(800));
        eprintln!("VRID {vrid} around the reload: {n} adverts, longest gap {gap:?}");
        assert!(n >= 50, "VRID {vrid}: {n} adverts around the reload");
        assert!(
            gap <= Duration::from_millis(20),
            "VRID {vrid}: gap {gap:?} around the reload (10 ms adverts)"
        );
        assert!(
            adv.iter().all(|a| a.1 == 150),
            "VRID {vrid} always advertised 150 (never resigned)"
        );
    }
    let adv53 = adverts(&lines, 53);
    assert!(
        adv53.iter().any(|a| a.0 > t_done && a.1 == 120),
        "VRID 53 advertises its new priority"
    );
    // Still advertising through the refused reload: no gap a backup would act on (its
    // Master_Down_Interval at priority 100 is 3 x 10 ms + 156/256 x 10 ms = 36.1 ms).
    for vrid in [51, 52, 53] {
        let adv = adverts(&lines, vrid);
        let (gap, n) = longest_gap(&adv, t_bad - ms(300), t_bad_done + ms(800));
        eprintln!("VRID {vrid} around the refused reload: {n} adverts, longest gap {gap:?}");
        assert!(
            gap <= Duration::from_millis(30) && n >= 50,
            "VRID {vrid}: gap {gap:?}, {n} adverts around the refused reload"
        );
    }
}

/// keepalived users add and remove virtual addresses on live pairs and reload. The master
/// keeps its role through it (no resignation, so the backup never takes over): it adds
/// the new address, drops the removed one, and its adverts carry the new list, which the
/// backup (configured with the old one) logs as a difference.
#[test]
fn a_reload_that_adds_and_removes_virtual_addresses_keeps_the_master_and_moves_no_role() {
    let (dir, mut lab) = pair_test("ops-readdress");
    let conf = |path: &std::path::Path, priority: u8, vips: &[&str]| {
        let list: String = vips.iter().map(|v| format!("        {v}\n")).collect();
        std::fs::write(
            path,
            format!(
                "vrrp_instance VI_1 {{\n    state BACKUP\n    interface eth0\n    version 3\n    virtual_router_id 51\n    priority {priority}\n    advert_int 0.1\n    virtual_ipaddress {{\n{list}    }}\n}}\n"
            ),
        )
        .unwrap();
    };
    let (c1, c2) = (dir.join("r1.conf"), dir.join("r2.conf"));
    conf(&c1, 150, &["10.9.0.100/24", "10.9.0.101/24"]);
    conf(&c2, 100, &["10.9.0.100/24", "10.9.0.101/24"]);
    let r1 = Agent::start(&mut lab, "r1", &c1, &dir, &[]);
    let r2 = Agent::start(&mut lab, "r2", &c2, &dir, &[]);
    assert!(
        wait_for(secs(10), || has(&lab, "r1", "10.9.0.101/24")
            && r2.state(&lab, "VI_1").as_deref() == Some("Backup")),
        "r1 masters, r2 follows\n{}",
        vrrpx_tests::agent::logs(&[&r1, &r2])
    );
    std::thread::sleep(Duration::from_millis(500));
    let (m1, m2) = (r1.mark(), r2.mark());
    // 10.9.0.101 goes, 10.9.0.102 comes.
    conf(&c1, 150, &["10.9.0.100/24", "10.9.0.102/24"]);
    let out = r1.cli(&lab, &["reload"]);
    assert!(out.status.success(), "{}", r1.log());
    assert!(
        wait_for(secs(3), || has(&lab, "r1", "10.9.0.102/24")
            && !has(&lab, "r1", "10.9.0.101/24")),
        "r1 holds the new list\n{}",
        r1.log()
    );
    assert!(has(&lab, "r1", "10.9.0.100/24"), "the kept address stays");
    assert!(
        r2.wait_log_line(
            &["peer advertises a different configuration", "10.9.0.102"],
            secs(3)
        )
        .is_some(),
        "the backup hears the new list\n{}",
        r2.log()
    );
    std::thread::sleep(Duration::from_millis(700));
    assert_eq!(
        r1.all_moves_since(m1),
        vec![],
        "r1 kept its role\n{}",
        r1.log()
    );
    assert_eq!(
        r2.all_moves_since(m2),
        vec![],
        "r2 never took over\n{}",
        r2.log()
    );
    for v in ["10.9.0.100/24", "10.9.0.101/24", "10.9.0.102/24"] {
        assert!(!has(&lab, "r2", v), "{v} on r2");
    }
}

//! The receive state in a running pair (docs/kernel-state.md), started the plain way
//! (`vrrp-agent run -f FILE`) on both receive paths where the path matters: a healthy
//! backup of 20 masters at 10 ms sleeps through their adverts; a backup stalled for twice
//! Master_Down does not take over while the master lives; a silent master is taken over
//! from within Master_Down; priority 0 and preemption still act at once; a master's
//! replies to a flood of lower-priority adverts are rate-limited and counted; and the
//! status counts absorbed adverts as received. Needs root and the release agent
//! (`cargo xtask test`).

use std::path::Path;
use std::time::{Duration, Instant};

use vrrp_agent::proto::router::StateName;
use vrrpx_tests::agent::{expect_alone, logs, Agent};
use vrrpx_tests::frames::Advert;
use vrrpx_tests::inject::burst_in;
use vrrpx_tests::netns::{secs, wait_for, Lab};
use vrrpx_tests::pair::{config, has, pair_test, wait_holder, VIP};

/// The two receive paths: XDP (the default) and the raw socket.
const PATHS: [(&str, &[&str]); 2] = [("xdp", &[]), ("raw", &["--no-xdp"])];

/// Context switches (voluntary and not) of every thread of `pid` so far: each is a
/// wake-up of the process or a preemption of it.
fn context_switches(pid: u32) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("status")).ok())
        .flat_map(|s| {
            s.lines()
                .filter(|l| l.contains("ctxt_switches:"))
                .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
                .collect::<Vec<_>>()
        })
        .sum()
}

/// A keepalived.conf with VRIDs 1..=`n` on eth0 at `priority`, `advert_int` seconds,
/// VIP 10.9.1.VRID/24 each.
fn instances_conf(router_id: &str, priority: u8, n: u8, advert_int: &str) -> String {
    let mut s = format!("global_defs {{\n    router_id {router_id}\n    vrrp_version 3\n}}\n");
    for id in 1..=n {
        s.push_str(&format!(
            "\nvrrp_instance VI_{id} {{\n    state BACKUP\n    interface eth0\n    \
             virtual_router_id {id}\n    priority {priority}\n    advert_int {advert_int}\n    \
             virtual_ipaddress {{\n        10.9.1.{id}/24\n    }}\n}}\n"
        ));
    }
    s
}

fn present(lab: &Lab, h: &str, vips: &[String]) -> usize {
    let have = lab.addrs(h, "eth0").unwrap();
    vips.iter().filter(|v| have.contains(v)).count()
}

/// r1 (150) and r2 (100) with `n` instances at `advert_int`, r1 master of all; `extra`
/// for both.
fn many(lab: &mut Lab, dir: &Path, n: u8, advert_int: &str, extra: &[&str]) -> (Agent, Agent) {
    let (a, b) = (dir.join("many-a.conf"), dir.join("many-b.conf"));
    std::fs::write(&a, instances_conf("r1", 150, n, advert_int)).unwrap();
    std::fs::write(&b, instances_conf("r2", 100, n, advert_int)).unwrap();
    let r1 = Agent::start(lab, "r1", &a, dir, extra);
    let r2 = Agent::start(lab, "r2", &b, dir, extra);
    let vips: Vec<String> = (1..=n).map(|id| format!("10.9.1.{id}/24")).collect();
    assert!(
        wait_for(secs(10), || present(lab, "r1", &vips) == vips.len()
            && present(lab, "r2", &vips) == 0),
        "all {n} on r1 only\n{}",
        logs(&[&r1, &r2])
    );
    (r1, r2)
}

#[test]
fn a_healthy_backup_of_twenty_10ms_masters_wakes_far_less_than_once_per_advert() {
    let (dir, mut lab) = pair_test("kstate-wakeups");
    const N: u8 = 20;
    let (r1, r2) = many(&mut lab, &dir, N, "0.01", &[]);
    std::thread::sleep(secs(1));
    let pid = r2.pid(&lab);
    let span = secs(3);
    let before = context_switches(pid);
    std::thread::sleep(span);
    let woke = context_switches(pid) - before;
    let adverts = N as u64 * 100 * span.as_secs();
    eprintln!("backup: {woke} context switches while {adverts} adverts arrived");
    // The kernel times Master_Down: the backup wakes for its once-a-second status and
    // retry ticks and its one-second safety net, not for adverts (a wake-up per advert
    // would be 6000; measured here: about 10).
    assert!(
        woke < adverts / 30,
        "{woke} context switches for {adverts} adverts\n{}",
        logs(&[&r1, &r2])
    );
    for id in 1..=N {
        let name = format!("VI_{id}");
        assert_eq!(
            r2.times_to(&name, StateName::Master),
            0,
            "{name} never left Backup"
        );
    }
}

/// The example pair (r1 150 master, r2 100 backup, 100 ms adverts) in a lab of its own,
/// both started with `extra`, r1 the one master.
fn elected_pair(name: &str, extra: &[&str]) -> (std::path::PathBuf, Lab, Agent, Agent) {
    let (dir, mut lab) = pair_test(name);
    let r1 = Agent::start(&mut lab, "r1", &config("pair-master.conf"), &dir, extra);
    let r2 = Agent::start(&mut lab, "r2", &config("pair-backup.conf"), &dir, extra);
    expect_alone(&lab, "r1", VIP, secs(5), &[&r1, &r2]);
    (dir, lab, r1, r2)
}

#[test]
fn a_backup_stalled_for_twice_master_down_does_not_take_over_on_either_path() {
    for (path, extra) in PATHS {
        let (_dir, lab, _r1, r2) = elected_pair(&format!("kstate-stall-{path}"), extra);
        std::thread::sleep(Duration::from_millis(500));
        let mark = r2.mark();
        r2.signal(&lab, libc::SIGSTOP);
        std::thread::sleep(Duration::from_millis(800)); // > 2 x 361 ms
        r2.signal(&lab, libc::SIGCONT);
        std::thread::sleep(Duration::from_millis(700));
        assert_eq!(
            r2.moves_since(mark, "VI_51"),
            [],
            "{path}: no false takeover\n{}",
            r2.log()
        );
        assert!(!has(&lab, "r2", VIP), "{path}");
    }
}

#[test]
fn a_silent_master_is_taken_over_from_within_master_down_on_either_path() {
    for (path, extra) in PATHS {
        let (_dir, lab, r1, r2) = elected_pair(&format!("kstate-silent-{path}"), extra);
        // Long enough for the backup to absorb adverts, not only hear the first one.
        std::thread::sleep(secs(1));
        let t0 = Instant::now();
        // SIGSTOP: the master goes silent without a word (and keeps its address).
        r1.signal(&lab, libc::SIGSTOP);
        assert!(
            wait_for(secs(3), || has(&lab, "r2", VIP)),
            "{path}: r2 took over\n{}",
            r2.log()
        );
        let took = t0.elapsed();
        let cause = r2.last_cause(&lab, "VI_51");
        r1.signal(&lab, libc::SIGCONT);
        // 100 ms adverts at priority 100: Master_Down 360.9 ms; polling slack.
        assert!(
            took < Duration::from_millis(600),
            "{path}: takeover after {took:?}"
        );
        assert_eq!(cause.as_deref(), Some("MasterDown"), "{path}");
    }
}

#[test]
fn priority_zero_hands_over_after_skew_and_a_returning_master_preempts_on_either_path() {
    for (path, extra) in PATHS {
        let (dir, mut lab, r1, r2) = elected_pair(&format!("kstate-handover-{path}"), extra);
        std::thread::sleep(secs(1));
        assert!(
            r1.stop(&mut lab, libc::SIGTERM, secs(1)),
            "{path}: r1 exits"
        );
        let took = wait_holder(&lab, "r2", "r1", VIP, secs(2)).expect("r2 took over");
        // Skew_Time(100) at 100 ms: 61 ms, far below Master_Down.
        assert!(
            took < Duration::from_millis(250),
            "{path}: handover after {took:?}"
        );
        assert_eq!(
            r2.last_cause(&lab, "VI_51").as_deref(),
            Some("MasterResigned")
        );
        let r1 = Agent::start(&mut lab, "r1", &config("pair-master.conf"), &dir, extra);
        expect_alone(&lab, "r1", VIP, secs(3), &[&r1, &r2]);
        assert_eq!(
            r2.last_cause(&lab, "VI_51").as_deref(),
            Some("Preempted"),
            "{path}"
        );
    }
}

#[test]
fn a_master_flooded_with_lower_priority_adverts_reports_few_and_counts_the_rest_as_rate_limited() {
    let (dir, mut lab) = pair_test("kstate-ratelimit");
    lab.host("r3", "eth0", &["10.9.0.3/24"]).unwrap();
    let r1 = Agent::start(&mut lab, "r1", &config("pair-master.conf"), &dir, &[]);
    assert!(
        r1.wait_state(&lab, "VI_51", "Master", secs(5)),
        "{}",
        r1.log()
    );
    let forged = Advert {
        priority: 50,
        interval: 10,
        src: "10.9.0.3".parse().unwrap(),
        ..Advert::v3_ipv4()
    }
    .build();
    // 2000 in about a second: 10 advert intervals of r1's 100 ms.
    let sent = burst_in(&lab.ns("r3"), "eth0", vec![forged], 2000, 2000, secs(3)).unwrap();
    assert_eq!(sent, 2000);
    // Counters are read every 5 s.
    let status = r1.status_until(&lab, secs(8), |s| {
        s["rejections"]["eth0"]["rate_limited"]
            .as_u64()
            .unwrap_or(0)
            > 0
    });
    let limited = status["rejections"]["eth0"]["rate_limited"]
        .as_u64()
        .unwrap_or(0);
    let vi = &status["instances"][0];
    let received = vi["adverts_received"].as_u64().unwrap_or(0);
    let suppressed = vi["replies_suppressed"].as_u64().unwrap_or(0);
    eprintln!("rate_limited {limited}, reported {received}, replies suppressed {suppressed}");
    // At most one report per 100 ms interval (with a little slack for the burst's edges).
    assert!(received <= 20, "{received} reported to the state machine");
    assert!(
        limited >= 1980 - received,
        "rate-limited {limited} of {sent}"
    );
    assert_eq!(vi["state"].as_str(), Some("Master"));
}

#[test]
fn the_status_counts_absorbed_adverts_as_received() {
    let (dir, mut lab) = pair_test("kstate-status");
    let r1 = Agent::start(&mut lab, "r1", &config("pair-master.conf"), &dir, &[]);
    let r2 = Agent::start(&mut lab, "r2", &config("pair-backup.conf"), &dir, &[]);
    expect_alone(&lab, "r1", VIP, secs(5), &[&r1, &r2]);
    // 100 ms adverts; the counters are read every 5 s.
    let status = r2.status_until(&lab, secs(12), |s| {
        s["instances"][0]["adverts_received"].as_u64().unwrap_or(0) >= 40
    });
    let vi = &status["instances"][0];
    assert!(
        vi["adverts_received"].as_u64().unwrap_or(0) >= 40,
        "absorbed adverts counted as received: {vi}"
    );
    let margin = vi["timer_margin_ms"].as_f64().unwrap_or(0.0);
    // Master_Down 360.9 ms minus about 100 ms between two adverts.
    assert!((150.0..361.0).contains(&margin), "timer margin {margin} ms");
}

/// A Backup's receive path absorbs its master's unchanged adverts. A master that starts
/// advertising another address list (same source, priority and interval) must reach the
/// state machine again, which compares the list with its own and logs the difference
/// (RFC 5798 §5.2.8: the checksum covers the list, and the kernel keeps it). The master
/// here is crafted frames from r1, so nothing else about it changes.
#[test]
fn a_followed_master_that_advertises_another_address_list_is_logged_by_the_backup() {
    let (dir, mut lab) = pair_test("kstate-relist");
    let r2 = Agent::start(&mut lab, "r2", &config("pair-backup.conf"), &dir, &[]);
    let master = |addrs: &[&str]| {
        Advert {
            vrid: 51,
            priority: 150,
            interval: 10,
            src: "10.9.0.1".parse().unwrap(),
            addrs: addrs.iter().map(|a| a.parse().unwrap()).collect(),
            ..Advert::v3_ipv4()
        }
        .build()
    };
    let same = master(&["10.9.0.100"]);
    let sent = burst_in(&lab.ns("r1"), "eth0", vec![same], 15, 10, secs(3)).unwrap();
    assert_eq!(sent, 15);
    assert_eq!(
        r2.state(&lab, "VI_51"),
        Some("Backup".to_string()),
        "{}",
        r2.log()
    );
    let warned = || {
        r2.log()
            .contains("peer advertises a different configuration")
    };
    assert!(!warned(), "the same list so far\n{}", r2.log());
    let more = master(&["10.9.0.100", "10.9.0.101"]);
    let sent = burst_in(&lab.ns("r1"), "eth0", vec![more], 10, 10, secs(3)).unwrap();
    assert_eq!(sent, 10);
    let line = r2
        .wait_log_line(&["peer advertises a different configuration"], secs(2))
        .unwrap_or_else(|| panic!("the backup never heard the new list\n{}", r2.log()));
    assert!(line.contains("10.9.0.101"), "{line}");
    assert_eq!(r2.state(&lab, "VI_51"), Some("Backup".to_string()));
}

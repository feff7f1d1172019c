//! The host doing what hosts do while vrrp-agent runs (each test started the plain way,
//! `vrrp-agent run -f FILE` with default paths): booting without carrier, a first health
//! check that fails, someone deleting the virtual address or re-addressing the interface,
//! a second daemon in another namespace and in the same one, one VRID with use_vmac on two
//! interfaces, a sync group with a member still failing, preempt_delay after a health
//! recovery, a cosmetic reload, a link flap on the raw-socket path, and running out of file
//! descriptors. Needs root and the release agent (`cargo xtask test`).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use vrrp_agent::proto::router::{Cause, StateName};
use vrrpx_tests::agent::{cpu_ns, expect_ok, Agent};
use vrrpx_tests::netns::{secs, wait_for, Lab};
use vrrpx_tests::pair::{bare_test, config, has, pair_test, VIP};

/// A keepalived.conf with one VRRPv3 instance VI_1 (VRID 51, 100 ms adverts, VIP
/// 10.9.0.100/24 on eth0) plus `extra` lines inside it and `top` before it.
fn conf(dir: &Path, name: &str, priority: u8, top: &str, extra: &str) -> PathBuf {
    let text = format!(
        "global_defs {{\n    vrrp_version 3\n}}\n{top}\nvrrp_instance VI_1 {{\n    state BACKUP\n    interface eth0\n    virtual_router_id 51\n    priority {priority}\n    advert_int 0.1\n{extra}\n    virtual_ipaddress {{\n        10.9.0.100/24\n    }}\n}}\n"
    );
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// A check script (no shell) that passes while `flag` exists.
fn file_check(name: &str, flag: &Path, weight: Option<i32>) -> String {
    let weight = weight
        .map(|w| format!("    weight {w}\n"))
        .unwrap_or_default();
    format!(
        "vrrp_script {name} {{\n    script \"/usr/bin/test -f {}\"\n    interval 1\n    rise 1\n    fall 1\n{weight}}}\n",
        flag.display()
    )
}

/// r1.conf at priority 150 tracking check `chk` on `flag` ([`file_check`], `weight`),
/// with `extra` lines in the instance.
fn checked_conf(dir: &Path, flag: &Path, weight: Option<i32>, extra: &str) -> PathBuf {
    let track = format!("{extra}    track_script {{\n        chk\n    }}");
    conf(
        dir,
        "r1.conf",
        150,
        &file_check("chk", flag, weight),
        &track,
    )
}

fn only(lab: &Lab, h: &str, other: &str) -> bool {
    vrrpx_tests::pair::only(lab, h, other, VIP)
}

/// `agent`'s instance `name` reaches Fault within `limit`, for `cause`.
fn expect_fault(lab: &Lab, agent: &Agent, name: &str, cause: &str, limit: Duration) {
    assert!(
        agent.wait_state(lab, name, "Fault", limit),
        "{name} not in FAULT\n{}",
        agent.log()
    );
    assert_eq!(agent.last_cause(lab, name).as_deref(), Some(cause));
}

/// `agent`'s VI_1 reaches Master and its host holds the VIP.
fn runs_as_master(lab: &Lab, agent: &Agent) {
    assert!(
        agent.wait_state(lab, "VI_1", "Master", secs(10)),
        "{}",
        agent.log()
    );
    assert!(wait_for(secs(10), || has(lab, &agent.host, VIP)));
}

/// Start host `h` on [`conf`] at `priority` with nothing extra: `H.conf` in `dir`.
fn plain(lab: &mut Lab, dir: &Path, h: &str, priority: u8, flags: &[&str]) -> Agent {
    let c = conf(dir, &format!("{h}.conf"), priority, "", "");
    Agent::start(lab, h, &c, dir, flags)
}

/// r1 (150) and r2 (100) on plain files, r1 the one holder.
fn plain_pair(lab: &mut Lab, dir: &Path) -> (Agent, Agent) {
    let r1 = plain(lab, dir, "r1", 150, &[]);
    let r2 = plain(lab, dir, "r2", 100, &[]);
    assert!(
        wait_for(secs(10), || only(lab, "r1", "r2")),
        "r1 alone holds {VIP}\n{}",
        vrrpx_tests::agent::logs(&[&r1, &r2])
    );
    (r1, r2)
}

#[test]
fn an_instance_started_without_carrier_reports_fault_and_runs_when_carrier_comes() {
    let (dir, mut lab) = pair_test("host-carrier");
    lab.cut("r1").unwrap();
    let r1 = plain(&mut lab, &dir, "r1", 150, &[]);
    // No carrier at start: FAULT, not INIT.
    expect_fault(&lab, &r1, "VI_1", "InterfaceDown", secs(10));
    assert!(!has(&lab, "r1", VIP));
    lab.set_port("p-r1", true).unwrap();
    // Carrier came: it starts and, alone, becomes MASTER.
    runs_as_master(&lab, &r1);
}

#[test]
fn a_first_failing_check_gives_fault_and_a_pass_starts_the_instance() {
    let (dir, mut lab) = pair_test("host-firstfail");
    let flag = dir.join("healthy");
    let c = checked_conf(&dir, &flag, None, "");
    let r1 = Agent::start(&mut lab, "r1", &c, &dir, &[]);
    // The first run failed: FAULT.
    expect_fault(&lab, &r1, "VI_1", "TrackFailed", secs(10));
    std::fs::write(&flag, "").unwrap();
    // The check passes: the instance starts.
    runs_as_master(&lab, &r1);
}

#[test]
fn a_virtual_address_deleted_on_the_master_comes_back_on_exactly_one_router() {
    let (dir, mut lab) = pair_test("host-vipdel");
    let (r1, _r2) = plain_pair(&mut lab, &dir);
    lab.exec("r1", &["ip", "addr", "del", VIP, "dev", "eth0"])
        .unwrap();
    assert!(
        wait_for(secs(10), || has(&lab, "r1", VIP)),
        "the master put it back\n{}",
        r1.log()
    );
    std::thread::sleep(Duration::from_millis(500));
    assert!(only(&lab, "r1", "r2"), "exactly one holder");
    assert!(r1.log().contains("removed by someone else"), "{}", r1.log());
}

#[test]
fn an_address_the_administrator_added_by_hand_is_never_removed() {
    let (dir, mut lab) = pair_test("host-admin");
    // The administrator already put the VIP on r1 before the agent started.
    lab.exec("r1", &["ip", "addr", "add", VIP, "dev", "eth0"])
        .unwrap();
    let r1 = plain(&mut lab, &dir, "r1", 150, &[]);
    assert!(r1.wait_state(&lab, "VI_1", "Master", secs(10)));
    // A higher priority router takes the role: r1 leaves Master but keeps the address it
    // did not add.
    let _r2 = plain(&mut lab, &dir, "r2", 200, &[]);
    assert!(r1.wait_state(&lab, "VI_1", "Backup", secs(10)));
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        has(&lab, "r1", VIP),
        "hand-added address kept\n{}",
        r1.log()
    );
    assert!(
        r1.moves_since(0, "VI_1")
            .contains(&(StateName::Backup, Cause::Preempted)),
        "{:?}",
        r1.events()
    );
    // The state-change line names its real cause and the master that won: the wording of
    // the log line is what this checks (the event carries no master).
    assert!(
        r1.log().lines().any(|l| l.contains("to=BACKUP")
            && l.contains("cause=Preempted")
            && l.contains("master=\"10.9.0.2 priority 200\"")),
        "{}",
        r1.log()
    );
}

#[test]
fn a_changed_primary_address_becomes_the_advert_source() {
    let (dir, mut lab) = pair_test("host-readdress");
    let (r1, r2) = plain_pair(&mut lab, &dir);
    let heard = |a: &Agent| {
        a.instance(&lab, "VI_1")
            .and_then(|i| i["master"][0].as_str().map(str::to_string))
    };
    assert!(wait_for(secs(10), || heard(&r2).as_deref() == Some("10.9.0.1")));
    // netplan-style re-addressing: the new address first, then the old one goes.
    lab.exec("r1", &["ip", "addr", "add", "10.9.0.11/24", "dev", "eth0"])
        .unwrap();
    lab.exec("r1", &["ip", "addr", "del", "10.9.0.1/24", "dev", "eth0"])
        .unwrap();
    assert!(
        wait_for(secs(10), || heard(&r2).as_deref() == Some("10.9.0.11")),
        "r2 hears r1 from its new address\nr1: {}\nr2: {:?}",
        r1.log(),
        r2.instance(&lab, "VI_1")
    );
    assert!(only(&lab, "r1", "r2"), "the election did not move");
}

#[test]
fn daemons_in_two_namespaces_each_answer_status_and_stay_idle() {
    let (dir, mut lab) = pair_test("host-twons");
    let (r1, r2) = plain_pair(&mut lab, &dir);
    assert!(r1.wait_state(&lab, "VI_1", "Master", secs(10)));
    assert!(r2.wait_state(&lab, "VI_1", "Backup", secs(10)));
    let pids = [r1.pid(&lab), r2.pid(&lab)];
    assert_eq!(
        r1.status(&lab).unwrap()["pid"].as_u64(),
        Some(pids[0] as u64),
        "status in r1 reached r1's daemon"
    );
    assert_eq!(
        r2.status(&lab).unwrap()["pid"].as_u64(),
        Some(pids[1] as u64),
        "status in r2 reached r2's daemon"
    );
    let before: Vec<u64> = pids.iter().map(|&p| cpu_ns(p)).collect();
    let t0 = Instant::now();
    std::thread::sleep(secs(3));
    let wall = t0.elapsed().as_nanos() as f64;
    for (k, &p) in pids.iter().enumerate() {
        let pct = (cpu_ns(p) - before[k]) as f64 / wall * 100.0;
        assert!(pct < 1.0, "agent {k} used {pct:.2} % of a core while idle");
    }
}

#[test]
fn a_second_daemon_in_the_same_namespace_is_refused_and_the_first_keeps_its_address() {
    let (dir, mut lab) = pair_test("host-samens");
    let c = conf(&dir, "r1.conf", 150, "", "");
    let r1 = Agent::start(&mut lab, "r1", &c, &dir, &[]);
    assert!(r1.wait_state(&lab, "VI_1", "Master", secs(10)));
    let out = r1.cli(&lab, &["run", "-f", c.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("already running"), "{err}");
    assert!(has(&lab, "r1", VIP), "the first daemon's address stays");
    assert_eq!(r1.state(&lab, "VI_1").as_deref(), Some("Master"));
}

#[test]
fn one_vrid_with_use_vmac_on_two_interfaces_gets_two_macvlans() {
    let (dir, mut lab) = bare_test("host-vmac2");
    lab.host("r1", "eth0", &["10.9.0.1/24"]).unwrap();
    // A second segment of its own (a veth pair inside r1, both ends up, so it has
    // carrier), so the two instances do not hear each other.
    lab.exec(
        "r1",
        &[
            "ip", "link", "add", "eth1", "type", "veth", "peer", "name", "eth1p",
        ],
    )
    .unwrap();
    lab.exec("r1", &["ip", "addr", "add", "10.9.6.1/24", "dev", "eth1"])
        .unwrap();
    lab.exec("r1", &["ip", "link", "set", "eth1p", "up"])
        .unwrap();
    lab.exec("r1", &["ip", "link", "set", "eth1", "up"])
        .unwrap();
    let text = "global_defs {\n    vrrp_version 3\n}\n\
        vrrp_instance FRONT {\n    interface eth0\n    use_vmac\n    virtual_router_id 51\n    priority 150\n    advert_int 0.1\n    virtual_ipaddress {\n        10.9.0.100/24\n    }\n}\n\
        vrrp_instance BACK {\n    interface eth1\n    use_vmac\n    virtual_router_id 51\n    priority 150\n    advert_int 0.1\n    virtual_ipaddress {\n        10.9.6.100/24\n    }\n}\n";
    let c = dir.join("r1.conf");
    std::fs::write(&c, text).unwrap();
    let r1 = Agent::start(&mut lab, "r1", &c, &dir, &[]);
    assert!(
        r1.wait_state(&lab, "FRONT", "Master", secs(10))
            && r1.wait_state(&lab, "BACK", "Master", secs(10)),
        "both instances run\n{}",
        r1.log()
    );
    let links = lab
        .exec("r1", &["ip", "-o", "link", "show", "type", "macvlan"])
        .unwrap();
    let links = String::from_utf8_lossy(&links.stdout).to_string();
    assert!(links.contains("vrrp.51@eth0"), "{links}");
    assert!(links.contains("vrrp1.51@eth1"), "{links}");
    assert!(lab.holds("r1", "vrrp.51", "10.9.0.100/24"));
    assert!(lab.holds("r1", "vrrp1.51", "10.9.6.100/24"));
}

#[test]
fn a_sync_group_member_whose_own_check_fails_stays_in_fault_when_the_other_recovers() {
    let (dir, mut lab) = bare_test("host-syncfail");
    lab.host("r1", "eth0", &["10.9.0.1/24"]).unwrap();
    lab.attach("r1", "eth1", &["10.9.6.1/24"]).unwrap();
    let (fa, fb) = (dir.join("a-ok"), dir.join("b-ok"));
    let text = format!(
        "global_defs {{\n    vrrp_version 3\n}}\n{}{}\
        vrrp_sync_group G {{\n    group {{\n        A\n        B\n    }}\n}}\n\
        vrrp_instance A {{\n    interface eth0\n    virtual_router_id 51\n    priority 150\n    advert_int 0.1\n    track_script {{\n        chk_a\n    }}\n    virtual_ipaddress {{\n        10.9.0.100/24\n    }}\n}}\n\
        vrrp_instance B {{\n    interface eth1\n    virtual_router_id 52\n    priority 150\n    advert_int 0.1\n    track_script {{\n        chk_b\n    }}\n    virtual_ipaddress {{\n        10.9.6.100/24\n    }}\n}}\n",
        file_check("chk_a", &fa, None),
        file_check("chk_b", &fb, None)
    );
    let c = dir.join("r1.conf");
    std::fs::write(&c, text).unwrap();
    let r1 = Agent::start(&mut lab, "r1", &c, &dir, &[]);
    assert!(
        r1.wait_state(&lab, "A", "Fault", secs(10)) && r1.wait_state(&lab, "B", "Fault", secs(10)),
        "both checks fail: both FAULT\n{}",
        r1.log()
    );
    // A's check passes; B's still fails: keepalived keeps the whole group in FAULT, and B
    // above all must not be restarted.
    std::fs::write(&fa, "").unwrap();
    std::thread::sleep(secs(3));
    assert_eq!(
        r1.state(&lab, "B").as_deref(),
        Some("Fault"),
        "{}",
        r1.log()
    );
    assert_eq!(
        r1.state(&lab, "A").as_deref(),
        Some("Fault"),
        "{}",
        r1.log()
    );
    assert!(!lab.holds("r1", "eth0", "10.9.0.100/24") && !lab.holds("r1", "eth1", "10.9.6.100/24"));
    std::fs::write(&fb, "").unwrap();
    assert!(
        r1.wait_state(&lab, "A", "Master", secs(10))
            && r1.wait_state(&lab, "B", "Master", secs(10)),
        "both recovered: the group runs\n{}",
        r1.log()
    );
}

#[test]
fn preempt_delay_after_a_health_recovery_waits_before_taking_the_role_back() {
    let (dir, mut lab) = pair_test("host-pdelay");
    let flag = dir.join("healthy");
    // r1: priority 150, a weighted check (-100 while failing) and a 3 s preempt_delay.
    let c1 = checked_conf(&dir, &flag, Some(-100), "    preempt_delay 3\n");
    let r1 = Agent::start(&mut lab, "r1", &c1, &dir, &[]);
    let _r2 = plain(&mut lab, &dir, "r2", 100, &[]);
    assert!(
        wait_for(secs(10), || only(&lab, "r2", "r1")),
        "r1 is unhealthy (50): r2 is master\n{}",
        r1.log()
    );
    // Long after start-up (beyond the delay), r1's check recovers.
    std::thread::sleep(secs(4));
    std::fs::write(&flag, "").unwrap();
    let t0 = Instant::now();
    assert!(
        wait_for(secs(10), || has(&lab, "r1", VIP)),
        "r1 takes the role back in the end\n{}",
        r1.log()
    );
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_millis(2500),
        "preempted after {took:?}: the delay must run from the recovery, not from start-up"
    );
}

#[test]
fn a_reload_that_changes_only_a_notify_path_makes_no_transition() {
    let (dir, mut lab) = pair_test("host-reload");
    let c = conf(&dir, "r1.conf", 150, "", "    notify_master /bin/true");
    let r1 = Agent::start(&mut lab, "r1", &c, &dir, &[]);
    let _r2 = plain(&mut lab, &dir, "r2", 100, &[]);
    assert!(r1.wait_state(&lab, "VI_1", "Master", secs(10)));
    std::thread::sleep(Duration::from_millis(300));
    let before = r1.transitions(&lab, "VI_1").unwrap();
    let mark = r1.mark();
    conf(&dir, "r1.conf", 150, "", "    notify_master /usr/bin/true");
    assert!(expect_ok(r1.cli(&lab, &["reload"])).contains("reloaded"));
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        r1.transitions(&lab, "VI_1"),
        Some(before),
        "no transition\n{}",
        r1.log()
    );
    assert_eq!(
        r1.moves_since(mark, "VI_1"),
        [],
        "no transition event either"
    );
    assert_eq!(r1.state(&lab, "VI_1").as_deref(), Some("Master"));
    assert!(only(&lab, "r1", "r2"));
}

#[test]
fn a_link_flap_on_the_raw_socket_path_faults_and_recovers_without_ending_the_daemon() {
    let (dir, mut lab) = pair_test("host-rawflap");
    let r1 = plain(&mut lab, &dir, "r1", 150, &["--no-xdp"]);
    assert!(r1.wait_state(&lab, "VI_1", "Master", secs(10)));
    for _ in 0..3 {
        lab.cut("r1").unwrap();
        assert!(
            r1.wait_state(&lab, "VI_1", "Fault", secs(10)),
            "{}",
            r1.log()
        );
        lab.set_port("p-r1", true).unwrap();
        assert!(
            r1.wait_state(&lab, "VI_1", "Master", secs(10)),
            "{}",
            r1.log()
        );
    }
    assert!(
        !r1.exited(&mut lab),
        "the daemon is still running\n{}",
        r1.log()
    );
    assert!(has(&lab, "r1", VIP));
}

#[test]
fn running_out_of_file_descriptors_does_not_move_a_master() {
    let (dir, mut lab) = pair_test("host-emfile");
    let r1 = plain(&mut lab, &dir, "r1", 150, &["--metrics", "10.9.0.1:9650"]);
    let _r2 = plain(&mut lab, &dir, "r2", 100, &[]);
    assert!(r1.wait_state(&lab, "VI_1", "Master", secs(10)));
    assert!(wait_for(secs(10), || only(&lab, "r1", "r2")));
    let before = r1.transitions(&lab, "VI_1").unwrap();
    let mark = r1.mark();
    // Squeeze the daemon's descriptor limit to what it holds now plus a few, then hold
    // idle connections to its metrics port from r2 until it cannot accept more.
    let pid = r1.pid(&lab);
    let open = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count();
    let limit = format!("--nofile={}:{}", open + 4, open + 4);
    lab.exec("r1", &["prlimit", "--pid", &pid.to_string(), &limit])
        .unwrap();
    let mut idle = Vec::new();
    for _ in 0..32 {
        if let Ok(c) = lab
            .command(
                "r2",
                &[
                    "python3",
                    "-c",
                    "import socket,time;s=socket.create_connection(('10.9.0.1',9650));time.sleep(8)",
                ],
            )
            .spawn()
        {
            idle.push(c);
        }
    }
    // Hold the pressure for a few link checks' worth of time.
    std::thread::sleep(secs(4));
    let held = only(&lab, "r1", "r2");
    for mut c in idle {
        let _ = c.kill();
        let _ = c.wait();
    }
    assert!(held, "r1 kept the address under fd pressure\n{}", r1.log());
    // Status may not answer while descriptors are short; afterwards it must show no move.
    assert!(wait_for(secs(10), || r1.status(&lab).is_some()));
    assert_eq!(r1.transitions(&lab, "VI_1"), Some(before), "{}", r1.log());
    assert_eq!(
        r1.moves_since(mark, "VI_1"),
        [],
        "no transition event either"
    );
    assert!(!r1.exited(&mut lab));
}

#[test]
fn a_peer_with_another_address_list_or_interval_is_logged() {
    let (dir, mut lab) = pair_test("host-mismatch");
    let r1 = plain(&mut lab, &dir, "r1", 150, &[]);
    let other = "global_defs {\n    vrrp_version 3\n}\nvrrp_instance VI_1 {\n    state BACKUP\n    interface eth0\n    virtual_router_id 51\n    priority 100\n    advert_int 0.2\n    virtual_ipaddress {\n        10.9.0.100/24\n        10.9.0.101/24\n    }\n}\n";
    let c2 = dir.join("r2.conf");
    std::fs::write(&c2, other).unwrap();
    let r2 = Agent::start(&mut lab, "r2", &c2, &dir, &[]);
    assert!(r1.wait_state(&lab, "VI_1", "Master", secs(10)));
    let line = r2
        .wait_log_line(&["peer advertises a different configuration"], secs(10))
        .unwrap_or_else(|| panic!("{}", r2.log()));
    assert!(line.contains("interval 10 cs (ours 20 cs)"), "{line}");
    assert!(line.contains("10.9.0.100"), "{line}");
}

#[test]
fn an_ipv6_instance_waits_in_fault_for_a_tentative_link_local_then_runs() {
    let (dir, mut lab) = pair_test("host-tentative");
    // Duplicate address detection on, slow: after a link flap the new link-local stays
    // tentative for about three seconds.
    for (key, value) in [("accept_dad", "1"), ("dad_transmits", "3")] {
        lab.exec(
            "r1",
            &[
                "sysctl",
                "-qw",
                &format!("net.ipv6.conf.eth0.{key}={value}"),
            ],
        )
        .unwrap();
    }
    lab.exec("r1", &["ip", "link", "set", "eth0", "down"])
        .unwrap();
    lab.exec("r1", &["ip", "link", "set", "eth0", "up"])
        .unwrap();
    let tentative = lab
        .exec(
            "r1",
            &["ip", "-6", "addr", "show", "dev", "eth0", "scope", "link"],
        )
        .unwrap();
    assert!(
        String::from_utf8_lossy(&tentative.stdout).contains("tentative"),
        "the lab made a tentative link-local: {}",
        String::from_utf8_lossy(&tentative.stdout)
    );
    let r1 = Agent::start(&mut lab, "r1", &config("ipv6-a.conf"), &dir, &[]);
    // No usable link-local yet: FAULT.
    expect_fault(&lab, &r1, "VI6_51", "NoSourceAddress", secs(3));
    assert!(
        r1.wait_state(&lab, "VI6_51", "Master", secs(15)),
        "DAD finished: the instance runs, alone it becomes MASTER\n{}",
        r1.log()
    );
}

#[test]
fn instances_sharing_an_interface_each_send_from_their_own_source() {
    let (dir, mut lab) = pair_test("host-ownsource");
    lab.exec("r1", &["ip", "addr", "add", "10.9.0.11/24", "dev", "eth0"])
        .unwrap();
    // A unicast instance from a secondary address listed first, then a multicast one: the
    // second must still send from the primary address, with a checksum over it.
    let r1_conf = "global_defs {\n    vrrp_version 3\n}\n\
        vrrp_instance UNI {\n    interface eth0\n    virtual_router_id 61\n    priority 150\n    advert_int 0.1\n    unicast_src_ip 10.9.0.11\n    unicast_peer {\n        10.9.0.2\n    }\n    virtual_ipaddress {\n        10.9.0.161/24\n    }\n}\n\
        vrrp_instance MULTI {\n    interface eth0\n    virtual_router_id 62\n    priority 150\n    advert_int 0.1\n    virtual_ipaddress {\n        10.9.0.162/24\n    }\n}\n";
    let r2_conf = "global_defs {\n    vrrp_version 3\n}\n\
        vrrp_instance MULTI {\n    state BACKUP\n    interface eth0\n    virtual_router_id 62\n    priority 100\n    advert_int 0.1\n    virtual_ipaddress {\n        10.9.0.162/24\n    }\n}\n";
    let (c1, c2) = (dir.join("r1.conf"), dir.join("r2.conf"));
    std::fs::write(&c1, r1_conf).unwrap();
    std::fs::write(&c2, r2_conf).unwrap();
    let r1 = Agent::start(&mut lab, "r1", &c1, &dir, &[]);
    let r2 = Agent::start(&mut lab, "r2", &c2, &dir, &[]);
    assert!(r1.wait_state(&lab, "MULTI", "Master", secs(10)));
    let heard = || {
        r2.instance(&lab, "MULTI")
            .and_then(|i| i["master"][0].as_str().map(str::to_string))
    };
    assert!(
        wait_for(secs(10), || heard().as_deref() == Some("10.9.0.1")),
        "r2 accepts MULTI's adverts from r1's primary address\nr2: {:?}\n{}",
        r2.status(&lab),
        r1.log()
    );
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        r2.state(&lab, "MULTI").as_deref(),
        Some("Backup"),
        "one master"
    );
    let rejected = r2.status(&lab).unwrap()["rejections"]["eth0"]["checksum"].as_u64();
    assert_eq!(rejected.unwrap_or(0), 0, "no advert failed its checksum");
}

#[test]
fn without_a_control_socket_the_daemon_runs_and_stays_idle() {
    let (dir, mut lab) = pair_test("host-nocontrol");
    // A path that cannot be bound: the control socket is a convenience, so the daemon
    // runs on without it, and nothing must wake its loop for nothing (it used to read the
    // closed reload channel as a reload request, 100 000 times a second).
    let r1 = Agent::start_unwatched(
        &mut lab,
        "r1",
        &conf(&dir, "r1.conf", 150, "", ""),
        &dir,
        &["--control", "/proc/vrrpx-control.sock"],
    );
    assert!(wait_for(secs(10), || has(&lab, "r1", VIP)));
    assert!(r1.log().contains("no control socket"), "{}", r1.log());
    let pid = r1.pid(&lab);
    let before = cpu_ns(pid);
    let t0 = Instant::now();
    std::thread::sleep(secs(2));
    let pct = (cpu_ns(pid) - before) as f64 / t0.elapsed().as_nanos() as f64 * 100.0;
    assert!(
        pct < 2.0,
        "agent used {pct:.2} % of a core with no control socket"
    );
    assert!(
        !r1.log().contains("configuration reloaded"),
        "no phantom reloads\n{}",
        r1.log()
    );
}

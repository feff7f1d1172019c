//! The VRRP engine in network namespaces, run on the example files from configs/: the
//! right master is elected, failover on link cut and on SIGTERM, preemption and
//! `nopreempt`, a stalled backup that must not take over, and interop with keepalived.
//! Needs root and the release agent (`cargo xtask test`).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use vrrpx_tests::netns::{wait_for, Lab};
use vrrpx_tests::peers::start_keepalived;
use vrrpx_tests::{agent_bin, is_root, scratch, workspace};

const VIP: &str = "10.9.0.100/24";

fn preconditions() {
    assert!(
        is_root(),
        "netns tests need root; run `cargo xtask test` as root"
    );
    assert!(
        agent_bin().exists(),
        "{} missing: run `cargo xtask test`",
        agent_bin().display()
    );
}

fn config(name: &str) -> PathBuf {
    workspace().join("configs").join(name)
}

/// Hosts r1 (10.9.0.1) and r2 (10.9.0.2) on one bridge, as the example files expect.
fn pair_lab(prefix: &str) -> Lab {
    let mut lab = Lab::new(prefix).unwrap();
    lab.host("r1", "eth0", &["10.9.0.1/24", "fd00:9::1/64"])
        .unwrap();
    lab.host("r2", "eth0", &["10.9.0.2/24", "fd00:9::2/64"])
        .unwrap();
    lab
}

fn start_agent(lab: &mut Lab, h: &str, conf: &Path, dir: &Path) -> usize {
    let bin = agent_bin();
    lab.spawn(
        h,
        &[bin.to_str().unwrap(), "run", "-f", conf.to_str().unwrap()],
        &dir.join(format!("agent-{h}.out")),
        &dir.join(format!("agent-{h}.log")),
    )
    .unwrap()
}

fn has(lab: &Lab, h: &str, addr: &str) -> bool {
    lab.addrs(h, "eth0").unwrap().iter().any(|a| a == addr)
}

fn log(dir: &Path, h: &str) -> String {
    std::fs::read_to_string(dir.join(format!("agent-{h}.log"))).unwrap_or_default()
}

fn transitions_to_master(dir: &Path, h: &str) -> usize {
    log(dir, h)
        .lines()
        .filter(|l| l.contains("state change") && l.contains("to=MASTER"))
        .count()
}

/// Wait until exactly `h` holds the VIP; returns how long it took.
fn wait_holder(lab: &Lab, h: &str, other: &str, limit: Duration) -> Option<Duration> {
    let t0 = Instant::now();
    wait_for(limit, || has(lab, h, VIP) && !has(lab, other, VIP)).then(|| t0.elapsed())
}

#[test]
fn two_agents_elect_the_higher_priority_master_and_only_it_holds_the_address() {
    preconditions();
    let dir = scratch("engine-elect");
    let mut lab = pair_lab("vxt-elect-");
    start_agent(&mut lab, "r2", &config("pair-backup.conf"), &dir);
    start_agent(&mut lab, "r1", &config("pair-master.conf"), &dir);
    assert!(
        wait_holder(&lab, "r1", "r2", Duration::from_secs(5)).is_some(),
        "r1 (priority 150) holds {VIP}\nr1: {}\nr2: {}",
        log(&dir, "r1"),
        log(&dir, "r2")
    );
    // Stable: still so a second later, and r2 never claimed it for long.
    std::thread::sleep(Duration::from_secs(1));
    assert!(has(&lab, "r1", VIP) && !has(&lab, "r2", VIP));
}

#[test]
fn backup_takes_over_within_master_down_interval_when_the_master_link_is_cut() {
    preconditions();
    let dir = scratch("engine-linkcut");
    let mut lab = pair_lab("vxt-cut-");
    start_agent(&mut lab, "r1", &config("pair-master.conf"), &dir);
    start_agent(&mut lab, "r2", &config("pair-backup.conf"), &dir);
    assert!(wait_holder(&lab, "r1", "r2", Duration::from_secs(5)).is_some());
    std::thread::sleep(Duration::from_millis(500));
    let t0 = Instant::now();
    lab.cut("r1").unwrap();
    assert!(
        wait_for(Duration::from_secs(3), || has(&lab, "r2", VIP)),
        "r2 took over\n{}",
        log(&dir, "r2")
    );
    let took = t0.elapsed();
    // 100 ms adverts, priority 100: Master_Down_Interval 360.9 ms; allow polling slack.
    assert!(took < Duration::from_millis(600), "takeover after {took:?}");
}

#[test]
fn sigterm_on_the_master_hands_over_at_once_and_releases_the_address() {
    preconditions();
    let dir = scratch("engine-sigterm");
    let mut lab = pair_lab("vxt-term-");
    let r1 = start_agent(&mut lab, "r1", &config("pair-master.conf"), &dir);
    start_agent(&mut lab, "r2", &config("pair-backup.conf"), &dir);
    assert!(wait_holder(&lab, "r1", "r2", Duration::from_secs(5)).is_some());
    std::thread::sleep(Duration::from_millis(500));
    let t0 = Instant::now();
    assert!(
        lab.stop(r1, libc::SIGTERM, Duration::from_millis(500))
            .unwrap(),
        "exits promptly"
    );
    let exit = t0.elapsed();
    assert!(exit < Duration::from_millis(200), "exit took {exit:?}");
    assert!(!has(&lab, "r1", VIP), "r1 released the address");
    let took = wait_holder(&lab, "r2", "r1", Duration::from_secs(2)).expect("r2 took over");
    // Priority 0 advert: r2 waits only Skew_Time (156/256 x 100 ms = 61 ms).
    assert!(
        took < Duration::from_millis(250),
        "graceful takeover after {took:?}"
    );
}

#[test]
fn a_returning_higher_priority_router_preempts_but_not_with_nopreempt() {
    preconditions();
    let dir = scratch("engine-preempt");
    let mut lab = pair_lab("vxt-pre-");
    start_agent(&mut lab, "r2", &config("pair-backup.conf"), &dir);
    assert!(wait_for(Duration::from_secs(3), || has(&lab, "r2", VIP)));
    start_agent(&mut lab, "r1", &config("pair-master.conf"), &dir);
    assert!(
        wait_holder(&lab, "r1", "r2", Duration::from_secs(3)).is_some(),
        "r1 preempts"
    );
    drop(lab);

    let dir = scratch("engine-nopreempt");
    let mut lab = pair_lab("vxt-nopre-");
    start_agent(&mut lab, "r2", &config("nopreempt-b.conf"), &dir);
    assert!(wait_for(Duration::from_secs(3), || has(&lab, "r2", VIP)));
    start_agent(&mut lab, "r1", &config("nopreempt-a.conf"), &dir);
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        has(&lab, "r2", VIP) && !has(&lab, "r1", VIP),
        "nopreempt: r2 keeps it"
    );
}

#[test]
fn a_backup_stalled_for_twice_master_down_does_not_take_over_while_the_master_lives() {
    preconditions();
    let dir = scratch("engine-stall");
    let mut lab = pair_lab("vxt-stall-");
    start_agent(&mut lab, "r1", &config("pair-master.conf"), &dir);
    let r2 = start_agent(&mut lab, "r2", &config("pair-backup.conf"), &dir);
    assert!(wait_holder(&lab, "r1", "r2", Duration::from_secs(5)).is_some());
    std::thread::sleep(Duration::from_millis(500));
    let before = transitions_to_master(&dir, "r2");
    let pid = lab.pid(r2) as i32;
    // SAFETY: signalling a child we spawned.
    unsafe { libc::kill(pid, libc::SIGSTOP) };
    std::thread::sleep(Duration::from_millis(800)); // > 2 x 361 ms
                                                    // SAFETY: as above.
    unsafe { libc::kill(pid, libc::SIGCONT) };
    std::thread::sleep(Duration::from_millis(700));
    assert_eq!(
        transitions_to_master(&dir, "r2"),
        before,
        "no false takeover\n{}",
        log(&dir, "r2")
    );
    assert!(!has(&lab, "r2", VIP));
}

#[test]
fn interop_with_keepalived_each_side_master_in_turn() {
    preconditions();
    let dir = scratch("engine-keepalived");
    let mut lab = pair_lab("vxt-ka-");
    // keepalived on r1 with the same file our agent reads on r2.
    let conf = std::fs::read_to_string(config("pair-master.conf")).unwrap();
    let ka = start_keepalived(&mut lab, "r1", &conf, &dir).unwrap();
    assert!(
        wait_for(Duration::from_secs(5), || has(&lab, "r1", VIP)),
        "keepalived is master"
    );
    start_agent(&mut lab, "r2", &config("pair-backup.conf"), &dir);
    std::thread::sleep(Duration::from_secs(1));
    assert!(
        !has(&lab, "r2", VIP),
        "we stay backup behind keepalived\n{}",
        log(&dir, "r2")
    );
    lab.stop(ka, libc::SIGTERM, Duration::from_secs(3)).unwrap();
    assert!(
        wait_holder(&lab, "r2", "r1", Duration::from_secs(2)).is_some(),
        "we take over when keepalived leaves"
    );
    start_keepalived(&mut lab, "r1", &conf, &dir).unwrap();
    assert!(
        wait_holder(&lab, "r1", "r2", Duration::from_secs(5)).is_some(),
        "keepalived (priority 150) preempts us back\n{}",
        log(&dir, "r2")
    );
}

/// The addresses (any family) on eth0 in host `h`.
fn all_addrs(lab: &Lab, h: &str) -> String {
    String::from_utf8_lossy(
        &lab.exec(h, &["ip", "-o", "addr", "show", "dev", "eth0"])
            .unwrap()
            .stdout,
    )
    .into_owned()
}

#[test]
fn dual_master_pair_splits_the_two_addresses_and_one_router_takes_both_when_the_other_stops() {
    preconditions();
    let dir = scratch("engine-dual");
    let mut lab = pair_lab("vxt-dual-");
    let r1 = start_agent(&mut lab, "r1", &config("dual-master-a.conf"), &dir);
    start_agent(&mut lab, "r2", &config("dual-master-b.conf"), &dir);
    let split = wait_for(Duration::from_secs(5), || {
        has(&lab, "r1", "10.9.0.100/24")
            && has(&lab, "r2", "10.9.0.101/24")
            && !has(&lab, "r1", "10.9.0.101/24")
            && !has(&lab, "r2", "10.9.0.100/24")
    });
    assert!(
        split,
        "each router masters one VRID\n{}\n{}",
        log(&dir, "r1"),
        log(&dir, "r2")
    );
    lab.stop(r1, libc::SIGTERM, Duration::from_secs(2)).unwrap();
    assert!(
        wait_for(Duration::from_secs(2), || has(&lab, "r2", "10.9.0.100/24")
            && has(&lab, "r2", "10.9.0.101/24")),
        "r2 holds both"
    );
}

#[test]
fn ipv6_pair_elects_a_master_that_holds_the_ipv6_address_and_fails_over() {
    preconditions();
    let dir = scratch("engine-ipv6");
    let mut lab = pair_lab("vxt-v6-");
    let r1 = start_agent(&mut lab, "r1", &config("ipv6-a.conf"), &dir);
    start_agent(&mut lab, "r2", &config("ipv6-b.conf"), &dir);
    let vip = "fd00:9::100/64";
    assert!(
        wait_for(Duration::from_secs(5), || all_addrs(&lab, "r1")
            .contains(vip)
            && !all_addrs(&lab, "r2").contains(vip)),
        "r1 holds {vip}\n{}\n{}",
        log(&dir, "r1"),
        log(&dir, "r2")
    );
    lab.stop(r1, libc::SIGTERM, Duration::from_secs(2)).unwrap();
    assert!(
        wait_for(Duration::from_secs(2), || all_addrs(&lab, "r2")
            .contains(vip)),
        "r2 took over {vip}\n{}",
        log(&dir, "r2")
    );
    assert!(!all_addrs(&lab, "r1").contains(vip));
}

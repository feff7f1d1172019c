//! The VRRP engine in network namespaces, run on the example files from configs/: the
//! right master is elected, failover on link cut and on SIGTERM, preemption and
//! `nopreempt`, a stalled backup that must not take over, and interop with keepalived.
//! Life cycle (configs in tests/engine/): crash leftovers removed at the next start, FAULT
//! on link loss and back, SIGTERM exit time, unicast peers, 20 instances on one interface,
//! keepalived's default VRRPv2 at 1 s.
//! Needs root and the release agent (`cargo xtask test`).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use vrrpx_tests::netns::{wait_for, Lab};
use vrrpx_tests::pair::{config, has, pair_lab, preconditions};
use vrrpx_tests::peers::start_keepalived;
use vrrpx_tests::{agent_bin, scratch, workspace};

const VIP: &str = "10.9.0.100/24";

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

// ---------------------------------------------------------------------------------------
// Life cycle: crash leftovers, link loss, shutdown time, unicast, many instances, v2

/// A config file from tests/engine/.
fn engine_config(name: &str) -> PathBuf {
    workspace().join("tests/engine").join(name)
}

/// How many times `addr` (CIDR) is on eth0 in host `h`.
fn count(lab: &Lab, h: &str, addr: &str) -> usize {
    lab.addrs(h, "eth0")
        .unwrap()
        .iter()
        .filter(|a| *a == addr)
        .count()
}

/// Whether an XDP program is attached to eth0 in host `h` (`xdp`, `xdpgeneric`, ...,
/// and `prog/xdp id N` in `ip link show`).
fn xdp_attached(lab: &Lab, h: &str) -> bool {
    let out = lab.exec(h, &["ip", "link", "show", "dev", "eth0"]).unwrap();
    String::from_utf8_lossy(&out.stdout).contains("xdp")
}

/// The log lines of host `h` that contain every one of `words`.
fn log_lines(dir: &Path, h: &str, words: &[&str]) -> Vec<String> {
    log(dir, h)
        .lines()
        .filter(|l| words.iter().all(|w| l.contains(w)))
        .map(str::to_string)
        .collect()
}

/// Capture up to `n` VRRP packets on eth0 of host `h` within `secs` seconds into `file`,
/// and return tcpdump's one-line decode of them.
fn capture_vrrp(lab: &Lab, h: &str, file: &Path, n: usize, secs: u64) -> String {
    let out = lab
        .command(
            h,
            &[
                "timeout",
                &secs.to_string(),
                "tcpdump",
                "-Z",
                "root",
                "-i",
                "eth0",
                "-c",
                &n.to_string(),
                "-nn",
                "-w",
                file.to_str().unwrap(),
                "ip proto 112",
            ],
        )
        .output()
        .unwrap();
    assert!(
        file.exists(),
        "tcpdump wrote {}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let read = std::process::Command::new("tcpdump")
        .args(["-r", file.to_str().unwrap(), "-nn"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&read.stdout).into_owned()
}

/// Send SIGTERM to spawned process `idx` and time its exit, polling every millisecond.
fn time_sigterm(lab: &mut Lab, idx: usize, limit: Duration) -> Option<Duration> {
    let pid = lab.pid(idx) as i32;
    let t0 = Instant::now();
    // SAFETY: signalling a child we spawned and have not reaped.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    while t0.elapsed() < limit {
        if lab.exited(idx) {
            return Some(t0.elapsed());
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    None
}

#[test]
fn crash_leftovers_are_removed_at_the_next_start_and_a_hand_added_address_is_untouched() {
    preconditions();
    let dir = scratch("engine-life-crash");
    let mut lab = pair_lab("vxt-life-crash-");
    // The administrator's own address on the same interface and subnet.
    let admin = "10.9.0.200/24";
    lab.exec("r1", &["ip", "addr", "add", admin, "dev", "eth0"])
        .unwrap();
    let r1 = start_agent(&mut lab, "r1", &config("pair-master.conf"), &dir);
    start_agent(&mut lab, "r2", &config("pair-backup.conf"), &dir);
    assert!(
        wait_holder(&lab, "r1", "r2", Duration::from_secs(5)).is_some(),
        "r1 is master\n{}",
        log(&dir, "r1")
    );
    assert_eq!(count(&lab, "r1", admin), 1);

    // A crash: nothing runs the shutdown path, so the address stays behind on r1 (and r2,
    // hearing nothing, takes it too: both hold it now). This is the problem cleaned up below.
    assert!(lab.stop(r1, libc::SIGKILL, Duration::from_secs(5)).unwrap());
    assert!(has(&lab, "r1", VIP), "a SIGKILLed agent leaves {VIP} on r1");
    // The XDP program goes with the process (its link dies with the last fd).
    assert!(
        wait_for(Duration::from_secs(2), || !xdp_attached(&lab, "r1")),
        "no XDP program left on r1 after SIGKILL"
    );
    assert!(
        wait_for(Duration::from_secs(3), || has(&lab, "r2", VIP)),
        "r2 takes over from the dead master\n{}",
        log(&dir, "r2")
    );
    assert!(has(&lab, "r1", VIP), "still left behind on r1");
    assert_eq!(count(&lab, "r1", admin), 1);

    // The next run on r1 removes it at start, then wins the election again.
    let first_log = log(&dir, "r1");
    let rerun = dir.join("rerun");
    std::fs::create_dir_all(&rerun).unwrap();
    start_agent(&mut lab, "r1", &config("pair-master.conf"), &rerun);
    assert!(
        wait_for(Duration::from_secs(5), || !log_lines(
            &rerun,
            "r1",
            &[
                "WARN",
                "removed a virtual address left behind",
                "10.9.0.100"
            ]
        )
        .is_empty()),
        "the restart warns about the leftover\nfirst run:\n{first_log}\nsecond run:\n{}",
        log(&rerun, "r1")
    );
    assert!(
        wait_for(Duration::from_secs(5), || transitions_to_master(
            &rerun, "r1"
        ) > 0),
        "r1 becomes master again\n{}",
        log(&rerun, "r1")
    );
    assert!(
        wait_holder(&lab, "r1", "r2", Duration::from_secs(5)).is_some(),
        "r1 holds {VIP} again and r2 released it\nr1: {}\nr2: {}",
        log(&rerun, "r1"),
        log(&dir, "r2")
    );
    assert_eq!(count(&lab, "r1", VIP), 1, "{VIP} once on r1");
    // Only our own address was cleaned up: the warning names nothing else.
    let warnings = log_lines(&rerun, "r1", &["removed a virtual address left behind"]);
    assert_eq!(warnings.len(), 1, "{warnings:#?}");
    assert_eq!(
        count(&lab, "r1", admin),
        1,
        "the hand-added {admin} survives\n{}",
        log(&rerun, "r1")
    );
    assert!(
        has(&lab, "r1", "10.9.0.1/24"),
        "the primary address survives"
    );
}

#[test]
fn a_link_cut_puts_the_master_in_fault_releasing_the_address_and_it_preempts_back_when_restored() {
    preconditions();
    let dir = scratch("engine-life-cut");
    let mut lab = pair_lab("vxt-life-cut-");
    start_agent(&mut lab, "r1", &config("pair-master.conf"), &dir);
    start_agent(&mut lab, "r2", &config("pair-backup.conf"), &dir);
    assert!(
        wait_holder(&lab, "r1", "r2", Duration::from_secs(5)).is_some(),
        "r1 is master\n{}",
        log(&dir, "r1")
    );
    std::thread::sleep(Duration::from_millis(300));

    lab.cut("r1").unwrap();
    assert!(
        wait_for(Duration::from_secs(3), || !log_lines(
            &dir,
            "r1",
            &["state change", "to=FAULT", "cause=InterfaceDown"]
        )
        .is_empty()),
        "r1 goes to FAULT\n{}",
        log(&dir, "r1")
    );
    assert!(
        wait_for(Duration::from_secs(2), || !has(&lab, "r1", VIP)),
        "r1 in FAULT no longer holds {VIP}\n{}",
        log(&dir, "r1")
    );
    assert!(
        wait_for(Duration::from_secs(3), || has(&lab, "r2", VIP)),
        "r2 takes over while r1 is cut off\n{}",
        log(&dir, "r2")
    );
    // Stays so while the link is down.
    std::thread::sleep(Duration::from_millis(500));
    assert!(!has(&lab, "r1", VIP) && has(&lab, "r2", VIP));

    let masters_before = transitions_to_master(&dir, "r1");
    lab.set_port("p-r1", true).unwrap();
    assert!(
        wait_holder(&lab, "r1", "r2", Duration::from_secs(5)).is_some(),
        "restored r1 (priority 150, preempt) takes {VIP} back from r2\nr1: {}\nr2: {}",
        log(&dir, "r1"),
        log(&dir, "r2")
    );
    assert!(transitions_to_master(&dir, "r1") > masters_before);
    assert!(
        !log_lines(&dir, "r1", &["state change", "from=FAULT"]).is_empty(),
        "r1 left FAULT\n{}",
        log(&dir, "r1")
    );
    // And it is stable.
    std::thread::sleep(Duration::from_millis(500));
    assert!(has(&lab, "r1", VIP) && !has(&lab, "r2", VIP));
}

#[test]
fn sigterm_on_a_10ms_master_exits_within_100ms_detaching_xdp_and_removing_the_address() {
    preconditions();
    let dir = scratch("engine-life-term");
    let mut lab = pair_lab("vxt-life-term-");
    let r1 = start_agent(&mut lab, "r1", &engine_config("fast-master.conf"), &dir);
    start_agent(&mut lab, "r2", &engine_config("fast-backup.conf"), &dir);
    assert!(
        wait_holder(&lab, "r1", "r2", Duration::from_secs(5)).is_some(),
        "r1 is master\nr1: {}\nr2: {}",
        log(&dir, "r1"),
        log(&dir, "r2")
    );
    assert!(xdp_attached(&lab, "r1"), "the agent runs with XDP on r1");
    std::thread::sleep(Duration::from_millis(500));

    let exit = time_sigterm(&mut lab, r1, Duration::from_secs(5)).expect("r1 exits on SIGTERM");
    eprintln!("SIGTERM to exit of a 10 ms master: {exit:?}");
    assert!(
        exit < Duration::from_millis(100),
        "exit took {exit:?}\n{}",
        log(&dir, "r1")
    );
    assert!(
        !xdp_attached(&lab, "r1"),
        "no XDP program left on r1's eth0:\n{}",
        String::from_utf8_lossy(
            &lab.exec("r1", &["ip", "link", "show", "dev", "eth0"])
                .unwrap()
                .stdout
        )
    );
    assert!(!has(&lab, "r1", VIP), "r1 released {VIP}");
    assert!(
        wait_holder(&lab, "r2", "r1", Duration::from_secs(2)).is_some(),
        "r2 takes over\n{}",
        log(&dir, "r2")
    );
}

#[test]
fn unicast_peers_elect_one_master_advertise_to_the_peer_address_and_fail_over_on_sigterm() {
    preconditions();
    let dir = scratch("engine-life-unicast");
    let mut lab = pair_lab("vxt-life-uni-");
    // The switch drops every VRRP frame to the group: only unicast can get through.
    for cmd in [
        "add table bridge vxt",
        "add chain bridge vxt nomcast { type filter hook forward priority 0; }",
        "add rule bridge vxt nomcast ip daddr 224.0.0.18 ip protocol 112 counter drop",
    ] {
        lab.exec("sw", &["nft", cmd]).unwrap();
    }
    let r1 = start_agent(&mut lab, "r1", &engine_config("unicast-a.conf"), &dir);
    start_agent(&mut lab, "r2", &engine_config("unicast-b.conf"), &dir);
    assert!(
        wait_holder(&lab, "r1", "r2", Duration::from_secs(5)).is_some(),
        "r1 (priority 150) is the one master\nr1: {}\nr2: {}",
        log(&dir, "r1"),
        log(&dir, "r2")
    );
    std::thread::sleep(Duration::from_secs(1));
    assert!(
        has(&lab, "r1", VIP) && !has(&lab, "r2", VIP),
        "stable\nr2: {}",
        log(&dir, "r2")
    );

    let seen = capture_vrrp(&lab, "r2", &dir.join("unicast.pcap"), 3, 5);
    let adverts: Vec<&str> = seen.lines().filter(|l| l.contains("VRRP")).collect();
    assert_eq!(adverts.len(), 3, "three adverts captured on r2:\n{seen}");
    for l in &adverts {
        assert!(
            l.contains("10.9.0.1 > 10.9.0.2:"),
            "unicast from r1 to r2: {l}"
        );
        assert!(!l.contains("224.0.0.18"), "not to the group: {l}");
    }
    let rules = lab
        .exec("sw", &["nft", "list", "table", "bridge", "vxt"])
        .unwrap();
    let rules = String::from_utf8_lossy(&rules.stdout);
    assert!(
        rules.contains("counter packets 0 "),
        "nothing was sent to 224.0.0.18:\n{rules}"
    );

    lab.stop(r1, libc::SIGTERM, Duration::from_secs(2)).unwrap();
    assert!(
        wait_holder(&lab, "r2", "r1", Duration::from_secs(2)).is_some(),
        "r2 takes over when r1 leaves\n{}",
        log(&dir, "r2")
    );
    assert!(
        !log_lines(&dir, "r2", &["state change", "to=MASTER", "MasterResigned"]).is_empty(),
        "r2 heard r1's unicast priority-0 advert\n{}",
        log(&dir, "r2")
    );
}

/// Which of `vips` are on eth0 in host `h`.
fn present(lab: &Lab, h: &str, vips: &[String]) -> Vec<String> {
    let have = lab.addrs(h, "eth0").unwrap();
    vips.iter().filter(|v| have.contains(v)).cloned().collect()
}

/// A keepalived.conf with VRIDs 1..=`n` on eth0 at `priority`, VIP 10.9.1.VRID/24 each.
fn many_instances_conf(router_id: &str, priority: u8, n: u8) -> String {
    let mut s = format!("global_defs {{\n    router_id {router_id}\n    vrrp_version 3\n}}\n");
    for id in 1..=n {
        s.push_str(&format!(
            "\nvrrp_instance VI_{id} {{\n    state BACKUP\n    interface eth0\n    \
             virtual_router_id {id}\n    priority {priority}\n    advert_int 0.1\n    \
             virtual_ipaddress {{\n        10.9.1.{id}/24\n    }}\n}}\n"
        ));
    }
    s
}

#[test]
fn twenty_instances_on_one_interface_all_settle_on_the_higher_priority_router_and_move_together() {
    preconditions();
    let dir = scratch("engine-life-many");
    let mut lab = pair_lab("vxt-life-many-");
    const N: u8 = 20;
    let (a, b) = (dir.join("many-a.conf"), dir.join("many-b.conf"));
    std::fs::write(&a, many_instances_conf("r1", 150, N)).unwrap();
    std::fs::write(&b, many_instances_conf("r2", 100, N)).unwrap();
    let vips: Vec<String> = (1..=N).map(|id| format!("10.9.1.{id}/24")).collect();
    let r1 = start_agent(&mut lab, "r1", &a, &dir);
    start_agent(&mut lab, "r2", &b, &dir);
    assert!(
        wait_for(Duration::from_secs(10), || present(&lab, "r1", &vips).len()
            == vips.len()
            && present(&lab, "r2", &vips).is_empty()),
        "all {N} on r1 only: r1 {:?}, r2 {:?}\nr1: {}\nr2: {}",
        present(&lab, "r1", &vips),
        present(&lab, "r2", &vips),
        log(&dir, "r1"),
        log(&dir, "r2")
    );
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(present(&lab, "r1", &vips).len(), vips.len(), "stable on r1");
    assert!(present(&lab, "r2", &vips).is_empty(), "stable: none on r2");

    let t0 = Instant::now();
    assert!(lab.stop(r1, libc::SIGTERM, Duration::from_secs(2)).unwrap());
    let moved = wait_for(Duration::from_secs(2).saturating_sub(t0.elapsed()), || {
        present(&lab, "r2", &vips).len() == vips.len()
    });
    let took = t0.elapsed();
    assert!(
        moved,
        "all {N} on r2 within 2 s of SIGTERM ({took:?}): r2 has {:?}\n{}",
        present(&lab, "r2", &vips),
        log(&dir, "r2")
    );
    eprintln!("{N} instances moved to r2 in {took:?}");
    assert!(
        present(&lab, "r1", &vips).is_empty(),
        "r1 released them all: {:?}",
        present(&lab, "r1", &vips)
    );
}

#[test]
fn keepalived_default_v2_with_1s_adverts_elects_the_higher_priority_router_and_fails_over() {
    preconditions();
    let dir = scratch("engine-life-v2");
    let mut lab = pair_lab("vxt-life-v2-");
    let r1 = start_agent(&mut lab, "r1", &engine_config("v2-default-a.conf"), &dir);
    start_agent(&mut lab, "r2", &engine_config("v2-default-b.conf"), &dir);
    // Master_Down_Interval at 1 s adverts is 3.4 s for r1; allow for a busy machine.
    assert!(
        wait_holder(&lab, "r1", "r2", Duration::from_secs(10)).is_some(),
        "r1 (priority 150) is master\nr1: {}\nr2: {}",
        log(&dir, "r1"),
        log(&dir, "r2")
    );
    let seen = capture_vrrp(&lab, "r2", &dir.join("v2.pcap"), 2, 6);
    let adverts: Vec<&str> = seen.lines().filter(|l| l.contains("VRRP")).collect();
    assert!(!adverts.is_empty(), "adverts captured on r2:\n{seen}");
    for l in &adverts {
        assert!(
            l.contains("10.9.0.1 > 224.0.0.18: VRRPv2") && l.contains("intvl 1s"),
            "a v2 advert from r1 at 1 s: {l}"
        );
    }
    assert!(has(&lab, "r1", VIP) && !has(&lab, "r2", VIP), "stable");

    lab.stop(r1, libc::SIGTERM, Duration::from_secs(2)).unwrap();
    // Priority 0 from r1: r2 waits Skew_Time, (256 - 100) / 256 s = 0.61 s.
    assert!(
        wait_holder(&lab, "r2", "r1", Duration::from_secs(3)).is_some(),
        "r2 takes over\n{}",
        log(&dir, "r2")
    );
}

fn client_ping(lab: &Lab, addr: &str) -> bool {
    lab.command("client", &["ping", "-c", "1", "-W", "1", addr])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

#[test]
fn without_accept_mode_the_master_refuses_traffic_to_the_address_but_still_answers_arp() {
    preconditions();
    let dir = scratch("engine-noaccept");
    let mut lab = pair_lab("vxt-noacc-");
    lab.host("client", "eth0", &["10.9.0.50/24"]).unwrap();
    let r1 = start_agent(
        &mut lab,
        "r1",
        &workspace().join("tests/engine/noaccept-a.conf"),
        &dir,
    );
    start_agent(
        &mut lab,
        "r2",
        &workspace().join("tests/engine/noaccept-b.conf"),
        &dir,
    );
    assert!(wait_holder(&lab, "r1", "r2", Duration::from_secs(5)).is_some());
    assert!(client_ping(&lab, "10.9.0.1"), "the router itself answers");
    assert!(
        !client_ping(&lab, "10.9.0.100"),
        "the virtual address refuses (no_accept)"
    );
    let neigh = lab
        .exec("client", &["ip", "neigh", "show", "10.9.0.100"])
        .unwrap();
    assert!(
        String::from_utf8_lossy(&neigh.stdout).contains("lladdr"),
        "ARP for the address was answered"
    );
    // The new master refuses too; the old one, no longer master, holds nothing.
    lab.stop(r1, libc::SIGTERM, Duration::from_secs(2)).unwrap();
    assert!(wait_holder(&lab, "r2", "r1", Duration::from_secs(3)).is_some());
    assert!(!client_ping(&lab, "10.9.0.100"));
    // The same pair with Accept_Mode (keepalived's default) answers.
    drop(lab);
    let dir = scratch("engine-accept");
    let mut lab = pair_lab("vxt-acc-");
    lab.host("client", "eth0", &["10.9.0.50/24"]).unwrap();
    start_agent(&mut lab, "r1", &config("pair-master.conf"), &dir);
    assert!(wait_for(Duration::from_secs(5), || has(&lab, "r1", VIP)));
    assert!(client_ping(&lab, "10.9.0.100"), "accept mode answers");
}

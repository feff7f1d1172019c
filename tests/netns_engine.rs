//! The VRRP engine in network namespaces, run on the example files from configs/: the
//! right master is elected, failover on link cut and on SIGTERM, preemption and
//! `nopreempt`, and interop with keepalived (a stalled backup that must not take over is
//! in `netns_kernel_state.rs`, on both receive paths).
//! Life cycle (configs in tests/engine/): crash leftovers removed at the next start, FAULT
//! on link loss and back, SIGTERM exit time, unicast peers, 20 instances on one interface,
//! keepalived's default VRRPv2 at 1 s.
//! Needs root and the release agent (`cargo xtask test`).

use std::path::Path;
use std::time::{Duration, Instant};

use vrrp_agent::proto::router::{Cause, StateName};
use vrrpx_tests::agent::{expect_alone, logs, start_named, start_pair, Agent};
use vrrpx_tests::capture::{capture_vrrp, tcpdump_decode};
use vrrpx_tests::events::Event;
use vrrpx_tests::netns::{secs, wait_for, Lab};
use vrrpx_tests::pair::{config, has, only, pair_lab, pair_test, preconditions, wait_holder, VIP};
use vrrpx_tests::peers::start_keepalived;
use vrrpx_tests::scratch;

/// r1 on `a` and r2 on `b` (configs/ or, with a folder, tests/), r1 (the higher priority) the one master
/// holding the address within `within`.
fn elected(lab: &mut Lab, dir: &Path, a: &str, b: &str, within: Duration) -> (Agent, Agent) {
    let (r1, r2) = start_named(lab, dir, a, b);
    expect_alone(lab, "r1", VIP, within, &[&r1, &r2]);
    (r1, r2)
}

/// [`elected`] on the life-cycle pair tests/engine/`a`.conf and tests/engine/`b`.conf.
fn engine_pair(lab: &mut Lab, dir: &Path, a: &str, b: &str, within: Duration) -> (Agent, Agent) {
    let conf = |name| format!("engine/{name}.conf");
    elected(lab, dir, &conf(a), &conf(b), within)
}

/// r1 on configs/pair-master.conf (150), r2 on configs/pair-backup.conf (100), r1 the
/// one master.
fn elected_pair(lab: &mut Lab, dir: &Path) -> (Agent, Agent) {
    elected(lab, dir, "pair-master.conf", "pair-backup.conf", secs(5))
}

/// [`elected_pair`], then half a second for r2 to settle in Backup on r1's adverts.
fn settled_pair(lab: &mut Lab, dir: &Path) -> (Agent, Agent) {
    let pair = elected_pair(lab, dir);
    std::thread::sleep(Duration::from_millis(500));
    pair
}

#[test]
fn two_agents_elect_the_higher_priority_master_and_only_it_holds_the_address() {
    let (dir, mut lab) = pair_test("engine-elect");
    let r2 = Agent::start(&mut lab, "r2", &config("pair-backup.conf"), &dir, &[]);
    let r1 = Agent::start(&mut lab, "r1", &config("pair-master.conf"), &dir, &[]);
    // r1 (priority 150).
    expect_alone(&lab, "r1", VIP, secs(5), &[&r1, &r2]);
    // Stable: still so a second later, and r2 never claimed it for long.
    std::thread::sleep(secs(1));
    assert!(only(&lab, "r1", "r2", VIP));
}

#[test]
fn backup_takes_over_within_master_down_interval_when_the_master_link_is_cut() {
    let (dir, mut lab) = pair_test("engine-linkcut");
    let (_r1, r2) = settled_pair(&mut lab, &dir);
    let t0 = Instant::now();
    lab.cut("r1").unwrap();
    assert!(
        wait_for(secs(3), || has(&lab, "r2", VIP)),
        "r2 took over\n{}",
        r2.log()
    );
    let took = t0.elapsed();
    // 100 ms adverts, priority 100: Master_Down_Interval 360.9 ms; allow polling slack.
    assert!(took < Duration::from_millis(600), "takeover after {took:?}");
}

#[test]
fn sigterm_on_the_master_hands_over_at_once_and_releases_the_address() {
    let (dir, mut lab) = pair_test("engine-sigterm");
    let (r1, _r2) = settled_pair(&mut lab, &dir);
    let t0 = Instant::now();
    assert!(
        r1.stop(&mut lab, libc::SIGTERM, Duration::from_millis(500)),
        "exits promptly"
    );
    let exit = t0.elapsed();
    assert!(exit < Duration::from_millis(200), "exit took {exit:?}");
    assert!(!has(&lab, "r1", VIP), "r1 released the address");
    let took = wait_holder(&lab, "r2", "r1", VIP, secs(2)).expect("r2 took over");
    // Priority 0 advert: r2 waits only Skew_Time (156/256 x 100 ms = 61 ms).
    assert!(
        took < Duration::from_millis(250),
        "graceful takeover after {took:?}"
    );
}

#[test]
fn a_returning_higher_priority_router_preempts_but_not_with_nopreempt() {
    preconditions();
    for (name, prefix, a, b, preempts) in [
        (
            "engine-preempt",
            "vxt-pre-",
            "pair-master.conf",
            "pair-backup.conf",
            true,
        ),
        (
            "engine-nopreempt",
            "vxt-nopre-",
            "nopreempt-a.conf",
            "nopreempt-b.conf",
            false,
        ),
    ] {
        let dir = scratch(name);
        let mut lab = pair_lab(prefix);
        let r2 = Agent::start(&mut lab, "r2", &config(b), &dir, &[]);
        assert!(wait_for(secs(3), || has(&lab, "r2", VIP)));
        let r1 = Agent::start(&mut lab, "r1", &config(a), &dir, &[]);
        if preempts {
            // r1 preempts.
            expect_alone(&lab, "r1", VIP, secs(3), &[&r1, &r2]);
        } else {
            std::thread::sleep(secs(2));
            assert!(
                only(&lab, "r2", "r1", VIP),
                "nopreempt: r2 keeps it\n{}",
                logs(&[&r1, &r2])
            );
        }
    }
}

#[test]
fn interop_with_keepalived_each_side_master_in_turn() {
    let (dir, mut lab) = pair_test("engine-keepalived");
    // keepalived on r1 with the same file our agent reads on r2.
    let conf = std::fs::read_to_string(config("pair-master.conf")).unwrap();
    let ka = start_keepalived(&mut lab, "r1", &conf, &dir).unwrap();
    assert!(
        wait_for(secs(5), || has(&lab, "r1", VIP)),
        "keepalived is master"
    );
    let r2 = Agent::start(&mut lab, "r2", &config("pair-backup.conf"), &dir, &[]);
    std::thread::sleep(secs(1));
    assert!(
        !has(&lab, "r2", VIP),
        "we stay backup behind keepalived\n{}",
        r2.log()
    );
    lab.stop(ka, libc::SIGTERM, secs(3)).unwrap();
    // We take over when keepalived leaves.
    expect_alone(&lab, "r2", VIP, secs(2), &[&r2]);
    start_keepalived(&mut lab, "r1", &conf, &dir).unwrap();
    // Keepalived (priority 150) preempts us back.
    expect_alone(&lab, "r1", VIP, secs(5), &[&r2]);
}

#[test]
fn dual_master_pair_splits_the_two_addresses_and_one_router_takes_both_when_the_other_stops() {
    let (dir, mut lab) = pair_test("engine-dual");
    let (r1, r2) = start_named(&mut lab, &dir, "dual-master-a.conf", "dual-master-b.conf");
    let (a, b) = ("10.9.0.100/24", "10.9.0.101/24");
    let split = wait_for(secs(5), || {
        only(&lab, "r1", "r2", a) && only(&lab, "r2", "r1", b)
    });
    assert!(split, "each router masters one VRID\n{}", logs(&[&r1, &r2]));
    r1.stop(&mut lab, libc::SIGTERM, secs(2));
    assert!(
        wait_for(secs(2), || has(&lab, "r2", a) && has(&lab, "r2", b)),
        "r2 holds both"
    );
}

#[test]
fn ipv6_pair_elects_a_master_that_holds_the_ipv6_address_and_fails_over() {
    let (dir, mut lab) = pair_test("engine-ipv6");
    let (r1, r2) = start_named(&mut lab, &dir, "ipv6-a.conf", "ipv6-b.conf");
    let vip = "fd00:9::100/64";
    // r1 (priority 150).
    expect_alone(&lab, "r1", vip, secs(5), &[&r1, &r2]);
    r1.stop(&mut lab, libc::SIGTERM, secs(2));
    assert!(
        wait_for(secs(2), || has(&lab, "r2", vip)),
        "r2 took over {vip}\n{}",
        r2.log()
    );
    assert!(!has(&lab, "r1", vip));
}

// ---------------------------------------------------------------------------------------
// Life cycle: crash leftovers, link loss, shutdown time, unicast, many instances, v2

/// How many times `addr` (CIDR) is on eth0 in host `h`.
fn count(lab: &Lab, h: &str, addr: &str) -> usize {
    lab.addrs(h, "eth0")
        .unwrap()
        .iter()
        .filter(|a| *a == addr)
        .count()
}

/// `ip link show dev eth0` in host `h`.
fn link(lab: &Lab, h: &str) -> String {
    let out = lab.exec(h, &["ip", "link", "show", "dev", "eth0"]).unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Whether an XDP program is attached to eth0 in host `h` (`xdp`, `xdpgeneric`, ...,
/// and `prog/xdp id N` in `ip link show`).
fn xdp_attached(lab: &Lab, h: &str) -> bool {
    link(lab, h).contains("xdp")
}

/// tcpdump's decode of up to `n` VRRP packets seen on eth0 of host `h` within `secs`.
fn captured_adverts(lab: &Lab, h: &str, file: &Path, n: usize, secs: u64) -> Vec<String> {
    capture_vrrp(lab, h, file, n, Duration::from_secs(secs));
    tcpdump_decode(file)
        .lines()
        .filter(|l| l.contains("VRRP"))
        .map(str::to_string)
        .collect()
}

#[test]
fn crash_leftovers_are_removed_at_the_next_start_and_a_hand_added_address_is_untouched() {
    let (dir, mut lab) = pair_test("engine-life-crash");
    // The administrator's own address on the same interface and subnet.
    let admin = "10.9.0.200/24";
    lab.exec("r1", &["ip", "addr", "add", admin, "dev", "eth0"])
        .unwrap();
    let (r1, r2) = elected_pair(&mut lab, &dir);
    assert_eq!(count(&lab, "r1", admin), 1);

    // A crash: nothing runs the shutdown path, so the address stays behind on r1 (and r2,
    // hearing nothing, takes it too: both hold it now). This is the problem cleaned up below.
    assert!(r1.stop(&mut lab, libc::SIGKILL, secs(5)));
    assert!(has(&lab, "r1", VIP), "a SIGKILLed agent leaves {VIP} on r1");
    // The pinned XDP program stays: its kernel guard stops r1 answering for the address
    // once the heartbeat is older than Master_Down (tests/netns_guard.rs).
    assert!(
        xdp_attached(&lab, "r1"),
        "the pinned XDP program outlives the agent"
    );
    assert!(
        wait_for(secs(3), || has(&lab, "r2", VIP)),
        "r2 takes over from the dead master\n{}",
        r2.log()
    );
    assert!(has(&lab, "r1", VIP), "still left behind on r1");
    assert_eq!(count(&lab, "r1", admin), 1);

    // The next run on r1 removes it at start, then wins the election again. The clean-up
    // is reported only in the log: no event or status field carries it.
    let rerun = Agent::start(&mut lab, "r1", &config("pair-master.conf"), &dir, &[]);
    let leftover = [
        "WARN",
        "removed a virtual address left behind",
        "10.9.0.100",
    ];
    assert!(
        wait_for(secs(5), || !rerun.log_lines(&leftover).is_empty()),
        "the restart warns about the leftover\nfirst run:\n{}\nsecond run:\n{}",
        r1.log(),
        rerun.log()
    );
    assert!(
        rerun
            .wait_move(0, "VI_51", StateName::Master, secs(5))
            .is_some(),
        "r1 becomes master again\n{}",
        rerun.log()
    );
    // r1 holds it again and r2 released it.
    expect_alone(&lab, "r1", VIP, secs(5), &[&rerun, &r2]);
    assert_eq!(count(&lab, "r1", VIP), 1, "{VIP} once on r1");
    // Only our own address was cleaned up: the warning names nothing else.
    let warnings = rerun.log_lines(&["removed a virtual address left behind"]);
    assert_eq!(warnings.len(), 1, "{warnings:#?}");
    assert_eq!(
        count(&lab, "r1", admin),
        1,
        "the hand-added {admin} survives\n{}",
        rerun.log()
    );
    assert!(
        has(&lab, "r1", "10.9.0.1/24"),
        "the primary address survives"
    );
}

#[test]
fn a_link_cut_puts_the_master_in_fault_releasing_the_address_and_it_preempts_back_when_restored() {
    let (dir, mut lab) = pair_test("engine-life-cut");
    let (r1, r2) = elected_pair(&mut lab, &dir);
    std::thread::sleep(Duration::from_millis(300));

    let mark = r1.mark();
    lab.cut("r1").unwrap();
    assert_eq!(
        r1.wait_move(mark, "VI_51", StateName::Fault, secs(3)),
        Some(Cause::InterfaceDown),
        "r1 goes to FAULT\n{}",
        r1.log()
    );
    assert!(
        wait_for(secs(2), || !has(&lab, "r1", VIP)),
        "r1 in FAULT no longer holds {VIP}\n{}",
        r1.log()
    );
    assert!(
        wait_for(secs(3), || has(&lab, "r2", VIP)),
        "r2 takes over while r1 is cut off\n{}",
        r2.log()
    );
    // Stays so while the link is down.
    std::thread::sleep(Duration::from_millis(500));
    assert!(only(&lab, "r2", "r1", VIP));

    let mark = r1.mark();
    lab.set_port("p-r1", true).unwrap();
    // Restored r1 (priority 150, preempt) takes it back from r2.
    expect_alone(&lab, "r1", VIP, secs(5), &[&r1, &r2]);
    assert!(
        r1.wait_move(mark, "VI_51", StateName::Master, secs(2))
            .is_some(),
        "r1 became master again\n{}",
        r1.log()
    );
    assert!(
        r1.wait_event(mark, secs(1), |e| matches!(
            e,
            Event::Transition {
                from: StateName::Fault,
                ..
            }
        ))
        .is_some(),
        "r1 left FAULT\n{}",
        r1.log()
    );
    // And it is stable.
    std::thread::sleep(Duration::from_millis(500));
    assert!(only(&lab, "r1", "r2", VIP));
}

#[test]
fn sigterm_on_a_10ms_master_exits_within_100ms_detaching_xdp_and_removing_the_address() {
    let (dir, mut lab) = pair_test("engine-life-term");
    // r1 is master.
    let (r1, r2) = engine_pair(&mut lab, &dir, "fast-master", "fast-backup", secs(5));
    assert!(xdp_attached(&lab, "r1"), "the agent runs with XDP on r1");
    std::thread::sleep(Duration::from_millis(500));

    let exit = r1
        .time_sigterm(&mut lab, secs(5))
        .expect("r1 exits on SIGTERM");
    eprintln!("SIGTERM to exit of a 10 ms master: {exit:?}");
    assert!(
        exit < Duration::from_millis(100),
        "exit took {exit:?}\n{}",
        r1.log()
    );
    assert!(
        !xdp_attached(&lab, "r1"),
        "no XDP program left on r1's eth0:\n{}",
        link(&lab, "r1")
    );
    assert!(!has(&lab, "r1", VIP), "r1 released {VIP}");
    // r2 takes over.
    expect_alone(&lab, "r2", VIP, secs(2), &[&r2]);
}

#[test]
fn unicast_peers_elect_one_master_advertise_to_the_peer_address_and_fail_over_on_sigterm() {
    let (dir, mut lab) = pair_test("engine-life-unicast");
    // The switch drops every VRRP frame to the group: only unicast can get through.
    for cmd in [
        "add table bridge vxt",
        "add chain bridge vxt nomcast { type filter hook forward priority 0; }",
        "add rule bridge vxt nomcast ip daddr 224.0.0.18 ip protocol 112 counter drop",
    ] {
        lab.exec("sw", &["nft", cmd]).unwrap();
    }
    // r1 (priority 150) is the one master.
    let (r1, r2) = engine_pair(&mut lab, &dir, "unicast-a", "unicast-b", secs(5));
    std::thread::sleep(secs(1));
    assert!(only(&lab, "r1", "r2", VIP), "stable\nr2: {}", r2.log());

    let adverts = captured_adverts(&lab, "r2", &dir.join("unicast.pcap"), 3, 5);
    assert_eq!(
        adverts.len(),
        3,
        "three adverts captured on r2:\n{adverts:#?}"
    );
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

    let mark = r2.mark();
    r1.stop(&mut lab, libc::SIGTERM, secs(2));
    // r2 takes over when r1 leaves.
    expect_alone(&lab, "r2", VIP, secs(2), &[&r2]);
    assert_eq!(
        r2.wait_move(mark, "VI_61", StateName::Master, secs(1)),
        Some(Cause::MasterResigned),
        "r2 heard r1's unicast priority-0 advert\n{}",
        r2.log()
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
    let (dir, mut lab) = pair_test("engine-life-many");
    const N: u8 = 20;
    let (a, b) = (dir.join("many-a.conf"), dir.join("many-b.conf"));
    std::fs::write(&a, many_instances_conf("r1", 150, N)).unwrap();
    std::fs::write(&b, many_instances_conf("r2", 100, N)).unwrap();
    let vips: Vec<String> = (1..=N).map(|id| format!("10.9.1.{id}/24")).collect();
    let (r1, r2) = start_pair(&mut lab, &dir, &a, &b);
    assert!(
        wait_for(secs(10), || present(&lab, "r1", &vips).len() == vips.len()
            && present(&lab, "r2", &vips).is_empty()),
        "all {N} on r1 only: r1 {:?}, r2 {:?}\n{}",
        present(&lab, "r1", &vips),
        present(&lab, "r2", &vips),
        logs(&[&r1, &r2])
    );
    std::thread::sleep(secs(1));
    assert_eq!(present(&lab, "r1", &vips).len(), vips.len(), "stable on r1");
    assert!(present(&lab, "r2", &vips).is_empty(), "stable: none on r2");

    let t0 = Instant::now();
    assert!(r1.stop(&mut lab, libc::SIGTERM, secs(2)));
    let moved = wait_for(secs(2).saturating_sub(t0.elapsed()), || {
        present(&lab, "r2", &vips).len() == vips.len()
    });
    let took = t0.elapsed();
    assert!(
        moved,
        "all {N} on r2 within 2 s of SIGTERM ({took:?}): r2 has {:?}\n{}",
        present(&lab, "r2", &vips),
        r2.log()
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
    let (dir, mut lab) = pair_test("engine-life-v2");
    // Master_Down_Interval at 1 s adverts is 3.4 s for r1; allow for a busy machine.
    // r1 (priority 150) is master.
    let (r1, r2) = engine_pair(&mut lab, &dir, "v2-default-a", "v2-default-b", secs(10));
    let adverts = captured_adverts(&lab, "r2", &dir.join("v2.pcap"), 2, 6);
    assert!(!adverts.is_empty(), "adverts captured on r2");
    for l in &adverts {
        assert!(
            l.contains("10.9.0.1 > 224.0.0.18: VRRPv2") && l.contains("intvl 1s"),
            "a v2 advert from r1 at 1 s: {l}"
        );
    }
    assert!(only(&lab, "r1", "r2", VIP), "stable");

    r1.stop(&mut lab, libc::SIGTERM, secs(2));
    // Priority 0 from r1: r2 waits Skew_Time, (256 - 100) / 256 s = 0.61 s.
    // r2 takes over.
    expect_alone(&lab, "r2", VIP, secs(3), &[&r2]);
}

fn client_ping(lab: &Lab, addr: &str) -> bool {
    lab.command("client", &["ping", "-c", "1", "-W", "1", addr])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

#[test]
fn without_accept_mode_the_master_refuses_traffic_to_the_address_but_still_answers_arp() {
    let (dir, mut lab) = pair_test("engine-noaccept");
    lab.host("client", "eth0", &["10.9.0.50/24"]).unwrap();
    // r1 is master.
    let (r1, r2) = engine_pair(&mut lab, &dir, "noaccept-a", "noaccept-b", secs(5));
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
    r1.stop(&mut lab, libc::SIGTERM, secs(2));
    // r2 takes over.
    expect_alone(&lab, "r2", VIP, secs(3), &[&r2]);
    assert!(!client_ping(&lab, "10.9.0.100"));
    // The same pair with Accept_Mode (keepalived's default) answers.
    drop(lab);
    let dir = scratch("engine-accept");
    let mut lab = pair_lab("vxt-acc-");
    lab.host("client", "eth0", &["10.9.0.50/24"]).unwrap();
    let _r1 = Agent::start(&mut lab, "r1", &config("pair-master.conf"), &dir, &[]);
    assert!(wait_for(secs(5), || has(&lab, "r1", VIP)));
    assert!(client_ping(&lab, "10.9.0.100"), "accept mode answers");
}

//! The kernel guard in a lab (docs/kernel-guard.md): r1 (master) and r2 (backup) from
//! configs/pair-*.conf and a client c on one bridge. A SIGKILLed master's host keeps its
//! address and its pinned XDP program; once the heartbeat is older than Master_Down the
//! program stops answering ARP for the address, so only the new master does. A restarted
//! agent adopts the pinned link (one program on the interface, a new one), a clean stop
//! leaves no pin and no XDP, a restart without XDP removes the dead run's pin, a reload
//! that moves the last instance off an interface takes its pin with it, and a stalled
//! (SIGSTOPped) master is not answered for until it resumes.
//! Needs root and the release agent (`cargo xtask test`).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use vrrp_agent::proto::router::StateName;
use vrrpx_tests::agent::{expect_alone, logs, start_named, Agent};
use vrrpx_tests::netns::{ensure_shared_bpffs, secs, wait_for, Lab};
use vrrpx_tests::pair::{config, has, pair_test, VIP};

/// Master_Down of r1 (100 ms adverts, priority 150): 300 ms + 106/256 × 100 ms.
const R1_MASTER_DOWN: Duration = Duration::from_micros(341_406);
/// Scheduling slack on 2 shared cores, on top of Master_Down.
const MARGIN: Duration = Duration::from_millis(400);
const VIP_ADDR: &str = "10.9.0.100";

/// The pair lab with a client c (10.9.0.9) and a bpffs the agents' pins outlive them in.
fn guard_lab(name: &str) -> (PathBuf, Lab) {
    ensure_shared_bpffs().expect("a bpffs for the lab's pins");
    let (dir, mut lab) = pair_test(name);
    lab.host("c", "eth0", &["10.9.0.9/24"]).unwrap();
    (dir, lab)
}

fn mac_text(lab: &Lab, h: &str) -> String {
    let m = lab.mac(h, "eth0").unwrap();
    m.iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// The MACs that answered the client's ARP requests for `target`: three broadcast
/// requests (`-b`: never unicast to the first answer), a second apart, within 3 s.
fn arp_repliers(lab: &Lab, target: &str) -> Vec<String> {
    let out = lab
        .command(
            "c",
            &["arping", "-b", "-c", "3", "-w", "3", "-I", "eth0", target],
        )
        .output()
        .expect("arping runs");
    eprintln!(
        "arping {target}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains("reply from"))
        .filter_map(|l| Some(l.split_once('[')?.1.split_once(']')?.0.to_uppercase()))
        .collect()
}

/// `ip -d link show dev eth0` in host `h`.
fn link_detail(lab: &Lab, h: &str) -> String {
    let out = lab
        .exec(h, &["ip", "-d", "link", "show", "dev", "eth0"])
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The ids of the XDP programs attached to eth0 in host `h` (`prog/xdp id N`).
fn xdp_programs(lab: &Lab, h: &str) -> Vec<u32> {
    let text = link_detail(lab, h);
    let words: Vec<&str> = text.split_whitespace().collect();
    words
        .windows(3)
        .filter(|w| w[0] == "prog/xdp" && w[1] == "id")
        .filter_map(|w| w[2].parse().ok())
        .collect()
}

/// Where host `h`'s namespace keeps its pins.
fn pin_dir(lab: &Lab, h: &str) -> PathBuf {
    PathBuf::from(vrrp_agent::io::pin::SHARED_BPFFS)
        .join("vrrpx/netns")
        .join(lab.ns(h))
}

/// The pins of host `h`'s namespace.
fn pins(lab: &Lab, h: &str) -> Vec<String> {
    std::fs::read_dir(pin_dir(lab, h))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// `vrrp-agent run -f CONF EXTRA...` on r1, once it is master of VI_51.
fn r1_master(lab: &mut Lab, dir: &Path, conf: &Path, extra: &[&str]) -> Agent {
    let r1 = Agent::start(lab, "r1", conf, dir, extra);
    assert!(
        r1.wait_move(0, "VI_51", StateName::Master, secs(5))
            .is_some(),
        "r1 becomes master\n{}",
        r1.log()
    );
    r1
}

/// Whether the agent logged a line with every one of `words`.
fn logged(agent: &Agent, words: &[&str]) -> bool {
    !agent.log_lines(words).is_empty()
}

#[test]
fn sigkill_of_a_master_leaves_only_the_new_master_answering_arp_and_a_restart_cleans_up() {
    let (dir, mut lab) = guard_lab("guard-kill");
    let (r1, r2) = start_named(&mut lab, &dir, "pair-master.conf", "pair-backup.conf");
    expect_alone(&lab, "r1", VIP, secs(5), &[&r1, &r2]);
    let (m1, m2) = (mac_text(&lab, "r1"), mac_text(&lab, "r2"));
    let before = arp_repliers(&lab, VIP_ADDR);
    assert!(
        !before.is_empty() && before.iter().all(|m| *m == m1),
        "only r1 ({m1}) answers while it is master: {before:?}"
    );
    let pinned = pins(&lab, "r1");
    assert_eq!(
        pinned.len(),
        1,
        "one pin for eth0: {pinned:?}\n{}",
        r1.log()
    );
    let old = xdp_programs(&lab, "r1");
    assert_eq!(old.len(), 1, "{}", link_detail(&lab, "r1"));

    let t0 = Instant::now();
    assert!(r1.stop(&mut lab, libc::SIGKILL, secs(5)));
    assert!(
        wait_for(secs(3), || has(&lab, "r2", VIP)),
        "r2 takes over from the dead master\n{}",
        r2.log()
    );
    // The address stays on r1 (nothing ran the shutdown path), and so does the pinned
    // program: the guard is what keeps r1 from answering now.
    assert!(has(&lab, "r1", VIP), "the dead agent's address stays on r1");
    assert_eq!(
        xdp_programs(&lab, "r1"),
        old,
        "the pinned program stays attached"
    );
    let settled = R1_MASTER_DOWN + MARGIN;
    if let Some(rest) = settled.checked_sub(t0.elapsed()) {
        std::thread::sleep(rest);
    }
    let after = arp_repliers(&lab, VIP_ADDR);
    assert!(
        !after.is_empty() && after.iter().all(|m| *m == m2),
        "{settled:?} after the kill only r2 ({m2}) answers, not r1 ({m1}): {after:?}\n{}",
        logs(&[&r2])
    );

    // A restart adopts the pin: a new program in the same link, one program only; the
    // leftover address is removed and r1 is master again, answering alone.
    let rerun = r1_master(&mut lab, &dir, &config("pair-master.conf"), &[]);
    expect_alone(&lab, "r1", VIP, secs(5), &[&rerun, &r2]);
    assert!(logged(&rerun, &["adopted the XDP link"]), "{}", rerun.log());
    assert!(
        logged(&rerun, &["removed a virtual address left behind"]),
        "{}",
        rerun.log()
    );
    let now = xdp_programs(&lab, "r1");
    assert!(
        now.len() == 1 && now != old,
        "one program, the new run's: {old:?} then {now:?}\n{}",
        link_detail(&lab, "r1")
    );
    assert_eq!(pins(&lab, "r1"), pinned, "the same pin");
    let back = arp_repliers(&lab, VIP_ADDR);
    assert!(
        !back.is_empty() && back.iter().all(|m| *m == m1),
        "r1 ({m1}) answers alone again: {back:?}"
    );
}

#[test]
fn a_clean_stop_removes_the_pin_and_leaves_no_xdp_on_the_interface() {
    let (dir, mut lab) = guard_lab("guard-stop");
    let r1 = r1_master(&mut lab, &dir, &config("pair-master.conf"), &[]);
    assert_eq!(pins(&lab, "r1").len(), 1, "{}", r1.log());
    assert_eq!(xdp_programs(&lab, "r1").len(), 1);
    assert!(
        r1.stop(&mut lab, libc::SIGTERM, secs(5)),
        "exits on SIGTERM"
    );
    assert!(
        pins(&lab, "r1").is_empty(),
        "pin left: {:?}",
        pins(&lab, "r1")
    );
    assert!(
        !pin_dir(&lab, "r1").exists(),
        "the namespace's pin directory is left: {}",
        pin_dir(&lab, "r1").display()
    );
    let link = link_detail(&lab, "r1");
    assert!(!link.contains("xdp"), "XDP left on eth0:\n{link}");
    assert!(!has(&lab, "r1", VIP));
}

#[test]
fn a_restart_without_xdp_removes_the_dead_runs_pin_and_its_program() {
    let (dir, mut lab) = guard_lab("guard-noxdp");
    let r1 = r1_master(&mut lab, &dir, &config("pair-master.conf"), &[]);
    assert!(r1.stop(&mut lab, libc::SIGKILL, secs(5)));
    assert_eq!(pins(&lab, "r1").len(), 1, "the pin outlives the agent");
    let rerun = r1_master(&mut lab, &dir, &config("pair-master.conf"), &["--no-xdp"]);
    assert!(pins(&lab, "r1").is_empty(), "{}", rerun.log());
    assert!(
        wait_for(secs(2), || xdp_programs(&lab, "r1").is_empty()),
        "the dead run's program is detached:\n{}",
        link_detail(&lab, "r1")
    );
    assert!(
        logged(&rerun, &["no kernel guard"]),
        "the raw-socket path says it has no guard\n{}",
        rerun.log()
    );
}

#[test]
fn a_reload_that_moves_the_last_instance_off_an_interface_removes_its_pin_and_program() {
    let (dir, mut lab) = guard_lab("guard-reload");
    lab.attach("r1", "eth1", &["10.9.1.1/24"]).unwrap();
    let conf = dir.join("r1.conf");
    let text = std::fs::read_to_string(config("pair-master.conf")).unwrap();
    std::fs::write(&conf, &text).unwrap();
    let r1 = r1_master(&mut lab, &dir, &conf, &[]);
    let before = pins(&lab, "r1");
    assert!(
        before.len() == 1 && before[0].ends_with("@eth0"),
        "{before:?}"
    );
    let moved = text
        .replace("interface eth0", "interface eth1")
        .replace("10.9.0.100/24", "10.9.1.100/24");
    std::fs::write(&conf, moved).unwrap();
    r1.signal(&lab, libc::SIGHUP);
    let only_eth1 = || {
        let p = pins(&lab, "r1");
        p.len() == 1 && p[0].ends_with("@eth1")
    };
    assert!(
        wait_for(secs(5), || only_eth1()
            && xdp_programs(&lab, "r1").is_empty()),
        "eth0 keeps nothing of ours: pins {:?}\n{}\n{}",
        pins(&lab, "r1"),
        link_detail(&lab, "r1"),
        r1.log()
    );
}

#[test]
fn a_stopped_master_is_not_answered_for_while_stalled_and_answers_again_when_it_resumes() {
    let (dir, mut lab) = guard_lab("guard-stall");
    let (r1, r2) = start_named(&mut lab, &dir, "pair-master.conf", "pair-backup.conf");
    expect_alone(&lab, "r1", VIP, secs(5), &[&r1, &r2]);
    let (m1, m2) = (mac_text(&lab, "r1"), mac_text(&lab, "r2"));
    // SIGSTOP: the process lives, its loop does not turn, so it does not beat.
    let t0 = Instant::now();
    r1.signal(&lab, libc::SIGSTOP);
    assert!(
        wait_for(secs(3), || has(&lab, "r2", VIP)),
        "r2 takes over from the stalled master\n{}",
        r2.log()
    );
    if let Some(rest) = (R1_MASTER_DOWN + MARGIN).checked_sub(t0.elapsed()) {
        std::thread::sleep(rest);
    }
    let stalled = arp_repliers(&lab, VIP_ADDR);
    r1.signal(&lab, libc::SIGCONT);
    assert!(
        !stalled.is_empty() && stalled.iter().all(|m| *m == m2),
        "only r2 ({m2}) answers while r1 ({m1}) is stalled: {stalled:?}"
    );
    // Resumed, r1 beats again, preempts (priority 150) and answers alone.
    expect_alone(&lab, "r1", VIP, secs(5), &[&r1, &r2]);
    let back = arp_repliers(&lab, VIP_ADDR);
    assert!(
        !back.is_empty() && back.iter().all(|m| *m == m1),
        "r1 ({m1}) answers alone again: {back:?}\n{}",
        logs(&[&r1, &r2])
    );
}

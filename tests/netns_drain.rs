//! Maintenance drain in a two-router lab, started the plain way: `vrrp-agent drain`
//! hands the address over at once, the drain holds across a restart of the agent, and
//! `undrain` gives the role back; `--soft` only lowers the priority. Needs root and the
//! release agent (`cargo xtask test`).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use vrrpx_tests::agent::{cli, expect_ok, start_named, Agent};
use vrrpx_tests::events::Event;
use vrrpx_tests::netns::{secs, wait_for, Lab};
use vrrpx_tests::pair::{config, pair_test, VIP};

fn only(lab: &Lab, h: &str, other: &str) -> bool {
    vrrpx_tests::pair::only(lab, h, other, VIP)
}

/// r1 (configs/pair-master.conf) and r2 (pair-backup), r1 the one holder.
fn elected(lab: &mut Lab, dir: &std::path::Path) -> (Agent, Agent) {
    let pair = start_named(lab, dir, "pair-master.conf", "pair-backup.conf");
    assert!(wait_for(secs(10), || only(lab, "r1", "r2")));
    pair
}

/// Whether `agent` published a `drain` (or, `drain` false, `undrain`) event for VI_51
/// with `mode`, after `mark`.
fn drain_event(agent: &Agent, mark: usize, drain: bool, mode: &str) -> bool {
    agent
        .wait_event(mark, secs(2), |e| match e {
            Event::Drain { instance, mode: m } if drain => {
                instance == "VI_51" && m.as_deref() == Some(mode)
            }
            Event::Undrain { instance, mode: m } if !drain => {
                instance == "VI_51" && m.as_deref() == Some(mode)
            }
            _ => false,
        })
        .is_some()
}

/// Where the agent of host `h` keeps its drain state (per network namespace).
fn drain_state(lab: &Lab, h: &str) -> PathBuf {
    PathBuf::from("/var/lib/vrrpx/netns")
        .join(lab.ns(h))
        .join("drain.json")
}

/// Removes the drain state of the lab's hosts when the test ends, also on failure.
struct CleanState(Vec<PathBuf>);

impl Drop for CleanState {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = std::fs::remove_file(p);
            if let Some(d) = p.parent() {
                let _ = std::fs::remove_dir(d);
            }
        }
    }
}

#[test]
fn drain_hands_over_at_once_survives_a_restart_and_undrain_gives_the_role_back() {
    let (dir, mut lab) = pair_test("drain-hard");
    let _clean = CleanState(vec![drain_state(&lab, "r1"), drain_state(&lab, "r2")]);
    let _ = std::fs::remove_file(drain_state(&lab, "r1"));
    let master = config("pair-master.conf");
    let (r1, _r2) = elected(&mut lab, &dir);

    let t0 = Instant::now();
    expect_ok(cli(&lab, "r1", &["drain", "VI_51"]));
    assert!(
        wait_for(secs(2), || only(&lab, "r2", "r1")),
        "the address moved\n{}",
        r1.log()
    );
    // A priority-0 advert: r2 waits only Skew_Time (61 ms at 100 ms adverts).
    let took = t0.elapsed();
    assert!(took < Duration::from_millis(800), "handover took {took:?}");
    let st = r1.instance(&lab, "VI_51").unwrap();
    assert_eq!(st["state"], "Fault");
    assert_eq!(st["drained"], "hard");
    assert_eq!(st["last_transition"]["cause"], "Drained");
    assert!(
        drain_state(&lab, "r1").exists(),
        "the drain is kept on disk"
    );
    assert!(drain_event(&r1, 0, true, "hard"), "{:?}", r1.events());

    // Restart r1: it stays out of Master.
    assert!(r1.stop(&mut lab, libc::SIGTERM, secs(3)));
    let r1 = Agent::start(&mut lab, "r1", &master, &dir, &[]);
    assert!(r1.wait_state(&lab, "VI_51", "Fault", secs(10)));
    std::thread::sleep(secs(1));
    assert!(
        only(&lab, "r2", "r1"),
        "still drained after the restart\n{}",
        r1.log()
    );
    assert_eq!(r1.instance(&lab, "VI_51").unwrap()["drained"], "hard");

    expect_ok(cli(&lab, "r1", &["undrain", "--all"]));
    assert!(
        wait_for(secs(5), || only(&lab, "r1", "r2")),
        "r1 (priority 150) preempts back\n{}",
        r1.log()
    );
    assert!(r1.instance(&lab, "VI_51").unwrap()["drained"].is_null());
    assert!(drain_event(&r1, 0, false, "hard"), "{:?}", r1.events());
    assert!(!drain_state(&lab, "r1").exists(), "nothing left on disk");
}

#[test]
fn a_soft_drain_lowers_the_priority_to_one_and_an_unknown_instance_is_refused() {
    let (dir, mut lab) = pair_test("drain-soft");
    let _clean = CleanState(vec![drain_state(&lab, "r1")]);
    let _ = std::fs::remove_file(drain_state(&lab, "r1"));
    let (r1, _r2) = elected(&mut lab, &dir);

    let out = cli(&lab, "r1", &["drain", "VI_404"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no such instance: VI_404"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(only(&lab, "r1", "r2"), "a refused drain changes nothing");

    expect_ok(cli(&lab, "r1", &["drain", "--all", "--soft"]));
    assert!(
        wait_for(secs(3), || only(&lab, "r2", "r1")),
        "r2 (100) preempts r1 at priority 1\n{}",
        r1.log()
    );
    let st = r1.instance(&lab, "VI_51").unwrap();
    assert_eq!(st["state"], "Backup", "soft: still in the election");
    assert_eq!(st["effective_priority"], 1);
    assert_eq!(st["drained"], "soft");
    assert!(drain_event(&r1, 0, true, "soft"), "{:?}", r1.events());
    let human = String::from_utf8_lossy(&cli(&lab, "r1", &["status"]).stdout).to_string();
    assert!(human.contains("(drained soft)"), "{human}");
    expect_ok(cli(&lab, "r1", &["undrain", "VI_51"]));
    assert!(wait_for(secs(5), || only(&lab, "r1", "r2")));
    assert_eq!(
        r1.instance(&lab, "VI_51").unwrap()["effective_priority"],
        150
    );
}

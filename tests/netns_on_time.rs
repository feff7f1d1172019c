//! On time by default: the daemon started the plain way runs SCHED_RR (keepalived's
//! `vrrp_rt_priority`), with reset-on-fork so its notify programs run with normal
//! scheduling; `--realtime-priority 0` turns it off, `vrrp_rt_priority` in global_defs
//! sets it. Needs root and the release agent (`cargo xtask test`).

use std::path::Path;
use std::time::Duration;

use vrrpx_tests::agent::Agent;
use vrrpx_tests::netns::wait_for;
use vrrpx_tests::pair::pair_test;

/// `chrt -p PID`'s policy and priority, e.g. ("SCHED_RR", 10).
fn sched(pid: u32) -> (String, u32) {
    let out = std::process::Command::new("chrt")
        .args(["-p", &pid.to_string()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let policy = text
        .lines()
        .find_map(|l| l.split(": ").nth(1).filter(|_| l.contains("policy")))
        .unwrap_or("")
        .trim()
        .to_string();
    let prio = text
        .lines()
        .find_map(|l| l.split(": ").nth(1).filter(|_| l.contains("priority")))
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or(0);
    (policy, prio)
}

fn conf(dir: &Path, global: &str, notify: &Path) -> std::path::PathBuf {
    let text = format!(
        "global_defs {{\n    vrrp_version 3\n{global}}}\nvrrp_instance VI_1 {{\n    interface eth0\n    virtual_router_id 61\n    priority 150\n    advert_int 0.1\n    notify_master \"/bin/sh -c 'chrt -p $$ > {}'\"\n    virtual_ipaddress {{\n        10.9.0.100/24\n    }}\n}}\n",
        notify.display()
    );
    let p = dir.join("r1.conf");
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn the_daemon_runs_real_time_by_default_and_its_notify_programs_do_not() {
    let (dir, mut lab) = pair_test("on-time-default");
    let notify = dir.join("notify-sched");
    let r1 = Agent::start(&mut lab, "r1", &conf(&dir, "", &notify), &dir, &[]);
    assert!(r1.wait_state(&lab, "VI_1", "Master", Duration::from_secs(10)));
    let (policy, prio) = sched(lab.pid(r1.idx));
    assert_eq!(policy, "SCHED_RR|SCHED_RESET_ON_FORK", "{}", r1.log());
    assert_eq!(prio, 10);
    assert!(wait_for(Duration::from_secs(5), || notify.exists()
        && std::fs::read_to_string(&notify)
            .is_ok_and(|s| s.contains("SCHED_OTHER"))));
}

#[test]
fn realtime_priority_zero_turns_it_off_and_vrrp_rt_priority_sets_it() {
    let (dir, mut lab) = pair_test("on-time-off");
    let notify = dir.join("notify-sched");
    let c = conf(&dir, "", &notify);
    let off = Agent::start(&mut lab, "r1", &c, &dir, &["--realtime-priority", "0"]);
    assert!(off.wait_state(&lab, "VI_1", "Master", Duration::from_secs(10)));
    assert_eq!(sched(lab.pid(off.idx)).0, "SCHED_OTHER");
    assert!(lab
        .stop(off.idx, libc::SIGTERM, Duration::from_secs(3))
        .unwrap());
    let c = conf(&dir, "    vrrp_rt_priority 20\n", &notify);
    let on = Agent::start(&mut lab, "r1", &c, &dir, &[]);
    assert!(on.wait_state(&lab, "VI_1", "Master", Duration::from_secs(10)));
    assert_eq!(
        sched(lab.pid(on.idx)),
        ("SCHED_RR|SCHED_RESET_ON_FORK".to_string(), 20)
    );
}

//! Unicast that hears only its peers, and replies that cannot be amplified, in network
//! namespaces: a third host that is not a `unicast_peer` sends priority 255 to the master
//! (it stays master, the drop is counted as `not_peer`), and a priority-0 flood makes the
//! master answer at most once per advert interval. Needs root and the release agent
//! (`cargo xtask test`).

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use vrrpx_tests::agent::Agent;
use vrrpx_tests::frames::Advert;
use vrrpx_tests::inject::burst_from;
use vrrpx_tests::netns::{wait_for, Lab};
use vrrpx_tests::pair::{bare_test, has, pair_test, VIP};

/// A VRRPv3 instance VI_51 at `interval` seconds; unicast to `peers` when there are any.
fn conf(dir: &Path, h: &str, priority: u8, interval: &str, src: &str, peers: &[&str]) -> PathBuf {
    let unicast = if peers.is_empty() {
        String::new()
    } else {
        format!(
            "    unicast_src_ip {src}\n    unicast_peer {{\n{}    }}\n    check_unicast_src\n",
            peers
                .iter()
                .map(|p| format!("        {p}\n"))
                .collect::<String>()
        )
    };
    let text = format!(
        "vrrp_instance VI_51 {{\n    state BACKUP\n    interface eth0\n    virtual_router_id 51\n    \
         version 3\n    priority {priority}\n    advert_int {interval}\n{unicast}    \
         virtual_ipaddress {{\n        {VIP}\n    }}\n}}\n"
    );
    let path = dir.join(format!("{h}.conf"));
    std::fs::write(&path, text).unwrap();
    path
}

fn counter(agent: &Agent, lab: &Lab, field: &str) -> u64 {
    agent
        .instance(lab, "VI_51")
        .and_then(|i| i[field].as_u64())
        .unwrap_or(0)
}

#[test]
fn a_host_that_is_not_a_unicast_peer_sending_priority_255_does_not_move_the_address() {
    let (dir, mut lab) = pair_test("unicast-not-peer");
    lab.host("x", "eth0", &["10.9.0.9/24"]).unwrap();
    let r1c = conf(&dir, "r1", 150, "0.1", "10.9.0.1", &["10.9.0.2"]);
    let r2c = conf(&dir, "r2", 100, "0.1", "10.9.0.2", &["10.9.0.1"]);
    let r1 = Agent::start(&mut lab, "r1", &r1c, &dir, &[]);
    let r2 = Agent::start(&mut lab, "r2", &r2c, &dir, &[]);
    assert!(
        wait_for(Duration::from_secs(6), || has(&lab, "r1", VIP)
            && !has(&lab, "r2", VIP)
            && r2.state(&lab, "VI_51").as_deref() == Some("Backup")),
        "r1 elected\nr1: {}\nr2: {}",
        r1.log(),
        r2.log()
    );
    let transitions = r1.transitions(&lab, "VI_51").unwrap();
    // The owner's priority, unicast to r1 from a host that can reach it but is no peer,
    // with the TTL a routed packet would have.
    let forged = Advert {
        priority: 255,
        src: "10.9.0.9".parse::<IpAddr>().unwrap(),
        dst: "10.9.0.1".parse().unwrap(),
        ttl: 61,
        src_mac: lab.mac("x", "eth0").unwrap(),
        dst_mac: lab.mac("r1", "eth0").unwrap(),
        interval: 10,
        ..Advert::v3_ipv4()
    }
    .build();
    let sent = burst_from(&lab, "x", forged, 300, 200, Duration::from_secs(3));
    assert!(sent >= 250, "sent {sent}");
    // Counters reach the status at the agent's report interval (5 s).
    assert!(
        wait_for(Duration::from_secs(8), || r1
            .rejected(&lab, "eth0", "not_peer")
            >= sent as u64 * 9 / 10),
        "r1 counts the forged adverts as not_peer: {:?}",
        r1.status(&lab).map(|s| s["rejections"].clone())
    );
    assert!(has(&lab, "r1", VIP), "r1 kept {VIP}\n{}", r1.log());
    assert!(!has(&lab, "r2", VIP));
    assert_eq!(r1.state(&lab, "VI_51").as_deref(), Some("Master"));
    assert_eq!(
        r1.transitions(&lab, "VI_51"),
        Some(transitions),
        "r1 never yielded"
    );
}

#[test]
fn a_priority_zero_flood_is_answered_at_most_once_per_advert_interval() {
    let (dir, mut lab) = bare_test("prio0-flood");
    lab.host("r1", "eth0", &["10.9.0.1/24"]).unwrap();
    lab.host("x", "eth0", &["10.9.0.9/24"]).unwrap();
    // One advert a second, so replies are easy to tell from the periodic adverts.
    let r1c = conf(&dir, "r1", 150, "1", "10.9.0.1", &[]);
    let r1 = Agent::start(&mut lab, "r1", &r1c, &dir, &[]);
    assert!(
        r1.wait_state(&lab, "VI_51", "Master", Duration::from_secs(8)),
        "r1 master\n{}",
        r1.log()
    );
    let flood = Advert {
        priority: 0,
        src: "10.9.0.9".parse::<IpAddr>().unwrap(),
        src_mac: lab.mac("x", "eth0").unwrap(),
        ..Advert::v3_ipv4()
    }
    .build();
    let sent_before = counter(&r1, &lab, "adverts_sent");
    let suppressed_before = counter(&r1, &lab, "replies_suppressed");
    let t0 = std::time::Instant::now();
    let sent = burst_from(&lab, "x", flood, 3000, 1000, Duration::from_secs(4));
    let secs = t0.elapsed().as_secs_f64();
    let sent_during = counter(&r1, &lab, "adverts_sent") - sent_before;
    let suppressed = counter(&r1, &lab, "replies_suppressed") - suppressed_before;
    assert!(sent >= 2500, "flood sent {sent}");
    // Periodic adverts (one a second) plus at most one reply per interval, plus the
    // partial intervals at either end.
    let bound = 2 * secs.ceil() as u64 + 2;
    assert!(
        sent_during <= bound,
        "{sent} priority-0 adverts in {secs:.1} s drew {sent_during} adverts (bound {bound})"
    );
    assert!(
        suppressed >= sent as u64 / 2,
        "suppressed replies counted: {suppressed} of {sent}"
    );
    assert_eq!(r1.state(&lab, "VI_51").as_deref(), Some("Master"));
}

#[test]
fn unicast_ttl_sets_the_ttl_of_adverts_to_peers_and_max_ttl_holds_them_to_it() {
    let (dir, mut lab) = pair_test("unicast-ttl");
    // r1 sends its unicast adverts with TTL 64 (as to a peer behind routers); r2 accepts
    // from r1 only TTL 64 exactly. With 255 on the wire r2 would refuse them all and take
    // over: two masters.
    let r1c = conf(&dir, "r1", 150, "0.1", "10.9.0.1", &["10.9.0.2"]);
    let text = std::fs::read_to_string(&r1c).unwrap().replace(
        "    check_unicast_src\n",
        "    check_unicast_src\n    unicast_ttl 64\n",
    );
    std::fs::write(&r1c, text).unwrap();
    let r2c = conf(
        &dir,
        "r2",
        100,
        "0.1",
        "10.9.0.2",
        &["10.9.0.1 min_ttl 64 max_ttl 64"],
    );
    let r1 = Agent::start(&mut lab, "r1", &r1c, &dir, &[]);
    let r2 = Agent::start(&mut lab, "r2", &r2c, &dir, &[]);
    assert!(
        wait_for(Duration::from_secs(10), || r2
            .instance(&lab, "VI_51")
            .is_some_and(
                |i| i["state"] == "Backup" && i["master"][0] == "10.9.0.1"
            )),
        "r2 hears r1 at TTL 64\nr1: {}\nr2: {:?}",
        r1.log(),
        r2.status(&lab)
    );
    std::thread::sleep(Duration::from_millis(500));
    assert!(has(&lab, "r1", VIP) && !has(&lab, "r2", VIP), "one master");
    assert_eq!(r2.state(&lab, "VI_51").as_deref(), Some("Backup"));
}

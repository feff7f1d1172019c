//! vrrp-agent as a good neighbour: on one NIC beside a real keepalived running another
//! VRID, and beside hosts running VRIDs of their own, its XDP filter passes the VRRP it has
//! no policy for to the stack (counted as `foreign`), so keepalived still hears its peer and
//! each VRID elects exactly one master; the agent's `status` does not count that traffic as
//! rejections. Needs root, keepalived and the release agent (`cargo xtask test`).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use aya::maps::{Map, MapData, MapInfo, PerCpuArray};
use aya::programs::loaded_programs;
use serde_json::Value;
use vrrp_ebpf::abi::{counter_index, Reason, MAP_COUNTERS};
use vrrpx_tests::agent::{logs, Agent};
use vrrpx_tests::netns::{secs, wait_for, Lab};
use vrrpx_tests::pair::{config, has, pair_test};
use vrrpx_tests::peers::{keepalived_config, start_keepalived, PeerInstance};

/// vrrp-agent's VRID 51 (configs/pair-*.conf), keepalived's VRID 52, the third host's 53.
const VIP_51: &str = "10.9.0.100/24";
const VIP_52: &str = "10.9.0.152/24";
const VIP_53: &str = "10.9.0.153/24";

/// keepalived in host `h` running VRID `vrid` alone (VRRPv3, 100 ms adverts).
fn start_keepalived_vrid(lab: &mut Lab, h: &str, vrid: u8, priority: u8, vip: &str, dir: &Path) {
    let name = format!("VI_{vrid}");
    let conf = keepalived_config(h, &[PeerInstance::v3(&name, vrid, priority, &[vip])]);
    start_keepalived(lab, h, &conf, dir).unwrap();
}

/// A vrrp-agent configuration of one VRRPv3 instance at 100 ms on eth0, written to `dir`.
fn agent_config(dir: &Path, h: &str, vrid: u8, vip: &str) -> std::path::PathBuf {
    let path = dir.join(format!("{h}.conf"));
    std::fs::write(
        &path,
        format!(
            "global_defs {{\n    router_id {h}\n    vrrp_version 3\n}}\n\
             vrrp_instance VI_{vrid} {{\n    state BACKUP\n    interface eth0\n    \
             virtual_router_id {vrid}\n    priority 100\n    advert_int 0.1\n    \
             virtual_ipaddress {{\n        {vip}\n    }}\n}}\n"
        ),
    )
    .unwrap();
    path
}

/// r1 and r2 (tests/pair.rs) and a third host, r3 (10.9.0.3), running vrrp-agent with
/// VRID 53 alone: a neighbour none of whose VRRP is r1's or r2's.
fn lab_with_neighbour(name: &str) -> (PathBuf, Lab) {
    let (dir, mut lab) = pair_test(name);
    lab.host("r3", "eth0", &["10.9.0.3/24"]).unwrap();
    let r3_conf = agent_config(&dir, "r3", 53, VIP_53);
    // Its process runs until the lab ends; nothing here asks it anything.
    Agent::start(&mut lab, "r3", &r3_conf, &dir, &[]);
    (dir, lab)
}

/// How many of `hosts` hold `vip` on eth0.
fn holders(lab: &Lab, hosts: &[&str], vip: &str) -> usize {
    hosts.iter().filter(|h| has(lab, h, vip)).count()
}

/// The kernel's verdict counters of the XDP program attached to eth0 in host `h`: found
/// through the program id `ip` reports, summed over CPUs. `count(vrid, reason)` reads one.
struct XdpCounters {
    map: PerCpuArray<MapData, u64>,
}

impl XdpCounters {
    fn of(lab: &Lab, h: &str) -> XdpCounters {
        let out = lab
            .exec(h, &["ip", "-j", "link", "show", "dev", "eth0"])
            .unwrap();
        let links: Value = serde_json::from_slice(&out.stdout).unwrap();
        let prog_id = links[0]["xdp"]["prog"]["id"]
            .as_u64()
            .unwrap_or_else(|| panic!("no XDP program on {h}'s eth0: {links}"))
            as u32;
        let prog = loaded_programs()
            .filter_map(Result::ok)
            .find(|p| p.id() == prog_id)
            .expect("the attached program is loaded");
        let counters = prog
            .map_ids()
            .unwrap()
            .unwrap_or_default()
            .into_iter()
            .find(|&id| MapInfo::from_id(id).is_ok_and(|m| m.name_as_str() == Some(MAP_COUNTERS)))
            .expect("the program has its COUNTERS map");
        let map = Map::from_map_data(MapData::from_id(counters).unwrap()).unwrap();
        XdpCounters {
            map: PerCpuArray::try_from(map).unwrap(),
        }
    }

    fn count(&self, vrid: u8, reason: Reason) -> u64 {
        let index = counter_index(vrid, reason as u32);
        self.map.get(&index, 0).unwrap().iter().sum()
    }

    /// Everything counted under `vrid` as a rejection.
    fn rejected(&self, vrid: u8) -> u64 {
        Reason::ALL
            .iter()
            .filter(|r| r.is_rejection())
            .map(|&r| self.count(vrid, r))
            .sum()
    }
}

#[test]
fn beside_keepalived_on_the_same_nic_each_vrid_elects_one_master_and_the_agent_passes_the_others() {
    let (dir, mut lab) = lab_with_neighbour("neighbours-same-nic");
    // keepalived first, so its election happens under the agents' filters.
    start_keepalived_vrid(&mut lab, "r1", 52, 150, VIP_52, &dir);
    start_keepalived_vrid(&mut lab, "r2", 52, 100, VIP_52, &dir);
    let r1 = Agent::start(&mut lab, "r1", &config("pair-master.conf"), &dir, &[]);
    let r2 = Agent::start(&mut lab, "r2", &config("pair-backup.conf"), &dir, &[]);

    let pair = ["r1", "r2"];
    let settled = wait_for(secs(15), || {
        has(&lab, "r1", VIP_51)
            && has(&lab, "r1", VIP_52)
            && holders(&lab, &pair, VIP_51) == 1
            && holders(&lab, &pair, VIP_52) == 1
            && has(&lab, "r3", VIP_53)
    });
    let state = |lab: &Lab| {
        format!(
            "r1 {:?}, r2 {:?}, r3 {:?}\n{}",
            lab.addrs("r1", "eth0").unwrap(),
            lab.addrs("r2", "eth0").unwrap(),
            lab.addrs("r3", "eth0").unwrap(),
            logs(&[&r1, &r2]),
        )
    };
    assert!(
        settled,
        "one master per VRID: r1 for 51 (agent) and 52 (keepalived), r3 for 53\n{}",
        state(&lab)
    );
    for a in [&r1, &r2] {
        let st = a.status(&lab).unwrap_or_default();
        let path = st["receive_paths"]["eth0"].as_str().unwrap_or_default();
        assert!(
            path.starts_with("xdp"),
            "{}: the XDP path is live: {st:#}",
            a.host
        );
    }
    // And it stays so: no second master for either VRID in the next two seconds.
    let until = Instant::now() + secs(2);
    while Instant::now() < until {
        assert_eq!(holders(&lab, &pair, VIP_51), 1, "{}", state(&lab));
        assert_eq!(holders(&lab, &pair, VIP_52), 1, "{}", state(&lab));
        std::thread::sleep(Duration::from_millis(100));
    }

    // r2's filter heard keepalived r1's VRID 52 and r3's VRID 53 at 100 ms for seconds:
    // all of it passed as foreign, none of it rejected; its own VRID 51 was accepted.
    let r2 = XdpCounters::of(&lab, "r2");
    for vrid in [52, 53] {
        assert!(
            r2.count(vrid, Reason::Foreign) >= 20,
            "r2: VRID {vrid} foreign {}",
            r2.count(vrid, Reason::Foreign)
        );
        assert_eq!(r2.rejected(vrid), 0, "r2: VRID {vrid} rejected");
        assert_eq!(r2.count(vrid, Reason::Accepted), 0, "r2: VRID {vrid}");
    }
    assert!(
        r2.count(51, Reason::Accepted) >= 20,
        "r2 hears r1's VRID 51"
    );
    // r1, master of both, hears r3's VRID 53 the same way.
    let r1 = XdpCounters::of(&lab, "r1");
    assert!(r1.count(53, Reason::Foreign) >= 20, "r1: VRID 53 foreign");
    assert_eq!(r1.rejected(53), 0, "r1: VRID 53 rejected");
}

#[test]
fn neighbours_running_other_vrids_are_not_counted_as_rejections_in_status() {
    // The neighbours speak first: vrrp-agent's VRID 53 on r3, keepalived's VRID 52 on r2.
    let (dir, mut lab) = lab_with_neighbour("neighbours-status");
    start_keepalived_vrid(&mut lab, "r2", 52, 100, VIP_52, &dir);
    assert!(
        wait_for(secs(10), || has(&lab, "r2", VIP_52)
            && has(&lab, "r3", VIP_53)),
        "the neighbours are masters of their VRIDs"
    );
    let agent = Agent::start(&mut lab, "r1", &config("pair-master.conf"), &dir, &[]);
    assert!(
        wait_for(secs(10), || has(&lab, "r1", VIP_51)),
        "r1 runs VRID 51\n{}",
        agent.log()
    );
    // The filter sees the neighbours (so what follows is not vacuous) ...
    let r1 = XdpCounters::of(&lab, "r1");
    let heard = wait_for(secs(5), || {
        [52, 53].iter().all(|&v| r1.count(v, Reason::Foreign) >= 10)
    });
    assert!(
        heard,
        "r1's filter passed the neighbours' adverts as foreign"
    );
    // ... the engine reads the counters into its status every 5 s: let one such report
    // include them ...
    std::thread::sleep(secs(6));
    let status = agent.status(&lab).unwrap_or_default();
    let rejections = &status["rejections"]["eth0"];
    assert!(
        rejections.is_object(),
        "status reports eth0's rejections: {status:#}\n{}",
        agent.log()
    );
    // ... and none of it is a rejection: nothing failed a check of r1's own VRID 51.
    let counted: Vec<(&String, &Value)> = rejections
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, n)| n.as_u64() != Some(0))
        .collect();
    assert!(
        counted.is_empty(),
        "neighbours' adverts counted as rejections: {counted:?}"
    );
}

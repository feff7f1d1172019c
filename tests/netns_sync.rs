//! `vrrp_sync_group`: instances on two interfaces move together. When the back link of
//! the preferred router fails, both of its instances leave Master and the standby takes
//! both addresses; when the link returns, both come back. Needs root and the release
//! agent (`cargo xtask test`).

use std::path::Path;
use std::time::Duration;

use vrrpx_tests::netns::{wait_for, Lab};
use vrrpx_tests::{agent_bin, is_root, scratch, workspace};

const FRONT: &str = "10.9.0.100/24";
const BACK: &str = "10.9.6.100/24";

fn holds(lab: &Lab, h: &str, ifname: &str, addr: &str) -> bool {
    lab.addrs(h, ifname).unwrap().iter().any(|a| a == addr)
}

fn both_on(lab: &Lab, h: &str, other: &str) -> bool {
    holds(lab, h, "eth0", FRONT)
        && holds(lab, h, "eth1", BACK)
        && !holds(lab, other, "eth0", FRONT)
        && !holds(lab, other, "eth1", BACK)
}

fn start(lab: &mut Lab, h: &str, conf: &str, dir: &Path) {
    let bin = agent_bin();
    let conf = workspace().join("tests/engine").join(conf);
    lab.spawn(
        h,
        &[bin.to_str().unwrap(), "run", "-f", conf.to_str().unwrap()],
        &dir.join(format!("{h}.out")),
        &dir.join(format!("{h}.log")),
    )
    .unwrap();
}

fn logs(dir: &Path) -> String {
    ["r1", "r2"]
        .iter()
        .map(|h| std::fs::read_to_string(dir.join(format!("{h}.log"))).unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n----\n")
}

#[test]
fn a_sync_group_moves_both_instances_when_one_link_fails_and_back_when_it_returns() {
    assert!(is_root(), "needs root; run `cargo xtask test`");
    assert!(agent_bin().exists(), "run `cargo xtask test`");
    let dir = scratch("netns-sync");
    let mut lab = Lab::new("vxt-sync-").unwrap();
    lab.host("r1", "eth0", &["10.9.0.1/24"]).unwrap();
    lab.host("r2", "eth0", &["10.9.0.2/24"]).unwrap();
    lab.attach("r1", "eth1", &["10.9.6.1/24"]).unwrap();
    lab.attach("r2", "eth1", &["10.9.6.2/24"]).unwrap();
    start(&mut lab, "r1", "sync-a.conf", &dir);
    start(&mut lab, "r2", "sync-b.conf", &dir);
    assert!(
        wait_for(Duration::from_secs(5), || both_on(&lab, "r1", "r2")),
        "r1 holds both\n{}",
        logs(&dir)
    );

    // Only the back link fails; the front link is fine, yet the front address must move.
    lab.set_port("p-r1-eth1", false).unwrap();
    assert!(
        wait_for(Duration::from_secs(3), || both_on(&lab, "r2", "r1")),
        "r2 took both\n{}",
        logs(&dir)
    );
    let r1 = std::fs::read_to_string(dir.join("r1.log")).unwrap();
    assert!(r1.contains("instance=\"FRONT\"") && r1.contains("to=FAULT cause=SyncGroup"));

    lab.set_port("p-r1-eth1", true).unwrap();
    assert!(
        wait_for(Duration::from_secs(5), || both_on(&lab, "r1", "r2")),
        "both back on r1\n{}",
        logs(&dir)
    );
}

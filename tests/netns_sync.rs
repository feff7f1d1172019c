//! `vrrp_sync_group`: instances on two interfaces move together. When the back link of
//! the preferred router fails, both of its instances leave Master and the standby takes
//! both addresses; when the link returns, both come back. Needs root and the release
//! agent (`cargo xtask test`).

use vrrp_agent::proto::router::{Cause, StateName};
use vrrpx_tests::agent::{logs, start_named};
use vrrpx_tests::netns::{secs, wait_for, Lab};
use vrrpx_tests::pair::pair_test;

const FRONT: &str = "10.9.0.100/24";
const BACK: &str = "10.9.6.100/24";

fn both_on(lab: &Lab, h: &str, other: &str) -> bool {
    lab.holds(h, "eth0", FRONT)
        && lab.holds(h, "eth1", BACK)
        && !lab.holds(other, "eth0", FRONT)
        && !lab.holds(other, "eth1", BACK)
}

#[test]
fn a_sync_group_moves_both_instances_when_one_link_fails_and_back_when_it_returns() {
    let (dir, mut lab) = pair_test("netns-sync");
    lab.attach("r1", "eth1", &["10.9.6.1/24"]).unwrap();
    lab.attach("r2", "eth1", &["10.9.6.2/24"]).unwrap();
    let (r1, r2) = start_named(&mut lab, &dir, "engine/sync-a.conf", "engine/sync-b.conf");
    let both = [&r1, &r2];
    assert!(
        wait_for(secs(5), || both_on(&lab, "r1", "r2")),
        "r1 holds both\n{}",
        logs(&both)
    );

    // Only the back link fails; the front link is fine, yet the front address must move.
    let mark = r1.mark();
    lab.set_port("p-r1-eth1", false).unwrap();
    assert!(
        wait_for(secs(3), || both_on(&lab, "r2", "r1")),
        "r2 took both\n{}",
        logs(&both)
    );
    assert!(
        r1.moves_since(mark, "FRONT")
            .contains(&(StateName::Fault, Cause::SyncGroup)),
        "FRONT followed its group into FAULT: {:?}",
        r1.events()
    );

    lab.set_port("p-r1-eth1", true).unwrap();
    assert!(
        wait_for(secs(5), || both_on(&lab, "r1", "r2")),
        "both back on r1\n{}",
        logs(&both)
    );
}

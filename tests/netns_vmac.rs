//! `use_vmac`: the master holds the address on a macvlan `vrrp.<vrid>` with the virtual
//! MAC 00:00:5e:00:01:<vrid> (RFC 5798 §7.3); clients resolve the address to that MAC, and
//! after failover the same MAC answers from the other router. The macvlan is removed when
//! the agent stops. Needs root and the release agent (`cargo xtask test`).

use vrrpx_tests::agent::start_named;
use vrrpx_tests::netns::{secs, wait_for, Lab};
use vrrpx_tests::pair::pair_test;

const VMAC: &str = "00:00:5e:00:01:33";

fn link(lab: &Lab, h: &str) -> String {
    lab.command(h, &["ip", "-o", "link", "show", "vrrp.51"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

fn vip_on_vmac(lab: &Lab, h: &str) -> bool {
    lab.holds(h, "vrrp.51", "10.9.0.100/24")
}

fn client_mac_for_vip(lab: &Lab) -> Option<String> {
    let _ = lab
        .command("client", &["ping", "-c", "1", "-W", "1", "10.9.0.100"])
        .output();
    let out = lab
        .exec("client", &["ip", "neigh", "show", "10.9.0.100"])
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut words = text.split_whitespace();
    words.position(|w| w == "lladdr")?;
    words.next().map(|s| s.to_string())
}

#[test]
fn use_vmac_keeps_the_virtual_mac_for_clients_across_failover_and_removes_the_macvlan_on_exit() {
    let (dir, mut lab) = pair_test("netns-vmac");
    lab.host("client", "eth0", &["10.9.0.50/24"]).unwrap();
    let (r1, _r2) = start_named(&mut lab, &dir, "engine/vmac-a.conf", "engine/vmac-b.conf");
    assert!(
        wait_for(secs(5), || vip_on_vmac(&lab, "r1")),
        "r1 holds the address on vrrp.51\n{}",
        r1.log()
    );
    assert!(
        link(&lab, "r1").contains(VMAC),
        "vrrp.51 has the virtual MAC: {}",
        link(&lab, "r1")
    );
    assert!(
        link(&lab, "r2").contains(VMAC),
        "the backup prepared its vrrp.51 too"
    );
    assert!(!vip_on_vmac(&lab, "r2"));
    assert_eq!(client_mac_for_vip(&lab).as_deref(), Some(VMAC));

    assert!(r1.stop(&mut lab, libc::SIGTERM, secs(2)));
    assert!(link(&lab, "r1").is_empty(), "vrrp.51 removed on exit");
    assert!(
        wait_for(secs(3), || vip_on_vmac(&lab, "r2")),
        "r2 took over on its vrrp.51"
    );
    assert_eq!(
        client_mac_for_vip(&lab).as_deref(),
        Some(VMAC),
        "the client's entry still points at the virtual MAC, now answered by r2"
    );
    let ping = lab.exec("client", &["ping", "-c", "1", "-W", "1", "10.9.0.100"]);
    assert!(ping.is_ok(), "r2 answers at the virtual MAC");
}

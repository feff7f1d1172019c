//! Split brain in a lab: the switch drops VRRP, so both routers become master; each
//! detects the other (status counter, typed event) and, once adverts pass again, it heals
//! to the higher priority master, and a client that followed the losing side is moved
//! back whichever side hears the other first. Needs root and the release agent
//! (`cargo xtask test`).

use std::path::Path;
use std::time::{Duration, Instant};

use vrrp_agent::proto::router::Cause::Preempted;
use vrrp_agent::proto::router::StateName::{self, Backup, Master};
use vrrpx_tests::agent::{expect_alone, instance_in, logs, start_named, Agent};
use vrrpx_tests::events::Event;
use vrrpx_tests::netns::{secs, wait_for, Lab};
use vrrpx_tests::pair::{has, only, pair_lab, preconditions, VIP};
use vrrpx_tests::scratch;

/// r1, r2 and a client c (10.9.0.50) on one bridge.
fn split_lab(prefix: &str) -> Lab {
    let mut lab = pair_lab(prefix);
    lab.host("c", "eth0", &["10.9.0.50/24"]).unwrap();
    lab
}

/// The nftables table (in the switch) that drops the VRRP adverts host `h` sends.
fn drop_table(h: &str) -> String {
    format!("vxtsplit_{h}")
}

/// Drop VRRP (IP protocol 112) at the switch, one table per sending router so that each
/// direction can be healed on its own: the two routers stop hearing each other, and
/// nothing else changes (ARP still passes).
fn block_vrrp(lab: &Lab) {
    for h in ["r1", "r2"] {
        let t = drop_table(h);
        for cmd in [
            format!("add table bridge {t}"),
            format!("add chain bridge {t} c {{ type filter hook forward priority 0; }}"),
            format!("add rule bridge {t} c iifname \"p-{h}\" ip protocol 112 counter drop"),
        ] {
            lab.exec("sw", &["nft", &cmd]).unwrap();
        }
    }
}

/// Let host `h`'s adverts through again.
fn unblock_from(lab: &Lab, h: &str) {
    lab.exec(
        "sw",
        &["nft", &format!("delete table bridge {}", drop_table(h))],
    )
    .unwrap();
}

fn unblock_vrrp(lab: &Lab) {
    unblock_from(lab, "r1");
    unblock_from(lab, "r2");
}

/// Packets the VRRP drop rules have dropped.
fn dropped(lab: &Lab) -> u64 {
    ["r1", "r2"]
        .iter()
        .map(|h| {
            let out = lab
                .exec("sw", &["nft", "list", "table", "bridge", &drop_table(h)])
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            text.split_once("counter packets ")
                .and_then(|(_, r)| r.split_whitespace().next())
                .and_then(|n| n.parse::<u64>().ok())
                .unwrap_or(0)
        })
        .sum()
}

fn mac(lab: &Lab, h: &str) -> String {
    let out = lab.exec(h, &["ip", "-o", "link", "show", "eth0"]).unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut words = text.split_whitespace();
    words.find(|w| *w == "link/ether");
    words.next().unwrap().to_string()
}

/// The client's neighbour entry for the VIP (`ip neigh show`), after one ping.
fn client_neighbour(lab: &Lab) -> String {
    let _ = lab
        .command("c", &["ping", "-c", "1", "-W", "0.3", "10.9.0.100"])
        .output();
    let out = lab
        .exec("c", &["ip", "neigh", "show", "10.9.0.100", "dev", "eth0"])
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Start r1 (150) and r2 (100) and wait until r1 is the one master.
fn split_pair(lab: &mut Lab, dir: &Path) -> (Agent, Agent) {
    let (r1, r2) = start_named(lab, dir, "split-brain-a.conf", "split-brain-b.conf");
    // r1 is master.
    expect_alone(lab, "r1", VIP, secs(5), &[&r1, &r2]);
    (r1, r2)
}

/// Block VRRP and wait until both are master and each has counted split brain.
fn split(lab: &Lab, r1: &Agent, r2: &Agent) {
    block_vrrp(lab);
    let t0 = Instant::now();
    assert!(
        wait_for(secs(3), || has(lab, "r1", VIP) && has(lab, "r2", VIP)),
        "r2 also becomes master when it stops hearing r1\nr2: {}",
        r2.log()
    );
    eprintln!("both masters after {:?}", t0.elapsed());
    assert!(dropped(lab) > 0, "the switch drops VRRP");
    // Each master hears the other's gratuitous ARP for the VIP.
    for a in [r1, r2] {
        let st = a.status_until(lab, secs(5), |s| {
            s["split_brain_events"].as_u64().is_some_and(|n| n > 0)
        });
        assert!(
            st["split_brain_events"].as_u64().is_some_and(|n| n > 0),
            "{} counts split brain: {st:#}\n{}",
            a.host,
            a.log()
        );
        assert_eq!(
            instance_in(&st, "VI_51").unwrap()["state"],
            "Master",
            "{st:#}"
        );
    }
}

#[test]
fn split_brain_is_detected_by_both_masters_and_heals_to_the_higher_priority_one() {
    preconditions();
    let dir = scratch("ops-split");
    let mut lab = split_lab("vxt-ops-split-");
    let (r1, r2) = split_pair(&mut lab, &dir);
    split(&lab, &r1, &r2);
    // Each reports it as an event, naming the instance, its interface and VRID.
    for a in [&r1, &r2] {
        let seen = a.wait_event(0, secs(3), |e| {
            matches!(e, Event::SplitBrain { instance, interface, vrid: 51, .. }
                if instance == "VI_51" && interface == "eth0")
        });
        assert!(
            seen.is_some(),
            "a split_brain event from {}: {:?}",
            a.host,
            a.events()
        );
    }

    // Heal: r2 hears r1's higher priority and steps down; r1 hears r2's lower one and
    // answers at once (RFC 9568).
    let before = r2.mark();
    unblock_vrrp(&lab);
    // One master again.
    let took = expect_alone(&lab, "r1", VIP, secs(3), &[&r1, &r2]);
    eprintln!("healed to one master after {took:?}");
    assert!(
        took < secs(1),
        "healed within 1 s (3 intervals plus slack): {took:?}"
    );
    assert!(r1.wait_state(&lab, "VI_51", "Master", secs(2)));
    assert!(r2.wait_state(&lab, "VI_51", "Backup", secs(2)));
    assert_eq!(
        r2.instance(&lab, "VI_51").unwrap()["master"],
        serde_json::json!(["10.9.0.1", 150])
    );
    assert_eq!(
        r2.all_moves_since(before),
        [("VI_51".to_string(), Backup, Preempted)],
        "r2 steps down once\n{}",
        r2.log()
    );
    // And it stays healed; a client asking now finds r1.
    std::thread::sleep(Duration::from_millis(500));
    assert!(only(&lab, "r1", "r2", VIP), "stable");
    let mac1 = mac(&lab, "r1");
    let mut seen = String::new();
    assert!(
        wait_for(secs(2), || {
            seen = client_neighbour(&lab);
            seen.contains(&mac1)
        }),
        "the client's entry for the VIP points at r1 ({mac1}): `{seen}`"
    );
    let r1_states: Vec<StateName> = r1.history("VI_51").into_iter().map(|(to, _)| to).collect();
    assert_eq!(r1_states, [Backup, Master], "r1 never left MASTER");
}

/// Split brain with a client that follows r2, healed one direction at a time: first the
/// adverts of `first` get through, 300 ms later the other's. Asserts that within 2 s of
/// the full heal the client's entry for the VIP points at r1 (its MAC) again.
fn client_follows_the_master_after_a_heal_starting_with(prefix: &str, first: &str) {
    let dir = scratch(&format!("ops-heal-{first}-first"));
    let mut lab = split_lab(prefix);
    let (r1, r2) = split_pair(&mut lab, &dir);
    split(&lab, &r1, &r2);
    let (mac1, mac2) = (mac(&lab, "r1"), mac(&lab, "r2"));
    // During the split the client reaches the VIP at one of them. Make it the one that
    // will step down, as happens to some clients in a real split (those that asked while
    // it answered, or heard its announcements last): the entry is fresh (REACHABLE), so
    // the kernel will not re-check it for tens of seconds on its own.
    let during = client_neighbour(&lab);
    eprintln!("client during split brain: {during}");
    lab.exec(
        "c",
        &[
            "ip",
            "neigh",
            "replace",
            "10.9.0.100",
            "lladdr",
            &mac2,
            "dev",
            "eth0",
            "nud",
            "reachable",
        ],
    )
    .unwrap();
    // Longer than the neighbour locktime (1 s), so a gratuitous ARP may override it.
    std::thread::sleep(Duration::from_millis(1500));

    let second = if first == "r1" { "r2" } else { "r1" };
    unblock_from(&lab, first);
    std::thread::sleep(Duration::from_millis(300));
    unblock_from(&lab, second);
    let t0 = Instant::now();
    // One master again.
    expect_alone(&lab, "r1", VIP, secs(3), &[&r1, &r2]);
    let mut seen = String::new();
    let fixed = wait_for(secs(2), || {
        seen = client_neighbour(&lab);
        seen.contains(&mac1)
    });
    assert!(
        fixed,
        "within 2 s of healing ({first}'s adverts through first) the client's entry for the \
         VIP points at r1 ({mac1}), not r2 ({mac2}): `{seen}`\n{}",
        logs(&[&r1, &r2])
    );
    eprintln!(
        "client on r1 {:?} after the full heal ({first} first)",
        t0.elapsed()
    );
}

#[test]
fn when_the_master_hears_the_other_side_first_after_split_brain_its_announcement_moves_clients_back(
) {
    preconditions();
    // r1 hears r2's lower priority, answers with an advert and a gratuitous ARP.
    client_follows_the_master_after_a_heal_starting_with("vxt-ops-heal-r2-", "r2");
}

#[test]
fn when_the_other_side_hears_the_master_first_after_split_brain_clients_still_move_back() {
    preconditions();
    // r2 hears r1's higher priority and steps down without sending anything: r1 never
    // learns that the split is over, but it saw r2's announcements during the split and
    // keeps re-announcing for a while, so clients come back within a second.
    client_follows_the_master_after_a_heal_starting_with("vxt-ops-heal-r1-", "r1");
}

//! `auth_hmac` between two vrrp-agents in network namespaces: a signed pair elects one
//! master; adverts signed with a wrong key, or validly signed but replayed, are refused and
//! counted, and cannot move the address; two routers signing with different key ids that
//! both hold both keys (the middle of a rotation) elect and stay put. Needs root and the
//! release agent (`cargo xtask test`). The draft's own vectors are unit tests of
//! vrrp-agent/src/proto/auth_hmac.rs.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use vrrp_agent::io::rawsock::realtime_ns;
use vrrp_agent::proto::auth_hmac::{AntiReplay, AuthHmac, Mode, Signer};
use vrrpx_tests::agent::Agent;
use vrrpx_tests::frames::Advert;
use vrrpx_tests::inject::burst_from;
use vrrpx_tests::netns::{wait_for, Lab};
use vrrpx_tests::pair::{has, pair_test, VIP};

const KEY1: [u8; 32] = [0x11; 32];
const KEY2: [u8; 32] = [0x22; 32];

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// VI_51, VRRPv3 at 100 ms, multicast, `auth_hmac` with `keys` signing with `active`.
fn conf(dir: &Path, h: &str, priority: u8, keys: &[(u8, [u8; 32])], active: u8) -> PathBuf {
    let keys: String = keys
        .iter()
        .map(|(id, k)| format!("        key {id} hex:{}\n", hex(k)))
        .collect();
    let text = format!(
        "vrrp_instance VI_51 {{\n    state BACKUP\n    interface eth0\n    virtual_router_id 51\n    \
         version 3\n    priority {priority}\n    advert_int 0.1\n    auth_hmac {{\n{keys}        \
         active_key {active}\n        mode enforce\n        anti_replay time\n    }}\n    \
         virtual_ipaddress {{\n        {VIP}\n    }}\n}}\n"
    );
    let path = dir.join(format!("{h}.conf"));
    std::fs::write(&path, text).unwrap();
    path
}

/// The keys a router holds (id, key) and the id it signs with.
type Keys<'a> = (&'a [(u8, [u8; 32])], u8);

/// r1 (priority 150) and r2 (priority 100) on [`conf`] with their keys.
fn start_signed(lab: &mut Lab, dir: &Path, r1: Keys, r2: Keys) -> (Agent, Agent) {
    let r1c = conf(dir, "r1", 150, r1.0, r1.1);
    let r2c = conf(dir, "r2", 100, r2.0, r2.1);
    (
        Agent::start(lab, "r1", &r1c, dir, &[]),
        Agent::start(lab, "r2", &r2c, dir, &[]),
    )
}

/// Within 6 s, r1 alone holds the address as Master and r2 is Backup (`what` says which
/// pair, with both logs, if not).
fn assert_elected(lab: &Lab, r1: &Agent, r2: &Agent, what: &str) {
    assert!(
        wait_for(Duration::from_secs(6), || {
            has(lab, "r1", VIP)
                && !has(lab, "r2", VIP)
                && r1.state(lab, "VI_51").as_deref() == Some("Master")
                && r2.state(lab, "VI_51").as_deref() == Some("Backup")
        }),
        "{what}\nr1: {}\nr2: {}",
        r1.log(),
        r2.log()
    );
}

fn key(id: u8, bytes: [u8; 32]) -> AuthHmac {
    AuthHmac {
        keys: vec![(id, bytes.to_vec())],
        active_key: id,
        mode: Mode::Enforce,
        anti_replay: AntiReplay::Time { window_s: 5 },
    }
}

/// An advert of `priority` claiming to come from r2, signed under `cfg` at `utc_ns`, sent
/// from host x.
fn as_r2(lab: &Lab, priority: u8, cfg: &AuthHmac, utc_ns: u64) -> Vec<u8> {
    Advert {
        priority,
        interval: 10,
        src: "10.9.0.2".parse::<IpAddr>().unwrap(),
        src_mac: lab.mac("x", "eth0").unwrap(),
        ..Advert::v3_ipv4()
    }
    .signed(cfg, &mut Signer::default(), utc_ns)
    .build()
}

/// Builds a frame when it is about to be sent (its timestamp is then fresh).
type FrameFn<'a> = dyn Fn() -> Vec<u8> + 'a;

#[test]
fn a_signed_pair_elects_and_forged_or_replayed_adverts_are_refused_and_counted() {
    let (dir, mut lab) = pair_test("auth-hmac-pair");
    lab.host("x", "eth0", &["10.9.0.9/24"]).unwrap();
    let (r1, r2) = start_signed(&mut lab, &dir, (&[(1, KEY1)], 1), (&[(1, KEY1)], 1));
    assert_elected(&lab, &r1, &r2, "signed pair elects r1");
    let transitions = r1.transitions(&lab, "VI_51").unwrap();
    // The backup keeps hearing (and verifying) the master's signed adverts.
    assert!(wait_for(Duration::from_secs(3), || r2
        .instance(&lab, "VI_51")
        .and_then(|i| i["adverts_received"].as_u64())
        > Some(5)));

    // The owner's priority under the right key id with the wrong bytes: the HMAC does not
    // verify. Then one genuine signed advert of r2 (priority 100, below r1's: r1 stays
    // master), heard once and played back: every copy after the first is a replay.
    let wrong = || as_r2(&lab, 255, &key(1, [0x33; 32]), realtime_ns());
    let replayed = || as_r2(&lab, 100, &key(1, KEY1), realtime_ns());
    let cases: [(&FrameFn, &str, u64); 2] =
        [(&wrong, "hmac_invalid", 0), (&replayed, "hmac_replay", 1)];
    for (frame, what, genuine) in cases {
        let sent = burst_from(&lab, "x", frame(), 50, 100, Duration::from_secs(2));
        assert!(
            wait_for(Duration::from_secs(8), || r1.rejected(&lab, "eth0", what)
                >= sent as u64 - genuine),
            "r1 counts {sent} as {what}: {:?}\n{}",
            r1.status(&lab).map(|s| s["rejections"].clone()),
            r1.log()
        );
    }
    assert!(has(&lab, "r1", VIP) && !has(&lab, "r2", VIP));
    assert_eq!(
        r1.transitions(&lab, "VI_51"),
        Some(transitions),
        "no forged advert moved r1\n{}",
        r1.log()
    );
}

#[test]
fn routers_signing_with_different_keys_that_both_hold_both_keys_elect_and_stay_put() {
    let (dir, mut lab) = pair_test("auth-hmac-rotation");
    // Mid-rotation: r1 still signs with key 1, r2 already with key 2; both verify either.
    let both = [(1, KEY1), (2, KEY2)];
    let (r1, r2) = start_signed(&mut lab, &dir, (&both, 1), (&both, 2));
    assert_elected(&lab, &r1, &r2, "r1 elected");
    let (t1, t2) = (
        r1.transitions(&lab, "VI_51").unwrap(),
        r2.transitions(&lab, "VI_51").unwrap(),
    );
    std::thread::sleep(Duration::from_secs(2));
    assert!(has(&lab, "r1", VIP) && !has(&lab, "r2", VIP));
    assert_eq!(r1.transitions(&lab, "VI_51"), Some(t1), "{}", r1.log());
    assert_eq!(r2.transitions(&lab, "VI_51"), Some(t2), "{}", r2.log());
    for r in [&r1, &r2] {
        for reason in ["hmac_trailer", "hmac_invalid", "hmac_replay", "hmac_stale"] {
            assert_eq!(
                r.rejected(&lab, "eth0", reason),
                0,
                "{reason} at {}",
                r.host
            );
        }
    }
}

#[test]
fn a_router_without_the_peers_key_does_not_follow_it() {
    let (dir, mut lab) = pair_test("auth-hmac-nokey");
    // r2 holds only key 2 and cannot verify r1's key-1 adverts: it must not follow them.
    let (r1, r2) = start_signed(&mut lab, &dir, (&[(1, KEY1)], 1), (&[(2, KEY2)], 2));
    assert!(
        r2.wait_state(&lab, "VI_51", "Master", Duration::from_secs(6)),
        "r2 refuses r1's adverts and takes over\n{}",
        r2.log()
    );
    assert!(
        wait_for(Duration::from_secs(8), || r2.rejected(
            &lab,
            "eth0",
            "hmac_trailer"
        ) > 0),
        "unknown key id counted"
    );
    drop(r1);
}

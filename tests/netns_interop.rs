//! Interop with real VRRP peers in network namespaces: FRR's vrrpd (v3) and keepalived (v2
//! with PASS authentication), each side master in turn, and tshark decoding what we send
//! (v3 over IPv4 and IPv6, v2 with PASS) with good checksums.
//! Needs root, keepalived, FRR, tcpdump, tshark and the release agent (`cargo xtask test`).
//!
//! These are correctness tests, not timing tests: bounds are generous seconds because
//! other builds and network tests share the machine.

use std::path::Path;
use std::time::Duration;

use vrrp_agent::proto::router::StateName::Master;
use vrrpx_tests::agent::{expect_alone, Agent};
use vrrpx_tests::capture::{capture_vrrp, tshark_fields, tshark_verbose};
use vrrpx_tests::netns::{holds_for, secs, wait_for, Lab};
use vrrpx_tests::pair::{config, fixture, has, only, pair_test, VIP};
use vrrpx_tests::peers::{keepalived_log, start_frr, start_keepalived, PeerInstance};

// ---------------------------------------------------------------------------------------
// FRR vrrpd

fn frr_router(priority: u8) -> [PeerInstance<'static>; 1] {
    [PeerInstance::v3("VI_51", 51, priority, &[VIP])]
}

#[test]
fn frr_vrrpd_and_our_agent_interoperate_on_v3_each_side_master_in_turn() {
    let (dir, mut lab) = pair_test("interop-frr");

    // FRR on r1, priority 150: master, its VIP on its macvlan.
    let mut frr = start_frr(&mut lab, "r1", &frr_router(150), &dir).unwrap();
    assert!(
        wait_for(secs(10), || frr.status_v4(&lab, 51).as_deref()
            == Some("Master")),
        "FRR becomes master\n{}",
        frr.logs()
    );
    let ifx = lab
        .exec("r1", &["cat", "/sys/class/net/eth0/ifindex"])
        .unwrap();
    let macvlan = format!("vrrp4-{}-51", String::from_utf8_lossy(&ifx.stdout).trim());
    assert!(
        lab.addrs("r1", &macvlan).unwrap().iter().any(|a| a == VIP),
        "FRR's VIP is on {macvlan}"
    );

    // Our agent on r2, priority 100: stays backup behind FRR (2 s > 5 x Master_Down).
    let ours = Agent::start(&mut lab, "r2", &config("pair-backup.conf"), &dir, &[]);
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        holds_for(secs(2), || !has(&lab, "r2", VIP)),
        "we stay backup behind FRR (we accept its adverts)\n{}",
        ours.log()
    );
    assert_eq!(ours.times_to("VI_51", Master), 0, "{}", ours.log());
    assert_eq!(frr.status_v4(&lab, 51).as_deref(), Some("Master"));

    // FRR's vrrpd leaves (SIGTERM: priority-0 advert): we take over.
    frr.stop_vrrpd(&mut lab).unwrap();
    assert!(
        wait_for(secs(2), || has(&lab, "r2", VIP)),
        "we take over when FRR leaves\n{}",
        ours.log()
    );

    // FRR back with priority 50: it must stay Backup behind us, i.e. it accepts our
    // adverts (version, checksum with the IPv4 pseudo-header, interval).
    frr.start_vrrpd(&mut lab, &frr_router(50)).unwrap();
    assert!(
        wait_for(secs(10), || frr.status_v4(&lab, 51).as_deref()
            == Some("Backup")),
        "FRR (priority 50) starts as Backup\n{}",
        frr.logs()
    );
    assert!(
        holds_for(secs(2), || {
            frr.status_v4(&lab, 51).as_deref() == Some("Backup") && has(&lab, "r2", VIP)
        }),
        "FRR stays Backup while we are master: {:?}\n{}\nours:\n{}",
        frr.router_v4(&lab, 51),
        frr.logs(),
        ours.log()
    );
    let v4 = frr.router_v4(&lab, 51).unwrap();
    assert_eq!(
        v4["stats"]["transitions"], 1,
        "FRR only went Initialize -> Backup: {v4}"
    );
    let rx = v4["stats"]["adverRx"].as_u64().unwrap_or(0);
    assert!(rx >= 10, "FRR counted our adverts: {v4}");
    assert_eq!(
        v4["masterAdverInterval"], 100,
        "FRR learned our interval: {v4}"
    );

    // FRR back with priority 150: it preempts and we back off.
    frr.stop_vrrpd(&mut lab).unwrap();
    frr.start_vrrpd(&mut lab, &frr_router(150)).unwrap();
    assert!(
        wait_for(secs(10), || {
            frr.status_v4(&lab, 51).as_deref() == Some("Master") && !has(&lab, "r2", VIP)
        }),
        "FRR (priority 150) preempts and we release the VIP\n{}\nours:\n{}",
        frr.logs(),
        ours.log()
    );
    assert!(
        holds_for(secs(1), || !has(&lab, "r2", VIP)),
        "and we stay backup"
    );
}

// ---------------------------------------------------------------------------------------
// keepalived, VRRPv2 with PASS authentication

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn keepalived_v2_with_pass_authentication_and_our_agent_are_master_in_turn() {
    let (dir, mut lab) = pair_test("interop-ka-pass");
    let (a, b) = (
        fixture("interop/v2-pass-a.conf"),
        fixture("interop/v2-pass-b.conf"),
    );

    // keepalived (A, priority 150) on r1 is master; we (B, priority 100) stay backup for
    // longer than Master_Down_Interval (3 x 1 s + skew).
    let ka = start_keepalived(&mut lab, "r1", &read(&a), &dir).unwrap();
    assert!(
        wait_for(secs(10), || has(&lab, "r1", VIP)),
        "keepalived is master\n{}",
        keepalived_log(&dir, "r1")
    );
    let ours = Agent::start(&mut lab, "r2", &b, &dir, &[]);
    assert!(
        holds_for(secs(5), || !has(&lab, "r2", VIP)),
        "we stay backup: keepalived's password matches ours\n{}",
        ours.log()
    );
    assert_eq!(ours.times_to("VI_51", Master), 0);

    // keepalived leaves (priority 0 advert): we take over.
    assert!(lab.stop(ka, libc::SIGTERM, secs(5)).unwrap());
    // We take over when keepalived leaves.
    expect_alone(&lab, "r2", VIP, secs(5), &[&ours]);

    // Swap: we run A (priority 150) on r1, keepalived runs B (priority 100) on r2 and must
    // stay backup, i.e. it accepts our adverts and our password.
    assert!(ours.stop(&mut lab, libc::SIGTERM, secs(5)));
    assert!(!has(&lab, "r2", VIP), "we released the VIP on SIGTERM");
    let ours = Agent::start(&mut lab, "r1", &a, &dir, &[]);
    assert!(
        wait_for(secs(10), || has(&lab, "r1", VIP)),
        "we are master alone\n{}",
        ours.log()
    );
    let ka = start_keepalived(&mut lab, "r2", &read(&b), &dir).unwrap();
    assert!(
        holds_for(secs(5), || only(&lab, "r1", "r2", VIP)),
        "keepalived stays backup behind us\nkeepalived:\n{}\nours:\n{}",
        keepalived_log(&dir, "r2"),
        ours.log()
    );
    let kalog = keepalived_log(&dir, "r2");
    assert!(
        kalog.contains("Entering BACKUP STATE") && !kalog.contains("Entering MASTER STATE"),
        "keepalived logs only BACKUP:\n{kalog}"
    );

    // Wrong password: keepalived (A) master on r1, we run B with another password on r2.
    // We reject its adverts (auth), so nothing makes us back off: both end up master.
    assert!(lab.stop(ka, libc::SIGTERM, secs(5)).unwrap());
    assert!(ours.stop(&mut lab, libc::SIGTERM, secs(5)));
    start_keepalived(&mut lab, "r1", &read(&a), &dir).unwrap();
    assert!(
        wait_for(secs(10), || has(&lab, "r1", VIP)),
        "keepalived is master again\n{}",
        keepalived_log(&dir, "r1")
    );
    let ours = Agent::start(
        &mut lab,
        "r2",
        &fixture("interop/v2-pass-wrong.conf"),
        &dir,
        &[],
    );
    assert!(
        wait_for(secs(10), || has(&lab, "r2", VIP)),
        "with the wrong password we ignore keepalived and become master too\n{}",
        ours.log()
    );
    assert!(
        holds_for(secs(2), || has(&lab, "r1", VIP) && has(&lab, "r2", VIP)),
        "both stay master (keepalived rejects ours too)\nkeepalived:\n{}\nours:\n{}",
        keepalived_log(&dir, "r1"),
        ours.log()
    );
    // And we do send our (wrong) password: keepalived sees it.
    assert!(
        keepalived_log(&dir, "r1").contains("received an invalid passwd"),
        "{}",
        keepalived_log(&dir, "r1")
    );
}

// ---------------------------------------------------------------------------------------
// tshark decodes what we send

/// Capture up to `count` VRRP packets on r2's eth0 within `limit`, into `file`.
/// Capture `count` adverts on r2 into `file` (within `limit`), then [`assert_all`] of them
/// show `want`.
fn capture_all(lab: &Lab, file: &Path, count: usize, limit: Duration, want: &str) {
    capture_vrrp(lab, "r2", file, count, limit);
    assert_all(file, want, count);
}

/// Every decoded packet (at least `min_packets`) shows what `want` says: `field=value`
/// pairs separated by white space, as tshark names the fields.
fn assert_all(file: &Path, want: &str, min_packets: usize) {
    let (fields, want): (Vec<&str>, Vec<&str>) = want
        .split_whitespace()
        .map(|pair| pair.split_once('=').expect("field=value"))
        .unzip();
    let rows = tshark_fields(file, &fields);
    assert!(
        rows.len() >= min_packets,
        "captured {} packets, want {min_packets}\n{}",
        rows.len(),
        tshark_verbose(file)
    );
    for row in &rows {
        let got: Vec<&str> = row.iter().map(String::as_str).collect();
        let pairs: Vec<_> = fields.iter().zip(&got).collect();
        assert_eq!(got, want, "{pairs:?}\n{}", tshark_verbose(file));
    }
}

/// Lines of the `-V` decode that every VRRP packet in `file` must show.
fn assert_decode_says(file: &Path, lines: &[&str]) {
    let v = tshark_verbose(file);
    let packets = v.matches("Virtual Router Redundancy Protocol").count();
    assert!(packets > 0, "no VRRP decoded:\n{v}");
    for l in lines {
        assert_eq!(
            v.lines().filter(|x| x.trim() == *l).count(),
            packets,
            "every one of {packets} VRRP packets shows `{l}`:\n{v}"
        );
    }
}

// Checksum status in tshark's fields output (vrrp.checksum.status): 1 = Good (0 Bad,
// 2 Unverified).

#[test]
fn tshark_decodes_our_v3_adverts_over_ipv4_and_ipv6_with_good_checksums() {
    let (dir, mut lab) = pair_test("interop-tshark-v3");

    // IPv4: pair-master alone on r1 (the checksum includes the IPv4 pseudo-header, which
    // is what tshark verifies by default, like keepalived and FRR).
    let ours = Agent::start(&mut lab, "r1", &config("pair-master.conf"), &dir, &[]);
    let v4 = dir.join("v3-ipv4.pcap");
    let want = "ip.src=10.9.0.1 ip.dst=224.0.0.18 ip.ttl=255 vrrp.version=3 vrrp.type=1 \
                vrrp.virt_rtr_id=51 vrrp.prio=150 vrrp.addr_count=1 vrrp.short_adver_int=10 \
                vrrp.ip_addr=10.9.0.100 vrrp.checksum.status=1";
    capture_all(&lab, &v4, 5, secs(10), want);
    assert_decode_says(
        &v4,
        &[
            "0011 .... = VRRP protocol version: 3",
            ".... 0001 = VRRP packet type: Advertisement (1)",
            "[Checksum Status: Good]",
        ],
    );
    assert!(ours.stop(&mut lab, libc::SIGTERM, secs(5)));

    // IPv6: ipv6-a alone on r1; from eth0's link-local address to ff02::12.
    let _ours = Agent::start(&mut lab, "r1", &config("ipv6-a.conf"), &dir, &[]);
    let v6 = dir.join("v3-ipv6.pcap");
    let want = "ipv6.dst=ff02::12 ipv6.hlim=255 vrrp.version=3 vrrp.type=1 vrrp.virt_rtr_id=51 \
                vrrp.prio=150 vrrp.addr_count=1 vrrp.short_adver_int=10 \
                vrrp.ipv6_addr=fd00:9::100 vrrp.checksum.status=1";
    capture_all(&lab, &v6, 5, secs(10), want);
    for row in tshark_fields(&v6, &["ipv6.src"]) {
        assert!(
            row[0].starts_with("fe80::"),
            "source is link-local: {row:?}"
        );
    }
    assert_decode_says(&v6, &["[Checksum Status: Good]"]);
}

#[test]
fn tshark_decodes_our_v2_pass_adverts_with_the_password() {
    let (dir, mut lab) = pair_test("interop-tshark-v2");
    let v2_pass = fixture("interop/v2-pass-a.conf");
    let _ours = Agent::start(&mut lab, "r1", &v2_pass, &dir, &[]);
    let f = dir.join("v2-pass.pcap");
    // 1 s adverts; mastership may take Master_Down_Interval (~3.4 s) first.
    let want = "ip.dst=224.0.0.18 ip.ttl=255 vrrp.version=2 vrrp.type=1 vrrp.virt_rtr_id=51 \
                vrrp.prio=150 vrrp.addr_count=1 vrrp.auth_type=1 vrrp.adver_int=1 \
                vrrp.ip_addr=10.9.0.100 vrrp.auth_string=s3cret!! vrrp.checksum.status=1";
    capture_all(&lab, &f, 3, secs(15), want);
    assert_decode_says(
        &f,
        &[
            "0010 .... = VRRP protocol version: 2",
            "Auth Type: Simple Text Authentication [RFC 2338] / Reserved [RFC 3768] (1)",
            "Authentication String: s3cret!!",
            "[Checksum Status: Good]",
        ],
    );
}

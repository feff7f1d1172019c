//! Interop with real VRRP peers in network namespaces: FRR's vrrpd (v3) and keepalived (v2
//! with PASS authentication), each side master in turn, and tshark decoding what we send
//! (v3 over IPv4 and IPv6, v2 with PASS) with good checksums.
//! Needs root, keepalived, FRR, tcpdump, tshark and the release agent (`cargo xtask test`).
//!
//! These are correctness tests, not timing tests: bounds are generous seconds because
//! other builds and network tests share the machine.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use vrrpx_tests::netns::{wait_for, Lab};
use vrrpx_tests::pair::{config, has, pair_lab, preconditions};
use vrrpx_tests::peers::{start_frr, start_keepalived, FrrRouter};
use vrrpx_tests::{agent_bin, scratch, workspace};

const VIP: &str = "10.9.0.100/24";

fn interop_config(name: &str) -> PathBuf {
    workspace().join("tests/interop").join(name)
}

/// Start the agent in host `h`; its log goes to `dir/agent-<h>-<tag>.log`.
fn start_agent(lab: &mut Lab, h: &str, conf: &Path, dir: &Path, tag: &str) -> usize {
    let bin = agent_bin();
    lab.spawn(
        h,
        &[bin.to_str().unwrap(), "run", "-f", conf.to_str().unwrap()],
        &dir.join(format!("agent-{h}-{tag}.out")),
        &dir.join(format!("agent-{h}-{tag}.log")),
    )
    .unwrap()
}

fn agent_log(dir: &Path, h: &str, tag: &str) -> String {
    std::fs::read_to_string(dir.join(format!("agent-{h}-{tag}.log"))).unwrap_or_default()
}

fn transitions_to_master(dir: &Path, h: &str, tag: &str) -> usize {
    agent_log(dir, h, tag)
        .lines()
        .filter(|l| l.contains("state change") && l.contains("to=MASTER"))
        .count()
}

/// Wait until exactly `h` holds the VIP on eth0.
fn wait_holder(lab: &Lab, h: &str, other: &str, limit: Duration) -> bool {
    wait_for(limit, || has(lab, h, VIP) && !has(lab, other, VIP))
}

/// `pred` holds at every check (every 100 ms) for `span`.
fn holds_for(span: Duration, mut pred: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + span;
    while Instant::now() < end {
        if !pred() {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    pred()
}

/// keepalived's console log (`-l` writes it to stderr) of its latest run in `h`.
fn keepalived_log(dir: &Path, h: &str) -> String {
    ["log", "err"]
        .iter()
        .map(|ext| {
            std::fs::read_to_string(dir.join(format!("keepalived-{h}.{ext}"))).unwrap_or_default()
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// FRR vrrpd

fn frr_router(priority: u8) -> [FrrRouter<'static>; 1] {
    [FrrRouter {
        interface: "eth0",
        vrid: 51,
        version: 3,
        priority,
        advert_ms: 100,
        vips: &[VIP],
    }]
}

#[test]
fn frr_vrrpd_and_our_agent_interoperate_on_v3_each_side_master_in_turn() {
    preconditions();
    let dir = scratch("interop-frr");
    let mut lab = pair_lab("vxt-io-frr-");

    // FRR on r1, priority 150: master, its VIP on its macvlan.
    let mut frr = start_frr(&mut lab, "r1", &frr_router(150), &dir).unwrap();
    assert!(
        wait_for(Duration::from_secs(10), || frr
            .status_v4(&lab, 51)
            .as_deref()
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
    start_agent(&mut lab, "r2", &config("pair-backup.conf"), &dir, "a");
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        holds_for(Duration::from_secs(2), || !has(&lab, "r2", VIP)),
        "we stay backup behind FRR (we accept its adverts)\n{}",
        agent_log(&dir, "r2", "a")
    );
    assert_eq!(
        transitions_to_master(&dir, "r2", "a"),
        0,
        "{}",
        agent_log(&dir, "r2", "a")
    );
    assert_eq!(frr.status_v4(&lab, 51).as_deref(), Some("Master"));

    // FRR's vrrpd leaves (SIGTERM: priority-0 advert): we take over.
    frr.stop_vrrpd(&mut lab).unwrap();
    assert!(
        wait_for(Duration::from_secs(2), || has(&lab, "r2", VIP)),
        "we take over when FRR leaves\n{}",
        agent_log(&dir, "r2", "a")
    );

    // FRR back with priority 50: it must stay Backup behind us, i.e. it accepts our
    // adverts (version, checksum with the IPv4 pseudo-header, interval).
    frr.start_vrrpd(&mut lab, &frr_router(50)).unwrap();
    assert!(
        wait_for(Duration::from_secs(10), || frr
            .status_v4(&lab, 51)
            .as_deref()
            == Some("Backup")),
        "FRR (priority 50) starts as Backup\n{}",
        frr.logs()
    );
    assert!(
        holds_for(Duration::from_secs(2), || {
            frr.status_v4(&lab, 51).as_deref() == Some("Backup") && has(&lab, "r2", VIP)
        }),
        "FRR stays Backup while we are master: {:?}\n{}\nours:\n{}",
        frr.router_v4(&lab, 51),
        frr.logs(),
        agent_log(&dir, "r2", "a")
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
        wait_for(Duration::from_secs(10), || {
            frr.status_v4(&lab, 51).as_deref() == Some("Master") && !has(&lab, "r2", VIP)
        }),
        "FRR (priority 150) preempts and we release the VIP\n{}\nours:\n{}",
        frr.logs(),
        agent_log(&dir, "r2", "a")
    );
    assert!(
        holds_for(Duration::from_secs(1), || !has(&lab, "r2", VIP)),
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
    preconditions();
    let dir = scratch("interop-ka-pass");
    let mut lab = pair_lab("vxt-io-kapass-");
    let (a, b) = (
        interop_config("v2-pass-a.conf"),
        interop_config("v2-pass-b.conf"),
    );

    // keepalived (A, priority 150) on r1 is master; we (B, priority 100) stay backup for
    // longer than Master_Down_Interval (3 x 1 s + skew).
    let ka = start_keepalived(&mut lab, "r1", &read(&a), &dir).unwrap();
    assert!(
        wait_for(Duration::from_secs(10), || has(&lab, "r1", VIP)),
        "keepalived is master\n{}",
        keepalived_log(&dir, "r1")
    );
    let ours = start_agent(&mut lab, "r2", &b, &dir, "b");
    assert!(
        holds_for(Duration::from_secs(5), || !has(&lab, "r2", VIP)),
        "we stay backup: keepalived's password matches ours\n{}",
        agent_log(&dir, "r2", "b")
    );
    assert_eq!(transitions_to_master(&dir, "r2", "b"), 0);

    // keepalived leaves (priority 0 advert): we take over.
    assert!(lab.stop(ka, libc::SIGTERM, Duration::from_secs(5)).unwrap());
    assert!(
        wait_holder(&lab, "r2", "r1", Duration::from_secs(5)),
        "we take over when keepalived leaves\n{}",
        agent_log(&dir, "r2", "b")
    );

    // Swap: we run A (priority 150) on r1, keepalived runs B (priority 100) on r2 and must
    // stay backup, i.e. it accepts our adverts and our password.
    assert!(lab
        .stop(ours, libc::SIGTERM, Duration::from_secs(5))
        .unwrap());
    assert!(!has(&lab, "r2", VIP), "we released the VIP on SIGTERM");
    let ours = start_agent(&mut lab, "r1", &a, &dir, "a");
    assert!(
        wait_for(Duration::from_secs(10), || has(&lab, "r1", VIP)),
        "we are master alone\n{}",
        agent_log(&dir, "r1", "a")
    );
    let ka = start_keepalived(&mut lab, "r2", &read(&b), &dir).unwrap();
    assert!(
        holds_for(Duration::from_secs(5), || has(&lab, "r1", VIP)
            && !has(&lab, "r2", VIP)),
        "keepalived stays backup behind us\nkeepalived:\n{}\nours:\n{}",
        keepalived_log(&dir, "r2"),
        agent_log(&dir, "r1", "a")
    );
    let kalog = keepalived_log(&dir, "r2");
    assert!(
        kalog.contains("Entering BACKUP STATE") && !kalog.contains("Entering MASTER STATE"),
        "keepalived logs only BACKUP:\n{kalog}"
    );

    // Wrong password: keepalived (A) master on r1, we run B with another password on r2.
    // We reject its adverts (auth), so nothing makes us back off: both end up master.
    assert!(lab.stop(ka, libc::SIGTERM, Duration::from_secs(5)).unwrap());
    assert!(lab
        .stop(ours, libc::SIGTERM, Duration::from_secs(5))
        .unwrap());
    start_keepalived(&mut lab, "r1", &read(&a), &dir).unwrap();
    assert!(
        wait_for(Duration::from_secs(10), || has(&lab, "r1", VIP)),
        "keepalived is master again\n{}",
        keepalived_log(&dir, "r1")
    );
    start_agent(
        &mut lab,
        "r2",
        &interop_config("v2-pass-wrong.conf"),
        &dir,
        "wrong",
    );
    assert!(
        wait_for(Duration::from_secs(10), || has(&lab, "r2", VIP)),
        "with the wrong password we ignore keepalived and become master too\n{}",
        agent_log(&dir, "r2", "wrong")
    );
    assert!(
        holds_for(Duration::from_secs(2), || has(&lab, "r1", VIP)
            && has(&lab, "r2", VIP)),
        "both stay master (keepalived rejects ours too)\nkeepalived:\n{}\nours:\n{}",
        keepalived_log(&dir, "r1"),
        agent_log(&dir, "r2", "wrong")
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
fn capture(lab: &Lab, file: &Path, count: usize, limit: Duration) {
    let secs = limit.as_secs().to_string();
    let count = count.to_string();
    let out = lab
        .command(
            "r2",
            &[
                "timeout",
                &secs,
                "tcpdump",
                "-Z",
                "root",
                "-n",
                "-i",
                "eth0",
                "-c",
                &count,
                "-w",
                file.to_str().unwrap(),
                "ip proto 112 or ip6 proto 112",
            ],
        )
        .output()
        .unwrap();
    assert!(
        file.exists(),
        "tcpdump wrote {}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// tshark's fields, one row per packet.
fn tshark_fields(file: &Path, fields: &[&str]) -> Vec<Vec<String>> {
    let mut cmd = Command::new("tshark");
    cmd.args([
        "-r",
        file.to_str().unwrap(),
        "-T",
        "fields",
        "-E",
        "separator=/t",
    ]);
    for f in fields {
        cmd.args(["-e", f]);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect()
}

/// tshark's full decode (`-V`).
fn tshark_verbose(file: &Path) -> String {
    let out = Command::new("tshark")
        .args(["-r", file.to_str().unwrap(), "-V"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Every decoded packet has `want` as its fields.
fn assert_all(file: &Path, fields: &[&str], want: &[&str], min_packets: usize) {
    let rows = tshark_fields(file, fields);
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

// Checksum status in tshark's fields output: 1 = Good (0 Bad, 2 Unverified).
const CSUM_GOOD: &str = "1";

#[test]
fn tshark_decodes_our_v3_adverts_over_ipv4_and_ipv6_with_good_checksums() {
    preconditions();
    let dir = scratch("interop-tshark-v3");
    let mut lab = pair_lab("vxt-io-ts3-");

    // IPv4: pair-master alone on r1 (the checksum includes the IPv4 pseudo-header, which
    // is what tshark verifies by default, like keepalived and FRR).
    let ours = start_agent(&mut lab, "r1", &config("pair-master.conf"), &dir, "v4");
    let v4 = dir.join("v3-ipv4.pcap");
    capture(&lab, &v4, 5, Duration::from_secs(10));
    let fields = [
        "ip.src",
        "ip.dst",
        "ip.ttl",
        "vrrp.version",
        "vrrp.type",
        "vrrp.virt_rtr_id",
        "vrrp.prio",
        "vrrp.addr_count",
        "vrrp.short_adver_int",
        "vrrp.ip_addr",
        "vrrp.checksum.status",
    ];
    let want = [
        "10.9.0.1",
        "224.0.0.18",
        "255",
        "3",
        "1",
        "51",
        "150",
        "1",
        "10",
        "10.9.0.100",
        CSUM_GOOD,
    ];
    assert_all(&v4, &fields, &want, 5);
    assert_decode_says(
        &v4,
        &[
            "0011 .... = VRRP protocol version: 3",
            ".... 0001 = VRRP packet type: Advertisement (1)",
            "[Checksum Status: Good]",
        ],
    );
    assert!(lab
        .stop(ours, libc::SIGTERM, Duration::from_secs(5))
        .unwrap());

    // IPv6: ipv6-a alone on r1; from eth0's link-local address to ff02::12.
    start_agent(&mut lab, "r1", &config("ipv6-a.conf"), &dir, "v6");
    let v6 = dir.join("v3-ipv6.pcap");
    capture(&lab, &v6, 5, Duration::from_secs(10));
    let fields = [
        "ipv6.dst",
        "ipv6.hlim",
        "vrrp.version",
        "vrrp.type",
        "vrrp.virt_rtr_id",
        "vrrp.prio",
        "vrrp.addr_count",
        "vrrp.short_adver_int",
        "vrrp.ipv6_addr",
        "vrrp.checksum.status",
    ];
    let want = [
        "ff02::12",
        "255",
        "3",
        "1",
        "51",
        "150",
        "1",
        "10",
        "fd00:9::100",
        CSUM_GOOD,
    ];
    assert_all(&v6, &fields, &want, 5);
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
    preconditions();
    let dir = scratch("interop-tshark-v2");
    let mut lab = pair_lab("vxt-io-ts2-");
    start_agent(
        &mut lab,
        "r1",
        &interop_config("v2-pass-a.conf"),
        &dir,
        "v2",
    );
    let f = dir.join("v2-pass.pcap");
    // 1 s adverts; mastership may take Master_Down_Interval (~3.4 s) first.
    capture(&lab, &f, 3, Duration::from_secs(15));
    let fields = [
        "ip.dst",
        "ip.ttl",
        "vrrp.version",
        "vrrp.type",
        "vrrp.virt_rtr_id",
        "vrrp.prio",
        "vrrp.addr_count",
        "vrrp.auth_type",
        "vrrp.adver_int",
        "vrrp.ip_addr",
        "vrrp.auth_string",
        "vrrp.checksum.status",
    ];
    let want = [
        "224.0.0.18",
        "255",
        "2",
        "1",
        "51",
        "150",
        "1",
        "1",
        "1",
        "10.9.0.100",
        "s3cret!!",
        CSUM_GOOD,
    ];
    assert_all(&f, &fields, &want, 3);
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

//! The real `vrrp-agent check` inside a namespace whose interfaces are known (r1: eth0 with
//! 10.9.0.1/24 and fd00:9::1/64): the host checks, `--peer`, `--json`, and the exit status
//! `keepalived -t` gives (0 valid, 4 cannot run, 5 runs but an election breaks). Needs root
//! and the release agent (`cargo xtask test`).

use std::path::{Path, PathBuf};

use vrrpx_tests::agent::cli;
use vrrpx_tests::netns::Lab;
use vrrpx_tests::pair::{config, pair_test};

/// What `check` printed and how it exited.
struct Outcome {
    status: i32,
    stdout: String,
    stderr: String,
}

/// `vrrp-agent check ARGS...` in host r1.
fn check(lab: &Lab, args: &[&str]) -> Outcome {
    let out = cli(lab, "r1", &[&["check"][..], args].concat());
    Outcome {
        status: out.status.code().expect("check exits, it is not killed"),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `vrrp-agent check -f CONF --peer PEER EXTRA...` in host r1.
fn check_peer(lab: &Lab, conf: &Path, peer: &Path, extra: &[&str]) -> Outcome {
    let (conf, peer) = (conf.to_str().unwrap(), peer.to_str().unwrap());
    check(lab, &[&["-f", conf, "--peer", peer][..], extra].concat())
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// The seed tutorials' file: `vrrp_strict`, `interface eth1`, `state MASTER` at priority
/// 100, PASS authentication.
const TUTORIAL: &str = "global_defs {
    router_id r1
    vrrp_strict
}
vrrp_instance VI_1 {
    state MASTER
    interface eth1
    virtual_router_id 51
    priority 100
    advert_int 1
    authentication {
        auth_type PASS
        auth_pass 1111
    }
    virtual_ipaddress {
        10.9.0.100/24
    }
}
";

#[test]
fn check_reports_what_keepalived_t_reports_on_the_tutorial_file_and_exits_4() {
    let (dir, lab) = pair_test("check-host-tutorial");
    let file = write(&dir, "keepalived.conf", TUTORIAL);
    let f = file.to_str().unwrap();

    let out = check(&lab, &["-f", f]);
    assert_eq!(out.status, 4, "{}", out.stderr);
    for (line, says) in [
        (
            6,
            "`state MASTER` with priority 100 is not allowed under vrrp_strict",
        ),
        (12, "authentication is not allowed under vrrp_strict"),
    ] {
        let expected = format!("{f}:{line}: error: vrrp_instance VI_1: {says}");
        assert!(
            out.stderr.contains(&expected),
            "{expected}\nin:\n{}",
            out.stderr
        );
    }
    // Fix what strict mode refuses: the interface is still missing on this host.
    let fixed = TUTORIAL
        .replace("    state MASTER\n", "    state BACKUP\n")
        .replace(
            "    authentication {\n        auth_type PASS\n        auth_pass 1111\n    }\n",
            "",
        );
    let file = write(&dir, "fixed.conf", &fixed);
    let f = file.to_str().unwrap();
    let out = check(&lab, &["-f", f]);
    assert_eq!(out.status, 4, "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!(
            "{f}:7: error: interface eth1 of vrrp_instance VI_1 does not exist on this host"
        )),
        "{}",
        out.stderr
    );
    // Strict mode's no_accept default is explained, with the address that goes silent.
    assert!(
        out.stderr.contains("10.9.0.100") && out.stderr.contains("do not answer ping or TCP"),
        "{}",
        out.stderr
    );

    // On a machine that is not the target, --no-host leaves the interface alone.
    let out = check(&lab, &["-f", f, "--no-host"]);
    assert_eq!(out.status, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains("valid (1 instance(s)"),
        "{}",
        out.stdout
    );

    // And on the right interface it is valid here too.
    let file = write(&dir, "eth0.conf", &fixed.replace("eth1", "eth0"));
    let out = check(&lab, &["-f", file.to_str().unwrap()]);
    assert_eq!(out.status, 0, "{}", out.stderr);
}

#[test]
fn check_json_names_a_vip_that_is_the_hosts_own_address_and_exits_5() {
    let (dir, lab) = pair_test("check-host-own");
    let own = std::fs::read_to_string(config("pair-master.conf"))
        .unwrap()
        .replace("10.9.0.100/24", "10.9.0.1/24");
    let file = write(&dir, "own.conf", &own);
    let f = file.to_str().unwrap();
    let out = check(&lab, &["-f", f, "--json"]);
    assert_eq!(out.status, 5, "{}", out.stdout);
    let json: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(json["exit"], 5);
    let errors = json["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{json:#}");
    assert_eq!(errors[0]["code"], "vip-is-interface-address");
    assert_eq!(errors[0]["file"], f);
    assert_eq!(errors[0]["instance"], "VI_51");
    let vip_line = own.lines().position(|l| l.contains("10.9.0.1/24")).unwrap() + 1;
    assert_eq!(errors[0]["line"], vip_line);
    assert!(json["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|w| w["code"] == "common-vrid"));

    // A VIP outside eth0's subnet, written without /32: a warning, exit 0.
    let outside = own.replace("10.9.0.1/24", "192.168.77.1");
    let file = write(&dir, "outside.conf", &outside);
    let out = check(&lab, &["-f", file.to_str().unwrap(), "--json"]);
    assert_eq!(out.status, 0, "{}", out.stdout);
    let json: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert!(json["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|w| w["code"] == "vip-outside-subnets"
            && w["message"].as_str().unwrap().contains("10.9.0.0/24")));
}

#[test]
fn check_peer_accepts_the_example_pair_and_names_both_files_on_a_mismatch() {
    let (dir, lab) = pair_test("check-host-peer");
    let master = config("pair-master.conf");
    let backup = config("pair-backup.conf");
    let out = check_peer(&lab, &master, &backup, &[]);
    assert_eq!(out.status, 0, "{}", out.stderr);

    let slow = std::fs::read_to_string(&backup)
        .unwrap()
        .replace("advert_int 0.1", "advert_int 1")
        .replace("vrrp_version 3", "vrrp_version 2");
    let peer = write(&dir, "backup-v2.conf", &slow);
    let out = check_peer(&lab, &master, &peer, &["--json"]);
    assert_eq!(out.status, 5, "{}", out.stdout);
    let json: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let e = &json["errors"][0];
    assert_eq!(e["code"], "version-mismatch", "{json:#}");
    assert_eq!(e["file"], master.to_str().unwrap());
    assert_eq!(e["peer_file"], peer.to_str().unwrap());
    assert!(e["line"].as_u64().unwrap() > 0 && e["peer_line"].as_u64().unwrap() > 0);

    // A peer file that does not validate cannot be compared: its errors are reported, 4.
    let broken = write(&dir, "broken.conf", "vrrp_instance X {\n priority 0\n}\n");
    let out = check_peer(&lab, &master, &broken, &[]);
    assert_eq!(out.status, 4, "{}", out.stderr);
    assert!(
        out.stderr
            .contains(&format!("{}:2: error: priority 0", broken.display())),
        "{}",
        out.stderr
    );
}

//! Replays the fuzz corpora in the normal test suite, on stable Rust: every file under
//! `fuzz/seeds/TARGET/` (hand-made seeds and regression inputs), `fuzz/corpus/TARGET/`
//! (what cargo-fuzz grew, minimised) and `fuzz/artifacts/TARGET/` (crashes cargo-fuzz found
//! on this machine, when there are any) goes through the same function the fuzz target
//! calls (`vrrpx_tests::fuzz_targets`). Deterministic: no randomness, no clock, no network,
//! files in name order; bounded: the corpora are a few hundred small files.
//!
//! `cargo test -p vrrpx-tests --test fuzz_replay -- --ignored write_seeds` rewrites the
//! generated seeds (see `fuzz/README.md`).

use std::net::{IpAddr, Ipv4Addr};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::Instant;

use vrrpx_tests::frames::{arp_frame, udp_frame, v4_addrs, v6_addrs, Advert, Csum};
use vrrpx_tests::fuzz_targets;

/// Larger inputs are refused: the fuzzer's own limit is a few KiB, so anything bigger is a
/// stray file, and it would slow the replay down.
const MAX_INPUT: usize = 64 * 1024;

fn fuzz_dir() -> PathBuf {
    vrrpx_tests::workspace().join("fuzz")
}

/// The files of one target, seeds first, each directory in name order.
fn inputs(target: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for dir in ["seeds", "corpus", "artifacts"] {
        let Ok(entries) = std::fs::read_dir(fuzz_dir().join(dir).join(target)) else {
            continue;
        };
        let mut files: Vec<PathBuf> = entries
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        out.extend(files);
    }
    out
}

/// Every input through `run`; all failures are collected and reported together, by file.
fn replay(target: &str, run: fn(&[u8])) {
    let files = inputs(target);
    assert!(
        files
            .iter()
            .any(|p| p.starts_with(fuzz_dir().join("seeds"))),
        "no seeds for {target} under {}",
        fuzz_dir().display()
    );
    let start = Instant::now();
    let mut bytes = 0;
    let mut failed = Vec::new();
    for path in &files {
        let data = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(
            data.len() <= MAX_INPUT,
            "{}: {} bytes; fuzz inputs are at most {MAX_INPUT}",
            path.display(),
            data.len()
        );
        bytes += data.len();
        if catch_unwind(AssertUnwindSafe(|| run(&data))).is_err() {
            failed.push(path.strip_prefix(fuzz_dir()).unwrap().display().to_string());
        }
    }
    eprintln!(
        "{target}: {} inputs, {bytes} bytes, {:.2?}",
        files.len(),
        start.elapsed()
    );
    assert!(
        failed.is_empty(),
        "{target}: {} of {} inputs fail (the panic of each is printed above): {failed:#?}",
        failed.len(),
        files.len()
    );
}

#[test]
fn wire_corpus() {
    replay("wire", fuzz_targets::wire);
}

#[test]
fn config_corpus() {
    replay("config", fuzz_targets::config);
}

#[test]
fn advert_roundtrip_corpus() {
    replay("advert_roundtrip", fuzz_targets::advert_roundtrip);
}

// ---------------------------------------------------------------------------------------
// Seeds: written once by `write_seeds` and kept in git. Rerunning it rewrites these files
// and leaves every other file (regressions, the grown corpus) alone.
// ---------------------------------------------------------------------------------------

fn write(target: &str, name: &str, data: &[u8]) {
    let dir = fuzz_dir().join("seeds").join(target);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(name), data).unwrap();
}

fn files_in(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    v.sort();
    v
}

fn wire_seeds() {
    let root = vrrpx_tests::workspace();
    for path in files_in(&root.join("tests/vectors"), "hex") {
        let stem = path.file_stem().unwrap().to_string_lossy();
        write(
            "wire",
            &format!("vector-{stem}"),
            &vrrpx_tests::read_hex(&path),
        );
    }
    let v4 = Advert::v3_ipv4();
    let v6 = Advert::v3_ipv6();
    let v2 = Advert {
        vrid: 52,
        ..Advert::v2_pass()
    };
    let frames: Vec<(&str, Advert)> = vec![
        ("v3-ipv4", v4.clone()),
        ("v3-ipv6", v6.clone()),
        ("v2-pass", v2.clone()),
        (
            "v2-none-vrid55",
            Advert {
                vrid: 55,
                auth_type: 0,
                auth_data: [0; 8],
                interval: 3,
                ..Advert::v2_pass()
            },
        ),
        (
            "v3-ipv4-plain-vrid53",
            Advert {
                vrid: 53,
                csum: Csum::Plain,
                ..v4.clone()
            },
        ),
        (
            "v3-ipv4-unicast-vrid54-ttl64",
            Advert {
                vrid: 54,
                ttl: 64,
                dst: IpAddr::V4(Ipv4Addr::new(10, 9, 0, 2)),
                ..v4.clone()
            },
        ),
        (
            "v3-ipv4-vlan",
            Advert {
                vlans: vec![(0x8100, 9)],
                ..v4.clone()
            },
        ),
        (
            "v3-ipv6-qinq",
            Advert {
                vlans: vec![(0x88a8, 100), (0x8100, 9)],
                ..v6.clone()
            },
        ),
        (
            "v3-ipv4-options-padding",
            Advert {
                ip_options: vec![0x94, 0x04, 0, 0],
                eth_padding: 14,
                ..v4.clone()
            },
        ),
        (
            "v3-ipv4-three-addrs",
            Advert {
                addrs: ["10.9.0.100", "10.9.0.101", "10.9.0.102"]
                    .iter()
                    .map(|a| a.parse().unwrap())
                    .collect(),
                ..v4.clone()
            },
        ),
        (
            "v3-ipv6-five-addrs",
            Advert {
                addrs: v6_addrs(5),
                ..v6.clone()
            },
        ),
        (
            "v3-ipv4-twenty-addrs",
            Advert {
                addrs: v4_addrs(20),
                ..v4.clone()
            },
        ),
        (
            "bad-count-zero",
            Advert {
                count: Some(0),
                ..v4.clone()
            },
        ),
        (
            "bad-count-too-high",
            Advert {
                count: Some(9),
                ..v4.clone()
            },
        ),
        (
            "bad-checksum",
            Advert {
                csum: Csum::Bad,
                ..v4.clone()
            },
        ),
        (
            "bad-ttl",
            Advert {
                ttl: 254,
                ..v4.clone()
            },
        ),
        (
            "bad-type",
            Advert {
                vtype: 2,
                ..v4.clone()
            },
        ),
        (
            "bad-v2-over-ipv6",
            Advert {
                version: 2,
                csum: Csum::Plain,
                ..v6.clone()
            },
        ),
        (
            "bad-odd-trailer",
            Advert {
                trailer: vec![0xaa],
                ..v4.clone()
            },
        ),
        (
            "bad-v2-wrong-password",
            Advert {
                auth_data: *b"secret!?",
                ..v2.clone()
            },
        ),
    ];
    for (name, advert) in frames {
        write("wire", name, &advert.build());
    }
    let mut truncated = v4.build();
    truncated.truncate(truncated.len() - 3);
    write("wire", "bad-truncated", &truncated);
    let mut fragment = v4.build();
    fragment[14 + 6] = 0x20; // more fragments
    write("wire", "bad-fragment", &fragment);
    let mac = [0x02, 0, 0, 0, 0, 0x02];
    let vip = Ipv4Addr::new(10, 9, 0, 100);
    let other = Ipv4Addr::new(10, 9, 0, 2);
    write(
        "wire",
        "arp-request-for-vip",
        &arp_frame(1, mac, other, vip),
    );
    write("wire", "arp-reply-from-vip", &arp_frame(2, mac, vip, other));
    write("wire", "arp-unrelated", &arp_frame(1, mac, other, other));
    let mut arp_vlan = arp_frame(2, mac, vip, vip);
    arp_vlan.splice(12..12, [0x81, 0x00, 0x00, 0x09]);
    write("wire", "arp-vlan-garp", &arp_vlan);
    write("wire", "udp", &udp_frame());
    // Traffic to virtual addresses: strict_policy refuses 10.9.0.100 and fd00:9::100
    // (Accept_Mode off) and only reports 10.9.0.101; neighbour discovery always passes.
    let to = |advert: Advert, proto: u8, first: Option<u8>| {
        let mut f = advert.build();
        let ip = 14;
        if advert.src.is_ipv4() {
            f[ip + 9] = proto;
        } else {
            f[ip + 6] = proto;
        }
        if let Some(b) = first {
            f[advert.vrrp_offset()] = b;
        }
        f
    };
    let v4_to = |a: [u8; 4]| Advert {
        dst: IpAddr::V4(Ipv4Addr::from(a)),
        ..v4.clone()
    };
    let v6_to = |a: &str| Advert {
        dst: a.parse().unwrap(),
        ..v6.clone()
    };
    write("wire", "to-vip-udp", &to(v4_to([10, 9, 0, 100]), 17, None));
    write(
        "wire",
        "to-vip-reported-only-tcp",
        &to(v4_to([10, 9, 0, 101]), 6, None),
    );
    write("wire", "to-vip6-udp", &to(v6_to("fd00:9::100"), 17, None));
    write(
        "wire",
        "to-vip6-echo",
        &to(v6_to("fd00:9::100"), 58, Some(128)),
    );
    write(
        "wire",
        "to-vip6-nd-solicit",
        &to(v6_to("fd00:9::100"), 58, Some(135)),
    );
    write(
        "wire",
        "to-vip6-nd-advert",
        &to(v6_to("fd00:9::100"), 58, Some(136)),
    );
    write(
        "wire",
        "to-vip-vrrp-unicast",
        &v4_to([10, 9, 0, 100]).build(),
    );
    write("wire", "empty", &[]);
}

fn config_seeds() {
    let root = vrrpx_tests::workspace();
    for dir in ["configs", "tests/engine", "tests/interop"] {
        for ext in ["conf", "toml"] {
            for path in files_in(&root.join(dir), ext) {
                let name = format!(
                    "{}-{}",
                    dir.replace('/', "-"),
                    path.file_name().unwrap().to_string_lossy()
                );
                write("config", &name, &std::fs::read(&path).unwrap());
            }
        }
    }
    let broken: &[(&str, &str)] = &[
        ("broken-unclosed-brace.conf", "vrrp_instance VI_1 {\n  interface eth0\n"),
        ("broken-stray-close.conf", "}\n}\nvrrp_instance {\n"),
        (
            "broken-unclosed-quote.conf",
            "vrrp_instance VI_1 {\n  interface \"eth0\n  virtual_router_id 1\n}\n",
        ),
        (
            "broken-numbers.conf",
            "vrrp_instance VI_1 {\n  interface eth0\n  virtual_router_id 99999999999999999999999\n  priority -1\n  advert_int 18446744073709551616\n  preempt_delay 1e400\n  garp_master_delay 0.0000001\n  virtual_ipaddress {\n    10.0.0.1/33\n    fd00::1/129\n  }\n}\n",
        ),
        (
            "broken-v2-fractional.conf",
            "global_defs {\n  vrrp_version 2\n}\nvrrp_instance VI_1 {\n  interface eth0\n  virtual_router_id 1\n  advert_int 0.5\n  authentication {\n    auth_type AH\n    auth_pass 123456789\n  }\n  virtual_ipaddress {\n    10.0.0.1\n  }\n}\n",
        ),
        (
            "broken-duplicates.conf",
            "vrrp_script s {\n  script \"vrrpx:tcp 1.2.3.4\"\n  interval 0\n}\nvrrp_script s {\n}\nvrrp_instance A {\n  interface eth0\n  virtual_router_id 7\n  track_script {\n    s weight 999\n    missing\n  }\n  track_file {\n    nothing\n  }\n  virtual_ipaddress {\n    10.0.0.1\n  }\n}\nvrrp_instance A {\n}\nvrrp_instance B {\n  interface eth0\n  virtual_router_id 7\n  virtual_ipaddress {\n    10.0.0.2 dev eth1 label eth1:x\n  }\n}\nvrrp_sync_group G {\n  group {\n    A B C\n  }\n}\nvrrp_sync_group H {\n  group {\n    A\n  }\n}\n",
        ),
        (
            "broken-mixed-families.conf",
            "vrrp_instance VI_6 {\n  interface eth0\n  virtual_router_id 6\n  unicast_src_ip 10.0.0.1\n  unicast_peer {\n    fe80::2\n  }\n  virtual_ipaddress {\n    fd00::1/64\n    10.0.0.1/24\n  }\n}\n",
        ),
        (
            "broken-comments-crlf.conf",
            "! comment\r\nvrrp_instance VI_1 {\r\n  interface eth0 # trailing\r\n  virtual_router_id 1\r\n  authentication {\r\n    auth_type PASS\r\n    auth_pass s3cret!!\r\n  }\r\n  virtual_ipaddress {\r\n    10.0.0.1\r\n  }\r\n}\r\n",
        ),
        (
            "broken-no-vips.conf",
            "vrrp_instance VI_1 {\n  interface eth0\n  virtual_router_id 1\n}\n",
        ),
        (
            "broken-mail.conf",
            "global_defs {\n  notification_email {\n  }\n  smtp_server 10.0.0.1 99999\n  smtp_connect_timeout 99999\n  smtp_alert\n  notify_fifo \"\"\n}\n",
        ),
        (
            "broken-deep.conf",
            &"a {\n".repeat(200),
        ),
        (
            "broken-syntax.toml",
            "[[instance]\nname = \"x\"\n",
        ),
        (
            "broken-types.toml",
            "version = \"three\"\n[[instance]]\nname = 1\ninterface = [\"eth0\"]\nvrid = 300\npriority = -5\nadvert_int = \"1 fortnight\"\nvirtual_ipaddress = [\"10.0.0.1/40\", \"fd00::1\"]\nunknown_key = true\n",
        ),
        (
            "broken-durations.toml",
            "[[instance]]\nname = \"x\"\ninterface = \"eth0\"\nvrid = 1\nadvert_int = \"99999999999999999999s\"\npreempt_delay = \"-1s\"\nvirtual_ipaddress = [\"10.0.0.1\"]\n[[script]]\nname = \"s\"\ncommand = \"vrrpx:http https://x status 99\"\ninterval = \"0ms\"\n",
        ),
    ];
    for (name, text) in broken {
        write("config", name, text.as_bytes());
    }
    write(
        "config",
        "broken-not-utf8.conf",
        b"vrrp_instance \xff\xfe {\n\x00}\n",
    );
    write("config", "empty", b"");
    // Loads, but its adverts (8 + 16 * 93 bytes) are longer than the receive checks read.
    let mut many = String::from(
        "vrrp_instance V6 {\n  interface eth0\n  virtual_router_id 9\n  virtual_ipaddress {\n",
    );
    for i in 1..=93 {
        many.push_str(&format!("    fd00:9::{i:x}/64\n"));
    }
    many.push_str("  }\n}\n");
    write("config", "gap-ipv6-93-vips.conf", many.as_bytes());
}

/// Seeds for `advert_roundtrip`, in the layout its doc comment gives.
fn advert_seeds() {
    let v4 = |flags: u8, count: u8, extra: &[u8]| {
        let mut s = vec![flags, 51, 100, 0, 100, count];
        for i in 0..count {
            s.extend_from_slice(&[10, 9, 0, 100u8.wrapping_add(i)]);
        }
        s.extend_from_slice(b"secret!!");
        s.extend_from_slice(&[10, 9, 0, 1]);
        s.extend_from_slice(extra);
        s
    };
    write("advert_roundtrip", "v3-ipv4", &v4(0, 1, &[]));
    write(
        "advert_roundtrip",
        "v3-ipv4-plain-vlan",
        &v4(4 | 32, 3, &[]),
    );
    write("advert_roundtrip", "v2-pass", &v4(1 | 8, 2, &[]));
    write("advert_roundtrip", "v2-none-qinq", &v4(1 | 64, 1, &[]));
    write(
        "advert_roundtrip",
        "v3-ipv4-unicast-ttl64",
        &v4(16 | 128, 1, &[10, 9, 0, 2, 64]),
    );
    write("advert_roundtrip", "v3-ipv4-no-addrs", &v4(0, 0, &[]));
    let mut v6 = vec![2, 51, 200, 0x0f, 0xff, 2];
    for i in 0..2u8 {
        v6.extend_from_slice(&[0xfd, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, i]);
    }
    v6.extend_from_slice(&[0; 8]);
    v6.extend_from_slice(&[0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    write("advert_roundtrip", "v3-ipv6", &v6);
    let mut v6_many = vec![2, 51, 100, 0, 100, 93];
    v6_many.extend(std::iter::repeat_n(0xfd, 93 * 16 + 8 + 16));
    write("advert_roundtrip", "v3-ipv6-93-addrs", &v6_many);
    write("advert_roundtrip", "empty", &[]);
}

#[test]
#[ignore = "writes fuzz/seeds/: run by hand, see fuzz/README.md"]
fn write_seeds() {
    wire_seeds();
    config_seeds();
    advert_seeds();
}

//! The kernel guard in the loaded XDP program, on crafted frames (BPF_PROG_TEST_RUN): with
//! a fresh heartbeat frames for an address held as Master pass as before; once the
//! heartbeat is older than the address's Master_Down, ARP requests for it, neighbour
//! solicitations for it and traffic to it are dropped and counted. Needs root (CAP_BPF)
//! and the agent built with the eBPF object (`cargo xtask test`).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use aya::maps::{Array, PerCpuArray};
use aya::programs::{TestRun, TestRunOptions, Xdp};
use aya::Ebpf;
use vrrp_agent::filter::{vip_key, PolicyTable};
use vrrp_agent::io::heartbeat::HeartbeatWriter;
use vrrp_agent::io::rawsock::monotonic_ns;
use vrrp_agent::io::xdp::{load_object, write_policy};
use vrrp_ebpf::abi::*;
use vrrpx_tests::frames::{arp_frame, Advert};

/// BPF_PROG_TEST_RUN runs the program as if the frame arrived on loopback.
const IFINDEX: u32 = 1;
const XDP_DROP: u32 = 1;
const XDP_PASS: u32 = 2;
const VIP4: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 100);
const VIP6: Ipv6Addr = Ipv6Addr::new(0xfd99, 0, 0, 0, 0, 0, 0, 0x100);
/// Master_Down of 100 ms adverts at priority 150.
const MASTER_DOWN_NS: u64 = 341_406_250;
const MAC: [u8; 6] = [2, 0, 0, 0, 0, 9];

fn loaded() -> Ebpf {
    assert!(
        vrrpx_tests::is_root(),
        "XDP tests need root (CAP_BPF); run them through `cargo xtask test` as root"
    );
    let mut ebpf = load_object().expect("XDP object loads and passes the verifier");
    let mut policy = PolicyTable::default();
    for a in [IpAddr::V4(VIP4), IpAddr::V6(VIP6)] {
        policy.vips.insert(vip_key(IFINDEX, a));
        policy.guarded.insert(vip_key(IFINDEX, a), MASTER_DOWN_NS);
    }
    write_policy(&mut ebpf, &policy).unwrap();
    let guarded: HashMap<VipKey, u64> = policy.guarded.clone();
    HeartbeatWriter::default()
        .set_guarded(&mut ebpf, &guarded, monotonic_ns())
        .unwrap();
    ebpf
}

/// Pretend the agent's last beat was `age_ns` ago.
fn beat_aged(ebpf: &mut Ebpf, age_ns: u64) {
    let mut a: Array<_, Heartbeat> = Array::try_from(ebpf.map_mut(MAP_HEARTBEAT).unwrap()).unwrap();
    let beat = Heartbeat {
        beat_ns: monotonic_ns() - age_ns,
        min_master_down_ns: MASTER_DOWN_NS,
    };
    a.set(0, beat, 0).unwrap();
}

fn run(ebpf: &Ebpf, frame: &[u8]) -> u32 {
    let prog: &Xdp = ebpf.program(PROGRAM_NAME).unwrap().try_into().unwrap();
    let mut out = vec![0u8; frame.len() + 256];
    prog.test_run(TestRunOptions {
        data_in: Some(frame),
        data_out: Some(&mut out),
        ..TestRunOptions::default()
    })
    .expect("BPF_PROG_TEST_RUN")
    .return_value
}

fn stat(ebpf: &Ebpf, index: u32) -> u64 {
    let m: PerCpuArray<_, u64> = PerCpuArray::try_from(ebpf.map(MAP_STATS).unwrap()).unwrap();
    m.get(&index, 0).unwrap().iter().sum()
}

fn arp_request(target: Ipv4Addr) -> Vec<u8> {
    arp_frame(1, MAC, Ipv4Addr::new(10, 9, 0, 9), target)
}

/// A UDP datagram to `dst` (an advert's frame with protocol 17: never VRRP).
fn udp_to(dst: Ipv4Addr) -> Vec<u8> {
    let mut a = Advert::v3_ipv4();
    a.dst = IpAddr::V4(dst);
    let mut f = a.build();
    f[14 + 9] = 17;
    f
}

/// An IPv6 neighbour solicitation for `target`, to its solicited-node group (RFC 4861
/// §4.3), built byte by byte: Ethernet, IPv6 (next header 58, hop limit 255), ICMPv6 type
/// 135, code 0, checksum (not checked by the guard), reserved, target.
fn solicitation(target: Ipv6Addr) -> Vec<u8> {
    let t = target.octets();
    let mut f = vec![0x33, 0x33, 0xff, t[13], t[14], t[15]];
    f.extend_from_slice(&MAC);
    f.extend_from_slice(&[0x86, 0xdd, 0x60, 0, 0, 0, 0, 24, 58, 255]);
    f.extend_from_slice(&"fe80::9".parse::<Ipv6Addr>().unwrap().octets());
    let group = Ipv6Addr::new(
        0xff02,
        0,
        0,
        0,
        0,
        1,
        0xff00 | t[13] as u16,
        u16::from_be_bytes([t[14], t[15]]),
    );
    f.extend_from_slice(&group.octets());
    f.extend_from_slice(&[135, 0, 0, 0, 0, 0, 0, 0]);
    f.extend_from_slice(&t);
    f
}

#[test]
fn with_a_fresh_heartbeat_frames_for_a_held_address_pass_and_nothing_is_counted() {
    let mut ebpf = loaded();
    beat_aged(&mut ebpf, MASTER_DOWN_NS / 2);
    assert_eq!(run(&ebpf, &arp_request(VIP4)), XDP_PASS);
    assert_eq!(run(&ebpf, &udp_to(VIP4)), XDP_PASS);
    assert_eq!(run(&ebpf, &solicitation(VIP6)), XDP_PASS);
    for s in [STAT_GUARD_ARP, STAT_GUARD_ND, STAT_GUARD_TRAFFIC] {
        assert_eq!(stat(&ebpf, s), 0, "stat {s}");
    }
}

#[test]
fn once_the_heartbeat_is_older_than_master_down_arp_nd_and_traffic_for_the_address_are_dropped() {
    let mut ebpf = loaded();
    beat_aged(&mut ebpf, MASTER_DOWN_NS + 50_000_000);
    assert_eq!(run(&ebpf, &arp_request(VIP4)), XDP_DROP);
    assert_eq!(run(&ebpf, &arp_request(VIP4)), XDP_DROP);
    assert_eq!(run(&ebpf, &udp_to(VIP4)), XDP_DROP);
    assert_eq!(run(&ebpf, &solicitation(VIP6)), XDP_DROP);
    assert_eq!(stat(&ebpf, STAT_GUARD_ARP), 2);
    assert_eq!(stat(&ebpf, STAT_GUARD_TRAFFIC), 1);
    assert_eq!(stat(&ebpf, STAT_GUARD_ND), 1);
    // Not ours: other addresses, and ARP replies, still pass.
    assert_eq!(
        run(&ebpf, &arp_request(Ipv4Addr::new(10, 9, 0, 1))),
        XDP_PASS
    );
    assert_eq!(run(&ebpf, &udp_to(Ipv4Addr::new(10, 9, 0, 2))), XDP_PASS);
    let reply = arp_frame(2, MAC, Ipv4Addr::new(10, 9, 0, 9), VIP4);
    assert_eq!(run(&ebpf, &reply), XDP_PASS);
    // A new beat: answered again.
    beat_aged(&mut ebpf, 0);
    assert_eq!(run(&ebpf, &arp_request(VIP4)), XDP_PASS);
    assert_eq!(stat(&ebpf, STAT_GUARD_ARP), 2);
}

#[test]
fn a_stale_heartbeat_guards_nothing_for_an_address_no_longer_held() {
    let mut ebpf = loaded();
    // The instance became backup: the agent took its addresses out of GUARDS.
    HeartbeatWriter::default()
        .set_guarded(&mut ebpf, &HashMap::new(), monotonic_ns())
        .unwrap();
    beat_aged(&mut ebpf, 10_000_000_000);
    assert_eq!(run(&ebpf, &arp_request(VIP4)), XDP_PASS);
    assert_eq!(stat(&ebpf, STAT_GUARD_ARP), 0);
}

//! The receive state in the XDP program, run on crafted frames without a NIC
//! (BPF_PROG_TEST_RUN): which accepted adverts wake the agent (an event in the ring
//! buffer) and which only update the `STATE` map or a counter, and the same advert
//! sequences through the raw-socket path's userspace copy of the state, which must make
//! the same decision on every advert (docs/kernel-state.md). Needs root (CAP_BPF) and the
//! agent built with the eBPF object (`cargo xtask test` does both).

use std::collections::HashMap;
use std::net::IpAddr;

use aya::maps::{HashMap as BpfHashMap, MapData, PerCpuArray, RingBuf};
use aya::Ebpf;
use vrrp_agent::filter::{Counters, PolicyTable};
use vrrp_agent::io::rawsock::{apply_state, monotonic_ns, process_frame};
use vrrp_agent::io::xdp::{decode_event, load_object, read_state, write_policy, write_state};
use vrrp_ebpf::abi::*;
use vrrp_ebpf::state::{Decision, Ours};
use vrrpx_tests::frames::Advert;

/// BPF_PROG_TEST_RUN without a context runs the program as if the frame arrived on the
/// loopback device of the caller's namespace.
const IFINDEX: u32 = 1;
const XDP_PASS: u32 = 2;
const VRID: u8 = 51;
const MS: u64 = 1_000_000;

fn key(family: Family) -> VridKey {
    VridKey::new(IFINDEX, VRID, family)
}

fn policy() -> PolicyTable {
    let mut p = PolicyTable::default();
    p.ifaces.insert(IFINDEX, IfacePolicy { flags: 0 });
    let v3 = VridPolicy {
        version: 3,
        csum_form: CSUM_PSEUDO,
        ..VridPolicy::default()
    };
    p.vrids.insert(key(Family::V4), v3);
    p.vrids.insert(key(Family::V6), v3);
    p
}

/// Our side: priority 100 at 10.9.0.2, 10 ms adverts (the Master_Down of priority 100).
fn ours(role: u8, flags: u8) -> Ours {
    let mut addr = [0u8; 16];
    addr[..4].copy_from_slice(&[10, 9, 0, 2]);
    Ours {
        role,
        priority: 100,
        flags,
        advert_int_cs: 1,
        master_down_ns: 36_093_750,
        skew_ns: 6_093_750,
        addr,
    }
}

const BACKUP: u8 = STATE_ABSORB | STATE_PREEMPT;

/// An advert from 10.9.0.`host` at `priority`, 10 ms interval.
fn advert(host: u8, priority: u8) -> Vec<u8> {
    Advert {
        priority,
        interval: 1,
        src: IpAddr::V4(std::net::Ipv4Addr::new(10, 9, 0, host)),
        ..Advert::v3_ipv4()
    }
    .build()
}

/// As [`advert`], advertising `addrs` instead of the default address list.
fn advert_of(host: u8, priority: u8, addrs: &[&str]) -> Vec<u8> {
    Advert {
        priority,
        interval: 1,
        src: IpAddr::V4(std::net::Ipv4Addr::new(10, 9, 0, host)),
        addrs: addrs.iter().map(|a| a.parse().unwrap()).collect(),
        ..Advert::v3_ipv4()
    }
    .build()
}

struct Kernel {
    ebpf: Ebpf,
    ring: RingBuf<MapData>,
}

impl Kernel {
    fn new() -> Kernel {
        assert!(
            vrrpx_tests::is_root(),
            "XDP tests need root (CAP_BPF); run them through `cargo xtask test` as root"
        );
        let mut ebpf = load_object().expect("XDP object loads and passes the verifier");
        write_policy(&mut ebpf, &policy()).unwrap();
        let ring = RingBuf::try_from(ebpf.take_map(MAP_EVENTS).unwrap()).unwrap();
        Kernel { ebpf, ring }
    }

    fn set(&mut self, family: Family, o: &Ours) {
        write_state(&mut self.ebpf, key(family), o).unwrap();
    }

    fn state(&self, family: Family) -> VridState {
        read_state(&self.ebpf, key(family)).expect("state entry")
    }

    fn counter(&self, slot: u32) -> u64 {
        let m: PerCpuArray<_, u64> =
            PerCpuArray::try_from(self.ebpf.map(MAP_COUNTERS).unwrap()).unwrap();
        m.get(&counter_index(VRID, slot), 0).unwrap().iter().sum()
    }

    /// Run one frame: whether it was reported (an advert event reached the ring buffer).
    /// A master-down event a timer armed by an earlier frame may have pushed meanwhile is
    /// not this frame's doing and is left out.
    fn run(&mut self, frame: &[u8]) -> bool {
        self.run_only(frame);
        let adverts = self
            .drain()
            .into_iter()
            .filter(|e| e.kind == EVENT_ADVERT)
            .count();
        assert!(adverts <= 1, "at most one event per frame");
        adverts == 1
    }

    /// Run one frame, leaving the ring buffer alone.
    fn run_only(&mut self, frame: &[u8]) {
        let (action, _) = vrrpx_tests::xdp_test_run(&self.ebpf, frame);
        assert_eq!(action, XDP_PASS, "accepted adverts always pass");
    }

    /// Every event in the ring buffer now.
    fn drain(&mut self) -> Vec<Event> {
        std::iter::from_fn(|| self.ring.next().and_then(|item| decode_event(&item))).collect()
    }
}

#[test]
fn a_backup_reports_the_first_advert_of_a_master_and_absorbs_its_unchanged_ones_into_the_map() {
    let mut k = Kernel::new();
    k.set(Family::V4, &ours(ROLE_BACKUP, BACKUP));
    assert!(k.run(&advert(1, 150)), "a new master is reported");
    let st = k.state(Family::V4);
    assert_eq!(
        (st.master_known, st.master_priority, st.master_interval_cs),
        (1, 150, 1)
    );
    assert_eq!(&st.master_src[..4], &[10, 9, 0, 1]);
    assert_eq!(st.last_ts, 0, "a reported advert is the agent's to time");
    let before = monotonic_ns();
    let mut last = 0;
    for _ in 0..20 {
        assert!(!k.run(&advert(1, 150)), "unchanged advert absorbed");
        let ts = k.state(Family::V4).last_ts;
        assert!(
            ts >= before && ts >= last,
            "last_ts is the kernel arrival time"
        );
        last = ts;
    }
    assert!(last <= monotonic_ns());
    assert_eq!(k.counter(SLOT_ABSORBED), 20);
    assert_eq!(
        k.counter(Reason::Accepted as u32),
        21,
        "absorbed adverts were accepted"
    );
}

#[test]
fn a_backup_reports_a_new_source_a_priority_change_priority_zero_and_preemptable_lower_priorities()
{
    let mut k = Kernel::new();
    k.set(Family::V4, &ours(ROLE_BACKUP, BACKUP));
    assert!(k.run(&advert(1, 150)));
    assert!(k.run(&advert(3, 150)), "new source");
    assert!(!k.run(&advert(3, 150)));
    assert!(k.run(&advert(3, 160)), "priority change");
    let slower = Advert {
        priority: 160,
        interval: 2,
        src: "10.9.0.3".parse().unwrap(),
        ..Advert::v3_ipv4()
    }
    .build();
    assert!(k.run(&slower), "interval change");
    assert!(!k.run(&slower));
    for _ in 0..3 {
        assert!(k.run(&advert(3, 0)), "priority 0, every time");
    }
    // A lower priority while preempting: once per our interval (41 s here, so the test's
    // own pace cannot open a second window), the rest counted.
    k.set(
        Family::V4,
        &Ours {
            advert_int_cs: 4095,
            ..ours(ROLE_BACKUP, BACKUP)
        },
    );
    assert!(
        k.run(&advert(4, 50)),
        "lower priority while preempting, once"
    );
    for _ in 0..3 {
        assert!(!k.run(&advert(4, 50)), "then rate-limited");
    }
    assert_eq!(k.counter(SLOT_RATE_LIMITED), 3);
    assert_eq!(k.counter(SLOT_ABSORBED), 2);
}

#[test]
fn a_master_reports_whatever_beats_it_and_a_lower_priority_once_per_interval_counting_the_rest() {
    let mut k = Kernel::new();
    // A 40.95 s advert interval: the whole test runs inside one.
    let master = Ours {
        advert_int_cs: 4095,
        ..ours(ROLE_MASTER, STATE_ABSORB)
    };
    k.set(Family::V4, &master);
    assert!(
        k.run(&advert(1, 50)),
        "the first lower-priority advert: the RFC 9568 reply"
    );
    for _ in 0..10 {
        assert!(!k.run(&advert(1, 50)));
        // Equal priority from a lower address does not beat us either.
        assert!(!k.run(&advert(1, 100)));
    }
    assert_eq!(k.counter(SLOT_RATE_LIMITED), 20);
    for _ in 0..3 {
        assert!(
            k.run(&advert(9, 100)),
            "equal priority, higher address (§6.4.3)"
        );
        assert!(k.run(&advert(1, 200)), "higher priority");
    }
    assert_eq!(k.counter(SLOT_RATE_LIMITED), 20);
    assert_eq!(k.counter(SLOT_ABSORBED), 0);
    // A short interval: one more report as soon as it has passed.
    k.set(
        Family::V4,
        &Ours {
            advert_int_cs: 1,
            ..master
        },
    );
    std::thread::sleep(std::time::Duration::from_millis(15));
    assert!(k.run(&advert(1, 50)));
}

#[test]
fn without_a_role_or_without_absorption_every_advert_is_reported() {
    let mut k = Kernel::new();
    for _ in 0..3 {
        assert!(k.run(&advert(1, 150)), "no state entry: reported");
    }
    k.set(Family::V4, &ours(ROLE_UNKNOWN, BACKUP));
    for _ in 0..3 {
        assert!(k.run(&advert(1, 150)), "role unknown: reported");
    }
    // auth_hmac instances: the agent verifies every advert.
    k.set(Family::V4, &ours(ROLE_BACKUP, STATE_PREEMPT));
    for _ in 0..3 {
        assert!(k.run(&advert(1, 150)), "absorption off: reported");
    }
    assert_eq!(k.counter(SLOT_ABSORBED) + k.counter(SLOT_RATE_LIMITED), 0);
}

#[test]
fn a_role_or_priority_change_forgets_the_master_so_its_next_advert_is_reported() {
    let mut k = Kernel::new();
    k.set(Family::V4, &ours(ROLE_BACKUP, BACKUP));
    assert!(k.run(&advert(1, 150)));
    assert!(!k.run(&advert(1, 150)));
    // Same role, a newly learned interval: the record stays.
    k.set(
        Family::V4,
        &Ours {
            master_down_ns: 72_187_500,
            ..ours(ROLE_BACKUP, BACKUP)
        },
    );
    assert!(!k.run(&advert(1, 150)));
    // A new priority: the state machine must see the master again (does it preempt it
    // now, and from when does preempt_delay count?).
    k.set(
        Family::V4,
        &Ours {
            priority: 160,
            ..ours(ROLE_BACKUP, BACKUP)
        },
    );
    assert!(k.run(&advert(1, 150)));
    k.set(Family::V4, &ours(ROLE_MASTER, STATE_ABSORB));
    k.set(Family::V4, &ours(ROLE_BACKUP, BACKUP));
    assert_eq!(k.state(Family::V4).master_known, 0);
    assert!(k.run(&advert(1, 150)));
}

#[test]
fn the_families_of_one_vrid_keep_separate_state() {
    let mut k = Kernel::new();
    k.set(Family::V4, &ours(ROLE_BACKUP, BACKUP));
    k.set(Family::V6, &ours(ROLE_BACKUP, BACKUP));
    let v6 = Advert {
        priority: 150,
        interval: 1,
        ..Advert::v3_ipv6()
    }
    .build();
    assert!(k.run(&advert(1, 150)));
    assert!(k.run(&v6), "the IPv6 master is new to the IPv6 state");
    assert!(!k.run(&v6));
    assert!(!k.run(&advert(1, 150)));
    let st = k.state(Family::V6);
    assert_eq!(&st.master_src[..2], &[0xfe, 0x80]);
}

#[test]
fn a_backup_reports_a_master_that_now_advertises_other_addresses_then_absorbs_it_again() {
    let mut k = Kernel::new();
    k.set(Family::V4, &ours(ROLE_BACKUP, BACKUP));
    let one = ["10.9.0.100"];
    let two = ["10.9.0.100", "10.9.0.101"];
    let other = ["10.9.0.102"];
    assert!(k.run(&advert_of(1, 150, &one)), "a new master");
    assert!(!k.run(&advert_of(1, 150, &one)));
    // Same source, priority and interval: only the list changed. The agent compares it
    // with its own (a misconfigured peer is logged), so it must hear it.
    assert!(k.run(&advert_of(1, 150, &two)), "an address added");
    assert!(!k.run(&advert_of(1, 150, &two)), "then absorbed again");
    assert!(
        k.run(&advert_of(1, 150, &other)),
        "same count, other address"
    );
    assert!(!k.run(&advert_of(1, 150, &other)));
    assert_eq!(k.counter(SLOT_ABSORBED), 3);
}

/// One step of a parity sequence: a frame, or our side changing.
enum Step {
    Frame(Vec<u8>),
    Role(Ours),
}

/// Run `steps` through the kernel and through the raw-socket path's userspace state;
/// return what each frame led to on each side (true: reported).
fn both_paths(steps: &[Step]) -> (Vec<bool>, Vec<bool>) {
    let mut k = Kernel::new();
    let policy = policy();
    let mut states: HashMap<VridKey, VridState> = HashMap::new();
    let mut counters = Counters::default();
    let (mut kernel, mut user) = (Vec::new(), Vec::new());
    for s in steps {
        match s {
            Step::Role(o) => {
                k.set(Family::V4, o);
                let prev = states.get(&key(Family::V4)).copied();
                states.insert(key(Family::V4), o.apply(prev));
            }
            Step::Frame(f) => {
                kernel.push(k.run(f));
                let (_, ev) = process_frame(f, IFINDEX, monotonic_ns(), &policy, &mut counters);
                let ev = ev.expect("an accepted advert");
                user.push(apply_state(&mut states, &ev, &mut counters) == Decision::Report);
            }
        }
    }
    for slot in [SLOT_ABSORBED, SLOT_RATE_LIMITED, Reason::Accepted as u32] {
        assert_eq!(
            k.counter(slot),
            counters.slot(VRID, slot),
            "counter slot {slot} differs between the paths"
        );
    }
    (kernel, user)
}

#[test]
fn the_xdp_and_raw_socket_paths_wake_the_agent_for_the_same_adverts() {
    use Step::*;
    let slow_master = Ours {
        advert_int_cs: 4095,
        ..ours(ROLE_MASTER, STATE_ABSORB)
    };
    let slow_backup = Ours {
        advert_int_cs: 4095,
        ..ours(ROLE_BACKUP, BACKUP)
    };
    let steps = vec![
        Frame(advert(1, 150)), // no role yet
        Role(slow_backup),
        Frame(advert(1, 150)),
        Frame(advert(1, 150)),
        Frame(advert(1, 150)),
        Frame(advert(1, 160)),
        Frame(advert(1, 160)),
        Frame(advert(3, 160)),
        Frame(advert_of(3, 160, &["10.9.0.100", "10.9.0.101"])),
        Frame(advert_of(3, 160, &["10.9.0.100", "10.9.0.101"])),
        Frame(advert(3, 0)),
        Frame(advert(3, 0)),
        Frame(advert(4, 50)),
        Frame(advert(4, 50)),
        Role(ours(ROLE_BACKUP, STATE_ABSORB)), // preempt off: a lower master is followed
        Frame(advert(4, 50)),
        Frame(advert(4, 50)),
        Role(slow_master),
        Frame(advert(4, 50)),
        Frame(advert(4, 50)),
        Frame(advert(1, 100)), // equal priority, lower address: limited
        Frame(advert(9, 100)), // equal priority, higher address: beats us
        Frame(advert(9, 100)),
        Frame(advert(4, 200)),
        Role(ours(ROLE_BACKUP, STATE_PREEMPT)), // auth_hmac: no absorption
        Frame(advert(4, 200)),
        Frame(advert(4, 200)),
    ];
    let (kernel, user) = both_paths(&steps);
    assert_eq!(
        kernel, user,
        "decisions differ between XDP and the raw socket"
    );
    let want = vec![
        true, // no role: reported
        true, false, false, // a new master, then absorbed
        true, false, // priority change
        true,  // new source
        true, false, // another address list, then absorbed
        true, true, // priority 0, every time
        true, false, // lower priority while preempting: once per interval
        true, false, // preempt off: reported once (our side changed), then absorbed
        true, false, false, // Master: one report per interval
        true, true, true, // beats us, every time
        true, true, // no absorption
    ];
    assert_eq!(kernel, want);
}

#[test]
fn the_raw_socket_path_counts_a_rate_limited_master_reply_like_the_kernel() {
    let steps: Vec<Step> = std::iter::once(Step::Role(Ours {
        advert_int_cs: 4095,
        ..ours(ROLE_MASTER, STATE_ABSORB)
    }))
    .chain((0..50).map(|_| Step::Frame(advert(1, 50))))
    .collect();
    let (kernel, user) = both_paths(&steps);
    assert_eq!(kernel, user);
    assert_eq!(kernel.iter().filter(|&&r| r).count(), 1);
}

#[test]
fn the_state_map_holds_exactly_the_values_the_agent_wrote_for_our_side() {
    let mut k = Kernel::new();
    let o = ours(ROLE_BACKUP, BACKUP);
    k.set(Family::V4, &o);
    let m: BpfHashMap<_, VridKey, VridState> =
        BpfHashMap::try_from(k.ebpf.map(MAP_STATE).unwrap()).unwrap();
    let st = m.get(&key(Family::V4), 0).unwrap();
    assert_eq!(st, o.apply(None));
    assert_eq!(st.master_down_ns, 36_093_750);
    assert_eq!(MS * 36 + 93_750, st.master_down_ns);
}

#[test]
fn after_silence_the_kernel_timer_reports_master_down_stamped_with_kernel_time() {
    let mut k = Kernel::new();
    k.set(Family::V4, &ours(ROLE_BACKUP, BACKUP));
    let t0 = monotonic_ns();
    assert!(k.run(&advert(1, 150)));
    assert!(!k.run(&advert(1, 150)));
    let heard = k.state(Family::V4).last_ts;
    // Master_Down is 36.1 ms: nothing before it...
    std::thread::sleep(std::time::Duration::from_millis(20));
    assert!(k.ring.next().is_none(), "no event before Master_Down");
    // ...one event after it, bounded in time.
    let limit = std::time::Instant::now() + std::time::Duration::from_secs(1);
    let ev = loop {
        if let Some(ev) = k.ring.next().and_then(|item| decode_event(&item)) {
            break ev;
        }
        assert!(
            std::time::Instant::now() < limit,
            "no master-down event within 1 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(1));
    };
    assert_eq!(ev.kind, EVENT_MASTER_DOWN);
    assert_eq!((ev.ifindex, ev.vrid, ev.family), (IFINDEX, VRID, FAMILY_V4));
    assert_eq!(ev.last_ts, heard);
    assert_eq!(ev.priority, 150);
    assert_eq!(&ev.src[..4], &[10, 9, 0, 1]);
    let after = ev.ts_ns - heard;
    assert!(
        (36_093_750..36_093_750 + 20 * MS).contains(&after),
        "fired {after} ns after the last advert"
    );
    assert!(ev.ts_ns > t0);
    assert!(k.ring.next().is_none(), "one event per expiry");
}

#[test]
fn every_followed_advert_restarts_the_kernel_timer_and_a_preemptable_one_does_not() {
    let mut k = Kernel::new();
    k.set(Family::V4, &ours(ROLE_BACKUP, BACKUP));
    assert!(k.run(&advert(1, 150)));
    // 10 ms adverts for 100 ms: the timer never fires.
    for _ in 0..10 {
        std::thread::sleep(std::time::Duration::from_millis(10));
        assert!(!k.run(&advert(1, 150)));
    }
    assert!(
        k.ring.next().is_none(),
        "no master-down while the master speaks"
    );
    // A lower-priority master we preempt: heard (once per interval), the timer runs on.
    let last = k.state(Family::V4).last_ts;
    let limit = std::time::Instant::now() + std::time::Duration::from_secs(1);
    let mut reported = 0;
    let ev = 'wait: loop {
        for ev in k.drain() {
            match ev.kind {
                EVENT_MASTER_DOWN => break 'wait ev,
                _ => reported += 1,
            }
        }
        assert!(
            std::time::Instant::now() < limit,
            "no master-down within 1 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
        k.run_only(&advert(4, 50));
    };
    // Reported once per our 10 ms interval at most (the rest rate-limited), so a few.
    assert!(reported >= 1, "{reported} lower-priority adverts reported");
    assert!(
        ev.ts_ns - last >= 36_093_750,
        "fired from the last followed advert"
    );
    assert!(ev.ts_ns - last < 36_093_750 + 20 * MS);
}

/// Wait up to a second for a master-down event, draining everything else.
fn master_down_within_a_second(k: &mut Kernel) -> Option<Event> {
    let limit = std::time::Instant::now() + std::time::Duration::from_secs(1);
    while std::time::Instant::now() < limit {
        if let Some(ev) = k.drain().into_iter().find(|e| e.kind == EVENT_MASTER_DOWN) {
            return Some(ev);
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    None
}

#[test]
fn the_kernel_timer_still_fires_after_the_agent_rewrote_our_side() {
    let mut k = Kernel::new();
    k.set(Family::V4, &ours(ROLE_BACKUP, BACKUP));
    assert!(k.run(&advert(1, 150)));
    // A newly learned interval: the kernel replaces the element, and with it the timer.
    k.set(
        Family::V4,
        &Ours {
            master_down_ns: 72_187_500,
            ..ours(ROLE_BACKUP, BACKUP)
        },
    );
    assert!(!k.run(&advert(1, 150)), "the record survives the rewrite");
    let heard = k.state(Family::V4).last_ts;
    let ev = master_down_within_a_second(&mut k).expect("master-down after the rewrite");
    assert_eq!(ev.last_ts, heard);
    assert!(
        ev.ts_ns - heard >= 72_187_500,
        "armed with the new Master_Down"
    );
}

#[test]
fn a_timer_armed_as_backup_reports_nothing_once_we_are_master() {
    let mut k = Kernel::new();
    k.set(Family::V4, &ours(ROLE_BACKUP, BACKUP));
    assert!(k.run(&advert(1, 150)));
    k.set(Family::V4, &ours(ROLE_MASTER, STATE_ABSORB));
    assert!(master_down_within_a_second(&mut k).is_none());
}

/// The agent reads the counter map in one batch look-up (one system call instead of 4608,
/// which took 3 ms of the loop every 5 s): the same figures as reading entry by entry.
#[test]
fn the_counter_map_read_in_one_batch_matches_the_entry_by_entry_read() {
    let mut k = Kernel::new();
    k.set(Family::V4, &ours(ROLE_BACKUP, BACKUP));
    for _ in 0..7 {
        k.run(&advert(1, 150));
    }
    let map = k.ebpf.map(MAP_COUNTERS).unwrap();
    let aya::maps::Map::PerCpuArray(data) = map else {
        panic!("COUNTERS is a per-CPU array");
    };
    let batch = vrrp_agent::io::map_batch::sum_per_cpu_u64(data, COUNTER_ENTRIES as usize)
        .expect("this kernel reads per-CPU arrays in batches");
    let mut one_by_one = Counters::default();
    vrrp_agent::io::xdp::read_counters_one_by_one(&k.ebpf, &mut one_by_one).unwrap();
    assert_eq!(batch, one_by_one.slots);
    assert_eq!(batch[counter_index(VRID, SLOT_ABSORBED) as usize], 6);
    assert_eq!(
        batch[counter_index(VRID, Reason::Accepted as u32) as usize],
        7
    );
    let read = vrrp_agent::io::xdp::read_counters(&k.ebpf).unwrap();
    assert_eq!(read.slots, batch, "read_counters uses the batch");
}

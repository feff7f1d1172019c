//! The XDP program: runs the shared VRRP receive checks on every frame, drops what fails
//! them for one of our routers before the stack sees it, passes other routers' VRRP and
//! VLAN-tagged frames untouched, counts every verdict per VRID, and hands each accepted
//! advert (and each ARP naming a virtual address) to the agent with its kernel arrival
//! time.
//!
//! Built only for `bpfel-unknown-none` (`cargo xtask build-ebpf`); on the host this file
//! compiles to an empty program so `cargo clippy --workspace` and `cargo test` work.
#![cfg_attr(target_arch = "bpf", no_std)]
#![cfg_attr(target_arch = "bpf", no_main)]

#[cfg(target_arch = "bpf")]
mod program {
    use aya_ebpf::{
        bindings::xdp_action,
        helpers::{bpf_ktime_get_ns, bpf_ktime_get_tai_ns},
        macros::{btf_map, map, xdp},
        maps::{HashMap, PerCpuArray, RingBuf},
        programs::XdpContext,
    };
    use vrrp_ebpf::abi::*;
    use vrrp_ebpf::classify::{classify, Frame, Policy, Verdict};
    use vrrp_ebpf::guard::{guard, GuardVerdict};
    use vrrp_ebpf::state::{decide, slot_of, timer_after, Heard};

    // The kernel guard's maps and look-up (docs/kernel-guard.md).
    mod guard_maps {
        use aya_ebpf::macros::map;
        use aya_ebpf::maps::{Array, HashMap};
        use vrrp_ebpf::abi::{Family, Heartbeat, VipGuard, VipKey, MAX_VIPS};
        use vrrp_ebpf::guard::Guarded;

        #[map]
        pub static HEARTBEAT: Array<Heartbeat> = Array::with_max_entries(1, 0);
        #[map]
        pub static GUARDS: HashMap<VipKey, VipGuard> = HashMap::with_max_entries(MAX_VIPS, 0);

        pub struct GuardsOf(pub u32);

        impl Guarded for GuardsOf {
            #[inline(always)]
            fn master_down_ns(&self, family: Family, addr: &[u8; 16]) -> Option<u64> {
                let key = VipKey::new(self.0, family, *addr);
                // SAFETY: a plain-old-data copy of a whole entry.
                unsafe { GUARDS.get(&key).map(|g| g.master_down_ns) }
            }
        }
    }

    // Each map is named after its static (aya's default), and those names are the
    // `MAP_*` constants of the ABI: tests/xdp_verdicts.rs finds every one in the object.

    #[map]
    static IFACES: HashMap<u32, IfacePolicy> = HashMap::with_max_entries(MAX_IFACES, 0);
    #[map]
    static VRIDS: HashMap<VridKey, VridPolicy> = HashMap::with_max_entries(MAX_VRIDS, 0);
    #[map]
    static VIPS: HashMap<VipKey, u8> = HashMap::with_max_entries(MAX_VIPS, 0);
    #[map]
    static PEERS: HashMap<PeerKey, PeerPolicy> = HashMap::with_max_entries(MAX_PEERS, 0);
    #[map]
    static COUNTERS: PerCpuArray<u64> = PerCpuArray::with_max_entries(COUNTER_ENTRIES, 0);
    #[map]
    static STATS: PerCpuArray<u64> = PerCpuArray::with_max_entries(STAT_ENTRIES, 0);
    #[map]
    static EVENTS: RingBuf = RingBuf::with_byte_size(EVENTS_BYTES, 0);
    /// Where the event of the frame in hand is built: it is too large for the 512-byte BPF
    /// stack beside the classifier's own variables.
    #[map]
    static SCRATCH: PerCpuArray<Event> = PerCpuArray::with_max_entries(1, 0);

    // ---- Receive state (docs/kernel-state.md) ----
    /// Per-VRID receive state: our role written by the agent, the current master kept here.
    /// A BTF map: the verifier must see the type of its value to find the timer in it.
    #[btf_map]
    static STATE: aya_ebpf::btf_maps::HashMap<VridKey, VridState, { MAX_VRIDS as usize }> =
        aya_ebpf::btf_maps::HashMap::new();

    /// Master_Down expired in the kernel (RFC 5798 §6.4.2): tell the agent, stamped with
    /// the kernel time and the master's last arrival.
    extern "C" fn master_down(
        _map: *mut core::ffi::c_void,
        key: *mut VridKey,
        st: *mut VridState,
    ) -> i32 {
        // SAFETY: the kernel passes this timer's own map key and value.
        let (key, st) = unsafe { (&*key, &*st) };
        // The agent cannot cancel a timer: a role changed since it was armed disarms it.
        if st.role != ROLE_BACKUP || st.flags & STATE_ABSORB == 0 {
            return 0;
        }
        let Some(mut slot) = EVENTS.reserve::<Event>(0) else {
            bump(&STATS, STAT_RINGBUF_FULL);
            return 0;
        };
        let ev = Event::clear(&mut slot);
        ev.kind = EVENT_MASTER_DOWN;
        ev.ifindex = key.ifindex;
        ev.vrid = key.vrid;
        ev.family = key.family;
        // SAFETY: helper without preconditions.
        ev.ts_ns = unsafe { bpf_ktime_get_ns() };
        ev.src = st.master_src;
        ev.priority = st.master_priority;
        ev.last_ts = st.last_ts;
        slot.submit(0);
        0
    }

    /// The clock of the timers: the one `bpf_ktime_get_ns` reads, and the agent's.
    const CLOCK_MONOTONIC: u64 = 1;

    /// (Re)start the Master_Down timer of `st` to fire after `ns`.
    #[inline(always)]
    fn arm(st: *mut VridState, ns: u64) {
        // SAFETY: st is a live value of STATE; the helpers check the timer themselves.
        unsafe {
            let t = core::ptr::addr_of_mut!((*st).timer) as *mut aya_ebpf::bindings::bpf_timer;
            if (*st).timer_ready == 0 {
                let map = core::ptr::addr_of!(STATE) as *mut core::ffi::c_void;
                let _ = aya_ebpf::helpers::generated::bpf_timer_init(t, map, CLOCK_MONOTONIC);
                let _ = aya_ebpf::helpers::generated::bpf_timer_set_callback(
                    t,
                    master_down as *mut core::ffi::c_void,
                );
                (*st).timer_ready = 1;
            }
            let _ = aya_ebpf::helpers::generated::bpf_timer_start(t, ns, 0);
        }
    }

    /// The receive-state decision on the accepted advert in `event`, with the Master_Down
    /// timer restarted as the state machine would restart its own. `None`: absorbed or
    /// rate-limited (counted), no event. Otherwise the advert is reported, with the state
    /// it was recorded in, if the VRID has one.
    #[inline(always)]
    fn receive_state(ifindex: u32, vrid: u8, event: &Event) -> Option<Option<*mut VridState>> {
        let family = if event.family == FAMILY_V4 {
            Family::V4
        } else {
            Family::V6
        };
        let Some(st) = STATE.get_ptr_mut(VridKey::new(ifindex, vrid, family)) else {
            return Some(None);
        };
        let heard = Heard::of(event);
        // SAFETY: a live map value of this key. Another CPU may update it at the same time
        // only by whole-field writes of plain integers: at worst one more advert is
        // reported or an arrival time is a little older, never an invalid value.
        let d = decide(unsafe { &mut *st }, &heard, event.ts_ns);
        // SAFETY: as above.
        if let Some(ns) = timer_after(unsafe { &*st }, &heard) {
            arm(st, ns);
        }
        match slot_of(d) {
            Some(slot) => {
                bump(&COUNTERS, counter_index(vrid, slot));
                None
            }
            None => Some(Some(st)),
        }
    }
    // ---- end of receive state ----

    /// Offsets beyond this are never read; the bound lets the verifier prove every
    /// variable-offset packet access safe.
    const MAX_OFFSET: usize = 4096;

    struct XdpFrame {
        start: usize,
        end: usize,
    }

    impl Frame for XdpFrame {
        #[inline(always)]
        fn load<const N: usize>(&self, off: usize) -> Option<[u8; N]> {
            if off > MAX_OFFSET {
                return None;
            }
            let p = self.start + off;
            // LLVM folds `p + 1 > end` into `p >= end`, from which the verifier proves no
            // readable byte at p. For one-byte reads a barrier keeps `p + 1` as computed,
            // so the comparison the verifier sees is against the end of the read (wider
            // reads are not folded and stay free of the barrier's stack round trip).
            let last = if N == 1 {
                core::hint::black_box(p + N)
            } else {
                p + N
            };
            if last > self.end {
                return None;
            }
            // SAFETY: [p, p + N) lies inside the packet (checked against data_end just
            // above), and [u8; N] has alignment 1.
            Some(unsafe { core::ptr::read_unaligned(p as *const [u8; N]) })
        }
    }

    struct XdpPolicy {
        ifindex: u32,
    }

    impl Policy for XdpPolicy {
        #[inline(always)]
        fn iface(&self) -> Option<IfacePolicy> {
            // SAFETY: the value is copied out at once; the agent only ever replaces whole
            // entries, so a torn read cannot produce an invalid IfacePolicy.
            unsafe { IFACES.get(&self.ifindex).copied() }
        }

        #[inline(always)]
        fn vrid(&self, vrid: u8, family: Family) -> Option<VridPolicy> {
            let key = VridKey::new(self.ifindex, vrid, family);
            // SAFETY: as for `iface`: a plain-old-data copy.
            unsafe { VRIDS.get(&key).copied() }
        }

        #[inline(always)]
        fn vip_flags(&self, family: Family, addr: &[u8; 16]) -> u8 {
            let key = VipKey::new(self.ifindex, family, *addr);
            // SAFETY: a one-byte plain-old-data copy.
            unsafe { VIPS.get(&key).copied().unwrap_or(0) }
        }

        #[inline(always)]
        fn peer(&self, vrid: u8, family: Family, addr: &[u8; 16]) -> Option<PeerPolicy> {
            let key = PeerKey::new(self.ifindex, vrid, family, *addr);
            // SAFETY: as for `iface`: a plain-old-data copy.
            unsafe { PEERS.get(&key).copied() }
        }

        #[inline(always)]
        fn tai_now_s(&self) -> u64 {
            // SAFETY: helper without preconditions (Linux 6.1+).
            unsafe { bpf_ktime_get_tai_ns() / 1_000_000_000 }
        }
    }

    #[inline(always)]
    fn bump(map: &PerCpuArray<u64>, index: u32) {
        if let Some(p) = map.get_ptr_mut(index) {
            // SAFETY: per-CPU slot, so no other program instance writes it concurrently.
            unsafe { *p += 1 };
        }
    }

    #[xdp]
    pub fn vrrp_xdp(ctx: XdpContext) -> u32 {
        let frame = XdpFrame {
            start: ctx.data(),
            end: ctx.data_end(),
        };
        // SAFETY: ctx.ctx points at the kernel's xdp_md for this invocation.
        let ifindex = unsafe { (*ctx.ctx).ingress_ifindex };
        // The kernel guard first: a dead agent's addresses are not answered for.
        if let Some(beat) = guard_maps::HEARTBEAT.get(0) {
            // SAFETY: helper without preconditions.
            let now = unsafe { bpf_ktime_get_ns() };
            let held = guard_maps::GuardsOf(ifindex);
            if let GuardVerdict::Drop(ask) = guard(&frame, beat, now, &held) {
                bump(&STATS, ask.stat());
                return xdp_action::XDP_DROP;
            }
        }
        let policy = XdpPolicy { ifindex };
        let Some(slot) = SCRATCH.get_ptr_mut(0) else {
            return xdp_action::XDP_PASS;
        };
        // SAFETY: the per-CPU slot is this program invocation's alone (XDP runs with
        // preemption off), and an Event is plain old data, so any previous content is a
        // valid MaybeUninit<Event> to clear.
        let event = Event::clear(unsafe { &mut *(slot as *mut core::mem::MaybeUninit<Event>) });
        match classify(&frame, &policy, event) {
            Verdict::Pass => {
                bump(&STATS, STAT_NON_VRRP);
                xdp_action::XDP_PASS
            }
            Verdict::Tagged => {
                bump(&STATS, STAT_VLAN_PASSED);
                xdp_action::XDP_PASS
            }
            Verdict::ToVipRefused => {
                bump(&STATS, STAT_VIP_DROPPED);
                xdp_action::XDP_DROP
            }
            Verdict::Arp => {
                event.ifindex = ifindex;
                // SAFETY: helper without preconditions.
                event.ts_ns = unsafe { bpf_ktime_get_ns() };
                bump(&STATS, STAT_ARP_REPORTED);
                if EVENTS.output::<Event>(&*event, 0).is_err() {
                    bump(&STATS, STAT_RINGBUF_FULL);
                }
                xdp_action::XDP_PASS
            }
            Verdict::Vrrp { vrid, reason } => {
                bump(&COUNTERS, counter_index(vrid, reason as u32));
                if reason.is_rejection() {
                    return xdp_action::XDP_DROP;
                }
                if reason != Reason::Accepted {
                    // Another router's advert: its owner (another daemon, a VLAN's
                    // routers) must still get it.
                    return xdp_action::XDP_PASS;
                }
                if event.family == FAMILY_V4 && event.version == 3 {
                    let slot = if event.csum_form == CSUM_PSEUDO {
                        SLOT_CSUM_PSEUDO
                    } else {
                        SLOT_CSUM_PLAIN
                    };
                    bump(&COUNTERS, counter_index(vrid, slot));
                }
                event.ifindex = ifindex;
                // SAFETY: helper without preconditions.
                event.ts_ns = unsafe { bpf_ktime_get_ns() };
                // Receive state (docs/kernel-state.md): the master's unchanged advert
                // and a master's rate-limited ones wake nobody.
                let Some(state) = receive_state(ifindex, vrid, event) else {
                    return xdp_action::XDP_PASS;
                };
                if EVENTS.output::<Event>(&*event, 0).is_err() {
                    bump(&STATS, STAT_RINGBUF_FULL);
                    if let Some(st) = state {
                        // The agent never heard this master: report its next advert again
                        // instead of absorbing it.
                        // SAFETY: a live value of STATE (see `receive_state`).
                        unsafe { (*st).master_known = 0 };
                    }
                }
                xdp_action::XDP_PASS
            }
        }
    }

    #[unsafe(link_section = "license")]
    #[unsafe(no_mangle)]
    static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";

    #[panic_handler]
    fn panic(_info: &core::panic::PanicInfo) -> ! {
        // SAFETY: the verifier rejects any program with a reachable panic path (it would
        // be an unbounded loop), so this is never executed in a loaded program.
        unsafe { core::hint::unreachable_unchecked() }
    }
}

#[cfg(not(target_arch = "bpf"))]
fn main() {
    eprintln!("vrrp-ebpf is an XDP program: build it with `cargo xtask build-ebpf`.");
}

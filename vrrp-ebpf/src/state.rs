//! The receive-state decision: which accepted adverts must wake the agent's state machine
//! and which only refresh what the receive path keeps about the current master. The XDP
//! program runs [`decide`] on the map value in the kernel; the raw-socket path runs it on
//! its own copy; so both paths wake the agent for exactly the same adverts.
//!
//! Pure and verifier-friendly: no loops beyond a constant 16, no allocation, no panic.

use crate::abi::*;

/// What the receive path does with one accepted advert.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// The current master's unchanged advert heard by a Backup: `last_ts` is refreshed,
    /// nobody is woken (counted in [`SLOT_ABSORBED`]).
    Absorb,
    /// The state machine must decide: push the event.
    Report,
    /// Heard while Master, after the one report per advert interval that the RFC 9568
    /// reply needs (counted in [`SLOT_RATE_LIMITED`]).
    RateLimited,
}

/// The fields of an accepted advert that the decision reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Heard {
    /// Source address, IPv4 in the first four bytes.
    pub src: [u8; 16],
    pub priority: u8,
    pub interval_cs: u16,
    /// The VRRP checksum as it came: it covers the address list.
    pub csum: u16,
    /// Kernel arrival time, CLOCK_MONOTONIC ns.
    pub ts_ns: u64,
}

impl Heard {
    /// The advert an accepted-advert event describes.
    #[inline(always)]
    pub fn of(ev: &Event) -> Heard {
        Heard {
            src: ev.src,
            priority: ev.priority,
            interval_cs: ev.interval_cs,
            // Bytes 6 and 7 of the header (RFC 5798 §5.2.8, RFC 3768 §5.3.8).
            csum: u16::from_be_bytes([ev.hdr[6], ev.hdr[7]]),
            ts_ns: ev.ts_ns,
        }
    }
}

/// Our side of a virtual router, as the agent writes it into [`VridState`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ours {
    /// One of `ROLE_*`.
    pub role: u8,
    pub priority: u8,
    /// `STATE_*` bits.
    pub flags: u8,
    pub advert_int_cs: u16,
    pub master_down_ns: u64,
    pub skew_ns: u64,
    /// Our primary address, IPv4 in the first four bytes.
    pub addr: [u8; 16],
}

impl Ours {
    /// The state to store: `prev` (what the receive path kept, if any) with our side
    /// replaced. A change of role, priority or preempt mode forgets the recorded master
    /// and its times, so the next advert is reported: what was absorbed as a Backup says
    /// nothing to a Master, a new Backup's state machine has not heard anyone yet, and
    /// after a priority change the state machine must see the master again to tell
    /// whether it now preempts it (and when `preempt_delay` starts).
    pub fn apply(&self, prev: Option<VridState>) -> VridState {
        let same_side = |p: &VridState| {
            p.role == self.role && p.priority == self.priority && p.flags == self.flags
        };
        let mut st = match prev {
            Some(p) if same_side(&p) => p,
            _ => VridState::default(),
        };
        // The kernel stores a written value as a new element and frees the old one with
        // its timer: the program must set the timer up again on the next advert.
        st.timer_ready = 0;
        st.role = self.role;
        st.priority = self.priority;
        st.flags = self.flags;
        st.advert_int_cs = self.advert_int_cs;
        st.master_down_ns = self.master_down_ns;
        st.skew_ns = self.skew_ns;
        st.our_addr = self.addr;
        st
    }
}

/// Nanoseconds per centisecond (the unit of the advert interval).
const NS_PER_CS: u64 = 10_000_000;

/// Decide about one accepted advert and update `st` accordingly.
///
/// - No role known, or absorption not allowed (`auth_hmac`): Report, as without state.
/// - Backup (RFC 5798 §6.4.2): the recorded master's advert with the same priority and
///   interval, priority not 0, and a priority we would not preempt (at least ours, or
///   Preempt_Mode off) only restarts Master_Down — which is all the state machine would
///   do with it — so it is absorbed into `last_ts`. Anything else is reported and becomes
///   the record: a new source, a priority or interval change (Master_Adver_Interval is
///   learned from it), priority 0 (Skew_Time takeover), a new address list (seen as a
///   new checksum: the agent logs a peer whose addresses differ from ours). A lower priority while
///   preempting is discarded by the state machine and the timer runs on; it only needs
///   to hear that such a master exists (`preempt_delay` counts from the first one), so
///   it is reported at most once per our advert interval, the rest rate-limited, and the
///   record stays the master we follow: a flood of forged lower priorities can neither
///   wake the agent at its own rate nor stop the real master's adverts being absorbed.
/// - Master (RFC 5798 §6.4.3, RFC 9568): an advert that beats us (higher priority, or
///   equal priority from a higher address) is always reported; any other is reported at
///   most once per our advert interval, which is as often as the reply it triggers may
///   go out; the rest are rate-limited.
#[inline(always)]
pub fn decide(st: &mut VridState, adv: &Heard, now_ns: u64) -> Decision {
    if st.flags & STATE_ABSORB == 0 {
        return Decision::Report;
    }
    match st.role {
        ROLE_BACKUP => decide_backup(st, adv, now_ns),
        ROLE_MASTER => decide_master(st, adv, now_ns),
        _ => Decision::Report,
    }
}

#[inline(always)]
fn decide_backup(st: &mut VridState, adv: &Heard, now_ns: u64) -> Decision {
    let same = st.master_known != 0
        && st.master_src == adv.src
        && st.master_priority == adv.priority
        && st.master_interval_cs == adv.interval_cs
        && st.master_csum == adv.csum;
    let preempt = st.flags & STATE_PREEMPT != 0;
    let followed = adv.priority != 0 && (adv.priority >= st.priority || !preempt);
    if same && followed {
        // Adverts may be handled out of order across CPUs: keep the newest arrival.
        if adv.ts_ns > st.last_ts {
            if st.last_ts != 0 {
                let gap = adv.ts_ns - st.last_ts;
                st.last_gap_ns = gap;
                if gap > st.max_gap_ns {
                    st.max_gap_ns = gap;
                }
            }
            st.last_ts = adv.ts_ns;
        }
        return Decision::Absorb;
    }
    if adv.priority != 0 && !followed {
        return once_per_interval(st, now_ns);
    }
    st.master_src = adv.src;
    st.master_priority = adv.priority;
    st.master_interval_cs = adv.interval_cs;
    st.master_csum = adv.csum;
    st.master_known = 1;
    Decision::Report
}

#[inline(always)]
fn decide_master(st: &mut VridState, adv: &Heard, now_ns: u64) -> Decision {
    let beats_us = adv.priority > st.priority
        || (adv.priority == st.priority && addr_greater(&adv.src, &st.our_addr));
    if beats_us {
        return Decision::Report;
    }
    once_per_interval(st, now_ns)
}

/// Report if our advert interval has passed since the last report of this kind, else
/// rate-limit. One clock serves both roles: a change of role starts it afresh.
#[inline(always)]
fn once_per_interval(st: &mut VridState, now_ns: u64) -> Decision {
    let every = st.advert_int_cs as u64 * NS_PER_CS;
    if st.last_report_ts != 0 && now_ns < st.last_report_ts.saturating_add(every) {
        return Decision::RateLimited;
    }
    st.last_report_ts = now_ns;
    Decision::Report
}

/// When the kernel's Master_Down timer must fire, counted from the arrival of `adv`, as
/// the state machine would restart its own (RFC 5798 §6.4.2): Master_Down_Interval after
/// an advert of a master it follows, Skew_Time after priority 0. `None` leaves the timer
/// as it is: not a Backup, absorption off (the agent times every advert itself), or a
/// lower priority it will preempt (Master_Down runs on from the last followed advert).
#[inline(always)]
pub fn timer_after(st: &VridState, adv: &Heard) -> Option<u64> {
    if st.role != ROLE_BACKUP || st.flags & STATE_ABSORB == 0 {
        return None;
    }
    if adv.priority == 0 {
        return Some(st.skew_ns);
    }
    let preempt = st.flags & STATE_PREEMPT != 0;
    (adv.priority >= st.priority || !preempt).then_some(st.master_down_ns)
}

/// `a > b` as unsigned integers in network order (RFC 5798 §6.4.3): byte-wise from the
/// most significant byte. IPv4 addresses fill the first four bytes and zeros the rest, so
/// the same comparison holds for both families.
#[inline(always)]
fn addr_greater(a: &[u8; 16], b: &[u8; 16]) -> bool {
    let mut i = 0;
    while i < 16 {
        if a[i] != b[i] {
            return a[i] > b[i];
        }
        i += 1;
    }
    false
}

/// The counter slot a decision is counted in, if any (reports are counted as accepted
/// only).
#[inline(always)]
pub const fn slot_of(d: Decision) -> Option<u32> {
    match d {
        Decision::Absorb => Some(SLOT_ABSORBED),
        Decision::RateLimited => Some(SLOT_RATE_LIMITED),
        Decision::Report => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    fn v4(last: u8) -> [u8; 16] {
        let mut a = [0u8; 16];
        a[..4].copy_from_slice(&[10, 9, 0, last]);
        a
    }

    fn state(role: u8, priority: u8, flags: u8) -> VridState {
        VridState {
            role,
            priority,
            flags,
            advert_int_cs: 1,
            master_down_ns: 36 * MS,
            our_addr: v4(2),
            ..VridState::default()
        }
    }

    fn advert(last: u8, priority: u8, ts_ns: u64) -> Heard {
        Heard {
            src: v4(last),
            priority,
            interval_cs: 1,
            csum: 0x1234,
            ts_ns,
        }
    }

    const BACKUP_PREEMPT: u8 = STATE_ABSORB | STATE_PREEMPT;

    #[test]
    fn a_backup_reports_a_new_master_once_then_absorbs_its_unchanged_adverts() {
        let mut st = state(ROLE_BACKUP, 100, BACKUP_PREEMPT);
        assert_eq!(
            decide(&mut st, &advert(1, 150, 10 * MS), 10 * MS),
            Decision::Report
        );
        assert_eq!((st.master_known, st.master_priority), (1, 150));
        for k in 2..10u64 {
            let ts = k * 10 * MS;
            assert_eq!(decide(&mut st, &advert(1, 150, ts), ts), Decision::Absorb);
            assert_eq!(st.last_ts, ts);
        }
        assert_eq!((st.last_gap_ns, st.max_gap_ns), (10 * MS, 10 * MS));
        let _ = decide(&mut st, &advert(1, 150, 125 * MS), 0);
        let _ = decide(&mut st, &advert(1, 150, 130 * MS), 0);
        assert_eq!((st.last_gap_ns, st.max_gap_ns), (5 * MS, 35 * MS));
    }

    #[test]
    fn a_backup_reports_every_change_of_source_priority_or_interval_and_priority_zero() {
        let mut st = state(ROLE_BACKUP, 100, BACKUP_PREEMPT);
        let _ = decide(&mut st, &advert(1, 150, MS), MS);
        assert_eq!(
            decide(&mut st, &advert(3, 150, 2 * MS), 0),
            Decision::Report
        );
        assert_eq!(
            decide(&mut st, &advert(3, 160, 3 * MS), 0),
            Decision::Report
        );
        let mut slower = advert(3, 160, 4 * MS);
        slower.interval_cs = 2;
        assert_eq!(decide(&mut st, &slower, 0), Decision::Report);
        assert_eq!(decide(&mut st, &slower, 0), Decision::Absorb);
        // Priority 0 (the master resigns) is reported every time: Skew_Time starts from it.
        let mut resign = slower;
        resign.priority = 0;
        assert_eq!(decide(&mut st, &resign, 0), Decision::Report);
        assert_eq!(decide(&mut st, &resign, 0), Decision::Report);
        assert_eq!(st.last_ts, 4 * MS, "reports leave last_ts to the agent");
    }

    #[test]
    fn a_backup_reports_a_master_whose_address_list_changed_then_absorbs_it_again() {
        let mut st = state(ROLE_BACKUP, 100, BACKUP_PREEMPT);
        let _ = decide(&mut st, &advert(1, 150, MS), MS);
        assert_eq!(
            decide(&mut st, &advert(1, 150, 2 * MS), 0),
            Decision::Absorb
        );
        // Same source, priority and interval; another checksum: other addresses.
        let mut other = advert(1, 150, 3 * MS);
        other.csum = 0x4321;
        assert_eq!(decide(&mut st, &other, 0), Decision::Report);
        assert_eq!(st.master_csum, 0x4321);
        other.ts_ns = 4 * MS;
        assert_eq!(decide(&mut st, &other, 0), Decision::Absorb);
        assert_eq!(st.last_ts, 4 * MS);
    }

    #[test]
    fn a_preempting_backup_hears_a_lower_priority_once_per_interval_and_a_non_preempting_one_absorbs_it(
    ) {
        let mut st = state(ROLE_BACKUP, 100, BACKUP_PREEMPT);
        let _ = decide(&mut st, &advert(1, 150, MS), MS);
        // Our interval is 10 ms: one report per 10 ms, the rest rate-limited.
        let heard: [Decision; 5] = core::array::from_fn(|k| {
            let ts = (2 + 4 * k as u64) * MS;
            decide(&mut st, &advert(3, 50, ts), ts)
        });
        use Decision::{RateLimited as L, Report as R};
        assert_eq!(heard, [R, L, L, R, L], "at 2, 6, 10, 14, 18 ms");
        // The master we follow is still the record: its adverts are still absorbed.
        assert_eq!(st.master_priority, 150);
        assert_eq!(
            decide(&mut st, &advert(1, 150, 20 * MS), 20 * MS),
            Decision::Absorb
        );
        let mut st = state(ROLE_BACKUP, 100, STATE_ABSORB);
        assert_eq!(decide(&mut st, &advert(1, 50, MS), 0), Decision::Report);
        assert_eq!(decide(&mut st, &advert(1, 50, 2 * MS), 0), Decision::Absorb);
    }

    #[test]
    fn an_older_advert_absorbed_late_never_moves_last_ts_back() {
        let mut st = state(ROLE_BACKUP, 100, BACKUP_PREEMPT);
        let _ = decide(&mut st, &advert(1, 150, MS), 0);
        let _ = decide(&mut st, &advert(1, 150, 20 * MS), 0);
        assert_eq!(
            decide(&mut st, &advert(1, 150, 10 * MS), 0),
            Decision::Absorb
        );
        assert_eq!(st.last_ts, 20 * MS);
    }

    #[test]
    fn without_a_role_or_with_absorption_off_every_advert_is_reported_and_nothing_recorded() {
        let mut st = state(ROLE_UNKNOWN, 100, BACKUP_PREEMPT);
        for _ in 0..3 {
            assert_eq!(decide(&mut st, &advert(1, 150, MS), MS), Decision::Report);
        }
        let mut hmac = state(ROLE_BACKUP, 100, STATE_PREEMPT);
        for _ in 0..3 {
            assert_eq!(decide(&mut hmac, &advert(1, 150, MS), MS), Decision::Report);
        }
        assert_eq!(hmac.master_known, 0);
        let mut master = state(ROLE_MASTER, 100, STATE_PREEMPT);
        for _ in 0..3 {
            assert_eq!(
                decide(&mut master, &advert(1, 50, MS), MS),
                Decision::Report
            );
        }
    }

    #[test]
    fn a_master_reports_what_beats_it_every_time() {
        let mut st = state(ROLE_MASTER, 100, STATE_ABSORB);
        for k in 1..5 {
            assert_eq!(
                decide(&mut st, &advert(1, 101, 0), k * MS),
                Decision::Report
            );
            // Equal priority from a higher address wins the tie (§6.4.3)...
            assert_eq!(
                decide(&mut st, &advert(3, 100, 0), k * MS),
                Decision::Report
            );
        }
        assert_eq!(st.last_report_ts, 0);
    }

    #[test]
    fn a_master_reports_a_lower_or_equal_lower_address_advert_once_per_interval_and_limits_the_rest(
    ) {
        let mut st = state(ROLE_MASTER, 100, STATE_ABSORB);
        st.advert_int_cs = 100; // 1 s
        let t0 = 5_000 * MS;
        assert_eq!(decide(&mut st, &advert(1, 50, 0), t0), Decision::Report);
        // ...equal priority from a lower address does not beat us: limited like a lower one.
        assert_eq!(
            decide(&mut st, &advert(1, 100, 0), t0 + MS),
            Decision::RateLimited
        );
        assert_eq!(
            decide(&mut st, &advert(1, 0, 0), t0 + 999 * MS),
            Decision::RateLimited
        );
        assert_eq!(
            decide(&mut st, &advert(1, 50, 0), t0 + 1_000 * MS),
            Decision::Report
        );
        assert_eq!(st.last_report_ts, t0 + 1_000 * MS);
    }

    #[test]
    fn writing_our_side_keeps_the_recorded_master_unless_role_priority_or_preempt_changed() {
        let mut st = state(ROLE_BACKUP, 100, BACKUP_PREEMPT);
        let _ = decide(&mut st, &advert(1, 150, MS), 0);
        let _ = decide(&mut st, &advert(1, 150, 2 * MS), 0);
        st.timer_ready = 1;
        // A newly learned interval: the record stays.
        let ours = Ours {
            role: ROLE_BACKUP,
            priority: 100,
            flags: BACKUP_PREEMPT,
            advert_int_cs: 1,
            master_down_ns: 72 * MS,
            skew_ns: 6 * MS,
            addr: v4(2),
        };
        let kept = ours.apply(Some(st));
        assert_eq!(
            (kept.master_down_ns, kept.master_known, kept.last_ts),
            (72 * MS, 1, 2 * MS)
        );
        assert_eq!(kept.timer_ready, 0, "a written value holds a fresh timer");
        for changed in [
            Ours {
                role: ROLE_MASTER,
                ..ours
            },
            Ours {
                priority: 90,
                ..ours
            },
            Ours {
                flags: STATE_ABSORB,
                ..ours
            },
        ] {
            let st = changed.apply(Some(kept));
            assert_eq!((st.master_known, st.last_ts), (0, 0), "{changed:?}");
        }
        assert_eq!(ours.apply(None).master_known, 0);
    }

    #[test]
    fn the_kernel_timer_restarts_as_the_backups_own_would_and_only_for_a_backup() {
        let mut st = state(ROLE_BACKUP, 100, BACKUP_PREEMPT);
        st.skew_ns = 6 * MS;
        assert_eq!(timer_after(&st, &advert(1, 150, 0)), Some(36 * MS));
        assert_eq!(timer_after(&st, &advert(1, 100, 0)), Some(36 * MS));
        assert_eq!(timer_after(&st, &advert(1, 0, 0)), Some(6 * MS));
        assert_eq!(
            timer_after(&st, &advert(1, 50, 0)),
            None,
            "preempted: runs on"
        );
        st.flags = STATE_ABSORB;
        assert_eq!(timer_after(&st, &advert(1, 50, 0)), Some(36 * MS));
        st.flags = STATE_PREEMPT;
        assert_eq!(
            timer_after(&st, &advert(1, 150, 0)),
            None,
            "auth_hmac: agent-timed"
        );
        let master = state(ROLE_MASTER, 100, BACKUP_PREEMPT);
        assert_eq!(timer_after(&master, &advert(1, 150, 0)), None);
    }

    #[test]
    fn ipv6_sources_compare_over_all_sixteen_bytes() {
        let mut a = [0u8; 16];
        let mut b = [0u8; 16];
        a[0] = 0xfe;
        b[0] = 0xfe;
        a[15] = 2;
        b[15] = 1;
        assert!(addr_greater(&a, &b));
        assert!(!addr_greater(&b, &a));
        assert!(!addr_greater(&a, &a));
    }

    #[test]
    fn only_absorbed_and_rate_limited_adverts_have_a_counter_slot_of_their_own() {
        assert_eq!(slot_of(Decision::Absorb), Some(SLOT_ABSORBED));
        assert_eq!(slot_of(Decision::RateLimited), Some(SLOT_RATE_LIMITED));
        assert_eq!(slot_of(Decision::Report), None);
    }
}

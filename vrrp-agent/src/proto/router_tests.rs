//! One test per rule of RFC 5798 §6.4 (and RFC 9568's change), named as the rule reads.
//! Long on purpose: one short test per rule, kept together so the list reads as the RFC does.

use std::net::IpAddr;

use super::router::*;
use super::timers::*;
use crate::config::model::Version;

const MS: u64 = 1_000_000;
const T0: u64 = 1_000 * MS;

fn params(priority: u8, advert_int_cs: u16) -> RouterParams {
    RouterParams {
        version: Version::V3,
        priority,
        advert_int_cs,
        preempt: true,
        preempt_delay_ns: 0,
        primary: "10.9.0.2".parse().unwrap(),
        garp_repeat: 5,
        garp_master_delay_ns: 5_000 * MS,
        garp_refresh_ns: None,
        no_reply_to_lower: false,
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn advert(ts_ns: u64, src: &str, priority: u8, interval_cs: u16) -> Input {
    Input::Advert {
        ts_ns,
        src: ip(src),
        priority,
        interval_cs,
    }
}

fn started(p: RouterParams) -> Router {
    let mut r = Router::new(p);
    r.handle(Input::Startup, T0);
    r
}

fn master(p: RouterParams) -> Router {
    let mut r = started(p);
    let at = r.next_deadline().unwrap();
    r.handle(Input::Timer, at);
    assert_eq!(r.state(), StateName::Master);
    r
}

/// The Master_Down deadline of a backup of `priority` that heard a master advertising
/// every `interval_cs` at `ts`.
fn master_down_at(ts: u64, priority: u8, interval_cs: u16) -> Option<u64> {
    Some(ts + master_down_interval_ns(priority, interval_cs))
}

fn transition(from: StateName, to: StateName, cause: Cause) -> Action {
    Action::Transition { from, to, cause }
}

/// Well after [`master_told`]'s router became master.
const LATER: u64 = T0 + 5_000 * MS;

/// A priority-100 master (adverts every second) after it was given `input` at [`LATER`],
/// and what it did.
fn master_told(input: Input) -> (Router, Vec<Action>) {
    let mut r = master(params(100, 100));
    let out = r.handle(input, LATER);
    (r, out)
}

/// [`master_told`] of one advert from `src`, arriving at [`LATER`].
fn master_hearing(src: &str, priority: u8, interval_cs: u16) -> (Router, Vec<Action>) {
    master_told(advert(LATER, src, priority, interval_cs))
}

fn sends(actions: &[Action]) -> Vec<u8> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::SendAdvert { priority } => Some(*priority),
            _ => None,
        })
        .collect()
}

#[test]
fn startup_with_priority_255_becomes_master_at_once_and_announces() {
    let mut r = Router::new(params(255, 100));
    let out = r.handle(Input::Startup, T0);
    assert_eq!(r.state(), StateName::Master);
    assert_eq!(
        out,
        vec![
            Action::SendAdvert { priority: 255 },
            Action::AddAddresses,
            Action::Announce { count: 5 },
            transition(
                StateName::Initialize,
                StateName::Master,
                Cause::AddressOwner
            ),
        ]
    );
}

#[test]
fn startup_below_255_becomes_backup_with_master_down_interval_armed() {
    let mut r = Router::new(params(100, 100));
    let out = r.handle(Input::Startup, T0);
    assert_eq!(r.state(), StateName::Backup);
    assert_eq!(r.next_deadline(), master_down_at(T0, 100, 100));
    assert!(sends(&out).is_empty(), "a backup is silent");
}

#[test]
fn backup_takes_over_when_master_down_timer_fires() {
    let mut r = started(params(100, 1));
    // 10 ms adverts, priority 100: Master_Down_Interval is 36.09375 ms.
    assert_eq!(r.next_deadline(), Some(T0 + 36_093_750));
    assert!(r.handle(Input::Timer, T0 + 36 * MS).is_empty(), "not yet");
    let out = r.handle(Input::Timer, T0 + 36_093_750);
    assert_eq!(r.state(), StateName::Master);
    assert_eq!(sends(&out), vec![100]);
    assert!(out.contains(&Action::AddAddresses));
    assert!(out.contains(&Action::Announce { count: 5 }));
    assert!(out.contains(&transition(
        StateName::Backup,
        StateName::Master,
        Cause::MasterDown
    )));
}

#[test]
fn backup_resets_master_down_from_the_kernel_arrival_time_of_an_equal_or_higher_priority_advert() {
    let mut r = started(params(100, 100));
    let ts = T0 + 500 * MS;
    // Read by userspace much later than it arrived: the deadline still counts from `ts`.
    r.handle(advert(ts, "10.9.0.1", 150, 100), T0 + 900 * MS);
    assert_eq!(r.next_deadline(), master_down_at(ts, 100, 100));
    assert_eq!(r.current_master, Some((ip("10.9.0.1"), 150)));
}

#[test]
fn backup_learns_master_adver_interval_from_the_master_advert() {
    let mut r = started(params(100, 100));
    r.handle(advert(T0 + MS, "10.9.0.1", 150, 10), T0 + MS);
    assert_eq!(r.master_adver_int_cs(), 10);
    assert_eq!(r.next_deadline(), master_down_at(T0 + MS, 100, 10));
}

#[test]
fn backup_that_slept_through_queued_adverts_does_not_take_over_on_waking() {
    // The process was stopped for 2 x Master_Down; the master kept advertising and the
    // kernel queued the adverts with their arrival times. On waking, the driver drains
    // them before acting on the timer.
    let mut r = started(params(100, 1));
    let mdi = master_down_interval_ns(100, 1);
    let wake = T0 + 2 * mdi;
    for k in 1..=7u64 {
        r.handle(advert(T0 + k * 10 * MS, "10.9.0.1", 150, 1), wake);
    }
    assert!(r.handle(Input::Timer, wake).is_empty());
    assert_eq!(r.state(), StateName::Backup);
    assert_eq!(r.next_deadline(), Some(T0 + 70 * MS + mdi));
}

#[test]
fn backup_ignores_a_lower_priority_advert_when_preempting_and_lets_the_timer_run() {
    let mut r = started(params(200, 100));
    let before = r.next_deadline();
    r.handle(advert(T0 + 10 * MS, "10.9.0.1", 100, 100), T0 + 10 * MS);
    assert_eq!(r.next_deadline(), before, "timer not reset");
    let out = r.handle(Input::Timer, before.unwrap());
    assert_eq!(r.state(), StateName::Master);
    assert_eq!(sends(&out), vec![200]);
}

#[test]
fn backup_with_preemption_off_accepts_a_lower_priority_master() {
    let mut r = started(RouterParams {
        preempt: false,
        ..params(200, 100)
    });
    let ts = T0 + 10 * MS;
    r.handle(advert(ts, "10.9.0.1", 100, 100), ts);
    assert_eq!(r.next_deadline(), master_down_at(ts, 200, 100));
}

/// Where the Master_Down deadline of a priority-200 backup with `delay_ms` of preempt
/// delay stands after it heard 10.9.0.1 (advertising every second) with each
/// `(ms after T0, priority)` in turn.
fn preempt_delayed_deadline(delay_ms: u64, heard: &[(u64, u8)]) -> Option<u64> {
    let mut r = started(RouterParams {
        preempt_delay_ns: delay_ms * MS,
        ..params(200, 100)
    });
    for &(ms, priority) in heard {
        let ts = T0 + ms * MS;
        r.handle(advert(ts, "10.9.0.1", priority, 100), ts);
    }
    r.next_deadline()
}

/// That backup's deadline once it accepted the advert heard at `ms` after T0.
fn accepted_at(ms: u64) -> Option<u64> {
    master_down_at(T0 + ms * MS, 200, 100)
}

#[test]
fn backup_within_preempt_delay_accepts_a_lower_priority_master_then_preempts_after_it() {
    let first = [(1_000, 100)];
    assert_eq!(preempt_delayed_deadline(2_000, &first), accepted_at(1_000));
    // The delay runs from the first lower-priority advert heard (T0 + 1 s), so at
    // T0 + 2.5 s the master is still accepted...
    let within = [(1_000, 100), (2_500, 100)];
    assert_eq!(preempt_delayed_deadline(2_000, &within), accepted_at(2_500));
    // ...and from T0 + 3 s on its adverts are discarded.
    let later = [(1_000, 100), (2_500, 100), (3_100, 100)];
    assert_eq!(
        preempt_delayed_deadline(2_000, &later),
        accepted_at(2_500),
        "after the delay the lower priority advert is discarded"
    );
}

#[test]
fn preempt_delay_counts_from_the_first_lower_priority_advert_not_from_start_up() {
    // keepalived's semantics: a backup that recovers long after start-up (its priority
    // rises above the master's) still waits the delay out before it preempts.
    assert_eq!(
        preempt_delayed_deadline(5_000, &[(600_000, 100)]),
        accepted_at(600_000),
        "the first lower-priority advert is accepted: the delay only starts now"
    );
    assert_eq!(
        preempt_delayed_deadline(5_000, &[(600_000, 100), (605_000, 100)]),
        accepted_at(600_000),
        "once the delay is over the lower master is discarded"
    );
}

#[test]
fn a_higher_priority_master_restarts_the_preempt_delay() {
    // Lower again at 3.5 s: 2.5 s after the first lower advert, but the delay restarted.
    let heard = [(1_000, 100), (2_000, 250), (3_500, 100)];
    assert_eq!(preempt_delayed_deadline(2_000, &heard), accepted_at(3_500));
}

#[test]
fn backup_takes_over_after_skew_time_when_master_sends_priority_zero() {
    let mut r = started(params(100, 100));
    r.handle(advert(T0 + 10 * MS, "10.9.0.1", 150, 100), T0 + 10 * MS);
    let ts = T0 + 20 * MS;
    r.handle(advert(ts, "10.9.0.1", 0, 100), ts);
    assert_eq!(r.next_deadline(), Some(ts + skew_time_ns(100, 100)));
    let out = r.handle(Input::Timer, ts + skew_time_ns(100, 100));
    assert!(out.contains(&transition(
        StateName::Backup,
        StateName::Master,
        Cause::MasterResigned
    )));
}

#[test]
fn master_sends_an_advert_every_advertisement_interval() {
    let mut r = master(params(100, 10));
    let first = r.next_deadline().unwrap();
    assert_eq!(sends(&r.handle(Input::Timer, first)), vec![100]);
    assert_eq!(r.next_deadline(), Some(first + 100 * MS));
    assert!(sends(&r.handle(Input::Timer, first + 50 * MS)).is_empty());
}

#[test]
fn master_that_wakes_late_sends_one_advert_not_a_burst() {
    let mut r = master(params(100, 1));
    let first = r.next_deadline().unwrap();
    let late = first + 95 * MS;
    assert_eq!(sends(&r.handle(Input::Timer, late)), vec![100]);
    assert_eq!(r.next_deadline(), Some(late + 10 * MS));
}

#[test]
fn master_answers_a_priority_zero_advert_with_an_immediate_advert() {
    let (r, out) = master_hearing("10.9.0.1", 0, 100);
    assert_eq!(sends(&out), vec![100]);
    assert_eq!(r.next_deadline(), Some(LATER + 1_000 * MS));
    assert_eq!(r.state(), StateName::Master);
}

#[test]
fn master_yields_to_a_higher_priority_advert_and_removes_its_addresses() {
    let (r, out) = master_hearing("10.9.0.1", 150, 50);
    assert_eq!(r.state(), StateName::Backup);
    assert!(out.contains(&Action::RemoveAddresses));
    assert!(sends(&out).is_empty());
    assert_eq!(
        r.master_adver_int_cs(),
        50,
        "learns the new master's interval"
    );
    assert_eq!(r.next_deadline(), master_down_at(LATER, 100, 50));
}

#[test]
fn master_yields_to_equal_priority_from_a_higher_primary_address() {
    let (r, _) = master_hearing("10.9.0.3", 100, 100);
    assert_eq!(r.state(), StateName::Backup);
}

#[test]
fn master_keeps_the_role_against_equal_priority_from_a_lower_primary_address() {
    let (r, out) = master_hearing("10.9.0.1", 100, 100);
    assert_eq!(r.state(), StateName::Master);
    assert_eq!(sends(&out), vec![100], "RFC 9568: answer at once");
    assert!(
        out.contains(&Action::Announce { count: 1 }),
        "and refresh clients' caches towards us"
    );
}

#[test]
fn master_answers_lower_priority_at_once_but_at_most_once_per_interval() {
    let mut r = master(params(200, 10));
    let t = T0 + 5_000 * MS;
    let mut answered = 0;
    let mut suppressed = 0;
    // A forged flood: 1000 lower priority adverts within 100 ms.
    for k in 0..1000u64 {
        let now = t + k * 100_000;
        for a in r.handle(advert(now, "10.9.0.66", 100, 10), now) {
            match a {
                Action::SendAdvert { .. } => answered += 1,
                Action::ReplySuppressed => suppressed += 1,
                Action::Announce { count: 1 } => {}
                other => panic!("unexpected {other:?}"),
            }
        }
    }
    assert_eq!(answered, 1, "one reply per 100 ms interval");
    assert_eq!(suppressed, 999);
    assert_eq!(r.state(), StateName::Master);
}

#[test]
fn master_shutting_down_sends_priority_zero_and_removes_addresses() {
    let (r, out) = master_told(Input::Shutdown);
    assert_eq!(sends(&out), vec![0]);
    assert!(out.contains(&Action::RemoveAddresses));
    assert_eq!(r.state(), StateName::Initialize);
    assert_eq!(r.next_deadline(), None);
}

#[test]
fn backup_shutting_down_sends_nothing() {
    let mut r = started(params(100, 100));
    let out = r.handle(Input::Shutdown, T0 + MS);
    assert!(sends(&out).is_empty());
    assert!(!out.contains(&Action::RemoveAddresses));
    assert_eq!(r.state(), StateName::Initialize);
}

#[test]
fn interface_down_puts_a_master_in_fault_and_releases_the_addresses() {
    let (mut r, out) = master_told(Input::Fault(Cause::InterfaceDown));
    assert_eq!(r.state(), StateName::Fault);
    assert!(out.contains(&Action::RemoveAddresses));
    assert!(out.contains(&Action::SendAdvert { priority: 0 }));
    assert_eq!(r.next_deadline(), None);
    let out = r.handle(Input::Recovered(Cause::InterfaceUp), T0 + 10_000 * MS);
    assert_eq!(r.state(), StateName::Backup);
    assert!(out.contains(&transition(
        StateName::Fault,
        StateName::Backup,
        Cause::InterfaceUp
    )));
}

#[test]
fn master_repeats_gratuitous_arp_after_garp_master_delay_then_refreshes() {
    let mut r = master(RouterParams {
        garp_refresh_ns: Some(60_000 * MS),
        ..params(100, 100)
    });
    let became = T0 + master_down_interval_ns(100, 100);
    let out = r.handle(Input::Timer, became + 5_000 * MS);
    assert!(out.contains(&Action::Announce { count: 5 }));
    assert_eq!(r.next_deadline(), Some(became + 6_000 * MS), "next advert");
    let out = r.handle(Input::Timer, became + 65_000 * MS);
    assert!(out.contains(&Action::Announce { count: 5 }));
}

#[test]
fn tracking_lowers_priority_and_the_next_advert_carries_it() {
    let mut r = master(params(150, 100));
    r.handle(Input::SetPriority(90), T0);
    let at = r.next_deadline().unwrap();
    assert_eq!(sends(&r.handle(Input::Timer, at)), vec![90]);
    // Priority is clamped to 1..=254 for a non-owner.
    r.handle(Input::SetPriority(0), T0);
    assert_eq!(r.priority(), 1);
}

#[test]
fn v2_skew_uses_whole_seconds_and_does_not_learn_the_interval() {
    let mut r = started(RouterParams {
        version: Version::V2,
        ..params(100, 200)
    });
    assert_eq!(
        r.next_deadline(),
        Some(T0 + master_down_interval_v2_ns(100, 2))
    );
    r.handle(advert(T0 + MS, "10.9.0.1", 150, 200), T0 + MS);
    assert_eq!(r.master_adver_int_cs(), 200);
}

#[test]
fn sync_group_member_entering_master_pulls_a_backup_up_at_once() {
    let mut r = started(params(100, 100));
    let out = r.handle(Input::SyncWith(StateName::Master), T0 + MS);
    assert_eq!(r.state(), StateName::Master);
    assert!(out.contains(&Action::AddAddresses));
    assert!(out.contains(&transition(
        StateName::Backup,
        StateName::Master,
        Cause::SyncGroup
    )));
}

#[test]
fn sync_group_member_yielding_pulls_a_master_down_and_releases_addresses() {
    let (r, out) = master_told(Input::SyncWith(StateName::Backup));
    assert_eq!(r.state(), StateName::Backup);
    assert!(out.contains(&Action::RemoveAddresses));
}

#[test]
fn sync_group_fault_holds_members_in_fault_until_the_faulty_one_recovers() {
    let (mut r, out) = master_told(Input::SyncWith(StateName::Fault));
    assert_eq!(r.state(), StateName::Fault);
    assert_eq!(sends(&out), vec![0], "hands over with priority 0");
    assert!(out.contains(&Action::RemoveAddresses));
    // Another member becoming Master while we are held in Fault does not pull us up.
    assert!(r
        .handle(Input::SyncWith(StateName::Master), T0 + 5_100 * MS)
        .is_empty());
    r.handle(Input::SyncWith(StateName::Initialize), T0 + 6_000 * MS);
    assert_eq!(r.state(), StateName::Backup);
}

#[test]
fn sync_group_start_up_of_a_member_moves_nobody() {
    let mut r = started(params(100, 100));
    assert!(r
        .handle(Input::SyncWith(StateName::Backup), T0 + MS)
        .is_empty());
    assert_eq!(r.state(), StateName::Backup);
}

#[test]
fn master_that_wakes_a_little_late_keeps_its_cadence() {
    let mut r = master(params(100, 1));
    let first = r.next_deadline().unwrap();
    assert_eq!(sends(&r.handle(Input::Timer, first + 2 * MS)), vec![100]);
    assert_eq!(
        r.next_deadline(),
        Some(first + 10 * MS),
        "not stretched to 12 ms"
    );
}

#[test]
fn an_instance_that_cannot_start_goes_from_init_to_fault_and_starts_when_the_cause_clears() {
    let mut r = Router::new(params(100, 100));
    let out = r.handle(Input::Fault(Cause::NoSourceAddress), T0);
    assert_eq!(r.state(), StateName::Fault);
    assert_eq!(
        out,
        vec![transition(
            StateName::Initialize,
            StateName::Fault,
            Cause::NoSourceAddress
        )]
    );
    assert!(sends(&out).is_empty(), "nothing is sent from INIT");
    let t = T0 + 5_000 * MS;
    let out = r.handle(Input::Recovered(Cause::Recovered), t);
    assert_eq!(r.state(), StateName::Backup);
    assert_eq!(r.next_deadline(), master_down_at(t, 100, 100));
    assert!(out.contains(&transition(
        StateName::Fault,
        StateName::Backup,
        Cause::Recovered
    )));
}

#[test]
fn recovered_outside_fault_changes_nothing() {
    let mut r = started(params(100, 100));
    let before = r.next_deadline();
    let out = r.handle(Input::Recovered(Cause::InterfaceUp), T0 + MS);
    assert!(out.is_empty());
    assert_eq!(r.state(), StateName::Backup);
    assert_eq!(r.next_deadline(), before);
}

#[test]
fn a_changed_primary_address_decides_the_next_tie() {
    // Equal priorities: the higher primary address wins (§6.4.3).
    let mut r = master(params(100, 100));
    let t = T0 + 9_000 * MS;
    r.set_primary("10.9.0.200".parse().unwrap());
    r.handle(advert(t, "10.9.0.100", 100, 100), t);
    assert_eq!(r.state(), StateName::Master, "our new address is higher");
    r.set_primary("10.9.0.50".parse().unwrap());
    r.handle(advert(t + MS, "10.9.0.100", 100, 100), t + MS);
    assert_eq!(r.state(), StateName::Backup, "now theirs is higher");
}

#[test]
fn a_learned_interval_is_kept_between_a_tenth_and_three_times_our_own() {
    // Ours 100 cs: a forged 4095 cs advert must not stretch Master_Down to minutes.
    let mut r = started(params(100, 100));
    let ts = T0 + 10 * MS;
    r.handle(advert(ts, "10.9.0.1", 150, 4095), ts);
    assert_eq!(r.master_adver_int_cs(), 300);
    assert_eq!(r.next_deadline(), master_down_at(ts, 100, 300));
    // A forged 1 cs advert must not make us take over from a healthy master in 30 ms.
    let ts = T0 + 20 * MS;
    r.handle(advert(ts, "10.9.0.1", 150, 1), ts);
    assert_eq!(r.master_adver_int_cs(), 10);
    // A real peer within the factor is learned exactly.
    let ts = T0 + 30 * MS;
    r.handle(advert(ts, "10.9.0.1", 150, 200), ts);
    assert_eq!(r.master_adver_int_cs(), 200);
}

#[test]
fn master_answers_priority_zero_at_most_once_per_interval() {
    let mut r = master(params(100, 100));
    let t = T0 + 9_000 * MS;
    let out = r.handle(advert(t, "10.9.0.66", 0, 100), t);
    assert_eq!(sends(&out), vec![100]);
    for k in 1..50u64 {
        let tk = t + k * MS;
        let out = r.handle(advert(tk, "10.9.0.66", 0, 100), tk);
        assert_eq!(out, vec![Action::ReplySuppressed], "reply {k} suppressed");
    }
    let later = t + 1_000 * MS;
    let out = r.handle(advert(later, "10.9.0.66", 0, 100), later);
    assert_eq!(
        sends(&out),
        vec![100],
        "one interval later it answers again"
    );
}

#[test]
fn a_strict_master_does_not_answer_a_lower_priority_advert() {
    let mut p = params(200, 100);
    p.no_reply_to_lower = true;
    let mut r = master(p);
    let t = T0 + 9_000 * MS;
    let out = r.handle(advert(t, "10.9.0.66", 100, 100), t);
    assert!(out.is_empty(), "{out:?}");
    assert_eq!(r.state(), StateName::Master);
}

// Adverts the receive path absorbed (docs/kernel-state.md): `Input::Heard`.

fn heard(ts_ns: u64) -> Input {
    Input::Heard { ts_ns }
}

#[test]
fn an_absorbed_advert_of_the_followed_master_restarts_master_down_from_its_arrival() {
    let mut r = started(params(100, 1));
    r.handle(advert(T0 + 5 * MS, "10.9.0.1", 150, 1), T0 + 5 * MS);
    let md = master_down_interval_ns(100, 1);
    assert_eq!(r.next_deadline(), Some(T0 + 5 * MS + md));
    // The deadline passes; the path shows the master spoke 30 ms later.
    let late = T0 + 5 * MS + md;
    r.handle(heard(T0 + 35 * MS), late);
    assert_eq!(r.next_deadline(), Some(T0 + 35 * MS + md));
    assert!(r.handle(Input::Timer, late).is_empty(), "no takeover");
    assert_eq!(r.state(), StateName::Backup);
}

#[test]
fn a_stale_absorbed_time_never_moves_the_deadline_back_and_the_timer_takes_over() {
    let mut r = started(params(100, 1));
    r.handle(advert(T0 + 40 * MS, "10.9.0.1", 150, 1), T0 + 40 * MS);
    let deadline = r.next_deadline().unwrap();
    r.handle(heard(T0 + 10 * MS), deadline);
    assert_eq!(r.next_deadline(), Some(deadline));
    let out = r.handle(Input::Timer, deadline);
    assert!(out.contains(&Action::Transition {
        from: StateName::Backup,
        to: StateName::Master,
        cause: Cause::MasterDown
    }));
}

#[test]
fn an_absorbed_time_does_not_hold_off_a_takeover_after_priority_zero_or_a_preemptable_master() {
    // Priority 0: Skew_Time runs whatever the path saw.
    let mut r = started(params(100, 1));
    r.handle(advert(T0 + MS, "10.9.0.1", 150, 1), T0 + MS);
    r.handle(advert(T0 + 2 * MS, "10.9.0.1", 0, 1), T0 + 2 * MS);
    assert_absorbed_time_ignored(&mut r);
    // A lower-priority master we preempt (after preempt_delay accepted it): not followed.
    let mut p = params(100, 1);
    p.preempt_delay_ns = 1_000 * MS;
    let mut r = started(p);
    r.handle(advert(T0 + MS, "10.9.0.1", 50, 1), T0 + MS);
    assert_absorbed_time_ignored(&mut r);
}

/// An absorbed arrival just before the deadline, fed at the deadline, leaves it as it is.
fn assert_absorbed_time_ignored(r: &mut Router) {
    let deadline = r.next_deadline().unwrap();
    r.handle(heard(deadline - 1), deadline);
    assert_eq!(r.next_deadline(), Some(deadline));
}

#[test]
fn a_master_or_a_backup_that_heard_nobody_ignores_absorbed_times() {
    let mut m = master(params(100, 1));
    let before = m.next_deadline();
    m.handle(heard(T0 + 500 * MS), T0 + 100 * MS);
    assert_eq!((m.state(), m.next_deadline()), (StateName::Master, before));
    let mut b = started(params(100, 1));
    let deadline = b.next_deadline();
    b.handle(heard(T0 + 30 * MS), T0 + 30 * MS);
    assert_eq!(b.next_deadline(), deadline);
}

// Master_Down timed in the kernel: `Input::KernelTimed` and `Input::MasterDownFired`.

#[test]
fn a_kernel_timed_backup_following_a_master_keeps_only_a_late_safety_net_deadline() {
    let mut r = started(params(100, 1));
    r.handle(Input::KernelTimed(true), T0);
    let md = master_down_interval_ns(100, 1);
    // No master heard yet: the kernel arms nothing, so our own timer stands.
    assert_eq!(r.next_deadline(), Some(T0 + md));
    r.handle(advert(T0 + MS, "10.9.0.1", 150, 1), T0 + MS);
    assert_eq!(
        r.next_deadline(),
        Some(T0 + MS + md + KERNEL_TIMED_SLACK_NS)
    );
    assert_eq!(r.master_down_at(), Some(T0 + MS + md));
    // Priority 0: Skew_Time runs here too, undeferred.
    r.handle(advert(T0 + 2 * MS, "10.9.0.1", 0, 1), T0 + 2 * MS);
    assert_eq!(r.next_deadline(), r.master_down_at());
}

#[test]
fn the_kernels_master_down_takes_over_only_once_our_own_deadline_has_passed() {
    let mut r = started(params(100, 1));
    r.handle(Input::KernelTimed(true), T0);
    r.handle(advert(T0 + MS, "10.9.0.1", 150, 1), T0 + MS);
    let deadline = r.master_down_at().unwrap();
    // Stale: the master spoke after the kernel timer fired (fed in as Heard first).
    r.handle(heard(T0 + 30 * MS), deadline);
    assert!(r.handle(Input::MasterDownFired, deadline).is_empty());
    assert_eq!(r.state(), StateName::Backup);
    let later = r.master_down_at().unwrap();
    let out = r.handle(Input::MasterDownFired, later);
    assert!(out.contains(&Action::Transition {
        from: StateName::Backup,
        to: StateName::Master,
        cause: Cause::MasterDown
    }));
    // And a Master ignores a late one.
    assert!(r.handle(Input::MasterDownFired, later + MS).is_empty());
}

#[test]
fn without_the_kernel_the_safety_net_is_the_rfc_deadline_again() {
    let mut r = started(params(100, 1));
    r.handle(Input::KernelTimed(true), T0);
    r.handle(advert(T0 + MS, "10.9.0.1", 150, 1), T0 + MS);
    r.handle(Input::KernelTimed(false), T0 + MS);
    assert_eq!(r.next_deadline(), r.master_down_at());
}

//! One virtual router's state machine (RFC 5798 §6.4; RFC 3768 §6.4 for v2), as a pure
//! function of (input, now) → actions. Every timer is a deadline stored in the state; the
//! driver sleeps until [`Router::next_deadline`] and then feeds [`Input::Timer`]. Advert
//! inputs carry the kernel's arrival time, and the Master_Down deadline is computed from
//! it, so a late wake-up of the process cannot turn into a takeover.
//!
//! Over 600 lines on purpose: the whole §6.4 state machine stays in one file so each rule
//! reads beside the others it interacts with; its tests live in router_tests.rs.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::timers::{
    master_down_interval_ns, master_down_interval_v2_ns, skew_time_ns, skew_time_v2_ns,
};
use crate::config::model::Version;

/// How long past Master_Down the safety-net deadline of a kernel-timed Backup lies: the
/// kernel reports Master_Down itself ([`Input::MasterDownFired`]); this deadline only
/// catches a lost report. It bounds how late a takeover can be if the report is lost,
/// and sets how often a Backup of healthy masters wakes up at all.
pub const KERNEL_TIMED_SLACK_NS: u64 = 1_000_000_000;

/// How much longer than our own interval a learned Master_Adver_Interval may be.
pub const LEARNED_INTERVAL_SLOWER: u16 = 3;
/// How much shorter than our own interval a learned Master_Adver_Interval may be.
pub const LEARNED_INTERVAL_FASTER: u16 = 10;

/// What the state machine needs to know about its instance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouterParams {
    pub version: Version,
    /// Configured priority, 1..=255 (255: address owner).
    pub priority: u8,
    /// Our Advertisement_Interval in centiseconds (v2: a multiple of 100).
    pub advert_int_cs: u16,
    /// Preempt_Mode.
    pub preempt: bool,
    /// keepalived's `preempt_delay`: a Backup that may preempt waits this long after it
    /// first hears a lower-priority master before it stops accepting that master's adverts
    /// (so a router whose health check just recovered does not flap the VIP at once).
    pub preempt_delay_ns: u64,
    /// Our primary address on the interface (the tie-breaker of §6.4.3).
    pub primary: IpAddr,
    /// Gratuitous ARP / NA schedule on becoming Master.
    pub garp_repeat: u32,
    pub garp_master_delay_ns: u64,
    pub garp_refresh_ns: Option<u64>,
    /// keepalived's strict mode (`lower_prio_no_advert`): a Master does not answer a
    /// lower-priority advert with one of its own (RFC 5798 as written, before RFC 9568).
    #[serde(default)]
    pub no_reply_to_lower: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum StateName {
    Initialize,
    Backup,
    Master,
    Fault,
}

impl std::fmt::Display for StateName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = match self {
            StateName::Initialize => "INIT",
            StateName::Backup => "BACKUP",
            StateName::Master => "MASTER",
            StateName::Fault => "FAULT",
        };
        f.write_str(s)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum State {
    Initialize,
    Backup {
        /// Master_Down_Timer as a deadline.
        master_down_at: u64,
    },
    Master {
        /// Adver_Timer as a deadline.
        next_advert_at: u64,
        /// Next gratuitous ARP burst, if any is still scheduled.
        next_garp_at: Option<u64>,
    },
    Fault,
}

/// Why a transition happened: logged, and given to notifications.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Cause {
    Startup,
    /// Priority 255: we own the addresses (§6.4.1).
    AddressOwner,
    /// Master_Down_Timer fired: no advert from a master in time (§6.4.2).
    MasterDown,
    /// The master left with a priority-0 advert and our skew passed (§6.4.2).
    MasterResigned,
    /// A higher priority (or equal priority, higher address) advert (§6.4.3).
    Preempted,
    Shutdown,
    /// The interface lost its carrier or was set down.
    InterfaceDown,
    /// The interface came back (carrier and administratively up).
    InterfaceUp,
    /// The configured interface does not exist (yet).
    NoInterface,
    /// The interface has no usable source address: no primary IPv4 address, or an IPv6
    /// link-local that is absent or still tentative (RFC 5798 §5.1.1.1, §5.1.2.1).
    NoSourceAddress,
    /// The advert socket, the vmac or the receive path could not be set up (retried).
    SetupFailed,
    /// An unweighted tracked script, interface or file failed.
    TrackFailed,
    /// Every cause of the fault has cleared (the log line says which cleared last).
    Recovered,
    /// The operator drained the instance for maintenance (`vrrp-agent drain`).
    Drained,
    /// The operator ended the maintenance (`vrrp-agent undrain`).
    Undrained,
    /// A member of our `vrrp_sync_group` changed state and this one followed.
    SyncGroup,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Input {
    /// The instance starts (§6.4.1 Startup event).
    Startup,
    /// The instance stops (§6.4.2/§6.4.3 Shutdown event).
    Shutdown,
    /// An advert for our VRID that passed the receive checks.
    Advert {
        /// Kernel arrival time, CLOCK_MONOTONIC ns.
        ts_ns: u64,
        src: IpAddr,
        priority: u8,
        interval_cs: u16,
    },
    /// The current master's unchanged advert, absorbed by the receive path (it only
    /// refreshed the path's receive state, docs/kernel-state.md), arrived at `ts_ns`
    /// (kernel time): restart Master_Down from it, as that advert itself would have.
    Heard { ts_ns: u64 },
    /// A deadline passed; `now` is the current time.
    Timer,
    /// The receive path times Master_Down itself (a kernel timer, docs/kernel-state.md)
    /// or stopped doing so. While it does, the Backup's own deadline is only a safety net,
    /// [`KERNEL_TIMED_SLACK_NS`] later.
    KernelTimed(bool),
    /// The kernel's Master_Down timer fired. A hint, checked against the state machine's
    /// own deadline: after a stale one (the master spoke since, and the driver fed that
    /// in as [`Input::Heard`] first) nothing happens.
    MasterDownFired,
    /// The instance cannot run (link down, no interface, no source address, a failed
    /// unweighted check): enter Fault from any state, Initialize included, so an instance
    /// that cannot start reports FAULT instead of waiting silently in INIT.
    Fault(Cause),
    /// Every cause of the fault cleared: leave Fault and start as in §6.4.1. Ignored in
    /// any other state.
    Recovered(Cause),
    /// Tracking changed our effective priority (1..=254; 255 is only ever configured).
    SetPriority(u8),
    /// A member of our `vrrp_sync_group` went to this state on its own; follow it
    /// (keepalived's sync group semantics: the members move together).
    SyncWith(StateName),
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Action {
    /// Send an advert with this priority (0 when resigning).
    SendAdvert { priority: u8 },
    /// Add the virtual addresses.
    AddAddresses,
    /// Remove the virtual addresses.
    RemoveAddresses,
    /// Send this many gratuitous ARPs / unsolicited NAs for every virtual address.
    Announce { count: u32 },
    Transition {
        from: StateName,
        to: StateName,
        cause: Cause,
    },
    /// An immediate advert that the rate limit suppressed (RFC 9568 reply to a lower
    /// priority); counted so a flood is visible.
    ReplySuppressed,
}

/// One virtual router.
#[derive(Clone, Debug)]
pub struct Router {
    params: RouterParams,
    state: State,
    /// Effective priority (configured, adjusted by tracking).
    priority: u8,
    /// Master_Adver_Interval learned from the current master (v3, §6.4.2).
    master_adver_int_cs: u16,
    /// When this Backup first heard the current lower-priority master, for `preempt_delay`
    /// (cleared on leaving Backup and on hearing a master we would not preempt).
    lower_heard_at: Option<u64>,
    /// Earliest time another immediate reply to a lower-priority advert may go out.
    reply_allowed_at: u64,
    /// Arrival time of the newest advert that reset the Master_Down timer.
    last_advert_ts: u64,
    /// The master we last accepted an advert from (Backup) — for status.
    pub current_master: Option<(IpAddr, u8)>,
    /// The receive path reports Master_Down itself ([`Input::KernelTimed`]).
    kernel_timed: bool,
}

impl Router {
    pub fn new(params: RouterParams) -> Router {
        Router {
            priority: params.priority,
            master_adver_int_cs: params.advert_int_cs,
            params,
            state: State::Initialize,
            lower_heard_at: None,
            reply_allowed_at: 0,
            last_advert_ts: 0,
            current_master: None,
            kernel_timed: false,
        }
    }

    pub fn state(&self) -> StateName {
        match self.state {
            State::Initialize => StateName::Initialize,
            State::Backup { .. } => StateName::Backup,
            State::Master { .. } => StateName::Master,
            State::Fault => StateName::Fault,
        }
    }

    pub fn priority(&self) -> u8 {
        self.priority
    }

    pub fn master_adver_int_cs(&self) -> u16 {
        self.master_adver_int_cs
    }

    /// The primary address changed (someone re-addressed the interface): it is our
    /// tie-breaker from now on (§6.4.3) and the source of our adverts.
    pub fn set_primary(&mut self, primary: IpAddr) {
        self.params.primary = primary;
    }

    pub fn primary(&self) -> IpAddr {
        self.params.primary
    }

    /// Whether the kernel's timer stands for this Backup's Master_Down: the path times
    /// it, and we follow a master whose adverts arm it (not after priority 0, when
    /// Skew_Time runs here too, and not before any master was heard).
    fn kernel_watches(&self) -> bool {
        self.kernel_timed && self.current_master.is_some_and(|(_, p)| self.follows(p))
    }

    /// Whether a Backup accepts adverts of this priority as its master's (§6.4.2): not 0,
    /// and not one it preempts.
    fn follows(&self, p: u8) -> bool {
        p != 0 && (p >= self.priority || !self.params.preempt)
    }

    /// Arrival time of the newest advert that restarted Master_Down.
    pub fn last_advert_ts(&self) -> u64 {
        self.last_advert_ts
    }

    /// Preempt_Mode (RFC 5798 §6.1).
    pub fn preempt(&self) -> bool {
        self.params.preempt
    }

    /// The Master_Down deadline while Backup (for status: the timer margin).
    pub fn master_down_at(&self) -> Option<u64> {
        match self.state {
            State::Backup { master_down_at } => Some(master_down_at),
            _ => None,
        }
    }

    /// The earliest deadline the driver must wake up for.
    pub fn next_deadline(&self) -> Option<u64> {
        match &self.state {
            State::Backup { master_down_at } if self.kernel_watches() => {
                Some(master_down_at + KERNEL_TIMED_SLACK_NS)
            }
            State::Backup { master_down_at } => Some(*master_down_at),
            State::Master {
                next_advert_at,
                next_garp_at,
                ..
            } => Some(next_garp_at.map_or(*next_advert_at, |g| g.min(*next_advert_at))),
            State::Initialize | State::Fault => None,
        }
    }

    /// Skew_Time now (RFC 5798 §6.1; RFC 3768 §6.1 for v2), in ns.
    pub fn skew_time_ns(&self) -> u64 {
        self.skew_ns()
    }

    /// Master_Down_Interval now, with the learned Master_Adver_Interval, in ns.
    pub fn master_down_interval_ns(&self) -> u64 {
        self.master_down_ns()
    }

    fn skew_ns(&self) -> u64 {
        match self.params.version {
            Version::V3 => skew_time_ns(self.priority, self.master_adver_int_cs),
            Version::V2 => skew_time_v2_ns(self.priority),
        }
    }

    fn master_down_ns(&self) -> u64 {
        match self.params.version {
            Version::V3 => master_down_interval_ns(self.priority, self.master_adver_int_cs),
            Version::V2 => master_down_interval_v2_ns(
                self.priority,
                (self.params.advert_int_cs / 100).max(1) as u64,
            ),
        }
    }

    fn advert_interval_ns(&self) -> u64 {
        self.params.advert_int_cs as u64 * super::timers::NS_PER_CS
    }

    fn transition(&mut self, to: State, cause: Cause, out: &mut Vec<Action>) {
        let from = self.state();
        self.state = to;
        let to = self.state();
        if to != StateName::Backup {
            self.lower_heard_at = None;
        }
        if from != to {
            out.push(Action::Transition { from, to, cause });
        }
    }

    /// Become Master: advert, addresses, announcements (§6.4.1 / §6.4.2).
    fn become_master(&mut self, now: u64, cause: Cause, out: &mut Vec<Action>) {
        out.push(Action::SendAdvert {
            priority: self.priority,
        });
        out.push(Action::AddAddresses);
        out.push(Action::Announce {
            count: self.params.garp_repeat,
        });
        self.current_master = None;
        let next_garp_at = (self.params.garp_master_delay_ns > 0)
            .then_some(now + self.params.garp_master_delay_ns);
        self.transition(
            State::Master {
                next_advert_at: now + self.advert_interval_ns(),
                next_garp_at,
            },
            cause,
            out,
        );
    }

    /// Become Backup with the Master_Down timer running from `from_ts`.
    fn become_backup(&mut self, from_ts: u64, cause: Cause, out: &mut Vec<Action>) {
        let was_master = matches!(self.state, State::Master { .. });
        if was_master {
            out.push(Action::RemoveAddresses);
        }
        let master_down_at = from_ts + self.master_down_ns();
        self.transition(State::Backup { master_down_at }, cause, out);
    }

    /// Feed one input at time `now` (CLOCK_MONOTONIC ns); returns the actions to carry out,
    /// in order.
    pub fn handle(&mut self, input: Input, now: u64) -> Vec<Action> {
        let mut out = Vec::new();
        match input {
            Input::Startup => self.startup(now, &mut out),
            Input::Shutdown => self.shutdown(&mut out),
            Input::Advert {
                ts_ns,
                src,
                priority,
                interval_cs,
            } => self.advert(now, ts_ns, src, priority, interval_cs, &mut out),
            Input::Heard { ts_ns } => self.heard(ts_ns),
            Input::Timer => self.timer(now, &mut out),
            Input::KernelTimed(on) => self.kernel_timed = on,
            Input::MasterDownFired => self.master_down_fired(now, &mut out),
            Input::Fault(cause) => self.fault(cause, &mut out),
            Input::Recovered(cause) => {
                if self.state == State::Fault {
                    self.restart_from_fault(now, cause, &mut out);
                }
            }
            Input::SyncWith(to) => self.follow_group(to, now, &mut out),
            Input::SetPriority(p) => {
                if self.params.priority != 255 {
                    self.priority = p.clamp(1, 254);
                }
            }
        }
        out
    }

    /// Follow a sync-group member. Only real moves are followed: a member entering Master
    /// pulls a Backup up; a Master yielding pulls the others down; a fault holds every
    /// member in Fault until the faulty one recovers, which the driver signals as
    /// `SyncWith(Initialize)`.
    fn follow_group(&mut self, to: StateName, now: u64, out: &mut Vec<Action>) {
        match (to, self.state()) {
            (StateName::Master, StateName::Backup) => {
                self.become_master(now, Cause::SyncGroup, out)
            }
            (StateName::Backup, StateName::Master) => {
                self.become_backup(now, Cause::SyncGroup, out)
            }
            (StateName::Fault, StateName::Master | StateName::Backup) => {
                // Our own link is fine: a priority-0 advert hands over at once.
                self.fault(Cause::SyncGroup, out)
            }
            // The faulty member recovered: start over like after a recovery of our own.
            (StateName::Initialize, StateName::Fault) => {
                self.restart_from_fault(now, Cause::SyncGroup, out)
            }
            _ => {}
        }
    }

    /// Enter Fault from any state; a Master first resigns (priority 0, §6.4.3 "Shutdown"
    /// applied to a fault: the send fails harmlessly if the link is really gone) and
    /// releases its addresses.
    fn fault(&mut self, cause: Cause, out: &mut Vec<Action>) {
        if matches!(self.state, State::Master { .. }) {
            out.push(Action::SendAdvert { priority: 0 });
            out.push(Action::RemoveAddresses);
        }
        self.transition(State::Fault, cause, out);
    }

    /// Leave Fault through Initialize (§6.4.1), reporting one transition: Fault →
    /// wherever start-up led.
    fn restart_from_fault(&mut self, now: u64, cause: Cause, out: &mut Vec<Action>) {
        self.state = State::Initialize;
        let mut inner = Vec::new();
        self.startup(now, &mut inner);
        for a in inner {
            match a {
                Action::Transition { to, .. } => out.push(Action::Transition {
                    from: StateName::Fault,
                    to,
                    cause,
                }),
                other => out.push(other),
            }
        }
    }

    /// §6.4.1: owner → Master at once; otherwise Backup with Master_Down running.
    fn startup(&mut self, now: u64, out: &mut Vec<Action>) {
        if self.state != State::Initialize {
            return;
        }
        self.master_adver_int_cs = self.params.advert_int_cs;
        if self.priority == 255 {
            self.become_master(now, Cause::AddressOwner, out);
        } else {
            self.become_backup(now, Cause::Startup, out);
        }
    }

    /// §6.4.2 / §6.4.3 Shutdown: a Master resigns with priority 0.
    fn shutdown(&mut self, out: &mut Vec<Action>) {
        if matches!(self.state, State::Master { .. }) {
            out.push(Action::SendAdvert { priority: 0 });
            out.push(Action::RemoveAddresses);
        }
        self.transition(State::Initialize, Cause::Shutdown, out);
    }

    /// The kernel says Master_Down expired: act only if our own deadline agrees.
    fn master_down_fired(&mut self, now: u64, out: &mut Vec<Action>) {
        if let State::Backup { master_down_at } = self.state {
            if now >= master_down_at {
                self.master_down(now, out);
            }
        }
    }

    /// §6.4.2: Master_Down_Timer fired.
    fn master_down(&mut self, now: u64, out: &mut Vec<Action>) {
        let cause = if self.current_master.is_some_and(|(_, p)| p == 0) {
            Cause::MasterResigned
        } else {
            Cause::MasterDown
        };
        self.become_master(now, cause, out);
    }

    fn timer(&mut self, now: u64, out: &mut Vec<Action>) {
        match self.state {
            State::Backup { master_down_at } if now >= master_down_at => self.master_down(now, out),
            State::Master { .. } => {
                let interval = self.advert_interval_ns();
                let priority = self.priority;
                let repeat = self.params.garp_repeat;
                let refresh = self.params.garp_refresh_ns;
                if let State::Master {
                    next_advert_at,
                    next_garp_at,
                } = &mut self.state
                {
                    if now >= *next_advert_at {
                        // §6.4.3: Adver_Timer fired. The next one is due one interval after
                        // this one was due, so a late wake-up does not stretch every later
                        // period; after a stall longer than an interval, one interval from
                        // now (no catch-up burst).
                        out.push(Action::SendAdvert { priority });
                        let due = *next_advert_at + interval;
                        *next_advert_at = if due > now { due } else { now + interval };
                    }
                    if next_garp_at.is_some_and(|g| now >= g) {
                        // keepalived's garp_master_delay second burst, then the refresh.
                        out.push(Action::Announce { count: repeat });
                        *next_garp_at = refresh.map(|r| now + r);
                    }
                }
            }
            _ => {}
        }
    }

    /// §6.4.2 for an advert the receive path absorbed: only a Backup following a master
    /// it would accept adverts from (priority not 0; one we would not preempt) restarts
    /// Master_Down, and only from an arrival newer than the newest it knows. Anything
    /// else keeps the deadline, so an absorbed advert can never stop a takeover the state
    /// machine would make (priority 0, preemption).
    fn heard(&mut self, ts: u64) {
        let State::Backup { .. } = self.state else {
            return;
        };
        let Some((_, p)) = self.current_master else {
            return;
        };
        if self.follows(p) && ts > self.last_advert_ts {
            self.last_advert_ts = ts;
            self.state = State::Backup {
                master_down_at: ts + self.master_down_ns(),
            };
        }
    }

    fn advert(
        &mut self,
        now: u64,
        ts: u64,
        src: IpAddr,
        priority: u8,
        interval_cs: u16,
        out: &mut Vec<Action>,
    ) {
        match self.state {
            State::Backup { .. } => {
                if priority == 0 {
                    // §6.4.2: the master resigned; take over after Skew_Time.
                    self.current_master = Some((src, 0));
                    self.last_advert_ts = self.last_advert_ts.max(ts);
                    self.state = State::Backup {
                        master_down_at: ts + self.skew_ns(),
                    };
                    return;
                }
                let lower = priority < self.priority;
                let preempt_allowed = self.params.preempt && lower && self.preempt_delay_over(ts);
                if !preempt_allowed {
                    // §6.4.2: learn the master's interval (v3) and restart the timer from
                    // the advert's arrival time.
                    if self.params.version == Version::V3 && interval_cs > 0 {
                        self.master_adver_int_cs = self.sane_learned_interval(interval_cs);
                    }
                    self.current_master = Some((src, priority));
                    if !lower {
                        // A master we would never preempt: the delay starts over the next
                        // time a lower priority is heard.
                        self.lower_heard_at = None;
                    }
                    // Adverts may be read out of order across CPUs: an older one than the
                    // newest seen says nothing new about when the master was last alive.
                    if ts >= self.last_advert_ts {
                        self.last_advert_ts = ts;
                        self.state = State::Backup {
                            master_down_at: ts + self.master_down_ns(),
                        };
                    }
                }
                // Otherwise: a lower priority master and we may preempt — ignore it and
                // let Master_Down fire (§6.4.2 "Discard the ADVERTISEMENT").
            }
            State::Master { .. } => {
                if priority == 0 {
                    // §6.4.3: another router resigned; send an advert now so backups
                    // hear a master without waiting. Rate-limited like every reply a
                    // received packet can trigger: a flood of forged priority-0 adverts
                    // must not make us send one advert per packet (DESIGN.md bet 3).
                    if now >= self.reply_allowed_at {
                        self.reply_allowed_at = now + self.advert_interval_ns();
                        out.push(Action::SendAdvert {
                            priority: self.priority,
                        });
                        let next = now + self.advert_interval_ns();
                        if let State::Master { next_advert_at, .. } = &mut self.state {
                            *next_advert_at = next;
                        }
                    } else {
                        out.push(Action::ReplySuppressed);
                    }
                    return;
                }
                let theirs_wins = priority > self.priority
                    || (priority == self.priority && addr_greater(src, self.params.primary));
                if theirs_wins {
                    // §6.4.3: yield to the higher priority (or higher address) master.
                    if self.params.version == Version::V3 && interval_cs > 0 {
                        self.master_adver_int_cs = self.sane_learned_interval(interval_cs);
                    }
                    self.current_master = Some((src, priority));
                    self.become_backup(ts, Cause::Preempted, out);
                } else if self.params.no_reply_to_lower {
                    // Strict RFC 5798 §6.4.3: discard it.
                } else {
                    // RFC 9568 §6.4.3: answer a lower priority master at once so a split
                    // heals fast — at most once per advert interval, so forged adverts
                    // cannot turn us into an amplifier (DESIGN.md bet 3).
                    if now >= self.reply_allowed_at {
                        self.reply_allowed_at = now + self.advert_interval_ns();
                        out.push(Action::SendAdvert {
                            priority: self.priority,
                        });
                        // Another router believed it was master, so clients may have
                        // followed its announcements: point their caches back at us.
                        out.push(Action::Announce { count: 1 });
                    } else {
                        out.push(Action::ReplySuppressed);
                    }
                }
            }
            State::Initialize | State::Fault => {}
        }
    }

    /// The Master_Adver_Interval a v3 Backup learns (§6.4.2), kept between our own
    /// interval / [`LEARNED_INTERVAL_FASTER`] and x [`LEARNED_INTERVAL_SLOWER`]. One
    /// advert is enough to set it, and in unicast mode (no TTL check) that advert may come
    /// from anywhere: a forged 4095 cs would stretch Master_Down to two minutes (the
    /// backup would sit out a real failure), a forged 1 cs would make it take over from a
    /// healthy master in 30 ms. A real peer within the bounds is learned exactly; one
    /// beyond them still works: a faster master only makes us wait longer, and a slower
    /// one is heard in time up to 3 x 3 = 9 times our interval (Master_Down is three
    /// learned intervals).
    fn sane_learned_interval(&self, interval_cs: u16) -> u16 {
        let ours = self.params.advert_int_cs.max(1);
        let low = (ours / LEARNED_INTERVAL_FASTER).max(1);
        let high = ours.saturating_mul(LEARNED_INTERVAL_SLOWER).min(4095);
        interval_cs.clamp(low, high)
    }

    /// keepalived's `preempt_delay`, counted from the first lower-priority advert this
    /// Backup heard (arrival time `ts`), not from start-up: a router whose health check
    /// just recovered waits the delay out before it takes the role back.
    fn preempt_delay_over(&mut self, ts: u64) -> bool {
        if self.params.preempt_delay_ns == 0 {
            return true;
        }
        let since = *self.lower_heard_at.get_or_insert(ts);
        ts >= since + self.params.preempt_delay_ns
    }
}

/// Compare primary addresses as unsigned integers in network order (§6.4.3).
fn addr_greater(a: IpAddr, b: IpAddr) -> bool {
    match (a, b) {
        (IpAddr::V4(a), IpAddr::V4(b)) => u32::from(a) > u32::from(b),
        (IpAddr::V6(a), IpAddr::V6(b)) => u128::from(a) > u128::from(b),
        _ => false,
    }
}

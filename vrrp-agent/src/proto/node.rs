//! The protocol core of a whole node: every virtual router of the daemon, their health,
//! their sync groups, and split-brain bookkeeping, as one pure function of
//! (input, now) → outputs, with one [`Node::next_deadline`] for the driver to sleep until.
//!
//! [`Router`] is one RFC 5798 state machine. What lies above it is protocol logic too and
//! lives here, not in the async driver: a member of a `vrrp_sync_group` follows the others'
//! moves; an instance that cannot run goes to FAULT and starts when the cause clears
//! ([`health::reconcile`]); a master that sees another master counts it, reports it at a
//! rate limit and re-announces its addresses every second for a minute, so clients that
//! followed the other side come back even if it steps down without a word.
//!
//! Inputs and the node's spec serialize, so a running daemon can record what it was fed
//! (`vrrp-agent run --record FILE`) and a field incident replays here as a test
//! (tests/golden_node/).

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::health::{self, Health};
use super::router::{Action, Cause, Input, Router, RouterParams, StateName};

/// After the latest sign of split brain, a master re-announces its addresses this often...
pub const REANNOUNCE_EVERY_NS: u64 = 1_000_000_000;
/// ...for this long.
pub const REANNOUNCE_FOR_NS: u64 = 60_000_000_000;
/// Split brain is reported at most this often per instance (the count carries the volume).
pub const SPLIT_REPORT_NS: u64 = 5_000_000_000;

/// One instance as the node core knows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceSpec {
    pub name: String,
    pub router: RouterParams,
}

/// Everything the node starts from.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeSpec {
    pub instances: Vec<InstanceSpec>,
    /// Sync groups, by instance name.
    #[serde(default)]
    pub groups: Vec<Vec<String>>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum NodeInput {
    /// An advert for `instance` that passed the receive checks (kernel arrival time).
    Advert {
        instance: usize,
        ts_ns: u64,
        src: IpAddr,
        priority: u8,
        interval_cs: u16,
    },
    /// The receive path absorbed the current master's unchanged advert for `instance`,
    /// the newest arriving at `ts_ns` (docs/kernel-state.md).
    Heard { instance: usize, ts_ns: u64 },
    /// `instance`'s receive path times Master_Down in the kernel, or stopped doing so.
    KernelTimed { instance: usize, on: bool },
    /// The kernel's Master_Down timer of `instance` fired (checked against its own).
    MasterDown { instance: usize },
    /// Another station's ARP names one of `instance`'s addresses.
    ForeignArp { instance: usize, seen: String },
    /// A deadline passed (the driver read every advert already queued first).
    Timer,
    /// What the driver now knows of `instance`'s interface, address, set-up, tracking and
    /// drain.
    Health { instance: usize, health: Health },
    /// The effective priority (tracking, soft drain).
    Priority { instance: usize, priority: u8 },
    /// The interface was re-addressed: our tie-breaker and advert source.
    Primary { instance: usize, addr: IpAddr },
    /// Stop `instance` for good (shutdown, or a reload removing or restarting it).
    Stop { instance: usize },
    /// Drop a stopped instance; the ones after it move down by one.
    Remove { instance: usize },
    /// A new instance, appended (start-up, reload).
    Add { spec: InstanceSpec },
    /// The sync groups changed (reload).
    Groups { groups: Vec<Vec<String>> },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[must_use]
pub enum NodeOutput {
    /// Carry out `action` for `instance` (send, addresses, announce, a transition to log
    /// and notify, a suppressed reply to count).
    Act { instance: usize, action: Action },
    /// `instance` is Master and saw another master; reported at most every
    /// [`SPLIT_REPORT_NS`] per instance (every sighting is counted in
    /// [`Node::split_brain_seen`]).
    SplitBrain { instance: usize, seen: String },
    /// A member of a sync group moved on its own: the group's notifications run.
    GroupMoved { instance: usize, to: StateName },
}

#[derive(Clone, Debug, Default)]
struct Split {
    /// Re-announce until then...
    until: u64,
    /// ...next at this time.
    next_at: Option<u64>,
    reported_at: Option<u64>,
}

#[derive(Clone, Debug)]
struct Member {
    name: String,
    router: Router,
    /// `None` until the driver first reports it: an instance nobody has looked at yet
    /// neither starts nor holds its sync group in FAULT.
    health: Option<Health>,
    stopped: bool,
    /// Why it is in Fault, while it is.
    fault_cause: Option<Cause>,
    split: Split,
}

/// The node: see the module documentation.
#[derive(Clone, Debug, Default)]
pub struct Node {
    members: Vec<Member>,
    groups: Vec<Vec<String>>,
    /// Other members of each instance's sync group, by index.
    peers: Vec<Vec<usize>>,
    split_brain: u64,
}

impl Node {
    pub fn new(spec: NodeSpec) -> Node {
        let mut n = Node {
            groups: spec.groups,
            ..Node::default()
        };
        for s in spec.instances {
            n.push(s);
        }
        n.reindex();
        n
    }

    fn push(&mut self, s: InstanceSpec) {
        self.members.push(Member {
            name: s.name,
            router: Router::new(s.router),
            health: None,
            stopped: false,
            fault_cause: None,
            split: Split::default(),
        });
    }

    fn reindex(&mut self) {
        let index = |name: &str| self.members.iter().position(|m| m.name == name);
        let mut peers = vec![Vec::new(); self.members.len()];
        for g in &self.groups {
            let idx: Vec<usize> = g.iter().filter_map(|m| index(m)).collect();
            for &m in &idx {
                peers[m] = idx.iter().copied().filter(|&o| o != m).collect();
            }
        }
        self.peers = peers;
    }

    pub fn len(&self) -> usize {
        self.members.len()
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    pub fn router(&self, i: usize) -> &Router {
        &self.members[i].router
    }

    /// The health last reported for instance `i`.
    pub fn health(&self, i: usize) -> Option<&Health> {
        self.members[i].health.as_ref()
    }

    /// Every sighting of another master while we were Master, since start.
    pub fn split_brain_seen(&self) -> u64 {
        self.split_brain
    }

    /// The earliest deadline the driver must wake up for.
    pub fn next_deadline(&self) -> Option<u64> {
        self.members
            .iter()
            .flat_map(|m| {
                let reannounce = m
                    .split
                    .next_at
                    .filter(|_| m.router.state() == StateName::Master);
                [m.router.next_deadline(), reannounce]
            })
            .flatten()
            .min()
    }

    /// Feed one input at time `now` (CLOCK_MONOTONIC ns); returns what to carry out, in
    /// order.
    pub fn handle(&mut self, input: NodeInput, now: u64) -> Vec<NodeOutput> {
        let mut out = Vec::new();
        match input {
            NodeInput::Advert {
                instance,
                ts_ns,
                src,
                priority,
                interval_cs,
            } => {
                let was_master = self.members[instance].router.state() == StateName::Master;
                let advert = Input::Advert {
                    ts_ns,
                    src,
                    priority,
                    interval_cs,
                };
                self.step(instance, advert, now, &mut out);
                // Another router claiming Master while we stay Master: split brain (RFC
                // 9568's immediate reply, which the router sent, heals it).
                let still = self.members[instance].router.state() == StateName::Master;
                if was_master && still && priority > 0 {
                    let seen = format!("advert from {src} priority {priority}");
                    self.split_seen(instance, seen, now, &mut out);
                }
            }
            NodeInput::Heard { instance, ts_ns } => {
                self.step(instance, Input::Heard { ts_ns }, now, &mut out)
            }
            NodeInput::KernelTimed { instance, on } => {
                self.step(instance, Input::KernelTimed(on), now, &mut out)
            }
            NodeInput::MasterDown { instance } => {
                self.step(instance, Input::MasterDownFired, now, &mut out)
            }
            NodeInput::ForeignArp { instance, seen } => {
                if self.members[instance].router.state() == StateName::Master
                    && self.split_seen(instance, seen, now, &mut out)
                {
                    // Point the caches back at us; rate-limited with the report.
                    out.push(NodeOutput::Act {
                        instance,
                        action: Action::Announce { count: 1 },
                    });
                }
            }
            NodeInput::Timer => self.timer(now, &mut out),
            NodeInput::Health { instance, health } => {
                let was_faulty = self.members[instance]
                    .health
                    .is_some_and(|h| h.fault().is_some());
                self.members[instance].health = Some(health);
                self.reconcile(instance, now, &mut out);
                // Its group is held (or released) by its own fault, whatever its state.
                if was_faulty != health.fault().is_some() {
                    for j in self.peers[instance].clone() {
                        self.reconcile(j, now, &mut out);
                    }
                }
            }
            NodeInput::Priority { instance, priority } => {
                let actions = self.members[instance]
                    .router
                    .handle(Input::SetPriority(priority), now);
                self.emit(instance, actions, &mut out);
            }
            NodeInput::Primary { instance, addr } => {
                self.members[instance].router.set_primary(addr);
            }
            NodeInput::Stop { instance } => {
                let m = &mut self.members[instance];
                if !m.stopped {
                    m.stopped = true;
                    let actions = m.router.handle(Input::Shutdown, now);
                    self.emit(instance, actions, &mut out);
                    // Its group is no longer held by it.
                    for j in self.peers[instance].clone() {
                        self.reconcile(j, now, &mut out);
                    }
                }
            }
            NodeInput::Remove { instance } => {
                self.members.remove(instance);
                self.reindex();
            }
            NodeInput::Add { spec } => {
                self.push(spec);
                self.reindex();
            }
            NodeInput::Groups { groups } => {
                self.groups = groups;
                self.reindex();
            }
        }
        out
    }

    /// Expired router deadlines, then due re-announcements.
    fn timer(&mut self, now: u64, out: &mut Vec<NodeOutput>) {
        for i in 0..self.members.len() {
            if self.members[i]
                .router
                .next_deadline()
                .is_some_and(|d| d <= now)
            {
                self.step(i, Input::Timer, now, out);
            }
            let m = &mut self.members[i];
            if m.split.next_at.is_none_or(|at| at > now) {
                continue;
            }
            if m.router.state() == StateName::Master && now < m.split.until {
                m.split.next_at = Some(now + REANNOUNCE_EVERY_NS);
                out.push(NodeOutput::Act {
                    instance: i,
                    action: Action::Announce { count: 1 },
                });
            } else {
                m.split.next_at = None;
            }
        }
    }

    /// Count a sighting of another master; report it unless one was reported recently.
    fn split_seen(&mut self, i: usize, seen: String, now: u64, out: &mut Vec<NodeOutput>) -> bool {
        self.split_brain += 1;
        let s = &mut self.members[i].split;
        s.until = now + REANNOUNCE_FOR_NS;
        s.next_at.get_or_insert(now + REANNOUNCE_EVERY_NS);
        if s.reported_at.is_some_and(|t| now < t + SPLIT_REPORT_NS) {
            return false;
        }
        s.reported_at = Some(now);
        out.push(NodeOutput::SplitBrain { instance: i, seen });
        true
    }

    /// Record the router's actions as outputs, keeping track of why it is in Fault.
    fn emit(&mut self, i: usize, actions: Vec<Action>, out: &mut Vec<NodeOutput>) {
        for action in actions {
            if let Action::Transition { to, cause, .. } = action {
                self.members[i].fault_cause = (to == StateName::Fault).then_some(cause);
            }
            out.push(NodeOutput::Act {
                instance: i,
                action,
            });
        }
    }

    /// Feed `input` to instance `i`; the other members of its sync group follow its own
    /// moves (never moves they made by following). Faults and recoveries go through each
    /// member's own health, so a member whose own check still fails stays in FAULT when
    /// the rest of its group recovers.
    fn step(&mut self, i: usize, input: Input, now: u64, out: &mut Vec<NodeOutput>) {
        let actions = self.members[i].router.handle(input, now);
        let moves: Vec<(StateName, StateName, Cause)> = actions
            .iter()
            .filter_map(|a| match a {
                Action::Transition { from, to, cause } => Some((*from, *to, *cause)),
                _ => None,
            })
            .collect();
        self.emit(i, actions, out);
        for (from, to, cause) in moves {
            if matches!(cause, Cause::SyncGroup | Cause::Shutdown) {
                continue;
            }
            let peers = self.peers[i].clone();
            if peers.is_empty() {
                continue;
            }
            if from == StateName::Fault || to == StateName::Fault {
                for j in peers {
                    self.reconcile(j, now, out);
                }
            } else {
                for j in peers {
                    if self.members[j].stopped {
                        continue;
                    }
                    let actions = self.members[j].router.handle(Input::SyncWith(to), now);
                    self.emit(j, actions, out);
                }
            }
            out.push(NodeOutput::GroupMoved {
                instance: i,
                to: self.members[i].router.state(),
            });
        }
    }

    /// Tell instance `i` what its health now means (see [`health::reconcile`]).
    fn reconcile(&mut self, i: usize, now: u64, out: &mut Vec<NodeOutput>) {
        let group_faulted = self.peers[i].iter().any(|&j| {
            let m = &self.members[j];
            !m.stopped && m.health.is_some_and(|h| h.fault().is_some())
        });
        let m = &self.members[i];
        let Some(own) = &m.health else {
            return;
        };
        if let Some(input) = health::reconcile(
            m.router.state(),
            own,
            group_faulted,
            m.stopped,
            m.fault_cause,
        ) {
            self.step(i, input, now, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::model::Version;
    use crate::proto::health::{LinkHealth, TrackHealth};

    const MS: u64 = 1_000_000;

    fn spec(name: &str, priority: u8) -> InstanceSpec {
        InstanceSpec {
            name: name.into(),
            router: RouterParams {
                version: Version::V3,
                priority,
                advert_int_cs: 10,
                preempt: true,
                preempt_delay_ns: 0,
                primary: "10.9.0.2".parse().unwrap(),
                garp_repeat: 1,
                garp_master_delay_ns: 0,
                garp_refresh_ns: None,
                no_reply_to_lower: false,
            },
        }
    }

    fn up() -> Health {
        Health::all_clear()
    }

    fn transitions(out: &[NodeOutput]) -> Vec<(usize, StateName, Cause)> {
        out.iter()
            .filter_map(|o| match o {
                NodeOutput::Act {
                    instance,
                    action: Action::Transition { to, cause, .. },
                } => Some((*instance, *to, *cause)),
                _ => None,
            })
            .collect()
    }

    fn master_of_two_in_a_group() -> Node {
        let mut n = Node::new(NodeSpec {
            instances: vec![spec("A", 150), spec("B", 150)],
            groups: vec![vec!["A".into(), "B".into()]],
        });
        for i in 0..2 {
            let _ = n.handle(
                NodeInput::Health {
                    instance: i,
                    health: up(),
                },
                0,
            );
        }
        let _ = n.handle(NodeInput::Timer, 400 * MS);
        assert_eq!(n.router(0).state(), StateName::Master);
        assert_eq!(n.router(1).state(), StateName::Master);
        n
    }

    #[test]
    fn a_faulty_member_takes_its_group_to_fault_and_both_return_when_it_recovers() {
        let mut n = master_of_two_in_a_group();
        let failed = Health {
            track: TrackHealth::Failed,
            ..up()
        };
        let out = n.handle(
            NodeInput::Health {
                instance: 0,
                health: failed,
            },
            200 * MS,
        );
        assert_eq!(
            transitions(&out),
            vec![
                (0, StateName::Fault, Cause::TrackFailed),
                (1, StateName::Fault, Cause::SyncGroup)
            ]
        );
        let out = n.handle(
            NodeInput::Health {
                instance: 0,
                health: up(),
            },
            300 * MS,
        );
        assert_eq!(
            transitions(&out),
            vec![
                (0, StateName::Backup, Cause::Recovered),
                (1, StateName::Backup, Cause::SyncGroup)
            ]
        );
    }

    #[test]
    fn a_master_seeing_another_master_reports_at_a_rate_limit_and_reannounces_each_second() {
        let mut n = Node::new(NodeSpec {
            instances: vec![spec("A", 150)],
            groups: vec![],
        });
        let _ = n.handle(
            NodeInput::Health {
                instance: 0,
                health: up(),
            },
            0,
        );
        let _ = n.handle(NodeInput::Timer, 400 * MS);
        let advert = |ts| NodeInput::Advert {
            instance: 0,
            ts_ns: ts,
            src: "10.9.0.1".parse().unwrap(),
            priority: 100,
            interval_cs: 10,
        };
        let out = n.handle(advert(200 * MS), 200 * MS);
        assert!(out
            .iter()
            .any(|o| matches!(o, NodeOutput::SplitBrain { .. })));
        let out = n.handle(advert(300 * MS), 300 * MS);
        assert!(!out
            .iter()
            .any(|o| matches!(o, NodeOutput::SplitBrain { .. })));
        assert_eq!(n.split_brain_seen(), 2);
        // A re-announcement is due one second after the first sighting.
        let due = 1_500 * MS;
        assert!(n.next_deadline().is_some_and(|d| d <= due));
        let out = n.handle(NodeInput::Timer, due);
        assert!(out.contains(&NodeOutput::Act {
            instance: 0,
            action: Action::Announce { count: 1 }
        }));
    }

    #[test]
    fn a_stopped_member_no_longer_holds_its_group() {
        let mut n = master_of_two_in_a_group();
        let failed = Health {
            link: LinkHealth::Down,
            ..up()
        };
        let _ = n.handle(
            NodeInput::Health {
                instance: 0,
                health: failed,
            },
            200 * MS,
        );
        assert_eq!(n.router(1).state(), StateName::Fault);
        let out = n.handle(NodeInput::Stop { instance: 0 }, 600 * MS);
        assert!(transitions(&out).contains(&(1, StateName::Backup, Cause::SyncGroup)));
    }
}

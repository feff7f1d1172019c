//! Whether an instance can run, and what its state machine must be told when that
//! changes. Pure: the driver gathers the facts (link, source address, set-up, tracking,
//! drain) and the node core ([`super::node`]) feeds the router whatever [`reconcile`]
//! returns.
//!
//! keepalived's behaviour, which users rely on: an instance that cannot run starts in (or
//! goes to) FAULT, with the FAULT notification, and starts per RFC 5798 §6.4.1 when the
//! cause clears; the other instances are unaffected. An unweighted check that has not
//! reported yet keeps its instance in INIT.

use serde::{Deserialize, Serialize};

use super::router::{Cause, Input, StateName};

/// The configured interface as the kernel reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LinkHealth {
    /// No interface of that name (yet).
    Missing,
    /// Present, but administratively down or without carrier.
    Down,
    Up,
}

/// What tracking says about the instance's unweighted checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TrackHealth {
    /// An unweighted check has not reported yet.
    Pending,
    Failed,
    Ok,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// Held out of service by the operator (`vrrp-agent drain`).
    pub drained: bool,
    pub link: LinkHealth,
    /// A usable advert source exists (primary IPv4 address / non-tentative link-local).
    pub source: bool,
    /// The advert socket (and vmac, receive path) could be set up.
    pub setup: bool,
    pub track: TrackHealth,
}

impl Default for Health {
    /// Nothing known yet: the driver resolves the interface before anything runs.
    fn default() -> Health {
        Health {
            link: LinkHealth::Missing,
            source: false,
            setup: false,
            ..Health::all_clear()
        }
    }
}

impl Health {
    /// Everything in order: the instance can run.
    pub fn all_clear() -> Health {
        Health {
            drained: false,
            link: LinkHealth::Up,
            source: true,
            setup: true,
            track: TrackHealth::Ok,
        }
    }

    /// The instance's own reason not to run, most basic first; `None` when it can run
    /// (or is only waiting for a first tracking result).
    pub fn fault(&self) -> Option<Cause> {
        if self.drained {
            return Some(Cause::Drained);
        }
        match self.link {
            LinkHealth::Missing => return Some(Cause::NoInterface),
            LinkHealth::Down => return Some(Cause::InterfaceDown),
            LinkHealth::Up => {}
        }
        if !self.source {
            return Some(Cause::NoSourceAddress);
        }
        if !self.setup {
            return Some(Cause::SetupFailed);
        }
        (self.track == TrackHealth::Failed).then_some(Cause::TrackFailed)
    }

    pub fn pending(&self) -> bool {
        self.fault().is_none() && self.track == TrackHealth::Pending
    }
}

/// What the router must be fed now, given its state, its own health, whether another
/// member of its sync group is faulty on its own account, and the cause of the fault it is
/// in (to name the right cause when it leaves it). `None`: nothing to do.
pub fn reconcile(
    state: StateName,
    health: &Health,
    group_faulted: bool,
    stopped: bool,
    fault_cause: Option<Cause>,
) -> Option<Input> {
    if stopped {
        return None;
    }
    if let Some(cause) = health.fault() {
        // A member already held in Fault by its group now has a reason of its own: say so.
        let held_by_group = fault_cause == Some(Cause::SyncGroup);
        return (state != StateName::Fault || (held_by_group && cause != Cause::SyncGroup))
            .then_some(Input::Fault(cause));
    }
    if health.pending() {
        // keepalived keeps such an instance in INIT; one that already runs goes on.
        return None;
    }
    if group_faulted {
        // keepalived: the whole group stays in FAULT while any member is faulty.
        return (state != StateName::Fault).then_some(Input::Fault(Cause::SyncGroup));
    }
    match state {
        StateName::Fault => Some(Input::Recovered(match fault_cause {
            Some(Cause::InterfaceDown) => Cause::InterfaceUp,
            Some(Cause::Drained) => Cause::Undrained,
            Some(Cause::SyncGroup) => Cause::SyncGroup,
            _ => Cause::Recovered,
        })),
        StateName::Initialize => Some(Input::Startup),
        StateName::Backup | StateName::Master => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn healthy() -> Health {
        Health::all_clear()
    }

    fn tracking(track: TrackHealth) -> Health {
        Health { track, ..healthy() }
    }

    /// The facts `reconcile` is given, healthy, alone (no sync group) and running unless
    /// a test says otherwise.
    struct Given {
        state: StateName,
        health: Health,
        group_faulted: bool,
        stopped: bool,
        fault_cause: Option<Cause>,
    }

    fn given(state: StateName) -> Given {
        Given {
            state,
            health: healthy(),
            group_faulted: false,
            stopped: false,
            fault_cause: None,
        }
    }

    /// An instance in Fault for `cause`.
    fn in_fault(cause: Cause) -> Given {
        Given {
            fault_cause: Some(cause),
            ..given(StateName::Fault)
        }
    }

    impl Given {
        fn with(self, health: Health) -> Given {
            Given { health, ..self }
        }
        fn in_a_faulty_group(self) -> Given {
            Given {
                group_faulted: true,
                ..self
            }
        }
        fn stopped(self) -> Given {
            Given {
                stopped: true,
                ..self
            }
        }
        fn reconcile(&self) -> Option<Input> {
            reconcile(
                self.state,
                &self.health,
                self.group_faulted,
                self.stopped,
                self.fault_cause,
            )
        }
    }

    #[test]
    fn an_instance_without_carrier_at_start_goes_to_fault_not_init() {
        let down = Health {
            link: LinkHealth::Down,
            ..healthy()
        };
        assert_eq!(
            given(StateName::Initialize).with(down).reconcile(),
            Some(Input::Fault(Cause::InterfaceDown))
        );
    }

    #[test]
    fn carrier_back_restarts_with_interface_up_as_the_cause() {
        assert_eq!(
            in_fault(Cause::InterfaceDown).reconcile(),
            Some(Input::Recovered(Cause::InterfaceUp))
        );
    }

    #[test]
    fn the_most_basic_cause_is_reported_first() {
        let h = Health {
            drained: false,
            link: LinkHealth::Missing,
            source: false,
            setup: false,
            track: TrackHealth::Failed,
        };
        assert_eq!(h.fault(), Some(Cause::NoInterface));
        let h = Health { drained: true, ..h };
        assert_eq!(h.fault(), Some(Cause::Drained), "the operator's word first");
        let h = Health {
            source: false,
            ..tracking(TrackHealth::Failed)
        };
        assert_eq!(h.fault(), Some(Cause::NoSourceAddress));
        assert_eq!(
            tracking(TrackHealth::Failed).fault(),
            Some(Cause::TrackFailed)
        );
    }

    #[test]
    fn a_pending_check_keeps_init_and_leaves_a_running_instance_alone() {
        let pending = tracking(TrackHealth::Pending);
        assert_eq!(given(StateName::Initialize).with(pending).reconcile(), None);
        assert_eq!(given(StateName::Master).with(pending).reconcile(), None);
    }

    #[test]
    fn a_failed_first_check_puts_init_in_fault_and_a_pass_starts_it() {
        let failed = tracking(TrackHealth::Failed);
        assert_eq!(
            given(StateName::Initialize).with(failed).reconcile(),
            Some(Input::Fault(Cause::TrackFailed))
        );
        assert_eq!(
            in_fault(Cause::TrackFailed).reconcile(),
            Some(Input::Recovered(Cause::Recovered))
        );
    }

    #[test]
    fn a_healthy_member_stays_in_fault_while_another_member_is_faulty() {
        assert_eq!(
            in_fault(Cause::SyncGroup).in_a_faulty_group().reconcile(),
            None
        );
        assert_eq!(
            given(StateName::Master).in_a_faulty_group().reconcile(),
            Some(Input::Fault(Cause::SyncGroup))
        );
    }

    #[test]
    fn a_member_whose_own_check_still_fails_is_not_restarted_by_its_group() {
        // Its group recovered (not faulty any more), but its own check fails.
        assert_eq!(
            in_fault(Cause::TrackFailed)
                .with(tracking(TrackHealth::Failed))
                .reconcile(),
            None
        );
    }

    #[test]
    fn a_stopped_instance_is_never_started_again() {
        assert_eq!(given(StateName::Initialize).stopped().reconcile(), None);
    }

    #[test]
    fn an_idle_instance_starts() {
        assert_eq!(
            given(StateName::Initialize).reconcile(),
            Some(Input::Startup)
        );
        assert_eq!(given(StateName::Backup).reconcile(), None);
    }
}

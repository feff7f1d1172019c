//! Where a takeover's time goes: how long after the decision (the Master_Down deadline
//! handled, a priority-0 advert heard, SIGTERM) each step was done. One debug line per
//! change into or out of Master, so a slow step shows in the field:
//!
//! `takeover timings vrid=7 late_us=60 advert_us=41 vip_us=390 garp_us=433 policy_us=-1`
//!
//! `late_us` is how long after the deadline (Master_Down_Timer, RFC 5798 §6.4.2) the
//! decision came (the wake-up and the drain of the receive paths); the other figures
//! count from the decision; -1 is a step not taken (no policy rewrite without
//! `no_accept`).

use crate::io::rawsock::monotonic_ns;
use crate::proto::router::StateName;

/// The steps of RFC 5798 §6.4.2 (and §6.4.3 backwards) the engine carries out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// The first advert (priority 0 when resigning) handed to the kernel.
    Advert,
    /// The virtual addresses added (or removed) over rtnetlink.
    Addresses,
    /// The gratuitous ARPs / unsolicited NAs sent.
    Announce,
    /// The receive policy (the XDP map) rewritten for the new role.
    Policy,
}

const STEPS: usize = 4;

/// When each step finished, per instance, for one batch of decisions taken at `start`.
pub struct TakeoverClock {
    start: u64,
    /// The deadline the decision acted on, when a timer decided.
    deadline: Option<u64>,
    /// Per instance, when each step was done (0: not yet), indexed by instance and step:
    /// a wake-up of 255 masters marks 255 adverts, and a linear search per mark was a
    /// visible share of the sending loop.
    marks: Vec<[u64; STEPS]>,
}

impl TakeoverClock {
    pub fn new(start: u64, deadline: Option<u64>) -> TakeoverClock {
        TakeoverClock {
            start,
            deadline,
            marks: Vec::new(),
        }
    }

    /// `step` is done for these instances now (the first time counts).
    pub fn mark(&mut self, instances: impl IntoIterator<Item = usize>, step: Step) {
        let at = monotonic_ns();
        for i in instances {
            if self.marks.len() <= i {
                self.marks.resize(i + 1, [0; STEPS]);
            }
            let slot = &mut self.marks[i][step as usize];
            if *slot == 0 {
                *slot = at;
            }
        }
    }

    /// Microseconds from the decision to `step` done for instance `i`.
    pub fn at(&self, i: usize, step: Step) -> Option<u64> {
        self.marks
            .get(i)
            .map(|m| m[step as usize])
            .filter(|&at| at != 0)
            .map(|at| at.saturating_sub(self.start) / 1000)
    }

    /// Log instance `i`'s line if it entered or left Master.
    pub fn report(&self, label: &str, vrid: u8, i: usize, from: StateName, to: StateName) {
        let what = match (from, to) {
            (_, StateName::Master) => "takeover timings",
            (StateName::Master, _) => "release timings",
            _ => return,
        };
        // u64::MAX would read as a figure: a step not taken is left out as -1.
        let us = |s| self.at(i, s).map_or(-1, |v| v as i64);
        tracing::debug!(
            instance = label,
            vrid,
            late_us = self
                .deadline
                .map_or(-1, |d| (self.start.saturating_sub(d) / 1000) as i64),
            advert_us = us(Step::Advert),
            vip_us = us(Step::Addresses),
            garp_us = us(Step::Announce),
            policy_us = us(Step::Policy),
            "{what}"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_counts_the_first_time_it_is_done_and_from_the_decision() {
        let start = monotonic_ns();
        let mut c = TakeoverClock::new(start, None);
        assert_eq!(c.at(0, Step::Advert), None);
        c.mark([0, 1], Step::Advert);
        let first = c.at(0, Step::Advert).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(2));
        c.mark([0], Step::Advert);
        c.mark([0], Step::Addresses);
        assert_eq!(c.at(0, Step::Advert), Some(first), "first time counts");
        assert!(c.at(1, Step::Advert).is_some());
        let vip = c.at(0, Step::Addresses).unwrap();
        assert!(
            vip >= first + 2000,
            "{vip} µs after a 2 ms sleep, advert at {first}"
        );
        assert_eq!(c.at(1, Step::Addresses), None);
    }
}

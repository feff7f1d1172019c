//! How long one turn of the engine's loop held it. A turn that outlasts the gap to the
//! next advert delays that advert on the wire, so a turn over [`SLOW_TURN_NS`] is logged
//! at debug level with what woke it and how late the next deadline now is:
//!
//! `slow loop turn wake="retry" took_us=355244 late_us=328023`

use crate::io::rawsock::monotonic_ns;

/// A turn longer than this is logged.
const SLOW_TURN_NS: u64 = 2_000_000;

pub(super) struct LoopTurn {
    what: &'static str,
    started: u64,
}

impl LoopTurn {
    /// A turn starts; `what` names what woke the loop.
    pub(super) fn start(what: &'static str) -> LoopTurn {
        LoopTurn {
            what,
            started: monotonic_ns(),
        }
    }

    /// The turn is over; `next_deadline` is the node's earliest deadline now.
    pub(super) fn finish(self, next_deadline: Option<u64>) {
        let now = monotonic_ns();
        let took = now.saturating_sub(self.started);
        if took >= SLOW_TURN_NS {
            let late_us = next_deadline.map_or(0, |d| now.saturating_sub(d) / 1000);
            tracing::debug!(
                wake = self.what,
                took_us = took / 1000,
                late_us,
                "slow loop turn"
            );
        }
    }
}

//! Tracking's verdicts reach the node core here: the effective priority (1 while soft-
//! drained) and the health of unweighted checks (pending keeps INIT, failed is FAULT).

use super::drain;
use super::Engine;
use crate::proto::health::TrackHealth;
use crate::proto::node::NodeInput;

impl Engine {
    /// Apply what tracking says about instance `i`.
    pub(super) async fn apply_tracking(&mut self, i: usize, now: u64) {
        self.take_tracking_verdict(i, now).await;
        self.report_health(i, now).await;
    }

    /// Record tracking's verdict for instance `i`: the priority goes to the node at once,
    /// the health is reported by the caller.
    pub(super) async fn take_tracking_verdict(&mut self, i: usize, now: u64) {
        let c = &self.rts[i].cfg;
        if c.track_scripts.is_empty() && c.track_interfaces.is_empty() && c.track_files.is_empty() {
            // Nothing tracked: the configured priority stands (a tracker started before a
            // reload may still hold the old one).
            return;
        }
        let Some(v) = self.tracker.verdict(&self.rts[i].cfg.name) else {
            return;
        };
        let rt = &mut self.rts[i];
        if v.reasons != rt.priority_reasons {
            tracing::info!(
                instance = rt.label(),
                priority = v.priority,
                fault = v.fault,
                reasons = v.reasons.join("; "),
                "tracking changed"
            );
            rt.priority_reasons = v.reasons.clone();
        }
        rt.health.track = if v.pending {
            TrackHealth::Pending
        } else if v.fault {
            TrackHealth::Failed
        } else {
            TrackHealth::Ok
        };
        self.set_priority(i, v.priority, now).await;
    }

    /// Tell the node instance `i`'s priority: `tracked` (tracking's, or the base), or 1
    /// while soft-drained. The new priority shows in the next advert.
    pub(super) async fn set_priority(&mut self, i: usize, tracked: u8, now: u64) {
        let priority = match self.rts[i].drain {
            Some(drain::DrainMode::Soft) => drain::SOFT_DRAIN_PRIORITY,
            _ => tracked,
        };
        self.feed(
            NodeInput::Priority {
                instance: i,
                priority,
            },
            now,
        )
        .await;
    }
}

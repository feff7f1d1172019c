//! The engine's side of the receive state (docs/kernel-state.md). After every input the
//! node core took, our role, priority, preempt mode and timers go into each receive path's
//! state, so the path can absorb the current master's unchanged adverts; at a Master_Down
//! deadline the newest arrival the path absorbed is fed to the node core first, so a
//! master that kept speaking costs one wake-up per Master_Down interval, not one per
//! advert, and is never taken over from.

use std::net::IpAddr;

use vrrp_ebpf::abi::{
    Family, VridKey, ROLE_BACKUP, ROLE_MASTER, ROLE_UNKNOWN, STATE_ABSORB, STATE_PREEMPT,
};
use vrrp_ebpf::state::Ours;

use super::runtime::Runtime;
use super::Engine;
use crate::proto::node::NodeInput;
use crate::proto::router::{Router, StateName};
use crate::receive::MasterDownIn;

/// The state key of an instance on its receive interface.
fn key_of(rt: &Runtime) -> Option<VridKey> {
    let family = Family::try_from(rt.family).ok()?;
    (rt.ifindex != 0).then(|| VridKey::new(rt.ifindex, rt.cfg.vrid, family))
}

/// Our side of the receive state for one instance, from its state machine.
fn ours_of(rt: &Runtime, router: &Router) -> Ours {
    let role = match router.state() {
        StateName::Backup => ROLE_BACKUP,
        StateName::Master => ROLE_MASTER,
        StateName::Initialize | StateName::Fault => ROLE_UNKNOWN,
    };
    let mut flags = 0;
    if router.preempt() {
        flags |= STATE_PREEMPT;
    }
    // auth_hmac: the HMAC and the sequence are verified here on every advert, so the
    // path must hand every one over.
    if rt.cfg.auth_hmac.is_none() {
        flags |= STATE_ABSORB;
    }
    let mut addr = [0u8; 16];
    match router.primary() {
        IpAddr::V4(a) => addr[..4].copy_from_slice(&a.octets()),
        IpAddr::V6(a) => addr = a.octets(),
    }
    Ours {
        role,
        priority: router.priority(),
        flags,
        advert_int_cs: rt.cfg.advert_int_cs,
        master_down_ns: router.master_down_interval_ns(),
        skew_ns: router.skew_time_ns(),
        addr,
    }
}

impl Engine {
    /// Write our side into the receive paths wherever it changed (one map update per
    /// change: a transition, a new priority, a learned interval). Returns the inputs that
    /// tell the node core which instances' Master_Down the kernel now times.
    pub(super) fn sync_receive_state(&mut self) -> Vec<NodeInput> {
        let mut timed = Vec::new();
        // A reload removes an instance from the node core before its runtime: until both
        // lists line up again (the next input), instance i of one is not that of the other.
        if self.rts.len() != self.node.len() {
            return timed;
        }
        for i in 0..self.rts.len() {
            let rt = &self.rts[i];
            let Some(key) = key_of(rt).filter(|_| !rt.stopped) else {
                continue;
            };
            let ours = ours_of(rt, self.node.router(i));
            let Some((_, path)) = self.paths.iter_mut().find(|(x, _)| *x == key.ifindex) else {
                continue;
            };
            // Only absorbing instances have their adverts arm the kernel's timer.
            let kernel = path.times_master_down() && ours.flags & STATE_ABSORB != 0;
            if kernel != rt.kernel_timed {
                self.rts[i].kernel_timed = kernel;
                timed.push(NodeInput::KernelTimed {
                    instance: i,
                    on: kernel,
                });
            }
            if self.rts[i].state_written == Some(ours) {
                continue;
            }
            match path.set_state(key, &ours) {
                Ok(()) => self.rts[i].state_written = Some(ours),
                Err(e) => tracing::warn!(
                    instance = self.rts[i].label(),
                    error = format!("{e:#}"),
                    "cannot write the receive state; every advert is reported"
                ),
            }
        }
        timed
    }

    /// Called when a deadline passed: for every Backup, the newest advert its receive
    /// path absorbed from the master since the state machine last heard of it, as
    /// [`NodeInput::Heard`]. Every Backup, not only the one whose deadline passed: each
    /// is pushed to (its master's latest arrival + Master_Down), so one wake-up per
    /// Master_Down interval serves every virtual router of the node, not one per router.
    /// The router restarts its timer only from an arrival newer than any it knows, for a
    /// master it follows, so this delays a takeover only while that master really spoke.
    pub(super) async fn feed_absorbed(&mut self, now: u64) {
        for input in self.absorbed_inputs() {
            self.feed(input, now).await;
        }
    }

    /// The [`NodeInput::Heard`] of [`Engine::feed_absorbed`], with the timer margin and an
    /// inter-arrival sample taken from what the paths measured.
    pub(super) fn absorbed_inputs(&mut self) -> Vec<NodeInput> {
        let mut heard = Vec::new();
        for i in 0..self.rts.len().min(self.node.len()) {
            let router = self.node.router(i);
            if router.master_down_at().is_none() {
                continue;
            }
            let known = router.last_advert_ts();
            let Some(key) = key_of(&self.rts[i]) else {
                continue;
            };
            let Some(seen) = self
                .paths
                .iter()
                .find(|(x, _)| *x == key.ifindex)
                .and_then(|(_, p)| p.absorbed(key))
                .filter(|a| a.last_ts > known)
            else {
                continue;
            };
            // The timer margin (Master_Down minus the time between two adverts), from the
            // gaps the path measured between the adverts it absorbed.
            let md = router.master_down_interval_ns() as f64;
            if seen.last_gap_ns > 0 {
                // One sample of the inter-arrival times the path saw (docs/kernel-state.md).
                if let Ok(mut h) = self.hist.lock() {
                    h.observe(&self.rts[i].cfg.name, seen.last_gap_ns as f64 / 1e9);
                }
                let stats = &mut self.rts[i].stats;
                let margin = (md - seen.last_gap_ns as f64) / 1e6;
                let worst = (md - seen.max_gap_ns as f64) / 1e6;
                stats.margin_ms = Some(margin);
                stats.min_margin_ms = Some(stats.min_margin_ms.map_or(worst, |m| m.min(worst)));
            }
            heard.push(NodeInput::Heard {
                instance: i,
                ts_ns: seen.last_ts,
            });
        }
        heard
    }

    /// The kernel's Master_Down timer expired for one virtual router. Only a hint: what
    /// the paths absorbed since goes in first, so a master that spoke after the timer
    /// fired (before we read the event) keeps its role; the state machine then decides
    /// on its own deadline.
    pub(super) async fn kernel_master_down(&mut self, m: &MasterDownIn, now: u64) {
        let Some(&i) = self.by_key.get(&(m.ifindex, m.vrid, m.family as u8)) else {
            return;
        };
        tracing::debug!(
            instance = self.rts[i].label(),
            fired_ns = m.ts_ns,
            last_ts = m.last_ts,
            "kernel Master_Down timer fired"
        );
        self.feed_absorbed(now).await;
        self.feed(NodeInput::MasterDown { instance: i }, now).await;
    }
}

//! The engine's status snapshot, published for the control socket and `/metrics`.

use std::collections::BTreeMap;

use vrrp_ebpf::abi::{Reason, FAMILY_V4, SLOT_ABSORBED, SLOT_RATE_LIMITED};

use super::runtime::{link_up, Runtime};
use super::Engine;
use crate::io::iface;
use crate::status::{InstanceStatus, Status, TrackResult};
use crate::track::Status as CheckStatus;

/// The name of the rate-limited count among the per-interface receive counters.
pub const RATE_LIMITED: &str = "rate_limited";

impl Engine {
    /// Counter `slot` of `rt`'s VRID on its receive path, read now.
    fn slot(&self, rt: &Runtime, slot: u32) -> u64 {
        self.paths
            .iter()
            .find(|(x, _)| *x == rt.ifindex)
            .map_or(0, |(_, p)| p.counter(rt.cfg.vrid, slot))
    }

    /// Build the snapshot from the current state and publish it.
    pub(super) fn publish_status(&self) {
        let instances = self
            .rts
            .iter()
            .enumerate()
            .map(|(i, rt)| (self.node.router(i), rt))
            .map(|(router, rt)| InstanceStatus {
                name: rt.cfg.name.clone(),
                interface: rt.cfg.interface.clone(),
                vrid: rt.cfg.vrid,
                family: if rt.family == FAMILY_V4 {
                    "ipv4"
                } else {
                    "ipv6"
                }
                .to_string(),
                version: match rt.cfg.version {
                    crate::config::model::Version::V2 => 2,
                    crate::config::model::Version::V3 => 3,
                },
                state: router.state(),
                base_priority: rt.cfg.priority,
                effective_priority: router.priority(),
                priority_reasons: rt.priority_reasons.clone(),
                master: router.current_master,
                advert_interval_cs: rt.cfg.advert_int_cs,
                master_adver_interval_cs: router.master_adver_int_cs(),
                last_transition: rt.stats.last_transition.clone(),
                transitions: rt.stats.transitions,
                adverts_sent: rt.stats.adverts_sent,
                // Reported adverts the engine handled plus those the receive path absorbed
                // (docs/kernel-state.md): every advert that passed the receive checks.
                adverts_received: rt.stats.adverts_received + self.slot(rt, SLOT_ABSORBED),
                timer_margin_ms: rt.stats.margin_ms,
                min_timer_margin_ms: rt.stats.min_margin_ms,
                tracks: self.track_results(rt),
                // Replies the state machine held back, and the adverts the path rate-limited
                // while we were Master: each of those would have asked for a reply too.
                replies_suppressed: rt.stats.replies_suppressed + self.slot(rt, SLOT_RATE_LIMITED),
                drained: rt.drain.map(|m| m.name().to_string()),
                virtual_addresses: rt
                    .cfg
                    .virtual_addresses
                    .iter()
                    .map(|v| format!("{}/{}", v.addr, v.prefix_len))
                    .collect(),
            })
            .collect();
        let receive_paths = self
            .paths
            .iter()
            .map(|(ifx, p)| (iface::name_of(*ifx), p.describe()))
            .collect();
        let rejections = self
            .counters
            .iter()
            .map(|(ifx, c)| {
                let by_reason: BTreeMap<String, u64> = Reason::ALL
                    .iter()
                    .filter(|r| r.is_rejection())
                    .map(|&r| (r.name().to_string(), c.total(r)))
                    // Adverts heard while Master beyond one report per interval: not
                    // rejected (they passed the checks), shown beside the reasons that
                    // were, since they too never reached the state machine.
                    .chain([(
                        RATE_LIMITED.to_string(),
                        (0..=255u8).map(|v| c.slot(v, SLOT_RATE_LIMITED)).sum(),
                    )])
                    .collect();
                (iface::name_of(*ifx), by_reason)
            })
            .collect();
        let status = Status {
            version: env!("CARGO_PKG_VERSION").to_string(),
            pid: std::process::id(),
            receive_paths,
            instances,
            rejections,
            split_brain_events: self.node.split_brain_seen(),
        };
        self.status_tx.send_replace(status);
    }

    fn track_results(&self, rt: &Runtime) -> Vec<TrackResult> {
        let scripts = rt.cfg.track_scripts.iter().map(|t| TrackResult {
            name: t.name.clone(),
            kind: "script".into(),
            up: match self.tracker.book().status(&t.name) {
                Some(CheckStatus::Ok) => Some(true),
                Some(CheckStatus::Failed) => Some(false),
                _ => None,
            },
        });
        let interfaces = rt.cfg.track_interfaces.iter().map(|t| TrackResult {
            name: t.name.clone(),
            kind: "interface".into(),
            up: link_up(&t.name),
        });
        scripts.chain(interfaces).collect()
    }
}

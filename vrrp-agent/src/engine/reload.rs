//! Reload as a diff: instances whose definition did not change keep their state machine,
//! their timers and their addresses, and go on advertising through the reload; so do
//! instances where only what never reaches the wire changed (notify programs, mail,
//! tracking, Accept_Mode: applied in place). Instances whose wire or addresses changed are
//! stopped (a master resigns with priority 0) and started anew; removed ones stop; added
//! ones start. A file that fails validation changes nothing.

use std::path::Path;

use super::runtime::{restart_needed, Runtime};
use super::Engine;
use crate::config::model::Instance;
use crate::io::rawsock::monotonic_ns;
use crate::proto::router::Input;

impl Engine {
    pub(super) async fn reload_from(&mut self, path: &Path) -> Result<(), String> {
        let loaded = crate::config::load(path).map_err(|errors| {
            errors
                .iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("; ")
        })?;
        for w in &loaded.warnings {
            tracing::warn!("{w}");
        }
        let new = loaded.config;
        let now = monotonic_ns();

        // Stop what is gone or changed.
        let mut i = 0;
        let mut kept = 0;
        while i < self.rts.len() {
            let kept_as = new
                .instances
                .iter()
                .find(|c| c.name == self.rts[i].cfg.name)
                .filter(|c| !restart_needed(&self.rts[i].cfg, c));
            if let Some(c) = kept_as {
                if *c != self.rts[i].cfg {
                    tracing::info!(
                        instance = self.rts[i].label(),
                        "reload: notify, tracking or accept changed; applied without a restart"
                    );
                    self.rts[i].cfg = c.clone();
                }
                kept += 1;
                i += 1;
                continue;
            }
            tracing::info!(
                instance = self.rts[i].label(),
                "reload: stopping (changed or removed)"
            );
            // A stopped instance must not drag its sync group along.
            self.peers[i].clear();
            self.step(i, Input::Shutdown, now).await;
            if let Ok(mut h) = self.hist.lock() {
                h.forget(&self.rts[i].cfg.name);
            }
            self.rts.remove(i);
            self.peers.remove(i);
        }

        // Start what is new or changed.
        let mut started = Vec::new();
        for c in &new.instances {
            if self.rts.iter().any(|r| r.cfg.name == c.name) {
                continue;
            }
            self.rts.push(Runtime::new(c));
            let i = self.rts.len() - 1;
            self.resolve(i).await;
            started.push(i);
        }
        // Tracking restarts only when what it watches changed: a restarted tracker knows
        // no results yet, and an unchanged instance must not see its priority bounce.
        let tracks = |c: &Instance| {
            (
                c.track_scripts.clone(),
                c.track_interfaces.clone(),
                c.track_files.clone(),
            )
        };
        let kept_tracks_changed = self.config.instances.iter().any(|old| {
            self.rts
                .iter()
                .any(|r| r.cfg.name == old.name && tracks(&r.cfg) != tracks(old))
        });
        let tracking_changed = self.config.scripts != new.scripts
            || self.config.track_files != new.track_files
            || kept_tracks_changed
            || started.iter().any(|&i| {
                let c = &self.rts[i].cfg;
                !c.track_scripts.is_empty()
                    || !c.track_interfaces.is_empty()
                    || !c.track_files.is_empty()
            });
        self.config = new;
        if tracking_changed {
            let (tracker, rx) = crate::track::Tracker::start(&self.config);
            self.tracker = tracker;
            self.track_rx = rx;
            tracing::info!("reload: tracking restarted");
        }
        self.reindex();
        self.after_resolve(&[]);
        let now = monotonic_ns();
        for i in 0..self.rts.len() {
            self.take_tracking_verdict(i, now);
        }
        for i in started.iter().copied() {
            tracing::info!(instance = self.rts[i].label(), "reload: starting");
            self.reconcile(i, now).await;
        }
        tracing::info!(
            unchanged = kept,
            started = started.len(),
            "reload applied as a diff"
        );
        self.publish_status();
        Ok(())
    }
}

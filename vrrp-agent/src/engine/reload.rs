//! Reload as a diff: instances whose definition did not change keep their state machine,
//! their timers and their addresses, and go on advertising through the reload; changed
//! ones are stopped (a master resigns with priority 0) and started anew; removed ones stop;
//! added ones start. A file that fails validation changes nothing.

use std::path::Path;

use super::runtime::same_instance;
use super::Engine;
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
            let same = new
                .instances
                .iter()
                .find(|c| c.name == self.rts[i].cfg.name)
                .is_some_and(|c| same_instance(c, &self.rts[i].cfg));
            if same {
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
            match self.build_runtime(c).await {
                Ok(rt) => {
                    self.rts.push(rt);
                    started.push(self.rts.len() - 1);
                }
                Err(e) => tracing::error!(
                    instance = c.name.as_str(),
                    error = format!("{e:#}"),
                    "reload: cannot start instance"
                ),
            }
        }
        // Tracking restarts only when what it watches changed: a restarted tracker knows
        // no results yet, and an unchanged instance must not see its priority bounce.
        let tracking_changed = format!("{:?}", self.config.scripts) != format!("{:?}", new.scripts)
            || started.iter().any(|&i| {
                let c = &self.rts[i].cfg;
                !c.track_scripts.is_empty() || !c.track_interfaces.is_empty()
            });
        self.config = new;
        if tracking_changed {
            let (tracker, rx) = crate::track::Tracker::start(&self.config);
            self.tracker = tracker;
            self.track_rx = rx;
            tracing::info!("reload: tracking restarted");
        }
        self.reindex();
        self.sync_paths().map_err(|e| format!("{e:#}"))?;
        let now = monotonic_ns();
        for i in started.iter().copied() {
            if self.rts[i].link_up {
                tracing::info!(instance = self.rts[i].label(), "reload: starting");
                self.step(i, Input::Startup, now).await;
            }
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

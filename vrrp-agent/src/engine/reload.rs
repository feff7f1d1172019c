//! Reload as a diff: instances whose definition did not change keep their state machine,
//! their timers and their addresses, and go on advertising through the reload; so do
//! instances where only notify programs, mail, tracking, Accept_Mode or the address list
//! changed (applied in place: a Master adds the new addresses, announces them, removes
//! the dropped ones, and its next advert carries the new list). Instances where anything
//! else changed are stopped (a master resigns with priority 0) and started anew; removed
//! ones stop; added ones start. A file that fails validation changes nothing.

use std::path::Path;

use super::node_spec;
use super::runtime::{instance_spec, restart_needed, Runtime};
use super::Engine;
use crate::config::model::Instance;
use crate::io::rawsock::monotonic_ns;
use crate::proto::node::NodeInput;
use crate::proto::router::{Action, StateName};

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

        // Stop what is gone or changed; a restarted instance stays drained.
        let mut drains = std::collections::HashMap::new();
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
                        "reload: notify, tracking, accept or addresses changed; applied without a restart"
                    );
                    let readdress = c.virtual_addresses != self.rts[i].cfg.virtual_addresses;
                    self.rts[i].cfg = c.clone();
                    if readdress {
                        self.readdress(i, now).await;
                    }
                }
                kept += 1;
                i += 1;
                continue;
            }
            tracing::info!(
                instance = self.rts[i].label(),
                "reload: stopping (changed or removed)"
            );
            if let Some(m) = self.rts[i].drain {
                drains.insert(self.rts[i].cfg.name.clone(), m);
            }
            // A stopped master resigns; its sync group does not follow a shutdown.
            self.feed(NodeInput::Stop { instance: i }, now).await;
            self.feed(NodeInput::Remove { instance: i }, now).await;
            if let Ok(mut h) = self.hist.lock() {
                h.forget(&self.rts[i].cfg.name);
            }
            self.rts.remove(i);
        }

        // Start what is new or changed.
        let mut started = Vec::new();
        for c in &new.instances {
            if self.rts.iter().any(|r| r.cfg.name == c.name) {
                continue;
            }
            self.rts.push(Runtime::new(c));
            let spec = instance_spec(c);
            self.feed(NodeInput::Add { spec }, now).await;
            let i = self.rts.len() - 1;
            self.resolve(i, now).await;
            started.push(i);
        }
        let groups = node_spec(&new).groups;
        self.feed(NodeInput::Groups { groups }, now).await;
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
            self.take_tracking_verdict(i, now).await;
        }
        for i in started.iter().copied() {
            tracing::info!(instance = self.rts[i].label(), "reload: starting");
            match drains.get(&self.rts[i].cfg.name) {
                Some(&m) => self.set_drain(i, Some(m), now).await,
                None => self.report_health(i, now).await,
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

    /// The address list of instance `i` changed in a reload. A Master holds exactly the
    /// new list: addresses it added that are no longer configured go, the configured ones
    /// are added (those it holds already stay) and announced. A Backup holds none; either
    /// way the next advert carries the new list (its bytes are rebuilt from the
    /// configuration) and the receive policy is rewritten after the reload.
    async fn readdress(&mut self, i: usize, now: u64) {
        let rt = &mut self.rts[i];
        if rt.stopped || self.node.router(i).state() != StateName::Master {
            return;
        }
        let (keep, drop): (Vec<_>, Vec<_>) = std::mem::take(&mut rt.added)
            .into_iter()
            .partition(|(_, v)| rt.cfg.virtual_addresses.contains(v));
        rt.added = keep;
        for (idx, v) in drop {
            tracing::info!(instance = rt.label(), addr = %v.addr, "reload: virtual address removed");
            if let Err(e) = self.edges.remove_address(idx, &v).await {
                tracing::error!(instance = rt.label(), addr = %v.addr, error = format!("{e:#}"), "cannot remove virtual address");
            }
        }
        self.act(i, Action::AddAddresses, now).await;
        self.act(i, Action::Announce { count: 1 }, now).await;
    }
}

//! Maintenance drain: `vrrp-agent drain [INSTANCE...]` hands every master role over at
//! once (a priority-0 advert, addresses released: the instance goes to FAULT with the
//! cause `Drained`) and keeps the instances out of Master until `vrrp-agent undrain`;
//! `--soft` only lowers the priority to 1, so the node still serves if no other router
//! can. The drained set is written to the state directory (`/var/lib/vrrpx/drain.json`,
//! per network namespace) so it holds across a restart or a reboot.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::Engine;

/// How an instance is drained.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DrainMode {
    /// Out of Master (FAULT with cause Drained).
    Hard,
    /// Priority 1: the node still serves when nothing else can.
    Soft,
}

impl DrainMode {
    pub fn name(self) -> &'static str {
        match self {
            DrainMode::Hard => "hard",
            DrainMode::Soft => "soft",
        }
    }
}

/// The priority a soft-drained instance advertises.
pub const SOFT_DRAIN_PRIORITY: u8 = 1;

/// The drained instances, by name, as kept on disk.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DrainBook {
    pub instances: BTreeMap<String, DrainMode>,
}

impl DrainBook {
    pub fn path() -> PathBuf {
        crate::run_dir::state_dir().join("drain.json")
    }

    /// The book at `path`; a missing file is an empty book, a broken one is logged and
    /// read as empty (the operator's drain is lost, which the log says).
    pub fn load(path: &Path) -> DrainBook {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                tracing::error!(file = %path.display(), error = %e, "drain state unreadable; ignoring it");
                DrainBook::default()
            }),
            Err(_) => DrainBook::default(),
        }
    }

    /// Write atomically (temporary file, then rename); an empty book removes the file.
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        if self.instances.is_empty() {
            return match std::fs::remove_file(path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            };
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = path.with_extension("json.tmp");
        let text = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        std::fs::write(&tmp, text)?;
        std::fs::rename(&tmp, path)
    }
}

impl Engine {
    /// Resolve `names` (empty: every instance) to indexes, or name the unknown ones.
    fn drain_targets(&self, names: &[String]) -> Result<Vec<usize>, String> {
        if names.is_empty() {
            return Ok((0..self.rts.len()).collect());
        }
        let mut out = Vec::new();
        let mut unknown = Vec::new();
        for n in names {
            match self.rts.iter().position(|r| &r.cfg.name == n) {
                Some(i) => out.push(i),
                None => unknown.push(n.as_str()),
            }
        }
        if unknown.is_empty() {
            Ok(out)
        } else {
            Err(format!("no such instance: {}", unknown.join(", ")))
        }
    }

    /// Put instance `i` into (or, with `None`, out of) maintenance and tell its state
    /// machine. Does not write the book.
    pub(super) async fn set_drain(&mut self, i: usize, mode: Option<DrainMode>, now: u64) {
        let rt = &mut self.rts[i];
        if rt.drain == mode {
            return;
        }
        let was = rt.drain;
        rt.drain = mode;
        rt.health.drained = mode == Some(DrainMode::Hard);
        match mode {
            Some(m) => tracing::warn!(
                instance = rt.label(),
                mode = m.name(),
                "drained for maintenance"
            ),
            None => tracing::info!(instance = rt.label(), "maintenance over (undrained)"),
        }
        self.events.publish(json!({
            "type": if mode.is_some() { "drain" } else { "undrain" },
            "instance": rt.cfg.name,
            "interface": rt.cfg.interface,
            "vrid": rt.cfg.vrid,
            "mode": mode.or(was).map(DrainMode::name),
        }));
        // The priority in effect: 1 while soft-drained, else what tracking says.
        let base = self.rts[i].cfg.priority;
        self.set_priority(i, base, now).await;
        if mode != Some(DrainMode::Soft) {
            self.take_tracking_verdict(i, now).await;
        }
        self.report_health(i, now).await;
        self.publish_status();
    }

    /// `vrrp-agent drain` / `undrain`: apply and persist.
    pub(super) async fn drain_command(
        &mut self,
        names: &[String],
        mode: Option<DrainMode>,
        now: u64,
    ) -> Result<(), String> {
        let targets = self.drain_targets(names)?;
        for i in targets {
            self.set_drain(i, mode, now).await;
        }
        self.save_drains()
    }

    fn save_drains(&self) -> Result<(), String> {
        let book = DrainBook {
            instances: self
                .rts
                .iter()
                .filter_map(|r| r.drain.map(|m| (r.cfg.name.clone(), m)))
                .collect(),
        };
        let path = DrainBook::path();
        book.save(&path).map_err(|e| {
            format!(
                "drained, but the state could not be saved to {}: {e}",
                path.display()
            )
        })
    }

    /// At start: instances drained before the restart stay drained.
    pub(super) async fn restore_drains(&mut self, now: u64) {
        let book = DrainBook::load(&DrainBook::path());
        for (name, mode) in book.instances {
            match self.rts.iter().position(|r| r.cfg.name == name) {
                Some(i) => self.set_drain(i, Some(mode), now).await,
                None => tracing::warn!(
                    instance = name.as_str(),
                    "drained instance is no longer configured"
                ),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_book_round_trips_and_an_empty_one_removes_the_file() {
        let dir = std::env::temp_dir().join(format!("vrrpx-drain-{}", std::process::id()));
        let path = dir.join("drain.json");
        let mut book = DrainBook::default();
        book.instances.insert("VI_1".into(), DrainMode::Hard);
        book.instances.insert("VI_2".into(), DrainMode::Soft);
        book.save(&path).unwrap();
        assert_eq!(DrainBook::load(&path), book);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("\"VI_2\": \"soft\""), "{text}");
        DrainBook::default().save(&path).unwrap();
        assert!(!path.exists());
        assert_eq!(DrainBook::load(&path), DrainBook::default());
        let _ = std::fs::remove_dir(&dir);
    }

    #[test]
    fn a_broken_book_reads_as_empty() {
        let dir = std::env::temp_dir().join(format!("vrrpx-drain-bad-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("drain.json");
        std::fs::write(&path, "{not json").unwrap();
        assert_eq!(DrainBook::load(&path), DrainBook::default());
        let _ = std::fs::remove_file(&path);
        let _ = std::fs::remove_dir(&dir);
    }
}

//! The agent's side of the kernel guard (docs/kernel-guard.md): which addresses the XDP
//! program guards, with their Master_Down intervals (`GUARDS`), and the heartbeat that
//! says the agent's select loop still turns (`HEARTBEAT`).
//!
//! The heartbeat is written from the loop itself, never from a thread of its own: a
//! thread would keep beating while the loop is wedged, and the guard would never act.

use std::collections::HashMap;

use anyhow::{Context, Result};
use aya::maps::{Array, HashMap as BpfHashMap};
use aya::Ebpf;
use vrrp_ebpf::abi::{Heartbeat, VipGuard, VipKey, MAP_GUARDS, MAP_HEARTBEAT};

/// Beats at least this far apart when nothing is guarded (a backup), so the heartbeat
/// is already fresh when a takeover adds entries.
const IDLE_EVERY_NS: u64 = 1_000_000_000;
/// And never closer than this: under a flood the loop turns thousands of times a second.
const MIN_EVERY_NS: u64 = 1_000_000;

/// How often to beat for a smallest guarded Master_Down of `min_master_down_ns`: four
/// times per interval, so a beat that is one loop turn late is still far from stale.
pub const fn beat_every_ns(min_master_down_ns: u64) -> u64 {
    let every = min_master_down_ns / 4;
    if every > IDLE_EVERY_NS {
        IDLE_EVERY_NS
    } else if every < MIN_EVERY_NS {
        MIN_EVERY_NS
    } else {
        every
    }
}

/// The heartbeat of one loaded program: what was last written and when.
#[derive(Clone, Copy, Debug, Default)]
pub struct HeartbeatWriter {
    last: Heartbeat,
}

impl HeartbeatWriter {
    /// Whether a beat is due at `now_ns`.
    pub fn due(&self, now_ns: u64) -> bool {
        self.last.beat_ns == 0
            || now_ns.saturating_sub(self.last.beat_ns)
                >= beat_every_ns(self.last.min_master_down_ns)
    }

    /// Beat if due.
    pub fn refresh(&mut self, ebpf: &mut Ebpf, now_ns: u64) -> Result<()> {
        if !self.due(now_ns) {
            return Ok(());
        }
        self.write(ebpf, now_ns, self.last.min_master_down_ns)
    }

    /// Replace the guarded addresses with `guarded` and beat: the program must never see
    /// entries with a heartbeat older than they are.
    pub fn set_guarded(
        &mut self,
        ebpf: &mut Ebpf,
        guarded: &HashMap<VipKey, u64>,
        now_ns: u64,
    ) -> Result<()> {
        let min = guarded.values().copied().min().unwrap_or(u64::MAX);
        // Beat before adding, so a new entry is never judged against an old beat.
        self.write(ebpf, now_ns, min.min(self.last.min_master_down_ns))?;
        let mut m: BpfHashMap<_, VipKey, VipGuard> =
            BpfHashMap::try_from(ebpf.map_mut(MAP_GUARDS).context(MAP_GUARDS)?)?;
        let stale: Vec<VipKey> = m.keys().filter_map(|k| k.ok()).collect();
        for k in stale.iter().filter(|k| !guarded.contains_key(k)) {
            m.remove(k)?;
        }
        for (k, &master_down_ns) in guarded {
            m.insert(k, VipGuard { master_down_ns }, 0)?;
        }
        self.write(ebpf, now_ns, min)
    }

    fn write(&mut self, ebpf: &mut Ebpf, now_ns: u64, min_master_down_ns: u64) -> Result<()> {
        let mut a: Array<_, Heartbeat> =
            Array::try_from(ebpf.map_mut(MAP_HEARTBEAT).context(MAP_HEARTBEAT)?)?;
        let beat = Heartbeat {
            beat_ns: now_ns,
            min_master_down_ns,
        };
        a.set(0, beat, 0).context("writing the heartbeat")?;
        self.last = beat;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_beat_comes_four_times_per_master_down_within_a_millisecond_and_a_second() {
        // 10 ms adverts at priority 150: Master_Down 34.1 ms, a beat every 8.5 ms.
        assert_eq!(beat_every_ns(34_140_625), 8_535_156);
        assert_eq!(beat_every_ns(u64::MAX), IDLE_EVERY_NS, "nothing guarded");
        assert_eq!(beat_every_ns(2_000_000), MIN_EVERY_NS);
    }

    #[test]
    fn a_beat_is_due_once_its_interval_passed_since_the_last() {
        let w = HeartbeatWriter {
            last: Heartbeat {
                beat_ns: 1_000_000_000,
                min_master_down_ns: 40_000_000,
            },
        };
        assert!(!w.due(1_009_999_999));
        assert!(w.due(1_010_000_000));
        assert!(HeartbeatWriter::default().due(5), "never written");
    }
}

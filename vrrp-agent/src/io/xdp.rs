//! The XDP receive path: load the embedded object, attach it, mirror the policy into its
//! maps, and read accepted adverts from its ring buffer under tokio.

use anyhow::{anyhow, bail, Context, Result};
use aya::maps::{HashMap as BpfHashMap, MapData, PerCpuArray, RingBuf};
use aya::programs::{Xdp, XdpMode};
use aya::Ebpf;
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use vrrp_ebpf::abi::*;
use vrrp_ebpf::state::Ours;

use crate::filter::{Counters, PolicyTable};
use crate::io::heartbeat::HeartbeatWriter;
use crate::io::pin::{self, KeptLink};

/// The XDP object compiled by `cargo xtask build-ebpf`, embedded at build time (empty when
/// the agent was built without it).
static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/vrrp-ebpf.o"));

/// Which attach mode to ask for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ModeChoice {
    /// Driver (native) mode, falling back to generic (skb) mode.
    Auto,
    /// Driver mode only.
    Driver,
    /// Generic mode only.
    Skb,
}

/// Whether this binary carries an XDP object at all.
pub fn object_embedded() -> bool {
    !OBJECT.is_empty()
}

/// Load the object without attaching it (for `BPF_PROG_TEST_RUN` and tests).
pub fn load_object() -> Result<Ebpf> {
    if !object_embedded() {
        bail!("this vrrp-agent was built without the eBPF object (run `cargo xtask build-ebpf`)");
    }
    let mut ebpf = Ebpf::load(OBJECT).context("loading the eBPF object")?;
    let prog: &mut Xdp = ebpf
        .program_mut(PROGRAM_NAME)
        .ok_or_else(|| anyhow!("program {PROGRAM_NAME} missing from the object"))?
        .try_into()?;
    prog.load().map_err(|e| match e {
        // The full verifier log runs to megabytes; its tail says what failed.
        aya::programs::ProgramError::LoadError {
            io_error,
            verifier_log,
        } => {
            let log = verifier_log.to_string();
            let lines: Vec<&str> = log.lines().collect();
            let tail = lines[lines.len().saturating_sub(12)..].join("\n");
            anyhow!("the kernel refused the XDP program: {io_error}; verifier said:\n{tail}")
        }
        other => anyhow!(other).context("loading the XDP program"),
    })?;
    Ok(ebpf)
}

/// Replace the contents of the policy maps with `policy`.
pub fn write_policy(ebpf: &mut Ebpf, policy: &PolicyTable) -> Result<()> {
    {
        let mut m: BpfHashMap<_, u32, IfacePolicy> =
            BpfHashMap::try_from(ebpf.map_mut(MAP_IFACES).context(MAP_IFACES)?)?;
        let stale: Vec<u32> = m.keys().filter_map(|k| k.ok()).collect();
        for k in stale.iter().filter(|k| !policy.ifaces.contains_key(k)) {
            m.remove(k)?;
        }
        for (k, v) in &policy.ifaces {
            m.insert(k, v, 0)?;
        }
    }
    {
        let mut m: BpfHashMap<_, VridKey, VridPolicy> =
            BpfHashMap::try_from(ebpf.map_mut(MAP_VRIDS).context(MAP_VRIDS)?)?;
        let stale: Vec<VridKey> = m.keys().filter_map(|k| k.ok()).collect();
        for k in stale.iter().filter(|k| !policy.vrids.contains_key(k)) {
            m.remove(k)?;
        }
        for (k, v) in &policy.vrids {
            m.insert(k, v, 0)?;
        }
    }
    {
        let mut m: BpfHashMap<_, PeerKey, PeerPolicy> =
            BpfHashMap::try_from(ebpf.map_mut(MAP_PEERS).context(MAP_PEERS)?)?;
        let stale: Vec<PeerKey> = m.keys().filter_map(|k| k.ok()).collect();
        for k in stale.iter().filter(|k| !policy.peers.contains_key(k)) {
            m.remove(k)?;
        }
        for (k, v) in &policy.peers {
            m.insert(k, v, 0)?;
        }
    }
    {
        let mut m: BpfHashMap<_, VipKey, u8> =
            BpfHashMap::try_from(ebpf.map_mut(MAP_VIPS).context(MAP_VIPS)?)?;
        let stale: Vec<VipKey> = m.keys().filter_map(|k| k.ok()).collect();
        for k in stale.iter().filter(|k| !policy.vips.contains(k)) {
            m.remove(k)?;
        }
        for k in &policy.vips {
            let flags = if policy.refuse.contains(k) {
                VIP_REPORT_ARP | VIP_DROP_TRAFFIC
            } else {
                VIP_REPORT_ARP
            };
            m.insert(k, flags, 0)?;
        }
    }
    Ok(())
}

// ---- Receive state (docs/kernel-state.md) ----

/// Write our side of one virtual router into the `STATE` map, keeping what the program
/// recorded about the master (unless the role changed: [`Ours::apply`]). The read and
/// the write are two syscalls: an advert handled in between may lose its update, which at
/// worst reports one more advert or keeps an arrival time one interval older.
pub fn write_state(ebpf: &mut Ebpf, key: VridKey, ours: &Ours) -> Result<()> {
    let mut m: BpfHashMap<_, VridKey, VridState> =
        BpfHashMap::try_from(ebpf.map_mut(MAP_STATE).context(MAP_STATE)?)?;
    let prev = m.get(&key, 0).ok();
    m.insert(key, ours.apply(prev), 0)
        .with_context(|| format!("{MAP_STATE}: ifindex {} VRID {}", key.ifindex, key.vrid))?;
    Ok(())
}

/// The receive state of one virtual router, `None` when the agent never wrote it.
pub fn read_state(ebpf: &Ebpf, key: VridKey) -> Option<VridState> {
    let m: BpfHashMap<_, VridKey, VridState> = BpfHashMap::try_from(ebpf.map(MAP_STATE)?).ok()?;
    m.get(&key, 0).ok()
}

/// Drop the receive state of virtual routers the policy no longer has.
fn prune_state(ebpf: &mut Ebpf, policy: &PolicyTable) -> Result<()> {
    let mut m: BpfHashMap<_, VridKey, VridState> =
        BpfHashMap::try_from(ebpf.map_mut(MAP_STATE).context(MAP_STATE)?)?;
    let stale: Vec<VridKey> = m.keys().filter_map(|k| k.ok()).collect();
    for k in stale.iter().filter(|k| !policy.vrids.contains_key(k)) {
        m.remove(k)?;
    }
    Ok(())
}
// ---- end of receive state ----

/// Sum the per-CPU counters.
pub fn read_counters(ebpf: &Ebpf) -> Result<Counters> {
    let mut c = Counters::default();
    let map = ebpf.map(MAP_COUNTERS).context(MAP_COUNTERS)?;
    let batch = match map {
        aya::maps::Map::PerCpuArray(data) => {
            crate::io::map_batch::sum_per_cpu_u64(data, c.slots.len()).ok()
        }
        _ => None,
    };
    match batch {
        Some(sums) => c.slots.copy_from_slice(&sums),
        None => read_counters_one_by_one(ebpf, &mut c)?,
    }
    let stats: PerCpuArray<_, u64> =
        PerCpuArray::try_from(ebpf.map(MAP_STATS).context(MAP_STATS)?)?;
    for (i, slot) in c.stats.iter_mut().enumerate() {
        *slot = stats.get(&(i as u32), 0)?.iter().sum();
    }
    Ok(c)
}

/// The per-entry read of the counter map, for kernels without batch look-ups.
pub fn read_counters_one_by_one(ebpf: &Ebpf, c: &mut Counters) -> Result<()> {
    let counters: PerCpuArray<_, u64> =
        PerCpuArray::try_from(ebpf.map(MAP_COUNTERS).context(MAP_COUNTERS)?)?;
    for (i, slot) in c.slots.iter_mut().enumerate() {
        *slot = counters.get(&(i as u32), 0)?.iter().sum();
    }
    Ok(())
}

/// Decode one ring-buffer record.
pub fn decode_event(bytes: &[u8]) -> Option<Event> {
    if bytes.len() < std::mem::size_of::<Event>() {
        return None;
    }
    // SAFETY: the length was checked, Event is plain old data (every bit pattern valid),
    // and read_unaligned makes no alignment assumption.
    Some(unsafe { std::ptr::read_unaligned(bytes.as_ptr() as *const Event) })
}

/// An attached XDP filter on one interface.
pub struct XdpFilter {
    ebpf: Ebpf,
    events: AsyncFd<RingBuf<MapData>>,
    mode: &'static str,
    /// The kernel guard (docs/kernel-guard.md): the pinned link that outlives us, and the
    /// heartbeat that says we are alive. `None` for an attachment that goes with the
    /// process (the passive monitor, or when pinning failed).
    kept: Option<KeptLink>,
    heartbeat: HeartbeatWriter,
    /// Adverts the kernel counted as accepted that the agent then refused, by (VRID,
    /// reason): applied to every reading of the kernel's counters.
    recounted: std::collections::BTreeMap<(u8, u32), u64>,
}

impl XdpFilter {
    /// Load, fill the maps, then attach: the program never sees a frame before its policy
    /// is in place. `keep` pins the link under `ifname` so it outlives the process,
    /// replacing the program of a link an earlier run pinned there (docs/kernel-guard.md).
    pub fn attach(
        ifname: &str,
        ifindex: u32,
        policy: &PolicyTable,
        choice: ModeChoice,
        keep: bool,
    ) -> Result<XdpFilter> {
        let mut ebpf = load_object()?;
        write_policy(&mut ebpf, policy)?;
        let mut heartbeat = HeartbeatWriter::default();
        heartbeat.set_guarded(
            &mut ebpf,
            &policy.guarded,
            crate::io::rawsock::monotonic_ns(),
        )?;
        let prog: &mut Xdp = ebpf
            .program_mut(PROGRAM_NAME)
            .ok_or_else(|| anyhow!("program {PROGRAM_NAME} missing"))?
            .try_into()?;
        let pins = keep.then(|| pin::pin_dir(ifname)).flatten();
        let adopted = pins
            .as_ref()
            .and_then(|d| pin::adopt(prog, d, ifindex, ifname));
        let (kept, mode) = match adopted {
            Some((kept, mode)) => (Some(kept), mode),
            None => {
                let (id, mode) = attach_fresh(prog, ifindex, choice)?;
                let kept = match &pins {
                    Some(dir) => match pin::keep(prog, id, dir, ifindex, ifname, mode) {
                        Ok(k) => Some(k),
                        Err(e) => {
                            tracing::warn!(
                                iface = ifname,
                                error = format!("{e:#}"),
                                "cannot pin the XDP link: it goes with the agent, and no kernel guard is kept"
                            );
                            // Pinning took the link and dropped it: attach again, unpinned.
                            attach_fresh(prog, ifindex, choice)?;
                            None
                        }
                    },
                    None => None,
                };
                (kept, mode)
            }
        };
        let ring = RingBuf::try_from(ebpf.take_map(MAP_EVENTS).context(MAP_EVENTS)?)?;
        // SAFETY: the ring buffer owns its map fd, which stays open and unchanged until the
        // AsyncFd (and with it the RingBuf) is dropped.
        let events = unsafe { AsyncFd::register_with_interest(ring, Interest::READABLE) }
            .map_err(|e| e.into_parts().1)
            .context("registering the ring buffer with tokio")?;
        Ok(XdpFilter {
            ebpf,
            events,
            mode,
            kept,
            heartbeat,
            recounted: Default::default(),
        })
    }

    /// Where the link is pinned, if it is.
    pub fn pin_path(&self) -> Option<&std::path::Path> {
        self.kept.as_ref().map(|k| k.path())
    }

    /// Refresh the kernel guard's heartbeat if it is due (called from the select loop).
    pub fn heartbeat(&mut self, now_ns: u64) -> Result<()> {
        self.heartbeat.refresh(&mut self.ebpf, now_ns)
    }

    /// "driver" or "generic".
    pub fn mode(&self) -> &'static str {
        self.mode
    }

    pub fn set_policy(&mut self, policy: &PolicyTable) -> Result<()> {
        write_policy(&mut self.ebpf, policy)?;
        let now = crate::io::rawsock::monotonic_ns();
        self.heartbeat
            .set_guarded(&mut self.ebpf, &policy.guarded, now)?;
        prune_state(&mut self.ebpf, policy)
    }

    /// Our side of one virtual router, for the program's receive decisions.
    pub fn set_state(&mut self, key: VridKey, ours: &Ours) -> Result<()> {
        write_state(&mut self.ebpf, key, ours)
    }

    /// One counter (summed over CPUs), read now: for what the status shows every second
    /// without reading all of them.
    pub fn counter(&self, vrid: u8, slot: u32) -> Result<u64> {
        let m: PerCpuArray<_, u64> =
            PerCpuArray::try_from(self.ebpf.map(MAP_COUNTERS).context(MAP_COUNTERS)?)?;
        Ok(m.get(&counter_index(vrid, slot), 0)?.iter().sum())
    }

    /// The receive state the program keeps for one virtual router.
    pub fn state(&self, key: VridKey) -> Option<VridState> {
        read_state(&self.ebpf, key)
    }

    pub fn counters(&self) -> Result<Counters> {
        let mut c = read_counters(&self.ebpf)?;
        for (&(vrid, slot), &n) in &self.recounted {
            if let Some(&reason) = Reason::ALL.get(slot as usize) {
                c.recount(vrid, reason, n);
            }
        }
        Ok(c)
    }

    pub fn recount(&mut self, vrid: u8, reason: Reason) {
        *self.recounted.entry((vrid, reason as u32)).or_default() += 1;
    }

    /// Wait until the ring buffer holds something, then drain it into `out`.
    pub async fn recv(&mut self, out: &mut Vec<Event>) -> Result<()> {
        loop {
            let mut guard = self.events.readable_mut().await?;
            let ring = guard.get_inner_mut();
            while let Some(item) = ring.next() {
                if let Some(ev) = decode_event(&item) {
                    out.push(ev);
                }
            }
            guard.clear_ready();
            if !out.is_empty() {
                return Ok(());
            }
        }
    }

    /// Drain without waiting (used before acting on a timer).
    pub fn try_recv(&mut self, out: &mut Vec<Event>) {
        let ring = self.events.get_mut();
        while let Some(item) = ring.next() {
            if let Some(ev) = decode_event(&item) {
                out.push(ev);
            }
        }
    }
}

/// Attach in the mode asked for (driver falling back to generic for `Auto`).
fn attach_fresh(
    prog: &mut Xdp,
    ifindex: u32,
    choice: ModeChoice,
) -> Result<(aya::programs::xdp::XdpLinkId, &'static str)> {
    Ok(match choice {
        ModeChoice::Driver => (
            prog.attach_to_if_index(ifindex, XdpMode::Driver)
                .context("attaching in driver mode")?,
            "driver",
        ),
        ModeChoice::Skb => (
            prog.attach_to_if_index(ifindex, XdpMode::Skb)
                .context("attaching in generic mode")?,
            "generic",
        ),
        ModeChoice::Auto => match prog.attach_to_if_index(ifindex, XdpMode::Driver) {
            Ok(id) => (id, "driver"),
            // Stacked devices (VLANs, macvlans) have no driver mode; generic mode runs
            // the same program on their untagged frames (docs/xdp-filter.md).
            Err(e) => {
                tracing::info!(
                    ifindex,
                    error = %e,
                    "driver-mode XDP refused; trying generic mode"
                );
                (
                    prog.attach_to_if_index(ifindex, XdpMode::Skb)
                        .context("attaching in generic mode")?,
                    "generic",
                )
            }
        },
    })
}

//! The daemon's driver: one task, one timer structure for every virtual router. It feeds
//! accepted adverts (with kernel arrival times) and expired deadlines into the pure state
//! machines and carries out their actions on the edges: advert sockets, addresses over
//! rtnetlink, gratuitous ARP / unsolicited NA.
//!
//! Before acting on an expired deadline it drains whatever the receive paths already hold,
//! so a process that was stalled while the master kept advertising re-decides on the
//! adverts' real arrival times instead of taking over (DESIGN.md bet 1).

mod edges;

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use anyhow::{Context, Result};
use tokio::signal::unix::{signal, SignalKind};
use vrrp_ebpf::abi::*;

use crate::config::model::{ChecksumForm, Config, Family, Instance, Version};
use crate::filter::{vip_key, Counters, PolicyTable};
use crate::io::iface;
use crate::io::rawsock::monotonic_ns;
use crate::monitor::table::event_src;
use crate::proto::advert::AdvertOut;
use crate::proto::router::{Action, Cause, Input, Router, RouterParams, StateName};
use crate::receive::{PathOptions, ReceivePath};
use edges::Edges;

/// Rejected adverts are logged as one summary per interface at most this often; the
/// counters carry the volume (DESIGN.md bet 4).
const REJECT_LOG: Duration = Duration::from_secs(5);

/// Log what the receive checks rejected since the last report, per VRID and reason.
fn log_rejections(ifindex: u32, last: &Counters, now: &Counters) {
    for vrid in 0..=255u8 {
        let parts: Vec<String> = Reason::ALL
            .iter()
            .filter(|&&r| r != Reason::Accepted)
            .filter_map(|&r| {
                let d = now.get(vrid, r).saturating_sub(last.get(vrid, r));
                (d > 0).then(|| format!("{}={d}", r.name()))
            })
            .collect();
        if !parts.is_empty() {
            tracing::warn!(
                iface = iface::name_of(ifindex),
                vrid,
                "rejected adverts in the last {} s: {}",
                REJECT_LOG.as_secs(),
                parts.join(" ")
            );
        }
    }
}

/// How often interface carrier is checked (down → Fault).
const LINK_POLL: Duration = Duration::from_millis(50);

struct Runtime {
    cfg: Instance,
    /// Where adverts are received (the configured interface).
    ifindex: u32,
    /// Where adverts, announcements and addresses go: the vmac, or the interface itself.
    tx_ifindex: u32,
    family: u8,
    router: Router,
    primary: IpAddr,
    /// Multicast group, or the unicast peers.
    destinations: Vec<IpAddr>,
    link_up: bool,
}

impl Runtime {
    fn label(&self) -> String {
        format!(
            "{} ({} vrid {})",
            self.cfg.name, self.cfg.interface, self.cfg.vrid
        )
    }
}

/// What woke the driver.
enum Wake {
    Events(Vec<Event>),
    Deadline,
    LinkPoll,
    RejectLog,
    Stop,
}

pub struct EngineOptions {
    pub path: PathOptions,
}

fn family_code(f: Family) -> u8 {
    match f {
        Family::V4 => FAMILY_V4,
        Family::V6 => FAMILY_V6,
    }
}

/// The receive policy for one interface: exactly the configured virtual routers.
fn policy_for(ifindex: u32, instances: &[Runtime]) -> PolicyTable {
    let mut p = PolicyTable::default();
    p.ifaces.insert(ifindex, IfacePolicy { flags: 0 });
    for rt in instances.iter().filter(|r| r.ifindex == ifindex) {
        let c = &rt.cfg;
        let (auth_type, auth_pass) = match (c.version, c.auth_pass) {
            (Version::V2, Some(p)) => (AUTH_PASS, p),
            _ => (AUTH_NONE, [0; 8]),
        };
        p.vrids.insert(
            VridKey {
                ifindex,
                vrid: c.vrid,
                family: rt.family,
                _pad: [0; 2],
            },
            VridPolicy {
                version: if c.version == Version::V2 { 2 } else { 3 },
                csum_form: match c.checksum {
                    ChecksumForm::Pseudo => CSUM_PSEUDO,
                    ChecksumForm::Plain => CSUM_PLAIN,
                },
                auth_type,
                flags: if c.unicast_peers.is_empty() {
                    0
                } else {
                    VRID_UNICAST
                },
                adver_int_s: (c.advert_int_cs / 100).clamp(1, 255) as u8,
                _pad: [0; 3],
                auth_pass,
            },
        );
        for v in &c.virtual_addresses {
            p.vips.insert(vip_key(ifindex, v.addr));
        }
    }
    p
}

/// Settings the configuration readers accept but this engine does not carry out yet: say
/// so at start, once per setting, rather than run as if they were honoured.
fn warn_not_yet_acted_on(config: &Config) {
    for c in &config.instances {
        let mut missing = Vec::new();
        if !c.track_interfaces.is_empty() {
            missing.push("track_interface");
        }
        if !c.track_scripts.is_empty() {
            missing.push("track_script");
        }
        let n = &c.notify;
        if n.master.is_some()
            || n.backup.is_some()
            || n.fault.is_some()
            || n.stop.is_some()
            || n.any.is_some()
        {
            missing.push("notify scripts");
        }
        if !c.accept {
            missing.push("no_accept");
        }
        if !missing.is_empty() {
            tracing::warn!(
                instance = c.name.as_str(),
                at = %c.location,
                "not acted on by this version yet: {}",
                missing.join(", ")
            );
        }
    }
}

fn router_params(c: &Instance, primary: IpAddr) -> RouterParams {
    RouterParams {
        version: c.version,
        priority: c.priority,
        advert_int_cs: c.advert_int_cs,
        preempt: c.preempt,
        preempt_delay_ns: c.preempt_delay.as_nanos() as u64,
        primary,
        garp_repeat: c.garp.master_repeat,
        garp_master_delay_ns: c.garp.master_delay.as_nanos() as u64,
        garp_refresh_ns: c.garp.master_refresh.map(|d| d.as_nanos() as u64),
    }
}

fn link_up(ifname: &str) -> bool {
    // operstate "up" (or "unknown" for interfaces without carrier reporting).
    std::fs::read_to_string(format!("/sys/class/net/{ifname}/operstate"))
        .map(|s| matches!(s.trim(), "up" | "unknown"))
        .unwrap_or(false)
}

/// Run the configured instances until SIGINT/SIGTERM.
pub async fn run(config: Config, opts: EngineOptions) -> Result<()> {
    let mut edges = Edges::open().await?;
    edges.cleanup_leftovers().await;

    warn_not_yet_acted_on(&config);
    let mut rts: Vec<Runtime> = Vec::new();
    for c in &config.instances {
        let ifindex = iface::index_of(&c.interface)
            .with_context(|| format!("instance {} ({})", c.name, c.location))?;
        let family = family_code(c.family);
        let primary = match c.unicast_src {
            Some(a) => a,
            None => edges
                .primary_address(ifindex, c.family)
                .await
                .with_context(|| {
                    format!(
                        "instance {}: no usable source address on {}",
                        c.name, c.interface
                    )
                })?,
        };
        let destinations = if c.unicast_peers.is_empty() {
            vec![match c.family {
                Family::V4 => IpAddr::V4(std::net::Ipv4Addr::new(224, 0, 0, 18)),
                Family::V6 => IpAddr::V6("ff02::12".parse().unwrap()),
            }]
        } else {
            c.unicast_peers.clone()
        };
        edges.open_advert_socket(ifindex, c.family, primary).await?;
        let tx_ifindex = match (c.use_vmac, c.family) {
            (true, Family::V4) => edges.ensure_vmac(ifindex, c.vrid, primary).await?,
            (true, Family::V6) => {
                tracing::warn!(
                    instance = c.name.as_str(),
                    "use_vmac is supported for IPv4 instances only; this IPv6 instance uses {}",
                    c.interface
                );
                ifindex
            }
            (false, _) => ifindex,
        };
        rts.push(Runtime {
            tx_ifindex,
            router: Router::new(router_params(c, primary)),
            cfg: c.clone(),
            ifindex,
            family,
            primary,
            destinations,
            link_up: link_up(&c.interface),
        });
    }

    // One receive path per interface, filtering exactly our virtual routers.
    let mut ifindexes: Vec<u32> = rts.iter().map(|r| r.ifindex).collect();
    ifindexes.sort();
    ifindexes.dedup();
    let mut paths: Vec<ReceivePath> = Vec::new();
    for &ifx in &ifindexes {
        let name = iface::name_of(ifx);
        paths.push(ReceivePath::open(
            &name,
            ifx,
            &policy_for(ifx, &rts),
            &opts.path,
        )?);
    }
    let by_key: HashMap<(u32, u8, u8), usize> = rts
        .iter()
        .enumerate()
        .map(|(i, r)| ((r.ifindex, r.cfg.vrid, r.family), i))
        .collect();

    let mut sigint = signal(SignalKind::interrupt())?;
    let mut sigterm = signal(SignalKind::terminate())?;
    let mut link_poll = tokio::time::interval(LINK_POLL);
    let mut reject_log = tokio::time::interval(REJECT_LOG);
    let mut reported: Vec<Counters> = vec![Counters::default(); ifindexes.len()];
    let base_ns = monotonic_ns();
    let base = tokio::time::Instant::now();
    let to_instant = |ns: u64| base + Duration::from_nanos(ns.saturating_sub(base_ns));

    let peers = sync_peers(&config, &rts);
    let now = monotonic_ns();
    for i in 0..rts.len() {
        if rts[i].link_up {
            step(&mut edges, &mut rts, &peers, i, Input::Startup, now).await;
        } else {
            tracing::warn!(
                instance = rts[i].label(),
                "interface down at start; waiting in FAULT"
            );
        }
    }

    let mut buf: Vec<Event> = Vec::with_capacity(256);
    loop {
        let deadline = rts.iter().filter_map(|r| r.router.next_deadline()).min();
        let sleep = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(to_instant(d)).await,
                None => std::future::pending().await,
            }
        };
        let wake = {
            let recv =
                futures::future::select_all(paths.iter_mut().map(|p| Box::pin(p.next_batch())));
            tokio::select! {
                (r, _, _) = recv => Wake::Events(r?),
                _ = sleep => Wake::Deadline,
                _ = link_poll.tick() => Wake::LinkPoll,
                _ = reject_log.tick() => Wake::RejectLog,
                _ = sigint.recv() => Wake::Stop,
                _ = sigterm.recv() => Wake::Stop,
            }
        };
        match wake {
            Wake::Events(batch) => {
                let now = monotonic_ns();
                for ev in &batch {
                    deliver(&mut edges, &mut rts, &peers, &by_key, ev, now).await;
                }
            }
            Wake::Deadline => {
                // Drain first: adverts that already arrived decide before the timer does.
                for p in paths.iter_mut() {
                    p.try_recv(&mut buf)?;
                }
                let now = monotonic_ns();
                for ev in std::mem::take(&mut buf) {
                    deliver(&mut edges, &mut rts, &peers, &by_key, &ev, now).await;
                }
                for i in 0..rts.len() {
                    if rts[i].router.next_deadline().is_some_and(|d| d <= now) {
                        step(&mut edges, &mut rts, &peers, i, Input::Timer, now).await;
                    }
                }
            }
            Wake::LinkPoll => {
                let now = monotonic_ns();
                for i in 0..rts.len() {
                    let up = link_up(&rts[i].cfg.interface);
                    if up != rts[i].link_up {
                        rts[i].link_up = up;
                        let input = if up {
                            tracing::info!(instance = rts[i].label(), "interface link is up");
                            Input::InterfaceUp
                        } else {
                            tracing::warn!(instance = rts[i].label(), "interface link is down");
                            Input::InterfaceDown
                        };
                        step(&mut edges, &mut rts, &peers, i, input, now).await;
                    }
                }
            }
            Wake::RejectLog => {
                for ((path, &ifx), last) in paths.iter().zip(&ifindexes).zip(reported.iter_mut()) {
                    if let Ok(now) = path.counters() {
                        log_rejections(ifx, last, &now);
                        *last = now;
                    }
                }
            }
            Wake::Stop => break,
        }
    }

    // Shutdown (§6.4.3): masters resign with priority 0 and release their addresses.
    let now = monotonic_ns();
    for i in 0..rts.len() {
        step(&mut edges, &mut rts, &peers, i, Input::Shutdown, now).await;
    }
    edges.remove_vmacs().await;
    drop(paths);
    tracing::info!("stopped: addresses released, XDP detached");
    Ok(())
}

async fn deliver(
    edges: &mut Edges,
    rts: &mut [Runtime],
    peers: &[Vec<usize>],
    by_key: &HashMap<(u32, u8, u8), usize>,
    ev: &Event,
    now: u64,
) {
    if ev.kind != EVENT_ADVERT {
        return;
    }
    let Some(&i) = by_key.get(&(ev.ifindex, ev.vrid, ev.family)) else {
        return;
    };
    let src = event_src(ev);
    if src == rts[i].primary {
        return; // our own advert looped back
    }
    let input = Input::Advert {
        ts_ns: ev.ts_ns,
        src,
        priority: ev.priority,
        interval_cs: ev.interval_cs,
    };
    step(edges, rts, peers, i, input, now).await;
}

/// For each instance, the other members of its `vrrp_sync_group`.
fn sync_peers(config: &Config, rts: &[Runtime]) -> Vec<Vec<usize>> {
    let index = |name: &str| rts.iter().position(|r| r.cfg.name == name);
    let mut peers = vec![Vec::new(); rts.len()];
    for g in &config.sync_groups {
        let members: Vec<usize> = g.members.iter().filter_map(|m| index(m)).collect();
        for &m in &members {
            peers[m] = members.iter().copied().filter(|&o| o != m).collect();
        }
    }
    peers
}

/// Feed `input` to instance `i`, carry out what it decides, and let the other members of
/// its sync group follow its own moves (never moves they made by following).
async fn step(
    edges: &mut Edges,
    rts: &mut [Runtime],
    peers: &[Vec<usize>],
    i: usize,
    input: Input,
    now: u64,
) {
    let actions = rts[i].router.handle(input, now);
    let moves: Vec<(StateName, StateName, Cause)> = actions
        .iter()
        .filter_map(|a| match a {
            Action::Transition { from, to, cause } => Some((*from, *to, *cause)),
            _ => None,
        })
        .collect();
    apply(edges, &rts[i], actions).await;
    for (from, to, cause) in moves {
        if matches!(cause, Cause::SyncGroup | Cause::Shutdown) {
            continue;
        }
        // Leaving Fault restarts the group; any other move is followed as it is.
        let signal = if from == StateName::Fault {
            StateName::Initialize
        } else {
            to
        };
        for &j in &peers[i] {
            if signal == StateName::Initialize && !rts[j].link_up {
                continue;
            }
            let actions = rts[j].router.handle(Input::SyncWith(signal), now);
            apply(edges, &rts[j], actions).await;
        }
    }
}

async fn apply(edges: &mut Edges, rt: &Runtime, actions: Vec<Action>) {
    for a in actions {
        match a {
            Action::SendAdvert { priority } => {
                let advert = AdvertOut {
                    version: rt.cfg.version,
                    vrid: rt.cfg.vrid,
                    priority,
                    interval_cs: rt.cfg.advert_int_cs,
                    addrs: rt.cfg.virtual_addresses.iter().map(|v| v.addr).collect(),
                    auth_pass: rt.cfg.auth_pass,
                };
                for &dst in &rt.destinations {
                    let msg = advert.emit(rt.primary, dst, rt.cfg.checksum);
                    if let Err(e) = edges.send_advert(rt.tx_ifindex, rt.cfg.family, &msg, dst) {
                        tracing::warn!(instance = rt.label(), error = %e, "advert not sent");
                    }
                }
            }
            Action::AddAddresses => {
                for v in &rt.cfg.virtual_addresses {
                    if let Err(e) = edges.add_address(rt.tx_ifindex, v).await {
                        tracing::error!(instance = rt.label(), addr = %v.addr, error = format!("{e:#}"), "cannot add virtual address");
                    }
                }
            }
            Action::RemoveAddresses => {
                for v in &rt.cfg.virtual_addresses {
                    if let Err(e) = edges.remove_address(rt.tx_ifindex, v).await {
                        tracing::error!(instance = rt.label(), addr = %v.addr, error = format!("{e:#}"), "cannot remove virtual address");
                    }
                }
            }
            Action::Announce { count } => {
                for v in &rt.cfg.virtual_addresses {
                    for _ in 0..count {
                        if let Err(e) = edges.announce(rt.tx_ifindex, v.addr) {
                            tracing::warn!(instance = rt.label(), addr = %v.addr, error = %e, "announcement not sent");
                            break;
                        }
                    }
                }
            }
            Action::Transition { from, to, cause } => {
                let master = rt
                    .router
                    .current_master
                    .map(|(a, p)| format!("{a} priority {p}"));
                tracing::info!(
                    instance = rt.cfg.name.as_str(),
                    iface = rt.cfg.interface.as_str(),
                    vrid = rt.cfg.vrid,
                    from = %from,
                    to = %to,
                    cause = ?cause,
                    priority = rt.router.priority(),
                    master = master.unwrap_or_default(),
                    "state change"
                );
                if to == StateName::Master {
                    tracing::debug!(instance = rt.cfg.name.as_str(), "now advertising");
                }
            }
            Action::ReplySuppressed => {
                tracing::debug!(
                    instance = rt.cfg.name.as_str(),
                    "reply to a lower priority advert rate-limited"
                );
            }
        }
    }
}

//! The daemon's driver: one task, one timer structure for every virtual router. It feeds
//! accepted adverts (with kernel arrival times) and expired deadlines into the pure state
//! machines and carries out their actions on the edges: advert sockets, addresses over
//! rtnetlink, gratuitous ARP / unsolicited NA.
//!
//! Before acting on an expired deadline it drains whatever the receive paths already hold,
//! so a process that was stalled while the master kept advertising re-decides on the
//! adverts' real arrival times instead of taking over (DESIGN.md bet 1).

mod edges;
pub mod health;
mod host;
mod observe;
mod reload;
mod runtime;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use serde_json::json;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::{mpsc, watch};
use vrrp_ebpf::abi::*;

use crate::config::model::Config;
use crate::control::{ControlServer, EventBus, Handles, Histograms, ReloadRequest};
use crate::filter::Counters;
use crate::io::host_events::{HostEvent, HostEvents};
use crate::io::iface;
use crate::io::rawsock::monotonic_ns;
use crate::monitor::table::{addr_from, event_src};
use crate::notify::{commands_for, Notifier};
use crate::proto::advert::AdvertOut;
use crate::proto::router::{Action, Cause, Input, StateName};
use crate::receive::{PathOptions, ReceivePath};
use crate::status::Status;
use crate::track::{TrackUpdate, Tracker};
use edges::Edges;
use health::TrackHealth;
use runtime::*;

/// How often instances still waiting for their interface, address or sockets are
/// retried (netlink events usually resolve them sooner).
const RETRY_EVERY: Duration = Duration::from_secs(1);
/// Counters are read and rejections logged at most this often; the counters carry the
/// volume (DESIGN.md bet 4).
const REJECT_LOG: Duration = Duration::from_secs(5);
/// The status snapshot is refreshed at least this often (and on every transition).
const STATUS_EVERY: Duration = Duration::from_secs(1);
/// After the latest sign of split brain, a master re-announces its addresses every
/// second for this long.
const REANNOUNCE_NS: u64 = 60_000_000_000;
/// Split brain is logged at most this often per instance.
const SPLIT_LOG_NS: u64 = 5_000_000_000;
/// A peer advertising another address list or interval is logged at most this often.
const MISMATCH_LOG_NS: u64 = 60_000_000_000;

pub struct EngineOptions {
    pub path: PathOptions,
    /// The file to re-read on SIGHUP or `vrrp-agent reload`.
    pub config_path: Option<PathBuf>,
    /// Control socket (`None`: none).
    pub control_socket: Option<PathBuf>,
    /// Serve Prometheus metrics here.
    pub metrics: Option<SocketAddr>,
}

/// What woke the driver.
enum Wake {
    Events(Result<Vec<Event>>),
    Deadline,
    Retry,
    Counters,
    StatusTick,
    Host(Option<HostEvent>),
    /// A reload: from the control socket (with where to answer), or SIGHUP.
    Reload(Option<ReloadRequest>),
    /// Nobody can send reloads over the channel any more (no control socket).
    ReloadChannelClosed,
    Track(TrackUpdate),
    Watchdog,
    Stop,
}

pub struct Engine {
    edges: Edges,
    path_opts: PathOptions,
    config: Config,
    rts: Vec<Runtime>,
    /// One receive path per interface in use.
    paths: Vec<(u32, ReceivePath)>,
    by_key: HashMap<(u32, u8, u8), usize>,
    /// Other members of each instance's sync group.
    peers: Vec<Vec<usize>>,
    status_tx: watch::Sender<Status>,
    events: EventBus,
    hist: Arc<Mutex<Histograms>>,
    notifier: Notifier,
    split_brain: u64,
    counters: HashMap<u32, Counters>,
    tracker: Tracker,
    track_rx: mpsc::Receiver<TrackUpdate>,
    /// When a receive error was last logged (rate limit).
    recv_error_logged_at: u64,
}

impl Engine {
    /// Only what every instance needs is fatal here (rtnetlink); an instance whose
    /// interface, address or sockets are missing waits for them in FAULT.
    async fn new(config: Config, path_opts: PathOptions) -> Result<Engine> {
        let mut edges = Edges::open().await?;
        edges.cleanup_leftovers().await;
        let (status_tx, _) = watch::channel(Status::default());
        let (tracker, track_rx) = Tracker::start(&config);
        let mut e = Engine {
            tracker,
            track_rx,
            edges,
            path_opts,
            config: Config::default(),
            rts: Vec::new(),
            paths: Vec::new(),
            by_key: HashMap::new(),
            peers: Vec::new(),
            status_tx,
            events: EventBus::default(),
            hist: Arc::new(Mutex::new(Histograms::new())),
            notifier: Notifier::default(),
            split_brain: 0,
            counters: HashMap::new(),
            recv_error_logged_at: 0,
        };
        e.rts = config.instances.iter().map(Runtime::new).collect();
        e.config = config;
        e.reindex();
        for i in 0..e.rts.len() {
            e.resolve(i).await;
        }
        e.after_resolve(&[]);
        for rt in e.rts.iter().filter(|r| !r.cfg.accept) {
            let raw = e
                .paths
                .iter()
                .any(|(ifx, p)| *ifx == rt.ifindex && matches!(p, ReceivePath::Raw(_)));
            if raw {
                tracing::warn!(
                    instance = rt.label(),
                    "no_accept needs the XDP path: on raw sockets traffic to the virtual addresses is accepted"
                );
            }
        }
        Ok(e)
    }

    /// Rebuild the look-up tables after the instance list changed.
    fn reindex(&mut self) {
        self.by_key = self
            .rts
            .iter()
            .enumerate()
            .filter(|(_, r)| r.ifindex != 0)
            .map(|(i, r)| ((r.ifindex, r.cfg.vrid, r.family), i))
            .collect();
        let index = |name: &str| self.rts.iter().position(|r| r.cfg.name == name);
        let mut peers = vec![Vec::new(); self.rts.len()];
        for g in &self.config.sync_groups {
            let members: Vec<usize> = g.members.iter().filter_map(|m| index(m)).collect();
            for &m in &members {
                peers[m] = members.iter().copied().filter(|&o| o != m).collect();
            }
        }
        self.peers = peers;
    }

    /// One receive path per interface in use, each filtering exactly our virtual routers.
    /// Existing paths get their policy replaced in place (no detach, no gap). A path that
    /// cannot be opened faults the instances of that interface (retried), not the daemon.
    fn sync_paths(&mut self) {
        let mut wanted: Vec<u32> = self
            .rts
            .iter()
            .filter(|r| r.ifindex != 0 && !r.stopped)
            .map(|r| r.ifindex)
            .collect();
        wanted.sort();
        wanted.dedup();
        self.paths.retain(|(ifx, _)| wanted.contains(ifx));
        for ifx in wanted {
            let policy = policy_for(ifx, &self.rts);
            let result = match self.paths.iter_mut().find(|(i, _)| *i == ifx) {
                Some((_, p)) => p.set_policy(&policy),
                None => {
                    let name = iface::name_of(ifx);
                    ReceivePath::open(&name, ifx, &policy, &self.path_opts)
                        .map(|p| self.paths.push((ifx, p)))
                }
            };
            if let Err(e) = result {
                let msg = format!("receive path: {e:#}");
                for rt in self.rts.iter_mut().filter(|r| r.ifindex == ifx) {
                    if rt.setup_error.as_deref() != Some(msg.as_str()) {
                        tracing::error!(
                            instance = rt.label(),
                            error = msg.as_str(),
                            "cannot receive; retrying"
                        );
                    }
                    rt.health.setup = false;
                    rt.setup_error = Some(msg.clone());
                }
            }
        }
    }

    /// Feed `input` to instance `i`, carry out what it decides, and let the other members
    /// of its sync group follow its own moves (never moves they made by following).
    ///
    /// Faults and recoveries go through each member's own health
    /// ([`health::reconcile`]): a member whose own check still fails stays in FAULT when
    /// the rest of its group recovers.
    async fn step(&mut self, i: usize, input: Input, now: u64) {
        let actions = self.rts[i].router.handle(input, now);
        let moves = transitions(&actions);
        self.apply(i, actions, now).await;
        for (from, to, cause) in moves.iter().copied() {
            if matches!(cause, Cause::SyncGroup | Cause::Shutdown) {
                continue;
            }
            let peers = self.peers[i].clone();
            if from == StateName::Fault || to == StateName::Fault {
                for j in peers {
                    Box::pin(self.reconcile(j, now)).await;
                }
            } else {
                for j in peers {
                    let actions = self.rts[j].router.handle(Input::SyncWith(to), now);
                    self.apply(j, actions, now).await;
                }
            }
            self.notify_group(i, self.rts[i].router.state());
        }
    }

    /// Run the group's notify scripts when a member moved the group on its own.
    fn notify_group(&mut self, i: usize, to: StateName) {
        let name = &self.rts[i].cfg.name;
        let Some(g) = self
            .config
            .sync_groups
            .iter()
            .find(|g| g.members.iter().any(|m| m == name))
        else {
            return;
        };
        let prio = self.rts[i].router.priority();
        let cmds = commands_for(&g.notify, "GROUP", &g.name, to, prio);
        let (name, mail) = (g.name.clone(), g.smtp_alert);
        self.notifier.queue(&format!("group:{name}"), cmds);
        self.notify_extras("GROUP", &name, to, prio, mail);
    }

    /// The notify FIFO line and, with `smtp_alert`, a mail; the mail goes out on its own
    /// task so a slow relay never holds up the engine.
    fn notify_extras(&self, kind: &str, name: &str, to: StateName, prio: u8, mail: bool) {
        if let Some(fifo) = &self.config.notify_fifo {
            crate::notify::write_fifo(fifo, &crate::notify::fifo_line(kind, name, to, prio));
        }
        let email = &self.config.email;
        let Some(server) = email.smtp_server.clone() else {
            return;
        };
        if !mail || email.to.is_empty() {
            return;
        }
        let router_id = self
            .config
            .router_id
            .clone()
            .unwrap_or_else(|| "vrrpx".to_string());
        let alert = crate::notify::alert_for(&router_id, kind, name, to);
        let from = email
            .from
            .clone()
            .unwrap_or_else(|| format!("vrrpx@{router_id}"));
        let to_list = email.to.clone();
        let timeout = email.smtp_connect_timeout;
        tokio::spawn(async move {
            let addr = match tokio::net::lookup_host((server.host.as_str(), server.port)).await {
                Ok(mut a) => a.next(),
                Err(_) => None,
            };
            let Some(addr) = addr else {
                tracing::warn!(
                    server = server.host.as_str(),
                    "smtp_alert: cannot resolve the SMTP server"
                );
                return;
            };
            let settings = crate::notify::mail::MailSettings {
                server: addr,
                connect_timeout: timeout,
                from,
                to: to_list,
                router_id,
            };
            if let Err(e) = crate::notify::mail::send(&settings, &alert).await {
                tracing::warn!(error = format!("{e:#}"), "smtp_alert: mail not sent");
            }
        });
    }

    async fn apply(&mut self, i: usize, actions: Vec<Action>, now: u64) {
        for a in actions {
            let rt = &mut self.rts[i];
            match a {
                Action::SendAdvert { priority } => {
                    let Some(src) = rt.primary else {
                        continue; // no source address: nothing can be sent
                    };
                    let advert = AdvertOut {
                        version: rt.cfg.version,
                        vrid: rt.cfg.vrid,
                        priority,
                        interval_cs: rt.cfg.advert_int_cs,
                        addrs: rt.cfg.virtual_addresses.iter().map(|v| v.addr).collect(),
                        auth_pass: rt.cfg.auth_pass,
                    };
                    for &dst in &rt.destinations {
                        let msg = advert.emit(src, dst, rt.cfg.checksum);
                        match self.edges.send_advert(rt.tx_ifindex, src, &msg, dst) {
                            Ok(()) => rt.stats.adverts_sent += 1,
                            Err(e) => {
                                tracing::warn!(instance = rt.label(), error = %e, "advert not sent")
                            }
                        }
                    }
                }
                Action::AddAddresses => {
                    for v in &rt.cfg.virtual_addresses {
                        match self.edges.add_address(rt.tx_ifindex, v).await {
                            Ok(Some(idx)) => {
                                if !rt.added.iter().any(|(i, a)| *i == idx && a == v) {
                                    rt.added.push((idx, v.clone()));
                                }
                            }
                            Ok(None) => tracing::warn!(
                                instance = rt.label(),
                                addr = %v.addr,
                                "virtual address already present and not added by vrrpx; leaving it as it is (it will not be removed)"
                            ),
                            Err(e) => {
                                tracing::error!(instance = rt.label(), addr = %v.addr, error = format!("{e:#}"), "cannot add virtual address")
                            }
                        }
                    }
                }
                Action::RemoveAddresses => {
                    // Only what we added: an address an administrator put there stays.
                    for (idx, v) in std::mem::take(&mut rt.added) {
                        if let Err(e) = self.edges.remove_address(idx, &v).await {
                            tracing::error!(instance = rt.label(), addr = %v.addr, error = format!("{e:#}"), "cannot remove virtual address");
                        }
                    }
                }
                Action::Announce { count } => {
                    for v in &rt.cfg.virtual_addresses {
                        for _ in 0..count {
                            if let Err(e) = self.edges.announce(rt.tx_ifindex, v.addr) {
                                tracing::warn!(instance = rt.label(), addr = %v.addr, error = %e, "announcement not sent");
                                break;
                            }
                        }
                    }
                }
                Action::Transition { from, to, cause } => {
                    // The master heard: the one we now follow, or the one that went silent.
                    let master = match rt.router.current_master.or(rt.stats.master_heard) {
                        Some((a, p)) => format!("{a} priority {p}"),
                        None => "none heard".to_string(),
                    };
                    tracing::info!(
                        instance = rt.cfg.name.as_str(),
                        iface = rt.cfg.interface.as_str(),
                        vrid = rt.cfg.vrid,
                        from = %from,
                        to = %to,
                        cause = ?cause,
                        priority = rt.router.priority(),
                        master = master.as_str(),
                        "state change"
                    );
                    let at_unix = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map(|d| d.as_secs_f64())
                        .unwrap_or(0.0);
                    rt.stats.transitions += 1;
                    rt.stats.last_transition = Some(crate::status::Transition {
                        from,
                        to,
                        cause,
                        at_unix,
                        at_mono_ns: now,
                    });
                    self.events.publish(json!({
                        "type": "transition",
                        "instance": rt.cfg.name,
                        "interface": rt.cfg.interface,
                        "vrid": rt.cfg.vrid,
                        "from": from,
                        "to": to,
                        "cause": cause,
                        "priority": rt.router.priority(),
                        "at_unix": at_unix,
                    }));
                    let cmds = commands_for(
                        &rt.cfg.notify,
                        "INSTANCE",
                        &rt.cfg.name,
                        to,
                        rt.router.priority(),
                    );
                    let owner = rt.cfg.name.clone();
                    self.notifier.queue(&owner, cmds);
                    let prio = rt.router.priority();
                    let mail = rt.cfg.smtp_alert;
                    self.notify_extras("INSTANCE", &owner, to, prio, mail);
                    if !self.rts[i].cfg.accept {
                        // Entering or leaving Master changes what the filter refuses.
                        self.sync_paths();
                    }
                    self.publish_status();
                }
                Action::ReplySuppressed => {
                    rt.stats.replies_suppressed += 1;
                    tracing::debug!(
                        instance = rt.cfg.name.as_str(),
                        "reply to a lower priority advert rate-limited"
                    );
                }
            }
        }
    }

    /// An event from a receive path: adverts go to their instance; ARP claiming one of a
    /// master's addresses from another MAC is split brain.
    async fn deliver(&mut self, ev: &Event, now: u64) {
        match ev.kind {
            EVENT_ADVERT => self.deliver_advert(ev, now).await,
            EVENT_ARP => self.deliver_arp(ev, now).await,
            _ => {}
        }
    }

    async fn deliver_advert(&mut self, ev: &Event, now: u64) {
        let Some(&i) = self.by_key.get(&(ev.ifindex, ev.vrid, ev.family)) else {
            return;
        };
        let src = event_src(ev);
        let rt = &mut self.rts[i];
        if Some(src) == rt.primary {
            return; // our own advert looped back
        }
        rt.stats.adverts_received += 1;
        if ev.priority > 0 {
            rt.stats.master_heard = Some((src, ev.priority));
        }
        warn_if_peer_differs(rt, ev, src, now);
        if let Some(prev) = rt.stats.last_rx_ts {
            if ev.ts_ns > prev {
                if let Ok(mut h) = self.hist.lock() {
                    h.observe(&rt.cfg.name, (ev.ts_ns - prev) as f64 / 1e9);
                }
            }
        }
        rt.stats.last_rx_ts = Some(ev.ts_ns);
        // How close did this advert come to the Master_Down deadline? The early warning of
        // a master that is late (or a backup that is busy).
        if let Some(deadline) = rt.router.master_down_at() {
            if ev.priority > 0 {
                let margin = (deadline as f64 - ev.ts_ns as f64) / 1e6;
                rt.stats.margin_ms = Some(margin);
                rt.stats.min_margin_ms = Some(
                    rt.stats
                        .min_margin_ms
                        .map_or(margin, |m: f64| m.min(margin)),
                );
            }
        }
        let was_master = rt.router.state() == StateName::Master;
        let input = Input::Advert {
            ts_ns: ev.ts_ns,
            src,
            priority: ev.priority,
            interval_cs: ev.interval_cs,
        };
        self.step(i, input, now).await;
        // Another router claiming Master while we stay Master: split brain (RFC 9568
        // heals it with our immediate advert, which the state machine sent).
        if was_master && ev.priority > 0 && self.rts[i].router.state() == StateName::Master {
            self.split_brain_seen(
                i,
                &format!("advert from {src} priority {}", ev.priority),
                now,
            );
        }
    }

    async fn deliver_arp(&mut self, ev: &Event, now: u64) {
        let sender = addr_from(FAMILY_V4, &ev.src);
        let Some(i) = self.rts.iter().position(|rt| {
            rt.router.state() == StateName::Master
                && rt.ifindex == ev.ifindex
                && rt.cfg.virtual_addresses.iter().any(|v| v.addr == sender)
        }) else {
            return;
        };
        let ours = self.edges.mac_of(self.rts[i].tx_ifindex);
        if ours == Some(ev.mac) {
            return;
        }
        let mac = ev
            .mac
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":");
        if self.split_brain_seen(i, &format!("ARP for {sender} from {mac}"), now) {
            // Refresh caches towards us; rate-limited with the log.
            let actions = vec![Action::Announce { count: 1 }];
            self.apply(i, actions, now).await;
        }
    }

    /// Count a split-brain observation; log and publish it at most every few seconds per
    /// instance. Returns whether it was reported (not rate-limited).
    fn split_brain_seen(&mut self, i: usize, what: &str, now: u64) -> bool {
        self.split_brain += 1;
        let rt = &mut self.rts[i];
        rt.stats.reannounce_until = now + REANNOUNCE_NS;
        if now < rt.stats.split_logged_at + SPLIT_LOG_NS && rt.stats.split_logged_at != 0 {
            return false;
        }
        rt.stats.split_logged_at = now;
        tracing::warn!(
            instance = rt.label(),
            "split brain: we are master and saw {what}"
        );
        self.events.publish(json!({
            "type": "split_brain",
            "instance": rt.cfg.name,
            "interface": rt.cfg.interface,
            "vrid": rt.cfg.vrid,
            "seen": what,
        }));
        true
    }

    /// A receive path returned an error (on the raw-socket path, ENETDOWN when the link
    /// drops): log it at a rate limit and go on; link loss itself arrives through
    /// rtnetlink and faults the instances. A short pause keeps a persistent error from
    /// spinning the loop.
    async fn receive_failed(&mut self, err: &anyhow::Error) {
        let now = monotonic_ns();
        if self.recv_error_logged_at == 0
            || now > self.recv_error_logged_at + REJECT_LOG.as_nanos() as u64
        {
            self.recv_error_logged_at = now;
            tracing::warn!(error = format!("{err:#}"), "receive path error; continuing");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    fn refresh_counters(&mut self) {
        for (ifx, path) in &self.paths {
            if let Ok(now) = path.counters() {
                let last = self.counters.entry(*ifx).or_default();
                log_rejections(*ifx, last, &now);
                *last = now;
            }
        }
    }

    /// Apply what tracking says about instance `i`: effective priority, fault, or still
    /// waiting for a first result (keepalived keeps such an instance in INIT).
    async fn apply_tracking(&mut self, i: usize, now: u64) {
        self.take_tracking_verdict(i, now);
        self.reconcile(i, now).await;
    }

    /// Record tracking's verdict for instance `i` (priority now, health for reconcile).
    fn take_tracking_verdict(&mut self, i: usize, now: u64) {
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
        // SetPriority never yields actions: the new priority shows in the next advert.
        let _ = rt.router.handle(Input::SetPriority(v.priority), now);
        rt.health.track = if v.pending {
            TrackHealth::Pending
        } else if v.fault {
            TrackHealth::Failed
        } else {
            TrackHealth::Ok
        };
    }

    async fn shutdown(&mut self) {
        let now = monotonic_ns();
        for i in 0..self.rts.len() {
            self.rts[i].stopped = true;
            self.step(i, Input::Shutdown, now).await;
        }
        self.edges.remove_vmacs().await;
        self.publish_status();
    }
}

fn transitions(actions: &[Action]) -> Vec<(StateName, StateName, Cause)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Transition { from, to, cause } => Some((*from, *to, *cause)),
            _ => None,
        })
        .collect()
}

/// keepalived logs a peer whose advert carries another address list or interval than
/// ours: it is how a misconfigured pair is found. Rate-limited per instance.
fn warn_if_peer_differs(rt: &mut Runtime, ev: &Event, src: std::net::IpAddr, now: u64) {
    if ev.priority == 0 || ev.kind != EVENT_ADVERT {
        return;
    }
    let mut diffs = Vec::new();
    let ours = rt.cfg.advert_int_cs;
    if ev.interval_cs != ours {
        diffs.push(format!("interval {} cs (ours {ours} cs)", ev.interval_cs));
    }
    let width = if ev.family == FAMILY_V4 { 4 } else { 16 };
    let shown = (ev.addr_count as usize).min(EVENT_ADDR_BYTES / width);
    let theirs: Vec<std::net::IpAddr> = (0..shown)
        .filter_map(|k| {
            let b = &ev.addrs[k * width..(k + 1) * width];
            match width {
                4 => <[u8; 4]>::try_from(b).ok().map(std::net::IpAddr::from),
                _ => <[u8; 16]>::try_from(b).ok().map(std::net::IpAddr::from),
            }
        })
        .collect();
    let mine: Vec<std::net::IpAddr> = rt.cfg.virtual_addresses.iter().map(|v| v.addr).collect();
    if ev.addr_count as usize != mine.len() || theirs.iter().any(|a| !mine.contains(a)) {
        let list = |v: &[std::net::IpAddr]| {
            v.iter()
                .map(|a| a.to_string())
                .collect::<Vec<_>>()
                .join(",")
        };
        diffs.push(format!(
            "addresses [{}] (ours [{}])",
            list(&theirs),
            list(&mine)
        ));
    }
    if diffs.is_empty() {
        return;
    }
    if rt.stats.mismatch_logged_at != 0 && now < rt.stats.mismatch_logged_at + MISMATCH_LOG_NS {
        return;
    }
    rt.stats.mismatch_logged_at = now;
    tracing::warn!(
        instance = rt.label(),
        peer = %src,
        "peer advertises a different configuration: {}; check both routers' files",
        diffs.join(", ")
    );
}

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
                "rejected adverts since the last report: {}",
                parts.join(" ")
            );
        }
    }
}

/// Run the configured instances until SIGINT/SIGTERM.
pub async fn run(config: Config, opts: EngineOptions) -> Result<()> {
    let mut e = Engine::new(config, opts.path).await?;
    let (reload_tx, reload_rx) = mpsc::channel::<ReloadRequest>(4);
    // The control socket is a convenience: without it the routers still run, so a path
    // that cannot be bound is a warning, not a failure. Without it nothing can send
    // reloads over the channel; SIGHUP still works.
    let mut reload_rx = Some(reload_rx);
    let _control = match &opts.control_socket {
        Some(path) => {
            let handles = Handles {
                status: e.status_tx.subscribe(),
                events: e.events.clone(),
                reload: Some(reload_tx),
            };
            match ControlServer::bind(path, handles) {
                Ok(server) => {
                    tracing::info!(socket = %path.display(), "control socket ready");
                    Some(tokio::spawn(server.run()))
                }
                Err(err) => {
                    tracing::warn!(
                        socket = %path.display(),
                        error = format!("{err:#}"),
                        "no control socket; running without status and reload (SIGHUP still reloads)"
                    );
                    None
                }
            }
        }
        None => {
            drop(reload_tx);
            None
        }
    };
    if let Some(addr) = opts.metrics {
        let server =
            crate::control::MetricsServer::bind(addr, e.status_tx.subscribe(), e.hist.clone())
                .await
                .with_context(|| format!("metrics on {addr}"))?;
        tracing::info!(%addr, "serving Prometheus metrics at /metrics");
        tokio::spawn(server.run());
    }
    let mut host = match HostEvents::subscribe() {
        Ok(h) => Some(h),
        Err(err) => {
            tracing::warn!(
                error = format!("{err:#}"),
                "no rtnetlink events; interfaces and addresses are re-read every second"
            );
            None
        }
    };

    let mut sigint = signal(SignalKind::interrupt())?;
    let mut sigterm = signal(SignalKind::terminate())?;
    let mut sighup = signal(SignalKind::hangup())?;
    let mut retry_tick = tokio::time::interval(RETRY_EVERY);
    let mut counter_tick = tokio::time::interval(REJECT_LOG);
    let mut status_tick = tokio::time::interval(STATUS_EVERY);
    let timer = crate::io::timer::PreciseTimer::new()?;

    let now = monotonic_ns();
    for i in 0..e.rts.len() {
        e.take_tracking_verdict(i, now);
        if e.rts[i].health.pending() {
            tracing::info!(
                instance = e.rts[i].label(),
                "waiting for a first tracking result"
            );
        }
    }
    e.reconcile_all(now).await;
    e.publish_status();
    crate::sdnotify::notify(&format!(
        "READY=1\nSTATUS={} instance(s) configured",
        e.rts.len()
    ));
    let watchdog = crate::sdnotify::watchdog_interval();
    let mut watchdog_tick = tokio::time::interval(watchdog.unwrap_or(Duration::from_secs(3600)));

    let mut buf: Vec<Event> = Vec::with_capacity(256);
    let mut resyncs: u64 = 0;
    loop {
        let deadline = e.rts.iter().filter_map(|r| r.router.next_deadline()).min();
        let sleep = async {
            match deadline {
                Some(d) => timer.sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        let wake = {
            let paths = &mut e.paths;
            let recv = async move {
                // select_all refuses an empty list; an engine without instances waits.
                if paths.is_empty() {
                    return std::future::pending::<Result<Vec<Event>>>().await;
                }
                let all = paths.iter_mut().map(|(_, p)| Box::pin(p.next_batch()));
                futures::future::select_all(all).await.0
            };
            let reload = async {
                match reload_rx.as_mut() {
                    Some(rx) => rx.recv().await,
                    None => std::future::pending().await,
                }
            };
            let host_event = async {
                match host.as_mut() {
                    Some(h) => h.next().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                r = recv => Wake::Events(r),
                r = sleep => match r {
                    Ok(()) => Wake::Deadline,
                    Err(err) => {
                        tracing::error!(error = %err, "timer failed; retrying");
                        tokio::time::sleep(Duration::from_millis(1)).await;
                        Wake::Deadline
                    }
                },
                ev = host_event => Wake::Host(ev),
                _ = retry_tick.tick() => Wake::Retry,
                _ = counter_tick.tick() => Wake::Counters,
                _ = status_tick.tick() => Wake::StatusTick,
                _ = watchdog_tick.tick(), if watchdog.is_some() => Wake::Watchdog,
                r = reload => match r {
                    Some(req) => Wake::Reload(Some(req)),
                    None => Wake::ReloadChannelClosed,
                },
                Some(u) = e.track_rx.recv() => Wake::Track(u),
                _ = sighup.recv() => Wake::Reload(None),
                _ = sigint.recv() => Wake::Stop,
                _ = sigterm.recv() => Wake::Stop,
            }
        };
        match wake {
            Wake::Events(Ok(batch)) => {
                let now = monotonic_ns();
                for ev in &batch {
                    e.deliver(ev, now).await;
                }
            }
            Wake::Events(Err(err)) => e.receive_failed(&err).await,
            Wake::Deadline => {
                // Drain first: adverts that already arrived decide before the timer does.
                for (_, p) in e.paths.iter_mut() {
                    if let Err(err) = p.try_recv(&mut buf) {
                        tracing::debug!(error = format!("{err:#}"), "draining a receive path");
                    }
                }
                let now = monotonic_ns();
                for ev in std::mem::take(&mut buf) {
                    e.deliver(&ev, now).await;
                }
                for i in 0..e.rts.len() {
                    if e.rts[i].router.next_deadline().is_some_and(|d| d <= now) {
                        e.step(i, Input::Timer, now).await;
                    }
                }
            }
            Wake::Host(Some(ev)) => e.on_host_event(ev, monotonic_ns()).await,
            Wake::Host(None) => {
                tracing::warn!(
                    "rtnetlink events ended; interfaces and addresses are re-read every second"
                );
                host = None;
            }
            Wake::Retry => {
                // Every few seconds everything, in case a netlink message was dropped;
                // otherwise only what is still waiting.
                resyncs += 1;
                let everything = host.is_none() || resyncs.is_multiple_of(5);
                e.resync(everything, monotonic_ns()).await;
            }
            Wake::Track(update) => {
                let now = monotonic_ns();
                for name in e.tracker.apply(&update) {
                    if let Some(i) = e.rts.iter().position(|r| r.cfg.name == name) {
                        e.apply_tracking(i, now).await;
                    }
                }
            }
            Wake::Counters => e.refresh_counters(),
            Wake::StatusTick => {
                let now = monotonic_ns();
                for i in 0..e.rts.len() {
                    let rt = &e.rts[i];
                    if rt.router.state() == StateName::Master && now < rt.stats.reannounce_until {
                        e.apply(i, vec![Action::Announce { count: 1 }], now).await;
                    }
                }
                e.publish_status();
            }
            // The loop is alive if it gets here: that is what the watchdog asks.
            Wake::Watchdog => {
                crate::sdnotify::notify("WATCHDOG=1");
            }
            Wake::ReloadChannelClosed => reload_rx = None,
            Wake::Reload(request) => {
                crate::sdnotify::notify("RELOADING=1");
                let result = match &opts.config_path {
                    Some(path) => e.reload_from(path).await,
                    None => Err("no configuration file to reload from".to_string()),
                };
                match &result {
                    Ok(()) => tracing::info!("configuration reloaded"),
                    Err(err) => tracing::error!(
                        error = err.as_str(),
                        "reload refused; the running configuration stays"
                    ),
                }
                crate::sdnotify::notify("READY=1");
                if let Some(req) = request {
                    let _ = req.reply.send(result);
                }
            }
            Wake::Stop => break,
        }
    }

    // Shutdown (§6.4.3): masters resign with priority 0 and release their addresses.
    crate::sdnotify::notify("STOPPING=1");
    e.shutdown().await;
    // Let the backups take over before the XDP program is detached: on a host running
    // several routers (labs, benchmarks) the detach holds the kernel's RTNL lock that
    // their address adds wait on. Well inside the 100 ms exit budget.
    tokio::time::sleep(Duration::from_millis(10)).await;
    let notifier = std::mem::take(&mut e.notifier);
    drop(e);
    notifier.drain(Duration::from_secs(2)).await;
    tracing::info!("stopped: addresses released, XDP detached");
    Ok(())
}

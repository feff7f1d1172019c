//! The daemon's driver: one task, one timer structure for every virtual router. It feeds
//! accepted adverts (with kernel arrival times) and expired deadlines into the pure state
//! machines and carries out their actions on the edges: advert sockets, addresses over
//! rtnetlink, gratuitous ARP / unsolicited NA.
//!
//! Before acting on an expired deadline it drains whatever the receive paths already hold,
//! so a process that was stalled while the master kept advertising re-decides on the
//! adverts' real arrival times instead of taking over (DESIGN.md bet 1).

mod adverts;
mod close;
mod deliver;
mod drain;
mod edges;
mod effects;
mod host;
mod loop_turn;
mod observe;
mod receive_state;
mod record;
mod reload;
mod runtime;
mod timings;
mod tracking;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::{mpsc, watch};
use vrrp_ebpf::abi::Event;

use crate::config::model::Config;
use crate::control::{ControlServer, EngineCommand, EventBus, Handles, Histograms, ReloadRequest};
use crate::filter::Counters;
use crate::io::host_events::{HostEvent, HostEvents};
use crate::io::iface;
use crate::io::rawsock::monotonic_ns;
use crate::notify::Notifier;
use crate::proto::node::{Node, NodeInput, NodeSpec};
use crate::receive::{PathOptions, ReceivePath};
use crate::status::Status;
use crate::track::{TrackUpdate, Tracker};
use edges::Edges;
use loop_turn::LoopTurn;
use runtime::*;

/// How often instances still waiting for their interface, address or sockets are
/// retried (netlink events usually resolve them sooner).
const RETRY_EVERY: Duration = Duration::from_secs(1);
/// Counters are read and rejections logged at most this often; the counters carry the
/// volume (DESIGN.md bet 4).
pub(super) const REJECT_LOG: Duration = Duration::from_secs(5);
/// The status snapshot is refreshed at least this often (and on every transition).
const STATUS_EVERY: Duration = Duration::from_secs(1);
/// A peer advertising another address list or interval is logged at most this often.
pub(super) const MISMATCH_LOG_NS: u64 = 60_000_000_000;

pub struct EngineOptions {
    pub path: PathOptions,
    /// The file to re-read on SIGHUP or `vrrp-agent reload`.
    pub config_path: Option<PathBuf>,
    /// Control socket (`None`: none).
    pub control_socket: Option<PathBuf>,
    /// Serve Prometheus metrics here.
    pub metrics: Option<SocketAddr>,
    /// Also serve another exporter's families on the metrics page.
    pub metrics_compat: Option<crate::control::Compat>,
    /// Write every input of the node core to this file (JSON lines), for replay.
    pub record: Option<PathBuf>,
    /// Real-time priority (0: off) and whether to lock memory; applied once start-up (the
    /// XDP load, whose verifier runs in our syscall) is done.
    pub realtime: (i32, bool),
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
    /// SIGXCPU: the real-time guard (RLIMIT_RTTIME) fired.
    RealTimeExceeded,
    Stop,
}

impl Wake {
    fn name(&self) -> &'static str {
        match self {
            Wake::Events(_) => "events",
            Wake::Deadline => "deadline",
            Wake::Retry => "retry",
            Wake::Counters => "counters",
            Wake::StatusTick => "status",
            Wake::Host(_) => "host event",
            Wake::Reload(_) => "reload",
            Wake::ReloadChannelClosed => "reload channel closed",
            Wake::Track(_) => "tracking",
            Wake::Watchdog => "watchdog",
            Wake::RealTimeExceeded => "real-time budget",
            Wake::Stop => "stop",
        }
    }
}

pub struct Engine {
    edges: Edges,
    path_opts: PathOptions,
    config: Config,
    rts: Vec<Runtime>,
    /// One receive path per interface in use.
    paths: Vec<(u32, ReceivePath)>,
    by_key: HashMap<(u32, u8, u8), usize>,
    /// The protocol core: every instance's state machine, health, sync group and split
    /// brain; `rts[i]` is the I/O side of `node`'s instance `i`.
    node: Node,
    /// `--record`: the node's inputs, as they were fed.
    recorder: Option<record::Recorder>,
    status_tx: watch::Sender<Status>,
    events: EventBus,
    hist: Arc<Mutex<Histograms>>,
    notifier: Notifier,
    counters: HashMap<u32, Counters>,
    tracker: Tracker,
    track_rx: mpsc::Receiver<TrackUpdate>,
    /// When a receive error was last logged (rate limit).
    recv_error_logged_at: u64,
}

impl Engine {
    /// Only what every instance needs is fatal here (rtnetlink); an instance whose
    /// interface, address or sockets are missing waits for them in FAULT.
    async fn new(
        config: Config,
        path_opts: PathOptions,
        record: Option<&std::path::Path>,
    ) -> Result<Engine> {
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
            node: Node::default(),
            recorder: None,
            status_tx,
            events: EventBus::default(),
            hist: Arc::new(Mutex::new(Histograms::new())),
            notifier: Notifier::default(),
            counters: HashMap::new(),
            recv_error_logged_at: 0,
        };
        e.rts = config.instances.iter().map(Runtime::new).collect();
        let spec = node_spec(&config);
        if let Some(path) = record {
            e.recorder = Some(record::Recorder::create(path, &spec)?);
        }
        e.node = Node::new(spec);
        e.config = config;
        e.reindex();
        for i in 0..e.rts.len() {
            e.resolve(i, monotonic_ns()).await;
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

    /// Rebuild the receive look-up after the instance list or an interface changed.
    fn reindex(&mut self) {
        self.by_key = self
            .rts
            .iter()
            .enumerate()
            .filter(|(_, r)| r.ifindex != 0)
            .map(|(i, r)| ((r.ifindex, r.cfg.vrid, r.family), i))
            .collect();
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
            let policy = policy_for(ifx, &self.rts, &self.node);
            let result = match self.paths.iter_mut().find(|(i, _)| *i == ifx) {
                Some((_, p)) => p.set_policy(&policy),
                None => {
                    let name = iface::name_of(ifx);
                    // A new path holds no receive state yet: write ours again (and
                    // say again whether it times Master_Down).
                    for rt in self.rts.iter_mut().filter(|r| r.ifindex == ifx) {
                        rt.state_written = None;
                    }
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

    /// Stop every instance (§6.4.3 Shutdown: masters resign with priority 0 and release
    /// their addresses) and remove the vmacs.
    async fn shutdown(&mut self) {
        let now = monotonic_ns();
        for rt in &mut self.rts {
            rt.stopped = true;
        }
        // All at once: every priority-0 advert leaves before any address is removed.
        let stops = (0..self.rts.len())
            .map(|instance| NodeInput::Stop { instance })
            .collect();
        self.feed_all(stops, now).await;
        self.edges.remove_vmacs().await;
        self.publish_status();
    }
}

/// The node core's view of a configuration.
pub(super) fn node_spec(config: &Config) -> NodeSpec {
    NodeSpec {
        instances: config.instances.iter().map(instance_spec).collect(),
        groups: config
            .sync_groups
            .iter()
            .map(|g| g.members.clone())
            .collect(),
    }
}

/// Run the configured instances until SIGINT/SIGTERM.
pub async fn run(config: Config, opts: EngineOptions) -> Result<()> {
    let mut e = Engine::new(config, opts.path, opts.record.as_deref()).await?;
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
                .with_context(|| format!("metrics on {addr}"))?
                .with_compat(opts.metrics_compat, &e.events);
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
    let mut sigxcpu = signal(SignalKind::from_raw(libc::SIGXCPU))?;
    // Real time only now: the XDP program is loaded, and SIGXCPU has a handler.
    crate::realtime::apply_and_log(opts.realtime.0, opts.realtime.1);
    let mut retry_tick = tokio::time::interval(RETRY_EVERY);
    let mut counter_tick = tokio::time::interval(REJECT_LOG);
    let mut status_tick = tokio::time::interval(STATUS_EVERY);
    let timer = crate::io::timer::PreciseTimer::new()?;

    let now = monotonic_ns();
    for i in 0..e.rts.len() {
        e.take_tracking_verdict(i, now).await;
        if e.rts[i].health.pending() {
            tracing::info!(
                instance = e.rts[i].label(),
                "waiting for a first tracking result"
            );
        }
    }
    e.restore_drains(now).await;
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
        // Kernel guard (guard branch, docs/kernel-guard.md): the heartbeat is refreshed from
        // this loop, so it stops when the loop stops turning.
        let now = monotonic_ns();
        e.paths.iter_mut().for_each(|(_, p)| p.heartbeat(now));
        e.edges.new_turn();
        let deadline = e.node.next_deadline();
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
                _ = sigxcpu.recv() => Wake::RealTimeExceeded,
                _ = sigint.recv() => Wake::Stop,
                _ = sigterm.recv() => Wake::Stop,
            }
        };
        let turn = LoopTurn::start(wake.name());
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
                // Then what the paths absorbed: a master that kept speaking restarts
                // Master_Down from its latest arrival instead of being taken over from.
                e.feed_absorbed(now).await;
                e.feed(NodeInput::Timer, now).await;
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
            Wake::StatusTick => e.publish_status(),
            // The loop is alive if it gets here: that is what the watchdog asks.
            Wake::Watchdog => {
                crate::sdnotify::notify("WATCHDOG=1");
            }
            Wake::ReloadChannelClosed => reload_rx = None,
            Wake::RealTimeExceeded => {
                // The loop ran on a CPU for the whole RLIMIT_RTTIME budget without
                // sleeping (a flood it cannot keep up with): the box matters more.
                let result = crate::realtime::drop_to_normal();
                tracing::error!(
                    budget_ms = crate::realtime::RTTIME_SOFT_US / 1000,
                    dropped = result.is_ok(),
                    "real-time budget exceeded without sleeping; back to normal scheduling"
                );
            }
            Wake::Reload(Some(ReloadRequest {
                command: EngineCommand::Drain { instances, soft },
                reply,
            })) => {
                let mode = if soft {
                    drain::DrainMode::Soft
                } else {
                    drain::DrainMode::Hard
                };
                let result = e
                    .drain_command(&instances, Some(mode), monotonic_ns())
                    .await;
                let _ = reply.send(result);
            }
            Wake::Reload(Some(ReloadRequest {
                command: EngineCommand::Undrain { instances },
                reply,
            })) => {
                let result = e.drain_command(&instances, None, monotonic_ns()).await;
                let _ = reply.send(result);
            }
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
        turn.finish(e.node.next_deadline());
    }

    // Shutdown (§6.4.3): masters resign with priority 0 and release their addresses.
    crate::sdnotify::notify("STOPPING=1");
    e.shutdown().await;
    let notifier = std::mem::take(&mut e.notifier);
    // No sleep: the closes that wait do it in parallel, the XDP detach last (close.rs).
    e.close();
    notifier.drain(Duration::from_secs(2)).await;
    tracing::info!("stopped: addresses released, XDP detached");
    Ok(())
}

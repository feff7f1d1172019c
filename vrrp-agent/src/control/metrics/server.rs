//! The `/metrics` HTTP/1.1 server: one request per connection, then close.
//!
//! A fault here must never reach VRRP, so what clients can hold is bounded. At most
//! [`Limits::max_connections`] connections are open at once; when a new one arrives at
//! the limit, the oldest connection still waiting for its request head is closed to make
//! room (a scrape sends its head at once, so an idle client is what waits), and when every
//! connection is busy answering the new one is closed instead. Both are counted. Each
//! connection has [`Limits::io_timeout`] to send its request head and again to take the
//! answer, so no client holds a descriptor for longer than twice the timeout.

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{AbortHandle, Id, JoinSet};

use super::compat::{render_keepalived_exporter, Compat, TransitionTally};
use super::exposition::{Exposition, Num};
use super::histogram::Histograms;
use super::render::render_prometheus;
use crate::control::server::{Delivery, EventBus, Subscription};
use crate::status::Status;

/// The exposition format's media type.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A request head larger than this is refused (a scrape's is a few hundred bytes).
const MAX_HEAD: usize = 8192;

/// Refusals and accept errors are logged at most this often; the counters carry the rest.
const WARN_EVERY: Duration = Duration::from_secs(60);

/// After an accept error (out of descriptors, say) the listener rests this long instead of
/// retrying at once.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// What a client may hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Connections served at once. A few Prometheus servers and an operator's curl need a
    /// handful; the rest is headroom.
    pub max_connections: usize,
    /// Time to send the request head, and then again to take the whole answer.
    pub io_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_connections: 32,
            io_timeout: Duration::from_secs(5),
        }
    }
}

/// The server's own counters, published on the page.
#[derive(Debug, Default)]
struct ConnStats {
    open: AtomicU64,
    refused: AtomicU64,
    timed_out: AtomicU64,
}

/// Everything a page is made from.
struct Sources {
    status: watch::Receiver<Status>,
    hist: Arc<Mutex<Histograms>>,
    compat: Option<Compat>,
    tally: Mutex<TransitionTally>,
    limits: Limits,
    stats: ConnStats,
}

impl Sources {
    fn page(&self) -> String {
        let snapshot = self.status.borrow().clone();
        let mut page = {
            let hist = self.hist.lock().unwrap_or_else(|e| e.into_inner());
            render_prometheus(&snapshot, &hist)
        };
        page.push_str(&self.render_server());
        if self.compat == Some(Compat::KeepalivedExporter) {
            let tally = self.tally.lock().unwrap_or_else(|e| e.into_inner());
            page.push_str(&render_keepalived_exporter(&snapshot, &tally));
        }
        page
    }

    fn render_server(&self) -> String {
        let stats = &self.stats;
        let max = self.limits.max_connections as u64;
        let families = [
            (
                "vrrpx_metrics_connections_open",
                "gauge",
                "Metrics connections being served, this one included.",
                stats.open.load(Ordering::Relaxed),
            ),
            (
                "vrrpx_metrics_connections_max",
                "gauge",
                "Metrics connections served at once; the limit.",
                max,
            ),
            (
                "vrrpx_metrics_connections_refused_total",
                "counter",
                "Metrics connections closed because the limit was reached (the oldest idle one, or the newcomer).",
                stats.refused.load(Ordering::Relaxed),
            ),
            (
                "vrrpx_metrics_connections_timed_out_total",
                "counter",
                "Metrics connections dropped for sending their request or taking the answer too slowly.",
                stats.timed_out.load(Ordering::Relaxed),
            ),
        ];
        let mut out = Exposition::with_capacity(1024);
        for (name, kind, help, value) in families {
            out.family(name, kind, help);
            out.sample(name, &[], Num::Int(value));
        }
        out.into_text()
    }
}

/// Whether serving on `addr` exposes the page beyond this host.
fn is_exposed(addr: SocketAddr) -> bool {
    !addr.ip().to_canonical().is_loopback()
}

/// The bound metrics listener. Dropping it (or the future of [`run`](Self::run)) closes
/// every connection.
pub struct MetricsServer {
    listener: TcpListener,
    sources: Sources,
    events: Option<Subscription>,
}

impl std::fmt::Debug for MetricsServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsServer")
            .field("listener", &self.listener)
            .field("compat", &self.sources.compat)
            .field("limits", &self.sources.limits)
            .finish_non_exhaustive()
    }
}

impl MetricsServer {
    /// Binds `addr`, with the default [`Limits`] and no compatibility families. Warns when
    /// the address is reachable from other hosts: the page names every instance, its
    /// state and its addresses.
    pub async fn bind(
        addr: SocketAddr,
        status: watch::Receiver<Status>,
        hist: Arc<Mutex<Histograms>>,
    ) -> Result<MetricsServer> {
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("metrics listener {addr}"))?;
        if is_exposed(addr) {
            tracing::warn!(
                %addr,
                "metrics are served beyond this host: anyone who reaches the port reads \
                 every instance's state and addresses; bind 127.0.0.1 or filter the port"
            );
        }
        Ok(MetricsServer {
            listener,
            sources: Sources {
                status,
                hist,
                compat: None,
                tally: Mutex::new(TransitionTally::default()),
                limits: Limits::default(),
                stats: ConnStats::default(),
            },
            events: None,
        })
    }

    /// Also serves another exporter's families (`--metrics-compat`). They need counts the
    /// snapshot does not keep (entries into and exits from MASTER), so the server follows
    /// the engine's event bus from now on; without a compat mode it does not subscribe.
    pub fn with_compat(mut self, compat: Option<Compat>, events: &EventBus) -> MetricsServer {
        self.sources.compat = compat;
        self.events = compat.map(|_| events.subscribe());
        self
    }

    pub fn with_limits(mut self, limits: Limits) -> MetricsServer {
        self.sources.limits = Limits {
            max_connections: limits.max_connections.max(1),
            io_timeout: limits.io_timeout,
        };
        self
    }

    /// Where it listens (the port chosen when bound to port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves scrapes until the future is dropped.
    pub async fn run(self) {
        let MetricsServer {
            listener,
            sources,
            mut events,
        } = self;
        let sources = Arc::new(sources);
        let mut conns = Connections::default();
        let mut refusal_log = Throttle::default();
        let mut accept_log = Throttle::default();
        loop {
            tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((stream, peer)) => {
                        conns.reap();
                        if conns.len() >= sources.limits.max_connections {
                            let n = sources.stats.refused.fetch_add(1, Ordering::Relaxed) + 1;
                            if refusal_log.due(WARN_EVERY) {
                                tracing::warn!(
                                    %peer,
                                    limit = sources.limits.max_connections,
                                    closed_total = n,
                                    "metrics: connection limit reached; closing idle or new connections"
                                );
                            }
                            if !conns.evict_idle() {
                                drop(stream);
                                continue;
                            }
                        }
                        conns.spawn(stream, peer, sources.clone());
                    }
                    Err(e) => {
                        if accept_log.due(WARN_EVERY) {
                            tracing::warn!("metrics accept: {e}");
                        }
                        tokio::time::sleep(ACCEPT_BACKOFF).await;
                    }
                },
                Some(done) = conns.set.join_next_with_id(), if !conns.set.is_empty() => {
                    conns.forget(done);
                }
                delivery = next_event(&mut events), if events.is_some() => {
                    let mut tally = sources.tally.lock().unwrap_or_else(|e| e.into_inner());
                    match delivery {
                        Some(Delivery::Event { line, .. }) => tally.record_event(&line),
                        Some(Delivery::Lost { count, .. }) => {
                            tally.note_lost(count);
                            tracing::warn!(
                                lost = count,
                                "metrics: fell behind the event stream; become/release \
                                 master counts are low by up to that many"
                            );
                        }
                        None => events = None,
                    }
                }
            }
        }
    }
}

/// The open connections, oldest first, each with whether it still waits for its head.
#[derive(Default)]
struct Connections {
    set: JoinSet<()>,
    order: VecDeque<(Id, AbortHandle, Arc<AtomicBool>)>,
}

impl Connections {
    fn len(&self) -> usize {
        self.order.len()
    }

    fn spawn(&mut self, stream: TcpStream, peer: SocketAddr, sources: Arc<Sources>) {
        let waiting = Arc::new(AtomicBool::new(true));
        let w = waiting.clone();
        let abort = self.set.spawn(async move {
            let _open = OpenGuard::new(&sources.stats.open);
            match answer(stream, &sources, &w).await {
                Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                    sources.stats.timed_out.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(%peer, "metrics connection: {e}");
                }
                Err(e) => tracing::debug!(%peer, "metrics connection: {e}"),
                Ok(()) => {}
            }
        });
        self.order.push_back((abort.id(), abort, waiting));
    }

    /// Drops what has finished so the count is of live connections.
    fn reap(&mut self) {
        while let Some(done) = self.set.try_join_next_with_id() {
            self.forget(done);
        }
    }

    fn forget(&mut self, done: Result<(Id, ()), tokio::task::JoinError>) {
        let id = match done {
            Ok((id, ())) => id,
            Err(e) => e.id(),
        };
        self.order.retain(|(i, _, _)| *i != id);
    }

    /// Closes the oldest connection that has not sent its request head yet; false if
    /// every connection is past that.
    fn evict_idle(&mut self) -> bool {
        let Some(pos) = self
            .order
            .iter()
            .position(|(_, _, waiting)| waiting.load(Ordering::Relaxed))
        else {
            return false;
        };
        if let Some((_, abort, _)) = self.order.remove(pos) {
            abort.abort();
        }
        true
    }
}

/// Counts a connection as open for as long as its task lives, even when it is aborted.
struct OpenGuard<'a>(&'a AtomicU64);

impl<'a> OpenGuard<'a> {
    fn new(open: &'a AtomicU64) -> OpenGuard<'a> {
        open.fetch_add(1, Ordering::Relaxed);
        OpenGuard(open)
    }
}

impl Drop for OpenGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

async fn next_event(events: &mut Option<Subscription>) -> Option<Delivery> {
    match events {
        Some(sub) => sub.recv().await,
        None => std::future::pending().await,
    }
}

/// Says when a repeated warning is due again.
#[derive(Default)]
struct Throttle {
    last: Option<Instant>,
}

impl Throttle {
    fn due(&mut self, every: Duration) -> bool {
        let now = Instant::now();
        match self.last {
            Some(t) if now.duration_since(t) < every => false,
            _ => {
                self.last = Some(now);
                true
            }
        }
    }
}

/// Serves `GET /metrics` on `addr` until the future is dropped; fails only if it cannot
/// bind.
pub async fn serve_metrics(
    addr: SocketAddr,
    status: watch::Receiver<Status>,
    hist: Arc<Mutex<Histograms>>,
) -> Result<()> {
    MetricsServer::bind(addr, status, hist).await?.run().await;
    Ok(())
}

/// Reads up to the blank line ending the request head; `None` if the client hung up.
async fn read_head(stream: &mut TcpStream) -> io::Result<Option<Vec<u8>>> {
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(None);
        }
        head.extend_from_slice(&buf[..n]);
        if head.windows(4).any(|w| w == b"\r\n\r\n") || head.windows(2).any(|w| w == b"\n\n") {
            return Ok(Some(head));
        }
        if head.len() > MAX_HEAD {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "request head too large",
            ));
        }
    }
}

/// Status line, extra headers and body for a request line.
fn route(
    request_line: &str,
    page: impl FnOnce() -> String,
) -> (&'static str, &'static str, String) {
    let mut parts = request_line.split_ascii_whitespace();
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return ("400 Bad Request", "", "bad request\n".into());
    };
    if !version.starts_with("HTTP/1.") {
        return (
            "505 HTTP Version Not Supported",
            "",
            "HTTP/1.x only\n".into(),
        );
    }
    let path = target.split('?').next().unwrap_or(target);
    match (method, path) {
        ("GET" | "HEAD", "/metrics") => ("200 OK", "", page()),
        (_, "/metrics") => (
            "405 Method Not Allowed",
            "Allow: GET, HEAD\r\n",
            "method not allowed\n".into(),
        ),
        _ => ("404 Not Found", "", "not found; try /metrics\n".into()),
    }
}

/// `what` must finish within `limit`, or the connection fails with `TimedOut`.
async fn within<T>(
    limit: Duration,
    what: &str,
    step: impl std::future::Future<Output = io::Result<T>>,
) -> io::Result<T> {
    match tokio::time::timeout(limit, step).await {
        Ok(result) => result,
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("{what} took longer than {limit:?}"),
        )),
    }
}

/// Answers one request and closes the connection.
async fn answer(mut stream: TcpStream, sources: &Sources, waiting: &AtomicBool) -> io::Result<()> {
    let limit = sources.limits.io_timeout;
    let head = within(limit, "the request head", read_head(&mut stream)).await?;
    waiting.store(false, Ordering::Relaxed);
    let Some(head) = head else { return Ok(()) };
    let head = String::from_utf8_lossy(&head);
    let request_line = head.lines().next().unwrap_or("");
    let is_head = request_line.starts_with("HEAD ");
    let (code, extra, body) = route(request_line, || sources.page());
    let content_type = if code.starts_with("200") {
        CONTENT_TYPE
    } else {
        "text/plain; charset=utf-8"
    };
    let mut response = format!(
        "HTTP/1.1 {code}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n",
        body.len()
    );
    if !is_head {
        response.push_str(&body);
    }
    within(limit, "sending the answer", async {
        stream.write_all(response.as_bytes()).await?;
        stream.shutdown().await
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_routed() {
        let page = || "PAGE".to_string();
        assert_eq!(
            route("GET /metrics HTTP/1.1", page),
            ("200 OK", "", "PAGE".into())
        );
        assert_eq!(route("GET /metrics?x=1 HTTP/1.0", page).0, "200 OK");
        assert_eq!(route("HEAD /metrics HTTP/1.1", page).0, "200 OK");
        assert_eq!(route("GET / HTTP/1.1", page).0, "404 Not Found");
        assert_eq!(route("GET /metricsx HTTP/1.1", page).0, "404 Not Found");
        let (code, allow, _) = route("POST /metrics HTTP/1.1", page);
        assert_eq!(
            (code, allow),
            ("405 Method Not Allowed", "Allow: GET, HEAD\r\n")
        );
        assert_eq!(route("garbage", page).0, "400 Bad Request");
        assert_eq!(
            route("GET /metrics HTTP/2", page).0,
            "505 HTTP Version Not Supported"
        );
    }

    #[test]
    fn only_loopback_addresses_count_as_private() {
        for private in [
            "127.0.0.1:9650",
            "127.8.9.10:1",
            "[::1]:9650",
            "[::ffff:127.0.0.1]:1",
        ] {
            assert!(!is_exposed(private.parse().unwrap()), "{private}");
        }
        for exposed in [
            "0.0.0.0:9650",
            "10.0.0.1:9650",
            "[::]:9650",
            "[2001:db8::1]:1",
        ] {
            assert!(is_exposed(exposed.parse().unwrap()), "{exposed}");
        }
    }

    #[test]
    fn a_repeated_warning_is_due_once_per_period() {
        let mut t = Throttle::default();
        assert!(t.due(Duration::from_secs(60)));
        assert!(!t.due(Duration::from_secs(60)));
        assert!(t.due(Duration::ZERO));
    }
}

//! `/metrics`: the status snapshot and the advert inter-arrival histograms in the
//! Prometheus text exposition format 0.0.4, over a minimal HTTP/1.1 server.
//!
//! Every per-instance series carries the same labels, `instance`, `interface` and `vrid`,
//! so they join without `on(...)` clauses.

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::proto::router::StateName;
use crate::status::{InstanceStatus, Status};

// ---------------------------------------------------------------------------------------
// Inter-arrival histograms

/// Upper bounds (seconds) of the inter-arrival buckets. Advert intervals run from 10 ms
/// (1 cs, the v3 minimum) to a few seconds; the 1 ms..50 ms buckets show bursts and
/// sub-interval duplicates, and the dense run around 1 s resolves jitter at the default
/// interval, where most deployments sit.
pub const INTERARRIVAL_BUCKETS: [f64; 20] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0, 1.1, 1.25, 1.5, 2.0,
    2.5, 3.0, 4.0, 5.0,
];

/// One instance's advert inter-arrival distribution.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Histogram {
    /// Observations per bucket (not cumulative); the last slot is above the largest bound.
    counts: [u64; INTERARRIVAL_BUCKETS.len() + 1],
    sum: f64,
    count: u64,
}

impl Histogram {
    pub fn observe(&mut self, seconds: f64) {
        // A negative or non-finite gap is a clock bug upstream; it must not poison _sum.
        if !seconds.is_finite() || seconds < 0.0 {
            return;
        }
        let slot = INTERARRIVAL_BUCKETS.partition_point(|&le| le < seconds);
        self.counts[slot] += 1;
        self.sum += seconds;
        self.count += 1;
    }

    /// `(upper bound, observations at or below it)` for each bucket, ending with +Inf.
    pub fn cumulative(&self) -> impl Iterator<Item = (f64, u64)> + '_ {
        let bounds = INTERARRIVAL_BUCKETS.iter().copied().chain([f64::INFINITY]);
        bounds.zip(self.counts.iter().scan(0u64, |acc, &n| {
            *acc += n;
            Some(*acc)
        }))
    }

    pub fn sum(&self) -> f64 {
        self.sum
    }

    pub fn count(&self) -> u64 {
        self.count
    }
}

/// The inter-arrival histograms of all instances, by instance name. The engine observes
/// the gap between consecutive adverts' kernel timestamps; the metrics endpoint reads.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Histograms {
    by_instance: BTreeMap<String, Histogram>,
}

impl Histograms {
    pub fn new() -> Histograms {
        Histograms::default()
    }

    /// One gap between adverts heard by `instance`, in seconds.
    pub fn observe(&mut self, instance: &str, seconds: f64) {
        match self.by_instance.get_mut(instance) {
            Some(h) => h.observe(seconds),
            None => self
                .by_instance
                .entry(instance.to_owned())
                .or_default()
                .observe(seconds),
        }
    }

    pub fn get(&self, instance: &str) -> Option<&Histogram> {
        self.by_instance.get(instance)
    }

    /// Drops an instance's histogram (after a reload removed the instance).
    pub fn forget(&mut self, instance: &str) {
        self.by_instance.remove(instance);
    }
}

// ---------------------------------------------------------------------------------------
// Exposition

/// Every state an instance can be in, each exported as its own series.
const STATES: [StateName; 4] = [
    StateName::Initialize,
    StateName::Backup,
    StateName::Master,
    StateName::Fault,
];

/// A sample value in the exposition format: integers as is, floats with the format's
/// spelling of infinities.
enum Num {
    Int(u64),
    Float(f64),
}

impl fmt::Display for Num {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Num::Int(n) => write!(f, "{n}"),
            Num::Float(x) if x.is_nan() => f.write_str("NaN"),
            Num::Float(x) if x == f64::INFINITY => f.write_str("+Inf"),
            Num::Float(x) if x == f64::NEG_INFINITY => f.write_str("-Inf"),
            Num::Float(x) => write!(f, "{x}"),
        }
    }
}

/// A label value with `\`, `"` and newline escaped as the format requires.
pub fn escape_label_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// Builds the exposition text: a family's HELP and TYPE, then its samples together.
struct Exposition {
    text: String,
}

impl Exposition {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        // HELP text escapes only backslash and newline; ours has neither.
        let _ = writeln!(self.text, "# HELP {name} {help}");
        let _ = writeln!(self.text, "# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: Num) {
        self.text.push_str(name);
        if !labels.is_empty() {
            self.text.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.text.push(',');
                }
                let _ = write!(self.text, "{k}=\"{}\"", escape_label_value(v));
            }
            self.text.push('}');
        }
        let _ = writeln!(self.text, " {value}");
    }

    /// One sample per instance, labelled `instance`, `interface`, `vrid` (plus `extra`).
    fn per_instance<'s>(
        &mut self,
        name: &str,
        instances: &'s [InstanceStatus],
        value: impl Fn(&'s InstanceStatus) -> Option<Num>,
    ) {
        for i in instances {
            if let Some(v) = value(i) {
                let vrid = i.vrid.to_string();
                self.sample(name, &instance_labels(i, &vrid), v);
            }
        }
    }
}

fn instance_labels<'a>(i: &'a InstanceStatus, vrid: &'a str) -> [(&'static str, &'a str); 3] {
    [
        ("instance", &i.name),
        ("interface", &i.interface),
        ("vrid", vrid),
    ]
}

fn seconds_cs(cs: u16) -> Num {
    Num::Float(f64::from(cs) / 100.0)
}

/// The whole `/metrics` page. Instances appear in the order of `status.instances`; each
/// has a histogram series even before its first observation.
pub fn render_prometheus(status: &Status, hist: &Histograms) -> String {
    let mut out = Exposition {
        text: String::with_capacity(4096 + 2048 * status.instances.len()),
    };
    let inst = &status.instances;

    out.family(
        "vrrpx_build_info",
        "gauge",
        "The running vrrp-agent version, as a label; always 1.",
    );
    out.sample(
        "vrrpx_build_info",
        &[("version", &status.version)],
        Num::Int(1),
    );

    out.family(
        "vrrpx_instance_state",
        "gauge",
        "1 for the state the VRRP instance is in, 0 for the others.",
    );
    for i in inst {
        let vrid = i.vrid.to_string();
        for s in STATES {
            let name = s.to_string().to_ascii_lowercase();
            let [a, b, c] = instance_labels(i, &vrid);
            out.sample(
                "vrrpx_instance_state",
                &[a, b, c, ("state", &name)],
                Num::Int(u64::from(i.state == s)),
            );
        }
    }

    out.family(
        "vrrpx_instance_priority",
        "gauge",
        "VRRP priority: kind=\"base\" as configured, kind=\"effective\" after tracking.",
    );
    for i in inst {
        let vrid = i.vrid.to_string();
        let [a, b, c] = instance_labels(i, &vrid);
        for (kind, p) in [
            ("base", i.base_priority),
            ("effective", i.effective_priority),
        ] {
            out.sample(
                "vrrpx_instance_priority",
                &[a, b, c, ("kind", kind)],
                Num::Int(u64::from(p)),
            );
        }
    }

    out.family(
        "vrrpx_master_priority",
        "gauge",
        "Priority of the master this instance hears, when it hears one.",
    );
    out.per_instance("vrrpx_master_priority", inst, |i| {
        i.master.map(|(_, p)| Num::Int(u64::from(p)))
    });

    out.family(
        "vrrpx_advert_interval_seconds",
        "gauge",
        "Configured advertisement interval.",
    );
    out.per_instance("vrrpx_advert_interval_seconds", inst, |i| {
        Some(seconds_cs(i.advert_interval_cs))
    });

    out.family(
        "vrrpx_master_advert_interval_seconds",
        "gauge",
        "Master_Adver_Interval learned from the master's adverts.",
    );
    out.per_instance("vrrpx_master_advert_interval_seconds", inst, |i| {
        Some(seconds_cs(i.master_adver_interval_cs))
    });

    out.family(
        "vrrpx_transitions_total",
        "counter",
        "State transitions of the instance.",
    );
    out.per_instance("vrrpx_transitions_total", inst, |i| {
        Some(Num::Int(i.transitions))
    });

    out.family(
        "vrrpx_last_transition_timestamp_seconds",
        "gauge",
        "Unix time of the instance's latest state transition.",
    );
    out.per_instance("vrrpx_last_transition_timestamp_seconds", inst, |i| {
        i.last_transition.as_ref().map(|t| Num::Float(t.at_unix))
    });

    out.family(
        "vrrpx_adverts_sent_total",
        "counter",
        "VRRP advertisements sent.",
    );
    out.per_instance("vrrpx_adverts_sent_total", inst, |i| {
        Some(Num::Int(i.adverts_sent))
    });

    out.family(
        "vrrpx_adverts_received_total",
        "counter",
        "VRRP advertisements received that passed the receive checks.",
    );
    out.per_instance("vrrpx_adverts_received_total", inst, |i| {
        Some(Num::Int(i.adverts_received))
    });

    out.family(
        "vrrpx_timer_margin_seconds",
        "gauge",
        "While backup: how long before the Master_Down deadline the latest advert arrived.",
    );
    out.per_instance("vrrpx_timer_margin_seconds", inst, |i| {
        i.timer_margin_ms.map(|ms| Num::Float(ms / 1000.0))
    });

    out.family(
        "vrrpx_timer_margin_min_seconds",
        "gauge",
        "Smallest timer margin seen since the daemon started.",
    );
    out.per_instance("vrrpx_timer_margin_min_seconds", inst, |i| {
        i.min_timer_margin_ms.map(|ms| Num::Float(ms / 1000.0))
    });

    let name = "vrrpx_advert_interarrival_seconds";
    out.family(
        name,
        "histogram",
        "Time between consecutive adverts heard, from kernel receive timestamps.",
    );
    let empty = Histogram::default();
    for i in inst {
        let h = hist.get(&i.name).unwrap_or(&empty);
        let vrid = i.vrid.to_string();
        let labels = instance_labels(i, &vrid);
        let [a, b, c] = labels;
        for (le, n) in h.cumulative() {
            let le = Num::Float(le).to_string();
            out.sample(
                "vrrpx_advert_interarrival_seconds_bucket",
                &[a, b, c, ("le", &le)],
                Num::Int(n),
            );
        }
        out.sample(
            "vrrpx_advert_interarrival_seconds_sum",
            &labels,
            Num::Float(h.sum()),
        );
        out.sample(
            "vrrpx_advert_interarrival_seconds_count",
            &labels,
            Num::Int(h.count()),
        );
    }

    out.family(
        "vrrpx_rejected_adverts_total",
        "counter",
        "Adverts dropped by the receive checks, by interface and reason (all VRIDs).",
    );
    for (iface, reasons) in &status.rejections {
        for (reason, n) in reasons {
            out.sample(
                "vrrpx_rejected_adverts_total",
                &[("interface", iface), ("reason", reason)],
                Num::Int(*n),
            );
        }
    }

    out.family(
        "vrrpx_receive_path_info",
        "gauge",
        "How adverts are received on each interface, as a label; always 1.",
    );
    for (iface, path) in &status.receive_paths {
        out.sample(
            "vrrpx_receive_path_info",
            &[("interface", iface), ("path", path)],
            Num::Int(1),
        );
    }

    // Only when something is tracked: a page without tracking has no empty family.
    if status.instances.iter().any(|i| !i.tracks.is_empty()) {
        out.family(
            "vrrpx_track_up",
            "gauge",
            "Tracked items: 1 up, 0 down (scripts not run yet are absent).",
        );
        for i in &status.instances {
            let vrid = i.vrid.to_string();
            for t in &i.tracks {
                if let Some(up) = t.up {
                    out.sample(
                        "vrrpx_track_up",
                        &[
                            ("instance", &i.name),
                            ("interface", &i.interface),
                            ("vrid", &vrid),
                            ("track", &t.name),
                            ("kind", &t.kind),
                        ],
                        Num::Int(up as u64),
                    );
                }
            }
        }
    }
    if status.instances.iter().any(|i| i.replies_suppressed > 0) {
        out.family(
            "vrrpx_replies_suppressed_total",
            "counter",
            "Immediate replies to lower-priority adverts held back by the rate limit.",
        );
        for i in &status.instances {
            let vrid = i.vrid.to_string();
            out.sample(
                "vrrpx_replies_suppressed_total",
                &[
                    ("instance", &i.name),
                    ("interface", &i.interface),
                    ("vrid", &vrid),
                ],
                Num::Int(i.replies_suppressed),
            );
        }
    }

    out.family(
        "vrrpx_split_brain_events_total",
        "counter",
        "Times a master heard another master or a foreign ARP reply for a virtual address.",
    );
    out.sample(
        "vrrpx_split_brain_events_total",
        &[],
        Num::Int(status.split_brain_events),
    );

    out.text
}

// ---------------------------------------------------------------------------------------
// HTTP

/// The exposition format's media type.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A request head larger than this is refused (a scrape's is a few hundred bytes).
const MAX_HEAD: usize = 8192;

/// A client that has not sent its request head by then is dropped.
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);

/// The bound metrics listener. Dropping it (or the future of [`run`](Self::run)) closes
/// every connection.
#[derive(Debug)]
pub struct MetricsServer {
    listener: TcpListener,
    status: watch::Receiver<Status>,
    hist: Arc<Mutex<Histograms>>,
}

impl MetricsServer {
    pub async fn bind(
        addr: SocketAddr,
        status: watch::Receiver<Status>,
        hist: Arc<Mutex<Histograms>>,
    ) -> Result<MetricsServer> {
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("metrics listener {addr}"))?;
        Ok(MetricsServer {
            listener,
            status,
            hist,
        })
    }

    /// Where it listens (the port chosen when bound to port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves scrapes until the future is dropped.
    pub async fn run(self) {
        let mut conns = JoinSet::new();
        loop {
            tokio::select! {
                accepted = self.listener.accept() => match accepted {
                    Ok((stream, peer)) => {
                        let status = self.status.clone();
                        let hist = self.hist.clone();
                        conns.spawn(async move {
                            if let Err(e) = answer(stream, &status, &hist).await {
                                tracing::debug!(%peer, "metrics connection: {e}");
                            }
                        });
                    }
                    Err(e) => {
                        tracing::warn!("metrics accept: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                },
                Some(_) = conns.join_next(), if !conns.is_empty() => {}
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

/// Answers one request and closes the connection.
async fn answer(
    mut stream: TcpStream,
    status: &watch::Receiver<Status>,
    hist: &Mutex<Histograms>,
) -> io::Result<()> {
    let head = match tokio::time::timeout(HEAD_TIMEOUT, read_head(&mut stream)).await {
        Ok(head) => head?,
        Err(_) => return Ok(()),
    };
    let Some(head) = head else { return Ok(()) };
    let head = String::from_utf8_lossy(&head);
    let request_line = head.lines().next().unwrap_or("");
    let is_head = request_line.starts_with("HEAD ");
    let (code, extra, body) = route(request_line, || {
        let snapshot = status.borrow().clone();
        let hist = hist.lock().unwrap_or_else(|e| e.into_inner());
        render_prometheus(&snapshot, &hist)
    });
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
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::router::Cause;
    use crate::status::Transition;
    use std::net::{IpAddr, Ipv4Addr};

    fn instance() -> InstanceStatus {
        InstanceStatus {
            name: "VI_1".into(),
            interface: "eth0".into(),
            vrid: 51,
            family: "ipv4".into(),
            version: 3,
            state: StateName::Backup,
            base_priority: 100,
            effective_priority: 80,
            priority_reasons: vec!["chk_nginx down: -20".into()],
            master: Some((IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 150)),
            advert_interval_cs: 100,
            master_adver_interval_cs: 50,
            last_transition: Some(Transition {
                from: StateName::Initialize,
                to: StateName::Backup,
                cause: Cause::Startup,
                at_unix: 1_700_000_000.5,
                at_mono_ns: 42,
            }),
            transitions: 1,
            adverts_sent: 0,
            adverts_received: 1234,
            timer_margin_ms: Some(812.5),
            min_timer_margin_ms: Some(790.25),
            virtual_addresses: vec!["10.0.0.100/24".into()],
            tracks: vec![],
            replies_suppressed: 0,
            drained: None,
        }
    }

    fn status() -> Status {
        Status {
            version: "0.1.0".into(),
            pid: 4242,
            receive_paths: [("eth0".to_string(), "xdp (driver)".to_string())].into(),
            instances: vec![instance()],
            rejections: [(
                "eth0".to_string(),
                [("bad_ttl".to_string(), 3), ("wrong_vrid".to_string(), 5)].into(),
            )]
            .into(),
            split_brain_events: 2,
        }
    }

    const L: &str = r#"instance="VI_1",interface="eth0",vrid="51""#;

    fn expected_page() -> String {
        let mut want = String::new();
        let mut line = |s: &str| {
            want.push_str(s);
            want.push('\n');
        };
        line("# HELP vrrpx_build_info The running vrrp-agent version, as a label; always 1.");
        line("# TYPE vrrpx_build_info gauge");
        line(r#"vrrpx_build_info{version="0.1.0"} 1"#);
        line("# HELP vrrpx_instance_state 1 for the state the VRRP instance is in, 0 for the others.");
        line("# TYPE vrrpx_instance_state gauge");
        line(&format!(r#"vrrpx_instance_state{{{L},state="init"}} 0"#));
        line(&format!(r#"vrrpx_instance_state{{{L},state="backup"}} 1"#));
        line(&format!(r#"vrrpx_instance_state{{{L},state="master"}} 0"#));
        line(&format!(r#"vrrpx_instance_state{{{L},state="fault"}} 0"#));
        line(
            r#"# HELP vrrpx_instance_priority VRRP priority: kind="base" as configured, kind="effective" after tracking."#,
        );
        line("# TYPE vrrpx_instance_priority gauge");
        line(&format!(
            r#"vrrpx_instance_priority{{{L},kind="base"}} 100"#
        ));
        line(&format!(
            r#"vrrpx_instance_priority{{{L},kind="effective"}} 80"#
        ));
        line("# HELP vrrpx_master_priority Priority of the master this instance hears, when it hears one.");
        line("# TYPE vrrpx_master_priority gauge");
        line(&format!("vrrpx_master_priority{{{L}}} 150"));
        line("# HELP vrrpx_advert_interval_seconds Configured advertisement interval.");
        line("# TYPE vrrpx_advert_interval_seconds gauge");
        line(&format!("vrrpx_advert_interval_seconds{{{L}}} 1"));
        line("# HELP vrrpx_master_advert_interval_seconds Master_Adver_Interval learned from the master's adverts.");
        line("# TYPE vrrpx_master_advert_interval_seconds gauge");
        line(&format!("vrrpx_master_advert_interval_seconds{{{L}}} 0.5"));
        line("# HELP vrrpx_transitions_total State transitions of the instance.");
        line("# TYPE vrrpx_transitions_total counter");
        line(&format!("vrrpx_transitions_total{{{L}}} 1"));
        line("# HELP vrrpx_last_transition_timestamp_seconds Unix time of the instance's latest state transition.");
        line("# TYPE vrrpx_last_transition_timestamp_seconds gauge");
        line(&format!(
            "vrrpx_last_transition_timestamp_seconds{{{L}}} 1700000000.5"
        ));
        line("# HELP vrrpx_adverts_sent_total VRRP advertisements sent.");
        line("# TYPE vrrpx_adverts_sent_total counter");
        line(&format!("vrrpx_adverts_sent_total{{{L}}} 0"));
        line("# HELP vrrpx_adverts_received_total VRRP advertisements received that passed the receive checks.");
        line("# TYPE vrrpx_adverts_received_total counter");
        line(&format!("vrrpx_adverts_received_total{{{L}}} 1234"));
        line("# HELP vrrpx_timer_margin_seconds While backup: how long before the Master_Down deadline the latest advert arrived.");
        line("# TYPE vrrpx_timer_margin_seconds gauge");
        line(&format!("vrrpx_timer_margin_seconds{{{L}}} 0.8125"));
        line("# HELP vrrpx_timer_margin_min_seconds Smallest timer margin seen since the daemon started.");
        line("# TYPE vrrpx_timer_margin_min_seconds gauge");
        line(&format!("vrrpx_timer_margin_min_seconds{{{L}}} 0.79025"));
        line("# HELP vrrpx_advert_interarrival_seconds Time between consecutive adverts heard, from kernel receive timestamps.");
        line("# TYPE vrrpx_advert_interarrival_seconds histogram");
        // Observed: 0.5, 1.0 (on a bound: counts in le="1"), 1.0625, 7.0 (above all bounds).
        let cumulative = [
            ("0.001", 0),
            ("0.0025", 0),
            ("0.005", 0),
            ("0.01", 0),
            ("0.025", 0),
            ("0.05", 0),
            ("0.1", 0),
            ("0.25", 0),
            ("0.5", 1),
            ("0.75", 1),
            ("0.9", 1),
            ("1", 2),
            ("1.1", 3),
            ("1.25", 3),
            ("1.5", 3),
            ("2", 3),
            ("2.5", 3),
            ("3", 3),
            ("4", 3),
            ("5", 3),
            ("+Inf", 4),
        ];
        for (le, n) in cumulative {
            line(&format!(
                r#"vrrpx_advert_interarrival_seconds_bucket{{{L},le="{le}"}} {n}"#
            ));
        }
        line(&format!(
            "vrrpx_advert_interarrival_seconds_sum{{{L}}} 9.5625"
        ));
        line(&format!("vrrpx_advert_interarrival_seconds_count{{{L}}} 4"));
        line("# HELP vrrpx_rejected_adverts_total Adverts dropped by the receive checks, by interface and reason (all VRIDs).");
        line("# TYPE vrrpx_rejected_adverts_total counter");
        line(r#"vrrpx_rejected_adverts_total{interface="eth0",reason="bad_ttl"} 3"#);
        line(r#"vrrpx_rejected_adverts_total{interface="eth0",reason="wrong_vrid"} 5"#);
        line("# HELP vrrpx_receive_path_info How adverts are received on each interface, as a label; always 1.");
        line("# TYPE vrrpx_receive_path_info gauge");
        line(r#"vrrpx_receive_path_info{interface="eth0",path="xdp (driver)"} 1"#);
        line("# HELP vrrpx_split_brain_events_total Times a master heard another master or a foreign ARP reply for a virtual address.");
        line("# TYPE vrrpx_split_brain_events_total counter");
        line("vrrpx_split_brain_events_total 2");
        want
    }

    #[test]
    fn tracked_items_and_suppressed_replies_appear_only_when_present() {
        let mut st = status();
        let page = render_prometheus(&st, &Histograms::new());
        assert!(!page.contains("vrrpx_track_up"));
        assert!(!page.contains("vrrpx_replies_suppressed_total"));
        st.instances[0].tracks = vec![crate::status::TrackResult {
            name: "chk_nginx".into(),
            kind: "script".into(),
            up: Some(false),
        }];
        st.instances[0].replies_suppressed = 7;
        let page = render_prometheus(&st, &Histograms::new());
        check_exposition(&page);
        assert!(
            page.contains(r#"track="chk_nginx",kind="script"} 0"#),
            "{page}"
        );
        assert!(page
            .lines()
            .any(|l| l.starts_with("vrrpx_replies_suppressed_total{") && l.ends_with("} 7")));
    }

    #[test]
    fn the_page_matches_line_for_line() {
        let mut hist = Histograms::new();
        for s in [0.5, 1.0, 1.0625, 7.0] {
            hist.observe("VI_1", s);
        }
        let got = render_prometheus(&status(), &hist);
        let want = expected_page();
        for (n, (g, w)) in got.lines().zip(want.lines()).enumerate() {
            assert_eq!(g, w, "line {}", n + 1);
        }
        assert_eq!(got.lines().count(), want.lines().count());
        assert_eq!(got, want);
    }

    /// A small reader of the text format: every family declared once, its samples right
    /// after its TYPE, names and label syntax valid, values parseable.
    fn check_exposition(text: &str) {
        let mut declared = std::collections::HashSet::new();
        let mut current: Option<(String, String)> = None;
        assert!(text.ends_with('\n'));
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').unwrap();
                assert!(declared.insert(name.to_string()), "{name} declared twice");
                current = Some((name.to_string(), kind.to_string()));
                continue;
            }
            if line.starts_with("# HELP ") {
                continue;
            }
            let (family, kind) = current.as_ref().expect("sample before any TYPE");
            let name_end = line.find(['{', ' ']).unwrap();
            let name = &line[..name_end];
            assert!(
                name.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
                "{line}"
            );
            let ok = match kind.as_str() {
                "histogram" => [
                    format!("{family}_bucket"),
                    format!("{family}_sum"),
                    format!("{family}_count"),
                ]
                .contains(&name.to_string()),
                _ => name == family,
            };
            assert!(ok, "{name} outside its family {family}: {line}");
            if kind == "counter" {
                assert!(name.ends_with("_total"), "{name}");
            }
            let value = line.rsplit_once(' ').unwrap().1;
            assert!(
                matches!(value, "+Inf" | "-Inf" | "NaN") || value.parse::<f64>().is_ok(),
                "{line}"
            );
        }
    }

    #[test]
    fn the_page_is_well_formed_with_several_instances_and_no_data() {
        let mut s = status();
        let mut second = instance();
        second.name = "VI_2".into();
        second.vrid = 52;
        second.state = StateName::Master;
        second.master = None;
        second.timer_margin_ms = None;
        second.min_timer_margin_ms = None;
        second.last_transition = None;
        s.instances.push(second);
        check_exposition(&render_prometheus(&s, &Histograms::new()));
        check_exposition(&render_prometheus(&Status::default(), &Histograms::new()));
    }

    #[test]
    fn an_instance_without_data_omits_optional_series_and_has_an_empty_histogram() {
        let mut s = status();
        s.instances[0].master = None;
        s.instances[0].timer_margin_ms = None;
        s.instances[0].last_transition = None;
        let page = render_prometheus(&s, &Histograms::new());
        assert!(!page.contains("vrrpx_master_priority{"));
        assert!(!page.contains("vrrpx_timer_margin_seconds{"));
        assert!(!page.contains("vrrpx_last_transition_timestamp_seconds{"));
        assert!(page.contains(&format!(
            r#"vrrpx_advert_interarrival_seconds_bucket{{{L},le="+Inf"}} 0"#
        )));
        assert!(page.contains(&format!("vrrpx_advert_interarrival_seconds_count{{{L}}} 0")));
        assert!(page.contains(&format!("vrrpx_advert_interarrival_seconds_sum{{{L}}} 0")));
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape_label_value(r#"a"b\c"#), r#"a\"b\\c"#);
        assert_eq!(escape_label_value("line\nbreak"), r"line\nbreak");
        assert_eq!(escape_label_value("plain é"), "plain é");
        let mut s = status();
        s.instances[0].name = "we\"ird\\name\n".into();
        let page = render_prometheus(&s, &Histograms::new());
        assert!(page.contains(
            r#"vrrpx_transitions_total{instance="we\"ird\\name\n",interface="eth0",vrid="51"} 1"#
        ));
        check_exposition(&page);
    }

    #[test]
    fn histogram_buckets_are_cumulative_with_sum_and_count() {
        let mut h = Histogram::default();
        for s in [0.0005, 0.001, 0.003, 1.0, 1.0, 6.0] {
            h.observe(s);
        }
        let buckets: Vec<(f64, u64)> = h.cumulative().collect();
        assert_eq!(buckets.len(), INTERARRIVAL_BUCKETS.len() + 1);
        assert_eq!(buckets[0], (0.001, 2)); // 0.0005 and 0.001 (bounds are inclusive)
        assert_eq!(buckets[1], (0.0025, 2));
        assert_eq!(buckets[2], (0.005, 3));
        assert_eq!(buckets[11], (1.0, 5));
        assert_eq!(buckets[19], (5.0, 5));
        assert_eq!(buckets[20], (f64::INFINITY, 6));
        assert!(buckets.windows(2).all(|w| w[0].1 <= w[1].1));
        assert_eq!(h.count(), 6);
        assert!((h.sum() - 8.0045).abs() < 1e-12);
    }

    #[test]
    fn nonsense_observations_are_ignored() {
        let mut h = Histogram::default();
        h.observe(-0.1);
        h.observe(f64::NAN);
        h.observe(f64::INFINITY);
        assert_eq!(h, Histogram::default());
    }

    #[test]
    fn histograms_are_kept_per_instance_and_can_be_forgotten() {
        let mut hs = Histograms::new();
        hs.observe("a", 1.0);
        hs.observe("a", 1.0);
        hs.observe("b", 0.1);
        assert_eq!(hs.get("a").unwrap().count(), 2);
        assert_eq!(hs.get("b").unwrap().count(), 1);
        hs.forget("a");
        assert!(hs.get("a").is_none());
    }

    #[test]
    fn floats_use_the_format_spelling() {
        assert_eq!(Num::Float(f64::INFINITY).to_string(), "+Inf");
        assert_eq!(Num::Float(f64::NEG_INFINITY).to_string(), "-Inf");
        assert_eq!(Num::Float(f64::NAN).to_string(), "NaN");
        assert_eq!(Num::Float(0.0025).to_string(), "0.0025");
        assert_eq!(Num::Float(2.0).to_string(), "2");
    }

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
}

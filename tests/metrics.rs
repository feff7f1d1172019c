//! The metrics endpoint under hostile or careless clients, and its keepalived-exporter
//! families, over real sockets on 127.0.0.1; and the shipped Grafana dashboard and
//! Prometheus rules checked against the names the endpoint serves.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The tests that open sockets run one at a time: the descriptor counts they assert are
/// the whole process's, and another test's sockets would be counted too.
static SOCKETS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

use vrrp_agent::control::metrics::{render_keepalived_exporter, sample_names, TransitionTally};
use vrrp_agent::control::{render_prometheus, Compat, EventBus, Histograms, Limits, MetricsServer};
use vrrp_agent::proto::router::{Cause, StateName};
use vrrp_agent::status::{InstanceStatus, Status, TrackResult, Transition};
use vrrpx_tests::workspace;

// ---------------------------------------------------------------------------------------
// Helpers

fn instance(name: &str, vrid: u8, state: StateName) -> InstanceStatus {
    InstanceStatus {
        name: name.into(),
        interface: "eth0".into(),
        vrid,
        family: "ipv4".into(),
        version: 3,
        state,
        base_priority: 100,
        effective_priority: 100,
        priority_reasons: vec![],
        master: Some(("10.0.0.1".parse().unwrap(), 150)),
        advert_interval_cs: 100,
        master_adver_interval_cs: 100,
        last_transition: Some(Transition {
            from: StateName::Initialize,
            to: state,
            cause: Cause::Startup,
            at_unix: 1_700_000_000.0,
            at_mono_ns: 1,
        }),
        transitions: 0,
        adverts_sent: 0,
        adverts_received: 0,
        timer_margin_ms: Some(2500.0),
        min_timer_margin_ms: Some(2400.0),
        virtual_addresses: vec![format!("10.0.{vrid}.100/24")],
        tracks: vec![TrackResult {
            name: "chk_nginx".into(),
            kind: "script".into(),
            up: Some(true),
        }],
        replies_suppressed: 1,
        drained: None,
    }
}

fn status(instances: Vec<InstanceStatus>) -> Status {
    Status {
        version: "0.1.0".into(),
        pid: 1,
        receive_paths: [("eth0".to_string(), "xdp (driver)".to_string())].into(),
        instances,
        rejections: [("eth0".to_string(), [("ttl".to_string(), 1)].into())].into(),
        split_brain_events: 0,
    }
}

struct Served {
    addr: SocketAddr,
    task: JoinHandle<()>,
    _status: watch::Sender<Status>,
}

impl Drop for Served {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(st: Status, limits: Limits, compat: Option<Compat>, bus: &EventBus) -> Served {
    let (tx, rx) = watch::channel(st);
    let server = MetricsServer::bind(
        "127.0.0.1:0".parse().unwrap(),
        rx,
        Arc::new(Mutex::new(Histograms::new())),
    )
    .await
    .unwrap()
    .with_limits(limits)
    .with_compat(compat, bus);
    let addr = server.local_addr().unwrap();
    Served {
        addr,
        task: tokio::spawn(server.run()),
        _status: tx,
    }
}

/// The answer to `GET /metrics` (status line and body), or `None` if the server closed
/// the connection without one. Bounded in time.
async fn scrape(addr: SocketAddr) -> Option<(String, String)> {
    let exchange = async {
        let mut s = TcpStream::connect(addr).await.ok()?;
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: test\r\n\r\n")
            .await
            .ok()?;
        let mut resp = Vec::new();
        s.read_to_end(&mut resp).await.ok()?;
        let resp = String::from_utf8(resp).ok()?;
        let (head, body) = resp.split_once("\r\n\r\n")?;
        Some((head.lines().next()?.to_string(), body.to_string()))
    };
    tokio::time::timeout(Duration::from_secs(10), exchange)
        .await
        .ok()
        .flatten()
}

/// The value of an unlabelled sample on a page.
fn value(page: &str, name: &str) -> Option<u64> {
    let prefix = format!("{name} ");
    page.lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .and_then(|v| v.parse().ok())
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// Whether the server has closed `s` (EOF) within `wait`.
async fn closed_within(s: &mut TcpStream, wait: Duration) -> bool {
    let mut b = [0u8; 64];
    matches!(
        tokio::time::timeout(wait, s.read(&mut b)).await,
        Ok(Ok(0)) | Ok(Err(_))
    )
}

// ---------------------------------------------------------------------------------------
// Limits

#[tokio::test]
async fn idle_connections_cannot_hold_descriptors_and_a_scrape_still_answers() {
    let _serial = SOCKETS.lock().await;
    const MAX: usize = 4;
    const IDLE: usize = 40;
    let limits = Limits {
        max_connections: MAX,
        io_timeout: Duration::from_secs(2),
    };
    let bus = EventBus::default();
    let srv = serve(
        status(vec![instance("VI_1", 51, StateName::Backup)]),
        limits,
        None,
        &bus,
    )
    .await;
    let baseline = open_fds();

    // Idle clients: connected, never a byte sent.
    let mut idle = Vec::new();
    for _ in 0..IDLE {
        idle.push(TcpStream::connect(srv.addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Our IDLE client ends, plus at most MAX server ends (and slack for the runtime). On a
    // loaded machine the server may not have closed the refused ends yet: give it 2 s.
    let settle = Instant::now() + Duration::from_secs(2);
    let mut during = open_fds() - baseline;
    while during > IDLE + MAX + 3 && Instant::now() < settle {
        tokio::time::sleep(Duration::from_millis(50)).await;
        during = open_fds() - baseline;
    }
    assert!(
        during <= IDLE + MAX + 3,
        "{during} descriptors for {IDLE} idle clients"
    );

    // All but the newest MAX were closed at once; those are still held.
    let mut closed = 0;
    for s in &mut idle {
        closed += usize::from(closed_within(s, Duration::from_millis(50)).await);
    }
    assert_eq!(closed, IDLE - MAX);

    // A scrape arriving at the limit takes the oldest idle connection's place.
    let start = Instant::now();
    let (line, page) = scrape(srv.addr)
        .await
        .expect("a scrape at the limit is answered");
    assert_eq!(line, "HTTP/1.1 200 OK");
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(
        value(&page, "vrrpx_metrics_connections_max"),
        Some(MAX as u64)
    );
    assert_eq!(
        value(&page, "vrrpx_metrics_connections_open"),
        Some(MAX as u64)
    );
    assert_eq!(
        value(&page, "vrrpx_metrics_connections_refused_total"),
        Some((IDLE - MAX + 1) as u64)
    );

    // The idle ones left are dropped at the timeout, not held for ever.
    let deadline = Instant::now() + Duration::from_secs(5);
    for s in &mut idle {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            closed_within(s, left).await,
            "an idle client outlived the timeout"
        );
    }
    let (_, page) = scrape(srv.addr).await.expect("a scrape after the timeouts");
    assert_eq!(
        value(&page, "vrrpx_metrics_connections_timed_out_total"),
        Some((MAX - 1) as u64)
    );
    assert_eq!(value(&page, "vrrpx_metrics_connections_open"), Some(1));
    drop(idle);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let after = open_fds().saturating_sub(baseline);
    assert!(after <= 2, "{after} descriptors left over");
}

#[tokio::test]
async fn a_client_that_does_not_take_its_answer_is_dropped_after_the_timeout() {
    let _serial = SOCKETS.lock().await;
    let limits = Limits {
        max_connections: 4,
        io_timeout: Duration::from_millis(500),
    };
    // A page of several megabytes: more than the socket buffers hold.
    let many = (0..3000u32)
        .map(|n| instance(&format!("VI_{n}"), (n % 255 + 1) as u8, StateName::Backup))
        .collect();
    let bus = EventBus::default();
    let srv = serve(status(many), limits, None, &bus).await;

    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut slow = socket.connect(srv.addr).await.unwrap();
    slow.write_all(b"GET /metrics HTTP/1.1\r\n\r\n")
        .await
        .unwrap();
    // Never reads. The server gives up on it after the timeout.
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut timed_out = None;
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let (_, page) = scrape(srv.addr)
            .await
            .expect("scrapes beside a slow client");
        timed_out = value(&page, "vrrpx_metrics_connections_timed_out_total");
        if timed_out == Some(1) {
            assert_eq!(value(&page, "vrrpx_metrics_connections_open"), Some(1));
            break;
        }
    }
    assert_eq!(timed_out, Some(1));
    drop(slow);
}

// ---------------------------------------------------------------------------------------
// keepalived-exporter families

fn transition(instance: &str, from: StateName, to: StateName) -> Value {
    json!({"type": "transition", "instance": instance, "interface": "eth0", "vrid": 51,
           "from": from, "to": to, "cause": "MasterDown"})
}

#[tokio::test]
async fn the_exporter_families_are_served_with_compat_and_count_master_changes() {
    let _serial = SOCKETS.lock().await;
    let bus = EventBus::default();
    let st = status(vec![instance("VI_1", 51, StateName::Master)]);
    let plain = serve(st.clone(), Limits::default(), None, &bus).await;
    let compat = serve(
        st,
        Limits::default(),
        Some(Compat::KeepalivedExporter),
        &bus,
    )
    .await;
    // Let the servers subscribe before anything is published.
    tokio::time::sleep(Duration::from_millis(100)).await;

    let (_, page) = scrape(plain.addr).await.unwrap();
    assert!(!page.contains("keepalived_"), "{page}");

    bus.publish(transition("VI_1", StateName::Initialize, StateName::Backup));
    bus.publish(transition("VI_1", StateName::Backup, StateName::Master));
    bus.publish(transition("VI_1", StateName::Master, StateName::Backup));
    bus.publish(transition("VI_1", StateName::Backup, StateName::Master));
    bus.publish(json!({"type": "split_brain", "instance": "VI_1"}));
    let labels = r#"iname="VI_1",intf="eth0",vrid="51""#;
    let became = format!("keepalived_become_master_total{{{labels}}} 2");
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut page = String::new();
    while Instant::now() < deadline {
        page = scrape(compat.addr).await.unwrap().1;
        if page.lines().any(|l| l == became) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let lines: Vec<&str> = page.lines().collect();
    for want in [
        "# TYPE keepalived_vrrp_state gauge",
        r#"keepalived_vrrp_state{iname="VI_1",intf="eth0",vrid="51",ip_address="10.0.51.100/24"} 2"#,
        "# TYPE keepalived_become_master_total counter",
        &became,
        &format!("keepalived_release_master_total{{{labels}}} 1"),
        r#"keepalived_ip_ttl_errors_total{intf="eth0"} 1"#,
        r#"keepalived_script_status{name="chk_nginx"} 1"#,
        // Our own families are still there.
        r#"vrrpx_instance_state{instance="VI_1",interface="eth0",vrid="51",state="master"} 1"#,
    ] {
        assert!(lines.contains(&want), "missing {want}\n{page}");
    }
}

// ---------------------------------------------------------------------------------------
// Shipped dashboard and rules

/// Every sample name the endpoint can serve, from pages rendered with every optional
/// family present.
fn served_names() -> BTreeSet<String> {
    let st = status(vec![instance("VI_1", 51, StateName::Backup)]);
    let mut page = render_prometheus(&st, &Histograms::new());
    page.push_str(&render_keepalived_exporter(
        &st,
        &TransitionTally::default(),
    ));
    let mut names: BTreeSet<String> = sample_names(&page).into_iter().map(String::from).collect();
    // The server's own families (rendered per connection).
    for n in [
        "vrrpx_metrics_connections_open",
        "vrrpx_metrics_connections_max",
        "vrrpx_metrics_connections_refused_total",
        "vrrpx_metrics_connections_timed_out_total",
    ] {
        names.insert(n.to_string());
    }
    names
}

/// Metric names in a PromQL expression: identifiers of our two prefixes.
fn metric_names(expr: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = expr;
    while let Some(pos) = rest.find(|c: char| c.is_ascii_alphabetic() || c == '_') {
        let tail = &rest[pos..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
            .unwrap_or(tail.len());
        let ident = &tail[..end];
        // An identifier right after a digit or a `$` is part of something else.
        let prev = rest[..pos].chars().last();
        let standalone = !matches!(prev, Some(c) if c.is_ascii_alphanumeric() || c == '$');
        if standalone && (ident.starts_with("vrrpx_") || ident.starts_with("keepalived_")) {
            out.push(ident.to_string());
        }
        rest = &tail[end..];
    }
    out
}

/// Every query string in a dashboard: `(true, panel expression)` or `(false, variable
/// query)`.
fn collect_queries(v: &Value, out: &mut Vec<(bool, String)>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                match (k.as_str(), v) {
                    ("expr", Value::String(s)) => out.push((true, s.clone())),
                    ("query", Value::String(s)) => out.push((false, s.clone())),
                    _ => collect_queries(v, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|v| collect_queries(v, out)),
        _ => {}
    }
}

#[test]
fn the_grafana_dashboard_parses_and_queries_only_metrics_we_serve() {
    let path = workspace().join("configs/grafana/vrrpx.json");
    let text = std::fs::read_to_string(&path).unwrap();
    let dash: Value = serde_json::from_str(&text).unwrap();
    assert!(
        dash["title"].is_string() && dash["panels"].is_array(),
        "{}",
        path.display()
    );
    let mut queries = Vec::new();
    collect_queries(&dash, &mut queries);
    assert!(queries.len() >= 8, "only {} queries", queries.len());
    let served = served_names();
    let mut used = BTreeSet::new();
    for (is_panel, e) in &queries {
        let names = metric_names(e);
        assert!(!is_panel || !names.is_empty(), "no metric of ours in {e}");
        for n in names {
            assert!(
                served.contains(&n),
                "{} queries {n}, which we do not serve",
                path.display()
            );
            used.insert(n);
        }
    }
    for core in [
        "vrrpx_instance_state",
        "vrrpx_instance_priority",
        "vrrpx_timer_margin_seconds",
        "vrrpx_transitions_total",
        "vrrpx_rejected_adverts_total",
        "vrrpx_advert_interarrival_seconds_bucket",
    ] {
        assert!(used.contains(core), "the dashboard has no panel on {core}");
    }
}

fn rules_file() -> std::path::PathBuf {
    workspace().join("configs/prometheus/vrrpx-alerts.yml")
}

#[test]
fn the_alert_rules_refer_only_to_metrics_we_serve() {
    let text = std::fs::read_to_string(rules_file()).unwrap();
    let served = served_names();
    let names = metric_names(&text);
    for n in &names {
        assert!(
            served.contains(n),
            "the rules use {n}, which we do not serve"
        );
    }
    for alert in [
        "VRRPSplitBrain",
        "VRRPTimerMarginLow",
        "VRRPFlapping",
        "VRRPTrackFailing",
    ] {
        assert!(
            text.contains(&format!("alert: {alert}")),
            "no {alert} alert"
        );
    }
}

/// promtool (Debian's `prometheus` package; `cargo xtask setup` installs it) parses the
/// rules. Without it the check is skipped, except under CI where it must run.
#[test]
fn promtool_accepts_the_alert_rules() {
    let promtool = ["/usr/bin/promtool", "/usr/local/bin/promtool"]
        .into_iter()
        .map(Path::new)
        .find(|p| p.exists());
    let Some(promtool) = promtool else {
        assert!(
            std::env::var_os("CI").is_none_or(|v| v != "true"),
            "promtool is missing: install Debian's `prometheus` package (cargo xtask setup)"
        );
        eprintln!("promtool not installed; skipping (cargo xtask setup installs it)");
        return;
    };
    let out = std::process::Command::new(promtool)
        .args(["check", "rules"])
        .arg(rules_file())
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "promtool check rules failed:\n{said}");
    assert!(said.contains("SUCCESS"), "{said}");
}

#[test]
fn metric_names_are_found_in_expressions() {
    assert_eq!(
        metric_names(r#"sum by (vrid) (rate(vrrpx_transitions_total{job="x"}[5m])) > $thr"#),
        ["vrrpx_transitions_total"]
    );
    assert_eq!(
        metric_names("keepalived_vrrp_state == 2 and on() x_vrrpx_fake"),
        ["keepalived_vrrp_state"]
    );
}

//! The control socket and the metrics endpoint, end to end over real sockets: a server
//! fed from a `watch` channel and an event bus, as the engine will feed it, and clients
//! speaking the wire protocol.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpStream, UnixStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use vrrp_agent::control::{
    client, ControlServer, EventBus, Handles, Histograms, MetricsServer, ReloadRequest,
};
use vrrp_agent::proto::router::{Cause, StateName};
use vrrp_agent::status::{InstanceStatus, Status, Transition};
use vrrpx_tests::scratch;

// ---------------------------------------------------------------------------------------
// Helpers

fn known_status() -> Status {
    let vi1 = InstanceStatus {
        master_adver_interval_cs: 100,
        last_transition: Some(Transition {
            from: StateName::Initialize,
            to: StateName::Backup,
            cause: Cause::Startup,
            at_unix: 1_700_000_000.25,
            at_mono_ns: 123_456_789,
        }),
        ..vrrp_agent::status::sample_instance()
    };
    let vi2 = InstanceStatus {
        name: "VI_2".into(),
        interface: "eth1".into(),
        vrid: 52,
        family: "ipv6".into(),
        version: 3,
        state: StateName::Master,
        base_priority: 255,
        effective_priority: 255,
        priority_reasons: vec![],
        master: None,
        advert_interval_cs: 50,
        master_adver_interval_cs: 50,
        last_transition: Some(Transition {
            from: StateName::Initialize,
            to: StateName::Master,
            cause: Cause::AddressOwner,
            at_unix: 1_700_000_001.0,
            at_mono_ns: 223_456_789,
        }),
        transitions: 1,
        adverts_sent: 77,
        adverts_received: 0,
        timer_margin_ms: None,
        min_timer_margin_ms: None,
        virtual_addresses: vec!["fd00::100/64".into()],
        tracks: vec![],
        replies_suppressed: 0,
        drained: None,
    };
    Status {
        version: "0.1.0".into(),
        pid: 4242,
        receive_paths: BTreeMap::from([
            ("eth0".to_string(), "xdp (driver)".to_string()),
            ("eth1".to_string(), "raw-socket".to_string()),
        ]),
        instances: vec![vi1, vi2],
        rejections: BTreeMap::from([(
            "eth0".to_string(),
            BTreeMap::from([("bad_ttl".to_string(), 3), ("wrong_vrid".to_string(), 5)]),
        )]),
        split_brain_events: 2,
    }
}

struct Running {
    path: PathBuf,
    status: watch::Sender<Status>,
    events: EventBus,
    task: JoinHandle<()>,
}

/// A control server at `<scratch>/run/control.sock` (the directory does not exist yet).
fn start(name: &str, events: EventBus, reload: Option<mpsc::Sender<ReloadRequest>>) -> Running {
    let path = scratch(name).join("run/control.sock");
    let (status, rx) = watch::channel(known_status());
    let server = ControlServer::bind(
        &path,
        Handles {
            status: rx,
            events: events.clone(),
            reload,
        },
    )
    .unwrap();
    assert_eq!(server.path(), path);
    Running {
        path,
        status,
        events,
        task: tokio::spawn(server.run()),
    }
}

struct Conn {
    lines: Lines<BufReader<OwnedReadHalf>>,
    wr: OwnedWriteHalf,
}

impl Conn {
    async fn open(path: &Path) -> Conn {
        let (rd, wr) = UnixStream::connect(path).await.unwrap().into_split();
        Conn {
            lines: BufReader::new(rd).lines(),
            wr,
        }
    }

    async fn send(&mut self, line: &str) {
        self.wr.write_all(line.as_bytes()).await.unwrap();
        self.wr.write_all(b"\n").await.unwrap();
    }

    async fn recv(&mut self) -> Value {
        let line = self.lines.next_line().await.unwrap().expect("a line");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{line}: {e}"))
    }

    async fn ask(&mut self, line: &str) -> Value {
        self.send(line).await;
        self.recv().await
    }
}

fn assert_same_status(got: &Status, want: &Status) {
    assert_eq!(got.version, want.version);
    assert_eq!(got.pid, want.pid);
    assert_eq!(got.receive_paths, want.receive_paths);
    assert_eq!(got.rejections, want.rejections);
    assert_eq!(got.split_brain_events, want.split_brain_events);
    assert_eq!(got.instances.len(), want.instances.len());
    // Instance by instance first, so that a difference names its instance.
    for (g, w) in got.instances.iter().zip(&want.instances) {
        assert_eq!(g, w, "instance {}", w.name);
    }
    assert_eq!(got, want);
}

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .unwrap()
        .permissions()
        .mode()
        & 0o7777
}

// ---------------------------------------------------------------------------------------
// Status

#[tokio::test]
async fn status_over_the_socket_is_the_engine_snapshot_field_by_field() {
    let srv = start("control-status", EventBus::default(), None);

    let mut conn = Conn::open(&srv.path).await;
    let raw = conn.ask(r#"{"cmd":"status"}"#).await;
    assert_eq!(raw["instances"][0]["name"], "VI_1");
    assert_eq!(raw["instances"][0]["state"], "Backup");
    assert_eq!(raw["instances"][0]["master"], json!(["10.0.0.1", 150]));
    let got: Status = serde_json::from_value(raw).unwrap();
    assert_same_status(&got, &known_status());

    // The engine writes a new snapshot; the same connection sees it on the next request.
    let mut changed = known_status();
    changed.instances[0].state = StateName::Master;
    changed.instances[0].adverts_sent = 1;
    changed.split_brain_events = 3;
    srv.status.send(changed.clone()).unwrap();
    let again: Status = serde_json::from_value(conn.ask(r#"{"cmd":"status"}"#).await).unwrap();
    assert_same_status(&again, &changed);

    // The client helper reads the same thing.
    let via_client = client::status(&srv.path).await.unwrap();
    assert_same_status(&via_client, &changed);
    srv.task.abort();
}

#[tokio::test]
async fn bad_requests_are_answered_and_the_connection_stays_usable() {
    let srv = start("control-bad", EventBus::default(), None);
    let mut conn = Conn::open(&srv.path).await;
    let garbage = conn.ask("status please").await;
    assert_eq!(garbage["ok"], false);
    assert!(garbage["error"]
        .as_str()
        .unwrap()
        .starts_with("bad request"));
    let unknown = conn.ask(r#"{"cmd":"explode"}"#).await;
    assert_eq!(unknown["ok"], false);
    assert!(unknown["error"].as_str().unwrap().contains("explode"));
    let ok = conn.ask(r#"{"cmd":"status"}"#).await;
    assert_eq!(ok["pid"], 4242);
    srv.task.abort();
}

#[tokio::test]
async fn reload_is_forwarded_to_the_engine_and_its_answer_returned() {
    let (tx, mut rx) = mpsc::channel::<ReloadRequest>(4);
    let srv = start("control-reload", EventBus::default(), Some(tx));
    let engine = tokio::spawn(async move {
        rx.recv().await.unwrap().reply.send(Ok(())).unwrap();
        rx.recv()
            .await
            .unwrap()
            .reply
            .send(Err("/etc/vrrpx.toml:3: vrid 300 out of range".into()))
            .unwrap();
    });
    let ok = client::request(&srv.path, &json!({"cmd": "reload"}))
        .await
        .unwrap();
    assert_eq!(ok, json!({"ok": true}));
    let refused = client::reload(&srv.path).await.unwrap_err();
    assert!(
        format!("{refused:#}").contains("vrid 300 out of range"),
        "{refused:#}"
    );
    engine.await.unwrap();
    srv.task.abort();
}

#[tokio::test]
async fn reload_without_an_engine_is_refused_not_hung() {
    let srv = start("control-noreload", EventBus::default(), None);
    let answer = client::request(&srv.path, &json!({"cmd": "reload"}))
        .await
        .unwrap();
    assert_eq!(
        answer,
        json!({"ok": false, "error": "reload is not available"})
    );
    srv.task.abort();
}

// ---------------------------------------------------------------------------------------
// The socket file

#[tokio::test]
async fn the_socket_is_0600_in_a_0700_directory_and_removed_when_the_server_stops() {
    let srv = start("control-perms", EventBus::default(), None);
    assert_eq!(mode(&srv.path), 0o600, "socket mode");
    assert_eq!(mode(srv.path.parent().unwrap()), 0o700, "directory mode");

    srv.task.abort();
    assert!(srv.task.await.unwrap_err().is_cancelled());
    assert!(!srv.path.exists(), "socket left behind");
}

#[tokio::test]
async fn a_stale_socket_is_replaced_but_a_live_one_or_a_file_is_refused() {
    let dir = scratch("control-stale");
    let path = dir.join("control.sock");
    let handles = || Handles {
        status: watch::channel(known_status()).1,
        events: EventBus::default(),
        reload: None,
    };

    // A socket nobody listens on, as a crashed daemon leaves it.
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    assert!(path.exists());
    let first = ControlServer::bind(&path, handles()).unwrap();
    let task = tokio::spawn(first.run());
    assert_eq!(client::status(&path).await.unwrap().pid, 4242);

    // A second daemon must not steal the socket of a running one.
    let err = ControlServer::bind(&path, handles()).unwrap_err();
    assert!(format!("{err:#}").contains("another daemon"), "{err:#}");
    assert_eq!(client::status(&path).await.unwrap().pid, 4242);
    task.abort();
    let _ = task.await;

    // Whatever is not a socket is left alone.
    std::fs::write(&path, "precious").unwrap();
    let err = ControlServer::bind(&path, handles()).unwrap_err();
    assert!(format!("{err:#}").contains("not a socket"), "{err:#}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "precious");
}

#[tokio::test]
async fn a_client_without_a_daemon_gets_a_helpful_error() {
    let path = scratch("control-absent").join("control.sock");
    let err = client::status(&path).await.unwrap_err();
    let text = format!("{err:#}");
    assert!(text.contains("control.sock"), "{text}");
    assert!(text.contains("is vrrp-agent running?"), "{text}");
}

// ---------------------------------------------------------------------------------------
// Events

#[tokio::test]
async fn a_subscriber_receives_every_event_in_order_numbered_from_one() {
    let srv = start("control-events", EventBus::default(), None);
    let mut conn = Conn::open(&srv.path).await;
    let ack = conn.ask(r#"{"cmd":"events"}"#).await;
    assert_eq!(ack, json!({"ok": true, "next_seq": 1}));

    for i in 0..100 {
        let seq = srv
            .events
            .publish(json!({"kind": "advert", "instance": "VI_1", "i": i}));
        assert_eq!(seq, i + 1);
        if i % 10 == 0 {
            // Let the server interleave with the engine now and then.
            tokio::task::yield_now().await;
        }
    }
    for i in 0..100u64 {
        let ev = conn.recv().await;
        assert_eq!(
            ev,
            json!({"seq": i + 1, "kind": "advert", "instance": "VI_1", "i": i})
        );
    }
    srv.task.abort();
}

#[tokio::test]
async fn a_subscriber_that_falls_behind_gets_one_lost_line_then_the_rest_in_order() {
    let srv = start("control-lag", EventBus::new(16), None);
    let mut conn = Conn::open(&srv.path).await;
    assert_eq!(conn.ask(r#"{"cmd":"events"}"#).await["next_seq"], 1);

    // Published without yielding: the server cannot forward any before the channel
    // (16 deep) overflows.
    for i in 0..100 {
        srv.events.publish(json!({"i": i}));
    }
    assert_eq!(conn.recv().await, json!({"seq": 1, "lost": 84}));
    for seq in 85..=100u64 {
        assert_eq!(conn.recv().await, json!({"seq": seq, "i": seq - 1}));
    }

    // And it keeps up again afterwards.
    srv.events.publish(json!({"i": 100}));
    assert_eq!(conn.recv().await, json!({"seq": 101, "i": 100}));
    srv.task.abort();
}

#[tokio::test]
async fn a_late_subscriber_starts_where_the_stream_is_and_the_client_helper_reads_it() {
    let srv = start("control-late", EventBus::default(), None);
    for _ in 0..5 {
        srv.events.publish(json!({"before": true}));
    }
    let mut stream = client::subscribe(&srv.path).await.unwrap();
    assert_eq!(stream.first_seq(), 6);
    srv.events
        .publish(json!({"kind": "transition", "to": "MASTER"}));
    assert_eq!(
        stream.next().await.unwrap().unwrap(),
        json!({"seq": 6, "kind": "transition", "to": "MASTER"})
    );
    srv.task.abort();
}

#[tokio::test]
async fn a_subscriber_that_hangs_up_is_dropped_without_waiting_for_an_event() {
    let srv = start("control-hangup", EventBus::default(), None);
    let mut conn = Conn::open(&srv.path).await;
    conn.ask(r#"{"cmd":"events"}"#).await;
    assert_eq!(srv.events.subscribers(), 1);
    drop(conn);
    for _ in 0..100 {
        if srv.events.subscribers() == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(srv.events.subscribers(), 0);
    srv.task.abort();
}

// ---------------------------------------------------------------------------------------
// Metrics

async fn http_get(addr: SocketAddr, target: &str) -> (String, String) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let req = format!("GET {target} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: test\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).await.unwrap();
    let (head, body) = resp.split_once("\r\n\r\n").expect("a header/body split");
    (head.to_string(), body.to_string())
}

#[tokio::test]
async fn metrics_are_served_over_http_and_follow_the_snapshot() {
    let (tx, rx) = watch::channel(known_status());
    let hist = Arc::new(Mutex::new(Histograms::new()));
    hist.lock().unwrap().observe("VI_1", 1.0);
    hist.lock().unwrap().observe("VI_1", 0.5);
    let server = MetricsServer::bind("127.0.0.1:0".parse().unwrap(), rx, hist.clone())
        .await
        .unwrap();
    let addr = server.local_addr().unwrap();
    assert_ne!(addr.port(), 0);
    let task = tokio::spawn(server.run());

    let (head, body) = http_get(addr, "/metrics").await;
    let mut head_lines = head.lines();
    assert_eq!(head_lines.next(), Some("HTTP/1.1 200 OK"));
    let headers: Vec<&str> = head_lines.collect();
    assert!(headers.contains(&"Content-Type: text/plain; version=0.0.4; charset=utf-8"));
    assert!(headers.contains(&format!("Content-Length: {}", body.len()).as_str()));

    let l1 = r#"instance="VI_1",interface="eth0",vrid="51""#;
    let l2 = r#"instance="VI_2",interface="eth1",vrid="52""#;
    let lines: Vec<&str> = body.lines().collect();
    for want in [
        "# TYPE vrrpx_instance_state gauge".to_string(),
        format!(r#"vrrpx_instance_state{{{l1},state="backup"}} 1"#),
        format!(r#"vrrpx_instance_state{{{l1},state="master"}} 0"#),
        format!(r#"vrrpx_instance_state{{{l2},state="master"}} 1"#),
        format!(r#"vrrpx_instance_state{{{l2},state="backup"}} 0"#),
        format!(r#"vrrpx_instance_priority{{{l1},kind="base"}} 100"#),
        format!(r#"vrrpx_instance_priority{{{l1},kind="effective"}} 80"#),
        "# TYPE vrrpx_transitions_total counter".to_string(),
        format!("vrrpx_transitions_total{{{l1}}} 1"),
        format!("vrrpx_adverts_sent_total{{{l2}}} 77"),
        format!("vrrpx_adverts_received_total{{{l1}}} 1234"),
        r#"vrrpx_rejected_adverts_total{interface="eth0",reason="bad_ttl"} 3"#.to_string(),
        r#"vrrpx_rejected_adverts_total{interface="eth0",reason="wrong_vrid"} 5"#.to_string(),
        "vrrpx_split_brain_events_total 2".to_string(),
        format!("vrrpx_timer_margin_seconds{{{l1}}} 0.8125"),
        "# TYPE vrrpx_advert_interarrival_seconds histogram".to_string(),
        format!(r#"vrrpx_advert_interarrival_seconds_bucket{{{l1},le="0.5"}} 1"#),
        format!(r#"vrrpx_advert_interarrival_seconds_bucket{{{l1},le="1"}} 2"#),
        format!(r#"vrrpx_advert_interarrival_seconds_bucket{{{l1},le="+Inf"}} 2"#),
        format!("vrrpx_advert_interarrival_seconds_sum{{{l1}}} 1.5"),
        format!("vrrpx_advert_interarrival_seconds_count{{{l1}}} 2"),
        format!("vrrpx_advert_interarrival_seconds_count{{{l2}}} 0"),
    ] {
        assert!(lines.contains(&want.as_str()), "missing {want}\n{body}");
    }
    // A backup without margin data has no margin series.
    assert!(!body.contains(&format!("vrrpx_timer_margin_seconds{{{l2}}}")));

    // Each scrape reads the latest snapshot and histograms.
    let mut changed = known_status();
    changed.instances[0].adverts_received = 1235;
    tx.send(changed).unwrap();
    hist.lock().unwrap().observe("VI_1", 1.0);
    let (_, body) = http_get(addr, "/metrics?name[]=x").await;
    assert!(body.contains(&format!("vrrpx_adverts_received_total{{{l1}}} 1235\n")));
    assert!(body.contains(&format!(
        "vrrpx_advert_interarrival_seconds_count{{{l1}}} 3\n"
    )));

    task.abort();
}

#[tokio::test]
async fn other_paths_get_404_and_other_methods_405() {
    let (_tx, rx) = watch::channel(known_status());
    let server = MetricsServer::bind(
        "127.0.0.1:0".parse().unwrap(),
        rx,
        Arc::new(Mutex::new(Histograms::new())),
    )
    .await
    .unwrap();
    let addr = server.local_addr().unwrap();
    let task = tokio::spawn(server.run());

    let (head, body) = http_get(addr, "/").await;
    assert!(head.starts_with("HTTP/1.1 404 Not Found\r\n"), "{head}");
    assert!(!body.contains("vrrpx_"));
    let (head, _) = http_get(addr, "/metrics/extra").await;
    assert!(head.starts_with("HTTP/1.1 404 Not Found\r\n"), "{head}");

    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n")
        .await
        .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).await.unwrap();
    assert!(
        resp.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"),
        "{resp}"
    );
    assert!(resp.contains("\r\nAllow: GET, HEAD\r\n"), "{resp}");
    task.abort();
}

#[tokio::test]
async fn serve_metrics_reports_an_address_it_cannot_bind() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let (_tx, rx) = watch::channel(Status::default());
    let err = vrrp_agent::control::serve_metrics(addr, rx, Arc::new(Mutex::new(Histograms::new())))
        .await
        .unwrap_err();
    assert!(format!("{err:#}").contains(&addr.to_string()), "{err:#}");
}

// ---------------------------------------------------------------------------------------
// The human table, from what came over the socket

#[tokio::test]
async fn the_status_table_renders_what_the_socket_returned() {
    let srv = start("control-table", EventBus::default(), None);
    let status = client::status(&srv.path).await.unwrap();
    let table = client::render_status(&status);
    println!("{table}");
    let row = table.lines().find(|l| l.starts_with("VI_1 ")).unwrap();
    for cell in [
        "eth0",
        "51",
        "v3 ipv4",
        "BACKUP",
        "100/80",
        "10.0.0.1 (150)",
        "0/1234",
        "812.50 (min 790.25)",
        "BACKUP since",
        "(Startup)",
    ] {
        assert!(row.contains(cell), "{cell} missing from {row}");
    }
    assert!(table.contains("    priority 100 -> 80: chk_nginx down: -20\n"));
    assert!(table.contains("rejected adverts:\n  eth0  bad_ttl=3 wrong_vrid=5\n"));
    srv.task.abort();
}

//! Operating the daemon in network namespaces, the way an operator meets it: an HTTP health
//! check that moves the address, notify scripts and the event stream in order, `status` and
//! `/metrics` field by field, split brain detected and healed (and a client that followed the
//! losing side moved back, whichever side hears the other first), a reload at 10 ms that does
//! not flap unchanged instances (and an invalid one that changes nothing), and systemd
//! readiness and watchdog messages. Configurations are in tests/ops/ (and configs/).
//! Needs root and the release agent (`cargo xtask test`).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;
use vrrpx_tests::inject::in_netns;
use vrrpx_tests::netns::{wait_for, Lab};
use vrrpx_tests::pair::{config, has, pair_lab, preconditions};
use vrrpx_tests::{agent_bin, scratch, workspace};

const VIP: &str = "10.9.0.100/24";

// ---------------------------------------------------------------------------------------
// Helpers: hosts, agents, logs

/// A config file from tests/ops/.
fn ops_config(name: &str) -> PathBuf {
    workspace().join("tests/ops").join(name)
}

/// A running agent: the lab's process index, its control socket, the tag naming its files.
struct Agent {
    idx: usize,
    control: PathBuf,
    tag: String,
}

/// Start `vrrp-agent run -f conf --control DIR/TAG.sock EXTRA...` in host `h`; its stderr
/// (the log) goes to DIR/TAG.log.
fn start_agent(
    lab: &mut Lab,
    h: &str,
    conf: &Path,
    dir: &Path,
    tag: &str,
    extra: &[&str],
) -> Agent {
    let bin = agent_bin();
    let control = dir.join(format!("{tag}.sock"));
    let mut argv = vec![
        bin.to_str().unwrap(),
        "run",
        "-f",
        conf.to_str().unwrap(),
        "--control",
        control.to_str().unwrap(),
    ];
    argv.extend_from_slice(extra);
    let idx = lab
        .spawn(
            h,
            &argv,
            &dir.join(format!("{tag}.out")),
            &dir.join(format!("{tag}.log")),
        )
        .unwrap();
    Agent {
        idx,
        control,
        tag: tag.to_string(),
    }
}

fn log(dir: &Path, tag: &str) -> String {
    std::fs::read_to_string(dir.join(format!("{tag}.log"))).unwrap_or_default()
}

/// Wait until exactly `h` holds the VIP; returns how long it took.
fn wait_holder(lab: &Lab, h: &str, other: &str, limit: Duration) -> Option<Duration> {
    let t0 = Instant::now();
    wait_for(limit, || has(lab, h, VIP) && !has(lab, other, VIP)).then(|| t0.elapsed())
}

/// The value of `key=` in a tracing log line (quoted or bare).
fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let at = line.find(&format!(" {key}="))? + key.len() + 2;
    let rest = &line[at..];
    match rest.strip_prefix('"') {
        Some(quoted) => quoted.split('"').next(),
        None => rest.split_whitespace().next(),
    }
}

/// A "state change" line of the agent's log.
#[derive(Clone, Debug, PartialEq)]
struct Change {
    instance: String,
    to: String,
    cause: String,
}

/// The agent's "state change" lines, in order.
fn state_changes(dir: &Path, tag: &str) -> Vec<Change> {
    log(dir, tag)
        .lines()
        .filter(|l| l.contains("state change"))
        .map(|l| Change {
            instance: field(l, "instance").unwrap_or_default().to_string(),
            to: field(l, "to").unwrap_or_default().to_string(),
            cause: field(l, "cause").unwrap_or_default().to_string(),
        })
        .collect()
}

/// Run the agent's CLI (a control-socket client: it works from any namespace).
fn cli(args: &[&str]) -> Output {
    Command::new(agent_bin()).args(args).output().unwrap()
}

/// `vrrp-agent status --json` of an agent, parsed.
fn status_json(agent: &Agent) -> Value {
    let out = cli(&[
        "status",
        "--json",
        "--control",
        agent.control.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "status --json failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The status of instance `name` in a snapshot.
fn instance<'a>(status: &'a Value, name: &str) -> &'a Value {
    status["instances"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == name)
        .unwrap_or_else(|| panic!("no instance {name} in {status:#}"))
}

/// Poll the agent's status (snapshots are refreshed at least every second) until `want`
/// holds or `limit` passes; returns the last snapshot either way.
fn status_until(agent: &Agent, limit: Duration, want: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + limit;
    loop {
        let s = status_json(agent);
        if want(&s) || Instant::now() >= deadline {
            return s;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Wait until the agent's control socket answers.
fn wait_control(agent: &Agent, limit: Duration) -> bool {
    wait_for(limit, || {
        agent.control.exists()
            && cli(&["status", "--control", agent.control.to_str().unwrap()])
                .status
                .success()
    })
}

/// CLOCK_MONOTONIC in ns: the clock of the XDP arrival timestamps.
fn monotonic_ns() -> u64 {
    // SAFETY: zeroed timespec is valid; clock_gettime writes it.
    let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
    // SAFETY: a valid clock id and a pointer to a live timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

fn signal(lab: &Lab, agent: &Agent, sig: i32) {
    // SAFETY: kill(2) on a child the lab spawned and has not reaped.
    unsafe { libc::kill(lab.pid(agent.idx) as i32, sig) };
}

/// JSON lines of a file (unparsable lines, e.g. a partial last line, are skipped).
fn json_lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

// ---------------------------------------------------------------------------------------
// 1. An nginx-style health check moves the address

/// A tiny HTTP server on 127.0.0.1:8080 inside a namespace, answering every request with
/// 200; stopping it closes the listener, so checks see "connection refused".
struct Health {
    stop: Arc<AtomicBool>,
    hits: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
}

impl Health {
    fn start(ns: &str) -> Health {
        // A socket stays in the namespace it was made in: bind there, serve from anywhere.
        let listener = in_netns(ns, || Ok(TcpListener::bind(("127.0.0.1", 8080))?)).unwrap();
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let hits = Arc::new(AtomicU64::new(0));
        let (s, h) = (stop.clone(), hits.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((conn, _)) => {
                        if answer(conn).is_ok() {
                            h.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
            // The listener is dropped here: new connections are refused.
        });
        Health {
            stop,
            hits,
            thread: Some(thread),
        }
    }

    fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Health {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Read one request (up to the blank line) and answer 200.
fn answer(mut conn: TcpStream) -> std::io::Result<()> {
    conn.set_nonblocking(false)?;
    conn.set_read_timeout(Some(Duration::from_secs(1)))?;
    let mut req = Vec::new();
    let mut buf = [0u8; 1024];
    while !req.windows(4).any(|w| w == b"\r\n\r\n") && req.len() < 8192 {
        let n = conn.read(&mut buf)?;
        if n == 0 {
            break;
        }
        req.extend_from_slice(&buf[..n]);
    }
    conn.write_all(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\
          Connection: close\r\n\r\nok\n",
    )
}

#[test]
fn an_http_health_check_failing_on_the_master_moves_the_address_and_its_recovery_brings_it_back() {
    preconditions();
    let dir = scratch("ops-http");
    let mut lab = pair_lab("vxt-ops-http-");
    let mut web1 = Health::start(&lab.ns("r1"));
    let _web2 = Health::start(&lab.ns("r2"));
    let r1 = start_agent(
        &mut lab,
        "r1",
        &config("nginx-check-a.conf"),
        &dir,
        "r1",
        &[],
    );
    start_agent(
        &mut lab,
        "r2",
        &config("nginx-check-b.conf"),
        &dir,
        "r2",
        &[],
    );
    assert!(
        wait_holder(&lab, "r1", "r2", Duration::from_secs(10)).is_some(),
        "r1 (150, healthy) holds {VIP}\nr1: {}\nr2: {}",
        log(&dir, "r1"),
        log(&dir, "r2")
    );
    std::thread::sleep(Duration::from_millis(500));
    assert!(web1.hits() > 0, "r1's check reaches its HTTP server");
    let healthy = status_json(&r1);
    assert_eq!(instance(&healthy, "VI_51")["effective_priority"], 150);

    // Stop r1's server: two failed checks (interval 0.2 s, fall 2) take r1 to 90, below
    // r2's 100; r2 ignores the lower adverts and takes over when its Master_Down_Interval
    // (3 x 100 ms + 156/256 x 100 ms = 361 ms) runs out.
    let t0 = Instant::now();
    web1.stop();
    let took = wait_holder(&lab, "r2", "r1", Duration::from_secs(5)).unwrap_or_else(|| {
        panic!(
            "r2 takes {VIP} when r1's check fails\nr1: {}\nr2: {}",
            log(&dir, "r1"),
            log(&dir, "r2")
        )
    });
    eprintln!("health check failed -> address on r2 after {took:?}");
    let bound = Duration::from_millis(2 * 200 + 361 + 1000);
    assert!(took < bound, "took {took:?}, bound {bound:?}");

    let st = status_until(&r1, Duration::from_secs(3), |s| {
        instance(s, "VI_51")["effective_priority"] == 90
    });
    let vi = instance(&st, "VI_51");
    assert_eq!(vi["base_priority"], 150, "{vi:#}");
    assert_eq!(vi["effective_priority"], 90, "{vi:#}");
    assert_eq!(vi["state"], "Backup", "{vi:#}");
    let reasons = vi["priority_reasons"].as_array().unwrap();
    assert!(
        reasons
            .iter()
            .any(|r| r.as_str().unwrap().contains("chk_http")),
        "a reason names chk_http: {reasons:?}"
    );
    assert_eq!(
        vi["tracks"],
        serde_json::json!([{ "name": "chk_http", "kind": "script", "up": false }]),
        "the tracked check is listed as down"
    );
    assert_eq!(
        vi["master"],
        serde_json::json!(["10.9.0.2", 100]),
        "r1 hears r2"
    );

    // Restart it: two good checks restore 150, and r1 preempts (its own Master_Down,
    // 3 x 100 ms + 106/256 x 100 ms = 341 ms, ignoring r2's lower adverts).
    let web1 = Health::start(&lab.ns("r1"));
    let back = wait_holder(&lab, "r1", "r2", Duration::from_secs(5)).unwrap_or_else(|| {
        panic!(
            "r1 takes {VIP} back when healthy again\nr1: {}\nr2: {}",
            log(&dir, "r1"),
            log(&dir, "r2")
        )
    });
    eprintln!("health check recovered -> address back on r1 after {back:?}");
    let bound = Duration::from_millis(2 * 200 + 341 + 1000);
    assert!(back < bound, "took {back:?}, bound {bound:?}");
    assert!(web1.hits() > 0, "r1's check reaches the restarted server");
    let st = status_until(&r1, Duration::from_secs(3), |s| {
        instance(s, "VI_51")["effective_priority"] == 150
    });
    let vi = instance(&st, "VI_51");
    assert_eq!(vi["effective_priority"], 150, "{vi:#}");
    assert_eq!(vi["state"], "Master", "{vi:#}");
    assert!(
        vi["priority_reasons"].as_array().unwrap().is_empty(),
        "{vi:#}"
    );
    let causes: Vec<String> = state_changes(&dir, "r1")
        .into_iter()
        .map(|c| format!("{}:{}", c.to, c.cause))
        .collect();
    assert_eq!(
        causes,
        [
            "BACKUP:Startup",
            "MASTER:MasterDown",
            "BACKUP:Preempted",
            "MASTER:MasterDown"
        ],
        "r1's transitions\n{}",
        log(&dir, "r1")
    );
    eprintln!("whole cycle {:?}", t0.elapsed());
}

// ---------------------------------------------------------------------------------------
// 2. Notify scripts in order; events with sequence numbers

/// keepalived's word for a state as the log spells it (`INIT` is `STOP` in notify).
fn notify_word(log_state: &str) -> &str {
    match log_state {
        "INIT" => "STOP",
        other => other,
    }
}

#[test]
fn notify_scripts_run_one_at_a_time_in_transition_order_and_events_carry_consecutive_sequence_numbers(
) {
    preconditions();
    let dir = scratch("ops-notify");
    let mut lab = pair_lab("vxt-ops-notify-");
    // The script takes a while, so that a burst of transitions queues several runs: they
    // must still run one at a time, in order (every "start" followed by its own "end").
    let notify_log = dir.join("notify.log");
    let script = dir.join("notify.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho \"start $*\" >> {log}\nsleep 0.2\necho \"end $*\" >> {log}\n",
            log = notify_log.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let template = std::fs::read_to_string(ops_config("notify-r2.conf.in")).unwrap();
    let conf = dir.join("notify-r2.conf");
    std::fs::write(
        &conf,
        template.replace("@NOTIFY@", script.to_str().unwrap()),
    )
    .unwrap();

    let r1 = start_agent(&mut lab, "r1", &config("pair-master.conf"), &dir, "r1", &[]);
    assert!(
        wait_for(Duration::from_secs(5), || has(&lab, "r1", VIP)),
        "r1 is master\n{}",
        log(&dir, "r1")
    );
    let r2 = start_agent(&mut lab, "r2", &conf, &dir, "r2", &[]);
    assert!(
        wait_control(&r2, Duration::from_secs(5)),
        "r2's control socket"
    );
    let bin = agent_bin();
    let events_file = dir.join("events.jsonl");
    let events = lab
        .spawn(
            "r2",
            &[
                bin.to_str().unwrap(),
                "events",
                "--control",
                r2.control.to_str().unwrap(),
            ],
            &events_file,
            &dir.join("events.err"),
        )
        .unwrap();
    // Subscribed well before the first transition below.
    std::thread::sleep(Duration::from_secs(1));

    // A stalled r2 (SIGSTOP longer than Master_Down) changes nothing: r1 kept advertising.
    signal(&lab, &r2, libc::SIGSTOP);
    std::thread::sleep(Duration::from_millis(800));
    signal(&lab, &r2, libc::SIGCONT);
    std::thread::sleep(Duration::from_millis(500));

    // A burst: r1 leaves (r2 MASTER), comes back and preempts (r2 BACKUP), leaves again
    // (r2 MASTER), each step as soon as the previous one is visible.
    assert!(lab
        .stop(r1.idx, libc::SIGTERM, Duration::from_secs(2))
        .unwrap());
    assert!(
        wait_holder(&lab, "r2", "r1", Duration::from_secs(2)).is_some(),
        "r2 takes over\n{}",
        log(&dir, "r2")
    );
    let r1 = start_agent(
        &mut lab,
        "r1",
        &config("pair-master.conf"),
        &dir,
        "r1-again",
        &[],
    );
    assert!(
        wait_holder(&lab, "r1", "r2", Duration::from_secs(5)).is_some(),
        "r1 preempts\n{}",
        log(&dir, "r2")
    );
    assert!(lab
        .stop(r1.idx, libc::SIGTERM, Duration::from_secs(2))
        .unwrap());
    assert!(
        wait_holder(&lab, "r2", "r1", Duration::from_secs(2)).is_some(),
        "r2 takes over again\n{}",
        log(&dir, "r2")
    );
    let ends = |n: usize| {
        let text = std::fs::read_to_string(&notify_log).unwrap_or_default();
        text.lines().filter(|l| l.starts_with("end ")).count() >= n
    };
    assert!(
        wait_for(Duration::from_secs(10), || ends(4)),
        "four notify runs finished:\n{}",
        std::fs::read_to_string(&notify_log).unwrap_or_default()
    );
    // r2 stops: its notify for STOP still runs (the agent drains its queue on exit).
    assert!(
        lab.stop(r2.idx, libc::SIGTERM, Duration::from_secs(5))
            .unwrap(),
        "r2 exits"
    );
    assert!(
        wait_for(Duration::from_secs(3), || ends(5)),
        "the STOP notify ran:\n{}",
        std::fs::read_to_string(&notify_log).unwrap_or_default()
    );
    // The event stream ends with the daemon.
    let closed = wait_for(Duration::from_secs(3), || lab.exited(events));
    if !closed {
        lab.stop(events, libc::SIGTERM, Duration::from_secs(2))
            .unwrap();
    }

    // The agent's own account of what happened, in order.
    let changes = state_changes(&dir, "r2");
    let logged: Vec<&str> = changes.iter().map(|c| notify_word(&c.to)).collect();
    assert_eq!(
        logged,
        ["BACKUP", "MASTER", "BACKUP", "MASTER", "STOP"],
        "r2's transitions\n{}",
        log(&dir, "r2")
    );

    // The notify runs: never overlapping, in the same order, with keepalived's arguments.
    let text = std::fs::read_to_string(&notify_log).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 10, "five runs, start and end each:\n{text}");
    let mut ran = Vec::new();
    for pair in lines.chunks(2) {
        let args = pair[0]
            .strip_prefix("start ")
            .unwrap_or_else(|| panic!("a run starts only after the previous ended:\n{text}"));
        assert_eq!(
            pair[1],
            format!("end {args}"),
            "runs do not overlap:\n{text}"
        );
        let words: Vec<&str> = args.split_whitespace().collect();
        assert_eq!(words.len(), 4, "INSTANCE name STATE priority: {args}");
        assert_eq!(&words[..2], ["INSTANCE", "VI_51"], "{args}");
        assert_eq!(words[3], "100", "{args}");
        ran.push(words[2].to_string());
    }
    assert_eq!(ran, logged, "notify order matches the log\n{text}");

    // The event stream: consecutive sequence numbers, the transitions since subscribing in
    // the same order. The start-up transition was event 1, before the subscription.
    let evs = json_lines(&events_file);
    let seqs: Vec<u64> = evs.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert!(
        !seqs.is_empty(),
        "events seen\n{}",
        std::fs::read_to_string(dir.join("events.err")).unwrap_or_default()
    );
    assert_eq!(seqs[0], 2, "first event after the start-up one: {evs:#?}");
    for w in seqs.windows(2) {
        assert_eq!(w[1], w[0] + 1, "seq increases by 1: {seqs:?}");
    }
    assert!(
        evs.iter().all(|e| e.get("lost").is_none()),
        "nothing lost: {evs:#?}"
    );
    let transitions: Vec<(&str, &str)> = evs
        .iter()
        .filter(|e| e["type"] == "transition")
        .map(|e| (e["to"].as_str().unwrap(), e["instance"].as_str().unwrap()))
        .collect();
    assert_eq!(
        transitions,
        [
            ("Master", "VI_51"),
            ("Backup", "VI_51"),
            ("Master", "VI_51"),
            ("Initialize", "VI_51")
        ],
        "events: {evs:#?}"
    );
}

// ---------------------------------------------------------------------------------------
// 3. status and metrics, field by field

/// GET /metrics from 127.0.0.1:`port` inside namespace `ns`; returns the body.
fn fetch_metrics(ns: &str, port: u16) -> String {
    let reply = in_netns(ns, move || {
        let mut s = TcpStream::connect(("127.0.0.1", port))?;
        s.set_read_timeout(Some(Duration::from_secs(5)))?;
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")?;
        let mut reply = String::new();
        s.read_to_string(&mut reply)?;
        Ok(reply)
    })
    .unwrap();
    let (head, body) = reply.split_once("\r\n\r\n").expect("an HTTP reply");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    body.to_string()
}

/// The value of one sample, `series` being the name with its full label set.
fn sample(page: &str, series: &str) -> Option<f64> {
    page.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .map(|v| v.trim().parse().unwrap())
}

#[test]
fn status_and_metrics_report_a_master_and_a_backup_field_by_field() {
    preconditions();
    let dir = scratch("ops-status");
    let mut lab = pair_lab("vxt-ops-status-");
    let r1 = start_agent(&mut lab, "r1", &config("pair-master.conf"), &dir, "r1", &[]);
    assert!(
        wait_for(Duration::from_secs(5), || has(&lab, "r1", VIP)),
        "r1 is master\n{}",
        log(&dir, "r1")
    );
    let r2 = start_agent(
        &mut lab,
        "r2",
        &config("pair-backup.conf"),
        &dir,
        "r2",
        &["--metrics", "127.0.0.1:9650"],
    );
    assert!(
        wait_control(&r2, Duration::from_secs(5)),
        "r2's control socket"
    );
    // Two status refreshes (every second), ~20 adverts heard.
    std::thread::sleep(Duration::from_millis(2200));
    assert!(has(&lab, "r1", VIP) && !has(&lab, "r2", VIP), "stable");

    let s1 = status_json(&r1);
    let m = instance(&s1, "VI_51");
    eprintln!("master: {m:#}");
    assert_eq!(s1["receive_paths"]["eth0"], "xdp (driver)", "{s1:#}");
    assert_eq!(s1["split_brain_events"], 0, "{s1:#}");
    assert_eq!(m["state"], "Master");
    assert_eq!(m["vrid"], 51);
    assert_eq!(m["interface"], "eth0");
    assert_eq!(m["family"], "ipv4");
    assert_eq!(m["version"], 3);
    assert_eq!(m["base_priority"], 150);
    assert_eq!(m["effective_priority"], 150);
    assert!(m["master"].is_null(), "a master hears no master: {m:#}");
    assert_eq!(m["advert_interval_cs"], 10);
    assert!(m["adverts_sent"].as_u64().unwrap() > 0, "{m:#}");
    assert_eq!(m["last_transition"]["from"], "Backup", "{m:#}");
    assert_eq!(m["last_transition"]["to"], "Master", "{m:#}");
    assert_eq!(m["last_transition"]["cause"], "MasterDown", "{m:#}");
    assert_eq!(m["transitions"], 2, "INIT->BACKUP->MASTER: {m:#}");
    assert_eq!(m["virtual_addresses"], serde_json::json!(["10.9.0.100/24"]));

    let s2 = status_json(&r2);
    let b = instance(&s2, "VI_51");
    eprintln!("backup: {b:#}");
    assert_eq!(s2["receive_paths"]["eth0"], "xdp (driver)", "{s2:#}");
    assert_eq!(b["state"], "Backup");
    assert_eq!(b["base_priority"], 100);
    assert_eq!(b["effective_priority"], 100);
    assert_eq!(b["master"], serde_json::json!(["10.9.0.1", 150]), "{b:#}");
    assert_eq!(b["master_adver_interval_cs"], 10, "learned from r1: {b:#}");
    assert_eq!(b["adverts_sent"], 0, "{b:#}");
    assert!(b["adverts_received"].as_u64().unwrap() > 0, "{b:#}");
    assert_eq!(b["last_transition"]["from"], "Initialize", "{b:#}");
    assert_eq!(b["last_transition"]["to"], "Backup", "{b:#}");
    assert_eq!(b["last_transition"]["cause"], "Startup", "{b:#}");
    assert_eq!(b["transitions"], 1, "{b:#}");
    // Master_Down_Interval = 3 x 100 ms + (256 - 100) / 256 x 100 ms = 360.9 ms; an advert
    // every 100 ms arrives about 260 ms before it.
    let margin = b["timer_margin_ms"].as_f64().expect("a timer margin");
    assert!(margin > 0.0 && margin < 360.9, "margin {margin} ms");
    let min = b["min_timer_margin_ms"].as_f64().expect("a minimum margin");
    assert!(
        min > 0.0 && min <= margin,
        "min margin {min} ms, margin {margin}"
    );

    let page = fetch_metrics(&lab.ns("r2"), 9650);
    let l = r#"instance="VI_51",interface="eth0",vrid="51""#;
    let get = |name: &str, extra: &str| {
        let series = if extra.is_empty() {
            format!("{name}{{{l}}}")
        } else {
            format!("{name}{{{l},{extra}}}")
        };
        sample(&page, &series).unwrap_or_else(|| panic!("no {series} in\n{page}"))
    };
    assert_eq!(get("vrrpx_instance_state", r#"state="backup""#), 1.0);
    assert_eq!(get("vrrpx_instance_state", r#"state="master""#), 0.0);
    assert_eq!(get("vrrpx_instance_priority", r#"kind="base""#), 100.0);
    assert_eq!(get("vrrpx_instance_priority", r#"kind="effective""#), 100.0);
    assert_eq!(get("vrrpx_master_priority", ""), 150.0);
    assert!(get("vrrpx_adverts_received_total", "") > 0.0);
    let count = get("vrrpx_advert_interarrival_seconds_count", "");
    assert!(count > 0.0, "inter-arrival observations");
    // Cumulative buckets: those between 50 ms and 250 ms hold the 100 ms adverts.
    let le = |b: &str| {
        get(
            "vrrpx_advert_interarrival_seconds_bucket",
            &format!("le=\"{b}\""),
        )
    };
    let around = le("0.25") - le("0.05");
    eprintln!(
        "inter-arrival: {count} observations, {around} in (0.05, 0.25], {} in (0.05, 0.1]",
        le("0.1") - le("0.05")
    );
    assert!(
        around >= 0.8 * count,
        "most inter-arrivals near 0.1 s: {around} of {count}\n{page}"
    );
    assert_eq!(le("+Inf"), count);
    let sum = get("vrrpx_advert_interarrival_seconds_sum", "");
    let mean = sum / count;
    assert!((0.09..0.2).contains(&mean), "mean inter-arrival {mean} s");
    assert_eq!(
        sample(
            &page,
            r#"vrrpx_receive_path_info{interface="eth0",path="xdp (driver)"}"#
        ),
        Some(1.0)
    );

    let human = cli(&["status", "--control", r2.control.to_str().unwrap()]);
    assert!(human.status.success());
    let human = String::from_utf8_lossy(&human.stdout);
    eprintln!("{human}");
    assert!(
        human.contains("VI_51") && human.contains("BACKUP"),
        "{human}"
    );
    assert!(human.contains("10.9.0.1 (150)"), "{human}");
}

// ---------------------------------------------------------------------------------------
// 4. Split brain

/// r1, r2 and a client c (10.9.0.50) on one bridge.
fn split_lab(prefix: &str) -> Lab {
    let mut lab = pair_lab(prefix);
    lab.host("c", "eth0", &["10.9.0.50/24"]).unwrap();
    lab
}

/// The nftables table (in the switch) that drops the VRRP adverts host `h` sends.
fn drop_table(h: &str) -> String {
    format!("vxtsplit_{h}")
}

/// Drop VRRP (IP protocol 112) at the switch, one table per sending router so that each
/// direction can be healed on its own: the two routers stop hearing each other, and
/// nothing else changes (ARP still passes).
fn block_vrrp(lab: &Lab) {
    for h in ["r1", "r2"] {
        let t = drop_table(h);
        for cmd in [
            format!("add table bridge {t}"),
            format!("add chain bridge {t} c {{ type filter hook forward priority 0; }}"),
            format!("add rule bridge {t} c iifname \"p-{h}\" ip protocol 112 counter drop"),
        ] {
            lab.exec("sw", &["nft", &cmd]).unwrap();
        }
    }
}

/// Let host `h`'s adverts through again.
fn unblock_from(lab: &Lab, h: &str) {
    lab.exec(
        "sw",
        &["nft", &format!("delete table bridge {}", drop_table(h))],
    )
    .unwrap();
}

fn unblock_vrrp(lab: &Lab) {
    unblock_from(lab, "r1");
    unblock_from(lab, "r2");
}

/// Packets the VRRP drop rules have dropped.
fn dropped(lab: &Lab) -> u64 {
    ["r1", "r2"]
        .iter()
        .map(|h| {
            let out = lab
                .exec("sw", &["nft", "list", "table", "bridge", &drop_table(h)])
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            text.split_once("counter packets ")
                .and_then(|(_, r)| r.split_whitespace().next())
                .and_then(|n| n.parse::<u64>().ok())
                .unwrap_or(0)
        })
        .sum()
}

fn mac(lab: &Lab, h: &str) -> String {
    let out = lab.exec(h, &["ip", "-o", "link", "show", "eth0"]).unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut words = text.split_whitespace();
    words.find(|w| *w == "link/ether");
    words.next().unwrap().to_string()
}

/// The client's neighbour entry for the VIP (`ip neigh show`), after one ping.
fn client_neighbour(lab: &Lab) -> String {
    let _ = lab
        .command("c", &["ping", "-c", "1", "-W", "0.3", "10.9.0.100"])
        .output();
    let out = lab
        .exec("c", &["ip", "neigh", "show", "10.9.0.100", "dev", "eth0"])
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Start r1 (150) and r2 (100) and wait until r1 is the one master.
fn start_pair(lab: &mut Lab, dir: &Path) -> (Agent, Agent) {
    let r1 = start_agent(lab, "r1", &config("split-brain-a.conf"), dir, "r1", &[]);
    let r2 = start_agent(lab, "r2", &config("split-brain-b.conf"), dir, "r2", &[]);
    assert!(
        wait_holder(lab, "r1", "r2", Duration::from_secs(5)).is_some(),
        "r1 is master\nr1: {}\nr2: {}",
        log(dir, "r1"),
        log(dir, "r2")
    );
    assert!(
        wait_control(&r2, Duration::from_secs(5)),
        "r2's control socket"
    );
    (r1, r2)
}

#[test]
fn split_brain_is_detected_by_both_masters_and_heals_to_the_higher_priority_one() {
    preconditions();
    let dir = scratch("ops-split");
    let mut lab = split_lab("vxt-ops-split-");
    let (r1, r2) = start_pair(&mut lab, &dir);
    let bin = agent_bin();
    let mut streams = Vec::new();
    for a in [&r1, &r2] {
        let file = dir.join(format!("events-{}.jsonl", a.tag));
        let idx = lab
            .spawn(
                "c",
                &[
                    bin.to_str().unwrap(),
                    "events",
                    "--control",
                    a.control.to_str().unwrap(),
                ],
                &file,
                &dir.join(format!("events-{}.err", a.tag)),
            )
            .unwrap();
        streams.push((idx, file));
    }
    std::thread::sleep(Duration::from_millis(500));

    block_vrrp(&lab);
    let t0 = Instant::now();
    assert!(
        wait_for(Duration::from_secs(3), || has(&lab, "r1", VIP)
            && has(&lab, "r2", VIP)),
        "r2 also becomes master when it stops hearing r1\nr2: {}",
        log(&dir, "r2")
    );
    eprintln!("both masters after {:?}", t0.elapsed());
    assert!(dropped(&lab) > 0, "the switch drops VRRP");
    // Each master hears the other's gratuitous ARP for the VIP.
    for a in [&r1, &r2] {
        let st = status_until(a, Duration::from_secs(5), |s| {
            s["split_brain_events"].as_u64().unwrap() > 0
        });
        assert!(
            st["split_brain_events"].as_u64().unwrap() > 0,
            "{} counts split brain: {st:#}\n{}",
            a.tag,
            log(&dir, &a.tag)
        );
        assert_eq!(instance(&st, "VI_51")["state"], "Master");
        assert!(
            log(&dir, &a.tag)
                .lines()
                .any(|l| l.contains("WARN") && l.contains("split brain")),
            "{} logs split brain\n{}",
            a.tag,
            log(&dir, &a.tag)
        );
    }
    for (_, file) in &streams {
        assert!(
            wait_for(Duration::from_secs(3), || json_lines(file)
                .iter()
                .any(|e| e["type"] == "split_brain" && e["instance"] == "VI_51")),
            "a split_brain event in {}: {:?}",
            file.display(),
            json_lines(file)
        );
    }

    // Heal: r2 hears r1's higher priority and steps down; r1 hears r2's lower one and
    // answers at once (RFC 9568).
    let before = state_changes(&dir, "r2").len();
    unblock_vrrp(&lab);
    let took = wait_holder(&lab, "r1", "r2", Duration::from_secs(3)).unwrap_or_else(|| {
        panic!(
            "one master again\nr1: {}\nr2: {}",
            log(&dir, "r1"),
            log(&dir, "r2")
        )
    });
    eprintln!("healed to one master after {took:?}");
    assert!(
        took < Duration::from_secs(1),
        "healed within 1 s (3 intervals plus slack): {took:?}"
    );
    let s1 = status_until(&r1, Duration::from_secs(2), |s| {
        instance(s, "VI_51")["state"] == "Master"
    });
    let s2 = status_until(&r2, Duration::from_secs(2), |s| {
        instance(s, "VI_51")["state"] == "Backup"
    });
    assert_eq!(instance(&s1, "VI_51")["state"], "Master");
    assert_eq!(instance(&s2, "VI_51")["state"], "Backup");
    assert_eq!(
        instance(&s2, "VI_51")["master"],
        serde_json::json!(["10.9.0.1", 150])
    );
    let after: Vec<Change> = state_changes(&dir, "r2").split_off(before);
    assert_eq!(
        after,
        [Change {
            instance: "VI_51".into(),
            to: "BACKUP".into(),
            cause: "Preempted".into()
        }],
        "r2 steps down once\n{}",
        log(&dir, "r2")
    );
    // And it stays healed; a client asking now finds r1.
    std::thread::sleep(Duration::from_millis(500));
    assert!(has(&lab, "r1", VIP) && !has(&lab, "r2", VIP), "stable");
    let mac1 = mac(&lab, "r1");
    let mut seen = String::new();
    assert!(
        wait_for(Duration::from_secs(2), || {
            seen = client_neighbour(&lab);
            seen.contains(&mac1)
        }),
        "the client's entry for the VIP points at r1 ({mac1}): `{seen}`"
    );
    let r1_changes: Vec<String> = state_changes(&dir, "r1")
        .into_iter()
        .map(|c| c.to)
        .collect();
    assert_eq!(r1_changes, ["BACKUP", "MASTER"], "r1 never left MASTER");
}

/// Split brain with a client that follows r2, healed one direction at a time: first the
/// adverts of `first` get through, 300 ms later the other's. Asserts that within 2 s of
/// the full heal the client's entry for the VIP points at r1 (its MAC) again.
fn client_follows_the_master_after_a_heal_starting_with(prefix: &str, first: &str) {
    let dir = scratch(&format!("ops-heal-{first}-first"));
    let mut lab = split_lab(prefix);
    let (r1, r2) = start_pair(&mut lab, &dir);
    block_vrrp(&lab);
    assert!(
        wait_for(Duration::from_secs(3), || has(&lab, "r1", VIP)
            && has(&lab, "r2", VIP)),
        "both masters\nr2: {}",
        log(&dir, "r2")
    );
    for a in [&r1, &r2] {
        let st = status_until(a, Duration::from_secs(5), |s| {
            s["split_brain_events"].as_u64().unwrap() > 0
        });
        assert!(st["split_brain_events"].as_u64().unwrap() > 0, "{st:#}");
    }
    let (mac1, mac2) = (mac(&lab, "r1"), mac(&lab, "r2"));
    // During the split the client reaches the VIP at one of them. Make it the one that
    // will step down, as happens to some clients in a real split (those that asked while
    // it answered, or heard its announcements last): the entry is fresh (REACHABLE), so
    // the kernel will not re-check it for tens of seconds on its own.
    let during = client_neighbour(&lab);
    eprintln!("client during split brain: {during}");
    lab.exec(
        "c",
        &[
            "ip",
            "neigh",
            "replace",
            "10.9.0.100",
            "lladdr",
            &mac2,
            "dev",
            "eth0",
            "nud",
            "reachable",
        ],
    )
    .unwrap();
    // Longer than the neighbour locktime (1 s), so a gratuitous ARP may override it.
    std::thread::sleep(Duration::from_millis(1500));

    let second = if first == "r1" { "r2" } else { "r1" };
    unblock_from(&lab, first);
    std::thread::sleep(Duration::from_millis(300));
    unblock_from(&lab, second);
    let t0 = Instant::now();
    assert!(
        wait_holder(&lab, "r1", "r2", Duration::from_secs(3)).is_some(),
        "one master again\nr1: {}\nr2: {}",
        log(&dir, "r1"),
        log(&dir, "r2")
    );
    let mut seen = String::new();
    let fixed = wait_for(Duration::from_secs(2), || {
        seen = client_neighbour(&lab);
        seen.contains(&mac1)
    });
    assert!(
        fixed,
        "within 2 s of healing ({first}'s adverts through first) the client's entry for the \
         VIP points at r1 ({mac1}), not r2 ({mac2}): `{seen}`\nr1: {}\nr2: {}",
        log(&dir, "r1"),
        log(&dir, "r2")
    );
    eprintln!(
        "client on r1 {:?} after the full heal ({first} first)",
        t0.elapsed()
    );
}

#[test]
fn when_the_master_hears_the_other_side_first_after_split_brain_its_announcement_moves_clients_back(
) {
    preconditions();
    // r1 hears r2's lower priority, answers with an advert and a gratuitous ARP.
    client_follows_the_master_after_a_heal_starting_with("vxt-ops-heal-r2-", "r2");
}

#[test]
fn when_the_other_side_hears_the_master_first_after_split_brain_clients_still_move_back() {
    preconditions();
    // r2 hears r1's higher priority and steps down without sending anything: r1 never
    // learns that the split is over, but it saw r2's announcements during the split and
    // keeps re-announcing for a while, so clients come back within a second.
    client_follows_the_master_after_a_heal_starting_with("vxt-ops-heal-r1-", "r1");
}

// ---------------------------------------------------------------------------------------
// 5. Reload at 10 ms

/// The monitor's adverts for `vrid`: (ts_ns, priority), in arrival order.
fn adverts(lines: &[Value], vrid: u64) -> Vec<(u64, u64)> {
    lines
        .iter()
        .filter(|l| l["vrid"].as_u64() == Some(vrid))
        .map(|l| {
            (
                l["ts_ns"].as_u64().unwrap(),
                l["priority"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// The longest gap between consecutive adverts that touches the window [from, to], and
/// how many adverts fell inside it.
fn longest_gap(adv: &[(u64, u64)], from: u64, to: u64) -> (Duration, usize) {
    let inside = adv.iter().filter(|a| a.0 >= from && a.0 <= to).count();
    let gap = adv
        .windows(2)
        .filter(|w| w[1].0 >= from && w[0].0 <= to)
        .map(|w| w[1].0.saturating_sub(w[0].0))
        .max()
        .unwrap_or(u64::MAX);
    (Duration::from_nanos(gap), inside)
}

#[test]
fn a_reload_changing_one_of_three_10ms_instances_leaves_the_others_advertising_without_a_gap() {
    preconditions();
    let dir = scratch("ops-reload");
    let mut lab = pair_lab("vxt-ops-reload-");
    let conf = dir.join("r1.conf");
    std::fs::copy(ops_config("reload-three.conf"), &conf).unwrap();
    let r1 = start_agent(&mut lab, "r1", &conf, &dir, "r1", &[]);
    let vips = ["10.9.0.151/24", "10.9.0.152/24", "10.9.0.153/24"];
    assert!(
        wait_for(Duration::from_secs(5), || vips
            .iter()
            .all(|v| has(&lab, "r1", v))),
        "r1 masters all three\n{}",
        log(&dir, "r1")
    );
    assert!(
        wait_control(&r1, Duration::from_secs(5)),
        "r1's control socket"
    );

    // r2 watches passively, with kernel arrival timestamps.
    let bin = agent_bin();
    let mon_file = dir.join("monitor.jsonl");
    let mon = lab
        .spawn(
            "r2",
            &[bin.to_str().unwrap(), "monitor", "-i", "eth0", "--json"],
            &mon_file,
            &dir.join("monitor.err"),
        )
        .unwrap();
    assert!(
        wait_for(Duration::from_secs(5), || json_lines(&mon_file).len() > 150),
        "the monitor hears adverts\n{}",
        std::fs::read_to_string(dir.join("monitor.err")).unwrap_or_default()
    );
    std::thread::sleep(Duration::from_millis(300));

    // Change only VI_53 (priority 150 -> 120) and reload.
    let changes_before = state_changes(&dir, "r1").len();
    std::fs::copy(ops_config("reload-three-changed.conf"), &conf).unwrap();
    let ctl = r1.control.to_str().unwrap();
    let t_reload = monotonic_ns();
    let out = cli(&["reload", "--control", ctl]);
    let t_done = monotonic_ns();
    assert!(
        out.status.success(),
        "reload answers ok: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        log(&dir, "r1")
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("reloaded"));
    eprintln!(
        "reload round trip {:?}",
        Duration::from_nanos(t_done - t_reload)
    );
    let st = status_until(&r1, Duration::from_secs(3), |s| {
        instance(s, "VI_53")["base_priority"] == 120 && instance(s, "VI_53")["state"] == "Master"
    });
    for name in ["VI_51", "VI_52", "VI_53"] {
        assert_eq!(instance(&st, name)["state"], "Master", "{name}: {st:#}");
    }
    assert_eq!(instance(&st, "VI_51")["base_priority"], 150);
    assert_eq!(instance(&st, "VI_52")["base_priority"], 150);
    assert_eq!(instance(&st, "VI_53")["base_priority"], 120);
    // Unchanged instances keep their first (and only) transitions.
    assert_eq!(instance(&st, "VI_51")["transitions"], 2, "{st:#}");
    assert_eq!(instance(&st, "VI_52")["transitions"], 2, "{st:#}");
    std::thread::sleep(Duration::from_millis(700));
    let after: Vec<Change> = state_changes(&dir, "r1").split_off(changes_before);
    assert!(
        after.iter().all(|c| c.instance == "VI_53"),
        "no transition for VI_51 or VI_52 after the reload: {after:#?}\n{}",
        log(&dir, "r1")
    );
    assert!(
        after.iter().any(|c| c.to == "MASTER"),
        "VI_53 restarted and is master again: {after:#?}"
    );
    assert!(
        log(&dir, "r1").contains("reload applied as a diff"),
        "{}",
        log(&dir, "r1")
    );

    // An invalid file: refused with file:line, nothing changes.
    std::fs::copy(ops_config("reload-invalid.conf"), &conf).unwrap();
    let changes_before = state_changes(&dir, "r1").len();
    let sent_before = status_json(&r1);
    let t_bad = monotonic_ns();
    let out = cli(&["reload", "--control", ctl]);
    let t_bad_done = monotonic_ns();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    eprintln!("invalid reload: {err}");
    assert!(!out.status.success(), "an invalid file is refused");
    assert!(
        err.contains(&format!("{}:33", conf.display())) && err.contains("virtual_router_id"),
        "the error names file:line and the keyword: {err}"
    );
    std::thread::sleep(Duration::from_millis(1200));
    let st = status_json(&r1);
    assert_eq!(st["instances"].as_array().unwrap().len(), 3, "{st:#}");
    for name in ["VI_51", "VI_52", "VI_53"] {
        let i = instance(&st, name);
        assert_eq!(i["state"], "Master", "{name}: {st:#}");
        let sent = i["adverts_sent"].as_u64().unwrap();
        let was = instance(&sent_before, name)["adverts_sent"]
            .as_u64()
            .unwrap();
        assert!(
            sent >= was + 50,
            "{name} still advertising: {was} -> {sent}"
        );
    }
    assert_eq!(instance(&st, "VI_53")["base_priority"], 120, "unchanged");
    assert_eq!(
        state_changes(&dir, "r1").len(),
        changes_before,
        "no transition after the refused reload\n{}",
        log(&dir, "r1")
    );
    assert!(vips.iter().all(|v| has(&lab, "r1", v)), "addresses kept");

    assert!(
        lab.stop(mon, libc::SIGTERM, Duration::from_secs(3))
            .unwrap(),
        "the monitor stops"
    );
    let lines = json_lines(&mon_file);
    let ms = |ms: u64| ms * 1_000_000;
    for vrid in [51, 52] {
        let adv = adverts(&lines, vrid);
        let (gap, n) = longest_gap(&adv, t_reload - ms(300), t_done + ms(800));
        eprintln!("VRID {vrid} around the reload: {n} adverts, longest gap {gap:?}");
        assert!(n >= 50, "VRID {vrid}: {n} adverts around the reload");
        assert!(
            gap <= Duration::from_millis(20),
            "VRID {vrid}: gap {gap:?} around the reload (10 ms adverts)"
        );
        assert!(
            adv.iter().all(|a| a.1 == 150),
            "VRID {vrid} always advertised 150 (never resigned)"
        );
    }
    let adv53 = adverts(&lines, 53);
    assert!(
        adv53.iter().any(|a| a.0 > t_done && a.1 == 120),
        "VRID 53 advertises its new priority"
    );
    // Still advertising through the refused reload: no gap a backup would act on (its
    // Master_Down_Interval at priority 100 is 3 x 10 ms + 156/256 x 10 ms = 36.1 ms).
    for vrid in [51, 52, 53] {
        let adv = adverts(&lines, vrid);
        let (gap, n) = longest_gap(&adv, t_bad - ms(300), t_bad_done + ms(800));
        eprintln!("VRID {vrid} around the refused reload: {n} adverts, longest gap {gap:?}");
        assert!(
            gap <= Duration::from_millis(30) && n >= 50,
            "VRID {vrid}: gap {gap:?}, {n} adverts around the refused reload"
        );
    }
}

// ---------------------------------------------------------------------------------------
// 6. systemd readiness and watchdog

/// The sd_notify messages received so far, and the socket they come in on.
struct Manager {
    sock: UnixDatagram,
    seen: Vec<(Duration, String)>,
    t0: Instant,
}

impl Manager {
    fn bind(path: &Path) -> Manager {
        let sock = UnixDatagram::bind(path).unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        Manager {
            sock,
            seen: Vec::new(),
            t0: Instant::now(),
        }
    }

    /// Receive until a message with the line `want` arrives, or `limit` passes.
    fn until(&mut self, want: &str, limit: Duration) -> Option<Instant> {
        let deadline = Instant::now() + limit;
        let mut buf = [0u8; 4096];
        while Instant::now() < deadline {
            if let Ok(n) = self.sock.recv(&mut buf) {
                let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
                self.seen.push((self.t0.elapsed(), msg.clone()));
                if msg.lines().any(|l| l == want) {
                    return Some(Instant::now());
                }
            }
        }
        None
    }

    fn count(&self, want: &str, since: usize) -> usize {
        self.seen[since..]
            .iter()
            .filter(|(_, m)| m.lines().any(|l| l == want))
            .count()
    }
}

#[test]
fn under_systemd_the_agent_reports_ready_keeps_the_watchdog_fed_and_announces_reload_and_stop() {
    preconditions();
    let dir = scratch("ops-sdnotify");
    let mut lab = Lab::new("vxt-ops-sd-").unwrap();
    lab.host("r1", "eth0", &["10.9.0.2/24"]).unwrap();
    let notify_path = dir.join("notify.sock");
    let mut mgr = Manager::bind(&notify_path);
    let control = dir.join("r1.sock");
    let bin = agent_bin();
    let conf = config("pair-backup.conf");
    let env_socket = format!("NOTIFY_SOCKET={}", notify_path.display());
    let idx = lab
        .spawn(
            "r1",
            &[
                "env",
                &env_socket,
                "WATCHDOG_USEC=200000",
                bin.to_str().unwrap(),
                "run",
                "-f",
                conf.to_str().unwrap(),
                "--control",
                control.to_str().unwrap(),
            ],
            &dir.join("r1.out"),
            &dir.join("r1.log"),
        )
        .unwrap();
    let agent = Agent {
        idx,
        control,
        tag: "r1".into(),
    };

    let ready = mgr.until("READY=1", Duration::from_secs(10));
    assert!(
        ready.is_some(),
        "READY=1: {:?}\n{}",
        mgr.seen,
        log(&dir, &agent.tag)
    );
    // Ready means running: the instance has left INIT.
    let st = status_json(&agent);
    let state = instance(&st, "VI_51")["state"].clone();
    assert!(
        state == "Backup" || state == "Master",
        "state at READY: {state}"
    );

    // WATCHDOG_USEC = 200 ms: a ping every 100 ms.
    let from = mgr.seen.len();
    let window = Instant::now();
    while window.elapsed() < Duration::from_secs(1) {
        mgr.until("never", Duration::from_millis(100));
    }
    let pings = mgr.count("WATCHDOG=1", from);
    eprintln!("{pings} WATCHDOG=1 in 1 s");
    assert!(pings >= 2, "watchdog pings within a second: {:?}", mgr.seen);

    let from = mgr.seen.len();
    signal(&lab, &agent, libc::SIGHUP);
    assert!(
        mgr.until("RELOADING=1", Duration::from_secs(3)).is_some(),
        "RELOADING=1 on SIGHUP: {:?}",
        &mgr.seen[from..]
    );
    assert!(
        mgr.until("READY=1", Duration::from_secs(3)).is_some(),
        "READY=1 after the reload: {:?}",
        &mgr.seen[from..]
    );
    assert!(
        log(&dir, &agent.tag).contains("configuration reloaded"),
        "{}",
        log(&dir, &agent.tag)
    );

    let from = mgr.seen.len();
    signal(&lab, &agent, libc::SIGTERM);
    assert!(
        mgr.until("STOPPING=1", Duration::from_secs(3)).is_some(),
        "STOPPING=1 on SIGTERM: {:?}",
        &mgr.seen[from..]
    );
    assert!(
        wait_for(Duration::from_secs(3), || lab.exited(agent.idx)),
        "the agent exits"
    );
    eprintln!("sd_notify messages: {:?}", mgr.seen);
}

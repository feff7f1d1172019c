//! Health tracking with real processes, sockets and files: the `Tracker` started from a
//! keepalived.conf (or a plan), its updates read from the channel and applied, as the engine
//! does. Intervals are 100 ms; every wait is bounded.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::mpsc::Receiver;
use vrrp_agent::config::load_str;
use vrrp_agent::track::book::{CheckPlan, FilePlan, InstancePlan};
use vrrp_agent::track::{Observation, Plan, RunResult, Source, Status, TrackUpdate, Tracker};
use vrrpx_tests::scratch;

/// Longest wait for any one update.
const WAIT: Duration = Duration::from_secs(5);

// ---------------------------------------------------------------------------------------
// Helpers

/// A keepalived.conf with one instance (priority 100) tracking one script.
fn conf_with_script(script_block: &str) -> String {
    format!(
        "vrrp_script chk {{\n{script_block}\n}}\n\
         vrrp_instance VI_1 {{\n\
           state BACKUP\n  interface lo\n  virtual_router_id 51\n  priority 100\n\
           advert_int 1\n  virtual_ipaddress {{\n    10.9.0.100/24\n  }}\n\
           track_script {{\n    chk\n  }}\n}}\n"
    )
}

fn start(conf: &str) -> (Tracker, Receiver<TrackUpdate>) {
    let loaded = load_str(conf, Path::new("track-test.conf")).unwrap_or_else(|errors| {
        let shown: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        panic!("config errors:\n{}", shown.join("\n"))
    });
    Tracker::start(&loaded.config)
}

/// A tracker on [`conf_with_script`] whose `chk` runs `script` (written quoted) with the
/// `settings` lines after it.
fn start_script(script: &str, settings: &str) -> (Tracker, Receiver<TrackUpdate>) {
    start(&conf_with_script(&format!(
        "script \"{script}\"\n{settings}"
    )))
}

/// The command line `sh -c 'BODY'`, every `{f}` in `body` standing for `file`.
fn sh_on(file: &Path, body: &str) -> String {
    format!(
        "sh -c '{}'",
        body.replace("{f}", &file.display().to_string())
    )
}

/// A plan with one instance (priority 100) tracking one unweighted script.
fn plan_one_script(script: &str, interval: Duration, timeout: Duration) -> Plan {
    Plan {
        checks: vec![CheckPlan {
            name: "chk".into(),
            script: script.into(),
            interval,
            timeout,
            rise: 1,
            fall: 1,
            init_fail: false,
            run_as: None,
        }],
        interfaces: Vec::new(),
        files: Vec::new(),
        instances: vec![InstancePlan {
            name: "VI_1".into(),
            priority: 100,
            tracked: vec![(Source::Script("chk".into()), 0)],
        }],
        poll: Duration::from_millis(100),
        net_root: PathBuf::from("/sys/class/net"),
    }
}

/// The next update, applied to the tracker as the engine would.
async fn next(tracker: &mut Tracker, rx: &mut Receiver<TrackUpdate>) -> TrackUpdate {
    let update = tokio::time::timeout(WAIT, rx.recv())
        .await
        .expect("no tracking update within 5 s")
        .expect("tracker channel closed");
    tracker.apply(&update);
    update
}

fn run_result(update: &TrackUpdate) -> &RunResult {
    match &update.observation {
        Observation::Run(r) => r,
        other => panic!("expected a run result, got {other:?}"),
    }
}

/// Reads updates until one satisfies `want`; returns it.
async fn until(
    tracker: &mut Tracker,
    rx: &mut Receiver<TrackUpdate>,
    what: &str,
    want: impl Fn(&TrackUpdate) -> bool,
) -> TrackUpdate {
    let deadline = Instant::now() + WAIT;
    loop {
        assert!(Instant::now() < deadline, "no {what} within 5 s");
        let u = next(tracker, rx).await;
        if want(&u) {
            return u;
        }
    }
}

/// Waits (bounded) until `path` has at least `lines` lines; returns them.
async fn wait_lines(path: &Path, lines: usize) -> Vec<String> {
    let deadline = Instant::now() + WAIT;
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let got: Vec<String> = text.lines().map(str::to_string).collect();
        if got.len() >= lines {
            return got;
        }
        assert!(
            Instant::now() < deadline,
            "{} never got {lines} lines",
            path.display()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A process is gone when /proc has no entry for it or it is a zombie nobody reaped yet
/// (its parent, the killed script, is gone; in a container init may not reap it).
fn process_gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z') || rest.starts_with('X')),
    }
}

async fn wait_gone(pid: u32) {
    let deadline = Instant::now() + WAIT;
    while !process_gone(pid) {
        assert!(Instant::now() < deadline, "process {pid} still runs");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

// ---------------------------------------------------------------------------------------
// Scripts

#[tokio::test]
async fn script_fails_after_fall_failures_and_recovers_after_rise_successes() {
    let flag = scratch("track-flip").join("flag");
    std::fs::write(&flag, "").unwrap();
    // No shell: `test` is run directly with its arguments.
    let (mut tracker, mut rx) = start_script(
        &format!("/usr/bin/test -e {}", flag.display()),
        "interval 0.1\ntimeout 1\nweight -20\nfall 3\nrise 2",
    );
    let ok = |u: &TrackUpdate| run_result(u).is_success();

    until(&mut tracker, &mut rx, "first success", ok).await;
    assert_eq!(tracker.book().status("chk"), Some(Status::Ok));
    assert_eq!(tracker.verdict("VI_1").unwrap().priority, 100);

    std::fs::remove_file(&flag).unwrap();
    until(&mut tracker, &mut rx, "first failure", |u| !ok(u)).await;
    assert_eq!(
        tracker.book().status("chk"),
        Some(Status::Ok),
        "1 of fall 3"
    );
    let u = next(&mut tracker, &mut rx).await;
    assert!(!ok(&u));
    assert_eq!(
        tracker.book().status("chk"),
        Some(Status::Ok),
        "2 of fall 3"
    );
    let u = next(&mut tracker, &mut rx).await;
    assert_eq!(run_result(&u), &RunResult::Failed("exit status 1".into()));
    assert_eq!(
        tracker.book().status("chk"),
        Some(Status::Failed),
        "3 of fall 3"
    );
    let v = tracker.verdict("VI_1").unwrap();
    assert_eq!((v.priority, v.fault), (80, false));
    assert_eq!(v.reasons, ["chk failed (exit status 1): -20"]);

    std::fs::write(&flag, "").unwrap();
    until(&mut tracker, &mut rx, "first success again", ok).await;
    assert_eq!(
        tracker.book().status("chk"),
        Some(Status::Failed),
        "1 of rise 2"
    );
    let u = next(&mut tracker, &mut rx).await;
    assert!(ok(&u));
    assert_eq!(
        tracker.book().status("chk"),
        Some(Status::Ok),
        "2 of rise 2"
    );
    assert_eq!(tracker.verdict("VI_1").unwrap().priority, 100);
}

#[tokio::test]
async fn script_running_past_its_timeout_is_killed_with_its_children_and_fails() {
    let pids = scratch("track-timeout").join("pids");
    // The shell records itself and a background child, then waits far past the timeout.
    let script = sh_on(&pids, "echo $$ >> {f}; sleep 30 & echo $! >> {f}; wait");
    let started = Instant::now();
    let (mut tracker, mut rx) = start_script(&script, "interval 0.1\ntimeout 0.3");
    let u = next(&mut tracker, &mut rx).await;
    let took = started.elapsed();
    assert_eq!(run_result(&u), &RunResult::TimedOut { after_ms: 300 });
    assert!(took >= Duration::from_millis(300), "{took:?}");
    assert!(
        took < Duration::from_secs(2),
        "SIGTERM should have done: {took:?}"
    );

    let lines = wait_lines(&pids, 2).await;
    for pid in &lines[..2] {
        let pid: u32 = pid.parse().unwrap();
        wait_gone(pid).await;
    }
    let v = tracker.verdict("VI_1").unwrap();
    assert!(v.fault, "unweighted script timed out: {v:?}");
    assert_eq!(v.reasons, ["chk failed (timed out after 300 ms): fault"]);
}

#[tokio::test]
async fn script_ignoring_sigterm_is_killed_with_sigkill_after_the_grace() {
    let pids = scratch("track-sigkill").join("pids");
    // An ignored SIGTERM is inherited by `sleep` too. (A plan, not a keepalived.conf: its
    // quoted strings cannot hold the `"` this needs.)
    let script = format!(
        "sh -c \"trap '' TERM; echo $$ >> {}; sleep 30\"",
        pids.display()
    );
    let started = Instant::now();
    let (mut tracker, mut rx) = Tracker::start_plan(plan_one_script(
        &script,
        Duration::from_millis(100),
        Duration::from_millis(200),
    ));
    let u = next(&mut tracker, &mut rx).await;
    let took = started.elapsed();
    assert_eq!(run_result(&u), &RunResult::TimedOut { after_ms: 200 });
    assert!(
        took >= Duration::from_millis(200) + vrrp_agent::track::runner::TERM_GRACE,
        "SIGKILL came before the grace ended: {took:?}"
    );
    let pid: u32 = wait_lines(&pids, 1).await[0].parse().unwrap();
    wait_gone(pid).await;
}

#[tokio::test]
async fn script_still_running_at_the_next_interval_is_not_started_twice() {
    let log = scratch("track-overlap").join("log");
    let script = sh_on(&log, "echo start >> {f}; sleep 0.35; echo end >> {f}");
    let (mut tracker, mut rx) = start_script(&script, "interval 0.1\ntimeout 2");
    let started = Instant::now();
    for _ in 0..3 {
        let u = next(&mut tracker, &mut rx).await;
        assert!(run_result(&u).is_success(), "{u:?}");
    }
    // Three runs of 350 ms each, back to back at best: never sooner.
    assert!(started.elapsed() >= Duration::from_millis(3 * 350));
    drop(tracker);
    let lines = wait_lines(&log, 6).await;
    for pair in lines.chunks(2) {
        if pair.len() == 2 {
            assert_eq!(pair, ["start", "end"], "runs overlapped: {lines:?}");
        }
    }
    let starts = lines.iter().filter(|l| *l == "start").count();
    assert!(starts <= 4, "{starts} starts for 3 results: {lines:?}");
}

#[tokio::test]
async fn script_that_cannot_start_is_reported_with_the_reason() {
    let dir = scratch("track-cannot-start");
    let (mut tracker, mut rx) = start_script("/nonexistent/chk_x --flag", "interval 0.1\nfall 1");
    let u = next(&mut tracker, &mut rx).await;
    match run_result(&u) {
        RunResult::CannotStart(why) => {
            assert!(why.starts_with("/nonexistent/chk_x: "), "{why}");
            assert!(why.contains("No such file or directory"), "{why}");
        }
        other => panic!("expected CannotStart, got {other:?}"),
    }
    assert_eq!(tracker.book().status("chk"), Some(Status::Failed));
    let v = tracker.verdict("VI_1").unwrap();
    assert!(v.fault);
    assert!(
        v.reasons[0].contains("cannot start: /nonexistent/chk_x"),
        "{v:?}"
    );
    drop(tracker);

    // A file that is there but not executable: EACCES, also reported.
    let not_exec = dir.join("chk.sh");
    std::fs::write(&not_exec, "#!/bin/sh\nexit 0\n").unwrap();
    let (mut tracker, mut rx) = start_script(&not_exec.display().to_string(), "interval 0.1");
    let u = next(&mut tracker, &mut rx).await;
    match run_result(&u) {
        RunResult::CannotStart(why) => assert!(why.contains("Permission denied"), "{why}"),
        other => panic!("expected CannotStart, got {other:?}"),
    }
}

#[tokio::test]
async fn script_string_that_cannot_be_read_is_reported_not_ignored() {
    // The configuration check rejects this with file and line; a plan built by other means
    // still gets a report at every run rather than silence.
    let (mut tracker, mut rx) = Tracker::start_plan(plan_one_script(
        "vrrpx:tcp nowhere",
        Duration::from_millis(100),
        Duration::from_millis(100),
    ));
    let u = next(&mut tracker, &mut rx).await;
    match run_result(&u) {
        RunResult::CannotStart(why) => assert!(why.contains("needs a port"), "{why}"),
        other => panic!("expected CannotStart, got {other:?}"),
    }
    assert!(tracker.verdict("VI_1").unwrap().fault);
}

// ---------------------------------------------------------------------------------------
// Built-in checks

#[tokio::test]
async fn tcp_check_succeeds_while_a_listener_is_open_and_fails_after() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (mut tracker, mut rx) = start_script(
        &format!("vrrpx:tcp 127.0.0.1:{port}"),
        "interval 0.1\ntimeout 0.5\nweight 10",
    );
    let u = next(&mut tracker, &mut rx).await;
    assert_eq!(run_result(&u), &RunResult::Success);
    assert_eq!(tracker.verdict("VI_1").unwrap().priority, 110);

    drop(listener);
    let u = until(&mut tracker, &mut rx, "a refused connect", |u| {
        !run_result(u).is_success()
    })
    .await;
    match run_result(&u) {
        RunResult::Failed(why) => {
            assert!(
                why.starts_with(&format!("connect 127.0.0.1:{port}: ")),
                "{why}"
            );
            assert!(why.contains("refused"), "{why}");
        }
        other => panic!("expected a refused connect, got {other:?}"),
    }
    assert_eq!(tracker.verdict("VI_1").unwrap().priority, 100);
}

/// A one-thread HTTP server answering every request with the current status.
struct TinyHttp {
    port: u16,
    status: Arc<AtomicU16>,
    requests: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TinyHttp {
    fn start(status: u16) -> TinyHttp {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let status = Arc::new(AtomicU16::new(status));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (status, requests, stop) = (status.clone(), requests.clone(), stop.clone());
            std::thread::spawn(move || {
                for conn in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    let Ok(mut conn) = conn else { continue };
                    conn.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
                    let mut head = Vec::new();
                    let mut buf = [0u8; 512];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match conn.read(&mut buf) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    requests
                        .lock()
                        .unwrap()
                        .push(String::from_utf8_lossy(&head).into_owned());
                    let code = status.load(Ordering::SeqCst);
                    let _ = write!(
                        conn,
                        "HTTP/1.0 {code} Whatever\r\nContent-Length: 0\r\n\r\n"
                    );
                }
            })
        };
        TinyHttp {
            port,
            status,
            requests,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for TinyHttp {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[tokio::test]
async fn http_check_is_one_line_and_wants_the_expected_status() {
    let server = TinyHttp::start(200);
    // The seeds' "is nginx up?" check, without a script.
    let (mut tracker, mut rx) = start_script(
        &format!("vrrpx:http http://127.0.0.1:{}/healthz", server.port),
        "interval 0.1\ntimeout 1\nfall 2",
    );
    let u = next(&mut tracker, &mut rx).await;
    assert_eq!(run_result(&u), &RunResult::Success);
    assert!(!tracker.verdict("VI_1").unwrap().fault);
    {
        let requests = server.requests.lock().unwrap();
        let first = requests[0].lines().next().unwrap().to_string();
        assert_eq!(first, "GET /healthz HTTP/1.0");
        assert!(requests[0].contains(&format!("Host: 127.0.0.1:{}\r\n", server.port)));
    }

    server.status.store(503, Ordering::SeqCst);
    let u = until(&mut tracker, &mut rx, "a 503", |u| {
        !run_result(u).is_success()
    })
    .await;
    assert_eq!(
        run_result(&u),
        &RunResult::Failed("HTTP status 503 (want 200)".into())
    );
    assert!(!tracker.verdict("VI_1").unwrap().fault, "1 of fall 2");
    next(&mut tracker, &mut rx).await;
    let v = tracker.verdict("VI_1").unwrap();
    assert!(v.fault, "2 of fall 2");
    assert_eq!(
        v.reasons,
        ["chk failed (HTTP status 503 (want 200)): fault"]
    );
}

#[tokio::test]
async fn http_check_can_expect_another_status() {
    let server = TinyHttp::start(204);
    let (mut tracker, mut rx) = start_script(
        &format!(
            "vrrpx:http http://127.0.0.1:{}/ready status 204",
            server.port
        ),
        "interval 0.1\ntimeout 1",
    );
    let u = next(&mut tracker, &mut rx).await;
    assert_eq!(run_result(&u), &RunResult::Success);
}

// ---------------------------------------------------------------------------------------
// Interfaces and files (a fake /sys/class/net, so nothing real goes down)

fn plan_with(net_root: PathBuf) -> Plan {
    Plan {
        checks: Vec::new(),
        interfaces: vec!["eth9".into()],
        files: Vec::new(),
        instances: vec![InstancePlan {
            name: "VI_1".into(),
            priority: 100,
            tracked: vec![(Source::Interface("eth9".into()), 0)],
        }],
        poll: Duration::from_millis(20),
        net_root,
    }
}

#[tokio::test]
async fn interface_down_faults_and_a_file_value_moves_priority() {
    let dir = scratch("track-sys");
    let operstate = dir.join("net/eth9/operstate");
    std::fs::create_dir_all(operstate.parent().unwrap()).unwrap();
    std::fs::write(&operstate, "up\n").unwrap();
    let weight_file = dir.join("weight");
    std::fs::write(&weight_file, "3\n").unwrap();

    let mut plan = plan_with(dir.join("net"));
    plan.files.push(FilePlan {
        name: "capacity".into(),
        path: weight_file.clone(),
        init: None,
    });
    plan.instances[0]
        .tracked
        .push((Source::File("capacity".into()), 5));
    let (mut tracker, mut rx) = Tracker::start_plan(plan);
    // Read at start: nothing pending, the file already counts.
    let v = tracker.verdict("VI_1").unwrap();
    assert_eq!((v.priority, v.fault, v.pending), (115, false, false));

    std::fs::write(&operstate, "down\n").unwrap();
    let u = next(&mut tracker, &mut rx).await;
    assert_eq!(
        u.observation,
        Observation::Link {
            up: false,
            detail: "operstate down".into()
        }
    );
    let v = tracker.verdict("VI_1").unwrap();
    assert!(v.fault);
    assert!(v
        .reasons
        .contains(&"eth9 down (operstate down): fault".to_string()));

    std::fs::write(&operstate, "up\n").unwrap();
    next(&mut tracker, &mut rx).await;
    assert!(!tracker.verdict("VI_1").unwrap().fault);

    std::fs::write(&weight_file, "-4\n").unwrap();
    let u = next(&mut tracker, &mut rx).await;
    assert_eq!(u.source, Source::File("capacity".into()));
    assert_eq!(tracker.verdict("VI_1").unwrap().priority, 80);

    std::fs::remove_file(&weight_file).unwrap();
    next(&mut tracker, &mut rx).await;
    assert_eq!(
        tracker.verdict("VI_1").unwrap().priority,
        100,
        "missing reads as 0"
    );
}

#[tokio::test]
async fn track_file_from_the_configuration_is_initialised_and_read() {
    let path = scratch("track-file-conf").join("capacity");
    let conf = format!(
        "track_file capacity {{\n  file \"{}\"\n  weight 5\n  init_file 3\n}}\n\
         vrrp_instance VI_1 {{\n\
           state BACKUP\n  interface lo\n  virtual_router_id 51\n  priority 100\n\
           advert_int 1\n  virtual_ipaddress {{\n    10.9.0.100/24\n  }}\n\
           track_file {{\n    capacity\n  }}\n}}\n",
        path.display()
    );
    let (mut tracker, mut rx) = start(&conf);
    // `init_file 3` wrote the file before the first read: 3 × 5.
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "3\n");
    let v = tracker.verdict("VI_1").unwrap();
    assert_eq!((v.priority, v.fault, v.pending), (115, false, false));
    assert_eq!(v.reasons, ["file capacity = 3 × 5: +15"]);

    std::fs::write(&path, "0\n").unwrap();
    let u = next(&mut tracker, &mut rx).await;
    assert_eq!(u.source, Source::File("capacity".into()));
    assert_eq!(tracker.verdict("VI_1").unwrap().priority, 100);
}

#[tokio::test]
async fn with_nothing_to_track_the_channel_stays_open_until_the_tracker_goes() {
    let (tracker, mut rx) = Tracker::start_plan(Plan {
        checks: Vec::new(),
        interfaces: Vec::new(),
        files: Vec::new(),
        instances: Vec::new(),
        poll: Duration::from_millis(10),
        net_root: PathBuf::from("/sys/class/net"),
    });
    let quiet = tokio::time::timeout(Duration::from_millis(100), rx.recv()).await;
    assert!(
        quiet.is_err(),
        "nothing to report, and not closed: {quiet:?}"
    );
    drop(tracker);
    assert!(rx.recv().await.is_none());
}

//! Running vrrp-agent in a lab host the way users do (`vrrp-agent run -f FILE`, default
//! paths) and asking it what it thinks: its own CLI (`vrrp-agent status --json`, which
//! finds the daemon of the namespace with no flag) and its event stream, subscribed
//! through the control socket client as soon as the daemon answers and collected as
//! typed [`Event`]s for the whole run.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use vrrp_agent::proto::router::{Cause, StateName};

use crate::agent_bin;
use crate::events::{Event, Line};
use crate::netns::{wait_for, Lab};
use crate::pair::conf_file;

/// How long [`Agent::start`] waits for the daemon to answer on its control socket.
const START_LIMIT: Duration = Duration::from_secs(10);

/// What the event collector has seen: the first sequence number of the subscription (0
/// until subscribed) and every line since.
#[derive(Default)]
struct Stream {
    first_seq: u64,
    lines: Vec<Line>,
    /// The daemon ended the stream (it exited).
    closed: bool,
}

/// One agent started in a lab host; its stderr goes to `log`.
pub struct Agent {
    pub host: String,
    pub idx: usize,
    pub log: PathBuf,
    stream: Arc<Mutex<Stream>>,
    stop: Arc<AtomicBool>,
    /// `status --json` taken right after subscribing: it accounts for the transitions
    /// made before the first event the stream carries.
    at_start: Option<Value>,
}

/// `vrrp-agent ARGS...` run in host `h` (default paths: the daemon of that namespace).
pub fn cli(lab: &Lab, h: &str, args: &[&str]) -> Output {
    let bin = agent_bin();
    let mut argv = vec![bin.to_str().unwrap()];
    argv.extend_from_slice(args);
    lab.command(h, &argv).output().unwrap()
}

/// `vrrp-agent ARGS...` in the test's own namespace (`check`, which needs no daemon).
pub fn cli_here(args: &[&str]) -> Output {
    std::process::Command::new(agent_bin())
        .args(args)
        .output()
        .expect("run target/release/vrrp-agent (cargo build --release -p vrrp-agent)")
}

/// A log file under `dir` for host `h` not used yet in this test: `agent-H.log`, then
/// `agent-H-2.log`, ... for later runs.
fn fresh_log(dir: &Path, h: &str) -> PathBuf {
    (1..)
        .map(|n| match n {
            1 => dir.join(format!("agent-{h}.log")),
            n => dir.join(format!("agent-{h}-{n}.log")),
        })
        .find(|p| !p.exists())
        .unwrap()
}

/// `[env ENV...] vrrp-agent run -f CONF EXTRA...`.
fn run_argv(conf: &Path, env: &[&str], extra: &[&str]) -> Vec<String> {
    let bin = agent_bin();
    let head = if env.is_empty() {
        &[][..]
    } else {
        &["env"][..]
    };
    let run = [bin.to_str().unwrap(), "run", "-f", conf.to_str().unwrap()];
    [head, env, &run, extra]
        .concat()
        .into_iter()
        .map(str::to_string)
        .collect()
}

/// The control socket `argv` names with `--control`, or `None` for the default one.
fn control_flag<'a>(argv: &[&'a str]) -> Option<&'a str> {
    argv.windows(2).find(|w| w[0] == "--control").map(|w| w[1])
}

impl Agent {
    /// `vrrp-agent run -f conf EXTRA...` in host `h`. Returns once the daemon's event stream
    /// is subscribed (or it exited, or `--no-control` leaves nothing to subscribe to).
    pub fn start(lab: &mut Lab, h: &str, conf: &Path, dir: &Path, extra: &[&str]) -> Agent {
        Agent::start_with_env(lab, h, conf, dir, &[], extra)
    }

    /// [`Agent::start`] without following the event stream and without waiting, for a
    /// daemon that has no usable control socket (the test is about that).
    pub fn start_unwatched(
        lab: &mut Lab,
        h: &str,
        conf: &Path,
        dir: &Path,
        extra: &[&str],
    ) -> Agent {
        Agent::spawn(lab, h, dir, &run_argv(conf, &[], extra))
    }

    /// [`Agent::start`] with `env` (`NAME=VALUE`) in the daemon's environment.
    pub fn start_with_env(
        lab: &mut Lab,
        h: &str,
        conf: &Path,
        dir: &Path,
        env: &[&str],
        extra: &[&str],
    ) -> Agent {
        let mut agent = Agent::spawn(lab, h, dir, &run_argv(conf, env, extra));
        if !extra.contains(&"--no-control") {
            agent.subscribe(lab, control_flag(extra).map(PathBuf::from));
        }
        agent
    }

    fn spawn(lab: &mut Lab, h: &str, dir: &Path, argv: &[String]) -> Agent {
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        let log = fresh_log(dir, h);
        let idx = lab
            .spawn(h, &argv, &log.with_extension("out"), &log)
            .unwrap();
        Agent {
            host: h.to_string(),
            idx,
            log,
            stream: Arc::default(),
            stop: Arc::default(),
            at_start: None,
        }
    }

    /// Follow the daemon's events from a thread in its namespace until the daemon closes
    /// the stream or the agent is dropped; wait until subscribed (bounded).
    fn subscribe(&mut self, lab: &mut Lab, control: Option<PathBuf>) {
        let (stream, stop) = (self.stream.clone(), self.stop.clone());
        let path = control.unwrap_or_else(|| default_control_socket(lab, &self.host));
        std::thread::spawn(move || -> anyhow::Result<()> {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            rt.block_on(collect(&path, stream, stop))
        });
        let idx = self.idx;
        let subscribed = wait_for(START_LIMIT, || {
            self.stream.lock().unwrap().first_seq > 0 || lab.exited(idx)
        });
        if let Some(status) = lab.exit_status(idx) {
            eprintln!(
                "the daemon in {} exited ({status}) before answering",
                self.host
            );
            return;
        }
        assert!(
            subscribed,
            "the daemon in {} did not answer on its control socket within {START_LIMIT:?}\n{}",
            self.host,
            self.log()
        );
        self.at_start = self.status(lab);
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The log lines that contain every one of `words` (for what no event or status field
    /// carries).
    pub fn log_lines(&self, words: &[&str]) -> Vec<String> {
        self.log()
            .lines()
            .filter(|l| words.iter().all(|w| l.contains(w)))
            .map(str::to_string)
            .collect()
    }

    /// The first log line holding every one of `words`, waiting up to `within` for it.
    pub fn wait_log_line(&self, words: &[&str], within: Duration) -> Option<String> {
        let mut found = None;
        wait_for(within, || {
            found = self.log_lines(words).into_iter().next();
            found.is_some()
        });
        found
    }

    /// `vrrp-agent ARGS...` in the agent's namespace.
    pub fn cli(&self, lab: &Lab, args: &[&str]) -> Output {
        cli(lab, &self.host, args)
    }

    pub fn pid(&self, lab: &Lab) -> u32 {
        lab.pid(self.idx)
    }

    /// Send `sig` and return at once (SIGSTOP, SIGCONT, SIGHUP).
    pub fn signal(&self, lab: &Lab, sig: i32) {
        // SAFETY: kill(2) on a child the lab spawned and has not reaped.
        unsafe { libc::kill(lab.pid(self.idx) as i32, sig) };
    }

    /// Send `sig` and wait up to `limit` for the daemon to exit; true if it did.
    pub fn stop(&self, lab: &mut Lab, sig: i32, limit: Duration) -> bool {
        lab.stop(self.idx, sig, limit).unwrap()
    }

    /// Send SIGTERM and time the exit, polling every millisecond.
    pub fn time_sigterm(&self, lab: &mut Lab, limit: Duration) -> Option<Duration> {
        let t0 = Instant::now();
        self.signal(lab, libc::SIGTERM);
        while t0.elapsed() < limit {
            if lab.exited(self.idx) {
                return Some(t0.elapsed());
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        None
    }

    pub fn exited(&self, lab: &mut Lab) -> bool {
        lab.exited(self.idx)
    }

    /// `vrrp-agent status --json` run in the agent's namespace (default socket path).
    pub fn status(&self, lab: &Lab) -> Option<Value> {
        let out = self.cli(lab, &["status", "--json"]);
        if !out.status.success() {
            return None;
        }
        serde_json::from_slice(&out.stdout).ok()
    }

    /// Poll the status (snapshots are refreshed at least every second) until `want` holds
    /// or `limit` passes; returns the last snapshot either way.
    pub fn status_until(&self, lab: &Lab, limit: Duration, want: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + limit;
        loop {
            let s = self.status(lab).unwrap_or(Value::Null);
            if want(&s) || Instant::now() >= deadline {
                return s;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The status of instance `name`, if the daemon answers and has it.
    pub fn instance(&self, lab: &Lab, name: &str) -> Option<Value> {
        instance_in(&self.status(lab)?, name).cloned()
    }

    /// The state ("Master", "Backup", "Fault", "Initialize") of instance `name`.
    pub fn state(&self, lab: &Lab, name: &str) -> Option<String> {
        self.instance(lab, name)
            .and_then(|i| i["state"].as_str().map(str::to_string))
    }

    /// Wait until instance `name` is in `state`.
    pub fn wait_state(&self, lab: &Lab, name: &str, state: &str, limit: Duration) -> bool {
        wait_for(limit, || self.state(lab, name).as_deref() == Some(state))
    }

    /// How many transitions instance `name` has made.
    pub fn transitions(&self, lab: &Lab, name: &str) -> Option<u64> {
        self.instance(lab, name)?["transitions"].as_u64()
    }

    /// Adverts the agent reports refused on `iface` for `reason` (e.g. "not_peer").
    pub fn rejected(&self, lab: &Lab, iface: &str, reason: &str) -> u64 {
        self.status(lab)
            .and_then(|s| s["rejections"][iface][reason].as_u64())
            .unwrap_or(0)
    }

    /// The cause of instance `name`'s latest transition.
    pub fn last_cause(&self, lab: &Lab, name: &str) -> Option<String> {
        self.instance(lab, name)?["last_transition"]["cause"]
            .as_str()
            .map(str::to_string)
    }

    // -----------------------------------------------------------------------------------
    // Events

    /// The sequence number of the first event the subscription carries (0: never
    /// subscribed). The start-up transitions come before it.
    pub fn first_seq(&self) -> u64 {
        self.stream.lock().unwrap().first_seq
    }

    /// Whether the daemon has ended the stream (it exits).
    pub fn stream_closed(&self) -> bool {
        self.stream.lock().unwrap().closed
    }

    /// Every line of the stream so far.
    pub fn lines(&self) -> Vec<Line> {
        self.stream.lock().unwrap().lines.clone()
    }

    /// Every event so far, with its sequence number.
    pub fn events(&self) -> Vec<(u64, Event)> {
        self.lines()
            .into_iter()
            .filter_map(|l| match l {
                Line::Event { seq, event } => Some((seq, event)),
                _ => None,
            })
            .collect()
    }

    /// How many events have arrived: a mark for [`Agent::moves_since`].
    pub fn mark(&self) -> usize {
        self.events().len()
    }

    /// Instance `name`'s transitions `(to, cause)` in events after `mark`.
    pub fn moves_since(&self, mark: usize, name: &str) -> Vec<(StateName, Cause)> {
        self.events()
            .iter()
            .skip(mark)
            .filter_map(|(_, e)| e.transition_of(name))
            .collect()
    }

    /// Every transition event after `mark`, of any instance: `(instance, to, cause)`.
    pub fn all_moves_since(&self, mark: usize) -> Vec<(String, StateName, Cause)> {
        self.events()
            .into_iter()
            .skip(mark)
            .filter_map(|(_, e)| match e {
                Event::Transition {
                    instance,
                    to,
                    cause,
                    ..
                } => Some((instance, to, cause)),
                _ => None,
            })
            .collect()
    }

    /// How many times instance `name` became `to` since subscribing.
    pub fn times_to(&self, name: &str, to: StateName) -> usize {
        self.moves_since(0, name)
            .iter()
            .filter(|(s, _)| *s == to)
            .count()
    }

    /// Instance `name`'s whole run `(to, cause)`: the transition the start snapshot shows
    /// (made before the subscription), then every one from the stream.
    pub fn history(&self, name: &str) -> Vec<(StateName, Cause)> {
        let first = self.at_start.as_ref().and_then(|s| instance_in(s, name));
        let first = first.expect("no start snapshot: the agent never answered");
        assert_eq!(
            first["transitions"], 1,
            "{name} made more than its start-up transition before the subscription: \
             the stream does not hold its whole run: {first:#}"
        );
        let start: (StateName, Cause) = serde_json::from_value(serde_json::json!([
            first["last_transition"]["to"],
            first["last_transition"]["cause"]
        ]))
        .unwrap();
        std::iter::once(start)
            .chain(self.moves_since(0, name))
            .collect()
    }

    /// Wait for an event after `mark` that `want` accepts.
    pub fn wait_event(
        &self,
        mark: usize,
        limit: Duration,
        want: impl Fn(&Event) -> bool,
    ) -> Option<Event> {
        let mut found = None;
        wait_for(limit, || {
            found = self
                .events()
                .into_iter()
                .skip(mark)
                .map(|(_, e)| e)
                .find(&want);
            found.is_some()
        });
        found
    }

    /// Wait for a transition of `name` to `to` after `mark`; its cause.
    pub fn wait_move(
        &self,
        mark: usize,
        name: &str,
        to: StateName,
        limit: Duration,
    ) -> Option<Cause> {
        self.wait_event(mark, limit, |e| {
            e.transition_of(name).is_some_and(|(s, _)| s == to)
        })
        .and_then(|e| e.transition_of(name))
        .map(|(_, c)| c)
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// The status of instance `name` in a `status --json` snapshot.
pub fn instance_in<'a>(status: &'a Value, name: &str) -> Option<&'a Value> {
    status["instances"]
        .as_array()?
        .iter()
        .find(|i| i["name"] == name)
}

/// The control socket a daemon started with default paths in host `h` binds: its run
/// directory is keyed on the namespace name (vrrp_agent::run_dir). A socket with a path
/// can be reached from any namespace, so the test process connects to it directly.
pub fn default_control_socket(lab: &Lab, h: &str) -> PathBuf {
    Path::new("/run/vrrpx/netns")
        .join(lab.ns(h))
        .join("control.sock")
}

/// Subscribe (retrying while the daemon starts) and append every line to `stream`.
async fn collect(
    path: &Path,
    stream: Arc<Mutex<Stream>>,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<()> {
    use vrrp_agent::control::client::subscribe;
    let deadline = Instant::now() + START_LIMIT;
    let mut events = loop {
        match subscribe(path).await {
            Ok(s) => break s,
            Err(_) if Instant::now() < deadline && !stop.load(Ordering::Relaxed) => {
                tokio::time::sleep(Duration::from_millis(20)).await
            }
            Err(e) => return Err(e),
        }
    };
    stream.lock().unwrap().first_seq = events.first_seq();
    while !stop.load(Ordering::Relaxed) {
        match tokio::time::timeout(Duration::from_millis(100), events.next()).await {
            Ok(Ok(Some(v))) => stream.lock().unwrap().lines.push(Line::parse(v)),
            Ok(_) => {
                stream.lock().unwrap().closed = true;
                break;
            }
            Err(_) => {}
        }
    }
    Ok(())
}

/// CPU time (ns) a process has used so far, from every thread's schedstat.
pub fn cpu_ns(pid: u32) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

/// Start r1 on the file named `a` and r2 on `b` (names as [`conf_file`] takes them).
pub fn start_named(lab: &mut Lab, dir: &Path, a: &str, b: &str) -> (Agent, Agent) {
    start_pair(lab, dir, &conf_file(a), &conf_file(b))
}

/// Start r1 on `a` and r2 on `b` (the pair lab of tests/pair.rs).
pub fn start_pair(lab: &mut Lab, dir: &Path, a: &Path, b: &Path) -> (Agent, Agent) {
    let r1 = Agent::start(lab, "r1", a, dir, &[]);
    let r2 = Agent::start(lab, "r2", b, dir, &[]);
    (r1, r2)
}

/// The logs of `agents`, each under its host's name, for a failure message.
pub fn logs(agents: &[&Agent]) -> String {
    agents
        .iter()
        .map(|a| format!("{}: {}", a.host, a.log()))
        .collect::<Vec<_>>()
        .join("\n----\n")
}

/// Wait until `h` alone (of r1 and r2, the pair lab's routers) holds `addr` on eth0; how
/// long it took. Fails with the logs of `agents` when it does not happen within `limit`.
pub fn expect_alone(
    lab: &Lab,
    h: &str,
    addr: &str,
    limit: Duration,
    agents: &[&Agent],
) -> Duration {
    let other = if h == "r1" { "r2" } else { "r1" };
    crate::pair::wait_holder(lab, h, other, addr, limit).unwrap_or_else(|| {
        panic!(
            "{h} does not alone hold {addr} within {limit:?}\n{}",
            logs(agents)
        )
    })
}

/// A `vrrp-agent` command's stdout, after checking it succeeded (else its stderr fails).
pub fn expect_ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `vrrp-agent monitor -i IFACE --json ARGS...` in a lab host: the adverts it hears (and,
/// when it stops, its counters) go to `DIR/monitor-H.json` a JSON object a line, its log
/// to `DIR/monitor-H.log`.
pub struct Monitor {
    pub idx: usize,
    out: PathBuf,
    log: PathBuf,
}

impl Monitor {
    pub fn start(lab: &mut Lab, h: &str, iface: &str, dir: &Path, args: &[&str]) -> Monitor {
        let bin = agent_bin();
        let mut argv = vec![bin.to_str().unwrap(), "monitor", "-i", iface, "--json"];
        argv.extend_from_slice(args);
        let (out, log) = (
            dir.join(format!("monitor-{h}.json")),
            dir.join(format!("monitor-{h}.log")),
        );
        let idx = lab.spawn(h, &argv, &out, &log).unwrap();
        Monitor { idx, out, log }
    }

    /// Wait until it logs its receive path (it listens from then on).
    pub fn wait_ready(&self, limit: Duration) -> bool {
        wait_for(limit, || self.log().contains("receive path"))
    }

    /// What it printed so far.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.out).unwrap_or_default()
    }

    /// Its printed lines, parsed (a partial last line, while it runs, is skipped).
    pub fn lines(&self) -> Vec<Value> {
        self.output()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

//! What every benchmark shares: the two implementations and how to start them on one
//! keepalived.conf, their logged state changes, CPU from schedstat, the trafgen flooder,
//! and the machine facts each result carries (load average, versions, workspace state).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{Read, Seek, SeekFrom};
use std::os::fd::{AsRawFd, FromRawFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use vrrpx_tests::netns::{wait_for, Lab};
use vrrpx_tests::peers::start_keepalived;

#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum Impl {
    Agent,
    Keepalived,
}

impl Impl {
    pub const BOTH: [Impl; 2] = [Impl::Agent, Impl::Keepalived];

    pub fn name(self) -> &'static str {
        match self {
            Impl::Agent => "vrrp-agent",
            Impl::Keepalived => "keepalived",
        }
    }
}

/// RFC 5798 §6.1 Skew_Time, ns. Exact, not in whole centiseconds: keepalived computes it
/// in microseconds, and so do we.
pub fn skew_ns(priority: u64, interval_ms: u64) -> u64 {
    (256 - priority) * interval_ms * 1_000_000 / 256
}

/// RFC 5798 §6.1 Master_Down_Interval, ns.
pub fn master_down_ns(priority: u64, interval_ms: u64) -> u64 {
    3 * interval_ms * 1_000_000 + skew_ns(priority, interval_ms)
}

/// One VRRP instance of a generated configuration: VRID and virtual address (CIDR).
pub struct Instance {
    pub vrid: u8,
    pub vip: String,
}

/// `n` instances: VRID 51 with 10.9.0.100/24 alone (as in the failover bench), or VRIDs
/// 1..=n with 10.8.VRID.1/32 each.
pub fn instances(n: usize) -> Vec<Instance> {
    if n == 1 {
        return vec![Instance {
            vrid: 51,
            vip: "10.9.0.100/24".into(),
        }];
    }
    (1..=n.min(255) as u8)
        .map(|v| Instance {
            vrid: v,
            vip: format!("10.8.{v}.1/32"),
        })
        .collect()
}

/// The keepalived.conf both implementations read: VRRPv3, one `vrrp_instance VI_<vrid>`
/// per instance on eth0.
pub fn conf(
    router: &str,
    state: &str,
    priority: u8,
    interval_ms: u64,
    inst: &[Instance],
) -> String {
    let mut s = format!(
        "! bench: {router}, generated\n\
         global_defs {{\n    router_id {router}\n    vrrp_version 3\n}}\n"
    );
    for i in inst {
        let _ = write!(
            s,
            "\nvrrp_instance VI_{vrid} {{\n    state {state}\n    interface eth0\n    \
             virtual_router_id {vrid}\n    priority {priority}\n    advert_int {}\n    \
             virtual_ipaddress {{\n        {vip}\n    }}\n}}\n",
            interval_ms as f64 / 1000.0,
            vrid = i.vrid,
            vip = i.vip,
        );
    }
    s
}

/// A daemon in the lab and where it logs.
pub struct Daemon {
    pub idx: usize,
    pub log: PathBuf,
}

/// How to start our agent.
pub struct AgentCmd<'a> {
    pub bin: &'a Path,
    /// Extra arguments from the command line.
    pub args: &'a [String],
    /// The agent opens a control socket, by default at one fixed path: every agent in
    /// the lab (they share the filesystem) then needs its own.
    pub own_control_socket: bool,
}

impl AgentCmd<'_> {
    pub fn new<'a>(bin: &'a Path, args: &'a [String]) -> AgentCmd<'a> {
        let help = std::process::Command::new(bin)
            .args(["run", "--help"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        let chosen = args
            .iter()
            .any(|a| a.starts_with("--control") || a == "--no-control");
        AgentCmd {
            bin,
            args,
            own_control_socket: help.contains("--control") && !chosen,
        }
    }
}

/// Start `imp` in host `h` on the configuration at `conf_path`; files go to `dir`.
/// keepalived runs VRRP only, in the foreground, logging to its console (stderr), which
/// is the log the transitions are read from.
pub fn start_daemon(
    lab: &mut Lab,
    imp: Impl,
    agent: &AgentCmd,
    h: &str,
    conf_path: &Path,
    dir: &Path,
) -> Result<Daemon> {
    match imp {
        Impl::Agent => {
            let log = dir.join(format!("agent-{h}.log"));
            let sock = dir.join(format!("agent-{h}.sock"));
            let mut argv = vec![
                agent.bin.to_str().unwrap(),
                "run",
                "-f",
                conf_path.to_str().unwrap(),
            ];
            if agent.own_control_socket {
                argv.extend(["--control", sock.to_str().unwrap()]);
            }
            argv.extend(agent.args.iter().map(String::as_str));
            let idx = lab.spawn(h, &argv, &dir.join(format!("agent-{h}.out")), &log)?;
            Ok(Daemon { idx, log })
        }
        Impl::Keepalived => {
            // The same text; start_keepalived keeps its own copy beside its logs.
            let text = std::fs::read_to_string(conf_path)?;
            let idx = start_keepalived(lab, h, &text, dir)?;
            Ok(Daemon {
                idx,
                log: dir.join(format!("keepalived-{h}.err")),
            })
        }
    }
}

/// One state change a daemon logged.
#[derive(Clone, Debug)]
pub struct Transition {
    pub instance: String,
    pub from: String,
    pub to: String,
}

impl Transition {
    /// Into or out of MASTER: the moves that move traffic.
    pub fn moves_master(&self) -> bool {
        self.to == "MASTER" || self.from == "MASTER"
    }
}

/// Parses state changes line by line. Our agent: `state change instance="VI" ...
/// from=X to=Y`; keepalived: `(VI) Entering X STATE`, with `from` the state that instance
/// last entered.
#[derive(Default)]
struct Parser {
    last: HashMap<String, String>,
}

impl Parser {
    fn line(&mut self, imp: Impl, l: &str) -> Option<Transition> {
        match imp {
            Impl::Agent => {
                if !l.contains("state change") {
                    return None;
                }
                let field = |k: &str| {
                    l.split_whitespace()
                        .find_map(|w| w.strip_prefix(k))
                        .map(|v| v.trim_matches('"').to_string())
                };
                Some(Transition {
                    instance: field("instance=").unwrap_or_default(),
                    from: field("from=")?,
                    to: field("to=")?,
                })
            }
            Impl::Keepalived => {
                let (head, rest) = l.split_once("Entering ")?;
                let state = rest.strip_suffix(" STATE").or_else(|| {
                    rest.split_once(" STATE ").map(|(s, _)| s) // "BACKUP STATE (init)"
                })?;
                let instance = head
                    .rsplit_once('(')
                    .and_then(|(_, i)| i.split_once(')'))
                    .map(|(i, _)| i.to_string())
                    .unwrap_or_default();
                let to = state.trim().to_string();
                let from = self
                    .last
                    .insert(instance.clone(), to.clone())
                    .unwrap_or_else(|| "INIT".into());
                Some(Transition { instance, from, to })
            }
        }
    }
}

/// Every state change in a log's text.
pub fn transitions(imp: Impl, log: &str) -> Vec<Transition> {
    let mut p = Parser::default();
    log.lines().filter_map(|l| p.line(imp, l)).collect()
}

pub fn read_transitions(imp: Impl, d: &Daemon) -> Vec<Transition> {
    transitions(imp, &std::fs::read_to_string(&d.log).unwrap_or_default())
}

/// A daemon's log read as it grows: only new bytes each time, so a flood's tens of MB of
/// keepalived log are read once.
pub struct LogWatch {
    imp: Impl,
    path: PathBuf,
    offset: u64,
    partial: Vec<u8>,
    parser: Parser,
    /// Every state change so far, in order.
    pub all: Vec<Transition>,
}

impl LogWatch {
    pub fn new(imp: Impl, path: &Path) -> LogWatch {
        LogWatch {
            imp,
            path: path.to_path_buf(),
            offset: 0,
            partial: Vec::new(),
            parser: Parser::default(),
            all: Vec::new(),
        }
    }

    /// Read what was appended; returns the number of state changes so far.
    pub fn poll(&mut self) -> usize {
        let Ok(mut f) = std::fs::File::open(&self.path) else {
            return self.all.len();
        };
        if f.seek(SeekFrom::Start(self.offset)).is_err() {
            return self.all.len();
        }
        let mut chunk = vec![0u8; 1 << 22];
        loop {
            let n = match f.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            self.offset += n as u64;
            self.partial.extend_from_slice(&chunk[..n]);
            let Some(end) = self.partial.iter().rposition(|&b| b == b'\n') else {
                continue;
            };
            let text = String::from_utf8_lossy(&self.partial[..end]).into_owned();
            self.partial.drain(..=end);
            for l in text.lines() {
                if let Some(t) = self.parser.line(self.imp, l) {
                    self.all.push(t);
                }
            }
        }
        self.all.len()
    }

    /// Size of the log so far, bytes.
    pub fn bytes(&self) -> u64 {
        self.offset
    }

    /// The state changes from index `from` on.
    pub fn since(&self, from: usize) -> &[Transition] {
        &self.all[from.min(self.all.len())..]
    }

    /// The state each instance last entered.
    pub fn states(&self) -> HashMap<String, String> {
        let mut m = HashMap::new();
        for t in &self.all {
            m.insert(t.instance.clone(), t.to.clone());
        }
        m
    }
}

/// The state changes both routers logged after two marks (the counts [`LogWatch::poll`]
/// returned when a window opened): what that window saw.
pub struct Changes<'a> {
    pub r1: &'a [Transition],
    pub r2: &'a [Transition],
}

impl<'a> Changes<'a> {
    pub fn since(w1: &'a LogWatch, w2: &'a LogWatch, (m1, m2): (usize, usize)) -> Changes<'a> {
        Changes {
            r1: w1.since(m1),
            r2: w2.since(m2),
        }
    }

    /// Moves into or out of MASTER on either router: where nothing failed, every one is
    /// false.
    pub fn master_moves(&self) -> usize {
        self.r1
            .iter()
            .chain(self.r2)
            .filter(|t| t.moves_master())
            .count()
    }

    /// r2 entering MASTER.
    pub fn backup_takeovers(&self) -> usize {
        self.r2.iter().filter(|t| t.to == "MASTER").count()
    }

    /// Each change as `r1 VI_51 BACKUP->MASTER`, r1's first.
    pub fn lines(&self) -> Vec<String> {
        let show = |h: &'static str, v: &'a [Transition]| {
            v.iter()
                .map(move |t| format!("{h} {} {}->{}", t.instance, t.from, t.to))
        };
        show("r1", self.r1).chain(show("r2", self.r2)).collect()
    }
}

/// Cut down every daemon log a [`Pair`] wrote to `dir` (see [`shrink_log`]).
pub fn shrink_daemon_logs(dir: &Path) {
    for name in [
        "keepalived-r1.err",
        "keepalived-r2.err",
        "agent-r1.log",
        "agent-r2.log",
    ] {
        let _ = shrink_log(&dir.join(name), 8 << 20);
    }
}

/// A log bigger than `limit` bytes keeps its first and last MB and a line saying how much
/// went: a junk flood makes keepalived write tens of MB (one line per packet). Call it once
/// every count has been read from the log.
pub fn shrink_log(path: &Path, limit: u64) -> Result<Option<u64>> {
    let Ok(meta) = std::fs::metadata(path) else {
        return Ok(None);
    };
    let size = meta.len();
    if size <= limit {
        return Ok(None);
    }
    let keep = 1 << 20;
    let mut f = std::fs::File::open(path)?;
    let mut head = vec![0u8; keep];
    f.read_exact(&mut head)?;
    f.seek(SeekFrom::End(-(keep as i64)))?;
    let mut tail = Vec::with_capacity(keep);
    f.read_to_end(&mut tail)?;
    let mut out = head;
    out.extend_from_slice(
        format!(
            "\n[... bench: {} bytes cut from the middle of this {size}-byte log ...]\n",
            size - 2 * keep as u64
        )
        .as_bytes(),
    );
    out.extend_from_slice(&tail);
    std::fs::write(path, out)?;
    Ok(Some(size))
}

/// `pid` and every process descended from it (keepalived's parent and its VRRP child).
pub fn process_tree(pid: u32) -> Vec<u32> {
    let mut parent: Vec<(u32, u32)> = Vec::new();
    if let Ok(d) = std::fs::read_dir("/proc") {
        for e in d.flatten() {
            let Some(p) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
                continue;
            };
            // pid (comm) state ppid ...; comm may hold spaces and parentheses.
            let Some((_, rest)) = stat.rsplit_once(')') else {
                continue;
            };
            if let Some(pp) = rest.split_whitespace().nth(1).and_then(|x| x.parse().ok()) {
                parent.push((p, pp));
            }
        }
    }
    let mut tree = vec![pid];
    let mut i = 0;
    while i < tree.len() {
        let p = tree[i];
        tree.extend(parent.iter().filter(|(_, pp)| *pp == p).map(|(c, _)| *c));
        i += 1;
    }
    tree
}

/// What the scheduler counted for a set of threads: CPU time and how often they were put
/// on a CPU.
#[derive(Clone, Copy, Default, Debug, PartialEq)]
pub struct Sched {
    pub cpu_ns: u64,
    /// Times a thread was scheduled in: each wake-up from a sleep (a timer, a packet)
    /// and each return after being preempted.
    pub runs: u64,
}

impl Sched {
    /// One `/proc/PID/task/TID/schedstat` line: time on CPU (ns), time waiting to run
    /// (ns), timeslices run (times scheduled in).
    fn parse(line: &str) -> Option<Sched> {
        let mut f = line.split_whitespace().map(|x| x.parse::<u64>().ok());
        let cpu_ns = f.next()??;
        let runs = f.nth(1)??;
        Some(Sched { cpu_ns, runs })
    }

    fn since(self, earlier: Sched) -> Sched {
        Sched {
            cpu_ns: self.cpu_ns.saturating_sub(earlier.cpu_ns),
            runs: self.runs.saturating_sub(earlier.runs),
        }
    }
}

impl std::ops::Add for Sched {
    type Output = Sched;
    fn add(self, o: Sched) -> Sched {
        Sched {
            cpu_ns: self.cpu_ns + o.cpu_ns,
            runs: self.runs + o.runs,
        }
    }
}

/// The scheduler's counts for every thread of a process (a thread that already exited is
/// not in them).
pub fn process_sched(pid: u32) -> Sched {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Sched::default();
    };
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|l| Sched::parse(&l))
        .fold(Sched::default(), |a, b| a + b)
}

/// The scheduler's counts for a process and its descendants (keepalived: the parent and
/// its VRRP child).
pub fn tree_sched(pid: u32) -> Sched {
    process_tree(pid)
        .into_iter()
        .map(process_sched)
        .fold(Sched::default(), |a, b| a + b)
}

/// CPU time of a process and its descendants, nanoseconds.
pub fn tree_cpu_ns(pid: u32) -> u64 {
    tree_sched(pid).cpu_ns
}

/// How the wake-ups column is counted, for the table's legend and the JSON.
pub const WAKEUPS_LEGEND: &str = "wake-ups/s: times the daemon's threads were scheduled in \
     per second (third field of /proc/PID/task/*/schedstat, summed over its process tree), \
     over the whole window";

/// Softirq time of the whole machine (where XDP runs), nanoseconds.
pub fn softirq_ns() -> u64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(cpu) = stat.lines().next() else {
        return 0;
    };
    // cpu user nice system idle iowait irq softirq ...; units of USER_HZ (1/100 s).
    let f: Vec<u64> = cpu
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    f.get(6).copied().unwrap_or(0) * 10_000_000
}

/// (busy, total) jiffies of the whole machine from /proc/stat: busy is everything but
/// idle and iowait.
pub fn machine_jiffies() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let f: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    let total: u64 = f.iter().take(8).sum();
    let idle = f.get(3).copied().unwrap_or(0) + f.get(4).copied().unwrap_or(0);
    (total - idle, total)
}

/// CPU of several process trees sampled once a second over a window: the per-second
/// percentages of a core, and the whole window's; their wake-ups per second over the
/// window; and how busy the whole machine was (a build or a test run by someone else on a
/// shared machine shows there).
pub struct CpuSampler {
    machine0: (u64, u64),
    pids: Vec<u32>,
    last: Vec<Sched>,
    first: Vec<Sched>,
    t0: Instant,
    at: Instant,
    /// Per tree, per second: % of one core.
    pub samples: Vec<Vec<f64>>,
}

impl CpuSampler {
    pub fn start(pids: &[u32]) -> CpuSampler {
        let now: Vec<Sched> = pids.iter().map(|&p| tree_sched(p)).collect();
        CpuSampler {
            machine0: machine_jiffies(),
            pids: pids.to_vec(),
            last: now.clone(),
            first: now,
            t0: Instant::now(),
            at: Instant::now(),
            samples: vec![Vec::new(); pids.len()],
        }
    }

    /// Sample once a second until `dur` has passed since the start, calling `tick` after
    /// each sample (for other per-second bookkeeping).
    pub fn run_for(&mut self, dur: Duration, mut tick: impl FnMut()) {
        let end = self.t0 + dur;
        loop {
            let next = (self.at + Duration::from_secs(1)).min(end);
            if let Some(rest) = next.checked_duration_since(Instant::now()) {
                std::thread::sleep(rest);
            }
            self.sample();
            tick();
            if Instant::now() >= end {
                break;
            }
        }
    }

    fn sample(&mut self) {
        let now = Instant::now();
        let dt = now.duration_since(self.at).as_secs_f64();
        for (i, &p) in self.pids.iter().enumerate() {
            let c = tree_sched(p);
            if dt > 0.2 {
                let used = c.since(self.last[i]).cpu_ns;
                self.samples[i].push(used as f64 / 1e9 / dt * 100.0);
            }
            self.last[i] = c;
        }
        self.at = now;
    }

    fn window_secs(&self) -> f64 {
        self.at.duration_since(self.t0).as_secs_f64().max(1e-3)
    }

    /// Whole-window CPU per tree, % of one core.
    pub fn total_pct(&self) -> Vec<f64> {
        let dt = self.window_secs();
        self.last
            .iter()
            .zip(&self.first)
            .map(|(l, f)| l.since(*f).cpu_ns as f64 / 1e9 / dt * 100.0)
            .collect()
    }

    /// Whole-window wake-ups per second per tree (see [`WAKEUPS_LEGEND`]).
    pub fn wakeups_per_s(&self) -> Vec<f64> {
        let dt = self.window_secs();
        self.last
            .iter()
            .zip(&self.first)
            .map(|(l, f)| l.since(*f).runs as f64 / dt)
            .collect()
    }

    pub fn elapsed(&self) -> Duration {
        self.at.duration_since(self.t0)
    }

    /// The whole machine's busy time since the start, % of all its cores.
    pub fn machine_pct(&self) -> f64 {
        let (b1, t1) = machine_jiffies();
        let (b0, t0) = self.machine0;
        (b1 - b0) as f64 / (t1 - t0).max(1) as f64 * 100.0
    }
}

/// When a process exits, seen by a thread blocked in poll(2) on a pidfd for it: the
/// pidfd turns readable at the exit itself, not at the next tick of a polling loop, so a
/// SIGTERM-to-exit time of a few milliseconds is measured as such. Bounded by `limit`.
pub struct ExitWatch {
    thread: std::thread::JoinHandle<Option<Instant>>,
}

impl ExitWatch {
    pub fn start(pid: u32, limit: Duration) -> Result<ExitWatch> {
        // SAFETY: pidfd_open(2) takes a pid and flags and returns a new descriptor or -1.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error()).context(format!("pidfd_open {pid}"));
        }
        // SAFETY: a fresh descriptor we own from here on.
        let fd = unsafe { std::os::fd::OwnedFd::from_raw_fd(fd as i32) };
        let thread = std::thread::spawn(move || {
            let mut p = libc::pollfd {
                fd: fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            let ms = limit.as_millis().min(i32::MAX as u128) as i32;
            // SAFETY: one live pollfd.
            let n = unsafe { libc::poll(&mut p, 1, ms) };
            (n == 1).then(Instant::now)
        });
        Ok(ExitWatch { thread })
    }

    /// When the process exited, if it did within the limit (waits for that).
    pub fn finish(self) -> Option<Instant> {
        self.thread.join().ok().flatten()
    }
}

/// Send a signal to every process of a tree (SIGSTOP a daemon with its children).
pub fn signal_tree(pids: &[u32], sig: i32) {
    for &p in pids {
        // SAFETY: kill(2) on processes of a daemon this bench started.
        unsafe { libc::kill(p as i32, sig) };
    }
}

pub fn link_packets(lab: &Lab, h: &str, ifname: &str, dir: &str) -> Result<u64> {
    let out = lab.exec(
        h,
        &[
            "cat",
            &format!("/sys/class/net/{ifname}/statistics/{dir}_packets"),
        ],
    )?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().parse()?)
}

pub fn mac_of(lab: &Lab, h: &str) -> Result<[u8; 6]> {
    let out = lab.exec(h, &["cat", "/sys/class/net/eth0/address"])?;
    let mut mac = [0u8; 6];
    let text = String::from_utf8_lossy(&out.stdout);
    for (i, p) in text.trim().split(':').enumerate().take(6) {
        mac[i] = u8::from_str_radix(p, 16)?;
    }
    Ok(mac)
}

/// The IPv4 addresses (CIDR) on eth0 of host `h`.
pub fn addrs(lab: &Lab, h: &str) -> Vec<String> {
    lab.addrs(h, "eth0").unwrap_or_default()
}

/// trafgen's packet configuration for `frames`, sent round robin.
pub fn trafgen_conf(frames: &[Vec<u8>]) -> String {
    let mut s = String::new();
    for f in frames {
        s.push_str("{ ");
        for (i, b) in f.iter().enumerate() {
            if i > 0 {
                s.push_str(", ");
            }
            let _ = write!(s, "0x{b:02x}");
        }
        s.push_str(" }\n");
    }
    s
}

/// A trafgen flood from a lab host, bounded twice: `timeout` stops it after its duration
/// and `--num` after as many frames as 3 Mpps would send in that time. One CPU
/// (`--cpus 1`); `rate` frames/s via `-b NNNpps`, or `None` for the generator's maximum.
/// The real rate comes from the host's transmit counter.
pub struct Trafgen {
    idx: usize,
    host: String,
    tx0: u64,
    t0: Instant,
}

impl Trafgen {
    pub fn start(
        lab: &mut Lab,
        h: &str,
        frames: &[Vec<u8>],
        rate: Option<u64>,
        dur: Duration,
        dir: &Path,
        name: &str,
    ) -> Result<Trafgen> {
        let conf = dir.join(format!("{name}.trafgen"));
        std::fs::write(&conf, trafgen_conf(frames))?;
        let secs = dur.as_secs().max(1).to_string();
        let num = (3_000_000 * dur.as_secs().max(1)).to_string();
        let rate_arg = rate.map(|r| format!("{r}pps"));
        let mut argv = vec![
            "timeout",
            "-s",
            "INT",
            &secs,
            "trafgen",
            "--dev",
            "eth0",
            "--conf",
            conf.to_str().unwrap(),
            "--cpus",
            "1",
            "--num",
            &num,
            // -q is trafgen's qdisc path (not "quiet"): the kernel queues, so a full
            // transmit path pushes back instead of dropping in the generator.
            "-q",
        ];
        if let Some(r) = &rate_arg {
            argv.extend(["-b", r.as_str()]);
        }
        let tx0 = link_packets(lab, h, "eth0", "tx")?;
        let err = dir.join(format!("{name}.err"));
        let idx = lab.spawn(h, &argv, &dir.join(format!("{name}.out")), &err)?;
        std::thread::sleep(Duration::from_millis(200));
        if lab.exited(idx) {
            bail!(
                "trafgen exited at once: {}",
                std::fs::read_to_string(&err).unwrap_or_default().trim()
            );
        }
        Ok(Trafgen {
            idx,
            host: h.to_string(),
            tx0,
            t0: Instant::now(),
        })
    }

    /// Frames sent so far and the time since the start.
    pub fn sent(&self, lab: &Lab) -> (u64, Duration) {
        let tx = link_packets(lab, &self.host, "eth0", "tx").unwrap_or(self.tx0);
        (tx.saturating_sub(self.tx0), self.t0.elapsed())
    }

    /// Stop it (SIGINT, as timeout would) and wait for it.
    pub fn stop(&self, lab: &mut Lab) -> Result<()> {
        if !lab.stop(self.idx, libc::SIGINT, Duration::from_secs(3))? {
            lab.stop(self.idx, libc::SIGKILL, Duration::from_secs(2))?;
        }
        Ok(())
    }
}

/// The VRRP adverts one host sends, counted by tcpdump on its eth0: a kernel filter on
/// the protocol and the host's own source address, and outgoing frames only (`-Q out`),
/// so a flood from another host, even of adverts, is never counted. Bounded by `timeout`.
pub struct SentAdverts {
    idx: usize,
    err: PathBuf,
    t0: Instant,
}

impl SentAdverts {
    pub fn start(lab: &mut Lab, h: &str, src: &str, limit: Duration, dir: &Path) -> Result<Self> {
        let secs = limit.as_secs().max(1).to_string();
        let filter = format!("ip proto 112 and src host {src}");
        // The capture is kept beside the logs: a few hundred adverts, to look at by eye.
        let pcap = dir.join(format!("adverts-sent-{h}.pcap"));
        let argv = [
            "timeout",
            "-s",
            "INT",
            &secs,
            "tcpdump",
            "-i",
            "eth0",
            "-Q",
            "out",
            "-nn",
            "-p",
            "-w",
            pcap.to_str().unwrap_or("/dev/null"),
            &filter,
        ];
        let err = dir.join(format!("tcpdump-{h}.err"));
        let idx = lab.spawn(h, &argv, &dir.join(format!("tcpdump-{h}.out")), &err)?;
        // Counting starts once tcpdump says it listens.
        let listening = wait_for(Duration::from_secs(5), || {
            std::fs::read_to_string(&err).is_ok_and(|t| t.contains("listening on"))
        });
        if !listening {
            bail!(
                "tcpdump on {h} did not start: {}",
                std::fs::read_to_string(&err).unwrap_or_default().trim()
            );
        }
        Ok(SentAdverts {
            idx,
            err,
            t0: Instant::now(),
        })
    }

    /// Stop tcpdump (SIGINT: it then prints its counts) and return adverts per second.
    pub fn per_second(self, lab: &mut Lab) -> Result<f64> {
        let secs = self.t0.elapsed().as_secs_f64();
        lab.stop(self.idx, libc::SIGINT, Duration::from_secs(3))?;
        let text = std::fs::read_to_string(&self.err).unwrap_or_default();
        let captured = captured_count(&text).with_context(|| {
            format!("no \"packets captured\" in {}: {text}", self.err.display())
        })?;
        Ok(captured as f64 / secs.max(1e-3))
    }
}

/// tcpdump's closing line `N packets captured`.
fn captured_count(stderr: &str) -> Option<u64> {
    stderr
        .lines()
        .find_map(|l| l.strip_suffix(" packets captured")?.trim().parse().ok())
}

/// (median, min, max)
pub fn stats(v: &[f64]) -> Option<(f64, f64, f64)> {
    if v.is_empty() {
        return None;
    }
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    let n = s.len();
    let med = if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    };
    Some((med, s[0], s[n - 1]))
}

/// The `q` quantile (0..=1) of `v`, nearest rank.
pub fn quantile(v: &mut [f64], q: f64) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
    Some(v[rank - 1])
}

pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

pub fn keepalived_version() -> String {
    std::process::Command::new("keepalived")
        .arg("--version")
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stderr)
                .lines()
                .chain(String::from_utf8_lossy(&o.stdout).lines())
                .next()
                .unwrap_or_default()
                .to_string()
        })
        .unwrap_or_default()
}

/// The commit the agent was built from, and whether the tree had changes on top.
pub fn git_state() -> String {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .current_dir(vrrpx_tests::workspace())
            .args(args)
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default()
    };
    let head = git(&["rev-parse", "--short", "HEAD"]);
    let dirty = !git(&["status", "--porcelain", "--untracked-files=no"]).is_empty();
    format!(
        "{head}{}",
        if dirty {
            " (with uncommitted changes)"
        } else {
            ""
        }
    )
}

/// Two routers on one segment running one implementation on the same generated
/// keepalived.conf: r1 (10.9.0.1, priority 150, state MASTER) and r2 (10.9.0.2, priority
/// 100, state BACKUP), plus any extra hosts (10.9.0.x). r1 starts alone and is master of
/// every instance before r2 starts.
pub struct Pair {
    pub lab: Lab,
    pub d1: Daemon,
    pub d2: Daemon,
    pub w1: LogWatch,
    pub w2: LogWatch,
    pub inst: Vec<Instance>,
    pub interval_ms: u64,
    /// Set-up notes (an instance that did not settle in time), for the results.
    pub notes: Vec<String>,
}

pub const R1_PRIORITY: u8 = 150;
pub const R2_PRIORITY: u8 = 100;

impl Pair {
    pub fn start(
        prefix: &str,
        agent: &AgentCmd,
        imp: Impl,
        n: usize,
        interval_ms: u64,
        extra_hosts: &[(&str, &str)],
        dir: &Path,
    ) -> Result<Pair> {
        let inst = instances(n);
        let mdi = Duration::from_nanos(master_down_ns(R2_PRIORITY.into(), interval_ms));
        let mut lab = Lab::new(prefix)?;
        lab.host("r1", "eth0", &["10.9.0.1/24"])?;
        lab.host("r2", "eth0", &["10.9.0.2/24"])?;
        for (h, a) in extra_hosts {
            lab.host(h, "eth0", &[a])?;
        }
        let c1 = dir.join("r1.conf");
        let c2 = dir.join("r2.conf");
        std::fs::write(&c1, conf("r1", "MASTER", R1_PRIORITY, interval_ms, &inst))?;
        std::fs::write(&c2, conf("r2", "BACKUP", R2_PRIORITY, interval_ms, &inst))?;
        let mut notes = Vec::new();

        let d1 = start_daemon(&mut lab, imp, agent, "r1", &c1, dir)?;
        let want: Vec<&str> = inst.iter().map(|i| i.vip.as_str()).collect();
        let holds = |lab: &Lab| {
            let a = addrs(lab, "r1");
            want.iter().filter(|v| a.iter().any(|x| x == *v)).count()
        };
        let up_limit = 3 * mdi + Duration::from_secs(5) + Duration::from_millis(20 * n as u64);
        wait_for(up_limit, || holds(&lab) == want.len());
        let held = holds(&lab);
        if held == 0 {
            bail!(
                "r1 did not become master within {up_limit:?} (logs in {})",
                dir.display()
            );
        }
        if held < want.len() {
            notes.push(format!(
                "r1 held {held} of {} addresses after {up_limit:?}",
                want.len()
            ));
        }
        let d2 = start_daemon(&mut lab, imp, agent, "r2", &c2, dir)?;
        let mut w1 = LogWatch::new(imp, &d1.log);
        let mut w2 = LogWatch::new(imp, &d2.log);
        let backups = |w: &mut LogWatch| {
            w.poll();
            w.states().values().filter(|s| *s == "BACKUP").count()
        };
        if !wait_for(Duration::from_secs(10), || backups(&mut w2) >= inst.len()) {
            let b = backups(&mut w2);
            if b == 0 {
                bail!("r2 did not report BACKUP (logs in {})", dir.display());
            }
            notes.push(format!(
                "r2 reported BACKUP for {b} of {} instances",
                inst.len()
            ));
        }
        // r2 has heard r1 for a few adverts before anything is measured.
        std::thread::sleep((3 * mdi).max(Duration::from_millis(500)));
        w1.poll();
        w2.poll();
        Ok(Pair {
            lab,
            d1,
            d2,
            w1,
            w2,
            inst,
            interval_ms,
            notes,
        })
    }

    pub fn pid1(&self) -> u32 {
        self.lab.pid(self.d1.idx)
    }

    pub fn pid2(&self) -> u32 {
        self.lab.pid(self.d2.idx)
    }

    /// Master_Down_Interval of the backup, r2.
    pub fn mdi(&self) -> Duration {
        Duration::from_nanos(master_down_ns(R2_PRIORITY.into(), self.interval_ms))
    }

    /// How many of the virtual addresses host `h` holds.
    pub fn vips_on(&self, h: &str) -> usize {
        let a = addrs(&self.lab, h);
        self.inst.iter().filter(|i| a.contains(&i.vip)).count()
    }

    /// Read both logs; the marks a window starts from (see [`Changes::since`]).
    pub fn mark(&mut self) -> (usize, usize) {
        (self.w1.poll(), self.w2.poll())
    }

    /// Read both logs and return what changed since `marks`.
    pub fn changes_since(&mut self, marks: (usize, usize)) -> Changes<'_> {
        self.mark();
        Changes::since(&self.w1, &self.w2, marks)
    }

    /// Stop both daemons, remove the lab and cut down the daemon logs in `dir` (also
    /// when stopping failed).
    pub fn finish(mut self, dir: &Path) -> Result<()> {
        let stopped = self.stop();
        drop(self);
        shrink_daemon_logs(dir);
        stopped
    }

    /// Stop both daemons with SIGTERM (keepalived's parent respawns a SIGKILLed child, and
    /// SIGKILL leaves the addresses); the lab's namespace removal does the rest.
    pub fn stop(&mut self) -> Result<()> {
        for idx in [self.d2.idx, self.d1.idx] {
            if !self.lab.exited(idx)
                && !self.lab.stop(idx, libc::SIGTERM, Duration::from_secs(5))?
            {
                self.lab.stop(idx, libc::SIGKILL, Duration::from_secs(2))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keepalived_transitions_are_tracked_per_instance() {
        let ka = "Sun Nov 22 21:58:46 2026: (VI_1) Entering BACKUP STATE (init)\n\
                  Sun Nov 22 21:58:46 2026: (VI_2) Entering BACKUP STATE (init)\n\
                  Sun Nov 22 21:58:46 2026: (VI_1) Entering MASTER STATE\n\
                  Sun Nov 22 21:58:47 2026: (VI_2) Entering MASTER STATE\n";
        let t = transitions(Impl::Keepalived, ka);
        assert_eq!(t.len(), 4);
        assert_eq!(
            (t[3].instance.as_str(), t[3].from.as_str(), t[3].to.as_str()),
            ("VI_2", "BACKUP", "MASTER")
        );
    }

    #[test]
    fn changes_count_master_moves_and_backup_takeovers_and_name_the_router() {
        let t = |i: &str, from: &str, to: &str| Transition {
            instance: i.into(),
            from: from.into(),
            to: to.into(),
        };
        let r1 = [t("VI_1", "MASTER", "BACKUP"), t("VI_2", "INIT", "BACKUP")];
        let r2 = [t("VI_1", "BACKUP", "MASTER"), t("VI_2", "BACKUP", "FAULT")];
        let c = Changes { r1: &r1, r2: &r2 };
        assert_eq!(c.master_moves(), 2);
        assert_eq!(c.backup_takeovers(), 1);
        assert_eq!(
            c.lines(),
            [
                "r1 VI_1 MASTER->BACKUP",
                "r1 VI_2 INIT->BACKUP",
                "r2 VI_1 BACKUP->MASTER",
                "r2 VI_2 BACKUP->FAULT"
            ]
        );
    }

    #[test]
    fn schedstat_gives_cpu_time_and_times_scheduled_in() {
        assert_eq!(
            Sched::parse("1234567 89 42\n"),
            Some(Sched {
                cpu_ns: 1234567,
                runs: 42
            })
        );
        assert_eq!(Sched::parse("1234567 89"), None);
        assert_eq!(Sched::parse(""), None);
    }

    #[test]
    fn a_sleeping_thread_counts_a_wake_up_per_sleep() {
        let me = std::process::id();
        let t0 = process_sched(me);
        for _ in 0..50 {
            std::thread::sleep(Duration::from_millis(2));
        }
        let during = process_sched(me).since(t0);
        // Each sleep ends in one wake-up of this thread; the other test threads of this
        // process add theirs, but not thousands.
        assert!(during.runs >= 50, "{during:?}");
        assert!(during.runs < 5_000, "{during:?}");
        assert!(during.cpu_ns > 0, "{during:?}");
    }

    #[test]
    fn tcpdumps_count_is_read_from_its_closing_lines() {
        let err = "tcpdump: listening on eth0, link-type EN10MB (Ethernet), snapshot length \
                   262144 bytes\n103 packets captured\n110 packets received by filter\n\
                   0 packets dropped by kernel\n";
        assert_eq!(captured_count(err), Some(103));
        assert_eq!(captured_count("tcpdump: listening on eth0\n"), None);
    }

    #[test]
    fn an_exit_is_seen_when_it_happens() {
        let mut child = std::process::Command::new("sleep")
            .arg("0.2")
            .spawn()
            .unwrap();
        let t0 = Instant::now();
        let watch = ExitWatch::start(child.id(), Duration::from_secs(5)).unwrap();
        let exited = watch.finish().expect("sleep exits within the limit");
        let took = exited - t0;
        assert!(
            took >= Duration::from_millis(150) && took < Duration::from_millis(1500),
            "{took:?}"
        );
        child.wait().unwrap();
        // One that does not exit within the limit: none.
        let mut long = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        let watch = ExitWatch::start(long.id(), Duration::from_millis(100)).unwrap();
        assert_eq!(watch.finish(), None);
        long.kill().unwrap();
        long.wait().unwrap();
    }

    #[test]
    fn quantile_is_nearest_rank() {
        let mut v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(quantile(&mut v, 0.99), Some(99.0));
        assert_eq!(quantile(&mut v, 1.0), Some(100.0));
        assert_eq!(quantile(&mut [], 0.5), None);
    }

    #[test]
    fn one_instance_config_is_the_failover_benchs() {
        let c = conf("r2", "BACKUP", 100, 10, &instances(1));
        assert!(c.contains("virtual_router_id 51"));
        assert!(c.contains("advert_int 0.01"));
        assert!(c.contains("10.9.0.100/24"));
        assert_eq!(instances(255).len(), 255);
    }
}

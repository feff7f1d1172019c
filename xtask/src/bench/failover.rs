//! `bench failover`: what a client sees when the master goes away, vrrp-agent against
//! keepalived, both reading the same keepalived.conf.
//!
//! Each trial is a fresh lab: r1 (10.9.0.1, priority 150) and r2 (10.9.0.2, priority 100)
//! run one implementation for VRID 51 with VIP 10.9.0.100/24, VRRPv3, and a client c
//! (10.9.0.50) probes VIP:7777 over UDP every millisecond; each router runs an echo
//! responder that answers with its name, so a reply says who holds the VIP from the
//! client's point of view (its ARP entry). Then r1 goes away:
//! - link cut: r1's switch port goes down;
//! - graceful: SIGTERM to r1's daemon (both send priority 0 and release the VIP).
//!
//! The event comes at a random point between r1's adverts. Implementations alternate
//! trial by trial, so a busy spell on the machine hits both alike.
//!
//! Outage = arrival of r2's first reply minus arrival of r1's last reply before it, both
//! kernel receive timestamps at the client. The client also records the VRRP adverts and
//! the ARP for the VIP it sees, which splits the outage into the RFC deadline (the last r1
//! advert + Master_Down_Interval on a cut, the priority-0 advert + Skew_Time on a graceful
//! stop) and what each implementation adds past it.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde::Serialize;
use serde_json::json;
use vrrpx_tests::netns::{wait_for, Lab};
use vrrpx_tests::probe::Echo;

use super::common::{
    self, git_state, keepalived_version, loadavg, mac_of, read_transitions, start_daemon, stats,
    AgentCmd, Daemon, ExitWatch, Impl, Transition,
};
use super::observe::{now_ns, warm_up, Prober, SeenAdvert, SeenArp, Sniffer};

mod report;
use report::{print_tables, Record};

const VIP: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 100);
const R1: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 1);
const R2: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 2);
const PORT: u16 = 7777;
const VRID: u8 = 51;
const BACKUP_PRIORITY: u64 = 100;
/// Lab prefix, distinct from the tests' and the demo's so runs can overlap.
const PREFIX: &str = "vxbfo-";

#[derive(Clone, Copy, PartialEq, Eq, Debug, clap::ValueEnum)]
pub enum Scenario {
    /// r1's switch port goes down.
    LinkCut,
    /// SIGTERM to r1's daemon.
    Graceful,
}

impl Scenario {
    fn name(self) -> &'static str {
        match self {
            Scenario::LinkCut => "link cut",
            Scenario::Graceful => "graceful stop",
        }
    }
    fn slug(self) -> &'static str {
        match self {
            Scenario::LinkCut => "link-cut",
            Scenario::Graceful => "graceful",
        }
    }
}

pub struct Options {
    pub trials: usize,
    pub intervals_ms: Vec<u64>,
    pub scenarios: Vec<Scenario>,
    /// Extra arguments for `vrrp-agent run`.
    pub agent_args: Vec<String>,
}

/// RFC 5798 §6.1 Skew_Time for the backup (priority 100), ns.
fn skew_ns(interval_ms: u64) -> u64 {
    common::skew_ns(BACKUP_PRIORITY, interval_ms)
}

/// RFC 5798 §6.1 Master_Down_Interval for the backup, ns.
pub(super) fn master_down_ns(interval_ms: u64) -> u64 {
    common::master_down_ns(BACKUP_PRIORITY, interval_ms)
}

/// The keepalived.conf both implementations read: VRID 51, VIP 10.9.0.100/24.
fn conf(router: &str, state: &str, priority: u8, interval_ms: u64) -> String {
    common::conf(router, state, priority, interval_ms, &common::instances(1))
}

/// What another bench adds around a link-cut or graceful trial (the flood bench: a
/// flooder host, and a measured window under the flood before the event). With one, the
/// client does not sniff VRRP (a flood would bury the adverts), so the split of the
/// outage into RFC deadline and delay past it is not made.
pub(super) trait Around {
    /// Once r1, r2 and the client exist: add hosts.
    fn hosts(&mut self, lab: &mut Lab) -> Result<()>;
    /// In steady state (r1 master, r2 backup, the client probing), just before the event;
    /// may take up to [`Around::duration`].
    fn before_event(&mut self, lab: &mut Lab, d1: &Daemon, d2: &Daemon) -> Result<()>;
    /// After the watch window, before the daemons stop.
    fn after_event(&mut self, lab: &mut Lab) -> Result<()>;
    fn duration(&self) -> Duration;
}

/// The floor the RFC puts under the outage: the backup's Master_Down_Interval after the
/// last advert on a cut, Skew_Time after the priority-0 advert on a graceful stop.
pub(super) fn floor_ms(s: Scenario, interval_ms: u64) -> f64 {
    match s {
        Scenario::LinkCut => master_down_ns(interval_ms) as f64 / 1e6,
        Scenario::Graceful => skew_ns(interval_ms) as f64 / 1e6,
    }
}

/// Transitions into or out of MASTER beyond the expected ones: r1 enters MASTER once
/// before the event and may leave it once after; r2 enters MASTER once after the event.
/// (BACKUP/FAULT/INIT moves do not move traffic and are not counted.)
fn false_transitions(r1: &[Transition], r1_pre: usize, r2: &[Transition], r2_pre: usize) -> usize {
    let count = |t: &[Transition], enter: bool| {
        t.iter()
            .filter(|t| {
                if enter {
                    t.to == "MASTER"
                } else {
                    t.from == "MASTER"
                }
            })
            .count()
    };
    let split = |t: &[Transition], pre: usize| {
        let pre = pre.min(t.len());
        (t[..pre].to_vec(), t[pre..].to_vec())
    };
    let (r1a, r1b) = split(r1, r1_pre);
    let (r2a, r2b) = split(r2, r2_pre);
    count(&r1a, true).saturating_sub(1)
        + count(&r1a, false)
        + count(&r1b, true)
        + count(&r1b, false).saturating_sub(1)
        + count(&r2a, true)
        + count(&r2a, false)
        + count(&r2b, true).saturating_sub(1)
        + count(&r2b, false)
}

/// What one trial measured; its JSON record (in failover.json) is this struct's fields.
#[derive(Default, Serialize)]
pub(super) struct Measured {
    pub(super) outage_ms: f64,
    pub(super) missed_probes: u64,
    /// r2's first reply minus the RFC deadline computed from the adverts the client saw.
    #[serde(rename = "past_rfc_deadline_ms")]
    pub(super) past_deadline_ms: Option<f64>,
    /// r2's first advert as master minus that deadline.
    r2_advert_past_deadline_ms: Option<f64>,
    /// r2's first ARP for the VIP minus its first advert.
    #[serde(rename = "garp_after_r2_advert_ms")]
    garp_after_advert_ms: Option<f64>,
    /// r2's first reply minus its first ARP for the VIP.
    reply_after_garp_ms: Option<f64>,
    probes_sent: usize,
    replies: usize,
    r1_replies_after_takeover: usize,
    longest_gap_after_takeover_ms: f64,
    #[serde(rename = "r2_arps_for_vip")]
    r2_garps: usize,
    r1_advert_period_ms: Option<f64>,
    r2_advert_period_ms: Option<f64>,
    pub(super) false_transitions: usize,
    /// Graceful stop: from r1's SIGTERM to its exit (keepalived: the parent's).
    pub(super) sigterm_to_exit_ms: Option<f64>,
    transitions: TrialTransitions,
}

/// Every state change each router logged in a trial (`from->to`), and where the event
/// and the end of the watch fall among them.
#[derive(Default, Serialize)]
struct TrialTransitions {
    r1: Vec<String>,
    r2: Vec<String>,
    r1_before_event: usize,
    r2_before_event: usize,
    r1_in_window: usize,
    r2_in_window: usize,
}

fn holds_vip(lab: &Lab, h: &str) -> bool {
    let want = format!("{VIP}/24");
    lab.addrs(h, "eth0")
        .map(|a| a.contains(&want))
        .unwrap_or(false)
}

fn ms(ns: i64) -> f64 {
    ns as f64 / 1e6
}

/// How often the client probes. Every millisecond, except for the graceful stop: its
/// target (outage less Skew_Time under 1 ms) is below that resolution, where a 1 ms probe
/// could only tell outages of 7 ms from 8 ms, so it probes every 100 µs.
pub(super) fn probe_period(scenario: Scenario) -> Duration {
    match scenario {
        Scenario::Graceful => Duration::from_micros(100),
        Scenario::LinkCut => Duration::from_millis(1),
    }
}

pub(super) fn trial(
    agent: &AgentCmd,
    imp: Impl,
    scenario: Scenario,
    interval_ms: u64,
    dir: &Path,
    mut around: Option<&mut dyn Around>,
) -> Result<Measured> {
    let interval = Duration::from_millis(interval_ms);
    let mdi = Duration::from_nanos(master_down_ns(interval_ms));
    let mut lab = Lab::new(PREFIX)?;
    lab.host("r1", "eth0", &["10.9.0.1/24"])?;
    lab.host("r2", "eth0", &["10.9.0.2/24"])?;
    lab.host("c", "eth0", &["10.9.0.50/24"])?;
    if let Some(a) = &mut around {
        a.hosts(&mut lab)?;
    }
    let r2_mac = mac_of(&lab, "r2")?;

    let c1 = dir.join("r1.conf");
    let c2 = dir.join("r2.conf");
    std::fs::write(&c1, conf("r1", "MASTER", 150, interval_ms))?;
    std::fs::write(&c2, conf("r2", "BACKUP", 100, interval_ms))?;

    // Echo responders first, so they answer from the moment a router holds the VIP.
    let echoes = [
        Echo::start(&lab.ns("r1"), "r1", PORT)?,
        Echo::start(&lab.ns("r2"), "r2", PORT)?,
    ];

    // r1 alone first, until it holds the VIP; then r2, until it says it is a backup.
    let d1 = start_daemon(&mut lab, imp, agent, "r1", &c1, dir)?;
    let up_limit = 3 * mdi + Duration::from_secs(5);
    if !wait_for(up_limit, || holds_vip(&lab, "r1")) {
        bail!(
            "r1 did not become master within {up_limit:?} (logs in {})",
            dir.display()
        );
    }
    let d2 = start_daemon(&mut lab, imp, agent, "r2", &c2, dir)?;
    let backup_at = Instant::now();
    if !wait_for(Duration::from_secs(10), || {
        read_transitions(imp, &d2).iter().any(|t| t.to == "BACKUP")
    }) {
        bail!("r2 did not report BACKUP (logs in {})", dir.display());
    }

    warm_up(&lab.ns("c"), &[R1, R2], PORT, Duration::from_secs(3))?;
    let sniffer = match around {
        None => Some(Sniffer::start(&lab.ns("c"), "eth0", VIP)?),
        Some(_) => None,
    };
    let sniffing_since = Instant::now();
    let watch = interval.mul_f64(2.0).max(Duration::from_millis(300));
    let limit = up_limit
        + mdi
        + watch
        + Duration::from_secs(10)
        + around.as_ref().map_or(Duration::ZERO, |a| a.duration());
    let prober = Prober::start(
        &lab.ns("c"),
        SocketAddrV4::new(VIP, PORT),
        probe_period(scenario),
        limit,
    )?;
    if !wait_for(Duration::from_secs(3), || {
        prober.count(|r| r.from == "r1") >= 50
    }) {
        bail!("the client gets no replies from r1 through the VIP");
    }
    let probing_since = Instant::now();
    // Before anything happens: r2 has heard r1 for two adverts (and 300 ms), the client has
    // seen an advert of r1's, and the probes have run steadily for 200 ms.
    // Plus a random fraction of an interval, so the cut falls at a random point between
    // r1's adverts for both implementations alike (their start-up paths differ in length,
    // which would otherwise fix the phase differently for each).
    let phase = Duration::from_nanos(now_ns().unsigned_abs() % (interval_ms * 1_000_000));
    let ready = [
        backup_at
            + (interval * 2 + Duration::from_millis(100)).max(Duration::from_millis(300))
            + phase,
        sniffing_since + interval + Duration::from_millis(100),
        probing_since + Duration::from_millis(200),
    ]
    .into_iter()
    .max()
    .unwrap();
    if let Some(rest) = ready.checked_duration_since(Instant::now()) {
        std::thread::sleep(rest);
    }
    if let Some(a) = &mut around {
        a.before_event(&mut lab, &d1, &d2)?;
    }
    if holds_vip(&lab, "r2") || !holds_vip(&lab, "r1") {
        bail!("not r1 alone holding the VIP before the event");
    }

    // The event. Logs are read just before it to split transitions into before/after.
    let pre_r1 = read_transitions(imp, &d1).len();
    let pre_r2 = read_transitions(imp, &d2).len();
    let event_ns = now_ns();
    let mut exit_watch = None;
    match scenario {
        Scenario::LinkCut => lab.cut("r1")?,
        Scenario::Graceful => {
            let pid = lab.pid(d1.idx);
            // Without a pidfd (a kernel before 5.3) the outage is still measured.
            let watch = ExitWatch::start(pid, Duration::from_secs(3))
                .map_err(|e| eprintln!("  r1's exit not timed: {e:#}"))
                .ok();
            let signalled = Instant::now();
            // SAFETY: kill(2) on a child the lab spawned and has not reaped.
            unsafe { libc::kill(pid as i32, libc::SIGTERM) };
            exit_watch = watch.map(|w| (w, signalled));
        }
    }
    let took = wait_for(mdi + Duration::from_secs(3), || {
        prober.any(|r| r.from == "r2" && r.rx_ns > event_ns)
    });
    // Watch a while longer for flaps (r1 answering again, r2 losing the VIP).
    std::thread::sleep(watch);
    // The window for counting transitions closes here: our own SIGTERMs below are not
    // the daemons' decisions.
    let end_r1 = read_transitions(imp, &d1).len();
    let end_r2 = read_transitions(imp, &d2).len();
    let probes = prober.finish();
    let (adverts, arps) = sniffer.map(Sniffer::finish).unwrap_or_default();
    if let Some(a) = around {
        a.after_event(&mut lab)?;
    }

    // Stop the daemons with SIGTERM (keepalived's parent respawns a SIGKILLed child and
    // SIGKILL leaves the VIP); the lab's namespace removal does the rest.
    if scenario == Scenario::Graceful {
        lab.stop(d1.idx, 0, Duration::from_secs(3))?; // already signalled: wait for it
    }
    let sigterm_to_exit_ms = exit_watch.and_then(|(w, signalled)| {
        w.finish()
            .map(|exited| exited.duration_since(signalled).as_secs_f64() * 1e3)
    });
    lab.stop(d2.idx, libc::SIGTERM, Duration::from_secs(3))?;
    if !lab.exited(d1.idx) {
        lab.stop(d1.idx, libc::SIGTERM, Duration::from_secs(3))?;
    }
    let t1 = read_transitions(imp, &d1);
    let t2 = read_transitions(imp, &d2);
    drop(echoes);
    drop(lab);
    std::fs::write(
        dir.join("adverts.txt"),
        dump_adverts(&adverts, &arps, event_ns),
    )?;
    if !took {
        bail!(
            "no reply from r2 within {:?} of the event",
            mdi + Duration::from_secs(3)
        );
    }

    let mut m = analyse(
        &probes.replies,
        &adverts,
        &arps,
        r2_mac,
        scenario,
        interval_ms,
        event_ns,
    )?;
    m.sigterm_to_exit_ms = sigterm_to_exit_ms;
    m.probes_sent = probes.sent_ns.len();
    m.replies = probes.replies.len();
    let (w1, w2) = (&t1[..end_r1.min(t1.len())], &t2[..end_r2.min(t2.len())]);
    m.false_transitions = false_transitions(w1, pre_r1, w2, pre_r2);
    let show = |t: &[Transition]| -> Vec<String> {
        t.iter().map(|t| format!("{}->{}", t.from, t.to)).collect()
    };
    m.transitions = TrialTransitions {
        r1: show(&t1),
        r2: show(&t2),
        r1_before_event: pre_r1,
        r2_before_event: pre_r2,
        r1_in_window: end_r1,
        r2_in_window: end_r2,
    };
    Ok(m)
}

/// The client's timeline around the event, for reading by eye (times in ms from it).
fn dump_adverts(adverts: &[SeenAdvert], arps: &[SeenArp], event_ns: i64) -> String {
    let mut lines: Vec<(i64, String)> = adverts
        .iter()
        .map(|a| {
            (
                a.rx_ns,
                format!(
                    "advert {} priority {} interval {} cs",
                    a.src, a.priority, a.interval_cs
                ),
            )
        })
        .chain(arps.iter().map(|a| {
            let mac: Vec<String> = a.sender_mac.iter().map(|b| format!("{b:02x}")).collect();
            (
                a.rx_ns,
                format!("arp op {} {VIP} is-at {}", a.op, mac.join(":")),
            )
        }))
        .collect();
    lines.sort_by_key(|l| l.0);
    lines
        .iter()
        .map(|(t, s)| format!("{:+12.3} ms  {s}\n", ms(t - event_ns)))
        .collect()
}

fn analyse(
    replies: &[super::observe::Reply],
    adverts: &[SeenAdvert],
    arps: &[SeenArp],
    r2_mac: [u8; 6],
    scenario: Scenario,
    interval_ms: u64,
    event_ns: i64,
) -> Result<Measured> {
    let mut replies = replies.to_vec();
    replies.sort_by_key(|r| r.rx_ns);
    let first_r2 = replies
        .iter()
        .find(|r| r.from == "r2" && r.rx_ns > event_ns)
        .context("no reply from r2 after the event")?
        .clone();
    let last_r1 = replies
        .iter()
        .rev()
        .find(|r| r.from == "r1" && r.rx_ns < first_r2.rx_ns)
        .context("no reply from r1 before the takeover")?
        .clone();
    let after: Vec<_> = replies
        .iter()
        .filter(|r| r.rx_ns >= first_r2.rx_ns)
        .collect();
    let longest_after = after
        .windows(2)
        .map(|w| w[1].rx_ns - w[0].rx_ns)
        .max()
        .unwrap_or(0);

    let r2_advert = adverts
        .iter()
        .find(|a| a.src == R2 && a.priority > 0 && a.rx_ns > event_ns);
    let deadline_ns = match scenario {
        Scenario::LinkCut => {
            let before = r2_advert.map_or(first_r2.rx_ns, |a| a.rx_ns);
            adverts
                .iter()
                .rev()
                .find(|a| a.src == R1 && a.priority > 0 && a.rx_ns < before)
                .map(|a| a.rx_ns + master_down_ns(interval_ms) as i64)
        }
        Scenario::Graceful => adverts
            .iter()
            .find(|a| a.src == R1 && a.priority == 0 && a.rx_ns >= event_ns)
            .map(|a| a.rx_ns + skew_ns(interval_ms) as i64),
    };
    // The master's advert spacing (median): r1's before the event, r2's after takeover.
    let period = |src: Ipv4Addr, after: bool| {
        let t: Vec<i64> = adverts
            .iter()
            .filter(|a| a.src == src && a.priority > 0 && (a.rx_ns > event_ns) == after)
            .map(|a| a.rx_ns)
            .collect();
        let gaps: Vec<f64> = t.windows(2).map(|w| ms(w[1] - w[0])).collect();
        stats(&gaps).map(|(m, ..)| m)
    };
    let r2_arps: Vec<_> = arps
        .iter()
        .filter(|a| a.sender_mac == r2_mac && a.rx_ns > event_ns)
        .collect();
    let garp = r2_arps.first();
    Ok(Measured {
        outage_ms: ms(first_r2.rx_ns - last_r1.rx_ns),
        missed_probes: first_r2.seq.saturating_sub(last_r1.seq + 1),
        past_deadline_ms: deadline_ns.map(|d| ms(first_r2.rx_ns - d)),
        r2_advert_past_deadline_ms: deadline_ns.zip(r2_advert).map(|(d, a)| ms(a.rx_ns - d)),
        garp_after_advert_ms: r2_advert.zip(garp).map(|(a, g)| ms(g.rx_ns - a.rx_ns)),
        reply_after_garp_ms: garp.map(|g| ms(first_r2.rx_ns - g.rx_ns)),
        r1_replies_after_takeover: after.iter().filter(|r| r.from == "r1").count(),
        longest_gap_after_takeover_ms: ms(longest_after),
        r2_garps: r2_arps.len(),
        r1_advert_period_ms: period(R1, false),
        r2_advert_period_ms: period(R2, true),
        ..Default::default()
    })
}

pub fn run(agent: &Path, opts: &Options) -> Result<()> {
    let root = vrrpx_tests::workspace().join("target/bench");
    let base = root.join("failover");
    let _ = std::fs::remove_dir_all(&base);
    std::fs::create_dir_all(&base)?;
    let load_before = loadavg();
    let started = Instant::now();
    println!(
        "bench failover: vrrp-agent vs keepalived, same keepalived.conf (VRRPv3, VRID {VRID}, \
         r1 priority 150, r2 priority 100), {} trial(s) each, intervals {:?} ms",
        opts.trials, opts.intervals_ms
    );
    println!(
        "probe: UDP datagram to {VIP}:{PORT} every 1 ms from the client; echo responders on \
         r1/r2 answer with their name; kernel receive timestamps"
    );
    let cmd = AgentCmd::new(agent, &opts.agent_args);
    if !opts.agent_args.is_empty() {
        println!("vrrp-agent runs with extra arguments {:?}", opts.agent_args);
    }
    if cmd.own_control_socket {
        println!("vrrp-agent: each router gets its own control socket (--control) in its trial directory");
    }
    println!("files: {}\n", base.display());

    let mut records = Vec::new();
    for &scenario in &opts.scenarios {
        for &interval_ms in &opts.intervals_ms {
            for index in 0..opts.trials {
                // Alternate the implementations so a busy spell hits both alike.
                for imp in [Impl::Agent, Impl::Keepalived] {
                    let dir = base.join(format!(
                        "{}/{}/{interval_ms}ms/trial-{index}",
                        imp.name(),
                        scenario.slug()
                    ));
                    std::fs::create_dir_all(&dir)?;
                    let t0 = Instant::now();
                    let result = trial(&cmd, imp, scenario, interval_ms, &dir, None)
                        .map_err(|e| format!("{e:#}"));
                    match &result {
                        Ok(m) => eprintln!(
                            "  {:<13} {:>5} ms  {:<10} #{index}: outage {:>8.1} ms ({} probes missed), \
                             past RFC deadline {}, false transitions {}  [{:.1} s]",
                            scenario.name(),
                            interval_ms,
                            imp.name(),
                            m.outage_ms,
                            m.missed_probes,
                            m.past_deadline_ms
                                .map_or("?".into(), |x| format!("{x:+.1} ms")),
                            m.false_transitions,
                            t0.elapsed().as_secs_f64()
                        ),
                        Err(e) => eprintln!(
                            "  {:<13} {:>5} ms  {:<10} #{index}: FAILED: {e}",
                            scenario.name(),
                            interval_ms,
                            imp.name()
                        ),
                    }
                    records.push(Record {
                        imp,
                        scenario,
                        interval_ms,
                        index,
                        dir,
                        result,
                    });
                }
            }
        }
    }
    let load_after = loadavg();

    let json_path = root.join("failover.json");
    let doc = json!({
        "bench": "failover",
        "keepalived": keepalived_version(),
        "agent_args": opts.agent_args,
        "agent_own_control_socket": cmd.own_control_socket,
        "workspace": git_state(),
        "kernel": std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim(),
        "loadavg_before": load_before,
        "loadavg_after": load_after,
        "wall_seconds": started.elapsed().as_secs_f64(),
        "probe": "UDP every 1 ms from the client to VIP:7777; echo responders on r1 and r2 \
                  reply with their name; SO_TIMESTAMPNS receive times",
        "outage": "arrival of r2's first reply minus arrival of r1's last reply before it",
        "past_rfc_deadline": "r2's first reply minus (last r1 advert + Master_Down_Interval) \
                              on link cut, minus (r1's priority-0 advert + Skew_Time) on graceful \
                              stop; adverts as received by the client",
        "trials": records.iter().map(Record::json).collect::<Vec<_>>(),
    });
    std::fs::write(&json_path, serde_json::to_string_pretty(&doc)?)?;

    print_tables(&records, opts);
    println!(
        "\nload average before {load_before}, after {load_after}; {:.0} s; raw results in {}",
        started.elapsed().as_secs_f64(),
        json_path.display()
    );
    let failed = records.iter().filter(|r| r.result.is_err()).count();
    if failed > 0 {
        println!(
            "{failed} trial(s) failed: see \"error\" in the JSON and the logs beside each trial"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::common::transitions;

    #[test]
    fn keepalived_and_agent_logs_parse_into_transitions() {
        let ka = "Sun Nov 22 21:58:46 2026: (VI_51) Entering BACKUP STATE (init)\n\
                  Sun Nov 22 21:58:46 2026: (VI_51) Receive advertisement timeout\n\
                  Sun Nov 22 21:58:46 2026: (VI_51) Entering MASTER STATE\n";
        let t = transitions(Impl::Keepalived, ka);
        assert_eq!(t.len(), 2);
        assert_eq!((t[1].from.as_str(), t[1].to.as_str()), ("BACKUP", "MASTER"));
        let ours = "2026-11-22T21:58:55.146817Z  INFO vrrp_agent::engine: state change \
                    instance=\"VI_51\" iface=\"eth0\" vrid=51 from=BACKUP to=MASTER cause=MasterDown\n";
        let t = transitions(Impl::Agent, ours);
        assert_eq!((t[0].from.as_str(), t[0].to.as_str()), ("BACKUP", "MASTER"));
    }

    #[test]
    fn a_clean_handover_has_no_false_transitions_and_a_flap_has_two() {
        let tr = |f: &str, t: &str| Transition {
            instance: "VI_51".into(),
            from: f.into(),
            to: t.into(),
        };
        let r1 = [
            tr("INIT", "BACKUP"),
            tr("BACKUP", "MASTER"),
            tr("MASTER", "FAULT"),
        ];
        let r2 = [tr("INIT", "BACKUP"), tr("BACKUP", "MASTER")];
        assert_eq!(false_transitions(&r1, 2, &r2, 1), 0);
        let r2 = [
            tr("INIT", "BACKUP"),
            tr("BACKUP", "MASTER"),
            tr("MASTER", "BACKUP"),
            tr("BACKUP", "MASTER"),
        ];
        assert_eq!(false_transitions(&r1, 2, &r2, 1), 2);
    }

    #[test]
    fn rfc_floors_match_the_worked_example() {
        // VRRP.md: 10 ms adverts, priority 100 -> master down after 36.1 ms.
        assert!((floor_ms(Scenario::LinkCut, 10) - 36.09).abs() < 0.01);
        assert!((floor_ms(Scenario::Graceful, 100) - 60.94).abs() < 0.01);
    }
}

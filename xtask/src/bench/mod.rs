//! Benchmarks that print figures, vrrp-agent beside keepalived (Debian's) on the same
//! network-namespace lab and the same keepalived.conf.
//!
//! `cargo xtask bench all` runs the scenarios below but `failover` and prints one table
//! (medians, min/max, the ratio, and each target beside the figure with met / NOT met);
//! raw results go to target/bench/results.json (and one <scenario>.json each), the
//! picture to target/bench/bench.svg. `--quick` shortens every scenario: about 6 minutes
//! in all, against about 35 for the full run (on a 2-core machine). Each
//! scenario also runs alone:
//! - `flood`: junk VRRP at the generator's maximum (and 100 kframes/s): CPU and wake-ups
//!   of master and backup, the master's adverts/s, false transitions, then the outage of
//!   a link cut under the flood.
//! - `stall`: the backup SIGSTOPped for 2 × Master_Down and resumed: false takeovers.
//! - `busy`: every core saturated by busy loops, 10 ms adverts, 5 trials of 60 s: false
//!   transitions and the longest master advert gap per trial, CPU and wake-ups.
//! - `scale`: 1 to 255 instances: CPU and wake-ups, advert jitter from kernel timestamps,
//!   adverts delivered, transitions.
//! - `graceful`: SIGTERM to the master at 10 ms adverts: outage minus Skew_Time and the
//!   SIGTERM-to-exit time.
//! - `xdp`: junk-flood rejection rate per core: XDP filter, raw socket, keepalived.
//! - `failover`: client-observed outage on link cut and graceful stop at 1 s / 100 ms /
//!   10 ms adverts (not part of `all`: it has its own tables).
//!
//! Nothing here reads the agent's internals: it is started by its CLI, watched through its
//! log, `vrrp-agent monitor` on a passive host, tcpdump, and /proc.
//!
//! Every lab is a [`vrrpx_tests::netns::Lab`] with a `vxb…-` prefix (after
//! `VRRPX_LAB_TAG`, when set), removed when dropped, so also when a step fails. Every
//! loop and flood is bounded in time: floods by `timeout` and a frame count, busy loops
//! by a deadline, captures by `timeout`, waits by `wait_for` limits.

mod busy;
mod common;
mod failover;
mod flood;
mod graceful;
mod observe;
mod results;
mod scale;
mod stall;
mod svg;
mod xdp;

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Result;
use clap::{Args, Subcommand};

use common::AgentCmd;
pub use failover::Scenario;
use results::Report;

/// Options every vrrp-agent-vs-keepalived scenario takes.
#[derive(Args, Clone)]
pub struct Common {
    /// Shorter windows and fewer trials (see each scenario).
    #[arg(long)]
    quick: bool,
    /// An extra argument for `vrrp-agent run` (repeatable), e.g. `--agent-arg=--no-xdp`.
    #[arg(long = "agent-arg", allow_hyphen_values = true)]
    agent_args: Vec<String>,
}

impl Common {
    /// How every scenario starts our agent: `bin` with the extra arguments.
    fn agent<'a>(&'a self, bin: &'a Path) -> AgentCmd<'a> {
        AgentCmd::new(bin, &self.agent_args)
    }
}

#[derive(Subcommand)]
pub enum Which {
    /// Every scenario below but failover (flood, stall, busy, scale, graceful, xdp),
    /// vrrp-agent and keepalived: one table, target/bench/results.json and
    /// target/bench/bench.svg. About 35 min; about 6 with --quick (each scenario's time
    /// is in its own help).
    All {
        #[command(flatten)]
        common: Common,
    },
    /// Junk VRRP flood (unknown VRID, bad TTL, bad checksum, lower priority): the four
    /// round robin and valid lower-priority adverts alone, at trafgen's maximum; CPU and
    /// wake-ups of master and backup, the master's adverts/s, false transitions over 30 s
    /// (10 s with --quick), then a link cut's outage under the flood. Full runs add the
    /// mix at 100 kf/s and each other kind alone at the maximum. About 13 min; 1 with
    /// --quick.
    Flood {
        #[command(flatten)]
        common: Common,
        /// Window per trial, seconds (default 30; 10 with --quick).
        #[arg(long)]
        seconds: Option<u64>,
        /// Trials per flood (default 2; 1 with --quick).
        #[arg(long)]
        trials: Option<usize>,
        /// Only these kinds of junk (each at 100 kf/s and at the maximum), e.g.
        /// `--junk lower-priority,bad-ttl`.
        #[arg(long, value_enum, value_delimiter = ',')]
        junk: Vec<flood::Junk>,
    },
    /// The backup stopped (SIGSTOP) for 2 × Master_Down and resumed while the master
    /// advertises, at 10 ms and 100 ms adverts: false takeovers (5 stalls; 3 with --quick).
    /// About 1.5 min; under 1 with --quick.
    Stall {
        #[command(flatten)]
        common: Common,
        /// Stalls per (implementation, interval).
        #[arg(long)]
        stalls: Option<usize>,
    },
    /// Every core saturated by busy loops, 10 ms adverts: per trial of 60 s (5 trials; 2 of
    /// 20 s with --quick) false transitions and the longest master advert gap; CPU and
    /// wake-ups. About 11 min; under 2 with --quick.
    Busy {
        #[command(flatten)]
        common: Common,
        /// Window, seconds.
        #[arg(long)]
        seconds: Option<u64>,
        /// Busy-loop threads per core (default 4).
        #[arg(long)]
        spinners_per_core: Option<usize>,
        /// Trials (default 5; 2 with --quick).
        #[arg(long)]
        trials: Option<usize>,
    },
    /// 1, 10, 100 and 255 instances at 10 ms and 100 ms adverts (--quick: 1, 100, 255 at
    /// 10 ms): CPU and wake-ups of master and backup, p99 advert jitter on a passive
    /// observer, adverts delivered, false transitions. About 7 min; 1.5 with --quick.
    Scale {
        #[command(flatten)]
        common: Common,
        /// Instance counts, e.g. `--counts 1,255`.
        #[arg(long, value_delimiter = ',')]
        counts: Vec<usize>,
        /// Advert intervals in ms (multiples of 10), e.g. `--intervals 10`.
        #[arg(long, value_delimiter = ',')]
        intervals: Vec<u64>,
        /// Window per trial, seconds (default 20; 10 with --quick).
        #[arg(long)]
        seconds: Option<u64>,
    },
    /// SIGTERM to the master at 10 ms adverts, the client probing every ms: client outage
    /// minus the backup's Skew_Time, and the master's SIGTERM-to-exit time (5 trials; 3
    /// with --quick). Under a minute.
    Graceful {
        #[command(flatten)]
        common: Common,
        /// Trials per implementation.
        #[arg(long)]
        trials: Option<usize>,
    },
    /// Junk-flood rejection rate per core on a veth: vrrp-agent's XDP filter, its
    /// raw-socket path and keepalived. Under a minute (10 s floods; 5 s in `all --quick`).
    Xdp {
        /// Flood duration per receiver, seconds.
        #[arg(long, default_value = "10")]
        seconds: u64,
    },
    /// Client-observed failover outage, vrrp-agent vs keepalived: link cut and graceful
    /// stop at 1 s, 100 ms and 10 ms adverts. Writes target/bench/failover.json.
    Failover {
        /// Trials per (implementation, scenario, interval); default 5, or 3 with --quick.
        #[arg(long)]
        trials: Option<usize>,
        /// 3 trials, and only the 100 ms and 10 ms intervals.
        #[arg(long)]
        quick: bool,
        /// Advert intervals in milliseconds (multiples of 10), e.g. `--intervals 100,10`.
        #[arg(long, value_delimiter = ',')]
        intervals: Vec<u64>,
        /// Only this scenario (default: both).
        #[arg(long, value_enum)]
        scenario: Option<Scenario>,
        /// An extra argument for `vrrp-agent run` (repeatable), e.g. `--agent-arg=--no-xdp`.
        #[arg(long = "agent-arg", allow_hyphen_values = true)]
        agent_args: Vec<String>,
    },
}

fn valid_intervals(mut v: Vec<u64>) -> Result<Vec<u64>> {
    v.retain(|&ms| ms >= 10 && ms % 10 == 0 && ms <= 10_000);
    if v.is_empty() {
        anyhow::bail!("advert intervals are whole centiseconds: 10 to 10000 ms");
    }
    Ok(v)
}

/// A window given on the command line, in seconds, kept within 2 s and `max` s.
fn window(seconds: u64, max: u64) -> Duration {
    Duration::from_secs(seconds.clamp(2, max))
}

fn flood_opts(c: &Common, seconds: Option<u64>, trials: Option<usize>) -> flood::Options {
    let mut o = flood::Options::new(c.quick);
    o.window = seconds.map_or(o.window, |s| window(s, 300));
    o.trials = trials.map_or(o.trials, |t| t.clamp(1, 20));
    o
}

fn stall_opts(c: &Common, stalls: Option<usize>) -> stall::Options {
    let mut o = stall::Options::new(c.quick);
    o.stalls = stalls.map_or(o.stalls, |n| n.clamp(1, 50));
    o
}

fn busy_opts(
    c: &Common,
    seconds: Option<u64>,
    spinners_per_core: Option<usize>,
    trials: Option<usize>,
) -> busy::Options {
    let mut o = busy::Options::new(c.quick);
    o.trials = trials.map_or(o.trials, |n| n.clamp(1, 20));
    o.window = seconds.map_or(o.window, |s| window(s, 600));
    o.spinners_per_core = spinners_per_core.map_or(o.spinners_per_core, |n| n.clamp(1, 32));
    o
}

fn scale_opts(
    c: &Common,
    counts: Vec<usize>,
    intervals: Vec<u64>,
    seconds: Option<u64>,
) -> Result<scale::Options> {
    let mut o = scale::Options::new(c.quick);
    let counts: Vec<usize> = counts
        .into_iter()
        .filter(|&n| (1..=255).contains(&n))
        .collect();
    if !counts.is_empty() {
        o.counts = counts;
    }
    if !intervals.is_empty() {
        o.intervals_ms = valid_intervals(intervals)?;
    }
    o.window = seconds.map_or(o.window, |s| window(s, 300));
    Ok(o)
}

fn graceful_opts(c: &Common, trials: Option<usize>) -> graceful::Options {
    let mut o = graceful::Options::new(c.quick);
    o.trials = trials.map_or(o.trials, |n| n.clamp(1, 50));
    o
}

/// One scenario of `all`, writing into the shared report.
type Step<'a> = Box<dyn Fn(&mut Report) -> Result<()> + 'a>;

/// Every scenario in turn; one that fails is reported and the others still run.
fn all(agent: &Path, c: &Common) -> Result<()> {
    let started = Instant::now();
    println!(
        "bench all{}: flood, stall, busy box, scale, graceful stop and XDP, vrrp-agent vs \
         keepalived on one lab each; expect about {} minutes. The machine is shared: the load average is printed \
         before each scenario and kept in the JSON.",
        if c.quick { " --quick" } else { "" },
        if c.quick { 6 } else { 35 }
    );
    let cmd = c.agent(agent);
    let mut report = Report::new("all");
    let steps: [(&str, Step); 6] = [
        (
            "flood",
            Box::new(|r| flood::run(&cmd, &flood_opts(c, None, None), r)),
        ),
        (
            "stall",
            Box::new(|r| stall::run(&cmd, &stall_opts(c, None), r)),
        ),
        (
            "busy",
            Box::new(|r| busy::run(&cmd, &busy_opts(c, None, None, None), r)),
        ),
        (
            "scale",
            Box::new(|r| scale::run(&cmd, &scale_opts(c, vec![], vec![], None)?, r)),
        ),
        (
            "graceful",
            Box::new(|r| graceful::run(&cmd, &graceful_opts(c, None), r)),
        ),
        (
            "xdp",
            Box::new(|r| xdp::measure(agent, Duration::from_secs(if c.quick { 5 } else { 10 }), r)),
        ),
    ];
    for (name, step) in steps.iter() {
        let t0 = Instant::now();
        if let Err(e) = step(&mut report) {
            eprintln!("[{name}] FAILED: {e:#}");
            report.error(name, &format!("{e:#}"));
        }
        println!("[{name}] {:.0} s", t0.elapsed().as_secs_f64());
    }
    report.finish()?;
    println!(
        "bench all{}: {:.1} minutes",
        if c.quick { " --quick" } else { "" },
        started.elapsed().as_secs_f64() / 60.0
    );
    Ok(())
}

/// Run one bench into its own report.
fn alone(name: &str, f: impl FnOnce(&mut Report) -> Result<()>) -> Result<()> {
    let mut report = Report::new(name);
    f(&mut report)?;
    report.finish()
}

pub fn run(which: Which, agent: &Path) -> Result<()> {
    match which {
        Which::All { common } => all(agent, &common),
        Which::Flood {
            common,
            seconds,
            trials,
            junk,
        } => alone("flood", |r| {
            let mut o = flood_opts(&common, seconds, trials);
            o.only(&junk);
            flood::run(&common.agent(agent), &o, r)
        }),
        Which::Stall { common, stalls } => alone("stall", |r| {
            stall::run(&common.agent(agent), &stall_opts(&common, stalls), r)
        }),
        Which::Busy {
            common,
            seconds,
            spinners_per_core,
            trials,
        } => alone("busy", |r| {
            let o = busy_opts(&common, seconds, spinners_per_core, trials);
            busy::run(&common.agent(agent), &o, r)
        }),
        Which::Scale {
            common,
            counts,
            intervals,
            seconds,
        } => alone("scale", |r| {
            let o = scale_opts(&common, counts, intervals, seconds)?;
            scale::run(&common.agent(agent), &o, r)
        }),
        Which::Graceful { common, trials } => alone("graceful", |r| {
            graceful::run(&common.agent(agent), &graceful_opts(&common, trials), r)
        }),
        Which::Xdp { seconds } => xdp::run(agent, Duration::from_secs(seconds.clamp(2, 60))),
        Which::Failover {
            trials,
            quick,
            intervals,
            scenario,
            agent_args,
        } => {
            let intervals_ms = valid_intervals(if !intervals.is_empty() {
                intervals
            } else if quick {
                vec![100, 10]
            } else {
                vec![1000, 100, 10]
            })?;
            let trials = trials.unwrap_or(if quick { 3 } else { 5 }).clamp(1, 100);
            let scenarios = match scenario {
                Some(s) => vec![s],
                None => vec![Scenario::LinkCut, Scenario::Graceful],
            };
            failover::run(
                agent,
                &failover::Options {
                    trials,
                    intervals_ms,
                    scenarios,
                    agent_args,
                },
            )
        }
    }
}

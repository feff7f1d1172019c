//! Benchmarks that print figures.
//! - `xdp`: junk-flood rejection rate and agent CPU, XDP filter vs raw socket.
//! - `failover`: client-observed outage on link cut and graceful stop, vrrp-agent vs
//!   keepalived on the same keepalived.conf, at 1 s / 100 ms / 10 ms adverts.

mod failover;
mod observe;
mod xdp;

use std::path::Path;
use std::time::Duration;

use anyhow::Result;
use clap::Subcommand;

pub use failover::Scenario;

#[derive(Subcommand)]
pub enum Which {
    /// XDP vs raw-socket rejection rate and agent CPU under a junk flood.
    Xdp {
        /// Flood duration per path, seconds.
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

pub fn run(which: Which, agent: &Path) -> Result<()> {
    match which {
        Which::Xdp { seconds } => xdp::run(agent, Duration::from_secs(seconds.clamp(2, 60))),
        Which::Failover {
            trials,
            quick,
            intervals,
            scenario,
            agent_args,
        } => {
            let mut intervals_ms = if !intervals.is_empty() {
                intervals
            } else if quick {
                vec![100, 10]
            } else {
                vec![1000, 100, 10]
            };
            intervals_ms.retain(|&ms| ms >= 10 && ms % 10 == 0 && ms <= 10_000);
            if intervals_ms.is_empty() {
                anyhow::bail!("advert intervals are whole centiseconds: 10 to 10000 ms");
            }
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

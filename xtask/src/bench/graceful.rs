//! `bench graceful`: r1 (master) stopped with SIGTERM at 10 ms adverts while a client
//! probes the virtual address every 100 µs, vrrp-agent against keepalived; the
//! failover bench's graceful trial, reported in the shared table. RFC 5798 §6.4.3: a
//! master that stops sends an advert of priority 0, and the backup takes over after its
//! Skew_Time (§6.1), not after Master_Down_Interval; so what the client sees beyond
//! Skew_Time is the implementations' own delay. Also: how long the stopped daemon takes
//! from SIGTERM to its exit (real-time scheduling is the agent's default).

use anyhow::Result;
use serde_json::json;

use super::common::{AgentCmd, Impl};
use super::failover::{self, floor_ms, Scenario};
use super::results::{Metric, Report, Target};

pub struct Options {
    pub trials: usize,
    pub interval_ms: u64,
}

impl Options {
    pub fn new(quick: bool) -> Options {
        Options {
            trials: if quick { 3 } else { 5 },
            interval_ms: 10,
        }
    }
}

pub fn run(cmd: &AgentCmd, opts: &Options, report: &mut Report) -> Result<()> {
    let base = report.dir("graceful");
    let iv = opts.interval_ms;
    let skew_ms = floor_ms(Scenario::Graceful, iv);
    println!(
        "bench graceful: SIGTERM to the master at {iv} ms adverts, the client probing every 100 µs; \
         {} trial(s); backup Skew_Time {skew_ms:.2} ms; files in {}",
        opts.trials,
        base.display()
    );
    // Per implementation: (outage - Skew_Time, SIGTERM to exit), one per trial.
    let mut beyond: [Vec<f64>; 2] = Default::default();
    let mut exit: [Vec<f64>; 2] = Default::default();
    let mut raw = Vec::new();
    for index in 0..opts.trials {
        for (i, imp) in Impl::BOTH.into_iter().enumerate() {
            let dir = base.join(format!("{}/trial-{index}", imp.name()));
            std::fs::create_dir_all(&dir)?;
            let r = failover::trial(cmd, imp, Scenario::Graceful, iv, &dir, None);
            let line = match &r {
                Ok(m) => {
                    beyond[i].push(m.outage_ms - skew_ms);
                    exit[i].extend(m.sigterm_to_exit_ms);
                    format!(
                        "  {:<10} #{index}: outage {:.2} ms ({:+.2} ms past Skew_Time), SIGTERM to \
                         exit {}",
                        imp.name(),
                        m.outage_ms,
                        m.outage_ms - skew_ms,
                        m.sigterm_to_exit_ms
                            .map_or("not seen".into(), |e| format!("{e:.1} ms"))
                    )
                }
                Err(_) => format!("  {:<10} #{index}: not measured", imp.name()),
            };
            let error = r.as_ref().err().map(|e| format!("{e:#}"));
            report.trial_line(&line, &format!("{} #{index}", imp.name()), error.as_deref());
            raw.push(json!({
                "implementation": imp.name(),
                "trial": index,
                "outage_ms": r.as_ref().ok().map(|m| m.outage_ms),
                "outage_minus_skew_ms": r.as_ref().ok().map(|m| m.outage_ms - skew_ms),
                "sigterm_to_exit_ms": r.as_ref().ok().and_then(|m| m.sigterm_to_exit_ms),
                "error": error,
            }));
        }
    }
    let sc = format!("Graceful stop @{iv}ms");
    let [o, k] = beyond;
    report.add(
        Metric::new(&sc, "client outage minus Skew_Time (ms)")
            .ours(o)
            .keepalived(k)
            .target(Target::Below(1.0))
            .note(&format!(
                "Skew_Time of the backup (priority 100) at {iv} ms adverts: {skew_ms:.2} ms"
            )),
    );
    let [o, k] = exit;
    report.add(
        Metric::new(&sc, "SIGTERM to exit of the master (ms)")
            .ours(o)
            .keepalived(k)
            .target(Target::Below(50.0)),
    );
    report.scenario_json(
        "graceful",
        json!({
            "advert_interval_ms": iv,
            "skew_time_ms": skew_ms,
            "exit": "pidfd of r1's daemon (keepalived: its parent) polled from the SIGTERM on",
            "trials": raw,
        }),
    );
    Ok(())
}

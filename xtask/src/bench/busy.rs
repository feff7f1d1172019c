//! `bench busy`: both routers' CPUs saturated by other work — busy-loop threads, several
//! per core, in this process (so they die with it) — while r1 and r2 run VRID 51 at 10 ms
//! adverts. Per trial (5 of 60 s; 2 of 20 s with --quick), each on a fresh lab:
//! transitions into or out of MASTER on either router (nothing failed, so every one is
//! false: on a busy box adverts still arrive on time, only userspace reads them late), and
//! the longest gap between the master's adverts on a passive observer; CPU and wake-ups.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Result;
use serde_json::{json, Value};

use vrrpx_tests::netns::wait_for;

use super::common::{
    master_down_ns, quantile, AgentCmd, CpuSampler, Impl, Pair, R2_PRIORITY, WAKEUPS_LEGEND,
};
use super::results::{Metric, Report, Target};
use super::scale::Observer;

pub struct Options {
    pub window: Duration,
    pub trials: usize,
    pub spinners_per_core: usize,
    pub interval_ms: u64,
}

impl Options {
    pub fn new(quick: bool) -> Options {
        Options {
            window: Duration::from_secs(if quick { 20 } else { 60 }),
            trials: if quick { 2 } else { 5 },
            spinners_per_core: 4,
            interval_ms: 10,
        }
    }
}

/// Busy-loop threads; they stop when dropped, and by themselves after `limit`.
pub struct Spinners {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<u64>>,
}

impl Spinners {
    pub fn start(n: usize, limit: Duration) -> Spinners {
        let stop = Arc::new(AtomicBool::new(false));
        let threads = (0..n)
            .map(|_| {
                let s = stop.clone();
                std::thread::spawn(move || {
                    let t0 = Instant::now();
                    let mut x = 0u64;
                    while !s.load(Ordering::Relaxed) && t0.elapsed() < limit {
                        for _ in 0..10_000 {
                            x = std::hint::black_box(
                                x.wrapping_mul(6364136223846793005).wrapping_add(1),
                            );
                        }
                    }
                    x
                })
            })
            .collect();
        Spinners { stop, threads }
    }
}

impl Drop for Spinners {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

struct Trial {
    imp: Impl,
    index: usize,
    false_transitions: Option<usize>,
    transitions: Vec<String>,
    cpu_master: Vec<f64>,
    cpu_backup: Vec<f64>,
    /// Master's and backup's over the window (see `WAKEUPS_LEGEND`).
    wakeups_per_s: Option<[f64; 2]>,
    loadavg_end: String,
    /// The master's adverts as the observer saw them.
    delivered_pct: Option<f64>,
    max_gap_ms: Option<f64>,
    /// Inter-arrival times past Master_Down_Interval.
    silences: Option<usize>,
    machine_busy_pct: Option<f64>,
    p99_jitter_ms: Option<f64>,
    error: Option<String>,
    notes: Vec<String>,
}

impl Trial {
    fn json(&self) -> Value {
        json!({
            "implementation": self.imp.name(),
            "trial": self.index,
            "false_transitions": self.false_transitions,
            "transitions": self.transitions,
            "master_cpu_pct_per_second": self.cpu_master,
            "backup_cpu_pct_per_second": self.cpu_backup,
            "master_backup_wakeups_per_s": self.wakeups_per_s,
            "loadavg_at_end": self.loadavg_end,
            "adverts_delivered_pct": self.delivered_pct,
            "longest_inter_arrival_ms": self.max_gap_ms,
            "master_silences_past_master_down": self.silences,
            "machine_busy_pct_of_all_cores": self.machine_busy_pct,
            "jitter_p99_ms": self.p99_jitter_ms,
            "error": self.error,
            "notes": self.notes,
        })
    }
}

fn trial(cmd: &AgentCmd, imp: Impl, opts: &Options, index: usize, dir: &Path) -> Trial {
    let mut t = Trial {
        imp,
        index,
        false_transitions: None,
        transitions: Vec::new(),
        cpu_master: Vec::new(),
        cpu_backup: Vec::new(),
        wakeups_per_s: None,
        loadavg_end: String::new(),
        delivered_pct: None,
        max_gap_ms: None,
        silences: None,
        machine_busy_pct: None,
        p99_jitter_ms: None,
        error: None,
        notes: Vec::new(),
    };
    let mut pair = match Pair::start(
        "vxbbu-",
        cmd,
        imp,
        1,
        opts.interval_ms,
        &[("o", "10.9.0.77/24")],
        dir,
    ) {
        Ok(p) => p,
        Err(e) => {
            t.error = Some(format!("{e:#}"));
            return t;
        }
    };
    t.notes = pair.notes.clone();
    let obs = match Observer::start(&pair.lab, cmd.bin, "o", "10.9.0.1", opts.interval_ms, dir) {
        Ok(o) => o,
        Err(e) => {
            t.error = Some(format!("{e:#}"));
            return t;
        }
    };
    if !wait_for(Duration::from_secs(5), || obs.lines() > 5) {
        t.error = Some("the observer printed no adverts".into());
        return t;
    }
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let spin = Spinners::start(
        cores * opts.spinners_per_core,
        opts.window + Duration::from_secs(10),
    );
    // Let the load settle in before counting.
    std::thread::sleep(Duration::from_secs(1));
    let marks = pair.mark();
    obs.recording.store(true, Ordering::Relaxed);
    let mut cpu = CpuSampler::start(&[pair.pid1(), pair.pid2()]);
    cpu.run_for(opts.window, || {});
    t.machine_busy_pct = Some(cpu.machine_pct());
    let mut seen = obs.finish();
    t.delivered_pct = Some(seen.delivered_pct(1));
    t.max_gap_ms = Some(seen.max_gap_ms);
    // Inter-arrival > Master_Down_Interval: the master really fell silent for long enough
    // that a backup taking over is the RFC's answer, not the backup's mistake.
    let mdi_ms = master_down_ns(R2_PRIORITY.into(), opts.interval_ms) as f64 / 1e6;
    let late = mdi_ms - opts.interval_ms as f64;
    t.silences = Some(seen.jitter_ms.iter().filter(|&&j| j > late).count());
    t.p99_jitter_ms = quantile(&mut seen.jitter_ms, 0.99);
    let changes = pair.changes_since(marks);
    t.false_transitions = Some(changes.master_moves());
    t.transitions = changes.lines();
    t.loadavg_end = super::common::loadavg();
    drop(spin);
    t.cpu_master = cpu.samples[0].clone();
    t.cpu_backup = cpu.samples[1].clone();
    let w = cpu.wakeups_per_s();
    t.wakeups_per_s = Some([w[0], w[1]]);
    if let Err(e) = pair.finish(dir) {
        t.error = Some(format!("stopping: {e:#}"));
    }
    t
}

pub fn run(cmd: &AgentCmd, opts: &Options, report: &mut Report) -> Result<()> {
    let base = report.dir("busy");
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    println!(
        "bench busy: {} busy-loop threads ({} per core) beside r1 and r2 at {} ms adverts, {} s \
         window, {} trial(s); files in {}",
        cores * opts.spinners_per_core,
        opts.spinners_per_core,
        opts.interval_ms,
        opts.window.as_secs(),
        opts.trials,
        base.display()
    );
    let mut trials = Vec::new();
    for index in 0..opts.trials {
        for imp in Impl::BOTH {
            let dir = base.join(format!("{}/trial-{index}", imp.name()));
            std::fs::create_dir_all(&dir)?;
            let t = trial(cmd, imp, opts, index, &dir);
            report.trial_line(
                &format!(
                    "  {:<10} #{index}: false transitions {}, longest master advert gap {} ms, \
                     load average at end {}",
                    imp.name(),
                    t.false_transitions.map_or("-".into(), |n| n.to_string()),
                    t.max_gap_ms.map_or("-".into(), |g| format!("{g:.1}")),
                    t.loadavg_end,
                ),
                &format!("{} #{index}", imp.name()),
                t.error.as_deref(),
            );
            trials.push(t);
        }
    }
    let sc = format!(
        "Busy box {}x spinners/core @{}ms",
        opts.spinners_per_core, opts.interval_ms
    );
    let per = |imp: Impl, f: &dyn Fn(&Trial) -> Vec<f64>| -> Vec<f64> {
        trials.iter().filter(|t| t.imp == imp).flat_map(f).collect()
    };
    let ft = |t: &Trial| t.false_transitions.map(|n| n as f64).into_iter().collect();
    let (o, k) = (per(Impl::Agent, &ft), per(Impl::Keepalived, &ft));
    report.add_bars(vec![(
        "busy box".to_string(),
        o.iter().sum(),
        k.iter().sum(),
    )]);
    let per_trial = |v: &[f64]| {
        let each: Vec<String> = v.iter().map(|n| format!("{n:.0}")).collect();
        format!("[{}]", each.join(", "))
    };
    report.add(
        Metric::new(
            &sc,
            &format!("false transitions per {} s", opts.window.as_secs()),
        )
        .note(&format!(
            "per trial: vrrp-agent {}, keepalived {}",
            per_trial(&o),
            per_trial(&k)
        ))
        .ours(o)
        .keepalived(k)
        .target(Target::Zero),
    );
    let one = |f: fn(&Trial) -> Option<f64>| {
        (
            per(Impl::Agent, &|t| f(t).into_iter().collect()),
            per(Impl::Keepalived, &|t| f(t).into_iter().collect()),
        )
    };
    let (o, k) = one(|t| t.max_gap_ms);
    let gaps = |v: &[f64]| {
        v.iter()
            .map(|g| format!("{g:.1}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    report.add(
        Metric::new(&sc, "longest master advert gap (ms)")
            .note(&format!(
                "at the observer, per trial: vrrp-agent [{}], keepalived [{}]; the backup takes \
                 over after Master_Down_Interval = {:.1} ms",
                gaps(&o),
                gaps(&k),
                master_down_ns(R2_PRIORITY.into(), opts.interval_ms) as f64 / 1e6
            ))
            .ours(o)
            .keepalived(k)
            // The bound at 10 ms adverts: 12 ms, in every trial.
            .target_if(opts.interval_ms == 10, Target::EveryBelow(12.0)),
    );
    let (o, k) = one(|t| t.silences.map(|n| n as f64));
    report.add(
        Metric::new(&sc, "master silences > Master_Down")
            .ours(o)
            .keepalived(k)
            .note(
                "inter-arrival times of the master's adverts at the observer longer than the \
                 backup's Master_Down_Interval: a takeover then follows the RFC",
            ),
    );
    let (o, k) = one(|t| t.p99_jitter_ms);
    report.add(
        Metric::new(&sc, "advert inter-arrival jitter p99 (ms)")
            .ours(o)
            .keepalived(k),
    );
    let (o, k) = one(|t| t.delivered_pct);
    report.add(
        Metric::new(&sc, "adverts delivered (%)")
            .ours(o)
            .keepalived(k)
            .higher_is_better(),
    );
    report.add(
        Metric::new(&sc, "master CPU % of a core (per s)")
            .ours(per(Impl::Agent, &|t| t.cpu_master.clone()))
            .keepalived(per(Impl::Keepalived, &|t| t.cpu_master.clone())),
    );
    report.add(
        Metric::new(&sc, "backup CPU % of a core (per s)")
            .ours(per(Impl::Agent, &|t| t.cpu_backup.clone()))
            .keepalived(per(Impl::Keepalived, &|t| t.cpu_backup.clone())),
    );
    for (name, side) in [("master wake-ups/s", 0), ("backup wake-ups/s", 1)] {
        let w = |t: &Trial| t.wakeups_per_s.map(|w| w[side]).into_iter().collect();
        report.add(
            Metric::new(&sc, name)
                .ours(per(Impl::Agent, &w))
                .keepalived(per(Impl::Keepalived, &w)),
        );
    }
    report.note(WAKEUPS_LEGEND.into());
    report.scenario_json(
        "busy",
        json!({
            "load": format!("{} busy-loop threads per core in the bench process, \
                             stopped after the window", opts.spinners_per_core),
            "advert_interval_ms": opts.interval_ms,
            "window_seconds": opts.window.as_secs(),
            "trials": trials.iter().map(Trial::json).collect::<Vec<_>>(),
        }),
    );
    Ok(())
}

//! `bench scale`: 1, 10, 100 and 255 VRRP instances (VRIDs 1..=n, one /32 each) between
//! r1 (master) and r2 (backup) at 10 ms and 100 ms adverts. Over a window (20 s, 10 s
//! with --quick): the CPU of master and backup (process trees, per second), the inter-
//! arrival jitter of the master's adverts and how many of the adverts it owes arrive,
//! and false transitions.
//!
//! Jitter is measured on a third host, the passive observer: `vrrp-agent monitor --json`
//! stamps every advert with its kernel arrival time (`ts_ns`, taken by the XDP program);
//! per VRID, each inter-arrival time minus the advert interval, and the p99 of its
//! absolute value over every instance.

use std::collections::HashMap;
use std::io::BufRead;
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use vrrpx_tests::netns::{wait_for, Lab};

use super::common::{quantile, AgentCmd, CpuSampler, Impl, Pair, WAKEUPS_LEGEND};
use super::results::{Metric, Report, Target};
use super::svg::{Plot, Series, OURS, THEIRS};
use crate::agent_cli;

pub struct Options {
    pub counts: Vec<usize>,
    pub intervals_ms: Vec<u64>,
    pub window: Duration,
}

impl Options {
    pub fn new(quick: bool) -> Options {
        Options {
            counts: if quick {
                vec![1, 100, 255]
            } else {
                vec![1, 10, 100, 255]
            },
            intervals_ms: if quick { vec![10] } else { vec![10, 100] },
            window: Duration::from_secs(if quick { 10 } else { 20 }),
        }
    }
}

/// What the observer collected while recording.
#[derive(Default)]
pub(super) struct Seen {
    /// |inter-arrival - interval|, ms, every instance.
    pub(super) jitter_ms: Vec<f64>,
    pub(super) adverts: u64,
    /// Adverts missing between two that arrived: an inter-arrival of k intervals (to the
    /// nearest) means k - 1 lost on the way or never sent.
    pub(super) missed: u64,
    pub(super) vrids: usize,
    pub(super) max_gap_ms: f64,
}

/// `vrrp-agent monitor --json` on a passive observer host, read line by line as it
/// prints; while recording, the inter-arrival times of one source's adverts per VRID.
pub(super) struct Observer {
    child: Child,
    pub(super) recording: Arc<AtomicBool>,
    seen: Arc<Mutex<Seen>>,
    reader: Option<JoinHandle<()>>,
    lines: Arc<std::sync::atomic::AtomicU64>,
}

/// Adverts missing in an inter-arrival gap of `gap_ms` at `interval_ms`: k intervals (to
/// the nearest) mean k - 1 adverts lost or never sent.
fn missing_between(gap_ms: f64, interval_ms: f64) -> u64 {
    ((gap_ms / interval_ms).round() as u64).saturating_sub(1)
}

impl Seen {
    /// Adverts that arrived, % of those the master owed while recording: the missing
    /// ones between arrivals and every advert of an instance never heard count against
    /// it. Unlike a count over the window's length, a timer a little slow does not.
    pub(super) fn delivered_pct(&self, instances: usize) -> f64 {
        let heard = self.adverts as f64 / (self.adverts + self.missed).max(1) as f64;
        heard * self.vrids.min(instances) as f64 / instances.max(1) as f64 * 100.0
    }
}

impl Observer {
    pub(super) fn start(
        lab: &Lab,
        agent: &Path,
        h: &str,
        src: &str,
        interval_ms: u64,
        dir: &Path,
    ) -> Result<Observer> {
        let log = dir.join("observer.log");
        let mut child = lab
            .command(h, &agent_cli::monitor(agent, "eth0", &["--json"]))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log)?)
            .spawn()
            .context("starting the observer")?;
        let out = child.stdout.take().context("observer stdout")?;
        let recording = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Seen::default()));
        let lines = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let (rec, s, n) = (recording.clone(), seen.clone(), lines.clone());
        let src = format!("\"{src}\"");
        let nominal = interval_ms as f64;
        let reader = std::thread::spawn(move || {
            let mut last: HashMap<u64, u64> = HashMap::new();
            let mut local = Seen::default();
            let mut was = false;
            for line in std::io::BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                n.fetch_add(1, Ordering::Relaxed);
                // Cheap pre-filter: only the master's adverts.
                if !line.contains(&src) {
                    continue;
                }
                let Ok(v) = serde_json::from_str::<Value>(&line) else {
                    continue;
                };
                let (Some(ts), Some(vrid), Some(prio)) = (
                    v["ts_ns"].as_u64(),
                    v["vrid"].as_u64(),
                    v["priority"].as_u64(),
                ) else {
                    continue;
                };
                if prio == 0 {
                    continue;
                }
                let on = rec.load(Ordering::Relaxed);
                if on != was {
                    if !on {
                        // Recording stopped: hand over what was collected.
                        let mut g = s.lock().unwrap();
                        *g = std::mem::take(&mut local);
                    }
                    was = on;
                }
                if let Some(prev) = last.insert(vrid, ts) {
                    if on && ts > prev {
                        let d = (ts - prev) as f64 / 1e6;
                        local.jitter_ms.push((d - nominal).abs());
                        local.max_gap_ms = local.max_gap_ms.max(d);
                        local.adverts += 1;
                        local.missed += missing_between(d, nominal);
                    }
                }
                if on {
                    local.vrids = last.len();
                }
            }
            if was {
                *s.lock().unwrap() = local;
            }
        });
        Ok(Observer {
            child,
            recording,
            seen,
            reader: Some(reader),
            lines,
        })
    }

    pub(super) fn lines(&self) -> u64 {
        self.lines.load(Ordering::Relaxed)
    }

    pub(super) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Stop the monitor and return what it saw while recording.
    pub(super) fn finish(mut self) -> Seen {
        self.recording.store(false, Ordering::Relaxed);
        // SAFETY: kill(2) on our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = wait_for(Duration::from_secs(3), || {
            matches!(self.child.try_wait(), Ok(Some(_)))
        });
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(t) = self.reader.take() {
            let _ = t.join();
        }
        std::mem::take(&mut *self.seen.lock().unwrap())
    }
}

impl Drop for Observer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Trial {
    imp: Impl,
    n: usize,
    interval_ms: u64,
    cpu_master: Vec<f64>,
    cpu_backup: Vec<f64>,
    cpu_master_total: f64,
    cpu_backup_total: f64,
    /// The observer's monitor, % of a core (it shares the machine's cores).
    observer_cpu: f64,
    /// The switch's forwarding threads (threaded NAPI on its ports), % of one core.
    switch_cpu: f64,
    /// The whole machine, % of all cores: far above what the routers, the observer and
    /// softirq explain means other work shared the machine.
    machine_busy_pct: f64,
    p50_jitter_ms: Option<f64>,
    p99_jitter_ms: Option<f64>,
    max_gap_ms: f64,
    /// See [`Seen::delivered_pct`].
    delivered_pct: f64,
    /// Adverts the observer saw per advert owed (n / interval over the window), %.
    per_owed_pct: f64,
    master_wakeups_per_s: f64,
    backup_wakeups_per_s: f64,
    vrids_heard: usize,
    false_transitions: usize,
    transitions: Vec<String>,
    notes: Vec<String>,
    error: Option<String>,
}

impl Trial {
    fn json(&self) -> Value {
        json!({
            "implementation": self.imp.name(),
            "instances": self.n,
            "advert_interval_ms": self.interval_ms,
            "master_cpu_pct": self.cpu_master_total,
            "backup_cpu_pct": self.cpu_backup_total,
            "observer_cpu_pct": self.observer_cpu,
            "switch_cpu_pct": self.switch_cpu,
            "machine_busy_pct_of_all_cores": self.machine_busy_pct,
            "master_cpu_pct_per_second": self.cpu_master,
            "backup_cpu_pct_per_second": self.cpu_backup,
            "jitter_p50_ms": self.p50_jitter_ms,
            "jitter_p99_ms": self.p99_jitter_ms,
            "longest_inter_arrival_ms": self.max_gap_ms,
            "adverts_delivered_pct": self.delivered_pct,
            "adverts_seen_per_owed_over_window_pct": self.per_owed_pct,
            "master_wakeups_per_s": self.master_wakeups_per_s,
            "backup_wakeups_per_s": self.backup_wakeups_per_s,
            "vrids_heard": self.vrids_heard,
            "false_transitions": self.false_transitions,
            "transitions": self.transitions.iter().take(200).collect::<Vec<_>>(),
            "notes": self.notes,
            "error": self.error,
        })
    }
}

fn trial(
    cmd: &AgentCmd,
    imp: Impl,
    n: usize,
    interval_ms: u64,
    window: Duration,
    dir: &Path,
) -> Result<Trial> {
    let mut pair = Pair::start(
        "vxbsc-",
        cmd,
        imp,
        n,
        interval_ms,
        &[("o", "10.9.0.77/24")],
        dir,
    )?;
    // What the CPU figures are about is each daemon's own work: the switch forwards on
    // its own threads, counted apart (docs/bench.md).
    let switch = pair.lab.switch_on_own_threads()?;
    let obs = Observer::start(&pair.lab, cmd.bin, "o", "10.9.0.1", interval_ms, dir)?;
    // The observer is up once it prints adverts.
    if !wait_for(Duration::from_secs(5), || obs.lines() > n as u64) {
        bail!(
            "the observer printed no adverts (log in {})",
            dir.join("observer.log").display()
        );
    }
    std::thread::sleep(Duration::from_millis(500));
    let marks = pair.mark();
    obs.recording.store(true, Ordering::Relaxed);
    let mut pids = vec![pair.pid1(), pair.pid2(), obs.pid()];
    pids.extend(&switch);
    let mut cpu = CpuSampler::start(&pids);
    cpu.run_for(window, || {});
    let secs = cpu.elapsed().as_secs_f64();
    let machine = cpu.machine_pct();
    let mut seen = obs.finish();
    let changes = pair.changes_since(marks);
    let (moved, false_transitions) = (changes.lines(), changes.master_moves());
    let total = cpu.total_pct();
    let wakeups = cpu.wakeups_per_s();
    let owed = n as f64 * secs * 1000.0 / interval_ms as f64;
    let t = Trial {
        imp,
        n,
        interval_ms,
        cpu_master: cpu.samples[0].clone(),
        cpu_backup: cpu.samples[1].clone(),
        cpu_master_total: total[0],
        cpu_backup_total: total[1],
        observer_cpu: total[2],
        switch_cpu: total[3..].iter().sum(),
        machine_busy_pct: machine,
        p50_jitter_ms: quantile(&mut seen.jitter_ms, 0.5),
        p99_jitter_ms: quantile(&mut seen.jitter_ms, 0.99),
        max_gap_ms: seen.max_gap_ms,
        delivered_pct: seen.delivered_pct(n),
        per_owed_pct: seen.adverts as f64 / owed.max(1.0) * 100.0,
        master_wakeups_per_s: wakeups[0],
        backup_wakeups_per_s: wakeups[1],
        vrids_heard: seen.vrids,
        false_transitions,
        transitions: moved,
        notes: pair.notes.clone(),
        error: None,
    };
    pair.finish(dir)?;
    Ok(t)
}

pub fn run(cmd: &AgentCmd, opts: &Options, report: &mut Report) -> Result<()> {
    let base = report.dir("scale");
    println!(
        "bench scale: {:?} instances at {:?} ms adverts, {} s window; jitter from kernel \
         timestamps on a passive observer (vrrp-agent monitor); files in {}",
        opts.counts,
        opts.intervals_ms,
        opts.window.as_secs(),
        base.display()
    );
    let mut trials: Vec<Trial> = Vec::new();
    for &iv in &opts.intervals_ms {
        for &n in &opts.counts {
            for imp in Impl::BOTH {
                let dir = base.join(format!("{}/{iv}ms/{n}", imp.name()));
                std::fs::create_dir_all(&dir)?;
                let t = trial(cmd, imp, n, iv, opts.window, &dir).unwrap_or_else(|e| Trial {
                    imp,
                    n,
                    interval_ms: iv,
                    cpu_master: vec![],
                    cpu_backup: vec![],
                    cpu_master_total: f64::NAN,
                    cpu_backup_total: f64::NAN,
                    observer_cpu: f64::NAN,
                    switch_cpu: f64::NAN,
                    machine_busy_pct: f64::NAN,
                    p50_jitter_ms: None,
                    p99_jitter_ms: None,
                    max_gap_ms: f64::NAN,
                    delivered_pct: f64::NAN,
                    per_owed_pct: f64::NAN,
                    master_wakeups_per_s: f64::NAN,
                    backup_wakeups_per_s: f64::NAN,
                    vrids_heard: 0,
                    false_transitions: 0,
                    transitions: vec![],
                    notes: vec![],
                    error: Some(format!("{e:#}")),
                });
                match &t.error {
                    None => eprintln!(
                        "  {n:>3} x {iv:>3} ms {:<10}: CPU master {:>6.2}% backup {:>6.2}% \
                         (observer {:.1}%; switch {:.1}%; machine {:.0}% busy), wake-ups/s master \
                         {:.0} backup {:.0}, jitter p99 {} ms, adverts delivered {:.1}%, false \
                         transitions {}",
                        imp.name(),
                        t.cpu_master_total,
                        t.cpu_backup_total,
                        t.observer_cpu,
                        t.switch_cpu,
                        t.machine_busy_pct,
                        t.master_wakeups_per_s,
                        t.backup_wakeups_per_s,
                        t.p99_jitter_ms.map_or("-".into(), |j| format!("{j:.3}")),
                        t.delivered_pct,
                        t.false_transitions
                    ),
                    Some(e) => {
                        eprintln!("  {n:>3} x {iv:>3} ms {:<10}: FAILED: {e}", imp.name());
                        report.error("scale", &format!("{} {n} x {iv} ms: {e}", imp.name()));
                    }
                }
                trials.push(t);
            }
        }
    }
    for &iv in &opts.intervals_ms {
        for &n in &opts.counts {
            let get = |imp: Impl| {
                trials
                    .iter()
                    .find(|t| t.imp == imp && t.n == n && t.interval_ms == iv && t.error.is_none())
            };
            let (o, k) = (get(Impl::Agent), get(Impl::Keepalived));
            let v =
                |t: Option<&Trial>, f: &dyn Fn(&Trial) -> Vec<f64>| t.map(f).unwrap_or_default();
            let sc = format!("Scale {n} inst @{iv}ms");
            let goal = n == 255 && iv == 10;
            // The targets at 255 x 10 ms; jitter and delivery on every row.
            for (name, goal_pct, f) in [
                (
                    "master CPU % of a core (per s)",
                    5.0,
                    (&|t: &Trial| t.cpu_master.clone()) as &dyn Fn(&Trial) -> Vec<f64>,
                ),
                ("backup CPU % of a core (per s)", 2.0, &|t: &Trial| {
                    t.cpu_backup.clone()
                }),
            ] {
                report.add(
                    Metric::new(&sc, name)
                        .ours(v(o, f))
                        .keepalived(v(k, f))
                        .target_if(goal, Target::Below(goal_pct)),
                );
            }
            for (name, f) in [
                (
                    "master wake-ups/s",
                    (&|t: &Trial| vec![t.master_wakeups_per_s]) as &dyn Fn(&Trial) -> Vec<f64>,
                ),
                ("backup wake-ups/s", &|t: &Trial| {
                    vec![t.backup_wakeups_per_s]
                }),
            ] {
                report.add(Metric::new(&sc, name).ours(v(o, f)).keepalived(v(k, f)));
            }
            let p99 = |t: &Trial| t.p99_jitter_ms.into_iter().collect();
            report.add(
                Metric::new(&sc, "advert jitter p99 on the wire (ms)")
                    .ours(v(o, &p99))
                    .keepalived(v(k, &p99))
                    .target(Target::NoWorseThanKeepalived),
            );
            report.add(
                Metric::new(&sc, "adverts delivered (%)")
                    .ours(v(o, &|t| vec![t.delivered_pct]))
                    .keepalived(v(k, &|t| vec![t.delivered_pct]))
                    .higher_is_better()
                    .target(Target::AtLeast(100.0)),
            );
            report.add(
                Metric::new(
                    &sc,
                    &format!("false transitions in {} s", opts.window.as_secs()),
                )
                .ours(v(o, &|t| vec![t.false_transitions as f64]))
                .keepalived(v(k, &|t| vec![t.false_transitions as f64])),
            );
        }
    }
    report.note(WAKEUPS_LEGEND.into());
    plots(opts, &trials, report);
    report.scenario_json(
        "scale",
        json!({
            "window_seconds": opts.window.as_secs(),
            "observer": "vrrp-agent monitor --json on a third host; ts_ns is the XDP program's \
                         kernel arrival time; jitter = |inter-arrival - advert interval| per VRID, \
                         pooled over every instance; only r1's adverts (priority > 0)",
            "cpu": "process trees (keepalived: parent and VRRP child), schedstat, per second",
            "wakeups": WAKEUPS_LEGEND,
            "delivered": "adverts seen / (seen + missing between arrivals), times the share of \
                          instances heard",
            "trials": trials.iter().map(Trial::json).collect::<Vec<_>>(),
        }),
    );
    Ok(())
}

fn plots(opts: &Options, trials: &[Trial], report: &mut Report) {
    for &iv in &opts.intervals_ms {
        let line = |imp: Impl, name: &str, dashed: bool, f: fn(&Trial) -> f64| Series {
            name: format!("{} {name}", imp.name()),
            color: if imp == Impl::Agent { OURS } else { THEIRS },
            dashed,
            points: trials
                .iter()
                .filter(|t| t.imp == imp && t.interval_ms == iv && t.error.is_none())
                .map(|t| (t.n as f64, f(t)))
                .collect(),
        };
        let mut series = Vec::new();
        for imp in Impl::BOTH {
            series.push(line(imp, "master", false, |t| t.cpu_master_total));
            series.push(line(imp, "backup", true, |t| t.cpu_backup_total));
        }
        report.plot(Plot::Lines {
            title: format!("CPU vs instances, {iv} ms adverts"),
            x_label: "instances (log scale)".into(),
            y_label: "% of one core".into(),
            log_x: true,
            series,
            refs: if iv == 10 {
                vec![
                    (5.0, "target at 255: master < 5 %".into()),
                    (2.0, "backup < 2 %".into()),
                ]
            } else {
                vec![]
            },
        });
    }
    let mut series = Vec::new();
    for &iv in &opts.intervals_ms {
        for imp in Impl::BOTH {
            series.push(Series {
                name: format!("{} {iv} ms", imp.name()),
                color: if imp == Impl::Agent { OURS } else { THEIRS },
                dashed: iv != 10,
                points: trials
                    .iter()
                    .filter(|t| t.imp == imp && t.interval_ms == iv)
                    .filter_map(|t| t.p99_jitter_ms.map(|j| (t.n as f64, j)))
                    .collect(),
            });
        }
    }
    report.plot(Plot::Lines {
        title: "Advert inter-arrival jitter p99 at the observer".into(),
        x_label: "instances (log scale)".into(),
        y_label: "ms".into(),
        log_x: true,
        series,
        refs: vec![],
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivery_counts_the_adverts_missing_between_arrivals_and_unheard_instances() {
        let seen = |adverts, missed, vrids| Seen {
            adverts,
            missed,
            vrids,
            ..Seen::default()
        };
        assert_eq!(seen(1000, 0, 10).delivered_pct(10), 100.0);
        assert_eq!(seen(990, 10, 10).delivered_pct(10), 99.0);
        // Five of ten instances never heard: half of what was owed.
        assert_eq!(seen(1000, 0, 5).delivered_pct(10), 50.0);
        assert_eq!(seen(0, 0, 0).delivered_pct(1), 0.0);
    }

    #[test]
    fn a_gap_of_k_intervals_misses_k_minus_one_adverts() {
        for (gap, missing) in [
            (10.0, 0),
            (14.9, 0),
            (0.5, 0),
            (15.1, 1),
            (20.2, 1),
            (41.0, 3),
        ] {
            assert_eq!(missing_between(gap, 10.0), missing, "gap {gap} ms");
        }
    }
}

//! `bench stall`: the backup's process stops (SIGSTOP to its whole process tree) for
//! 2 × Master_Down_Interval and resumes (SIGCONT) while the master keeps advertising, at
//! 10 ms and 100 ms adverts. The master never went away, so any takeover by the backup is
//! one that should not have happened: RFC timers measured by a stalled process's clock
//! see a silent master, the adverts' kernel arrival times say otherwise.
//!
//! One lab per (implementation, interval); the stall repeats (5 times, 3 with --quick),
//! each after the pair is back to r1 master and r2 backup. Counted per stall: r2's moves
//! into MASTER from the stop until 1 s (at least 5 × Master_Down) after the resume.

use std::path::Path;
use std::time::Duration;

use anyhow::Result;
use serde_json::{json, Value};
use vrrpx_tests::netns::wait_for;

use super::common::{process_tree, signal_tree, AgentCmd, Impl, Pair};
use super::results::{Metric, Report, Target};

pub struct Options {
    pub intervals_ms: Vec<u64>,
    pub stalls: usize,
}

impl Options {
    pub fn new(quick: bool) -> Options {
        Options {
            intervals_ms: vec![10, 100],
            stalls: if quick { 3 } else { 5 },
        }
    }
}

struct Stall {
    /// r2 entering MASTER.
    takeovers: usize,
    /// Every move into or out of MASTER on either router.
    moves: usize,
    transitions: Vec<String>,
    /// Whether the pair was back to r1 master, r2 backup before the next stall.
    recovered: bool,
    /// Whether every process of the backup was seen stopped at the end of the stall.
    stopped: bool,
    processes: usize,
}

/// Whether process `pid` is stopped (state T in /proc/PID/stat).
fn is_stopped(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .and_then(|(_, r)| r.split_whitespace().next().map(|x| x == "T"))
        })
        .unwrap_or(false)
}

struct Run {
    imp: Impl,
    interval_ms: u64,
    stalls: Vec<Stall>,
    error: Option<String>,
    notes: Vec<String>,
}

fn one_lab(cmd: &AgentCmd, imp: Impl, interval_ms: u64, n: usize, dir: &Path) -> Run {
    let mut run = Run {
        imp,
        interval_ms,
        stalls: Vec::new(),
        error: None,
        notes: Vec::new(),
    };
    let mut pair = match Pair::start("vxbst-", cmd, imp, 1, interval_ms, &[], dir) {
        Ok(p) => p,
        Err(e) => {
            run.error = Some(format!("{e:#}"));
            return run;
        }
    };
    run.notes = pair.notes.clone();
    let mdi = pair.mdi();
    let watch = (5 * mdi).max(Duration::from_secs(1));
    for _ in 0..n {
        let marks = pair.mark();
        let tree = process_tree(pair.pid2());
        signal_tree(&tree, libc::SIGSTOP);
        std::thread::sleep(2 * mdi);
        let stopped = tree.iter().all(|&p| is_stopped(p));
        signal_tree(&tree, libc::SIGCONT);
        std::thread::sleep(watch);
        let changes = pair.changes_since(marks);
        let (takeovers, moves, transitions) = (
            changes.backup_takeovers(),
            changes.master_moves(),
            changes.lines(),
        );
        // Back to r1 master and r2 backup (r1's higher priority preempts) before the next.
        let recovered = wait_for(Duration::from_secs(5), || {
            pair.vips_on("r1") == 1 && pair.vips_on("r2") == 0
        });
        std::thread::sleep((3 * mdi).max(Duration::from_millis(300)));
        run.stalls.push(Stall {
            takeovers,
            moves,
            transitions,
            recovered,
            stopped,
            processes: tree.len(),
        });
    }
    if let Err(e) = pair.finish(dir) {
        run.error = Some(format!("stopping: {e:#}"));
    }
    run
}

impl Run {
    fn json(&self) -> Value {
        json!({
            "implementation": self.imp.name(),
            "advert_interval_ms": self.interval_ms,
            "error": self.error,
            "notes": self.notes,
            "stalls": self.stalls.iter().map(|s| json!({
                "false_takeovers": s.takeovers,
                "moves_into_or_out_of_master": s.moves,
                "transitions": s.transitions,
                "recovered_before_next": s.recovered,
                "backup_processes_stopped": s.stopped,
                "backup_processes": s.processes,
            })).collect::<Vec<_>>(),
        })
    }
}

pub fn run(cmd: &AgentCmd, opts: &Options, report: &mut Report) -> Result<()> {
    let base = report.dir("stall");
    println!(
        "bench stall: SIGSTOP the backup for 2 x Master_Down_Interval, then SIGCONT, while the \
         master advertises; {} stall(s) per interval {:?} ms; files in {}",
        opts.stalls,
        opts.intervals_ms,
        base.display()
    );
    let mut runs = Vec::new();
    for &iv in &opts.intervals_ms {
        for imp in Impl::BOTH {
            let dir = base.join(format!("{}/{iv}ms", imp.name()));
            std::fs::create_dir_all(&dir)?;
            let r = one_lab(cmd, imp, iv, opts.stalls, &dir);
            report.trial_line(
                &format!(
                    "  {iv:>4} ms {:<10}: false takeovers per stall {:?} ({} process(es) stopped \
                     each time: {})",
                    imp.name(),
                    r.stalls.iter().map(|s| s.takeovers).collect::<Vec<_>>(),
                    r.stalls.first().map_or(0, |s| s.processes),
                    r.stalls.iter().all(|s| s.stopped),
                ),
                &format!("{} {iv} ms", imp.name()),
                r.error.as_deref(),
            );
            runs.push(r);
        }
    }
    let mut bars = Vec::new();
    for &iv in &opts.intervals_ms {
        let per = |imp: Impl, f: fn(&Stall) -> usize| -> Vec<f64> {
            runs.iter()
                .filter(|r| r.imp == imp && r.interval_ms == iv)
                .flat_map(|r| r.stalls.iter().map(move |s| f(s) as f64))
                .collect()
        };
        let sc = format!("Stall 2xMaster_Down @{iv}ms");
        let (o, k) = (
            per(Impl::Agent, |s| s.takeovers),
            per(Impl::Keepalived, |s| s.takeovers),
        );
        bars.push((format!("stall @{iv}ms"), o.iter().sum(), k.iter().sum()));
        report.add(
            Metric::new(&sc, "false takeovers per stall")
                .ours(o)
                .keepalived(k)
                .target(Target::Zero),
        );
        report.add(
            Metric::new(&sc, "moves into/out of MASTER per stall")
                .ours(per(Impl::Agent, |s| s.moves))
                .keepalived(per(Impl::Keepalived, |s| s.moves)),
        );
    }
    report.add_bars(bars);
    report.scenario_json(
        "stall",
        json!({
            "stall": "SIGSTOP to the backup's process tree for 2 x Master_Down_Interval, then SIGCONT; \
                      counted from the stop until max(1 s, 5 x Master_Down) after the resume",
            "runs": runs.iter().map(Run::json).collect::<Vec<_>>(),
        }),
    );
    Ok(())
}

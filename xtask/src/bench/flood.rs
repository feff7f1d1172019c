//! `bench flood`: the segment flooded with junk VRRP from a fourth host while r1 (master)
//! and r2 (backup) run VRID 51 at 100 ms adverts, vrrp-agent against keepalived on the
//! same keepalived.conf. The junk comes from the flooder's own MAC and address (never the
//! virtual MAC): an unknown VRID, the right VRID with a bad TTL, a bad checksum, and a
//! valid-looking advert of a lower priority (all four round robin, or one kind alone), at
//! 100 kframes/s (`trafgen -b`) and at the generator's maximum (one CPU); the real rate
//! comes from the flooder's transmit counter.
//!
//! Each trial is a failover-bench link-cut trial with the flood around its event: once r1
//! is master, r2 backup and the client probing, the flood starts; after a second's
//! ramp-up, the measured window (30 s, 10 s with --quick): the CPU (process trees, per
//! second) and wake-ups of r2 and r1, the adverts r1 sends per second (tcpdump on r1's
//! own link, outgoing only and from r1's address: the flood is never counted), and every
//! transition into or out of MASTER on either router. Then, with
//! the flood still on, r1's link is cut, and the client's outage is measured as in
//! `bench failover`.

use std::time::Duration;

use anyhow::Result;
use serde_json::{json, Value};
use vrrpx_tests::frames::{Advert, Csum};
use vrrpx_tests::netns::Lab;

use super::common::{
    link_packets, mac_of, shrink_log, AgentCmd, Changes, CpuSampler, Daemon, Impl, LogWatch,
    SentAdverts, Trafgen, WAKEUPS_LEGEND,
};
use super::failover::{self, master_down_ns, Around, Scenario};
use super::results::{Metric, Report, Target};
use super::svg::Plot;

#[derive(Clone, Copy, PartialEq, Eq, Debug, clap::ValueEnum)]
pub enum Junk {
    /// The four kinds below, round robin.
    Mix,
    /// VRID 7, which no router runs.
    UnknownVrid,
    /// VRID 51 with TTL 64.
    BadTtl,
    /// VRID 51 with a checksum off by one.
    BadChecksum,
    /// VRID 51, valid in every check, priority 50 (below both routers').
    LowerPriority,
}

impl Junk {
    fn slug(self) -> &'static str {
        match self {
            Junk::Mix => "mix",
            Junk::UnknownVrid => "unknown-vrid",
            Junk::BadTtl => "bad-ttl",
            Junk::BadChecksum => "bad-checksum",
            Junk::LowerPriority => "lower-priority",
        }
    }

    /// The frames, from the flooder's MAC and address.
    fn frames(self, mac: [u8; 6], interval_ms: u64) -> Vec<Vec<u8>> {
        let base = Advert {
            src_mac: mac,
            src: "10.9.0.66".parse().unwrap(),
            priority: 254,
            interval: (interval_ms / 10) as u16,
            ..Advert::v3_ipv4()
        };
        let one = |j: Junk| match j {
            Junk::UnknownVrid => Advert {
                vrid: 7,
                ..base.clone()
            },
            Junk::BadTtl => Advert {
                ttl: 64,
                ..base.clone()
            },
            Junk::BadChecksum => Advert {
                csum: Csum::Bad,
                ..base.clone()
            },
            // Valid in every check; priority 50 is below both routers'.
            Junk::LowerPriority | Junk::Mix => Advert {
                priority: 50,
                ..base.clone()
            },
        };
        match self {
            Junk::Mix => [
                Junk::UnknownVrid,
                Junk::BadTtl,
                Junk::BadChecksum,
                Junk::LowerPriority,
            ]
            .iter()
            .map(|&j| one(j).build())
            .collect(),
            j => vec![one(j).build()],
        }
    }
}

/// One flood configuration.
#[derive(Clone, Copy)]
pub struct Config {
    pub junk: Junk,
    /// frames/s, or `None` for the generator's maximum.
    pub rate: Option<u64>,
}

impl Config {
    fn label(&self) -> String {
        let rate = match self.rate {
            Some(r) => format!("{}k/s", r / 1000),
            None => "max".into(),
        };
        format!("{} @{rate}", self.junk.slug())
    }
}

pub struct Options {
    pub configs: Vec<Config>,
    pub window: Duration,
    pub trials: usize,
    pub interval_ms: u64,
}

impl Options {
    /// Only these kinds of junk, each at 100 kframes/s and at the maximum.
    pub fn only(&mut self, kinds: &[Junk]) {
        if kinds.is_empty() {
            return;
        }
        self.configs = kinds
            .iter()
            .flat_map(|&junk| {
                [Some(100_000), None]
                    .into_iter()
                    .map(move |rate| Config { junk, rate })
            })
            .collect();
    }

    pub fn new(quick: bool) -> Options {
        // --quick: the mix and the lower-priority flood, both at the maximum.
        let mut configs = vec![
            Config {
                junk: Junk::Mix,
                rate: None,
            },
            Config {
                junk: Junk::LowerPriority,
                rate: None,
            },
        ];
        if !quick {
            configs.insert(
                0,
                Config {
                    junk: Junk::Mix,
                    rate: Some(100_000),
                },
            );
            for junk in [Junk::UnknownVrid, Junk::BadTtl, Junk::BadChecksum] {
                configs.push(Config { junk, rate: None });
            }
        }
        Options {
            configs,
            window: Duration::from_secs(if quick { 10 } else { 30 }),
            trials: if quick { 1 } else { 2 },
            interval_ms: 100,
        }
    }
}

/// What one trial's flood window measured.
#[derive(Default, Clone)]
struct Window {
    sent_pps: f64,
    /// Frames/s arriving at r2.
    r2_rx_pps: f64,
    /// r2's CPU per second, % of a core.
    backup_cpu: Vec<f64>,
    backup_cpu_total: f64,
    master_cpu_total: f64,
    /// Over the window, each daemon's process tree (see `WAKEUPS_LEGEND`).
    master_wakeups_per_s: f64,
    backup_wakeups_per_s: f64,
    /// Adverts r1 sent per second, counted on its own link; `None` if tcpdump failed.
    master_adverts_per_s: Option<f64>,
    false_transitions: usize,
    transitions: Vec<String>,
    /// Log growth during the window, bytes.
    log_bytes: [u64; 2],
    /// The whole machine, % of all cores.
    machine_busy_pct: f64,
}

struct Flood {
    imp: Impl,
    cfg: Config,
    window: Duration,
    interval_ms: u64,
    dir: std::path::PathBuf,
    gen: Option<Trafgen>,
    out: Option<Window>,
    /// The logs, and where the window ended in them, to read what came after.
    logs: Option<(LogWatch, LogWatch, usize, usize)>,
}

impl Flood {
    /// Every transition after the window until the daemons stopped (the cut's takeover,
    /// a split brain that stopped the trial before the cut, the stop itself).
    fn after_window(&mut self) -> Vec<String> {
        let Some((w1, w2, e1, e2)) = &mut self.logs else {
            return Vec::new();
        };
        w1.poll();
        w2.poll();
        Changes::since(w1, w2, (*e1, *e2)).lines()
    }
}

impl Around for Flood {
    fn hosts(&mut self, lab: &mut Lab) -> Result<()> {
        lab.host("f", "eth0", &["10.9.0.66/24"])
    }

    fn before_event(&mut self, lab: &mut Lab, d1: &Daemon, d2: &Daemon) -> Result<()> {
        let frames = self.cfg.junk.frames(mac_of(lab, "f")?, self.interval_ms);
        // Long enough for the ramp-up, the window and the cut; stopped after the cut.
        let mdi = Duration::from_nanos(master_down_ns(self.interval_ms));
        let total = self.window + mdi + Duration::from_secs(20);
        let gen = Trafgen::start(lab, "f", &frames, self.cfg.rate, total, &self.dir, "flood")?;
        std::thread::sleep(Duration::from_secs(1));
        let mut w1 = LogWatch::new(self.imp, &d1.log);
        let mut w2 = LogWatch::new(self.imp, &d2.log);
        let marks = (w1.poll(), w2.poll());
        let (b1, b2) = (w1.bytes(), w2.bytes());
        let (sent0, t0) = gen.sent(lab);
        let rx0 = link_packets(lab, "r2", "eth0", "rx")?;
        let sent_adverts = SentAdverts::start(
            lab,
            "r1",
            "10.9.0.1",
            self.window + Duration::from_secs(10),
            &self.dir,
        );
        let mut cpu = CpuSampler::start(&[lab.pid(d2.idx), lab.pid(d1.idx)]);
        cpu.run_for(self.window, || {});
        let master_adverts_per_s = match sent_adverts.and_then(|a| a.per_second(lab)) {
            Ok(n) => Some(n),
            Err(e) => {
                eprintln!("  r1's adverts not counted: {e:#}");
                None
            }
        };
        let (sent1, t1) = gen.sent(lab);
        let rx1 = link_packets(lab, "r2", "eth0", "rx")?;
        w1.poll();
        w2.poll();
        let secs = (t1 - t0).as_secs_f64();
        let changes = Changes::since(&w1, &w2, marks);
        let total_pct = cpu.total_pct();
        let wakeups = cpu.wakeups_per_s();
        let machine = cpu.machine_pct();
        self.out = Some(Window {
            sent_pps: (sent1 - sent0) as f64 / secs,
            r2_rx_pps: (rx1 - rx0) as f64 / cpu.elapsed().as_secs_f64().max(1e-3),
            backup_cpu: cpu.samples[0].clone(),
            backup_cpu_total: total_pct[0],
            master_cpu_total: total_pct[1],
            master_wakeups_per_s: wakeups[1],
            backup_wakeups_per_s: wakeups[0],
            master_adverts_per_s,
            false_transitions: changes.master_moves(),
            transitions: changes.lines(),
            log_bytes: [w1.bytes() - b1, w2.bytes() - b2],
            machine_busy_pct: machine,
        });
        let (e1, e2) = (w1.all.len(), w2.all.len());
        self.logs = Some((w1, w2, e1, e2));
        self.gen = Some(gen);
        Ok(())
    }

    fn after_event(&mut self, lab: &mut Lab) -> Result<()> {
        if let Some(g) = self.gen.take() {
            g.stop(lab)?;
        }
        Ok(())
    }

    fn duration(&self) -> Duration {
        self.window + Duration::from_secs(2)
    }
}

struct TrialResult {
    imp: Impl,
    cfg: usize,
    index: usize,
    window: Option<Window>,
    outage_ms: Option<f64>,
    cut_false_transitions: Option<usize>,
    error: Option<String>,
    /// Transitions after the window until the daemons stopped.
    after_window: Vec<String>,
    big_logs: Vec<(String, u64)>,
}

impl TrialResult {
    fn json(&self, cfgs: &[Config]) -> Value {
        json!({
            "implementation": self.imp.name(),
            "flood": cfgs[self.cfg].label(),
            "trial": self.index,
            "window": self.window.as_ref().map(|w| json!({
                "generator_fps": w.sent_pps,
                "r2_received_fps": w.r2_rx_pps,
                "backup_cpu_pct_per_second": w.backup_cpu,
                "backup_cpu_pct": w.backup_cpu_total,
                "master_cpu_pct": w.master_cpu_total,
                "master_wakeups_per_s": w.master_wakeups_per_s,
                "backup_wakeups_per_s": w.backup_wakeups_per_s,
                "master_adverts_sent_per_s": w.master_adverts_per_s,
                "false_transitions": w.false_transitions,
                "transitions": w.transitions,
                "log_bytes_r1_r2": w.log_bytes,
                "machine_busy_pct_of_all_cores": w.machine_busy_pct,
            })),
            "link_cut_outage_ms": self.outage_ms,
            // As `bench failover` counts them: from the start-up to the end of the watch
            // after the cut, so the window's are in it too.
            "false_transitions_whole_trial": self.cut_false_transitions,
            "error": self.error,
            "transitions_after_window_until_stop": self.after_window,
            "logs_cut_down": self.big_logs.iter().map(|(p, n)| json!({"log": p, "bytes": n})).collect::<Vec<_>>(),
        })
    }
}

pub fn run(cmd: &AgentCmd, opts: &Options, report: &mut Report) -> Result<()> {
    let base = report.dir("flood");
    println!(
        "bench flood: junk VRRP from a fourth host at 100 kframes/s and at trafgen's maximum \
         (one CPU), VRID 51 at {} ms adverts; {} s window then a link cut under the flood; \
         {} trial(s) per flood; files in {}",
        opts.interval_ms,
        opts.window.as_secs(),
        opts.trials,
        base.display()
    );
    let mut results: Vec<TrialResult> = Vec::new();
    for (ci, cfg) in opts.configs.iter().enumerate() {
        for index in 0..opts.trials {
            for imp in Impl::BOTH {
                let dir = base.join(format!(
                    "{}/{}/trial-{index}",
                    imp.name(),
                    cfg.label().replace([' ', '@', '/'], "_")
                ));
                std::fs::create_dir_all(&dir)?;
                let mut around = Flood {
                    imp,
                    cfg: *cfg,
                    window: opts.window,
                    interval_ms: opts.interval_ms,
                    dir: dir.clone(),
                    gen: None,
                    out: None,
                    logs: None,
                };
                let r = failover::trial(
                    cmd,
                    imp,
                    Scenario::LinkCut,
                    opts.interval_ms,
                    &dir,
                    Some(&mut around),
                );
                let after_window = around.after_window();
                // Keep counts, not hundreds of MB of per-packet log lines.
                let mut big_logs = Vec::new();
                for e in std::fs::read_dir(&dir)?.flatten() {
                    let p = e.path();
                    let ext = p.extension().and_then(|x| x.to_str()).unwrap_or("");
                    if matches!(ext, "log" | "err" | "out") {
                        if let Ok(Some(n)) = shrink_log(&p, 8 << 20) {
                            big_logs.push((p.display().to_string(), n));
                        }
                    }
                }
                let w = around.out.clone();
                let tr = TrialResult {
                    imp,
                    cfg: ci,
                    index,
                    window: w.clone(),
                    outage_ms: r.as_ref().ok().map(|m| m.outage_ms),
                    cut_false_transitions: r.as_ref().ok().map(|m| m.false_transitions),
                    error: r.as_ref().err().map(|e| format!("{e:#}")),
                    after_window,
                    big_logs,
                };
                match &w {
                    Some(w) => eprintln!(
                        "  {:<22} {:<10} #{index}: {:>6.0} kf/s sent, {:>6.0} kf/s at r2, backup CPU \
                         {:>6.2}%, master CPU {:>6.2}% (machine {:.0}% busy), wake-ups/s master \
                         {:.0} backup {:.0}, master adverts {}/s, false transitions {}; link cut: {}",
                        cfg.label(),
                        imp.name(),
                        w.sent_pps / 1e3,
                        w.r2_rx_pps / 1e3,
                        w.backup_cpu_total,
                        w.master_cpu_total,
                        w.machine_busy_pct,
                        w.master_wakeups_per_s,
                        w.backup_wakeups_per_s,
                        w.master_adverts_per_s.map_or("-".into(), |n| format!("{n:.1}")),
                        w.false_transitions,
                        match (&tr.outage_ms, &tr.error) {
                            (Some(o), _) => format!("outage {o:.1} ms"),
                            (_, Some(e)) => format!("not measured: {e}"),
                            _ => "-".into(),
                        }
                    ),
                    None => eprintln!(
                        "  {:<22} {:<10} #{index}: FAILED before the flood: {}",
                        cfg.label(),
                        imp.name(),
                        tr.error.as_deref().unwrap_or("?")
                    ),
                }
                results.push(tr);
            }
        }
    }
    rows(opts, &results, report);
    let raw = json!({
        "advert_interval_ms": opts.interval_ms,
        "window_seconds": opts.window.as_secs(),
        "rfc_floor_link_cut_ms": master_down_ns(opts.interval_ms) as f64 / 1e6,
        "junk": "from 10.9.0.66 and the flooder's own MAC: unknown VRID 7 (priority 254); \
                 VRID 51 with TTL 64 (priority 254); VRID 51 with a bad checksum (priority \
                 254); VRID 51 valid, priority 50. 'mix' sends the four round robin",
        "backup_cpu": "r2's process tree (keepalived: parent and VRRP child), \
                       /proc/PID/task/*/schedstat, per second",
        "false_transitions": "transitions into or out of MASTER on either router during the window",
        "trials": results.iter().map(|t| t.json(&opts.configs)).collect::<Vec<_>>(),
    });
    report.scenario_json("flood", raw);
    Ok(())
}

fn rows(opts: &Options, results: &[TrialResult], report: &mut Report) {
    let secs = opts.window.as_secs();
    let mut outages = Vec::new();
    let mut falses = Vec::new();
    for (ci, cfg) in opts.configs.iter().enumerate() {
        let of = |imp: Impl| results.iter().filter(move |t| t.imp == imp && t.cfg == ci);
        let win = |imp: Impl, f: &dyn Fn(&Window) -> Vec<f64>| -> Vec<f64> {
            of(imp)
                .filter_map(|t| t.window.as_ref())
                .flat_map(f)
                .collect()
        };
        let max = cfg.rate.is_none();
        let sc = format!("Flood {}", cfg.label());
        let both =
            |f: &dyn Fn(&Window) -> Vec<f64>| (win(Impl::Agent, f), win(Impl::Keepalived, f));
        let (o, k) = both(&|w| vec![w.sent_pps / 1e3]);
        report.add(
            Metric::new(&sc, "generator rate (kframes/s)")
                .ours(o)
                .keepalived(k)
                .info(),
        );
        // The flood: valid adverts of a lower priority at the generator's maximum.
        let lower_max = max && cfg.junk == Junk::LowerPriority;
        let (o, k) = both(&|w| w.backup_cpu.clone());
        report.add(
            Metric::new(&sc, "backup CPU % of a core (per s)")
                .ours(o)
                .keepalived(k)
                .target_if(max, Target::Below(5.0)),
        );
        let (o, k) = both(&|w| vec![w.master_cpu_total]);
        report.add(
            Metric::new(&sc, "master CPU % of a core")
                .ours(o)
                .keepalived(k)
                .target_if(lower_max, Target::Below(5.0)),
        );
        let (o, k) = both(&|w| w.master_adverts_per_s.into_iter().collect());
        let configured = 1000.0 / opts.interval_ms as f64;
        report.add(
            Metric::new(&sc, "adverts sent by the master per s")
                .ours(o)
                .keepalived(k)
                .target_if(lower_max, Target::AtMost(2.0 * configured)),
        );
        for (name, f) in [
            (
                "master wake-ups/s",
                (&|w: &Window| vec![w.master_wakeups_per_s]) as &dyn Fn(&Window) -> Vec<f64>,
            ),
            ("backup wake-ups/s", &|w: &Window| {
                vec![w.backup_wakeups_per_s]
            }),
        ] {
            let (o, k) = both(f);
            report.add(Metric::new(&sc, name).ours(o).keepalived(k));
        }
        let (o, k) = both(&|w| vec![w.false_transitions as f64]);
        falses.push((
            format!("flood {}", cfg.label()),
            o.iter().sum(),
            k.iter().sum(),
        ));
        report.add(
            Metric::new(&sc, &format!("false transitions in {secs} s"))
                .ours(o)
                .keepalived(k)
                .target_if(max, Target::Zero),
        );
        let cut = |imp: Impl| -> Vec<f64> { of(imp).filter_map(|t| t.outage_ms).collect() };
        let (o, k) = (cut(Impl::Agent), cut(Impl::Keepalived));
        let failed = |imp: Impl| of(imp).filter(|t| t.outage_ms.is_none()).count();
        let (fo, fk) = (failed(Impl::Agent), failed(Impl::Keepalived));
        let mut m = Metric::new(&sc, "link-cut outage under flood (ms)")
            .ours(o.clone())
            .keepalived(k.clone());
        if fo + fk > 0 {
            m = m.note(&format!(
                "not measured in {fo} of our trials and {fk} of keepalived's (see errors in flood.json: \
                 e.g. two masters before the cut)"
            ));
        }
        report.add(m);
        outages.push((cfg.label(), o, k));
    }
    report.note(WAKEUPS_LEGEND.into());
    report.note(format!(
        "Flood: adverts sent by the master are counted on r1's own link (tcpdump, outgoing, \
         from r1's address: none of the flood's frames); configured {:.0}/s",
        1000.0 / opts.interval_ms as f64
    ));
    report.note(format!(
        "Flood: RFC floor of the link-cut outage at {} ms adverts is Master_Down_Interval = {:.1} ms \
         after r1's last advert (the cut falls anywhere between adverts)",
        opts.interval_ms,
        master_down_ns(opts.interval_ms) as f64 / 1e6
    ));
    report.plot(Plot::Dots {
        title: format!(
            "Link cut under junk flood: outage per trial ({} ms adverts)",
            opts.interval_ms
        ),
        y_label: "outage, ms".into(),
        groups: outages,
        refs: vec![(
            master_down_ns(opts.interval_ms) as f64 / 1e6,
            "Master_Down_Interval".into(),
        )],
    });
    report.add_bars(falses);
}

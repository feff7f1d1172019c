//! `bench xdp`: a trafgen flood of junk VRRP at the generator's maximum rate against one
//! receiver on a veth: `vrrp-agent monitor` with the XDP filter, the same on the
//! raw-socket path, and keepalived (a backup of VRID 51). Frames rejected per second, the
//! receiver's CPU, and the rejection rate per core: frames rejected per CPU-second spent
//! on them, where the XDP program's own run time comes from the kernel's BPF statistics
//! (`kernel.bpf_stats_enabled`, on for the flood only).

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use vrrpx_tests::frames::Advert;
use vrrpx_tests::netns::{wait_for, Lab};

use super::common::{
    conf, instances, link_packets, mac_of, shrink_log, softirq_ns, start_daemon, tree_cpu_ns,
    AgentCmd, Impl, Trafgen,
};
use super::results::{Metric, Report};
use crate::agent_cli;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum RxPath {
    Xdp,
    RawSocket,
    Keepalived,
}

impl RxPath {
    fn name(self) -> &'static str {
        match self {
            RxPath::Xdp => "xdp",
            RxPath::RawSocket => "raw-socket",
            RxPath::Keepalived => "keepalived",
        }
    }
}

pub struct Figures {
    pub path: RxPath,
    pub sent_pps: f64,
    pub received_pps: f64,
    pub rejected_pps: f64,
    /// The receiving process (all threads, and children), % of a core.
    pub cpu_pct: f64,
    /// The XDP program's own run time, % of a core (XDP path only).
    pub prog_cpu_pct: Option<f64>,
    /// Softirq time of the whole machine (where XDP, the bridge and the veths run).
    pub softirq_cpu_pct: f64,
    /// Frames rejected per CPU-second of process plus program time.
    pub per_core: f64,
    /// XDP program run time per frame, ns.
    pub prog_ns_per_frame: Option<f64>,
}

impl Figures {
    pub fn json(&self) -> Value {
        json!({
            "path": self.path.name(),
            "sent_pps": self.sent_pps,
            "received_pps": self.received_pps,
            "rejected_pps": self.rejected_pps,
            "process_cpu_pct": self.cpu_pct,
            "xdp_program_cpu_pct": self.prog_cpu_pct,
            "xdp_program_ns_per_frame": self.prog_ns_per_frame,
            "machine_softirq_cpu_pct": self.softirq_cpu_pct,
            "rejected_per_cpu_second": self.per_core,
        })
    }
}

/// Turns `kernel.bpf_stats_enabled` on and restores it when dropped.
struct BpfStats {
    old: Option<String>,
}

const BPF_STATS: &str = "/proc/sys/kernel/bpf_stats_enabled";

impl BpfStats {
    fn enable() -> BpfStats {
        let old = std::fs::read_to_string(BPF_STATS).ok();
        let _ = std::fs::write(BPF_STATS, "1");
        BpfStats { old }
    }
}

impl Drop for BpfStats {
    fn drop(&mut self) {
        if let Some(old) = &self.old {
            let _ = std::fs::write(BPF_STATS, old.trim());
        }
    }
}

/// (run_time_ns, run_cnt) summed over the XDP programs process `pid` holds open.
fn xdp_prog_stats(pid: u32) -> Option<(u64, u64)> {
    let mut found = None;
    for e in std::fs::read_dir(format!("/proc/{pid}/fdinfo"))
        .ok()?
        .flatten()
    {
        let Ok(info) = std::fs::read_to_string(e.path()) else {
            continue;
        };
        let field = |k: &str| {
            info.lines()
                .find_map(|l| l.strip_prefix(k))
                .and_then(|v| v.trim().parse::<u64>().ok())
        };
        // BPF_PROG_TYPE_XDP is 6.
        if field("prog_type:") != Some(6) {
            continue;
        }
        let (t, n) = found.unwrap_or((0, 0));
        found = Some((
            t + field("run_time_ns:").unwrap_or(0),
            n + field("run_cnt:").unwrap_or(0),
        ));
    }
    found
}

/// Drops counted on the raw IPv4 sockets of host `h` (the last column of /proc/net/raw).
fn raw_socket_drops(lab: &Lab, h: &str) -> u64 {
    lab.exec(h, &["cat", "/proc/net/raw"])
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .skip(1)
                .filter_map(|l| l.split_whitespace().last()?.parse::<u64>().ok())
                .sum()
        })
        .unwrap_or(0)
}

fn junk(mac: [u8; 6]) -> Result<Vec<Vec<u8>>> {
    let base = Advert {
        src_mac: mac,
        src: "10.78.0.66".parse()?,
        priority: 254,
        ..Advert::v3_ipv4()
    };
    // A bad TTL, a bad checksum and a wrong type, all for the monitored VRID: another VRID
    // would be passed on as foreign, not rejected.
    let mut frames = base.junk(base.vrid);
    frames.truncate(2);
    frames.push(
        Advert {
            vtype: 3,
            ..base.clone()
        }
        .build(),
    );
    Ok(frames)
}

fn flood_once(agent: &Path, path: RxPath, dur: Duration, dir: &Path) -> Result<Figures> {
    let dir = dir.join(path.name());
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let mut lab = Lab::new("vxbench-")?;
    lab.host("dut", "eth0", &["10.78.0.2/24"])?;
    lab.host("flood", "eth0", &["10.78.0.66/24"])?;
    let out = dir.join("monitor.json");
    let log = dir.join("monitor.log");
    let rx = match path {
        RxPath::Xdp | RxPath::RawSocket => {
            let mut argv = agent_cli::monitor(agent, "eth0", &["--vrid", "51", "--json"]);
            if path == RxPath::RawSocket {
                argv.push("--no-xdp");
            }
            let mon = lab.spawn("dut", &argv, &out, &log)?;
            if !wait_for(Duration::from_secs(5), || {
                std::fs::read_to_string(&log).is_ok_and(|l| l.contains("receive path"))
            }) {
                bail!(
                    "agent did not start: {}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
            mon
        }
        RxPath::Keepalived => {
            let c = dir.join("dut.conf");
            std::fs::write(&c, conf("dut", "BACKUP", 100, 1000, &instances(1)))?;
            let cmd = AgentCmd::new(agent, &[]);
            let d = start_daemon(&mut lab, Impl::Keepalived, &cmd, "dut", &c, &dir)?;
            std::thread::sleep(Duration::from_millis(1500));
            d.idx
        }
    };
    let frames = junk(mac_of(&lab, "flood")?)?;
    let pid = lab.pid(rx);
    let bpf = (path == RxPath::Xdp).then(BpfStats::enable);
    let rx0 = link_packets(&lab, "dut", "eth0", "rx")?;
    let drops0 = raw_socket_drops(&lab, "dut");
    let cpu0 = tree_cpu_ns(pid);
    let prog0 = xdp_prog_stats(pid);
    let sirq0 = softirq_ns();
    let t0 = Instant::now();
    let flood = Trafgen::start(&mut lab, "flood", &frames, None, dur, &dir, "junk")?;
    std::thread::sleep(dur);
    let (sent, _) = flood.sent(&lab);
    flood.stop(&mut lab)?;
    let elapsed = t0.elapsed().as_secs_f64();
    let cpu1 = tree_cpu_ns(pid);
    let prog1 = xdp_prog_stats(pid);
    let sirq1 = softirq_ns();
    let rx1 = link_packets(&lab, "dut", "eth0", "rx")?;
    let drops1 = raw_socket_drops(&lab, "dut");
    drop(bpf);
    std::thread::sleep(Duration::from_millis(300));
    lab.stop(rx, libc::SIGTERM, Duration::from_secs(5))?;
    let received = rx1 - rx0;
    let rejected = match path {
        RxPath::Keepalived => {
            // Every frame that reached keepalived's socket was junk it read and dropped.
            let _ = shrink_log(&dir.join("keepalived-dut.err"), 8 << 20);
            received.saturating_sub(drops1.saturating_sub(drops0))
        }
        _ => {
            let text = std::fs::read_to_string(&out)?;
            let last = text
                .lines()
                .rev()
                .find(|l| l.contains("\"counters\""))
                .context("no counters from the agent")?;
            let v: Value = serde_json::from_str(last)?;
            let c = &v["counters"];
            [
                "ttl", "checksum", "version", "type", "length", "auth", "interval",
            ]
            .iter()
            .map(|k| c[k].as_u64().unwrap_or(0))
            .sum()
        }
    };
    let prog = prog0.zip(prog1).map(|(a, b)| (b.0 - a.0, b.1 - a.1));
    eprintln!(
        "  {}: tx {sent} rx {received} rejected {rejected} in {elapsed:.1} s{}",
        path.name(),
        prog.map_or(String::new(), |(t, n)| format!(
            "; XDP program ran {n} times, {:.0} ns each",
            t as f64 / n.max(1) as f64
        ))
    );
    let cpu_s = (cpu1 - cpu0) as f64 / 1e9 + prog.map_or(0.0, |(t, _)| t as f64 / 1e9);
    Ok(Figures {
        path,
        sent_pps: sent as f64 / elapsed,
        received_pps: received as f64 / elapsed,
        rejected_pps: rejected as f64 / elapsed,
        cpu_pct: (cpu1 - cpu0) as f64 / 1e9 / elapsed * 100.0,
        prog_cpu_pct: prog.map(|(t, _)| t as f64 / 1e9 / elapsed * 100.0),
        softirq_cpu_pct: (sirq1 - sirq0) as f64 / 1e9 / elapsed * 100.0,
        per_core: rejected as f64 / cpu_s.max(1e-6),
        prog_ns_per_frame: prog.filter(|p| p.1 > 0).map(|(t, n)| t as f64 / n as f64),
    })
}

/// The three receivers, one after the other; rows for the combined table.
pub fn measure(agent: &Path, dur: Duration, report: &mut Report) -> Result<()> {
    let dir = report.dir("xdp");
    let mut figs = Vec::new();
    for p in [RxPath::Xdp, RxPath::RawSocket, RxPath::Keepalived] {
        match flood_once(agent, p, dur, &dir) {
            Ok(f) => figs.push(f),
            Err(e) => {
                eprintln!("  {}: FAILED: {e:#}", p.name());
                report.error("xdp", &format!("{}: {e:#}", p.name()));
            }
        }
    }
    print_table(&figs);
    let get = |p: RxPath| figs.iter().find(|f| f.path == p);
    let (x, r, k) = (
        get(RxPath::Xdp),
        get(RxPath::RawSocket),
        get(RxPath::Keepalived),
    );
    let one = |f: Option<&Figures>, g: fn(&Figures) -> f64| f.map(g).into_iter().collect();
    let sc = format!("XDP, flood at max ({} s)", dur.as_secs());
    report.add(
        Metric::new(&sc, "rejected per CPU-second (k)")
            .ours(one(x, |f| f.per_core / 1e3))
            .keepalived(one(k, |f| f.per_core / 1e3))
            .higher_is_better()
            .note("ours: XDP program run time (BPF stats) + agent; keepalived: its processes"),
    );
    report.add(
        Metric::new(&sc, "rejected frames/s (k)")
            .ours(one(x, |f| f.rejected_pps / 1e3))
            .keepalived(one(k, |f| f.rejected_pps / 1e3))
            .higher_is_better(),
    );
    report.add(
        Metric::new(&sc, "receiver CPU % of a core")
            .ours(one(x, |f| f.cpu_pct + f.prog_cpu_pct.unwrap_or(0.0)))
            .keepalived(one(k, |f| f.cpu_pct)),
    );
    report.add(
        Metric::new(&sc, "generator rate (kfps)")
            .ours(one(x, |f| f.sent_pps / 1e3))
            .keepalived(one(k, |f| f.sent_pps / 1e3))
            .info(),
    );
    if let Some(kf) = k {
        let mut groups = Vec::new();
        if let Some(x) = x {
            groups.push((
                "vrrp-agent XDP".to_string(),
                x.per_core / 1e3,
                kf.per_core / 1e3,
            ));
        }
        if let Some(r) = r {
            groups.push((
                "vrrp-agent raw socket".to_string(),
                r.per_core / 1e3,
                kf.per_core / 1e3,
            ));
        }
        report.plot(super::svg::Plot::Bars {
            title: "Junk rejected per CPU-second (thousands)".into(),
            y_label: "k frames per CPU-second".into(),
            groups,
        });
    }
    if let Some(r) = r {
        report.add(
            Metric::new(&sc, "raw-socket path: rejected/CPU-s (k)")
                .ours(vec![r.per_core / 1e3])
                .info(),
        );
    }
    report.scenario_json(
        "xdp",
        json!({
            "seconds": dur.as_secs(),
            "junk": "bad TTL, bad checksum, wrong type, all for VRID 51, from the flooder's own MAC, round robin",
            "receivers": figs.iter().map(Figures::json).collect::<Vec<_>>(),
        }),
    );
    Ok(())
}

fn print_table(figs: &[Figures]) {
    println!();
    println!(
        "{:<12} {:>11} {:>11} {:>14} {:>10} {:>10} {:>10} {:>16}",
        "receiver",
        "sent f/s",
        "recv f/s",
        "rejected f/s",
        "proc CPU%",
        "XDP CPU%",
        "softirq%",
        "rejected/CPU-s"
    );
    for f in figs {
        println!(
            "{:<12} {:>11.0} {:>11.0} {:>14.0} {:>10.2} {:>10} {:>10.1} {:>16.0}",
            f.path.name(),
            f.sent_pps,
            f.received_pps,
            f.rejected_pps,
            f.cpu_pct,
            f.prog_cpu_pct.map_or("-".into(), |p| format!("{p:.2}")),
            f.softirq_cpu_pct,
            f.per_core
        );
    }
    if let Some(ns) = figs.iter().find_map(|f| f.prog_ns_per_frame) {
        println!("XDP program: {ns:.0} ns per frame, i.e. {:.1} M frames/s per core for the program alone", 1e3 / ns);
    }
    println!(
        "(process CPU: /proc/PID/task/*/schedstat over the process tree; XDP CPU: the program's \
         run time from kernel BPF statistics; softirq: whole machine, where the veths, the \
         bridge and XDP run; the generator's rate bounds every receiver)"
    );
}

pub fn run(agent: &Path, dur: Duration) -> Result<()> {
    println!(
        "bench xdp: trafgen at maximum rate, junk VRRP (bad TTL / bad checksum / unknown VRID), \
         {} s per receiver",
        dur.as_secs()
    );
    let mut report = Report::new("xdp");
    measure(agent, dur, &mut report)?;
    report.finish()
}

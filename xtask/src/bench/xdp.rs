//! `bench xdp`: a trafgen flood of junk VRRP at the generator's maximum rate against
//! `vrrp-agent monitor`, once with the XDP filter and once on the raw-socket path: frames
//! rejected per second and the agent's CPU during the flood.

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use vrrpx_tests::frames::{Advert, Csum};
use vrrpx_tests::netns::{wait_for, Lab};

/// CPU time of a process (all threads), nanoseconds, from schedstat.
fn cpu_ns(pid: u32) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

/// Softirq time of the whole machine (where XDP runs), nanoseconds.
fn softirq_ns() -> u64 {
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

fn link_packets(lab: &Lab, h: &str, ifname: &str, dir: &str) -> Result<u64> {
    let out = lab.exec(
        h,
        &[
            "cat",
            &format!("/sys/class/net/{ifname}/statistics/{dir}_packets"),
        ],
    )?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().parse()?)
}

fn trafgen_conf(frames: &[Vec<u8>]) -> String {
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

struct Figures {
    path: String,
    sent_pps: f64,
    rejected_pps: f64,
    agent_cpu_pct: f64,
    softirq_cpu_pct: f64,
}

fn flood_once(agent: &Path, no_xdp: bool, dur: Duration) -> Result<Figures> {
    let dir = vrrpx_tests::scratch(if no_xdp {
        "bench-xdp-raw"
    } else {
        "bench-xdp-xdp"
    });
    let mut lab = Lab::new("vxbench-")?;
    lab.host("dut", "eth0", &["10.78.0.2/24"])?;
    lab.host("flood", "eth0", &["10.78.0.66/24"])?;
    let out = dir.join("monitor.json");
    let mut argv = vec![
        agent.to_str().unwrap(),
        "monitor",
        "-i",
        "eth0",
        "--vrid",
        "51",
        "--json",
    ];
    if no_xdp {
        argv.push("--no-xdp");
    }
    let mon = lab.spawn("dut", &argv, &out, &dir.join("monitor.log"))?;
    let log = dir.join("monitor.log");
    if !wait_for(Duration::from_secs(5), || {
        std::fs::read_to_string(&log).is_ok_and(|l| l.contains("receive path"))
    }) {
        bail!(
            "agent did not start: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }
    let path = if no_xdp { "raw-socket" } else { "xdp" }.to_string();
    let mac_text = lab.exec("flood", &["cat", "/sys/class/net/eth0/address"])?;
    let mut mac = [0u8; 6];
    for (i, p) in String::from_utf8_lossy(&mac_text.stdout)
        .trim()
        .split(':')
        .enumerate()
        .take(6)
    {
        mac[i] = u8::from_str_radix(p, 16)?;
    }
    let base = Advert {
        src_mac: mac,
        src: "10.78.0.66".parse()?,
        priority: 254,
        ..Advert::v3_ipv4()
    };
    let frames = vec![
        Advert {
            ttl: 64,
            ..base.clone()
        }
        .build(),
        Advert {
            csum: Csum::Bad,
            ..base.clone()
        }
        .build(),
        Advert {
            vrid: 7,
            ..base.clone()
        }
        .build(),
    ];
    let conf = dir.join("junk.trafgen");
    std::fs::write(&conf, trafgen_conf(&frames))?;

    let pid = lab.pid(mon);
    let tx0 = link_packets(&lab, "flood", "eth0", "tx")?;
    let rx0 = link_packets(&lab, "dut", "eth0", "rx")?;
    let cpu0 = cpu_ns(pid);
    let sirq0 = softirq_ns();
    let t0 = Instant::now();
    let secs = format!("{}", dur.as_secs());
    // trafgen on one CPU at its maximum rate, stopped by timeout's SIGINT.
    let _ = lab.exec(
        "flood",
        &[
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
            "-q",
        ],
    );
    let elapsed = t0.elapsed().as_secs_f64();
    let cpu1 = cpu_ns(pid);
    let sirq1 = softirq_ns();
    let tx1 = link_packets(&lab, "flood", "eth0", "tx")?;
    let rx1 = link_packets(&lab, "dut", "eth0", "rx")?;
    std::thread::sleep(Duration::from_millis(300));
    lab.stop(mon, libc::SIGTERM, Duration::from_secs(5))?;
    let text = std::fs::read_to_string(&out)?;
    let last = text
        .lines()
        .rev()
        .find(|l| l.contains("\"counters\""))
        .context("no counters from the agent")?;
    let v: serde_json::Value = serde_json::from_str(last)?;
    let c = &v["counters"];
    let rejected: u64 = [
        "ttl", "checksum", "vrid", "version", "type", "length", "auth", "interval",
    ]
    .iter()
    .map(|k| c[k].as_u64().unwrap_or(0))
    .sum();
    eprintln!(
        "  {path}: tx {} rx {} rejected {rejected} in {elapsed:.1} s",
        tx1 - tx0,
        rx1 - rx0
    );
    Ok(Figures {
        path,
        sent_pps: (tx1 - tx0) as f64 / elapsed,
        rejected_pps: rejected as f64 / elapsed,
        agent_cpu_pct: (cpu1 - cpu0) as f64 / 1e9 / elapsed * 100.0,
        softirq_cpu_pct: (sirq1 - sirq0) as f64 / 1e9 / elapsed * 100.0,
    })
}

pub fn run(agent: &Path, dur: Duration) -> Result<()> {
    println!("bench xdp: trafgen at maximum rate, junk VRRP (bad TTL / bad checksum / unknown VRID), {} s per path", dur.as_secs());
    let x = flood_once(agent, false, dur)?;
    let r = flood_once(agent, true, dur)?;
    println!();
    println!(
        "{:<12} {:>12} {:>14} {:>12} {:>14}",
        "path", "sent (f/s)", "rejected (f/s)", "agent CPU %", "softirq CPU %"
    );
    for f in [&x, &r] {
        println!(
            "{:<12} {:>12.0} {:>14.0} {:>12.2} {:>14.1}",
            f.path, f.sent_pps, f.rejected_pps, f.agent_cpu_pct, f.softirq_cpu_pct
        );
    }
    println!();
    println!(
        "rejected frames/s, xdp / raw-socket: {:.2}x (the generator's rate bounds both)",
        x.rejected_pps / r.rejected_pps.max(1.0)
    );
    if x.agent_cpu_pct >= 0.01 {
        println!(
            "agent CPU, raw-socket / xdp: {:.1}x ({:.2}% vs {:.2}% of a core)",
            r.agent_cpu_pct / x.agent_cpu_pct,
            r.agent_cpu_pct,
            x.agent_cpu_pct
        );
    } else {
        println!(
            "agent CPU: raw-socket {:.2}% of a core vs xdp {:.2}% (the xdp agent was never woken)",
            r.agent_cpu_pct, x.agent_cpu_pct
        );
    }
    println!("(agent CPU: its own threads from /proc/PID/task/*/schedstat; softirq: whole machine, where XDP runs)");
    Ok(())
}

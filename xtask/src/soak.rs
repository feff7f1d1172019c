//! `cargo xtask soak --minutes N`: repeated failovers (graceful and link cut), reloads and
//! junk floods against two vrrp-agent routers for N minutes. At the end: the transitions
//! the routers logged must match the failovers caused, the long-lived router must not have
//! grown in file descriptors or memory beyond a bound, and nothing may be left behind —
//! no virtual addresses, no macvlans, no XDP programs.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use vrrpx_tests::frames::Advert;
use vrrpx_tests::inject::burst_in;
use vrrpx_tests::netns::{wait_for, Lab};

const INSTANCES: [(u8, &str, bool); 3] = [
    (51, "10.9.0.100/24", false),
    (52, "10.9.0.101/24", false),
    (53, "10.9.0.102/24", true),
];
/// Memory growth allowed for the long-lived router over the whole soak.
const RSS_GROWTH_KB: i64 = 8 * 1024;

fn conf(router: &str, priority: u8) -> String {
    let mut s = format!("global_defs {{\n    router_id {router}\n    vrrp_version 3\n}}\n");
    for (vrid, vip, vmac) in INSTANCES {
        s += &format!(
            "vrrp_instance VI_{vrid} {{\n    interface eth0\n{}    virtual_router_id {vrid}\n    \
             priority {priority}\n    advert_int 0.05\n    virtual_ipaddress {{\n        {vip}\n    }}\n}}\n",
            if vmac { "    use_vmac\n" } else { "" }
        );
    }
    s
}

/// How many of the virtual addresses host `h` holds, on any interface (a `use_vmac`
/// instance's sits on its macvlan).
fn vips_held(lab: &Lab, h: &str) -> usize {
    let out = lab
        .command(h, &["ip", "-o", "-4", "addr", "show"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    INSTANCES
        .iter()
        .filter(|(_, vip, _)| out.contains(vip))
        .count()
}

fn holds_all(lab: &Lab, h: &str) -> bool {
    vips_held(lab, h) == INSTANCES.len()
}

fn holds_none(lab: &Lab, h: &str) -> bool {
    vips_held(lab, h) == 0
}

fn proc_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

fn proc_rss_kb(pid: u32) -> i64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn count(log: &Path, needle: &str) -> usize {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(needle))
        .count()
}

fn start(lab: &mut Lab, agent: &Path, h: &str, dir: &Path, run: usize) -> Result<usize> {
    let conf = dir.join(format!("{h}.conf"));
    lab.spawn(
        h,
        &[
            agent.to_str().unwrap(),
            "run",
            "-f",
            conf.to_str().unwrap(),
            "--no-control",
        ],
        &dir.join(format!("{h}-{run}.out")),
        &dir.join(format!("{h}-{run}.log")),
    )
}

pub fn run(agent: &Path, minutes: f64) -> Result<()> {
    let dir = vrrpx_tests::scratch("soak");
    let limit = Duration::from_secs_f64(minutes * 60.0);
    println!(
        "soak: {minutes} min of failovers, reloads and floods; files under {}",
        dir.display()
    );
    let mut lab = Lab::new("vxsoak-")?;
    lab.host("r1", "eth0", &["10.9.0.1/24"])?;
    lab.host("r2", "eth0", &["10.9.0.2/24"])?;
    lab.host("junk", "eth0", &["10.9.0.66/24"])?;
    std::fs::write(dir.join("r1.conf"), conf("r1", 150))?;
    std::fs::write(dir.join("r2.conf"), conf("r2", 100))?;
    let mut r1_run = 0;
    let mut r1 = start(&mut lab, agent, "r1", &dir, r1_run)?;
    let r2 = start(&mut lab, agent, "r2", &dir, 0)?;
    let r2_log = dir.join("r2-0.log");
    if !wait_for(Duration::from_secs(5), || holds_all(&lab, "r1")) {
        bail!("r1 never became master (logs in {})", dir.display());
    }
    std::thread::sleep(Duration::from_secs(1));
    let r2_pid = lab.pid(r2);
    let (fds0, rss0) = (proc_fds(r2_pid), proc_rss_kb(r2_pid));

    let junk = {
        let base = Advert {
            src: "10.9.0.66".parse()?,
            priority: 254,
            ..Advert::v3_ipv4()
        };
        base.junk(9)
    };
    // Transitions before the soak proper (the start-up election) are not counted.
    let master0 = count(&r2_log, "to=MASTER");
    let backup0 = count(&r2_log, "from=MASTER to=BACKUP");
    let t0 = Instant::now();
    let mut cycles = 0usize;
    let mut flooded = 0usize;
    while t0.elapsed() < limit {
        // 1. Graceful: r1 stops, r2 takes everything; r1 returns and preempts.
        lab.stop(r1, libc::SIGTERM, Duration::from_secs(3))?;
        if !wait_for(Duration::from_secs(3), || {
            holds_all(&lab, "r2") && holds_none(&lab, "r1")
        }) {
            bail!("cycle {cycles}: r2 did not take over after r1 stopped");
        }
        r1_run += 1;
        r1 = start(&mut lab, agent, "r1", &dir, r1_run)?;
        if !wait_for(Duration::from_secs(5), || {
            holds_all(&lab, "r1") && holds_none(&lab, "r2")
        }) {
            bail!("cycle {cycles}: r1 did not preempt back");
        }
        // 2. Link cut and restore.
        lab.cut("r1")?;
        if !wait_for(Duration::from_secs(3), || holds_all(&lab, "r2")) {
            bail!("cycle {cycles}: r2 did not take over on link cut");
        }
        lab.set_port("p-r1", true)?;
        if !wait_for(Duration::from_secs(5), || {
            holds_all(&lab, "r1") && holds_none(&lab, "r2")
        }) {
            bail!("cycle {cycles}: r1 did not come back after the link returned");
        }
        // 3. Reload the long-lived router with an unchanged file: nothing may move.
        // SAFETY: signalling a child of the lab.
        unsafe { libc::kill(lab.pid(r2) as i32, libc::SIGHUP) };
        // 4. A junk burst: 20 000 frames at 50 k/s. (At the generator's full rate on two
        // cores the master itself is starved of CPU and its adverts really stop; that is
        // the busy-box benchmark's subject, not a soak's.)
        flooded += burst_in(
            &lab.ns("junk"),
            "eth0",
            junk.clone(),
            20_000,
            50_000,
            Duration::from_secs(5),
        )?;
        std::thread::sleep(Duration::from_millis(300));
        if !holds_all(&lab, "r1") {
            bail!("cycle {cycles}: the reload or the flood moved an address");
        }
        cycles += 1;
        if cycles.is_multiple_of(10) {
            println!(
                "  {cycles} cycles, {:.0} s; r2: {} fds, {} kB RSS",
                t0.elapsed().as_secs_f64(),
                proc_fds(r2_pid),
                proc_rss_kb(r2_pid)
            );
        }
    }
    let (fds1, rss1) = (proc_fds(r2_pid), proc_rss_kb(r2_pid));
    let (master1, backup1) = (
        count(&r2_log, "to=MASTER"),
        count(&r2_log, "from=MASTER to=BACKUP"),
    );
    lab.stop(r1, libc::SIGTERM, Duration::from_secs(3))?;
    lab.stop(r2, libc::SIGTERM, Duration::from_secs(3))?;

    // Two failovers a cycle (graceful, link cut), each a pair of moves on r2.
    let n = INSTANCES.len();
    let want = cycles * 2 * n;
    let to_master = master1 - master0;
    let to_backup = backup1 - backup0;
    let reloads = count(&r2_log, "reload applied as a diff");
    let leftovers = ["r1", "r2"]
        .iter()
        .map(|h| {
            let links = lab
                .command(h, &["ip", "-o", "link", "show"])
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_default();
            let xdp = links.contains("xdp");
            let vmacs = links.contains("vrrp.");
            (h.to_string(), !holds_none(&lab, h), vmacs, xdp)
        })
        .collect::<Vec<_>>();

    println!(
        "\nsoak summary ({:.1} min, {cycles} cycles)",
        t0.elapsed().as_secs_f64() / 60.0
    );
    println!(
        "  failovers caused:          {} (graceful {cycles}, link cut {cycles}) x {n} instances",
        2 * cycles
    );
    println!("  r2 BACKUP->MASTER logged:  {to_master} (expected {want})");
    println!("  r2 MASTER->BACKUP logged:  {to_backup} (expected {want})");
    println!("  reloads applied:           {reloads} of {cycles}");
    println!("  junk frames sent:          {flooded}");
    println!("  r2 file descriptors:       {fds0} -> {fds1}");
    println!("  r2 resident memory:        {rss0} kB -> {rss1} kB (bound +{RSS_GROWTH_KB} kB)");
    for (h, addrs, vmacs, xdp) in &leftovers {
        println!("  {h} after stop: addresses left {addrs}, macvlans left {vmacs}, XDP left {xdp}");
    }
    let mut problems = Vec::new();
    if to_master != want || to_backup != want {
        problems.push("transition counts do not match the failovers caused");
    }
    if reloads != cycles {
        problems.push("not every reload was applied");
    }
    if fds1 != fds0 {
        problems.push("file descriptors leaked");
    }
    if rss1 - rss0 > RSS_GROWTH_KB {
        problems.push("memory grew beyond the bound");
    }
    if leftovers.iter().any(|(_, a, v, x)| *a || *v || *x) {
        problems.push("something was left behind");
    }
    if cycles == 0 {
        problems.push("no cycle completed");
    }
    if !problems.is_empty() {
        bail!("soak failed: {}", problems.join("; "));
    }
    println!("soak passed");
    drop(lab);
    Ok(())
}

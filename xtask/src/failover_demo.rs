//! The main demo: three vrrp-agent routers and a client in network namespaces, the client
//! probing the virtual address every millisecond; the master's link is cut, then the next
//! master stops gracefully. Each outage is printed beside the RFC 5798 floor.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Result};
use vrrpx_tests::netns::{wait_for, Lab};
use vrrpx_tests::probe::{Echo, Prober};

use crate::narrate::{self, step};

const VIP: &str = "10.9.0.100";
const PORT: u16 = 7777;
/// Advertisement interval in centiseconds: 10 ms adverts.
const ADVERT_CS: u16 = 1;

/// A keepalived.conf, exactly as a keepalived user would write it.
fn conf(router: &str, priority: u8) -> String {
    format!(
        "global_defs {{\n    router_id {router}\n    vrrp_version 3\n}}\n\n\
         vrrp_instance VI_1 {{\n    state BACKUP\n    interface eth0\n    virtual_router_id 51\n    \
         priority {priority}\n    advert_int {}\n    virtual_ipaddress {{\n        {VIP}/24\n    }}\n}}\n",
        ADVERT_CS as f64 / 100.0
    )
}

fn holder(lab: &Lab) -> Option<&'static str> {
    ["r1", "r2", "r3"].into_iter().find(|h| {
        lab.addrs(h, "eth0")
            .map(|a| a.iter().any(|x| x.starts_with(VIP)))
            .unwrap_or(false)
    })
}

/// RFC 5798 §6.1 skew in milliseconds for a priority at our interval.
fn skew_ms(priority: u8) -> f64 {
    (256.0 - priority as f64) * ADVERT_CS as f64 * 10.0 / 256.0
}

fn state_lines(dir: &Path, h: &str) -> Vec<String> {
    std::fs::read_to_string(dir.join(format!("{h}.log")))
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("state change"))
        .map(|l| {
            let at = l.find("state change").unwrap_or(0);
            format!("{h}: {}", &l[at..])
        })
        .collect()
}

pub fn run(agent: &Path) -> Result<()> {
    let dir = narrate::begin("failover-demo", "vrrpx failover demo");

    step(
        1,
        "Three routers of ours and a client on one bridge; VRRPv3 with 10 ms adverts",
    );
    let mut lab = Lab::new("vxfo-")?;
    let mut agents = Vec::new();
    for (h, addr, prio) in [
        ("r1", "10.9.0.1/24", 150),
        ("r2", "10.9.0.2/24", 100),
        ("r3", "10.9.0.3/24", 50),
    ] {
        lab.host(h, "eth0", &[addr])?;
        let path = dir.join(format!("{h}.conf"));
        std::fs::write(&path, conf(h, prio))?;
        println!(
            "    {h} {addr:<13} priority {prio:>3}  ({})",
            path.display()
        );
        agents.push(lab.spawn(
            h,
            &[agent.to_str().unwrap(), "run", "-f", path.to_str().unwrap()],
            &dir.join(format!("{h}.out")),
            &dir.join(format!("{h}.log")),
        )?);
    }
    lab.host("client", "eth0", &["10.9.0.50/24"])?;
    if !wait_for(Duration::from_secs(5), || holder(&lab) == Some("r1")) {
        bail!("r1 did not become master (logs in {})", dir.display());
    }
    println!("    r1 (highest priority) holds {VIP}.");

    step(2, "The client probes the virtual address every millisecond (UDP echo, each router answers with its name)");
    let _echoes: Vec<Echo> = ["r1", "r2", "r3"]
        .iter()
        .map(|h| Echo::start(&lab.ns(h), h, PORT))
        .collect::<Result<_>>()?;
    let target: SocketAddr = format!("{VIP}:{PORT}").parse()?;
    let prober = Prober::start(
        &lab.ns("client"),
        target,
        Duration::from_millis(1),
        Duration::from_secs(30),
    )?;
    std::thread::sleep(Duration::from_millis(500));

    step(
        3,
        "Cut r1's link (the box is gone as far as the network knows)",
    );
    lab.cut("r1")?;
    if !wait_for(Duration::from_secs(3), || holder(&lab) == Some("r2")) {
        bail!("r2 did not take over");
    }
    std::thread::sleep(Duration::from_millis(500));

    step(
        4,
        "Stop r2 gracefully (SIGTERM: it sends priority 0 and releases the address)",
    );
    lab.stop(agents[1], libc::SIGTERM, Duration::from_secs(2))?;
    if !wait_for(Duration::from_secs(3), || holder(&lab) == Some("r3")) {
        bail!("r3 did not take over");
    }
    std::thread::sleep(Duration::from_millis(500));
    let seen = prober.finish()?;

    step(5, "What the client saw");
    let handovers: Vec<(Duration, String, String)> = seen
        .replies
        .windows(2)
        .filter(|w| w[0].1 != w[1].1)
        .map(|w| (w[1].0 - w[0].0, w[0].1.clone(), w[1].1.clone()))
        .collect();
    println!(
        "    {} probes sent, {} answered",
        seen.sent,
        seen.replies.len()
    );
    let floors = [
        (
            "link cut",
            3.0 * ADVERT_CS as f64 * 10.0 + skew_ms(100),
            "RFC bound: 3 x 10 ms + Skew_Time(100), counted from r2's last advert heard",
        ),
        ("graceful stop", skew_ms(50), "RFC floor: Skew_Time(50)"),
    ];
    for (i, (gap, from, to)) in handovers.iter().enumerate() {
        let (what, floor, formula) = floors.get(i).copied().unwrap_or(("handover", 0.0, "-"));
        println!(
            "    {what:<14} {from} -> {to}: outage {:>6.1} ms   ({floor:.1} ms = {formula})",
            gap.as_secs_f64() * 1e3
        );
    }
    if handovers.len() != 2 {
        bail!("expected two handovers, saw {}", handovers.len());
    }
    println!("\n    What the routers logged:");
    for h in ["r1", "r2", "r3"] {
        for l in state_lines(&dir, h) {
            println!("    {l}");
        }
    }
    println!("\nDemo done; the lab is being removed.");
    Ok(())
}

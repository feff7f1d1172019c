//! The lab demo: two real keepalived routers elect a master on a bridge, `vrrp-agent
//! monitor` watches the segment from a third host with its XDP filter, the master hands
//! over, then a burst of junk VRRP arrives and the counters show what caught it.

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use vrrpx_tests::frames::{Advert, Csum, VRRP_MCAST_V4};
use vrrpx_tests::inject::burst_in;
use vrrpx_tests::netns::{wait_for, Lab};
use vrrpx_tests::peers::{keepalived_config, start_keepalived, PeerInstance};

use crate::agent_cli;
use crate::narrate::{self, step};

const VIP: &str = "10.77.0.100";
const JUNK_EACH: usize = 1000;

/// The newest table the monitor printed.
fn latest_table(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    match text.rfind("vrrp-agent monitor") {
        Some(i) => text[i..].to_string(),
        None => "(no table yet)\n".into(),
    }
}

fn indent(s: &str) -> String {
    s.lines().map(|l| format!("    {l}\n")).collect()
}

fn mac_of(lab: &Lab, h: &str, ifname: &str) -> Result<[u8; 6]> {
    let out = lab.exec(h, &["cat", &format!("/sys/class/net/{ifname}/address")])?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut mac = [0u8; 6];
    for (i, part) in text.trim().split(':').enumerate().take(6) {
        mac[i] = u8::from_str_radix(part, 16)?;
    }
    Ok(mac)
}

fn holder(lab: &Lab) -> Result<Option<&'static str>> {
    for h in ["r1", "r2"] {
        if lab.addrs(h, "eth0")?.iter().any(|a| a.starts_with(VIP)) {
            return Ok(Some(h));
        }
    }
    Ok(None)
}

pub fn run(agent: &Path) -> Result<()> {
    let dir = narrate::begin("demo", "vrrpx lab demo");

    step(
        1,
        "Lab: four network namespaces on one bridge (10.77.0.0/24)",
    );
    let mut lab = Lab::new("vxdemo-")?;
    lab.host("r1", "eth0", &["10.77.0.1/24"])?;
    lab.host("r2", "eth0", &["10.77.0.2/24"])?;
    lab.host("mon", "eth0", &["10.77.0.10/24"])?;
    lab.host("junk", "eth0", &["10.77.0.66/24"])?;
    println!(
        "    r1 10.77.0.1, r2 10.77.0.2 (keepalived), mon 10.77.0.10 (vrrp-agent), junk 10.77.0.66"
    );

    step(
        2,
        "keepalived on r1 (priority 150) and r2 (priority 100): VRID 51, VRRPv3, 100 ms adverts",
    );
    let monitor = lab.spawn(
        "mon",
        &agent_cli::monitor(agent, "eth0", &["--vrid", "51", "--refresh", "0.5"]),
        &dir.join("monitor.out"),
        &dir.join("monitor.log"),
    )?;
    let vip = format!("{VIP}/24");
    for (h, prio) in [("r1", 150), ("r2", 100)] {
        let conf = keepalived_config(h, &[PeerInstance::v3("VI_51", 51, prio, &[&vip])]);
        start_keepalived(&mut lab, h, &conf, &dir)?;
    }
    if !wait_for(Duration::from_secs(10), || {
        matches!(holder(&lab), Ok(Some("r1")))
    }) {
        bail!(
            "r1 did not become master within 10 s (see {})",
            dir.display()
        );
    }
    println!("    r1 holds {VIP}: it won the election. vrrp-agent's view from mon:");
    std::thread::sleep(Duration::from_millis(1500));
    let log = std::fs::read_to_string(dir.join("monitor.log")).unwrap_or_default();
    for l in log.lines().filter(|l| l.contains("receive path")) {
        println!("    {}", strip_ansi(l));
    }
    print!("{}", indent(&latest_table(&dir.join("monitor.out"))));

    step(
        3,
        "Graceful handover: keepalived on r1 stops (priority-0 advert), r2 takes over",
    );
    let r1_keepalived = 1; // spawn order: monitor, r1, r2
    lab.stop(r1_keepalived, libc::SIGTERM, Duration::from_secs(5))?;
    if !wait_for(Duration::from_secs(5), || {
        matches!(holder(&lab), Ok(Some("r2")))
    }) {
        bail!("r2 did not take over within 5 s");
    }
    std::thread::sleep(Duration::from_millis(1500));
    println!("    r2 holds {VIP} now. The monitor saw r1's priority-0 goodbye and r2's adverts:");
    print!("{}", indent(&latest_table(&dir.join("monitor.out"))));

    step(
        4,
        "Junk burst from the junk host: bad TTL, bad checksum, unknown VRID",
    );
    let mac = mac_of(&lab, "junk", "eth0")?;
    let base = Advert {
        src_mac: mac,
        src: IpAddr::V4(Ipv4Addr::new(10, 77, 0, 66)),
        dst: IpAddr::V4(VRRP_MCAST_V4),
        priority: 254,
        interval: 10,
        addrs: vec![IpAddr::V4(VIP.parse()?)],
        ..Advert::v3_ipv4()
    };
    let kinds = [
        (
            "TTL 64 (a would-be hijack from off-link)",
            Advert {
                ttl: 64,
                ..base.clone()
            },
        ),
        (
            "corrupted checksum",
            Advert {
                csum: Csum::Bad,
                ..base.clone()
            },
        ),
        (
            "VRID 7, not ours",
            Advert {
                vrid: 7,
                ..base.clone()
            },
        ),
    ];
    let ns = lab.ns("junk");
    for (what, advert) in kinds {
        let sent = burst_in(
            &ns,
            "eth0",
            vec![advert.build()],
            JUNK_EACH,
            20_000,
            Duration::from_secs(5),
        )?;
        println!("    sent {sent} adverts with {what}");
    }
    std::thread::sleep(Duration::from_millis(1000));

    step(
        5,
        "What caught it: the XDP filter's counters (bad TTL and checksum dropped before the stack; the unknown VRID passed as foreign)",
    );
    lab.stop(monitor, libc::SIGTERM, Duration::from_secs(3))
        .context("stopping the monitor")?;
    let table = latest_table(&dir.join("monitor.out"));
    print!("{}", indent(&table));
    let still = holder(&lab)?;
    println!(
        "    {VIP} is still on {}: the junk moved nothing.",
        still.unwrap_or("nobody (!)")
    );
    let want = format!(
        "ttl={JUNK_EACH} version=0 type=0 length=0 checksum={JUNK_EACH} foreign={JUNK_EACH}"
    );
    if !table.contains(&want) {
        bail!("the counters do not show the burst ({want})");
    }
    println!("\nDemo done; the lab is being removed.");
    drop(lab);
    Ok(())
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::new();
    let mut esc = false;
    for c in s.chars() {
        match (esc, c) {
            (false, '\x1b') => esc = true,
            (true, 'm') => esc = false,
            (true, _) => {}
            (false, c) => out.push(c),
        }
    }
    out
}

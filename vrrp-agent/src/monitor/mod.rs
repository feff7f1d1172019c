//! `vrrp-agent monitor`: passive, kernel-level VRRP telemetry for one interface.

pub mod render;
pub mod table;

use std::io::Write;
use std::time::Duration;

use anyhow::Result;
use tokio::signal::unix::{signal, SignalKind};
use vrrp_ebpf::abi::Event;

use crate::filter::{vip_key, PolicyTable};
use crate::io::iface;
use crate::io::rawsock::monotonic_ns;
use crate::receive::{PathOptions, ReceivePath, Received};
use table::RouterTable;

pub struct MonitorOptions {
    pub iface: String,
    /// Empty: every VRID.
    pub vrids: Vec<u8>,
    pub json: bool,
    pub path: PathOptions,
    /// Stop by itself after this long (scripts and tests).
    pub duration: Option<Duration>,
    /// Redraw period of the table.
    pub refresh: Duration,
}

pub async fn run(opts: MonitorOptions) -> Result<()> {
    let ifindex = iface::index_of(&opts.iface)?;
    let mut policy = PolicyTable::monitor(ifindex, &opts.vrids);
    let mut path = ReceivePath::open(&opts.iface, ifindex, &policy, &opts.path)?;
    let path_desc = path.describe();
    let mut table = RouterTable::default();
    let mut sigint = signal(SignalKind::interrupt())?;
    let mut sigterm = signal(SignalKind::terminate())?;
    let mut sigusr1 = signal(SignalKind::user_defined1())?;
    let mut redraw = tokio::time::interval(opts.refresh);
    let stop_at = opts.duration.map(|d| tokio::time::Instant::now() + d);
    let tty = !opts.json && std::io::IsTerminal::is_terminal(&std::io::stdout());
    let mut buf: Vec<Event> = Vec::with_capacity(256);
    let mut out = std::io::stdout().lock();

    loop {
        tokio::select! {
            r = path.recv(&mut buf) => {
                r?;
                let rx_ns = monotonic_ns();
                for ev in buf.drain(..) {
                    handle_event(&ev, rx_ns, &opts, &mut table, &mut policy, &mut path, &mut out)?;
                }
            }
            _ = sigusr1.recv() => {
                if opts.json {
                    writeln!(out, "{}", path.counters()?.to_json())?;
                } else {
                    write!(out, "{}", render::table(&table, &path.counters()?, &path_desc, monotonic_ns()))?;
                }
            }
            _ = redraw.tick(), if !opts.json => {
                if tty {
                    // Clear the screen and home the cursor for a live view.
                    write!(out, "\x1b[2J\x1b[H")?;
                }
                write!(out, "{}", render::table(&table, &path.counters()?, &path_desc, monotonic_ns()))?;
                out.flush()?;
            }
            _ = sigint.recv() => break,
            _ = sigterm.recv() => break,
            _ = async { tokio::time::sleep_until(stop_at.unwrap()).await }, if stop_at.is_some() => break,
        }
    }
    // Freeze the filter (an empty policy classifies and counts nothing), then take what
    // is still queued: every advert counted as accepted is printed exactly once.
    path.set_policy(&PolicyTable::default())?;
    tokio::time::sleep(Duration::from_millis(5)).await;
    let mut rest = Vec::new();
    path.try_recv(&mut rest)?;
    let rx_ns = monotonic_ns();
    for ev in &rest {
        let Ok(Received::Advert(a)) = Received::try_from(ev) else {
            continue;
        };
        table.record(&a);
        if opts.json {
            writeln!(out, "{}", render::advert_json(&a, &opts.iface, rx_ns))?;
        }
    }
    let counters = path.counters()?;
    if opts.json {
        writeln!(out, "{}", counters.to_json())?;
    } else {
        write!(
            out,
            "{}",
            render::table(&table, &counters, &path_desc, monotonic_ns())
        )?;
    }
    out.flush()?;
    tracing::info!(iface = opts.iface, "monitor stopped; filter detached");
    Ok(())
}

fn handle_event(
    ev: &Event,
    rx_ns: u64,
    opts: &MonitorOptions,
    table: &mut RouterTable,
    policy: &mut PolicyTable,
    path: &mut ReceivePath,
    out: &mut impl Write,
) -> Result<()> {
    match Received::try_from(ev) {
        Ok(Received::Advert(ev)) => {
            if table.record(&ev) {
                tracing::info!(
                    iface = opts.iface,
                    vrid = ev.vrid,
                    src = %ev.src,
                    priority = ev.priority,
                    version = ev.version,
                    "new router heard"
                );
            }
            // Learn the virtual addresses so ARP naming them is reported too.
            let mut learned = false;
            for &a in &ev.addrs {
                learned |= policy.vips.insert(vip_key(ev.ifindex, a));
            }
            if learned {
                path.set_policy(policy)?;
            }
            if opts.json {
                writeln!(out, "{}", render::advert_json(&ev, &opts.iface, rx_ns))?;
            }
        }
        // The monitor writes no receive state, so its program arms no timer.
        Ok(Received::MasterDown(_)) => {}
        Ok(Received::Arp(ev)) => {
            if opts.json {
                writeln!(out, "{}", render::arp_json(&ev, &opts.iface, rx_ns))?;
            } else {
                tracing::info!(iface = opts.iface, "{}", render::arp_line(&ev));
            }
        }
        Err(e) => tracing::debug!(iface = opts.iface, "ignored: {e}"),
    }
    Ok(())
}

//! vrrp-agent command line.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Result};
use clap::{Parser, Subcommand};
use vrrp_agent::engine::EngineOptions;
use vrrp_agent::io::xdp::ModeChoice;
use vrrp_agent::monitor::{self, MonitorOptions};
use vrrp_agent::receive::PathOptions;

/// vrrpx agent: VRRP (RFC 5798 / RFC 3768) with an XDP fast path.
///
/// `vrrp-agent run -f /etc/keepalived/keepalived.conf` runs the VRRP instances of an
/// existing keepalived configuration (`vrrp-agent check -f FILE` validates it first).
/// `vrrp-agent monitor -i eth0` passively shows every VRRP router on a segment, with
/// intervals measured from kernel arrival timestamps and counters of every packet the
/// filter rejected. Runs as root (XDP needs CAP_BPF and CAP_NET_ADMIN; addresses need
/// CAP_NET_ADMIN; the raw-socket fallback needs CAP_NET_RAW).
#[derive(Parser)]
#[command(name = "vrrp-agent", version, about, long_about)]
struct Cli {
    /// Log filter (error, warn, info, debug, trace; or tracing's directive syntax).
    #[arg(long, global = true, default_value = "info", env = "VRRP_LOG")]
    log: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the VRRP instances of a configuration file (keepalived.conf syntax, or native
    /// TOML when the name ends in .toml) until SIGINT/SIGTERM.
    ///
    /// On SIGTERM every master sends a priority-0 advert and removes its addresses; the XDP
    /// filter goes with the process. Addresses a crashed earlier run left behind are
    /// removed at start.
    Run {
        /// Configuration file.
        #[arg(
            short = 'f',
            long = "config",
            default_value = "/etc/keepalived/keepalived.conf"
        )]
        config: PathBuf,
        /// Do not try XDP; receive on raw sockets.
        #[arg(long)]
        no_xdp: bool,
        /// XDP attach mode.
        #[arg(long, value_enum, default_value = "auto")]
        xdp_mode: ModeChoice,
    },
    /// Check a configuration file without running it (like `keepalived -t`): prints every
    /// error and warning with file:line; exit status 0 when it is valid.
    Check {
        /// Configuration file.
        #[arg(
            short = 'f',
            long = "config",
            default_value = "/etc/keepalived/keepalived.conf"
        )]
        config: PathBuf,
    },
    /// Passively watch VRRP on an interface: routers heard, measured intervals and jitter
    /// from kernel timestamps, and rejection counters.
    ///
    /// Without --json, a table refreshes every second (clearing the screen on a terminal).
    /// With --json, one JSON object per accepted advert on stdout
    /// (ts_ns, iface, src, vrid, priority, interval_cs, version, ...); on SIGINT/SIGTERM
    /// or SIGUSR1 one object {"counters": {REASON: N, ...}, "by_vrid": {...}}.
    Monitor {
        /// Interface to watch.
        #[arg(short, long)]
        interface: String,
        /// Only these VRIDs (comma-separated, 1-255); default: every VRID.
        #[arg(long, value_delimiter = ',')]
        vrid: Vec<u8>,
        /// JSON lines instead of the table.
        #[arg(long)]
        json: bool,
        /// Do not try XDP; use the raw-socket path.
        #[arg(long)]
        no_xdp: bool,
        /// XDP attach mode.
        #[arg(long, value_enum, default_value = "auto")]
        xdp_mode: ModeChoice,
        /// Stop after this many seconds (default: run until SIGINT/SIGTERM).
        #[arg(long)]
        duration: Option<f64>,
        /// Table refresh period in seconds.
        #[arg(long, default_value = "1")]
        refresh: f64,
    },
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_new(&cli.log)?)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    match cli.command {
        Command::Check { config } => {
            let checked = vrrp_agent::config::check(&config);
            for w in &checked.warnings {
                eprintln!("{w}");
            }
            for e in &checked.errors {
                eprintln!("{e}");
            }
            match checked.config {
                Some(c) if checked.errors.is_empty() => {
                    println!(
                        "{}: valid ({} instance(s), {} warning(s))",
                        config.display(),
                        c.instances.len(),
                        checked.warnings.len()
                    );
                    Ok(())
                }
                _ => {
                    eprintln!("{}: {} error(s)", config.display(), checked.errors.len());
                    std::process::exit(1);
                }
            }
        }
        Command::Run {
            config,
            no_xdp,
            xdp_mode,
        } => {
            let loaded = match vrrp_agent::config::load(&config) {
                Ok(l) => l,
                Err(errors) => {
                    for e in &errors {
                        eprintln!("{e}");
                    }
                    eprintln!(
                        "{}: {} error(s); not starting",
                        config.display(),
                        errors.len()
                    );
                    std::process::exit(1);
                }
            };
            for w in &loaded.warnings {
                tracing::warn!("{w}");
            }
            let opts = EngineOptions {
                path: PathOptions { no_xdp, xdp_mode },
            };
            rt.block_on(vrrp_agent::engine::run(loaded.config, opts))
        }
        Command::Monitor {
            interface,
            vrid,
            json,
            no_xdp,
            xdp_mode,
            duration,
            refresh,
        } => {
            if let Some(bad) = vrid.iter().find(|&&v| v == 0) {
                bail!("--vrid {bad}: VRIDs are 1 to 255");
            }
            if refresh <= 0.0 {
                bail!("--refresh must be positive");
            }
            let opts = MonitorOptions {
                iface: interface,
                vrids: vrid,
                json,
                path: PathOptions { no_xdp, xdp_mode },
                duration: duration.map(Duration::from_secs_f64),
                refresh: Duration::from_secs_f64(refresh),
            };
            rt.block_on(monitor::run(opts))
        }
    }
}

//! vrrp-agent command line.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Result};
use clap::{CommandFactory, Parser, Subcommand};
use vrrp_agent::config::lint;
use vrrp_agent::engine::EngineOptions;
use vrrp_agent::io::xdp::ModeChoice;
use vrrp_agent::monitor::{self, MonitorOptions};
use vrrp_agent::receive::PathOptions;
use vrrp_agent::run_dir::default_control_socket;

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

/// The instances `drain` and `undrain` act on, and the daemon to ask.
#[derive(clap::Args)]
struct Selection {
    /// Instances to drain or undrain (`vrrp_instance` names).
    instances: Vec<String>,
    /// Every instance.
    #[arg(long, conflicts_with = "instances")]
    all: bool,
    /// Control socket of the daemon to ask [default: /run/vrrpx/control.sock, or
    /// /run/vrrpx/netns/NAME/control.sock inside `ip netns exec NAME`].
    #[arg(long)]
    control: Option<PathBuf>,
}

impl Selection {
    /// The control socket and the named instances (empty for `--all`); naming none
    /// without `--all` is refused, so a bare `vrrp-agent drain` touches nothing.
    fn resolve(self, verb: &str) -> Result<(PathBuf, Vec<String>)> {
        if self.instances.is_empty() && !self.all {
            bail!("name the instances to {verb}, or --all");
        }
        let control = self.control.unwrap_or_else(default_control_socket);
        Ok((control, self.instances))
    }
}

#[derive(Subcommand)]
enum Command {
    /// Run the VRRP instances of a configuration file (keepalived.conf syntax, or native
    /// TOML when the name ends in .toml) until SIGINT/SIGTERM.
    ///
    /// On SIGTERM every master sends a priority-0 advert and removes its addresses, and the
    /// XDP filter's pin is removed. A killed agent's pinned filter stops answering for its
    /// addresses once its heartbeat is older than Master_Down; the next start adopts it and
    /// removes the addresses the crashed run left behind.
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
        /// Control socket for `status`, `reload` and the event stream [default:
        /// /run/vrrpx/control.sock, or /run/vrrpx/netns/NAME/control.sock inside `ip netns
        /// exec NAME`, so each namespace's daemon has its own].
        #[arg(long)]
        control: Option<PathBuf>,
        /// Do not open a control socket.
        #[arg(long)]
        no_control: bool,
        /// Serve Prometheus metrics on this address (e.g. 127.0.0.1:9650), at /metrics.
        #[arg(long)]
        metrics: Option<std::net::SocketAddr>,
        /// Also serve, on the same page, the metric names and labels of another exporter,
        /// so dashboards and alerts written for it keep working: `keepalived-exporter`
        /// (mehdy/keepalived-exporter, formerly cafebazaar's).
        #[arg(long, value_enum, requires = "metrics")]
        metrics_compat: Option<vrrp_agent::control::Compat>,
        /// Real-time scheduling priority (SCHED_RR, 1-99, reset for scripts and notify
        /// programs) so adverts go out on time on a busy box; 0 keeps normal scheduling.
        /// [default: `vrrp_rt_priority` from global_defs, else 10]
        #[arg(long)]
        realtime_priority: Option<i32>,
        /// Do not lock the daemon's memory (mlockall); locked by default so a page-in
        /// never delays an advert.
        #[arg(long)]
        no_mlock: bool,
        /// Record every input of the protocol core (adverts, timers, health, priorities)
        /// to FILE as JSON lines, so an incident can be replayed as a test.
        #[arg(long, value_name = "FILE")]
        record: Option<PathBuf>,
    },
    /// Show the running daemon's instances: state, priorities and why they differ, the
    /// master heard, adverts sent/received, last transition, timer margin, rejections.
    Status {
        /// The whole snapshot as JSON.
        #[arg(long)]
        json: bool,
        /// Control socket of the daemon to ask [default: /run/vrrpx/control.sock, or
        /// /run/vrrpx/netns/NAME/control.sock inside `ip netns exec NAME`].
        #[arg(long)]
        control: Option<PathBuf>,
    },
    /// Make the running daemon re-read its configuration (as SIGHUP does). Unchanged
    /// instances keep their state; a file that fails validation changes nothing.
    Reload {
        /// Control socket of the daemon to ask [default: /run/vrrpx/control.sock, or
        /// /run/vrrpx/netns/NAME/control.sock inside `ip netns exec NAME`].
        #[arg(long)]
        control: Option<PathBuf>,
    },
    /// Maintenance: hand every master role of the named instances (or `--all`) over at
    /// once (priority-0 advert, addresses released) and keep them out of Master until
    /// `vrrp-agent undrain`, also across a restart or reboot (state kept in
    /// /var/lib/vrrpx). `--soft` only lowers their priority to 1, so this node still
    /// serves when no other router can.
    Drain {
        #[command(flatten)]
        selection: Selection,
        /// Lower the priority to 1 instead of leaving Master.
        #[arg(long)]
        soft: bool,
    },
    /// End the maintenance of the named instances (or `--all`): they take part in
    /// elections again with their own priority.
    Undrain {
        #[command(flatten)]
        selection: Selection,
    },
    /// Follow the running daemon's events (transitions, split brain) as JSON lines with
    /// sequence numbers.
    Events {
        /// Control socket of the daemon to ask [default: /run/vrrpx/control.sock, or
        /// /run/vrrpx/netns/NAME/control.sock inside `ip netns exec NAME`].
        #[arg(long)]
        control: Option<PathBuf>,
    },
    /// Check a configuration file without running it (like `keepalived -t`): prints every
    /// error and warning with file:line, then checks it against this host (interfaces and
    /// their addresses) and against the files of its peers (`--peer`).
    ///
    /// Exit status as `keepalived -t`: 0 no errors (warnings allowed), 4 the configuration
    /// cannot run (invalid, or the host lacks an interface it names), 5 it would run but an
    /// election breaks or splits (a mismatch with a peer, a virtual address that is the
    /// host's own or in two instances).
    Check {
        /// Configuration file.
        #[arg(
            short = 'f',
            long = "config",
            default_value = "/etc/keepalived/keepalived.conf"
        )]
        config: PathBuf,
        /// The configuration of another router of the same virtual routers; repeatable.
        /// Instances are matched by VRID and segment and compared.
        #[arg(long = "peer", value_name = "FILE")]
        peers: Vec<PathBuf>,
        /// Do not check against this host (for a machine that is not the target).
        #[arg(long)]
        no_host: bool,
        /// One JSON object on stdout: {"file", "exit", "errors": [...], "warnings": [...]},
        /// each {"code", "message", "file", "line", "instance", "fatal", "peer_file",
        /// "peer_line"}.
        #[arg(long)]
        json: bool,
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
    /// Write the man pages, vrrp-agent(8) and one per subcommand, into DIR (packaging).
    #[command(hide = true)]
    GenerateMan { dir: PathBuf },
    /// Print the completion script for SHELL on stdout (packaging).
    #[command(hide = true)]
    Completions { shell: clap_complete::Shell },
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_new(&cli.log)?;
    if std::env::var_os("JOURNAL_STREAM").is_some() {
        // Under systemd: journald stamps each line itself, so no time and no colour.
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .with_ansi(false)
            .without_time()
            .init();
    } else {
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init();
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    match cli.command {
        Command::Check {
            config,
            peers,
            no_host,
            json,
        } => {
            let (findings, instances, security) = rt.block_on(check(&config, &peers, no_host));
            let status = lint::exit_status(&findings);
            if json {
                println!("{}", lint::to_json(&config, &findings));
            } else {
                for f in &findings {
                    eprintln!("{f}");
                }
                let errors = findings.iter().filter(|f| f.is_error()).count();
                let warnings = findings.len() - errors;
                for line in &security {
                    println!("security: {line}");
                }
                if status == 0 {
                    println!(
                        "{}: valid ({instances} instance(s), {warnings} warning(s))",
                        config.display()
                    );
                } else {
                    eprintln!(
                        "{}: {errors} error(s), {warnings} warning(s)",
                        config.display()
                    );
                }
            }
            std::process::exit(status);
        }
        Command::Status { json, control } => rt.block_on(async {
            let control = control.unwrap_or_else(default_control_socket);
            let status = vrrp_agent::control::client::status(&control).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&status)?);
            } else {
                print!("{}", vrrp_agent::control::render_status(&status));
            }
            Ok(())
        }),
        Command::Reload { control } => rt.block_on(async {
            let control = control.unwrap_or_else(default_control_socket);
            vrrp_agent::control::client::reload(&control).await?;
            println!("reloaded");
            Ok(())
        }),
        Command::Drain { selection, soft } => rt.block_on(async {
            let (control, instances) = selection.resolve("drain")?;
            vrrp_agent::control::client::drain(&control, &instances, soft).await?;
            println!("drained{}", if soft { " (soft: priority 1)" } else { "" });
            Ok(())
        }),
        Command::Undrain { selection } => rt.block_on(async {
            let (control, instances) = selection.resolve("undrain")?;
            vrrp_agent::control::client::undrain(&control, &instances).await?;
            println!("undrained");
            Ok(())
        }),
        Command::Events { control } => rt.block_on(async {
            let control = control.unwrap_or_else(default_control_socket);
            let mut stream = vrrp_agent::control::client::subscribe(&control).await?;
            while let Some(ev) = stream.next().await? {
                println!("{ev}");
            }
            Ok(())
        }),
        Command::Run {
            config,
            no_xdp,
            xdp_mode,
            control,
            no_control,
            metrics,
            metrics_compat,
            realtime_priority,
            no_mlock,
            record,
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
            let rt_priority = realtime_priority
                .or(loaded.config.rt_priority)
                .unwrap_or(vrrp_agent::realtime::DEFAULT_PRIORITY);

            // Many notify scripts, checks and metrics clients must not run the daemon out
            // of descriptors (keepalived raises the limit too).
            if let Err(e) = vrrp_agent::rlimit::raise_nofile() {
                tracing::warn!(
                    error = format!("{e:#}"),
                    "could not raise the open-file limit"
                );
            }
            // One daemon per network namespace: a second would remove the first one's
            // addresses as leftovers and answer for the same virtual routers.
            let lock = match vrrp_agent::run_dir::DaemonLock::acquire() {
                Ok(l) => l,
                Err(e) => {
                    eprintln!("vrrp-agent: {e:#}");
                    std::process::exit(1);
                }
            };
            tracing::debug!(lock = %lock.path().display(), "daemon lock held");
            // Pins a dead predecessor left for interfaces we no longer run (all of them
            // without XDP) are removed: nothing of ours stays there (docs/kernel-guard.md).
            let ours: Vec<&str> = if no_xdp {
                Vec::new()
            } else {
                loaded
                    .config
                    .instances
                    .iter()
                    .map(|i| i.interface.as_str())
                    .collect()
            };
            vrrp_agent::io::pin::remove_unconfigured(&ours);
            let opts = EngineOptions {
                path: PathOptions {
                    no_xdp,
                    xdp_mode,
                    pin: true,
                },
                config_path: Some(config.clone()),
                control_socket: (!no_control)
                    .then(|| control.unwrap_or_else(default_control_socket)),
                realtime: (rt_priority, !no_mlock),
                record,
                metrics,
                metrics_compat,
            };
            let result = rt.block_on(vrrp_agent::engine::run(loaded.config, opts));
            drop(lock);
            result
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
                path: PathOptions {
                    no_xdp,
                    xdp_mode,
                    pin: false,
                },
                duration: duration.map(Duration::from_secs_f64),
                refresh: Duration::from_secs_f64(refresh),
            };
            rt.block_on(monitor::run(opts))
        }
        Command::GenerateMan { dir } => generate_man(&dir),
        Command::Completions { shell } => {
            // clap_complete's bash script offers hidden subcommands too; offer only the
            // visible ones (clap cannot drop a subcommand, so rebuild the root).
            let full = Cli::command();
            let mut visible = clap::Command::new("vrrp-agent")
                .version(env!("CARGO_PKG_VERSION"))
                .args(full.get_arguments().cloned())
                .subcommands(full.get_subcommands().filter(|c| !c.is_hide_set()).cloned());
            clap_complete::generate(shell, &mut visible, "vrrp-agent", &mut std::io::stdout());
            Ok(())
        }
    }
}

/// The package's man pages come from the same definitions as `--help`, so they cannot
/// drift: vrrp-agent(8) and vrrp-agent-SUBCOMMAND(8) for each visible subcommand, each
/// ending with the files the package installs and a pointer to vrrpx.conf(5).
fn generate_man(dir: &std::path::Path) -> Result<()> {
    const FILES: &str = r#".SH FILES
.TP
.I /etc/keepalived/keepalived.conf
The configuration the packaged service reads (keepalived.conf syntax; a name ending in
\fI.toml\fR is read as the native format).
.TP
.I /etc/default/vrrpx
\fBVRRPX_CONFIG\fR, the configuration file of the service, and \fBVRRPX_OPTS\fR, extra
options for \fBvrrp-agent run\fR.
.TP
.I /run/vrrpx/control.sock
The control socket of \fBstatus\fR, \fBreload\fR and \fBevents\fR.
.SH SEE ALSO
.BR vrrpx.conf (5),
.BR keepalived (8),
.BR systemctl (1)
"#;
    std::fs::create_dir_all(dir)?;
    let mut root = Cli::command().disable_help_subcommand(true);
    root.build();
    let pages = std::iter::once(root.clone())
        .chain(root.get_subcommands().filter(|c| !c.is_hide_set()).cloned());
    for cmd in pages {
        let man = clap_mangen::Man::new(cmd)
            .section("8")
            .source(concat!("vrrpx ", env!("CARGO_PKG_VERSION")))
            .manual("System Administration");
        let path = dir.join(man.get_filename());
        let mut page = Vec::new();
        man.render(&mut page)?;
        page.extend_from_slice(FILES.as_bytes());
        std::fs::write(&path, page)
            .map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))?;
    }
    Ok(())
}

/// Everything `check` reports about `path`: validation, then (when it is valid) the lint
/// layer against the peers' files and this host; and the number of instances.
async fn check(
    path: &Path,
    peers: &[PathBuf],
    no_host: bool,
) -> (Vec<lint::Finding>, usize, Vec<String>) {
    let mine = vrrp_agent::config::check(path);
    let mut findings = lint::from_validation(&mine);
    let Some(config) = &mine.config else {
        return (findings, 0, Vec::new());
    };
    let side = lint::Side {
        file: path,
        config,
        lines: &mine.locations.instances,
    };
    findings.extend(lint::smells::check(&side));
    for peer in peers {
        let theirs = vrrp_agent::config::check(peer);
        // The peer's own errors count (its router cannot run); its warnings are its own
        // business, reported by checking it.
        findings.extend(
            lint::from_validation(&theirs)
                .into_iter()
                .filter(|f| f.is_error()),
        );
        if let Some(peer_config) = &theirs.config {
            let other = lint::Side {
                file: peer,
                config: peer_config,
                lines: &theirs.locations.instances,
            };
            findings.extend(lint::peer::compare(&side, &other));
        }
    }
    if !no_host {
        match lint::local_host::gather(&lint::host::interface_names(&side)).await {
            Ok(host) => findings.extend(lint::host::check(&side, &host)),
            Err(e) => findings.push(lint::Finding::new(
                lint::Severity::Warning,
                "host-unreadable",
                &vrrp_agent::config::model::Location {
                    file: path.to_path_buf(),
                    line: 0,
                },
                format!("the host checks did not run: {e:#}"),
            )),
        }
    }
    lint::sort(&mut findings);
    (
        findings,
        config.instances.len(),
        lint::security::summary(config),
    )
}

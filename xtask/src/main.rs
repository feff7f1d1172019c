//! `cargo xtask`: everything around the code. Each command sets the machine up first when
//! something is missing, so a fresh clone needs nothing else.

mod agent_cli;
mod bench;
mod deb;
mod demo;
mod failover_demo;
mod narrate;
mod setup;
mod soak;

use std::path::PathBuf;
use std::process::Command;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "xtask",
    about = "vrrpx developer tasks: set-up, build, demo, tests, benchmarks"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Install what is missing: Debian packages, rust-src, bpf-linker (idempotent).
    Setup,
    /// Build the XDP object (target/bpfel-unknown-none/release/vrrp-ebpf).
    BuildEbpf,
    /// Build the XDP object and target/release/vrrp-agent.
    Build,
    /// Build the Debian package target/debian/vrrpx_VERSION_ARCH.deb (agent with the XDP
    /// object embedded, vrrpx.service, /etc/default/vrrpx, man pages, completions).
    Deb,
    /// The lab demo: three vrrp-agent routers and a client; link cut and graceful
    /// handover with the client-observed outage beside the RFC floor.
    Demo {
        /// Instead: keepalived routers watched by `vrrp-agent monitor`, a junk burst and
        /// the XDP counters that caught it.
        #[arg(long)]
        monitor: bool,
    },
    /// Run every test: unit, XDP verdicts, wire vectors, network namespaces; fmt and clippy.
    Test {
        /// Extra arguments for `cargo test` (e.g. a test name filter).
        #[arg(trailing_var_arg = true)]
        args: Vec<String>,
    },
    /// Repeated failovers, reloads and floods for N minutes, then checks for leaks and
    /// for transition counts that match the failovers caused.
    Soak {
        #[arg(long, default_value = "10")]
        minutes: f64,
    },
    /// Benchmarks that print figures.
    Bench {
        #[command(subcommand)]
        which: bench::Which,
    },
}

/// The workspace root.
pub fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Run a command, echoing it; fail if it fails.
pub fn sh(cmd: &mut Command) -> Result<()> {
    eprintln!("+ {}", format_cmd(cmd));
    let status = cmd
        .status()
        .with_context(|| format!("starting {}", format_cmd(cmd)))?;
    if !status.success() {
        bail!("{} failed: {status}", format_cmd(cmd));
    }
    Ok(())
}

/// Run a command quietly; true if it succeeded.
pub fn sh_ok(cmd: &mut Command) -> bool {
    cmd.stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

fn format_cmd(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|s| s.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

fn require_root() -> Result<()> {
    if !vrrpx_tests::is_root() {
        bail!("this needs root (network namespaces, XDP, apt): run it as root");
    }
    Ok(())
}

/// Set up what is missing and build the XDP object and the release agent.
pub fn build_all() -> Result<PathBuf> {
    let tc = setup::ebpf_toolchain()?;
    setup::build_ebpf(&tc)?;
    sh(Command::new("cargo").current_dir(workspace()).args([
        "build",
        "--release",
        "-p",
        "vrrp-agent",
    ]))?;
    Ok(workspace().join("target/release/vrrp-agent"))
}

fn test(args: &[String]) -> Result<()> {
    require_root()?;
    setup::apt(setup::APT_PACKAGES)?;
    // The package test (tests/deb_package.rs) checks the package this builds; building it
    // also builds the XDP object and the release agent the other tests run.
    let deb = deb::build()?;
    eprintln!("built {}", deb.display());
    let ws = workspace();
    sh(Command::new("cargo")
        .current_dir(&ws)
        .args(["fmt", "--all", "--", "--check"]))?;
    sh(Command::new("cargo").current_dir(&ws).args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    let mut cmd = Command::new("cargo");
    cmd.current_dir(&ws)
        // Every binary runs even after one fails, so a run shows the whole picture.
        .args(["test", "--workspace", "--no-fail-fast"])
        .args(args);
    eprintln!("+ {}", format_cmd(&cmd));
    let mut child = cmd.stdout(std::process::Stdio::piped()).spawn()?;
    // Echo cargo's output and add up its per-binary results into one closing line.
    let (mut passed, mut failed) = (0u64, 0u64);
    let stdout = child.stdout.take().unwrap();
    for line in std::io::BufRead::lines(std::io::BufReader::new(stdout)) {
        let line = line?;
        println!("{line}");
        if let Some(rest) = line.strip_prefix("test result: ") {
            for part in rest.split(';') {
                let mut it = part.split_whitespace().rev();
                let (Some(word), Some(n)) = (it.next(), it.next()) else {
                    continue;
                };
                match (word, n.parse::<u64>()) {
                    ("passed", Ok(n)) => passed += n,
                    ("failed", Ok(n)) => failed += n,
                    _ => {}
                }
            }
        }
    }
    let status = child.wait()?;
    println!("\nall test binaries:");
    println!("{passed} passed, {failed} failed");
    if !status.success() {
        bail!("cargo test failed: {status}");
    }
    if passed == 0 {
        bail!("no test ran");
    }
    Ok(())
}

fn main() -> Result<()> {
    match Cli::parse().cmd {
        Cmd::Setup => {
            require_root()?;
            setup::apt(setup::APT_PACKAGES)?;
            let tc = setup::ebpf_toolchain()?;
            setup::cargo_deb()?;
            eprintln!(
                "setup: ready ({:?}, bpf-linker and cargo-deb in {})",
                tc.compiler,
                tc.linker_bin.display()
            );
            Ok(())
        }
        Cmd::BuildEbpf => {
            let tc = setup::ebpf_toolchain()?;
            let obj = setup::build_ebpf(&tc)?;
            eprintln!("built {}", obj.display());
            Ok(())
        }
        Cmd::Build => {
            let agent = build_all()?;
            eprintln!("built {}", agent.display());
            Ok(())
        }
        Cmd::Deb => {
            let deb = deb::build()?;
            println!("{}", deb.display());
            Ok(())
        }
        Cmd::Demo { monitor } => {
            require_root()?;
            setup::apt(setup::APT_PACKAGES)?;
            let agent = build_all()?;
            if monitor {
                demo::run(&agent)
            } else {
                failover_demo::run(&agent)
            }
        }
        Cmd::Test { args } => test(&args),
        Cmd::Soak { minutes } => {
            require_root()?;
            setup::apt(setup::APT_PACKAGES)?;
            let agent = build_all()?;
            soak::run(&agent, minutes)
        }
        Cmd::Bench { which } => {
            require_root()?;
            setup::apt(setup::APT_PACKAGES)?;
            let agent = build_all()?;
            bench::run(which, &agent)
        }
    }
}

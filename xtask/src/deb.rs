//! `cargo xtask deb`: the Debian package `target/debian/vrrpx_VERSION_ARCH.deb`.
//!
//! cargo-deb packs it from `[package.metadata.deb]` in vrrp-agent/Cargo.toml. Before it
//! runs, this builds the XDP object and the release agent (whose build script embeds the
//! object, so the packaged binary needs nothing from the repository) and generates what
//! the package ships besides: the man pages and shell completions, from the agent's own
//! command-line definition, and vrrpx.conf(5), from the keyword reference in
//! configs/README.md. cargo-deb compresses the man pages and the changelog and writes the
//! copyright file from the licence.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::{setup, sh, workspace};

/// Where the generated assets go; vrrp-agent/Cargo.toml names them under
/// `target/release/vrrpx-deb/`, the prefix cargo-deb resolves to the real target directory.
fn assets_dir() -> PathBuf {
    workspace().join("target/release/vrrpx-deb")
}

/// The written parts of vrrpx.conf(5) (name, description, files); the marker line is
/// replaced by the reference sections of configs/README.md.
const CONF_PAGE_HEAD: &str = "packaging/vrrpx.conf.5.md";
const REFERENCE_MARKER: &str = "<!-- reference -->";
const REFERENCE: &str = "configs/README.md";
/// The first heading of the reference part of configs/README.md; the page takes it and
/// everything after it (the example table before it is about the repository's files).
const REFERENCE_START: &str = "## Which reader";

/// Build the package and return its path.
pub fn build() -> Result<PathBuf> {
    let cargo_deb = setup::cargo_deb()?;
    let agent = crate::build_all()?;
    require_embedded_xdp(&agent)?;
    let dir = assets_dir();
    let _ = std::fs::remove_dir_all(&dir);
    generate_man_pages(&agent, &dir.join("man"))?;
    generate_completions(&agent, &dir.join("completions"))?;
    let mut cmd = Command::new(&cargo_deb);
    cmd.current_dir(workspace())
        .args(["--no-build", "-p", "vrrp-agent"]);
    eprintln!("+ {}", cargo_deb.display());
    let out = cmd
        .output()
        .with_context(|| format!("starting {}", cargo_deb.display()))?;
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    if !out.status.success() {
        bail!("cargo-deb failed: {}", out.status);
    }
    // cargo-deb prints the path of the package it wrote as its last line.
    let stdout = String::from_utf8_lossy(&out.stdout);
    let deb = stdout
        .lines()
        .rev()
        .find(|l| l.ends_with(".deb"))
        .map(PathBuf::from)
        .context("cargo-deb did not print the path of the package")?;
    Ok(deb)
}

/// The build script embeds an empty object when the eBPF build is missing (so clippy and
/// unit tests build anyway); a package must never ship such an agent.
fn require_embedded_xdp(agent: &Path) -> Result<()> {
    let object = workspace().join("target/bpfel-unknown-none/release/vrrp-ebpf");
    let object_bytes = std::fs::read(&object)
        .with_context(|| format!("reading the XDP object {}", object.display()))?;
    let agent_bytes =
        std::fs::read(agent).with_context(|| format!("reading {}", agent.display()))?;
    if object_bytes.is_empty()
        || !agent_bytes
            .windows(object_bytes.len())
            .any(|w| w == object_bytes)
    {
        bail!(
            "{} does not embed {}: rebuild it after `cargo xtask build-ebpf`",
            agent.display(),
            object.display()
        );
    }
    Ok(())
}

/// vrrp-agent(8) and its subcommands' pages from the agent itself, and vrrpx.conf(5),
/// compressed as Debian policy asks (`gzip -9n`: no name or time stamp, so a rebuild is
/// byte-identical). cargo-deb compresses man pages only when they are not under target/.
fn generate_man_pages(agent: &Path, dir: &Path) -> Result<()> {
    sh(Command::new(agent).arg("generate-man").arg(dir))?;
    let page = conf_page(&workspace())?;
    std::fs::write(dir.join("vrrpx.conf.5"), page)?;
    let mut pages = Vec::new();
    for e in std::fs::read_dir(dir)? {
        pages.push(e?.path());
    }
    sh(Command::new("gzip").args(["-9n", "--force"]).args(&pages))?;
    Ok(())
}

/// The markdown source of vrrpx.conf(5), rendered to roff by mandown.
fn conf_page(ws: &Path) -> Result<String> {
    let read =
        |rel: &str| std::fs::read_to_string(ws.join(rel)).with_context(|| format!("reading {rel}"));
    let head = read(CONF_PAGE_HEAD)?;
    let readme = read(REFERENCE)?;
    let start = readme
        .find(&format!("\n{REFERENCE_START}\n"))
        .with_context(|| format!("{REFERENCE} has no `{REFERENCE_START}` heading"))?;
    if !head.contains(REFERENCE_MARKER) {
        bail!("{CONF_PAGE_HEAD} has no `{REFERENCE_MARKER}` line");
    }
    let markdown = head.replace(REFERENCE_MARKER, &readme[start + 1..]);
    Ok(mandown::convert(&markdown, "VRRPX.CONF", 5))
}

/// bash, zsh and fish completions, named where each shell's vendor directory expects.
fn generate_completions(agent: &Path, dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    for (shell, file) in [
        ("bash", "vrrp-agent"),
        ("zsh", "_vrrp-agent"),
        ("fish", "vrrp-agent.fish"),
    ] {
        let out = Command::new(agent)
            .args(["completions", shell])
            .output()
            .with_context(|| format!("starting {}", agent.display()))?;
        if !out.status.success() || out.stdout.is_empty() {
            bail!(
                "{} completions {shell} failed: {}",
                agent.display(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::fs::write(dir.join(file), out.stdout)?;
    }
    Ok(())
}

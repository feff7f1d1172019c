//! Idempotent machine set-up: Debian packages for the tests and demo, and the eBPF
//! toolchain (nightly rust-src, or Debian's BPF-capable rustc as a fallback, plus
//! bpf-linker linked against the toolchain's own LLVM), and cargo-deb for `cargo xtask
//! deb`. A second run only checks. Why each step is there: `docs/toolchain.md`.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::{sh, sh_ok, workspace};

/// Debian packages the demo, tests and benchmarks use.
pub const APT_PACKAGES: &[&str] = &[
    "iproute2",
    "procps",
    "iputils-ping",
    "keepalived",
    "frr",
    "tshark",
    "tcpdump",
    "netsniff-ng",
    "nftables",
    // The benchmarks' switch forwards on its own threads (GRO on its ports).
    "ethtool",
    // promtool, which checks configs/prometheus/ (the package also brings the server).
    "prometheus",
];

/// Where tools we build ourselves live, shared by every clone on this machine.
pub fn cache_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("VRRPX_CACHE") {
        return PathBuf::from(d);
    }
    let home = std::env::var_os("HOME").unwrap_or_else(|| "/root".into());
    PathBuf::from(home).join(".cache/vrrpx")
}

fn installed(pkg: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", pkg])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
        .unwrap_or(false)
}

/// Install whichever of `pkgs` are missing.
pub fn apt(pkgs: &[&str]) -> Result<()> {
    let missing: Vec<&str> = pkgs.iter().copied().filter(|p| !installed(p)).collect();
    if missing.is_empty() {
        return Ok(());
    }
    eprintln!("setup: installing Debian packages: {}", missing.join(" "));
    sh(Command::new("apt-get").args(["update", "-qq"]))?;
    sh(Command::new("apt-get")
        .env("DEBIAN_FRONTEND", "noninteractive")
        .args(["install", "-y", "-qq", "--no-install-recommends"])
        .args(&missing))?;
    Ok(())
}

/// How the eBPF crate gets compiled on this machine.
#[derive(Clone, Debug)]
pub enum EbpfCompiler {
    /// rustup nightly with rust-src: `cargo +nightly build -Z build-std=core`.
    Nightly,
    /// Debian's rustc with a prebuilt `core` for bpfel (no build-std).
    Debian,
}

#[derive(Clone, Debug)]
pub struct EbpfToolchain {
    pub compiler: EbpfCompiler,
    /// Directory holding `bpf-linker`.
    pub linker_bin: PathBuf,
}

fn nightly_sysroot() -> Option<PathBuf> {
    let out = Command::new("rustc")
        .args(["+nightly", "--print", "sysroot"])
        .env_remove("RUSTUP_TOOLCHAIN")
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    Some(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

fn stable_sysroot() -> Option<PathBuf> {
    let out = Command::new("rustc")
        .args(["--print", "sysroot"])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

/// Route A: nightly with rust-src.
fn nightly_with_src() -> Option<PathBuf> {
    let sysroot = nightly_sysroot()?;
    let core = sysroot.join("lib/rustlib/src/rust/library/core");
    if core.exists() {
        return Some(sysroot);
    }
    eprintln!("setup: adding rust-src to the nightly toolchain");
    let ok = sh_ok(Command::new("rustup").args([
        "component",
        "add",
        "--toolchain",
        "nightly",
        "rust-src",
    ]));
    (ok && core.exists()).then_some(sysroot)
}

/// Route B: Debian's rustc with libstd for BPF.
fn debian_rustc() -> Result<()> {
    apt(&["rustc-web", "cargo-web", "libstd-rust-web-dev-bpf"])
}

/// The libLLVM shared object a rustup toolchain ships, and its major version.
fn toolchain_llvm(sysroot: &Path) -> Option<(PathBuf, u32)> {
    let dir = sysroot.join("lib");
    let mut found = None;
    for e in std::fs::read_dir(&dir).ok()?.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        // libLLVM.so.22.1-rust-1.97.0-nightly
        if let Some(rest) = name.strip_prefix("libLLVM.so.") {
            let major = rest.split('.').next()?.parse().ok()?;
            found = Some((e.path(), major));
        }
    }
    found
}

/// bpf-linker 0.13 built against the toolchain's own LLVM (no system LLVM needed).
fn bpf_linker(sysroot: &Path) -> Result<PathBuf> {
    let cache = cache_dir();
    let bin = cache.join("tools/bin");
    let (lib, major) = toolchain_llvm(sysroot)
        .with_context(|| format!("no libLLVM.so.* under {}/lib", sysroot.display()))?;
    // The linker loads LLVM through these links; remake them every time so a replaced
    // toolchain is picked up.
    let llvm = cache.join(format!("llvm-{major}"));
    let libdir = llvm.join("lib");
    std::fs::create_dir_all(&libdir)?;
    for name in [
        "libLLVM.so".to_string(),
        lib.file_name().unwrap().to_string_lossy().into_owned(),
    ] {
        let link = libdir.join(name);
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(&lib, &link)?;
    }
    let linker = bin.join("bpf-linker");
    let stamp = cache.join(format!("tools/bpf-linker.llvm-{major}"));
    if linker.exists() && stamp.exists() && sh_ok(Command::new(&linker).arg("--version")) {
        return Ok(bin);
    }
    eprintln!(
        "setup: building bpf-linker 0.13.0 against {} (about a minute)",
        lib.display()
    );
    sh(Command::new("cargo")
        .env("LLVM_PREFIX", &llvm)
        .env_remove("RUSTUP_TOOLCHAIN")
        .args([
            "+nightly",
            "install",
            "--locked",
            "bpf-linker@0.13.0",
            "--no-default-features",
        ])
        .args(["--features", &format!("llvm-{major}")])
        .arg("--root")
        .arg(cache.join("tools"))
        .arg("--force"))?;
    std::fs::write(&stamp, lib.to_string_lossy().as_bytes())?;
    Ok(bin)
}

/// The cargo-deb release `cargo xtask deb` uses: 3.8 declares rust-version 1.85, so it
/// builds on our stable 1.95 (`--locked`: the dependency versions its authors tested).
const CARGO_DEB_VERSION: &str = "3.8.0";

/// cargo-deb in the tools directory beside bpf-linker; installed once, then only checked.
pub fn cargo_deb() -> Result<PathBuf> {
    let root = cache_dir().join("tools");
    let bin = root.join("bin/cargo-deb");
    let current = Command::new(&bin)
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains(CARGO_DEB_VERSION))
        .unwrap_or(false);
    if current {
        return Ok(bin);
    }
    eprintln!("setup: building cargo-deb {CARGO_DEB_VERSION} (a few minutes)");
    sh(Command::new("cargo")
        .args([
            "install",
            "--locked",
            "cargo-deb",
            "--version",
            CARGO_DEB_VERSION,
        ])
        .arg("--root")
        .arg(&root)
        .arg("--force"))?;
    Ok(bin)
}

/// Make sure the eBPF crate can be built; returns how.
pub fn ebpf_toolchain() -> Result<EbpfToolchain> {
    if std::env::var("VRRPX_EBPF_ROUTE").as_deref() != Ok("debian") {
        if let Some(sysroot) = nightly_with_src() {
            let linker_bin = bpf_linker(&sysroot)?;
            return Ok(EbpfToolchain {
                compiler: EbpfCompiler::Nightly,
                linker_bin,
            });
        }
        eprintln!("setup: nightly rust-src unavailable; falling back to Debian's rustc for BPF");
    }
    debian_rustc()?;
    let sysroot = nightly_sysroot()
        .or_else(stable_sysroot)
        .context("no rustup toolchain to borrow LLVM from for bpf-linker")?;
    let linker_bin = bpf_linker(&sysroot)?;
    Ok(EbpfToolchain {
        compiler: EbpfCompiler::Debian,
        linker_bin,
    })
}

/// Compile the XDP object into target/bpfel-unknown-none/release/vrrp-ebpf.
pub fn build_ebpf(tc: &EbpfToolchain) -> Result<PathBuf> {
    let ws = workspace();
    let path = format!(
        "{}:{}",
        tc.linker_bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut cmd = match tc.compiler {
        EbpfCompiler::Nightly => {
            let mut c = Command::new("cargo");
            c.env_remove("RUSTUP_TOOLCHAIN")
                .args(["+nightly", "build", "-Z", "build-std=core"]);
            c
        }
        EbpfCompiler::Debian => {
            let mut c = Command::new("/usr/bin/cargo");
            c.env("RUSTC", "/usr/bin/rustc")
                .env("RUSTC_BOOTSTRAP", "1")
                .arg("build");
            c
        }
    };
    cmd.current_dir(&ws)
        .env("PATH", path)
        .env_remove("RUSTC")
        .env_remove("RUSTC_WRAPPER")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        // BTF (from debug info) for the receive-state map: the verifier finds the
        // Master_Down timer in its value by type (docs/kernel-state.md).
        .env(
            "CARGO_ENCODED_RUSTFLAGS",
            ["-C", "debuginfo=2", "-C", "link-arg=--btf"].join("\x1f"),
        )
        .args([
            "--release",
            "--target",
            "bpfel-unknown-none",
            "-p",
            "vrrp-ebpf",
            "--bin",
            "vrrp-ebpf",
        ]);
    if let EbpfCompiler::Debian = tc.compiler {
        cmd.env("RUSTC", "/usr/bin/rustc");
    }
    sh(&mut cmd)?;
    let obj = ws.join("target/bpfel-unknown-none/release/vrrp-ebpf");
    if !obj.exists() {
        bail!("the eBPF build finished but {} is missing", obj.display());
    }
    Ok(obj)
}

//! Embed the XDP object built by `cargo xtask build-ebpf`. A build without it still
//! compiles (for clippy, docs and unit tests); the agent then says XDP is unavailable and
//! runs on raw sockets.
use std::path::PathBuf;

fn main() {
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("vrrp-ebpf.o");
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let source = match std::env::var_os("VRRP_EBPF_OBJECT") {
        Some(p) => PathBuf::from(p),
        None => manifest.join("../target/bpfel-unknown-none/release/vrrp-ebpf"),
    };
    println!("cargo:rerun-if-env-changed=VRRP_EBPF_OBJECT");
    println!("cargo:rerun-if-changed={}", source.display());
    let bytes = std::fs::read(&source).unwrap_or_default();
    if bytes.is_empty() {
        println!(
            "cargo:warning=no eBPF object at {}: run `cargo xtask build-ebpf`; this agent will use raw sockets only",
            source.display()
        );
    }
    std::fs::write(&out, bytes).unwrap();
}

//! Shared test support for vrrpx: frames built byte by byte, network-namespace labs and
//! real peers. Used by the integration tests in this folder, the demo and the benchmarks.

pub mod agent;
pub mod capture;
pub mod events;
pub mod frames;
pub mod fuzz_targets;
pub mod golden;
pub mod inject;
pub mod netns;
pub mod pair;
pub mod peers;
pub mod policies;
pub mod probe;

use std::path::{Path, PathBuf};

/// The workspace root.
pub fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The release agent binary (`cargo xtask build` makes it).
pub fn agent_bin() -> PathBuf {
    workspace().join("target/release/vrrp-agent")
}

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Write an executable (0755) script `path` with `body`.
pub fn write_script(path: &Path, body: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, body).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// A fresh scratch directory under target/ for one test's files.
pub fn scratch(name: &str) -> PathBuf {
    let d = workspace().join("target/test-scratch").join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The bytes of a hex file such as `tests/vectors/*.hex`: `#` lines are comments,
/// whitespace is ignored.
pub fn read_hex(path: &Path) -> Vec<u8> {
    let shown = path.display();
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{shown}: {e}"));
    let digits: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .flat_map(|l| l.chars())
        .filter(|c| !c.is_whitespace())
        .collect();
    assert_eq!(digits.len() % 2, 0, "{shown}: odd number of hex digits");
    (0..digits.len())
        .step_by(2)
        .map(|i| {
            u8::from_str_radix(&digits[i..i + 2], 16)
                .unwrap_or_else(|e| panic!("{shown}: {:?}: {e}", &digits[i..i + 2]))
        })
        .collect()
}

/// Run one frame through the loaded XDP program with BPF_PROG_TEST_RUN: the program's
/// action and the frame as it came out (the program only reads, so what passes is the
/// frame as it went in).
pub fn xdp_test_run(ebpf: &aya::Ebpf, frame: &[u8]) -> (u32, Vec<u8>) {
    use aya::programs::{TestRun, TestRunOptions, Xdp};
    let prog: &Xdp = ebpf
        .program(vrrp_ebpf::abi::PROGRAM_NAME)
        .expect("the XDP program in the object")
        .try_into()
        .expect("an XDP program");
    let mut out = vec![0u8; frame.len().max(64) + 256];
    let res = prog
        .test_run(TestRunOptions {
            data_in: Some(frame),
            data_out: Some(&mut out),
            ..TestRunOptions::default()
        })
        .expect("BPF_PROG_TEST_RUN");
    out.truncate(res.data_size_out as usize);
    (res.return_value, out)
}

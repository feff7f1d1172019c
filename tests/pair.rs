//! The two-router lab the network tests share: hosts r1 (10.9.0.1, fd00:9::1) and r2
//! (10.9.0.2, fd00:9::2) on one bridge, as the example files in configs/ expect, and the
//! small checks every test of it makes.

use std::path::PathBuf;

use crate::netns::Lab;
use crate::{agent_bin, is_root, workspace};

/// Network tests need root and the release agent (`cargo xtask test` provides both).
pub fn preconditions() {
    assert!(
        is_root(),
        "netns tests need root; run `cargo xtask test` as root"
    );
    assert!(
        agent_bin().exists(),
        "{} missing: run `cargo xtask test`",
        agent_bin().display()
    );
}

/// One of the example files users copy, in configs/.
pub fn config(name: &str) -> PathBuf {
    workspace().join("configs").join(name)
}

/// Hosts r1 and r2 on one bridge.
pub fn pair_lab(prefix: &str) -> Lab {
    let mut lab = Lab::new(prefix).unwrap();
    lab.host("r1", "eth0", &["10.9.0.1/24", "fd00:9::1/64"])
        .unwrap();
    lab.host("r2", "eth0", &["10.9.0.2/24", "fd00:9::2/64"])
        .unwrap();
    lab
}

/// Whether host `h` holds `addr` (CIDR, IPv4) on eth0.
pub fn has(lab: &Lab, h: &str, addr: &str) -> bool {
    lab.addrs(h, "eth0").unwrap().iter().any(|a| a == addr)
}

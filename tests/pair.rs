//! The two-router lab the network tests share: hosts r1 (10.9.0.1, fd00:9::1) and r2
//! (10.9.0.2, fd00:9::2) on one bridge, as the example files in configs/ expect, and the
//! small checks every test of it makes.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::netns::{wait_for, Lab};
use crate::{agent_bin, is_root, scratch, workspace};

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

/// The virtual address of the example pair (VRID 51 in configs/pair-*.conf).
pub const VIP: &str = "10.9.0.100/24";

/// A configuration kept with the tests: `fixture("engine/sync-a.conf")` is
/// tests/engine/sync-a.conf.
pub fn fixture(path: &str) -> PathBuf {
    workspace().join("tests").join(path)
}

/// One of the example files users copy, in configs/.
pub fn config(name: &str) -> PathBuf {
    workspace().join("configs").join(name)
}

/// A network test's start: the preconditions checked, a fresh scratch directory `name`
/// and hosts r1 and r2 (see [`pair_lab`]) in a lab named after it.
pub fn pair_test(name: &str) -> (PathBuf, Lab) {
    preconditions();
    (scratch(name), pair_lab(&format!("vxt-{name}-")))
}

/// A network test's start with an empty lab (its hosts are the test's own).
pub fn bare_test(name: &str) -> (PathBuf, Lab) {
    preconditions();
    (scratch(name), Lab::new(&format!("vxt-{name}-")).unwrap())
}

/// A configuration file by name: `engine/sync-a.conf` (with a folder) is one kept with
/// the tests, `pair-master.conf` one of the examples in configs/.
pub fn conf_file(name: &str) -> PathBuf {
    if name.contains('/') {
        fixture(name)
    } else {
        config(name)
    }
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

/// Whether host `h` holds `addr` (CIDR, either family) on eth0.
pub fn has(lab: &Lab, h: &str, addr: &str) -> bool {
    lab.holds(h, "eth0", addr)
}

/// Whether `h` holds `addr` on eth0 and `other` does not.
pub fn only(lab: &Lab, h: &str, other: &str, addr: &str) -> bool {
    has(lab, h, addr) && !has(lab, other, addr)
}

/// Wait until exactly `h` (of `h` and `other`) holds `addr` on eth0; how long it took.
pub fn wait_holder(
    lab: &Lab,
    h: &str,
    other: &str,
    addr: &str,
    limit: Duration,
) -> Option<Duration> {
    let t0 = Instant::now();
    wait_for(limit, || only(lab, h, other, addr)).then(|| t0.elapsed())
}

//! The `vrrp-agent` command lines the demos and benches start besides `run -f FILE`. The
//! agent's CLI and what it prints are all they rely on: nothing here reads its internals.

use std::path::Path;

/// `vrrp-agent monitor -i IFNAME` (the passive observer of a segment), then `extra`.
pub fn monitor<'a>(agent: &'a Path, ifname: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut argv = vec![
        agent.to_str().unwrap_or("vrrp-agent"),
        "monitor",
        "-i",
        ifname,
    ];
    argv.extend_from_slice(extra);
    argv
}

//! Packet captures in a lab host: tcpdump writes what a host's interface carries to a
//! file, and tcpdump or tshark decode it (an implementation other than ours reading our
//! bytes).

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::netns::Lab;

/// Capture up to `count` VRRP packets (either family) on eth0 of host `h` within `limit`
/// into `file`.
pub fn capture_vrrp(lab: &Lab, h: &str, file: &Path, count: usize, limit: Duration) {
    let (secs, count) = (limit.as_secs().to_string(), count.to_string());
    let out = lab
        .command(
            h,
            &[
                "timeout",
                &secs,
                "tcpdump",
                "-Z",
                "root",
                "-nn",
                "-i",
                "eth0",
                "-c",
                &count,
                "-w",
                file.to_str().unwrap(),
                "ip proto 112 or ip6 proto 112",
            ],
        )
        .output()
        .unwrap();
    assert!(
        file.exists(),
        "tcpdump wrote {}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// tcpdump's one-line decode of every packet in `file`.
pub fn tcpdump_decode(file: &Path) -> String {
    let read = Command::new("tcpdump")
        .args(["-r", file.to_str().unwrap(), "-nn"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&read.stdout).into_owned()
}

/// tshark's `fields`, one row per packet.
pub fn tshark_fields(file: &Path, fields: &[&str]) -> Vec<Vec<String>> {
    let mut cmd = Command::new("tshark");
    cmd.args([
        "-r",
        file.to_str().unwrap(),
        "-T",
        "fields",
        "-E",
        "separator=/t",
    ]);
    for f in fields {
        cmd.args(["-e", f]);
    }
    String::from_utf8_lossy(&tshark(&mut cmd))
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect()
}

/// tshark's full decode (`-V`) of `file`.
pub fn tshark_verbose(file: &Path) -> String {
    let mut cmd = Command::new("tshark");
    cmd.args(["-r", file.to_str().unwrap(), "-V"]);
    String::from_utf8_lossy(&tshark(&mut cmd)).into_owned()
}

fn tshark(cmd: &mut Command) -> Vec<u8> {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

//! The watchers: tokio tasks that run checks and look at interfaces and files, and report
//! [`TrackUpdate`]s on a channel. Everything here is an edge; the meaning of the reports is
//! in [`super::state`].
//!
//! Programs run as [`super::program`] says: without a shell, as the configured user, in a
//! process group of their own, killed whole at their timeout. A check never overlaps
//! itself: its task runs one probe at a time, and an interval that passes while a probe
//! still runs is skipped (as keepalived skips a script that is "already running").

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use super::book::{CheckPlan, FilePlan, Observation, RunResult, Source, TrackUpdate};
use super::probe::Probe;
use super::program;
use crate::config::model::RunAs;

pub use super::program::TERM_GRACE;

/// Most of an HTTP response read to find its status line.
const HTTP_HEAD_MAX: usize = 4096;

/// Starts the task that runs `check` every interval, reporting each run on `tx`. The task
/// ends when the receiver is gone.
pub fn spawn_check(check: CheckPlan, tx: mpsc::Sender<TrackUpdate>) -> JoinHandle<()> {
    tokio::spawn(check_loop(check, tx))
}

async fn check_loop(check: CheckPlan, tx: mpsc::Sender<TrackUpdate>) {
    let probe = check.probe();
    // The configuration gives a missing timeout the interval; guard a zero anyway.
    let timeout = if check.timeout.is_zero() {
        check.interval
    } else {
        check.timeout
    };
    let mut ticker = tokio::time::interval(check.interval.max(Duration::from_millis(1)));
    ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
    // The last "cannot start" reason logged, so a broken script is logged once per change
    // of reason rather than at every interval.
    let mut logged: Option<String> = None;
    loop {
        ticker.tick().await;
        let result = match &probe {
            Ok(p) => run_probe(p, check.run_as.as_ref(), timeout).await,
            Err(why) => RunResult::CannotStart(format!("script {:?}: {why}", check.script)),
        };
        match &result {
            RunResult::CannotStart(why) if logged.as_ref() != Some(why) => {
                tracing::error!(check = check.name.as_str(), "cannot start check: {why}");
                logged = Some(why.clone());
            }
            RunResult::CannotStart(_) => {}
            _ if logged.is_some() => {
                tracing::info!(check = check.name.as_str(), "check starts again");
                logged = None;
            }
            _ => {}
        }
        let update = TrackUpdate {
            source: Source::Script(check.name.clone()),
            observation: Observation::Run(result),
        };
        if tx.send(update).await.is_err() {
            return;
        }
    }
}

/// Runs one probe to completion or `timeout`; a program runs as `run_as`.
pub async fn run_probe(probe: &Probe, run_as: Option<&RunAs>, timeout: Duration) -> RunResult {
    let timed_out = RunResult::TimedOut {
        after_ms: timeout.as_millis() as u64,
    };
    match probe {
        Probe::Exec { argv } => program::run(argv, run_as, timeout).await,
        Probe::Tcp { target } => {
            match tokio::time::timeout(timeout, TcpStream::connect(target.as_str())).await {
                Ok(Ok(_)) => RunResult::Success,
                Ok(Err(e)) => RunResult::Failed(format!("connect {target}: {e}")),
                Err(_) => timed_out,
            }
        }
        Probe::Http {
            target,
            host_header,
            path,
            expect,
        } => {
            let get = http_status(target, host_header, path);
            match tokio::time::timeout(timeout, get).await {
                Ok(Ok(code)) if code == *expect => RunResult::Success,
                Ok(Ok(code)) => RunResult::Failed(format!("HTTP status {code} (want {expect})")),
                Ok(Err(e)) => RunResult::Failed(format!("http://{host_header}{path}: {e}")),
                Err(_) => timed_out,
            }
        }
    }
}

/// Sends `GET path HTTP/1.0` to `target` and returns the status code of the answer.
async fn http_status(target: &str, host_header: &str, path: &str) -> io::Result<u16> {
    let mut stream = TcpStream::connect(target).await?;
    let request = format!(
        "GET {path} HTTP/1.0\r\nHost: {host_header}\r\nUser-Agent: vrrpx-track\r\n\
         Connection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await?;
    let mut head = Vec::with_capacity(256);
    let mut buf = [0u8; 512];
    while !head.contains(&b'\n') && head.len() < HTTP_HEAD_MAX {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    parse_status_line(&head).ok_or_else(|| {
        let line = String::from_utf8_lossy(&head);
        let line = line.lines().next().unwrap_or("").trim();
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("not an HTTP status line: {line:?}"),
        )
    })
}

/// `HTTP/1.x NNN reason` → NNN.
pub fn parse_status_line(head: &[u8]) -> Option<u16> {
    let end = head.iter().position(|b| *b == b'\n')?;
    let line = std::str::from_utf8(&head[..end]).ok()?;
    let mut words = line.split_ascii_whitespace();
    if !words.next()?.starts_with("HTTP/") {
        return None;
    }
    let code = words.next()?;
    (code.len() == 3).then_some(())?;
    code.parse().ok()
}

/// Interface state: operstate `up`, or `unknown` for interfaces that do not report carrier
/// (loopback, dummy, some tunnels). `None` when it cannot be read for another reason than
/// the interface being gone (out of file descriptors, say): unknown is not down, so the
/// last reading stands.
pub fn link_state(net_root: &Path, name: &str) -> Option<(bool, String)> {
    match std::fs::read_to_string(net_root.join(name).join("operstate")) {
        Ok(s) => {
            let s = s.trim();
            Some((matches!(s, "up" | "unknown"), format!("operstate {s}")))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Some((false, "no such interface".into())),
        Err(_) => None,
    }
}

/// keepalived's `init_file [VALUE] [overwrite]`: write VALUE (default 0) to a track file
/// that does not exist yet, or to any with `overwrite`. A failure is logged, not fatal: the
/// file then reads as missing (0).
pub fn init_track_file(file: &FilePlan) {
    let Some(init) = file.init else { return };
    if !init.overwrite && file.path.exists() {
        return;
    }
    if let Err(e) = std::fs::write(&file.path, format!("{}\n", init.value)) {
        tracing::warn!(
            track_file = file.name.as_str(),
            "cannot initialise {}: {e}",
            file.path.display()
        );
    }
}

/// A track file's value as keepalived reads it: the leading integer of the text (C `strtol`
/// with base 0: decimal, `0x` hex, leading-`0` octal), 0 when the file is missing, empty
/// or holds no number.
pub fn read_track_file(path: &Path) -> (i64, String) {
    match std::fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes[..bytes.len().min(128)]).into_owned();
            match parse_leading_integer(&text) {
                Some(v) => (v, String::new()),
                None => (0, format!("{}: no number, read as 0", path.display())),
            }
        }
        Err(e) => (0, format!("{}: {e}, read as 0", path.display())),
    }
}

/// The leading integer of `s` like `strtol(s, NULL, 0)`, saturating; `None` if there is
/// none.
pub fn parse_leading_integer(s: &str) -> Option<i64> {
    let s = s.trim_start();
    let (negative, s) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let (radix, digits) = if let Some(hex) = s.strip_prefix("0x").or(s.strip_prefix("0X")) {
        if hex.starts_with(|c: char| c.is_ascii_hexdigit()) {
            (16, hex)
        } else {
            // "0x" without hex digits: strtol reads the 0.
            (10, "0")
        }
    } else if s.starts_with('0') {
        (8, s)
    } else {
        (10, s)
    };
    let mut value: i64 = 0;
    let mut any = false;
    for c in digits.chars() {
        let Some(d) = c.to_digit(radix) else { break };
        value = value
            .saturating_mul(i64::from(radix))
            .saturating_add(i64::from(d));
        any = true;
    }
    any.then_some(if negative { -value } else { value })
}

/// Starts the task that looks at `interfaces` and `files` every `poll` and reports each
/// change (against the `seen` readings the tracker started from).
pub fn spawn_poller(
    net_root: PathBuf,
    interfaces: Vec<String>,
    files: Vec<FilePlan>,
    poll: Duration,
    mut seen: Vec<TrackUpdate>,
    tx: mpsc::Sender<TrackUpdate>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(poll.max(Duration::from_millis(1)));
        ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
        loop {
            ticker.tick().await;
            for update in read_all(&net_root, &interfaces, &files) {
                let known = seen.iter_mut().find(|s| s.source == update.source);
                let changed = match known {
                    Some(old) if *old == update => false,
                    Some(old) => {
                        *old = update.clone();
                        true
                    }
                    None => {
                        seen.push(update.clone());
                        true
                    }
                };
                if changed && tx.send(update).await.is_err() {
                    return;
                }
            }
        }
    })
}

/// One reading of every interface and file.
pub fn read_all(net_root: &Path, interfaces: &[String], files: &[FilePlan]) -> Vec<TrackUpdate> {
    let links = interfaces.iter().filter_map(|name| {
        let (up, detail) = link_state(net_root, name)?;
        Some(TrackUpdate {
            source: Source::Interface(name.clone()),
            observation: Observation::Link { up, detail },
        })
    });
    let values = files.iter().map(|f| {
        let (value, detail) = read_track_file(&f.path);
        TrackUpdate {
            source: Source::File(f.name.clone()),
            observation: Observation::Value { value, detail },
        }
    });
    links.chain(values).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines_are_read_from_the_first_line() {
        assert_eq!(parse_status_line(b"HTTP/1.1 200 OK\r\n"), Some(200));
        assert_eq!(parse_status_line(b"HTTP/1.0 503\n"), Some(503));
        assert_eq!(parse_status_line(b"HTTP/1.1 200 OK"), None, "incomplete");
        assert_eq!(parse_status_line(b"SSH-2.0-OpenSSH\r\n"), None);
        assert_eq!(parse_status_line(b"HTTP/1.1 2000 x\r\n"), None);
    }

    #[test]
    fn track_file_numbers_read_like_strtol() {
        for (text, want, why) in [
            ("42\n", Some(42), "the newline ends the number"),
            (
                "  -7 apples",
                Some(-7),
                "leading blanks, a sign, trailing words",
            ),
            ("+3", Some(3), "a plus sign"),
            ("0x1f", Some(31), "0x is hexadecimal"),
            ("010", Some(8), "a leading 0 is octal"),
            ("0", Some(0), "a lone 0"),
            ("0xg", Some(0), "0x without hex digits reads as the 0"),
            ("abc", None, "no digits"),
            ("", None, "nothing"),
            ("99999999999999999999999", Some(i64::MAX), "saturates"),
        ] {
            assert_eq!(parse_leading_integer(text), want, "{text:?}: {why}");
        }
    }

    #[test]
    fn missing_track_files_read_as_zero_and_say_so() {
        let (v, detail) = read_track_file(Path::new("/nonexistent/vrrpx-track-file"));
        assert_eq!(v, 0);
        assert!(detail.contains("read as 0"), "{detail}");
    }

    #[test]
    fn an_unreadable_operstate_is_unknown_not_down() {
        // A directory where the file should be: reading fails with EISDIR, as it would
        // fail with EMFILE when descriptors run out.
        let root = std::env::temp_dir().join(format!("vrrpx-net-{}", std::process::id()));
        std::fs::create_dir_all(root.join("eth9").join("operstate")).unwrap();
        assert_eq!(link_state(&root, "eth9"), None);
        let updates = read_all(&root, &["eth9".to_string()], &[]);
        assert!(updates.is_empty(), "no reading, no update: {updates:?}");
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn loopback_counts_as_up_and_a_missing_interface_as_down() {
        let root = Path::new("/sys/class/net");
        assert!(link_state(root, "lo").unwrap().0);
        assert_eq!(
            link_state(root, "vrrpx-nope0"),
            Some((false, "no such interface".to_string()))
        );
    }
}

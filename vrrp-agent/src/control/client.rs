//! The client side of the control socket, and the human rendering of `vrrp-agent status`.

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context, Result};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::net::UnixStream;

use crate::proto::router::StateName;
use crate::status::{InstanceStatus, Status};

/// How long a request may take end to end (a reload included) before the client gives up.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(40);

async fn connect(path: &Path) -> Result<UnixStream> {
    UnixStream::connect(path).await.map_err(|e| {
        let hint = match e.kind() {
            std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused => {
                " (is vrrp-agent running?)"
            }
            std::io::ErrorKind::PermissionDenied => " (the control socket is root-only)",
            _ => "",
        };
        anyhow!("control socket {}: {e}{hint}", path.display())
    })
}

/// Sends one request line and returns the answer line, parsed. An `{"ok":false,...}`
/// answer is returned as is, not as an error.
pub async fn request(path: &Path, req: &Value) -> Result<Value> {
    let exchange = async {
        let stream = connect(path).await?;
        let (rd, mut wr) = stream.into_split();
        let mut line = req.to_string();
        line.push('\n');
        wr.write_all(line.as_bytes()).await?;
        let mut answer = String::new();
        let n = BufReader::new(rd).read_line(&mut answer).await?;
        if n == 0 {
            bail!("the daemon closed the connection without answering");
        }
        serde_json::from_str(&answer).context("the daemon's answer is not JSON")
    };
    tokio::time::timeout(REQUEST_TIMEOUT, exchange)
        .await
        .map_err(|_| anyhow!("no answer within {} s", REQUEST_TIMEOUT.as_secs()))?
        .with_context(|| format!("control socket {}", path.display()))
}

/// An `{"ok":false,"error":...}` answer as an error.
fn refused(answer: &Value) -> Option<anyhow::Error> {
    (answer.get("ok") == Some(&Value::Bool(false))).then(|| {
        anyhow!(
            "{}",
            answer
                .get("error")
                .and_then(Value::as_str)
                .unwrap_or("refused")
        )
    })
}

/// The daemon's status snapshot.
pub async fn status(path: &Path) -> Result<Status> {
    let answer = request(path, &json!({"cmd": "status"})).await?;
    if let Some(e) = refused(&answer) {
        return Err(e);
    }
    serde_json::from_value(answer).context("the daemon's status does not match this client")
}

/// Asks the daemon to reload its configuration; the error is the daemon's reason.
pub async fn reload(path: &Path) -> Result<()> {
    let answer = request(path, &json!({"cmd": "reload"})).await?;
    match refused(&answer) {
        Some(e) => Err(e.context("reload refused")),
        None => Ok(()),
    }
}

/// Puts instances (none named: all) into maintenance: `soft` lowers their priority to 1,
/// otherwise they hand the master role over and stay out of it, across restarts, until
/// [`undrain`].
pub async fn drain(path: &Path, instances: &[String], soft: bool) -> Result<()> {
    let answer = request(
        path,
        &json!({"cmd": "drain", "instances": instances, "soft": soft}),
    )
    .await?;
    match refused(&answer) {
        Some(e) => Err(e.context("drain refused")),
        None => Ok(()),
    }
}

/// Takes instances (none named: all) out of maintenance.
pub async fn undrain(path: &Path, instances: &[String]) -> Result<()> {
    let answer = request(path, &json!({"cmd": "undrain", "instances": instances})).await?;
    match refused(&answer) {
        Some(e) => Err(e.context("undrain refused")),
        None => Ok(()),
    }
}

/// An open event stream.
#[derive(Debug)]
pub struct EventStream {
    lines: Lines<BufReader<UnixStream>>,
    first_seq: u64,
}

/// Subscribes to the daemon's events; everything published after this returns arrives.
pub async fn subscribe(path: &Path) -> Result<EventStream> {
    let mut stream = connect(path).await?;
    stream.write_all(b"{\"cmd\":\"events\"}\n").await?;
    let mut lines = BufReader::new(stream).lines();
    let ack = tokio::time::timeout(REQUEST_TIMEOUT, lines.next_line())
        .await
        .map_err(|_| anyhow!("no answer within {} s", REQUEST_TIMEOUT.as_secs()))??
        .ok_or_else(|| anyhow!("the daemon closed the connection without answering"))?;
    let ack: Value = serde_json::from_str(&ack).context("the daemon's answer is not JSON")?;
    if let Some(e) = refused(&ack) {
        return Err(e);
    }
    let first_seq = ack
        .get("next_seq")
        .and_then(Value::as_u64)
        .ok_or_else(|| anyhow!("the daemon's acknowledgement has no next_seq: {ack}"))?;
    Ok(EventStream { lines, first_seq })
}

impl EventStream {
    /// The sequence number the first event will carry.
    pub fn first_seq(&self) -> u64 {
        self.first_seq
    }

    /// The next line: an event `{"seq":N,...}` or a gap `{"seq":F,"lost":K}`; `None` when
    /// the daemon closed the stream.
    pub async fn next(&mut self) -> Result<Option<Value>> {
        match self.lines.next_line().await? {
            Some(line) => Ok(Some(
                serde_json::from_str(&line).context("event line is not JSON")?,
            )),
            None => Ok(None),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Rendering

/// The `vrrp-agent status` table, times in local time.
pub fn render_status(status: &Status) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    render(status, now, Zone::Local)
}

#[derive(Clone, Copy)]
enum Zone {
    Local,
    #[cfg_attr(not(test), allow(dead_code))]
    Utc,
}

/// `HH:MM:SS` within a day of `now`, with the date before that.
fn wall_time(unix: f64, now: f64, zone: Zone) -> String {
    let t = unix.floor() as libc::time_t;
    // SAFETY: `tm` is plain integers plus a pointer that may be null; all zero is valid.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are to live locals; the _r variants keep no static state.
    let done = unsafe {
        match zone {
            Zone::Local => libc::localtime_r(&t, &mut tm),
            Zone::Utc => libc::gmtime_r(&t, &mut tm),
        }
    };
    if done.is_null() {
        return format!("@{unix:.0}");
    }
    let hms = format!("{:02}:{:02}:{:02}", tm.tm_hour, tm.tm_min, tm.tm_sec);
    if (0.0..86_400.0).contains(&(now - unix)) {
        hms
    } else {
        format!(
            "{:04}-{:02}-{:02} {hms}",
            tm.tm_year + 1900,
            tm.tm_mon + 1,
            tm.tm_mday
        )
    }
}

fn ms(v: f64) -> String {
    format!("{v:.2}")
}

fn cs_as_ms(cs: u16) -> u32 {
    u32::from(cs) * 10
}

/// The cells of one instance row, in [`COLUMNS`] order.
fn row(i: &InstanceStatus, now: f64, zone: Zone) -> Vec<String> {
    let master = match (i.master, i.state) {
        (Some((addr, prio)), _) => format!("{addr} ({prio})"),
        (None, StateName::Master) => "self".into(),
        (None, _) => "-".into(),
    };
    let interval =
        if i.state == StateName::Backup && i.master_adver_interval_cs != i.advert_interval_cs {
            format!(
                "{} (master {})",
                cs_as_ms(i.advert_interval_cs),
                cs_as_ms(i.master_adver_interval_cs)
            )
        } else {
            cs_as_ms(i.advert_interval_cs).to_string()
        };
    let margin = match (i.timer_margin_ms, i.min_timer_margin_ms) {
        (Some(now), Some(min)) => format!("{} (min {})", ms(now), ms(min)),
        (Some(now), None) => ms(now),
        (None, Some(min)) => format!("- (min {})", ms(min)),
        (None, None) => "-".into(),
    };
    let last = match &i.last_transition {
        Some(t) => format!(
            "{} since {} ({:?})",
            t.to,
            wall_time(t.at_unix, now, zone),
            t.cause
        ),
        None => format!("{} (no transition yet)", i.state),
    };
    vec![
        i.name.clone(),
        i.interface.clone(),
        i.vrid.to_string(),
        format!("v{} {}", i.version, i.family),
        match &i.drained {
            Some(mode) => format!("{} (drained {mode})", i.state),
            None => i.state.to_string(),
        },
        format!("{}/{}", i.base_priority, i.effective_priority),
        master,
        interval,
        format!("{}/{}", i.adverts_sent, i.adverts_received),
        margin,
        last,
    ]
}

const COLUMNS: [&str; 11] = [
    "INSTANCE",
    "IFACE",
    "VRID",
    "PROTO",
    "STATE",
    "PRIO(base/eff)",
    "MASTER",
    "ADVERT(ms)",
    "ADVERTS(tx/rx)",
    "MARGIN(ms)",
    "LAST TRANSITION",
];

/// Left-aligned columns two spaces apart; the last column is not padded.
fn layout(rows: &[Vec<String>]) -> Vec<String> {
    let mut widths = vec![0; COLUMNS.len()];
    for r in rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    rows.iter()
        .map(|r| {
            let mut line = String::new();
            for (n, (cell, w)) in r.iter().zip(&widths).enumerate() {
                if n + 1 == r.len() {
                    line.push_str(cell);
                } else {
                    let _ = write!(line, "{cell:<w$}  ");
                }
            }
            line
        })
        .collect()
}

fn render(status: &Status, now: f64, zone: Zone) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "vrrp-agent {} (pid {}), split-brain events: {}",
        status.version, status.pid, status.split_brain_events
    );
    let _ = writeln!(s);
    if status.instances.is_empty() {
        let _ = writeln!(s, "no instances");
    } else {
        let mut rows = vec![COLUMNS.iter().map(|c| c.to_string()).collect::<Vec<_>>()];
        rows.extend(status.instances.iter().map(|i| row(i, now, zone)));
        let lines = layout(&rows);
        let _ = writeln!(s, "{}", lines[0]);
        for (line, i) in lines[1..].iter().zip(&status.instances) {
            let _ = writeln!(s, "{line}");
            if i.base_priority != i.effective_priority || !i.priority_reasons.is_empty() {
                let reasons = if i.priority_reasons.is_empty() {
                    "no reason given".to_string()
                } else {
                    i.priority_reasons.join("; ")
                };
                let _ = writeln!(
                    s,
                    "    priority {} -> {}: {reasons}",
                    i.base_priority, i.effective_priority
                );
            }
            if !i.virtual_addresses.is_empty() {
                let _ = writeln!(s, "    addresses: {}", i.virtual_addresses.join(", "));
            }
        }
    }
    let _ = writeln!(s);
    if status.receive_paths.is_empty() {
        let _ = writeln!(s, "receive paths: none");
    } else {
        let _ = writeln!(s, "receive paths:");
        let w = status
            .receive_paths
            .keys()
            .map(String::len)
            .max()
            .unwrap_or(0);
        for (iface, path) in &status.receive_paths {
            let _ = writeln!(s, "  {iface:<w$}  {path}");
        }
    }
    let rejected: Vec<(&String, String)> = status
        .rejections
        .iter()
        .filter_map(|(iface, reasons)| {
            let counts: Vec<String> = reasons
                .iter()
                .filter(|(_, &n)| n > 0)
                .map(|(r, n)| format!("{r}={n}"))
                .collect();
            (!counts.is_empty()).then(|| (iface, counts.join(" ")))
        })
        .collect();
    if rejected.is_empty() {
        let _ = writeln!(s, "rejected adverts: none");
    } else {
        let _ = writeln!(s, "rejected adverts:");
        let w = rejected.iter().map(|(i, _)| i.len()).max().unwrap_or(0);
        for (iface, counts) in rejected {
            let _ = writeln!(s, "  {iface:<w$}  {counts}");
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::router::Cause;
    use crate::status::Transition;
    use std::net::{IpAddr, Ipv6Addr};

    /// 12:34:56 UTC on 1970-01-11, and ten minutes later.
    const AT: f64 = 10.0 * 86_400.0 + 12.0 * 3600.0 + 34.0 * 60.0 + 56.25;
    const NOW: f64 = AT + 600.0;

    fn backup() -> InstanceStatus {
        InstanceStatus {
            master_adver_interval_cs: 200,
            last_transition: Some(Transition {
                from: StateName::Initialize,
                to: StateName::Backup,
                cause: Cause::Startup,
                at_unix: AT,
                at_mono_ns: 1,
            }),
            min_timer_margin_ms: Some(790.1234),
            virtual_addresses: vec!["10.0.0.100/24".into(), "10.0.0.101/24".into()],
            ..crate::status::sample_instance()
        }
    }

    fn master() -> InstanceStatus {
        InstanceStatus {
            name: "VI_6".into(),
            interface: "bond0.100".into(),
            vrid: 7,
            family: "ipv6".into(),
            version: 3,
            state: StateName::Master,
            base_priority: 200,
            effective_priority: 200,
            priority_reasons: vec![],
            master: None,
            advert_interval_cs: 50,
            master_adver_interval_cs: 50,
            last_transition: Some(Transition {
                from: StateName::Backup,
                to: StateName::Master,
                cause: Cause::MasterDown,
                at_unix: AT - 2.0 * 86_400.0 + 3600.0,
                at_mono_ns: 2,
            }),
            transitions: 2,
            adverts_sent: 99,
            adverts_received: 3,
            timer_margin_ms: None,
            min_timer_margin_ms: None,
            virtual_addresses: vec![],
            tracks: vec![],
            replies_suppressed: 0,
            drained: None,
        }
    }

    fn status() -> Status {
        Status {
            version: "0.1.0".into(),
            pid: 4242,
            receive_paths: [
                ("eth0".to_string(), "xdp (driver)".to_string()),
                ("bond0.100".to_string(), "raw-socket".to_string()),
            ]
            .into(),
            instances: vec![backup(), master()],
            rejections: [
                (
                    "eth0".to_string(),
                    [("bad_ttl".to_string(), 3), ("wrong_vrid".to_string(), 0)].into(),
                ),
                ("bond0.100".to_string(), [("bad_ttl".to_string(), 0)].into()),
            ]
            .into(),
            split_brain_events: 1,
        }
    }

    /// The cell under `column` in `row`, found from the header's column offsets.
    fn cell<'a>(header: &str, row: &'a str, column: &str) -> &'a str {
        let start = header.find(column).unwrap();
        let next = COLUMNS
            .iter()
            .filter_map(|c| header.find(c))
            .filter(|&o| o > start)
            .min();
        match next {
            Some(end) => row[start..end].trim_end(),
            None => &row[start..],
        }
    }

    #[test]
    fn each_instance_row_shows_every_field_under_its_header() {
        let text = render(&status(), NOW, Zone::Utc);
        let lines: Vec<&str> = text.lines().collect();
        let header = lines.iter().find(|l| l.starts_with("INSTANCE")).unwrap();
        let vi1 = lines.iter().find(|l| l.starts_with("VI_1 ")).unwrap();
        let vi6 = lines.iter().find(|l| l.starts_with("VI_6 ")).unwrap();
        let expect = [
            ("INSTANCE", "VI_1", "VI_6"),
            ("IFACE", "eth0", "bond0.100"),
            ("VRID", "51", "7"),
            ("PROTO", "v3 ipv4", "v3 ipv6"),
            ("STATE", "BACKUP", "MASTER"),
            ("PRIO(base/eff)", "100/80", "200/200"),
            ("MASTER", "10.0.0.1 (150)", "self"),
            ("ADVERT(ms)", "1000 (master 2000)", "500"),
            ("ADVERTS(tx/rx)", "0/1234", "99/3"),
            ("MARGIN(ms)", "812.50 (min 790.12)", "-"),
            (
                "LAST TRANSITION",
                "BACKUP since 12:34:56 (Startup)",
                "MASTER since 1970-01-09 13:34:56 (MasterDown)",
            ),
        ];
        for (column, a, b) in expect {
            assert_eq!(cell(header, vi1, column), a, "VI_1 {column}");
            assert_eq!(cell(header, vi6, column), b, "VI_6 {column}");
        }
    }

    #[test]
    fn reasons_and_addresses_follow_their_instance() {
        let text = render(&status(), NOW, Zone::Utc);
        let lines: Vec<&str> = text.lines().collect();
        let at = lines.iter().position(|l| l.starts_with("VI_1 ")).unwrap();
        assert_eq!(lines[at + 1], "    priority 100 -> 80: chk_nginx down: -20");
        assert_eq!(lines[at + 2], "    addresses: 10.0.0.100/24, 10.0.0.101/24");
        assert!(
            lines[at + 3].starts_with("VI_6 "),
            "VI_6 has no detail lines"
        );
    }

    #[test]
    fn header_paths_and_rejections_are_listed() {
        let text = render(&status(), NOW, Zone::Utc);
        assert!(text.starts_with("vrrp-agent 0.1.0 (pid 4242), split-brain events: 1\n"));
        assert!(
            text.contains("receive paths:\n  bond0.100  raw-socket\n  eth0       xdp (driver)\n")
        );
        // Zero counts are left out, and an interface with only zeros with them.
        assert!(
            text.ends_with("rejected adverts:\n  eth0  bad_ttl=3\n"),
            "{text}"
        );
    }

    #[test]
    fn an_idle_daemon_says_so() {
        let text = render(&Status::default(), NOW, Zone::Utc);
        assert!(text.contains("no instances\n"));
        assert!(text.contains("receive paths: none\n"));
        assert!(text.ends_with("rejected adverts: none\n"));
    }

    #[test]
    fn a_fresh_instance_without_master_or_margin_renders_dashes() {
        let mut i = backup();
        i.master = None;
        i.timer_margin_ms = None;
        i.min_timer_margin_ms = None;
        i.last_transition = None;
        i.state = StateName::Initialize;
        i.master = Some((IpAddr::V6(Ipv6Addr::LOCALHOST), 10));
        let cells = row(&i, NOW, Zone::Utc);
        assert_eq!(cells[6], "::1 (10)");
        assert_eq!(cells[7], "1000");
        assert_eq!(cells[9], "-");
        assert_eq!(cells[10], "INIT (no transition yet)");
        i.master = None;
        assert_eq!(row(&i, NOW, Zone::Utc)[6], "-");
    }

    #[test]
    fn times_within_a_day_show_the_clock_and_older_ones_the_date() {
        assert_eq!(wall_time(AT, NOW, Zone::Utc), "12:34:56");
        assert_eq!(
            wall_time(AT, AT + 86_400.0, Zone::Utc),
            "1970-01-11 12:34:56"
        );
        // A transition stamped after `now` (clock stepped back) shows its date too.
        assert_eq!(wall_time(AT, AT - 5.0, Zone::Utc), "1970-01-11 12:34:56");
    }
}

//! Notifications on state changes: keepalived's `notify_master`, `notify_backup`,
//! `notify_fault`, `notify_stop` and `notify` scripts, run one at a time per instance (or
//! sync group) in the order the changes happened, each bounded by a timeout; and
//! `smtp_alert` mails. keepalived users complain that its notify scripts race each other;
//! here every owner has one queue and one worker, so they cannot.

pub mod mail;

use std::collections::HashMap;
use std::time::Duration;

use tokio::process::Command;
use tokio::sync::mpsc;

use crate::config::model::Notify;
use crate::proto::router::StateName;
use crate::track::probe::split_argv;

/// How long one notify script may run before it is killed.
pub const SCRIPT_TIMEOUT: Duration = Duration::from_secs(10);

/// keepalived's word for a state in notify arguments and mail subjects.
pub fn state_word(s: StateName) -> &'static str {
    match s {
        StateName::Master => "MASTER",
        StateName::Backup => "BACKUP",
        StateName::Fault => "FAULT",
        StateName::Initialize => "STOP",
    }
}

/// The commands to run for one change, in keepalived's order: the state's own script,
/// then the generic `notify` with `TYPE NAME STATE PRIORITY` appended.
pub fn commands_for(
    notify: &Notify,
    kind: &str,
    name: &str,
    to: StateName,
    priority: u8,
) -> Vec<Vec<String>> {
    let specific = match to {
        StateName::Master => &notify.master,
        StateName::Backup => &notify.backup,
        StateName::Fault => &notify.fault,
        StateName::Initialize => &notify.stop,
    };
    let mut out = Vec::new();
    for (script, extra) in [(specific, false), (&notify.any, true)] {
        let Some(script) = script else { continue };
        match split_argv(script) {
            Ok(mut argv) if !argv.is_empty() => {
                if extra {
                    argv.extend([
                        kind.to_string(),
                        name.to_string(),
                        state_word(to).to_string(),
                        priority.to_string(),
                    ]);
                }
                out.push(argv);
            }
            Ok(_) => {}
            Err(e) => tracing::error!(
                script = script.as_str(),
                error = e,
                "notify script cannot be parsed"
            ),
        }
    }
    out
}

/// Run one command without a shell, killing it at `timeout`. Returns a line for the log.
pub async fn run_one(argv: &[String], timeout: Duration) -> Result<(), String> {
    let mut child = Command::new(&argv[0])
        .args(&argv[1..])
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", argv[0]))?;
    match tokio::time::timeout(timeout, child.wait()).await {
        Ok(Ok(status)) if status.success() => Ok(()),
        Ok(Ok(status)) => Err(format!("{} exited with {status}", argv[0])),
        Ok(Err(e)) => Err(format!("waiting for {}: {e}", argv[0])),
        Err(_) => {
            let _ = child.kill().await;
            Err(format!("{} killed after {timeout:?}", argv[0]))
        }
    }
}

/// keepalived's notify_fifo line: `INSTANCE "VI_1" MASTER 150`.
pub fn fifo_line(kind: &str, name: &str, to: StateName, priority: u8) -> String {
    format!("{kind} \"{name}\" {} {priority}\n", state_word(to))
}

/// Append a line to the notify FIFO without ever blocking the engine: with no reader, or
/// a full pipe, the line is dropped and said so.
pub fn write_fifo(path: &std::path::Path, line: &str) {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let opened = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path);
    let result = opened.and_then(|mut f| f.write_all(line.as_bytes()));
    if let Err(e) = result {
        tracing::warn!(fifo = %path.display(), error = %e, "notify_fifo line not written");
    }
}

/// The mail keepalived users know for a state change, in our words.
pub fn alert_for(router_id: &str, kind: &str, name: &str, to: StateName) -> mail::Alert {
    let what = match to {
        StateName::Master => "now holds its virtual addresses",
        StateName::Backup => "no longer holds its virtual addresses",
        StateName::Fault => "is in fault and holds no virtual address",
        StateName::Initialize => "has stopped",
    };
    let kind_word = if kind == "GROUP" { "Group" } else { "Instance" };
    mail::Alert {
        subject: format!(
            "[{router_id}] VRRP {kind_word} {name} - Entering {} state",
            state_word(to)
        ),
        body: format!("=> VRRP {kind_word} {name} {what} <=\n"),
    }
}

/// One queue and one worker per owner (instance or group): scripts run strictly in the
/// order the changes were queued, never two at once for the same owner.
#[derive(Default)]
pub struct Notifier {
    queues: HashMap<String, mpsc::UnboundedSender<Vec<Vec<String>>>>,
    workers: Vec<tokio::task::JoinHandle<()>>,
    pub timeout: Option<Duration>,
}

impl Notifier {
    /// Queue the commands of one change for `owner`. Must be called inside a tokio runtime.
    pub fn queue(&mut self, owner: &str, commands: Vec<Vec<String>>) {
        if commands.is_empty() {
            return;
        }
        let timeout = self.timeout.unwrap_or(SCRIPT_TIMEOUT);
        if !self.queues.contains_key(owner) {
            let (tx, mut rx) = mpsc::unbounded_channel::<Vec<Vec<String>>>();
            let name = owner.to_string();
            self.workers.push(tokio::spawn(async move {
                while let Some(batch) = rx.recv().await {
                    for argv in batch {
                        if let Err(e) = run_one(&argv, timeout).await {
                            tracing::warn!(
                                owner = name.as_str(),
                                error = e,
                                "notify script failed"
                            );
                        }
                    }
                }
            }));
            self.queues.insert(owner.to_string(), tx);
        }
        let _ = self.queues[owner].send(commands);
    }

    /// Close the queues and wait, at most `limit`, for what is queued to run: used on
    /// shutdown so `notify_stop` scripts are not cut off.
    pub async fn drain(self, limit: Duration) {
        let Notifier {
            queues, workers, ..
        } = self;
        drop(queues);
        let _ = tokio::time::timeout(limit, futures::future::join_all(workers)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notify() -> Notify {
        Notify {
            master: Some("/usr/local/bin/to-master --quiet".into()),
            backup: None,
            fault: Some("/bin/fault".into()),
            stop: None,
            any: Some("\"/usr/local/bin/notify all\"".into()),
        }
    }

    #[test]
    fn the_state_script_runs_before_the_generic_one_which_gets_keepalived_arguments() {
        let c = commands_for(&notify(), "INSTANCE", "VI_1", StateName::Master, 150);
        assert_eq!(
            c,
            vec![
                vec!["/usr/local/bin/to-master".to_string(), "--quiet".into()],
                vec![
                    "/usr/local/bin/notify all".to_string(),
                    "INSTANCE".into(),
                    "VI_1".into(),
                    "MASTER".into(),
                    "150".into()
                ],
            ]
        );
    }

    #[test]
    fn a_state_without_its_own_script_runs_only_the_generic_one() {
        let c = commands_for(&notify(), "GROUP", "G1", StateName::Initialize, 0);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0][1..], ["GROUP", "G1", "STOP", "0"]);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_script_past_its_timeout_is_killed() {
        let argv: Vec<String> = vec!["sleep".into(), "5".into()];
        let t0 = std::time::Instant::now();
        let r = run_one(&argv, Duration::from_millis(100)).await;
        assert!(r.unwrap_err().contains("killed"));
        assert!(t0.elapsed() < Duration::from_secs(2));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_missing_script_is_reported() {
        let r = run_one(&["/nonexistent/notify".to_string()], Duration::from_secs(1)).await;
        assert!(r.unwrap_err().contains("cannot start /nonexistent/notify"));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn changes_for_one_owner_run_in_order_one_at_a_time() {
        let dir = std::env::temp_dir().join(format!("vrrpx-notify-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("order.log");
        // Each script appends "start N" then, after a pause, "end N": overlap would
        // interleave them.
        let script = dir.join("step.sh");
        std::fs::write(
            &script,
            "#!/bin/sh\necho start $1 >> \"$2\"\nsleep 0.05\necho end $1 >> \"$2\"\n",
        )
        .unwrap();
        std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let mut n = Notifier::default();
        for i in 0..5 {
            n.queue(
                "VI_1",
                vec![vec![
                    script.to_string_lossy().into_owned(),
                    i.to_string(),
                    log.to_string_lossy().into_owned(),
                ]],
            );
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if text.lines().count() == 10 || std::time::Instant::now() > deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let text = std::fs::read_to_string(&log).unwrap();
        let want: String = (0..5).map(|i| format!("start {i}\nend {i}\n")).collect();
        assert_eq!(text, want);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

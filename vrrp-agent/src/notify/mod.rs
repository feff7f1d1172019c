//! Notifications on state changes: keepalived's `notify_master`, `notify_backup`,
//! `notify_fault`, `notify_stop` and `notify` scripts, run one at a time per instance (or
//! sync group) in the order the changes happened, each bounded by a timeout; and
//! `smtp_alert` mails. keepalived users complain that its notify scripts race each other;
//! here every owner has one queue and one worker, so they cannot.
//!
//! Scripts run as their configured user, in their own process group, with a clean
//! environment and ordinary scheduling (`crate::track::program`); at the timeout the whole
//! group is stopped. A queue holds at most [`QUEUE_DEPTH`] changes: when a script hangs
//! and changes keep coming, the oldest waiting change is dropped (and counted), so memory
//! stays bounded and what runs is still in order and ends with the latest state.
//!
//! The notify FIFO is created with mkfifo(3) when absent, and opened without following a
//! symbolic link (`O_NOFOLLOW`); what was opened must be a FIFO owned by the agent's user.
//! Otherwise a link planted in a writable directory would turn each state change into a
//! root write to any file.

pub mod mail;

use std::collections::{HashMap, VecDeque};
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::config::model::{Notify, RunAs};
use crate::proto::router::StateName;
use crate::track::probe::split_argv;
use crate::track::program;
use crate::track::RunResult;

/// How long one notify script may run before it is killed.
pub const SCRIPT_TIMEOUT: Duration = Duration::from_secs(10);

/// Changes waiting per owner; beyond it the oldest waiting change is dropped.
pub const QUEUE_DEPTH: usize = 32;

/// The mode a created notify FIFO gets, as keepalived creates it: written by the agent,
/// readable by the reader services.
pub const FIFO_MODE: libc::mode_t = 0o644;

/// One program to run for a change, and who runs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotifyCommand {
    pub argv: Vec<String>,
    /// `None`: the agent's own user.
    pub run_as: Option<RunAs>,
}

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
/// then the generic `notify` with `TYPE NAME STATE PRIORITY` appended; each with the user
/// it runs as.
pub fn commands_for(
    notify: &Notify,
    kind: &str,
    name: &str,
    to: StateName,
    priority: u8,
) -> Vec<NotifyCommand> {
    let users = &notify.run_as;
    let specific = match to {
        StateName::Master => (&notify.master, &users.master),
        StateName::Backup => (&notify.backup, &users.backup),
        StateName::Fault => (&notify.fault, &users.fault),
        StateName::Initialize => (&notify.stop, &users.stop),
    };
    let mut out = Vec::new();
    for ((script, run_as), extra) in [(specific, false), ((&notify.any, &users.any), true)] {
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
                out.push(NotifyCommand {
                    argv,
                    run_as: run_as.clone(),
                });
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

/// Run one command without a shell, as its user, stopping its whole process group at
/// `timeout`. The error is a line for the log.
pub async fn run_one(command: &NotifyCommand, timeout: Duration) -> Result<(), String> {
    let program = command.argv.first().map_or("", String::as_str);
    let user = command.run_as.as_ref().map_or("", |r| r.user.as_str());
    match program::run(&command.argv, command.run_as.as_ref(), timeout).await {
        RunResult::Success => Ok(()),
        RunResult::Failed(why) => Err(format!("{program} (as {user}): {why}")),
        RunResult::TimedOut { .. } => Err(format!(
            "{program} (as {user}) killed with its process group after {timeout:?}"
        )),
        RunResult::CannotStart(why) => Err(format!("cannot start {program} (as {user}): {why}")),
    }
}

/// keepalived's notify_fifo line: `INSTANCE "VI_1" MASTER 150`.
pub fn fifo_line(kind: &str, name: &str, to: StateName, priority: u8) -> String {
    format!("{kind} \"{name}\" {} {priority}\n", state_word(to))
}

/// Append a line to the notify FIFO without ever blocking the engine: with no reader, or
/// a full pipe, the line is dropped and said so.
pub fn write_fifo(path: &Path, line: &str) {
    use std::io::Write;
    let result = open_fifo(path).and_then(|mut f| f.write_all(line.as_bytes()));
    if let Err(e) = result {
        tracing::warn!(fifo = %path.display(), error = %e, "notify_fifo line not written");
    }
}

/// Opens the notify FIFO for writing, creating it (mode [`FIFO_MODE`]) when absent. Never
/// blocks and never follows a symbolic link; refuses anything but a FIFO owned by the
/// agent's effective user. With no reader the open fails (ENXIO).
pub fn open_fifo(path: &Path) -> io::Result<std::fs::File> {
    let name = std::ffi::CString::new(path.as_os_str().as_encoded_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path holds a NUL byte"))?;
    // SAFETY: mkfifo(3) reads a NUL-terminated path that lives across the call. EEXIST
    // (already there, FIFO or not) is judged on the opened file below.
    if unsafe { libc::mkfifo(name.as_ptr(), FIFO_MODE) } != 0 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EEXIST) {
            return Err(e);
        }
    }
    let file = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW | libc::O_NOCTTY)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) => io::Error::new(
                io::ErrorKind::InvalidInput,
                "is a symbolic link; refused (name the FIFO itself)",
            ),
            _ => e,
        })?;
    let meta = file.metadata()?;
    if !meta.file_type().is_fifo() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "is not a FIFO; refused (remove it, and vrrpx creates the FIFO)",
        ));
    }
    // SAFETY: geteuid has no preconditions.
    let me = unsafe { libc::geteuid() };
    if meta.uid() != me {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "is owned by uid {}, not by us (uid {me}); refused",
                meta.uid()
            ),
        ));
    }
    Ok(file)
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
    queues: HashMap<String, Arc<Queue>>,
    workers: Vec<tokio::task::JoinHandle<()>>,
    pub timeout: Option<Duration>,
}

/// The changes waiting for one owner's worker.
#[derive(Default)]
struct Queue {
    waiting: Mutex<VecDeque<Vec<NotifyCommand>>>,
    /// Wakes the worker; a wake-up given while it runs is kept for its next wait.
    ready: tokio::sync::Notify,
    closed: AtomicBool,
    dropped: AtomicU64,
}

impl Queue {
    /// Adds a change, dropping the oldest waiting one when full; returns how many have been
    /// dropped so far when this call dropped one.
    fn push(&self, batch: Vec<NotifyCommand>) -> Option<u64> {
        let mut waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        let mut dropped = None;
        if waiting.len() >= QUEUE_DEPTH {
            waiting.pop_front();
            dropped = Some(self.dropped.fetch_add(1, Ordering::Relaxed) + 1);
        }
        waiting.push_back(batch);
        drop(waiting);
        self.ready.notify_one();
        dropped
    }

    fn pop(&self) -> Option<Vec<NotifyCommand>> {
        self.waiting
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop_front()
    }

    /// Runs what is queued, in order, until closed and empty.
    async fn work(&self, owner: &str, timeout: Duration) {
        loop {
            let Some(batch) = self.pop() else {
                if self.closed.load(Ordering::Acquire) {
                    return;
                }
                self.ready.notified().await;
                continue;
            };
            for command in &batch {
                if let Err(e) = run_one(command, timeout).await {
                    tracing::warn!(owner, error = e, "notify script failed");
                }
            }
        }
    }
}

impl Notifier {
    /// Queue the commands of one change for `owner`. Must be called inside a tokio runtime.
    pub fn queue(&mut self, owner: &str, commands: Vec<NotifyCommand>) {
        if commands.is_empty() {
            return;
        }
        let timeout = self.timeout.unwrap_or(SCRIPT_TIMEOUT);
        let queue = match self.queues.get(owner) {
            Some(queue) => queue.clone(),
            None => {
                let queue = Arc::new(Queue::default());
                let (worker, name) = (queue.clone(), owner.to_string());
                self.workers.push(tokio::spawn(async move {
                    worker.work(&name, timeout).await;
                }));
                self.queues.insert(owner.to_string(), queue.clone());
                queue
            }
        };
        if let Some(dropped) = queue.push(commands) {
            // Logged at the first drop and then at each power of two: the count carries
            // the volume.
            if dropped.is_power_of_two() {
                tracing::warn!(
                    owner,
                    dropped,
                    "notify scripts are {QUEUE_DEPTH} changes behind: dropped the oldest \
                     waiting change"
                );
            }
        }
    }

    /// Changes dropped because a queue was full, for `owner` (0 for an unknown owner).
    pub fn dropped(&self, owner: &str) -> u64 {
        self.queues
            .get(owner)
            .map_or(0, |q| q.dropped.load(Ordering::Relaxed))
    }

    /// Changes dropped because a queue was full, all owners together.
    pub fn dropped_total(&self) -> u64 {
        self.queues
            .values()
            .map(|q| q.dropped.load(Ordering::Relaxed))
            .sum()
    }

    /// Close the queues and wait, at most `limit`, for what is queued to run: used on
    /// shutdown so `notify_stop` scripts are not cut off.
    pub async fn drain(mut self, limit: Duration) {
        self.close();
        let workers = std::mem::take(&mut self.workers);
        let _ = tokio::time::timeout(limit, futures::future::join_all(workers)).await;
    }

    /// Lets each worker end once its queue is empty.
    fn close(&self) {
        for queue in self.queues.values() {
            queue.closed.store(true, Ordering::Release);
            queue.ready.notify_one();
        }
    }
}

impl Drop for Notifier {
    /// Workers finish what is queued and end, as they did when the queues were channels.
    fn drop(&mut self) {
        self.close();
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
            run_as: Default::default(),
        }
    }

    fn nobody() -> RunAs {
        crate::track::credentials::resolve(&crate::config::model::UserSpec {
            user: "nobody".into(),
            group: None,
        })
        .unwrap()
    }

    fn argv(words: &[&str]) -> NotifyCommand {
        NotifyCommand {
            argv: words.iter().map(|w| w.to_string()).collect(),
            run_as: None,
        }
    }

    /// A fresh directory for one test, removed when dropped.
    struct Scratch(std::path::PathBuf);

    impl Scratch {
        fn new(name: &str) -> Scratch {
            let dir =
                std::env::temp_dir().join(format!("vrrpx-notify-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            Scratch(dir)
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn the_state_script_runs_before_the_generic_one_which_gets_keepalived_arguments() {
        let c = commands_for(&notify(), "INSTANCE", "VI_1", StateName::Master, 150);
        let argvs: Vec<Vec<String>> = c.into_iter().map(|c| c.argv).collect();
        assert_eq!(
            argvs,
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
        assert_eq!(c[0].argv[1..], ["GROUP", "G1", "STOP", "0"]);
    }

    #[test]
    fn each_command_carries_the_user_of_its_own_script() {
        let mut n = notify();
        n.run_as.master = Some(nobody());
        let c = commands_for(&n, "INSTANCE", "VI_1", StateName::Master, 150);
        assert_eq!(c[0].run_as.as_ref().map(|r| r.uid), Some(65534));
        assert_eq!(c[1].run_as, None, "the generic script has its own user");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_script_past_its_timeout_is_killed() {
        let t0 = std::time::Instant::now();
        let r = run_one(&argv(&["sleep", "5"]), Duration::from_millis(100)).await;
        assert!(r.unwrap_err().contains("killed"));
        assert!(t0.elapsed() < Duration::from_secs(2));
    }

    /// True once `pid` has exited (gone, or a zombie waiting for its new parent).
    fn exited(pid: i32) -> bool {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => true,
            Ok(stat) => stat
                .rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_timeout_kills_what_the_script_started_too() {
        let dir = Scratch::new("group");
        let pidfile = dir.0.join("child.pid");
        let script = format!("sleep 30 & echo $! > {}; wait", pidfile.display());
        let r = run_one(&argv(&["sh", "-c", &script]), Duration::from_millis(300)).await;
        assert!(r.unwrap_err().contains("process group"));
        let pid: i32 = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(3);
        while !exited(pid) && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let alive = !exited(pid);
        if alive {
            // SAFETY: kill(2) with plain integers; the test's own grandchild.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        assert!(
            !alive,
            "the script's background sleep {pid} outlived the timeout"
        );
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_missing_script_is_reported() {
        let r = run_one(&argv(&["/nonexistent/notify"]), Duration::from_secs(1)).await;
        assert!(r.unwrap_err().contains("cannot start /nonexistent/notify"));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn scripts_get_only_a_fixed_path_and_their_user_in_the_environment() {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return;
        }
        let dir = Scratch::new("env");
        std::fs::set_permissions(&dir.0, std::os::unix::fs::PermissionsExt::from_mode(0o777))
            .unwrap();
        let out = dir.0.join("env.txt");
        let script = format!("{{ id -u; env; }} > {}", out.display());
        let command = NotifyCommand {
            argv: vec!["sh".into(), "-c".into(), script],
            run_as: Some(nobody()),
        };
        run_one(&command, Duration::from_secs(5)).await.unwrap();
        let text = std::fs::read_to_string(&out).unwrap();
        let mut lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.remove(0), "65534");
        lines
            .retain(|l| !l.starts_with("PWD=") && !l.starts_with("SHLVL=") && !l.starts_with("_="));
        lines.sort();
        assert_eq!(
            lines,
            [
                "HOME=/nonexistent",
                "LOGNAME=nobody",
                &format!("PATH={}", program::SCRIPT_PATH),
                "USER=nobody",
            ]
        );
    }

    #[tokio::test(flavor = "current_thread")]
    async fn changes_for_one_owner_run_in_order_one_at_a_time() {
        let dir = Scratch::new("order");
        let log = dir.0.join("order.log");
        // Each script appends "start N" then, after a pause, "end N": overlap would
        // interleave them.
        let script = dir.0.join("step.sh");
        std::fs::write(
            &script,
            "#!/bin/sh\necho start $1 >> \"$2\"\nsleep 0.05\necho end $1 >> \"$2\"\n",
        )
        .unwrap();
        std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let mut n = Notifier::default();
        for i in 0..5 {
            let (script, log) = (script.to_string_lossy(), log.to_string_lossy());
            n.queue("VI_1", vec![argv(&[&script, &i.to_string(), &log])]);
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
        assert_eq!(n.dropped("VI_1"), 0);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_full_queue_drops_the_oldest_changes_counts_them_and_keeps_the_order() {
        let dir = Scratch::new("bounded");
        let log = dir.0.join("order.log");
        let log_arg = log.to_string_lossy().into_owned();
        let mut n = Notifier::default();
        // The worker first runs when this test yields, so all 100 changes meet a queue
        // that nothing has taken from yet.
        let changes = 100;
        for i in 0..changes {
            let line = format!("echo {i} >> \"$0\"");
            n.queue("VI_1", vec![argv(&["sh", "-c", &line, &log_arg])]);
        }
        let dropped = (changes - QUEUE_DEPTH) as u64;
        assert_eq!(n.dropped("VI_1"), dropped);
        assert_eq!(n.dropped_total(), dropped);
        n.drain(Duration::from_secs(20)).await;
        let ran: Vec<usize> = std::fs::read_to_string(&log)
            .unwrap()
            .lines()
            .map(|l| l.parse().unwrap())
            .collect();
        let want: Vec<usize> = (changes - QUEUE_DEPTH..changes).collect();
        assert_eq!(ran, want, "the newest {QUEUE_DEPTH} changes, in order");
    }

    #[test]
    fn the_fifo_is_created_when_absent() {
        let dir = Scratch::new("fifo-new");
        let fifo = dir.0.join("notify.fifo");
        // No reader yet: the open fails, but the FIFO is there for one to open.
        let e = open_fifo(&fifo).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENXIO), "{e}");
        let meta = std::fs::symlink_metadata(&fifo).unwrap();
        assert!(meta.file_type().is_fifo());
        assert_eq!(meta.mode() & 0o777, FIFO_MODE);
        // With a reader, the line arrives.
        let mut reader = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&fifo)
            .unwrap();
        write_fifo(
            &fifo,
            &fifo_line("INSTANCE", "VI_1", StateName::Master, 150),
        );
        let mut got = String::new();
        std::io::Read::read_to_string(&mut reader, &mut got).unwrap();
        assert_eq!(got, "INSTANCE \"VI_1\" MASTER 150\n");
    }

    #[test]
    fn a_symlink_in_place_of_the_fifo_is_refused_and_its_target_untouched() {
        let dir = Scratch::new("fifo-link");
        let target = dir.0.join("victim");
        std::fs::write(&target, "precious\n").unwrap();
        let fifo = dir.0.join("notify.fifo");
        std::os::unix::fs::symlink(&target, &fifo).unwrap();
        let e = open_fifo(&fifo).unwrap_err();
        assert!(e.to_string().contains("symbolic link"), "{e}");
        write_fifo(&fifo, "INSTANCE \"VI_1\" MASTER 150\n");
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "precious\n");
        assert!(std::fs::symlink_metadata(&fifo)
            .unwrap()
            .file_type()
            .is_symlink());
    }

    #[test]
    fn a_regular_file_in_place_of_the_fifo_is_refused_and_left_as_it_was() {
        let dir = Scratch::new("fifo-file");
        let fifo = dir.0.join("notify.fifo");
        std::fs::write(&fifo, "old\n").unwrap();
        let e = open_fifo(&fifo).unwrap_err();
        assert!(e.to_string().contains("not a FIFO"), "{e}");
        write_fifo(&fifo, "INSTANCE \"VI_1\" MASTER 150\n");
        assert_eq!(std::fs::read_to_string(&fifo).unwrap(), "old\n");
    }
}

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
#[path = "tests.rs"]
mod tests;

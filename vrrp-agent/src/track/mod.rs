//! Health tracking with keepalived's meanings: `vrrp_script` + `track_script`,
//! `track_interface`, `track_file`, and built-in TCP/HTTP checks that need no script.
//! Tracking moves an instance's priority or puts it in FAULT; the engine acts on that.
//!
//! ## Parts
//!
//! - [`state`] — pure arithmetic: rise/fall/init_fail per check, and [`evaluate`], the
//!   effective priority / fault of an instance. The rules and the reading of keepalived's
//!   documentation they follow are written there.
//! - [`book`] — pure bookkeeping: the [`Plan`] (what to watch, from the configuration), the
//!   [`TrackUpdate`]s watchers send, and the [`TrackBook`] that records them and answers
//!   [`Verdict`]s.
//! - [`probe`] — what a `script` string means: a program (argv split, no shell) or a
//!   built-in (`vrrpx:tcp HOST:PORT`, `vrrpx:http URL [status N]`).
//! - [`runner`] — the tokio edges: run checks (never overlapping), connect, GET, read sysfs
//!   and files.
//! - [`program`] — how a script or notify program is started: as its user, in its own
//!   process group, with a clean environment and ordinary scheduling; killed whole at its
//!   timeout.
//! - [`credentials`] — user and group names to ids (`script_user`, `user`).
//! - [`security`] — keepalived's script security: may anyone but root change what root
//!   runs?
//!
//! ## How the engine drives it
//!
//! ```ignore
//! let (mut tracker, mut updates) = Tracker::start(&config);   // inside the runtime
//! for name in tracker.instances() {                             // initial priorities
//!     let v = tracker.verdict(name).unwrap();                   // v.priority, v.fault, v.pending
//! }
//! while let Some(update) = updates.recv().await {              // in the engine's select!
//!     for name in tracker.apply(&update) {                      // instances whose effect changed
//!         let v = tracker.verdict(&name).unwrap();
//!         // v.fault → FAULT; else priority v.priority; v.reasons → status output
//!     }
//! }
//! drop(tracker);                                                // stops watchers, kills programs
//! ```
//!
//! The receiver yields `None` only after the tracker is dropped; with nothing to track it
//! simply never yields.
//!
//! `pending` means an unweighted check has not reported yet; keepalived keeps such an
//! instance in INIT (no adverts, no takeover) until it has. Interfaces and track files are
//! read once inside [`Tracker::start`], so only scripts can be pending, and only until their
//! first run ends (they run at once, then every `interval`).

pub mod book;
pub mod credentials;
pub mod probe;
pub mod program;
pub mod runner;
pub mod security;
pub mod state;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::config::model::Config;

pub use book::{Observation, Plan, RunResult, Source, TrackBook, TrackUpdate};
pub use state::{evaluate, Status, Verdict};

/// Updates buffered between the watchers and the engine. Watchers wait when it is full;
/// checks do not overlap themselves, so a slow engine delays checks rather than piling
/// them up.
const CHANNEL_DEPTH: usize = 256;

/// The running watchers plus the book of their results.
pub struct Tracker {
    book: TrackBook,
    tasks: Vec<JoinHandle<()>>,
    /// Keeps the channel open while the tracker lives, even with nothing to watch, so the
    /// engine's receiver never reads "closed" (`None`) before the tracker is dropped.
    _open: mpsc::Sender<TrackUpdate>,
}

impl Tracker {
    /// Starts tracking what `config` asks for. Must be called inside a tokio runtime.
    pub fn start(config: &Config) -> (Tracker, mpsc::Receiver<TrackUpdate>) {
        Tracker::start_plan(Plan::from_config(config))
    }

    /// Starts tracking a plan ([`Plan::from_config`], or one built by hand). Writes the
    /// `init_file` values, then reads interfaces and files once. Must be called inside a
    /// tokio runtime.
    pub fn start_plan(plan: Plan) -> (Tracker, mpsc::Receiver<TrackUpdate>) {
        let (tx, rx) = mpsc::channel(CHANNEL_DEPTH);
        let mut book = TrackBook::new(&plan);
        for f in &plan.files {
            runner::init_track_file(f);
        }
        // Interfaces and files are known at once: read them now so that no instance waits
        // on them.
        let first = runner::read_all(&plan.net_root, &plan.interfaces, &plan.files);
        for update in &first {
            book.apply(update);
        }
        let mut tasks: Vec<JoinHandle<()>> = plan
            .checks
            .iter()
            .map(|c| runner::spawn_check(c.clone(), tx.clone()))
            .collect();
        if !plan.interfaces.is_empty() || !plan.files.is_empty() {
            tasks.push(runner::spawn_poller(
                plan.net_root.clone(),
                plan.interfaces.clone(),
                plan.files.clone(),
                plan.poll,
                first,
                tx.clone(),
            ));
        }
        let tracker = Tracker {
            book,
            tasks,
            _open: tx,
        };
        (tracker, rx)
    }

    /// Records an update from the channel; returns the instances whose priority, fault or
    /// pending flag changed.
    pub fn apply(&mut self, update: &TrackUpdate) -> Vec<String> {
        self.book.apply(update)
    }

    /// The current verdict for `instance` (`None` if the configuration has no such
    /// instance).
    pub fn verdict(&self, instance: &str) -> Option<Verdict> {
        self.book.verdict(instance)
    }

    /// Instance names, in configuration order.
    pub fn instances(&self) -> impl Iterator<Item = &str> {
        self.book.instances()
    }

    /// The record itself, e.g. for per-check status output.
    pub fn book(&self) -> &TrackBook {
        &self.book
    }
}

impl Drop for Tracker {
    /// Stops every watcher; programs still running are killed with their process group.
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

//! The daemon's control plane: a Unix socket for `vrrp-agent status`, reloads and an event
//! stream, and an HTTP endpoint serving Prometheus metrics. Both only read what the engine
//! publishes: a [`Status`](crate::status::Status) snapshot in a `watch` channel, events on
//! an [`EventBus`], and inter-arrival observations in [`Histograms`].
//!
//! # Control socket protocol
//!
//! A Unix stream socket (default [`crate::run_dir::default_control_socket`], per network namespace; directory 0700, socket 0600, and only
//! root or the daemon's own user are served). Each request is one JSON object on one line;
//! each answer is one JSON line:
//!
//! | request                | answer                                                      |
//! |------------------------|-------------------------------------------------------------|
//! | `{"cmd":"status"}`     | the `Status` snapshot, serialized                           |
//! | `{"cmd":"reload"}`     | `{"ok":true}` or `{"ok":false,"error":"..."}` from the engine |
//! | `{"cmd":"events"}`     | `{"ok":true,"next_seq":N}`, then the stream (below)         |
//! | anything else          | `{"ok":false,"error":"..."}`                                |
//!
//! Several requests may follow one another on a connection; `events` is the last one, the
//! connection then belongs to the stream. Every event published after the acknowledgement
//! arrives as `{"seq":N,...event fields...}` with `N` counting up by one from `next_seq`. A
//! subscriber too slow to keep up gets `{"seq":F,"lost":K}` instead of events `F..F+K` and
//! the stream continues at `F+K`: nothing disappears or arrives out of order unannounced.

pub mod client;
pub mod metrics;
pub mod server;

pub use client::{render_status, request};
pub use metrics::{render_prometheus, serve_metrics, Histograms, MetricsServer};
pub use server::{ControlServer, Delivery, EventBus, Handles, ReloadRequest, Subscription};

/// Where the daemon of the host's network namespace listens unless told otherwise; in
/// another namespace see [`crate::run_dir::default_control_socket`].
pub const DEFAULT_SOCKET: &str = "/run/vrrpx/control.sock";

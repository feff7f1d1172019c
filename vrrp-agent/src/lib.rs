//! vrrp-agent: the VRRP daemon and passive monitor. The binary is `src/main.rs`; this
//! library exposes the pieces so the integration tests can drive them directly.

pub mod config;
pub mod control;
pub mod engine;
pub mod filter;
pub mod io;
pub mod monitor;
pub mod notify;
pub mod proto;
pub mod realtime;
pub mod receive;
pub mod rlimit;
pub mod run_dir;
pub mod sdnotify;
pub mod status;
pub mod track;

//! The sans-IO protocol core: wire formats and the RFC 5798 state machine. No tokio, no
//! sockets, no clock reads: time comes in as an argument.

pub mod advert;
pub mod auth_hmac;
pub mod health;
pub mod node;
pub mod router;
pub mod timers;

#[cfg(test)]
mod router_tests;

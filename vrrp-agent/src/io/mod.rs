//! The edges: kernel interfaces the agent talks to.
pub mod iface;
pub mod rawsock;
pub mod xdp;

//! The edges: kernel interfaces the agent talks to.
pub mod advert_socket;
pub mod arp;
pub mod heartbeat;
pub mod host_events;
pub mod iface;
pub mod map_batch;
pub mod netlink;
pub mod packet_socket;
pub mod pin;
pub mod rawsock;
pub mod timer;
pub mod vip;
pub mod vmac;
pub mod xdp;

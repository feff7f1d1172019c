//! What the kernel says about the host while we run: links appearing, going away, losing
//! or regaining carrier, and addresses added or removed by anyone (netplan, an operator,
//! DHCP, us). One rtnetlink socket subscribed to the link and address groups; nothing is
//! polled, so a process short of file descriptors still hears every change.
//!
//! The kernel drops multicast messages when the socket's queue is full; the engine
//! therefore also re-reads the interfaces it cares about now and then (see the engine's
//! resync), and treats every message as a hint to re-check, never as the only truth.

use anyhow::{Context, Result};
use futures::channel::mpsc::UnboundedReceiver;
use futures::StreamExt;
use netlink_packet_route::RouteNetlinkMessage;
use rtnetlink::packet_core::{NetlinkMessage, NetlinkPayload};
use rtnetlink::{new_multicast_connection, MulticastGroup};

use super::netlink::{IfAddr, Link};

/// One change on the host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostEvent {
    /// A link appeared or changed (flags, name, carrier).
    Link(Link),
    /// A link was deleted.
    LinkGone {
        ifindex: u32,
        name: String,
    },
    /// An address was added or changed (e.g. DAD finished: no longer tentative).
    AddressAdded(IfAddr),
    AddressRemoved(IfAddr),
}

/// The subscription; `next` waits for the next change.
pub struct HostEvents {
    rx: UnboundedReceiver<(
        NetlinkMessage<RouteNetlinkMessage>,
        rtnetlink::sys::SocketAddr,
    )>,
}

impl HostEvents {
    /// Subscribe in the calling thread's namespace; the connection runs on the current
    /// tokio runtime.
    pub fn subscribe() -> Result<HostEvents> {
        let (conn, _handle, rx) = new_multicast_connection(&[
            MulticastGroup::Link,
            MulticastGroup::Ipv4Ifaddr,
            MulticastGroup::Ipv6Ifaddr,
        ])
        .context("subscribing to rtnetlink link and address events")?;
        tokio::spawn(conn);
        Ok(HostEvents { rx })
    }

    /// The next change the engine cares about; `None` when the subscription ended.
    pub async fn next(&mut self) -> Option<HostEvent> {
        loop {
            let (msg, _) = self.rx.next().await?;
            if let Some(ev) = decode(msg) {
                return Some(ev);
            }
        }
    }
}

fn decode(msg: NetlinkMessage<RouteNetlinkMessage>) -> Option<HostEvent> {
    let NetlinkPayload::InnerMessage(inner) = msg.payload else {
        return None;
    };
    match inner {
        RouteNetlinkMessage::NewLink(m) => Some(HostEvent::Link(Link::from_message(&m))),
        RouteNetlinkMessage::DelLink(m) => {
            let l = Link::from_message(&m);
            Some(HostEvent::LinkGone {
                ifindex: l.ifindex,
                name: l.name,
            })
        }
        RouteNetlinkMessage::NewAddress(m) => IfAddr::from_message(&m).map(HostEvent::AddressAdded),
        RouteNetlinkMessage::DelAddress(m) => {
            IfAddr::from_message(&m).map(HostEvent::AddressRemoved)
        }
        _ => None,
    }
}

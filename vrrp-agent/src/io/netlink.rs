//! One rtnetlink connection shared by the address and link edges ([`super::vip`],
//! [`super::vmac`]), and the interface facts the advert and GARP edges need: the MAC, the
//! primary IPv4 address and the IPv6 link-local address.
//!
//! The netlink socket lives in the network namespace of the thread that calls
//! [`Netlink::connect`]; the connection task runs on the caller's tokio runtime.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use anyhow::{anyhow, bail, Context, Result};
use futures::TryStreamExt;
use netlink_packet_route::address::{
    AddressAttribute, AddressFlags, AddressHeaderFlags, AddressMessage,
};
use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkInfo, LinkMessage};

use super::vip::VIP_PROTO;

/// A handle on the rtnetlink connection; cheap to clone.
#[derive(Clone)]
pub struct Netlink {
    pub(crate) handle: rtnetlink::Handle,
}

impl Netlink {
    /// Open a route netlink socket in the calling thread's namespace and run its
    /// connection on the current tokio runtime.
    pub fn connect() -> Result<Netlink> {
        let rt = tokio::runtime::Handle::try_current()
            .map_err(|_| anyhow!("rtnetlink needs a tokio runtime"))?;
        let (conn, handle, _) = rtnetlink::new_connection().context("opening rtnetlink")?;
        rt.spawn(conn);
        Ok(Netlink { handle })
    }

    /// The raw rtnetlink handle, for requests this module does not wrap.
    pub fn handle(&self) -> &rtnetlink::Handle {
        &self.handle
    }

    /// The link with index `ifindex`.
    pub async fn link(&self, ifindex: u32) -> Result<Link> {
        let mut s = self.handle.link().get().match_index(ifindex).execute();
        match s.try_next().await {
            Ok(Some(m)) => Ok(Link::from_message(&m)),
            Ok(None) => bail!("interface {ifindex}: no such interface"),
            Err(e) if errno(&e) == Some(libc::ENODEV) => {
                bail!("interface {ifindex}: no such interface")
            }
            Err(e) => Err(nl_error(e)).with_context(|| format!("interface {ifindex}")),
        }
    }

    /// The link called `name`, or `None` when there is none.
    pub async fn link_by_name(&self, name: &str) -> Result<Option<Link>> {
        let mut s = self
            .handle
            .link()
            .get()
            .match_name(name.to_string())
            .execute();
        match s.try_next().await {
            Ok(m) => Ok(m.map(|m| Link::from_message(&m))),
            Err(e) if errno(&e) == Some(libc::ENODEV) => Ok(None),
            Err(e) => Err(nl_error(e)).with_context(|| format!("interface {name}")),
        }
    }

    /// Every address on `ifindex`, or on every interface when `None`, in kernel order
    /// (IPv4 primaries come before their secondaries).
    pub async fn addresses(&self, ifindex: Option<u32>) -> Result<Vec<IfAddr>> {
        let mut req = self.handle.address().get();
        if let Some(i) = ifindex {
            req = req.set_link_index_filter(i);
        }
        let msgs: Vec<AddressMessage> = req
            .execute()
            .try_collect()
            .await
            .map_err(nl_error)
            .with_context(|| match ifindex {
                Some(i) => format!("listing addresses of {}", super::iface::name_of(i)),
                None => "listing addresses".to_string(),
            })?;
        Ok(msgs.iter().filter_map(IfAddr::from_message).collect())
    }

    /// Every link in the namespace.
    pub async fn links(&self) -> Result<Vec<Link>> {
        let msgs: Vec<LinkMessage> = self
            .handle
            .link()
            .get()
            .execute()
            .try_collect()
            .await
            .map_err(nl_error)
            .context("listing interfaces")?;
        Ok(msgs.iter().map(Link::from_message).collect())
    }

    /// The MAC, primary IPv4 address and IPv6 link-local address of `ifindex`: the
    /// sources of adverts (RFC 5798 §5.1.1.1, §5.1.2.1) and of GARP / NA.
    pub async fn sources(&self, ifindex: u32) -> Result<Sources> {
        let link = self.link(ifindex).await?;
        let addrs = self.addresses(Some(ifindex)).await?;
        Ok(Sources::pick(link.mac, &addrs))
    }
}

/// What an interface offers as sources for the packets we send on it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sources {
    pub mac: Option<[u8; 6]>,
    /// The first IPv4 primary (non-secondary) address that is not one of our VIPs.
    pub primary_v4: Option<Ipv4Addr>,
    /// The first usable (not tentative, not failed DAD) link-local IPv6 address.
    pub link_local_v6: Option<Ipv6Addr>,
}

impl Sources {
    /// Choose the sources from an interface's address list (kernel order).
    pub fn pick(mac: Option<[u8; 6]>, addrs: &[IfAddr]) -> Sources {
        let primary_v4 = addrs.iter().find_map(|a| match a.addr {
            IpAddr::V4(v4) if !a.is_secondary() && !a.is_ours() => Some(v4),
            _ => None,
        });
        let link_local_v6 = addrs.iter().find_map(|a| match a.addr {
            IpAddr::V6(v6)
                if is_link_local_v6(v6)
                    && !a
                        .flags
                        .intersects(AddressFlags::Tentative | AddressFlags::Dadfailed) =>
            {
                Some(v6)
            }
            _ => None,
        });
        Sources {
            mac,
            primary_v4,
            link_local_v6,
        }
    }
}

/// fe80::/10.
pub fn is_link_local_v6(a: Ipv6Addr) -> bool {
    a.segments()[0] & 0xffc0 == 0xfe80
}

/// One link as rtnetlink reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    pub ifindex: u32,
    pub name: String,
    pub mac: Option<[u8; 6]>,
    /// Administratively up (IFF_UP).
    pub up: bool,
    /// Carrier: the kernel says the link is operational (IFF_RUNNING), so frames flow.
    pub running: bool,
    /// The parent link (IFLA_LINK), for macvlan, vlan and the like.
    pub parent: Option<u32>,
    /// The link kind ("macvlan", "veth", ...), when it has one.
    pub kind: Option<String>,
}

impl Link {
    /// Up and with carrier: what an instance needs to run on it.
    pub fn usable(&self) -> bool {
        self.up && self.running
    }

    pub(crate) fn from_message(m: &LinkMessage) -> Link {
        let mut l = Link {
            ifindex: m.header.index,
            name: String::new(),
            mac: None,
            up: m.header.flags.contains(LinkFlags::Up),
            running: m.header.flags.contains(LinkFlags::Running),
            parent: None,
            kind: None,
        };
        for a in &m.attributes {
            match a {
                LinkAttribute::IfName(n) => l.name = n.clone(),
                LinkAttribute::Address(b) => l.mac = b.as_slice().try_into().ok(),
                LinkAttribute::Link(p) => l.parent = Some(*p),
                LinkAttribute::LinkInfo(infos) => {
                    for i in infos {
                        if let LinkInfo::Kind(k) = i {
                            l.kind = Some(k.to_string());
                        }
                    }
                }
                _ => {}
            }
        }
        l
    }
}

/// One address on an interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IfAddr {
    pub ifindex: u32,
    pub addr: IpAddr,
    pub prefix_len: u8,
    /// The IPv4 label when it differs from the interface name (IPv6 has none).
    pub label: Option<String>,
    /// IFA_PROTO: who added the address (0 when unknown). [`VIP_PROTO`] marks ours.
    pub proto: u8,
    pub flags: AddressFlags,
}

impl IfAddr {
    /// Added by vrrpx (this run or an earlier one).
    pub fn is_ours(&self) -> bool {
        self.proto == VIP_PROTO
    }

    pub fn is_secondary(&self) -> bool {
        self.flags.contains(AddressFlags::Secondary)
    }

    /// IPv6 duplicate address detection still running: not usable yet.
    pub fn is_tentative(&self) -> bool {
        self.flags.contains(AddressFlags::Tentative)
    }

    pub(crate) fn from_message(m: &AddressMessage) -> Option<IfAddr> {
        let mut local = None;
        let mut address = None;
        let mut label = None;
        let mut proto = 0;
        // The header holds the low 8 flag bits; IFA_FLAGS, when present, holds all 32.
        let mut flags = AddressFlags::from_bits_retain(u32::from(m.header.flags.bits()));
        for a in &m.attributes {
            match a {
                AddressAttribute::Local(ip) => local = Some(*ip),
                AddressAttribute::Address(ip) => address = Some(*ip),
                AddressAttribute::Label(l) => label = Some(l.clone()),
                AddressAttribute::Protocol(p) => proto = u8::from(*p),
                AddressAttribute::Flags(f) => flags = *f,
                _ => {}
            }
        }
        // IPv4: IFA_LOCAL is the address, IFA_ADDRESS the peer on point-to-point links.
        let addr = local.or(address)?;
        let ifname = super::iface::name_of(m.header.index);
        Some(IfAddr {
            ifindex: m.header.index,
            addr,
            prefix_len: m.header.prefix_len,
            label: label.filter(|l| *l != ifname),
            proto,
            flags,
        })
    }
}

/// The header flag byte matching `flags` (the kernel reads both).
pub(crate) fn header_flags(flags: AddressFlags) -> AddressHeaderFlags {
    AddressHeaderFlags::from_bits_retain(flags.bits() as u8)
}

/// The errno of a netlink error reply, if that is what `e` is.
pub fn errno(e: &rtnetlink::Error) -> Option<i32> {
    match e {
        rtnetlink::Error::NetlinkError(m) => m.code.map(|c| -c.get()),
        _ => None,
    }
}

/// An rtnetlink error as an anyhow error, with the OS wording for errno replies.
pub(crate) fn nl_error(e: rtnetlink::Error) -> anyhow::Error {
    match errno(&e) {
        Some(n) => anyhow::Error::new(std::io::Error::from_raw_os_error(n)),
        None => anyhow::Error::new(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(addr: &str, flags: AddressFlags, proto: u8) -> IfAddr {
        IfAddr {
            ifindex: 2,
            addr: addr.parse().unwrap(),
            prefix_len: 24,
            label: None,
            proto,
            flags,
        }
    }

    #[test]
    fn sources_skip_secondaries_our_vips_and_tentative_link_locals() {
        let addrs = [
            a("10.0.0.100", AddressFlags::empty(), VIP_PROTO),
            a("10.0.0.7", AddressFlags::Secondary, 0),
            a("10.0.0.1", AddressFlags::empty(), 0),
            a("fe80::1", AddressFlags::Tentative, 0),
            a("2001:db8::1", AddressFlags::empty(), 0),
            a("fe80::2", AddressFlags::Permanent, 0),
        ];
        let s = Sources::pick(Some([2, 0, 0, 0, 0, 1]), &addrs);
        assert_eq!(s.primary_v4, Some(Ipv4Addr::new(10, 0, 0, 1)));
        assert_eq!(s.link_local_v6, Some("fe80::2".parse().unwrap()));
    }

    #[test]
    fn link_local_is_fe80_slash_10() {
        assert!(is_link_local_v6("fe80::1".parse().unwrap()));
        assert!(is_link_local_v6("febf::1".parse().unwrap()));
        assert!(!is_link_local_v6("fec0::1".parse().unwrap()));
        assert!(!is_link_local_v6("ff02::1".parse().unwrap()));
    }
}

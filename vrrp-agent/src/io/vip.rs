//! Virtual addresses over rtnetlink: add, remove and list the VIPs of an instance.
//!
//! Every change names exactly one address (interface, address, prefix length); nothing
//! else on the interface is touched. Adding a present address and removing an absent one
//! succeed, so the engine can repeat an action after a partial failure or a restart.
//!
//! Addresses we add carry `IFA_PROTO` = [`VIP_PROTO`] (kernel ≥ 5.18 keeps it and reports
//! it in dumps, for IPv4 and IPv6 alike), so a later run finds what a crashed one left
//! behind ([`Vips::list_ours`], [`Vips::remove_all_ours`]) without guessing from labels.
//! Older kernels ignore the attribute: the addresses still work, only the crash clean-up
//! finds nothing.

use std::net::IpAddr;

use anyhow::{bail, Context, Result};
use netlink_packet_route::address::{AddressAttribute, AddressFlags, AddressProtocol};
use rtnetlink::AddressMessageBuilder;

use super::iface::name_of;
use super::netlink::{errno, header_flags, nl_error, IfAddr, Netlink};

/// The `IFA_PROTO` value marking addresses added by vrrpx: 'V'. The kernel reserves 0–3
/// (unspec, kernel_lo, kernel_ra, kernel_ll); recent iproute2 shows it as `proto 0x56`
/// (Debian 12's 6.1 does not print it).
pub const VIP_PROTO: u8 = 0x56;

/// The longest IPv4 address label the kernel stores (IFNAMSIZ - 1).
const MAX_LABEL: usize = 15;

/// Declares a cheap-to-clone handle that makes its changes over an rtnetlink connection:
/// `new` shares the caller's, `connect` opens one in the calling thread's namespace.
macro_rules! netlink_handle {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone)]
        pub struct $name {
            nl: Netlink,
        }

        impl $name {
            pub fn new(nl: &Netlink) -> $name {
                $name { nl: nl.clone() }
            }

            /// A fresh rtnetlink connection in the calling thread's namespace.
            pub fn connect() -> Result<$name> {
                Ok($name {
                    nl: Netlink::connect()?,
                })
            }
        }
    };
}
pub(super) use netlink_handle;

netlink_handle!(
    /// Adds and removes virtual addresses; cheap to clone.
    Vips
);

impl Vips {
    /// Add `addr/prefix_len` to `ifindex`, marked as ours. IPv4 addresses may carry a
    /// `label` (keepalived's `label eth0:1`); IPv6 addresses are added without duplicate
    /// address detection (`IFA_F_NODAD`), keeping the prefix route, so a VIP answers the
    /// moment we become master (RFC 5798 §6.4.3 expects the takeover to be immediate).
    ///
    /// Returns `false` when the address was already there (left exactly as it was).
    pub async fn add(
        &self,
        ifindex: u32,
        addr: IpAddr,
        prefix_len: u8,
        label: Option<&str>,
    ) -> Result<bool> {
        let what = || format!("adding {addr}/{prefix_len} to {}", name_of(ifindex));
        check_vip(addr, prefix_len).with_context(what)?;
        if let Some(l) = label {
            if addr.is_ipv6() {
                bail!("{}: IPv6 addresses have no labels", what());
            }
            if l.is_empty() || l.len() > MAX_LABEL || l.contains('\0') {
                bail!(
                    "{}: label {l:?} must be 1 to {MAX_LABEL} bytes long",
                    what()
                );
            }
        }
        if addr.is_ipv4() {
            keep_secondaries(ifindex);
        }
        let mut req = self.nl.handle.address().add(ifindex, addr, prefix_len);
        let m = req.message_mut();
        m.attributes
            .push(AddressAttribute::Protocol(AddressProtocol::from(VIP_PROTO)));
        if addr.is_ipv6() {
            let flags = AddressFlags::Nodad;
            m.header.flags = header_flags(flags);
            m.attributes.push(AddressAttribute::Flags(flags));
        }
        if let Some(l) = label {
            m.attributes.push(AddressAttribute::Label(l.to_string()));
        }
        match req.execute().await {
            Ok(()) => Ok(true),
            Err(e) if errno(&e) == Some(libc::EEXIST) => Ok(false),
            Err(e) => Err(nl_error(e)).with_context(what),
        }
    }

    /// Remove `addr/prefix_len` from `ifindex`. Returns `false` when it was not there
    /// (or the interface has gone). Only an address with this exact prefix length is
    /// removed: 10.0.0.5/32 leaves 10.0.0.5/24 alone.
    pub async fn remove(&self, ifindex: u32, addr: IpAddr, prefix_len: u8) -> Result<bool> {
        let what = || format!("removing {addr}/{prefix_len} from {}", name_of(ifindex));
        check_vip(addr, prefix_len).with_context(what)?;
        let msg = match addr {
            IpAddr::V4(a) => AddressMessageBuilder::<std::net::Ipv4Addr>::new()
                .index(ifindex)
                .address(a, prefix_len)
                .build(),
            IpAddr::V6(a) => AddressMessageBuilder::<std::net::Ipv6Addr>::new()
                .index(ifindex)
                .address(a, prefix_len)
                .build(),
        };
        match self.nl.handle.address().del(msg).execute().await {
            Ok(()) => Ok(true),
            Err(e) if matches!(errno(&e), Some(libc::EADDRNOTAVAIL | libc::ENODEV)) => Ok(false),
            Err(e) => Err(nl_error(e)).with_context(what),
        }
    }

    /// Every address on `ifindex` (ours and others), in kernel order.
    pub async fn list(&self, ifindex: u32) -> Result<Vec<IfAddr>> {
        self.nl.addresses(Some(ifindex)).await
    }

    /// The addresses marked as ours, on `ifindex` or on every interface.
    pub async fn list_ours(&self, ifindex: Option<u32>) -> Result<Vec<IfAddr>> {
        let mut v = self.nl.addresses(ifindex).await?;
        v.retain(IfAddr::is_ours);
        Ok(v)
    }

    /// Start-up clean-up: remove every address marked as ours in this namespace, which a
    /// previous run left behind if it was killed. Returns what was removed.
    pub async fn remove_all_ours(&self) -> Result<Vec<IfAddr>> {
        let ours = self.list_ours(None).await?;
        let mut removed = Vec::with_capacity(ours.len());
        for a in ours {
            if self.remove(a.ifindex, a.addr, a.prefix_len).await? {
                removed.push(a);
            }
        }
        Ok(removed)
    }
}

fn check_vip(addr: IpAddr, prefix_len: u8) -> Result<()> {
    let max = if addr.is_ipv4() { 32 } else { 128 };
    if prefix_len > max {
        bail!("prefix length {prefix_len} is longer than {max}");
    }
    if addr.is_unspecified() || addr.is_multicast() {
        bail!("{addr} cannot be a virtual address");
    }
    Ok(())
}

/// Ask the kernel to promote a secondary IPv4 address when the primary of its subnet is
/// removed, instead of removing every secondary with it: removing one VIP that happens to
/// be the primary must not take the other VIPs of its subnet along. keepalived does the
/// same. Best effort: a failure only costs that protection, so it is logged, not returned.
fn keep_secondaries(ifindex: u32) {
    let path = format!(
        "/proc/sys/net/ipv4/conf/{}/promote_secondaries",
        name_of(ifindex)
    );
    if std::fs::read_to_string(&path).is_ok_and(|v| v.trim() == "1") {
        return;
    }
    if let Err(e) = std::fs::write(&path, "1") {
        tracing::warn!(iface = %name_of(ifindex), error = %e, "cannot set promote_secondaries");
    }
}

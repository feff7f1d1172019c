//! `use_vmac`: a macvlan carrying the virtual router MAC (RFC 5798 §7.3), so the VIPs
//! move between routers without hosts having to learn a new MAC.
//!
//! Named like keepalived's (`vrrp.<VRID>` unless configured otherwise), in bridge mode,
//! with MAC 00:00:5e:00:01:<VRID> for IPv4 or 00:00:5e:00:02:<VRID> for IPv6.
//! [`Vmacs::ensure`] adopts a matching interface left by an earlier run and refuses one
//! that does not match; [`Vmacs::delete`] only deletes macvlans.

use anyhow::{bail, Context, Result};
use netlink_packet_route::link::MacVlanMode;
use rtnetlink::{LinkMacVlan, LinkUnspec};

use super::iface::name_of;
use super::netlink::{errno, nl_error, Link, Netlink};
use super::vip::netlink_handle;

/// The virtual router MAC of `vrid` (RFC 5798 §7.3).
pub fn vmac_mac(vrid: u8, ipv6: bool) -> [u8; 6] {
    [0x00, 0x00, 0x5e, 0x00, if ipv6 { 0x02 } else { 0x01 }, vrid]
}

/// keepalived's default vmac interface name for `vrid`.
pub fn default_vmac_name(vrid: u8) -> String {
    format!("vrrp.{vrid}")
}

/// The names tried for a vmac of `vrid`, in order: keepalived's `vrrp.<VRID>` first, then
/// `vrrp<N>.<VRID>`, so the same VRID on two interfaces gets two macvlans (interface
/// names are per namespace and at most 15 bytes: `vrrp99.255` is 10).
pub fn vmac_name_candidates(vrid: u8) -> impl Iterator<Item = String> {
    std::iter::once(default_vmac_name(vrid)).chain((1..100).map(move |n| format!("vrrp{n}.{vrid}")))
}

/// `aa:bb:cc:dd:ee:ff`.
pub fn fmt_mac(m: [u8; 6]) -> String {
    format!(
        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        m[0], m[1], m[2], m[3], m[4], m[5]
    )
}

netlink_handle!(
    /// Creates and deletes vmac interfaces; cheap to clone.
    Vmacs
);

impl Vmacs {
    /// Make `name` a macvlan (bridge mode) of `parent` with `mac`, up, and return its
    /// ifindex. An existing macvlan of the same parent with the same MAC is reused, so
    /// calling this twice (or after a crash) is fine.
    ///
    /// The vmac gets no IPv6 link-local of its own (`addr_gen_mode` none): both routers
    /// would derive the same fe80:: address from the shared MAC, fail DAD, and make the
    /// switch see the virtual MAC from the backup too.
    pub async fn ensure(&self, parent: u32, name: &str, mac: [u8; 6]) -> Result<u32> {
        let parent_name = name_of(parent);
        let what = || format!("vmac {name} on {parent_name} with MAC {}", fmt_mac(mac));
        if name.is_empty() || name.len() > 15 || name.contains(['/', ' ', '\0']) {
            bail!("{}: invalid interface name", what());
        }
        let link = match self.nl.link_by_name(name).await.with_context(what)? {
            Some(l) => {
                check_matches(&l, parent, mac).with_context(what)?;
                l
            }
            None => {
                let msg = LinkMacVlan::new(name, parent, MacVlanMode::Bridge)
                    .address(mac.to_vec())
                    .build();
                match self.nl.handle.link().add(msg).execute().await {
                    Ok(()) => {}
                    // Created meanwhile by someone else: check it below like any other.
                    Err(e) if errno(&e) == Some(libc::EEXIST) => {}
                    Err(e) => {
                        return Err(nl_error(e)).with_context(|| format!("creating {}", what()))
                    }
                }
                let l = self
                    .nl
                    .link_by_name(name)
                    .await?
                    .with_context(|| format!("{}: gone right after creation", what()))?;
                check_matches(&l, parent, mac).with_context(what)?;
                l
            }
        };
        no_ipv6_link_local(name);
        if !link.up {
            let msg = LinkUnspec::new_with_index(link.ifindex).up().build();
            self.nl
                .handle
                .link()
                .change(msg)
                .execute()
                .await
                .map_err(nl_error)
                .with_context(|| format!("bringing up {}", what()))?;
        }
        Ok(link.ifindex)
    }

    /// The first free name for a vmac of `vrid` on `parent`, or the name of one that
    /// already matches (same parent, same MAC: left by an earlier run of ours, or made by
    /// this run for another instance of the same virtual router).
    pub async fn pick_name(&self, parent: u32, vrid: u8, mac: [u8; 6]) -> Result<String> {
        for name in vmac_name_candidates(vrid) {
            match self.nl.link_by_name(&name).await? {
                None => return Ok(name),
                Some(l) if check_matches(&l, parent, mac).is_ok() => return Ok(name),
                Some(_) => continue,
            }
        }
        bail!("no free vmac name for VRID {vrid} on {}", name_of(parent))
    }

    /// Delete the vmac `name`. Returns `false` if there was none; refuses to delete an
    /// interface of that name that is not a macvlan.
    pub async fn delete(&self, name: &str) -> Result<bool> {
        let Some(l) = self
            .nl
            .link_by_name(name)
            .await
            .with_context(|| format!("vmac {name}"))?
        else {
            return Ok(false);
        };
        if l.kind.as_deref() != Some("macvlan") {
            bail!(
                "vmac {name}: interface exists but is a {}, not a macvlan; not deleting it",
                l.kind.as_deref().unwrap_or("device without a kind")
            );
        }
        match self.nl.handle.link().del(l.ifindex).execute().await {
            Ok(()) => Ok(true),
            Err(e) if errno(&e) == Some(libc::ENODEV) => Ok(false),
            Err(e) => Err(nl_error(e)).with_context(|| format!("deleting vmac {name}")),
        }
    }
}

fn check_matches(l: &Link, parent: u32, mac: [u8; 6]) -> Result<()> {
    if l.kind.as_deref() != Some("macvlan") {
        bail!(
            "interface {} exists but is a {}, not a macvlan",
            l.name,
            l.kind.as_deref().unwrap_or("device without a kind")
        );
    }
    if l.parent != Some(parent) {
        bail!(
            "interface {} exists on parent {}",
            l.name,
            l.parent.map_or("none".to_string(), name_of)
        );
    }
    if l.mac != Some(mac) {
        bail!(
            "interface {} exists with MAC {}",
            l.name,
            l.mac.map_or("none".to_string(), fmt_mac)
        );
    }
    Ok(())
}

/// `addr_gen_mode` 1 (none) before the link comes up. Best effort: absent when IPv6 is
/// disabled, in which case there is nothing to prevent.
fn no_ipv6_link_local(name: &str) {
    let path = format!("/proc/sys/net/ipv6/conf/{name}/addr_gen_mode");
    if std::path::Path::new(&path).exists() {
        if let Err(e) = std::fs::write(&path, "1") {
            tracing::warn!(iface = name, error = %e, "cannot set addr_gen_mode");
        }
    }
}

/// With a vmac, the parent interface must not answer ARP for the VIPs on the vmac (with
/// its own MAC), nor use them as ARP sources: `arp_ignore=1`, `arp_announce=2` on the
/// parent. Not done implicitly because it changes the parent's behaviour for every
/// address it has.
pub fn set_parent_arp_sysctls(parent: u32) -> Result<()> {
    let ifname = name_of(parent);
    for (key, value) in [("arp_ignore", "1"), ("arp_announce", "2")] {
        let path = format!("/proc/sys/net/ipv4/conf/{ifname}/{key}");
        std::fs::write(&path, value).with_context(|| format!("{ifname}: setting {key}={value}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn virtual_macs_follow_rfc_5798_section_7_3() {
        assert_eq!(vmac_mac(51, false), [0, 0, 0x5e, 0, 1, 51]);
        assert_eq!(vmac_mac(255, true), [0, 0, 0x5e, 0, 2, 255]);
        assert_eq!(fmt_mac(vmac_mac(0x33, false)), "00:00:5e:00:01:33");
        assert_eq!(default_vmac_name(7), "vrrp.7");
        let names: Vec<String> = vmac_name_candidates(51).take(3).collect();
        assert_eq!(names, ["vrrp.51", "vrrp1.51", "vrrp2.51"]);
        assert!(vmac_name_candidates(255).all(|n| n.len() <= 15));
    }
}

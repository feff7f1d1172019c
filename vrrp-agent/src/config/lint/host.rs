//! The file against the host it is checked on. The host comes in as plain facts
//! ([`Host`]), gathered by [`super::local_host`] or written by a test.
//!
//! A missing interface is what `keepalived -t` reports about a host (keepalived then does
//! not start VRRP at all), and vrrpx cannot start an instance without its interface either:
//! so it is fatal here. `check --no-host` skips these checks on a machine that is not the
//! target (a CI runner, a laptop).

use std::net::IpAddr;

use super::peer::network;
use super::{Finding, Severity, Side};
use crate::config::model::{Family, Instance, InstanceLines};

/// The interfaces of a host that a configuration names, with their addresses.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Host {
    pub interfaces: Vec<HostInterface>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostInterface {
    pub name: String,
    pub addresses: Vec<HostAddress>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostAddress {
    pub addr: IpAddr,
    pub prefix_len: u8,
    /// Added by vrrpx as a virtual address (its rtnetlink tag): not the host's own.
    pub virtual_by_vrrpx: bool,
}

impl Host {
    pub fn interface(&self, name: &str) -> Option<&HostInterface> {
        self.interfaces.iter().find(|i| i.name == name)
    }
}

impl HostInterface {
    /// The host's own addresses here, leaving out the virtual ones vrrpx added.
    fn own(&self) -> impl Iterator<Item = &HostAddress> {
        self.addresses.iter().filter(|a| !a.virtual_by_vrrpx)
    }
}

/// Every interface name `side` refers to: instances', `dev` of virtual addresses, tracked
/// interfaces. What [`super::local_host::gather`] needs to look up.
pub fn interface_names(side: &Side) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for i in &side.config.instances {
        let all = std::iter::once(&i.interface)
            .chain(i.virtual_addresses.iter().filter_map(|v| v.dev.as_ref()))
            .chain(i.track_interfaces.iter().map(|t| &t.name));
        for name in all {
            if !names.contains(name) {
                names.push(name.clone());
            }
        }
    }
    names
}

/// Every problem of `side` on `host`.
pub fn check(side: &Side, host: &Host) -> Vec<Finding> {
    let mut out = Vec::new();
    for i in &side.config.instances {
        let lines = side.lines_of(&i.name);
        instance(i, &lines, host, &mut out);
    }
    out
}

fn is_link_local(addr: IpAddr) -> bool {
    match addr {
        IpAddr::V4(a) => a.is_link_local(),
        IpAddr::V6(a) => a.segments()[0] & 0xffc0 == 0xfe80,
    }
}

fn family_of(addr: IpAddr) -> Family {
    if addr.is_ipv4() {
        Family::V4
    } else {
        Family::V6
    }
}

fn instance(i: &Instance, lines: &InstanceLines, host: &Host, out: &mut Vec<Finding>) {
    let name = &i.name;
    let Some(iface) = host.interface(&i.interface) else {
        out.push(
            Finding::new(
                Severity::Fatal,
                "missing-interface",
                lines.or_block(&lines.interface),
                format!(
                    "interface {} of vrrp_instance {name} does not exist on this host \
                     (keepalived -t reports it too, and does not start VRRP); vrrpx would not \
                     start. On a machine that is not the target, run check with --no-host",
                    i.interface
                ),
            )
            .instance(name),
        );
        return;
    };
    // RFC 5798 §5.1.1.1: IPv4 adverts come from the interface's primary address.
    let needs_v4_source = i.family == Family::V4 && i.unicast_src.is_none();
    if needs_v4_source && !iface.own().any(|a| a.addr.is_ipv4()) {
        out.push(
            Finding::new(
                Severity::Fatal,
                "no-interface-address",
                lines.or_block(&lines.interface),
                format!(
                    "interface {} of vrrp_instance {name} has no IPv4 address of its own, and \
                     adverts are sent from it (RFC 5798 §5.1.1.1); vrrpx would not start",
                    i.interface
                ),
            )
            .instance(name),
        );
    }
    for (n, vip) in i.virtual_addresses.iter().enumerate() {
        let (at, prefix_written) = lines
            .virtual_addresses
            .get(n)
            .map_or((&lines.block, false), |(at, written)| (at, *written));
        let on_name = vip.dev.as_deref().unwrap_or(&i.interface);
        let Some(on) = host.interface(on_name) else {
            out.push(
                Finding::new(
                    Severity::Fatal,
                    "missing-interface",
                    at,
                    format!(
                        "virtual address {} of vrrp_instance {name} goes on {on_name} (`dev`), \
                         which does not exist on this host",
                        vip.addr
                    ),
                )
                .instance(name),
            );
            continue;
        };
        if let Some(owner) = host
            .interfaces
            .iter()
            .find(|h| h.own().any(|a| a.addr == vip.addr))
        {
            out.push(
                Finding::new(
                    Severity::Error,
                    "vip-is-interface-address",
                    at,
                    format!(
                        "virtual address {} of vrrp_instance {name} is already an address of \
                         {} on this host: a backup would keep answering for it, and a master \
                         that stops removes the host's own address (if another VRRP daemon \
                         holds it as master right now, this is expected during a migration)",
                        vip.addr, owner.name
                    ),
                )
                .instance(name),
            );
            continue;
        }
        let host_len = if vip.addr.is_ipv4() { 32 } else { 128 };
        let explicit_host_route = prefix_written && vip.prefix_len == host_len;
        let subnets: Vec<String> = on
            .own()
            .filter(|a| family_of(a.addr) == family_of(vip.addr) && !is_link_local(a.addr))
            .map(|a| format!("{}/{}", network(a.addr, a.prefix_len), a.prefix_len))
            .collect();
        let inside = on.own().any(|a| {
            family_of(a.addr) == family_of(vip.addr)
                && network(a.addr, a.prefix_len) == network(vip.addr, a.prefix_len)
        });
        if !inside && !explicit_host_route && !is_link_local(vip.addr) {
            let subnets = if subnets.is_empty() {
                "it has none of this family".to_string()
            } else {
                subnets.join(", ")
            };
            out.push(
                Finding::new(
                    Severity::Warning,
                    "vip-outside-subnets",
                    at,
                    format!(
                        "virtual address {} of vrrp_instance {name} is outside every subnet \
                         of {on_name} ({subnets}): hosts on the segment will not ARP for it \
                         unless they route it here; write {}/{host_len} to say that is meant",
                        vip.addr, vip.addr
                    ),
                )
                .instance(name),
            );
        }
    }
    if let Some(src) = i.unicast_src {
        if !host
            .interfaces
            .iter()
            .any(|h| h.own().any(|a| a.addr == src))
        {
            out.push(
                Finding::new(
                    Severity::Warning,
                    "unicast-src-not-local",
                    lines.or_block(&lines.unicast_src),
                    format!(
                        "unicast_src_ip {src} of vrrp_instance {name} is not an address of \
                         this host: peers that check the source will discard its adverts"
                    ),
                )
                .instance(name),
            );
        }
    }
    for t in &i.track_interfaces {
        if host.interface(&t.name).is_none() {
            out.push(
                Finding::new(
                    Severity::Warning,
                    "missing-track-interface",
                    &lines.block,
                    format!(
                        "vrrp_instance {name} tracks interface {}, which does not exist on \
                         this host: it counts as down",
                        t.name
                    ),
                )
                .instance(name),
            );
        }
    }
}

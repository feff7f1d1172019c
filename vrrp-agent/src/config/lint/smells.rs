//! Valid configurations that are rarely what was meant. (Smells in the text itself, such as
//! `//` comments, wrong-case keywords and values, a long auth_pass or authentication under
//! VRRPv3, are reported while the file is read, where the words are known.)

use std::collections::HashMap;
use std::net::IpAddr;

use super::{Finding, Severity, Side};
use crate::config::model::{Location, Version};

/// The VRID of keepalived's sample keepalived.conf, copied by most tutorials.
const TUTORIAL_VRID: u8 = 51;

pub fn check(side: &Side) -> Vec<Finding> {
    let mut out = Vec::new();
    tutorial_vrid(side, &mut out);
    duplicate_addresses(side, &mut out);
    no_accept(side, &mut out);
    out
}

fn tutorial_vrid(side: &Side, out: &mut Vec<Finding>) {
    for i in side
        .config
        .instances
        .iter()
        .filter(|i| i.vrid == TUTORIAL_VRID)
    {
        let lines = side.lines_of(&i.name);
        out.push(
            Finding::new(
                Severity::Warning,
                "common-vrid",
                lines.or_block(&lines.vrid),
                format!(
                    "vrrp_instance {}: virtual_router_id {TUTORIAL_VRID} is the VRID of \
                     keepalived's sample file and most tutorials, so another cluster on {}'s \
                     segment may use it too, and routers of two clusters with one VRID \
                     disturb each other's elections: pick a VRID unique on the segment",
                    i.name, i.interface
                ),
            )
            .instance(&i.name),
        );
    }
}

/// One address in two instances: whichever leaves master removes it from under the other.
fn duplicate_addresses(side: &Side, out: &mut Vec<Finding>) {
    let mut first: HashMap<IpAddr, (&str, Location)> = HashMap::new();
    for i in &side.config.instances {
        let lines = side.lines_of(&i.name);
        for (n, vip) in i.virtual_addresses.iter().enumerate() {
            let at = lines
                .virtual_addresses
                .get(n)
                .map_or(lines.block.clone(), |(at, _)| at.clone());
            match first.get(&vip.addr) {
                Some((other, there)) if *other != i.name => out.push(
                    Finding::new(
                        Severity::Error,
                        "duplicate-vip",
                        &at,
                        format!(
                            "virtual address {} of vrrp_instance {} is also one of \
                             vrrp_instance {other} ({there}): the instance that leaves master \
                             removes it while the other still serves it",
                            vip.addr, i.name
                        ),
                    )
                    .instance(&i.name),
                ),
                Some(_) => {}
                None => {
                    first.insert(vip.addr, (&i.name, at));
                }
            }
        }
    }
}

/// RFC 5798 §6.4.3 with Accept_Mode off: the master takes over the addresses for ARP and
/// forwarding but drops packets addressed to them, so ping and TCP to the VIP go unanswered.
/// Under `vrrp_strict` this is the default, and it surprises people.
fn no_accept(side: &Side, out: &mut Vec<Finding>) {
    for i in side
        .config
        .instances
        .iter()
        .filter(|i| !i.accept && i.priority < 255)
    {
        let lines = side.lines_of(&i.name);
        let why = if i.strict {
            "vrrp_strict makes no_accept the default (as in keepalived)"
        } else {
            "no_accept is set"
        };
        let fix = match (i.strict, i.version) {
            (true, Version::V2) => {
                "strict VRRPv2 has no Accept_Mode (RFC 3768), so use `version 3` and `accept` \
                 if services listen on these addresses"
            }
            _ => "write `accept` if services listen on these addresses",
        };
        let addrs = i
            .virtual_addresses
            .iter()
            .map(|v| v.addr.to_string())
            .collect::<Vec<_>>()
            .join(", ");
        out.push(
            Finding::new(
                Severity::Warning,
                "no-accept",
                &lines.block,
                format!(
                    "vrrp_instance {}: {why}, so while this router is master without owning \
                     the addresses it drops packets addressed to {addrs} (RFC 5798 §6.4.3): \
                     they do not answer ping or TCP; {fix}",
                    i.name
                ),
            )
            .instance(&i.name),
        );
    }
}

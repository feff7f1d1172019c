//! `check --peer`: this router's file against another router's, instance by instance.
//!
//! Instances are paired by VRID and address family on the same segment: they share a
//! virtual address or a virtual address's network, name each other as unicast peers, or
//! (the weakest sign) run on interfaces of the same name. Each pair is then compared on what
//! both routers must agree on for one election (RFC 5798 §7.1 / RFC 3768 §7.1 receive
//! checks, and keepalived's own).

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv6Addr};

use super::{Finding, Severity, Side};
use crate::config::model::{
    ChecksumForm, Family, InitialState, Instance, InstanceLines, Location, Version,
};

/// Every mismatch between `mine` and `theirs`; locations are in `mine` with the other
/// file's line as the peer, except for instances only `theirs` has.
pub fn compare(mine: &Side, theirs: &Side) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut matched = BTreeSet::new();
    for a in &mine.config.instances {
        let la = mine.lines_of(&a.name);
        let best = theirs
            .config
            .instances
            .iter()
            .filter(|b| b.vrid == a.vrid && b.family == a.family)
            .map(|b| (same_segment(a, b), b))
            .filter(|(score, _)| *score > 0)
            .max_by_key(|(score, _)| *score);
        match best {
            Some((_, b)) => {
                matched.insert(b.name.clone());
                pair(a, &la, b, &theirs.lines_of(&b.name), &mut out);
            }
            None => out.push(unmatched(a, &la, theirs)),
        }
    }
    for b in &theirs.config.instances {
        if !matched.contains(&b.name) {
            out.push(unmatched(b, &theirs.lines_of(&b.name), mine));
        }
    }
    out
}

/// How sure we are that `a` and `b` are the same virtual router: 0 when nothing says so.
fn same_segment(a: &Instance, b: &Instance) -> u32 {
    let addrs =
        |i: &Instance| -> BTreeSet<IpAddr> { i.virtual_addresses.iter().map(|v| v.addr).collect() };
    let shares_address = !addrs(a).is_disjoint(&addrs(b));
    let overlapping_networks = a.virtual_addresses.iter().any(|va| {
        b.virtual_addresses.iter().any(|vb| {
            let len = va.prefix_len.min(vb.prefix_len);
            network(va.addr, len) == network(vb.addr, len)
        })
    });
    let names_the_other = |x: &Instance, y: &Instance| {
        y.unicast_src
            .is_some_and(|src| x.unicast_peers.contains(&src))
    };
    let unicast = names_the_other(a, b) || names_the_other(b, a);
    4 * u32::from(shares_address)
        + 3 * u32::from(overlapping_networks)
        + 3 * u32::from(unicast)
        + u32::from(a.interface == b.interface)
}

/// `addr` with all but the first `len` bits cleared.
pub(super) fn network(addr: IpAddr, len: u8) -> IpAddr {
    // An IPv4 address is masked in its IPv4-mapped form (RFC 4291 §2.5.5.2), where its
    // prefix is 96 bits longer, so one 128-bit mask serves both families.
    let (v6, len) = match addr {
        IpAddr::V4(a) => (a.to_ipv6_mapped(), 96 + u32::from(len.min(32))),
        IpAddr::V6(a) => (a, u32::from(len.min(128))),
    };
    let mask = u128::MAX.checked_shl(128 - len).unwrap_or(0);
    let net = Ipv6Addr::from(u128::from(v6) & mask);
    match addr {
        IpAddr::V4(_) => net.to_canonical(),
        IpAddr::V6(_) => IpAddr::V6(net),
    }
}

fn unmatched(a: &Instance, la: &InstanceLines, other: &Side) -> Finding {
    Finding::new(
        Severity::Warning,
        "no-peer-instance",
        la.or_block(&la.vrid),
        format!(
            "vrrp_instance {} (virtual_router_id {} on {}) has no counterpart in {}: no \
             instance there has this VRID with a shared address, network, unicast peer or \
             interface name",
            a.name,
            a.vrid,
            a.interface,
            other.file.display()
        ),
    )
    .instance(&a.name)
}

fn version_name(v: Version) -> &'static str {
    match v {
        Version::V2 => "VRRPv2",
        Version::V3 => "VRRPv3",
    }
}

fn seconds(cs: u16) -> String {
    if cs.is_multiple_of(100) {
        format!("{}", cs / 100)
    } else {
        format!("{}.{:02}", cs / 100, cs % 100)
    }
}

/// Compares one matched pair.
fn pair(
    a: &Instance,
    la: &InstanceLines,
    b: &Instance,
    lb: &InstanceLines,
    out: &mut Vec<Finding>,
) {
    let who = format!("vrrp_instance {} and {} (VRID {})", a.name, b.name, a.vrid);
    let mut push = |severity, code, here: &Option<_>, there: &Option<_>, message: String| {
        out.push(
            Finding::new(severity, code, la.or_block(here), message)
                .instance(&a.name)
                .peer(lb.or_block(there)),
        );
    };

    if a.version != b.version {
        push(
            Severity::Error,
            "version-mismatch",
            &la.version,
            &lb.version,
            format!(
                "{who}: this router runs {} and the peer ({}) {}: each discards the other's \
                 adverts (RFC 5798 §7.1 checks the version), so both become master",
                version_name(a.version),
                lb.or_block(&lb.version),
                version_name(b.version)
            ),
        );
        // Everything below compares fields of one version's adverts.
        return;
    }

    if a.advert_int_cs != b.advert_int_cs {
        let (severity, consequence) = match a.version {
            Version::V2 => (
                Severity::Error,
                "VRRPv2 routers discard adverts whose interval is not their own (RFC 3768 \
                 §7.1), so both become master",
            ),
            Version::V3 => (
                Severity::Warning,
                "a VRRPv3 backup learns the master's interval (RFC 5798 §6.4.2), so the \
                 election holds, but failover takes a different time in each direction",
            ),
        };
        push(
            severity,
            "advert-int-mismatch",
            &la.advert_int,
            &lb.advert_int,
            format!(
                "{who}: advert_int {} here, {} at {}: {consequence}",
                seconds(a.advert_int_cs),
                seconds(b.advert_int_cs),
                lb.or_block(&lb.advert_int)
            ),
        );
    }

    let addrs =
        |i: &Instance| -> BTreeSet<IpAddr> { i.virtual_addresses.iter().map(|v| v.addr).collect() };
    let (ours, theirs) = (addrs(a), addrs(b));
    if ours != theirs {
        let list = |s: &BTreeSet<IpAddr>| {
            s.iter()
                .map(|a| a.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let first = |l: &InstanceLines| l.virtual_addresses.first().map(|(at, _)| at.clone());
        push(
            Severity::Error,
            "address-mismatch",
            &first(la),
            &first(lb),
            format!(
                "{who}: the virtual addresses differ (only here: {}; only at the peer: {}): \
                 keepalived discards adverts whose address list is not its own, so both \
                 become master",
                list(&ours.difference(&theirs).copied().collect()),
                list(&theirs.difference(&ours).copied().collect()),
            ),
        );
    }

    if a.version == Version::V2 && a.auth_pass != b.auth_pass {
        let what = match (a.auth_pass.is_some(), b.auth_pass.is_some()) {
            (true, true) => "the auth_pass passwords differ",
            (true, false) => "this router authenticates (auth_type PASS) and the peer does not",
            _ => "the peer authenticates (auth_type PASS) and this router does not",
        };
        push(
            Severity::Error,
            "auth-mismatch",
            &la.authentication,
            &lb.authentication,
            format!(
                "{who}: {what} ({}): adverts that fail the authentication check are \
                 discarded (RFC 2338 §7.1), so both become master",
                lb.or_block(&lb.authentication)
            ),
        );
    }

    if a.version == Version::V3 && a.family == Family::V4 && a.checksum != b.checksum {
        let form = |c: ChecksumForm| match c {
            ChecksumForm::Pseudo => "pseudo (with the IPv4 pseudo-header)",
            ChecksumForm::Plain => "plain (RFC 9568)",
        };
        push(
            Severity::Error,
            "checksum-mismatch",
            &la.checksum,
            &lb.checksum,
            format!(
                "{who}: vrrpx_checksum {} here and {} at the peer: each fails the \
                     other's checksum (RFC 5798 §7.1), so both become master",
                form(a.checksum),
                form(b.checksum)
            ),
        );
    }

    unicast(a, la, b, lb, &who, out);

    if a.priority == b.priority {
        let (severity, code, message) = if a.priority == 255 {
            (
                Severity::Error,
                "both-owners",
                format!(
                    "{who}: both have priority 255, the address owner's: both start as master \
                     at once (RFC 5798 §6.4.1); only the router that has the addresses as its \
                     own may say 255"
                ),
            )
        } else {
            (
                Severity::Warning,
                "priority-tie",
                format!(
                    "{who}: both have priority {}: the higher primary address wins the tie \
                     (RFC 5798 §6.4.3), which is rarely what was meant; give them different \
                     priorities, or nopreempt on both if any master should stay",
                    a.priority
                ),
            )
        };
        // Equal priorities with nopreempt on both is the usual "whoever is master stays".
        if a.priority == 255 || a.preempt || b.preempt {
            out.push(
                Finding::new(severity, code, la.or_block(&la.priority), message)
                    .instance(&a.name)
                    .peer(lb.or_block(&lb.priority)),
            );
        }
    }

    if a.initial_state == InitialState::Master
        && b.initial_state == InitialState::Master
        && a.priority < 255
        && b.priority < 255
    {
        out.push(
            Finding::new(
                Severity::Warning,
                "both-state-master",
                la.or_block(&la.state),
                format!(
                    "{who}: both say `state MASTER` and neither owns the addresses (priority \
                     255): keepalived starts both as master, so when they start together both \
                     hold the addresses until they hear each other; write `state BACKUP` on \
                     one (priority decides anyway, RFC 5798 §6.4.1)"
                ),
            )
            .instance(&a.name)
            .peer(lb.or_block(&lb.state)),
        );
    }
}

/// Unicast must be on both sides or neither, and each side must list the other.
fn unicast(
    a: &Instance,
    la: &InstanceLines,
    b: &Instance,
    lb: &InstanceLines,
    who: &str,
    out: &mut Vec<Finding>,
) {
    let first_peer = |l: &InstanceLines| l.unicast_peers.first().cloned();
    let (a_uni, b_uni) = (!a.unicast_peers.is_empty(), !b.unicast_peers.is_empty());
    let mut push = |here: Option<Location>, there: Option<Location>, message: String| {
        out.push(
            Finding::new(
                Severity::Error,
                "unicast-asymmetric",
                la.or_block(&here),
                message,
            )
            .instance(&a.name)
            .peer(lb.or_block(&there)),
        );
    };
    if a_uni != b_uni {
        let (uni, multi) = if a_uni {
            ("this router", "the peer")
        } else {
            ("the peer", "this router")
        };
        push(
            first_peer(la),
            first_peer(lb),
            format!(
                "{who}: {uni} sends adverts to its unicast_peer list and {multi} multicasts \
                 them to 224.0.0.18 / ff02::12; keepalived discards adverts of the other kind, \
                 so both become master: use unicast_peer on both or on neither"
            ),
        );
        return;
    }
    if !a_uni {
        return;
    }
    if let Some(src) = b.unicast_src.filter(|s| !a.unicast_peers.contains(s)) {
        push(
            first_peer(la),
            lb.unicast_src.clone(),
            format!(
                "{who}: the peer's unicast_src_ip {src} is not in this router's unicast_peer \
                 list, so the peer never hears this router"
            ),
        );
    }
    if let Some(src) = a.unicast_src.filter(|s| !b.unicast_peers.contains(s)) {
        push(
            la.unicast_src.clone(),
            first_peer(lb),
            format!(
                "{who}: this router's unicast_src_ip {src} is not in the peer's unicast_peer \
                 list, so this router never hears the peer"
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::network;

    #[test]
    fn network_clears_the_host_bits_of_either_family() {
        for (addr, len, want) in [
            ("10.1.2.3", 24, "10.1.2.0"),
            ("10.1.2.3", 32, "10.1.2.3"),
            ("10.1.2.3", 0, "0.0.0.0"),
            ("10.1.2.255", 25, "10.1.2.128"),
            ("10.1.2.3", 200, "10.1.2.3"),
            ("2001:db8:1:2::5", 64, "2001:db8:1:2::"),
            ("2001:db8::5", 128, "2001:db8::5"),
            ("2001:db8::5", 0, "::"),
            ("::ffff:10.1.2.3", 120, "::ffff:10.1.2.0"),
        ] {
            let got = network(addr.parse().unwrap(), len);
            assert_eq!(
                got,
                want.parse::<std::net::IpAddr>().unwrap(),
                "{addr}/{len}"
            );
        }
    }
}

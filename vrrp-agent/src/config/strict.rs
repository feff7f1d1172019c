//! keepalived's `vrrp_strict` (per instance: `strict_mode`): only what RFC 3768 / RFC 5798
//! define. keepalived reports each of these as a configuration error and then drops the
//! setting (or, for unicast peers, the instance); vrrpx refuses the file instead, naming
//! the line, so a strict cluster cannot run something other than what its file says.
//!
//! What keepalived 2.2 checks in strict mode, and what we check here:
//! unicast peers, authentication, `preempt_delay`, `state MASTER` on a router that is not
//! the address owner (or `state BACKUP` on the owner), version 2 on IPv6, a first IPv6
//! address that is not link-local, and `accept` under version 2. Its default for Accept_Mode
//! becomes off (no_accept) unless the router owns the addresses; that part is in
//! [`accept_by_default`].

use super::draft::DraftInstance;
use super::model::{Family, InitialState, Version};
use super::report::Diagnostics;

/// The owner's priority (RFC 5798 §5.2.4).
const OWNER: u8 = 255;

/// Accept_Mode when the file does not say: keepalived's default is on, but under strict
/// mode it follows RFC 5798 §6.1 (off) except for the owner, which must answer for its own
/// addresses.
pub fn accept_by_default(strict: bool, priority: u8) -> bool {
    !strict || priority == OWNER
}

/// Errors for every setting strict mode forbids in `d`, each at its own line.
pub fn check(
    d: &DraftInstance,
    version: Version,
    family: Family,
    priority: u8,
    diag: &mut Diagnostics,
) {
    let name = &d.name;
    let why = "under vrrp_strict (keepalived -t reports it too)";
    if let Some(peer) = d.unicast_peers.first() {
        diag.error(
            &peer.location,
            format!(
                "vrrp_instance {name}: unicast_peer is not allowed {why}: RFC 5798 §5.1.1.2 \
                 sends adverts to 224.0.0.18 / ff02::12 only; drop vrrp_strict to use unicast"
            ),
        );
    }
    if let Some(auth) = &d.auth_type {
        diag.error(
            &auth.location,
            format!(
                "vrrp_instance {name}: authentication is not allowed {why}: RFC 3768 §5.3.6 \
                 removed it and RFC 5798 has none"
            ),
        );
    }
    if let Some(delay) = &d.preempt_delay {
        diag.error(
            &delay.location,
            format!(
                "vrrp_instance {name}: preempt_delay is not allowed {why}: the RFCs preempt \
                 at once (RFC 5798 §6.4.2)"
            ),
        );
    }
    if let Some(state) = &d.state {
        let master = state.value == InitialState::Master;
        if master != (priority == OWNER) {
            diag.error(
                &state.location,
                format!(
                    "vrrp_instance {name}: `state {}` with priority {priority} is not allowed \
                     {why}: only the address owner (priority 255) starts as master \
                     (RFC 5798 §6.4.1); write the state that matches the priority",
                    if master { "MASTER" } else { "BACKUP" }
                ),
            );
        }
    }
    if family == Family::V6 {
        if let Some(v) = d.version.as_ref().filter(|v| v.value == 2) {
            diag.error(
                &v.location,
                format!(
                    "vrrp_instance {name}: version 2 on IPv6 is not allowed {why}: RFC 3768 \
                     is IPv4 only; write `version 3`"
                ),
            );
        }
        if let Some(first) = d.virtual_addresses.first() {
            let link_local = match first.value.addr {
                std::net::IpAddr::V6(a) => a.segments()[0] & 0xffc0 == 0xfe80,
                std::net::IpAddr::V4(_) => true,
            };
            if !link_local {
                diag.error(
                    &first.location,
                    format!(
                        "vrrp_instance {name}: the first IPv6 virtual address ({}) must be \
                         link-local {why} (RFC 5798 §5.2.9): put an fe80:: address first",
                        first.value.addr
                    ),
                );
            }
        }
    }
    if let Some(accept) = d.accept.as_ref().filter(|a| a.value) {
        if version == Version::V2 && priority != OWNER {
            diag.error(
                &accept.location,
                format!(
                    "vrrp_instance {name}: `accept` with VRRPv2 is not allowed {why}: Accept_Mode \
                     is RFC 5798's; an RFC 3768 backup that takes over must not accept \
                     packets for addresses it does not own"
                ),
            );
        }
    }
}

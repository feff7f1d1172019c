//! One `vrrp_instance`: required keys, ranges, the address family and what depends on it
//! (version, interval unit, authentication), tracking weights and references.

use std::net::IpAddr;
use std::time::Duration;

use super::super::draft::{format_seconds, DraftInstance, Located, Micros, MICROS_PER_SECOND};
use super::super::model::{
    ChecksumForm, Family, Garp, InitialState, Instance, Location, TrackFileRef, TrackInterface,
    TrackScriptRef, Version, VirtualAddress,
};
use super::super::report::Diagnostics;
use super::super::strict;
use super::{
    check_reference, family_name, family_of, in_range, version_from, Names, MAX_TRACK_FILE_WEIGHT,
    MAX_TRACK_WEIGHT,
};

/// keepalived's defaults, which the native format shares (apart from the version).
const DEFAULT_PRIORITY: i64 = 100;
const DEFAULT_ADVERT_INT: Micros = MICROS_PER_SECOND;
/// keepalived's range for `preempt_delay`.
const MAX_PREEMPT_DELAY: Micros = 1000 * MICROS_PER_SECOND;
/// The VRRP `Count IPvX Addr` field is one byte.
const MAX_ADDRESSES: usize = 255;
/// (1500 - 40 - 8) / 16.
const MAX_IPV6_ADDRESSES: usize = 90;
/// RFC 3768 §5.3.7: `Adver Int` is an 8-bit count of seconds.
const MAX_V2_ADVERT_SECONDS: Micros = 255;
/// RFC 5798 §5.2.7: `Max Adver Int` is a 12-bit count of centiseconds.
const MAX_V3_ADVERT_CS: Micros = 4095;
const MICROS_PER_CS: Micros = 10_000;
/// A PASS password is 8 bytes on the wire (RFC 2338 §5.3.10).
const AUTH_PASS_LEN: usize = 8;

pub(super) fn instance(
    d: &DraftInstance,
    default_version: Version,
    names: &Names,
    smtp_alert_default: bool,
    strict_default: bool,
    diag: &mut Diagnostics,
) -> Option<Instance> {
    let name = &d.name;
    let errors_before = diag.errors.len();

    if d.interface.is_none() {
        diag.error(
            &d.location,
            format!(
                "vrrp_instance {name} has no `interface`: name the interface it runs on, e.g. \
                 `interface eth0`"
            ),
        );
    }
    if d.vrid.is_none() {
        diag.error(
            &d.location,
            format!(
                "vrrp_instance {name} has no `virtual_router_id`: give it a VRID 1..255 shared \
                 by all routers of this virtual router"
            ),
        );
    }
    let vrid = d
        .vrid
        .as_ref()
        .filter(|v| in_range(v, 1, 255, "virtual_router_id", diag))
        .map(|v| v.value as u8);
    let priority = match &d.priority {
        Some(p) => in_range(p, 1, 255, "priority", diag).then_some(p.value as u8),
        None => Some(DEFAULT_PRIORITY as u8),
    };

    let (family, virtual_addresses) = addresses(d, diag);

    let version = match &d.version {
        Some(v) => version_from(v, diag),
        None => Some(default_version),
    };
    // RFC 3768 is IPv4 only; keepalived runs IPv6 instances as v3 whatever the setting.
    let version = match (version, family) {
        (Some(Version::V2), Family::V6) => {
            if let Some(v) = &d.version {
                diag.warn(
                    &v.location,
                    format!(
                        "vrrp_instance {name} is IPv6 and VRRPv2 (RFC 3768) is IPv4 only: it \
                         runs VRRPv3, as keepalived does"
                    ),
                );
            }
            Some(Version::V3)
        }
        (v, _) => v,
    };
    let advert_int_cs = version.and_then(|v| advert_int_cs(d, v, diag));

    let preempt_delay = match &d.preempt_delay {
        Some(delay) if delay.value > MAX_PREEMPT_DELAY => {
            diag.error(
                &delay.location,
                format!(
                    "preempt_delay {} is out of range: expected 0..1000 seconds",
                    format_seconds(delay.value)
                ),
            );
            Duration::ZERO
        }
        Some(delay) => Duration::from_micros(delay.value),
        None => Duration::ZERO,
    };

    let mut preempt = d.preempt.as_ref().is_none_or(|p| p.value);
    if priority == Some(255) && !preempt {
        if let Some(p) = &d.preempt {
            diag.warn(
                &p.location,
                format!(
                    "vrrp_instance {name} has priority 255 (address owner), which always \
                     preempts (RFC 5798 §6.4.1); nopreempt is ignored"
                ),
            );
        }
        preempt = true;
    }

    let auth_pass = version.and_then(|v| auth_pass(d, v, diag));

    let unicast_src = d.unicast_src.as_ref().map(|src| {
        check_family(
            &src.value,
            family,
            "unicast_src_ip",
            name,
            &src.location,
            diag,
        );
        src.value
    });
    let unicast_peers: Vec<std::net::IpAddr> = d
        .unicast_peers
        .iter()
        .map(|peer| {
            check_family(
                &peer.value,
                family,
                "unicast_peer",
                name,
                &peer.location,
                diag,
            );
            peer.value
        })
        .collect();

    let track_interfaces = d
        .track_interfaces
        .iter()
        .map(|t| TrackInterface {
            name: t.value.name.clone(),
            weight: track_weight(t.value.weight, &t.location, diag).unwrap_or(0),
        })
        .collect();
    let track_scripts = d
        .track_scripts
        .iter()
        .map(|t| {
            check_reference(t, &names.scripts, "track_script", "vrrp_script", diag);
            TrackScriptRef {
                name: t.value.name.clone(),
                weight: t
                    .value
                    .weight
                    .and_then(|w| track_weight(Some(w), &t.location, diag)),
            }
        })
        .collect();

    let track_files = d
        .track_files
        .iter()
        .map(|t| {
            check_reference(
                t,
                &names.track_files,
                "track_file",
                "track_file block",
                diag,
            );
            TrackFileRef {
                name: t.value.name.clone(),
                weight: t.value.weight.and_then(|w| {
                    let located = Located::new(w, &t.location);
                    in_range(
                        &located,
                        -MAX_TRACK_FILE_WEIGHT,
                        MAX_TRACK_FILE_WEIGHT,
                        "track_file weight",
                        diag,
                    )
                    .then_some(w as i32)
                }),
            }
        })
        .collect();

    let garp = garp(d, diag);

    let strict = d.strict_mode.as_ref().map_or(strict_default, |s| s.value);
    if let (true, Some(version), Some(priority)) = (strict, version, priority) {
        strict::check(d, version, family, priority, diag);
    }

    let auth_hmac = auth_hmac(d, advert_int_cs.unwrap_or(100), diag);
    let unicast_ttl = d
        .unicast_ttl
        .as_ref()
        .and_then(|t| in_range(t, 1, 255, "unicast_ttl", diag).then_some(t.value as u8));

    if diag.errors.len() > errors_before {
        return None;
    }
    Some(Instance {
        name: name.clone(),
        interface: d.interface.as_ref()?.value.clone(),
        vrid: vrid?,
        priority: priority?,
        advert_int_cs: advert_int_cs?,
        version: version?,
        family,
        initial_state: d.state.as_ref().map_or(InitialState::Backup, |s| s.value),
        preempt,
        preempt_delay,
        auth_pass,
        virtual_addresses,
        unicast_src,
        // Any TTL for peers without bounds (the native format writes none).
        unicast_peer_ttl: {
            let mut ttl = d.unicast_peer_ttl.clone();
            ttl.resize(unicast_peers.len(), (0, 255));
            ttl
        },
        unicast_peers,
        auth_hmac,
        unicast_ttl,
        track_interfaces,
        track_scripts,
        track_files,
        notify: d.notify.clone(),
        smtp_alert: d
            .smtp_alert
            .as_ref()
            .map_or(smtp_alert_default, |a| a.value),
        garp,
        use_vmac: d.use_vmac,
        accept: d
            .accept
            .as_ref()
            .map_or(strict::accept_by_default(strict, priority?), |a| a.value),
        checksum: d
            .checksum
            .as_ref()
            .map_or(ChecksumForm::Pseudo, |c| c.value),
        strict,
    })
}

/// The instance's family, from its virtual addresses, and the addresses themselves.
fn addresses(d: &DraftInstance, diag: &mut Diagnostics) -> (Family, Vec<VirtualAddress>) {
    let Some(first) = d.virtual_addresses.first() else {
        // RFC 5798 §5.2.5: an advertisement names at least one address, and receivers
        // discard one that names none, so such an instance could never be heard. (Not
        // said again when an address was written but could not be read: that error is
        // already there and says more.)
        let unreadable = diag
            .errors
            .iter()
            .any(|e| e.message.starts_with("virtual_ipaddress"));
        if !unreadable {
            diag.error(
                &d.location,
                format!(
                    "vrrp_instance {} has no virtual_ipaddress: an advertisement must carry at \
                 least one address (RFC 5798 §5.2.5), and peers discard one that carries none",
                    d.name
                ),
            );
        }
        let family = d
            .unicast_src
            .iter()
            .map(|s| &s.value)
            .chain(d.unicast_peers.iter().map(|p| &p.value))
            .next()
            .map_or(Family::V4, family_of);
        return (family, Vec::new());
    };
    let family = family_of(&first.value.addr);
    // 8 + 16 n bytes must fit a 1500-byte MTU after the IPv6 header: at most 91 addresses
    // (the receive checks read VRRP messages up to 1480 bytes).
    if family == Family::V6 && d.virtual_addresses.len() > MAX_IPV6_ADDRESSES {
        diag.error(
            &d.virtual_addresses[MAX_IPV6_ADDRESSES].location,
            format!(
                "vrrp_instance {} has {} IPv6 virtual addresses; an advertisement that fits a \
                 1500-byte MTU carries at most {MAX_IPV6_ADDRESSES}: split them over instances",
                d.name,
                d.virtual_addresses.len()
            ),
        );
    }
    if d.virtual_addresses.len() > MAX_ADDRESSES {
        diag.error(
            &d.virtual_addresses[MAX_ADDRESSES].location,
            format!(
                "vrrp_instance {} has {} virtual addresses; an advertisement carries at most \
                 {MAX_ADDRESSES}",
                d.name,
                d.virtual_addresses.len()
            ),
        );
    }
    let mut out = Vec::with_capacity(d.virtual_addresses.len());
    for vip in &d.virtual_addresses {
        let this = family_of(&vip.value.addr);
        if this != family {
            diag.error(
                &vip.location,
                format!(
                    "{} is {} but the first virtual address of vrrp_instance {} ({} at {}) is \
                     {}: an instance advertises one address family; put the {} addresses in \
                     a second vrrp_instance",
                    vip.value.addr,
                    family_name(this),
                    d.name,
                    first.value.addr,
                    first.location,
                    family_name(family),
                    family_name(this),
                ),
            );
            continue;
        }
        let host_len = if this == Family::V4 { 32 } else { 128 };
        out.push(VirtualAddress {
            addr: vip.value.addr,
            prefix_len: vip.value.prefix_len.unwrap_or(host_len),
            dev: vip.value.dev.clone(),
            label: vip.value.label.clone(),
        });
    }
    (family, out)
}

fn check_family(
    addr: &IpAddr,
    family: Family,
    what: &str,
    instance: &str,
    location: &Location,
    diag: &mut Diagnostics,
) {
    if family_of(addr) != family {
        diag.error(
            location,
            format!(
                "{what} {addr} is {} but vrrp_instance {instance} is {}",
                family_name(family_of(addr)),
                family_name(family)
            ),
        );
    }
}

/// The advertisement interval in centiseconds: whole seconds for v2 (RFC 3768 §5.3.7),
/// centiseconds for v3 (RFC 5798 §5.2.7).
fn advert_int_cs(d: &DraftInstance, version: Version, diag: &mut Diagnostics) -> Option<u16> {
    let Some(given) = &d.advert_int else {
        return Some((DEFAULT_ADVERT_INT / MICROS_PER_CS) as u16);
    };
    let micros = given.value;
    let shown = format_seconds(micros);
    match version {
        Version::V2 => {
            if micros % MICROS_PER_SECOND != 0 {
                diag.error(
                    &given.location,
                    format!(
                        "advert_int {shown} is fractional, but VRRPv2 (RFC 3768) advertises \
                         whole seconds: use a whole number of seconds, or `version 3` for \
                         sub-second intervals"
                    ),
                );
                return None;
            }
            let seconds = micros / MICROS_PER_SECOND;
            if !(1..=MAX_V2_ADVERT_SECONDS).contains(&seconds) {
                diag.error(
                    &given.location,
                    format!(
                        "advert_int {shown} is out of range for VRRPv2: expected 1..\
                         {MAX_V2_ADVERT_SECONDS} seconds"
                    ),
                );
                return None;
            }
            Some((seconds * 100) as u16)
        }
        Version::V3 => {
            // Round half up to the nearest centisecond, as keepalived does.
            let cs = (micros + MICROS_PER_CS / 2) / MICROS_PER_CS;
            if !(1..=MAX_V3_ADVERT_CS).contains(&cs) {
                diag.error(
                    &given.location,
                    format!(
                        "advert_int {shown} is out of range for VRRPv3: expected 0.01..40.95 \
                         seconds (1..{MAX_V3_ADVERT_CS} centiseconds)"
                    ),
                );
                return None;
            }
            if micros % MICROS_PER_CS != 0 {
                diag.warn(
                    &given.location,
                    format!(
                        "advert_int {shown} is not a whole number of centiseconds (VRRPv3's \
                         unit); rounded to {}",
                        format_seconds(cs * MICROS_PER_CS)
                    ),
                );
            }
            Some(cs as u16)
        }
    }
}

fn auth_pass(d: &DraftInstance, version: Version, diag: &mut Diagnostics) -> Option<[u8; 8]> {
    let Some(auth_type) = &d.auth_type else {
        if let Some(pass) = &d.auth_pass {
            diag.warn(
                &pass.location,
                "auth_pass without `auth_type PASS` is ignored, as keepalived does",
            );
        }
        return None;
    };
    match auth_type.value.as_str() {
        "PASS" => {}
        "AH" => {
            diag.error(
                &auth_type.location,
                "auth_type AH (IPsec authentication header) is not supported: use \
                 `auth_type PASS`, or better no authentication (RFC 3768 §5.3.6 removed it)",
            );
            return None;
        }
        other => {
            diag.error(
                &auth_type.location,
                format!("auth_type {other} is unknown: expected PASS"),
            );
            return None;
        }
    }
    let Some(pass) = &d.auth_pass else {
        diag.error(
            &auth_type.location,
            "auth_type PASS needs an `auth_pass` (up to 8 characters)",
        );
        return None;
    };
    if version == Version::V3 {
        diag.warn(
            &auth_type.location,
            format!(
                "vrrp_instance {} runs VRRPv3, which has no authentication (RFC 5798); \
                 ignored, as keepalived does",
                d.name
            ),
        );
        return None;
    }
    let bytes = pass.value.as_bytes();
    if bytes.len() > AUTH_PASS_LEN {
        diag.warn(
            &pass.location,
            format!(
                "auth_pass is {} bytes; only the first {AUTH_PASS_LEN} are sent, as in \
                 keepalived",
                bytes.len()
            ),
        );
    }
    let mut padded = [0u8; AUTH_PASS_LEN];
    let used = bytes.len().min(AUTH_PASS_LEN);
    padded[..used].copy_from_slice(&bytes[..used]);
    Some(padded)
}

fn track_weight(weight: Option<i64>, location: &Location, diag: &mut Diagnostics) -> Option<i32> {
    let weight = weight?;
    let located = Located::new(weight, location);
    in_range(
        &located,
        -MAX_TRACK_WEIGHT,
        MAX_TRACK_WEIGHT,
        "weight",
        diag,
    )
    .then_some(weight as i32)
}

fn garp(d: &DraftInstance, diag: &mut Diagnostics) -> Garp {
    let mut garp = Garp::default();
    if let Some(delay) = &d.garp_master_delay {
        garp.master_delay = Duration::from_micros(delay.value);
    }
    if let Some(repeat) = &d.garp_master_repeat {
        if in_range(repeat, 0, i64::from(u32::MAX), "garp_master_repeat", diag) {
            garp.master_repeat = repeat.value as u32;
        }
    }
    if let Some(refresh) = &d.garp_master_refresh {
        garp.master_refresh = (refresh.value > 0).then(|| Duration::from_micros(refresh.value));
    }
    garp
}

/// `auth_hmac`, checked against the rest of the instance; its window derived from the
/// interval when not written.
fn auth_hmac(
    d: &DraftInstance,
    advert_int_cs: u16,
    diag: &mut Diagnostics,
) -> Option<crate::proto::auth_hmac::AuthHmac> {
    use crate::proto::auth_hmac::{AntiReplay, AuthHmac};
    let located = d.auth_hmac.as_ref()?;
    let mut cfg = located.value.clone();
    if !cfg.keys.iter().any(|(id, _)| *id == cfg.active_key) {
        diag.error(
            &located.location,
            format!(
                "auth_hmac: active_key {} is not one of the keys defined here",
                cfg.active_key
            ),
        );
    }
    if let Some(pass) = &d.auth_type {
        diag.error(
            &pass.location,
            "authentication cannot be combined with auth_hmac (keepalived drops it); remove one",
        );
    }
    if let AntiReplay::Time { window_s } = &mut cfg.anti_replay {
        if d.auth_hmac_window_unset {
            *window_s = AuthHmac::default_window(advert_int_cs);
        }
    }
    Some(cfg)
}

//! Turns a draft (from either reader) into the validated model: defaults, ranges, required
//! keys and cross-references, each rule written once. Every problem is collected; nothing
//! stops at the first.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::builtin;
use super::draft::{
    format_seconds, DraftConfig, DraftInstance, DraftScript, DraftSyncGroup, DraftTrack,
    DraftTrackFile, Located, Micros, ReaderDefaults, MICROS_PER_SECOND,
};
use super::model::{
    ChecksumForm, Config, Email, Family, Garp, InitialState, Instance, Location, Script,
    SmtpServer, SyncGroup, TrackFile, TrackFileInit, TrackFileRef, TrackInterface, TrackScriptRef,
    Version, VirtualAddress,
};
use super::report::Diagnostics;
use super::script_users;
use super::strict;

/// keepalived's defaults, which the native format shares (apart from the version).
const DEFAULT_PRIORITY: i64 = 100;
const DEFAULT_ADVERT_INT: Micros = MICROS_PER_SECOND;
const DEFAULT_SCRIPT_INTERVAL: Micros = MICROS_PER_SECOND;
/// keepalived's range for `preempt_delay`.
const MAX_PREEMPT_DELAY: Micros = 1000 * MICROS_PER_SECOND;
/// keepalived's range for tracking weights.
const MAX_TRACK_WEIGHT: i64 = 253;
/// keepalived's range for track_file weights: one more, so that a file can fault an
/// instance whatever its value.
const MAX_TRACK_FILE_WEIGHT: i64 = 254;
/// keepalived's default weight of a track_file.
const DEFAULT_TRACK_FILE_WEIGHT: i64 = 1;
/// keepalived's default and range for `smtp_connect_timeout`.
const DEFAULT_SMTP_CONNECT_TIMEOUT: Micros = 30 * MICROS_PER_SECOND;
const MAX_SMTP_CONNECT_TIMEOUT: Micros = 4294 * MICROS_PER_SECOND;
const DEFAULT_SMTP_PORT: u16 = 25;
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

pub fn validate(draft: DraftConfig, defaults: ReaderDefaults, diag: &mut Diagnostics) -> Config {
    let default_version = match &draft.default_version {
        Some(v) => version_from(v, diag).unwrap_or(defaults.version),
        None => defaults.version,
    };

    let scripts = scripts(&draft.scripts, diag);
    let script_names: HashMap<&str, &Location> = draft
        .scripts
        .iter()
        .map(|s| (s.name.as_str(), &s.location))
        .collect();
    let track_files = track_files(&draft.track_files, diag);
    let track_file_names: HashMap<&str, &Location> = draft
        .track_files
        .iter()
        .map(|f| (f.name.as_str(), &f.location))
        .collect();
    let names = Names {
        scripts: script_names,
        track_files: track_file_names,
    };
    let smtp_alert_default = draft.smtp_alert_default.as_ref().is_some_and(|a| a.value);
    let strict_default = draft.strict.as_ref().is_some_and(|s| s.value);

    let mut instances: Vec<Instance> = Vec::new();
    let mut seen_names: HashMap<&str, &Location> = HashMap::new();
    for draft_instance in &draft.instances {
        if let Some(first) = seen_names.get(draft_instance.name.as_str()) {
            diag.error(
                &draft_instance.location,
                format!(
                    "vrrp_instance {} is already defined at {first}; instance names must be \
                     unique",
                    draft_instance.name
                ),
            );
            continue;
        }
        seen_names.insert(&draft_instance.name, &draft_instance.location);
        let Some(instance) = instance(
            draft_instance,
            default_version,
            &names,
            smtp_alert_default,
            strict_default,
            diag,
        ) else {
            continue;
        };
        if let Some(other) = instances.iter().find(|o| {
            o.interface == instance.interface
                && o.vrid == instance.vrid
                && o.family == instance.family
        }) {
            diag.error(
                &instance.location,
                format!(
                    "vrrp_instance {} uses virtual_router_id {} on {} ({}), as vrrp_instance \
                     {} at {} already does; each interface needs a distinct VRID per address \
                     family",
                    instance.name,
                    instance.vrid,
                    instance.interface,
                    family_name(instance.family),
                    other.name,
                    other.location
                ),
            );
            continue;
        }
        instances.push(instance);
    }

    for script in &scripts {
        let used = draft
            .instances
            .iter()
            .any(|i| i.track_scripts.iter().any(|t| t.value.name == script.name));
        if !used {
            diag.warn(
                &script.location,
                format!(
                    "vrrp_script {} is not tracked by any vrrp_instance, so it never runs",
                    script.name
                ),
            );
        }
    }

    for file in &track_files {
        let used = draft
            .instances
            .iter()
            .any(|i| i.track_files.iter().any(|t| t.value.name == file.name));
        if !used {
            diag.warn(
                &file.location,
                format!(
                    "track_file {} is not tracked by any vrrp_instance, so it is never read",
                    file.name
                ),
            );
        }
    }

    let sync_groups = sync_groups(
        &draft.sync_groups,
        &draft.instances,
        smtp_alert_default,
        diag,
    );
    let email = email(&draft, diag);
    smtp_alert_needs_mail_settings(&draft, &email, diag);
    let notify_fifo = draft.notify_fifo.as_ref().and_then(|f| {
        if f.value.trim().is_empty() {
            diag.error(
                &f.location,
                "notify_fifo is empty: give the path of the FIFO",
            );
            None
        } else {
            Some(PathBuf::from(&f.value))
        }
    });

    let mut config = Config {
        router_id: draft.router_id.clone(),
        instances,
        scripts,
        sync_groups,
        track_files,
        email,
        notify_fifo,
        script_security: false,
    };
    script_users::apply(&draft, &mut config, diag);
    config
}

/// What tracking can refer to, by name.
struct Names<'a> {
    scripts: HashMap<&'a str, &'a Location>,
    track_files: HashMap<&'a str, &'a Location>,
}

/// An error when `track` names nothing in `known`; `what` is the keyword (`track_script`)
/// and `defined_by` the block that defines such names (`vrrp_script`).
fn check_reference(
    track: &Located<DraftTrack>,
    known: &HashMap<&str, &Location>,
    what: &str,
    defined_by: &str,
    diag: &mut Diagnostics,
) {
    if known.contains_key(track.value.name.as_str()) {
        return;
    }
    let mut names: Vec<&str> = known.keys().copied().collect();
    names.sort_unstable();
    let names = if names.is_empty() {
        "none is defined".to_string()
    } else {
        format!("defined: {}", names.join(", "))
    };
    diag.error(
        &track.location,
        format!(
            "{what} {}: no {defined_by} of that name ({names})",
            track.value.name
        ),
    );
}

/// `global_defs`' mail settings.
fn email(draft: &DraftConfig, diag: &mut Diagnostics) -> Email {
    for to in &draft.email_to {
        if !to.value.contains('@') {
            diag.warn(
                &to.location,
                format!(
                    "notification_email `{}` does not look like an e-mail address",
                    to.value
                ),
            );
        }
    }
    let smtp_server = draft.smtp_server.as_ref().and_then(|s| {
        let host = s.value.host.trim();
        if host.is_empty() || host.contains(char::is_whitespace) {
            diag.error(
                &s.location,
                format!(
                    "smtp_server `{}` is not an IP address or host name",
                    s.value.host
                ),
            );
            return None;
        }
        let port = match s.value.port {
            None => DEFAULT_SMTP_PORT,
            Some(port) => {
                let located = Located::new(port, &s.location);
                if !in_range(&located, 1, i64::from(u16::MAX), "smtp_server port", diag) {
                    return None;
                }
                port as u16
            }
        };
        Some(SmtpServer {
            host: host.to_string(),
            port,
        })
    });
    let smtp_connect_timeout = match &draft.smtp_connect_timeout {
        Some(t) if t.value == 0 || t.value > MAX_SMTP_CONNECT_TIMEOUT => {
            diag.error(
                &t.location,
                format!(
                    "smtp_connect_timeout {} is out of range: expected 1..4294 seconds",
                    format_seconds(t.value)
                ),
            );
            DEFAULT_SMTP_CONNECT_TIMEOUT
        }
        Some(t) => t.value,
        None => DEFAULT_SMTP_CONNECT_TIMEOUT,
    };
    Email {
        to: draft.email_to.iter().map(|t| t.value.clone()).collect(),
        from: draft.email_from.as_ref().map(|f| f.value.clone()),
        smtp_server,
        smtp_connect_timeout: Duration::from_micros(smtp_connect_timeout),
    }
}

/// `smtp_alert` without a server or recipients sends nothing: one warning, where mail is
/// first turned on.
fn smtp_alert_needs_mail_settings(draft: &DraftConfig, email: &Email, diag: &mut Diagnostics) {
    let missing = match (&email.smtp_server, email.to.is_empty()) {
        (None, true) => "no smtp_server and no notification_email",
        (None, false) => "no smtp_server",
        (Some(_), true) => "no notification_email",
        (Some(_), false) => return,
    };
    let own_settings = draft
        .instances
        .iter()
        .map(|i| &i.smtp_alert)
        .chain(draft.sync_groups.iter().map(|g| &g.smtp_alert));
    let mut turned_on: Vec<&Location> = own_settings
        .clone()
        .flatten()
        .filter(|a| a.value)
        .map(|a| &a.location)
        .collect();
    // The global default counts where an instance or group does not say for itself.
    if let Some(default) = draft.smtp_alert_default.as_ref().filter(|a| a.value) {
        if own_settings.clone().any(Option::is_none) {
            turned_on.push(&default.location);
        }
    }
    let Some(first) = turned_on
        .into_iter()
        .min_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)))
    else {
        return;
    };
    diag.warn(
        first,
        format!("smtp_alert is on but global_defs has {missing}, so no mail is sent"),
    );
}

fn family_name(family: Family) -> &'static str {
    match family {
        Family::V4 => "IPv4",
        Family::V6 => "IPv6",
    }
}

fn family_of(addr: &IpAddr) -> Family {
    if addr.is_ipv4() {
        Family::V4
    } else {
        Family::V6
    }
}

fn version_from(v: &Located<i64>, diag: &mut Diagnostics) -> Option<Version> {
    match v.value {
        2 => Some(Version::V2),
        3 => Some(Version::V3),
        other => {
            diag.error(
                &v.location,
                format!("VRRP version {other} does not exist: expected 2 or 3"),
            );
            None
        }
    }
}

/// Checks `value` is within `min..=max`; `what` names the setting in the message.
fn in_range(v: &Located<i64>, min: i64, max: i64, what: &str, diag: &mut Diagnostics) -> bool {
    if (min..=max).contains(&v.value) {
        return true;
    }
    diag.error(
        &v.location,
        format!("{what} {} is out of range: expected {min}..{max}", v.value),
    );
    false
}

fn instance(
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
    let unicast_peers: Vec<IpAddr> = d
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
        location: d.location.clone(),
    })
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

fn scripts(drafts: &[DraftScript], diag: &mut Diagnostics) -> Vec<Script> {
    let mut out: Vec<Script> = Vec::new();
    for d in drafts {
        if let Some(first) = out.iter().find(|s| s.name == d.name) {
            diag.error(
                &d.location,
                format!(
                    "vrrp_script {} is already defined at {}; script names must be unique",
                    d.name, first.location
                ),
            );
            continue;
        }
        let errors_before = diag.errors.len();
        let Some(command) = &d.script else {
            diag.error(
                &d.location,
                format!(
                    "vrrp_script {} has no `script`: give the command to run, e.g. \
                     `script \"/usr/bin/pidof nginx\"`",
                    d.name
                ),
            );
            continue;
        };
        if command.value.trim().is_empty() {
            diag.error(
                &command.location,
                "script is empty: give the command to run",
            );
        } else if let Err(message) = builtin::check(&command.value) {
            diag.error(
                &command.location,
                format!("vrrp_script {}: {message}", d.name),
            );
        }
        let interval = d.interval.as_ref().map_or(DEFAULT_SCRIPT_INTERVAL, |i| {
            if i.value == 0 {
                diag.error(&i.location, "interval must be more than 0 seconds");
            }
            i.value
        });
        // keepalived gives a script without `timeout` its interval to finish in.
        let timeout =
            d.timeout
                .as_ref()
                .map_or(interval, |t| if t.value == 0 { interval } else { t.value });
        let weight = d.weight.as_ref().map_or(0, |w| {
            if in_range(w, -MAX_TRACK_WEIGHT, MAX_TRACK_WEIGHT, "weight", diag) {
                w.value as i32
            } else {
                0
            }
        });
        let count = |v: &Option<Located<i64>>, what: &str, diag: &mut Diagnostics| {
            v.as_ref().map_or(1, |v| {
                if in_range(v, 1, i64::from(u32::MAX), what, diag) {
                    v.value as u32
                } else {
                    1
                }
            })
        };
        let rise = count(&d.rise, "rise", diag);
        let fall = count(&d.fall, "fall", diag);
        if diag.errors.len() > errors_before {
            continue;
        }
        out.push(Script {
            name: d.name.clone(),
            script: command.value.clone(),
            interval: Duration::from_micros(interval),
            timeout: Duration::from_micros(timeout),
            weight,
            rise,
            fall,
            init_fail: d.init_fail,
            // Settled by `script_users`.
            run_as: None,
            location: d.location.clone(),
        });
    }
    out
}

fn sync_groups(
    drafts: &[DraftSyncGroup],
    instances: &[DraftInstance],
    smtp_alert_default: bool,
    diag: &mut Diagnostics,
) -> Vec<SyncGroup> {
    let mut out: Vec<SyncGroup> = Vec::new();
    // Instance name -> the group that claimed it first.
    let mut claimed: HashMap<&str, (&str, &Location)> = HashMap::new();
    for d in drafts {
        if let Some(first) = out.iter().find(|g| g.name == d.name) {
            diag.error(
                &d.location,
                format!(
                    "vrrp_sync_group {} is already defined at {}; group names must be unique",
                    d.name, first.location
                ),
            );
            continue;
        }
        let errors_before = diag.errors.len();
        match d.members.len() {
            0 => diag.error(
                &d.location,
                format!(
                    "vrrp_sync_group {} has no members: list instances in `group {{ ... }}`",
                    d.name
                ),
            ),
            1 => diag.warn(
                &d.location,
                format!(
                    "vrrp_sync_group {} has only one member, so it synchronises nothing",
                    d.name
                ),
            ),
            _ => {}
        }
        for member in &d.members {
            if !instances.iter().any(|i| i.name == member.value) {
                diag.error(
                    &member.location,
                    format!(
                        "vrrp_sync_group {}: no vrrp_instance named {}",
                        d.name, member.value
                    ),
                );
            } else if let Some((group, at)) = claimed.get(member.value.as_str()) {
                diag.error(
                    &member.location,
                    format!(
                        "vrrp_instance {} is already in vrrp_sync_group {group} ({at}); an \
                         instance belongs to at most one group",
                        member.value
                    ),
                );
            } else {
                claimed.insert(&member.value, (&d.name, &member.location));
            }
        }
        if diag.errors.len() > errors_before {
            continue;
        }
        out.push(SyncGroup {
            name: d.name.clone(),
            members: d.members.iter().map(|m| m.value.clone()).collect(),
            notify: d.notify.clone(),
            smtp_alert: d
                .smtp_alert
                .as_ref()
                .map_or(smtp_alert_default, |a| a.value),
            location: d.location.clone(),
        });
    }
    out
}

fn track_files(drafts: &[DraftTrackFile], diag: &mut Diagnostics) -> Vec<TrackFile> {
    let mut out: Vec<TrackFile> = Vec::new();
    for d in drafts {
        if let Some(first) = out.iter().find(|f| f.name == d.name) {
            diag.error(
                &d.location,
                format!(
                    "track_file {} is already defined at {}; track_file names must be unique",
                    d.name, first.location
                ),
            );
            continue;
        }
        let errors_before = diag.errors.len();
        let path = match &d.file {
            None => {
                diag.error(
                    &d.location,
                    format!(
                        "track_file {} has no `file`: give the path of the file to read, e.g. \
                         `file \"/run/vrrpx/{}\"`",
                        d.name, d.name
                    ),
                );
                None
            }
            Some(file) if file.value.trim().is_empty() => {
                diag.error(
                    &file.location,
                    "file is empty: give the path of the file to read",
                );
                None
            }
            Some(file) => Some(PathBuf::from(&file.value)),
        };
        let weight = d.weight.as_ref().map_or(DEFAULT_TRACK_FILE_WEIGHT, |w| {
            if in_range(
                w,
                -MAX_TRACK_FILE_WEIGHT,
                MAX_TRACK_FILE_WEIGHT,
                "track_file weight",
                diag,
            ) {
                w.value
            } else {
                DEFAULT_TRACK_FILE_WEIGHT
            }
        });
        let init = d.init.as_ref().map(|i| {
            let value = Located::new(i.value.value, &i.location);
            let in_i32 = in_range(
                &value,
                i64::from(i32::MIN),
                i64::from(i32::MAX),
                "init_file value",
                diag,
            );
            TrackFileInit {
                value: if in_i32 { i.value.value as i32 } else { 0 },
                overwrite: i.value.overwrite,
            }
        });
        let Some(path) = path else { continue };
        if diag.errors.len() > errors_before {
            continue;
        }
        out.push(TrackFile {
            name: d.name.clone(),
            path,
            weight: weight as i32,
            init,
            location: d.location.clone(),
        });
    }
    out
}

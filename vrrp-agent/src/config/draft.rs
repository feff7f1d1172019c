//! What a reader hands to validation: settings as written, each with the place it was
//! written, values parsed into types but not yet range-checked or cross-checked. Both
//! readers (keepalived.conf and TOML) fill this in, and `validate` turns it into the model,
//! so every rule about values is written once.

use std::net::IpAddr;

use std::collections::BTreeMap;

use super::model::{
    ChecksumForm, InitialState, InstanceLines, Location, Locations, Notify, PerNotify, UserSpec,
    Version,
};

/// A value and where it was set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Located<T> {
    pub value: T,
    pub location: Location,
}

impl<T> Located<T> {
    pub fn new(value: T, location: &Location) -> Self {
        Located {
            value,
            location: location.clone(),
        }
    }
}

/// A length of time as written, in microseconds (keepalived's timer resolution).
pub type Micros = u64;

pub const MICROS_PER_SECOND: Micros = 1_000_000;

#[derive(Debug, Default)]
pub struct DraftConfig {
    pub router_id: Option<String>,
    /// `global_defs { vrrp_version }` or the TOML top-level `version`.
    pub default_version: Option<Located<i64>>,
    pub instances: Vec<DraftInstance>,
    pub scripts: Vec<DraftScript>,
    pub sync_groups: Vec<DraftSyncGroup>,
    pub track_files: Vec<DraftTrackFile>,
    /// `notification_email { }`.
    pub email_to: Vec<Located<String>>,
    pub email_from: Option<Located<String>>,
    pub smtp_server: Option<Located<DraftSmtpServer>>,
    pub smtp_connect_timeout: Option<Located<Micros>>,
    /// `notify_fifo` / `vrrp_notify_fifo`.
    pub notify_fifo: Option<Located<String>>,
    /// `enable_script_security`.
    pub script_security: Option<Located<bool>>,
    /// `script_user USER [GROUP]`.
    pub script_user: Option<Located<UserSpec>>,
    /// keepalived's `global_defs { smtp_alert_vrrp }` (or `smtp_alert`): the `smtp_alert` of
    /// instances and groups that do not set their own.
    pub smtp_alert_default: Option<Located<bool>>,
    /// keepalived's `global_defs { vrrp_strict }`: the default of every instance's
    /// `strict_mode`.
    pub strict: Option<Located<bool>>,
    /// keepalived's `global_defs { vrrp_rt_priority }`: SCHED_RR priority of the daemon.
    pub rt_priority: Option<Located<i64>>,
}

/// A block that defines something by name, `vrrp_instance NAME { ... }`: what both readers
/// start from and what validation checks for names defined twice.
pub trait Definition: Default {
    fn name(&self) -> &str;
    fn location(&self) -> &Location;
    /// An empty definition of `name`, written at `location`.
    fn named(name: String, location: Location) -> Self;
}

macro_rules! definition {
    ($($type:ty),*) => {$(
        impl Definition for $type {
            fn name(&self) -> &str {
                &self.name
            }
            fn location(&self) -> &Location {
                &self.location
            }
            fn named(name: String, location: Location) -> Self {
                Self {
                    name,
                    location,
                    ..Self::default()
                }
            }
        }
    )*};
}
definition!(DraftInstance, DraftScript, DraftSyncGroup, DraftTrackFile);

impl DraftConfig {
    /// Where each block and instance setting was written: what the model leaves out.
    pub fn locations(&self) -> Locations {
        fn first_of<'a>(
            blocks: impl Iterator<Item = (&'a String, &'a Location)>,
        ) -> BTreeMap<String, Location> {
            let mut map = BTreeMap::new();
            for (name, at) in blocks {
                map.entry(name.clone()).or_insert_with(|| at.clone());
            }
            map
        }
        Locations {
            instances: self.instances.iter().map(DraftInstance::lines).collect(),
            scripts: first_of(self.scripts.iter().map(|s| (&s.name, &s.location))),
            sync_groups: first_of(self.sync_groups.iter().map(|g| (&g.name, &g.location))),
            track_files: first_of(self.track_files.iter().map(|f| (&f.name, &f.location))),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DraftSmtpServer {
    pub host: String,
    pub port: Option<i64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DraftTrackFileInit {
    /// None when only `init_file` was written; validation supplies the default.
    pub value: Option<i64>,
    pub overwrite: bool,
}

#[derive(Debug, Default)]
pub struct DraftTrackFile {
    pub name: String,
    pub location: Location,
    pub file: Option<Located<String>>,
    pub weight: Option<Located<i64>>,
    pub init: Option<Located<DraftTrackFileInit>>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DraftAddress {
    pub addr: IpAddr,
    /// None when written without `/LEN`: a host address.
    pub prefix_len: Option<u8>,
    pub dev: Option<String>,
    pub label: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DraftTrack {
    pub name: String,
    pub weight: Option<i64>,
}

#[derive(Debug, Default)]
pub struct DraftInstance {
    pub name: String,
    pub location: Location,
    pub interface: Option<Located<String>>,
    pub vrid: Option<Located<i64>>,
    pub priority: Option<Located<i64>>,
    pub advert_int: Option<Located<Micros>>,
    pub version: Option<Located<i64>>,
    pub state: Option<Located<InitialState>>,
    pub preempt: Option<Located<bool>>,
    pub preempt_delay: Option<Located<Micros>>,
    /// `auth_type`, upper-cased.
    pub auth_type: Option<Located<String>>,
    pub auth_pass: Option<Located<String>>,
    pub virtual_addresses: Vec<Located<DraftAddress>>,
    pub unicast_src: Option<Located<IpAddr>>,
    pub unicast_peers: Vec<Located<IpAddr>>,
    /// `min_ttl` / `max_ttl` written after each peer (0 and 255 when not), same order.
    pub unicast_peer_ttl: Vec<(u8, u8)>,
    /// `auth_hmac { ... }`, its keys read (files included).
    pub auth_hmac: Option<Located<crate::proto::auth_hmac::AuthHmac>>,
    /// `auth_hmac` written without `time_window`: the window follows the interval.
    pub auth_hmac_window_unset: bool,
    /// keepalived's `unicast_ttl`: the TTL of adverts sent to unicast peers.
    pub unicast_ttl: Option<Located<i64>>,
    pub track_interfaces: Vec<Located<DraftTrack>>,
    pub track_scripts: Vec<Located<DraftTrack>>,
    pub track_files: Vec<Located<DraftTrack>>,
    pub notify: Notify,
    /// `USER [GROUP]` written after each notify script.
    pub notify_users: PerNotify<Option<Located<UserSpec>>>,
    pub smtp_alert: Option<Located<bool>>,
    pub garp_master_delay: Option<Located<Micros>>,
    pub garp_master_repeat: Option<Located<i64>>,
    /// 0 means off, as in keepalived.
    pub garp_master_refresh: Option<Located<Micros>>,
    pub use_vmac: bool,
    pub accept: Option<Located<bool>>,
    pub checksum: Option<Located<ChecksumForm>>,
    /// keepalived's per-instance `strict_mode [on|off]`.
    pub strict_mode: Option<Located<bool>>,
}

impl DraftInstance {
    /// Where each setting was written.
    pub fn lines(&self) -> InstanceLines {
        let at = |v: Option<&Location>| v.cloned();
        InstanceLines {
            name: self.name.clone(),
            block: self.location.clone(),
            interface: at(self.interface.as_ref().map(|v| &v.location)),
            vrid: at(self.vrid.as_ref().map(|v| &v.location)),
            priority: at(self.priority.as_ref().map(|v| &v.location)),
            advert_int: at(self.advert_int.as_ref().map(|v| &v.location)),
            version: at(self.version.as_ref().map(|v| &v.location)),
            state: at(self.state.as_ref().map(|v| &v.location)),
            preempt: at(self.preempt.as_ref().map(|v| &v.location)),
            authentication: at(self.auth_type.as_ref().map(|v| &v.location)),
            unicast_src: at(self.unicast_src.as_ref().map(|v| &v.location)),
            unicast_peers: self
                .unicast_peers
                .iter()
                .map(|p| p.location.clone())
                .collect(),
            checksum: at(self.checksum.as_ref().map(|v| &v.location)),
            virtual_addresses: self
                .virtual_addresses
                .iter()
                .map(|a| (a.location.clone(), a.value.prefix_len.is_some()))
                .collect(),
        }
    }
}

#[derive(Debug, Default)]
pub struct DraftScript {
    pub name: String,
    pub location: Location,
    pub script: Option<Located<String>>,
    pub interval: Option<Located<Micros>>,
    pub timeout: Option<Located<Micros>>,
    pub weight: Option<Located<i64>>,
    pub rise: Option<Located<i64>>,
    pub fall: Option<Located<i64>>,
    pub init_fail: bool,
    /// `user USER [GROUP]`.
    pub user: Option<Located<UserSpec>>,
}

#[derive(Debug, Default)]
pub struct DraftSyncGroup {
    pub name: String,
    pub location: Location,
    pub members: Vec<Located<String>>,
    pub notify: Notify,
    /// `USER [GROUP]` written after each notify script.
    pub notify_users: PerNotify<Option<Located<UserSpec>>>,
    pub smtp_alert: Option<Located<bool>>,
    /// keepalived's `sync_group_tracking_weight`: members keep their weighted tracking.
    pub tracking_weight: bool,
}

/// What a reader assumes when a file says nothing: keepalived.conf means VRRPv2, the native
/// format VRRPv3.
#[derive(Clone, Copy, Debug)]
pub struct ReaderDefaults {
    pub version: Version,
}

/// Parses `ADDR` or `ADDR/LEN`, checking LEN against the family.
pub fn parse_address_with_prefix(text: &str) -> Result<(IpAddr, Option<u8>), String> {
    let (addr_text, len_text) = match text.split_once('/') {
        Some((addr, len)) => (addr, Some(len)),
        None => (text, None),
    };
    let addr: IpAddr = addr_text
        .parse()
        .map_err(|_| format!("`{addr_text}` is not an IPv4 or IPv6 address"))?;
    let Some(len_text) = len_text else {
        return Ok((addr, None));
    };
    let max = if addr.is_ipv4() { 32 } else { 128 };
    match len_text.parse::<u8>() {
        Ok(len) if len <= max => Ok((addr, Some(len))),
        _ => Err(format!(
            "prefix length `/{len_text}` of {addr} must be a number 0..{max}"
        )),
    }
}

/// Parses keepalived's `<TIMER>`: seconds with an optional fraction, e.g. `3` or `0.01`,
/// exactly (no floating point), to microseconds.
pub fn parse_decimal_seconds(text: &str) -> Option<Micros> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty() && fraction.is_empty() {
        return None;
    }
    let all_digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    if !all_digits(whole) || !all_digits(fraction) || fraction.len() > 6 {
        return None;
    }
    let whole: Micros = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    let fraction: Micros = if fraction.is_empty() {
        0
    } else {
        format!("{fraction:0<6}").parse().ok()?
    };
    whole.checked_mul(MICROS_PER_SECOND)?.checked_add(fraction)
}

/// Micros as keepalived writes them: `0.01`, `1`, `2.5`.
pub fn format_seconds(micros: Micros) -> String {
    let whole = micros / MICROS_PER_SECOND;
    let fraction = micros % MICROS_PER_SECOND;
    if fraction == 0 {
        whole.to_string()
    } else {
        let digits = format!("{fraction:06}");
        format!("{whole}.{}", digits.trim_end_matches('0'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Seconds spelled as we print them: each reads back to the same microseconds.
    const CANONICAL_SECONDS: [(&str, Micros); 5] = [
        ("1", 1_000_000),
        ("0.01", 10_000),
        ("2.5", 2_500_000),
        ("3", 3_000_000),
        ("0.000001", 1),
    ];

    #[test]
    fn decimal_seconds_are_read_exactly() {
        for (text, micros) in CANONICAL_SECONDS {
            assert_eq!(parse_decimal_seconds(text), Some(micros), "{text}");
        }
        assert_eq!(parse_decimal_seconds(".5"), Some(500_000));
        for bad in ["0.0000001", "-1", "1e3", ".", ""] {
            assert_eq!(parse_decimal_seconds(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn seconds_format_without_trailing_zeros() {
        for (text, micros) in CANONICAL_SECONDS {
            assert_eq!(format_seconds(micros), text);
        }
    }

    #[test]
    fn addresses_take_an_optional_prefix_checked_against_the_family() {
        assert_eq!(
            parse_address_with_prefix("10.0.0.1/24").unwrap(),
            ("10.0.0.1".parse().unwrap(), Some(24))
        );
        assert_eq!(
            parse_address_with_prefix("fd00::1").unwrap(),
            ("fd00::1".parse().unwrap(), None)
        );
        assert!(parse_address_with_prefix("10.0.0.1/33").is_err());
        assert!(parse_address_with_prefix("fd00::1/128").is_ok());
        assert!(parse_address_with_prefix("10.0.0/24").is_err());
    }
}

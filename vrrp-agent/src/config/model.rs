//! The validated configuration model. Both readers (keepalived.conf and native TOML) produce
//! exactly this; the engine consumes nothing else. Every value here is already checked:
//! ranges, required keys, cross-references.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Where a setting came from, for messages: `file:line`.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Location {
    pub file: PathBuf,
    pub line: usize,
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.file.display(), self.line)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Version {
    /// RFC 3768: whole-second intervals, optional PASS authentication.
    V2,
    /// RFC 5798: centisecond intervals, IPv4 or IPv6.
    V3,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    V4,
    V6,
}

/// How a v3-over-IPv4 checksum is computed (`../shared/VRRP.md` check 4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChecksumForm {
    /// With the IPv4 pseudo-header: keepalived 2.2 and FRR (the default).
    Pseudo,
    /// Without it, as RFC 9568 says.
    Plain,
}

/// keepalived's `state`: only a hint; priority decides (RFC 5798 §6.4.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InitialState {
    Backup,
    Master,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VirtualAddress {
    pub addr: IpAddr,
    pub prefix_len: u8,
    /// `dev IF`: add it on another interface than the instance's.
    pub dev: Option<String>,
    /// `label L`.
    pub label: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrackInterface {
    pub name: String,
    /// keepalived's meaning: 0 (no weight) puts the instance in fault while the interface
    /// is down; a positive weight is added to the priority while it is up; a negative one
    /// is added (so subtracted) while it is down.
    pub weight: i32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrackScriptRef {
    pub name: String,
    /// Overrides the script's own weight when set.
    pub weight: Option<i32>,
}

#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Notify {
    pub master: Option<String>,
    pub backup: Option<String>,
    pub fault: Option<String>,
    pub stop: Option<String>,
    /// `notify`: called on every change with `INSTANCE name state priority`.
    pub any: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Garp {
    /// `garp_master_delay`: second burst this long after becoming master (default 5 s).
    pub master_delay: Duration,
    /// `garp_master_repeat`: gratuitous ARPs per burst (default 5).
    pub master_repeat: u32,
    /// `garp_master_refresh`: repeat periodically while master (default off).
    pub master_refresh: Option<Duration>,
}

impl Default for Garp {
    fn default() -> Self {
        Garp {
            master_delay: Duration::from_secs(5),
            master_repeat: 5,
            master_refresh: None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Instance {
    pub name: String,
    pub interface: String,
    pub vrid: u8,
    /// 1..=255; 255 means address owner.
    pub priority: u8,
    /// Advertisement interval in centiseconds (v2: a multiple of 100).
    pub advert_int_cs: u16,
    pub version: Version,
    /// Family of the virtual addresses (all of one family per instance).
    pub family: Family,
    pub initial_state: InitialState,
    /// `nopreempt` makes this false.
    pub preempt: bool,
    pub preempt_delay: Duration,
    /// v2 `authentication { auth_type PASS; auth_pass X }`, zero padded to 8 bytes.
    pub auth_pass: Option<[u8; 8]>,
    pub virtual_addresses: Vec<VirtualAddress>,
    pub unicast_src: Option<IpAddr>,
    pub unicast_peers: Vec<IpAddr>,
    pub track_interfaces: Vec<TrackInterface>,
    pub track_scripts: Vec<TrackScriptRef>,
    pub notify: Notify,
    pub garp: Garp,
    pub use_vmac: bool,
    /// RFC 5798 Accept_Mode (`accept` / `no_accept`); keepalived's default is accept.
    pub accept: bool,
    pub checksum: ChecksumForm,
    pub location: Location,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Script {
    pub name: String,
    pub script: String,
    pub interval: Duration,
    pub timeout: Duration,
    pub weight: i32,
    pub rise: u32,
    pub fall: u32,
    pub location: Location,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncGroup {
    pub name: String,
    /// Instance names; each exists and is in at most one group.
    pub members: Vec<String>,
    pub notify: Notify,
    pub location: Location,
}

#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Config {
    pub router_id: Option<String>,
    pub instances: Vec<Instance>,
    pub scripts: Vec<Script>,
    pub sync_groups: Vec<SyncGroup>,
}

/// A keyword we read but do not act on yet, or something suspicious: never silently
/// dropped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warning {
    pub location: Location,
    pub message: String,
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: warning: {}", self.location, self.message)
    }
}

/// A configuration error: where, and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    pub location: Location,
    pub message: String,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: error: {}", self.location, self.message)
    }
}

impl std::error::Error for ConfigError {}

//! The validated configuration model. Both readers (keepalived.conf and native TOML) produce
//! exactly this; the engine consumes nothing else. Every value here is already checked:
//! ranges, required keys, cross-references.

use std::collections::BTreeMap;
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

/// How a v3-over-IPv4 checksum is computed (`docs/rfc-index.md`, the checksum rule).
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

/// An instance's reference to a [`TrackFile`]: `track_file { NAME [weight N] }`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrackFileRef {
    pub name: String,
    /// -254..=254; overrides the track file's own weight when set. keepalived's meaning of
    /// the weight in effect: 0 puts the instance in fault while the file holds a value other
    /// than 0; otherwise the value times the weight is added to the priority, and a result
    /// of -254 or less puts the instance in fault.
    pub weight: Option<i32>,
}

/// keepalived's `track_file NAME { file PATH; weight N; init_file [VALUE] [overwrite] }`
/// (`vrrp_track_file` is its older name): a file holding a number, read whenever it changes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrackFile {
    pub name: String,
    pub path: PathBuf,
    /// -254..=254, default 1; see [`TrackFileRef::weight`] for its meaning.
    pub weight: i32,
    /// `init_file`: write a value at startup.
    pub init: Option<TrackFileInit>,
}

/// `init_file [VALUE] [overwrite]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct TrackFileInit {
    /// Written at startup (default 0).
    pub value: i32,
    /// Write it even when the file exists; otherwise only a missing file is created.
    pub overwrite: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Notify {
    pub master: Option<String>,
    pub backup: Option<String>,
    pub fault: Option<String>,
    pub stop: Option<String>,
    /// `notify`: called on every change with `INSTANCE name state priority`.
    pub any: Option<String>,
    /// Who each script runs as (`notify_master SCRIPT USER [GROUP]`, else the default
    /// script user), filled in when the configuration is loaded. `None` runs it as the
    /// agent's own user.
    pub run_as: PerNotify<Option<RunAs>>,
}

impl Notify {
    /// Each script with its keyword and who it runs as, in the order `notify_master`,
    /// `notify_backup`, `notify_fault`, `notify_stop`, `notify` (as [`PerNotify::each`]).
    pub fn scripts_mut(&mut self) -> [(&'static str, &Option<String>, &mut Option<RunAs>); 5] {
        let run_as = &mut self.run_as;
        [
            ("notify_master", &self.master, &mut run_as.master),
            ("notify_backup", &self.backup, &mut run_as.backup),
            ("notify_fault", &self.fault, &mut run_as.fault),
            ("notify_stop", &self.stop, &mut run_as.stop),
            ("notify", &self.any, &mut run_as.any),
        ]
    }
}

/// One value for each of the notify scripts of an instance or a sync group.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct PerNotify<T> {
    pub master: T,
    pub backup: T,
    pub fault: T,
    pub stop: T,
    pub any: T,
}

impl<T> PerNotify<T> {
    /// The five values in keyword order (as [`Notify::scripts_mut`]).
    pub fn each(&self) -> [&T; 5] {
        [
            &self.master,
            &self.backup,
            &self.fault,
            &self.stop,
            &self.any,
        ]
    }
}

/// `USER [GROUP]` as written after `script_user`, a vrrp_script's `user`, or a notify
/// script. A GROUP written `:GROUP` (or a lone `:`) also sets the user's supplementary
/// groups, as in keepalived.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserSpec {
    pub user: String,
    pub group: Option<String>,
}

/// The credentials a script or notify program runs with, looked up when the
/// configuration is loaded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunAs {
    /// The user name, for messages and the child's `USER`.
    pub user: String,
    pub uid: u32,
    /// The user's own group, or the GROUP written after it.
    pub gid: u32,
    /// Supplementary groups; empty (cleared) unless asked for with `:GROUP`.
    pub groups: Vec<u32>,
    /// The child's `HOME`.
    pub home: PathBuf,
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
    /// Per-peer `min_ttl` / `max_ttl` (0..=255 when not written), same order as the peers.
    pub unicast_peer_ttl: Vec<(u8, u8)>,
    /// keepalived 2.4 `auth_hmac { ... }` (docs/auth-hmac.md).
    pub auth_hmac: Option<crate::proto::auth_hmac::AuthHmac>,
    /// keepalived's `unicast_ttl`: adverts to unicast peers leave with this TTL / hop limit
    /// (255 when not written, so on-link peers still see 255).
    pub unicast_ttl: Option<u8>,
    pub track_interfaces: Vec<TrackInterface>,
    pub track_scripts: Vec<TrackScriptRef>,
    /// `track_file { NAME [weight N] }`: each names a [`TrackFile`] in [`Config::track_files`].
    pub track_files: Vec<TrackFileRef>,
    pub notify: Notify,
    /// `smtp_alert`: mail [`Config::email`]'s recipients on each state change (default off,
    /// unless `global_defs` says `smtp_alert` or `smtp_alert_vrrp`).
    pub smtp_alert: bool,
    pub garp: Garp,
    pub use_vmac: bool,
    /// RFC 5798 Accept_Mode (`accept` / `no_accept`); keepalived's default is accept.
    pub accept: bool,
    pub checksum: ChecksumForm,
    /// keepalived's `vrrp_strict` (or the instance's `strict_mode`): RFC behaviour only.
    /// Validation has refused what strict mode forbids and made no_accept the default; at
    /// run time a strict master does not answer a lower-priority advert with its own.
    pub strict: bool,
}

/// Where everything in a [`Config`] was written, kept beside the model rather than in it:
/// two configurations that mean the same compare equal with `==` however their lines are
/// laid out, so a reload restarts only what changed.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Locations {
    /// One per `vrrp_instance` block read, in file order.
    pub instances: Vec<InstanceLines>,
    /// Each `vrrp_script`, `vrrp_sync_group` and `track_file` block by name (the first
    /// one when a name is defined twice: that is the one validation keeps).
    pub scripts: BTreeMap<String, Location>,
    pub sync_groups: BTreeMap<String, Location>,
    pub track_files: BTreeMap<String, Location>,
}

impl Locations {
    /// Where the settings of the instance `name` were written.
    pub fn instance(&self, name: &str) -> Option<&InstanceLines> {
        self.instances.iter().find(|i| i.name == name)
    }
}

/// Where the settings of one `vrrp_instance` were written, for messages that compare two
/// files or a file with the host (`check --peer`, the host checks).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct InstanceLines {
    pub name: String,
    /// The `vrrp_instance NAME {` line: where a setting left at its default is reported.
    pub block: Location,
    pub interface: Option<Location>,
    pub vrid: Option<Location>,
    pub priority: Option<Location>,
    pub advert_int: Option<Location>,
    pub version: Option<Location>,
    pub state: Option<Location>,
    pub preempt: Option<Location>,
    /// `auth_type`.
    pub authentication: Option<Location>,
    pub unicast_src: Option<Location>,
    pub unicast_peers: Vec<Location>,
    pub checksum: Option<Location>,
    /// One per virtual address, in order: its line, and whether a `/LEN` was written.
    pub virtual_addresses: Vec<(Location, bool)>,
}

impl InstanceLines {
    /// The line of a setting, or the instance's own line when it was left at its default.
    pub fn or_block<'a>(&'a self, line: &'a Option<Location>) -> &'a Location {
        line.as_ref().unwrap_or(&self.block)
    }
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
    /// `init_fail`: the script counts as failed until it has succeeded `rise` times;
    /// otherwise its first result decides.
    pub init_fail: bool,
    /// Who the program runs as (`user USER [GROUP]`, else the default script user);
    /// `None` for built-in checks, which run inside the agent, and for the agent's own
    /// user.
    pub run_as: Option<RunAs>,
}

/// keepalived's defaults: run every second, as long as the interval, weight 0, rise and
/// fall 1.
impl Default for Script {
    fn default() -> Self {
        Script {
            name: String::new(),
            script: String::new(),
            interval: Duration::from_secs(1),
            timeout: Duration::from_secs(1),
            weight: 0,
            rise: 1,
            fall: 1,
            init_fail: false,
            run_as: None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct SyncGroup {
    pub name: String,
    /// Instance names; each exists and is in at most one group.
    pub members: Vec<String>,
    pub notify: Notify,
    /// `smtp_alert`: mail on each state change of the group (default as for instances).
    pub smtp_alert: bool,
}

/// `smtp_server HOST [PORT]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SmtpServer {
    /// An IP address or a host name, as written.
    pub host: String,
    /// Default 25.
    pub port: u16,
}

/// The mail settings of `global_defs`, used by `smtp_alert`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Email {
    /// `notification_email { ADDR ... }`: the recipients.
    pub to: Vec<String>,
    /// `notification_email_from`; None means keepalived's `keepalived@<local host name>`.
    pub from: Option<String>,
    /// None: no mail is sent.
    pub smtp_server: Option<SmtpServer>,
    /// `smtp_connect_timeout`, default 30 s.
    pub smtp_connect_timeout: Duration,
}

impl Default for Email {
    fn default() -> Self {
        Email {
            to: Vec::new(),
            from: None,
            smtp_server: None,
            smtp_connect_timeout: Duration::from_secs(30),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Config {
    pub router_id: Option<String>,
    pub instances: Vec<Instance>,
    pub scripts: Vec<Script>,
    pub sync_groups: Vec<SyncGroup>,
    /// keepalived's `track_file` / `vrrp_track_file` blocks.
    pub track_files: Vec<TrackFile>,
    pub email: Email,
    /// `notify_fifo PATH` (or `vrrp_notify_fifo`): a FIFO that gets one line per state
    /// change in keepalived's format, such as `INSTANCE "VI_1" MASTER 100`.
    pub notify_fifo: Option<PathBuf>,
    /// `enable_script_security`: a script run as root whose file or any directory above it
    /// is writable by someone other than root is refused at load.
    pub script_security: bool,
    /// `vrrp_rt_priority`: SCHED_RR priority for the daemon (0: off); `None`: the default.
    pub rt_priority: Option<i32>,
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

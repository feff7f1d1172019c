//! The shape of a native TOML file, as serde reads it: every table and key, with their
//! types. Unknown keys are refused here (`deny_unknown_fields`); values are checked later,
//! by validation.

use std::fmt;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use toml::Spanned;

use super::super::draft::{parse_decimal_seconds, Micros};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NativeFile {
    pub(super) router_id: Option<String>,
    /// Default VRRP version of the instances (3 when absent).
    pub(super) version: Option<Spanned<i64>>,
    #[serde(default)]
    pub(super) instance: Vec<Spanned<NativeInstance>>,
    #[serde(default)]
    pub(super) script: Vec<Spanned<NativeScript>>,
    #[serde(default)]
    pub(super) sync_group: Vec<Spanned<NativeSyncGroup>>,
    #[serde(default)]
    pub(super) track_file: Vec<Spanned<NativeTrackFile>>,
    /// keepalived's `notify_fifo` / `vrrp_notify_fifo`.
    pub(super) notify_fifo: Option<Spanned<String>>,
    /// keepalived's `enable_script_security`.
    pub(super) enable_script_security: Option<Spanned<bool>>,
    /// keepalived's `script_user`: `"USER"` or `"USER GROUP"`.
    pub(super) script_user: Option<Spanned<String>>,
    /// keepalived's mail settings in `global_defs`.
    #[serde(default)]
    pub(super) email: NativeEmail,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct NativeEmail {
    #[serde(default)]
    pub(super) to: Vec<Spanned<String>>,
    pub(super) from: Option<Spanned<String>>,
    pub(super) smtp_server: Option<Spanned<NativeSmtpServer>>,
    pub(super) smtp_connect_timeout: Option<Spanned<NativeDuration>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct SmtpServerTable {
    pub(super) host: String,
    pub(super) port: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NativeTrackFile {
    pub(super) name: String,
    pub(super) file: Option<Spanned<String>>,
    pub(super) weight: Option<Spanned<i64>>,
    pub(super) init_file: Option<Spanned<InitFile>>,
}

/// The table form of `init_file`: `{ value = 5, overwrite = true }`, both optional.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NativeInitFile {
    pub(super) value: Option<i64>,
    #[serde(default)]
    pub(super) overwrite: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NativeInstance {
    pub(super) name: String,
    pub(super) interface: Option<Spanned<String>>,
    pub(super) vrid: Option<Spanned<i64>>,
    pub(super) priority: Option<Spanned<i64>>,
    pub(super) advert_int: Option<Spanned<NativeDuration>>,
    pub(super) version: Option<Spanned<i64>>,
    pub(super) state: Option<Spanned<NativeState>>,
    pub(super) preempt: Option<Spanned<bool>>,
    pub(super) preempt_delay: Option<Spanned<NativeDuration>>,
    pub(super) accept: Option<bool>,
    pub(super) checksum: Option<NativeChecksum>,
    /// v2 only; implies keepalived's `auth_type PASS`.
    pub(super) auth_pass: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) virtual_addresses: Vec<Spanned<NativeAddress>>,
    pub(super) unicast_src: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) unicast_peers: Vec<Spanned<String>>,
    #[serde(default)]
    pub(super) track_interfaces: Vec<Spanned<NativeTrack>>,
    #[serde(default)]
    pub(super) track_scripts: Vec<Spanned<NativeTrack>>,
    #[serde(default)]
    pub(super) track_files: Vec<Spanned<NativeTrack>>,
    #[serde(default)]
    pub(super) notify: NativeNotify,
    pub(super) smtp_alert: Option<Spanned<bool>>,
    #[serde(default)]
    pub(super) garp: NativeGarp,
    #[serde(default)]
    pub(super) use_vmac: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum NativeState {
    Master,
    Backup,
}

#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum NativeChecksum {
    Pseudo,
    Plain,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct NativeNotify {
    pub(super) master: Option<String>,
    pub(super) backup: Option<String>,
    pub(super) fault: Option<String>,
    pub(super) stop: Option<String>,
    /// keepalived's `notify`: every transition.
    pub(super) any: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct NativeGarp {
    pub(super) master_delay: Option<Spanned<NativeDuration>>,
    pub(super) master_repeat: Option<Spanned<i64>>,
    /// `"0s"` or absent: off.
    pub(super) master_refresh: Option<Spanned<NativeDuration>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NativeScript {
    pub(super) name: String,
    pub(super) command: Option<Spanned<String>>,
    pub(super) interval: Option<Spanned<NativeDuration>>,
    pub(super) timeout: Option<Spanned<NativeDuration>>,
    pub(super) weight: Option<Spanned<i64>>,
    pub(super) rise: Option<Spanned<i64>>,
    pub(super) fall: Option<Spanned<i64>>,
    #[serde(default)]
    pub(super) init_fail: bool,
    /// `"USER"` or `"USER GROUP"`.
    pub(super) user: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NativeSyncGroup {
    pub(super) name: String,
    #[serde(default)]
    pub(super) members: Vec<Spanned<String>>,
    #[serde(default)]
    pub(super) notify: NativeNotify,
    pub(super) smtp_alert: Option<Spanned<bool>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct AddressTable {
    pub(super) addr: String,
    pub(super) dev: Option<String>,
    pub(super) label: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct TrackTable {
    pub(super) name: String,
    pub(super) weight: Option<i64>,
}

/// Declares `$type`, a `$table` that may also be written as a plain string: the string
/// is its `$field` and the other fields are absent. Deserialised without serde's untagged
/// enums, whose errors do not say what was expected.
macro_rules! string_or_table {
    ($(#[$doc:meta])* $type:ident($table:ident), $field:ident, $expecting:literal) => {
        $(#[$doc])*
        pub(super) struct $type(pub(super) $table);

        impl<'de> Deserialize<'de> for $type {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct StringOrTable;
                impl<'de> Visitor<'de> for StringOrTable {
                    type Value = $type;
                    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                        f.write_str($expecting)
                    }
                    fn visit_str<E: de::Error>(self, v: &str) -> Result<$type, E> {
                        Ok($type($table {
                            $field: v.to_owned(),
                            ..$table::default()
                        }))
                    }
                    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<$type, A::Error> {
                        $table::deserialize(de::value::MapAccessDeserializer::new(map)).map($type)
                    }
                }
                deserializer.deserialize_any(StringOrTable)
            }
        }
    };
}

string_or_table!(
    /// `"10.0.0.1/24"` or `{ addr = "10.0.0.1/24", dev = "eth1", label = "eth1:vip" }`.
    NativeAddress(AddressTable),
    addr,
    "an address such as \"10.0.0.100/24\", or a table such as \
     { addr = \"10.0.0.100/24\", dev = \"eth1\", label = \"eth1:vip\" }"
);
string_or_table!(
    /// `"eth1"` or `{ name = "eth1", weight = -20 }`.
    NativeTrack(TrackTable),
    name,
    "a name such as \"eth1\", or a table such as { name = \"eth1\", weight = -20 }"
);
string_or_table!(
    /// `"127.0.0.1"` or `{ host = "mail.example.com", port = 587 }`.
    NativeSmtpServer(SmtpServerTable),
    host,
    "a host such as \"127.0.0.1\", or a table such as \
     { host = \"mail.example.com\", port = 587 }"
);

/// `init_file = 5` (a value, written only when the file is missing), or the table form.
pub(super) struct InitFile(pub(super) NativeInitFile);

impl<'de> Deserialize<'de> for InitFile {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NumberOrTable;
        impl<'de> Visitor<'de> for NumberOrTable {
            type Value = InitFile;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a value such as 0, or a table such as { value = 0, overwrite = true }")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<InitFile, E> {
                Ok(InitFile(NativeInitFile {
                    value: Some(v),
                    overwrite: false,
                }))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<InitFile, A::Error> {
                NativeInitFile::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(InitFile)
            }
        }
        deserializer.deserialize_any(NumberOrTable)
    }
}

/// A duration written as a string with a unit: `"100ms"`, `"1s"`, `"2.5s"`.
pub(super) struct NativeDuration(pub(super) Micros);

impl<'de> Deserialize<'de> for NativeDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DurationVisitor;
        impl Visitor<'_> for DurationVisitor {
            type Value = NativeDuration;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a duration with a unit, such as \"100ms\" or \"1s\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<NativeDuration, E> {
                parse_duration(v).map(NativeDuration).ok_or_else(|| {
                    E::custom(format!(
                        "`{v}` is not a duration: write a number and a unit, ms or s, \
                         such as \"100ms\" or \"1.5s\""
                    ))
                })
            }
        }
        deserializer.deserialize_any(DurationVisitor)
    }
}

/// `"100ms"` / `"1.5s"` to microseconds.
pub(super) fn parse_duration(text: &str) -> Option<Micros> {
    if let Some(ms) = text.strip_suffix("ms") {
        // Milliseconds, with up to three decimals (microsecond resolution).
        let micros = parse_decimal_seconds(ms)?;
        if micros % 1000 != 0 {
            return None;
        }
        Some(micros / 1000)
    } else {
        parse_decimal_seconds(text.strip_suffix('s')?)
    }
}

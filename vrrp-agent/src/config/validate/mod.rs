//! Turns a draft (from either reader) into the validated model: defaults, ranges, required
//! keys and cross-references, each rule written once. Every problem is collected; nothing
//! stops at the first.
//!
//! One file per block: [`instance`], [`scripts`], [`sync_groups`], [`track_files`] and the
//! mail settings of `global_defs` in [`email`]. This file holds what they share: the order
//! of the passes, names defined twice, references by name, ranges.

mod email;
mod instance;
mod scripts;
mod sync_groups;
mod track_files;

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;

use super::draft::{Definition, DraftConfig, DraftInstance, DraftTrack, Located, ReaderDefaults};
use super::model::{Config, Family, Instance, Location, Version};
use super::report::Diagnostics;
use super::script_users;

/// keepalived's range for tracking weights.
const MAX_TRACK_WEIGHT: i64 = 253;
/// keepalived's range for track_file weights: one more, so that a file can fault an
/// instance whatever its value.
const MAX_TRACK_FILE_WEIGHT: i64 = 254;
/// keepalived's default weight of a track_file.
const DEFAULT_TRACK_FILE_WEIGHT: i64 = 1;
/// keepalived's default weight of a vrrp_script.
const DEFAULT_SCRIPT_WEIGHT: i64 = 0;

pub fn validate(
    mut draft: DraftConfig,
    defaults: ReaderDefaults,
    diag: &mut Diagnostics,
) -> Config {
    sync_groups::drop_weighted_tracking(&mut draft, diag);
    let default_version = match &draft.default_version {
        Some(v) => version_from(v, diag).unwrap_or(defaults.version),
        None => defaults.version,
    };

    let scripts = scripts::scripts(unique(&draft.scripts, "vrrp_script", "script", diag), diag);
    let track_files = track_files::track_files(
        unique(&draft.track_files, "track_file", "track_file", diag),
        diag,
    );
    let names = Names {
        scripts: defined(&draft.scripts),
        track_files: defined(&draft.track_files),
    };
    let smtp_alert_default = draft.smtp_alert_default.as_ref().is_some_and(|a| a.value);
    let strict_default = draft.strict.as_ref().is_some_and(|s| s.value);

    // Each with the line of its block, for the message about a second one on its VRID.
    let mut instances: Vec<(Instance, &Location)> = Vec::new();
    for d in unique(&draft.instances, "vrrp_instance", "instance", diag) {
        let Some(instance) = instance::instance(
            d,
            default_version,
            &names,
            smtp_alert_default,
            strict_default,
            diag,
        ) else {
            continue;
        };
        if let Some((other, at)) = instances.iter().find(|(o, _)| {
            o.interface == instance.interface
                && o.vrid == instance.vrid
                && o.family == instance.family
        }) {
            diag.error(
                &d.location,
                format!(
                    "vrrp_instance {} uses virtual_router_id {} on {} ({}), as vrrp_instance \
                     {} at {at} already does; each interface needs a distinct VRID per address \
                     family",
                    instance.name,
                    instance.vrid,
                    instance.interface,
                    family_name(instance.family),
                    other.name,
                ),
            );
            continue;
        }
        instances.push((instance, &d.location));
    }
    let instances: Vec<Instance> = instances.into_iter().map(|(i, _)| i).collect();

    unused(
        scripts.iter().map(|s| s.name.as_str()),
        &draft,
        |d| &d.scripts,
        |i| &i.track_scripts,
        |name| format!("vrrp_script {name} is not tracked by any vrrp_instance, so it never runs"),
        diag,
    );
    unused(
        track_files.iter().map(|f| f.name.as_str()),
        &draft,
        |d| &d.track_files,
        |i| &i.track_files,
        |name| {
            format!("track_file {name} is not tracked by any vrrp_instance, so it is never read")
        },
        diag,
    );

    let sync_groups = sync_groups::sync_groups(
        unique(&draft.sync_groups, "vrrp_sync_group", "group", diag),
        &draft.instances,
        smtp_alert_default,
        diag,
    );
    let email = email::email(&draft, diag);
    email::smtp_alert_needs_mail_settings(&draft, &email, diag);
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
        rt_priority: draft.rt_priority.as_ref().and_then(|p| {
            let ok = in_range(p, 0, 99, "vrrp_rt_priority", diag);
            ok.then_some(p.value as i32)
        }),
    };
    script_users::apply(&draft, &mut config, diag);
    config
}

/// The first block of each name; each later one is an error pointing at the first (as
/// keepalived, which refuses a second definition). `noun` says what must be unique.
fn unique<'d, T: Definition>(
    drafts: &'d [T],
    keyword: &str,
    noun: &str,
    diag: &mut Diagnostics,
) -> Vec<&'d T> {
    let mut first: HashMap<&str, &Location> = HashMap::new();
    let mut out = Vec::with_capacity(drafts.len());
    for d in drafts {
        if let Some(at) = first.get(d.name()) {
            diag.error(
                d.location(),
                format!(
                    "{keyword} {} is already defined at {at}; {noun} names must be unique",
                    d.name()
                ),
            );
            continue;
        }
        first.insert(d.name(), d.location());
        out.push(d);
    }
    out
}

/// The names `drafts` define, for references to them.
fn defined<T: Definition>(drafts: &[T]) -> HashMap<&str, &Location> {
    drafts.iter().map(|d| (d.name(), d.location())).collect()
}

/// A warning at each of the `names` (validated blocks) that no instance `tracks`; the
/// block's line is that of its first definition among `blocks`.
fn unused<'n, T: Definition>(
    names: impl Iterator<Item = &'n str>,
    draft: &DraftConfig,
    blocks: fn(&DraftConfig) -> &Vec<T>,
    tracks: fn(&DraftInstance) -> &Vec<Located<DraftTrack>>,
    message: fn(&str) -> String,
    diag: &mut Diagnostics,
) {
    for name in names {
        let used = draft
            .instances
            .iter()
            .any(|i| tracks(i).iter().any(|t| t.value.name == name));
        let block = blocks(draft).iter().find(|b| b.name() == name);
        if let (false, Some(block)) = (used, block) {
            diag.warn(block.location(), message(name));
        }
    }
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

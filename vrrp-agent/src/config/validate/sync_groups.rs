//! `vrrp_sync_group` blocks: members that exist and belong to one group only, and
//! keepalived's rule for weighted tracking inside a group.

use std::collections::HashMap;

use super::super::draft::{DraftConfig, DraftInstance, DraftSyncGroup, DraftTrack, Located};
use super::super::model::{Location, SyncGroup};
use super::super::report::Diagnostics;
use super::{DEFAULT_SCRIPT_WEIGHT, DEFAULT_TRACK_FILE_WEIGHT};

pub(super) fn sync_groups(
    drafts: Vec<&DraftSyncGroup>,
    instances: &[DraftInstance],
    smtp_alert_default: bool,
    diag: &mut Diagnostics,
) -> Vec<SyncGroup> {
    let mut out: Vec<SyncGroup> = Vec::new();
    // Instance name -> the group that claimed it first.
    let mut claimed: HashMap<&str, (&str, &Location)> = HashMap::new();
    for d in drafts {
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
        });
    }
    out
}

/// The weight the definition called `name` gives itself (the first one: validation
/// reports the others), or keepalived's `default` when it gives none or is missing.
fn own_weight<T>(
    definitions: &[T],
    name: &str,
    default: i64,
    name_and_weight: impl Fn(&T) -> (&str, Option<&Located<i64>>),
) -> i64 {
    definitions
        .iter()
        .map(name_and_weight)
        .find(|(n, _)| *n == name)
        .and_then(|(_, weight)| weight)
        .map_or(default, |w| w.value)
}

/// keepalived ignores weighted tracking in the members of a sync group unless the
/// group says `sync_group_tracking_weight`: the whole group would otherwise move on one
/// member's priority. Kept so the file behaves as it did, with a warning for each: a
/// weighted track_interface or track_script is dropped, and so is a track_file given a
/// weight in the instance; a track_file that has its weight from its definition stays,
/// with weight 0 (fault while its value is not 0).
pub(super) fn drop_weighted_tracking(draft: &mut DraftConfig, diag: &mut Diagnostics) {
    #[derive(Clone, Copy)]
    enum Kind {
        Interface,
        Script,
        File,
    }
    let script_weight = |name: &str| {
        own_weight(&draft.scripts, name, DEFAULT_SCRIPT_WEIGHT, |s| {
            (&s.name, s.weight.as_ref())
        })
    };
    let file_weight = |name: &str| {
        own_weight(&draft.track_files, name, DEFAULT_TRACK_FILE_WEIGHT, |f| {
            (&f.name, f.weight.as_ref())
        })
    };
    let mut changes = Vec::new();
    for group in draft.sync_groups.iter().filter(|g| !g.tracking_weight) {
        for member in &group.members {
            let Some(index) = draft.instances.iter().position(|i| i.name == member.value) else {
                continue;
            };
            let instance = &draft.instances[index];
            let tracks = instance
                .track_interfaces
                .iter()
                .map(|t| (Kind::Interface, t, t.value.weight.unwrap_or(0)))
                .chain(instance.track_scripts.iter().map(|t| {
                    let weight = t
                        .value
                        .weight
                        .unwrap_or_else(|| script_weight(&t.value.name));
                    (Kind::Script, t, weight)
                }))
                .chain(instance.track_files.iter().map(|t| {
                    let weight = t.value.weight.unwrap_or_else(|| file_weight(&t.value.name));
                    (Kind::File, t, weight)
                }));
            for (kind, track, weight) in tracks {
                if weight != 0 {
                    changes.push((index, kind, track.clone(), weight, group.name.clone()));
                }
            }
        }
    }
    for (index, kind, track, weight, group) in changes {
        let instance = &mut draft.instances[index];
        let (list, keyword) = match kind {
            Kind::Interface => (&mut instance.track_interfaces, "track_interface"),
            Kind::Script => (&mut instance.track_scripts, "track_script"),
            Kind::File => (&mut instance.track_files, "track_file"),
        };
        let same = |t: &Located<DraftTrack>| t.location == track.location && t.value == track.value;
        if matches!(kind, Kind::File) && track.value.weight.is_none() {
            for t in list.iter_mut().filter(|t| same(t)) {
                t.value.weight = Some(0);
            }
            diag.warn(
                &track.location,
                format!(
                    "track_file {}: its weight {weight} is ignored, as keepalived does, \
                     because vrrp_instance {} is in vrrp_sync_group {group}; it puts the \
                     group in fault while the file holds a value other than 0 (write \
                     `weight 0` to say so, or `sync_group_tracking_weight` in the group)",
                    track.value.name, instance.name
                ),
            );
            continue;
        }
        list.retain(|t| !same(t));
        diag.warn(
            &track.location,
            format!(
                "{keyword} {} (weight {weight}) is dropped: vrrp_instance {} is in \
                 vrrp_sync_group {group}, where keepalived ignores weighted tracking; use \
                 `weight 0` to have it fault the group, or `sync_group_tracking_weight` in \
                 the group",
                track.value.name, instance.name
            ),
        );
    }
}

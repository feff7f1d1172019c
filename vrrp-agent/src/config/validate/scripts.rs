//! `vrrp_script` blocks: the command (a program, or one of vrrpx's built-in checks), its
//! timing, weight and counts.

use std::time::Duration;

use super::super::builtin;
use super::super::draft::{DraftScript, Located, Micros, MICROS_PER_SECOND};
use super::super::model::Script;
use super::super::report::Diagnostics;
use super::{in_range, DEFAULT_SCRIPT_WEIGHT, MAX_TRACK_WEIGHT};

const DEFAULT_SCRIPT_INTERVAL: Micros = MICROS_PER_SECOND;

pub(super) fn scripts(drafts: Vec<&DraftScript>, diag: &mut Diagnostics) -> Vec<Script> {
    let mut out: Vec<Script> = Vec::new();
    for d in drafts {
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
        let weight = d.weight.as_ref().map_or(DEFAULT_SCRIPT_WEIGHT as i32, |w| {
            if in_range(w, -MAX_TRACK_WEIGHT, MAX_TRACK_WEIGHT, "weight", diag) {
                w.value as i32
            } else {
                DEFAULT_SCRIPT_WEIGHT as i32
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
        });
    }
    out
}

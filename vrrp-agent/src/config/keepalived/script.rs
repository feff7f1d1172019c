//! `vrrp_script NAME { ... }`: a check whose result moves the priority of the instances
//! that track it.

use super::super::draft::DraftScript;
use super::reader::{kw, Keyword};

pub const VRRP_SCRIPT: &[Keyword<DraftScript>] = &[
    kw(&["script"], |r, s, d| {
        r.set_string(
            s,
            &mut d.script,
            "the command to run, quoted if it has arguments",
        )
    }),
    kw(&["interval"], |r, s, d| {
        r.set_seconds(s, &mut d.interval, "seconds between runs")
    }),
    kw(&["timeout"], |r, s, d| {
        r.set_seconds(s, &mut d.timeout, "seconds the script may run")
    }),
    kw(&["weight"], |r, s, d| {
        r.set_weight(s, &mut d.weight, "-253..253")
    }),
    kw(&["rise"], |r, s, d| {
        r.set_int(s, &mut d.rise, "a count of successes")
    }),
    kw(&["fall"], |r, s, d| {
        r.set_int(s, &mut d.fall, "a count of failures")
    }),
    kw(&["init_fail"], |r, s, d| {
        r.flag(s);
        d.init_fail = true;
    }),
    kw(&["user"], |r, s, d| r.set_user(s, &mut d.user)),
];

//! `vrrp_script NAME { ... }`: a check whose result moves the priority of the instances
//! that track it.

use super::super::draft::DraftScript;
use super::reader::{int, kw, seconds, string, Keyword};

pub const VRRP_SCRIPT: &[Keyword<DraftScript>] = &[
    string(
        &["script"],
        |d| &mut d.script,
        "the command to run, quoted if it has arguments",
    ),
    seconds(&["interval"], |d| &mut d.interval, "seconds between runs"),
    seconds(
        &["timeout"],
        |d| &mut d.timeout,
        "seconds the script may run",
    ),
    kw(&["weight"], |r, s, d| {
        r.set_weight(s, &mut d.weight, "-253..253")
    }),
    int(&["rise"], |d| &mut d.rise, "a count of successes"),
    int(&["fall"], |d| &mut d.fall, "a count of failures"),
    kw(&["init_fail"], |r, s, d| {
        r.flag(s);
        d.init_fail = true;
    }),
    kw(&["user"], |r, s, d| r.set_user(s, &mut d.user)),
];

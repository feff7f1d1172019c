//! Reads keepalived.conf statements into a draft.
//!
//! Each block has one keyword table (`GLOBAL_DEFS`, `INSTANCE`, ...), in the file of that
//! block: the names a keyword is written as and the function that reads it. The table is
//! the whole list of what the reader acts on: a statement it does not name is reported as
//! unsupported, and a second keyword on a line is recognised by looking in every table.
//! `docs/config.md` says how to add a keyword.
//!
//! Where keepalived has a quirk that users rely on (or trip over) we follow it, and say so
//! in a warning: the rest of a line after a keyword's value is ignored, `state MASTER`
//! without a `priority` makes the instance the address owner, and so on. Every keyword that
//! vrrpx does not act on is reported with its file and line, never dropped silently.
//! Defaults are not applied here: what a file leaves out stays `None` for validation.

mod auth_hmac;
mod global_defs;
mod instance;
mod notify;
mod reader;
mod script;
mod sync_group;
mod track_file;

use super::draft::DraftConfig;
use super::report::Diagnostics;
use super::syntax::Statement;
use reader::{knows, kw, Keyword, Reader};

/// Reads the top-level statements of a keepalived.conf (includes already spliced in).
pub fn read(statements: &[Statement], diag: &mut Diagnostics) -> DraftConfig {
    let mut reader = Reader {
        diag,
        smtp_alert_vrrp_set: false,
    };
    let mut draft = DraftConfig::default();
    reader.keywords(statements, TOP, &mut draft);
    draft
}

/// The blocks of a file.
const TOP: &[Keyword<DraftConfig>] = &[
    kw(&["global_defs"], global_defs::read),
    kw(&["vrrp_instance"], |r, s, d| {
        d.instances.extend(instance::read(r, s))
    }),
    kw(&["vrrp_script"], |r, s, d| {
        d.scripts.extend(r.definition(s, script::VRRP_SCRIPT))
    }),
    kw(&["vrrp_sync_group"], |r, s, d| {
        d.sync_groups
            .extend(r.definition(s, sync_group::SYNC_GROUP))
    }),
    // `vrrp_track_file` is keepalived's older name for it.
    kw(&["track_file", "vrrp_track_file"], |r, s, d| {
        d.track_files
            .extend(r.definition(s, track_file::TRACK_FILE))
    }),
];

/// Whether any block's table acts on `word`: to tell a second keyword on a line from a
/// value, and `Priority` from a keyword vrrpx does not know.
fn is_keyword(word: &str) -> bool {
    knows(TOP, word)
        || knows(global_defs::GLOBAL_DEFS, word)
        || knows(instance::INSTANCE, word)
        || knows(instance::AUTHENTICATION, word)
        || knows(script::VRRP_SCRIPT, word)
        || knows(sync_group::SYNC_GROUP, word)
        || knows(track_file::TRACK_FILE, word)
}

/// Advice for keywords people commonly carry over from keepalived that vrrpx does not act
/// on.
fn hint(keyword: &str) -> Option<&'static str> {
    Some(match keyword {
        "virtual_ipaddress_excluded" => {
            "addresses left out of adverts are not supported yet; if it is there to mix \
             IPv4 and IPv6, use a second vrrp_instance for the other family"
        }
        "no_preempt" => "did you mean `nopreempt`?",
        "native_ipv6" => "the address family comes from the virtual addresses",
        "dont_track_primary" => "the instance always tracks its own interface",
        // keepalived.conf comments start with `#` or `!` only.
        "//" | "/*" => {
            "keepalived.conf comments start with `#` or `!`; `//` is read as a keyword \
             (keepalived says \"Unknown keyword\"), so write `#`"
        }
        "notify_fifo_script" | "vrrp_notify_fifo_script" => {
            "vrrpx writes the FIFO named by `notify_fifo` and starts no reader for it; run the \
             script as a service of its own"
        }
        "virtual_server" | "virtual_server_group" | "real_server" => {
            "vrrpx does VRRP only; IPVS load balancing stays with keepalived's checker"
        }
        "mcast_dst_ip" => "adverts always go to 224.0.0.18 / ff02::12",
        _ if keyword.starts_with("vrrp_garp_") || keyword.starts_with("vrrp_gna_") => {
            "set garp_master_delay, garp_master_repeat and garp_master_refresh in each \
             vrrp_instance instead"
        }
        _ if keyword.starts_with("smtp_") => {
            "vrrpx reads notification_email, notification_email_from, smtp_server, \
             smtp_connect_timeout, smtp_alert and smtp_alert_vrrp"
        }
        _ if keyword.starts_with("lvs_") => {
            "vrrpx does VRRP only; IPVS load balancing stays with keepalived's checker"
        }
        _ => return None,
    })
}

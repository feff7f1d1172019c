//! `vrrp_sync_group NAME { group { ... } ... }`: instances that change state together.

use super::super::draft::DraftSyncGroup;
use super::notify::{self, NOTIFY};
use super::reader::{kw, Keyword};

pub const SYNC_GROUP: &[Keyword<DraftSyncGroup>] = &[
    kw(&["group"], |r, s, d| {
        let members = r.words(s, "`group { INSTANCE INSTANCE ... }`");
        d.members.extend(members);
    }),
    kw(NOTIFY, |r, s, d| {
        notify::read(r, s, &mut d.notify, &mut d.notify_users)
    }),
    kw(&["sync_group_tracking_weight"], |r, s, d| {
        r.flag(s);
        d.tracking_weight = true;
    }),
    kw(&["smtp_alert"], |r, s, d| r.set_bool(s, &mut d.smtp_alert)),
];

//! `notify_master`, `notify_backup`, `notify_fault`, `notify_stop` and `notify`, shared by
//! `vrrp_instance` and `vrrp_sync_group`.

use super::super::draft::Located;
use super::super::model::{Notify, PerNotify, UserSpec};
use super::super::syntax::Statement;
use super::reader::Reader;

/// The names of the notify keywords, for the tables of the blocks that take them.
pub const NOTIFY: &[&str] = &[
    "notify_master",
    "notify_backup",
    "notify_fault",
    "notify_stop",
    "notify",
];

/// `notify_* SCRIPT [USER [GROUP]]`: a script with arguments must be quoted, and what
/// follows it names the user (and group) to run it as, as in keepalived.
pub fn read(
    r: &mut Reader,
    s: &Statement,
    notify: &mut Notify,
    users: &mut PerNotify<Option<Located<UserSpec>>>,
) {
    let (script, user) = match s.name() {
        "notify_master" => (&mut notify.master, &mut users.master),
        "notify_backup" => (&mut notify.backup, &mut users.backup),
        "notify_fault" => (&mut notify.fault, &mut users.fault),
        "notify_stop" => (&mut notify.stop, &mut users.stop),
        _ => (&mut notify.any, &mut users.any),
    };
    *script = command(r, s);
    *user = if script.is_some() && s.args.len() > 1 {
        r.user_spec(s, 1)
    } else {
        None
    };
}

fn command(r: &mut Reader, s: &Statement) -> Option<String> {
    if !r.no_block(s) {
        return None;
    }
    let Some(script) = s.args.first() else {
        let name = s.name();
        r.diag.error(
            s.location(),
            format!(
                "`{name}` needs a script: `{name} /path/to/script` or `{name} \"/path/to/script \
                 ARGS\"`"
            ),
        );
        return None;
    };
    Some(script.text.clone())
}

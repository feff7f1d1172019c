//! Who scripts run as: user and group names looked up in the system's databases
//! (getpwnam_r, getgrnam_r, getgrouplist), the way keepalived reads `script_user`, a
//! vrrp_script's `user` and the words after a notify script.
//!
//! - `USER` runs as the user with its own primary group and no supplementary groups.
//! - `USER GROUP` runs with GROUP instead of the primary group.
//! - `USER :GROUP` (or `USER :`) also gives it the user's supplementary groups, as
//!   keepalived does for a group written with a leading colon.
//!
//! keepalived's default, when nothing names a user, is `keepalived_script` if that user
//! exists, and otherwise the daemon's own user (root): [`default_script_user`].

use std::ffi::CString;
use std::path::PathBuf;

use nix::unistd::{getgrouplist, Gid, Group, Uid, User};

use crate::config::model::{RunAs, UserSpec};

/// The user keepalived runs scripts as when the configuration names none.
pub const DEFAULT_SCRIPT_USER: &str = "keepalived_script";

/// Looks `spec` up. The error names what is missing.
pub fn resolve(spec: &UserSpec) -> Result<RunAs, String> {
    let user = match User::from_name(&spec.user) {
        Ok(Some(user)) => user,
        Ok(None) => return Err(format!("no user `{}` on this system", spec.user)),
        Err(e) => return Err(format!("cannot look up user `{}`: {e}", spec.user)),
    };
    let (group, supplementary) = match spec.group.as_deref() {
        None => (None, false),
        Some(":") => (None, true),
        Some(g) => match g.strip_prefix(':') {
            Some(g) => (Some(g), true),
            None => (Some(g), false),
        },
    };
    let gid = match group {
        None => user.gid,
        Some(name) => match Group::from_name(name) {
            Ok(Some(group)) => group.gid,
            Ok(None) => return Err(format!("no group `{name}` on this system")),
            Err(e) => return Err(format!("cannot look up group `{name}`: {e}")),
        },
    };
    let groups = if supplementary {
        let name = CString::new(user.name.as_bytes())
            .map_err(|_| format!("user name `{}` holds a NUL byte", spec.user))?;
        getgrouplist(&name, user.gid)
            .map_err(|e| format!("cannot list the groups of `{}`: {e}", spec.user))?
            .into_iter()
            .map(Gid::as_raw)
            .collect()
    } else {
        Vec::new()
    };
    Ok(RunAs {
        user: user.name,
        uid: user.uid.as_raw(),
        gid: gid.as_raw(),
        groups,
        home: user.dir,
    })
}

/// keepalived's default script user: `keepalived_script` when it exists (`Ok(Some)`),
/// otherwise `Ok(None)`: the caller falls back to [`own_user`] and says so.
pub fn default_script_user() -> Result<Option<RunAs>, String> {
    let spec = UserSpec {
        user: DEFAULT_SCRIPT_USER.to_string(),
        group: None,
    };
    match User::from_name(DEFAULT_SCRIPT_USER) {
        Ok(Some(_)) => resolve(&spec).map(Some),
        Ok(None) => Ok(None),
        Err(e) => Err(format!("cannot look up user `{DEFAULT_SCRIPT_USER}`: {e}")),
    }
}

/// The agent's own effective user and group, with no supplementary groups.
pub fn own_user() -> RunAs {
    let uid = Uid::effective();
    let user = User::from_uid(uid).ok().flatten();
    RunAs {
        user: user
            .as_ref()
            .map_or_else(|| uid.to_string(), |u| u.name.clone()),
        uid: uid.as_raw(),
        gid: Gid::effective().as_raw(),
        groups: Vec::new(),
        home: user.map_or_else(|| PathBuf::from("/"), |u| u.dir),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(user: &str, group: Option<&str>) -> UserSpec {
        UserSpec {
            user: user.into(),
            group: group.map(str::to_string),
        }
    }

    #[test]
    fn nobody_resolves_to_its_uid_and_primary_group_without_supplementary_groups() {
        let run_as = resolve(&spec("nobody", None)).unwrap();
        assert_eq!((run_as.uid, run_as.user.as_str()), (65534, "nobody"));
        assert_eq!(
            run_as.gid,
            User::from_name("nobody").unwrap().unwrap().gid.as_raw()
        );
        assert!(run_as.groups.is_empty());
    }

    #[test]
    fn a_group_after_the_user_replaces_its_primary_group() {
        let root_group = Group::from_gid(Gid::from_raw(0)).unwrap().unwrap().name;
        let run_as = resolve(&spec("nobody", Some(&root_group))).unwrap();
        assert_eq!((run_as.uid, run_as.gid), (65534, 0));
    }

    #[test]
    fn a_colon_before_the_group_also_sets_supplementary_groups() {
        let run_as = resolve(&spec("root", Some(":"))).unwrap();
        assert!(run_as.groups.contains(&0), "{:?}", run_as.groups);
    }

    #[test]
    fn unknown_users_and_groups_are_named_in_the_error() {
        let e = resolve(&spec("vrrpx-no-such-user", None)).unwrap_err();
        assert!(e.contains("no user `vrrpx-no-such-user`"), "{e}");
        let e = resolve(&spec("nobody", Some("vrrpx-no-such-group"))).unwrap_err();
        assert!(e.contains("no group `vrrpx-no-such-group`"), "{e}");
    }
}

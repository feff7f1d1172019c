//! Who each script runs as, and whether that is safe, settled when the configuration is
//! loaded: keepalived's `script_user USER [GROUP]` (global_defs), a vrrp_script's
//! `user USER [GROUP]`, the `USER [GROUP]` after a notify script, and
//! `enable_script_security`.
//!
//! - A script runs as the user written with it, else as `script_user`, else as
//!   `keepalived_script` if that user exists, else as the agent's own user (root) — with a
//!   warning, or with `enable_script_security` an error, as keepalived refuses then too.
//! - A user or group that does not exist is an error at its line.
//! - A program that would run with root's powers from a file or directory that someone
//!   other than root can change (`crate::track::security`) is an error at its line with
//!   `enable_script_security`, and otherwise a warning, once per program.
//!
//! Built-in checks (`vrrpx:tcp`, `vrrpx:http`) run inside the agent and are not concerned.

use std::collections::HashSet;
use std::path::PathBuf;

use super::draft::{DraftConfig, Located};
use super::model::{Config, Location, Notify, PerNotify, RunAs, UserSpec};
use super::report::Diagnostics;
use crate::track::credentials::{self, DEFAULT_SCRIPT_USER};
use crate::track::probe::{split_argv, Probe};
use crate::track::security;

/// Fills `run_as` in `config`'s scripts and notify scripts and `script_security`, reporting
/// what is wrong or unsafe to `diag`.
pub fn apply(draft: &DraftConfig, config: &mut Config, diag: &mut Diagnostics) {
    let mut users = Users {
        security: draft.script_security.is_some(),
        script_user: draft.script_user.as_ref(),
        default: None,
        fell_back_at: None,
        warned: HashSet::new(),
    };
    config.script_security = users.security;
    for script in &mut config.scripts {
        let Ok(Probe::Exec { argv }) = Probe::parse(&script.script) else {
            continue;
        };
        // The first block of that name is the one validation kept.
        let Some(d) = draft.scripts.iter().find(|d| d.name == script.name) else {
            continue;
        };
        let at = d.script.as_ref().map_or(&d.location, |s| &s.location);
        let what = format!("vrrp_script {}", script.name);
        let written = d.user.as_ref();
        script.run_as = users.settle(&argv[0], written, at, &what, diag);
    }
    for instance in &mut config.instances {
        if let Some(d) = draft.instances.iter().find(|d| d.name == instance.name) {
            let what = format!("vrrp_instance {}", instance.name);
            users.notify(
                &mut instance.notify,
                &d.notify_users,
                &what,
                &d.location,
                diag,
            );
        }
    }
    for group in &mut config.sync_groups {
        if let Some(d) = draft.sync_groups.iter().find(|d| d.name == group.name) {
            let what = format!("vrrp_sync_group {}", group.name);
            users.notify(&mut group.notify, &d.notify_users, &what, &d.location, diag);
        }
    }
    users.report_fallback(diag);
}

/// The default script user once looked up.
enum Default {
    /// `script_user`, or `keepalived_script`.
    Named(RunAs),
    /// Neither is there: the agent's own user.
    Own(RunAs),
    /// `script_user` names nobody (already reported).
    Failed,
}

struct Users<'d> {
    security: bool,
    script_user: Option<&'d Located<UserSpec>>,
    default: Option<Default>,
    /// The first script that fell back to the agent's own user, and what it belongs to.
    fell_back_at: Option<(Location, String)>,
    /// Unsafe programs already warned about.
    warned: HashSet<PathBuf>,
}

impl Users<'_> {
    fn notify(
        &mut self,
        notify: &mut Notify,
        written: &PerNotify<Option<Located<UserSpec>>>,
        what: &str,
        block: &Location,
        diag: &mut Diagnostics,
    ) {
        let slots = notify.scripts_mut().into_iter().zip(written.each());
        for ((keyword, script, run_as), user) in slots {
            let Some(program) = script
                .as_deref()
                .and_then(|s| split_argv(s).ok())
                .and_then(|argv| argv.into_iter().next())
            else {
                continue;
            };
            // The statement's line: the user's when written (same line), else the block's.
            let at = user.as_ref().map_or(block, |u| &u.location);
            *run_as = self.settle(
                &program,
                user.as_ref(),
                at,
                &format!("{what} {keyword}"),
                diag,
            );
        }
    }

    /// Who runs `program` (the first word of a script at `at`), checking it is safe.
    fn settle(
        &mut self,
        program: &str,
        written: Option<&Located<UserSpec>>,
        at: &Location,
        what: &str,
        diag: &mut Diagnostics,
    ) -> Option<RunAs> {
        let run_as = match written {
            Some(spec) => match credentials::resolve(&spec.value) {
                Ok(run_as) => run_as,
                Err(e) => {
                    diag.error(&spec.location, format!("{what}: cannot run it as {e}"));
                    return None;
                }
            },
            None => self.default_user(at, what, diag)?,
        };
        let Some(path) = security::locate(program) else {
            // Not there (yet): each run reports it.
            return Some(run_as);
        };
        if let Err(unsafe_part) = security::check(&path, &run_as) {
            if self.security {
                diag.error(
                    at,
                    format!(
                        "{what}: {program} would run as {} but {unsafe_part}; \
                         enable_script_security refuses it (make the file and every \
                         directory above it owned by root and writable by root only)",
                        run_as.user
                    ),
                );
            } else if self.warned.insert(path) {
                diag.warn(
                    at,
                    format!(
                        "{what}: {program} runs as {} but {unsafe_part}, so others can \
                         change what it runs; `enable_script_security` in global_defs \
                         would refuse it",
                        run_as.user
                    ),
                );
            }
        }
        Some(run_as)
    }

    /// `script_user`, else `keepalived_script`, else the agent's own user (noted for
    /// [`Self::report_fallback`]). `None` when `script_user` names nobody.
    fn default_user(&mut self, at: &Location, what: &str, diag: &mut Diagnostics) -> Option<RunAs> {
        let default = self.default.get_or_insert_with(|| match self.script_user {
            Some(spec) => match credentials::resolve(&spec.value) {
                Ok(run_as) => Default::Named(run_as),
                Err(e) => {
                    diag.error(&spec.location, format!("script_user: {e}"));
                    Default::Failed
                }
            },
            None => match credentials::default_script_user() {
                Ok(Some(run_as)) => Default::Named(run_as),
                Ok(None) | Err(_) => Default::Own(credentials::own_user()),
            },
        });
        match default {
            Default::Named(run_as) => Some(run_as.clone()),
            Default::Own(run_as) => {
                if self.fell_back_at.is_none() {
                    self.fell_back_at = Some((at.clone(), what.to_string()));
                }
                Some(run_as.clone())
            }
            Default::Failed => None,
        }
    }

    /// keepalived's warning (or, with script security, its refusal) when scripts run as
    /// root only because nothing named a user; said once, at the first such script.
    fn report_fallback(&self, diag: &mut Diagnostics) {
        let Some((at, what)) = &self.fell_back_at else {
            return;
        };
        let own = credentials::own_user();
        if self.security {
            diag.error(
                at,
                format!(
                    "{what}: no user to run it as: enable_script_security needs \
                     `script_user USER` in global_defs (or a user {DEFAULT_SCRIPT_USER}) \
                     for scripts that name no user, rather than running them as {}",
                    own.user
                ),
            );
        } else {
            diag.warn(
                at,
                format!(
                    "{what}: scripts that name no user run as {} (uid {}): there is no \
                     `script_user` in global_defs and no user {DEFAULT_SCRIPT_USER}, \
                     keepalived's default; write `script_user USER` (or `script_user root` \
                     to say so)",
                    own.user, own.uid
                ),
            );
        }
    }
}

//! `global_defs { ... }`: the router's name, defaults for every instance, mail and the
//! notify FIFO, script users.

use super::super::draft::{DraftConfig, DraftSmtpServer, Located, MICROS_PER_SECOND};
use super::super::syntax::Statement;
use super::reader::{int, join, kw, string, Keyword, Reader};

pub fn read(r: &mut Reader, stmt: &Statement, draft: &mut DraftConfig) {
    let block = r.block(stmt, "`global_defs { router_id NAME ... }`");
    r.keywords(block, GLOBAL_DEFS, draft);
}

pub const GLOBAL_DEFS: &[Keyword<DraftConfig>] = &[
    kw(&["router_id"], |r, s, d| {
        if let Some(id) = r.value(s, "a name for this router") {
            d.router_id = Some(id.to_string());
        }
    }),
    int(&["vrrp_version"], |d| &mut d.default_version, "2 or 3"),
    kw(&["vrrp_strict"], |r, s, d| {
        r.set_flag(s, &mut d.strict, true)
    }),
    int(
        &["vrrp_rt_priority"],
        |d| &mut d.rt_priority,
        "a real-time priority 1..99 (0: off)",
    ),
    kw(&["notification_email"], |r, s, d| {
        let to = r.words(s, "one e-mail address per line");
        d.email_to.extend(to);
    }),
    string(
        &["notification_email_from"],
        |d| &mut d.email_from,
        "the sender's e-mail address",
    ),
    kw(&["smtp_server"], |r, s, d| {
        let server = smtp_server(r, s);
        r.set(&mut d.smtp_server, server, s);
    }),
    kw(&["smtp_connect_timeout"], |r, s, d| {
        let timeout = r.int(s, "whole seconds 1..4294").map(|t| {
            // Negative values fail validation's range check as 0 does.
            let micros = u64::try_from(t.value)
                .unwrap_or(0)
                .saturating_mul(MICROS_PER_SECOND);
            Located::new(micros, &t.location)
        });
        r.set(&mut d.smtp_connect_timeout, timeout, s);
    }),
    kw(&["notify_fifo", "vrrp_notify_fifo"], notify_fifo),
    kw(&["enable_script_security"], |r, s, d| {
        r.set_flag(s, &mut d.script_security, true)
    }),
    kw(&["script_user"], |r, s, d| {
        r.set_user(s, &mut d.script_user)
    }),
    // keepalived: `smtp_alert_vrrp` sets the default of VRRP instances and groups, and
    // wins over `smtp_alert`, the default of everything.
    kw(&["smtp_alert_vrrp"], |r, s, d| {
        if let Some(on) = r.bool_flag(s) {
            d.smtp_alert_default = Some(on);
            r.smtp_alert_vrrp_set = true;
        }
    }),
    kw(&["smtp_alert"], |r, s, d| {
        if let Some(on) = r.bool_flag(s) {
            if !r.smtp_alert_vrrp_set {
                d.smtp_alert_default = Some(on);
            }
        }
    }),
];

/// `smtp_server HOST [PORT]`.
fn smtp_server(r: &mut Reader, s: &Statement) -> Option<Located<DraftSmtpServer>> {
    if !r.no_block(s) {
        return None;
    }
    let Some(host) = s.args.first() else {
        r.diag.error(
            s.location(),
            "`smtp_server` needs a value: an IP address or host name, and optionally a \
             port (default 25)",
        );
        return None;
    };
    let port = match s.args.get(1) {
        None => None,
        Some(port) => match port.text.parse::<i64>() {
            Ok(port) => Some(port),
            Err(_) => {
                r.diag.error(
                    s.location(),
                    format!(
                        "`smtp_server` {} {}: the port must be a number 1..65535",
                        host.text, port.text
                    ),
                );
                return None;
            }
        },
    };
    if s.args.len() > 2 {
        r.ignored_rest(s, 2);
    }
    Some(Located::new(
        DraftSmtpServer {
            host: host.text.clone(),
            port,
        },
        s.location(),
    ))
}

/// `notify_fifo PATH [user [group]]`; vrrpx takes `vrrp_notify_fifo` as the same FIFO.
fn notify_fifo(r: &mut Reader, s: &Statement, draft: &mut DraftConfig) {
    if !r.no_block(s) {
        return;
    }
    let Some(path) = s.args.first() else {
        r.diag.error(
            s.location(),
            format!("`{}` needs a value: the path of the FIFO", s.name()),
        );
        return;
    };
    if s.args.len() > 1 {
        r.diag.warn(
            s.location(),
            format!(
                "`{}`: keepalived reads `{}` after the path as the owner (and group) of the \
                 FIFO; vrrpx creates it as its own user and ignores it",
                s.name(),
                join(&s.args[1..])
            ),
        );
    }
    if let Some(earlier) = &draft.notify_fifo {
        r.diag.warn(
            s.location(),
            format!(
                "`{}` replaces the FIFO set at {}: vrrpx writes its events to one FIFO \
                 (notify_fifo and vrrp_notify_fifo are the same to it)",
                s.name(),
                earlier.location
            ),
        );
    }
    draft.notify_fifo = Some(Located::new(path.text.clone(), s.location()));
}

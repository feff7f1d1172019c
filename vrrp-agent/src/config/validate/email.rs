//! The mail settings of `global_defs`, and the warning when `smtp_alert` has nowhere to
//! send.

use std::time::Duration;

use super::super::draft::{format_seconds, DraftConfig, Located, Micros, MICROS_PER_SECOND};
use super::super::model::{Email, Location, SmtpServer};
use super::super::report::Diagnostics;
use super::in_range;

/// keepalived's default and range for `smtp_connect_timeout`.
const DEFAULT_SMTP_CONNECT_TIMEOUT: Micros = 30 * MICROS_PER_SECOND;
const MAX_SMTP_CONNECT_TIMEOUT: Micros = 4294 * MICROS_PER_SECOND;
const DEFAULT_SMTP_PORT: u16 = 25;

/// `global_defs`' mail settings.
pub(super) fn email(draft: &DraftConfig, diag: &mut Diagnostics) -> Email {
    for to in &draft.email_to {
        if !to.value.contains('@') {
            diag.warn(
                &to.location,
                format!(
                    "notification_email `{}` does not look like an e-mail address",
                    to.value
                ),
            );
        }
    }
    let smtp_server = draft.smtp_server.as_ref().and_then(|s| {
        let host = s.value.host.trim();
        if host.is_empty() || host.contains(char::is_whitespace) {
            diag.error(
                &s.location,
                format!(
                    "smtp_server `{}` is not an IP address or host name",
                    s.value.host
                ),
            );
            return None;
        }
        let port = match s.value.port {
            None => DEFAULT_SMTP_PORT,
            Some(port) => {
                let located = Located::new(port, &s.location);
                if !in_range(&located, 1, i64::from(u16::MAX), "smtp_server port", diag) {
                    return None;
                }
                port as u16
            }
        };
        Some(SmtpServer {
            host: host.to_string(),
            port,
        })
    });
    let smtp_connect_timeout = match &draft.smtp_connect_timeout {
        Some(t) if t.value == 0 || t.value > MAX_SMTP_CONNECT_TIMEOUT => {
            diag.error(
                &t.location,
                format!(
                    "smtp_connect_timeout {} is out of range: expected 1..4294 seconds",
                    format_seconds(t.value)
                ),
            );
            DEFAULT_SMTP_CONNECT_TIMEOUT
        }
        Some(t) => t.value,
        None => DEFAULT_SMTP_CONNECT_TIMEOUT,
    };
    Email {
        to: draft.email_to.iter().map(|t| t.value.clone()).collect(),
        from: draft.email_from.as_ref().map(|f| f.value.clone()),
        smtp_server,
        smtp_connect_timeout: Duration::from_micros(smtp_connect_timeout),
    }
}

/// `smtp_alert` without a server or recipients sends nothing: one warning, where mail is
/// first turned on.
pub(super) fn smtp_alert_needs_mail_settings(
    draft: &DraftConfig,
    email: &Email,
    diag: &mut Diagnostics,
) {
    let missing = match (&email.smtp_server, email.to.is_empty()) {
        (None, true) => "no smtp_server and no notification_email",
        (None, false) => "no smtp_server",
        (Some(_), true) => "no notification_email",
        (Some(_), false) => return,
    };
    let own_settings = draft
        .instances
        .iter()
        .map(|i| &i.smtp_alert)
        .chain(draft.sync_groups.iter().map(|g| &g.smtp_alert));
    let mut turned_on: Vec<&Location> = own_settings
        .clone()
        .flatten()
        .filter(|a| a.value)
        .map(|a| &a.location)
        .collect();
    // The global default counts where an instance or group does not say for itself.
    if let Some(default) = draft.smtp_alert_default.as_ref().filter(|a| a.value) {
        if own_settings.clone().any(Option::is_none) {
            turned_on.push(&default.location);
        }
    }
    let Some(first) = turned_on
        .into_iter()
        .min_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)))
    else {
        return;
    };
    diag.warn(
        first,
        format!("smtp_alert is on but global_defs has {missing}, so no mail is sent"),
    );
}

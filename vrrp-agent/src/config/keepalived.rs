//! Reads keepalived.conf statements into a draft.
//!
//! Where keepalived has a quirk that users rely on (or trip over) we follow it, and say so
//! in a warning: the rest of a line after a keyword's value is ignored, `state MASTER`
//! without a `priority` makes the instance the address owner, and so on. Every keyword that
//! vrrpx does not act on is reported with its file and line, never dropped silently.

use std::net::IpAddr;

use super::draft::{
    parse_address_with_prefix, parse_decimal_seconds, DraftAddress, DraftConfig, DraftInstance,
    DraftScript, DraftSmtpServer, DraftSyncGroup, DraftTrack, DraftTrackFile, DraftTrackFileInit,
    Located, Micros, MICROS_PER_SECOND,
};
use super::lexer::is_secret_keyword;
use super::model::{ChecksumForm, InitialState, Notify, PerNotify, UserSpec};
use super::report::Diagnostics;
use super::syntax::Statement;

/// Reads the top-level statements of a keepalived.conf (includes already spliced in).
pub fn read(statements: &[Statement], diag: &mut Diagnostics) -> DraftConfig {
    let mut reader = Reader {
        diag,
        smtp_alert_vrrp_set: false,
    };
    let mut draft = DraftConfig::default();
    for stmt in statements {
        match stmt.name() {
            "global_defs" => reader.global_defs(stmt, &mut draft),
            "vrrp_instance" => {
                if let Some(instance) = reader.instance(stmt) {
                    draft.instances.push(instance);
                }
            }
            "vrrp_script" => {
                if let Some(script) = reader.script(stmt) {
                    draft.scripts.push(script);
                }
            }
            "vrrp_sync_group" => {
                if let Some(group) = reader.sync_group(stmt) {
                    draft.sync_groups.push(group);
                }
            }
            // `vrrp_track_file` is keepalived's older name for it.
            "track_file" | "vrrp_track_file" => {
                if let Some(file) = reader.track_file(stmt) {
                    draft.track_files.push(file);
                }
            }
            _ => reader.unsupported(stmt),
        }
    }
    draft
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

/// The keywords this reader acts on, to tell a second keyword on a line from a value.
fn is_keyword(word: &str) -> bool {
    matches!(
        word,
        "state"
            | "interface"
            | "virtual_router_id"
            | "priority"
            | "advert_int"
            | "version"
            | "vrrp_version"
            | "authentication"
            | "auth_type"
            | "auth_pass"
            | "virtual_ipaddress"
            | "nopreempt"
            | "preempt"
            | "preempt_delay"
            | "unicast_src_ip"
            | "mcast_src_ip"
            | "unicast_peer"
            | "track_interface"
            | "track_script"
            | "notify_master"
            | "notify_backup"
            | "notify_fault"
            | "notify_stop"
            | "notify"
            | "garp_master_delay"
            | "garp_master_repeat"
            | "garp_master_refresh"
            | "use_vmac"
            | "accept"
            | "no_accept"
            | "vrrpx_checksum"
            | "script"
            | "interval"
            | "timeout"
            | "weight"
            | "rise"
            | "fall"
            | "group"
            | "router_id"
            | "smtp_alert"
            | "track_file"
            | "init_fail"
            | "file"
            | "init_file"
            | "notification_email"
            | "notification_email_from"
            | "smtp_server"
            | "smtp_connect_timeout"
            | "notify_fifo"
            | "vrrp_notify_fifo"
            | "user"
            | "script_user"
            | "enable_script_security"
    )
}

/// The top-level and block keywords this reader acts on.
fn is_block_keyword(word: &str) -> bool {
    matches!(
        word,
        "global_defs"
            | "vrrp_instance"
            | "vrrp_script"
            | "vrrp_sync_group"
            | "track_file"
            | "vrrp_track_file"
            | "vrrp_strict"
            | "strict_mode"
            | "sync_group_tracking_weight"
    )
}

struct Reader<'d> {
    diag: &'d mut Diagnostics,
    /// `smtp_alert_vrrp` was read: a later global `smtp_alert` does not change the default.
    smtp_alert_vrrp_set: bool,
}

impl Reader<'_> {
    /// A keyword or block vrrpx does not act on: one warning, naming it, and its block is
    /// skipped whole.
    fn unsupported(&mut self, stmt: &Statement) {
        let keyword = stmt.name();
        let message = if keyword.starts_with('@') {
            format!(
                "conditional configuration (`{keyword} ...`) is not supported; the line is \
                 ignored"
            )
        } else if keyword.starts_with('$') {
            format!("parameter definitions (`{keyword}`) are not supported; ignored")
        } else {
            let what = if stmt.block.is_some() {
                "block is not supported by vrrpx and is skipped"
            } else {
                "is not supported by vrrpx and is ignored"
            };
            let lower = keyword.to_ascii_lowercase();
            match hint(keyword) {
                Some(hint) => format!("`{keyword}` {what}: {hint}"),
                // keepalived's keywords are case-sensitive: `Priority` is unknown there too.
                None if lower != keyword && (is_keyword(&lower) || is_block_keyword(&lower)) => {
                    format!(
                        "`{keyword}` {what}: keywords are lower case (keepalived does not \
                         know `{keyword}` either); write `{lower}`"
                    )
                }
                None => format!("`{keyword}` {what}"),
            }
        };
        self.diag.warn(stmt.location(), message);
    }

    /// The statements of a block keyword; an error when the block is missing.
    fn block<'s>(&mut self, stmt: &'s Statement, expected: &str) -> &'s [Statement] {
        match &stmt.block {
            Some(block) => block,
            None => {
                self.diag.error(
                    stmt.location(),
                    format!("`{}` needs a block: {expected}", stmt.name()),
                );
                &[]
            }
        }
    }

    /// A block keyword that also names what it defines: `vrrp_instance NAME { ... }`.
    fn named_block<'s>(&mut self, stmt: &'s Statement) -> Option<(String, &'s [Statement])> {
        let keyword = stmt.name();
        let Some(name) = stmt.args.first() else {
            self.diag.error(
                stmt.location(),
                format!("`{keyword}` needs a name: `{keyword} NAME {{ ... }}`"),
            );
            return None;
        };
        if stmt.args.len() > 1 {
            self.ignored_rest(stmt, 1);
        }
        let block = self.block(stmt, &format!("`{keyword} {} {{ ... }}`", name.text));
        Some((name.text.clone(), block))
    }

    fn ignored_rest(&mut self, stmt: &Statement, used: usize) {
        if is_secret_keyword(stmt.name()) {
            // What follows a password may be the rest of it: never quoted.
            self.diag.warn(
                stmt.location(),
                format!(
                    "`{}` takes its value up to the first blank; the rest of the line is \
                     ignored, as keepalived does (quote the password if it has blanks)",
                    stmt.name()
                ),
            );
            return;
        }
        let rest = &stmt.args[used..];
        let advice = if rest[0].text.starts_with("//") || rest[0].text.starts_with("/*") {
            "; keepalived.conf comments start with `#` or `!`, not `//`"
        } else if is_keyword(&rest[0].text) {
            "; put each keyword on its own line"
        } else if stmt.name() == "script" {
            "; to pass arguments, put the whole command in double quotes"
        } else {
            ""
        };
        self.diag.warn(
            stmt.location(),
            format!(
                "`{}` ignores the rest of its line (`{}`), as keepalived does{advice}",
                stmt.name(),
                join(rest)
            ),
        );
    }

    /// Errors when a value keyword was given a block.
    fn no_block(&mut self, stmt: &Statement) -> bool {
        if stmt.block.is_some() {
            self.diag.error(
                stmt.location(),
                format!("`{}` takes a value, not a {{ }} block", stmt.name()),
            );
            return false;
        }
        true
    }

    /// The one value of a `keyword VALUE` statement.
    fn value<'s>(&mut self, stmt: &'s Statement, expected: &str) -> Option<&'s str> {
        if !self.no_block(stmt) {
            return None;
        }
        let Some(value) = stmt.args.first() else {
            self.diag.error(
                stmt.location(),
                format!("`{}` needs a value: {expected}", stmt.name()),
            );
            return None;
        };
        if stmt.args.len() > 1 {
            self.ignored_rest(stmt, 1);
        }
        Some(&value.text)
    }

    /// A keyword that stands alone: `nopreempt`.
    fn flag(&mut self, stmt: &Statement) {
        if self.no_block(stmt) && !stmt.args.is_empty() {
            self.ignored_rest(stmt, 0);
        }
    }

    /// keepalived's `<BOOL>` that may be left out: `smtp_alert` alone means true, or
    /// `true|on|yes` / `false|off|no`.
    fn bool_flag(&mut self, stmt: &Statement) -> Option<Located<bool>> {
        if !self.no_block(stmt) {
            return None;
        }
        let value = match stmt.args.first().map(|t| t.text.as_str()) {
            None => true,
            Some("true" | "on" | "yes") => true,
            Some("false" | "off" | "no") => false,
            Some(other) => {
                self.diag.error(
                    stmt.location(),
                    format!(
                        "`{}` {other}: expected nothing (on), or true|on|yes or false|off|no",
                        stmt.name()
                    ),
                );
                return None;
            }
        };
        if stmt.args.len() > 1 {
            self.ignored_rest(stmt, 1);
        }
        Some(Located::new(value, stmt.location()))
    }

    fn int(&mut self, stmt: &Statement, expected: &str) -> Option<Located<i64>> {
        let text = self.value(stmt, expected)?;
        match text.parse::<i64>() {
            Ok(n) => Some(Located::new(n, stmt.location())),
            Err(_) => {
                self.diag.error(
                    stmt.location(),
                    format!("`{}` {text}: expected {expected}", stmt.name()),
                );
                None
            }
        }
    }

    fn seconds(&mut self, stmt: &Statement, expected: &str) -> Option<Located<Micros>> {
        let text = self.value(stmt, expected)?;
        match parse_decimal_seconds(text) {
            Some(micros) => Some(Located::new(micros, stmt.location())),
            None => {
                self.diag.error(
                    stmt.location(),
                    format!("`{}` {text}: expected {expected}", stmt.name()),
                );
                None
            }
        }
    }

    fn ip(&mut self, stmt: &Statement, text: &str) -> Option<IpAddr> {
        match text.parse() {
            Ok(addr) => Some(addr),
            Err(_) => {
                self.diag.error(
                    stmt.location(),
                    format!("`{}`: `{text}` is not an IPv4 or IPv6 address", stmt.name()),
                );
                None
            }
        }
    }

    /// Stores a single-valued setting; keepalived keeps the last one written, and a
    /// repeated keyword is usually a merge mistake worth a warning.
    fn set<T>(&mut self, slot: &mut Option<Located<T>>, value: Option<Located<T>>, keyword: &str) {
        let Some(value) = value else { return };
        if let Some(earlier) = slot {
            self.diag.warn(
                &value.location,
                format!(
                    "`{keyword}` is set again; this value replaces the one at {}",
                    earlier.location
                ),
            );
        }
        *slot = Some(value);
    }

    fn global_defs(&mut self, stmt: &Statement, draft: &mut DraftConfig) {
        for s in self.block(stmt, "`global_defs { router_id NAME ... }`") {
            match s.name() {
                "router_id" => {
                    if let Some(id) = self.value(s, "a name for this router") {
                        draft.router_id = Some(id.to_string());
                    }
                }
                "vrrp_version" => {
                    let version = self.int(s, "2 or 3");
                    self.set(&mut draft.default_version, version, "vrrp_version");
                }
                "vrrp_strict" => {
                    self.flag(s);
                    let on = Some(Located::new(true, s.location()));
                    self.set(&mut draft.strict, on, "vrrp_strict");
                }
                "notification_email" => {
                    for a in self.block(s, "one e-mail address per line") {
                        if !self.no_block(a) {
                            continue;
                        }
                        // Addresses may share a line, as keepalived allows.
                        for token in std::iter::once(&a.keyword).chain(&a.args) {
                            draft
                                .email_to
                                .push(Located::new(token.text.clone(), &token.location));
                        }
                    }
                }
                "notification_email_from" => {
                    let from = self
                        .value(s, "the sender's e-mail address")
                        .map(|v| Located::new(v.to_string(), s.location()));
                    self.set(&mut draft.email_from, from, "notification_email_from");
                }
                "smtp_server" => {
                    let server = self.smtp_server(s);
                    self.set(&mut draft.smtp_server, server, "smtp_server");
                }
                "smtp_connect_timeout" => {
                    let timeout = self.int(s, "whole seconds 1..4294").map(|t| {
                        // Negative values fail validation's range check as 0 does.
                        let micros = u64::try_from(t.value)
                            .unwrap_or(0)
                            .saturating_mul(MICROS_PER_SECOND);
                        Located::new(micros, &t.location)
                    });
                    self.set(
                        &mut draft.smtp_connect_timeout,
                        timeout,
                        "smtp_connect_timeout",
                    );
                }
                "notify_fifo" | "vrrp_notify_fifo" => self.notify_fifo(s, draft),
                "enable_script_security" => {
                    self.flag(s);
                    let on = Some(Located::new(true, s.location()));
                    self.set(&mut draft.script_security, on, "enable_script_security");
                }
                "script_user" => {
                    let user = self.user_spec(s, 0);
                    self.set(&mut draft.script_user, user, "script_user");
                }
                // keepalived: `smtp_alert_vrrp` sets the default of VRRP instances and
                // groups, and wins over `smtp_alert`, the default of everything.
                "smtp_alert_vrrp" => {
                    if let Some(on) = self.bool_flag(s) {
                        draft.smtp_alert_default = Some(on);
                        self.smtp_alert_vrrp_set = true;
                    }
                }
                "smtp_alert" => {
                    if let Some(on) = self.bool_flag(s) {
                        if !self.smtp_alert_vrrp_set {
                            draft.smtp_alert_default = Some(on);
                        }
                    }
                }
                _ => self.unsupported(s),
            }
        }
    }

    /// `smtp_server HOST [PORT]`.
    fn smtp_server(&mut self, s: &Statement) -> Option<Located<DraftSmtpServer>> {
        if !self.no_block(s) {
            return None;
        }
        let Some(host) = s.args.first() else {
            self.diag.error(
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
                    self.diag.error(
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
            self.ignored_rest(s, 2);
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
    fn notify_fifo(&mut self, s: &Statement, draft: &mut DraftConfig) {
        if !self.no_block(s) {
            return;
        }
        let Some(path) = s.args.first() else {
            self.diag.error(
                s.location(),
                format!("`{}` needs a value: the path of the FIFO", s.name()),
            );
            return;
        };
        if s.args.len() > 1 {
            self.diag.warn(
                s.location(),
                format!(
                    "`{}`: keepalived reads `{}` after the path as the owner (and group) of \
                     the FIFO; vrrpx creates it as its own user and ignores it",
                    s.name(),
                    join(&s.args[1..])
                ),
            );
        }
        if let Some(earlier) = &draft.notify_fifo {
            self.diag.warn(
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

    fn instance(&mut self, stmt: &Statement) -> Option<DraftInstance> {
        let (name, block) = self.named_block(stmt)?;
        let mut d = DraftInstance {
            name,
            location: stmt.location().clone(),
            ..DraftInstance::default()
        };
        for s in block {
            self.instance_keyword(s, &mut d);
        }
        self.keepalived_state_quirks(&mut d);
        Some(d)
    }

    fn instance_keyword(&mut self, s: &Statement, d: &mut DraftInstance) {
        let at = s.location();
        match s.name() {
            "state" => {
                let state = match self.value(s, "MASTER or BACKUP") {
                    Some("MASTER") => Some(InitialState::Master),
                    Some("BACKUP") => Some(InitialState::Backup),
                    // keepalived compares the word exactly and starts anything else as
                    // BACKUP, so `state Master` quietly means BACKUP there: the same here,
                    // said out loud.
                    Some(other)
                        if matches!(other.to_ascii_uppercase().as_str(), "MASTER" | "BACKUP") =>
                    {
                        self.diag.warn(
                            at,
                            format!(
                                "`state {other}`: keepalived reads only upper-case MASTER or \
                                 BACKUP and starts this instance as BACKUP (so without a \
                                 `priority` it gets 100, not the owner's 255); vrrpx does the \
                                 same: write `state {}`",
                                other.to_ascii_uppercase()
                            ),
                        );
                        Some(InitialState::Backup)
                    }
                    Some(other) => {
                        self.diag
                            .error(at, format!("`state` {other}: expected MASTER or BACKUP"));
                        None
                    }
                    None => None,
                };
                self.set(&mut d.state, state.map(|v| Located::new(v, at)), "state");
            }
            "interface" => {
                let interface = self
                    .value(s, "an interface name, e.g. eth0")
                    .map(|v| Located::new(v.to_string(), at));
                self.set(&mut d.interface, interface, "interface");
            }
            "virtual_router_id" => {
                let vrid = self.int(s, "a VRID 1..255");
                self.set(&mut d.vrid, vrid, "virtual_router_id");
            }
            "priority" => {
                let priority = self.int(s, "a priority 1..255");
                self.set(&mut d.priority, priority, "priority");
            }
            "advert_int" => {
                let interval = self.seconds(s, "seconds, e.g. 1 or 0.1");
                self.set(&mut d.advert_int, interval, "advert_int");
            }
            "version" | "vrrp_version" => {
                let version = self.int(s, "2 or 3");
                self.set(&mut d.version, version, s.name());
            }
            "authentication" => self.authentication(s, d),
            "virtual_ipaddress" => {
                for a in self.block(s, "one address per line: `ADDR[/LEN] [dev IF] [label L]`") {
                    if let Some(vip) = self.virtual_address(a) {
                        d.virtual_addresses.push(vip);
                    }
                }
            }
            "nopreempt" => {
                self.flag(s);
                self.set(&mut d.preempt, Some(Located::new(false, at)), "nopreempt");
            }
            "preempt" => {
                self.flag(s);
                self.set(&mut d.preempt, Some(Located::new(true, at)), "preempt");
            }
            "preempt_delay" => {
                let delay = self.seconds(s, "seconds 0..1000");
                self.set(&mut d.preempt_delay, delay, "preempt_delay");
            }
            "unicast_src_ip" | "mcast_src_ip" => {
                // keepalived uses either one as the source address of adverts.
                let src = self
                    .value(s, "an IP address of this router")
                    .and_then(|text| self.ip(s, text))
                    .map(|addr| Located::new(addr, at));
                self.set(&mut d.unicast_src, src, s.name());
            }
            "unicast_peer" => {
                for p in self.block(s, "one peer address per line") {
                    if !self.no_block(p) {
                        continue;
                    }
                    if !p.args.is_empty() {
                        self.diag.warn(
                            p.location(),
                            format!(
                                "unicast_peer {}: options `{}` are not supported and are \
                                 ignored",
                                p.name(),
                                join(&p.args)
                            ),
                        );
                    }
                    if let Some(addr) = self.ip(p, p.name()) {
                        d.unicast_peers.push(Located::new(addr, p.location()));
                    }
                }
            }
            "track_interface" => {
                for t in self.block(s, "one interface per line: `IF [weight N]`") {
                    if let Some(track) = self.track(t) {
                        d.track_interfaces.push(track);
                    }
                }
            }
            "track_script" => {
                for t in self.block(s, "one vrrp_script name per line: `NAME [weight N]`") {
                    if let Some(track) = self.track(t) {
                        d.track_scripts.push(track);
                    }
                }
            }
            "track_file" => {
                for t in self.block(s, "one track_file name per line: `NAME [weight N]`") {
                    if let Some(track) = self.track(t) {
                        d.track_files.push(track);
                    }
                }
            }
            "smtp_alert" => {
                let on = self.bool_flag(s);
                self.set(&mut d.smtp_alert, on, "smtp_alert");
            }
            "notify_master" | "notify_backup" | "notify_fault" | "notify_stop" | "notify" => {
                self.notify_keyword(s, &mut d.notify, &mut d.notify_users)
            }
            "garp_master_delay" => {
                let delay = self.seconds(s, "seconds");
                self.set(&mut d.garp_master_delay, delay, "garp_master_delay");
            }
            "garp_master_repeat" => {
                let repeat = self.int(s, "a count of gratuitous ARPs");
                self.set(&mut d.garp_master_repeat, repeat, "garp_master_repeat");
            }
            "garp_master_refresh" => {
                let refresh = self.seconds(s, "seconds (0 = off)");
                self.set(&mut d.garp_master_refresh, refresh, "garp_master_refresh");
            }
            "use_vmac" => {
                if self.no_block(s) {
                    if !s.args.is_empty() {
                        self.diag.warn(
                            at,
                            format!(
                                "use_vmac: a custom interface name or MAC (`{}`) is not \
                                 supported; the virtual MAC interface gets vrrpx's own name",
                                join(&s.args)
                            ),
                        );
                    }
                    d.use_vmac = true;
                }
            }
            "accept" => {
                self.flag(s);
                d.accept = Some(Located::new(true, at));
            }
            "no_accept" => {
                self.flag(s);
                d.accept = Some(Located::new(false, at));
            }
            "strict_mode" => {
                let on = self.bool_flag(s);
                self.set(&mut d.strict_mode, on, "strict_mode");
            }
            "vrrpx_checksum" => match self.value(s, "pseudo or plain") {
                Some("pseudo") => d.checksum = Some(Located::new(ChecksumForm::Pseudo, at)),
                Some("plain") => d.checksum = Some(Located::new(ChecksumForm::Plain, at)),
                Some(other) => self.diag.error(
                    at,
                    format!(
                        "`vrrpx_checksum` {other}: expected pseudo (with the IPv4 \
                         pseudo-header, as keepalived and FRR) or plain (RFC 9568)"
                    ),
                ),
                None => {}
            },
            _ => self.unsupported(s),
        }
    }

    /// keepalived's handling of `state MASTER`, kept so a file behaves as it did there.
    fn keepalived_state_quirks(&mut self, d: &mut DraftInstance) {
        let Some(state) = &d.state else { return };
        if state.value != InitialState::Master {
            return;
        }
        let at = state.location.clone();
        if d.priority.is_none() {
            self.diag.warn(
                &at,
                format!(
                    "vrrp_instance {}: `state MASTER` without a `priority` makes it the \
                     address owner (priority 255), as in keepalived; write the priority you \
                     mean",
                    d.name
                ),
            );
            d.priority = Some(Located::new(255, &at));
        }
        if d.preempt.as_ref().is_some_and(|p| !p.value) {
            self.diag.warn(
                &at,
                format!(
                    "vrrp_instance {}: nopreempt does not work with `state MASTER`; \
                     preemption stays on, as in keepalived (use `state BACKUP`)",
                    d.name
                ),
            );
            d.preempt = None;
        }
        if d.preempt_delay.is_some() {
            self.diag.warn(
                &at,
                format!(
                    "vrrp_instance {}: preempt_delay does not work with `state MASTER`; \
                     cleared, as in keepalived (use `state BACKUP`)",
                    d.name
                ),
            );
            d.preempt_delay = None;
        }
    }

    fn authentication(&mut self, stmt: &Statement, d: &mut DraftInstance) {
        for s in self.block(
            stmt,
            "`authentication { auth_type PASS  auth_pass SECRET }`",
        ) {
            match s.name() {
                "auth_type" => {
                    let Some(kind) = self.value(s, "PASS") else {
                        continue;
                    };
                    // keepalived compares the word exactly: `auth_type pass` is an unknown
                    // type there, and the instance runs without authentication, so its
                    // adverts carry none. Doing otherwise would split a mixed cluster.
                    if kind != kind.to_ascii_uppercase()
                        && matches!(kind.to_ascii_uppercase().as_str(), "PASS" | "AH")
                    {
                        self.diag.warn(
                            s.location(),
                            format!(
                                "`auth_type {kind}`: keepalived reads only upper-case `{}` and \
                                 runs this instance without authentication; vrrpx does the \
                                 same, so routers that write `{}` reject its adverts",
                                kind.to_ascii_uppercase(),
                                kind.to_ascii_uppercase()
                            ),
                        );
                        continue;
                    }
                    let kind = Some(Located::new(kind.to_string(), s.location()));
                    self.set(&mut d.auth_type, kind, "auth_type");
                }
                "auth_pass" => {
                    let pass = self
                        .value(s, "a password of up to 8 characters")
                        .map(|v| Located::new(v.to_string(), s.location()));
                    self.set(&mut d.auth_pass, pass, "auth_pass");
                }
                _ => self.unsupported(s),
            }
        }
    }

    /// `ADDR[/LEN] [dev IF] [label L] [other ip-address options]`.
    fn virtual_address(&mut self, s: &Statement) -> Option<Located<DraftAddress>> {
        if !self.no_block(s) {
            return None;
        }
        let (addr, prefix_len) = match parse_address_with_prefix(s.name()) {
            Ok(parsed) => parsed,
            Err(message) => {
                self.diag
                    .error(s.location(), format!("virtual_ipaddress: {message}"));
                return None;
            }
        };
        let mut vip = DraftAddress {
            addr,
            prefix_len,
            dev: None,
            label: None,
        };
        let mut args = s.args.iter().map(|t| t.text.as_str());
        while let Some(option) = args.next() {
            // Options of `ip address add` that keepalived passes on; those with a value
            // consume it.
            let takes_value = matches!(
                option,
                "dev"
                    | "label"
                    | "brd"
                    | "broadcast"
                    | "scope"
                    | "peer"
                    | "preferred_lft"
                    | "track_group"
            );
            let value = if takes_value { args.next() } else { None };
            match (option, value) {
                ("dev", Some(dev)) => vip.dev = Some(dev.to_string()),
                ("label", Some(label)) => vip.label = Some(label.to_string()),
                (_, None) if takes_value => {
                    self.diag.error(
                        s.location(),
                        format!("virtual_ipaddress {}: `{option}` needs a value", s.name()),
                    );
                    return None;
                }
                (_, Some(value)) => self.diag.warn(
                    s.location(),
                    format!(
                        "virtual_ipaddress {}: option `{option} {value}` is not supported \
                         and is ignored",
                        s.name()
                    ),
                ),
                (_, None) => self.diag.warn(
                    s.location(),
                    format!(
                        "virtual_ipaddress {}: option `{option}` is not supported and is \
                         ignored",
                        s.name()
                    ),
                ),
            }
        }
        Some(Located::new(vip, s.location()))
    }

    /// `NAME [weight N] [reverse|noreverse|no_reverse]` in track_interface / track_script /
    /// track_file.
    fn track(&mut self, s: &Statement) -> Option<Located<DraftTrack>> {
        if !self.no_block(s) {
            return None;
        }
        let mut track = DraftTrack {
            name: s.name().to_string(),
            weight: None,
        };
        let mut args = s.args.iter().map(|t| t.text.as_str());
        while let Some(option) = args.next() {
            match option {
                "weight" => match args.next().map(|w| (w, w.parse::<i64>())) {
                    Some((_, Ok(weight))) => track.weight = Some(weight),
                    Some((text, Err(_))) => {
                        self.diag.error(
                            s.location(),
                            format!("{}: weight `{text}` is not a whole number", s.name()),
                        );
                        return None;
                    }
                    None => {
                        self.diag.error(
                            s.location(),
                            format!("{}: `weight` needs a number -253..253", s.name()),
                        );
                        return None;
                    }
                },
                "reverse" => self.diag.warn(
                    s.location(),
                    format!(
                        "{}: `reverse` is not supported and is ignored; the weight applies \
                         in its usual direction",
                        s.name()
                    ),
                ),
                "noreverse" | "no_reverse" => {}
                other => self.diag.warn(
                    s.location(),
                    format!("{}: `{other}` is not understood and is ignored", s.name()),
                ),
            }
        }
        Some(Located::new(track, s.location()))
    }

    /// `notify_* SCRIPT [USER [GROUP]]`: a script with arguments must be quoted, and what
    /// follows it names the user (and group) to run it as, as in keepalived. The script
    /// goes to `script`, the user to `user`.
    fn notify_script(
        &mut self,
        s: &Statement,
        script: &mut Option<String>,
        user: &mut Option<Located<UserSpec>>,
    ) {
        *script = self.notify_command(s);
        *user = if script.is_some() && s.args.len() > 1 {
            self.user_spec(s, 1)
        } else {
            None
        };
    }

    /// `KEYWORD ... USER [GROUP]`, the user at `args[first]`; words after GROUP are
    /// ignored with a warning.
    fn user_spec(&mut self, s: &Statement, first: usize) -> Option<Located<UserSpec>> {
        if !self.no_block(s) {
            return None;
        }
        let Some(user) = s.args.get(first) else {
            self.diag.error(
                s.location(),
                format!("`{}` needs a user name: `USER [GROUP]`", s.name()),
            );
            return None;
        };
        if s.args.len() > first + 2 {
            self.ignored_rest(s, first + 2);
        }
        let spec = UserSpec {
            user: user.text.clone(),
            group: s.args.get(first + 1).map(|g| g.text.clone()),
        };
        Some(Located::new(spec, s.location()))
    }

    fn notify_command(&mut self, s: &Statement) -> Option<String> {
        if !self.no_block(s) {
            return None;
        }
        let Some(script) = s.args.first() else {
            self.diag.error(
                s.location(),
                format!(
                    "`{}` needs a script: `{} /path/to/script` or `{} \"/path/to/script \
                     ARGS\"`",
                    s.name(),
                    s.name(),
                    s.name()
                ),
            );
            return None;
        };
        Some(script.text.clone())
    }

    /// One of `notify_master`, `notify_backup`, `notify_fault`, `notify_stop`, `notify`.
    fn notify_keyword(
        &mut self,
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
        self.notify_script(s, script, user);
    }

    fn script(&mut self, stmt: &Statement) -> Option<DraftScript> {
        let (name, block) = self.named_block(stmt)?;
        let mut d = DraftScript {
            name,
            location: stmt.location().clone(),
            ..DraftScript::default()
        };
        for s in block {
            match s.name() {
                "script" => {
                    let command = self
                        .value(s, "the command to run, quoted if it has arguments")
                        .map(|v| Located::new(v.to_string(), s.location()));
                    self.set(&mut d.script, command, "script");
                }
                "interval" => {
                    let interval = self.seconds(s, "seconds between runs");
                    self.set(&mut d.interval, interval, "interval");
                }
                "timeout" => {
                    let timeout = self.seconds(s, "seconds the script may run");
                    self.set(&mut d.timeout, timeout, "timeout");
                }
                "weight" => {
                    // `weight N [reverse]`
                    if s.args.len() > 1 && s.args[1].text == "reverse" {
                        self.diag.warn(
                            s.location(),
                            "weight: `reverse` is not supported and is ignored",
                        );
                        let weight = s.args[0].text.parse().ok();
                        if weight.is_none() {
                            self.diag
                                .error(s.location(), "weight: expected a whole number -253..253");
                        }
                        let weight = weight.map(|w| Located::new(w, s.location()));
                        self.set(&mut d.weight, weight, "weight");
                    } else {
                        let weight = self.int(s, "a whole number -253..253");
                        self.set(&mut d.weight, weight, "weight");
                    }
                }
                "rise" => {
                    let rise = self.int(s, "a count of successes");
                    self.set(&mut d.rise, rise, "rise");
                }
                "fall" => {
                    let fall = self.int(s, "a count of failures");
                    self.set(&mut d.fall, fall, "fall");
                }
                "init_fail" => {
                    self.flag(s);
                    d.init_fail = true;
                }
                "user" => {
                    let user = self.user_spec(s, 0);
                    self.set(&mut d.user, user, "user");
                }
                _ => self.unsupported(s),
            }
        }
        Some(d)
    }

    /// `track_file NAME { file PATH  weight N  init_file [VALUE] [overwrite] }`.
    fn track_file(&mut self, stmt: &Statement) -> Option<DraftTrackFile> {
        let (name, block) = self.named_block(stmt)?;
        let mut d = DraftTrackFile {
            name,
            location: stmt.location().clone(),
            ..DraftTrackFile::default()
        };
        for s in block {
            match s.name() {
                "file" => {
                    let file = self
                        .value(s, "the path of the file to read")
                        .map(|v| Located::new(v.to_string(), s.location()));
                    self.set(&mut d.file, file, "file");
                }
                "weight" => {
                    // `weight N [reverse]`
                    let reverse = s.args.len() > 1 && s.args[1].text == "reverse";
                    let weight = if reverse {
                        self.diag.warn(
                            s.location(),
                            "weight: `reverse` is not supported and is ignored",
                        );
                        let weight = s.args[0].text.parse().ok();
                        if weight.is_none() {
                            self.diag
                                .error(s.location(), "weight: expected a whole number -254..254");
                        }
                        weight.map(|w| Located::new(w, s.location()))
                    } else {
                        self.int(s, "a whole number -254..254")
                    };
                    self.set(&mut d.weight, weight, "weight");
                }
                "init_file" => {
                    let init = self.init_file(s);
                    self.set(&mut d.init, init, "init_file");
                }
                _ => self.unsupported(s),
            }
        }
        Some(d)
    }

    /// `init_file [VALUE] [overwrite]`.
    fn init_file(&mut self, s: &Statement) -> Option<Located<DraftTrackFileInit>> {
        if !self.no_block(s) {
            return None;
        }
        let mut init = DraftTrackFileInit {
            value: 0,
            overwrite: false,
        };
        let mut args = s.args.iter().map(|t| t.text.as_str()).peekable();
        if let Some(value) = args.next_if(|a| *a != "overwrite") {
            match value.parse::<i64>() {
                Ok(value) => init.value = value,
                Err(_) => {
                    self.diag.error(
                        s.location(),
                        format!(
                            "`init_file` {value}: expected `init_file [VALUE] [overwrite]`, \
                             VALUE a whole number"
                        ),
                    );
                    return None;
                }
            }
        }
        if args.next_if(|a| *a == "overwrite").is_some() {
            init.overwrite = true;
        }
        if args.peek().is_some() {
            let used = s.args.len() - args.count();
            self.ignored_rest(s, used);
        }
        Some(Located::new(init, s.location()))
    }

    fn sync_group(&mut self, stmt: &Statement) -> Option<DraftSyncGroup> {
        let (name, block) = self.named_block(stmt)?;
        let mut d = DraftSyncGroup {
            name,
            location: stmt.location().clone(),
            ..DraftSyncGroup::default()
        };
        let mut notify = Notify::default();
        for s in block {
            match s.name() {
                "group" => {
                    for m in self.block(s, "`group { INSTANCE INSTANCE ... }`") {
                        if !self.no_block(m) {
                            continue;
                        }
                        // Names may share a line: `group { VI_1 VI_2 }`.
                        for token in std::iter::once(&m.keyword).chain(&m.args) {
                            d.members
                                .push(Located::new(token.text.clone(), &token.location));
                        }
                    }
                }
                "notify_master" | "notify_backup" | "notify_fault" | "notify_stop" | "notify" => {
                    self.notify_keyword(s, &mut notify, &mut d.notify_users)
                }
                "sync_group_tracking_weight" => {
                    self.flag(s);
                    d.tracking_weight = true;
                }
                "smtp_alert" => {
                    let on = self.bool_flag(s);
                    self.set(&mut d.smtp_alert, on, "smtp_alert");
                }
                _ => self.unsupported(s),
            }
        }
        d.notify = notify;
        Some(d)
    }
}

fn join(tokens: &[super::lexer::Token]) -> String {
    tokens
        .iter()
        .map(|t| t.text.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

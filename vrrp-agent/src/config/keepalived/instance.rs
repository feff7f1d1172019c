//! `vrrp_instance NAME { ... }` and the blocks inside it: `authentication`,
//! `virtual_ipaddress`, `unicast_peer` and the `track_*` lists.

use super::super::draft::{
    parse_address_with_prefix, DraftAddress, DraftInstance, DraftTrack, Located,
};
use super::super::model::{ChecksumForm, InitialState};
use super::super::syntax::Statement;
use super::notify::{self, NOTIFY};
use super::reader::{int, join, kw, seconds, string, Keyword, Reader};

pub fn read(r: &mut Reader, stmt: &Statement) -> Option<DraftInstance> {
    let mut d = r.definition(stmt, INSTANCE)?;
    keepalived_state_quirks(r, &mut d);
    Some(d)
}

pub const INSTANCE: &[Keyword<DraftInstance>] = &[
    kw(&["state"], state),
    string(
        &["interface"],
        |d| &mut d.interface,
        "an interface name, e.g. eth0",
    ),
    int(&["virtual_router_id"], |d| &mut d.vrid, "a VRID 1..255"),
    int(&["priority"], |d| &mut d.priority, "a priority 1..255"),
    seconds(
        &["advert_int"],
        |d| &mut d.advert_int,
        "seconds, e.g. 1 or 0.1",
    ),
    int(&["version", "vrrp_version"], |d| &mut d.version, "2 or 3"),
    kw(&["authentication"], |r, s, d| {
        let block = r.block(s, "`authentication { auth_type PASS  auth_pass SECRET }`");
        r.keywords(block, AUTHENTICATION, d);
    }),
    kw(&["virtual_ipaddress"], |r, s, d| {
        for a in r.block(s, "one address per line: `ADDR[/LEN] [dev IF] [label L]`") {
            if let Some(vip) = virtual_address(r, a) {
                d.virtual_addresses.push(vip);
            }
        }
    }),
    kw(&["nopreempt"], |r, s, d| {
        r.set_flag(s, &mut d.preempt, false)
    }),
    kw(&["preempt"], |r, s, d| r.set_flag(s, &mut d.preempt, true)),
    seconds(
        &["preempt_delay"],
        |d| &mut d.preempt_delay,
        "seconds 0..1000",
    ),
    // keepalived uses either one as the source address of adverts.
    kw(&["unicast_src_ip", "mcast_src_ip"], |r, s, d| {
        let src = r
            .value(s, "an IP address of this router")
            .and_then(|text| r.ip(s, text))
            .map(|addr| Located::new(addr, s.location()));
        r.set(&mut d.unicast_src, src, s);
    }),
    kw(&["unicast_peer"], unicast_peer),
    // keepalived's opt-in; here only the peers are ever heard (docs/xdp-filter.md).
    kw(&["check_unicast_src"], |r, s, _| r.flag(s)),
    int(&["unicast_ttl"], |d| &mut d.unicast_ttl, "a TTL 1..255"),
    kw(&["auth_hmac"], super::auth_hmac::read),
    kw(&["track_interface"], |r, s, d| {
        let expected = "one interface per line: `IF [weight N]`";
        d.track_interfaces.extend(tracks(r, s, expected));
    }),
    kw(&["track_script"], |r, s, d| {
        let expected = "one vrrp_script name per line: `NAME [weight N]`";
        d.track_scripts.extend(tracks(r, s, expected));
    }),
    kw(&["track_file"], |r, s, d| {
        let expected = "one track_file name per line: `NAME [weight N]`";
        d.track_files.extend(tracks(r, s, expected));
    }),
    kw(&["smtp_alert"], |r, s, d| r.set_bool(s, &mut d.smtp_alert)),
    kw(NOTIFY, |r, s, d| {
        notify::read(r, s, &mut d.notify, &mut d.notify_users)
    }),
    seconds(
        &["garp_master_delay"],
        |d| &mut d.garp_master_delay,
        "seconds",
    ),
    int(
        &["garp_master_repeat"],
        |d| &mut d.garp_master_repeat,
        "a count of gratuitous ARPs",
    ),
    seconds(
        &["garp_master_refresh"],
        |d| &mut d.garp_master_refresh,
        "seconds (0 = off)",
    ),
    kw(&["use_vmac"], use_vmac),
    // No warning when repeated: `no_accept` then `accept` is a common way to say it.
    kw(&["accept"], |r, s, d| {
        r.flag(s);
        d.accept = Some(Located::new(true, s.location()));
    }),
    kw(&["no_accept"], |r, s, d| {
        r.flag(s);
        d.accept = Some(Located::new(false, s.location()));
    }),
    kw(&["strict_mode"], |r, s, d| {
        r.set_bool(s, &mut d.strict_mode)
    }),
    kw(&["vrrpx_checksum"], checksum),
];

pub const AUTHENTICATION: &[Keyword<DraftInstance>] = &[
    kw(&["auth_type"], auth_type),
    string(
        &["auth_pass"],
        |d| &mut d.auth_pass,
        "a password of up to 8 characters",
    ),
];

fn state(r: &mut Reader, s: &Statement, d: &mut DraftInstance) {
    let at = s.location();
    let state = match r.value(s, "MASTER or BACKUP") {
        Some("MASTER") => Some(InitialState::Master),
        Some("BACKUP") => Some(InitialState::Backup),
        // keepalived compares the word exactly and starts anything else as BACKUP, so
        // `state Master` quietly means BACKUP there: the same here, said out loud.
        Some(other) if matches!(other.to_ascii_uppercase().as_str(), "MASTER" | "BACKUP") => {
            r.diag.warn(
                at,
                format!(
                    "`state {other}`: keepalived reads only upper-case MASTER or BACKUP and \
                     starts this instance as BACKUP (so without a `priority` it gets 100, not \
                     the owner's 255); vrrpx does the same: write `state {}`",
                    other.to_ascii_uppercase()
                ),
            );
            Some(InitialState::Backup)
        }
        Some(other) => {
            r.diag
                .error(at, format!("`state` {other}: expected MASTER or BACKUP"));
            None
        }
        None => None,
    };
    r.set(&mut d.state, state.map(|v| Located::new(v, at)), s);
}

fn unicast_peer(r: &mut Reader, s: &Statement, d: &mut DraftInstance) {
    for p in r.block(
        s,
        "one peer address per line: `ADDR [min_ttl N] [max_ttl N]`",
    ) {
        if !r.no_block(p) {
            continue;
        }
        let ttl = peer_ttl(r, p);
        if let Some(addr) = r.ip(p, p.name()) {
            d.unicast_peers.push(Located::new(addr, p.location()));
            d.unicast_peer_ttl.push(ttl);
        }
    }
}

/// `ADDR [min_ttl N] [max_ttl N]` in `unicast_peer {}`: the TTL range this peer's adverts
/// must arrive with (any when not written).
fn peer_ttl(r: &mut Reader, p: &Statement) -> (u8, u8) {
    let (mut min, mut max) = (0u8, 255u8);
    let mut args = p.args.iter();
    while let Some(option) = args.next() {
        let slot = match option.text.as_str() {
            "min_ttl" => &mut min,
            "max_ttl" => &mut max,
            other => {
                r.diag.warn(
                    p.location(),
                    format!(
                        "unicast_peer {}: option `{other}` is not supported and is ignored",
                        p.name()
                    ),
                );
                continue;
            }
        };
        match args.next().map(|t| t.text.parse::<u8>()) {
            Some(Ok(n)) => *slot = n,
            _ => r.diag.error(
                p.location(),
                format!(
                    "unicast_peer {}: `{}` needs a TTL 0..255",
                    p.name(),
                    option.text
                ),
            ),
        }
    }
    if min > max {
        r.diag.error(
            p.location(),
            format!(
                "unicast_peer {}: min_ttl {min} is above max_ttl {max}",
                p.name()
            ),
        );
    }
    (min, max)
}

fn use_vmac(r: &mut Reader, s: &Statement, d: &mut DraftInstance) {
    if !r.no_block(s) {
        return;
    }
    if !s.args.is_empty() {
        r.diag.warn(
            s.location(),
            format!(
                "use_vmac: a custom interface name or MAC (`{}`) is not supported; the \
                 virtual MAC interface gets vrrpx's own name",
                join(&s.args)
            ),
        );
    }
    d.use_vmac = true;
}

fn checksum(r: &mut Reader, s: &Statement, d: &mut DraftInstance) {
    let at = s.location();
    match r.value(s, "pseudo or plain") {
        Some("pseudo") => d.checksum = Some(Located::new(ChecksumForm::Pseudo, at)),
        Some("plain") => d.checksum = Some(Located::new(ChecksumForm::Plain, at)),
        Some(other) => r.diag.error(
            at,
            format!(
                "`vrrpx_checksum` {other}: expected pseudo (with the IPv4 pseudo-header, as \
                 keepalived and FRR) or plain (RFC 9568)"
            ),
        ),
        None => {}
    }
}

fn auth_type(r: &mut Reader, s: &Statement, d: &mut DraftInstance) {
    let Some(kind) = r.value(s, "PASS") else {
        return;
    };
    // keepalived compares the word exactly: `auth_type pass` is an unknown type there, and
    // the instance runs without authentication, so its adverts carry none. Doing otherwise
    // would split a mixed cluster.
    let upper = kind.to_ascii_uppercase();
    if kind != upper && matches!(upper.as_str(), "PASS" | "AH") {
        r.diag.warn(
            s.location(),
            format!(
                "`auth_type {kind}`: keepalived reads only upper-case `{upper}` and runs this \
                 instance without authentication; vrrpx does the same, so routers that write \
                 `{upper}` reject its adverts"
            ),
        );
        return;
    }
    let kind = Some(Located::new(kind.to_string(), s.location()));
    r.set(&mut d.auth_type, kind, s);
}

/// keepalived's handling of `state MASTER`, kept so a file behaves as it did there: it is
/// what `state MASTER` means in keepalived.conf, not a default.
fn keepalived_state_quirks(r: &mut Reader, d: &mut DraftInstance) {
    let Some(state) = &d.state else { return };
    if state.value != InitialState::Master {
        return;
    }
    let at = state.location.clone();
    if d.priority.is_none() {
        r.diag.warn(
            &at,
            format!(
                "vrrp_instance {}: `state MASTER` without a `priority` makes it the address \
                 owner (priority 255), as in keepalived; write the priority you mean",
                d.name
            ),
        );
        d.priority = Some(Located::new(255, &at));
    }
    if d.preempt.as_ref().is_some_and(|p| !p.value) {
        r.diag.warn(
            &at,
            format!(
                "vrrp_instance {}: nopreempt does not work with `state MASTER`; preemption \
                 stays on, as in keepalived (use `state BACKUP`)",
                d.name
            ),
        );
        d.preempt = None;
    }
    if d.preempt_delay.is_some() {
        r.diag.warn(
            &at,
            format!(
                "vrrp_instance {}: preempt_delay does not work with `state MASTER`; cleared, \
                 as in keepalived (use `state BACKUP`)",
                d.name
            ),
        );
        d.preempt_delay = None;
    }
}

/// `ADDR[/LEN] [dev IF] [label L] [other ip-address options]`.
fn virtual_address(r: &mut Reader, s: &Statement) -> Option<Located<DraftAddress>> {
    if !r.no_block(s) {
        return None;
    }
    let (addr, prefix_len) = match parse_address_with_prefix(s.name()) {
        Ok(parsed) => parsed,
        Err(message) => {
            r.diag
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
        let vip_name = s.name();
        match (option, value) {
            ("dev", Some(dev)) => vip.dev = Some(dev.to_string()),
            ("label", Some(label)) => vip.label = Some(label.to_string()),
            (_, None) if takes_value => {
                r.diag.error(
                    s.location(),
                    format!("virtual_ipaddress {vip_name}: `{option}` needs a value"),
                );
                return None;
            }
            (_, Some(value)) => r.diag.warn(
                s.location(),
                format!(
                    "virtual_ipaddress {vip_name}: option `{option} {value}` is not supported \
                     and is ignored"
                ),
            ),
            (_, None) => r.diag.warn(
                s.location(),
                format!(
                    "virtual_ipaddress {vip_name}: option `{option}` is not supported and is \
                     ignored"
                ),
            ),
        }
    }
    Some(Located::new(vip, s.location()))
}

/// The lines of a track_interface / track_script / track_file block.
fn tracks(r: &mut Reader, s: &Statement, expected: &str) -> Vec<Located<DraftTrack>> {
    let lines = r.block(s, expected);
    lines.iter().filter_map(|t| track(r, t)).collect()
}

/// `NAME [weight N] [reverse|noreverse|no_reverse]`.
fn track(r: &mut Reader, s: &Statement) -> Option<Located<DraftTrack>> {
    if !r.no_block(s) {
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
                    r.diag.error(
                        s.location(),
                        format!("{}: weight `{text}` is not a whole number", s.name()),
                    );
                    return None;
                }
                None => {
                    r.diag.error(
                        s.location(),
                        format!("{}: `weight` needs a number -253..253", s.name()),
                    );
                    return None;
                }
            },
            "reverse" => r.diag.warn(
                s.location(),
                format!(
                    "{}: `reverse` is not supported and is ignored; the weight applies in its \
                     usual direction",
                    s.name()
                ),
            ),
            "noreverse" | "no_reverse" => {}
            other => r.diag.warn(
                s.location(),
                format!("{}: `{other}` is not understood and is ignored", s.name()),
            ),
        }
    }
    Some(Located::new(track, s.location()))
}

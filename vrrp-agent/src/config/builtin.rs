//! vrrpx's built-in health checks, written as a `vrrp_script`'s `script` so that a check
//! needs no program:
//!
//! ```text
//! script "vrrpx:tcp HOST:PORT"              a TCP connection is accepted
//! script "vrrpx:http URL [status N]"        an HTTP GET answers with status N (default 200)
//! ```
//!
//! The configuration keeps the string as written (the tracker interprets it); this only
//! checks its syntax, so a mistake is reported with its file and line before anything runs.
//! HOST is an IPv4 address, a host name, or an IPv6 address in brackets (`[::1]:5432`);
//! the URL is `http://HOST[:PORT][/PATH]`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// What every built-in check starts with. keepalived would look for a program of that name,
/// which no configuration has, so the prefix cannot take over a real script.
pub const PREFIX: &str = "vrrpx:";

const TCP_USAGE: &str =
    "`vrrpx:tcp` takes one HOST:PORT, e.g. `vrrpx:tcp 127.0.0.1:80` or `vrrpx:tcp [::1]:5432`";
const HTTP_USAGE: &str = "`vrrpx:http` takes a URL and optionally a status, e.g. \
     `vrrpx:http http://127.0.0.1:8080/healthz status 204`";

/// Checks a `script` value: anything that does not start with [`PREFIX`] is a program and
/// passes; a built-in check must be well formed.
pub fn check(script: &str) -> Result<(), String> {
    let mut words = script.split_whitespace();
    let Some(kind) = words.next().and_then(|first| first.strip_prefix(PREFIX)) else {
        return Ok(());
    };
    let args: Vec<&str> = words.collect();
    match kind {
        "tcp" => match args.as_slice() {
            [target] => host_port(target, true).map_err(|e| format!("vrrpx:tcp: {e}")),
            _ => Err(TCP_USAGE.to_string()),
        },
        "http" => match args.as_slice() {
            [url] => http_url(url),
            [url, "status", status] => {
                http_url(url)?;
                http_status(status)
            }
            _ => Err(HTTP_USAGE.to_string()),
        },
        other => Err(format!(
            "`{PREFIX}{other}` is not a built-in check: vrrpx knows `vrrpx:tcp HOST:PORT` and \
             `vrrpx:http URL [status N]`"
        )),
    }
}

/// `http://HOST[:PORT][/PATH]`.
fn http_url(url: &str) -> Result<(), String> {
    let Some(rest) = url.strip_prefix("http://") else {
        return Err(if url.starts_with("https://") {
            format!("vrrpx:http: `{url}`: only plain http:// is supported")
        } else {
            format!("vrrpx:http: `{url}` is not a URL starting with http://")
        });
    };
    let authority = rest
        .split_once('/')
        .map_or(rest, |(authority, _)| authority);
    if authority.is_empty() {
        return Err(format!("vrrpx:http: `{url}` has no host"));
    }
    host_port(authority, false).map_err(|e| format!("vrrpx:http: {e}"))
}

fn http_status(text: &str) -> Result<(), String> {
    match text.parse::<u16>() {
        Ok(status) if (100..=599).contains(&status) => Ok(()),
        _ => Err(format!(
            "vrrpx:http: status `{text}` is not an HTTP status: expected 100..599"
        )),
    }
}

/// `HOST:PORT` or `[V6]:PORT`; the port may be left out when `port_required` is false.
fn host_port(text: &str, port_required: bool) -> Result<(), String> {
    let (host, port) = if let Some(rest) = text.strip_prefix('[') {
        let Some((v6, after)) = rest.split_once(']') else {
            return Err(format!("`{text}`: `[` without a closing `]`"));
        };
        if v6.parse::<Ipv6Addr>().is_err() {
            return Err(format!(
                "`{text}`: `{v6}` in brackets is not an IPv6 address"
            ));
        }
        match after {
            "" => (None, None),
            _ => match after.strip_prefix(':') {
                Some(port) => (None, Some(port)),
                None => return Err(format!("`{text}` is not [ADDRESS]:PORT")),
            },
        }
    } else {
        match text.rsplit_once(':') {
            Some((host, _)) if host.contains(':') => {
                return Err(format!(
                    "`{text}`: an IPv6 address takes brackets before its port, [ADDRESS]:PORT"
                ))
            }
            Some((host, port)) => (Some(host), Some(port)),
            None => (Some(text), None),
        }
    };
    if let Some(host) = host {
        check_host(host).map_err(|e| format!("`{text}`: {e}"))?;
    }
    match port {
        Some(port) => match port.parse::<u16>() {
            Ok(p) if p != 0 => Ok(()),
            _ => Err(format!("`{text}`: port `{port}` is not a number 1..65535")),
        },
        None if port_required => Err(format!("`{text}` has no port: write HOST:PORT")),
        None => Ok(()),
    }
}

/// An IPv4 address or a host name.
fn check_host(host: &str) -> Result<(), String> {
    if host.is_empty() {
        return Err("the host is missing".to_string());
    }
    if host.parse::<IpAddr>().is_ok() {
        return Ok(());
    }
    // Digits and dots only would be an address, so it must be a valid one.
    if host.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return match host.parse::<Ipv4Addr>() {
            Ok(_) => Ok(()),
            Err(_) => Err(format!("`{host}` is not an IPv4 address")),
        };
    }
    let label_ok = |label: &str| {
        !label.is_empty()
            && label.len() <= 63
            && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    if host.len() <= 253 && host.trim_end_matches('.').split('.').all(label_ok) {
        Ok(())
    } else {
        Err(format!("`{host}` is not a host name or an IP address"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every one of `good` passes the check and every one of `bad` is refused.
    fn assert_checks(good: &[&str], bad: &[&str]) {
        for g in good {
            assert!(check(g).is_ok(), "{g}: {:?}", check(g));
        }
        for b in bad {
            assert!(check(b).is_err(), "{b} passed");
        }
    }

    #[test]
    fn programs_are_not_checked() {
        assert_checks(&["/usr/bin/pidof nginx", "sh -c 'exit 0'", ""], &[]);
    }

    #[test]
    fn tcp_takes_one_host_and_port() {
        assert_checks(
            &[
                "vrrpx:tcp 127.0.0.1:80",
                "vrrpx:tcp [::1]:5432",
                "vrrpx:tcp db.example.com:5432",
                "vrrpx:tcp  localhost:1 ",
            ],
            &[
                "vrrpx:tcp",
                "vrrpx:tcp 127.0.0.1",
                "vrrpx:tcp 127.0.0.1:0",
                "vrrpx:tcp 127.0.0.1:65536",
                "vrrpx:tcp 127.0.0.1:http",
                "vrrpx:tcp ::1:80",
                "vrrpx:tcp [::1]",
                "vrrpx:tcp [10.0.0.1]:80",
                "vrrpx:tcp 10.0.0.300:80",
                "vrrpx:tcp :80",
                "vrrpx:tcp bad_host:80",
                "vrrpx:tcp 127.0.0.1:80 127.0.0.1:81",
            ],
        );
    }

    #[test]
    fn http_takes_an_http_url_and_an_optional_status() {
        assert_checks(
            &[
                "vrrpx:http http://127.0.0.1/healthz",
                "vrrpx:http http://127.0.0.1:8080/ready status 204",
                "vrrpx:http http://[fd00::1]:8080/",
                "vrrpx:http http://lb.example.com",
                "vrrpx:http http://127.0.0.1/ status 599",
            ],
            &[
                "vrrpx:http",
                "vrrpx:http 127.0.0.1/healthz",
                "vrrpx:http https://127.0.0.1/",
                "vrrpx:http http:///healthz",
                "vrrpx:http http://127.0.0.1:0/",
                "vrrpx:http http://127.0.0.1/ status 99",
                "vrrpx:http http://127.0.0.1/ status 600",
                "vrrpx:http http://127.0.0.1/ status ok",
                "vrrpx:http http://127.0.0.1/ 200",
                "vrrpx:http http://127.0.0.1/ status",
            ],
        );
    }

    #[test]
    fn unknown_built_in_is_an_error_naming_the_known_ones() {
        let e = check("vrrpx:udp 127.0.0.1:53").unwrap_err();
        assert!(e.contains("vrrpx:udp") && e.contains("vrrpx:tcp"), "{e}");
    }
}

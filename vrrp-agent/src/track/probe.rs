//! What a `vrrp_script`'s `script` string asks for: a program to run without a shell, or one
//! of the built-in checks that need no program at all. Pure parsing, no I/O.
//!
//! ```text
//! script "/usr/local/bin/chk_nginx --quiet"        program, argv split on blanks
//! script "sh -c 'pidof nginx || exit 1'"           the user's explicit shell
//! script "vrrpx:tcp 127.0.0.1:80"                  TCP connect within `timeout`
//! script "vrrpx:tcp [::1]:5432"
//! script "vrrpx:http http://127.0.0.1/healthz"     HTTP/1.0 GET, status 200 expected
//! script "vrrpx:http http://[::1]:8080/ready status 204"
//! ```
//!
//! The `vrrpx:` prefix cannot collide with a real keepalived script: keepalived would try to
//! execute a file named `vrrpx:tcp`, which no configuration has. The grammar is the one
//! `config::builtin` checks at load time (with file and line); this reads it again to run it,
//! and whatever still fails here is reported at each run as "cannot start".
//!
//! Splitting follows the shell's simplest rules, without any expansion: blanks separate
//! words; `'…'` is literal; inside `"…"` a backslash escapes `"` and `\`; outside quotes a
//! backslash escapes the next character. `$VAR`, globs, pipes and redirections mean nothing
//! here — write `sh -c '…'` to get a shell.

/// The prefix that selects a built-in check.
pub const BUILTIN_PREFIX: &str = "vrrpx:";

/// HTTP status a `vrrpx:http` check expects unless told otherwise.
pub const DEFAULT_HTTP_STATUS: u16 = 200;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Probe {
    /// Run `argv[0]` with the rest as arguments; exit status 0 is success.
    Exec { argv: Vec<String> },
    /// Connect to `target` (`HOST:PORT` or `[V6]:PORT`); an accepted connection is success.
    Tcp { target: String },
    /// `GET path` over HTTP/1.0; success when the status code equals `expect`.
    Http {
        /// `HOST:PORT` to connect to.
        target: String,
        /// The `Host:` header: the authority as written in the URL.
        host_header: String,
        path: String,
        expect: u16,
    },
}

impl Probe {
    /// Reads a `script` string. The error names what is wrong, for the configuration check
    /// and for the run-time report.
    pub fn parse(script: &str) -> Result<Probe, String> {
        let argv = split_argv(script)?;
        let Some(first) = argv.first() else {
            return Err("empty script".into());
        };
        let Some(builtin) = first.strip_prefix(BUILTIN_PREFIX) else {
            return Ok(Probe::Exec { argv });
        };
        let args = &argv[1..];
        match builtin {
            "tcp" => match args {
                [target] => Ok(Probe::Tcp {
                    target: host_port(target, None)?,
                }),
                _ => Err("vrrpx:tcp takes one HOST:PORT".into()),
            },
            "http" => parse_http(args),
            other => Err(format!(
                "unknown built-in check `{BUILTIN_PREFIX}{other}` (known: vrrpx:tcp, vrrpx:http)"
            )),
        }
    }
}

/// `URL [status N]`, the URL being `http://HOST[:PORT][/PATH]`.
fn parse_http(args: &[String]) -> Result<Probe, String> {
    const USAGE: &str = "vrrpx:http takes `http://HOST[:PORT]/PATH [status N]`";
    let (url, expect) = match args {
        [url] => (url, DEFAULT_HTTP_STATUS),
        [url, kw, n] if kw == "status" => {
            let code: u16 = n
                .parse()
                .ok()
                .filter(|c| (100..=599).contains(c))
                .ok_or_else(|| format!("vrrpx:http: status `{n}` is not an HTTP status code"))?;
            (url, code)
        }
        _ => return Err(USAGE.into()),
    };
    let rest = match url.split_once("://") {
        Some(("http", rest)) => rest,
        Some((scheme, _)) => {
            return Err(format!(
                "vrrpx:http: scheme `{scheme}` is not supported (plain http only)"
            ))
        }
        None => {
            return Err(format!(
                "vrrpx:http: `{url}` is not a URL starting with http://"
            ))
        }
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.is_empty() {
        return Err(USAGE.into());
    }
    Ok(Probe::Http {
        target: host_port(authority, Some(80))?,
        host_header: authority.to_string(),
        path: path.to_string(),
        expect,
    })
}

/// Checks `HOST:PORT` / `[V6]:PORT` (the port may be left out when there is a default) and
/// returns it in the form `tokio::net::TcpStream::connect` takes.
fn host_port(s: &str, default_port: Option<u16>) -> Result<String, String> {
    let bad = || format!("`{s}` is not HOST:PORT");
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or_else(bad)?;
        match after {
            "" => (format!("[{host}]"), None),
            _ => (
                format!("[{host}]"),
                Some(after.strip_prefix(':').ok_or_else(bad)?),
            ),
        }
    } else {
        match s.rsplit_once(':') {
            // A bare IPv6 address has several colons: it needs brackets to carry a port.
            Some((h, _)) if h.contains(':') => return Err(format!("`{s}`: write [V6]:PORT")),
            Some((h, p)) => (h.to_string(), Some(p)),
            None => (s.to_string(), None),
        }
    };
    if host.is_empty() || host == "[]" {
        return Err(bad());
    }
    let port = match (port, default_port) {
        (Some(p), _) => p
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| format!("`{s}`: port `{p}` is not 1..65535"))?,
        (None, Some(d)) => d,
        (None, None) => return Err(format!("`{s}` needs a port: HOST:PORT")),
    };
    Ok(format!("{host}:{port}"))
}

/// Splits a command line into words (rules in the module comment).
pub fn split_argv(s: &str) -> Result<Vec<String>, String> {
    #[derive(PartialEq)]
    enum Quote {
        None,
        Single,
        Double,
    }
    let mut words = Vec::new();
    let mut word = String::new();
    // A word may be empty yet present (`''`), so track whether one has started.
    let mut in_word = false;
    let mut quote = Quote::None;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match quote {
            Quote::Single => match c {
                '\'' => quote = Quote::None,
                _ => word.push(c),
            },
            Quote::Double => match c {
                '"' => quote = Quote::None,
                '\\' => match chars.next() {
                    Some(n @ ('"' | '\\')) => word.push(n),
                    Some(n) => {
                        word.push('\\');
                        word.push(n);
                    }
                    None => return Err("unterminated \" quote".into()),
                },
                _ => word.push(c),
            },
            Quote::None => match c {
                '\'' => {
                    quote = Quote::Single;
                    in_word = true;
                }
                '"' => {
                    quote = Quote::Double;
                    in_word = true;
                }
                '\\' => {
                    let n = chars.next().ok_or("trailing backslash")?;
                    word.push(n);
                    in_word = true;
                }
                c if c.is_whitespace() => {
                    if in_word {
                        words.push(std::mem::take(&mut word));
                        in_word = false;
                    }
                }
                _ => {
                    word.push(c);
                    in_word = true;
                }
            },
        }
    }
    match quote {
        Quote::Single => Err("unterminated ' quote".into()),
        Quote::Double => Err("unterminated \" quote".into()),
        Quote::None => {
            if in_word {
                words.push(word);
            }
            Ok(words)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &str) -> Vec<String> {
        split_argv(s).unwrap()
    }

    #[test]
    fn blanks_separate_words_and_quotes_group_them() {
        assert_eq!(argv("  /bin/true  "), ["/bin/true"]);
        assert_eq!(
            argv("sh -c 'pidof nginx || exit 1'"),
            ["sh", "-c", "pidof nginx || exit 1"]
        );
        assert_eq!(
            argv(r#"echo "a \"b\" \\ \n" c"#),
            ["echo", r#"a "b" \ \n"#, "c"]
        );
        assert_eq!(argv(r"a\ b ''"), ["a b", ""]);
        assert_eq!(argv("x'y'\"z\""), ["xyz"]);
        assert_eq!(argv("$HOME *"), ["$HOME", "*"]);
    }

    #[test]
    fn unterminated_quotes_are_errors() {
        assert!(split_argv("sh -c 'oops").is_err());
        assert!(split_argv("echo \"oops").is_err());
        assert!(split_argv("echo oops\\").is_err());
    }

    #[test]
    fn plain_strings_are_programs() {
        assert_eq!(
            Probe::parse("/usr/bin/test -f /tmp/x").unwrap(),
            Probe::Exec {
                argv: vec!["/usr/bin/test".into(), "-f".into(), "/tmp/x".into()]
            }
        );
        assert!(Probe::parse("   ").is_err());
    }

    #[test]
    fn tcp_builtin_takes_host_and_port() {
        assert_eq!(
            Probe::parse("vrrpx:tcp 127.0.0.1:80").unwrap(),
            Probe::Tcp {
                target: "127.0.0.1:80".into()
            }
        );
        assert_eq!(
            Probe::parse("vrrpx:tcp [::1]:5432").unwrap(),
            Probe::Tcp {
                target: "[::1]:5432".into()
            }
        );
        assert_eq!(
            Probe::parse("vrrpx:tcp db.local:5432").unwrap(),
            Probe::Tcp {
                target: "db.local:5432".into()
            }
        );
        for bad in [
            "vrrpx:tcp",
            "vrrpx:tcp 127.0.0.1",
            "vrrpx:tcp 127.0.0.1:0",
            "vrrpx:tcp 127.0.0.1:http",
            "vrrpx:tcp ::1:80",
            "vrrpx:tcp a:1 b:2",
        ] {
            assert!(Probe::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn http_builtin_reads_url_and_expected_status() {
        assert_eq!(
            Probe::parse("vrrpx:http http://127.0.0.1/healthz").unwrap(),
            Probe::Http {
                target: "127.0.0.1:80".into(),
                host_header: "127.0.0.1".into(),
                path: "/healthz".into(),
                expect: 200,
            }
        );
        assert_eq!(
            Probe::parse("vrrpx:http http://127.0.0.1:8080 status 204").unwrap(),
            Probe::Http {
                target: "127.0.0.1:8080".into(),
                host_header: "127.0.0.1:8080".into(),
                path: "/".into(),
                expect: 204,
            }
        );
        assert_eq!(
            Probe::parse("vrrpx:http http://[::1]:81/a?b=c").unwrap(),
            Probe::Http {
                target: "[::1]:81".into(),
                host_header: "[::1]:81".into(),
                path: "/a?b=c".into(),
                expect: 200,
            }
        );
        for bad in [
            "vrrpx:http",
            "vrrpx:http https://x/",
            "vrrpx:http http:///x",
            "vrrpx:http http://x/ status",
            "vrrpx:http http://x/ status abc",
            "vrrpx:http http://x/ code 200",
            "vrrpx:http http://x/ status 600",
            "vrrpx:http x/healthz",
        ] {
            assert!(Probe::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn unknown_builtins_are_named_in_the_error() {
        let e = Probe::parse("vrrpx:icmp 10.0.0.1").unwrap_err();
        assert!(e.contains("vrrpx:icmp"), "{e}");
    }
}

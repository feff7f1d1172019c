//! What `check` says about the trust boundaries a configuration sets up, one line each, so
//! an operator sees which of keepalived's safeguards are on: who scripts and notify
//! programs run as, whether `enable_script_security` refuses unsafe ones, the notify FIFO,
//! and per instance the authentication and whose adverts are heard.

use crate::config::model::{Config, Instance, Notify, RunAs};
use crate::proto::auth_hmac::{AntiReplay, Mode};

fn who(run_as: &Option<RunAs>) -> String {
    match run_as {
        Some(r) => format!("{} (uid {})", r.user, r.uid),
        None => "the agent itself".to_string(),
    }
}

/// The lines, in file order: global ones first, then one per instance.
pub fn summary(config: &Config) -> Vec<String> {
    let mut out = vec![format!(
        "enable_script_security {}: {}",
        if config.script_security { "on" } else { "off" },
        if config.script_security {
            "a script run as root that anyone else could modify is refused"
        } else {
            "unsafe script paths are warned about, not refused"
        }
    )];
    for s in &config.scripts {
        out.push(format!("vrrp_script {} runs as {}", s.name, who(&s.run_as)));
    }
    if let Some(fifo) = &config.notify_fifo {
        out.push(format!(
            "notify_fifo {}: created as a FIFO if absent, never through a symlink",
            fifo.display()
        ));
    }
    for i in &config.instances {
        out.push(instance(i));
    }
    out
}

fn notify_users(n: &Notify) -> Option<String> {
    let r = &n.run_as;
    let written = [
        (&n.master, &r.master),
        (&n.backup, &r.backup),
        (&n.fault, &r.fault),
        (&n.stop, &r.stop),
        (&n.any, &r.any),
    ];
    let mut users: Vec<String> = written
        .iter()
        .filter(|(script, _)| script.is_some())
        .map(|(_, run_as)| who(run_as))
        .collect();
    users.sort();
    users.dedup();
    (!users.is_empty()).then(|| format!("notify programs run as {}", users.join(", ")))
}

fn instance(i: &Instance) -> String {
    let auth = match (&i.auth_hmac, i.auth_pass) {
        (Some(h), _) => format!(
            "auth_hmac ({} key(s), active {}, {}, anti-replay {})",
            h.keys.len(),
            h.active_key,
            match h.mode {
                Mode::Enforce => "enforce",
                Mode::Permissive => "permissive",
                Mode::ReceiveOnly => "receive-only",
            },
            match h.anti_replay {
                AntiReplay::Time { window_s } => format!("time window {window_s} s"),
                AntiReplay::Monotonic => "monotonic".to_string(),
            }
        ),
        (None, Some(_)) => "authentication PASS (VRRPv2, plaintext on the wire)".to_string(),
        (None, None) => "no authentication".to_string(),
    };
    let heard = if i.unicast_peers.is_empty() {
        "multicast: adverts must arrive with TTL 255 (on-link only)".to_string()
    } else {
        let peers: Vec<String> = i
            .unicast_peers
            .iter()
            .zip(
                i.unicast_peer_ttl
                    .iter()
                    .chain(std::iter::repeat(&(0, 255))),
            )
            .map(|(p, (lo, hi))| {
                if (*lo, *hi) == (0, 255) {
                    p.to_string()
                } else {
                    format!("{p} (TTL {lo}..{hi})")
                }
            })
            .collect();
        format!(
            "unicast: only adverts from {} are heard (others dropped in XDP, counted not_peer){}",
            peers.join(", "),
            i.unicast_ttl
                .map(|t| format!(", sent with TTL {t}"))
                .unwrap_or_default()
        )
    };
    let mut parts = vec![auth, heard];
    if i.strict {
        parts.push("strict mode".to_string());
    }
    parts.push(if i.accept { "accept" } else { "no_accept" }.to_string());
    if let Some(n) = notify_users(&i.notify) {
        parts.push(n);
    }
    format!("vrrp_instance {}: {}", i.name, parts.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_names_script_security_users_authentication_and_who_is_heard() {
        let text = "global_defs {\n  script_user root\n  enable_script_security\n}\n\
            vrrp_script chk {\n  script \"/usr/bin/true\"\n}\n\
            vrrp_instance VI_1 {\n  interface eth0\n  virtual_router_id 52\n  priority 100\n  advert_int 1\n\
              unicast_src_ip 10.9.0.1\n  unicast_peer {\n    10.9.0.2 min_ttl 250 max_ttl 255\n  }\n\
              authentication {\n    auth_type PASS\n    auth_pass secret\n  }\n\
              track_script {\n    chk\n  }\n  virtual_ipaddress {\n    10.9.0.100/24\n  }\n}\n";
        let loaded = crate::config::load_str(text, std::path::Path::new("k.conf"))
            .map_err(|e| format!("{e:?}"))
            .unwrap();
        let lines = summary(&loaded.config);
        assert!(
            lines[0].starts_with("enable_script_security on"),
            "{lines:?}"
        );
        assert!(
            lines
                .iter()
                .any(|l| l == "vrrp_script chk runs as root (uid 0)"),
            "{lines:?}"
        );
        let vi = lines
            .iter()
            .find(|l| l.starts_with("vrrp_instance VI_1"))
            .unwrap();
        assert!(
            vi.contains("authentication PASS (VRRPv2, plaintext on the wire)"),
            "{vi}"
        );
        assert!(
            vi.contains("only adverts from 10.9.0.2 (TTL 250..255) are heard"),
            "{vi}"
        );
    }
}

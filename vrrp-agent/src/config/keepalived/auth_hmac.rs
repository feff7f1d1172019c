//! keepalived 2.4's `auth_hmac { key ID hex:HEX|file:PATH|TEXT; active_key ID;
//! anti_replay time|monotonic; time_window S; mode enforce|permissive|receive-only }`
//! (docs/auth-hmac.md), inside `vrrp_instance`.

use super::super::draft::{DraftInstance, Located};
use super::super::syntax::Statement;
use super::reader::Reader;
use crate::proto::auth_hmac::{AntiReplay, AuthHmac, Mode, KEY_MAX, KEY_MIN};

pub fn read(r: &mut Reader, stmt: &Statement, d: &mut DraftInstance) {
    let mut cfg = AuthHmac {
        keys: Vec::new(),
        active_key: 0,
        mode: Mode::Enforce,
        anti_replay: AntiReplay::Time { window_s: 0 },
    };
    let mut window = None;
    let mut time = true;
    for s in r.block(stmt, "`auth_hmac { key 1 hex:...  active_key 1 }`") {
        match s.name() {
            "key" => key(r, s, &mut cfg),
            "active_key" => match r.int(s, "a key id 1..255") {
                Some(v) if (1..=255).contains(&v.value) => cfg.active_key = v.value as u8,
                Some(v) => r.diag.error(
                    s.location(),
                    format!("auth_hmac active_key {} must be 1..255", v.value),
                ),
                None => {}
            },
            "anti_replay" => match r.value(s, "time or monotonic") {
                Some("time") => time = true,
                Some("monotonic") => time = false,
                Some(other) => r.diag.error(
                    s.location(),
                    format!("auth_hmac anti_replay `{other}`: expected time or monotonic"),
                ),
                None => {}
            },
            "time_window" => match r.int(s, "seconds 1..300") {
                Some(v) if (1..=300).contains(&v.value) => window = Some(v.value as u16),
                Some(v) => r.diag.error(
                    s.location(),
                    format!("auth_hmac time_window {} must be 1..300 seconds", v.value),
                ),
                None => {}
            },
            "mode" => match r.value(s, "enforce, permissive or receive-only") {
                Some("enforce") => cfg.mode = Mode::Enforce,
                Some("permissive") => cfg.mode = Mode::Permissive,
                Some("receive-only") => cfg.mode = Mode::ReceiveOnly,
                Some(other) => r.diag.error(
                    s.location(),
                    format!(
                        "auth_hmac mode `{other}`: expected enforce, permissive or receive-only"
                    ),
                ),
                None => {}
            },
            _ => r.unsupported(s),
        }
    }
    cfg.anti_replay = if time {
        AntiReplay::Time {
            window_s: window.unwrap_or(0),
        }
    } else {
        AntiReplay::Monotonic
    };
    d.auth_hmac_window_unset = window.is_none();
    let cfg = Some(Located::new(cfg, stmt.location()));
    r.set(&mut d.auth_hmac, cfg, stmt);
}

/// `key ID VALUE`; the value is never repeated in a message.
fn key(r: &mut Reader, s: &Statement, cfg: &mut AuthHmac) {
    if !r.no_block(s) {
        return;
    }
    let (Some(id), Some(value)) = (s.args.first(), s.args.get(1)) else {
        r.diag
            .error(s.location(), "auth_hmac key needs an id and a value");
        return;
    };
    let Some(id) = id.text.parse::<u8>().ok().filter(|&i| i >= 1) else {
        r.diag.error(
            s.location(),
            format!("auth_hmac key id `{}` must be 1..255", id.text),
        );
        return;
    };
    match key_bytes(&value.text) {
        Ok(_) if cfg.keys.iter().any(|(k, _)| *k == id) => r
            .diag
            .error(s.location(), format!("auth_hmac key {id} is defined twice")),
        Ok(bytes) => cfg.keys.push((id, bytes)),
        Err(e) => r
            .diag
            .error(s.location(), format!("auth_hmac key {id}: {e}")),
    }
}

/// An `auth_hmac` key value: `hex:` bytes, `file:PATH` (holding either form, its line end
/// dropped; refused when others may read it), or the text itself.
pub fn key_bytes(value: &str) -> Result<Vec<u8>, String> {
    use std::os::unix::fs::MetadataExt;
    let text;
    let value = match value.strip_prefix("file:") {
        Some(path) => {
            let meta = std::fs::metadata(path).map_err(|e| format!("{path}: {e}"))?;
            if meta.mode() & 0o077 != 0 {
                return Err(format!(
                    "{path} is readable by group or others (chmod 600 it)"
                ));
            }
            text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
            text.trim_end_matches(['\n', '\r'])
        }
        None => value,
    };
    let bytes = match value.strip_prefix("hex:") {
        Some(hex) => {
            if hex.len() % 2 != 0 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err("`hex:` needs an even number of hex digits".into());
            }
            (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap_or(0))
                .collect()
        }
        None => value.as_bytes().to_vec(),
    };
    if !(KEY_MIN..=KEY_MAX).contains(&bytes.len()) {
        return Err(format!(
            "{} bytes; keys are {KEY_MIN} to {KEY_MAX} bytes",
            bytes.len()
        ));
    }
    Ok(bytes)
}

//! `auth_hmac`: the authenticated trailer of draft-cassen-vrrp-auth-hmac, as keepalived 2.4
//! sends and checks it (docs/auth-hmac.md). Pure: keys, the message bytes and the UTC time
//! come in as arguments; the trailer or a verdict goes out.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  Scheme (1)   |    Key ID     |        Reserved (0)           |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                   Seconds (UTC, since 1970)                   |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     Fraction (1/65536 s)      |           Counter             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |            HMAC-SHA256, first 16 bytes (4 words)              |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! The HMAC input is a 20-byte pseudo-header (family 4 or 6, VRRP version, VRID, a zero,
//! the source address zero padded to 16 bytes), the VRRP message with its checksum read as
//! zero, the trailer's first 12 bytes and 16 zero bytes where the HMAC goes. The IP header
//! is left out (TTL and destination differ between copies); binding family, version, VRID
//! and source stops an advert signed for one router being replayed as another's.

use std::net::IpAddr;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use vrrp_ebpf::abi::{
    Event, Reason, EVENT_ADDR_BYTES, FAMILY_V4, HMAC_SCHEME_SHA256_128, HMAC_TRAILER_LEN,
};

/// Bytes of the truncated HMAC at the end of the trailer.
pub const HMAC_LEN: usize = 16;
/// Key lengths keepalived accepts: 32 bytes at least (a 128-bit margin), 64 at most.
pub const KEY_MIN: usize = 32;
pub const KEY_MAX: usize = 64;
/// `time_window` bounds in seconds, and the floor of the window derived from the interval.
pub const WINDOW_MIN: u16 = 1;
pub const WINDOW_MAX: u16 = 300;
pub const WINDOW_FLOOR: u16 = 5;
/// Multicast senders remembered for anti-replay: more than one only while routers contend.
const MULTICAST_SENDERS: usize = 4;

/// `auth_hmac { mode }`: the rollout steps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Verify a trailer that is present, accept adverts without one, send none: a group
    /// gains verification before anyone signs.
    ReceiveOnly,
    /// Sign, verify a trailer that is present, accept adverts without one.
    Permissive,
    /// Sign; an advert without a valid trailer is dropped (the default).
    Enforce,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::ReceiveOnly => "receive-only",
            Mode::Permissive => "permissive",
            Mode::Enforce => "enforce",
        }
    }

    pub fn signs(self) -> bool {
        self != Mode::ReceiveOnly
    }
}

/// `auth_hmac { anti_replay }`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AntiReplay {
    /// Timestamps within `window_s` of our clock, and strictly growing per sender.
    Time { window_s: u16 },
    /// Strictly growing per sender only (no clock agreement needed).
    Monotonic,
}

/// The configured extension of one instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthHmac {
    /// (id 1..=255, 32..=64 bytes), ids distinct.
    pub keys: Vec<(u8, Vec<u8>)>,
    /// The key id we sign with; receivers accept any key they hold, so rotation is: add
    /// the new key everywhere, move `active_key`, then remove the old key.
    pub active_key: u8,
    pub mode: Mode,
    pub anti_replay: AntiReplay,
}

impl AuthHmac {
    /// keepalived's window when `time_window` is not written: three advert intervals in
    /// whole seconds, at least 5 s, at most 300 s.
    pub fn default_window(advert_int_cs: u16) -> u16 {
        (3 * (advert_int_cs / 100)).clamp(WINDOW_FLOOR, WINDOW_MAX)
    }

    fn key(&self, id: u8) -> Option<&[u8]> {
        self.keys
            .iter()
            .find(|(k, _)| *k == id)
            .map(|(_, b)| b.as_slice())
    }
}

/// What the HMAC binds besides the message: the advert's family, version, VRID and source.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Binding {
    pub version: u8,
    pub vrid: u8,
    pub src: IpAddr,
}

impl Binding {
    fn pseudo(&self) -> [u8; 20] {
        let mut p = [0u8; 20];
        p[1] = self.version;
        p[2] = self.vrid;
        match self.src {
            IpAddr::V4(a) => {
                p[0] = 4;
                p[4..8].copy_from_slice(&a.octets());
            }
            IpAddr::V6(a) => {
                p[0] = 6;
                p[4..20].copy_from_slice(&a.octets());
            }
        }
        p
    }
}

/// The HMAC of a message (`msg`, checksum ignored) under `key` with the trailer prefix
/// `head` (scheme, key id, reserved, sequence).
fn mac(key: &[u8], b: &Binding, msg: &[u8], head: &[u8; 12]) -> Hmac<Sha256> {
    // Any key length is valid for HMAC (RFC 2104 §3); lengths are checked at config time.
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    m.update(&b.pseudo());
    if msg.len() >= 8 {
        m.update(&msg[..6]);
        m.update(&[0, 0]);
        m.update(&msg[8..]);
    } else {
        m.update(msg);
    }
    m.update(head);
    m.update(&[0u8; HMAC_LEN]);
    m
}

/// The 64-bit sequence of a trailer: seconds, fraction, counter.
fn sequence(head: &[u8]) -> u64 {
    let sec = u32::from_be_bytes([head[4], head[5], head[6], head[7]]) as u64;
    let frac = u16::from_be_bytes([head[8], head[9]]) as u64;
    let ctr = u16::from_be_bytes([head[10], head[11]]) as u64;
    (sec << 32) | (frac << 16) | ctr
}

/// RFC 1982 serial-number order over the 64-bit sequence, so a wrap does not stall it.
fn after(a: u64, b: u64) -> bool {
    (a.wrapping_sub(b) as i64) > 0
}

/// A UTC time in nanoseconds as a sequence: seconds, 1/65536 s, counter 0.
fn clock_sequence(utc_ns: u64) -> u64 {
    let sec = (utc_ns / 1_000_000_000) as u32 as u64;
    let frac = ((utc_ns % 1_000_000_000) << 16) / 1_000_000_000;
    (sec << 32) | (frac << 16)
}

/// The sending side: the last sequence used.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Signer {
    last: u64,
}

impl Signer {
    /// The trailer for `msg` (the whole VRRP message; its checksum is ignored), or `None`
    /// when this mode sends none. One logical advert is signed once: its copies to several
    /// unicast peers carry the same trailer (the destination is not bound).
    pub fn sign(
        &mut self,
        cfg: &AuthHmac,
        b: &Binding,
        msg: &[u8],
        utc_ns: u64,
    ) -> Option<[u8; HMAC_TRAILER_LEN]> {
        if !cfg.mode.signs() {
            return None;
        }
        let clock = clock_sequence(utc_ns);
        self.last = if after(clock, self.last) {
            clock
        } else {
            // The clock has not moved past our last sequence: count on. In time mode a
            // sequence stranded beyond the window (the clock was stepped back) restarts
            // from the clock, or every receiver would call it stale.
            let ahead = ((self.last >> 32) as u32).wrapping_sub((clock >> 32) as u32) as i32;
            match cfg.anti_replay {
                AntiReplay::Time { window_s } if ahead > window_s as i32 => clock,
                _ => self.last.wrapping_add(1),
            }
        };
        let mut head = [0u8; 12];
        head[0] = HMAC_SCHEME_SHA256_128;
        head[1] = cfg.active_key;
        head[4..8].copy_from_slice(&((self.last >> 32) as u32).to_be_bytes());
        head[8..10].copy_from_slice(&((self.last >> 16) as u16).to_be_bytes());
        head[10..12].copy_from_slice(&(self.last as u16).to_be_bytes());
        let mut out = [0u8; HMAC_TRAILER_LEN];
        out[..12].copy_from_slice(&head);
        // Without the active key (refused at config time) the HMAC stays zero, which no
        // receiver accepts.
        if let Some(key) = cfg.key(cfg.active_key) {
            let digest = mac(key, b, msg, &head).finalize().into_bytes();
            out[12..].copy_from_slice(&digest[..HMAC_LEN]);
        }
        Some(out)
    }
}

/// Why a received advert was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reject {
    /// No trailer, and the mode is `enforce`.
    Missing,
    /// Unknown scheme or non-zero reserved bytes.
    Malformed,
    UnknownKey,
    /// The HMAC does not verify.
    BadHmac,
    /// Timestamp outside the window (`anti_replay time`).
    Stale,
    /// Sequence not newer than the last one verified from this sender.
    Replay,
}

/// What verification concluded about an advert that passed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Accepted {
    /// A valid trailer under this key id.
    Signed { key_id: u8 },
    /// No trailer, allowed by `receive-only` / `permissive`.
    Unsigned,
}

/// The receiving side: the latest sequence verified from each sender.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Verifier {
    /// (source, last sequence), most recently used last. Entries are made only after an
    /// HMAC verified, so forged sources cannot churn it.
    senders: Vec<(IpAddr, u64)>,
    /// How many senders to remember: the unicast peers, or a few for multicast.
    capacity: usize,
}

impl Verifier {
    /// A verifier remembering `peers` senders (at least a few, for multicast).
    pub fn new(peers: usize) -> Verifier {
        Verifier {
            senders: Vec::new(),
            capacity: peers.max(MULTICAST_SENDERS),
        }
    }

    /// Check one received advert: `msg` is the VRRP message (header, addresses, v2
    /// authentication data), `trailer` the 28 bytes after it if there were any.
    pub fn verify(
        &mut self,
        cfg: &AuthHmac,
        b: &Binding,
        msg: &[u8],
        trailer: Option<&[u8; HMAC_TRAILER_LEN]>,
        utc_ns: u64,
    ) -> Result<Accepted, Reject> {
        let Some(t) = trailer else {
            return match cfg.mode {
                Mode::Enforce => Err(Reject::Missing),
                Mode::Permissive | Mode::ReceiveOnly => Ok(Accepted::Unsigned),
            };
        };
        if t[0] != HMAC_SCHEME_SHA256_128 || t[2] != 0 || t[3] != 0 {
            return Err(Reject::Malformed);
        }
        let seq = sequence(t);
        let now_s = (utc_ns / 1_000_000_000) as u32;
        // The cheap check first: a flood of old captures costs no digest each. It only
        // rejects; nothing is remembered until the HMAC verified.
        if let AntiReplay::Time { window_s } = cfg.anti_replay {
            let skew = now_s.wrapping_sub((seq >> 32) as u32) as i32;
            if skew.unsigned_abs() > window_s as u32 {
                return Err(Reject::Stale);
            }
        }
        let key_id = t[1];
        let key = cfg.key(key_id).ok_or(Reject::UnknownKey)?;
        let mut head = [0u8; 12];
        head.copy_from_slice(&t[..12]);
        // Constant time: `verify_truncated_left` compares through `subtle`.
        mac(key, b, msg, &head)
            .verify_truncated_left(&t[12..])
            .map_err(|_| Reject::BadHmac)?;
        self.advance(cfg, b.src, seq, now_s)?;
        Ok(Accepted::Signed { key_id })
    }

    /// Raise the sender's high-water mark, refusing a sequence that does not grow.
    fn advance(&mut self, cfg: &AuthHmac, src: IpAddr, seq: u64, now_s: u32) -> Result<(), Reject> {
        let pos = self.senders.iter().position(|(a, _)| *a == src);
        if let Some(i) = pos {
            let (_, mark) = self.senders[i];
            // In time mode a mark outside the window orders nothing the window lets in;
            // dropping it lets a sender whose clock was stepped back be heard again.
            let expired = match cfg.anti_replay {
                AntiReplay::Time { window_s } => {
                    let age = now_s.wrapping_sub((mark >> 32) as u32) as i32;
                    age.unsigned_abs() > window_s as u32
                }
                AntiReplay::Monotonic => false,
            };
            if !expired && !after(seq, mark) {
                return Err(Reject::Replay);
            }
            self.senders.remove(i);
        } else if self.senders.len() >= self.capacity {
            self.senders.remove(0);
        }
        self.senders.push((src, seq));
        Ok(())
    }
}

/// One instance's sending and receiving state.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HmacState {
    pub signer: Signer,
    pub verifier: Verifier,
}

impl HmacState {
    pub fn new(peers: usize) -> HmacState {
        HmacState {
            signer: Signer::default(),
            verifier: Verifier::new(peers),
        }
    }

    /// Check an accepted advert as the receive path reported it, before the state
    /// machine sees it. `Ok` when the instance has no `auth_hmac`.
    pub fn check_event(
        &mut self,
        cfg: Option<&AuthHmac>,
        ev: &Event,
        src: IpAddr,
        utc_ns: u64,
    ) -> Result<Accepted, Reject> {
        let Some(cfg) = cfg else {
            return Ok(Accepted::Unsigned);
        };
        let b = Binding {
            version: ev.version,
            vrid: ev.vrid,
            src,
        };
        let trailer = (ev.signed != 0).then_some(&ev.trailer);
        let width = if ev.family == FAMILY_V4 { 4 } else { 16 };
        let addrs = ev.addr_count as usize * width;
        if trailer.is_some() && addrs > EVENT_ADDR_BYTES {
            // The event holds only the first addresses; the HMAC covers them all.
            return Err(Reject::BadHmac);
        }
        let mut msg = ev.hdr.to_vec();
        msg.extend_from_slice(&ev.addrs[..addrs.min(EVENT_ADDR_BYTES)]);
        if ev.version == 2 {
            // auth_hmac replaces v2 authentication, whose 8 bytes are then sent as zeros.
            msg.extend_from_slice(&[0; 8]);
        }
        self.verifier.verify(cfg, &b, &msg, trailer, utc_ns)
    }
}

impl Reject {
    /// The receive counter a refusal is moved to.
    pub fn reason(self) -> Reason {
        match self {
            Reject::Missing | Reject::Malformed | Reject::UnknownKey => Reason::HmacTrailer,
            Reject::BadHmac => Reason::HmacInvalid,
            Reject::Stale => Reason::HmacStale,
            Reject::Replay => Reason::HmacReplay,
        }
    }
}

#[cfg(test)]
#[path = "auth_hmac_tests.rs"]
mod tests;

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
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// The key of the draft's appendix vectors: bytes 00..1f.
    fn draft_cfg() -> AuthHmac {
        AuthHmac {
            keys: vec![(1, (0u8..32).collect())],
            active_key: 1,
            mode: Mode::Enforce,
            // The vectors' timestamps lie outside any live window.
            anti_replay: AntiReplay::Monotonic,
        }
    }

    /// (message, trailer) of a wire image.
    fn split(img: &[u8], msg_len: usize) -> (Vec<u8>, [u8; HMAC_TRAILER_LEN]) {
        (img[..msg_len].to_vec(), img[msg_len..].try_into().unwrap())
    }

    const IPV4_VECTOR: &str = concat!(
        "3133c80100644402c0000264",
        "010100006800000080000000",
        "1b84bc4e8e43892dc6d98448f8ee2265"
    );
    const IPV6_VECTOR: &str = concat!(
        "3133c8010064a2e9",
        "fe800000000000000000000000000100",
        "010100006800000080000000",
        "c8c56146ebfd66ee10ec4d8186461b78"
    );

    fn v4_binding() -> Binding {
        Binding {
            version: 3,
            vrid: 51,
            src: "198.51.100.10".parse().unwrap(),
        }
    }

    fn v6_binding() -> Binding {
        Binding {
            version: 3,
            vrid: 51,
            src: "fe80::10".parse().unwrap(),
        }
    }

    #[test]
    fn the_drafts_ipv4_and_ipv6_appendix_vectors_verify() {
        let cfg = draft_cfg();
        let (m4, t4) = split(&hex(IPV4_VECTOR), 12);
        let (m6, t6) = split(&hex(IPV6_VECTOR), 24);
        let r4 = Verifier::new(1).verify(&cfg, &v4_binding(), &m4, Some(&t4), 0);
        let r6 = Verifier::new(1).verify(&cfg, &v6_binding(), &m6, Some(&t6), 0);
        assert_eq!(r4, Ok(Accepted::Signed { key_id: 1 }));
        assert_eq!(r6, Ok(Accepted::Signed { key_id: 1 }));
    }

    #[test]
    fn signing_the_vectors_message_at_its_sequence_reproduces_its_trailer_byte_for_byte() {
        let cfg = draft_cfg();
        let img = hex(IPV6_VECTOR);
        let (msg, trailer) = split(&img, 24);
        // Sequence 0x68000000_8000_0000: 0x68000000 s and half a second.
        let utc_ns = 0x6800_0000u64 * 1_000_000_000 + 500_000_000;
        let got = Signer::default().sign(&cfg, &v6_binding(), &msg, utc_ns);
        assert_eq!(got, Some(trailer));
        let img4 = hex(IPV4_VECTOR);
        let (msg4, trailer4) = split(&img4, 12);
        let got4 = Signer::default().sign(&cfg, &v4_binding(), &msg4, utc_ns);
        assert_eq!(got4, Some(trailer4));
    }

    #[test]
    fn one_flipped_bit_anywhere_but_the_checksum_is_refused_for_its_reason() {
        let cfg = draft_cfg();
        let img = hex(IPV6_VECTOR);
        let cases = [
            (2, Err(Reject::BadHmac)),               // priority
            (5, Err(Reject::BadHmac)),               // advert interval
            (6, Ok(Accepted::Signed { key_id: 1 })), // checksum: not covered
            (8 + 15, Err(Reject::BadHmac)),          // the address
            (24, Err(Reject::Malformed)),            // scheme
            (25, Err(Reject::UnknownKey)),           // key id
            (26, Err(Reject::Malformed)),            // reserved
            (28, Err(Reject::BadHmac)),              // seconds
            (34, Err(Reject::BadHmac)),              // counter
            (36, Err(Reject::BadHmac)),              // the HMAC itself
        ];
        for (off, want) in cases {
            let mut b = img.clone();
            b[off] ^= 1;
            let (m, t) = split(&b, 24);
            let got = Verifier::new(1).verify(&cfg, &v6_binding(), &m, Some(&t), 0);
            assert_eq!(got, want, "byte {off} flipped");
        }
    }

    #[test]
    fn the_source_and_the_vrid_are_bound_into_the_hmac() {
        let cfg = draft_cfg();
        let (m, t) = split(&hex(IPV6_VECTOR), 24);
        let other_src = Binding {
            src: "fe80::20".parse().unwrap(),
            ..v6_binding()
        };
        let other_vrid = Binding {
            vrid: 52,
            ..v6_binding()
        };
        let mut v = Verifier::new(1);
        assert_eq!(
            v.verify(&cfg, &other_src, &m, Some(&t), 0),
            Err(Reject::BadHmac)
        );
        assert_eq!(
            v.verify(&cfg, &other_vrid, &m, Some(&t), 0),
            Err(Reject::BadHmac)
        );
    }

    #[test]
    fn a_replayed_advert_is_refused_and_a_second_receiver_accepts_the_same_copy() {
        let cfg = draft_cfg();
        let (m, t) = split(&hex(IPV6_VECTOR), 24);
        let mut a = Verifier::new(1);
        assert!(a.verify(&cfg, &v6_binding(), &m, Some(&t), 0).is_ok());
        assert_eq!(
            a.verify(&cfg, &v6_binding(), &m, Some(&t), 0),
            Err(Reject::Replay)
        );
        assert!(Verifier::new(1)
            .verify(&cfg, &v6_binding(), &m, Some(&t), 0)
            .is_ok());
    }

    fn time_cfg() -> AuthHmac {
        AuthHmac {
            anti_replay: AntiReplay::Time { window_s: 5 },
            ..draft_cfg()
        }
    }

    const NOW: u64 = 1_800_000_000 * 1_000_000_000;

    #[test]
    fn timestamps_outside_the_window_are_stale_in_either_direction() {
        let cfg = time_cfg();
        let msg = hex(IPV4_VECTOR)[..12].to_vec();
        for sent in [NOW - 100_000_000_000, NOW + 100_000_000_000] {
            let t = Signer::default()
                .sign(&cfg, &v4_binding(), &msg, sent)
                .unwrap();
            let got = Verifier::new(1).verify(&cfg, &v4_binding(), &msg, Some(&t), NOW);
            assert_eq!(got, Err(Reject::Stale));
        }
        let t = Signer::default()
            .sign(&cfg, &v4_binding(), &msg, NOW - 4_000_000_000)
            .unwrap();
        assert!(Verifier::new(1)
            .verify(&cfg, &v4_binding(), &msg, Some(&t), NOW)
            .is_ok());
    }

    #[test]
    fn sequences_grow_within_one_clock_reading_and_after_a_step_back_in_time_mode() {
        let cfg = time_cfg();
        let msg = hex(IPV4_VECTOR)[..12].to_vec();
        let mut s = Signer::default();
        let a = s.sign(&cfg, &v4_binding(), &msg, NOW).unwrap();
        let b = s.sign(&cfg, &v4_binding(), &msg, NOW).unwrap();
        assert!(after(sequence(&b), sequence(&a)));
        assert_eq!(sequence(&b) - sequence(&a), 1);
        // Clock stepped back an hour: time mode restarts from the clock.
        let c = s
            .sign(&cfg, &v4_binding(), &msg, NOW - 3_600_000_000_000)
            .unwrap();
        assert_eq!(sequence(&c) >> 32, (NOW / 1_000_000_000) - 3600);
        // Monotonic mode keeps counting up instead.
        let mono = draft_cfg();
        let mut m = Signer::default();
        let d = m.sign(&mono, &v4_binding(), &msg, NOW).unwrap();
        let e = m
            .sign(&mono, &v4_binding(), &msg, NOW - 3_600_000_000_000)
            .unwrap();
        assert_eq!(sequence(&e), sequence(&d) + 1);
    }

    #[test]
    fn a_receivers_mark_stranded_beyond_the_window_expires_in_time_mode_only() {
        let msg = hex(IPV4_VECTOR)[..12].to_vec();
        let cfg = time_cfg();
        let mut v = Verifier::new(1);
        let future = Signer::default()
            .sign(&cfg, &v4_binding(), &msg, NOW + 4_000_000_000)
            .unwrap();
        assert!(v
            .verify(&cfg, &v4_binding(), &msg, Some(&future), NOW)
            .is_ok());
        // Ten seconds on, a sender restarted at the true time is heard again.
        let later = NOW + 10_000_000_000;
        let fresh = Signer::default()
            .sign(&cfg, &v4_binding(), &msg, later - 1_000_000_000)
            .unwrap();
        assert!(v
            .verify(&cfg, &v4_binding(), &msg, Some(&fresh), later)
            .is_ok());
    }

    #[test]
    fn modes_decide_what_is_sent_and_whether_unsigned_adverts_pass() {
        let msg = hex(IPV4_VECTOR)[..12].to_vec();
        for (mode, signs, unsigned) in [
            (Mode::ReceiveOnly, false, Ok(Accepted::Unsigned)),
            (Mode::Permissive, true, Ok(Accepted::Unsigned)),
            (Mode::Enforce, true, Err(Reject::Missing)),
        ] {
            let cfg = AuthHmac {
                mode,
                ..draft_cfg()
            };
            let t = Signer::default().sign(&cfg, &v4_binding(), &msg, NOW);
            assert_eq!(t.is_some(), signs, "{}", mode.name());
            let got = Verifier::new(1).verify(&cfg, &v4_binding(), &msg, None, NOW);
            assert_eq!(got, unsigned, "{}", mode.name());
        }
    }

    #[test]
    fn during_rotation_a_receiver_holding_both_keys_accepts_either() {
        let msg = hex(IPV4_VECTOR)[..12].to_vec();
        let both = AuthHmac {
            keys: vec![(1, vec![0x11; 32]), (2, vec![0x22; 40])],
            ..draft_cfg()
        };
        let old = AuthHmac {
            keys: vec![(1, vec![0x11; 32])],
            ..draft_cfg()
        };
        let new = AuthHmac {
            keys: vec![(2, vec![0x22; 40])],
            active_key: 2,
            ..draft_cfg()
        };
        let mut v = Verifier::new(1);
        let t1 = Signer::default()
            .sign(&old, &v4_binding(), &msg, NOW)
            .unwrap();
        let t2 = Signer::default()
            .sign(&new, &v4_binding(), &msg, NOW + 1_000_000)
            .unwrap();
        assert_eq!(
            v.verify(&both, &v4_binding(), &msg, Some(&t1), NOW),
            Ok(Accepted::Signed { key_id: 1 })
        );
        assert_eq!(
            v.verify(&both, &v4_binding(), &msg, Some(&t2), NOW),
            Ok(Accepted::Signed { key_id: 2 })
        );
        assert_eq!(
            Verifier::new(1).verify(&old, &v4_binding(), &msg, Some(&t2), NOW),
            Err(Reject::UnknownKey)
        );
    }

    #[test]
    fn the_window_defaults_to_three_intervals_between_five_and_three_hundred_seconds() {
        assert_eq!(AuthHmac::default_window(100), 5);
        assert_eq!(AuthHmac::default_window(1000), 30);
        assert_eq!(AuthHmac::default_window(4095), 120);
        assert_eq!(AuthHmac::default_window(1), 5);
    }
}

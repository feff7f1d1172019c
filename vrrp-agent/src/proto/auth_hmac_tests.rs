//! Tests of `auth_hmac.rs`, kept beside it so the module itself stays readable.

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

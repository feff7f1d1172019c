//! The Internet checksum (RFC 1071), the one implementation every part of vrrpx uses: the
//! receive checks (in XDP and on the raw socket), the advert encoder, the Neighbour
//! Advertisement builder and the test frame builders.
//!
//! A sum is a 32-bit accumulator of big-endian 16-bit words; [`fold`] brings it to 16 bits
//! and [`finish`] gives the value written into a header. Every helper is bounded by its
//! input's length, allocates nothing and cannot panic, so the XDP program can use them.

/// Fold a 32-bit one's-complement accumulator to 16 bits (RFC 1071 §4.1: add the carries
/// back in). Two rounds suffice: the first leaves at most 0x1fffe.
#[inline(always)]
pub const fn fold(mut s: u32) -> u16 {
    s = (s & 0xffff) + (s >> 16);
    s = (s & 0xffff) + (s >> 16);
    s as u16
}

/// The checksum field for data whose words (and pseudo-header) sum to `s`.
#[inline(always)]
pub const fn finish(s: u32) -> u16 {
    !fold(s)
}

/// Whether data that carries its own checksum verifies: its sum folds to all ones.
#[inline(always)]
pub const fn verifies(s: u32) -> bool {
    fold(s) == 0xffff
}

/// Sum of the big-endian 16-bit words of `b`; an odd last byte is padded with zero
/// (RFC 1071 §4.1). The result is folded to 17 bits so sums of many buffers can be added
/// without overflow.
#[inline(always)]
pub fn sum(b: &[u8]) -> u32 {
    let mut s = 0u32;
    let mut words = b.chunks_exact(2);
    for w in &mut words {
        s += u16::from_be_bytes([w[0], w[1]]) as u32;
        // 65535 words of 0xffff would carry out of 32 bits: fold every so often.
        if s >= 0x8000_0000 {
            s = fold(s) as u32;
        }
    }
    if let [last] = words.remainder() {
        s += (*last as u32) << 8;
    }
    (s & 0xffff) + (s >> 16)
}

/// Sum of a 4-byte (IPv4) or 16-byte (IPv6) address, word by word with a constant bound
/// (the form the eBPF verifier accepts without a slice iterator).
#[inline(always)]
pub fn sum_array<const N: usize>(b: &[u8; N]) -> u32 {
    let mut s = 0u32;
    let mut i = 0;
    while i + 1 < N {
        s += u16::from_be_bytes([b[i], b[i + 1]]) as u32;
        i += 2;
    }
    s
}

/// The pseudo-header an upper-layer checksum covers, without the length: source,
/// destination and protocol (RFC 768 for IPv4, RFC 8200 §8.1 for IPv6; VRRP v3 uses it,
/// RFC 5798 §5.2.8). Add the upper-layer length once it is known.
#[inline(always)]
pub fn pseudo_header<const N: usize>(src: &[u8; N], dst: &[u8; N], protocol: u8) -> u32 {
    sum_array(src) + sum_array(dst) + protocol as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 1071 §3's worked example: the words 0001 f203 f4f5 f6f7 sum to ddf2.
    #[test]
    fn the_rfc_1071_example_sums_to_ddf2() {
        let b = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(fold(sum(&b)), 0xddf2);
        assert_eq!(finish(sum(&b)), !0xddf2);
    }

    #[test]
    fn data_carrying_its_checksum_verifies_and_one_flipped_bit_does_not() {
        // An IPv4 header (Wikipedia's classic example) with checksum b861.
        let mut h = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        assert!(verifies(sum(&h)));
        h[19] ^= 1;
        assert!(!verifies(sum(&h)));
        h[19] ^= 1;
        h[10..12].copy_from_slice(&[0, 0]);
        assert_eq!(finish(sum(&h)), 0xb861);
    }

    #[test]
    fn an_odd_last_byte_is_padded_with_zero() {
        assert_eq!(sum(&[0x12, 0x34, 0x56]), 0x1234 + 0x5600);
    }

    #[test]
    fn a_maximal_buffer_of_ones_does_not_overflow() {
        let b = [0xffu8; 65536];
        assert_eq!(fold(sum(&b)), 0xffff);
    }

    #[test]
    fn the_pseudo_header_sums_addresses_and_protocol() {
        let s = pseudo_header(&[10, 0, 0, 1], &[224, 0, 0, 18], 112);
        assert_eq!(s, 0x0a00 + 0x0001 + 0xe000 + 0x0012 + 112);
        assert_eq!(sum_array(&[0u8; 16]), 0);
    }
}

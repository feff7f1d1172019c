//! Building VRRP advertisements (RFC 5798 §5.1, RFC 3768 §5.3). Parsing lives in the shared
//! classifier (`vrrp_ebpf::classify`), which both receive paths run.

use std::net::IpAddr;

use vrrp_ebpf::abi::Family;
use vrrp_ebpf::abi::HMAC_TRAILER_LEN;
use vrrp_ebpf::checksum;
use vrrp_ebpf::wire::{VrrpRepr, IPPROTO_VRRP, VRRP_CHECKSUM_OFF};

use crate::config::model::{ChecksumForm, Version};

/// One advertisement to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdvertOut {
    pub version: Version,
    pub vrid: u8,
    pub priority: u8,
    /// v3: Max Adver Int in centiseconds; v2: rounded up to whole seconds.
    pub interval_cs: u16,
    pub addrs: Vec<IpAddr>,
    /// v2 PASS authentication data.
    pub auth_pass: Option<[u8; 8]>,
}

fn addr_bytes(a: &IpAddr) -> Vec<u8> {
    match a {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    }
}

impl AdvertOut {
    /// The VRRP message with its checksum, for a packet from `src` to `dst`.
    pub fn emit(&self, src: IpAddr, dst: IpAddr, form: ChecksumForm) -> Vec<u8> {
        self.seal(self.body(), src, dst, form, None)
    }

    /// The VRRP message with a zero checksum: what an `auth_hmac` trailer signs (the
    /// checksum is outside the HMAC, so one signature serves every destination).
    pub fn body(&self) -> Vec<u8> {
        let (family, mut addrs) = match self.addrs.first() {
            Some(IpAddr::V6(_)) => (Family::V6, Vec::with_capacity(16 * self.addrs.len())),
            _ => (Family::V4, Vec::with_capacity(4 * self.addrs.len())),
        };
        // One family per message (RFC 5798 §5.2.9); the configuration never mixes them.
        let same_family = |a: &&IpAddr| a.is_ipv6() == (family == Family::V6);
        for a in self.addrs.iter().filter(same_family).take(255) {
            addrs.extend_from_slice(&addr_bytes(a));
        }
        let (version, interval, auth_type) = match self.version {
            // RFC 3768 §5.3.7: whole seconds.
            Version::V2 => (
                2,
                self.interval_cs.div_ceil(100).clamp(1, 255),
                u8::from(self.auth_pass.is_some()),
            ),
            Version::V3 => (3, self.interval_cs & 0x0fff, 0),
        };
        let repr = VrrpRepr {
            version,
            vrid: self.vrid,
            priority: self.priority,
            interval,
            auth_type,
            checksum: 0,
            family,
            addrs: &addrs,
            auth_data: self.auth_pass.unwrap_or([0; 8]),
        };
        let mut m = vec![0u8; repr.buffer_len()];
        m.reserve(HMAC_TRAILER_LEN);
        // Cannot fail: the buffer is the message's length and the list whole addresses.
        let _ = repr.emit(&mut m);
        m
    }

    /// `body` with its checksum for a packet from `src` to `dst`, and the `auth_hmac`
    /// trailer after it when there is one.
    pub fn seal(
        &self,
        mut m: Vec<u8>,
        src: IpAddr,
        dst: IpAddr,
        form: ChecksumForm,
        trailer: Option<&[u8; HMAC_TRAILER_LEN]>,
    ) -> Vec<u8> {
        // keepalived 2.4 (the reference for auth_hmac): over IPv4 the checksum covers the
        // message alone, the trailer following outside it; over IPv6 the transport checksum
        // covers the whole payload, trailer included.
        if let (true, Some(t)) = (src.is_ipv6(), trailer) {
            m.extend_from_slice(t);
        }
        let mut sum = checksum::sum(&m);
        // RFC 5798 §5.2.8: v3 includes the pseudo-header (always for IPv6; for IPv4 as
        // configured, see docs/rfc-index.md); RFC 3768 v2 never does.
        let pseudo = self.version == Version::V3 && (src.is_ipv6() || form == ChecksumForm::Pseudo);
        if pseudo {
            sum += checksum::sum(&addr_bytes(&src))
                + checksum::sum(&addr_bytes(&dst))
                + IPPROTO_VRRP as u32
                + m.len() as u32;
        }
        let c = checksum::finish(sum);
        m[VRRP_CHECKSUM_OFF..VRRP_CHECKSUM_OFF + 2].copy_from_slice(&c.to_be_bytes());
        if let (false, Some(t)) = (src.is_ipv6(), trailer) {
            m.extend_from_slice(t);
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::{Counters, PolicyTable};
    use crate::io::rawsock::process_frame;
    use vrrp_ebpf::abi::Reason;
    use vrrp_ebpf::classify::Verdict;

    /// An advert for 10.9.0.100 without a password.
    fn advert(version: Version, vrid: u8, priority: u8, interval_cs: u16) -> AdvertOut {
        AdvertOut {
            version,
            vrid,
            priority,
            interval_cs,
            addrs: vec!["10.9.0.100".parse().unwrap()],
            auth_pass: None,
        }
    }

    /// `advert`'s bytes as 10.9.0.1 sends them to 224.0.0.18.
    fn emitted(advert: &AdvertOut, form: ChecksumForm) -> Vec<u8> {
        advert.emit(
            "10.9.0.1".parse().unwrap(),
            "224.0.0.18".parse().unwrap(),
            form,
        )
    }

    /// Wrap a VRRP message in Ethernet + IPv4 so the shared classifier can judge it.
    fn frame_v4(msg: &[u8], src: [u8; 4]) -> Vec<u8> {
        let mut f = vec![1, 0, 0x5e, 0, 0, 0x12, 2, 0, 0, 0, 0, 1, 0x08, 0x00];
        let total = (20 + msg.len()) as u16;
        f.extend_from_slice(&[0x45, 0xc0]);
        f.extend_from_slice(&total.to_be_bytes());
        f.extend_from_slice(&[0, 0, 0, 0, 255, 112, 0, 0]);
        f.extend_from_slice(&src);
        f.extend_from_slice(&[224, 0, 0, 18]);
        f.extend_from_slice(msg);
        f
    }

    #[test]
    fn v3_advert_bytes_are_laid_out_as_rfc_5798_section_5_1_draws_them() {
        let m = emitted(&advert(Version::V3, 51, 150, 10), ChecksumForm::Pseudo);
        assert_eq!(&m[..6], &[0x31, 51, 150, 1, 0x00, 0x0a]);
        assert_eq!(&m[8..], &[10, 9, 0, 100]);
        let mut counters = Counters::default();
        let (v, ev) = process_frame(
            &frame_v4(&m, [10, 9, 0, 1]),
            1,
            0,
            &PolicyTable::monitor(1, &[]),
            &mut counters,
        );
        assert_eq!(
            v,
            Verdict::Vrrp {
                vrid: 51,
                reason: Reason::Accepted
            }
        );
        assert_eq!(ev.unwrap().csum_form, vrrp_ebpf::abi::CSUM_PSEUDO);
    }

    #[test]
    fn v3_plain_checksum_form_verifies_without_the_pseudo_header() {
        let m = emitted(&advert(Version::V3, 9, 100, 100), ChecksumForm::Plain);
        assert!(checksum::verifies(checksum::sum(&m)));
    }

    #[test]
    fn v2_advert_rounds_the_interval_up_to_seconds_and_appends_the_password() {
        let a = AdvertOut {
            auth_pass: Some(*b"secret!!"),
            ..advert(Version::V2, 52, 100, 150)
        };
        let m = emitted(&a, ChecksumForm::Pseudo);
        assert_eq!(&m[..6], &[0x21, 52, 100, 1, 1, 2]);
        assert_eq!(&m[12..], b"secret!!");
        assert!(
            checksum::verifies(checksum::sum(&m)),
            "v2 never uses the pseudo-header"
        );
    }
}

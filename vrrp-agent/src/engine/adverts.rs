//! Prebuilt adverts: an instance's advert bytes, one message per destination, encoded
//! and checksummed once and kept until what they carry changes (priority, source,
//! addresses, interval, destinations). A Master sending every 10 ms then only hands the
//! same bytes to the kernel.
//!
//! The checksum depends on the destination (the pseudo-header of RFC 5798 §5.2.8), so
//! there is one message per destination. `auth_hmac` adverts carry a timestamp and a
//! sequence number and are signed every time: they never come from here.

use std::net::IpAddr;

use crate::config::model::Instance;
use crate::proto::advert::AdvertOut;

/// The advert instance `cfg` sends with `priority` (RFC 5798 §5.2).
pub fn advert_for(cfg: &Instance, priority: u8) -> AdvertOut {
    AdvertOut {
        version: cfg.version,
        vrid: cfg.vrid,
        priority,
        interval_cs: cfg.advert_int_cs,
        addrs: cfg.virtual_addresses.iter().map(|v| v.addr).collect(),
        auth_pass: cfg.auth_pass,
    }
}

/// What the cached bytes were built from.
struct Built {
    advert: AdvertOut,
    src: IpAddr,
    checksum: crate::config::model::ChecksumForm,
    /// (destination, the complete VRRP message for it).
    messages: Vec<(IpAddr, Vec<u8>)>,
}

impl Built {
    /// Whether these bytes are still what `cfg` would send with `priority` from `src` to
    /// `dsts` (compared field by field: no advert is built to find out).
    fn still_fits(&self, cfg: &Instance, priority: u8, src: IpAddr, dsts: &[IpAddr]) -> bool {
        let a = &self.advert;
        a.priority == priority
            && self.src == src
            && self.checksum == cfg.checksum
            && a.version == cfg.version
            && a.vrid == cfg.vrid
            && a.interval_cs == cfg.advert_int_cs
            && a.auth_pass == cfg.auth_pass
            && a.addrs
                .iter()
                .eq(cfg.virtual_addresses.iter().map(|v| &v.addr))
            && self.messages.iter().map(|(d, _)| d).eq(dsts.iter())
    }
}

/// One instance's prebuilt adverts.
#[derive(Default)]
pub struct AdvertCache {
    built: Option<Built>,
    /// How many times the bytes were (re)built: once per change of what they carry.
    pub builds: u64,
}

impl AdvertCache {
    /// The messages `cfg` sends with `priority` from `src`, one per destination in
    /// `dsts`' order; encoded only when something they carry changed since last time.
    pub fn messages(
        &mut self,
        cfg: &Instance,
        priority: u8,
        src: IpAddr,
        dsts: &[IpAddr],
    ) -> &[(IpAddr, Vec<u8>)] {
        let fits = self
            .built
            .as_ref()
            .is_some_and(|b| b.still_fits(cfg, priority, src, dsts));
        if !fits {
            let advert = advert_for(cfg, priority);
            let body = advert.body();
            let messages = dsts
                .iter()
                .map(|&d| (d, advert.seal(body.clone(), src, d, cfg.checksum, None)))
                .collect();
            self.builds += 1;
            self.built = Some(Built {
                advert,
                src,
                checksum: cfg.checksum,
                messages,
            });
        }
        self.current()
    }

    /// The messages built last (none before the first [`messages`](Self::messages)).
    pub fn current(&self) -> &[(IpAddr, Vec<u8>)] {
        self.built.as_ref().map_or(&[], |b| &b.messages)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::model::ChecksumForm;
    use std::net::Ipv4Addr;

    /// One VRRPv3 instance with two addresses, parsed once from a keepalived.conf.
    fn instance() -> Instance {
        static PARSED: std::sync::OnceLock<Instance> = std::sync::OnceLock::new();
        PARSED
            .get_or_init(|| {
                let text = "vrrp_instance VI_1 {\n interface eth0\n version 3\n virtual_router_id 51\n priority 100\n advert_int 0.01\n virtual_ipaddress {\n 10.9.0.100/24\n 10.9.0.101/24\n }\n}\n";
                let dir = std::env::temp_dir().join(format!("vrrpx-adverts-{}", std::process::id()));
                std::fs::create_dir_all(&dir).unwrap();
                let path = dir.join("k.conf");
                std::fs::write(&path, text).unwrap();
                let loaded = crate::config::load(&path).map_err(|e| format!("{e:?}")).unwrap();
                loaded.config.instances[0].clone()
            })
            .clone()
    }

    const SRC: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 9, 0, 1));
    const GROUP: IpAddr = IpAddr::V4(Ipv4Addr::new(224, 0, 0, 18));
    const PEER: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 9, 0, 2));

    /// What the encoder gives for one destination, built from scratch.
    fn encoded(cfg: &Instance, priority: u8, src: IpAddr, dst: IpAddr) -> Vec<u8> {
        advert_for(cfg, priority).emit(src, dst, cfg.checksum)
    }

    #[test]
    fn prebuilt_bytes_are_the_encoders_for_every_destination() {
        let cfg = instance();
        let mut cache = AdvertCache::default();
        let msgs = cache.messages(&cfg, 100, SRC, &[GROUP, PEER]).to_vec();
        assert_eq!(msgs.len(), 2);
        assert_eq!(msgs[0], (GROUP, encoded(&cfg, 100, SRC, GROUP)));
        assert_eq!(msgs[1], (PEER, encoded(&cfg, 100, SRC, PEER)));
        // v3 over IPv4: the pseudo-header makes the two checksums differ.
        assert_ne!(msgs[0].1[6..8], msgs[1].1[6..8]);
        // Byte 2 is the priority, byte 3 the address count (RFC 5798 §5.1).
        assert_eq!((msgs[0].1[2], msgs[0].1[3]), (100, 2));
    }

    #[test]
    fn the_same_advert_again_is_not_rebuilt() {
        let cfg = instance();
        let mut cache = AdvertCache::default();
        for _ in 0..100 {
            cache.messages(&cfg, 100, SRC, &[GROUP]);
        }
        assert_eq!(cache.builds, 1);
    }

    #[test]
    fn a_priority_change_rebuilds_and_a_resignation_carries_priority_zero() {
        let cfg = instance();
        let mut cache = AdvertCache::default();
        cache.messages(&cfg, 100, SRC, &[GROUP]);
        let zero = cache.messages(&cfg, 0, SRC, &[GROUP]).to_vec();
        assert_eq!(cache.builds, 2);
        assert_eq!(zero[0].1, encoded(&cfg, 0, SRC, GROUP));
        assert_eq!(zero[0].1[2], 0);
    }

    #[test]
    fn a_source_change_rebuilds_with_the_new_checksum() {
        let cfg = instance();
        let mut cache = AdvertCache::default();
        let before = cache.messages(&cfg, 100, SRC, &[GROUP]).to_vec();
        let other = IpAddr::V4(Ipv4Addr::new(10, 9, 0, 7));
        let after = cache.messages(&cfg, 100, other, &[GROUP]).to_vec();
        assert_eq!(cache.builds, 2);
        assert_eq!(after[0].1, encoded(&cfg, 100, other, GROUP));
        assert_ne!(before[0].1, after[0].1);
    }

    #[test]
    fn an_address_interval_or_checksum_change_rebuilds() {
        let cfg = instance();
        let mut cache = AdvertCache::default();
        cache.messages(&cfg, 100, SRC, &[GROUP]);
        let mut fewer = cfg.clone();
        fewer.virtual_addresses.truncate(1);
        let msg = cache.messages(&fewer, 100, SRC, &[GROUP]).to_vec();
        assert_eq!(cache.builds, 2);
        assert_eq!(msg[0].1, encoded(&fewer, 100, SRC, GROUP));
        assert_eq!(msg[0].1[3], 1, "one address left");
        let mut slower = fewer.clone();
        slower.advert_int_cs = 100;
        let msg = cache.messages(&slower, 100, SRC, &[GROUP]).to_vec();
        assert_eq!(cache.builds, 3);
        assert_eq!(msg[0].1, encoded(&slower, 100, SRC, GROUP));
        let mut plain = slower.clone();
        plain.checksum = match slower.checksum {
            ChecksumForm::Pseudo => ChecksumForm::Plain,
            ChecksumForm::Plain => ChecksumForm::Pseudo,
        };
        let msg = cache.messages(&plain, 100, SRC, &[GROUP]).to_vec();
        assert_eq!(cache.builds, 4);
        assert_eq!(msg[0].1, encoded(&plain, 100, SRC, GROUP));
    }

    #[test]
    fn a_changed_destination_list_rebuilds() {
        let cfg = instance();
        let mut cache = AdvertCache::default();
        cache.messages(&cfg, 100, SRC, &[PEER]);
        let two = cache.messages(&cfg, 100, SRC, &[PEER, GROUP]).to_vec();
        assert_eq!(cache.builds, 2);
        assert_eq!(two[1], (GROUP, encoded(&cfg, 100, SRC, GROUP)));
    }
}

//! Every router heard on the segment, with intervals measured from kernel timestamps.
//! Pure bookkeeping: events in, statistics out; no clock is read here.

use std::collections::{BTreeMap, VecDeque};
use std::net::IpAddr;

use vrrp_ebpf::abi::Family;

use crate::receive::AdvertIn;

/// Inter-arrival samples kept per router for the measured interval and jitter.
const WINDOW: usize = 64;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct RouterKey {
    pub ifindex: u32,
    pub vrid: u8,
    pub family: Family,
    pub src: IpAddr,
}

#[derive(Clone, Debug)]
pub struct RouterStats {
    pub version: u8,
    pub priority: u8,
    pub interval_cs: u16,
    pub addrs: Vec<IpAddr>,
    pub adverts: u64,
    pub first_ts_ns: u64,
    pub last_ts_ns: u64,
    deltas_ns: VecDeque<u64>,
}

impl RouterStats {
    /// Mean of the recent inter-arrival times, in milliseconds.
    pub fn measured_interval_ms(&self) -> Option<f64> {
        if self.deltas_ns.is_empty() {
            return None;
        }
        let sum: u64 = self.deltas_ns.iter().sum();
        Some(sum as f64 / self.deltas_ns.len() as f64 / 1e6)
    }

    /// Standard deviation of the recent inter-arrival times, in milliseconds.
    pub fn jitter_ms(&self) -> Option<f64> {
        let mean = self.measured_interval_ms()?;
        let var = self
            .deltas_ns
            .iter()
            .map(|&d| {
                let x = d as f64 / 1e6 - mean;
                x * x
            })
            .sum::<f64>()
            / self.deltas_ns.len() as f64;
        Some(var.sqrt())
    }
}

#[derive(Default)]
pub struct RouterTable {
    pub routers: BTreeMap<RouterKey, RouterStats>,
}

impl RouterTable {
    /// Account one accepted advert. Returns true when this router was not known before.
    pub fn record(&mut self, ev: &AdvertIn) -> bool {
        let key = RouterKey {
            ifindex: ev.ifindex,
            vrid: ev.vrid,
            family: ev.family,
            src: ev.src,
        };
        let mut new = false;
        let r = self.routers.entry(key).or_insert_with(|| {
            new = true;
            RouterStats {
                version: ev.version,
                priority: ev.priority,
                interval_cs: ev.interval_cs,
                addrs: Vec::new(),
                adverts: 0,
                first_ts_ns: ev.ts_ns,
                last_ts_ns: ev.ts_ns,
                deltas_ns: VecDeque::with_capacity(WINDOW),
            }
        });
        if !new && ev.ts_ns > r.last_ts_ns {
            if r.deltas_ns.len() == WINDOW {
                r.deltas_ns.pop_front();
            }
            r.deltas_ns.push_back(ev.ts_ns - r.last_ts_ns);
        }
        // A change of advertised interval invalidates the measurements so far.
        if ev.interval_cs != r.interval_cs {
            r.deltas_ns.clear();
        }
        r.version = ev.version;
        r.priority = ev.priority;
        r.interval_cs = ev.interval_cs;
        r.addrs = ev.addrs.clone();
        r.adverts += 1;
        r.last_ts_ns = r.last_ts_ns.max(ev.ts_ns);
        new
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::receive::Received;
    use vrrp_ebpf::abi::{Event, EVENT_ADVERT, FAMILY_V4};

    fn advert(ts_ms: u64, prio: u8) -> AdvertIn {
        advert_from(10, ts_ms, prio)
    }

    /// An advert event from 10.9.0.`host`, converted as the receive path converts it.
    fn advert_from(host: u8, ts_ms: u64, prio: u8) -> AdvertIn {
        let mut ev = Event::zeroed();
        ev.kind = EVENT_ADVERT;
        ev.family = FAMILY_V4;
        ev.version = 3;
        ev.vrid = 51;
        ev.priority = prio;
        ev.interval_cs = 100;
        ev.addr_count = 1;
        ev.ts_ns = ts_ms * 1_000_000;
        ev.src[..4].copy_from_slice(&[10, 9, 0, host]);
        ev.addrs[..4].copy_from_slice(&[10, 9, 0, 100]);
        match Received::try_from(&ev) {
            Ok(Received::Advert(a)) => a,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn measured_interval_and_jitter_come_from_timestamps() {
        let mut t = RouterTable::default();
        assert!(t.record(&advert(0, 100)));
        assert!(!t.record(&advert(1000, 100)));
        assert!(!t.record(&advert(2010, 100)));
        assert!(!t.record(&advert(2990, 100)));
        let r = t.routers.values().next().unwrap();
        assert_eq!(r.adverts, 4);
        let mean = r.measured_interval_ms().unwrap();
        assert!((mean - 996.666).abs() < 0.01, "{mean}");
        // Deltas 1000, 1010, 980 ms: population standard deviation 12.47 ms.
        let j = r.jitter_ms().unwrap();
        assert!((j - 12.47).abs() < 0.01, "{j}");
        assert_eq!(r.addrs, vec!["10.9.0.100".parse::<IpAddr>().unwrap()]);
    }

    #[test]
    fn a_second_source_is_a_second_router() {
        let mut t = RouterTable::default();
        t.record(&advert(0, 100));
        assert!(t.record(&advert_from(2, 5, 150)));
        assert_eq!(t.routers.len(), 2);
    }
}

//! Advert inter-arrival histograms: the engine observes the gap between consecutive
//! adverts' kernel timestamps; the metrics page reads them.

use std::collections::BTreeMap;

/// Upper bounds (seconds) of the inter-arrival buckets. Advert intervals run from 10 ms
/// (1 cs, the v3 minimum) to a few seconds; the 1 ms..50 ms buckets show bursts and
/// sub-interval duplicates, and the dense run around 1 s resolves jitter at the default
/// interval, where most deployments sit.
pub const INTERARRIVAL_BUCKETS: [f64; 20] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0, 1.1, 1.25, 1.5, 2.0,
    2.5, 3.0, 4.0, 5.0,
];

/// One instance's advert inter-arrival distribution.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Histogram {
    /// Observations per bucket (not cumulative); the last slot is above the largest bound.
    counts: [u64; INTERARRIVAL_BUCKETS.len() + 1],
    sum: f64,
    count: u64,
}

impl Histogram {
    pub fn observe(&mut self, seconds: f64) {
        // A negative or non-finite gap is a clock bug upstream; it must not poison _sum.
        if !seconds.is_finite() || seconds < 0.0 {
            return;
        }
        let slot = INTERARRIVAL_BUCKETS.partition_point(|&le| le < seconds);
        self.counts[slot] += 1;
        self.sum += seconds;
        self.count += 1;
    }

    /// `(upper bound, observations at or below it)` for each bucket, ending with +Inf.
    pub fn cumulative(&self) -> impl Iterator<Item = (f64, u64)> + '_ {
        let bounds = INTERARRIVAL_BUCKETS.iter().copied().chain([f64::INFINITY]);
        bounds.zip(self.counts.iter().scan(0u64, |acc, &n| {
            *acc += n;
            Some(*acc)
        }))
    }

    pub fn sum(&self) -> f64 {
        self.sum
    }

    pub fn count(&self) -> u64 {
        self.count
    }
}

/// The inter-arrival histograms of all instances, by instance name. The engine observes
/// the gap between consecutive adverts' kernel timestamps; the metrics endpoint reads.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Histograms {
    by_instance: BTreeMap<String, Histogram>,
}

impl Histograms {
    pub fn new() -> Histograms {
        Histograms::default()
    }

    /// One gap between adverts heard by `instance`, in seconds.
    pub fn observe(&mut self, instance: &str, seconds: f64) {
        match self.by_instance.get_mut(instance) {
            Some(h) => h.observe(seconds),
            None => self
                .by_instance
                .entry(instance.to_owned())
                .or_default()
                .observe(seconds),
        }
    }

    pub fn get(&self, instance: &str) -> Option<&Histogram> {
        self.by_instance.get(instance)
    }

    /// Drops an instance's histogram (after a reload removed the instance).
    pub fn forget(&mut self, instance: &str) {
        self.by_instance.remove(instance);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative_with_sum_and_count() {
        let mut h = Histogram::default();
        for s in [0.0005, 0.001, 0.003, 1.0, 1.0, 6.0] {
            h.observe(s);
        }
        let buckets: Vec<(f64, u64)> = h.cumulative().collect();
        assert_eq!(buckets.len(), INTERARRIVAL_BUCKETS.len() + 1);
        assert_eq!(buckets[0], (0.001, 2)); // 0.0005 and 0.001 (bounds are inclusive)
        assert_eq!(buckets[1], (0.0025, 2));
        assert_eq!(buckets[2], (0.005, 3));
        assert_eq!(buckets[11], (1.0, 5));
        assert_eq!(buckets[19], (5.0, 5));
        assert_eq!(buckets[20], (f64::INFINITY, 6));
        assert!(buckets.windows(2).all(|w| w[0].1 <= w[1].1));
        assert_eq!(h.count(), 6);
        assert!((h.sum() - 8.0045).abs() < 1e-12);
    }

    #[test]
    fn nonsense_observations_are_ignored() {
        let mut h = Histogram::default();
        h.observe(-0.1);
        h.observe(f64::NAN);
        h.observe(f64::INFINITY);
        assert_eq!(h, Histogram::default());
    }

    #[test]
    fn histograms_are_kept_per_instance_and_can_be_forgotten() {
        let mut hs = Histograms::new();
        hs.observe("a", 1.0);
        hs.observe("a", 1.0);
        hs.observe("b", 0.1);
        assert_eq!(hs.get("a").unwrap().count(), 2);
        assert_eq!(hs.get("b").unwrap().count(), 1);
        hs.forget("a");
        assert!(hs.get("a").is_none());
    }
}

//! RFC 5798 §6.1 timer arithmetic, in nanoseconds so nothing is rounded away: at 10 ms
//! adverts the skew is a few milliseconds and truncating it to centiseconds would change
//! who wins a race.

/// Nanoseconds in one centisecond, the unit of v3's Max Adver Int.
pub const NS_PER_CS: u64 = 10_000_000;

/// `Skew_Time = ((256 - Priority) * Master_Adver_Interval) / 256` (RFC 5798 §6.1), with
/// the interval in centiseconds; returns nanoseconds.
pub fn skew_time_ns(priority: u8, master_adver_interval_cs: u16) -> u64 {
    (256 - priority as u64) * master_adver_interval_cs as u64 * NS_PER_CS / 256
}

/// `Master_Down_Interval = (3 * Master_Adver_Interval) + Skew_Time` (RFC 5798 §6.1).
pub fn master_down_interval_ns(priority: u8, master_adver_interval_cs: u16) -> u64 {
    3 * master_adver_interval_cs as u64 * NS_PER_CS
        + skew_time_ns(priority, master_adver_interval_cs)
}

/// RFC 3768 §6.1 (v2): `Skew_Time = (256 - Priority) / 256` seconds, independent of the
/// advertisement interval.
pub fn skew_time_v2_ns(priority: u8) -> u64 {
    (256 - priority as u64) * 1_000_000_000 / 256
}

/// RFC 3768 §6.1: `Master_Down_Interval = (3 * Advertisement_Interval) + Skew_time`.
pub fn master_down_interval_v2_ns(priority: u8, adver_int_s: u64) -> u64 {
    3 * adver_int_s * 1_000_000_000 + skew_time_v2_ns(priority)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ten_millisecond_adverts_at_priority_100_give_a_36_1_ms_master_down_interval() {
        // 3 * 10 ms + 156/256 * 10 ms = 30 ms + 6.09375 ms.
        assert_eq!(skew_time_ns(100, 1), 6_093_750);
        assert_eq!(master_down_interval_ns(100, 1), 36_093_750);
    }

    #[test]
    fn one_second_adverts_at_priority_255_skew_by_one_256th() {
        assert_eq!(skew_time_ns(255, 100), 3_906_250);
        assert_eq!(master_down_interval_ns(255, 100), 3_003_906_250);
    }

    #[test]
    fn higher_priority_backups_have_shorter_skew() {
        assert!(skew_time_ns(200, 100) < skew_time_ns(100, 100));
        assert!(master_down_interval_ns(200, 100) < master_down_interval_ns(100, 100));
    }

    #[test]
    fn v2_skew_does_not_scale_with_the_interval() {
        assert_eq!(skew_time_v2_ns(100), 609_375_000);
        assert_eq!(master_down_interval_v2_ns(100, 2), 6_609_375_000);
    }
}

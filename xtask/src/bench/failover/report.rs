//! The failover bench's output: one JSON record per trial and the two tables.

use std::path::PathBuf;

use serde_json::{json, Value};

use super::{floor_ms, stats, Impl, Measured, Options, Scenario};

pub struct Record {
    pub imp: Impl,
    pub scenario: Scenario,
    pub interval_ms: u64,
    pub index: usize,
    pub dir: PathBuf,
    pub result: Result<Measured, String>,
}

impl Record {
    pub fn json(&self) -> Value {
        let mut v = json!({
            "implementation": self.imp.name(),
            "scenario": self.scenario.slug(),
            "advert_interval_ms": self.interval_ms,
            "trial": self.index,
            "dir": self.dir.display().to_string(),
            "rfc_floor_ms": floor_ms(self.scenario, self.interval_ms),
        });
        match &self.result {
            Err(e) => v["error"] = json!(e),
            Ok(m) => {
                if let (Some(o), Ok(Value::Object(fields))) =
                    (v.as_object_mut(), serde_json::to_value(m))
                {
                    o.extend(fields);
                }
            }
        }
        v
    }
}

pub fn print_tables(records: &[Record], opts: &Options) {
    let pick = |imp: Impl, s: Scenario, iv: u64| -> Vec<&Measured> {
        records
            .iter()
            .filter(|r| r.imp == imp && r.scenario == s && r.interval_ms == iv)
            .filter_map(|r| r.result.as_ref().ok())
            .collect()
    };
    let failed = |imp: Impl, s: Scenario, iv: u64| {
        records
            .iter()
            .filter(|r| r.imp == imp && r.scenario == s && r.interval_ms == iv)
            .filter(|r| r.result.is_err())
            .count()
    };
    let cell = |v: &[f64]| match stats(v) {
        Some((m, lo, hi)) => format!("{m:>8.1} {lo:>8.1} {hi:>8.1}"),
        None => format!("{:>8} {:>8} {:>8}", "-", "-", "-"),
    };

    println!("\nclient-observed outage, ms (median min max over successful trials)");
    println!(
        "{:<13} {:>7} {:>9} | {:^26} | {:^26} | {:>7} | {:>11}",
        "scenario", "advert", "RFC floor", "vrrp-agent", "keepalived", "ka/ours", "false trans"
    );
    println!(
        "{:<13} {:>7} {:>9} | {:>8} {:>8} {:>8} | {:>8} {:>8} {:>8} | {:>7} | {:>11}",
        "", "", "", "median", "min", "max", "median", "min", "max", "", "ours / ka"
    );
    for &s in &opts.scenarios {
        for &iv in &opts.intervals_ms {
            let ours = pick(Impl::Agent, s, iv);
            let ka = pick(Impl::Keepalived, s, iv);
            let o: Vec<f64> = ours.iter().map(|m| m.outage_ms).collect();
            let k: Vec<f64> = ka.iter().map(|m| m.outage_ms).collect();
            let ratio = match (stats(&o), stats(&k)) {
                (Some((a, ..)), Some((b, ..))) if a > 0.0 => format!("{:.2}x", b / a),
                _ => "-".into(),
            };
            let ft = |v: &[&Measured]| v.iter().map(|m| m.false_transitions).sum::<usize>();
            let mut fails = String::new();
            let (fo, fk) = (failed(Impl::Agent, s, iv), failed(Impl::Keepalived, s, iv));
            if fo + fk > 0 {
                fails = format!("  ({fo}/{fk} trials failed)");
            }
            println!(
                "{:<13} {:>4} ms {:>9.1} | {} | {} | {:>7} | {:>5} / {:<3}{fails}",
                s.name(),
                iv,
                floor_ms(s, iv),
                cell(&o),
                cell(&k),
                ratio,
                ft(&ours),
                ft(&ka)
            );
        }
    }
    println!(
        "RFC floor: link cut 3 x interval + Skew_Time(100), the Master_Down_Interval after r1's \
         last advert; the cut falls at a random point between adverts, so the outage seen from \
         the last reply is up to one interval shorter and the link-cut ratio mostly compares \
         phases: the implementations' own delay is the reply-deadline column below. \
         Graceful: Skew_Time(100) after the priority-0 advert."
    );
    println!(
        "false trans: transitions into or out of MASTER beyond r1 master once (and leaving it \
         after the event) and r2 master once after the event, until the end of the watch \
         window (sum over trials)."
    );

    println!("\nwhere the time goes, ms (medians; deadline = RFC deadline from the adverts the client saw)");
    println!(
        "{:<13} {:>7} {:<10} | {:>14} {:>7} | {:>12} | {:>11} | {:>10} | {:>11}",
        "scenario",
        "advert",
        "impl",
        "reply-deadline",
        "max",
        "r2 advert-dl",
        "GARP-advert",
        "reply-GARP",
        "adv period"
    );
    println!(
        "reply-deadline: r2's first reply past the RFC deadline (max: worst trial); r2 advert-dl: \
         r2's first advert as master past it; GARP-advert: r2's first ARP for the VIP after that \
         advert; reply-GARP: the first reply after the GARP (probes go out every 1 ms); adv \
         period: spacing of r2's adverts once master."
    );
    for &s in &opts.scenarios {
        for &iv in &opts.intervals_ms {
            for imp in [Impl::Agent, Impl::Keepalived] {
                let v = pick(imp, s, iv);
                let col = |f: fn(&Measured) -> Option<f64>| -> Vec<f64> {
                    v.iter().filter_map(|m| f(m)).collect()
                };
                let med = |x: &[f64]| stats(x).map_or("-".into(), |(m, ..)| format!("{m:+.2}"));
                let past = col(|m| m.past_deadline_ms);
                println!(
                    "{:<13} {:>4} ms {:<10} | {:>14} {:>7} | {:>12} | {:>11} | {:>10} | {:>11}",
                    s.name(),
                    iv,
                    imp.name(),
                    med(&past),
                    stats(&past).map_or("-".into(), |(_, _, hi)| format!("{hi:+.1}")),
                    med(&col(|m| m.r2_advert_past_deadline_ms)),
                    med(&col(|m| m.garp_after_advert_ms)),
                    med(&col(|m| m.reply_after_garp_ms)),
                    stats(&col(|m| m.r2_advert_period_ms))
                        .map_or("-".into(), |(m, ..)| format!("{m:.2}")),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trial_record_keeps_the_field_names_failover_json_has_always_had() {
        let r = Record {
            imp: Impl::Agent,
            scenario: Scenario::Graceful,
            interval_ms: 10,
            index: 0,
            dir: PathBuf::from("/x"),
            result: Ok(Measured {
                outage_ms: 12.5,
                ..Measured::default()
            }),
        };
        let v = r.json();
        let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort_unstable();
        let mut want = vec![
            "implementation",
            "scenario",
            "advert_interval_ms",
            "trial",
            "dir",
            "rfc_floor_ms",
            "outage_ms",
            "missed_probes",
            "past_rfc_deadline_ms",
            "r2_advert_past_deadline_ms",
            "garp_after_r2_advert_ms",
            "reply_after_garp_ms",
            "probes_sent",
            "replies",
            "r1_replies_after_takeover",
            "longest_gap_after_takeover_ms",
            "r2_arps_for_vip",
            "r1_advert_period_ms",
            "r2_advert_period_ms",
            "false_transitions",
            "sigterm_to_exit_ms",
            "transitions",
        ];
        want.sort_unstable();
        assert_eq!(keys, want);
        assert_eq!(v["outage_ms"], 12.5);
        let mut t: Vec<&str> = v["transitions"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        t.sort_unstable();
        assert_eq!(
            t,
            [
                "r1",
                "r1_before_event",
                "r1_in_window",
                "r2",
                "r2_before_event",
                "r2_in_window"
            ]
        );
    }
}

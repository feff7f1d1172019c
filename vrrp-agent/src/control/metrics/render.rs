//! vrrpx's own metric families, from the status snapshot and the inter-arrival histograms.
//!
//! Every per-instance series carries the same labels, `instance`, `interface` and `vrid`,
//! so they join without `on(...)` clauses.

use crate::proto::router::StateName;
use crate::status::{InstanceStatus, Status};

use super::exposition::{Exposition, Num};
use super::histogram::{Histogram, Histograms};

/// Every state an instance can be in, each exported as its own series.
const STATES: [StateName; 4] = [
    StateName::Initialize,
    StateName::Backup,
    StateName::Master,
    StateName::Fault,
];

/// A family with one sample per instance (where `value` has one), labelled `instance`,
/// `interface`, `vrid`.
fn per_instance<'s>(
    out: &mut Exposition,
    (name, kind, help): (&str, &str, &str),
    instances: &'s [InstanceStatus],
    value: impl Fn(&'s InstanceStatus) -> Option<Num>,
) {
    out.family(name, kind, help);
    for i in instances {
        if let Some(v) = value(i) {
            let vrid = i.vrid.to_string();
            out.sample(name, &instance_labels(i, &vrid), v);
        }
    }
}

fn instance_labels<'a>(i: &'a InstanceStatus, vrid: &'a str) -> [(&'static str, &'a str); 3] {
    [
        ("instance", &i.name),
        ("interface", &i.interface),
        ("vrid", vrid),
    ]
}

fn seconds_cs(cs: u16) -> Num {
    Num::Float(f64::from(cs) / 100.0)
}

/// The whole `/metrics` page of vrrpx's own families. Instances appear in the order of
/// `status.instances`; each has a histogram series even before its first observation.
pub fn render_prometheus(status: &Status, hist: &Histograms) -> String {
    let mut out = Exposition::with_capacity(4096 + 2048 * status.instances.len());
    let inst = &status.instances;

    out.family(
        "vrrpx_build_info",
        "gauge",
        "The running vrrp-agent version, as a label; always 1.",
    );
    out.sample(
        "vrrpx_build_info",
        &[("version", &status.version)],
        Num::Int(1),
    );

    out.family(
        "vrrpx_instance_state",
        "gauge",
        "1 for the state the VRRP instance is in, 0 for the others.",
    );
    for i in inst {
        let vrid = i.vrid.to_string();
        for s in STATES {
            let name = s.to_string().to_ascii_lowercase();
            let [a, b, c] = instance_labels(i, &vrid);
            out.sample(
                "vrrpx_instance_state",
                &[a, b, c, ("state", &name)],
                Num::Int(u64::from(i.state == s)),
            );
        }
    }

    out.family(
        "vrrpx_instance_priority",
        "gauge",
        "VRRP priority: kind=\"base\" as configured, kind=\"effective\" after tracking.",
    );
    for i in inst {
        let vrid = i.vrid.to_string();
        let [a, b, c] = instance_labels(i, &vrid);
        for (kind, p) in [
            ("base", i.base_priority),
            ("effective", i.effective_priority),
        ] {
            out.sample(
                "vrrpx_instance_priority",
                &[a, b, c, ("kind", kind)],
                Num::Int(u64::from(p)),
            );
        }
    }

    per_instance(
        &mut out,
        (
            "vrrpx_master_priority",
            "gauge",
            "Priority of the master this instance hears, when it hears one.",
        ),
        inst,
        |i| i.master.map(|(_, p)| Num::Int(u64::from(p))),
    );

    per_instance(
        &mut out,
        (
            "vrrpx_advert_interval_seconds",
            "gauge",
            "Configured advertisement interval.",
        ),
        inst,
        |i| Some(seconds_cs(i.advert_interval_cs)),
    );

    per_instance(
        &mut out,
        (
            "vrrpx_master_advert_interval_seconds",
            "gauge",
            "Master_Adver_Interval learned from the master's adverts.",
        ),
        inst,
        |i| Some(seconds_cs(i.master_adver_interval_cs)),
    );

    per_instance(
        &mut out,
        (
            "vrrpx_transitions_total",
            "counter",
            "State transitions of the instance.",
        ),
        inst,
        |i| Some(Num::Int(i.transitions)),
    );

    per_instance(
        &mut out,
        (
            "vrrpx_last_transition_timestamp_seconds",
            "gauge",
            "Unix time of the instance's latest state transition.",
        ),
        inst,
        |i| i.last_transition.as_ref().map(|t| Num::Float(t.at_unix)),
    );

    per_instance(
        &mut out,
        (
            "vrrpx_adverts_sent_total",
            "counter",
            "VRRP advertisements sent.",
        ),
        inst,
        |i| Some(Num::Int(i.adverts_sent)),
    );

    per_instance(
        &mut out,
        (
            "vrrpx_adverts_received_total",
            "counter",
            "VRRP advertisements received that passed the receive checks.",
        ),
        inst,
        |i| Some(Num::Int(i.adverts_received)),
    );

    per_instance(
        &mut out,
        (
            "vrrpx_timer_margin_seconds",
            "gauge",
            "While backup: how long before the Master_Down deadline the latest advert arrived.",
        ),
        inst,
        |i| i.timer_margin_ms.map(|ms| Num::Float(ms / 1000.0)),
    );

    per_instance(
        &mut out,
        (
            "vrrpx_timer_margin_min_seconds",
            "gauge",
            "Smallest timer margin seen since the daemon started.",
        ),
        inst,
        |i| i.min_timer_margin_ms.map(|ms| Num::Float(ms / 1000.0)),
    );

    let name = "vrrpx_advert_interarrival_seconds";
    out.family(
        name,
        "histogram",
        "Time between consecutive adverts heard, from kernel receive timestamps.",
    );
    let empty = Histogram::default();
    for i in inst {
        let h = hist.get(&i.name).unwrap_or(&empty);
        let vrid = i.vrid.to_string();
        let labels = instance_labels(i, &vrid);
        let [a, b, c] = labels;
        for (le, n) in h.cumulative() {
            let le = Num::Float(le).to_string();
            out.sample(
                "vrrpx_advert_interarrival_seconds_bucket",
                &[a, b, c, ("le", &le)],
                Num::Int(n),
            );
        }
        out.sample(
            "vrrpx_advert_interarrival_seconds_sum",
            &labels,
            Num::Float(h.sum()),
        );
        out.sample(
            "vrrpx_advert_interarrival_seconds_count",
            &labels,
            Num::Int(h.count()),
        );
    }

    out.family(
        "vrrpx_rejected_adverts_total",
        "counter",
        "Adverts dropped by the receive checks, by interface and reason (all VRIDs).",
    );
    for (iface, reasons) in &status.rejections {
        for (reason, n) in reasons {
            out.sample(
                "vrrpx_rejected_adverts_total",
                &[("interface", iface), ("reason", reason)],
                Num::Int(*n),
            );
        }
    }

    out.family(
        "vrrpx_receive_path_info",
        "gauge",
        "How adverts are received on each interface, as a label; always 1.",
    );
    for (iface, path) in &status.receive_paths {
        out.sample(
            "vrrpx_receive_path_info",
            &[("interface", iface), ("path", path)],
            Num::Int(1),
        );
    }

    // Only when something is tracked: a page without tracking has no empty family.
    if status.instances.iter().any(|i| !i.tracks.is_empty()) {
        out.family(
            "vrrpx_track_up",
            "gauge",
            "Tracked items: 1 up, 0 down (scripts not run yet are absent).",
        );
        for i in &status.instances {
            let vrid = i.vrid.to_string();
            for t in &i.tracks {
                if let Some(up) = t.up {
                    out.sample(
                        "vrrpx_track_up",
                        &[
                            ("instance", &i.name),
                            ("interface", &i.interface),
                            ("vrid", &vrid),
                            ("track", &t.name),
                            ("kind", &t.kind),
                        ],
                        Num::Int(up as u64),
                    );
                }
            }
        }
    }
    if status.instances.iter().any(|i| i.replies_suppressed > 0) {
        out.family(
            "vrrpx_replies_suppressed_total",
            "counter",
            "Immediate replies to lower-priority adverts held back by the rate limit.",
        );
        for i in &status.instances {
            let vrid = i.vrid.to_string();
            out.sample(
                "vrrpx_replies_suppressed_total",
                &[
                    ("instance", &i.name),
                    ("interface", &i.interface),
                    ("vrid", &vrid),
                ],
                Num::Int(i.replies_suppressed),
            );
        }
    }

    out.family(
        "vrrpx_split_brain_events_total",
        "counter",
        "Times a master heard another master or a foreign ARP reply for a virtual address.",
    );
    out.sample(
        "vrrpx_split_brain_events_total",
        &[],
        Num::Int(status.split_brain_events),
    );

    out.into_text()
}

#[cfg(test)]
mod tests {
    use super::super::exposition::check_exposition;
    use super::super::fixtures::{instance, status};
    use super::*;

    const L: &str = r#"instance="VI_1",interface="eth0",vrid="51""#;

    fn expected_page() -> String {
        let mut want = String::new();
        let mut line = |s: &str| {
            want.push_str(s);
            want.push('\n');
        };
        line("# HELP vrrpx_build_info The running vrrp-agent version, as a label; always 1.");
        line("# TYPE vrrpx_build_info gauge");
        line(r#"vrrpx_build_info{version="0.1.0"} 1"#);
        line("# HELP vrrpx_instance_state 1 for the state the VRRP instance is in, 0 for the others.");
        line("# TYPE vrrpx_instance_state gauge");
        line(&format!(r#"vrrpx_instance_state{{{L},state="init"}} 0"#));
        line(&format!(r#"vrrpx_instance_state{{{L},state="backup"}} 1"#));
        line(&format!(r#"vrrpx_instance_state{{{L},state="master"}} 0"#));
        line(&format!(r#"vrrpx_instance_state{{{L},state="fault"}} 0"#));
        line(
            r#"# HELP vrrpx_instance_priority VRRP priority: kind="base" as configured, kind="effective" after tracking."#,
        );
        line("# TYPE vrrpx_instance_priority gauge");
        line(&format!(
            r#"vrrpx_instance_priority{{{L},kind="base"}} 100"#
        ));
        line(&format!(
            r#"vrrpx_instance_priority{{{L},kind="effective"}} 80"#
        ));
        line("# HELP vrrpx_master_priority Priority of the master this instance hears, when it hears one.");
        line("# TYPE vrrpx_master_priority gauge");
        line(&format!("vrrpx_master_priority{{{L}}} 150"));
        line("# HELP vrrpx_advert_interval_seconds Configured advertisement interval.");
        line("# TYPE vrrpx_advert_interval_seconds gauge");
        line(&format!("vrrpx_advert_interval_seconds{{{L}}} 1"));
        line("# HELP vrrpx_master_advert_interval_seconds Master_Adver_Interval learned from the master's adverts.");
        line("# TYPE vrrpx_master_advert_interval_seconds gauge");
        line(&format!("vrrpx_master_advert_interval_seconds{{{L}}} 0.5"));
        line("# HELP vrrpx_transitions_total State transitions of the instance.");
        line("# TYPE vrrpx_transitions_total counter");
        line(&format!("vrrpx_transitions_total{{{L}}} 1"));
        line("# HELP vrrpx_last_transition_timestamp_seconds Unix time of the instance's latest state transition.");
        line("# TYPE vrrpx_last_transition_timestamp_seconds gauge");
        line(&format!(
            "vrrpx_last_transition_timestamp_seconds{{{L}}} 1700000000.5"
        ));
        line("# HELP vrrpx_adverts_sent_total VRRP advertisements sent.");
        line("# TYPE vrrpx_adverts_sent_total counter");
        line(&format!("vrrpx_adverts_sent_total{{{L}}} 0"));
        line("# HELP vrrpx_adverts_received_total VRRP advertisements received that passed the receive checks.");
        line("# TYPE vrrpx_adverts_received_total counter");
        line(&format!("vrrpx_adverts_received_total{{{L}}} 1234"));
        line("# HELP vrrpx_timer_margin_seconds While backup: how long before the Master_Down deadline the latest advert arrived.");
        line("# TYPE vrrpx_timer_margin_seconds gauge");
        line(&format!("vrrpx_timer_margin_seconds{{{L}}} 0.8125"));
        line("# HELP vrrpx_timer_margin_min_seconds Smallest timer margin seen since the daemon started.");
        line("# TYPE vrrpx_timer_margin_min_seconds gauge");
        line(&format!("vrrpx_timer_margin_min_seconds{{{L}}} 0.79025"));
        line("# HELP vrrpx_advert_interarrival_seconds Time between consecutive adverts heard, from kernel receive timestamps.");
        line("# TYPE vrrpx_advert_interarrival_seconds histogram");
        // Observed: 0.5, 1.0 (on a bound: counts in le="1"), 1.0625, 7.0 (above all bounds).
        let cumulative = [
            ("0.001", 0),
            ("0.0025", 0),
            ("0.005", 0),
            ("0.01", 0),
            ("0.025", 0),
            ("0.05", 0),
            ("0.1", 0),
            ("0.25", 0),
            ("0.5", 1),
            ("0.75", 1),
            ("0.9", 1),
            ("1", 2),
            ("1.1", 3),
            ("1.25", 3),
            ("1.5", 3),
            ("2", 3),
            ("2.5", 3),
            ("3", 3),
            ("4", 3),
            ("5", 3),
            ("+Inf", 4),
        ];
        for (le, n) in cumulative {
            line(&format!(
                r#"vrrpx_advert_interarrival_seconds_bucket{{{L},le="{le}"}} {n}"#
            ));
        }
        line(&format!(
            "vrrpx_advert_interarrival_seconds_sum{{{L}}} 9.5625"
        ));
        line(&format!("vrrpx_advert_interarrival_seconds_count{{{L}}} 4"));
        line("# HELP vrrpx_rejected_adverts_total Adverts dropped by the receive checks, by interface and reason (all VRIDs).");
        line("# TYPE vrrpx_rejected_adverts_total counter");
        line(r#"vrrpx_rejected_adverts_total{interface="eth0",reason="bad_ttl"} 3"#);
        line(r#"vrrpx_rejected_adverts_total{interface="eth0",reason="wrong_vrid"} 5"#);
        line("# HELP vrrpx_receive_path_info How adverts are received on each interface, as a label; always 1.");
        line("# TYPE vrrpx_receive_path_info gauge");
        line(r#"vrrpx_receive_path_info{interface="eth0",path="xdp (driver)"} 1"#);
        line("# HELP vrrpx_split_brain_events_total Times a master heard another master or a foreign ARP reply for a virtual address.");
        line("# TYPE vrrpx_split_brain_events_total counter");
        line("vrrpx_split_brain_events_total 2");
        want
    }

    #[test]
    fn tracked_items_and_suppressed_replies_appear_only_when_present() {
        let mut st = status();
        let page = render_prometheus(&st, &Histograms::new());
        assert!(!page.contains("vrrpx_track_up"));
        assert!(!page.contains("vrrpx_replies_suppressed_total"));
        st.instances[0].tracks = vec![crate::status::TrackResult {
            name: "chk_nginx".into(),
            kind: "script".into(),
            up: Some(false),
        }];
        st.instances[0].replies_suppressed = 7;
        let page = render_prometheus(&st, &Histograms::new());
        check_exposition(&page);
        assert!(
            page.contains(r#"track="chk_nginx",kind="script"} 0"#),
            "{page}"
        );
        assert!(page
            .lines()
            .any(|l| l.starts_with("vrrpx_replies_suppressed_total{") && l.ends_with("} 7")));
    }

    #[test]
    fn the_page_matches_line_for_line() {
        let mut hist = Histograms::new();
        for s in [0.5, 1.0, 1.0625, 7.0] {
            hist.observe("VI_1", s);
        }
        let got = render_prometheus(&status(), &hist);
        let want = expected_page();
        for (n, (g, w)) in got.lines().zip(want.lines()).enumerate() {
            assert_eq!(g, w, "line {}", n + 1);
        }
        assert_eq!(got.lines().count(), want.lines().count());
        assert_eq!(got, want);
    }

    #[test]
    fn the_page_is_well_formed_with_several_instances_and_no_data() {
        let mut s = status();
        let mut second = instance();
        second.name = "VI_2".into();
        second.vrid = 52;
        second.state = StateName::Master;
        second.master = None;
        second.timer_margin_ms = None;
        second.min_timer_margin_ms = None;
        second.last_transition = None;
        s.instances.push(second);
        check_exposition(&render_prometheus(&s, &Histograms::new()));
        check_exposition(&render_prometheus(&Status::default(), &Histograms::new()));
    }

    #[test]
    fn an_instance_without_data_omits_optional_series_and_has_an_empty_histogram() {
        let mut s = status();
        s.instances[0].master = None;
        s.instances[0].timer_margin_ms = None;
        s.instances[0].last_transition = None;
        let page = render_prometheus(&s, &Histograms::new());
        assert!(!page.contains("vrrpx_master_priority{"));
        assert!(!page.contains("vrrpx_timer_margin_seconds{"));
        assert!(!page.contains("vrrpx_last_transition_timestamp_seconds{"));
        assert!(page.contains(&format!(
            r#"vrrpx_advert_interarrival_seconds_bucket{{{L},le="+Inf"}} 0"#
        )));
        assert!(page.contains(&format!("vrrpx_advert_interarrival_seconds_count{{{L}}} 0")));
        assert!(page.contains(&format!("vrrpx_advert_interarrival_seconds_sum{{{L}}} 0")));
    }

    #[test]
    fn instance_names_are_escaped_in_labels() {
        let mut s = status();
        s.instances[0].name = "we\"ird\\name\n".into();
        let page = render_prometheus(&s, &Histograms::new());
        assert!(page.contains(
            r#"vrrpx_transitions_total{instance="we\"ird\\name\n",interface="eth0",vrid="51"} 1"#
        ));
        check_exposition(&page);
    }
}

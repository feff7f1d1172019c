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

/// How a per-instance sample is read from the snapshot; `None`: the instance has no
/// sample in that family.
pub(super) type PerInstance<'a> = dyn Fn(&InstanceStatus) -> Option<Num> + 'a;

/// The three labels naming an instance's series (name, interface, VRID as text); each
/// exporter spells them its own way.
pub(super) type InstanceLabels =
    for<'a> fn(&'a InstanceStatus, &'a str) -> [(&'static str, &'a str); 3];

/// A family with one sample per instance (where `value` has one), labelled by `labels`.
pub(super) fn per_instance(
    out: &mut Exposition,
    (name, kind, help): (&str, &str, &str),
    instances: &[InstanceStatus],
    labels: InstanceLabels,
    value: &PerInstance,
) {
    out.family(name, kind, help);
    for i in instances {
        if let Some(v) = value(i) {
            let vrid = i.vrid.to_string();
            out.sample(name, &labels(i, &vrid), v);
        }
    }
}

/// A family with, for each instance, one sample per `(label value, number)` that
/// `values` gives, told apart by the extra label `label`.
pub(super) fn per_instance_by<'s, V: AsRef<str>>(
    out: &mut Exposition,
    (name, kind, help): (&str, &str, &str),
    instances: &'s [InstanceStatus],
    labels: InstanceLabels,
    label: &str,
    values: impl Fn(&'s InstanceStatus) -> Vec<(V, Num)>,
) {
    out.family(name, kind, help);
    for i in instances {
        let vrid = i.vrid.to_string();
        let [a, b, c] = labels(i, &vrid);
        for (v, n) in values(i) {
            out.sample(name, &[a, b, c, (label, v.as_ref())], n);
        }
    }
}

/// vrrpx's labels: `instance`, `interface`, `vrid`.
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

    out.single(
        (
            "vrrpx_build_info",
            "gauge",
            "The running vrrp-agent version, as a label; always 1.",
        ),
        &[("version", &status.version)],
        Num::Int(1),
    );

    instance_families(&mut out, &status.instances);
    interarrival_histogram(&mut out, &status.instances, hist);

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
        per_instance(
            &mut out,
            (
                "vrrpx_replies_suppressed_total",
                "counter",
                "Immediate replies to lower-priority adverts held back by the rate limit.",
            ),
            &status.instances,
            instance_labels,
            &|i| Some(Num::Int(i.replies_suppressed)),
        );
    }

    out.single(
        (
            "vrrpx_split_brain_events_total",
            "counter",
            "Times a master heard another master or a foreign ARP reply for a virtual address.",
        ),
        &[],
        Num::Int(status.split_brain_events),
    );

    out.into_text()
}

/// Each instance's state, priorities, timers and counters.
fn instance_families(out: &mut Exposition, inst: &[InstanceStatus]) {
    per_instance_by(
        out,
        (
            "vrrpx_instance_state",
            "gauge",
            "1 for the state the VRRP instance is in, 0 for the others.",
        ),
        inst,
        instance_labels,
        "state",
        |i| {
            let is = |s: StateName| Num::Int(u64::from(i.state == s));
            let named = |s: StateName| s.to_string().to_ascii_lowercase();
            STATES.iter().map(|&s| (named(s), is(s))).collect()
        },
    );

    per_instance_by(
        out,
        (
            "vrrpx_instance_priority",
            "gauge",
            "VRRP priority: kind=\"base\" as configured, kind=\"effective\" after tracking.",
        ),
        inst,
        instance_labels,
        "kind",
        |i| {
            let p = |p: u8| Num::Int(u64::from(p));
            vec![
                ("base", p(i.base_priority)),
                ("effective", p(i.effective_priority)),
            ]
        },
    );

    let families: [(&str, &str, &str, &PerInstance); 9] = [
        (
            "vrrpx_master_priority",
            "gauge",
            "Priority of the master this instance hears, when it hears one.",
            &|i| i.master.map(|(_, p)| Num::Int(u64::from(p))),
        ),
        (
            "vrrpx_advert_interval_seconds",
            "gauge",
            "Configured advertisement interval.",
            &|i| Some(seconds_cs(i.advert_interval_cs)),
        ),
        (
            "vrrpx_master_advert_interval_seconds",
            "gauge",
            "Master_Adver_Interval learned from the master's adverts.",
            &|i| Some(seconds_cs(i.master_adver_interval_cs)),
        ),
        (
            "vrrpx_transitions_total",
            "counter",
            "State transitions of the instance.",
            &|i| Some(Num::Int(i.transitions)),
        ),
        (
            "vrrpx_last_transition_timestamp_seconds",
            "gauge",
            "Unix time of the instance's latest state transition.",
            &|i| i.last_transition.as_ref().map(|t| Num::Float(t.at_unix)),
        ),
        (
            "vrrpx_adverts_sent_total",
            "counter",
            "VRRP advertisements sent.",
            &|i| Some(Num::Int(i.adverts_sent)),
        ),
        (
            "vrrpx_adverts_received_total",
            "counter",
            "VRRP advertisements received that passed the receive checks.",
            &|i| Some(Num::Int(i.adverts_received)),
        ),
        (
            "vrrpx_timer_margin_seconds",
            "gauge",
            "While backup: how long before the Master_Down deadline the latest advert arrived.",
            &|i| i.timer_margin_ms.map(|ms| Num::Float(ms / 1000.0)),
        ),
        (
            "vrrpx_timer_margin_min_seconds",
            "gauge",
            "Smallest timer margin seen since the daemon started.",
            &|i| i.min_timer_margin_ms.map(|ms| Num::Float(ms / 1000.0)),
        ),
    ];
    for (name, kind, help, value) in families {
        per_instance(out, (name, kind, help), inst, instance_labels, value);
    }
}

/// The time between consecutive adverts each instance hears, as one histogram series per
/// instance (empty before its first observation).
fn interarrival_histogram(out: &mut Exposition, inst: &[InstanceStatus], hist: &Histograms) {
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
}

#[cfg(test)]
mod tests {
    use super::super::exposition::check_exposition;
    use super::super::fixtures::{instance, status};
    use super::*;

    const L: &str = r#"instance="VI_1",interface="eth0",vrid="51""#;

    /// The whole page for the fixture snapshot, with VI_1's inter-arrival histogram after
    /// adverts 0.5, 1.0 (on a bound: counted in le="1"), 1.0625 and 7.0 s apart (above
    /// every bound).
    const EXPECTED_PAGE: &str = include_str!("golden/own_families.prom");

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
        let want = EXPECTED_PAGE;
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

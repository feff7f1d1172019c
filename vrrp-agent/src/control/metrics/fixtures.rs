//! The synthetic snapshot the renderers' tests share.

use std::net::{IpAddr, Ipv4Addr};

use crate::proto::router::{Cause, StateName};
use crate::status::{InstanceStatus, Status, Transition};

pub fn instance() -> InstanceStatus {
    InstanceStatus {
        name: "VI_1".into(),
        interface: "eth0".into(),
        vrid: 51,
        family: "ipv4".into(),
        version: 3,
        state: StateName::Backup,
        base_priority: 100,
        effective_priority: 80,
        priority_reasons: vec!["chk_nginx down: -20".into()],
        master: Some((IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 150)),
        advert_interval_cs: 100,
        master_adver_interval_cs: 50,
        last_transition: Some(Transition {
            from: StateName::Initialize,
            to: StateName::Backup,
            cause: Cause::Startup,
            at_unix: 1_700_000_000.5,
            at_mono_ns: 42,
        }),
        transitions: 1,
        adverts_sent: 0,
        adverts_received: 1234,
        timer_margin_ms: Some(812.5),
        min_timer_margin_ms: Some(790.25),
        virtual_addresses: vec!["10.0.0.100/24".into()],
        tracks: vec![],
        replies_suppressed: 0,
        drained: None,
    }
}

pub fn status() -> Status {
    Status {
        version: "0.1.0".into(),
        pid: 4242,
        receive_paths: [("eth0".to_string(), "xdp (driver)".to_string())].into(),
        instances: vec![instance()],
        rejections: [(
            "eth0".to_string(),
            [("bad_ttl".to_string(), 3), ("wrong_vrid".to_string(), 5)].into(),
        )]
        .into(),
        split_brain_events: 2,
    }
}

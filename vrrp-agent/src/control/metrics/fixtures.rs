//! The synthetic snapshot the renderers' tests share.

use crate::status::Status;

pub use crate::status::sample_instance as instance;

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

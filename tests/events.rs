//! The daemon's event stream (`vrrp-agent events`, the control socket's `events` command)
//! as types, so that tests assert on what the daemon published and not on log wording.
//! Each line is `{"seq":N,"type":...,...}`, or `{"seq":F,"lost":K}` where a slow
//! subscriber missed K events from F on.

use serde::Deserialize;
use serde_json::Value;
use vrrp_agent::proto::router::{Cause, StateName};

/// One event the daemon published.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// An instance changed state.
    Transition {
        instance: String,
        interface: String,
        vrid: u8,
        from: StateName,
        to: StateName,
        cause: Cause,
        priority: u8,
    },
    /// A master saw another master for its addresses.
    SplitBrain {
        instance: String,
        interface: String,
        vrid: u8,
        seen: String,
    },
    /// The operator drained an instance (`mode` "hard" or "soft").
    Drain {
        instance: String,
        mode: Option<String>,
    },
    /// The operator ended a drain (`mode` the one that ended).
    Undrain {
        instance: String,
        mode: Option<String>,
    },
    /// A type this harness does not know yet.
    #[serde(other)]
    Other,
}

impl Event {
    /// The instance the event is about, if it names one.
    pub fn instance(&self) -> Option<&str> {
        match self {
            Event::Transition { instance, .. }
            | Event::SplitBrain { instance, .. }
            | Event::Drain { instance, .. }
            | Event::Undrain { instance, .. } => Some(instance),
            Event::Other => None,
        }
    }

    /// `(to, cause)` of a transition of `name`.
    pub fn transition_of(&self, name: &str) -> Option<(StateName, Cause)> {
        match self {
            Event::Transition {
                instance,
                to,
                cause,
                ..
            } if instance == name => Some((*to, *cause)),
            _ => None,
        }
    }
}

/// One line of the stream.
#[derive(Clone, Debug, PartialEq)]
pub enum Line {
    Event {
        seq: u64,
        event: Event,
    },
    /// The subscriber fell behind: `count` events from `from` on never arrived.
    Lost {
        from: u64,
        count: u64,
    },
    /// A line that is not an event the types above describe.
    Unparsed(Value),
}

impl Line {
    pub fn parse(v: Value) -> Line {
        let seq = v["seq"].as_u64();
        match (seq, v["lost"].as_u64()) {
            (Some(from), Some(count)) => Line::Lost { from, count },
            (Some(seq), None) => match Event::deserialize(&v) {
                Ok(event) => Line::Event { seq, event },
                Err(_) => Line::Unparsed(v),
            },
            _ => Line::Unparsed(v),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_transition_line_parses_into_its_fields() {
        let v = serde_json::json!({"seq": 3, "type": "transition", "instance": "VI_1",
            "interface": "eth0", "vrid": 51, "from": "Backup", "to": "Master",
            "cause": "MasterDown", "priority": 100, "at_unix": 1.5});
        let Line::Event { seq, event } = Line::parse(v) else {
            panic!("not an event")
        };
        assert_eq!(seq, 3);
        assert_eq!(
            event.transition_of("VI_1"),
            Some((StateName::Master, Cause::MasterDown))
        );
        assert_eq!(event.transition_of("VI_2"), None);
    }

    #[test]
    fn a_gap_and_an_unknown_type_are_told_apart() {
        assert_eq!(
            Line::parse(serde_json::json!({"seq": 7, "lost": 2})),
            Line::Lost { from: 7, count: 2 }
        );
        assert!(matches!(
            Line::parse(serde_json::json!({"seq": 8, "type": "novel"})),
            Line::Event {
                seq: 8,
                event: Event::Other
            }
        ));
        assert!(matches!(
            Line::parse(serde_json::json!({"ok": false})),
            Line::Unparsed(_)
        ));
    }
}

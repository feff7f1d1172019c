//! The arithmetic of tracking, with keepalived's meanings (keepalived.conf(5), "VRRP
//! script(s)", "track_interface", "Track files"). Pure: no clock, no I/O.
//!
//! ## A check's status: rise and fall
//!
//! ```text
//!            success                 `fall` failures in a row
//!   Init ──────────────▶ Ok ──────────────────────────────────▶ Failed
//!     │                   ▲                                        │
//!     │ failure           └──── `rise` successes in a row ─────────┘
//!     └──────────────────────────────────────────────────────────▶ Failed
//! ```
//!
//! Without `init_fail` a check starts in `Init` ("not run yet"): keepalived lets the first
//! result decide at once, whatever `rise` and `fall` say, and until then a weighted check
//! moves nothing while an unweighted one holds the instance back (keepalived keeps it in
//! INIT). With `init_fail` it starts `Failed` and needs `rise` successes.
//!
//! ## An instance's priority: [`evaluate`]
//!
//! Every tracked item contributes by its weight (a `track_script` weight overrides the
//! script's own):
//!
//! | item                    | weight 0         | weight > 0       | weight < 0          |
//! |-------------------------|------------------|------------------|---------------------|
//! | script / interface      | FAULT while bad  | + weight while good | + weight (so −) while bad |
//! | track_file value `v`    | FAULT if v ≠ 0   | v × weight; FAULT when ≤ −254 | same |
//!
//! "Bad" is a script whose status is `Failed` or an interface that is down. File values are
//! clamped to ±254 before and after the multiplication, as keepalived does. The sum is added
//! to the configured priority and the result clamped to 1..=254.
//!
//! The address owner (priority 255) keeps 255: keepalived never changes an owner's
//! effective priority, so weights do nothing there, but an unweighted item still puts it in
//! FAULT — an owner whose health check fails must stop answering for the address.

use std::fmt;

/// Where a check stands after the results so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Status {
    /// No result yet (a script without `init_fail` before its first run).
    Init,
    Ok,
    Failed,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Status::Init => "not run yet",
            Status::Ok => "ok",
            Status::Failed => "failed",
        })
    }
}

/// Rise/fall counting for one check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckState {
    rise: u32,
    fall: u32,
    status: Status,
    /// Consecutive results against the current status (failures while Ok, successes while
    /// Failed); always below the count that would flip it.
    streak: u32,
}

impl CheckState {
    /// `rise` and `fall` of 0 are read as 1 (keepalived's minimum).
    pub fn new(rise: u32, fall: u32, init_fail: bool) -> CheckState {
        CheckState {
            rise: rise.max(1),
            fall: fall.max(1),
            status: if init_fail {
                Status::Failed
            } else {
                Status::Init
            },
            streak: 0,
        }
    }

    pub fn status(&self) -> Status {
        self.status
    }

    /// Results in a row against the current status so far (e.g. 2 failures of `fall 3`).
    pub fn streak(&self) -> u32 {
        self.streak
    }

    /// Records one result; returns the new status if it changed.
    pub fn record(&mut self, success: bool) -> Option<Status> {
        let before = self.status;
        match (self.status, success) {
            (Status::Init, true) => self.become_(Status::Ok),
            (Status::Init, false) => self.become_(Status::Failed),
            (Status::Ok, true) | (Status::Failed, false) => self.streak = 0,
            (Status::Ok, false) => {
                self.streak += 1;
                if self.streak >= self.fall {
                    self.become_(Status::Failed);
                }
            }
            (Status::Failed, true) => {
                self.streak += 1;
                if self.streak >= self.rise {
                    self.become_(Status::Ok);
                }
            }
        }
        (self.status != before).then_some(self.status)
    }

    fn become_(&mut self, status: Status) {
        self.status = status;
        self.streak = 0;
    }
}

/// What kind of thing an item is, for the wording of reasons.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Script,
    Interface,
    File,
}

/// The current reading of one tracked thing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reading {
    /// A check's status (scripts and built-in checks).
    Check(Status),
    /// An interface: up or not; `None` before the first look.
    Link(Option<bool>),
    /// The integer in a track file (0 when missing or unreadable, as keepalived reads it).
    Value(i64),
}

/// One tracked item of an instance as [`evaluate`] sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Item<'a> {
    pub kind: Kind,
    pub name: &'a str,
    pub weight: i32,
    pub reading: Reading,
    /// Why it reads so (e.g. `exit status 1`), shown in reasons when it is bad; may be empty.
    pub detail: &'a str,
}

/// An instance's priority and fault flag as tracking sets them.
#[derive(Clone, Debug, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Verdict {
    /// Effective priority: 1..=254, or 255 for the address owner.
    pub priority: u8,
    /// An unweighted item is bad (or a file sum reached −254): the instance must be in FAULT.
    pub fault: bool,
    /// An unweighted item has no reading yet: keepalived holds the instance in INIT (it
    /// neither sends nor takes over) until every such item has reported.
    pub pending: bool,
    /// One line per item that moves the priority, faults or holds the instance, e.g.
    /// `chk_nginx failed (exit status 1): -20`.
    pub reasons: Vec<String>,
}

impl Verdict {
    /// The part of a verdict the engine acts on (reasons are for people).
    pub fn same_effect(&self, other: &Verdict) -> bool {
        (self.priority, self.fault, self.pending) == (other.priority, other.fault, other.pending)
    }
}

/// keepalived's bounds on a file's contribution: below this the instance faults.
const FILE_FAULT: i64 = -254;
const FILE_MAX: i64 = 253;
/// Priority of the address owner (RFC 5798 §5.2.4).
const OWNER: u8 = 255;

/// The effect of one item: nothing, a priority change, a fault, or waiting.
enum Effect {
    None,
    Add(i64),
    Fault,
    Wait,
}

fn effect_of(item: &Item<'_>) -> (Effect, String) {
    let weight = i64::from(item.weight);
    let detail = if item.detail.is_empty() {
        String::new()
    } else {
        format!(" ({})", item.detail)
    };
    // Script and interface: a good/bad reading with the same weight rules. One not read
    // yet holds the instance only when unweighted: a weighted one moves nothing
    // (keepalived counts only unweighted scripts in INIT).
    let good_bad = |good: Option<bool>, good_word: &str, bad_word: &str| match good {
        None if weight != 0 => (Effect::None, Status::Init.to_string()),
        None => (Effect::Wait, Status::Init.to_string()),
        Some(true) => (
            if weight > 0 {
                Effect::Add(weight)
            } else {
                Effect::None
            },
            good_word.to_string(),
        ),
        Some(false) => (
            match weight {
                0 => Effect::Fault,
                w if w < 0 => Effect::Add(w),
                _ => Effect::None,
            },
            format!("{bad_word}{detail}"),
        ),
    };
    match item.reading {
        Reading::Check(status) => {
            let good = match status {
                Status::Init => None,
                Status::Ok => Some(true),
                Status::Failed => Some(false),
            };
            good_bad(good, "ok", "failed")
        }
        Reading::Link(up) => good_bad(up, "up", "down"),
        Reading::Value(v) => {
            let v = v.clamp(-254, 254);
            if weight == 0 {
                let effect = if v != 0 { Effect::Fault } else { Effect::None };
                return (effect, format!("= {v}{detail}"));
            }
            let product = (v * weight).clamp(FILE_FAULT, FILE_MAX);
            let effect = if product <= FILE_FAULT {
                Effect::Fault
            } else if product != 0 {
                Effect::Add(product)
            } else {
                Effect::None
            };
            (effect, format!("= {v} × {weight}{detail}"))
        }
    }
}

/// An instance's effective priority and fault flag from its configured priority and its
/// tracked items (rules in the module comment).
pub fn evaluate(base: u8, items: &[Item<'_>]) -> Verdict {
    let owner = base == OWNER;
    let mut sum: i64 = 0;
    let mut verdict = Verdict::default();
    for item in items {
        let (effect, said) = effect_of(item);
        let name = match item.kind {
            Kind::File => format!("file {}", item.name),
            _ => item.name.to_string(),
        };
        let consequence = match effect {
            Effect::None => continue,
            Effect::Fault => {
                verdict.fault = true;
                "fault".to_string()
            }
            Effect::Wait => {
                verdict.pending = true;
                "waiting".to_string()
            }
            Effect::Add(n) if owner => format!("{n:+} ignored: address owner"),
            Effect::Add(n) => {
                sum += n;
                format!("{n:+}")
            }
        };
        verdict
            .reasons
            .push(format!("{name} {said}: {consequence}"));
    }
    verdict.priority = if owner {
        OWNER
    } else {
        let total = i64::from(base) + sum;
        let clamped = total.clamp(1, 254);
        if clamped != total {
            verdict
                .reasons
                .push(format!("priority {total} clamped to {clamped}"));
        }
        clamped as u8
    };
    verdict
}

#[cfg(test)]
mod tests {
    use super::*;

    fn script(name: &str, weight: i32, status: Status) -> Item<'_> {
        Item {
            kind: Kind::Script,
            name,
            weight,
            reading: Reading::Check(status),
            detail: "",
        }
    }

    fn link(name: &str, weight: i32, up: bool) -> Item<'_> {
        Item {
            kind: Kind::Interface,
            name,
            weight,
            reading: Reading::Link(Some(up)),
            detail: "",
        }
    }

    fn file(name: &str, weight: i32, value: i64) -> Item<'_> {
        Item {
            kind: Kind::File,
            name,
            weight,
            reading: Reading::Value(value),
            detail: "",
        }
    }

    fn run(state: &mut CheckState, results: &[bool]) -> Vec<Option<Status>> {
        results.iter().map(|r| state.record(*r)).collect()
    }

    // --- rise / fall / init_fail

    #[test]
    fn first_result_decides_without_init_fail_whatever_rise_and_fall_say() {
        let mut up = CheckState::new(3, 3, false);
        assert_eq!(up.status(), Status::Init);
        assert_eq!(up.record(true), Some(Status::Ok));

        let mut down = CheckState::new(3, 3, false);
        assert_eq!(down.record(false), Some(Status::Failed));
    }

    #[test]
    fn init_fail_starts_failed_and_needs_rise_successes() {
        let mut s = CheckState::new(2, 5, true);
        assert_eq!(s.status(), Status::Failed);
        assert_eq!(run(&mut s, &[true, true]), [None, Some(Status::Ok)]);
    }

    #[test]
    fn fall_consecutive_failures_are_needed_to_fail() {
        let mut s = CheckState::new(1, 3, false);
        s.record(true);
        assert_eq!(
            run(&mut s, &[false, false, true, false, false, false]),
            [None, None, None, None, None, Some(Status::Failed)],
            "a success in between starts the count again"
        );
        assert_eq!(s.streak(), 0);
    }

    #[test]
    fn rise_consecutive_successes_are_needed_to_recover() {
        let mut s = CheckState::new(3, 1, true);
        assert_eq!(
            run(&mut s, &[true, true, false, true, true, true]),
            [None, None, None, None, None, Some(Status::Ok)]
        );
        assert_eq!(s.record(false), Some(Status::Failed), "fall 1");
    }

    #[test]
    fn zero_rise_or_fall_counts_as_one() {
        let mut s = CheckState::new(0, 0, true);
        assert_eq!(s.record(true), Some(Status::Ok));
        assert_eq!(s.record(false), Some(Status::Failed));
    }

    // --- weights

    #[test]
    fn no_items_keep_the_configured_priority() {
        let v = evaluate(100, &[]);
        assert_eq!((v.priority, v.fault, v.pending), (100, false, false));
        assert!(v.reasons.is_empty());
    }

    #[test]
    fn positive_script_weight_is_added_while_ok_only() {
        assert_eq!(
            evaluate(100, &[script("chk", 10, Status::Ok)]).priority,
            110
        );
        assert_eq!(
            evaluate(100, &[script("chk", 10, Status::Failed)]).priority,
            100
        );
    }

    #[test]
    fn negative_script_weight_is_subtracted_while_failed_only() {
        let v = evaluate(100, &[script("chk_nginx", -20, Status::Failed)]);
        assert_eq!(v.priority, 80);
        assert!(!v.fault);
        assert_eq!(v.reasons, ["chk_nginx failed: -20"]);
        assert_eq!(
            evaluate(100, &[script("chk_nginx", -20, Status::Ok)]).priority,
            100
        );
    }

    #[test]
    fn unweighted_script_faults_while_failed() {
        let v = evaluate(100, &[script("chk", 0, Status::Failed)]);
        assert!(v.fault);
        assert_eq!(v.priority, 100);
        assert_eq!(v.reasons, ["chk failed: fault"]);
        assert!(!evaluate(100, &[script("chk", 0, Status::Ok)]).fault);
    }

    #[test]
    fn a_script_not_run_yet_holds_only_when_unweighted() {
        let v = evaluate(100, &[script("chk", 0, Status::Init)]);
        assert!(v.pending && !v.fault);
        assert_eq!(v.reasons, ["chk not run yet: waiting"]);

        for w in [-5, 5] {
            let v = evaluate(100, &[script("chk", w, Status::Init)]);
            assert_eq!((v.priority, v.pending, v.fault), (100, false, false), "{w}");
        }
    }

    #[test]
    fn interface_rules_match_keepalived() {
        assert!(evaluate(100, &[link("eth1", 0, false)]).fault);
        assert!(!evaluate(100, &[link("eth1", 0, true)]).fault);
        assert_eq!(evaluate(100, &[link("eth1", 15, true)]).priority, 115);
        assert_eq!(evaluate(100, &[link("eth1", 15, false)]).priority, 100);
        assert_eq!(evaluate(100, &[link("eth1", -15, false)]).priority, 85);
        assert_eq!(evaluate(100, &[link("eth1", -15, true)]).priority, 100);
        let unknown = Item {
            reading: Reading::Link(None),
            ..link("eth1", 0, true)
        };
        assert!(evaluate(100, &[unknown]).pending);
    }

    #[test]
    fn file_value_is_multiplied_by_weight() {
        let v = evaluate(100, &[file("cap", 5, 3)]);
        assert_eq!(v.priority, 115);
        assert_eq!(v.reasons, ["file cap = 3 × 5: +15"]);
        assert_eq!(evaluate(100, &[file("cap", -5, 3)]).priority, 85);
        assert_eq!(evaluate(100, &[file("cap", 5, -3)]).priority, 85);
        assert_eq!(evaluate(100, &[file("cap", 5, 0)]).priority, 100);
    }

    #[test]
    fn unweighted_file_faults_on_any_non_zero_value() {
        assert!(evaluate(100, &[file("f", 0, 1)]).fault);
        assert!(evaluate(100, &[file("f", 0, -7)]).fault);
        assert!(!evaluate(100, &[file("f", 0, 0)]).fault);
    }

    #[test]
    fn file_product_at_or_below_minus_254_faults() {
        assert!(evaluate(100, &[file("f", 1, -254)]).fault);
        assert!(evaluate(100, &[file("f", 2, -200)]).fault);
        let v = evaluate(100, &[file("f", 1, -253)]);
        assert_eq!((v.fault, v.priority), (false, 1));
        // Values beyond ±254 are read as ±254.
        assert!(evaluate(100, &[file("f", 1, -100_000)]).fault);
    }

    #[test]
    fn contributions_add_up() {
        let v = evaluate(
            100,
            &[
                script("a", 10, Status::Ok),
                script("b", -30, Status::Failed),
                link("eth1", 5, true),
                file("f", 2, 4),
            ],
        );
        assert_eq!(v.priority, 100 + 10 - 30 + 5 + 8);
        assert_eq!(v.reasons.len(), 4);
    }

    #[test]
    fn effective_priority_is_clamped_to_1_through_254() {
        let v = evaluate(250, &[script("a", 100, Status::Ok)]);
        assert_eq!(v.priority, 254);
        assert!(v
            .reasons
            .contains(&"priority 350 clamped to 254".to_string()));
        assert_eq!(
            evaluate(10, &[script("a", -100, Status::Failed)]).priority,
            1
        );
        assert_eq!(
            evaluate(254, &[script("a", 0, Status::Ok)]).priority,
            254,
            "nothing to clamp"
        );
    }

    #[test]
    fn the_address_owner_keeps_255_but_still_faults() {
        let v = evaluate(255, &[script("a", -50, Status::Failed)]);
        assert_eq!((v.priority, v.fault), (255, false));
        assert_eq!(v.reasons, ["a failed: -50 ignored: address owner"]);
        let v = evaluate(255, &[script("a", 0, Status::Failed)]);
        assert_eq!((v.priority, v.fault), (255, true));
    }

    #[test]
    fn details_of_bad_readings_appear_in_reasons() {
        let item = Item {
            detail: "exit status 1",
            ..script("chk_nginx", -20, Status::Failed)
        };
        assert_eq!(
            evaluate(100, &[item]).reasons,
            ["chk_nginx failed (exit status 1): -20"]
        );
    }
}

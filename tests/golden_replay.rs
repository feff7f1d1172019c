//! Golden event-replay scenarios for the state machine: each `tests/golden/NAME.jsonl` is
//! the router's parameters on the first line, then numbered inputs with their time; the
//! matching `NAME.expected.jsonl` holds, per input, the actions, the state and the next
//! deadline. `VRRPX_UPDATE_GOLDEN=1 cargo test --test golden_replay` rewrites the expected
//! files (review the diff!). The same input lines are what a production event recorder
//! would write, so a field incident can become a scenario here.

use std::path::Path;

use serde_json::{json, Value};
use vrrp_agent::proto::router::{Input, Router, RouterParams};
use vrrpx_tests::golden::{self, check_scenarios};

fn replay(scenario: &Path) -> Vec<Value> {
    let (params, steps): (RouterParams, Vec<(Value, Input)>) = golden::read(scenario, "params");
    let mut router = Router::new(params);
    let mut out = Vec::new();
    for (n, (step, input)) in steps.into_iter().enumerate() {
        let at_ms = step["at_ms"].as_f64().expect("at_ms");
        let now = (at_ms * 1e6).round() as u64;
        let actions = router.handle(input.clone(), now);
        out.push(json!({
            "step": n,
            "at_ms": at_ms,
            "input": input,
            "actions": actions,
            "state": router.state(),
            "deadline_ms": router.next_deadline().map(|d| d as f64 / 1e6),
        }));
    }
    out
}

#[test]
fn golden_scenarios_replay_to_their_expected_outputs() {
    check_scenarios("golden", 4, replay);
}

//! Golden event-replay scenarios for the state machine: each `tests/golden/NAME.jsonl` is
//! the router's parameters on the first line, then numbered inputs with their time; the
//! matching `NAME.expected.jsonl` holds, per input, the actions, the state and the next
//! deadline. `VRRPX_UPDATE_GOLDEN=1 cargo test --test golden_replay` rewrites the expected
//! files (review the diff!). The same input lines are what a production event recorder
//! would write, so a field incident can become a scenario here.

use std::path::Path;

use serde_json::{json, Value};
use vrrp_agent::proto::router::{Input, Router, RouterParams};
use vrrpx_tests::golden::check_scenarios;

fn replay(scenario: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(scenario).unwrap();
    let mut lines = text
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with("//"));
    let first: Value = serde_json::from_str(lines.next().expect("params line")).unwrap();
    let params: RouterParams = serde_json::from_value(first["params"].clone())
        .unwrap_or_else(|e| panic!("{}: params: {e}", scenario.display()));
    let mut router = Router::new(params);
    let mut out = Vec::new();
    for (n, line) in lines.enumerate() {
        let step: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("{} step {n}: {e}", scenario.display()));
        let at_ms = step["at_ms"].as_f64().expect("at_ms");
        let input: Input = serde_json::from_value(step["input"].clone())
            .unwrap_or_else(|e| panic!("{} step {n}: input: {e}", scenario.display()));
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

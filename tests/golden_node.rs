//! Golden replays of the node core (every instance, health, sync groups, split brain):
//! each `tests/golden_node/NAME.jsonl` starts with `{"spec": NodeSpec}` and continues with
//! timed inputs, `{"at_ms": T, "input": NodeInput}` — or `"at_ns"`, which is what
//! `vrrp-agent run --record FILE` writes, so a recorded incident replays here unchanged.
//! `NAME.expected.jsonl` holds, per input, the outputs, every instance's state and the
//! next deadline; `VRRPX_UPDATE_GOLDEN=1` rewrites them (review the diff).

use std::path::Path;

use serde_json::{json, Value};
use vrrp_agent::proto::node::{Node, NodeInput, NodeSpec};
use vrrpx_tests::golden::{self, check_scenarios};

fn replay(scenario: &Path) -> Vec<Value> {
    let (spec, steps): (NodeSpec, Vec<(Value, NodeInput)>) = golden::read(scenario, "spec");
    let mut node = Node::new(spec);
    let mut out = Vec::new();
    for (n, (step, input)) in steps.into_iter().enumerate() {
        let now = match (step["at_ns"].as_u64(), step["at_ms"].as_f64()) {
            (Some(ns), _) => ns,
            (None, Some(ms)) => (ms * 1e6).round() as u64,
            _ => panic!("{} step {n}: at_ms or at_ns", scenario.display()),
        };
        let outputs = node.handle(input.clone(), now);
        let states: Vec<Value> = (0..node.len())
            .map(|i| json!([node.router(i).state(), node.router(i).priority()]))
            .collect();
        out.push(json!({
            "step": n,
            "at_ms": now as f64 / 1e6,
            "input": input,
            "outputs": outputs,
            "states": states,
            "deadline_ms": node.next_deadline().map(|d| d as f64 / 1e6),
        }));
    }
    out
}

#[test]
fn node_scenarios_replay_to_their_expected_outputs() {
    check_scenarios("golden_node", 4, replay);
}

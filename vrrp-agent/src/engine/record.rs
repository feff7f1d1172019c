//! `vrrp-agent run --record FILE`: every input the node core is fed, one JSON line each
//! with the time it was fed, after a first line holding the node's spec. The same lines
//! replay through [`crate::proto::node::Node`] (tests/golden_node/ does exactly that), so
//! a field incident becomes a test.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::{Context, Result};
use serde_json::json;

use crate::proto::node::{NodeInput, NodeSpec};

pub struct Recorder {
    out: BufWriter<File>,
    failed: bool,
}

impl Recorder {
    pub fn create(path: &Path, spec: &NodeSpec) -> Result<Recorder> {
        let file = File::create(path).with_context(|| format!("--record {}", path.display()))?;
        let mut r = Recorder {
            out: BufWriter::new(file),
            failed: false,
        };
        r.line(&json!({ "spec": spec }));
        Ok(r)
    }

    /// One input; flushed at once, so a crash loses nothing that was fed.
    pub fn record(&mut self, input: &NodeInput, now: u64) {
        self.line(&json!({ "at_ns": now, "input": input }));
    }

    fn line(&mut self, v: &serde_json::Value) {
        if self.failed {
            return;
        }
        let ok = serde_json::to_writer(&mut self.out, v).is_ok()
            && self.out.write_all(b"\n").is_ok()
            && self.out.flush().is_ok();
        if !ok {
            // A full disk must not stop the routers: say so once and stop recording.
            self.failed = true;
            tracing::error!("--record: cannot write the input record; recording stopped");
        }
    }
}

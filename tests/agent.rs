//! Running vrrp-agent in a lab host the way users do (`vrrp-agent run -f FILE`, default
//! paths) and asking it what it thinks through its own CLI (`vrrp-agent status --json`,
//! which finds the daemon of the namespace with no flag).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use crate::agent_bin;
use crate::netns::{wait_for, Lab};

/// One agent started in a lab host; its stderr goes to `log`.
pub struct Agent {
    pub host: String,
    pub idx: usize,
    pub log: PathBuf,
}

impl Agent {
    /// `vrrp-agent run -f conf EXTRA...` in host `h`.
    pub fn start(lab: &mut Lab, h: &str, conf: &Path, dir: &Path, extra: &[&str]) -> Agent {
        let bin = agent_bin();
        let mut argv = vec![bin.to_str().unwrap(), "run", "-f", conf.to_str().unwrap()];
        argv.extend_from_slice(extra);
        let log = dir.join(format!("agent-{h}.log"));
        let idx = lab
            .spawn(h, &argv, &dir.join(format!("agent-{h}.out")), &log)
            .unwrap();
        Agent {
            host: h.to_string(),
            idx,
            log,
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `vrrp-agent status --json` run in the agent's namespace (default socket path).
    pub fn status(&self, lab: &Lab) -> Option<Value> {
        let bin = agent_bin();
        let out = lab
            .command(&self.host, &[bin.to_str().unwrap(), "status", "--json"])
            .output()
            .ok()?;
        if !out.status.success() {
            return None;
        }
        serde_json::from_slice(&out.stdout).ok()
    }

    /// The status of instance `name`, if the daemon answers and has it.
    pub fn instance(&self, lab: &Lab, name: &str) -> Option<Value> {
        let s = self.status(lab)?;
        s["instances"]
            .as_array()?
            .iter()
            .find(|i| i["name"] == name)
            .cloned()
    }

    /// The state ("Master", "Backup", "Fault", "Initialize") of instance `name`.
    pub fn state(&self, lab: &Lab, name: &str) -> Option<String> {
        self.instance(lab, name)
            .and_then(|i| i["state"].as_str().map(str::to_string))
    }

    /// Wait until instance `name` is in `state`.
    pub fn wait_state(&self, lab: &Lab, name: &str, state: &str, limit: Duration) -> bool {
        wait_for(limit, || self.state(lab, name).as_deref() == Some(state))
    }

    /// How many transitions instance `name` has made.
    pub fn transitions(&self, lab: &Lab, name: &str) -> Option<u64> {
        self.instance(lab, name)?["transitions"].as_u64()
    }

    /// Adverts the agent reports refused on `iface` for `reason` (e.g. "not_peer").
    pub fn rejected(&self, lab: &Lab, iface: &str, reason: &str) -> u64 {
        self.status(lab)
            .and_then(|s| s["rejections"][iface][reason].as_u64())
            .unwrap_or(0)
    }

    /// The cause of instance `name`'s latest transition.
    pub fn last_cause(&self, lab: &Lab, name: &str) -> Option<String> {
        self.instance(lab, name)?["last_transition"]["cause"]
            .as_str()
            .map(str::to_string)
    }
}

/// CPU time (ns) a process has used so far, from every thread's schedstat.
pub fn cpu_ns(pid: u32) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

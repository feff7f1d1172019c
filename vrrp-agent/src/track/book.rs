//! What is tracked ([`Plan`]), what the watchers report ([`TrackUpdate`]) and the record of
//! it all ([`TrackBook`]): pure, so the engine's tests can feed updates by hand.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::config::model::{Config, RunAs, Script, TrackFileInit};

use super::probe::Probe;
use super::state::{evaluate, CheckState, Item, Kind, Reading, Status, Verdict};

/// How often interfaces and track files are looked at unless the plan says otherwise.
pub const DEFAULT_POLL: Duration = Duration::from_millis(100);

/// One check to run: a `vrrp_script` used by at least one instance (keepalived runs no
/// others).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckPlan {
    pub name: String,
    /// The `script` string as configured (see [`super::probe`] for what it may say).
    pub script: String,
    pub interval: Duration,
    pub timeout: Duration,
    pub rise: u32,
    pub fall: u32,
    /// keepalived's `init_fail`: assume failed until `rise` successes.
    pub init_fail: bool,
    /// Who a program runs as; `None`: the agent's own user.
    pub run_as: Option<RunAs>,
}

impl CheckPlan {
    /// The parsed script; an error here is reported at every run as "cannot start".
    pub fn probe(&self) -> Result<Probe, String> {
        Probe::parse(&self.script)
    }
}

impl From<&Script> for CheckPlan {
    fn from(s: &Script) -> CheckPlan {
        CheckPlan {
            name: s.name.clone(),
            script: s.script.clone(),
            interval: s.interval,
            timeout: s.timeout,
            rise: s.rise,
            fall: s.fall,
            init_fail: s.init_fail,
            run_as: s.run_as.clone(),
        }
    }
}

/// A `track_file`: an integer read from `path`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilePlan {
    pub name: String,
    pub path: PathBuf,
    /// `init_file [VALUE] [overwrite]`: written when tracking starts.
    pub init: Option<TrackFileInit>,
}

/// A thing an instance tracks.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub enum Source {
    /// A `vrrp_script` (program or built-in check), by name.
    Script(String),
    /// A `track_interface`, by interface name.
    Interface(String),
    /// A `track_file`, by its name (not its path).
    File(String),
}

impl Source {
    pub fn name(&self) -> &str {
        match self {
            Source::Script(n) | Source::Interface(n) | Source::File(n) => n,
        }
    }

    fn kind(&self) -> Kind {
        match self {
            Source::Script(_) => Kind::Script,
            Source::Interface(_) => Kind::Interface,
            Source::File(_) => Kind::File,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstancePlan {
    pub name: String,
    /// The configured priority.
    pub priority: u8,
    /// What it tracks, each with its effective weight.
    pub tracked: Vec<(Source, i32)>,
}

impl InstancePlan {
    pub fn tracks(&self, source: &Source) -> bool {
        self.tracked.iter().any(|(s, _)| s == source)
    }
}

/// Everything to watch and who cares about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    pub checks: Vec<CheckPlan>,
    pub interfaces: Vec<String>,
    pub files: Vec<FilePlan>,
    pub instances: Vec<InstancePlan>,
    /// Interface and file polling period.
    pub poll: Duration,
    /// Where interfaces are looked up (`/sys/class/net`; tests point it elsewhere).
    pub net_root: PathBuf,
}

impl Plan {
    /// The plan a validated configuration asks for. A `track_script` or `track_file`
    /// without weight takes the script's or file's own; scripts and files no instance
    /// tracks are neither run nor read (as in keepalived).
    pub fn from_config(config: &Config) -> Plan {
        let mut plan = Plan {
            checks: Vec::new(),
            interfaces: Vec::new(),
            files: Vec::new(),
            instances: Vec::new(),
            poll: DEFAULT_POLL,
            net_root: PathBuf::from("/sys/class/net"),
        };
        for instance in &config.instances {
            let mut tracked = Vec::new();
            for t in &instance.track_interfaces {
                tracked.push((Source::Interface(t.name.clone()), t.weight));
                if !plan.interfaces.contains(&t.name) {
                    plan.interfaces.push(t.name.clone());
                }
            }
            for t in &instance.track_scripts {
                let own = config.scripts.iter().find(|s| s.name == t.name);
                let weight = t.weight.or(own.map(|s| s.weight)).unwrap_or(0);
                tracked.push((Source::Script(t.name.clone()), weight));
            }
            for t in &instance.track_files {
                let own = config.track_files.iter().find(|f| f.name == t.name);
                let weight = t.weight.or(own.map(|f| f.weight)).unwrap_or(1);
                tracked.push((Source::File(t.name.clone()), weight));
            }
            plan.instances.push(InstancePlan {
                name: instance.name.clone(),
                priority: instance.priority,
                tracked,
            });
        }
        let used = |source: Source| plan.instances.iter().any(|i| i.tracks(&source));
        let checks = config
            .scripts
            .iter()
            .filter(|s| used(Source::Script(s.name.clone())));
        let files = config
            .track_files
            .iter()
            .filter(|f| used(Source::File(f.name.clone())));
        plan.checks = checks.map(CheckPlan::from).collect();
        plan.files = files
            .map(|f| FilePlan {
                name: f.name.clone(),
                path: f.path.clone(),
                init: f.init,
            })
            .collect();
        plan
    }
}

/// The outcome of one run of a check.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum RunResult {
    /// Exit status 0, connection accepted, or the expected HTTP status.
    Success,
    /// Ran and said no: `exit status 1`, `killed by signal 9`, `HTTP status 503 (want 200)`,
    /// `connect 127.0.0.1:80: Connection refused`.
    Failed(String),
    /// Still running at `timeout` (killed), or no answer within it.
    TimedOut { after_ms: u64 },
    /// The program could not be started at all (`/x/chk: No such file or directory`), or
    /// the script string is not understood. Counts as a failure, and is logged.
    CannotStart(String),
}

impl RunResult {
    pub fn is_success(&self) -> bool {
        matches!(self, RunResult::Success)
    }

    /// Human words for status output and logs; empty for success.
    pub fn describe(&self) -> String {
        match self {
            RunResult::Success => String::new(),
            RunResult::Failed(why) => why.clone(),
            RunResult::TimedOut { after_ms } => format!("timed out after {after_ms} ms"),
            RunResult::CannotStart(why) => format!("cannot start: {why}"),
        }
    }
}

/// What a watcher observed.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Observation {
    /// One run of a script or built-in check (every run is reported: rise/fall count them).
    Run(RunResult),
    /// An interface's state (reported when it changes).
    Link { up: bool, detail: String },
    /// A track file's value (reported when it changes).
    Value { value: i64, detail: String },
}

/// One report from the watchers to the engine.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TrackUpdate {
    pub source: Source,
    pub observation: Observation,
}

#[derive(Clone, Debug)]
struct CheckRecord {
    state: CheckState,
    /// The last run's description (empty after a success).
    detail: String,
}

#[derive(Clone, Debug, Default)]
struct Reported {
    reading: Option<Reading>,
    detail: String,
}

/// The current reading of everything tracked, and the verdict per instance.
#[derive(Clone, Debug)]
pub struct TrackBook {
    checks: BTreeMap<String, CheckRecord>,
    others: BTreeMap<Source, Reported>,
    instances: Vec<InstancePlan>,
}

impl TrackBook {
    pub fn new(plan: &Plan) -> TrackBook {
        let checks = plan
            .checks
            .iter()
            .map(|c| {
                let record = CheckRecord {
                    state: CheckState::new(c.rise, c.fall, c.init_fail),
                    detail: if c.init_fail {
                        "init_fail".into()
                    } else {
                        String::new()
                    },
                };
                (c.name.clone(), record)
            })
            .collect();
        let others = plan
            .interfaces
            .iter()
            .map(|i| Source::Interface(i.clone()))
            .chain(plan.files.iter().map(|f| Source::File(f.name.clone())))
            .map(|s| (s, Reported::default()))
            .collect();
        TrackBook {
            checks,
            others,
            instances: plan.instances.clone(),
        }
    }

    /// Records an update; returns the instances whose priority, fault or pending flag
    /// changed because of it (their reasons may change without being listed).
    pub fn apply(&mut self, update: &TrackUpdate) -> Vec<String> {
        let before: Vec<(String, Verdict)> = self.affected(&update.source);
        match (&update.source, &update.observation) {
            (Source::Script(name), Observation::Run(result)) => {
                let Some(record) = self.checks.get_mut(name) else {
                    return Vec::new();
                };
                record.detail = result.describe();
                if let Some(status) = record.state.record(result.is_success()) {
                    match status {
                        Status::Failed => tracing::warn!(
                            check = name.as_str(),
                            detail = record.detail.as_str(),
                            "check failed"
                        ),
                        _ => tracing::info!(check = name.as_str(), "check {status}"),
                    }
                }
            }
            (s @ Source::Interface(_), Observation::Link { up, detail }) => {
                let Some(r) = self.others.get_mut(s) else {
                    return Vec::new();
                };
                *r = Reported {
                    reading: Some(Reading::Link(Some(*up))),
                    detail: detail.clone(),
                };
            }
            (s @ Source::File(_), Observation::Value { value, detail }) => {
                let Some(r) = self.others.get_mut(s) else {
                    return Vec::new();
                };
                *r = Reported {
                    reading: Some(Reading::Value(*value)),
                    detail: detail.clone(),
                };
            }
            // An observation of the wrong kind for its source: nothing to record.
            _ => return Vec::new(),
        }
        before
            .into_iter()
            .filter(|(name, old)| self.verdict(name).is_some_and(|new| !new.same_effect(old)))
            .map(|(name, _)| name)
            .collect()
    }

    /// The verdict for `instance`, or `None` if the plan has no such instance.
    pub fn verdict(&self, instance: &str) -> Option<Verdict> {
        let plan = self.instances.iter().find(|i| i.name == instance)?;
        let items: Vec<Item<'_>> = plan
            .tracked
            .iter()
            .map(|(source, weight)| {
                let (reading, detail) = self.reading(source);
                Item {
                    kind: source.kind(),
                    name: source.name(),
                    weight: *weight,
                    reading,
                    detail,
                }
            })
            .collect();
        Some(evaluate(plan.priority, &items))
    }

    /// Where a check stands (`None` if there is no such check).
    pub fn status(&self, check: &str) -> Option<Status> {
        self.checks.get(check).map(|c| c.state.status())
    }

    /// The instance names in plan order.
    pub fn instances(&self) -> impl Iterator<Item = &str> {
        self.instances.iter().map(|i| i.name.as_str())
    }

    fn reading(&self, source: &Source) -> (Reading, &str) {
        match source {
            Source::Script(name) => match self.checks.get(name) {
                Some(c) => (Reading::Check(c.state.status()), c.detail.as_str()),
                // Tracked but not in the plan: it never reports.
                None => (Reading::Check(Status::Init), "no such vrrp_script"),
            },
            Source::Interface(_) => match self.others.get(source) {
                Some(Reported {
                    reading: Some(r),
                    detail,
                }) => (*r, detail.as_str()),
                _ => (Reading::Link(None), ""),
            },
            Source::File(_) => match self.others.get(source) {
                Some(Reported {
                    reading: Some(r),
                    detail,
                }) => (*r, detail.as_str()),
                // Not read yet: keepalived reads a missing file as 0.
                _ => (Reading::Value(0), ""),
            },
        }
    }

    fn affected(&self, source: &Source) -> Vec<(String, Verdict)> {
        self.instances
            .iter()
            .filter(|i| i.tracks(source))
            .filter_map(|i| Some((i.name.clone(), self.verdict(&i.name)?)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Built from keepalived.conf text, so these tests follow the configuration model.
    const CONF: &str = r#"
vrrp_script chk_nginx {
    script "/bin/true"
    weight -20
    rise 1
    fall 2
}
vrrp_script chk_db {
    script "/bin/true"
}
vrrp_script unused {
    script "/bin/true"
}
track_file cap {
    file "/run/vrrpx-cap"
    weight 10
}
vrrp_instance VI_A {
    state BACKUP
    interface lo
    virtual_router_id 51
    priority 100
    advert_int 1
    virtual_ipaddress {
        10.9.0.100/24
    }
    track_interface {
        eth1
    }
    track_script {
        chk_nginx
        chk_db weight -30
    }
}
vrrp_instance VI_B {
    state BACKUP
    interface lo
    virtual_router_id 52
    priority 150
    advert_int 1
    virtual_ipaddress {
        10.9.1.100/24
    }
    track_script {
        chk_nginx weight 0
    }
    track_file {
        cap
    }
}
"#;

    fn config(text: &str) -> Config {
        match crate::config::load_str(text, std::path::Path::new("track.conf")) {
            Ok(loaded) => loaded.config,
            Err(errors) => panic!("{errors:?}"),
        }
    }

    fn book() -> TrackBook {
        TrackBook::new(&Plan::from_config(&config(CONF)))
    }

    fn update(source: Source, observation: Observation) -> TrackUpdate {
        TrackUpdate {
            source,
            observation,
        }
    }

    fn run(source: &str, result: RunResult) -> TrackUpdate {
        update(Source::Script(source.into()), Observation::Run(result))
    }

    fn link(name: &str, up: bool) -> TrackUpdate {
        let detail = String::new();
        update(
            Source::Interface(name.into()),
            Observation::Link { up, detail },
        )
    }

    fn value(name: &str, value: i64) -> TrackUpdate {
        let detail = String::new();
        update(
            Source::File(name.into()),
            Observation::Value { value, detail },
        )
    }

    #[test]
    fn plan_runs_only_tracked_scripts_and_resolves_weights() {
        let plan = Plan::from_config(&config(CONF));
        let names: Vec<_> = plan.checks.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["chk_nginx", "chk_db"]);
        assert_eq!(plan.interfaces, ["eth1"]);
        assert_eq!(plan.files.len(), 1);
        assert_eq!(plan.files[0].path, PathBuf::from("/run/vrrpx-cap"));
        assert_eq!(
            plan.instances[0].tracked,
            [
                (Source::Interface("eth1".into()), 0),
                (Source::Script("chk_nginx".into()), -20),
                (Source::Script("chk_db".into()), -30),
            ]
        );
        assert_eq!(
            plan.instances[1].tracked,
            [
                (Source::Script("chk_nginx".into()), 0),
                (Source::File("cap".into()), 10),
            ]
        );
    }

    #[test]
    fn one_script_moves_each_instance_by_its_own_weight() {
        let mut book = book();
        // Nothing known yet: A waits for eth1, B for chk_nginx.
        assert!(book.verdict("VI_A").unwrap().pending);
        assert!(book.verdict("VI_B").unwrap().pending);

        book.apply(&link("eth1", true));
        // A does not move (its weight is negative), B stops waiting.
        assert_eq!(book.apply(&run("chk_nginx", RunResult::Success)), ["VI_B"]);
        let a = book.verdict("VI_A").unwrap();
        assert_eq!((a.priority, a.fault, a.pending), (100, false, false));

        // fall 2: the first failure changes nothing.
        let fail = RunResult::Failed("exit status 1".into());
        assert!(book.apply(&run("chk_nginx", fail.clone())).is_empty());
        assert_eq!(
            book.apply(&run("chk_nginx", fail)),
            ["VI_A", "VI_B"].map(String::from)
        );
        let a = book.verdict("VI_A").unwrap();
        assert_eq!(a.priority, 80);
        assert_eq!(a.reasons, ["chk_nginx failed (exit status 1): -20"]);
        assert!(book.verdict("VI_B").unwrap().fault);
    }

    #[test]
    fn a_script_that_cannot_start_counts_as_failed_and_says_why() {
        let mut book = book();
        book.apply(&run(
            "chk_db",
            RunResult::CannotStart("/x/chk_db: No such file or directory".into()),
        ));
        assert_eq!(book.status("chk_db"), Some(Status::Failed));
        let a = book.verdict("VI_A").unwrap();
        assert!(a.reasons.contains(
            &"chk_db failed (cannot start: /x/chk_db: No such file or directory): -30".into()
        ));
    }

    #[test]
    fn unweighted_interface_down_faults_and_up_clears_it() {
        let mut book = book();
        assert_eq!(book.apply(&link("eth1", false)), ["VI_A"]);
        assert!(book.verdict("VI_A").unwrap().fault);
        assert_eq!(book.apply(&link("eth1", true)), ["VI_A"]);
        assert!(!book.verdict("VI_A").unwrap().fault);
        assert!(book.apply(&link("eth1", true)).is_empty());
    }

    #[test]
    fn track_file_value_times_weight_moves_priority() {
        let mut book = book();
        book.apply(&run("chk_nginx", RunResult::Success));
        assert_eq!(book.verdict("VI_B").unwrap().priority, 150, "unread is 0");
        assert_eq!(book.apply(&value("cap", -2)), ["VI_B"]);
        assert_eq!(book.verdict("VI_B").unwrap().priority, 130);
        assert_eq!(book.apply(&value("cap", -30)), ["VI_B"]);
        assert!(book.verdict("VI_B").unwrap().fault, "-300 is below -254");
    }

    #[test]
    fn init_fail_starts_weighted_scripts_subtracted() {
        let text = CONF.replace("fall 2\n", "fall 2\n    init_fail\n");
        let book = TrackBook::new(&Plan::from_config(&config(&text)));
        assert_eq!(book.status("chk_nginx"), Some(Status::Failed));
        assert_eq!(book.verdict("VI_A").unwrap().priority, 80);
        assert!(book.verdict("VI_B").unwrap().fault);
    }

    #[test]
    fn updates_for_unknown_sources_are_ignored() {
        let mut book = book();
        assert!(book.apply(&run("unused", RunResult::Success)).is_empty());
        assert!(book.apply(&link("eth9", false)).is_empty());
        assert!(book.apply(&value("nope", 3)).is_empty());
        assert!(book.verdict("VI_Z").is_none());
    }
}

//! `vrrp-agent check`'s lint layer: what a configuration that validates can still get wrong.
//!
//! Validation ([`super::check`]) says whether a file can run at all. These checks look
//! further, each a pure function over validated models and plain facts:
//!
//! - [`peer`]: this router's file against the files of the other routers of its virtual
//!   routers (`check --peer`): mismatches that break, split or weaken an election;
//! - [`host`]: the file against the host it is checked on (interfaces and their addresses,
//!   gathered at the edge by [`local_host`]);
//! - [`smells`]: things users trip over that are valid but rarely meant.
//!
//! Every finding has a code (stable, for CI), the file and line it is about, and for peer
//! mismatches the other file's line too. The exit status follows `keepalived -t`
//! (keepalived's `config_test_exit`): 0 when there is no error, 4 when the configuration
//! cannot run (vrrpx would refuse to start with it here), 5 when it has errors that it would
//! still run with (here: elections that break or split). One difference on purpose:
//! keepalived 2.2.7 exits 5 for a missing interface, because of the error classes it saw it
//! keeps the highest-numbered (a milder one) rather than the worst, although its VRRP
//! process then refuses to start; vrrpx
//! cannot start without the interface either, so that is 4 here.

pub mod host;
pub mod local_host;
pub mod peer;
pub mod security;
pub mod smells;

use std::path::Path;

use super::model::{Config, InstanceLines, Location};
use super::Checked;

/// How bad a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// Worth knowing; the cluster works.
    Warning,
    /// The agent would run, but an election breaks or splits.
    Error,
    /// The agent would not start with this (validation failed, or the host lacks what the
    /// file needs).
    Fatal,
}

/// One thing `check` reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub severity: Severity,
    /// Stable, kebab-case: `version-mismatch`, `missing-interface`, ... (`config` for what
    /// validation itself reports).
    pub code: &'static str,
    pub message: String,
    pub location: Location,
    /// The `vrrp_instance` it is about, when it is about one.
    pub instance: Option<String>,
    /// The other file's line, for a mismatch between two files.
    pub peer: Option<Location>,
}

impl Finding {
    pub fn new(
        severity: Severity,
        code: &'static str,
        location: &Location,
        message: impl Into<String>,
    ) -> Finding {
        Finding {
            severity,
            code,
            message: message.into(),
            location: location.clone(),
            instance: None,
            peer: None,
        }
    }

    pub fn instance(mut self, name: &str) -> Finding {
        self.instance = Some(name.to_string());
        self
    }

    pub fn peer(mut self, location: &Location) -> Finding {
        self.peer = Some(location.clone());
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity >= Severity::Error
    }
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let level = if self.is_error() { "error" } else { "warning" };
        write!(
            f,
            "{}: {level}: {} [{}]",
            self.location, self.message, self.code
        )
    }
}

/// One configuration as `check` sees it: the validated model and where its settings are.
#[derive(Clone, Copy)]
pub struct Side<'a> {
    pub file: &'a Path,
    pub config: &'a Config,
    pub lines: &'a [InstanceLines],
}

impl<'a> Side<'a> {
    /// The lines of the instance called `name`. Every validated instance has them; an
    /// empty set (the file's own line) stands in should one not.
    pub fn lines_of(&self, name: &str) -> InstanceLines {
        self.lines
            .iter()
            .find(|l| l.name == name)
            .cloned()
            .unwrap_or_else(|| InstanceLines {
                name: name.to_string(),
                block: Location {
                    file: self.file.to_path_buf(),
                    line: 0,
                },
                ..InstanceLines::default()
            })
    }
}

/// What validation found, as findings: its errors stop the agent from starting.
pub fn from_validation(checked: &Checked) -> Vec<Finding> {
    let errors = checked
        .errors
        .iter()
        .map(|e| Finding::new(Severity::Fatal, "config", &e.location, &e.message));
    let warnings = checked
        .warnings
        .iter()
        .map(|w| Finding::new(Severity::Warning, "config", &w.location, &w.message));
    errors.chain(warnings).collect()
}

/// The exit status, as `keepalived -t` gives it: 0 clean (warnings allowed), 4 cannot run,
/// 5 errors it would still run with.
pub fn exit_status(findings: &[Finding]) -> i32 {
    match findings.iter().map(|f| f.severity).max() {
        Some(Severity::Fatal) => 4,
        Some(Severity::Error) => 5,
        _ => 0,
    }
}

/// Errors first, then warnings, each in file order.
pub fn sort(findings: &mut [Finding]) {
    findings.sort_by(|a, b| {
        b.is_error()
            .cmp(&a.is_error())
            .then(a.location.file.cmp(&b.location.file))
            .then(a.location.line.cmp(&b.location.line))
    });
}

/// The report as one JSON object for CI:
/// `{"file", "exit", "errors": [...], "warnings": [...]}`, each item
/// `{"code", "message", "file", "line", "instance", "peer_file", "peer_line"}`.
pub fn to_json(file: &Path, findings: &[Finding]) -> serde_json::Value {
    let item = |f: &Finding| {
        serde_json::json!({
            "code": f.code,
            "message": f.message,
            "file": f.location.file.display().to_string(),
            "line": f.location.line,
            "instance": f.instance,
            "fatal": f.severity == Severity::Fatal,
            "peer_file": f.peer.as_ref().map(|p| p.file.display().to_string()),
            "peer_line": f.peer.as_ref().map(|p| p.line),
        })
    };
    let (errors, warnings): (Vec<&Finding>, Vec<&Finding>) =
        findings.iter().partition(|f| f.is_error());
    serde_json::json!({
        "file": file.display().to_string(),
        "exit": exit_status(findings),
        "errors": errors.into_iter().map(item).collect::<Vec<_>>(),
        "warnings": warnings.into_iter().map(item).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(line: usize) -> Location {
        Location {
            file: "a.conf".into(),
            line,
        }
    }

    #[test]
    fn exit_status_follows_keepalived_t() {
        let w = Finding::new(Severity::Warning, "x", &at(1), "w");
        let e = Finding::new(Severity::Error, "x", &at(2), "e");
        let f = Finding::new(Severity::Fatal, "x", &at(3), "f");
        assert_eq!(exit_status(&[]), 0);
        assert_eq!(exit_status(std::slice::from_ref(&w)), 0);
        assert_eq!(exit_status(&[w.clone(), e.clone()]), 5);
        assert_eq!(exit_status(&[e, f, w]), 4);
    }

    #[test]
    fn json_splits_errors_and_warnings_and_names_both_files() {
        let e = Finding::new(Severity::Error, "version-mismatch", &at(7), "differs")
            .instance("VI_1")
            .peer(&Location {
                file: "b.conf".into(),
                line: 9,
            });
        let w = Finding::new(Severity::Warning, "common-vrid", &at(4), "51");
        let json = to_json(Path::new("a.conf"), &[w, e]);
        assert_eq!(json["exit"], 5);
        assert_eq!(json["errors"][0]["code"], "version-mismatch");
        assert_eq!(json["errors"][0]["line"], 7);
        assert_eq!(json["errors"][0]["instance"], "VI_1");
        assert_eq!(json["errors"][0]["peer_file"], "b.conf");
        assert_eq!(json["errors"][0]["peer_line"], 9);
        assert_eq!(json["warnings"][0]["code"], "common-vrid");
        assert!(json["warnings"][0]["instance"].is_null());
    }
}

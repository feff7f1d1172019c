//! Script security with real processes and files, as root: scripts and notify programs run
//! as the configured user, and `vrrp-agent check` refuses a script root would run from a
//! place others can change. Every wait is bounded; every file lives in a scratch directory.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use vrrp_agent::config::load_str;
use vrrp_agent::notify::{commands_for, Notifier};
use vrrp_agent::proto::router::StateName;
use vrrp_agent::track::Tracker;
use vrrpx_tests::agent::cli_here;
use vrrpx_tests::{is_root, scratch, write_script};

/// Longest wait for a script to have run.
const WAIT: Duration = Duration::from_secs(10);

const INSTANCE: &str = "vrrp_instance VI_1 {\n  state BACKUP\n  interface lo\n  \
     virtual_router_id 52\n  priority 100\n  advert_int 1\n  \
     virtual_ipaddress {\n    10.9.0.100/24\n  }\n";

/// A keepalived.conf: `globals` in global_defs, vrrp_script chk with the `chk` lines, and
/// [`INSTANCE`] tracking chk, then the lines `after_track`. One line each, so that the
/// `script` line is line 4 plus the number of globals.
fn tracked_conf(globals: &[&str], chk: &[&str], after_track: &str) -> String {
    let indented =
        |lines: &[&str]| -> String { lines.iter().map(|l| format!("  {l}\n")).collect() };
    format!(
        "global_defs {{\n{}}}\nvrrp_script chk {{\n{}}}\n\
         {INSTANCE}  track_script {{\n    chk\n  }}\n{after_track}}}\n",
        indented(globals),
        indented(chk)
    )
}

/// A script line root may run: a system program.
const PIDOF_INIT: &str = "script \"/usr/bin/pidof init\"";

/// A fresh scratch directory `name`, or `None` (the test is skipped, saying why) unless we
/// are root.
fn scratch_as_root(name: &str, why: &str) -> Option<PathBuf> {
    if !is_root() {
        eprintln!("skipped: needs root {why}");
        return None;
    }
    Some(scratch(name))
}

fn set_mode(path: &Path, mode: u32) {
    std::fs::set_permissions(path, PermissionsExt::from_mode(mode)).unwrap();
}

/// A directory `dir` holding `id.sh`, which writes the uid it runs as to `out/NAME`; `out`
/// is writable by everyone (sticky, like /tmp) so any user can leave its answer.
struct Recorder {
    script: PathBuf,
    out: PathBuf,
}

impl Recorder {
    /// A recorder in a fresh scratch directory `name`; `None` (the test is skipped) unless
    /// we are root, as changing users needs.
    fn as_root(name: &str) -> Option<Recorder> {
        scratch_as_root(name, "to change users").map(|dir| Recorder::new(&dir))
    }

    fn new(dir: &Path) -> Recorder {
        set_mode(dir, 0o755);
        let out = dir.join("out");
        std::fs::create_dir(&out).unwrap();
        set_mode(&out, 0o1777);
        let script = dir.join("id.sh");
        // The answer goes to `out` under the name in $1, whole or not at all.
        let out_dir = out.display();
        let body = format!(
            "#!/bin/sh\nid -u > {out_dir}/\"$1\".tmp && mv {out_dir}/\"$1\".tmp {out_dir}/\"$1\"\n"
        );
        write_script(&script, &body);
        Recorder { script, out }
    }

    /// The uid recorded under `name`, waiting for it at most [`WAIT`].
    fn uid(&self, name: &str) -> u32 {
        let path = self.out.join(name);
        let deadline = Instant::now() + WAIT;
        loop {
            if let Ok(text) = std::fs::read_to_string(&path) {
                return text.trim().parse().unwrap_or_else(|_| panic!("{text:?}"));
            }
            assert!(
                Instant::now() < deadline,
                "{} never written",
                path.display()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_script_run_for_script_user_nobody_records_uid_65534() {
    let Some(rec) = Recorder::as_root("security-script-user") else {
        return;
    };
    let script = format!("script \"{} check\"", rec.script.display());
    let conf = tracked_conf(&["script_user nobody"], &[&script, "interval 1"], "");
    let loaded = load_str(&conf, Path::new("security.conf")).unwrap();
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let (tracker, mut updates) = Tracker::start(&loaded.config);
    let uid = tokio::task::spawn_blocking(move || rec.uid("check"))
        .await
        .unwrap();
    assert_eq!(uid, 65534);
    // The check itself succeeded as that user.
    let update = tokio::time::timeout(WAIT, updates.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(format!("{update:?}").contains("Success"), "{update:?}");
    drop(tracker);
}

#[tokio::test(flavor = "current_thread")]
async fn notify_scripts_run_as_the_user_written_after_them_else_script_user() {
    let Some(rec) = Recorder::as_root("security-notify-user") else {
        return;
    };
    let conf = format!(
        "global_defs {{\n  script_user root\n}}\n\
         {INSTANCE}  notify_master \"{script} master\" nobody\n  \
         notify_backup \"{script} backup\"\n}}\n",
        script = rec.script.display()
    );
    let loaded = load_str(&conf, Path::new("security.conf")).unwrap();
    let instance = &loaded.config.instances[0];
    let mut notifier = Notifier::default();
    for to in [StateName::Master, StateName::Backup] {
        let commands = commands_for(&instance.notify, "INSTANCE", "VI_1", to, 100);
        notifier.queue("VI_1", commands);
    }
    notifier.drain(WAIT).await;
    assert_eq!(rec.uid("master"), 65534);
    assert_eq!(rec.uid("backup"), 0);
}

/// `vrrp-agent check --no-host -f` on `conf` (the file is about scripts, not this host's
/// interfaces): exit code and everything it printed.
fn check(dir: &Path, conf: &str) -> (i32, String) {
    let file = dir.join("keepalived.conf");
    std::fs::write(&file, conf).unwrap();
    let out = cli_here(&["check", "--no-host", "-f", file.to_str().unwrap()]);
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), text)
}

/// A script root runs from a directory anyone may write to (no sticky bit), and the
/// keepalived.conf that tracks it, with or without `enable_script_security`.
fn unsafe_script(dir: &Path, security: bool) -> (PathBuf, String) {
    set_mode(dir, 0o755);
    let open = dir.join("open");
    std::fs::create_dir(&open).unwrap();
    set_mode(&open, 0o777);
    let script = open.join("chk.sh");
    write_script(&script, "#!/bin/sh\nexit 0\n");
    let globals: &[&str] = if security {
        &["enable_script_security", "script_user root"]
    } else {
        &["script_user root"]
    };
    let conf = tracked_conf(
        globals,
        &[&format!("script \"{} --quiet\"", script.display())],
        "",
    );
    (open, conf)
}

#[test]
fn check_refuses_an_unsafe_script_with_file_and_line_under_enable_script_security() {
    let Some(dir) = scratch_as_root("security-check-refused", "to own the scratch files") else {
        return;
    };
    let (open, conf) = unsafe_script(&dir, true);
    let (code, text) = check(&dir, &conf);
    // keepalived -t's code for a configuration that cannot run.
    assert_eq!(code, 4, "{text}");
    // The `script` line of vrrp_script chk is line 6.
    let at = format!("{}:6: error:", dir.join("keepalived.conf").display());
    let line = text
        .lines()
        .find(|l| l.starts_with(&at))
        .unwrap_or_else(|| panic!("no error at {at}:\n{text}"));
    assert!(
        line.contains(&format!("{} is writable by everyone", open.display())),
        "{line}"
    );
    assert!(line.contains("enable_script_security"), "{line}");
}

#[test]
fn without_enable_script_security_an_unsafe_script_is_warned_about_once_and_check_passes() {
    let Some(dir) = scratch_as_root("security-check-warned", "to own the scratch files") else {
        return;
    };
    let (open, mut conf) = unsafe_script(&dir, false);
    // The same program again, as a notify script: still one warning.
    conf = conf.replacen(
        "  track_script",
        &format!("  notify_master {}/chk.sh\n  track_script", open.display()),
        1,
    );
    let (code, text) = check(&dir, &conf);
    assert_eq!(code, 0, "{text}");
    let warnings: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("is writable by everyone"))
        .collect();
    assert_eq!(warnings.len(), 1, "{text}");
    // The `script` line of vrrp_script chk is line 5 here (no enable_script_security).
    let at = format!("{}:5: warning:", dir.join("keepalived.conf").display());
    assert!(warnings[0].starts_with(&at), "{}", warnings[0]);
}

#[test]
fn check_passes_a_safe_script_under_enable_script_security() {
    let Some(dir) = scratch_as_root("security-check-safe", "for script security") else {
        return;
    };
    let conf = tracked_conf(
        &["enable_script_security", "script_user root"],
        &[PIDOF_INIT],
        "  notify \"/usr/bin/logger -t vrrpx\"\n",
    );
    let (code, text) = check(&dir, &conf);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("valid (1 instance(s), 0 warning(s))"),
        "{text}"
    );
}

#[test]
fn enable_script_security_without_a_script_user_refuses_to_fall_back_to_root() {
    // keepalived_script is keepalived's default user; without it there is no one to
    // run the script as but root, which script security refuses.
    if nix_user_exists("keepalived_script") {
        eprintln!("skipped: this machine has a keepalived_script user");
        return;
    }
    let dir = scratch("security-check-no-user");
    let conf = tracked_conf(&["enable_script_security"], &[PIDOF_INIT], "");
    let (code, text) = check(&dir, &conf);
    // keepalived -t's code for a configuration that cannot run.
    assert_eq!(code, 4, "{text}");
    assert!(
        text.contains(":5: error: vrrp_script chk: no user to run it as"),
        "{text}"
    );
}

fn nix_user_exists(name: &str) -> bool {
    Command::new("getent")
        .args(["passwd", name])
        .output()
        .is_ok_and(|o| o.status.success())
}

//! Tests of `mod.rs`, kept beside it so the module itself stays readable.

use super::*;

fn notify() -> Notify {
    Notify {
        master: Some("/usr/local/bin/to-master --quiet".into()),
        backup: None,
        fault: Some("/bin/fault".into()),
        stop: None,
        any: Some("\"/usr/local/bin/notify all\"".into()),
        run_as: Default::default(),
    }
}

fn nobody() -> RunAs {
    crate::track::credentials::resolve(&crate::config::model::UserSpec {
        user: "nobody".into(),
        group: None,
    })
    .unwrap()
}

fn argv(words: &[&str]) -> NotifyCommand {
    NotifyCommand {
        argv: words.iter().map(|w| w.to_string()).collect(),
        run_as: None,
    }
}

/// A fresh directory for one test, removed when dropped.
struct Scratch(std::path::PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("vrrpx-notify-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn the_state_script_runs_before_the_generic_one_which_gets_keepalived_arguments() {
    let c = commands_for(&notify(), "INSTANCE", "VI_1", StateName::Master, 150);
    let argvs: Vec<Vec<String>> = c.into_iter().map(|c| c.argv).collect();
    assert_eq!(
        argvs,
        vec![
            vec!["/usr/local/bin/to-master".to_string(), "--quiet".into()],
            vec![
                "/usr/local/bin/notify all".to_string(),
                "INSTANCE".into(),
                "VI_1".into(),
                "MASTER".into(),
                "150".into()
            ],
        ]
    );
}

#[test]
fn a_state_without_its_own_script_runs_only_the_generic_one() {
    let c = commands_for(&notify(), "GROUP", "G1", StateName::Initialize, 0);
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].argv[1..], ["GROUP", "G1", "STOP", "0"]);
}

#[test]
fn each_command_carries_the_user_of_its_own_script() {
    let mut n = notify();
    n.run_as.master = Some(nobody());
    let c = commands_for(&n, "INSTANCE", "VI_1", StateName::Master, 150);
    assert_eq!(c[0].run_as.as_ref().map(|r| r.uid), Some(65534));
    assert_eq!(c[1].run_as, None, "the generic script has its own user");
}

#[tokio::test(flavor = "current_thread")]
async fn a_script_past_its_timeout_is_killed() {
    let t0 = std::time::Instant::now();
    let r = run_one(&argv(&["sleep", "5"]), Duration::from_millis(100)).await;
    assert!(r.unwrap_err().contains("killed"));
    assert!(t0.elapsed() < Duration::from_secs(2));
}

/// True once `pid` has exited (gone, or a zombie waiting for its new parent).
fn exited(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_timeout_kills_what_the_script_started_too() {
    let dir = Scratch::new("group");
    let pidfile = dir.0.join("child.pid");
    let script = format!("sleep 30 & echo $! > {}; wait", pidfile.display());
    let r = run_one(&argv(&["sh", "-c", &script]), Duration::from_millis(300)).await;
    assert!(r.unwrap_err().contains("process group"));
    let pid: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    while !exited(pid) && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let alive = !exited(pid);
    if alive {
        // SAFETY: kill(2) with plain integers; the test's own grandchild.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
    assert!(
        !alive,
        "the script's background sleep {pid} outlived the timeout"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_missing_script_is_reported() {
    let r = run_one(&argv(&["/nonexistent/notify"]), Duration::from_secs(1)).await;
    assert!(r.unwrap_err().contains("cannot start /nonexistent/notify"));
}

#[tokio::test(flavor = "current_thread")]
async fn scripts_get_only_a_fixed_path_and_their_user_in_the_environment() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return;
    }
    let dir = Scratch::new("env");
    std::fs::set_permissions(&dir.0, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let out = dir.0.join("env.txt");
    let script = format!("{{ id -u; env; }} > {}", out.display());
    let command = NotifyCommand {
        argv: vec!["sh".into(), "-c".into(), script],
        run_as: Some(nobody()),
    };
    run_one(&command, Duration::from_secs(5)).await.unwrap();
    let text = std::fs::read_to_string(&out).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.remove(0), "65534");
    lines.retain(|l| !l.starts_with("PWD=") && !l.starts_with("SHLVL=") && !l.starts_with("_="));
    lines.sort();
    assert_eq!(
        lines,
        [
            "HOME=/nonexistent",
            "LOGNAME=nobody",
            &format!("PATH={}", program::SCRIPT_PATH),
            "USER=nobody",
        ]
    );
}

#[tokio::test(flavor = "current_thread")]
async fn changes_for_one_owner_run_in_order_one_at_a_time() {
    let dir = Scratch::new("order");
    let log = dir.0.join("order.log");
    // Each script appends "start N" then, after a pause, "end N": overlap would
    // interleave them.
    let script = dir.0.join("step.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\necho start $1 >> \"$2\"\nsleep 0.05\necho end $1 >> \"$2\"\n",
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let mut n = Notifier::default();
    for i in 0..5 {
        let (script, log) = (script.to_string_lossy(), log.to_string_lossy());
        n.queue("VI_1", vec![argv(&[&script, &i.to_string(), &log])]);
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.lines().count() == 10 || std::time::Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let text = std::fs::read_to_string(&log).unwrap();
    let want: String = (0..5).map(|i| format!("start {i}\nend {i}\n")).collect();
    assert_eq!(text, want);
    assert_eq!(n.dropped("VI_1"), 0);
}

#[tokio::test(flavor = "current_thread")]
async fn a_full_queue_drops_the_oldest_changes_counts_them_and_keeps_the_order() {
    let dir = Scratch::new("bounded");
    let log = dir.0.join("order.log");
    let log_arg = log.to_string_lossy().into_owned();
    let mut n = Notifier::default();
    // The worker first runs when this test yields, so all 100 changes meet a queue
    // that nothing has taken from yet.
    let changes = 100;
    for i in 0..changes {
        let line = format!("echo {i} >> \"$0\"");
        n.queue("VI_1", vec![argv(&["sh", "-c", &line, &log_arg])]);
    }
    let dropped = (changes - QUEUE_DEPTH) as u64;
    assert_eq!(n.dropped("VI_1"), dropped);
    assert_eq!(n.dropped_total(), dropped);
    n.drain(Duration::from_secs(20)).await;
    let ran: Vec<usize> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    let want: Vec<usize> = (changes - QUEUE_DEPTH..changes).collect();
    assert_eq!(ran, want, "the newest {QUEUE_DEPTH} changes, in order");
}

#[test]
fn the_fifo_is_created_when_absent() {
    let dir = Scratch::new("fifo-new");
    let fifo = dir.0.join("notify.fifo");
    // No reader yet: the open fails, but the FIFO is there for one to open.
    let e = open_fifo(&fifo).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::ENXIO), "{e}");
    let meta = std::fs::symlink_metadata(&fifo).unwrap();
    assert!(meta.file_type().is_fifo());
    assert_eq!(meta.mode() & 0o777, FIFO_MODE);
    // With a reader, the line arrives.
    let mut reader = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&fifo)
        .unwrap();
    write_fifo(
        &fifo,
        &fifo_line("INSTANCE", "VI_1", StateName::Master, 150),
    );
    let mut got = String::new();
    std::io::Read::read_to_string(&mut reader, &mut got).unwrap();
    assert_eq!(got, "INSTANCE \"VI_1\" MASTER 150\n");
}

#[test]
fn a_symlink_in_place_of_the_fifo_is_refused_and_its_target_untouched() {
    let dir = Scratch::new("fifo-link");
    let target = dir.0.join("victim");
    std::fs::write(&target, "precious\n").unwrap();
    let fifo = dir.0.join("notify.fifo");
    std::os::unix::fs::symlink(&target, &fifo).unwrap();
    let e = open_fifo(&fifo).unwrap_err();
    assert!(e.to_string().contains("symbolic link"), "{e}");
    write_fifo(&fifo, "INSTANCE \"VI_1\" MASTER 150\n");
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "precious\n");
    assert!(std::fs::symlink_metadata(&fifo)
        .unwrap()
        .file_type()
        .is_symlink());
}

#[test]
fn a_regular_file_in_place_of_the_fifo_is_refused_and_left_as_it_was() {
    let dir = Scratch::new("fifo-file");
    let fifo = dir.0.join("notify.fifo");
    std::fs::write(&fifo, "old\n").unwrap();
    let e = open_fifo(&fifo).unwrap_err();
    assert!(e.to_string().contains("not a FIFO"), "{e}");
    write_fifo(&fifo, "INSTANCE \"VI_1\" MASTER 150\n");
    assert_eq!(std::fs::read_to_string(&fifo).unwrap(), "old\n");
}

//! Under systemd (`Type=notify`, `WatchdogSec=`): the agent reports READY=1 once its
//! instances run, keeps the watchdog fed, and announces RELOADING=1 on SIGHUP and
//! STOPPING=1 on SIGTERM, to the socket NOTIFY_SOCKET names. Needs root and the release
//! agent (`cargo xtask test`).

use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::time::{Duration, Instant};

use vrrpx_tests::agent::Agent;
use vrrpx_tests::netns::{secs, wait_for, Lab};
use vrrpx_tests::pair::{bare_test, config};

/// The sd_notify messages received so far, and the socket they come in on.
struct Manager {
    sock: UnixDatagram,
    seen: Vec<(Duration, String)>,
    t0: Instant,
}

impl Manager {
    fn bind(path: &Path) -> Manager {
        let sock = UnixDatagram::bind(path).unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        Manager {
            sock,
            seen: Vec::new(),
            t0: Instant::now(),
        }
    }

    /// Receive until a message with the line `want` arrives, or `limit` passes.
    fn until(&mut self, want: &str, limit: Duration) -> Option<Instant> {
        let deadline = Instant::now() + limit;
        let mut buf = [0u8; 4096];
        while Instant::now() < deadline {
            if let Ok(n) = self.sock.recv(&mut buf) {
                let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
                self.seen.push((self.t0.elapsed(), msg.clone()));
                if msg.lines().any(|l| l == want) {
                    return Some(Instant::now());
                }
            }
        }
        None
    }

    /// Send `sig` to the agent and expect `want` within 3 s; where the messages since the
    /// signal start in `seen`.
    fn signalled(&mut self, lab: &Lab, agent: &Agent, sig: i32, want: &str) -> usize {
        let from = self.seen.len();
        agent.signal(lab, sig);
        assert!(
            self.until(want, secs(3)).is_some(),
            "{want} on signal {sig}: {:?}",
            &self.seen[from..]
        );
        from
    }

    fn count(&self, want: &str, since: usize) -> usize {
        self.seen[since..]
            .iter()
            .filter(|(_, m)| m.lines().any(|l| l == want))
            .count()
    }
}

#[test]
fn under_systemd_the_agent_reports_ready_keeps_the_watchdog_fed_and_announces_reload_and_stop() {
    let (dir, mut lab) = bare_test("ops-sdnotify");
    lab.host("r1", "eth0", &["10.9.0.2/24"]).unwrap();
    let notify_path = dir.join("notify.sock");
    let mut mgr = Manager::bind(&notify_path);
    let env_socket = format!("NOTIFY_SOCKET={}", notify_path.display());
    let agent = Agent::start_with_env(
        &mut lab,
        "r1",
        &config("pair-backup.conf"),
        &dir,
        &[&env_socket, "WATCHDOG_USEC=200000"],
        &[],
    );

    let ready = mgr.until("READY=1", secs(10));
    assert!(ready.is_some(), "READY=1: {:?}\n{}", mgr.seen, agent.log());
    // Ready means running: the instance has left INIT.
    let state = agent.instance(&lab, "VI_51").unwrap()["state"].clone();
    assert!(
        state == "Backup" || state == "Master",
        "state at READY: {state}"
    );

    // WATCHDOG_USEC = 200 ms: a ping every 100 ms.
    let from = mgr.seen.len();
    let window = Instant::now();
    while window.elapsed() < secs(1) {
        mgr.until("never", Duration::from_millis(100));
    }
    let pings = mgr.count("WATCHDOG=1", from);
    eprintln!("{pings} WATCHDOG=1 in 1 s");
    assert!(pings >= 2, "watchdog pings within a second: {:?}", mgr.seen);

    let from = mgr.signalled(&lab, &agent, libc::SIGHUP, "RELOADING=1");
    assert!(
        mgr.until("READY=1", secs(3)).is_some(),
        "READY=1 after the reload: {:?}",
        &mgr.seen[from..]
    );
    // The reload itself is only logged: no event or status field says it.
    assert!(
        agent.log().contains("configuration reloaded"),
        "{}",
        agent.log()
    );

    mgr.signalled(&lab, &agent, libc::SIGTERM, "STOPPING=1");
    assert!(
        wait_for(secs(3), || agent.exited(&mut lab)),
        "the agent exits"
    );
    eprintln!("sd_notify messages: {:?}", mgr.seen);
}

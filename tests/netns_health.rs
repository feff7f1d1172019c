//! An nginx-style HTTP health check (configs/nginx-check-*.conf) moves the address: the
//! master's check fails, its priority drops below the backup's and the backup takes over;
//! the check recovers and the address comes back, with status and the event stream telling
//! why at every step. Needs root and the release agent (`cargo xtask test`).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use vrrp_agent::proto::router::Cause::{MasterDown, Preempted, Startup};
use vrrp_agent::proto::router::StateName::{Backup, Master};
use vrrpx_tests::agent::{expect_alone, instance_in, start_named};
use vrrpx_tests::inject::in_netns;
use vrrpx_tests::netns::secs;
use vrrpx_tests::pair::{pair_test, VIP};

/// A tiny HTTP server on 127.0.0.1:8080 inside a namespace, answering every request with
/// 200; stopping it closes the listener, so checks see "connection refused".
struct Health {
    stop: Arc<AtomicBool>,
    hits: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
}

impl Health {
    fn start(ns: &str) -> Health {
        // A socket stays in the namespace it was made in: bind there, serve from anywhere.
        let listener = in_netns(ns, || Ok(TcpListener::bind(("127.0.0.1", 8080))?)).unwrap();
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let hits = Arc::new(AtomicU64::new(0));
        let (s, h) = (stop.clone(), hits.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((conn, _)) => {
                        if answer(conn).is_ok() {
                            h.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
            // The listener is dropped here: new connections are refused.
        });
        Health {
            stop,
            hits,
            thread: Some(thread),
        }
    }

    fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Health {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Read one request (up to the blank line) and answer 200.
fn answer(mut conn: TcpStream) -> std::io::Result<()> {
    conn.set_nonblocking(false)?;
    conn.set_read_timeout(Some(secs(1)))?;
    let mut req = Vec::new();
    let mut buf = [0u8; 1024];
    while !req.windows(4).any(|w| w == b"\r\n\r\n") && req.len() < 8192 {
        let n = conn.read(&mut buf)?;
        if n == 0 {
            break;
        }
        req.extend_from_slice(&buf[..n]);
    }
    conn.write_all(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\
          Connection: close\r\n\r\nok\n",
    )
}

#[test]
fn an_http_health_check_failing_on_the_master_moves_the_address_and_its_recovery_brings_it_back() {
    let (dir, mut lab) = pair_test("ops-http");
    let mut web1 = Health::start(&lab.ns("r1"));
    let _web2 = Health::start(&lab.ns("r2"));
    let (r1, r2) = start_named(&mut lab, &dir, "nginx-check-a.conf", "nginx-check-b.conf");
    let both = [&r1, &r2];
    // r1 (150, healthy).
    expect_alone(&lab, "r1", VIP, secs(10), &both);
    std::thread::sleep(Duration::from_millis(500));
    assert!(web1.hits() > 0, "r1's check reaches its HTTP server");
    let healthy = r1.instance(&lab, "VI_51").unwrap();
    assert_eq!(healthy["effective_priority"], 150);

    // Stop r1's server: two failed checks (interval 0.2 s, fall 2) take r1 to 90, below
    // r2's 100; r2 ignores the lower adverts and takes over when its Master_Down_Interval
    // (3 x 100 ms + 156/256 x 100 ms = 361 ms) runs out.
    let t0 = Instant::now();
    web1.stop();
    // r2 takes it when r1's check fails.
    let took = expect_alone(&lab, "r2", VIP, secs(5), &both);
    eprintln!("health check failed -> address on r2 after {took:?}");
    let bound = Duration::from_millis(2 * 200 + 361 + 1000);
    assert!(took < bound, "took {took:?}, bound {bound:?}");

    let st = r1.status_until(&lab, secs(3), |s| {
        instance_in(s, "VI_51").is_some_and(|i| i["effective_priority"] == 90)
    });
    let vi = instance_in(&st, "VI_51").unwrap();
    assert_eq!(vi["base_priority"], 150, "{vi:#}");
    assert_eq!(vi["effective_priority"], 90, "{vi:#}");
    assert_eq!(vi["state"], "Backup", "{vi:#}");
    let reasons = vi["priority_reasons"].as_array().unwrap();
    assert!(
        reasons
            .iter()
            .any(|r| r.as_str().unwrap().contains("chk_http")),
        "a reason names chk_http: {reasons:?}"
    );
    assert_eq!(
        vi["tracks"],
        serde_json::json!([{ "name": "chk_http", "kind": "script", "up": false }]),
        "the tracked check is listed as down"
    );
    assert_eq!(
        vi["master"],
        serde_json::json!(["10.9.0.2", 100]),
        "r1 hears r2"
    );

    // Restart it: two good checks restore 150, and r1 preempts (its own Master_Down,
    // 3 x 100 ms + 106/256 x 100 ms = 341 ms, ignoring r2's lower adverts).
    let web1 = Health::start(&lab.ns("r1"));
    // r1 takes it back when healthy again.
    let back = expect_alone(&lab, "r1", VIP, secs(5), &both);
    eprintln!("health check recovered -> address back on r1 after {back:?}");
    let bound = Duration::from_millis(2 * 200 + 341 + 1000);
    assert!(back < bound, "took {back:?}, bound {bound:?}");
    assert!(web1.hits() > 0, "r1's check reaches the restarted server");
    let st = r1.status_until(&lab, secs(3), |s| {
        instance_in(s, "VI_51").is_some_and(|i| i["effective_priority"] == 150)
    });
    let vi = instance_in(&st, "VI_51").unwrap();
    assert_eq!(vi["effective_priority"], 150, "{vi:#}");
    assert_eq!(vi["state"], "Master", "{vi:#}");
    assert!(
        vi["priority_reasons"].as_array().unwrap().is_empty(),
        "{vi:#}"
    );
    assert_eq!(
        r1.history("VI_51"),
        [
            (Backup, Startup),
            (Master, MasterDown),
            (Backup, Preempted),
            (Master, MasterDown)
        ],
        "r1's transitions\n{}",
        r1.log()
    );
    eprintln!("whole cycle {:?}", t0.elapsed());
}

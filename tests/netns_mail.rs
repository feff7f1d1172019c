//! `smtp_alert` and `notify_fifo`: a state change sends a mail to the SMTP server the test
//! runs, and writes keepalived's one-line record to the FIFO. Needs root and the release
//! agent (`cargo xtask test`).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::os::unix::fs::OpenOptionsExt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use vrrp_agent::proto::router::StateName::{Backup, Master};
use vrrpx_tests::agent::Agent;
use vrrpx_tests::netns::{secs, wait_for};
use vrrpx_tests::pair::{bare_test, config};
use vrrpx_tests::probe::spawn_in_netns;

/// A minimal SMTP server: records each message's envelope and data; stops at `limit`.
fn smtp_server(ns: &str, port: u16, limit: Duration, mails: Arc<Mutex<Vec<String>>>) {
    let ready = Arc::new(Mutex::new(false));
    let r = ready.clone();
    spawn_in_netns(ns, move || {
        let listener = TcpListener::bind(("127.0.0.1", port))?;
        listener.set_nonblocking(true)?;
        *r.lock().unwrap() = true;
        let start = Instant::now();
        while start.elapsed() < limit {
            let Ok((stream, _)) = listener.accept() else {
                std::thread::sleep(Duration::from_millis(10));
                continue;
            };
            stream.set_nonblocking(false)?;
            stream.set_read_timeout(Some(secs(5)))?;
            let mut w = stream.try_clone()?;
            let mut rd = BufReader::new(stream);
            w.write_all(b"220 test\r\n")?;
            let mut transcript = String::new();
            let mut line = String::new();
            loop {
                line.clear();
                if rd.read_line(&mut line)? == 0 {
                    break;
                }
                transcript.push_str(&line);
                if line.starts_with("DATA") {
                    w.write_all(b"354 go on\r\n")?;
                    loop {
                        line.clear();
                        if rd.read_line(&mut line)? == 0 || line == ".\r\n" {
                            break;
                        }
                        transcript.push_str(&line);
                    }
                    w.write_all(b"250 queued\r\n")?;
                } else if line.starts_with("QUIT") {
                    w.write_all(b"221 bye\r\n")?;
                    break;
                } else {
                    w.write_all(b"250 ok\r\n")?;
                }
            }
            mails.lock().unwrap().push(transcript);
        }
        Ok(())
    })
    .unwrap();
    assert!(wait_for(secs(3), || *ready.lock().unwrap()));
}

#[test]
fn a_transition_sends_a_mail_to_the_smtp_server_and_a_line_to_the_notify_fifo() {
    let (dir, mut lab) = bare_test("netns-mail");
    lab.host("r1", "eth0", &["10.9.0.1/24"]).unwrap();
    let mails = Arc::new(Mutex::new(Vec::new()));
    smtp_server(&lab.ns("r1"), 25, secs(20), mails.clone());

    let fifo = dir.join("notify.fifo");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: valid path string; mkfifo only creates the node.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    // Open the reading end first (non-blocking) so the agent's writer finds a reader.
    let mut reader = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&fifo)
        .unwrap();

    // The example users copy, with the FIFO and the notify script pointed at our files.
    let example = std::fs::read_to_string(config("notify-mail.conf")).unwrap();
    let conf = dir.join("mail.conf");
    std::fs::write(
        &conf,
        example
            .replace("/run/vrrpx/notify.fifo", fifo.to_str().unwrap())
            .replace("/usr/local/sbin/vrrp-notify", "/bin/true"),
    )
    .unwrap();
    let r1 = Agent::start(&mut lab, "r1", &conf, &dir, &[]);
    let got_both = wait_for(secs(8), || mails.lock().unwrap().len() >= 2);
    assert!(got_both, "two mails (BACKUP, MASTER)\n{}", r1.log());
    let states: Vec<_> = r1.history("VI_1").into_iter().map(|(to, _)| to).collect();
    assert_eq!(states, [Backup, Master], "one mail a transition");
    let mails = mails.lock().unwrap().clone();
    assert!(mails[0].contains("MAIL FROM:<lb1@example.test>"));
    assert!(mails[0].contains("RCPT TO:<ops@example.test>"));
    assert!(mails[0].contains("Subject: [lb1] VRRP Instance VI_1 - Entering BACKUP state"));
    assert!(mails[1].contains("Subject: [lb1] VRRP Instance VI_1 - Entering MASTER state"));

    let mut text = String::new();
    let deadline = Instant::now() + secs(3);
    while !text.contains("MASTER") && Instant::now() < deadline {
        let mut buf = [0u8; 512];
        if let Ok(n) = reader.read(&mut buf) {
            text.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        text, "INSTANCE \"VI_1\" BACKUP 100\nINSTANCE \"VI_1\" MASTER 100\n",
        "keepalived's FIFO format, in order"
    );
}

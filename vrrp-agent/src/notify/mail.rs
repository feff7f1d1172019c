//! `smtp_alert`: one mail per transition, as keepalived sends it, over plain SMTP
//! (RFC 5321) to the configured relay. Minimal by design: the relay does the rest.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MailSettings {
    pub server: SocketAddr,
    /// keepalived's `smtp_connect_timeout`: the bound on connecting and on each later
    /// step (a command sent, a reply read).
    pub connect_timeout: Duration,
    pub from: String,
    pub to: Vec<String>,
    /// Our name in HELO and the subject (keepalived's router_id).
    pub router_id: String,
}

/// One alert.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Alert {
    pub subject: String,
    pub body: String,
}

/// The longest reply line we read. RFC 5321 §4.5.3.1.5 allows 512 octets; relays that
/// exceed it exist, a relay sending an endless line is not one of them.
const MAX_REPLY_LINE: u64 = 4096;

/// Read one (possibly multi-line) SMTP reply and return its code.
async fn reply<R: AsyncBufReadExt + Unpin>(r: &mut R) -> Result<u16> {
    loop {
        let mut line = String::new();
        let n = (&mut *r).take(MAX_REPLY_LINE).read_line(&mut line).await?;
        if n == 0 {
            bail!("the SMTP server closed the connection");
        }
        if !line.ends_with('\n') && n as u64 >= MAX_REPLY_LINE {
            bail!("an SMTP reply line longer than {MAX_REPLY_LINE} bytes");
        }
        let code: u16 = line
            .get(..3)
            .and_then(|c| c.parse().ok())
            .with_context(|| format!("not an SMTP reply: {line:?}"))?;
        // "250-..." continues, "250 ..." ends (RFC 5321 §4.2.1).
        if line.as_bytes().get(3) != Some(&b'-') {
            return Ok(code);
        }
    }
}

/// One SMTP connection in which every step, a command sent or a reply read, must finish
/// within `timeout`: a relay that accepts and then says nothing, or stops reading, fails
/// the mail instead of holding its task forever. keepalived applies its
/// `smtp_connect_timeout` the same way, to each read and write of the exchange.
struct Session {
    rd: BufReader<OwnedReadHalf>,
    wr: OwnedWriteHalf,
    timeout: Duration,
    server: SocketAddr,
}

impl Session {
    async fn connect(server: SocketAddr, timeout: Duration) -> Result<Session> {
        let stream = tokio::time::timeout(timeout, TcpStream::connect(server))
            .await
            .map_err(|_| anyhow!("SMTP server {server}: no connection within {timeout:?}"))?
            .with_context(|| format!("SMTP server {server}: connecting"))?;
        let (rd, wr) = stream.into_split();
        Ok(Session {
            rd: BufReader::new(rd),
            wr,
            timeout,
            server,
        })
    }

    async fn send(&mut self, what: &str, bytes: &[u8]) -> Result<()> {
        let (server, timeout) = (self.server, self.timeout);
        tokio::time::timeout(timeout, self.wr.write_all(bytes))
            .await
            .map_err(|_| anyhow!("SMTP server {server}: {what} not taken within {timeout:?}"))?
            .with_context(|| format!("SMTP server {server}: sending {what}"))
    }

    /// Reads a reply and checks its class against `want` (2xx, 3xx).
    async fn expect(&mut self, want: u16, what: &str) -> Result<()> {
        let (server, timeout) = (self.server, self.timeout);
        let code = tokio::time::timeout(timeout, reply(&mut self.rd))
            .await
            .map_err(|_| anyhow!("SMTP server {server}: no answer to {what} within {timeout:?}"))?
            .with_context(|| format!("SMTP server {server}: {what}"))?;
        if code / 100 != want / 100 {
            bail!("SMTP server {server}: {what}: answered {code}");
        }
        Ok(())
    }

    async fn command(&mut self, line: &str, want: u16, what: &str) -> Result<()> {
        self.send(what, format!("{line}\r\n").as_bytes()).await?;
        self.expect(want, what).await
    }
}

/// Dot-stuff a body for DATA (RFC 5321 §4.5.2) with CRLF line ends.
fn stuff(body: &str) -> String {
    body.lines()
        .map(|l| {
            if l.starts_with('.') {
                format!(".{l}\r\n")
            } else {
                format!("{l}\r\n")
            }
        })
        .collect()
}

/// Send `alert` to every recipient in one SMTP transaction. Each step is bounded by
/// `settings.connect_timeout`, so the whole exchange ends within (recipients + 7) times it.
pub async fn send(settings: &MailSettings, alert: &Alert) -> Result<()> {
    let mut s = Session::connect(settings.server, settings.connect_timeout).await?;
    s.expect(220, "the greeting").await?;
    s.command(&format!("HELO {}", settings.router_id), 250, "HELO")
        .await?;
    s.command(&format!("MAIL FROM:<{}>", settings.from), 250, "MAIL FROM")
        .await?;
    for to in &settings.to {
        s.command(&format!("RCPT TO:<{to}>"), 250, "RCPT TO")
            .await?;
    }
    s.command("DATA", 354, "DATA").await?;
    let msg = format!(
        "From: {}\r\nTo: {}\r\nSubject: {}\r\nX-Mailer: vrrpx\r\n\r\n{}.\r\n",
        settings.from,
        settings.to.join(", "),
        alert.subject,
        stuff(&alert.body)
    );
    s.send("the message", msg.as_bytes()).await?;
    s.expect(250, "the end of data").await?;
    // The mail is queued; a relay slow to say goodbye changes nothing.
    let _ = s.command("QUIT", 221, "QUIT").await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_starting_with_a_dot_are_stuffed_and_end_in_crlf() {
        assert_eq!(stuff("a\n.b\nc"), "a\r\n..b\r\nc\r\n");
    }

    fn settings(server: SocketAddr, timeout: Duration) -> MailSettings {
        MailSettings {
            server,
            connect_timeout: timeout,
            from: "lb1@example.test".into(),
            to: vec!["ops@example.test".into()],
            router_id: "lb1".into(),
        }
    }

    fn alert(body: String) -> Alert {
        Alert {
            subject: "[lb1] VRRP Instance VI_1 - Entering MASTER state".into(),
            body,
        }
    }

    /// Runs `send` against a relay that does `relay` with each connection, and returns
    /// the error and how long `send` took.
    async fn fails_against<F, Fut>(timeout: Duration, body: String, relay: F) -> (String, Duration)
    where
        F: FnOnce(tokio::net::TcpStream) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()> + Send,
    {
        // A small fixed receive buffer (inherited by the accepted socket, and turning off
        // autotuning) so a relay that stops reading stalls the sender soon.
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let listener = socket.listen(8).unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (s, _) = listener.accept().await.unwrap();
            relay(s).await;
        });
        let start = std::time::Instant::now();
        // The outer bound only keeps a broken implementation from hanging the test.
        let result = tokio::time::timeout(
            Duration::from_secs(20),
            send(&settings(addr, timeout), &alert(body)),
        )
        .await
        .expect("send gave up on its own");
        let took = start.elapsed();
        server.abort();
        (format!("{:#}", result.unwrap_err()), took)
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_relay_that_accepts_and_says_nothing_fails_the_mail_within_the_timeout() {
        let timeout = Duration::from_millis(300);
        let (err, took) = fails_against(timeout, "body".into(), |s| async move {
            // Holds the connection open, silent, well past the timeout.
            tokio::time::sleep(Duration::from_secs(30)).await;
            drop(s);
        })
        .await;
        assert!(
            err.contains("no answer to the greeting within 300ms"),
            "{err}"
        );
        assert!(err.contains("127.0.0.1:"), "{err}");
        assert!(took >= timeout && took < timeout * 3, "{took:?}");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_relay_that_greets_then_stops_answering_fails_at_that_step() {
        let timeout = Duration::from_millis(300);
        let (err, took) = fails_against(timeout, "body".into(), |mut s| async move {
            s.write_all(b"220 test ESMTP\r\n").await.unwrap();
            let mut buf = [0u8; 512];
            let _ = s.read(&mut buf).await; // takes HELO, never answers
            tokio::time::sleep(Duration::from_secs(30)).await;
        })
        .await;
        assert!(err.contains("no answer to HELO within 300ms"), "{err}");
        assert!(took >= timeout && took < timeout * 3, "{took:?}");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_relay_that_stops_reading_fails_the_message_within_the_timeout() {
        let timeout = Duration::from_millis(500);
        // Every reply up front, then nothing is read: the message (far larger than the
        // socket buffers) cannot be written.
        let (err, took) = fails_against(timeout, "x".repeat(16 << 20), |mut s| async move {
            s.write_all(b"220 hi\r\n250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n")
                .await
                .unwrap();
            tokio::time::sleep(Duration::from_secs(30)).await;
        })
        .await;
        assert!(err.contains("the message not taken within 500ms"), "{err}");
        assert!(took < timeout * 4, "{took:?}");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn an_endless_reply_line_is_refused() {
        let (err, _) = fails_against(Duration::from_secs(5), "body".into(), |mut s| async move {
            let _ = s.write_all(&[b'2'; 8192]).await;
            tokio::time::sleep(Duration::from_secs(30)).await;
        })
        .await;
        assert!(err.contains("longer than 4096 bytes"), "{err}");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_mail_goes_through_a_scripted_smtp_exchange() {
        use tokio::io::AsyncReadExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            s.write_all(b"220 test ESMTP\r\n").await.unwrap();
            let mut seen = Vec::new();
            let mut buf = [0u8; 4096];
            let mut in_data = false;
            loop {
                let n = s.read(&mut buf).await.unwrap();
                if n == 0 {
                    break;
                }
                seen.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&seen).into_owned();
                let answer: &[u8] = if in_data {
                    if !text.ends_with("\r\n.\r\n") {
                        continue;
                    }
                    in_data = false;
                    b"250 queued\r\n"
                } else if text.ends_with("DATA\r\n") {
                    in_data = true;
                    b"354 go ahead\r\n"
                } else if text.ends_with("QUIT\r\n") {
                    s.write_all(b"221 bye\r\n").await.unwrap();
                    break;
                } else if text.ends_with("\r\n") {
                    b"250 ok\r\n"
                } else {
                    continue;
                };
                s.write_all(answer).await.unwrap();
            }
            String::from_utf8(seen).unwrap()
        });
        let settings = MailSettings {
            server: addr,
            connect_timeout: Duration::from_secs(2),
            from: "lb1@example.test".into(),
            to: vec!["ops@example.test".into(), "oncall@example.test".into()],
            router_id: "lb1".into(),
        };
        let alert = Alert {
            subject: "[lb1] VRRP Instance VI_1 - Entering MASTER state".into(),
            body: "=> VRRP Instance is now owning VRRP VIPs <=".into(),
        };
        send(&settings, &alert).await.unwrap();
        let seen = server.await.unwrap();
        assert!(seen.starts_with("HELO lb1\r\nMAIL FROM:<lb1@example.test>\r\n"));
        assert!(seen.contains("RCPT TO:<ops@example.test>\r\nRCPT TO:<oncall@example.test>\r\n"));
        assert!(seen.contains("Subject: [lb1] VRRP Instance VI_1 - Entering MASTER state\r\n"));
        assert!(seen.ends_with("QUIT\r\n"));
    }
}

//! `smtp_alert`: one mail per transition, as keepalived sends it, over plain SMTP
//! (RFC 5321) to the configured relay. Minimal by design: the relay does the rest.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MailSettings {
    pub server: SocketAddr,
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

/// Read one (possibly multi-line) SMTP reply and return its code.
async fn reply<R: AsyncBufReadExt + Unpin>(r: &mut R) -> Result<u16> {
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).await? == 0 {
            bail!("the SMTP server closed the connection");
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

async fn expect<R: AsyncBufReadExt + Unpin>(r: &mut R, want: u16, what: &str) -> Result<()> {
    let code = reply(r).await?;
    if code / 100 != want / 100 {
        bail!("SMTP {what}: server answered {code}");
    }
    Ok(())
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

/// Send `alert` to every recipient in one SMTP transaction.
pub async fn send(settings: &MailSettings, alert: &Alert) -> Result<()> {
    let stream = tokio::time::timeout(
        settings.connect_timeout,
        TcpStream::connect(settings.server),
    )
    .await
    .with_context(|| format!("connecting to {} timed out", settings.server))?
    .with_context(|| format!("connecting to {}", settings.server))?;
    let (rd, mut wr) = stream.into_split();
    let mut rd = BufReader::new(rd);
    expect(&mut rd, 220, "greeting").await?;
    wr.write_all(format!("HELO {}\r\n", settings.router_id).as_bytes())
        .await?;
    expect(&mut rd, 250, "HELO").await?;
    wr.write_all(format!("MAIL FROM:<{}>\r\n", settings.from).as_bytes())
        .await?;
    expect(&mut rd, 250, "MAIL FROM").await?;
    for to in &settings.to {
        wr.write_all(format!("RCPT TO:<{to}>\r\n").as_bytes())
            .await?;
        expect(&mut rd, 250, "RCPT TO").await?;
    }
    wr.write_all(b"DATA\r\n").await?;
    expect(&mut rd, 354, "DATA").await?;
    let msg = format!(
        "From: {}\r\nTo: {}\r\nSubject: {}\r\nX-Mailer: vrrpx\r\n\r\n{}.\r\n",
        settings.from,
        settings.to.join(", "),
        alert.subject,
        stuff(&alert.body)
    );
    wr.write_all(msg.as_bytes()).await?;
    expect(&mut rd, 250, "end of data").await?;
    wr.write_all(b"QUIT\r\n").await?;
    let _ = reply(&mut rd).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_starting_with_a_dot_are_stuffed_and_end_in_crlf() {
        assert_eq!(stuff("a\n.b\nc"), "a\r\n..b\r\nc\r\n");
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

//! E-mail deliveries through a real SMTP conversation with a small server on a loopback
//! socket: the envelope and the mail that arrive, and how refusals are classified.

mod common;

use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use common::{closed_port, message, INCIDENT_URL, PANEL_URL};
use notify::{parse_channel, ChannelConfig, Sender, Timeouts};

/// What the SMTP server saw of one conversation.
#[derive(Debug, Default)]
struct Conversation {
    commands: Vec<String>,
    data: String,
}

impl Conversation {
    fn commands_starting(&self, prefix: &str) -> Vec<&str> {
        self.commands
            .iter()
            .filter(|c| c.to_ascii_uppercase().starts_with(prefix))
            .map(String::as_str)
            .collect()
    }
}

/// How the SMTP server behaves.
struct Script {
    /// The reply to every `RCPT TO`.
    rcpt_reply: &'static str,
    /// Whether `EHLO` offers STARTTLS.
    offer_starttls: bool,
}

const ACCEPT: Script = Script {
    rcpt_reply: "250 2.1.5 ok",
    offer_starttls: false,
};

/// An SMTP server on 127.0.0.1 for one conversation: speaks EHLO, AUTH, MAIL FROM, RCPT TO,
/// DATA, RSET and QUIT, and returns what it saw once the client leaves.
async fn smtp_server(script: Script) -> (u16, JoinHandle<Conversation>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let conversation = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let (read, mut write) = stream.into_split();
        let mut read = BufReader::new(read);
        let mut seen = Conversation::default();
        write
            .write_all(b"220 test.local ESMTP ready\r\n")
            .await
            .unwrap();
        loop {
            let mut line = String::new();
            if read.read_line(&mut line).await.unwrap_or(0) == 0 {
                break;
            }
            let command = line.trim_end().to_string();
            let verb = command.to_ascii_uppercase();
            seen.commands.push(command);
            let reply = if verb.starts_with("EHLO") {
                let starttls = if script.offer_starttls {
                    "250-STARTTLS\r\n"
                } else {
                    ""
                };
                format!("250-test.local\r\n{starttls}250-AUTH PLAIN LOGIN\r\n250 8BITMIME")
            } else if verb.starts_with("AUTH") {
                "235 2.7.0 authenticated".to_string()
            } else if verb.starts_with("MAIL FROM") || verb.starts_with("RSET") {
                "250 2.1.0 ok".to_string()
            } else if verb.starts_with("RCPT TO") {
                script.rcpt_reply.to_string()
            } else if verb == "DATA" {
                write
                    .write_all(b"354 end data with <CR><LF>.<CR><LF>\r\n")
                    .await
                    .unwrap();
                loop {
                    let mut data = String::new();
                    if read.read_line(&mut data).await.unwrap_or(0) == 0 || data == ".\r\n" {
                        break;
                    }
                    seen.data.push_str(&data);
                }
                "250 2.0.0 queued".to_string()
            } else if verb == "QUIT" {
                write.write_all(b"221 2.0.0 bye\r\n").await.unwrap();
                break;
            } else {
                "502 5.5.2 command not recognised".to_string()
            };
            write
                .write_all(format!("{reply}\r\n").as_bytes())
                .await
                .unwrap();
        }
        seen
    });
    (port, conversation)
}

async fn finished(conversation: JoinHandle<Conversation>) -> Conversation {
    tokio::time::timeout(Duration::from_secs(5), conversation)
        .await
        .expect("the client left the SMTP server")
        .unwrap()
}

fn email(port: u16, security: &str, login: bool) -> ChannelConfig {
    let mut config = json!({
        "host": "127.0.0.1", "port": port, "security": security,
        "from": "Osprey <osprey@example.com>", "to": ["ops@example.com", "oncall@example.com"],
    });
    if login {
        config["username"] = json!("osprey");
        config["password"] = json!("hunter2");
    }
    parse_channel("email", &config).unwrap()
}

#[tokio::test]
async fn mail_goes_through_a_real_smtp_conversation() {
    let (port, conversation) = smtp_server(ACCEPT).await;
    Sender::new()
        .send(&email(port, "plain", true), &message())
        .await
        .unwrap();
    let seen = finished(conversation).await;

    assert_eq!(
        seen.commands_starting("EHLO").len(),
        1,
        "{:?}",
        seen.commands
    );
    // base64("\0osprey\0hunter2"), computed outside Rust.
    assert_eq!(
        seen.commands_starting("AUTH"),
        ["AUTH PLAIN AG9zcHJleQBodW50ZXIy"]
    );
    assert_eq!(
        seen.commands_starting("MAIL FROM"),
        ["MAIL FROM:<osprey@example.com>"]
    );
    assert_eq!(
        seen.commands_starting("RCPT TO"),
        ["RCPT TO:<ops@example.com>", "RCPT TO:<oncall@example.com>"]
    );
    assert_eq!(seen.commands.last().map(String::as_str), Some("QUIT"));

    let data = &seen.data;
    for needle in [
        "From: Osprey <osprey@example.com>\r\n",
        "To: ops@example.com, oncall@example.com\r\n",
        "Subject: [FIRING] High latency (service=api)\r\n",
        "Content-Type: text/plain; charset=utf-8\r\n",
        "Content-Transfer-Encoding: 7bit\r\n",
        "- High latency (service=api): firing\r\n",
        "  value 612.5 (threshold 500)\r\n",
        "  condition: avg http.latency_ms > 500\r\n",
    ] {
        assert!(data.contains(needle), "missing {needle:?} in\n{data}");
    }
    assert!(
        data.contains(&format!("Incident inc-12 (SEV2): {INCIDENT_URL}\r\n")),
        "{data}"
    );
    assert!(data.contains(&format!("Chart: {PANEL_URL}\r\n")), "{data}");
}

#[tokio::test]
async fn without_credentials_there_is_no_login() {
    let (port, conversation) = smtp_server(ACCEPT).await;
    Sender::new()
        .send(&email(port, "plain", false), &message())
        .await
        .unwrap();
    let seen = finished(conversation).await;
    assert!(
        seen.commands_starting("AUTH").is_empty(),
        "{:?}",
        seen.commands
    );
    assert_eq!(seen.commands_starting("RCPT TO").len(), 2);
}

#[tokio::test]
async fn a_transient_refusal_is_retryable() {
    let (port, conversation) = smtp_server(Script {
        rcpt_reply: "450 4.2.1 mailbox busy, try later",
        ..ACCEPT
    })
    .await;
    let e = Sender::new()
        .send(&email(port, "plain", false), &message())
        .await
        .unwrap_err();
    assert!(e.retryable, "{e:?}");
    assert!(
        e.message.starts_with(&format!("smtp 127.0.0.1:{port}: ")),
        "{e}"
    );
    assert!(
        e.message.contains("450") || e.message.contains("mailbox busy"),
        "{e}"
    );
    let seen = finished(conversation).await;
    assert!(seen.data.is_empty(), "no data after a refused recipient");
}

#[tokio::test]
async fn a_permanent_refusal_is_not_retryable() {
    let (port, conversation) = smtp_server(Script {
        rcpt_reply: "550 5.1.1 no such user",
        ..ACCEPT
    })
    .await;
    let e = Sender::new()
        .send(&email(port, "plain", false), &message())
        .await
        .unwrap_err();
    assert!(!e.retryable, "{e:?}");
    assert!(
        e.message.contains("550") || e.message.contains("no such user"),
        "{e}"
    );
    finished(conversation).await;
}

#[tokio::test]
async fn starttls_is_required_when_configured() {
    // The server offers no STARTTLS: nothing may be sent in the clear, and retrying will not
    // make the server offer it.
    let (port, conversation) = smtp_server(ACCEPT).await;
    let e = Sender::new()
        .send(&email(port, "starttls", true), &message())
        .await
        .unwrap_err();
    assert!(!e.retryable, "{e:?}");
    assert!(e.message.to_ascii_lowercase().contains("starttls"), "{e}");
    let seen = finished(conversation).await;
    assert!(
        seen.commands_starting("AUTH").is_empty(),
        "{:?}",
        seen.commands
    );
    assert!(
        seen.commands_starting("MAIL FROM").is_empty(),
        "{:?}",
        seen.commands
    );
}

#[tokio::test]
async fn an_unreachable_relay_is_retryable() {
    let port = closed_port().await;
    let e = Sender::new()
        .send(&email(port, "plain", false), &message())
        .await
        .unwrap_err();
    assert!(e.retryable, "{e:?}");
    assert!(
        e.message.starts_with(&format!("smtp 127.0.0.1:{port}: ")),
        "{e}"
    );
}

#[tokio::test]
async fn a_silent_relay_times_out_retryably() {
    // Accepts the connection and never greets.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let held = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        tokio::time::sleep(Duration::from_secs(10)).await;
        drop(stream);
    });
    let sender = Sender::with_timeouts(Timeouts {
        request: Duration::from_millis(300),
        smtp_conversation: Duration::from_secs(1),
        ..Timeouts::default()
    });
    let started = Instant::now();
    let e = sender
        .send(&email(port, "plain", false), &message())
        .await
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert!(e.retryable, "{e:?}");
    held.abort();
}

#[tokio::test]
async fn implicit_tls_never_falls_back_to_plain() {
    // The relay greets in plain text where a TLS handshake was due: the message must not go
    // out unencrypted.
    let (port, conversation) = smtp_server(ACCEPT).await;
    let e = Sender::new()
        .send(&email(port, "tls", true), &message())
        .await
        .unwrap_err();
    assert!(e.retryable, "{e:?}");
    assert!(
        e.message.starts_with(&format!("smtp 127.0.0.1:{port}: ")),
        "{e}"
    );
    let seen = finished(conversation).await;
    assert!(
        seen.commands_starting("AUTH").is_empty(),
        "{:?}",
        seen.commands
    );
    assert!(
        seen.commands_starting("MAIL FROM").is_empty(),
        "{:?}",
        seen.commands
    );
}

//! E-mail delivery over SMTP with lettre's tokio transport.
//!
//! One connection per message, closed after it: alert mail is rare, and a pool would hold
//! connections that relays time out anyway. All recipients go in one transaction, so a relay
//! refusing one of them fails the message as a whole.

use std::str::FromStr;

use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use sha2::{Digest, Sha256};

use crate::channel::SmtpSecurity;
use crate::message::Message;
use crate::render::{render_subject, render_text};
use crate::send::{DeliveryError, Timeouts};

/// Where and how to hand mail over.
pub(crate) struct Relay<'a> {
    pub host: &'a str,
    pub port: u16,
    pub security: SmtpSecurity,
    /// User name and password.
    pub credentials: Option<(&'a str, &'a str)>,
}

/// Sends `message` from `from` to every address of `to` through `relay`.
pub(crate) async fn send(
    relay: &Relay<'_>,
    from: &str,
    to: &[String],
    message: &Message,
    timeouts: &Timeouts,
) -> Result<(), DeliveryError> {
    let email = build(from, to, message)?;
    let target = format!("{}:{}", relay.host, relay.port);
    let builder = match relay.security {
        SmtpSecurity::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(relay.host),
        SmtpSecurity::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(relay.host),
        SmtpSecurity::Plain => Ok(AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(
            relay.host,
        )),
    }
    .map_err(|e| DeliveryError::permanent(format!("smtp {target}: {e}")))?;
    let mut builder = builder.port(relay.port).timeout(Some(timeouts.request));
    if let Some((username, password)) = relay.credentials {
        builder = builder.credentials(Credentials::new(username.into(), password.into()));
    }
    let transport: AsyncSmtpTransport<Tokio1Executor> = builder.build();
    match tokio::time::timeout(timeouts.smtp_conversation, transport.send(email)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(classify(&target, &e)),
        Err(_) => Err(DeliveryError::transient(format!(
            "smtp {target}: no answer within {:?}",
            timeouts.smtp_conversation
        ))),
    }
}

/// The e-mail: text/plain body from [`render_text`], subject from [`render_subject`], and a
/// `Message-ID` derived from the idempotency key so that a retried mail is the same mail.
fn build(from: &str, to: &[String], message: &Message) -> Result<lettre::Message, DeliveryError> {
    let invalid = |what: String| DeliveryError::permanent(format!("cannot build e-mail: {what}"));
    let from = Mailbox::from_str(from).map_err(|e| invalid(format!("from {from:?}: {e}")))?;
    let id = &hex::encode(Sha256::digest(message.idempotency_key.as_bytes()))[..32];
    let mut builder = lettre::Message::builder()
        .message_id(Some(format!("<{id}@{}>", from.email.domain())))
        .from(from)
        .subject(render_subject(message))
        .header(ContentType::TEXT_PLAIN);
    for recipient in to {
        let address =
            Address::from_str(recipient).map_err(|e| invalid(format!("to {recipient:?}: {e}")))?;
        builder = builder.to(Mailbox::new(None, address));
    }
    builder
        .body(render_text(message))
        .map_err(|e| invalid(e.to_string()))
}

/// SMTP 4xx replies and lost or timed-out connections may clear up; 5xx replies and errors of
/// our own making (no STARTTLS on offer, no common AUTH mechanism) will not.
fn classify(target: &str, error: &lettre::transport::smtp::Error) -> DeliveryError {
    let message = format!("smtp {target}: {error}");
    if error.is_permanent() || error.is_client() {
        DeliveryError::permanent(message)
    } else {
        DeliveryError::transient(message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::tests::sample;

    #[test]
    fn mails_carry_subject_recipients_and_a_stable_id() {
        let to = vec![
            "ops@example.com".to_string(),
            "oncall@example.com".to_string(),
        ];
        let email = build("Osprey <osprey@example.com>", &to, &sample()).unwrap();
        let text = String::from_utf8(email.formatted()).unwrap();
        assert!(
            text.contains("Subject: [FIRING] High latency (service=api)\r\n"),
            "{text}"
        );
        assert!(
            text.contains("To: ops@example.com, oncall@example.com\r\n"),
            "{text}"
        );
        assert!(
            text.contains("Content-Type: text/plain; charset=utf-8\r\n"),
            "{text}"
        );
        assert!(text.contains("value 612.5 (threshold 500)"), "{text}");
        let id = |text: &str| {
            text.lines()
                .find(|line| line.starts_with("Message-ID: "))
                .map(str::to_string)
        };
        let again = build("Osprey <osprey@example.com>", &to, &sample()).unwrap();
        let again = String::from_utf8(again.formatted()).unwrap();
        assert!(id(&text).unwrap().ends_with("@example.com>"), "{text}");
        assert_eq!(id(&text), id(&again));
        let mut other = sample();
        other.idempotency_key.push('x');
        let other = String::from_utf8(
            build("osprey@example.com", &to, &other)
                .unwrap()
                .formatted(),
        )
        .unwrap();
        assert_ne!(id(&text), id(&other));
    }
}

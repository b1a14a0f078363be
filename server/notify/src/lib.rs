//! Osprey's alert notifications: what a message says, how each channel wants it, and sending it.
//!
//! The crate has no database or web framework in it. The server keeps a durable outbox and calls
//! in here at three moments:
//!
//! 1. **Configuring a channel** ([`channel`]): [`parse_channel`] turns the `kind` and `config`
//!    of `POST /api/v1/channels` into a validated [`ChannelConfig`], or a [`ConfigError`] that
//!    names the field at fault (`config.to[1]`). The server stores [`ChannelConfig::to_json`]
//!    and lists channels with [`ChannelConfig::redacted`], which hides every secret.
//! 2. **Queueing a notification** ([`message`]): the server builds a [`Message`] from the
//!    alert engine's notification and stores it as JSON in an outbox row, with the message's
//!    idempotency key.
//! 3. **Delivering it** ([`send`]): a [`Sender`] renders the message for the channel
//!    ([`render`] for the texts of e-mail and SMS, [`payload`] for the JSON and form bodies of
//!    webhooks, Slack, PagerDuty and Twilio-style SMS) and sends it. A failure comes back as a
//!    [`DeliveryError`] that says whether to retry and, when the receiver asked, after how
//!    long; [`backoff`] gives the delay otherwise.
//!
//! Delivery is at least once: the server retries until the receiver acknowledges, so a receiver
//! may see a message twice (a timeout after the receiver had accepted it). Webhooks get an
//! `Idempotency-Key` header, PagerDuty a stable `dedup_key`, e-mails a stable `Message-ID`, so
//! receivers can drop repeats; Slack and SMS have no such mechanism and may show a repeat.

#![warn(missing_docs)]

pub mod channel;
pub mod message;
pub mod payload;
pub mod render;
pub mod send;

mod email;

pub use channel::{parse_channel, ChannelConfig, SmtpSecurity, CHANNEL_KINDS, REDACTED};
pub use message::{IncidentRef, Message, MessageAlert, MessageStatus};
pub use payload::{sign, SIGNATURE_HEADER};
pub use render::{render_sms, render_subject, render_text};
pub use send::{backoff, DeliveryError, Sender, Timeouts};

/// Why a channel configuration was refused. `field` is the JSON path of the input at fault
/// (`kind`, `config.url`, `config.to[1]`) when one field is to blame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", describe(.field.as_deref(), .message))]
pub struct ConfigError {
    /// The JSON path of the field at fault, if one is.
    pub field: Option<String>,
    /// What is wrong with it.
    pub message: String,
}

fn describe(field: Option<&str>, message: &str) -> String {
    match field {
        Some(field) => format!("{field}: {message}"),
        None => message.to_string(),
    }
}

impl ConfigError {
    /// An error blamed on one field.
    pub fn at(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: Some(field.into()),
            message: message.into(),
        }
    }
}

/// Cuts `text` to at most `max_chars` characters, ending in `...` when it was cut.
pub(crate) fn truncate_chars(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        return text.to_string();
    }
    let keep = max_chars.saturating_sub(3);
    let mut out: String = text.chars().take(keep).collect();
    out.push_str(&"..."[..max_chars.min(3)]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_display_field_and_message() {
        let e = ConfigError::at("config.url", "must use http or https");
        assert_eq!(e.to_string(), "config.url: must use http or https");
        let e = ConfigError {
            field: None,
            message: "config must be an object".into(),
        };
        assert_eq!(e.to_string(), "config must be an object");
    }

    #[test]
    fn truncation_counts_characters_and_marks_the_cut() {
        assert_eq!(truncate_chars("héllo", 5), "héllo");
        assert_eq!(truncate_chars("héllo wörld", 8), "héllo...");
        assert_eq!(truncate_chars("héllo wörld", 8).chars().count(), 8);
        assert_eq!(truncate_chars("abcdef", 2), "..");
        assert_eq!(truncate_chars("", 0), "");
    }
}

//! What a notification says: [`Message`], independent of the channel it goes to.
//!
//! The server builds a message from the alert engine's notification when it writes its outbox
//! row, stores it as JSON and delivers it later, maybe after a restart; so every type here
//! (de)serializes, and the optional fields default when absent so that rows written by an older
//! server still read.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One notification, rendered per channel by [`crate::render`] and [`crate::payload`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// Stable per logical notification, so that a retried delivery can be recognised: sent as
    /// the webhook `Idempotency-Key` header and used for the e-mail `Message-ID`.
    pub idempotency_key: String,
    /// The alert group or incident key; PagerDuty's `dedup_key`.
    pub dedup_key: String,
    /// Whether the alerts fired, resolved, or are a storm digest.
    pub status: MessageStatus,
    /// One line saying what happened, e.g. `[FIRING] High latency (service=api)`.
    pub title: String,
    /// `critical`, `warning` or `info`.
    pub severity: String,
    /// The alerts the message is about.
    #[serde(default)]
    pub alerts: Vec<MessageAlert>,
    /// The incident the alerts belong to, if one was opened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incident: Option<IncidentRef>,
    /// Absolute link to a chart of the rule's query.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub panel_url: Option<String>,
    /// When the event happened, unix milliseconds.
    pub sent_at_ms: i64,
    /// Free text to add, e.g. `and 37 more alerts` for digests, or an escalation notice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra_text: Option<String>,
}

/// What a message reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageStatus {
    /// Alerts started firing (or stopped reporting data).
    Firing,
    /// Alerts went back to normal.
    Resolved,
    /// A storm digest: many alerts folded into one message.
    Digest,
}

impl MessageStatus {
    /// The status as written in JSON: `firing`, `resolved` or `digest`.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageStatus::Firing => "firing",
            MessageStatus::Resolved => "resolved",
            MessageStatus::Digest => "digest",
        }
    }
}

/// One alert instance in a message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageAlert {
    /// The id of the rule that raised the alert.
    pub rule_id: String,
    /// The rule's name, as people know it.
    pub rule_name: String,
    /// The alert instance's labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// `firing`, `ok` or `nodata`.
    pub state: String,
    /// The value the rule saw last, if any.
    #[serde(default)]
    pub value: Option<f64>,
    /// The threshold the value is compared with, if the rule has one.
    #[serde(default)]
    pub threshold: Option<f64>,
    /// The rule's condition in words, e.g. `avg http.latency_ms > 500`.
    #[serde(default)]
    pub condition: String,
    /// Since when the alert is in its state, unix milliseconds.
    pub since_ms: i64,
}

/// The incident a message belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentRef {
    /// The incident's id.
    pub id: String,
    /// Absolute link to the incident's page.
    pub url: String,
    /// SEV1 (worst) to SEV5.
    pub sev: u8,
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A firing message with every field set, shared by the tests of the other modules.
    pub(crate) fn sample() -> Message {
        Message {
            idempotency_key: "ntf-42-webhook-ops".into(),
            dedup_key: "rule-7{service=api}".into(),
            status: MessageStatus::Firing,
            title: "[FIRING] High latency (service=api)".into(),
            severity: "critical".into(),
            alerts: vec![MessageAlert {
                rule_id: "rule-7".into(),
                rule_name: "High latency".into(),
                labels: BTreeMap::from([
                    ("env".to_string(), "prod".to_string()),
                    ("service".to_string(), "api".to_string()),
                ]),
                state: "firing".into(),
                value: Some(612.5),
                threshold: Some(500.0),
                condition: "avg http.latency_ms > 500".into(),
                since_ms: 1_795_000_000_000,
            }],
            incident: Some(IncidentRef {
                id: "inc-12".into(),
                url: "https://osprey.example.com/incidents/inc-12".into(),
                sev: 2,
            }),
            panel_url: Some("https://osprey.example.com/explore?q=avg%28http.latency_ms%29".into()),
            sent_at_ms: 1_795_000_030_000,
            extra_text: None,
        }
    }

    #[test]
    fn messages_round_trip_through_json() {
        let message = sample();
        let json = serde_json::to_value(&message).unwrap();
        assert_eq!(json["status"], "firing");
        assert_eq!(json["incident"]["sev"], 2);
        let back: Message = serde_json::from_value(json).unwrap();
        assert_eq!(back, message);
    }

    #[test]
    fn optional_fields_may_be_absent() {
        let json = serde_json::json!({
            "idempotency_key": "k", "dedup_key": "d", "status": "digest", "title": "t",
            "severity": "info", "sent_at_ms": 0
        });
        let message: Message = serde_json::from_value(json).unwrap();
        assert_eq!(message.status, MessageStatus::Digest);
        assert!(message.alerts.is_empty());
        assert_eq!(message.incident, None);
        assert_eq!(message.panel_url, None);
        let again = serde_json::to_value(&message).unwrap();
        assert!(again.get("incident").is_none(), "{again}");
    }

    #[test]
    fn statuses_are_snake_case() {
        for status in [
            MessageStatus::Firing,
            MessageStatus::Resolved,
            MessageStatus::Digest,
        ] {
            assert_eq!(
                serde_json::to_value(status).unwrap(),
                serde_json::Value::from(status.as_str())
            );
        }
        assert!(serde_json::from_str::<MessageStatus>("\"Firing\"").is_err());
    }
}

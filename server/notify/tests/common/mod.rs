//! What the delivery tests share: a message, and a port nothing listens on.

#![allow(dead_code)] // Each test file uses its own part of this.

use std::collections::BTreeMap;

use notify::{IncidentRef, Message, MessageAlert, MessageStatus};

pub const INCIDENT_URL: &str = "https://osprey.example.com/incidents/inc-12";
pub const PANEL_URL: &str = "https://osprey.example.com/explore?q=avg%28http.latency_ms%29";

/// A firing message about one alert with a value, a threshold and both links.
pub fn message() -> Message {
    Message {
        idempotency_key: "ntf-42-ops".into(),
        dedup_key: "rule-7{service=api}".into(),
        status: MessageStatus::Firing,
        title: "[FIRING] High latency (service=api)".into(),
        severity: "critical".into(),
        alerts: vec![MessageAlert {
            rule_id: "rule-7".into(),
            rule_name: "High latency".into(),
            labels: BTreeMap::from([("service".to_string(), "api".to_string())]),
            state: "firing".into(),
            value: Some(612.5),
            threshold: Some(500.0),
            condition: "avg http.latency_ms > 500".into(),
            since_ms: 1_795_000_000_000,
        }],
        incident: Some(IncidentRef {
            id: "inc-12".into(),
            url: INCIDENT_URL.into(),
            sev: 2,
        }),
        panel_url: Some(PANEL_URL.into()),
        sent_at_ms: 1_795_000_030_000,
        extra_text: None,
    }
}

/// A loopback port that was free a moment ago and that nothing listens on now.
pub async fn closed_port() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap().port()
}

//! The bodies each receiver takes, built from a [`Message`]: pure functions, no I/O.
//!
//! **Webhook** (Osprey's own schema, version 1), POSTed as `application/json` with an
//! `Idempotency-Key: <idempotency_key>` header and, when the channel has a secret,
//! `X-Osprey-Signature: sha256=<hex HMAC-SHA256 of the exact body bytes>` ([`sign`]):
//!
//! ```json
//! {"version": 1, "idempotency_key": "…", "dedup_key": "…",
//!  "status": "firing", "title": "[FIRING] High latency (service=api)", "severity": "critical",
//!  "alerts": [{"rule_id": "…", "rule_name": "High latency", "labels": {"service": "api"},
//!              "state": "firing", "value": 612.5, "threshold": 500,
//!              "condition": "avg http.latency_ms > 500", "since": "2026-11-18T11:06:40.000Z"}],
//!  "alerts_omitted": 0,
//!  "incident": {"id": "inc-12", "url": "https://…", "sev": 2},
//!  "panel_url": "https://…", "text": null, "sent_at": "2026-11-18T11:07:10.000Z"}
//! ```
//!
//! `status` is `firing`, `resolved` or `digest`; `value` and `threshold` may be `null`;
//! `incident`, `panel_url` and `text` are `null` when absent. At most [`MAX_PAYLOAD_ALERTS`]
//! alerts are listed, `alerts_omitted` counts the rest. A receiver verifies the signature by
//! computing the HMAC over the raw body before parsing it, and drops repeats by
//! `idempotency_key` (delivery is at least once).
//!
//! **Slack**: an incoming-webhook message, `{"text": fallback, "blocks": [...]}`, of `section`
//! and `context` blocks in `mrkdwn` with `&`, `<` and `>` escaped as Slack asks.
//!
//! **PagerDuty**: an Events API v2 event; `trigger` for firing and digest messages, `resolve`
//! (with only `routing_key`, `event_action` and `dedup_key`) for resolved ones.
//!
//! **SMS**: the form fields `To`, `From` and `Body` of a Twilio-style Messages endpoint.

use hmac::{Hmac, Mac};
use serde::Serialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::message::{IncidentRef, Message, MessageAlert, MessageStatus};
use crate::render::{self, format_number, one_line, readable_time, rfc3339};
use crate::truncate_chars;

/// The version of the webhook schema, sent as `version`.
pub const WEBHOOK_SCHEMA_VERSION: u32 = 1;
/// The header that carries the webhook body's signature.
pub const SIGNATURE_HEADER: &str = "X-Osprey-Signature";
/// The header that carries the message's idempotency key.
pub const IDEMPOTENCY_HEADER: &str = "Idempotency-Key";
/// Most alerts a webhook body lists.
pub const MAX_PAYLOAD_ALERTS: usize = 100;
/// Most alerts a Slack message shows one by one.
pub const MAX_SLACK_ALERTS: usize = 10;
/// Most alerts in a PagerDuty event's `custom_details`.
pub const MAX_PAGERDUTY_ALERTS: usize = 20;
/// Largest PagerDuty event, in bytes; PagerDuty refuses more than 512 KB.
pub const MAX_PAGERDUTY_BYTES: usize = 500_000;
/// Longest PagerDuty `summary`, in characters.
pub const MAX_PAGERDUTY_SUMMARY_CHARS: usize = 1_024;
/// Longest PagerDuty `dedup_key`, in characters.
pub const MAX_PAGERDUTY_DEDUP_CHARS: usize = 255;
/// Longest text of a Slack `section` or `context` element, in characters.
pub const MAX_SLACK_TEXT_CHARS: usize = 3_000;

/// The `X-Osprey-Signature` value for `body`: `sha256=` and the lowercase hex HMAC-SHA256 of
/// the exact body bytes, keyed by the channel's secret.
pub fn sign(secret: &str, body: &[u8]) -> String {
    // HMAC takes keys of any length, so this cannot fail.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[derive(Serialize)]
struct WebhookBody<'a> {
    version: u32,
    idempotency_key: &'a str,
    dedup_key: &'a str,
    status: MessageStatus,
    title: &'a str,
    severity: &'a str,
    alerts: Vec<WebhookAlert<'a>>,
    alerts_omitted: usize,
    incident: Option<&'a IncidentRef>,
    panel_url: Option<&'a str>,
    text: Option<&'a str>,
    sent_at: String,
}

#[derive(Serialize)]
struct WebhookAlert<'a> {
    rule_id: &'a str,
    rule_name: &'a str,
    labels: &'a std::collections::BTreeMap<String, String>,
    state: &'a str,
    value: Option<f64>,
    threshold: Option<f64>,
    condition: &'a str,
    since: String,
}

/// The webhook body, as the exact bytes to send and sign.
pub fn webhook_body(message: &Message) -> Vec<u8> {
    let body = WebhookBody {
        version: WEBHOOK_SCHEMA_VERSION,
        idempotency_key: &message.idempotency_key,
        dedup_key: &message.dedup_key,
        status: message.status,
        title: &message.title,
        severity: &message.severity,
        alerts: message
            .alerts
            .iter()
            .take(MAX_PAYLOAD_ALERTS)
            .map(|alert| WebhookAlert {
                rule_id: &alert.rule_id,
                rule_name: &alert.rule_name,
                labels: &alert.labels,
                state: &alert.state,
                value: alert.value,
                threshold: alert.threshold,
                condition: &alert.condition,
                since: rfc3339(alert.since_ms),
            })
            .collect(),
        alerts_omitted: message.alerts.len().saturating_sub(MAX_PAYLOAD_ALERTS),
        incident: message.incident.as_ref(),
        panel_url: message.panel_url.as_deref(),
        text: message.extra_text.as_deref(),
        sent_at: rfc3339(message.sent_at_ms),
    };
    // Strings, numbers and string maps only: serializing cannot fail.
    serde_json::to_vec(&body).expect("webhook body serializes")
}

/// The Slack incoming-webhook message: a headline, one section per alert (up to
/// [`MAX_SLACK_ALERTS`]), the extra text, the links, and a footer with the time.
pub fn slack_body(message: &Message) -> Value {
    let icon = match message.status {
        MessageStatus::Firing => ":red_circle:",
        MessageStatus::Resolved => ":large_green_circle:",
        MessageStatus::Digest => ":rotating_light:",
    };
    let mut blocks = vec![section(format!(
        "{icon} *{}*\nSeverity: *{}*",
        slack_escape(&one_line(&message.title)),
        slack_escape(&one_line(&message.severity)),
    ))];
    for alert in message.alerts.iter().take(MAX_SLACK_ALERTS) {
        let mut text = format!(
            "*{}*: {}\n{}",
            slack_escape(&one_line(&alert.rule_name)),
            slack_escape(&one_line(&alert.state)),
            slack_escape(&render::value_and_threshold(alert)),
        );
        if !alert.condition.is_empty() {
            text.push_str(&format!(
                "\nCondition: {}",
                slack_escape(&one_line(&alert.condition))
            ));
        }
        if !alert.labels.is_empty() {
            text.push_str(&format!(
                "\nLabels: {}",
                slack_escape(&render::labels(alert))
            ));
        }
        blocks.push(section(text));
    }
    let unlisted = message.alerts.len().saturating_sub(MAX_SLACK_ALERTS);
    if unlisted > 0 {
        blocks.push(context(vec![format!("and {unlisted} more alerts")]));
    }
    if let Some(extra) = &message.extra_text {
        blocks.push(section(slack_escape(extra)));
    }
    let mut links = Vec::new();
    if let Some(incident) = &message.incident {
        links.push(slack_link(
            &incident.url,
            &format!("Incident {} (SEV{})", one_line(&incident.id), incident.sev),
        ));
    }
    if let Some(panel) = &message.panel_url {
        links.push(slack_link(panel, "View chart"));
    }
    if !links.is_empty() {
        blocks.push(context(links));
    }
    // `<!date^…|fallback>` shows the time in each reader's own time zone.
    let seconds = message.sent_at_ms.div_euclid(1000);
    blocks.push(context(vec![format!(
        "Osprey | <!date^{seconds}^{{date_short_pretty}} at {{time_secs}}|{}>",
        readable_time(message.sent_at_ms)
    )]));

    let mut fallback = one_line(&message.title);
    if let [alert] = message.alerts.as_slice() {
        fallback.push_str(&format!(": {}", render::value_and_threshold(alert)));
    }
    json!({
        "text": fit(&slack_escape(&fallback), MAX_SLACK_TEXT_CHARS),
        "blocks": blocks,
    })
}

fn section(text: String) -> Value {
    json!({"type": "section", "text": {"type": "mrkdwn", "text": fit(&text, MAX_SLACK_TEXT_CHARS)}})
}

fn context(texts: Vec<String>) -> Value {
    let elements: Vec<Value> = texts
        .iter()
        .map(|text| json!({"type": "mrkdwn", "text": fit(text, MAX_SLACK_TEXT_CHARS)}))
        .collect();
    json!({"type": "context", "elements": elements})
}

/// Slack's control characters as the HTML entities Slack asks for.
pub fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// `<url|text>`; a `|` in the URL would end it early, so it is percent-encoded.
fn slack_link(url: &str, text: &str) -> String {
    format!(
        "<{}|{}>",
        slack_escape(&one_line(url)).replace('|', "%7C"),
        slack_escape(&one_line(text))
    )
}

/// Cuts escaped mrkdwn to `max_chars` without leaving half an entity (`&am`).
fn fit(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(max_chars.saturating_sub(3)).collect();
    if let Some(amp) = cut.rfind('&') {
        if !cut[amp..].contains(';') {
            cut.truncate(amp);
        }
    }
    cut.push_str("...");
    cut
}

/// The PagerDuty Events API v2 event: `trigger` for firing and digest messages, `resolve` for
/// resolved ones.
pub fn pagerduty_body(routing_key: &str, message: &Message) -> Value {
    let dedup_key = pagerduty_dedup_key(&message.dedup_key);
    if message.status == MessageStatus::Resolved {
        return json!({
            "routing_key": routing_key,
            "event_action": "resolve",
            "dedup_key": dedup_key,
        });
    }
    let mut links = Vec::new();
    if let Some(incident) = &message.incident {
        links.push(json!({
            "href": incident.url,
            "text": format!("Osprey incident {} (SEV{})", incident.id, incident.sev),
        }));
    }
    if let Some(panel) = &message.panel_url {
        links.push(json!({"href": panel, "text": "Chart"}));
    }
    let event = |listed: usize| {
        let alerts: Vec<Value> = message
            .alerts
            .iter()
            .take(listed)
            .map(|alert| {
                json!({
                    "rule": alert.rule_name,
                    "rule_id": alert.rule_id,
                    "labels": alert.labels,
                    "state": alert.state,
                    "value": alert.value.map(format_number),
                    "threshold": alert.threshold.map(format_number),
                    "condition": alert.condition,
                    "since": rfc3339(alert.since_ms),
                })
            })
            .collect();
        let mut payload = json!({
            "summary": truncate_chars(&one_line(&message.title), MAX_PAGERDUTY_SUMMARY_CHARS),
            "source": pagerduty_source(message),
            "severity": pagerduty_severity(&message.severity),
            "timestamp": rfc3339(message.sent_at_ms),
            "custom_details": {
                "status": message.status.as_str(),
                "severity": message.severity,
                "alerts": alerts,
                "alerts_omitted": message.alerts.len() - alerts.len(),
                "text": message.extra_text,
                "idempotency_key": message.idempotency_key,
            },
        });
        if let Some(class) = single_rule(message) {
            payload["class"] = Value::from(class);
        }
        json!({
            "routing_key": routing_key,
            "event_action": "trigger",
            "dedup_key": dedup_key,
            "payload": payload,
            "links": links,
            "client": "Osprey",
        })
    };
    // Labels and conditions come from users: list fewer alerts until the event fits.
    let mut listed = message.alerts.len().min(MAX_PAGERDUTY_ALERTS);
    loop {
        let body = event(listed);
        if listed == 0 || body.to_string().len() <= MAX_PAGERDUTY_BYTES {
            return body;
        }
        listed /= 2;
    }
}

/// Osprey's severities as PagerDuty's (`critical`, `error`, `warning`, `info`); one Osprey does
/// not know pages as `error`.
pub fn pagerduty_severity(severity: &str) -> &'static str {
    match severity {
        "critical" => "critical",
        "warning" => "warning",
        "info" => "info",
        _ => "error",
    }
}

/// The message's dedup key, within PagerDuty's 255 characters: a longer one keeps its start and
/// ends in a hash of the whole, so that distinct keys stay distinct.
pub fn pagerduty_dedup_key(key: &str) -> String {
    if key.chars().count() <= MAX_PAGERDUTY_DEDUP_CHARS {
        return key.to_string();
    }
    let hash = hex::encode(Sha256::digest(key.as_bytes()));
    let keep = MAX_PAGERDUTY_DEDUP_CHARS - hash.len() - 1;
    format!("{}~{hash}", key.chars().take(keep).collect::<String>())
}

/// "The unique location of the affected system": the first alert's `host`, `instance` or
/// `service` label, else `osprey`.
fn pagerduty_source(message: &Message) -> String {
    message
        .alerts
        .first()
        .and_then(|alert| {
            ["host", "instance", "service"]
                .iter()
                .find_map(|name| alert.labels.get(*name))
        })
        .map(|source| truncate_chars(&one_line(source), 255))
        .unwrap_or_else(|| "osprey".to_string())
}

/// The rule name when every alert comes from the same rule: PagerDuty's event `class`.
fn single_rule(message: &Message) -> Option<&str> {
    let first: &MessageAlert = message.alerts.first()?;
    message
        .alerts
        .iter()
        .all(|alert| alert.rule_id == first.rule_id)
        .then_some(first.rule_name.as_str())
}

/// The form fields of one SMS to a Twilio-style Messages endpoint.
pub fn sms_form<'a>(to: &'a str, from: &'a str, body: &'a str) -> [(&'static str, &'a str); 3] {
    [("To", to), ("From", from), ("Body", body)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::tests::sample;

    #[test]
    fn signatures_are_hmac_sha256_in_lowercase_hex() {
        // RFC 4231, test case 2.
        assert_eq!(
            sign("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_ne!(
            sign("Jefe", b"what do ya want for nothing?!"),
            sign("Jefe", b"what do ya want for nothing?")
        );
    }

    #[test]
    fn webhook_bodies_follow_the_documented_schema() {
        let body: Value = serde_json::from_slice(&webhook_body(&sample())).unwrap();
        assert_eq!(
            body,
            json!({
                "version": 1,
                "idempotency_key": "ntf-42-webhook-ops",
                "dedup_key": "rule-7{service=api}",
                "status": "firing",
                "title": "[FIRING] High latency (service=api)",
                "severity": "critical",
                "alerts": [{
                    "rule_id": "rule-7", "rule_name": "High latency",
                    "labels": {"env": "prod", "service": "api"},
                    "state": "firing", "value": 612.5, "threshold": 500.0,
                    "condition": "avg http.latency_ms > 500",
                    "since": "2026-11-18T11:06:40.000Z",
                }],
                "alerts_omitted": 0,
                "incident": {"id": "inc-12", "url": "https://osprey.example.com/incidents/inc-12", "sev": 2},
                "panel_url": "https://osprey.example.com/explore?q=avg%28http.latency_ms%29",
                "text": null,
                "sent_at": "2026-11-18T11:07:10.000Z",
            })
        );
    }

    #[test]
    fn webhook_bodies_bound_the_alert_list() {
        let mut message = sample();
        message.alerts = vec![message.alerts[0].clone(); MAX_PAYLOAD_ALERTS + 3];
        message.alerts[0].value = Some(f64::NAN);
        let body: Value = serde_json::from_slice(&webhook_body(&message)).unwrap();
        assert_eq!(body["alerts"].as_array().unwrap().len(), MAX_PAYLOAD_ALERTS);
        assert_eq!(body["alerts_omitted"], 3);
        assert_eq!(body["alerts"][0]["value"], Value::Null);
    }

    #[test]
    fn slack_messages_escape_control_characters() {
        let mut message = sample();
        message.title = "[FIRING] p99 > 500 & <rising>".into();
        message.alerts[0]
            .labels
            .insert("path".into(), "/a?b=1&c=<x>".into());
        let body = slack_body(&message);
        let all = body.to_string();
        assert!(!all.contains("<rising>") && !all.contains("=<x>"), "{all}");
        assert_eq!(
            body["text"],
            "[FIRING] p99 &gt; 500 &amp; &lt;rising&gt;: value 612.5 (threshold 500)"
        );
        let headline = body["blocks"][0]["text"]["text"].as_str().unwrap();
        assert_eq!(
            headline,
            ":red_circle: *[FIRING] p99 &gt; 500 &amp; &lt;rising&gt;*\nSeverity: *critical*"
        );
        let alert = body["blocks"][1]["text"]["text"].as_str().unwrap();
        assert!(alert.contains("value 612.5 (threshold 500)"), "{alert}");
        assert!(
            alert.contains("Condition: avg http.latency_ms &gt; 500"),
            "{alert}"
        );
        assert!(alert.contains("path=/a?b=1&amp;c=&lt;x&gt;"), "{alert}");
    }

    #[test]
    fn slack_messages_link_the_incident_and_the_chart() {
        let body = slack_body(&sample());
        let blocks = body["blocks"].as_array().unwrap();
        assert_eq!(blocks[0]["type"], "section");
        assert_eq!(blocks[0]["text"]["type"], "mrkdwn");
        let links = blocks[blocks.len() - 2]["elements"][0]["text"]
            .as_str()
            .unwrap();
        assert_eq!(
            links,
            "<https://osprey.example.com/incidents/inc-12|Incident inc-12 (SEV2)>"
        );
        let chart = blocks[blocks.len() - 2]["elements"][1]["text"]
            .as_str()
            .unwrap();
        assert_eq!(
            chart,
            "<https://osprey.example.com/explore?q=avg%28http.latency_ms%29|View chart>"
        );
        let footer = blocks[blocks.len() - 1]["elements"][0]["text"]
            .as_str()
            .unwrap();
        assert_eq!(
            footer,
            "Osprey | <!date^1795000030^{date_short_pretty} at {time_secs}|2026-11-18 11:07:10 UTC>"
        );
    }

    #[test]
    fn slack_messages_stay_within_block_limits() {
        let mut message = sample();
        message.alerts = vec![message.alerts[0].clone(); 60];
        message.alerts[0].rule_name = "&".repeat(5000);
        message.extra_text = Some("x".repeat(10_000));
        let body = slack_body(&message);
        let blocks = body["blocks"].as_array().unwrap();
        assert!(blocks.len() <= 50, "{}", blocks.len());
        assert_eq!(
            blocks.iter().filter(|b| b["type"] == "section").count(),
            1 + MAX_SLACK_ALERTS + 1
        );
        assert!(body.to_string().contains("and 50 more alerts"));
        for block in blocks {
            let texts: Vec<&Value> = match block["type"].as_str().unwrap() {
                "section" => vec![&block["text"]["text"]],
                _ => block["elements"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|e| &e["text"])
                    .collect(),
            };
            for text in texts {
                let text = text.as_str().unwrap();
                assert!(
                    text.chars().count() <= MAX_SLACK_TEXT_CHARS,
                    "{}",
                    text.len()
                );
                // No half entity at a cut.
                assert!(
                    !text.contains("&amp...") && !text.ends_with("&am..."),
                    "{}",
                    &text[text.len() - 10..]
                );
            }
        }
        assert!(
            fit("a &amp; b", 7).ends_with("a ..."),
            "{}",
            fit("a &amp; b", 7)
        );
    }

    #[test]
    fn pagerduty_triggers_follow_the_events_api() {
        let body = pagerduty_body("R0KEY", &sample());
        assert_eq!(body["routing_key"], "R0KEY");
        assert_eq!(body["event_action"], "trigger");
        assert_eq!(body["dedup_key"], "rule-7{service=api}");
        let payload = &body["payload"];
        assert_eq!(payload["summary"], "[FIRING] High latency (service=api)");
        assert_eq!(payload["source"], "api");
        assert_eq!(payload["severity"], "critical");
        assert_eq!(payload["timestamp"], "2026-11-18T11:07:10.000Z");
        assert_eq!(payload["class"], "High latency");
        let details = &payload["custom_details"];
        assert_eq!(details["alerts"][0]["value"], "612.5");
        assert_eq!(details["alerts"][0]["threshold"], "500");
        assert_eq!(
            details["alerts"][0]["condition"],
            "avg http.latency_ms > 500"
        );
        assert_eq!(
            body["links"],
            json!([
                {"href": "https://osprey.example.com/incidents/inc-12", "text": "Osprey incident inc-12 (SEV2)"},
                {"href": "https://osprey.example.com/explore?q=avg%28http.latency_ms%29", "text": "Chart"},
            ])
        );
    }

    #[test]
    fn pagerduty_resolves_carry_only_the_key() {
        let mut message = sample();
        message.status = MessageStatus::Resolved;
        assert_eq!(
            pagerduty_body("R0KEY", &message),
            json!({"routing_key": "R0KEY", "event_action": "resolve", "dedup_key": "rule-7{service=api}"})
        );
    }

    #[test]
    fn pagerduty_events_respect_its_limits() {
        for (ours, theirs) in [
            ("critical", "critical"),
            ("warning", "warning"),
            ("info", "info"),
            ("page", "error"),
        ] {
            assert_eq!(pagerduty_severity(ours), theirs);
        }
        let long = "k".repeat(400);
        let key = pagerduty_dedup_key(&long);
        assert_eq!(key.chars().count(), MAX_PAGERDUTY_DEDUP_CHARS);
        assert_ne!(key, pagerduty_dedup_key(&format!("{long}x")));
        assert_eq!(pagerduty_dedup_key("short"), "short");

        let mut message = sample();
        message.title = "t".repeat(5000);
        message.alerts = vec![message.alerts[0].clone(); 40];
        for (i, alert) in message.alerts.iter_mut().enumerate() {
            alert.rule_id = format!("rule-{i}");
            alert.labels.insert("blob".into(), "b".repeat(60_000));
        }
        let body = pagerduty_body("R0KEY", &message);
        assert!(body.to_string().len() <= MAX_PAGERDUTY_BYTES);
        assert_eq!(
            body["payload"]["summary"].as_str().unwrap().chars().count(),
            MAX_PAGERDUTY_SUMMARY_CHARS
        );
        let listed = body["payload"]["custom_details"]["alerts"]
            .as_array()
            .unwrap()
            .len();
        assert!((1..MAX_PAGERDUTY_ALERTS).contains(&listed), "{listed}");
        assert_eq!(
            body["payload"]["custom_details"]["alerts_omitted"],
            40 - listed
        );
        assert!(
            body["payload"].get("class").is_none(),
            "alerts of several rules have no class"
        );
    }

    #[test]
    fn sms_forms_have_the_twilio_fields() {
        assert_eq!(
            sms_form("+15005550001", "+15005550006", "hi"),
            [
                ("To", "+15005550001"),
                ("From", "+15005550006"),
                ("Body", "hi")
            ]
        );
    }
}

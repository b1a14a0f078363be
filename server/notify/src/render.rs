//! Plain-text renderings of a [`Message`]: the e-mail subject and body, and the SMS body.
//!
//! Every rendering says what fired, the value, the threshold and where to look (the chart and
//! the incident). The texts are ASCII apart from what the message itself holds, so that an
//! e-mail of ASCII labels goes out as 7-bit text that any relay and reader takes.

use chrono::{DateTime, SecondsFormat, Utc};

use crate::message::{Message, MessageAlert};
use crate::truncate_chars;

/// Longest e-mail subject, in characters.
pub const MAX_SUBJECT_CHARS: usize = 200;
/// Longest SMS body, in characters: Twilio's limit for one message.
pub const MAX_SMS_CHARS: usize = 1_600;
/// Most alerts an e-mail lists one by one; the rest are counted.
pub const MAX_TEXT_ALERTS: usize = 20;

/// The e-mail subject: the title on one line, at most [`MAX_SUBJECT_CHARS`] characters.
pub fn render_subject(message: &Message) -> String {
    truncate_chars(&one_line(&message.title), MAX_SUBJECT_CHARS)
}

/// The e-mail body: the title, every alert (up to [`MAX_TEXT_ALERTS`]) with its value,
/// threshold, condition, labels and since when, any extra text, then the links.
pub fn render_text(message: &Message) -> String {
    let mut out = String::new();
    out.push_str(&one_line(&message.title));
    out.push('\n');
    out.push_str(&format!(
        "Status: {} | Severity: {}\n",
        message.status.as_str(),
        one_line(&message.severity)
    ));
    if !message.alerts.is_empty() {
        out.push('\n');
    }
    for alert in message.alerts.iter().take(MAX_TEXT_ALERTS) {
        out.push_str(&format!("- {}", one_line(&alert.rule_name)));
        if !alert.labels.is_empty() {
            out.push_str(&format!(" ({})", labels(alert)));
        }
        out.push_str(&format!(": {}\n", one_line(&alert.state)));
        out.push_str(&format!("  {}\n", value_and_threshold(alert)));
        if !alert.condition.is_empty() {
            out.push_str(&format!("  condition: {}\n", one_line(&alert.condition)));
        }
        out.push_str(&format!("  since {}\n", readable_time(alert.since_ms)));
    }
    let unlisted = message.alerts.len().saturating_sub(MAX_TEXT_ALERTS);
    if unlisted > 0 {
        out.push_str(&format!("- and {unlisted} more alerts\n"));
    }
    if let Some(extra) = &message.extra_text {
        out.push('\n');
        out.push_str(extra.trim_end());
        out.push('\n');
    }
    let links = links(message);
    if !links.is_empty() {
        out.push('\n');
        for link in links {
            out.push_str(&link);
            out.push('\n');
        }
    }
    out.push_str(&format!(
        "\n-- \nSent by Osprey at {}\n",
        readable_time(message.sent_at_ms)
    ));
    out
}

/// The SMS body, at most [`MAX_SMS_CHARS`] characters: the title, one line per alert with its
/// value and threshold, the extra text, and the links. When it does not fit, the alert lines
/// and title are cut, never the links.
pub fn render_sms(message: &Message) -> String {
    let mut head = one_line(&message.title);
    for alert in &message.alerts {
        head.push_str(&format!(
            "\n{}: {}",
            one_line(&alert.rule_name),
            value_and_threshold(alert)
        ));
    }
    if let Some(extra) = &message.extra_text {
        head.push('\n');
        head.push_str(&one_line(extra));
    }
    let tail: String = links(message)
        .iter()
        .map(|link| format!("\n{link}"))
        .collect();
    let room = MAX_SMS_CHARS.saturating_sub(tail.chars().count());
    if room < 40 {
        // Links too long to leave room for the text: keep what fits of everything.
        return truncate_chars(&format!("{head}{tail}"), MAX_SMS_CHARS);
    }
    format!("{}{tail}", truncate_chars(&head, room))
}

/// `value 612.5 (threshold 500)`, or what is known of it.
pub(crate) fn value_and_threshold(alert: &MessageAlert) -> String {
    let value = match alert.value {
        Some(value) => format!("value {}", format_number(value)),
        None => "no value".to_string(),
    };
    match alert.threshold {
        Some(threshold) => format!("{value} (threshold {})", format_number(threshold)),
        None => value,
    }
}

/// `env=prod, service=api`.
pub(crate) fn labels(alert: &MessageAlert) -> String {
    alert
        .labels
        .iter()
        .map(|(name, value)| format!("{}={}", one_line(name), one_line(value)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The chart and incident links, as lines of text.
fn links(message: &Message) -> Vec<String> {
    let mut links = Vec::new();
    if let Some(incident) = &message.incident {
        links.push(format!(
            "Incident {} (SEV{}): {}",
            one_line(&incident.id),
            incident.sev,
            one_line(&incident.url)
        ));
    }
    if let Some(panel) = &message.panel_url {
        links.push(format!("Chart: {}", one_line(panel)));
    }
    links
}

/// A number as people read it: about four significant digits, no float noise
/// (`612.5`, `0.0015`, `1234568`), scientific notation only for the extremes.
pub(crate) fn format_number(value: f64) -> String {
    if !value.is_finite() {
        return value.to_string();
    }
    let magnitude = value.abs();
    if magnitude != 0.0 && !(1e-6..1e15).contains(&magnitude) {
        return format!("{value:.3e}");
    }
    if value.fract() == 0.0 {
        return format!("{value:.0}");
    }
    let decimals = (3 - magnitude.log10().floor() as i32).clamp(0, 9) as usize;
    let text = format!("{value:.decimals$}");
    let text = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.')
    } else {
        &text
    };
    if text == "-0" {
        "0".to_string()
    } else {
        text.to_string()
    }
}

/// `2026-11-19 08:26:40 UTC`.
pub(crate) fn readable_time(ms: i64) -> String {
    match DateTime::<Utc>::from_timestamp_millis(ms) {
        Some(time) => time.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
        None => format!("{ms} ms"),
    }
}

/// RFC 3339 in UTC with milliseconds, as the JSON payloads carry times.
pub(crate) fn rfc3339(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Control characters (newlines included) become spaces, so a value cannot break a line
/// structure or forge a header.
pub(crate) fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::tests::sample;
    use crate::message::MessageStatus;

    #[test]
    fn the_text_says_what_fired_the_value_the_threshold_and_where_to_look() {
        let text = render_text(&sample());
        for needle in [
            "[FIRING] High latency (service=api)",
            "Status: firing | Severity: critical",
            "- High latency (env=prod, service=api): firing",
            "value 612.5 (threshold 500)",
            "condition: avg http.latency_ms > 500",
            "since 2026-11-18 11:06:40 UTC",
            "Incident inc-12 (SEV2): https://osprey.example.com/incidents/inc-12",
            "Chart: https://osprey.example.com/explore?q=avg%28http.latency_ms%29",
            "Sent by Osprey at 2026-11-18 11:07:10 UTC",
        ] {
            assert!(text.contains(needle), "missing {needle:?} in\n{text}");
        }
        assert!(text.is_ascii(), "{text}");
    }

    #[test]
    fn long_digests_list_some_alerts_and_count_the_rest() {
        let mut message = sample();
        message.status = MessageStatus::Digest;
        message.alerts = vec![message.alerts[0].clone(); MAX_TEXT_ALERTS + 5];
        message.extra_text = Some("and 37 more alerts".into());
        let text = render_text(&message);
        assert_eq!(text.matches("value 612.5").count(), MAX_TEXT_ALERTS);
        assert!(text.contains("- and 5 more alerts"), "{text}");
        assert!(text.contains("\nand 37 more alerts\n"), "{text}");
    }

    #[test]
    fn missing_values_and_links_are_left_out_cleanly() {
        let mut message = sample();
        message.alerts[0].value = None;
        message.alerts[0].threshold = None;
        message.alerts[0].state = "nodata".into();
        message.incident = None;
        message.panel_url = None;
        let text = render_text(&message);
        assert!(text.contains(": nodata\n  no value\n"), "{text}");
        assert!(
            !text.contains("Incident") && !text.contains("Chart"),
            "{text}"
        );
    }

    #[test]
    fn subjects_are_one_bounded_line() {
        let mut message = sample();
        message.title = "[FIRING] a\r\nBcc: victim@example.com".into();
        assert_eq!(
            render_subject(&message),
            "[FIRING] a  Bcc: victim@example.com"
        );
        message.title = "x".repeat(500);
        assert_eq!(render_subject(&message).chars().count(), MAX_SUBJECT_CHARS);
    }

    #[test]
    fn sms_bodies_fit_one_message_and_keep_their_links() {
        let text = render_sms(&sample());
        assert!(
            text.starts_with(
                "[FIRING] High latency (service=api)\nHigh latency: value 612.5 (threshold 500)"
            ),
            "{text}"
        );
        assert!(
            text.ends_with("Chart: https://osprey.example.com/explore?q=avg%28http.latency_ms%29"),
            "{text}"
        );

        let mut message = sample();
        message.alerts = vec![message.alerts[0].clone(); 200];
        let text = render_sms(&message);
        assert!(
            text.chars().count() <= MAX_SMS_CHARS,
            "{}",
            text.chars().count()
        );
        assert!(
            text.contains("...\nIncident inc-12 (SEV2): https://"),
            "{text}"
        );
        assert!(text.ends_with("latency_ms%29"), "{text}");

        message.panel_url = Some(format!("https://x.example.com/{}", "p".repeat(2000)));
        assert_eq!(render_sms(&message).chars().count(), MAX_SMS_CHARS);
    }

    #[test]
    fn numbers_read_like_people_write_them() {
        let cases = [
            (612.5, "612.5"),
            (500.0, "500"),
            (-3.0, "-3"),
            (0.0, "0"),
            (0.0015, "0.0015"),
            (1234567.891, "1234568"),
            (99.99999, "100"),
            (1.0 / 3.0, "0.3333"),
            (-0.00001, "-0.00001"),
            (2.5e20, "2.500e20"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "inf"),
        ];
        for (value, text) in cases {
            assert_eq!(format_number(value), text, "{value}");
        }
    }

    #[test]
    fn times_are_utc() {
        assert_eq!(readable_time(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(rfc3339(1_795_000_030_123), "2026-11-18T11:07:10.123Z");
        assert_eq!(rfc3339(i64::MAX), "1970-01-01T00:00:00.000Z");
    }
}

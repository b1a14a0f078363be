//! Osprey's alerting core: pure code, no web, database or runtime types.
//!
//! The server owns clocks, storage and I/O; this crate owns the decisions, so every function
//! takes the time (`now_ms`, unix milliseconds) explicitly and the same inputs always give the
//! same outputs. One evaluation tick goes through three stages:
//!
//! 1. **Rules** ([`rule`]): [`parse_rule`] turns the JSON of `POST /api/v1/alert-rules` into a
//!    validated [`AlertRule`], or a [`ValidationError`] that names the field at fault.
//! 2. **State** ([`state`]): one [`AlertInstance`] per rule × label set. The server evaluates the
//!    rule's query and feeds the result to [`AlertInstance::step`] as an [`Observation`]; a
//!    change of state comes back as a [`Transition`] for the server to record.
//! 3. **Noise control** ([`noise`]): the [`Dispatcher`] takes the tick's transitions, with each
//!    instance's labels, severity and channels, and the active [`Silence`]s, and returns the
//!    [`Notification`]s to send: grouped, deduplicated, flap-held, silenced, inhibited and, in a
//!    storm, folded into one digest.
//!
//! Users are told about a *status* ([`Status`]: ok, firing or nodata), not about every state:
//! `pending` and `recovering` are debouncing states nobody is paged for. So a notification goes
//! out only when an instance's status changes, which is the invariant the tests hold it to.

pub mod noise;
pub mod rule;
pub mod silence;
pub mod state;

mod key;
mod time;

use std::collections::BTreeMap;

pub use noise::{
    AlertEvent, Digest, Dispatcher, NoiseConfig, Notification, NotificationKind, NotifiedAlert,
};
pub use rule::{parse_rule, AlertRule, Condition, Op, RuleQuery, RuleSpec, Severity, Trigger};
pub use silence::{parse_silence, MatchOp, Matcher, Silence, SilenceSpec};
pub use state::{AlertInstance, AlertState, Observation, Status, Transition};
pub use time::{format_duration, parse_duration, parse_timestamp, DurationSpec, TimeSpec};

/// Label names and values of an alert instance, sorted so that keys and groups are stable.
pub type Labels = BTreeMap<String, String>;

/// Why a rule or silence was refused. `field` is the JSON path of the input at fault
/// (`condition.recover`, `matchers[2].value`) when one field is to blame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", describe(.field.as_deref(), .message))]
pub struct ValidationError {
    pub field: Option<String>,
    pub message: String,
}

fn describe(field: Option<&str>, message: &str) -> String {
    match field {
        Some(field) => format!("{field}: {message}"),
        None => message.to_string(),
    }
}

impl ValidationError {
    /// An error blamed on one field.
    pub fn at(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: Some(field.into()),
            message: message.into(),
        }
    }
}

/// Deserializes JSON, naming the path of the first value that does not fit (serde's own
/// messages say what was expected but not where).
pub fn from_json<T: serde::de::DeserializeOwned>(json: &[u8]) -> Result<T, ValidationError> {
    let mut de = serde_json::Deserializer::from_slice(json);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        json_error(&path, &e.into_inner())
    })?;
    de.end().map_err(|e| json_error(".", &e))?;
    Ok(value)
}

fn json_error(path: &str, error: &serde_json::Error) -> ValidationError {
    let message = error.to_string();
    // A missing field is reported at its parent; name the field itself.
    let missing = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split_once('`'))
        .map(|(name, _)| name);
    // `?` marks a position serde could not name (a syntax error mid-document); `.` the root.
    let path = path.trim_end_matches(['?', '.']);
    let field = match (path, missing) {
        ("", Some(name)) => Some(name.to_string()),
        ("", None) => None,
        (parent, Some(name)) => Some(format!("{parent}.{name}")),
        (path, None) => Some(path.to_string()),
    };
    ValidationError { field, message }
}

/// Checks that a string is not blank and at most `max_chars` characters long.
fn check_text(field: &str, text: &str, max_chars: usize) -> Result<(), ValidationError> {
    if text.trim().is_empty() {
        return Err(ValidationError::at(field, "must not be empty"));
    }
    check_len(field, text, max_chars)
}

fn check_len(field: &str, text: &str, max_chars: usize) -> Result<(), ValidationError> {
    let chars = text.chars().count();
    if chars > max_chars {
        return Err(ValidationError::at(
            field,
            format!("is {chars} characters long; the limit is {max_chars}"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Outer {
        inner: Vec<Inner>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        a: f64,
        b: String,
    }

    #[test]
    fn json_errors_name_the_path() {
        let e = from_json::<Outer>(br#"{"inner": [{"a": 1, "b": "x"}, {"a": "no", "b": "x"}]}"#)
            .unwrap_err();
        assert_eq!(e.field.as_deref(), Some("inner[1].a"), "{e}");

        let e = from_json::<Outer>(br#"{"inner": [{"a": 1}]}"#).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("inner[0].b"), "{e}");

        let e = from_json::<Outer>(br#"{}"#).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("inner"), "{e}");

        let e = from_json::<Outer>(br#"{"inner": [], "extra": 1}"#).unwrap_err();
        assert!(e.message.contains("unknown field `extra`"), "{e}");

        let e = from_json::<Outer>(br#"{"inner": []} trailing"#).unwrap_err();
        assert_eq!(e.field, None, "{e}");

        let e = from_json::<Outer>(b"[").unwrap_err();
        assert_eq!(e.field, None, "{e}");

        let e = from_json::<Outer>(br#"{"inner": "#).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("inner"), "{e}");

        let e = from_json::<Outer>(br#"{"inner"#).unwrap_err();
        assert_eq!(e.field, None, "{e}");

        let e = from_json::<Outer>(br#"{"inner": [{"a": 1, "b": "#).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("inner[0].b"), "{e}");
    }

    #[test]
    fn errors_display_field_and_message() {
        let e = ValidationError::at("condition.op", "unknown operator \"==\"");
        assert_eq!(e.to_string(), "condition.op: unknown operator \"==\"");
        let e = ValidationError {
            field: None,
            message: "bad json".into(),
        };
        assert_eq!(e.to_string(), "bad json");
    }

    #[test]
    fn text_checks_bound_length_in_characters() {
        assert!(check_text("name", "é".repeat(200).as_str(), 200).is_ok());
        let e = check_text("name", &"é".repeat(201), 200).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("name"));
        assert!(e.message.contains("201"), "{e}");
        assert!(check_text("name", "  ", 200).is_err());
        assert!(check_len("comment", "", 10).is_ok());
    }
}

//! Silences: the JSON of `POST /api/v1/silences`, validated, and matching against alert labels.
//!
//! ```json
//! {"matchers": [{"label": "service", "op": "=", "value": "api"},
//!               {"label": "alertname", "op": "=~", "value": "latency.*"}],
//!  "starts_at": "2026-11-27T12:00:00Z", "ends_at": 1795784400000,
//!  "comment": "deploy", "created_by": "ana"}
//! ```
//!
//! - Ops: `=`, `!=`, `=~`, `!~`. Regexes match the whole value (anchored, as in Alertmanager)
//!   and are bounded in length and compiled size; matching is linear-time (`regex` crate).
//! - A label the alert lacks matches as the empty string, so `!=` and `!~` match alerts
//!   without the label. All matchers must match.
//! - At least one matcher must reject the empty string, so a silence cannot mute everything
//!   by accident (`{"label": "service", "op": "!=", "value": "api"}` alone is refused).
//! - Times are unix ms or RFC 3339; `starts_at` defaults to now; a silence is active in
//!   `[starts_at, ends_at)`. A silenced alert still changes state; it is only not notified.

use regex::{Regex, RegexBuilder};
use serde::{Deserialize, Serialize};

use crate::time::{format_duration, TimeSpec};
use crate::{check_len, check_text, from_json, Labels, ValidationError};

/// Most matchers in one silence.
pub const MAX_MATCHERS: usize = 32;
/// Longest label name, in characters.
pub const MAX_LABEL_CHARS: usize = 200;
/// Longest matcher value, in characters.
pub const MAX_VALUE_CHARS: usize = 1_024;
/// Longest regex pattern, in characters.
pub const MAX_PATTERN_CHARS: usize = 256;
/// Longest comment, in characters.
pub const MAX_COMMENT_CHARS: usize = 1_000;
/// Longest `created_by`, in characters.
pub const MAX_CREATED_BY_CHARS: usize = 200;
/// Longest silence: one year.
pub const MAX_SILENCE_MS: i64 = 365 * 86_400_000;
/// Compiled-size limit of one regex (bytes), far above what 256 characters need normally.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// Parses and validates the body of `POST /api/v1/silences` received at `now_ms`.
pub fn parse_silence(json: &[u8], now_ms: i64) -> Result<Silence, ValidationError> {
    from_json::<SilenceSpec>(json)?.validate(now_ms)
}

/// A silence as written in JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SilenceSpec {
    pub matchers: Vec<MatcherSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starts_at: Option<TimeSpec>,
    pub ends_at: TimeSpec,
    #[serde(default)]
    pub comment: String,
    #[serde(default)]
    pub created_by: String,
}

/// One matcher as written in JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatcherSpec {
    pub label: String,
    pub op: String,
    pub value: String,
}

/// How a matcher compares a label's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum MatchOp {
    #[serde(rename = "=")]
    Eq,
    #[serde(rename = "!=")]
    NotEq,
    #[serde(rename = "=~")]
    Regex,
    #[serde(rename = "!~")]
    NotRegex,
}

impl MatchOp {
    /// Reads `=`, `!=`, `=~` or `!~`.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "=" => Some(Self::Eq),
            "!=" => Some(Self::NotEq),
            "=~" => Some(Self::Regex),
            "!~" => Some(Self::NotRegex),
            _ => None,
        }
    }

    /// The JSON spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Eq => "=",
            Self::NotEq => "!=",
            Self::Regex => "=~",
            Self::NotRegex => "!~",
        }
    }
}

/// A validated matcher; regex ops hold their compiled pattern.
#[derive(Debug, Clone)]
pub struct Matcher {
    pub label: String,
    pub op: MatchOp,
    pub value: String,
    regex: Option<Regex>,
}

impl PartialEq for Matcher {
    fn eq(&self, other: &Self) -> bool {
        (&self.label, self.op, &self.value) == (&other.label, other.op, &other.value)
    }
}

impl Matcher {
    /// Builds a matcher, compiling (bounded) regex patterns; the error names what was wrong.
    pub fn new(label: &str, op: MatchOp, value: &str) -> Result<Self, String> {
        let regex = match op {
            MatchOp::Eq | MatchOp::NotEq => None,
            MatchOp::Regex | MatchOp::NotRegex => Some(compile(value)?),
        };
        Ok(Self {
            label: label.to_string(),
            op,
            value: value.to_string(),
            regex,
        })
    }

    /// Whether the alert's labels match (a missing label reads as "").
    pub fn matches(&self, labels: &Labels) -> bool {
        self.matches_value(labels.get(&self.label).map_or("", String::as_str))
    }

    fn matches_value(&self, value: &str) -> bool {
        let regex_match = || self.regex.as_ref().is_some_and(|r| r.is_match(value));
        match self.op {
            MatchOp::Eq => value == self.value,
            MatchOp::NotEq => value != self.value,
            MatchOp::Regex => regex_match(),
            MatchOp::NotRegex => !regex_match(),
        }
    }
}

fn compile(pattern: &str) -> Result<Regex, String> {
    let chars = pattern.chars().count();
    if chars > MAX_PATTERN_CHARS {
        return Err(format!(
            "regex is {chars} characters long; the limit is {MAX_PATTERN_CHARS}"
        ));
    }
    RegexBuilder::new(&format!("^(?:{pattern})$"))
        .size_limit(REGEX_SIZE_LIMIT)
        .dfa_size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| {
            // The crate's message spans lines with a caret diagram; keep its last line.
            let text = e.to_string();
            let last = text.lines().last().unwrap_or("").trim();
            let last = last.strip_prefix("error: ").unwrap_or(last);
            format!("invalid regex {pattern:?}: {last}")
        })
}

/// A validated silence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "SilenceSpec", into = "SilenceSpec")]
pub struct Silence {
    pub matchers: Vec<Matcher>,
    pub starts_at_ms: i64,
    pub ends_at_ms: i64,
    pub comment: String,
    pub created_by: String,
}

impl Silence {
    /// Whether the silence is in force at `now_ms`: `starts_at <= now < ends_at`.
    pub fn is_active(&self, now_ms: i64) -> bool {
        self.starts_at_ms <= now_ms && now_ms < self.ends_at_ms
    }

    /// Whether every matcher matches the labels.
    pub fn matches(&self, labels: &Labels) -> bool {
        self.matchers.iter().all(|m| m.matches(labels))
    }

    /// Whether the silence mutes an alert with these labels at `now_ms`.
    pub fn mutes(&self, labels: &Labels, now_ms: i64) -> bool {
        self.is_active(now_ms) && self.matches(labels)
    }
}

impl SilenceSpec {
    /// Validates a new silence received at `now_ms`: `starts_at` defaults to now and
    /// `ends_at` must be in the future.
    pub fn validate(&self, now_ms: i64) -> Result<Silence, ValidationError> {
        let starts_at_ms = match &self.starts_at {
            Some(t) => time("starts_at", t)?,
            None => now_ms,
        };
        let silence = self.compile(starts_at_ms)?;
        if silence.ends_at_ms <= now_ms {
            return Err(ValidationError::at(
                "ends_at",
                format!(
                    "ends_at {} is not in the future (now is {now_ms})",
                    silence.ends_at_ms
                ),
            ));
        }
        Ok(silence)
    }

    /// Checks everything that does not depend on the current time.
    fn compile(&self, starts_at_ms: i64) -> Result<Silence, ValidationError> {
        let matchers = self.matchers()?;
        let ends_at_ms = time("ends_at", &self.ends_at)?;
        if ends_at_ms <= starts_at_ms {
            return Err(ValidationError::at(
                "ends_at",
                format!("ends_at {ends_at_ms} must be after starts_at {starts_at_ms}"),
            ));
        }
        let length = ends_at_ms.saturating_sub(starts_at_ms);
        if length > MAX_SILENCE_MS {
            return Err(ValidationError::at(
                "ends_at",
                format!(
                    "silence of {} is longer than the limit of 365d",
                    format_duration(length)
                ),
            ));
        }
        check_len("comment", &self.comment, MAX_COMMENT_CHARS)?;
        check_len("created_by", &self.created_by, MAX_CREATED_BY_CHARS)?;
        Ok(Silence {
            matchers,
            starts_at_ms,
            ends_at_ms,
            comment: self.comment.clone(),
            created_by: self.created_by.clone(),
        })
    }

    fn matchers(&self) -> Result<Vec<Matcher>, ValidationError> {
        if self.matchers.is_empty() {
            return Err(ValidationError::at(
                "matchers",
                "at least one matcher is needed",
            ));
        }
        if self.matchers.len() > MAX_MATCHERS {
            return Err(ValidationError::at(
                "matchers",
                format!(
                    "{} matchers; the limit is {MAX_MATCHERS}",
                    self.matchers.len()
                ),
            ));
        }
        let matchers = self
            .matchers
            .iter()
            .enumerate()
            .map(|(i, m)| m.validate(i))
            .collect::<Result<Vec<_>, _>>()?;
        if matchers.iter().all(|m| m.matches_value("")) {
            return Err(ValidationError::at(
                "matchers",
                "every matcher also matches alerts without the label; add one that requires a value",
            ));
        }
        Ok(matchers)
    }
}

impl MatcherSpec {
    fn validate(&self, index: usize) -> Result<Matcher, ValidationError> {
        let field = |name: &str| format!("matchers[{index}].{name}");
        check_text(&field("label"), &self.label, MAX_LABEL_CHARS)?;
        let op = MatchOp::parse(&self.op).ok_or_else(|| {
            ValidationError::at(
                field("op"),
                format!("unknown operator {:?}; expected =, !=, =~ or !~", self.op),
            )
        })?;
        check_len(&field("value"), &self.value, MAX_VALUE_CHARS)?;
        Matcher::new(&self.label, op, &self.value)
            .map_err(|message| ValidationError::at(field("value"), message))
    }
}

fn time(field: &str, spec: &TimeSpec) -> Result<i64, ValidationError> {
    spec.to_ms()
        .map_err(|message| ValidationError::at(field, message))
}

impl TryFrom<SilenceSpec> for Silence {
    type Error = ValidationError;

    /// Reads a stored silence: like [`SilenceSpec::validate`] but with `starts_at` required
    /// and no check against the clock (a stored silence may have ended).
    fn try_from(spec: SilenceSpec) -> Result<Self, ValidationError> {
        let starts = spec
            .starts_at
            .as_ref()
            .ok_or_else(|| ValidationError::at("starts_at", "missing"))?;
        let starts_at_ms = time("starts_at", starts)?;
        spec.compile(starts_at_ms)
    }
}

impl From<Silence> for SilenceSpec {
    fn from(s: Silence) -> Self {
        Self {
            matchers: s
                .matchers
                .into_iter()
                .map(|m| MatcherSpec {
                    label: m.label,
                    op: m.op.as_str().to_string(),
                    value: m.value,
                })
                .collect(),
            starts_at: Some(TimeSpec::Millis(s.starts_at_ms)),
            ends_at: TimeSpec::Millis(s.ends_at_ms),
            comment: s.comment,
            created_by: s.created_by,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    const NOW: i64 = 1_795_780_800_000; // 2026-11-27T12:00:00Z
    const HOUR: i64 = 3_600_000;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn base() -> Value {
        json!({
            "matchers": [{"label": "service", "op": "=", "value": "api"}],
            "starts_at": "2026-11-27T12:00:00Z",
            "ends_at": NOW + HOUR,
            "comment": "deploy",
            "created_by": "ana"
        })
    }

    fn parse(v: &Value) -> Result<Silence, ValidationError> {
        parse_silence(v.to_string().as_bytes(), NOW)
    }

    fn with_matchers(matchers: Value) -> Silence {
        let mut v = base();
        v["matchers"] = matchers;
        parse(&v).unwrap()
    }

    #[test]
    fn parses_the_documented_shape() {
        let s = parse(&base()).unwrap();
        assert_eq!(s.starts_at_ms, NOW);
        assert_eq!(s.ends_at_ms, NOW + HOUR);
        assert_eq!(s.comment, "deploy");
        assert_eq!(s.created_by, "ana");
        assert_eq!(s.matchers.len(), 1);
        assert_eq!(s.matchers[0].op, MatchOp::Eq);
    }

    #[test]
    fn starts_now_by_default() {
        let mut v = base();
        v.as_object_mut().unwrap().remove("starts_at");
        v.as_object_mut().unwrap().remove("comment");
        let s = parse(&v).unwrap();
        assert_eq!(s.starts_at_ms, NOW);
        assert_eq!(s.comment, "");
    }

    #[test]
    fn active_in_half_open_window() {
        let mut v = base();
        v["starts_at"] = json!(NOW + HOUR);
        v["ends_at"] = json!(NOW + 2 * HOUR);
        let s = parse(&v).unwrap();
        let api = labels(&[("service", "api")]);
        assert!(!s.mutes(&api, NOW), "before the window");
        assert!(!s.mutes(&api, NOW + HOUR - 1));
        assert!(s.mutes(&api, NOW + HOUR), "at the start");
        assert!(s.mutes(&api, NOW + 2 * HOUR - 1));
        assert!(!s.mutes(&api, NOW + 2 * HOUR), "at the end");
        assert!(!s.mutes(&labels(&[("service", "web")]), NOW + HOUR));
    }

    #[test]
    fn matcher_ops() {
        let api = labels(&[("service", "api"), ("env", "prod")]);
        let web = labels(&[("service", "web"), ("env", "prod")]);
        let bare = labels(&[("env", "prod")]);
        // (matcher, matches api, matches web, matches an alert without `service`)
        let cases = [
            (("service", "=", "api"), true, false, false),
            (("service", "!=", "api"), false, true, true),
            (("service", "=~", "a.*"), true, false, false),
            (("service", "=~", "ap"), false, false, false), // anchored: no partial match
            (("service", "=~", "api|web"), true, true, false),
            (("service", "!~", "a.*"), false, true, true),
            (("service", "=~", ".*"), true, true, true),
            (("service", "=", ""), false, false, true),
        ];
        for ((label, op, value), want_api, want_web, want_bare) in cases {
            let m = Matcher::new(label, MatchOp::parse(op).unwrap(), value).unwrap();
            assert_eq!(m.matches(&api), want_api, "{op} {value} on api");
            assert_eq!(m.matches(&web), want_web, "{op} {value} on web");
            assert_eq!(m.matches(&bare), want_bare, "{op} {value} on bare");
        }
    }

    #[test]
    fn all_matchers_must_match() {
        let s = with_matchers(json!([
            {"label": "service", "op": "=", "value": "api"},
            {"label": "env", "op": "!=", "value": "dev"}
        ]));
        assert!(s.matches(&labels(&[("service", "api"), ("env", "prod")])));
        assert!(s.matches(&labels(&[("service", "api")])));
        assert!(!s.matches(&labels(&[("service", "api"), ("env", "dev")])));
        assert!(!s.matches(&labels(&[("service", "web"), ("env", "prod")])));
    }

    #[test]
    fn refusals_name_the_field() {
        type Edit = Box<dyn FnOnce(&mut Value)>;
        let cases: Vec<(&str, Edit)> = vec![
            ("matchers", Box::new(|v| v["matchers"] = json!([]))),
            (
                "matchers",
                Box::new(|v| {
                    v["matchers"] = json!((0..33)
                        .map(|i| json!({"label": format!("l{i}"), "op": "=", "value": "x"}))
                        .collect::<Vec<_>>())
                }),
            ),
            (
                "matchers",
                Box::new(|v| {
                    v["matchers"] = json!([{"label": "service", "op": "!=", "value": "api"}])
                }),
            ),
            (
                "matchers",
                Box::new(|v| {
                    v["matchers"] = json!([{"label": "service", "op": "=~", "value": ".*"}])
                }),
            ),
            (
                "matchers[0].label",
                Box::new(|v| v["matchers"][0]["label"] = json!("")),
            ),
            (
                "matchers[0].op",
                Box::new(|v| v["matchers"][0]["op"] = json!("==")),
            ),
            (
                "matchers[0].value",
                Box::new(|v| v["matchers"][0]["value"] = json!("v".repeat(1025))),
            ),
            (
                "matchers[0].value",
                Box::new(|v| {
                    v["matchers"][0]["op"] = json!("=~");
                    v["matchers"][0]["value"] = json!("(unclosed");
                }),
            ),
            (
                "matchers[0].value",
                Box::new(|v| {
                    v["matchers"][0]["op"] = json!("=~");
                    v["matchers"][0]["value"] = json!("a".repeat(257));
                }),
            ),
            (
                "matchers[0].value",
                Box::new(|v| {
                    // Short pattern, huge program: the size limit catches it.
                    v["matchers"][0]["op"] = json!("=~");
                    v["matchers"][0]["value"] = json!("\\w{1000}\\w{1000}\\w{1000}");
                }),
            ),
            (
                "matchers[0].value",
                Box::new(|v| v["matchers"][0]["value"] = json!(5)),
            ),
            (
                "matchers[0].extra",
                Box::new(|v| v["matchers"][0]["extra"] = json!(1)),
            ),
            (
                "starts_at",
                Box::new(|v| v["starts_at"] = json!("tomorrow")),
            ),
            ("ends_at", Box::new(|v| v["ends_at"] = json!("2026-11-27"))),
            ("ends_at", Box::new(|v| v["ends_at"] = json!(NOW))),
            ("ends_at", Box::new(|v| v["ends_at"] = json!(NOW - 1))),
            (
                "ends_at",
                Box::new(|v| {
                    v["starts_at"] = json!(NOW + 2 * HOUR);
                    v["ends_at"] = json!(NOW + HOUR);
                }),
            ),
            (
                "ends_at",
                Box::new(|v| v["ends_at"] = json!(NOW + 366 * 24 * HOUR)),
            ),
            (
                "ends_at",
                Box::new(|v| {
                    v.as_object_mut().unwrap().remove("ends_at");
                }),
            ),
            (
                "comment",
                Box::new(|v| v["comment"] = json!("c".repeat(1001))),
            ),
            (
                "created_by",
                Box::new(|v| v["created_by"] = json!("c".repeat(201))),
            ),
            ("id", Box::new(|v| v["id"] = json!("s-1"))),
        ];
        for (want, edit) in cases {
            let mut v = base();
            edit(&mut v);
            let e = parse(&v).expect_err(want);
            let field = e.field.clone().unwrap_or_default();
            assert!(
                field == want || e.message.contains(&format!("`{want}`")),
                "expected {want}, got {e}"
            );
            assert!(!e.message.contains('\n'), "{e}");
        }
    }

    #[test]
    fn regex_errors_are_one_line() {
        let e = Matcher::new("service", MatchOp::Regex, "(unclosed").unwrap_err();
        assert!(e.starts_with("invalid regex \"(unclosed\": "), "{e}");
        assert!(!e.contains('\n'));
    }

    #[test]
    fn stored_silences_round_trip_without_the_clock() {
        let s = parse(&base()).unwrap();
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(
            json,
            json!({
                "matchers": [{"label": "service", "op": "=", "value": "api"}],
                "starts_at": NOW,
                "ends_at": NOW + HOUR,
                "comment": "deploy",
                "created_by": "ana"
            })
        );
        // Reading a stored, long-expired silence works (no "in the future" check)…
        let back: Silence = serde_json::from_value(json).unwrap();
        assert_eq!(back, s);
        assert!(!back.is_active(NOW + 2 * HOUR));
        // …but the structure is still checked.
        let mut bad = serde_json::to_value(&s).unwrap();
        bad.as_object_mut().unwrap().remove("starts_at");
        assert!(serde_json::from_value::<Silence>(bad).is_err());
    }
}

//! Alert rules: the JSON of `POST /api/v1/alert-rules` and its validation.
//!
//! Two types, on purpose. [`RuleSpec`] is the wire shape, lenient in its leaves (severity and
//! operators are strings, durations are `"30s"` or milliseconds) so that a wrong value becomes a
//! [`ValidationError`] naming its field instead of a bare serde message. [`AlertRule`] is what
//! passed validation, with typed fields; it (de)serializes through [`RuleSpec`], so stored
//! rules read back with the same checks.
//!
//! Shape, as the API contract gives it:
//!
//! ```json
//! {"name": "api latency",
//!  "query": {"metric": "http.latency_ms", "agg": "p95", "filter": {"service": "api"}},
//!  "condition": {"op": ">", "threshold": 500, "recover": 400},
//!  "for": "30s", "keep_firing_for": "1m", "severity": "critical", "channels": ["ops"]}
//! ```
//!
//! Optional extensions: `description` (text), `labels` (map added to every alert),
//! `group_by` (query labels: one alert instance per value combination), `escalation` (the
//! id of an escalation policy for the incidents the rule opens), `nodata_for`
//! (duration, default the longer of `for` and 5m), `query.window` (duration each evaluation aggregates over,
//! default: the server's). Only `name`, `query.metric`, `condition` and `severity` are
//! required; `agg` defaults to `avg`, `for` and `keep_firing_for` to `0s`. Durations are
//! strings (`500ms`, `30s`, `5m`, `1h`, `1d`, `1w`, sums like `1h30m`) or whole milliseconds.
//!
//! `condition` is exactly one of
//! - `{"op": ">", "threshold": 500, "recover": 400}` (`recover` optional, default `threshold`),
//! - `{"anomaly": {"min_score": 0.9, "recover": 0.5}}` (`recover` optional),
//! - `{"absent": "5m"}`,
//! - `{"rate_of_change": {"op": ">", "per": "1m", "threshold": 100, "recover": 50}}`: the
//!   change of the value per `per` (default `1s`, like the query API's `rate`) between two
//!   evaluations; `recover` optional.

use serde::{Deserialize, Serialize};

use crate::time::DurationSpec;
use crate::{check_len, check_text, from_json, Labels, ValidationError};

/// Longest rule name, in characters.
pub const MAX_NAME_CHARS: usize = 200;
/// Longest description, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 4_000;
/// Most labels a rule may add to its alerts.
pub const MAX_LABELS: usize = 32;
/// Most channels a rule may notify.
pub const MAX_CHANNELS: usize = 16;
/// Most query filters and `group_by` labels.
pub const MAX_FILTERS: usize = 32;
/// Longest label name, metric name or channel id, in characters.
pub const MAX_NAME_LIKE_CHARS: usize = 200;
/// Longest label value, in characters.
pub const MAX_LABEL_VALUE_CHARS: usize = 1_024;
/// Longest duration a rule may use (`for`, `absent`, windows…): 30 days.
pub const MAX_RULE_DURATION_MS: i64 = 30 * 86_400_000;
/// Labels every alert instance carries, set from the rule; rules may not set them by hand.
pub const RESERVED_LABELS: [&str; 2] = ["alertname", "severity"];
/// Aggregations the query API knows (`GET /api/v1/query_range`'s `agg`).
pub const AGGREGATIONS: [&str; 10] = [
    "avg", "sum", "min", "max", "count", "p50", "p90", "p95", "p99", "rate",
];

/// Parses and validates the body of `POST /api/v1/alert-rules`.
pub fn parse_rule(json: &[u8]) -> Result<AlertRule, ValidationError> {
    from_json::<RuleSpec>(json)?.validate()
}

/// An alert rule as written in JSON (see the module docs for the shape).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub query: QuerySpec,
    pub condition: ConditionSpec,
    #[serde(rename = "for", default, skip_serializing_if = "Option::is_none")]
    pub for_: Option<DurationSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_firing_for: Option<DurationSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nodata_for: Option<DurationSpec>,
    pub severity: String,
    #[serde(default)]
    pub channels: Vec<String>,
    #[serde(default, skip_serializing_if = "Labels::is_empty")]
    pub labels: Labels,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub group_by: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalation: Option<String>,
}

/// The query a rule evaluates, as written in JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuerySpec {
    pub metric: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agg: Option<String>,
    #[serde(default, skip_serializing_if = "Labels::is_empty")]
    pub filter: Labels,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<DurationSpec>,
}

/// A condition as written in JSON: the fields of exactly one kind are set.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConditionSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub op: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recover: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anomaly: Option<AnomalySpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub absent: Option<DurationSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_of_change: Option<RateSpec>,
}

/// `{"min_score": 0.9, "recover": 0.5}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnomalySpec {
    pub min_score: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recover: Option<f64>,
}

/// `{"op": ">", "per": "1m", "threshold": 100, "recover": 50}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateSpec {
    pub op: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per: Option<DurationSpec>,
    pub threshold: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recover: Option<f64>,
}

/// How bad an alert is; orders `info < warning < critical`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    /// Reads `critical`, `warning` or `info`.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "critical" => Some(Self::Critical),
            "warning" => Some(Self::Warning),
            "info" => Some(Self::Info),
            _ => None,
        }
    }

    /// The JSON spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Critical => "critical",
            Self::Warning => "warning",
            Self::Info => "info",
        }
    }
}

/// A comparison of a value against a bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Op {
    #[serde(rename = ">")]
    Gt,
    #[serde(rename = ">=")]
    Ge,
    #[serde(rename = "<")]
    Lt,
    #[serde(rename = "<=")]
    Le,
}

impl Op {
    /// Reads `>`, `>=`, `<` or `<=`.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            ">" => Some(Self::Gt),
            ">=" => Some(Self::Ge),
            "<" => Some(Self::Lt),
            "<=" => Some(Self::Le),
            _ => None,
        }
    }

    /// The JSON spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Gt => ">",
            Self::Ge => ">=",
            Self::Lt => "<",
            Self::Le => "<=",
        }
    }

    /// Whether `value op bound` holds.
    pub fn holds(self, value: f64, bound: f64) -> bool {
        match self {
            Self::Gt => value > bound,
            Self::Ge => value >= bound,
            Self::Lt => value < bound,
            Self::Le => value <= bound,
        }
    }

    /// Whether a recover bound lies on the clearing side of (or at) the threshold, so that
    /// every value that fires also keeps firing.
    fn recover_fits(self, threshold: f64, recover: f64) -> bool {
        match self {
            Self::Gt | Self::Ge => recover <= threshold,
            Self::Lt | Self::Le => recover >= threshold,
        }
    }
}

/// What makes an alert instance fire. `recover` is the hysteresis bound: once firing, the
/// instance stays firing while `value op recover` holds (default: the threshold itself).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Condition {
    /// `value op threshold`.
    Threshold {
        op: Op,
        threshold: f64,
        recover: Option<f64>,
    },
    /// `rate op threshold`, the rate being the change of the value per `per_ms` between two
    /// consecutive evaluations with data.
    RateOfChange {
        op: Op,
        per_ms: i64,
        threshold: f64,
        recover: Option<f64>,
    },
    /// `anomaly_score >= min_score`; keeps firing while `score >= recover`.
    Anomaly {
        min_score: f64,
        recover: Option<f64>,
    },
    /// No data for `after_ms`.
    Absent { after_ms: i64 },
}

/// How long a rule's query must return nothing before its alert goes to nodata, unless the rule
/// sets `nodata_for` (or a longer `for`).
pub const DEFAULT_NODATA_MS: i64 = 5 * 60_000;

/// The parts of a rule the state machine needs, small and `Copy` so the evaluation loop can
/// hold it by value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Trigger {
    pub condition: Condition,
    /// How long the condition must hold before Pending becomes Firing (0: fire at once).
    pub for_ms: i64,
    /// How long the recovery must hold before Recovering becomes Normal (0: resolve at once).
    pub keep_firing_for_ms: i64,
    /// How long evaluations must find no data before the instance goes to NoData; `None`
    /// means the same as `for_ms`.
    pub nodata_for_ms: Option<i64>,
}

impl Trigger {
    /// A trigger with no delays.
    pub fn immediate(condition: Condition) -> Self {
        Self {
            condition,
            for_ms: 0,
            keep_firing_for_ms: 0,
            nodata_for_ms: None,
        }
    }

    /// The effective no-data delay.
    pub fn nodata_after_ms(&self) -> i64 {
        self.nodata_for_ms.unwrap_or(self.for_ms)
    }
}

/// The query a validated rule evaluates. `agg` is one of [`AGGREGATIONS`].
#[derive(Debug, Clone, PartialEq)]
pub struct RuleQuery {
    pub metric: String,
    pub agg: String,
    pub filter: Labels,
    /// The range each evaluation aggregates over; `None` leaves it to the server.
    pub window_ms: Option<i64>,
}

/// A validated alert rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RuleSpec", into = "RuleSpec")]
pub struct AlertRule {
    pub name: String,
    pub description: Option<String>,
    pub query: RuleQuery,
    pub trigger: Trigger,
    pub severity: Severity,
    pub channels: Vec<String>,
    pub labels: Labels,
    /// Query labels that split the rule into one alert instance per value combination.
    pub group_by: Vec<String>,
    /// The escalation policy of the incidents this rule opens (checked by the server).
    pub escalation: Option<String>,
}

impl AlertRule {
    /// The labels of the instance for one series (or group) of the query's answer:
    /// the series' `group_by` labels, then the query filter, then the rule's labels, then
    /// `alertname` and `severity`; later ones win. Other series labels are left out so that
    /// an instance's identity is exactly its group.
    pub fn instance_labels(&self, series: &Labels) -> Labels {
        let mut labels: Labels = self
            .group_by
            .iter()
            .filter_map(|name| series.get_key_value(name))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        labels.extend(self.query.filter.clone());
        labels.extend(self.labels.clone());
        labels.insert("alertname".into(), self.name.clone());
        labels.insert("severity".into(), self.severity.as_str().into());
        labels
    }
}

impl TryFrom<RuleSpec> for AlertRule {
    type Error = ValidationError;

    fn try_from(spec: RuleSpec) -> Result<Self, ValidationError> {
        spec.validate()
    }
}

impl From<AlertRule> for RuleSpec {
    fn from(rule: AlertRule) -> Self {
        let duration = |ms: Option<i64>| ms.map(DurationSpec::from_ms);
        Self {
            name: rule.name,
            description: rule.description,
            query: QuerySpec {
                metric: rule.query.metric,
                agg: Some(rule.query.agg),
                filter: rule.query.filter,
                window: duration(rule.query.window_ms),
            },
            condition: condition_spec(rule.trigger.condition),
            for_: duration(Some(rule.trigger.for_ms)),
            keep_firing_for: duration(Some(rule.trigger.keep_firing_for_ms)),
            nodata_for: duration(rule.trigger.nodata_for_ms),
            severity: rule.severity.as_str().into(),
            channels: rule.channels,
            labels: rule.labels,
            group_by: rule.group_by,
            escalation: rule.escalation,
        }
    }
}

fn condition_spec(condition: Condition) -> ConditionSpec {
    match condition {
        Condition::Threshold {
            op,
            threshold,
            recover,
        } => ConditionSpec {
            op: Some(op.as_str().into()),
            threshold: Some(threshold),
            recover,
            ..ConditionSpec::default()
        },
        Condition::RateOfChange {
            op,
            per_ms,
            threshold,
            recover,
        } => ConditionSpec {
            rate_of_change: Some(RateSpec {
                op: op.as_str().into(),
                per: Some(DurationSpec::from_ms(per_ms)),
                threshold,
                recover,
            }),
            ..ConditionSpec::default()
        },
        Condition::Anomaly { min_score, recover } => ConditionSpec {
            anomaly: Some(AnomalySpec { min_score, recover }),
            ..ConditionSpec::default()
        },
        Condition::Absent { after_ms } => ConditionSpec {
            absent: Some(DurationSpec::from_ms(after_ms)),
            ..ConditionSpec::default()
        },
    }
}

impl RuleSpec {
    /// Checks every field, naming the first one at fault.
    pub fn validate(&self) -> Result<AlertRule, ValidationError> {
        check_text("name", &self.name, MAX_NAME_CHARS)?;
        if let Some(description) = &self.description {
            check_len("description", description, MAX_DESCRIPTION_CHARS)?;
        }
        let query = self.query.validate()?;
        let condition = self.condition.validate()?;
        let for_ms = optional_duration("for", self.for_.as_ref())?.unwrap_or(0);
        let trigger = Trigger {
            condition,
            for_ms,
            keep_firing_for_ms: optional_duration(
                "keep_firing_for",
                self.keep_firing_for.as_ref(),
            )?
            .unwrap_or(0),
            // A query that returns nothing for a moment (a new rule before its first data, a
            // restarted exporter) is not worth paging anyone: unless the rule says otherwise,
            // no data must last `for` and at least DEFAULT_NODATA_MS.
            nodata_for_ms: Some(
                optional_duration("nodata_for", self.nodata_for.as_ref())?
                    .unwrap_or(for_ms.max(DEFAULT_NODATA_MS)),
            ),
        };
        let severity = Severity::parse(&self.severity).ok_or_else(|| {
            ValidationError::at(
                "severity",
                format!(
                    "unknown severity {:?}; expected critical, warning or info",
                    self.severity
                ),
            )
        })?;
        check_names("channels", &self.channels, MAX_CHANNELS)?;
        check_labels("labels", &self.labels, MAX_LABELS)?;
        if let Some(name) = RESERVED_LABELS
            .iter()
            .find(|name| self.labels.contains_key(**name))
        {
            return Err(ValidationError::at(
                format!("labels.{name}"),
                format!("label {name:?} is set from the rule; use the rule's name or severity"),
            ));
        }
        check_names("group_by", &self.group_by, MAX_FILTERS)?;
        if let Some(policy) = &self.escalation {
            check_text("escalation", policy, MAX_NAME_LIKE_CHARS)?;
        }
        Ok(AlertRule {
            name: self.name.clone(),
            description: self.description.clone(),
            query,
            trigger,
            severity,
            channels: self.channels.clone(),
            labels: self.labels.clone(),
            group_by: self.group_by.clone(),
            escalation: self.escalation.clone(),
        })
    }
}

impl QuerySpec {
    fn validate(&self) -> Result<RuleQuery, ValidationError> {
        check_text("query.metric", &self.metric, MAX_NAME_LIKE_CHARS)?;
        let agg = self.agg.as_deref().unwrap_or("avg");
        if !AGGREGATIONS.contains(&agg) {
            return Err(ValidationError::at(
                "query.agg",
                format!(
                    "unknown aggregation {agg:?}; expected one of {}",
                    AGGREGATIONS.join(", ")
                ),
            ));
        }
        check_labels("query.filter", &self.filter, MAX_FILTERS)?;
        let window_ms = optional_duration("query.window", self.window.as_ref())?;
        if window_ms == Some(0) {
            return Err(ValidationError::at(
                "query.window",
                "must be longer than 0s",
            ));
        }
        Ok(RuleQuery {
            metric: self.metric.clone(),
            agg: agg.to_string(),
            filter: self.filter.clone(),
            window_ms,
        })
    }
}

impl ConditionSpec {
    fn validate(&self) -> Result<Condition, ValidationError> {
        let threshold_like =
            self.op.is_some() || self.threshold.is_some() || self.recover.is_some();
        let kinds = [
            threshold_like,
            self.anomaly.is_some(),
            self.absent.is_some(),
            self.rate_of_change.is_some(),
        ];
        if kinds.iter().filter(|k| **k).count() != 1 {
            return Err(ValidationError::at(
                "condition",
                "expected exactly one of {\"op\", \"threshold\"}, {\"anomaly\": …}, {\"absent\": …} or {\"rate_of_change\": …}",
            ));
        }
        if let Some(anomaly) = &self.anomaly {
            return anomaly.validate();
        }
        if let Some(absent) = &self.absent {
            let after_ms = duration("condition.absent", absent)?;
            if after_ms == 0 {
                return Err(ValidationError::at(
                    "condition.absent",
                    "must be longer than 0s",
                ));
            }
            return Ok(Condition::Absent { after_ms });
        }
        if let Some(rate) = &self.rate_of_change {
            return rate.validate();
        }
        let op = self.op.as_deref().ok_or_else(|| {
            ValidationError::at("condition.op", "missing; expected >, >=, < or <=")
        })?;
        let threshold = self
            .threshold
            .ok_or_else(|| ValidationError::at("condition.threshold", "missing"))?;
        let (op, threshold, recover) = threshold_parts("condition", op, threshold, self.recover)?;
        Ok(Condition::Threshold {
            op,
            threshold,
            recover,
        })
    }
}

impl AnomalySpec {
    fn validate(&self) -> Result<Condition, ValidationError> {
        let field = "condition.anomaly.min_score";
        if !(0.0..=1.0).contains(&self.min_score) {
            return Err(ValidationError::at(
                field,
                format!("score {} is outside [0, 1]", self.min_score),
            ));
        }
        if let Some(recover) = self.recover {
            if !(0.0..=self.min_score).contains(&recover) {
                return Err(ValidationError::at(
                    "condition.anomaly.recover",
                    format!(
                        "score {recover} must lie in [0, min_score {}]",
                        self.min_score
                    ),
                ));
            }
        }
        Ok(Condition::Anomaly {
            min_score: self.min_score,
            recover: self.recover,
        })
    }
}

impl RateSpec {
    fn validate(&self) -> Result<Condition, ValidationError> {
        let prefix = "condition.rate_of_change";
        let (op, threshold, recover) =
            threshold_parts(prefix, &self.op, self.threshold, self.recover)?;
        let per_field = "condition.rate_of_change.per";
        let per_ms = optional_duration(per_field, self.per.as_ref())?.unwrap_or(1_000);
        if per_ms == 0 {
            return Err(ValidationError::at(per_field, "must be longer than 0s"));
        }
        Ok(Condition::RateOfChange {
            op,
            per_ms,
            threshold,
            recover,
        })
    }
}

/// Validates `op`, `threshold` and `recover` of a threshold-like condition under `prefix`.
fn threshold_parts(
    prefix: &str,
    op: &str,
    threshold: f64,
    recover: Option<f64>,
) -> Result<(Op, f64, Option<f64>), ValidationError> {
    let op = Op::parse(op).ok_or_else(|| {
        ValidationError::at(
            format!("{prefix}.op"),
            format!("unknown operator {op:?}; expected >, >=, < or <="),
        )
    })?;
    if !threshold.is_finite() {
        return Err(ValidationError::at(
            format!("{prefix}.threshold"),
            format!("threshold must be a finite number, not {threshold}"),
        ));
    }
    if let Some(recover) = recover {
        if !recover.is_finite() {
            return Err(ValidationError::at(
                format!("{prefix}.recover"),
                format!("recover must be a finite number, not {recover}"),
            ));
        }
        if !op.recover_fits(threshold, recover) {
            let side = match op {
                Op::Gt | Op::Ge => "at or below",
                Op::Lt | Op::Le => "at or above",
            };
            return Err(ValidationError::at(
                format!("{prefix}.recover"),
                format!(
                    "recover {recover} must be {side} the threshold {threshold} for op {:?}",
                    op.as_str()
                ),
            ));
        }
    }
    Ok((op, threshold, recover))
}

fn duration(field: &str, spec: &DurationSpec) -> Result<i64, ValidationError> {
    let ms = spec
        .to_ms()
        .map_err(|message| ValidationError::at(field, message))?;
    if ms > MAX_RULE_DURATION_MS {
        return Err(ValidationError::at(
            field,
            format!(
                "duration {} is longer than the limit of 30d",
                crate::format_duration(ms)
            ),
        ));
    }
    Ok(ms)
}

fn optional_duration(
    field: &str,
    spec: Option<&DurationSpec>,
) -> Result<Option<i64>, ValidationError> {
    spec.map(|spec| duration(field, spec)).transpose()
}

/// A bounded list of non-empty, distinct names (channel ids, label names).
fn check_names(field: &str, names: &[String], max: usize) -> Result<(), ValidationError> {
    if names.len() > max {
        return Err(ValidationError::at(
            field,
            format!("{} entries; the limit is {max}", names.len()),
        ));
    }
    for (i, name) in names.iter().enumerate() {
        let at = format!("{field}[{i}]");
        check_text(&at, name, MAX_NAME_LIKE_CHARS)?;
        if names[..i].contains(name) {
            return Err(ValidationError::at(at, format!("{name:?} is listed twice")));
        }
    }
    Ok(())
}

/// A bounded map of non-empty label names to bounded values.
fn check_labels(field: &str, labels: &Labels, max: usize) -> Result<(), ValidationError> {
    if labels.len() > max {
        return Err(ValidationError::at(
            field,
            format!("{} labels; the limit is {max}", labels.len()),
        ));
    }
    for (name, value) in labels {
        check_text(&format!("{field}.{name}"), name, MAX_NAME_LIKE_CHARS).map_err(|e| {
            ValidationError::at(field, format!("label name {name:?} {}", e.message))
        })?;
        check_len(&format!("{field}.{name}"), value, MAX_LABEL_VALUE_CHARS)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn base() -> Value {
        json!({
            "name": "api latency",
            "query": {"metric": "http.latency_ms", "agg": "avg", "filter": {"service": "api"}},
            "condition": {"op": ">", "threshold": 500, "recover": 400},
            "for": "30s",
            "keep_firing_for": "1m",
            "severity": "critical",
            "channels": ["ch-1"]
        })
    }

    fn parse(v: &Value) -> Result<AlertRule, ValidationError> {
        parse_rule(v.to_string().as_bytes())
    }

    /// Applies `edit` to the base rule and returns the field the error names.
    fn error_field(edit: impl FnOnce(&mut Value)) -> (String, String) {
        let mut v = base();
        edit(&mut v);
        let e = parse(&v).expect_err("rule should be refused");
        (e.field.clone().unwrap_or_default(), e.message)
    }

    #[test]
    fn parses_the_contract_example() {
        let rule = parse(&base()).unwrap();
        assert_eq!(rule.name, "api latency");
        assert_eq!(rule.query.metric, "http.latency_ms");
        assert_eq!(rule.query.agg, "avg");
        assert_eq!(rule.query.filter["service"], "api");
        assert_eq!(
            rule.trigger,
            Trigger {
                condition: Condition::Threshold {
                    op: Op::Gt,
                    threshold: 500.0,
                    recover: Some(400.0)
                },
                for_ms: 30_000,
                keep_firing_for_ms: 60_000,
                nodata_for_ms: Some(DEFAULT_NODATA_MS),
            }
        );
        assert_eq!(rule.trigger.nodata_after_ms(), 300_000);
        assert_eq!(rule.severity, Severity::Critical);
        assert_eq!(rule.channels, vec!["ch-1".to_string()]);
    }

    #[test]
    fn parses_every_condition_kind() {
        let cases = [
            (
                json!({"anomaly": {"min_score": 0.9}}),
                Condition::Anomaly {
                    min_score: 0.9,
                    recover: None,
                },
            ),
            (
                json!({"anomaly": {"min_score": 0.9, "recover": 0.5}}),
                Condition::Anomaly {
                    min_score: 0.9,
                    recover: Some(0.5),
                },
            ),
            (
                json!({"absent": "5m"}),
                Condition::Absent { after_ms: 300_000 },
            ),
            (
                json!({"absent": 1500}),
                Condition::Absent { after_ms: 1_500 },
            ),
            (
                json!({"rate_of_change": {"op": ">", "per": "1m", "threshold": 100}}),
                Condition::RateOfChange {
                    op: Op::Gt,
                    per_ms: 60_000,
                    threshold: 100.0,
                    recover: None,
                },
            ),
            (
                json!({"rate_of_change": {"op": "<", "threshold": -5, "recover": -1}}),
                Condition::RateOfChange {
                    op: Op::Lt,
                    per_ms: 1_000,
                    threshold: -5.0,
                    recover: Some(-1.0),
                },
            ),
            (
                json!({"op": "<=", "threshold": 1}),
                Condition::Threshold {
                    op: Op::Le,
                    threshold: 1.0,
                    recover: None,
                },
            ),
        ];
        for (condition, want) in cases {
            let mut v = base();
            v["condition"] = condition.clone();
            let rule = parse(&v).unwrap_or_else(|e| panic!("{condition}: {e}"));
            assert_eq!(rule.trigger.condition, want, "{condition}");
        }
    }

    #[test]
    fn optional_fields_default() {
        let v = json!({
            "name": "n",
            "query": {"metric": "m"},
            "condition": {"op": ">=", "threshold": 1},
            "severity": "info"
        });
        let rule = parse(&v).unwrap();
        assert_eq!(rule.query.agg, "avg");
        assert!(rule.query.filter.is_empty());
        assert_eq!(rule.query.window_ms, None);
        assert_eq!(rule.trigger.for_ms, 0);
        assert_eq!(rule.trigger.keep_firing_for_ms, 0);
        assert_eq!(rule.trigger.nodata_after_ms(), DEFAULT_NODATA_MS);
        assert!(rule.channels.is_empty() && rule.labels.is_empty() && rule.group_by.is_empty());
        assert_eq!(rule.description, None);
    }

    #[test]
    fn extensions_parse() {
        let mut v = base();
        v["description"] = json!("p95 over 500 ms");
        v["labels"] = json!({"team": "payments"});
        v["group_by"] = json!(["route", "host"]);
        v["nodata_for"] = json!("2m");
        v["query"]["window"] = json!("5m");
        v["for"] = json!(0);
        let rule = parse(&v).unwrap();
        assert_eq!(rule.description.as_deref(), Some("p95 over 500 ms"));
        assert_eq!(rule.labels["team"], "payments");
        assert_eq!(rule.group_by, vec!["route", "host"]);
        assert_eq!(rule.trigger.nodata_after_ms(), 120_000);
        assert_eq!(rule.query.window_ms, Some(300_000));
        assert_eq!(rule.trigger.for_ms, 0);
    }

    #[test]
    fn serializes_back_to_the_same_shape() {
        let mut v = base();
        v["labels"] = json!({"team": "payments"});
        let rule = parse(&v).unwrap();
        let out = serde_json::to_value(&rule).unwrap();
        assert_eq!(
            out,
            json!({
                "name": "api latency",
                "query": {"metric": "http.latency_ms", "agg": "avg", "filter": {"service": "api"}},
                "condition": {"op": ">", "threshold": 500.0, "recover": 400.0},
                "for": "30s",
                "keep_firing_for": "1m",
                "nodata_for": "5m",
                "severity": "critical",
                "channels": ["ch-1"],
                "labels": {"team": "payments"}
            })
        );
        // And reads back as the same rule, through the same validation.
        let again: AlertRule = serde_json::from_value(out).unwrap();
        assert_eq!(again, rule);

        for condition in [
            json!({"anomaly": {"min_score": 0.9}}),
            json!({"absent": "5m"}),
            json!({"rate_of_change": {"op": ">", "per": "1m", "threshold": 100.0}}),
        ] {
            let mut v = base();
            v["condition"] = condition.clone();
            let rule = parse(&v).unwrap();
            let out = serde_json::to_value(&rule).unwrap();
            assert_eq!(out["condition"], condition);
            assert_eq!(serde_json::from_value::<AlertRule>(out).unwrap(), rule);
        }
    }

    #[test]
    fn deserializing_an_alert_rule_validates() {
        let mut v = base();
        v["severity"] = json!("major");
        let e = serde_json::from_value::<AlertRule>(v).unwrap_err();
        assert!(e.to_string().contains("severity: unknown severity"), "{e}");
    }

    #[test]
    fn refusals_name_the_field() {
        type Edit = Box<dyn FnOnce(&mut Value)>;
        let long = "x".repeat(201);
        let cases: Vec<(&str, Edit)> = vec![
            ("name", Box::new(|v| v["name"] = json!(""))),
            ("name", Box::new(|v| v["name"] = json!("   "))),
            ("name", Box::new(move |v| v["name"] = json!(long))),
            (
                "description",
                Box::new(|v| v["description"] = json!("d".repeat(4001))),
            ),
            ("name", Box::new(|v| v["name"] = json!(5))),
            (
                "name",
                Box::new(|v| {
                    v.as_object_mut().unwrap().remove("name");
                }),
            ),
            (
                "query.metric",
                Box::new(|v| v["query"]["metric"] = json!("")),
            ),
            (
                "query.metric",
                Box::new(|v| {
                    v["query"].as_object_mut().unwrap().remove("metric");
                }),
            ),
            (
                "query.agg",
                Box::new(|v| v["query"]["agg"] = json!("median")),
            ),
            (
                "query.window",
                Box::new(|v| v["query"]["window"] = json!("0s")),
            ),
            (
                "query.window",
                Box::new(|v| v["query"]["window"] = json!("soon")),
            ),
            (
                "query.filter",
                Box::new(|v| v["query"]["filter"] = json!({"": "x"})),
            ),
            (
                "query.filter.service",
                Box::new(|v| v["query"]["filter"]["service"] = json!("v".repeat(1025))),
            ),
            ("condition", Box::new(|v| v["condition"] = json!({}))),
            (
                "condition",
                Box::new(|v| v["condition"]["absent"] = json!("5m")),
            ),
            (
                "condition",
                Box::new(|v| v["condition"] = json!({"recover": 3, "anomaly": {"min_score": 0.5}})),
            ),
            (
                "condition.op",
                Box::new(|v| v["condition"]["op"] = json!("==")),
            ),
            (
                "condition.op",
                Box::new(|v| {
                    v["condition"].as_object_mut().unwrap().remove("op");
                }),
            ),
            (
                "condition.threshold",
                Box::new(|v| {
                    v["condition"].as_object_mut().unwrap().remove("threshold");
                }),
            ),
            (
                "condition.threshold",
                Box::new(|v| v["condition"]["threshold"] = json!("500")),
            ),
            (
                "condition.recover",
                Box::new(|v| v["condition"]["recover"] = json!(600)),
            ),
            (
                "condition.recover",
                Box::new(|v| v["condition"] = json!({"op": "<", "threshold": 10, "recover": 5})),
            ),
            (
                "condition.recover",
                Box::new(|v| {
                    v["condition"] = json!({"op": ">=", "threshold": 10, "recover": 10.5})
                }),
            ),
            (
                "condition.recover",
                Box::new(|v| v["condition"] = json!({"op": "<=", "threshold": 10, "recover": 9})),
            ),
            (
                "condition.thresh",
                Box::new(|v| v["condition"]["thresh"] = json!(1)),
            ),
            (
                "condition.anomaly.min_score",
                Box::new(|v| v["condition"] = json!({"anomaly": {"min_score": 1.5}})),
            ),
            (
                "condition.anomaly.min_score",
                Box::new(|v| v["condition"] = json!({"anomaly": {"min_score": -0.1}})),
            ),
            (
                "condition.anomaly.recover",
                Box::new(|v| {
                    v["condition"] = json!({"anomaly": {"min_score": 0.5, "recover": 0.7}})
                }),
            ),
            (
                "condition.anomaly.min_score",
                Box::new(|v| v["condition"] = json!({"anomaly": {}})),
            ),
            (
                "condition.absent",
                Box::new(|v| v["condition"] = json!({"absent": "0s"})),
            ),
            (
                "condition.absent",
                Box::new(|v| v["condition"] = json!({"absent": "-5m"})),
            ),
            (
                "condition.absent",
                Box::new(|v| v["condition"] = json!({"absent": true})),
            ),
            (
                "condition.rate_of_change.op",
                Box::new(|v| {
                    v["condition"] = json!({"rate_of_change": {"op": "!", "threshold": 1}})
                }),
            ),
            (
                "condition.rate_of_change.per",
                Box::new(|v| {
                    v["condition"] =
                        json!({"rate_of_change": {"op": ">", "per": "0s", "threshold": 1}})
                }),
            ),
            (
                "condition.rate_of_change.recover",
                Box::new(|v| {
                    v["condition"] =
                        json!({"rate_of_change": {"op": ">", "threshold": 1, "recover": 2}})
                }),
            ),
            ("for", Box::new(|v| v["for"] = json!("-30s"))),
            ("for", Box::new(|v| v["for"] = json!(-1))),
            ("for", Box::new(|v| v["for"] = json!("31d"))),
            ("for", Box::new(|v| v["for"] = json!("30"))),
            (
                "keep_firing_for",
                Box::new(|v| v["keep_firing_for"] = json!("1 minute")),
            ),
            ("nodata_for", Box::new(|v| v["nodata_for"] = json!("-1m"))),
            ("severity", Box::new(|v| v["severity"] = json!("major"))),
            ("severity", Box::new(|v| v["severity"] = json!("Critical"))),
            (
                "channels",
                Box::new(|v| {
                    v["channels"] = json!((0..17).map(|i| format!("c{i}")).collect::<Vec<_>>())
                }),
            ),
            (
                "channels[1]",
                Box::new(|v| v["channels"] = json!(["a", ""])),
            ),
            (
                "channels[1]",
                Box::new(|v| v["channels"] = json!(["a", "a"])),
            ),
            ("channels[0]", Box::new(|v| v["channels"] = json!([1]))),
            (
                "labels",
                Box::new(|v| {
                    let many: Labels = (0..33).map(|i| (format!("l{i}"), "v".into())).collect();
                    v["labels"] = json!(many);
                }),
            ),
            (
                "labels.alertname",
                Box::new(|v| v["labels"] = json!({"alertname": "x"})),
            ),
            (
                "labels.severity",
                Box::new(|v| v["labels"] = json!({"severity": "x"})),
            ),
            ("group_by[0]", Box::new(|v| v["group_by"] = json!([""]))),
            (
                "group_by[1]",
                Box::new(|v| v["group_by"] = json!(["a", "a"])),
            ),
            ("colour", Box::new(|v| v["colour"] = json!("red"))),
            ("query.step", Box::new(|v| v["query"]["step"] = json!("1m"))),
        ];
        for (want, edit) in cases {
            let (field, message) = error_field(edit);
            assert!(
                field == want || message.contains(&format!("`{want}`")),
                "expected {want}, got {field}: {message}"
            );
            assert!(!message.is_empty());
            assert!(!message.ends_with('.'), "{message}");
        }
    }

    #[test]
    fn messages_say_what_was_wrong() {
        let (_, m) = error_field(|v| v["severity"] = json!("major"));
        assert_eq!(
            m,
            "unknown severity \"major\"; expected critical, warning or info"
        );
        let (_, m) = error_field(|v| v["condition"]["recover"] = json!(600));
        assert_eq!(
            m,
            "recover 600 must be at or below the threshold 500 for op \">\""
        );
        let (_, m) = error_field(|v| v["for"] = json!("-30s"));
        assert_eq!(m, "negative duration \"-30s\"");
        let (_, m) = error_field(|v| v["name"] = json!("n".repeat(250)));
        assert_eq!(m, "is 250 characters long; the limit is 200");
    }

    #[test]
    fn non_finite_numbers_are_refused() {
        // JSON cannot carry NaN, but a spec built in code (or by another decoder) can.
        let mut spec: RuleSpec = serde_json::from_value(base()).unwrap();
        for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            spec.condition.threshold = Some(bad);
            let e = spec.validate().unwrap_err();
            assert_eq!(e.field.as_deref(), Some("condition.threshold"), "{e}");
        }
        spec.condition.threshold = Some(500.0);
        spec.condition.recover = Some(f64::NAN);
        let e = spec.validate().unwrap_err();
        assert_eq!(e.field.as_deref(), Some("condition.recover"), "{e}");

        spec.condition = ConditionSpec {
            anomaly: Some(AnomalySpec {
                min_score: f64::NAN,
                recover: None,
            }),
            ..ConditionSpec::default()
        };
        let e = spec.validate().unwrap_err();
        assert_eq!(
            e.field.as_deref(),
            Some("condition.anomaly.min_score"),
            "{e}"
        );
    }

    #[test]
    fn bounds_are_inclusive() {
        let mut v = base();
        v["name"] = json!("n".repeat(MAX_NAME_CHARS));
        v["channels"] = json!((0..MAX_CHANNELS)
            .map(|i| format!("c{i}"))
            .collect::<Vec<_>>());
        let labels: Labels = (0..MAX_LABELS)
            .map(|i| (format!("l{i}"), "v".into()))
            .collect();
        v["labels"] = json!(labels);
        v["for"] = json!("30d");
        v["condition"]["recover"] = json!(500);
        assert!(parse(&v).is_ok());
    }

    #[test]
    fn ops_compare_and_recover_sides() {
        assert!(Op::Gt.holds(2.0, 1.0) && !Op::Gt.holds(1.0, 1.0));
        assert!(Op::Ge.holds(1.0, 1.0) && !Op::Ge.holds(0.5, 1.0));
        assert!(Op::Lt.holds(0.5, 1.0) && !Op::Lt.holds(1.0, 1.0));
        assert!(Op::Le.holds(1.0, 1.0) && !Op::Le.holds(1.5, 1.0));
        assert!(Op::Gt.recover_fits(10.0, 10.0) && Op::Gt.recover_fits(10.0, 9.0));
        assert!(!Op::Ge.recover_fits(10.0, 11.0));
        assert!(Op::Lt.recover_fits(10.0, 11.0) && !Op::Le.recover_fits(10.0, 9.0));
        for op in [Op::Gt, Op::Ge, Op::Lt, Op::Le] {
            assert_eq!(Op::parse(op.as_str()), Some(op));
            assert_eq!(
                serde_json::to_string(&op).unwrap(),
                format!("\"{}\"", op.as_str())
            );
        }
        for s in [Severity::Info, Severity::Warning, Severity::Critical] {
            assert_eq!(Severity::parse(s.as_str()), Some(s));
        }
        assert!(Severity::Info < Severity::Warning && Severity::Warning < Severity::Critical);
    }

    #[test]
    fn instance_labels_layer_group_filter_rule_and_reserved() {
        let mut v = base();
        v["group_by"] = json!(["route", "service"]);
        v["labels"] = json!({"team": "payments", "route": "fixed"});
        let rule = parse(&v).unwrap();
        let series: Labels = [
            ("route", "/cart"),
            ("service", "web"),
            ("host", "h1"),
            ("alertname", "spoofed"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let labels = rule.instance_labels(&series);
        let want: Labels = [
            ("alertname", "api latency"),
            ("route", "fixed"),
            ("service", "api"),
            ("severity", "critical"),
            ("team", "payments"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(labels, want);
    }
}

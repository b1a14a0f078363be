//! Parsing of query parameters: times (`now-15m`, unix ms, RFC 3339), steps, aggregations,
//! label filters and grouping.

use crate::config::parse_duration;

/// Why a query parameter was refused; `field` names the parameter.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct ParamError {
    pub field: &'static str,
    pub message: String,
}

fn bad(field: &'static str, message: impl Into<String>) -> ParamError {
    ParamError {
        field,
        message: message.into(),
    }
}

/// How samples within one step (across time and across a group's series) are combined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Agg {
    Avg,
    Sum,
    Min,
    Max,
    Count,
    /// Quantile in per-mille (500 = p50), so the enum stays `Eq`.
    Quantile(u16),
    Rate,
}

impl Agg {
    pub fn parse(text: &str) -> Result<Agg, ParamError> {
        Ok(match text {
            "avg" | "" => Agg::Avg,
            "sum" => Agg::Sum,
            "min" => Agg::Min,
            "max" => Agg::Max,
            "count" => Agg::Count,
            "p50" => Agg::Quantile(500),
            "p90" => Agg::Quantile(900),
            "p95" => Agg::Quantile(950),
            "p99" => Agg::Quantile(990),
            "rate" => Agg::Rate,
            other => {
                return Err(bad("agg", format!("unknown aggregation {other:?}; expected avg, sum, min, max, count, p50, p90, p95, p99 or rate")))
            }
        })
    }
}

/// Parses `now`, `now-15m`, `now+1h`, unix milliseconds or RFC 3339, relative to `now` (unix ms).
pub fn parse_time(field: &'static str, text: &str, now: i64) -> Result<i64, ParamError> {
    let text = text.trim();
    if let Some(rest) = text.strip_prefix("now") {
        if rest.is_empty() {
            return Ok(now);
        }
        // Not `split_at(1)`: the text comes from a client and may start with any character.
        let (sign, d) = if let Some(d) = rest.strip_prefix('-') {
            (-1, d)
        } else if let Some(d) = rest.strip_prefix('+') {
            (1, d)
        } else {
            return Err(bad(
                field,
                format!("invalid relative time {text:?}; expected now-15m or similar"),
            ));
        };
        let d =
            parse_duration(d).ok_or_else(|| bad(field, format!("invalid duration in {text:?}")))?;
        return i64::try_from(d.as_millis())
            .ok()
            .and_then(|ms| now.checked_add(sign * ms))
            .ok_or_else(|| bad(field, format!("{text:?} is out of range")));
    }
    if let Ok(ms) = text.parse::<i64>() {
        return Ok(ms);
    }
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.timestamp_millis())
        .map_err(|_| {
            bad(
                field,
                format!("invalid time {text:?}; expected unix ms, RFC 3339 or now-1h"),
            )
        })
}

/// Steps the default is chosen from, in milliseconds.
pub const NICE_STEPS: [i64; 18] = [
    1_000, 2_000, 5_000, 10_000, 15_000, 30_000, 60_000, 120_000, 300_000, 600_000, 900_000,
    1_800_000, 3_600_000, 7_200_000, 10_800_000, 21_600_000, 43_200_000, 86_400_000,
];

/// Points per series a query may return at most.
pub const MAX_POINTS: i64 = 11_000;

/// The nice step closest (in ratio) to the one that gives `target` points over the range.
pub fn default_step(from: i64, to: i64, target: i64) -> i64 {
    // Bounds from outside may be anywhere in i64: their difference must not overflow.
    let ideal = (to.saturating_sub(from) as f64 / target as f64).max(1.0);
    *NICE_STEPS
        .iter()
        .min_by(|a, b| {
            let da = (ideal / **a as f64).ln().abs();
            let db = (ideal / **b as f64).ln().abs();
            da.total_cmp(&db)
        })
        .expect("non-empty")
}

pub fn parse_step(text: &str) -> Result<i64, ParamError> {
    let d = parse_duration(text).ok_or_else(|| {
        bad(
            "step",
            format!("invalid step {text:?}; expected 10s, 1m, 1h…"),
        )
    })?;
    let ms = d.as_millis() as i64;
    if ms < 1_000 {
        return Err(bad(
            "step",
            format!("step {text:?} is shorter than the minimum of 1s"),
        ));
    }
    Ok(ms)
}

/// The `metric` parameter: required, at most 256 bytes.
pub fn parse_metric(metric: Option<&str>) -> Result<String, ParamError> {
    let metric = metric
        .filter(|m| !m.is_empty())
        .ok_or_else(|| bad("metric", "metric is required"))?;
    if metric.len() > 256 {
        return Err(bad("metric", "metric name longer than 256 bytes"));
    }
    Ok(metric.to_string())
}

/// `L:V,L2:V2` → pairs, each label matched exactly.
pub fn parse_filter(text: &str) -> Result<Vec<(String, String)>, ParamError> {
    text.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|pair| {
            pair.split_once(':')
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                .filter(|(k, _)| !k.is_empty())
                .ok_or_else(|| {
                    bad(
                        "filter",
                        format!("invalid filter {pair:?}; expected label:value"),
                    )
                })
        })
        .collect()
}

/// `L1,L2` → label names.
pub fn parse_group_by(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;

    #[test]
    fn times() {
        assert_eq!(parse_time("from", "now", NOW), Ok(NOW));
        assert_eq!(parse_time("from", "now-15m", NOW), Ok(NOW - 900_000));
        assert_eq!(parse_time("from", "now+1h", NOW), Ok(NOW + 3_600_000));
        assert_eq!(
            parse_time("from", "1764250000000", NOW),
            Ok(1_764_250_000_000)
        );
        assert_eq!(
            parse_time("from", "2026-11-27T12:00:00Z", NOW),
            Ok(1_795_780_800_000)
        );
        assert_eq!(parse_time("to", "yesterday", NOW).unwrap_err().field, "to");
        assert!(parse_time("from", "now*2", NOW).is_err());
        assert!(parse_time("from", "now-5x", NOW).is_err());
        // Found by the query_params fuzz target: a multi-byte character after "now" panicked.
        assert!(parse_time("from", "now\u{fffd}-1h", NOW).is_err());
        assert!(parse_time("from", "nowé", NOW).is_err());
        assert!(parse_time("from", "now-18446744073709551615ms", NOW).is_err());
        assert!(parse_time("from", "now+9223372036854775807ms", NOW).is_err());
    }

    #[test]
    fn default_steps_give_about_300_points() {
        assert_eq!(default_step(0, 3_600_000, 300), 10_000);
        assert_eq!(default_step(0, 86_400_000, 300), 300_000);
        assert_eq!(default_step(0, 900_000, 300), 2_000);
        assert_eq!(default_step(0, 7 * 86_400_000, 300), 1_800_000);
    }

    #[test]
    fn aggs_steps_filters() {
        assert_eq!(Agg::parse("p95"), Ok(Agg::Quantile(950)));
        assert_eq!(Agg::parse("median").unwrap_err().field, "agg");
        assert_eq!(parse_step("1m"), Ok(60_000));
        assert!(parse_step("100ms").is_err());
        assert_eq!(
            parse_filter("service:api, host:web-1").unwrap(),
            vec![
                ("service".into(), "api".into()),
                ("host".into(), "web-1".into())
            ]
        );
        assert!(parse_filter("service").is_err());
        assert_eq!(
            parse_group_by("a,,b "),
            vec!["a".to_string(), "b".to_string()]
        );
    }
}

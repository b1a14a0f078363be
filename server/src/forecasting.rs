//! Forecasts of stored series: the history a range query returns, fitted per series by the
//! detector crate's seasonal ETS model ([`detect::forecast`]).

use crate::ingest::model::Labels;
use crate::ingest::model::MetricKind;
use crate::query::params::{self, Agg, ParamError};
use crate::query::{QueryError, QueryService, RangeQuery};
use crate::store::Store;
use detect::forecast::{self, Direction, Horizon};
use serde::Serialize;

/// The longest horizon asked for.
pub const MAX_HORIZON_MS: i64 = 90 * 86_400_000;
/// Series forecast per request at most (one per group).
pub const MAX_SERIES: usize = 20;
/// Points of history fitted per series, about.
const HISTORY_POINTS: i64 = 4_000;

/// What to forecast.
#[derive(Debug, Clone, PartialEq)]
pub struct ForecastQuery {
    pub metric: String,
    /// `None`: `rate` for counters, `avg` for gauges.
    pub agg: Option<Agg>,
    pub group_by: Vec<String>,
    pub filter: Vec<(String, String)>,
    pub horizon_ms: i64,
    /// Report when the forecast first reaches this value.
    pub threshold: Option<f64>,
}

/// The forecast of one series (or group).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SeriesForecast {
    pub labels: Labels,
    /// For example `ETS(A,Ad,A) season 288`.
    pub model: String,
    pub step_ms: i64,
    /// The fitted history, as drawn before the forecast.
    #[serde(skip)]
    pub history: Vec<(i64, f64)>,
    pub points: Vec<ForecastPoint>,
    /// When the point forecast first reaches the threshold, if it does within the horizon.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_to_threshold: Option<ThresholdEta>,
}

/// One forecast point; `lower`/`upper` are the 95 % interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ForecastPoint {
    pub timestamp: i64,
    pub value: f64,
    pub lower: f64,
    pub upper: f64,
    pub lower80: f64,
    pub upper80: f64,
}

/// "Disk full in 3 d 4 h".
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ThresholdEta {
    pub threshold: f64,
    pub at: i64,
    pub in_ms: i64,
    pub text: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ForecastFailure {
    #[error(transparent)]
    Param(#[from] ParamError),
    #[error(transparent)]
    Query(#[from] QueryError),
    #[error("not enough history to forecast {metric}: {reason}")]
    NoHistory { metric: String, reason: String },
}

impl ForecastQuery {
    /// How much history is fitted: ten horizons, at least two days (two daily seasons), at
    /// most four weeks (two weekly seasons and then some).
    pub fn history_ms(&self) -> i64 {
        (10 * self.horizon_ms).clamp(2 * 86_400_000, 28 * 86_400_000)
    }

    /// The history's step: a whole number of minutes giving about [`HISTORY_POINTS`] points.
    pub fn step_ms(&self) -> i64 {
        let minutes = ((self.history_ms() / HISTORY_POINTS + 59_999) / 60_000).max(1);
        minutes * 60_000
    }
}

/// Parses a horizon such as `1h` or `3d`, within [`MAX_HORIZON_MS`].
pub fn parse_horizon(text: &str) -> Result<i64, ParamError> {
    let ms = params::parse_step(text).map_err(|e| ParamError {
        field: "horizon",
        message: e.message,
    })?;
    if ms > MAX_HORIZON_MS {
        return Err(ParamError {
            field: "horizon",
            message: "horizon longer than 90 days".into(),
        });
    }
    Ok(ms)
}

/// Fits and forecasts every series (group) the query returns, up to [`MAX_SERIES`].
pub async fn run(
    query: &QueryService,
    store: &dyn Store,
    q: &ForecastQuery,
    now: i64,
) -> Result<Vec<SeriesForecast>, ForecastFailure> {
    let agg = match q.agg {
        Some(agg) => agg,
        None => {
            let counter = store
                .series(&q.metric)
                .await
                .map_err(QueryError::from)?
                .first()
                .is_some_and(|s| s.kind == MetricKind::Counter);
            if counter {
                Agg::Rate
            } else {
                Agg::Avg
            }
        }
    };
    let step = q.step_ms();
    let history = RangeQuery {
        metric: q.metric.clone(),
        from: now - q.history_ms(),
        to: now,
        step,
        agg,
        group_by: q.group_by.clone(),
        filter: q.filter.clone(),
    };
    let (series, _) = query.run(&history, now).await?;
    let mut out = Vec::new();
    let mut last_error = None;
    for s in series.into_iter().take(MAX_SERIES) {
        match forecast::forecast(&s.points, Horizon::Duration(q.horizon_ms)) {
            Ok(f) => out.push(series_forecast(s.labels, s.points, &f, q.threshold)),
            Err(e) => last_error = Some(e.to_string()),
        }
    }
    if out.is_empty() {
        return Err(ForecastFailure::NoHistory {
            metric: q.metric.clone(),
            reason: last_error.unwrap_or_else(|| "no data in the last days".into()),
        });
    }
    Ok(out)
}

fn series_forecast(
    labels: Labels,
    history: Vec<(i64, f64)>,
    f: &forecast::Forecast,
    threshold: Option<f64>,
) -> SeriesForecast {
    let time_to_threshold = threshold.and_then(|threshold| {
        // Towards the threshold from where the series stands now.
        let direction = if threshold >= f.origin_value {
            Direction::Up
        } else {
            Direction::Down
        };
        forecast::time_to_threshold(f, threshold, direction).map(|in_ms| ThresholdEta {
            threshold,
            at: f.origin_ms + in_ms,
            in_ms,
            text: forecast::format_duration(in_ms),
        })
    });
    SeriesForecast {
        labels,
        model: f.model.clone(),
        step_ms: f.step_ms,
        history,
        points: f
            .points
            .iter()
            .map(|p| ForecastPoint {
                timestamp: p.ts_ms,
                value: p.value,
                lower: p.lower95,
                upper: p.upper95,
                lower80: p.lower80,
                upper80: p.upper80,
            })
            .collect(),
        time_to_threshold,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(horizon_ms: i64) -> ForecastQuery {
        ForecastQuery {
            metric: "m".into(),
            agg: None,
            group_by: vec![],
            filter: vec![],
            horizon_ms,
            threshold: None,
        }
    }

    #[test]
    fn history_covers_two_days_to_four_weeks_in_about_four_thousand_points() {
        assert_eq!(q(3_600_000).history_ms(), 2 * 86_400_000);
        assert_eq!(q(3_600_000).step_ms(), 60_000);
        assert_eq!(q(7 * 86_400_000).history_ms(), 28 * 86_400_000);
        assert_eq!(q(7 * 86_400_000).step_ms(), 11 * 60_000);
        assert!(parse_horizon("91d").is_err());
        assert_eq!(parse_horizon("2h").unwrap(), 7_200_000);
        assert_eq!(parse_horizon("x").unwrap_err().field, "horizon");
    }
}

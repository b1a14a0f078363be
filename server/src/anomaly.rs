//! Anomaly scoring as Osprey runs it: one detector configuration for live ingestion and for
//! `osprey detect`, so a backtest on a CSV scores exactly as production would.

use crate::ingest::model::SeriesKey;
use crate::store::AnomalyRow;
use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::sync::Arc;

/// Live scores at or above this are recorded as anomalies (about a 1-in-10⁵ surprise).
pub const RECORD_SCORE: f64 = 0.5;
/// The detector reads each series one point a minute: the mean of that minute's samples.
const MINUTE_MS: i64 = 60_000;

/// The detector every series gets, with the defaults tuned on the NAB corpus.
pub fn detector() -> detect::Detector {
    detect::Detector::new(detect::Config::default())
}

/// Detectors of live series, fed one mean per minute as each minute closes.
pub struct AnomalyWatch {
    series: HashMap<i64, SeriesWatch>,
    max_series: usize,
}

struct SeriesWatch {
    minute: i64,
    sum: f64,
    count: u32,
    detector: detect::Detector,
}

impl AnomalyWatch {
    /// Watches at most `max_series` series (each detector holds about 2 KiB).
    pub fn new(max_series: usize) -> Self {
        AnomalyWatch {
            series: HashMap::new(),
            max_series,
        }
    }

    /// Offers one committed sample; returns an anomaly when a closed minute scored high.
    /// Samples of a minute that already closed are left out of detection (they are stored).
    pub fn observe(
        &mut self,
        series_id: i64,
        key: &Arc<SeriesKey>,
        ts: i64,
        value: f64,
    ) -> Option<AnomalyRow> {
        let minute = ts.div_euclid(MINUTE_MS) * MINUTE_MS;
        if !self.series.contains_key(&series_id) && self.series.len() >= self.max_series {
            return None;
        }
        let watch = self.series.entry(series_id).or_insert_with(|| SeriesWatch {
            minute,
            sum: 0.0,
            count: 0,
            detector: detector(),
        });
        if minute < watch.minute {
            return None;
        }
        let mut found = None;
        if minute > watch.minute && watch.count > 0 {
            let mean = watch.sum / f64::from(watch.count);
            let s = watch.detector.update(watch.minute, mean);
            if s.score >= RECORD_SCORE {
                found = Some(AnomalyRow {
                    series_id,
                    metric: key.name.clone(),
                    labels: key.labels.clone(),
                    timestamp: watch.minute,
                    value: mean,
                    score: s.score,
                    expected: s.expected,
                    lower: s.lower,
                    upper: s.upper,
                    explanation: explain(&key.name, mean, s.expected, s.lower, s.upper),
                });
            }
            watch.sum = 0.0;
            watch.count = 0;
        }
        watch.minute = minute;
        watch.sum += value;
        watch.count += 1;
        found
    }

    pub fn len(&self) -> usize {
        self.series.len()
    }

    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }
}

/// One line a person can read: how far the value is from what was expected.
pub fn explain(metric: &str, value: f64, expected: f64, lower: f64, upper: f64) -> String {
    let direction = if value > upper {
        "above"
    } else if value < lower {
        "below"
    } else {
        "near the edge of"
    };
    let ratio = if expected.abs() > f64::EPSILON {
        format!(" ({:.1}× the expected {:.4})", value / expected, expected)
    } else {
        String::new()
    };
    format!("{metric} {value:.4} is {direction} its usual range {lower:.4}–{upper:.4}{ratio}")
}

/// Why a CSV could not be scored; `line` is 1-based.
#[derive(Debug, thiserror::Error)]
pub enum CsvError {
    #[error("reading input failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("line 1: expected the header timestamp,value, got {0:?}")]
    Header(String),
    #[error("line {line}: {message}")]
    Row { line: usize, message: String },
}

/// Longest input line accepted, so a file without newlines cannot exhaust memory.
const MAX_LINE: usize = 4096;

/// Reads `timestamp,value` rows (header first) and writes `timestamp,value,anomaly_score`,
/// scoring each row before the next is read. Timestamps are unix ms, RFC 3339 or
/// `YYYY-MM-DD HH:MM:SS` (UTC), in time order. Returns the number of rows scored.
pub fn score_csv(input: impl BufRead, mut output: impl Write) -> Result<usize, CsvError> {
    let mut lines = bounded_lines(input);
    let header = lines.next().transpose()?.unwrap_or_default();
    let fields: Vec<String> = header
        .split(',')
        .map(|f| f.trim().trim_matches('"').to_ascii_lowercase())
        .collect();
    if fields.len() < 2 || fields[0] != "timestamp" || fields[1] != "value" {
        return Err(CsvError::Header(header));
    }
    writeln!(output, "timestamp,value,anomaly_score")?;
    let mut detector = detector();
    let mut rows = 0;
    let mut last_ts = i64::MIN;
    for (i, line) in lines.enumerate() {
        let line = line?;
        let number = i + 2;
        if line.trim().is_empty() {
            continue;
        }
        let bad = |message: String| CsvError::Row {
            line: number,
            message,
        };
        let (ts_text, value_text) = line
            .split_once(',')
            .ok_or_else(|| bad("expected timestamp,value".into()))?;
        let value_text = value_text.split(',').next().unwrap_or("").trim();
        let ts = parse_time(ts_text.trim().trim_matches('"'))
            .ok_or_else(|| bad(format!("invalid timestamp {:?}", ts_text.trim())))?;
        if ts < last_ts {
            return Err(bad(format!(
                "timestamp {:?} is earlier than the row before it",
                ts_text.trim()
            )));
        }
        last_ts = ts;
        let value: f64 = value_text
            .parse()
            .map_err(|_| bad(format!("invalid value {value_text:?}")))?;
        if !value.is_finite() {
            return Err(bad(format!("value {value_text:?} is not a finite number")));
        }
        let score = detector.update(ts, value).score;
        writeln!(output, "{},{},{:.6}", ts_text.trim(), value_text, score)?;
        rows += 1;
    }
    output.flush()?;
    Ok(rows)
}

fn parse_time(text: &str) -> Option<i64> {
    if let Ok(ms) = text.parse::<i64>() {
        return Some(ms);
    }
    detect::nab::parse_timestamp(text).or_else(|| {
        chrono::DateTime::parse_from_rfc3339(text)
            .ok()
            .map(|t| t.timestamp_millis())
    })
}

fn read_bounded_line<R: BufRead>(input: &mut R, buf: &mut Vec<u8>) -> std::io::Result<usize> {
    use std::io::Read;
    input.take(MAX_LINE as u64 + 1).read_until(b'\n', buf)
}

/// Lines of at most `MAX_LINE` bytes; a longer one is an error, not an allocation.
fn bounded_lines(mut input: impl BufRead) -> impl Iterator<Item = Result<String, CsvError>> {
    let mut number = 0;
    std::iter::from_fn(move || {
        number += 1;
        let mut buf = Vec::new();
        match read_bounded_line(&mut input, &mut buf) {
            Ok(0) => None,
            Ok(_) if buf.len() > MAX_LINE && !buf.ends_with(b"\n") => Some(Err(CsvError::Row {
                line: number,
                message: format!("line longer than {MAX_LINE} bytes"),
            })),
            Ok(_) => Some(
                String::from_utf8(buf)
                    .map(|s| s.trim_end_matches(['\n', '\r']).to_string())
                    .map_err(|_| CsvError::Row {
                        line: number,
                        message: "not UTF-8".into(),
                    }),
            ),
            Err(e) => Some(Err(e.into())),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_watch_scores_closed_minutes_and_reports_a_spike() {
        let key = Arc::new(SeriesKey {
            name: "lat".into(),
            labels: Default::default(),
        });
        let mut watch = AnomalyWatch::new(10);
        let t0 = 1_699_999_980_000i64; // on a minute boundary
        let mut found = Vec::new();
        for m in 0..400i64 {
            // Three samples a minute; minute 350 spikes.
            for s in 0..3 {
                let v = if m == 350 {
                    900.0
                } else {
                    50.0 + 5.0 * ((m as f64) / 10.0).sin() + s as f64
                };
                if let Some(a) = watch.observe(1, &key, t0 + m * 60_000 + s * 20_000, v) {
                    found.push(a);
                }
            }
        }
        assert!(
            found.iter().any(|a| a.timestamp == t0 + 350 * 60_000),
            "{found:?}"
        );
        let spike = found
            .iter()
            .find(|a| a.timestamp == t0 + 350 * 60_000)
            .unwrap();
        assert_eq!(spike.value, 900.0);
        assert!(spike.explanation.contains("above"), "{}", spike.explanation);
        assert!(
            found.len() <= 3,
            "a calm series raised {} anomalies",
            found.len()
        );
        // A full watch takes no new series.
        let mut small = AnomalyWatch::new(1);
        small.observe(1, &key, t0, 1.0);
        small.observe(2, &key, t0, 1.0);
        assert_eq!(small.len(), 1);
    }

    fn score(input: &str) -> Result<Vec<(String, f64)>, CsvError> {
        let mut out = Vec::new();
        score_csv(input.as_bytes(), &mut out)?;
        let text = String::from_utf8(out).unwrap();
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some("timestamp,value,anomaly_score"));
        Ok(lines
            .map(|l| {
                let parts: Vec<&str> = l.split(',').collect();
                (parts[0].to_string(), parts[2].parse().unwrap())
            })
            .collect())
    }

    #[test]
    fn a_spike_in_a_calm_series_scores_high_and_the_rest_low() {
        let mut csv = String::from("timestamp,value\n");
        for i in 0..2_000i64 {
            let v = if i == 1_500 {
                400.0
            } else {
                50.0 + 10.0 * ((i as f64) / 20.0).sin()
            };
            csv.push_str(&format!("{},{v}\n", 1_700_000_000_000 + i * 60_000));
        }
        let scores = score(&csv).unwrap();
        assert_eq!(scores.len(), 2_000);
        assert!(scores.iter().all(|(_, s)| (0.0..=1.0).contains(s)));
        let spike = scores[1_500].1;
        let calm_max = scores[600..1_500].iter().map(|s| s.1).fold(0.0, f64::max);
        assert!(spike >= 0.5, "spike scored {spike}");
        assert!(
            calm_max < spike,
            "calm part reached {calm_max}, spike {spike}"
        );
    }

    #[test]
    fn accepts_the_documented_timestamp_forms_and_echoes_them() {
        let scores = score(
            "timestamp,value\n2014-04-01 00:00:00,1\n2014-04-01T00:05:00Z,2\n1396311000000,3\n",
        )
        .unwrap();
        assert_eq!(
            scores.iter().map(|s| s.0.as_str()).collect::<Vec<_>>(),
            [
                "2014-04-01 00:00:00",
                "2014-04-01T00:05:00Z",
                "1396311000000"
            ]
        );
    }

    #[test]
    fn bad_input_names_the_line() {
        let err = |csv: &str| score(csv).unwrap_err().to_string();
        assert!(err("time,val\n1,2\n").starts_with("line 1"));
        assert!(err("timestamp,value\n1,2\nnope,3\n").starts_with("line 3: invalid timestamp"));
        assert!(err("timestamp,value\n1,abc\n").starts_with("line 2: invalid value"));
        assert!(err("timestamp,value\n5,1\n4,1\n").contains("earlier"));
        assert!(err(&format!("timestamp,value\n{}\n", "9".repeat(5000))).contains("longer than"));
    }
}

//! Anomaly scoring as Osprey runs it: one detector configuration for live ingestion and for
//! `osprey detect`, so a backtest on a CSV scores exactly as production would.

use std::io::{BufRead, Write};

/// The detector every series gets, with the defaults tuned on the NAB corpus.
pub fn detector() -> detect::Detector {
    detect::Detector::new(detect::Config::default())
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

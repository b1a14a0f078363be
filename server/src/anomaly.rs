//! Anomaly scoring as Osprey runs it: one detector configuration for live ingestion and for
//! `osprey detect`, so a backtest on a CSV scores exactly as production would.

use crate::ingest::model::{MetricKind, SeriesKey};
use crate::query::engine::counter_increase;
use crate::store::{Anomaly, Feedback, Resolution, RollupRow, Store, StoreResult};
use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::sync::{Arc, Mutex};

/// Live scores at or above this are recorded as anomalies (about a 1-in-10⁵ surprise), when
/// the value also lies outside the expected band.
pub const RECORD_SCORE: f64 = 0.5;
/// The detector reads each series one point a minute: the mean of that minute's samples.
const MINUTE_MS: i64 = 60_000;

/// The detector every series gets, with the defaults tuned on the NAB corpus.
pub fn detector() -> detect::Detector {
    detect::Detector::new(detect::Config::default())
}

/// Detectors of live series, fed one value per minute as each minute closes: the mean of a
/// gauge's samples, the per-second rate of a counter.
///
/// After a restart the detectors are rebuilt from stored minute rollups by [`warm_up`] while
/// ingest goes on: until a series' rebuilt detector is [installed](AnomalyWatch::install), the
/// minutes it closes are kept (at most [`COLD_MINUTES`]) and replayed into the rebuilt one, so
/// no minute is learnt twice or lost.
pub struct AnomalyWatch {
    series: HashMap<i64, SeriesWatch>,
    max_series: usize,
    warming: bool,
}

/// Minutes kept per series while detectors are being rebuilt at start-up.
pub const COLD_MINUTES: usize = 120;

struct SeriesWatch {
    minute: i64,
    sum: f64,
    count: u32,
    last: (i64, f64),
    input: MinuteInput,
    detector: detect::Detector,
    /// Minute values seen while warming, replayed into the rebuilt detector.
    cold: Vec<(i64, f64)>,
}

/// Turns a series' minute aggregates into what its detector reads.
#[derive(Debug, Clone, Copy)]
pub struct MinuteInput {
    kind: MetricKind,
    /// A counter's last sample of the previous minute.
    previous: Option<(i64, f64)>,
}

impl MinuteInput {
    pub fn new(kind: MetricKind) -> Self {
        MinuteInput {
            kind,
            previous: None,
        }
    }

    /// The value of one closed minute: a gauge's mean; a counter's increase since the previous
    /// minute's last sample, per second (none for its first minute).
    pub fn value(&mut self, sum: f64, count: u32, last: (i64, f64)) -> Option<f64> {
        match self.kind {
            MetricKind::Gauge => (count > 0).then(|| sum / f64::from(count)),
            MetricKind::Counter => {
                let previous = self.previous.replace(last)?;
                let seconds = (last.0 - previous.0) as f64 / 1000.0;
                (seconds > 0.0).then(|| counter_increase(previous.1, last.1) / seconds)
            }
        }
    }

    fn label(&self, metric: &str) -> String {
        match self.kind {
            MetricKind::Gauge => metric.to_string(),
            MetricKind::Counter => format!("rate of {metric}"),
        }
    }
}

impl AnomalyWatch {
    /// Watches at most `max_series` series (each detector holds about 2 KiB).
    pub fn new(max_series: usize) -> Self {
        AnomalyWatch {
            series: HashMap::new(),
            max_series,
            warming: false,
        }
    }

    /// From now until [`AnomalyWatch::finish_warming`], closed minutes are also kept for replay.
    pub fn start_warming(&mut self) {
        self.warming = true;
    }

    /// Ends the warm-up: series without a rebuilt detector keep the one they started afresh.
    pub fn finish_warming(&mut self) {
        self.warming = false;
        for watch in self.series.values_mut() {
            watch.cold = Vec::new();
        }
    }

    /// Offers one committed sample; returns an anomaly when a closed minute scored high.
    /// Samples of a minute that already closed are left out of detection (they are stored).
    pub fn observe(
        &mut self,
        series_id: i64,
        key: &Arc<SeriesKey>,
        kind: MetricKind,
        ts: i64,
        value: f64,
    ) -> Option<Anomaly> {
        let minute = ts.div_euclid(MINUTE_MS) * MINUTE_MS;
        if !self.series.contains_key(&series_id) && self.series.len() >= self.max_series {
            return None;
        }
        let warming = self.warming;
        let watch = self
            .series
            .entry(series_id)
            .or_insert_with(|| SeriesWatch::new(minute, MinuteInput::new(kind), detector()));
        if minute < watch.minute {
            return None;
        }
        let mut found = None;
        if minute > watch.minute && watch.count > 0 {
            if let Some(v) = watch.input.value(watch.sum, watch.count, watch.last) {
                if warming && watch.cold.len() < COLD_MINUTES {
                    watch.cold.push((watch.minute, v));
                }
                let s = watch.detector.update(watch.minute, v);
                // A person reads these: only values outside the expected band are recorded.
                if s.score >= RECORD_SCORE && !(s.lower..=s.upper).contains(&v) {
                    found = Some(Anomaly {
                        series_id,
                        metric: key.name.clone(),
                        labels: key.labels.clone(),
                        timestamp: watch.minute,
                        value: v,
                        score: s.score,
                        expected: s.expected,
                        lower: s.lower,
                        upper: s.upper,
                        dismissed: false,
                        explanation: explain(
                            &crate::derived::describe(key)
                                .unwrap_or_else(|| watch.input.label(&key.name)),
                            v,
                            s.expected,
                            s.lower,
                            s.upper,
                        ),
                    });
                }
            }
            watch.sum = 0.0;
            watch.count = 0;
        }
        watch.minute = minute;
        watch.sum += value;
        watch.count += 1;
        watch.last = (ts, value);
        found
    }

    /// Puts a detector rebuilt from stored minutes up to `upto` (exclusive) in charge of a
    /// series, after replaying the minutes the series closed since then.
    pub fn install(&mut self, series_id: i64, rebuilt: Rebuilt, upto: i64) {
        let Rebuilt {
            mut detector,
            input,
        } = rebuilt;
        let room = self.series.len() < self.max_series;
        match self.series.get_mut(&series_id) {
            Some(watch) => {
                for &(minute, v) in watch.cold.iter().filter(|(m, _)| *m >= upto) {
                    detector.update(minute, v);
                }
                watch.detector = detector;
                watch.cold = Vec::new();
            }
            None if room => {
                self.series
                    .insert(series_id, SeriesWatch::new(upto, input, detector));
            }
            None => {}
        }
    }

    pub fn len(&self) -> usize {
        self.series.len()
    }

    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }

    /// Feedback that a deviation of `sigmas` was normal for a series.
    pub fn tolerate(&mut self, series_id: i64, sigmas: f64) {
        if let Some(watch) = self.series.get_mut(&series_id) {
            watch.detector.tolerate(sigmas);
        }
    }

    /// Minutes a series' detector has learnt, if it is watched.
    pub fn learnt(&self, series_id: i64) -> Option<u32> {
        self.series.get(&series_id).map(|w| w.detector.points())
    }
}

impl SeriesWatch {
    fn new(minute: i64, input: MinuteInput, detector: detect::Detector) -> Self {
        SeriesWatch {
            minute,
            sum: 0.0,
            count: 0,
            last: (minute, 0.0),
            input,
            detector,
            cold: Vec::new(),
        }
    }
}

/// A detector rebuilt from stored minutes, with the counter state it ended on.
pub struct Rebuilt {
    detector: detect::Detector,
    input: MinuteInput,
}

/// Replays one series' stored minute rollups (in bucket order) through a fresh detector,
/// applying its "not an anomaly" feedback (`(time, sigmas)`, in time order) where it was given.
pub fn rebuild(kind: MetricKind, minutes: &[RollupRow], feedback: &[(i64, f64)]) -> Rebuilt {
    let mut detector = detector();
    let mut input = MinuteInput::new(kind);
    let mut pending = feedback.iter().peekable();
    for row in minutes {
        while let Some(&(_, sigmas)) = pending.next_if(|(ts, _)| *ts < row.bucket) {
            detector.tolerate(sigmas);
        }
        let count = u32::try_from(row.count).unwrap_or(u32::MAX);
        if let Some(v) = input.value(row.sum, count, (row.last_ts, row.last)) {
            detector.update(row.bucket, v);
        }
    }
    for &(_, sigmas) in pending {
        detector.tolerate(sigmas);
    }
    Rebuilt { detector, input }
}

/// Records "not an anomaly" on a stored anomaly and lowers its series' live sensitivity to
/// deviations of that size. Returns the anomaly, or `None` if there is none at that time.
pub async fn dismiss(
    store: &dyn Store,
    watch: &Mutex<AnomalyWatch>,
    series_id: i64,
    ts: i64,
    now: i64,
) -> StoreResult<Option<Anomaly>> {
    let Some(mut anomaly) = store.anomaly(series_id, ts).await? else {
        return Ok(None);
    };
    let sigmas = deviation(anomaly.value, anomaly.expected, anomaly.upper);
    store
        .put_feedback(
            &Feedback {
                series_id,
                ts,
                sigmas,
            },
            now,
        )
        .await?;
    watch
        .lock()
        .expect("anomaly watch lock")
        .tolerate(series_id, sigmas);
    anomaly.dismissed = true;
    Ok(Some(anomaly))
}

/// The deviation of an anomaly in the detector's standard deviations, as feedback records it.
pub fn deviation(value: f64, expected: f64, upper: f64) -> f64 {
    detect::Score::sigmas(
        value,
        expected,
        upper,
        detect::Config::default().band_sigmas,
    )
    .min(detect::MAX_TOLERANCE)
}

/// How much stored history rebuilds each detector at start-up: two days, so the time-of-day
/// profile has seen every hour twice.
pub const WARM_UP_LOOKBACK_MS: i64 = 2 * 86_400_000;
/// Series read from the database per round trip while warming up.
const WARM_UP_CHUNK: usize = 100;

/// Rebuilds the detector of every stored series from its minute rollups of the last
/// [`WARM_UP_LOOKBACK_MS`] before `now`, installing each into `watch` while ingest runs.
/// Returns the number of series rebuilt.
pub async fn warm_up(
    store: Arc<dyn Store>,
    watch: Arc<Mutex<AnomalyWatch>>,
    now: i64,
    max_series: usize,
) -> StoreResult<usize> {
    let upto = now.div_euclid(MINUTE_MS) * MINUTE_MS;
    let from = upto - WARM_UP_LOOKBACK_MS;
    let mut series = Vec::new();
    for metric in store.metrics().await? {
        for s in store.series(&metric.name).await? {
            series.push((s.id, s.kind));
        }
        if series.len() >= max_series {
            break;
        }
    }
    series.truncate(max_series);
    let mut feedback: HashMap<i64, Vec<(i64, f64)>> = HashMap::new();
    for f in store.feedback(from).await? {
        feedback
            .entry(f.series_id)
            .or_default()
            .push((f.ts, f.sigmas));
    }
    let mut rebuilt = 0;
    for chunk in series.chunks(WARM_UP_CHUNK) {
        let ids: Vec<i64> = chunk.iter().map(|(id, _)| *id).collect();
        let rows = store.rollups(Resolution::Minute, &ids, from, upto).await?;
        let kinds: Vec<_> = chunk
            .iter()
            .map(|&(id, kind)| (id, kind, feedback.remove(&id).unwrap_or_default()))
            .collect();
        // Replaying is CPU work (a few hundred thousand updates a chunk): off the async threads.
        let detectors = tokio::task::spawn_blocking(move || {
            let mut per_series: HashMap<i64, Vec<RollupRow>> = HashMap::new();
            for row in rows {
                per_series.entry(row.series_id).or_default().push(row);
            }
            kinds
                .into_iter()
                .filter_map(|(id, kind, feedback)| {
                    let mut minutes = per_series.remove(&id)?;
                    minutes.sort_by_key(|r| r.bucket);
                    Some((id, rebuild(kind, &minutes, &feedback)))
                })
                .collect::<Vec<_>>()
        })
        .await
        .expect("detector replay does not panic");
        let mut watch = watch.lock().expect("anomaly watch lock");
        for (id, detector) in detectors {
            watch.install(id, detector, upto);
            rebuilt += 1;
        }
    }
    Ok(rebuilt)
}

/// The detector's expected range along a drawn line (any step): `(time, lower, upper)` for
/// every point after the detector has a model it trusts. The line is replayed from its start,
/// so the band is what the detector would have expected of this very line.
pub fn band(points: &[(i64, f64)]) -> Vec<(i64, f32, f32)> {
    let mut detector = detector();
    points
        .iter()
        .filter_map(|&(t, v)| {
            let s = detector.update(t, v);
            (s.upper > s.lower).then_some((t, s.lower as f32, s.upper as f32))
        })
        .collect()
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
                if let Some(a) =
                    watch.observe(1, &key, MetricKind::Gauge, t0 + m * 60_000 + s * 20_000, v)
                {
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
        small.observe(1, &key, MetricKind::Gauge, t0, 1.0);
        small.observe(2, &key, MetricKind::Gauge, t0, 1.0);
        assert_eq!(small.len(), 1);
    }

    fn key() -> Arc<SeriesKey> {
        Arc::new(SeriesKey {
            name: "m".into(),
            labels: Default::default(),
        })
    }

    #[test]
    fn a_counter_is_watched_by_its_rate() {
        let mut input = MinuteInput::new(MetricKind::Counter);
        assert_eq!(input.value(10.0, 2, (60_000, 100.0)), None, "no rate yet");
        assert_eq!(input.value(0.0, 2, (120_000, 700.0)), Some(10.0));
        // A reset counts from zero.
        assert_eq!(input.value(0.0, 1, (180_000, 60.0)), Some(1.0));
        let mut gauge = MinuteInput::new(MetricKind::Gauge);
        assert_eq!(gauge.value(9.0, 3, (0, 0.0)), Some(3.0));
        assert_eq!(gauge.value(0.0, 0, (0, 0.0)), None);
    }

    #[test]
    fn a_rebuilt_detector_takes_over_after_replaying_the_minutes_closed_meanwhile() {
        let minute = |m: i64| 1_700_000_040_000 + m * 60_000;
        let stored: Vec<RollupRow> = (0..200)
            .map(|m| RollupRow {
                series_id: 7,
                bucket: minute(m - 200),
                count: 1,
                sum: 5.0,
                min: 5.0,
                max: 5.0,
                last: 5.0,
                last_ts: minute(m - 200),
            })
            .collect();
        let mut watch = AnomalyWatch::new(10);
        watch.start_warming();
        // Ingest goes on while the detector is rebuilt: minutes 0..=9 close.
        for m in 0..=10 {
            watch.observe(7, &key(), MetricKind::Gauge, minute(m), 5.0);
        }
        assert_eq!(watch.learnt(7), Some(10));
        watch.install(7, rebuild(MetricKind::Gauge, &stored, &[]), minute(0));
        assert_eq!(
            watch.learnt(7),
            Some(210),
            "200 stored + 10 replayed minutes"
        );
        watch.finish_warming();
        // A series that sent nothing since the restart is installed as it was rebuilt.
        watch.install(8, rebuild(MetricKind::Gauge, &stored, &[]), minute(0));
        assert_eq!(watch.learnt(8), Some(200));
        // Samples from before the rebuilt range's end were part of it.
        assert!(watch
            .observe(8, &key(), MetricKind::Gauge, minute(-1), 1e9)
            .is_none());
        assert_eq!(watch.learnt(8), Some(200));
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

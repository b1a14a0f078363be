//! A faithful re-implementation of the Numenta Anomaly Benchmark (NAB v1.1) scorer.
//!
//! It follows NAB's published rules (`nab/sweeper.py`, `nab/optimizer.py`, `nab/runner.py`):
//!
//! * The first `min(floor(0.15·n), 750)` rows of each file are probationary and ignored.
//! * Every scorable row gets a *sweep weight*: inside an anomaly window it is the scaled sigmoid
//!   of its relative position (`+tpWeight` at the window's first row, towards 0 at its last);
//!   outside it is `fpWeight ×` the scaled sigmoid of its distance past the previous window
//!   (`−fpWeight` if no window precedes it or it is ≥ 3 window widths away).
//! * At a threshold `t`, rows with anomaly score `≥ t` are detections. A window counts the best
//!   (i.e. earliest) of its detections, or `−fnWeight` if it has none; every detection outside a
//!   window adds its (negative) weight.
//! * One threshold per profile for the whole corpus: every distinct anomaly score is tried (plus
//!   1.1, "never fire") and the best total kept.
//! * Normalised score = `100·(S − S_null)/(S_perfect − S_null)`, where the null detector emits a
//!   constant 0.5 and `S_perfect = tpWeight × number of labelled windows`.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// Cost weights of one NAB application profile.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Profile {
    pub name: &'static str,
    pub tp_weight: f64,
    pub fp_weight: f64,
    pub fn_weight: f64,
}

pub const STANDARD: Profile = Profile {
    name: "standard",
    tp_weight: 1.0,
    fp_weight: 0.11,
    fn_weight: 1.0,
};
pub const REWARD_LOW_FP_RATE: Profile = Profile {
    name: "reward_low_FP_rate",
    tp_weight: 1.0,
    fp_weight: 0.22,
    fn_weight: 1.0,
};
pub const REWARD_LOW_FN_RATE: Profile = Profile {
    name: "reward_low_FN_rate",
    tp_weight: 1.0,
    fp_weight: 0.11,
    fn_weight: 2.0,
};
/// NAB's three published profiles.
pub const PROFILES: [Profile; 3] = [STANDARD, REWARD_LOW_FP_RATE, REWARD_LOW_FN_RATE];

/// Fraction of each file that is probationary.
pub const PROBATION_PERCENT: f64 = 0.15;

/// Number of leading rows that are not scored: `min(floor(0.15·n), 0.15·5000)`.
pub fn probation_len(n: usize) -> usize {
    let by_share = (PROBATION_PERCENT * n as f64).floor();
    by_share.min(PROBATION_PERCENT * 5000.0) as usize
}

/// NAB's scaled sigmoid of a relative position: `2·σ(−5x) − 1`, and exactly −1 from `x ≥ 3`.
///
/// `x = −1` is a window's left edge (0.98661), `x = 0` its right edge (0), `x > 0` lies past it.
pub fn scaled_sigmoid(x: f64) -> f64 {
    if x >= 3.0 {
        -1.0
    } else {
        2.0 / (1.0 + (5.0 * x).exp()) - 1.0
    }
}

/// Ground truth of one series: its length and its anomaly windows as inclusive row ranges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeriesLabels {
    pub len: usize,
    /// Sorted, non-overlapping `(first_row, last_row)` pairs.
    pub windows: Vec<(usize, usize)>,
}

/// One scorable (post-probation) row, as NAB's `AnomalyPoint`.
#[derive(Debug, Clone, Copy)]
struct Row {
    anomaly: f64,
    weight: f64,
    /// Corpus-wide window id if the row lies inside a window.
    window: Option<usize>,
}

/// NAB's `calcSweepScore`: appends the scorable rows of one file to `out`.
///
/// `first_window_id` makes window ids unique across a corpus; returns the next free id.
fn sweep_rows(
    labels: &SeriesLabels,
    scores: &[f64],
    profile: &Profile,
    first_window_id: usize,
    out: &mut Vec<Row>,
) -> usize {
    assert_eq!(labels.len, scores.len(), "one anomaly score per row");
    let max_tp = scaled_sigmoid(-1.0);
    let probation = probation_len(labels.len);
    let mut next_window = 0usize; // index into labels.windows
    let mut current: Option<(usize, usize, usize)> = None; // (left, right, local id)
    let mut previous: Option<(usize, usize)> = None; // (right, width)
    for (i, &anomaly) in scores.iter().enumerate() {
        if current.is_none() {
            if let Some(&(left, right)) = labels.windows.get(next_window) {
                if i == left {
                    current = Some((left, right, next_window));
                    next_window += 1;
                }
            }
        }
        let (weight, window) = match current {
            Some((left, right, id)) => {
                let width = (right - left + 1) as f64;
                let position = -((right as f64 - i as f64 + 1.0) / width);
                (
                    scaled_sigmoid(position) * profile.tp_weight / max_tp,
                    Some(first_window_id + id),
                )
            }
            None => {
                let position = match previous {
                    // NAB divides by (width − 1); a one-row window would divide by zero there.
                    Some((right, width)) if width > 1 => (i - right) as f64 / (width - 1) as f64,
                    _ => 3.0,
                };
                (scaled_sigmoid(position) * profile.fp_weight, None)
            }
        };
        if i >= probation {
            out.push(Row {
                anomaly,
                weight,
                window,
            });
        }
        if let Some((left, right, _)) = current {
            if i == right {
                previous = Some((right, right - left + 1));
                current = None;
            }
        }
    }
    first_window_id + labels.windows.len()
}

/// Total score of one threshold of a sweep.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ThresholdScore {
    pub threshold: f64,
    pub score: f64,
    pub tp: usize,
    pub fp: usize,
}

/// NAB's `calcScoreByThreshold`: the total score for every distinct anomaly score taken as the
/// threshold, highest first, starting with 1.1 (no detection at all).
fn sweep(mut rows: Vec<Row>, fn_weight: f64) -> Vec<ThresholdScore> {
    rows.sort_by(|a, b| b.anomaly.partial_cmp(&a.anomaly).unwrap_or(Ordering::Equal));
    let mut window_part: BTreeMap<usize, f64> = BTreeMap::new();
    for row in &rows {
        if let Some(id) = row.window {
            window_part.insert(id, -fn_weight);
        }
    }
    let mut total: f64 = window_part.values().sum();
    let (mut tp, mut fp) = (0usize, 0usize);
    let mut threshold = 1.1;
    let mut out = Vec::new();
    for row in &rows {
        if row.anomaly != threshold {
            out.push(ThresholdScore {
                threshold,
                score: total,
                tp,
                fp,
            });
            threshold = row.anomaly;
        }
        match row.window {
            Some(id) => {
                tp += 1;
                let part = window_part.get_mut(&id).expect("window registered above");
                if row.weight > *part {
                    total += row.weight - *part;
                    *part = row.weight;
                }
            }
            None => {
                fp += 1;
                total += row.weight;
            }
        }
    }
    out.push(ThresholdScore {
        threshold,
        score: total,
        tp,
        fp,
    });
    out
}

/// One file's anomaly scores with its labels.
#[derive(Debug, Clone, Copy)]
pub struct ScoredSeries<'a> {
    pub labels: &'a SeriesLabels,
    pub scores: &'a [f64],
}

/// Best corpus-wide threshold of a profile (NAB's `optimizeThreshold`).
///
/// Ties keep the highest threshold, as NAB's stable sort of the sweep does.
pub fn optimize_threshold(corpus: &[ScoredSeries<'_>], profile: &Profile) -> ThresholdScore {
    let mut rows = Vec::new();
    let mut next_id = 0;
    for s in corpus {
        next_id = sweep_rows(s.labels, s.scores, profile, next_id, &mut rows);
    }
    let all = sweep(rows, profile.fn_weight);
    let mut best = all[0];
    for t in &all[1..] {
        if t.score > best.score {
            best = *t;
        }
    }
    best
}

/// Score of one file at a fixed threshold, with its detection counts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FileScore {
    pub score: f64,
    /// Scorable rows at or above the threshold.
    pub detections: usize,
    /// Of those, rows outside every window.
    pub false_positives: usize,
    /// Windows with at least one detection.
    pub windows_hit: usize,
    /// Windows with at least one scorable row.
    pub windows_scored: usize,
}

/// NAB's `scoreDataSet`: the score of one file at `threshold` (rows with score ≥ threshold fire).
pub fn score_file(
    labels: &SeriesLabels,
    scores: &[f64],
    profile: &Profile,
    threshold: f64,
) -> FileScore {
    let mut rows = Vec::new();
    sweep_rows(labels, scores, profile, 0, &mut rows);
    let mut best: BTreeMap<usize, Option<f64>> = BTreeMap::new();
    let mut score = 0.0;
    let (mut detections, mut false_positives) = (0, 0);
    for row in &rows {
        if let Some(id) = row.window {
            best.entry(id).or_insert(None);
        }
        if row.anomaly < threshold {
            continue;
        }
        detections += 1;
        match row.window {
            Some(id) => {
                let part = best.get_mut(&id).expect("inserted above");
                *part = Some(part.map_or(row.weight, |p| p.max(row.weight)));
            }
            None => {
                false_positives += 1;
                score += row.weight;
            }
        }
    }
    let mut windows_hit = 0;
    for part in best.values() {
        match part {
            Some(w) => {
                windows_hit += 1;
                score += w;
            }
            None => score -= profile.fn_weight,
        }
    }
    FileScore {
        score,
        detections,
        false_positives,
        windows_hit,
        windows_scored: best.len(),
    }
}

/// Result of scoring a corpus with one profile.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProfileResult {
    pub profile: Profile,
    pub threshold: f64,
    pub raw_score: f64,
    pub null_score: f64,
    pub perfect_score: f64,
    /// `100·(raw − null)/(perfect − null)`.
    pub normalized: f64,
}

/// Optimises the threshold and normalises against the null and perfect detectors.
pub fn evaluate(corpus: &[ScoredSeries<'_>], profile: &Profile) -> ProfileResult {
    let best = optimize_threshold(corpus, profile);
    let null_scores: Vec<Vec<f64>> = corpus.iter().map(|s| vec![0.5; s.labels.len]).collect();
    let null_corpus: Vec<ScoredSeries<'_>> = corpus
        .iter()
        .zip(&null_scores)
        .map(|(s, scores)| ScoredSeries {
            labels: s.labels,
            scores,
        })
        .collect();
    let null_score = optimize_threshold(&null_corpus, profile).score;
    let windows: usize = corpus.iter().map(|s| s.labels.windows.len()).sum();
    let perfect_score = windows as f64 * profile.tp_weight;
    let normalized = 100.0 * (best.score - null_score) / (perfect_score - null_score);
    ProfileResult {
        profile: *profile,
        threshold: best.threshold,
        raw_score: best.score,
        null_score,
        perfect_score,
        normalized,
    }
}

// ---------------------------------------------------------------------------------------------
// Loading the NAB data folder.

/// One labelled NAB series.
#[derive(Debug, Clone)]
pub struct NabFile {
    /// `<category>/<file>.csv`.
    pub name: String,
    pub timestamps_ms: Vec<i64>,
    pub values: Vec<f64>,
    pub labels: SeriesLabels,
}

/// Error while reading the NAB folder.
#[derive(Debug)]
pub struct LoadError(pub String);

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for LoadError {}

/// Parses `YYYY-MM-DD HH:MM:SS[.ffffff]` (UTC; `T` may separate date and time) into
/// milliseconds since the Unix epoch.
pub fn parse_timestamp(s: &str) -> Option<i64> {
    let s = s.trim();
    ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"]
        .iter()
        .find_map(|format| chrono::NaiveDateTime::parse_from_str(s, format).ok())
        .map(|t| t.and_utc().timestamp_millis())
}

/// The corpus of this checkout: `../shared/nab` beside the repository root.
pub fn default_dir() -> PathBuf {
    // server/detect → repository root → ../shared/nab
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/nab")
}

/// Loads the corpus from `dir`, or from [`default_dir`]; the error says where it looked.
pub fn open(dir: Option<PathBuf>) -> Result<(PathBuf, Vec<NabFile>), String> {
    let dir = dir.unwrap_or_else(default_dir);
    match load_corpus(&dir) {
        Ok(files) => Ok((dir, files)),
        Err(e) => Err(format!("cannot load NAB data from {}: {e}", dir.display())),
    }
}

/// Reads `combined_windows.json` and every `data/<name>` it lists, in name order.
pub fn load_corpus(dir: &Path) -> Result<Vec<NabFile>, LoadError> {
    let windows_path = dir.join("combined_windows.json");
    let text = std::fs::read_to_string(&windows_path)
        .map_err(|e| LoadError(format!("{}: {e}", windows_path.display())))?;
    let all: BTreeMap<String, Vec<(String, String)>> = serde_json::from_str(&text)
        .map_err(|e| LoadError(format!("{}: {e}", windows_path.display())))?;
    let mut files = Vec::with_capacity(all.len());
    for (name, limits) in all {
        let path = dir.join("data").join(&name);
        let csv = std::fs::read_to_string(&path)
            .map_err(|e| LoadError(format!("{}: {e}", path.display())))?;
        let (mut timestamps_ms, mut values) = (Vec::new(), Vec::new());
        for (n, line) in csv.lines().enumerate().skip(1) {
            if line.trim().is_empty() {
                continue;
            }
            let bad = || LoadError(format!("{}:{}: bad row {line:?}", path.display(), n + 1));
            let (ts, value) = line.split_once(',').ok_or_else(bad)?;
            timestamps_ms.push(parse_timestamp(ts).ok_or_else(bad)?);
            values.push(value.trim().parse::<f64>().map_err(|_| bad())?);
        }
        let mut windows = Vec::with_capacity(limits.len());
        for (start, end) in &limits {
            let bad = || LoadError(format!("{name}: bad window [{start}, {end}]"));
            let (t1, t2) = (
                parse_timestamp(start).ok_or_else(bad)?,
                parse_timestamp(end).ok_or_else(bad)?,
            );
            let first = timestamps_ms.partition_point(|&t| t < t1);
            let last = timestamps_ms.partition_point(|&t| t <= t2);
            if first >= last {
                return Err(bad());
            }
            windows.push((first, last - 1));
        }
        windows.sort_unstable();
        let labels = SeriesLabels {
            len: values.len(),
            windows,
        };
        files.push(NabFile {
            name,
            timestamps_ms,
            values,
            labels,
        });
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn corpus() -> Vec<SeriesLabels> {
        vec![
            SeriesLabels {
                len: 1000,
                windows: vec![(300, 349), (700, 739)],
            },
            SeriesLabels {
                len: 400,
                windows: vec![(200, 219)],
            },
            SeriesLabels {
                len: 500,
                windows: vec![],
            },
        ]
    }

    fn scored<'a>(labels: &'a [SeriesLabels], scores: &'a [Vec<f64>]) -> Vec<ScoredSeries<'a>> {
        labels
            .iter()
            .zip(scores)
            .map(|(labels, s)| ScoredSeries { labels, scores: s })
            .collect()
    }

    #[test]
    fn sigmoid_matches_nab_reference_points() {
        assert!((scaled_sigmoid(-1.0) - 0.986_614).abs() < 1e-6);
        assert!((scaled_sigmoid(-0.5) - 0.848_283).abs() < 1e-6);
        assert!(scaled_sigmoid(0.0).abs() < 1e-12);
        assert!((scaled_sigmoid(1.0) + 0.986_614).abs() < 1e-6);
        assert_eq!(scaled_sigmoid(3.0), -1.0);
        assert_eq!(scaled_sigmoid(10.0), -1.0);
        // Monotonically decreasing: earlier detections are worth more.
        let mut prev = f64::INFINITY;
        for k in -40..30 {
            let v = scaled_sigmoid(k as f64 / 10.0);
            assert!(v < prev);
            prev = v;
        }
    }

    #[test]
    fn probation_is_fifteen_percent_capped_at_750() {
        assert_eq!(probation_len(0), 0);
        assert_eq!(probation_len(1000), 150);
        assert_eq!(probation_len(1244), 186);
        assert_eq!(probation_len(4033), 604);
        assert_eq!(probation_len(5000), 750);
        assert_eq!(probation_len(22_696), 750);
    }

    #[test]
    fn probationary_rows_are_never_scored() {
        let labels = SeriesLabels {
            len: 1000,
            windows: vec![],
        };
        let mut scores = vec![0.0; 1000];
        scores[..150].iter_mut().for_each(|s| *s = 1.0);
        let result = score_file(&labels, &scores, &STANDARD, 0.5);
        assert_eq!(result.detections, 0);
        assert_eq!(result.score, 0.0);
        scores[150] = 1.0;
        let result = score_file(&labels, &scores, &STANDARD, 0.5);
        assert_eq!(result.detections, 1);
        assert!((result.score + 0.11).abs() < 1e-12);
    }

    #[test]
    fn perfect_detector_scores_100_and_null_scores_0() {
        let labels = corpus();
        let perfect: Vec<Vec<f64>> = labels
            .iter()
            .map(|l| {
                let mut s = vec![0.0; l.len];
                for &(first, _) in &l.windows {
                    s[first] = 1.0;
                }
                s
            })
            .collect();
        let null: Vec<Vec<f64>> = labels.iter().map(|l| vec![0.5; l.len]).collect();
        for profile in &PROFILES {
            let p = evaluate(&scored(&labels, &perfect), profile);
            assert!((p.normalized - 100.0).abs() < 1e-9, "{profile:?}: {p:?}");
            assert_eq!(p.threshold, 1.0);
            let n = evaluate(&scored(&labels, &null), profile);
            assert!(n.normalized.abs() < 1e-9, "{profile:?}: {n:?}");
            assert_eq!(n.null_score, -3.0 * profile.fn_weight);
        }
    }

    #[test]
    fn earliest_detection_counts_and_false_positives_decay_after_windows() {
        let labels = SeriesLabels {
            len: 1000,
            windows: vec![(300, 349)],
        };
        // Detection in the middle of the window: position −(349 − 325 + 1)/50 = −0.5.
        let mut scores = vec![0.0; 1000];
        scores[325] = 1.0;
        scores[340] = 1.0;
        let r = score_file(&labels, &scores, &STANDARD, 1.0);
        let expected = scaled_sigmoid(-0.5) / scaled_sigmoid(-1.0);
        assert!((r.score - expected).abs() < 1e-12);
        assert_eq!((r.detections, r.windows_hit, r.false_positives), (2, 1, 0));
        // A false positive 10 rows after the window costs fp·σ(10/49), far away the full fp.
        let mut scores = vec![0.0; 1000];
        scores[359] = 1.0;
        scores[900] = 1.0;
        let r = score_file(&labels, &scores, &STANDARD, 1.0);
        let expected = -1.0 + 0.11 * scaled_sigmoid(10.0 / 49.0) - 0.11;
        assert!((r.score - expected).abs() < 1e-12, "{r:?}");
        assert_eq!(r.false_positives, 2);
    }

    #[test]
    fn threshold_sweep_agrees_with_fixed_threshold_scoring() {
        let labels = corpus();
        // A deterministic pseudo-random detector.
        let mut x = 12345u64;
        let scores: Vec<Vec<f64>> = labels
            .iter()
            .map(|l| {
                (0..l.len)
                    .map(|_| {
                        x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                        ((x >> 33) % 1000) as f64 / 1000.0
                    })
                    .collect()
            })
            .collect();
        let corpus = scored(&labels, &scores);
        let best = optimize_threshold(&corpus, &STANDARD);
        let total: f64 = labels
            .iter()
            .zip(&scores)
            .map(|(l, s)| score_file(l, s, &STANDARD, best.threshold).score)
            .sum();
        assert!((total - best.score).abs() < 1e-9);
        for t in [0.2, 0.9, 0.999] {
            let at_t: f64 = labels
                .iter()
                .zip(&scores)
                .map(|(l, s)| score_file(l, s, &STANDARD, t).score)
                .sum();
            assert!(at_t <= best.score + 1e-9);
        }
    }

    #[test]
    fn timestamps_parse_as_utc() {
        assert_eq!(parse_timestamp("1970-01-01 00:00:00"), Some(0));
        assert_eq!(
            parse_timestamp("2014-04-01 00:00:00"),
            Some(1_396_310_400_000)
        );
        assert_eq!(
            parse_timestamp("2014-04-10 07:15:00.000000"),
            Some(1_397_114_100_000)
        );
        assert_eq!(
            parse_timestamp("2011-07-01 00:15:01"),
            Some(1_309_479_301_000)
        );
        assert_eq!(parse_timestamp("nonsense"), None);
    }
}

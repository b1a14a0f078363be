//! Osprey's streaming anomaly detection: pure code, no web or database types.
//!
//! [`Detector`] scores one series point by point, causally (no look-ahead), learning online with
//! one default [`Config`] for every series and a small fixed-size state (no heap at all).
//!
//! How a point is scored:
//!
//! 1. **Forecasters.** Three cheap models predict the value: the median of the recent points
//!    (level, robust to spikes), a time-of-day profile and a day-of-week×hour profile (both with
//!    a fast level offset, so level shifts are absorbed). Each keeps a running mean absolute
//!    error; the model with the lowest error is trusted, so a seasonal series is judged against
//!    its season and a random walk against its recent level.
//! 2. **Raw surprise.** A model's error in units of its typical error gives a robust z;
//!    `z²/(z²+k²)` maps it into [0, 1). The trusted model and any model almost as accurate
//!    (within [`Config::model_ratio`]) score the point and the highest surprise counts, so a
//!    break in the daily pattern is seen even when the recent level predicts as well. A value in
//!    a rarely visited part of the range (a decaying histogram of values) adds a moderate
//!    novelty surprise. A value more than 5 % of the range outside everything seen so far
//!    (HTM's "spatial anomaly") is maximally surprising and alarms at once, and so is a value
//!    repeated for markedly longer than any earlier run of one value in a varying series (a
//!    stuck sensor, a counter that stopped).
//! 3. **Anomaly likelihood** (as in Numenta's HTM detector): the mean raw surprise of the last
//!    few points is compared with the long-run distribution of that mean. A series that is
//!    always noisy thus stops alarming, while a short burst of surprise in a calm series is
//!    rare. More channels, each judged against its own long-run distribution, can lower the
//!    tail probability (the smallest counts): the mean raw surprise of the last two points (a
//!    spike of one or two points that the longer mean dilutes), how extreme one point's
//!    deviation is (`ln(1 + z)`, which the bounded raw surprise cannot tell apart once it
//!    saturates), and a downsampled level channel (means of blocks of points against the
//!    median of the recent blocks) that sees slow drifts and sustained shifts the per-point
//!    models absorb. The tail probability `q` is reported as `ln(q)/ln(1e-10)`, so 0.5 ≈ a
//!    1-in-10⁵ event.
//! 4. **Alert filter** (after HTM's): once a point is in the red zone, later red points are
//!    lowered to the yellow level until the surprise has fallen back out of the yellow zone, so
//!    one incident raises one alert, not a stream of them.
//!
//! [`nab`] holds a faithful scorer of the Numenta Anomaly Benchmark used to tune the defaults.

pub mod forecast;
pub mod nab;
mod stats;

use stats::{normal_tail, Ewm, EwmVar, Ring};

/// Capacity of the recent-values buffer (an upper bound on [`Config::median_len`]).
const RECENT: usize = 32;
/// Capacity of the raw-surprise buffer (an upper bound on [`Config::short_window`]).
const SHORT: usize = 16;
/// Time-of-day buckets (15 minutes each).
const DAY_BUCKETS: usize = 96;
/// Day-of-week × hour buckets.
const WEEK_BUCKETS: usize = 168;
/// Tail probability reported for a spatial anomaly (score 0.9).
const SPATIAL_TAIL: f64 = 1e-9;
const DAY_MS: i64 = 86_400_000;
const WEEK_MS: i64 = 7 * DAY_MS;

/// Tuning of a [`Detector`]. The defaults are corpus-level choices, not per-series tuning.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Config {
    /// Recent points whose median is the level forecast (≤ 32).
    pub median_len: usize,
    /// Weight of a new absolute error in each model's running error scale.
    pub error_alpha: f64,
    /// Weight of a new point in its seasonal bucket's mean.
    pub season_alpha: f64,
    /// Weight of a new residual in a seasonal model's level offset.
    pub offset_alpha: f64,
    /// Robust z at which the raw surprise is one half.
    pub surprise_z: f64,
    /// How far beyond the range seen so far (as a share of that range) is a spatial anomaly.
    pub spatial_tolerance: f64,
    /// Raw surprises averaged for the likelihood (≤ 16).
    pub short_window: usize,
    /// Raw surprises averaged for the fast likelihood channel (≤ 16; 0 turns it off).
    pub fast_window: usize,
    /// Factor on the fast channel's standardised average (below 1 it speaks only when
    /// clearly more extreme than the main channel).
    pub fast_weight: f64,
    /// Weight of a new average in the long-run distribution of averages.
    pub long_alpha: f64,
    /// Points learnt before any score above 0 is reported.
    pub learning_points: u32,
    /// Floor of the long-run standard deviation of averaged surprise.
    pub min_sigma: f64,
    /// Tail probability of the red zone (alert).
    pub red_tail: f64,
    /// Tail probability a repeated red point is lowered to; an incident lasts until the tail
    /// probability is back above it.
    pub yellow_tail: f64,
    /// After an alert, further red points within this many points are lowered to yellow.
    pub refractory_points: u32,
    /// Width of the `[lower, upper]` band in robust standard deviations.
    pub band_sigmas: f64,
    /// Forecasters whose running error is within this factor of the best one's also score
    /// the point; the highest surprise counts (1: only the best).
    pub model_ratio: f64,
    /// Raw surprise of a value in a never-seen part of the range (0 turns novelty off).
    pub novelty_weight: f64,
    /// Decay per point of the value histogram's counts.
    pub novelty_alpha: f64,
    /// Count of a value bin at which its novelty has fallen to 1/e.
    pub novelty_count: f64,
    /// A run of one repeated value alarms when it becomes this many times longer than the
    /// longest earlier run (0 turns the check off)...
    pub stuck_factor: f64,
    /// ...and at least this many points long.
    pub stuck_points: u32,
    /// Factor on the standardised `ln(1 + z)` of a single point in the extreme-point channel
    /// (0 turns it off; below 1 it allows for the heavy tail of that distribution).
    pub extreme_weight: f64,
    /// Points per block of the downsampled level channel (0 turns it off).
    pub block_len: u32,
    /// Block means whose median forecasts the next block mean (≤ 8).
    pub block_median: usize,
    /// Factor on the standardised block surprise in the downsampled channel.
    pub block_weight: f64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            median_len: 9,
            error_alpha: 0.01,
            season_alpha: 0.1,
            offset_alpha: 0.1,
            surprise_z: 5.0,
            spatial_tolerance: 0.05,
            short_window: 10,
            fast_window: 2,
            fast_weight: 0.5,
            long_alpha: 1.0 / 2000.0,
            learning_points: 150,
            min_sigma: 0.02,
            red_tail: 1e-5,
            yellow_tail: 1e-2,
            refractory_points: 0,
            band_sigmas: 3.0,
            model_ratio: 1.2,
            novelty_weight: 0.3,
            novelty_alpha: 0.001,
            novelty_count: 3.0,
            stuck_factor: 1.2,
            stuck_points: 30,
            extreme_weight: 0.4,
            block_len: 8,
            block_median: 8,
            block_weight: 0.7,
        }
    }
}

/// [`Detector::tolerate`] widens the margin to this many times the tolerated deviation.
const TOLERANCE_FACTOR: f64 = 1.25;
/// Points over which feedback's margin halves: repeated false alarms keep it wide while a
/// single one is forgotten within a few days of points, so a real anomaly of that size later
/// still alarms. Measured with `nab-eval --feedback` (BENCHMARKS.md).
pub const TOLERANCE_HALF_LIFE: f64 = 288.0;
/// Per point, the margin keeps this share of itself (≈ 0.5^(1/half-life)).
const TOLERANCE_DECAY: f64 = 1.0 - std::f64::consts::LN_2 / TOLERANCE_HALF_LIFE;

/// The widest margin feedback can set, in standard deviations.
pub const MAX_TOLERANCE: f64 = 12.0;

/// The verdict on one point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Score {
    /// Anomaly score in [0, 1]; 0.5 corresponds to a 1-in-10⁵ surprise.
    pub score: f64,
    /// The trusted model's forecast of this point.
    pub expected: f64,
    /// Lower edge of the normal band.
    pub lower: f64,
    /// Upper edge of the normal band.
    pub upper: f64,
}

impl Score {
    /// How far `value` lies from the expected one, in the detector's standard deviations
    /// (the band is ±[`Config::band_sigmas`] of them); infinite when the band is empty.
    pub fn sigmas(value: f64, expected: f64, upper: f64, band_sigmas: f64) -> f64 {
        let sigma = (upper - expected) / band_sigmas;
        if sigma > 0.0 {
            (value - expected).abs() / sigma
        } else {
            f64::INFINITY
        }
    }
}

/// A seasonal profile: a mean per bucket of the period plus a fast level offset.
#[derive(Debug, Clone, Copy)]
struct Seasonal<const N: usize> {
    mean: [f32; N],
    seen: [bool; N],
    period_ms: i64,
    offset: f64,
    error: Ewm,
}

impl<const N: usize> Seasonal<N> {
    const fn new(period_ms: i64) -> Self {
        Self {
            mean: [0.0; N],
            seen: [false; N],
            period_ms,
            offset: 0.0,
            error: Ewm::new(),
        }
    }

    fn bucket(&self, ts_ms: i64) -> usize {
        let phase = ts_ms.rem_euclid(self.period_ms);
        (phase as i128 * N as i128 / self.period_ms as i128) as usize
    }

    /// Forecast once two full periods have been seen and the bucket has data.
    fn forecast(&self, ts_ms: i64, age_ms: i64) -> Option<f64> {
        let b = self.bucket(ts_ms);
        (age_ms >= 2 * self.period_ms && self.seen[b])
            .then(|| f64::from(self.mean[b]) + self.offset)
    }

    fn learn(&mut self, ts_ms: i64, x: f64, cfg: &Config) {
        let b = self.bucket(ts_ms);
        if self.seen[b] {
            let m = f64::from(self.mean[b]);
            self.offset += cfg.offset_alpha * ((x - m) - self.offset);
            self.mean[b] = (m + cfg.season_alpha * (x - m)) as f32;
        } else {
            self.seen[b] = true;
            self.mean[b] = (x - self.offset) as f32;
        }
    }
}

/// Bins of the value-novelty histogram over the range seen so far.
const NOVELTY_BINS: usize = 16;

/// How rarely values like the current one have been seen: decaying counts over bins of the
/// range seen so far, the value memory that HTM and CAD OSE encoders provide. It catches a
/// series that settles at an unusual level which the forecasters quickly learn to predict.
#[derive(Debug, Clone, Copy)]
struct Novelty {
    counts: [f32; NOVELTY_BINS],
}

impl Novelty {
    const fn new() -> Self {
        Self {
            counts: [0.0; NOVELTY_BINS],
        }
    }

    /// Novelty of `x` in (0, 1] (1 for a never-seen bin), then learns `x`. Needs `max > min`.
    fn update(&mut self, x: f64, min: f64, max: f64, cfg: &Config) -> f64 {
        let u = (x - min) / (max - min) * NOVELTY_BINS as f64;
        let b = (u.max(0.0) as usize).min(NOVELTY_BINS - 1);
        let novelty = (-f64::from(self.counts[b]) / cfg.novelty_count).exp();
        let keep = (1.0 - cfg.novelty_alpha) as f32;
        for c in &mut self.counts {
            *c *= keep;
        }
        self.counts[b] += 1.0;
        novelty
    }
}

/// Capacity of the block-mean buffer (an upper bound on [`Config::block_median`]).
const BLOCKS: usize = 8;

/// The downsampled level channel: the mean of each block of [`Config::block_len`] points is
/// forecast by the median of the recent block means, and the surprise of its error (averaged
/// over two blocks) is judged against its own long-run distribution, like the per-point
/// likelihood. A drift or shift that the per-point models follow step by step still leaves
/// block means far from the recent ones; judged on its own, this channel's noise does not
/// dilute the per-point surprise.
#[derive(Debug, Clone, Copy)]
struct Blocks {
    sum: f64,
    in_block: u32,
    means: Ring<BLOCKS>,
    error: Ewm,
    /// Surprise of the last complete block.
    surprise: f64,
    averages: EwmVar,
}

impl Blocks {
    const fn new() -> Self {
        Self {
            sum: 0.0,
            in_block: 0,
            means: Ring::new(),
            error: Ewm::new(),
            surprise: 0.0,
            averages: EwmVar::new(),
        }
    }

    /// Learns `x`; at the end of a block, the tail probability of the block's surprise
    /// (1 elsewhere). `floor` keeps a flat line's zero error scale from dividing by 0.
    fn update(&mut self, x: f64, floor: f64, cfg: &Config) -> f64 {
        if cfg.block_len == 0 {
            return 1.0;
        }
        self.sum += x;
        self.in_block += 1;
        if self.in_block < cfg.block_len {
            return 1.0;
        }
        let mean = self.sum / f64::from(self.in_block);
        self.sum = 0.0;
        self.in_block = 0;
        let previous = self.surprise;
        self.surprise = 0.0;
        if let Some(f) = self.means.median_of_last(cfg.block_median) {
            if self.error.n >= 10 {
                let z = (mean - f).abs() / (1.2533 * self.error.mean + floor);
                let k2 = cfg.surprise_z * cfg.surprise_z;
                self.surprise = z * z / (z * z + k2);
            }
            // The same memory in points as the per-point models.
            let alpha = (cfg.error_alpha * f64::from(cfg.block_len)).min(0.5);
            self.error.update((mean - f).abs(), alpha);
        }
        self.means.push(mean as f32);
        let avg = 0.5 * (self.surprise + previous);
        let mut tail = 1.0;
        if self.averages.n >= 20 {
            let sigma = self.averages.var.sqrt().max(cfg.min_sigma);
            tail = normal_tail(cfg.block_weight * (avg - self.averages.mean) / sigma);
        }
        let alpha = (cfg.long_alpha * f64::from(cfg.block_len)).min(0.5);
        self.averages.update(avg, alpha);
        tail
    }
}

/// Floor of the standard deviation of `ln(1 + z)` in the extreme-point channel.
const MIN_LOG_Z_SIGMA: f64 = 0.05;

/// Runs of one repeated value. A varying series that repeats a value for markedly longer than
/// it ever did has probably stopped reporting real data: a stuck sensor, a dead counter.
#[derive(Debug, Clone, Copy)]
struct Runs {
    last: f64,
    /// Points in the current run of `last`.
    len: u32,
    /// The longest run that has ended.
    longest: u32,
}

impl Runs {
    const fn new() -> Self {
        Self {
            last: f64::NAN,
            len: 0,
            longest: 0,
        }
    }

    /// Learns `x`; true once per run, at the point where it becomes [`Config::stuck_factor`]
    /// times as long as the longest earlier run (and at least [`Config::stuck_points`] long).
    fn stuck(&mut self, x: f64, cfg: &Config) -> bool {
        if x == self.last {
            self.len = self.len.saturating_add(1);
        } else {
            self.longest = self.longest.max(self.len);
            self.last = x;
            self.len = 1;
        }
        let record = (f64::from(self.longest) * cfg.stuck_factor).ceil() as u32;
        cfg.stuck_factor > 0.0 && self.longest > 0 && self.len == record.max(cfg.stuck_points)
    }
}

/// Online anomaly-likelihood post-processing (the idea of Numenta's HTM detector).
#[derive(Debug, Clone, Copy)]
struct Likelihood {
    raw: Ring<SHORT>,
    averages: EwmVar,
    /// An alert was let through and the surprise has not yet fallen back out of the yellow
    /// zone since: the same incident.
    incident: bool,
    /// Points since the last alert that was let through.
    since_alert: u32,
    /// Long-run distribution of `ln(1 + z)` of single points (the extreme-point channel).
    log_z: EwmVar,
    /// Long-run distribution of the fast channel's averages.
    fast: EwmVar,
}

impl Likelihood {
    const fn new() -> Self {
        Self {
            raw: Ring::new(),
            averages: EwmVar::new(),
            incident: false,
            since_alert: u32::MAX,
            log_z: EwmVar::new(),
            fast: EwmVar::new(),
        }
    }

    /// Tail probability of the current short-term average surprise, or of the fast channel's,
    /// the point's robust `z` (NaN: none) or another channel's `other_tail` if lower, after
    /// the alert filter;
    /// `at_once` marks a spatial anomaly or a stuck series.
    fn update(
        &mut self,
        raw: f64,
        z: f64,
        other_tail: f64,
        learning: bool,
        at_once: bool,
        cfg: &Config,
    ) -> f64 {
        self.raw.push(raw as f32);
        let avg = self.raw.mean_of_last(cfg.short_window).unwrap_or(raw);
        // The channels' standardised deviations; the largest gives the tail probability (one
        // `normal_tail` per point: it is monotone).
        let mut deviation = f64::NEG_INFINITY;
        if !learning {
            let sigma = self.averages.var.sqrt().max(cfg.min_sigma);
            deviation = (avg - self.averages.mean) / sigma;
        }
        self.averages.update(avg, cfg.long_alpha);
        if cfg.fast_window > 0 {
            let fast = self.raw.mean_of_last(cfg.fast_window).unwrap_or(raw);
            if !learning {
                let sigma = self.fast.var.sqrt().max(cfg.min_sigma);
                deviation = deviation.max(cfg.fast_weight * (fast - self.fast.mean) / sigma);
            }
            self.fast.update(fast, cfg.long_alpha);
        }
        if cfg.extreme_weight > 0.0 && z.is_finite() {
            let log_z = z.ln_1p();
            if !learning {
                let sigma = self.log_z.var.sqrt().max(MIN_LOG_Z_SIGMA);
                deviation = deviation.max(cfg.extreme_weight * (log_z - self.log_z.mean) / sigma);
            }
            self.log_z.update(log_z, cfg.long_alpha);
        }
        let mut tail = 1.0;
        if !learning {
            tail = normal_tail(deviation);
            tail = tail.min(other_tail);
        }
        if at_once {
            // A new extreme is alarming however noisy the series usually is, as in HTM's
            // NAB detector; it still goes through the alert filter below.
            tail = tail.min(SPATIAL_TAIL);
        }
        self.since_alert = self.since_alert.saturating_add(1);
        if tail >= cfg.yellow_tail {
            // Back to ordinary surprise: the incident, if any, is over.
            self.incident = false;
        } else if tail < cfg.red_tail {
            if self.incident || self.since_alert <= cfg.refractory_points {
                tail = cfg.yellow_tail;
            } else {
                self.since_alert = 0;
                self.incident = true;
            }
        }
        tail
    }
}

/// Streaming anomaly detector for one series. See the crate documentation.
#[derive(Debug, Clone)]
pub struct Detector {
    cfg: Config,
    points: u32,
    first_ts: i64,
    recent: Ring<RECENT>,
    level_error: Ewm,
    day: Seasonal<DAY_BUCKETS>,
    week: Seasonal<WEEK_BUCKETS>,
    min: f64,
    max: f64,
    novelty: Novelty,
    likelihood: Likelihood,
    /// Deviations up to this many standard deviations were marked normal (feedback).
    tolerance: f64,
    runs: Runs,
    blocks: Blocks,
}

impl Default for Detector {
    fn default() -> Self {
        Self::new(Config::default())
    }
}

impl Detector {
    pub fn new(cfg: Config) -> Self {
        assert!(
            (1..=RECENT).contains(&cfg.median_len),
            "median_len must be in 1..={RECENT}"
        );
        assert!(
            (1..=SHORT).contains(&cfg.short_window),
            "short_window must be in 1..={SHORT}"
        );
        assert!(
            cfg.fast_window <= SHORT,
            "fast_window must be at most {SHORT}"
        );
        assert!(
            (1..=BLOCKS).contains(&cfg.block_median),
            "block_median must be in 1..={BLOCKS}"
        );
        Self {
            cfg,
            points: 0,
            first_ts: 0,
            recent: Ring::new(),
            level_error: Ewm::new(),
            day: Seasonal::new(DAY_MS),
            week: Seasonal::new(WEEK_MS),
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            novelty: Novelty::new(),
            likelihood: Likelihood::new(),
            tolerance: 0.0,
            runs: Runs::new(),
            blocks: Blocks::new(),
        }
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// Points learnt so far.
    pub fn points(&self) -> u32 {
        self.points
    }

    /// Feedback that a deviation of `sigmas` (see [`Score::sigmas`]) was normal for this series:
    /// from now on deviations are measured beyond a margin a little wider than it, so a similar
    /// one surprises no more than ordinary noise while a larger one still alarms. Repeated
    /// feedback keeps the widest margin, up to [`MAX_TOLERANCE`] deviations.
    pub fn tolerate(&mut self, sigmas: f64) {
        if sigmas.is_finite() && sigmas > 0.0 {
            self.tolerance = self
                .tolerance
                .max((TOLERANCE_FACTOR * sigmas).min(MAX_TOLERANCE));
        }
    }

    /// Scores `value` observed at `ts_ms` (Unix milliseconds, non-decreasing), then learns it.
    pub fn update(&mut self, ts_ms: i64, value: f64) -> Score {
        let cfg = self.cfg;
        if !value.is_finite() {
            return Score {
                score: 0.0,
                expected: value,
                lower: value,
                upper: value,
            };
        }
        if self.points == 0 {
            self.first_ts = ts_ms;
        }
        let age = ts_ms - self.first_ts;

        // 1. Forecasts, and the most trustworthy one.
        let level = self.recent.median_of_last(cfg.median_len);
        let day = self.day.forecast(ts_ms, age);
        let week = self.week.forecast(ts_ms, age);
        let models = [
            (level, self.level_error),
            (day, self.day.error),
            (week, self.week.error),
        ];
        // (forecast, typical absolute error), after thirty errors of track record.
        let trusted = models
            .iter()
            .filter_map(|&(f, e)| f.filter(|_| e.n >= 30).map(|f| (f, e.mean)));
        let best = trusted.clone().min_by(|a, b| a.1.total_cmp(&b.1));

        // 2. Raw surprise. The floor keeps a flat line's zero error scale from dividing by 0
        // while still making any departure from it highly surprising.
        let range = if self.max >= self.min {
            self.max - self.min
        } else {
            0.0
        };
        let floor = 1e-6 * self.max.abs().max(self.min.abs()).max(range) + 1e-12;
        // Mean absolute error × √(π/2) estimates a standard deviation.
        let sigma_of = |mae: f64| 1.2533 * mae + floor;
        // The trusted model's robust z, for the extreme-point channel.
        let mut z_best = f64::NAN;
        let (expected, sigma, mut raw) = match best {
            Some((f, mae)) => {
                // Every model nearly as accurate as the best has a say, so a point that breaks
                // the daily pattern alarms even when the recent level explains it about as well.
                let k2 = cfg.surprise_z * cfg.surprise_z;
                let raw = trusted
                    .filter(|&(_, e)| e <= cfg.model_ratio * mae)
                    .map(|(f, e)| {
                        // Deviations no larger than one marked normal do not surprise.
                        let z = ((value - f) / sigma_of(e)).abs();
                        let z2 = if z <= self.tolerance { 0.0 } else { z * z };
                        z2 / (z2 + k2)
                    })
                    .fold(0.0, f64::max);
                z_best = ((value - f) / sigma_of(mae)).abs();
                (f, sigma_of(mae), raw)
            }
            None => (level.unwrap_or(value), 0.0, 0.0),
        };
        let tolerated = self.tolerance > 0.0
            && sigma > 0.0
            && (value - expected).abs() <= self.tolerance * sigma;
        let mut block_tail = self.blocks.update(value, floor, &cfg);
        if tolerated {
            // Feedback marked deviations like this one normal.
            z_best = f64::NAN;
            block_tail = 1.0;
        }
        if range > 0.0 && !tolerated {
            let novelty = self.novelty.update(value, self.min, self.max, &cfg);
            raw = raw.max(cfg.novelty_weight * novelty);
        }
        let learning = self.points < cfg.learning_points;
        let margin = cfg.spatial_tolerance * range;
        // A new extreme the trusted model expected (a daily low reached a little lower) is not
        // spatially anomalous: it must also lie outside the model's band.
        let expected_by_model = sigma > 0.0 && (value - expected).abs() <= cfg.band_sigmas * sigma;
        let spatial = !learning
            && !tolerated
            && !expected_by_model
            && (value > self.max + margin || value < self.min - margin);
        // A flat line is no anomaly (its range is 0), a varying series stuck at one value is.
        let stuck = self.runs.stuck(value, &cfg) && !learning && range > 0.0;
        let at_once = spatial || stuck;
        if at_once {
            raw = 1.0;
        }

        // 3–4. Likelihood and alert filter.
        let tail = self
            .likelihood
            .update(raw, z_best, block_tail, learning, at_once, &cfg);
        let score = ((tail + 1e-10).ln() / 1e-10f64.ln()).clamp(0.0, 1.0);

        // Learn.
        if let Some(l) = level {
            self.level_error.update((value - l).abs(), cfg.error_alpha);
        }
        if let Some(d) = day {
            self.day.error.update((value - d).abs(), cfg.error_alpha);
        }
        if let Some(w) = week {
            self.week.error.update((value - w).abs(), cfg.error_alpha);
        }
        self.recent.push(value as f32);
        self.day.learn(ts_ms, value, &cfg);
        self.week.learn(ts_ms, value, &cfg);
        self.min = self.min.min(value);
        self.max = self.max.max(value);
        self.points = self.points.saturating_add(1);
        self.tolerance *= TOLERANCE_DECAY;

        let half = cfg.band_sigmas * sigma;
        Score {
            score,
            expected,
            lower: expected - half,
            upper: expected + half,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    /// Deterministic noise in [-1, 1].
    fn noise(i: u64) -> f64 {
        let x = i
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((x >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
    }

    #[test]
    fn feedback_lowers_the_score_of_a_similar_deviation_but_not_of_a_larger_one() {
        // Returns the highest score of a three-point jump and how far its first point deviated.
        let run = |tolerate: Option<f64>, jump: f64| {
            let mut d = Detector::default();
            let (mut top, mut sigmas) = (0.0, 0.0);
            for i in 0..2_000u64 {
                let bump = if (1_500..1_503).contains(&i) {
                    jump
                } else {
                    0.0
                };
                let v = 100.0 + noise(i) + bump;
                if let (1_499, Some(s)) = (i, tolerate) {
                    d.tolerate(s);
                }
                let s = d.update(i as i64 * MIN, v);
                if i == 1_500 {
                    sigmas = Score::sigmas(v, s.expected, s.upper, d.config().band_sigmas);
                }
                if (1_500..1_503).contains(&i) {
                    top = f64::max(top, s.score);
                }
            }
            (top, sigmas)
        };
        let (before, sigmas) = run(None, 5.0);
        assert!(
            before >= 0.5,
            "the deviation alarms without feedback: {before}"
        );
        let (after, _) = run(Some(sigmas), 5.0);
        assert!(after < 0.5, "a tolerated deviation stays quiet: {after}");
        let (larger, _) = run(Some(sigmas), 40.0);
        assert!(larger >= 0.5, "a much larger one still alarms: {larger}");
        let sigmas = Score::sigmas(110.0, 100.0, 103.0, 3.0);
        assert!((sigmas - 10.0).abs() < 1e-9);
        assert!(Score::sigmas(1.0, 1.0, 1.0, 3.0).is_infinite());
    }

    #[test]
    fn a_slow_drift_alarms_through_the_block_channel() {
        // A calm series starts drifting by a twentieth of its noise amplitude per point: the
        // per-point models follow it step by step, the block means leave the recent ones.
        let run = |cfg: Config| {
            let mut d = Detector::new(cfg);
            let (mut before, mut during) = (0.0f64, 0.0f64);
            for i in 0..3_400u64 {
                let drift = if i >= 3_000 {
                    0.05 * (i - 3_000) as f64
                } else {
                    0.0
                };
                let s = d.update(i as i64 * MIN, 100.0 + noise(i) + drift);
                if (1_000..3_000).contains(&i) {
                    before = before.max(s.score);
                } else if i >= 3_000 {
                    during = during.max(s.score);
                }
            }
            (before, during)
        };
        let (before, during) = run(Config::default());
        let (_, without) = run(Config {
            block_len: 0,
            ..Config::default()
        });
        assert!(before < 0.5, "calm data alarmed: {before}");
        assert!(during >= 0.5, "the drift went unseen: {during}");
        assert!(
            without < 0.5,
            "the per-point models alone alarmed: {without}"
        );
    }

    #[test]
    fn state_fits_in_four_kib() {
        // The detector owns no heap buffers: its whole state is inline.
        let size = std::mem::size_of::<Detector>();
        assert!(size <= 4096, "Detector is {size} bytes");
    }

    #[test]
    fn scores_stay_in_unit_interval_and_spike_is_flagged() {
        let mut d = Detector::default();
        let mut max_before = 0.0f64;
        for i in 0..3000u64 {
            let ts = i as i64 * 5 * MIN;
            let daily = (2.0 * std::f64::consts::PI * (ts % DAY_MS) as f64 / DAY_MS as f64).sin();
            let s = d.update(ts, 50.0 + 10.0 * daily + noise(i));
            assert!((0.0..=1.0).contains(&s.score));
            assert!(s.lower <= s.upper);
            if i > 1000 {
                max_before = max_before.max(s.score);
            }
        }
        assert!(max_before < 0.5, "normal data alarmed: {max_before}");
        let spike = d.update(3000 * 5 * MIN, 90.0);
        assert!(
            spike.score >= 0.5,
            "spike {} vs normal max {max_before}",
            spike.score
        );
        assert!(
            spike.expected > 30.0 && spike.expected < 70.0 && spike.upper < 90.0,
            "{spike:?}"
        );
    }

    #[test]
    fn novelty_fades_as_a_value_recurs() {
        let cfg = Config::default();
        let mut n = Novelty::new();
        let first = n.update(5.0, 0.0, 10.0, &cfg);
        let second = n.update(5.1, 0.0, 10.0, &cfg);
        assert_eq!(first, 1.0);
        assert!(second < 0.8, "{second}");
        // A different part of the range is still new.
        assert_eq!(n.update(9.9, 0.0, 10.0, &cfg), 1.0);
    }

    #[test]
    fn one_incident_raises_one_alert() {
        let cfg = Config::default();
        let mut l = Likelihood::new();
        let calm = |i: u64| 0.05 + 0.02 * noise(i);
        for i in 0..3_000 {
            l.update(calm(i), f64::NAN, 1.0, false, false, &cfg);
        }
        assert!(
            l.update(1.0, f64::NAN, 1.0, false, true, &cfg) < cfg.red_tail,
            "alerts"
        );
        // The surprise stays raised: first red (lowered to yellow, the same incident), then
        // in the yellow zone...
        let mut settled = 0;
        for _ in 0..20 {
            let tail = l.update(0.12, f64::NAN, 1.0, false, false, &cfg);
            if tail != cfg.yellow_tail {
                assert!(tail < cfg.yellow_tail, "left the yellow zone: {tail}");
                settled += 1;
            }
        }
        assert!(settled > 0, "stayed red");
        // ...so a new extreme now belongs to the same incident and is lowered to yellow.
        assert_eq!(
            l.update(1.0, f64::NAN, 1.0, false, true, &cfg),
            cfg.yellow_tail
        );
        // Once the surprise is ordinary again, the next one alerts.
        let mut i = 3_000;
        while l.update(calm(i), f64::NAN, 1.0, false, false, &cfg) <= cfg.yellow_tail {
            i += 1;
            assert!(i < 3_100, "the incident never ends");
        }
        assert!(l.update(1.0, f64::NAN, 1.0, false, true, &cfg) < cfg.red_tail);
    }

    #[test]
    fn runs_report_a_record_once() {
        let cfg = Config {
            stuck_points: 1,
            ..Config::default()
        };
        let mut r = Runs::new();
        // Runs of 5, 5 and then 8 repeats: only the third outgrows 1.2 × the longest (6 points),
        // and only once.
        let mut alarms = Vec::new();
        let values = [[1.0; 5].as_slice(), &[2.0; 5], &[3.0; 8]].concat();
        for (i, &x) in values.iter().enumerate() {
            if r.stuck(x, &cfg) {
                alarms.push(i);
            }
        }
        assert_eq!(alarms, [15]);
    }

    #[test]
    fn a_stuck_series_alarms_once_a_flat_line_never() {
        let mut d = Detector::default();
        let mut alarms = Vec::new();
        for i in 0..4_000u64 {
            // Whole numbers around 100 repeat now and then, but never for long...
            let v = if i < 3_000 {
                100.0 + (3.0 * noise(i)).round()
            } else {
                // ...until the series sticks at an ordinary value.
                100.0
            };
            let s = d.update(i as i64 * MIN, v);
            if s.score >= 0.5 && i >= 1_000 {
                alarms.push(i);
            }
        }
        assert_eq!(alarms.len(), 1, "{alarms:?}");
        assert!((3_000..3_100).contains(&alarms[0]), "{alarms:?}");
    }

    #[test]
    fn copes_with_flat_lines_gaps_and_nan() {
        let mut d = Detector::default();
        for i in 0..2000i64 {
            // Irregular timestamps with a long gap.
            let ts = if i < 1000 {
                i * 5 * MIN
            } else {
                i * 5 * MIN + 3 * DAY_MS
            };
            let s = d.update(ts, 45.0);
            assert!(s.score < 0.1, "{s:?}");
        }
        let s = d.update(2000 * 5 * MIN + 3 * DAY_MS, f64::NAN);
        assert_eq!(s.score, 0.0);
        let s = d.update(2001 * 5 * MIN + 3 * DAY_MS, 60.0);
        assert!(s.score >= 0.5, "{s:?}");
    }
}

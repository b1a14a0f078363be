//! Forecasting a metric: exponential smoothing with a damped additive trend and an additive
//! season, in the spirit of Hyndman et al.'s ETS(A,Ad,A) (a damped Holt–Winters model).
//!
//! [`forecast`] works in four steps:
//!
//! 1. **Resampling** ([`resample`]). Points are placed on a regular grid whose step is the median
//!    spacing of the timestamps, anchored at the last point (so the forecast starts exactly one
//!    step after it). Points sharing a slot are averaged. Gaps of up to
//!    [`MAX_INTERPOLATED_GAP`] slots (a lost sample, clock jitter) are linearly interpolated;
//!    longer gaps stay missing and the model carries its own forecast across them (the state is
//!    propagated without correction), which keeps the season in phase across an outage instead
//!    of drawing a straight line through it. Only the last [`MAX_FIT_SLOTS`] slots are used.
//! 2. **Season.** Candidates are no season, a daily season (`86 400 000 ms / step` slots) when
//!    the window holds two full days, and a weekly one when it holds two full weeks. Each is
//!    fitted and the lowest AIC wins. The AIC counts every seasonal starting value as a
//!    parameter, so a season must earn its keep: a weekly season of 5-minute data has 2 016
//!    of them. AIC judges one step ahead, though, so a candidate whose replayed forecasts over
//!    the horizon have less than half the AIC choice's error wins instead (a smooth daily
//!    cycle sampled every minute looks like a random walk one step ahead).
//! 3. **Fit.** The smoothing parameters minimise the in-sample one-step squared error: a
//!    coarse grid, then Nelder–Mead inside the bounds. Starting values come from a moving-
//!    average decomposition of the window (the analogue of ETS optimising its initial states).
//! 4. **Forecast.** Intervals take their shape from the analytical h-step variance of the
//!    ETS(A,Ad,A) class (Hyndman et al. 2008, table 6.1) and their scale from the data: the
//!    fitted model is replayed over the window and the quantiles of its own multi-step errors,
//!    in units of that standard deviation, replace the normal quantiles (metrics are spiky and
//!    skewed, so normal intervals are too wide at 80 % and too narrow at the extremes). They
//!    only widen with the horizon.
//!
//! Smoothing parameters are kept in the usual region `0 < beta < alpha < 1`,
//! `0 < gamma < 1 - alpha`, `0.8 <= phi <= 1`.

use serde::Serialize;
use std::fmt;

pub const MINUTE_MS: i64 = 60_000;
pub const HOUR_MS: i64 = 60 * MINUTE_MS;
pub const DAY_MS: i64 = 24 * HOUR_MS;
pub const WEEK_MS: i64 = 7 * DAY_MS;

/// Most recent grid slots used for fitting: four weeks of 5-minute data. Older data adds little
/// to an exponentially weighted fit and this bounds the cost (and memory) of any series.
pub const MAX_FIT_SLOTS: usize = 8_064;
/// Longest run of empty slots that is interpolated rather than left missing.
pub const MAX_INTERPOLATED_GAP: usize = 3;
/// Longest horizon [`forecast`] accepts, in steps.
pub const MAX_HORIZON_STEPS: usize = 100_000;
/// Fewest observed slots worth fitting a model to.
const MIN_OBSERVED: usize = 3;

/// Standard normal quantiles of the central 80 % and 95 % intervals.
const Z80: f64 = 1.281_551_565_545;
const Z95: f64 = 1.959_963_984_540;

/// How far ahead to forecast.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Horizon {
    /// A number of grid steps.
    Steps(usize),
    /// A duration in milliseconds, rounded up to whole steps.
    Duration(i64),
}

/// Why a forecast could not be made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ForecastError {
    /// Fewer than three finite points (after resampling).
    TooFewPoints,
    /// All timestamps are equal, so there is no time step.
    NoTimeStep,
    /// The horizon is zero, negative or longer than [`MAX_HORIZON_STEPS`].
    BadHorizon,
}

impl fmt::Display for ForecastError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooFewPoints => f.write_str("too few points to forecast"),
            Self::NoTimeStep => f.write_str("all points share one timestamp"),
            Self::BadHorizon => {
                write!(f, "horizon must be between 1 and {MAX_HORIZON_STEPS} steps")
            }
        }
    }
}

impl std::error::Error for ForecastError {}

/// A series on a regular time grid. Missing slots hold `NaN`.
#[derive(Debug, Clone, PartialEq)]
pub struct Grid {
    /// Time of `values[0]`.
    pub start_ms: i64,
    pub step_ms: i64,
    pub values: Vec<f64>,
}

impl Grid {
    /// Time of the last slot (which always holds an observation).
    pub fn end_ms(&self) -> i64 {
        self.ts_of(self.values.len().saturating_sub(1))
    }

    /// Time of slot `i` (which may lie beyond the data).
    pub fn ts_of(&self, i: usize) -> i64 {
        self.start_ms
            .saturating_add(self.step_ms.saturating_mul(i as i64))
    }

    /// Number of slots in a period of `period_ms` (rounded: a step that does not divide the
    /// period lets the season drift slowly, which the seasonal smoothing absorbs), if at least
    /// two and at most the grid's length.
    pub fn slots_per(&self, period_ms: i64) -> Option<usize> {
        if self.step_ms <= 0 {
            return None;
        }
        let m = (period_ms as f64 / self.step_ms as f64).round();
        (m >= 2.0 && m <= self.values.len() as f64).then_some(m as usize)
    }
}

/// Smoothing parameters of the fitted model (error-correction form).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Params {
    /// Level smoothing.
    pub alpha: f64,
    /// Trend smoothing (0 when the model has no trend).
    pub beta: f64,
    /// Season smoothing (0 when the model has no season).
    pub gamma: f64,
    /// Trend damping; 1 is an undamped trend.
    pub phi: f64,
}

/// One forecast step.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ForecastPoint {
    pub ts_ms: i64,
    pub value: f64,
    pub lower80: f64,
    pub upper80: f64,
    pub lower95: f64,
    pub upper95: f64,
}

/// A fitted model's forecast.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Forecast {
    /// Time of the last observation; `points[h-1]` lies `h` steps after it.
    pub origin_ms: i64,
    /// The last observation (the start of the forecast curve).
    pub origin_value: f64,
    pub step_ms: i64,
    /// Season length in steps; 1 without a season.
    pub season: usize,
    /// For example `ETS(A,Ad,A) season 288`.
    pub model: String,
    pub params: Params,
    /// Standard deviation of the in-sample one-step errors.
    pub sigma: f64,
    /// Grid slots the model was fitted on.
    pub fitted_slots: usize,
    pub points: Vec<ForecastPoint>,
}

/// Which way a threshold is crossed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// The forecast rises to or above the threshold (a disk filling up).
    Up,
    /// The forecast falls to or below the threshold (free space running out).
    Down,
}

// ---------------------------------------------------------------------------------------------
// Resampling.

/// Places `series` on a regular grid at its median time step, keeping the last `max_slots`
/// slots. Non-finite values are dropped; the points need not be sorted.
pub fn resample(series: &[(i64, f64)], max_slots: usize) -> Result<Grid, ForecastError> {
    let mut points: Vec<(i64, f64)> = series
        .iter()
        .copied()
        .filter(|(_, v)| v.is_finite())
        .collect();
    if points.len() < MIN_OBSERVED || max_slots == 0 {
        return Err(ForecastError::TooFewPoints);
    }
    if !points.windows(2).all(|w| w[0].0 <= w[1].0) {
        points.sort_by_key(|&(t, _)| t);
    }
    let last = points[points.len() - 1].0;
    let step = grid_step(&points, max_slots).ok_or(ForecastError::NoTimeStep)?;
    // Slots counted back from the last point, rounded to the nearest step.
    let back = |t: i64| -> u64 { last.abs_diff(t).saturating_add(step / 2) / step };
    let first_kept = points.partition_point(|&(t, _)| back(t) >= max_slots as u64);
    let kept = &points[first_kept..];
    let n = kept.first().map_or(0, |&(t, _)| back(t) as usize + 1);
    let (mut sums, mut counts) = (vec![0.0; n], vec![0u32; n]);
    for &(t, v) in kept {
        let i = n - 1 - back(t) as usize;
        sums[i] += v;
        counts[i] += 1;
    }
    let mut values: Vec<f64> = sums
        .iter()
        .zip(&counts)
        .map(|(&s, &c)| if c > 0 { s / f64::from(c) } else { f64::NAN })
        .collect();
    interpolate_short_gaps(&mut values, MAX_INTERPOLATED_GAP);
    if values.iter().filter(|v| !v.is_nan()).count() < MIN_OBSERVED {
        return Err(ForecastError::TooFewPoints);
    }
    let step_ms = i64::try_from(step).map_err(|_| ForecastError::NoTimeStep)?;
    Ok(Grid {
        start_ms: last.saturating_sub(step_ms.saturating_mul(n as i64 - 1)),
        step_ms,
        values,
    })
}

/// The grid step: the span of the points that fit in `max_slots`, divided by its number of
/// steps, each spacing counted as a whole number of median spacings. Counting spacing by spacing
/// keeps jitter (a sample a few seconds late) from accumulating, so the grid does not drift
/// against the data or the day. Exact for clean data, gaps included.
fn grid_step(points: &[(i64, f64)], max_slots: usize) -> Option<u64> {
    let rough = median_step(points)?;
    let last = points.last()?.0;
    let (mut slots, mut first) = (0u64, last);
    for w in points.windows(2).rev() {
        let k = w[1].0.abs_diff(w[0].0).saturating_add(rough / 2) / rough;
        if slots.saturating_add(k) >= max_slots as u64 {
            break;
        }
        slots += k;
        first = w[0].0;
    }
    let span = last.abs_diff(first).saturating_add(slots / 2);
    Some(span.checked_div(slots).unwrap_or(rough))
}

/// Typical spacing between sorted timestamps: the median of the positive spacings, then the
/// median of those within ±50 % of it, so that gaps (spacings of several steps) do not bias it
/// when timestamps jitter.
fn median_step(points: &[(i64, f64)]) -> Option<u64> {
    let spacings: Vec<u64> = points
        .windows(2)
        .map(|w| w[1].0.abs_diff(w[0].0))
        .filter(|&d| d > 0)
        .collect();
    let rough = median_u64(spacings.clone())?;
    let single: Vec<u64> = spacings
        .into_iter()
        .filter(|&d| d >= rough / 2 && d <= rough.saturating_add(rough / 2))
        .collect();
    median_u64(single)
}

/// Median (upper for even counts) of `xs`, `None` when empty.
fn median_u64(mut xs: Vec<u64>) -> Option<u64> {
    if xs.is_empty() {
        return None;
    }
    let mid = xs.len() / 2;
    let (_, m, _) = xs.select_nth_unstable(mid);
    Some(*m)
}

/// Linearly interpolates runs of at most `max_gap` `NaN`s that have a value on both sides.
fn interpolate_short_gaps(values: &mut [f64], max_gap: usize) {
    let mut prev: Option<usize> = None;
    for i in 0..values.len() {
        if values[i].is_nan() {
            continue;
        }
        if let Some(p) = prev {
            let gap = i - p - 1;
            if gap > 0 && gap <= max_gap {
                let (a, b) = (values[p], values[i]);
                for k in 1..=gap {
                    values[p + k] = a + (b - a) * k as f64 / (gap + 1) as f64;
                }
            }
        }
        prev = Some(i);
    }
}

// ---------------------------------------------------------------------------------------------
// The model.

/// Level, trend and one seasonal value per phase of the season (`season[t % m]` is the latest
/// estimate for slot `t`'s phase).
#[derive(Debug, Clone)]
struct State {
    level: f64,
    trend: f64,
    season: Vec<f64>,
}

/// Runs the model over `y` from `state`, updating it; returns the sum of squared one-step errors
/// and how many observed slots contributed. Missing slots advance the state without correction.
fn filter(y: &[f64], p: &Params, state: &mut State) -> (f64, usize) {
    filter_with(y, p, state, |_, _, _, _| {})
}

/// [`filter`], calling `after(t, level, trend, season)` with the state after each slot `t`.
fn filter_with(
    y: &[f64],
    p: &Params,
    state: &mut State,
    mut after: impl FnMut(usize, f64, f64, &[f64]),
) -> (f64, usize) {
    let m = state.season.len();
    let (mut level, mut trend) = (state.level, state.trend);
    let (mut sse, mut count) = (0.0, 0usize);
    let mut j = 0;
    for (t, &x) in y.iter().enumerate() {
        let damped = p.phi * trend;
        let s = &mut state.season[j];
        if x.is_nan() {
            level += damped;
            trend = damped;
        } else {
            let e = x - (level + damped + *s);
            level += damped + p.alpha * e;
            trend = damped + p.beta * e;
            *s += p.gamma * e;
            sse += e * e;
            count += 1;
        }
        j += 1;
        if j == m {
            j = 0;
        }
        after(t, level, trend, &state.season);
    }
    state.level = level;
    state.trend = trend;
    (sse, count)
}

/// Starting state: seasonal values from the deviations of the window from its centred moving
/// average (averaged per phase, centred on zero), then level and trend from a least-squares line
/// through the first season (at least 10 slots) of deseasonalised data.
fn initial_state(y: &[f64], m: usize) -> State {
    let season = if m > 1 {
        seasonal_seeds(y, m)
    } else {
        vec![0.0]
    };
    let k = m.max(10).min(y.len());
    let (mut n, mut st, mut sx, mut stt, mut stx) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for (t, &x) in y[..k].iter().enumerate() {
        if x.is_nan() {
            continue;
        }
        let (t, x) = (t as f64, x - season[t % m]);
        n += 1.0;
        st += t;
        sx += x;
        stt += t * t;
        stx += t * x;
    }
    let denom = n * stt - st * st;
    let slope = if n >= 2.0 && denom > 0.0 {
        (n * stx - st * sx) / denom
    } else {
        0.0
    };
    let intercept = if n > 0.0 { (sx - slope * st) / n } else { 0.0 };
    State {
        // The state before slot 0, so that its one-step forecast is the line at t = 0.
        level: intercept - slope,
        trend: slope,
        season,
    }
}

/// Mean deviation from a centred `m`-slot moving average for each phase, centred on zero.
fn seasonal_seeds(y: &[f64], m: usize) -> Vec<f64> {
    let n = y.len();
    let (mut sum, mut cnt) = (vec![0.0; n + 1], vec![0usize; n + 1]);
    for (i, &x) in y.iter().enumerate() {
        let ok = !x.is_nan();
        sum[i + 1] = sum[i] + if ok { x } else { 0.0 };
        cnt[i + 1] = cnt[i] + usize::from(ok);
    }
    let (mut dev, mut seen) = (vec![0.0; m], vec![0usize; m]);
    for t in m / 2..(n + m / 2).saturating_sub(m - 1) {
        let (a, b) = (t - m / 2, t - m / 2 + m);
        let c = cnt[b] - cnt[a];
        if y[t].is_nan() || 2 * c < m {
            continue;
        }
        dev[t % m] += y[t] - (sum[b] - sum[a]) / c as f64;
        seen[t % m] += 1;
    }
    for (d, &s) in dev.iter_mut().zip(&seen) {
        *d = if s > 0 { *d / s as f64 } else { 0.0 };
    }
    let mean = dev.iter().sum::<f64>() / m as f64;
    dev.iter_mut().for_each(|d| *d -= mean);
    dev
}

/// Bounds of the level smoothing (as in R's `forecast::ets`).
const ALPHA_MIN: f64 = 1e-4;
const ALPHA_MAX: f64 = 0.9999;
/// Lower bound of the damping; 1 (no damping) is allowed so that a steady ramp such as a
/// filling disk is extrapolated at full slope.
const PHI_MIN: f64 = 0.8;

/// Maps a point `[alpha, beta, phi, gamma]` of the unit cube to parameters inside the usual ETS
/// region (`0 < beta < alpha`, `0 < gamma < 1 - alpha`). `beta` and `gamma` use squares so that
/// the small values typical of frequent data get resolution. Without a season the last
/// coordinate is ignored.
fn params_of(u: &[f64; 4], seasonal: bool) -> Params {
    let alpha = ALPHA_MIN + (ALPHA_MAX - ALPHA_MIN) * u[0];
    Params {
        alpha,
        beta: alpha * u[1] * u[1],
        gamma: if seasonal {
            (1.0 - alpha) * u[3] * u[3]
        } else {
            0.0
        },
        phi: PHI_MIN + (1.0 - PHI_MIN) * u[2],
    }
}

/// A fitted candidate model.
#[derive(Debug, Clone)]
struct Fit {
    params: Params,
    /// Starting state (before slot 0).
    init: State,
    /// State after the last slot.
    state: State,
    sse: f64,
    count: usize,
    /// Akaike's criterion, counting parameters and starting values.
    aic: f64,
}

/// Fits season length `m` (1 for none) to `y`.
fn fit(y: &[f64], m: usize) -> Fit {
    let init = initial_state(y, m);
    let seasonal = m > 1;
    let mut scratch = init.clone();
    let mut mse = |u: &[f64; 4]| -> f64 {
        scratch.level = init.level;
        scratch.trend = init.trend;
        scratch.season.copy_from_slice(&init.season);
        let (sse, count) = filter(y, &params_of(u, seasonal), &mut scratch);
        let mse = sse / count.max(1) as f64;
        if mse.is_finite() {
            mse
        } else {
            f64::INFINITY
        }
    };
    // Coarse grid over the unit cube (squares for beta and gamma, see `params_of`).
    let mut best = ([0.5, 0.0, 1.0, 0.0], f64::INFINITY);
    let gammas: &[f64] = if seasonal {
        &[0.0, 0.15, 0.3, 0.55]
    } else {
        &[0.0]
    };
    for &a in &[0.05, 0.2, 0.5, 0.8, 0.99] {
        for &b in &[0.0, 0.1, 0.3] {
            for &g in gammas {
                for &f in &[0.5, 0.9, 1.0] {
                    let u = [a, b, f, g];
                    let v = mse(&u);
                    if v < best.1 {
                        best = (u, v);
                    }
                }
            }
        }
    }
    let (u, _) = nelder_mead(&mut mse, best.0, if seasonal { 4 } else { 3 }, 0.1, 300);
    let params = params_of(&u, seasonal);
    let mut state = init.clone();
    let (sse, count) = filter(y, &params, &mut state);
    let k = 2 + if seasonal { 4 + (m - 1) } else { 3 };
    let n = count.max(1) as f64;
    let aic = n * (sse / n).max(f64::MIN_POSITIVE).ln() + 2.0 * k as f64;
    Fit {
        params,
        init,
        state,
        sse,
        count,
        aic,
    }
}

/// Minimises `f` over the first `dims` coordinates of the unit cube (the others stay as in
/// `x0`) with the Nelder–Mead simplex method, clamping trial points into the cube. Stops after
/// `max_evals` evaluations or when the simplex's values agree to a relative 1e-7.
fn nelder_mead(
    f: &mut impl FnMut(&[f64; 4]) -> f64,
    x0: [f64; 4],
    dims: usize,
    size: f64,
    max_evals: usize,
) -> ([f64; 4], f64) {
    let clamp = |mut x: [f64; 4]| {
        x.iter_mut().for_each(|v| *v = v.clamp(0.0, 1.0));
        x
    };
    let mut simplex: Vec<([f64; 4], f64)> = Vec::with_capacity(dims + 1);
    simplex.push((x0, f(&x0)));
    for d in 0..dims {
        let mut x = x0;
        x[d] += if x[d] + size <= 1.0 { size } else { -size };
        simplex.push((x, f(&x)));
    }
    let mut evals = dims + 1;
    // Moves `c` towards (t > 0) or away from (t < 0) the worst point, through the centroid.
    let along = |centroid: &[f64; 4], worst: &[f64; 4], t: f64| {
        let mut x = *centroid;
        for d in 0..4 {
            x[d] = centroid[d] + t * (worst[d] - centroid[d]);
        }
        clamp(x)
    };
    while evals < max_evals {
        simplex.sort_by(|a, b| a.1.total_cmp(&b.1));
        let (lo, hi) = (simplex[0].1, simplex[dims].1);
        if (hi - lo).abs() <= 1e-7 * lo.abs() + 1e-300 {
            break;
        }
        let mut centroid = [0.0; 4];
        for (x, _) in &simplex[..dims] {
            for d in 0..4 {
                centroid[d] += x[d] / dims as f64;
            }
        }
        let worst = simplex[dims].0;
        let reflected = along(&centroid, &worst, -1.0);
        let fr = f(&reflected);
        evals += 1;
        if fr < lo {
            let expanded = along(&centroid, &worst, -2.0);
            let fe = f(&expanded);
            evals += 1;
            simplex[dims] = if fe < fr {
                (expanded, fe)
            } else {
                (reflected, fr)
            };
        } else if fr < simplex[dims - 1].1 {
            simplex[dims] = (reflected, fr);
        } else {
            let t = if fr < hi { -0.5 } else { 0.5 };
            let contracted = along(&centroid, &worst, t);
            let fc = f(&contracted);
            evals += 1;
            if fc < hi.min(fr) {
                simplex[dims] = (contracted, fc);
            } else {
                // Shrink towards the best point.
                let best = simplex[0].0;
                for (x, v) in simplex.iter_mut().skip(1) {
                    for d in 0..4 {
                        x[d] = best[d] + 0.5 * (x[d] - best[d]);
                    }
                    *v = f(x);
                }
                evals += dims;
            }
        }
    }
    simplex
        .into_iter()
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .unwrap_or((x0, f64::INFINITY))
}

// ---------------------------------------------------------------------------------------------
// Forecasting.

/// Horizon in steps of `step_ms`.
fn horizon_steps(horizon: Horizon, step_ms: i64) -> Result<usize, ForecastError> {
    let steps = match horizon {
        Horizon::Steps(h) => h,
        Horizon::Duration(ms) => {
            let steps = u64::try_from(ms)
                .unwrap_or(0)
                .div_ceil(step_ms.unsigned_abs());
            usize::try_from(steps).unwrap_or(usize::MAX)
        }
    };
    if (1..=MAX_HORIZON_STEPS).contains(&steps) {
        Ok(steps)
    } else {
        Err(ForecastError::BadHorizon)
    }
}

/// Season lengths worth trying on a window of `grid`: none, daily and weekly when the window
/// holds two full periods.
fn season_candidates(grid: &Grid) -> Vec<usize> {
    let n = grid.values.len();
    let mut out = vec![1];
    for period in [DAY_MS, WEEK_MS] {
        if let Some(m) = grid.slots_per(period) {
            if 2 * m <= n && !out.contains(&m) {
                out.push(m);
            }
        }
    }
    out
}

/// A candidate must forecast the horizon with at most this share of the AIC choice's error
/// to replace it.
const HORIZON_WIN: f64 = 0.5;

/// The lowest AIC wins, unless another candidate forecasts the horizon far better: AIC judges
/// one step ahead, where the recent level of a smooth, frequently sampled series predicts as
/// well as its daily season, which only shows a day ahead. The margin keeps the in-sample
/// replay (whose starting season has seen the whole window) from favouring a season that is
/// not there.
fn choose(y: &[f64], fits: Vec<(usize, Fit)>, h: usize) -> Option<(usize, Fit)> {
    let by_aic = fits
        .iter()
        .enumerate()
        .min_by(|a, b| a.1 .1.aic.total_cmp(&b.1 .1.aic))?
        .0;
    let errors: Vec<f64> = fits
        .iter()
        .map(|(m, f)| horizon_error(y, f, *m, h))
        .collect();
    let by_horizon = (0..fits.len()).min_by(|&a, &b| errors[a].total_cmp(&errors[b]))?;
    let pick = if errors[by_horizon] < HORIZON_WIN * errors[by_aic] {
        by_horizon
    } else {
        by_aic
    };
    fits.into_iter().nth(pick)
}

/// Fits the model to `series` (Unix ms, value) and forecasts `horizon` steps ahead.
/// See the module documentation.
pub fn forecast(series: &[(i64, f64)], horizon: Horizon) -> Result<Forecast, ForecastError> {
    let grid = resample(series, MAX_FIT_SLOTS)?;
    let h = horizon_steps(horizon, grid.step_ms)?;
    let y = &grid.values;
    let fits: Vec<(usize, Fit)> = season_candidates(&grid)
        .into_iter()
        .map(|m| (m, fit(y, m)))
        .collect();
    let (m, best) = choose(y, fits, h).ok_or(ForecastError::TooFewPoints)?;
    let p = best.params;
    let sigma = (best.sse / best.count.max(1) as f64).sqrt();
    let curve = Curve::new(&p, m, sigma, h);
    let bands = calibrate(y, &best, &curve);
    let n = y.len();
    let s = &best.state;
    let points = (1..=h)
        .map(|step| {
            let value = curve.point(s.level, s.trend, &s.season, n - 1, step);
            let [lo95, lo80, hi80, hi95] = bands[step - 1];
            ForecastPoint {
                ts_ms: grid.ts_of(n - 1 + step),
                value,
                lower80: value + lo80,
                upper80: value + hi80,
                lower95: value + lo95,
                upper95: value + hi95,
            }
        })
        .collect();
    Ok(Forecast {
        origin_ms: grid.end_ms(),
        origin_value: y[n - 1],
        step_ms: grid.step_ms,
        season: m,
        model: describe(&p, m, s.trend, sigma),
        params: p,
        sigma,
        fitted_slots: n,
        points,
    })
}

/// How a fitted model's forecast evolves with the horizon.
struct Curve {
    season: usize,
    /// `phi + phi² + … + phi^h`: the share of the trend added by step `h` (index `h - 1`).
    damped_steps: Vec<f64>,
    /// Standard deviation of the `h`-step error (index `h - 1`).
    sd: Vec<f64>,
}

impl Curve {
    /// The analytical variance of ETS(A,Ad,A) (Hyndman et al. 2008, table 6.1):
    /// `sigma² (1 + Σ_{j<h} c_j²)` with `c_j = alpha + beta (phi + … + phi^j) + gamma [m | j]`,
    /// how much of an error `j` steps back still reaches the forecast.
    fn new(p: &Params, m: usize, sigma: f64, h: usize) -> Self {
        let (mut damped_steps, mut sd) = (Vec::with_capacity(h), Vec::with_capacity(h));
        let (mut phi_pow, mut phi_sum, mut var_sum) = (1.0, 0.0, 0.0);
        for step in 1..=h {
            if step > 1 {
                let j = step - 1;
                let seasonal = if m > 1 && j % m == 0 { p.gamma } else { 0.0 };
                let c = p.alpha + p.beta * phi_sum + seasonal;
                var_sum += c * c;
            }
            phi_pow *= p.phi;
            phi_sum += phi_pow;
            damped_steps.push(phi_sum);
            sd.push(sigma * (1.0 + var_sum).sqrt());
        }
        Self {
            season: m,
            damped_steps,
            sd,
        }
    }

    /// Point forecast `step` steps after slot `t`, from the state after slot `t`.
    fn point(&self, level: f64, trend: f64, season: &[f64], t: usize, step: usize) -> f64 {
        level + self.damped_steps[step - 1] * trend + season[(t + step) % self.season]
    }
}

/// Origins at which the fitted model is replayed to collect multi-step errors.
const CALIBRATION_ORIGINS: usize = 200;
/// Fewest errors behind the quantiles of one horizon bucket.
const MIN_CALIBRATION_ERRORS: usize = 40;

/// Horizon bucket of a step: 1, 2–3, 4–7, … (powers of two).
fn bucket(step: usize) -> usize {
    (usize::BITS - 1 - step.leading_zeros()) as usize
}

/// Replays the fitted model over the window and forecasts from evenly spaced origins, after
/// the slots its starting values were drawn from most directly, calling
/// `each(step, actual, forecast)` for every observed slot within `curve`'s horizon.
fn replay(y: &[f64], fit: &Fit, curve: &Curve, mut each: impl FnMut(usize, f64, f64)) {
    let h = curve.sd.len();
    let n = y.len();
    let burn = curve.season.max(10).min(n);
    let stride = ((n - burn) / CALIBRATION_ORIGINS).max(1);
    let mut state = fit.init.clone();
    let mut next_origin = burn;
    filter_with(y, &fit.params, &mut state, |t, level, trend, season| {
        if t != next_origin {
            return;
        }
        next_origin += stride;
        for step in 1..=h.min(n - 1 - t) {
            let x = y[t + step];
            if !x.is_nan() {
                each(step, x, curve.point(level, trend, season, t, step));
            }
        }
    });
}

/// Mean absolute error of a fitted model's forecasts 1 to `h` steps ahead over the window
/// (see [`replay`]); infinite when nothing could be compared.
fn horizon_error(y: &[f64], fit: &Fit, m: usize, h: usize) -> f64 {
    let curve = Curve::new(&fit.params, m, 0.0, h);
    let (mut sum, mut count) = (0.0, 0usize);
    replay(y, fit, &curve, |_, actual, forecast| {
        sum += (actual - forecast).abs();
        count += 1;
    });
    if count == 0 {
        f64::INFINITY
    } else {
        sum / count as f64
    }
}

/// Interval offsets from the point forecast per step: `[lower95, lower80, upper80, upper95]`.
///
/// The analytical standard deviation gives the shape; its scale comes from the data. The
/// fitted model is replayed over the window and forecasts from evenly spaced origins; the 2.5,
/// 10, 90 and 97.5 % quantiles of those errors, in units of the analytical standard deviation,
/// are taken per horizon bucket. This corrects the normal approximation for the heavy tails,
/// skew (spikes) and misfit of real metrics. Buckets beyond the window's reach, or with too few
/// errors, reuse the previous bucket's (normal quantiles for the first). Bands then only widen.
fn calibrate(y: &[f64], fit: &Fit, curve: &Curve) -> Vec<[f64; 4]> {
    let h = curve.sd.len();
    let mut z: Vec<Vec<f64>> = vec![Vec::new(); bucket(h) + 1];
    if curve.sd.first().is_some_and(|&sd| sd > 0.0) {
        replay(y, fit, curve, |step, actual, forecast| {
            z[bucket(step)].push((actual - forecast) / curve.sd[step - 1]);
        });
    }
    let mut q = [-Z95, -Z80, Z80, Z95];
    let mut factors = Vec::with_capacity(z.len());
    for errors in &mut z {
        if errors.len() >= MIN_CALIBRATION_ERRORS {
            errors.sort_by(f64::total_cmp);
            q = [0.025, 0.1, 0.9, 0.975].map(|p| quantile_sorted(errors, p));
        }
        factors.push(q);
    }
    let mut widest = [0.0f64; 4];
    (1..=h)
        .map(|step| {
            let f = factors[bucket(step)];
            let sd = curve.sd[step - 1];
            for k in 0..4 {
                let offset = f[k] * sd;
                widest[k] = if k < 2 {
                    widest[k].min(offset)
                } else {
                    widest[k].max(offset)
                };
            }
            widest
        })
        .collect()
}

/// Linearly interpolated quantile of sorted, non-empty data.
fn quantile_sorted(xs: &[f64], p: f64) -> f64 {
    let pos = p * (xs.len() - 1) as f64;
    let (i, frac) = (pos.floor() as usize, pos.fract());
    let next = xs.get(i + 1).copied().unwrap_or(xs[i]);
    xs[i] + frac * (next - xs[i])
}

/// ETS taxonomy name of a fitted model. With `beta = 0` the starting slope is never revised; it
/// counts as no trend once damped away (`final_trend` negligible against `sigma`).
fn describe(p: &Params, m: usize, final_trend: f64, sigma: f64) -> String {
    let trend = if p.beta == 0.0 && final_trend.abs() <= 1e-9 * sigma {
        "N"
    } else if p.phi < 1.0 {
        "Ad"
    } else {
        "A"
    };
    if m > 1 {
        format!("ETS(A,{trend},A) season {m}")
    } else {
        format!("ETS(A,{trend},N)")
    }
}

/// Seasonal-naive forecast: the value one season (`season_ms`) earlier, or the last value
/// without a season. Works on the same grid as [`forecast`], so the two can be compared point
/// by point; a missing value one season back falls back to the last observation.
pub fn seasonal_naive(
    series: &[(i64, f64)],
    horizon: Horizon,
    season_ms: Option<i64>,
) -> Result<Vec<(i64, f64)>, ForecastError> {
    let grid = resample(series, MAX_FIT_SLOTS)?;
    let h = horizon_steps(horizon, grid.step_ms)?;
    let y = &grid.values;
    let n = y.len();
    let last = y[n - 1];
    let m = season_ms.and_then(|p| grid.slots_per(p)).unwrap_or(1);
    Ok((1..=h)
        .map(|step| {
            // The slot `step` steps ahead, moved back by whole seasons into the data.
            let back = step.div_ceil(m) * m;
            let v = y[n - 1 + step - back];
            (grid.ts_of(n - 1 + step), if v.is_nan() { last } else { v })
        })
        .collect())
}

/// Milliseconds from the forecast's origin until its point forecast first reaches `threshold`
/// in `direction` (linearly interpolated between steps; 0 if the last observation is already
/// there), or `None` if it does not within the horizon.
pub fn time_to_threshold(forecast: &Forecast, threshold: f64, direction: Direction) -> Option<i64> {
    let reached = |v: f64| match direction {
        Direction::Up => v >= threshold,
        Direction::Down => v <= threshold,
    };
    if reached(forecast.origin_value) {
        return Some(0);
    }
    let (mut t0, mut v0) = (forecast.origin_ms, forecast.origin_value);
    for p in &forecast.points {
        if reached(p.value) {
            let share = ((threshold - v0) / (p.value - v0)).clamp(0.0, 1.0);
            let t = t0 as f64 + share * (p.ts_ms - t0) as f64;
            return Some(t.round() as i64 - forecast.origin_ms);
        }
        (t0, v0) = (p.ts_ms, p.value);
    }
    None
}

/// A duration for people, truncated to its two largest units: `3 d 4 h`, `5 h 20 min`,
/// `45 min`, `30 s`. Truncation errs on the early side, which is the safe side for a warning.
pub fn format_duration(ms: i64) -> String {
    if ms < 0 {
        return format!("-{}", format_duration(ms.saturating_neg()));
    }
    let pair = |big: i64, big_unit: &str, small: i64, small_unit: &str| {
        if small == 0 {
            format!("{big} {big_unit}")
        } else {
            format!("{big} {big_unit} {small} {small_unit}")
        }
    };
    if ms >= DAY_MS {
        pair(ms / DAY_MS, "d", ms % DAY_MS / HOUR_MS, "h")
    } else if ms >= HOUR_MS {
        pair(ms / HOUR_MS, "h", ms % HOUR_MS / MINUTE_MS, "min")
    } else if ms >= MINUTE_MS {
        format!("{} min", ms / MINUTE_MS)
    } else {
        format!("{} s", ms / 1000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::f64::consts::PI;

    const STEP: i64 = 5 * MINUTE_MS;
    /// 2014-04-01 00:00 UTC, an arbitrary start.
    const T0: i64 = 1_396_310_400_000;

    /// Deterministic xorshift64* generator with Box–Muller normals, so tests never flake.
    struct Rng(u64);

    impl Rng {
        fn uniform(&mut self) -> f64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            let x = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d);
            ((x >> 11) as f64 + 0.5) / (1u64 << 53) as f64
        }

        fn normal(&mut self) -> f64 {
            let (u, v) = (self.uniform(), self.uniform());
            (-2.0 * u.ln()).sqrt() * (2.0 * PI * v).cos()
        }
    }

    /// `n` points `step` apart with values `f(i)`.
    fn series(n: usize, step: i64, mut f: impl FnMut(usize) -> f64) -> Vec<(i64, f64)> {
        (0..n).map(|i| (T0 + i as i64 * step, f(i))).collect()
    }

    fn daily_sine(t_ms: i64) -> f64 {
        50.0 + 10.0 * (2.0 * PI * (t_ms % DAY_MS) as f64 / DAY_MS as f64).sin()
    }

    #[test]
    fn linear_trend_is_extrapolated() {
        let data = series(500, STEP, |i| 100.0 + 0.5 * i as f64);
        let f = forecast(&data, Horizon::Steps(200)).expect("forecast");
        assert_eq!(f.step_ms, STEP);
        assert_eq!(f.origin_ms, T0 + 499 * STEP);
        assert_eq!(f.season, 1, "{}", f.model);
        for (h, p) in f.points.iter().enumerate() {
            let truth = 100.0 + 0.5 * (500 + h) as f64;
            assert!((p.value - truth).abs() < 0.05, "step {}: {p:?}", h + 1);
            assert_eq!(p.ts_ms, f.origin_ms + (h as i64 + 1) * STEP);
        }
    }

    #[test]
    fn daily_sine_is_forecast_with_small_error() {
        let step = 15 * MINUTE_MS;
        let mut rng = Rng(7);
        let data = series(7 * 96, step, |i| {
            daily_sine(T0 + i as i64 * step) + 0.1 * rng.normal()
        });
        let f = forecast(&data, Horizon::Duration(DAY_MS)).expect("forecast");
        assert_eq!(f.season, 96, "{}", f.model);
        assert_eq!(f.points.len(), 96);
        let mae = f
            .points
            .iter()
            .map(|p| (p.value - daily_sine(p.ts_ms)).abs())
            .sum::<f64>()
            / 96.0;
        // Amplitude 10, noise 0.1: the season is learnt, not just the level.
        assert!(mae < 0.3, "MAE {mae}");
        let naive = seasonal_naive(&data, Horizon::Duration(DAY_MS), None).expect("naive");
        let naive_mae = naive
            .iter()
            .map(|&(t, v)| (v - daily_sine(t)).abs())
            .sum::<f64>()
            / 96.0;
        assert!(mae < naive_mae / 10.0, "{mae} vs naive {naive_mae}");
    }

    #[test]
    fn a_smooth_daily_cycle_sampled_every_minute_keeps_its_season() {
        // Three days of a dashboard metric: minute points of a daily cycle, small noise. One
        // step ahead, the recent level predicts as well as the season; a day ahead it cannot.
        let mut rng = Rng(11);
        let data = series(3 * 1_440, MINUTE_MS, |i| {
            daily_sine(T0 + i as i64 * MINUTE_MS) + 0.1 * rng.normal()
        });
        let f = forecast(&data, Horizon::Duration(DAY_MS)).expect("forecast");
        assert_eq!(f.season, 1_440, "{}", f.model);
        let mae = f
            .points
            .iter()
            .map(|p| (p.value - daily_sine(p.ts_ms)).abs())
            .sum::<f64>()
            / f.points.len() as f64;
        assert!(mae < 1.0, "amplitude 10: MAE {mae}");
    }

    #[test]
    fn constant_series_gives_constant_forecast_and_tight_intervals() {
        let data = series(400, STEP, |_| 42.0);
        let f = forecast(&data, Horizon::Steps(50)).expect("forecast");
        assert_eq!(f.sigma, 0.0);
        for p in &f.points {
            assert!((p.value - 42.0).abs() < 1e-9, "{p:?}");
            assert!(p.upper95 - p.lower95 < 1e-9, "{p:?}");
        }
    }

    #[test]
    fn gaps_jitter_and_bad_values_are_handled() {
        let mut rng = Rng(11);
        let mut data: Vec<(i64, f64)> = Vec::new();
        for i in 0..3 * 288 {
            // Two samples lost here and there, and a three-hour outage.
            if i % 50 == 7 || i % 50 == 8 || (400..436).contains(&i) {
                continue;
            }
            let jitter = (rng.uniform() * 60_000.0) as i64 - 30_000;
            let t = T0 + i * STEP + jitter;
            data.push((t, daily_sine(T0 + i * STEP)));
        }
        data.swap(10, 20); // out of order
        data.push((T0 + 5 * STEP, f64::NAN));
        let grid = resample(&data, MAX_FIT_SLOTS).expect("grid");
        // Within the jitter divided by the number of steps.
        assert!((grid.step_ms - STEP).abs() < 100, "{}", grid.step_ms);
        assert_eq!(grid.values.len(), 3 * 288);
        let missing: Vec<usize> = (0..grid.values.len())
            .filter(|&i| grid.values[i].is_nan())
            .collect();
        assert_eq!(missing, (400..436).collect::<Vec<_>>(), "only the outage");
        // A short gap is interpolated between its neighbours.
        let (a, b) = (grid.values[6], grid.values[9]);
        assert!((grid.values[7] - (a + (b - a) / 3.0)).abs() < 1e-9);

        let f = forecast(&data, Horizon::Steps(288)).expect("forecast");
        assert_eq!(f.season, 288, "{}", f.model);
        let mae = f
            .points
            .iter()
            .map(|p| {
                (p.value - daily_sine(p.ts_ms - f.origin_ms + T0 + (3 * 288 - 1) * STEP)).abs()
            })
            .sum::<f64>()
            / 288.0;
        assert!(mae < 0.5, "MAE {mae}");
    }

    #[test]
    fn rejects_unusable_input() {
        assert_eq!(
            forecast(&[(0, 1.0), (STEP, 2.0)], Horizon::Steps(1)),
            Err(ForecastError::TooFewPoints)
        );
        assert_eq!(
            forecast(&[(0, 1.0), (0, 2.0), (0, 3.0)], Horizon::Steps(1)),
            Err(ForecastError::NoTimeStep)
        );
        let data = series(10, STEP, |i| i as f64);
        assert_eq!(
            forecast(&data, Horizon::Steps(0)),
            Err(ForecastError::BadHorizon)
        );
        assert_eq!(
            forecast(&data, Horizon::Duration(-1)),
            Err(ForecastError::BadHorizon)
        );
        assert!(forecast(&data, Horizon::Duration(STEP + 1)).is_ok_and(|f| f.points.len() == 2));
    }

    #[test]
    fn time_to_threshold_on_a_linear_ramp() {
        // A disk filling by 0.1 % every 5 minutes, at 29.9 % now.
        let data = series(300, STEP, |i| 0.1 * i as f64);
        let f = forecast(&data, Horizon::Duration(DAY_MS)).expect("forecast");
        // (50 − 29.9) / 0.1 = 201 steps.
        let t = time_to_threshold(&f, 50.0, Direction::Up).expect("crosses");
        assert!((t - 201 * STEP).abs() < MINUTE_MS, "{t}");
        assert_eq!(
            format_duration(t.div_euclid(MINUTE_MS) * MINUTE_MS + 1),
            "16 h 45 min"
        );
        assert_eq!(time_to_threshold(&f, 20.0, Direction::Up), Some(0));
        assert_eq!(time_to_threshold(&f, 40.0, Direction::Down), Some(0));
        assert_eq!(time_to_threshold(&f, 10.0, Direction::Down), None);
        // 0.1 × 288 steps ahead reaches 58.7 at most.
        assert_eq!(time_to_threshold(&f, 60.0, Direction::Up), None);
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(format_duration(0), "0 s");
        assert_eq!(format_duration(30_000), "30 s");
        assert_eq!(format_duration(90_000), "1 min");
        assert_eq!(format_duration(45 * MINUTE_MS), "45 min");
        assert_eq!(format_duration(HOUR_MS), "1 h");
        assert_eq!(format_duration(5 * HOUR_MS + 20 * MINUTE_MS), "5 h 20 min");
        assert_eq!(format_duration(2 * DAY_MS + 30 * MINUTE_MS), "2 d");
        assert_eq!(
            format_duration(3 * DAY_MS + 4 * HOUR_MS + 59 * MINUTE_MS),
            "3 d 4 h"
        );
        assert_eq!(format_duration(-45 * MINUTE_MS), "-45 min");
    }

    #[test]
    fn intervals_widen_with_horizon() {
        // A random walk: uncertainty must grow with the horizon.
        let mut rng = Rng(3);
        let mut x = 0.0;
        let data = series(1000, STEP, |_| {
            x += rng.normal();
            x
        });
        let f = forecast(&data, Horizon::Steps(100)).expect("forecast");
        let widths: Vec<(f64, f64)> = f
            .points
            .iter()
            .map(|p| (p.upper80 - p.lower80, p.upper95 - p.lower95))
            .collect();
        // (Up to rounding: the offsets from the point forecast never shrink.)
        for w in widths.windows(2) {
            assert!(w[1].0 >= w[0].0 - 1e-9 && w[1].1 >= w[0].1 - 1e-9, "{w:?}");
        }
        for p in &f.points {
            assert!(p.lower95 <= p.lower80 && p.lower80 <= p.value, "{p:?}");
            assert!(p.value <= p.upper80 && p.upper80 <= p.upper95, "{p:?}");
        }
        let (first, last) = (widths[0].1, widths[99].1);
        assert!(last > 3.0 * first, "{first} → {last}");
    }

    #[test]
    fn intervals_cover_held_out_noise() {
        let (mut in80, mut in95, mut total) = (0, 0, 0);
        for seed in 1..=5u64 {
            let mut rng = Rng(seed * 7919);
            let data = series(1100, STEP, |_| 100.0 + 2.0 * rng.normal());
            let (train, test) = data.split_at(1000);
            let f = forecast(train, Horizon::Steps(100)).expect("forecast");
            for (p, &(t, y)) in f.points.iter().zip(test) {
                assert_eq!(p.ts_ms, t);
                in80 += usize::from(p.lower80 <= y && y <= p.upper80);
                in95 += usize::from(p.lower95 <= y && y <= p.upper95);
                total += 1;
            }
        }
        let (c80, c95) = (in80 as f64 / total as f64, in95 as f64 / total as f64);
        assert!((0.70..=0.90).contains(&c80), "80 % interval covers {c80}");
        assert!((0.88..=0.995).contains(&c95), "95 % interval covers {c95}");
    }

    #[test]
    fn seasonal_naive_repeats_the_last_season() {
        let data = series(3 * 288, STEP, |i| (i % 288) as f64);
        let day = seasonal_naive(&data, Horizon::Steps(300), Some(DAY_MS)).expect("snaive");
        assert_eq!(day.len(), 300);
        for (h, &(t, v)) in day.iter().enumerate() {
            assert_eq!(t, T0 + (3 * 288 + h as i64) * STEP);
            assert_eq!(v, (h % 288) as f64);
        }
        let last = seasonal_naive(&data, Horizon::Steps(3), None).expect("naive");
        assert!(last.iter().all(|&(_, v)| v == 287.0));
    }
}

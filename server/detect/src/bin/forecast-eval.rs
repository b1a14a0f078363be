//! Scores [`detect::forecast`] on every NAB file against the seasonal-naive and naive baselines.
//!
//! ```text
//! forecast-eval [NAB_DIR] [--files]
//! ```
//!
//! For each file the tail is held back: the last 10 % of its time span, at most one day. The
//! model is fitted on the rest and forecasts the held-back span; every held-back observation is
//! compared with the forecast for its grid step. Reported per file (`--files`) and over the
//! corpus (mean and median over files):
//!
//! * MASE: mean absolute error divided by the in-sample MAE of the daily seasonal-naive forecast
//!   on the training grid (Hyndman & Koehler 2006, with the natural period of these series,
//!   a day). Files whose scale is 0 (a flat line) are left out of the MASE summary.
//! * sMAPE: `200/n · Σ |y − ŷ| / (|y| + |ŷ|)` in percent (a term with `y = ŷ = 0` counts 0).
//! * Coverage of the 80 % and 95 % prediction intervals (pooled over held-back points and
//!   averaged per file), and the total and largest fit time.
//!
//! Baselines: `snaive`, the value one day earlier; `naive`, the last value.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use detect::forecast::{self, Forecast, Horizon, DAY_MS, MAX_FIT_SLOTS};
use detect::nab::{self, NabFile};

/// Share of a file's time span held back, and its cap.
const HOLDOUT_SHARE: f64 = 0.1;
const HOLDOUT_MAX_MS: i64 = DAY_MS;

/// Errors of one forecast against the held-back points.
#[derive(Debug, Clone, Copy, Default)]
struct Errors {
    mae: f64,
    smape: f64,
}

/// Accuracy of `predicted` (a value per grid step after `origin_ms`) on the held-back points.
fn errors(test: &[(i64, f64)], origin_ms: i64, step_ms: i64, predicted: &[f64]) -> Errors {
    let (mut abs, mut sym, mut n) = (0.0, 0.0, 0usize);
    for &(t, y) in test {
        let Some(f) = step_index(t, origin_ms, step_ms).and_then(|i| predicted.get(i)) else {
            continue;
        };
        let e = (y - f).abs();
        abs += e;
        let denom = y.abs() + f.abs();
        if denom > 0.0 {
            sym += 2.0 * e / denom;
        }
        n += 1;
    }
    let n = n.max(1) as f64;
    Errors {
        mae: abs / n,
        smape: 100.0 * sym / n,
    }
}

/// Index into the forecast points of the step nearest to `t`.
fn step_index(t: i64, origin_ms: i64, step_ms: i64) -> Option<usize> {
    let k = ((t - origin_ms) as f64 / step_ms as f64).round() as i64;
    (k >= 1).then(|| (k - 1) as usize)
}

/// In-sample MAE of the seasonal-naive forecast with `season_ms` on the training grid.
fn mase_scale(train: &[(i64, f64)], season_ms: i64) -> Option<f64> {
    let grid = forecast::resample(train, usize::MAX).ok()?;
    let m = grid.slots_per(season_ms).unwrap_or(1);
    let diffs: Vec<f64> = grid
        .values
        .iter()
        .zip(&grid.values[m..])
        .map(|(a, b)| (b - a).abs())
        .filter(|d| !d.is_nan())
        .collect();
    (!diffs.is_empty()).then(|| diffs.iter().sum::<f64>() / diffs.len() as f64)
}

/// Share of held-back points inside the (lower, upper) band chosen by `band`, and their count.
fn coverage(
    test: &[(i64, f64)],
    f: &Forecast,
    band: impl Fn(&forecast::ForecastPoint) -> (f64, f64),
) -> (usize, usize) {
    let (mut inside, mut n) = (0, 0);
    for &(t, y) in test {
        if let Some(p) = step_index(t, f.origin_ms, f.step_ms).and_then(|i| f.points.get(i)) {
            let (lo, hi) = band(p);
            inside += usize::from(lo <= y && y <= hi);
            n += 1;
        }
    }
    (inside, n)
}

/// Forecasting methods compared, in the order of [`FileResult::errors`].
const METHODS: [&str; 3] = ["ours", "snaive", "naive"];

/// Results of one file.
struct FileResult {
    name: String,
    train: usize,
    test: usize,
    model: String,
    params: forecast::Params,
    /// MASE scale; `None` when the training data repeats exactly (scale 0).
    scale: Option<f64>,
    /// Per method of [`METHODS`].
    errors: [Errors; 3],
    cover80: (usize, usize),
    cover95: (usize, usize),
    fit_time: Duration,
}

fn evaluate(file: &NabFile) -> Result<FileResult, String> {
    let series: Vec<(i64, f64)> = file
        .timestamps_ms
        .iter()
        .copied()
        .zip(file.values.iter().copied())
        .collect();
    let (first, last) = match (series.first(), series.last()) {
        (Some(a), Some(b)) => (a.0, b.0),
        _ => return Err("empty".into()),
    };
    let holdout = ((HOLDOUT_SHARE * (last - first) as f64) as i64).min(HOLDOUT_MAX_MS);
    let split = last - holdout;
    let cut = series.partition_point(|&(t, _)| t <= split);
    let (train, test) = series.split_at(cut);
    let train_end = train.last().map_or(first, |p| p.0);
    let horizon = Horizon::Duration(last - train_end);

    let start = Instant::now();
    let f = forecast::forecast(train, horizon).map_err(|e| e.to_string())?;
    let fit_time = start.elapsed();
    let ours: Vec<f64> = f.points.iter().map(|p| p.value).collect();
    let base = |season| -> Result<Errors, String> {
        let b = forecast::seasonal_naive(train, horizon, season).map_err(|e| e.to_string())?;
        let values: Vec<f64> = b.iter().map(|p| p.1).collect();
        Ok(errors(test, f.origin_ms, f.step_ms, &values))
    };
    Ok(FileResult {
        name: file.name.clone(),
        train: train.len(),
        test: test.len(),
        model: f.model.clone(),
        params: f.params,
        scale: mase_scale(train, DAY_MS).filter(|&s| s > 0.0),
        errors: [
            errors(test, f.origin_ms, f.step_ms, &ours),
            base(Some(DAY_MS))?,
            base(None)?,
        ],
        cover80: coverage(test, &f, |p| (p.lower80, p.upper80)),
        cover95: coverage(test, &f, |p| (p.lower95, p.upper95)),
        fit_time,
    })
}

fn mean(xs: &[f64]) -> f64 {
    xs.iter().sum::<f64>() / xs.len().max(1) as f64
}

fn median(xs: &[f64]) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => 0.5 * (v[n / 2 - 1] + v[n / 2]),
    }
}

fn share(part: (usize, usize)) -> f64 {
    part.0 as f64 / part.1.max(1) as f64
}

fn main() -> ExitCode {
    let mut dir = None;
    let mut show_files = false;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--files" => show_files = true,
            "-h" | "--help" => {
                println!("usage: forecast-eval [NAB_DIR] [--files]");
                return ExitCode::SUCCESS;
            }
            _ if arg.starts_with("--") => {
                eprintln!("unknown option {arg}");
                return ExitCode::FAILURE;
            }
            _ => dir = Some(PathBuf::from(arg)),
        }
    }
    let (dir, files) = match nab::open(dir) {
        Ok(found) => found,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "NAB data: {} ({} files); holdout: last {:.0} % of each span, at most 1 day; \
         fit window: last {MAX_FIT_SLOTS} slots",
        dir.display(),
        files.len(),
        100.0 * HOLDOUT_SHARE
    );
    let mut results = Vec::new();
    for file in &files {
        match evaluate(file) {
            Ok(r) => results.push(r),
            Err(e) => {
                eprintln!("{}: {e}", file.name);
                return ExitCode::FAILURE;
            }
        }
    }
    if show_files {
        println!(
            "{:<56} {:>5} {:>4} {:<24} {:>5} {:>8} {:>8} {:>5} {:>7} {:>7} {:>7}  {:>6} {:>6} {:>6}  {:>5} {:>5} {:>6}",
            "file",
            "train",
            "test",
            "model",
            "alpha",
            "beta",
            "gamma",
            "phi",
            "MASE",
            "snaive",
            "naive",
            "sMAPE",
            "snaive",
            "naive",
            "cov80",
            "cov95",
            "fit ms"
        );
        for r in &results {
            let mase = |e: &Errors| r.scale.map_or(f64::NAN, |s| e.mae / s);
            let [ours, snaive, naive] = &r.errors;
            println!(
                "{:<56} {:>5} {:>4} {:<24} {:>5.3} {:>8.2e} {:>8.2e} {:>5.3} {:>7.3} {:>7.3} {:>7.3}  {:>6.2} {:>6.2} {:>6.2}  {:>5.2} {:>5.2} {:>6.1}",
                r.name,
                r.train,
                r.test,
                r.model,
                r.params.alpha,
                r.params.beta,
                r.params.gamma,
                r.params.phi,
                mase(ours),
                mase(snaive),
                mase(naive),
                ours.smape,
                snaive.smape,
                naive.smape,
                share(r.cover80),
                share(r.cover95),
                r.fit_time.as_secs_f64() * 1e3
            );
        }
    }
    println!(
        "{:<8} {:>10} {:>12} {:>11} {:>13}",
        "method", "MASE mean", "MASE median", "sMAPE mean", "sMAPE median"
    );
    for (k, name) in METHODS.iter().enumerate() {
        // Files whose scale is 0 have no MASE.
        let mase: Vec<f64> = results
            .iter()
            .filter_map(|r| r.scale.map(|s| r.errors[k].mae / s))
            .collect();
        let smape: Vec<f64> = results.iter().map(|r| r.errors[k].smape).collect();
        println!(
            "{name:<8} {:>10.3} {:>12.3} {:>10.2}% {:>12.2}%",
            mean(&mase),
            median(&mase),
            mean(&smape),
            median(&smape)
        );
    }
    for (k, name) in METHODS.iter().enumerate().skip(1) {
        let wins = results
            .iter()
            .filter(|r| r.errors[0].mae < r.errors[k].mae)
            .count();
        let ties = results
            .iter()
            .filter(|r| r.errors[0].mae == r.errors[k].mae)
            .count();
        println!(
            "ours beats {name} on {wins}/{} files by MAE ({ties} ties)",
            results.len()
        );
    }
    let pooled = |pick: fn(&FileResult) -> (usize, usize)| {
        let (a, b) = results
            .iter()
            .map(pick)
            .fold((0, 0), |s, c| (s.0 + c.0, s.1 + c.1));
        (
            share((a, b)),
            mean(&results.iter().map(|r| share(pick(r))).collect::<Vec<_>>()),
        )
    };
    let (p80, f80) = pooled(|r| r.cover80);
    let (p95, f95) = pooled(|r| r.cover95);
    println!(
        "interval coverage: 80 % → {:.1} % pooled, {:.1} % mean per file; 95 % → {:.1} % pooled, {:.1} % mean per file",
        100.0 * p80,
        100.0 * f80,
        100.0 * p95,
        100.0 * f95
    );
    let total: Duration = results.iter().map(|r| r.fit_time).sum();
    let slowest = results.iter().max_by_key(|r| r.fit_time);
    println!(
        "fit time: {:.3} s total over {} files; slowest {:.1} ms ({}, {} points)",
        total.as_secs_f64(),
        results.len(),
        slowest.map_or(0.0, |r| r.fit_time.as_secs_f64() * 1e3),
        slowest.map_or("", |r| r.name.as_str()),
        slowest.map_or(0, |r| r.train)
    );
    ExitCode::SUCCESS
}

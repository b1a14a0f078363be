//! Runs the default [`detect::Detector`] causally over every NAB file and scores it with NAB's
//! three profiles.
//!
//! ```text
//! nab-eval [NAB_DIR] [--files] [--fps] [--bench] [--feedback] [--set FIELD=VALUE]...
//! ```
//!
//! `NAB_DIR` defaults to `../shared/nab` relative to the repository root. `--files` prints a line
//! per file (detections, false positives, windows hit, score at each profile's threshold);
//! `--fps` also lists each alarm outside the labelled windows at the standard threshold;
//! `--bench` also times the detector alone over the whole corpus (updates per second);
//! `--feedback` simulates an operator marking every alarm outside the labelled windows "not an
//! anomaly" (see `run`); `--set FIELD=VALUE` overrides a [`Config`] field for experiments.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use detect::nab::{self, NabFile, ScoredSeries, PROFILES};
use detect::{Config, Detector, Score};

/// Anomaly scores of the detector over one file. With `feedback`, a simulated operator presses
/// "not an anomaly" on every alarm (score ≥ 0.5, the level Osprey records) outside the labelled
/// windows after the probation period, as a user would on a false alarm; this checks that
/// feedback does not cost real detections.
fn run(file: &NabFile, cfg: &Config, feedback: bool) -> Vec<f64> {
    let mut d = Detector::new(*cfg);
    let inside = |i: usize| {
        file.labels
            .windows
            .iter()
            .any(|&(a, b)| (a..=b).contains(&i))
    };
    let probation = nab::probation_len(file.values.len());
    file.timestamps_ms
        .iter()
        .zip(&file.values)
        .enumerate()
        .map(|(i, (&t, &v))| {
            let s = d.update(t, v);
            if feedback && i >= probation && s.score >= 0.5 && !inside(i) {
                d.tolerate(Score::sigmas(v, s.expected, s.upper, cfg.band_sigmas));
            }
            s.score
        })
        .collect()
}

/// Overrides one [`Config`] field, for experiments: `--set surprise_z=2.5`.
fn set(cfg: &mut Config, kv: &str) -> Result<(), String> {
    let (key, value) = kv.split_once('=').ok_or("expected FIELD=VALUE")?;
    let x: f64 = value.parse().map_err(|e| format!("{e}"))?;
    match key {
        "median_len" => cfg.median_len = x as usize,
        "error_alpha" => cfg.error_alpha = x,
        "season_alpha" => cfg.season_alpha = x,
        "offset_alpha" => cfg.offset_alpha = x,
        "surprise_z" => cfg.surprise_z = x,
        "spatial_tolerance" => cfg.spatial_tolerance = x,
        "short_window" => cfg.short_window = x as usize,
        "long_alpha" => cfg.long_alpha = x,
        "learning_points" => cfg.learning_points = x as u32,
        "min_sigma" => cfg.min_sigma = x,
        "red_tail" => cfg.red_tail = x,
        "yellow_tail" => cfg.yellow_tail = x,
        "band_sigmas" => cfg.band_sigmas = x,
        "refractory_points" => cfg.refractory_points = x as u32,
        "novelty_weight" => cfg.novelty_weight = x,
        "novelty_alpha" => cfg.novelty_alpha = x,
        "novelty_count" => cfg.novelty_count = x,
        "model_ratio" => cfg.model_ratio = x,
        "stuck_factor" => cfg.stuck_factor = x,
        "stuck_points" => cfg.stuck_points = x as u32,
        "extreme_weight" => cfg.extreme_weight = x,
        "block_len" => cfg.block_len = x as u32,
        "block_median" => cfg.block_median = x as usize,
        "block_weight" => cfg.block_weight = x,
        "fast_window" => cfg.fast_window = x as usize,
        "fast_weight" => cfg.fast_weight = x,
        _ => return Err(format!("unknown field {key}")),
    }
    Ok(())
}

fn bench(files: &[NabFile]) {
    let points: usize = files.iter().map(|f| f.values.len()).sum();
    let passes = 20;
    let start = Instant::now();
    let mut sink = 0.0;
    for _ in 0..passes {
        for f in files {
            let mut d = Detector::default();
            for (&t, &v) in f.timestamps_ms.iter().zip(&f.values) {
                let s: Score = d.update(t, v);
                sink += s.score;
            }
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let updates = (points * passes) as f64;
    println!(
        "bench: {updates} updates in {secs:.3} s = {:.0} updates/s ({:.0} ns/update; checksum {sink:.3})",
        updates / secs,
        secs * 1e9 / updates
    );
    println!(
        "state: size_of::<Detector>() = {} bytes, no heap",
        std::mem::size_of::<Detector>()
    );
}

fn main() -> ExitCode {
    let mut dir = None;
    let (mut show_files, mut do_bench, mut feedback) = (false, false, false);
    let mut show_fps = false;
    let mut cfg = Config::default();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--set" => {
                let kv = args.next().unwrap_or_default();
                if let Err(e) = set(&mut cfg, &kv) {
                    eprintln!("--set {kv}: {e}");
                    return ExitCode::FAILURE;
                }
            }
            "--files" => show_files = true,
            "--fps" => {
                show_files = true;
                show_fps = true;
            }
            "--bench" => do_bench = true,
            "--feedback" => feedback = true,
            "-h" | "--help" => {
                println!(
                    "usage: nab-eval [NAB_DIR] [--files] [--fps] [--bench] [--feedback] [--set FIELD=VALUE]..."
                );
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
    let scores: Vec<Vec<f64>> = files.iter().map(|f| run(f, &cfg, feedback)).collect();
    let corpus: Vec<ScoredSeries<'_>> = files
        .iter()
        .zip(&scores)
        .map(|(f, s)| ScoredSeries {
            labels: &f.labels,
            scores: s,
        })
        .collect();
    let rows: usize = files.iter().map(|f| f.values.len()).sum();
    let windows: usize = files.iter().map(|f| f.labels.windows.len()).sum();
    println!(
        "NAB data: {} ({} files, {rows} rows, {windows} windows)",
        dir.display(),
        files.len()
    );

    let results: Vec<_> = PROFILES.iter().map(|p| nab::evaluate(&corpus, p)).collect();
    if show_files {
        println!(
            "{:<58} {:>6} {:>4}   per profile: detections/false positives/windows hit  score",
            "file", "rows", "win"
        );
        for (f, s) in files.iter().zip(&scores) {
            let mut line = format!(
                "{:<58} {:>6} {:>4}",
                f.name,
                f.values.len(),
                f.labels.windows.len()
            );
            for r in &results {
                let fs = nab::score_file(&f.labels, s, &r.profile, r.threshold);
                line += &format!(
                    "   {:>3}/{:>3}/{}  {:>6.2}",
                    fs.detections, fs.false_positives, fs.windows_hit, fs.score
                );
            }
            println!("{line}");
            let probation = nab::probation_len(f.values.len());
            if show_fps {
                // Alarms outside every window at the standard threshold: where false positives
                // come from (index, score, points after the last window's end).
                let th = results[0].threshold;
                let inside = |i: usize| f.labels.windows.iter().any(|&(a, b)| (a..=b).contains(&i));
                for (i, &x) in s.iter().enumerate().skip(probation) {
                    if x >= th && !inside(i) {
                        let after = f
                            .labels
                            .windows
                            .iter()
                            .filter(|w| w.1 < i)
                            .map(|w| i - w.1)
                            .min();
                        println!(
                            "    fp {i} score {x:.3} after-window {after:?} value {}",
                            f.values[i]
                        );
                    }
                }
            }
            for &(a, b) in &f.labels.windows {
                let (arg, max) =
                    (a..=b)
                        .map(|i| (i, s[i]))
                        .fold((a, -1.0), |m, x| if x.1 > m.1 { x } else { m });
                println!(
                    "    window {a}..={b} (probation {probation}): max score {max:.3} at {}",
                    arg as i64 - a as i64
                );
            }
        }
    }
    for r in &results {
        let counts = files
            .iter()
            .zip(&scores)
            .map(|(f, s)| nab::score_file(&f.labels, s, &r.profile, r.threshold))
            .fold((0, 0, 0), |(d, fp, hit), fs| {
                (
                    d + fs.detections,
                    fp + fs.false_positives,
                    hit + fs.windows_hit,
                )
            });
        println!(
            "{:<19} normalised {:>6.2}  threshold {:.6}  raw {:>7.3} (null {:.3}, perfect {:.1})  \
             detections {} false positives {} windows hit {}/{windows}",
            r.profile.name,
            r.normalized,
            r.threshold,
            r.raw_score,
            r.null_score,
            r.perfect_score,
            counts.0,
            counts.1,
            counts.2
        );
    }
    if do_bench {
        bench(&files);
    }
    ExitCode::SUCCESS
}

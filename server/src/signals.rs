//! The debugging views' reads, shared by the HTTP API and the dashboard: issues with their
//! sparklines and tag breakdowns, traces, logs.

use crate::store::{EntrySpan, ErrorGroupQuery, Store, StoreResult};
use app::model::{ErrorGroupDetail, ErrorGroupView, ErrorOccurrence, LatencySurface, ServiceStats};
use std::collections::{BTreeMap, HashMap};

/// Buckets of an issue's sparkline over the listing's window.
pub const SPARK_BUCKETS: i64 = 24;
/// Occurrences an issue page shows and breaks down by tag.
const RECENT_OCCURRENCES: u32 = 100;
/// Values listed per tag on an issue page.
const TAG_VALUES: usize = 10;

/// Issues seen in the query's window, each with occurrence counts over it.
pub async fn error_groups(
    store: &dyn Store,
    query: &ErrorGroupQuery,
) -> StoreResult<Vec<ErrorGroupView>> {
    let mut groups = store.error_groups(query).await?;
    let step = ((query.to - query.from) / SPARK_BUCKETS).max(1);
    let ids: Vec<String> = groups.iter().map(|g| g.group_id.clone()).collect();
    let counts = store
        .error_counts(&ids, query.from, query.from + step * SPARK_BUCKETS, step)
        .await?;
    let mut by_group: HashMap<String, Vec<(i64, i64)>> = HashMap::new();
    for (id, bucket, n) in counts {
        by_group.entry(id).or_default().push((bucket, n));
    }
    for g in &mut groups {
        g.sparkline = sparkline(by_group.remove(&g.group_id).unwrap_or_default());
    }
    Ok(groups)
}

/// One issue's occurrence counts laid out in [`SPARK_BUCKETS`] buckets; counts outside them
/// are left out.
pub fn sparkline(counts: impl IntoIterator<Item = (i64, i64)>) -> Vec<i64> {
    let mut line = vec![0; SPARK_BUCKETS as usize];
    for (bucket, n) in counts {
        if let Some(slot) = usize::try_from(bucket).ok().and_then(|b| line.get_mut(b)) {
            *slot += n;
        }
    }
    line
}

/// One issue with its recent occurrences and their tag breakdown.
pub async fn error_detail(
    store: &dyn Store,
    group_id: &str,
) -> StoreResult<Option<ErrorGroupDetail>> {
    let Some(group) = store.error_group(group_id).await? else {
        return Ok(None);
    };
    let occurrences = store
        .error_occurrences(group_id, RECENT_OCCURRENCES)
        .await?;
    let tags = tag_breakdown(&occurrences);
    Ok(Some(ErrorGroupDetail {
        group,
        occurrences,
        tags,
    }))
}

/// For every tag and context label: how many of the occurrences had each value, most common
/// first (ties by value), at most [`TAG_VALUES`] values.
fn tag_breakdown(occurrences: &[ErrorOccurrence]) -> BTreeMap<String, Vec<(String, i64)>> {
    let mut counts: BTreeMap<String, HashMap<&str, i64>> = BTreeMap::new();
    for o in occurrences {
        for (k, v) in o.labels.iter().chain(&o.tags) {
            if k == "session_id" {
                continue; // one per visit: no pattern to see
            }
            *counts.entry(k.clone()).or_default().entry(v).or_default() += 1;
        }
    }
    counts
        .into_iter()
        .map(|(k, values)| {
            let mut values: Vec<(String, i64)> = values
                .into_iter()
                .map(|(v, n)| (v.to_string(), n))
                .collect();
            values.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            values.truncate(TAG_VALUES);
            (k, values)
        })
        .collect()
}

/// Entry spans read at most to compute per-service statistics over one range.
pub const MAX_STAT_SPANS: u32 = 200_000;

/// Requests, error rate and latency percentiles per service, from the entry spans started in
/// `[from, to)` (the newest [`MAX_STAT_SPANS`] of them), busiest service first.
pub async fn service_stats(
    store: &dyn Store,
    from: i64,
    to: i64,
) -> StoreResult<Vec<ServiceStats>> {
    let spans = store.entry_spans(from, to, None, MAX_STAT_SPANS).await?;
    Ok(stats_of(spans))
}

/// Per-service statistics of a set of entry spans, busiest service first.
pub fn stats_of(spans: Vec<EntrySpan>) -> Vec<ServiceStats> {
    let mut by_service: HashMap<String, (Vec<f64>, i64)> = HashMap::new();
    for span in spans {
        let entry = by_service.entry(span.service).or_default();
        entry.0.push(span.duration_ms);
        entry.1 += i64::from(span.failed);
    }
    let mut out: Vec<ServiceStats> = by_service
        .into_iter()
        .map(|(service, (mut durations, errors))| {
            durations.sort_by(f64::total_cmp);
            let requests = durations.len() as i64;
            // Nearest rank: the smallest duration at least q of the requests did not exceed.
            let at = |q: f64| {
                let rank = ((q * durations.len() as f64).ceil() as usize).clamp(1, durations.len());
                durations[rank - 1]
            };
            ServiceStats {
                service,
                requests,
                errors,
                error_rate: errors as f64 / requests as f64,
                p50_ms: at(0.50),
                p95_ms: at(0.95),
                p99_ms: at(0.99),
            }
        })
        .collect();
    out.sort_by(|a, b| {
        b.requests
            .cmp(&a.requests)
            .then_with(|| a.service.cmp(&b.service))
    });
    out
}

/// The statuses an issue may be given.
pub fn valid_status(status: &str) -> bool {
    matches!(status, "unresolved" | "resolved" | "ignored")
}

/// Entry spans read at most for one latency surface.
pub const MAX_SURFACE_SPANS: u32 = 1_000_000;

/// Requests started in `[from, to)` (of one service when given) counted by time and latency:
/// `cols` equal time slices by `rows` latency buckets, log-spaced between the fastest and
/// slowest request seen.
pub async fn latency_surface(
    store: &dyn Store,
    from: i64,
    to: i64,
    service: Option<&str>,
    cols: usize,
    rows: usize,
) -> StoreResult<LatencySurface> {
    let spans = store
        .entry_spans(from, to, service, MAX_SURFACE_SPANS)
        .await?;
    let truncated = spans.len() as u32 == MAX_SURFACE_SPANS;
    Ok(surface_of(&spans, from, to, cols, rows, truncated))
}

fn surface_of(
    spans: &[EntrySpan],
    from: i64,
    to: i64,
    cols: usize,
    rows: usize,
    truncated: bool,
) -> LatencySurface {
    let (cols, rows) = (cols.max(1), rows.max(1));
    let (mut lo, mut hi) = spans.iter().fold((f64::INFINITY, 0.0f64), |(lo, hi), s| {
        (lo.min(s.duration_ms), hi.max(s.duration_ms))
    });
    lo = if lo.is_finite() { lo.max(0.01) } else { 1.0 };
    // At least a decade, so one steady latency still shows as a ridge, not a wall.
    hi = hi.max(lo * 10.0);
    let ratio = (hi / lo).ln();
    let bounds_ms: Vec<f64> = (0..=rows)
        .map(|r| lo * (ratio * r as f64 / rows as f64).exp())
        .collect();
    let mut counts = vec![0u32; cols * rows];
    let span = (to - from).max(1) as f64;
    for s in spans {
        let col = (((s.start - from) as f64 / span) * cols as f64).floor();
        let row = ((s.duration_ms.max(lo) / lo).ln() / ratio * rows as f64).floor();
        let (col, row) = (
            (col.max(0.0) as usize).min(cols - 1),
            (row.max(0.0) as usize).min(rows - 1),
        );
        counts[row * cols + col] += 1;
    }
    LatencySurface {
        from,
        to,
        cols,
        bounds_ms,
        counts,
        requests: spans.len() as u64,
        truncated,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn occurrence(release: &str, browser: &str) -> ErrorOccurrence {
        ErrorOccurrence {
            timestamp: 0,
            kind: "TypeError".into(),
            message: "x".into(),
            stacktrace: vec![],
            tags: [("browser".to_string(), browser.to_string())].into(),
            labels: [
                ("release".to_string(), release.to_string()),
                ("session_id".to_string(), "s".to_string()),
            ]
            .into(),
            trace_id: None,
            span_id: None,
        }
    }

    #[test]
    fn services_get_rates_and_nearest_rank_percentiles() {
        let span = |service: &str, duration_ms: f64, failed: bool| EntrySpan {
            service: service.into(),
            start: 0,
            duration_ms,
            failed,
        };
        let mut spans: Vec<EntrySpan> = (1..=100)
            .map(|i| span("api", i as f64, i % 10 == 0))
            .collect();
        spans.push(span("web", 5.0, false));
        let stats = stats_of(spans);
        assert_eq!(stats[0].service, "api");
        assert_eq!((stats[0].requests, stats[0].errors), (100, 10));
        assert!((stats[0].error_rate - 0.1).abs() < 1e-12);
        assert_eq!(
            (stats[0].p50_ms, stats[0].p95_ms, stats[0].p99_ms),
            (50.0, 95.0, 99.0)
        );
        assert_eq!((stats[1].service.as_str(), stats[1].p99_ms), ("web", 5.0));
    }

    #[test]
    fn a_latency_surface_counts_each_request_once_by_time_and_latency() {
        let span = |start: i64, duration_ms: f64| EntrySpan {
            service: "api".into(),
            start,
            duration_ms,
            failed: false,
        };
        let spans = vec![
            span(0, 1.0),
            span(0, 1000.0),
            span(59_999, 10.0),
            span(30_000, 1000.0),
            span(30_000, 31.0),
        ];
        let s = surface_of(&spans, 0, 60_000, 2, 3, false);
        assert_eq!((s.cols, s.rows(), s.requests), (2, 3, 5));
        assert_eq!(s.counts.iter().sum::<u32>(), 5);
        assert!((s.bounds_ms[0] - 1.0).abs() < 1e-9 && (s.bounds_ms[3] - 1000.0).abs() < 1e-6);
        // Rows are 1–10, 10–100, 100–1000 ms; columns the two halves of the minute.
        assert_eq!(s.counts, vec![1, 0, 0, 2, 1, 1]);
        let empty = surface_of(&[], 0, 60_000, 4, 5, false);
        assert_eq!((empty.counts.len(), empty.requests), (20, 0));
        assert!(empty.bounds_ms.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn tags_break_down_most_common_first() {
        let tags = tag_breakdown(&[
            occurrence("1.0", "firefox"),
            occurrence("1.1", "chromium"),
            occurrence("1.1", "chromium"),
        ]);
        assert_eq!(
            tags["release"],
            vec![("1.1".to_string(), 2), ("1.0".to_string(), 1)]
        );
        assert_eq!(tags["browser"][0], ("chromium".to_string(), 2));
        assert!(!tags.contains_key("session_id"));
    }
}

//! Series derived from spans, on both storage backends: written through the real ingest path,
//! resumed after a restart without writing a minute twice, and watched for anomalies.

mod common;

use osprey::anomaly::AnomalyWatch;
use osprey::derived::{self, Deriver, ERROR_RATIO, LATENCY_P95, REQUEST_RATE};
use osprey::hot::HotWindow;
use osprey::ingest::model::{Batch, Labels, Span};
use osprey::ingest::{spawn_writer, IngestService, WriterDeps, WriterHandle};
use osprey::live::LiveHub;
use osprey::store::Store;
use osprey::telemetry::Telemetry;
use std::sync::{Arc, Mutex};

const MINUTE: i64 = 60_000;
/// Minutes of history; the detector learns for 150 of them.
const MINUTES: i64 = 300;
/// Minutes (counted from the first) in which checkout fails most of its requests.
const INCIDENT: std::ops::Range<i64> = 290..294;
/// Minute from which search serves nothing.
const SEARCH_STOPS: i64 = 100;

fn writer(store: Arc<dyn Store>) -> (IngestService, WriterHandle) {
    let telemetry = Arc::new(Telemetry::default());
    let (security, _) = tokio::sync::mpsc::channel(1);
    spawn_writer(
        WriterDeps {
            store,
            hot: Arc::new(HotWindow::new(60_000, 16, 1_000, 0)),
            live: Arc::new(LiveHub::new(4, 4, 10, telemetry.clone())),
            telemetry,
            detectors: Arc::new(Mutex::new(AnomalyWatch::new(1_000))),
            security,
        },
        64,
        10_000,
    )
}

/// A small deterministic generator, so the history is noisy but the same on every run.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Entry spans of two services over [`MINUTES`] minutes from `start`: checkout serves 20 requests
/// a minute, failing 0–2 of them (16 during the incident), search serves 5 a minute until
/// [`SEARCH_STOPS`].
fn history(start: i64) -> Batch {
    let mut rng = Lcg(7);
    let mut spans = Vec::new();
    let mut push = |service: &str, start: i64, duration_ms: f64, failed: bool| {
        let n = spans.len() + 1;
        spans.push(Span {
            trace_id: format!("{n:032x}"),
            span_id: format!("{n:016x}"),
            parent_span_id: None,
            name: "GET /".into(),
            service: service.into(),
            start,
            duration_ms,
            status: if failed { "error" } else { "ok" }.into(),
            attributes: serde_json::Value::Null,
            labels: Labels::new(),
        })
    };
    for m in 0..MINUTES {
        let t = start + m * MINUTE;
        let failures = if INCIDENT.contains(&m) {
            16
        } else {
            (rng.next() * 3.0) as i64
        };
        for i in 0..20 {
            let duration = 40.0 + 20.0 * rng.next();
            push("checkout", t + i * 2_000, duration, i < failures);
        }
        if m < SEARCH_STOPS {
            for i in 0..5 {
                push("search", t + i * 7_000, 5.0 + rng.next(), false);
            }
        }
    }
    Batch {
        spans,
        ..Batch::default()
    }
}

/// Derives every settled minute, as the background task does.
async fn derive_all(store: &dyn Store, ingest: &IngestService, now: i64) -> Deriver {
    let mut deriver = Deriver::resume(store, now).await.unwrap();
    while let Some(chunk) = deriver.next_chunk(store, now).await.unwrap() {
        ingest.submit(derived::batch(chunk.samples)).await.unwrap();
        deriver.advance(chunk.then);
    }
    deriver
}

async fn values(store: &dyn Store, metric: &str, service: &str) -> Vec<(i64, f64)> {
    let series = store.series(metric).await.unwrap();
    let ids: Vec<i64> = series
        .iter()
        .filter(|s| s.labels.get("service").map(String::as_str) == Some(service))
        .map(|s| s.id)
        .collect();
    assert_eq!(ids.len(), 1, "one {metric} series of {service}");
    store
        .samples(&ids, 0, i64::MAX)
        .await
        .unwrap()
        .into_iter()
        .map(|s| (s.ts, s.value))
        .collect()
}

async fn derives_rates_ratios_and_latency_and_finds_the_incident(
    store: Arc<dyn Store>,
    reopen: impl std::future::Future<Output = Arc<dyn Store>>,
) {
    let now = common::now_ms();
    // The history ends with the last settled minute.
    let settled = (now - derived::SETTLE_MS) / MINUTE * MINUTE;
    let start = settled - MINUTES * MINUTE;
    store.write(&history(start)).await.unwrap();

    let (ingest, handle) = writer(store.clone());
    let deriver = derive_all(store.as_ref(), &ingest, now).await;
    handle.shutdown().await;
    assert_eq!(deriver.next_minute(), settled);

    let rate = values(store.as_ref(), REQUEST_RATE, "checkout").await;
    assert_eq!(rate.len(), MINUTES as usize, "a point a minute");
    assert_eq!(rate[0], (start, 20.0 / 60.0));
    let ratio = values(store.as_ref(), ERROR_RATIO, "checkout").await;
    assert_eq!(
        ratio[INCIDENT.start as usize],
        (start + INCIDENT.start * MINUTE, 0.8)
    );
    assert!(ratio.iter().all(|(_, r)| (0.0..=0.8).contains(r)));
    let p95 = values(store.as_ref(), LATENCY_P95, "checkout").await;
    assert!(
        p95.iter().all(|(_, ms)| (40.0..60.0).contains(ms)),
        "{p95:?}"
    );

    // search: its rate while it served, then zero for an hour after it stopped, then nothing.
    let search = values(store.as_ref(), REQUEST_RATE, "search").await;
    assert_eq!(search.len() as i64, SEARCH_STOPS + 60);
    assert!(search[..SEARCH_STOPS as usize]
        .iter()
        .all(|(_, r)| *r == 5.0 / 60.0));
    assert!(search[SEARCH_STOPS as usize..]
        .iter()
        .all(|(_, r)| *r == 0.0));
    assert_eq!(
        values(store.as_ref(), ERROR_RATIO, "search").await.len() as i64,
        SEARCH_STOPS,
        "no error ratio without requests"
    );

    // The detector watching checkout's error ratio reports the incident, in words.
    let found = store
        .anomalies(Some(ERROR_RATIO), 0, i64::MAX, 100)
        .await
        .unwrap();
    let incident = start + INCIDENT.start * MINUTE..start + INCIDENT.end * MINUTE;
    let hit = found
        .iter()
        .find(|a| incident.contains(&a.timestamp))
        .unwrap_or_else(|| panic!("no anomaly in the incident: {found:?}"));
    assert_eq!(hit.labels["service"], "checkout");
    assert!(
        hit.explanation
            .starts_with("error ratio of checkout 0.8000 is above"),
        "{}",
        hit.explanation
    );
    store.close().await;

    // A restart resumes after the newest point: nothing is due, nothing is written twice.
    let store = reopen.await;
    let again = Deriver::resume(store.as_ref(), now).await.unwrap();
    assert_eq!(again.next_minute(), settled);
    assert!(again
        .next_chunk(store.as_ref(), now)
        .await
        .unwrap()
        .is_none());
    // A minute later exactly one more minute is due: checkout's zero rate (it is idle now).
    let chunk = again
        .next_chunk(store.as_ref(), now + MINUTE)
        .await
        .unwrap()
        .expect("one minute settled");
    let named: Vec<_> = chunk
        .samples
        .iter()
        .map(|s| {
            (
                s.series.name.as_str(),
                s.series.labels["service"].as_str(),
                s.ts,
                s.value,
            )
        })
        .collect();
    assert_eq!(named, vec![(REQUEST_RATE, "checkout", settled, 0.0)]);
    store.close().await;
}

#[tokio::test]
async fn derived_series_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let store = common::sqlite(dir.path(), 10_000).await;
    derives_rates_ratios_and_latency_and_finds_the_incident(
        store,
        common::sqlite(dir.path(), 10_000),
    )
    .await;
}

#[tokio::test]
async fn derived_series_on_postgres() {
    let Some((store, schema)) = common::postgres(10_000).await else {
        return;
    };
    derives_rates_ratios_and_latency_and_finds_the_incident(store, schema.reopen(10_000)).await;
}

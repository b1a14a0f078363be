//! One suite of storage behaviour, run against SQLite and PostgreSQL alike.

mod common;

use osprey::config::IngestConfig;
use osprey::ingest::model::{self, Batch};
use osprey::store::{ApiKey, EventQuery, KeyKind, Resolution, Store, StoreError};
use std::sync::Arc;

const T0: i64 = 1_795_780_800_000; // 2026-11-27T12:00:00Z

fn batch(json: serde_json::Value) -> Batch {
    model::decode(
        &serde_json::to_vec(&json).unwrap(),
        &IngestConfig::default(),
    )
    .expect("valid batch")
}

fn samples(name: &str, service: &str, points: &[(i64, f64)]) -> serde_json::Value {
    let metrics: Vec<_> = points
        .iter()
        .map(|(t, v)| serde_json::json!({"timestamp": t, "name": name, "value": v, "labels": {"service": service}}))
        .collect();
    serde_json::json!({ "metrics": metrics })
}

/// A small deterministic generator (xorshift), so a failing case reproduces.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

/// The ids of every series of `metric`.
async fn series_ids(store: &dyn Store, metric: &str) -> Vec<i64> {
    let series = store.series(metric).await.unwrap();
    series.iter().map(|s| s.id).collect()
}

mod cases {
    use super::*;

    pub async fn writes_and_reads_samples(store: Arc<dyn Store>) {
        store
            .write(&batch(samples(
                "lat",
                "api",
                &[(T0, 1.0), (T0 + 1_000, 2.0), (T0 + 2_000, 3.0)],
            )))
            .await
            .unwrap();
        store
            .write(&batch(samples("lat", "web", &[(T0, 10.0)])))
            .await
            .unwrap();
        let series = store.series("lat").await.unwrap();
        assert_eq!(series.len(), 2);
        let api = series
            .iter()
            .find(|s| s.labels["service"] == "api")
            .unwrap();
        let rows = store.samples(&[api.id], T0, T0 + 2_000).await.unwrap();
        assert_eq!(
            rows.iter().map(|r| (r.ts, r.value)).collect::<Vec<_>>(),
            vec![(T0, 1.0), (T0 + 1_000, 2.0)],
            "to is exclusive"
        );
        let counts = store.counts().await.unwrap();
        assert_eq!((counts.series, counts.samples), (2, 4));
    }

    pub async fn pending_samples_read_the_same_before_and_after_a_flush(store: Arc<dyn Store>) {
        let minute = 60_000;
        for i in 0..5 {
            let t = T0 + i * 20_000;
            let mut b = batch(samples(
                "m",
                "a",
                &[(t, i as f64), (t + 1, 10.0 * i as f64)],
            ));
            b.append(batch(samples("m", "b", &[(t, -(i as f64))])));
            store.write(&b).await.unwrap();
        }
        assert_eq!(store.pending_samples(), 15);
        let ids = series_ids(store.as_ref(), "m").await;
        let members: Vec<(i64, i64)> = ids.iter().map(|id| (*id, 0)).collect();
        let grouped = || async {
            store
                .rollup_groups(
                    Resolution::Minute,
                    &members,
                    T0,
                    T0 + 10 * minute,
                    2 * minute,
                )
                .await
                .unwrap()
        };
        let read = || async {
            (
                store.samples(&ids, T0, T0 + 10 * minute).await.unwrap(),
                store
                    .rollups(Resolution::Minute, &ids, T0, T0 + 10 * minute)
                    .await
                    .unwrap(),
                store
                    .rollups(Resolution::Hour, &ids, 0, T0 + 10 * minute)
                    .await
                    .unwrap(),
                grouped().await,
                store.recent_samples(T0, 100).await.unwrap(),
                store.counts().await.unwrap().samples,
            )
        };
        let pending = read().await;
        assert_eq!(pending.0.len(), 15);
        assert_eq!(pending.1.len(), 4, "two series × two minutes");
        let a = pending
            .1
            .iter()
            .find(|r| r.series_id == ids[0] && r.bucket == T0)
            .unwrap();
        assert_eq!(
            (a.count, a.sum, a.min, a.max, a.last),
            (6, 33.0, 0.0, 20.0, 20.0)
        );
        assert_eq!(pending.3.len(), 1, "one group, one two-minute bucket");
        assert_eq!((pending.3[0].count, pending.3[0].sum), (15, 100.0));
        assert_eq!(pending.5, 15);
        assert_eq!(store.flush_pending().await.unwrap(), 15);
        assert_eq!(store.pending_samples(), 0);
        assert_eq!(store.flush_pending().await.unwrap(), 0);
        let flushed = read().await;
        assert_eq!(flushed.0, pending.0);
        assert_eq!(flushed.1, pending.1);
        assert_eq!(flushed.2, pending.2);
        assert_eq!(flushed.3, pending.3);
        assert_eq!(flushed.4, pending.4);
        assert_eq!(flushed.5, 15);
        // Half flushed, half pending: rollups of one bucket are merged from both.
        store
            .write(&batch(samples("m", "a", &[(T0 + 50_000, 100.0)])))
            .await
            .unwrap();
        let mixed = store
            .rollups(Resolution::Minute, &ids[..1], T0, T0 + minute)
            .await
            .unwrap();
        assert_eq!(mixed.len(), 1);
        assert_eq!(
            (mixed[0].count, mixed[0].max, mixed[0].last),
            (7, 100.0, 100.0)
        );
        let groups = grouped().await;
        assert_eq!(
            (groups.len(), groups[0].count, groups[0].max),
            (1, 16, 100.0)
        );
    }

    pub async fn compaction_merges_blocks_without_changing_what_is_read(store: Arc<dyn Store>) {
        let hour = 3_600_000;
        let start = T0 / hour * hour;
        // Ten commits of two series in one hour, each flushed alone as a trickle of data would
        // be, two samples at one time in arrival order, and one commit in the hour still open.
        for i in 0..10 {
            let t = start + i * 60_000;
            let mut b = batch(samples("m", "a", &[(t, i as f64)]));
            b.append(batch(samples("m", "b", &[(t, -(i as f64))])));
            store.write(&b).await.unwrap();
            store.flush_pending().await.unwrap();
        }
        for v in [7.0, 8.0] {
            store
                .write(&batch(samples("m", "a", &[(start + 30_000, v)])))
                .await
                .unwrap();
            store.flush_pending().await.unwrap();
        }
        let now = start + 2 * hour + 1;
        store
            .write(&batch(samples("m", "a", &[(now - 1, 1.0), (now - 1, 2.0)])))
            .await
            .unwrap();
        let ids = series_ids(store.as_ref(), "m").await;
        let before = store.samples(&ids, start, now).await.unwrap();
        assert_eq!(before.len(), 24);
        assert_eq!(
            store.compact(now, 1).await.unwrap(),
            1,
            "one series-hour per call"
        );
        assert_eq!(store.compact(now, 100).await.unwrap(), 1);
        assert_eq!(
            store.compact(now, 100).await.unwrap(),
            0,
            "nothing left to merge"
        );
        let after = store.samples(&ids, start, now).await.unwrap();
        assert_eq!(after, before);
        let a: Vec<f64> = after
            .iter()
            .filter(|s| s.series_id == ids[0] && s.ts == start + 30_000)
            .map(|s| s.value)
            .collect();
        assert_eq!(a, vec![7.0, 8.0], "equal times keep their arrival order");
        assert_eq!(store.counts().await.unwrap().samples, 24);
        assert_eq!(
            store
                .samples(&ids, start + 60_000, start + 120_000)
                .await
                .unwrap()
                .len(),
            2,
            "a merged block is still cut to the range asked for"
        );
        let recent = store.recent_samples(start, 100).await.unwrap();
        assert_eq!(recent.len(), 24);
        assert!(
            recent.windows(2).all(|w| w[0].ts <= w[1].ts),
            "oldest first"
        );
        // Twelve flushes left twelve rollup blocks per series and window; compaction merges
        // each series-window into one, the open day of hours too, and the rollups read the same.
        store.flush_all().await.unwrap();
        let rollups = || async {
            let mut all = Vec::new();
            for resolution in Resolution::ALL {
                all.extend(store.rollups(resolution, &ids, start, now).await.unwrap());
            }
            all
        };
        let before = rollups().await;
        assert_eq!(
            before.len(),
            11 + 10 + 3 + 2 + 2 + 1,
            "minutes, five minutes and hours of a and b"
        );
        assert_eq!(
            store.compact_rollups(now, 100).await.unwrap(),
            6,
            "each series' first hour of minutes, and its (open) days of five minutes and hours"
        );
        assert_eq!(store.compact_rollups(now, 100).await.unwrap(), 0);
        assert_eq!(rollups().await, before);
    }

    pub async fn a_failed_batch_stores_nothing(store: Arc<dyn Store>) {
        // The store was opened with a limit of 2 series; a batch with 3 new ones must leave no trace.
        let mut b = batch(samples("m", "a", &[(T0, 1.0)]));
        b.append(batch(samples("m", "b", &[(T0, 1.0)])));
        b.append(batch(samples("m", "c", &[(T0, 1.0)])));
        b.append(batch(
            serde_json::json!({"events": [{"timestamp": T0, "name": "e"}]}),
        ));
        match store.write(&b).await {
            Err(StoreError::SeriesLimit { limit: 2 }) => {}
            other => panic!("expected the series limit, got {other:?}"),
        }
        let counts = store.counts().await.unwrap();
        assert_eq!((counts.series, counts.samples, counts.events), (0, 0, 0));
        // Within the limit, the same store accepts writes.
        store
            .write(&batch(samples("m", "a", &[(T0, 1.0)])))
            .await
            .unwrap();
        assert_eq!(store.counts().await.unwrap().series, 1);
    }

    pub async fn rollups_accumulate_across_commits(store: Arc<dyn Store>) {
        store
            .write(&batch(samples(
                "cpu",
                "db",
                &[(T0, 4.0), (T0 + 30_000, 2.0), (T0 + 60_000, 8.0)],
            )))
            .await
            .unwrap();
        store
            .write(&batch(samples("cpu", "db", &[(T0 + 59_000, 6.0)])))
            .await
            .unwrap();
        let id = store.series("cpu").await.unwrap()[0].id;
        let minutes = store
            .rollups(Resolution::Minute, &[id], T0, T0 + 120_000)
            .await
            .unwrap();
        assert_eq!(minutes.len(), 2);
        let m = minutes[0];
        assert_eq!(
            (m.bucket, m.count, m.sum, m.min, m.max),
            (T0, 3, 12.0, 2.0, 6.0)
        );
        assert_eq!((m.last, m.last_ts), (6.0, T0 + 59_000));
        let hours = store
            .rollups(Resolution::Hour, &[id], T0 - 3_600_000, T0 + 3_600_000)
            .await
            .unwrap();
        assert_eq!(hours.len(), 1);
        assert_eq!((hours[0].count, hours[0].max), (4, 8.0));
    }

    pub async fn rollups_are_summed_per_group_in_the_database(store: Arc<dyn Store>) {
        // Two services, two minutes each, read as one 2-minute step.
        store
            .write(&batch(samples(
                "lat",
                "api",
                &[(T0, 1.0), (T0 + 60_000, 3.0)],
            )))
            .await
            .unwrap();
        store
            .write(&batch(samples(
                "lat",
                "web",
                &[(T0 + 1_000, 10.0), (T0 + 61_000, 20.0), (T0 + 120_000, 7.0)],
            )))
            .await
            .unwrap();
        let series = store.series("lat").await.unwrap();
        let api = series
            .iter()
            .find(|s| s.labels["service"] == "api")
            .unwrap()
            .id;
        let web = series
            .iter()
            .find(|s| s.labels["service"] == "web")
            .unwrap()
            .id;
        let mut rows = store
            .rollup_groups(
                Resolution::Minute,
                &[(api, 0), (web, 0)],
                T0,
                T0 + 240_000,
                120_000,
            )
            .await
            .unwrap();
        rows.sort_by_key(|r| (r.group, r.index));
        assert_eq!(rows.len(), 2);
        assert_eq!(
            (
                rows[0].group,
                rows[0].index,
                rows[0].count,
                rows[0].sum,
                rows[0].min,
                rows[0].max
            ),
            (0, 0, 4, 34.0, 1.0, 20.0)
        );
        assert_eq!((rows[1].index, rows[1].count, rows[1].sum), (1, 1, 7.0));
        let mut split = store
            .rollup_groups(
                Resolution::Minute,
                &[(api, 0), (web, 1)],
                T0,
                T0 + 120_000,
                120_000,
            )
            .await
            .unwrap();
        split.sort_by_key(|r| r.group);
        assert_eq!(
            split
                .iter()
                .map(|r| (r.group, r.count, r.max))
                .collect::<Vec<_>>(),
            vec![(0, 2, 3.0), (1, 2, 20.0)]
        );
    }

    /// Rollup blocks answer exactly what a fold of the raw samples gives, for random samples
    /// written in many commits (some flushed, some compacted, some pending) and random ranges,
    /// steps and groupings, at both resolutions.
    pub async fn rollups_equal_a_fold_of_the_raw_samples(store: Arc<dyn Store>) {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let day = 86_400_000;
        let start = T0 - 2 * day;
        for commit in 0..40 {
            let mut metrics = Vec::new();
            for _ in 0..rng.below(200) + 1 {
                let ts = start + rng.below(3 * day as u64) as i64;
                let value = (rng.below(2001) as f64 - 1000.0) / 8.0;
                let (host, zone) = (rng.below(5), rng.below(2));
                metrics.push(
                    serde_json::json!({"timestamp": ts, "name": "prop", "value": value,
                    "labels": {"host": format!("h{host}"), "zone": format!("z{zone}")}}),
                );
            }
            store
                .write(&batch(serde_json::json!({ "metrics": metrics })))
                .await
                .unwrap();
            match commit % 7 {
                3 => {
                    store.flush_pending().await.unwrap();
                }
                5 => {
                    store.flush_all().await.unwrap();
                    store.compact(T0 + day, 1_000).await.unwrap();
                    store.compact_rollups(T0 + day, 1_000).await.unwrap();
                }
                _ => {}
            }
        }
        let series = store.series("prop").await.unwrap();
        let ids: Vec<i64> = series.iter().map(|s| s.id).collect();
        let raw = store
            .samples(&ids, i64::MIN / 2, i64::MAX / 2)
            .await
            .unwrap();
        for case in 0..60 {
            let resolution = Resolution::ALL[case % 3];
            let width = resolution.millis();
            let from = start - day / 2 + rng.below(3 * day as u64) as i64;
            let to = from + 1 + rng.below(2 * day as u64) as i64;
            let step = width * (1 + rng.below(if width == 60_000 { 90 } else { 6 }) as i64);
            // Per series and bucket.
            let rows = store.rollups(resolution, &ids, from, to).await.unwrap();
            // (count, sum, min, max, last_ts, last) per series and bucket.
            type Fold = (i64, f64, f64, f64, i64, f64);
            let mut want: std::collections::BTreeMap<(i64, i64), Fold> = Default::default();
            for s in &raw {
                let bucket = s.ts.div_euclid(width) * width;
                if !(from..to).contains(&bucket) {
                    continue;
                }
                let e = want.entry((s.series_id, bucket)).or_insert((
                    0,
                    0.0,
                    f64::INFINITY,
                    f64::NEG_INFINITY,
                    i64::MIN,
                    0.0,
                ));
                e.0 += 1;
                e.1 += s.value;
                e.2 = e.2.min(s.value);
                e.3 = e.3.max(s.value);
                if s.ts >= e.4 {
                    (e.4, e.5) = (s.ts, s.value);
                }
            }
            assert_eq!(
                rows.len(),
                want.len(),
                "case {case}: {from}..{to} at {width}"
            );
            for (r, ((id, bucket), w)) in rows.iter().zip(&want) {
                assert_eq!(
                    (r.series_id, r.bucket, r.count),
                    (*id, *bucket, w.0),
                    "case {case}"
                );
                assert!(
                    (r.sum - w.1).abs() < 1e-6,
                    "case {case}: sum {} vs {}",
                    r.sum,
                    w.1
                );
                assert_eq!((r.min, r.max, r.last_ts), (w.2, w.3, w.4), "case {case}");
            }
            // Per group and query step: by host, by zone, or all together.
            let by = ["host", "zone", ""][rng.below(3) as usize];
            let mut groups: Vec<String> = series
                .iter()
                .map(|s| s.labels.get(by).cloned().unwrap_or_default())
                .collect();
            groups.sort();
            groups.dedup();
            let members: Vec<(i64, i64)> = series
                .iter()
                .map(|s| {
                    let key = s.labels.get(by).cloned().unwrap_or_default();
                    (s.id, groups.iter().position(|g| *g == key).unwrap() as i64)
                })
                .collect();
            let group_of: std::collections::HashMap<i64, i64> = members.iter().copied().collect();
            let got = store
                .rollup_groups(resolution, &members, from, to, step)
                .await
                .unwrap();
            let mut want: std::collections::BTreeMap<(i64, i64), (i64, f64, f64, f64)> =
                Default::default();
            for s in &raw {
                let bucket = s.ts.div_euclid(width) * width;
                if !(from..to).contains(&bucket) {
                    continue;
                }
                let key = (group_of[&s.series_id], (bucket - from) / step);
                let e = want
                    .entry(key)
                    .or_insert((0, 0.0, f64::INFINITY, f64::NEG_INFINITY));
                e.0 += 1;
                e.1 += s.value;
                e.2 = e.2.min(s.value);
                e.3 = e.3.max(s.value);
            }
            let mut got: Vec<_> = got
                .iter()
                .map(|b| ((b.group, b.index), (b.count, b.sum, b.min, b.max)))
                .collect();
            got.sort_by_key(|g| g.0);
            assert_eq!(got.len(), want.len(), "case {case}: by {by:?}, step {step}");
            for ((key, g), (wkey, w)) in got.iter().zip(&want) {
                assert_eq!((key, g.0), (wkey, w.0), "case {case}");
                assert!(
                    (g.1 - w.1).abs() < 1e-6,
                    "case {case}: sum {} vs {}",
                    g.1,
                    w.1
                );
                assert_eq!((g.2, g.3), (w.2, w.3), "case {case}");
            }
        }
    }

    pub async fn stores_events_errors_spans_and_security(store: Arc<dyn Store>) {
        store
            .write(&batch(serde_json::json!({
                "context": {"service": "checkout"},
                "events": [
                    {"timestamp": T0, "name": "purchase", "properties": {"amount": 42.5}},
                    {"timestamp": T0 + 1, "name": "purchase", "properties": {"amount": 7}},
                    {"timestamp": T0 + 2, "name": "signup"}
                ],
                "errors": [{"timestamp": T0, "type": "TypeError", "message": "x is undefined", "stacktrace": [{"function": "f", "file": "a.js", "line": 1}]}],
                "spans": [{"trace_id": "0af7651916cd43dd8448eb211c80319c", "span_id": "b7ad6b7169203331", "name": "GET /", "start": T0, "duration_ms": 3.5}],
                "security": [{"timestamp": T0, "kind": "auth_failure", "actor": "u-1", "ip": "203.0.113.7"}]
            })))
            .await
            .unwrap();
        let c = store.counts().await.unwrap();
        assert_eq!((c.events, c.errors, c.spans, c.security), (3, 1, 1, 1));
        let purchases = store
            .events(&EventQuery {
                name: Some("purchase".into()),
                from: T0,
                to: T0 + 10,
                limit: 10,
            })
            .await
            .unwrap();
        assert_eq!(purchases.len(), 2);
        assert_eq!(purchases[0].timestamp, T0 + 1, "newest first");
        assert_eq!(purchases[1].properties["amount"], 42.5);
        assert_eq!(purchases[1].labels["service"], "checkout");
        let limited = store
            .events(&EventQuery {
                name: None,
                from: T0,
                to: T0 + 10,
                limit: 1,
            })
            .await
            .unwrap();
        assert_eq!(limited.len(), 1);
    }

    pub async fn anomalies_are_kept_per_series_and_minute(store: Arc<dyn Store>) {
        store
            .write(&batch(samples("lat", "api", &[(T0, 1.0)])))
            .await
            .unwrap();
        let series = store.series("lat").await.unwrap()[0].clone();
        let row = |ts: i64, score: f64| osprey::store::Anomaly {
            series_id: series.id,
            metric: "lat".into(),
            labels: series.labels.clone(),
            timestamp: ts,
            value: 9.0,
            score,
            expected: 1.0,
            lower: 0.5,
            upper: 1.5,
            explanation: "lat 9 is above its usual range".into(),
            dismissed: false,
        };
        store
            .put_anomalies(&[row(T0, 0.6), row(T0 + 60_000, 0.7)])
            .await
            .unwrap();
        store.put_anomalies(&[row(T0, 0.9)]).await.unwrap();
        let found = store
            .anomalies(Some("lat"), T0, T0 + 120_000, 10)
            .await
            .unwrap();
        assert_eq!(found.len(), 2);
        assert_eq!(
            (found[0].timestamp, found[1].timestamp),
            (T0 + 60_000, T0),
            "newest first"
        );
        assert_eq!(found[1].score, 0.9, "a second report replaces the first");
        assert_eq!(found[1].labels["service"], "api");
        assert!(store
            .anomalies(Some("other"), T0, T0 + 120_000, 10)
            .await
            .unwrap()
            .is_empty());
        assert_eq!(
            store
                .anomalies(None, T0, T0 + 120_000, 1)
                .await
                .unwrap()
                .len(),
            1
        );
        assert!(!found[0].dismissed);
        let detectors = std::sync::Mutex::new(osprey::anomaly::AnomalyWatch::new(1));
        let dismiss =
            |ts: i64| osprey::anomaly::dismiss(store.as_ref(), &detectors, series.id, ts, T0);
        let dismissed = dismiss(T0).await.unwrap().expect("the anomaly exists");
        assert!(dismissed.dismissed && dismissed.timestamp == T0);
        assert!(dismiss(T0 + 1).await.unwrap().is_none());
        let feedback = store.feedback(0).await.unwrap();
        assert_eq!(feedback.len(), 1, "a missing anomaly records nothing");
        // 9 against 1 ± 0.5 (three standard deviations): 24 of them, capped at the maximum.
        assert_eq!(feedback[0].series_id, series.id);
        assert_eq!(feedback[0].sigmas, detect::MAX_TOLERANCE);
        let listed = store
            .anomalies(Some("lat"), T0, T0 + 120_000, 10)
            .await
            .unwrap();
        assert_eq!(
            listed.iter().map(|a| a.dismissed).collect::<Vec<_>>(),
            [false, true]
        );
        store.expire(T0 + 1, 0).await.unwrap();
        assert_eq!(
            store.feedback(0).await.unwrap().len(),
            1,
            "feedback outlives its anomaly"
        );
        assert_eq!(
            store
                .anomalies(None, 0, i64::MAX / 2, 10)
                .await
                .unwrap()
                .len(),
            1,
            "retention removes old anomalies"
        );
    }

    pub async fn recent_samples_come_oldest_first_and_bounded(store: Arc<dyn Store>) {
        store
            .write(&batch(samples(
                "m",
                "a",
                &[(T0 - 5_000, 0.0), (T0 + 2_000, 2.0), (T0, 1.0)],
            )))
            .await
            .unwrap();
        store
            .write(&batch(samples("m", "b", &[(T0 + 1_000, 9.0)])))
            .await
            .unwrap();
        let rows = store.recent_samples(T0, 10).await.unwrap();
        assert_eq!(
            rows.iter().map(|r| (r.ts, r.value)).collect::<Vec<_>>(),
            vec![(T0, 1.0), (T0 + 1_000, 9.0), (T0 + 2_000, 2.0)]
        );
        assert_eq!(store.recent_samples(T0, 2).await.unwrap().len(), 2);
    }

    pub async fn keys_are_found_by_hash(store: Arc<dyn Store>) {
        assert!(!store.has_key(KeyKind::Ingest).await.unwrap());
        let key = ApiKey {
            hash: "ab".repeat(32),
            prefix: "osp_ingest_12".into(),
            kind: KeyKind::Ingest,
            project: "default".into(),
        };
        store.put_key(&key).await.unwrap();
        store.put_key(&key).await.unwrap();
        assert_eq!(store.find_key(&key.hash).await.unwrap(), Some(key));
        assert!(store.has_key(KeyKind::Ingest).await.unwrap());
        assert!(!store.has_key(KeyKind::Admin).await.unwrap());
        assert_eq!(store.find_key("00").await.unwrap(), None);
    }

    pub async fn retention_removes_only_expired_data(store: Arc<dyn Store>) {
        let day = 86_400_000;
        let old = T0 - 10 * day;
        store
            .write(&batch(samples("m", "a", &[(old, 1.0), (T0, 2.0)])))
            .await
            .unwrap();
        store
            .write(&batch(serde_json::json!({"events": [{"timestamp": old, "name": "e"}, {"timestamp": T0, "name": "e"}],
                "security": [{"timestamp": old, "kind": "k"}, {"timestamp": T0, "kind": "k"}]})))
            .await
            .unwrap();
        let report = store.expire(T0 - day, T0 - 30 * day).await.unwrap();
        assert!(report.raw > 0);
        let c = store.counts().await.unwrap();
        assert_eq!((c.samples, c.events, c.security), (1, 1, 1));
        let id = store.series("m").await.unwrap()[0].id;
        assert_eq!(
            store
                .rollups(Resolution::Minute, &[id], 0, i64::MAX / 2)
                .await
                .unwrap()
                .len(),
            2,
            "rollups outlive raw data"
        );
        store.expire(T0 - day, T0 + day).await.unwrap();
        assert_eq!(
            store
                .rollups(Resolution::Minute, &[id], 0, i64::MAX / 2)
                .await
                .unwrap()
                .len(),
            0
        );
        // Writing into a day whose partition was dropped works again.
        store
            .write(&batch(samples("m", "a", &[(old, 5.0)])))
            .await
            .unwrap();
        assert_eq!(store.samples(&[id], old, old + 1).await.unwrap().len(), 1);
    }

    pub async fn catalogue_lists_metrics_with_label_names(store: Arc<dyn Store>) {
        store
            .write(&batch(serde_json::json!({"metrics": [
                {"timestamp": T0, "name": "http.requests", "kind": "counter", "value": 1, "labels": {"service": "api"}},
                {"timestamp": T0, "name": "http.requests", "kind": "counter", "value": 1, "labels": {"service": "web", "route": "/"}},
                {"timestamp": T0, "name": "cpu", "value": 1}
            ]})))
            .await
            .unwrap();
        let m = store.metrics().await.unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].name, "cpu");
        assert_eq!(
            m[1].labels,
            vec!["route".to_string(), "service".to_string()]
        );
        assert_eq!(m[1].kind, osprey::ingest::model::MetricKind::Counter);
    }

    pub async fn dashboards_are_created_edited_duplicated_and_deleted(store: Arc<dyn Store>) {
        use osprey::dashboards::{Dashboard, DashboardError, Dashboards};
        let dashboards = Dashboards::new(store);
        let spec: Dashboard = serde_json::from_value(serde_json::json!({
            "title": "Checkout",
            "variables": [{"name": "service", "label": "service", "default": "web"}],
            "time": {"from": "now-6h", "to": "now"},
            "panels": [
                {"title": "p95 latency", "query": {"metric": "http.latency_ms", "agg": "p95", "filter": {"service": "$service"}}, "viz": "line"},
                {"title": "errors", "query": {"metric": "http.errors", "agg": "rate", "group_by": ["route"]}, "viz": "bar"}
            ]
        }))
        .unwrap();
        let created = dashboards.create(spec).await.unwrap();
        let read = dashboards.get(&created.id).await.unwrap();
        assert_eq!(read.dashboard, created.dashboard, "read back as stored");
        assert_eq!(read.dashboard.time.from, "now-6h");

        // An edit that sends the panels back with their ids keeps them; a new panel gets one.
        let mut edited = read.dashboard.clone();
        edited.title = "Checkout (prod)".into();
        edited.panels.swap(0, 1);
        let mut added = edited.panels[0].clone();
        added.id.clear();
        added.title = "error rate by host".into();
        edited.panels.push(added);
        let updated = dashboards.update(&created.id, edited).await.unwrap();
        let ids: Vec<&str> = updated
            .dashboard
            .panels
            .iter()
            .map(|p| p.id.as_str())
            .collect();
        assert_eq!(ids[0], created.dashboard.panels[1].id);
        assert_eq!(ids[1], created.dashboard.panels[0].id);
        assert!(!ids[2].is_empty() && !ids[..2].contains(&ids[2]));
        assert_eq!(updated.created_at, created.created_at);

        let copy = dashboards.duplicate(&created.id).await.unwrap();
        assert_eq!(copy.dashboard.title, "Copy of Checkout (prod)");
        assert!(copy
            .dashboard
            .panels
            .iter()
            .all(|p| !ids.contains(&p.id.as_str())));
        let list = dashboards.list().await.unwrap();
        assert_eq!(
            list.iter()
                .map(|d| (d.title.as_str(), d.panels))
                .collect::<Vec<_>>(),
            vec![("Checkout (prod)", 3), ("Copy of Checkout (prod)", 3)]
        );
        dashboards.delete(&created.id).await.unwrap();
        assert!(matches!(
            dashboards.get(&created.id).await,
            Err(DashboardError::NotFound(_))
        ));
        assert!(matches!(
            dashboards.delete(&created.id).await,
            Err(DashboardError::NotFound(_))
        ));
        assert_eq!(dashboards.list().await.unwrap().len(), 1);
    }

    pub async fn embed_tokens_open_expire_and_revoke(store: Arc<dyn Store>) {
        use osprey::dashboards::{Dashboard, Dashboards};
        use osprey::embeds::{EmbedError, EmbedRequest, Embeds};
        let d = Dashboards::new(store.clone())
            .create(
                serde_json::from_value::<Dashboard>(serde_json::json!({
                    "title": "Shop",
                    "variables": [{"name": "service", "label": "service"}],
                    "panels": [
                        {"title": "a", "query": {"metric": "m", "filter": {"service": "$service"}}, "viz": "line"},
                        {"title": "b", "query": {"metric": "m"}, "viz": "stat"}
                    ]
                }))
                .unwrap(),
            )
            .await
            .unwrap();
        let (a, b) = (
            d.dashboard.panels[0].id.clone(),
            d.dashboard.panels[1].id.clone(),
        );
        let embeds = Embeds::new(store.clone(), vec![]);
        let now = T0;
        let request = |panels: Vec<String>| EmbedRequest {
            panels,
            expires_in: Some("1h".into()),
            vars: [("service".to_string(), "web".to_string())].into(),
            origins: Some(vec!["https://Intranet.example.com/".into()]),
            ..Default::default()
        };
        // The dashboard is found from the panels.
        let issued = embeds
            .create(request(vec![a.clone()]), "ann", now)
            .await
            .unwrap();
        assert_eq!(issued.grant.dashboard, d.id);
        assert_eq!(issued.grant.origins, vec!["https://intranet.example.com"]);
        assert_eq!(
            issued.url,
            format!("/embed/panel/{a}?token={}", issued.token)
        );
        let grant = embeds.open(&issued.token, now + 1).await.unwrap();
        assert_eq!(grant, issued.grant);
        assert_eq!(grant.vars["service"], "web");

        // Another process on the same database (its own key cache) accepts the token.
        let other = Embeds::new(store.clone(), vec![]);
        assert_eq!(other.open(&issued.token, now + 1).await.unwrap(), grant);

        // Tampering with the id, the expiry or the signature is refused.
        let parts: Vec<&str> = issued.token.split('.').collect();
        let later = format!(
            "{}.{}.{}.{}",
            parts[0],
            parts[1],
            grant.expires_at + 1,
            parts[3]
        );
        let mut sig = parts[3].to_string();
        sig.replace_range(0..1, if sig.starts_with('0') { "1" } else { "0" });
        let resigned = format!("{}.{}.{}.{sig}", parts[0], parts[1], parts[2]);
        for bad in [later.as_str(), resigned.as_str(), "oe1.x.1.00", "", "oe1"] {
            assert!(
                matches!(embeds.open(bad, now).await, Err(EmbedError::BadToken)),
                "{bad} accepted"
            );
        }
        // Expiry, then revocation, each with a reason and the grant's origins.
        assert!(matches!(
            embeds.open(&issued.token, grant.expires_at).await,
            Err(EmbedError::Expired { at, ref origins }) if at == grant.expires_at && origins.len() == 1
        ));
        let two = embeds
            .create(request(vec![a.clone(), b.clone()]), "ann", now)
            .await
            .unwrap();
        assert_eq!(
            two.url,
            format!(
                "/embed/dashboard/{}?panels={a},{b}&token={}",
                d.id, two.token
            )
        );
        embeds.revoke(&two.grant.id, now + 5).await.unwrap();
        assert!(matches!(
            other.open(&two.token, now + 6).await,
            Err(EmbedError::Revoked { at, .. }) if at == now + 5
        ));
        let listed = embeds.issued_for(&d.id).await.unwrap();
        assert_eq!(listed.len(), 2);
        assert_eq!(
            listed
                .iter()
                .find(|e| e.grant.id == two.grant.id)
                .unwrap()
                .token,
            two.token
        );

        // Requests that name what is not there, or too much, are refused with the field.
        let field = |r: Result<_, EmbedError>| match r {
            Err(EmbedError::Invalid { field, .. }) => field,
            other => panic!("expected invalid, got {other:?}"),
        };
        let mut r = request(vec![a.clone(), "pa_none".into()]);
        assert_eq!(
            field(embeds.create(r.clone(), "ann", now).await),
            "panels[1]"
        );
        r = request(vec![a.clone()]);
        r.vars.insert("region".into(), "eu".into());
        assert_eq!(field(embeds.create(r, "ann", now).await), "vars.region");
        r = request(vec![a.clone()]);
        r.expires_in = Some("500d".into());
        assert_eq!(field(embeds.create(r, "ann", now).await), "expires_in");
        r = request(vec![a.clone()]);
        r.origins = Some(vec!["https://a.example/path".into()]);
        assert_eq!(field(embeds.create(r, "ann", now).await), "origins[0]");
        r = request(vec![]);
        assert_eq!(field(embeds.create(r, "ann", now).await), "panels");
        // With an allowlist configured, a token may only name origins on it.
        let strict = Embeds::new(store.clone(), vec!["https://intranet.example.com".into()]);
        r = request(vec![a.clone()]);
        r.origins = Some(vec!["https://elsewhere.example".into()]);
        assert_eq!(field(strict.create(r, "ann", now).await), "origins[0]");
        r = request(vec![a.clone()]);
        r.origins = None;
        let default = strict.create(r, "ann", now).await.unwrap();
        assert_eq!(default.grant.origins, vec!["https://intranet.example.com"]);
    }

    pub async fn documents_are_replaced_by_kind_and_id(store: Arc<dyn Store>) {
        use osprey::store::Document;
        let doc = |id: &str, name: &str, at: i64| Document {
            kind: "channel",
            id: id.into(),
            name: name.into(),
            body: serde_json::json!({"kind": "webhook", "n": at}),
            created_at: at,
            updated_at: at,
        };
        store
            .put_document(&doc("b", "second", T0 + 1))
            .await
            .unwrap();
        store.put_document(&doc("a", "first", T0)).await.unwrap();
        let mut other = doc("a", "a rule", T0);
        other.kind = "alert_rule";
        store.put_document(&other).await.unwrap();
        store
            .put_document(&doc("a", "renamed", T0 + 5))
            .await
            .unwrap();
        let list = store.documents("channel").await.unwrap();
        assert_eq!(
            list.iter()
                .map(|d| (d.id.as_str(), d.name.as_str()))
                .collect::<Vec<_>>(),
            vec![("a", "renamed"), ("b", "second")],
            "oldest first; a replace keeps created_at"
        );
        assert_eq!(list[0].created_at, T0);
        assert_eq!(list[0].updated_at, T0 + 5);
        assert_eq!(list[0].body["n"], T0 + 5);
        assert_eq!(store.documents("alert_rule").await.unwrap().len(), 1);
        let stats = |count, last_updated| osprey::store::DocumentStats {
            count,
            last_updated,
        };
        assert_eq!(
            store.document_stats("channel").await.unwrap(),
            stats(2, T0 + 5)
        );
        assert_eq!(store.document_stats("silence").await.unwrap(), stats(0, 0));
        assert!(store.delete_document("channel", "a").await.unwrap());
        assert!(!store.delete_document("channel", "a").await.unwrap());
        assert_eq!(
            store.document_stats("channel").await.unwrap(),
            stats(1, T0 + 1),
            "a deletion changes the stats"
        );
        assert!(store.document("channel", "a").await.unwrap().is_none());
        assert!(store.document("alert_rule", "a").await.unwrap().is_some());
    }

    pub async fn alert_changes_are_written_together(store: Arc<dyn Store>) {
        use osprey::store::{
            AlertChanges, Attempt, IncidentEvent, IncidentRow, InstanceRow, NewDelivery,
            TransitionRow,
        };
        let incident = IncidentRow {
            id: "inc_1".into(),
            dedup_key: "k1".into(),
            title: "High latency".into(),
            severity: 2,
            status: "triggered".into(),
            assignee: None,
            rule_id: Some("ru_1".into()),
            opened_at: T0,
            acknowledged_at: None,
            resolved_at: None,
            escalation_level: 0,
            escalate_at: Some(T0 + 600_000),
            postmortem: None,
            updated_at: T0,
        };
        let instance = InstanceRow {
            rule_id: "ru_1".into(),
            labels: r#"{"service":"api"}"#.into(),
            state: "firing".into(),
            since: T0,
            value: Some(612.5),
            updated_at: T0,
            detail: serde_json::json!({"state": "firing"}),
        };
        let delivery = |key: &str| NewDelivery {
            channel_id: "ch_1".into(),
            idempotency_key: key.into(),
            incident_id: Some("inc_1".into()),
            message: serde_json::json!({"title": key}),
        };
        let changes = AlertChanges {
            instances: vec![instance.clone()],
            removed_instances: vec![],
            transitions: vec![TransitionRow {
                rule_id: "ru_1".into(),
                labels: instance.labels.clone(),
                ts: T0,
                from_state: "pending".into(),
                to_state: "firing".into(),
                value: Some(612.5),
            }],
            incidents: vec![incident.clone()],
            incident_events: vec![IncidentEvent {
                incident_id: "inc_1".into(),
                ts: T0,
                kind: "opened".into(),
                message: "opened".into(),
                actor: None,
            }],
            deliveries: vec![delivery("n1"), delivery("n2")],
        };
        store.apply(&changes).await.unwrap();
        // A replayed change queues nothing twice: deliveries are unique per idempotency key.
        store
            .apply(&AlertChanges {
                deliveries: vec![delivery("n1")],
                ..AlertChanges::default()
            })
            .await
            .unwrap();
        assert_eq!(
            store.alert_instances().await.unwrap(),
            vec![instance.clone()]
        );
        let t = store.transitions(Some("ru_1"), T0, 10).await.unwrap();
        assert_eq!((t.len(), t[0].to_state.as_str()), (1, "firing"));
        assert!(store
            .transitions(Some("ru_2"), 0, 10)
            .await
            .unwrap()
            .is_empty());
        assert_eq!(store.transitions(None, 0, 10).await.unwrap().len(), 1);
        assert_eq!(
            store.open_incident("k1").await.unwrap(),
            Some(incident.clone())
        );
        assert_eq!(store.incident_events("inc_1").await.unwrap().len(), 1);

        let due = store.due_deliveries(i64::MAX, 10).await.unwrap();
        assert_eq!(due.len(), 2);
        assert_eq!(due[0].message["title"], "n1");
        store
            .finish_attempt(due[0].id, &Attempt::Delivered, T0)
            .await
            .unwrap();
        store
            .finish_attempt(
                due[1].id,
                &Attempt::Retry {
                    next_attempt_at: i64::MAX - 1,
                    error: "503".into(),
                },
                T0,
            )
            .await
            .unwrap();
        assert!(store
            .due_deliveries(i64::MAX - 2, 10)
            .await
            .unwrap()
            .is_empty());
        store
            .finish_attempt(
                due[1].id,
                &Attempt::Dead {
                    error: "gone".into(),
                },
                T0,
            )
            .await
            .unwrap();
        let dead = store.deliveries(Some("dead"), 10).await.unwrap();
        assert_eq!((dead.len(), dead[0].attempts), (1, 2));
        assert_eq!(dead[0].last_error.as_deref(), Some("gone"));
        assert!(store.retry_delivery(dead[0].id, T0 + 1).await.unwrap());
        assert!(
            !store.retry_delivery(dead[0].id, T0 + 1).await.unwrap(),
            "no longer dead"
        );
        assert_eq!(store.due_deliveries(T0 + 1, 10).await.unwrap().len(), 1);
        assert_eq!(store.deliveries(None, 10).await.unwrap().len(), 2);

        // Resolving frees the dedup key: a new incident of the same group may open.
        let resolved = IncidentRow {
            status: "resolved".into(),
            resolved_at: Some(T0 + 1),
            ..incident.clone()
        };
        let reopened = IncidentRow {
            id: "inc_2".into(),
            opened_at: T0 + 2,
            ..incident.clone()
        };
        store
            .apply(&AlertChanges {
                incidents: vec![resolved, reopened],
                removed_instances: vec![("ru_1".into(), instance.labels.clone())],
                ..AlertChanges::default()
            })
            .await
            .unwrap();
        assert_eq!(
            store.open_incident("k1").await.unwrap().unwrap().id,
            "inc_2"
        );
        let all = store.incidents(false, 10).await.unwrap();
        assert_eq!(
            all.iter().map(|i| i.id.as_str()).collect::<Vec<_>>(),
            vec!["inc_2", "inc_1"]
        );
        assert_eq!(store.incidents(true, 10).await.unwrap().len(), 1);
        assert!(store.alert_instances().await.unwrap().is_empty());
    }

    pub async fn two_open_incidents_of_one_group_are_refused(store: Arc<dyn Store>) {
        use osprey::store::{AlertChanges, IncidentRow};
        let incident = |id: &str| IncidentRow {
            id: id.into(),
            dedup_key: "same".into(),
            title: "t".into(),
            severity: 3,
            status: "triggered".into(),
            assignee: None,
            rule_id: None,
            opened_at: T0,
            acknowledged_at: None,
            resolved_at: None,
            escalation_level: 0,
            escalate_at: None,
            postmortem: None,
            updated_at: T0,
        };
        store
            .apply(&AlertChanges {
                incidents: vec![incident("a")],
                ..AlertChanges::default()
            })
            .await
            .unwrap();
        let second = store
            .apply(&AlertChanges {
                incidents: vec![incident("b")],
                ..AlertChanges::default()
            })
            .await;
        assert!(
            second.is_err(),
            "the open-incident index keeps one per dedup key"
        );
        assert_eq!(store.incidents(false, 10).await.unwrap().len(), 1);
    }

    pub async fn users_sessions_and_audit_entries(store: Arc<dyn Store>) {
        use osprey::store::{AuditEntry, SessionRow, UserRow};
        let user = UserRow {
            id: "usr_1".into(),
            username: "ana".into(),
            password_hash: "$argon2id$x".into(),
            role: "editor".into(),
            disabled: false,
            created_at: T0,
            updated_at: T0,
        };
        store.put_user(&user).await.unwrap();
        assert_eq!(store.user_by_name("ana").await.unwrap(), Some(user.clone()));
        assert_eq!(store.user("usr_1").await.unwrap(), Some(user.clone()));
        assert!(store.user_by_name("bo").await.unwrap().is_none());
        let session = |hash: &str, expires_at| SessionRow {
            token_hash: hash.into(),
            user_id: "usr_1".into(),
            created_at: T0,
            expires_at,
            ip: Some("203.0.113.7".into()),
            revoked: false,
        };
        store
            .put_session(&session("live", T0 + 1_000))
            .await
            .unwrap();
        store.put_session(&session("old", T0 - 1)).await.unwrap();
        store
            .put_session(&session("other", T0 + 1_000))
            .await
            .unwrap();
        let (s, u) = store.live_session("live", T0).await.unwrap().unwrap();
        assert_eq!(
            (s.token_hash.as_str(), u.username.as_str()),
            ("live", "ana")
        );
        assert!(
            store.live_session("old", T0).await.unwrap().is_none(),
            "expired"
        );
        assert!(
            store
                .live_session("live", T0 + 1_000)
                .await
                .unwrap()
                .is_none(),
            "expiry is exclusive"
        );
        store.revoke_session("live").await.unwrap();
        assert!(
            store.live_session("live", T0).await.unwrap().is_none(),
            "revoked"
        );
        // Disabling the user ends the rest.
        store
            .put_user(&UserRow {
                disabled: true,
                ..user.clone()
            })
            .await
            .unwrap();
        assert!(store.live_session("other", T0).await.unwrap().is_none());
        assert_eq!(store.revoke_sessions_of("usr_1").await.unwrap(), 2);
        for (ts, action) in [(T0, "login"), (T0 + 1, "rule.create")] {
            store
                .audit(&AuditEntry {
                    ts,
                    actor: "ana".into(),
                    action: action.into(),
                    target: "x".into(),
                    ip: None,
                    detail: String::new(),
                })
                .await
                .unwrap();
        }
        let log = store.audit_log(T0, 10).await.unwrap();
        assert_eq!(
            log.iter().map(|e| e.action.as_str()).collect::<Vec<_>>(),
            vec!["rule.create", "login"]
        );
        assert_eq!(store.audit_log(T0 + 1, 10).await.unwrap().len(), 1);
    }

    pub async fn keys_are_named_touched_and_revoked(store: Arc<dyn Store>) {
        let key = ApiKey {
            hash: "ab".repeat(32),
            prefix: "osp_read_abc".into(),
            kind: KeyKind::Read,
            project: "default".into(),
        };
        store.put_named_key(&key, "grafana", T0).await.unwrap();
        assert_eq!(store.find_key(&key.hash).await.unwrap(), Some(key.clone()));
        store.touch_key(&key.hash, T0 + 5).await.unwrap();
        let listed = store.keys().await.unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(
            (
                listed[0].name.as_str(),
                listed[0].kind.as_str(),
                listed[0].last_used_at
            ),
            ("grafana", "read", Some(T0 + 5))
        );
        assert!(store
            .revoke_key("not hex at all!!", T0)
            .await
            .unwrap()
            .is_none());
        let revoked = store
            .revoke_key(&key.hash[..16], T0 + 9)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(revoked.revoked_at, Some(T0 + 9));
        assert!(
            store.find_key(&key.hash).await.unwrap().is_none(),
            "revoked keys are not found"
        );
        assert!(!store.has_key(KeyKind::Read).await.unwrap());
        assert!(
            store
                .revoke_key(&key.hash[..16], T0 + 10)
                .await
                .unwrap()
                .is_none(),
            "already revoked"
        );
    }

    pub async fn errors_group_into_issues_that_regress(store: Arc<dyn Store>) {
        use osprey::store::ErrorGroupQuery;
        let error = |ts: i64, release: &str, user: &str, message: &str| {
            batch(serde_json::json!({
                "context": {"service": "shop", "release": release, "user_id": user},
                "errors": [{"timestamp": ts, "type": "TypeError", "message": message,
                            "stacktrace": [{"function": "addToCart", "file": "cart.js", "line": ts - T0}],
                            "trace_id": "0af7651916cd43dd8448eb211c80319c"}]
            }))
        };
        store
            .write(&error(T0, "1.0.0", "u1", "item 41 missing"))
            .await
            .unwrap();
        store
            .write(&error(T0 + 5, "1.0.0", "u2", "item 42 missing"))
            .await
            .unwrap();
        store
            .write(&error(T0 + 9, "1.0.1", "u1", "item 43 missing"))
            .await
            .unwrap();
        let all = |status: Option<&str>| ErrorGroupQuery {
            status: status.map(str::to_string),
            from: T0,
            to: T0 + 100,
            limit: 10,
            ..Default::default()
        };
        let groups = store.error_groups(&all(None)).await.unwrap();
        assert_eq!(
            groups.len(),
            1,
            "line numbers and ids in messages do not split an issue"
        );
        let g = &groups[0];
        assert_eq!(
            (g.count, g.users, g.first_seen, g.last_seen),
            (3, 2, T0, T0 + 9)
        );
        assert_eq!(
            g.message, "item 43 missing",
            "the latest occurrence's message"
        );
        assert_eq!(g.culprit, "addToCart (cart.js)");
        assert_eq!(g.service, "shop");
        assert_eq!(
            (g.first_release.as_deref(), g.last_release.as_deref()),
            (Some("1.0.0"), Some("1.0.1"))
        );
        let id = g.group_id.clone();
        let counts = store
            .error_counts(std::slice::from_ref(&id), T0, T0 + 10, 5)
            .await
            .unwrap();
        let mut counts: Vec<(i64, i64)> = counts.into_iter().map(|(_, b, n)| (b, n)).collect();
        counts.sort();
        assert_eq!(counts, vec![(0, 1), (1, 2)]);
        let occurrences = store.error_occurrences(&id, 2).await.unwrap();
        assert_eq!(occurrences.len(), 2);
        assert_eq!(occurrences[0].timestamp, T0 + 9, "newest first");
        assert_eq!(
            occurrences[0].stacktrace[0].function.as_deref(),
            Some("addToCart")
        );
        assert_eq!(
            store
                .trace_errors("0af7651916cd43dd8448eb211c80319c")
                .await
                .unwrap()
                .len(),
            3
        );

        // Resolved in 1.0.1: an old client still on 1.0.0 does not reopen it, 1.0.2 does.
        assert!(store
            .set_error_status(&id, "resolved", T0 + 10)
            .await
            .unwrap());
        assert!(!store
            .set_error_status("0000", "resolved", T0)
            .await
            .unwrap());
        let g = store.error_group(&id).await.unwrap().unwrap();
        assert_eq!(
            (g.status.as_str(), g.resolved_release.as_deref()),
            ("resolved", Some("1.0.1"))
        );
        store
            .write(&error(T0 + 20, "1.0.0", "u3", "item 1 missing"))
            .await
            .unwrap();
        let g = store.error_group(&id).await.unwrap().unwrap();
        assert_eq!(
            (g.status.as_str(), g.count, g.regressed_at),
            ("resolved", 4, None)
        );
        store
            .write(&error(T0 + 30, "1.0.2", "u3", "item 2 missing"))
            .await
            .unwrap();
        let g = store.error_group(&id).await.unwrap().unwrap();
        assert_eq!(
            (g.status.as_str(), g.regressed_at),
            ("unresolved", Some(T0 + 30))
        );
        assert_eq!(
            store
                .error_groups(&all(Some("resolved")))
                .await
                .unwrap()
                .len(),
            0
        );

        let mut text = all(None);
        text.text = Some("ITEM 2".into());
        assert_eq!(
            store.error_groups(&text).await.unwrap().len(),
            1,
            "case-insensitive search"
        );
        text.text = Some("50%_off".into());
        assert_eq!(
            store.error_groups(&text).await.unwrap().len(),
            0,
            "wildcards are literal"
        );
    }

    pub async fn traces_are_searched_and_read_whole(store: Arc<dyn Store>) {
        use osprey::store::TraceQuery;
        const A: &str = "0af7651916cd43dd8448eb211c80319c";
        const B: &str = "1af7651916cd43dd8448eb211c80319c";
        let span = |trace: &str,
                    id: &str,
                    parent: Option<&str>,
                    name: &str,
                    start: i64,
                    ms: f64,
                    status: &str| {
            serde_json::json!({"trace_id": trace, "span_id": id, "parent_span_id": parent, "name": name,
                               "start": start, "duration_ms": ms, "status": status,
                               "attributes": {"http.route": name}})
        };
        store
            .write(&batch(serde_json::json!({
                "context": {"service": "web"},
                "spans": [
                    span(A, "00000000000000a1", None, "GET /cart", T0, 120.0, "ok"),
                    span(A, "00000000000000a2", Some("00000000000000a1"), "SELECT cart", T0 + 10, 80.0, "error"),
                    span(B, "00000000000000b1", None, "GET /", T0 + 1000, 5.0, "ok"),
                ]
            })))
            .await
            .unwrap();
        let q = |f: &dyn Fn(&mut TraceQuery)| {
            let mut q = TraceQuery {
                from: T0,
                to: T0 + 10_000,
                limit: 10,
                ..Default::default()
            };
            f(&mut q);
            q
        };
        let all = store.traces(&q(&|_| {})).await.unwrap();
        assert_eq!(
            all.iter().map(|t| t.trace_id.as_str()).collect::<Vec<_>>(),
            vec![B, A]
        );
        let a = &all[1];
        assert_eq!(
            (a.name.as_str(), a.service.as_str(), a.spans, a.errors),
            ("GET /cart", "web", 2, 1)
        );
        assert_eq!((a.start, a.duration_ms), (T0, 120.0));
        for (what, query, want) in [
            ("slow", q(&|q| q.min_duration_ms = Some(50.0)), vec![A]),
            ("failed", q(&|q| q.status = Some("error".into())), vec![A]),
            (
                "operation",
                q(&|q| q.operation = Some("GET /".into())),
                vec![B],
            ),
            (
                "attribute",
                q(&|q| q.attribute = Some(("http.route".into(), "SELECT cart".into()))),
                vec![A],
            ),
            ("service", q(&|q| q.service = Some("other".into())), vec![]),
        ] {
            let got: Vec<String> = store
                .traces(&query)
                .await
                .unwrap()
                .into_iter()
                .map(|t| t.trace_id)
                .collect();
            assert_eq!(got, want, "{what}");
        }
        let spans = store.trace(A, 100).await.unwrap();
        assert_eq!(spans.len(), 2);
        assert_eq!(spans[1].parent_span_id.as_deref(), Some("00000000000000a1"));
        assert_eq!(spans[1].attributes["http.route"], "SELECT cart");
        assert_eq!(store.trace(A, 1).await.unwrap().len(), 1, "bounded");
        let entries = store.entry_spans(T0, T0 + 10_000, None, 10).await.unwrap();
        let mut got: Vec<_> = entries
            .iter()
            .map(|e| (e.service.as_str(), e.duration_ms, e.failed))
            .collect();
        got.sort_by(|a, b| a.1.total_cmp(&b.1));
        assert_eq!(
            got,
            vec![("web", 5.0, false), ("web", 120.0, false)],
            "only spans without a parent"
        );
        assert!(
            entries.iter().all(|e| (T0..T0 + 10_000).contains(&e.start)),
            "{entries:?}"
        );
        assert_eq!(
            store
                .entry_spans(T0, T0 + 10_000, Some("web"), 10)
                .await
                .unwrap()
                .len(),
            2
        );
        assert!(store
            .entry_spans(T0, T0 + 10_000, Some("db"), 10)
            .await
            .unwrap()
            .is_empty());
        // Every span for the scatter, newest first; and a brushed box, slowest first.
        let points = store.span_points(T0, T0 + 10_000, None, 10).await.unwrap();
        assert_eq!(
            points,
            vec![
                (T0 + 1000, 5.0, false),
                (T0 + 10, 80.0, true),
                (T0, 120.0, false)
            ]
        );
        assert_eq!(
            store
                .span_points(T0, T0 + 10_000, Some("web"), 1)
                .await
                .unwrap()
                .len(),
            1
        );
        let boxed = osprey::store::SpanBox {
            from: T0,
            to: T0 + 500,
            min_ms: 50.0,
            max_ms: 200.0,
            service: None,
            limit: 10,
        };
        let hits = store.spans_in(&boxed).await.unwrap();
        let names: Vec<_> = hits
            .iter()
            .map(|h| (h.name.as_str(), h.trace_id.as_str()))
            .collect();
        assert_eq!(names, vec![("GET /cart", A), ("SELECT cart", A)]);
        let narrow = osprey::store::SpanBox {
            max_ms: 100.0,
            service: Some("db".into()),
            ..boxed
        };
        assert!(store.spans_in(&narrow).await.unwrap().is_empty());
    }

    pub async fn logs_are_searched_newest_first(store: Arc<dyn Store>) {
        use osprey::store::LogQuery;
        store
            .write(&batch(serde_json::json!({
                "context": {"service": "api"},
                "logs": [
                    {"timestamp": T0, "severity": "info", "body": "GET /cart 200"},
                    {"timestamp": T0 + 1, "severity": "WARNING", "body": "slow query: 812 ms",
                     "trace_id": "0af7651916cd43dd8448eb211c80319c", "attributes": {"db": "main"}},
                    {"timestamp": T0 + 2, "severity": "error", "body": "payment 100% failed"}
                ]
            })))
            .await
            .unwrap();
        let q = |f: &dyn Fn(&mut LogQuery)| {
            let mut q = LogQuery {
                from: T0,
                to: T0 + 100,
                limit: 10,
                ..Default::default()
            };
            f(&mut q);
            q
        };
        let bodies =
            |logs: Vec<app::model::LogView>| logs.into_iter().map(|l| l.body).collect::<Vec<_>>();
        let all = store.logs(&q(&|_| {})).await.unwrap();
        assert_eq!(all[0].severity, "error", "newest first");
        assert_eq!(all[1].severity, "warn", "severity names are normalised");
        assert_eq!(all[1].attributes["db"], "main");
        assert_eq!(all[1].service, "api");
        assert_eq!(
            bodies(
                store
                    .logs(&q(&|q| q.min_severity = Some(13)))
                    .await
                    .unwrap()
            )
            .len(),
            2
        );
        assert_eq!(
            bodies(
                store
                    .logs(&q(&|q| q.text = Some("SLOW".into())))
                    .await
                    .unwrap()
            ),
            vec!["slow query: 812 ms"]
        );
        assert_eq!(
            bodies(
                store
                    .logs(&q(&|q| q.text = Some("0% f".into())))
                    .await
                    .unwrap()
            )
            .len(),
            1
        );
        assert_eq!(
            bodies(
                store
                    .logs(&q(&|q| q.text = Some("%".into())))
                    .await
                    .unwrap()
            )
            .len(),
            1,
            "% is literal"
        );
        assert_eq!(
            bodies(
                store
                    .logs(&q(
                        &|q| q.trace_id = Some("0af7651916cd43dd8448eb211c80319c".into())
                    ))
                    .await
                    .unwrap()
            ),
            vec!["slow query: 812 ms"]
        );
        assert_eq!(store.logs(&q(&|q| q.limit = 1)).await.unwrap().len(), 1);
    }

    pub async fn security_events_are_counted_listed_and_ranked(store: Arc<dyn Store>) {
        use osprey::store::{SecurityField, SecurityQuery};
        let event = |t: i64, kind: &str, actor: &str, ip: &str| serde_json::json!({"timestamp": t, "kind": kind, "actor": actor, "ip": ip, "details": {"n": t - T0}});
        store
            .write(&batch(serde_json::json!({
                "context": {"service": "shop"},
                "security": [
                    event(T0, "auth_failure", "alice", "203.0.113.7"),
                    event(T0 + 10, "auth_failure", "bob", "203.0.113.7"),
                    event(T0 + 20, "auth_failure", "alice", "198.51.100.2"),
                    event(T0 + 65_000, "auth_failure", "alice", "203.0.113.7"),
                    event(T0 + 70_000, "auth_success", "carol", "192.0.2.1"),
                    event(T0 + 80_000, "finding.brute_force_ip", "x", "203.0.113.7"),
                    event(T0 + 90_000, "findingless", "x", "203.0.113.9"),
                ]
            })))
            .await
            .unwrap();
        let failures = vec!["auth_failure".to_string()];
        assert_eq!(
            store
                .security_counts(&failures, T0, T0 + 120_000, 60_000)
                .await
                .unwrap(),
            vec![(0, 3), (1, 1)],
            "per bucket, empty buckets left out"
        );
        assert_eq!(
            store
                .security_counts(&failures, T0 + 5, T0 + 65_000, 60_000)
                .await
                .unwrap(),
            vec![(0, 2)],
            "to is exclusive"
        );
        assert_eq!(
            store
                .security_top(SecurityField::Ip, &failures, T0, T0 + 120_000, 10)
                .await
                .unwrap(),
            vec![
                ("203.0.113.7".to_string(), 3),
                ("198.51.100.2".to_string(), 1)
            ]
        );
        assert_eq!(
            store
                .security_top(SecurityField::Actor, &failures, T0, T0 + 120_000, 1)
                .await
                .unwrap(),
            vec![("alice".to_string(), 3)]
        );
        let q = |f: &dyn Fn(&mut SecurityQuery)| {
            let mut q = SecurityQuery {
                from: T0,
                to: T0 + 120_000,
                limit: 100,
                ..Default::default()
            };
            f(&mut q);
            q
        };
        let all = store.security_events(&q(&|_| {})).await.unwrap();
        assert_eq!(all.len(), 7);
        assert_eq!(all[0].kind, "findingless", "newest first");
        assert_eq!(all[6].details["n"], 0);
        assert_eq!(all[6].labels["service"], "shop");
        assert_eq!(all[6].actor.as_deref(), Some("alice"));
        let kinds = |events: Vec<app::security::SecurityEventView>| {
            events.into_iter().map(|e| e.kind).collect::<Vec<_>>()
        };
        assert_eq!(
            kinds(
                store
                    .security_events(&q(&|q| q.kind_prefix = Some("finding.".into())))
                    .await
                    .unwrap()
            ),
            vec!["finding.brute_force_ip"]
        );
        assert_eq!(
            kinds(
                store
                    .security_events(&q(&|q| q.kind_prefix = Some("FINDING.".into())))
                    .await
                    .unwrap()
            )
            .len(),
            0,
            "prefixes are case-sensitive"
        );
        assert_eq!(
            kinds(
                store
                    .security_events(&q(&|q| q.kinds = vec!["auth_success".into()]))
                    .await
                    .unwrap()
            ),
            vec!["auth_success"]
        );
        assert_eq!(
            store
                .security_events(&q(&|q| q.limit = 2))
                .await
                .unwrap()
                .len(),
            2
        );
    }
}

macro_rules! conformance {
    ($($case:ident => $max_series:expr),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $case() {
                    let dir = tempfile::tempdir().unwrap();
                    super::cases::$case(super::common::sqlite(dir.path(), $max_series).await).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $case() {
                    let Some((store, _schema)) = super::common::postgres($max_series).await else { return };
                    super::cases::$case(store.clone()).await;
                    store.close().await;
                }
            )*
        }
    };
}

conformance! {
    writes_and_reads_samples => 1000,
    a_failed_batch_stores_nothing => 2,
    compaction_merges_blocks_without_changing_what_is_read => 1000,
    pending_samples_read_the_same_before_and_after_a_flush => 1000,
    rollups_accumulate_across_commits => 1000,
    rollups_are_summed_per_group_in_the_database => 1000,
    rollups_equal_a_fold_of_the_raw_samples => 1000,
    stores_events_errors_spans_and_security => 1000,
    keys_are_found_by_hash => 1000,
    recent_samples_come_oldest_first_and_bounded => 1000,
    anomalies_are_kept_per_series_and_minute => 1000,
    retention_removes_only_expired_data => 1000,
    catalogue_lists_metrics_with_label_names => 1000,
    documents_are_replaced_by_kind_and_id => 1000,
    dashboards_are_created_edited_duplicated_and_deleted => 1000,
    embed_tokens_open_expire_and_revoke => 1000,
    alert_changes_are_written_together => 1000,
    two_open_incidents_of_one_group_are_refused => 1000,
    users_sessions_and_audit_entries => 1000,
    keys_are_named_touched_and_revoked => 1000,
    errors_group_into_issues_that_regress => 1000,
    traces_are_searched_and_read_whole => 1000,
    logs_are_searched_newest_first => 1000,
    security_events_are_counted_listed_and_ranked => 1000,
}

#[tokio::test]
async fn sqlite_migrations_and_series_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let first = common::sqlite(dir.path(), 100).await;
    first
        .write(&batch(samples("m", "a", &[(T0, 1.0)])))
        .await
        .unwrap();
    let id = first.series("m").await.unwrap()[0].id;
    first.close().await;
    let again = common::sqlite(dir.path(), 100).await;
    again
        .write(&batch(samples("m", "a", &[(T0 + 1, 2.0)])))
        .await
        .unwrap();
    let series = again.series("m").await.unwrap();
    assert_eq!(series.len(), 1);
    assert_eq!(series[0].id, id);
    assert_eq!(again.samples(&[id], T0, T0 + 2).await.unwrap().len(), 2);
}

/// Samples written before they were stored in blocks (the table the migration renamed to
/// `legacy_samples`) are moved into blocks when the store opens, then the old table goes.
#[tokio::test]
async fn sqlite_samples_from_before_blocks_are_moved_into_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let store = common::sqlite(dir.path(), 100).await;
    store
        .write(&batch(samples("m", "a", &[(T0 + 5_000, 9.0)])))
        .await
        .unwrap();
    let id = store.series("m").await.unwrap()[0].id;
    store.close().await;
    let url = format!("sqlite://{}", dir.path().join("osprey.db").display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    sqlx::query("CREATE TABLE legacy_samples (series_id INTEGER NOT NULL, ts INTEGER NOT NULL, value REAL NOT NULL)")
        .execute(&pool)
        .await
        .unwrap();
    // More rows than one conversion step moves, over 34 hours.
    sqlx::query(
        "WITH RECURSIVE g(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM g WHERE i < 120000) \
         INSERT INTO legacy_samples SELECT $1, $2 - i * 1000, i FROM g",
    )
    .bind(id)
    .bind(T0)
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;
    let again = common::sqlite(dir.path(), 100).await;
    let rows = again.samples(&[id], 0, T0 + 10_000).await.unwrap();
    assert_eq!(rows.len(), 120_002);
    assert_eq!((rows[0].ts, rows[0].value), (T0 - 120_000_000, 120_000.0));
    assert!(rows.windows(2).all(|w| w[0].ts <= w[1].ts));
    assert_eq!(
        rows.last().map(|r| (r.ts, r.value)),
        Some((T0 + 5_000, 9.0))
    );
    assert_eq!(again.counts().await.unwrap().samples, 120_002);
    again.close().await;
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let left: i64 =
        sqlx::query_scalar("SELECT count(*) FROM sqlite_master WHERE name = 'legacy_samples'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(left, 0, "the old table is dropped once empty");
}

#[tokio::test]
async fn postgres_samples_from_before_blocks_are_moved_into_blocks() {
    let Some((store, schema)) = common::postgres(100).await else {
        return;
    };
    store
        .write(&batch(samples("m", "a", &[(T0 + 5_000, 9.0)])))
        .await
        .unwrap();
    let id = store.series("m").await.unwrap()[0].id;
    store.close().await;
    // As the migration leaves it: the old day-partitioned table under its new name.
    let pool = schema.connect().await;
    for sql in [
        "CREATE TABLE legacy_samples (series_id BIGINT NOT NULL, ts BIGINT NOT NULL, value DOUBLE PRECISION NOT NULL) PARTITION BY RANGE (ts)".to_string(),
        format!("CREATE TABLE legacy_samples_a PARTITION OF legacy_samples FOR VALUES FROM ({}) TO ({})", T0 - 86_400_000, T0),
        format!("CREATE TABLE legacy_samples_b PARTITION OF legacy_samples FOR VALUES FROM ({}) TO ({})", T0, T0 + 86_400_000),
    ] {
        sqlx::query(&sql).execute(&pool).await.unwrap();
    }
    sqlx::query("INSERT INTO legacy_samples SELECT $1, $2 + g * 1000, g FROM generate_series(-60000, 59999) AS g")
        .bind(id)
        .bind(T0)
        .execute(&pool)
        .await
        .unwrap();
    let again = schema.reopen(100).await;
    let rows = again.samples(&[id], 0, T0 + 86_400_000).await.unwrap();
    assert_eq!(rows.len(), 120_001);
    assert_eq!((rows[0].ts, rows[0].value), (T0 - 60_000_000, -60_000.0));
    assert!(rows.windows(2).all(|w| w[0].ts <= w[1].ts));
    assert_eq!(again.counts().await.unwrap().samples, 120_001);
    again.close().await;
    let left: bool = sqlx::query_scalar("SELECT to_regclass('legacy_samples') IS NOT NULL")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(!left, "the old table is dropped once empty");
    pool.close().await;
}

/// Rollups stored a row per bucket before rollup blocks (the tables the migration renamed to
/// `legacy_rollup_1m` and `legacy_rollup_1h`) are moved into blocks when the store opens.
#[tokio::test]
async fn sqlite_rollups_from_before_blocks_are_moved_into_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let store = common::sqlite(dir.path(), 100).await;
    store
        .write(&batch(samples("m", "a", &[(T0 + 5_000, 9.0)])))
        .await
        .unwrap();
    store.flush_all().await.unwrap();
    let id = store.series("m").await.unwrap()[0].id;
    store.close().await;
    let url = format!("sqlite://{}", dir.path().join("osprey.db").display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    for table in ["legacy_rollup_1m", "legacy_rollup_1h"] {
        sqlx::query(&format!(
            "CREATE TABLE {table} (series_id INTEGER NOT NULL, bucket INTEGER NOT NULL, count INTEGER NOT NULL, \
             sum REAL NOT NULL, min REAL NOT NULL, max REAL NOT NULL, last REAL NOT NULL, last_ts INTEGER NOT NULL, \
             PRIMARY KEY (series_id, bucket)) WITHOUT ROWID"
        ))
        .execute(&pool)
        .await
        .unwrap();
    }
    // More minutes than one conversion step moves (90 days), and the minute the store wrote.
    sqlx::query(
        "WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < 129600) \
         INSERT INTO legacy_rollup_1m SELECT $1, $2 - i * 60000, 2, 2 * i, i, i, i, $2 - i * 60000 + 1 FROM g",
    )
    .bind(id)
    .bind(T0)
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query("INSERT INTO legacy_rollup_1m VALUES ($1, $2, 1, 1.0, 1.0, 1.0, 1.0, $2)")
        .bind(id)
        .bind(T0)
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("INSERT INTO legacy_rollup_1h VALUES ($1, $2, 3, 6.0, 1.0, 3.0, 2.0, $2 + 5)")
        .bind(id)
        .bind(T0 - 3_600_000)
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let again = common::sqlite(dir.path(), 100).await;
    let minutes = again
        .rollups(Resolution::Minute, &[id], 0, T0 + 3_600_000)
        .await
        .unwrap();
    assert_eq!(minutes.len(), 129_601);
    assert_eq!(
        (
            minutes[0].bucket,
            minutes[0].count,
            minutes[0].sum,
            minutes[0].last_ts
        ),
        (
            T0 - 129_600 * 60_000,
            2,
            259_200.0,
            T0 - 129_600 * 60_000 + 1
        )
    );
    let now = minutes.last().unwrap();
    assert_eq!(
        (now.bucket, now.count, now.sum),
        (T0, 2, 10.0),
        "merged with the stored minute"
    );
    // The five-minute tier, which rollup blocks brought, is made from the old minutes.
    let fives = again
        .rollups(Resolution::FiveMinutes, &[id], 0, T0 + 3_600_000)
        .await
        .unwrap();
    assert_eq!(fives.len(), 129_600 / 5 + 1);
    assert_eq!(
        fives.iter().map(|r| r.count).sum::<i64>(),
        minutes.iter().map(|r| r.count).sum::<i64>()
    );
    let hours = again
        .rollups(Resolution::Hour, &[id], T0 - 3_600_000, T0)
        .await
        .unwrap();
    assert_eq!(hours.len(), 1);
    assert_eq!(
        (hours[0].count, hours[0].min, hours[0].max, hours[0].last),
        (3, 1.0, 3.0, 2.0)
    );
    again.close().await;
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let left: i64 =
        sqlx::query_scalar("SELECT count(*) FROM sqlite_master WHERE name LIKE 'legacy_rollup%'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(left, 0, "the old tables are dropped once empty");
}

#[tokio::test]
async fn postgres_rollups_from_before_blocks_are_moved_into_blocks() {
    let Some((store, schema)) = common::postgres(100).await else {
        return;
    };
    store
        .write(&batch(samples("m", "a", &[(T0 + 5_000, 9.0)])))
        .await
        .unwrap();
    store.flush_all().await.unwrap();
    let id = store.series("m").await.unwrap()[0].id;
    store.close().await;
    let pool = schema.connect().await;
    for table in ["legacy_rollup_1m", "legacy_rollup_1h"] {
        sqlx::query(&format!(
            "CREATE TABLE {table} (series_id BIGINT NOT NULL, bucket BIGINT NOT NULL, count BIGINT NOT NULL, \
             sum DOUBLE PRECISION NOT NULL, min DOUBLE PRECISION NOT NULL, max DOUBLE PRECISION NOT NULL, \
             last DOUBLE PRECISION NOT NULL, last_ts BIGINT NOT NULL, PRIMARY KEY (series_id, bucket))"
        ))
        .execute(&pool)
        .await
        .unwrap();
    }
    sqlx::query(
        "INSERT INTO legacy_rollup_1m SELECT $1, $2 - g * 60000, 2, 2 * g, g, g, g, $2 - g * 60000 + 1 \
         FROM generate_series(0::BIGINT, 59999::BIGINT) AS g",
    )
    .bind(id)
    .bind(T0)
    .execute(&pool)
    .await
    .unwrap();
    let again = schema.reopen(100).await;
    let minutes = again
        .rollups(Resolution::Minute, &[id], 0, T0 + 3_600_000)
        .await
        .unwrap();
    assert_eq!(minutes.len(), 60_000);
    let now = minutes.last().unwrap();
    assert_eq!(
        (now.bucket, now.count, now.sum),
        (T0, 3, 9.0),
        "merged with the stored minute"
    );
    again.close().await;
    let left: bool = sqlx::query_scalar("SELECT to_regclass('legacy_rollup_1m') IS NOT NULL OR to_regclass('legacy_rollup_1h') IS NOT NULL")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(!left, "the old tables are dropped once empty");
    pool.close().await;
}

/// Security review, row 9: the database (channel secrets, the embed signing key, password
/// hashes) was created 0644 in a 0755 directory. A directory Osprey creates is now 0700 and the
/// database and its WAL 0600; an existing database is narrowed at open.
#[tokio::test]
async fn sqlite_files_are_their_owners_alone() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let db = data.join("osprey.db");
    let url = format!("sqlite://{}", db.display());
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let store = osprey::store::SqliteStore::open(&url, 2, 100)
        .await
        .unwrap();
    store
        .write(&batch(samples("m", "a", &[(T0, 1.0)])))
        .await
        .unwrap();
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&db), 0o600);
    assert_eq!(mode(&data.join("osprey.db-wal")), 0o600);
    store.close().await;
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    let again = osprey::store::SqliteStore::open(&url, 2, 100)
        .await
        .unwrap();
    assert_eq!(mode(&db), 0o600, "narrowed at open");
    assert_eq!(again.series("m").await.unwrap().len(), 1);
    again.close().await;
}

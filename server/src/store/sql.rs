//! SQL that SQLite and PostgreSQL share, written once.
//!
//! The queries are identical on both backends except for their placeholders, which
//! `QueryBuilder` writes for each. A macro stamps the functions out per concrete database type,
//! which keeps them free of sqlx's generic executor bounds.

/// Most bind parameters one statement carries; both backends allow more (32 766 and 65 535).
pub(crate) const MAX_BINDS: usize = 30_000;

/// Rows per multi-row INSERT on the hot path. A fixed size means full chunks reuse one cached
/// prepared statement instead of preparing a new one for every batch size.
pub(crate) const HOT_ROWS: usize = 256;

macro_rules! shared_sql {
    ($db:ty) => {
        use crate::ingest::model::{Batch, MetricKind};
        use crate::store::blocks::{self, Block, WINDOW_MS};
        use crate::store::rollup::{self, Resolution, RollupRow};
        use crate::store::sql::{HOT_ROWS, MAX_BINDS};
        use crate::store::{
            parse_labels, Anomaly, ApiKey, Feedback, EventQuery, EventRow, GroupBucket, KeyKind, MetricInfo, PreparedBatch, SampleRow,
            SeriesCache, SeriesRow, StoreError, StoreResult, TableCounts,
        };
        use sqlx::{Pool, QueryBuilder, Row, Transaction};
        use std::collections::{BTreeMap, BTreeSet};
        use std::sync::atomic::{AtomicUsize, Ordering};

        /// Finds or creates the series of a batch. New series count against `limit`.
        pub(crate) async fn resolve_series(
            tx: &mut Transaction<'_, $db>,
            cache: &SeriesCache,
            prepared: &PreparedBatch<'_>,
            known: &AtomicUsize,
            limit: usize,
            now: i64,
        ) -> StoreResult<(Vec<i64>, usize)> {
            let mut ids = Vec::with_capacity(prepared.distinct.len());
            let mut created = 0usize;
            for (key, kind) in &prepared.distinct {
                if let Some(id) = cache.get(key) {
                    ids.push(id);
                    continue;
                }
                let labels = key.labels_json();
                let inserted = sqlx::query(concat!(
                    "INSERT INTO series (name, labels, kind, created_at) VALUES ($1, $2, $3, $4) ",
                    "ON CONFLICT (name, labels) DO NOTHING"
                ))
                .bind(&key.name)
                .bind(&labels)
                .bind(kind.as_str())
                .bind(now)
                .execute(&mut **tx)
                .await?
                .rows_affected();
                if inserted > 0 {
                    created += 1;
                    if known.load(Ordering::Relaxed) + created > limit {
                        return Err(StoreError::SeriesLimit { limit });
                    }
                }
                let id: i64 = sqlx::query_scalar("SELECT id FROM series WHERE name = $1 AND labels = $2")
                    .bind(&key.name)
                    .bind(&labels)
                    .fetch_one(&mut **tx)
                    .await?;
                ids.push(id);
            }
            Ok((ids, created))
        }

        /// Folds a batch's error occurrences into their issues: counts, first and last seen,
        /// affected users, and regressions (a resolved issue seen again in a newer release, or
        /// in any release when it was resolved without one, is unresolved again).
        async fn update_error_groups(
            tx: &mut Transaction<'_, $db>,
            errors: &[crate::ingest::model::ErrorEvent],
        ) -> StoreResult<()> {
            use crate::ingest::grouping::newer_release;
            use crate::ingest::model::ErrorEvent;
            struct Group<'a> {
                first: i64,
                last: &'a ErrorEvent,
                count: i64,
                first_release: Option<&'a str>,
                users: BTreeSet<&'a str>,
                /// The occurrences' (time, release), to judge a regression.
                seen: Vec<(i64, Option<&'a str>)>,
            }
            let mut groups: BTreeMap<&str, Group> = BTreeMap::new();
            for e in errors {
                let release = e.labels.get("release").map(String::as_str);
                let g = groups.entry(e.fingerprint.as_str()).or_insert_with(|| Group {
                    first: e.ts,
                    last: e,
                    count: 0,
                    first_release: release,
                    users: BTreeSet::new(),
                    seen: Vec::new(),
                });
                g.count += 1;
                if e.ts < g.first {
                    g.first = e.ts;
                    g.first_release = release;
                }
                if e.ts >= g.last.ts {
                    g.last = e;
                }
                if let Some(user) = e.labels.get("user_id") {
                    g.users.insert(user);
                }
                g.seen.push((e.ts, release));
            }
            for (fingerprint, g) in &groups {
                let stored = sqlx::query(
                    "SELECT status, resolved_release, resolved_at FROM error_groups WHERE fingerprint = $1",
                )
                .bind(*fingerprint)
                .fetch_optional(&mut **tx)
                .await?;
                let mut status = "unresolved".to_string();
                let mut regressed: Option<i64> = None;
                if let Some(row) = &stored {
                    status = row.try_get("status")?;
                    let resolved_release: Option<String> = row.try_get("resolved_release")?;
                    let resolved_at: Option<i64> = row.try_get("resolved_at")?;
                    if status == "resolved" {
                        regressed = g
                            .seen
                            .iter()
                            .filter(|(ts, _)| resolved_at.is_none_or(|at| *ts > at))
                            .filter(|(_, release)| match (release, &resolved_release) {
                                (Some(r), Some(fixed)) => newer_release(r, fixed),
                                _ => true,
                            })
                            .map(|(ts, _)| *ts)
                            .min();
                        if regressed.is_some() {
                            status = "unresolved".into();
                        }
                    }
                }
                let last = g.last;
                let release = last.labels.get("release").cloned();
                sqlx::query(concat!(
                    "INSERT INTO error_groups (fingerprint, type, message, culprit, service, first_seen, ",
                    "last_seen, count, status, first_release, last_release, regressed_at) ",
                    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ",
                    "ON CONFLICT (fingerprint) DO UPDATE SET ",
                    "type = excluded.type, message = excluded.message, culprit = excluded.culprit, ",
                    "service = excluded.service, ",
                    "first_seen = CASE WHEN excluded.first_seen < error_groups.first_seen ",
                    "THEN excluded.first_seen ELSE error_groups.first_seen END, ",
                    "last_seen = CASE WHEN excluded.last_seen > error_groups.last_seen ",
                    "THEN excluded.last_seen ELSE error_groups.last_seen END, ",
                    "count = error_groups.count + excluded.count, status = excluded.status, ",
                    "first_release = COALESCE(error_groups.first_release, excluded.first_release), ",
                    "last_release = COALESCE(excluded.last_release, error_groups.last_release), ",
                    "regressed_at = COALESCE(excluded.regressed_at, error_groups.regressed_at)"
                ))
                .bind(*fingerprint)
                .bind(&last.kind)
                .bind(&last.message)
                .bind(&last.culprit)
                .bind(last.labels.get("service").cloned().unwrap_or_default())
                .bind(g.first)
                .bind(last.ts)
                .bind(g.count)
                .bind(&status)
                .bind(g.first_release)
                .bind(release)
                .bind(regressed)
                .execute(&mut **tx)
                .await?;
                if !g.users.is_empty() {
                    let mut q = QueryBuilder::<$db>::new("INSERT INTO error_group_users (fingerprint, user_id) ");
                    q.push_values(&g.users, |mut b, user| {
                        b.push_bind(*fingerprint).push_bind(*user);
                    });
                    q.push(" ON CONFLICT DO NOTHING");
                    q.build().execute(&mut **tx).await?;
                }
            }
            Ok(())
        }

        /// Inserts every row of a batch except series (already resolved) and rollups.
        pub(crate) async fn insert_rows(
            tx: &mut Transaction<'_, $db>,
            batch: &Batch,
            sample_ids: &[i64],
        ) -> StoreResult<()> {
            let rows: Vec<(i64, i64, f64)> =
                batch.metrics.iter().zip(sample_ids).map(|(m, id)| (*id, m.ts, m.value)).collect();
            // Samples wait in `pending_blocks` (appended, no index) until `flush_pending` moves
            // them into `sample_blocks` and the rollups.
            insert_blocks(tx, "pending_blocks", &blocks::build(rows.iter().copied())).await?;
            for chunk in batch.events.chunks(MAX_BINDS / 4) {
                let mut q = QueryBuilder::<$db>::new("INSERT INTO events (ts, name, properties, labels) ");
                q.push_values(chunk, |mut b, e| {
                    b.push_bind(e.ts)
                        .push_bind(e.name.clone())
                        .push_bind(e.properties.to_string())
                        .push_bind(json(&e.labels));
                });
                q.build().execute(&mut **tx).await?;
            }
            for chunk in batch.errors.chunks(MAX_BINDS / 9) {
                let mut q = QueryBuilder::<$db>::new(concat!(
                    "INSERT INTO errors (ts, fingerprint, type, message, stacktrace, tags, labels, ",
                    "trace_id, span_id) "
                ));
                q.push_values(chunk, |mut b, e| {
                    b.push_bind(e.ts)
                        .push_bind(e.fingerprint.clone())
                        .push_bind(e.kind.clone())
                        .push_bind(e.message.clone())
                        .push_bind(json(&e.stacktrace))
                        .push_bind(json(&e.tags))
                        .push_bind(json(&e.labels))
                        .push_bind(e.trace_id.clone())
                        .push_bind(e.span_id.clone());
                });
                q.build().execute(&mut **tx).await?;
            }
            if !batch.errors.is_empty() {
                update_error_groups(tx, &batch.errors).await?;
            }
            for chunk in batch.logs.chunks(MAX_BINDS / 9) {
                let mut q = QueryBuilder::<$db>::new(concat!(
                    "INSERT INTO logs (ts, severity, severity_number, body, service, trace_id, ",
                    "span_id, attributes, labels) "
                ));
                q.push_values(chunk, |mut b, l| {
                    b.push_bind(l.ts)
                        .push_bind(l.severity.clone())
                        .push_bind(l.severity_number)
                        .push_bind(l.body.clone())
                        .push_bind(l.service.clone())
                        .push_bind(l.trace_id.clone())
                        .push_bind(l.span_id.clone())
                        .push_bind(l.attributes.to_string())
                        .push_bind(json(&l.labels));
                });
                q.build().execute(&mut **tx).await?;
            }
            for chunk in batch.spans.chunks(MAX_BINDS / 10) {
                let mut q = QueryBuilder::<$db>::new(concat!(
                    "INSERT INTO spans (trace_id, span_id, parent_span_id, name, service, start, ",
                    "duration_ms, status, attributes, labels) "
                ));
                q.push_values(chunk, |mut b, s| {
                    b.push_bind(s.trace_id.clone())
                        .push_bind(s.span_id.clone())
                        .push_bind(s.parent_span_id.clone())
                        .push_bind(s.name.clone())
                        .push_bind(s.service.clone())
                        .push_bind(s.start)
                        .push_bind(s.duration_ms)
                        .push_bind(s.status.clone())
                        .push_bind(s.attributes.to_string())
                        .push_bind(json(&s.labels));
                });
                q.build().execute(&mut **tx).await?;
            }
            for chunk in batch.security.chunks(MAX_BINDS / 6) {
                let mut q =
                    QueryBuilder::<$db>::new("INSERT INTO security_events (ts, kind, actor, ip, details, labels) ");
                q.push_values(chunk, |mut b, s| {
                    b.push_bind(s.ts)
                        .push_bind(s.kind.clone())
                        .push_bind(s.actor.clone())
                        .push_bind(s.ip.clone())
                        .push_bind(s.details.to_string())
                        .push_bind(json(&s.labels));
                });
                q.build().execute(&mut **tx).await?;
            }
            Ok(())
        }

        /// Appends one rollup block per series and window of `rows` (see [`rollup`]); blocks of
        /// one window merge on read and in compaction.
        async fn insert_rollups(
            tx: &mut Transaction<'_, $db>,
            rows: &[RollupRow],
            resolution: Resolution,
        ) -> StoreResult<()> {
            let blocks = rollup::build(rows, resolution);
            for chunk in blocks.chunks(HOT_ROWS) {
                let mut q = QueryBuilder::<$db>::new("INSERT INTO rollup_blocks (width, series_id, win, data) ");
                q.push_values(chunk, |mut b, block| {
                    b.push_bind(resolution.millis())
                        .push_bind(block.series_id)
                        .push_bind(block.window)
                        .push_bind(block.data.as_slice());
                });
                q.build().execute(&mut **tx).await?;
            }
            Ok(())
        }

        /// Appends minute rollups and the coarser tiers made from them (minutes merge into five
        /// minutes and hours exactly), so samples are aggregated once, not once per tier.
        async fn insert_tiers(
            tx: &mut Transaction<'_, $db>,
            minutes: &[RollupRow],
            coarser: &[Resolution],
        ) -> StoreResult<()> {
            insert_rollups(tx, minutes, Resolution::Minute).await?;
            for &resolution in coarser {
                insert_rollups(tx, &rollup::rebucket(minutes, resolution), resolution).await?;
            }
            Ok(())
        }

        /// Calls `each` with every stored rollup bucket of `ids` with `from <= bucket < to`,
        /// decoding rows as they stream in. A bucket comes in as many parts as its window has
        /// blocks not yet compacted; the parts merge.
        async fn each_rollup(
            tx: &mut Transaction<'_, $db>,
            resolution: Resolution,
            ids: &[i64],
            (from, to): (i64, i64),
            mut each: impl FnMut(RollupRow),
        ) -> StoreResult<()> {
            use futures_util::TryStreamExt;
            if from >= to {
                return Ok(());
            }
            let (first, last) = (resolution.window_of(from), resolution.window_of(to - 1));
            for chunk in ids.chunks(1000) {
                let mut q = QueryBuilder::<$db>::new("SELECT series_id, win, data FROM rollup_blocks WHERE width = ");
                q.push_bind(resolution.millis())
                    .push(" AND win >= ")
                    .push_bind(first)
                    .push(" AND win <= ")
                    .push_bind(last)
                    .push(" AND series_id IN ");
                push_ids(&mut q, chunk);
                let mut rows = q.build().fetch(&mut **tx);
                while let Some(row) = rows.try_next().await? {
                    let (series_id, window): (i64, i64) = (row.try_get(0)?, row.try_get(1)?);
                    let data: &[u8] = row.try_get(2)?;
                    rollup::decode(series_id, window, resolution, data, |r| {
                        if (from..to).contains(&r.bucket) {
                            each(r);
                        }
                    })
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                }
            }
            Ok(())
        }

        fn json<T: serde::Serialize>(value: &T) -> String {
            serde_json::to_string(value).expect("in-memory values serialise")
        }

        pub(crate) async fn series(pool: &Pool<$db>, metric: &str) -> StoreResult<Vec<SeriesRow>> {
            let rows = sqlx::query("SELECT id, name, labels, kind FROM series WHERE name = $1 ORDER BY id")
                .bind(metric)
                .fetch_all(pool)
                .await?;
            rows.iter()
                .map(|r| {
                    Ok(SeriesRow {
                        id: r.try_get("id")?,
                        name: r.try_get("name")?,
                        labels: parse_labels(r.try_get("labels")?)?,
                        kind: MetricKind::parse(r.try_get("kind")?),
                    })
                })
                .collect()
        }

        /// Pushes `(id, id, …)` with every id bound, closing an `… IN ` the query ends with.
        fn push_ids(q: &mut QueryBuilder<'_, $db>, ids: &[i64]) {
            q.push("(");
            let mut list = q.separated(", ");
            for id in ids {
                list.push_bind(*id);
            }
            q.push(")");
        }

        /// Inserts blocks into `sample_blocks` or `pending_blocks`.
        pub(crate) async fn insert_blocks(
            tx: &mut Transaction<'_, $db>,
            table: &str,
            blocks: &[Block],
        ) -> StoreResult<()> {
            for chunk in blocks.chunks(HOT_ROWS) {
                let mut q = QueryBuilder::<$db>::new(format!(
                    "INSERT INTO {table} (series_id, win, start_ts, end_ts, count, data) "
                ));
                q.push_values(chunk, |mut b, block| {
                    b.push_bind(block.series_id)
                        .push_bind(block.window)
                        .push_bind(block.start_ts)
                        .push_bind(block.end_ts)
                        .push_bind(block.count)
                        .push_bind(block.data.as_slice());
                });
                q.build().execute(&mut **tx).await?;
            }
            Ok(())
        }

        /// Decodes a row of `sample_blocks` holding `series_id, start_ts, count, data`.
        fn block_samples(row: &<$db as sqlx::Database>::Row) -> StoreResult<(i64, Vec<(i64, f64)>)> {
            let series_id: i64 = row.try_get("series_id")?;
            let data: &[u8] = row.try_get("data")?;
            let points = blocks::decode(series_id, row.try_get("start_ts")?, row.try_get("count")?, data)
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            Ok((series_id, points))
        }

        pub(crate) async fn samples(
            pool: &Pool<$db>,
            ids: &[i64],
            from: i64,
            to: i64,
        ) -> StoreResult<Vec<SampleRow>> {
            let mut out = Vec::new();
            for chunk in ids.chunks(1000) {
                // A block ending at or after `from` starts less than a window before it.
                // One statement reads both tables, so a flush moving rows between them is seen
                // wholly or not at all. Flushed blocks come first: they are the older commits.
                let mut q = QueryBuilder::<$db>::new("");
                for (i, table) in ["sample_blocks", "pending_blocks"].into_iter().enumerate() {
                    if i > 0 {
                        q.push(" UNION ALL ");
                    }
                    q.push(format!("SELECT {i} AS src, id, series_id, start_ts, count, data FROM {table} WHERE start_ts > "))
                        .push_bind(from.saturating_sub(WINDOW_MS))
                        .push(" AND start_ts < ")
                        .push_bind(to)
                        .push(" AND end_ts >= ")
                        .push_bind(from)
                        .push(" AND series_id IN ");
                    push_ids(&mut q, chunk);
                }
                q.push(" ORDER BY series_id, src, id");
                for row in q.build().fetch_all(pool).await? {
                    let (series_id, points) = block_samples(&row)?;
                    out.extend(
                        points
                            .into_iter()
                            .filter(|(ts, _)| (from..to).contains(ts))
                            .map(|(ts, value)| SampleRow { series_id, ts, value }),
                    );
                }
            }
            // Blocks of a series may overlap in time (late samples). The sort is stable and blocks
            // were read in commit order, so samples with equal times keep their arrival order.
            out.sort_by_key(|s| (s.series_id, s.ts));
            Ok(out)
        }

        /// Merges the blocks of each series in closed windows (older than the previous hour, within
        /// the last `lookback` windows) into one block per series and window; at most `limit`
        /// series-windows per call. Deletes exactly the blocks it read, so a block committed
        /// meanwhile by another writer is kept as it is; `lock` is appended to the reads
        /// (PostgreSQL: `FOR UPDATE`, so a second process compacting the same blocks waits, then
        /// finds them gone and merges nothing twice). Returns the series-windows merged.
        pub(crate) async fn compact(
            pool: &Pool<$db>,
            now: i64,
            lookback: i64,
            limit: i64,
            lock: &str,
        ) -> StoreResult<u64> {
            let current = blocks::window_of(now);
            let rows = sqlx::query(
                "SELECT win, series_id FROM sample_blocks WHERE win >= $1 AND win < $2 \
                 GROUP BY win, series_id HAVING COUNT(*) > 1 ORDER BY win, series_id LIMIT $3",
            )
            .bind(current - lookback)
            .bind(current - 1)
            .bind(limit)
            .fetch_all(pool)
            .await?;
            for (window, series) in merge_batches(&rows)? {
                compact_window(pool, window, &series, lock).await?;
            }
            Ok(rows.len() as u64)
        }

        /// Merges the rollup blocks of each series and window since `since` into one, open
        /// windows included (a window of hours stays open a day, gaining a block per flush), at
        /// most `limit` series-windows per resolution; `lock` as for [`compact`]. Returns how
        /// many it merged.
        pub(crate) async fn compact_rollups(pool: &Pool<$db>, since: i64, limit: i64, lock: &str) -> StoreResult<u64> {
            let mut merged = 0;
            for resolution in Resolution::ALL {
                let rows = sqlx::query(
                    "SELECT win, series_id FROM rollup_blocks WHERE width = $1 AND win >= $2 \
                     GROUP BY win, series_id HAVING COUNT(*) > 1 ORDER BY win, series_id LIMIT $3",
                )
                .bind(resolution.millis())
                .bind(resolution.window_of(since))
                .bind(limit)
                .fetch_all(pool)
                .await?;
                for (window, series) in merge_batches(&rows)? {
                    compact_rollup_window(pool, resolution, window, &series, lock).await?;
                }
                merged += rows.len() as u64;
            }
            Ok(merged)
        }

        async fn compact_rollup_window(
            pool: &Pool<$db>,
            resolution: Resolution,
            window: i64,
            series: &[i64],
            lock: &str,
        ) -> StoreResult<()> {
            let mut tx = pool.begin().await?;
            let mut q = QueryBuilder::<$db>::new("SELECT id, series_id, data FROM rollup_blocks WHERE width = ");
            q.push_bind(resolution.millis()).push(" AND win = ").push_bind(window).push(" AND series_id IN ");
            push_ids(&mut q, series);
            q.push(" ORDER BY id");
            q.push(lock);
            let mut read: Vec<i64> = Vec::new();
            let mut parts: Vec<RollupRow> = Vec::new();
            for row in q.build().fetch_all(&mut *tx).await? {
                let data: &[u8] = row.try_get(2)?;
                let mut decoded = Vec::new();
                match rollup::decode(row.try_get(1)?, window, resolution, data, |r| decoded.push(r)) {
                    Ok(()) => {
                        read.push(row.try_get(0)?);
                        parts.extend(decoded);
                    }
                    // A damaged block stays as it is (reads report it) and the rest is merged,
                    // so one bad row does not stop compaction.
                    Err(e) => tracing::error!(error = %e, "rollup block left out of compaction"),
                }
            }
            for ids in read.chunks(MAX_BINDS) {
                let mut q = QueryBuilder::<$db>::new("DELETE FROM rollup_blocks WHERE id IN ");
                push_ids(&mut q, ids);
                q.build().execute(&mut *tx).await?;
            }
            insert_rollups(&mut tx, &parts, resolution).await?;
            tx.commit().await?;
            Ok(())
        }

        /// Moves rollups stored before rollup blocks existed (`legacy_rollup_1m`, `legacy_rollup_1h`)
        /// into blocks, `LEGACY_CHUNK` rows per transaction, then drops the old tables. `exists`
        /// tells whether the table named by `{table}` is there; `take` deletes up to `$1` of its
        /// rows and returns them. Each table goes on its own, so a start interrupted between them
        /// finishes the rest on the next.
        pub(crate) async fn convert_legacy_rollups(pool: &Pool<$db>, exists: &str, take: &str) -> StoreResult<u64> {
            let mut moved = 0;
            for (table, resolution) in [("legacy_rollup_1m", Resolution::Minute), ("legacy_rollup_1h", Resolution::Hour)] {
                let there: bool = sqlx::query_scalar(&exists.replace("{table}", table)).fetch_one(pool).await?;
                if !there {
                    continue;
                }
                let take = take.replace("{table}", table);
                loop {
                    let mut tx = pool.begin().await?;
                    let rows = sqlx::query(&take).bind(LEGACY_CHUNK).fetch_all(&mut *tx).await?;
                    let mut parts = Vec::with_capacity(rows.len());
                    for r in &rows {
                        parts.push(RollupRow {
                            series_id: r.try_get(0)?,
                            bucket: r.try_get(1)?,
                            count: r.try_get(2)?,
                            sum: r.try_get(3)?,
                            min: r.try_get(4)?,
                            max: r.try_get(5)?,
                            last: r.try_get(6)?,
                            last_ts: r.try_get(7)?,
                        });
                    }
                    if resolution == Resolution::Minute {
                        // The five-minute tier came with rollup blocks: it is made from the
                        // minutes, as a flush makes it.
                        insert_tiers(&mut tx, &parts, &[Resolution::FiveMinutes]).await?;
                    } else {
                        insert_rollups(&mut tx, &parts, resolution).await?;
                    }
                    tx.commit().await?;
                    moved += rows.len() as u64;
                    if (rows.len() as i64) < LEGACY_CHUNK {
                        break;
                    }
                }
                sqlx::query(&format!("DROP TABLE {table}")).execute(pool).await?;
                tracing::info!(table, "rollups moved into blocks");
            }
            Ok(moved)
        }

        /// Series merged per compaction transaction: short enough not to hold up ingest for long.
        const COMPACT_SERIES: usize = 200;

        /// The `(win, series_id)` rows of a "which series-windows have blocks to merge" query,
        /// as batches of at most `COMPACT_SERIES` series of one window: a merge transaction each.
        fn merge_batches(rows: &[<$db as sqlx::Database>::Row]) -> StoreResult<Vec<(i64, Vec<i64>)>> {
            let mut by_window: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
            for r in rows {
                by_window.entry(r.try_get(0)?).or_default().push(r.try_get(1)?);
            }
            Ok(by_window
                .into_iter()
                .flat_map(|(window, series)| {
                    series.chunks(COMPACT_SERIES).map(|chunk| (window, chunk.to_vec())).collect::<Vec<_>>()
                })
                .collect())
        }

        async fn compact_window(pool: &Pool<$db>, window: i64, series: &[i64], lock: &str) -> StoreResult<()> {
            // The start_ts bounds let PostgreSQL read only the window's day partition.
            let push_window = |q: &mut QueryBuilder<'_, $db>| {
                q.push(" WHERE win = ")
                    .push_bind(window)
                    .push(" AND start_ts >= ")
                    .push_bind(window * WINDOW_MS)
                    .push(" AND start_ts < ")
                    .push_bind((window + 1) * WINDOW_MS);
            };
            let mut tx = pool.begin().await?;
            let mut q = QueryBuilder::<$db>::new("SELECT id, series_id, start_ts, count, data FROM sample_blocks");
            push_window(&mut q);
            q.push(" AND series_id IN ");
            push_ids(&mut q, series);
            q.push(" ORDER BY series_id, id");
            q.push(lock);
            let mut read: Vec<i64> = Vec::new();
            let mut merged: BTreeMap<i64, Vec<(i64, f64)>> = BTreeMap::new();
            for row in q.build().fetch_all(&mut *tx).await? {
                read.push(row.try_get("id")?);
                let (series_id, points) = block_samples(&row)?;
                merged.entry(series_id).or_default().extend(points);
            }
            for ids in read.chunks(MAX_BINDS / 2) {
                let mut q = QueryBuilder::<$db>::new("DELETE FROM sample_blocks");
                push_window(&mut q);
                q.push(" AND id IN ");
                push_ids(&mut q, ids);
                q.build().execute(&mut *tx).await?;
            }
            let merged: Vec<Block> = merged
                .into_iter()
                .map(|(series_id, points)| blocks::encode(series_id, window, points))
                .collect();
            insert_blocks(&mut tx, "sample_blocks", &merged).await?;
            tx.commit().await?;
            Ok(())
        }

        /// Moves samples stored before blocks existed (`legacy_samples`) into blocks, `LEGACY_CHUNK`
        /// rows per transaction; `take` deletes up to that many rows and returns them. Returns how
        /// many samples moved.
        pub(crate) async fn convert_legacy_samples(pool: &Pool<$db>, take: &str) -> StoreResult<u64> {
            let mut moved = 0u64;
            loop {
                let mut tx = pool.begin().await?;
                let rows = sqlx::query(take).bind(LEGACY_CHUNK).fetch_all(&mut *tx).await?;
                let mut samples = Vec::with_capacity(rows.len());
                for r in &rows {
                    samples.push((r.try_get::<i64, _>(0)?, r.try_get::<i64, _>(1)?, r.try_get::<f64, _>(2)?));
                }
                insert_blocks(&mut tx, "sample_blocks", &blocks::build(samples)).await?;
                tx.commit().await?;
                moved += rows.len() as u64;
                if (rows.len() as i64) < LEGACY_CHUNK {
                    return Ok(moved);
                }
            }
        }

        const LEGACY_CHUNK: i64 = 50_000;

        /// A transaction whose reads all see one snapshot (PostgreSQL's default sees a new one
        /// per statement), for reads that combine rollups with pending samples.
        pub(crate) async fn read_tx(pool: &Pool<$db>) -> StoreResult<Transaction<'static, $db>> {
            let mut tx = pool.begin().await?;
            if <$db as sqlx::Database>::NAME == "PostgreSQL" {
                sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ").execute(&mut *tx).await?;
            }
            Ok(tx)
        }

        /// Samples of every series not yet flushed into blocks and rollups whose times may lie
        /// in `[from, to)`. The pending table holds a second or so of data, so it is read whole.
        async fn read_pending(
            tx: &mut Transaction<'_, $db>,
            from: i64,
            to: i64,
        ) -> StoreResult<Vec<(i64, i64, f64)>> {
            let rows = sqlx::query(
                "SELECT series_id, start_ts, count, data FROM pending_blocks \
                 WHERE end_ts >= $1 AND start_ts < $2 ORDER BY id",
            )
            .bind(from)
            .bind(to)
            .fetch_all(&mut **tx)
            .await?;
            let mut out = Vec::new();
            for row in &rows {
                let (series_id, points) = block_samples(row)?;
                out.extend(points.into_iter().map(|(ts, v)| (series_id, ts, v)));
            }
            Ok(out)
        }

        /// Rollups of pending samples of the given series with `from <= bucket < to`.
        async fn pending_rollups(
            tx: &mut Transaction<'_, $db>,
            resolution: Resolution,
            series: impl Fn(i64) -> bool,
            from: i64,
            to: i64,
        ) -> StoreResult<Vec<RollupRow>> {
            // A bucket before `to` holds samples up to its own end, which may lie past `to`.
            let width = resolution.millis();
            let end = to.saturating_sub(1).div_euclid(width).saturating_mul(width).saturating_add(width);
            let pending = read_pending(tx, from.saturating_sub(width), end).await?;
            let mut rows = rollup::aggregate(pending.into_iter().filter(|s| series(s.0)), resolution);
            rows.retain(|r| (from..to).contains(&r.bucket));
            Ok(rows)
        }

        pub(crate) async fn rollups(
            pool: &Pool<$db>,
            resolution: Resolution,
            ids: &[i64],
            from: i64,
            to: i64,
        ) -> StoreResult<Vec<RollupRow>> {
            let mut tx = read_tx(pool).await?;
            let mut out = Vec::new();
            each_rollup(&mut tx, resolution, ids, (from, to), |r| out.push(r)).await?;
            let wanted: std::collections::HashSet<i64> = ids.iter().copied().collect();
            out.extend(pending_rollups(&mut tx, resolution, |id| wanted.contains(&id), from, to).await?);
            tx.commit().await?;
            Ok(rollup::merge_parts(out))
        }

        /// Rollups folded per group and query bucket as they are decoded (see
        /// `Store::rollup_groups`), pending samples included. Many series are read in two
        /// halves at once, on two connections, so decoding uses both cores; each half reads its
        /// series' blocks and pending samples in one snapshot.
        pub(crate) async fn rollup_groups(
            pool: &Pool<$db>,
            resolution: Resolution,
            members: &[(i64, i64)],
            from: i64,
            to: i64,
            step: i64,
        ) -> StoreResult<Vec<GroupBucket>> {
            let group_of: std::sync::Arc<std::collections::HashMap<i64, i64>> =
                std::sync::Arc::new(members.iter().copied().collect());
            let mut ids: Vec<i64> = group_of.keys().copied().collect();
            ids.sort_unstable();
            let fold = |ids: Vec<i64>| {
                let (pool, group_of, members) = (pool.clone(), group_of.clone(), members.to_vec());
                async move {
                    let mut fold = rollup::GroupFold::new(&members, from, to, step);
                    let mut tx = read_tx(&pool).await?;
                    // A block's buckets come together: one group lookup per block, not per bucket.
                    let mut last = (i64::MIN, 0);
                    each_rollup(&mut tx, resolution, &ids, (from, to), |r| {
                        if r.series_id != last.0 {
                            last = (r.series_id, group_of[&r.series_id]);
                        }
                        fold.add(last.1, &r);
                    })
                    .await?;
                    let wanted: std::collections::HashSet<i64> = ids.iter().copied().collect();
                    for r in pending_rollups(&mut tx, resolution, |id| wanted.contains(&id), from, to).await? {
                        fold.add(group_of[&r.series_id], &r);
                    }
                    tx.commit().await?;
                    Ok::<_, StoreError>(fold)
                }
            };
            if ids.len() < PARALLEL_SERIES {
                return Ok(fold(ids).await?.finish());
            }
            let second = ids.split_off(ids.len() / 2);
            let other = tokio::spawn(fold(second));
            let mut fold = fold(ids).await?;
            let other = match other.await {
                Ok(folded) => folded?,
                Err(e) => std::panic::resume_unwind(e.into_panic()),
            };
            fold.absorb(other);
            Ok(fold.finish())
        }

        /// Series a grouped rollup read takes before it splits in two.
        const PARALLEL_SERIES: usize = 200;

        /// Moves up to `FLUSH_ROWS` pending blocks, oldest first, into `sample_blocks` (one block
        /// per series and hour) and the rollups, in one transaction. `lock` is appended to the
        /// SELECT (PostgreSQL: `FOR UPDATE SKIP LOCKED`, so processes sharing a database flush
        /// disjoint rows). Returns the samples moved.
        pub(crate) async fn flush_pending(pool: &Pool<$db>, lock: &str) -> StoreResult<usize> {
            let mut tx = pool.begin().await?;
            let rows = sqlx::query(&format!(
                "SELECT id, series_id, start_ts, count, data FROM pending_blocks ORDER BY id LIMIT $1{lock}"
            ))
            .bind(FLUSH_ROWS)
            .fetch_all(&mut *tx)
            .await?;
            if rows.is_empty() {
                return Ok(0);
            }
            let mut ids = Vec::with_capacity(rows.len());
            let mut merged: BTreeMap<(i64, i64), Vec<(i64, f64)>> = BTreeMap::new();
            for row in &rows {
                ids.push(row.try_get::<i64, _>("id")?);
                let (series_id, points) = block_samples(row)?;
                let start: i64 = row.try_get("start_ts")?;
                merged.entry((series_id, blocks::window_of(start))).or_default().extend(points);
            }
            let moved = merged.values().map(Vec::len).sum();
            let samples: Vec<(i64, i64, f64)> = merged
                .iter()
                .flat_map(|((series_id, _), points)| points.iter().map(|(ts, v)| (*series_id, *ts, *v)))
                .collect();
            let minutes = rollup::aggregate(samples.iter().copied(), Resolution::Minute);
            insert_tiers(&mut tx, &minutes, &[Resolution::FiveMinutes, Resolution::Hour]).await?;
            let flushed: Vec<Block> = merged
                .into_iter()
                .map(|((series_id, window), points)| blocks::encode(series_id, window, points))
                .collect();
            insert_blocks(&mut tx, "sample_blocks", &flushed).await?;
            for chunk in ids.chunks(MAX_BINDS) {
                let mut q = QueryBuilder::<$db>::new("DELETE FROM pending_blocks WHERE id IN ");
                push_ids(&mut q, chunk);
                q.build().execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(moved)
        }

        /// Pending blocks moved per flush transaction.
        pub(crate) const FLUSH_ROWS: i64 = 10_000;

        /// Samples waiting in `pending_blocks`, at start-up.
        pub(crate) async fn pending_count(pool: &Pool<$db>) -> StoreResult<usize> {
            let n: i64 = sqlx::query_scalar("SELECT CAST(COALESCE(SUM(count), 0) AS BIGINT) FROM pending_blocks")
                .fetch_one(pool)
                .await?;
            Ok(n as usize)
        }

        pub(crate) async fn put_anomalies(pool: &Pool<$db>, rows: &[Anomaly]) -> StoreResult<()> {
            for chunk in rows.chunks(MAX_BINDS / 8) {
                let mut q = QueryBuilder::<$db>::new(
                    "INSERT INTO anomalies (series_id, ts, value, score, expected, lower, upper, explanation) ",
                );
                q.push_values(chunk, |mut b, a| {
                    b.push_bind(a.series_id)
                        .push_bind(a.timestamp)
                        .push_bind(a.value)
                        .push_bind(a.score)
                        .push_bind(a.expected)
                        .push_bind(a.lower)
                        .push_bind(a.upper)
                        .push_bind(a.explanation.clone());
                });
                q.push(
                    " ON CONFLICT (series_id, ts) DO UPDATE SET value = excluded.value, score = excluded.score, \
                     expected = excluded.expected, lower = excluded.lower, upper = excluded.upper, \
                     explanation = excluded.explanation",
                );
                q.build().execute(pool).await?;
            }
            Ok(())
        }

        /// An anomaly with its series and whether it was dismissed, read by [`anomaly_row`];
        /// the caller appends the condition.
        const ANOMALY_SELECT: &str = "SELECT a.series_id, s.name, s.labels, a.ts, a.value, a.score, a.expected, a.lower, \
             a.upper, a.explanation, CASE WHEN f.ts IS NULL THEN 0 ELSE 1 END \
             FROM anomalies a JOIN series s ON s.id = a.series_id \
             LEFT JOIN anomaly_feedback f ON f.series_id = a.series_id AND f.ts = a.ts WHERE ";

        fn anomaly_row(r: &<$db as sqlx::Database>::Row) -> StoreResult<Anomaly> {
            Ok(Anomaly {
                series_id: r.try_get(0)?,
                metric: r.try_get(1)?,
                labels: parse_labels(r.try_get(2)?)?,
                timestamp: r.try_get(3)?,
                value: r.try_get(4)?,
                score: r.try_get(5)?,
                expected: r.try_get(6)?,
                lower: r.try_get(7)?,
                upper: r.try_get(8)?,
                explanation: r.try_get(9)?,
                dismissed: r.try_get::<i32, _>(10)? != 0,
            })
        }

        pub(crate) async fn anomalies(
            pool: &Pool<$db>,
            metric: Option<&str>,
            from: i64,
            to: i64,
            limit: u32,
        ) -> StoreResult<Vec<Anomaly>> {
            let mut q = QueryBuilder::<$db>::new(ANOMALY_SELECT);
            q.push("a.ts >= ").push_bind(from).push(" AND a.ts < ").push_bind(to);
            if let Some(m) = metric {
                q.push(" AND s.name = ").push_bind(m.to_string());
            }
            q.push(" ORDER BY a.ts DESC LIMIT ").push_bind(i64::from(limit));
            q.build().fetch_all(pool).await?.iter().map(anomaly_row).collect()
        }

        pub(crate) async fn anomaly(pool: &Pool<$db>, series_id: i64, ts: i64) -> StoreResult<Option<Anomaly>> {
            let mut q = QueryBuilder::<$db>::new(ANOMALY_SELECT);
            q.push("a.series_id = ").push_bind(series_id).push(" AND a.ts = ").push_bind(ts);
            q.build().fetch_optional(pool).await?.as_ref().map(anomaly_row).transpose()
        }

        pub(crate) async fn put_feedback(pool: &Pool<$db>, f: &Feedback, now: i64) -> StoreResult<()> {
            let mut q = QueryBuilder::<$db>::new("INSERT INTO anomaly_feedback (series_id, ts, sigmas, created_at) ");
            q.push_values([f], |mut b, f| {
                b.push_bind(f.series_id).push_bind(f.ts).push_bind(f.sigmas).push_bind(now);
            });
            q.push(" ON CONFLICT (series_id, ts) DO NOTHING");
            q.build().execute(pool).await?;
            Ok(())
        }

        pub(crate) async fn feedback(pool: &Pool<$db>, from: i64) -> StoreResult<Vec<Feedback>> {
            let mut q = QueryBuilder::<$db>::new("SELECT series_id, ts, sigmas FROM anomaly_feedback WHERE ts >= ");
            q.push_bind(from).push(" ORDER BY ts");
            q.build()
                .fetch_all(pool)
                .await?
                .iter()
                .map(|r| {
                    Ok(Feedback {
                        series_id: r.try_get(0)?,
                        ts: r.try_get(1)?,
                        sigmas: r.try_get(2)?,
                    })
                })
                .collect()
        }

        pub(crate) async fn recent_samples(pool: &Pool<$db>, from: i64, limit: u32) -> StoreResult<Vec<SampleRow>> {
            use futures_util::TryStreamExt;
            let limit = limit as usize;
            // Windows are read in order and every sample of a window precedes the next window's,
            // so reading can stop at the first window after `limit` samples are in hand.
            let mut rows = sqlx::query(
                "SELECT 0 AS src, id, win, series_id, start_ts, count, data FROM sample_blocks \
                 WHERE win >= $1 AND start_ts > $2 AND end_ts >= $3 \
                 UNION ALL SELECT 1 AS src, id, win, series_id, start_ts, count, data FROM pending_blocks \
                 WHERE win >= $1 AND start_ts > $2 AND end_ts >= $3 ORDER BY win, src, id",
            )
            .bind(blocks::window_of(from))
            .bind(from.saturating_sub(WINDOW_MS))
            .bind(from)
            .fetch(pool);
            let mut out = Vec::new();
            while let Some(row) = rows.try_next().await? {
                let window: i64 = row.try_get("win")?;
                if out.len() >= limit && out.last().is_some_and(|s: &SampleRow| blocks::window_of(s.ts) < window) {
                    break;
                }
                let (series_id, points) = block_samples(&row)?;
                out.extend(
                    points.into_iter().filter(|(ts, _)| *ts >= from).map(|(ts, value)| SampleRow { series_id, ts, value }),
                );
            }
            out.sort_by_key(|s| s.ts);
            out.truncate(limit);
            Ok(out)
        }

        pub(crate) async fn metrics(pool: &Pool<$db>) -> StoreResult<Vec<MetricInfo>> {
            let rows = sqlx::query("SELECT name, kind, labels FROM series ORDER BY name").fetch_all(pool).await?;
            let mut by_name: BTreeMap<String, (MetricKind, BTreeSet<String>)> = BTreeMap::new();
            for r in rows {
                let name: String = r.try_get(0)?;
                let kind = MetricKind::parse(r.try_get(1)?);
                let labels = parse_labels(r.try_get(2)?)?;
                let entry = by_name.entry(name).or_insert_with(|| (kind, BTreeSet::new()));
                entry.1.extend(labels.into_keys());
            }
            Ok(by_name
                .into_iter()
                .map(|(name, (kind, labels))| MetricInfo { name, kind, labels: labels.into_iter().collect() })
                .collect())
        }

        pub(crate) async fn events(pool: &Pool<$db>, query: &EventQuery) -> StoreResult<Vec<EventRow>> {
            let mut q = QueryBuilder::<$db>::new("SELECT ts, name, properties, labels FROM events WHERE ts >= ");
            q.push_bind(query.from).push(" AND ts < ").push_bind(query.to);
            if let Some(name) = &query.name {
                q.push(" AND name = ").push_bind(name.clone());
            }
            q.push(" ORDER BY ts DESC LIMIT ").push_bind(i64::from(query.limit));
            let rows = q.build().fetch_all(pool).await?;
            rows.iter()
                .map(|r| {
                    let properties: String = r.try_get(2)?;
                    Ok(EventRow {
                        timestamp: r.try_get(0)?,
                        name: r.try_get(1)?,
                        properties: serde_json::from_str(&properties)
                            .map_err(|e| StoreError::Corrupt(format!("event properties: {e}")))?,
                        labels: parse_labels(r.try_get(3)?)?,
                    })
                })
                .collect()
        }

        pub(crate) async fn put_key(pool: &Pool<$db>, key: &ApiKey, now: i64) -> StoreResult<()> {
            sqlx::query(concat!(
                "INSERT INTO api_keys (hash, prefix, kind, project, created_at) VALUES ($1, $2, $3, $4, $5) ",
                "ON CONFLICT (hash) DO NOTHING"
            ))
            .bind(&key.hash)
            .bind(&key.prefix)
            .bind(key.kind.as_str())
            .bind(&key.project)
            .bind(now)
            .execute(pool)
            .await?;
            Ok(())
        }

        pub(crate) async fn find_key(pool: &Pool<$db>, hash: &str) -> StoreResult<Option<ApiKey>> {
            let row = sqlx::query("SELECT hash, prefix, kind, project FROM api_keys WHERE hash = $1 AND revoked_at IS NULL")
                .bind(hash)
                .fetch_optional(pool)
                .await?;
            row.map(|r| {
                let kind: String = r.try_get(2)?;
                Ok(ApiKey {
                    hash: r.try_get(0)?,
                    prefix: r.try_get(1)?,
                    kind: KeyKind::parse(&kind).unwrap_or(KeyKind::Ingest),
                    project: r.try_get(3)?,
                })
            })
            .transpose()
        }

        pub(crate) async fn has_key(pool: &Pool<$db>, kind: KeyKind) -> StoreResult<bool> {
            let n: i64 = sqlx::query_scalar("SELECT count(*) FROM api_keys WHERE kind = $1 AND revoked_at IS NULL")
                .bind(kind.as_str())
                .fetch_one(pool)
                .await?;
            Ok(n > 0)
        }

        pub(crate) async fn counts(pool: &Pool<$db>) -> StoreResult<TableCounts> {
            let mut c = [0i64; 6];
            for (slot, table) in c.iter_mut().zip(["series", "samples", "events", "errors", "spans", "security_events"]) {
                let sql = match table {
                    "samples" => "SELECT CAST(COALESCE((SELECT SUM(count) FROM sample_blocks), 0) \
                                  + COALESCE((SELECT SUM(count) FROM pending_blocks), 0) AS BIGINT)"
                        .to_string(),
                    _ => format!("SELECT count(*) FROM {table}"),
                };
                *slot = sqlx::query_scalar(&sql).fetch_one(pool).await?;
            }
            Ok(TableCounts { series: c[0], samples: c[1], events: c[2], errors: c[3], spans: c[4], security: c[5] })
        }

        pub(crate) async fn series_count(pool: &Pool<$db>) -> StoreResult<usize> {
            let n: i64 = sqlx::query_scalar("SELECT count(*) FROM series").fetch_one(pool).await?;
            Ok(n as usize)
        }
    };
}

pub(crate) use shared_sql;

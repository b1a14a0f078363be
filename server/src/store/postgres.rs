//! PostgreSQL, for when one machine is not enough: many Osprey processes share one database.
//! Samples and events are partitioned by day, so retention drops whole partitions.

use super::sql::shared_sql;
use super::{ExpiryReport, Store};
use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::Postgres;
use std::collections::HashSet;
use std::str::FromStr;
use std::sync::Mutex;

shared_sql!(Postgres);
super::alerting::alert_store!(PgStore, Postgres, pool, pool);
super::accounts::account_store!(PgStore, Postgres, pool, pool);
super::signals::signal_store!(PgStore, sqlx::Postgres, pool, pool);
super::security::security_store!(PgStore, sqlx::Postgres, pool);

const DAY_MS: i64 = 86_400_000;
/// Hours back that compaction looks for blocks to merge; older late arrivals stay as they are.
const COMPACT_LOOKBACK: i64 = 48;
/// The advisory lock key that serialises conversions of older layouts across processes.
const LEGACY_LOCK: i64 = 0x6f73_7072_6579_0001;
/// Tables partitioned by day, with their time column.
const PARTITIONED: [&str; 2] = ["sample_blocks", "events"];

pub struct PgStore {
    pool: Pool<Postgres>,
    cache: SeriesCache,
    known_series: AtomicUsize,
    max_series: usize,
    pending: super::PendingCount,
    /// Day partitions known to exist, so each is created once per process.
    partitions: Mutex<HashSet<(&'static str, i64)>>,
}

impl PgStore {
    /// Connects and applies the PostgreSQL migrations. With `schema`, everything lives in that
    /// schema (created if missing): the conformance tests give each run its own.
    pub async fn open(
        url: &str,
        max_connections: u32,
        max_series: usize,
        schema: Option<&str>,
    ) -> StoreResult<Self> {
        let mut options = PgConnectOptions::from_str(url)?;
        if let Some(schema) = schema {
            if !schema
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
            {
                return Err(StoreError::Url {
                    url: url.into(),
                    reason: format!("invalid schema name {schema:?}"),
                });
            }
            let setup = PgPoolOptions::new()
                .max_connections(1)
                .connect_with(options.clone())
                .await?;
            sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
                .execute(&setup)
                .await?;
            setup.close().await;
            options = options.options([("search_path", schema)]);
        }
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(2))
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        let known = series_count(&pool).await?;
        let pending = pending_count(&pool).await?;
        let store = PgStore {
            pool,
            cache: SeriesCache::new(max_series.min(200_000)),
            known_series: AtomicUsize::new(known),
            max_series,
            pending: super::PendingCount::new(pending),
            partitions: Mutex::new(HashSet::new()),
        };
        store.convert_legacy().await?;
        Ok(store)
    }

    /// Moves data stored in older layouts into blocks, one process at a time: processes that
    /// start together on one database wait on an advisory lock, and the later ones find the
    /// old tables gone.
    async fn convert_legacy(&self) -> StoreResult<()> {
        let mut guard = self.pool.acquire().await?;
        sqlx::query("SELECT pg_advisory_lock($1)")
            .bind(LEGACY_LOCK)
            .execute(&mut *guard)
            .await?;
        let converted = async {
            self.convert_legacy_samples().await?;
            self.convert_legacy_rollups().await
        }
        .await;
        sqlx::query("SELECT pg_advisory_unlock($1)")
            .bind(LEGACY_LOCK)
            .execute(&mut *guard)
            .await?;
        converted
    }

    /// Moves samples stored before blocks existed into blocks, then drops their old table.
    async fn convert_legacy_samples(&self) -> StoreResult<()> {
        let legacy: bool = sqlx::query_scalar("SELECT to_regclass('legacy_samples') IS NOT NULL")
            .fetch_one(&self.pool)
            .await?;
        if !legacy {
            return Ok(());
        }
        self.ensure_block_partitions("legacy_samples", "ts").await?;
        // A partitioned table's rows are told apart by partition and ctid together.
        let moved = convert_legacy_samples(
            &self.pool,
            "DELETE FROM legacy_samples WHERE (tableoid, ctid) IN \
             (SELECT tableoid, ctid FROM legacy_samples LIMIT $1) RETURNING series_id, ts, value",
        )
        .await?;
        sqlx::query("DROP TABLE legacy_samples")
            .execute(&self.pool)
            .await?;
        tracing::info!(samples = moved, "samples moved into blocks");
        Ok(())
    }

    /// Moves rollups stored one row per bucket into rollup blocks, then drops their old tables.
    async fn convert_legacy_rollups(&self) -> StoreResult<()> {
        convert_legacy_rollups(
            &self.pool,
            "SELECT to_regclass('{table}') IS NOT NULL",
            "DELETE FROM {table} WHERE ctid IN (SELECT ctid FROM {table} LIMIT $1) \
             RETURNING series_id, bucket, count, sum, min, max, last, last_ts",
        )
        .await?;
        Ok(())
    }

    /// Creates the `sample_blocks` day partitions that the times in `column` of `table` need.
    async fn ensure_block_partitions(&self, table: &str, column: &str) -> StoreResult<()> {
        let days: Vec<i64> = sqlx::query_scalar(&format!(
            "SELECT DISTINCT CAST(floor({column} / {DAY_MS}.0) AS BIGINT) * {DAY_MS} FROM {table}"
        ))
        .fetch_all(&self.pool)
        .await?;
        self.ensure_partitions_for(days.into_iter().map(|ts| ("sample_blocks", ts)))
            .await
    }

    /// Creates the day partitions a batch needs, outside its transaction.
    async fn ensure_partitions(&self, batch: &Batch) -> StoreResult<()> {
        let samples = batch.metrics.iter().map(|m| ("sample_blocks", m.ts));
        let events = batch.events.iter().map(|e| ("events", e.ts));
        self.ensure_partitions_for(samples.chain(events)).await
    }

    /// Creates the day partitions of the given tables that hold the given times.
    async fn ensure_partitions_for(
        &self,
        times: impl Iterator<Item = (&'static str, i64)>,
    ) -> StoreResult<()> {
        let mut wanted: Vec<(&'static str, i64)> = times
            .map(|(table, ts)| (table, ts.div_euclid(DAY_MS)))
            .collect();
        wanted.sort_unstable();
        wanted.dedup();
        wanted.retain(|p| !self.partitions.lock().expect("partition lock").contains(p));
        for (table, day) in wanted {
            let sql = format!(
                "CREATE TABLE IF NOT EXISTS {} PARTITION OF {table} FOR VALUES FROM ({}) TO ({})",
                partition_name(table, day),
                day * DAY_MS,
                (day + 1) * DAY_MS
            );
            if let Err(e) = sqlx::query(&sql).execute(&self.pool).await {
                // Another process may have created it at the same moment; only a missing table is an error.
                if !self.partition_exists(table, day).await? {
                    return Err(e.into());
                }
            }
            self.partitions
                .lock()
                .expect("partition lock")
                .insert((table, day));
        }
        Ok(())
    }

    async fn partition_exists(&self, table: &str, day: i64) -> StoreResult<bool> {
        let name = partition_name(table, day);
        let found: Option<i32> = sqlx::query_scalar(
            "SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relname = $1 AND n.nspname = current_schema()",
        )
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        Ok(found.is_some())
    }
}

fn partition_name(table: &str, day: i64) -> String {
    let date = chrono::DateTime::from_timestamp_millis(day * DAY_MS)
        .map(|d| d.format("%Y%m%d").to_string());
    format!("{table}_p{}", date.unwrap_or_else(|| day.to_string()))
}

#[async_trait]
impl Store for PgStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    async fn write(&self, batch: &Batch) -> StoreResult<Vec<i64>> {
        self.ensure_partitions(batch).await?;
        let prepared = PreparedBatch::new(batch);
        let now = chrono::Utc::now().timestamp_millis();
        let mut tx = self.pool.begin().await?;
        let (ids, created) = resolve_series(
            &mut tx,
            &self.cache,
            &prepared,
            &self.known_series,
            self.max_series,
            now,
        )
        .await?;
        let sample_ids: Vec<i64> = prepared.sample_series.iter().map(|&i| ids[i]).collect();
        insert_rows(&mut tx, batch, &sample_ids).await?;
        tx.commit().await?;
        self.pending.committed(batch.metrics.len());
        self.known_series.fetch_add(created, Ordering::Relaxed);
        self.cache.insert_all(
            prepared
                .distinct
                .iter()
                .zip(&ids)
                .map(|((k, _), id)| ((*k).clone(), *id)),
        );
        Ok(sample_ids)
    }

    fn series_created(&self) -> usize {
        self.known_series.load(Ordering::Relaxed)
    }
    async fn series(&self, metric: &str) -> StoreResult<Vec<SeriesRow>> {
        series(&self.pool, metric).await
    }
    async fn samples(&self, ids: &[i64], from: i64, to: i64) -> StoreResult<Vec<SampleRow>> {
        samples(&self.pool, ids, from, to).await
    }
    async fn rollups(
        &self,
        resolution: Resolution,
        ids: &[i64],
        from: i64,
        to: i64,
    ) -> StoreResult<Vec<RollupRow>> {
        rollups(&self.pool, resolution, ids, from, to).await
    }
    async fn rollup_groups(
        &self,
        resolution: Resolution,
        members: &[(i64, i64)],
        from: i64,
        to: i64,
        step: i64,
    ) -> StoreResult<Vec<GroupBucket>> {
        rollup_groups(&self.pool, resolution, members, from, to, step).await
    }
    async fn put_anomalies(&self, rows: &[Anomaly]) -> StoreResult<()> {
        put_anomalies(&self.pool, rows).await
    }
    async fn anomalies(
        &self,
        metric: Option<&str>,
        from: i64,
        to: i64,
        limit: u32,
    ) -> StoreResult<Vec<Anomaly>> {
        anomalies(&self.pool, metric, from, to, limit).await
    }
    async fn anomaly(&self, series_id: i64, ts: i64) -> StoreResult<Option<Anomaly>> {
        anomaly(&self.pool, series_id, ts).await
    }
    async fn put_feedback(&self, feedback: &Feedback, now: i64) -> StoreResult<()> {
        put_feedback(&self.pool, feedback, now).await
    }
    async fn feedback(&self, from: i64) -> StoreResult<Vec<Feedback>> {
        feedback(&self.pool, from).await
    }
    async fn recent_samples(&self, from: i64, limit: u32) -> StoreResult<Vec<SampleRow>> {
        recent_samples(&self.pool, from, limit).await
    }
    async fn metrics(&self) -> StoreResult<Vec<MetricInfo>> {
        metrics(&self.pool).await
    }
    async fn events(&self, query: &EventQuery) -> StoreResult<Vec<EventRow>> {
        events(&self.pool, query).await
    }
    async fn put_key(&self, key: &ApiKey) -> StoreResult<()> {
        put_key(&self.pool, key, chrono::Utc::now().timestamp_millis()).await
    }
    async fn find_key(&self, hash: &str) -> StoreResult<Option<ApiKey>> {
        find_key(&self.pool, hash).await
    }
    async fn has_key(&self, kind: KeyKind) -> StoreResult<bool> {
        has_key(&self.pool, kind).await
    }

    async fn flush_pending(&self) -> StoreResult<usize> {
        // A day partition dropped by retention while old samples waited is made again.
        self.ensure_block_partitions("pending_blocks", "start_ts")
            .await?;
        let samples = flush_pending(&self.pool, " FOR UPDATE SKIP LOCKED").await?;
        self.pending.flushed(samples);
        Ok(samples)
    }
    fn pending_samples(&self) -> usize {
        self.pending.get()
    }

    async fn compact(&self, now: i64, limit: i64) -> StoreResult<u64> {
        compact(&self.pool, now, COMPACT_LOOKBACK, limit, " FOR UPDATE").await
    }
    async fn compact_rollups(&self, now: i64, limit: i64) -> StoreResult<u64> {
        let since = now - COMPACT_LOOKBACK * super::blocks::WINDOW_MS;
        compact_rollups(&self.pool, since, limit, " FOR UPDATE").await
    }

    async fn expire(&self, raw_before: i64, rollup_before: i64) -> StoreResult<ExpiryReport> {
        // Pending samples reach their rollups first, which outlive them.
        self.flush_all().await?;
        let mut report = ExpiryReport::default();
        // Whole days before the horizon go as partitions; the rest of a day waits for its turn.
        for table in PARTITIONED {
            let children: Vec<String> = sqlx::query_scalar(
                "SELECT c.relname::text FROM pg_inherits i \
                 JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent \
                 JOIN pg_namespace n ON n.oid = p.relnamespace \
                 WHERE p.relname = $1 AND n.nspname = current_schema()",
            )
            .bind(table)
            .fetch_all(&self.pool)
            .await?;
            for child in children {
                let Some(day) = child
                    .strip_prefix(&format!("{table}_p"))
                    .and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y%m%d").ok())
                else {
                    continue;
                };
                let end = day
                    .and_hms_opt(0, 0, 0)
                    .expect("midnight")
                    .and_utc()
                    .timestamp_millis()
                    + DAY_MS;
                if end <= raw_before {
                    sqlx::query(&format!("DROP TABLE IF EXISTS {child}"))
                        .execute(&self.pool)
                        .await?;
                    self.partitions
                        .lock()
                        .expect("partition lock")
                        .remove(&(table, end / DAY_MS - 1));
                    report.raw += 1;
                }
            }
        }
        for (table, column) in [
            ("errors", "ts"),
            ("spans", "start"),
            ("security_events", "ts"),
            ("logs", "ts"),
            ("error_groups", "last_seen"),
            ("anomalies", "ts"),
        ] {
            let sql = format!("DELETE FROM {table} WHERE {column} < $1");
            report.raw += sqlx::query(&sql)
                .bind(raw_before)
                .execute(&self.pool)
                .await?
                .rows_affected();
        }
        // Whole windows of rollups (an hour of minutes, a day of hours) before the horizon's.
        for resolution in Resolution::ALL {
            report.rollups +=
                sqlx::query("DELETE FROM rollup_blocks WHERE width = $1 AND win < $2")
                    .bind(resolution.millis())
                    .bind(resolution.window_of(rollup_before))
                    .execute(&self.pool)
                    .await?
                    .rows_affected();
        }
        // The users of issues that expired with them.
        sqlx::query(
            "DELETE FROM error_group_users WHERE fingerprint NOT IN (SELECT fingerprint FROM error_groups)",
        )
        .execute(&self.pool)
        .await?;
        Ok(report)
    }

    async fn counts(&self) -> StoreResult<TableCounts> {
        counts(&self.pool).await
    }
    async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }
    async fn close(&self) {
        self.pool.close().await;
    }
}

//! The embedded default: SQLite in WAL mode, one writer connection, a pool of readers.

use super::sql::shared_sql;
use super::{ExpiryReport, Store};
use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::Sqlite;
use std::str::FromStr;
use std::time::Duration;

shared_sql!(Sqlite);
super::alerting::alert_store!(SqliteStore, Sqlite, writer, readers);
super::accounts::account_store!(SqliteStore, Sqlite, writer, readers);
super::signals::signal_store!(SqliteStore, sqlx::Sqlite, readers, writer);
super::security::security_store!(SqliteStore, sqlx::Sqlite, readers);

/// Rows deleted per statement by retention, so ingest is never blocked for long.
const EXPIRE_CHUNK: i64 = 20_000;
/// Hours back that compaction looks for blocks to merge; older late arrivals stay as they are.
const COMPACT_LOOKBACK: i64 = 48;

pub struct SqliteStore {
    writer: Pool<Sqlite>,
    readers: Pool<Sqlite>,
    cache: SeriesCache,
    known_series: AtomicUsize,
    max_series: usize,
    pending: super::PendingCount,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `url` and applies the SQLite migrations.
    pub async fn open(url: &str, readers: u32, max_series: usize) -> StoreResult<Self> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: a commit is on disk before the client hears 202, even across power loss.
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            .pragma("temp_store", "memory")
            .foreign_keys(true);
        private_files(options.get_filename()).map_err(|reason| StoreError::Url {
            url: url.into(),
            reason,
        })?;
        // The writer's page cache keeps the indexes' hot pages in memory as the database grows;
        // readers get a smaller one each, so memory stays bounded with several of them.
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .connect_with(options.clone().pragma("cache_size", "-32768"))
            .await?;
        sqlx::migrate!("./migrations/sqlite").run(&writer).await?;
        let readers = SqlitePoolOptions::new()
            .max_connections(readers)
            .connect_with(options.read_only(true).pragma("cache_size", "-8192"))
            .await?;
        let legacy: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'legacy_samples'",
        )
        .fetch_one(&writer)
        .await?;
        if legacy > 0 {
            let moved = convert_legacy_samples(
                &writer,
                "DELETE FROM legacy_samples WHERE rowid IN (SELECT rowid FROM legacy_samples LIMIT $1) \
                 RETURNING series_id, ts, value",
            )
            .await?;
            sqlx::query("DROP TABLE legacy_samples")
                .execute(&writer)
                .await?;
            tracing::info!(samples = moved, "samples moved into blocks");
        }
        convert_legacy_rollups(
            &writer,
            "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = '{table}'",
            "DELETE FROM {table} WHERE (series_id, bucket) IN \
             (SELECT series_id, bucket FROM {table} LIMIT $1) \
             RETURNING series_id, bucket, count, sum, min, max, last, last_ts",
        )
        .await?;
        let known = series_count(&writer).await?;
        let pending = pending_count(&writer).await?;
        Ok(SqliteStore {
            writer,
            readers,
            cache: SeriesCache::new(max_series.min(200_000)),
            known_series: AtomicUsize::new(known),
            max_series,
            pending: super::PendingCount::new(pending),
        })
    }
}

/// The database holds channel secrets, the embed signing key and password hashes: a directory
/// Osprey creates for it is its owner's alone (0700), and the database file, created before
/// SQLite opens it, is 0600 (SQLite gives its `-wal` and `-shm` files the same mode). An existing
/// database is narrowed to 0600 too; an existing directory is left as its owner set it.
fn private_files(db: &std::path::Path) -> Result<(), String> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
    if db.as_os_str().is_empty() || db == std::path::Path::new(":memory:") {
        return Ok(());
    }
    if let Some(dir) = db.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.exists() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|e| format!("cannot create directory {}: {e}", dir.display()))?;
        }
    }
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(db)
        .map_err(|e| format!("cannot create {}: {e}", db.display()))?;
    for suffix in ["", "-wal", "-shm"] {
        let mut name = db.as_os_str().to_owned();
        name.push(suffix);
        let path = std::path::PathBuf::from(name);
        if path.exists() {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
                .map_err(|e| format!("cannot make {} private: {e}", path.display()))?;
        }
    }
    Ok(())
}

impl SqliteStore {
    /// Runs `sql` (a DELETE of at most `?2` rows older than `?1`) until it deletes fewer than
    /// `EXPIRE_CHUNK`, so ingest is never blocked for long; returns the rows deleted.
    async fn delete_chunked(&self, sql: &str, before: i64) -> StoreResult<u64> {
        let mut deleted = 0;
        loop {
            let n = sqlx::query(sql)
                .bind(before)
                .bind(EXPIRE_CHUNK)
                .execute(&self.writer)
                .await?
                .rows_affected();
            deleted += n;
            if n < EXPIRE_CHUNK as u64 {
                return Ok(deleted);
            }
        }
    }
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn write(&self, batch: &Batch) -> StoreResult<Vec<i64>> {
        let prepared = PreparedBatch::new(batch);
        let now = chrono::Utc::now().timestamp_millis();
        let mut tx = self.writer.begin().await?;
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
        series(&self.readers, metric).await
    }
    async fn samples(&self, ids: &[i64], from: i64, to: i64) -> StoreResult<Vec<SampleRow>> {
        samples(&self.readers, ids, from, to).await
    }
    async fn rollups(
        &self,
        resolution: Resolution,
        ids: &[i64],
        from: i64,
        to: i64,
    ) -> StoreResult<Vec<RollupRow>> {
        rollups(&self.readers, resolution, ids, from, to).await
    }
    async fn rollup_groups(
        &self,
        resolution: Resolution,
        members: &[(i64, i64)],
        from: i64,
        to: i64,
        step: i64,
    ) -> StoreResult<Vec<GroupBucket>> {
        rollup_groups(&self.readers, resolution, members, from, to, step).await
    }
    async fn put_anomalies(&self, rows: &[Anomaly]) -> StoreResult<()> {
        put_anomalies(&self.writer, rows).await
    }
    async fn anomalies(
        &self,
        metric: Option<&str>,
        from: i64,
        to: i64,
        limit: u32,
    ) -> StoreResult<Vec<Anomaly>> {
        anomalies(&self.readers, metric, from, to, limit).await
    }
    async fn anomaly(&self, series_id: i64, ts: i64) -> StoreResult<Option<Anomaly>> {
        anomaly(&self.readers, series_id, ts).await
    }
    async fn put_feedback(&self, feedback: &Feedback, now: i64) -> StoreResult<()> {
        put_feedback(&self.writer, feedback, now).await
    }
    async fn feedback(&self, from: i64) -> StoreResult<Vec<Feedback>> {
        feedback(&self.readers, from).await
    }
    async fn recent_samples(&self, from: i64, limit: u32) -> StoreResult<Vec<SampleRow>> {
        recent_samples(&self.readers, from, limit).await
    }
    async fn metrics(&self) -> StoreResult<Vec<MetricInfo>> {
        metrics(&self.readers).await
    }
    async fn events(&self, query: &EventQuery) -> StoreResult<Vec<EventRow>> {
        events(&self.readers, query).await
    }
    async fn put_key(&self, key: &ApiKey) -> StoreResult<()> {
        put_key(&self.writer, key, chrono::Utc::now().timestamp_millis()).await
    }
    async fn find_key(&self, hash: &str) -> StoreResult<Option<ApiKey>> {
        find_key(&self.readers, hash).await
    }
    async fn has_key(&self, kind: KeyKind) -> StoreResult<bool> {
        has_key(&self.readers, kind).await
    }

    async fn flush_pending(&self) -> StoreResult<usize> {
        let samples = flush_pending(&self.writer, "").await?;
        self.pending.flushed(samples);
        Ok(samples)
    }
    fn pending_samples(&self) -> usize {
        self.pending.get()
    }

    async fn compact(&self, now: i64, limit: i64) -> StoreResult<u64> {
        compact(&self.writer, now, COMPACT_LOOKBACK, limit, "").await
    }
    async fn compact_rollups(&self, now: i64, limit: i64) -> StoreResult<u64> {
        let since = now - COMPACT_LOOKBACK * super::blocks::WINDOW_MS;
        compact_rollups(&self.writer, since, limit, "").await
    }

    async fn expire(&self, raw_before: i64, rollup_before: i64) -> StoreResult<ExpiryReport> {
        // Pending samples reach their rollups first, which outlive them.
        self.flush_all().await?;
        let mut report = ExpiryReport::default();
        // Whole hours of sample blocks before the horizon's hour (found by the `win` index).
        report.raw += self
            .delete_chunked(
                "DELETE FROM sample_blocks WHERE id IN (SELECT id FROM sample_blocks WHERE win < ?1 LIMIT ?2)",
                super::blocks::window_of(raw_before),
            )
            .await?;
        let raw = [
            ("events", "ts"),
            ("errors", "ts"),
            ("spans", "start"),
            ("security_events", "ts"),
            ("logs", "ts"),
            ("error_groups", "last_seen"),
            ("anomalies", "ts"),
        ];
        for (table, column) in raw {
            // WITHOUT ROWID tables have no rowid: their deletes go by key range instead.
            let sql = if table == "anomalies" {
                format!("DELETE FROM {table} WHERE ({column}, series_id) IN (SELECT {column}, series_id FROM {table} WHERE {column} < ?1 LIMIT ?2)")
            } else {
                format!("DELETE FROM {table} WHERE rowid IN (SELECT rowid FROM {table} WHERE {column} < ?1 LIMIT ?2)")
            };
            report.raw += self.delete_chunked(&sql, raw_before).await?;
        }
        // Whole windows of rollups (an hour of minutes, a day of hours) before the horizon's.
        for resolution in Resolution::ALL {
            let sql = format!(
                "DELETE FROM rollup_blocks WHERE id IN (SELECT id FROM rollup_blocks \
                 WHERE width = {} AND win < ?1 LIMIT ?2)",
                resolution.millis()
            );
            report.rollups += self
                .delete_chunked(&sql, resolution.window_of(rollup_before))
                .await?;
        }
        // The users of issues that expired with them.
        sqlx::query(
            "DELETE FROM error_group_users WHERE fingerprint NOT IN (SELECT fingerprint FROM error_groups)",
        )
        .execute(&self.writer)
        .await?;
        Ok(report)
    }

    async fn counts(&self) -> StoreResult<TableCounts> {
        counts(&self.readers).await
    }
    async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.readers).await.is_ok()
    }
    async fn close(&self) {
        self.readers.close().await;
        self.writer.close().await;
    }
}

//! Reading what applications sent besides metrics: errors grouped into issues, traces and logs.
//! (They are written by the batch writer with everything else, see `sql.rs`.)

use super::StoreResult;
use app::model::{ErrorGroupView, ErrorOccurrence, LogView, SpanHit, SpanView, TraceSummary};
use async_trait::async_trait;

/// Which issues to list: those seen in `[from, to)`.
#[derive(Debug, Clone, Default)]
pub struct ErrorGroupQuery {
    pub status: Option<String>,
    pub service: Option<String>,
    /// Case-insensitive substring of the type, message or culprit.
    pub text: Option<String>,
    pub from: i64,
    pub to: i64,
    pub limit: u32,
}

/// Which traces to list: those with a span in `[from, to)` matching every given condition.
#[derive(Debug, Clone, Default)]
pub struct TraceQuery {
    pub service: Option<String>,
    pub operation: Option<String>,
    pub min_duration_ms: Option<f64>,
    pub status: Option<String>,
    /// A string attribute that must equal the value.
    pub attribute: Option<(String, String)>,
    pub from: i64,
    pub to: i64,
    pub limit: u32,
}

/// Which log records to list, newest first.
#[derive(Debug, Clone, Default)]
pub struct LogQuery {
    pub service: Option<String>,
    /// Case-insensitive substring of the body.
    pub text: Option<String>,
    pub trace_id: Option<String>,
    /// Only records at least this severe (an OpenTelemetry severity number).
    pub min_severity: Option<i32>,
    pub from: i64,
    pub to: i64,
    pub limit: u32,
}

#[async_trait]
pub trait SignalStore: Send + Sync {
    /// Issues seen in the window, most recently seen first; `sparkline` is left empty.
    async fn error_groups(&self, query: &ErrorGroupQuery) -> StoreResult<Vec<ErrorGroupView>>;
    async fn error_group(&self, group_id: &str) -> StoreResult<Option<ErrorGroupView>>;
    /// Occurrence counts of the given issues per bucket: `(group_id, bucket index, count)`
    /// for buckets `step` wide starting at `from`, up to `to`.
    async fn error_counts(
        &self,
        group_ids: &[String],
        from: i64,
        to: i64,
        step: i64,
    ) -> StoreResult<Vec<(String, i64, i64)>>;
    /// The newest occurrences of one issue.
    async fn error_occurrences(
        &self,
        group_id: &str,
        limit: u32,
    ) -> StoreResult<Vec<ErrorOccurrence>>;
    /// Occurrences recorded within one trace.
    async fn trace_errors(&self, trace_id: &str) -> StoreResult<Vec<ErrorOccurrence>>;
    /// Marks an issue `unresolved`, `resolved` (remembering the newest release seen) or
    /// `ignored`; false when there is no such issue.
    async fn set_error_status(&self, group_id: &str, status: &str, now: i64) -> StoreResult<bool>;

    async fn traces(&self, query: &TraceQuery) -> StoreResult<Vec<TraceSummary>>;
    /// The spans of one trace by start time, at most `limit`.
    async fn trace(&self, trace_id: &str, limit: u32) -> StoreResult<Vec<SpanView>>;

    async fn logs(&self, query: &LogQuery) -> StoreResult<Vec<LogView>>;

    /// Entry spans (those without a parent) started in `[from, to)`, of one service when given.
    /// At most `limit`, newest first.
    async fn entry_spans(
        &self,
        from: i64,
        to: i64,
        service: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<EntrySpan>>;

    /// Every span (not only entry spans) started in `[from, to)`, of one service when given, as
    /// (start, duration ms, failed): what the span scatter draws. At most `limit`, newest first.
    async fn span_points(
        &self,
        from: i64,
        to: i64,
        service: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<(i64, f32, bool)>>;

    /// The slowest spans within a box of time and duration (a region brushed on the scatter).
    async fn spans_in(&self, query: &SpanBox) -> StoreResult<Vec<SpanHit>>;
}

/// A region of the span scatter: spans started in `[from, to)` that took `min_ms..=max_ms`.
#[derive(Debug, Clone, Default)]
pub struct SpanBox {
    pub from: i64,
    pub to: i64,
    pub min_ms: f64,
    pub max_ms: f64,
    pub service: Option<String>,
    pub limit: u32,
}

/// A request as its entry span tells it: enough for latency statistics and surfaces.
#[derive(Debug, Clone, PartialEq)]
pub struct EntrySpan {
    pub service: String,
    pub start: i64,
    pub duration_ms: f64,
    pub failed: bool,
}

/// `text` lowercased as a LIKE pattern matching it anywhere (for `LOWER(column) LIKE`).
pub(crate) fn contains_pattern(text: &str) -> String {
    contains_exact(&text.to_lowercase())
}

/// `text` as a LIKE pattern matching it anywhere, case kept, with `\` escaping LIKE's
/// wildcards.
pub(crate) fn contains_exact(text: &str) -> String {
    let mut p = String::with_capacity(text.len() + 2);
    p.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

/// The select of error occurrences: the columns `occurrence_row` reads, for every query of them.
macro_rules! select_occurrences {
    () => {
        "SELECT ts, type, message, stacktrace, tags, labels, trace_id, span_id FROM errors "
    };
}
pub(crate) use select_occurrences;

macro_rules! signal_store {
    ($store:ty, $db:ty, $reader:ident, $writer:ident) => {
        mod signal_sql {
            use crate::store::signals::{contains_exact, contains_pattern, ErrorGroupQuery, LogQuery, TraceQuery};
            use crate::store::{parse_labels, StoreError, StoreResult};
            use app::model::{ErrorGroupView, ErrorOccurrence, LogView, SpanView};
            use sqlx::{QueryBuilder, Row};

            pub(super) const GROUP_COLUMNS: &str = concat!(
                "g.fingerprint, g.type, g.message, g.culprit, g.service, g.first_seen, g.last_seen, ",
                "g.count, g.status, g.first_release, g.last_release, g.resolved_release, g.regressed_at, ",
                "(SELECT COUNT(*) FROM error_group_users u WHERE u.fingerprint = g.fingerprint) AS users"
            );

            fn json_column(table: &str, text: &str) -> StoreResult<serde_json::Value> {
                serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("{table}: {e}")))
            }

            pub(super) fn group_row(r: &<$db as sqlx::Database>::Row) -> StoreResult<ErrorGroupView> {
                Ok(ErrorGroupView {
                    group_id: r.try_get("fingerprint")?,
                    kind: r.try_get("type")?,
                    message: r.try_get("message")?,
                    culprit: r.try_get("culprit")?,
                    service: r.try_get("service")?,
                    first_seen: r.try_get("first_seen")?,
                    last_seen: r.try_get("last_seen")?,
                    count: r.try_get("count")?,
                    users: r.try_get("users")?,
                    status: r.try_get("status")?,
                    first_release: r.try_get("first_release")?,
                    last_release: r.try_get("last_release")?,
                    resolved_release: r.try_get("resolved_release")?,
                    regressed_at: r.try_get("regressed_at")?,
                    sparkline: Vec::new(),
                })
            }

            pub(super) fn occurrence_row(r: &<$db as sqlx::Database>::Row) -> StoreResult<ErrorOccurrence> {
                let stacktrace: String = r.try_get("stacktrace")?;
                Ok(ErrorOccurrence {
                    timestamp: r.try_get("ts")?,
                    kind: r.try_get("type")?,
                    message: r.try_get("message")?,
                    stacktrace: serde_json::from_value(json_column("errors", &stacktrace)?)
                        .map_err(|e| StoreError::Corrupt(format!("errors.stacktrace: {e}")))?,
                    tags: parse_labels(r.try_get("tags")?)?,
                    labels: parse_labels(r.try_get("labels")?)?,
                    trace_id: r.try_get("trace_id")?,
                    span_id: r.try_get("span_id")?,
                })
            }

            pub(super) fn groups_query(q: &ErrorGroupQuery) -> QueryBuilder<'static, $db> {
                let mut b = QueryBuilder::<$db>::new(format!(
                    "SELECT {GROUP_COLUMNS} FROM error_groups g WHERE g.last_seen >= "
                ));
                b.push_bind(q.from).push(" AND g.first_seen < ").push_bind(q.to);
                if let Some(status) = &q.status {
                    b.push(" AND g.status = ").push_bind(status.clone());
                }
                if let Some(service) = &q.service {
                    b.push(" AND g.service = ").push_bind(service.clone());
                }
                if let Some(text) = &q.text {
                    let p = contains_pattern(text);
                    b.push(" AND (LOWER(g.type) LIKE ").push_bind(p.clone()).push(" ESCAPE '\\'");
                    b.push(" OR LOWER(g.message) LIKE ").push_bind(p.clone()).push(" ESCAPE '\\'");
                    b.push(" OR LOWER(g.culprit) LIKE ").push_bind(p).push(" ESCAPE '\\')");
                }
                b.push(" ORDER BY g.last_seen DESC LIMIT ").push_bind(i64::from(q.limit));
                b
            }

            pub(super) fn traces_query(q: &TraceQuery) -> QueryBuilder<'static, $db> {
                let mut b = QueryBuilder::<$db>::new(
                    "SELECT trace_id, MIN(start) AS first FROM spans WHERE start >= ",
                );
                b.push_bind(q.from).push(" AND start < ").push_bind(q.to);
                if let Some(service) = &q.service {
                    b.push(" AND service = ").push_bind(service.clone());
                }
                if let Some(operation) = &q.operation {
                    b.push(" AND name = ").push_bind(operation.clone());
                }
                if let Some(min) = q.min_duration_ms {
                    b.push(" AND duration_ms >= ").push_bind(min);
                }
                if let Some(status) = &q.status {
                    b.push(" AND status = ").push_bind(status.clone());
                }
                if let Some((key, value)) = &q.attribute {
                    // Attributes are stored as compact JSON, so a string attribute appears as
                    // exactly this text.
                    let needle = format!(
                        "{}:{}",
                        serde_json::Value::from(key.as_str()),
                        serde_json::Value::from(value.as_str())
                    );
                    b.push(" AND attributes LIKE ").push_bind(contains_exact(&needle)).push(" ESCAPE '\\'");
                }
                b.push(" GROUP BY trace_id ORDER BY first DESC LIMIT ").push_bind(i64::from(q.limit));
                b
            }

            pub(super) fn summaries_query(ids: &[String]) -> QueryBuilder<'_, $db> {
                let mut b = QueryBuilder::<$db>::new(concat!(
                    "SELECT trace_id, COUNT(*) AS n, MIN(start) AS first, ",
                    "MAX(start + duration_ms) AS last, ",
                    "SUM(CASE WHEN status = 'error' THEN 1 ELSE 0 END) AS errors ",
                    "FROM spans WHERE trace_id IN ("
                ));
                let mut sep = b.separated(", ");
                for id in ids {
                    sep.push_bind(id);
                }
                b.push(") GROUP BY trace_id");
                b
            }

            pub(super) fn roots_query(ids: &[String]) -> QueryBuilder<'_, $db> {
                let mut b = QueryBuilder::<$db>::new(
                    "SELECT trace_id, name, service, start, parent_span_id FROM spans WHERE trace_id IN (",
                );
                let mut sep = b.separated(", ");
                for id in ids {
                    sep.push_bind(id);
                }
                // The root (no parent) first, else the earliest span.
                b.push(") AND (parent_span_id IS NULL OR start = (SELECT MIN(s2.start) FROM spans s2 ");
                b.push("WHERE s2.trace_id = spans.trace_id))");
                b
            }

            pub(super) fn span_row(r: &<$db as sqlx::Database>::Row) -> StoreResult<SpanView> {
                let attributes: String = r.try_get("attributes")?;
                Ok(SpanView {
                    span_id: r.try_get("span_id")?,
                    parent_span_id: r.try_get("parent_span_id")?,
                    name: r.try_get("name")?,
                    service: r.try_get("service")?,
                    start: r.try_get("start")?,
                    duration_ms: r.try_get("duration_ms")?,
                    status: r.try_get("status")?,
                    attributes: json_column("spans", &attributes)?,
                })
            }

            pub(super) fn logs_query(q: &LogQuery) -> QueryBuilder<'static, $db> {
                let mut b = QueryBuilder::<$db>::new(concat!(
                    "SELECT ts, severity, body, service, attributes, trace_id, span_id FROM logs ",
                    "WHERE ts >= "
                ));
                b.push_bind(q.from).push(" AND ts < ").push_bind(q.to);
                if let Some(service) = &q.service {
                    b.push(" AND service = ").push_bind(service.clone());
                }
                if let Some(trace) = &q.trace_id {
                    b.push(" AND trace_id = ").push_bind(trace.clone());
                }
                if let Some(min) = q.min_severity {
                    b.push(" AND severity_number >= ").push_bind(min);
                }
                if let Some(text) = &q.text {
                    b.push(" AND LOWER(body) LIKE ").push_bind(contains_pattern(text)).push(" ESCAPE '\\'");
                }
                b.push(" ORDER BY ts DESC LIMIT ").push_bind(i64::from(q.limit));
                b
            }

            pub(super) fn log_row(r: &<$db as sqlx::Database>::Row) -> StoreResult<LogView> {
                let attributes: String = r.try_get("attributes")?;
                Ok(LogView {
                    timestamp: r.try_get("ts")?,
                    severity: r.try_get("severity")?,
                    body: r.try_get("body")?,
                    service: r.try_get("service")?,
                    attributes: json_column("logs", &attributes)?,
                    trace_id: r.try_get("trace_id")?,
                    span_id: r.try_get("span_id")?,
                })
            }
        }

        #[async_trait::async_trait]
        impl crate::store::signals::SignalStore for $store {
            async fn error_groups(
                &self,
                query: &crate::store::signals::ErrorGroupQuery,
            ) -> crate::store::StoreResult<Vec<app::model::ErrorGroupView>> {
                let rows = signal_sql::groups_query(query).build().fetch_all(&self.$reader).await?;
                rows.iter().map(signal_sql::group_row).collect()
            }

            async fn error_group(
                &self,
                group_id: &str,
            ) -> crate::store::StoreResult<Option<app::model::ErrorGroupView>> {
                let mut b = sqlx::QueryBuilder::<$db>::new(format!(
                    "SELECT {} FROM error_groups g WHERE g.fingerprint = ",
                    signal_sql::GROUP_COLUMNS
                ));
                b.push_bind(group_id.to_string());
                let row = b.build().fetch_optional(&self.$reader).await?;
                row.as_ref().map(signal_sql::group_row).transpose()
            }

            async fn error_counts(
                &self,
                group_ids: &[String],
                from: i64,
                to: i64,
                step: i64,
            ) -> crate::store::StoreResult<Vec<(String, i64, i64)>> {
                use sqlx::Row;
                if group_ids.is_empty() {
                    return Ok(Vec::new());
                }
                let step = step.max(1);
                let mut b = sqlx::QueryBuilder::<$db>::new("SELECT fingerprint, (ts - ");
                b.push_bind(from).push(") / ").push_bind(step);
                b.push(" AS bucket, COUNT(*) AS n FROM errors WHERE ts >= ").push_bind(from);
                b.push(" AND ts < ").push_bind(to).push(" AND fingerprint IN (");
                let mut sep = b.separated(", ");
                for id in group_ids {
                    sep.push_bind(id);
                }
                b.push(") GROUP BY fingerprint, bucket");
                let rows = b.build().fetch_all(&self.$reader).await?;
                rows.iter()
                    .map(|r| Ok((r.try_get("fingerprint")?, r.try_get("bucket")?, r.try_get("n")?)))
                    .collect()
            }

            async fn error_occurrences(
                &self,
                group_id: &str,
                limit: u32,
            ) -> crate::store::StoreResult<Vec<app::model::ErrorOccurrence>> {
                let rows = sqlx::query(concat!(
                    crate::store::signals::select_occurrences!(),
                    "WHERE fingerprint = $1 ORDER BY ts DESC LIMIT $2"
                ))
                .bind(group_id)
                .bind(i64::from(limit))
                .fetch_all(&self.$reader)
                .await?;
                rows.iter().map(signal_sql::occurrence_row).collect()
            }

            async fn trace_errors(
                &self,
                trace_id: &str,
            ) -> crate::store::StoreResult<Vec<app::model::ErrorOccurrence>> {
                let rows = sqlx::query(concat!(
                    crate::store::signals::select_occurrences!(),
                    "WHERE trace_id = $1 ORDER BY ts LIMIT 1000"
                ))
                .bind(trace_id)
                .fetch_all(&self.$reader)
                .await?;
                rows.iter().map(signal_sql::occurrence_row).collect()
            }

            async fn set_error_status(
                &self,
                group_id: &str,
                status: &str,
                now: i64,
            ) -> crate::store::StoreResult<bool> {
                let resolved = status == "resolved";
                let n = sqlx::query(concat!(
                    "UPDATE error_groups SET status = $1, ",
                    "resolved_release = CASE WHEN $2 THEN last_release ELSE NULL END, ",
                    "resolved_at = CASE WHEN $2 THEN $3 ELSE NULL END ",
                    "WHERE fingerprint = $4"
                ))
                .bind(status)
                .bind(resolved)
                .bind(now)
                .bind(group_id)
                .execute(&self.$writer)
                .await?
                .rows_affected();
                Ok(n > 0)
            }

            async fn traces(
                &self,
                query: &crate::store::signals::TraceQuery,
            ) -> crate::store::StoreResult<Vec<app::model::TraceSummary>> {
                use sqlx::Row;
                let ids: Vec<String> = signal_sql::traces_query(query)
                    .build()
                    .fetch_all(&self.$reader)
                    .await?
                    .iter()
                    .map(|r| r.try_get("trace_id"))
                    .collect::<Result<_, _>>()?;
                if ids.is_empty() {
                    return Ok(Vec::new());
                }
                let mut roots: std::collections::HashMap<String, (String, String, bool)> =
                    std::collections::HashMap::new();
                for r in signal_sql::roots_query(&ids).build().fetch_all(&self.$reader).await? {
                    let id: String = r.try_get("trace_id")?;
                    let is_root = r.try_get::<Option<String>, _>("parent_span_id")?.is_none();
                    let entry = (r.try_get("name")?, r.try_get("service")?, is_root);
                    match roots.get(&id) {
                        Some((_, _, true)) => {}
                        _ => {
                            roots.insert(id, entry);
                        }
                    }
                }
                let mut out = Vec::with_capacity(ids.len());
                for r in signal_sql::summaries_query(&ids).build().fetch_all(&self.$reader).await? {
                    let trace_id: String = r.try_get("trace_id")?;
                    let first: i64 = r.try_get("first")?;
                    let last: f64 = r.try_get("last")?;
                    let (name, service, _) = roots.remove(&trace_id).unwrap_or_default();
                    out.push(app::model::TraceSummary {
                        trace_id,
                        name,
                        service,
                        start: first,
                        duration_ms: last - first as f64,
                        spans: r.try_get("n")?,
                        errors: r.try_get("errors")?,
                    });
                }
                out.sort_by(|a, b| b.start.cmp(&a.start));
                Ok(out)
            }

            async fn trace(
                &self,
                trace_id: &str,
                limit: u32,
            ) -> crate::store::StoreResult<Vec<app::model::SpanView>> {
                let rows = sqlx::query(concat!(
                    "SELECT span_id, parent_span_id, name, service, start, duration_ms, status, attributes ",
                    "FROM spans WHERE trace_id = $1 ORDER BY start, span_id LIMIT $2"
                ))
                .bind(trace_id)
                .bind(i64::from(limit))
                .fetch_all(&self.$reader)
                .await?;
                rows.iter().map(signal_sql::span_row).collect()
            }

            async fn entry_spans(
                &self,
                from: i64,
                to: i64,
                service: Option<&str>,
                limit: u32,
            ) -> crate::store::StoreResult<Vec<crate::store::signals::EntrySpan>> {
                use sqlx::Row;
                let rows = sqlx::query(concat!(
                    "SELECT service, start, duration_ms, status FROM spans ",
                    "WHERE start >= $1 AND start < $2 AND parent_span_id IS NULL ",
                    "AND ($3 IS NULL OR service = $3) ",
                    "ORDER BY start DESC LIMIT $4"
                ))
                .bind(from)
                .bind(to)
                .bind(service)
                .bind(i64::from(limit))
                .fetch_all(&self.$reader)
                .await?;
                rows.iter()
                    .map(|r| {
                        let status: String = r.try_get("status")?;
                        Ok(crate::store::signals::EntrySpan {
                            service: r.try_get("service")?,
                            start: r.try_get("start")?,
                            duration_ms: r.try_get("duration_ms")?,
                            failed: status == "error",
                        })
                    })
                    .collect()
            }

            async fn span_points(
                &self,
                from: i64,
                to: i64,
                service: Option<&str>,
                limit: u32,
            ) -> crate::store::StoreResult<Vec<(i64, f32, bool)>> {
                use sqlx::Row;
                let rows = sqlx::query(concat!(
                    "SELECT start, duration_ms, status FROM spans ",
                    "WHERE start >= $1 AND start < $2 AND ($3 IS NULL OR service = $3) ",
                    "ORDER BY start DESC LIMIT $4"
                ))
                .bind(from)
                .bind(to)
                .bind(service)
                .bind(i64::from(limit))
                .fetch_all(&self.$reader)
                .await?;
                rows.iter()
                    .map(|r| {
                        let ms: f64 = r.try_get("duration_ms")?;
                        let status: &str = r.try_get("status")?;
                        Ok((r.try_get("start")?, ms as f32, status == "error"))
                    })
                    .collect()
            }

            async fn spans_in(
                &self,
                q: &crate::store::signals::SpanBox,
            ) -> crate::store::StoreResult<Vec<app::model::SpanHit>> {
                use sqlx::Row;
                let rows = sqlx::query(concat!(
                    "SELECT trace_id, span_id, name, service, start, duration_ms, status FROM spans ",
                    "WHERE start >= $1 AND start < $2 AND duration_ms >= $3 AND duration_ms <= $4 ",
                    "AND ($5 IS NULL OR service = $5) ",
                    "ORDER BY duration_ms DESC LIMIT $6"
                ))
                .bind(q.from)
                .bind(q.to)
                .bind(q.min_ms)
                .bind(q.max_ms)
                .bind(q.service.as_deref())
                .bind(i64::from(q.limit))
                .fetch_all(&self.$reader)
                .await?;
                rows.iter()
                    .map(|r| {
                        Ok(app::model::SpanHit {
                            trace_id: r.try_get("trace_id")?,
                            span_id: r.try_get("span_id")?,
                            name: r.try_get("name")?,
                            service: r.try_get("service")?,
                            start: r.try_get("start")?,
                            duration_ms: r.try_get("duration_ms")?,
                            status: r.try_get("status")?,
                        })
                    })
                    .collect()
            }

            async fn logs(
                &self,
                query: &crate::store::signals::LogQuery,
            ) -> crate::store::StoreResult<Vec<app::model::LogView>> {
                let rows = signal_sql::logs_query(query).build().fetch_all(&self.$reader).await?;
                rows.iter().map(signal_sql::log_row).collect()
            }
        }
    };
}

pub(crate) use signal_store;

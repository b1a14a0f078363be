//! Reading security events: per-bucket counts, listings and the addresses and accounts seen most.
//! (They are written by the batch writer with everything else, see `sql.rs`.)

use super::StoreResult;
use app::security::SecurityEventView;
use async_trait::async_trait;

/// Which security events to list: those in `[from, to)` of the given kinds, newest first.
#[derive(Debug, Clone, Default)]
pub struct SecurityQuery {
    /// Exact kinds; empty means any.
    pub kinds: Vec<String>,
    /// Kinds starting with this (case kept), e.g. `finding.`.
    pub kind_prefix: Option<String>,
    pub from: i64,
    pub to: i64,
    pub limit: u32,
}

/// Which column [`SecurityStore::security_top`] ranks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecurityField {
    Ip,
    Actor,
}

impl SecurityField {
    pub(crate) fn column(self) -> &'static str {
        match self {
            SecurityField::Ip => "ip",
            SecurityField::Actor => "actor",
        }
    }
}

#[async_trait]
pub trait SecurityStore: Send + Sync {
    async fn security_events(&self, query: &SecurityQuery) -> StoreResult<Vec<SecurityEventView>>;
    /// Events of the given kinds per bucket: `(bucket index, count)` for buckets `step` wide
    /// from `from` up to `to`; empty buckets are left out.
    async fn security_counts(
        &self,
        kinds: &[String],
        from: i64,
        to: i64,
        step: i64,
    ) -> StoreResult<Vec<(i64, i64)>>;
    /// The values of `field` seen most in events of the given kinds, with their counts, most
    /// first (ties by value).
    async fn security_top(
        &self,
        field: SecurityField,
        kinds: &[String],
        from: i64,
        to: i64,
        limit: u32,
    ) -> StoreResult<Vec<(String, i64)>>;
}

macro_rules! security_store {
    ($store:ty, $db:ty, $reader:ident) => {
        mod security_sql {
            use crate::store::security::SecurityQuery;
            use sqlx::QueryBuilder;

            /// ` AND kind IN (…)` for a non-empty list.
            pub(super) fn push_kinds(b: &mut QueryBuilder<'_, $db>, kinds: &[String]) {
                if kinds.is_empty() {
                    return;
                }
                b.push(" AND kind IN (");
                let mut sep = b.separated(", ");
                for kind in kinds {
                    sep.push_bind(kind.clone());
                }
                b.push(")");
            }

            pub(super) fn events_query(q: &SecurityQuery) -> QueryBuilder<'static, $db> {
                let mut b = QueryBuilder::<$db>::new(
                    "SELECT ts, kind, actor, ip, details, labels FROM security_events WHERE ts >= ",
                );
                b.push_bind(q.from).push(" AND ts < ").push_bind(q.to);
                push_kinds(&mut b, &q.kinds);
                if let Some(prefix) = &q.kind_prefix {
                    // SUBSTR rather than LIKE: case-sensitive on both backends, nothing to escape.
                    let len = i32::try_from(prefix.chars().count()).unwrap_or(i32::MAX);
                    b.push(" AND SUBSTR(kind, 1, ").push_bind(len).push(") = ").push_bind(prefix.clone());
                }
                b.push(" ORDER BY ts DESC, id DESC LIMIT ").push_bind(i64::from(q.limit));
                b
            }
        }

        #[async_trait::async_trait]
        impl crate::store::security::SecurityStore for $store {
            async fn security_events(
                &self,
                query: &crate::store::security::SecurityQuery,
            ) -> crate::store::StoreResult<Vec<app::security::SecurityEventView>> {
                use sqlx::Row;
                let rows = security_sql::events_query(query).build().fetch_all(&self.$reader).await?;
                rows.iter()
                    .map(|r| {
                        let details: String = r.try_get("details")?;
                        Ok(app::security::SecurityEventView {
                            timestamp: r.try_get("ts")?,
                            kind: r.try_get("kind")?,
                            actor: r.try_get("actor")?,
                            ip: r.try_get("ip")?,
                            details: serde_json::from_str(&details).map_err(|e| {
                                crate::store::StoreError::Corrupt(format!("security_events.details: {e}"))
                            })?,
                            labels: crate::store::parse_labels(r.try_get("labels")?)?,
                        })
                    })
                    .collect()
            }

            async fn security_counts(
                &self,
                kinds: &[String],
                from: i64,
                to: i64,
                step: i64,
            ) -> crate::store::StoreResult<Vec<(i64, i64)>> {
                use sqlx::Row;
                let step = step.max(1);
                let mut b = sqlx::QueryBuilder::<$db>::new("SELECT (ts - ");
                b.push_bind(from).push(") / ").push_bind(step);
                b.push(" AS bucket, COUNT(*) AS n FROM security_events WHERE ts >= ").push_bind(from);
                b.push(" AND ts < ").push_bind(to);
                security_sql::push_kinds(&mut b, kinds);
                b.push(" GROUP BY bucket ORDER BY bucket");
                let rows = b.build().fetch_all(&self.$reader).await?;
                rows.iter()
                    .map(|r| Ok((r.try_get("bucket")?, r.try_get("n")?)))
                    .collect()
            }

            async fn security_top(
                &self,
                field: crate::store::security::SecurityField,
                kinds: &[String],
                from: i64,
                to: i64,
                limit: u32,
            ) -> crate::store::StoreResult<Vec<(String, i64)>> {
                use sqlx::Row;
                // The column comes from the enum, never from input.
                let column = field.column();
                let mut b = sqlx::QueryBuilder::<$db>::new(format!(
                    "SELECT {column} AS subject, COUNT(*) AS n FROM security_events WHERE ts >= "
                ));
                b.push_bind(from).push(" AND ts < ").push_bind(to);
                b.push(format!(" AND {column} IS NOT NULL"));
                security_sql::push_kinds(&mut b, kinds);
                b.push(format!(" GROUP BY {column} ORDER BY n DESC, subject LIMIT "));
                b.push_bind(i64::from(limit));
                let rows = b.build().fetch_all(&self.$reader).await?;
                rows.iter()
                    .map(|r| Ok((r.try_get("subject")?, r.try_get("n")?)))
                    .collect()
            }
        }
    };
}

pub(crate) use security_store;

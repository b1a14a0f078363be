//! Storage of the alerting engine: configuration documents, alert instance state, incidents with
//! their timelines, and the notification outbox.
//!
//! The SQL is the same on both backends, so one macro writes the whole `AlertStore` impl for
//! each (it emits the `impl` item itself, so `async_trait` expands after it). Every change the
//! engine makes in one evaluation — states, transitions, incidents, timeline entries and the
//! notifications they cause — goes through [`AlertStore::apply`] in one transaction: a crash
//! either keeps all of it or none, so no notification is lost between "it fired" and "tell
//! someone".

use super::StoreResult;
use async_trait::async_trait;

/// Kinds of [`Document`].
pub mod kinds {
    pub const CHANNEL: &str = "channel";
    pub const RULE: &str = "alert_rule";
    pub const SILENCE: &str = "silence";
    pub const ESCALATION: &str = "escalation_policy";
    pub const ROTATION: &str = "oncall_rotation";
    /// Settings Osprey keeps for itself, such as the dashboard's own ingest key.
    pub const SETTING: &str = "setting";
}

/// A small configuration object kept as validated JSON (a channel, rule, silence…).
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    pub kind: &'static str,
    pub id: String,
    pub name: String,
    pub body: serde_json::Value,
    pub created_at: i64,
    pub updated_at: i64,
}

/// How many documents of one kind are stored and when the newest change was: cheap to read,
/// and it changes whenever one of them is added, replaced or deleted (a deletion lowers the
/// count), so it tells a cache whether to reload.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DocumentStats {
    pub count: i64,
    pub last_updated: i64,
}

/// The stored state of one alert instance.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceRow {
    pub rule_id: String,
    /// The instance's labels as canonical (sorted) JSON.
    pub labels: String,
    pub state: String,
    pub since: i64,
    pub value: Option<f64>,
    pub updated_at: i64,
    /// The state machine's memory (`alerts::AlertInstance` as JSON).
    pub detail: serde_json::Value,
}

/// One recorded change of an instance's state.
#[derive(Debug, Clone, PartialEq)]
pub struct TransitionRow {
    pub rule_id: String,
    pub labels: String,
    pub ts: i64,
    pub from_state: String,
    pub to_state: String,
    pub value: Option<f64>,
}

/// An incident as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct IncidentRow {
    pub id: String,
    pub dedup_key: String,
    pub title: String,
    /// SEV1 (worst) to SEV5.
    pub severity: i64,
    /// `triggered`, `acknowledged` or `resolved`.
    pub status: String,
    pub assignee: Option<String>,
    pub rule_id: Option<String>,
    pub opened_at: i64,
    pub acknowledged_at: Option<i64>,
    pub resolved_at: Option<i64>,
    /// How many escalation steps have been taken (0: only the first notification).
    pub escalation_level: i64,
    /// When to take the next escalation step if nobody acknowledges; `None`: no further step.
    pub escalate_at: Option<i64>,
    pub postmortem: Option<String>,
    pub updated_at: i64,
}

/// One entry of an incident's timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct IncidentEvent {
    pub incident_id: String,
    pub ts: i64,
    /// `opened`, `alert`, `acknowledged`, `resolved`, `reopened`, `note`, `notified`,
    /// `escalated`, `assigned`, `postmortem`, `delivery_failed`.
    pub kind: String,
    pub message: String,
    pub actor: Option<String>,
}

/// A notification waiting in (or gone through) the outbox.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub id: i64,
    pub channel_id: String,
    pub idempotency_key: String,
    pub incident_id: Option<String>,
    /// The `notify::Message`, as JSON.
    pub message: serde_json::Value,
    /// `pending`, `delivered` or `dead`.
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub delivered_at: Option<i64>,
}

/// A notification to queue.
#[derive(Debug, Clone, PartialEq)]
pub struct NewDelivery {
    pub channel_id: String,
    pub idempotency_key: String,
    pub incident_id: Option<String>,
    pub message: serde_json::Value,
}

/// Everything one step of the engine changes, written in one transaction.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AlertChanges {
    pub instances: Vec<InstanceRow>,
    /// `(rule_id, labels)` of instances to forget (their rule was deleted or they went back to
    /// normal and nothing needs to remember them).
    pub removed_instances: Vec<(String, String)>,
    pub transitions: Vec<TransitionRow>,
    /// Inserted or, when the id exists, replaced.
    pub incidents: Vec<IncidentRow>,
    pub incident_events: Vec<IncidentEvent>,
    /// Queued unless a delivery with the same idempotency key exists.
    pub deliveries: Vec<NewDelivery>,
}

impl AlertChanges {
    pub fn is_empty(&self) -> bool {
        *self == AlertChanges::default()
    }
}

/// What became of one delivery attempt.
#[derive(Debug, Clone, PartialEq)]
pub enum Attempt {
    Delivered,
    /// Try again at `next_attempt_at`.
    Retry {
        next_attempt_at: i64,
        error: String,
    },
    /// Give up: the delivery goes to the dead-letter state until someone retries it.
    Dead {
        error: String,
    },
}

/// The alerting engine's storage.
#[async_trait]
pub trait AlertStore: Send + Sync {
    /// Inserts a document or replaces the one with the same kind and id (keeping `created_at`).
    async fn put_document(&self, doc: &Document) -> StoreResult<()>;
    /// Documents of one kind, oldest first.
    async fn documents(&self, kind: &'static str) -> StoreResult<Vec<Document>>;
    async fn document(&self, kind: &'static str, id: &str) -> StoreResult<Option<Document>>;
    async fn document_stats(&self, kind: &'static str) -> StoreResult<DocumentStats>;
    /// True when something was deleted.
    async fn delete_document(&self, kind: &'static str, id: &str) -> StoreResult<bool>;

    /// Writes one evaluation's (or one person's) changes atomically.
    async fn apply(&self, changes: &AlertChanges) -> StoreResult<()>;
    /// Every stored instance state.
    async fn alert_instances(&self) -> StoreResult<Vec<InstanceRow>>;
    /// Transitions of one rule (or all) with `ts >= from`, newest first.
    async fn transitions(
        &self,
        rule_id: Option<&str>,
        from: i64,
        limit: u32,
    ) -> StoreResult<Vec<TransitionRow>>;

    /// Incidents, newest first; only unresolved ones with `open_only`.
    async fn incidents(&self, open_only: bool, limit: u32) -> StoreResult<Vec<IncidentRow>>;
    async fn incident(&self, id: &str) -> StoreResult<Option<IncidentRow>>;
    /// The unresolved incident of an alert group, if any.
    async fn open_incident(&self, dedup_key: &str) -> StoreResult<Option<IncidentRow>>;
    /// The timeline of an incident, oldest first.
    async fn incident_events(&self, incident_id: &str) -> StoreResult<Vec<IncidentEvent>>;

    /// Pending deliveries due at `now`, oldest first.
    async fn due_deliveries(&self, now: i64, limit: u32) -> StoreResult<Vec<Delivery>>;
    /// Records the outcome of an attempt.
    async fn finish_attempt(&self, id: i64, attempt: &Attempt, now: i64) -> StoreResult<()>;
    /// Deliveries of one status (or all), newest first.
    async fn deliveries(&self, status: Option<&str>, limit: u32) -> StoreResult<Vec<Delivery>>;
    /// Puts a dead delivery back in the queue; false when there is no dead delivery `id`.
    async fn retry_delivery(&self, id: i64, now: i64) -> StoreResult<bool>;
}

/// Writes `impl AlertStore for $store` over the pools in fields `$writer` (for changes) and
/// `$reader` (for reads) of database type `$db`.
macro_rules! alert_store {
    ($store:ty, $db:ty, $writer:ident, $reader:ident) => {
        const _: () = {
            use crate::store::alerting::*;
            use crate::store::{StoreError, StoreResult};
            use sqlx::Row;

            fn json_text(value: &serde_json::Value) -> String {
                value.to_string()
            }

            fn parse_json(table: &str, text: &str) -> StoreResult<serde_json::Value> {
                serde_json::from_str(text)
                    .map_err(|e| StoreError::Corrupt(format!("{table} json {text:?}: {e}")))
            }

            fn document_row(kind: &'static str, row: &<$db as sqlx::Database>::Row) -> StoreResult<Document> {
                Ok(Document {
                    kind,
                    id: row.try_get("id")?,
                    name: row.try_get("name")?,
                    body: parse_json("documents", &row.try_get::<String, _>("body")?)?,
                    created_at: row.try_get("created_at")?,
                    updated_at: row.try_get("updated_at")?,
                })
            }

            fn incident_row(row: &<$db as sqlx::Database>::Row) -> StoreResult<IncidentRow> {
                Ok(IncidentRow {
                    id: row.try_get("id")?,
                    dedup_key: row.try_get("dedup_key")?,
                    title: row.try_get("title")?,
                    severity: row.try_get("severity")?,
                    status: row.try_get("status")?,
                    assignee: row.try_get("assignee")?,
                    rule_id: row.try_get("rule_id")?,
                    opened_at: row.try_get("opened_at")?,
                    acknowledged_at: row.try_get("acknowledged_at")?,
                    resolved_at: row.try_get("resolved_at")?,
                    escalation_level: row.try_get("escalation_level")?,
                    escalate_at: row.try_get("escalate_at")?,
                    postmortem: row.try_get("postmortem")?,
                    updated_at: row.try_get("updated_at")?,
                })
            }

            fn delivery_row(row: &<$db as sqlx::Database>::Row) -> StoreResult<Delivery> {
                Ok(Delivery {
                    id: row.try_get("id")?,
                    channel_id: row.try_get("channel_id")?,
                    idempotency_key: row.try_get("idempotency_key")?,
                    incident_id: row.try_get("incident_id")?,
                    message: parse_json("outbox", &row.try_get::<String, _>("message")?)?,
                    status: row.try_get("status")?,
                    attempts: row.try_get("attempts")?,
                    next_attempt_at: row.try_get("next_attempt_at")?,
                    last_error: row.try_get("last_error")?,
                    created_at: row.try_get("created_at")?,
                    delivered_at: row.try_get("delivered_at")?,
                })
            }

            const INCIDENT_COLUMNS: &str = "id, dedup_key, title, severity, status, assignee, rule_id, \
                opened_at, acknowledged_at, resolved_at, escalation_level, escalate_at, postmortem, updated_at";
            const DELIVERY_COLUMNS: &str = "id, channel_id, idempotency_key, incident_id, message, status, \
                attempts, next_attempt_at, last_error, created_at, delivered_at";

            #[async_trait::async_trait]
            impl AlertStore for $store {
                async fn put_document(&self, doc: &Document) -> StoreResult<()> {
                    sqlx::query(concat!(
                        "INSERT INTO documents (kind, id, name, body, created_at, updated_at) ",
                        "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (kind, id) DO UPDATE SET ",
                        "name = excluded.name, body = excluded.body, updated_at = excluded.updated_at"
                    ))
                    .bind(doc.kind)
                    .bind(&doc.id)
                    .bind(&doc.name)
                    .bind(json_text(&doc.body))
                    .bind(doc.created_at)
                    .bind(doc.updated_at)
                    .execute(&self.$writer)
                    .await?;
                    Ok(())
                }

                async fn documents(&self, kind: &'static str) -> StoreResult<Vec<Document>> {
                    let rows = sqlx::query(
                        "SELECT id, name, body, created_at, updated_at FROM documents \
                         WHERE kind = $1 ORDER BY created_at, id",
                    )
                    .bind(kind)
                    .fetch_all(&self.$reader)
                    .await?;
                    rows.iter().map(|r| document_row(kind, r)).collect()
                }

                async fn document(&self, kind: &'static str, id: &str) -> StoreResult<Option<Document>> {
                    let row = sqlx::query(
                        "SELECT id, name, body, created_at, updated_at FROM documents \
                         WHERE kind = $1 AND id = $2",
                    )
                    .bind(kind)
                    .bind(id)
                    .fetch_optional(&self.$reader)
                    .await?;
                    row.map(|r| document_row(kind, &r)).transpose()
                }

                async fn document_stats(&self, kind: &'static str) -> StoreResult<DocumentStats> {
                    let row = sqlx::query(
                        "SELECT COUNT(*) AS n, COALESCE(MAX(updated_at), 0) AS last \
                         FROM documents WHERE kind = $1",
                    )
                    .bind(kind)
                    .fetch_one(&self.$reader)
                    .await?;
                    Ok(DocumentStats {
                        count: row.try_get("n")?,
                        last_updated: row.try_get("last")?,
                    })
                }

                async fn delete_document(&self, kind: &'static str, id: &str) -> StoreResult<bool> {
                    let n = sqlx::query("DELETE FROM documents WHERE kind = $1 AND id = $2")
                        .bind(kind)
                        .bind(id)
                        .execute(&self.$writer)
                        .await?
                        .rows_affected();
                    Ok(n > 0)
                }

                async fn apply(&self, c: &AlertChanges) -> StoreResult<()> {
                    if c.is_empty() {
                        return Ok(());
                    }
                    let mut tx = self.$writer.begin().await?;
                    for i in &c.instances {
                        sqlx::query(concat!(
                            "INSERT INTO alert_instances (rule_id, labels, state, since, value, updated_at, detail) ",
                            "VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (rule_id, labels) DO UPDATE SET ",
                            "state = excluded.state, since = excluded.since, value = excluded.value, ",
                            "updated_at = excluded.updated_at, detail = excluded.detail"
                        ))
                        .bind(&i.rule_id)
                        .bind(&i.labels)
                        .bind(&i.state)
                        .bind(i.since)
                        .bind(i.value)
                        .bind(i.updated_at)
                        .bind(json_text(&i.detail))
                        .execute(&mut *tx)
                        .await?;
                    }
                    for (rule_id, labels) in &c.removed_instances {
                        sqlx::query("DELETE FROM alert_instances WHERE rule_id = $1 AND labels = $2")
                            .bind(rule_id)
                            .bind(labels)
                            .execute(&mut *tx)
                            .await?;
                    }
                    for t in &c.transitions {
                        sqlx::query(concat!(
                            "INSERT INTO alert_transitions (rule_id, labels, ts, from_state, to_state, value) ",
                            "VALUES ($1, $2, $3, $4, $5, $6)"
                        ))
                        .bind(&t.rule_id)
                        .bind(&t.labels)
                        .bind(t.ts)
                        .bind(&t.from_state)
                        .bind(&t.to_state)
                        .bind(t.value)
                        .execute(&mut *tx)
                        .await?;
                    }
                    for i in &c.incidents {
                        sqlx::query(concat!(
                            "INSERT INTO incidents (id, dedup_key, title, severity, status, assignee, rule_id, ",
                            "opened_at, acknowledged_at, resolved_at, escalation_level, escalate_at, postmortem, updated_at) ",
                            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) ",
                            "ON CONFLICT (id) DO UPDATE SET title = excluded.title, severity = excluded.severity, ",
                            "status = excluded.status, assignee = excluded.assignee, ",
                            "acknowledged_at = excluded.acknowledged_at, resolved_at = excluded.resolved_at, ",
                            "escalation_level = excluded.escalation_level, escalate_at = excluded.escalate_at, ",
                            "postmortem = excluded.postmortem, updated_at = excluded.updated_at"
                        ))
                        .bind(&i.id)
                        .bind(&i.dedup_key)
                        .bind(&i.title)
                        .bind(i.severity)
                        .bind(&i.status)
                        .bind(&i.assignee)
                        .bind(&i.rule_id)
                        .bind(i.opened_at)
                        .bind(i.acknowledged_at)
                        .bind(i.resolved_at)
                        .bind(i.escalation_level)
                        .bind(i.escalate_at)
                        .bind(&i.postmortem)
                        .bind(i.updated_at)
                        .execute(&mut *tx)
                        .await?;
                    }
                    for e in &c.incident_events {
                        sqlx::query(
                            "INSERT INTO incident_events (incident_id, ts, kind, message, actor) \
                             VALUES ($1, $2, $3, $4, $5)",
                        )
                        .bind(&e.incident_id)
                        .bind(e.ts)
                        .bind(&e.kind)
                        .bind(&e.message)
                        .bind(&e.actor)
                        .execute(&mut *tx)
                        .await?;
                    }
                    let now = chrono::Utc::now().timestamp_millis();
                    for d in &c.deliveries {
                        sqlx::query(concat!(
                            "INSERT INTO outbox (channel_id, idempotency_key, incident_id, message, status, ",
                            "attempts, next_attempt_at, created_at) VALUES ($1, $2, $3, $4, 'pending', 0, $5, $5) ",
                            "ON CONFLICT (idempotency_key) DO NOTHING"
                        ))
                        .bind(&d.channel_id)
                        .bind(&d.idempotency_key)
                        .bind(&d.incident_id)
                        .bind(json_text(&d.message))
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                    }
                    tx.commit().await?;
                    Ok(())
                }

                async fn alert_instances(&self) -> StoreResult<Vec<InstanceRow>> {
                    let rows = sqlx::query(
                        "SELECT rule_id, labels, state, since, value, updated_at, detail FROM alert_instances \
                         ORDER BY rule_id, labels",
                    )
                    .fetch_all(&self.$reader)
                    .await?;
                    rows.iter()
                        .map(|r| {
                            Ok(InstanceRow {
                                rule_id: r.try_get("rule_id")?,
                                labels: r.try_get("labels")?,
                                state: r.try_get("state")?,
                                since: r.try_get("since")?,
                                value: r.try_get("value")?,
                                updated_at: r.try_get("updated_at")?,
                                detail: parse_json("alert_instances", &r.try_get::<String, _>("detail")?)?,
                            })
                        })
                        .collect()
                }

                async fn transitions(
                    &self,
                    rule_id: Option<&str>,
                    from: i64,
                    limit: u32,
                ) -> StoreResult<Vec<TransitionRow>> {
                    let rows = sqlx::query(
                        "SELECT rule_id, labels, ts, from_state, to_state, value FROM alert_transitions \
                         WHERE ($1 IS NULL OR rule_id = $1) AND ts >= $2 ORDER BY ts DESC, id DESC LIMIT $3",
                    )
                    .bind(rule_id)
                    .bind(from)
                    .bind(i64::from(limit))
                    .fetch_all(&self.$reader)
                    .await?;
                    rows.iter()
                        .map(|r| {
                            Ok(TransitionRow {
                                rule_id: r.try_get("rule_id")?,
                                labels: r.try_get("labels")?,
                                ts: r.try_get("ts")?,
                                from_state: r.try_get("from_state")?,
                                to_state: r.try_get("to_state")?,
                                value: r.try_get("value")?,
                            })
                        })
                        .collect()
                }

                async fn incidents(&self, open_only: bool, limit: u32) -> StoreResult<Vec<IncidentRow>> {
                    let sql = format!(
                        "SELECT {INCIDENT_COLUMNS} FROM incidents WHERE ($1 = 0 OR status <> 'resolved') \
                         ORDER BY opened_at DESC, id DESC LIMIT $2"
                    );
                    let rows = sqlx::query(&sql)
                        .bind(i64::from(open_only))
                        .bind(i64::from(limit))
                        .fetch_all(&self.$reader)
                        .await?;
                    rows.iter().map(incident_row).collect()
                }

                async fn incident(&self, id: &str) -> StoreResult<Option<IncidentRow>> {
                    let sql = format!("SELECT {INCIDENT_COLUMNS} FROM incidents WHERE id = $1");
                    let row = sqlx::query(&sql).bind(id).fetch_optional(&self.$reader).await?;
                    row.as_ref().map(incident_row).transpose()
                }

                async fn open_incident(&self, dedup_key: &str) -> StoreResult<Option<IncidentRow>> {
                    let sql = format!(
                        "SELECT {INCIDENT_COLUMNS} FROM incidents WHERE dedup_key = $1 AND status <> 'resolved'"
                    );
                    let row = sqlx::query(&sql).bind(dedup_key).fetch_optional(&self.$reader).await?;
                    row.as_ref().map(incident_row).transpose()
                }

                async fn incident_events(&self, incident_id: &str) -> StoreResult<Vec<IncidentEvent>> {
                    let rows = sqlx::query(
                        "SELECT incident_id, ts, kind, message, actor FROM incident_events \
                         WHERE incident_id = $1 ORDER BY id",
                    )
                    .bind(incident_id)
                    .fetch_all(&self.$reader)
                    .await?;
                    rows.iter()
                        .map(|r| {
                            Ok(IncidentEvent {
                                incident_id: r.try_get("incident_id")?,
                                ts: r.try_get("ts")?,
                                kind: r.try_get("kind")?,
                                message: r.try_get("message")?,
                                actor: r.try_get("actor")?,
                            })
                        })
                        .collect()
                }

                async fn due_deliveries(&self, now: i64, limit: u32) -> StoreResult<Vec<Delivery>> {
                    let sql = format!(
                        "SELECT {DELIVERY_COLUMNS} FROM outbox WHERE status = 'pending' \
                         AND next_attempt_at <= $1 ORDER BY next_attempt_at, id LIMIT $2"
                    );
                    let rows = sqlx::query(&sql)
                        .bind(now)
                        .bind(i64::from(limit))
                        .fetch_all(&self.$writer)
                        .await?;
                    rows.iter().map(delivery_row).collect()
                }

                async fn finish_attempt(&self, id: i64, attempt: &Attempt, now: i64) -> StoreResult<()> {
                    let (status, next, error, delivered) = match attempt {
                        Attempt::Delivered => ("delivered", now, None, Some(now)),
                        Attempt::Retry { next_attempt_at, error } => {
                            ("pending", *next_attempt_at, Some(error.as_str()), None)
                        }
                        Attempt::Dead { error } => ("dead", now, Some(error.as_str()), None),
                    };
                    sqlx::query(
                        "UPDATE outbox SET status = $1, attempts = attempts + 1, next_attempt_at = $2, \
                         last_error = COALESCE($3, last_error), delivered_at = $4 WHERE id = $5",
                    )
                    .bind(status)
                    .bind(next)
                    .bind(error)
                    .bind(delivered)
                    .bind(id)
                    .execute(&self.$writer)
                    .await?;
                    Ok(())
                }

                async fn deliveries(&self, status: Option<&str>, limit: u32) -> StoreResult<Vec<Delivery>> {
                    let sql = format!(
                        "SELECT {DELIVERY_COLUMNS} FROM outbox WHERE ($1 IS NULL OR status = $1) \
                         ORDER BY id DESC LIMIT $2"
                    );
                    let rows = sqlx::query(&sql)
                        .bind(status)
                        .bind(i64::from(limit))
                        .fetch_all(&self.$reader)
                        .await?;
                    rows.iter().map(delivery_row).collect()
                }

                async fn retry_delivery(&self, id: i64, now: i64) -> StoreResult<bool> {
                    let n = sqlx::query(
                        "UPDATE outbox SET status = 'pending', next_attempt_at = $1 \
                         WHERE id = $2 AND status = 'dead'",
                    )
                    .bind(now)
                    .bind(id)
                    .execute(&self.$writer)
                    .await?
                    .rows_affected();
                    Ok(n > 0)
                }
            }
        };
    };
}

pub(crate) use alert_store;
